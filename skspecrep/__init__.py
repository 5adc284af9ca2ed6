"""skspecrep: unsupervised representation learning for large sets of 1-D spectra.

A convolutional variational autoencoder learns a compact code of the spectra
by reconstruction (Sedaghat et al. 2021, MNRAS 501, 6026), as a
scikit-learn transformer, and components that count the informative latents
and measure how strongly each one tracks known physics.
"""

from ._autoencoder import SpectralAutoencoder
from ._correlation import LatentCorrelationScorer
from ._mutual_info import (
    bootstrap_mutual_info,
    information_coefficient,
    mutual_info_gmm,
    mutual_info_histogram,
    mutual_info_ksg,
)
from ._outliers import SpectrumOutlierDetector
from ._preprocessing import (
    HARPSPreprocessor,
    MedianNormalizer,
    WavelengthResampler,
    harps_pixel_mask,
    harps_wavelength,
)
from ._selection import InformativeDimensionSelector

__all__ = [
    "HARPSPreprocessor",
    "MedianNormalizer",
    "WavelengthResampler",
    "harps_pixel_mask",
    "harps_wavelength",
    "InformativeDimensionSelector",
    "LatentCorrelationScorer",
    "SpectralAutoencoder",
    "SpectrumOutlierDetector",
    "bootstrap_mutual_info",
    "information_coefficient",
    "mutual_info_gmm",
    "mutual_info_histogram",
    "mutual_info_ksg",
]
__version__ = "0.1.0.dev0"
