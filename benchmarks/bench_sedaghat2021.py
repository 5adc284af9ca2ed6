"""SpectralAutoencoder(architecture="sedaghat2021") against a plain PyTorch loop.

The reference is an independent, literal definition of the paper's network
(../shared/PAPER.md, "Network (exact)") in ``torch.nn.Sequential``, trained
and evaluated by the loops a PyTorch user would write: Adam steps on the
masked-L1 + beta * KL objective, and ``torch.no_grad()`` encoding at the same
batch size. Before timing, the script copies our weights into the reference
and checks that both give the same codes, so both sides compute the same
function.

Timings are interleaved (ours, reference, ours, ...) so that drift of the
machine affects both alike; rates are medians of the repeats, ratios the
median of each repeat's paired ratio, with their range.

Targets (issue 2): transform >= 2x the reference's spectra/s; training >= 1.0x.

Usage::

    python benchmarks/bench_sedaghat2021.py [--n-spectra 64] [--batch-size 32]
        [--repeats 3] [--device cpu]

Measured on a 2-core machine like CI's (AMD EPYC, torch 2.13 CPU), defaults,
7 repeats (2026-11-22, with both decoder changes below): transform 73 vs 26
spectra/s, ratio 2.97x (repeats 2.16-4.03); training 8.6 vs 2.7 spectra/s,
3.29x (2.77-3.94); against a bare no_grad loop at batch 1, 0.90x (0.60-1.07).
The machine's speed wandered by up to 1.8x between repeats of that run, and
a run an hour earlier gave 3.1x and 3.95x; earlier days' records were 4.2x
and 3.5x. The evidence for each change below is therefore an A/B run: the
code before and after, alternated three times in one session. Warmed up and
alternated, ``transform`` and a bare loop over the fitted module both take
9.8 ms per spectrum, so validation, centring and the copy out cost nothing
measurable.

Real-shape training (issue 13, 2026-11-29). A fit on 300 HARPS-layout
spectra (masked, 12 epochs) had run at 3.9 spectra/s against the 8.6 this
benchmark recorded: measured side by side, the gap is the machine's speed on
different days, not the spectra. In one session, 64 spectra, 2 epochs each,
run one after another: smooth random spectra unmasked 4.58/4.72 spectra/s
per epoch, HARPS-layout masked 4.61/4.86, HARPS-layout unmasked 4.50/5.43,
random masked 5.09/4.83. 300 HARPS-layout spectra, masked, default lr and
beta, 4 epochs: 4.76, 4.75, 5.02 spectra/s per epoch (a fourth, 3.51, ran
while tests shared the machine) and 4.14 over the whole fit; with
``torch.set_flush_denormal(True)`` 4.44, 4.67, 4.29, 3.93 and 4.10, so
denormal floats play no part. This benchmark, the same day, 3 repeats:
transform 46.7 vs 16.7 spectra/s (2.79x, repeats 2.58-3.04), fit 3.54 vs
1.63 (2.21x, 2.17-2.58), the HARPS-layout arm 3.37 spectra/s, 0.94x the
random spectra (0.78-0.97); outside the epoch a fit spends 2.1-2.4 s (data
statistics, set-up, the KL pass) of 18-19 s. The benchmark now runs that
HARPS-layout arm itself, so the number users see is measured next to the
others. A/B of the new training core against the code before it (64
spectra, 1 epoch, alternated 4 times): fit 1.01x (0.91-1.12), transform
0.99x (0.82-1.13): unchanged.

History. Before micro-batching, training was 0.97-1.07x and transform level
with the reference at batch 1. What was tried: channels-last 2-D
convolutions (no gain once chunks fit in cache), the first layer as a
strided-window matmul (no gain), in-place LeakyReLU (same gradients; helped
training ~10%), and cache-sized micro-batches (the 3-4x gains above).

Profile of one training step at micro-batch 1 (torch.profiler), and what
came of it:

- The decoder's final one-channel three-tap Conv1d took ~28 ms
  forward+backward of a ~100 ms step in PyTorch's convolution kernel; as
  three shifted multiply-adds it takes ~1 ms. A/B: fit 5.8 -> 6.9 spectra/s.
- ConvTranspose1d on CPU computes in the channels-first layout and copies;
  the same weights as channels-last 2-D transposed convolutions run 2-4x
  faster. A/B: fit 7.6 -> 9.3 spectra/s, inverse_transform 54 -> 85.
- Tried and left out, measured in context: the first layer as im2col +
  baddbmm (10x faster alone, no gain inside the network); stride-2
  transposed convolutions as one regular convolution with zero taps, or two
  interleaved ones (slower); the last transposed convolution as a matmul
  plus overlap-add (no consistent gain); the encoder in channels-last (no
  gain, forward or training); computing the first 3-4 encoder layers tile
  by tile along the spectrum for inference (exact, and 2x faster while
  other work loaded the machine's memory bandwidth, but equal on an idle
  machine); two encoding threads of one torch thread each (no gain).
- Both together, A/B against the code before either (32 spectra, three
  alternations, medians): fit 6.7 -> 10.3 spectra/s, inverse_transform
  52 -> 94 spectra/s.
- What remains is the convolutions themselves (~65% of a step) and layout
  copies that PyTorch makes inside the encoder's convolution backward
  (~8%).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from skspecrep import SpectralAutoencoder, harps_pixel_mask, harps_wavelength
from skspecrep.datasets import make_stellar_spectra

N_PIXELS = 327_680
N_LATENT = 128


class ReferenceNet(nn.Module):
    """The paper's network written out literally, layer by layer."""

    def __init__(self):
        super().__init__()
        act = lambda: nn.LeakyReLU(0.1)  # noqa: E731
        enc_channels = [1, 16, 16, 16, 32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 512, 512]
        kernels = [7, 5, 5] + [3] * 12
        strides = [2] * 14 + [1]
        layers = []
        for i in range(15):
            k = kernels[i]
            layers += [
                nn.Conv1d(enc_channels[i], enc_channels[i + 1], k, strides[i], (k - 1) // 2),
                act(),
            ]
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.mu = nn.Linear(10_240, N_LATENT)
        self.log_var = nn.Linear(10_240, N_LATENT)
        self.fc = nn.Linear(N_LATENT, 10_240)
        dec = [nn.ConvTranspose1d(512, 512, 3, 1, 1), act()]
        chans = [512, 256, 128, 128, 128, 64, 64, 64, 32, 32, 32, 16, 16, 16, 1]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            dec += [nn.ConvTranspose1d(c_in, c_out, 4, 2, 1), act()]
        self.decoder = nn.Sequential(*dec, nn.Conv1d(1, 1, 3, 1, 1))

    def forward(self, x):
        h = self.encoder(x.unsqueeze(1))
        mu, log_var = self.mu(h), self.log_var(h)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        return self.decoder(self.fc(z).view(-1, 512, 20)).squeeze(1), mu, log_var


def reference_loss(x, out, beta):
    recon, mu, log_var = out
    kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp())
    return (recon - x).abs().mean(dim=1).mean() + beta * kl.sum(dim=1).mean()


def load_our_weights(ref: ReferenceNet, ours: torch.nn.Module) -> None:
    """Copy the fitted module's weights into the reference, layer by layer."""
    src = [m for m in ours.encoder] + [ours.fc_mu, ours.fc_log_var, ours.fc_decode]
    src += list(ours.decoder) + [ours.output_conv]
    dst = [m for m in ref.encoder if isinstance(m, nn.Conv1d)]
    dst += [ref.mu, ref.log_var, ref.fc]
    dst += [m for m in ref.decoder if isinstance(m, (nn.ConvTranspose1d, nn.Conv1d))]
    assert len(src) == len(dst)
    with torch.no_grad():
        for a, b in zip(src, dst):
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)


def harps_layout_spectra(n: int) -> np.ndarray:
    """Spectra laid out as real HARPS ones after the paper's preprocessing.

    Synthetic stars (lines, continuum, noise) on the 3785-6910 A grid, zero
    on the pads and the CCD gap that ``harps_pixel_mask`` masks: what users
    train on, where the timing arms above use smooth random spectra.
    """
    wave = harps_wavelength()
    mask = harps_pixel_mask()
    flux, _, grid = make_stellar_spectra(
        n, n_pixels=131_072, wavelength_range=(3785.0, 6910.0), random_state=0
    )
    inside = (wave >= 3785.0) & (wave <= 6910.0)
    X = np.zeros((n, N_PIXELS), dtype=np.float32)
    for i in range(n):
        X[i, inside] = np.interp(wave[inside], grid, flux[i])
    X[:, mask == 0] = 0.0
    return X


def time_it(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-spectra", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    n, bs, device = args.n_spectra, args.batch_size, args.device

    rng = np.random.RandomState(0)
    X = (1 + 0.05 * rng.standard_normal((n, N_PIXELS))).astype(np.float32)
    beta = 0.3 / N_LATENT
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"{n} spectra x {N_PIXELS:,} pixels, batch size {bs}, {args.repeats} repeats\n")

    def make_ours(pixel_mask=None):
        return SpectralAutoencoder(
            N_LATENT,
            architecture="sedaghat2021",
            pixel_mask=pixel_mask,
            beta=beta,
            kl_warmup=(0, 0),
            max_epochs=1,
            batch_size=bs,
            lr=1e-4,
            device=device,
            random_state=0,
        )

    ours = make_ours().fit(X[:2])
    ref = ReferenceNet().to(device)
    load_our_weights(ref, ours.net_.module_)
    ref.eval()
    x_check = torch.from_numpy(X[:2] - ours.mean_).to(device)
    with torch.no_grad():
        ref_codes = ref.mu(ref.encoder(x_check.unsqueeze(1))).cpu().numpy()
    # The estimator subtracts its training mean before encoding; the reference
    # is fed the centred spectra, so both compute the same function.
    np.testing.assert_allclose(ours.transform(X[:2]), ref_codes, rtol=1e-4, atol=1e-5)
    print("check: reference and SpectralAutoencoder give the same codes\n")

    Xt = torch.from_numpy(X)

    def ref_transform(batch_size):
        ref.eval()
        with torch.no_grad():
            for i in range(0, n, batch_size):
                x = Xt[i : i + batch_size].to(device)
                ref.mu(ref.encoder(x.unsqueeze(1))).cpu()

    def ref_train():
        ref.train()
        opt = torch.optim.Adam(ref.parameters(), lr=1e-4)
        order = torch.randperm(n)
        for i in range(0, n, bs):
            x = Xt[order[i : i + bs]].to(device)
            opt.zero_grad()
            loss = reference_loss(x, ref(x), beta)
            loss.backward()
            opt.step()
            loss.item()

    X_real = harps_layout_spectra(n)
    mask = harps_pixel_mask()
    epoch_seconds = {"ours_fit": [], "ours_fit_real": []}

    def fit_and_record(name, spectra, pixel_mask=None):
        ae = make_ours(pixel_mask).fit(spectra)
        epoch_seconds[name].append(sum(ae.history_[:, "dur"]))

    timings = {
        k: []
        for k in (
            "ours_transform",
            "ref_transform",
            "ref_transform_bs1",
            "ours_fit",
            "ref_train",
            "ours_fit_real",
        )
    }
    ref_transform(bs)
    ours.transform(X[:4])
    for r in range(args.repeats):
        pairs = [
            ("ours_transform", lambda: ours.transform(X)),
            ("ref_transform", lambda: ref_transform(bs)),
            ("ref_transform_bs1", lambda: ref_transform(1)),
            ("ours_fit", lambda: fit_and_record("ours_fit", X)),
            ("ref_train", ref_train),
            ("ours_fit_real", lambda: fit_and_record("ours_fit_real", X_real, mask)),
        ]
        if r % 2:
            pairs = pairs[::-1]
        for name, fn in pairs:
            timings[name].append(time_it(fn))
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in timings.items()))

    med = {k: statistics.median(v) for k, v in timings.items()}
    rate = {k: n / v for k, v in med.items()}
    print("\nspectra per second (median of repeats)")
    for k, v in rate.items():
        print(f"  {k:<20} {v:8.2f}")

    def ratio(ours: str, ref: str) -> str:
        # Each repeat timed both sides back to back, so its ratio is taken
        # under one machine state; the median of those ratios is steadier
        # than a ratio of medians when the machine's speed drifts.
        per_repeat = [r / o for o, r in zip(timings[ours], timings[ref])]
        return (
            f"{statistics.median(per_repeat):.2f}x "
            f"(repeats {min(per_repeat):.2f}-{max(per_repeat):.2f})"
        )

    print("\nratios (ours / plain PyTorch), median of the repeats' paired ratios")
    print(
        f"  transform vs no_grad loop at batch {bs}: "
        f"{ratio('ours_transform', 'ref_transform')}  (target >= 2)"
    )
    print(
        f"  transform vs no_grad loop at batch 1:  "
        f"{ratio('ours_transform', 'ref_transform_bs1')}  (the reference's best batch)"
    )
    print(
        f"  training (fit, 1 epoch, incl. post-fit KL pass) vs Adam loop: "
        f"{ratio('ours_fit', 'ref_train')}  (target >= 1.0)"
    )
    real = [b / r for b, r in zip(timings["ours_fit"], timings["ours_fit_real"])]
    print(
        f"  fit on HARPS-layout spectra, masked, vs fit above: "
        f"{statistics.median(real):.2f}x (repeats {min(real):.2f}-{max(real):.2f})"
        "  (what users run; expected ~1)"
    )
    print("\nwhere a fit's time goes (median seconds; the epoch from skorch's own timing)")
    for name in ("ours_fit", "ours_fit_real"):
        whole, epoch = statistics.median(timings[name]), statistics.median(epoch_seconds[name])
        print(
            f"  {name:<14} whole fit {whole:6.2f}  epoch {epoch:6.2f} ({n / epoch:.2f} spectra/s)"
            f"  outside the epoch {whole - epoch:5.2f} (data statistics, set-up, KL pass)"
        )


if __name__ == "__main__":
    main()
