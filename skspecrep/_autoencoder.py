"""SpectralAutoencoder: a convolutional beta-VAE as a scikit-learn transformer."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import warnings
from collections.abc import Iterator, Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import Callback, EarlyStopping
from skorch.helper import predefined_split

from ._nn import (
    SEDAGHAT2021_N_FEATURES,
    BetaVAELoss,
    ConvSpec,
    ConvVAE,
    auto_spec,
    kl_per_latent,
    sedaghat2021_spec,
)
from ._skorch import (
    AcceleratedVAENet,
    EpochProgressBar,
    FiniteLossGuard,
    SpectraDataset,
    TrainingCheckpoint,
    VAENet,
)
from .io._arrays import RowSource, _h5py_dataset_type, is_on_disk

# Training and inference run in chunks whose largest activation fits in this
# many bytes: on a CPU, cache-resident chunks process several times more
# spectra per second than large batches (see benchmarks/bench_sedaghat2021.py).
_CPU_CHUNK_BYTES = 8 * 2**20
_GPU_CHUNK_BYTES = 2**30
_AUTOCAST = {"no": None, "bf16": torch.bfloat16}


class SpectralAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Convolutional variational autoencoder for 1-D spectra.

    Learns a compact code of a set of spectra by reconstruction, with weak
    disentanglement at the bottleneck from a beta-VAE KL term, as in Sedaghat
    et al. (2021, MNRAS 501, 6026). ``transform`` returns each spectrum's
    posterior mean code; ``inverse_transform`` decodes codes back to spectra.
    The network is PyTorch, trained through skorch; the fitted skorch net is
    ``net_``.

    The training objective of a spectrum is its reconstruction error (the
    weighted mean over pixels of ``loss``) plus ``beta`` times the KL
    divergence of its posterior from N(0, I), summed over latents. The
    decoder sees a reparameterised sample ``mu + sigma * eps`` during
    training. The KL weight warms up linearly from 0 to ``beta`` over
    ``kl_warmup`` epochs.

    Parameters
    ----------
    n_components : int, default=16
        Width of the bottleneck (number of latents).

    architecture : {"auto", "sedaghat2021"} or dict, default="auto"
        Encoder layer table; the decoder mirrors it.

        - ``"auto"``: sized from the number of pixels, following the paper's
          pattern (kernels 7, 5, 5 then 3; channels doubling every third layer
          from 16 up to 256; stride-2 layers until the code length is at most
          32, at most 14 of them; a final stride-1 layer). Works from 1 pixel
          up; lengths that are not a multiple of the total stride are
          zero-padded internally.
        - ``"sedaghat2021"``: the paper's network layer for layer (15 encoder
          layers, 7,046,997 parameters at ``n_components=128``). Requires
          spectra of exactly 327,680 pixels, the paper's padded HARPS grid.
        - a dict with keys ``"channels"``, ``"kernel_sizes"`` (odd) and
          ``"strides"``, one entry per encoder layer.

    beta : float, default=1e-4
        Weight of the KL term, summed over latents, against the
        reconstruction error in the units of ``X`` (the default suits
        median-normalised spectra). The paper averaged the KL over its 128
        latents with weight 0.3, which is ``beta=0.3 / 128`` here. Larger
        values collapse more latents to the prior; too large a value
        collapses them all (``component_kl_`` near 0 everywhere).

    kl_warmup : tuple of (float, float), default=(1.0, 10.0)
        Epochs at which the KL weight starts rising from 0 and reaches
        ``beta``. Fractions of an epoch are allowed: the paper's 5,000 and
        20,000 iterations of batch 32 over 265,000 spectra are about
        ``(0.6, 2.4)``. ``(0, 0)`` applies ``beta`` from the start.

    loss : {"l1", "mse", "chi2"}, default="l1"
        Reconstruction error per pixel: absolute error (the paper's choice),
        squared error, or squared error weighted by each pixel's inverse
        variance (pass ``ivar`` to :meth:`fit` and :meth:`score`).

    pixel_mask : array-like of shape (n_features,), default=None
        Non-negative weight of each pixel in the reconstruction error. Pixels
        with weight 0 (pads, CCD gaps, bad columns) are ignored by the loss
        and set to 0 before encoding, so they cannot change the code or the
        loss. None weighs all pixels equally.

    max_epochs : int, default=50
        Number of passes over the training data.

    batch_size : int, default=32
        Spectra per optimizer step (the paper used 32).

    lr : float, default=1e-3
        Adam learning rate (the paper used 1e-4 over 1.5 M iterations).

    validation_fraction : float, default=None
        Fraction of the spectra held out to monitor the objective. When set,
        training stops after ``n_iter_no_change`` epochs without improvement
        of the validation objective and the weights of the best epoch are
        restored. None trains on all spectra for ``max_epochs`` epochs.

    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.

    device : str, default="auto"
        Torch device: ``"auto"`` takes CUDA when available, else the CPU;
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    mixed_precision : {"no", "bf16"}, default="no"
        ``"bf16"`` runs the training forward pass under ``torch.autocast``
        in bfloat16: on GPUs with bfloat16 units (A100, H100) training is
        faster and takes less memory. Weights, optimizer state and the loss
        stay float32, and bfloat16 has float32's range, so no loss scaling
        is needed (float16 would need it, and is not offered). ``transform``
        and ``score`` always run in float32, so codes keep full precision.
        On CPUs without bfloat16 units it is usually slower.

    distributed : bool, default=False
        Train data-parallel through Hugging Face accelerate (``pip install
        accelerate``) when the script is started by a launcher such as
        ``accelerate launch --num_processes 2 script.py`` or ``torchrun``:
        each process (one per GPU, or CPU processes talking over gloo) trains
        on its share of every batch of ``batch_size`` spectra and the
        gradients are averaged, so every process ends with the model that one
        process would train on whole batches. ``batch_size`` must be a
        multiple of the number of processes. Started without a launcher, the
        same script trains in one process: nothing else changes.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the validation split,
        reparameterised sampling and the sample drawn by :meth:`score`. Pass
        an int for reproducible results.

    verbose : int, default=0
        0 is silent; 1 shows a progress bar over epochs with the latest
        losses; 2 prints skorch's table of losses every epoch.

    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks. They are cloned before use, so the instances
        passed here are never modified.

    warm_start : bool, default=False
        When True, a further call to :meth:`fit` continues training the
        fitted network for ``max_epochs`` more epochs instead of starting
        anew. The architecture, bottleneck, loss and mask must not change.

    checkpoint : str, path-like or None, default=None
        File to which the whole training state (weights, optimizer, history,
        random state, early stopping) is written after every epoch. If the
        file exists when :meth:`fit` starts, training resumes from it and
        runs only the epochs still missing up to ``max_epochs``: a resumed
        run ends with the same weights as one never interrupted, and raising
        ``max_epochs`` extends a finished run. A checkpoint written for
        another architecture, bottleneck, loss or data set raises a
        ``ValueError`` instead of being overwritten. The file is left in
        place after training.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the PyTorch
        :class:`torch.nn.Module`.

    history_ : skorch.History
        Per-epoch training record (``train_loss``, ``valid_loss``, ...).

    component_kl_ : ndarray of shape (n_components,)
        Mean KL divergence (nats) of each latent's posterior from the prior
        over the training spectra: the information each latent carries.
        Collapsed latents have values near 0.

    pixel_weight_ : ndarray of shape (n_pixels,)
        The pixel weights used by the loss.

    mean_ : ndarray of shape (n_pixels,)
        Mean training spectrum. The network encodes each spectrum's
        difference from it and adds it back when decoding, as PCA centres
        its input, so that capacity goes to how spectra differ.

    scale_ : float
        Root-mean-square difference of the training spectra from ``mean_``
        over unmasked pixels. The network sees differences divided by it, so
        that it works with values of order one whatever the flux units.

    architecture_ : dict
        The encoder layer table that was built.

    n_iter_ : int
        Number of epochs run, over all calls to :meth:`fit` when
        ``warm_start`` is True.

    best_epoch_ : int
        Epoch whose weights were kept: the best validation epoch with early
        stopping, otherwise the last one.

    n_features_in_ : int
        Number of pixels seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (n_pixels,)
        Pixel names seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.decomposition.PCA : The linear analogue.

    References
    ----------
    Sedaghat, N., Romaniello, M., Carrick, J. E., Pineau, F.-X. (2021).
    Machines learn to infer stellar parameters just by looking at a large
    number of spectra. MNRAS 501, 6026.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder
    >>> rng = np.random.RandomState(0)
    >>> depth = rng.uniform(0.1, 0.9, size=(64, 1))
    >>> pixels = np.linspace(-1, 1, 128)
    >>> X = 1 - depth * np.exp(-0.5 * (pixels / 0.1) ** 2)
    >>> ae = SpectralAutoencoder(n_components=2, max_epochs=5, random_state=0)
    >>> Z = ae.fit_transform(X)
    >>> Z.shape
    (64, 2)
    >>> ae.inverse_transform(Z).shape
    (64, 128)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"auto", "sedaghat2021"}), dict],
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [tuple, list],
        "loss": [StrOptions({"l1", "mse", "chi2"})],
        "pixel_mask": ["array-like", None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "mixed_precision": [StrOptions({"no", "bf16"})],
        "distributed": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "checkpoint": [str, os.PathLike, None],
    }

    def __init__(
        self,
        n_components: int = 16,
        *,
        architecture: str | dict = "auto",
        beta: float = 1e-4,
        kl_warmup: tuple[float, float] = (1.0, 10.0),
        loss: str = "l1",
        pixel_mask=None,
        max_epochs: int = 50,
        batch_size: int = 32,
        lr: float = 1e-3,
        validation_fraction: float | None = None,
        n_iter_no_change: int = 10,
        device: str = "auto",
        mixed_precision: str = "no",
        distributed: bool = False,
        random_state=None,
        verbose: int = 0,
        callbacks: list | None = None,
        warm_start: bool = False,
        checkpoint: str | os.PathLike | None = None,
    ):
        self.n_components = n_components
        self.architecture = architecture
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.loss = loss
        self.pixel_mask = pixel_mask
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.mixed_precision = mixed_precision
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.checkpoint = checkpoint

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, ivar=None, sample_weight=None):
        """Train the autoencoder on spectra.

        Parameters
        ----------
        X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
            Spectra, one per row, on a common pixel grid. In-memory arrays
            are validated whole; on-disk arrays (a memory map, an HDF5
            dataset, a zarr array) are never loaded whole: batches are read
            as training needs them and each is checked for NaN and infinity
            as it is read, so memory stays flat however large ``X`` is.
        y : None
            Ignored; present for API consistency.
        ivar : array-like of shape (n_samples, n_features), default=None
            Inverse variance of each pixel, required by ``loss="chi2"`` and
            rejected otherwise. Pixels with ``ivar=0`` are ignored. May be
            on disk like ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each spectrum. Each epoch then draws as
            many spectra as there are, with replacement, each with
            probability proportional to its weight: weighting by
            ``1 / (number of spectra of the same star)`` makes every star
            count once however often it was observed. Spectra of weight 0
            are never trained on. None (or equal weights) visits every
            spectrum once per epoch in a random order.

        Returns
        -------
        self : SpectralAutoencoder
            The fitted estimator.
        """
        continuing = self.warm_start and hasattr(self, "net_")
        source = self._validated_source(X, reset=not continuing)
        _warn_if_chunks_span_many_rows(X)
        n_samples, n_features = source.shape
        if n_samples < 2:
            raise ValueError(
                f"n_samples={n_samples}: SpectralAutoencoder needs at least 2 spectra "
                "to learn from."
            )
        ivar = self._check_ivar(ivar, source)
        sample_weight = _check_weights(sample_weight, n_samples)
        warmup = self._check_kl_warmup()
        weight = self._check_pixel_mask(n_features)
        spec = self._resolve_architecture(n_features)
        device = _resolve_device(self.device)
        accelerator = self._make_accelerator(device) if self.distributed else None
        if accelerator is not None and accelerator.device.type != "cpu":
            # This process's GPU under a launcher. CPU processes stay on
            # "cpu": accelerate numbers them "cpu:N", which pickles cannot restore.
            device = str(accelerator.device)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_idx, valid_idx = self._split(n_samples, rng)
        train_set = SpectraDataset(source, ivar, train_idx)
        train_split = None
        if valid_idx is not None:
            train_split = predefined_split(SpectraDataset(source, ivar, valid_idx))
        n_train = len(train_set)
        steps_per_epoch = -(-n_train // self.batch_size)
        sampler = None
        if sample_weight is not None:
            train_weight = sample_weight if train_idx is None else sample_weight[train_idx]
            if not np.any(train_weight > 0):
                raise ValueError(
                    "Every sample_weight of the training split is zero: nothing to train on."
                )
            # Drawn from torch's global generator, which _seeded seeds and
            # the checkpoint saves, so weighted runs also resume exactly.
            sampler = torch.utils.data.WeightedRandomSampler(
                torch.from_numpy(train_weight), num_samples=n_train, replacement=True
            )
        iterator = {"iterator_train__sampler": sampler, "iterator_train__shuffle": sampler is None}

        if continuing:
            self._check_warm_start_compatible(spec, weight)
            net = self.net_
            if accelerator is not None:
                if not hasattr(net, "release"):
                    raise ValueError(
                        "warm_start=True cannot switch to distributed=True: the net was "
                        "trained in one process. Set warm_start=False to train anew."
                    )
                net.accelerator = accelerator
                net._initialize_accelerator()
            for key, value in iterator.items():
                # Iterator settings are plain attributes: set_params would re-initialise.
                setattr(net, key, value)
            net.max_epochs = self.max_epochs
            net.batch_size = self.batch_size
            net.train_split = train_split
            net.steps_per_epoch = steps_per_epoch
            net.beta = float(self.beta)
            net.kl_warmup = warmup
            net.autocast_dtype = _AUTOCAST[self.mixed_precision]
            for group in net.optimizer_.param_groups:
                group["lr"] = self.lr
        else:
            mean = _mean_spectrum(source, train_idx)
            fingerprint = self._checkpoint_fingerprint(spec, n_features, n_train)
            if sample_weight is not None:
                fingerprint["sample_weight_sha1"] = hashlib.sha1(sample_weight).hexdigest()
            extra = {}
            if accelerator is not None:
                extra = {
                    "accelerator": accelerator,
                    "unwrap_after_train": False,
                    # skorch's log prints to any sink but print() whatever the
                    # verbosity; accelerate's print writes from one process only.
                    "callbacks__print_log__sink": (
                        accelerator.print if self.verbose >= 2 else _silent
                    ),
                }
            net_class = VAENet if accelerator is None else AcceleratedVAENet
            net = net_class(
                module=ConvVAE,
                module__n_features=n_features,
                module__n_components=self.n_components,
                module__spec=spec,
                module__pixel_mask=torch.from_numpy(weight) if np.any(weight == 0) else None,
                module__offset=torch.from_numpy(mean),
                module__scale=_rms_deviation(source, train_idx, mean, weight),
                criterion=BetaVAELoss,
                criterion__reconstruction=self.loss,
                criterion__pixel_weight=torch.from_numpy(weight),
                optimizer=torch.optim.Adam,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                train_split=train_split,
                callbacks=self._build_callbacks(valid_idx is not None, fingerprint),
                device=device,
                verbose=int(self.verbose >= 2),
                beta=float(self.beta),
                kl_warmup=warmup,
                steps_per_epoch=steps_per_epoch,
                use_ivar=ivar is not None,
                chunk_bytes=_chunk_bytes(device),
                autocast_dtype=_AUTOCAST[self.mixed_precision],
                **iterator,
                **extra,
            )

        with _seeded(seed, device):
            try:
                try:
                    if continuing:
                        net.partial_fit(train_set)
                    else:
                        net.fit(train_set)
                finally:
                    if hasattr(net, "release"):  # accelerate's wrappers off
                        net.release()
            except FloatingPointError:
                # The guard restored the last finite weights: keep them usable.
                self._set_fitted_state(net, source, spec, weight)
                raise
        self._set_fitted_state(net, source, spec, weight)
        return self

    def _make_accelerator(self, device: str):
        try:
            from accelerate import Accelerator, DataLoaderConfiguration
        except ImportError:
            raise ImportError(
                "distributed=True trains through Hugging Face accelerate, which is not "
                "installed: pip install accelerate (or skspecrep[distributed])."
            ) from None
        # split_batches keeps batch_size the global batch, so that the
        # hyperparameters mean the same with any number of processes; device
        # placement stays with skorch, which moves the module and batches.
        accelerator = Accelerator(
            dataloader_config=DataLoaderConfiguration(split_batches=True),
            device_placement=False,
            cpu=torch.device(device).type == "cpu",
        )
        if self.batch_size % accelerator.num_processes:
            raise ValueError(
                f"batch_size={self.batch_size} cannot be split evenly across "
                f"{accelerator.num_processes} processes; use a multiple of "
                f"{accelerator.num_processes}."
            )
        return accelerator

    def _set_fitted_state(self, net, source, spec, weight):
        self.net_ = net
        self.architecture_ = spec.to_dict()
        self.pixel_weight_ = weight
        self.mean_ = net.module_.offset.cpu().numpy()
        self.scale_ = float(net.module_.scale)
        self.n_iter_ = len(net.history)
        stopper = dict(net.callbacks_).get("early_stopping")
        best = getattr(stopper, "best_epoch_", 0) if stopper is not None else 0
        self.best_epoch_ = int(best) if best else self.n_iter_
        self._n_features_out = self.n_components
        kl = np.zeros(self.n_components)
        for _, (mu, log_var) in self._map_chunks(source, lambda m, x: m.encode(x)):
            kl += kl_per_latent(mu, log_var).sum(dim=0).double().cpu().numpy()
        self.component_kl_ = kl / len(source)

    # -------------------------------------------------------- validation

    def _validated_source(self, X, *, reset: bool) -> RowSource:
        """Spectra as a RowSource: checked whole in memory, block by block on disk."""
        if not is_on_disk(X):
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            return RowSource(X, validate=False)
        # Checking an on-disk array whole would read all of it; its blocks
        # are checked as they are read instead.
        validate_data(self, X, reset=reset, skip_check_array=True)
        source = RowSource(X)
        if min(source.shape) < 1:
            raise ValueError(
                f"Found array with shape {source.shape}; SpectralAutoencoder needs at "
                "least 1 spectrum and 1 pixel."
            )
        return source

    def _check_ivar(self, ivar, source: RowSource) -> RowSource | None:
        if self.loss != "chi2":
            if ivar is not None:
                raise ValueError(
                    f"ivar is only used by loss='chi2'; got loss={self.loss!r}. "
                    "Pass pixel weights common to all spectra as pixel_mask."
                )
            return None
        if ivar is None:
            raise ValueError("loss='chi2' needs the per-pixel inverse variance: fit(X, ivar=...).")
        if is_on_disk(ivar):
            ivar = RowSource(ivar, "ivar")  # negative values are caught batch by batch
        else:
            ivar = check_array(ivar, dtype=np.float32, input_name="ivar")
            if np.any(ivar < 0):
                raise ValueError("ivar must be non-negative (0 marks a pixel to ignore).")
            ivar = RowSource(ivar, "ivar", validate=False)
        if ivar.shape != source.shape:
            raise ValueError(f"ivar has shape {ivar.shape} but X has shape {source.shape}.")
        return ivar

    def _check_kl_warmup(self) -> tuple[float, float]:
        try:
            start, end = (float(v) for v in self.kl_warmup)
        except (TypeError, ValueError):
            raise ValueError(
                f"kl_warmup must be two numbers (start, end) in epochs; got {self.kl_warmup!r}."
            ) from None
        if not 0 <= start <= end or not np.isfinite(end):
            raise ValueError(
                f"kl_warmup must satisfy 0 <= start <= end < inf; got {self.kl_warmup!r}."
            )
        return start, end

    def _check_pixel_mask(self, n_features: int) -> np.ndarray:
        if self.pixel_mask is None:
            return np.ones(n_features, dtype=np.float32)
        return _check_weight_vector(
            self.pixel_mask, n_features, name="pixel_mask", per="pixel", dtype=np.float32
        )

    def _resolve_architecture(self, n_features: int) -> ConvSpec:
        if isinstance(self.architecture, Mapping):
            return ConvSpec.from_mapping(self.architecture)
        if self.architecture == "sedaghat2021":
            if n_features != SEDAGHAT2021_N_FEATURES:
                raise ValueError(
                    f"architecture='sedaghat2021' needs spectra of exactly "
                    f"{SEDAGHAT2021_N_FEATURES:,} pixels (the paper's HARPS grid, "
                    f"3785-6910 A at 0.01 A zero-padded); X has {n_features:,}. "
                    "Use architecture='auto' for other grids."
                )
            return sedaghat2021_spec()
        return auto_spec(n_features)

    def _split(self, n_samples, rng):
        if self.validation_fraction is None:
            return None, None
        n_valid = int(np.ceil(self.validation_fraction * n_samples))
        if n_valid >= n_samples:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training "
                f"spectra out of n_samples={n_samples}."
            )
        order = rng.permutation(n_samples)
        return np.sort(order[n_valid:]), np.sort(order[:n_valid])

    def _checkpoint_fingerprint(self, spec, n_features, n_train) -> dict:
        return {
            "format": 1,
            "n_features": int(n_features),
            "n_training_spectra": int(n_train),
            "n_components": int(self.n_components),
            "architecture": spec.to_dict(),
            "loss": self.loss,
            "batch_size": int(self.batch_size),
        }

    def _build_callbacks(self, early_stopping: bool, fingerprint: dict) -> list:
        callbacks = [("finite_loss_guard", FiniteLossGuard())]
        if early_stopping:
            stopper = EarlyStopping(patience=self.n_iter_no_change, load_best=True, sink=_silent)
            callbacks.append(("early_stopping", stopper))
        if self.checkpoint is not None:
            # After early stopping, whose state it saves; before the progress
            # bar, which starts where a resumed run stands.
            callbacks.append(("checkpoint", TrainingCheckpoint(self.checkpoint, fingerprint)))
        if self.verbose == 1:
            callbacks.append(("progress_bar", EpochProgressBar(total=self.max_epochs)))
        for i, item in enumerate(self.callbacks or []):
            name, callback = item if isinstance(item, tuple) else (f"user_{i}", item)
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks must hold skorch callbacks or (name, callback) tuples; "
                    f"item {i} is {type(callback).__name__}."
                )
            try:
                callback = clone(callback)
            except (TypeError, RuntimeError):
                callback = copy.deepcopy(callback)
            callbacks.append((name, callback))
        return callbacks

    def _check_warm_start_compatible(self, spec, weight):
        module = self.net_.module_
        changed = []
        if module.n_components != self.n_components:
            changed.append("n_components")
        if module.spec != spec:
            changed.append("architecture")
        if self.net_.criterion_.reconstruction != self.loss:
            changed.append("loss")
        if not np.array_equal(self.pixel_weight_, weight):
            changed.append("pixel_mask")
        if changed:
            raise ValueError(
                f"warm_start=True cannot continue training after changing "
                f"{', '.join(changed)}; set warm_start=False to train anew."
            )

    # ------------------------------------------------------------ inference

    @property
    def history_(self):
        """Training record of the fitted skorch net."""
        check_is_fitted(self)
        return self.net_.history

    def _chunks(self, source: RowSource) -> Iterator[tuple[slice, torch.Tensor]]:
        for rows, block in source.blocks(self.net_.micro_batch_size()):
            yield rows, torch.from_numpy(block).to(self.net_.device)

    def _map_chunks(self, source: RowSource, fn) -> Iterator:
        """``(rows, fn(module, chunk))`` in evaluation mode without autograd."""
        module = self.net_.module_
        with _eval_mode(module), torch.inference_mode():
            for rows, chunk in self._chunks(source):
                yield rows, fn(module, chunk)

    def _collect(self, source: RowSource, fn) -> list[np.ndarray]:
        """Every output of ``fn`` over all rows, as arrays in the output dtype.

        The arrays are allocated once and filled chunk by chunk. Keeping one
        small array per chunk and joining them at the end would leave those
        small blocks scattered between the large freed chunk buffers, and
        the C heap could not give the space back: resident memory grew by
        about 1 GB per 600,000 spectra encoded.
        """
        outs = None
        for rows, result in self._map_chunks(source, fn):
            result = result if isinstance(result, tuple) else (result,)
            if outs is None:
                dtype = _output_dtype(source)
                outs = [np.empty((len(source), r.shape[1]), dtype=dtype) for r in result]
            for out, r in zip(outs, result):
                out[rows] = r.cpu().numpy()
        return outs

    def transform(self, X):
        """Encode spectra to their posterior mean codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra on the pixel grid seen in :meth:`fit`.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Posterior means, in the float dtype of ``X``.
        """
        check_is_fitted(self)
        source = self._validated_source(X, reset=False)
        return self._collect(source, lambda m, x: m.encode_mean(x))[0]

    def encode(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances of spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra on the pixel grid seen in :meth:`fit`.

        Returns
        -------
        mean : ndarray of shape (n_samples, n_components)
            Posterior means (what :meth:`transform` returns).
        log_var : ndarray of shape (n_samples, n_components)
            Posterior log-variances; ``exp(0.5 * log_var)`` is each code's
            uncertainty.

        Examples
        --------
        >>> import numpy as np
        >>> from skspecrep import SpectralAutoencoder
        >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(20, 32))
        >>> ae = SpectralAutoencoder(n_components=3, max_epochs=2, random_state=0).fit(X)
        >>> mean, log_var = ae.encode(X)
        >>> mean.shape, log_var.shape
        ((20, 3), (20, 3))
        """
        check_is_fitted(self)
        source = self._validated_source(X, reset=False)
        mean, log_var = self._collect(source, lambda m, x: m.encode(x))
        return mean, log_var

    def inverse_transform(self, X):
        """Decode codes back to spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Reconstructed spectra, in the float dtype of the codes.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} latent dimensions, but this SpectralAutoencoder "
                f"has n_components={self.n_components}."
            )
        return self._collect(RowSource(Z, validate=False), lambda m, z: m.decode(z))[0]

    def score(self, X, y=None, *, ivar=None) -> float:
        """Negative beta-weighted ELBO per spectrum on held-out spectra.

        The reconstruction error of one posterior sample per spectrum plus
        ``beta`` times the KL summed over latents: the training objective
        with the full KL weight. Higher is better. Unlike reconstruction
        error alone, it charges each latent for the information it carries,
        so a search over ``n_components`` does not simply pick the widest
        bottleneck. The sample is drawn from ``random_state``, so the score
        is reproducible when that is an int.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.
        y : None
            Ignored; present for API consistency.
        ivar : array-like of shape (n_samples, n_features), default=None
            Inverse variances, required by ``loss="chi2"``.

        Returns
        -------
        score : float
            Mean of minus the objective over the spectra.
        """
        check_is_fitted(self)
        source = self._validated_source(X, reset=False)
        ivar = self._check_ivar(ivar, source)
        rng = check_random_state(self.random_state)
        device = self.net_.device
        generator = torch.Generator(device=device).manual_seed(
            int(rng.randint(np.iinfo(np.int32).max))
        )
        criterion = self.net_.criterion_
        total = 0.0
        with _eval_mode(self.net_.module_), torch.inference_mode():
            for rows, x in self._chunks(source):
                y_pred = self.net_.module_(x, generator=generator)
                w = None if ivar is None else torch.from_numpy(ivar.read(rows)).to(device)
                total += criterion.per_sample(y_pred, x, w, self.beta).double().sum().item()
        return -total / len(source)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _output_dtype(source: RowSource) -> np.dtype:
    """Outputs keep float32 or float64 input; other dtypes give float64, as in sklearn."""
    return source.dtype if source.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _check_weight_vector(values, length: int, *, name: str, per: str, dtype) -> np.ndarray:
    """One non-negative weight per pixel or per spectrum, not all zero."""
    plural = {"pixel": "pixels", "spectrum": "spectra"}[per]
    weights = check_array(values, ensure_2d=False, dtype=dtype, input_name=name)
    if weights.ndim != 1 or weights.shape[0] != length:
        raise ValueError(
            f"{name} has shape {weights.shape} but X has {length} {plural}; it needs "
            f"one weight per {per}, shape ({length},)."
        )
    if np.any(weights < 0):
        raise ValueError(f"{name} must be non-negative.")
    if not np.any(weights > 0):
        raise ValueError(f"Every weight in {name} is zero: it masks every {per}.")
    return np.ascontiguousarray(weights)


def _check_weights(sample_weight, n_samples: int) -> np.ndarray | None:
    """Validated float64 sample weights, or None when they are absent or all equal."""
    if sample_weight is None:
        return None
    weights = _check_weight_vector(
        sample_weight, n_samples, name="sample_weight", per="spectrum", dtype=np.float64
    )
    # Equal weights select nothing: train exactly as without them.
    if np.all(weights == weights[0]):
        return None
    return np.ascontiguousarray(weights)


def _row_blocks(source: RowSource, rows: np.ndarray | None, size: int = 4096):
    """Blocks of the given rows (all rows when None), read in order."""
    if rows is None:
        for _, block in source.blocks(size):
            yield block
    else:
        for start in range(0, len(rows), size):
            yield source.read(rows[start : start + size])


def _mean_spectrum(source: RowSource, rows: np.ndarray | None) -> np.ndarray:
    """Mean of the rows in float64, a block at a time (X may be on disk)."""
    total = np.zeros(source.n_features)
    for block in _row_blocks(source, rows):
        total += block.sum(axis=0, dtype=np.float64)
    n = len(source) if rows is None else len(rows)
    return (total / n).astype(np.float32)


def _rms_deviation(source: RowSource, rows, mean, weight) -> float:
    """Root-mean-square difference from the mean spectrum over unmasked pixels."""
    keep = weight > 0
    total = 0.0
    for block in _row_blocks(source, rows):
        total += np.square(block[:, keep] - mean[keep], dtype=np.float64).sum()
    n = len(source) if rows is None else len(rows)
    rms = np.sqrt(total / (n * keep.sum()))
    return float(rms) if rms > 0 else 1.0


#: Rows per compressed HDF5 chunk above which shuffled training spends most
#: of its reading on rows it does not use.
_MAX_CHUNK_ROWS = 64


def _warn_if_chunks_span_many_rows(X) -> None:
    """Warn when X is an HDF5 dataset compressed in chunks of many rows.

    HDF5 decompresses a whole chunk to read any row of it. Measured with
    4,000 spectra of 2,048 pixels (gzip): an epoch takes 2x the in-memory
    time with chunks of 8 rows, 4x with 64, 8x with 512 and 10x with all
    rows in one chunk. zarr was measured too and is insensitive to it.
    """
    dataset = _h5py_dataset_type()
    if dataset is None or not isinstance(X, dataset):
        return
    if X.chunks is None or X.compression is None or X.chunks[0] <= _MAX_CHUNK_ROWS:
        return
    warnings.warn(
        f"X is an HDF5 dataset compressed in chunks of {X.chunks[0]} rows. HDF5 "
        "decompresses a whole chunk to read any spectrum in it, so shuffled training "
        "reads up to that many spectra for each one it uses. For training, store it "
        f"in chunks of a few rows, e.g. h5py's chunks=(8, {X.shape[1]}).",
        UserWarning,
        stacklevel=3,
    )


def _chunk_bytes(device: str) -> int:
    return _CPU_CHUNK_BYTES if torch.device(device).type == "cpu" else _GPU_CHUNK_BYTES


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
        ) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available "
            "(torch.cuda.is_available() is False). Use device='auto' or 'cpu'."
        )
    return device


@contextlib.contextmanager
def _seeded(seed: int, device: str):
    """Seed torch for one fit without touching the caller's global RNG state."""
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module):
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _silent(*args, **kwargs):
    """A sink that drops early-stopping messages (verbose output is skorch's)."""
