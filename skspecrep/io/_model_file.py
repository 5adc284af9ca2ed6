"""Model files that load without running code: a zip of JSON and ``.npz`` arrays.

A model file (``*.skspecrep``) is a zip archive of two members:

``model.json``
    The format name and version, the versions of the packages that wrote it,
    and each step of the model: its class (one of :data:`STEP_CLASSES`, by
    name), its parameters and its fitted attributes. Arrays appear as
    references into ``arrays.npz``; the SHA-256 of that member is recorded.
``arrays.npz``
    Every array: parameters such as the wavelength grid, fitted arrays such as
    the mean spectrum, and the network's weights, read with
    ``numpy.load(allow_pickle=False)``.

Nothing in either member is executed: classes are looked up in a fixed
table, never imported by name, and no pickle is read.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .. import exceptions
from .._autoencoder import SpectralAutoencoder
from .._files import replace_atomically
from .._preprocessing import HARPSPreprocessor, MedianNormalizer, WavelengthResampler
from ..exceptions import ModelFileError
from ._restore import fitted_autoencoder

FORMAT = "skspecrep-model"
#: Version of the layout written; files of a higher version are refused.
FORMAT_VERSION = 1
#: The classes a model file may hold, by the name it stores.
STEP_CLASSES = {
    cls.__name__: cls
    for cls in (SpectralAutoencoder, MedianNormalizer, WavelengthResampler, HARPSPreprocessor)
}
_CONFIG, _ARRAYS = "model.json", "arrays.npz"
#: Widest spectrum a preprocessing step of a model file may describe without
#: arrays to show for it: 2**22 pixels, 13 times the paper's padded HARPS grid.
#: (A width backed by a saved array, such as a wavelength grid, is bounded by
#: the file's size.)
MAX_PIXELS = 2**22
#: Largest ``model.json`` read, in bytes. Parameters, fitted scalars and the
#: history of a run of ten thousand epochs take a few MB.
MAX_CONFIG_BYTES = 64 * 2**20
#: Parameters of one training run that name files or hold code, and the
#: value a loaded model gets instead of the saved one: a model file never
#: tells a later ``fit`` where to write or what to run.
RUN_PARAMS = {"checkpoint": None, "warm_start": False, "callbacks": None}
#: Warnings that a fitted estimator may record (``fit_warnings_``), by name.
_WARNINGS = {
    name: getattr(exceptions, name) for name in exceptions.__all__ if name.endswith("Warning")
}
_WARNINGS.update(UserWarning=UserWarning, ConvergenceWarning=ConvergenceWarning)


def save_model(model, path: str | os.PathLike) -> Path:
    """Write a fitted model to a file that loads without running code.

    Parameters
    ----------
    model : SpectralAutoencoder, preprocessing transformer, or Pipeline of them
        A fitted :class:`~skspecrep.SpectralAutoencoder`,
        :class:`~skspecrep.MedianNormalizer`,
        :class:`~skspecrep.WavelengthResampler` or
        :class:`~skspecrep.HARPSPreprocessor`, or a
        :class:`~sklearn.pipeline.Pipeline` of them (such as the
        preprocessing and autoencoder that ``skspecrep fit`` trains).
    path : str or path-like
        The file to write (conventionally ``*.skspecrep``); it is written to
        a new temporary file first and then renamed, so an existing file is
        replaced only by a complete one (a symbolic link at ``path`` is
        replaced, not written through).

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        When the model holds a class that model files cannot hold, or a
        parameter that cannot be stored without pickle (a
        ``numpy.random.RandomState`` as ``random_state``): set it to a
        plain value (an int, None) first.
    sklearn.exceptions.NotFittedError
        When a step is not fitted.

    See Also
    --------
    load_model : Read the file back.

    Notes
    -----
    The network's weights and every fitted attribute are saved; the
    optimizer's state is not (a warm start from a loaded model starts its
    moments anew; a training ``checkpoint`` resumes exactly).

    The parameters of one training run that name files or hold code,
    ``checkpoint``, ``warm_start`` and ``callbacks`` (:data:`RUN_PARAMS`),
    are not saved: a loaded model has their defaults (None, False, None),
    whatever the file says, so that a file someone sent cannot make a later
    ``fit`` write to a path of its choosing or run code. Set them again
    before continuing to train a loaded model.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from skspecrep import MedianNormalizer, SpectralAutoencoder
    >>> from skspecrep.io import load_model, save_model
    >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(40, 64))
    >>> model = make_pipeline(
    ...     MedianNormalizer(), SpectralAutoencoder(2, max_epochs=2, random_state=0)
    ... ).fit(X)
    >>> path = save_model(model, os.path.join(tempfile.mkdtemp(), "model.skspecrep"))
    >>> again = load_model(path)
    >>> bool(np.array_equal(again.transform(X), model.transform(X)))
    True
    """
    path = Path(path)
    steps = model.steps if isinstance(model, Pipeline) else [(None, model)]
    if isinstance(model, Pipeline) and model.memory is not None:
        raise TypeError("A Pipeline with memory cannot be stored in a model file; set memory=None.")
    arrays: dict[str, np.ndarray] = {}
    config_steps = []
    for i, (name, step) in enumerate(steps):
        encoder = _Encoder(arrays, prefix=f"step{i}")
        config_steps.append({"name": name, **_save_step(step, encoder)})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": _versions(),
        "kind": "pipeline" if isinstance(model, Pipeline) else "estimator",
        "pipeline": {"verbose": bool(model.verbose)} if isinstance(model, Pipeline) else None,
        "steps": config_steps,
        "arrays_sha256": hashlib.sha256(payload).hexdigest(),
    }

    def write(file):
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_CONFIG, json.dumps(config, indent=1))
            archive.writestr(_ARRAYS, payload)

    return replace_atomically(path, write)


def load_model(path: str | os.PathLike, *, allow_pickle: bool = False):
    """Read a model written by :func:`save_model`, without running code from it.

    Parameters
    ----------
    path : str or path-like
        The model file.
    allow_pickle : bool, default=False
        Also open a pickle (``model.pkl``, as skspecrep wrote before model
        files existed). Unpickling runs any code the file holds: allow it
        only for a file you made or trust. A model file is read as one even
        when pickles are allowed, since a file may start as a pickle and end
        as a valid model file.

    Returns
    -------
    model : estimator or Pipeline
        The fitted model, as it was saved: its ``transform`` gives the codes
        the saved model gave.

    Raises
    ------
    ModelFileError
        When the file is missing or is not a skspecrep model file, was
        written by a newer format version, holds a class outside
        :data:`STEP_CLASSES`, was changed or damaged after it was written,
        or is malformed in any way (compressed or encrypted members, arrays
        whose headers disagree with their bytes, weights that do not fit
        the parameters or are not finite, an unknown device, fitted
        attributes that would hide methods). Its message names the file and
        the reason in one line; nothing is allocated beyond what the file
        holds before the check that refuses it.

    See Also
    --------
    save_model : Write such a file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.io import load_model, save_model
    >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(40, 64))
    >>> ae = SpectralAutoencoder(2, max_epochs=2, random_state=0).fit(X)
    >>> path = save_model(ae, os.path.join(tempfile.mkdtemp(), "ae.skspecrep"))
    >>> loaded = load_model(path)
    >>> loaded.n_iter_, bool(np.array_equal(loaded.transform(X), ae.transform(X)))
    (2, True)
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "no such file")
    if not zipfile.is_zipfile(path):
        if not allow_pickle:
            raise ModelFileError(
                path,
                "not a skspecrep model file (not a zip archive); if it is a pickle (model.pkl "
                "of an older version), opening it would run any code it holds: pass "
                "allow_pickle=True only for a file you made or trust",
            )
        return _unpickle(path)
    raw_config, payload = _read_members(path)
    config = _parse_config(path, raw_config)
    if hashlib.sha256(payload).hexdigest() != config.get("arrays_sha256"):
        raise ModelFileError(
            path,
            f"{_ARRAYS} does not match the checksum in {_CONFIG}: the file was changed "
            "or damaged after it was written",
        )
    arrays = _read_arrays(path, payload, _array_keys(config.get("steps")))
    del payload
    try:
        decoder = _Decoder(arrays)
        steps = [(s.get("name"), _load_step(s, decoder)) for s in config["steps"]]
        if config["kind"] == "estimator":
            if len(steps) != 1:
                raise ValueError(f"an estimator file holds one step, not {len(steps)}")
            return steps[0][1]
        if config["kind"] != "pipeline":
            raise ValueError(f"unknown kind {config['kind']!r}")
        return Pipeline(steps, verbose=bool(config["pipeline"]["verbose"]))
    except ModelFileError:
        raise
    except (
        KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError, OverflowError,
    ) as exc:  # fmt: skip
        raise ModelFileError(path, f"its content is inconsistent ({_first_line(exc)})") from None


def _unpickle(path: Path):
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as exc:
        raise ModelFileError(path, f"neither a model file nor a readable pickle ({exc})") from None


# ------------------------------------------------------------------ reading
#
# Everything is checked before it is allocated: member sizes from the zip's
# directory, array sizes from their .npy headers. Both zips are written
# uncompressed (save_model and numpy.savez store their members), and only
# stored members are read, so no member grows when read: reading a file
# costs at most about twice its size, whatever it claims.


def _read_members(path: Path) -> tuple[bytes, bytes]:
    """``model.json`` and ``arrays.npz`` of the file, checked against its directory first."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if sorted(names) != sorted([_CONFIG, _ARRAYS]):
                raise ModelFileError(
                    path,
                    f"not a skspecrep model file (it holds {sorted(names)}, not "
                    f"{[_ARRAYS, _CONFIG]})",
                )
            for info in infos:
                _check_member(path, info, size, f"member {info.filename}")
            if archive.getinfo(_CONFIG).file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(
                    path,
                    f"its {_CONFIG} is {archive.getinfo(_CONFIG).file_size:,} bytes, more than "
                    f"a model's description needs ({MAX_CONFIG_BYTES:,})",
                )
            return archive.read(_CONFIG), archive.read(_ARRAYS)
    except zipfile.BadZipFile as exc:
        reason = "not a zip archive" if "not a zip file" in str(exc) else _first_line(exc)
        raise ModelFileError(path, f"not a skspecrep model file ({reason})") from None
    except (EOFError, OSError, NotImplementedError, RuntimeError, ValueError) as exc:
        reason = f"it cannot be read as a zip archive ({_first_line(exc)})"
        raise ModelFileError(path, reason) from None


def _check_member(path: Path, info: zipfile.ZipInfo, limit: int, what: str) -> None:
    """Check that a zip member reads as the bytes it holds: stored, unencrypted, in ``limit``."""
    if info.flag_bits & 0x1:
        raise ModelFileError(path, f"its {what} is encrypted; model files are not")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ModelFileError(
            path,
            f"its {what} is compressed (method {info.compress_type}); model files store "
            "their members uncompressed",
        )
    if info.file_size != info.compress_size or info.file_size > limit:
        raise ModelFileError(
            path,
            f"its {what} claims {info.file_size:,} bytes, in an archive of {limit:,}",
        )


def _parse_config(path: Path, raw: bytes) -> dict:
    """The parsed ``model.json``, when it describes a model of a format this version reads."""
    try:
        config = json.loads(raw)
    except RecursionError:
        raise ModelFileError(path, f"its {_CONFIG} is nested too deeply to be a model") from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also over-long integers
        raise ModelFileError(
            path, f"its {_CONFIG} is not valid JSON ({_first_line(exc)})"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(path, f"not a skspecrep model file ({_CONFIG} names no {FORMAT!r})")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(path, f"format_version {version!r:.40} is not a version number")
    if version > FORMAT_VERSION:
        writer = config.get("written_by")
        writer = writer.get("skspecrep") if isinstance(writer, dict) else None
        writer = writer if isinstance(writer, str) else "a newer version"
        raise ModelFileError(
            path,
            f"written in model format {version} by skspecrep {writer:.40}; this skspecrep "
            f"reads format {FORMAT_VERSION} and older: upgrade skspecrep to load it",
        )
    return config


def _array_keys(value) -> set[str]:
    """The keys of ``arrays.npz`` that a (parsed) ``model.json`` refers to."""
    keys, stack = set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("__array__"), str):
                keys.add(item["__array__"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return keys


def _read_arrays(path: Path, payload: bytes, keys: set[str]) -> dict[str, np.ndarray]:
    """The arrays named ``keys`` of the ``.npz`` payload; the others are never read.

    Each array's header (shape and dtype) is checked against the bytes the
    member holds before the array is allocated.
    """
    what = f"{_ARRAYS} cannot be read without pickle"
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as npz:
            infos = npz.infolist()
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise ModelFileError(path, f"its {_ARRAYS} holds a member name twice")
            members = {info.filename: info for info in infos}
            for key in sorted(keys):
                info = members.get(f"{key}.npy")
                if info is None:
                    raise ModelFileError(path, f"its {_ARRAYS} lacks the array {key!r:.80}")
                _check_member(path, info, len(payload), f"array {key!r:.80}")
                with npz.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    header = {
                        (1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0,
                    }.get(version)
                    if header is None:
                        raise ModelFileError(
                            path, f"its array {key!r:.80} is in .npy format {version}"
                        )
                    shape, _, dtype = header(member)
                    if dtype.hasobject:
                        raise ModelFileError(
                            path, f"{what} (the array {key!r:.80} holds Python objects)"
                        )
                    held = info.file_size - member.tell()
                    declared = math.prod(shape) * dtype.itemsize
                    if declared != held:
                        raise ModelFileError(
                            path,
                            f"its array {key!r:.80} declares {declared:,} bytes and holds "
                            f"{held:,}",
                        )
                with npz.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    except ModelFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise ModelFileError(path, f"{what} ({_first_line(exc)})") from None
    return arrays


def _first_line(exc: BaseException) -> str:
    """An exception's message, first line only, at most 200 characters."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


# --------------------------------------------------------------------- steps


def _save_step(step, encoder: _Encoder) -> dict:
    name = type(step).__name__
    if type(step) is not STEP_CLASSES.get(name):
        raise TypeError(
            f"A model file cannot hold a {type(step).__qualname__}; it holds "
            f"{', '.join(STEP_CLASSES)} and Pipelines of them."
        )
    check_is_fitted(step)
    params = step.get_params(deep=False)
    for key, value in params.items():
        if key == "random_state" and isinstance(value, np.random.RandomState):
            raise TypeError(
                f"{name}(random_state=<RandomState>) cannot be stored without pickle; "
                "set random_state to an int or None before saving."
            )
    params.update({k: v for k, v in RUN_PARAMS.items() if k in params})
    entry = {"class": name, "params": encoder.encode(params, "params")}
    if name == "SpectralAutoencoder":
        from .._training import net_state

        state = {k: v for k, v in vars(step).items() if k not in params}
        module_state, history = net_state(state.pop("net_"))
        entry["fitted"] = encoder.encode(state, "fitted")
        entry["module_state"] = encoder.encode(module_state, "module")
        entry["history"] = encoder.encode(history, "history")
    else:
        # The preprocessing steps are rebuilt by fitting them on a
        # placeholder of the right width (their fit learns nothing else),
        # then given their saved public fitted attributes.
        fitted = {k: v for k, v in vars(step).items() if k.endswith("_") and not k.startswith("_")}
        entry["fitted"] = encoder.encode(fitted, "fitted")
    return entry


def _load_step(entry: dict, decoder: _Decoder):
    name = entry["class"]
    if name not in STEP_CLASSES:
        raise ValueError(
            f"it names class {name!r}; model files hold only {', '.join(STEP_CLASSES)}"
        )
    params = decoder.decode(entry["params"])
    if not isinstance(params, dict):
        raise ValueError(f"the parameters of {name} are not a mapping")
    params.update({k: v for k, v in RUN_PARAMS.items() if k in params})
    fitted = decoder.decode(entry["fitted"])
    if not isinstance(fitted, dict):
        raise ValueError(f"the fitted attributes of {name} are not a mapping")
    for key in fitted:
        # A saved attribute must not hide a method or property (a
        # "transform" that is a string) or an internal of Python's.
        if not key.isidentifier() or key.startswith("__") or hasattr(STEP_CLASSES[name], key):
            raise ValueError(f"{name} has no fitted attribute {key!r:.40}")
    if name == "SpectralAutoencoder":
        saved = decoder.decode(entry["module_state"])
        if not isinstance(saved, dict) or not all(
            isinstance(v, np.ndarray) for v in saved.values()
        ):
            raise ValueError("the network's state is not a mapping of arrays")
        module_state = {k: torch.from_numpy(v) for k, v in saved.items()}
        width = module_state["offset"].shape[0] if "offset" in module_state else None
        if fitted.get("n_features_in_") != width:
            raise ValueError(
                f"n_features_in_ {fitted.get('n_features_in_')!r:.40} differs from the "
                f"network's {width} pixels"
            )
        return fitted_autoencoder(params, module_state, decoder.decode(entry["history"]), fitted)
    step = STEP_CLASSES[name](**params)
    n_features = fitted.get("n_features_in_")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or not (
        1 <= n_features <= MAX_PIXELS
    ):
        raise ValueError(f"n_features_in_ {n_features!r:.40} is not a width of 1-{MAX_PIXELS:,}")
    grid = params.get("grid")
    if isinstance(grid, int) and not 2 <= grid <= MAX_PIXELS:
        raise ValueError(f"grid {grid!r:.40} is not a width of 2-{MAX_PIXELS:,}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A placeholder of the right width that takes no memory per pixel.
        step.fit(np.broadcast_to(np.ones((1, 1)), (1, n_features)))
    for key, value in fitted.items():
        setattr(step, key, value)
    return step


# ------------------------------------------------------------------ encoding


class _Encoder:
    """Plain JSON values, with arrays moved into ``arrays`` and tags for the rest."""

    def __init__(self, arrays: dict, prefix: str):
        self.arrays = arrays
        self.prefix = prefix

    def encode(self, value, where: str):
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, np.generic):
            return self.encode(value.item(), where)
        if isinstance(value, torch.Tensor):
            return self.encode(value.detach().cpu().numpy(), where)
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "OUS":
                if not all(isinstance(v, str) for v in value.ravel()):
                    raise TypeError(f"{where} is an object array that is not all text.")
                return {"__strings__": [str(v) for v in value.ravel()], "shape": list(value.shape)}
            key = f"{self.prefix}/{where}"
            while key in self.arrays:  # e.g. keys "a.b" and "a" -> "b" of nested mappings
                key += "'"
            self.arrays[key] = np.ascontiguousarray(value)
            return {"__array__": key}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError(f"{where} is a mapping whose keys are not all text.")
            return {"__dict__": {k: self.encode(v, f"{where}.{k}") for k, v in value.items()}}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, Warning) and type(value).__name__ in _WARNINGS:
            return {"__warning__": type(value).__name__, "message": str(value)}
        raise TypeError(
            f"{where} is a {type(value).__qualname__}, which a model file cannot store "
            "without pickle."
        )


class _Decoder:
    """The inverse of :class:`_Encoder`."""

    def __init__(self, arrays: dict):
        self.arrays = arrays
        self.used: set[str] = set()

    def decode(self, value):
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            key = value["__array__"]
            array = self.arrays[key]
            # The first reference gets the array itself, so that no array is
            # held twice; a second reference (files written by save_model
            # have none) gets its own copy.
            if key in self.used:
                return array.copy()
            self.used.add(key)
            return array
        if "__strings__" in value:
            return np.array(value["__strings__"], dtype=object).reshape(value["shape"])
        if "__tuple__" in value:
            return tuple(self.decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: self.decode(v) for k, v in value["__dict__"].items()}
        if "__warning__" in value:
            return _WARNINGS[value["__warning__"]](value["message"])
        raise ValueError(f"unknown value {sorted(value)}")


def _versions() -> dict:
    from .. import __version__

    return {
        "skspecrep": __version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
    }
