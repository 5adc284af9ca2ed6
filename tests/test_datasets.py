"""make_stellar_spectra: known physics, determinism, errors."""

import numpy as np
import pytest

from skspecrep.datasets import make_stellar_spectra
from skspecrep.datasets._synthetic import C_KMS, _broadening_ft

SUN = dict(
    n_samples=1,
    snr=np.inf,
    teff=(5800, 5800),
    logg=(4.4, 4.4),
    metallicity=(0.0, 0.0),
    radial_velocity=(0, 0),
    vsini=(2, 2),
)


def _depth(X, wavelength, line):
    i = np.argmin(np.abs(wavelength - line))
    return 1 - X[0, i - 3 : i + 4].min()


def test_shapes_dtypes_and_labels():
    X, labels, wavelength = make_stellar_spectra(7, n_pixels=512, random_state=0)
    assert X.shape == (7, 512) and X.dtype == np.float32
    assert wavelength.shape == (512,) and np.all(np.diff(wavelength) > 0)
    assert list(labels.columns) == [
        "teff",
        "logg",
        "metallicity",
        "radial_velocity",
        "vsini",
        "snr",
    ]
    np.testing.assert_allclose(np.median(X, axis=1), 1.0, atol=0.02)


def test_same_seed_same_spectra():
    a = make_stellar_spectra(3, n_pixels=256, random_state=1)
    b = make_stellar_spectra(3, n_pixels=256, random_state=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].equals(b[1])


def test_lines_deepen_with_metallicity():
    depths = []
    for m in (-1.0, 0.0, 0.4):
        X, _, w = make_stellar_spectra(**{**SUN, "metallicity": (m, m)})
        depths.append(_depth(X, w, 5127.36))  # a weak Fe I line
    assert depths[0] < depths[1] < depths[2]


def test_neutral_lines_weaken_and_ionised_lines_strengthen_with_temperature():
    fe1, fe2 = [], []
    for t in (4500, 5800, 6500):
        X, _, w = make_stellar_spectra(**{**SUN, "teff": (t, t)})
        fe1.append(_depth(X, w, 5127.36))
        fe2.append(_depth(X, w, 5169.03))
    assert fe1[0] > fe1[1] > fe1[2]
    assert fe2[0] < fe2[1] < fe2[2]


def test_radial_velocity_shift_is_recovered_by_cross_correlation():
    X0, _, w = make_stellar_spectra(**SUN, n_pixels=4096)
    X1, _, _ = make_stellar_spectra(**{**SUN, "radial_velocity": (30, 30)}, n_pixels=4096)
    a, b = X0[0] - X0[0].mean(), X1[0] - X1[0].mean()
    lags = np.arange(-20, 21)
    cc = np.array([np.dot(np.roll(a, lag), b) for lag in lags])
    k = np.argmax(cc)
    # Parabolic refinement of the peak to sub-pixel precision.
    peak = lags[k] + 0.5 * (cc[k - 1] - cc[k + 1]) / (cc[k - 1] - 2 * cc[k] + cc[k + 1])
    expected = 30 / (C_KMS * np.log(w[1] / w[0]))
    assert abs(peak - expected) < 0.1


def test_broadening_kernel_is_normalised():
    import pandas as pd

    labels = pd.DataFrame({"vsini": [0.5, 10.0, 40.0]})
    ft = _broadening_ft(labels, 1024, dv=1.0, resolving_power=50_000, epsilon=0.6)
    np.testing.assert_allclose(ft[:, 0].real, 1.0, rtol=1e-10)


def test_noise_matches_requested_snr():
    clean, _, _ = make_stellar_spectra(**{**SUN, "n_samples": 20, "snr": np.inf}, random_state=0)
    noisy, _, _ = make_stellar_spectra(**{**SUN, "n_samples": 20, "snr": 50.0}, random_state=0)
    residual = (noisy - clean) / np.sqrt(clean)
    assert residual.std() == pytest.approx(1 / 50, rel=0.03)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(wavelength_range=(5400, 5000)), "increasing"),
        (dict(snr=0), "snr must be positive"),
        (dict(teff=(7000, 4000)), "teff range"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_stellar_spectra(**kwargs)
