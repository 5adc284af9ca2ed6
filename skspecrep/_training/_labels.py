"""Partial labels that supervise latents: their checks, and reading latents back as labels.

A few labelled spectra name latents (issue 24): each label column is tied to
a latent of its own, the first ones after the velocity latent, and training
pulls that latent's posterior mean towards the standardised label wherever
the label is known (:func:`~skspecrep._nn.label_penalty`). After training,
:func:`calibrate_labels` maps each such latent back to its label's units
with an error measured on labelled spectra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import check_array

from .._rows import RowSource

#: Labelled spectra encoded to calibrate the labelled latents, at most.
_CALIBRATION_ROWS = 20_000


@dataclass(frozen=True, eq=False)
class Labels:
    """Partial labels of the spectra, standardised, and the latent each is tied to.

    Attributes
    ----------
    names : tuple of str
        Name of each label (a DataFrame's column, else ``"label_0"``...).
    latents : ndarray of int of shape (n_labels,)
        The latent tied to each label: the first latents after the velocity
        latent, in the labels' order.
    targets : ndarray of shape (n_samples, n_labels), float32
        ``(y - mean) / scale`` for every spectrum, NaN where unknown.
    mean, scale : ndarray of shape (n_labels,)
        Mean and standard deviation of each label's known training values.
    """

    names: tuple[str, ...]
    latents: np.ndarray
    targets: np.ndarray
    mean: np.ndarray
    scale: np.ndarray


def make_labels(y, n_samples: int, n_components: int, first_latent: int, train_rows) -> Labels:
    """Check partial labels (NaN where unknown) and tie each to a latent.

    Raises ValueError naming the problem: a shape that does not match the
    spectra, infinite values, more labels than free latents, or a label
    without two different known values among the training spectra.
    """
    columns = getattr(y, "columns", None)
    if columns is None and getattr(y, "name", None) is not None:
        columns = [y.name]  # a pandas Series
    values = check_array(
        y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan", input_name="y"
    )
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n_samples:
        raise ValueError(
            f"y has shape {values.shape} but X has {n_samples} spectra; labels need one "
            "row per spectrum (NaN where a label is unknown)."
        )
    n_labels = values.shape[1]
    names = (
        tuple(str(c) for c in columns)
        if columns is not None
        else tuple(f"label_{k}" for k in range(n_labels))
    )
    free = n_components - first_latent
    if n_labels > free:
        raise ValueError(
            f"y has {n_labels} labels but only {free} latents can hold one (n_components="
            f"{n_components}{', latent 0 being the velocity' if first_latent else ''}); "
            "raise n_components or pass fewer labels."
        )
    train = values if train_rows is None else values[train_rows]
    known = ~np.isnan(train)
    for k, name in enumerate(names):
        if len(np.unique(train[known[:, k], k])) < 2:
            raise ValueError(
                f"Label {name!r} has {int(known[:, k].sum())} known value(s) among the "
                "training spectra and needs at least two different ones (NaN marks "
                "an unknown label)."
            )
    mean = np.nanmean(train, axis=0)
    scale = np.nanstd(train, axis=0)
    return Labels(
        names=names,
        latents=np.arange(first_latent, first_latent + n_labels),
        targets=np.ascontiguousarray((values - mean) / scale, dtype=np.float32),
        mean=mean,
        scale=scale,
    )


@dataclass(frozen=True)
class LabelCalibration:
    """Each labelled latent read as its label: ``intercept + slope * latent``.

    Attributes
    ----------
    intercept, slope : ndarray of shape (n_labels,)
        Least-squares line from the latent's posterior mean to the label,
        over the labelled training spectra.
    error : ndarray of shape (n_labels,)
        Root-mean-square error of that line on the labelled validation
        spectra, or, where fewer than 5 validation spectra have the label,
        on the labelled training spectra (which the network was fitted to:
        an optimistic figure).
    held_out : ndarray of bool of shape (n_labels,)
        Whether ``error`` was measured on validation spectra.
    spread : ndarray of shape (n_labels,)
        Root-mean-square posterior standard deviation of each labelled
        latent over the spectra on which ``error`` was measured: a
        spectrum's uncertainty as its label is ``error`` times its own
        posterior standard deviation over ``spread``, so that a spectrum
        the network is less sure of (a noisier one) gets a wider one.
    """

    intercept: np.ndarray
    slope: np.ndarray
    error: np.ndarray
    held_out: np.ndarray
    spread: np.ndarray


def calibrate_labels(
    labels: Labels,
    source: RowSource,
    train_rows,
    valid_rows,
    encode: Callable[[np.ndarray], np.ndarray],
    seed: int,
) -> LabelCalibration:
    """Fit each labelled latent's line to its label and measure its error.

    Parameters
    ----------
    labels : Labels
        The labels of the run.
    source : RowSource
        The spectra.
    train_rows, valid_rows : ndarray of int or None
        The run's split (None: all rows trained, none validated).
    encode : callable
        Posterior means and log-variances of an array of spectra.
    seed : int
        Seeds the sample of labelled spectra when there are more than
        20,000.
    """
    values = labels.targets.astype(np.float64) * labels.scale + labels.mean
    rng = np.random.RandomState(seed)

    def labelled(rows):
        rows = np.arange(len(source)) if rows is None else np.asarray(rows)
        rows = rows[~np.isnan(values[rows]).all(axis=1)]
        if not len(rows):
            return None  # e.g. a validation split that drew no labelled spectrum
        if len(rows) > _CALIBRATION_ROWS:
            rows = np.sort(rng.choice(rows, _CALIBRATION_ROWS, replace=False))
        mean, log_var = encode(source.read(rows))
        sigma = np.exp(0.5 * log_var[:, labels.latents].astype(np.float64))
        return mean[:, labels.latents].astype(np.float64), sigma, values[rows]

    train = labelled(train_rows)  # never None: make_labels asks for two known values
    valid = labelled(valid_rows) if valid_rows is not None else None
    n_labels = len(labels.names)
    intercept, slope, error = np.zeros(n_labels), np.zeros(n_labels), np.zeros(n_labels)
    spread = np.zeros(n_labels)
    held_out = np.zeros(n_labels, dtype=bool)
    for k in range(n_labels):
        codes, sigma, values_k = (part[:, k] for part in train)
        known = ~np.isnan(values_k)
        z, v = codes[known], values_k[known]
        if np.ptp(z) > 0:
            slope[k], intercept[k] = np.polyfit(z, v, 1)
        else:  # a latent that does not vary: the best constant
            intercept[k] = v.mean()
        residual = v - (intercept[k] + slope[k] * z)
        # Two parameters were fitted to these spectra.
        error[k] = np.sqrt(residual @ residual / max(1, len(v) - 2))
        spread[k] = np.sqrt(np.mean(sigma[known] ** 2))
        if valid is not None:
            codes, sigma, values_k = (part[:, k] for part in valid)
            known = ~np.isnan(values_k)
            if known.sum() >= 5:
                z, v = codes[known], values_k[known]
                error[k] = np.sqrt(np.mean((v - (intercept[k] + slope[k] * z)) ** 2))
                spread[k] = np.sqrt(np.mean(sigma[known] ** 2))
                held_out[k] = True
    return LabelCalibration(
        intercept=intercept, slope=slope, error=error, held_out=held_out, spread=spread
    )
