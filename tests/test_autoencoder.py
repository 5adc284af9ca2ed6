"""SpectralAutoencoder: training behaviour, persistence, errors."""

import os
import pathlib
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import line_spectra
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.callbacks import Callback

from skspecrep import SpectralAutoencoder
from skspecrep.exceptions import (
    CheckpointError,
    ChunkedStorageWarning,
    TrainingNotConvergedWarning,
)

FAST = dict(max_epochs=3, batch_size=32, random_state=0)
# The fitted estimator is shared on purpose: hypothesis examples only read it.
SHARED_FIXTURE = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def fitted(spectra):
    X, _, _ = spectra
    return SpectralAutoencoder(n_components=3, **FAST).fit(X)


# --------------------------------------------------------------- learning


@pytest.mark.slow
def test_learns_the_generative_factors_and_collapses_the_rest():
    """Two factors (line depth and position): two active latents, the rest at the prior."""
    X, depth, shift = line_spectra(400, 128, seed=0)
    X_test, _, _ = line_spectra(200, 128, seed=1)
    ae = SpectralAutoencoder(
        n_components=4, beta=5e-3, max_epochs=100, lr=3e-3, random_state=0
    ).fit(X)
    kl = np.sort(ae.component_kl_)
    assert np.all(kl[:2] < 0.05), kl
    assert np.all(kl[2:] > 0.8), kl
    # Reconstruction well below the mean-spectrum baseline (0.056).
    recon = ae.inverse_transform(ae.transform(X_test))
    assert np.abs(recon - X_test).mean() < 0.015
    assert np.abs(X_test - ae.mean_).mean() > 0.05


@pytest.mark.slow
def test_grid_search_by_elbo_finds_the_true_bottleneck():
    """Two generative factors: the held-out ELBO picks 2 latents, not the widest."""
    X, _, _ = line_spectra(300, 64, seed=0)
    est = SpectralAutoencoder(beta=5e-3, max_epochs=60, lr=3e-3, random_state=0)
    search = GridSearchCV(est, {"n_components": [1, 2, 4, 8]}, cv=2).fit(X)
    assert search.best_params_ == {"n_components": 2}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 0.002  # one latent cannot hold both factors


def test_score_prefers_real_spectra_to_scrambled_ones(fitted, spectra):
    X, _, _ = spectra
    scrambled = X[:, np.random.RandomState(0).permutation(X.shape[1])]
    assert fitted.score(X) > fitted.score(scrambled)
    assert fitted.score(X) == fitted.score(X)  # reproducible with an int random_state


def test_pipeline_and_set_output(spectra):
    X, _, _ = spectra
    pipe = Pipeline(
        [
            ("log", FunctionTransformer(np.log, feature_names_out="one-to-one")),
            ("ae", SpectralAutoencoder(2, **FAST)),
        ]
    ).set_output(transform="pandas")
    Z = pipe.fit_transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == ["spectralautoencoder0", "spectralautoencoder1"]
    np.testing.assert_allclose(Z.to_numpy(), pipe[-1].transform(pipe[0].transform(X)))


# ------------------------------------------------------------ determinism


def test_fixed_random_state_is_reproducible_and_leaves_global_rng_alone(spectra):
    X, _, _ = spectra
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = SpectralAutoencoder(2, **FAST).fit(X).transform(X)
    assert torch.equal(torch.get_rng_state(), before)
    b = SpectralAutoencoder(2, **FAST).fit(X).transform(X)
    c = SpectralAutoencoder(2, **{**FAST, "random_state": 1}).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_keep_the_input_dtype(fitted, spectra, dtype):
    X = spectra[0].astype(dtype)
    Z = fitted.transform(X)
    mean, log_var = fitted.encode(X)
    assert Z.dtype == mean.dtype == log_var.dtype == dtype
    assert fitted.inverse_transform(Z).dtype == dtype
    np.testing.assert_array_equal(mean, Z)


def test_transform_is_independent_of_chunking(fitted, spectra, monkeypatch):
    X = spectra[0]
    whole = fitted.transform(X)
    monkeypatch.setattr(fitted.net_, "chunk_bytes", 1)
    assert fitted.net_.micro_batch_size() == 1
    np.testing.assert_allclose(fitted.transform(X), whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("labelled", [False, True])
def test_micro_batches_accumulate_the_gradient_of_the_whole_batch(spectra, labelled):
    """One optimizer step on a batch equals that step taken in micro-batches.

    With labels too: their penalty is a mean over the whole batch's
    labelled spectra, which micro-batches of one spectrum must add up to.
    """
    X = spectra[0][:32]
    whole = SpectralAutoencoder(2, max_epochs=1, batch_size=32, random_state=0, kl_warmup=(0, 0))
    whole.fit(X)
    split = SpectralAutoencoder(2, max_epochs=1, batch_size=32, random_state=0, kl_warmup=(0, 0))
    split.fit(X[:2])  # initialise, then refit with tiny micro-batches
    split.set_params(warm_start=True)
    whole_net, split_net = whole.net_, split.net_
    split_net.module_.load_state_dict(whole_net.module_.state_dict())
    split_net.initialize_optimizer()
    whole_net.initialize_optimizer()
    split_net.chunk_bytes = 1  # micro-batches of one spectrum
    x = torch.from_numpy(X.astype(np.float32))
    target = {}
    if labelled:
        labels = np.where(np.arange(32) % 3 == 0, spectra[1][:32], np.nan).astype(np.float32)
        target = {"labels": torch.from_numpy(labels[:, None])}
    batch = (x, target)
    grads = []
    for net in (whole_net, split_net):
        net.label_weight, net.label_latents = (1.0, (1,)) if labelled else (0.0, None)
        net.module_.eval()  # no sampling: the two must see the same codes
        net.optimizer_.zero_grad()
        net._train_mode = lambda training: None  # stay in eval mode
        step = net.train_step_single(batch)
        grads.append([p.grad.clone() for p in net.module_.parameters()])
        assert step["y_pred"][0].shape == x.shape
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------- masking


def test_masked_pixels_cannot_change_training(spectra):
    X, _, _ = spectra
    mask = np.ones(X.shape[1])
    mask[:40] = 0
    mask[100:110] = 0
    X_other = X.copy()
    X_other[:, mask == 0] = np.random.RandomState(1).uniform(-50, 50, (len(X), 50))
    a = SpectralAutoencoder(2, pixel_mask=mask, **FAST).fit(X)
    b = SpectralAutoencoder(2, pixel_mask=mask, **FAST).fit(X_other)
    np.testing.assert_allclose(a.history_[:, "train_loss"], b.history_[:, "train_loss"])
    np.testing.assert_allclose(a.transform(X), b.transform(X_other), rtol=1e-5, atol=1e-6)
    assert a.score(X) == pytest.approx(b.score(X_other), rel=1e-5)
    # The unmasked control: changing those pixels does change training.
    c = SpectralAutoencoder(2, **FAST).fit(X_other)
    assert not np.allclose(a.history_[:, "train_loss"], c.history_[:, "train_loss"])


def test_chi2_ignores_pixels_with_zero_inverse_variance(spectra):
    X, _, _ = spectra
    ivar = np.full(X.shape, 1e4)
    ivar[::2, 10:30] = 0
    X_other = X.copy()
    X_other[::2, 10:30] += 3.0
    a = SpectralAutoencoder(2, loss="chi2", **FAST).fit(X, ivar=ivar)
    b = SpectralAutoencoder(2, loss="chi2", **FAST).fit(X, ivar=ivar)
    assert a.score(X, ivar=ivar) == b.score(X, ivar=ivar)
    # Pixels with ivar=0 do not count in the score.
    assert a.score(X_other[1::2], ivar=ivar[1::2]) == a.score(X[1::2], ivar=ivar[1::2])
    assert np.all(np.isfinite(a.history_[:, "train_loss"]))


# ------------------------------------------------- early stopping and NaN


class _RecordWeights(Callback):
    def on_epoch_end(self, net, **kwargs):
        self.snapshots = getattr(self, "snapshots", [])
        self.snapshots.append({k: v.clone() for k, v in net.module_.state_dict().items()})


def test_early_stopping_restores_the_best_epoch(spectra):
    X, _, _ = spectra
    recorder = _RecordWeights()
    ae = SpectralAutoencoder(
        2,
        max_epochs=40,
        lr=2e-2,
        validation_fraction=0.3,
        n_iter_no_change=3,
        callbacks=[("record", recorder)],
        random_state=0,
    ).fit(X)
    assert recorder.__dict__ == {}  # the user's instance was cloned, not used
    used = dict(ae.net_.callbacks_)["record"]
    valid = ae.history_[:, "valid_loss"]
    best = int(np.argmin(valid))
    assert ae.n_iter_ < 40  # it stopped early
    assert ae.best_epoch_ == best + 1 != ae.n_iter_
    final = ae.net_.module_.state_dict()
    for name, value in used.snapshots[best].items():
        torch.testing.assert_close(final[name], value, rtol=0, atol=0)


class _PoisonAtEpoch(Callback):
    def __init__(self, epoch=3):
        self.epoch = epoch

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            with torch.no_grad():
                next(net.module_.parameters()).fill_(float("nan"))


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_good_weights(spectra):
    X, _, _ = spectra
    ae = SpectralAutoencoder(2, max_epochs=5, callbacks=[_PoisonAtEpoch(3)], random_state=0)
    with pytest.raises(FloatingPointError, match="epoch 3.*end of epoch 2 were restored"):
        ae.fit(X)
    two_epochs = SpectralAutoencoder(2, max_epochs=2, random_state=0).fit(X)
    np.testing.assert_array_equal(ae.transform(X), two_epochs.transform(X))
    assert np.all(np.isfinite(ae.transform(X)))


# ----------------------------------------------------------- warm start


def test_warm_start_continues_training(spectra):
    X, _, _ = spectra
    ae = SpectralAutoencoder(2, warm_start=True, **FAST).fit(X)
    first = ae.history_[:, "train_loss"]
    ae.fit(X)
    assert ae.n_iter_ == len(ae.history_) == 6
    assert ae.history_[:, "train_loss"][:3] == first
    assert ae.history_[-1, "train_loss"] < first[-1]
    ae.set_params(n_components=3)
    with pytest.raises(ValueError, match="after changing n_components"):
        ae.fit(X)


# ------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("validation_fraction", [None, 0.2])
def test_resumed_training_ends_with_the_weights_of_an_uninterrupted_run(
    spectra, tmp_path, validation_fraction
):
    X = spectra[0][:120]
    kw = dict(
        n_components=2, batch_size=16, random_state=0, validation_fraction=validation_fraction
    )
    straight = SpectralAutoencoder(max_epochs=4, **kw).fit(X)
    path = tmp_path / "train.pt"
    SpectralAutoencoder(max_epochs=2, checkpoint=path, **kw).fit(X)
    assert path.exists() and not (tmp_path / "train.pt.tmp").exists()
    resumed = SpectralAutoencoder(max_epochs=4, checkpoint=str(path), **kw).fit(X)
    assert resumed.n_iter_ == 4
    assert resumed.history_[:, "train_loss"] == pytest.approx(
        straight.history_[:, "train_loss"], rel=0, abs=0
    )
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))
    np.testing.assert_array_equal(resumed.component_kl_, straight.component_kl_)
    # Resuming a finished run trains no further.
    again = SpectralAutoencoder(max_epochs=4, checkpoint=path, **kw).fit(X)
    assert again.n_iter_ == 4
    np.testing.assert_array_equal(again.transform(X), straight.transform(X))


def test_resume_after_early_stopping_keeps_the_best_weights(spectra, tmp_path):
    X = spectra[0][:100]
    kw = dict(
        n_components=2,
        max_epochs=30,
        validation_fraction=0.3,
        n_iter_no_change=1,
        lr=0.05,
        random_state=0,
    )
    path = tmp_path / "train.pt"
    first = SpectralAutoencoder(checkpoint=path, **kw).fit(X)
    assert first.n_iter_ < 30, "the test needs a run that stops early"
    resumed = SpectralAutoencoder(checkpoint=path, **kw).fit(X)
    assert resumed.n_iter_ == first.n_iter_
    assert resumed.best_epoch_ == first.best_epoch_
    np.testing.assert_array_equal(resumed.transform(X), first.transform(X))


def test_checkpoint_of_another_model_or_data_is_refused_not_overwritten(spectra, tmp_path):
    X = spectra[0][:80]
    path = tmp_path / "train.pt"
    SpectralAutoencoder(2, max_epochs=1, checkpoint=path, random_state=0).fit(X)
    saved = path.read_bytes()
    with pytest.raises(ValueError, match="n_components differ"):
        SpectralAutoencoder(3, max_epochs=2, checkpoint=path, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_training_spectra differ"):
        SpectralAutoencoder(2, max_epochs=2, checkpoint=path, random_state=0).fit(X[:60])
    with pytest.raises(ValueError, match="mean spectrum differs"):
        SpectralAutoencoder(2, max_epochs=2, checkpoint=path, random_state=0).fit(X + 0.1)
    assert path.read_bytes() == saved
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable skspecrep checkpoint"):
        SpectralAutoencoder(2, max_epochs=2, checkpoint=path, random_state=0).fit(X)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"my notes", "not a readable skspecrep checkpoint"),
        (None, "holds no fingerprint of a run"),  # a torch file, but not ours
        ("other run", "n_components differ"),
        ("object", "holds a Python object of pathlib.PurePosixPath, which checkpoints never"),
    ],
)
def test_a_warm_start_never_overwrites_a_file_that_is_not_its_checkpoint(
    spectra, tmp_path, content, reason
):
    """A warm start writes its checkpoint after the first epoch: the file is checked before."""
    X = spectra[0][:80]
    ae = SpectralAutoencoder(2, max_epochs=1, random_state=0).fit(X)
    path = tmp_path / "notes.txt"
    if content is None:
        torch.save({"weights": torch.ones(3)}, path)
    elif content == "object":  # a global that torch's safe unpickler blocks
        torch.save({"fingerprint": {}, "x": pathlib.PurePosixPath("x")}, path)
    elif content == "other run":
        SpectralAutoencoder(3, max_epochs=1, checkpoint=path, random_state=0).fit(X)
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=f"Will not overwrite checkpoint .*{reason}"):
        ae.set_params(checkpoint=path, warm_start=True).fit(X)
    assert path.read_bytes() == before
    assert ae.n_iter_ == 1  # refused before any training
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no temporary file left


def test_resuming_a_checkpoint_takes_this_fits_learning_rate(spectra, tmp_path):
    X = spectra[0][:80]
    path = tmp_path / "train.pt"
    SpectralAutoencoder(2, max_epochs=1, lr=1e-3, checkpoint=path, random_state=0).fit(X)
    ae = SpectralAutoencoder(2, max_epochs=2, lr=2e-4, checkpoint=path, random_state=0).fit(X)
    assert ae.n_iter_ == 2  # resumed: one more epoch
    assert [g["lr"] for g in ae.net_.optimizer_.param_groups] == [2e-4]
    saved = torch.load(path, weights_only=True)["optimizer"]["param_groups"]
    assert [g["lr"] for g in saved] == [2e-4]


def test_warm_start_with_a_checkpoint_trains_max_epochs_more(spectra, tmp_path):
    X = spectra[0][:80]
    path = tmp_path / "train.pt"
    ae = SpectralAutoencoder(2, max_epochs=2, warm_start=True, checkpoint=path, random_state=0)
    ae.fit(X).fit(X)
    assert ae.n_iter_ == 4
    state = torch.load(path, weights_only=True)
    assert len(state["history"]) == 4


# ------------------------------------------------------------ persistence


def test_pickle_round_trip_gives_identical_output(fitted, spectra):
    X = spectra[0]
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(restored.component_kl_, fitted.component_kl_)
    assert clone(fitted).get_params() == fitted.get_params()


def test_model_saved_from_cuda_loads_on_cpu(fitted, spectra, monkeypatch):
    """Simulated: the net records a CUDA device; unpickling without CUDA maps to CPU.

    No GPU is available on the test machines, so the tensors themselves are on
    the CPU; what is exercised is the device bookkeeping on load.
    """
    X = spectra[0]
    ae = pickle.loads(pickle.dumps(fitted))
    ae.net_.device = "cuda"
    payload = pickle.dumps(ae)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = pickle.loads(payload)
    assert any("CUDA" in str(w.message) for w in caught)
    assert str(restored.net_.device) == "cpu"
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))


# ------------------------------------------------------------- progress


def test_verbose_shows_a_progress_bar_with_losses(spectra, capsys):
    X, _, _ = spectra
    SpectralAutoencoder(2, **FAST, verbose=1).fit(X)
    err = capsys.readouterr().err
    assert "3/3" in err and "epoch" in err and "train_loss=" in err
    SpectralAutoencoder(2, **FAST).fit(X)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_a_failed_fit_closes_its_progress_bar(spectra):
    # An open bar would hold its terminal line: the next fit's bar would be
    # drawn one line further down.
    X, _, _ = spectra
    failing = SpectralAutoencoder(2, **{**FAST, "max_epochs": 5}, verbose=1)
    with pytest.raises(FloatingPointError):
        failing.set_params(callbacks=[_PoisonAtEpoch(2)]).fit(X)
    assert dict(failing.net_.callbacks_)["progress_bar"].bar_.disable  # closed
    ae = SpectralAutoencoder(2, **FAST, verbose=1).fit(X)
    assert dict(ae.net_.callbacks_)["progress_bar"].bar_.pos == 0


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "X, match",
    [
        (np.full((5, 8), np.nan), "NaN"),
        (np.full((5, 8), np.inf), "infinity"),
        (np.empty((0, 8)), "0 sample"),
        (np.ones((1, 8)), "n_samples=1"),
        (np.array([["a", "b"], ["c", "d"]]), "convert string to float"),
        (np.ones(8), "Expected 2D array"),
    ],
)
def test_fit_rejects_bad_spectra(X, match):
    with pytest.raises(ValueError, match=match):
        SpectralAutoencoder(**FAST).fit(X)


@pytest.mark.parametrize("device", ["meta", "gpu", "cuda:x"])
def test_fit_accepts_only_devices_that_hold_weights(device):
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        SpectralAutoencoder(device=device, **FAST).fit(np.ones((5, 8)))


@settings(max_examples=20, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(
    row=st.integers(0, 9),
    col=st.integers(0, 255),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_transform_rejects_any_non_finite_pixel(fitted, row, col, bad):
    X = np.ones((10, 256))
    X[row, col] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.transform(X)


@settings(max_examples=15, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(n_features=st.integers(1, 600).filter(lambda n: n != 256))
def test_transform_names_a_wrong_pixel_count(fitted, n_features):
    with pytest.raises(ValueError, match=f"X has {n_features} features.*expecting 256"):
        fitted.transform(np.ones((2, n_features)))


@settings(max_examples=10, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(Z=arrays(np.float64, st.tuples(st.integers(1, 5), st.just(3)), elements=st.floats(-3, 3)))
def test_inverse_transform_of_any_code_is_a_finite_spectrum(fitted, Z):
    out = fitted.inverse_transform(Z)
    assert out.shape == (len(Z), 256) and np.all(np.isfinite(out))


def test_inverse_transform_names_a_wrong_code_width(fitted):
    with pytest.raises(ValueError, match="4 latent dimensions.*n_components=3"):
        fitted.inverse_transform(np.zeros((2, 4)))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(architecture="sedaghat2021"), "exactly 327,680 pixels.*X has 256"),
        (dict(pixel_mask=np.ones(5)), "pixel_mask has shape \\(5,\\) but X has 256 pixels"),
        (dict(pixel_mask=-np.ones(256)), "non-negative"),
        (dict(pixel_mask=np.zeros(256)), "masks every pixel"),
        (dict(loss="chi2"), "needs the per-pixel inverse variance"),
        (dict(kl_warmup=(5, 1)), "start <= end"),
        (dict(kl_warmup=(1,)), "two numbers"),
        (dict(validation_fraction=0.999), "leaves no training spectra"),
        (dict(architecture={"channels": [8], "kernel_sizes": [4], "strides": [1]}), "odd"),
        (dict(device="tpu"), "device must be"),
        (dict(n_components=0), "n_components"),
        (dict(loss="huber"), "loss"),
    ],
)
def test_fit_names_bad_parameters(spectra, params, match):
    with pytest.raises(ValueError, match=match):
        SpectralAutoencoder(**{**FAST, **params}).fit(spectra[0])


def test_cuda_requested_without_cuda_is_a_clear_error(spectra, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        SpectralAutoencoder(device="cuda", **FAST).fit(spectra[0])


def test_ivar_is_checked(spectra):
    X = spectra[0]
    with pytest.raises(ValueError, match="only used by loss='chi2'"):
        SpectralAutoencoder(**FAST).fit(X, ivar=np.ones_like(X))
    with pytest.raises(ValueError, match="ivar has shape"):
        SpectralAutoencoder(loss="chi2", **FAST).fit(X, ivar=np.ones((3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        SpectralAutoencoder(loss="chi2", **FAST).fit(X, ivar=-np.ones_like(X))


def test_callbacks_must_be_skorch_callbacks(spectra):
    with pytest.raises(TypeError, match="item 0 is str"):
        SpectralAutoencoder(callbacks=["print"], **FAST).fit(spectra[0])


# ------------------------------------------------------ on-disk and weights


def _on_disk(kind, X, folder):
    import h5py
    import zarr

    X = np.asarray(X, dtype=np.float32)
    if kind == "memmap":
        np.save(folder / "x.npy", X)
        return np.load(folder / "x.npy", mmap_mode="r")
    if kind == "hdf5":
        return h5py.File(folder / "x.h5", "w").create_dataset(
            "flux", data=X, chunks=(8, X.shape[1])
        )
    z = zarr.create_array(
        str(folder / "x.zarr"), shape=X.shape, chunks=(16, X.shape[1]), dtype="f4"
    )
    z[:] = X
    return z


@pytest.mark.parametrize("kind", ["memmap", "hdf5", "zarr"])
def test_on_disk_spectra_train_and_encode_exactly_as_in_memory(spectra, tmp_path, kind):
    X = spectra[0][:96].astype(np.float32)
    kw = dict(n_components=2, max_epochs=2, batch_size=16, random_state=0, validation_fraction=0.25)
    in_memory = SpectralAutoencoder(**kw).fit(X)
    disk = _on_disk(kind, X, tmp_path)
    streamed = SpectralAutoencoder(**kw).fit(disk)
    assert streamed.history_[:, "valid_loss"] == in_memory.history_[:, "valid_loss"]
    np.testing.assert_array_equal(streamed.transform(disk), in_memory.transform(X))
    np.testing.assert_array_equal(streamed.component_kl_, in_memory.component_kl_)
    assert streamed.transform(disk).dtype == np.float32
    assert streamed.score(disk) == in_memory.score(X)


@pytest.mark.parametrize("kind", ["memmap", "hdf5", "zarr"])
def test_a_non_finite_spectrum_on_disk_is_named_by_row(spectra, tmp_path, kind):
    X = spectra[0][:64].astype(np.float32)
    X[41, 7] = np.nan
    disk = _on_disk(kind, X, tmp_path)
    with pytest.raises(ValueError, match="NaN or infinity in row 41"):
        SpectralAutoencoder(n_components=2, max_epochs=1, random_state=0).fit(disk)
    clean = SpectralAutoencoder(n_components=2, max_epochs=1, random_state=0).fit(X[:40])
    with pytest.raises(ValueError, match="NaN or infinity in row 41"):
        clean.transform(disk)


def test_hdf5_compressed_in_chunks_of_many_rows_warns_that_training_reads_them_all(
    spectra, tmp_path
):
    import h5py

    X = spectra[0][:100].astype(np.float32)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("wide", data=X, chunks=(100, X.shape[1]), compression="gzip")
        f.create_dataset("narrow", data=X, chunks=(8, X.shape[1]), compression="gzip")
        f.create_dataset("plain", data=X, chunks=(100, X.shape[1]))
    kw = dict(n_components=2, max_epochs=1, random_state=0)
    with h5py.File(tmp_path / "x.h5", "r") as f:
        with pytest.warns(UserWarning, match=r"chunks of 100 rows.*chunks=\(8, 256\)"):
            SpectralAutoencoder(**kw).fit(f["wide"])
        with warnings.catch_warnings():
            warnings.simplefilter("error", ChunkedStorageWarning)
            SpectralAutoencoder(**kw).fit(f["narrow"])  # a few rows per chunk
            SpectralAutoencoder(**kw).fit(f["plain"])  # uncompressed: rows read alone


def test_on_disk_spectra_with_the_wrong_pixel_count_are_refused(fitted, tmp_path, spectra):
    disk = _on_disk("memmap", spectra[0][:5, :100], tmp_path)
    with pytest.raises(ValueError, match="100 features"):
        fitted.transform(disk)


def test_chi2_reads_inverse_variances_from_disk(spectra, tmp_path):
    X = spectra[0][:64].astype(np.float32)
    ivar = np.full_like(X, 1e4)
    ivar[:, :10] = 0
    kw = dict(n_components=2, max_epochs=2, batch_size=16, random_state=0, loss="chi2")
    np.save(tmp_path / "ivar.npy", ivar)
    disk_ivar = np.load(tmp_path / "ivar.npy", mmap_mode="r")
    a = SpectralAutoencoder(**kw).fit(X, ivar=ivar)
    b = SpectralAutoencoder(**kw).fit(X, ivar=disk_ivar)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    ivar[5, 3] = -1
    np.save(tmp_path / "bad.npy", ivar)
    with pytest.raises(ValueError, match="ivar is negative in row 5"):
        SpectralAutoencoder(**kw).fit(X, ivar=np.load(tmp_path / "bad.npy", mmap_mode="r"))


class BatchRecorder(Callback):
    """Keeps the first pixel of every training spectrum drawn."""

    def initialize(self):
        self.drawn_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.drawn_.extend(batch[0][:, 0].tolist())


def _tagged(spectra, n):
    """Spectra whose first pixel is their row number, to see which were drawn."""
    X = spectra[0][:n].astype(np.float32)
    X[:, 0] = np.arange(n)
    return X


def test_sample_weight_draws_spectra_in_proportion_and_never_weight_zero(spectra):
    X = _tagged(spectra, 90)
    weight = np.r_[np.zeros(30), np.ones(30), np.full(30, 3.0)]
    ae = SpectralAutoencoder(
        n_components=2, max_epochs=10, batch_size=30, random_state=0,
        callbacks=[("recorder", BatchRecorder())],
    ).fit(X, sample_weight=weight)  # fmt: skip
    drawn = np.array(dict(ae.net_.callbacks_)["recorder"].drawn_).astype(int)
    assert len(drawn) == 10 * 90  # an epoch is still n_samples spectra
    counts = np.bincount(drawn // 30, minlength=3)
    assert counts[0] == 0
    # Expected 225 and 675 draws: a binomial's 4-sigma band is about +-50.
    assert abs(counts[1] - 225) < 50 and abs(counts[2] - 675) < 50


def test_equal_weights_train_exactly_as_no_weights(spectra):
    X = spectra[0][:64]
    kw = dict(n_components=2, max_epochs=2, batch_size=16, random_state=0)
    plain = SpectralAutoencoder(**kw).fit(X)
    equal = SpectralAutoencoder(**kw).fit(X, sample_weight=np.full(64, 0.5))
    np.testing.assert_array_equal(plain.transform(X), equal.transform(X))


def test_weighted_training_resumes_exactly_and_refuses_other_weights(spectra, tmp_path):
    X = spectra[0][:80]
    weight = np.random.RandomState(1).uniform(0, 2, 80)
    kw = dict(n_components=2, batch_size=16, random_state=0)
    straight = SpectralAutoencoder(max_epochs=4, **kw).fit(X, sample_weight=weight)
    path = tmp_path / "w.pt"
    SpectralAutoencoder(max_epochs=2, checkpoint=path, **kw).fit(X, sample_weight=weight)
    resumed = SpectralAutoencoder(max_epochs=4, checkpoint=path, **kw).fit(X, sample_weight=weight)
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))
    with pytest.raises(ValueError, match="sample_weight_sha1"):
        SpectralAutoencoder(max_epochs=5, checkpoint=path, **kw).fit(X, sample_weight=weight[::-1])


@pytest.mark.parametrize(
    "weight, match",
    [
        (np.ones(10), r"shape \(10,\).*one weight per spectrum"),
        (-np.ones(64), "non-negative"),
        (np.zeros(64), "zero"),
        (np.r_[np.nan, np.ones(63)], "NaN"),
    ],
)
def test_bad_sample_weights_are_named(spectra, weight, match):
    with pytest.raises(ValueError, match=match):
        SpectralAutoencoder(n_components=2, max_epochs=1).fit(spectra[0][:64], sample_weight=weight)


def test_bf16_mixed_precision_trains_the_same_model_to_bf16_accuracy(spectra):
    X = spectra[0][:128].astype(np.float32)
    kw = dict(n_components=2, max_epochs=4, batch_size=32, random_state=0)
    full = SpectralAutoencoder(**kw).fit(X)
    mixed = SpectralAutoencoder(mixed_precision="bf16", **kw).fit(X)
    assert mixed.net_.module_.fc_mu.weight.dtype == torch.float32  # weights stay float32
    losses = np.array(mixed.history_[:, "train_loss"])
    # bfloat16 keeps 8 bits of mantissa: the curves agree to about 1 %.
    np.testing.assert_allclose(losses, full.history_[:, "train_loss"], rtol=0.02)
    Z = mixed.transform(X)
    assert Z.dtype == np.float32
    # But they are not the same computation.
    assert not np.array_equal(Z, full.transform(X))
    np.testing.assert_allclose(Z, full.transform(X), atol=0.05 * np.abs(Z).max())


@pytest.mark.slow
def test_on_real_spectra_the_network_beats_pca_and_its_velocity_latent_is_monotone():
    """Three real stars (HARPS ADP, HARPS s1d, ESPRESSO S1D) around Mg b, 386 pixels.

    With the transposed-convolution decoder ("auto") the same run reconstructs
    at 0.97x PCA's error (benchmarks/real_spectra.py records why).
    """
    from scipy.stats import spearmanr
    from sklearn.decomposition import PCA

    from skspecrep import MedianNormalizer
    from skspecrep.datasets import make_template_spectra
    from skspecrep.io import read_spectrum

    data = os.path.join(os.path.dirname(__file__), "data")
    names = ("HARPS_ADP_MgB.fits", "HARPS_s1d_MgB.fits", "ESPRESSO_S1D_MgB.fits")
    templates = [read_spectrum(os.path.join(data, name)) for name in names]
    X, labels, wavelength = make_template_spectra(templates, 600, random_state=0)
    X = MedianNormalizer().fit_transform(X).astype(np.float32)
    X_train, X_test, y_test = X[:400], X[400:], labels.iloc[400:]
    pca = PCA(8, random_state=0).fit(X_train)
    pca_l1 = np.abs(pca.inverse_transform(pca.transform(X_test)) - X_test).mean()
    ae = SpectralAutoencoder(
        8, architecture="dense", wavelength=wavelength, virtual_rv=60.0, max_epochs=30,
        random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingNotConvergedWarning)
        ae.fit(X_train)
    Z = ae.transform(X_test)
    assert np.abs(ae.inverse_transform(Z) - X_test).mean() < 0.8 * pca_l1
    assert ae.reconstruction_error_ < ae.pca_reconstruction_error_
    for k in range(3):
        star = (y_test["template"] == k).to_numpy()
        rho = spearmanr(Z[star, ae.velocity_latent_], y_test["radial_velocity"][star])[0]
        assert abs(rho) > 0.98, (names[k], rho)
