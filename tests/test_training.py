"""The training core: one path for fresh, warm, resumed fits; honest outcomes."""

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from conftest import line_spectra
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback

from skspecrep import SpectralAutoencoder
from skspecrep._constants import ACTIVE_KL
from skspecrep._nn import DENSE_WEIGHT_DECAY
from skspecrep._training import PARAMETERS, STOP_REASONS, diagnose
from skspecrep.exceptions import (
    NonFiniteLossError,
    PosteriorCollapseWarning,
    TrainingInterruptedWarning,
    TrainingNotConvergedWarning,
    WarmStartError,
    WorseThanPCAWarning,
)

X_SMALL = line_spectra(96, 64, seed=0)[0]


class Recorder(Callback):
    """What every training step of a fit ran with."""

    def initialize(self):
        self.steps_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.steps_.append(
                {
                    "epoch": len(net.history),
                    "batch_size": len(batch[0]),
                    "kl_weight": net.current_kl_weight(),
                    "lr": net.optimizer_.param_groups[0]["lr"],
                }
            )

    def on_batch_end(self, net, training=False, y_pred=None, **kwargs):
        if training:
            self.steps_[-1]["dtype"] = y_pred[1].dtype

    def seen(self, key):
        return {step[key] for step in self.steps_}


BASE = dict(
    n_components=2,
    max_epochs=1,
    batch_size=16,
    kl_warmup=(0, 0),
    random_state=0,
    warm_start=True,
    callbacks=[("rec", Recorder())],
)


def _recorded(ae) -> Recorder:
    return dict(ae.net_.callbacks_)["rec"]


@dataclass
class Case:
    """A warm start after changing one parameter, and what must follow."""

    change: object  # dict of new parameters, or a function of tmp_path giving one
    check: object = None  # check(ae, output) after the warm fit
    refused: type | None = None  # or the error the warm fit must raise
    base: dict = field(default_factory=dict)


def _check_verbose_bar(ae, output):
    assert "SpectralAutoencoder" in output.err and "2/2" in output.err


def _check_verbose_table(ae, output):
    assert "train_loss" in output.out and "dur" in output.out


def _check_checkpoint(ae, output):
    state = torch.load(ae.checkpoint, weights_only=True)
    assert len(state["history"]) == 2 and state["stop_reason"] == "max_epochs"


def _check_random_state(ae, output):
    twin = SpectralAutoencoder(**BASE).fit(X_SMALL).fit(X_SMALL)  # random_state stays 0
    again = SpectralAutoencoder(**BASE).fit(X_SMALL).set_params(random_state=1).fit(X_SMALL)
    assert not np.array_equal(ae.transform(X_SMALL), twin.transform(X_SMALL))
    np.testing.assert_array_equal(ae.transform(X_SMALL), again.transform(X_SMALL))


def _check_new_callbacks(ae, output):
    names = [name for name, _ in ae.net_.callbacks_]
    assert "rec" not in names
    assert len(dict(ae.net_.callbacks_)["other"].steps_) == 6  # 96 spectra / 16, one epoch


WAVE = np.exp(np.linspace(np.log(5000.0), np.log(5010.0), 64))
MASK = np.ones(64)
MASK[:4] = 0

WARM_START_CASES = {
    # Structure: a different network is needed; refused, never ignored.
    "n_components": Case({"n_components": 3}, refused=WarmStartError),
    "architecture": Case(
        {"architecture": {"channels": [4, 8], "kernel_sizes": [3, 3], "strides": [2, 2]}},
        refused=WarmStartError,
    ),
    "loss": Case({"loss": "mse"}, refused=WarmStartError),
    "pixel_mask": Case({"pixel_mask": MASK}, refused=WarmStartError),
    "distributed": Case({"distributed": True}, refused=WarmStartError),
    # Doppler pairs: the decoder of the velocity latent shifts on the grid.
    "wavelength": Case({"wavelength": WAVE}, refused=WarmStartError),
    "virtual_rv": Case({"virtual_rv": 40.0, "wavelength": WAVE}, refused=WarmStartError),
    # Net settings: every step of the continued run uses the new value.
    "beta": Case({"beta": 0.5}, lambda ae, out: _recorded(ae).seen("kl_weight") == {0.5}),
    "kl_warmup": Case(
        {"kl_warmup": (5, 10)},  # epoch 2 is before the ramp starts: no KL yet
        lambda ae, out: _recorded(ae).seen("kl_weight") == {0.0},
    ),
    "lr": Case({"lr": 0.0123}, lambda ae, out: _recorded(ae).seen("lr") == {0.0123}),
    "decorrelation": Case({"decorrelation": 0.5}, lambda ae, out: ae.net_.decorrelation == 0.5),
    # A label weight without labels to weigh is refused, whatever came before;
    # tests/test_training_labels.py continues runs with labels.
    "label_weight": Case({"label_weight": 0.5}, refused=ValueError),
    # Without labels there is nothing to draw more often: every spectrum
    # still once per epoch (tests/test_training_labels.py draws labelled ones).
    "label_share": Case(
        {"label_share": 0.9}, lambda ae, out: ae.net_.iterator_train__sampler is None
    ),
    "batch_size": Case(
        {"batch_size": 32}, lambda ae, out: _recorded(ae).seen("batch_size") == {32}
    ),
    "mixed_precision": Case(
        {"mixed_precision": "bf16"},
        lambda ae, out: _recorded(ae).seen("dtype") == {torch.bfloat16},
    ),
    # Run settings.
    "device": Case({"device": "cuda"}, refused=ValueError),  # no CUDA on the test machines
    "max_epochs": Case({"max_epochs": 3}, lambda ae, out: ae.n_iter_ == 4),
    "validation_fraction": Case(
        {"validation_fraction": 0.25},
        lambda ae, out: (
            "valid_loss" in ae.history_[-1]
            and "valid_loss" not in ae.history_[0]
            and "early_stopping" in dict(ae.net_.callbacks_)
        ),
    ),
    "n_iter_no_change": Case(
        {"n_iter_no_change": 1, "max_epochs": 30},
        lambda ae, out: ae.stop_reason_ == "early_stopping" and ae.n_iter_ < 31,
        base={"validation_fraction": 0.3, "n_iter_no_change": 100, "lr": 0.05},
    ),
    "random_state": Case({"random_state": 1}, _check_random_state),
    "verbose": Case({"verbose": 1}, _check_verbose_bar),
    "callbacks": Case({"callbacks": [("other", Recorder())]}, _check_new_callbacks),
    "warm_start": Case({"warm_start": False}, lambda ae, out: ae.n_iter_ == 1),
    "checkpoint": Case(lambda tmp: {"checkpoint": tmp / "run.pt"}, _check_checkpoint),
}


def test_every_parameter_has_a_row_in_the_plan_table_and_a_warm_start_case():
    params = set(SpectralAutoencoder().get_params())
    assert set(PARAMETERS) == params
    assert set(WARM_START_CASES) == params


@pytest.mark.parametrize("name", sorted(WARM_START_CASES))
def test_warm_start_honours_or_refuses_every_parameter(name, tmp_path, capsys):
    case = WARM_START_CASES[name]
    ae = SpectralAutoencoder(**{**BASE, **case.base}).fit(X_SMALL)
    codes = ae.transform(X_SMALL)
    change = case.change(tmp_path) if callable(case.change) else case.change
    ae.set_params(**change)
    capsys.readouterr()
    if case.refused is not None:
        with pytest.raises(case.refused, match=name if name != "device" else "CUDA"):
            ae.fit(X_SMALL)
        # Nothing was trained under the refused setting.
        assert ae.n_iter_ == 1
        np.testing.assert_array_equal(ae.transform(X_SMALL), codes)
        return
    ae.fit(X_SMALL)
    assert case.check(ae, capsys.readouterr()) is not False


def test_verbose_2_prints_the_table_on_a_warm_start(capsys):
    ae = SpectralAutoencoder(**BASE).fit(X_SMALL)
    capsys.readouterr()
    ae.set_params(verbose=2).fit(X_SMALL)
    _check_verbose_table(ae, capsys.readouterr())


def test_warm_start_keeps_the_best_epoch_of_the_same_validation_split():
    params = {**BASE, "validation_fraction": 0.25, "max_epochs": 3}
    ae = SpectralAutoencoder(**params).fit(X_SMALL)
    stopper = dict(ae.net_.callbacks_)["early_stopping"]
    best = stopper.best_loss_
    ae.fit(X_SMALL)
    stopper = dict(ae.net_.callbacks_)["early_stopping"]
    assert stopper.best_loss_ <= best
    assert stopper.best_loss_ == min(ae.history_[:, "valid_loss"])
    assert ae.best_epoch_ == 1 + int(np.argmin(ae.history_[:, "valid_loss"]))


# ---------------------------------------------------------------- outcomes


class InterruptAt(Callback):
    """Raise KeyboardInterrupt, as Ctrl-C does, at a given epoch and batch."""

    def __init__(self, epoch=2, batch=2):
        self.epoch = epoch
        self.batch = batch

    def on_batch_begin(self, net, training=False, **kwargs):
        if (
            training
            and len(net.history) == self.epoch
            and len(net.history[-1, "batches"]) == self.batch
        ):
            raise KeyboardInterrupt


def test_an_interrupted_fit_warns_and_keeps_the_last_complete_epoch():
    kw = dict(n_components=2, batch_size=16, random_state=0)
    ae = SpectralAutoencoder(max_epochs=4, callbacks=[InterruptAt(2, 2)], **kw)
    with pytest.warns(TrainingInterruptedWarning, match="after 1 complete epoch") as caught:
        ae.fit(X_SMALL)
    assert caught[0].filename == __file__  # points at the call of fit
    assert ae.stop_reason_ == "interrupted"
    assert ae.n_iter_ == ae.best_epoch_ == len(ae.history_) == 1
    assert "train_loss" in ae.history_[-1]
    # The half-done epoch was undone: this is exactly the one-epoch model.
    one_epoch = SpectralAutoencoder(max_epochs=1, **kw).fit(X_SMALL)
    np.testing.assert_array_equal(ae.transform(X_SMALL), one_epoch.transform(X_SMALL))
    np.testing.assert_array_equal(ae.component_kl_, one_epoch.component_kl_)


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_straight_result(tmp_path):
    kw = dict(n_components=2, batch_size=16, random_state=0, validation_fraction=0.25)
    straight = SpectralAutoencoder(max_epochs=3, **kw).fit(X_SMALL)
    path = tmp_path / "run.pt"
    interrupted = SpectralAutoencoder(
        max_epochs=3, checkpoint=path, callbacks=[InterruptAt(2, 3)], **kw
    )
    with pytest.warns(TrainingInterruptedWarning):
        interrupted.fit(X_SMALL)
    assert torch.load(path, weights_only=True)["stop_reason"] is None  # still under way
    resumed = SpectralAutoencoder(max_epochs=3, checkpoint=path, **kw).fit(X_SMALL)
    assert resumed.stop_reason_ == "max_epochs" and resumed.n_iter_ == 3
    assert resumed.history_[:, "valid_loss"] == straight.history_[:, "valid_loss"]
    np.testing.assert_array_equal(resumed.transform(X_SMALL), straight.transform(X_SMALL))


class EpochsAsked(Callback):
    """Record the epochs the run asks of the net, then stop it as Ctrl-C does."""

    def on_train_begin(self, net, **kwargs):
        self.max_epochs_ = net.max_epochs

    def on_batch_begin(self, net, **kwargs):
        raise KeyboardInterrupt


def asked_of(ae):
    """Epochs asked of the net by the run, as its EpochsAsked callback recorded."""
    (asked,) = [cb for _, cb in ae.net_.callbacks_ if isinstance(cb, EpochsAsked)]
    return asked.max_epochs_


@pytest.mark.parametrize(
    "n_spectra, batch_size, epochs, patience",
    [
        (96, 16, 400, 80),  # 72 train (a quarter validate): 5 steps per epoch
        (128, 16, 334, 67),  # 96 train, 6 steps per epoch
        (128, 1, 50, 10),  # 96 steps per epoch: 50 epochs already make 4,800
        (1664, 32, 52, 11),  # 1,248 training spectra, 39 steps per epoch
        (1707, 32, 50, 10),  # 1,280: 40 steps per epoch, exactly 2,000 in 50 epochs
    ],
)
def test_auto_epochs_and_patience_count_at_least_2000_and_400_steps(
    n_spectra, batch_size, epochs, patience
):
    X = np.tile(X_SMALL, (-(-n_spectra // len(X_SMALL)), 1))[:n_spectra]
    ae = SpectralAutoencoder(
        2, batch_size=batch_size, validation_fraction=0.25, callbacks=[EpochsAsked()]
    )
    assert ae.max_epochs == ae.n_iter_no_change == "auto"
    with pytest.warns(TrainingInterruptedWarning):
        ae.fit(X)
    assert asked_of(ae) == epochs
    assert dict(ae.net_.callbacks_)["early_stopping"].patience == patience


def test_auto_epochs_on_a_warm_start_train_that_many_more():
    ae = SpectralAutoencoder(2, batch_size=96, warm_start=True, max_epochs=3).fit(X_SMALL)
    asked = EpochsAsked()
    ae.set_params(max_epochs="auto", batch_size=16, callbacks=[asked])
    with pytest.warns(TrainingInterruptedWarning):
        ae.fit(X_SMALL)
    assert asked_of(ae) == 3 + 334


def test_interrupting_before_the_first_epoch_ends_keeps_the_initial_weights():
    ae = SpectralAutoencoder(2, max_epochs=3, callbacks=[InterruptAt(1, 2)], random_state=0)
    with pytest.warns(TrainingInterruptedWarning, match="no epoch was completed"):
        ae.fit(X_SMALL)
    assert ae.n_iter_ == 0 and len(ae.history_) == 0
    assert np.isfinite(ae.transform(X_SMALL)).all()


def test_stop_reason_says_why_training_stopped(spectra):
    X = spectra[0][:100]
    ran = SpectralAutoencoder(2, max_epochs=2, random_state=0).fit(X)
    assert ran.stop_reason_ == "max_epochs"
    early = SpectralAutoencoder(
        2, max_epochs=30, validation_fraction=0.3, n_iter_no_change=1, lr=0.05, random_state=0
    ).fit(X)
    assert early.stop_reason_ == "early_stopping" and early.n_iter_ < 30
    assert early.best_epoch_ < early.n_iter_
    poisoned = SpectralAutoencoder(2, max_epochs=4, callbacks=[_Poison(2)], random_state=0)
    with pytest.raises(NonFiniteLossError) as caught:
        poisoned.fit(X)
    assert (caught.value.epoch, caught.value.batch) == (2, 1)
    assert poisoned.stop_reason_ == "non_finite_loss" and poisoned.n_iter_ == 1
    assert {ran.stop_reason_, early.stop_reason_, poisoned.stop_reason_} <= set(STOP_REASONS)


class _Poison(Callback):
    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            with torch.no_grad():
                next(net.module_.parameters()).fill_(float("nan"))


def test_a_fit_without_interruption_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingInterruptedWarning)
        SpectralAutoencoder(2, max_epochs=1, random_state=0).fit(X_SMALL)


def test_component_kl_of_a_large_set_is_a_random_sample_mean(monkeypatch):
    """Past the sample size, the KL mean is over a seeded sample; it stays close to the full one."""
    import skspecrep._autoencoder as module

    X = line_spectra(300, 64, seed=0)[0]
    full = SpectralAutoencoder(2, max_epochs=2, random_state=0).fit(X)
    monkeypatch.setattr(module, "_KL_SAMPLE", 150)
    sampled = SpectralAutoencoder(2, max_epochs=2, random_state=0).fit(X)
    again = SpectralAutoencoder(2, max_epochs=2, random_state=0).fit(X)
    np.testing.assert_array_equal(sampled.transform(X), full.transform(X))
    np.testing.assert_array_equal(sampled.component_kl_, again.component_kl_)
    assert not np.array_equal(sampled.component_kl_, full.component_kl_)
    np.testing.assert_allclose(sampled.component_kl_, full.component_kl_, rtol=0.15)


# --------------------------------------------------- did the run learn anything?


def _diagnose(kl=(0.5, 0.0), losses=(1.0,) * 12, **kwargs):
    params = {"beta": 1e-3, "kl_warmup": (1.0, 4.0), "stop_reason": "max_epochs", **kwargs}
    return diagnose(np.asarray(kl), np.asarray(losses, dtype=float), **params)


def test_a_healthy_run_has_nothing_to_say():
    assert _diagnose() == []
    # Falling by 0.9 % per epoch at the end is not steep.
    assert _diagnose(losses=1.0 * 0.991 ** np.arange(12)) == []


def test_every_latent_collapsed_is_said_with_what_to_try():
    (found,) = _diagnose(kl=(0.004, 0.0, 0.001))
    assert isinstance(found, PosteriorCollapseWarning)
    assert "0.004 nats" in str(found) and "e.g. 0.0001" in str(found)
    assert isinstance(_diagnose(kl=(ACTIVE_KL, 0.0))[0], PosteriorCollapseWarning)
    # One active latent is a model that learned something.
    assert _diagnose(kl=(0.004, 0.0, 0.02)) == []


def test_latents_at_the_prior_before_the_kl_weight_rises_are_untrained_not_collapsed():
    # Two epochs of a warm-up starting at epoch 5: no KL pressure yet, so no beta advice.
    found = _diagnose(kl=(0.0004, 0.0), losses=(1.0, 0.9), kl_warmup=(5.0, 20.0))
    collapse = [w for w in found if isinstance(w, PosteriorCollapseWarning)]
    assert len(collapse) == 1
    assert "before the KL weight began to rise (epoch 5)" in str(collapse[0])
    assert "smaller beta" not in str(collapse[0])
    # Once the weight has risen, the same codes are a collapse with beta to blame.
    (late,) = [
        w
        for w in _diagnose(kl=(0.0004, 0.0), losses=(1.0,) * 6, kl_warmup=(5.0, 20.0))
        if isinstance(w, PosteriorCollapseWarning)
    ]
    assert "smaller beta" in str(late)


def test_a_run_ended_inside_the_kl_warmup_is_said():
    (found,) = _diagnose(losses=(1.0, 0.9, 0.8))
    assert isinstance(found, TrainingNotConvergedWarning)
    assert isinstance(found, ConvergenceWarning)
    assert "67% of beta" in str(found)  # kl_weight at epoch 3 of the (1, 4) ramp
    assert _diagnose(losses=(1.0, 0.9, 0.8), beta=0.0) == []


def test_a_loss_still_falling_steeply_is_said():
    losses = np.r_[np.ones(8), 0.97 ** np.arange(1, 5)]  # 3 % per epoch at the end
    (found,) = _diagnose(losses=losses)
    assert isinstance(found, TrainingNotConvergedWarning)
    assert "3.0% per epoch" in str(found)
    # Only a run that ran out of epochs can have stopped too soon.
    assert _diagnose(losses=losses, stop_reason="early_stopping") == []
    assert _diagnose(losses=losses, stop_reason="interrupted") == []


def test_fit_warns_and_records_a_collapsed_model():
    ae = SpectralAutoencoder(3, beta=10.0, kl_warmup=(0, 0), max_epochs=3, random_state=0)
    with pytest.warns(PosteriorCollapseWarning, match="Every latent collapsed"):
        ae.fit(X_SMALL)
    # A model that reconstructs only the mean spectrum also does worse than PCA.
    assert [type(w) for w in ae.fit_warnings_] == [PosteriorCollapseWarning, WorseThanPCAWarning]
    assert ae.component_kl_.max() <= ACTIVE_KL


@pytest.mark.parametrize(
    "errors, warned",
    [((0.2, 0.1), True), ((0.1, 0.2), False), ((0.1, 0.1), False), ((np.nan, np.nan), False)],
)
def test_a_network_worse_than_pca_is_said_with_both_errors(errors, warned):
    found = _diagnose(reconstruction=errors)
    assert [type(w) for w in found] == ([WorseThanPCAWarning] if warned else [])
    if warned:
        assert "0.2 against 0.1, 2.00 times" in str(found[0])


def test_fit_compares_the_network_with_pca_of_its_width():
    # Spectra that are exactly the mean plus two components: PCA(2)
    # reconstructs held-out ones to rounding, one epoch of training cannot.
    rng = np.random.RandomState(0)
    basis = rng.normal(size=(2, 48))
    X = (1.0 + rng.normal(size=(300, 2)) @ basis * 0.1).astype(np.float32)
    ae = SpectralAutoencoder(2, max_epochs=1, validation_fraction=0.2, random_state=0)
    with pytest.warns(WorseThanPCAWarning, match="worse than PCA"):
        ae.fit(X)
    assert ae.pca_reconstruction_error_ < 1e-5
    assert ae.reconstruction_error_ > 100 * ae.pca_reconstruction_error_
    # The network's error is its mean absolute error, on a sample of the spectra.
    everywhere = np.abs(ae.inverse_transform(ae.transform(X)) - X).mean()
    np.testing.assert_allclose(ae.reconstruction_error_, everywhere, rtol=0.2)


def test_a_dense_decoder_decays_its_own_weights_and_nothing_else():
    wave = np.exp(np.linspace(np.log(5000.0), np.log(5010.0), 64))
    kw = dict(n_components=2, max_epochs=1, batch_size=32, random_state=0)
    dense = SpectralAutoencoder(architecture="dense", wavelength=wave, virtual_rv=20.0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense.fit(X_SMALL)
    module, optimizer = dense.net_.module_, dense.net_.optimizer_
    decayed = {
        id(p) for group in optimizer.param_groups if group["weight_decay"] > 0
        for p in group["params"]
    }  # fmt: skip
    assert decayed == {id(p) for p in module.dense.parameters()}
    assert all(group["decoupled_weight_decay"] for group in optimizer.param_groups)
    # Decoupled decay of an idle weight: one step multiplies it by 1 - lr * decay.
    last = module.dense[-1].weight
    before = last.detach().clone()
    last.grad = torch.zeros_like(last)
    state = optimizer.state[last]
    state["exp_avg"].zero_()
    optimizer.step()
    factor = 1 - dense.lr * DENSE_WEIGHT_DECAY
    torch.testing.assert_close(last.detach(), before * factor, rtol=1e-6, atol=1e-9)
    # The transposed-convolution decoder trains as before: no decay anywhere.
    conv = SpectralAutoencoder(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conv.fit(X_SMALL)
    assert all(group["weight_decay"] == 0 for group in conv.net_.optimizer_.param_groups)


def test_decorrelation_adds_its_penalty_to_each_training_step():
    """loss(w) - loss(0) = w x the penalty on the batch's posterior means, same noise draw."""
    import torch

    from skspecrep._nn import decorrelation_penalty

    X = np.random.RandomState(0).normal(1.0, 0.1, (64, 32)).astype(np.float32)
    ae = SpectralAutoencoder(3, max_epochs=1, kl_warmup=(0, 0), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae.fit(X)
    net = ae.net_
    batch = (torch.from_numpy(X[:32]), {})  # no inverse variances, no labels
    losses = {}
    for weight in (0.0, 0.5):
        net.decorrelation = weight
        torch.manual_seed(1)
        step = net.train_step_single(batch)
        losses[weight] = float(step["loss"])
    penalty = float(decorrelation_penalty(step["y_pred"][1]))
    assert penalty > 0
    assert losses[0.5] - losses[0.0] == pytest.approx(0.5 * penalty, rel=1e-4)
