"""Figures: each shows the fitted numbers it claims to show."""

import sys

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skspecrep import (  # noqa: E402
    InformativeDimensionSelector,
    LatentCorrelationScorer,
    SpectralAutoencoder,
)
from skspecrep.plotting import (  # noqa: E402
    plot_best_latent,
    plot_informative_dimensions,
    plot_mi_heatmap,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def analysis():
    rng = np.random.RandomState(0)
    teff, rv = rng.normal(size=(2, 1500))
    Z = np.column_stack(
        [teff + 0.3 * rng.normal(size=1500), rng.normal(0, 0.004, 1500), np.tanh(rv), 0 * rv]
    )
    labels = pd.DataFrame({"teff": 5500 + 800 * teff, "rv": 20 * rv})
    labels.loc[:99, "rv"] = np.nan
    selector = InformativeDimensionSelector().fit(Z)
    scorer = LatentCorrelationScorer(n_bootstrap=5, random_state=0).fit(Z, labels)
    return Z, labels, selector, scorer


def test_stem_plot_shows_each_latent_and_the_threshold(analysis):
    _, _, selector, _ = analysis
    ax = plot_informative_dimensions(selector)
    informative, collapsed = (line for line in ax.lines if line.get_marker() == "o")
    np.testing.assert_array_equal(informative.get_xdata(), [0, 2])
    np.testing.assert_allclose(informative.get_ydata(), selector.mad_[[0, 2]])
    np.testing.assert_array_equal(collapsed.get_xdata(), [1, 3])
    # The constant latent (MAD 0) is drawn at the floor of the log axis.
    assert collapsed.get_ydata()[1] == pytest.approx(ax.get_ylim()[0])
    threshold = [line for line in ax.lines if line.get_linestyle() == "--"][0]
    assert threshold.get_ydata()[0] == selector.mad_threshold_
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "2 of 4 latents informative"


def test_stem_plot_of_kl_needs_an_autoencoder(analysis, spectra):
    _, _, selector, _ = analysis
    with pytest.raises(ValueError, match="no KL values"):
        plot_informative_dimensions(selector, criterion="kl")
    with pytest.raises(ValueError, match="criterion"):
        plot_informative_dimensions(selector, criterion="entropy")
    X, _, _ = spectra
    ae = SpectralAutoencoder(3, max_epochs=2, random_state=0)
    with_kl = InformativeDimensionSelector(ae, criterion="kl").fit(X)
    ax = plot_informative_dimensions(with_kl, criterion="kl")
    assert ax.get_ylabel() == "mean KL (nats)"
    points = np.concatenate([line.get_ydata() for line in ax.lines if line.get_marker() == "o"])
    assert sorted(points) == pytest.approx(sorted(np.maximum(with_kl.kl_, ax.get_ylim()[0])))


def test_heatmap_shows_the_normalised_mi_of_each_label(analysis):
    _, _, _, scorer = analysis
    axes = plot_mi_heatmap(scorer)
    assert len(axes) == 2
    for m, ax in enumerate(axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), scorer.mi_max_normalized_[:, :, m])
        assert [t.get_text() for t in ax.get_yticklabels()] == ["5", "10", "20", "40", "80", "160"]
    # At 160 bins and 1,500 rows the plug-in bias lifts the tanh latent over
    # the noisy teff latent, so the paper's criterion fails for teff.
    assert axes[0].get_title() == "teff\nno single top latent"
    assert axes[1].get_title() == "rv\ntop latent x2 at every binning"
    # A subset of labels and latents, in nats.
    (ax,) = plot_mi_heatmap(scorer, labels="rv", latents=[0, 2], normalization="none")
    np.testing.assert_array_equal(ax.images[0].get_array(), scorer.mi_binned_[:, [0, 2], 1])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x0", "x2"]


def test_scatter_shows_each_label_against_its_best_latent(analysis):
    Z, labels, _, scorer = analysis
    axes = plot_best_latent(scorer, Z, labels)
    teff, rv = (ax.collections[0].get_offsets() for ax in axes)
    np.testing.assert_allclose(teff, np.column_stack([labels["teff"], Z[:, 0]]))
    # Missing rv values are left out.
    np.testing.assert_allclose(rv, np.column_stack([labels["rv"][100:], Z[100:, 2]]))
    assert axes[1].get_ylabel() == "x2"
    assert axes[1].get_title().startswith(f"MI = {scorer.mi_[2, 1]:.2f} ± ")


def test_plots_draw_on_given_axes(analysis):
    Z, labels, selector, scorer = analysis
    fig, axes = plt.subplots(1, 2)
    assert plot_informative_dimensions(selector, ax=axes[0]) is axes[0]
    assert list(plot_best_latent(scorer, Z, labels, labels=[1, 0], axes=axes)) == list(axes)
    assert axes[0].get_xlabel() == "rv"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s, Z, Y: plot_mi_heatmap(s, labels="logg"), "Unknown label 'logg'"),
        (lambda s, Z, Y: plot_mi_heatmap(s, labels=[5]), "out of range"),
        (lambda s, Z, Y: plot_mi_heatmap(s, normalization="log"), "normalization"),
        (lambda s, Z, Y: plot_mi_heatmap(s, axes=plt.subplots(1, 3)[1]), "Need 2 axes"),
        (lambda s, Z, Y: plot_best_latent(s, Z[:, :2], Y), "shape"),
        (lambda s, Z, Y: plot_best_latent(s, Z, Y[["teff"]]), "shape"),
    ],
)
def test_bad_arguments_are_refused_clearly(analysis, call, match):
    Z, labels, _, scorer = analysis
    with pytest.raises(ValueError, match=match):
        call(scorer, Z, labels)


def test_missing_matplotlib_gives_an_install_hint(analysis, monkeypatch):
    _, _, selector, _ = analysis
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"skspecrep\[plot\]"):
        plot_informative_dimensions(selector)


# ------------------------------------------- training, reconstruction, traversal


def test_training_history_draws_the_recorded_losses(spectra):
    from skspecrep import SpectralAutoencoder
    from skspecrep.plotting import plot_training_history

    ae = SpectralAutoencoder(2, max_epochs=3, validation_fraction=0.25, random_state=0)
    ae.fit(spectra[0])
    ax = plot_training_history(ae)
    train, valid = ax.get_lines()[:2]
    np.testing.assert_allclose(train.get_ydata(), ae.history_[:, "train_loss"])
    np.testing.assert_allclose(valid.get_ydata(), ae.history_[:, "valid_loss"])
    assert ax.get_lines()[2].get_xdata()[0] == ae.best_epoch_


def test_reconstructions_show_data_model_and_residual():
    from sklearn.decomposition import PCA

    from skspecrep.plotting import plot_reconstructions

    X = np.random.RandomState(0).normal(1.0, 0.1, size=(30, 16))
    pca = PCA(n_components=3).fit(X)
    wave = np.linspace(5000, 5010, 16)
    axes = plot_reconstructions(pca, X, wavelength=wave, n_examples=2)
    data, model, _ = axes[1].get_lines()
    np.testing.assert_allclose(data.get_xdata(), wave)
    np.testing.assert_allclose(data.get_ydata(), X[1])
    np.testing.assert_allclose(model.get_ydata(), pca.inverse_transform(pca.transform(X[1:2]))[0])
    with pytest.raises(ValueError, match="16 pixels"):
        plot_reconstructions(pca, X, wavelength=wave[:5])
    with pytest.raises(ValueError, match="n_examples=40"):
        plot_reconstructions(pca, X, n_examples=40)


def test_reconstructions_computed_before_are_drawn_without_the_model():
    from skspecrep.plotting import plot_reconstructions

    X = np.random.RandomState(0).normal(1.0, 0.1, size=(5, 16))
    R = X[:2] + 0.01
    axes = plot_reconstructions(None, X, n_examples=2, reconstructions=R)
    np.testing.assert_allclose(axes[1].get_lines()[1].get_ydata(), R[1])
    np.testing.assert_allclose(axes[1].get_lines()[2].get_ydata(), -0.01 + X[1].min())
    with pytest.raises(ValueError, match="reconstructions have shape \\(3, 16\\); the 2"):
        plot_reconstructions(None, X, n_examples=2, reconstructions=X[:3])
    with pytest.raises(ValueError, match="Pass a fitted estimator or the reconstructions"):
        plot_reconstructions(None, X)


def test_pairwise_mi_shows_the_selector_matrix_and_outlines_redundant_pairs():
    from skspecrep.plotting import plot_pairwise_mi

    z = np.random.RandomState(0).normal(size=(600, 2))
    Z = np.column_stack([z, z[:, 0] + 0.05 * z[:, 1]])
    selector = InformativeDimensionSelector().fit(Z)
    ax = plot_pairwise_mi(selector)
    np.testing.assert_allclose(ax.images[0].get_array(), selector.pairwise_mi_)
    assert len(ax.patches) == 2  # the pair (0, 2), both halves


def test_latent_traversal_draws_each_step_relative_to_the_reference():
    from sklearn.decomposition import PCA

    from skspecrep.inspection import latent_traversal
    from skspecrep.plotting import plot_latent_traversal

    X = np.random.RandomState(0).normal(1.0, 0.1, size=(50, 20))
    t = latent_traversal(PCA(n_components=2).fit(X), X, n_steps=4)
    axes = plot_latent_traversal(t)
    assert len(axes) == 2
    for ax, curves in zip(axes, t.spectra):
        drawn = np.array([line.get_ydata() for line in ax.get_lines()])
        np.testing.assert_allclose(drawn, curves - t.reference_spectrum)
    with pytest.raises(ValueError, match="one per latent"):
        plot_latent_traversal(t, axes=[axes[0]])


def test_seed_stability_shows_the_match_of_each_reference_latent():
    from sklearn.decomposition import PCA

    from skspecrep.inspection import seed_stability
    from skspecrep.plotting import plot_seed_stability

    X = np.random.RandomState(0).normal(size=(200, 10)) * np.arange(1, 11)
    result = seed_stability(PCA(3, svd_solver="randomized"), X, n_seeds=3, random_state=0)
    ax = plot_seed_stability(result)
    np.testing.assert_allclose(ax.images[0].get_array(), result.match_rho)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        f"z{j}" for j in result.latents["latent"]
    ]


def test_seed_stability_without_active_latents_says_so_without_a_warning():
    import warnings

    from sklearn.utils import Bunch

    from skspecrep.plotting import plot_seed_stability

    empty = Bunch(
        match_rho=np.zeros((2, 0)),
        latents=pd.DataFrame({"latent": []}),
        label_tracks=None,
        reference=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_seed_stability(empty)
    assert not ax.images
    assert ax.texts[0].get_text() == "the reference model has no active latent"
