"""LatentCorrelationScorer: MI against known factors, missing and clipped labels, scoring."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import line_spectra
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skspecrep import LatentCorrelationScorer, SpectralAutoencoder, information_coefficient


def gaussian_mi(rho):
    return -0.5 * np.log(1 - rho**2)


def known_factors(n=4000, seed=0):
    """Three labels and five latents with known links.

    z0 tracks teff with correlation 0.9, z1 is a monotone map of rv (all its
    information), z2 tracks logg with correlation 0.5, z3 is noise and z4 a
    collapsed latent.
    """
    rng = np.random.RandomState(seed)
    teff, rv, logg = rng.normal(size=(3, n))
    noise = rng.normal(size=(3, n))
    Z = np.column_stack(
        [
            0.9 * teff + np.sqrt(1 - 0.81) * noise[0],
            np.tanh(rv / 2),
            0.5 * logg + np.sqrt(0.75) * noise[1],
            noise[2],
            rng.normal(0, 1e-3, n),
        ]
    )
    labels = pd.DataFrame({"teff": 5500 + 800 * teff, "rv": 20 * rv, "logg": 4.2 + 0.3 * logg})
    return Z, labels


@pytest.fixture(scope="module")
def fitted():
    Z, labels = known_factors()
    return LatentCorrelationScorer(n_bootstrap=10, random_state=0).fit(Z, labels), Z, labels


# ------------------------------------------------------ known generative factors


def test_mutual_information_matches_the_analytic_values(fitted):
    scorer, _, _ = fitted
    teff, logg = 0, 2
    assert scorer.mi_[0, teff] == pytest.approx(gaussian_mi(0.9), abs=0.04)
    assert scorer.mi_[2, logg] == pytest.approx(gaussian_mi(0.5), abs=0.03)
    assert scorer.information_coefficient_[0, teff] == pytest.approx(0.9, abs=0.01)
    assert scorer.information_coefficient_[2, logg] == pytest.approx(0.5, abs=0.03)
    # Every unrelated pair is near zero.
    unrelated = np.ones_like(scorer.mi_, dtype=bool)
    unrelated[[0, 1, 2], [0, 1, 2]] = False
    assert scorer.mi_[unrelated].max() < 0.04  # KSG on independent pairs: 0.006 +- 0.008


def test_best_latents_significance_and_paper_criterion(fitted):
    scorer, _, _ = fitted
    np.testing.assert_array_equal(scorer.best_latent_, [0, 1, 2])
    expected = np.zeros((5, 3), dtype=bool)
    expected[[0, 1, 2], [0, 1, 2]] = True
    np.testing.assert_array_equal(scorer.significant_, expected)
    np.testing.assert_array_equal(scorer.get_support(), [True, True, True, False, False])
    # The paper's criterion misses the weak logg link (MI 0.14): at 80 and 160
    # bins the plug-in bias, about (B - 1)**2 / 2N, swamps it and favours the
    # bounded rv latent. This is why the histogram reading alone is not enough.
    np.testing.assert_array_equal(scorer.paper_criterion_, [True, True, False])
    np.testing.assert_array_equal(scorer.top_latent_binned_[:4], np.tile([0, 1, 2], (4, 1)))
    np.testing.assert_array_equal(scorer.top_latent_binned_[4:, 2], [1, 1])
    np.testing.assert_array_equal(scorer.label_names_, ["teff", "rv", "logg"])
    np.testing.assert_array_equal(scorer.n_samples_per_label_, [4000, 4000, 4000])


def test_normalisations(fitted):
    scorer, Z, labels = fitted
    # The paper's: the top latent is 1 at every binning.
    np.testing.assert_allclose(scorer.mi_max_normalized_.max(axis=1), 1.0)
    # The absolute one: a latent equal to the label holds all its binned entropy.
    exact = LatentCorrelationScorer(n_bootstrap=0).fit(labels[["rv"]].to_numpy(), labels["rv"])
    np.testing.assert_allclose(exact.mi_entropy_normalized_[:, 0, 0], 1.0)
    assert np.all(scorer.mi_entropy_normalized_ <= 1 + 1e-12)
    # It falls as the binning gets finer for a noisy link, as MI / H(label) must.
    assert scorer.mi_entropy_normalized_[0, 0, 0] > scorer.mi_entropy_normalized_[-1, 0, 0]


def test_bootstrap_spread_matches_the_spread_between_independent_data_sets():
    """The reported uncertainty is honest: compare with 20 fresh draws of the data."""
    for method in ("ksg", "histogram"):
        values, reported = [], []
        for seed in range(20):
            Z, labels = known_factors(n=1000, seed=seed)
            s = LatentCorrelationScorer(method, n_bins=10, n_bootstrap=20, random_state=seed)
            s.fit(Z[:, :1], labels["teff"])
            values.append(s.mi_[0, 0])
            reported.append(s.mi_std_[0, 0])
        ratio = np.mean(reported) / np.std(values, ddof=1)
        assert 0.6 < ratio < 1.6, (method, ratio)


def test_gmm_method_agrees_with_the_analytic_value():
    Z, labels = known_factors(n=1500)
    # The mixture fits are slow; the null is tested with the other estimators.
    scorer = LatentCorrelationScorer("gmm", n_bootstrap=0, n_permutations=0, random_state=0)
    scorer.fit(Z[:, [0, 3]], labels["teff"])
    assert scorer.mi_[0, 0] == pytest.approx(gaussian_mi(0.9), abs=0.05)
    assert scorer.mi_[1, 0] < 0.02


# ------------------------------------------------------- missing and clipped labels


def test_missing_labels_are_dropped_per_label_only():
    Z, labels = known_factors(n=1500)
    holed = labels.copy()
    missing = np.random.RandomState(1).rand(1500) < 0.4
    holed.loc[missing, "rv"] = np.nan
    # The raw estimates (no shuffles, whose rows differ between these fits).
    raw = LatentCorrelationScorer(n_bootstrap=0, n_permutations=0)
    scorer = clone(raw).fit(Z, holed)
    np.testing.assert_array_equal(scorer.n_missing_, [0, missing.sum(), 0])
    np.testing.assert_array_equal(scorer.n_samples_per_label_, [1500, (~missing).sum(), 1500])
    # The labels with values anywhere are untouched by the holes in rv...
    alone = clone(raw).fit(Z, labels[["teff", "logg"]])
    np.testing.assert_array_equal(scorer.mi_[:, [0, 2]], alone.mi_)
    # ...and rv is as if fitted on its complete rows only.
    complete = clone(raw).fit(Z[~missing], labels["rv"][~missing])
    np.testing.assert_array_equal(scorer.mi_[:, 1], complete.mi_[:, 0])
    np.testing.assert_array_equal(scorer.mi_binned_[:, :, 1], complete.mi_binned_[:, :, 0])


def test_sigma_clipping_removes_outliers_that_would_swamp_the_histograms():
    """The paper's reason to clip: one wild value squeezes every other into one bin."""
    Z, labels = known_factors(n=3000)
    y = labels["teff"].to_numpy().copy()
    y[:5] = 1e7  # e.g. a catalogue's placeholder
    # Raw estimates: shuffles of 3,000 and of 2,995 rows would differ.
    raw = LatentCorrelationScorer(n_bootstrap=0, n_permutations=0).fit(Z, y)
    clipped = clone(raw).set_params(sigma_clip=5.0).fit(Z, y)
    clean = clone(raw).fit(Z[5:], labels["teff"][5:])
    assert clipped.n_clipped_[0] == 5 and raw.n_clipped_[0] == 0
    assert raw.mi_binned_[2, 0, 0] < 0.05  # 20 bins: nearly all values in the first
    assert clipped.mi_binned_[2, 0, 0] > 0.5
    # With only the outliers clipped, the analysis is the clean data's.
    np.testing.assert_allclose(clipped.mi_binned_, clean.mi_binned_)
    assert clipped.clip_bounds_[0, 1] < 1e5 < 1e7
    # The fitted bounds apply when scoring new data.
    assert clipped.score(Z, y) == pytest.approx(clean.score(Z[5:], labels["teff"][5:]))


def test_constant_and_single_labels():
    Z, labels = known_factors(n=500)
    labels["flat"] = 1.0
    with pytest.warns(UserWarning, match="'flat'.*constant"):
        scorer = LatentCorrelationScorer(n_bootstrap=5, random_state=0).fit(Z, labels)
    flat = 3
    assert np.all(scorer.mi_[:, flat] == 0)
    assert np.all(scorer.mi_binned_[:, :, flat] == 0)
    assert not scorer.significant_[:, flat].any()
    assert not scorer.paper_criterion_[flat]
    # A single unnamed label, 1-D.
    one = LatentCorrelationScorer(n_bootstrap=0).fit(Z, labels["teff"].to_numpy())
    np.testing.assert_array_equal(one.label_names_, ["label0"])
    assert one.mi_.shape == (5, 1)
    # A named Series keeps its name.
    assert LatentCorrelationScorer(n_bootstrap=0).fit(Z, labels["rv"]).label_names_[0] == "rv"


def test_tiny_samples_give_zero_information_with_a_warning():
    Z, labels = known_factors(n=3)
    with pytest.warns(UserWarning, match="3 usable values"):
        scorer = LatentCorrelationScorer(n_bootstrap=2, random_state=0).fit(Z, labels["teff"])
    assert np.all(scorer.mi_ == 0) and not scorer.get_support().any()
    Z, labels = known_factors(n=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough rows for KSG: no warning
        LatentCorrelationScorer(n_bootstrap=2, random_state=0).fit(Z, labels["teff"])


# ----------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(
    order=st.permutations(range(5)),
    z_scale=st.integers(-8, 8),
    y_scale=st.integers(-8, 8),
    shift=st.sampled_from([0.0, 1.0, -256.0]),
)
def test_permuting_latents_permutes_results_and_scaling_changes_nothing(
    order, z_scale, y_scale, shift
):
    """Powers of two scale exactly, so the estimates must be identical."""
    Z, labels = known_factors(n=300, seed=3)
    # The same seed shuffles the same rows, whatever the order of the latents.
    base = LatentCorrelationScorer(n_bootstrap=0, random_state=0).fit(Z, labels)
    moved = LatentCorrelationScorer(n_bootstrap=0, random_state=0).fit(
        Z[:, list(order)] * 2.0**z_scale, labels * 2.0**y_scale + shift * (y_scale == 0)
    )
    np.testing.assert_array_equal(moved.mi_, base.mi_[list(order)])
    np.testing.assert_array_equal(moved.mi_binned_, base.mi_binned_[:, list(order)])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(20, 200), n_labels=st.integers(1, 4))
def test_shapes_and_ranges_on_random_data(seed, n, n_labels):
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n, 3))
    Y = rng.normal(size=(n, n_labels))
    Y[rng.rand(n, n_labels) < 0.2] = np.nan
    s = LatentCorrelationScorer(n_bootstrap=3, random_state=seed).fit(Z, Y)
    assert s.mi_.shape == s.mi_std_.shape == s.significant_.shape == (3, n_labels)
    assert s.mi_binned_.shape == s.mi_max_normalized_.shape == (6, 3, n_labels)
    assert np.all(s.mi_ >= 0) and np.all(s.information_coefficient_ < 1)
    assert np.all((s.mi_max_normalized_ >= 0) & (s.mi_max_normalized_ <= 1))
    assert 0 <= s.score(Z, Y) < 1
    assert len(s.report()) == n_labels and len(s.report("pair")) == 3 * n_labels


# --------------------------------------------------------------- scoring and use


def test_score_grows_with_how_well_the_labels_are_captured():
    Z, labels = known_factors(n=2000)
    Z_test, labels_test = known_factors(n=2000, seed=1)
    scorer = LatentCorrelationScorer(n_bootstrap=0).fit(Z, labels)
    good = scorer.score(Z_test, labels_test)
    # Expected: the mean of the three correlations (0.9, 1 for a monotone map, 0.5).
    assert good == pytest.approx(
        (0.9 + 0.5 + information_coefficient(scorer.mi_[1, 1])) / 3, abs=0.03
    )
    noisy = Z_test + np.random.RandomState(0).normal(0, 1.0, Z_test.shape)
    assert scorer.score(noisy, labels_test) < good - 0.1
    shuffled = labels_test.sample(frac=1, random_state=0).reset_index(drop=True)
    # Independent: MI ~0.003 nats, which the square root lifts to ~0.07.
    assert scorer.score(Z_test, shuffled) < 0.1


def test_grid_search_by_physics_picks_the_components_that_hold_the_factors():
    """PCA of data with two strong factors: one component cannot hold both."""
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(2, 600))
    X = np.column_stack([3 * a, 2 * b, 0.01 * rng.normal(size=(600, 4))])
    labels = pd.DataFrame({"a": a, "b": b})
    # Seeded, so that 2 and 3 components (the same best latents) score alike.
    scorer = LatentCorrelationScorer(n_bootstrap=0, random_state=0)
    pipe = Pipeline([("pca", PCA()), ("scorer", scorer)])
    search = GridSearchCV(pipe, {"pca__n_components": [1, 2, 3]}, cv=3).fit(X, labels)
    assert search.best_params_ == {"pca__n_components": 2}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] < 0.6 < 0.95 < scores[1]


def test_pipeline_transform_keeps_the_latents_that_track_a_label(spectra):
    X, depth, shift = spectra
    labels = pd.DataFrame({"depth": depth, "shift": shift})
    pipe = Pipeline(
        [
            ("ae", SpectralAutoencoder(4, max_epochs=3, random_state=0)),
            ("scorer", LatentCorrelationScorer(n_bootstrap=5, random_state=0)),
        ]
    ).set_output(transform="pandas")
    out = pipe.fit(X, labels).transform(X)
    scorer = pipe[-1]
    assert list(out.columns) == list(scorer.get_feature_names_out())
    assert scorer.get_support().sum() == out.shape[1] >= 1
    report = scorer.report()
    assert list(report["label"]) == ["depth", "shift"]
    assert set(report["best_latent"]) <= {f"spectralautoencoder{i}" for i in range(4)}


@pytest.mark.slow
def test_grid_search_by_physics_over_the_autoencoder_bottleneck():
    """Line depth and position: one latent cannot hold both, two can."""
    X, depth, shift = line_spectra(400, 128, seed=0)
    labels = pd.DataFrame({"depth": depth, "shift": shift})
    pipe = Pipeline(
        [
            ("ae", SpectralAutoencoder(beta=5e-3, max_epochs=60, lr=3e-3, random_state=0)),
            ("scorer", LatentCorrelationScorer(n_bootstrap=0)),
        ]
    )
    search = GridSearchCV(pipe, {"ae__n_components": [1, 2]}, cv=2).fit(X, labels)
    one, two = search.cv_results_["mean_test_score"]
    # One latent can still carry some of both factors, and two latents are
    # not fully disentangled after this short training, so the gap is modest.
    assert two > one + 0.05, (one, two)


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s, Z, Y: s.fit(Z, None), "requires y"),
        (lambda s, Z, Y: s.fit(Z, np.where(Y == Y[0], np.inf, Y)), "infinity"),
        (lambda s, Z, Y: s.fit(Z, Y[:-1]), "inconsistent numbers of samples"),
        (lambda s, Z, Y: s.fit(np.where(Z == Z[0], np.nan, Z), Y), "NaN"),
        (lambda s, Z, Y: s.set_params(bins=[1, 10]).fit(Z, Y), "bins"),
        (lambda s, Z, Y: s.set_params(bins=[2.5]).fit(Z, Y), "bins"),
        (lambda s, Z, Y: s.set_params(n_bootstrap=1).fit(Z, Y), "n_bootstrap"),
        (lambda s, Z, Y: s.set_params(method="pearson").fit(Z, Y), "method"),
        (lambda s, Z, Y: s.fit(Z, Y).score(Z, Y[:, :1]), "fitted with 2"),
        (lambda s, Z, Y: s.fit(Z, Y).score(Z[:, :2], Y), "features"),
        (lambda s, Z, Y: s.fit(Z, Y).report("latent"), "per"),
    ],
)
def test_bad_input_is_refused_clearly(call, match):
    Z, labels = known_factors(n=100)
    with pytest.raises(ValueError, match=match):
        call(LatentCorrelationScorer(n_bootstrap=0), Z, labels[["teff", "rv"]].to_numpy())


def test_unfitted_use_raises():
    with pytest.raises(NotFittedError):
        LatentCorrelationScorer().report()


def test_mutual_info_gap_is_high_for_one_holder_and_zero_for_a_shared_label():
    rng = np.random.RandomState(0)
    y = rng.uniform(size=4000)
    noise = rng.normal(size=(4000, 2))
    alone = LatentCorrelationScorer(bins=[20], n_bootstrap=0).fit(
        np.column_stack([y, noise[:, 0]]), y
    )
    # A latent equal to the label holds all of its binned entropy; noise almost none.
    assert alone.mi_entropy_normalized_[0, 0, 0] == pytest.approx(1.0)
    assert alone.mutual_info_gap_[0, 0] > 0.95
    shared = LatentCorrelationScorer(bins=[20], n_bootstrap=0).fit(
        np.column_stack([y, 2 * y + 1, noise[:, 1]]), y
    )
    assert shared.mutual_info_gap_[0, 0] == pytest.approx(0.0, abs=1e-12)
    single = LatentCorrelationScorer(bins=[5, 20], n_bootstrap=0).fit(y[:, None], y)
    np.testing.assert_allclose(single.mutual_info_gap_[:, 0], 1.0)


@pytest.mark.parametrize("method", ["ksg", "histogram"])
@pytest.mark.parametrize("n", [300, 1000, 4000])
def test_independent_variables_read_zero_once_the_null_is_taken_off(method, n):
    rng = np.random.RandomState(n)
    Z, y = rng.normal(size=(n, 4)), rng.normal(size=n)
    raw = LatentCorrelationScorer(method, n_bootstrap=0, n_permutations=0).fit(Z, y)
    honest = LatentCorrelationScorer(method, n_bootstrap=20, random_state=0).fit(Z, y)
    # What the estimator reads on shuffled labels is what it read on these: its bias.
    np.testing.assert_allclose(honest.mi_null_.mean(), raw.mi_.mean(), atol=0.03)
    assert honest.mi_.max() < 0.08 and not honest.significant_.any()
    assert information_coefficient(honest.mi_).mean() < 0.2
    # The raw 40-bin histogram reads information where there is none.
    if method == "histogram" and n <= 1000:
        assert raw.mi_.min() > 0.2


def test_a_real_link_keeps_its_information_after_the_null():
    Z, labels = known_factors(n=1500)
    raw = LatentCorrelationScorer(n_bootstrap=0, n_permutations=0).fit(Z, labels)
    honest = LatentCorrelationScorer(n_bootstrap=0, random_state=0).fit(Z, labels)
    best = honest.best_latent_, np.arange(3)
    np.testing.assert_array_equal(honest.best_latent_, raw.best_latent_)
    np.testing.assert_allclose(honest.mi_[best], raw.mi_[best] - honest.mi_null_[best])
    assert (honest.mi_null_[best] < 0.02).all() and (honest.mi_[best] > 0.1).all()


def test_collapsed_latents_are_not_ranked_unless_asked():
    """A collapsed latent's mean can follow a label at an amplitude the decoder never sees."""
    Z, labels = known_factors(n=1500)
    rv = labels["rv"].to_numpy()
    # z5: a posterior of unit variance whose mean moves by 1e-3 with rv (KL ~ 1e-6 nats).
    Z = np.column_stack([Z[:, :4], 1e-3 * rv / 20])
    log_var = np.zeros_like(Z)
    log_var[:, :4] = -4.0  # z0-z3 informative: sigma 0.14 around means of unit spread
    plain = LatentCorrelationScorer(n_bootstrap=0, random_state=0).fit(Z, labels)
    assert plain.best_latent_[1] == 4 and not plain.collapsed_.any()
    honest = LatentCorrelationScorer(n_bootstrap=0, random_state=0)
    honest.fit(Z, labels, log_var=log_var)
    np.testing.assert_array_equal(honest.collapsed_, [False] * 4 + [True])
    assert (honest.mi_[4] == 0).all() and (honest.mi_binned_[:, 4] == 0).all()
    assert honest.best_latent_[1] == 1 and not honest.get_support()[4]
    asked = clone(honest).set_params(rank_collapsed=True).fit(Z, labels, log_var=log_var)
    assert asked.collapsed_[4] and asked.best_latent_[1] == 4
    np.testing.assert_allclose(asked.mi_, plain.mi_)
    with pytest.raises(ValueError, match="log_var has shape \\(1500, 2\\) but the codes X"):
        honest.fit(Z, labels, log_var=log_var[:, :2])
