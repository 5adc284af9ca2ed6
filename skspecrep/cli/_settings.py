"""The model options of a command as one typed, checked value: what the commands train with."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from .. import SpectralAutoencoder
from ._errors import InputError
from ._recipes import RECIPES

#: Weight of the labels of ``--supervise`` when ``--label-weight`` is not given.
LABEL_WEIGHT = 0.01


@dataclass(frozen=True)
class ModelSettings:
    """The model options, with the recipe's defaults filled in and every value checked.

    Built once from the parsed command line (:meth:`from_args`); what a
    command derives later (the architecture for spectrum files, the paper's
    warm-up in epochs) makes a new value (``dataclasses.replace``), so that
    neither the parsed arguments nor these settings ever change.
    """

    n_components: int
    epochs: int | str
    beta: float
    lr: float
    batch_size: int
    decorrelation: float
    random_state: int
    virtual_rv: float
    seeds: int
    architecture: str | None = None
    kl_warmup: tuple[float, float] | None = None
    supervise: tuple[str, ...] | None = None
    label_weight: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, recipe: str | None = None) -> ModelSettings:
        """The options of ``args``; with a recipe, its values where an option was not given."""
        values = {f.name: getattr(args, f.name, None) for f in fields(cls)}
        for name, value in RECIPES[recipe].items() if recipe is not None else ():
            if values[name] is None:
                values[name] = value
        if values["kl_warmup"] is not None:
            values["kl_warmup"] = tuple(values["kl_warmup"])
        if values["supervise"] and values["label_weight"] is None:
            values["label_weight"] = LABEL_WEIGHT
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        for name in ("n_components", "epochs", "batch_size", "seeds"):
            value = getattr(self, name)
            if value != "auto" and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1.")
        if self.decorrelation < 0:
            raise InputError(f"--decorrelation must be at least 0; got {self.decorrelation:g}.")
        if self.label_weight is not None and not self.supervise:
            raise InputError("--label-weight weighs the labels of --supervise; give both.")
        if self.label_weight is not None and not self.label_weight > 0:
            raise InputError(f"--label-weight must be above 0; got {self.label_weight:g}.")

    def autoencoder(self, wavelength, *, quiet: bool, **extra) -> SpectralAutoencoder:
        """The estimator these settings describe, on spectra with this ``wavelength`` grid.

        ``extra`` are estimator parameters a command sets from its data
        (validation fraction, checkpoint, device, pixel mask).
        """
        if self.virtual_rv and wavelength is None:
            raise InputError(
                "--virtual-rv shifts spectra on their wavelength grid: give the wavelengths "
                "(--wavelength for .npy spectra)."
            )
        optional = {}
        if self.architecture is not None:
            optional["architecture"] = self.architecture
        if self.kl_warmup is not None:
            optional["kl_warmup"] = self.kl_warmup
        if self.supervise:
            optional["label_weight"] = self.label_weight
        return SpectralAutoencoder(
            n_components=self.n_components,
            max_epochs=self.epochs,
            beta=self.beta,
            decorrelation=self.decorrelation,
            **optional,
            lr=self.lr,
            batch_size=self.batch_size,
            # The grid travels with the model, so that 'analyze' reads new files onto it.
            wavelength=wavelength,
            virtual_rv=self.virtual_rv or None,
            random_state=self.random_state,
            verbose=0 if quiet else 1,
            **extra,
        )
