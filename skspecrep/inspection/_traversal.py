"""What each latent does to a spectrum: decode while moving one latent at a time."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from scipy.stats import norm
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["latent_traversal"]


def latent_traversal(
    estimator,
    X=None,
    *,
    latents: int | Sequence[int] | None = None,
    n_steps: int = 7,
    quantiles: tuple[float, float] = (0.02, 0.98),
    reference=None,
    codes=None,
) -> Bunch:
    """Decode spectra while moving one latent at a time across its range.

    Starting from a typical code (the median code of ``X``), each chosen
    latent is set in turn to ``n_steps`` values spread evenly between the
    ``quantiles`` of its values over ``X``, the others held fixed, and each
    code is decoded. The differences between the decoded spectra show which
    spectral features a latent controls: the "sliders" of Sedaghat et al.
    (2021), where moving the latent that tracks radial velocity shifts every
    line, and moving the one that tracks Teff deepens some lines and weakens
    others.

    Parameters
    ----------
    estimator : fitted transformer
        Any fitted transformer with ``transform`` and ``inverse_transform``:
        a :class:`~skspecrep.SpectralAutoencoder`, or
        :class:`~sklearn.decomposition.PCA` for comparison.
    X : array-like of shape (n_samples, n_features), default=None
        Spectra that define the typical code and each latent's range. None
        traverses the prior of an autoencoder: the reference code is 0 and
        each latent runs between the standard normal ``quantiles``.
    latents : int, sequence of int or None, default=None
        Latents to traverse; None traverses all of them.
    n_steps : int, default=7
        Values per latent, at least 2.
    quantiles : tuple of float, default=(0.02, 0.98)
        Lower and upper quantile of each latent's values that bound its
        traversal; (0.02, 0.98) avoids the few extreme codes.
    reference : array-like of shape (n_components,), default=None
        Code to start from instead of the median code of ``X``.
    codes : array-like of shape (n_samples, n_components), default=None
        The codes of ``X`` (``estimator.transform(X)``) when they were
        already computed: they replace ``X``, which is then not encoded
        again (a large archive takes as long to encode as to read).

    Returns
    -------
    traversal : :class:`~sklearn.utils.Bunch`
        With keys:

        - ``latents``, ndarray of int, shape (n_latents,): the traversed latents;
        - ``latent_values``, ndarray of shape (n_latents, n_steps): each latent's
          values;
        - ``spectra``, ndarray of shape (n_latents, n_steps, n_features): the
          decoded spectra;
        - ``reference``, ndarray of shape (n_components,): the starting code;
        - ``reference_spectrum``, ndarray of shape (n_features,): its decoding;
        - ``amplitude``, ndarray of shape (n_latents,): the largest change of
          any pixel across each traversal, in the units of the spectra. A
          latent that changes nothing (a collapsed one) has amplitude near 0.

    See Also
    --------
    skspecrep.plotting.plot_latent_traversal : Draw the result.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.inspection import latent_traversal
    >>> rng = np.random.RandomState(0)
    >>> pixels = np.linspace(-1, 1, 64)
    >>> depth = rng.uniform(0.1, 0.9, size=(200, 1))
    >>> X = 1 - depth * np.exp(-0.5 * (pixels / 0.1) ** 2)
    >>> pca = PCA(n_components=2).fit(X)
    >>> t = latent_traversal(pca, X, n_steps=5)
    >>> t.spectra.shape
    (2, 5, 64)
    >>> bool(t.amplitude[0] > 0.5 > 1e-6 > t.amplitude[1])
    True
    """
    for method in ("transform", "inverse_transform"):
        if not hasattr(estimator, method):
            raise TypeError(
                f"latent_traversal needs a fitted transformer with transform and "
                f"inverse_transform; {type(estimator).__name__} has no {method}."
            )
    check_is_fitted(estimator)
    if not isinstance(n_steps, Integral) or n_steps < 2:
        raise ValueError(f"n_steps must be an integer of at least 2; got {n_steps!r}.")
    lo, hi = _check_quantiles(quantiles)

    if X is not None and codes is not None:
        raise ValueError("Pass the spectra X or their codes, not both.")
    if codes is not None:
        Z = check_array(codes, dtype=np.float64, input_name="codes")
        n_components = Z.shape[1]
        center = np.median(Z, axis=0)
        bounds = np.quantile(Z, [lo, hi], axis=0).T
    elif X is None:
        n_components = getattr(estimator, "n_components", None)
        # Only a VAE has a prior to traverse; PCA scores have no common scale.
        if not hasattr(estimator, "encode") or not isinstance(n_components, Integral):
            raise ValueError(
                f"X=None traverses the prior of an autoencoder; pass spectra X to "
                f"traverse {type(estimator).__name__}."
            )
        center = np.zeros(n_components)
        bounds = np.tile(norm.ppf([lo, hi]), (n_components, 1))
    else:
        Z = np.asarray(estimator.transform(X), dtype=np.float64)
        n_components = Z.shape[1]
        center = np.median(Z, axis=0)
        bounds = np.quantile(Z, [lo, hi], axis=0).T

    if reference is not None:
        center = check_array(reference, ensure_2d=False, input_name="reference").astype(float)
        if center.shape != (n_components,):
            raise ValueError(
                f"reference has shape {center.shape}; it must be one code of "
                f"shape ({n_components},)."
            )
    chosen = _check_latents(latents, n_components)

    values = np.linspace(bounds[chosen, 0], bounds[chosen, 1], n_steps, axis=1)
    codes = np.repeat(center[None, None, :], len(chosen), axis=0).repeat(n_steps, axis=1)
    codes[np.arange(len(chosen)), :, chosen] = values
    decoded = estimator.inverse_transform(
        np.vstack([center[None, :], codes.reshape(-1, n_components)])
    )
    decoded = np.asarray(decoded, dtype=np.float64)
    spectra = decoded[1:].reshape(len(chosen), n_steps, -1)
    amplitude = np.ptp(spectra, axis=1).max(axis=1)
    return Bunch(
        latents=chosen,
        latent_values=values,
        spectra=spectra,
        reference=center,
        reference_spectrum=decoded[0],
        amplitude=amplitude,
    )


def _check_quantiles(quantiles) -> tuple[float, float]:
    try:
        lo, hi = (float(q) for q in quantiles)
    except (TypeError, ValueError):
        raise ValueError(f"quantiles must be two numbers (low, high); got {quantiles!r}.") from None
    if not 0 < lo < hi < 1:
        raise ValueError(f"quantiles must satisfy 0 < low < high < 1; got {quantiles!r}.")
    return lo, hi


def _check_latents(latents, n_components: int) -> np.ndarray:
    if latents is None:
        return np.arange(n_components)
    chosen = np.atleast_1d(np.asarray(latents))
    if chosen.ndim != 1 or chosen.size == 0 or not np.issubdtype(chosen.dtype, np.integer):
        raise ValueError(f"latents must be an int or a sequence of ints; got {latents!r}.")
    bad = chosen[(chosen < 0) | (chosen >= n_components)]
    if bad.size:
        raise ValueError(
            f"latents {bad.tolist()} do not exist: the code has {n_components} latents "
            f"(0 to {n_components - 1})."
        )
    return chosen
