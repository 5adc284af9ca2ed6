"""Synthetic stellar spectra with known generative factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._lines import line_table

C_KMS = 299_792.458
K_EV = 8.617_333e-5  # Boltzmann constant, eV / K
HC_K_ANGSTROM = 1.438_777e8  # h c / k in Angstrom K
T_SUN, LOGG_SUN = 5777.0, 4.44

# Strength scale: puts the Mg b lines of a solar-type star on the flat part of
# the curve of growth and weak Fe I lines at depths of a few tens of percent.
_LOG_STRENGTH_ZERO = 5.0
_MAX_DEPTH = 0.9
_INTRINSIC_WIDTH_KMS = 2.5  # thermal plus microturbulent Gaussian sigma


def make_stellar_spectra(
    n_samples: int = 1000,
    *,
    n_pixels: int = 4096,
    wavelength_range: tuple[float, float] = (5000.0, 5400.0),
    teff: tuple[float, float] = (4500.0, 6500.0),
    logg: tuple[float, float] = (3.5, 5.0),
    metallicity: tuple[float, float] = (-1.0, 0.4),
    radial_velocity: tuple[float, float] = (-50.0, 50.0),
    vsini: tuple[float, float] = (1.0, 20.0),
    snr: float = 100.0,
    resolving_power: float = 50_000.0,
    limb_darkening: float = 0.6,
    random_state=None,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Generate median-normalised stellar spectra from known physical factors.

    Each factor is drawn independently and uniformly from its range. The
    physics, step by step:

    1. **Line strengths.** For each line of a list of real strong lines
       (Mg b, Fe I/II, Ti I/II, Cr, Ni, Ca, Mn), the strength is
       ``gf * abundance * 10**[M/H]`` times the Boltzmann population of its
       lower level, ``10**(-5040 chi / Teff)``, times the fraction of the
       element in the line's ionisation stage from a Saha balance whose
       electron pressure grows as ``g**(1/3)`` (neutral lines weaken with
       higher Teff and lower logg, ionised ones strengthen). The central
       depth saturates as ``0.9 S / (1 + S)``.
    2. **Doppler shift.** Line centres move to ``lambda (1 + v / c)``; lines
       are drawn at their shifted centres on a log-lambda grid.
    3. **Rotation.** Convolution with Gray's rotational kernel for
       ``vsini`` and linear limb darkening ``limb_darkening``.
    4. **Instrument.** Convolution with a Gaussian of FWHM ``c / R``.
    5. **Continuum.** A Planck curve at ``Teff`` times a smooth instrument
       response; the spectrum is then divided by its median, as in the
       paper's preprocessing.
    6. **Noise.** Gaussian, with standard deviation ``sqrt(flux) / snr`` so
       that ``snr`` is the signal-to-noise ratio at the median flux.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of spectra.
    n_pixels : int, default=4096
        Pixels of the log-lambda grid.
    wavelength_range : tuple of float, default=(5000.0, 5400.0)
        First and last wavelength in Angstrom.
    teff, logg, metallicity, radial_velocity, vsini : tuple of float
        Ranges of effective temperature (K), log surface gravity (cgs),
        [M/H] (dex), radial velocity (km/s) and projected rotation (km/s).
    snr : float, default=100.0
        Signal-to-noise ratio per pixel at the median flux; ``np.inf`` for
        noiseless spectra.
    resolving_power : float, default=50000.0
        Instrumental resolving power R.
    limb_darkening : float, default=0.6
        Linear limb-darkening coefficient of the rotation kernel.
    random_state : int, RandomState instance or None, default=None
        Seeds the factors and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_pixels)
        Median-normalised flux, float32.
    labels : pandas.DataFrame of shape (n_samples, 6)
        Columns ``teff`` (K), ``logg`` (dex, cgs), ``metallicity`` ([M/H],
        dex), ``radial_velocity`` (km/s), ``vsini`` (km/s) and ``snr``.
    wavelength : ndarray of shape (n_pixels,)
        Wavelength of each pixel in Angstrom.

    Examples
    --------
    >>> from skspecrep.datasets import make_stellar_spectra
    >>> X, labels, wavelength = make_stellar_spectra(5, n_pixels=1024, random_state=0)
    >>> X.shape, wavelength.shape
    ((5, 1024), (1024,))
    >>> list(labels.columns)
    ['teff', 'logg', 'metallicity', 'radial_velocity', 'vsini', 'snr']
    """
    if n_samples < 1 or n_pixels < 16:
        raise ValueError(f"Need n_samples >= 1 and n_pixels >= 16; got {n_samples}, {n_pixels}.")
    lo, hi = wavelength_range
    if not 0 < lo < hi:
        raise ValueError(
            f"wavelength_range must be increasing and positive; got {wavelength_range}."
        )
    if not snr > 0:
        raise ValueError(f"snr must be positive; got {snr}.")
    rng = check_random_state(random_state)
    ranges = {
        "teff": teff,
        "logg": logg,
        "metallicity": metallicity,
        "radial_velocity": radial_velocity,
        "vsini": vsini,
    }
    for name, (a, b) in ranges.items():
        if not a <= b:
            raise ValueError(f"{name} range must be (low, high); got {(a, b)}.")
    labels = pd.DataFrame({name: rng.uniform(a, b, n_samples) for name, (a, b) in ranges.items()})
    labels["snr"] = float(snr)

    log_wave = np.linspace(np.log(lo), np.log(hi), n_pixels)
    wavelength = np.exp(log_wave)
    dv = C_KMS * (log_wave[1] - log_wave[0])  # km/s per pixel

    absorption = _line_absorption(labels, log_wave, dv)
    kernel_ft = _broadening_ft(labels, n_pixels, dv, resolving_power, limb_darkening)
    flux = _convolve_ones_padded(absorption, kernel_ft)
    flux *= _continuum(labels["teff"].to_numpy(), wavelength)
    flux /= np.median(flux, axis=1, keepdims=True)
    if np.isfinite(snr):
        flux += rng.standard_normal(flux.shape) * np.sqrt(np.clip(flux, 0, None)) / snr
    return flux.astype(np.float32), labels, wavelength


def _line_absorption(labels: pd.DataFrame, log_wave: np.ndarray, dv: float) -> np.ndarray:
    """Unbroadened normalised spectra: product of Gaussian lines at shifted centres."""
    lines = line_table()
    teff = labels["teff"].to_numpy()[:, None]
    theta = 5040.0 / teff
    # Saha ratio N_II / N_I relative to the Sun's ~10 for iron-peak elements.
    chi_ion = lines["ionisation"][None, :]
    phi = (
        10.0
        * (teff / T_SUN) ** 2.5
        * np.exp(-chi_ion / K_EV * (1.0 / teff - 1.0 / T_SUN))
        * 10.0 ** (-(labels["logg"].to_numpy()[:, None] - LOGG_SUN) / 3.0)
    )
    stage_fraction = np.where(lines["stage"][None, :] == 1, 1.0 / (1.0 + phi), phi / (1.0 + phi))
    log_strength = (
        _LOG_STRENGTH_ZERO
        + lines["log_gf"][None, :]
        + lines["abundance"][None, :]
        - 7.5
        + labels["metallicity"].to_numpy()[:, None]
        - theta * lines["chi"][None, :]
        + np.log10(stage_fraction)
    )
    strength = 10.0**log_strength
    depth = _MAX_DEPTH * strength / (1.0 + strength)

    shift = np.log1p(labels["radial_velocity"].to_numpy() / C_KMS)
    sigma = _INTRINSIC_WIDTH_KMS / C_KMS  # in ln(lambda)
    step = log_wave[1] - log_wave[0]
    half = int(np.ceil(6 * sigma / step)) + 1
    n = len(labels)
    log_absorption = np.zeros((n, len(log_wave)))
    rows = np.arange(n)[:, None]
    offsets = np.arange(-half, half + 1)[None, :]
    for j, wave0 in enumerate(lines["wavelength"]):
        centre = np.log(wave0) + shift  # (n,)
        nearest = np.rint((centre - log_wave[0]) / step).astype(int)
        cols = nearest[:, None] + offsets
        inside = (cols >= 0) & (cols < len(log_wave))
        cols_c = np.clip(cols, 0, len(log_wave) - 1)
        x = (log_wave[cols_c] - centre[:, None]) / sigma
        profile = np.log1p(-depth[:, j : j + 1] * np.exp(-0.5 * x**2))
        np.add.at(
            log_absorption,
            (np.broadcast_to(rows, cols.shape)[inside], cols_c[inside]),
            profile[inside],
        )
    return np.exp(log_absorption)


def _gray_kernel(v: np.ndarray, vsini: np.ndarray, epsilon: float) -> np.ndarray:
    """Gray's rotational broadening kernel at velocities v (km/s), unnormalised."""
    x2 = np.clip(1.0 - (v / vsini) ** 2, 0.0, None)
    return 2 * (1 - epsilon) * np.sqrt(x2) + 0.5 * np.pi * epsilon * x2


def _broadening_ft(labels, n_pixels, dv, resolving_power, epsilon) -> np.ndarray:
    """Fourier transform of rotation (Gray) times instrument (Gaussian) per spectrum."""
    n_fft = _fft_length(n_pixels, labels["vsini"].max(), dv, resolving_power)
    v = np.fft.fftfreq(n_fft, d=1.0 / n_fft) * dv  # velocity of each lag, km/s
    vsini = labels["vsini"].to_numpy()[:, None]
    # Sample the kernel finely within each pixel so that narrow kernels stay normalised.
    sub = np.linspace(-0.5, 0.5, 9)[None, None, :] * dv
    rot = _gray_kernel(v[None, :, None] + sub, vsini[:, :, None], epsilon).mean(axis=2)
    narrow = rot.sum(axis=1) <= 0
    rot[narrow, 0] = 1.0
    rot /= rot.sum(axis=1, keepdims=True)
    sigma_inst = C_KMS / resolving_power / (2 * np.sqrt(2 * np.log(2)))
    freq = np.fft.rfftfreq(n_fft, d=dv)  # cycles per km/s
    inst_ft = np.exp(-2 * (np.pi * freq * sigma_inst) ** 2)
    return np.fft.rfft(rot, axis=1) * inst_ft[None, :]


def _fft_length(n_pixels, vsini_max, dv, resolving_power) -> int:
    reach = vsini_max + 5 * C_KMS / resolving_power
    n = n_pixels + 2 * (int(np.ceil(reach / dv)) + 1)
    return n + n % 2  # even, so that irfft recovers the length


def _convolve_ones_padded(spectra: np.ndarray, kernel_ft: np.ndarray) -> np.ndarray:
    """Circular FFT convolution of spectra padded with continuum (1) to avoid wrap-around."""
    n, n_pixels = spectra.shape
    n_fft = 2 * (kernel_ft.shape[1] - 1)
    padded = np.ones((n, n_fft))
    padded[:, :n_pixels] = spectra
    return np.fft.irfft(np.fft.rfft(padded, axis=1) * kernel_ft, n=n_fft, axis=1)[:, :n_pixels]


def _continuum(teff: np.ndarray, wavelength: np.ndarray) -> np.ndarray:
    """Planck curve times a smooth instrument response, per spectrum."""
    planck = 1.0 / (
        wavelength[None, :] ** 5 * np.expm1(HC_K_ANGSTROM / (wavelength * teff[:, None]))
    )
    u = (wavelength - wavelength.mean()) / np.ptp(wavelength)
    response = 1.0 - 0.8 * u**2 + 0.1 * u
    return planck * response[None, :]
