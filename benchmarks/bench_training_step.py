"""Where a dense decoder's training step goes at the whole HARPS range, and two savings.

At 17,884 pixels (3800-6900 A at 10 km/s) ``architecture="dense"`` with a
velocity latent draws 4 sub-pixels per pixel: its last layer has 256 x
71,536 weights and the Doppler shift moves 71,536 values per spectrum.
Measured side by side in one run, interleaved, medians of ``--repeats``:

1. **Doppler shift**, forward and backward, of ``--batch`` drawings of
   71,536 sub-pixels: ``doppler_shift`` (``skspecrep._nn``) on its uniform
   grid (one whole-pixel offset and one fraction per spectrum) against the
   previous uniform path, kept here as ``per_pixel_shift`` (a float64
   position per pixel, floored and clamped), with equal outputs checked.
2. **Adam step** on the dense decoder's parameters: ``fused=True``
   against torch's default (``foreach``), both with the decoupled decay of
   the package. The package keeps the default: a whole-range fit without
   the decay diverged with fused Adam and not without it
   (``real_spectra.py``, session 4).

A whole training step of this network takes about 0.5 s on 2 cores
(``real_spectra.py``, session 3): the shift's saving is a few percent of it.

Usage::

    python benchmarks/bench_training_step.py [--batch 64] [--repeats 7]

Record (issue 21; 2026-12-01, 2 CPU cores, torch 2.13 CPU, defaults, alone)
----------------------------------------------------------------------------
Three runs. The first two also timed a whole step inside repeated
one-epoch fits (0.588 and 0.598 s, most of it each fit's fixed costs, so
that part was dropped; the first run's other lines were not kept)::

    run 2  Doppler shift, fwd + bwd: 49.1 ms against 87.5 ms per pixel, 1.78x
           Adam step on 18,384,752 weights: fused 9.9 ms against 70.2 ms, 7.10x
    run 3  Doppler shift, fwd + bwd: 65.0 ms against 83.7 ms per pixel, 1.29x
           Adam step on 18,384,752 weights: fused 10.5 ms against 73.7 ms, 7.03x
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from skspecrep._nn import doppler_shift

C_KMS = 299_792.458
N_PIXELS = 17_884
OVERSAMPLE = 4
HIDDEN = 256


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64, help="spectra per step, pairs included")
    p.add_argument("--repeats", type=int, default=7)
    return p.parse_args(argv)


def per_pixel_shift(x, velocity, log_wavelength):
    """The previous uniform-grid shift: a float64 source position per pixel."""
    n = log_wavelength.shape[0]
    grid = log_wavelength.to(torch.float64)
    step = (grid[-1] - grid[0]).item() / (n - 1)
    log_shift = torch.log1p(velocity.to(torch.float64) / C_KMS)[:, None]
    position = torch.arange(n, dtype=torch.float64) - log_shift / step
    left = position.floor().clamp(0, n - 2)
    frac = (position - left).to(x.dtype)
    left = left.long()
    inside = (position >= 0) & (position <= n - 1)
    value = torch.lerp(x.gather(1, left), x.gather(1, left + 1), frac)
    return torch.where(inside, value, torch.zeros((), dtype=x.dtype))


def interleave(named, repeats):
    """Median seconds of each function, timed in turns."""
    times = {name: [] for name in named}
    for fn in named.values():
        fn()
    for _ in range(repeats):
        for name, fn in named.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def doppler(args):
    fine = N_PIXELS * OVERSAMPLE
    step = math.log1p(10.0 / C_KMS) / OVERSAMPLE
    log_wave = math.log(3800.0) + step * torch.arange(fine, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, fine, generator=gen, requires_grad=True)
    velocity = 40.0 * (2 * torch.rand(args.batch, generator=gen) - 1)
    new = doppler_shift(x, velocity, log_wave)[0]
    old = per_pixel_shift(x, velocity, log_wave)
    assert torch.equal(new, old), "the two shifts differ"

    def run(shift):
        def go():
            x.grad = None
            out = shift(x, velocity, log_wave)
            out = out[0] if isinstance(out, tuple) else out
            out.sum().backward()

        return go

    return interleave(
        {"doppler_shift": run(doppler_shift), "per_pixel_shift": run(per_pixel_shift)},
        args.repeats,
    )


def adam(args):
    gen = torch.Generator().manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(N_PIXELS * OVERSAMPLE, HIDDEN, generator=gen))
    bias = torch.nn.Parameter(torch.randn(N_PIXELS * OVERSAMPLE, generator=gen))
    weight.grad, bias.grad = torch.randn_like(weight), torch.randn_like(bias)
    settings = dict(lr=1e-3, weight_decay=1.0, decoupled_weight_decay=True)
    fused = torch.optim.Adam([weight, bias], fused=True, **settings)
    default = torch.optim.Adam([weight, bias], **settings)
    return interleave({"fused": fused.step, "default": default.step}, args.repeats)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    shift = doppler(args)
    print(
        f"Doppler shift of {args.batch} x {N_PIXELS * OVERSAMPLE:,} sub-pixels, fwd + bwd: "
        f"{shift['doppler_shift'] * 1e3:.1f} ms against {shift['per_pixel_shift'] * 1e3:.1f} ms "
        f"per pixel, ratio {shift['per_pixel_shift'] / shift['doppler_shift']:.2f}x"
    )
    step = adam(args)
    print(
        f"Adam step on {N_PIXELS * OVERSAMPLE * (HIDDEN + 1):,} weights: fused "
        f"{step['fused'] * 1e3:.1f} ms against {step['default'] * 1e3:.1f} ms, "
        f"ratio {step['default'] / step['fused']:.2f}x"
    )


if __name__ == "__main__":
    main()
