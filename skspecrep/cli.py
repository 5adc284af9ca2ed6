"""Command line: ``skspecrep demo``, ``skspecrep fit`` and ``skspecrep analyze``.

The CLI is the only layer that prints; estimators stay silent unless asked.
Input problems (missing files, unreadable spectra, label tables that do not
match) end with one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import glob
import os
import pickle
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from . import (
    HARPSPreprocessor,
    InformativeDimensionSelector,
    LatentCorrelationScorer,
    MedianNormalizer,
    SpectralAutoencoder,
    WavelengthResampler,
    __version__,
)
from ._constants import C_KMS
from ._preprocessing import HARPS_MAX_UNCOVERED, HARPS_RANGE
from .datasets import make_stellar_spectra
from .exceptions import (
    CheckpointError,
    ModelFileError,
    NonFiniteRowError,
    NonPositiveMedianError,
    PosteriorCollapseWarning,
    SpectrumQualityWarning,
    SpectrumReadError,
    TrainingInterruptedWarning,
    TrainingNotConvergedWarning,
    WorseThanPCAWarning,
)
from .inspection import seed_stability
from .io import load_model, read_spectra, read_spectrum, save_model

FACTORS = ["teff", "logg", "metallicity", "radial_velocity", "vsini"]
_LIST_SUFFIXES = {".txt", ".lst", ".list"}
_EXIT_INPUT, _EXIT_INTERRUPTED = 2, 130


class InputError(Exception):
    """A problem with what the user gave: reported in one line, exit status 2."""


# --------------------------------------------------------------------- parser


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


#: Model settings of each ``--recipe``; an option given on the command line wins.
#: The paper's KL weight 0.3 multiplied the KL averaged over 128 latents; the
#: estimator's beta multiplies the sum. Its warm-up (0 for 5,000 iterations,
#: then up to 20,000) is set in epochs from the number of training spectra.
RECIPES = {
    "default": {
        "architecture": None, "n_components": 16, "epochs": "auto", "beta": 1e-4, "lr": 1e-3,
        "batch_size": 32, "kl_warmup": (1.0, 10.0),
    },
    "sedaghat2021": {
        "architecture": "sedaghat2021", "n_components": 128, "epochs": 182, "beta": 0.3 / 128,
        "lr": 1e-4, "batch_size": 32, "kl_warmup": None,
    },
}  # fmt: skip
_PAPER_WARMUP_ITERATIONS = (5_000, 20_000)


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


# ---------------------------------------------------------------------- input


@dataclass
class GridChoice:
    """How spectrum files come onto one grid: the "spectrum files" options.

    Attributes
    ----------
    wavelength : ndarray or None
        A grid to resample onto; None: the first file's.
    window : (float, float) or None
        Keep this range (every file must cover it); None: the range every
        file covers.
    on_error : {"raise", "skip"}
    n_jobs : int
    reason : str
        Where the grid comes from, when not from these options.
    step : (str, float) or None
        ``("--log-step", km/s)`` or ``("--wavelength-step", Angstrom)`` to
        span the range every file covers, when there is no ``window``.
    """

    wavelength: np.ndarray | None = None
    window: tuple[float, float] | None = None
    on_error: str = "raise"
    n_jobs: int = 1
    reason: str = ""
    format: str | None = None
    step: tuple[str, float] | None = None

    @classmethod
    def from_args(cls, args) -> GridChoice:
        window = None
        if args.wavelength_range is not None:
            low, high = args.wavelength_range
            if not 0 < low < high:
                raise InputError(f"--wavelength-range needs 0 < LOW < HIGH; got {low:g} {high:g}.")
            window = (low, high)
        if args.n_jobs == 0 or args.n_jobs < -1:
            raise InputError(f"--n-jobs must be a positive number or -1; got {args.n_jobs}.")
        wavelength, pending = None, None
        step = args.wavelength_step if args.wavelength_step is not None else args.log_step
        if step is not None:
            name = "--wavelength-step" if args.wavelength_step is not None else "--log-step"
            if not step > 0:
                raise InputError(f"{name} must be positive; got {step:g}.")
            if window is None:
                pending = (name, step)
            else:
                wavelength = _stepped_grid(name, step, *window)
        return cls(
            wavelength, window, args.on_error, args.n_jobs, format=args.format, step=pending
        )

    @property
    def is_default(self) -> bool:
        return self.wavelength is None and self.window is None and self.step is None

    def spanning(self, files) -> np.ndarray | None:
        """The grid to read onto: the stepped grid over the first readable file's range.

        The range every file covers lies within the first file's, so the
        reader's ``"common"`` trimming of this grid gives the stepped grid
        over the common range.
        """
        if self.step is None:
            return self.wavelength
        for path in files:
            try:
                wave = read_spectrum(path, format=self.format).wavelength
            except SpectrumReadError:
                if self.on_error == "raise":
                    raise
                continue
            return _stepped_grid(*self.step, float(wave[0]), float(wave[-1]))
        return None  # nothing readable: the reader says so


def _stepped_grid(name: str, step: float, low: float, high: float) -> np.ndarray:
    """A grid from ``low`` to at most ``high``: linear (``--wavelength-step``) or in log."""
    if name == "--wavelength-step":
        n = int(np.floor((high - low) / step + 1e-9)) + 1
        wavelength = low + step * np.arange(n)
    else:
        # c * d(ln lambda) = step: a Doppler shift of k pixels is k * step km/s.
        ratio = step / C_KMS
        n = int(np.floor(np.log(high / low) / ratio + 1e-9)) + 1
        wavelength = low * np.exp(ratio * np.arange(n))
    if n < 2:
        raise InputError(f"{name} {step:g} leaves fewer than 2 pixels in the range.")
    return wavelength


def _say_grid(spectra, n_files: int, seconds: float, grid: GridChoice, out: Path) -> None:
    """What was read onto which grid, and which files were left out (``skipped.csv``)."""
    n_read = len(spectra.flux)
    rate = n_files / seconds if seconds > 0 else float("inf")
    print(f"Read {n_read} of {n_files} files in {seconds:.1f} s ({rate:.0f} files/s).")
    if spectra.skipped:
        table = pd.DataFrame(spectra.skipped, columns=["file", "reason"])
        table.to_csv(out / "skipped.csv", index=False)
        path, reason = spectra.skipped[0]
        print(
            f"Skipped {len(spectra.skipped)} file(s), listed with the reasons in "
            f"{out / 'skipped.csv'}; the first: {path}: {reason}"
        )
    wave, meta = spectra.wavelength, spectra.meta
    if grid.reason:
        why = grid.reason
    elif grid.window is None:
        blue = os.path.basename(meta.loc[meta["wave_first"].idxmax(), "path"])
        red = os.path.basename(meta.loc[meta["wave_last"].idxmin(), "path"])
        why = f"the range every file covers (blue end set by {blue}, red end by {red})"
    else:
        why = f"within --wavelength-range {grid.window[0]:g} {grid.window[1]:g}"
    print(f"Grid: {wave[0]:.3f}-{wave[-1]:.3f} A, {wave.size:,} pixels, {why}.")


def load_spectra(
    spec: str,
    *,
    staging: Path,
    wavelength_file=None,
    normalize=None,
    quiet=False,
    grid: GridChoice | None = None,
):
    """Spectra as a memory map, their grid (or None), ids, preprocessing and file metadata.

    A ``.npy`` array is mapped where it lies. FITS files are read one by one
    into the ``.npy`` file ``staging``, so that no archive is ever held in
    memory, onto the grid ``grid`` describes (by default the range every
    file covers); :func:`prepare_spectra` then checks and preprocesses them
    there.
    """
    grid = grid or GridChoice()
    path = Path(spec)
    if path.suffix == ".npy":
        if not path.is_file():
            raise InputError(f"{spec}: no such file.")
        try:
            X = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise InputError(f"{spec}: not a readable .npy array ({exc}).") from None
        if staging.exists() and os.path.samefile(path, staging):
            raise InputError(
                f"{spec} is where this run writes its preprocessed spectra; "
                "copy it elsewhere or choose another --output."
            )
        if X.ndim != 2 or not np.issubdtype(X.dtype, np.floating):
            raise InputError(
                f"{spec}: expected a float array of shape (n_spectra, n_pixels); "
                f"got {X.dtype} of shape {X.shape}."
            )
        if not grid.is_default or grid.on_error != "raise" or grid.n_jobs != 1 or grid.format:
            raise InputError(
                "--wavelength-range, --wavelength-step, --log-step, --on-error, --format and "
                "--n-jobs are for spectrum files; a .npy array is already on one grid."
            )
        wavelength = None
        if wavelength_file is not None:
            wavelength = _load_wavelength(wavelength_file, X.shape[1])
        ids = np.arange(len(X)).astype(str)
        normalize = normalize or "none"
        meta = None
    else:
        if wavelength_file is not None:
            raise InputError("--wavelength is for .npy input; FITS files carry their own grid.")
        files = _fits_files(spec)
        start = time.perf_counter()
        try:
            spectra = read_spectra(
                files,
                out=staging,
                wavelength=grid.spanning(files),
                wavelength_range=grid.window or "common",
                on_error=grid.on_error,
                n_jobs=grid.n_jobs,
                format=grid.format,
                progress=not quiet,
            )
        except SpectrumReadError as exc:
            raise InputError(f"{exc}. Pass --on-error skip to leave such files out.") from None
        except (ValueError, ImportError) as exc:
            raise InputError(str(exc)) from None
        _say_grid(spectra, len(files), time.perf_counter() - start, grid, staging.parent)
        if len(spectra.flux) < 2:
            raise InputError(
                f"Only {len(spectra.flux)} spectrum could be read: nothing to learn from."
            )
        X, wavelength, meta = spectra.flux, spectra.wavelength, spectra.meta
        ids = np.array([os.path.basename(p) for p in spectra.meta["path"]])
        normalize = normalize or "median"
    steps = [("normalize", MedianNormalizer())] if normalize == "median" else []
    return X, wavelength, ids, steps, meta


#: Bytes of spectra held in memory at a time while they are checked and preprocessed.
_BLOCK_BYTES = 2**26
#: The spectra as the model sees them, in the output folder: read from FITS
#: and/or normalised (a .npy input that needs neither is read where it lies).
_STAGED = "spectra.npy"
#: The model ``fit`` writes, in the output folder.
_MODEL = "model.skspecrep"
#: Spectra as the model sees them when preprocessing changes their pixel count.
_MODEL_INPUT = "model_input.npy"


def prepare_spectra(X, preprocess, ids, staging: Path, *, fit: bool = False):
    """Check every spectrum and preprocess it, a block of rows at a time, into ``staging``.

    ``preprocess`` is a transformer or None; with ``fit`` it is fitted on
    the first block, which suffices for the command's preprocessing (median
    normalisation and the HARPS recipe learn nothing but the pixel grid).
    The result is a float32 ``.npy`` file opened as a memory map. FITS
    spectra, which :func:`load_spectra` read into ``staging``, are rewritten
    in place, unless the preprocessing changes the pixel count (the HARPS
    recipe pads to 327,680): then they go to ``model_input.npy`` beside it.
    A ``.npy`` input is never written to. A ``.npy`` input that needs no
    preprocessing is returned as it is: the autoencoder checks each batch as
    it reads it (see :func:`_non_finite`), and a scan here would read it all
    first.
    """
    in_place = getattr(X, "mode", None) == "r+"  # read from FITS into staging
    if preprocess is None and not in_place:
        return X
    out = target = None
    rows = max(1, _BLOCK_BYTES // (4 * X.shape[1]))
    for start in range(0, len(X), rows):
        block = np.asarray(X[start : start + rows])
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise _non_finite(start + int(np.argmin(finite)), ids)
        if preprocess is not None:
            if fit and start == 0:
                preprocess.fit(block)
            try:
                with warnings.catch_warnings():
                    # Noise-only spectra: the recipe weighs them out and says so once.
                    warnings.simplefilter("ignore", SpectrumQualityWarning)
                    block = preprocess.transform(block)
            except NonPositiveMedianError as exc:
                raise InputError(
                    f"Spectrum {ids[start + exc.rows[0]]} has a median flux that is not "
                    "positive, so it cannot be normalised: drop it, or pass --normalize none."
                ) from None
        if out is None:
            if in_place and block.shape[1] == X.shape[1]:
                out, target = X, staging
            else:
                target = staging if not in_place else staging.with_name(_MODEL_INPUT)
                shape = (len(X), block.shape[1])
                out = np.lib.format.open_memmap(target, mode="w+", dtype=np.float32, shape=shape)
        if out is not X or preprocess is not None:
            out[start : start + rows] = block
    out.flush()
    del out
    return np.load(target, mmap_mode="r")


def _load_wavelength(path: Path, n_pixels: int) -> np.ndarray:
    try:
        wavelength = np.load(path)
    except (ValueError, OSError) as exc:
        raise InputError(f"--wavelength {path}: not a readable .npy array ({exc}).") from None
    if wavelength.shape != (n_pixels,):
        raise InputError(
            f"--wavelength {path} has shape {wavelength.shape}; the spectra have {n_pixels} pixels."
        )
    return wavelength


def _fits_files(spec: str) -> list[str]:
    path = Path(spec)
    if path.suffix.lower() in _LIST_SUFFIXES:
        if not path.is_file():
            raise InputError(f"{spec}: no such list file.")
        lines = [line.strip() for line in path.read_text().splitlines()]
        files = [
            str(p if Path(p).is_absolute() else path.parent / p)
            for p in lines
            if p and not p.startswith("#")
        ]
        if not files:
            raise InputError(f"{spec} lists no files.")
    elif glob.has_magic(spec):
        files = sorted(glob.glob(spec))
        if not files:
            raise InputError(f"No files match {spec!r}.")
    else:
        files = [spec]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise InputError(f"No such file: {missing[0]}{more}.")
    return files


def load_labels(path: Path, ids: np.ndarray, id_column: str | None) -> pd.DataFrame:
    """Numeric label columns in the order of the spectra."""
    if not path.is_file():
        raise InputError(f"--labels {path}: no such file.")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"--labels {path}: not a readable CSV table ({exc}).") from None
    if id_column is not None:
        if id_column not in table.columns:
            raise InputError(
                f"--labels {path} has no column {id_column!r}; its columns are "
                f"{list(table.columns)}."
            )
        keys = table[id_column].astype(str).map(os.path.basename)
        if keys.duplicated().any():
            raise InputError(
                f"--labels {path}: {id_column} repeats {keys[keys.duplicated()].iloc[0]!r}."
            )
        table = table.drop(columns=id_column).set_index(keys)
        missing = [i for i in ids if i not in table.index]
        if missing:
            raise InputError(
                f"--labels {path} has no row for {len(missing)} of {len(ids)} spectra "
                f"(e.g. {missing[0]!r})."
            )
        table = table.loc[list(ids)].reset_index(drop=True)
    elif len(table) != len(ids):
        raise InputError(
            f"--labels {path} has {len(table)} rows but {len(ids)} spectra were read; give "
            "--id-column to match rows to spectra by file name."
        )
    numeric = table.select_dtypes(include="number")
    dropped = [c for c in table.columns if c not in numeric.columns]
    if dropped:
        print(f"Labels: not numeric, not scored: {', '.join(map(str, dropped))}")
    constant = [c for c in numeric.columns if numeric[c].nunique(dropna=True) < 2]
    if constant:
        print(f"Labels: constant, not scored: {', '.join(map(str, constant))}")
        numeric = numeric.drop(columns=constant)
    if numeric.shape[1] == 0:
        raise InputError(
            f"--labels {path} has no numeric column that varies, to score the latents with."
        )
    return numeric.astype(float)


# ------------------------------------------------------------------- commands


def run_demo(args: argparse.Namespace) -> int:
    _check_positive(args, "n_spectra", "n_pixels", "n_components", "epochs", "batch_size", "seeds")
    n_test = max(200, args.n_spectra // 5)
    print(
        f"Generating {args.n_spectra} + {n_test} synthetic spectra of {args.n_pixels} pixels "
        f"(SNR {args.snr:g}) ..."
    )
    X, labels, wavelength = make_stellar_spectra(
        args.n_spectra + n_test,
        n_pixels=args.n_pixels,
        snr=args.snr,
        random_state=args.random_state,
    )
    X_train, X_test = X[: args.n_spectra], X[args.n_spectra :]
    y_train, y_test = labels.iloc[: args.n_spectra][FACTORS], labels.iloc[args.n_spectra :]
    print(
        f"  {wavelength[0]:.1f}-{wavelength[-1]:.1f} A; factors drawn independently: "
        + ", ".join(FACTORS)
    )
    ae = _autoencoder(args, wavelength, validation_fraction=0.1)
    start = time.perf_counter()
    _fit(ae, X_train)
    print(
        f"\nTrained {ae.n_iter_} epochs in {time.perf_counter() - start:.0f} s "
        f"(best validation epoch {ae.best_epoch_})."
    )
    _say_warnings(ae)
    if ae.velocity_latent_ is not None:
        rv = y_test["radial_velocity"].to_numpy()
        z = ae.transform(X_test)[:, ae.velocity_latent_] * ae.velocity_scale_
        rho = abs(spearmanr(z, rv)[0])
        slope, offset = np.polyfit(rv, z, 1)
        print(
            f"Velocity latent z{ae.velocity_latent_} on held-out spectra: |Spearman rho| "
            f"{rho:.3f} with the true radial velocity over {rv.min():.0f}..{rv.max():.0f} km/s; "
            f"z{ae.velocity_latent_} x {ae.velocity_scale_:g} = {slope:.3f} RV {offset:+.1f} km/s."
        )
    stability = _stability(ae, X_train, y_train, args)

    Z = ae.transform(X_test)
    recon = ae.inverse_transform(Z)
    pca = PCA(n_components=args.n_components, random_state=args.random_state).fit(X_train)
    pca_recon = pca.inverse_transform(pca.transform(X_test))
    noise = np.median(np.abs(np.diff(X_test, axis=1))) / (np.sqrt(2) * 0.6745)
    k = args.n_components
    print("\nHeld-out reconstruction, mean absolute error per pixel:")
    for name, err in [
        ("mean spectrum only", np.abs(X_test - ae.mean_).mean()),
        (f"PCA, {k} components", np.abs(X_test - pca_recon).mean()),
        (f"SpectralAutoencoder, {k} latents", np.abs(X_test - recon).mean()),
    ]:
        print(f"  {name:<32} {err:.5f}")
    print(f"  (noise level: sigma ~ {noise:.5f}, mean |noise| ~ {0.798 * noise:.5f})")

    # The labels never reached training, so the training codes can be analysed
    # (as in the paper); the held-out spectra then give an honest score.
    results = _analyse(
        ae,
        X_train,
        ae.encode(X_train),
        y_train,
        wavelength,
        args,
        title="skspecrep demo: synthetic spectra",
        stability=stability,
    )
    scorer = results["scorer"]
    names = [f"z{j}" for j in range(k)]
    # The scorer holds the informative latents only, by name.
    held_out = pd.DataFrame(Z, columns=names)[list(scorer.feature_names_in_)]
    score = scorer.score(held_out, y_test[FACTORS])
    print(
        f"\nPhysics score on held-out spectra (mean coefficient of the best latents): {score:.2f}"
    )
    return 0


def run_fit(args: argparse.Namespace) -> int:
    paper = args.recipe == "sedaghat2021"
    for name, value in RECIPES[args.recipe].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    _check_positive(args, "n_components", "epochs", "batch_size", "seeds")
    if not 0 <= args.validation_fraction < 1:
        raise InputError(
            f"--validation-fraction must be in [0, 1); got {args.validation_fraction}."
        )
    if paper and args.normalize is not None:
        raise InputError(
            "--recipe sedaghat2021 normalises as the paper did; leave out --normalize."
        )
    out = _output_dir(args.output)
    staging = out / _STAGED
    X, wavelength, ids, steps, meta = load_spectra(
        args.spectra,
        staging=staging,
        wavelength_file=args.wavelength,
        normalize=args.normalize,
        quiet=args.quiet,
        grid=GridChoice.from_args(args),
    )
    labels = None if args.labels is None else load_labels(args.labels, ids, args.id_column)
    if args.architecture is None:
        # Spectrum files hold real spectra, whose lines the transposed-convolution
        # decoder draws worse than PCA (benchmarks/real_files.py); arrays keep
        # the estimator's default.
        args.architecture = "auto" if Path(args.spectra).suffix == ".npy" else "dense"
    checkpoint = out / "checkpoint.pt"
    if args.restart:
        checkpoint.unlink(missing_ok=True)
    elif checkpoint.exists():
        print(f"Resuming from {checkpoint} (--restart trains anew).")
    extra, sample_weight = {}, None
    if paper:
        steps = [("harps", _harps_recipe(wavelength))]
    pre = Pipeline(steps) if steps else None
    X_model = prepare_spectra(X, pre, ids, staging, fit=True)
    if paper:
        harps = steps[0][1]
        wavelength = harps.wavelength_
        extra["pixel_mask"] = harps.pixel_mask_
        sample_weight = _star_weights(meta, _noise_only(harps, X))
        if args.kl_warmup is None:
            args.kl_warmup = _paper_warmup(len(X), args.validation_fraction, args.batch_size)
    ae = _autoencoder(
        args,
        wavelength,
        validation_fraction=args.validation_fraction or None,
        checkpoint=checkpoint,
        device=args.device,
        **extra,
    )
    print(
        f"Training on {X_model.shape[0]} spectra of {X_model.shape[1]} pixels "
        f"(architecture {args.architecture}) ..."
    )
    start = time.perf_counter()
    try:
        _fit(ae, X_model, sample_weight)
    except CheckpointError as exc:
        raise InputError(f"{exc} Or pass --restart.") from None
    except NonFiniteRowError as exc:
        raise _non_finite(exc.row, ids) from None
    if ae.stop_reason_ == "interrupted":
        print(
            f"\nInterrupted after {ae.n_iter_} complete epoch(s), saved in {checkpoint}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        return _EXIT_INTERRUPTED
    why = {"max_epochs": "all epochs run", "early_stopping": "stopped early"}[ae.stop_reason_]
    print(
        f"Trained {ae.n_iter_} epochs, {why} ({time.perf_counter() - start:.0f} s in this "
        f"run; weights of epoch {ae.best_epoch_} kept)."
    )
    _say_warnings(ae)
    model = Pipeline([*steps, ("autoencoder", ae)])
    model_file = save_model(model, out / _MODEL)
    print(f"Model: {model_file} (skspecrep.io.load_model reads it)")
    codes = _write_codes(ae, X_model, ids, out)
    stability = _stability(ae, X_model, labels, args, sample_weight)
    _analyse(
        ae, X_model, codes, labels, wavelength, args,
        title=f"skspecrep fit: {args.spectra}", stability=stability,
    )  # fmt: skip
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    model = _load_model(args.model, allow_pickle=args.allow_pickle)
    if args.normalize is not None:
        raise InputError(
            "--normalize is set by the model: 'analyze' applies the preprocessing it was "
            "trained with."
        )
    ae = model[-1]
    grid = GridChoice.from_args(args)
    model_grid = _read_grid(model)
    if model_grid is not None and not Path(args.spectra).suffix == ".npy":
        if not grid.is_default:
            raise InputError(
                "The model holds its wavelength grid: 'analyze' reads the files onto it, "
                "so --wavelength-range, --wavelength-step and --log-step do not apply."
            )
        grid = GridChoice(
            wavelength=model_grid,
            window=(model_grid[0], model_grid[-1]),
            on_error=grid.on_error,
            n_jobs=grid.n_jobs,
            reason="the model's grid",
            format=grid.format,
        )
    out = _output_dir(args.output)
    staging = out / _STAGED
    X, wavelength, ids, _, _ = load_spectra(
        args.spectra,
        staging=staging,
        wavelength_file=args.wavelength,
        normalize="none",
        quiet=args.quiet,
        grid=grid,
    )
    if X.shape[1] != model[0].n_features_in_:
        raise InputError(
            f"The spectra have {X.shape[1]} pixels but the model was trained on "
            f"{model[0].n_features_in_}; put them on the same grid first."
        )
    labels = None if args.labels is None else load_labels(args.labels, ids, args.id_column)
    X_model = prepare_spectra(X, model[:-1] if len(model) > 1 else None, ids, staging)
    try:
        codes = _write_codes(ae, X_model, ids, out)
    except NonFiniteRowError as exc:
        raise _non_finite(exc.row, ids) from None
    _analyse(
        ae, X_model, codes, labels, wavelength, args, title=f"skspecrep analyze: {args.spectra}"
    )
    return 0


# -------------------------------------------------------------------- helpers


def _harps_recipe(wavelength) -> HARPSPreprocessor:
    if wavelength is None:
        raise InputError(
            "--recipe sedaghat2021 resamples the spectra onto the HARPS grid: give their "
            "wavelengths (--wavelength for .npy spectra)."
        )
    lo, hi = HARPS_RANGE
    if wavelength[0] > lo + HARPS_MAX_UNCOVERED or wavelength[-1] < hi - HARPS_MAX_UNCOVERED:
        raise InputError(
            f"--recipe sedaghat2021 needs spectra covering {lo:g}-{hi:g} A (to within "
            f"{HARPS_MAX_UNCOVERED:g} A at either end); the grid covers "
            f"{wavelength[0]:.2f}-{wavelength[-1]:.2f} A."
        )
    return HARPSPreprocessor(wavelength)


def _noise_only(harps: HARPSPreprocessor, X) -> np.ndarray:
    """The paper's noise-only flags (raw median below 50), a block of rows at a time."""
    rows = max(1, _BLOCK_BYTES // (4 * X.shape[1]))
    return np.concatenate([harps.noise_only(X[i : i + rows]) for i in range(0, len(X), rows)])


def _star_weights(meta: pd.DataFrame | None, noise_only: np.ndarray) -> np.ndarray:
    """Sampling weight 1 / (spectra of the same star), from OBJECT; 0 for noise-only spectra.

    A spectrum without an OBJECT counts as a star of its own.
    """
    n = len(noise_only)
    weight = np.ones(n)
    if meta is not None and "object" in meta:
        names = meta["object"].astype("string").str.strip()
        named = (names.notna() & (names != "")).to_numpy()
        counts = names[named].value_counts()
        weight[named] = 1.0 / names[named].map(counts).to_numpy(dtype=float)
        n_stars = len(counts) + int((~named).sum())
        print(
            f"Sampling weight 1/count per star (OBJECT): {n} spectra of {n_stars} stars, "
            f"up to {int(counts.max()) if len(counts) else 1} spectra per star."
        )
    else:
        print("Sampling: the spectra carry no OBJECT, so every spectrum counts once.")
    if noise_only.any():
        weight[noise_only] = 0.0
        print(
            f"{int(noise_only.sum())} spectra are noise only (raw median flux below 50) and "
            "get weight 0, as the paper left them out."
        )
    if not np.any(weight > 0):
        raise InputError("Every spectrum is noise only (raw median flux below 50).")
    return weight


def _paper_warmup(n_spectra: int, validation_fraction: float, batch_size: int):
    """The paper's KL warm-up, iterations 5,000 to 20,000, in epochs of this data set."""
    n_train = n_spectra - int(np.ceil(validation_fraction * n_spectra))
    steps = -(-n_train // batch_size)
    return tuple(i / steps for i in _PAPER_WARMUP_ITERATIONS)


def _read_grid(model: Pipeline):
    """The grid that new files are read onto for ``model``: its first step's input grid."""
    first = model[0]
    if isinstance(first, HARPSPreprocessor | WavelengthResampler) and first.wavelength is not None:
        return np.asarray(first.wavelength, dtype=np.float64)
    wavelength = model[-1].wavelength
    return None if wavelength is None else np.asarray(wavelength, dtype=np.float64)


def _load_model(path: Path, *, allow_pickle: bool) -> Pipeline:
    """The Pipeline written by ``skspecrep fit``; a pickle only when allowed."""
    if not path.is_file():
        raise InputError(f"{path}: no such model file.")
    # A zip archive is read as a model file, even with --allow-pickle: a file
    # may start as a pickle and still end as a valid zip.
    if not zipfile.is_zipfile(path):
        if not allow_pickle:
            raise InputError(
                f"{path} is not a skspecrep model file; if it is a pickle (model.pkl of an "
                "older version), opening it would run any code it holds: pass --allow-pickle "
                "only for a file you made or trust."
            )
        try:
            with open(path, "rb") as f:
                model = pickle.load(f)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
            raise InputError(f"{path}: not a model written by 'skspecrep fit' ({exc}).") from None
    else:
        try:
            model = load_model(path)
        except ModelFileError as exc:
            raise InputError(str(exc)) from None
    if not isinstance(model, Pipeline) or not isinstance(model[-1], SpectralAutoencoder):
        raise InputError(f"{path}: not a model written by 'skspecrep fit'.")
    return model


def _non_finite(row: int, ids) -> InputError:
    return InputError(
        f"Spectrum {ids[row]} has NaN or infinite pixels: bad values, or outside "
        "its file's wavelength coverage. Trim the grid or drop that spectrum."
    )


def _epochs(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _check_positive(args, *names):
    for name in names:
        value = getattr(args, name)
        if value != "auto" and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1.")


def _output_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise InputError(f"--output {path} exists and is not a folder.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _autoencoder(args, wavelength, **extra) -> SpectralAutoencoder:
    if args.virtual_rv and wavelength is None:
        raise InputError(
            "--virtual-rv shifts spectra on their wavelength grid: give the wavelengths "
            "(--wavelength for .npy spectra)."
        )
    if args.decorrelation < 0:
        raise InputError(f"--decorrelation must be at least 0; got {args.decorrelation:g}.")
    settings = {}
    if getattr(args, "architecture", None) is not None:
        settings["architecture"] = args.architecture
    if getattr(args, "kl_warmup", None) is not None:
        settings["kl_warmup"] = tuple(args.kl_warmup)
    return SpectralAutoencoder(
        n_components=args.n_components,
        max_epochs=args.epochs,
        beta=args.beta,
        decorrelation=args.decorrelation,
        **settings,
        lr=args.lr,
        batch_size=args.batch_size,
        # The grid travels with the model, so that 'analyze' reads new files onto it.
        wavelength=wavelength,
        virtual_rv=args.virtual_rv or None,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
        **extra,
    )


def _fit(ae, X, sample_weight=None) -> SpectralAutoencoder:
    """Fit, with fit's warnings said once, in the command's words, by :func:`_say_warnings`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingInterruptedWarning)
        warnings.simplefilter("ignore", PosteriorCollapseWarning)
        warnings.simplefilter("ignore", TrainingNotConvergedWarning)
        warnings.simplefilter("ignore", WorseThanPCAWarning)
        return ae.fit(X, sample_weight=sample_weight)


def _say_warnings(ae) -> None:
    """The network against PCA of its width, then each of fit's warnings."""
    network, pca = ae.reconstruction_error_, ae.pca_reconstruction_error_
    if pca > 0:  # False for NaN: not compared
        sample = "held-out spectra" if ae.validation_fraction else "a sample of the spectra"
        print(
            f"Reconstruction error on {sample}: network {network:.4g}, PCA with "
            f"{ae.n_components} components {pca:.4g} ({network / pca:.2f}x PCA's)."
        )
    for problem in ae.fit_warnings_:
        print(f"\nWarning: {problem}", file=sys.stderr)


def _stability(ae, X, labels, args, sample_weight=None):
    """The first model and ``--seeds - 1`` more trained alike from the next seeds, compared."""
    if args.seeds < 2:
        return None
    models = [ae]
    for k in range(1, args.seeds):
        print(f"\nTraining seed {args.random_state + k} ({k + 1} of {args.seeds}) ...")
        other = clone(ae).set_params(random_state=args.random_state + k, checkpoint=None)
        models.append(_fit(other, X, sample_weight))
        _say_warnings(other)
    result = seed_stability(models, X, labels, random_state=args.random_state)
    print(
        f"\nStability over {args.seeds} seeds (reference: seed "
        f"{args.random_state + result.reference}; UDR "
        + ", ".join(f"{u:.2f}" for u in result.udr)
        + "):"
    )
    print(
        "  latent  reproduced  median |rho|  worst |rho|"
        + ("  label" if labels is not None else "")
    )
    for row in result.latents.itertuples():
        label = ""
        if labels is not None and row.label is not None:
            label = (
                f"  {row.label} in {row.label_agreement} of {args.seeds} "
                f"(|rho| {row.label_rho_min:.2f}-{row.label_rho_max:.2f})"
            )
        print(
            f"  z{row.latent:<6} {row.n_reproduced:>3} of {args.seeds}  "
            f"{row.median_rho:12.2f} {row.worst_rho:12.2f}{label}"
        )
    return result


def _write_codes(ae, X, ids, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Encode the spectra (the command's one pass over them) and write the codes.

    Returns the posterior means and log-variances, which the selection and
    the report then use instead of encoding the spectra again.
    """
    mean, log_var = ae.encode(X)
    np.save(out / "codes.npy", mean)
    table = pd.DataFrame(mean, columns=[f"z{j}" for j in range(mean.shape[1])])
    sigma = pd.DataFrame(np.exp(0.5 * log_var), columns=[f"sigma_{z}" for z in table.columns])
    table.insert(0, "spectrum", ids)
    pd.concat([table, sigma], axis=1).to_csv(out / "codes.csv", index=False)
    print(f"Codes: {out / 'codes.npy'} and {out / 'codes.csv'} (with posterior sigmas)")
    return mean, log_var


def _analyse(ae, X, codes, labels, wavelength, args, *, title, stability=None) -> dict:
    """Select, score, print the summary and write the report.

    ``codes`` is ``ae.encode(X)``: nothing here encodes ``X`` again.
    """
    mean, log_var = codes
    names = [f"z{j}" for j in range(ae.n_components)]
    selector = InformativeDimensionSelector(criterion="kl").fit(mean, log_var=log_var)
    Z = pd.DataFrame(mean, columns=names)
    k = ae.n_components
    print(
        f"\nInformative latents: {selector.kl_support_.sum()} of {k} by KL "
        f"(threshold {selector.kl_threshold_:.3g} nats), {selector.mad_support_.sum()} by MAD "
        f"(threshold {selector.mad_threshold_:.3g}); "
        + ("the criteria agree." if selector.criteria_agree_ else "the criteria disagree.")
    )
    print(
        f"Independently informative: {selector.n_independent_} "
        f"(selected latents sharing more than {selector.redundancy} nats count once)."
    )
    scorer = None
    if labels is not None and not selector.kl_support_.any():
        print("No latent is informative, so none is scored against the labels.")
    elif labels is not None:
        # Collapsed latents are not ranked: rank-based MI ignores how little they vary.
        scorer = LatentCorrelationScorer(n_bootstrap=20, random_state=args.random_state)
        scorer.fit(Z.loc[:, selector.kl_support_], labels)
        _print_label_table(selector, scorer)
    if not args.no_report:
        from .report import write_report

        print("\nWriting the report ...")
        report = write_report(
            args.output,
            ae,
            X,
            labels,
            codes=codes,
            wavelength=wavelength,
            selector=selector,
            scorer=scorer,
            stability=stability,
            title=title,
            random_state=args.random_state,
        )
        print(f"Report: {report.html} (figures, summary.json and CSV tables beside it)")
    return {"selector": selector, "scorer": scorer}


def _print_label_table(selector, scorer):
    labels = list(scorer.label_names_)
    r = scorer.information_coefficient_
    latents = [int(name[1:]) for name in scorer.feature_names_in_]  # "z3" -> 3
    print(
        f"\nHow strongly each informative latent tracks each label "
        f"({scorer.n_samples_per_label_.max()} spectra):"
    )
    print("  information coefficient sqrt(1 - exp(-2 MI)), 0 = none, 1 = all")
    print("  latent   KL    " + " ".join(f"{str(f)[:11]:>11}" for f in labels))
    for i in np.argsort([-selector.kl_[j] for j in latents]):
        cells = " ".join(f"{v:11.2f}" for v in r[i])
        print(f"  z{latents[i]:<6} {selector.kl_[latents[i]]:5.2f}  {cells}")
    collapsed = len(selector.kl_) - len(latents)
    if collapsed:
        print(f"  ({collapsed} collapsed latents, KL at most {selector.kl_threshold_:.3g} nats, "
              "are not ranked)")  # fmt: skip
    print("\nBest latent per label (MI by KSG, +- bootstrap spread):")
    for row, i in zip(scorer.report().itertuples(), scorer.best_latent_):
        verdict = "top at every binning" if row.paper_criterion else "not top at every binning"
        print(
            f"  {row.label:<16} z{latents[i]:<3} MI = {row.mi:.2f} +- {row.mi_std:.2f} "
            f"nats  (coefficient {row.information_coefficient:.2f}; {verdict})"
        )


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """The package's own warnings in the command's words; others as Python shows them."""
    if category.__module__ == "skspecrep.exceptions":
        print(f"\nWarning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skspecrep`` command."""
    args = build_parser().parse_args(argv)
    run = {"demo": run_demo, "fit": run_fit, "analyze": run_analyze}[args.command]
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return run(args)
    except InputError as exc:
        print(f"skspecrep {args.command}: error: {exc}", file=sys.stderr)
        return _EXIT_INPUT
    except FloatingPointError as exc:
        print(f"skspecrep {args.command}: training failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nskspecrep {args.command}: interrupted.", file=sys.stderr)
        return _EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
