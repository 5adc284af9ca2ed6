"""Preprocessing transformers: resampling, median normalisation, the paper's HARPS recipe."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ._checks import check_wavelength_grid
from .exceptions import NonPositiveMedianError, SpectrumQualityWarning

# The HARPS recipe of Sedaghat et al. (2021): the native 0.01 Angstrom grid
# from 3785 to 6910 Angstrom (312,501 pixels), zero-padded 7589 pixels left
# and 7590 right to 327,680 = 20 * 2**14, with the pads and the gap between
# the two CCDs (padded pixels 159453-162893) masked out of the loss.
HARPS_RANGE = (3785.0, 6910.0)
HARPS_STEP = 0.01
HARPS_PAD = (7589, 7590)
HARPS_N_PIXELS = 327_680
HARPS_CCD_GAP = (159_453, 162_894)  # padded pixel indices, end exclusive
HARPS_NOISE_MEDIAN = 50.0  # raw median flux below which a spectrum is noise only
#: Most Angstrom at either end of 3785-6910 that the spectra may leave uncovered:
#: products of one instrument differ in coverage by tenths of an Angstrom.
HARPS_MAX_UNCOVERED = 10.0


def harps_pixel_mask() -> np.ndarray:
    """The paper's pixel mask on the padded HARPS grid: 0 on the pads and the CCD gap.

    Returns
    -------
    mask : ndarray of shape (327680,)
        1.0 for pixels the loss uses, 0.0 for the pads and the CCD gap;
        ready for ``SpectralAutoencoder(pixel_mask=...)``.

    Examples
    --------
    >>> from skspecrep import harps_pixel_mask
    >>> mask = harps_pixel_mask()
    >>> mask.shape, int(mask.sum())
    ((327680,), 309060)
    """
    mask = np.ones(HARPS_N_PIXELS)
    mask[: HARPS_PAD[0]] = 0.0
    mask[HARPS_N_PIXELS - HARPS_PAD[1] :] = 0.0
    mask[slice(*HARPS_CCD_GAP)] = 0.0
    return mask


def harps_wavelength() -> np.ndarray:
    """Wavelength (Angstrom) of each pixel of the padded HARPS grid.

    The pads continue the 0.01 Angstrom grid beyond 3785 and 6910 Angstrom.

    Returns
    -------
    wavelength : ndarray of shape (327680,)

    Examples
    --------
    >>> from skspecrep import harps_wavelength
    >>> w = harps_wavelength()
    >>> round(float(w[7589]), 2), round(float(w[7589 + 312500]), 2)
    (3785.0, 6910.0)
    """
    return HARPS_RANGE[0] + HARPS_STEP * (np.arange(HARPS_N_PIXELS) - HARPS_PAD[0])


def _resampling_matrix(wave_in: np.ndarray, wave_out: np.ndarray, method: str):
    """Sparse (n_out, n_in) map from flux on wave_in to flux on wave_out, and coverage."""
    n_in, n_out = wave_in.size, wave_out.size
    if method == "linear":
        covered = (wave_out >= wave_in[0]) & (wave_out <= wave_in[-1])
        k = np.flatnonzero(covered)
        j = np.clip(np.searchsorted(wave_in, wave_out[k], side="right") - 1, 0, n_in - 2)
        t = (wave_out[k] - wave_in[j]) / (wave_in[j + 1] - wave_in[j])
        rows = np.concatenate([k, k])
        cols = np.concatenate([j, j + 1])
        vals = np.concatenate([1.0 - t, t])
    else:
        # Mean of the linear interpolant over each output pixel's bin, whose
        # edges lie halfway between output pixels: flux-conserving.
        mid = 0.5 * (wave_out[1:] + wave_out[:-1])
        edges = np.concatenate(
            [[wave_out[0] - (mid[0] - wave_out[0])], mid, [wave_out[-1] + (wave_out[-1] - mid[-1])]]
        )
        lo, hi = edges[:-1], edges[1:]
        covered = (lo >= wave_in[0]) & (hi <= wave_in[-1])
        k = np.flatnonzero(covered)
        first = np.clip(np.searchsorted(wave_in, lo[k], side="right") - 1, 0, n_in - 2)
        last = np.clip(np.searchsorted(wave_in, hi[k], side="left") - 1, 0, n_in - 2)
        count = last - first + 1
        kk = np.repeat(k, count)
        i = np.repeat(first, count) + (
            np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        )
        w0, w1 = wave_in[i], wave_in[i + 1]
        s, e = np.maximum(lo[kk], w0), np.minimum(hi[kk], w1)
        h, width = w1 - w0, (hi - lo)[kk]
        left = ((w1 - s) ** 2 - (w1 - e) ** 2) / (2 * h * width)
        right = ((e - w0) ** 2 - (s - w0) ** 2) / (2 * h * width)
        rows = np.concatenate([kk, kk])
        cols = np.concatenate([i, i + 1])
        vals = np.concatenate([left, right])
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(n_out, n_in))
    matrix.sum_duplicates()
    # A stored zero weight would still turn a NaN neighbour into NaN.
    matrix.eliminate_zeros()
    return matrix, covered


def _apply(matrix, covered, X: np.ndarray, fill_value: float, chunk_rows: int = 256):
    out = np.empty((X.shape[0], matrix.shape[0]), dtype=X.dtype)
    for start in range(0, X.shape[0], chunk_rows):
        block = np.asarray(X[start : start + chunk_rows], dtype=np.float64)
        out[start : start + chunk_rows] = (matrix @ block.T).T
    out[:, ~covered] = fill_value
    return out


class WavelengthResampler(TransformerMixin, BaseEstimator):
    """Resample spectra from one wavelength grid onto another.

    Each output pixel is either the linear interpolation of the input at its
    wavelength, or (``method="flux"``) the mean of that interpolation over
    the output pixel's width, which conserves flux and averages noise when
    the output grid is coarser. Both are one sparse matrix, built in ``fit``.
    Output pixels that the input does not cover get ``fill_value``; NaN in
    the input spreads only to the output pixels that use it.

    Parameters
    ----------
    wavelength : array-like of shape (n_features,), default=None
        Wavelength of each input column, increasing; None means the column
        index.
    grid : array-like of shape (n_out,) or int, default=None
        Output wavelengths; an int asks for that many pixels evenly spaced
        in log-wavelength over the input range (in pixel number when
        ``wavelength`` is None); None keeps the input grid.
    method : {"linear", "flux"}, default="linear"
        Interpolate at each output wavelength, or average over each output
        pixel.
    fill_value : float, default=nan
        Value of output pixels outside the input coverage.

    Attributes
    ----------
    grid_ : ndarray of shape (n_out,)
        Output wavelengths.
    covered_ : ndarray of bool, shape (n_out,)
        Output pixels inside the input coverage.
    n_features_in_ : int
        Number of input pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import WavelengthResampler
    >>> wave = np.linspace(5000, 5010, 11)
    >>> X = np.vstack([wave - 5000, np.ones(11)])
    >>> WavelengthResampler(wave, grid=[5000.5, 5009.5, 5020]).fit_transform(X)
    array([[0.5, 9.5, nan],
           [1. , 1. , nan]])
    """

    _parameter_constraints: dict = {
        "wavelength": ["array-like", None],
        "grid": ["array-like", Interval(Integral, 2, None, closed="left"), None],
        "method": [StrOptions({"linear", "flux"})],
        "fill_value": [Real],
    }

    def __init__(self, wavelength=None, *, grid=None, method="linear", fill_value=np.nan):
        self.wavelength = wavelength
        self.grid = grid
        self.method = method
        self.fill_value = fill_value

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the resampling matrix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra on ``wavelength``; only their width is used.
        y : None
            Ignored.

        Returns
        -------
        self : WavelengthResampler
            The fitted resampler.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
        if self.wavelength is None:
            wave_in = np.arange(X.shape[1], dtype=np.float64)
        else:
            wave_in = check_wavelength_grid(self.wavelength, "wavelength")
            if wave_in.size != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} pixels but wavelength has {wave_in.size} values."
                )
        if self.grid is None:
            grid = wave_in
        elif wave_in.size < 2:
            raise ValueError(
                f"Resampling needs at least 2 pixels to interpolate; got {X.shape[1]} feature(s)."
            )
        elif isinstance(self.grid, Integral):
            if self.wavelength is None:  # pixel numbers: evenly spaced
                grid = np.linspace(wave_in[0], wave_in[-1], int(self.grid))
            elif wave_in[0] <= 0:
                raise ValueError("A log-wavelength grid needs positive input wavelengths.")
            else:
                grid = np.geomspace(wave_in[0], wave_in[-1], int(self.grid))
        else:
            grid = check_wavelength_grid(self.grid, "grid")
        self.grid_ = grid
        if np.array_equal(grid, wave_in):
            self._matrix = sparse.identity(grid.size, format="csr")
            self.covered_ = np.ones(grid.size, dtype=bool)
        else:
            self._matrix, self.covered_ = _resampling_matrix(wave_in, grid, self.method)
        return self

    def transform(self, X):
        """Spectra on the output grid.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra on ``wavelength``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_out)
            Resampled spectra, in the input's float dtype.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan"
        )
        return _apply(self._matrix, self.covered_, X, self.fill_value)

    def get_feature_names_out(self, input_features=None):
        """Output names ``wavelength<λ>``, λ in the output grid's units.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Checked against the input, not used.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return np.asarray([f"wavelength{w:.6g}" for w in self.grid_], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def masked_median(X: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Median of each row over the unmasked, non-NaN pixels."""
    values = X if mask is None else X[:, np.asarray(mask) > 0]
    return np.nanmedian(values, axis=1)


class MedianNormalizer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Divide each spectrum by its median flux over unmasked pixels.

    The paper's normalisation, with the median taken only where
    ``pixel_mask`` is positive: counting zero-padded pixels, as the original
    code did, drags the median down by however much padding there is. NaN
    pixels are left out of the median and stay NaN. A spectrum whose median
    is not positive cannot be normalised and is refused, with its row.

    Parameters
    ----------
    pixel_mask : array-like of shape (n_features,), default=None
        Pixels with a positive value enter the median; None uses all.
    invalid : {"raise", "nan"}, default="raise"
        A spectrum whose median is not positive: refuse the whole input
        naming its rows, or return it as NaN with a warning naming them.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import MedianNormalizer
    >>> X = np.array([[2.0, 4.0, 6.0, 0.0, 0.0]])
    >>> MedianNormalizer().fit_transform(X)  # the pads pull the median down
    array([[1., 2., 3., 0., 0.]])
    >>> MedianNormalizer(pixel_mask=[1, 1, 1, 0, 0]).fit_transform(X)
    array([[0.5, 1. , 1.5, 0. , 0. ]])
    """

    _parameter_constraints: dict = {
        "pixel_mask": ["array-like", None],
        "invalid": [StrOptions({"raise", "nan"})],
    }

    def __init__(self, pixel_mask=None, *, invalid: str = "raise"):
        self.pixel_mask = pixel_mask
        self.invalid = invalid

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the pixel count (nothing is learned).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.
        y : None
            Ignored.

        Returns
        -------
        self : MedianNormalizer
            The fitted normaliser.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
        self._mask()
        return self

    def _mask(self):
        if self.pixel_mask is None:
            return None
        mask = np.asarray(self.pixel_mask, dtype=np.float64).ravel()
        if mask.size != self.n_features_in_:
            raise ValueError(
                f"pixel_mask has {mask.size} values but the spectra have "
                f"{self.n_features_in_} pixels."
            )
        if not np.any(mask > 0):
            raise ValueError("pixel_mask leaves no pixel for the median.")
        return mask

    def transform(self, X):
        """Spectra divided by their medians.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            Normalised spectra, in the input's float dtype.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan"
        )
        median = masked_median(X, self._mask())
        if self.invalid == "nan":
            bad = ~(median > 0)
            if bad.any():
                rows = np.flatnonzero(bad)
                warnings.warn(
                    f"{rows.size} spectra have a median flux that is not positive and are "
                    f"returned as NaN (rows {rows[:10].tolist()}"
                    f"{' ...' if rows.size > 10 else ''}).",
                    SpectrumQualityWarning,
                    stacklevel=2,
                )
                median = np.where(bad, np.nan, median)
                return (X / median[:, None]).astype(X.dtype, copy=False)
        return _divide_by_median(X, median)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _divide_by_median(X, median, first_row: int = 0):
    bad = ~(median > 0)
    if bad.any():
        rows = first_row + np.flatnonzero(bad)
        raise NonPositiveMedianError(
            f"{rows.size} spectra have a median flux that is not positive (rows "
            f"{rows[:10].tolist()}{' ...' if rows.size > 10 else ''}), so they cannot be "
            "normalised; drop them first (noise-only spectra: see HARPSPreprocessor.noise_only).",
            rows,
        )
    return (X / median[:, None]).astype(X.dtype, copy=False)


class HARPSPreprocessor(TransformerMixin, BaseEstimator):
    """The HARPS preprocessing of Sedaghat et al. (2021) as one transformer.

    1. Resample onto the native 0.01 Angstrom grid from 3785 to 6910
       Angstrom (312,501 pixels); spectra from ``read_spectra`` on the
       archive's own grid pass through exactly.
    2. Zero-pad 7589 pixels left and 7590 right to 327,680 pixels, a
       multiple of 2**14 for the paper's network.
    3. Divide by the median flux over the unmasked pixels (not the pads, not
       the CCD gap), the correct form of the paper's normalisation; or, with
       ``median="sedaghat2021"``, exactly as the paper's code did: the median
       of flux x mask over all 327,680 values, the zeros of the pads and the
       gap included, which the paper's released weights were trained on.

    The mask of step 3 is ``pixel_mask_``, for
    ``SpectralAutoencoder(pixel_mask=...)`` (also :func:`harps_pixel_mask`).
    Spectra with a raw median below ``noise_median`` (50 in the paper) are
    noise only: :meth:`noise_only` flags them, ``fit`` records
    ``noise_only_`` and ``transform`` warns with their rows. Nothing is
    dropped, since a transformer keeps its rows.

    Parameters
    ----------
    wavelength : array-like of shape (n_features,)
        Wavelength (Angstrom) of each input column; must cover 3785-6910.
        Up to 10 Angstrom left uncovered at either end (real products
        differ in coverage) are masked in ``pixel_mask_`` as the pads are,
        with a :class:`~skspecrep.exceptions.SpectrumQualityWarning`.
    noise_median : float, default=50.0
        Raw median flux below which a spectrum counts as noise only.
    median : {"masked", "sedaghat2021"}, default="masked"
        The median each spectrum is divided by: over the unmasked pixels, or
        the paper's median of flux x mask over all pixels (for its released
        weights, see :func:`skspecrep.io.load_sedaghat2021`). The second is
        lower by the share of zeros it counts (5.7 %), so spectra come out
        about 3 % brighter.

    Attributes
    ----------
    pixel_mask_ : ndarray of shape (327680,)
        1 where the loss should look, 0 on the pads, the CCD gap and any
        pixel the spectra do not cover.
    wavelength_ : ndarray of shape (327680,)
        Wavelength of each output pixel (the pads continue the grid).
    noise_only_ : ndarray of bool, shape (n_samples_fit,)
        Which spectra seen in ``fit`` are noise only.
    n_features_in_ : int
        Number of input pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import HARPSPreprocessor
    >>> wave = 3781.0 + 0.01 * np.arange(313_000)  # an ADP file's grid
    >>> X = np.full((2, wave.size), 200.0, dtype=np.float32)
    >>> prep = HARPSPreprocessor(wave).fit(X)
    >>> Xp = prep.transform(X)
    >>> Xp.shape, float(Xp[0, 7589]), float(Xp[0, 0])
    ((2, 327680), 1.0, 0.0)
    """

    _parameter_constraints: dict = {
        "wavelength": ["array-like"],
        "noise_median": [Real],
        "median": [StrOptions({"masked", "sedaghat2021"})],
    }

    def __init__(
        self, wavelength, *, noise_median: float = HARPS_NOISE_MEDIAN, median: str = "masked"
    ):
        self.wavelength = wavelength
        self.noise_median = noise_median
        self.median = median

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Set up the resampling and the mask; flag noise-only spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Raw spectra on ``wavelength``.
        y : None
            Ignored.

        Returns
        -------
        self : HARPSPreprocessor
            The fitted preprocessor.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
        wave = check_wavelength_grid(self.wavelength, "wavelength")
        if wave.size != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} pixels but wavelength has {wave.size} values.")
        lo, hi = HARPS_RANGE
        if wave[0] > lo + HARPS_MAX_UNCOVERED or wave[-1] < hi - HARPS_MAX_UNCOVERED:
            raise ValueError(
                f"The spectra cover {wave[0]:.2f}-{wave[-1]:.2f} Angstrom; the HARPS recipe "
                f"needs {lo:g}-{hi:g} (to within {HARPS_MAX_UNCOVERED:g} A at either end)."
            )
        inner = slice(HARPS_PAD[0], HARPS_N_PIXELS - HARPS_PAD[1])
        self._matrix, covered = _resampling_matrix(wave, harps_wavelength()[inner], "linear")
        self.pixel_mask_ = harps_pixel_mask()
        if not covered.all():
            # Pixels no spectrum reaches are left out as the pads are: zero, masked.
            self.pixel_mask_[inner][~covered] = 0.0
            warnings.warn(
                f"The spectra cover {wave[0]:.2f}-{wave[-1]:.2f} Angstrom, not all of "
                f"{lo:g}-{hi:g}: the {np.sum(~covered):,} HARPS pixels outside it are "
                "masked, as the pads are.",
                SpectrumQualityWarning,
                stacklevel=2,
            )
        self.wavelength_ = harps_wavelength()
        self.noise_only_ = self.noise_only(X)
        return self

    def _native(self, X):
        """Spectra resampled to the unpadded native grid."""
        return _apply(self._matrix, np.ones(self._matrix.shape[0], dtype=bool), X, np.nan)

    def noise_only(self, X) -> np.ndarray:
        """Flag noise-only spectra: raw median flux over the used pixels below ``noise_median``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Raw spectra on ``wavelength``.

        Returns
        -------
        flags : ndarray of bool, shape (n_samples,)
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} pixels; got shape {X.shape}.")
        median = [self._raw_median(X[i : i + 256]) for i in range(0, len(X), 256)]
        return ~(np.concatenate(median) >= self.noise_median) if median else np.zeros(0, bool)

    def _raw_median(self, X):
        used = self.pixel_mask_[HARPS_PAD[0] : HARPS_N_PIXELS - HARPS_PAD[1]] > 0
        return np.nanmedian(self._native(X)[:, used], axis=1)

    def transform(self, X):
        """Resampled, padded and median-normalised spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Raw spectra on ``wavelength``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, 327680)
            float32, zero on the pads.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan"
        )
        out = np.zeros((X.shape[0], HARPS_N_PIXELS), dtype=np.float32)
        inner = slice(HARPS_PAD[0], HARPS_N_PIXELS - HARPS_PAD[1])
        used = self.pixel_mask_[inner] > 0
        noisy = []
        for start in range(0, X.shape[0], 256):
            native = self._native(X[start : start + 256])
            raw = np.nanmedian(native[:, used], axis=1)
            noisy.extend((start + np.flatnonzero(~(raw >= self.noise_median))).tolist())
            median = raw
            if self.median == "sedaghat2021":
                padded = np.zeros((native.shape[0], HARPS_N_PIXELS), dtype=native.dtype)
                padded[:, inner] = native * self.pixel_mask_[inner]
                median = np.nanmedian(padded, axis=1)
            out[start : start + 256, inner] = _divide_by_median(native, median, start)
        if noisy:
            warnings.warn(
                f"{len(noisy)} spectra have a raw median flux below {self.noise_median:g} and "
                f"are noise only (rows {noisy[:10]}{' ...' if len(noisy) > 10 else ''}); the "
                "paper leaves them out of the analysis.",
                SpectrumQualityWarning,
                stacklevel=2,
            )
        return out

    def get_feature_names_out(self, input_features=None):
        """Output names ``pixel0`` ... ``pixel327679``.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Checked against the input, not used.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return np.asarray([f"pixel{i}" for i in range(HARPS_N_PIXELS)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
