"""SpectralAutoencoder: a convolutional beta-VAE as a scikit-learn transformer."""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real
from typing import Literal

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _inference as inference
from . import _typicality as typicality
from ._nn import velocity_scale
from ._rows import RowSource, is_on_disk, warn_if_chunked_for_shuffling
from ._training import calibrate_labels, compare_with_pca, diagnose, make_plan, run_training
from .exceptions import TrainingInterruptedWarning, WarmStartError

# component_kl_ is a mean over the training spectra: past this many, over a
# random sample of them. Its standard error is then about 1% of an active
# latent's KL, and a pass over all of a large archive would cost as long as
# encoding it (1.5 hours for the paper's 270,000 spectra on 2 CPU cores).
_KL_SAMPLE = 8192


class SpectralAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Convolutional variational autoencoder for 1-D spectra.

    Learns a compact code of a set of spectra by reconstruction, with weak
    disentanglement at the bottleneck from a beta-VAE KL term, as in Sedaghat
    et al. (2021, MNRAS 501, 6026). ``transform`` returns each spectrum's
    posterior mean code; ``inverse_transform`` decodes codes back to spectra.
    The network is PyTorch, trained through skorch; the fitted skorch net is
    ``net_``.

    The training objective of a spectrum is its reconstruction error (the
    weighted mean over pixels of ``loss``) plus ``beta`` times the KL
    divergence of its posterior from N(0, I), summed over latents. The
    decoder sees a reparameterised sample ``mu + sigma * eps`` during
    training. The KL weight warms up linearly from 0 to ``beta`` over
    ``kl_warmup`` epochs.

    Parameters
    ----------
    n_components : int, default=16
        Width of the bottleneck (number of latents).

    architecture : {"auto", "dense", "sedaghat2021"} or dict, default="auto"
        Encoder layer table and decoder.

        - ``"auto"``: an encoder sized from the number of pixels, following
          the paper's pattern (kernels 7, 5, 5 then 3; channels doubling every
          third layer from 16 up to 256; stride-2 layers until the code length
          is at most 32, at most 14 of them; a final stride-1 layer), and a
          decoder of transposed convolutions mirroring it, as the paper's.
          Works from 1 pixel up; lengths that are not a multiple of the
          total stride are zero-padded internally.
        - ``"dense"``: the same encoder and a dense decoder (fully connected
          layers of 64 and 256 units, then one to every pixel), which can
          draw a line of any shape at any pixel. With ``virtual_rv`` it draws
          4 sub-pixels per pixel (fewer past 6,450 pixels, 2 past 12,900), which the
          velocity latent shifts before they are averaged onto the pixels,
          so that lines one or two pixels wide keep their shape at any
          fraction of a pixel's shift. For real high-resolution spectra: on
          real HARPS stars at 10 km/s per pixel the transposed convolutions
          reconstructed with 2.7 times PCA's error, the dense decoder with
          0.8-0.9 times; on the synthetic recovery benchmark it
          reconstructs 20-45 % better but holds Teff and [M/H] less clearly
          in single latents (``benchmarks/real_spectra.py`` and
          ``benchmarks/recovery.py`` record both). Its weights decay
          (decoupled weight decay, 1.0 per unit learning rate), so that
          different stars' drawings stay in one frame and the velocity
          latent has one zero point for all of them.
        - ``"sedaghat2021"``: the paper's network layer for layer (15 encoder
          layers, 7,046,997 parameters at ``n_components=128``). Requires
          spectra of exactly 327,680 pixels, the paper's padded HARPS grid.
        - a dict with keys ``"channels"``, ``"kernel_sizes"`` (odd) and
          ``"strides"``, one entry per encoder layer, and optionally
          ``"decoder"`` (``"conv"``, the default, or ``"dense"``) and
          ``"oversample"`` (sub-pixels a dense decoder draws with
          ``virtual_rv``; default 1).

    beta : float, default=1e-4
        Weight of the KL term, summed over latents, against the
        reconstruction error in the units of ``X`` (the default suits
        median-normalised spectra). The paper averaged the KL over its 128
        latents with weight 0.3, which is ``beta=0.3 / 128`` here. Larger
        values collapse more latents to the prior; too large a value
        collapses them all (``component_kl_`` near 0 everywhere).

    decorrelation : float, default=0.0
        Weight of a penalty on the squared correlations between different
        latents' posterior means within each training batch (DIP-VAE-I's
        idea, on correlations so that it ignores the latents' scales), which
        pushes factors onto latents of their own. On the recovery benchmark
        (``benchmarks/recovery.py``: Doppler pairs, 3 seeds) ``3e-4`` put
        Teff and [M/H] on single latents that every seed reproduced and
        raised the mean MIG, but lost vsini and cost 3 % in reconstruction
        (on other synthetic lines it lost [M/H] instead); ``3e-3`` hurt
        every factor but radial velocity. It is computed over
        each micro-batch, so it needs batches of several dozen spectra: on
        large networks, where a batch is split into small micro-batches on
        the CPU, it estimates the correlations from those. 0 leaves it out.

    label_weight : float, default=0.0
        Weight of the labels passed as ``y`` to :meth:`fit`. Each label
        column is tied to a latent of its own (the first latents, after the
        velocity latent of Doppler pairs; ``label_latents_`` names them),
        and each training step adds ``label_weight`` times the mean, over
        the batch's spectra that know the label, of the squared difference
        between that latent's posterior mean and the standardised label, so
        that a few labels name latents while the unlabelled spectra still
        train everything else. The term is in the units of the
        reconstruction error per pixel, like ``beta``. 0 ignores ``y``, as
        a Pipeline needs (it passes ``y`` to every step).

    label_share : float, default=0.25
        Least share of each epoch's draws that go to spectra knowing at
        least one label, when ``label_weight > 0``. Where fewer spectra are
        labelled, they are drawn more often, with replacement, as a larger
        ``sample_weight`` would draw them (weights within each group keep
        their ratios). With 1 % of the spectra labelled, drawing them about
        a quarter of the time made their latents hold more of logg and
        [M/H] and cost less reconstruction than drawing them as often as
        the others (``benchmarks/recovery.py``). 0 draws them as often as
        the others.

    kl_warmup : tuple of (float, float), default=(1.0, 10.0)
        Epochs at which the KL weight starts rising from 0 and reaches
        ``beta``. Fractions of an epoch are allowed: the paper's 5,000 and
        20,000 iterations of batch 32 over 265,000 spectra are about
        ``(0.6, 2.4)``. ``(0, 0)`` applies ``beta`` from the start.

    loss : {"l1", "mse", "chi2"}, default="l1"
        Reconstruction error per pixel: absolute error (the paper's choice),
        squared error, or squared error weighted by each pixel's inverse
        variance (pass ``ivar`` to :meth:`fit` and :meth:`score`).

    pixel_mask : array-like of shape (n_features,), default=None
        Non-negative weight of each pixel in the reconstruction error. Pixels
        with weight 0 (pads, CCD gaps, bad columns) are ignored by the loss
        and set to 0 before encoding, so they cannot change the code or the
        loss. None weighs all pixels equally.

    wavelength : array-like of shape (n_features,), default=None
        Wavelength of each pixel (any unit; strictly increasing, uniform in
        log-wavelength or wavelength or neither), needed by ``virtual_rv``.

    virtual_rv : float or tuple of (float, float), default=None
        Train on Doppler pairs: each training spectrum is paired with a copy
        of itself shifted on the ``wavelength`` grid by a virtual radial
        velocity drawn uniformly from ``(-virtual_rv, virtual_rv)`` km/s (or
        from ``(low, high)``). The pair differs in one known factor, the
        velocity, and no label is used. Latent 0 becomes the velocity
        latent: the decoder draws the spectrum from the other latents and
        Doppler-shifts it by latent 0 times ``velocity_scale_`` km/s (the
        largest ``|v|`` of the range), as spender's decoder redshifts its
        rest-frame spectrum; the copy's code is the spectrum's code with
        latent 0 moved by the virtual velocity and every other latent
        shared. So latent 0 is the radial velocity up to an offset, linear
        over any range, and the other latents cannot hold it. Every training
        step costs two forward and backward passes. Pick a range at least as
        wide as the spread of the stars' radial velocities. None trains on
        single spectra.

    max_epochs : int or "auto", default="auto"
        Number of passes over the training data. ``"auto"`` trains at least
        50 epochs and at least 2,000 optimizer steps: a small archive needs more
        passes than a large one, because what a network learns grows with
        the steps it takes, not with the passes (300 real spectra, 50 epochs:
        500 steps and a worse reconstruction than PCA; see
        ``benchmarks/real_spectra.py``). From ``2,000 / 50 * batch_size``
        training spectra on (1,280 at the default batch size), ``"auto"`` is
        50 epochs.

    batch_size : int, default=32
        Spectra per optimizer step (the paper used 32).

    lr : float, default=1e-3
        Adam learning rate (the paper used 1e-4 over 1.5 M iterations).

    validation_fraction : float, default=None
        Fraction of the spectra held out to monitor the objective. When set,
        training stops after ``n_iter_no_change`` epochs without improvement
        of the validation objective and the weights of the best epoch are
        restored. None trains on all spectra for ``max_epochs`` epochs.

    n_iter_no_change : int or "auto", default="auto"
        Patience of early stopping, in epochs. ``"auto"`` is at least 10
        epochs and at least 400 optimizer steps: 10 epochs from 1,280
        training spectra up (at the default batch size), more below, where
        10 epochs of a few hundred spectra stopped real-spectra runs after
        a third of their steps (``benchmarks/real_files.py``).

    device : str, default="auto"
        Torch device: ``"auto"`` takes CUDA when available, else the CPU;
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. Other torch
        devices (``"meta"`` holds no weights) raise ``ValueError``.

    mixed_precision : {"no", "bf16"}, default="no"
        ``"bf16"`` runs the training forward pass under ``torch.autocast``
        in bfloat16: on GPUs with bfloat16 units (A100, H100) training is
        faster and takes less memory. Weights, optimizer state and the loss
        stay float32, and bfloat16 has float32's range, so no loss scaling
        is needed (float16 would need it, and is not offered). ``transform``
        and ``score`` always run in float32, so codes keep full precision.
        On CPUs without bfloat16 units it is usually slower.

    distributed : bool, default=False
        Train data-parallel through Hugging Face accelerate (``pip install
        accelerate``) when the script is started by a launcher such as
        ``accelerate launch --num_processes 2 script.py`` or ``torchrun``:
        each process (one per GPU, or CPU processes talking over gloo) trains
        on its share of every batch of ``batch_size`` spectra and the
        gradients are averaged, so every process ends with the model that one
        process would train on whole batches. ``batch_size`` must be a
        multiple of the number of processes. Started without a launcher, the
        same script trains in one process: nothing else changes.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, the validation split,
        reparameterised sampling and the sample drawn by :meth:`score`. Pass
        an int for reproducible results.

    verbose : int, default=0
        0 is silent; 1 shows a progress bar over epochs with the latest
        losses; 2 prints skorch's table of losses every epoch.

    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks. They are cloned before use, so the instances
        passed here are never modified.

    warm_start : bool, default=False
        When True, a further call to :meth:`fit` continues training the
        fitted network for ``max_epochs`` more epochs instead of starting
        anew. Every other parameter applies to the continued training as to
        a fresh fit (learning rate, batch size, early stopping, checkpoint,
        callbacks, verbosity, device...); early stopping keeps its best
        epoch while the validation split is the same and gives the
        continued run ``n_iter_no_change`` epochs to beat it. A change that
        needs another network (``n_components``, ``architecture``, ``loss``,
        ``pixel_mask``, ``distributed``, ``wavelength``, ``virtual_rv``, the
        pixel count) raises
        :class:`~skspecrep.exceptions.WarmStartError`.

    checkpoint : str, path-like or None, default=None
        File to which the whole training state (weights, optimizer, history,
        random state, early stopping) is written after every epoch. If the
        file exists when :meth:`fit` starts, training resumes from it and
        runs only the epochs still missing up to ``max_epochs``: a resumed
        run ends with the same weights as one never interrupted, and raising
        ``max_epochs`` extends a finished run (one that stopped early stays
        finished). A checkpoint written for another architecture,
        bottleneck, loss or data set raises
        :class:`~skspecrep.exceptions.CheckpointError` (a ``ValueError``)
        instead of being overwritten. The file is left in place after
        training.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the PyTorch
        :class:`torch.nn.Module`.

    history_ : skorch.History
        Per-epoch training record (``train_loss``, ``valid_loss``, ...).

    component_kl_ : ndarray of shape (n_components,)
        Mean KL divergence (nats) of each latent's posterior from the prior
        over the training spectra (over 8,192 of them drawn at random when
        there are more): the information each latent carries. Collapsed
        latents have values near 0.

    pixel_weight_ : ndarray of shape (n_pixels,)
        The pixel weights used by the loss.

    mean_ : ndarray of shape (n_pixels,)
        Mean training spectrum. The network encodes each spectrum's
        difference from it and adds it back when decoding, as PCA centres
        its input, so that capacity goes to how spectra differ.

    scale_ : float
        Root-mean-square difference of the training spectra from ``mean_``
        over unmasked pixels. The network sees differences divided by it, so
        that it works with values of order one whatever the flux units.

    architecture_ : dict
        The encoder layer table that was built.

    n_iter_ : int
        Number of complete epochs, over all calls to :meth:`fit` when
        ``warm_start`` is True and including those of a resumed checkpoint.
        An epoch cut short (Ctrl-C, a non-finite loss) is not counted and
        its updates are undone.

    best_epoch_ : int
        Epoch whose weights were kept: the best validation epoch with early
        stopping, otherwise the last complete one.

    stop_reason_ : {"max_epochs", "early_stopping", "interrupted", "non_finite_loss", "loaded"}
        Why training stopped: it ran ``max_epochs`` epochs; early stopping
        found no improvement for ``n_iter_no_change`` epochs; the user
        interrupted it (Ctrl-C), in which case :meth:`fit` returned with a
        :class:`~skspecrep.exceptions.TrainingInterruptedWarning`; or the
        loss became NaN or infinite, in which case :meth:`fit` raised
        :class:`~skspecrep.exceptions.NonFiniteLossError` after restoring
        the weights of the last complete epoch. ``"loaded"``: the weights
        were trained elsewhere (:func:`skspecrep.io.load_sedaghat2021`),
        so how that training ended is not known.

    fit_warnings_ : list of Warning
        What :meth:`fit` found wrong with the finished run, each also issued
        as a warning: :class:`~skspecrep.exceptions.PosteriorCollapseWarning`
        when every latent collapsed (the model learned only the mean
        spectrum), :class:`~skspecrep.exceptions.TrainingNotConvergedWarning`
        when ``max_epochs`` ended the run during the KL warm-up or while the
        objective was still falling steeply,
        :class:`~skspecrep.exceptions.WorseThanPCAWarning` when it
        reconstructs spectra worse than PCA of the same width. Empty for a
        healthy run. The report and the command line show them.

    reconstruction_error_ : float
        Mean absolute error per pixel (weighted by ``pixel_weight_``) of the
        network's reconstructions of a sample of spectra: up to 1,000
        validation spectra, or training spectra that the PCA below did not
        see when there is no validation split (fewer for very long spectra,
        to bound memory). NaN when there were too few spectra to compare.

    pca_reconstruction_error_ : float
        The same error for PCA with ``n_components`` components fitted on up
        to 2,000 other training spectra. When the network's error is larger,
        :meth:`fit` warns with
        :class:`~skspecrep.exceptions.WorseThanPCAWarning`.

    velocity_latent_ : int or None
        With Doppler pairs (``virtual_rv``), the latent that holds radial
        velocity (0); otherwise None.

    velocity_scale_ : float or None
        With ``velocity_latent_``: km/s per unit of that latent, so that
        ``codes[:, 0] * velocity_scale_`` is the radial velocity up to a
        constant offset (in ``c ln(1 + v / c)``, which is ``v`` to 1 part in
        10,000 at 30 km/s); otherwise None.

    label_names_ : ndarray of str of shape (n_labels,) or None
        With labels (``label_weight > 0`` and ``y``): each label's name (the
        DataFrame's column, else ``"label_0"``...); otherwise None.

    label_latents_ : ndarray of int of shape (n_labels,) or None
        The latent tied to each label; None without labels.

    label_intercept_, label_slope_ : ndarray of shape (n_labels,) or None
        Each labelled latent read as its label,
        ``intercept + slope * latent`` (:meth:`predict_labels`): a
        least-squares line over the labelled training spectra.

    label_error_ : ndarray of shape (n_labels,) or None
        Root-mean-square error of those lines on the labelled validation
        spectra (with ``validation_fraction`` and at least 5 of them per
        label), else on the labelled training spectra, which the network
        was fitted to and so reads optimistic.

    label_spread_ : ndarray of shape (n_labels,) or None
        Root-mean-square posterior standard deviation of each labelled
        latent over the spectra ``label_error_`` was measured on; see
        :meth:`predict_labels`.

    residual_scale_ : ndarray of shape (n_pixels,)
        Mean absolute residual (spectrum minus its reconstruction) at each
        pixel over up to 2,000 training spectra: where the network draws
        well and where it does not. :meth:`score_samples` measures residuals
        in these units.

    latent_density_ : dict or None
        A Gaussian mixture of the informative latents' posterior means over
        the same training spectra, as arrays (``"latents"``, ``"weights"``,
        ``"means"``, ``"precisions_cholesky"``), for :meth:`score_samples`.
        None when every latent collapsed.

    typicality_reference_ : dict
        Median (``"centre"``) and spread (``"spread"``, 1.4826 times the
        median absolute deviation) of each part of :meth:`score_samples`
        (reconstruction, peak, latent) over up to 1,000 reference spectra:
        validation spectra when there are some, else training spectra.

    n_features_in_ : int
        Number of pixels seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (n_pixels,)
        Pixel names seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.decomposition.PCA : The linear analogue.

    References
    ----------
    Sedaghat, N., Romaniello, M., Carrick, J. E., Pineau, F.-X. (2021).
    Machines learn to infer stellar parameters just by looking at a large
    number of spectra. MNRAS 501, 6026.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder
    >>> rng = np.random.RandomState(0)
    >>> depth = rng.uniform(0.1, 0.9, size=(64, 1))
    >>> pixels = np.linspace(-1, 1, 128)
    >>> X = 1 - depth * np.exp(-0.5 * (pixels / 0.1) ** 2)
    >>> ae = SpectralAutoencoder(n_components=2, max_epochs=5, random_state=0)
    >>> Z = ae.fit_transform(X)
    >>> Z.shape
    (64, 2)
    >>> ae.inverse_transform(Z).shape
    (64, 128)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"auto", "dense", "sedaghat2021"}), dict],
        "beta": [Interval(Real, 0, None, closed="left")],
        "decorrelation": [Interval(Real, 0, None, closed="left")],
        "label_weight": [Interval(Real, 0, None, closed="left")],
        "label_share": [Interval(Real, 0, 1, closed="left")],
        "kl_warmup": [tuple, list],
        "loss": [StrOptions({"l1", "mse", "chi2"})],
        "pixel_mask": ["array-like", None],
        "wavelength": ["array-like", None],
        "virtual_rv": [Interval(Real, 0, None, closed="neither"), tuple, list, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "device": [str],
        "mixed_precision": [StrOptions({"no", "bf16"})],
        "distributed": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "checkpoint": [str, os.PathLike, None],
    }

    def __init__(
        self,
        n_components: int = 16,
        *,
        architecture: str | dict = "auto",
        beta: float = 1e-4,
        decorrelation: float = 0.0,
        label_weight: float = 0.0,
        label_share: float = 0.25,
        kl_warmup: tuple[float, float] = (1.0, 10.0),
        loss: str = "l1",
        pixel_mask=None,
        wavelength=None,
        virtual_rv: float | tuple[float, float] | None = None,
        max_epochs: int | Literal["auto"] = "auto",
        batch_size: int = 32,
        lr: float = 1e-3,
        validation_fraction: float | None = None,
        n_iter_no_change: int | Literal["auto"] = "auto",
        device: str = "auto",
        mixed_precision: str = "no",
        distributed: bool = False,
        random_state=None,
        verbose: int = 0,
        callbacks: list | None = None,
        warm_start: bool = False,
        checkpoint: str | os.PathLike | None = None,
    ):
        self.n_components = n_components
        self.architecture = architecture
        self.beta = beta
        self.decorrelation = decorrelation
        self.label_weight = label_weight
        self.label_share = label_share
        self.kl_warmup = kl_warmup
        self.loss = loss
        self.pixel_mask = pixel_mask
        self.wavelength = wavelength
        self.virtual_rv = virtual_rv
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.mixed_precision = mixed_precision
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.checkpoint = checkpoint

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, ivar=None, sample_weight=None):
        """Train the autoencoder on spectra.

        Parameters
        ----------
        X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
            Spectra, one per row, on a common pixel grid. In-memory arrays
            are validated whole; on-disk arrays (a memory map, an HDF5
            dataset, a zarr array) are never loaded whole: batches are read
            as training needs them and each is checked for NaN and infinity
            as it is read, so memory stays flat however large ``X`` is.
        y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
            Continuous labels (a DataFrame names them) with NaN where a
            spectrum's label is unknown, as many or as few as are known:
            with ``label_weight > 0`` each column is tied to a latent (see
            ``label_weight``). Ignored when ``label_weight`` is 0.
        ivar : array-like of shape (n_samples, n_features), default=None
            Inverse variance of each pixel, required by ``loss="chi2"`` and
            rejected otherwise. Pixels with ``ivar=0`` are ignored. May be
            on disk like ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each spectrum. Each epoch then draws as
            many spectra as there are, with replacement, each with
            probability proportional to its weight: weighting by
            ``1 / (number of spectra of the same star)`` makes every star
            count once however often it was observed. Spectra of weight 0
            are never trained on. None (or equal weights) visits every
            spectrum once per epoch in a random order.

        Returns
        -------
        self : SpectralAutoencoder
            The fitted estimator.

        Raises
        ------
        NonFiniteLossError
            When the training loss becomes NaN or infinite; the estimator is
            left fitted with the weights of the last complete epoch.

        Warns
        -----
        TrainingInterruptedWarning
            When the user interrupts training (Ctrl-C): ``fit`` returns the
            estimator fitted with the weights of the last complete epoch (or
            of the best one, with early stopping), ``stop_reason_`` is
            ``"interrupted"``, and with a ``checkpoint`` the same ``fit``
            resumes the run.
        PosteriorCollapseWarning
            When every latent collapsed to the prior: the model learned
            nothing (see ``fit_warnings_``).
        TrainingNotConvergedWarning
            When ``max_epochs`` ended training during the KL warm-up or while
            the objective was still falling steeply.
        WorseThanPCAWarning
            When the network reconstructs a sample of spectra worse than PCA
            with ``n_components`` components (``reconstruction_error_`` and
            ``pca_reconstruction_error_``).
        """
        continuing = self.warm_start and hasattr(self, "net_")
        source = self._validated_source(X, reset=not continuing)
        warn_if_chunked_for_shuffling(X)
        plan = make_plan(
            self.get_params(deep=False),
            source,
            ivar=self._check_ivar(ivar, source),
            sample_weight=sample_weight,
            y=y,
        )
        if continuing and plan.labels is not None:
            self._check_same_labels(plan.labels)
        net, outcome = run_training(plan, self.net_ if continuing else None)
        self._record(net, plan, outcome)
        if outcome.error is not None:
            # The weights of the last complete epoch were restored and
            # recorded: the estimator stays usable.
            raise outcome.error
        # stacklevel 3: past sklearn's _fit_context wrapper, at the caller of fit.
        if outcome.stop_reason == "interrupted":
            warnings.warn(_interrupted_message(outcome), TrainingInterruptedWarning, stacklevel=3)
        for problem in self.fit_warnings_:
            warnings.warn(problem, stacklevel=3)
        return self

    def _record(self, net, plan, outcome) -> None:
        """Set the fitted attributes from a finished run."""
        self.net_ = net
        self.architecture_ = plan.params["architecture"].to_dict()
        self.pixel_weight_ = plan.params["pixel_mask"]
        self.mean_ = net.module_.offset.cpu().numpy()
        self.scale_ = float(net.module_.scale)
        self.n_iter_ = outcome.n_epochs
        self.best_epoch_ = outcome.best_epoch
        self.stop_reason_ = outcome.stop_reason
        self._n_features_out = self.n_components
        rows = plan.train_rows  # None: all of them
        if plan.n_train > _KL_SAMPLE:
            pool = np.arange(len(plan.source)) if rows is None else rows
            rows = np.sort(np.random.RandomState(plan.seed).choice(pool, _KL_SAMPLE, replace=False))
        self.component_kl_ = inference.component_kl(net, plan.source, rows)

        def drawn(X):
            return inference.collect(net, RowSource(X, validate=False), inference.reconstruct)[0]

        # Cheap next to training: randomised PCA of at most a few thousand
        # spectra, and one encoding of at most a thousand.
        self.reconstruction_error_, self.pca_reconstruction_error_ = compare_with_pca(
            plan.source, plan.train_rows, plan.valid_rows, self.n_components,
            plan.params["pixel_mask"], drawn, plan.seed,
        )  # fmt: skip
        history = net.history
        column = "valid_loss" if plan.valid_rows is not None else "train_loss"
        self.fit_warnings_ = diagnose(
            self.component_kl_,
            np.array([epoch.get(column, np.nan) for epoch in history]),
            beta=plan.params["beta"],
            kl_warmup=plan.params["kl_warmup"],
            stop_reason=outcome.stop_reason,
            reconstruction=(self.reconstruction_error_, self.pca_reconstruction_error_),
        )
        virtual_rv = plan.params["virtual_rv"]
        self.velocity_latent_ = None if virtual_rv is None else 0
        self.velocity_scale_ = None if virtual_rv is None else velocity_scale(virtual_rv)
        self._record_labels(net, plan)
        reference = typicality.fit_reference(
            self, plan.source, plan.ivar, plan.train_rows, plan.valid_rows, plan.seed
        )
        for name, value in reference.items():
            setattr(self, name, value)

    def _record_labels(self, net, plan) -> None:
        labels = plan.labels
        if labels is None:
            self.label_names_ = self.label_latents_ = None
            self.label_intercept_ = self.label_slope_ = None
            self.label_error_ = self.label_spread_ = None
            return

        def encode(X):
            return inference.collect(net, RowSource(X, validate=False), _posterior)

        calibration = calibrate_labels(
            labels, plan.source, plan.train_rows, plan.valid_rows, encode, plan.seed
        )
        self.label_names_ = np.asarray(labels.names, dtype=object)
        self.label_latents_ = labels.latents.copy()
        self.label_intercept_ = calibration.intercept
        self.label_slope_ = calibration.slope
        self.label_error_ = calibration.error
        self.label_spread_ = calibration.spread

    def _check_same_labels(self, labels) -> None:
        previous = getattr(self, "label_names_", None)
        if previous is not None and tuple(previous) != labels.names:
            raise WarmStartError(
                f"warm_start=True cannot continue training with the labels "
                f"{list(labels.names)}: the latents hold {list(previous)}. Pass the same "
                "label columns, or set warm_start=False to train anew."
            )

    # -------------------------------------------------------- validation

    def _validated_source(self, X, *, reset: bool) -> RowSource:
        """Spectra as a RowSource: checked whole in memory, block by block on disk."""
        if not is_on_disk(X):
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            return RowSource(X, validate=False)
        # Checking an on-disk array whole would read all of it; its blocks
        # are checked as they are read instead.
        validate_data(self, X, reset=reset, skip_check_array=True)
        source = RowSource(X)
        if min(source.shape) < 1:
            raise ValueError(
                f"Found array with shape {source.shape}; SpectralAutoencoder needs at "
                "least 1 spectrum and 1 pixel."
            )
        return source

    def _check_ivar(self, ivar, source: RowSource) -> RowSource | None:
        if self.loss != "chi2":
            if ivar is not None:
                raise ValueError(
                    f"ivar is only used by loss='chi2'; got loss={self.loss!r}. "
                    "Pass pixel weights common to all spectra as pixel_mask."
                )
            return None
        if ivar is None:
            raise ValueError("loss='chi2' needs the per-pixel inverse variance: fit(X, ivar=...).")
        if is_on_disk(ivar):
            ivar = RowSource(ivar, "ivar")  # negative values are caught batch by batch
        else:
            ivar = check_array(ivar, dtype=np.float32, input_name="ivar")
            if np.any(ivar < 0):
                raise ValueError("ivar must be non-negative (0 marks a pixel to ignore).")
            ivar = RowSource(ivar, "ivar", validate=False)
        if ivar.shape != source.shape:
            raise ValueError(f"ivar has shape {ivar.shape} but X has shape {source.shape}.")
        return ivar

    # ------------------------------------------------------------ inference

    @property
    def history_(self):
        """Training record of the fitted skorch net."""
        check_is_fitted(self)
        return self.net_.history

    def transform(self, X):
        """Encode spectra to their posterior mean codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra on the pixel grid seen in :meth:`fit`.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Posterior means, in the float dtype of ``X``.
        """
        check_is_fitted(self)
        source = self._validated_source(X, reset=False)
        return inference.collect(self.net_, source, lambda m, x: m.encode_mean(x))[0]

    def encode(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances of spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra on the pixel grid seen in :meth:`fit`.

        Returns
        -------
        mean : ndarray of shape (n_samples, n_components)
            Posterior means (what :meth:`transform` returns).
        log_var : ndarray of shape (n_samples, n_components)
            Posterior log-variances; ``exp(0.5 * log_var)`` is each code's
            uncertainty.

        Examples
        --------
        >>> import numpy as np
        >>> from skspecrep import SpectralAutoencoder
        >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(20, 32))
        >>> ae = SpectralAutoencoder(n_components=3, max_epochs=2, random_state=0).fit(X)
        >>> mean, log_var = ae.encode(X)
        >>> mean.shape, log_var.shape
        ((20, 3), (20, 3))
        """
        check_is_fitted(self)
        source = self._validated_source(X, reset=False)
        mean, log_var = inference.collect(self.net_, source, lambda m, x: m.encode(x))
        return mean, log_var

    def predict_labels(self, X, *, return_std: bool = False):
        """Read the labelled latents as labels, with their uncertainty.

        Each label is ``label_intercept_ + label_slope_ * z`` of its latent's
        posterior mean ``z``: a line fitted after training to the labelled
        training spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra on the pixel grid seen in :meth:`fit`.
        return_std : bool, default=False
            Also return each estimate's standard deviation: ``label_error_``
            (the line's error on labelled spectra) scaled by the spectrum's
            posterior standard deviation in that latent over its typical
            value ``label_spread_``, so that over the labelled spectra the
            stated uncertainties match the errors measured there, and a
            spectrum the encoder is less sure of gets a wider one.

        Returns
        -------
        labels : ndarray of shape (n_samples, n_labels)
            Label estimates, columns in the order of ``label_names_``.
        std : ndarray of shape (n_samples, n_labels)
            Their standard deviations; only when ``return_std`` is True.

        Raises
        ------
        ValueError
            When the model was fitted without labels (``label_weight=0`` or
            ``y=None``).

        Examples
        --------
        >>> import numpy as np
        >>> from skspecrep import SpectralAutoencoder
        >>> rng = np.random.RandomState(0)
        >>> depth = rng.uniform(0.1, 0.9, size=200)
        >>> pixels = np.linspace(-1, 1, 64)
        >>> X = 1 - depth[:, None] * np.exp(-0.5 * (pixels / 0.1) ** 2)
        >>> y = np.where(rng.rand(200) < 0.2, depth, np.nan)  # 20 % labelled
        >>> ae = SpectralAutoencoder(n_components=2, label_weight=0.1, max_epochs=20,
        ...                          random_state=0).fit(X, y)
        >>> ae.label_latents_
        array([0])
        >>> estimate, std = ae.predict_labels(X, return_std=True)
        >>> estimate.shape, std.shape
        ((200, 1), (200, 1))
        """
        check_is_fitted(self)
        if getattr(self, "label_latents_", None) is None:
            raise ValueError(
                "This SpectralAutoencoder was fitted without labels, so no latent "
                "holds one: fit(X, y) with label_weight > 0 first."
            )
        mean, log_var = self.encode(X)
        latents = self.label_latents_
        estimate = self.label_intercept_ + self.label_slope_ * mean[:, latents]
        if not return_std:
            return estimate
        sigma = np.exp(0.5 * log_var[:, latents])
        return estimate, self.label_error_ * sigma / self.label_spread_

    def inverse_transform(self, X):
        """Decode codes back to spectra.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Reconstructed spectra, in the float dtype of the codes.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} latent dimensions, but this SpectralAutoencoder "
                f"has n_components={self.n_components}."
            )
        codes = RowSource(Z, validate=False)
        return inference.collect(self.net_, codes, lambda m, z: m.decode(z))[0]

    def score(self, X, y=None, *, ivar=None) -> float:
        """Negative beta-weighted ELBO per spectrum on held-out spectra.

        The reconstruction error of one posterior sample per spectrum plus
        ``beta`` times the KL summed over latents: the training objective
        with the full KL weight. Higher is better. Unlike reconstruction
        error alone, it charges each latent for the information it carries,
        so a search over ``n_components`` does not simply pick the widest
        bottleneck. The sample is drawn from ``random_state``, so the score
        is reproducible when that is an int.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectra.
        y : None
            Ignored; present for API consistency.
        ivar : array-like of shape (n_samples, n_features), default=None
            Inverse variances, required by ``loss="chi2"``.

        Returns
        -------
        score : float
            Mean of minus the objective over the spectra.
        """
        check_is_fitted(self)
        source = self._validated_source(X, reset=False)
        ivar = self._check_ivar(ivar, source)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return -float(inference.objectives(self.net_, source, ivar, self.beta, seed).mean())

    def score_samples(self, X, *, ivar=None):
        """How typical each spectrum is of the training archive; lower is more unusual.

        Three parts are measured per spectrum: its reconstruction residual
        (mean absolute, in units of ``residual_scale_``, or of the noise with
        ``loss="chi2"``), its largest residual over its median one (a cosmic
        ray, an emission line, bad pixels), and how unlikely its code is
        under ``latent_density_``. Each part is expressed in typical spreads
        above its typical value on reference spectra
        (``typicality_reference_``), and the score is minus the largest of
        the three, so a spectrum scoring -10 is ten spreads beyond what the
        reference spectra showed in some part. The parts, and where the
        largest residual lies, are in :meth:`score_parts` and
        :func:`skspecrep.inspection.unusual_spectra`. Deterministic: codes
        are posterior means.

        Parameters
        ----------
        X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
            Spectra on the pixel grid seen in :meth:`fit`; on-disk arrays are
            read a chunk at a time.
        ivar : array-like of shape (n_samples, n_features), default=None
            Inverse variances, required by ``loss="chi2"`` and rejected
            otherwise.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means more typical, as in scikit-learn's outlier
            detectors; about 0 for a typical spectrum.

        Raises
        ------
        ValueError
            When the model holds no reference to compare with (a model file
            written before this method existed, or the paper's weights
            loaded without spectra).

        Examples
        --------
        >>> import numpy as np
        >>> from skspecrep import SpectralAutoencoder
        >>> rng = np.random.RandomState(0)
        >>> pixels = np.linspace(-1, 1, 64)
        >>> depth = rng.uniform(0.2, 0.8, size=(300, 1))
        >>> X = 1 - depth * np.exp(-0.5 * (pixels / 0.1) ** 2)
        >>> X += rng.normal(0, 0.01, X.shape)
        >>> ae = SpectralAutoencoder(n_components=2, max_epochs=30, random_state=0).fit(X)
        >>> spiked = X[:3].copy()
        >>> spiked[:, 10] += 1.0  # a cosmic ray
        >>> bool(np.all(ae.score_samples(spiked) < ae.score_samples(X[:3])))
        True
        """
        parts = self.score_parts(X, ivar=ivar)
        return -np.max([parts[name] for name in typicality.PARTS], axis=0)

    def score_parts(self, X, *, ivar=None) -> Bunch:
        """The three parts of :meth:`score_samples`, and where each spectrum is most off.

        Parameters
        ----------
        X : array-like, numpy.memmap, h5py.Dataset or zarr.Array of shape (n_samples, n_features)
            Spectra on the pixel grid seen in :meth:`fit`.
        ivar : array-like of shape (n_samples, n_features), default=None
            Inverse variances, required by ``loss="chi2"`` and rejected
            otherwise.

        Returns
        -------
        parts : Bunch
            ``reconstruction``, ``peak`` and ``latent``, each an ndarray of
            shape (n_samples,) in typical spreads above the part's typical
            value on the reference spectra (``typicality_reference_``), and
            ``peak_pixel``, the index of each spectrum's largest residual.
            :meth:`score_samples` is minus the largest of the three parts.

        Raises
        ------
        ValueError
            When the model holds no reference to compare with (a model file
            written before this method existed, or the paper's weights
            loaded without spectra).

        Examples
        --------
        >>> import numpy as np
        >>> from skspecrep import SpectralAutoencoder
        >>> X = np.random.RandomState(0).normal(1.0, 0.1, size=(100, 32))
        >>> ae = SpectralAutoencoder(n_components=2, max_epochs=2, random_state=0).fit(X)
        >>> parts = ae.score_parts(X[:5])
        >>> sorted(parts), parts.peak.shape
        (['latent', 'peak', 'peak_pixel', 'reconstruction'], (5,))
        """
        check_is_fitted(self)
        if getattr(self, "typicality_reference_", None) is None:
            raise ValueError(
                "This SpectralAutoencoder holds no reference spectra to compare with "
                "(it was saved by an older skspecrep, or its weights were loaded without "
                "spectra): fit it, or fit it again with warm_start=True, first."
            )
        source = self._validated_source(X, reset=False)
        ivar = self._check_ivar(ivar, source)
        parts, peak_pixel = typicality.measure(
            self.net_, self.pixel_weight_, self.residual_scale_, self.latent_density_,
            source, ivar,
        )  # fmt: skip
        z = typicality.standardise(parts, self.typicality_reference_)
        return Bunch(**dict(zip(typicality.PARTS, z.T)), peak_pixel=peak_pixel)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _posterior(module, x):
    return module.encode(x)


def _interrupted_message(outcome) -> str:
    kept = (
        f"the weights of epoch {outcome.best_epoch} are kept"
        if outcome.n_epochs
        else "no epoch was completed: the weights are the initial ones"
    )
    return (
        f"Training interrupted by user after {outcome.n_epochs} complete epoch(s); {kept}. "
        "With a checkpoint, fit again to resume."
    )
