"""InformativeDimensionSelector: keep the latents that carry information."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

from ._constants import ACTIVE_KL
from ._mutual_info import mutual_info_ksg
from ._nn import kl_per_latent

#: The paper's statistical threshold on the median absolute deviation.
PAPER_MAD_THRESHOLD = 0.02
# A latent is collapsed below the floor whatever the others do, and a group
# of values whose largest is under the ceiling can be the collapsed cluster.
# MAD is on the prior's scale (N(0, 1) has MAD 0.674); KL is in nats.
# Collapsed MADs reach 0.01 in the paper and 0.09 under the gentler KL
# weight of our demo (active ones: 0.03-0.67 and 0.8), so the ceiling must
# sit above both collapsed ranges.
_MAD_FLOOR, _MAD_CEILING = 1e-3, 0.2
_KL_CEILING = 0.05
# Collapsed latents cluster within this factor of each other.
_GAP_RATIO = 2.5


def median_absolute_deviation(Z: np.ndarray) -> np.ndarray:
    """Median absolute deviation of each column from its median."""
    return np.median(np.abs(Z - np.median(Z, axis=0)), axis=0)


def gap_threshold(values: np.ndarray, floor: float, ceiling: float) -> float:
    """Threshold between collapsed and active latents, found from the values alone.

    Collapsed latents sit at the prior, where their statistic clusters
    tightly (within a factor 2.5 in the paper: MAD 0.005-0.01) one to two
    orders of magnitude below the active latents'. Going up the sorted
    values at or above ``floor`` (those below are collapsed whatever the
    others do), the threshold is placed in the first gap wider than a factor
    2.5 whose lower side is below ``ceiling`` (it can still be the collapsed
    cluster), at the geometric mean of the two values. Without such a gap
    those values form one group, and the threshold is ``floor``: the group is
    active, and everything below the floor collapsed.

    The first gap, not the widest, is the right one: active latents can be
    spread widely (the paper's 0.03 to 0.67), and their gaps say nothing
    about collapse.
    """
    v = np.sort(np.asarray(values, dtype=float))
    # Values under the floor are collapsed anyway; left in, a dead latent
    # (exactly 0) would open a "gap" just below the collapsed cluster.
    v = v[v >= floor]
    for lower, upper in zip(v[:-1], v[1:]):
        if lower >= ceiling:
            break
        if upper >= _GAP_RATIO * lower:
            return float(np.sqrt(lower * upper))
    return float(floor)


class InformativeDimensionSelector(SelectorMixin, BaseEstimator):
    """Keep the latent dimensions that carry information.

    Two independent criteria, as in Sedaghat et al. (2021) and beyond:

    - **statistical**: the median absolute deviation (MAD) of each latent's
      code over the data. Latents unused by the model collapse to the prior
      mean and their MAD falls one to two orders of magnitude below the
      others'. The paper's threshold is 0.02.
    - **information-theoretic**: each latent's KL divergence (nats) from the
      prior averaged over the data, the information it carries. Needs the
      posterior variances: an autoencoder as ``estimator``, or the
      log-variances of the codes passed to :meth:`fit` as ``log_var``.

    ``"auto"`` thresholds split collapsed from active latents at the first
    wide gap above the cluster of collapsed values (see
    :func:`gap_threshold`), so they need no tuning.
    Both criteria are computed whenever possible; ``criteria_agree_`` and
    ``disagreement_`` report where they differ.

    Without ``estimator`` the selector works on latent codes, e.g. after a
    :class:`~skspecrep.SpectralAutoencoder` in a ``Pipeline``, or on codes
    already computed with :meth:`SpectralAutoencoder.encode
    <skspecrep.SpectralAutoencoder.encode>` (``fit(mean, log_var=log_var)``),
    which spares encoding a large archive again. With an ``estimator``,
    like :class:`~sklearn.feature_selection.SelectFromModel`, it works on
    spectra: it fits a clone of the autoencoder (or uses it as it is with
    ``prefit=True``), and ``transform`` returns the selected codes. The
    spectra then go to the autoencoder as they are, which validates them:
    a memory map, an HDF5 dataset or a zarr array is read a batch at a
    time and never loaded whole.

    After selection, the independence analysis measures the mutual
    information (KSG) between every pair of selected latents. Two latents are
    redundant when it exceeds ``redundancy`` nats; groups of latents
    connected by redundancy count once in ``n_independent_``.

    Parameters
    ----------
    estimator : SpectralAutoencoder, default=None
        Autoencoder whose codes are selected; None means ``X`` holds codes.
    criterion : {"mad", "kl"}, default="mad"
        Which criterion decides the selection; ``"kl"`` needs ``estimator``
        or ``log_var``.
    mad_threshold : "auto", "paper" or float, default="auto"
        MAD threshold: the gap rule, the paper's 0.02, or a value.
    kl_threshold : "auto" or float, default="auto"
        KL threshold in nats: the gap rule or a value.
    prefit : bool, default=False
        Use ``estimator`` as already fitted instead of fitting a clone.
    redundancy : float, default=0.5
        Pairwise MI (nats) above which two selected latents count as one. For
        Gaussian latents 0.5 nats is a correlation of about 0.795.
    n_neighbors : int, default=3
        Neighbours of the KSG estimator in the independence analysis.

    Attributes
    ----------
    estimator_ : SpectralAutoencoder
        The fitted autoencoder (only with ``estimator``).
    mad_ : ndarray of shape (n_latents,)
        Median absolute deviation of each latent's code.
    kl_ : ndarray of shape (n_latents,) or None
        Mean KL (nats) of each latent; None without posterior variances.
    mad_threshold_, kl_threshold_ : float
        Thresholds in use (``kl_threshold_`` is None without posterior
        variances).
    mad_support_, kl_support_ : ndarray of bool
        Latents informative by each criterion (``kl_support_`` may be None).
    criteria_agree_ : bool or None
        Whether both criteria select the same latents.
    disagreement_ : ndarray of int
        Latents selected by exactly one criterion.
    pairwise_mi_ : ndarray of shape (n_selected, n_selected)
        KSG mutual information between selected latents, 0 on the diagonal.
    groups_ : list of ndarray
        Latent indices of each group of mutually redundant selected latents.
    n_independent_ : int
        Number of independently informative latents (``len(groups_)``).
    n_features_in_ : int
        Number of input columns (latents, or pixels with ``estimator``).

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import InformativeDimensionSelector
    >>> rng = np.random.RandomState(0)
    >>> Z = np.column_stack([rng.normal(0, 1, 500), rng.normal(0, 0.005, 500),
    ...                      rng.normal(0, 0.5, 500), rng.normal(0, 0.004, 500)])
    >>> selector = InformativeDimensionSelector().fit(Z)
    >>> selector.get_support()
    array([ True, False,  True, False])
    >>> selector.n_independent_
    2
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "transform", "encode"]), None],
        "criterion": [StrOptions({"mad", "kl"})],
        "mad_threshold": [StrOptions({"auto", "paper"}), Interval(Real, 0, None, closed="left")],
        "kl_threshold": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "prefit": ["boolean"],
        "redundancy": [Interval(Real, 0, None, closed="neither")],
        "n_neighbors": [Interval(Real, 1, None, closed="left")],
    }

    def __init__(
        self,
        estimator=None,
        *,
        criterion: str = "mad",
        mad_threshold="auto",
        kl_threshold="auto",
        prefit: bool = False,
        redundancy: float = 0.5,
        n_neighbors: int = 3,
    ):
        self.estimator = estimator
        self.criterion = criterion
        self.mad_threshold = mad_threshold
        self.kl_threshold = kl_threshold
        self.prefit = prefit
        self.redundancy = redundancy
        self.n_neighbors = n_neighbors

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, *, log_var=None):
        """Measure each latent's information and select the informative ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Latent codes (posterior means), or spectra when ``estimator`` is
            set. Spectra may be on disk (a memory map, an HDF5 dataset, a
            zarr array): the autoencoder reads them a batch at a time.
        y : None
            Ignored.
        log_var : array-like of shape (n_samples, n_latents), default=None
            Posterior log-variances of the codes ``X``, as returned with them
            by :meth:`SpectralAutoencoder.encode
            <skspecrep.SpectralAutoencoder.encode>`: they give the KL
            criterion without an ``estimator``.

        Returns
        -------
        self : InformativeDimensionSelector
            The fitted selector.

        Examples
        --------
        Codes computed once, selected without encoding again:

        >>> import numpy as np
        >>> from skspecrep import InformativeDimensionSelector, SpectralAutoencoder
        >>> rng = np.random.RandomState(0)
        >>> X = 1 - rng.uniform(0.2, 0.8, (200, 1)) * np.exp(-np.linspace(-3, 3, 64) ** 2)
        >>> ae = SpectralAutoencoder(3, max_epochs=5, random_state=0).fit(X)
        >>> mean, log_var = ae.encode(X)
        >>> selector = InformativeDimensionSelector(criterion="kl").fit(mean, log_var=log_var)
        >>> selector.kl_.shape
        (3,)
        """
        if self.estimator is not None and log_var is not None:
            raise ValueError(
                "log_var goes with codes, not with an estimator, which computes its own; "
                "pass one or the other."
            )
        if self.criterion == "kl" and self.estimator is None and log_var is None:
            raise ValueError(
                "criterion='kl' needs the posterior variances of the codes: pass "
                "estimator=SpectralAutoencoder(...), or fit(codes, log_var=log_var)."
            )
        if self.estimator is None:
            Z = validate_data(self, X, dtype=[np.float64, np.float32])
            if log_var is not None:
                log_var = check_array(log_var, dtype=np.float64, input_name="log_var")
                if log_var.shape != Z.shape:
                    raise ValueError(
                        f"log_var has shape {log_var.shape} but the codes X have shape "
                        f"{Z.shape}; they must match."
                    )
        else:
            # Like SelectFromModel, the autoencoder validates the spectra
            # (on disk it reads them block by block); the selector only
            # records their shape and column names, reading nothing.
            validate_data(self, X, skip_check_array=True)
            if self.prefit:
                check_is_fitted(self.estimator)
                self.estimator_ = self.estimator
            else:
                self.estimator_ = clone(self.estimator).fit(X)
            Z, log_var = self.estimator_.encode(X)
        Z = np.asarray(Z, dtype=np.float64)

        self.mad_ = median_absolute_deviation(Z)
        if self.mad_threshold == "auto":
            self.mad_threshold_ = gap_threshold(self.mad_, _MAD_FLOOR, _MAD_CEILING)
        elif self.mad_threshold == "paper":
            self.mad_threshold_ = PAPER_MAD_THRESHOLD
        else:
            self.mad_threshold_ = float(self.mad_threshold)
        self.mad_support_ = self.mad_ > self.mad_threshold_

        if log_var is None:
            self.kl_ = self.kl_threshold_ = self.kl_support_ = self.criteria_agree_ = None
            self.disagreement_ = np.array([], dtype=int)
        else:
            kl = kl_per_latent(
                torch.from_numpy(Z), torch.as_tensor(np.asarray(log_var), dtype=torch.float64)
            )
            self.kl_ = kl.mean(dim=0).numpy()
            self.kl_threshold_ = (
                gap_threshold(self.kl_, ACTIVE_KL, _KL_CEILING)
                if self.kl_threshold == "auto"
                else float(self.kl_threshold)
            )
            self.kl_support_ = self.kl_ > self.kl_threshold_
            self.disagreement_ = np.flatnonzero(self.mad_support_ != self.kl_support_)
            self.criteria_agree_ = self.disagreement_.size == 0

        support = self.kl_support_ if self.criterion == "kl" else self.mad_support_
        self._independence(Z[:, support], np.flatnonzero(support))
        self._support = support
        return self

    def _independence(self, Z_selected, index):
        k = Z_selected.shape[1]
        mi = np.zeros((k, k))
        n_neighbors = int(self.n_neighbors)
        if len(Z_selected) > n_neighbors:
            for i in range(k):
                for j in range(i + 1, k):
                    mi[i, j] = mi[j, i] = mutual_info_ksg(
                        Z_selected[:, i], Z_selected[:, j], n_neighbors=n_neighbors
                    )
        self.pairwise_mi_ = mi
        n_groups, labels = connected_components(mi > self.redundancy, directed=False)
        self.groups_ = [index[labels == g] for g in range(n_groups)]
        self.n_independent_ = int(n_groups)

    def _get_support_mask(self):
        check_is_fitted(self)
        return self._support

    def transform(self, X):
        """Selected latent codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Latent codes, or spectra when ``estimator`` is set.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_selected)
            The informative latents.
        """
        check_is_fitted(self)
        if self.estimator is None:
            return super().transform(X)
        # The autoencoder validates the spectra (see fit), against the same
        # pixel count and names; it may also follow a global pandas output
        # setting itself.
        return np.asarray(self.estimator_.transform(X))[:, self._support]

    def get_feature_names_out(self, input_features=None):
        """Names of the selected latents.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input names; with ``estimator`` they are the spectra's pixels,
            checked but not used, since the outputs are latents.

        Returns
        -------
        names : ndarray of str
            Selected latent names.
        """
        check_is_fitted(self)
        if self.estimator is None:
            return super().get_feature_names_out(input_features)
        _check_feature_names_in(self, input_features)
        return self.estimator_.get_feature_names_out()[self._support]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
