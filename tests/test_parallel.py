"""dask_transform: encoding Dask arrays block by block, on a local cluster."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from skspecrep import MedianNormalizer, SpectralAutoencoder
from skspecrep.parallel import dask_transform

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")

# One worker runs the whole module, so the expensive fixture is built once.
pytestmark = pytest.mark.xdist_group("dask")


@pytest.fixture(scope="module")
def model(spectra):
    X = spectra[0].astype(np.float32)
    ae = make_pipeline(
        MedianNormalizer(), SpectralAutoencoder(n_components=3, max_epochs=2, random_state=0)
    )
    return ae.fit(X), X


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def test_two_workers_encode_a_zarr_archive_as_in_memory(model, cluster, tmp_path):
    pipe, X = model
    zarr = pytest.importorskip("zarr")
    store = zarr.create_array(str(tmp_path / "s.zarr"), shape=X.shape, chunks=(48, 128), dtype="f4")
    store[:] = X
    lazy = da.from_zarr(str(tmp_path / "s.zarr"))  # blocks split pixels too: merged first
    codes = dask_transform(pipe, lazy)
    assert codes.shape == (len(X), 3) and codes.dtype == np.float32
    assert codes.chunks[0] == lazy.chunks[0]
    with distributed.get_task_stream(cluster) as tasks:
        result = cluster.compute(codes).result()
    # Equal up to float32 rounding: a block of other length than the chunks
    # encoded in memory (here the last, of 8 spectra) may take another
    # convolution kernel (with dask 2026.8 it did, by 4e-7).
    np.testing.assert_allclose(result, pipe.transform(X), rtol=1e-5, atol=1e-6)
    # Six blocks of spectra: both workers took a share.
    assert len({task["worker"] for task in tasks.data}) == 2


def test_any_row_chunking_gives_the_same_codes(model):
    pipe, X = model
    expected = pipe.transform(X)
    for chunks in [(1, 256), (37, 64), (200, 256)]:
        got = dask_transform(pipe, da.from_array(X, chunks=chunks)).compute(scheduler="sync")
        # One-spectrum blocks may take another convolution kernel: float32 rounding.
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_works_for_any_transformer_and_other_methods(spectra):
    X = spectra[0]
    pca = PCA(4).fit(X)
    lazy = da.from_array(X, chunks=(50, 256))
    np.testing.assert_allclose(dask_transform(pca, lazy).compute(), pca.transform(X))
    back = dask_transform(pca, da.from_array(pca.transform(X), chunks=(50, 4)),
                          method="inverse_transform")  # fmt: skip
    assert back.shape == X.shape


def test_bad_input_fails_at_once_with_the_estimators_message(model):
    pipe, X = model
    with pytest.raises(ValueError, match="256 features"):
        dask_transform(pipe, da.from_array(X[:, :100], chunks=(50, 100)))
    with pytest.raises(TypeError, match="dask.array.Array"):
        dask_transform(pipe, X)
    with pytest.raises(ValueError, match="2-D"):
        dask_transform(pipe, da.from_array(X[0]))
    with pytest.raises(TypeError, match="no method 'decode'"):
        dask_transform(pipe, da.from_array(X), method="decode")
    with pytest.raises(ValueError, match="one row per spectrum"):
        dask_transform(pipe, da.from_array(X), method="score")
