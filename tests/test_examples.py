"""The sphinx-gallery examples (examples/plot_*.py): each runs to the end and draws."""

import pathlib

import pytest

EXAMPLES = sorted(pathlib.Path(__file__).parents[1].joinpath("examples").glob("plot_*.py"))
# Over 10 s on two cores; the rest take a few seconds each.
SLOW_EXAMPLES = {
    "plot_quickstart.py",
    "plot_grid_search.py",
    "plot_mutual_info.py",
    "plot_latent_stability.py",
    "plot_your_archive.py",
    "plot_a_few_labels.py",
    "plot_unusual_spectra.py",
}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.name in SLOW_EXAMPLES else [])
        for p in EXAMPLES
    ],
)
def test_gallery_example_runs(monkeypatch, path):
    """Each examples/plot_*.py runs to the end at its default size (matplotlib without a screen)."""
    import runpy

    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: None)
    runpy.run_path(str(path), run_name="__main__")
    import matplotlib.pyplot as plt

    assert plt.get_fignums(), f"{path.name} drew no figure"
    plt.close("all")


def test_every_example_is_tested():
    assert len(EXAMPLES) == 10
