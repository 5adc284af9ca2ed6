"""Built-in data: synthetic stellar spectra, and archives made from real templates."""

from ._synthetic import make_stellar_spectra
from ._templates import make_template_spectra

__all__ = ["make_stellar_spectra", "make_template_spectra"]
