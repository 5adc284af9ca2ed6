"""The skspecrep command line."""

import pytest

from skspecrep.cli import main


def test_demo_prints_a_real_summary(capsys):
    code = main(["demo", "--n-spectra", "300", "--n-pixels", "256", "--epochs", "3", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Trained 3 epochs" in out
    assert "PCA, 8 components" in out
    assert "Informative latents:" in out and "by KL" in out and "by MAD" in out
    assert "Physics score on held-out spectra" in out
    best = out.split("Best latent per factor")[1]
    for factor in ("teff", "logg", "metallicity", "radial_velocity", "vsini"):
        assert factor in best


def test_demo_rejects_nonsense_sizes(capsys):
    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_help_lists_the_demo(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_gallery_examples_run(monkeypatch):
    """Every examples/plot_*.py runs to the end (matplotlib without a screen)."""
    import pathlib
    import runpy

    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: None)
    examples = sorted(pathlib.Path(__file__).parents[1].joinpath("examples").glob("plot_*.py"))
    assert examples
    for path in examples:
        runpy.run_path(str(path), run_name="__main__")
