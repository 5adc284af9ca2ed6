"""Input checks shared by several modules."""

import numpy as np
import pandas as pd
import pytest

from skspecrep._checks import check_labels, check_wavelength_grid


def test_grid_comes_back_as_float64():
    grid = check_wavelength_grid([5000, 5001, 5003], "wavelength")
    assert grid.dtype == np.float64
    np.testing.assert_array_equal(grid, [5000.0, 5001.0, 5003.0])


@pytest.mark.parametrize(
    "values, message",
    [
        ([5000.0], "1-D grid of 2 or more"),
        ([[5000.0, 5001.0]], "1-D grid of 2 or more"),
        ([5000.0, 5000.0], "strictly increasing"),
        ([5001.0, 5000.0], "strictly increasing"),
        ([5000.0, np.nan], "finite"),
    ],
)
def test_bad_grids_are_named(values, message):
    with pytest.raises(ValueError, match=message) as info:
        check_wavelength_grid(values, "my_grid")
    assert str(info.value).startswith("my_grid")


def test_labels_keep_nan_and_names():
    y = pd.DataFrame({"teff": [5000.0, np.nan], "logg": [4.0, 4.5]})
    Y, names = check_labels(y, "f")
    assert Y.shape == (2, 2) and np.isnan(Y[1, 0])
    assert list(names) == ["teff", "logg"]


def test_labels_of_a_series_and_an_array():
    Y, names = check_labels(pd.Series([1.0, 2.0], name="rv"), "f")
    assert Y.shape == (2, 1) and list(names) == ["rv"]
    Y, names = check_labels(np.zeros((3, 2)), "f")
    assert list(names) == ["label0", "label1"]


def test_missing_labels_name_who_needs_them():
    with pytest.raises(ValueError, match="^write_report requires y to be passed"):
        check_labels(None, "write_report")
