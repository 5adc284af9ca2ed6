"""What skspecrep relies on in scikit-learn's private helpers.

The estimators use ``_fit_context``, ``_param_validation`` (``Interval``,
``StrOptions``, ``HasMethods``) and ``_check_feature_names_in``, as
scikit-learn's own estimators and most third-party ones do, under an open
``scikit-learn>=1.6`` requirement. Private helpers can change without
deprecation, so each behaviour the package depends on is pinned here: a new
scikit-learn that breaks one fails this file, not a user's fit.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import _check_feature_names_in, validate_data

pytestmark = pytest.mark.filterwarnings("ignore:from inside fit")


class _Probe(TransformerMixin, BaseEstimator):
    _parameter_constraints: dict = {
        "n": [Interval(Integral, 1, None, closed="left")],
        "rate": [Interval(Real, 0, 1, closed="neither"), None],
        "mode": [StrOptions({"a", "b"})],
        "model": [HasMethods(["fit", "transform"]), None],
    }

    def __init__(self, n=1, rate=None, mode="a", model=None):
        self.n = n
        self.rate = rate
        self.mode = mode
        self.model = model

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        validate_data(self, X)
        self.fitted_body_ran_ = True
        warnings.warn("from inside fit", UserWarning, stacklevel=3)
        return self

    def transform(self, X):
        return X


@pytest.mark.parametrize(
    "params, name",
    [
        (dict(n=0), "n"),
        (dict(n=1.5), "n"),
        (dict(rate=1.0), "rate"),
        (dict(mode="c"), "mode"),
        (dict(model=object()), "model"),
    ],
)
def test_fit_context_validates_parameters_before_fit_runs(params, name):
    probe = _Probe(**params)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of _Probe"):
        probe.fit(np.zeros((3, 2)))
    assert not hasattr(probe, "fitted_body_ran_")
    # The package documents ValueError/TypeError for bad parameters.
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


def test_fit_context_accepts_what_the_constraints_allow():
    _Probe(n=3, rate=0.5, mode="b", model=_Probe()).fit(np.zeros((3, 2)))
    _Probe(rate=None, model=None).fit(np.zeros((3, 2)))


def test_fit_context_adds_one_frame_so_stacklevel_3_names_the_caller():
    # SpectralAutoencoder.fit warns with stacklevel=3 to point past the
    # wrapper at the user's line.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _Probe().fit(np.zeros((3, 2)))
    assert caught[0].filename == __file__


def test_check_feature_names_in_gives_default_names_or_checks_given_ones():
    probe = _Probe().fit(np.zeros((3, 2)))
    assert list(_check_feature_names_in(probe, None)) == ["x0", "x1"]
    assert list(_check_feature_names_in(probe, ["a", "b"])) == ["a", "b"]
    with pytest.raises(ValueError):
        _check_feature_names_in(probe, ["a", "b", "c"])
    pd = pytest.importorskip("pandas")
    named = _Probe().fit(pd.DataFrame({"teff": [1.0, 2.0], "logg": [3.0, 4.0]}))
    assert list(_check_feature_names_in(named, None)) == ["teff", "logg"]
