"""Built-in data: synthetic stellar spectra with known generative factors."""

from ._synthetic import make_stellar_spectra

__all__ = ["make_stellar_spectra"]
