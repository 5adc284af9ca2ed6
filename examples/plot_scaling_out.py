"""
Scaling out: spectra on disk, training on a memory map
======================================================

An archive of 270,000 HARPS spectra of 327,680 pixels is 350 GB in float32:
it does not fit in memory, and nothing in skspecrep needs it to.

- :func:`~skspecrep.io.read_spectra` with ``out=`` streams spectra row by
  row into a ``.npy`` file;
- :class:`~skspecrep.SpectralAutoencoder` trains on a float32 memory map
  without copying it: batches are read from disk as they are needed;
- ``transform`` encodes in chunks whose size fits the CPU cache (or the GPU),
  so codes of any number of spectra come out with flat memory;
- ``device="auto"`` takes a GPU when there is one;
- ``checkpoint=`` saves the training state every epoch, so a long run on a
  shared machine can be stopped and resumed exactly.

The example uses 2,000 small synthetic spectra, written to a memory map.
"""

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skspecrep import SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra

folder = Path(tempfile.mkdtemp())
X, _, _ = make_stellar_spectra(2000, n_pixels=512, random_state=0)
disk = np.lib.format.open_memmap(folder / "spectra.npy", mode="w+", dtype=np.float32,
                                 shape=X.shape)  # fmt: skip
disk[:] = X
disk.flush()
del disk, X

# %%
# Train on the memory map; the checkpoint makes the run resumable.
spectra = np.load(folder / "spectra.npy", mmap_mode="r")
ae = SpectralAutoencoder(
    n_components=6, max_epochs=3, lr=3e-3, random_state=0, checkpoint=folder / "train.pt"
)
ae.fit(spectra)

# %%
# Asking for more epochs with the same checkpoint continues the run instead
# of starting again: only the two missing epochs are trained.
start = time.perf_counter()
ae.set_params(max_epochs=5).fit(spectra)
print(f"epochs {ae.n_iter_}, the last two in {time.perf_counter() - start:.1f} s")

# %%
# Encode in blocks, as a loop over a larger archive would.
codes = np.concatenate([ae.transform(spectra[i : i + 500]) for i in range(0, 2000, 500)])
print(codes.shape, np.allclose(codes, ae.transform(spectra), atol=1e-6))
fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.plot(ae.history_[:, "epoch"], ae.history_[:, "train_loss"], "o-")
ax.set_xlabel("epoch")
ax.set_ylabel("training objective")
ax.set_title("one run, resumed after epoch 3")
plt.show()
