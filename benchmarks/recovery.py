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
  :class:`~skspecrep.InformativeDimensionSelector`;
- a **supervised ceiling** per factor: the same normalised MI for a neural
  network trained *with* the labels on the first 40 principal components.
  It says how much one number per spectrum can tell about the factor from
  these spectra at this noise, so how far any unsupervised latent could go;
- the same measures after FastICA of the informative latents (a rotation
  that undoes how factors are shared among latents, when it can).

Targets of the default run: every factor has a latent with normalised MI of
at least 0.5, mean MIG of at least 0.3, and both criteria agree.

Run ``python benchmarks/recovery.py`` (``--help`` lists the knobs). The
default run trains in about 4 minutes on 2 cores and the ceiling takes 30 s.

Record (2 CPU cores, torch 2.13 CPU, seed 0)
--------------------------------------------
Status: **the targets are not met**, and the first cannot be met on this
data set at the default settings: the supervised ceiling is below 0.5 for
logg and vsini.

Best normalised MI per factor at 20 bins (MIG in brackets) and informative
counts by KL / MAD:

=========================  =====  =========  =========  =========  =========  =========  =====
run                        train  Teff       logg       [M/H]      RV         vsini      KL/MAD
=========================  =====  =========  =========  =========  =========  =========  =====
supervised ceiling             -  .67        .46        .67        .82        .43            -
**default**, beta 1e-4     218 s  .27 (.15)  .13 (.10)  .07 (.00)  .26 (.05)  .03 (.00)  5 / 5
  same, after FastICA          -  .54 (.48)  .10 (.02)  .14 (.05)  .43 (.05)  .05 (.01)      -
beta 3e-4                  244 s  .22 (.00)  .04 (.01)  .10 (.03)  .42 (.17)  .06 (.02)  4 / 4
  same, after FastICA          -  .54 (.51)  .06 (.04)  .22 (.17)  .41 (.05)  .05 (.00)      -
beta 1e-4 [a]              309 s  .43 (.32)  .10 (.04)  .08 (.02)  .34 (.10)  .10 (.04)  5 / 5
beta 1e-4, 5100-5300 A [a] 316 s  .10 (.02)  .03 (.00)  .15 (.08)  .27 (.07)  .07 (.02)  6 / 5
beta 1e-3 [b]              553 s  .71 (.47)  .05 (.01)  .20 (.11)  .26 (.02)  .02 (.00)  2 / 2
beta 3e-4 [b]                n/a  .67 (.59)  .04 (.00)  .16 (.11)  .46 (.35)  .02 (.00)  3 / 3
beta 3e-4 + TC 2e-3 [b]    104 s  .74 (.53)  .06 (.02)  .22 (.05)  .07 (.00)  .03 (.00)  2 / 2
=========================  =====  =========  =========  =========  =========  =========  =====

All runs: 2,048 pixels over 4800-5400 A unless stated, SNR 100, 8 latents,
L1 loss, lr 2e-3, batch 32, KL warm-up (1, 10) epochs. The default run
trains on 8,000 spectra for 40 epochs and scores 4,000 held-out spectra;
[a] 6,000 spectra, 30 epochs, 3,000 held out; [b] 5,000 spectra, 25 epochs,
3,000 held out. Times of the older runs were inflated by other jobs on the
same two cores. The TC row added a beta-TCVAE total-correlation penalty
(minibatch-weighted sampling, weight 2e-3) in an experimental training step
that is not in the package.

What the runs say:

- **The first target is out of reach at this setting.** Given the labels, a
  neural network reaches only 0.46 for logg and 0.43 for vsini (R^2 of 0.94
  and 0.87): logg shows only in pressure-broadened wings, and vsini of
  1-20 km/s is 0.06-1.1 pixel of broadening at 2,048 pixels. At 4,096
  pixels the ceiling rises to 0.61 for vsini but stays at 0.44 for logg.
  A target of 0.5 for every factor would need more pixels, more signal or
  coarser bins (at 4,096 pixels and 10 bins the logg ceiling is 0.50).
- At ``beta=1e-4`` five latents stay active and the factors are spread
  across them: radial velocity reads 0.21, 0.26 and 0.12 on three latents,
  so each factor is known to the code as a whole but held by no single
  latent, and MIG is low. FastICA of the five informative latents undoes
  part of that rotation: Teff 0.54 with MIG 0.48, radial velocity 0.43.
- A stronger beta collapses latents and sometimes isolates factors:
  ``beta=1e-3`` and ``3e-4`` on 5,000 spectra put Teff alone in one latent
  (MIG 0.47-0.59), and ``3e-4`` radial velocity in another (MIG 0.35), but
  logg, [M/H] and vsini were lost with the collapsed latents. The same
  ``3e-4`` at the default size split Teff evenly over two latents (0.22 and
  0.22, MIG 0.00), which FastICA joins again (0.54, MIG 0.51).
- A total-correlation penalty on top of ``beta=3e-4`` made Teff cleaner
  (0.74) but collapsed the radial-velocity latent: with batches of 32, the
  minibatch estimate of the total correlation is dominated by its bias.
- Run-to-run spread is large: the same ``beta=1e-4`` gave Teff 0.43 on
  6,000 spectra and 0.27 on 8,000; ``3e-4`` gave a mean MIG of 0.21 on
  5,000 and 0.05 on 8,000. Which latents a factor lands on is not stable
  at these betas.
- The best mean MIG measured is 0.21 (``beta=3e-4`` on 5,000 spectra),
  inside the 0.2-0.4 that the beta-VAE family reaches on standard
  disentanglement sets, but below the 0.3 target; at the default size the
  raw latents give 0.05-0.06 and FastICA 0.12-0.15.
- The package default stays ``beta=1e-4``: it keeps every factor's
  information in the code (the criteria agree on five latents), which the
  paper's per-latent analysis and FastICA can use, where larger betas throw
  logg and vsini away.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA, FastICA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
    p.add_argument(
        "--no-ceiling", action="store_true", help="skip the supervised ceiling (about 30 s)"
    )
    return p.parse_args(argv)


def normalised_mi(codes, labels):
    """Normalised MI (n_codes, n_factors) and MIG per factor at N_BINS bins."""
    scorer = LatentCorrelationScorer(bins=[N_BINS], n_bootstrap=0, random_state=0)
    scorer.fit(codes, labels)
    return scorer.mi_entropy_normalized_[0], scorer.mutual_info_gap_[0]


def supervised_ceiling(X_train, y_train, X_test, y_test, random_state):
    """Normalised MI of each factor with its prediction by a regressor trained on labels.

    A neural network on the first 40 principal components, one per factor:
    what one number per spectrum can tell about a factor when the labels
    are given, an estimate of how far any unsupervised latent could go on
    the same spectra and noise.
    """
    pca = PCA(40, random_state=random_state).fit(X_train)
    P_train, P_test = pca.transform(X_train), pca.transform(X_test)
    predictions = []
    for name in FACTORS:
        model = make_pipeline(
            StandardScaler(),
            MLPRegressor(
                hidden_layer_sizes=(128, 128),
                early_stopping=True,
                max_iter=300,
                random_state=random_state,
            ),
        )
        model.fit(P_train, y_train[name])
        predictions.append(model.predict(P_test))
    nmi, _ = normalised_mi(np.column_stack(predictions), y_test)
    return np.diag(nmi)


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
    y_train = labels.iloc[: args.n_train][FACTORS]
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
    nmi, mig = normalised_mi(Z, y_test)  # (n_latents, n_factors), (n_factors,)
    ceiling = None
    if not args.no_ceiling:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ceiling = supervised_ceiling(X_train, y_train, X_test, y_test, args.random_state)

    print(
        f"{args.n_train} training spectra x {args.n_pixels} px, SNR {args.snr:g}; "
        f"{ae.n_iter_} epochs in {train_s:.0f} s; n_components={args.n_components}, "
        f"beta={args.beta:g}, warm-up {tuple(args.warmup)}, loss={args.loss}, lr={args.lr:g}"
    )
    print(
        f"\n{'factor':<16} best  norm. MI   MIG  ceiling   "
        f"(normalised MI per latent, {N_BINS} bins)"
    )
    for m, name in enumerate(FACTORS):
        j = int(np.argmax(nmi[:, m]))
        row = " ".join(f"{v:4.2f}" for v in nmi[:, m])
        top = "     n/a" if ceiling is None else f"{ceiling[m]:8.2f}"
        print(f"{name:<16} z{j:<3} {nmi[j, m]:8.2f} {mig[m]:6.2f} {top}   {row}")
    if ceiling is not None:
        print(
            "(ceiling: the same measure for a regressor trained on the labels; "
            "no latent can be expected above it)"
        )
    worst = nmi.max(axis=0).min()
    print("\nKL per latent:  " + " ".join(f"{v:.3f}" for v in selector.kl_))
    print("MAD per latent: " + " ".join(f"{v:.3f}" for v in selector.mad_))
    n_kl, n_mad = int(selector.kl_support_.sum()), int(selector.mad_support_.sum())
    if n_kl >= 2:
        # Independent components of the informative latents: a rotation
        # that undoes how the factors are shared among them, when it can.
        ica = FastICA(n_kl, whiten="unit-variance", max_iter=2000, random_state=0)
        ica_nmi, ica_mig = normalised_mi(ica.fit_transform(Z[:, selector.kl_support_]), y_test)
        best = " ".join(f"{f[:4]} {v:.2f}" for f, v in zip(FACTORS, ica_nmi.max(axis=0)))
        print(f"\nAfter FastICA of the {n_kl} informative latents: best normalised MI {best}; ")
        print(f"MIG per factor {np.round(ica_mig, 2).tolist()}, mean {ica_mig.mean():.2f}")
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
