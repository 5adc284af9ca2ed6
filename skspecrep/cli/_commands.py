"""The three commands, ``demo``, ``fit`` and ``analyze``, and what they print."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from .. import SpectralAutoencoder
from ..datasets import make_stellar_spectra
from ..exceptions import (
    CheckpointError,
    NonFiniteRowError,
    PosteriorCollapseWarning,
    TrainingInterruptedWarning,
    TrainingNotConvergedWarning,
    WorseThanPCAWarning,
)
from ..inspection import Analysis, analyse, seed_stability
from ..io import save_model
from ._errors import EXIT_INTERRUPTED, InputError, non_finite_error
from ._inputs import (
    MODEL_FILE,
    STAGED_SPECTRA,
    GridChoice,
    load_labels,
    load_spectra,
    prepare_spectra,
    read_grid,
    read_model,
)
from ._recipes import harps_recipe, noise_only_rows, paper_warmup, star_weights
from ._settings import ModelSettings

FACTORS = ["teff", "logg", "metallicity", "radial_velocity", "vsini"]


def run_demo(args: argparse.Namespace) -> int:
    _check_positive(args, "n_spectra", "n_pixels")
    settings = ModelSettings.from_args(args)
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
    y_train, y_test = labels.iloc[: args.n_spectra][FACTORS], labels.iloc[args.n_spectra :]
    print(
        f"  {wavelength[0]:.1f}-{wavelength[-1]:.1f} A; factors drawn independently: "
        + ", ".join(FACTORS)
    )
    ae = settings.autoencoder(wavelength, quiet=args.quiet, validation_fraction=0.1)
    start = time.perf_counter()
    _fit(ae, X_train)
    print(
        f"\nTrained {ae.n_iter_} epochs in {time.perf_counter() - start:.0f} s "
        f"(best validation epoch {ae.best_epoch_})."
    )
    _say_warnings(ae)
    if ae.velocity_latent_ is not None:
        rv = y_test["radial_velocity"].to_numpy()
        z = ae.transform(X_test)[:, ae.velocity_latent_] * ae.velocity_scale_
        rho = abs(spearmanr(z, rv)[0])
        slope, offset = np.polyfit(rv, z, 1)
        print(
            f"Velocity latent z{ae.velocity_latent_} on held-out spectra: |Spearman rho| "
            f"{rho:.3f} with the true radial velocity over {rv.min():.0f}..{rv.max():.0f} km/s; "
            f"z{ae.velocity_latent_} x {ae.velocity_scale_:g} = {slope:.3f} RV {offset:+.1f} km/s."
        )
    stability = _stability(ae, X_train, y_train, settings)

    Z = ae.transform(X_test)
    recon = ae.inverse_transform(Z)
    pca = PCA(n_components=settings.n_components, random_state=settings.random_state).fit(X_train)
    pca_recon = pca.inverse_transform(pca.transform(X_test))
    noise = np.median(np.abs(np.diff(X_test, axis=1))) / (np.sqrt(2) * 0.6745)
    k = settings.n_components
    print("\nHeld-out reconstruction, mean absolute error per pixel:")
    for name, err in [
        ("mean spectrum only", np.abs(X_test - ae.mean_).mean()),
        (f"PCA, {k} components", np.abs(X_test - pca_recon).mean()),
        (f"SpectralAutoencoder, {k} latents", np.abs(X_test - recon).mean()),
    ]:
        print(f"  {name:<32} {err:.5f}")
    print(f"  (noise level: sigma ~ {noise:.5f}, mean |noise| ~ {0.798 * noise:.5f})")

    # The labels never reached training, so the training codes can be analysed
    # (as in the paper); the held-out spectra then give an honest score.
    analysis = _analyse(
        ae,
        X_train,
        ae.encode(X_train),
        y_train,
        wavelength,
        args,
        title="skspecrep demo: synthetic spectra",
        stability=stability,
    )
    scorer = analysis.scorer
    names = [f"z{j}" for j in range(k)]
    # The scorer holds the informative latents only, by name.
    held_out = pd.DataFrame(Z, columns=names)[list(scorer.feature_names_in_)]
    score = scorer.score(held_out, y_test[FACTORS])
    print(
        f"\nPhysics score on held-out spectra (mean coefficient of the best latents): {score:.2f}"
    )
    return 0


def run_fit(args: argparse.Namespace) -> int:
    paper = args.recipe == "sedaghat2021"
    settings = ModelSettings.from_args(args, recipe=args.recipe)
    if not 0 <= args.validation_fraction < 1:
        raise InputError(
            f"--validation-fraction must be in [0, 1); got {args.validation_fraction}."
        )
    if paper and args.normalize is not None:
        raise InputError(
            "--recipe sedaghat2021 normalises as the paper did; leave out --normalize."
        )
    out = _output_dir(args.output)
    staging = out / STAGED_SPECTRA
    X, wavelength, ids, steps, meta = load_spectra(
        args.spectra,
        staging=staging,
        wavelength_file=args.wavelength,
        normalize=args.normalize,
        quiet=args.quiet,
        grid=GridChoice.from_args(args),
    )
    labels = None if args.labels is None else load_labels(args.labels, ids, args.id_column)
    targets = _supervised(labels, settings.supervise)
    if settings.architecture is None:
        # Spectrum files hold real spectra, whose lines the transposed-convolution
        # decoder draws worse than PCA (benchmarks/real_files.py); arrays keep
        # the estimator's default.
        architecture = "auto" if Path(args.spectra).suffix == ".npy" else "dense"
        settings = replace(settings, architecture=architecture)
    checkpoint = out / "checkpoint.pt"
    if args.restart:
        checkpoint.unlink(missing_ok=True)
    elif checkpoint.exists():
        print(f"Resuming from {checkpoint} (--restart trains anew).")
    extra, sample_weight = {}, None
    if paper:
        steps = [("harps", harps_recipe(wavelength))]
    pre = Pipeline(steps) if steps else None
    X_model = prepare_spectra(X, pre, ids, staging, fit=True)
    if paper:
        harps = steps[0][1]
        wavelength = harps.wavelength_
        extra["pixel_mask"] = harps.pixel_mask_
        sample_weight = star_weights(meta, noise_only_rows(harps, X))
        if settings.kl_warmup is None:
            warmup = paper_warmup(len(X), args.validation_fraction, settings.batch_size)
            settings = replace(settings, kl_warmup=warmup)
    ae = settings.autoencoder(
        wavelength,
        quiet=args.quiet,
        validation_fraction=args.validation_fraction or None,
        checkpoint=checkpoint,
        device=args.device,
        **extra,
    )
    print(
        f"Training on {X_model.shape[0]} spectra of {X_model.shape[1]} pixels "
        f"(architecture {settings.architecture}) ..."
    )
    start = time.perf_counter()
    try:
        _fit(ae, X_model, sample_weight, targets)
    except CheckpointError as exc:
        raise InputError(f"{exc} Or pass --restart.") from None
    except NonFiniteRowError as exc:
        raise non_finite_error(exc.row, ids) from None
    if ae.stop_reason_ == "interrupted":
        print(
            f"\nInterrupted after {ae.n_iter_} complete epoch(s), saved in {checkpoint}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    why = {"max_epochs": "all epochs run", "early_stopping": "stopped early"}[ae.stop_reason_]
    print(
        f"Trained {ae.n_iter_} epochs, {why} ({time.perf_counter() - start:.0f} s in this "
        f"run; weights of epoch {ae.best_epoch_} kept)."
    )
    _say_warnings(ae)
    _say_labelled_latents(ae)
    model = Pipeline([*steps, ("autoencoder", ae)])
    model_file = save_model(model, out / MODEL_FILE)
    print(f"Model: {model_file} (skspecrep.io.load_model reads it)")
    codes = _write_codes(ae, X_model, ids, out)
    stability = _stability(ae, X_model, labels, settings, sample_weight, targets)
    _analyse(
        ae, X_model, codes, labels, wavelength, args,
        title=f"skspecrep fit: {args.spectra}", ids=ids, stability=stability,
    )  # fmt: skip
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    model = read_model(args.model, allow_pickle=args.allow_pickle)
    if args.normalize is not None:
        raise InputError(
            "--normalize is set by the model: 'analyze' applies the preprocessing it was "
            "trained with."
        )
    ae = model[-1]
    grid = GridChoice.from_args(args)
    model_grid = read_grid(model)
    if model_grid is not None and not Path(args.spectra).suffix == ".npy":
        if not grid.is_default:
            raise InputError(
                "The model holds its wavelength grid: 'analyze' reads the files onto it, "
                "so --wavelength-range, --wavelength-step and --log-step do not apply."
            )
        grid = GridChoice(
            wavelength=model_grid,
            window=(model_grid[0], model_grid[-1]),
            on_error=grid.on_error,
            n_jobs=grid.n_jobs,
            reason="the model's grid",
            format=grid.format,
        )
    out = _output_dir(args.output)
    staging = out / STAGED_SPECTRA
    X, wavelength, ids, _, _ = load_spectra(
        args.spectra,
        staging=staging,
        wavelength_file=args.wavelength,
        normalize="none",
        quiet=args.quiet,
        grid=grid,
    )
    if X.shape[1] != model[0].n_features_in_:
        raise InputError(
            f"The spectra have {X.shape[1]} pixels but the model was trained on "
            f"{model[0].n_features_in_}; put them on the same grid first."
        )
    labels = None if args.labels is None else load_labels(args.labels, ids, args.id_column)
    X_model = prepare_spectra(X, model[:-1] if len(model) > 1 else None, ids, staging)
    try:
        codes = _write_codes(ae, X_model, ids, out)
    except NonFiniteRowError as exc:
        raise non_finite_error(exc.row, ids) from None
    _say_labelled_latents(ae)
    if ae.wavelength is not None:
        # The grid of the spectra the network sees: after a recipe's preprocessing
        # (the paper's pads), not the grid the files were read onto.
        wavelength = ae.wavelength
    _analyse(
        ae, X_model, codes, labels, wavelength, args,
        title=f"skspecrep analyze: {args.spectra}", ids=ids,
    )  # fmt: skip
    return 0


def _check_positive(args, *names):
    for name in names:
        value = getattr(args, name)
        if value != "auto" and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1.")


def _output_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise InputError(f"--output {path} exists and is not a folder.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _supervised(labels: pd.DataFrame | None, columns) -> pd.DataFrame | None:
    """The columns of ``--labels`` that ``--supervise`` names, to train with."""
    if not columns:
        return None
    if labels is None:
        raise InputError("--supervise names columns of --labels: give --labels too.")
    missing = [c for c in columns if c not in labels.columns]
    if missing:
        raise InputError(
            f"--supervise {','.join(columns)}: --labels has no numeric, varying column "
            f"{', '.join(map(repr, missing))}; it has {', '.join(map(str, labels.columns))}."
        )
    if len(set(columns)) < len(columns):
        raise InputError(f"--supervise names a column twice: {','.join(columns)}.")
    return labels[list(columns)]


def _say_labelled_latents(ae) -> None:
    """Which latent holds which label, and how well it reads back."""
    # Model files written before labels existed have no such attribute.
    if getattr(ae, "label_latents_", None) is None:
        return
    where = "held-out" if ae.validation_fraction else "training"
    print(f"Labelled latents (error of each as its label, on {where} labelled spectra):")
    for name, latent, error in zip(ae.label_names_, ae.label_latents_, ae.label_error_):
        print(f"  z{latent} = {name} (+- {error:.3g})")


def _fit(ae, X, sample_weight=None, y=None) -> SpectralAutoencoder:
    """Fit, with fit's warnings said once, in the command's words, by :func:`_say_warnings`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingInterruptedWarning)
        warnings.simplefilter("ignore", PosteriorCollapseWarning)
        warnings.simplefilter("ignore", TrainingNotConvergedWarning)
        warnings.simplefilter("ignore", WorseThanPCAWarning)
        return ae.fit(X, y, sample_weight=sample_weight)


def _say_warnings(ae) -> None:
    """The network against PCA of its width, then each of fit's warnings."""
    network, pca = ae.reconstruction_error_, ae.pca_reconstruction_error_
    if pca > 0:  # False for NaN: not compared
        sample = "held-out spectra" if ae.validation_fraction else "a sample of the spectra"
        print(
            f"Reconstruction error on {sample}: network {network:.4g}, PCA with "
            f"{ae.n_components} components {pca:.4g} ({network / pca:.2f}x PCA's)."
        )
    for problem in ae.fit_warnings_:
        print(f"\nWarning: {problem}", file=sys.stderr)


def _stability(ae, X, labels, settings, sample_weight=None, targets=None):
    """The first model and ``--seeds - 1`` more trained alike from the next seeds, compared."""
    seeds, first = settings.seeds, settings.random_state
    if seeds < 2:
        return None
    models = [ae]
    for k in range(1, seeds):
        print(f"\nTraining seed {first + k} ({k + 1} of {seeds}) ...")
        other = clone(ae).set_params(random_state=first + k, checkpoint=None)
        models.append(_fit(other, X, sample_weight, targets))
        _say_warnings(other)
    result = seed_stability(models, X, labels, random_state=first)
    if result.chosen is not None:
        scores = ", ".join(f"{v:.2f}" for v in result.label_score)
        print(
            f"\nChosen by the labels: seed {first + result.chosen} (mean |rho| of each "
            f"label with a latent of its own: {scores})."
        )
    print(
        f"\nStability over {seeds} seeds (reference: seed "
        f"{first + result.reference}; UDR " + ", ".join(f"{u:.2f}" for u in result.udr) + "):"
    )
    print(
        "  latent  reproduced  median |rho|  worst |rho|"
        + ("  label" if labels is not None else "")
    )
    for row in result.latents.itertuples():
        label = ""
        if labels is not None and row.label is not None:
            label = (
                f"  {row.label} in {row.label_agreement} of {seeds} "
                f"(|rho| {row.label_rho_min:.2f}-{row.label_rho_max:.2f})"
            )
        print(
            f"  z{row.latent:<6} {row.n_reproduced:>3} of {seeds}  "
            f"{row.median_rho:12.2f} {row.worst_rho:12.2f}{label}"
        )
    return result


def _write_codes(ae, X, ids, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Encode the spectra (the command's one pass over them) and write the codes.

    Returns the posterior means and log-variances, which the selection and
    the report then use instead of encoding the spectra again.
    """
    mean, log_var = ae.encode(X)
    np.save(out / "codes.npy", mean)
    table = pd.DataFrame(mean, columns=[f"z{j}" for j in range(mean.shape[1])])
    sigma = pd.DataFrame(np.exp(0.5 * log_var), columns=[f"sigma_{z}" for z in table.columns])
    table.insert(0, "spectrum", ids)
    pd.concat([table, sigma], axis=1).to_csv(out / "codes.csv", index=False)
    print(f"Codes: {out / 'codes.npy'} and {out / 'codes.csv'} (with posterior sigmas)")
    return mean, log_var


def _analyse(
    ae, X, codes, labels, wavelength, args, *, title, ids=None, stability=None
) -> Analysis:
    """Analyse once, print the summary, write ``unusual.csv`` and the report.

    ``codes`` is ``ae.encode(X)``: nothing here encodes ``X`` again (ranking
    the unusual spectra decodes them, a second pass). ``ids`` name the
    spectra in ``unusual.csv``; None numbers them.
    """
    analysis = analyse(
        ae,
        X,
        labels,
        codes=codes,
        wavelength=wavelength,
        stability=stability,
        random_state=args.random_state,
    )
    selector, scorer = analysis.selector, analysis.scorer
    k = ae.n_components
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
    if labels is not None and scorer is None:
        print("No latent is informative, so none is scored against the labels.")
    elif scorer is not None:
        _print_label_table(selector, scorer)
    if analysis.unusual is not None:
        _write_unusual(analysis, ids, Path(args.output))
    if not args.no_report:
        from ..report import write_report

        print("\nWriting the report ...")
        report = write_report(args.output, analysis, title=title)
        print(f"Report: {report.html} (figures, summary.json and CSV tables beside it)")
    return analysis


def _write_unusual(analysis: Analysis, ids, out: Path) -> None:
    """Every spectrum ranked from the most unusual, named by its id, and the first few said."""
    table = analysis.unusual.table.reset_index(names="row")
    table.insert(0, "spectrum", table["row"] if ids is None else np.asarray(ids)[table["row"]])
    table.to_csv(out / "unusual.csv", index=False)
    facts = analysis.summary["unusual"]
    where = "peak_wavelength" if "peak_wavelength" in table else "peak_pixel"
    print(
        f"\nUnusual spectra: {facts['n_beyond_threshold']} of {len(table)} score below "
        f"{facts['threshold']:g} (typical spreads beyond the fit's reference spectra); "
        f"the most unusual:"
    )
    for _, r in table.iloc[: len(analysis.unusual.index)].iterrows():
        print(
            f"  {r['spectrum']}: score {r['score']:.1f}, largest part {r['part']}, "
            f"largest residual at {r[where]:.6g}"
        )
    print(f"Ranking: {out / 'unusual.csv'}")


def _print_label_table(selector, scorer):
    labels = list(scorer.label_names_)
    r = scorer.information_coefficient_
    latents = [int(name[1:]) for name in scorer.feature_names_in_]  # "z3" -> 3
    print(
        f"\nHow strongly each informative latent tracks each label "
        f"({scorer.n_samples_per_label_.max()} spectra):"
    )
    print("  information coefficient sqrt(1 - exp(-2 MI)), 0 = none, 1 = all")
    print("  latent   KL    " + " ".join(f"{str(f)[:11]:>11}" for f in labels))
    for i in np.argsort([-selector.kl_[j] for j in latents]):
        cells = " ".join(f"{v:11.2f}" for v in r[i])
        print(f"  z{latents[i]:<6} {selector.kl_[latents[i]]:5.2f}  {cells}")
    collapsed = len(selector.kl_) - len(latents)
    if collapsed:
        print(f"  ({collapsed} collapsed latents, KL at most {selector.kl_threshold_:.3g} nats, "
              "are not ranked)")  # fmt: skip
    print("\nBest latent per label (MI by KSG, +- bootstrap spread):")
    for row, i in zip(scorer.report().itertuples(), scorer.best_latent_):
        verdict = "top at every binning" if row.paper_criterion else "not top at every binning"
        print(
            f"  {row.label:<16} z{latents[i]:<3} MI = {row.mi:.2f} +- {row.mi_std:.2f} "
            f"nats  (coefficient {row.information_coefficient:.2f}; {verdict})"
        )
