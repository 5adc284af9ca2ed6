"""
Your archive: files of two formats, one grid, one model, a file to share
========================================================================

Archives mix products: HARPS and FEROS give Phase-3 ``ADP`` files (one table
row of array columns), ESPRESSO's pipeline gives ``S1D`` tables (one row per
pixel), and no two files cover exactly the same wavelengths. This example
writes a small archive of both layouts from synthetic stars, reads it onto
the range every file covers with :func:`~skspecrep.io.read_spectra`, trains
one model on it, and shares that model as a file that loads without running
code (:func:`~skspecrep.io.save_model`).

The same reader opens any format specutils reads (SDSS, APOGEE, DESI...),
by name or by its own identification: ``read_spectra(files, format=...)``.
"""

# %%
import os
import tempfile
import warnings

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits
from sklearn.pipeline import make_pipeline

from skspecrep import MedianNormalizer, SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra
from skspecrep.exceptions import TrainingNotConvergedWarning
from skspecrep.io import load_model, read_spectra, save_model

rng = np.random.RandomState(0)
X, labels, wavelength = make_stellar_spectra(300, n_pixels=1024, random_state=0)
folder = tempfile.mkdtemp()


def write_adp(path, wave, flux, star):
    """HARPS/FEROS Phase-3 layout: a one-row SPECTRUM table of array columns."""
    n = wave.size
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="WAVE", format=f"{n}D", unit="Angstrom", array=wave[None]),
            fits.Column(name="FLUX", format=f"{n}E", array=flux[None]),
            fits.Column(name="ERR", format=f"{n}E", array=np.sqrt(np.abs(flux))[None] * 0.01),
        ],
        name="SPECTRUM",
    )
    header = fits.Header({"ORIGIN": "ESO", "INSTRUME": "HARPS", "OBJECT": star})
    fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(path)


def write_s1d_table(path, wave, flux, star):
    """ESPRESSO S1D layout: one table row per pixel, wavelengths in air and vacuum."""
    quality = np.zeros(wave.size, dtype=np.int32)
    quality[:3] = 16384  # the pipeline flags its edge pixels
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="wavelength", format="D", array=wave * 1.00028),
            fits.Column(name="wavelength_air", format="D", array=wave),
            fits.Column(name="flux", format="D", array=flux),
            fits.Column(name="error", format="D", array=np.sqrt(np.abs(flux)) * 0.01),
            fits.Column(name="quality", format="J", array=quality),
        ]
    )
    header = fits.Header({"ORIGIN": "ESO", "INSTRUME": "ESPRESSO", "OBJECT": star})
    fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(path)


# Each file loses a few pixels at either end, as archive products do.
for i, (flux, star) in enumerate(zip(X * 1000.0, labels.index.astype(str))):
    blue, red = rng.randint(0, 8, size=2)
    keep = slice(blue, wavelength.size - red)
    if i % 2:
        write_adp(os.path.join(folder, f"ADP.{i:03d}.fits"), wavelength[keep], flux[keep], star)
    else:
        write_s1d_table(
            os.path.join(folder, f"S1D.{i:03d}.fits"), wavelength[keep], flux[keep], star
        )

# %%
# Reading: each file's layout is recognised, and the grid is the first
# file's, trimmed to the range every file covers (``meta`` keeps each
# file's own coverage). ``n_jobs`` reads files in parallel.
files = sorted(os.listdir(folder))
spectra = read_spectra(
    [os.path.join(folder, f) for f in files],
    wavelength_range="common",
    with_error=True,
    n_jobs=2,
    progress=False,
)
print(spectra.meta["format"].value_counts().to_string())
print(
    f"common grid: {spectra.wavelength[0]:.2f}-{spectra.wavelength[-1]:.2f} A, "
    f"{spectra.wavelength.size} of {wavelength.size} pixels; "
    f"flagged pixels (infinite error): {int(np.isinf(spectra.error).sum())}"
)

# %%
# One spectrum of each layout on the common grid.
order = np.asarray(spectra.meta["path"].map(os.path.basename))
fig, ax = plt.subplots(figsize=(8, 3))
for name in ("ADP.001.fits", "S1D.000.fits"):
    row = int(np.flatnonzero(order == name)[0])
    ax.plot(spectra.wavelength, spectra.flux[row], lw=0.8, label=name)
ax.set(xlabel="wavelength (Angstrom)", ylabel="flux", xlim=(5000, 5100))
ax.legend()
fig.tight_layout()

# %%
# One model for both, and a file to share it. ``load_model`` builds the
# model from JSON and arrays only: it never unpickles anything.
model = make_pipeline(
    MedianNormalizer(),
    SpectralAutoencoder(4, max_epochs=8, kl_warmup=(1, 4), lr=3e-3, random_state=0),
)
with warnings.catch_warnings():
    # Eight epochs keep the example quick; a real run trains until the loss settles.
    warnings.simplefilter("ignore", TrainingNotConvergedWarning)
    model.fit(spectra.flux)
path = save_model(model, os.path.join(folder, "archive.skspecrep"))
shared = load_model(path)
print(f"{os.path.basename(path)}: {os.path.getsize(path) / 1e6:.1f} MB")
print("same codes after loading:", np.array_equal(shared.transform(spectra.flux),
                                                  model.transform(spectra.flux)))  # fmt: skip
