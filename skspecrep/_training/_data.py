"""The spectra as training reads them: a torch Dataset and the statistics of the training rows."""

from __future__ import annotations

import numpy as np
import torch

from .._rows import RowSource

#: Spectra read at a time for the statistics of the training rows.
_BLOCK_ROWS = 4096


class SpectraDataset(torch.utils.data.Dataset):
    """Spectra with their inverse variances and labels, for skorch's DataLoader.

    The DataLoader asks for a whole batch of indices through
    ``__getitems__``, which reads them from the :class:`RowSource` in one
    call: one pass over sorted rows of a memory map, an HDF5 dataset or a
    zarr array instead of one read per spectrum. Each batch is checked for
    NaN and infinity as it is read.

    Each item is ``(spectrum, target)``, where the target is a dict holding
    ``"ivar"`` (the spectrum's inverse variances) when there are any and
    ``"labels"`` (its standardised labels, NaN where unknown) when there
    are any, so that either travels through batching to the loss.

    Parameters
    ----------
    source : RowSource
        The spectra.
    ivar : RowSource or None
        Inverse variances of the same shape, for ``loss="chi2"``.
    indices : ndarray of int or None
        Rows of ``source`` that make up this dataset (a training or
        validation split); None means all.
    labels : ndarray of shape (n_samples, n_labels) or None
        Standardised labels of every row of ``source``, NaN where unknown.
    """

    def __init__(
        self,
        source: RowSource,
        ivar: RowSource | None = None,
        indices=None,
        labels: np.ndarray | None = None,
    ):
        self.source = source
        self.ivar = ivar
        self.indices = None if indices is None else np.asarray(indices)
        self.labels = labels

    def __len__(self) -> int:
        return len(self.source) if self.indices is None else len(self.indices)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def __getitems__(self, positions):
        rows = np.asarray(positions)
        if self.indices is not None:
            rows = self.indices[rows]
        x = self.source.read(rows)
        targets = [{} for _ in rows]
        if self.ivar is not None:
            ivar = self.ivar.read(rows)
            if (ivar < 0).any():
                raise ValueError(
                    f"ivar is negative in row {int(rows[np.argmax((ivar < 0).any(axis=1))])}; "
                    "inverse variances must be non-negative (0 marks a pixel to ignore)."
                )
            for target, row in zip(targets, ivar):
                target["ivar"] = row
        if self.labels is not None:
            for target, row in zip(targets, self.labels[rows]):
                target["labels"] = row
        return list(zip(x, targets))


def mean_spectrum(source: RowSource, rows: np.ndarray | None) -> np.ndarray:
    """Mean of the rows in float64, a block at a time (the spectra may be on disk)."""
    total = np.zeros(source.n_features)
    for _, block in source.blocks(_BLOCK_ROWS, rows):
        total += block.sum(axis=0, dtype=np.float64)
    n = len(source) if rows is None else len(rows)
    return (total / n).astype(np.float32)


def rms_deviation(source: RowSource, rows, mean: np.ndarray, weight: np.ndarray) -> float:
    """Root-mean-square difference from the mean spectrum over unmasked pixels."""
    keep = weight > 0
    total = 0.0
    for _, block in source.blocks(_BLOCK_ROWS, rows):
        total += np.square(block[:, keep] - mean[keep], dtype=np.float64).sum()
    n = len(source) if rows is None else len(rows)
    rms = np.sqrt(total / (n * keep.sum()))
    return float(rms) if rms > 0 else 1.0
