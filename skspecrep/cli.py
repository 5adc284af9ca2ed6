"""Command line: ``skspecrep demo``.

The CLI is the only layer that prints; estimators stay silent unless asked.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.decomposition import PCA

from . import (
    InformativeDimensionSelector,
    LatentCorrelationScorer,
    SpectralAutoencoder,
    __version__,
)
from .datasets import make_stellar_spectra

FACTORS = ["teff", "logg", "metallicity", "radial_velocity", "vsini"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skspecrep",
        description="Unsupervised representation learning for large sets of 1-D spectra.",
    )
    parser.add_argument("--version", action="version", version=f"skspecrep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train on built-in synthetic spectra and show what the latents learned",
        description=(
            "Generate synthetic stellar spectra with known Teff, logg, [M/H], radial "
            "velocity and vsini; train a SpectralAutoencoder without labels; report the "
            "information per latent, the held-out reconstruction against PCA, and which "
            "latent tracks each factor."
        ),
    )
    demo.add_argument("--n-spectra", type=int, default=3000, help="training spectra (default 3000)")
    demo.add_argument(
        "--n-pixels", type=int, default=2048, help="pixels per spectrum (default 2048)"
    )
    demo.add_argument("--n-components", type=int, default=8, help="bottleneck width (default 8)")
    demo.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    demo.add_argument("--beta", type=float, default=1e-4, help="KL weight (default 1e-4)")
    demo.add_argument(
        "--snr", type=float, default=100.0, help="signal-to-noise ratio (default 100)"
    )
    demo.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_demo(args: argparse.Namespace) -> int:
    for name in ("n_spectra", "n_pixels", "n_components", "epochs"):
        if getattr(args, name) < 1:
            print(f"skspecrep demo: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    n_test = max(200, args.n_spectra // 5)
    print(
        f"Generating {args.n_spectra} + {n_test} synthetic spectra of {args.n_pixels} pixels "
        f"(SNR {args.snr:g}) ..."
    )
    X, labels, wavelength = make_stellar_spectra(
        args.n_spectra + n_test,
        n_pixels=args.n_pixels,
        snr=args.snr,
        random_state=args.random_state,
    )
    X_train, X_test = X[: args.n_spectra], X[args.n_spectra :]
    y_test = labels.iloc[args.n_spectra :]
    print(
        f"  {wavelength[0]:.1f}-{wavelength[-1]:.1f} A; factors drawn independently: "
        + ", ".join(FACTORS)
    )

    ae = SpectralAutoencoder(
        n_components=args.n_components,
        max_epochs=args.epochs,
        beta=args.beta,
        lr=2e-3,
        validation_fraction=0.1,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    start = time.perf_counter()
    ae.fit(X_train)
    seconds = time.perf_counter() - start
    print(
        f"\nTrained {ae.n_iter_} epochs in {seconds:.0f} s "
        f"(best validation epoch {ae.best_epoch_})."
    )

    Z = ae.transform(X_test)
    recon = ae.inverse_transform(Z)
    pca = PCA(n_components=args.n_components, random_state=args.random_state).fit(X_train)
    pca_recon = pca.inverse_transform(pca.transform(X_test))
    noise = np.median(np.abs(np.diff(X_test, axis=1))) / (np.sqrt(2) * 0.6745)
    print("\nHeld-out reconstruction, mean absolute error per pixel:")
    k = args.n_components
    rows = [
        ("mean spectrum only", np.abs(X_test - ae.mean_).mean()),
        (f"PCA, {k} components", np.abs(X_test - pca_recon).mean()),
        (f"SpectralAutoencoder, {k} latents", np.abs(X_test - recon).mean()),
    ]
    for name, err in rows:
        print(f"  {name:<32} {err:.5f}")
    print(f"  (noise level: sigma ~ {noise:.5f}, mean |noise| ~ {0.798 * noise:.5f})")

    # Both criteria on the held-out codes; the KL one reads the posterior variances.
    selector = InformativeDimensionSelector(ae, criterion="kl", prefit=True).fit(X_test)
    print(
        f"\nInformative latents: {selector.kl_support_.sum()} of {k} by KL "
        f"(threshold {selector.kl_threshold_:.3g} nats), {selector.mad_support_.sum()} by MAD "
        f"(threshold {selector.mad_threshold_:.3g}); "
        + ("the criteria agree." if selector.criteria_agree_ else "the criteria disagree.")
    )
    print(
        f"Independently informative: {selector.n_independent_} "
        f"(selected latents sharing more than {selector.redundancy} nats count once)."
    )

    # The labels never reached training, so the training codes can be analysed
    # (as in the paper); the held-out spectra then give an honest score.
    scorer = LatentCorrelationScorer(n_bootstrap=20, random_state=args.random_state)
    scorer.fit(ae.transform(X_train), labels.iloc[: args.n_spectra][FACTORS])
    r = scorer.information_coefficient_
    print(f"\nHow strongly each latent tracks each true factor ({args.n_spectra} spectra):")
    print("  information coefficient sqrt(1 - exp(-2 MI)), 0 = none, 1 = all; * informative")
    print("  latent   KL    " + " ".join(f"{f[:11]:>11}" for f in FACTORS))
    for j in np.argsort(-ae.component_kl_):
        mark = "*" if selector.kl_support_[j] else " "
        cells = " ".join(f"{v:11.2f}" for v in r[j])
        print(f"  {mark}z{j:<5} {ae.component_kl_[j]:5.2f}  {cells}")
    report = scorer.report()
    print("\nBest latent per factor (MI by KSG, +- bootstrap spread):")
    for row, j in zip(report.itertuples(), scorer.best_latent_):
        verdict = "top at every binning" if row.paper_criterion else "not top at every binning"
        collapsed = "" if selector.kl_support_[j] else ", a collapsed latent"
        print(
            f"  {row.label:<16} z{j:<3} MI = {row.mi:.2f} +- {row.mi_std:.2f} "
            f"nats  (coefficient {row.information_coefficient:.2f}; {verdict}{collapsed})"
        )
    score = scorer.score(Z, y_test[FACTORS])
    print(
        f"\nPhysics score on held-out spectra (mean coefficient of the best latents): {score:.2f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skspecrep`` command."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return run_demo(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
