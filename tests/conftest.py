import os

import numpy as np
import pytest
import torch


def line_spectra(n_samples=200, n_pixels=256, noise=0.005, seed=0):
    """Spectra with one absorption line whose depth and position are the two factors."""
    rng = np.random.RandomState(seed)
    depth = rng.uniform(0.2, 0.8, n_samples)
    shift = rng.uniform(-0.3, 0.3, n_samples)
    pixels = np.linspace(-1, 1, n_pixels)
    X = 1 - depth[:, None] * np.exp(-0.5 * ((pixels - shift[:, None]) / 0.08) ** 2)
    X += rng.normal(0, noise, X.shape)
    return X, depth, shift


@pytest.fixture(scope="session")
def spectra():
    return line_spectra()


def pytest_configure(config):
    # Under pytest-xdist each worker gets one torch thread: two workers with
    # two OpenMP threads each on two cores spin-wait on each other and run
    # many times slower than the cores allow.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
