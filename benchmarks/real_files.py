"""The command line on a folder of FITS files made from real spectra: time and reconstruction.

``real_spectra.py`` measures the estimator on arrays. This script measures
what a user with a folder of archive files gets from ``skspecrep fit``. It
writes ``--n-files`` ESO Phase-3 ADP files (one-row ``SPECTRUM`` table of
``WAVE``, ``FLUX``, ``ERR``, as the HARPS archive serves them) made by
:func:`skspecrep.datasets.make_template_spectra` from the real HARPS and
ESPRESSO templates of ``real_spectra.py`` on a 0.6 km/s grid (the HARPS
ADP's 0.01 A at 5000 A), each with its own velocity in +-40 km/s, rotation,
tilt, SNR 30-150 and flux scale, each trimmed at both ends by up to 0.3 A
(real products do not all cover the same range), and a ``labels.csv`` of
the factors. Then it runs ``skspecrep fit`` on them with the options after
``--`` (by default the run of issue 21: ``--wavelength-range 3800 6900
--log-step 10 --virtual-rv 60``), timed, and prints the command's report of
its reconstruction against PCA and of the velocity latent.

Run ``python benchmarks/real_files.py [--n-files 300] [-- extra fit options]``;
``-- --recipe sedaghat2021 --epochs 2`` runs the paper's recipe instead.

Record of issue 21 (2026-11-30; 2 CPU cores, torch 2.13 CPU)
------------------------------------------------------------
See the end of this docstring; every run made is listed.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).parent))
import real_spectra  # noqa: E402

from skspecrep.datasets import make_template_spectra  # noqa: E402

#: The run of issue 21.
DEFAULT_FIT = ["--wavelength-range", "3800", "6900", "--log-step", "10", "--virtual-rv", "60"]
#: Names written in each file's OBJECT keyword, per template.
OBJECTS = ["IC 4651 9122", "GJ 581", "HD 41248"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-files", type=int, default=300)
    p.add_argument("--folder", type=Path, default=Path("/tmp/skspecrep-real-files"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-step", type=float, default=0.6, help="km/s per pixel of the files")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "skspecrep-benchmarks")
    p.add_argument("fit_options", nargs="*", help="options of skspecrep fit (after --)")
    return p.parse_args(argv)


def write_archive(args) -> Path:
    """The ADP files and labels.csv in ``args.folder/files``; kept when already there."""
    files = args.folder / "files"
    labels_path = args.folder / "labels.csv"
    if labels_path.exists() and len(list(files.glob("*.fits"))) == args.n_files:
        print(f"Reusing {args.n_files} files in {files}")
        return labels_path
    templates = real_spectra.load_templates("harps", args.cache)
    velocities = real_spectra.template_velocities(templates)
    templates = [
        t._replace(wavelength=t.wavelength / (1 + v / real_spectra.C_KMS))
        for t, v in zip(templates, velocities)
    ]
    start = time.perf_counter()
    flux, labels, wave = make_template_spectra(
        templates, args.n_files, log_step=args.log_step, random_state=args.seed
    )
    files.mkdir(parents=True, exist_ok=True)
    for old in files.glob("*.fits"):
        old.unlink()
    rng = np.random.default_rng(args.seed)
    names = []
    for i, row in labels.iterrows():
        # Up to 0.3 A off each end: products of one instrument differ in coverage.
        keep = (wave >= wave[0] + rng.uniform(0, 0.3)) & (wave <= wave[-1] - rng.uniform(0, 0.3))
        f = flux[i, keep]
        err = np.sqrt(np.clip(f * np.median(f), 0, None)) / row["snr"]
        name = f"ADP.synthetic.{i:05d}.fits"
        n = int(keep.sum())
        table = fits.BinTableHDU.from_columns(
            [
                fits.Column(name="WAVE", format=f"{n}D", array=wave[keep][None]),
                fits.Column(name="FLUX", format=f"{n}E", array=f[None]),
                fits.Column(name="ERR", format=f"{n}E", array=err[None]),
            ],
            name="SPECTRUM",
        )
        header = fits.Header([("OBJECT", OBJECTS[int(row["template"])]), ("SNR", row["snr"])])
        fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(files / name)
        names.append(name)
    labels.insert(0, "file", names)
    labels.to_csv(labels_path, index=False)
    print(
        f"Wrote {args.n_files} files of {flux.shape[1]:,} pixels ({wave[0]:.1f}-{wave[-1]:.1f} A)"
        f" in {time.perf_counter() - start:.0f} s"
    )
    return labels_path


def main(argv=None):
    args = parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = write_archive(args)
    options = args.fit_options or DEFAULT_FIT
    command = [
        sys.executable, "-c", "from skspecrep.cli import main; raise SystemExit(main())",
        "fit", str(args.folder / "files" / "*.fits"),
        "--labels", str(labels), "--id-column", "file", "--output",
        str(args.folder / "run"), "--restart", "--quiet", *options,
    ]  # fmt: skip
    print("$ skspecrep", shlex.join(command[3:]))
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(done.stdout[-6000:], done.stderr[-3000:], sep="\n")
    print(f"exit {done.returncode}; {seconds:.0f} s in all (reading, training, analysis)")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
