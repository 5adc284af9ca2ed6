"""Preprocessing: resampling that conserves flux, masked medians, the paper's HARPS recipe."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from skspecrep import (
    HARPSPreprocessor,
    MedianNormalizer,
    SpectralAutoencoder,
    WavelengthResampler,
    harps_pixel_mask,
    harps_wavelength,
)
from skspecrep.exceptions import SpectrumQualityWarning


def gaussian_line(wave, centre=5005.0, depth=0.6, sigma=0.05):
    return 1 - depth * np.exp(-0.5 * ((wave - centre) / sigma) ** 2)


# ------------------------------------------------------------------ resampling


@settings(max_examples=30, deadline=None)
@given(
    a=st.floats(-5, 5),
    b=st.floats(-2, 2),
    n_out=st.integers(3, 200),
    method=st.sampled_from(["linear", "flux"]),
)
def test_linear_spectra_are_resampled_exactly(a, b, n_out, method):
    """Both methods reproduce a flux linear in wavelength (the flux mean is the centre value)."""
    wave = np.sort(np.random.RandomState(n_out).uniform(5000, 5010, 300))
    wave = np.unique(np.round(wave, 6))
    grid = np.linspace(5002, 5008, n_out)  # bins stay inside the input for n_out >= 3
    X = (a + b * (wave - 5000))[None, :]
    out = WavelengthResampler(wave, grid=grid, method=method).fit_transform(X)
    np.testing.assert_allclose(out[0], a + b * (grid - 5000), atol=1e-9)


def test_flux_method_conserves_the_equivalent_width_of_an_undersampled_line():
    wave = np.arange(5000, 5010, 0.005)
    X = gaussian_line(wave)[None, :]
    ew_true = np.sum(1 - X[0]) * 0.005  # = depth * sigma * sqrt(2 pi) = 0.0752
    grid = np.arange(5000.5, 5009.5, 0.1)  # 2 pixels per line sigma
    flux = WavelengthResampler(wave, grid=grid, method="flux").fit_transform(X)
    linear = WavelengthResampler(wave, grid=grid, method="linear").fit_transform(X)
    assert np.sum(1 - flux[0]) * 0.1 == pytest.approx(ew_true, rel=1e-4)
    # Sampling at centres alone misses by ~1 % with the line half a pixel off.
    assert abs(np.sum(1 - linear[0]) * 0.1 / ew_true - 1) > 1e-3


def test_flux_method_averages_noise_down_when_binning():
    rng = np.random.RandomState(0)
    wave = np.arange(5000, 5010, 0.01)
    X = 1 + 0.01 * rng.normal(size=(50, wave.size))
    grid = np.arange(5000.5, 5009.5, 0.1)  # 10 input pixels per output pixel
    flux = WavelengthResampler(wave, grid=grid, method="flux").fit_transform(X)
    assert flux.std() == pytest.approx(0.01 / np.sqrt(10), rel=0.15)


def test_coverage_nan_and_identity():
    wave = np.linspace(5000, 5010, 101)
    X = np.tile(wave - 5000, (2, 1))
    X[1, 50] = np.nan
    grid = np.array([4999.0, 5002.0, 5005.0, 5008.0, 5011.0])
    for method in ("linear", "flux"):
        r = WavelengthResampler(wave, grid=grid, method=method).fit(X)
        out = r.transform(X)
        np.testing.assert_array_equal(r.covered_, [False, True, True, True, False])
        assert np.isnan(out[:, [0, 4]]).all()
        # The NaN pixel at 5005.0 spoils only the output pixel that uses it.
        assert np.isnan(out[1, 2]) and not np.isnan(out[1, [1, 3]]).any()
    np.testing.assert_array_equal(WavelengthResampler(wave).fit_transform(X), X)
    filled = WavelengthResampler(wave, grid=grid, fill_value=0.0).fit_transform(X[:1])
    assert filled[0, 0] == 0.0


def test_integer_grid_is_log_spaced_over_the_input_range():
    wave = np.linspace(4000, 6000, 1000)
    r = WavelengthResampler(wave, grid=64).fit(np.ones((1, 1000)))
    assert r.grid_[0] == pytest.approx(4000) and r.grid_[-1] == pytest.approx(6000)
    np.testing.assert_allclose(np.diff(np.log(r.grid_)), np.log(1.5) / 63)
    assert r.get_feature_names_out()[0] == "wavelength4000"


def test_float32_stays_float32():
    wave = np.linspace(5000, 5010, 50)
    X = np.ones((3, 50), dtype=np.float32)
    assert WavelengthResampler(wave, grid=wave[5:-5:2]).fit_transform(X).dtype == np.float32


@pytest.mark.parametrize(
    "params, X, match",
    [
        (dict(wavelength=np.linspace(0, 1, 5)), np.ones((2, 6)), "6 pixels but wavelength has 5"),
        (dict(wavelength=[3.0, 2.0, 1.0]), np.ones((2, 3)), "strictly increasing"),
        (dict(wavelength=[1.0, 2.0, 3.0], grid=[[1, 2]]), np.ones((2, 3)), "grid must be a 1-D"),
        (dict(wavelength=[-1.0, 2.0, 3.0], grid=10), np.ones((2, 3)), "positive"),
    ],
)
def test_resampler_bad_input(params, X, match):
    with pytest.raises(ValueError, match=match):
        WavelengthResampler(**params).fit(X)


# --------------------------------------------------------------- normalisation


def test_median_normalizer_uses_only_unmasked_and_finite_pixels():
    X = np.array([[2.0, 4.0, np.nan, 6.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 5.0, 5.0]])
    mask = [1, 1, 1, 1, 0, 0]
    out = MedianNormalizer(pixel_mask=mask).fit_transform(X)
    np.testing.assert_allclose(out[0], [0.5, 1.0, np.nan, 1.5, 0.0, 0.0])
    np.testing.assert_allclose(out[1], X[1])


def test_median_normalizer_refuses_spectra_it_cannot_normalise():
    X = np.ones((20, 4))
    X[[3, 17]] = -1.0
    with pytest.raises(ValueError, match=r"2 spectra .* not positive \(rows \[3, 17\]\)"):
        MedianNormalizer().fit_transform(X)
    with pytest.raises(ValueError, match="pixel_mask has 3 values but the spectra have 4"):
        MedianNormalizer(pixel_mask=[1, 1, 1]).fit(X)
    with pytest.raises(ValueError, match="leaves no pixel"):
        MedianNormalizer(pixel_mask=[0, 0, 0, 0]).fit(X)


# ------------------------------------------------------------- the HARPS recipe


def test_harps_grid_and_mask_are_the_papers():
    mask, wave = harps_pixel_mask(), harps_wavelength()
    assert mask.shape == wave.shape == (327_680,)
    assert 327_680 % 2**14 == 0
    zeros = np.flatnonzero(mask == 0)
    np.testing.assert_array_equal(zeros[:7589], np.arange(7589))  # left pad
    np.testing.assert_array_equal(zeros[-7590:], np.arange(327_680 - 7590, 327_680))
    gap = zeros[7589:-7590]
    assert gap[0] == 159_453 and gap[-1] == 162_893 and gap.size == 162_893 - 159_453 + 1
    assert wave[159_453] == pytest.approx(5303.64) and wave[162_893] == pytest.approx(5338.04)
    assert np.sum(mask[7589:-7590] > 0) + gap.size == 312_501


@pytest.fixture(scope="module")
def adp_grid_spectra():
    """Three raw spectra on an ADP file's grid (3781.00 + 0.01 k): continuum, a line, noise."""
    wave = 3781.0 + 0.01 * np.arange(313_500)
    X = np.empty((3, wave.size), dtype=np.float32)
    X[0] = 1000.0 * gaussian_line(wave, centre=5000.0)
    X[1] = 300.0 + 0.01 * (wave - 3781.0)
    X[2] = 20.0  # noise only: median below 50
    return wave, X


def test_harps_recipe_trims_pads_and_normalises_by_the_masked_median(adp_grid_spectra):
    wave, X = adp_grid_spectra
    with pytest.warns(UserWarning, match=r"1 spectra .* noise only \(rows \[2\]\)"):
        prep = HARPSPreprocessor(wave).fit(X)
        out = prep.transform(X)
    np.testing.assert_array_equal(prep.noise_only_, [False, False, True])
    assert out.shape == (3, 327_680) and out.dtype == np.float32
    assert np.all(out[:, :7589] == 0) and np.all(out[:, -7590:] == 0)
    # On the archive's own grid the trim is exact: pixel 7589 is 3785.00 Angstrom.
    first = np.argmin(np.abs(wave - 3785.0))
    used = prep.pixel_mask_ > 0
    raw = X[1, first : first + 312_501].astype(np.float64)
    expected = raw / np.median(raw[used[7589:-7590]])
    np.testing.assert_allclose(out[1, 7589:-7590], expected, rtol=1e-6)
    assert np.median(out[:, used], axis=1) == pytest.approx([1.0, 1.0, 1.0], rel=1e-6)
    np.testing.assert_array_equal(prep.pixel_mask_, harps_pixel_mask())
    np.testing.assert_array_equal(prep.wavelength_, harps_wavelength())


def test_the_papers_median_counts_the_zeros_of_pads_and_gap(adp_grid_spectra):
    """As the paper's inference code: np.median(flux * mask) over all 327,680 values."""
    wave, X = adp_grid_spectra
    ramp = X[1:2]  # 300 rising to 331: its median moves down with every zero counted
    prep = HARPSPreprocessor(wave, median="sedaghat2021").fit(ramp)
    out = prep.transform(ramp)[0]
    first = np.argmin(np.abs(wave - 3785.0))
    padded = np.zeros(327_680)
    padded[7589 : 7589 + 312_501] = ramp[0, first : first + 312_501]
    padded[159_453 : 162_893 + 1] = 0.0  # the CCD gap, zeroed by the mask
    expected = padded[7589:-7590] / np.median(padded)
    expected[159_453 - 7589 : 162_893 + 1 - 7589] = out[159_453:162_894]  # the gap itself
    np.testing.assert_allclose(out[7589:-7590], expected, rtol=1e-6)
    masked = HARPSPreprocessor(wave).fit(ramp).transform(ramp)[0]
    # 18,620 zeros of 327,680 move the median down the ramp: spectra come out brighter,
    # by the ratio of the two medians.
    ratio = out[7589:-7590] / masked[7589:-7590]
    assert np.ptp(ratio) < 1e-5 and ratio[0] > 1.003


def test_a_few_angstrom_left_uncovered_are_masked_as_the_pads_are(adp_grid_spectra):
    wave, X = adp_grid_spectra
    # 3786.00-6909.50: 1.00 A missing at the blue end (100 pixels), 0.50 A at the red (50).
    keep = (wave >= 3786.0 - 1e-9) & (wave <= 6909.5 + 1e-9)
    with pytest.warns(SpectrumQualityWarning, match="the 150 HARPS pixels outside it"):
        prep = HARPSPreprocessor(wave[keep]).fit(X[:2, keep])
    masked = np.flatnonzero((harps_pixel_mask() > 0) & (prep.pixel_mask_ == 0))
    np.testing.assert_array_equal(masked, np.r_[7589:7689, 327_680 - 7590 - 50 : 327_680 - 7590])
    out = prep.transform(X[:2, keep])
    assert np.all(out[:, masked] == 0)
    assert np.median(out[:, prep.pixel_mask_ > 0], axis=1) == pytest.approx([1.0, 1.0], rel=1e-6)


def test_harps_recipe_refuses_short_coverage_and_non_positive_medians(adp_grid_spectra):
    wave, X = adp_grid_spectra
    with pytest.raises(ValueError, match="cover 3800.00-.*needs 3785-6910"):
        HARPSPreprocessor(wave[1900:]).fit(X[:, 1900:])
    with pytest.raises(ValueError, match="313500 pixels but wavelength has 100"):
        HARPSPreprocessor(wave[:100]).fit(X)
    negative = X[:2].copy()
    negative[1] = -5.0
    prep = HARPSPreprocessor(wave, noise_median=0.0).fit(X[:1])
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        prep.transform(negative)
    with pytest.raises(ValueError, match="313500 pixels"):
        prep.noise_only(X[:, :10])


def test_harps_recipe_is_a_pipeline_step_that_the_autoencoder_masks(adp_grid_spectra):
    wave, X = adp_grid_spectra
    prep = HARPSPreprocessor(wave)
    pickle.loads(pickle.dumps(clone(prep)))
    np.testing.assert_array_equal(clone(prep).get_params()["wavelength"], wave)
    pipe = Pipeline(
        [
            ("prep", prep),
            ("ae", SpectralAutoencoder(2, pixel_mask=harps_pixel_mask(), max_epochs=1)),
        ]
    )
    Z = pipe.fit(X[:2]).transform(X[:2])
    assert Z.shape == (2, 2) and np.isfinite(Z).all()
    np.testing.assert_array_equal(pipe["ae"].pixel_weight_, harps_pixel_mask())


def test_median_normalizer_can_mark_invalid_spectra_instead_of_refusing():
    X = np.ones((5, 4))
    X[[1, 3]] = -2.0
    with pytest.warns(UserWarning, match=r"2 spectra .* returned as NaN \(rows \[1, 3\]\)"):
        out = MedianNormalizer(invalid="nan").fit_transform(X)
    assert np.isnan(out[[1, 3]]).all() and np.all(out[[0, 2, 4]] == 1.0)
