"""skorch glue: the training net and its callbacks.

This is the only module that subclasses skorch. The public estimator in
``_autoencoder.py`` builds a :class:`VAENet` inside ``fit`` and keeps it as a
fitted attribute; users never see skorch unless they want to.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.hf import AccelerateMixin
from skorch.history import History
from tqdm.auto import tqdm

from ._nn import kl_weight


class SpectraDataset(torch.utils.data.Dataset):
    """Spectra (and inverse variances) for skorch's DataLoader, read a batch at a time.

    The DataLoader asks for a whole batch of indices through
    ``__getitems__``, which reads them from the :class:`~skspecrep.io._arrays.RowSource`
    in one call: one pass over sorted rows of a memory map, an HDF5 dataset
    or a zarr array instead of one read per spectrum. Each batch is checked
    for NaN and infinity as it is read.

    Parameters
    ----------
    source : RowSource
        The spectra.
    ivar : RowSource or None
        Inverse variances of the same shape, for ``loss="chi2"``.
    indices : ndarray of int or None
        Rows of ``source`` that make up this dataset (a training or
        validation split); None means all.
    """

    def __init__(self, source, ivar=None, indices=None):
        self.source = source
        self.ivar = ivar
        self.indices = None if indices is None else np.asarray(indices)

    def __len__(self) -> int:
        return len(self.source) if self.indices is None else len(self.indices)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def __getitems__(self, positions):
        rows = np.asarray(positions)
        if self.indices is not None:
            rows = self.indices[rows]
        x = self.source.read(rows)
        if self.ivar is None:
            y = np.zeros(len(rows), dtype=np.float32)
        else:
            y = self.ivar.read(rows)
            if (y < 0).any():
                raise ValueError(
                    f"ivar is negative in row {int(rows[np.argmax((y < 0).any(axis=1))])}; "
                    "inverse variances must be non-negative (0 marks a pixel to ignore)."
                )
        return list(zip(x, y))


class VAENet(NeuralNet):
    """A skorch net whose loss is the beta-VAE objective.

    ``X`` batches are spectra; ``y`` batches are per-pixel inverse variances
    when the reconstruction loss is ``"chi2"`` and skorch's placeholder
    otherwise.

    Parameters
    ----------
    beta : float
        Weight of the summed KL once the warm-up is over.
    kl_warmup : tuple of float
        Epochs at which the KL weight starts rising from 0 and reaches beta.
    steps_per_epoch : int
        Optimizer steps per epoch, to place each step on the warm-up ramp.
    use_ivar : bool
        Whether ``y`` carries inverse variances.
    autocast_dtype : torch.dtype or None
        Run the training forward pass under ``torch.autocast`` in this dtype
        (bfloat16); None trains in float32.
    chunk_bytes : int
        Memory budget of one micro-batch's largest activation. Each batch is
        processed in micro-batches within this budget and their gradients
        accumulated: the optimizer step is the same, but activations that
        stay in the CPU cache make large spectra several times faster (on
        the paper's network, a batch of 32 takes about a quarter of the time).
    """

    def __init__(
        self,
        *args,
        beta=1.0,
        kl_warmup=(0.0, 0.0),
        steps_per_epoch=1,
        use_ivar=False,
        chunk_bytes=2**23,
        autocast_dtype=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.autocast_dtype = autocast_dtype
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.steps_per_epoch = steps_per_epoch
        self.use_ivar = use_ivar
        self.chunk_bytes = chunk_bytes

    def micro_batch_size(self) -> int:
        """Spectra per micro-batch, from the module's largest activation."""
        return max(1, self.chunk_bytes // bare_module(self.module_).activation_bytes())

    def _micro_batches(self, batch):
        Xi, yi = unpack_data(batch)
        size = self.micro_batch_size()
        for start in range(0, len(Xi), size):
            rows = slice(start, start + size)
            yield Xi[rows], (yi[rows] if self.use_ivar else yi), len(Xi)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        total, preds = 0.0, []
        parts = list(self._micro_batches(batch))
        for i, (x, y, n) in enumerate(parts):
            with self._autocast():
                y_pred = self.infer(x, **fit_params)
                # Weighting each micro-batch's mean by its share makes the
                # accumulated gradient that of the whole batch's mean.
                loss = self.get_loss(y_pred, y, X=x, training=True) * (len(x) / n)
            self._backward(loss, last=i == len(parts) - 1)
            total = total + loss.detach()
            preds.append(tuple(t.detach() for t in y_pred))
        return {"loss": total, "y_pred": _concat(preds)}

    def _autocast(self):
        """Mixed precision for the forward pass when asked for; weights stay float32."""
        return torch.autocast(
            device_type=torch.device(self.device).type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        )

    def _backward(self, loss, last: bool) -> None:
        loss.backward()

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        try:
            return super().partial_fit(X, y, classes=classes, **fit_params)
        except BaseException:
            # skorch notifies on_train_end only after a loop that ended
            # normally; a bar left open would push the next one down a line.
            for _, callback in self.callbacks_:
                if isinstance(callback, EpochProgressBar):
                    callback.close()
            raise

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        total, preds = 0.0, []
        with torch.no_grad():
            for x, y, n in self._micro_batches(batch):
                y_pred = self.infer(x, **fit_params)
                total = total + self.get_loss(y_pred, y, X=x, training=False) * (len(x) / n)
                preds.append(y_pred)
        return {"loss": total, "y_pred": _concat(preds)}

    def current_kl_weight(self) -> float:
        """KL weight of the training step under way."""
        epochs_done = len(self.history) - 1
        batches_done = len(self.history[-1, "batches"])
        epoch = epochs_done + batches_done / self.steps_per_epoch
        return kl_weight(epoch, self.beta, self.kl_warmup)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        ivar = y_true if self.use_ivar else None
        # Validation always uses the full beta, so that validation losses of
        # different epochs are comparable while the KL weight warms up.
        weight = self.current_kl_weight() if training else self.beta
        return self.criterion_(y_pred, X, ivar, weight)


class AcceleratedVAENet(AccelerateMixin, VAENet):
    """VAENet whose training batches are split across accelerate's processes.

    Each process trains on its share of every batch (the accelerator is
    made with ``split_batches=True``, so ``batch_size`` stays the global
    batch) and DDP averages the gradients, so every process holds the
    same weights after every step: the model of one process training on
    whole batches. Validation is not sharded: every process evaluates the
    whole validation set, so all agree on early stopping.
    """

    # Ours, not the mixin's: keeps the micro-batching.
    train_step_single = VAENet.train_step_single

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        # Each process computed the loss of its share of the batch; all log
        # the whole batch's, so their histories agree, and a non-finite loss
        # on any one stops them all (a process stopping alone would leave
        # the others waiting in the next gradient average).
        step["loss"] = self.accelerator.reduce(step["loss"].detach(), reduction="mean")
        return step

    def _backward(self, loss, last: bool) -> None:
        # Gradients are averaged across processes once per batch, after
        # its last micro-batch, not after every micro-batch.
        if last:
            self.accelerator.backward(loss)
        else:
            with self.accelerator.no_sync(self.module_):
                self.accelerator.backward(loss)

    def _initialize_accelerator(self):
        # The mixin also prepares the criterion; DDP refuses to wrap a
        # module without trainable parameters, which BetaVAELoss is.
        if self._wrapped_with_accelerator:
            return self
        self.module_ = self.accelerator.prepare(self.module_)
        self.optimizer_ = self.accelerator.prepare(self.optimizer_)
        self._wrapped_with_accelerator = True
        return self

    def _unwrap_accelerator(self):
        if not self._wrapped_with_accelerator:
            return
        self.module_ = self.accelerator.unwrap_model(self.module_, keep_fp32_wrapper=False)
        self._wrapped_with_accelerator = False

    def get_iterator(self, dataset, training=False):
        iterator = NeuralNet.get_iterator(self, dataset, training=training)
        if not training:
            return iterator
        # With several processes, accelerate gives a sampler without a
        # generator one of its own, seeded from the global random state when
        # the loader is prepared: once per fit, so a resumed run would shuffle
        # otherwise than the run it resumes. A generator reseeded from the
        # global state at every epoch (run_single_epoch) makes each epoch's
        # order follow from the state that the checkpoint saves, as it does
        # in one process (where accelerate leaves the sampler alone, and so
        # do we: one process shuffles exactly as without accelerate).
        sampler = iterator.sampler
        self.shuffle_generator_ = None
        if self.accelerator.num_processes > 1 and getattr(sampler, "generator", False) is None:
            sampler.generator = self.shuffle_generator_ = torch.Generator()
        return self.accelerator.prepare(iterator)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        generator = getattr(self, "shuffle_generator_", None)
        if training and generator is not None:
            generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
        return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)

    def evaluation_step(self, batch, training=False):
        # The mixin gathers outputs across processes; each process here
        # already evaluates everything it is given, so gathering would
        # duplicate rows.
        return NeuralNet.evaluation_step(self, batch, training=training)

    def release(self):
        """Unwrap the module and optimizer after training.

        Called by the estimator once fit ends rather than at
        ``on_train_end``: early stopping restores its best weights there,
        and they were saved from the wrapped module. A plain module and
        optimizer make the fitted net picklable like any other.
        """
        self._unwrap_accelerator()
        self.optimizer_ = getattr(self.optimizer_, "optimizer", self.optimizer_)

    def __getstate__(self):
        state = super().__getstate__()
        state["accelerator"] = None
        state["shuffle_generator_"] = None
        return state

    def is_main_process(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process


def _is_main_process(net) -> bool:
    """False on every accelerate process but the first; True without accelerate."""
    check = getattr(net, "is_main_process", None)
    return True if check is None else check()


def bare_module(module):
    """The network itself, unwrapped from DistributedDataParallel when wrapped."""
    return getattr(module, "module", module)


def _concat(preds):
    """Join micro-batch outputs (tuples of tensors) along the batch axis."""
    return tuple(torch.cat(parts) for parts in zip(*preds))


class FiniteLossGuard(Callback):
    """Stop with a clear error when the training loss stops being finite.

    Module and optimizer states are copied at the start of every epoch; a
    non-finite batch loss restores them, so the net keeps the weights of the
    last complete epoch, and raises ``FloatingPointError``.
    """

    def on_epoch_begin(self, net, **kwargs):
        self.module_state_ = copy.deepcopy(net.module_.state_dict())
        self.optimizer_state_ = copy.deepcopy(net.optimizer_.state_dict())

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        loss = net.history[-1, "batches", -1, "train_loss"]
        if math.isfinite(loss):
            return
        net.module_.load_state_dict(self.module_state_)
        net.optimizer_.load_state_dict(self.optimizer_state_)
        epoch = net.history[-1, "epoch"]
        batch_no = len(net.history[-1, "batches"])
        kept = f"the end of epoch {epoch - 1}" if epoch > 1 else "initialisation"
        raise FloatingPointError(
            f"The training loss became {loss} at epoch {epoch}, batch {batch_no}. "
            f"Training stopped and the weights from {kept} were restored. Try a "
            "smaller lr or beta, or check the input scale (spectra are best "
            "median-normalised)."
        )


class EpochProgressBar(Callback):
    """A tqdm bar over epochs showing the latest losses."""

    def __init__(self, total):
        self.total = total

    def on_train_begin(self, net, **kwargs):
        # A resumed run starts part-way along the bar.
        done = sum(1 for row in net.history if "train_loss" in row)
        self.bar_ = tqdm(
            total=self.total,
            initial=min(done, self.total),
            unit="epoch",
            desc="SpectralAutoencoder",
            disable=not _is_main_process(net),  # one bar, not one per process
        )

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        losses = {k: f"{row[k]:.4g}" for k in ("train_loss", "valid_loss") if k in row}
        self.bar_.set_postfix(losses, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.close()

    def close(self) -> None:
        """Close the bar; safe to call again, or before training began."""
        bar = getattr(self, "bar_", None)
        if bar is not None:
            bar.close()


def _plain(obj):
    """Numpy scalars as Python numbers, so that the safe unpickler reads them."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    return obj


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: unreadable, or from another model or data set."""


class TrainingCheckpoint(Callback):
    """Save the whole training state after every epoch and resume from it.

    After each complete epoch the module and optimizer states, the history,
    the torch random state and the early-stopping state are written to
    ``path`` (to a temporary file first, then renamed, so an interruption
    while writing leaves the previous checkpoint intact). When training
    begins and ``path`` exists, all of it is restored and only the epochs
    still missing up to ``max_epochs`` are run: an interrupted run that is
    resumed ends with exactly the weights of an uninterrupted one.

    Parameters
    ----------
    path : str or path-like
        Checkpoint file.
    fingerprint : dict
        What must match for a checkpoint to be resumed (pixel count,
        architecture, loss, number of training spectra...). A checkpoint
        written under another fingerprint raises ``ValueError`` rather than
        being silently overwritten.
    """

    def __init__(self, path, fingerprint):
        self.path = path
        self.fingerprint = fingerprint

    def on_train_begin(self, net, **kwargs):
        self.max_epochs_ = net.max_epochs
        self.saved_epochs_ = 0
        path = Path(self.path)
        # A warm start continues the net in memory; only a fresh net resumes.
        if len(net.history) or not path.exists():
            self.saved_epochs_ = len(net.history)
            return
        try:
            state = torch.load(path, map_location=net.device, weights_only=True)
        except Exception as exc:
            raise CheckpointError(
                f"Cannot resume from checkpoint {str(path)!r}: it is not a readable "
                f"skspecrep checkpoint ({exc}). Delete it to train anew."
            ) from exc
        if state.get("fingerprint") != self.fingerprint:
            saved = state.get("fingerprint") or {}
            changed = sorted(
                k
                for k in set(saved) | set(self.fingerprint)
                if saved.get(k) != self.fingerprint.get(k)
            )
            raise CheckpointError(
                f"Checkpoint {str(path)!r} was written by a different model or data set "
                f"({', '.join(changed) or 'format'} differ); delete it or choose another "
                "checkpoint file to train anew."
            )
        module = bare_module(net.module_)
        if not torch.equal(state["module"]["offset"].to(net.device), module.offset):
            raise CheckpointError(
                f"Checkpoint {str(path)!r} was written while training on other spectra "
                "(their mean spectrum differs); delete it or choose another checkpoint file."
            )
        module.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(state["history"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        stopper = dict(net.callbacks_).get("early_stopping")
        if stopper is not None and state.get("early_stopping"):
            for key, value in state["early_stopping"].items():
                setattr(stopper, key, value)
        self.saved_epochs_ = len(net.history)
        done = len(net.history) if not state.get("stopped_early") else self.max_epochs_
        # fit_loop reads max_epochs after this hook: run only what is missing.
        net.max_epochs = max(self.max_epochs_ - done, 0)

    def on_epoch_end(self, net, **kwargs):
        self._save(net, stopped_early=False)

    def on_train_end(self, net, **kwargs):
        net.max_epochs = self.max_epochs_
        last = net.history[-1] if len(net.history) else {}
        # Early stopping ends training from its own on_epoch_end, before ours
        # ran; a user's interrupt mid-epoch leaves an incomplete epoch, which
        # is not saved.
        if "train_loss" in last and len(net.history) > self.saved_epochs_:
            stopper = dict(net.callbacks_).get("early_stopping")
            stopped = stopper is not None and stopper.misses_ >= stopper.patience
            self._save(net, stopped_early=stopped)
            # Nothing else holds the other processes back until the first has
            # written this file, which a fit started next would read.
            accelerator = getattr(net, "accelerator", None)
            if accelerator is not None:
                accelerator.wait_for_everyone()

    def _save(self, net, stopped_early: bool):
        stopper = dict(net.callbacks_).get("early_stopping")
        early = None
        if stopper is not None:
            early = {
                "misses_": int(stopper.misses_),
                "dynamic_threshold_": float(stopper.dynamic_threshold_),
                "best_epoch_": int(stopper.best_epoch_),
                "best_model_weights_": stopper.best_model_weights_,
            }
        state = {
            "fingerprint": self.fingerprint,
            "module": bare_module(net.module_).state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": _plain(net.history.to_list()),
            "torch_rng": torch.get_rng_state(),
            "early_stopping": early,
            "stopped_early": stopped_early,
        }
        if torch.device(net.device).type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        self.saved_epochs_ = len(net.history)
        if not _is_main_process(net):
            return  # every process holds the same weights: one writes them
        path = Path(self.path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        self.saved_epochs_ = len(net.history)
