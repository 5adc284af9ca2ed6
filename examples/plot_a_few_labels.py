"""
A few labels name the latents
=============================

Without labels, Doppler pairs give radial velocity a latent of its own, but
gravity and metallicity change a spectrum in nearly the same direction and
end up sharing a latent. Catalogues usually know Teff, logg and [M/H] for
some of the stars of an archive. Passing those as ``y`` (NaN where a value
is unknown) with ``label_weight > 0`` ties each label to a latent of its
own, while every spectrum, labelled or not, still trains the network:

- ``label_latents_`` says which latent holds which label (after the
  velocity latent, z0);
- :meth:`~skspecrep.SpectralAutoencoder.predict_labels` reads those latents
  back as labels, with an uncertainty measured on held-out labelled spectra.

This example is small so that it runs in a minute or two; ``python
benchmarks/recovery.py --labelled 0.01,0.1`` is the full measurement.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skspecrep import SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra

X, labels, wavelength = make_stellar_spectra(1200, n_pixels=1024, random_state=0)
X_train, X_test = X[:900], X[900:]
known = ["teff", "logg", "metallicity"]

# Labels for one spectrum in twenty; NaN marks every other value as unknown.
rng = np.random.RandomState(0)
y = labels[known].iloc[:900].copy()
y[rng.rand(900) > 0.05] = np.nan
print(f"{y['teff'].notna().sum()} of {len(y)} training spectra have labels")

ae = SpectralAutoencoder(
    n_components=6,
    label_weight=0.01,
    wavelength=wavelength,
    virtual_rv=60.0,  # z0 holds radial velocity, without labels
    validation_fraction=0.2,  # the labelled validation spectra measure label_error_
    max_epochs=15,
    lr=3e-3,
    random_state=0,
)
ae.fit(X_train, y)
print(pd.DataFrame({"latent": ae.label_latents_, "error": ae.label_error_}, index=ae.label_names_))

# %%
# Each labelled latent, read as its label on held-out spectra, against the
# truth; the error bars are ``predict_labels``' standard deviations.
estimate, std = ae.predict_labels(X_test, return_std=True)
truth = labels[known].iloc[900:].to_numpy()
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), layout="constrained")
for k, (ax, name) in enumerate(zip(axes, known)):
    ax.errorbar(truth[:, k], estimate[:, k], yerr=std[:, k], fmt=".", ms=3, alpha=0.5, lw=0.5)
    low, high = truth[:, k].min(), truth[:, k].max()
    ax.plot([low, high], [low, high], "k--", lw=1)
    rmse = np.sqrt(np.mean((estimate[:, k] - truth[:, k]) ** 2))
    ax.set_title(f"z{ae.label_latents_[k]} as {name}: RMSE {rmse:.3g}")
    ax.set_xlabel(f"true {name}")
axes[0].set_ylabel("estimate from the latent")

# %%
# The velocity latent was trained by Doppler pairs alone: times
# ``velocity_scale_`` it is the radial velocity in km/s, up to an offset.
z0 = ae.transform(X_test)[:, ae.velocity_latent_] * ae.velocity_scale_
rv = labels["radial_velocity"].iloc[900:].to_numpy()
fig, ax = plt.subplots(figsize=(4, 3.4), layout="constrained")
ax.plot(rv, z0 - np.median(z0), ".", ms=3)
ax.set_xlabel("true radial velocity (km/s)")
ax.set_ylabel("z0 x velocity_scale_ - median (km/s)")
