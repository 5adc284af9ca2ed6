"""Reading many spectra onto one wavelength grid, in memory or streamed to disk."""

from __future__ import annotations

import contextlib
import glob
import io
import itertools
import os
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._checks import check_wavelength_grid
from ._eso import SpectrumReadError
from ._specutils import read_spectrum


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
    wavelength_range: tuple[float, float] | str | None = None,
    out: str | os.PathLike | None = None,
    with_error: bool = False,
    on_error: str = "raise",
    n_jobs: int | None = None,
    format: str | None = None,
    progress: bool = True,
) -> SpectraSet:
    """Read many 1-D spectra onto one wavelength grid.

    Each file is read with :func:`read_spectrum` (the ESO layouts, or any
    format specutils reads) and, unless it is
    already on the grid, linearly interpolated onto it. With ``out``, rows
    are written one by one into a float32 ``.npy`` file opened as a memory
    map, so an archive of 270,000 spectra never sits in memory;
    ``numpy.load(out, mmap_mode="r")`` opens it later.

    Archive products of one instrument differ slightly in coverage (a few
    tenths of an Angstrom at the ends). ``wavelength_range="common"`` keeps
    the part of the grid that every file covers, so that no spectrum has
    pixels it does not cover; ``wavelength_range=(low, high)`` keeps that
    window and treats a file that does not cover all of it as an error.

    Parameters
    ----------
    paths : str or sequence of path-like
        The files, or a glob pattern such as ``"archive/ADP.*.fits"``
        (sorted).
    wavelength : array-like of shape (n_pixels,), default=None
        The common grid in Angstrom, increasing; None takes the first
        readable file's.
    wavelength_range : (float, float), "common" or None, default=None
        Restrict the grid: to the window ``(low, high)`` in Angstrom (a file
        that does not cover every pixel of it is an error, see
        ``on_error``), or to the range every file read covers
        (``"common"``). None keeps the whole grid, with NaN where a file
        does not cover it.
    out : path-like, default=None
        A ``.npy`` file to stream the flux into; the errors, with
        ``with_error``, go next to it as ``<name>.error.npy``.
    with_error : bool, default=False
        Also return the uncertainties on the same grid.
    on_error : {"raise", "skip"}, default="raise"
        On an unreadable or malformed file, or one that does not cover the
        ``(low, high)`` window, raise :class:`SpectrumReadError` naming it,
        or leave it out and list it in ``skipped`` with the reason.
    n_jobs : int, default=None
        Files read in parallel by this many processes (joblib; -1: all
        cores); None or 1 reads them one by one. The spectra, the errors and
        the skip list are the same, in the same order, whatever ``n_jobs``.
    format : str, default=None
        The files' format, as for :func:`read_spectrum`: None recognises the
        ESO layouts and leaves other files to specutils' identification;
        ``"eso"``, or a specutils format name such as ``"SDSS-III/IV spec"``.
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    spectra : SpectraSet
        Named tuple ``(flux, wavelength, error, meta, skipped)``. ``meta``
        holds each file's own coverage in ``wave_first`` and ``wave_last``
        (Angstrom).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from skspecrep.io import read_spectra
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     flux = np.full(500 - 10 * i, 100.0 + i, dtype=np.float32)
    ...     start = 5000.0 + 0.02 * i  # each file starts and ends a little later
    ...     header = fits.Header({"CRVAL1": start, "CDELT1": 0.01, "OBJECT": f"star {i}"})
    ...     fits.PrimaryHDU(flux, header).writeto(os.path.join(folder, f"s1d_{i}.fits"))
    >>> spectra = read_spectra(os.path.join(folder, "s1d_*.fits"), progress=False)
    >>> spectra.flux.shape, list(spectra.meta["object"])
    ((3, 500), ['star 0', 'star 1', 'star 2'])
    >>> bool(np.isnan(spectra.flux).any())  # the later files cover less
    True
    >>> common = read_spectra(
    ...     os.path.join(folder, "s1d_*.fits"), wavelength_range="common", progress=False
    ... )
    >>> common.flux.shape, float(common.wavelength[0]), float(common.wavelength[-1])
    ((3, 480), 5000.04, 5004.83)
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
    files = _files(paths)
    common = isinstance(wavelength_range, str)
    if common and wavelength_range != "common":
        raise ValueError(
            f"wavelength_range must be (low, high), 'common' or None; got {wavelength_range!r}."
        )
    window = None if common or wavelength_range is None else _window(wavelength_range)
    grid = None
    if wavelength is not None:
        grid = _restrict(check_wavelength_grid(wavelength, "wavelength"), window)

    pending = iter(files)
    flux_out = error_out = None
    rows, skipped = [], []
    bar = tqdm(total=len(files), unit="file", desc="read_spectra", disable=not progress)
    with contextlib.ExitStack() as stack, bar:
        while grid is None:  # the first readable file sets the grid
            path = next(pending, None)
            if path is None:
                break
            bar.update()
            try:
                spectrum = read_spectrum(path, format=format)
                grid = _restrict(spectrum.wavelength, window, path)
            except SpectrumReadError as exc:
                if on_error == "raise":
                    raise
                skipped.append((exc.path, exc.reason))
                continue
            first = _on_grid_row(spectrum, grid, with_error, window is not None)
            pending = itertools.chain([first], pending)
        results = stack.enter_context(
            contextlib.closing(
                _results(pending, grid, with_error, window is not None, n_jobs, format)
            )
        )
        for result in results:
            if not isinstance(result, _Row) or result.path is not None:
                bar.update()
            if isinstance(result, SpectrumReadError):
                if on_error == "raise":
                    raise result
                skipped.append((result.path, result.reason))
                continue
            if flux_out is None:
                flux_out = _allocate(out, len(files), grid.size)
                if with_error:
                    error_out = _allocate(_error_path(out), len(files), grid.size)
            i = len(rows)
            flux_out[i] = result.flux
            if with_error:
                error_out[i] = result.error
            rows.append(result.meta)
    if not rows:
        reasons = "; ".join(f"{p}: {r}" for p, r in skipped[:5])
        raise ValueError(f"None of the {len(files)} files could be read ({reasons}).")

    meta = pd.DataFrame(rows)
    columns = slice(0, grid.size)
    if common:
        columns = _common_columns(grid, meta)
        grid = grid[columns]
    flux_out = _finish(flux_out, out, len(rows), columns)
    if with_error:
        error_out = _finish(error_out, _error_path(out), len(rows), columns)
    return SpectraSet(flux_out, grid, error_out, meta, skipped)


def _files(paths) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        pattern = os.fspath(paths)
        files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not files:
            raise FileNotFoundError(f"No files match {pattern!r}.")
        return files
    files = [os.fspath(p) for p in paths]
    if not files:
        raise ValueError("paths is empty: no spectra to read.")
    return files


def _window(value) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"wavelength_range must be (low, high), 'common' or None; got {value!r}."
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        raise ValueError(f"wavelength_range must satisfy 0 < low < high; got {value!r}.")
    return low, high


def _restrict(grid: np.ndarray, window, path=None) -> np.ndarray:
    """The pixels of ``grid`` inside ``window``; an error if fewer than two."""
    if window is None:
        return grid
    inside = grid[(grid >= window[0]) & (grid <= window[1])]
    if inside.size < 2:
        where = f"{path}'s grid" if path is not None else "the grid"
        reason = (
            f"{where} ({grid[0]:.2f}-{grid[-1]:.2f} A) has fewer than 2 pixels in "
            f"wavelength_range {window[0]:g}-{window[1]:g} A"
        )
        if path is not None:
            raise SpectrumReadError(path, reason)
        raise ValueError(reason + ".")
    return inside


class _Row(NamedTuple):
    """One spectrum on the grid; ``path`` None for the first file, already counted."""

    flux: np.ndarray
    error: np.ndarray | None
    meta: dict
    path: str | None


def _on_grid_row(spectrum, grid, with_error, must_cover) -> _Row:
    wave = spectrum.wavelength
    path = spectrum.meta["path"]
    if must_cover and (wave[0] > grid[0] or wave[-1] < grid[-1]):
        raise SpectrumReadError(
            path,
            f"covers {wave[0]:.2f}-{wave[-1]:.2f} A, not all of wavelength_range "
            f"{grid[0]:.2f}-{grid[-1]:.2f} A",
        )
    flux = _on_grid(wave, spectrum.flux, grid)
    error = None
    if with_error:
        error = _error_on_grid(wave, spectrum.error, grid)
    meta = {**spectrum.meta, "wave_first": float(wave[0]), "wave_last": float(wave[-1])}
    return _Row(np.asarray(flux, np.float32), error, meta, None)


def _error_on_grid(wave, error, grid) -> np.ndarray:
    """Uncertainties on the grid; a grid pixel that touches a flagged (infinite) one is flagged."""
    if error is None:
        return np.full(grid.size, np.nan, np.float32)
    flagged = np.isinf(error)
    if not flagged.any():
        return _on_grid(wave, error, grid)
    # Interpolating inf itself would give NaN where a grid pixel falls exactly on it.
    out = np.array(_on_grid(wave, np.where(flagged, 0.0, error), grid), dtype=np.float32)
    out[_on_grid(wave, flagged.astype(np.float32), grid) > 0] = np.inf
    return out


def _read_row(path, grid, with_error, must_cover, format):
    """A file's row on the grid, or the SpectrumReadError (returned, to cross processes)."""
    try:
        spectrum = read_spectrum(path, format=format)
        return _on_grid_row(spectrum, grid, with_error, must_cover)._replace(path=path)
    except SpectrumReadError as exc:
        return exc


def _results(pending, grid, with_error, must_cover, n_jobs, format):
    """Rows (and errors) in file order; files read by ``n_jobs`` processes."""
    if n_jobs is None or n_jobs == 1:
        for item in pending:
            yield (
                item
                if isinstance(item, _Row)
                else _read_row(item, grid, with_error, must_cover, format)
            )
        return
    from joblib import Parallel, delayed

    head = next(pending, None)
    if head is None:
        return
    if isinstance(head, _Row):
        yield head
    else:
        pending = itertools.chain([head], pending)
    # Ordered results from a generator keep memory to the few rows in flight.
    rows = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_read_row)(path, grid, with_error, must_cover, format) for path in pending
    )
    try:
        for row in rows:  # noqa: UP028 (yield from would close rows before the finally)
            yield row
    finally:
        # Stopped early (a file raised): the files still being read are dropped,
        # as reading them one by one would never have started them.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tasks which were still being processed")
            rows.close()


def _common_columns(grid: np.ndarray, meta: pd.DataFrame) -> slice:
    """The pixels of ``grid`` that every file covers, as a slice."""
    low, high = meta["wave_first"].max(), meta["wave_last"].min()
    inside = np.flatnonzero((grid >= low) & (grid <= high))
    if inside.size < 2:
        raise ValueError(
            f"The files have no wavelength range in common: "
            f"{meta.loc[meta['wave_first'].idxmax(), 'path']} starts at {low:.2f} A and "
            f"{meta.loc[meta['wave_last'].idxmin(), 'path']} ends at {high:.2f} A."
        )
    return slice(int(inside[0]), int(inside[-1]) + 1)


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


def _finish(array, out, n_rows: int, columns: slice):
    """The first n_rows rows and the given columns; a file on disk is rewritten to them."""
    n_pixels = array.shape[1]
    if out is None:
        if n_rows == len(array) and columns == slice(0, n_pixels):
            return array
        return np.ascontiguousarray(array[:n_rows, columns])
    array.flush()
    del array
    if n_rows < _npy_rows(out) or columns != slice(0, n_pixels):
        _shrink_npy(os.fspath(out), n_rows, n_pixels, columns)
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


def _shrink_npy(path: str, n_rows: int, n_pixels: int, columns: slice) -> None:
    """Rewrite a C-ordered float32 .npy file to its first rows and some columns, in place.

    Row ``i`` moves from offset ``i * n_pixels + columns.start`` to
    ``i * width`` (``width <= n_pixels``), never past rows not yet read, so
    blocks of rows are read and written back in order without a second copy
    of the archive on disk.
    """
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        offset = f.tell()
    width = columns.stop - columns.start
    header = _npy_header(n_rows, width)
    if len(header) != offset:  # a shorter shape string crossed a 64-byte boundary: copy instead
        data = np.load(path, mmap_mode="r")[:n_rows, columns]
        tmp = f"{path}.tmp.npy"
        np.save(tmp, data)
        del data
        os.replace(tmp, path)
        return
    if width != n_pixels:
        data = np.memmap(path, dtype="<f4", mode="r+", offset=offset)
        block = max(1, _BLOCK_VALUES // n_pixels)
        for start in range(0, n_rows, block):
            stop = min(n_rows, start + block)
            rows = data[start * n_pixels : stop * n_pixels].reshape(-1, n_pixels)
            data[start * width : stop * width] = rows[:, columns].ravel()
        data.flush()
        del data
    with open(path, "r+b") as f:
        f.write(header)
    os.truncate(path, offset + n_rows * width * 4)


#: float32 values moved at a time when a file on disk is narrowed.
_BLOCK_VALUES = 2**24
