"""Virtual Doppler shifts and Doppler-pair posteriors (skspecrep._nn._doppler)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from skspecrep import SpectralAutoencoder
from skspecrep._nn import (
    C_KMS,
    BetaVAELoss,
    ConvSpec,
    ConvVAE,
    auto_spec,
    combine_posteriors,
    doppler_shift,
    pair_objective,
)


def _line(wavelength, centre, width=0.08):
    return 1.0 - 0.6 * np.exp(-0.5 * ((wavelength - centre) / width) ** 2)


def _centroid(wavelength, flux):
    depth = (1.0 - flux) * np.gradient(wavelength)  # an integral over wavelength
    return float((wavelength * depth).sum() / depth.sum())


LOG_GRID = np.exp(np.linspace(np.log(5000.0), np.log(5020.0), 4001))
LINEAR_GRID = np.linspace(5000.0, 5020.0, 4001)
IRREGULAR_GRID = 5000.0 + 20.0 * np.linspace(0, 1, 4001) ** 1.3


@pytest.mark.parametrize("grid", [LOG_GRID, LINEAR_GRID, IRREGULAR_GRID], ids=["log", "lin", "irr"])
@pytest.mark.parametrize("velocity", [-47.3, -3.0, 0.7, 12.5, 50.0])
def test_a_line_moves_by_lambda_v_over_c(grid, velocity):
    x = torch.tensor(_line(grid, 5010.0)[None], dtype=torch.float64)
    shifted, valid, _ = doppler_shift(
        x, torch.tensor([velocity], dtype=torch.float64), torch.from_numpy(np.log(grid)), fill=1.0
    )
    moved = _centroid(grid, shifted[0].numpy()) - _centroid(grid, x[0].numpy())
    expected = 5010.0 * velocity / C_KMS
    # Linear interpolation moves the centroid of a line 16 pixels wide by at
    # most a few thousandths of a pixel (a pixel is 5 mA here).
    assert moved == pytest.approx(expected, abs=1e-5)
    assert valid.all() or velocity != 0.0


def test_zero_velocity_is_the_identity_and_edges_are_invalid():
    grid = torch.from_numpy(np.log(LOG_GRID))
    x = torch.rand(3, LOG_GRID.size, dtype=torch.float64)
    shifted, valid, _ = doppler_shift(x, torch.zeros(3), grid)
    torch.testing.assert_close(shifted, x, rtol=0, atol=0)
    assert valid.all()
    v = 30.0  # about 1.1 pixels of this grid per... more at the red end
    shifted, valid, _ = doppler_shift(x, torch.tensor([v, -v, 0.0]), grid, fill=-1.0)
    step = float(grid[1] - grid[0])
    n_edge = math.ceil(math.log1p(v / C_KMS) / step - 1e-9)
    # A redshift moves the spectrum to the red: the first pixels read from
    # beyond the blue end; a blueshift empties the last ones.
    assert not valid[0, :n_edge].any() and valid[0, n_edge:].all()
    assert not valid[1, -n_edge:].any() and valid[1, :-n_edge].all()
    assert (shifted[~valid] == -1.0).all()


@pytest.mark.parametrize("grid", [LOG_GRID, IRREGULAR_GRID], ids=["uniform", "irregular"])
def test_a_shift_beyond_the_grid_leaves_nothing_valid(grid):
    # Velocities near -c move by thousands of grid lengths; no index may
    # overflow or wrap around.
    x = torch.rand(3, grid.size, dtype=torch.float64)
    velocity = torch.tensor([1e7, -C_KMS * 0.999999, 5e4], dtype=torch.float64)
    shifted, valid, _ = doppler_shift(x, velocity, torch.from_numpy(np.log(grid)), fill=-1.0)
    assert not valid.any()
    assert (shifted == -1.0).all()


@settings(max_examples=40, deadline=None)
@given(pixels=st.floats(-6.0, 6.0), seed=st.integers(0, 10**6))
def test_whole_pixel_shifts_move_values_exactly(pixels, seed):
    pixels = float(round(pixels))
    grid = torch.linspace(math.log(4000.0), math.log(4100.0), 200, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    velocity = C_KMS * math.expm1(pixels * step)
    x = torch.from_numpy(np.random.RandomState(seed).normal(size=(1, 200)))
    shifted, valid, _ = doppler_shift(x, torch.tensor([velocity], dtype=torch.float64), grid)
    k = int(pixels)
    expected = torch.roll(x, k, dims=1)
    torch.testing.assert_close(shifted[valid], expected[valid], rtol=0, atol=1e-9)
    assert int((~valid).sum()) == abs(k)


@settings(max_examples=30, deadline=None)
@given(
    velocities=st.lists(st.floats(-300.0, 300.0), min_size=1, max_size=4),
    seed=st.integers(0, 10**6),
    grid=st.sampled_from([LOG_GRID, IRREGULAR_GRID]),
)
def test_shifted_values_are_the_linear_interpolation_at_the_source_wavelength(
    velocities, seed, grid
):
    # A uniform log grid takes a path without searches; both paths must read
    # each output pixel at lambda / (1 + v / c), as numpy's interpolation does.
    x = np.random.RandomState(seed).normal(size=(len(velocities), grid.size))
    v = torch.tensor(velocities, dtype=torch.float64)
    shifted, valid, _ = doppler_shift(torch.from_numpy(x), v, torch.from_numpy(np.log(grid)))
    for row, velocity in enumerate(velocities):
        source = np.log(grid) - math.log1p(velocity / C_KMS)
        margin = 1e-9 * (np.log(grid[1]) - np.log(grid[0]))  # reading at an edge is rounding
        inside = (source >= np.log(grid[0]) + margin) & (source <= np.log(grid[-1]) - margin)
        outside = (source < np.log(grid[0]) - margin) | (source > np.log(grid[-1]) + margin)
        assert valid[row, inside].all() and not valid[row, outside].any()
        expected = np.interp(source[inside], np.log(grid), x[row])
        # The grid's logarithms are known to ~1e-15 on a step of ~1e-6: a
        # billionth of a pixel, on values of order one.
        np.testing.assert_allclose(shifted[row, inside].numpy(), expected, rtol=0, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(velocity=st.floats(-80.0, 80.0), seed=st.integers(0, 10**6))
def test_there_and_back_returns_a_smooth_spectrum(velocity, seed):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(5003.0, 5017.0, size=5)
    flux = np.prod([_line(LOG_GRID, c, width=0.15) for c in centres], axis=0)
    x = torch.tensor(flux[None])
    grid = torch.from_numpy(np.log(LOG_GRID))
    v = torch.tensor([velocity], dtype=torch.float64)
    there, _, _ = doppler_shift(x, v, grid)
    # The shift that undoes v is -v / (1 + v / c), not -v: shifts add in
    # ln(1 + v / c), and -v would leave 0.02 pixel of this grid at 80 km/s.
    back, _, _ = doppler_shift(there, -v / (1 + v / C_KMS), grid)
    inner = slice(300, -300)  # 80 km/s is 267 pixels of this grid: away from the emptied edges
    # Interpolating at fraction t and back at 1 - t is the three-tap filter
    # (a, 1 - 2a, a) with a = t (1 - t) <= 1/4: it changes each pixel by a
    # times its second difference.
    bound = 0.25 * np.abs(np.diff(flux, 2)).max() + 1e-12
    assert (back[0, inner] - x[0, inner]).abs().max() <= bound


def test_masked_pixels_are_never_read():
    grid = torch.from_numpy(np.log(LOG_GRID[:100]))
    weight = torch.ones(100)
    weight[50] = 0
    x = torch.ones(1, 100, dtype=torch.float64)
    x[0, 50] = float("nan")
    step = float(grid[1] - grid[0])
    velocity = torch.tensor([C_KMS * math.expm1(2.5 * step)])  # 2.5 pixels
    shifted, valid, _ = doppler_shift(x, velocity, grid, pixel_weight=weight, fill=7.0)
    # Output pixels 52 and 53 interpolate between inputs 49-50 and 50-51.
    assert not valid[0, 52] and not valid[0, 53] and valid[0, 54] and valid[0, 51]
    assert torch.isfinite(shifted).all()
    assert shifted[0, 52] == 7.0


def test_inverse_variance_is_that_of_the_interpolated_value():
    grid = torch.linspace(0.0, 0.001, 11, dtype=torch.float64)  # any increasing log grid
    step = float(grid[1] - grid[0])
    x = torch.zeros(1, 11, dtype=torch.float64)
    ivar = torch.arange(1.0, 12.0, dtype=torch.float64)[None]
    velocity = torch.tensor([C_KMS * math.expm1(0.25 * step)])  # a quarter pixel
    _, valid, shifted_ivar = doppler_shift(x, velocity, grid, ivar=ivar)
    # Output pixel 5 reads the input at 4.75: 0.25 of input 4, 0.75 of input 5.
    variance = 0.25**2 / 5.0 + 0.75**2 / 6.0
    assert shifted_ivar[0, 5].item() == pytest.approx(1.0 / variance)
    assert shifted_ivar[0, 0] == 0 and not valid[0, 0]
    ivar[0, 3] = 0.0
    _, valid, shifted_ivar = doppler_shift(x, velocity, grid, ivar=ivar)
    assert not valid[0, 3] and not valid[0, 4] and shifted_ivar[0, 4] == 0


def _posteriors(seed, n=6, k=5):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, k, generator=g) for _ in range(4)]


def test_pairs_share_all_but_latent_0_which_differs_by_the_offset():
    mu1, lv1, mu2, lv2 = _posteriors(0)
    offset = torch.linspace(-1, 1, 6, dtype=torch.float64)
    (m1, l1), (m2, l2) = combine_posteriors(mu1, lv1, mu2, lv2, offset)
    torch.testing.assert_close(m2[:, 0] - m1[:, 0], offset.float())
    torch.testing.assert_close(m1[:, 1:], m2[:, 1:])
    torch.testing.assert_close(m1[:, 1:], 0.5 * (mu1 + mu2)[:, 1:])
    torch.testing.assert_close(l1, l2)
    torch.testing.assert_close(l1.exp(), 0.5 * (lv1.exp() + lv2.exp()))
    # Latent 0 is the average of the first view and the second moved back.
    torch.testing.assert_close(m1[:, 0], 0.5 * (mu1[:, 0] + mu2[:, 0] - offset.float()))


def test_pair_objective_of_a_zero_shift_is_the_single_view_objective():
    torch.manual_seed(0)
    n = 64
    module = ConvVAE(n, 3, auto_spec(n)).eval()  # eval: decoders see the means
    criterion = BetaVAELoss("l1", torch.ones(n))
    grid = torch.linspace(8.5, 8.51, n, dtype=torch.float64)
    x = torch.randn(5, n)
    objective, (x_hat, mu, log_var) = pair_objective(
        module, criterion, x, torch.zeros(5), grid, velocity_scale=50.0, weight=0.1
    )
    single = criterion.per_sample(module(x), x, None, 0.1)
    torch.testing.assert_close(objective, single)
    torch.testing.assert_close(x_hat, module(x)[0])


def _pixel_averaged_line(log_edges, centre, sigma):
    """Mean over each pixel of a Gaussian line of depth 0.8, from its analytic integral."""
    from scipy.special import erf

    cdf = 0.5 * (1 + erf((log_edges - centre) / (sigma * math.sqrt(2))))
    depth = np.sqrt(2 * np.pi) * sigma * np.diff(cdf) / np.diff(log_edges)
    return 1.0 - 0.8 * depth


@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_an_oversampled_dense_decoder_keeps_a_narrow_line_whole_when_shifted(fraction):
    # A line 1.2 pixels wide (FWHM), as in real HARPS spectra at 10 km/s per pixel.
    n, step = 64, 10.0 / C_KMS  # pixels, log-wavelength per pixel (10 km/s)
    log_wave = math.log(5000.0) + step * np.arange(n)
    sigma = 0.5 * step
    spec = ConvSpec((8,), (3,), (1,), decoder="dense", oversample=8)
    module = ConvVAE(n, 2, spec, log_wavelength=log_wave, velocity_scale=50.0).eval()
    fine = module.fine_log_wavelength.numpy()
    half = 0.5 * step / 8
    rest = _pixel_averaged_line(np.append(fine - half, fine[-1] + half), log_wave[30], sigma)
    with torch.no_grad():
        last = module.dense[-1]
        last.weight.zero_()
        last.bias.copy_(torch.as_tensor(rest - 1.0))  # offset 0, scale 1: flux - 1
        module.offset.fill_(1.0)
    velocity = fraction * 10.0  # a fraction of a pixel, km/s
    z = torch.tensor([[C_KMS * math.log1p(velocity / C_KMS) / 50.0, 0.0]])
    with torch.no_grad():
        drawn = module.decode(z)[0].double().numpy()
    centre = log_wave[30] + math.log1p(velocity / C_KMS)
    edges = np.append(log_wave - step / 2, log_wave[-1] + step / 2)
    exact = _pixel_averaged_line(edges, centre, sigma)
    # Shifting the pixels themselves, as a one-sample decoder must, loses
    # depth that depends on the fraction of a pixel moved.
    coarse = _pixel_averaged_line(edges, log_wave[30], sigma)
    by_pixels = doppler_shift(
        torch.as_tensor(coarse)[None], torch.tensor([velocity]), torch.as_tensor(log_wave)
    )[0][0].numpy()
    inner = slice(5, -5)
    assert np.abs(by_pixels - exact)[inner].max() > 0.05
    assert np.abs(drawn - exact)[inner].max() < 0.01
    assert "fine_log_wavelength" not in module.state_dict()


# ------------------------------------------------ training on Doppler pairs


def _one_line_stars(n, seed):
    """One absorption line whose depth and radial velocity (+-50 km/s, +-11 pixels) vary."""
    rng = np.random.RandomState(seed)
    wavelength = np.exp(np.linspace(np.log(4990.0), np.log(5010.0), 256))
    depth = rng.uniform(0.3, 0.8, n)
    rv = rng.uniform(-50.0, 50.0, n)
    centre = 5000.0 * (1 + rv / C_KMS)
    X = 1 - depth[:, None] * np.exp(-0.5 * ((wavelength - centre[:, None]) / 0.25) ** 2)
    X += rng.normal(0, 0.005, X.shape)
    return X.astype(np.float32), rv, depth, wavelength


@pytest.fixture(scope="module")
def doppler_model():
    """Trained on pairs (about 30 s on two cores: the tests that use it are slow)."""
    X, rv, depth, wavelength = _one_line_stars(600, 0)
    ae = SpectralAutoencoder(
        3, wavelength=wavelength, virtual_rv=80.0, kl_warmup=(0, 5),
        lr=3e-3, max_epochs=20, random_state=0,
    ).fit(X)  # fmt: skip
    return ae, wavelength


@pytest.mark.slow
def test_the_velocity_latent_moves_by_the_shift_and_the_others_stay(doppler_model):
    ae, wavelength = doppler_model
    assert ae.velocity_latent_ == 0 and ae.velocity_scale_ == 80.0
    X, rv, depth, _ = _one_line_stars(300, 1)
    Z = ae.transform(X)
    dv = 20.0
    shifted, _, _ = doppler_shift(
        torch.from_numpy(X), torch.full((300,), dv, dtype=torch.float64),
        torch.from_numpy(np.log(wavelength)), fill=1.0,
    )  # fmt: skip
    Z_shifted = ae.transform(shifted.numpy())
    moved = Z_shifted - Z
    # Latent 0 moves by the shift in units of velocity_scale_: 20 / 80.
    assert np.median(moved[:, 0]) == pytest.approx(dv / 80.0, rel=0.15)
    # The others hold what a shift does not change: they move by a small
    # fraction of their spread over the stars.
    spread = Z.std(axis=0)
    active = ae.component_kl_ > 0.01
    for j in np.flatnonzero(active)[1:]:
        assert np.median(np.abs(moved[:, j])) < 0.1 * spread[j]
    # Latent 0 is linear in the true radial velocity over the whole range.
    assert abs(spearmanr(Z[:, 0], rv)[0]) > 0.99
    slope = np.polyfit(rv, Z[:, 0] * ae.velocity_scale_, 1)[0]
    assert slope == pytest.approx(1.0, abs=0.15)


@pytest.mark.slow
def test_the_decoder_renders_latent_0_as_a_doppler_shift(doppler_model):
    ae, wavelength = doppler_model
    X, _, _, _ = _one_line_stars(50, 2)
    Z = ae.transform(X).astype(np.float64)
    rest = Z.copy()
    rest[:, 0] = 0.0
    moved = Z.copy()
    moved[:, 0] += 0.25
    # What the other latents draw, shifted by latent 0 in c ln(1 + v / c).
    velocity = C_KMS * np.expm1(moved[:, 0] * ae.velocity_scale_ / C_KMS)
    expected, _, _ = doppler_shift(
        torch.from_numpy(ae.inverse_transform(rest)),
        torch.from_numpy(velocity),
        torch.from_numpy(np.log(wavelength)),
        fill=torch.from_numpy(ae.mean_.astype(np.float64)),
    )
    np.testing.assert_allclose(ae.inverse_transform(moved), expected.numpy(), atol=1e-5)
    # 20 km/s moves the line of every spectrum by 5000 A x 20 / c.
    grid = np.log(wavelength)
    before, after = ae.inverse_transform(Z), ae.inverse_transform(moved)
    centroid = lambda f: ((1 - f) * grid).sum(axis=1) / (1 - f).sum(axis=1)  # noqa: E731
    shift = C_KMS * np.median(centroid(after) - centroid(before))
    assert shift == pytest.approx(20.0, rel=0.05)


def test_pair_training_needs_the_wavelengths():
    X, _, _, wavelength = _one_line_stars(20, 0)
    with pytest.raises(ValueError, match="virtual_rv needs the wavelength"):
        SpectralAutoencoder(2, virtual_rv=50.0, max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="one wavelength per pixel"):
        SpectralAutoencoder(2, wavelength=wavelength[:-1], virtual_rv=50.0).fit(X)
    with pytest.raises(ValueError, match="strictly increasing"):
        SpectralAutoencoder(2, wavelength=wavelength[::-1], virtual_rv=50.0).fit(X)
    with pytest.raises(ValueError, match="low < high"):
        SpectralAutoencoder(2, wavelength=wavelength, virtual_rv=(30.0, -30.0)).fit(X)


def test_only_pair_trained_models_have_a_velocity_latent():
    X, _, _, wavelength = _one_line_stars(20, 0)
    ae = SpectralAutoencoder(2, wavelength=wavelength, max_epochs=1, random_state=0).fit(X)
    assert ae.velocity_latent_ is None and ae.velocity_scale_ is None
    skewed = SpectralAutoencoder(
        2, wavelength=wavelength, virtual_rv=(-20.0, 40.0), max_epochs=1, random_state=0
    ).fit(X)
    assert skewed.velocity_latent_ == 0 and skewed.velocity_scale_ == 40.0
