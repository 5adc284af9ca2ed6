"""What a finished run says about itself: did it learn anything, had it finished learning?"""

from __future__ import annotations

import numpy as np

from .._nn import kl_weight
from ..exceptions import PosteriorCollapseWarning, TrainingNotConvergedWarning

#: A latent whose mean KL from the prior is at most this (nats) carries no
#: information: the threshold of UDR (Duan et al. 2020).
ACTIVE_KL = 0.01

#: The objective still falls "steeply" when it fell by more than this
#: fraction per epoch, on average over the last epochs (``_SLOPE_EPOCHS``).
STEEP_FALL = 0.01
_SLOPE_EPOCHS = 3


def diagnose(
    component_kl: np.ndarray,
    losses: np.ndarray,
    *,
    beta: float,
    kl_warmup: tuple[float, float],
    stop_reason: str,
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
    """
    found = []
    if component_kl.size and not np.any(component_kl > ACTIVE_KL):
        found.append(
            PosteriorCollapseWarning(
                f"Every latent collapsed to the prior (the largest component_kl_ is "
                f"{component_kl.max():.3g} nats, at most {ACTIVE_KL}): the codes carry no "
                "information and the model reconstructs only the mean spectrum. Try a "
                f"smaller beta (now {beta:g}; e.g. {beta / 10:g}), more epochs, a later or "
                "longer kl_warmup, or more spectra."
            )
        )
    if stop_reason != "max_epochs":
        return found
    n_epochs = len(losses)
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
