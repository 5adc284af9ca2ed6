"""Encoding archives too large for one machine, block by block, with Dask.

Training runs data-parallel through accelerate (``SpectralAutoencoder(
distributed=True)``); encoding needs no gradient exchange at all, so it
scales out on any Dask cluster: each block of spectra is encoded by a copy of
the fitted model on a worker, and the codes come back as a Dask array.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dask_transform"]


def dask_transform(estimator, X, *, method: str = "transform"):
    """Apply a fitted estimator to a Dask array of spectra, block by block.

    Each block of rows is sent, with a copy of the estimator, to a Dask
    worker and passed to ``estimator.<method>``; the result is a lazy Dask
    array whose blocks are the encoded blocks, so an archive in zarr or HDF5
    is encoded by a whole cluster without ever sitting in one place. The
    result equals ``estimator.<method>`` on the whole array computed in
    memory.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Anything with the method, e.g. a fitted
        :class:`~skspecrep.SpectralAutoencoder` or a Pipeline ending in one.
        It is pickled to the workers.
    X : dask.array.Array of shape (n_samples, n_features)
        Spectra, e.g. ``dask.array.from_zarr(path)``. Blocks along the pixel
        axis are merged first: each spectrum must be encoded whole.
    method : str, default="transform"
        Name of the method that maps a block of spectra to one row per
        spectrum (``"transform"``, ``"predict"``...).

    Returns
    -------
    codes : dask.array.Array of shape (n_samples, n_outputs)
        Lazy; call ``.compute()``, or ``.to_zarr(...)`` to write the codes
        without gathering them.

    Raises
    ------
    TypeError
        If ``X`` is not a Dask array, or the estimator has no such method.
    ValueError
        If ``X`` is not 2-D, or the estimator rejects its first spectrum
        (e.g. a wrong pixel count): the error comes at once, not when the
        graph runs.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.parallel import dask_transform
    >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(60, 32)).astype(np.float32)
    >>> ae = SpectralAutoencoder(n_components=3, max_epochs=2, random_state=0).fit(X)
    >>> codes = dask_transform(ae, da.from_array(X, chunks=(25, 32)))
    >>> codes.shape, codes.chunks[0]
    ((60, 3), (25, 25, 10))
    >>> bool(np.allclose(codes.compute(), ae.transform(X), rtol=1e-5, atol=1e-6))
    True
    """
    try:
        import dask.array as da
    except ImportError:
        raise ImportError(
            "dask_transform needs Dask: pip install 'dask[array]' (and 'distributed' "
            "for a cluster), or skspecrep[dask]."
        ) from None
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X must be a dask.array.Array; got {type(X).__name__}. Wrap an on-disk "
            "array with dask.array.from_zarr / from_array, or call the estimator directly."
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    apply = getattr(estimator, method, None)
    if not callable(apply):
        raise TypeError(f"{type(estimator).__name__} has no method {method!r}.")
    # One spectrum, run here, checks the estimator accepts these spectra and
    # gives the width and dtype of the output, which Dask cannot guess.
    probe = np.asarray(apply(np.asarray(X[:1].compute())))
    if probe.ndim != 2 or probe.shape[0] != 1:
        raise ValueError(
            f"{type(estimator).__name__}.{method} returned shape {probe.shape} for one "
            "spectrum; dask_transform needs one row per spectrum."
        )
    X = X.rechunk({1: -1})
    return X.map_blocks(
        _apply_block,
        estimator=estimator,
        method=method,
        empty=probe[:0],
        dtype=probe.dtype,
        chunks=(X.chunks[0], (probe.shape[1],)),
        meta=np.empty((0, probe.shape[1]), dtype=probe.dtype),
    )


def _apply_block(block, *, estimator, method, empty):
    # Estimators refuse 0 spectra; a block of none encodes to none.
    if len(block) == 0:
        return empty
    return np.asarray(getattr(estimator, method)(block))
