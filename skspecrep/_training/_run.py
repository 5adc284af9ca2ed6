"""One training run: seeding, accelerate, the epoch loop, interrupts; returns its outcome.

Fresh fits, warm starts, resumed checkpoints and distributed runs all go
through :func:`run_training`. It owns the loop over epochs (one skorch
``fit_loop`` call per epoch), so that it, not an exception raised inside
skorch, decides when training stops and can tell why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from skorch.history import History

from .._rows import RowSource
from ..exceptions import NonFiniteLossError
from ._callbacks import bare_module
from ._checkpoint import TrainingCheckpoint, plain
from ._net import VAENet, build_net, module_shapes, update_net
from ._plan import PARAMETERS, TrainingPlan, make_plan

#: Why a run stopped: it ran all its epochs, early stopping ended it, the
#: user interrupted it (Ctrl-C), or the loss stopped being finite.
STOP_REASONS = ("max_epochs", "early_stopping", "interrupted", "non_finite_loss")


@dataclass(frozen=True)
class Outcome:
    """How a run ended.

    Attributes
    ----------
    stop_reason : str
        One of :data:`STOP_REASONS`.
    n_epochs : int
        Complete epochs in the net's history (over all runs of a warm start
        or a resumed checkpoint). An epoch cut short is not counted, and its
        weight updates are undone.
    best_epoch : int
        Epoch whose weights the net holds: the best validation epoch with
        early stopping, otherwise (or after a non-finite loss) the last
        complete one.
    error : NonFiniteLossError or None
        The error that stopped a ``"non_finite_loss"`` run, to be raised
        once the estimator has recorded the restored weights.
    """

    stop_reason: str
    n_epochs: int
    best_epoch: int
    error: NonFiniteLossError | None = None


def run_training(plan: TrainingPlan, net: VAENet | None = None) -> tuple[VAENet, Outcome]:
    """Train a fresh net (``net=None``) or continue ``net`` (warm start) as planned.

    A fresh run whose plan names an existing checkpoint resumes from it and
    trains only the epochs still missing up to ``max_epochs``; a warm start
    trains ``max_epochs`` more. All of it runs under torch's global random
    state seeded from the plan, and leaves the caller's state untouched.

    Returns
    -------
    net : VAENet
        The trained net, without accelerate's wrappers.
    outcome : Outcome
    """
    params = plan.params
    accelerator = _make_accelerator(plan) if params["distributed"] else None
    device = params["device"]
    if accelerator is not None and accelerator.device.type != "cpu":
        # This process's GPU under a launcher. CPU processes stay on
        # "cpu": accelerate numbers them "cpu:N", which pickles cannot restore.
        device = str(accelerator.device)
    checkpoint = None
    if params["checkpoint"] is not None:
        checkpoint = TrainingCheckpoint(params["checkpoint"], plan.fingerprint())
    with _seeded(plan.seed, device):
        fresh = net is None
        if fresh:
            net = build_net(plan, device, accelerator)
        else:
            net = update_net(net, plan, device, accelerator)
        stopper = dict(net.callbacks_).get("early_stopping")
        stop_reason = None
        if fresh and checkpoint is not None and checkpoint.exists():
            stop_reason = checkpoint.resume(net, stopper)
        elif checkpoint is not None:
            checkpoint.claim()
        # A fresh or resumed run trains up to max_epochs; a warm start that many more.
        target = params["max_epochs"] + (0 if fresh else len(net.history))
        if stop_reason == "max_epochs" and len(net.history) < target:
            stop_reason = None  # max_epochs was raised: the run goes on
        net.set_params(max_epochs=target)
        if accelerator is not None:
            net.wrap()
        try:
            outcome = _train(net, plan, checkpoint, stopper, target, stop_reason)
        finally:
            if accelerator is not None:
                net.release()
                # Nothing else holds the other processes back until the first
                # has written the checkpoint, which a fit started next reads.
                accelerator.wait_for_everyone()
    return net, outcome


def net_state(net: VAENet) -> tuple[dict, list]:
    """What :func:`restore_net` needs of a trained net: module state and history.

    Returns
    -------
    module_state : dict of str to tensor
        The module's weights and buffers, on the CPU.
    history : list of dict
        The training history as plain Python values.
    """
    module_state = {k: v.detach().cpu() for k, v in bare_module(net.module_).state_dict().items()}
    return module_state, plain(net.history.to_list())


def restore_net(params: Mapping, module_state: Mapping, history: list) -> VAENet:
    """A trained net rebuilt from its estimator's parameters and saved weights.

    The net is built as a fresh fit of ``params`` would build it, on a
    placeholder of two spectra around the saved mean spectrum, and then
    given the saved module state (weights and buffers, the mean spectrum
    included) and history. It is ready for inference and for a warm start;
    the optimizer's moments are not part of a model and start anew.

    Parameters
    ----------
    params : mapping
        ``estimator.get_params(deep=False)`` of the saved estimator.
    module_state : mapping of str to tensor
        ``module.state_dict()`` of the trained net.
    history : list of dict
        ``net.history.to_list()``.

    Returns
    -------
    net : VAENet

    Raises
    ------
    ValueError
        When the state does not fit the network that ``params`` describe.
    """
    offset = np.asarray(module_state["offset"], dtype=np.float32)
    placeholder = RowSource(np.stack([offset - 1.0, offset + 1.0]), validate=False)
    # Nothing of the run's own (split, checkpoint, user callbacks, the labels it
    # was given) belongs to a restored net; a warm start brings its own.
    run_free = {
        "validation_fraction": None,
        "checkpoint": None,
        "callbacks": None,
        "label_weight": 0.0,
    }
    try:
        PARAMETERS["device"].check(params["device"], placeholder.n_features)
    except ValueError:
        # Trained on a GPU, loaded where there is none: the weights work on
        # the CPU. Any other device is refused (ValueError) by make_plan.
        if str(params["device"]).split(":")[0] in ("cuda", "mps"):
            run_free["device"] = "cpu"
    plan = make_plan({**params, **run_free}, placeholder)
    expected = module_shapes(plan)
    # Model files hold scalars as arrays of one value (numpy.savez's habit).
    saved = {
        k: () if expected.get(k) == () and tuple(v.shape) == (1,) else tuple(v.shape)
        for k, v in module_state.items()
    }
    if saved != expected:
        wrong = sorted(k for k in set(saved) | set(expected) if saved.get(k) != expected.get(k))
        raise ValueError(
            "the saved weights do not fit the network its parameters build ("
            + ", ".join(f"{k}: {saved.get(k)} for {expected.get(k)}" for k in wrong[:3])
            + ")"
        )
    for key, value in module_state.items():
        if torch.is_floating_point(value) and not torch.isfinite(value).all():
            raise ValueError(f"the saved weights {key} are not all finite")
    device = plan.params["device"]
    with _seeded(0, device):  # the placeholder weights, overwritten below
        net = build_net(plan, device)
    module = bare_module(net.module_)
    try:
        module.load_state_dict({k: torch.as_tensor(v) for k, v in module_state.items()})
    except RuntimeError as exc:
        raise ValueError(
            f"the saved weights do not fit the network its parameters build: {exc}"
        ) from None
    net.history = History(history)
    return net


def _train(net, plan, checkpoint, stopper, target, stop_reason) -> Outcome:
    """The epoch loop. Stops for :data:`STOP_REASONS`; other errors propagate."""
    dataset = plan.train_dataset()
    rollback = dict(net.callbacks_)["rollback"]
    complete = len(net.history)
    error = None
    net.notify("on_train_begin", X=dataset, y=None)
    try:
        while stop_reason is None:
            if complete >= target:
                stop_reason = "max_epochs"
                break
            net.fit_loop(dataset, epochs=1)
            complete = len(net.history)
            if stopper is not None and stopper.should_stop:
                stop_reason = "early_stopping"
            elif complete >= target:
                stop_reason = "max_epochs"
            if checkpoint is not None:
                checkpoint.save(net, stopper, stop_reason)
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    except NonFiniteLossError as exc:
        stop_reason, error = "non_finite_loss", exc
    finally:
        if len(net.history) > complete:
            # Stopped inside an epoch: back to the end of the last complete
            # one, the state the checkpoint holds.
            rollback.restore(net)
            del net.history[complete:]
        net.notify("on_train_end", X=dataset, y=None)
    best = complete
    if stopper is not None and error is None:
        # As the error says, a run stopped by a non-finite loss keeps the
        # last complete epoch; any other run ends on its best one.
        stopper.restore_best(net)
        best = stopper.best_epoch_ or complete
    return Outcome(
        stop_reason=stop_reason,
        n_epochs=complete,
        best_epoch=best,
        error=error,
    )


def _make_accelerator(plan: TrainingPlan):
    try:
        from accelerate import Accelerator, DataLoaderConfiguration
    except ImportError:
        raise ImportError(
            "distributed=True trains through Hugging Face accelerate, which is not "
            "installed: pip install accelerate (or skspecrep[distributed])."
        ) from None
    batch_size = plan.params["batch_size"]
    # split_batches keeps batch_size the global batch, so that the
    # hyperparameters mean the same with any number of processes; device
    # placement stays with skorch, which moves the module and batches.
    accelerator = Accelerator(
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        device_placement=False,
        cpu=torch.device(plan.params["device"]).type == "cpu",
    )
    if batch_size % accelerator.num_processes:
        raise ValueError(
            f"batch_size={batch_size} cannot be split evenly across "
            f"{accelerator.num_processes} processes; use a multiple of "
            f"{accelerator.num_processes}."
        )
    return accelerator


@contextlib.contextmanager
def _seeded(seed: int, device: str):
    """Seed torch for one run without touching the caller's global RNG state."""
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
