"""Model files: round trips without pickle, and clear refusals of files that are not ours."""

import copy
import hashlib
import io
import json
import pathlib
import pickle
import re
import subprocess
import sys
import tempfile
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from skorch.callbacks import Callback

from skspecrep import (
    HARPSPreprocessor,
    MedianNormalizer,
    SpectralAutoencoder,
    WavelengthResampler,
    harps_wavelength,
)
from skspecrep.datasets import make_stellar_spectra
from skspecrep.exceptions import ModelFileError, TrainingNotConvergedWarning
from skspecrep.io import load_model, save_model
from skspecrep.io._model_file import FORMAT_VERSION, RUN_PARAMS, _Decoder, _Encoder


@pytest.fixture(scope="module")
def pipeline():
    """Normalisation and a Doppler-pair autoencoder with a validation split."""
    X, _, wavelength = make_stellar_spectra(80, n_pixels=256, random_state=0)
    X = X * np.linspace(50, 150, len(X))[:, None]  # give the normaliser work
    model = make_pipeline(
        MedianNormalizer(),
        SpectralAutoencoder(
            3, max_epochs=3, random_state=0, wavelength=wavelength, virtual_rv=50.0,
            validation_fraction=0.2,
        ),
    )  # fmt: skip
    with pytest.warns(TrainingNotConvergedWarning):
        model.fit(X)
    return model, X


def _rewrite(path, *, config=None, arrays=None, extra=None):
    """Rewrite a model file's members, as someone editing it would."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        members["model.json"] = json.dumps(config(json.loads(members["model.json"]))).encode()
    if arrays is not None:
        members["arrays.npz"] = arrays
    members.update(extra or {})
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_pipeline_round_trips_to_identical_codes_reconstructions_and_attributes(
    pipeline, tmp_path
):
    model, X = pipeline
    path = save_model(model, tmp_path / "model.skspecrep")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["arrays.npz", "model.json"]
    loaded = load_model(path)
    assert isinstance(loaded, Pipeline) and [n for n, _ in loaded.steps] == [
        "mediannormalizer",
        "spectralautoencoder",
    ]
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    ae, again = model[-1], loaded[-1]
    Xn = model[0].transform(X)
    for a, b in zip(ae.encode(Xn), again.encode(Xn)):
        np.testing.assert_array_equal(a, b)
    Z = ae.transform(Xn)
    np.testing.assert_array_equal(again.inverse_transform(Z), ae.inverse_transform(Z))
    assert again.score(Xn) == ae.score(Xn)  # the same seeded posterior sample
    # Every parameter and fitted attribute comes back equal, arrays included.
    for name, value in ae.get_params().items():
        assert (
            np.array_equal(value, again.get_params()[name])
            if name == "wavelength"
            else (value == again.get_params()[name])
        ), name
    for name in ("mean_", "component_kl_", "pixel_weight_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(ae, name))
    for name in ("n_iter_", "best_epoch_", "stop_reason_", "scale_", "velocity_latent_",
                 "velocity_scale_", "n_features_in_", "architecture_", "reconstruction_error_",
                 "pca_reconstruction_error_"):  # fmt: skip
        assert getattr(again, name) == getattr(ae, name), name
    assert TrainingNotConvergedWarning in [type(w) for w in again.fit_warnings_]
    assert [str(w) for w in again.fit_warnings_] == [str(w) for w in ae.fit_warnings_]
    assert again.history_[:, "valid_loss"] == ae.history_[:, "valid_loss"]
    assert list(again.get_feature_names_out()) == ["spectralautoencoder0", "spectralautoencoder1",
                                                   "spectralautoencoder2"]  # fmt: skip


def test_a_dense_decoder_with_sub_pixels_round_trips(pipeline, tmp_path):
    _, X = pipeline
    X = X / np.median(X, axis=1, keepdims=True)
    wavelength = make_stellar_spectra(1, n_pixels=256, random_state=0)[2]
    ae = SpectralAutoencoder(
        3, architecture="dense", max_epochs=1, random_state=0, wavelength=wavelength,
        virtual_rv=50.0,
    ).fit(X)  # fmt: skip
    assert (ae.architecture_["decoder"], ae.architecture_["oversample"]) == ("dense", 4)
    again = load_model(save_model(ae, tmp_path / "dense.skspecrep"))
    assert again.architecture_ == ae.architecture_
    Z = ae.transform(X)
    np.testing.assert_array_equal(again.transform(X), Z)
    np.testing.assert_array_equal(again.inverse_transform(Z), ae.inverse_transform(Z))


def test_a_loaded_autoencoder_continues_training_on_a_warm_start(pipeline, tmp_path):
    model, X = pipeline
    ae = load_model(save_model(model[-1], tmp_path / "ae.skspecrep"))
    Xn = model[0].transform(X)
    before = ae.transform(Xn)
    with pytest.warns(TrainingNotConvergedWarning):  # still inside the KL warm-up
        ae.set_params(warm_start=True, max_epochs=2).fit(Xn)
    assert ae.n_iter_ == 5 and len(ae.history_) == 5
    assert not np.allclose(ae.transform(Xn), before)


def test_a_model_trained_on_a_gpu_loads_where_there_is_none(pipeline, tmp_path, monkeypatch):
    model, X = pipeline
    path = save_model(model, tmp_path / "gpu.skspecrep")
    _rewrite(path, config=lambda c: _set_device(c, "cuda"))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    loaded = load_model(path)
    assert loaded[-1].device == "cuda" and loaded[-1].net_.device == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def _set_device(config, device):
    config["steps"][1]["params"]["__dict__"]["device"] = device
    return config


def test_preprocessing_steps_round_trip(tmp_path):
    rng = np.random.RandomState(0)
    wave = np.linspace(5000.0, 5100.0, 300)
    X = rng.uniform(0.5, 1.5, (6, 300))
    mask = (rng.uniform(size=300) > 0.1).astype(float)
    coarse = np.linspace(3775.0, 6915.0, 2000)
    harps_X = rng.uniform(100, 200, (3, coarse.size))
    for step, data in [
        (MedianNormalizer(pixel_mask=mask), X),
        (WavelengthResampler(wave, grid=np.linspace(5010.0, 5090.0, 111)), X),
        (WavelengthResampler(wave, grid=150, method="flux"), X),
        (HARPSPreprocessor(coarse), harps_X),
    ]:
        step.fit(data)
        loaded = load_model(save_model(step, tmp_path / "step.skspecrep"))
        assert type(loaded) is type(step)
        np.testing.assert_array_equal(loaded.transform(data), step.transform(data))
        for name in [k for k in vars(step) if k.endswith("_") and not k.startswith("_")]:
            np.testing.assert_array_equal(getattr(loaded, name), getattr(step, name))
    assert harps_wavelength().size == loaded.transform(harps_X).shape[1]


def test_a_file_of_a_newer_format_asks_for_an_upgrade(pipeline, tmp_path):
    path = save_model(pipeline[0][-1], tmp_path / "m.skspecrep")
    _rewrite(path, config=lambda c: {**c, "format_version": FORMAT_VERSION + 1})
    with pytest.raises(ModelFileError, match=f"format {FORMAT_VERSION + 1}.*upgrade skspecrep"):
        load_model(path)


def test_changed_or_damaged_files_are_refused(pipeline, tmp_path):
    ae = pipeline[0][-1]
    path = save_model(ae, tmp_path / "m.skspecrep")
    with zipfile.ZipFile(path) as archive:
        payload = bytearray(archive.read("arrays.npz"))
    payload[len(payload) // 2] ^= 1  # one bit of one weight
    _rewrite(path, arrays=bytes(payload))
    with pytest.raises(ModelFileError, match="changed or damaged after it was written"):
        load_model(path)

    path = save_model(ae, tmp_path / "m.skspecrep")
    data = bytearray(path.read_bytes())
    data[200] ^= 1  # inside the stored JSON: the zip's CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="m.skspecrep"):
        load_model(path)

    path = save_model(ae, tmp_path / "m.skspecrep")
    _rewrite(path, extra={"run_me.py": b"print('hi')"})
    with pytest.raises(ModelFileError, match="not a skspecrep model file"):
        load_model(path)

    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(ModelFileError, match=r"not a skspecrep model file \(not a zip archive\)"):
        load_model(tmp_path / "plain.txt")
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "none.skspecrep")


def test_classes_outside_the_table_are_never_built(pipeline, tmp_path):
    path = save_model(pipeline[0], tmp_path / "m.skspecrep")

    def rename(config):
        config["steps"][0]["class"] = "os.system"
        return config

    _rewrite(path, config=rename)
    with pytest.raises(ModelFileError, match="names class 'os.system'; model files hold only"):
        load_model(path)


class _WritesAFile:
    """Unpickling this writes a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.write_text, (pathlib.Path(self.path), "pickle was run")


def test_a_pickle_inside_the_arrays_is_not_opened(pipeline, tmp_path):
    """Even with a matching checksum, an object array is refused, not unpickled."""
    import hashlib

    path = save_model(pipeline[0][-1], tmp_path / "m.skspecrep")
    marker = tmp_path / "marker.txt"
    with zipfile.ZipFile(path) as archive:
        with np.load(io.BytesIO(archive.read("arrays.npz"))) as npz:
            arrays = {k: npz[k] for k in npz.files}
    key = next(iter(arrays))
    arrays[key] = np.array([_WritesAFile(marker)], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    _rewrite(path, arrays=buffer.getvalue(), config=lambda c: {**c, "arrays_sha256": digest})
    with pytest.raises(ModelFileError, match="cannot be read without pickle"):
        load_model(path)
    assert not marker.exists()
    assert pickle.dumps(_WritesAFile(marker))  # the payload itself is a working pickle


def test_what_cannot_be_stored_without_pickle_is_refused_on_save(tmp_path):
    X = np.random.RandomState(0).normal(1.0, 0.1, (20, 32))
    with pytest.raises(TypeError, match="cannot hold a PCA"):
        save_model(PCA(2).fit(X), tmp_path / "pca.skspecrep")
    with pytest.raises(NotFittedError):
        save_model(SpectralAutoencoder(2), tmp_path / "unfitted.skspecrep")
    ae = SpectralAutoencoder(2, max_epochs=1, random_state=np.random.RandomState(0))
    with pytest.warns(TrainingNotConvergedWarning):
        ae.fit(X)
    with pytest.raises(TypeError, match="random_state to an int or None"):
        save_model(ae, tmp_path / "rs.skspecrep")
    assert not (tmp_path / "rs.skspecrep").exists()
    with pytest.raises(TypeError, match="memory=None"):
        save_model(Pipeline([("ae", ae)], memory=str(tmp_path)), tmp_path / "p.skspecrep")


def test_run_parameters_are_neither_saved_nor_restored(pipeline, tmp_path):
    """A model file cannot tell a later fit where to write or what to run."""
    X = pipeline[1]
    ae = copy.deepcopy(pipeline[0][-1]).set_params(
        checkpoint=tmp_path / "mine.pt", warm_start=True, callbacks=[("c", Callback())]
    )
    path = save_model(ae, tmp_path / "m.skspecrep")
    saved = json.loads(zipfile.ZipFile(path).read("model.json"))["steps"][0]["params"]["__dict__"]
    assert [saved[k] for k in RUN_PARAMS] == [None, False, None]

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")

    def plant(config):
        config["steps"][0]["params"]["__dict__"].update(checkpoint=str(notes), warm_start=True)
        return config

    _rewrite(path, config=plant)
    loaded = load_model(path)
    assert loaded.get_params()["checkpoint"] is None and loaded.get_params()["warm_start"] is False
    with pytest.warns(TrainingNotConvergedWarning):
        loaded.set_params(max_epochs=1).fit(MedianNormalizer().fit_transform(X))
    assert notes.read_text() == "my notes"


def test_saving_replaces_a_link_and_never_writes_through_one(pipeline, tmp_path):
    ae = pipeline[0][-1]
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "m.skspecrep"
    link.symlink_to(victim)
    # The temporary name of earlier versions, planted as a link too.
    (tmp_path / "m.skspecrep.tmp").symlink_to(victim)
    save_model(ae, link)
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and load_model(link).n_iter_ == ae.n_iter_
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m.skspecrep", "m.skspecrep.tmp", "victim.txt"
    ]  # fmt: skip


_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.lists(st.floats(allow_nan=False, width=32), max_size=4).map(
        lambda v: np.array(v, dtype=np.float32)
    )
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(_values)
def test_encoding_round_trips_values_arrays_and_containers(value):
    arrays = {}
    encoded = _Encoder(arrays, "x").encode({"v": value}, "root")
    decoded = _Decoder(arrays).decode(json.loads(json.dumps(encoded)))["v"]

    def same(a, b):
        if isinstance(a, np.ndarray):
            return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
        if isinstance(a, list | tuple):
            return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return type(a) is type(b) and a == b

    assert same(value, decoded)


# ------------------------------------------------------------- hostile files
#
# Each case edits a freshly saved model file (so the cases follow the
# format's version) as a hostile sender or a broken disk would. ``_npz``
# rewrites the arrays and the checksum that covers them, so that the case
# reaches the checks behind the checksum.


def _npz(path, edit, *, compression=zipfile.ZIP_STORED):
    """Rewrite arrays.npz through ``edit(members) -> [(name, bytes)]`` and fix the checksum."""
    with zipfile.ZipFile(path) as archive:
        payload = archive.read("arrays.npz")
    with zipfile.ZipFile(io.BytesIO(payload)) as npz:
        members = {name: npz.read(name) for name in npz.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as npz:
        for name, data in edit(members):
            npz.writestr(name, data)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    _rewrite(path, arrays=buffer.getvalue(), config=lambda c: {**c, "arrays_sha256": digest})


def _npy(array, shape=None):
    """An .npy file of ``array``, optionally with a false shape in its header."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    if shape is not None:
        data = data.replace(repr(array.shape).encode(), repr(shape).encode(), 1)
    return data


def _edit_weight(change):
    def edit(members):
        name = next(n for n in sorted(members) if "module" in n and "weight" in n)
        return [(n, change(np.load(io.BytesIO(d))) if n == name else d)
                for n, d in members.items()]  # fmt: skip

    return edit


def _nan(w):
    w.flat[0] = np.nan
    return _npy(w)


def _set(step, part, **values):
    def edit(config):
        config["steps"][step][part]["__dict__"].update(values)
        return config

    return edit


def _spoil_zip(path, **options):
    """Rewrite the file's two members with other zip options."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name"
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = options.get("compression", zipfile.ZIP_STORED)
            archive.writestr(info, data)
            if name == options.get("duplicate"):
                archive.writestr(name, data)


def _encrypt_flag(path):
    """Set the "encrypted" flag of every member, in the local headers and the directory."""
    data = bytearray(path.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + flags_at] |= 0x1
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def _deflate64(path):
    """Mark every member as Deflate64 (method 9), which zipfile cannot decompress."""
    data = bytearray(path.read_bytes())
    for signature, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(signature)
        while at >= 0:
            data[at + method_at] = 9
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def _replace_config(raw):
    return lambda p: _rewrite(p, extra={"model.json": raw})


#: The autoencoder is step 1 of the saved pipeline, the normaliser step 0.
HOSTILE = {
    # case: (how to spoil the file, words of the ModelFileError)
    "inflating member": (
        lambda p: _npz(p, lambda m: [*m.items(), ("bomb.npy", _npy(np.zeros(2**27)))],
                       compression=zipfile.ZIP_DEFLATED),
        "is compressed"),
    "header claims 1e12 values": (
        lambda p: _npz(p, _edit_weight(lambda w: _npy(w, (10**6, 10**6)))),
        "declares 4,000,000,000,000 bytes"),
    "NaN weight": (lambda p: _npz(p, _edit_weight(_nan)), "are not all finite"),
    "n_components 200,000": (
        lambda p: _rewrite(p, config=_set(1, "params", n_components=200_000)),
        "do not fit the network"),
    "n_features_in_ 1e8": (
        lambda p: _rewrite(p, config=_set(0, "fitted", n_features_in_=10**8)),
        "n_features_in_ 100000000 is not a width"),
    "autoencoder's n_features_in_ 1e8": (
        lambda p: _rewrite(p, config=_set(1, "fitted", n_features_in_=10**8)),
        "n_features_in_ 100000000 differs from the network's 256 pixels"),
    "device meta": (lambda p: _rewrite(p, config=_set(1, "params", device="meta")),
                    "device must be"),
    "fitted attribute shadows a method": (
        lambda p: _rewrite(p, config=_set(1, "fitted", transform="not a method")),
        "has no fitted attribute 'transform'"),
    "5,001-digit integer": (_replace_config(b'{"format": ' + b"9" * 5001 + b"}"),
                            "is not valid JSON"),
    "JSON nested 100,000 deep": (_replace_config(b"[" * 100_000 + b"]" * 100_000),
                                 "nested too deeply"),
    "written_by is text": (
        lambda p: _rewrite(p, config=lambda c: {**c, "format_version": FORMAT_VERSION + 1,
                                                "written_by": "someone"}),
        "upgrade skspecrep"),
    "member name twice": (lambda p: _spoil_zip(p, duplicate="model.json"),
                          "not a skspecrep model file"),
    "encrypted member": (_encrypt_flag, "is encrypted"),
    "deflate64 member": (_deflate64, "is compressed (method 9)"),
    "compressed member": (lambda p: _spoil_zip(p, compression=zipfile.ZIP_DEFLATED),
                          "is compressed"),
    "unknown array member unread": (
        lambda p: _npz(p, lambda m: [*m.items(), ("junk.npy", b"\x93NUMPY junk")]), None),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-100]), "not a skspecrep model"),
}  # fmt: skip


@pytest.fixture(scope="module")
def saved(pipeline, tmp_path_factory):
    return save_model(pipeline[0], tmp_path_factory.mktemp("saved") / "m.skspecrep").read_bytes()


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_file_ends_in_one_model_file_error(pipeline, saved, tmp_path, case):
    spoil, words = HOSTILE[case]
    path = tmp_path / "m.skspecrep"
    path.write_bytes(saved)
    spoil(path)
    if words is None:  # harmless: the model loads, unchanged
        model, X = pipeline
        np.testing.assert_array_equal(load_model(path).transform(X), model.transform(X))
        return
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=re.escape(words)) as info:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    # numpy's arrays count here (torch's do not: see the test below).
    assert peak < 2 * path.stat().st_size + 8 * 2**20, f"{peak / 2**20:.0f} MiB"


_MEMORY_SCRIPT = """
import resource, sys
from skspecrep.exceptions import ModelFileError
from skspecrep.io import load_model
load_model(sys.argv[1])  # an honest file: imports and one model
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in sys.argv[2:]:
    try:
        load_model(path)
    except ModelFileError:
        pass
    else:
        raise SystemExit(path + " loaded")
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)
"""


def test_hostile_files_cost_no_more_memory_than_an_honest_one(saved, tmp_path):
    """Peak RSS of a process that loads them: torch's allocations count here too."""
    honest = tmp_path / "honest.skspecrep"
    honest.write_bytes(saved)
    paths = []
    for case in ("inflating member", "header claims 1e12 values", "n_components 200,000",
                 "n_features_in_ 1e8"):  # fmt: skip
        path = tmp_path / f"{len(paths)}.skspecrep"
        path.write_bytes(saved)
        HOSTILE[case][0](path)
        paths.append(str(path))
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(honest), *paths],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert int(out) < 32 * 2**20, f"{int(out) / 2**20:.0f} MiB above an honest load"


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_changed_byte_is_refused_or_changes_nothing(pipeline, saved, data):
    """Whatever byte changes, the file loads as the same model or raises ModelFileError."""
    model, X = pipeline
    spoilt = bytearray(saved)
    at = data.draw(st.integers(0, len(spoilt) - 1))
    spoilt[at] ^= data.draw(st.integers(1, 255))
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "m.skspecrep"
        path.write_bytes(bytes(spoilt))
        try:
            loaded = load_model(path)
        except ModelFileError:
            return
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_pickles_are_opened_only_when_allowed_and_model_files_always_as_such(pipeline, tmp_path):
    model, X = pipeline
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    with pytest.raises(ModelFileError, match="run any code it holds: pass allow_pickle=True"):
        load_model(pickled)
    loaded = load_model(pickled, allow_pickle=True)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    # A hostile pickle is not opened without the flag; with it, its failure is named.
    marker = tmp_path / "marker.txt"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_WritesAFile(marker)))
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_model(evil)
    assert not marker.exists()
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x05junk")
    with pytest.raises(ModelFileError, match="neither a model file nor a readable pickle"):
        load_model(tmp_path / "junk.pkl", allow_pickle=True)
    # A file that starts as a pickle and ends as a model file is read as the model file.
    polyglot = tmp_path / "both.skspecrep"
    polyglot.write_bytes(
        pickle.dumps(_WritesAFile(marker))
        + save_model(model, tmp_path / "m.skspecrep").read_bytes()
    )
    load_model(polyglot, allow_pickle=True)
    assert not marker.exists()


def test_a_dense_model_written_under_another_sub_pixel_rule_still_loads(tmp_path, monkeypatch):
    """Files keep the layer table they were trained with, whatever the rule is now."""
    import skspecrep._nn._architectures as architectures

    rng = np.random.RandomState(0)
    wavelength = 5000 * np.exp(np.arange(6_500) * 10 / 299_792.458)
    X = 1 + 0.01 * rng.normal(size=(12, wavelength.size))
    ae = SpectralAutoencoder(2, architecture="dense", wavelength=wavelength, virtual_rv=30.0,
                             max_epochs=1, batch_size=4, random_state=0)  # fmt: skip
    with monkeypatch.context() as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.setattr(architectures, "MAX_SUBPIXELS", 2**18)  # the rule before
        ae.fit(X)
    assert ae.architecture_["oversample"] == 4
    assert architectures.dense_spec(wavelength.size).oversample == 3  # the rule now
    loaded = load_model(save_model(ae, tmp_path / "old.skspecrep"))
    assert loaded.architecture == "dense" and loaded.architecture_["oversample"] == 4
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    np.testing.assert_array_equal(
        loaded.inverse_transform(ae.transform(X)), ae.inverse_transform(ae.transform(X))
    )
