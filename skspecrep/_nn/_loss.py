"""The beta-VAE objective: masked reconstruction error plus weighted KL."""

from __future__ import annotations

import torch
from torch import nn

RECONSTRUCTION_LOSSES = ("l1", "mse", "chi2")


def kl_per_latent(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL divergence (nats) of each latent's posterior from N(0, 1).

    Returns a ``(batch, n_components)`` tensor.
    """
    return -0.5 * (1.0 + log_var - mu.pow(2) - log_var.exp())


def kl_weight(epoch: float, beta: float, warmup: tuple[float, float]) -> float:
    """KL weight after ``epoch`` (fractional) epochs of a linear warm-up.

    The weight is 0 until ``warmup[0]`` epochs, rises linearly to ``beta`` at
    ``warmup[1]`` epochs and stays there. Equal ends give a step.
    """
    start, end = warmup
    if epoch >= end:
        return beta
    if epoch < start:
        return 0.0
    return beta * (epoch - start) / (end - start)


def decorrelation_penalty(mu: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """Sum of the squared correlations between different latents' posterior means.

    Computed over the batch, a DIP-VAE-I-style penalty on correlations
    rather than covariances, so that it does not depend on the latents'
    scales. ``eps`` is added to each variance, so that a collapsed latent
    (nearly constant mean) correlates with nothing. Zero for fewer than 3
    spectra.
    """
    if mu.shape[0] < 3:
        return mu.new_zeros(())
    centred = mu.float() - mu.float().mean(dim=0)
    cov = centred.T @ centred / (mu.shape[0] - 1)
    scale = torch.sqrt(torch.diagonal(cov) + eps)
    corr = cov / (scale[:, None] * scale[None, :])
    return corr.pow(2).sum() - torch.diagonal(corr).pow(2).sum()


def label_penalty(
    mu: torch.Tensor, targets: torch.Tensor, latents: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Squared distance of labelled latents' posterior means from their labels.

    Parameters
    ----------
    mu : tensor of shape (batch, n_components)
        Posterior means.
    targets : tensor of shape (batch, n_labels)
        Standardised labels; NaN where a spectrum's label is unknown, which
        adds nothing.
    latents : tensor of int of shape (n_labels,)
        The latent tied to each label.
    weights : tensor of shape (n_labels,)
        Weight of each label's term (training passes the inverse of the
        number of the batch's spectra that know the label, so that the sum
        over the batch is the mean over those spectra).

    Returns
    -------
    penalty : tensor of shape (batch,)
        Each spectrum's weighted sum over its known labels.
    """
    known = ~torch.isnan(targets)
    error = torch.where(known, mu[:, latents].float() - targets, torch.zeros((), device=mu.device))
    return (error.pow(2) * weights).sum(dim=1)


class BetaVAELoss(nn.Module):
    """Masked reconstruction error per pixel plus ``weight`` times the summed KL.

    Parameters
    ----------
    reconstruction : {"l1", "mse", "chi2"}
        ``"l1"``: mean absolute error (the paper's choice); ``"mse"``: mean
        squared error; ``"chi2"``: squared error weighted by each pixel's
        inverse variance, i.e. the mean chi-square per pixel.
    pixel_weight : tensor of shape (n_features,)
        Non-negative weight of each pixel; zero-weight pixels (pads, CCD gaps,
        bad columns) cannot change the loss. The error of a spectrum is the
        weighted mean over pixels.
    """

    def __init__(self, reconstruction: str, pixel_weight: torch.Tensor):
        super().__init__()
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"reconstruction must be one of {RECONSTRUCTION_LOSSES}; got {reconstruction!r}."
            )
        self.reconstruction = reconstruction
        weight = torch.as_tensor(pixel_weight, dtype=torch.float32)
        self.register_buffer("pixel_weight", weight)
        self.register_buffer("weight_sum", weight.sum())

    def reconstruction_error(
        self,
        x: torch.Tensor,
        x_hat: torch.Tensor,
        ivar: torch.Tensor | None = None,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weighted mean error of each spectrum, shape ``(batch,)``.

        ``valid``, a boolean ``(batch, n_features)`` tensor, drops further
        pixels of each spectrum (the edges of a Doppler-shifted copy); the
        mean is still taken over all weighted pixels, so that spectra with
        and without dropped pixels weigh alike.
        """
        # Zero-weight pixels are removed with where(), not only multiplied by
        # zero, so that NaN or inf in masked pixels cannot leak into the loss.
        keep = self.pixel_weight > 0
        if valid is not None:
            keep = keep & valid
        residual = torch.where(keep, x - x_hat, torch.zeros((), device=x.device))
        if self.reconstruction == "l1":
            err = residual.abs()
        else:
            err = residual.pow(2)
            if self.reconstruction == "chi2":
                err = err * torch.where(keep, ivar, torch.zeros((), device=x.device))
        return (err * self.pixel_weight).sum(dim=1) / self.weight_sum

    def per_sample(self, y_pred, x, ivar=None, weight: float = 1.0) -> torch.Tensor:
        """Objective of each spectrum, shape ``(batch,)``."""
        x_hat, mu, log_var = y_pred
        rec = self.reconstruction_error(x, x_hat, ivar)
        return rec + weight * kl_per_latent(mu, log_var).sum(dim=1)

    def forward(self, y_pred, x, ivar=None, weight: float = 1.0) -> torch.Tensor:
        return self.per_sample(y_pred, x, ivar, weight).mean()
