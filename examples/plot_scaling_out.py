"""
Scaling out: spectra on disk, weighted stars, several processes, a Dask cluster
===============================================================================

An archive of 270,000 HARPS spectra of 327,680 pixels is 350 GB in float32:
it does not fit in memory, and nothing in skspecrep needs it to.

- :class:`~skspecrep.SpectralAutoencoder` trains on and encodes a
  ``numpy.memmap``, an HDF5 dataset or a zarr array **without loading it**:
  batches are read as they are needed, and each is checked for NaN and
  infinity as it is read, with an error naming the row;
- ``sample_weight`` makes each star count once however often it was observed;
- ``checkpoint=`` saves the training state every epoch, so a long run on a
  shared machine can be stopped and resumed exactly;
- ``distributed=True`` trains data-parallel on several GPUs or CPU processes
  through Hugging Face accelerate;
- :func:`~skspecrep.parallel.dask_transform` encodes a Dask array block by
  block on a cluster.

The example uses 2,000 small synthetic spectra written to a memory map.
"""

# %%
import tempfile
import time
from pathlib import Path

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np

from skspecrep import SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra
from skspecrep.parallel import dask_transform

folder = Path(tempfile.mkdtemp())
X, labels, _ = make_stellar_spectra(2000, n_pixels=512, random_state=0)
np.save(folder / "spectra.npy", X.astype(np.float32))
del X

# %%
# Repeated observations
# ---------------------
# Real archives observe some stars hundreds of times and most a few times.
# Here each spectrum is given a star, with a few stars observed very often;
# weighting each spectrum by one over its star's count makes every star
# count once, as the follow-up papers on HARPS sample.
rng = np.random.default_rng(0)
visits = 1 + rng.lognormal(1.0, 1.2, size=2000).astype(int)
star = np.repeat(np.arange(2000), visits)[:2000]
count = np.bincount(star)[star]
weight = 1.0 / count
print(f"{len(np.unique(star))} stars; the most observed one has {count.max()} spectra")

# %%
# Train on the memory map
# -----------------------
# ``np.load(..., mmap_mode="r")`` maps the file without reading it; fit reads
# one batch at a time. The checkpoint makes the run resumable.
spectra = np.load(folder / "spectra.npy", mmap_mode="r")
ae = SpectralAutoencoder(
    n_components=6, max_epochs=3, lr=3e-3, random_state=0, checkpoint=folder / "train.pt"
)
ae.fit(spectra, sample_weight=weight)

# %%
# Asking for more epochs with the same checkpoint continues the run instead
# of starting again: only the two missing epochs are trained.
start = time.perf_counter()
ae.set_params(max_epochs=5).fit(spectra, sample_weight=weight)
print(f"epochs {ae.n_iter_}, the last two in {time.perf_counter() - start:.1f} s")

# %%
# Encode with Dask
# ----------------
# ``dask_transform`` sends the fitted model to the workers and encodes each
# block of rows there. Here Dask's threads do it; with a cluster
# (``dask.distributed.Client(...)``) the same line spreads the blocks over
# its workers. ``dask.array.from_zarr`` reads a zarr archive the same way.
lazy = da.from_array(spectra, chunks=(500, -1))
codes = dask_transform(ae, lazy)
print(codes)
Z = codes.compute()
print("same codes as in memory:", np.allclose(Z, ae.transform(spectra), atol=1e-6))

# %%
# The training curve, resumed after epoch 3, and the most informative latent
# against Teff.
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
left.plot(ae.history_[:, "epoch"], ae.history_[:, "train_loss"], "o-")
left.axvline(3.5, color="0.6", ls=":")
left.set(xlabel="epoch", ylabel="training objective", title="one run, resumed after epoch 3")
best = int(np.argmax(ae.component_kl_))
right.scatter(labels["teff"], Z[:, best], s=4, alpha=0.5)
right.set(xlabel="Teff (K)", ylabel=f"z{best}", title="the latent with the most KL")
plt.show()

# %%
# Several processes
# -----------------
# The same script trains data-parallel when a launcher starts it: each
# process takes its share of every batch of ``batch_size`` spectra and the
# gradients are averaged, so every process ends with the same model, the one
# a single process would have trained. Nothing else in the script changes::
#
#     ae = SpectralAutoencoder(n_components=16, batch_size=64, distributed=True)
#     ae.fit(np.load("spectra.npy", mmap_mode="r"))
#
# and on one machine with four GPUs::
#
#     accelerate launch --multi_gpu --num_processes 4 fit.py
#
# or with two CPU processes talking over gloo::
#
#     torchrun --standalone --nproc_per_node 2 fit.py
#
# Started with plain ``python fit.py``, it trains in one process.
