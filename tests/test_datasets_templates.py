"""make_template_spectra: known factors applied to real templates, exactly."""

import numpy as np
import pytest

from skspecrep._constants import C_KMS
from skspecrep.datasets import make_template_spectra

WAVE = np.linspace(5000.0, 5100.0, 40_001)  # 0.0025 A: 0.15 km/s


def _line(centre=5050.0, width=0.05, depth=0.6):
    return 1.0 - depth * np.exp(-0.5 * ((WAVE - centre) / width) ** 2)


QUIET = dict(vsini=(0.0, 0.0), tilt=(0.0, 0.0), snr=np.inf, flux_scale=(1.0, 1.0))


def _centroid(wavelength, flux):
    depth = 1.0 - flux
    return float((wavelength * depth).sum() / depth.sum())


@pytest.mark.parametrize("velocity", [-37.0, 0.0, 12.5])
def test_a_line_moves_by_lambda_v_over_c_and_keeps_its_area(velocity):
    X, labels, wavelength = make_template_spectra(
        [(WAVE, _line())], 1, log_step=2.0, radial_velocity=(velocity, velocity), **QUIET
    )
    assert labels["radial_velocity"][0] == velocity
    np.testing.assert_allclose(
        _centroid(wavelength, X[0]), 5050.0 * (1 + velocity / C_KMS), atol=2e-4
    )
    # Pixel averages conserve the line's equivalent width (0.6 x 0.05 x sqrt(2 pi) A).
    width = np.gradient(wavelength)
    area = 0.6 * 0.05 * np.sqrt(2 * np.pi)
    np.testing.assert_allclose(((1 - X[0]) * width).sum(), area, rtol=2e-3)


def test_rotation_makes_lines_shallower_and_keeps_their_area():
    kw = dict(log_step=2.0, radial_velocity=(0.0, 0.0), random_state=0)
    slow, _, wavelength = make_template_spectra([(WAVE, _line())], 1, **kw, **QUIET)
    fast, labels, _ = make_template_spectra(
        [(WAVE, _line())], 1, **kw, **(QUIET | {"vsini": (20.0, 20.0)})
    )
    assert labels["vsini"][0] == 20.0
    assert 1 - fast[0].min() < 0.5 * (1 - slow[0].min())
    np.testing.assert_allclose((1 - fast[0]).sum(), (1 - slow[0]).sum(), rtol=2e-3)


def test_tilt_scale_and_noise_are_what_the_labels_say():
    flat = (WAVE, np.ones_like(WAVE))
    X, labels, wavelength = make_template_spectra(
        [flat], 2000, log_step=20.0, radial_velocity=(0.0, 0.0), vsini=(0.0, 0.0),
        tilt=(0.2, 0.2), snr=(50.0, 50.0), flux_scale=(3.0, 3.0), random_state=0,
    )  # fmt: skip
    u = np.linspace(-1, 1, wavelength.size)
    clean = 3.0 * np.exp(0.2 * u)
    np.testing.assert_allclose(X.mean(axis=0), clean, rtol=3e-3)
    # Photon noise: sqrt(f m) / snr, m the median flux.
    expected = np.sqrt(clean * np.median(clean)) / 50.0
    np.testing.assert_allclose(X.std(axis=0), expected, rtol=0.08)


def test_templates_are_drawn_uniformly_and_same_seed_same_archive():
    templates = [(WAVE, _line(5030.0)), (WAVE, _line(5070.0))]
    X1, labels, _ = make_template_spectra(templates, 400, random_state=3)
    X2, _, _ = make_template_spectra(templates, 400, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    assert 150 < (labels["template"] == 0).sum() < 250


class _Spectrum:
    def __init__(self):
        self.wavelength, self.flux = WAVE, _line()
        self.error = np.full(WAVE.size, 0.01)
        self.error[:100] = np.inf  # flagged pixels are left out


def test_spectrum_objects_with_flagged_pixels_are_read():
    X, _, wavelength = make_template_spectra([_Spectrum()], 2, random_state=0)
    assert np.isfinite(X).all() and wavelength[0] > WAVE[100]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"templates": []}, ValueError, "empty"),
        ({"templates": [object()]}, TypeError, r"templates\[0\]"),
        ({"templates": [(WAVE, WAVE[:5])]}, ValueError, "wavelengths but"),
        ({"wavelength_range": (4990.0, 5050.0)}, ValueError, "not every template covers"),
        ({"vsini": (-1.0, 2.0)}, ValueError, "negative"),
        ({"log_step": 0.0}, ValueError, "log_step"),
        ({"snr": (0.0, 10.0)}, ValueError, "snr"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    kwargs = {"templates": [(WAVE, _line())]} | kwargs
    with pytest.raises(error, match=match):
        make_template_spectra(n_samples=2, **kwargs)
