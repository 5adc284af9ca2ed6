"""Data-parallel training through accelerate: two CPU processes over gloo."""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skspecrep import SpectralAutoencoder

pytest.importorskip("accelerate")

# One worker runs the whole module, so the expensive fixture is built once.
pytestmark = pytest.mark.xdist_group("ddp")

N_SPECTRA, N_PIXELS, EPOCHS = 256, 64, 4
PARAMS = dict(n_components=2, max_epochs=EPOCHS, batch_size=32, lr=3e-3, random_state=0)

# Spectra carry their row number (times 1e-4) in pixel 0, so that the batches each process
# trained on can be read back. The recorder lives in a module of its own so
# that the model pickled with it can be loaded by the test.
RECORDER = textwrap.dedent(
    """
    from skorch.callbacks import Callback

    class Recorder(Callback):
        def initialize(self):
            self.drawn_ = []
            return self

        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            if training:
                self.drawn_.append((batch[0][:, 0] * 1e4).round().int().tolist())
    """
)

# Each process writes what it saw and what it learnt.
SCRIPT = textwrap.dedent(
    """
    import json, pickle, sys
    import numpy as np
    import torch
    from recorder import Recorder
    from skspecrep import SpectralAutoencoder

    out = sys.argv[1]
    X = np.load(out + "/X.npy", mmap_mode="r")
    params = json.loads(sys.argv[2])
    ae = SpectralAutoencoder(distributed=True, callbacks=[("rec", Recorder())], **params)
    ae.fit(X)
    rank = torch.distributed.get_rank()
    result = {
        "world_size": torch.distributed.get_world_size(),
        "drawn": dict(ae.net_.callbacks_)["rec"].drawn_,
        "train_loss": list(ae.history_[:, "train_loss"]),
        "weights": {k: v.tolist() for k, v in ae.net_.module_.state_dict().items()},
    }
    json.dump(result, open(f"{out}/rank{rank}.json", "w"))
    if rank == 0:
        pickle.dump(ae, open(out + "/model.pkl", "wb"))
    """
)


def _spectra():
    rng = np.random.RandomState(0)
    depth = rng.uniform(0.2, 0.8, (N_SPECTRA, 1))
    pixels = np.linspace(-1, 1, N_PIXELS)
    X = 1 - depth * np.exp(-0.5 * (pixels / 0.1) ** 2) + rng.normal(0, 0.01, (N_SPECTRA, N_PIXELS))
    # A tag far from the line, too small to be worth a latent.
    X[:, 0] = np.arange(N_SPECTRA) * 1e-4
    return X.astype(np.float32)


def _launch_two_processes(script, *args) -> None:
    """Run a script in two CPU processes over gloo, as torchrun would; fail with its stderr."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(script), *map(str, args),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    np.save(folder / "X.npy", _spectra())
    (folder / "fit.py").write_text(SCRIPT)
    (folder / "recorder.py").write_text(RECORDER)
    _launch_two_processes(folder / "fit.py", folder, json.dumps(PARAMS))
    ranks = [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]
    return folder, ranks


@pytest.mark.slow
def test_both_processes_hold_the_same_model(two_processes):
    _, ranks = two_processes
    assert [r["world_size"] for r in ranks] == [2, 2]
    for name, value in ranks[0]["weights"].items():
        np.testing.assert_array_equal(value, ranks[1]["weights"][name], err_msg=name)


@pytest.mark.slow
def test_each_epoch_splits_every_batch_between_the_processes(two_processes):
    """batch_size stays the global batch: 16 spectra each, all spectra once per epoch."""
    _, ranks = two_processes
    steps = N_SPECTRA // PARAMS["batch_size"]
    for r in ranks:
        assert len(r["drawn"]) == EPOCHS * steps
        assert {len(b) for b in r["drawn"]} == {PARAMS["batch_size"] // 2}
    for epoch in range(EPOCHS):
        seen = [
            row
            for r in ranks
            for batch in r["drawn"][epoch * steps : (epoch + 1) * steps]
            for row in batch
        ]
        assert sorted(seen) == list(range(N_SPECTRA)), f"epoch {epoch + 1}"


@pytest.mark.slow
def test_two_processes_train_the_model_one_process_trains(two_processes, monkeypatch):
    """Same objective, batches and learning curve; only the sampling noise differs."""
    folder, ranks = two_processes
    monkeypatch.syspath_prepend(str(folder))
    X = _spectra()
    single = SpectralAutoencoder(**PARAMS).fit(X)
    # Every process logs the whole batch's loss (the mean of the two halves'),
    # the number one process would have logged.
    assert ranks[0]["train_loss"] == ranks[1]["train_loss"]
    np.testing.assert_allclose(ranks[0]["train_loss"], single.history_[:, "train_loss"], rtol=0.05)
    distributed = pickle.loads((folder / "model.pkl").read_bytes())
    assert distributed.n_iter_ == EPOCHS
    assert distributed.score(X) == pytest.approx(single.score(X), rel=0.1)
    # Both learnt the one factor there is: a latent of each tracks the line depth.
    depth = -X[:, N_PIXELS // 2]
    for model in (single, distributed):
        r = [abs(np.corrcoef(z, depth)[0, 1]) for z in model.transform(X).T]
        assert max(r) > 0.9


def test_without_a_launcher_distributed_training_runs_in_one_process():
    X = _spectra()[:64]
    ae = SpectralAutoencoder(**{**PARAMS, "max_epochs": 2}, distributed=True).fit(X)
    assert ae.n_iter_ == 2 and np.isfinite(ae.history_[:, "train_loss"]).all()
    # The same script works with or without a launcher: in one process it
    # trains exactly the model of distributed=False.
    plain = SpectralAutoencoder(**{**PARAMS, "max_epochs": 2}).fit(X)
    np.testing.assert_array_equal(ae.transform(X), plain.transform(X))
    clone = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(clone.transform(X), ae.transform(X))


def test_distributed_without_accelerate_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)
    with pytest.raises(ImportError, match="pip install accelerate"):
        SpectralAutoencoder(**PARAMS, distributed=True).fit(_spectra()[:40])


RESUME_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    from skspecrep import SpectralAutoencoder

    out = sys.argv[1]
    X = np.load(out + "/X.npy", mmap_mode="r")
    kw = dict(n_components=2, batch_size=32, random_state=0, validation_fraction=0.25,
              distributed=True)
    straight = SpectralAutoencoder(max_epochs=4, **kw).fit(X)
    SpectralAutoencoder(max_epochs=2, checkpoint=out + "/ck.pt", **kw).fit(X)
    resumed = SpectralAutoencoder(max_epochs=4, checkpoint=out + "/ck.pt", **kw).fit(X)
    rank = torch.distributed.get_rank()
    json.dump(
        {
            name: {
                "valid_loss": list(model.history_[:, "valid_loss"]),
                "codes": model.transform(X[:8]).tolist(),
            }
            for name, model in (("straight", straight), ("resumed", resumed))
        },
        open(f"{out}/resume{rank}.json", "w"),
    )
    """
)


@pytest.mark.slow
def test_distributed_validation_agrees_across_processes_and_resumes(tmp_path):
    """Validation runs whole on each process; a checkpointed run resumes bit for bit."""
    np.save(tmp_path / "X.npy", _spectra()[:160])
    (tmp_path / "resume.py").write_text(RESUME_SCRIPT)
    _launch_two_processes(tmp_path / "resume.py", tmp_path)
    ranks = [json.loads((tmp_path / f"resume{r}.json").read_text()) for r in (0, 1)]
    # Both processes computed the same validation losses: they stop together.
    assert ranks[0]["straight"]["valid_loss"] == ranks[1]["straight"]["valid_loss"]
    assert ranks[0]["resumed"] == ranks[1]["resumed"]
    # The shuffling of the epochs after the checkpoint follows from the saved
    # random state, as in one process: the resumed run is the straight one.
    assert len(ranks[0]["resumed"]["valid_loss"]) == 4
    assert ranks[0]["resumed"] == ranks[0]["straight"]


NAN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    from skorch.callbacks import Callback
    from skspecrep import SpectralAutoencoder

    class PoisonOneProcess(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training and len(net.history) == 2 and torch.distributed.get_rank() == 1:
                with torch.no_grad():
                    next(net.module_.parameters()).fill_(float("nan"))

    out = sys.argv[1]
    X = np.load(out + "/X.npy", mmap_mode="r")
    ae = SpectralAutoencoder(n_components=2, max_epochs=4, batch_size=32, random_state=0,
                             distributed=True, callbacks=[PoisonOneProcess()])
    try:
        ae.fit(X)
        message = None
    except FloatingPointError as exc:
        message = str(exc)
    finite = bool(np.isfinite(ae.transform(X[:8])).all())
    rank = torch.distributed.get_rank()
    json.dump({"error": message, "finite": finite}, open(f"{out}/nan{rank}.json", "w"))
    """
)


@pytest.mark.slow
def test_a_non_finite_loss_on_one_process_stops_both(tmp_path):
    """Without agreeing, the healthy process would wait forever in the next step."""
    np.save(tmp_path / "X.npy", _spectra()[:128])
    (tmp_path / "nan.py").write_text(NAN_SCRIPT)
    _launch_two_processes(tmp_path / "nan.py", tmp_path)
    for rank in (0, 1):
        result = json.loads((tmp_path / f"nan{rank}.json").read_text())
        assert "epoch 2, batch 1" in result["error"], rank
        assert "end of epoch 1 were restored" in result["error"]
        assert result["finite"]
