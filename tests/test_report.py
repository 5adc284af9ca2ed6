"""write_report: the HTML page, its figures and its machine-readable numbers."""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from skspecrep import InformativeDimensionSelector, LatentCorrelationScorer, SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra
from skspecrep.report import write_report

matplotlib.use("Agg")
LABELS = ["teff", "radial_velocity"]


@pytest.fixture(scope="module")
def data():
    X, labels, wave = make_stellar_spectra(400, n_pixels=128, random_state=0)
    return X, labels[LABELS], wave


def test_pca_report_holds_the_fitted_numbers(tmp_path, data):
    X, labels, wave = data
    pca = PCA(n_components=4, random_state=0).fit(X)
    report = write_report(tmp_path, pca, X, labels, wavelength=wave, random_state=0)
    # The same analysis done by hand gives the same numbers.
    Z = pd.DataFrame(pca.transform(X), columns=[f"z{j}" for j in range(4)])
    selector = InformativeDimensionSelector().fit(Z)
    scorer = LatentCorrelationScorer(random_state=0).fit(Z, labels)
    summary = json.loads(report.summary.read_text())
    assert summary == report.results
    assert summary["n_spectra"] == 400 and summary["n_pixels"] == 128
    assert summary["n_informative"] == selector.get_support().sum()
    assert summary["n_independent"] == selector.n_independent_
    for m, label in enumerate(LABELS):
        entry = summary["labels"][label]
        j = scorer.best_latent_[m]
        assert entry["best_latent"] == f"z{j}"
        assert entry["mi"] == pytest.approx(scorer.mi_[j, m])
        assert entry["mi_std"] == pytest.approx(scorer.mi_std_[j, m])
        assert entry["mutual_info_gap"]["20"] == pytest.approx(scorer.mutual_info_gap_[2, m])
    latents = pd.read_csv(report.latents)
    np.testing.assert_allclose(latents["mad"], selector.mad_)
    assert latents["kl"].isna().all()  # PCA has no posterior
    pairs = pd.read_csv(report.mutual_information)
    assert len(pairs) == 4 * len(LABELS)
    # No training or KL figure for PCA; every figure is embedded in the page.
    assert set(report.figures) == {
        "reconstructions", "informative_mad", "independence", "mi_heatmap", "best_latent",
        "traversal",
    }  # fmt: skip
    html = report.html.read_text()
    assert html.count("data:image/png;base64,") == len(report.figures)
    for path in report.figures.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table" in html and "radial_velocity" in html


def test_autoencoder_report_adds_training_and_kl_and_works_without_labels(tmp_path, data):
    X, _, _ = data
    ae = SpectralAutoencoder(3, max_epochs=2, validation_fraction=0.2, random_state=0).fit(X)
    report = write_report(tmp_path, ae, X, title="A <test> run")
    assert {"training", "informative_kl", "informative_mad"} <= set(report.figures)
    assert "mi_heatmap" not in report.figures and report.mutual_information is None
    assert not (tmp_path / "mutual_information.csv").exists()
    summary = report.results
    assert summary["n_epochs"] == 2 and "labels" not in summary
    assert summary["n_informative_kl"] + summary["n_informative_mad"] >= 1
    latents = pd.read_csv(report.latents)
    selector = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(X)
    np.testing.assert_allclose(latents["kl"], selector.kl_, rtol=1e-6)
    # Collapsed latents are not traversed; informative ones change the spectrum.
    traversed = latents["traversal_amplitude"].notna()
    np.testing.assert_array_equal(traversed, selector.kl_support_ | ~selector.kl_support_.any())
    assert (latents.loc[traversed, "traversal_amplitude"] > 0).all()
    assert "A &lt;test&gt; run" in report.html.read_text()


def test_bad_input_is_named(tmp_path, data):
    X, labels, _ = data
    pca = PCA(2).fit(X)
    with pytest.raises(ValueError, match="at least 4 spectra"):
        write_report(tmp_path, pca, X[:2])
    with pytest.raises(ValueError, match="y has 10 rows but X has 400"):
        write_report(tmp_path, pca, X, labels.iloc[:10])
    with pytest.raises(Exception, match="not fitted"):
        write_report(tmp_path, PCA(2), X)
