"""How typical a spectrum is of an archive, as a fitted autoencoder sees it.

A spectrum can be unusual in three ways that a trained autoencoder tells
apart, each one number per spectrum (a *part*):

``"reconstruction"``
    The log of the mean absolute residual (spectrum minus its drawing from
    the posterior mean code) in units of the typical residual at each pixel,
    ``residual_scale_``, or of the noise where it is known (``ivar`` with
    ``loss="chi2"``). A spectrum unlike any the network learned to draw (a
    wrong object, a bad continuum, another stellar type) is drawn badly
    everywhere.
``"peak"``
    The log of the largest absolute residual over the spectrum's own median
    absolute residual: a cosmic ray, an emission line or a strip
    of bad pixels changes a few pixels far more than the rest, at any
    signal-to-noise ratio. Its pixel says where.
``"latent"``
    How far the spectrum's code (the informative latents' posterior means)
    lies from the codes of training spectra, under a Gaussian mixture
    fitted to them (:func:`latent_distance`): a spectrum the network draws
    well but from an unusual combination of factors.

Each part is compared with its values on reference spectra that did not
train the network when there are some (the validation split): ``z = (part -
median) / spread``, the spread being 1.4826 times the median absolute
deviation, so that each part reads in typical spreads above the typical
value, and the score is ``-max(z)`` (higher is more typical, as
scikit-learn's ``score_samples``). Everything is computed a chunk of spectra
at a time, so on-disk archives are never loaded whole.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from . import _inference as inference
from ._constants import ACTIVE_KL
from ._rows import RowSource

#: The parts of the score, in the order of ``typicality_reference_``'s arrays.
PARTS = ("reconstruction", "peak", "latent")
#: Where "unusual" starts: a score below minus this, i.e. more than this many
#: typical spreads beyond the reference spectra in some part. The threshold
#: of ``SpectrumOutlierDetector(contamination="auto")`` and of the report's
#: count. On ``benchmarks/outliers.py`` it flagged 0-2.3 % of clean held-out
#: spectra.
AUTO_THRESHOLD = 5.0
#: Training spectra whose codes the latent density is fitted to, and whose
#: residuals set ``residual_scale_``, at most.
_DENSITY_ROWS = 2000
#: Reference spectra the parts are compared with, at most.
_REFERENCE_ROWS = 1000
#: Most Gaussian components of the latent density (chosen by BIC).
_MAX_MIXTURE = 6
#: 1.4826 times the median absolute deviation estimates a normal spread.
_MAD_TO_SIGMA = 1.4826


def _residual_units(module, x, ivar, pixel_scale):
    """Codes and the residuals in their units: noise (``ivar``) or ``pixel_scale``."""
    mu = module.encode_mean(x)
    residual = x - module.decode(mu)
    if ivar is not None:
        return mu, residual * torch.sqrt(ivar)
    return mu, residual / pixel_scale


def measure(
    net, pixel_weight, residual_scale, density, source: RowSource, ivar=None, rows=None
):
    """Each part and the pixel of the largest residual, for every row (or the sorted ``rows``).

    ``pixel_weight``, ``residual_scale`` and ``density`` are the estimator's
    ``pixel_weight_``, ``residual_scale_`` and ``latent_density_``.

    Returns
    -------
    parts : ndarray of shape (n_rows, 3)
        The parts, in the order of :data:`PARTS`.
    peak_pixel : ndarray of shape (n_rows,)
        Index of each spectrum's largest residual in its units.
    """
    device = net.device
    used = np.asarray(pixel_weight) > 0
    # Indexing copies the residuals: only done when some pixel is unused.
    used_index = None if used.all() else torch.from_numpy(np.flatnonzero(used)).to(device)
    used = None if used_index is None else torch.from_numpy(used).to(device)
    scale = torch.from_numpy(np.asarray(residual_scale, dtype=np.float32)).to(device)
    n = len(source) if rows is None else len(rows)
    parts = np.empty((n, len(PARTS)))
    peak_pixel = np.empty(n, dtype=np.int64)
    with inference.eval_mode(net.module_), torch.inference_mode():
        for block, x in inference.chunks(net, source, rows):
            w = None
            if ivar is not None:
                w = torch.from_numpy(ivar.read(block if rows is None else rows[block])).to(device)
            mu, u = _residual_units(net.module_, x, w, scale)
            size = u.abs() if used is None else u.abs()[:, used]
            if w is None:
                peak, where = size.max(dim=1)
                typical = size.median(dim=1).values.double().clamp_min(1e-12)
                mean = size.mean(dim=1, dtype=torch.float64)
            else:
                # Pixels of ivar 0 are unmeasured: left out, not counted as
                # residuals of 0 (which would lower the median and the mean).
                ignored = (w == 0) if used is None else (w[:, used] == 0)
                size = size.masked_fill(ignored, float("nan"))
                peak, where = size.nan_to_num(nan=-1.0).max(dim=1)
                typical = size.nanmedian(dim=1).values.double().clamp_min(1e-12)
                n_measured = (~ignored).sum(dim=1).clamp_min(1)
                mean = size.nansum(dim=1, dtype=torch.float64) / n_measured
            # Residual sizes compare as ratios (a spectrum at half the
            # signal-to-noise has twice the residual): their logs are
            # compared, which also tames their long upper tails.
            parts[block, 0] = torch.log(mean.clamp_min(1e-12)).cpu().numpy()
            parts[block, 1] = torch.log(peak.double().clamp_min(1e-12) / typical).cpu().numpy()
            parts[block, 2] = latent_distance(density, mu.double().cpu().numpy())
            if used_index is not None:
                where = used_index[where]
            peak_pixel[block] = where.cpu().numpy()
    return parts, peak_pixel


def standardise(parts: np.ndarray, reference: dict) -> np.ndarray:
    """Each part in typical spreads above its typical value on the reference spectra.

    A part that did not vary over the reference spectra (no informative
    latent, say) reads 0: it says nothing about any spectrum.
    """
    centre, spread = reference["centre"], reference["spread"]
    informative = spread > 0
    z = (parts - centre) / np.where(informative, spread, 1.0)
    return np.where(informative, z, 0.0)


def latent_distance(density: dict | None, codes: np.ndarray) -> np.ndarray:
    """``sqrt(2 (log p_max - log p(code)))``: the Mahalanobis distance for one Gaussian.

    ``log p_max`` is the density's largest value at a component's mean. A
    distance, unlike the log density itself, has the light tail of a chi
    distribution on typical codes, so that its spread says as much about
    its extremes as the other parts' spreads do about theirs.
    """
    if density is None:
        return np.zeros(len(codes))
    log_p = log_density(density, codes)
    return np.sqrt(2.0 * np.clip(density["peak_log_density"] - log_p, 0.0, None))


def log_density(density: dict | None, codes: np.ndarray) -> np.ndarray:
    """Log density of the informative latents of ``codes`` under the fitted mixture."""
    if density is None:
        return np.zeros(len(codes))
    z = codes[:, density["latents"]]
    terms = []
    for weight, mean, chol in zip(
        density["weights"], density["means"], density["precisions_cholesky"]
    ):
        y = (z - mean) @ chol
        terms.append(
            np.log(weight)
            + np.log(np.diag(chol)).sum()
            - 0.5 * (y**2).sum(axis=1)
            - 0.5 * z.shape[1] * np.log(2 * np.pi)
        )
    return logsumexp(np.column_stack(terms), axis=1)


def fit_density(codes: np.ndarray, component_kl: np.ndarray, seed: int) -> dict | None:
    """A Gaussian mixture of the informative latents' codes, as plain arrays.

    Latents whose KL is at most :data:`ACTIVE_KL` hold no information and
    are left out: their codes barely vary, and a density that counted them
    would call a spectrum unusual for a difference the network ignores. The
    number of components (1 to :data:`_MAX_MIXTURE`) is chosen by BIC. None
    when no latent is informative.
    """
    latents = np.flatnonzero(np.asarray(component_kl) > ACTIVE_KL)
    if not latents.size or len(codes) < 2:
        return None
    z = codes[:, latents]
    best = None
    for k in range(1, min(_MAX_MIXTURE, len(z) // (5 * (latents.size + 1)) or 1) + 1):
        mixture = GaussianMixture(k, reg_covar=1e-6 * z.var(axis=0).mean() + 1e-12,
                                  random_state=seed)  # fmt: skip
        with warnings.catch_warnings():
            # A rough density serves: a mixture short of convergence only
            # blurs it, and the user's fit should not warn about it.
            warnings.simplefilter("ignore", ConvergenceWarning)
            mixture.fit(z)
        bic = mixture.bic(z)
        if best is None or bic < best[0]:
            best = (bic, mixture)
    mixture = best[1]
    density = {
        "latents": latents,
        "weights": mixture.weights_,
        "means": mixture.means_,
        "precisions_cholesky": mixture.precisions_cholesky_,
    }
    at_means = np.zeros((len(mixture.means_), codes.shape[1]))
    at_means[:, latents] = mixture.means_
    density["peak_log_density"] = float(log_density(density, at_means).max())
    return density


def _reference_rows(n_rows, train_rows, valid_rows, seed):
    """Sorted training rows for the density and the pixel scale, and reference rows."""
    rng = np.random.RandomState(seed)
    pool = np.arange(n_rows) if train_rows is None else np.asarray(train_rows)
    density = rng.choice(pool, min(len(pool), _DENSITY_ROWS), replace=False)
    if valid_rows is not None and len(valid_rows):
        reference = rng.choice(valid_rows, min(len(valid_rows), _REFERENCE_ROWS), replace=False)
    else:
        # Without held-out spectra the reference is what trained the
        # network, which makes every part look a little smaller than on new
        # spectra; spectra the density did not see are preferred.
        rest = np.setdiff1d(pool, density)
        reference = rest if len(rest) >= 10 else density
        reference = rng.choice(reference, min(len(reference), _REFERENCE_ROWS), replace=False)
    return np.sort(density), np.sort(reference)


def fit_reference(estimator, source: RowSource, ivar, train_rows, valid_rows, seed: int) -> dict:
    """The fitted attributes that :func:`measure` and :func:`standardise` need.

    ``estimator`` must already hold ``net_``, ``pixel_weight_`` and
    ``component_kl_``. Returns ``residual_scale_`` (the mean absolute
    residual at each pixel over up to :data:`_DENSITY_ROWS` training
    spectra), ``latent_density_`` (:func:`fit_density` of their codes) and
    ``typicality_reference_`` (each part's median and spread over the
    reference spectra).
    """
    density_rows, reference_rows = _reference_rows(len(source), train_rows, valid_rows, seed)
    net = estimator.net_
    total = np.zeros(source.n_features)
    codes = []

    def residual(module, x):
        mu, r = _residual_units(module, x, None, 1.0)
        return mu, r.abs().double().sum(dim=0)

    for _, (mu, summed) in inference.map_chunks(net, source, residual, density_rows):
        codes.append(mu.double().cpu().numpy())
        total += summed.cpu().numpy()
    scale = total / len(density_rows)
    positive = scale[scale > 0]
    # A pixel drawn exactly on every training spectrum (a constant pad) gets
    # the smallest scale seen elsewhere, so that it cannot divide by zero.
    floor = positive.min() if positive.size else 1.0
    fitted = {
        "residual_scale_": np.where(scale > 0, scale, floor).astype(np.float32),
        "latent_density_": fit_density(np.vstack(codes), estimator.component_kl_, seed),
    }
    parts, _ = measure(
        net, estimator.pixel_weight_, fitted["residual_scale_"], fitted["latent_density_"],
        source, ivar, reference_rows,
    )  # fmt: skip
    centre = np.median(parts, axis=0)
    spread = _MAD_TO_SIGMA * np.median(np.abs(parts - centre), axis=0)
    fitted["typicality_reference_"] = {"centre": centre, "spread": spread}
    return fitted

