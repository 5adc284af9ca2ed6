"""The skspecrep command line: demo, fit (with resume), analyze, and its errors."""

import json
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from skspecrep import MedianNormalizer
from skspecrep.cli import main
from skspecrep.cli._settings import LABEL_WEIGHT
from skspecrep.datasets import make_stellar_spectra
from skspecrep.io import load_model, read_spectra, save_model

FAST = ["--epochs", "2", "--n-components", "3", "--quiet"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """200 spectra of 128 pixels as .npy, their grid, and a labels CSV."""
    folder = tmp_path_factory.mktemp("synthetic")
    X, labels, wave = make_stellar_spectra(200, n_pixels=128, random_state=0)
    np.save(folder / "X.npy", X.astype(np.float32))
    np.save(folder / "wave.npy", wave)
    labels.to_csv(folder / "labels.csv", index=False)
    return folder, X, labels, wave


@pytest.fixture(scope="module")
def fits_folder(tmp_path_factory, synthetic):
    """The first 40 synthetic spectra as s1d FITS files on a linear grid."""
    _, X, labels, _ = synthetic
    folder = tmp_path_factory.mktemp("fits")
    for i in range(40):
        header = fits.Header({"CRVAL1": 5000.0, "CDELT1": 0.05, "OBJECT": f"star {i}"})
        fits.PrimaryHDU((X[i] * 1000).astype(np.float32), header).writeto(
            folder / f"s1d_{i:03d}.fits"
        )
    table = labels.iloc[:40].assign(file=[f"s1d_{i:03d}.fits" for i in range(40)])
    table.iloc[::-1].to_csv(folder / "labels.csv", index=False)  # reversed: match by name
    return folder


@pytest.fixture(scope="module")
def uneven_archive(tmp_path_factory, synthetic):
    """30 ADP files whose coverage differs by up to 0.3 A at each end, as archive products do."""
    _, X, labels, wave = synthetic
    folder = tmp_path_factory.mktemp("adp")
    rng = np.random.RandomState(1)
    step = wave[1] - wave[0]
    for i in range(30):
        cut_blue, cut_red = rng.randint(0, 7, size=2)  # up to 6 pixels of about 0.05 A
        keep = slice(cut_blue, len(wave) - cut_red)
        columns = [
            fits.Column(name=name, format=f"{wave[keep].size}{code}", array=values[keep][None])
            for name, code, values in [
                ("WAVE", "D", wave),
                ("FLUX", "E", X[i] * 1000),
                ("ERR", "E", np.full(len(wave), 3.0)),
            ]
        ]
        table = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
        header = fits.Header({"OBJECT": f"star {i % 10}"})
        fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(folder / f"ADP.{i:03d}.fits")
    assert step > 0
    return folder


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------- demo


def test_demo_prints_a_real_summary_and_writes_the_report(capsys, tmp_path):
    code, out, _ = run(
        capsys, "demo", "--n-spectra", "300", "--n-pixels", "256", "--epochs", "3",
        "--virtual-rv", "0", "--seeds", "1", "--quiet", "--output", tmp_path,
    )  # fmt: skip
    assert code == 0
    assert "Trained 3 epochs" in out
    assert "PCA, 8 components" in out
    assert "Informative latents:" in out and "by KL" in out and "by MAD" in out
    assert "Physics score on held-out spectra" in out
    best = out.split("Best latent per label")[1]
    for factor in ("teff", "logg", "metallicity", "radial_velocity", "vsini"):
        assert factor in best
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 9  # the unusual spectra are the ninth
    assert "explorer.html" in html and (tmp_path / "explorer.html").is_file()
    assert (tmp_path / "unusual.csv").is_file() and "Unusual spectra:" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_spectra"] == 300 and summary["n_components"] == 8
    assert set(summary["labels"]) == {"teff", "logg", "metallicity", "radial_velocity", "vsini"}


def test_demo_with_doppler_pairs_and_seeds_shows_the_velocity_latent_and_stability(
    capsys, tmp_path
):
    code, out, err = run(
        capsys, "demo", "--n-spectra", "200", "--n-pixels", "128", "--epochs", "2",
        "--n-components", "3", "--virtual-rv", "60", "--seeds", "2", "--quiet",
        "--output", tmp_path,
    )  # fmt: skip
    assert code == 0
    assert "Velocity latent z0 on held-out spectra: |Spearman rho|" in out
    assert "Training seed 1 (2 of 2)" in out
    assert "Stability over 2 seeds" in out and "reproduced" in out
    # Two epochs end inside the KL warm-up: said once, in the command's words.
    assert err.count("Warning: Training stopped after 2 epochs") == 2
    assert "TrainingNotConvergedWarning" not in err
    assert out.count("Reconstruction error on ") == 2 and "components" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["velocity_latent"] == "z0" and summary["velocity_scale_kms"] == 60.0
    assert summary["stability"]["n_models"] == 2
    assert "Stability across seeds" in (tmp_path / "report.html").read_text()
    # The demo's labels choose between the seeds, and the spread is shown.
    chosen = summary["stability"]["chosen_by_labels"]
    assert f"Chosen by the labels: seed {chosen} (mean |rho|" in out
    assert len(summary["stability"]["label_score"]) == 2


def test_nonsense_sizes_fail_with_a_message(capsys):
    code, _, err = run(capsys, "demo", "--epochs", "0")
    assert code == 2
    assert "--epochs must be at least 1" in err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "fit", "analyze"):
        assert command in out
    for command in ("demo", "fit", "analyze"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "usage: skspecrep " + command in capsys.readouterr().out


# ------------------------------------------------------------- fit, analyze


def test_fit_writes_model_codes_and_report_then_analyze_reproduces_the_codes(
    capsys, tmp_path, synthetic
):
    folder, X, labels, _ = synthetic
    out = tmp_path / "run"
    code, stdout, _ = run(
        capsys, "fit", folder / "X.npy", "--wavelength", folder / "wave.npy",
        "--labels", folder / "labels.csv", "--output", out, *FAST, "--decorrelation", "1e-3",
    )  # fmt: skip
    assert code == 0, stdout
    assert "constant, not scored: snr" in stdout
    for name in ("model.skspecrep", "codes.npy", "codes.csv", "checkpoint.pt", "report.html",
                 "summary.json", "latents.csv", "mutual_information.csv"):  # fmt: skip
        assert (out / name).is_file(), name
    model = load_model(out / "model.skspecrep")
    assert model[-1].decorrelation == 1e-3
    assert model[-1].architecture == "auto"  # arrays keep the estimator's default network
    codes = np.load(out / "codes.npy")
    np.testing.assert_allclose(codes, model.transform(X.astype(np.float32)), rtol=1e-6)
    table = pd.read_csv(out / "codes.csv")
    assert list(table.columns) == ["spectrum", "z0", "z1", "z2", "sigma_z0", "sigma_z1",
                                   "sigma_z2"]  # fmt: skip
    assert (table[["sigma_z0", "sigma_z1", "sigma_z2"]] > 0).all().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_epochs"] == 2 and "teff" in summary["labels"]
    # Every spectrum ranked from the most unusual, named as in codes.csv.
    unusual = pd.read_csv(out / "unusual.csv")
    assert list(unusual.columns[:4]) == ["spectrum", "row", "score", "part"]
    assert sorted(unusual["row"]) == list(range(len(X)))
    assert list(unusual["score"]) == sorted(unusual["score"])
    np.testing.assert_array_equal(unusual["spectrum"], table["spectrum"][unusual["row"]])
    np.testing.assert_allclose(
        unusual.sort_values("row")["score"], model.score_samples(X.astype(np.float32)),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip
    first = unusual.iloc[0]
    assert f"{first['spectrum']}: score {first['score']:.1f}, largest part" in stdout

    again = tmp_path / "analysis"
    code, stdout, _ = run(
        capsys, "analyze", out / "model.skspecrep", folder / "X.npy", "--labels",
        folder / "labels.csv", "--output", again, "--quiet",
    )  # fmt: skip
    assert code == 0, stdout
    np.testing.assert_array_equal(np.load(again / "codes.npy"), codes)
    assert (again / "report.html").is_file()


def test_fit_ties_the_supervised_columns_to_latents_of_their_own(capsys, tmp_path, synthetic):
    """Labels known for a third of the spectra; the rest of the table is only scored."""
    folder, X, labels, _ = synthetic
    partial = labels.copy()
    unknown = np.random.RandomState(0).rand(len(partial)) > 0.33
    partial.loc[unknown, ["teff", "logg"]] = np.nan
    partial.to_csv(tmp_path / "partial.csv", index=False)
    out = tmp_path / "run"
    code, stdout, _ = run(
        capsys, "fit", folder / "X.npy", "--labels", tmp_path / "partial.csv",
        "--supervise", "teff,logg", "--output", out, *FAST,
    )  # fmt: skip
    assert code == 0, stdout
    assert "Labelled latents (error of each as its label, on held-out labelled spectra):" in stdout
    assert "  z0 = teff (+- " in stdout and "  z1 = logg (+- " in stdout
    ae = load_model(out / "model.skspecrep")[-1]
    assert ae.label_weight == LABEL_WEIGHT
    assert list(ae.label_names_) == ["teff", "logg"]
    summary = json.loads((out / "summary.json").read_text())
    assert {"teff", "vsini"} <= set(summary["labels"])  # every column is still scored
    assert summary["labelled_latents"]["logg"]["latent"] == "z1"
    assert summary["labelled_latents"]["teff"]["error"] == pytest.approx(ae.label_error_[0])
    page = (out / "report.html").read_text()
    assert "Labelled latents" in page and "<td>logg</td>" in page

    code, stdout, _ = run(
        capsys, "analyze", out / "model.skspecrep", folder / "X.npy", "--output",
        tmp_path / "again", "--quiet",
    )  # fmt: skip
    assert code == 0 and "  z0 = teff (+- " in stdout


def test_an_interrupted_fit_resumes_to_the_uninterrupted_result(capsys, tmp_path, synthetic):
    folder = synthetic[0]
    base = [folder / "X.npy", "--n-components", "3", "--quiet", "--no-report"]
    assert run(capsys, "fit", *base, "--output", tmp_path / "straight", "--epochs", "4")[0] == 0
    # An interrupted run is one whose checkpoint holds fewer epochs than asked for.
    assert run(capsys, "fit", *base, "--output", tmp_path / "resumed", "--epochs", "2")[0] == 0
    code, out, _ = run(capsys, "fit", *base, "--output", tmp_path / "resumed", "--epochs", "4")
    assert code == 0
    assert "Resuming from" in out and "Trained 4 epochs" in out
    np.testing.assert_array_equal(
        np.load(tmp_path / "resumed" / "codes.npy"), np.load(tmp_path / "straight" / "codes.npy")
    )
    # Another bottleneck cannot continue this checkpoint, and says how to start over.
    code, _, err = run(
        capsys, "fit", folder / "X.npy", "--n-components", "4", "--epochs", "1", "--quiet",
        "--no-report", "--output", tmp_path / "resumed",
    )  # fmt: skip
    assert code == 2 and "n_components differ" in err and "--restart" in err
    code, _, _ = run(
        capsys, "fit", folder / "X.npy", "--n-components", "4", "--epochs", "1", "--quiet",
        "--no-report", "--output", tmp_path / "resumed", "--restart",
    )  # fmt: skip
    assert code == 0


def test_ctrl_c_during_training_exits_130_and_the_same_command_resumes(
    capsys, tmp_path, synthetic, monkeypatch
):
    from skspecrep._training._data import SpectraDataset

    folder = synthetic[0]
    base = [folder / "X.npy", "--n-components", "3", "--quiet", "--no-report",
            "--validation-fraction", "0", "--epochs", "3"]  # fmt: skip
    assert run(capsys, "fit", *base, "--output", tmp_path / "straight")[0] == 0
    read = SpectraDataset.__getitems__
    calls = []

    def interrupt_in_epoch_two(self, positions):
        calls.append(1)
        if len(calls) == 7 + 2:  # 200 spectra: 7 batches an epoch
            raise KeyboardInterrupt
        return read(self, positions)

    monkeypatch.setattr(SpectraDataset, "__getitems__", interrupt_in_epoch_two)
    code, _, err = run(capsys, "fit", *base, "--output", tmp_path / "resumed")
    assert code == 130
    assert "Interrupted after 1 complete epoch(s)" in err and "again to resume" in err
    assert "Warning" not in err  # said in the command's words, not as a Python warning
    assert not (tmp_path / "resumed" / "model.skspecrep").exists()
    monkeypatch.setattr(SpectraDataset, "__getitems__", read)
    code, out, _ = run(capsys, "fit", *base, "--output", tmp_path / "resumed")
    assert code == 0 and "Resuming from" in out and "Trained 3 epochs, all epochs run" in out
    np.testing.assert_array_equal(
        np.load(tmp_path / "resumed" / "codes.npy"), np.load(tmp_path / "straight" / "codes.npy")
    )


def test_a_collapsed_model_is_not_scored_against_the_labels(capsys, tmp_path, synthetic):
    folder, _, _, _ = synthetic
    code, stdout, _ = run(
        capsys, "fit", folder / "X.npy", "--labels", folder / "labels.csv", "--beta", "10",
        "--kl-warmup", "0", "0", "--output", tmp_path, "--no-report", *FAST,
    )  # fmt: skip
    assert code == 0, stdout
    assert "Informative latents: 0 of 3 by KL" in stdout
    assert "No latent is informative, so none is scored against the labels." in stdout
    assert "Best latent per label" not in stdout


def test_fit_and_analyze_encode_the_archive_once(capsys, tmp_path, synthetic, monkeypatch):
    """The codes written, the selection and the report all come from one pass."""
    from skspecrep import SpectralAutoencoder

    folder, X, _, _ = synthetic
    passes = []
    for name in ("encode", "transform"):
        method = getattr(SpectralAutoencoder, name)

        def counted(self, Z, method=method, name=name):
            if len(Z) == len(X):
                passes.append(name)
            return method(self, Z)

        monkeypatch.setattr(SpectralAutoencoder, name, counted)
    out = tmp_path / "run"
    code, stdout, _ = run(
        capsys, "fit", folder / "X.npy", "--labels", folder / "labels.csv", "--output", out,
        *FAST,
    )  # fmt: skip
    assert code == 0, stdout
    assert passes == ["encode"]
    passes.clear()
    code, stdout, _ = run(
        capsys, "analyze", out / "model.skspecrep", folder / "X.npy",
        "--output", tmp_path / "again", "--quiet",
    )  # fmt: skip
    assert code == 0, stdout
    assert passes == ["encode"]


def test_fit_reads_fits_by_glob_and_list_and_matches_labels_by_file_name(
    capsys, tmp_path, fits_folder
):
    pattern = str(fits_folder / "s1d_*.fits")
    code, out, err = run(
        capsys, "fit", pattern, "--labels", fits_folder / "labels.csv", "--id-column", "file",
        "--output", tmp_path / "glob", *FAST,
    )  # fmt: skip
    assert code == 0, err
    codes = pd.read_csv(tmp_path / "glob" / "codes.csv")
    assert codes["spectrum"].iloc[0] == "s1d_000.fits" and len(codes) == 40
    mi = pd.read_csv(tmp_path / "glob" / "mutual_information.csv")
    assert set(mi["label"]) == {"teff", "logg", "metallicity", "radial_velocity", "vsini"}
    # The labels were reversed in the file; matched by name they follow the spectra.
    summary = json.loads((tmp_path / "glob" / "summary.json").read_text())
    assert summary["labels"]["teff"]["n_samples"] == 40
    listing = tmp_path / "files.txt"
    names = sorted(os.listdir(fits_folder))
    listing.write_text(
        "# the synthetic stars\n"
        + "\n".join(str(fits_folder / n) for n in names if n.endswith(".fits"))
    )
    code, _, err = run(capsys, "fit", listing, "--output", tmp_path / "list", *FAST, "--no-report")
    assert code == 0, err
    np.testing.assert_array_equal(
        np.load(tmp_path / "list" / "codes.npy"), np.load(tmp_path / "glob" / "codes.npy")
    )
    # analyze reads and normalises the files as fit did: the same codes.
    code, _, err = run(capsys, "analyze", tmp_path / "glob" / "model.skspecrep", pattern,
                       "--output", tmp_path / "again", "--quiet", "--no-report")  # fmt: skip
    assert code == 0, err
    np.testing.assert_array_equal(
        np.load(tmp_path / "again" / "codes.npy"), np.load(tmp_path / "glob" / "codes.npy")
    )


def test_fit_and_analyze_an_archive_whose_files_differ_in_coverage(
    capsys, tmp_path, uneven_archive, synthetic
):
    wave = synthetic[3]
    pattern = str(uneven_archive / "ADP.*.fits")
    code, out, err = run(capsys, "fit", pattern, "--output", tmp_path / "run", *FAST,
                         "--no-report", "--n-jobs", "2")  # fmt: skip
    assert code == 0, err
    assert "Read 30 of 30 files" in out and "files/s" in out
    grid = load_model(tmp_path / "run" / "model.skspecrep")[-1].wavelength
    # Spectrum files are real spectra: the dense decoder, said before training.
    assert "(architecture dense) ..." in out
    assert load_model(tmp_path / "run" / "model.skspecrep")[-1].architecture == "dense"
    # The range every file covers: no file reaches past 6 pixels in from either end.
    assert wave[0] < grid[0] <= wave[6] and wave[-7] <= grid[-1] < wave[-1]
    assert f"{grid.size:,} pixels, the range every file covers (blue end set by ADP." in out
    assert np.isfinite(np.load(tmp_path / "run" / "codes.npy")).all()

    # A window that some files do not cover: named, or skipped and listed.
    window = ["--wavelength-range", f"{wave[3]:.4f}", f"{wave[-4]:.4f}"]
    code, _, err = run(capsys, "fit", pattern, "--output", tmp_path / "w", *FAST, *window)
    assert code == 2 and "ADP." in err and "not all of wavelength_range" in err
    assert "--on-error skip" in err
    code, out, err = run(capsys, "fit", pattern, "--output", tmp_path / "w", *FAST, *window,
                         "--on-error", "skip", "--no-report")  # fmt: skip
    assert code == 0, err
    skipped = pd.read_csv(tmp_path / "w" / "skipped.csv")
    n_read = len(np.load(tmp_path / "w" / "codes.npy"))
    assert len(skipped) + n_read == 30 and len(skipped) > 0
    assert skipped["reason"].str.contains("not all of wavelength_range").all()

    # analyze reads new files onto the model's grid, whatever their own coverage.
    code, out, err = run(capsys, "analyze", tmp_path / "run" / "model.skspecrep", pattern,
                         "--output", tmp_path / "again", "--quiet", "--no-report")  # fmt: skip
    assert code == 0, err
    assert "the model's grid" in out
    np.testing.assert_array_equal(
        np.load(tmp_path / "again" / "codes.npy"), np.load(tmp_path / "run" / "codes.npy")
    )

    # A grid uniform in log-wavelength, 200 km/s a pixel, over a window.
    code, out, err = run(capsys, "fit", pattern, "--output", tmp_path / "log", *FAST, *window,
                         "--no-report", "--log-step", "200", "--on-error", "skip")  # fmt: skip
    assert code == 0, err
    log_grid = load_model(tmp_path / "log" / "model.skspecrep")[-1].wavelength
    velocity = 299792.458 * np.diff(np.log(log_grid))
    np.testing.assert_allclose(velocity, 200.0, rtol=1e-9)

    # Without a window, the stepped grid spans the range every file covers.
    code, out, err = run(capsys, "fit", pattern, "--output", tmp_path / "logc", *FAST,
                         "--no-report", "--log-step", "200")  # fmt: skip
    assert code == 0, err
    assert "the range every file covers" in out
    common = load_model(tmp_path / "run" / "model.skspecrep")[-1].wavelength
    log_grid = load_model(tmp_path / "logc" / "model.skspecrep")[-1].wavelength
    np.testing.assert_allclose(299792.458 * np.diff(np.log(log_grid)), 200.0, rtol=1e-9)
    one_step = 200.0 / 299792.458
    assert 0 <= np.log(log_grid[0] / common[0]) < one_step
    assert 0 <= np.log(common[-1] / log_grid[-1]) < one_step


@pytest.mark.slow
def test_the_papers_recipe_in_one_flag(capsys, tmp_path):
    """HARPS-sized ADP files of differing coverage, three stars, one noise-only spectrum."""
    rng = np.random.RandomState(0)
    wave = 3781.0 + 0.01 * np.arange(313_200)
    for i, star in enumerate(["A", "A", "A", "A", "B", "B", "C"]):
        cut = rng.randint(0, 30, size=2)
        if i == 3:  # 3785.50-6909.50 A: half an Angstrom short at either end
            cut = (450, wave.size - 1 - 312_850)
        keep = slice(cut[0], wave.size - cut[1])
        level = 20.0 if star == "C" else 500.0 + 100 * i  # C: below the paper's noise median
        flux = (level * (1 + 0.1 * np.sin(wave[keep] / (3 + i)))).astype(np.float32)
        columns = [
            fits.Column(name="WAVE", format=f"{flux.size}D", array=wave[keep][None]),
            fits.Column(name="FLUX", format=f"{flux.size}E", array=flux[None]),
        ]
        table = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
        primary = fits.PrimaryHDU(header=fits.Header({"OBJECT": star}))
        fits.HDUList([primary, table]).writeto(tmp_path / f"ADP.{i}.fits")
    out = tmp_path / "paper"
    code, stdout, err = run(
        capsys, "fit", tmp_path / "ADP.*.fits", "--recipe", "sedaghat2021", "--epochs", "1",
        "--n-components", "4", "--validation-fraction", "0", "--output", out, "--quiet",
        "--no-report",
    )  # fmt: skip
    assert code == 0, err
    assert "Sampling weight 1/count per star (OBJECT): 7 spectra of 3 stars, up to 4" in stdout
    assert "1 spectra are noise only" in stdout
    assert "Training on 7 spectra of 327680 pixels" in stdout
    # Pixels of 3785-6910 that not every file covers are masked, and said in plain words.
    assert (
        "Warning: The spectra cover 3785.50-6909.50 Angstrom, not all of 3785-6910: the 100 "
        "HARPS pixels outside it are masked"
    ) in err
    model = load_model(out / "model.skspecrep")
    harps, ae = model[0], model[-1]
    assert type(harps).__name__ == "HARPSPreprocessor" and harps.median == "masked"
    assert ae.architecture == "sedaghat2021" and ae.n_components == 4  # the option wins
    assert ae.beta == pytest.approx(0.3 / 128) and ae.lr == 1e-4 and ae.batch_size == 32
    assert ae.kl_warmup == (5000.0, 20000.0)  # iterations 5,000-20,000 at one batch an epoch
    np.testing.assert_array_equal(ae.pixel_mask, harps.pixel_mask_)
    # analyze reads new files onto the recipe's input grid and gives the same codes.
    code, _, err = run(capsys, "analyze", out / "model.skspecrep", tmp_path / "ADP.*.fits",
                       "--output", tmp_path / "again", "--quiet")  # fmt: skip
    assert code == 0, err
    # The report draws the padded spectra the network saw, on their own grid.
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary["n_pixels"] == 327_680
    np.testing.assert_allclose(
        np.load(tmp_path / "again" / "codes.npy"), np.load(out / "codes.npy"), rtol=1e-5
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "{d}/nothing_*.fits", "--output", "{t}"], "No files match"),
        (["fit", "{d}/missing.npy", "--output", "{t}"], "missing.npy: no such file"),
        (["fit", "{d}/missing.txt", "--output", "{t}"], "no such list file"),
        (["fit", "{d}/X.npy", "--labels", "{d}/none.csv", "--output", "{t}"], "no such file"),
        (["fit", "{d}/X.npy", "--labels", "{d}/short.csv", "--output", "{t}"],
         "has 10 rows but 200 spectra"),
        (["fit", "{d}/X.npy", "--labels", "{d}/labels.csv", "--id-column", "star",
          "--output", "{t}"], "has no column 'star'"),
        (["fit", "{d}/X.npy", "--labels", "{d}/labels.csv", "--id-column", "teff",
          "--output", "{t}"], "has no row for 200 of 200 spectra (e.g. '0')"),
        (["fit", "{d}/X.npy", "--wavelength", "{d}/short.npy", "--output", "{t}"],
         "the spectra have 128 pixels"),
        (["fit", "{d}/bad.npy", "--output", "{t}"], "not a readable .npy"),
        (["fit", "{d}/nan.npy", "--output", "{t}"], "Spectrum 7 has NaN or infinite pixels"),
        (["fit", "{d}/X.npy", "--output", "{d}/X.npy"], "exists and is not a folder"),
        (["fit", "{d}/X.npy", "--virtual-rv", "50", "--output", "{t}"],
         "--virtual-rv shifts spectra on their wavelength grid"),
        (["fit", "{d}/X.npy", "--seeds", "0", "--output", "{t}"], "--seeds must be at least 1"),
        (["fit", "{d}/X.npy", "--decorrelation", "-1", "--output", "{t}"],
         "--decorrelation must be at least 0"),
        (["fit", "{d}/X.npy", "--supervise", "teff", "--output", "{t}"],
         "--supervise names columns of --labels: give --labels too"),
        (["fit", "{d}/X.npy", "--labels", "{d}/labels.csv", "--supervise", "teff,feh",
          "--output", "{t}"], "--labels has no numeric, varying column 'feh'; it has teff"),
        (["fit", "{d}/X.npy", "--labels", "{d}/labels.csv", "--supervise", "teff,teff",
          "--output", "{t}"], "names a column twice"),
        (["fit", "{d}/X.npy", "--labels", "{d}/labels.csv", "--label-weight", "2",
          "--output", "{t}"], "--label-weight weighs the labels of --supervise"),
        (["fit", "{d}/X.npy", "--labels", "{d}/labels.csv", "--supervise", "teff",
          "--label-weight", "0", "--output", "{t}"], "--label-weight must be above 0"),
        (["analyze", "{d}/X.npy", "{d}/X.npy", "--output", "{t}"],
         "X.npy: not a skspecrep model file (not a zip archive)"),
        (["analyze", "{d}/none.pkl", "{d}/X.npy", "--output", "{t}"], "no such model file"),
        (["fit", "{d}/X.npy", "--wavelength-range", "5000", "5010", "--output", "{t}"],
         "are for spectrum files"),
        (["fit", "{d}/X.npy", "--log-step", "2", "--output", "{t}"],
         "are for spectrum files"),
        (["fit", "{d}/X.npy", "--log-step", "0", "--output", "{t}"],
         "--log-step must be positive"),
        (["fit", "{d}/X.npy", "--wavelength-range", "5010", "5000", "--output", "{t}"],
         "needs 0 < LOW < HIGH"),
        (["fit", "{d}/X.npy", "--n-jobs", "0", "--output", "{t}"], "--n-jobs must be"),
        (["fit", "{d}/X.npy", "--recipe", "sedaghat2021", "--output", "{t}"],
         "give their wavelengths"),
        (["fit", "{d}/X.npy", "--wavelength", "{d}/wave.npy", "--recipe", "sedaghat2021",
          "--output", "{t}"], "needs spectra covering 3785-6910 A"),
        (["fit", "{d}/X.npy", "--recipe", "sedaghat2021", "--normalize", "median",
          "--output", "{t}"], "leave out --normalize"),
    ],
)  # fmt: skip
def test_bad_input_fails_with_a_clear_message_and_status_2(
    capsys, tmp_path, synthetic, argv, message
):
    folder, X, labels, _ = synthetic
    labels.iloc[:10].to_csv(tmp_path / "short.csv", index=False)
    np.save(tmp_path / "short.npy", np.arange(5.0))
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    X_nan = X.copy()
    X_nan[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", X_nan)
    for name in ("X.npy", "labels.csv", "wave.npy"):
        (tmp_path / name).symlink_to(folder / name)
    argv = [a.format(d=tmp_path, t=tmp_path / "out") for a in argv]
    extra = ["--epochs", "1"] if argv[0] == "fit" else []
    code, _, err = run(capsys, *argv, *extra, "--quiet")
    assert code == 2
    assert message in err
    assert err.startswith(f"skspecrep {argv[0]}: error:")


class _WritesAFile:
    """Unpickling this writes a file: proof that a pickle was opened."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.write_text, (pathlib.Path(self.path), "pickle was run")


def test_analyze_opens_pickles_only_when_allowed(capsys, tmp_path, synthetic):
    folder = synthetic[0]
    assert run(capsys, "fit", folder / "X.npy", "--output", tmp_path, *FAST, "--no-report")[0] == 0
    model = load_model(tmp_path / "model.skspecrep")
    with open(tmp_path / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    common = [folder / "X.npy", "--quiet", "--no-report"]
    code, _, err = run(
        capsys, "analyze", tmp_path / "model.pkl", *common, "--output", tmp_path / "a"
    )
    assert code == 2 and "--allow-pickle" in err and "run any code" in err
    code, _, err = run(capsys, "analyze", tmp_path / "model.pkl", *common, "--output",
                       tmp_path / "b", "--allow-pickle")  # fmt: skip
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "codes.npy"),
                                  np.load(tmp_path / "codes.npy"))  # fmt: skip
    # A hostile pickle is not opened without the flag.
    marker = tmp_path / "marker.txt"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_WritesAFile(marker)))
    code, _, err = run(
        capsys, "analyze", tmp_path / "evil.pkl", *common, "--output", tmp_path / "c"
    )
    assert code == 2 and not marker.exists()
    # A pickle that is also a model file (zip readers find the archive at the
    # end) is read as the model file, even with --allow-pickle.
    polyglot = tmp_path / "both.skspecrep"
    polyglot.write_bytes(
        pickle.dumps(_WritesAFile(marker)) + (tmp_path / "model.skspecrep").read_bytes()
    )
    code, _, err = run(capsys, "analyze", polyglot, *common, "--output", tmp_path / "p",
                       "--allow-pickle")  # fmt: skip
    assert code == 0, err
    assert not marker.exists()
    np.testing.assert_array_equal(np.load(tmp_path / "p" / "codes.npy"),
                                  np.load(tmp_path / "codes.npy"))  # fmt: skip
    # A model file changed after it was written is refused with the reason.
    tampered = tmp_path / "tampered.skspecrep"
    save_model(model, tampered)
    data = bytearray(tampered.read_bytes())
    data[-200] ^= 0xFF  # inside arrays.npz's stored bytes or the zip directory
    tampered.write_bytes(bytes(data))
    code, _, err = run(capsys, "analyze", tampered, *common, "--output", tmp_path / "d")
    assert code == 2 and "tampered.skspecrep" in err
    # A hostile one (JSON nested beyond Python's recursion limit): one line, no traceback.
    with zipfile.ZipFile(tmp_path / "model.skspecrep") as archive:
        arrays = archive.read("arrays.npz")
    with zipfile.ZipFile(tmp_path / "deep.skspecrep", "w") as archive:
        archive.writestr("model.json", b"[" * 100_000 + b"]" * 100_000)
        archive.writestr("arrays.npz", arrays)
    code, _, err = run(capsys, "analyze", tmp_path / "deep.skspecrep", *common, "--output",
                       tmp_path / "e")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "nested too deeply" in err


def test_analyze_refuses_spectra_on_another_grid(capsys, tmp_path, synthetic):
    folder = synthetic[0]
    assert run(capsys, "fit", folder / "X.npy", "--output", tmp_path, *FAST, "--no-report")[0] == 0
    np.save(tmp_path / "wide.npy", np.ones((5, 64), dtype=np.float32))
    code, _, err = run(capsys, "analyze", tmp_path / "model.skspecrep", tmp_path / "wide.npy",
                       "--output", tmp_path / "a", "--quiet")  # fmt: skip
    assert code == 2 and "64 pixels but the model was trained on 128" in err
    # Spectra streamed from a .npy are checked as they are encoded.
    X_nan = np.load(folder / "X.npy")
    X_nan[11, 5] = np.inf
    np.save(tmp_path / "inf.npy", X_nan)
    code, _, err = run(capsys, "analyze", tmp_path / "model.skspecrep", tmp_path / "inf.npy",
                       "--output", tmp_path / "b", "--quiet")  # fmt: skip
    assert code == 2 and "Spectrum 11 has NaN or infinite pixels" in err


def test_npy_spectra_stay_where_they_are_unless_normalised(synthetic, tmp_path, monkeypatch):
    from skspecrep.cli import _inputs as cli

    staging = tmp_path / "spectra.npy"
    X, _, ids, steps, _ = cli.load_spectra(str(synthetic[0] / "X.npy"), staging=staging)
    assert steps == [] and cli.prepare_spectra(X, None, ids, staging) is X
    assert not staging.exists()
    X, _, ids, steps, _ = cli.load_spectra(
        str(synthetic[0] / "X.npy"), staging=staging, normalize="median"
    )
    # Normalised a few spectra at a time, into the output folder, never in memory whole.
    monkeypatch.setattr(cli, "BLOCK_BYTES", 3 * 4 * X.shape[1])
    normalizer = MedianNormalizer()
    seen = []
    monkeypatch.setattr(normalizer, "transform", lambda block: seen.append(len(block)) or
                        MedianNormalizer().fit_transform(block))  # fmt: skip
    prepared = cli.prepare_spectra(X, normalizer, ids, staging, fit=True)
    assert isinstance(prepared, np.memmap) and pathlib.Path(prepared.filename) == staging
    assert normalizer.n_features_in_ == X.shape[1]
    assert set(seen) == {3, len(X) % 3} and sum(seen) == len(X)
    np.testing.assert_array_equal(prepared, MedianNormalizer().fit_transform(np.asarray(X)))
    assert np.array_equal(np.load(synthetic[0] / "X.npy"), synthetic[1].astype(np.float32))


def test_fits_spectra_are_read_to_disk_and_normalised_there(fits_folder, tmp_path, monkeypatch):
    from skspecrep.cli import _inputs as cli

    staging = tmp_path / "spectra.npy"
    monkeypatch.setattr(cli, "BLOCK_BYTES", 7 * 4 * 128)
    X, _, ids, steps, _ = cli.load_spectra(
        str(fits_folder / "s1d_*.fits"), staging=staging, quiet=True
    )
    assert [name for name, _ in steps] == ["normalize"]
    raw = np.array(X)
    prepared = cli.prepare_spectra(X, steps[0][1], ids, staging, fit=True)
    assert isinstance(prepared, np.memmap) and pathlib.Path(prepared.filename) == staging
    expected = read_spectra(str(fits_folder / "s1d_*.fits"), progress=False).flux
    np.testing.assert_array_equal(raw, expected)
    np.testing.assert_array_equal(prepared, MedianNormalizer().fit_transform(expected))


def test_spectra_that_cannot_be_prepared_are_named(capsys, tmp_path, fits_folder, synthetic):
    folder = tmp_path / "fits"
    folder.mkdir()
    for name in sorted(os.listdir(fits_folder))[:12]:
        if name.endswith(".fits"):
            (folder / name).symlink_to(fits_folder / name)
    # A file with a bad pixel inside the range every file covers.
    header = fits.Header({"CRVAL1": 5000.0, "CDELT1": 0.05})
    flux = np.ones(128, dtype=np.float32)
    flux[60] = np.nan
    fits.PrimaryHDU(flux, header).writeto(folder / "s1d_005x.fits")
    code, _, err = run(capsys, "fit", folder / "*.fits", "--output", tmp_path / "a", *FAST)
    assert code == 2 and "Spectrum s1d_005x.fits has NaN or infinite pixels" in err
    X = synthetic[1].astype(np.float32)
    X[9] = 0
    np.save(tmp_path / "zero.npy", X)
    code, _, err = run(capsys, "fit", tmp_path / "zero.npy", "--normalize", "median",
                       "--output", tmp_path / "b", *FAST)  # fmt: skip
    assert code == 2 and "Spectrum 9 has a median flux that is not positive" in err
    X[9], X[0, 4] = 1, np.inf
    np.save(tmp_path / "inf.npy", X)
    code, _, err = run(capsys, "fit", tmp_path / "inf.npy", "--normalize", "median",
                       "--output", tmp_path / "c", *FAST)  # fmt: skip
    assert code == 2 and "Spectrum 0 has NaN or infinite pixels" in err
    # The folder's own staging file cannot be the input: it would be overwritten.
    np.save(tmp_path / "b" / "spectra.npy", synthetic[1].astype(np.float32))
    code, _, err = run(capsys, "fit", tmp_path / "b" / "spectra.npy", "--output", tmp_path / "b",
                       *FAST)  # fmt: skip
    assert code == 2 and "choose another --output" in err


def test_model_settings_fill_in_the_recipe_and_leave_the_arguments_alone():
    import dataclasses

    from skspecrep.cli._parser import build_parser
    from skspecrep.cli._settings import ModelSettings

    args = build_parser().parse_args(
        [
            "fit",
            "X.npy",
            "--output",
            "o",
            "--recipe",
            "sedaghat2021",
            "--n-components",
            "4",
            "--lr",
            "1e-3",
        ]
    )
    before = vars(args).copy()
    settings = ModelSettings.from_args(args, recipe=args.recipe)
    assert vars(args) == before  # nothing written back into the parsed options
    # The options given win; the rest come from the recipe.
    assert (settings.n_components, settings.lr) == (4, 1e-3)
    assert (settings.architecture, settings.epochs, settings.beta) == (
        "sedaghat2021",
        182,
        0.3 / 128,
    )
    assert settings.kl_warmup is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.lr = 1.0
    default = ModelSettings.from_args(
        build_parser().parse_args(["fit", "X.npy", "--output", "o"]), "default"
    )
    assert default.kl_warmup == (1.0, 10.0) and default.architecture is None
    ae = default.autoencoder(None, quiet=True, validation_fraction=0.2)
    assert (ae.n_components, ae.max_epochs, ae.kl_warmup) == (16, "auto", (1.0, 10.0))
    assert (ae.verbose, ae.validation_fraction, ae.virtual_rv) == (0, 0.2, None)
