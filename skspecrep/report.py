"""A shareable report of a run: one HTML page, its figures, and machine-readable results."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array, check_is_fitted

from . import plotting
from ._checks import check_labels
from ._correlation import LatentCorrelationScorer
from ._matplotlib import pyplot
from ._rows import is_on_disk
from ._selection import InformativeDimensionSelector
from .inspection import REPRODUCED_RHO, latent_traversal

__all__ = ["write_report"]

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .9em; margin: 1em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } img { max-width: 100%; } .note { color: #555; }
.warning { background: #fff3cd; border: 1px solid #e0b000; padding: .5em .8em; }
"""


def write_report(
    output_dir: str | os.PathLike,
    estimator,
    X,
    y=None,
    *,
    codes=None,
    wavelength=None,
    selector: InformativeDimensionSelector | None = None,
    scorer: LatentCorrelationScorer | None = None,
    stability: Bunch | None = None,
    title: str = "skspecrep run",
    n_examples: int = 3,
    random_state=None,
) -> Bunch:
    """Write the report of a fitted model on a set of spectra.

    The report answers the questions of a run, each with a figure: did
    training converge (objective per epoch); how well are spectra
    reconstructed; how many latents are informative by the MAD and KL
    criteria and where the thresholds fall; which informative latents are
    independent of each other; how much each latent tells about each label,
    at every binning of Sedaghat et al. (2021); each label against its best
    latent; and what each informative latent changes in a spectrum (latent
    traversals).

    ``output_dir`` receives:

    - ``report.html``: one self-contained page, figures embedded, to open in
      a browser or send;
    - ``figures/*.png``: the same figures as files;
    - ``summary.json``: the numbers of the report (counts, thresholds, best
      latent per label with MI and uncertainty, MIG);
    - ``latents.csv``: one row per latent (KL, MAD, selected by each
      criterion, traversal amplitude);
    - ``mutual_information.csv``: one row per latent and label, when labels
      are given.

    Parameters
    ----------
    output_dir : str or path-like
        Folder for the report; created if missing. Files of an earlier report
        there are replaced.
    estimator : SpectralAutoencoder
        A fitted autoencoder. Any fitted transformer with ``transform`` and
        ``inverse_transform`` (e.g. PCA) works too, without the training and
        KL sections.
    X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
        Spectra to analyse. On-disk arrays are never loaded whole: they are
        encoded a batch at a time (once, and not at all when ``codes`` are
        given), and only the spectra shown are read.
    y : array-like or DataFrame of shape (n_samples, n_labels), default=None
        Known labels of the spectra (NaN where unknown); the label sections
        are left out when None.
    codes : array-like of shape (n_samples, n_components) or tuple, default=None
        The codes of ``X`` when they were already computed: the posterior
        means (``estimator.transform(X)``), or the pair ``(mean, log_var)``
        that :meth:`SpectralAutoencoder.encode
        <skspecrep.SpectralAutoencoder.encode>` returns. None encodes ``X``
        here, once, for every section.
    wavelength : array-like of shape (n_features,), default=None
        Wavelength of each pixel, for the spectral figures.
    selector : InformativeDimensionSelector, default=None
        A selector fitted on these spectra's codes; None fits one on the
        codes (by KL when the posterior variances are known, else by MAD).
    scorer : LatentCorrelationScorer, default=None
        A scorer fitted on these codes and labels; None fits one on the
        informative latents when ``y`` is given, and none when no latent is
        informative (the page says so: collapsed latents are not ranked).
    stability : Bunch, default=None
        What :func:`~skspecrep.inspection.seed_stability` returned for models
        like this one: adds the section "Stability across seeds" (which
        latents other seeds reproduce, and the label each tracks).
    title : str, default="skspecrep run"
        Heading of the page.
    n_examples : int, default=3
        Spectra shown with their reconstructions.
    random_state : int, RandomState instance or None, default=None
        Seeds the scorer's bootstrap when it is fitted here.

    Returns
    -------
    report : :class:`~sklearn.utils.Bunch`
        ``html``, ``summary``, ``latents``, ``mutual_information`` (paths,
        the last None without labels), ``figures`` (dict of name to PNG
        path) and ``results`` (the summary as a dict).

    Examples
    --------
    >>> import tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.datasets import make_stellar_spectra
    >>> from skspecrep.report import write_report
    >>> X, labels, wave = make_stellar_spectra(300, n_pixels=256, random_state=0)
    >>> pca = PCA(n_components=4).fit(X)
    >>> report = write_report(tempfile.mkdtemp(), pca, X, labels[["teff", "vsini"]],
    ...                       wavelength=wave, random_state=0)
    >>> report.html.name, sorted(report.figures)[:3]
    ('report.html', ['best_latent', 'independence', 'informative_mad'])
    >>> report.results["n_components"], sorted(report.results["labels"])
    (4, ['teff', 'vsini'])
    """
    plt = pyplot()
    check_is_fitted(estimator)
    if not is_on_disk(X):
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    elif len(X.shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    if X.shape[0] < max(n_examples, 4):
        raise ValueError(
            f"The report needs at least {max(n_examples, 4)} spectra; X has {X.shape[0]}."
        )
    out = Path(output_dir)
    figure_dir = out / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    is_autoencoder = hasattr(estimator, "encode") and hasattr(estimator, "history_")

    Z, log_var = _codes(estimator, X, codes, is_autoencoder)
    names = [f"z{j}" for j in range(Z.shape[1])]
    if selector is None:
        criterion = "mad" if log_var is None else "kl"
        selector = InformativeDimensionSelector(criterion=criterion).fit(Z, log_var=log_var)
    support = selector.get_support()
    # Collapsed latents are not ranked against the labels: rank-based MI
    # ignores how little they vary. With none informative, nothing is scored.
    if y is not None:
        Y, label_names = check_labels(y, "write_report")
        if len(Y) != len(Z):
            raise ValueError(f"y has {len(Y)} rows but X has {len(Z)} spectra.")
        labels = pd.DataFrame(Y, columns=label_names)
        if scorer is None and support.any():
            scorer = LatentCorrelationScorer(random_state=random_state)
            kept = pd.DataFrame(Z[:, support], columns=np.array(names)[support])
            scorer.fit(kept, labels)
    else:
        labels = scorer = None
    unscored = labels is not None and scorer is None
    traversed = np.flatnonzero(support) if support.any() else np.arange(Z.shape[1])
    traversal = latent_traversal(estimator, latents=traversed, codes=Z)

    latent_table = pd.DataFrame(
        {
            "latent": names,
            "mad": selector.mad_,
            "informative_mad": selector.mad_support_,
            "kl": selector.kl_ if selector.kl_ is not None else np.nan,
            "informative_kl": selector.kl_support_ if selector.kl_ is not None else np.nan,
            "traversal_amplitude": np.nan,
        }
    )
    latent_table.loc[traversal.latents, "traversal_amplitude"] = traversal.amplitude

    sections = []  # (heading, explanation, figure name(s), html table or "")
    figures = {}

    def save(name, fig):
        path = figure_dir / f"{name}.png"
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        path.write_bytes(buffer.getvalue())
        figures[name] = path
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    images = {}
    if is_autoencoder:
        images["training"] = save("training", plotting.plot_training_history(estimator).figure)
        sections.append(
            (
                "Training",
                "Objective per spectrum (reconstruction error plus beta times KL) by epoch.",
                "training",
                "",
            )
        )
    axes = plotting.plot_reconstructions(estimator, X, wavelength=wavelength, n_examples=n_examples)
    images["reconstructions"] = save("reconstructions", axes[0].figure)
    sections.append(
        ("Reconstructions", "The first spectra, decoded from their codes.", "reconstructions", "")
    )
    for criterion in ("mad", "kl"):
        if criterion == "kl" and selector.kl_ is None:
            continue
        ax = plotting.plot_informative_dimensions(selector, criterion=criterion)
        images[f"informative_{criterion}"] = save(f"informative_{criterion}", ax.figure)
    agree = (
        ""
        if selector.criteria_agree_ is None
        else " The MAD and KL criteria "
        + ("agree." if selector.criteria_agree_ else f"disagree on {selector.disagreement_}.")
    )
    sections.append(
        (
            "Informative latents",
            f"{int(support.sum())} of {Z.shape[1]} latents informative by "
            f"{selector.criterion.upper()}.{agree}",
            [k for k in ("informative_mad", "informative_kl") if k in images],
            latent_table.to_html(index=False, float_format="{:.4g}".format),
        )
    )
    if support.sum() >= 1:
        images["independence"] = save("independence", plotting.plot_pairwise_mi(selector).figure)
        sections.append(
            (
                "Independence",
                f"Mutual information between informative latents; pairs above "
                f"{selector.redundancy} nats (outlined) count once: "
                f"{selector.n_independent_} independent.",
                "independence",
                "",
            )
        )
    if scorer is not None:
        # A scorer given by the caller may hold every latent or the informative ones.
        every = scorer.n_features_in_ == Z.shape[1]
        scored = np.ones_like(support) if every else support
        latents = support if every and support.any() else None
        axes = plotting.plot_mi_heatmap(scorer, latents=latents)
        images["mi_heatmap"] = save("mi_heatmap", axes[0].figure)
        codes_scored = pd.DataFrame(Z[:, scored], columns=np.array(names)[scored])
        axes = plotting.plot_best_latent(scorer, codes_scored, labels)
        images["best_latent"] = save("best_latent", axes[0].figure)
        sections.append(
            (
                "Labels",
                "Mutual information of each latent with each label at every binning, "
                "normalised by its maximum (the paper's figure); then each label against "
                "the latent that tracks it best.",
                ["mi_heatmap", "best_latent"],
                scorer.report().to_html(index=False, float_format="{:.3f}".format),
            )
        )
    elif unscored:
        sections.append(
            (
                "Labels",
                "No latent is informative, so none is scored against the labels: a "
                "collapsed latent's tiny variations can still rank-correlate with a label.",
                [],
                "",
            )
        )
    if stability is not None:
        images["stability"] = save("stability", plotting.plot_seed_stability(stability).figure)
        udr = ", ".join(f"{u:.2f}" for u in stability.udr)
        sections.append(
            (
                "Stability across seeds",
                f"{len(stability.estimators)} models differing only in their random seed. "
                f"Each active latent of model {stability.reference} (the most one-to-one with "
                f"the others, UDR {udr}) matched to a latent of every other model; reproduced "
                f"where the match has |Spearman rho| >= {REPRODUCED_RHO}.",
                "stability",
                stability.latents.to_html(index=False, float_format="{:.3f}".format),
            )
        )
    axes = plotting.plot_latent_traversal(traversal, wavelength=wavelength)
    images["traversal"] = save("traversal", axes[0].figure)
    sections.append(
        (
            "Latent traversals",
            "Each informative latent moved from its 2nd to its 98th percentile, the "
            "others held at the median code: decoded spectrum minus the typical one.",
            "traversal",
            "",
        )
    )

    results = _results(estimator, X, selector, scorer, is_autoencoder, names)
    if stability is not None:
        results["stability"] = {
            "n_models": len(stability.estimators),
            "reference": int(stability.reference),
            "udr": [float(u) for u in stability.udr],
            "latents": json.loads(stability.latents.to_json(orient="records")),
        }
    paths = Bunch(
        html=out / "report.html",
        summary=out / "summary.json",
        latents=out / "latents.csv",
        mutual_information=None,
        figures=figures,
        results=results,
    )
    latent_table.to_csv(paths.latents, index=False)
    if scorer is not None:
        paths.mutual_information = out / "mutual_information.csv"
        scorer.report(per="pair").to_csv(paths.mutual_information, index=False)
    paths.summary.write_text(json.dumps(results, indent=2))
    paths.html.write_text(_page(title, results, sections, images))
    return paths


def _codes(estimator, X, codes, is_autoencoder):
    """(posterior means, log-variances or None) of X: as given, or encoded once here."""
    if codes is None:
        codes = estimator.encode(X) if is_autoencoder else estimator.transform(X)
    if isinstance(codes, tuple):
        mean, log_var = codes
        log_var = check_array(log_var, dtype=np.float64, input_name="log_var")
    else:
        mean, log_var = codes, None
    mean = check_array(mean, dtype=np.float64, input_name="codes")
    if mean.shape[0] != X.shape[0] or (log_var is not None and log_var.shape != mean.shape):
        raise ValueError(
            f"codes have shape {mean.shape}"
            + ("" if log_var is None else f" (log-variances {log_var.shape})")
            + f" but X has {X.shape[0]} spectra: give one code per spectrum."
        )
    return mean, log_var


def _results(estimator, X, selector, scorer, is_autoencoder, names) -> dict:
    results = {
        "estimator": type(estimator).__name__,
        "n_spectra": int(X.shape[0]),
        "n_pixels": int(X.shape[1]),
        "n_components": len(names),
        "selection_criterion": selector.criterion,
        "n_informative": int(selector.get_support().sum()),
        "n_informative_mad": int(selector.mad_support_.sum()),
        "mad_threshold": float(selector.mad_threshold_),
        "n_independent": int(selector.n_independent_),
        "independent_groups": [[names[j] for j in g] for g in selector.groups_],
    }
    if selector.kl_ is not None:
        results["n_informative_kl"] = int(selector.kl_support_.sum())
        results["kl_threshold"] = float(selector.kl_threshold_)
        results["criteria_agree"] = bool(selector.criteria_agree_)
    if is_autoencoder:
        results["n_epochs"] = int(estimator.n_iter_)
        results["best_epoch"] = int(estimator.best_epoch_)
        results["final_train_loss"] = float(estimator.history_[-1, "train_loss"])
        results["warnings"] = [str(w) for w in getattr(estimator, "fit_warnings_", [])]
        for key in ("reconstruction_error", "pca_reconstruction_error"):
            value = getattr(estimator, key + "_", float("nan"))
            results[key] = None if np.isnan(value) else float(value)
        if getattr(estimator, "velocity_latent_", None) is not None:
            results["velocity_latent"] = f"z{estimator.velocity_latent_}"
            results["velocity_scale_kms"] = float(estimator.velocity_scale_)
    if scorer is not None:
        latent_names = (
            list(scorer.feature_names_in_) if hasattr(scorer, "feature_names_in_") else names
        )
        label_results = {}
        for m, label in enumerate(scorer.label_names_):
            j = int(scorer.best_latent_[m])
            label_results[str(label)] = {
                "best_latent": str(latent_names[j]),
                "mi": float(scorer.mi_[j, m]),
                "mi_std": None if scorer.mi_std_ is None else float(scorer.mi_std_[j, m]),
                "information_coefficient": float(scorer.information_coefficient_[j, m]),
                "significant": bool(scorer.significant_[j, m]),
                "paper_criterion": bool(scorer.paper_criterion_[m]),
                "mutual_info_gap": {
                    str(int(b)): float(g)
                    for b, g in zip(np.ravel(scorer.bins), scorer.mutual_info_gap_[:, m])
                },
                "n_samples": int(scorer.n_samples_per_label_[m]),
            }
        results["labels"] = label_results
    return results


def _page(title, results, sections, images) -> str:
    e = html.escape
    facts = [
        ("spectra", results["n_spectra"]),
        ("pixels", results["n_pixels"]),
        ("latents", results["n_components"]),
        ("informative", results["n_informative"]),
        ("independent", results["n_independent"]),
    ]
    if "n_epochs" in results:
        facts.append(("epochs", results["n_epochs"]))
    if results.get("pca_reconstruction_error") is not None:
        facts.append(("reconstruction error", f"{results['reconstruction_error']:.4g}"))
        facts.append(("PCA's, as many components", f"{results['pca_reconstruction_error']:.4g}"))
    parts = [
        "<!DOCTYPE html>",
        f"<html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<table><tr>" + "".join(f"<th>{e(k)}</th>" for k, _ in facts) + "</tr><tr>",
        "".join(f"<td>{v}</td>" for _, v in facts) + "</tr></table>",
    ]
    for message in results.get("warnings", []):
        parts.append(f"<p class='warning'><b>Warning:</b> {e(message)}</p>")
    for heading, text, figs, table in sections:
        parts.append(f"<h2>{e(heading)}</h2><p class='note'>{e(text)}</p>{table}")
        for name in [figs] if isinstance(figs, str) else figs:
            parts.append(f"<img alt='{e(name)}' src='data:image/png;base64,{images[name]}'>")
    parts.append("</body></html>")
    return "\n".join(parts)
