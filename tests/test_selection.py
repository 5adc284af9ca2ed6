"""InformativeDimensionSelector: thresholds, both criteria, independence analysis."""

import numpy as np
import pytest
from conftest import line_spectra
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skspecrep import InformativeDimensionSelector, SpectralAutoencoder
from skspecrep._selection import gap_threshold, median_absolute_deviation


def test_gap_threshold_splits_two_groups_and_handles_one():
    values = np.array([0.64, 0.11, 0.03, 0.56, 0.67, 0.43, 0.005, 0.008, 0.01, 0.006])
    # The paper's MADs: six active (0.03 to 0.67), the rest collapsed at 0.005-0.01.
    t = gap_threshold(values, floor=1e-3, ceiling=0.05)
    assert 0.01 < t < 0.03
    assert (values > t).sum() == 6  # the paper's count; the widest gap would give 5
    assert gap_threshold(np.array([0.1, 0.5, 2.0]), 1e-3, 0.05) == 1e-3  # all active
    assert gap_threshold(np.array([1e-5, 2e-5]), 1e-3, 0.05) == 1e-3  # all collapsed


def test_gap_threshold_is_not_fooled_by_a_dead_latent():
    """A latent at exactly 0 is below the collapsed cluster, not a gap above it."""
    values = np.array([0.0, 0.005, 0.008, 0.006, 0.4, 0.7])
    t = gap_threshold(values, floor=1e-3, ceiling=0.05)
    np.testing.assert_array_equal(values > t, [False, False, False, False, True, True])
    assert t == pytest.approx(np.sqrt(0.008 * 0.4))
    # Below-floor values alone: the rest form the active group.
    assert gap_threshold(np.array([0.0, 2e-4, 0.3, 0.5]), 1e-3, 0.05) == 1e-3


@settings(max_examples=60, deadline=None)
@given(
    active=st.lists(st.floats(0.05, 5.0), min_size=1, max_size=10),
    collapsed=st.lists(st.floats(0.002, 0.0049), min_size=1, max_size=20),
)
def test_gap_threshold_always_separates_a_collapsed_cluster(active, collapsed):
    """Collapsed values within a factor 2.5, active ones 10x above, spread at will."""
    values = np.array(active + collapsed)
    t = gap_threshold(values, floor=1e-3, ceiling=0.05)
    assert np.all(np.array(active) > t)
    assert np.all(np.array(collapsed) < t)


def known_factor_codes(n=2000, seed=0):
    """z0 and z1 track factor A (redundant pair), z2 tracks B, z3 and z4 are collapsed."""
    rng = np.random.RandomState(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return np.column_stack(
        [a, a + 0.05 * rng.normal(size=n), 0.7 * b, 0.005 * rng.normal(size=n),
         0.008 * rng.normal(size=n)]
    )  # fmt: skip


def test_selects_active_latents_and_counts_redundant_ones_once():
    Z = known_factor_codes()
    sel = InformativeDimensionSelector().fit(Z)
    np.testing.assert_array_equal(sel.get_support(), [True, True, True, False, False])
    np.testing.assert_allclose(sel.mad_, median_absolute_deviation(Z))
    assert sel.pairwise_mi_.shape == (3, 3)
    assert sel.pairwise_mi_[0, 1] > 2.0  # near-copies
    assert sel.pairwise_mi_[0, 2] < 0.05  # independent factors
    assert sel.n_independent_ == 2
    assert [g.tolist() for g in sel.groups_] == [[0, 1], [2]]
    assert sel.transform(Z).shape == (2000, 3)
    assert sel.kl_ is None and sel.criteria_agree_ is None


def test_paper_and_numeric_mad_thresholds():
    Z = known_factor_codes()
    assert InformativeDimensionSelector(mad_threshold="paper").fit(Z).mad_threshold_ == 0.02
    sel = InformativeDimensionSelector(mad_threshold=0.005).fit(Z)  # z4's MAD is 0.0054
    np.testing.assert_array_equal(sel.get_support(), [True, True, True, False, True])


class _DesignedEncoder(TransformerMixin, BaseEstimator):
    """Codes and posterior log-variances chosen by the test."""

    def __init__(self, mean=None, log_var=None):
        self.mean = mean
        self.log_var = log_var

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def encode(self, X):
        return self.mean, self.log_var

    def transform(self, X):
        return self.mean

    def get_feature_names_out(self, input_features=None):
        return np.array([f"z{i}" for i in range(self.mean.shape[1])], dtype=object)


def test_reports_where_mad_and_kl_disagree():
    rng = np.random.RandomState(0)
    n = 1000
    mean = np.column_stack(
        [
            rng.normal(0, 1.0, n),  # informative by both
            rng.normal(0, 0.1, n),  # spread codes, posteriors as wide as the prior: 0.005 nats
            rng.normal(0, 0.003, n),  # collapsed by both
        ]
    )
    log_var = np.column_stack([np.full(n, -4.0), np.zeros(n), np.zeros(n)])
    enc = _DesignedEncoder(mean, log_var)
    sel = InformativeDimensionSelector(enc, criterion="kl").fit(np.zeros((n, 4)))
    np.testing.assert_array_equal(sel.mad_support_, [True, True, False])
    np.testing.assert_array_equal(sel.kl_support_, [True, False, False])
    assert sel.criteria_agree_ is False
    np.testing.assert_array_equal(sel.disagreement_, [1])
    np.testing.assert_array_equal(sel.get_support(), sel.kl_support_)
    np.testing.assert_array_equal(sel.get_feature_names_out(), ["z0"])


@pytest.fixture(scope="module")
def two_factor_autoencoder():
    X, _, _ = line_spectra(400, 128, seed=0)
    ae = SpectralAutoencoder(4, beta=5e-3, max_epochs=100, lr=3e-3, random_state=0)
    return X, ae.fit(X)


@pytest.mark.slow
def test_both_criteria_agree_on_a_trained_autoencoder(two_factor_autoencoder):
    X, ae = two_factor_autoencoder
    sel = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(X)
    assert sel.estimator_ is ae  # prefit: used as it is
    assert sel.kl_support_.sum() == 2  # the two generative factors
    assert sel.criteria_agree_
    np.testing.assert_allclose(sel.kl_, ae.component_kl_, rtol=1e-4, atol=1e-6)
    assert sel.transform(X).shape == (len(X), 2)
    assert sel.n_independent_ == 2


def test_kl_criterion_works_inside_pipeline_and_grid_search():
    X, _, _ = line_spectra(200, 64, seed=0)
    ae = SpectralAutoencoder(max_epochs=3, random_state=0)
    pipe = Pipeline([("select", InformativeDimensionSelector(ae, criterion="kl"))])

    def elbo(model, X, y=None):
        return model[-1].estimator_.score(X)

    search = GridSearchCV(pipe, {"select__estimator__n_components": [1, 3]}, cv=2, scoring=elbo)
    search.fit(X)
    assert search.best_estimator_[-1].estimator_.n_components in (1, 3)
    Z = search.best_estimator_.transform(X)
    assert Z.shape[0] == len(X)


def test_bad_use_is_named():
    Z = known_factor_codes(200)
    with pytest.raises(ValueError, match="criterion='kl' needs"):
        InformativeDimensionSelector(criterion="kl").fit(Z)
    with pytest.raises(NotFittedError):
        InformativeDimensionSelector(SpectralAutoencoder(), prefit=True).fit(Z)
    with pytest.raises(ValueError, match="NaN"):
        InformativeDimensionSelector().fit(np.full((5, 2), np.nan))


def test_auto_mad_threshold_finds_collapsed_latents_spread_up_to_a_tenth():
    """A gentle KL weight leaves collapsed means spread to MAD ~0.03-0.09 (our demo)."""
    rng = np.random.RandomState(0)
    scales = np.array([0.06, 1.2, 0.08, 0.05, 0.13, 1.2, 0.09, 1.2])  # MAD = 0.674 * scale
    Z = rng.normal(size=(3000, 8)) * scales
    selector = InformativeDimensionSelector().fit(Z)
    np.testing.assert_array_equal(np.flatnonzero(selector.get_support()), [1, 5, 7])
    assert 0.09 < selector.mad_threshold_ < 0.8


# ------------------------------------------------------------ out of core


def _memmap(tmp_path, X):
    path = tmp_path / "X.npy"
    np.save(path, X.astype(np.float32))
    return np.load(path, mmap_mode="r")


def test_spectra_on_disk_go_to_the_autoencoder_unread(tmp_path, monkeypatch):
    """The selector validates nothing itself: a memory map reaches encode as a memory map."""
    X, _, _ = line_spectra(200, 64, seed=0)
    ae = SpectralAutoencoder(3, max_epochs=2, random_state=0).fit(X)
    mm = _memmap(tmp_path, X)
    seen = []
    encode = ae.encode
    monkeypatch.setattr(ae, "encode", lambda X: seen.append(X) or encode(X))
    selector = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(mm)
    assert len(seen) == 1 and isinstance(seen[0], np.memmap)
    in_memory = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(np.array(mm))
    np.testing.assert_array_equal(selector.kl_, in_memory.kl_)
    assert selector.n_features_in_ == 64


def test_codes_already_computed_select_as_the_estimator_does():
    X, _, _ = line_spectra(200, 64, seed=0)
    ae = SpectralAutoencoder(3, max_epochs=3, random_state=0).fit(X)
    mean, log_var = ae.encode(X)
    from_codes = InformativeDimensionSelector(criterion="kl").fit(mean, log_var=log_var)
    from_spectra = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(X)
    for name in ("mad_", "kl_", "kl_threshold_", "mad_threshold_", "pairwise_mi_"):
        np.testing.assert_array_equal(getattr(from_codes, name), getattr(from_spectra, name))
    np.testing.assert_array_equal(from_codes.get_support(), from_spectra.get_support())


@pytest.mark.parametrize(
    "params, fit_kw, match",
    [
        ({"criterion": "kl"}, {}, "needs the posterior variances"),
        ({}, {"log_var": np.zeros((50, 2))}, "log_var has shape"),
    ],
)
def test_log_var_is_checked(params, fit_kw, match):
    Z = np.random.RandomState(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match=match):
        InformativeDimensionSelector(**params).fit(Z, **fit_kw)


def test_log_var_with_an_estimator_is_refused():
    X, _, _ = line_spectra(50, 32, seed=0)
    ae = SpectralAutoencoder(2, max_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="one or the other"):
        InformativeDimensionSelector(ae, prefit=True).fit(X, log_var=np.zeros((50, 2)))
