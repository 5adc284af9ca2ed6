"""Reading one ESO/HARPS 1-D spectrum: Phase-3 ADP tables and DRS s1d images."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from astropy.io import fits

from ..exceptions import SpectrumReadError

# Primary-header keywords copied into the metadata, by their metadata name.
# WAVELMIN, WAVELMAX and SPEC_BIN are in nm; the BERV is in km/s.
_KEYWORDS = {
    "object": "OBJECT",
    "snr": "SNR",
    "exptime": "EXPTIME",
    "mjd_obs": "MJD-OBS",
    "spec_res": "SPEC_RES",
    "specsys": "SPECSYS",
    "wavelmin_nm": "WAVELMIN",
    "wavelmax_nm": "WAVELMAX",
    "spec_bin_nm": "SPEC_BIN",
    "berv_kms": "HIERARCH ESO DRS BERV",
}


class Spectrum(NamedTuple):
    """One spectrum as read from a file.

    Attributes
    ----------
    wavelength : ndarray of shape (n_pixels,)
        Wavelength in Angstrom (air, in the frame the file states in
        ``meta["specsys"]``, barycentric for HARPS ADP files), float64.
    flux : ndarray of shape (n_pixels,)
        Flux as stored (float32; for HARPS not flux calibrated, in ADU, and
        possibly negative).
    error : ndarray of shape (n_pixels,) or None
        Flux uncertainty; None when the file has none or only NaN (older
        ADP releases).
    meta : dict
        Header values (None where missing): ``object``, ``snr``,
        ``exptime`` (s), ``mjd_obs``, ``spec_res``, ``specsys``,
        ``wavelmin_nm``, ``wavelmax_nm``, ``spec_bin_nm``, ``berv_kms``, and
        ``format`` (``"adp"`` or ``"s1d"``) and ``path``.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None
    meta: dict


def read_eso_spectrum(path: str | os.PathLike) -> Spectrum:
    """Read a HARPS 1-D spectrum: an ESO Phase-3 ADP file or a DRS s1d file.

    Two layouts are recognised from the file itself:

    - **ADP** (``ADP.*.fits`` from the ESO archive): the primary HDU has no
      data; extension 1, ``EXTNAME='SPECTRUM'``, is a binary table with one
      row and array columns ``WAVE`` (Angstrom), ``FLUX`` and ``ERR``.
    - **s1d** (older DRS products): the primary HDU is the 1-D flux, on the
      linear grid ``CRVAL1 + (pixel + 1 - CRPIX1) * CDELT1`` in Angstrom.

    Parameters
    ----------
    path : str or path-like
        The FITS file.

    Returns
    -------
    spectrum : Spectrum
        Named tuple ``(wavelength, flux, error, meta)``.

    Raises
    ------
    SpectrumReadError
        When the file is missing, is not FITS, or lacks what the layout
        needs; the message names the file and the problem.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from skspecrep.io import read_eso_spectrum
    >>> path = os.path.join(tempfile.mkdtemp(), "ADP.example.fits")
    >>> wave = 3781.0 + 0.01 * np.arange(1000)
    >>> table = fits.BinTableHDU.from_columns(
    ...     [fits.Column(name=n, format="1000D", array=a[None])
    ...      for n, a in [("WAVE", wave), ("FLUX", np.ones(1000)), ("ERR", np.ones(1000))]],
    ...     name="SPECTRUM")
    >>> header = fits.Header({"OBJECT": "HD 10700", "SNR": 120.0})
    >>> fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(path)
    >>> spectrum = read_eso_spectrum(path)
    >>> spectrum.flux.shape, spectrum.meta["object"], spectrum.meta["format"]
    ((1000,), 'HD 10700', 'adp')
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SpectrumReadError(path, "no such file")
    try:
        hdul = fits.open(path, memmap=False)
    except Exception as exc:  # astropy raises several types for non-FITS input
        raise SpectrumReadError(path, f"not a readable FITS file ({exc})") from exc
    with hdul:
        try:
            header = hdul[0].header
            if hdul[0].data is not None and hdul[0].header.get("NAXIS") == 1:
                wavelength, flux, error = _read_s1d(hdul[0])
                layout = "s1d"
            elif "SPECTRUM" in hdul or len(hdul) > 1:
                wavelength, flux, error = _read_adp(hdul)
                layout = "adp"
            else:
                raise ValueError(
                    "neither an ADP file (no SPECTRUM extension) nor an s1d file "
                    "(no 1-D image in the primary HDU)"
                )
        except SpectrumReadError:
            raise
        except Exception as exc:
            raise SpectrumReadError(path, str(exc)) from exc
        meta = {name: _header_value(header, key) for name, key in _KEYWORDS.items()}
    meta["format"] = layout
    meta["path"] = path
    if wavelength.shape != flux.shape:
        raise SpectrumReadError(path, f"WAVE has {wavelength.size} values but FLUX has {flux.size}")
    if not np.all(np.isfinite(wavelength)) or np.any(np.diff(wavelength) <= 0):
        raise SpectrumReadError(path, "wavelengths are not finite and strictly increasing")
    return Spectrum(wavelength, flux, error, meta)


def _header_value(header, key):
    value = header.get(key)
    return None if value is None or isinstance(value, fits.card.Undefined) else value


def _read_adp(hdul):
    hdu = hdul["SPECTRUM"] if "SPECTRUM" in hdul else hdul[1]
    if not isinstance(hdu, fits.BinTableHDU):
        raise ValueError(f"extension {hdu.name!r} is not a binary table")
    names = {name.upper(): name for name in hdu.columns.names}
    missing = [c for c in ("WAVE", "FLUX") if c not in names]
    if missing:
        raise ValueError(
            f"the SPECTRUM table lacks column(s) {', '.join(missing)}; it has {hdu.columns.names}"
        )
    if len(hdu.data) != 1:
        raise ValueError(f"the SPECTRUM table should have one row; it has {len(hdu.data)}")
    # astropy gives each array column as shape (1, N).
    wavelength = np.asarray(hdu.data[names["WAVE"]], dtype=np.float64).reshape(-1)
    flux = np.asarray(hdu.data[names["FLUX"]], dtype=np.float32).reshape(-1)
    error = None
    if "ERR" in names:
        error = np.asarray(hdu.data[names["ERR"]], dtype=np.float32).reshape(-1)
        if np.all(np.isnan(error)):
            error = None
    return wavelength, flux, error


def _read_s1d(hdu):
    header = hdu.header
    missing = [k for k in ("CRVAL1", "CDELT1") if k not in header]
    if missing:
        raise ValueError(f"the s1d header lacks {', '.join(missing)}")
    flux = np.asarray(hdu.data, dtype=np.float32)
    pixel = np.arange(flux.size, dtype=np.float64)
    crpix = float(header.get("CRPIX1", 1.0))
    wavelength = header["CRVAL1"] + (pixel + 1.0 - crpix) * header["CDELT1"]
    return wavelength, flux, None
