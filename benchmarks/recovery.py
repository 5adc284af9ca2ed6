"""Does the autoencoder find known physics without being told?

Trains a :class:`~skspecrep.SpectralAutoencoder` on spectra from
:func:`~skspecrep.datasets.make_stellar_spectra` whose five factors (Teff,
logg, [M/H], radial velocity, vsini) are drawn independently, never shows it
the factors, and measures on held-out spectra:

- for each factor, the best latent's normalised MI: plug-in histogram MI at
  20 bins per axis divided by the factor's entropy on the same binning (the
  fraction of the factor's information that one latent holds);
- the mutual information gap (MIG) of each factor and their mean: the
  normalised MI of the best latent minus that of the second best;
- the informative counts by the MAD and KL criteria of
  :class:`~skspecrep.InformativeDimensionSelector`.

Targets of the default run: every factor has a latent with normalised MI of
at least 0.5, mean MIG of at least 0.3, and both criteria agree.

Run ``python benchmarks/recovery.py`` (``--help`` lists the knobs).

Tuning record (2 CPU cores, torch 2.13 CPU, 3,000 held-out spectra, seed 0)
---------------------------------------------------------------------------
Status: the targets are **not met yet**. Best normalised MI per factor at 20
bins (MIG in brackets), and informative counts by KL / MAD:

====================  =====  =========  =========  =========  =========  =========  ======
run                   time   Teff       logg       [M/H]      RV         vsini      KL/MAD
====================  =====  =========  =========  =========  =========  =========  ======
1e-4, 4800-5400 A     309 s  .43 (.32)  .10 (.04)  .08 (.02)  .34 (.10)  .10 (.04)  5 / 5
1e-4, 5100-5300 A     316 s  .10 (.02)  .03 (.00)  .15 (.08)  .27 (.07)  .07 (.02)  6 / 5
1e-3, 4800-5400 A     553 s  .71 (.47)  .05 (.01)  .20 (.11)  .26 (.02)  .02 (.00)  2 / 2
3e-4, 4800-5400 A       n/a  .67 (.59)  .04 (.00)  .16 (.11)  .46 (.35)  .02 (.00)  3 / 3
====================  =====  =========  =========  =========  =========  =========  ======

Runs are named by beta and wavelength range. All: 2,048 pixels, 8 latents,
L1 loss, lr 2e-3, batch 32, warm-up (1, 10) epochs; 6,000 training spectra
and 30 epochs for the first two, 5,000 and 25 for the others (the third's
time was inflated by other jobs on the same two cores; the fourth's was not
kept). The best so far is ``beta=3e-4``: mean MIG 0.21, Teff and radial
velocity each held by one latent.

What the runs say:

- With ``beta=1e-4`` five or six latents stay active and the factors are
  spread across them: radial velocity, for instance, is shared by three
  latents (0.24, 0.34, 0.13 in the first run), so each factor is known to the
  code as a whole but held by no single latent, and MIG is low.
- Narrowing the range to 5100-5300 A (lines better resolved, 0.1 A per pixel)
  did not help: Teff lost its Balmer-line signal (H-beta is outside).
- ``beta=1e-3`` isolates Teff in one latent (0.71, MIG 0.47, above both
  targets for that factor) but collapses all but two latents, and radial
  velocity, logg and vsini are lost with them.

Next steps, not yet tried: a beta between 1e-4 and 1e-3 with more latents; a
total-correlation penalty (beta-TCVAE), which targets exactly the spreading
seen at ``beta=1e-4``; longer training and more spectra within the 10-minute
budget; 4,096 pixels so that vsini (0.06-1.1 pixel of broadening at 2,048)
becomes visible.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from skspecrep import InformativeDimensionSelector, LatentCorrelationScorer, SpectralAutoencoder
from skspecrep.datasets import make_stellar_spectra

FACTORS = ["teff", "logg", "metallicity", "radial_velocity", "vsini"]
N_BINS = 20
TARGET_NMI, TARGET_MIG = 0.5, 0.3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--n-test", type=int, default=4000)
    p.add_argument("--n-pixels", type=int, default=2048)
    p.add_argument("--snr", type=float, default=100.0)
    p.add_argument("--wavelength-range", type=float, nargs=2, default=(4800.0, 5400.0))
    p.add_argument("--n-components", type=int, default=8)
    p.add_argument("--beta", type=float, default=1e-4)
    p.add_argument("--warmup", type=float, nargs=2, default=(1.0, 10.0))
    p.add_argument("--loss", default="l1")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    X, labels, _ = make_stellar_spectra(
        args.n_train + args.n_test,
        n_pixels=args.n_pixels,
        wavelength_range=tuple(args.wavelength_range),
        snr=args.snr,
        random_state=args.random_state,
    )
    X_train, X_test = X[: args.n_train], X[args.n_train :]
    y_test = labels.iloc[args.n_train :][FACTORS]
    ae = SpectralAutoencoder(
        n_components=args.n_components,
        beta=args.beta,
        kl_warmup=tuple(args.warmup),
        loss=args.loss,
        lr=args.lr,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    start = time.perf_counter()
    ae.fit(X_train)
    train_s = time.perf_counter() - start

    selector = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(X_test)
    Z = ae.transform(X_test)
    scorer = LatentCorrelationScorer(bins=[N_BINS], n_bootstrap=0, random_state=0).fit(Z, y_test)
    nmi = scorer.mi_entropy_normalized_[0]  # (n_latents, n_factors)
    mig = scorer.mutual_info_gap_[0]

    print(
        f"{args.n_train} training spectra x {args.n_pixels} px, SNR {args.snr:g}; "
        f"{ae.n_iter_} epochs in {train_s:.0f} s; n_components={args.n_components}, "
        f"beta={args.beta:g}, warm-up {tuple(args.warmup)}, loss={args.loss}, lr={args.lr:g}"
    )
    print(f"\n{'factor':<16} best  norm. MI   MIG   (normalised MI per latent, {N_BINS} bins)")
    for m, name in enumerate(FACTORS):
        j = int(np.argmax(nmi[:, m]))
        row = " ".join(f"{v:4.2f}" for v in nmi[:, m])
        print(f"{name:<16} z{j:<3} {nmi[j, m]:8.2f} {mig[m]:6.2f}   {row}")
    worst = nmi.max(axis=0).min()
    print("\nKL per latent:  " + " ".join(f"{v:.3f}" for v in selector.kl_))
    print("MAD per latent: " + " ".join(f"{v:.3f}" for v in selector.mad_))
    n_kl, n_mad = int(selector.kl_support_.sum()), int(selector.mad_support_.sum())
    checks = [
        (f"every factor's best normalised MI >= {TARGET_NMI}", worst >= TARGET_NMI, f"{worst:.2f}"),
        (f"mean MIG >= {TARGET_MIG}", mig.mean() >= TARGET_MIG, f"{mig.mean():.2f}"),
        ("MAD and KL counts agree", selector.criteria_agree_, f"KL {n_kl}, MAD {n_mad}"),
    ]
    print()
    for text, ok, value in checks:
        print(f"[{'pass' if ok else 'FAIL'}] {text}: {value}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
