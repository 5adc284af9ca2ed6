"""Synthetic stellar spectra with known generative factors."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.utils import check_random_state

from .._constants import C_KMS
from ._lines import IONISATION_EV, line_table

K_EV = 8.617_333e-5  # Boltzmann constant, eV / K
K_B = 1.380_649e-23  # J / K
AMU = 1.660_539e-27  # kg
HC_K_ANGSTROM = 1.438_777e8  # h c / k in Angstrom K
T_SUN, LOGG_SUN = 5777.0, 4.44

# Strength scale: puts the Mg b lines of a solar-type star on the flat part of
# the curve of growth and weak Fe I lines at depths of a few tens of percent.
_LOG_STRENGTH_ZERO = 4.5
# Line cores never reach zero flux: the source function at the surface.
_MAX_DEPTH = 0.95
_MICROTURBULENCE_KMS = 1.5
# Wing strengths relative to the core at solar gravity, calibrated by eye so
# that H-beta and Mg b of a solar-type star show wings a few Angstrom wide:
# Stark broadening for hydrogen, van der Waals for metals. The wing shape is
# 1 / (u**2 + 4) in Doppler units, a Lorentzian that gives way to the
# Gaussian core within two Doppler widths.
_DAMPING_METAL, _DAMPING_H = 3.0, 15.0
_WING_CORE = 4.0
# Profiles are cut where the wing's optical depth falls below this, at most
# at the reach below, with a smooth taper to zero.
_WING_TAU, _REACH_METAL_KMS, _REACH_H_KMS = 1e-3, 1500.0, 2500.0
_ROWS_PER_CHUNK = 256


def make_stellar_spectra(
    n_samples: int = 1000,
    *,
    n_pixels: int = 4096,
    wavelength_range: tuple[float, float] = (4800.0, 5400.0),
    teff: tuple[float, float] = (4500.0, 6500.0),
    logg: tuple[float, float] = (3.5, 5.0),
    metallicity: tuple[float, float] = (-1.0, 0.4),
    radial_velocity: tuple[float, float] = (-50.0, 50.0),
    vsini: tuple[float, float] = (1.0, 20.0),
    snr: float | tuple[float, float] | np.ndarray = 100.0,
    resolving_power: float = 50_000.0,
    limb_darkening: float = 0.6,
    correlated: bool = False,
    flux_model: Callable[[pd.DataFrame, np.ndarray], np.ndarray] | None = None,
    random_state=None,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Generate median-normalised stellar spectra from known physical factors.

    The spectra lie on a log-wavelength grid, uniform in velocity, so that
    every broadening is one convolution. The physics, step by step:

    1. **Line strengths.** For each line of a list of real strong lines
       (Balmer series, Ca II H and K, Na D, Mg b, and a forest of Fe I/Fe II
       and other metal lines between 3785 and 6910 Angstrom), the central
       optical depth is ``gf * abundance * 10**[M/H]`` (hydrogen does not
       scale with [M/H]) times the Boltzmann population of the lower level,
       ``10**(-5040 chi / Teff)``, times the fraction of the element in the
       line's ionisation stage from a Saha balance with electron pressure
       growing as ``g**(1/3)``. Neutral metal lines weaken with higher Teff
       and lower logg, ionised ones strengthen, Balmer lines grow steeply
       with Teff.
    2. **Line profiles.** A Gaussian core (thermal width at the line's
       atomic mass plus 1.5 km/s microturbulence) with Lorentzian damping
       wings whose strength grows with pressure, ``g**0.3``: Stark wings for
       hydrogen, van der Waals wings that make strong lines such as Mg b
       gravity-sensitive. Optical depths add; the flux is
       ``1 - 0.95 (1 - exp(-tau))``, so lines saturate as on the curve of
       growth.
    3. **Doppler shift** by the radial velocity: a shift of
       ``c ln(1 + v/c)`` in log-wavelength, so lines move by
       ``lambda v / c``.
    4. **Rotation.** Convolution with Gray's rotational kernel for
       ``vsini`` and linear limb darkening ``limb_darkening``.
    5. **Instrument.** Convolution with a Gaussian of FWHM ``c / R``.
    6. **Continuum.** A Planck curve at ``Teff`` times a smooth instrument
       response; each spectrum is then divided by its median, as in the
       paper's preprocessing.
    7. **Noise.** Gaussian, with standard deviation ``sqrt(flux) / snr``
       (photon noise, ``snr`` holding at the median flux).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of spectra.
    n_pixels : int, default=4096
        Pixels of the log-wavelength grid.
    wavelength_range : tuple of float, default=(4800.0, 5400.0)
        First and last wavelength in Angstrom (air); the default holds
        H-beta and the Mg b triplet inside the HARPS range.
    teff, logg, metallicity, radial_velocity, vsini : tuple of float
        Ranges (low, high) of effective temperature (K), log surface gravity
        (cgs, dex), [M/H] (dex), radial velocity (km/s) and projected
        rotation (km/s). Drawn independently and uniformly unless
        ``correlated``.
    snr : float, tuple of float or ndarray of shape (n_pixels,), default=100.0
        Signal-to-noise ratio per pixel at the median flux: one value, a
        ``(low, high)`` tuple to draw each spectrum's SNR uniformly, or an
        array giving it per pixel (wavelength-dependent, e.g. lower in the
        blue). ``np.inf`` gives noiseless spectra.
    resolving_power : float, default=50000.0
        Instrumental resolving power R.
    limb_darkening : float, default=0.6
        Linear limb-darkening coefficient of the rotation kernel.
    correlated : bool, default=False
        Draw realistic correlations instead of independent factors: Teff
        uniform; logg along the main sequence, ``4.44 + 0.35 (5777 - Teff)
        / 1000`` with 0.15 dex scatter; [M/H] from the solar neighbourhood,
        N(-0.1, 0.25); radial velocity N(0, 25) km/s; vsini slow (absolute value of N(3, 2))
        below the Kraft break at 6200 K and rising by 5 km/s per 100 K above
        it. Every draw is clipped to its range.
    flux_model : callable, default=None
        ``flux_model(labels, wavelength) -> flux`` replaces steps 1-2 (and
        the continuum of step 6) with any emulator: given the labels
        DataFrame and the rest-frame log-wavelength grid (Angstrom, wider
        than the output by a margin for shifts and broadening), it returns
        normalised flux of shape ``(n_samples, len(wavelength))``. The
        Doppler shift, rotation, instrument, median normalisation and noise
        are then applied as above.
    random_state : int, RandomState instance or None, default=None
        Seeds the factors and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_pixels)
        Median-normalised flux, float32.
    labels : pandas.DataFrame of shape (n_samples, 6)
        Columns ``teff`` (K), ``logg`` (dex, cgs), ``metallicity`` ([M/H],
        dex), ``radial_velocity`` (km/s), ``vsini`` (km/s) and ``snr``
        (median over pixels).
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
    if not resolving_power > 0:
        raise ValueError(f"resolving_power must be positive; got {resolving_power}.")
    if flux_model is not None and not callable(flux_model):
        raise TypeError(f"flux_model must be callable; got {type(flux_model).__name__}.")
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
    if not 0 < teff[0]:
        raise ValueError(f"teff must be positive; got {teff}.")
    if not 0 <= vsini[0]:
        raise ValueError(f"vsini cannot be negative; got {vsini}.")
    labels = _draw_labels(n_samples, ranges, correlated, rng)
    snr_pixels = _snr_per_pixel(snr, n_samples, n_pixels, rng)
    labels["snr"] = np.median(snr_pixels, axis=1) if snr_pixels.ndim == 2 else snr_pixels

    log_wave = np.linspace(np.log(lo), np.log(hi), n_pixels)
    wavelength = np.exp(log_wave)
    dv = C_KMS * (log_wave[1] - log_wave[0])  # km/s per pixel
    # Margin for lines shifted or broadened into the grid from outside it.
    v_rv = C_KMS * np.log1p(labels["radial_velocity"].to_numpy() / C_KMS)
    reach = np.abs(v_rv).max() + labels["vsini"].max() + 6 * C_KMS / resolving_power
    margin = int(np.ceil(reach / dv)) + 2
    log_wave_ext = log_wave[0] + (np.arange(n_pixels + 2 * margin) - margin) * (
        log_wave[1] - log_wave[0]
    )
    lines = None if flux_model is not None else _LineModel(labels, log_wave_ext, dv)

    X = np.empty((n_samples, n_pixels), dtype=np.float32)
    for start in range(0, n_samples, _ROWS_PER_CHUNK):
        rows = slice(start, start + _ROWS_PER_CHUNK)
        part = labels.iloc[rows]
        if lines is None:
            rest = _call_flux_model(flux_model, part.reset_index(drop=True), log_wave_ext)
        else:
            rest = lines.flux(rows)
        kernel_ft, n_fft = _broadening_ft(
            part["vsini"].to_numpy(), v_rv[rows], rest.shape[1], dv, resolving_power,
            limb_darkening,
        )  # fmt: skip
        flux = _convolve_ones_padded(rest, kernel_ft, n_fft)[:, margin : margin + n_pixels]
        if lines is not None:
            flux *= _continuum(part["teff"].to_numpy(), wavelength)
        flux /= np.median(flux, axis=1, keepdims=True)
        snr_rows = snr_pixels[rows] if snr_pixels.ndim == 2 else snr_pixels[rows, None]
        noise = rng.standard_normal(flux.shape)
        with np.errstate(divide="ignore"):
            flux += noise * np.sqrt(np.clip(flux, 0, None)) / snr_rows
        X[rows] = flux
    return X, labels, wavelength


def _draw_labels(n, ranges, correlated, rng) -> pd.DataFrame:
    uniform = {name: rng.uniform(a, b, n) for name, (a, b) in ranges.items()}
    if not correlated:
        return pd.DataFrame(uniform)
    teff = uniform["teff"]
    drawn = {
        "teff": teff,
        "logg": LOGG_SUN + 0.35 * (T_SUN - teff) / 1000 + rng.normal(0, 0.15, n),
        "metallicity": rng.normal(-0.1, 0.25, n),
        "radial_velocity": rng.normal(0, 25, n),
        "vsini": np.abs(rng.normal(3, 2, n)) + 0.05 * np.clip(teff - 6200, 0, None),
    }
    return pd.DataFrame({k: np.clip(v, *ranges[k]) for k, v in drawn.items()})


def _snr_per_pixel(snr, n_samples, n_pixels, rng) -> np.ndarray:
    """SNR per spectrum, shape (n,), or per spectrum and pixel, shape (n, n_pixels)."""
    if isinstance(snr, tuple):
        if len(snr) != 2 or not 0 < snr[0] <= snr[1]:
            raise ValueError(f"An snr range must be (low, high) with 0 < low <= high; got {snr}.")
        return rng.uniform(snr[0], snr[1], n_samples)
    if isinstance(snr, Real):
        if not snr > 0:
            raise ValueError(f"snr must be positive; got {snr}.")
        return np.full(n_samples, float(snr))
    profile = np.asarray(snr, dtype=np.float64)
    if profile.shape != (n_pixels,):
        raise ValueError(
            f"A per-pixel snr needs shape ({n_pixels},), one value per pixel; got {profile.shape}."
        )
    if not np.all(profile > 0):
        raise ValueError("snr must be positive at every pixel.")
    return np.broadcast_to(profile, (n_samples, n_pixels))


def _call_flux_model(flux_model, labels, log_wave) -> np.ndarray:
    flux = np.asarray(flux_model(labels, np.exp(log_wave)), dtype=np.float64)
    if flux.shape != (len(labels), log_wave.size):
        raise ValueError(
            f"flux_model returned shape {flux.shape}; expected ({len(labels)}, {log_wave.size}), "
            "one row per label row and one column per wavelength."
        )
    if not np.all(np.isfinite(flux)):
        raise ValueError("flux_model returned NaN or inf.")
    return flux


class _LineModel:
    """Optical depths of every line for every spectrum, as two sparse products.

    Each line's profile is a fixed shape on the rest-frame grid: a Gaussian
    core and a Lorentzian wing. Only their amplitudes depend on the star, so
    the optical depth of all spectra is ``S @ core + (S * a) @ wing`` with S
    the central depths and a the damping parameters.
    """

    def __init__(self, labels: pd.DataFrame, log_wave: np.ndarray, dv: float):
        table = line_table()
        teff = labels["teff"].to_numpy()[:, None]
        logg = labels["logg"].to_numpy()[:, None]
        self.strength = _line_strength(table, teff, logg, labels["metallicity"].to_numpy())
        hydrogen = table["element"] == "H"
        pressure = 10.0 ** (0.3 * (logg - LOGG_SUN))
        self.damping = np.where(hydrogen, _DAMPING_H, _DAMPING_METAL)[None, :] * pressure
        sigma = np.sqrt(K_B * T_SUN / (table["mass"] * AMU) / 1e6 + _MICROTURBULENCE_KMS**2)  # km/s
        tau_wing_max = (self.strength * self.damping).max(axis=0)
        self.core, self.wing = _profile_matrices(
            table["wavelength"], sigma, tau_wing_max, hydrogen, log_wave, dv
        )

    def flux(self, rows: slice) -> np.ndarray:
        s = self.strength[rows]
        tau = (self.core.T @ s.T).T + (self.wing.T @ (s * self.damping[rows]).T).T
        return 1.0 - _MAX_DEPTH * -np.expm1(-tau)


def _line_strength(table, teff, logg, metallicity) -> np.ndarray:
    """Central optical depth of each line (columns) for each star (rows)."""
    theta = 5040.0 / teff
    # Saha: N_II / N_I per element, scaled so that iron is ~10 times ionised in the Sun.
    chi_ion = table["ionisation"][None, :]
    phi = (
        10.0
        * (teff / T_SUN) ** 2.5
        * np.exp(-chi_ion / (K_EV * teff) + IONISATION_EV["Fe"] / (K_EV * T_SUN))
        * 10.0 ** (-(logg - LOGG_SUN) / 3.0)
    )
    stage_fraction = np.where(table["stage"][None, :] == 1, 1.0 / (1.0 + phi), phi / (1.0 + phi))
    scales = (table["element"] != "H")[None, :] * metallicity[:, None]
    log_strength = (
        _LOG_STRENGTH_ZERO
        + table["log_gf"][None, :]
        + table["abundance"][None, :]
        - 7.5
        + scales
        - theta * table["chi"][None, :]
        + np.log10(stage_fraction)
    )
    return 10.0**log_strength


def _profile_matrices(centres, sigma, tau_wing_max, hydrogen, log_wave, dv):
    """Sparse (n_lines, n_pixels) core and wing shapes on the rest-frame grid."""
    step = log_wave[1] - log_wave[0]
    n_pixels = log_wave.size
    core_rows, core_cols, core_vals = [], [], []
    wing_rows, wing_cols, wing_vals = [], [], []
    for j, (centre, s) in enumerate(zip(centres, sigma)):
        position = (np.log(centre) - log_wave[0]) / step  # fractional pixel
        cap = _REACH_H_KMS if hydrogen[j] else _REACH_METAL_KMS
        # Wing optical depth (a / sqrt(pi)) / u**2 falls to _WING_TAU at u_cut.
        u_cut = np.sqrt(tau_wing_max[j] / (np.sqrt(np.pi) * _WING_TAU))
        reach = min(cap, max(6 * s, u_cut * np.sqrt(2) * s))
        half = int(np.ceil(reach / dv)) + 1
        cols = np.arange(int(np.floor(position)) - half, int(np.ceil(position)) + half + 1)
        cols = cols[(cols >= 0) & (cols < n_pixels)]
        if cols.size == 0:
            continue
        v = (cols - position) * dv
        core = np.exp(-0.5 * (v / s) ** 2)
        u2 = v**2 / (2 * s**2)
        taper = np.clip(1 - (v / reach) ** 2, 0, None) ** 2
        wing = taper / (np.sqrt(np.pi) * (_WING_CORE + u2))
        keep = core > 1e-12
        core_rows.append(np.full(keep.sum(), j))
        core_cols.append(cols[keep])
        core_vals.append(core[keep])
        wing_rows.append(np.full(cols.size, j))
        wing_cols.append(cols)
        wing_vals.append(wing)
    shape = (len(centres), n_pixels)

    def build(rows, cols, vals):
        if not rows:
            return sparse.csr_matrix(shape)
        data = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
        return sparse.csr_matrix(data, shape=shape)

    return build(core_rows, core_cols, core_vals), build(wing_rows, wing_cols, wing_vals)


def _gray_kernel(v: np.ndarray, vsini: np.ndarray, epsilon: float) -> np.ndarray:
    """Gray's rotational broadening kernel at velocities v (km/s), unnormalised."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x2 = np.clip(1.0 - (v / vsini) ** 2, 0.0, None)
    x2 = np.nan_to_num(x2)
    return 2 * (1 - epsilon) * np.sqrt(x2) + 0.5 * np.pi * epsilon * x2


def _broadening_ft(vsini, v_shift, n_pixels, dv, resolving_power, epsilon):
    """Fourier transform of shift, rotation (Gray) and instrument (Gaussian), per spectrum.

    Returns the transforms, shape (n, n_fft // 2 + 1), and n_fft.
    """
    sigma_inst = C_KMS / resolving_power / (2 * np.sqrt(2 * np.log(2)))
    reach = np.max(vsini, initial=0.0) + np.max(np.abs(v_shift), initial=0.0) + 6 * sigma_inst
    n_fft = n_pixels + 2 * (int(np.ceil(reach / dv)) + 1)
    n_fft += n_fft % 2  # even, so that irfft recovers the length
    freq = np.fft.rfftfreq(n_fft, d=dv)  # cycles per km/s
    inst_ft = np.exp(-2 * (np.pi * freq * sigma_inst) ** 2)
    shift_ft = np.exp(-2j * np.pi * freq[None, :] * np.asarray(v_shift)[:, None])
    return rotation_ft(vsini, dv, n_fft, epsilon) * inst_ft[None, :] * shift_ft, n_fft


def rotation_ft(vsini, step: float, n_fft: int, epsilon: float) -> np.ndarray:
    """Fourier transforms (n, n_fft // 2 + 1) of unit-area rotation kernels at step km/s."""
    # The kernel reaches vsini only: build it on those lags, finely sampled
    # within each pixel so that narrow kernels stay normalised.
    half = int(np.ceil(np.max(vsini, initial=0.0) / step)) + 1
    lags = np.arange(-half, half + 1) * step
    sub = np.linspace(-0.5, 0.5, 9) * step
    vs = np.asarray(vsini, dtype=np.float64)[:, None, None]
    rot = _gray_kernel(lags[None, :, None] + sub[None, None, :], vs, epsilon).mean(axis=2)
    narrow = rot.sum(axis=1) <= 0  # vsini far below a pixel: no rotation
    rot[narrow, half] = 1.0
    rot /= rot.sum(axis=1, keepdims=True)
    kernel = np.zeros((len(vs), n_fft))
    kernel[:, : half + 1] = rot[:, half:]
    kernel[:, n_fft - half :] = rot[:, :half]
    return np.fft.rfft(kernel, axis=1)


def _convolve_ones_padded(spectra: np.ndarray, kernel_ft: np.ndarray, n_fft: int) -> np.ndarray:
    """Circular FFT convolution of spectra padded with continuum (1) to avoid wrap-around."""
    n, n_pixels = spectra.shape
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
