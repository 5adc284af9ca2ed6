"""Mutual-information estimators against analytic values and reference code."""

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.feature_selection import mutual_info_regression

from skspecrep import (
    bootstrap_mutual_info,
    mutual_info_gmm,
    mutual_info_histogram,
    mutual_info_ksg,
)
from skspecrep._mutual_info import bin_codes


def gaussian_pair(rho, n=5000, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=n)
    return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)


def analytic(rho):
    return -0.5 * np.log(1 - rho**2)


def histogram2d_loop(Z, Y, bins):
    """The per-pair reference: one numpy.histogram2d per latent, label and binning."""
    out = np.zeros((len(bins), Z.shape[1], Y.shape[1]))
    for b, n_bins in enumerate(bins):
        for k in range(Z.shape[1]):
            for m in range(Y.shape[1]):
                valid = ~np.isnan(Y[:, m])
                counts, _, _ = np.histogram2d(Z[valid, k], Y[valid, m], bins=n_bins)
                p = counts / counts.sum()
                px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
                nz = p > 0
                out[b, k, m] = (p[nz] * np.log(p[nz] / (px @ py)[nz])).sum()
    return out


def test_histogram_equals_the_per_pair_histogram2d_loop():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(3000, 5))
    Z[:, 4] = np.round(Z[:, 4], 1)  # many values exactly on bin edges
    Y = np.column_stack([Z[:, 0] ** 2 + rng.normal(size=3000), rng.uniform(size=3000)])
    Y[::7, 1] = np.nan
    bins = [5, 10, 20, 40, 80, 160]
    np.testing.assert_allclose(
        mutual_info_histogram(Z, Y, bins), histogram2d_loop(Z, Y, bins), rtol=1e-12, atol=1e-15
    )


@settings(max_examples=40, deadline=None)
@given(
    data=st.sampled_from(["integers", "rounded", "far_from_zero", "normal"]),
    bins=st.sampled_from([[5, 10, 20, 40, 80, 160], [3, 6, 12], [7, 14, 5], [160, 2]]),
    seed=st.integers(0, 2**16),
)
def test_histogram_equals_the_loop_on_data_full_of_edge_values(data, bins, seed):
    """Derived coarse binnings must move every value on an edge to numpy's bin."""
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(400, 3))
    if data == "integers":
        Z = rng.randint(-20, 21, size=(400, 3)).astype(float)
    elif data == "rounded":
        Z = np.round(Z, 2)
    elif data == "far_from_zero":
        Z = 1e6 + 1e-3 * np.round(Z, 3)
    Y = np.column_stack([np.round(Z[:, 0] + rng.normal(size=400), 1), rng.randint(0, 7, 400)])
    Y[::5, 0] = np.nan
    np.testing.assert_allclose(
        mutual_info_histogram(Z, Y, bins), histogram2d_loop(Z, Y, bins), rtol=1e-12, atol=1e-14
    )


def test_coarse_binnings_move_values_between_unequal_edges():
    """3-bin edges need not equal every third 9-bin edge: values there change bin.

    For these ranges numpy's 3-bin edge lies one ulp above the matching 9-bin
    edge, so a value exactly at the 9-bin edge is in coarse bin 0, not 3 // 3.
    Such values sit in a latent, in the label, and in both in the same row.
    """
    z_lo, z_hi, z_edge = -1.2482557747461502, 7.835460015641594, 1.779649488716431
    y_lo, y_hi, y_edge = -7.634511482621336, 2.798420426550477, -0.6792235431734595
    assert np.linspace(z_lo, z_hi, 4)[1] != np.linspace(z_lo, z_hi, 10)[3]
    assert np.linspace(y_lo, y_hi, 4)[2] != np.linspace(y_lo, y_hi, 10)[6]
    rng = np.random.RandomState(0)
    z = rng.uniform(z_lo, z_hi, 60)
    y = rng.uniform(y_lo, y_hi, 60)
    z[:2], y[:2] = (z_lo, z_hi), (y_lo, y_hi)
    z[2:12] = z_edge  # latent exceptions
    y[8:20] = y_edge  # label exceptions, rows 8-11 shared with the latent's
    Z = np.column_stack([z, rng.normal(size=60)])
    np.testing.assert_allclose(
        mutual_info_histogram(Z, y, [9, 3]), histogram2d_loop(Z, y[:, None], [9, 3]), atol=1e-14
    )


@settings(max_examples=50, deadline=None)
@given(
    # Subnormal spreads are left out: numpy's histogram itself, the
    # reference, cannot place two bins in a range of 5e-324.
    x=arrays(np.float64, st.integers(2, 60), elements=st.floats(-1e6, 1e6, allow_subnormal=False)),
    n_bins=st.integers(2, 50),
)
def test_bin_codes_match_numpy_histogram(x, n_bins):
    counts, _ = np.histogram(x, bins=n_bins)
    codes = bin_codes(x[:, None], n_bins)[:, 0]
    if np.ptp(x) == 0:
        assert np.all(codes == 0)
    else:
        np.testing.assert_array_equal(np.bincount(codes, minlength=n_bins), counts)


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_ksg_and_gmm_recover_the_gaussian_mutual_information(rho):
    x, y = gaussian_pair(rho)
    assert mutual_info_ksg(x, y) == pytest.approx(analytic(rho), abs=0.03)
    assert mutual_info_gmm(x, y, max_components=3, random_state=0) == pytest.approx(
        analytic(rho), abs=0.02
    )


@pytest.mark.parametrize("rho", [0.3, 0.6])
def test_corrected_histogram_recovers_the_gaussian_mutual_information(rho):
    x, y = gaussian_pair(rho, n=20000)
    raw = mutual_info_histogram(x, y, bins=20)[0, 0, 0]
    corrected = mutual_info_histogram(x, y, bins=20, bias_correction=True)[0, 0, 0]
    assert corrected == pytest.approx(analytic(rho), abs=0.02)
    assert raw > corrected  # the plug-in estimate reads high


def test_independent_variables_carry_almost_no_information():
    x, y = gaussian_pair(0.0, n=5000, seed=1)
    assert mutual_info_ksg(x, y) < 0.01
    assert mutual_info_gmm(x, y, max_components=3, random_state=0) < 0.01
    # The plug-in bias is about (B - 1)^2 / 2N = 0.036 at 20 bins; corrected, near 0.
    raw = mutual_info_histogram(x, y, bins=20)[0, 0, 0]
    assert raw == pytest.approx(19**2 / (2 * 5000), abs=0.01)
    assert mutual_info_histogram(x, y, bins=20, bias_correction=True)[0, 0, 0] < 0.01


def test_ksg_agrees_with_scikit_learn():
    for rho in (0.0, 0.5, 0.95):
        x, y = gaussian_pair(rho, n=3000, seed=2)
        ours = mutual_info_ksg(x, y, n_neighbors=4)
        theirs = mutual_info_regression(x[:, None], y, n_neighbors=4, random_state=0)[0]
        assert ours == pytest.approx(theirs, abs=1e-9)


@settings(max_examples=12, deadline=None)
@given(
    rho=st.floats(0.2, 0.9),
    fx=st.sampled_from([np.exp, np.arctan, lambda v: v**3, lambda v: v + 0.1 * v**3]),
    fy=st.sampled_from([np.exp, lambda v: -np.exp(-v), lambda v: v**3]),
)
def test_ksg_is_nearly_invariant_under_monotone_maps(rho, fx, fy):
    x, y = gaussian_pair(rho, n=4000, seed=3)
    assert mutual_info_ksg(fx(x), fy(y)) == pytest.approx(mutual_info_ksg(x, y), abs=0.05)


@settings(max_examples=30, deadline=None)
@given(a=st.floats(1e-3, 1e3), b=st.floats(-1e3, 1e3), c=st.floats(1e-3, 1e3))
def test_histogram_is_invariant_under_increasing_affine_maps(a, b, c):
    x, y = gaussian_pair(0.7, n=2000, seed=4)
    base = mutual_info_histogram(x, y, bins=[10, 40])
    moved = mutual_info_histogram(a * x + b, c * y - b, bins=[10, 40])
    np.testing.assert_allclose(moved, base, atol=0.01)


def test_nan_labels_are_dropped_per_label():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(1000, 3))
    Y = np.column_stack([Z[:, 0] + rng.normal(size=1000), Z[:, 1] + rng.normal(size=1000)])
    Y[:300, 1] = np.nan
    mi = mutual_info_histogram(Z, Y, bins=[10])
    np.testing.assert_allclose(
        mi[:, :, 1], mutual_info_histogram(Z[300:], Y[300:, 1], [10])[..., 0]
    )
    np.testing.assert_allclose(mi[:, :, 0], mutual_info_histogram(Z, Y[:, 0], [10])[..., 0])


def test_constant_and_all_nan_labels_give_zero():
    Z = np.random.RandomState(0).normal(size=(100, 2))
    Y = np.column_stack([np.ones(100), np.full(100, np.nan)])
    assert np.all(mutual_info_histogram(Z, Y) == 0)


def test_bootstrap_spread_is_reproducible_and_kNN_estimators_are_subsampled():
    x, y = gaussian_pair(0.0, n=2000, seed=5)
    mean, std, draws = bootstrap_mutual_info(mutual_info_ksg, x, y, n_bootstrap=10, random_state=0)
    assert mean < 0.02  # with-replacement duplicates would read ~0.85 nats here
    again = bootstrap_mutual_info(mutual_info_ksg, x, y, n_bootstrap=10, random_state=0)
    np.testing.assert_array_equal(draws, again[2])
    ksg4 = partial(mutual_info_ksg, n_neighbors=4)
    assert bootstrap_mutual_info(ksg4, x, y, n_bootstrap=5, random_state=0)[0] < 0.02
    forced, _, _ = bootstrap_mutual_info(
        mutual_info_ksg, x, y, n_bootstrap=5, method="bootstrap", random_state=0
    )
    assert forced > 0.5  # the documented failure the default avoids


def test_bootstrap_spread_matches_the_sampling_spread():
    """The bootstrap std approximates the spread of estimates over fresh samples."""
    hist = lambda a, b: mutual_info_histogram(a, b, bins=10)[0, 0, 0]  # noqa: E731
    fresh = [hist(*gaussian_pair(0.6, n=2000, seed=s)) for s in range(30)]
    _, std, _ = bootstrap_mutual_info(
        hist, *gaussian_pair(0.6, n=2000), n_bootstrap=50, random_state=0
    )
    assert std == pytest.approx(np.std(fresh, ddof=1), rel=0.5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mutual_info_ksg([1, 2, 3], [1, 2]), "same length"),
        (lambda: mutual_info_ksg([1, np.nan, 3], [1, 2, 3]), "finite"),
        (lambda: mutual_info_ksg([1, 2, 3], [1, 2, 3], n_neighbors=3), "n_neighbors"),
        (lambda: mutual_info_histogram(np.ones((5, 2)), np.ones((5, 1)), bins=[1]), "2 bins"),
        (lambda: mutual_info_histogram(np.ones((5, 2)), np.ones((4, 1))), "same number of rows"),
        (lambda: mutual_info_histogram(np.ones((5, 2)), np.full((5, 1), np.inf)), "inf"),
        (lambda: bootstrap_mutual_info(mutual_info_ksg, [1, 2], [1, 2], n_bootstrap=1), "2"),
        (lambda: bootstrap_mutual_info(mutual_info_ksg, [1, 2], [1, 2], method="x"), "method"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
