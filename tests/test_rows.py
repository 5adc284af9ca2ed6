"""RowSource: reading validated float32 blocks of in-memory and on-disk spectra."""

import pickle

import h5py
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from skspecrep._rows import RowSource, is_on_disk


@pytest.fixture(scope="module")
def table():
    return np.random.RandomState(0).normal(1.0, 0.1, size=(50, 13)).astype(np.float32)


@pytest.fixture(scope="module")
def stores(table, tmp_path_factory):
    """The same table as a .npy memory map, an HDF5 dataset and a zarr array."""
    folder = tmp_path_factory.mktemp("stores")
    np.save(folder / "x.npy", table)
    with h5py.File(folder / "x.h5", "w") as f:
        f.create_dataset("flux", data=table, chunks=(4, 13))
    z = zarr.create_array(str(folder / "x.zarr"), shape=table.shape, chunks=(8, 13), dtype="f4")
    z[:] = table
    h5 = h5py.File(folder / "x.h5", "r")
    yield {
        "memmap": np.load(folder / "x.npy", mmap_mode="r"),
        "hdf5": h5["flux"],
        "zarr": zarr.open_array(str(folder / "x.zarr"), mode="r"),
    }
    h5.close()


KINDS = ["memmap", "hdf5", "zarr"]


@pytest.mark.parametrize("kind", KINDS)
def test_on_disk_arrays_are_recognised(stores, table, kind):
    assert is_on_disk(stores[kind])
    assert not is_on_disk(table)
    assert not is_on_disk(table.tolist())


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.integers(0, 49), max_size=40))
def test_any_row_selection_reads_the_rows_asked_for(stores, table, kind, rows):
    """Repeats, any order, runs and gaps: the block is table[rows], float32 and writable."""
    block = RowSource(stores[kind]).read(np.array(rows, dtype=int))
    np.testing.assert_array_equal(block, table[rows])
    assert block.dtype == np.float32 and block.flags.c_contiguous and block.flags.writeable


@pytest.mark.parametrize("kind", KINDS + ["memory"])
def test_blocks_cover_every_row_once_in_order(stores, table, kind):
    source = RowSource(table if kind == "memory" else stores[kind])
    seen = list(source.blocks(7))
    assert [r.start for r, _ in seen] == list(range(0, 50, 7))
    np.testing.assert_array_equal(np.concatenate([b for _, b in seen]), table)


def test_memmap_rows_are_read_from_the_file_not_through_the_map(stores, table, monkeypatch):
    """Reading through the map would grow resident memory; pread does not touch it."""
    source = RowSource(stores["memmap"])
    assert source._file is not None
    monkeypatch.setattr(np.memmap, "__getitem__", None)  # any access through the map fails
    np.testing.assert_array_equal(source.read(slice(3, 9)), table[3:9])
    np.testing.assert_array_equal(source.read([40, 2, 2]), table[[40, 2, 2]])


def test_views_of_a_memmap_read_their_own_rows(stores, table):
    view = stores["memmap"][10:30]
    source = RowSource(view)
    assert source._file is not None and source.shape == (20, 13)
    np.testing.assert_array_equal(source.read(slice(0, 20)), table[10:30])
    np.testing.assert_array_equal(source.read([19, 0]), table[[29, 10]])


def test_memmaps_that_are_not_whole_rows_are_read_through_the_map(stores, table):
    columns = stores["memmap"][:, 2:5]
    source = RowSource(columns)
    assert source._file is None
    np.testing.assert_array_equal(source.read([1, 4]), table[[1, 4], 2:5])


def test_float64_and_integer_sources_come_out_as_float32(tmp_path):
    ints = np.arange(12, dtype=np.int16).reshape(3, 4)
    np.save(tmp_path / "i.npy", ints)
    block = RowSource(np.load(tmp_path / "i.npy", mmap_mode="r")).read(slice(None))
    np.testing.assert_array_equal(block, ints.astype(np.float32))
    assert block.dtype == np.float32


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_pixel_is_reported_with_its_row(tmp_path, table, kind, bad):
    dirty = table.copy()
    dirty[37, 5] = bad
    if kind == "memmap":
        np.save(tmp_path / "d.npy", dirty)
        X = np.load(tmp_path / "d.npy", mmap_mode="r")
    elif kind == "hdf5":
        f = h5py.File(tmp_path / "d.h5", "w")
        X = f.create_dataset("flux", data=dirty)
    else:
        X = zarr.create_array(str(tmp_path / "d.zarr"), shape=dirty.shape, dtype="f4")
        X[:] = dirty
    source = RowSource(X, "spectra")
    source.read(slice(0, 37))  # the rows before it are fine
    with pytest.raises(ValueError, match=r"spectra contains NaN or infinity in row 37"):
        source.read(slice(30, 40))
    with pytest.raises(ValueError, match=r"row 37"):
        source.read([0, 37, 12])


def test_bad_sources_and_indices_are_named(table):
    with pytest.raises(ValueError, match=r"2-D array of spectra.*shape \(13,\)"):
        RowSource(table[0])
    with pytest.raises(TypeError, match="real numbers"):
        RowSource(table.astype(complex))
    with pytest.raises(IndexError, match=r"\[0, 50\)"):
        RowSource(table).read([3, 50])
    with pytest.raises(TypeError, match="integers"):
        RowSource(table).read(np.array([0.5]))


def test_a_memmap_source_survives_pickling_after_reading(stores, table):
    """DataLoader workers get a pickled source: the open file must not travel."""
    source = RowSource(stores["memmap"])
    source.read(slice(0, 2))
    assert source._fd is not None
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone.read([5, 6]), table[[5, 6]])


def test_blocks_of_chosen_rows_come_in_their_order_with_their_positions():
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    rows = np.array([1, 2, 5, 8, 9])
    got = list(RowSource(X).blocks(2, rows))
    assert [p for p, _ in got] == [slice(0, 2), slice(2, 4), slice(4, 5)]
    np.testing.assert_array_equal(np.vstack([b for _, b in got]), X[rows])
