"""skspecrep.exceptions: every error and warning a user may catch lives there."""

import ast
import inspect
import pathlib
import pickle
import warnings

import numpy as np
import pytest

import skspecrep
from skspecrep import exceptions
from skspecrep.exceptions import (
    CheckpointError,
    ChunkedStorageWarning,
    ModelFileError,
    NonFiniteLossError,
    NonFiniteRowError,
    NonPositiveMedianError,
    SpectrumQualityWarning,
    SpectrumReadError,
    UnusableLabelWarning,
)

PACKAGE = pathlib.Path(skspecrep.__file__).parent
# Raised and caught inside the command line, never seen by a caller of main().
INTERNAL = {("cli/_errors.py", "InputError")}


def _defined_exception_classes():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if any(b.endswith(("Error", "Exception", "Warning")) for b in bases):
                    yield path.relative_to(PACKAGE).as_posix(), node.name


def test_every_error_and_warning_class_is_defined_in_skspecrep_exceptions():
    elsewhere = [
        (path, name)
        for path, name in _defined_exception_classes()
        if path != "exceptions.py" and (path, name) not in INTERNAL
    ]
    assert elsewhere == []
    public = {
        name
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and not name.startswith("_")
    }
    assert public == set(exceptions.__all__)


def test_the_old_import_places_give_the_same_classes():
    from skspecrep._rows import NonFiniteRowError as from_arrays
    from skspecrep.io import SpectrumReadError as from_io

    assert from_io is SpectrumReadError and from_arrays is NonFiniteRowError


@pytest.mark.parametrize(
    "error",
    [
        CheckpointError("checkpoint"),
        NonFiniteRowError("row 3", 3),
        NonFiniteLossError("nan", epoch=2, batch=5),
        NonPositiveMedianError("median", np.array([1, 4])),
        SpectrumReadError("a.fits", "no such file"),
        ModelFileError("m.skspecrep", "not a zip archive"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling_with_their_attributes(error):
    """Errors cross process boundaries (DataLoader workers, Dask) whole."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    for name in ("row", "epoch", "batch", "rows", "path", "reason"):
        if hasattr(error, name):
            np.testing.assert_array_equal(getattr(copy, name), getattr(error, name))


def test_warnings_are_the_public_classes(tmp_path):
    from skspecrep import LatentCorrelationScorer, MedianNormalizer

    with pytest.warns(SpectrumQualityWarning):
        MedianNormalizer(invalid="nan").fit_transform(np.array([[1.0, 2.0], [-1.0, -2.0]]))
    rng = np.random.RandomState(0)
    with pytest.warns(UnusableLabelWarning):
        LatentCorrelationScorer(random_state=0).fit(
            rng.normal(size=(50, 2)), np.column_stack([rng.normal(size=50), np.ones(50)])
        )
    h5py = pytest.importorskip("h5py")
    from skspecrep import SpectralAutoencoder

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("X", data=np.ones((200, 8)), chunks=(100, 8), compression="gzip")
    with h5py.File(tmp_path / "x.h5", "r") as f:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            SpectralAutoencoder(1, max_epochs=1).fit(f["X"])
    assert any(issubclass(w.category, ChunkedStorageWarning) for w in caught)
