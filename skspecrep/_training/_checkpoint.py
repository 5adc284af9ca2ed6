"""The training checkpoint: the whole state of a run after each epoch, and resuming from it.

Everything is saved and restored through public interfaces: the module's
and optimizer's ``state_dict``, skorch's ``History``, torch's random state,
and the early-stopping callback's own ``state_dict``. The file is read with
``torch.load(weights_only=True)``, so opening a checkpoint runs no code.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from skorch.history import History

from .._files import replace_atomically
from ..exceptions import CheckpointError
from ._callbacks import bare_module, is_main_process


def plain(obj):
    """Numpy scalars as Python numbers, so that the safe unpickler reads them."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


class TrainingCheckpoint:
    """A checkpoint file of one run.

    Parameters
    ----------
    path : str or path-like
        The file. Written to a temporary file first, then renamed, so an
        interruption while writing leaves the previous checkpoint intact.
    fingerprint : dict
        What must match for the file to be resumed (pixel count,
        architecture, loss, training spectra, validation split...). A file
        written under another fingerprint raises
        :class:`~skspecrep.exceptions.CheckpointError` rather than being
        overwritten.
    """

    def __init__(self, path, fingerprint: dict):
        self.path = Path(path)
        self.fingerprint = fingerprint

    def exists(self) -> bool:
        return self.path.exists()

    def resume(self, net, stopper=None) -> str | None:
        """Load the saved state into a freshly initialised net.

        Returns
        -------
        stop_reason : str or None
            Why the saved run stopped (``"max_epochs"``, ``"early_stopping"``),
            or None if it was still under way when saved.
        """
        state = self._read("Cannot resume from", map_location=net.device)
        module = bare_module(net.module_)
        if not torch.equal(state["module"]["offset"].to(module.offset.device), module.offset):
            raise CheckpointError(
                f"Checkpoint {str(self.path)!r} was written while training on other spectra "
                "(their mean spectrum differs); delete it or choose another checkpoint file."
            )
        module.load_state_dict(state["module"])
        # The saved moments, with this fit's learning rates: a resumed run
        # with the same lr is exact, and a changed lr takes effect, as it
        # does on a warm start (torch would restore the saved rates).
        rates = [group["lr"] for group in net.optimizer_.param_groups]
        net.optimizer_.load_state_dict(state["optimizer"])
        for group, rate in zip(net.optimizer_.param_groups, rates):
            group["lr"] = rate
        net.history = History(state["history"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        if stopper is not None and state["early_stopping"] is not None:
            stopper.load_state_dict(state["early_stopping"])
        return state["stop_reason"]

    def claim(self) -> None:
        """Check, before training, that the run may write its checkpoint file.

        A file already there must be a checkpoint of this run (the same
        fingerprint): anything else, whether another run's checkpoint or a
        file that is no checkpoint at all, raises
        :class:`~skspecrep.exceptions.CheckpointError` instead of being
        overwritten at the end of the first epoch.
        """
        if self.path.exists() or self.path.is_symlink():
            self._read("Will not overwrite", map_location="cpu")

    def _read(self, action: str, map_location) -> dict:
        """The file's state, when it is a checkpoint written under this fingerprint."""
        try:
            state = torch.load(self.path, map_location=map_location, weights_only=True)
        except Exception as exc:
            raise CheckpointError(
                f"{action} checkpoint {str(self.path)!r}: it is not a readable skspecrep "
                f"checkpoint ({_reason(exc)}). Delete it or choose another checkpoint file "
                "to train anew."
            ) from exc
        saved = state.get("fingerprint") if isinstance(state, dict) else None
        if saved != self.fingerprint:
            if not isinstance(saved, dict):
                raise CheckpointError(
                    f"{action} checkpoint {str(self.path)!r}: it is not a skspecrep "
                    "checkpoint (it holds no fingerprint of a run). Delete it or choose "
                    "another checkpoint file to train anew."
                )
            changed = sorted(
                k
                for k in set(saved) | set(self.fingerprint)
                if saved.get(k) != self.fingerprint.get(k)
            )
            raise CheckpointError(
                f"{action} checkpoint {str(self.path)!r}: it was written by a different model "
                f"or data set ({', '.join(map(str, changed))} differ); delete it or choose "
                "another checkpoint file to train anew."
            )
        return state

    def save(self, net, stopper=None, stop_reason: str | None = None) -> None:
        """Write the state of the net after a complete epoch."""
        if not is_main_process(net):
            return  # every process holds the same weights: one writes them
        state = {
            "fingerprint": self.fingerprint,
            "module": bare_module(net.module_).state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": plain(net.history.to_list()),
            "torch_rng": torch.get_rng_state(),
            "early_stopping": None if stopper is None else plain(stopper.state_dict()),
            "stop_reason": stop_reason,
        }
        if torch.device(net.device).type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        replace_atomically(self.path, lambda file: torch.save(state, file))


def _reason(exc: BaseException) -> str:
    """Why torch could not read a file, in one line (its unpickling errors run to pages)."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        # A pickled object that is no tensor or plain value: never opened.
        return (
            f"it holds a Python object of {found.group(1)}, which checkpoints never hold "
            "and which is not opened"
        )
    lines = text.strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else 'no message'}"
