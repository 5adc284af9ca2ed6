"""What a finished run says about itself: did it learn anything, had it finished learning?"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.decomposition import PCA

from .._constants import ACTIVE_KL
from .._nn import kl_weight
from .._rows import RowSource
from ..exceptions import PosteriorCollapseWarning, TrainingNotConvergedWarning, WorseThanPCAWarning

#: The objective still falls "steeply" when it fell by more than this
#: fraction per epoch, on average over the last epochs (``_SLOPE_EPOCHS``).
STEEP_FALL = 0.01
_SLOPE_EPOCHS = 3


#: Spectra drawn to compare the network with PCA: PCA is fitted on up to
#: ``_PCA_FIT_ROWS`` of them and both are scored on up to ``_PCA_EVAL_ROWS``
#: others, within ``_PCA_BYTES`` of float32 so that the paper's 327,680-pixel
#: spectra stay within memory (a few hundred of them).
_PCA_FIT_ROWS, _PCA_EVAL_ROWS, _PCA_BYTES = 2000, 1000, 256 * 2**20


def compare_with_pca(
    source: RowSource,
    train_rows: np.ndarray | None,
    valid_rows: np.ndarray | None,
    n_components: int,
    pixel_weight: np.ndarray,
    reconstruct: Callable[[np.ndarray], np.ndarray],
    seed: int,
) -> tuple[float, float]:
    """Weighted mean absolute errors of ``reconstruct`` and of PCA on the same spectra.

    PCA with ``n_components`` components (fewer when there are fewer rows
    to fit) is fitted on training rows; both are scored on validation rows
    when there are some (neither model trained on them), otherwise on
    training rows that PCA does not see (the network did train on them,
    which favours it slightly). NaN for both when there are too few rows.
    """
    fit_rows, eval_rows = _comparison_rows(
        len(source), train_rows, valid_rows, source.n_features, seed
    )
    n_components = min(n_components, len(fit_rows) - 1, source.n_features)
    if n_components < 1 or not len(eval_rows):
        return float("nan"), float("nan")
    pca = PCA(n_components, svd_solver="randomized", random_state=seed)
    pca.fit(source.read(fit_rows))
    X = source.read(eval_rows)
    pca_l1 = _weighted_l1(pca.inverse_transform(pca.transform(X)), X, pixel_weight)
    return _weighted_l1(reconstruct(X), X, pixel_weight), pca_l1


def _comparison_rows(n_rows, train_rows, valid_rows, n_features, seed):
    """Sorted rows to fit PCA on and rows to score both models on."""
    rng = np.random.RandomState(seed)
    budget = max(4, _PCA_BYTES // (4 * n_features))
    pool = np.arange(n_rows) if train_rows is None else np.asarray(train_rows)
    if valid_rows is not None and len(valid_rows):
        n_eval = min(len(valid_rows), _PCA_EVAL_ROWS, budget // 3)
        n_fit = min(len(pool), _PCA_FIT_ROWS, budget - n_eval)
        fit = rng.choice(pool, n_fit, replace=False)
        evaluate = rng.choice(valid_rows, n_eval, replace=False)
    else:
        n_total = min(len(pool), _PCA_FIT_ROWS + _PCA_EVAL_ROWS, budget)
        drawn = rng.choice(pool, n_total, replace=False)
        n_eval = max(1, n_total // 3)
        fit, evaluate = drawn[n_eval:], drawn[:n_eval]
    return np.sort(fit), np.sort(evaluate)


def _weighted_l1(X_hat: np.ndarray, X: np.ndarray, pixel_weight: np.ndarray) -> float:
    """Mean absolute error per pixel, weighted by ``pixel_weight``."""
    weight = np.asarray(pixel_weight, dtype=np.float64)
    per_pixel = np.abs(np.asarray(X_hat, dtype=np.float64) - X).mean(axis=0)
    return float((per_pixel * weight).sum() / weight.sum())


def diagnose(
    component_kl: np.ndarray,
    losses: np.ndarray,
    *,
    beta: float,
    kl_warmup: tuple[float, float],
    stop_reason: str,
    reconstruction: tuple[float, float] = (np.nan, np.nan),
) -> list[Warning]:
    """Problems of a finished run, as warnings to issue (none: an empty list).

    Parameters
    ----------
    component_kl : ndarray of shape (n_components,)
        Mean KL of each latent over the training spectra.
    losses : ndarray of shape (n_epochs,)
        The objective after each complete epoch: the validation loss when
        there is one (its KL weight is always ``beta``), else the training
        loss.
    beta, kl_warmup : float, tuple of float
        The KL weight and its warm-up, to tell a rising weight from learning.
    stop_reason : str
        Why the run stopped; only runs that ran out of epochs can have
        stopped too soon.
    reconstruction : tuple of float
        Reconstruction errors of the network and of PCA of the same width
        on the same spectra; NaN when they were not compared.
    """
    found = _training_problems(component_kl, losses, beta, kl_warmup, stop_reason)
    network, pca = reconstruction
    if network > pca:
        found.append(
            WorseThanPCAWarning(
                f"The network reconstructs spectra worse than PCA with as many components "
                f"(mean absolute error {network:.4g} against {pca:.4g}{_times(network, pca)}): "
                "it has learned less than a linear model, so its latents are not yet "
                "a description of the spectra. Train longer (more epochs, or warm_start=True "
                "and fit again), or with more spectra; on spectra whose lines are one to three "
                "pixels wide, try architecture='dense'."
            )
        )
    return found


def _training_problems(component_kl, losses, beta, kl_warmup, stop_reason) -> list[Warning]:
    """Collapse and convergence problems (see :func:`diagnose`)."""
    found = []
    n_epochs = len(losses)
    if component_kl.size and not np.any(component_kl > ACTIVE_KL):
        largest = f"the largest component_kl_ is {component_kl.max():.3g} nats, at most {ACTIVE_KL}"
        if beta > 0 and kl_weight(n_epochs, beta, kl_warmup) == 0:
            # No KL pressure yet: the codes are untrained, and a smaller beta would not help.
            advice = (
                f"Every latent is still at the prior ({largest}): training ended after "
                f"{n_epochs} epochs, before the KL weight began to rise (epoch "
                f"{kl_warmup[0]:g}), so the KL term did not cause this; the network has not "
                "learned yet. Train longer (more epochs, or warm_start=True and fit again)."
            )
        else:
            advice = (
                f"Every latent collapsed to the prior ({largest}): the codes carry no "
                "information and the model reconstructs only the mean spectrum. Try a "
                f"smaller beta (now {beta:g}; e.g. {beta / 10:g}), more epochs, a later or "
                "longer kl_warmup, or more spectra."
            )
        found.append(PosteriorCollapseWarning(advice))
    if stop_reason != "max_epochs":
        return found
    weight = kl_weight(n_epochs, beta, kl_warmup)
    if beta > 0 and weight < beta:
        found.append(
            TrainingNotConvergedWarning(
                f"Training stopped after {n_epochs} epochs, during the KL warm-up: the KL "
                f"weight reached {weight / beta:.0%} of beta, so the codes were not yet "
                f"pressed towards independent latents. Train at least {kl_warmup[1]:g} "
                "epochs (max_epochs) plus a few more, or shorten kl_warmup."
            )
        )
        return found
    # Epochs whose objective rose or fell with the KL weight tell nothing.
    settled = [e for e in range(n_epochs) if e >= kl_warmup[1] or beta == 0]
    if len(settled) <= _SLOPE_EPOCHS:
        return found
    last = np.asarray(losses, dtype=float)[settled][-(_SLOPE_EPOCHS + 1) :]
    if not np.all(np.isfinite(last)) or last[0] <= 0 or last[-1] <= 0:
        return found
    fall = 1.0 - (last[-1] / last[0]) ** (1.0 / _SLOPE_EPOCHS)  # per epoch, compounded
    if fall > STEEP_FALL:
        found.append(
            TrainingNotConvergedWarning(
                f"The objective was still falling by {fall:.1%} per epoch over the last "
                f"{_SLOPE_EPOCHS} epochs when max_epochs={n_epochs} ended training: more "
                "epochs (or warm_start=True and fit again) would improve the model."
            )
        )
    return found


def _times(network: float, pca: float) -> str:
    return f", {network / pca:.2f} times" if pca > 0 else ""
