"""The argparse tree of ``skspecrep demo``, ``fit`` and ``analyze``: options only, no work."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import (
    __version__,
)
from ._recipes import RECIPES
from ._settings import LABEL_WEIGHT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skspecrep",
        description="Unsupervised representation learning for large sets of 1-D spectra.",
    )
    parser.add_argument("--version", action="version", version=f"skspecrep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train on built-in synthetic spectra and show what the latents learned",
        description=(
            "Generate synthetic stellar spectra with known Teff, logg, [M/H], radial "
            "velocity and vsini; train a SpectralAutoencoder without labels; report the "
            "information per latent, the held-out reconstruction against PCA, which "
            "latent tracks each factor, and write the HTML report."
        ),
    )
    demo.add_argument("--n-spectra", type=int, default=2000, help="training spectra (default 2000)")
    demo.add_argument(
        "--n-pixels", type=int, default=2048, help="pixels per spectrum (default 2048)"
    )
    demo.add_argument("--snr", type=float, default=100.0, help="signal-to-noise (default 100)")
    _model_options(demo, n_components=8, epochs=25, lr=2e-3, virtual_rv=60.0, seeds=2)
    demo.add_argument(
        "--output",
        type=Path,
        default=Path("skspecrep-output/demo"),
        help="folder for the report (default skspecrep-output/demo)",
    )
    _common_options(demo)

    fit = commands.add_parser(
        "fit",
        help="train a model on your spectra and write it, the codes and a report",
        description=(
            "Train a SpectralAutoencoder on spectra from FITS files or an array on disk. "
            "The output folder receives model.skspecrep (a model file that loads without "
            "running code), codes.npy, codes.csv and the report. "
            "The training state is saved after every epoch (checkpoint.pt): if a run is "
            "interrupted, running the same command again resumes it where it stopped."
        ),
    )
    _spectra_arguments(fit)
    _model_options(fit, n_components=16, epochs="auto", lr=1e-3, recipes=True)
    fit.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="spectra held out for early stopping; 0 trains on all (default 0.1)",
    )
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    supervision = fit.add_argument_group(
        "a few labels",
        "Tie latents to labels known for some of the spectra (empty cells in --labels for "
        "the others): each named column gets a latent of its own (z1, z2, ... after the "
        "velocity latent z0; z0, z1, ... without --virtual-rv), the unlabelled spectra "
        "still train everything else, and the other columns are only scored.",
    )
    supervision.add_argument(
        "--supervise",
        metavar="COLUMNS",
        type=_columns,
        help="comma-separated columns of --labels to tie latents to, e.g. teff,logg,feh",
    )
    supervision.add_argument(
        "--label-weight",
        type=float,
        default=None,
        metavar="W",
        help=f"weight of the labels against the reconstruction (default {LABEL_WEIGHT:g} "
        "with --supervise)",
    )
    fit.add_argument(
        "--restart", action="store_true", help="discard a checkpoint in the output folder"
    )
    _common_options(fit)

    analyze = commands.add_parser(
        "analyze",
        help="encode spectra with a saved model and write the codes and a report",
        description=(
            "Apply a model written by 'skspecrep fit' to spectra (the same preprocessing is "
            "applied), write codes.npy and codes.csv and the report; with labels, measure "
            "how strongly each latent tracks each of them."
        ),
    )
    analyze.add_argument("model", type=Path, help="model.skspecrep written by 'skspecrep fit'")
    analyze.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also open a pickled model (.pkl, as older versions wrote): unpickling runs any "
        "code the file holds, so only for files you made or trust",
    )
    _spectra_arguments(analyze)
    analyze.add_argument(
        "--random-state", type=int, default=0, help="seed of the bootstrap (default 0)"
    )
    _common_options(analyze)
    return parser


def _columns(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names; got {text!r}")
    return names


def _spectra_arguments(parser):
    parser.add_argument(
        "spectra",
        help=(
            "FITS files as a glob ('data/*.fits', quoted) or a single file; a text file "
            "listing one FITS path per line (.txt, .lst, .list); or a .npy array of shape "
            "(n_spectra, n_pixels)"
        ),
    )
    parser.add_argument(
        "--output", type=Path, required=True, help="folder for the results (created if missing)"
    )
    parser.add_argument(
        "--labels",
        type=Path,
        help="CSV of known labels (e.g. teff, logg), one row per spectrum, to score the latents",
    )
    parser.add_argument(
        "--id-column",
        help=(
            "column of --labels holding each spectrum's file name (or row number for .npy "
            "input), to match rows to spectra instead of relying on their order"
        ),
    )
    parser.add_argument(
        "--wavelength",
        type=Path,
        help="for .npy spectra: a .npy of the wavelength of each pixel, for the figures",
    )
    fits = parser.add_argument_group(
        "spectrum files",
        "How files of differing coverage come onto one grid. By default the grid is the "
        "first file's, trimmed to the range every file covers.",
    )
    fits.add_argument(
        "--wavelength-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="keep LOW-HIGH Angstrom; a file that does not cover all of it is an error, "
        "or is skipped with --on-error skip",
    )
    step = fits.add_mutually_exclusive_group()
    step.add_argument(
        "--wavelength-step",
        type=float,
        metavar="ANGSTROM",
        help="resample onto a linear grid of this step over --wavelength-range (by default "
        "the range every file covers)",
    )
    step.add_argument(
        "--log-step",
        type=float,
        metavar="KMS",
        help="resample onto a grid uniform in log-wavelength, one pixel per KMS km/s, over "
        "--wavelength-range (by default the range every file covers)",
    )
    fits.add_argument(
        "--on-error",
        choices=["raise", "skip"],
        default="raise",
        help="on a file that cannot be read or does not cover the range: stop naming it "
        "(raise, the default) or leave it out and list it in skipped.csv (skip)",
    )
    fits.add_argument(
        "--format",
        help="the files' format: a specutils format name such as 'SDSS-III/IV spec' "
        "(needs specutils), or 'eso'; by default ESO layouts are recognised and other "
        "files are left to specutils' identification",
    )
    fits.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="read files with this many processes; -1: all cores (default 1)",
    )
    parser.add_argument(
        "--normalize",
        choices=["median", "none"],
        default=None,
        help="divide each spectrum by its median (default for FITS input) or not "
        "(default for .npy input)",
    )


def _model_options(parser, *, n_components, epochs, lr, virtual_rv=0.0, seeds=1, recipes=False):
    """The model options; with ``recipes``, their defaults come from ``--recipe``."""
    if recipes:
        parser.add_argument(
            "--recipe",
            choices=sorted(RECIPES),
            default="default",
            help="sedaghat2021: the paper's HARPS recipe in one flag (trim to 3785-6910 A on "
            "the 0.01 A grid, pad to 327,680 pixels, mask pads and CCD gap, masked-median "
            "normalisation, its network with 128 latents, beta 0.3/128 with the KL warm-up "
            "over iterations 5,000-20,000, lr 1e-4, 182 epochs, sampling 1/count per star "
            "from OBJECT, noise-only spectra weighted 0); the options below override it",
        )
        parser.add_argument(
            "--architecture",
            choices=["auto", "dense", "sedaghat2021"],
            help="network: sized from the pixel count (default for .npy input); the same with "
            "a dense decoder (default for spectrum files: real high-resolution spectra, whose "
            "lines are 1-3 pixels wide); or the paper's (needs 327,680 pixels)",
        )
        parser.add_argument(
            "--kl-warmup",
            type=float,
            nargs=2,
            metavar=("START", "END"),
            help="epochs over which the KL weight rises from 0 to beta (default 1 10)",
        )
    parser.add_argument(
        "--n-components",
        type=int,
        default=None if recipes else n_components,
        help=f"bottleneck width (default {n_components})",
    )
    parser.add_argument(
        "--epochs",
        type=_epochs,
        default=None if recipes else epochs,
        help=f"training epochs, or 'auto': at least 50 and at least 2,000 optimizer steps "
        f"(default {epochs})",
    )
    parser.add_argument(
        "--beta", type=float, default=None if recipes else 1e-4, help="KL weight (default 1e-4)"
    )
    parser.add_argument(
        "--lr", type=float, default=None if recipes else lr, help=f"learning rate (default {lr:g})"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None if recipes else 32,
        help="batch size (default 32)",
    )
    parser.add_argument(
        "--decorrelation",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of a penalty on the correlations between latents; 3e-4 gave Teff and "
        "[M/H] latents of their own on the synthetic benchmark but can lose a weak factor "
        "(see the user guide; default 0)",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--virtual-rv",
        type=float,
        default=virtual_rv,
        metavar="KMS",
        help="train on Doppler pairs: each spectrum with a copy shifted by a virtual radial "
        "velocity drawn from -KMS..KMS, so that latent z0 holds radial velocity; needs the "
        f"wavelengths; 0 trains on single spectra (default {virtual_rv:g})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=seeds,
        help="train this many models differing only in their seed (--random-state, +1, ...) "
        f"and report which latents they all find; 1: no stability check (default {seeds})",
    )


def _common_options(parser):
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _epochs(text: str) -> int | str:
    return text if text == "auto" else int(text)
