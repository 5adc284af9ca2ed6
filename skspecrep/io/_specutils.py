"""The bridge to specutils: any format it reads, and our ESO loader registered with it.

specutils is an optional dependency (``pip install skspecrep[specutils]``): it
brings gwcs, asdf and ndcube and adds to every import, so nothing here imports
it until a reader needs it.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from ..exceptions import SpectrumReadError
from ._eso import NO_PIXELS, Spectrum, read_eso_spectrum

#: Label of the ESO loader in specutils' registry.
ESO_FORMAT = "ESO Phase-3"


def _specutils():
    try:
        import specutils
    except ImportError:
        raise ImportError(
            "Reading this format needs specutils, which is not installed: "
            "pip install specutils (or skspecrep[specutils])."
        ) from None
    return specutils


def read_spectrum(path: str | os.PathLike, *, format: str | None = None) -> Spectrum:
    """Read one 1-D spectrum of any layout skspecrep or specutils knows.

    Parameters
    ----------
    path : str or path-like
        The file.
    format : str, default=None
        ``"eso"``: only the ESO layouts of :func:`read_eso_spectrum`. A
        specutils format name (``"SDSS-III/IV spec"``, ``"APOGEE apStar"``,
        ``"wcs1d-fits"``...; ``specutils.Spectrum.read.list_formats()`` prints
        them): read by specutils with that loader. None: the ESO layouts, and
        for any other file specutils' own identification.

    Returns
    -------
    spectrum : Spectrum
        Wavelength in Angstrom (increasing), flux as float32, error as
        float32 standard deviations (from the file's standard deviation,
        variance or inverse variance), infinite where specutils' ``mask``
        flags a pixel; ``meta`` holds ``object`` (from an ``OBJECT``
        header keyword), ``flux_unit``, ``format`` and ``path``.

    Raises
    ------
    SpectrumReadError
        When the file cannot be read, naming it and the reason (for
        ``format=None``, the reasons of both readers).
    ImportError
        When the file needs specutils and it is not installed.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from skspecrep.io import read_spectrum
    >>> path = os.path.join(tempfile.mkdtemp(), "s1d.fits")
    >>> header = fits.Header({"CRVAL1": 5000.0, "CDELT1": 0.01, "OBJECT": "HD 10700"})
    >>> fits.PrimaryHDU(np.ones(100, dtype=np.float32), header).writeto(path)
    >>> spectrum = read_spectrum(path)
    >>> spectrum.flux.shape, spectrum.meta["format"]
    ((100,), 's1d')
    """
    path = os.fspath(path)
    if format == "eso":
        return read_eso_spectrum(path)
    if format is None:
        try:
            return read_eso_spectrum(path)
        except SpectrumReadError as exc:
            if exc.reason in ("no such file", NO_PIXELS) or "not a readable FITS" in exc.reason:
                raise
            eso_reason = exc.reason
        try:
            _specutils()
        except ImportError:
            raise SpectrumReadError(
                path, f"{eso_reason} (files of other formats need specutils: pip install specutils)"
            ) from None
        try:
            return _read_with_specutils(path, None)
        except SpectrumReadError as exc:
            raise SpectrumReadError(
                path, f"not an ESO layout ({eso_reason}), nor read by specutils ({exc.reason})"
            ) from None
    return _read_with_specutils(path, format)


def _read_with_specutils(path: str, format: str | None) -> Spectrum:
    specutils = _specutils()
    from astropy import units as u
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

    register_specutils_loaders()
    if not os.path.exists(path):
        raise SpectrumReadError(path, "no such file")
    try:
        spectrum = specutils.Spectrum.read(path, format=format)
    except Exception as exc:  # loaders raise anything from IORegistryError to KeyError
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SpectrumReadError(path, f"{type(exc).__name__}: {first_line}") from None
    if spectrum.flux.ndim != 1:
        raise SpectrumReadError(
            path,
            f"it holds {spectrum.flux.shape[0]} spectra (flux of shape {spectrum.flux.shape}); "
            "read it with specutils and pass the spectra one by one",
        )
    try:
        wavelength = spectrum.spectral_axis.to_value(u.AA, equivalencies=u.spectral())
    except u.UnitConversionError as exc:
        raise SpectrumReadError(path, f"its spectral axis is not a wavelength ({exc})") from None
    wavelength = np.asarray(wavelength, dtype=np.float64)
    flux = np.asarray(spectrum.flux.value, dtype=np.float32)
    if flux.size == 0:
        raise SpectrumReadError(path, NO_PIXELS)
    error = None
    uncertainty = spectrum.uncertainty
    if uncertainty is not None:
        values = np.asarray(uncertainty.array, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if isinstance(uncertainty, StdDevUncertainty):
                error = values
            elif isinstance(uncertainty, VarianceUncertainty):
                error = np.sqrt(values)
            elif isinstance(uncertainty, InverseVariance):
                error = 1.0 / np.sqrt(values)  # ivar 0: an infinite error
            else:
                raise SpectrumReadError(
                    path, f"its uncertainty is a {type(uncertainty).__name__}, not a "
                    "standard deviation, variance or inverse variance",
                )  # fmt: skip
        error = error.astype(np.float32)
    flagged = 0
    if spectrum.mask is not None and np.any(spectrum.mask):
        bad = np.asarray(spectrum.mask, dtype=bool)
        flagged = int(bad.sum())
        error = np.full(flux.shape, np.nan, np.float32) if error is None else error
        error[bad] = np.inf
    if wavelength.size > 1 and wavelength[0] > wavelength[-1]:
        wavelength, flux = wavelength[::-1], flux[::-1]
        error = None if error is None else error[::-1]
    if not np.all(np.isfinite(wavelength)) or np.any(np.diff(wavelength) <= 0):
        raise SpectrumReadError(path, "wavelengths are not finite and strictly increasing")
    header = spectrum.meta.get("header", {}) if isinstance(spectrum.meta, dict) else {}
    meta = {
        "object": header.get("OBJECT") if hasattr(header, "get") else None,
        "flux_unit": str(spectrum.flux.unit),
        "format": format or "specutils",
        "n_flagged": flagged,
        "path": path,
    }
    return Spectrum(wavelength, np.ascontiguousarray(flux), error, meta)


# ------------------------------------------------------------------- loader


def _eso_identify(origin, path, *args, **kwargs) -> bool:
    """Whether specutils should read ``path`` with the ESO loader."""
    path = getattr(path, "name", path)  # specutils passes a path or an open file
    if not isinstance(path, str | os.PathLike) or not os.fspath(path).lower().endswith(
        (".fits", ".fit", ".fits.gz")
    ):
        return False
    from astropy.io import fits

    try:
        with fits.open(path, memmap=True) as hdul:
            header = hdul[0].header
            if header.get("ORIGIN", "").strip() != "ESO" and "INSTRUME" not in header:
                return False
            table = hdul["SPECTRUM"] if "SPECTRUM" in hdul else (hdul[1] if len(hdul) > 1 else None)
            if table is None or not isinstance(table, fits.BinTableHDU):
                return False
            names = {n.upper() for n in table.columns.names}
            return bool(names & {"WAVE", "WAVELENGTH", "WAVELENGTH_AIR"}) and bool(
                names & {"FLUX", "FLUX_REDUCED"}
            )
    except Exception:
        return False


def _eso_loader(path, **kwargs):
    """A specutils Spectrum from an ESO Phase-3 ADP file or an ESPRESSO S1D table."""
    path = getattr(path, "name", path)
    from astropy import units as u
    from astropy.nddata import StdDevUncertainty
    from specutils import Spectrum as SpecutilsSpectrum

    spectrum = read_eso_spectrum(path)
    error = spectrum.error
    mask = None if error is None else np.isinf(error)
    uncertainty = None
    if error is not None:
        # A flagged pixel's error is infinite here; specutils says it with the mask.
        uncertainty = StdDevUncertainty(np.where(mask, np.nan, error))
    try:
        unit = u.Unit(spectrum.meta.get("flux_unit") or "")
    except ValueError:
        unit = u.dimensionless_unscaled
    return SpecutilsSpectrum(
        flux=spectrum.flux * unit,
        spectral_axis=spectrum.wavelength * u.AA,
        uncertainty=uncertainty,
        mask=mask,
        meta={"header": None, **spectrum.meta},
    )


def register_specutils_loaders() -> None:
    """Register skspecrep's ESO Phase-3 loader with specutils.

    Afterwards ``specutils.Spectrum.read(path)`` opens HARPS, FEROS, UVES,
    X-shooter and ESPRESSO ADP files and ESPRESSO S1D tables, which
    specutils has no loader for (format name :data:`ESO_FORMAT`). Importing
    :mod:`skspecrep.io` registers it when specutils is already imported;
    calling this registers it in any case. Calling it again does nothing.

    Examples
    --------
    >>> from skspecrep.io import register_specutils_loaders
    >>> register_specutils_loaders()
    >>> from astropy.io import registry
    >>> from specutils import Spectrum
    >>> "ESO Phase-3" in registry.get_formats(Spectrum, "Read")["Format"]
    True
    """
    specutils = _specutils()
    from astropy.io import registry

    if ESO_FORMAT in registry.get_formats(specutils.Spectrum, "Read")["Format"]:
        return
    from specutils.io.registers import data_loader

    # Above the generic "tabular-fits" (6), which would claim these tables and fail on them.
    data_loader(ESO_FORMAT, identifier=_eso_identify, extensions=["fits"], priority=15)(_eso_loader)


def register_if_imported() -> None:
    """Register the loader now if specutils is already imported (a cheap check)."""
    if "specutils" in sys.modules:
        register_specutils_loaders()
