"""One analysis of a fitted model on a set of spectra, computed once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array, check_is_fitted

from .._checks import check_labels, check_wavelength_grid
from .._correlation import LatentCorrelationScorer
from .._rows import is_on_disk
from .._selection import InformativeDimensionSelector
from .._typicality import AUTO_THRESHOLD
from ._traversal import latent_traversal
from ._unusual import unusual_spectra

__all__ = ["Analysis", "analyse"]

#: Values per latent in the explorer's traversal: enough for a slider to move
#: smoothly, while 16 latents of 18,000 pixels stay at about 2 MB embedded.
EXPLORER_STEPS = 21


@dataclass(frozen=True, eq=False)
class Analysis:
    """What :func:`analyse` found: every number and array a report shows.

    Everything here was computed once, by :func:`analyse`; reading it, printing
    it or rendering it (:func:`skspecrep.report.write_report`) runs no model
    and fits nothing.

    Attributes
    ----------
    estimator : fitted transformer
        The model analysed.
    n_spectra, n_pixels : int
        Shape of the spectra analysed.
    codes : ndarray of shape (n_spectra, n_components)
        Their codes (posterior means for an autoencoder).
    log_var : ndarray of shape (n_spectra, n_components) or None
        Posterior log-variances, when the model has them.
    selector : InformativeDimensionSelector
        Fitted on the codes: which latents are informative and independent.
    labels : DataFrame of shape (n_spectra, n_labels) or None
        The labels given, one column each, NaN where unknown.
    scorer : LatentCorrelationScorer or None
        Fitted on the codes and labels; None without labels, or when no
        latent is informative (collapsed latents are not ranked).
    scored : ndarray of bool, shape (n_components,)
        The latents the scorer holds, in its column order.
    stability : Bunch or None
        What :func:`seed_stability` returned, when given.
    traversal : Bunch
        What :func:`latent_traversal` returned for the informative latents
        (every latent when none is).
    explorer : Bunch
        The same latents traversed on a finer grid, 21 values from the 1st to
        the 99th percentile: the decodings behind the report's interactive
        latent explorer.
    examples : Bunch
        ``index`` (rows shown), ``spectra`` and ``reconstructions``, each of
        shape (n_examples, n_pixels): the spectra drawn beside their
        reconstructions.
    wavelength : ndarray of shape (n_pixels,) or None
        Wavelength of each pixel, for the spectral figures.
    latent_table : DataFrame
        One row per latent: KL, MAD, selected by each criterion, traversal
        amplitude.
    unusual : Bunch or None
        For an autoencoder that can score spectra
        (:meth:`~skspecrep.SpectralAutoencoder.score_samples`): ``table``,
        what :func:`unusual_spectra` returned for every spectrum (most
        unusual first), and ``index``, ``spectra``, ``reconstructions`` of
        the ``n_unusual`` most unusual ones. None otherwise, and for
        ``loss="chi2"`` without ``ivar``, whose scores need each pixel's
        noise.
    summary : dict
        The numbers in plain Python types: counts, thresholds, training
        facts, best latent per label with MI and uncertainty, MIG, seed
        stability. ``summary.json`` of the report.

    See Also
    --------
    analyse : Compute one.
    skspecrep.report.write_report : Render one as a report.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.datasets import make_stellar_spectra
    >>> from skspecrep.inspection import analyse
    >>> X, labels, wave = make_stellar_spectra(300, n_pixels=256, random_state=0)
    >>> analysis = analyse(PCA(n_components=4).fit(X), X, labels[["teff"]], random_state=0)
    >>> analysis.summary["n_informative"], analysis.summary["labels"]["teff"]["best_latent"]
    (4, 'z2')
    """

    estimator: object
    n_spectra: int
    n_pixels: int
    codes: np.ndarray
    log_var: np.ndarray | None
    selector: InformativeDimensionSelector
    labels: pd.DataFrame | None
    scorer: LatentCorrelationScorer | None
    scored: np.ndarray
    stability: Bunch | None
    traversal: Bunch
    explorer: Bunch
    examples: Bunch
    wavelength: np.ndarray | None
    latent_table: pd.DataFrame
    unusual: Bunch | None
    summary: dict

    @property
    def component_names(self) -> list[str]:
        """``["z0", "z1", ...]``: one name per latent."""
        return [f"z{j}" for j in range(self.codes.shape[1])]

    def __repr__(self) -> str:
        s = self.summary
        labels = "" if self.labels is None else f", labels={list(self.labels.columns)}"
        return (
            f"Analysis({s['estimator']}, {s['n_spectra']} spectra x {s['n_pixels']} pixels, "
            f"{s['n_informative']} of {s['n_components']} latents informative, "
            f"{s['n_independent']} independent{labels})"
        )


def analyse(
    estimator,
    X,
    y=None,
    *,
    codes=None,
    ivar=None,
    wavelength=None,
    selector: InformativeDimensionSelector | None = None,
    scorer: LatentCorrelationScorer | None = None,
    stability: Bunch | None = None,
    n_examples: int = 3,
    n_unusual: int = 3,
    random_state=None,
) -> Analysis:
    """Analyse a fitted model on a set of spectra, once, for printing or a report.

    The questions of a run, answered in one pass over ``X`` (or none, when
    its ``codes`` are given): how many latents are informative by the MAD
    and KL criteria, and which are independent
    (:class:`~skspecrep.InformativeDimensionSelector`); how much each
    informative latent tells about each label, at every binning of Sedaghat
    et al. (2021) (:class:`~skspecrep.LatentCorrelationScorer`); what each
    informative latent changes in a spectrum (:func:`latent_traversal`); and
    how the first spectra are reconstructed; and which spectra are the most
    unusual (:func:`unusual_spectra`, a second pass over ``X`` that decodes
    every spectrum).

    Parameters
    ----------
    estimator : SpectralAutoencoder
        A fitted autoencoder. Any fitted transformer with ``transform`` and
        ``inverse_transform`` (e.g. PCA) works too, without the training and
        KL parts.
    X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
        Spectra to analyse. On-disk arrays are never loaded whole: they are
        encoded a batch at a time (not at all when ``codes`` are given), and
        only the ``n_examples`` spectra shown are read.
    y : array-like or DataFrame of shape (n_samples, n_labels), default=None
        Known labels of the spectra (NaN where unknown); None leaves the
        label parts out.
    codes : array-like of shape (n_samples, n_components) or tuple, default=None
        The codes of ``X`` when they were already computed: the posterior
        means (``estimator.transform(X)``), or the pair ``(mean, log_var)``
        that :meth:`SpectralAutoencoder.encode
        <skspecrep.SpectralAutoencoder.encode>` returns. None encodes ``X``
        here, once.
    ivar : array-like of shape (n_samples, n_features), default=None
        Inverse variances of ``X``, for ranking the unusual spectra of an
        autoencoder trained with ``loss="chi2"`` (its residuals are
        measured in units of the noise); without them that ranking is
        skipped. Other models ignore it.
    wavelength : array-like of shape (n_features,), default=None
        Wavelength of each pixel, kept for the spectral figures.
    selector : InformativeDimensionSelector, default=None
        A selector fitted on these codes; None fits one (by KL when the
        posterior variances are known, else by MAD).
    scorer : LatentCorrelationScorer, default=None
        A scorer fitted on these codes (all latents, or the informative ones)
        and labels; None fits one on the informative latents when ``y`` is
        given, and none when no latent is informative: a collapsed latent's
        tiny variations can still rank-correlate with a label.
    stability : Bunch, default=None
        What :func:`seed_stability` returned for models like this one; kept
        for the report and summarised in ``summary["stability"]``.
    n_examples : int, default=3
        Spectra kept with their reconstructions, the first rows of ``X``.
    n_unusual : int, default=3
        The most unusual spectra kept with their reconstructions (all are
        ranked in ``unusual.table``); 0 skips the ranking.
    random_state : int, RandomState instance or None, default=None
        Seeds the scorer's bootstrap when it is fitted here.

    Returns
    -------
    analysis : Analysis
        The selector, scorer, traversal, examples, latent table and summary.

    See Also
    --------
    skspecrep.report.write_report : Render the analysis as a report.

    Examples
    --------
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.datasets import make_stellar_spectra
    >>> from skspecrep.inspection import analyse
    >>> X, labels, wave = make_stellar_spectra(200, n_pixels=128, random_state=0)
    >>> ae = SpectralAutoencoder(n_components=4, max_epochs=2, random_state=0).fit(X)
    >>> analysis = analyse(ae, X, labels[["teff", "logg"]], random_state=0)
    >>> analysis.codes.shape, analysis.examples.reconstructions.shape
    ((200, 4), (3, 128))
    >>> sorted(analysis.latent_table.columns)[:3]
    ['informative_kl', 'informative_mad', 'kl']
    """
    check_is_fitted(estimator)
    if not is_on_disk(X):
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    elif len(X.shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    if not isinstance(n_examples, Integral) or n_examples < 1:
        raise ValueError(f"n_examples must be a positive integer; got {n_examples!r}.")
    if not isinstance(n_unusual, Integral) or n_unusual < 0:
        raise ValueError(f"n_unusual must be a non-negative integer; got {n_unusual!r}.")
    if X.shape[0] < max(n_examples, 4):
        raise ValueError(
            f"The analysis needs at least {max(n_examples, 4)} spectra; X has {X.shape[0]}."
        )
    if wavelength is not None:
        wavelength = check_wavelength_grid(wavelength, "wavelength", size=X.shape[1])
    is_autoencoder = hasattr(estimator, "encode") and hasattr(estimator, "history_")

    Z, log_var = _codes(estimator, X, codes, is_autoencoder)
    names = [f"z{j}" for j in range(Z.shape[1])]
    if selector is None:
        criterion = "mad" if log_var is None else "kl"
        selector = InformativeDimensionSelector(criterion=criterion).fit(Z, log_var=log_var)
    support = selector.get_support()
    labels = None
    if y is not None:
        Y, label_names = check_labels(y, "analyse")
        if len(Y) != len(Z):
            raise ValueError(f"y has {len(Y)} rows but X has {len(Z)} spectra.")
        labels = pd.DataFrame(Y, columns=label_names)
        if scorer is None and support.any():
            scorer = LatentCorrelationScorer(random_state=random_state)
            scorer.fit(pd.DataFrame(Z[:, support], columns=np.array(names)[support]), labels)
    else:
        scorer = None
    scored = np.zeros(Z.shape[1], dtype=bool)
    if scorer is not None:
        # A scorer given by the caller may hold every latent or the informative ones.
        scored = np.ones_like(support) if scorer.n_features_in_ == Z.shape[1] else support.copy()

    traversed = np.flatnonzero(support) if support.any() else np.arange(Z.shape[1])
    traversal = latent_traversal(estimator, latents=traversed, codes=Z)
    explorer = latent_traversal(
        estimator, latents=traversed, codes=Z, n_steps=EXPLORER_STEPS, quantiles=(0.01, 0.99)
    )
    # Only the spectra shown are read: X may be a large array on disk.
    shown = np.asarray(X[:n_examples], dtype=np.float64)
    examples = Bunch(
        index=np.arange(n_examples),
        spectra=shown,
        reconstructions=np.asarray(estimator.inverse_transform(Z[:n_examples]), dtype=np.float64),
    )

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
    unusual = _unusual(estimator, X, ivar, Z, wavelength, n_unusual)
    summary = _summary(estimator, X.shape, selector, scorer, stability, is_autoencoder, names)
    if unusual is not None:
        summary["unusual"] = _unusual_summary(unusual.table, n_unusual)
    return Analysis(
        estimator=estimator,
        n_spectra=int(X.shape[0]),
        n_pixels=int(X.shape[1]),
        codes=Z,
        log_var=log_var,
        selector=selector,
        labels=labels,
        scorer=scorer,
        scored=scored,
        stability=stability,
        traversal=traversal,
        explorer=explorer,
        examples=examples,
        wavelength=wavelength,
        latent_table=latent_table,
        unusual=unusual,
        summary=summary,
    )


def _unusual(estimator, X, ivar, codes, wavelength, n_shown) -> Bunch | None:
    """The ranking of every spectrum and the most unusual ones with their drawings."""
    if not n_shown or getattr(estimator, "typicality_reference_", None) is None:
        return None
    chi2 = getattr(estimator, "loss", None) == "chi2"
    if chi2 and ivar is None:
        return None  # its residuals are measured in noise units: they need ivar
    table = unusual_spectra(estimator, X, ivar=ivar if chi2 else None, wavelength=wavelength)
    index = table.index.to_numpy()[:n_shown]
    # On-disk arrays are read in increasing row order (h5py needs it).
    rows = np.sort(index)
    spectra = np.asarray(X[rows], dtype=np.float64)[np.searchsorted(rows, index)]
    return Bunch(
        table=table,
        index=index,
        spectra=spectra,
        reconstructions=np.asarray(estimator.inverse_transform(codes[index]), dtype=np.float64),
    )


def _unusual_summary(table: pd.DataFrame, n_shown: int) -> dict:
    columns = ["score", "part", "peak_pixel"] + (
        ["peak_wavelength"] if "peak_wavelength" in table else []
    )
    top = table.iloc[:n_shown][columns].reset_index(names="row")
    return {
        "threshold": -AUTO_THRESHOLD,
        "n_beyond_threshold": int((table["score"] < -AUTO_THRESHOLD).sum()),
        "most_unusual": json.loads(top.to_json(orient="records")),
    }


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


def _summary(estimator, shape, selector, scorer, stability, is_autoencoder, names) -> dict:
    summary = {
        "estimator": type(estimator).__name__,
        "n_spectra": int(shape[0]),
        "n_pixels": int(shape[1]),
        "n_components": len(names),
        "selection_criterion": selector.criterion,
        "n_informative": int(selector.get_support().sum()),
        "n_informative_mad": int(selector.mad_support_.sum()),
        "mad_threshold": float(selector.mad_threshold_),
        "n_independent": int(selector.n_independent_),
        "independent_groups": [[names[j] for j in g] for g in selector.groups_],
    }
    if selector.kl_ is not None:
        summary["n_informative_kl"] = int(selector.kl_support_.sum())
        summary["kl_threshold"] = float(selector.kl_threshold_)
        summary["criteria_agree"] = bool(selector.criteria_agree_)
    if is_autoencoder:
        summary["n_epochs"] = int(estimator.n_iter_)
        summary["best_epoch"] = int(estimator.best_epoch_)
        summary["final_train_loss"] = float(estimator.history_[-1, "train_loss"])
        summary["warnings"] = [str(w) for w in getattr(estimator, "fit_warnings_", [])]
        for key in ("reconstruction_error", "pca_reconstruction_error"):
            value = getattr(estimator, key + "_", float("nan"))
            summary[key] = None if np.isnan(value) else float(value)
        if getattr(estimator, "velocity_latent_", None) is not None:
            summary["velocity_latent"] = f"z{estimator.velocity_latent_}"
            summary["velocity_scale_kms"] = float(estimator.velocity_scale_)
        if getattr(estimator, "label_latents_", None) is not None:
            summary["labelled_latents"] = {
                str(name): {"latent": f"z{latent}", "error": float(error)}
                for name, latent, error in zip(
                    estimator.label_names_, estimator.label_latents_, estimator.label_error_
                )
            }
    if scorer is not None:
        summary["labels"] = _label_summary(scorer, names)
    if stability is not None:
        summary["stability"] = {
            "n_models": len(stability.estimators),
            "reference": int(stability.reference),
            "udr": [float(u) for u in stability.udr],
            "latents": json.loads(stability.latents.to_json(orient="records")),
        }
        if stability.get("label_score") is not None:
            summary["stability"]["label_score"] = [float(v) for v in stability.label_score]
            summary["stability"]["chosen_by_labels"] = stability.chosen
    return summary


def _label_summary(scorer, names) -> dict:
    latent_names = list(scorer.feature_names_in_) if hasattr(scorer, "feature_names_in_") else names
    labels = {}
    for m, label in enumerate(scorer.label_names_):
        j = int(scorer.best_latent_[m])
        labels[str(label)] = {
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
    return labels
