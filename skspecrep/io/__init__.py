"""Reading spectra: ESO/HARPS FITS files, one at a time or many onto one grid."""

from ._batch import SpectraSet, read_spectra
from ._eso import Spectrum, SpectrumReadError, read_eso_spectrum

__all__ = ["SpectraSet", "Spectrum", "SpectrumReadError", "read_eso_spectrum", "read_spectra"]
