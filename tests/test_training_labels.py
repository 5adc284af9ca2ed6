"""Partial labels tie latents to known factors: checks, the penalty, training, calibration."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import line_spectra
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import spearmanr
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.callbacks import Callback

from skspecrep import SpectralAutoencoder
from skspecrep._nn import label_penalty
from skspecrep._rows import RowSource
from skspecrep._training import calibrate_labels
from skspecrep._training._labels import Labels, make_labels
from skspecrep._training._plan import _with_label_share
from skspecrep.exceptions import CheckpointError, WarmStartError
from skspecrep.io import load_model, save_model

X_LINES, DEPTH, SHIFT = line_spectra(400, 128, seed=3)


def _partial(values, share, seed=0):
    """``values`` with all but about ``share`` of them replaced by NaN."""
    values = np.asarray(values, dtype=float).copy()
    rng = np.random.RandomState(seed)
    values[rng.rand(len(values)) >= share] = np.nan
    return values


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short test runs: not converged, vs PCA
        yield


# ------------------------------------------------------------------ penalty


def test_the_penalty_sums_weighted_squared_errors_of_known_labels_only():
    mu = torch.tensor([[9.0, 1.0, 2.0], [9.0, -1.0, 0.5]])
    targets = torch.tensor([[0.0, float("nan")], [float("nan"), 1.0]])
    latents = torch.tensor([1, 2])
    weights = torch.tensor([2.0, 10.0])
    penalty = label_penalty(mu, targets, latents, weights)
    # Row 0 knows label 0 (latent 1: (1 - 0)^2 x 2); row 1 knows label 1 (latent 2).
    np.testing.assert_allclose(penalty.numpy(), [2.0, 10.0 * 0.25])


def test_the_penalty_has_no_gradient_through_unknown_labels():
    mu = torch.zeros(2, 2, requires_grad=True)
    targets = torch.tensor([[float("nan")], [3.0]])
    label_penalty(mu, targets, torch.tensor([1]), torch.ones(1)).sum().backward()
    np.testing.assert_array_equal(mu.grad.numpy(), [[0.0, 0.0], [0.0, -6.0]])


def test_each_training_step_adds_the_weighted_mean_penalty_of_its_labelled_spectra():
    """loss(w) - loss(0) = w x the penalty's mean over the batch's labelled spectra."""
    X = X_LINES[:64].astype(np.float32)
    y = _partial(DEPTH[:64], 0.25)
    ae = SpectralAutoencoder(2, label_weight=1.0, max_epochs=1, kl_warmup=(0, 0), random_state=0)
    ae.fit(X, y)
    net = ae.net_
    targets = ((y[:32] - np.nanmean(y)) / np.nanstd(y)).astype(np.float32)[:, None]
    batch = (torch.from_numpy(X[:32]), {"labels": torch.from_numpy(targets)})
    losses = {}
    for weight in (0.0, 2.0):
        net.label_weight = weight
        torch.manual_seed(1)
        step = net.train_step_single(batch)
        losses[weight] = float(step["loss"])
    penalty = label_penalty(
        step["y_pred"][1], torch.from_numpy(targets), torch.tensor([0]), torch.ones(1)
    )
    assert float(penalty.sum()) > 0
    expected = 2.0 * float(penalty.sum()) / np.sum(~np.isnan(targets))
    assert losses[2.0] - losses[0.0] == pytest.approx(expected, rel=1e-4)


# ------------------------------------------------------------------- checks


def test_labels_are_standardised_over_the_known_training_values():
    y = np.array([[1.0, 10.0], [3.0, np.nan], [np.nan, 30.0], [100.0, 50.0]])
    labels = make_labels(y, 4, n_components=4, first_latent=1, train_rows=np.array([0, 1, 2]))
    np.testing.assert_allclose(labels.mean, [2.0, 20.0])
    np.testing.assert_allclose(labels.scale, [1.0, 10.0])
    np.testing.assert_allclose(labels.targets[:, 0], [-1, 1, np.nan, 98])
    np.testing.assert_array_equal(labels.latents, [1, 2])  # after the velocity latent
    assert labels.names == ("label_0", "label_1")


def test_labels_take_the_names_of_a_dataframe_or_a_series():
    frame = pd.DataFrame({"teff": [5000.0, 6000.0, np.nan], "logg": [4.0, np.nan, 2.0]})
    assert make_labels(frame, 3, 4, 0, None).names == ("teff", "logg")
    assert make_labels(frame["logg"], 3, 4, 0, None).names == ("logg",)
    # A frame's values are column-major: the targets are made row-major (checkpoints hash them).
    assert make_labels(frame, 3, 4, 0, None).targets.flags.c_contiguous


@pytest.mark.parametrize(
    "y, message",
    [
        (np.ones((5, 1)), "shape"),
        (np.array([1.0, np.inf, 2.0, 3.0]), "infinity"),
        (np.zeros((4, 4)), "only 3 latents"),
        (np.array([1.0, np.nan, np.nan, np.nan]), "'label_0' has 1 known value"),
        (np.array([2.0, 2.0, np.nan, 2.0]), "at least two different"),
    ],
)
def test_bad_labels_are_refused_naming_the_problem(y, message):
    with pytest.raises(ValueError, match=message):
        make_labels(y, 4, n_components=4, first_latent=1, train_rows=None)


def test_a_label_weight_without_labels_is_refused():
    with pytest.raises(ValueError, match="label_weight=0.5 ties latents to labels"):
        SpectralAutoencoder(2, label_weight=0.5, max_epochs=1).fit(X_LINES[:50])


# ----------------------------------------------------------------- training


def test_without_a_label_weight_labels_change_nothing():
    """A Pipeline passes y to every step: with label_weight=0 the model is today's."""
    X = X_LINES[:96]
    params = dict(n_components=2, max_epochs=2, random_state=0)
    plain = SpectralAutoencoder(**params).fit(X)
    labelled = SpectralAutoencoder(**params).fit(X, _partial(DEPTH[:96], 0.5))
    np.testing.assert_array_equal(plain.transform(X), labelled.transform(X))
    assert labelled.label_latents_ is None and labelled.label_names_ is None
    with pytest.raises(ValueError, match="fitted without labels"):
        labelled.predict_labels(X)


class LabelledDraws(Callback):
    """How many of the spectra drawn for training knew their label."""

    def initialize(self):
        self.labelled_, self.drawn_ = 0, 0
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            known = ~torch.isnan(batch[1]["labels"]).all(dim=1)
            self.labelled_ += int(known.sum())
            self.drawn_ += len(known)


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5])
def test_labelled_spectra_fill_at_least_the_label_share_of_the_draws(share):
    """4 of 400 spectra labelled: drawn once an epoch at share 0, else a share of the draws."""
    y = np.full(400, np.nan)
    y[[3, 50, 200, 399]] = [0.1, 0.5, 0.2, 0.9]
    ae = SpectralAutoencoder(
        2, label_weight=0.1, label_share=share, max_epochs=2, batch_size=40,
        callbacks=[("draws", LabelledDraws())], random_state=0,
    ).fit(X_LINES, y)  # fmt: skip
    draws = dict(ae.net_.callbacks_)["draws"]
    assert draws.drawn_ == 800
    if share == 0:
        assert draws.labelled_ == 8  # each of the four, once per epoch
    else:
        # Binomial(800, share): within 4 standard deviations.
        assert abs(draws.labelled_ - 800 * share) < 4 * np.sqrt(800 * share * (1 - share))


@given(
    known=arrays(bool, st.integers(2, 60), elements=st.booleans()),
    share=st.floats(0.01, 0.99),
    data=st.data(),
)
def test_the_label_share_raises_labelled_weights_by_one_factor_and_no_further(known, share, data):
    weight = data.draw(
        arrays(np.float64, known.size, elements=st.floats(0.01, 100.0)) | st.none()
    )
    targets = np.where(known, 0.5, np.nan)[:, None].astype(np.float32)
    labels = Labels(("a",), np.array([0]), targets, np.zeros(1), np.ones(1))
    out = _with_label_share(weight, labels, None, share)
    base = np.ones(known.size) if weight is None else weight
    if not known.any() or base[known].sum() >= share * base.sum():
        assert out is weight  # nothing to raise: the weights as they were
        return
    assert out[known].sum() == pytest.approx(share * out.sum())
    np.testing.assert_allclose(out[~known], base[~known])
    ratio = out[known] / base[known]
    np.testing.assert_allclose(ratio, ratio[0])


@pytest.fixture(scope="module")
def supervised():
    """Line depth known for a fifth of the training spectra; the last 100 held out."""
    y = pd.DataFrame({"depth": _partial(DEPTH[:300], 0.2)})
    ae = SpectralAutoencoder(
        n_components=3, label_weight=1.0, max_epochs=60, validation_fraction=0.2,
        lr=2e-3, random_state=0,
    )  # fmt: skip
    return ae.fit(X_LINES[:300], y), y


def test_a_labelled_latent_tracks_its_label_on_held_out_spectra(supervised):
    ae, y = supervised
    assert list(ae.label_names_) == ["depth"] and list(ae.label_latents_) == [0]
    estimate, std = ae.predict_labels(X_LINES[300:], return_std=True)
    truth = DEPTH[300:]
    assert spearmanr(estimate[:, 0], truth).statistic > 0.97
    rmse = np.sqrt(np.mean((estimate[:, 0] - truth) ** 2))
    assert rmse < 0.25 * truth.std()
    # The latent itself is the standardised label, up to the calibration line.
    assert ae.label_slope_[0] == pytest.approx(DEPTH[:240].std(), rel=0.3)
    # The stated uncertainty is of the size of the errors.
    assert 0.5 < rmse / np.sqrt(np.mean(std[:, 0] ** 2)) < 2.0
    assert np.ptp(std) > 0  # per spectrum, from the spread of its posterior


def test_the_calibration_error_is_measured_on_held_out_labelled_spectra(supervised):
    ae, _ = supervised
    estimate = ae.predict_labels(X_LINES[300:])
    rmse = np.sqrt(np.mean((estimate[:, 0] - DEPTH[300:]) ** 2))
    assert ae.label_error_[0] == pytest.approx(rmse, rel=0.6)


def test_unsupervised_codes_do_not_single_out_the_label_as_well():
    """The labels are what put depth on latent 0: without them no latent is as clean."""
    ae = SpectralAutoencoder(n_components=3, max_epochs=60, lr=2e-3, random_state=0)
    codes = ae.fit(X_LINES[:300]).transform(X_LINES[300:])
    assert abs(spearmanr(codes[:, 0], DEPTH[300:]).statistic) < 0.97


def test_with_doppler_pairs_the_labels_follow_the_velocity_latent():
    X, wavelength = X_LINES[:64], np.exp(np.linspace(np.log(5000), np.log(5010), 128))
    y = np.column_stack([_partial(DEPTH[:64], 0.5), _partial(SHIFT[:64], 0.5, seed=1)])
    ae = SpectralAutoencoder(
        n_components=4, label_weight=0.1, max_epochs=1, wavelength=wavelength,
        virtual_rv=30.0, random_state=0,
    )  # fmt: skip
    ae.fit(X, y)
    assert ae.velocity_latent_ == 0
    np.testing.assert_array_equal(ae.label_latents_, [1, 2])


def test_labels_pass_through_a_pipeline():
    y = _partial(DEPTH[:96], 0.5)
    pipe = Pipeline(
        [("scale", FunctionTransformer()), ("ae", SpectralAutoencoder(2, label_weight=0.1,
                                                                       max_epochs=1))]
    )
    pipe.fit(X_LINES[:96], y)
    assert list(pipe[-1].label_latents_) == [0]


def test_a_grid_search_over_the_label_weight_passes_the_labels_to_every_fit():
    y = _partial(DEPTH[:96], 0.5)
    search = GridSearchCV(
        SpectralAutoencoder(2, max_epochs=1, random_state=0),
        {"label_weight": [0.01, 0.1]},
        cv=2,
    )
    search.fit(X_LINES[:96], y)
    assert search.best_params_["label_weight"] in (0.01, 0.1)
    assert list(search.best_estimator_.label_latents_) == [0]


# ------------------------------------------------------- warm starts, files


def test_a_warm_start_continues_with_the_same_labels_and_refuses_others():
    X = X_LINES[:96]
    y = pd.DataFrame({"depth": _partial(DEPTH[:96], 0.5)})
    ae = SpectralAutoencoder(2, label_weight=0.1, max_epochs=1, warm_start=True, random_state=0)
    ae.fit(X, y).fit(X, y)
    assert ae.n_iter_ == 2
    with pytest.raises(WarmStartError, match=r"labels \['shift'\].*hold \['depth'\]"):
        ae.fit(X, pd.DataFrame({"shift": _partial(SHIFT[:96], 0.5)}))
    assert ae.n_iter_ == 2


def test_a_checkpoint_of_other_labels_is_not_resumed(tmp_path):
    X = X_LINES[:96]
    path = tmp_path / "run.pt"
    params = dict(n_components=2, label_weight=0.1, max_epochs=1, checkpoint=path)
    SpectralAutoencoder(**params).fit(X, _partial(DEPTH[:96], 0.5))
    with pytest.raises(CheckpointError, match="labels"):
        SpectralAutoencoder(**params, random_state=0).fit(X, _partial(DEPTH[:96], 0.5, seed=1))


def test_a_model_file_keeps_the_labelled_latents(tmp_path):
    X = X_LINES[:96]
    ae = SpectralAutoencoder(2, label_weight=0.1, max_epochs=1, random_state=0)
    ae.fit(X, pd.DataFrame({"depth": _partial(DEPTH[:96], 0.5)}))
    loaded = load_model(save_model(ae, tmp_path / "m.skspecrep"))
    assert list(loaded.label_names_) == ["depth"]
    np.testing.assert_array_equal(loaded.predict_labels(X), ae.predict_labels(X))


# -------------------------------------------------------------- calibration


def test_calibration_recovers_a_known_line_and_measures_held_out_error():
    rng = np.random.RandomState(0)
    n = 200
    truth = rng.normal(5000.0, 500.0, n)
    X = np.zeros((n, 3), dtype=np.float32)
    noise = rng.normal(0, 0.05, n)
    X[:, 1] = (truth - 4000.0) / 250.0 + noise  # latent 1 = (label - 4000) / 250, noisy
    labels = make_labels(_partial(truth, 0.3), n, 3, 1, np.arange(150))

    def encode(x):  # the spectra are their own codes, with a posterior sigma of 0.1
        return x, np.full_like(x, 2 * np.log(0.1))

    calibration = calibrate_labels(
        labels, RowSource(X), np.arange(150), np.arange(150, 200), encode, seed=0
    )
    assert calibration.slope[0] == pytest.approx(250.0, rel=0.02)
    assert calibration.intercept[0] == pytest.approx(4000.0, abs=30.0)
    assert calibration.held_out[0]
    assert calibration.error[0] == pytest.approx(250.0 * 0.05, rel=0.5)
    assert calibration.spread[0] == pytest.approx(0.1)


def test_a_validation_split_without_labelled_spectra_measures_on_the_training_ones():
    """The encoder gives nothing for no spectra (as inference.collect does): not called."""
    X = np.random.RandomState(0).normal(size=(20, 3)).astype(np.float32)
    y = np.full(20, np.nan)
    y[:4] = [1.0, 2.0, 3.0, 4.0]  # all in the training rows
    labels = make_labels(y, 20, 3, 0, np.arange(10))

    def encode(x):
        assert len(x), "asked to encode no spectra"
        return x, np.zeros_like(x)

    calibration = calibrate_labels(
        labels, RowSource(X), np.arange(10), np.arange(10, 20), encode, seed=0
    )
    assert not calibration.held_out[0] and calibration.error[0] > 0
