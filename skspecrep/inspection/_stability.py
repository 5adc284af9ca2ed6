"""Which latents survive another random seed."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_is_fitted

from .._checks import check_labels
from .._constants import ACTIVE_KL
from .._rows import RowSource

__all__ = ["REPRODUCED_RHO", "seed_stability"]

#: A latent of the reference model is reproduced by another model when its
#: matched latent there has at least this |Spearman rho| with it.
REPRODUCED_RHO = 0.9


def seed_stability(
    estimator,
    X,
    y=None,
    *,
    n_seeds: int = 5,
    random_state=None,
    n_samples: int = 2000,
    n_jobs: int | None = None,
) -> Bunch:
    """Which latents survive another random seed: fit clones, match their latents, score them.

    A latent found by one training run is evidence only if runs from other
    seeds find it too: Locatello et al. (2019) showed that the seed changes
    disentanglement as much as the method does. This function fits
    ``n_seeds`` clones of ``estimator`` that differ only in their
    ``random_state`` (or takes models already fitted), encodes one shared
    sample of ``X`` with each, and compares their codes:

    - **Active latents**: those with ``component_kl_`` above 0.01 nats (all
      latents of a model without ``component_kl_``, such as PCA).
    - **Correlation**: absolute Spearman correlation ``|rho|`` between every active latent of one
      model and every active latent of another, on the shared sample.
    - **UDR** (Duan et al. 2020): for a pair of models, how one-to-one their
      correlation matrix is: for each latent, its largest ``|rho|`` squared over
      the sum of its ``|rho|``, averaged over both models' latents. 1 when
      each latent has exactly one partner. A model's score is the median
      over its partners, and ranks models without labels.
    - **Matching**: the reference model is the one of highest UDR; each of
      its active latents is matched to a latent of every other model by the
      Hungarian assignment on ``|rho|``, and counts as reproduced there when the
      match has ``|rho|`` of at least 0.9.
    - **Labels** (when ``y`` is given): for the reference latent and each of
      its matches, the label it tracks most (largest ``|rho|``), so
      that a latent found in every seed but tracking Teff in one and logg
      in another shows as such.
    - **Choice by labels** (when ``y`` is given): a few labels choose among
      the models, as Locatello et al. (2020) found 0.01-0.5 % of labelled
      points enough to. Each label is assigned a latent of its own in each
      model (Hungarian assignment on ``|rho|`` over the spectra whose label
      is known, active latents only), and a model's ``label_score`` is the
      mean ``|rho|`` of those pairs: high when every label has a latent that
      tracks it and no two labels share one. ``chosen`` is the best model.

    Parameters
    ----------
    estimator : estimator, or list of fitted estimators
        An estimator (a :class:`~skspecrep.SpectralAutoencoder`, or a
        Pipeline ending in one) to clone and fit once per seed; every
        parameter named ``random_state`` in it is set to the seed. A list
        of at least two fitted models is compared as it is.
    X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
        Spectra: the clones are fitted on all of them, and codes compared
        on a sample of ``n_samples`` of them.
    y : DataFrame or array-like of shape (n_samples, n_labels), default=None
        Known labels of the spectra (NaN where unknown), never used to
        fit: which label each matched latent tracks, and which model's
        latents match the labels best. Labels of a few percent of the
        spectra are enough to choose; every labelled spectrum is used for
        the choice (up to ``n_samples`` of them), not only the shared
        sample.
    n_seeds : int, default=5
        Clones to fit when ``estimator`` is not a list; at least 2.
    random_state : int, RandomState instance or None, default=None
        Draws the clones' seeds and the shared sample.
    n_samples : int, default=2000
        Spectra in the shared sample (all of them when there are fewer).
    n_jobs : int or None, default=None
        Clones fitted at once (joblib). Each fit uses all the threads torch
        gives it: on a small machine one at a time is fastest.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With keys:

        - ``estimators``: list of the fitted models;
        - ``seeds``: ndarray of their seeds (None for a list of models);
        - ``active``: list of bool arrays, each model's active latents;
        - ``udr``: ndarray of shape (n_models,), each model's UDR score;
        - ``reference``: index of the reference model (highest UDR);
        - ``matches``: ndarray of shape (n_models, n_reference_active), the
          latent matched to each active reference latent in each model
          (-1 where the model has fewer active latents);
        - ``match_rho``: ndarray of the same shape, the matches' ``|rho|``
          (1 for the reference itself, 0 where unmatched);
        - ``latents``: DataFrame, one row per active latent of the
          reference model: ``latent``, ``kl``, ``n_reproduced`` (models,
          the reference included, reproducing it), ``fraction_reproduced``,
          ``median_rho`` and ``worst_rho`` over the other models; with
          ``y`` also ``label`` (the label the matched latents track most
          often), ``label_agreement`` (models in which the match tracks
          it), ``label_rho_median``, ``label_rho_min`` and
          ``label_rho_max`` (``|rho|`` with that label over the models);
        - ``label_tracks``: with ``y``, DataFrame with one row per
          reference latent and model: ``latent``, ``model``, ``matched``,
          ``match_rho``, ``label``, ``label_rho``; None without labels.
        - ``label_score``: with ``y``, ndarray of shape (n_models,), the
          mean ``|rho|`` of each model's one-to-one label-latent pairs;
          its spread over the models is what the seed costs. None without
          labels.
        - ``label_assignment``: with ``y``, DataFrame with one row per
          model and label: ``model``, ``label``, ``latent`` (-1 when the
          model has fewer active latents than labels), ``rho`` and
          ``n_labelled``; None without labels.
        - ``chosen``: with ``y``, the index of the model of highest
          ``label_score``; None without labels.

    See Also
    --------
    skspecrep.InformativeDimensionSelector : Active latents of one model.

    References
    ----------
    Duan, S. et al. (2020). Unsupervised model selection for variational
    disentangled representation learning. ICLR.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skspecrep.inspection import seed_stability
    >>> rng = np.random.RandomState(0)
    >>> factors = rng.normal(size=(300, 2)) * [3.0, 1.0]
    >>> X = factors @ rng.normal(size=(2, 20)) + 0.01 * rng.normal(size=(300, 20))
    >>> pca = PCA(n_components=2, svd_solver="randomized")
    >>> result = seed_stability(pca, X, n_seeds=3, random_state=0)
    >>> result.latents[["latent", "n_reproduced", "worst_rho"]].round(2)
       latent  n_reproduced  worst_rho
    0       0             3        1.0
    1       1             3        1.0
    """
    # Labels are checked before any model is fitted.
    labels = None
    if y is not None:
        Y, names = check_labels(y, "seed_stability")
        labels = pd.DataFrame(Y, columns=names)
    if isinstance(estimator, (list, tuple)):
        models = list(estimator)
        if len(models) < 2:
            raise ValueError(
                f"seed_stability needs at least 2 models to compare; got {len(models)}."
            )
        for model in models:
            check_is_fitted(model)
        seeds = None
    else:
        if not isinstance(n_seeds, Integral) or n_seeds < 2:
            raise ValueError(f"n_seeds must be an integer of at least 2; got {n_seeds!r}.")
        seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=n_seeds)
        models = Parallel(n_jobs=n_jobs)(delayed(_fit_seeded)(estimator, X, seed) for seed in seeds)
    rng = check_random_state(random_state)
    source = RowSource(X)
    n = source.shape[0]
    rows = np.sort(rng.choice(n, size=min(n, n_samples), replace=False))
    sample = source.read(rows)
    codes = [np.asarray(model.transform(sample), dtype=np.float64) for model in models]
    active = [_active_latents(model, Z) for model, Z in zip(models, codes)]
    ranks = [
        np.apply_along_axis(rankdata, 0, Z[:, keep]) if keep.any() else np.zeros((len(Z), 0))
        for Z, keep in zip(codes, active)
    ]
    m = len(models)
    pair_scores = np.full((m, m), np.nan)
    rho = {}
    for i in range(m):
        for j in range(m):
            if i != j:
                rho[i, j] = _abs_rank_correlation(ranks[i], ranks[j])
                pair_scores[i, j] = _one_to_one(rho[i, j])
    udr = np.nanmedian(pair_scores, axis=1)
    reference = int(np.argmax(udr))
    ref_latents = np.flatnonzero(active[reference])
    matches = np.full((m, ref_latents.size), -1)
    match_rho = np.zeros((m, ref_latents.size))
    matches[reference], match_rho[reference] = ref_latents, 1.0
    for j in range(m):
        if j == reference or not ref_latents.size or not active[j].any():
            continue
        corr = rho[reference, j]
        a, b = linear_sum_assignment(corr, maximize=True)
        matches[j, a] = np.flatnonzero(active[j])[b]
        match_rho[j, a] = corr[a, b]
    others = np.arange(m) != reference
    kl = getattr(_final_step(models[reference]), "component_kl_", None)
    latents = pd.DataFrame(
        {
            "latent": ref_latents,
            "kl": np.nan if kl is None else np.asarray(kl)[ref_latents],
            "n_reproduced": (match_rho >= REPRODUCED_RHO).sum(axis=0),
            "fraction_reproduced": (match_rho >= REPRODUCED_RHO).mean(axis=0),
            "median_rho": np.median(match_rho[others], axis=0),
            "worst_rho": match_rho[others].min(axis=0),
        }
    )
    tracks = assignment = label_score = chosen = None
    if labels is not None:
        tracks = _label_tracks(labels, rows, n, codes, ref_latents, matches, match_rho)
        latents = latents.join(_label_summary(tracks, ref_latents))
        assignment = _label_assignment(models, source, labels, n_samples, rng)
        label_score = assignment.groupby("model")["rho"].mean().reindex(range(m)).to_numpy()
        chosen = int(np.nanargmax(label_score)) if np.isfinite(label_score).any() else None
    return Bunch(
        estimators=models,
        seeds=seeds,
        active=active,
        udr=udr,
        reference=reference,
        matches=matches,
        match_rho=match_rho,
        latents=latents,
        label_tracks=tracks,
        label_score=label_score,
        label_assignment=assignment,
        chosen=chosen,
    )


def _label_assignment(models, source, labels, n_samples, rng) -> pd.DataFrame:
    """Each label's own latent in each model, on the labelled spectra, and its |rho|."""
    known = labels.notna().to_numpy()
    rows = np.flatnonzero(known.any(axis=1))
    if rows.size > n_samples:
        rows = np.sort(rng.choice(rows, size=n_samples, replace=False))
    sample, known = source.read(rows), known[rows]
    values = labels.to_numpy()[rows]
    records = []
    for m, model in enumerate(models):
        Z = np.asarray(model.transform(sample), dtype=np.float64)
        active = np.flatnonzero(_active_latents(model, Z))
        corr = np.zeros((labels.shape[1], active.size))
        for k in range(labels.shape[1]):
            have = known[:, k]
            if have.sum() >= 3 and active.size:
                corr[k] = _abs_rank_correlation(
                    rankdata(values[have, k])[:, None],
                    np.apply_along_axis(rankdata, 0, Z[have][:, active]),
                )[0]
        assigned, rho = np.full(labels.shape[1], -1), np.zeros(labels.shape[1])
        a, b = linear_sum_assignment(corr, maximize=True)
        assigned[a], rho[a] = active[b], corr[a, b]
        for k, name in enumerate(labels.columns):
            records.append(
                {
                    "model": m,
                    "label": name,
                    "latent": int(assigned[k]),
                    "rho": float(rho[k]),
                    "n_labelled": int(known[:, k].sum()),
                }
            )
    return pd.DataFrame.from_records(records)


def _fit_seeded(estimator, X, seed):
    model = clone(estimator)
    names = [k for k in model.get_params(deep=True) if k.split("__")[-1] == "random_state"]
    if not names:
        raise ValueError(
            f"{type(estimator).__name__} has no random_state parameter: its clones "
            "would not differ. Pass a list of fitted models instead."
        )
    model.set_params(**dict.fromkeys(names, int(seed)))
    return model.fit(X)


def _final_step(model):
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _active_latents(model, Z) -> np.ndarray:
    kl = getattr(_final_step(model), "component_kl_", None)
    if kl is None or len(kl) != Z.shape[1]:
        return np.ptp(Z, axis=0) > 0
    return np.asarray(kl) > ACTIVE_KL


def _abs_rank_correlation(ranks_a, ranks_b) -> np.ndarray:
    """|Spearman rho| between the columns of two rank matrices."""
    if not ranks_a.shape[1] or not ranks_b.shape[1]:
        return np.zeros((ranks_a.shape[1], ranks_b.shape[1]))
    a = ranks_a - ranks_a.mean(axis=0)
    b = ranks_b - ranks_b.mean(axis=0)
    norm_a, norm_b = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a.T @ b) / np.outer(norm_a, norm_b)
    return np.nan_to_num(np.abs(corr))


def _one_to_one(corr) -> float:
    """UDR's score of one correlation matrix: 1 when it is a permutation."""
    if corr.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = np.nan_to_num(corr.max(axis=1) ** 2 / corr.sum(axis=1))
        cols = np.nan_to_num(corr.max(axis=0) ** 2 / corr.sum(axis=0))
    return float(0.5 * (rows.mean() + cols.mean()))


def _label_tracks(labels, rows, n, codes, ref_latents, matches, match_rho) -> pd.DataFrame:
    if len(labels) != n:
        raise ValueError(f"y has {len(labels)} rows but X has {n} spectra.")
    labels = labels.iloc[rows].reset_index(drop=True)
    records = []
    for m, Z in enumerate(codes):
        for k, latent in enumerate(ref_latents):
            j = matches[m, k]
            best, best_rho = None, np.nan
            if j >= 0:
                corr = labels.corrwith(pd.Series(Z[:, j], index=labels.index), method="spearman")
                corr = corr.abs().dropna()
                if len(corr):
                    best, best_rho = corr.idxmax(), float(corr.max())
            records.append(
                {
                    "latent": int(latent),
                    "model": m,
                    "matched": int(j),
                    "match_rho": float(match_rho[m, k]),
                    "label": best,
                    "label_rho": best_rho,
                }
            )
    return pd.DataFrame.from_records(records)


def _label_summary(tracks: pd.DataFrame, ref_latents) -> pd.DataFrame:
    rows = []
    for latent in ref_latents:
        mine = tracks[tracks["latent"] == latent]
        found = mine["label"].dropna()
        if found.empty:
            rows.append({"label": None, "label_agreement": 0})
            continue
        label = found.value_counts().idxmax()
        agree = mine[mine["label"] == label]["label_rho"]
        rows.append(
            {
                "label": label,
                "label_agreement": int(len(agree)),
                "label_rho_median": float(agree.median()),
                "label_rho_min": float(agree.min()),
                "label_rho_max": float(agree.max()),
            }
        )
    return pd.DataFrame(rows)
