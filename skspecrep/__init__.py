"""skspecrep: unsupervised representation learning for large sets of 1-D spectra.

A convolutional variational autoencoder learns a compact code of the spectra
by reconstruction (Sedaghat et al. 2021, MNRAS 501, 6026), as a
scikit-learn transformer.
"""

from ._autoencoder import SpectralAutoencoder

__all__ = ["SpectralAutoencoder"]
__version__ = "0.1.0.dev0"
