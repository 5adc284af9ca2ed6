"""PyTorch building blocks of skspecrep.

This subpackage depends on torch alone: it knows nothing of scikit-learn or
skorch, so the networks can be reused in a plain PyTorch training loop.
"""

from ._architectures import (
    SEDAGHAT2021_N_FEATURES,
    ConvSpec,
    auto_spec,
    dense_spec,
    sedaghat2021_spec,
)
from ._doppler import (
    C_KMS,
    combine_posteriors,
    doppler_shift,
    pair_objective,
    velocity_scale,
)
from ._loss import BetaVAELoss, decorrelation_penalty, kl_per_latent, kl_weight, label_penalty
from ._vae import DENSE_WEIGHT_DECAY, ConvVAE

__all__ = [
    "C_KMS",
    "combine_posteriors",
    "doppler_shift",
    "pair_objective",
    "velocity_scale",
    "SEDAGHAT2021_N_FEATURES",
    "BetaVAELoss",
    "ConvSpec",
    "ConvVAE",
    "DENSE_WEIGHT_DECAY",
    "auto_spec",
    "dense_spec",
    "decorrelation_penalty",
    "kl_per_latent",
    "kl_weight",
    "label_penalty",
    "sedaghat2021_spec",
]
