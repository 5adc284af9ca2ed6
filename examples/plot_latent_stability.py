"""
Is this latent real? Doppler pairs and stability across seeds
=============================================================

One training run is one draw: another random seed may put the factors on
other latents, split one factor over two, or lose it. Two tools answer
whether a finding is real:

- **Doppler pairs** (``virtual_rv``): every training spectrum is paired with a
  copy of itself shifted by a virtual radial velocity. The pair differs in
  one known factor, so the training can give radial velocity a latent of
  its own (``velocity_latent_``, in km/s through ``velocity_scale_``) and
  keep it out of the others, without any label.
- **Stability across seeds** (:func:`~skspecrep.inspection.seed_stability`):
  fit clones that differ only in their seed, match their latents, and count
  which latents every seed reproduces and which label each tracks.

This example is small so that it runs in a minute or two;
``benchmarks/recovery.py`` is the full measurement over five seeds.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import spearmanr

from skspecrep import SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra
from skspecrep.inspection import seed_stability
from skspecrep.plotting import plot_seed_stability

factors = ["teff", "logg", "metallicity", "radial_velocity", "vsini"]
X, labels, wavelength = make_stellar_spectra(1000, n_pixels=1024, random_state=0)
X_train, X_test = X[:700], X[700:]
y_test = labels[factors].iloc[700:].reset_index(drop=True)

ae = SpectralAutoencoder(
    n_components=6,
    wavelength=wavelength,
    virtual_rv=60.0,  # the stars' velocities lie within +-50 km/s
    kl_warmup=(1, 5),
    max_epochs=10,
    lr=3e-3,
    random_state=0,
)

# %%
# Three seeds, compared on the held-out spectra. The labels are used only to
# say what each matched latent tracks, never to fit.
result = seed_stability(ae, X_train, n_seeds=3, random_state=0)
models = result.estimators
result = seed_stability(models, X_test, y_test, random_state=0)
print(f"UDR of each model: {np.round(result.udr, 2)}")
print(result.latents.round(2).to_string(index=False))

# %%
# Each active latent of the reference model, and how closely every seed
# reproduces it, with the label the match tracks.
plot_seed_stability(result)

# %%
# Latent 0 is the velocity latent in every seed: times ``velocity_scale_``
# it is the radial velocity in km/s, up to an offset, over the whole range.
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
rv = y_test["radial_velocity"].to_numpy()
for seed, model in enumerate(models):
    z = model.transform(X_test)[:, model.velocity_latent_] * model.velocity_scale_
    rho = abs(spearmanr(z, rv)[0])
    ax.plot(rv, z - np.median(z), ".", ms=2, label=f"seed {seed}: |rho| {rho:.3f}")
ax.set_xlabel("true radial velocity (km/s)")
ax.set_ylabel("z0 x velocity_scale_ - median (km/s)")
ax.legend(fontsize="small", markerscale=4)
