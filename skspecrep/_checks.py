"""Input checks that several modules share: wavelength grids and label tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array


def check_wavelength_grid(values, name: str, *, size: int | None = None) -> np.ndarray:
    """``values`` as a float64 1-D grid, or a ValueError naming ``name``.

    A grid has at least 2 wavelengths (exactly ``size`` when given, one per
    pixel of some spectra), all finite and strictly increasing.
    """
    grid = np.asarray(values, dtype=np.float64)
    if size is not None:
        if grid.shape != (size,):
            raise ValueError(
                f"{name} has shape {grid.shape} but X has {size} pixels; it needs "
                f"one wavelength per pixel, shape ({size},)."
            )
    elif grid.ndim != 1 or grid.size < 2:
        raise ValueError(f"{name} must be a 1-D grid of 2 or more wavelengths; got {grid.shape}.")
    if not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError(f"{name} must be finite and strictly increasing.")
    return grid


def check_labels(Y, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as a float 2-D array with NaN kept, and their names.

    Names come from a DataFrame's columns or a named Series, else
    ``label0, label1, ...``. ``caller`` names the function or estimator
    whose ``y`` is missing, in the error.
    """
    if Y is None:
        raise ValueError(
            f"{caller} requires y to be passed, but the target y is None: "
            "pass the labels, an array or DataFrame of shape (n_samples, n_labels)."
        )
    if isinstance(Y, pd.DataFrame):
        names = np.asarray([str(c) for c in Y.columns], dtype=object)
    elif isinstance(Y, pd.Series) and Y.name is not None:
        names = np.asarray([str(Y.name)], dtype=object)
    else:
        names = None
    Y = check_array(
        Y, ensure_all_finite="allow-nan", ensure_2d=False, dtype=np.float64, input_name="y"
    )
    if Y.ndim == 1:
        Y = Y[:, None]
    if names is None:
        names = np.asarray([f"label{i}" for i in range(Y.shape[1])], dtype=object)
    return Y, names
