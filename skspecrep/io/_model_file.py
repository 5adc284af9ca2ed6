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
import os
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
from ..exceptions import ModelFileError
from ._restore import fitted_autoencoder

FORMAT = "skspecrep-model"
#: Version of the layout written; files of a higher version are refused.
FORMAT_VERSION = 1
#: The classes a model file may hold.
STEP_CLASSES = (
    "SpectralAutoencoder",
    "MedianNormalizer",
    "WavelengthResampler",
    "HARPSPreprocessor",
)
_CONFIG, _ARRAYS = "model.json", "arrays.npz"
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
        a temporary file first and then renamed, so an existing file is
        replaced only by a complete one.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        When the model holds a class that model files cannot hold, or a
        parameter that cannot be stored without pickle (a
        ``numpy.random.RandomState`` as ``random_state``, skorch
        ``callbacks``): set it to a plain value (an int, None) first.
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
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_CONFIG, json.dumps(config, indent=1))
        archive.writestr(_ARRAYS, payload)
    os.replace(tmp, path)
    return path


def load_model(path: str | os.PathLike):
    """Read a model written by :func:`save_model`, without running code from it.

    Parameters
    ----------
    path : str or path-like
        The model file.

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
        :data:`STEP_CLASSES`, or was changed or damaged after it was
        written.

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
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if names != {_CONFIG, _ARRAYS}:
                raise ModelFileError(
                    path,
                    f"not a skspecrep model file (it holds {sorted(names)}, not "
                    f"{[_ARRAYS, _CONFIG]})",
                )
            raw_config = archive.read(_CONFIG)
            payload = archive.read(_ARRAYS)
    except zipfile.BadZipFile as exc:
        reason = "not a zip archive" if "not a zip file" in str(exc) else str(exc)
        raise ModelFileError(path, f"not a skspecrep model file ({reason})") from None
    try:
        config = json.loads(raw_config)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"its {_CONFIG} is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(path, f"not a skspecrep model file ({_CONFIG} names no {FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(path, f"format_version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        writer = (config.get("written_by") or {}).get("skspecrep", "a newer skspecrep")
        raise ModelFileError(
            path,
            f"written in model format {version} by skspecrep {writer}; this skspecrep "
            f"reads format {FORMAT_VERSION} and older: upgrade skspecrep to load it",
        )
    if hashlib.sha256(payload).hexdigest() != config.get("arrays_sha256"):
        raise ModelFileError(
            path,
            f"{_ARRAYS} does not match the checksum in {_CONFIG}: the file was changed "
            "or damaged after it was written",
        )
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(path, f"its {_ARRAYS} cannot be read without pickle ({exc})") from None
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
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(path, f"its content is inconsistent ({exc})") from None


# --------------------------------------------------------------------- steps


def _step_classes() -> dict:
    # Imported here: the estimators import skspecrep.io (through the
    # training code's row sources), so importing them at the top would be
    # circular.
    from .. import HARPSPreprocessor, MedianNormalizer, SpectralAutoencoder, WavelengthResampler

    classes = {
        "SpectralAutoencoder": SpectralAutoencoder,
        "MedianNormalizer": MedianNormalizer,
        "WavelengthResampler": WavelengthResampler,
        "HARPSPreprocessor": HARPSPreprocessor,
    }
    assert set(classes) == set(STEP_CLASSES)
    return classes


def _save_step(step, encoder: _Encoder) -> dict:
    name = type(step).__name__
    classes = _step_classes()
    if name not in classes or type(step) is not classes[name]:
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
        if key == "callbacks" and value:
            raise TypeError(
                f"{name}(callbacks=[...]) holds skorch callbacks, which are code; set "
                "callbacks=None before saving."
            )
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
    classes = _step_classes()
    name = entry["class"]
    if name not in classes:
        raise ValueError(
            f"it names class {name!r}; model files hold only {', '.join(STEP_CLASSES)}"
        )
    params = decoder.decode(entry["params"])
    fitted = decoder.decode(entry["fitted"])
    if name == "SpectralAutoencoder":
        saved = decoder.decode(entry["module_state"])
        module_state = {k: torch.from_numpy(v) for k, v in saved.items()}
        return fitted_autoencoder(params, module_state, decoder.decode(entry["history"]), fitted)
    step = classes[name](**params)
    n_features = int(fitted["n_features_in_"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step.fit(np.ones((1, n_features)))
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

    def decode(self, value):
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            return self.arrays[value["__array__"]].copy()
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
