"""The 1-D convolutional variational autoencoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .._constants import C_KMS
from ._architectures import ConvSpec
from ._doppler import combine_posteriors, doppler_shift

#: Hidden widths of the dense decoder, from the code to the pixels. On the
#: real-spectra benchmark (``benchmarks/real_spectra.py``) 1,024 units in the
#: last hidden layer drew no better than 256 and cost 40 % more time.
DENSE_HIDDEN = (64, 256)

#: Decoupled weight decay of the dense decoder's weights (per unit learning
#: rate, as in AdamW). Pair training fixes only velocity differences: a
#: decoder free to draw each star a few km/s off its frame moves that star's
#: velocities by as much, so velocities of different stars disagree in zero
#: point. Decay keeps each drawing near the mean spectrum, which the velocity
#: latent shifts, and so in one frame. On the real-spectra benchmark
#: (``benchmarks/real_spectra.py``, 300 spectra, 3 seeds) it took the worst
#: velocity |rho| over all stars from .971 to .99x; decay of every weight
#: did as much but lost a third of the reconstruction's gain over PCA.
DENSE_WEIGHT_DECAY = 1.0


def _transpose_geometry(stride: int) -> tuple[int, int]:
    """Kernel and padding of a transposed convolution that multiplies length by stride.

    Stride 1 gives kernel 3, padding 1 and stride 2 gives kernel 4, padding 1:
    the two layer types of the paper's decoder.
    """
    if stride == 1:
        return 3, 1
    if stride % 2 == 0:
        return 2 * stride, stride // 2
    return stride, 0


def _single_channel_conv(h: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv(h)`` for a one-channel, stride-1 ``Conv1d``, as shifted multiply-adds.

    On CPU, PyTorch's convolution kernels spend about 25 times longer on this
    layer (a three-tap filter over the full-length spectrum) than the few
    passes over memory that it needs: forward and backward took about a fifth
    of a training step of the paper's network. Keeping ``conv`` as the
    parameter holder leaves state dicts unchanged.
    """
    (k,), (p,) = conv.kernel_size, conv.padding
    w = conv.weight.view(k)
    padded = F.pad(h, (p, p))
    n = h.shape[-1] + 2 * p - k + 1
    out = padded[..., :n] * w[0] + conv.bias
    for t in range(1, k):
        out = torch.addcmul(out, padded[..., t : t + n], w[t])
    return out


class ConvVAE(nn.Module):
    """Convolutional encoder-decoder with a Gaussian bottleneck.

    The encoder is a stack of ``Conv1d`` + ``LeakyReLU`` layers given by
    ``spec``; its output is flattened into two linear heads, the posterior mean
    and log-variance. With ``spec.decoder == "conv"`` the decoder mirrors the
    encoder: a linear layer back to the encoder's output shape, one
    ``ConvTranspose1d`` + ``LeakyReLU`` per encoder layer in reverse order
    (kernel 3 for stride 1, kernel 4 for stride 2, as in Sedaghat et al.
    2021), then a linear ``Conv1d(1, 1, 3)``. With ``"dense"`` it is
    ``Linear`` + ``LeakyReLU`` layers of :data:`DENSE_HIDDEN` units and a
    ``Linear`` layer to every pixel, as spender's decoder, which can put a
    line of any shape at any pixel (transposed convolutions share their
    weights along the spectrum, and draw real spectra's narrow lines worse
    than PCA).

    Spectra whose length is not a multiple of the total stride are zero-padded
    on the right inside :meth:`encode` and the reconstruction is cropped back,
    so callers always see ``n_features`` pixels.

    Parameters
    ----------
    n_features : int
        Pixels per spectrum.
    n_components : int
        Width of the bottleneck.
    spec : ConvSpec
        Encoder layer table.
    negative_slope : float, default=0.1
        Slope of the LeakyReLU activations.
    pixel_mask : tensor of shape (n_features,), default=None
        Pixels where this is 0 are set to 0 before encoding, so that masked
        pixels (pads, CCD gaps, bad columns) cannot change the code.
    offset : tensor of shape (n_features,), default=None
        Spectrum subtracted before encoding and added back after decoding
        (the training mean, as PCA centres its input), so that the network
        spends its capacity on how spectra differ rather than on the
        continuum level they share. None means zeros.
    scale : float, default=1.0
        Typical size of a spectrum's difference from ``offset``. Inputs are
        divided by it and outputs multiplied by it, so that the network
        works with values of order one whatever the flux units; one scalar
        for all pixels keeps their relative sizes (and noise) intact.
    log_wavelength : tensor of shape (n_features,), default=None
        Natural log of each pixel's wavelength. When given, latent 0 is a
        velocity: the decoder renders the other latents as a spectrum and
        Doppler-shifts it on this grid by ``velocity_scale`` km/s per unit
        of latent 0 (:func:`~._doppler.doppler_shift`), as spender's decoder
        redshifts its rest-frame spectrum. Radial velocity then has one
        latent, exactly linear, and the decoder never has to learn to move
        lines. A dense decoder draws ``spec.oversample`` sub-pixels per
        pixel, shifted and then averaged onto the pixels: lines one or two
        pixels wide lose depth when shifted by interpolating between whole
        pixels, depending on the fraction of a pixel moved, which no single
        drawing could make up for.
    velocity_scale : float, default=None
        Km/s per unit of latent 0 (in ``c ln(1 + v / c)``, in which shifts
        add); required with ``log_wavelength``.
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        spec: ConvSpec,
        negative_slope: float = 0.1,
        pixel_mask: torch.Tensor | None = None,
        offset: torch.Tensor | None = None,
        scale: float = 1.0,
        log_wavelength: torch.Tensor | None = None,
        velocity_scale: float | None = None,
    ):
        super().__init__()
        if log_wavelength is None:
            self.log_wavelength = None
        else:
            if velocity_scale is None or not velocity_scale > 0:
                raise ValueError("A velocity latent needs a positive velocity_scale.")
            log_wavelength = torch.as_tensor(log_wavelength, dtype=torch.float64)
            if log_wavelength.shape != (n_features,):
                raise ValueError(
                    f"log_wavelength has shape {tuple(log_wavelength.shape)}; "
                    f"expected ({n_features},)."
                )
            self.register_buffer("log_wavelength", log_wavelength)
        self.velocity_scale = None if velocity_scale is None else float(velocity_scale)
        if offset is None:
            offset = torch.zeros(n_features)
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(float(scale)))
        if pixel_mask is None:
            self.input_mask = None
        else:
            self.register_buffer("input_mask", (torch.as_tensor(pixel_mask) != 0).to(torch.float32))
        self.n_features = int(n_features)
        self.n_components = int(n_components)
        self.spec = spec
        self.negative_slope = float(negative_slope)
        total = spec.total_stride
        self.padded_length = -(-self.n_features // total) * total
        self.code_length = self.padded_length // total
        self.code_channels = spec.channels[-1]
        flat = self.code_channels * self.code_length

        in_channels = (1,) + spec.channels[:-1]
        self.encoder = nn.ModuleList(
            nn.Conv1d(c_in, c_out, k, stride=s, padding=(k - 1) // 2)
            for c_in, c_out, k, s in zip(
                in_channels, spec.channels, spec.kernel_sizes, spec.strides
            )
        )
        self.fc_mu = nn.Linear(flat, self.n_components)
        self.fc_log_var = nn.Linear(flat, self.n_components)

        self.oversample = 1
        if spec.decoder == "dense":
            if self.log_wavelength is not None:
                self.oversample = int(spec.oversample)
            widths = (self.n_components, *DENSE_HIDDEN)
            dense = []
            for w_in, w_out in zip(widths[:-1], widths[1:]):
                dense += [nn.Linear(w_in, w_out), nn.LeakyReLU(self.negative_slope)]
            dense.append(nn.Linear(widths[-1], self.n_features * self.oversample))
            self.dense = nn.Sequential(*dense)
        else:
            self.fc_decode = nn.Linear(self.n_components, flat)
            layers = []
            for c_in, c_out, s in reversed(list(zip(in_channels, spec.channels, spec.strides))):
                k, p = _transpose_geometry(s)
                layers.append(nn.ConvTranspose1d(c_out, c_in, k, stride=s, padding=p))
            self.decoder = nn.ModuleList(layers)
            self.output_conv = nn.Conv1d(1, 1, 3, padding=1)
        if self.oversample > 1:
            # Sub-pixel j of pixel i sits at its share of the pixel's width,
            # the half-way points to the neighbours on any increasing grid.
            (width,) = torch.gradient(self.log_wavelength)
            place = (torch.arange(self.oversample, dtype=torch.float64) + 0.5) / self.oversample
            fine = self.log_wavelength[:, None] + (place - 0.5)[None, :] * width[:, None]
            # Derived from log_wavelength, so left out of state dicts.
            self.register_buffer("fine_log_wavelength", fine.reshape(-1), persistent=False)

    def activation_bytes(self) -> int:
        """Bytes of the largest float32 activation of one spectrum.

        Inference splits data into chunks whose activations fit in the CPU
        cache, which is several times faster than large batches.
        """
        length, largest = self.padded_length, self.padded_length
        for c, s in zip(self.spec.channels, self.spec.strides):
            length //= s
            largest = max(largest, c * length)
        if self.spec.decoder == "dense":
            largest = max(largest, self.n_features * self.oversample)
        return 4 * largest

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder convolutions on a batch of spectra, flattened."""
        pad = self.padded_length - self.n_features
        x = (x - self.offset) / self.scale
        if self.input_mask is not None:
            x = x * self.input_mask
        h = x.unsqueeze(1)
        if pad:
            h = F.pad(h, (0, pad))
        for conv in self.encoder:
            h = F.leaky_relu(conv(h), self.negative_slope, inplace=True)
        return h.flatten(1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each ``(batch, n_components)``."""
        h = self._features(x)
        return self.fc_mu(h), self.fc_log_var(h)

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean only: the code that ``transform`` returns."""
        return self.fc_mu(self._features(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructed spectra ``(batch, n_features)`` from codes."""
        if self.log_wavelength is None:
            return self._decode(z)
        # The spectrum is drawn from the other latents only, then moved.
        rest = self._decode(torch.cat([torch.zeros_like(z[:, :1]), z[:, 1:]], dim=1))
        # z0 * velocity_scale is c ln(1 + v / c), in which shifts add.
        log_shift = z[:, 0].to(torch.float64) * self.velocity_scale / C_KMS
        velocity = C_KMS * torch.expm1(log_shift)
        if self.oversample == 1:
            return doppler_shift(rest, velocity, self.log_wavelength, fill=self.offset)[0]
        fill = self.offset.repeat_interleave(self.oversample)
        shifted, _, _ = doppler_shift(rest, velocity, self.fine_log_wavelength, fill=fill)
        return shifted.view(z.shape[0], self.n_features, self.oversample).mean(dim=2)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """The drawing of codes: pixels, or sub-pixels when oversampled."""
        if self.spec.decoder == "dense":
            offset = self.offset
            if self.oversample > 1:
                offset = offset.repeat_interleave(self.oversample)
            return self.dense(z) * self.scale + offset
        h = self.fc_decode(z).view(-1, self.code_channels, 1, self.code_length)
        if h.device.type == "cpu":
            # PyTorch's CPU transposed convolutions run 2-4 times faster on
            # channels-last 2-D data than on 1-D data, which they compute in
            # the channels-first layout and then copy: decoding takes half
            # the time and a training step about a tenth less. (GPUs are
            # left to their own choice, unmeasured here.)
            h = h.contiguous(memory_format=torch.channels_last)
        for deconv in self.decoder:
            (s,), (p,) = deconv.stride, deconv.padding
            h = F.conv_transpose2d(
                h, deconv.weight.unsqueeze(2), deconv.bias, stride=(1, s), padding=(0, p)
            )
            h = F.leaky_relu(h, self.negative_slope, inplace=True)
        h = _single_channel_conv(h.squeeze(2), self.output_conv)
        return h[:, 0, : self.n_features] * self.scale + self.offset

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        pair_offset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, posterior mean and log-variance.

        In training mode the decoder sees a reparameterised sample
        ``mu + sigma * eps``; in evaluation mode it sees the mean, unless a
        ``generator`` is given, which draws ``eps`` reproducibly (used to
        estimate the ELBO on held-out data).

        With ``pair_offset``, the first half of ``x`` holds spectra and the
        second half their Doppler-shifted copies, shifted by ``pair_offset``
        velocity units; the two halves' posteriors are combined by
        :func:`~._doppler.combine_posteriors` before sampling, and the
        combined ones are returned. (Pairs go through ``forward`` so that
        wrappers such as DDP see the whole computation.)
        """
        mu, log_var = self.encode(x)
        if pair_offset is not None:
            n = x.shape[0] // 2
            first, second = combine_posteriors(
                mu[:n], log_var[:n], mu[n:], log_var[n:], pair_offset
            )
            mu, log_var = torch.cat([first[0], second[0]]), torch.cat([first[1], second[1]])
        z = mu
        if self.training or generator is not None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * log_var) * eps
        return self.decode(z), mu, log_var
