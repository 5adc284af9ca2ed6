"""Does ``score_samples`` find known anomalies among held-out spectra, against PCA baselines?

For each data set and seed, a :class:`~skspecrep.SpectralAutoencoder` (16
latents, Doppler pairs at 60 km/s, every other parameter at its default but
the architecture named below) is trained on clean spectra. Then 1,000 clean
held-out spectra are joined, for each anomaly type in turn, by 10 held-out
spectra (1 %) given that anomaly:

- ``emission``: one Gaussian emission line, 0.3-1.0 of the continuum high
  and 1-3 pixels wide (sigma), at a random pixel;
- ``binary``: a second spectrum of the archive added at 0.3-0.7 of the
  first's flux, 30-100 km/s away (a double-lined binary);
- ``cosmic``: 1-3 spikes of 0.5-3 times the continuum, 1-2 pixels wide;
- ``continuum``: a bad normalisation, every pixel past a random one
  scaled by 1 +- (0.1-0.3) (an order merged at the wrong level);
- ``other_type``: a star unlike any in training (synthetic: Teff
  7,000-8,000 K where training has 4,500-6,500 K; real: the third
  template, the G dwarf HD 41248, where training has the giant and the M
  dwarf);
- ``bad_pixels``: 5-20 consecutive pixels set to 0 (a dead column).

Printed per type: AUROC and precision among the 10 lowest scores, for
``score_samples``, for PCA's reconstruction error (as many components,
fitted on the same training spectra) and for an ``IsolationForest`` on the
PCA coefficients; then the median and worst over seeds, and the share of
clean held-out spectra that
``SpectrumOutlierDetector(contamination="auto")`` flags; and
``score_samples``' time against ``transform``'s on the same spectra,
alternated, best of three.

Data sets (``--datasets``): ``synthetic`` (:func:`make_stellar_spectra`,
4800-5400 A at 2,048 pixels, SNR 30-150, the estimator's default
architecture) and ``real`` (the HARPS giant and M dwarf of
``benchmarks/real_spectra.py``, 5000-5600 A at 10 km/s, 3,398 pixels,
``architecture="dense"``). 2,000 training spectra each.

Targets (issue 25): AUROC >= 0.95 for every type on both data sets and >=
the better baseline for every type; ``score_samples`` at least 0.8 times
the speed of ``transform``.

Run ``python benchmarks/outliers.py`` (``--help`` for the knobs).

Record of issue 25 (2026-12-02; 2 CPU cores, torch 2.13 CPU)
------------------------------------------------------------
**The first run** (the defaults above, alone on the cores; 2,000 training
spectra, 50 epochs). AUROC, median (worst) over 3 seeds::

    synthetic      score_samples   PCA error      IsolationForest
    emission       .989 (.984)     .530 (.426)    .462 (.390)
    binary         .742 (.598)     .375 (.337)    .180 (.167)
    cosmic         1.000 (1.000)   .623 (.622)    .429 (.422)
    continuum      1.000 (1.000)   1.000 (1.000)  .823 (.819)
    other_type     1.000 (.998)    .968 (.960)    .923 (.920)
    bad_pixels     .998 (.995)     .765 (.760)    .479 (.430)

    real           score_samples   PCA error      IsolationForest
    emission       .992 (.991)     .490 (.466)    .512 (.397)
    binary         .996 (.953)     .774 (.761)    .296 (.266)
    cosmic         1.000 (1.000)   .509 (.505)    .510 (.404)
    continuum      1.000 (1.000)   .955 (.885)    .817 (.739)
    other_type     1.000 (1.000)   1.000 (1.000)  .361 (.291)
    bad_pixels     1.000 (.933)    .578 (.551)    .499 (.400)

Per seed: synthetic fits 136, 146 and 90 s (L1 1.31, 1.32, 1.21 x PCA:
the default network draws these spectra worse than PCA at 2,000 spectra);
real 182, 160, 166 s (L1 .68-.74 x PCA). Precision among the 10 lowest
scores: .5-1.0 for every type but the synthetic binaries (0-.1).
``contamination="auto"`` flagged 0-.2 % of the clean synthetic spectra and
1.5-2.3 % of the clean real ones.

- **Met**: AUROC >= .95 in every seed for 10 of the 12 (data set, type)
  pairs, and at least the better baseline in every seed for all
  twelve (ties at 1.000 for other stars and bad continua, which PCA's
  error finds too).
- **Not met: synthetic binaries** (.598-.742). A second star at 30-100 km/s
  and 0.3-0.7 of the flux looks to a network that draws these spectra
  worse than PCA like one broader star; its residual is not far beyond
  the clean spectra's. A residual cross-correlated with the spectrum's own
  lines at lags of 3 to 256 pixels (a double-lined binary leaves its
  companion's lines there) reached AUROC .72-.79 on seed 0 (score_samples
  .67 on that model), and the residual's correlation at lag 0 .82: better,
  far from .95, and not kept. On the real archive, whose network beats PCA,
  binaries reach .953-.996.
  Session 9: ``--datasets synthetic --architecture dense`` (alone for
  seeds 0-1; L1 .89-.91 x PCA, fits 272-339 s): binaries .816 (worst
  .794; seeds .816, .794, .979), every other type .998-1.000 (continuum
  .998 in one seed against PCA's 1.000), clean spectra flagged .0-.3 %,
  speed .34-.35. On seed 0's model with 400 injected binaries (AUROC
  .897): .79 at 30-40 km/s, .93 at 75-100 km/s; .85 at SNR 30-60, .94 at
  90-150; the missed ones have lower SNR (median 63 against 90) and hotter
  primaries (weaker lines). The parts alone: peak .922, reconstruction
  .715 (its mean residual grows with the noise, so a binary at high SNR
  reads like a clean spectrum at low SNR), latent .771. Scale-free
  statistics of the residual: 99th percentile over the median .947, rms
  over the median .945; added as a fourth part, binaries .944 but
  emission .999 -> .980 and 3.2 % of clean spectra flagged: not kept. A
  companion search (the residual's correlation with the drawing's lines
  moved 2-7 pixels) .923. Supervised ceilings on the same spectra, trained
  on 1,000 binaries and 1,000 clean spectra: an MLP on 200 principal
  components .967, gradient boosting on the residual's quantiles .939.
  So .95 without labels sits at the edge of what these spectra hold
  (2,048 pixels of 17 km/s, lines about a pixel wide).
- **Not met: real bad pixels in one seed** (.933): a dead strip where the M
  dwarf has almost no flux (its blue end, median-normalised) changes
  little.
- **Not met: speed**. ``score_samples`` reached .16-.33 (synthetic) and
  .26-.27 (real) of ``transform``'s speed. It must decode every spectrum
  and ``transform`` does not: profiled on these models, encoding and
  decoding (with the Doppler shift of the velocity latent) take 85-90 %
  of ``score_samples``' time and the statistics the rest (the median of
  each residual the most, about 10 %). A decoding costs as much as an
  encoding for the transposed-convolution decoder and more for the dense
  one with its sub-pixels, so .8 is out of reach while the score needs a
  reconstruction.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skspecrep import MedianNormalizer, SpectralAutoencoder, SpectrumOutlierDetector
from skspecrep.datasets import make_stellar_spectra, make_template_spectra

C_KMS = 299_792.458
TYPES = ("emission", "binary", "cosmic", "continuum", "other_type", "bad_pixels")
METHODS = ("score_samples", "pca_error", "isolation_forest")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["synthetic", "real"],
                   choices=["synthetic", "real"])  # fmt: skip
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--n-anomalies", type=int, default=10, help="per type (1 %% of n-test)")
    p.add_argument("--n-components", type=int, default=16)
    p.add_argument("--epochs", type=int, default=None, help="default: the estimator's")
    p.add_argument(
        "--architecture", choices=["auto", "dense"], default=None,
        help="default: auto on the synthetic data, dense on the real",
    )  # fmt: skip
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "skspecrep-benchmarks")
    return p.parse_args(argv)


# ------------------------------------------------------------------ data


def synthetic(n, seed, args, *, teff=(4500.0, 6500.0)):
    X, _, wave = make_stellar_spectra(
        n, n_pixels=2048, teff=teff, snr=(30.0, 150.0), random_state=seed
    )
    return X.astype(np.float32), wave


def real(n, seed, args, *, other=False):
    from real_spectra import load_templates, template_velocities

    templates = load_templates("harps", args.cache)
    velocities = template_velocities(templates)
    templates = [t._replace(wavelength=t.wavelength / (1 + v / C_KMS))
                 for t, v in zip(templates, velocities)]  # fmt: skip
    chosen = templates[2:] if other else templates[:2]
    X, _, wave = make_template_spectra(
        chosen, n, log_step=10.0, wavelength_range=(5000.0, 5600.0), random_state=seed
    )
    return MedianNormalizer().fit_transform(X).astype(np.float32), wave


def inject(kind, X, wave, donors, other, rng):
    """Copies of the spectra ``X`` with one anomaly of ``kind`` each."""
    X = X.copy()
    n, p = X.shape
    pixels = np.arange(p)
    log_wave = np.log(wave)
    for i in range(n):
        if kind == "emission":
            centre, sigma = rng.uniform(0, p), rng.uniform(1, 3)
            X[i] += rng.uniform(0.3, 1.0) * np.exp(-0.5 * ((pixels - centre) / sigma) ** 2)
        elif kind == "binary":
            v = rng.uniform(30, 100) * rng.choice([-1, 1])
            donor = donors[rng.randint(len(donors))]
            moved = np.interp(log_wave - np.log1p(v / C_KMS), log_wave, donor)
            ratio = rng.uniform(0.3, 0.7)
            X[i] = (X[i] + ratio * moved) / (1 + ratio)
        elif kind == "cosmic":
            for _ in range(rng.randint(1, 4)):
                start = rng.randint(0, p - 2)
                X[i, start : start + rng.randint(1, 3)] += rng.uniform(0.5, 3.0)
        elif kind == "continuum":
            X[i, rng.randint(p // 10, 9 * p // 10) :] *= 1 + rng.choice([-1, 1]) * rng.uniform(
                0.1, 0.3
            )
        elif kind == "other_type":
            X[i] = other[i]
        elif kind == "bad_pixels":
            width = rng.randint(5, 21)
            start = rng.randint(0, p - width)
            X[i, start : start + width] = 0.0
    return X


# ------------------------------------------------------------------ runs


def run(name, seed, args):
    make = synthetic if name == "synthetic" else real
    n_anomalous = args.n_anomalies
    X, wave = make(args.n_train + args.n_test + 2 * n_anomalous, seed, args)
    if name == "synthetic":
        other, _ = synthetic(n_anomalous, seed + 1000, args, teff=(7000.0, 8000.0))
    else:
        other, _ = real(n_anomalous, seed + 1000, args, other=True)
    X_train = X[: args.n_train]
    clean = X[args.n_train : args.n_train + args.n_test]
    base = X[args.n_train + args.n_test : args.n_train + args.n_test + n_anomalous]
    donors = X[args.n_train + args.n_test + n_anomalous :]

    extra = {} if args.epochs is None else {"max_epochs": args.epochs}
    architecture = args.architecture or ("auto" if name == "synthetic" else "dense")
    ae = SpectralAutoencoder(
        args.n_components, architecture=architecture,
        wavelength=wave, virtual_rv=60.0, random_state=seed, **extra,
    )  # fmt: skip
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ae.fit(X_train)
    fit_s = time.perf_counter() - start
    pca = PCA(args.n_components, random_state=seed).fit(X_train)
    forest = IsolationForest(random_state=seed).fit(pca.transform(X_train))

    def unusualness(Xs):
        coefficients = pca.transform(Xs)
        return {
            "score_samples": -ae.score_samples(Xs),
            "pca_error": np.abs(pca.inverse_transform(coefficients) - Xs).mean(axis=1),
            "isolation_forest": -forest.score_samples(coefficients),
        }

    auto = SpectrumOutlierDetector(ae, prefit=True).fit(X_train)  # contamination="auto"
    rng = np.random.RandomState(seed)
    clean_scores = unusualness(clean)
    result = {"fit_s": fit_s, "epochs": ae.n_iter_,
              "l1_ratio": ae.reconstruction_error_ / ae.pca_reconstruction_error_,
              "flagged_clean": float(np.mean(auto.predict(clean) == -1))}  # fmt: skip
    truth = np.r_[np.zeros(len(clean)), np.ones(n_anomalous)]
    for kind in TYPES:
        anomalous = inject(kind, base, wave, donors, other, rng)
        scores = unusualness(anomalous)
        for method in METHODS:
            s = np.r_[clean_scores[method], scores[method]]
            top = np.argsort(-s)[:n_anomalous]
            result[kind, method] = (roc_auc_score(truth, s), truth[top].mean())
    result["speed"] = speed(ae, clean)
    return result


def speed(ae, X, repeats=3):
    """transform's time over score_samples', alternated, best of ``repeats``."""
    times = {"transform": [], "score_samples": []}
    for _ in range(repeats):
        for method in times:
            start = time.perf_counter()
            getattr(ae, method)(X)
            times[method].append(time.perf_counter() - start)
    return min(times["transform"]) / min(times["score_samples"])


def main(argv=None):
    args = parse_args(argv)
    found = []
    for name in args.datasets:
        results = []
        for seed in range(args.seeds):
            r = run(name, seed, args)
            results.append(r)
            print(f"\n{name}, seed {seed}: fit {r['fit_s']:.0f} s, {r['epochs']} epochs, L1 "
                  f"{r['l1_ratio']:.2f} x PCA; clean spectra flagged by contamination='auto': "
                  f"{r['flagged_clean']:.1%}; speed of score_samples / transform "
                  f"{r['speed']:.2f}")  # fmt: skip
            print(f"  {'type':<12}" + "".join(f"{m:>26}" for m in METHODS))
            for kind in TYPES:
                cells = [f"AUROC {r[kind, m][0]:.3f}, prec. {r[kind, m][1]:.1f}" for m in METHODS]
                print(f"  {kind:<12}" + "".join(f"{c:>26}" for c in cells))
        print(f"\n{name}: median (worst) over {args.seeds} seeds, AUROC")
        for kind in TYPES:
            cells = []
            for m in METHODS:
                auc = [r[kind, m][0] for r in results]
                cells.append(f"{np.median(auc):.3f} ({min(auc):.3f})")
            print(f"  {kind:<12}" + "".join(f"{c:>26}" for c in cells))
            worst = min(r[kind, "score_samples"][0] for r in results)
            margin = min(
                r[kind, "score_samples"][0] - max(r[kind, "pca_error"][0],
                                                  r[kind, "isolation_forest"][0])
                for r in results
            )  # fmt: skip
            found.append((f"{name} {kind}: AUROC >= 0.95 (worst seed)", worst >= 0.95,
                          f"{worst:.3f}"))  # fmt: skip
            found.append((f"{name} {kind}: >= the better baseline (worst margin)", margin >= 0,
                          f"{margin:+.3f}"))  # fmt: skip
        slowest = min(r["speed"] for r in results)
        found.append((f"{name}: score_samples >= 0.8 x transform's speed (worst)",
                      slowest >= 0.8, f"{slowest:.2f}"))  # fmt: skip
    print()
    for text, ok, value in found:
        print(f"[{'pass' if ok else 'FAIL'}] {text}: {value}")
    return 0 if all(ok for _, ok, _ in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
