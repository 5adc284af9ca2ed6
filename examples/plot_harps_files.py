"""
Reading HARPS files with the paper's preprocessing
==================================================

The ESO archive serves HARPS spectra as Phase-3 ``ADP.*.fits`` files: a
binary table with one row of ``WAVE``, ``FLUX`` and ``ERR`` arrays on the
0.01 Angstrom grid. :func:`~skspecrep.io.read_spectra` reads a glob of them
onto one grid (streaming to a ``.npy`` memory map for large archives), and
:class:`~skspecrep.HARPSPreprocessor` applies the preprocessing of Sedaghat
et al. (2021): trim to 3785-6910 Angstrom, zero-pad to 327,680 pixels, divide
by the median over the unmasked pixels. Real files cannot be downloaded
here, so the example writes three small look-alikes with astropy first.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits

from skspecrep import HARPSPreprocessor
from skspecrep.datasets import make_stellar_spectra
from skspecrep.io import read_spectra

folder = Path(tempfile.mkdtemp())
wave = 3781.0 + 0.01 * np.arange(313_000)  # the archive's grid, 3781-6911 A
rng = np.random.RandomState(0)
for i, level in enumerate([2000.0, 800.0, 30.0]):  # the last is too faint to use
    # A synthetic star around Mg b, on a flat continuum elsewhere.
    lines, _, lines_wave = make_stellar_spectra(1, n_pixels=4000, random_state=i,
                                                wavelength_range=(5150, 5190))  # fmt: skip
    flux = np.interp(wave, lines_wave, lines[0], left=1.0, right=1.0) * level
    flux += rng.normal(0, np.sqrt(level), wave.size)
    flux[(wave > 5300) & (wave < 5340)] = 0.0  # the CCD gap holds no light
    columns = [
        fits.Column(name=name, format=f"{wave.size}{code}", array=values[None, :])
        for name, code, values in (("WAVE", "D", wave), ("FLUX", "E", flux),
                                   ("ERR", "E", np.sqrt(np.abs(flux) + 1)))
    ]  # fmt: skip
    header = fits.Header({"OBJECT": f"star {i}", "SNR": np.sqrt(level), "MJD-OBS": 55000.0 + i})
    fits.HDUList(
        [fits.PrimaryHDU(header=header), fits.BinTableHDU.from_columns(columns, name="SPECTRUM")]
    ).writeto(folder / f"ADP.2012-01-0{i}.fits")

# %%
# Read the glob, one row per file, with the header values as a table.
spectra = read_spectra(str(folder / "ADP.*.fits"), progress=False)
print(spectra.flux.shape)
print(spectra.meta[["object", "snr", "mjd_obs"]])

# %%
# The paper's preprocessing. The faint spectrum is flagged as noise only;
# nothing is dropped behind your back.
prep = HARPSPreprocessor(spectra.wavelength).fit(spectra.flux)
X = prep.transform(spectra.flux[~prep.noise_only_])
print("noise only:", prep.noise_only_, "->", X.shape)

# %%
# The mask is what the autoencoder's loss looks at: zero on the pads and the
# CCD gap. Pass it on with ``SpectralAutoencoder(pixel_mask=prep.pixel_mask_)``
# (for a whole run on the command line: ``skspecrep fit 'ADP.*.fits' --output run``).
fig, (ax, zoom) = plt.subplots(2, 1, figsize=(8, 5), layout="constrained")
ax.plot(prep.wavelength_[::50], X[0, ::50], lw=0.5)
ax.fill_between(prep.wavelength_[::50], 0, 1.2, where=prep.pixel_mask_[::50] == 0,
                color="C7", alpha=0.3, label="masked (pads, CCD gap)")  # fmt: skip
ax.set_ylabel("normalised flux")
ax.legend(loc="lower right")
near = (prep.wavelength_ > 5160) & (prep.wavelength_ < 5190)
zoom.plot(prep.wavelength_[near], X[0, near], lw=0.7)
zoom.set_xlabel("wavelength (Å)")
zoom.set_title("Mg b, one spectrum")
plt.show()
