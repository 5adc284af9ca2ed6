"""write_report: the page, figures and numbers it renders from an analysis."""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from skspecrep import InformativeDimensionSelector, LatentCorrelationScorer, SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra
from skspecrep.inspection import analyse, seed_stability
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
    report = write_report(tmp_path, analyse(pca, X, labels, wavelength=wave, random_state=0))
    # The same analysis done by hand gives the same numbers.
    Z = pd.DataFrame(pca.transform(X), columns=[f"z{j}" for j in range(4)])
    selector = InformativeDimensionSelector().fit(Z)
    # Only the informative latents are ranked against the labels.
    kept = Z.loc[:, selector.get_support()]
    assert 0 < kept.shape[1] < 4
    scorer = LatentCorrelationScorer(random_state=0).fit(kept, labels)
    summary = json.loads(report.summary.read_text())
    assert summary == report.results
    assert summary["n_spectra"] == 400 and summary["n_pixels"] == 128
    assert summary["n_informative"] == selector.get_support().sum()
    assert summary["n_independent"] == selector.n_independent_
    for m, label in enumerate(LABELS):
        entry = summary["labels"][label]
        j = scorer.best_latent_[m]
        assert entry["best_latent"] == kept.columns[j]
        assert entry["mi"] == pytest.approx(scorer.mi_[j, m])
        assert entry["mi_std"] == pytest.approx(scorer.mi_std_[j, m])
        assert entry["mutual_info_gap"]["20"] == pytest.approx(scorer.mutual_info_gap_[2, m])
    latents = pd.read_csv(report.latents)
    np.testing.assert_allclose(latents["mad"], selector.mad_)
    assert latents["kl"].isna().all()  # PCA has no posterior
    pairs = pd.read_csv(report.mutual_information)
    assert len(pairs) == kept.shape[1] * len(LABELS)
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
    report = write_report(tmp_path, analyse(ae, X), title="A <test> run")
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
    # The most unusual spectra are drawn, and the ranking's head is shown.
    assert "unusual" in report.figures
    html = report.html.read_text()
    assert "Unusual spectra" in html and "largest part" not in html.split("Unusual")[0]
    assert summary["unusual"]["most_unusual"][0]["row"] == int(analyse(ae, X).unusual.index[0])


def test_a_collapsed_model_is_not_scored_against_the_labels(tmp_path, data):
    X, labels, _ = data
    ae = SpectralAutoencoder(3, beta=10.0, kl_warmup=(0, 0), max_epochs=3, random_state=0)
    with pytest.warns(UserWarning):  # collapse, and worse than PCA
        ae.fit(X)
    report = write_report(tmp_path, analyse(ae, X, labels))
    assert report.results["n_informative_kl"] == 0
    # A collapsed latent's tiny variations rank-correlate with labels: not shown as tracking.
    assert "labels" not in report.results and report.mutual_information is None
    assert "mi_heatmap" not in report.figures
    assert "No latent is informative, so none is scored" in report.html.read_text()


def test_anything_but_an_analysis_is_refused(tmp_path, data):
    pca = PCA(2).fit(data[0])
    with pytest.raises(TypeError, match="what skspecrep.inspection.analyse returned; got PCA"):
        write_report(tmp_path, pca)


def test_the_report_computes_nothing_and_renders_the_same_tables_twice(tmp_path, data):
    X, labels, wave = data
    ae = SpectralAutoencoder(3, max_epochs=2, random_state=0).fit(X)
    fits = [PCA(3, svd_solver="randomized", random_state=s).fit(X) for s in range(2)]
    stability = seed_stability(fits, X, labels)
    analysis = analyse(ae, X, labels, wavelength=wave, stability=stability, random_state=0)

    def refuse(*args, **kwargs):
        raise AssertionError("the report ran a model or fitted something")

    # Every way of computing: running the model, fitting a selector or a scorer.
    with pytest.MonkeyPatch.context() as mp:
        for name in ("encode", "transform", "inverse_transform", "fit", "predict"):
            mp.setattr(ae, name, refuse, raising=False)
        mp.setattr(InformativeDimensionSelector, "fit", refuse)
        mp.setattr(LatentCorrelationScorer, "fit", refuse)
        first = write_report(tmp_path / "a", analysis)
        second = write_report(tmp_path / "b", analysis)
    for name in ("summary.json", "latents.csv", "mutual_information.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.results is analysis.summary
    assert set(first.figures) == set(second.figures) >= {"training", "stability", "mi_heatmap"}


def test_fit_warnings_head_the_report(tmp_path, data):
    X, _, _ = data
    ae = SpectralAutoencoder(2, beta=10.0, kl_warmup=(0, 0), max_epochs=2, random_state=0)
    with pytest.warns(UserWarning):
        ae.fit(X)
    report = write_report(tmp_path, analyse(ae, X))
    assert report.results["warnings"] == [str(w) for w in ae.fit_warnings_]
    assert any("Every latent collapsed" in w for w in report.results["warnings"])
    page = report.html.read_text()
    assert page.count("class='warning'") == len(ae.fit_warnings_)
    assert page.index("Every latent collapsed") < page.index("<h2>")
    # The collapsed model is worse than PCA: both errors head the page too.
    assert report.results["reconstruction_error"] == ae.reconstruction_error_
    assert report.results["pca_reconstruction_error"] == ae.pca_reconstruction_error_
    assert ae.reconstruction_error_ > ae.pca_reconstruction_error_
    assert page.index("worse than PCA") < page.index("<h2>")
    assert page.index(f"{ae.pca_reconstruction_error_:.4g}") < page.index("<h2>")


def test_stability_across_seeds_has_its_section(tmp_path, data):
    X, labels, _ = data
    fits = [PCA(3, svd_solver="randomized", random_state=s).fit(X) for s in range(3)]
    stability = seed_stability(fits, X, labels, random_state=0)
    report = write_report(tmp_path, analyse(fits[0], X, labels, stability=stability))
    assert "stability" in report.figures
    assert "Stability across seeds" in report.html.read_text()
    saved = json.loads(report.summary.read_text())["stability"]
    assert saved["n_models"] == 3 and len(saved["udr"]) == 3
    assert [row["latent"] for row in saved["latents"]] == stability.latents["latent"].tolist()
    assert {row["label"] for row in saved["latents"]} <= set(LABELS)
