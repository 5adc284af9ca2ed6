"""latent_traversal: what moving one latent does to a decoded spectrum."""

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.decomposition import PCA, FastICA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skspecrep import SpectralAutoencoder
from skspecrep.inspection import latent_traversal, seed_stability


@pytest.fixture(scope="module")
def linear():
    """Spectra that are exactly a mean plus two orthogonal patterns; PCA recovers them."""
    rng = np.random.RandomState(0)
    pixels = np.linspace(-1, 1, 64)
    line = np.exp(-0.5 * (pixels / 0.1) ** 2)
    slope = pixels - pixels.mean()
    a, b = rng.uniform(0.1, 0.9, 300), rng.normal(0, 0.05, 300)
    X = 1 - a[:, None] * line + b[:, None] * slope
    return X, PCA(n_components=3).fit(X)


def test_each_step_moves_the_decoded_spectrum_along_that_latent_only(linear):
    X, pca = linear
    t = latent_traversal(pca, X, n_steps=5)
    Z = pca.transform(X)
    np.testing.assert_allclose(t.reference, np.median(Z, axis=0))
    np.testing.assert_allclose(t.latent_values[:, 0], np.quantile(Z, 0.02, axis=0))
    np.testing.assert_allclose(t.latent_values[:, -1], np.quantile(Z, 0.98, axis=0))
    for k in range(3):
        expected = (t.latent_values[k] - t.reference[k])[:, None] * pca.components_[k]
        np.testing.assert_allclose(t.spectra[k] - t.reference_spectrum, expected, atol=1e-12)
    # The third direction carries no variance: its traversal changes nothing.
    assert t.amplitude[0] > 0.5 and t.amplitude[1] > 0.01 and t.amplitude[2] < 1e-10


@settings(max_examples=25, deadline=None)
@given(
    n_steps=st.integers(2, 9),
    lo=st.floats(0.01, 0.4),
    hi=st.floats(0.6, 0.99),
    latents=st.lists(st.integers(0, 2), min_size=1, max_size=3),
)
def test_shapes_and_bounds_follow_the_arguments(linear, n_steps, lo, hi, latents):
    X, pca = linear
    t = latent_traversal(pca, X, latents=latents, n_steps=n_steps, quantiles=(lo, hi))
    assert t.spectra.shape == (len(latents), n_steps, X.shape[1])
    assert t.latent_values.shape == (len(latents), n_steps)
    np.testing.assert_array_equal(t.latents, latents)
    Z = pca.transform(X)
    np.testing.assert_allclose(t.latent_values[:, 0], np.quantile(Z[:, latents], lo, axis=0))
    assert np.all(np.diff(t.latent_values, axis=1) >= 0)


def test_reference_code_replaces_the_median(linear):
    X, pca = linear
    t = latent_traversal(pca, X, latents=0, reference=[0.0, 0.0, 0.0], n_steps=3)
    np.testing.assert_allclose(t.reference_spectrum, pca.mean_)
    assert t.spectra[0, 1, 0] != t.reference_spectrum[0] or t.latent_values[0, 1] == 0


def test_without_spectra_an_autoencoder_is_traversed_over_its_prior(spectra):
    X = spectra[0]
    ae = SpectralAutoencoder(2, max_epochs=2, random_state=0).fit(X)
    t = latent_traversal(ae, n_steps=3)
    np.testing.assert_allclose(t.latent_values, np.tile(norm.ppf([0.02, 0.5, 0.98]), (2, 1)))
    np.testing.assert_allclose(t.reference_spectrum, ae.inverse_transform(np.zeros((1, 2)))[0],
                               rtol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="pass spectra X"):
        latent_traversal(PCA(2).fit(X))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_steps": 1}, ValueError, "n_steps must be an integer of at least 2"),
        ({"quantiles": (0.9, 0.1)}, ValueError, "0 < low < high < 1"),
        ({"quantiles": "wide"}, ValueError, "two numbers"),
        ({"latents": [0, 3]}, ValueError, r"latents \[3\] do not exist"),
        ({"latents": [0.5]}, ValueError, "sequence of ints"),
        ({"reference": [0.0, 1.0]}, ValueError, r"shape \(3,\)"),
    ],
)
def test_bad_arguments_are_named(linear, kwargs, error, message):
    X, pca = linear
    with pytest.raises(error, match=message):
        latent_traversal(pca, X, **kwargs)


def test_needs_a_fitted_decoder(linear):
    X, _ = linear
    with pytest.raises(TypeError, match="StandardScaler has no inverse_transform|no transform"):
        latent_traversal(object(), X)
    with pytest.raises(Exception, match="not fitted"):
        latent_traversal(PCA(2), X)
    assert hasattr(StandardScaler(), "inverse_transform")


def test_codes_already_computed_replace_the_spectra(linear):
    X, pca = linear
    from_spectra = latent_traversal(pca, X, n_steps=4)
    from_codes = latent_traversal(pca, codes=pca.transform(X), n_steps=4)
    for key in ("latent_values", "spectra", "reference", "amplitude"):
        np.testing.assert_array_equal(from_codes[key], from_spectra[key])
    with pytest.raises(ValueError, match="not both"):
        latent_traversal(pca, X, codes=pca.transform(X))


# ------------------------------------------------------------- seed_stability


@pytest.fixture(scope="module")
def sources():
    """Spectra mixing three independent, non-Gaussian sources: FastICA finds them from any seed."""
    rng = np.random.RandomState(1)
    S = np.column_stack(
        [rng.uniform(-1, 1, 800), rng.laplace(size=800), rng.uniform(0, 1, 800) ** 3]
    )
    X = S @ rng.normal(size=(3, 40)) + 0.01 * rng.normal(size=(800, 40))
    labels = pd.DataFrame(S, columns=["a", "b", "c"])
    return X, labels


def test_two_copies_of_one_model_reproduce_every_latent_perfectly(sources):
    X, _ = sources
    model = FastICA(3, random_state=0, whiten="unit-variance").fit(X)
    result = seed_stability([model, copy.deepcopy(model)], X)
    assert result.latents["n_reproduced"].tolist() == [2, 2, 2]
    assert result.latents["worst_rho"].tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_array_equal(result.matches[0], result.matches[1])
    # Independent sources: the correlation matrix of the two copies is close
    # to the identity (its off-diagonal is what little rank correlation the
    # recovered sources keep), so the one-to-one score is close to 1.
    assert result.udr[0] == result.udr[1] > 0.9


def test_models_of_unrelated_data_share_nothing():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 50))  # isotropic: any basis fits it
    fits = [PCA(4).fit(rng.normal(size=(60, 50))) for _ in range(3)]
    result = seed_stability(fits, X, random_state=0)
    # Four random directions of 50-D space correlate by about 1/sqrt(50).
    assert result.latents["n_reproduced"].tolist() == [1, 1, 1, 1]
    assert result.match_rho[np.arange(3) != result.reference].max() < 0.5
    assert result.udr.max() < 0.5


def test_clones_differ_only_by_seed_and_labels_are_tracked(sources):
    X, labels = sources
    ica = FastICA(3, random_state=0, whiten="unit-variance")
    result = seed_stability(ica, X, labels, n_seeds=4, random_state=0)
    assert len(result.estimators) == 4 and len(set(result.seeds)) == 4
    assert [m.random_state for m in result.estimators] == result.seeds.tolist()
    assert result.latents["n_reproduced"].tolist() == [4, 4, 4]
    assert result.latents["worst_rho"].min() > 0.99
    # Each latent tracks one source in every seed, and the three latents
    # track the three sources.
    assert sorted(result.latents["label"]) == ["a", "b", "c"]
    assert result.latents["label_agreement"].tolist() == [4, 4, 4]
    assert result.latents["label_rho_min"].min() > 0.99
    tracks = result.label_tracks
    assert len(tracks) == 12 and set(tracks["model"]) == {0, 1, 2, 3}


def test_labels_that_are_not_numbers_are_refused_not_dropped(sources):
    # A text column used to become NaN and vanish from the label tracks.
    X, labels = sources
    labels = labels.assign(star=["HD 1"] * len(labels))
    ica = FastICA(3, random_state=0, whiten="unit-variance")
    with pytest.raises(ValueError, match="HD 1"):
        seed_stability(ica, X, labels, n_seeds=2, random_state=0)


def test_clones_inside_a_pipeline_get_every_random_state(sources):
    X, _ = sources
    pipe = make_pipeline(StandardScaler(), FastICA(2, random_state=0, whiten="unit-variance"))
    result = seed_stability(pipe, X, n_seeds=2, random_state=3)
    assert [p[-1].random_state for p in result.estimators] == result.seeds.tolist()


def test_autoencoder_latents_are_active_by_their_kl(spectra):
    X, _, _ = spectra
    ae = SpectralAutoencoder(4, beta=1e-2, max_epochs=3, random_state=0, kl_warmup=(0, 0))
    fits = [ae.fit(X)]
    fits.append(copy.deepcopy(fits[0]))
    result = seed_stability(fits, X)
    active = fits[0].component_kl_ > 0.01
    np.testing.assert_array_equal(result.active[0], active)
    assert result.latents["latent"].tolist() == np.flatnonzero(active).tolist()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_seeds": 1}, "n_seeds must be an integer of at least 2"),
        ({"y": np.zeros((5, 1))}, "y has 5 rows but X has 800"),
    ],
)
def test_bad_stability_arguments_are_named(sources, kwargs, message):
    X, _ = sources
    with pytest.raises(ValueError, match=message):
        seed_stability(
            FastICA(2, random_state=0, whiten="unit-variance"), X, **{"n_seeds": 2, **kwargs}
        )


def test_stability_needs_models_that_differ_by_seed(sources):
    X, _ = sources
    with pytest.raises(ValueError, match="no random_state parameter"):
        seed_stability(StandardScaler(), X, n_seeds=2)
    with pytest.raises(ValueError, match="at least 2 models"):
        seed_stability([PCA(2).fit(X)], X)


def test_a_few_labels_choose_the_model_whose_latents_each_hold_one_label(sources):
    """The sources and a rotation of them (two latents mixing two sources), 3 % labelled."""
    X, labels = sources
    ica = FastICA(3, random_state=0, whiten="unit-variance").fit(X)
    angle = np.pi / 4
    rotation = np.eye(3)
    rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    mixed = FunctionTransformer(lambda Z: ica.transform(Z) @ rotation).fit(X)
    holed = labels.copy()
    unknown = np.random.RandomState(0).rand(len(X)) > 0.03
    holed[unknown] = np.nan
    result = seed_stability([mixed, ica], X, holed, random_state=0)
    assert result.chosen == 1
    table = result.label_assignment
    assert len(table) == 6 and (table["n_labelled"] == (~unknown).sum()).all()
    # The sources' model holds each label in a latent of its own; the rotated
    # one holds a and b at |rho| about cos(45 deg) and c as the sources do.
    best = table[table["model"] == 1]
    assert sorted(best["latent"]) == [0, 1, 2] and best["rho"].min() > 0.95
    assert result.label_score[1] > 0.95 > 0.9 > result.label_score[0] > 0.75
    # Without labels, nothing is chosen.
    unlabelled = seed_stability([mixed, ica], X, random_state=0)
    assert unlabelled.chosen is None and unlabelled.label_score is None
