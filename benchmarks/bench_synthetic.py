"""Speed of make_stellar_spectra against the issue's target.

Target: 10,000 spectra x 8,192 pixels in under 30 s on 2 cores. Prints the
time and its ratio to the target. Run: ``python benchmarks/bench_synthetic.py``.
"""

import time

from skspecrep.datasets import make_stellar_spectra

TARGET_S = 30.0


def main():
    make_stellar_spectra(10, n_pixels=8192, random_state=0)  # warm up imports and caches
    start = time.perf_counter()
    X, _, _ = make_stellar_spectra(10_000, n_pixels=8192, random_state=0)
    seconds = time.perf_counter() - start
    print(
        f"make_stellar_spectra 10,000 x 8,192: {seconds:.1f} s "
        f"({X.shape[0] / seconds:,.0f} spectra/s); target {TARGET_S:.0f} s, "
        f"{TARGET_S / seconds:.1f}x faster than the target"
    )


if __name__ == "__main__":
    main()
