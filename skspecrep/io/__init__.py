"""Reading spectra (ESO/HARPS FITS files, one at a time or many onto one grid) and model files."""

from ._batch import SpectraSet, read_spectra
from ._eso import Spectrum, SpectrumReadError, read_eso_spectrum
from ._model_file import load_model, save_model
from ._sedaghat2021 import load_sedaghat2021

__all__ = [
    "SpectraSet",
    "Spectrum",
    "SpectrumReadError",
    "load_model",
    "load_sedaghat2021",
    "read_eso_spectrum",
    "read_spectra",
    "save_model",
]
