"""skorch glue: the training net and its callbacks.

This is the only module that subclasses skorch. The public estimator in
``_autoencoder.py`` builds a :class:`VAENet` inside ``fit`` and keeps it as a
fitted attribute; users never see skorch unless they want to.
"""

from __future__ import annotations

import copy
import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from tqdm.auto import tqdm

from ._nn import kl_weight


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
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.steps_per_epoch = steps_per_epoch
        self.use_ivar = use_ivar
        self.chunk_bytes = chunk_bytes

    def micro_batch_size(self) -> int:
        """Spectra per micro-batch, from the module's largest activation."""
        return max(1, self.chunk_bytes // self.module_.activation_bytes())

    def _micro_batches(self, batch):
        Xi, yi = unpack_data(batch)
        size = self.micro_batch_size()
        for start in range(0, len(Xi), size):
            rows = slice(start, start + size)
            yield Xi[rows], (yi[rows] if self.use_ivar else yi), len(Xi)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        total, preds = 0.0, []
        for x, y, n in self._micro_batches(batch):
            y_pred = self.infer(x, **fit_params)
            # Weighting each micro-batch's mean by its share makes the
            # accumulated gradient that of the whole batch's mean.
            loss = self.get_loss(y_pred, y, X=x, training=True) * (len(x) / n)
            loss.backward()
            total = total + loss.detach()
            preds.append(tuple(t.detach() for t in y_pred))
        return {"loss": total, "y_pred": _concat(preds)}

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
        self.bar_ = tqdm(total=self.total, unit="epoch", desc="SpectralAutoencoder")

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        losses = {k: f"{row[k]:.4g}" for k in ("train_loss", "valid_loss") if k in row}
        self.bar_.set_postfix(losses, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
