"""LatentCorrelationScorer: how strongly each latent tracks each known label."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from astropy.stats import sigma_clip as astropy_sigma_clip
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._checks import check_labels
from ._constants import ACTIVE_KL
from ._mutual_info import (
    PAPER_BINS,
    bin_codes,
    information_coefficient,
    mutual_info_gmm,
    mutual_info_histogram,
    mutual_info_ksg,
    resample_indices,
    resampled_std,
)
from ._nn import kl_per_latent
from .exceptions import UnusableLabelWarning

# A latent tracks a label significantly when its MI exceeds ``min_mi`` by
# more than this many bootstrap standard deviations.
_N_SIGMA = 2.0


class LatentCorrelationScorer(SelectorMixin, BaseEstimator):
    """Measure how strongly each latent tracks each known label, with uncertainties.

    ``fit(Z, Y)`` estimates the mutual information (MI, nats) between every
    latent code and every label (radial velocity, Teff, ...), with bootstrap
    uncertainties, and repeats the analysis of Sedaghat et al. (2021): plug-in
    histogram MI at several binnings, normalised per binning by its maximum
    over latents, and the paper's criterion that a latent truly tracks a
    label when it is the top latent at every binning.

    Missing labels (NaN) are dropped label by label, so a star without a
    logg still counts for Teff. Optionally, each label is sigma-clipped, as
    in the paper (5 sigma), with the bounds learned in ``fit`` and applied
    again in ``score``.

    As a transformer, it keeps the latents that track at least one label
    significantly; ``score(Z, Y)`` rates how well a code captures the labels,
    so :class:`~sklearn.model_selection.GridSearchCV` can choose a bottleneck
    by physics.

    Parameters
    ----------
    method : {"ksg", "histogram", "gmm"}, default="ksg"
        Estimator of ``mi_``: the Kraskov nearest-neighbour estimator
        (:func:`~skspecrep.mutual_info_ksg`), the histogram estimate at
        ``n_bins`` with its Miller-Madow bias correction, or the Gaussian
        mixture estimator (:func:`~skspecrep.mutual_info_gmm`, the most
        accurate for weak links and by far the slowest).
    bins : sequence of int, default=(5, 10, 20, 40, 80, 160)
        Binnings of the paper's histogram analysis (``mi_binned_``).
    n_bins : int, default=40
        Bins per axis with ``method="histogram"``.
    sigma_clip : float or None, default=None
        Clip each label at this many standard deviations from its median
        (:func:`astropy.stats.sigma_clip`, iterated); the paper used 5.
        None keeps every finite value.
    n_bootstrap : int, default=20
        Resamples for the uncertainty ``mi_std_``; 0 skips it. KSG is
        resampled by half-size subsamples (see
        :func:`~skspecrep.bootstrap_mutual_info`), the others by the
        bootstrap.
    n_permutations : int, default=5
        Shuffles of the labels against the latents that estimate what each
        estimator reads when there is no relation at all (``mi_null_``),
        which is subtracted: independent variables then read about 0 at any
        sample size and with any ``method``. Every estimator reads more than
        0 without a relation: KSG a few hundredths of a nat on a few hundred
        spectra, the 40-bin histogram 0.05 nats at 4,000 and nearly 1 nat at
        300. Each shuffle costs one more estimate of every pair (with
        ``method="gmm"``, minutes on thousands of spectra); 0 reports the
        raw estimates.
    rank_collapsed : bool, default=False
        Whether latents that carry no information are scored too. A latent
        is collapsed when the mean KL of its posterior from the prior is at
        most 0.01 nats, which :meth:`fit` knows when given the codes'
        ``log_var``: such a latent's mean can follow a label at a tiny
        amplitude, far below its posterior noise, that the decoder never
        receives, and mutual information does not see amplitude (on real
        archives, coefficients of 0.7-0.9 with radial velocity). By default
        its MI is not estimated but set to 0, so it is never a best latent
        nor significant; True scores it like the others.
    min_mi : float, default=0.05
        MI (nats) a latent must exceed, by more than twice its bootstrap
        spread, to track a label significantly. 0.05 nats is the information
        of a Gaussian pair with correlation 0.31.
    n_neighbors : int, default=3
        Neighbours of the KSG estimator.
    n_jobs : int, default=None
        Resamples estimated in parallel threads; None means 1, -1 all cores.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling and the mixture fits.

    Attributes
    ----------
    mi_ : ndarray of shape (n_latents, n_labels)
        Mutual information in nats by ``method``, less the estimate of no
        relation (``mi_null_``), and at least 0.
    mi_null_ : ndarray of shape (n_latents, n_labels)
        What ``method`` reads on these data with the labels shuffled, mean
        over ``n_permutations`` shuffles: its bias here. Zeros when
        ``n_permutations=0``.
    mi_std_ : ndarray of shape (n_latents, n_labels) or None
        Bootstrap standard deviation of ``mi_``; None if ``n_bootstrap=0``.
    collapsed_ : ndarray of bool, shape (n_latents,)
        Latents collapsed to the prior (KL at most 0.01 nats); all False
        without ``log_var``. Unless ``rank_collapsed``, their MI is 0.
    information_coefficient_ : ndarray of shape (n_latents, n_labels)
        ``mi_`` on an absolute scale comparable across labels,
        ``sqrt(1 - exp(-2 mi_))`` (see :func:`information_coefficient`).
    significant_ : ndarray of bool, shape (n_latents, n_labels)
        Whether ``mi_ - 2 mi_std_ > min_mi``.
    best_latent_ : ndarray of int, shape (n_labels,)
        Latent with the largest ``mi_`` for each label.
    mi_binned_ : ndarray of shape (n_binnings, n_latents, n_labels)
        The paper's plug-in histogram MI (nats) at each binning of ``bins``.
    mi_max_normalized_ : ndarray of shape (n_binnings, n_latents, n_labels)
        ``mi_binned_`` divided by its maximum over latents, per binning and
        label: the paper's normalisation.
    mi_entropy_normalized_ : ndarray of shape (n_binnings, n_latents, n_labels)
        ``mi_binned_`` divided by the entropy of the label binned the same
        way: the fraction of the label's information a latent holds,
        comparable across labels.
    mutual_info_gap_ : ndarray of shape (n_binnings, n_labels)
        The mutual information gap (MIG, Chen et al. 2018) of each label at
        each binning: the difference between the largest and second-largest
        ``mi_entropy_normalized_`` over latents. Near 1 when one latent alone
        holds the label; near 0 when no latent does, or when two share it.
    top_latent_binned_ : ndarray of int, shape (n_binnings, n_labels)
        Top latent of ``mi_binned_`` at each binning.
    paper_criterion_ : ndarray of bool, shape (n_labels,)
        Whether one latent is on top at every binning (and carries any
        information at all).
    label_names_ : ndarray of str, shape (n_labels,)
        Label names: the DataFrame's columns, or ``label0``, ``label1``...
    n_samples_per_label_ : ndarray of int, shape (n_labels,)
        Rows used for each label after dropping NaN and clipping.
    n_missing_, n_clipped_ : ndarray of int, shape (n_labels,)
        Rows dropped for each label as NaN, and by sigma clipping.
    clip_bounds_ : ndarray of shape (n_labels, 2) or None
        Lower and upper clipping bounds; None without ``sigma_clip``.
    n_features_in_ : int
        Number of latents seen in ``fit``.
    feature_names_in_ : ndarray of str
        Latent names, when ``Z`` has string column names.

    Notes
    -----
    Analyse the informative latents, e.g. after an
    :class:`~skspecrep.InformativeDimensionSelector` in a ``Pipeline``. The
    mean of a collapsed latent can still follow a label at a tiny amplitude,
    far below its posterior noise (sigma close to 1), and mutual information
    does not see amplitude: in our demo, latents carrying 0.01 nats each had
    means sharing 0.5-0.9 nats with radial velocity, information the
    decoder never receives.

    The paper's criterion needs enough spectra for its finest binning: the
    plug-in bias of about ``(B - 1)**2 / (2 N)`` nats reaches the size of
    real links when B**2 approaches N, and the top latent at 80 or 160 bins
    is then decided by noise.

    See Also
    --------
    InformativeDimensionSelector : Which latents carry information at all.
    mutual_info_histogram, mutual_info_ksg, mutual_info_gmm : The estimators.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skspecrep import LatentCorrelationScorer
    >>> rng = np.random.RandomState(0)
    >>> teff = rng.uniform(4000, 7000, 2000)
    >>> rv = rng.normal(0, 20, 2000)
    >>> noise = rng.normal(size=(2000, 2))
    >>> Z = np.column_stack([noise[:, 0], np.log(teff), rv / 20 + 0.1 * noise[:, 1]])
    >>> labels = pd.DataFrame({"teff": teff, "rv": rv})
    >>> scorer = LatentCorrelationScorer(n_bootstrap=5, random_state=0).fit(Z, labels)
    >>> scorer.best_latent_
    array([1, 2])
    >>> scorer.paper_criterion_
    array([ True,  True])
    >>> scorer.get_support()
    array([False,  True,  True])
    >>> scorer.report()[["label", "best_latent", "paper_criterion"]]
      label best_latent  paper_criterion
    0  teff          x1             True
    1    rv          x2             True
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"ksg", "histogram", "gmm"})],
        "bins": ["array-like"],
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "sigma_clip": [Interval(Real, 0, None, closed="neither"), None],
        "n_bootstrap": [Interval(Integral, 0, None, closed="left")],
        "n_permutations": [Interval(Integral, 0, None, closed="left")],
        "rank_collapsed": ["boolean"],
        "min_mi": [Interval(Real, 0, None, closed="left")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        method: str = "ksg",
        *,
        bins: Sequence[int] = PAPER_BINS,
        n_bins: int = 40,
        sigma_clip: float | None = None,
        n_bootstrap: int = 20,
        n_permutations: int = 5,
        rank_collapsed: bool = False,
        min_mi: float = 0.05,
        n_neighbors: int = 3,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.method = method
        self.bins = bins
        self.n_bins = n_bins
        self.sigma_clip = sigma_clip
        self.n_bootstrap = n_bootstrap
        self.n_permutations = n_permutations
        self.rank_collapsed = rank_collapsed
        self.min_mi = min_mi
        self.n_neighbors = n_neighbors
        self.n_jobs = n_jobs
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, log_var=None):
        """Estimate the mutual information of every latent with every label.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_latents)
            Latent codes.
        y : array-like or DataFrame of shape (n_samples, n_labels) or (n_samples,)
            Labels; NaN marks a missing value, dropped for that label only.
        log_var : array-like of shape (n_samples, n_latents), default=None
            Posterior log-variances of the codes (``X`` then being the means,
            as :meth:`SpectralAutoencoder.encode
            <skspecrep.SpectralAutoencoder.encode>` returns them): collapsed
            latents are then known and, unless ``rank_collapsed``, not scored.

        Returns
        -------
        self : LatentCorrelationScorer
            The fitted scorer.
        """
        Y, names = check_labels(y, type(self).__name__)
        Z = validate_data(self, X, dtype=[np.float64, np.float32])
        check_consistent_length(Z, Y)
        if self.n_bootstrap == 1:
            raise ValueError("n_bootstrap must be 0 (no uncertainties) or at least 2; got 1.")
        bins = np.asarray(self.bins).ravel()
        if bins.size == 0 or not np.issubdtype(bins.dtype, np.integer) or bins.min() < 2:
            raise ValueError(f"bins must be integers of at least 2; got {self.bins!r}.")
        Z = np.asarray(Z, dtype=np.float64)
        self.collapsed_ = self._collapsed(Z, log_var)
        if not self.rank_collapsed and self.collapsed_.any():
            # A constant column carries no information: every estimator reads 0.
            Z = Z.copy()
            Z[:, self.collapsed_] = 0.0
        self.label_names_ = names
        self.n_missing_ = np.isnan(Y).sum(axis=0)
        if self.sigma_clip is None:
            self.clip_bounds_ = None
        else:
            self.clip_bounds_ = np.array([self._clip_bounds(Y[:, m]) for m in range(Y.shape[1])])
        Y = self._clip(Y)
        self.n_clipped_ = np.isnan(Y).sum(axis=0) - self.n_missing_
        self.n_samples_per_label_ = (~np.isnan(Y)).sum(axis=0)
        for name, n, y_m in zip(names, self.n_samples_per_label_, Y.T):
            if n <= self.n_neighbors or np.nanmax(y_m) == np.nanmin(y_m):
                warnings.warn(
                    f"Label {name!r} has {n} usable values"
                    + (" and is constant" if n > self.n_neighbors else "")
                    + "; its mutual information with every latent is set to 0.",
                    UnusableLabelWarning,
                    stacklevel=2,
                )

        rng = check_random_state(self.random_state)
        raw = self._mi_matrix(Z, Y, rng.randint(np.iinfo(np.int32).max))
        if self.n_bootstrap:
            resampling = "subsample" if self.method == "ksg" else "bootstrap"
            seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_bootstrap)
            draws = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(self._mi_matrix)(Z[idx], Y[idx], seed)
                for idx, seed in zip(
                    resample_indices(len(Z), self.n_bootstrap, resampling, rng), seeds
                )
            )
            self.mi_std_ = resampled_std(np.array(draws), resampling, len(Z))
        else:
            self.mi_std_ = None
        # Drawn after the bootstrap's seeds, so that n_permutations=0 gives
        # exactly the estimates of a scorer without the null.
        self.mi_null_ = np.zeros_like(raw) + self._null(Z, Y, rng)
        self.mi_ = np.maximum(raw - self.mi_null_, 0.0)
        lower = self.mi_ if self.mi_std_ is None else self.mi_ - _N_SIGMA * self.mi_std_
        self.information_coefficient_ = information_coefficient(self.mi_)
        self.significant_ = lower > self.min_mi
        self.best_latent_ = np.argmax(self.mi_, axis=0)

        self.mi_binned_ = mutual_info_histogram(Z, Y, bins=bins.tolist())
        peak = self.mi_binned_.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mi_max_normalized_ = np.where(peak > 0, self.mi_binned_ / peak, 0.0)
            entropy = np.array([[self._binned_entropy(y_m, b) for y_m in Y.T] for b in bins])
            self.mi_entropy_normalized_ = np.where(
                entropy[:, None, :] > 0, self.mi_binned_ / entropy[:, None, :], 0.0
            )
        if Z.shape[1] > 1:
            top_two = -np.sort(-self.mi_entropy_normalized_, axis=1)[:, :2, :]
            self.mutual_info_gap_ = top_two[:, 0, :] - top_two[:, 1, :]
        else:
            self.mutual_info_gap_ = self.mi_entropy_normalized_[:, 0, :].copy()
        self.top_latent_binned_ = np.argmax(self.mi_binned_, axis=1)
        self.paper_criterion_ = np.all(
            self.top_latent_binned_ == self.top_latent_binned_[:1], axis=0
        ) & np.all(peak[:, 0, :] > 0, axis=0)
        return self

    @staticmethod
    def _collapsed(Z: np.ndarray, log_var) -> np.ndarray:
        if log_var is None:
            return np.zeros(Z.shape[1], dtype=bool)
        log_var = check_array(log_var, dtype=np.float64, input_name="log_var")
        if log_var.shape != Z.shape:
            raise ValueError(
                f"log_var has shape {log_var.shape} but the codes X have shape {Z.shape}: "
                "give one log-variance per code."
            )
        kl = kl_per_latent(torch.from_numpy(Z), torch.from_numpy(log_var)).mean(dim=0)
        return kl.numpy() <= ACTIVE_KL

    def _clip_bounds(self, y: np.ndarray) -> tuple[float, float]:
        finite = y[~np.isnan(y)]
        if finite.size == 0:
            return -np.inf, np.inf
        _, lower, upper = astropy_sigma_clip(
            finite, sigma=self.sigma_clip, maxiters=None, return_bounds=True
        )
        return float(lower), float(upper)

    def _clip(self, Y: np.ndarray) -> np.ndarray:
        """Labels outside the fitted clipping bounds set to NaN (missing)."""
        if self.clip_bounds_ is None:
            return Y
        lower, upper = self.clip_bounds_.T
        with np.errstate(invalid="ignore"):
            outside = (Y < lower) | (Y > upper)
        return np.where(outside, np.nan, Y)

    @staticmethod
    def _binned_entropy(y: np.ndarray, n_bins: int) -> float:
        y = y[~np.isnan(y)]
        if y.size < 2 or np.ptp(y) == 0:
            return 0.0
        p = np.bincount(bin_codes(y[:, None], n_bins)[:, 0], minlength=n_bins) / y.size
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    def _mi_matrix(self, Z: np.ndarray, Y: np.ndarray, seed: int) -> np.ndarray:
        """MI (nats) of every latent with every label, NaN rows dropped per label."""
        if self.method == "histogram":
            return mutual_info_histogram(Z, Y, bins=[self.n_bins], bias_correction=True)[0]
        rng = np.random.RandomState(seed)
        mi = np.zeros((Z.shape[1], Y.shape[1]))
        for m in range(Y.shape[1]):
            rows = ~np.isnan(Y[:, m])
            y = Y[rows, m]
            if y.size <= self.n_neighbors or np.ptp(y) == 0:
                continue
            for j in range(Z.shape[1]):
                z = Z[rows, j]
                if np.ptp(z) == 0:
                    continue
                if self.method == "ksg":
                    mi[j, m] = mutual_info_ksg(z, y, n_neighbors=self.n_neighbors)
                else:
                    mi[j, m] = mutual_info_gmm(z, y, random_state=rng)
        return mi

    def _paired_mi(self, Z: np.ndarray, Y: np.ndarray, seed: int) -> np.ndarray:
        """MI (nats) of column m of ``Z`` with column m of ``Y``, for each m."""
        return np.array(
            [self._mi_matrix(Z[:, [m]], Y[:, [m]], seed)[0, 0] for m in range(Y.shape[1])]
        )

    def _null(self, Z: np.ndarray, Y: np.ndarray, rng, estimate=None):
        """Mean of ``estimate`` (every pair: ``_mi_matrix``) over shuffles of the label rows.

        0.0 without shuffles (``n_permutations=0``), which subtracts nothing.
        """
        estimate = self._mi_matrix if estimate is None else estimate
        if not self.n_permutations:
            return 0.0
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_permutations)
        orders = [rng.permutation(len(Y)) for _ in range(self.n_permutations)]
        draws = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(estimate)(Z, Y[order], seed) for order, seed in zip(orders, seeds)
        )
        return np.mean(draws, axis=0)

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.significant_.any(axis=1)

    def score(self, X, y) -> float:
        """How well the latents capture the labels, from 0 (not at all) towards 1.

        For each label, the mutual information between it and its best latent
        (``best_latent_``, chosen in ``fit``) is measured on these data with
        ``method``, less what shuffled labels read (``n_permutations``), and
        put on an absolute scale by
        :func:`information_coefficient`; the score is the mean over labels.
        Choosing the latent in ``fit`` keeps held-out scores honest, and
        rating single latents rewards codes that give each factor its own
        latent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_latents)
            Latent codes.
        y : array-like or DataFrame of shape (n_samples, n_labels)
            Labels, with NaN for missing values; clipped with ``clip_bounds_``.

        Returns
        -------
        score : float
            Mean informational coefficient of correlation, in [0, 1).
        """
        check_is_fitted(self)
        Y, _ = check_labels(y, type(self).__name__)
        Z = np.asarray(validate_data(self, X, reset=False), dtype=np.float64)
        check_consistent_length(Z, Y)
        if Y.shape[1] != len(self.label_names_):
            raise ValueError(
                f"y has {Y.shape[1]} labels, but the scorer was fitted with "
                f"{len(self.label_names_)}."
            )
        Y = self._clip(Y)
        rng = check_random_state(self.random_state)
        seed = rng.randint(np.iinfo(np.int32).max)
        # Each label against its best latent only: column m of Z_best with label m.
        Z_best = Z[:, self.best_latent_]
        mi = self._paired_mi(Z_best, Y, seed)
        null = self._null(Z_best, Y, rng, self._paired_mi)
        return float(np.mean(information_coefficient(np.maximum(mi - null, 0.0))))

    def report(self, per: str = "label") -> pd.DataFrame:
        """The results as a tidy table.

        Parameters
        ----------
        per : {"label", "pair"}, default="label"
            One row per label (its best latent and the paper's criterion), or
            one per latent and label pair (every estimate, and the paper's
            normalised MI at each binning in columns ``paper_<B>``).

        Returns
        -------
        table : pandas.DataFrame
            With label and latent names.

        Examples
        --------
        >>> import numpy as np
        >>> from skspecrep import LatentCorrelationScorer
        >>> rng = np.random.RandomState(0)
        >>> y = rng.normal(size=500)
        >>> Z = np.column_stack([y + 0.5 * rng.normal(size=500), rng.normal(size=500)])
        >>> table = LatentCorrelationScorer(random_state=0).fit(Z, y).report("pair")
        >>> table[["label", "latent", "significant"]]
            label latent  significant
        0  label0     x0         True
        1  label0     x1        False
        """
        check_is_fitted(self)
        if per not in ("label", "pair"):
            raise ValueError(f"per must be 'label' or 'pair'; got {per!r}.")
        latents = _check_feature_names_in(self, None)
        std = self.mi_std_ if self.mi_std_ is not None else np.full_like(self.mi_, np.nan)
        if per == "label":
            labels = np.arange(len(self.label_names_))
            best = self.best_latent_
            return pd.DataFrame(
                {
                    "label": self.label_names_,
                    "n_samples": self.n_samples_per_label_,
                    "n_missing": self.n_missing_,
                    "n_clipped": self.n_clipped_,
                    "best_latent": latents[best],
                    "mi": self.mi_[best, labels],
                    "mi_std": std[best, labels],
                    "information_coefficient": self.information_coefficient_[best, labels],
                    "significant": self.significant_[best, labels],
                    "paper_criterion": self.paper_criterion_,
                    "n_significant_latents": self.significant_.sum(axis=0),
                }
            )
        n_latents, n_labels = self.mi_.shape
        j, m = np.meshgrid(np.arange(n_latents), np.arange(n_labels))
        j, m = j.ravel(), m.ravel()
        table = pd.DataFrame(
            {
                "label": self.label_names_[m],
                "latent": latents[j],
                "mi": self.mi_[j, m],
                "mi_std": std[j, m],
                "information_coefficient": self.information_coefficient_[j, m],
                "significant": self.significant_[j, m],
            }
        )
        for b, values in zip(np.ravel(self.bins), self.mi_max_normalized_):
            table[f"paper_{int(b)}"] = values[j, m]
        return table

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.allow_nan = False
        return tags
