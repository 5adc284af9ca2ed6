"""The unusual spectra of an archive, ranked, with what makes each unusual."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._checks import check_wavelength_grid
from .._typicality import PARTS


def unusual_spectra(estimator, X, *, ivar=None, wavelength=None, n_spectra=None) -> pd.DataFrame:
    """Rank spectra from the most unusual, with the part of the score that makes each so.

    The table behind :meth:`SpectralAutoencoder.score_samples
    <skspecrep.SpectralAutoencoder.score_samples>`: for each spectrum its
    score and its three parts, each in typical spreads above its typical
    value on the reference spectra of ``fit`` (``"reconstruction"``: drawn
    badly everywhere; ``"peak"``: a few pixels far off, as a cosmic ray, an
    emission line or bad pixels; ``"latent"``: an unusual code), which part
    is largest, and where the largest residual lies.

    Parameters
    ----------
    estimator : SpectralAutoencoder
        A fitted autoencoder.
    X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
        Spectra on the estimator's pixel grid; on-disk arrays are read a
        chunk at a time.
    ivar : array-like of shape (n_samples, n_features), default=None
        Inverse variances, required when the estimator was trained with
        ``loss="chi2"``.
    wavelength : array-like of shape (n_features,), default=None
        Wavelength of each pixel; None takes the estimator's ``wavelength``
        parameter when it has one.
    n_spectra : int, default=None
        Keep only the first this many rows of the ranking; None keeps all.

    Returns
    -------
    table : pandas.DataFrame
        One row per spectrum, most unusual first, indexed by the spectrum's
        row in ``X``: ``score`` (as ``score_samples``), ``part`` (the
        largest part's name), the three parts, ``peak_pixel`` and, with a
        wavelength grid, ``peak_wavelength``.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.inspection import unusual_spectra
    >>> rng = np.random.RandomState(0)
    >>> pixels = np.linspace(-1, 1, 64)
    >>> depth = rng.uniform(0.2, 0.8, size=(300, 1))
    >>> X = 1 - depth * np.exp(-0.5 * (pixels / 0.1) ** 2)
    >>> X += rng.normal(0, 0.01, X.shape)
    >>> ae = SpectralAutoencoder(n_components=2, max_epochs=30, random_state=0).fit(X)
    >>> X[7, 40] += 1.0  # a cosmic ray in spectrum 7
    >>> table = unusual_spectra(ae, X, n_spectra=3)
    >>> int(table.index[0]), table["part"].iloc[0], int(table["peak_pixel"].iloc[0])
    (7, 'peak', 40)
    """
    if not hasattr(estimator, "score_parts"):
        raise TypeError(
            "unusual_spectra needs a fitted SpectralAutoencoder (it scores spectra with "
            f"score_parts); got {type(estimator).__name__}. For a Pipeline, pass its last "
            "step and the spectra as that step sees them."
        )
    check_is_fitted(estimator)
    if n_spectra is not None and (
        isinstance(n_spectra, bool) or not isinstance(n_spectra, Integral) or n_spectra < 1
    ):
        raise ValueError(f"n_spectra must be a positive integer or None; got {n_spectra!r}.")
    parts = estimator.score_parts(X, ivar=ivar)
    z = np.column_stack([parts[name] for name in PARTS])
    table = pd.DataFrame({"score": -z.max(axis=1), "part": np.array(PARTS)[z.argmax(axis=1)]})
    for name in PARTS:
        table[name] = parts[name]
    table["peak_pixel"] = parts.peak_pixel
    if wavelength is None:
        wavelength = getattr(estimator, "wavelength", None)
    if wavelength is not None:
        grid = check_wavelength_grid(wavelength, "wavelength", size=len(estimator.residual_scale_))
        table["peak_wavelength"] = grid[parts.peak_pixel]
    table = table.sort_values("score", kind="stable")
    return table if n_spectra is None else table.iloc[:n_spectra]
