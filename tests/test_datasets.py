"""make_stellar_spectra: known physics, determinism, errors."""

import numpy as np
import pytest

from skspecrep._constants import C_KMS
from skspecrep.datasets import make_stellar_spectra
from skspecrep.datasets._synthetic import _broadening_ft

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


def test_broadening_kernel_is_normalised_with_the_right_width():
    vsini = np.array([0.5, 10.0, 40.0])
    ft, n_fft = _broadening_ft(vsini, np.zeros(3), 1024, 1.0, 1e12, 0.6)  # no instrument
    np.testing.assert_allclose(ft[:, 0].real, 1.0, rtol=1e-10)  # integrates to 1
    kernel = np.fft.irfft(ft, n=n_fft, axis=1)
    lag = np.fft.fftfreq(n_fft, d=1.0 / n_fft)  # km/s, 1 km/s per pixel
    for row, v in zip(kernel[1:], vsini[1:]):
        assert np.abs(row[np.abs(lag) > v + 1]).max() < 1e-6  # nothing beyond vsini
        # Gray's kernel with linear limb darkening eps has variance
        # vsini**2 * (1 - eps / 5 ... ) / ...: compare with direct integration.
        x = np.linspace(-1, 1, 200_001)
        g = 2 * 0.4 * np.sqrt(1 - x**2) + 0.5 * np.pi * 0.6 * (1 - x**2)
        expected = v**2 * np.sum(g * x**2) / np.sum(g)
        assert np.sum(row * lag**2) == pytest.approx(expected, rel=0.02)


def test_a_shift_recovered_by_cross_correlation_for_any_velocity():
    """lambda v / c, to a small fraction of a pixel, over a range of velocities."""
    X0, _, w = make_stellar_spectra(**SUN, n_pixels=8192)
    step = C_KMS * np.log(w[1] / w[0])
    for v in (-37.0, 4.2, 61.0):
        X1, _, _ = make_stellar_spectra(**{**SUN, "radial_velocity": (v, v)}, n_pixels=8192)
        a, b = X0[0] - X0[0].mean(), X1[0] - X1[0].mean()
        lags = np.arange(-40, 41)
        cc = np.array([np.dot(np.roll(a, lag), b) for lag in lags])
        k = np.argmax(cc)
        peak = lags[k] + 0.5 * (cc[k - 1] - cc[k + 1]) / (cc[k - 1] - 2 * cc[k] + cc[k + 1])
        assert abs(peak - C_KMS * np.log1p(v / C_KMS) / step) < 0.05


def _equivalent_width(X, w, lo, hi):
    m = (w > lo) & (w < hi)
    continuum = np.median(X[0][(w > lo - 3) & (w < lo)])
    return np.sum(1 - X[0][m] / continuum) * np.mean(np.diff(w[m]))


def test_balmer_line_grows_steeply_with_temperature():
    ew = []
    for t in (4500, 5500, 6500):
        X, _, w = make_stellar_spectra(**{**SUN, "teff": (t, t)}, n_pixels=8192)
        ew.append(_equivalent_width(X, w, 4851, 4871))  # H-beta
    assert ew[0] < 0.3 < ew[1] < ew[2]
    assert ew[2] > 2 * ew[1]


def test_mg_b_wings_grow_with_gravity():
    """Pressure-broadened wings: the flux 0.5 A from the Mg b 5183 core falls with logg."""
    flux = []
    for g in (3.5, 4.4, 5.0):
        X, _, w = make_stellar_spectra(**{**SUN, "logg": (g, g)}, n_pixels=8192)
        flux.append(X[0][np.argmin(np.abs(w - 5184.1))])
    assert flux[0] > flux[1] > flux[2]


def test_resonance_lines_are_in_the_line_list():
    from skspecrep.datasets._lines import line_table

    table = line_table()
    for wave, element in [(3933.66, "Ca"), (3968.47, "Ca"), (5889.95, "Na"), (5895.92, "Na"),
                          (6562.80, "H"), (4861.33, "H"), (5183.60, "Mg")]:  # fmt: skip
        j = np.argmin(np.abs(table["wavelength"] - wave))
        assert table["wavelength"][j] == wave and table["element"][j] == element
    assert table["wavelength"].min() > 3785 and table["wavelength"].max() < 6910


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
        (dict(snr=(50, 10)), "snr range"),
        (dict(snr=np.ones(7)), "one value per pixel"),
        (dict(resolving_power=0), "resolving_power"),
        (dict(flux_model=lambda labels, w: np.ones((len(labels), 3))), "flux_model returned shape"),
        (dict(flux_model=lambda labels, w: np.full((len(labels), w.size), np.nan)), "NaN"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_stellar_spectra(**kwargs)


def test_noise_follows_a_wavelength_dependent_snr():
    n_pixels = 2048
    profile = np.where(np.arange(n_pixels) < n_pixels // 2, 25.0, 200.0)  # blue side noisier
    kw = {**SUN, "n_samples": 30, "n_pixels": n_pixels}
    clean, _, _ = make_stellar_spectra(**{**kw, "snr": np.inf}, random_state=0)
    noisy, labels, _ = make_stellar_spectra(**{**kw, "snr": profile}, random_state=0)
    residual = (noisy - clean) / np.sqrt(clean)
    assert residual[:, : n_pixels // 2].std() == pytest.approx(1 / 25, rel=0.03)
    assert residual[:, n_pixels // 2 :].std() == pytest.approx(1 / 200, rel=0.03)
    assert np.all(labels["snr"] == np.median(profile))


def test_snr_range_draws_one_snr_per_spectrum():
    X, labels, _ = make_stellar_spectra(50, n_pixels=256, snr=(20, 200), random_state=0)
    assert labels["snr"].between(20, 200).all() and labels["snr"].std() > 20


def test_factors_are_independent_unless_correlations_are_asked_for():
    _, free, _ = make_stellar_spectra(3000, n_pixels=64, random_state=0)
    _, real, _ = make_stellar_spectra(3000, n_pixels=64, correlated=True, random_state=0)
    factors = ["teff", "logg", "metallicity", "radial_velocity", "vsini"]
    corr = free[factors].corr().to_numpy()
    assert np.abs(corr[~np.eye(5, dtype=bool)]).max() < 0.06
    r = real[factors].corr()
    assert r.loc["teff", "logg"] < -0.6  # main sequence: hotter dwarfs have lower gravity
    assert r.loc["teff", "vsini"] > 0.3  # fast rotators above the Kraft break
    assert real["logg"].between(3.5, 5.0).all() and real["vsini"].between(1, 20).all()


def test_flux_model_hook_gets_shift_rotation_resolution_and_noise():
    """An emulator with one line at 5200 A: the package moves and broadens it."""

    def one_line(labels, wavelength):
        assert list(labels.columns)[:5] == ["teff", "logg", "metallicity", "radial_velocity",
                                            "vsini"]  # fmt: skip
        line = 1 - 0.5 * np.exp(-0.5 * ((wavelength - 5200.0) / 0.02) ** 2)
        return np.tile(line, (len(labels), 1))

    kw = dict(n_pixels=8192, wavelength_range=(5150, 5250), snr=np.inf, flux_model=one_line)
    rest, _, w = make_stellar_spectra(1, radial_velocity=(0, 0), vsini=(1, 1), **kw)
    moved, _, _ = make_stellar_spectra(1, radial_velocity=(40, 40), vsini=(1, 1), **kw)
    spun, _, _ = make_stellar_spectra(1, radial_velocity=(0, 0), vsini=(20, 20), **kw)

    def centre(x):
        depth = np.clip(1 - x[0], 0, None)
        return np.sum(w * depth) / np.sum(depth)

    assert centre(rest) == pytest.approx(5200.0, abs=1e-3)
    assert centre(moved) - centre(rest) == pytest.approx(5200.0 * 40 / C_KMS, rel=0.01)
    # Rotation keeps the equivalent width and makes the line shallower.
    ew = [np.sum(1 - x[0]) for x in (rest, spun)]
    assert ew[1] == pytest.approx(ew[0], rel=1e-3)
    assert 1 - spun.min() < 0.5 * (1 - rest.min())
