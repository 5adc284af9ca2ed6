"""Reading many spectra onto one wavelength grid, in memory or streamed to disk."""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._preprocessing import _check_grid
from ._eso import SpectrumReadError, read_eso_spectrum


class SpectraSet(NamedTuple):
    """Spectra on a common grid, as returned by :func:`read_spectra`.

    Attributes
    ----------
    flux : ndarray or numpy.memmap of shape (n_read, n_pixels)
        float32 flux, NaN where a file does not cover the grid; a memmap of
        the ``.npy`` file when ``out`` was given.
    wavelength : ndarray of shape (n_pixels,)
        The common grid in Angstrom.
    error : ndarray, numpy.memmap or None
        float32 uncertainties like ``flux`` (NaN where a file has none) when
        ``with_error=True``, else None.
    meta : pandas.DataFrame
        One row per spectrum read, in ``flux`` order: the header values of
        :func:`read_eso_spectrum` and ``path``.
    skipped : list of (str, str)
        Files left out with ``on_error="skip"``, with the reason.
    """

    flux: np.ndarray
    wavelength: np.ndarray
    error: np.ndarray | None
    meta: pd.DataFrame
    skipped: list


def read_spectra(
    paths: str | Sequence[str | os.PathLike],
    *,
    wavelength: np.ndarray | None = None,
    out: str | os.PathLike | None = None,
    with_error: bool = False,
    on_error: str = "raise",
    progress: bool = True,
) -> SpectraSet:
    """Read many 1-D spectra onto one wavelength grid.

    Each file is read with :func:`read_eso_spectrum` and, unless it is
    already on the grid, linearly interpolated onto it (NaN outside its
    coverage). With ``out``, rows are written one by one into a float32
    ``.npy`` file opened as a memory map, so an archive of 270,000 spectra
    never sits in memory; ``numpy.load(out, mmap_mode="r")`` opens it later.

    Parameters
    ----------
    paths : str or sequence of path-like
        The files, or a glob pattern such as ``"archive/ADP.*.fits"``
        (sorted).
    wavelength : array-like of shape (n_pixels,), default=None
        The common grid in Angstrom, increasing; None takes the first file's.
    out : path-like, default=None
        A ``.npy`` file to stream the flux into; the errors, with
        ``with_error``, go next to it as ``<name>.error.npy``.
    with_error : bool, default=False
        Also return the uncertainties on the same grid.
    on_error : {"raise", "skip"}, default="raise"
        On an unreadable or malformed file, raise :class:`SpectrumReadError`
        naming it, or leave it out and list it in ``skipped`` with the
        reason.
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    spectra : SpectraSet
        Named tuple ``(flux, wavelength, error, meta, skipped)``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from skspecrep.io import read_spectra
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     flux = np.full(500, 100.0 + i, dtype=np.float32)
    ...     header = fits.Header({"CRVAL1": 5000.0, "CDELT1": 0.01, "OBJECT": f"star {i}"})
    ...     fits.PrimaryHDU(flux, header).writeto(os.path.join(folder, f"s1d_{i}.fits"))
    >>> spectra = read_spectra(os.path.join(folder, "s1d_*.fits"), progress=False)
    >>> spectra.flux.shape, list(spectra.meta["object"])
    ((3, 500), ['star 0', 'star 1', 'star 2'])
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
    if isinstance(paths, str | os.PathLike):
        pattern = os.fspath(paths)
        files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not files:
            raise FileNotFoundError(f"No files match {pattern!r}.")
    else:
        files = [os.fspath(p) for p in paths]
        if not files:
            raise ValueError("paths is empty: no spectra to read.")
    grid = None if wavelength is None else _check_grid(wavelength, "wavelength")

    flux_out = error_out = None
    rows, skipped = [], []
    for path in tqdm(files, unit="file", desc="read_spectra", disable=not progress):
        try:
            spectrum = read_eso_spectrum(path)
        except SpectrumReadError as exc:
            if on_error == "raise":
                raise
            skipped.append((exc.path, exc.reason))
            continue
        if grid is None:
            grid = spectrum.wavelength.copy()
        if flux_out is None:
            flux_out = _allocate(out, len(files), grid.size)
            if with_error:
                error_out = _allocate(_error_path(out), len(files), grid.size)
        i = len(rows)
        flux_out[i] = _on_grid(spectrum.wavelength, spectrum.flux, grid)
        if with_error:
            if spectrum.error is None:
                error_out[i] = np.nan
            else:
                error_out[i] = _on_grid(spectrum.wavelength, spectrum.error, grid)
        rows.append(spectrum.meta)
    if not rows:
        reasons = "; ".join(f"{p}: {r}" for p, r in skipped[:5])
        raise ValueError(f"None of the {len(files)} files could be read ({reasons}).")

    flux_out = _finish(flux_out, out, len(rows))
    if with_error:
        error_out = _finish(error_out, _error_path(out), len(rows))
    return SpectraSet(flux_out, grid, error_out, pd.DataFrame(rows), skipped)


def _on_grid(wave: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    if wave.shape == grid.shape and np.array_equal(wave, grid):
        return values
    return np.interp(grid, wave, values, left=np.nan, right=np.nan)


def _error_path(out):
    if out is None:
        return None
    root, ext = os.path.splitext(os.fspath(out))
    return f"{root}.error{ext or '.npy'}"


def _allocate(out, n_rows: int, n_pixels: int):
    if out is None:
        return np.empty((n_rows, n_pixels), dtype=np.float32)
    return np.lib.format.open_memmap(
        os.fspath(out), mode="w+", dtype=np.float32, shape=(n_rows, n_pixels)
    )


def _finish(array, out, n_rows: int):
    """The first n_rows rows; an on-disk file is shrunk to them, not left padded."""
    if out is None:
        return array[:n_rows] if n_rows < len(array) else array
    n_pixels = array.shape[1]
    array.flush()
    del array
    if n_rows < _npy_rows(out):
        _shrink_npy(os.fspath(out), n_rows, n_pixels)
    return np.load(os.fspath(out), mmap_mode="r+")


def _npy_rows(path) -> int:
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        shape, _, _ = np.lib.format.read_array_header_1_0(f)
    return shape[0]


def _npy_header(n_rows: int, n_pixels: int) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (n_rows, n_pixels)}
    )
    return header.getvalue()


def _shrink_npy(path: str, n_rows: int, n_pixels: int) -> None:
    """Rewrite a C-ordered .npy file's header for fewer rows and cut the rest."""
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        offset = f.tell()
    header = _npy_header(n_rows, n_pixels)
    if len(header) == offset:
        with open(path, "r+b") as f:
            f.write(header)
        os.truncate(path, offset + n_rows * n_pixels * 4)
    else:  # a shorter shape string crossed a 64-byte boundary: copy instead
        data = np.load(path, mmap_mode="r")[:n_rows]
        tmp = f"{path}.tmp.npy"
        np.save(tmp, data)
        del data
        os.replace(tmp, path)
