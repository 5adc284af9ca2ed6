"""
Learning latent codes of stellar spectra
========================================

Train a :class:`~skspecrep.SpectralAutoencoder` on synthetic stellar spectra
without labels, then see which latents carry information and how they relate
to the physical factors that generated the spectra.
"""

# %%
# Synthetic spectra with known factors
# ------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import spearmanr

from skspecrep import SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra

N_SPECTRA = 1200  # raise to 5000 and EPOCHS to 60 for a sharper picture
EPOCHS = 15
X, labels, wavelength = make_stellar_spectra(N_SPECTRA, n_pixels=1024, random_state=0)

# %%
# Train without labels
# --------------------
ae = SpectralAutoencoder(n_components=6, max_epochs=EPOCHS, lr=2e-3, random_state=0)
Z = ae.fit_transform(X)

# %%
# Information per latent: collapsed latents carry close to 0 nats.
order = np.argsort(-ae.component_kl_)
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar([f"z{j}" for j in order], ae.component_kl_[order])
ax.set_ylabel("mean KL (nats)")
ax.set_title("Information carried by each latent")
fig.tight_layout()

# %%
# The most informative latent against each factor.
best = order[0]
factors = ["teff", "logg", "metallicity", "radial_velocity", "vsini"]
fig, axes = plt.subplots(1, len(factors), figsize=(14, 3), sharey=True)
for ax, factor in zip(axes, factors):
    rho = spearmanr(Z[:, best], labels[factor]).statistic
    ax.scatter(labels[factor], Z[:, best], s=3)
    ax.set_xlabel(factor)
    ax.set_title(f"rho = {rho:.2f}")
axes[0].set_ylabel(f"z{best}")
fig.tight_layout()

# %%
# A spectrum and its reconstruction.
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(wavelength, X[0], lw=0.8, label="spectrum")
ax.plot(wavelength, ae.inverse_transform(Z[:1])[0], lw=0.8, label="reconstruction")
ax.set_xlabel("wavelength (Angstrom)")
ax.legend()
fig.tight_layout()
plt.show()
