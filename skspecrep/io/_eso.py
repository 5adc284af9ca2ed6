"""Reading one ESO 1-D spectrum: Phase-3 ADP tables, DRS s1d images, ESPRESSO S1D tables."""

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
    "berv_kms": ("HIERARCH ESO DRS BERV", "HIERARCH ESO QC BERV"),
    "instrument": "INSTRUME",
}
# Column names, most preferred first (case-insensitive). Air wavelengths come
# first, as HARPS ADP files give them, so that spectra of several instruments
# share one frame.
_WAVE = ("WAVE_AIR", "WAVELENGTH_AIR", "WAVE", "WAVELENGTH", "LAMBDA")
_FLUX = ("FLUX", "FLUX_REDUCED")
_ERROR = ("ERR", "ERROR", "ERR_REDUCED", "FLUX_ERR", "SIGMA")
_QUALITY = ("QUAL", "QUALITY")
# Angstrom per unit of a wavelength column's TUNIT.
_ANGSTROM = {"angstrom": 1.0, "a": 1.0, "aa": 1.0, "nm": 10.0, "um": 1e4, "micron": 1e4}


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
        ADP releases). Pixels that the file flags as bad (a ``QUAL`` or
        ``quality`` column, nonzero) have an infinite error, that is zero
        inverse variance; their flux is left as stored.
    meta : dict
        Header values (None where missing): ``object``, ``snr``,
        ``exptime`` (s), ``mjd_obs``, ``spec_res``, ``specsys``,
        ``wavelmin_nm``, ``wavelmax_nm``, ``spec_bin_nm``, ``berv_kms``,
        ``instrument``; ``format`` (``"adp"``, ``"s1d"`` or ``"table"``),
        ``flux_unit`` (the file's, or None), ``n_flagged`` (pixels flagged
        bad) and ``path``.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None
    meta: dict


def read_eso_spectrum(path: str | os.PathLike) -> Spectrum:
    """Read an ESO 1-D spectrum: a Phase-3 ADP file, a DRS s1d image or an S1D table.

    Three layouts are recognised from the file itself:

    - **ADP** (``ADP.*.fits`` from the ESO archive, as HARPS, FEROS, UVES,
      X-shooter and ESPRESSO products are): the primary HDU has no data;
      extension 1, ``EXTNAME='SPECTRUM'``, is a binary table with one row
      and array columns ``WAVE``, ``FLUX`` (or ``FLUX_REDUCED``) and ``ERR``
      (or ``ERR_REDUCED``), and possibly ``QUAL``.
    - **s1d** (HARPS DRS products): the primary HDU is the 1-D flux, on the
      linear grid ``CRVAL1 + (pixel + 1 - CRPIX1) * CDELT1`` in Angstrom.
    - **table** (ESPRESSO DRS ``S1D`` products): extension 1 is a table of
      one row per pixel, with columns ``wavelength`` (vacuum),
      ``wavelength_air``, ``flux``, ``error`` and ``quality``.

    Wavelengths are returned in Angstrom (a column's ``TUNIT`` of nm or um is
    converted), in air where the file gives both air and vacuum.

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
    quick = _read_quickly(path)
    if quick is not None:
        header, layout, (wavelength, flux, error, flagged, unit) = quick
        return _finish(path, header, layout, wavelength, flux, error, flagged, unit)
    try:
        hdul = fits.open(path, memmap=False)
    except Exception as exc:  # astropy raises several types for non-FITS input
        raise SpectrumReadError(path, f"not a readable FITS file ({exc})") from exc
    with hdul:
        try:
            header = hdul[0].header
            if hdul[0].data is not None and hdul[0].header.get("NAXIS") == 1:
                wavelength, flux, error = _read_s1d(hdul[0])
                layout, flagged, unit = "s1d", 0, _header_value(header, "BUNIT")
            elif "SPECTRUM" in hdul or len(hdul) > 1:
                table = hdul["SPECTRUM"] if "SPECTRUM" in hdul else hdul[1]
                layout, (wavelength, flux, error, flagged, unit) = _read_table(table)
            else:
                raise ValueError(
                    "neither an ADP file (no SPECTRUM extension) nor an s1d file "
                    "(no 1-D image in the primary HDU)"
                )
        except SpectrumReadError:
            raise
        except Exception as exc:
            raise SpectrumReadError(path, str(exc)) from exc
        header = {key: _header_value(header, key) for key in _WANTED}
    return _finish(path, header, layout, wavelength, flux, error, flagged, unit)


def _finish(path, header, layout, wavelength, flux, error, flagged, unit) -> Spectrum:
    """The Spectrum, once its arrays and primary-header values are read."""
    meta = {
        name: next((header.get(k) for k in _keys(key) if header.get(k) is not None), None)
        for name, key in _KEYWORDS.items()
    }
    meta["format"] = layout
    meta["flux_unit"] = unit
    meta["n_flagged"] = flagged
    meta["path"] = path
    if flux.size == 0:
        raise SpectrumReadError(path, NO_PIXELS)
    if wavelength.shape != flux.shape:
        raise SpectrumReadError(path, f"WAVE has {wavelength.size} values but FLUX has {flux.size}")
    if not np.all(np.isfinite(wavelength)) or np.any(np.diff(wavelength) <= 0):
        raise SpectrumReadError(path, "wavelengths are not finite and strictly increasing")
    return Spectrum(wavelength, flux, error, meta)


def _keys(keys) -> tuple:
    return (keys,) if isinstance(keys, str) else tuple(keys)


def _header_value(header, key):
    value = header.get(key)
    return None if value is None or isinstance(value, fits.card.Undefined) else value


#: Primary-header keywords the reader uses: the metadata and the layout's.
_WANTED = frozenset(k for keys in _KEYWORDS.values() for k in _keys(keys)) | {"NAXIS", "BUNIT"}
_BLOCK, _CARD = 2880, 80
#: Why a file whose spectrum has no pixels is refused (it would break every
#: later step: grids, resampling, medians).
NO_PIXELS = "the spectrum has no pixels"


def _read_quickly(path: str):
    """``(header values, layout, arrays)`` of an ADP or S1D table file, or None.

    Archive headers hold about 3,000 cards, and parsing them all took three
    quarters of the time to read a HARPS ADP file (``benchmarks/bench_reading.py``).
    This scans the primary header's cards for the few keywords used and
    parses only the table extension with astropy. Anything unusual (no table
    right after the primary header, a long string continued over cards, a
    malformed file) returns None, and :func:`read_eso_spectrum` reads the
    file the ordinary way, which also words the errors.
    """
    try:
        with open(path, "rb") as f:
            scanned = _scan_primary(f)
            if scanned is None or scanned.get("NAXIS") != 0:
                return None
            rest = f.read()
        table = fits.BinTableHDU.fromstring(rest)
        if not isinstance(table, fits.BinTableHDU):
            return None
        if table.name != "SPECTRUM" and b"EXTNAME = 'SPECTRUM" in rest:
            return None  # a SPECTRUM table further on: the ordinary reader picks it
        layout, arrays = _read_table(table)
    except Exception:
        return None
    return scanned, layout, arrays


def _scan_primary(f) -> dict | None:
    """The wanted keywords of the primary header, the file left at its end; None to give up."""
    head = bytearray()  # grows in place: appending to bytes copies it each time
    while True:
        block = f.read(_BLOCK)
        if len(block) < _BLOCK or (not head and not block.startswith(b"SIMPLE  =")):
            return None
        head += block
        if _card_at(block, _END) is not None:
            break
    values = {}
    for key in _WANTED:
        # "OBJECT  = ..." for standard keywords, "HIERARCH ESO DRS BERV = ..." for long ones.
        prefix = f"{key:<8}=".encode() if len(key) <= 8 else key.encode()
        at = _card_at(head, prefix)
        if at is None:
            continue
        card = head[at : at + _CARD]
        if not card[len(prefix) :].lstrip().startswith(b"=") and len(key) > 8:
            continue
        value = fits.Card.fromstring(card.decode("ascii")).value
        if isinstance(value, str) and value.endswith("&"):
            return None  # continued on CONTINUE cards
        values[key] = None if isinstance(value, fits.card.Undefined) else value
    return values


_END = b"END" + b" " * 77


def _card_at(data: bytes, prefix: bytes) -> int | None:
    """Offset of the first card of ``data`` that starts with ``prefix``."""
    at = data.find(prefix)
    while at != -1 and at % _CARD:
        at = data.find(prefix, at + 1)
    return None if at == -1 else at


def _read_table(hdu):
    """``(layout, (wavelength, flux, error, n_flagged, flux_unit))`` of an ADP or S1D table."""
    if not isinstance(hdu, fits.BinTableHDU):
        if isinstance(hdu, fits.ImageHDU) and hdu.header.get("NAXIS") == 2:
            raise ValueError(
                f"extension {hdu.name or 1!r} is a 2-D image, as in echelle products "
                "(order by order, e.g. ESPRESSO S2D); skspecrep reads 1-D spectra: use the "
                "S1D or ADP product"
            )
        raise ValueError(f"extension {hdu.name or 1!r} is not a binary table")
    names = {name.upper(): name for name in hdu.columns.names}
    found = {
        role: next((names[c] for c in choices if c in names), None)
        for role, choices in (("wave", _WAVE), ("flux", _FLUX), ("error", _ERROR),
                              ("quality", _QUALITY))
    }  # fmt: skip
    missing = [role.upper() for role in ("wave", "flux") if found[role] is None]
    if missing:
        raise ValueError(
            f"the spectrum table lacks column(s) {', '.join(missing)}; it has {hdu.columns.names}"
        )
    if len(hdu.data) == 1 and hdu.columns[found["flux"]].array.ndim > 1:
        layout = "adp"  # one row of array columns; astropy gives them as (1, N)
    elif len(hdu.data) > 1 and hdu.data[found["flux"]].ndim == 1:
        layout = "table"  # one row per pixel
    else:
        raise ValueError(
            f"the spectrum table has {len(hdu.data)} rows and is neither one row of array "
            "columns (ADP) nor one row per pixel (S1D)"
        )

    def column(role, dtype):
        return None if found[role] is None else np.asarray(hdu.data[found[role]], dtype).ravel()

    unit = (hdu.columns[found["wave"]].unit or "angstrom").strip().lower()
    if unit not in _ANGSTROM:
        raise ValueError(f"wavelength unit {unit!r} of column {found['wave']} is not known")
    wavelength = column("wave", np.float64) * _ANGSTROM[unit]
    flux = column("flux", np.float32)
    error = column("error", np.float32)
    if error is not None and np.all(np.isnan(error)):
        error = None
    quality = column("quality", np.int64)
    flagged = 0
    if quality is not None and np.any(quality != 0):
        bad = quality != 0
        flagged = int(bad.sum())
        error = np.full(flux.shape, np.nan, np.float32) if error is None else error.copy()
        error[bad] = np.inf
    return layout, (wavelength, flux, error, flagged, hdu.columns[found["flux"]].unit)


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
