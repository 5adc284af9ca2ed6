"""Virtual Doppler shifts of spectra on their own wavelength grid, and pairs made from them.

A spectrum and a copy of it shifted by a known velocity differ in exactly
one physical factor, the radial velocity, and need no label to make. Pair
training (see :func:`combine_posteriors`) uses such pairs so that one latent
carries the velocity and the others do not change with it.
"""

from __future__ import annotations

import torch

from .._constants import C_KMS
from ._loss import kl_per_latent


def doppler_shift(
    x: torch.Tensor,
    velocity: torch.Tensor,
    log_wavelength: torch.Tensor,
    *,
    pixel_weight: torch.Tensor | None = None,
    ivar: torch.Tensor | None = None,
    fill: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Spectra as a source moving away at ``velocity`` would show them, on the same grid.

    A line at rest wavelength ``lam`` is seen at ``lam * (1 + v / c)``, a
    shift of ``ln(1 + v / c)`` in log-wavelength, as in
    :func:`~skspecrep.datasets.make_stellar_spectra`. Each output pixel reads
    the input at its wavelength divided by ``1 + v / c``, interpolated
    linearly between the two neighbouring input pixels, so the shift is
    exact to a fraction of a pixel on any increasing grid: uniform in
    log-wavelength, uniform in wavelength, or neither.

    Parameters
    ----------
    x : tensor of shape (batch, n_pixels)
        Spectra.
    velocity : tensor of shape (batch,)
        Velocity of each spectrum's shift in km/s; positive is a redshift.
    log_wavelength : tensor of shape (n_pixels,)
        Natural log of each pixel's wavelength, strictly increasing.
    pixel_weight : tensor of shape (n_pixels,), default=None
        Pixels where this is 0 (pads, CCD gaps) are not read: an output pixel
        that would read one is invalid.
    ivar : tensor of shape (batch, n_pixels), default=None
        Inverse variances of ``x``, shifted as the variance of the
        interpolated value (pixels of zero inverse variance are not read).
    fill : float or tensor of shape (n_pixels,), default=0.0
        Value of invalid output pixels: those whose source lies outside the
        grid or touches a pixel that is not read.

    Returns
    -------
    shifted : tensor of shape (batch, n_pixels)
    valid : bool tensor of shape (batch, n_pixels)
        Output pixels read from valid input pixels.
    shifted_ivar : tensor of shape (batch, n_pixels) or None
        Inverse variances of ``shifted`` (0 at invalid pixels) when ``ivar``
        is given.

    Examples
    --------
    >>> import math, torch
    >>> log_wave = torch.linspace(math.log(5000.0), math.log(5010.0), 1001, dtype=torch.float64)
    >>> x = torch.exp(-0.5 * ((log_wave.exp() - 5005.0) / 0.05) ** 2)[None]
    >>> shifted, valid, _ = doppler_shift(x, torch.tensor([29.9792458]), log_wave)
    >>> peak = log_wave.exp()[shifted.argmax()].item()
    >>> round(peak - 5005.0, 2)  # v / c = 1e-4 moves a line at 5005 A by 0.50 A
    0.5
    """
    n = log_wavelength.shape[0]
    grid = log_wavelength.to(torch.float64)
    log_shift = torch.log1p(velocity.to(torch.float64) / C_KMS)[:, None]
    step = _uniform_step(grid)
    if step is None:
        source = grid[None, :] - log_shift
        left = (torch.searchsorted(grid, source, right=True) - 1).clamp(0, n - 2)
        right = left + 1
        frac = ((source - grid[left]) / (grid[left + 1] - grid[left])).to(x.dtype)
        inside = (source >= grid[0]) & (source <= grid[-1])
    else:
        # On a uniform grid every pixel of a spectrum reads the pixel a
        # whole number of pixels away plus one shared fraction: no search
        # (which took half of a dense decoder's time at 4 sub-pixels per
        # pixel) and no float64 position per pixel (benchmarks/
        # bench_training_step.py).
        # Clamped so that an absurd velocity still makes a valid index.
        move = (-log_shift / step).clamp(-n - 1, n + 1)
        # Shifts by a whole number of pixels, which arrive a rounding error
        # below it, read whole pixels.
        whole = (move + 1e-9).floor()
        frac = (move - whole).clamp(min=0).to(x.dtype)
        index = torch.arange(n, device=grid.device) + whole.long()
        # A source exactly on the last pixel (no shift at all) is inside.
        inside = (index >= 0) & ((index < n - 1) | ((index == n - 1) & (frac == 0)))
        left = index.clamp(0, n - 1)
        right = (left + 1).clamp(max=n - 1)
    x_left, x_right = x.gather(1, left), x.gather(1, right)
    valid = inside
    if pixel_weight is not None:
        readable = pixel_weight > 0
        valid = valid & readable[left] & readable[right]
    shifted_ivar = None
    if ivar is not None:
        w_left, w_right = ivar.gather(1, left), ivar.gather(1, right)
        valid = valid & (w_left > 0) & (w_right > 0)
        variance = (1 - frac) ** 2 / w_left + frac**2 / w_right
        shifted_ivar = torch.where(valid, 1.0 / variance, torch.zeros((), dtype=ivar.dtype))
    # torch.where, not a product with the mask: masked input pixels may hold
    # anything, NaN included.
    value = torch.lerp(x_left, x_right, frac)
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device).expand_as(value)
    return torch.where(valid, value, fill), valid, shifted_ivar


def _uniform_step(grid: torch.Tensor) -> float | None:
    """The spacing of ``grid`` if every point is within 1e-6 pixel of a uniform grid, else None."""
    n = grid.shape[0]
    step = (grid[-1] - grid[0]).item() / (n - 1)
    uniform = grid[0] + step * torch.arange(n, dtype=grid.dtype, device=grid.device)
    if step > 0 and torch.all((grid - uniform).abs() <= 1e-6 * step):
        return step
    return None


def velocity_scale(velocity_range: tuple[float, float]) -> float:
    """Velocity (km/s) of one unit of the velocity latent: the range's largest |v|."""
    return float(max(abs(v) for v in velocity_range))


def combine_posteriors(
    mu1: torch.Tensor,
    log_var1: torch.Tensor,
    mu2: torch.Tensor,
    log_var2: torch.Tensor,
    offset: torch.Tensor,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Posteriors of a spectrum and its shifted copy: one code, latent 0 moved by the shift.

    Latent 0 is the velocity latent: the two views' means of it are made to
    differ by exactly ``offset`` (the virtual shift in velocity units), both
    becoming the average of ``mu1`` and ``mu2 - offset``, plus ``offset`` for
    the second view. Every other latent is shared: the average of the two
    views' means and of their variances, as in Ada-GVAE (Locatello et al.
    2020). Both views are then decoded from samples of these posteriors, so
    a shared latent can hold only what a Doppler shift does not change, and
    latent 0 must hold the shift.

    Parameters
    ----------
    mu1, log_var1, mu2, log_var2 : tensors of shape (batch, n_components)
        Posterior means and log-variances of the two views.
    offset : tensor of shape (batch,)
        Shift of the second view in velocity units.

    Returns
    -------
    (mu1, log_var1), (mu2, log_var2)
        The combined posteriors.
    """
    shift = torch.zeros_like(mu2)
    shift[:, 0] = offset.to(mu2.dtype)
    shared_mu = 0.5 * (mu1 + mu2 - shift)
    shared_log_var = torch.log(0.5 * (log_var1.exp() + log_var2.exp()))
    return (shared_mu, shared_log_var), (shared_mu + shift, shared_log_var)


def pair_objective(
    module,
    criterion,
    x: torch.Tensor,
    velocity: torch.Tensor,
    log_wavelength: torch.Tensor,
    *,
    velocity_scale: float,
    weight: float,
    ivar: torch.Tensor | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Beta-VAE objective of each spectrum trained as a pair with its shifted copy.

    The copy is ``x`` Doppler-shifted by ``velocity``. Both views go through
    ``module`` in one batch, which combines their posteriors (see
    :func:`combine_posteriors`) and decodes each view from a sample of its
    combined posterior; a spectrum's objective is the mean over its two
    views of the masked reconstruction error plus ``weight`` times the
    summed KL from the prior. Pixels of the copy that the shift moved in
    from outside the grid or from masked pixels are left out of its error,
    and filled with the module's ``offset`` (the mean spectrum) before
    encoding, so that the encoder sees them as it sees masked pixels.

    Parameters
    ----------
    module : ConvVAE, or a wrapper that forwards to one (DDP)
        The network, in training mode.
    criterion : BetaVAELoss
        Its loss.
    x : tensor of shape (batch, n_pixels)
        Spectra.
    velocity : tensor of shape (batch,)
        Virtual radial velocity of each copy, km/s.
    log_wavelength : tensor of shape (n_pixels,)
        Natural log of the pixels' wavelengths.
    velocity_scale : float
        Velocity (km/s) of one unit of the velocity latent.
    weight : float
        Weight of the KL term.
    ivar : tensor of shape (batch, n_pixels), default=None
        Inverse variances, for ``reconstruction="chi2"``.

    Returns
    -------
    objective : tensor of shape (batch,)
    y_pred : tuple of tensors
        Reconstruction, combined posterior mean and log-variance of the
        unshifted view.
    """
    offset_spectrum = getattr(module, "module", module).offset
    shifted, valid, shifted_ivar = doppler_shift(
        x, velocity, log_wavelength,
        pixel_weight=criterion.pixel_weight, ivar=ivar, fill=offset_spectrum,
    )  # fmt: skip
    n = x.shape[0]
    # The velocity of a shift is additive in c ln(1 + v / c), not in v.
    offset = C_KMS * torch.log1p(velocity.to(torch.float64) / C_KMS) / velocity_scale
    x_hat, mu, log_var = module(torch.cat([x, shifted]), pair_offset=offset)
    rec = criterion.reconstruction_error(
        torch.cat([x, shifted]),
        x_hat,
        None if ivar is None else torch.cat([ivar, shifted_ivar]),
        valid=torch.cat([torch.ones_like(valid), valid]),
    )
    per_view = rec + weight * kl_per_latent(mu, log_var).sum(dim=1)
    objective = 0.5 * (per_view[:n] + per_view[n:])
    return objective, (x_hat[:n], mu[:n], log_var[:n])
