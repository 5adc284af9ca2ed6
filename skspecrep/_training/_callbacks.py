"""skorch callbacks of a training run; each owns its state and resets it in ``initialize``.

They talk to the net through skorch's public interface only (its history,
``module_``, ``optimizer_``), so that the run in ``_run.py`` can save,
restore and query them without reaching into skorch.
"""

from __future__ import annotations

import copy
import math

from skorch.callbacks import Callback
from tqdm.auto import tqdm

from ..exceptions import NonFiniteLossError


def bare_module(module):
    """The network itself, unwrapped from DistributedDataParallel when wrapped."""
    return getattr(module, "module", module)


def is_main_process(net) -> bool:
    """False on every accelerate process but the first; True without accelerate."""
    check = getattr(net, "is_main_process", None)
    return True if check is None else check()


class EpochRollback(Callback):
    """Remember the module and optimizer states at the start of each epoch.

    A run that stops inside an epoch (a non-finite loss, the user's Ctrl-C)
    calls :meth:`restore`, so the net keeps exactly the weights of its last
    complete epoch, the state a checkpoint holds.
    """

    def initialize(self):
        self.module_state_ = None
        self.optimizer_state_ = None
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.module_state_ = copy.deepcopy(bare_module(net.module_).state_dict())
        self.optimizer_state_ = copy.deepcopy(net.optimizer_.state_dict())

    def restore(self, net) -> None:
        """Put back the states of the start of the current epoch, if one began."""
        if self.module_state_ is None:
            return
        bare_module(net.module_).load_state_dict(self.module_state_)
        net.optimizer_.load_state_dict(self.optimizer_state_)


class FiniteLossGuard(Callback):
    """Stop training with :class:`~skspecrep.exceptions.NonFiniteLossError` on a NaN/inf loss.

    The run catches the error, restores the weights of the last complete
    epoch (:class:`EpochRollback`) and records ``"non_finite_loss"``.
    """

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        loss = net.history[-1, "batches", -1, "train_loss"]
        if math.isfinite(loss):
            return
        epoch = net.history[-1, "epoch"]
        batch_no = len(net.history[-1, "batches"])
        kept = f"the end of epoch {epoch - 1}" if epoch > 1 else "initialisation"
        raise NonFiniteLossError(
            f"The training loss became {loss} at epoch {epoch}, batch {batch_no}. "
            f"Training stopped and the weights from {kept} were restored. Try a "
            "smaller lr or beta, or check the input scale (spectra are best "
            "median-normalised).",
            epoch=epoch,
            batch=batch_no,
        )


class ValidationStopper(Callback):
    """Track the validation loss; say when it stopped improving; keep the best weights.

    Unlike skorch's ``EarlyStopping`` it does not stop training itself (by
    raising ``KeyboardInterrupt``, which a user's Ctrl-C also raises): the
    run asks :attr:`should_stop` after each epoch. Its whole state is
    :meth:`state_dict`, which checkpoints save and warm starts carry over.

    Parameters
    ----------
    patience : int
        Epochs without improvement after which :attr:`should_stop` is True.
    threshold : float, default=1e-4
        Relative improvement of the best loss that counts as one.
    """

    def __init__(self, patience: int, threshold: float = 1e-4):
        self.patience = patience
        self.threshold = threshold

    def initialize(self):
        self.best_loss_ = math.inf
        self.best_epoch_ = 0
        self.misses_ = 0
        self.best_weights_ = None
        return self

    @property
    def should_stop(self) -> bool:
        return self.misses_ >= self.patience

    def on_epoch_end(self, net, **kwargs):
        loss = float(net.history[-1, "valid_loss"])
        if math.isfinite(self.best_loss_):
            # An improvement must beat the best by ``threshold`` of its size.
            improved = loss < self.best_loss_ - self.threshold * abs(self.best_loss_)
        else:
            improved = math.isfinite(loss)
        if improved:
            self.best_loss_ = loss
            self.best_epoch_ = int(net.history[-1, "epoch"])
            self.misses_ = 0
            self.best_weights_ = copy.deepcopy(bare_module(net.module_).state_dict())
        else:
            self.misses_ += 1

    def restore_best(self, net) -> None:
        """Load the weights of the best epoch into the net, when there was one."""
        if self.best_weights_ is not None:
            bare_module(net.module_).load_state_dict(self.best_weights_)

    def state_dict(self) -> dict:
        return {
            "best_loss": self.best_loss_,
            "best_epoch": self.best_epoch_,
            "misses": self.misses_,
            "best_weights": self.best_weights_,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_loss_ = float(state["best_loss"])
        self.best_epoch_ = int(state["best_epoch"])
        self.misses_ = int(state["misses"])
        self.best_weights_ = state["best_weights"]


class EpochProgressBar(Callback):
    """A tqdm bar over the epochs of a run, showing the latest losses.

    It runs from the epochs already in the history (a resumed or warm
    started run) to ``net.max_epochs``, which the run sets to the epoch it
    trains up to.
    """

    def initialize(self):
        self.bar_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.close()
        done = len(net.history)
        self.bar_ = tqdm(
            total=max(net.max_epochs, done),
            initial=done,
            unit="epoch",
            desc="SpectralAutoencoder",
            disable=not is_main_process(net),  # one bar, not one per process
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
        if getattr(self, "bar_", None) is not None:
            self.bar_.close()
