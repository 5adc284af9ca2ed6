"""latent_traversal: what moving one latent does to a decoded spectrum."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from skspecrep import SpectralAutoencoder
from skspecrep.inspection import latent_traversal


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
