"""Archives of real spectra with known factors applied: velocity, rotation, tilt, noise."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._constants import C_KMS
from ._synthetic import rotation_ft

# Fine sampling (km/s) on which templates are shifted and broadened before
# being averaged onto the output pixels: finer than HARPS' 0.8 km/s pixels,
# so that the output grid's pixels integrate the template as a detector does.
_FINE_STEP_KMS = 0.5
_ROWS_PER_CHUNK = 64


def make_template_spectra(
    templates: Sequence,
    n_samples: int = 1000,
    *,
    log_step: float = 10.0,
    wavelength_range: tuple[float, float] | None = None,
    radial_velocity: tuple[float, float] = (-40.0, 40.0),
    vsini: tuple[float, float] = (0.0, 30.0),
    tilt: tuple[float, float] = (-0.3, 0.3),
    snr: float | tuple[float, float] = (30.0, 150.0),
    flux_scale: tuple[float, float] = (0.2, 5.0),
    limb_darkening: float = 0.6,
    random_state=None,
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Make an archive of spectra from real template spectra with known factors.

    Real spectra have narrow lines, molecular bands and continua that no
    line-list generator reproduces. This function takes a few real spectra
    as templates (e.g. read with :func:`skspecrep.io.read_spectrum`) and makes
    an archive of observations of them in which every factor that changes
    from one observation to the next is known. For each spectrum:

    1. a template is drawn uniformly;
    2. it is Doppler-shifted by ``radial_velocity`` (a shift of ``c ln(1 +
       v/c)`` in log-wavelength) and convolved with Gray's rotational kernel
       for ``vsini`` (linear limb darkening ``limb_darkening``), both on a
       0.5 km/s log-wavelength grid;
    3. it is averaged onto the output pixels, uniform in log-wavelength with
       ``log_step`` km/s per pixel, as a detector integrates its pixels;
    4. it is multiplied by an instrument response ``exp(tilt * u)``, with
       ``u`` running from -1 to 1 in log-wavelength over the range, and by
       ``flux_scale``;
    5. Gaussian noise of standard deviation ``sqrt(f * m) / snr`` is added,
       where ``f`` is the flux and ``m`` the spectrum's median (photon noise,
       with ``snr`` holding at the median flux).

    The velocity is relative to each template's own frame: to compare
    velocities across templates, shift the templates to a common frame
    first.

    Parameters
    ----------
    templates : sequence of spectra
        Each a ``(wavelength, flux)`` pair of 1-D arrays (Angstrom,
        increasing) or an object with ``wavelength`` and ``flux`` attributes
        (as :func:`skspecrep.io.read_spectrum` returns; pixels whose
        ``error`` is infinite are left out). Non-finite flux is left out.
        Templates are used as given, including their own broadening.
    n_samples : int, default=1000
        Number of spectra.
    log_step : float, default=10.0
        Output pixel size in km/s (uniform in log-wavelength).
    wavelength_range : tuple of float, default=None
        First and last wavelength of the output grid in Angstrom. None takes
        the range every template covers, less the largest shift and
        broadening at each end, so that every spectrum is covered.
    radial_velocity, vsini : tuple of float
        Ranges (low, high) in km/s, drawn uniformly and independently.
    tilt : tuple of float, default=(-0.3, 0.3)
        Range of the instrument response's slope: ``exp(tilt)`` is the ratio
        of the response at the red end to that at the centre.
    snr : float or tuple of float, default=(30.0, 150.0)
        Signal-to-noise ratio per pixel at the median flux, one value or a
        range drawn uniformly per spectrum. ``np.inf`` gives noiseless
        spectra.
    flux_scale : tuple of float, default=(0.2, 5.0)
        Range of the overall flux factor, drawn log-uniformly.
    limb_darkening : float, default=0.6
        Linear limb-darkening coefficient of the rotation kernel.
    random_state : int, RandomState instance or None, default=None
        Seeds the factors and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_pixels)
        Flux, float32, in the templates' units times ``flux_scale``.
    labels : pandas.DataFrame of shape (n_samples, 6)
        Columns ``template`` (index into ``templates``), ``radial_velocity``
        and ``vsini`` (km/s), ``tilt``, ``snr`` and ``flux_scale``.
    wavelength : ndarray of shape (n_pixels,)
        Wavelength of each pixel in Angstrom.

    See Also
    --------
    make_stellar_spectra : Spectra generated from a line list, with Teff,
        logg and [M/H] as factors.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep.datasets import make_template_spectra
    >>> wave = np.linspace(5000.0, 5100.0, 20_001)
    >>> line = 1 - 0.6 * np.exp(-0.5 * ((wave - 5050.0) / 0.05) ** 2)
    >>> X, labels, wavelength = make_template_spectra([(wave, line)], 4, random_state=0)
    >>> X.shape == (4, wavelength.size)
    True
    >>> list(labels.columns)
    ['template', 'radial_velocity', 'vsini', 'tilt', 'snr', 'flux_scale']
    """
    if not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    if not isinstance(log_step, Real) or not log_step > 0:
        raise ValueError(f"log_step must be a positive number of km/s; got {log_step!r}.")
    for name, (a, b) in {
        "radial_velocity": radial_velocity,
        "vsini": vsini,
        "tilt": tilt,
        "flux_scale": flux_scale,
    }.items():
        if not a <= b:
            raise ValueError(f"{name} range must be (low, high); got {(a, b)}.")
    if vsini[0] < 0:
        raise ValueError(f"vsini cannot be negative; got {vsini}.")
    if flux_scale[0] <= 0:
        raise ValueError(f"flux_scale must be positive; got {flux_scale}.")
    parsed = [_template(t, i) for i, t in enumerate(templates)]
    if not parsed:
        raise ValueError("templates is empty; give at least one spectrum.")
    rng = check_random_state(random_state)

    # Velocity reach of the shift and the rotation kernel past each output pixel.
    reach = max(abs(radial_velocity[0]), abs(radial_velocity[1])) + vsini[1] + 2 * log_step
    log_lo = max(np.log(w[0]) for w, _ in parsed)
    log_hi = min(np.log(w[-1]) for w, _ in parsed)
    if wavelength_range is None:
        log_lo, log_hi = log_lo + reach / C_KMS, log_hi - reach / C_KMS
    else:
        lo, hi = wavelength_range
        if not 0 < lo < hi:
            raise ValueError(f"wavelength_range must be increasing; got {wavelength_range}.")
        if np.log(lo) - reach / C_KMS < log_lo or np.log(hi) + reach / C_KMS > log_hi:
            raise ValueError(
                f"wavelength_range {wavelength_range} with shifts and broadening of up to "
                f"{reach:.0f} km/s needs {np.exp(log_lo + reach / C_KMS):.2f}-"
                f"{np.exp(log_hi - reach / C_KMS):.2f} A or narrower: not every template "
                "covers more."
            )
        log_lo, log_hi = np.log(lo), np.log(hi)
    n_pixels = int(np.floor((log_hi - log_lo) * C_KMS / log_step)) + 1
    if n_pixels < 2:
        raise ValueError(
            "The templates share too short a range for the shifts and broadening asked for "
            f"({np.exp(log_lo):.2f}-{np.exp(log_hi):.2f} A)."
        )
    # Each output pixel averages `sub` fine pixels centred on it.
    sub = int(np.ceil(log_step / _FINE_STEP_KMS))
    fine_step = log_step / sub
    margin = int(np.ceil(reach / fine_step)) + sub
    n_fine = n_pixels * sub + 2 * margin
    n_fft = n_fine + n_fine % 2
    first = log_lo - (sub - 1) / 2 * fine_step / C_KMS - margin * fine_step / C_KMS
    log_fine = first + np.arange(n_fine) * fine_step / C_KMS
    rest_ft = np.stack(
        [np.fft.rfft(np.interp(log_fine, np.log(w), f), n=n_fft) for w, f in parsed]
    )
    log_wave = log_lo + np.arange(n_pixels) * log_step / C_KMS
    u = 2 * (log_wave - log_wave[0]) / max(log_wave[-1] - log_wave[0], 1e-300) - 1

    labels = pd.DataFrame(
        {
            "template": rng.randint(len(parsed), size=n_samples),
            "radial_velocity": rng.uniform(*radial_velocity, size=n_samples),
            "vsini": rng.uniform(*vsini, size=n_samples),
            "tilt": rng.uniform(*tilt, size=n_samples),
            "snr": _draw_snr(snr, n_samples, rng),
            "flux_scale": np.exp(rng.uniform(*np.log(flux_scale), size=n_samples)),
        }
    )
    freq = np.fft.rfftfreq(n_fft, d=fine_step)  # cycles per km/s
    X = np.empty((n_samples, n_pixels), dtype=np.float32)
    for start in range(0, n_samples, _ROWS_PER_CHUNK):
        part = labels.iloc[start : start + _ROWS_PER_CHUNK]
        shift = C_KMS * np.log1p(part["radial_velocity"].to_numpy() / C_KMS)
        kernel_ft = rotation_ft(part["vsini"].to_numpy(), fine_step, n_fft, limb_darkening)
        kernel_ft *= np.exp(-2j * np.pi * freq[None, :] * shift[:, None])
        fine = np.fft.irfft(rest_ft[part["template"].to_numpy()] * kernel_ft, n=n_fft, axis=1)
        flux = fine[:, margin : margin + n_pixels * sub].reshape(len(part), n_pixels, sub)
        flux = flux.mean(axis=2)
        flux *= np.exp(part["tilt"].to_numpy()[:, None] * u[None, :])
        flux *= part["flux_scale"].to_numpy()[:, None]
        median = np.median(flux, axis=1, keepdims=True)
        sigma = np.sqrt(np.clip(flux * median, 0, None)) / part["snr"].to_numpy()[:, None]
        flux += rng.standard_normal(flux.shape) * sigma
        X[start : start + len(part)] = flux
    return X, labels, np.exp(log_wave)


def _template(spectrum, index: int) -> tuple[np.ndarray, np.ndarray]:
    """A template's good pixels as float64 (wavelength, flux) arrays."""
    if hasattr(spectrum, "wavelength") and hasattr(spectrum, "flux"):
        wave, flux = spectrum.wavelength, spectrum.flux
        error = getattr(spectrum, "error", None)
    else:
        try:
            wave, flux = spectrum
        except (TypeError, ValueError):
            raise TypeError(
                f"templates[{index}] must be a (wavelength, flux) pair or have wavelength "
                f"and flux attributes; got {type(spectrum).__name__}."
            ) from None
        error = None
    wave = np.asarray(wave, dtype=np.float64).ravel()
    flux = np.asarray(flux, dtype=np.float64).ravel()
    if wave.shape != flux.shape:
        raise ValueError(
            f"templates[{index}] has {wave.size} wavelengths but {flux.size} flux values."
        )
    good = np.isfinite(wave) & np.isfinite(flux)
    if error is not None:
        good &= np.isfinite(np.asarray(error, dtype=np.float64).ravel())
    wave, flux = wave[good], flux[good]
    if wave.size < 2 or np.any(wave <= 0) or np.any(np.diff(wave) <= 0):
        raise ValueError(
            f"templates[{index}] needs at least 2 good pixels at positive, strictly "
            "increasing wavelengths."
        )
    return wave, flux


def _draw_snr(snr, n_samples: int, rng) -> np.ndarray:
    if isinstance(snr, Real):
        if not snr > 0:
            raise ValueError(f"snr must be positive; got {snr}.")
        return np.full(n_samples, float(snr))
    low, high = snr
    if not 0 < low <= high:
        raise ValueError(f"snr range must be positive (low, high); got {snr}.")
    return rng.uniform(low, high, size=n_samples)
