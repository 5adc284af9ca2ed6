"""SpectrumOutlierDetector: flag unusual spectra by an autoencoder's typicality."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, OutlierMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._autoencoder import SpectralAutoencoder
from ._typicality import AUTO_THRESHOLD


class SpectrumOutlierDetector(OutlierMixin, MetaEstimatorMixin, BaseEstimator):
    """Flag the unusual spectra of an archive with an autoencoder's typicality score.

    An outlier detector in scikit-learn's sense (``fit``, ``predict``
    returning +1 for inliers and -1 for outliers, ``decision_function``,
    ``score_samples``) around an autoencoder whose
    :meth:`~skspecrep.SpectralAutoencoder.score_samples` says how typical
    each spectrum is: it fits a clone of the autoencoder (or uses a fitted
    one with ``prefit=True``) and sets the threshold. Like
    :class:`~sklearn.feature_selection.SelectFromModel`, it leaves the
    spectra to the autoencoder, which validates them and reads on-disk
    arrays a chunk at a time.

    Parameters
    ----------
    estimator : SpectralAutoencoder, default=None
        The autoencoder; None means ``SpectralAutoencoder()``.
    contamination : "auto" or float in (0, 0.5], default="auto"
        The share of spectra expected to be outliers: the threshold is
        that quantile of the training spectra's scores. ``"auto"`` flags
        spectra more than 5 typical spreads beyond the reference spectra
        of the autoencoder's ``fit`` in some part of the score, whatever
        their share: 0-2.3 % of clean held-out spectra on
        ``benchmarks/outliers.py``.
    prefit : bool, default=False
        Use ``estimator`` as it is (already fitted) instead of fitting a
        clone of it.

    Attributes
    ----------
    estimator_ : SpectralAutoencoder
        The fitted autoencoder.
    offset_ : float
        The threshold: ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of pixels seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_pixels,)
        Pixel names seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    skspecrep.inspection.unusual_spectra : The ranking, with what makes each
        spectrum unusual and where.
    sklearn.ensemble.IsolationForest : An outlier detector on any features.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder, SpectrumOutlierDetector
    >>> rng = np.random.RandomState(0)
    >>> pixels = np.linspace(-1, 1, 64)
    >>> depth = rng.uniform(0.2, 0.8, size=(300, 1))
    >>> X = 1 - depth * np.exp(-0.5 * (pixels / 0.1) ** 2)
    >>> X += rng.normal(0, 0.01, X.shape)
    >>> X[[5, 50], 20] += 1.0  # two cosmic rays
    >>> detector = SpectrumOutlierDetector(
    ...     SpectralAutoencoder(n_components=2, max_epochs=30, random_state=0),
    ...     contamination=0.01,
    ... ).fit(X)
    >>> [int(i) for i in np.flatnonzero(detector.predict(X) == -1)][:2]
    [5, 50]
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"]), None],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "prefit": ["boolean"],
    }

    def __init__(self, estimator=None, *, contamination="auto", prefit: bool = False):
        self.estimator = estimator
        self.contamination = contamination
        self.prefit = prefit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Fit the autoencoder (unless ``prefit``) and set the threshold.

        Parameters
        ----------
        X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
            Training spectra.
        y : None
            Ignored by outlier detection; passed on to the autoencoder,
            which ignores it too unless it was given a ``label_weight``.
        **fit_params : dict
            Passed to the autoencoder's ``fit`` (e.g. ``ivar``); ``ivar``
            also goes to its ``score_samples``.

        Returns
        -------
        self : SpectrumOutlierDetector
            The fitted detector.
        """
        # The autoencoder validates the spectra (on disk it reads them block
        # by block); the detector only records their shape and names.
        validate_data(self, X, skip_check_array=True)
        if self.prefit:
            check_is_fitted(self.estimator)
            self.estimator_ = self.estimator
        else:
            estimator = SpectralAutoencoder() if self.estimator is None else self.estimator
            self.estimator_ = clone(estimator).fit(X, y, **fit_params)
        if self.contamination == "auto":
            self.offset_ = -AUTO_THRESHOLD
        else:
            score_params = {"ivar": fit_params["ivar"]} if "ivar" in fit_params else {}
            scores = self.estimator_.score_samples(X, **score_params)
            self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))
        return self

    def score_samples(self, X, **params):
        """The autoencoder's typicality of each spectrum; lower is more unusual.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.
        **params : dict
            Passed to the autoencoder's ``score_samples`` (e.g. ``ivar``).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.score_samples(X, **params)

    def decision_function(self, X, **params):
        """Score minus the threshold: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.
        **params : dict
            Passed to the autoencoder's ``score_samples`` (e.g. ``ivar``).

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X, **params) - self.offset_

    def predict(self, X, **params):
        """+1 for a typical spectrum, -1 for an outlier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.
        **params : dict
            Passed to the autoencoder's ``score_samples`` (e.g. ``ivar``).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X, **params) < 0, -1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
