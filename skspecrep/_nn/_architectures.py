"""Encoder layer tables: the paper's network, an automatic one, user specs.

An architecture is a table of 1-D convolution layers for the encoder; the
decoder mirrors it (see :class:`~skspecrep._nn.ConvVAE`). Keeping the table
separate from the module lets the estimator validate it before building any
tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: Pixels of the paper's padded HARPS grid: 312,501 native pixels zero-padded
#: to 2**14 * 20, so 14 stride-2 layers leave a length of 20.
SEDAGHAT2021_N_FEATURES = 327_680


@dataclass(frozen=True)
class ConvSpec:
    """Encoder convolution table.

    Parameters
    ----------
    channels : tuple of int
        Output channels of each encoder layer.
    kernel_sizes : tuple of int
        Odd kernel size of each layer (odd sizes keep "same" padding exact).
    strides : tuple of int
        Stride of each layer.
    """

    channels: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    strides: tuple[int, ...]

    def __post_init__(self):
        lengths = {len(self.channels), len(self.kernel_sizes), len(self.strides)}
        if len(lengths) != 1:
            raise ValueError(
                "channels, kernel_sizes and strides must have the same length; "
                f"got {len(self.channels)}, {len(self.kernel_sizes)} and "
                f"{len(self.strides)}."
            )
        if not self.channels:
            raise ValueError("An architecture needs at least one layer.")
        for name in ("channels", "kernel_sizes", "strides"):
            values = getattr(self, name)
            if any(isinstance(v, bool) or int(v) != v or v < 1 for v in values):
                raise ValueError(f"{name} must be positive integers; got {values}.")
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(
                f"kernel_sizes must be odd so that padding keeps lengths exact; "
                f"got {self.kernel_sizes}."
            )

    @property
    def total_stride(self) -> int:
        """Factor by which the encoder shortens a spectrum."""
        return math.prod(self.strides)

    @classmethod
    def from_mapping(cls, spec: Mapping) -> ConvSpec:
        """Build a table from a user's dict with the three keys."""
        keys = {"channels", "kernel_sizes", "strides"}
        missing = keys - set(spec)
        extra = set(spec) - keys
        if missing or extra:
            raise ValueError(
                "An architecture dict needs exactly the keys 'channels', "
                f"'kernel_sizes' and 'strides'; missing {sorted(missing)}, "
                f"unexpected {sorted(extra)}."
            )
        return cls(**{k: tuple(int(v) for v in spec[k]) for k in keys})

    def to_dict(self) -> dict:
        return {
            "channels": list(self.channels),
            "kernel_sizes": list(self.kernel_sizes),
            "strides": list(self.strides),
        }


def sedaghat2021_spec() -> ConvSpec:
    """The encoder of Sedaghat et al. (2021), layer for layer."""
    return ConvSpec(
        channels=(16, 16, 16, 32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 512, 512),
        kernel_sizes=(7, 5, 5) + (3,) * 12,
        strides=(2,) * 14 + (1,),
    )


def auto_spec(n_features: int, *, max_channels: int = 256) -> ConvSpec:
    """An encoder sized from the number of pixels.

    Follows the paper's pattern (kernels 7, 5, 5 then 3; channels doubling
    every third layer from 16; a final stride-1 layer) with as many stride-2
    layers as leave a code length of at most 32, capped at the paper's 14.
    A single pixel gets one stride-1 layer. Channels stop growing at
    ``max_channels`` so that small inputs keep small networks.
    """
    if n_features < 1:
        raise ValueError(f"n_features must be at least 1; got {n_features}.")
    n_down = min(14, max(0, math.ceil(math.log2(n_features / 32))))
    n_layers = n_down + 1
    channels = tuple(min(max_channels, 16 * 2 ** (i // 3)) for i in range(n_layers))
    kernels = tuple((7, 5, 5)[i] if i < 3 else 3 for i in range(n_layers))
    strides = (2,) * n_down + (1,)
    return ConvSpec(channels=channels, kernel_sizes=kernels, strides=strides)
