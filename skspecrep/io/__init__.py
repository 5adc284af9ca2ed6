"""Reading spectra (ESO/HARPS FITS files, one at a time or many onto one grid) and model files."""

from ._batch import SpectraSet, read_spectra
from ._eso import Spectrum, SpectrumReadError, read_eso_spectrum
from ._model_file import load_model, save_model

__all__ = [
    "SpectraSet",
    "Spectrum",
    "SpectrumReadError",
    "load_model",
    "read_eso_spectrum",
    "read_spectra",
    "save_model",
]
