"""
Choosing the bottleneck with GridSearchCV
=========================================

How many latents does a set of spectra need? Two answers by cross-validation:

- **by ELBO**: :meth:`SpectralAutoencoder.score <skspecrep.SpectralAutoencoder.score>`
  is minus the training objective on held-out spectra. It charges each latent
  for the information it carries, so a wider bottleneck wins only if it
  reconstructs held-out spectra better by more than it costs.
- **by physics**: with labels known for some spectra, a ``Pipeline`` ending in
  a :class:`~skspecrep.LatentCorrelationScorer` scores how well the codes of
  held-out spectra track them.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skspecrep import LatentCorrelationScorer, SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra

X, labels, _ = make_stellar_spectra(600, n_pixels=256, random_state=0)
factors = ["teff", "radial_velocity"]
grid = [1, 2, 4]
autoencoder = SpectralAutoencoder(max_epochs=8, lr=3e-3, random_state=0)

# %%
# By ELBO: the autoencoder's own score.
by_elbo = GridSearchCV(autoencoder, {"n_components": grid}, cv=2).fit(X)
print("by ELBO, best n_components:", by_elbo.best_params_["n_components"])

# %%
# By physics: the pipeline's score is the scorer's, the mean information
# coefficient of each label's best latent on held-out spectra.
pipeline = Pipeline(
    [("autoencoder", autoencoder), ("physics", LatentCorrelationScorer(n_bootstrap=0))]
)
by_physics = GridSearchCV(pipeline, {"autoencoder__n_components": grid}, cv=2)
by_physics.fit(X, labels[factors])
print("by physics, best n_components:", by_physics.best_params_["autoencoder__n_components"])

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
for ax, search, name in ((axes[0], by_elbo, "ELBO"), (axes[1], by_physics, "physics score")):
    mean, std = search.cv_results_["mean_test_score"], search.cv_results_["std_test_score"]
    ax.errorbar(grid, mean, yerr=std, marker="o", capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks(grid, [str(g) for g in grid])
    ax.set_xlabel("n_components")
    ax.set_ylabel(f"held-out {name}")
axes[0].set_title("higher is better")
print(np.round(by_physics.cv_results_["mean_test_score"], 2))
plt.show()
