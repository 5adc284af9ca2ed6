"""Reading spectra (ESO FITS layouts, any specutils format; one file or many onto one grid) and
model files (safe model files, the paper's released weights)."""

from ._archive import star_weights, wavelength_grid
from ._batch import SpectraSet, read_spectra
from ._eso import Spectrum, SpectrumReadError, read_eso_spectrum
from ._model_file import load_model, save_model
from ._sedaghat2021 import load_sedaghat2021
from ._specutils import read_spectrum, register_if_imported, register_specutils_loaders

__all__ = [
    "SpectraSet",
    "Spectrum",
    "SpectrumReadError",
    "load_model",
    "load_sedaghat2021",
    "read_eso_spectrum",
    "read_spectra",
    "read_spectrum",
    "register_specutils_loaders",
    "save_model",
    "star_weights",
    "wavelength_grid",
]

register_if_imported()
