"""The torch-only layer: architectures, the VAE module, the loss."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from skspecrep._nn import (
    SEDAGHAT2021_N_FEATURES,
    BetaVAELoss,
    ConvSpec,
    ConvVAE,
    auto_spec,
    decorrelation_penalty,
    dense_spec,
    kl_per_latent,
    kl_weight,
    sedaghat2021_spec,
)
from skspecrep._nn._vae import _single_channel_conv


def test_sedaghat2021_layer_table_and_parameter_count():
    model = ConvVAE(SEDAGHAT2021_N_FEATURES, 128, sedaghat2021_spec())
    assert sum(p.numel() for p in model.parameters()) == 7_046_997

    enc = list(model.encoder)
    assert len(enc) == 15
    assert [c.out_channels for c in enc] == [
        16,
        16,
        16,
        32,
        32,
        32,
        64,
        64,
        64,
        128,
        128,
        128,
        256,
        512,
        512,
    ]
    assert [c.kernel_size[0] for c in enc] == [7, 5, 5] + [3] * 12
    assert [c.stride[0] for c in enc] == [2] * 14 + [1]
    assert [c.padding[0] for c in enc] == [(c.kernel_size[0] - 1) // 2 for c in enc]
    assert model.code_channels * model.code_length == 10_240
    assert (model.fc_mu.in_features, model.fc_mu.out_features) == (10_240, 128)
    assert (model.fc_log_var.in_features, model.fc_log_var.out_features) == (10_240, 128)
    assert (model.fc_decode.in_features, model.fc_decode.out_features) == (128, 10_240)

    dec = list(model.decoder)
    assert all(isinstance(d, nn.ConvTranspose1d) for d in dec)
    first, rest = dec[0], dec[1:]
    assert (first.in_channels, first.out_channels) == (512, 512)
    assert (first.kernel_size[0], first.stride[0], first.padding[0]) == (3, 1, 1)
    assert [d.out_channels for d in rest] == [
        256,
        128,
        128,
        128,
        64,
        64,
        64,
        32,
        32,
        32,
        16,
        16,
        16,
        1,
    ]
    assert all((d.kernel_size[0], d.stride[0], d.padding[0]) == (4, 2, 1) for d in rest)
    out = model.output_conv
    assert (out.in_channels, out.out_channels, out.kernel_size[0], out.padding[0]) == (1, 1, 3, 1)

    with torch.inference_mode():
        x = torch.randn(1, SEDAGHAT2021_N_FEATURES)
        assert model._features(x).shape == (1, 10_240)
        recon, mu, log_var = model.eval()(x)
    assert recon.shape == (1, SEDAGHAT2021_N_FEATURES)
    assert mu.shape == log_var.shape == (1, 128)


@pytest.mark.parametrize(
    "n_features, n_down", [(1, 0), (32, 0), (33, 1), (1000, 5), (4096, 7), (327_680, 14)]
)
def test_auto_spec_depth(n_features, n_down):
    spec = auto_spec(n_features)
    assert spec.strides == (2,) * n_down + (1,)
    model = ConvVAE(n_features, 3, spec)
    assert model.code_length <= 32 or n_down == 14


@settings(max_examples=25, deadline=None)
@given(n_features=st.integers(1, 3000), n_components=st.integers(1, 8), batch=st.integers(1, 3))
def test_any_length_round_trips_in_shape(n_features, n_components, batch):
    model = ConvVAE(n_features, n_components, auto_spec(n_features, max_channels=32)).eval()
    with torch.inference_mode():
        recon, mu, log_var = model(torch.randn(batch, n_features))
    assert recon.shape == (batch, n_features)
    assert mu.shape == log_var.shape == (batch, n_components)


@settings(deadline=None, max_examples=30)
@given(
    batch=st.integers(1, 3),
    length=st.integers(1, 200),
    half_width=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_single_channel_conv_equals_conv1d_and_its_gradients(batch, length, half_width, seed):
    # The decoder's last layer is computed as shifted multiply-adds for speed;
    # values and all three gradients must be Conv1d's own.
    torch.manual_seed(seed)
    k = 2 * half_width + 1
    conv = nn.Conv1d(1, 1, k, padding=half_width)
    h = torch.randn(batch, 1, length, requires_grad=True)
    grad_out = torch.randn(batch, 1, length)
    expected = conv(h)
    got = _single_channel_conv(h, conv)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected)
    wanted = torch.autograd.grad(expected, (h, conv.weight, conv.bias), grad_out)
    found = torch.autograd.grad(got, (h, conv.weight, conv.bias), grad_out)
    for a, b in zip(found, wanted):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n_features, stride", [(64, 2), (30, 3), (40, 4), (9, 1)])
def test_the_decoder_is_its_layer_modules_composed(n_features, stride):
    # decode runs the ConvTranspose1d weights as channels-last 2-D
    # convolutions for speed; values and gradients must be the modules' own.
    spec = ConvSpec(channels=(4, 8), kernel_sizes=(3, 3), strides=(stride, 1))
    torch.manual_seed(0)
    model = ConvVAE(n_features, 3, spec)
    z = torch.randn(5, 3, requires_grad=True)

    def by_modules(z):
        h = model.fc_decode(z).view(-1, model.code_channels, model.code_length)
        for deconv in model.decoder:
            h = F.leaky_relu(deconv(h), model.negative_slope)
        h = model.output_conv(h)
        return h[:, 0, :n_features] * model.scale + model.offset

    expected, got = by_modules(z), model.decode(z)
    torch.testing.assert_close(got, expected)
    grad_out = torch.randn_like(expected)
    params = [z, *model.parameters()]
    wanted = torch.autograd.grad(expected, params, grad_out, allow_unused=True)
    found = torch.autograd.grad(got, params, grad_out, allow_unused=True)
    for a, b in zip(found, wanted):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "n_features, oversample",
    [
        (64, 4), (6_450, 4), (6_451, 3), (12_898, 2), (17_884, 2), (100_000, 2),
        (131_072, 2), (131_073, 1), (327_680, 1),
    ],  # fmt: skip
)
def test_dense_spec_is_auto_s_encoder_with_a_dense_decoder_of_bounded_sub_pixels(
    n_features, oversample
):
    spec = dense_spec(n_features)
    assert spec.decoder == "dense" and spec.oversample == oversample
    auto = auto_spec(n_features)
    assert auto.decoder == "conv"
    assert (spec.channels, spec.kernel_sizes, spec.strides) == (
        auto.channels, auto.kernel_sizes, auto.strides
    )
    assert ConvSpec.from_mapping(spec.to_dict()) == spec


def test_a_table_without_a_decoder_is_the_conv_decoder_of_earlier_files():
    table = {"channels": [8], "kernel_sizes": [3], "strides": [1]}
    spec = ConvSpec.from_mapping(table)
    assert (spec.decoder, spec.oversample) == ("conv", 1)
    # Written back as before, so earlier checkpoints' fingerprints still match.
    assert spec.to_dict() == table


def test_the_decoder_computes_its_last_layer_by_shifts():
    # Conv1d's own kernel cost a fifth of a training step on the paper's
    # network; this guards the faster path against a silent return to it.
    model = ConvVAE(64, 2, auto_spec(64))
    calls = []
    model.output_conv.register_forward_hook(lambda *args: calls.append(1))
    recon = model.decode(torch.zeros(3, 2))
    assert recon.shape == (3, 64) and calls == []


@pytest.mark.parametrize(
    "spec, match",
    [
        (dict(channels=(8, 8), kernel_sizes=(3,), strides=(2, 1)), "same length"),
        (dict(channels=(8,), kernel_sizes=(4,), strides=(1,)), "odd"),
        (dict(channels=(0,), kernel_sizes=(3,), strides=(1,)), "positive"),
        (dict(channels=(), kernel_sizes=(), strides=()), "at least one layer"),
        (dict(channels=(8,), kernel_sizes=(3,), strides=(1,), decoder="mlp"), "decoder"),
        (dict(channels=(8,), kernel_sizes=(3,), strides=(1,), oversample=0), "oversample"),
    ],
)
def test_conv_spec_rejects_bad_tables(spec, match):
    with pytest.raises(ValueError, match=match):
        ConvSpec(**spec)


def test_conv_spec_from_mapping_names_missing_keys():
    with pytest.raises(ValueError, match="missing \\['strides'\\]"):
        ConvSpec.from_mapping({"channels": [8], "kernel_sizes": [3]})


@pytest.mark.parametrize("stride", [1, 2, 3, 4])
def test_user_strides_mirror_exactly(stride):
    spec = ConvSpec(channels=(4, 8), kernel_sizes=(5, 3), strides=(stride, 1))
    model = ConvVAE(50, 2, spec)
    recon, _, _ = model.eval()(torch.randn(2, 50))
    assert recon.shape == (2, 50)


def test_kl_per_latent_matches_closed_form():
    mu = torch.tensor([[0.0, 1.0, 0.0]])
    log_var = torch.tensor([[0.0, 0.0, np.log(4.0)]])
    # KL(N(m, s^2) || N(0, 1)) = 0.5 (s^2 + m^2 - 1 - ln s^2)
    expected = [0.0, 0.5, 0.5 * (4 - 1 - np.log(4))]
    np.testing.assert_allclose(kl_per_latent(mu, log_var)[0].numpy(), expected, rtol=1e-6)


def test_decorrelation_penalty_is_the_squared_correlations_of_different_latents():
    rng = np.random.RandomState(0)
    a, b = rng.normal(0, 3, 2000), rng.normal(0, 3, 2000)
    mu = torch.tensor(np.column_stack([a, a, -a, b]), dtype=torch.float32)
    # Three copies of one latent: 6 ordered pairs with correlation +-v/(v+eps); b is apart.
    v = np.var(a, ddof=1)
    expected = 6 * (v / (v + 1e-2)) ** 2 + 6 * np.corrcoef(a, b)[0, 1] ** 2
    assert float(decorrelation_penalty(mu)) == pytest.approx(expected, rel=1e-3)
    # Independent latents: only sampling noise, about 6 / n for 3 latents.
    values = rng.normal(size=(20000, 3))
    c = np.cov(values, rowvar=False)
    r = c / np.sqrt(np.outer(np.diag(c) + 1e-2, np.diag(c) + 1e-2))
    reference = (r**2).sum() - (np.diag(r) ** 2).sum()
    independent = decorrelation_penalty(torch.tensor(values, dtype=torch.float32))
    assert float(independent) == pytest.approx(reference, rel=1e-3) and reference < 2e-3
    # A collapsed latent (constant mean) correlates with nothing.
    collapsed = torch.tensor(np.column_stack([a, np.full_like(a, 0.3)]), dtype=torch.float32)
    assert float(decorrelation_penalty(collapsed)) == pytest.approx(0.0, abs=1e-9)
    assert float(decorrelation_penalty(mu[:2])) == 0.0


def test_kl_weight_schedule():
    assert kl_weight(0.5, 0.3, (1.0, 3.0)) == 0.0
    assert kl_weight(2.0, 0.3, (1.0, 3.0)) == pytest.approx(0.15)
    assert kl_weight(3.0, 0.3, (1.0, 3.0)) == 0.3
    assert kl_weight(10.0, 0.3, (1.0, 3.0)) == 0.3
    assert kl_weight(0.0, 0.3, (0.0, 0.0)) == 0.3


def _pred(x_hat, k=2):
    zeros = torch.zeros(x_hat.shape[0], k)
    return x_hat, zeros, zeros


@pytest.mark.parametrize("kind", ["l1", "mse", "chi2"])
def test_reconstruction_error_is_weighted_mean(kind):
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    x_hat = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    ivar = torch.tensor([[1.0, 0.5, 2.0, 1.0]])
    weight = torch.tensor([1.0, 1.0, 0.0, 2.0])
    loss = BetaVAELoss(kind, weight)
    r = {"l1": [1, 2, 3, 4], "mse": [1, 4, 9, 16], "chi2": [1, 2, 18, 16]}[kind]
    expected = (1 * r[0] + 1 * r[1] + 2 * r[3]) / 4.0
    got = loss(_pred(x_hat), x, ivar if kind == "chi2" else None, weight=0.0)
    assert got.item() == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(
    masked_values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=3, max_size=3
    ),
    kind=st.sampled_from(["l1", "mse", "chi2"]),
)
def test_masked_pixels_cannot_change_the_loss(masked_values, kind):
    weight = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    x = torch.tensor([[1.0, 9.0, 0.5, 9.0, 9.0, 2.0]])
    x_hat = torch.tensor([[0.9, 0.0, 0.7, 0.0, 0.0, 1.5]])
    ivar = torch.ones_like(x)
    loss = BetaVAELoss(kind, weight)
    base = loss(_pred(x_hat), x, ivar, weight=1.0)
    x2 = x.clone()
    x2[0, [1, 3, 4]] = torch.tensor(masked_values)
    assert loss(_pred(x_hat), x2, ivar, weight=1.0).item() == base.item()


def test_masked_pixels_cannot_change_the_code():
    mask = torch.ones(40)
    mask[10:20] = 0
    model = ConvVAE(40, 3, auto_spec(40), pixel_mask=mask).eval()
    x = torch.randn(2, 40)
    x2 = x.clone()
    x2[:, 10:20] = 1e6
    with torch.inference_mode():
        assert torch.equal(model.encode(x)[0], model.encode(x2)[0])
