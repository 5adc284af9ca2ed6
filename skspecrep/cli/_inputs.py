"""What a command reads: spectrum files or a ``.npy`` array onto one grid, staged on disk,
label tables, model files.
"""

from __future__ import annotations

import glob
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .. import (
    HARPSPreprocessor,
    MedianNormalizer,
    SpectralAutoencoder,
    WavelengthResampler,
)
from ..exceptions import (
    ModelFileError,
    NonPositiveMedianError,
    SpectrumQualityWarning,
    SpectrumReadError,
)
from ..io import load_model, read_spectra, read_spectrum, wavelength_grid
from ._errors import InputError, non_finite_error

_LIST_SUFFIXES = {".txt", ".lst", ".list"}


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
        return cls(wavelength, window, args.on_error, args.n_jobs, format=args.format, step=pending)

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
    """The grid of ``--wavelength-step`` or ``--log-step`` from ``low`` to at most ``high``."""
    width = {"step": step} if name == "--wavelength-step" else {"log_step": step}
    try:
        return wavelength_grid(low, high, **width)
    except ValueError:  # the step and the range were checked: too few pixels
        raise InputError(f"{name} {step:g} leaves fewer than 2 pixels in the range.") from None


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
BLOCK_BYTES = 2**26
#: The spectra as the model sees them, in the output folder: read from FITS
#: and/or normalised (a .npy input that needs neither is read where it lies).
STAGED_SPECTRA = "spectra.npy"
#: The model ``fit`` writes, in the output folder.
MODEL_FILE = "model.skspecrep"
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
    it reads it (see :func:`non_finite_error`), and a scan here would read it all
    first.
    """
    in_place = getattr(X, "mode", None) == "r+"  # read from FITS into staging
    if preprocess is None and not in_place:
        return X
    out = target = None
    rows = max(1, BLOCK_BYTES // (4 * X.shape[1]))
    for start in range(0, len(X), rows):
        block = np.asarray(X[start : start + rows])
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise non_finite_error(start + int(np.argmin(finite)), ids)
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
                f"(e.g. {str(missing[0])!r})."
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


def read_grid(model: Pipeline):
    """The grid that new files are read onto for ``model``: its first step's input grid."""
    first = model[0]
    if isinstance(first, HARPSPreprocessor | WavelengthResampler) and first.wavelength is not None:
        return np.asarray(first.wavelength, dtype=np.float64)
    wavelength = model[-1].wavelength
    return None if wavelength is None else np.asarray(wavelength, dtype=np.float64)


def read_model(path: Path, *, allow_pickle: bool) -> Pipeline:
    """The Pipeline written by ``skspecrep fit``; a pickle only when allowed."""
    if not path.is_file():
        raise InputError(f"{path}: no such model file.")
    try:
        model = load_model(path, allow_pickle=allow_pickle)
    except ModelFileError as exc:
        # The library's name for the option, in the command's words.
        raise InputError(str(exc).replace("allow_pickle=True", "--allow-pickle")) from None
    if not isinstance(model, Pipeline) or not isinstance(model[-1], SpectralAutoencoder):
        raise InputError(f"{path}: not a model written by 'skspecrep fit'.")
    return model
