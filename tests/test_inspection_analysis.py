"""inspection.analyse: one analysis of a run, computed once, from spectra or their codes."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from skspecrep import InformativeDimensionSelector, LatentCorrelationScorer, SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra
from skspecrep.inspection import Analysis, analyse, latent_traversal

LABELS = ["teff", "radial_velocity"]


@pytest.fixture(scope="module")
def data():
    X, labels, wave = make_stellar_spectra(400, n_pixels=128, random_state=0)
    return X, labels[LABELS], wave


@pytest.fixture(scope="module")
def autoencoder(data):
    return SpectralAutoencoder(4, max_epochs=3, random_state=0).fit(data[0])


def test_the_analysis_holds_what_its_parts_compute(data, autoencoder):
    X, labels, wave = data
    a = analyse(autoencoder, X, labels, wavelength=wave, n_examples=2, random_state=0)
    assert isinstance(a, Analysis) and (a.n_spectra, a.n_pixels) == X.shape
    mean, log_var = autoencoder.encode(X)
    np.testing.assert_allclose(a.codes, mean)
    np.testing.assert_allclose(a.log_var, log_var)
    # The selector is by KL (the posterior variances are known), as if fitted by hand.
    selector = InformativeDimensionSelector(criterion="kl").fit(mean, log_var=log_var)
    np.testing.assert_array_equal(a.selector.get_support(), selector.get_support())
    support = selector.get_support()
    assert support.any()
    # The scorer holds the informative latents, by name, against float labels.
    assert list(a.scorer.feature_names_in_) == [f"z{j}" for j in np.flatnonzero(support)]
    np.testing.assert_array_equal(a.scored, support)
    pd.testing.assert_frame_equal(a.labels, labels.reset_index(drop=True).astype(float))
    # The traversal and the examples are those of the informative latents and first rows.
    by_hand = latent_traversal(autoencoder, latents=np.flatnonzero(support), codes=mean)
    np.testing.assert_allclose(a.traversal.spectra, by_hand.spectra)
    np.testing.assert_array_equal(a.examples.index, [0, 1])
    np.testing.assert_array_equal(a.examples.spectra, X[:2])
    np.testing.assert_allclose(
        a.examples.reconstructions, autoencoder.inverse_transform(mean[:2]), rtol=1e-6
    )
    np.testing.assert_allclose(a.wavelength, wave)
    # One table row per latent; the summary in plain Python types.
    assert a.latent_table["latent"].tolist() == a.component_names == ["z0", "z1", "z2", "z3"]
    np.testing.assert_allclose(a.latent_table["kl"], selector.kl_)
    assert a.summary["n_informative"] == support.sum()
    assert a.summary["labels"]["teff"]["n_samples"] == len(X)
    assert repr(a).startswith("Analysis(SpectralAutoencoder, 400 spectra x 128 pixels, ")


def test_given_selector_and_scorer_are_used_as_they_are(data):
    X, labels, _ = data
    pca = PCA(3, random_state=0).fit(X)
    Z = pca.transform(X)
    selector = InformativeDimensionSelector(redundancy=0.5).fit(Z)
    scorer = LatentCorrelationScorer(n_bootstrap=0).fit(Z, labels)  # every latent
    a = analyse(pca, X, labels, codes=Z, selector=selector, scorer=scorer)
    assert a.selector is selector and a.scorer is scorer
    assert a.scored.all()
    assert a.log_var is None and a.summary["labels"]["teff"]["mi_std"] is None


def test_without_labels_nothing_is_scored(data, autoencoder):
    X, _, _ = data
    a = analyse(autoencoder, X)
    assert a.labels is None and a.scorer is None and not a.scored.any()
    assert "labels" not in a.summary and a.summary["n_epochs"] == 3


def test_bad_input_is_named(data):
    X, labels, wave = data
    pca = PCA(2).fit(X)
    with pytest.raises(ValueError, match="at least 4 spectra; X has 2"):
        analyse(pca, X[:2])
    with pytest.raises(ValueError, match="y has 10 rows but X has 400"):
        analyse(pca, X, labels.iloc[:10])
    with pytest.raises(ValueError, match="wavelength has shape \\(5,\\) but X has 128 pixels"):
        analyse(pca, X, wavelength=wave[:5])
    with pytest.raises(ValueError, match="n_examples must be a positive integer; got 0"):
        analyse(pca, X, n_examples=0)
    with pytest.raises(Exception, match="not fitted"):
        analyse(PCA(2), X)


def test_codes_that_do_not_match_the_spectra_are_refused(data, autoencoder):
    X = data[0]
    mean, log_var = autoencoder.encode(X)
    with pytest.raises(ValueError, match="one code per spectrum"):
        analyse(autoencoder, X, codes=mean[:-1])
    with pytest.raises(ValueError, match="log-variances"):
        analyse(autoencoder, X, codes=(mean, log_var[:, :2]))


def _count_encoded_spectra(monkeypatch, ae) -> list:
    """Count the spectra each call of ``encode`` or ``transform`` reads."""
    counts = []
    for name in ("encode", "transform"):
        method = getattr(ae, name)

        def counted(X, method=method):
            counts.append(len(X))
            return method(X)

        monkeypatch.setattr(ae, name, counted)
    return counts


def test_an_archive_on_disk_is_encoded_once_or_not_at_all(tmp_path, data, autoencoder, monkeypatch):
    X, labels, wave = data
    codes = autoencoder.encode(X)
    counts = _count_encoded_spectra(monkeypatch, autoencoder)
    path = tmp_path / "X.npy"
    np.save(path, X.astype(np.float32))
    mm = np.load(path, mmap_mode="r")
    first = analyse(autoencoder, mm, labels, wavelength=wave, random_state=0)
    assert counts == [len(X)]  # the archive once; the examples decode its codes
    counts.clear()
    second = analyse(autoencoder, mm, labels, codes=codes, wavelength=wave, random_state=0)
    assert counts == []
    assert first.summary == second.summary
    assert first.summary["n_informative_kl"] == second.summary["n_informative"]


def test_the_unusual_spectra_are_ranked_and_the_first_kept_with_their_drawings(
    data, autoencoder, tmp_path
):
    X, _, wave = data
    X = X.copy()
    X[123, 40:43] += 2.0  # a cosmic ray
    on_disk = np.lib.format.open_memmap(tmp_path / "X.npy", "w+", X.dtype, X.shape)
    on_disk[:] = X
    a = analyse(autoencoder, on_disk, wavelength=wave, n_unusual=2, random_state=0)
    table = a.unusual.table
    assert len(table) == len(X) and list(table["score"]) == sorted(table["score"])
    np.testing.assert_allclose(table.sort_index()["score"], autoencoder.score_samples(X))
    assert table.index[0] == 123 and table["peak_pixel"].iloc[0] in (40, 41, 42)
    np.testing.assert_array_equal(a.unusual.index, table.index[:2])
    np.testing.assert_array_equal(a.unusual.spectra, X[a.unusual.index])
    np.testing.assert_allclose(
        a.unusual.reconstructions, autoencoder.inverse_transform(a.codes[a.unusual.index])
    )
    facts = a.summary["unusual"]
    assert facts["threshold"] == -5.0 and facts["most_unusual"][0]["row"] == 123
    assert facts["most_unusual"][0]["peak_wavelength"] == pytest.approx(
        wave[table["peak_pixel"].iloc[0]]
    )
    assert facts["n_beyond_threshold"] == int((table["score"] < -5).sum()) >= 1
    json.dumps(a.summary)  # plain Python types


def test_no_ranking_without_a_score_or_when_asked_not_to(data, autoencoder):
    X, _, _ = data
    assert analyse(PCA(3).fit(X), X).unusual is None
    a = analyse(autoencoder, X, n_unusual=0)
    assert a.unusual is None and "unusual" not in a.summary
    with pytest.raises(ValueError, match="n_unusual"):
        analyse(autoencoder, X, n_unusual=-1)


def test_a_chi2_model_ranks_the_unusual_spectra_with_their_noise(data):
    """Its residuals are in noise units: ranked with ivar, skipped without (not guessed)."""
    X, _, _ = data
    X = X.copy()
    ivar = np.full(X.shape, 1e4)
    ae = SpectralAutoencoder(3, loss="chi2", max_epochs=3, random_state=0).fit(X, ivar=ivar)
    X[77, 60:62] += 2.0  # a cosmic ray
    assert analyse(ae, X, random_state=0).unusual is None
    a = analyse(ae, X, ivar=ivar, n_unusual=1, random_state=0)
    assert a.unusual.index[0] == 77 and a.unusual.table["peak_pixel"].iloc[0] in (60, 61)
    np.testing.assert_allclose(
        a.unusual.table.sort_index()["score"], ae.score_samples(X, ivar=ivar)
    )
