"""Figures of the latent analysis (matplotlib, an optional dependency).

Each function draws on axes it is given, or on a new figure, and returns
the axes so that the figure can be adjusted or saved. matplotlib is imported
only when a function is called: install it with ``pip install skspecrep[plot]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._checks import check_labels
from ._matplotlib import pyplot

__all__ = [
    "plot_best_latent",
    "plot_informative_dimensions",
    "plot_latent_traversal",
    "plot_mi_heatmap",
    "plot_pairwise_mi",
    "plot_reconstructions",
    "plot_seed_stability",
    "plot_training_history",
]


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


def _panels(axes, n: int, size: tuple[float, float], *, column: bool = False, per="label"):
    """``n`` axes: the ones given, or a new row (or column) of panels."""
    if axes is None:
        plt = pyplot()
        shape = (n, 1) if column else (1, n)
        figsize = (size[0], size[1] * n) if column else (size[0] * n, size[1])
        _, axes = plt.subplots(
            *shape, figsize=figsize, squeeze=False, layout="constrained", sharex=column
        )
        return axes.ravel()
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if axes.size != n:
        raise ValueError(f"Need {n} axes, one per {per}; got {axes.size}.")
    return axes


def _pixel_axis(wavelength, n_features: int) -> tuple[np.ndarray, str]:
    if wavelength is None:
        return np.arange(n_features), "pixel"
    wavelength = np.asarray(wavelength, dtype=np.float64)
    if wavelength.shape != (n_features,):
        raise ValueError(
            f"wavelength has shape {wavelength.shape}; the spectra have {n_features} pixels."
        )
    return wavelength, "wavelength (Å)"


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
        _, ax = pyplot().subplots(
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
    Y, _ = check_labels(y, "plot_best_latent")
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


def plot_training_history(estimator, *, ax=None):
    """Training and validation objective per epoch of a fitted autoencoder.

    Parameters
    ----------
    estimator : SpectralAutoencoder
        A fitted autoencoder.
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
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.plotting import plot_training_history
    >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(40, 32))
    >>> ae = SpectralAutoencoder(n_components=2, max_epochs=3, random_state=0).fit(X)
    >>> len(plot_training_history(ae).get_lines())
    1
    """
    check_is_fitted(estimator, "net_")
    history = estimator.history_
    if ax is None:
        _, ax = pyplot().subplots(figsize=(5, 3), layout="constrained")
    epochs = np.asarray(history[:, "epoch"])
    ax.plot(epochs, history[:, "train_loss"], label="training")
    if "valid_loss" in history[-1]:
        ax.plot(epochs, history[:, "valid_loss"], label="validation")
        ax.axvline(estimator.best_epoch_, color="C7", ls=":", lw=1, label="weights kept")
    ax.set_xlabel("epoch")
    ax.set_ylabel("objective per spectrum")
    ax.set_yscale("log")
    ax.set_title(f"{estimator.n_iter_} epochs", fontsize="medium")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_reconstructions(
    estimator,
    X,
    *,
    wavelength=None,
    n_examples: int = 3,
    reconstructions=None,
    titles=None,
    axes=None,
):
    """Spectra, their reconstructions and the residuals.

    Parameters
    ----------
    estimator : fitted transformer or None
        Anything with ``transform`` and ``inverse_transform``, such as a
        :class:`~skspecrep.SpectralAutoencoder`; None when
        ``reconstructions`` are given.
    X : array-like of shape (n_samples, n_features)
        Spectra; the first ``n_examples`` rows are shown.
    wavelength : array-like of shape (n_features,), default=None
        Wavelength of each pixel for the x axis; pixel index if None.
    n_examples : int, default=3
        Spectra to show, one panel each.
    reconstructions : array-like of shape (n_examples, n_features), default=None
        The reconstructions of the rows shown, when already computed (as
        :func:`~skspecrep.inspection.analyse` keeps them): the estimator is
        then not called.
    titles : sequence of str, default=None
        A title per panel; None titles each "example i" with its mean
        absolute residual.
    axes : array of matplotlib Axes, default=None
        One per example; a new column of panels if None.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        One per example.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.plotting import plot_reconstructions
    >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(40, 32))
    >>> axes = plot_reconstructions(PCA(n_components=2).fit(X), X, n_examples=2)
    >>> len(axes)
    2
    """
    if getattr(X, "ndim", None) != 2:
        X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < n_examples or n_examples < 1:
        raise ValueError(
            f"X must be 2-D with at least n_examples={n_examples} >= 1 rows; got shape {X.shape}."
        )
    # Only the spectra shown are read: X may be a large array on disk.
    X = np.asarray(X[:n_examples], dtype=np.float64)
    if reconstructions is None:
        if estimator is None:
            raise ValueError("Pass a fitted estimator or the reconstructions of the rows shown.")
        recon = np.asarray(estimator.inverse_transform(estimator.transform(X)), dtype=np.float64)
    else:
        recon = np.asarray(reconstructions, dtype=np.float64)
        if recon.shape != X.shape:
            raise ValueError(
                f"reconstructions have shape {recon.shape}; the {n_examples} spectra "
                f"shown have {X.shape}."
            )
    if titles is not None and len(titles) != n_examples:
        raise ValueError(f"titles has {len(titles)} entries for {n_examples} panels.")
    x, xlabel = _pixel_axis(wavelength, X.shape[1])
    axes = _panels(axes, n_examples, (8.0, 2.2), column=True, per="example")
    for i, ax in enumerate(axes):
        ax.plot(x, X[i], color="C7", lw=0.7, label="spectrum")
        ax.plot(x, recon[i], color="C0", lw=0.8, label="reconstruction")
        residual = X[i] - recon[i]
        ax.plot(
            x,
            residual + np.min(X[i]) - 3 * np.std(residual),
            color="C3",
            lw=0.5,
            label="residual (offset)",
        )
        ax.set_ylabel("flux")
        title = f"example {i}: mean |residual| {np.abs(residual).mean():.4f}"
        ax.set_title(title if titles is None else titles[i], fontsize="medium")
    axes[0].legend(fontsize="small", frameon=False, ncols=3)
    axes[-1].set_xlabel(xlabel)
    return axes


def plot_pairwise_mi(selector, *, ax=None):
    """Mutual information between the selected latents: are they independent?

    Parameters
    ----------
    selector : InformativeDimensionSelector
        A fitted selector; its ``pairwise_mi_`` is shown, with the pairs
        above ``redundancy`` outlined (they count once in ``n_independent_``).
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
    >>> from skspecrep.plotting import plot_pairwise_mi
    >>> z = np.random.RandomState(0).normal(size=(500, 2))
    >>> Z = np.column_stack([z, z[:, 0] + 0.1 * z[:, 1]])
    >>> ax = plot_pairwise_mi(InformativeDimensionSelector().fit(Z))
    >>> ax.get_title()
    '2 independent of 3 informative'
    """
    check_is_fitted(selector)
    mi = selector.pairwise_mi_
    index = np.flatnonzero(selector.get_support())
    if ax is None:
        size = max(3.0, 0.4 * len(index) + 1.5)
        _, ax = pyplot().subplots(figsize=(size + 0.8, size), layout="constrained")
    image = ax.imshow(mi, cmap="magma", vmin=0, vmax=max(float(mi.max()), selector.redundancy))
    for i, j in zip(*np.nonzero(np.triu(mi > selector.redundancy, 1))):
        for a, b in ((i, j), (j, i)):
            ax.add_patch(pyplot().Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, ec="C2", lw=2))
    ticks = [f"z{k}" for k in index]
    ax.set_xticks(range(len(index)), ticks, rotation=90)
    ax.set_yticks(range(len(index)), ticks)
    ax.figure.colorbar(image, ax=ax, label="MI (nats)")
    ax.set_title(f"{selector.n_independent_} independent of {len(index)} informative")
    return ax


def plot_latent_traversal(traversal, *, wavelength=None, axes=None):
    """What each latent changes: decoded spectra minus the typical one.

    Parameters
    ----------
    traversal : Bunch
        The result of :func:`skspecrep.inspection.latent_traversal`.
    wavelength : array-like of shape (n_features,), default=None
        Wavelength of each pixel for the x axis; pixel index if None.
    axes : array of matplotlib Axes, default=None
        One per traversed latent; a new column of panels if None.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        One per traversed latent; the colour of each curve runs from the
        lowest value of the latent (dark) to the highest (light).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.inspection import latent_traversal
    >>> from skspecrep.plotting import plot_latent_traversal
    >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(40, 32))
    >>> t = latent_traversal(PCA(n_components=2).fit(X), X, n_steps=4)
    >>> axes = plot_latent_traversal(t)
    >>> len(axes[0].get_lines())
    4
    """
    spectra = np.asarray(traversal["spectra"])
    x, xlabel = _pixel_axis(wavelength, spectra.shape[2])
    axes = _panels(axes, len(traversal["latents"]), (8.0, 1.8), column=True, per="latent")
    colours = pyplot().get_cmap("viridis")(np.linspace(0, 0.9, spectra.shape[1]))
    for ax, k, curves, values, amp in zip(
        axes, traversal["latents"], spectra, traversal["latent_values"], traversal["amplitude"]
    ):
        for curve, colour in zip(curves, colours):
            ax.plot(x, curve - traversal["reference_spectrum"], color=colour, lw=0.7)
        ax.set_ylabel("Δ flux")
        ax.set_title(
            f"z{k} from {values[0]:.2f} to {values[-1]:.2f}: largest change {amp:.3g}",
            fontsize="medium",
        )
    axes[-1].set_xlabel(xlabel)
    return axes


def plot_seed_stability(result, *, ax=None):
    """How closely each seed reproduces each active latent of the reference model.

    A heat map of the absolute Spearman correlation between each active latent of the reference
    model (columns) and its matched latent in each model (rows), annotated,
    with the label each match tracks when the result has labels.

    Parameters
    ----------
    result : Bunch
        What :func:`~skspecrep.inspection.seed_stability` returned.
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
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.inspection import seed_stability
    >>> from skspecrep.plotting import plot_seed_stability
    >>> X = np.random.RandomState(0).normal(size=(200, 10)) * np.arange(1, 11)
    >>> result = seed_stability(PCA(3, svd_solver="randomized"), X, n_seeds=3, random_state=0)
    >>> plot_seed_stability(result).get_title()
    'latents of model 0 reproduced by each seed (|Spearman rho| of the match)'
    """
    rho = np.asarray(result.match_rho)
    latents = np.asarray(result.latents["latent"])
    if ax is None:
        n_models, n_latents = rho.shape
        _, ax = pyplot().subplots(
            figsize=(1.2 + 0.75 * max(n_latents, 2), 1.0 + 0.45 * n_models), layout="constrained"
        )
    if not len(latents):
        # An empty image has no extent: matplotlib warns and draws nothing useful.
        ax.text(0.5, 0.5, "the reference model has no active latent", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return ax
    image = ax.imshow(rho, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    tracks = result.label_tracks
    for m in range(rho.shape[0]):
        for k, latent in enumerate(latents):
            text = f"{rho[m, k]:.2f}"
            if tracks is not None:
                row = tracks[(tracks["model"] == m) & (tracks["latent"] == latent)]
                if len(row) and row["label"].iloc[0] is not None:
                    text += f"\n{row['label'].iloc[0]}"
            ax.text(k, m, text, ha="center", va="center", fontsize="x-small",
                    color="white" if rho[m, k] < 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(len(latents)), [f"z{j}" for j in latents])
    ax.set_yticks(
        range(rho.shape[0]),
        [f"{m}{' (ref.)' if m == result.reference else ''}" for m in range(rho.shape[0])],
    )
    ax.set_xlabel("active latent of the reference model")
    ax.set_ylabel("model (seed)")
    ax.set_title(
        f"latents of model {result.reference} reproduced by each seed "
        "(|Spearman rho| of the match)",
        fontsize="medium",
    )
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax
