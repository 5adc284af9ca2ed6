"""Helpers for whole archives: a common wavelength grid, and one vote per star."""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd

from .._constants import C_KMS

__all__ = ["star_weights", "wavelength_grid"]


def wavelength_grid(
    low: float, high: float, *, log_step: float | None = None, step: float | None = None
) -> np.ndarray:
    """A wavelength grid from ``low`` to at most ``high``, uniform in log or in wavelength.

    On a grid uniform in log-wavelength (``log_step`` km/s per pixel) a
    Doppler shift moves every line by the same number of pixels: ``k``
    pixels are ``k * log_step`` km/s, which is what Doppler-pair training
    (``virtual_rv``) shifts by. HARPS' own 1-D products sample about 0.8 km/s
    per pixel (0.01 Angstrom at 3,800 Angstrom); a few km/s per pixel keeps
    lines of a few tens of km/s resolved at a fraction of the pixels.

    Parameters
    ----------
    low, high : float
        The range, in Angstrom; ``0 < low < high``. The grid starts at
        ``low`` and its last pixel is at most ``high``.
    log_step : float, default=None
        Pixel width in km/s (``c * d ln(lambda)``).
    step : float, default=None
        Pixel width in Angstrom. Give exactly one of ``log_step`` and ``step``.

    Returns
    -------
    wavelength : ndarray of shape (n_pixels,)
        Increasing wavelengths, at least 2.

    See Also
    --------
    read_spectra : Read many files onto such a grid.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep.io import wavelength_grid
    >>> grid = wavelength_grid(5000, 5600, log_step=10.0)
    >>> grid.size, float(grid[0])
    (3398, 5000.0)
    >>> velocity = 299792.458 * np.diff(np.log(grid))
    >>> bool(np.allclose(velocity, 10.0))
    True
    >>> wavelength_grid(5000, 5001, step=0.25)
    array([5000.  , 5000.25, 5000.5 , 5000.75, 5001.  ])
    """
    for name, value in (("low", low), ("high", high)):
        if not isinstance(value, Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number of Angstrom; got {value!r}.")
    if not 0 < low < high:
        raise ValueError(f"The range needs 0 < low < high; got {low:g} and {high:g}.")
    if (log_step is None) == (step is None):
        raise ValueError("Give exactly one of log_step (km/s) and step (Angstrom).")
    width = log_step if step is None else step
    name = "log_step" if step is None else "step"
    if not isinstance(width, Real) or not width > 0 or not np.isfinite(width):
        raise ValueError(f"{name} must be a positive number; got {width!r}.")
    # The 1e-9 keeps a range of a whole number of steps from losing its last pixel to rounding.
    if step is not None:
        n = int(np.floor((high - low) / step + 1e-9)) + 1
        grid = low + step * np.arange(n)
    else:
        ratio = log_step / C_KMS
        n = int(np.floor(np.log(high / low) / ratio + 1e-9)) + 1
        grid = low * np.exp(ratio * np.arange(n))
    if n < 2:
        raise ValueError(f"{name}={width:g} leaves fewer than 2 pixels in {low:g}-{high:g}.")
    return grid


def star_weights(objects) -> np.ndarray:
    """Sampling weights that give each star one vote: 1 / (spectra of the same star).

    Archives hold many spectra of a few bright stars and one or two of most
    others; weighting each spectrum by one over its star's count, as
    Sedaghat et al. (2021) sampled HARPS, keeps the busiest stars from
    dominating training. Pass the result as ``sample_weight`` to
    :meth:`SpectralAutoencoder.fit <skspecrep.SpectralAutoencoder.fit>`.

    Parameters
    ----------
    objects : array-like of str of shape (n_spectra,)
        The star of each spectrum, e.g. the ``object`` column of
        :func:`read_spectra`'s ``meta`` (the FITS ``OBJECT`` keyword).
        Names are compared after stripping spaces; a missing or empty name
        counts as a star of its own.

    Returns
    -------
    weights : ndarray of shape (n_spectra,)
        Weights summing to the number of stars.

    Examples
    --------
    >>> from skspecrep.io import star_weights
    >>> star_weights(["HD 10700", "HD 10700 ", "HD 10700", "GJ 699", None])
    array([0.33333333, 0.33333333, 0.33333333, 1.        , 1.        ])
    """
    if np.ndim(objects) != 1:
        raise ValueError(f"objects must be 1-D, one name per spectrum; got {np.shape(objects)}.")
    names = pd.Series(objects, dtype="string").str.strip()
    named = (names.notna() & (names != "")).to_numpy()
    weights = np.ones(len(names))
    counts = names[named].value_counts()
    weights[named] = 1.0 / names[named].map(counts).to_numpy(dtype=float)
    return weights
