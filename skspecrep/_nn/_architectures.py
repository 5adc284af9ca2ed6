"""Network tables: the paper's network, an automatic one, user specs.

An architecture is a table of 1-D convolution layers for the encoder and the
kind of decoder: ``"conv"`` mirrors the encoder with transposed convolutions
(the paper's), ``"dense"`` draws every pixel from fully connected layers (see
:class:`~skspecrep._nn.ConvVAE`). Keeping the table separate from the module
lets the estimator validate it before building any tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: Decoder kinds: transposed convolutions mirroring the encoder, or dense layers.
DECODERS = ("conv", "dense")

#: Sub-pixels the dense decoder of :func:`dense_spec` draws per spectrum, at most,
#: before it draws fewer per pixel. On real HARPS stars
#: (``benchmarks/real_spectra.py``) every run that drew 25,796 sub-pixels or
#: fewer beat PCA and found the velocity, and every run that drew 38,624 or
#: more learned less than PCA, whatever the pixels' width (12,898 pixels at 5
#: km/s failed with 4 sub-pixels a pixel and worked with 2). Why the count
#: matters is not understood.
MAX_SUBPIXELS = 25_800

#: Most outputs of the dense decoder's last layer (2**18: 67 M weights from 256
#: hidden units). Below it, 2 sub-pixels a pixel are kept even past
#: :data:`MAX_SUBPIXELS`: on the whole HARPS range (17,884 pixels) 2 gave the
#: same error as 4 and 1, velocities closer to one frame (|rho| .91 over three
#: stars, against .66-.75 and .51), in half the time of 4.
MAX_OUTPUTS = 2**18

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
    decoder : {"conv", "dense"}, default="conv"
        ``"conv"``: transposed convolutions mirroring the encoder.
        ``"dense"``: fully connected layers from the code to every pixel.
    oversample : int, default=1
        With a velocity latent, a ``"dense"`` decoder draws the rest-frame
        spectrum at this many sub-pixels per pixel, shifts it there and
        averages it back onto the pixels, as a detector integrates a
        shifted spectrum. Ignored otherwise.
    """

    channels: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    strides: tuple[int, ...]
    decoder: str = "conv"
    oversample: int = 1

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
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}; got {self.decoder!r}.")
        if isinstance(self.oversample, bool) or int(self.oversample) != self.oversample or (
            self.oversample < 1
        ):
            raise ValueError(f"oversample must be a positive integer; got {self.oversample!r}.")
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
        """Build a table from a user's dict: the three layer keys, optionally the decoder's.

        A dict without ``decoder`` describes the transposed-convolution
        decoder (as every architecture did before the dense one existed).
        """
        keys = {"channels", "kernel_sizes", "strides"}
        optional = {"decoder", "oversample"}
        missing = keys - set(spec)
        extra = set(spec) - keys - optional
        if missing or extra:
            raise ValueError(
                "An architecture dict needs the keys 'channels', 'kernel_sizes' and "
                "'strides' (and may have 'decoder' and 'oversample'); missing "
                f"{sorted(missing)}, unexpected {sorted(extra)}."
            )
        layers = {k: tuple(int(v) for v in spec[k]) for k in keys}
        return cls(**layers, **{k: spec[k] for k in optional if k in spec})

    def to_dict(self) -> dict:
        """The table as plain values; a conv decoder's dict keeps the three layer keys only.

        So that checkpoints and model files written before the dense decoder
        existed describe the same network as they did.
        """
        table = {
            "channels": list(self.channels),
            "kernel_sizes": list(self.kernel_sizes),
            "strides": list(self.strides),
        }
        if self.decoder != "conv" or self.oversample != 1:
            table.update(decoder=self.decoder, oversample=int(self.oversample))
        return table


def sedaghat2021_spec() -> ConvSpec:
    """The encoder of Sedaghat et al. (2021), layer for layer."""
    return ConvSpec(
        channels=(16, 16, 16, 32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 512, 512),
        kernel_sizes=(7, 5, 5) + (3,) * 12,
        strides=(2,) * 14 + (1,),
    )


def auto_spec(n_features: int, *, max_channels: int = 256) -> ConvSpec:
    """A network sized from the number of pixels, with the paper's kind of decoder.

    The encoder follows the paper's pattern (kernels 7, 5, 5 then 3;
    channels doubling every third layer from 16; a final stride-1 layer)
    with as many stride-2 layers as leave a code length of at most 32,
    capped at the paper's 14. A single pixel gets one stride-1 layer.
    Channels stop growing at ``max_channels`` so that small inputs keep
    small networks. The decoder mirrors it with transposed convolutions.
    """
    if n_features < 1:
        raise ValueError(f"n_features must be at least 1; got {n_features}.")
    n_down = min(14, max(0, math.ceil(math.log2(n_features / 32))))
    n_layers = n_down + 1
    channels = tuple(min(max_channels, 16 * 2 ** (i // 3)) for i in range(n_layers))
    kernels = tuple((7, 5, 5)[i] if i < 3 else 3 for i in range(n_layers))
    strides = (2,) * n_down + (1,)
    return ConvSpec(channels=channels, kernel_sizes=kernels, strides=strides)


def dense_spec(n_features: int, *, max_channels: int = 256) -> ConvSpec:
    """The encoder of :func:`auto_spec` with a dense decoder drawing sub-pixels.

    The dense decoder draws every pixel from fully connected layers, at 4
    sub-pixels per pixel when a velocity latent shifts its drawing. On real
    HARPS spectra (lines 1-3 pixels wide) the transposed-convolution
    decoder drew lines worse than PCA, and a shift interpolated between
    whole pixels blurs such lines (``benchmarks/real_spectra.py`` records
    both). Fewer sub-pixels are drawn past 6,450 pixels, so that the last
    layer stays within :data:`MAX_SUBPIXELS` outputs, past which it learned
    less than PCA; past 12,900 pixels 2, and 1 only past 131,072 pixels
    (:data:`MAX_OUTPUTS`).
    """
    encoder = auto_spec(n_features, max_channels=max_channels)
    fitting = MAX_SUBPIXELS // n_features
    oversample = min(4, max(fitting, 2 if 2 * n_features <= MAX_OUTPUTS else 1))
    return ConvSpec(
        channels=encoder.channels,
        kernel_sizes=encoder.kernel_sizes,
        strides=encoder.strides,
        decoder="dense",
        oversample=oversample,
    )
