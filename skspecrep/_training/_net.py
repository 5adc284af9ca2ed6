"""The skorch nets, and the one table from a plan to their settings.

:func:`net_settings` turns a :class:`~._plan.TrainingPlan` into every
setting of a skorch net. :func:`build_net` makes a fresh net with them and
:func:`update_net` applies them to a fitted net on a warm start, so the two
cannot drift apart; a change of the network's structure is refused there
with :class:`~skspecrep.exceptions.WarmStartError`.

Only the public interface of skorch is used: the documented extension
points ``train_step``, ``train_step_single``, ``validation_step``,
``get_loss`` and ``get_iterator``, and ``set_params``.
``tests/test_skorch_contract.py`` checks the behaviour of skorch that the
run relies on.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.helper import predefined_split

from .._nn import (
    DENSE_WEIGHT_DECAY,
    BetaVAELoss,
    ConvVAE,
    decorrelation_penalty,
    kl_weight,
    label_penalty,
    pair_objective,
    velocity_scale,
)
from ..exceptions import WarmStartError
from ._callbacks import (
    EpochProgressBar,
    EpochRollback,
    FiniteLossGuard,
    ValidationStopper,
    bare_module,
)
from ._data import mean_spectrum, rms_deviation
from ._plan import TrainingPlan

# Training and inference run in chunks whose largest activation fits in this
# many bytes: on a CPU, cache-resident chunks process several times more
# spectra per second than large batches (see benchmarks/bench_sedaghat2021.py).
_CPU_CHUNK_BYTES = 8 * 2**20
_GPU_CHUNK_BYTES = 2**30


class VAENet(NeuralNet):
    """A skorch net whose loss is the beta-VAE objective.

    ``X`` batches are spectra; ``y`` batches are dicts that hold per-pixel
    inverse variances (``"ivar"``) when the reconstruction loss is
    ``"chi2"`` and standardised labels (``"labels"``) when latents are
    supervised.

    Parameters
    ----------
    beta : float
        Weight of the summed KL once the warm-up is over.
    kl_warmup : tuple of float
        Epochs at which the KL weight starts rising from 0 and reaches beta.
    steps_per_epoch : int
        Optimizer steps per epoch, to place each step on the warm-up ramp.
    autocast_dtype : torch.dtype or None
        Run the training forward pass under ``torch.autocast`` in this dtype
        (bfloat16); None trains in float32.
    virtual_rv : tuple of float or None
        Range (low, high) in km/s of the virtual radial velocities of pair
        training; None trains on single spectra.
    decorrelation : float
        Weight of :func:`~skspecrep._nn.decorrelation_penalty` on the
        posterior means of each training micro-batch; 0 leaves it out.
    chunk_bytes : int
        Memory budget of one micro-batch's largest activation. Each batch is
        processed in micro-batches within this budget and their gradients
        accumulated: the optimizer step is the same, but activations that
        stay in the CPU cache make large spectra several times faster (on
        the paper's network, a batch of 32 takes about a quarter of the time).
    label_weight : float
        Weight of :func:`~skspecrep._nn.label_penalty`, which ties the
        ``label_latents`` to the batches' labels.
    label_latents : tuple of int or None
        The latent of each label; None when no latent is supervised.
    """

    def __init__(
        self,
        *args,
        beta=1.0,
        kl_warmup=(0.0, 0.0),
        steps_per_epoch=1,
        chunk_bytes=_CPU_CHUNK_BYTES,
        autocast_dtype=None,
        virtual_rv=None,
        decorrelation=0.0,
        label_weight=0.0,
        label_latents=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.label_weight = label_weight
        self.label_latents = label_latents
        self.autocast_dtype = autocast_dtype
        self.virtual_rv = virtual_rv
        self.decorrelation = decorrelation
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.steps_per_epoch = steps_per_epoch
        self.chunk_bytes = chunk_bytes

    def micro_batch_size(self, training: bool = False) -> int:
        """Spectra per micro-batch, from the module's largest activation.

        A training micro-batch of pairs holds two views of each spectrum.
        """
        views = 2 if training and self.virtual_rv is not None else 1
        return max(1, self.chunk_bytes // (views * bare_module(self.module_).activation_bytes()))

    def _micro_batches(self, batch, training=False):
        """``(spectra, inverse variances, labels, batch length, label counts)`` of each part.

        Inverse variances and labels are None when absent; the counts are
        the spectra of the whole batch that know each label.
        """
        Xi, yi = unpack_data(batch)
        size = self.micro_batch_size(training)
        ivar, labels = yi.get("ivar"), yi.get("labels")
        counts = None if labels is None else (~torch.isnan(labels)).sum(dim=0)
        for start in range(0, len(Xi), size):
            rows = slice(start, start + size)
            yield (
                Xi[rows],
                None if ivar is None else ivar[rows],
                None if labels is None else labels[rows],
                len(Xi),
                counts,
            )

    def _label_term(self, mu, labels, counts):
        """This part's share of ``label_weight`` times the batch's mean label penalty.

        Each label's penalty is averaged over the spectra of the whole batch
        that know it, not over all spectra: with labels for 1 % of an
        archive, weighing them by their share (or its inverse) let the
        batches that held one labelled spectrum, a quarter of them, jolt
        Adam's moment estimates, and reconstruction and the velocity latent
        suffered (``benchmarks/recovery.py --labelled``). Batches without
        labels add nothing.
        """
        if labels is None or not self.label_weight:
            return 0.0
        latents = torch.as_tensor(self.label_latents, device=mu.device)
        weights = 1.0 / counts.clamp(min=1).to(device=mu.device, dtype=torch.float32)
        penalty = label_penalty(mu, labels.to(mu.device), latents, weights)
        return self.label_weight * penalty.sum()

    def _train_mode(self, training: bool) -> None:
        self.module_.train(training)
        self.criterion_.train(training)

    def train_step_single(self, batch, **fit_params):
        self._train_mode(True)
        total, preds = 0.0, []
        parts = list(self._micro_batches(batch, training=True))
        for i, (x, ivar, labels, n, counts) in enumerate(parts):
            with self._autocast():
                if self.virtual_rv is None:
                    y_pred = self.infer(x, **fit_params)
                    loss = self.get_loss(y_pred, ivar, X=x, training=True)
                else:
                    loss, y_pred = self._pair_loss(x, ivar)
                if self.decorrelation:
                    loss = loss + self.decorrelation * decorrelation_penalty(y_pred[1])
                # Weighting each micro-batch's mean by its share makes the
                # accumulated gradient that of the whole batch's mean.
                loss = loss * (len(x) / n) + self._label_term(y_pred[1], labels, counts)
            self._backward(loss, last=i == len(parts) - 1)
            total = total + loss.detach()
            preds.append(tuple(t.detach() for t in y_pred))
        return {"loss": total, "y_pred": _concat(preds)}

    def _pair_loss(self, x, ivar):
        """Objective of spectra trained as pairs with virtual Doppler-shifted copies."""
        low, high = self.virtual_rv
        # Drawn from torch's global generator on the CPU, which the run seeds
        # and the checkpoint saves: resumed runs draw the same velocities.
        velocity = torch.empty(len(x), dtype=torch.float64).uniform_(low, high).to(x.device)
        # The module's velocity latent holds the grid and the velocity scale.
        module = bare_module(self.module_)
        objective, y_pred = pair_objective(
            self.module_,
            self.criterion_,
            x,
            velocity,
            module.log_wavelength,
            velocity_scale=module.velocity_scale,
            weight=self.current_kl_weight(),
            ivar=ivar,
        )
        return objective.mean(), y_pred

    def _autocast(self):
        """Mixed precision for the forward pass when asked for; weights stay float32."""
        return torch.autocast(
            device_type=torch.device(self.device).type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        )

    def _backward(self, loss, last: bool) -> None:
        loss.backward()

    def validation_step(self, batch, **fit_params):
        self._train_mode(False)
        total, preds = 0.0, []
        with torch.no_grad():
            for x, ivar, labels, n, counts in self._micro_batches(batch):
                y_pred = self.infer(x, **fit_params)
                loss = self.get_loss(y_pred, ivar, X=x, training=False) * (len(x) / n)
                total = total + loss + self._label_term(y_pred[1], labels, counts)
                preds.append(y_pred)
        return {"loss": total, "y_pred": _concat(preds)}

    def current_kl_weight(self) -> float:
        """KL weight of the training step under way."""
        epochs_done = len(self.history) - 1
        batches_done = len(self.history[-1, "batches"])
        epoch = epochs_done + batches_done / self.steps_per_epoch
        return kl_weight(epoch, self.beta, self.kl_warmup)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The beta-VAE objective; ``y_true`` holds the inverse variances or is None."""
        ivar = y_true
        # Validation always uses the full beta, so that validation losses of
        # different epochs are comparable while the KL weight warms up.
        weight = self.current_kl_weight() if training else self.beta
        return self.criterion_(y_pred, X, ivar, weight)


class AcceleratedVAENet(VAENet):
    """VAENet whose training batches are split across accelerate's processes.

    Each process trains on its share of every batch (the accelerator is
    made with ``split_batches=True``, so ``batch_size`` stays the global
    batch) and DDP averages the gradients, so every process holds the
    same weights after every step: the model of one process training on
    whole batches. Validation is not sharded: every process evaluates the
    whole validation set, so all agree on early stopping.

    The run wraps the module and optimizer with :meth:`wrap` before
    training and takes the wrappers off with :meth:`release` after it.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        The accelerator of this run.
    """

    def __init__(self, *args, accelerator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.accelerator = accelerator

    def wrap(self) -> None:
        """Hand the module and optimizer to accelerate (DDP with several processes)."""
        self.module_ = self.accelerator.prepare(self.module_)
        self.optimizer_ = self.accelerator.prepare(self.optimizer_)

    def release(self) -> None:
        """Take accelerate's wrappers off: a plain module and optimizer pickle like any other."""
        self.module_ = self.accelerator.unwrap_model(self.module_, keep_fp32_wrapper=False)
        self.optimizer_ = getattr(self.optimizer_, "optimizer", self.optimizer_)

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

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if not training:
            return iterator  # every process evaluates the whole validation set
        # With several processes, accelerate gives a sampler without a
        # generator one of its own, seeded from the global random state when
        # the loader is prepared. The run asks for a loader every epoch, and
        # a generator seeded here from the global state makes each epoch's
        # order follow from the state that the checkpoint saves, so a resumed
        # run shuffles as the run it resumes. In one process accelerate
        # leaves the sampler alone, and so do we: it shuffles exactly as
        # without accelerate.
        sampler = iterator.sampler
        if self.accelerator.num_processes > 1 and getattr(sampler, "generator", False) is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            sampler.generator = torch.Generator().manual_seed(seed)
        return self.accelerator.prepare_data_loader(iterator)

    def is_main_process(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    def __getstate__(self):
        state = super().__getstate__()
        state["accelerator"] = None
        return state


def _concat(preds):
    """Join micro-batch outputs (tuples of tensors) along the batch axis."""
    return tuple(torch.cat(parts) for parts in zip(*preds))


def _silent(*args, **kwargs):
    """A sink that drops skorch's epoch table (``verbose < 2``)."""


def _print_on_main_process(*args, **kwargs):
    """skorch's epoch table from the first process only, under a launcher."""
    if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
        print(*args, **kwargs)


def chunk_bytes(device: str) -> int:
    return _CPU_CHUNK_BYTES if torch.device(device).type == "cpu" else _GPU_CHUNK_BYTES


# ------------------------------------------------------------------ settings


def net_settings(plan: TrainingPlan, device: str, accelerator=None) -> dict:
    """Every setting of the skorch net that the plan determines.

    The one place where parameters become net settings: a fresh net is built
    with them and a warm-started one updated with them, so every parameter
    means the same on both paths.
    """
    params = plan.params
    sampler = None
    if plan.train_weight is not None:
        # Drawn from torch's global generator, which the run seeds and the
        # checkpoint saves, so weighted runs also resume exactly.
        sampler = torch.utils.data.WeightedRandomSampler(
            torch.from_numpy(plan.train_weight), num_samples=plan.n_train, replacement=True
        )
    valid = plan.valid_dataset()
    verbose = params["verbose"]
    if accelerator is None:
        sink = print
    else:
        # skorch's log prints to any sink but print() whatever the verbosity.
        sink = _print_on_main_process if verbose >= 2 else _silent
    settings = {
        **plan.net_params(),
        "max_epochs": params["max_epochs"],
        "device": device,
        "chunk_bytes": chunk_bytes(device),
        "steps_per_epoch": plan.steps_per_epoch,
        "label_latents": None if plan.labels is None else tuple(map(int, plan.labels.latents)),
        "train_split": None if valid is None else predefined_split(valid),
        "iterator_train__sampler": sampler,
        "iterator_train__shuffle": sampler is None,
        "verbose": int(verbose >= 2),
        "callbacks": _callbacks(plan),
        # Structure, which a warm start cannot change, but the pair step reads.
        "virtual_rv": params["virtual_rv"],
        "callbacks__print_log__sink": sink,
    }
    if accelerator is not None:
        settings["accelerator"] = accelerator
    return settings


def _callbacks(plan: TrainingPlan) -> list:
    params = plan.params
    callbacks = [("rollback", EpochRollback()), ("finite_loss_guard", FiniteLossGuard())]
    if plan.valid_rows is not None:
        callbacks.append(("early_stopping", ValidationStopper(params["n_iter_no_change"])))
    if params["verbose"] == 1:
        callbacks.append(("progress_bar", EpochProgressBar()))
    # The plan holds this fit's own copies of the user's callbacks.
    return callbacks + list(params["callbacks"])


def _module_settings(structure) -> dict:
    """The module's arguments that the structure fixes (not the data's mean and scale)."""
    weight = structure.pixel_mask
    settings = {
        "n_features": structure.n_features,
        "n_components": structure.n_components,
        "spec": structure.architecture,
        "pixel_mask": torch.from_numpy(weight) if np.any(weight == 0) else None,
    }
    if structure.velocity_latent:
        settings["log_wavelength"] = torch.from_numpy(np.log(structure.wavelength))
        settings["velocity_scale"] = velocity_scale(structure.virtual_rv)
    return settings


def module_shapes(plan: TrainingPlan) -> dict[str, tuple[int, ...]]:
    """Shape of every entry of the state dict of the plan's module, allocating nothing.

    The module is built on torch's "meta" device, which holds shapes only:
    a saved state can be checked against it before any weight is
    allocated (a model file's parameters may describe a huge network).
    """
    settings = _module_settings(plan.structure)
    settings = {k: v.to("meta") if torch.is_tensor(v) else v for k, v in settings.items()}
    with torch.device("meta"):
        module = ConvVAE(**settings)
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def build_net(plan: TrainingPlan, device: str, accelerator=None) -> VAENet:
    """A fresh, initialised net for the plan (weights drawn from torch's global RNG)."""
    structure = plan.structure
    weight = structure.pixel_mask
    mean = mean_spectrum(plan.source, plan.train_rows)
    net_class = VAENet if accelerator is None else AcceleratedVAENet
    net = net_class(
        module=ConvVAE,
        **{f"module__{k}": v for k, v in _module_settings(structure).items()},
        module__offset=torch.from_numpy(mean),
        module__scale=rms_deviation(plan.source, plan.train_rows, mean, weight),
        criterion=BetaVAELoss,
        criterion__reconstruction=structure.loss,
        criterion__pixel_weight=torch.from_numpy(weight),
        optimizer=torch.optim.Adam,
        **_optimizer_groups(structure),
        **net_settings(plan, device, accelerator),
    )
    net.initialize()
    net.structure_ = structure
    net.validation_key_ = plan.validation_key
    return net


def _optimizer_groups(structure) -> dict:
    """Adam's settings beyond the learning rate: decay of a dense decoder's weights."""
    if structure.architecture.decoder != "dense":
        return {}
    return {
        "optimizer__param_groups": [("dense.*", {"weight_decay": DENSE_WEIGHT_DECAY})],
        "optimizer__decoupled_weight_decay": True,
    }


def update_net(net: VAENet, plan: TrainingPlan, device: str, accelerator=None) -> VAENet:
    """Apply the plan to a fitted net to continue training it (warm start).

    Every setting is applied as for a fresh net. A change of structure
    raises :class:`WarmStartError`.

    Early stopping keeps its best epoch and weights while the validation
    split is the same, and counts its patience anew, so the continued run
    has ``n_iter_no_change`` epochs to beat the best one.
    """
    changed = plan.structure.differences(net.structure_)
    if changed:
        raise WarmStartError(
            f"warm_start=True cannot continue training after changing {', '.join(changed)}: "
            "they fix the network that was built. Set warm_start=False to train anew."
        )
    stopper = dict(net.callbacks_).get("early_stopping")
    stopper_state = stopper.state_dict() if stopper is not None else None
    settings = net_settings(plan, device, accelerator)
    # skorch reads its DataLoader settings from these attributes whenever it
    # makes a loader; its set_params would re-initialise the module for them.
    for name in [k for k in settings if k.startswith("iterator_")]:
        setattr(net, name, settings.pop(name))
    net.set_params(**settings)
    # set_params stores the new callback list but rebuilds callbacks_ from
    # the old one; this builds (and initialises) it from the new one.
    net.initialize_callbacks()
    if torch.device(net.module_.offset.device) != torch.device(device):
        net.module_.to(device)
        net.criterion_.to(device)
        # Loading its own state moves the optimizer's moments to the
        # parameters' new device.
        net.optimizer_.load_state_dict(net.optimizer_.state_dict())
    stopper = dict(net.callbacks_).get("early_stopping")
    if stopper is not None and stopper_state is not None:
        if net.validation_key_ == plan.validation_key:
            stopper.load_state_dict({**stopper_state, "misses": 0})
    net.validation_key_ = plan.validation_key
    return net
