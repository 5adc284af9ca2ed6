"""Figures of the latent analysis (matplotlib, an optional dependency).

Each function draws on axes it is given, or on a new figure, and returns
the axes so that the figure can be adjusted or saved. matplotlib is imported
only when a function is called: install it with ``pip install skspecrep[plot]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._correlation import _label_table

__all__ = ["plot_best_latent", "plot_informative_dimensions", "plot_mi_heatmap"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skspecrep.plotting needs matplotlib: pip install 'skspecrep[plot]'."
        ) from exc
    return plt


def _label_indices(scorer, labels) -> np.ndarray:
    names = list(scorer.label_names_)
    if labels is None:
        return np.arange(len(names))
    if isinstance(labels, str | int):
        labels = [labels]
    out = []
    for label in labels:
        if isinstance(label, str):
            if label not in names:
                raise ValueError(f"Unknown label {label!r}; the scorer knows {names}.")
            out.append(names.index(label))
        elif not 0 <= int(label) < len(names):
            raise ValueError(f"Label index {label} out of range for {len(names)} labels.")
        else:
            out.append(int(label))
    return np.array(out, dtype=int)


def _panels(axes, n: int, size: tuple[float, float]):
    """``n`` axes: the ones given, or a new row of panels."""
    if axes is None:
        plt = _pyplot()
        _, axes = plt.subplots(
            1, n, figsize=(size[0] * n, size[1]), squeeze=False, layout="constrained"
        )
        return axes[0]
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if axes.size != n:
        raise ValueError(f"Need {n} axes, one per label; got {axes.size}.")
    return axes


def plot_informative_dimensions(selector, *, criterion: str = "mad", ax=None):
    """Stem plot of each latent's MAD (or KL) with the selection threshold.

    The paper's picture of how many latents are informative: on a
    logarithmic axis, collapsed latents sit one to two orders of magnitude
    below the active ones, and the threshold runs between them.

    Parameters
    ----------
    selector : InformativeDimensionSelector
        A fitted selector.
    criterion : {"mad", "kl"}, default="mad"
        Which statistic to show; ``"kl"`` needs a selector fitted with an
        autoencoder.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skspecrep import InformativeDimensionSelector
    >>> from skspecrep.plotting import plot_informative_dimensions
    >>> Z = np.random.RandomState(0).normal(size=(500, 4)) * [1, 0.005, 0.5, 0.004]
    >>> ax = plot_informative_dimensions(InformativeDimensionSelector().fit(Z))
    >>> ax.get_ylabel()
    'median absolute deviation'
    """
    check_is_fitted(selector)
    if criterion == "mad":
        values, threshold, support = selector.mad_, selector.mad_threshold_, selector.mad_support_
        ylabel = "median absolute deviation"
    elif criterion == "kl":
        if selector.kl_ is None:
            raise ValueError(
                "This selector has no KL values: fit it with estimator=SpectralAutoencoder(...)."
            )
        values, threshold, support = selector.kl_, selector.kl_threshold_, selector.kl_support_
        ylabel = "mean KL (nats)"
    else:
        raise ValueError(f"criterion must be 'mad' or 'kl'; got {criterion!r}.")
    if ax is None:
        _, ax = _pyplot().subplots(
            figsize=(max(4.0, 0.25 * len(values) + 2), 3), layout="constrained"
        )
    index = np.arange(len(values))
    # Zeros cannot be drawn on a log axis; show them at the axis floor.
    positive = values[values > 0]
    floor = positive.min() / 10 if positive.size else threshold / 10
    shown = np.maximum(values, floor)
    for mask, colour, name in ((support, "C0", "informative"), (~support, "C7", "collapsed")):
        if mask.any():
            ax.vlines(index[mask], floor, shown[mask], color=colour, lw=1.2)
            ax.plot(index[mask], shown[mask], "o", color=colour, ms=4, label=name)
    ax.axhline(threshold, color="C3", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)
    ax.set_xlabel("latent")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{int(support.sum())} of {len(values)} latents informative")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_mi_heatmap(
    scorer,
    *,
    labels: str | int | Sequence | None = None,
    normalization: str = "max",
    latents: np.ndarray | None = None,
    axes=None,
):
    """Mutual information of each latent with a label, at every binning.

    The figure of Sedaghat et al. (2021): one panel per label, binnings in
    rows, latents in columns. With the paper's ``"max"`` normalisation each
    row's top latent is 1; a latent that truly tracks the label is on top in
    every row.

    Parameters
    ----------
    scorer : LatentCorrelationScorer
        A fitted scorer.
    labels : str, int or sequence, default=None
        Labels to show, by name or index; all if None.
    normalization : {"max", "entropy", "none"}, default="max"
        ``mi_max_normalized_`` (the paper's), ``mi_entropy_normalized_``
        (comparable across labels) or ``mi_binned_`` in nats.
    latents : array-like of int or bool, default=None
        Latents to show, e.g. a selector's ``get_support()``; all if None.
    axes : array of matplotlib Axes, default=None
        One per label; a new row of panels if None.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        One per label shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skspecrep import LatentCorrelationScorer
    >>> from skspecrep.plotting import plot_mi_heatmap
    >>> rng = np.random.RandomState(0)
    >>> y = rng.normal(size=1000)
    >>> Z = np.column_stack([rng.normal(size=1000), y + 0.3 * rng.normal(size=1000)])
    >>> scorer = LatentCorrelationScorer(n_bootstrap=0).fit(Z, y)
    >>> axes = plot_mi_heatmap(scorer)
    >>> print(axes[0].get_title())
    label0
    top latent x1 at every binning
    """
    check_is_fitted(scorer)
    data = {
        "max": scorer.mi_max_normalized_,
        "entropy": scorer.mi_entropy_normalized_,
        "none": scorer.mi_binned_,
    }
    if normalization not in data:
        raise ValueError(f"normalization must be one of {sorted(data)}; got {normalization!r}.")
    values = data[normalization]
    names = _check_feature_names_in(scorer, None)
    columns = np.arange(len(names)) if latents is None else np.arange(len(names))[latents]
    which = _label_indices(scorer, labels)
    titles = []
    for m in which:
        top = scorer.top_latent_binned_[0, m]
        verdict = (
            f"top latent {names[top]} at every binning"
            if scorer.paper_criterion_[m]
            else "no single top latent"
        )
        titles.append(f"{scorer.label_names_[m]}\n{verdict}")
    # Wide enough for the longest title line at a small font (~0.07 inch a character).
    longest = max(len(line) for title in titles for line in title.split("\n"))
    width = max(3.0, 0.35 * len(columns) + 1.5, 0.07 * longest + 0.6)
    axes = _panels(axes, len(which), (width, 2.8 + 0.05 * max(len(n) for n in names[columns])))
    bins = [str(int(b)) for b in np.ravel(scorer.bins)]
    vmax = 1.0 if normalization != "none" else max(values.max(), 1e-12)
    for ax, m, title in zip(axes, which, titles):
        image = ax.imshow(
            values[:, columns, m], aspect="auto", cmap="viridis", vmin=0, vmax=vmax,
            interpolation="nearest",
        )  # fmt: skip
        ax.set_xticks(range(len(columns)), names[columns], rotation=90, fontsize="small")
        ax.set_yticks(range(len(bins)), bins)
        ax.set_ylabel("bins per axis")
        ax.set_title(title, fontsize="small")
    cbar_label = {"max": "MI / max over latents", "entropy": "MI / H(label)", "none": "MI (nats)"}
    axes[-1].figure.colorbar(image, ax=list(axes), label=cbar_label[normalization])
    return axes


def plot_best_latent(scorer, X, y, *, labels: str | int | Sequence | None = None, axes=None):
    """Each label against the latent that tracks it best.

    Parameters
    ----------
    scorer : LatentCorrelationScorer
        A fitted scorer; its ``best_latent_`` chooses the latent.
    X : array-like of shape (n_samples, n_latents)
        Latent codes.
    y : array-like or DataFrame of shape (n_samples, n_labels)
        Labels in the scorer's order; NaN and clipped values are left out.
    labels : str, int or sequence, default=None
        Labels to show, by name or index; all if None.
    axes : array of matplotlib Axes, default=None
        One per label; a new row of panels if None.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        One per label shown.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skspecrep import LatentCorrelationScorer
    >>> from skspecrep.plotting import plot_best_latent
    >>> rng = np.random.RandomState(0)
    >>> y = rng.normal(size=500)
    >>> Z = np.column_stack([rng.normal(size=500), np.tanh(y)])
    >>> scorer = LatentCorrelationScorer(n_bootstrap=0).fit(Z, y)
    >>> axes = plot_best_latent(scorer, Z, y)
    >>> axes[0].get_ylabel()
    'x1'
    """
    check_is_fitted(scorer)
    Y, _ = _label_table(y)
    Z = np.asarray(X, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[1] != scorer.n_features_in_:
        raise ValueError(f"X must have shape (n_samples, {scorer.n_features_in_}); got {Z.shape}.")
    if len(Z) != len(Y) or Y.shape[1] != len(scorer.label_names_):
        raise ValueError(
            f"y must have shape ({len(Z)}, {len(scorer.label_names_)}); got {Y.shape}."
        )
    Y = scorer._clip(Y)
    names = _check_feature_names_in(scorer, None)
    which = _label_indices(scorer, labels)
    axes = _panels(axes, len(which), (3.2, 3.0))
    # Faint, small, rasterised points: the analysis sets hold 1e4-1e6 spectra.
    alpha = float(np.clip(300 / max(len(Z), 1), 0.05, 0.8))
    for ax, m in zip(axes, which):
        j = scorer.best_latent_[m]
        rows = ~np.isnan(Y[:, m])
        ax.scatter(Y[rows, m], Z[rows, j], s=3, alpha=alpha, lw=0, rasterized=True)
        ax.set_xlabel(scorer.label_names_[m])
        ax.set_ylabel(names[j])
        mi = scorer.mi_[j, m]
        spread = "" if scorer.mi_std_ is None else f" ± {scorer.mi_std_[j, m]:.2f}"
        ax.set_title(f"MI = {mi:.2f}{spread} nats", fontsize="medium")
    return axes
