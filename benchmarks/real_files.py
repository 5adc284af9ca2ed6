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
300 files of 301,122 pixels (3782.3-6910.2 A; written in 211 s, 1.4 GB),
data seed 0, model seed 0 (the command's ``--random-state``), one run each
(every run made is listed). The command validates on 10 % (30 spectra):
"PCA" is its held-out comparison, "rho" the velocity latent's |Spearman
rho| with the velocity over the 300 files and within each star (from
``codes.csv``), "coef" the information coefficient the command prints.

=====================================  ======  ======  =========  ====  =================  ======
run                                    epochs  stop    / PCA      rho   rho within         time
=====================================  ======  ======  =========  ====  =================  ======
3800-6900 A (17,884 px), conv          95      early   2.37       .07   .10 .12 .11        227 s
  (old default patience, 10 epochs; no latent tracks the velocity: best coef .12)
3800-6900, dense, patience 10          54      early   2.01       -     (coef .00)          301 s
5000-5600 (3,398 px), dense, pat. 10   74      early   .80        -     (coef 1.00)         62 s
5000-5600, dense, no validation        200     all     .49 [1]_   -     (coef 1.00)         129 s
5000-5600, dense, patience "auto"      188     early   .48        -     (coef 1.00)         128 s
3800-6900, dense, patience "auto"      223     all     .97        .86   .998 .999 .999     1190 s
``--recipe sedaghat2021 --epochs 2``   2       all     19.5       -     -                  159 s
with the dense decoder's weight decay (now the default):
5000-5600, dense (the files' default)  188     early   .54        .998  1.000 .999 .999    126 s
3800-6900, dense (the files' default)  223     all     .98        .854  .999 .999 .998     1160 s
=====================================  ======  ======  =========  ====  =================  ======

.. [1] on a sample of the training spectra (no validation split).

- Early stopping with 10 epochs of patience stopped these small runs at
  a third of their steps: ``n_iter_no_change="auto"`` (at least 400 steps)
  is now the default, and took the 5000-5600 A run from .80 to .48 of PCA.
- Spectrum files now get ``--architecture dense`` by default: over the
  whole range the conv decoder learned neither the lines nor the velocity.
- **Not met**: over the whole range the dense network reaches only .97 of
  PCA's error (target .8) in 2,007 steps, and takes 20 minutes (target
  10): a step of 64 spectra of 17,884 pixels costs about 0.5 s on 2 cores
  (encoder and decoder about a third each). The velocity latent is
  monotone within every star, but the stars' zero points differ (.86 over
  all files; see ``real_spectra.py``). The dense decoder's weight decay,
  which joins the zero points on 5000-5600 A, does not here (.854), nor
  does it change the error (.98) or the time (1,160 s).
- The paper's recipe runs end to end on these files (they cover
  3782.63-6909.90 A in common, so the 11 pixels short of 6910 A are masked
  as pads, with a warning); after 2 epochs every latent is collapsed (the
  paper's KL warm-up starts at iteration 5,000: epoch 556 here), and the
  command says so and scores no latent against the labels.
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
