"""What the training run relies on skorch to do, checked against the installed skorch.

skspecrep drives skorch through its public interface (see
``skspecrep/_training/_net.py``). These tests pin down the behaviour it
depends on, so that a skorch release that changes any of it fails here by
name, instead of breaking exact resume or warm start without an error.
pyproject.toml bounds skorch to the releases these tests passed with.
"""

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from skorch.history import History


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.layer(x)


class _Events(Callback):
    def initialize(self):
        self.events_ = []
        return self

    def on_train_begin(self, net, **kwargs):
        self.events_.append("train_begin")

    def on_train_end(self, net, **kwargs):
        self.events_.append("train_end")

    def on_epoch_begin(self, net, **kwargs):
        self.events_.append("epoch_begin")

    def on_epoch_end(self, net, **kwargs):
        self.events_.append("epoch_end")

    def on_batch_begin(self, net, training=False, **kwargs):
        self.events_.append("batch" if training else "valid_batch")


def _data(n=32):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return Dataset(X, X[:, :1].copy())


def _net(**kwargs):
    params = dict(
        module=_Linear,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        batch_size=8,
        max_epochs=5,
        train_split=None,
        callbacks=[("events", _Events())],
        verbose=0,
    )
    params.update(kwargs)
    return NeuralNet(**params).initialize()


def test_fit_loop_runs_exactly_the_epochs_asked_and_no_train_hooks():
    net = _net()
    net.fit_loop(_data(), epochs=1)
    events = dict(net.callbacks_)["events"].events_
    assert events == ["epoch_begin"] + ["batch"] * 4 + ["epoch_end"]
    assert len(net.history) == 1 and net.history[-1, "epoch"] == 1
    net.fit_loop(_data(), epochs=1)
    assert len(net.history) == 2 and net.history[-1, "epoch"] == 2


def test_notify_calls_every_callback():
    net = _net()
    net.notify("on_train_begin", X=None, y=None)
    net.notify("on_train_end", X=None, y=None)
    assert dict(net.callbacks_)["events"].events_ == ["train_begin", "train_end"]


def test_an_exception_raised_in_a_callback_leaves_fit_loop_unchanged():
    class Stop(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if len(net.history[-1, "batches"]) == 2:
                raise KeyboardInterrupt

    net = _net(callbacks=[Stop()])
    with pytest.raises(KeyboardInterrupt):
        net.fit_loop(_data(), epochs=1)
    # The epoch's row stays in the history, half filled: the run removes it.
    assert "train_loss" not in net.history[-1]
    del net.history[-1:]
    assert len(net.history) == 0


def test_set_params_on_an_initialised_net_keeps_the_module_and_optimizer_state():
    net = _net()
    net.fit_loop(_data(), epochs=1)
    weights = {k: v.clone() for k, v in net.module_.state_dict().items()}
    moments = net.optimizer_.state_dict()["state"][0]["exp_avg"].clone()
    net.set_params(lr=0.5, batch_size=16, max_epochs=9, verbose=0, train_split=None)
    for k, v in net.module_.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=0, atol=0)
    assert net.optimizer_.param_groups[0]["lr"] == 0.5  # lr is updated in place...
    torch.testing.assert_close(
        net.optimizer_.state_dict()["state"][0]["exp_avg"], moments, rtol=0, atol=0
    )  # ...and Adam keeps its moments
    assert (net.batch_size, net.max_epochs) == (16, 9)


def test_new_callbacks_take_effect_through_initialize_callbacks():
    net = _net()
    net.set_params(callbacks=[("other", _Events())], callbacks__print_log__sink=print)
    net.initialize_callbacks()
    names = [name for name, _ in net.callbacks_]
    assert "other" in names and "events" not in names
    assert dict(net.callbacks_)["other"].events_ == []  # initialised
    assert dict(net.callbacks_)["print_log"].sink is print


def test_print_log_writes_to_a_sink_that_is_not_print_whatever_the_verbosity():
    lines = []
    net = _net(verbose=0, callbacks__print_log__sink=lines.append)
    net.fit_loop(_data(), epochs=1)
    assert lines  # hence the silent sink for verbose < 2 under accelerate


def test_iterator_settings_are_read_from_the_net_whenever_a_loader_is_made():
    net = _net()
    sampler = torch.utils.data.SequentialSampler(range(32))
    net.iterator_train__sampler = sampler
    net.iterator_train__shuffle = False
    assert net.get_iterator(_data(), training=True).sampler is sampler


def test_predefined_split_validates_on_the_given_dataset():
    net = _net(train_split=predefined_split(_data(8)))
    net.fit_loop(_data(), epochs=1)
    events = dict(net.callbacks_)["events"].events_
    assert events.count("valid_batch") == 1 and "valid_loss" in net.history[-1]


def test_history_round_trips_through_a_list():
    net = _net()
    net.fit_loop(_data(), epochs=2)
    restored = History(net.history.to_list())
    assert restored[:, "train_loss"] == net.history[:, "train_loss"]
    # A resumed run goes on recording into the restored history.
    net.history = restored
    net.fit_loop(_data(), epochs=1)
    assert len(net.history) == 3 and net.history[-1, "epoch"] == 3


def test_skspecrep_uses_no_private_name_of_skorch():
    """No attribute that skorch keeps private (a leading underscore) is read or set."""
    import ast
    import pathlib

    import skorch.callbacks
    import skorch.hf

    import skspecrep

    private = set()
    for cls in (NeuralNet, skorch.hf.AccelerateMixin, skorch.callbacks.EarlyStopping,
                skorch.callbacks.Checkpoint, skorch.callbacks.PrintLog, History):  # fmt: skip
        private |= {n for n in dir(cls) if n.startswith("_") and not n.startswith("__")}
    private |= {"_wrapped_with_accelerator"}  # set in AccelerateMixin.__init__, not on the class
    used = []
    for path in sorted(pathlib.Path(skspecrep.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in private:
                used.append(f"{path.name}:{node.lineno} {node.attr}")
    assert used == []
