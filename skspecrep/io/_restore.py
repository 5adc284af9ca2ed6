"""A fitted autoencoder rebuilt from saved weights: what every model reader shares."""

from __future__ import annotations

from collections.abc import Mapping

from .._autoencoder import SpectralAutoencoder
from .._training import restore_net


def fitted_autoencoder(params: Mapping, module_state: Mapping, history: list, fitted: Mapping):
    """A fitted ``SpectralAutoencoder`` from its parameters, weights and fitted attributes.

    Parameters
    ----------
    params : mapping
        Constructor parameters.
    module_state : mapping of str to tensor
        The network's ``state_dict`` (weights and buffers).
    history : list of dict
        The training history (may be empty).
    fitted : mapping
        Every fitted attribute but ``net_``, as ``vars(estimator)`` holds them.

    Returns
    -------
    estimator : SpectralAutoencoder
    """
    estimator = SpectralAutoencoder(**params)
    build = estimator.get_params(deep=False)
    table = fitted.get("architecture_")
    if isinstance(table, Mapping) and table.get("decoder") == "dense":
        # The layer table it was trained with: a "dense" decoder's sub-pixels
        # per pixel follow the pixel count by a rule that has changed
        # (MAX_SUBPIXELS), and files written before must still load.
        build = {**build, "architecture": dict(table)}
    net = restore_net(build, module_state, history)
    estimator.__setstate__({**fitted, "net_": net})
    return estimator
