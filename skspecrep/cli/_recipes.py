"""Recipes (``--recipe``) and what they derive: the paper's HARPS preprocessing, noise-only
spectra, star weights and the paper's KL warm-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import HARPSPreprocessor, io
from .._preprocessing import HARPS_MAX_UNCOVERED, HARPS_RANGE
from ._errors import InputError
from ._inputs import BLOCK_BYTES

#: Model settings of each ``--recipe``; an option given on the command line wins.
#: The paper's KL weight 0.3 multiplied the KL averaged over 128 latents; the
#: estimator's beta multiplies the sum. Its warm-up (0 for 5,000 iterations,
#: then up to 20,000) is set in epochs from the number of training spectra.
RECIPES = {
    "default": {
        "architecture": None, "n_components": 16, "epochs": "auto", "beta": 1e-4, "lr": 1e-3,
        "batch_size": 32, "kl_warmup": (1.0, 10.0),
    },
    "sedaghat2021": {
        "architecture": "sedaghat2021", "n_components": 128, "epochs": 182, "beta": 0.3 / 128,
        "lr": 1e-4, "batch_size": 32, "kl_warmup": None,
    },
}  # fmt: skip
_PAPER_WARMUP_ITERATIONS = (5_000, 20_000)


def harps_recipe(wavelength) -> HARPSPreprocessor:
    if wavelength is None:
        raise InputError(
            "--recipe sedaghat2021 resamples the spectra onto the HARPS grid: give their "
            "wavelengths (--wavelength for .npy spectra)."
        )
    lo, hi = HARPS_RANGE
    if wavelength[0] > lo + HARPS_MAX_UNCOVERED or wavelength[-1] < hi - HARPS_MAX_UNCOVERED:
        raise InputError(
            f"--recipe sedaghat2021 needs spectra covering {lo:g}-{hi:g} A (to within "
            f"{HARPS_MAX_UNCOVERED:g} A at either end); the grid covers "
            f"{wavelength[0]:.2f}-{wavelength[-1]:.2f} A."
        )
    return HARPSPreprocessor(wavelength)


def noise_only_rows(harps: HARPSPreprocessor, X) -> np.ndarray:
    """The paper's noise-only flags (raw median below 50), a block of rows at a time."""
    rows = max(1, BLOCK_BYTES // (4 * X.shape[1]))
    return np.concatenate([harps.noise_only(X[i : i + rows]) for i in range(0, len(X), rows)])


def star_weights(meta: pd.DataFrame | None, noise_only: np.ndarray) -> np.ndarray:
    """:func:`skspecrep.io.star_weights` from OBJECT, said; 0 for noise-only spectra."""
    n = len(noise_only)
    if meta is not None and "object" in meta:
        weight = io.star_weights(meta["object"])
        # Weights sum to the number of stars; the smallest is 1 / the busiest star's count.
        n_stars, most = round(weight.sum()), round(1 / weight.min())
        print(
            f"Sampling weight 1/count per star (OBJECT): {n} spectra of {n_stars} stars, "
            f"up to {most} spectra per star."
        )
    else:
        weight = np.ones(n)
        print("Sampling: the spectra carry no OBJECT, so every spectrum counts once.")
    if noise_only.any():
        weight[noise_only] = 0.0
        print(
            f"{int(noise_only.sum())} spectra are noise only (raw median flux below 50) and "
            "get weight 0, as the paper left them out."
        )
    if not np.any(weight > 0):
        raise InputError("Every spectrum is noise only (raw median flux below 50).")
    return weight


def paper_warmup(n_spectra: int, validation_fraction: float, batch_size: int):
    """The paper's KL warm-up, iterations 5,000 to 20,000, in epochs of this data set."""
    n_train = n_spectra - int(np.ceil(validation_fraction * n_spectra))
    steps = -(-n_train // batch_size)
    return tuple(i / steps for i in _PAPER_WARMUP_ITERATIONS)
