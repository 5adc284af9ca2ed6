"""io.wavelength_grid and io.star_weights: the archive-level helpers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skspecrep.io import star_weights, wavelength_grid

C_KMS = 299_792.458


@given(
    low=st.floats(3000, 9000),
    span=st.floats(1.0, 3000.0),
    log_step=st.floats(0.5, 50.0),
)
def test_a_log_grid_has_one_velocity_step_and_spans_the_range(low, span, log_step):
    high = low + span
    if np.log(high / low) * C_KMS < log_step:
        with pytest.raises(ValueError, match="fewer than 2 pixels"):
            wavelength_grid(low, high, log_step=log_step)
        return
    grid = wavelength_grid(low, high, log_step=log_step)
    # Differences of logs near 9 are known to a few float64 spacings of 9
    # (2e-15 each), so to about 1e-9 km/s: Hypothesis found 0.6 km/s steps
    # off by 6e-10 km/s, a relative 1e-9.
    floor = C_KMS * 4 * np.spacing(np.log(grid[-1]))
    np.testing.assert_allclose(C_KMS * np.diff(np.log(grid)), log_step, rtol=1e-9, atol=floor)
    assert grid[0] == low and grid[-1] <= high * (1 + 1e-12)
    # No room for one more pixel.
    assert grid[-1] * np.exp(log_step / C_KMS) > high * (1 - 1e-12)


@given(low=st.floats(3000, 9000), n=st.integers(1, 5000), step=st.floats(0.001, 1.0))
def test_a_linear_grid_keeps_a_whole_number_of_steps(low, n, step):
    # A range of exactly n steps keeps its last pixel despite rounding.
    grid = wavelength_grid(low, low + n * step, step=step)
    assert grid.size == n + 1
    np.testing.assert_allclose(np.diff(grid), step, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"low": 5000, "high": 4000, "log_step": 1}, "0 < low < high"),
        ({"low": -1, "high": 4000, "log_step": 1}, "0 < low < high"),
        ({"low": float("nan"), "high": 4000, "log_step": 1}, "low must be a finite number"),
        ({"low": 5000, "high": 6000}, "exactly one of log_step"),
        ({"low": 5000, "high": 6000, "log_step": 1, "step": 1}, "exactly one of log_step"),
        ({"low": 5000, "high": 6000, "log_step": 0}, "log_step must be a positive number"),
        ({"low": 5000, "high": 6000, "step": "1"}, "step must be a positive number"),
        ({"low": 5000, "high": 5000.5, "step": 1}, "step=1 leaves fewer than 2 pixels"),
    ],
)
def test_bad_grids_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wavelength_grid(**kwargs)


def test_each_star_gets_one_vote():
    names = ["A", "A ", "B", "A", "", None, "B", "C"]
    w = star_weights(names)
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 2, 1 / 3, 1, 1, 1 / 2, 1])
    # A, B, C, and two unnamed spectra each count as one star.
    assert w.sum() == pytest.approx(5)
    assert star_weights(np.array(["x"] * 4)).tolist() == [0.25] * 4
    with pytest.raises(ValueError, match="objects must be 1-D"):
        star_weights([["A", "B"]])
