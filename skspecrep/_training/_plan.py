"""An immutable plan of one training run, made from the estimator's parameters and the data.

:data:`PARAMETERS` is the table of every parameter of
:class:`~skspecrep.SpectralAutoencoder`: how it is checked and what it
governs. Fresh fits, warm starts, resumed checkpoints and distributed runs
all read the same plan, so a parameter means the same on every path. A new
training parameter is a constructor argument plus one row here; a test
fails if a parameter has no row.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array
from skorch.callbacks import Callback

from .._checks import check_wavelength_grid
from .._nn import (
    C_KMS,
    SEDAGHAT2021_N_FEATURES,
    ConvSpec,
    auto_spec,
    dense_spec,
    sedaghat2021_spec,
)
from .._rows import RowSource
from ._data import SpectraDataset
from ._labels import Labels, make_labels

# ------------------------------------------------------------------ checks
# Each takes the parameter's value and the number of pixels, and returns the
# value training uses, or raises ValueError/TypeError naming the problem.


def _as(kind):
    return lambda value, n_features: kind(value)


def _architecture(value, n_features: int) -> ConvSpec:
    if isinstance(value, Mapping):
        return ConvSpec.from_mapping(value)
    if value == "sedaghat2021":
        if n_features != SEDAGHAT2021_N_FEATURES:
            raise ValueError(
                f"architecture='sedaghat2021' needs spectra of exactly "
                f"{SEDAGHAT2021_N_FEATURES:,} pixels (the paper's HARPS grid, "
                f"3785-6910 A at 0.01 A zero-padded); X has {n_features:,}. "
                "Use architecture='auto' for other grids."
            )
        return sedaghat2021_spec()
    if value == "dense":
        return dense_spec(n_features)
    return auto_spec(n_features)


def check_weight_vector(values, length: int, *, name: str, per: str, dtype) -> np.ndarray:
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


def _pixel_weight(value, n_features: int) -> np.ndarray:
    if value is None:
        return np.ones(n_features, dtype=np.float32)
    return check_weight_vector(value, n_features, name="pixel_mask", per="pixel", dtype=np.float32)


def _kl_warmup(value, n_features: int) -> tuple[float, float]:
    try:
        start, end = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"kl_warmup must be two numbers (start, end) in epochs; got {value!r}."
        ) from None
    if not 0 <= start <= end or not np.isfinite(end):
        raise ValueError(f"kl_warmup must satisfy 0 <= start <= end < inf; got {value!r}.")
    return start, end


#: Least number of epochs and of optimizer steps of ``max_epochs="auto"``.
#: On the real-spectra benchmark (``benchmarks/real_spectra.py``) 300
#: spectra trained 500 steps drew worse than PCA and 2,000 steps better;
#: 50 epochs is the estimator's length for archives large enough to reach
#: 2,000 steps in them.
AUTO_MIN_EPOCHS = 50
AUTO_MIN_STEPS = 2000
#: Least patience of ``n_iter_no_change="auto"``, in epochs and in optimizer
#: steps (10 epochs of the smallest archive that ``"auto"`` trains 50 epochs).
#: On 300 real spectra with 30 validating, 10 epochs (90 steps) stopped
#: training after a third of its steps at 0.80 of PCA's error; waiting 400
#: steps let it reach 0.48 (``benchmarks/real_files.py``).
AUTO_MIN_PATIENCE = 10
AUTO_PATIENCE_STEPS = 400


def _int_or_auto(value, n_features: int) -> int | str:
    return value if isinstance(value, str) else int(value)


def _epochs_for(steps: int, at_least: int, n_train: int, batch_size: int) -> int:
    """At least ``at_least`` epochs and at least ``steps`` optimizer steps."""
    steps_per_epoch = -(-n_train // batch_size)
    return max(at_least, -(-steps // steps_per_epoch))


def _wavelength(value, n_features: int) -> np.ndarray | None:
    if value is None:
        return None
    wavelength = check_wavelength_grid(value, "wavelength", size=n_features)
    if not wavelength[0] > 0:
        # Doppler shifts work in log-wavelength.
        raise ValueError("wavelength must be positive.")
    return wavelength


def _virtual_rv(value, n_features: int) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, Real):
        value = (-float(value), float(value))
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"virtual_rv must be a velocity v (km/s, for the range -v..v) or a pair "
            f"(low, high); got {value!r}."
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"virtual_rv must satisfy low < high, both finite; got {value!r}.")
    if max(abs(low), abs(high)) >= C_KMS:
        raise ValueError(f"virtual_rv must stay below the speed of light; got {value!r}.")
    return low, high


_AUTOCAST = {"no": None, "bf16": torch.bfloat16}


def _autocast_dtype(value, n_features: int):
    return _AUTOCAST[value]


def _device(value, n_features: int) -> str:
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(value).type
    except (RuntimeError, TypeError):
        kind = None
    # Only devices that hold real weights: "meta" and the like would build a
    # network without memory that fails later with torch's own messages.
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {value!r:.40}."
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={value!r} was requested but MPS is not available.")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={value!r} was requested but CUDA is not available "
            "(torch.cuda.is_available() is False). Use device='auto' or 'cpu'."
        )
    return value


def _user_callbacks(value, n_features: int) -> tuple:
    """(name, fresh copy) of each user callback: skorch mutates the instances it runs."""
    callbacks = []
    for i, item in enumerate(value or []):
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
    return tuple(callbacks)


def _path(value, n_features: int):
    return None if value is None else os.fspath(value)


# ------------------------------------------------------------------- table


@dataclass(frozen=True)
class Parameter:
    """How one estimator parameter reaches training.

    Attributes
    ----------
    role : {"structure", "net", "run"}
        ``"structure"``: fixes the network that is built; a warm start that
        changes it is refused. ``"net"``: a setting of the skorch net,
        set through ``set_params`` on every fit, fresh or warm, under
        ``net_name``. ``"run"``: read by the plan or the run itself, anew on
        every fit.
    check : callable
        ``check(value, n_features)`` returns the value training uses.
    net_name : str or None
        Name of the skorch net parameter of a ``"net"`` row; None means the
        parameter's own name.
    """

    role: str
    check: Callable[[Any, int], Any] = field(default=lambda value, n_features: value)
    net_name: str | None = None


PARAMETERS: Mapping[str, Parameter] = MappingProxyType(
    {
        "n_components": Parameter("structure", _as(int)),
        "architecture": Parameter("structure", _architecture),
        "loss": Parameter("structure", _as(str)),
        "pixel_mask": Parameter("structure", _pixel_weight),
        "distributed": Parameter("structure", _as(bool)),
        "beta": Parameter("net", _as(float)),
        "kl_warmup": Parameter("net", _kl_warmup),
        "lr": Parameter("net", _as(float)),
        "batch_size": Parameter("net", _as(int)),
        "mixed_precision": Parameter("net", _autocast_dtype, net_name="autocast_dtype"),
        "decorrelation": Parameter("net", _as(float)),
        "label_weight": Parameter("net", _as(float)),
        "label_share": Parameter("run", _as(float)),
        "wavelength": Parameter("structure", _wavelength),
        "virtual_rv": Parameter("structure", _virtual_rv),
        "device": Parameter("run", _device),
        "max_epochs": Parameter("run", _int_or_auto),
        "validation_fraction": Parameter("run"),
        "n_iter_no_change": Parameter("run", _int_or_auto),
        "random_state": Parameter("run"),
        "verbose": Parameter("run", _as(int)),
        "callbacks": Parameter("run", _user_callbacks),
        "warm_start": Parameter("run", _as(bool)),
        "checkpoint": Parameter("run", _path),
    }
)


# -------------------------------------------------------------------- plan


@dataclass(frozen=True, eq=False)
class Structure:
    """What fixes the network: a fit may continue a net only under the same structure."""

    n_features: int
    n_components: int
    architecture: ConvSpec
    loss: str
    pixel_mask: np.ndarray
    distributed: bool
    wavelength: np.ndarray | None
    virtual_rv: tuple[float, float] | None

    @property
    def velocity_latent(self) -> bool:
        """Whether latent 0 is a velocity that the decoder renders as a Doppler shift."""
        return self.virtual_rv is not None

    def differences(self, other: Structure) -> list[str]:
        """Names of the fields that differ from ``other``."""
        names = []
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            arrays = isinstance(mine, np.ndarray) or isinstance(theirs, np.ndarray)
            same = np.array_equal(mine, theirs) if arrays else mine == theirs
            if not same:
                names.append(name)
        return names


@dataclass(frozen=True, eq=False)
class TrainingPlan:
    """Everything one training run needs, checked, and nothing it may change.

    Attributes
    ----------
    params : mapping
        The checked value of every parameter of the estimator, by name.
    source : RowSource
        The spectra.
    ivar : RowSource or None
        Their inverse variances (``loss="chi2"``).
    seed : int
        Seed of torch for the whole run.
    train_rows, valid_rows : ndarray of int or None
        The training and validation split; None: all rows train, none
        validate.
    train_weight : ndarray or None
        Sampling weight of each training row; None: each row once per
        epoch, shuffled.
    labels : Labels or None
        Partial labels that supervise latents (``label_weight > 0``).
    """

    params: Mapping[str, Any]
    source: RowSource
    ivar: RowSource | None
    seed: int
    train_rows: np.ndarray | None
    valid_rows: np.ndarray | None
    train_weight: np.ndarray | None
    labels: Labels | None = None

    @property
    def structure(self) -> Structure:
        return Structure(
            n_features=self.source.n_features,
            **{name: self.params[name] for name, p in PARAMETERS.items() if p.role == "structure"},
        )

    def net_params(self) -> dict:
        """The ``"net"`` rows of :data:`PARAMETERS` as skorch net parameters."""
        return {
            p.net_name or name: self.params[name]
            for name, p in PARAMETERS.items()
            if p.role == "net"
        }

    @property
    def n_train(self) -> int:
        return len(self.source) if self.train_rows is None else len(self.train_rows)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_train // self.params["batch_size"])

    def train_dataset(self) -> SpectraDataset:
        return SpectraDataset(self.source, self.ivar, self.train_rows, self.label_targets)

    def valid_dataset(self) -> SpectraDataset | None:
        if self.valid_rows is None:
            return None
        return SpectraDataset(self.source, self.ivar, self.valid_rows, self.label_targets)

    @property
    def label_targets(self) -> np.ndarray | None:
        return None if self.labels is None else self.labels.targets

    @property
    def validation_key(self) -> str | None:
        """Identifies the validation split: losses on another split are not comparable."""
        if self.valid_rows is None:
            return None
        digest = hashlib.sha1(np.ascontiguousarray(self.valid_rows, dtype=np.int64))
        return f"{len(self.source)}:{digest.hexdigest()}"

    def fingerprint(self) -> dict:
        """What a checkpoint must match to be resumed by this plan."""
        fingerprint = {
            "format": 2,
            "n_features": int(self.source.n_features),
            "n_training_spectra": int(self.n_train),
            "n_components": int(self.params["n_components"]),
            "architecture": self.params["architecture"].to_dict(),
            "loss": self.params["loss"],
            "batch_size": int(self.params["batch_size"]),
            "validation_split": self.validation_key,
            "virtual_rv": self.params["virtual_rv"],
        }
        if self.params["wavelength"] is not None:
            fingerprint["wavelength_sha1"] = hashlib.sha1(self.params["wavelength"]).hexdigest()
        if self.labels is not None:
            fingerprint["labels"] = list(self.labels.names)
            fingerprint["labels_sha1"] = hashlib.sha1(self.labels.targets).hexdigest()
        if self.train_weight is not None:
            fingerprint["sample_weight_sha1"] = hashlib.sha1(self.train_weight).hexdigest()
        return fingerprint


def make_plan(
    params: Mapping, source: RowSource, *, ivar=None, sample_weight=None, y=None
) -> TrainingPlan:
    """Check the estimator's parameters against the data and plan the run.

    Parameters
    ----------
    params : mapping
        ``estimator.get_params(deep=False)``: one entry per row of
        :data:`PARAMETERS`.
    source : RowSource
        The validated spectra.
    ivar : RowSource or None
        Validated inverse variances.
    sample_weight : array-like of shape (n_samples,) or None
        Sampling weight of each spectrum.
    y : array-like of shape (n_samples,) or (n_samples, n_labels) or None
        Partial labels, NaN where unknown; used when ``label_weight > 0``
        and ignored otherwise (a Pipeline passes ``y`` to every step).

    Returns
    -------
    plan : TrainingPlan
    """
    missing = set(params) ^ set(PARAMETERS)
    if missing:  # a programming error: a parameter without a row, or a row without one
        raise RuntimeError(f"Parameters and their table disagree on {sorted(missing)}.")
    n_samples, n_features = source.shape
    if n_samples < 2:
        raise ValueError(
            f"n_samples={n_samples}: SpectralAutoencoder needs at least 2 spectra to learn from."
        )
    checked = {name: row.check(params[name], n_features) for name, row in PARAMETERS.items()}
    if checked["virtual_rv"] is not None and checked["wavelength"] is None:
        raise ValueError(
            "virtual_rv needs the wavelength of every pixel to shift spectra by: "
            "pass wavelength=... (any increasing grid, e.g. the one from the reader)."
        )
    rng = check_random_state(params["random_state"])
    seed = int(rng.randint(np.iinfo(np.int32).max))
    train_rows, valid_rows = _split(params["validation_fraction"], n_samples, rng)
    # Training length and patience count optimizer steps on small archives.
    n_train = n_samples if train_rows is None else len(train_rows)
    if checked["max_epochs"] == "auto":
        checked["max_epochs"] = _epochs_for(
            AUTO_MIN_STEPS, AUTO_MIN_EPOCHS, n_train, checked["batch_size"]
        )
    if checked["n_iter_no_change"] == "auto":
        checked["n_iter_no_change"] = _epochs_for(
            AUTO_PATIENCE_STEPS, AUTO_MIN_PATIENCE, n_train, checked["batch_size"]
        )
    labels = None
    if checked["label_weight"] > 0:
        if y is None:
            raise ValueError(
                f"label_weight={checked['label_weight']} ties latents to labels, but fit "
                "got no labels: pass fit(X, y) with NaN for unknown values, or set "
                "label_weight=0."
            )
        first = 0 if checked["virtual_rv"] is None else 1
        labels = make_labels(y, n_samples, checked["n_components"], first, train_rows)
    weight = _sample_weight(sample_weight, n_samples)
    if weight is not None and train_rows is not None:
        weight = weight[train_rows]
    if weight is not None and not np.any(weight > 0):
        raise ValueError("Every sample_weight of the training split is zero: nothing to train on.")
    if labels is not None:
        weight = _with_label_share(weight, labels, train_rows, checked["label_share"])
    return TrainingPlan(
        params=MappingProxyType(checked),
        source=source,
        ivar=ivar,
        seed=seed,
        train_rows=train_rows,
        valid_rows=valid_rows,
        train_weight=weight,
        labels=labels,
    )


def _with_label_share(weight, labels: Labels, train_rows, share: float) -> np.ndarray | None:
    """Training weights under which labelled spectra fill at least ``share`` of the draws.

    A spectrum is labelled when it knows at least one label. When the
    labelled spectra already hold that share of the weight (or none has a
    weight above 0), the weights are returned as they are; otherwise the
    labelled spectra's weights are multiplied by one factor, so that
    weights among labelled spectra, and among the others, keep their ratios.
    """
    targets = labels.targets if train_rows is None else labels.targets[train_rows]
    labelled = ~np.all(np.isnan(targets), axis=1)
    base = np.ones(len(targets)) if weight is None else weight
    held = base[labelled].sum()
    total = base.sum()
    if held == 0 or held >= share * total:
        return weight
    factor = share * (total - held) / ((1 - share) * held)
    return np.where(labelled, base * factor, base)


def _split(fraction, n_samples: int, rng):
    if fraction is None:
        return None, None
    n_valid = int(np.ceil(fraction * n_samples))
    if n_valid >= n_samples:
        raise ValueError(
            f"validation_fraction={fraction} leaves no training spectra out of "
            f"n_samples={n_samples}."
        )
    order = rng.permutation(n_samples)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def _sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """Validated float64 sample weights, or None when they are absent or all equal."""
    if sample_weight is None:
        return None
    weights = check_weight_vector(
        sample_weight, n_samples, name="sample_weight", per="spectrum", dtype=np.float64
    )
    # Equal weights select nothing: train exactly as without them.
    if np.all(weights == weights[0]):
        return None
    return weights
