"""score_samples: how typical a spectrum is, and why not; the detector around it."""

import warnings

import numpy as np
import pytest
from conftest import line_spectra
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from skspecrep import MedianNormalizer, SpectralAutoencoder, SpectrumOutlierDetector
from skspecrep._typicality import PARTS, fit_density, log_density
from skspecrep.inspection import unusual_spectra

N_PIXELS = 128


def _ae(**params):
    base = dict(n_components=3, max_epochs=40, batch_size=32, random_state=0)
    return SpectralAutoencoder(**{**base, **params})


@pytest.fixture(scope="module")
def fitted():
    X, _, _ = line_spectra(500, N_PIXELS, noise=0.01, seed=1)
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae = _ae(validation_fraction=0.2).fit(X[:400])
    return ae, X[400:]


def _anomalies(X):
    """Held-out spectra with one known anomaly each in rows 0-3; the rest are clean."""
    X = X.copy()
    pixels = np.arange(N_PIXELS)
    X[0, 20] += 1.0  # a cosmic ray
    X[1] += 0.4 * np.exp(-0.5 * ((pixels - 100) / 1.5) ** 2)  # an emission line
    X[2] *= np.linspace(0.6, 1.4, N_PIXELS)  # a bad continuum
    X[3, 60:70] = 0.0  # a strip of dead pixels
    return X


def test_injected_anomalies_rank_first_with_their_part_and_place(fitted):
    ae, X = fitted
    table = unusual_spectra(ae, _anomalies(X))
    assert sorted(table.index[:4]) == [0, 1, 2, 3]
    assert table.loc[0, "part"] == "peak" and table.loc[0, "peak_pixel"] == 20
    assert abs(table.loc[1, "peak_pixel"] - 100) <= 2
    assert 60 <= table.loc[3, "peak_pixel"] < 70
    # Each is many spreads beyond the reference spectra, far past the clean
    # ones; a clean spectrum scores about -1 (minus the largest of three
    # parts, each with median 0 and spread 1 on the reference spectra).
    clean = table.drop(index=[0, 1, 2, 3])["score"]
    assert (table.loc[[0, 1, 2, 3], "score"] < min(-8, clean.min() - 1)).all()
    assert -2 < np.median(clean) < 0


def test_unusual_spectra_needs_an_autoencoder_and_a_sane_count(fitted):
    from sklearn.decomposition import PCA

    ae, X = fitted
    with pytest.raises(TypeError, match="needs a fitted SpectralAutoencoder.*got PCA"):
        unusual_spectra(PCA(2).fit(X), X)
    with pytest.raises(ValueError, match="n_spectra"):
        unusual_spectra(ae, X, n_spectra=0)


def test_score_samples_is_minus_the_largest_part(fitted):
    ae, X = fitted
    X = _anomalies(X)
    parts = ae.score_parts(X)
    largest = np.max([parts[name] for name in PARTS], axis=0)
    np.testing.assert_array_equal(ae.score_samples(X), -largest)
    table = unusual_spectra(ae, X, n_spectra=5)
    assert len(table) == 5 and list(table["score"]) == sorted(table["score"])


def test_parts_on_the_reference_spectra_are_centred_with_unit_spread(fitted):
    # The reference is the validation split: standardised there, each part
    # has median 0 and 1.4826 MAD of 1 by construction.
    ae, X = fitted
    centre, spread = ae.typicality_reference_["centre"], ae.typicality_reference_["spread"]
    assert centre.shape == spread.shape == (3,) and (spread > 0).all()
    assert ae.residual_scale_.shape == (N_PIXELS,) and (ae.residual_scale_ > 0).all()
    # On other clean spectra of the same kind the parts stay near that.
    parts = ae.score_parts(X)
    for name in PARTS:
        assert abs(np.median(parts[name])) < 0.6, name


def test_subset_and_on_disk_invariance(fitted, tmp_path):
    # scikit-learn's check asks for 1e-7 on scores of order 10: the network's
    # float32 rounding differs by batch (see test_common), so compare at float32.
    ae, X = fitted
    whole = ae.score_samples(X)
    rows = np.concatenate([ae.score_samples(X[i : i + 1]) for i in range(10)])
    np.testing.assert_allclose(rows, whole[:10], rtol=1e-5, atol=1e-5)
    codes = np.concatenate([ae.transform(X[i : i + 1]) for i in range(10)])
    np.testing.assert_allclose(codes, ae.transform(X)[:10], rtol=1e-5, atol=1e-6)
    on_disk = np.lib.format.open_memmap(tmp_path / "X.npy", "w+", np.float32, X.shape)
    on_disk[:] = X
    on_disk.flush()
    np.testing.assert_allclose(ae.score_samples(on_disk), whole, rtol=1e-6)


def test_log_density_matches_scipy_for_a_known_mixture():
    rng = np.random.RandomState(0)
    means = np.array([[0.0, 1.0], [2.0, -1.0]])
    covs = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 2.0]]])
    weights = np.array([0.3, 0.7])
    chol = np.array([np.linalg.cholesky(np.linalg.inv(c)) for c in covs])
    density = {"latents": np.array([1, 3]), "weights": weights, "means": means,
               "precisions_cholesky": chol}  # fmt: skip
    codes = rng.normal(size=(50, 4))
    expected = np.log(
        sum(w * multivariate_normal(m, c).pdf(codes[:, [1, 3]])
            for w, m, c in zip(weights, means, covs))
    )  # fmt: skip
    np.testing.assert_allclose(log_density(density, codes), expected, rtol=1e-10)
    assert np.array_equal(log_density(None, codes), np.zeros(50))


def test_density_leaves_out_collapsed_latents_and_finds_clusters():
    rng = np.random.RandomState(0)
    codes = np.column_stack([
        np.r_[rng.normal(-3, 0.3, 300), rng.normal(3, 0.3, 300)],  # two clusters
        rng.normal(0, 1e-4, 600),  # collapsed
        rng.normal(0, 1, 600),
    ])  # fmt: skip
    density = fit_density(codes, np.array([2.0, 0.001, 1.0]), seed=0)
    assert list(density["latents"]) == [0, 2]
    assert len(density["weights"]) >= 2
    # Between the clusters is far less likely than in one.
    between, inside = log_density(density, np.array([[0.0, 0, 0], [3.0, 0, 0]]))
    assert inside - between > 20
    assert fit_density(codes, np.zeros(3), seed=0) is None


def test_noise_units_with_chi2():
    X, _, _ = line_spectra(300, 64, noise=0.01, seed=2)
    ivar = np.full(X.shape, 1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae = _ae(loss="chi2", max_epochs=20).fit(X, ivar=ivar)
    with pytest.raises(ValueError, match="ivar"):
        ae.score_samples(X)
    spiked = X[:5].copy()
    spiked[:, 30] += 0.5  # fifty sigma
    parts = ae.score_parts(spiked, ivar=ivar[:5])
    assert (parts.peak > 4).all() and (parts.peak_pixel == 30).all()
    # A pixel of ivar 0 is unmeasured: left out of the parts, it cannot be
    # the peak (the encoder still reads it, so the drawing may change).
    hidden_ivar = ivar[:5].copy()
    hidden_ivar[:, 30] = 0.0
    hidden = ae.score_parts(spiked, ivar=hidden_ivar)
    assert not (hidden.peak_pixel == 30).any()
    assert (hidden.peak < parts.peak).all()
    # Counted as residuals of 0 instead, unmeasured pixels would halve the
    # mean residual here (and zero the median): they are not counted.
    half = ivar[:50].copy()
    half[:, ::2] = 0.0
    full_parts = ae.score_parts(X[:50], ivar=ivar[:50])
    half_parts = ae.score_parts(X[:50], ivar=half)
    halving = np.log(2) / ae.typicality_reference_["spread"][0]
    shift = np.median(half_parts.reconstruction - full_parts.reconstruction)
    assert abs(shift) < 0.2 * halving
    assert np.all(np.isfinite(half_parts.peak)) and np.median(half_parts.peak) < 5
    # Doubling the stated noise on the clean spectra halves their residuals
    # in noise units: the reconstruction part falls.
    clean = ae.score_parts(X[:50], ivar=ivar[:50]).reconstruction
    noisier = ae.score_parts(X[:50], ivar=ivar[:50] / 4).reconstruction
    assert np.all(noisier < clean)


def test_no_reference_is_a_clear_error(fitted):
    ae, X = fitted
    old = clone(ae)
    old.__setstate__({**ae.__getstate__(), "typicality_reference_": None})
    with pytest.raises(ValueError, match="no reference spectra"):
        old.score_samples(X)


def test_reference_survives_model_files(fitted, tmp_path):
    from skspecrep.io import load_model, save_model

    ae, X = fitted
    loaded = load_model(save_model(ae, tmp_path / "m.skspecrep"))
    np.testing.assert_array_equal(loaded.score_samples(X), ae.score_samples(X))


# ----------------------------------------------------------------- detector


def test_detector_flags_the_contaminated_share_and_the_injected_spectra(fitted):
    _, X = fitted
    X_train, _, _ = line_spectra(400, N_PIXELS, noise=0.01, seed=1)
    X_train = np.vstack([X_train.astype(np.float32), _anomalies(X)[:4]])
    detector = SpectrumOutlierDetector(_ae(), contamination=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector.fit(X_train)
    flagged = np.flatnonzero(detector.predict(X_train) == -1)
    # As IsolationForest: the threshold is the contamination's percentile of
    # the training scores (interpolated), and scores below it are outliers.
    assert len(flagged) == np.ceil(0.01 * (len(X_train) - 1))
    assert set(range(400, 404)) <= set(flagged)
    np.testing.assert_allclose(
        detector.decision_function(X), detector.score_samples(X) - detector.offset_
    )


def test_detector_auto_threshold_and_pipeline(fitted):
    ae, X = fitted
    X = _anomalies(X)
    detector = SpectrumOutlierDetector(ae, prefit=True).fit(X)
    assert detector.offset_ == -5.0 and detector.estimator_ is ae
    assert (detector.predict(X[:4]) == -1).all()
    assert (detector.predict(X[4:]) == 1).mean() > 0.9
    pipe = Pipeline([("normalise", MedianNormalizer()), ("detect", clone(detector))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.set_params(detect__prefit=False).fit(X[4:])
    assert pipe.predict(X).shape == (len(X),)


def test_detector_prefit_needs_a_fitted_estimator():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SpectrumOutlierDetector(_ae(), prefit=True).fit(np.ones((10, 8)))
