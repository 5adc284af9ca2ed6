"""The paper's released weights: a checkpoint written from a restatement of the paper's module."""

import argparse

import numpy as np
import pytest
import torch
from torch import nn

from skspecrep import SpectralAutoencoder
from skspecrep.exceptions import ModelFileError
from skspecrep.io import load_sedaghat2021

CHANNELS = [16, 16, 16, 32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 512, 512]
KERNELS = [7, 5, 5] + [3] * 12
STRIDES = [2] * 14 + [1]


class Ae1d(nn.Module):
    """The network of Sedaghat et al. (2021) as ../shared/PAPER.md states it, names included.

    Written from the paper's description, not from skspecrep's module: each
    conv and deconv is ``Sequential(layer, LeakyReLU(0.1))``; ``fc11`` is the
    mean head, ``fc12`` the log-variance head, ``fc2`` the decoder's input,
    ``deconv15`` (k3, s1, p1) the decoder's first layer and ``deconv1`` its
    last before ``predict0``.
    """

    def __init__(self):
        super().__init__()
        ins = [1] + CHANNELS[:-1]
        for i in range(15):
            conv = nn.Conv1d(ins[i], CHANNELS[i], KERNELS[i], STRIDES[i], (KERNELS[i] - 1) // 2)
            setattr(self, f"conv{i + 1}", nn.Sequential(conv, nn.LeakyReLU(0.1)))
        self.fc11 = nn.Linear(10240, 128)
        self.fc12 = nn.Linear(10240, 128)
        self.fc2 = nn.Linear(128, 10240)
        self.deconv15 = nn.Sequential(nn.ConvTranspose1d(512, 512, 3, 1, 1), nn.LeakyReLU(0.1))
        for i in range(
            14, 0, -1
        ):  # deconv_i undoes conv_i: deconv14 512 -> 256 ... deconv1 16 -> 1
            layer = nn.ConvTranspose1d(CHANNELS[i - 1], ins[i - 1], 4, 2, 1)
            setattr(self, f"deconv{i}", nn.Sequential(layer, nn.LeakyReLU(0.1)))
        self.predict0 = nn.Conv1d(1, 1, 3, 1, 1)

    def encode(self, x):
        h = x.unsqueeze(1)
        for i in range(1, 16):
            h = getattr(self, f"conv{i}")(h)
        h = h.flatten(1)
        return self.fc11(h), self.fc12(h)

    def decode(self, z):
        h = self.fc2(z).view(-1, 512, 20)
        for i in range(15, 0, -1):
            h = getattr(self, f"deconv{i}")(h)
        return self.predict0(h)[:, 0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    module = Ae1d().eval()
    assert sum(p.numel() for p in module.parameters()) == 7_046_997  # the paper's count
    path = tmp_path_factory.mktemp("paper") / "model_128d_e182_i1500000.pth.tar"
    optimizer = torch.optim.Adam(module.parameters())
    torch.save(
        {"state_dict": module.state_dict(), "epoch": 182, "optimizer": optimizer.state_dict()},
        path,
    )
    return path, module


@pytest.mark.slow
def test_the_loaded_model_gives_the_papers_codes_and_reconstructions(checkpoint):
    path, module = checkpoint
    ae = load_sedaghat2021(path, device="cpu")
    assert isinstance(ae, SpectralAutoencoder)
    assert ae.architecture == "sedaghat2021" and ae.n_components == 128 and ae.n_iter_ == 182
    rng = np.random.RandomState(0)
    X = np.zeros((3, 327_680), dtype=np.float32)
    X[:, 7589:-7590] = rng.normal(1.0, 0.2, (3, 312_501))  # padded as the paper pads
    with torch.no_grad():
        mu, log_var = module.encode(torch.from_numpy(X))
        reconstruction = module.decode(mu)
    mean, ours_log_var = ae.encode(X)
    np.testing.assert_allclose(mean, mu.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours_log_var, log_var.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        ae.inverse_transform(mean), reconstruction.numpy(), rtol=1e-4, atol=1e-5
    )


def test_the_loaded_model_has_every_fitted_attribute_a_fit_sets(checkpoint):
    # The loader lists the fitted attributes itself: one that fit gains
    # must be given here too, or loaded models would lack it.
    path, _ = checkpoint
    loaded = load_sedaghat2021(path, device="cpu")
    X = np.random.RandomState(0).normal(1.0, 0.1, (16, 32))
    fitted = SpectralAutoencoder(2, max_epochs=1, random_state=0).fit(X)
    assert set(vars(loaded)) - set(vars(fitted)) == set()
    assert set(vars(fitted)) - set(vars(loaded)) == set()
    assert loaded.stop_reason_ == "loaded"


def test_unsafe_or_foreign_checkpoints_are_refused_with_the_reason(checkpoint, tmp_path):
    path, module = checkpoint
    with pytest.raises(ModelFileError, match="no such file"):
        load_sedaghat2021(tmp_path / "none.pth.tar")
    # A checkpoint holding other Python objects needs an explicit opt-in.
    risky = tmp_path / "with_args.pth.tar"
    torch.save({"state_dict": module.state_dict(), "args": argparse.Namespace(lr=1e-4)}, risky)
    with pytest.raises(ModelFileError, match="allow_pickle=True only if you trust"):
        load_sedaghat2021(risky)
    assert load_sedaghat2021(risky, allow_pickle=True, device="cpu").n_iter_ == 0
    # Weights of another network are named, not loaded.
    other = tmp_path / "other.pth.tar"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(3)}}, other)
    with pytest.raises(ModelFileError, match="not the paper's ae1d network"):
        load_sedaghat2021(other)
    torch.save({"weights": module.state_dict()}, other)
    with pytest.raises(ModelFileError, match="has no 'state_dict'"):
        load_sedaghat2021(other)
    wrong = dict(module.state_dict())
    wrong["fc11.weight"] = torch.zeros(64, 10240)
    torch.save({"state_dict": wrong}, other)
    with pytest.raises(ModelFileError, match="do not have the paper's shapes"):
        load_sedaghat2021(other)
    (tmp_path / "text.pth.tar").write_text("not torch")
    with pytest.raises(ModelFileError, match="not a readable torch checkpoint"):
        load_sedaghat2021(tmp_path / "text.pth.tar")
