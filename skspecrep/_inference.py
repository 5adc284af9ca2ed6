"""A fitted network run over spectra in chunks that fit in memory: codes, drawings, objectives.

What the estimator's ``transform``, ``encode``, ``inverse_transform`` and
``score`` share, and what ``fit`` measures on the finished network: every
pass goes a chunk of rows at a time (in memory or on disk, see
:class:`~skspecrep._rows.RowSource`), in evaluation mode, without autograd.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ._nn import kl_per_latent
from ._rows import RowSource


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module):
    """Evaluation mode for the block, then the module's mode as it was."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def output_dtype(source: RowSource) -> np.dtype:
    """Outputs keep float32 or float64 input; other dtypes give float64, as in sklearn."""
    return source.dtype if source.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def chunks(net, source: RowSource, rows=None) -> Iterator[tuple[slice, torch.Tensor]]:
    """``(positions, chunk)`` on the net's device, over all rows or the sorted ``rows``."""
    for positions, block in source.blocks(net.micro_batch_size(), rows):
        yield positions, torch.from_numpy(block).to(net.device)


def map_chunks(net, source: RowSource, fn: Callable, rows=None) -> Iterator:
    """``(positions, fn(module, chunk))`` in evaluation mode without autograd."""
    module = net.module_
    with eval_mode(module), torch.inference_mode():
        for positions, chunk in chunks(net, source, rows):
            yield positions, fn(module, chunk)


def collect(net, source: RowSource, fn: Callable) -> list[np.ndarray]:
    """Every output of ``fn`` over all rows, as arrays in the output dtype.

    The arrays are allocated once and filled chunk by chunk. Keeping one
    small array per chunk and joining them at the end would leave those
    small blocks scattered between the large freed chunk buffers, and the C
    heap could not give the space back: resident memory grew by about 1 GB
    per 600,000 spectra encoded.
    """
    outs = None
    for rows, result in map_chunks(net, source, fn):
        result = result if isinstance(result, tuple) else (result,)
        if outs is None:
            dtype = output_dtype(source)
            outs = [np.empty((len(source), r.shape[1]), dtype=dtype) for r in result]
        for out, r in zip(outs, result):
            out[rows] = r.cpu().numpy()
    return outs


def reconstruct(module, x: torch.Tensor) -> torch.Tensor:
    """Spectra drawn from their posterior mean codes."""
    return module.decode(module.encode_mean(x))


def component_kl(net, source: RowSource, rows=None) -> np.ndarray:
    """Mean KL (nats) of each latent's posterior from the prior, over ``rows`` (None: all)."""
    total, n = None, 0
    for _, (mu, log_var) in map_chunks(net, source, lambda m, x: m.encode(x), rows):
        kl = kl_per_latent(mu, log_var).sum(dim=0).double().cpu().numpy()
        total = kl if total is None else total + kl
        n += len(mu)
    return total / n


def objectives(net, source: RowSource, ivar: RowSource | None, beta: float, seed: int):
    """The training objective of each spectrum at the full KL weight ``beta``.

    Reconstruction error of one posterior sample, drawn reproducibly from
    ``seed``, plus ``beta`` times the KL summed over latents; float64, one per row.
    """
    device = net.device
    generator = torch.Generator(device=device).manual_seed(int(seed))
    criterion, module = net.criterion_, net.module_
    out = np.empty(len(source), dtype=np.float64)
    with eval_mode(module), torch.inference_mode():
        for rows, x in chunks(net, source):
            y_pred = module(x, generator=generator)
            w = None if ivar is None else torch.from_numpy(ivar.read(rows)).to(device)
            out[rows] = criterion.per_sample(y_pred, x, w, beta).double().cpu().numpy()
    return out
