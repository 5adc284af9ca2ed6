"""Spectra arrays read a block of rows at a time: in memory or on disk.

A :class:`RowSource` gives one interface to a 2-D array of spectra, wherever
it lives: a numpy array, a ``numpy.memmap``, an HDF5 dataset (h5py) or a zarr
array. Training and encoding read it block by block, so an archive larger
than memory never has to be loaded, and every block is checked for NaN and
infinity as it is read, with an error that names the row.

Memory-mapped ``.npy`` files are read with ``os.pread`` rather than through
the map: pages touched through a map count towards the process's resident
memory until the kernel reclaims them, so a pass over a 5 GB map would show
5 GB of RSS. Reading into small buffers keeps the footprint flat, and the
operating system's page cache still makes repeated epochs fast.
"""

from __future__ import annotations

import mmap
import os
import warnings
from numbers import Integral

import numpy as np

from .exceptions import ChunkedStorageWarning, NonFiniteRowError

__all__ = ["NonFiniteRowError", "RowSource", "is_on_disk", "warn_if_chunked_for_shuffling"]


def _h5py_dataset_type():
    try:
        import h5py
    except ImportError:
        return None
    return h5py.Dataset


def _zarr_array_type():
    try:
        import zarr
    except ImportError:
        return None
    return zarr.Array


def is_on_disk(X) -> bool:
    """Whether ``X`` is an on-disk array read block by block.

    True for a ``numpy.memmap``, an ``h5py.Dataset`` and a ``zarr.Array``:
    these are streamed and validated a block at a time instead of being
    loaded whole.
    """
    if isinstance(X, np.memmap):
        return True
    types = tuple(t for t in (_h5py_dataset_type(), _zarr_array_type()) if t is not None)
    return bool(types) and isinstance(X, types)


class RowSource:
    """Rows of a 2-D spectra array, read as validated float32 blocks.

    Parameters
    ----------
    X : ndarray, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
        The spectra. Real-valued; any float or integer dtype.
    name : str, default="X"
        Name used in error messages.
    validate : bool, default=True
        Check every block read for NaN and infinity. Sources already checked
        whole (in-memory arrays that went through ``check_array``) skip it.
    """

    def __init__(self, X, name: str = "X", *, validate: bool = True):
        shape = getattr(X, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError(
                f"{name} must be a 2-D array of spectra (n_samples, n_features); got "
                f"{'an object without a shape' if shape is None else f'shape {tuple(shape)}'}."
            )
        dtype = np.dtype(X.dtype)
        if dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers; got dtype {dtype}.")
        self.X = X
        self.name = name
        self.validate = validate
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = dtype
        self._file = _memmap_file_geometry(X) if isinstance(X, np.memmap) else None
        self._fd = None

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def n_features(self) -> int:
        return self.shape[1]

    def __getstate__(self):
        # File descriptors (and h5py handles) do not survive pickling; the
        # descriptor is reopened lazily in the new process (DataLoader workers).
        state = self.__dict__.copy()
        state["_fd"] = None
        return state

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def read(self, rows) -> np.ndarray:
        """Rows as a new, writable, C-contiguous float32 array.

        Parameters
        ----------
        rows : slice or array-like of int
            Which rows, in the order wanted; repeats are allowed.

        Returns
        -------
        block : ndarray of shape (n_rows, n_features), float32
        """
        if isinstance(rows, slice):
            start, stop, step = rows.indices(len(self))
            if step == 1:
                block = self._read_range(start, max(start, stop))
                self._check(block, np.arange(start, max(start, stop)))
                return block
            rows = np.arange(start, stop, step)
        rows = np.asarray(rows)
        if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
            raise TypeError("rows must be a slice or a 1-D array of integers.")
        # Disk formats want increasing, unique indices: read each row once, in
        # order, then put them back in the order asked for.
        unique, inverse = np.unique(rows, return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= len(self)):
            raise IndexError(f"row indices must lie in [0, {len(self)}).")
        block = self._read_sorted(unique)
        self._check(block, unique)
        if unique.size == rows.size and np.array_equal(unique, rows):
            return block
        return block[inverse.reshape(-1)]

    def blocks(self, rows_per_block: int, rows=None):
        """Yield ``(positions, block)`` over all rows in order, or over the given ``rows``.

        ``positions`` is the slice of the rows read: of all rows, or of the
        array ``rows`` (sorted, for sequential reads).
        """
        n = len(self) if rows is None else len(rows)
        for start in range(0, n, rows_per_block):
            positions = slice(start, min(start + rows_per_block, n))
            yield positions, self.read(positions if rows is None else rows[positions])

    # ----------------------------------------------------------- internals

    def _check(self, block: np.ndarray, row_ids: np.ndarray) -> None:
        if not self.validate:
            return
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            first = int(row_ids[np.argmax(bad)])
            raise NonFiniteRowError(
                f"{self.name} contains NaN or infinity in row {first} "
                f"({int(bad.sum())} bad row(s) in the block read); replace or drop "
                "those spectra (or mask the pixels) before fitting.",
                first,
            )

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        if self._file is not None:
            return self._pread_runs(np.array([start]), np.array([stop]))
        return _float32_copy(self.X[start:stop])

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        if rows.size == 0:
            return np.empty((0, self.n_features), dtype=np.float32)
        # Consecutive indices form runs that are read in one call each.
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = rows[np.r_[0, breaks]]
        stops = rows[np.r_[breaks - 1, rows.size - 1]] + 1
        if self._file is not None:
            return self._pread_runs(starts, stops)
        if starts.size == 1:
            return _float32_copy(self.X[int(starts[0]) : int(stops[0])])
        if isinstance(self.X, np.ndarray):
            return _float32_copy(self.X[rows])
        zarr_type = _zarr_array_type()
        if zarr_type is not None and isinstance(self.X, zarr_type):
            return _float32_copy(self.X.get_orthogonal_selection((rows, slice(None))))
        # h5py reads a sorted index list in one call.
        return _float32_copy(self.X[rows])

    def _pread_runs(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        path, offset, itemsize = self._file
        if self._fd is None:
            self._fd = os.open(path, os.O_RDONLY)
        row_bytes = self.n_features * itemsize
        n_rows = int((stops - starts).sum())
        raw = np.empty((n_rows, self.n_features), dtype=self.dtype)
        view = memoryview(raw.reshape(-1).view(np.uint8))
        filled = 0
        for start, stop in zip(starts.tolist(), stops.tolist()):
            want = (stop - start) * row_bytes
            position = offset + start * row_bytes
            got = 0
            while got < want:
                n = os.preadv(self._fd, [view[filled + got : filled + want]], position + got)
                if n == 0:
                    raise OSError(f"{path} ended before row {stop} of {self.name}.")
                got += n
            filled += want
        return _float32_copy(raw)


def _float32_copy(block) -> np.ndarray:
    """A new writable C-contiguous float32 array (torch may write to it)."""
    block = np.asarray(block)
    if block.dtype == np.float32 and block.flags.c_contiguous and block.flags.owndata:
        return block
    return np.array(block, dtype=np.float32, order="C", copy=True)


def _memmap_file_geometry(X: np.memmap):
    """(path, byte offset of row 0, itemsize) when rows can be read from the file.

    Needs a C-ordered view of whole rows of a file-backed map; anything
    else (a column slice, a Fortran-ordered map) returns None and is read
    through the map.
    """
    if X.filename is None or X.ndim != 2 or not X.flags.c_contiguous:
        return None
    root = X
    while isinstance(root.base, np.memmap):
        root = root.base
    if not isinstance(root.base, mmap.mmap):
        return None
    # numpy sets ``offset`` on the map it opened; views inherit it unchanged,
    # so add how far this view starts after the root's first byte.
    shift = X.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if shift < 0 or not isinstance(root.offset, Integral):
        return None
    if os.path.getsize(X.filename) < root.offset + shift + X.nbytes:
        return None
    return os.fspath(X.filename), int(root.offset) + int(shift), X.dtype.itemsize


#: Rows per compressed HDF5 chunk above which shuffled training spends most
#: of its reading on rows it does not use.
_MAX_CHUNK_ROWS = 64


def warn_if_chunked_for_shuffling(X) -> None:
    """Warn when X is an HDF5 dataset compressed in chunks of many rows.

    HDF5 decompresses a whole chunk to read any row of it. Measured with
    4,000 spectra of 2,048 pixels (gzip): an epoch takes 2x the in-memory
    time with chunks of 8 rows, 4x with 64, 8x with 512 and 10x with all
    rows in one chunk. zarr was measured too and is insensitive to it.
    """
    dataset = _h5py_dataset_type()
    if dataset is None or not isinstance(X, dataset):
        return
    if X.chunks is None or X.compression is None or X.chunks[0] <= _MAX_CHUNK_ROWS:
        return
    warnings.warn(
        f"X is an HDF5 dataset compressed in chunks of {X.chunks[0]} rows. HDF5 "
        "decompresses a whole chunk to read any spectrum in it, so shuffled training "
        "reads up to that many spectra for each one it uses. For training, store it "
        f"in chunks of a few rows, e.g. h5py's chunks=(8, {X.shape[1]}).",
        ChunkedStorageWarning,
        stacklevel=4,
    )
