"""A shareable report of an analysis: one HTML page, its figures, machine-readable results.

It renders what :func:`skspecrep.inspection.analyse` computed and computes nothing.
"""

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

from . import plotting
from ._explorer import write_explorer
from ._matplotlib import pyplot
from .inspection import REPRODUCED_RHO, Analysis

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
    output_dir: str | os.PathLike, analysis: Analysis, *, title: str = "skspecrep run"
) -> Bunch:
    """Write the report of an analysis: an HTML page, its figures, its numbers.

    The report answers the questions of a run, each with a figure: did
    training converge (objective per epoch); how well are spectra
    reconstructed; how many latents are informative by the MAD and KL
    criteria and where the thresholds fall; which informative latents are
    independent of each other; how much each latent tells about each label,
    at every binning of Sedaghat et al. (2021); each label against its best
    latent; which latents other seeds reproduce; which spectra are the most
    unusual, drawn with their reconstructions; and what each informative
    latent changes in a spectrum (latent traversals). It renders what
    :func:`~skspecrep.inspection.analyse` computed, and computes nothing:
    writing it again gives the same tables, byte for byte.

    ``output_dir`` receives:

    - ``report.html``: one self-contained page, figures embedded, to open in
      a browser or send;
    - ``figures/*.png``: the same figures as files;
    - ``summary.json``: the analysis' summary (counts, thresholds, best
      latent per label with MI and uncertainty, MIG);
    - ``latents.csv``: one row per latent (KL, MAD, selected by each
      criterion, traversal amplitude);
    - ``mutual_information.csv``: one row per latent and label, when labels
      were scored;
    - ``explorer.html``: the latent explorer, a page with a slider per
      latent that redraws the decoded spectrum (decodings embedded: no
      server, no model).

    Parameters
    ----------
    output_dir : str or path-like
        Folder for the report; created if missing. Files of an earlier report
        there are replaced.
    analysis : Analysis
        What :func:`~skspecrep.inspection.analyse` returned.
    title : str, default="skspecrep run"
        Heading of the page.

    Returns
    -------
    report : :class:`~sklearn.utils.Bunch`
        ``html``, ``explorer``, ``summary``, ``latents``,
        ``mutual_information`` (paths, the last None without scored
        labels), ``figures`` (dict of name to PNG path) and ``results``
        (the summary as a dict).

    Examples
    --------
    >>> import tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.datasets import make_stellar_spectra
    >>> from skspecrep.inspection import analyse
    >>> from skspecrep.report import write_report
    >>> X, labels, wave = make_stellar_spectra(300, n_pixels=256, random_state=0)
    >>> pca = PCA(n_components=4).fit(X)
    >>> analysis = analyse(pca, X, labels[["teff", "vsini"]], wavelength=wave, random_state=0)
    >>> report = write_report(tempfile.mkdtemp(), analysis)
    >>> report.html.name, sorted(report.figures)[:3]
    ('report.html', ['best_latent', 'independence', 'informative_mad'])
    >>> report.results["n_components"], sorted(report.results["labels"])
    (4, ['teff', 'vsini'])
    """
    if not isinstance(analysis, Analysis):
        raise TypeError(
            "write_report renders what skspecrep.inspection.analyse returned; got "
            f"{type(analysis).__name__}. Call analyse(estimator, X, y) first."
        )
    plt = pyplot()
    out = Path(output_dir)
    figure_dir = out / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    a = analysis
    selector, scorer, stability = a.selector, a.scorer, a.stability
    support = selector.get_support()
    names = np.array(a.component_names)

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
    if "n_epochs" in a.summary:
        images["training"] = save("training", plotting.plot_training_history(a.estimator).figure)
        sections.append(
            (
                "Training",
                "Objective per spectrum (reconstruction error plus beta times KL) by epoch.",
                "training",
                "",
            )
        )
    axes = plotting.plot_reconstructions(
        None,
        a.examples.spectra,
        wavelength=a.wavelength,
        n_examples=len(a.examples.index),
        reconstructions=a.examples.reconstructions,
    )
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
            f"{int(support.sum())} of {len(names)} latents informative by "
            f"{selector.criterion.upper()}.{agree}",
            [k for k in ("informative_mad", "informative_kl") if k in images],
            a.latent_table.to_html(index=False, float_format="{:.4g}".format),
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
    if "labelled_latents" in a.summary:
        tied = pd.DataFrame(
            [(name, e["latent"], e["error"]) for name, e in a.summary["labelled_latents"].items()],
            columns=["label", "latent", "error (held-out RMS)"],
        )
        sections.append(
            (
                "Labelled latents",
                "Each label given to fit (label_weight) is tied to a latent of its own; "
                "predict_labels reads it back as the label, with this error.",
                [],
                tied.to_html(index=False, float_format="{:.4g}".format),
            )
        )
    if scorer is not None:
        every = a.scored.all()
        latents = support if every and support.any() else None
        axes = plotting.plot_mi_heatmap(scorer, latents=latents)
        images["mi_heatmap"] = save("mi_heatmap", axes[0].figure)
        codes_scored = pd.DataFrame(a.codes[:, a.scored], columns=names[a.scored])
        axes = plotting.plot_best_latent(scorer, codes_scored, a.labels)
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
    elif a.labels is not None:
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
    if a.unusual is not None:
        sections.append(_unusual_section(a, save, images))
    axes = plotting.plot_latent_traversal(a.traversal, wavelength=a.wavelength)
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

    explorer = write_explorer(
        out / "explorer.html", a.explorer, a.wavelength, list(names), _latent_notes(a.summary),
        title=title,
    )  # fmt: skip
    sections.append(
        (
            "Latent explorer",
            "A page where a slider per latent moves it over its observed range and the "
            "decoded spectrum redraws, with a zoom to any wavelength window.",
            [],
            f"<p><a href='{explorer.name}'>open the latent explorer</a></p>",
        )
    )
    paths = Bunch(
        html=out / "report.html",
        explorer=explorer,
        summary=out / "summary.json",
        latents=out / "latents.csv",
        mutual_information=None,
        figures=figures,
        results=a.summary,
    )
    a.latent_table.to_csv(paths.latents, index=False)
    if scorer is not None:
        paths.mutual_information = out / "mutual_information.csv"
        scorer.report(per="pair").to_csv(paths.mutual_information, index=False)
    paths.summary.write_text(json.dumps(a.summary, indent=2))
    paths.html.write_text(_page(title, a.summary, sections, images))
    return paths


def _latent_notes(summary: dict) -> dict:
    """What the analysis says each latent holds, for the explorer's sliders."""
    notes: dict[str, list[str]] = {}
    if "velocity_latent" in summary:
        notes.setdefault(summary["velocity_latent"], []).append("radial velocity (pairs)")
    for label, entry in summary.get("labelled_latents", {}).items():
        notes.setdefault(entry["latent"], []).append(f"tied to {label}")
    for label, entry in summary.get("labels", {}).items():
        if entry["significant"]:
            notes.setdefault(entry["best_latent"], []).append(f"tracks {label}")
    return {name: "; ".join(items) for name, items in notes.items()}


def _unusual_section(a: Analysis, save, images) -> tuple:
    """The most unusual spectra drawn with their reconstructions, and the ranking's head."""
    u, table = a.unusual, a.unusual.table
    where = "peak_wavelength" if "peak_wavelength" in table else "peak_pixel"
    titles = [
        f"spectrum {row}: score {table.loc[row, 'score']:.1f}, largest part "
        f"{table.loc[row, 'part']}, largest residual at {table.loc[row, where]:.6g}"
        for row in u.index
    ]
    axes = plotting.plot_reconstructions(
        None, u.spectra, wavelength=a.wavelength, n_examples=len(u.index),
        reconstructions=u.reconstructions, titles=titles,
    )  # fmt: skip
    x = a.wavelength if a.wavelength is not None else np.arange(a.n_pixels)
    for ax, row in zip(axes, u.index):
        ax.axvline(x[table.loc[row, "peak_pixel"]], color="C1", lw=0.8, ls=":")
    images["unusual"] = save("unusual", axes[0].figure)
    n_beyond = a.summary["unusual"]["n_beyond_threshold"]
    threshold = a.summary["unusual"]["threshold"]
    head = table.iloc[:10].reset_index(names="spectrum")
    return (
        "Unusual spectra",
        f"Each spectrum's score is minus the largest of three parts, each in typical "
        f"spreads beyond the reference spectra of the fit: reconstruction (drawn badly "
        f"everywhere), peak (a few pixels far off: a cosmic ray, an emission line, bad "
        f"pixels; dotted line) and latent (an unusual code). {n_beyond} of "
        f"{a.n_spectra} spectra score below {threshold:g}. The most unusual:",
        "unusual",
        head.to_html(index=False, float_format="{:.4g}".format),
    )


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
