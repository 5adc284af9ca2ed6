"""Look inside fitted models: one analysis of a run, latent traversals, seed stability.

:func:`analyse` computes what a report shows, once; :func:`latent_traversal`
shows what each latent does to a spectrum; :func:`seed_stability` which
latents survive another random seed; :func:`unusual_spectra` which spectra
do not fit, and why.
"""

from ._analysis import Analysis, analyse
from ._stability import REPRODUCED_RHO, seed_stability
from ._traversal import latent_traversal
from ._unusual import unusual_spectra

__all__ = [
    "REPRODUCED_RHO",
    "Analysis",
    "analyse",
    "latent_traversal",
    "seed_stability",
    "unusual_spectra",
]
