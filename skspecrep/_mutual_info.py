"""Mutual-information estimators between latents and labels, in nats.

Three estimators with different trade-offs, and a bootstrap for any of them:

- :func:`mutual_info_histogram`: the paper's plug-in estimate from 2-D
  equal-width histograms, for every latent x label pair and several binnings
  at once. Fast and simple, biased upwards by about ``(B - 1)**2 / (2 N)``
  (optionally corrected).
- :func:`mutual_info_ksg`: the Kraskov-Stoegbauer-Grassberger k-nearest-
  neighbour estimator, the one behind
  :func:`sklearn.feature_selection.mutual_info_regression`, here with a
  k-d tree for the joint space and sorted arrays for the marginals.
- :func:`mutual_info_gmm`: fit a Gaussian mixture to the pair (number of
  components by cross-validated held-out likelihood) and integrate the MI of
  the fitted density by Monte Carlo; smooth and accurate at moderate n.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, logsumexp
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state

#: The binnings of Sedaghat et al. (2021).
PAPER_BINS = (5, 10, 20, 40, 80, 160)


def _as_columns(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D; got shape {a.shape}.")
    return a


def _check_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y need the same length; got {x.size} and {y.size}.")
    if x.size < 2:
        raise ValueError(f"Need at least 2 samples; got {x.size}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite; drop NaN or inf first.")
    return x, y


def bin_codes(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin index of each value, column by column.

    Bins span each column's own [min, max], and a value falls in the same bin
    as in :func:`numpy.histogram2d` with ``bins=n_bins``: half-open bins,
    the last one closed. A constant column goes to bin 0.
    """
    return _Binned(np.asarray(x, dtype=np.float64).T, n_bins).code.T


def _exact_codes(v, guess, lo, hi, n_bins):
    """Bins of values v by comparison with numpy.linspace's edges, from a guess.

    numpy puts edge j at ``j * step + lo`` (``step = (hi - lo) / n_bins``) and
    the last edge exactly at ``hi``; a value belongs to bin j when
    ``edge_j <= v < edge_{j+1}``, the last bin closed.
    """
    step = (hi - lo) / n_bins
    c = guess
    while True:
        down = v < c * step + lo
        upper = np.where(c + 1 == n_bins, hi, (c + 1) * step + lo)
        up = (v >= upper) & (c < n_bins - 1)
        if not (down.any() or up.any()):
            return c
        c = c - down + up


class _Binned:
    """Equal-width bins of variables stored as rows, shape (n_variables, n).

    ``code`` holds each value's bin, identical to numpy.histogram2d's.
    ``near_rows``/``near_cols`` list the values within rounding distance of a
    bin edge: the only ones whose bin a division could get wrong, and the
    only ones whose bin in a coarser binning (of n_bins / r bins) can differ
    from ``code // r`` (see :meth:`coarse_exceptions`).

    ``x`` may be a strided view (e.g. ``Z.T``). Variables are binned a few at
    a time, about ``block`` values per step, so that temporaries stay small
    and are reused instead of paging in whole-table arrays.
    """

    def __init__(self, x: np.ndarray, n_bins: int, block: int = 2**20):
        n_vars, n = x.shape
        self.n_bins = n_bins
        self.lo = np.empty(n_vars)
        self.hi = np.empty(n_vars)
        self.code = np.empty((n_vars, n), dtype=np.int64)
        near_rows, near_cols, near_values = [], [], []
        per_step = max(1, block // max(n, 1))
        for r0 in range(0, n_vars, per_step):
            part = np.ascontiguousarray(x[r0 : r0 + per_step], dtype=np.float64)
            rows, cols = self._bin_block(part, r0)
            near_rows.append(rows + r0)
            near_cols.append(cols)
            near_values.append(part[rows, cols])
        self.near_rows = np.concatenate(near_rows)
        self.near_cols = np.concatenate(near_cols)
        self.near_values = np.concatenate(near_values)

    def _bin_block(self, x, r0):
        n_bins = self.n_bins
        lo = x.min(axis=1, keepdims=True)
        hi = x.max(axis=1, keepdims=True)
        self.lo[r0 : r0 + len(x)] = lo[:, 0]
        self.hi[r0 : r0 + len(x)] = hi[:, 0]
        step = (hi - lo) / n_bins
        safe = np.where(step > 0, step, 1.0)
        position = x - lo
        position /= safe
        code = position.astype(np.int64)
        np.minimum(code, n_bins - 1, out=code)
        # The rounding error of the position grows with the values'
        # magnitude relative to the bin width.
        tol = 1e-9 + 16 * np.finfo(np.float64).eps * np.maximum(abs(lo), abs(hi)) / safe
        position -= code
        rows, cols = np.nonzero((position < tol) | (position > 1 - tol))
        if rows.size:
            code[rows, cols] = _exact_codes(
                x[rows, cols], code[rows, cols], lo[rows, 0], hi[rows, 0], n_bins
            )
        code[step[:, 0] == 0] = 0
        self.code[r0 : r0 + len(x)] = code
        return rows, cols

    def coarse_exceptions(self, n_coarse: int):
        """Values whose bin among ``n_coarse`` bins is not ``code // r``.

        Returns their rows, columns, bins as derived and true coarse bins.
        """
        r = self.n_bins // n_coarse
        rows, cols = self.near_rows, self.near_cols
        derived = self.code[rows, cols] // r
        exact = _exact_codes(self.near_values, derived, self.lo[rows], self.hi[rows], n_coarse)
        exact[self.lo[rows] == self.hi[rows]] = 0
        wrong = exact != derived
        return rows[wrong], cols[wrong], derived[wrong], exact[wrong]


def _mi_from_counts(counts: np.ndarray, n: int, bias_correction: bool) -> np.ndarray:
    """Plug-in MI from joint counts of shape (..., B, B)."""
    p = counts / n
    px = p.sum(axis=-1, keepdims=True)
    py = p.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / (px * py)), 0.0)
    mi = terms.sum(axis=(-2, -1))
    if bias_correction:
        # Miller-Madow: each entropy is biased by -(occupied bins - 1) / (2n).
        occupied = lambda c: (c > 0).sum(axis=-1)  # noqa: E731
        k_xy = (counts > 0).sum(axis=(-2, -1))
        k_x = occupied(counts.sum(axis=-1))
        k_y = occupied(counts.sum(axis=-2))
        mi = mi - (k_xy - k_x - k_y + 1) / (2.0 * n)
    return np.maximum(mi, 0.0)


def _binning_plan(bins: list[int]) -> dict[int, list[int]]:
    """Group binnings under the finest one they divide.

    A coarse joint histogram whose bin count divides a finer one's is a block
    sum of it (up to values on edges, corrected exactly), so only the finest
    binning of each group is counted from the data.
    """
    plan: dict[int, list[int]] = {}
    for b in sorted(set(bins), reverse=True):
        parent = next((f for f in plan if f % b == 0), None)
        if parent is None:
            plan[b] = []
        else:
            plan[parent].append(b)
    return plan


def _joint_counts(zb: _Binned, yb: _Binned) -> np.ndarray:
    """Joint histograms of every latent with one label, shape (n_latents, B, B)."""
    n_latents, n_bins = zb.code.shape[0], zb.n_bins
    # Latents as rows: each latent's histogram is filled by a contiguous run
    # of the flat index (latent, z bin, y bin), so its counts stay in cache.
    flat = zb.code + (np.arange(n_latents) * n_bins)[:, None]
    flat *= n_bins
    flat += yb.code
    counts = np.bincount(flat.ravel(), minlength=n_latents * n_bins * n_bins)
    return counts.reshape(n_latents, n_bins, n_bins)


def _coarse_counts(fine, zb, yb, z_exc, n_coarse):
    """Counts at n_coarse bins from the fine counts, moving edge values to their true bins."""
    n_latents, n_fine = fine.shape[0], fine.shape[1]
    r = n_fine // n_coarse
    counts = fine.reshape(n_latents, n_coarse, r, n_coarse, r).sum(axis=(2, 4))
    y_rows, y_cols, y_derived, y_exact = yb.coarse_exceptions(n_coarse)
    y_true = yb.code[0] // r
    y_true[y_cols] = y_exact
    k, i, z_derived, z_exact = z_exc
    # Values of latent k in row i that changed coarse z bin.
    np.subtract.at(counts, (k, z_derived, yb.code[0, i] // r), 1)
    np.add.at(counts, (k, z_exact, y_true[i]), 1)
    # Rows whose label changed coarse bin, for every latent not moved above.
    if y_cols.size:
        moved = np.zeros((n_latents, y_cols.size), dtype=bool)
        pos = np.searchsorted(y_cols, i)
        hit = (pos < y_cols.size) & (y_cols[np.minimum(pos, y_cols.size - 1)] == i)
        moved[k[hit], pos[hit]] = True
        kk, jj = np.nonzero(~moved)
        z_bins = zb.code[kk, y_cols[jj]] // r
        np.subtract.at(counts, (kk, z_bins, y_derived[jj]), 1)
        np.add.at(counts, (kk, z_bins, y_exact[jj]), 1)
    return counts


def mutual_info_histogram(
    Z,
    Y,
    bins: int | Sequence[int] = PAPER_BINS,
    *,
    bias_correction: bool = False,
) -> np.ndarray:
    """Plug-in mutual information from 2-D equal-width histograms.

    Computes every latent x label pair at every binning at once, with values
    identical to ``numpy.histogram2d(z, y, bins=B)`` pair by pair: for each
    label, one ``numpy.bincount`` gives the joint histograms of all latents,
    and binnings that divide a finer one (5, 10, 20, 40 and 80 divide 160)
    are block sums of its histogram, with values on bin edges moved to their
    exact bins.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_latents)
        Latent codes.
    Y : array-like of shape (n_samples, n_labels)
        Labels. Rows where a label is NaN are left out for that label only.
    bins : int or sequence of int, default=(5, 10, 20, 40, 80, 160)
        Numbers of bins per axis; the default is the paper's.
    bias_correction : bool, default=False
        Subtract the Miller-Madow estimate of the small-sample bias,
        ``(B_xy - B_x - B_y + 1) / (2 n)`` with B the occupied bins.

    Returns
    -------
    mi : ndarray of shape (n_bins, n_latents, n_labels)
        Mutual information in nats, never negative, in the order of ``bins``.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import mutual_info_histogram
    >>> rng = np.random.RandomState(0)
    >>> z = rng.normal(size=(5000, 2))
    >>> y = z[:, :1] + 0.5 * rng.normal(size=(5000, 1))
    >>> mi = mutual_info_histogram(z, y, bins=[20])
    >>> mi.shape
    (1, 2, 1)
    >>> bool(mi[0, 0, 0] > 0.5 > mi[0, 1, 0])
    True
    """
    Z = _as_columns(Z, "Z")
    Y = _as_columns(Y, "Y")
    if len(Z) != len(Y):
        raise ValueError(f"Z and Y need the same number of rows; got {len(Z)} and {len(Y)}.")
    if not np.all(np.isfinite(Z)):
        raise ValueError("Z must be finite.")
    if np.any(np.isinf(Y)):
        raise ValueError("Y must not contain inf (NaN marks a missing label).")
    bins = [int(bins)] if np.isscalar(bins) else [int(b) for b in bins]
    if not bins or min(bins) < 2:
        raise ValueError(f"Each binning needs at least 2 bins; got {bins}.")
    n_latents, n_labels = Z.shape[1], Y.shape[1]
    out = np.zeros((len(bins), n_latents, n_labels))
    where = {b: i for i, b in enumerate(bins)}
    valid = ~np.isnan(Y)
    plan = _binning_plan(bins)
    complete_bins = {}  # latent bins over all rows, shared by complete labels
    for m in range(n_labels):
        rows = valid[:, m]
        n = int(rows.sum())
        y = Y[rows, m]
        if n < 2 or np.ptp(y) == 0:
            continue  # no information in a constant or missing label
        complete = n == len(Z)
        z_rows = Z.T if complete else Z[rows].T
        constant = np.ptp(z_rows, axis=1) == 0
        for fine, coarse in plan.items():
            if complete and fine in complete_bins:
                zb, exceptions = complete_bins[fine]
            else:
                zb = _Binned(z_rows, fine)
                exceptions = {c: zb.coarse_exceptions(c) for c in coarse}
                if complete:
                    complete_bins[fine] = zb, exceptions
            yb = _Binned(y[None, :], fine)
            counts = _joint_counts(zb, yb)
            for b in [fine, *coarse]:
                c = counts if b == fine else _coarse_counts(counts, zb, yb, exceptions[b], b)
                mi = _mi_from_counts(c, n, bias_correction)
                # A constant latent carries no information; round-off says ~1e-16.
                mi[constant] = 0.0
                out[where[b], :, m] = mi
    return out


def information_coefficient(mi: np.ndarray) -> np.ndarray:
    """Linfoot's informational coefficient of correlation, ``sqrt(1 - exp(-2 I))``.

    Maps mutual information in nats onto [0, 1), whatever the estimator; for
    a bivariate Gaussian it equals the absolute correlation ``|rho|``.

    Parameters
    ----------
    mi : array-like
        Mutual information in nats.

    Returns
    -------
    r : ndarray
        Coefficients of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import information_coefficient
    >>> round(float(information_coefficient(-0.5 * np.log(1 - 0.6**2))), 6)
    0.6
    """
    return np.sqrt(-np.expm1(-2.0 * np.maximum(np.asarray(mi, dtype=float), 0.0)))


def mutual_info_ksg(x, y, *, n_neighbors: int = 3) -> float:
    """Kraskov (KSG, algorithm 1) estimate of the mutual information of two variables.

    The same estimator as :func:`sklearn.feature_selection.mutual_info_regression`
    for one continuous feature: distances to the ``n_neighbors``-th neighbour
    in the joint space under the max-norm, then neighbour counts within that
    distance in each marginal. The joint search uses a k-d tree and the
    marginal counts binary searches in sorted copies, so memory is O(n) and
    time O(n log n). Both variables are scaled to unit variance first, as
    scikit-learn does.

    Parameters
    ----------
    x, y : array-like of shape (n_samples,)
        The two variables, finite.
    n_neighbors : int, default=3
        Neighbours in the joint space; larger values lower the variance and
        raise the bias.

    Returns
    -------
    mi : float
        Mutual information in nats, clipped at 0.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import mutual_info_ksg
    >>> rng = np.random.RandomState(0)
    >>> x = rng.normal(size=20000)
    >>> y = 0.8 * x + 0.6 * rng.normal(size=20000)  # correlation 0.8
    >>> round(mutual_info_ksg(x, y), 2), round(float(-0.5 * np.log(1 - 0.8**2)), 2)
    (0.51, 0.51)
    """
    x, y = _check_pair(x, y)
    n = x.size
    if not 1 <= n_neighbors < n:
        raise ValueError(f"n_neighbors must be in [1, n_samples); got {n_neighbors}.")
    x = x / (np.std(x, ddof=1) or 1.0)
    y = y / (np.std(y, ddof=1) or 1.0)
    tree = cKDTree(np.column_stack([x, y]))
    dist, _ = tree.query(np.column_stack([x, y]), k=n_neighbors + 1, p=np.inf)
    # Strictly inside the k-th neighbour's distance, as in Kraskov et al.
    radius = np.nextafter(dist[:, -1], 0)
    counts = [_count_within(np.sort(v), v, radius) for v in (x, y)]
    mi = digamma(n) + digamma(n_neighbors) - digamma(counts[0]).mean() - digamma(counts[1]).mean()
    return float(max(mi, 0.0))


def _count_within(s: np.ndarray, v: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Number of sorted values s with |s - v| <= radius, for each v (itself included).

    Binary search on ``v +- radius`` finds the range, but the rounded sums can
    admit or drop a value whose distance is within one ulp of the radius (the
    k-th neighbour sits exactly there), so the bounds are then moved until the
    distances themselves agree, as a k-d tree's comparison would.
    """
    n = s.size
    hi = np.searchsorted(s, v + radius, side="right")
    lo = np.searchsorted(s, v - radius, side="left")
    while True:
        drop_hi = (hi > 0) & (s[np.maximum(hi - 1, 0)] - v > radius)
        add_hi = (hi < n) & (s[np.minimum(hi, n - 1)] - v <= radius)
        drop_lo = (lo < n) & (v - s[np.minimum(lo, n - 1)] > radius)
        add_lo = (lo > 0) & (v - s[np.maximum(lo - 1, 0)] <= radius)
        if not (drop_hi.any() or add_hi.any() or drop_lo.any() or add_lo.any()):
            return hi - lo
        hi += add_hi.astype(int) - drop_hi
        lo += drop_lo.astype(int) - add_lo


def mutual_info_gmm(
    x,
    y,
    *,
    max_components: int = 8,
    cv: int = 3,
    n_mc: int = 20_000,
    random_state=None,
) -> float:
    """Mutual information of a Gaussian mixture fitted to the pair.

    Fits :class:`sklearn.mixture.GaussianMixture` models with 1 to
    ``max_components`` full-covariance components to the standardised pair,
    keeps the number with the best mean held-out log-likelihood over ``cv``
    folds (refitted on all data), then estimates
    ``E[log p(x, y) - log p(x) - log p(y)]`` under the fitted mixture from
    ``n_mc`` samples drawn from it; its marginals are 1-D mixtures, exact.
    The method of Piras et al. (2023, GMM-MI), written from its description.

    Parameters
    ----------
    x, y : array-like of shape (n_samples,)
        The two variables, finite.
    max_components : int, default=8
        Largest number of mixture components tried.
    cv : int, default=3
        Folds for choosing the number of components.
    n_mc : int, default=20000
        Monte Carlo samples for the integral.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds, the mixture fits and the Monte Carlo samples.

    Returns
    -------
    mi : float
        Mutual information in nats, clipped at 0.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import mutual_info_gmm
    >>> rng = np.random.RandomState(0)
    >>> x = rng.normal(size=3000)
    >>> y = 0.8 * x + 0.6 * rng.normal(size=3000)
    >>> round(mutual_info_gmm(x, y, max_components=3, random_state=0), 1)
    0.5
    """
    x, y = _check_pair(x, y)
    rng = check_random_state(random_state)
    data = np.column_stack([x, y])
    data = (data - data.mean(axis=0)) / np.where(data.std(axis=0) > 0, data.std(axis=0), 1.0)
    n_folds = min(cv, len(data))
    if n_folds < 2:
        raise ValueError("mutual_info_gmm needs at least 2 samples for cross-validation.")
    folds = list(KFold(n_folds, shuffle=True, random_state=rng).split(data))
    seed = rng.randint(np.iinfo(np.int32).max)
    best_k, best_ll = 1, -np.inf
    for k in range(1, max_components + 1):
        if k > min(len(train) for train, _ in folds):
            break
        ll = np.mean(
            [
                GaussianMixture(k, random_state=seed, reg_covar=1e-6)
                .fit(data[train])
                .score(data[test])
                for train, test in folds
            ]
        )
        if ll > best_ll:
            best_k, best_ll = k, ll
    gmm = GaussianMixture(best_k, random_state=seed, reg_covar=1e-6).fit(data)
    gmm.random_state = rng.randint(np.iinfo(np.int32).max)
    samples, _ = gmm.sample(n_mc)
    log_joint = gmm.score_samples(samples)
    log_w = np.log(gmm.weights_)
    marginals = []
    for d in range(2):
        mu = gmm.means_[:, d]
        var = gmm.covariances_[:, d, d]
        v = samples[:, d : d + 1]
        comp = -0.5 * (np.log(2 * np.pi * var) + (v - mu) ** 2 / var)
        marginals.append(logsumexp(comp + log_w, axis=1))
    return float(max(np.mean(log_joint - marginals[0] - marginals[1]), 0.0))


def bootstrap_mutual_info(
    estimator: Callable[[np.ndarray, np.ndarray], float],
    x,
    y,
    *,
    n_bootstrap: int = 100,
    method: str = "auto",
    random_state=None,
) -> tuple[float, float, np.ndarray]:
    """Resampling spread of any mutual-information estimate.

    Parameters
    ----------
    estimator : callable
        ``estimator(x, y) -> float``, e.g. :func:`mutual_info_ksg` or a
        ``functools.partial`` of :func:`mutual_info_gmm`.
    x, y : array-like of shape (n_samples,)
        The two variables.
    n_bootstrap : int, default=100
        Number of resamples.
    method : {"auto", "bootstrap", "subsample"}, default="auto"
        ``"bootstrap"`` resamples n points with replacement. Nearest-neighbour
        estimators such as KSG read the duplicated points of such a resample
        as infinitely close neighbours and return far too much information
        (about 0.85 nats for independent variables), so ``"subsample"`` draws
        half the points without replacement and scales the spread by
        ``sqrt(1/2)`` (the m-out-of-n rule for estimators whose spread falls
        as 1/sqrt(n)). ``"auto"`` subsamples for :func:`mutual_info_ksg`
        (also inside ``functools.partial``) and bootstraps otherwise.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    mean : float
        Mean of the resampled estimates (for ``"subsample"``, of half-size
        samples, so read the full-data estimate for the value itself).
    std : float
        Uncertainty of an estimate from all the data.
    estimates : ndarray of shape (n_bootstrap,)
        Every resampled estimate.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import bootstrap_mutual_info, mutual_info_histogram
    >>> rng = np.random.RandomState(0)
    >>> x = rng.normal(size=2000)
    >>> y = x + rng.normal(size=2000)
    >>> hist20 = lambda a, b: mutual_info_histogram(a, b, bins=20)[0, 0, 0]
    >>> mean, std, _ = bootstrap_mutual_info(hist20, x, y, n_bootstrap=20, random_state=0)
    >>> bool(0 < std < 0.05)
    True
    """
    x, y = _check_pair(x, y)
    if n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be at least 2; got {n_bootstrap}.")
    if method not in ("auto", "bootstrap", "subsample"):
        raise ValueError(f"method must be 'auto', 'bootstrap' or 'subsample'; got {method!r}.")
    if method == "auto":
        func = getattr(estimator, "func", estimator)
        method = "subsample" if func is mutual_info_ksg else "bootstrap"
    n = x.size
    resamples = resample_indices(n, n_bootstrap, method, random_state)
    estimates = np.array([estimator(x[idx], y[idx]) for idx in resamples])
    return float(estimates.mean()), float(resampled_std(estimates, method, n)), estimates


def resample_indices(n: int, n_resamples: int, method: str, random_state=None) -> list:
    """Row indices of each resample: n with replacement, or n // 2 without."""
    rng = check_random_state(random_state)
    if method == "bootstrap":
        return [rng.randint(0, n, n) for _ in range(n_resamples)]
    return [rng.choice(n, n // 2, replace=False) for _ in range(n_resamples)]


def resampled_std(estimates: np.ndarray, method: str, n: int) -> np.ndarray:
    """Uncertainty of an estimate from all n rows, from resampled ones (axis 0).

    Estimates from n // 2 rows spread sqrt(n / (n // 2)) times wider.
    """
    std = np.std(estimates, axis=0, ddof=1)
    return std * np.sqrt((n // 2) / n) if method == "subsample" else std
