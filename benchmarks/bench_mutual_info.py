"""Paper-scale mutual-information tables: vectorised histogram and KSG.

1. The full histogram MI table of Sedaghat et al. (2021) scale: 270,000 rows x
   128 latents x 8 labels x 6 binnings (5 to 160 bins), with
   ``mutual_info_histogram``, against the per-pair ``numpy.histogram2d``
   loop. The loop over all 6,144 histograms would take minutes, so it runs on
   ``--loop-pairs`` latent x label pairs (all 6 binnings each) and its time is
   scaled to the full table; the values of those pairs must be identical.
2. KSG at 270,000 rows: ``mutual_info_ksg`` against
   ``sklearn.feature_selection.mutual_info_regression`` on the same pairs,
   same value (equal accuracy), timed side by side.

Targets (issue 3): the full table in under 10 s on 2 cores and at least 20x
faster than the loop with identical values; KSG faster than scikit-learn.

Usage::

    python benchmarks/bench_mutual_info.py [--rows 270000] [--loop-pairs 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.feature_selection import mutual_info_regression

from skspecrep import mutual_info_histogram, mutual_info_ksg
from skspecrep._mutual_info import PAPER_BINS


def loop_table(Z, Y, pairs, bins):
    out = {}
    for k, m in pairs:
        for b, n_bins in enumerate(bins):
            counts, _, _ = np.histogram2d(Z[:, k], Y[:, m], bins=n_bins)
            p = counts / counts.sum()
            px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
            nz = p > 0
            out[b, k, m] = (p[nz] * np.log(p[nz] / (px @ py)[nz])).sum()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=270_000)
    parser.add_argument("--latents", type=int, default=128)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--loop-pairs", type=int, default=8)
    parser.add_argument("--ksg-pairs", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    n, K, M = args.rows, args.latents, args.labels
    Z = rng.normal(size=(n, K))
    Y = np.column_stack([Z[:, m % K] + (m + 1) * 0.3 * rng.normal(size=n) for m in range(M)])
    bins = list(PAPER_BINS)
    print(f"{n:,} rows x {K} latents x {M} labels x {len(bins)} binnings {bins}\n")

    start = time.perf_counter()
    table = mutual_info_histogram(Z, Y, bins)
    t_vec = time.perf_counter() - start

    pairs = [(k, m) for k, m in zip(rng.choice(K, args.loop_pairs), rng.choice(M, args.loop_pairs))]
    start = time.perf_counter()
    reference = loop_table(Z, Y, pairs, bins)
    t_loop_pairs = time.perf_counter() - start
    t_loop = t_loop_pairs * (K * M) / len(pairs)
    worst = max(abs(table[key] - value) for key, value in reference.items())

    print("Histogram MI table")
    print(f"  mutual_info_histogram, full table     {t_vec:8.2f} s   (target < 10 s)")
    print(
        f"  histogram2d loop, {len(pairs)} pairs x {len(bins)} bins {t_loop_pairs:8.2f} s"
        f" -> full table ~{t_loop:.0f} s"
    )
    print(f"  speed-up                              {t_loop / t_vec:8.1f}x  (target >= 20x)")
    print(f"  largest difference on looped pairs    {worst:.2e} nats\n")

    print(f"KSG (k=3) at {n:,} rows, one latent x label pair at a time")
    for k in range(args.ksg_pairs):
        x, y = Z[:, k], Y[:, k]
        start = time.perf_counter()
        ours = mutual_info_ksg(x, y)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        theirs = mutual_info_regression(x[:, None], y, n_neighbors=3, random_state=0)[0]
        t_theirs = time.perf_counter() - start
        print(
            f"  pair {k}: ours {ours:.6f} nats in {t_ours:.2f} s; scikit-learn {theirs:.6f} "
            f"in {t_theirs:.2f} s; {t_theirs / t_ours:.1f}x faster, |diff| {abs(ours - theirs):.1e}"
        )


if __name__ == "__main__":
    main()
