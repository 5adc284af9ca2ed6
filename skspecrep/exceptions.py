"""Every error and warning of skspecrep that a user may want to catch.

Each class derives from the built-in exception or warning that code written
before it existed would have caught (``ValueError``, ``FloatingPointError``,
``UserWarning``), so catching those still works. They are defined here and
re-exported where they are raised (``skspecrep.io.SpectrumReadError`` is
this module's class).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from skspecrep import SpectralAutoencoder
>>> from skspecrep.exceptions import NonFiniteRowError
>>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
>>> X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(8, 16))
>>> X[:] = 1.0
>>> X[5, 3] = np.nan
>>> X.flush()
>>> try:
...     SpectralAutoencoder(max_epochs=1).fit(np.load(path, mmap_mode="r"))
... except NonFiniteRowError as exc:
...     print(exc.row)
5
"""

from __future__ import annotations

import os

from sklearn import exceptions as _sklearn

__all__ = [
    "CheckpointError",
    "ChunkedStorageWarning",
    "ModelFileError",
    "NonFiniteLossError",
    "NonFiniteRowError",
    "NonPositiveMedianError",
    "PosteriorCollapseWarning",
    "SpectrumQualityWarning",
    "SpectrumReadError",
    "TrainingInterruptedWarning",
    "TrainingNotConvergedWarning",
    "UnusableLabelWarning",
    "WarmStartError",
    "WorseThanPCAWarning",
]


# ------------------------------------------------------------------ errors


class CheckpointError(ValueError):
    """A training checkpoint that cannot be resumed.

    Raised by :meth:`SpectralAutoencoder.fit <skspecrep.SpectralAutoencoder.fit>`
    when its ``checkpoint`` file is unreadable, or was written by another
    model or for other spectra. The file is left untouched: delete it, or
    choose another file, to train anew.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.exceptions import CheckpointError
    >>> path = os.path.join(tempfile.mkdtemp(), "run.pt")
    >>> X = np.random.RandomState(0).normal(1, 0.1, (20, 16))
    >>> _ = SpectralAutoencoder(2, max_epochs=1, checkpoint=path).fit(X)
    >>> try:
    ...     SpectralAutoencoder(3, max_epochs=1, checkpoint=path).fit(X)
    ... except CheckpointError as exc:
    ...     print("n_components differ" in str(exc))
    True
    """


class _FileError(ValueError):
    """A file that cannot be used: ``path``, ``reason``, and "path: reason" as the message."""

    def __init__(self, path, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # Arguments that rebuild it, so that it crosses process boundaries
        # (readers with n_jobs) intact.
        return type(self), (self.path, self.reason)


class ModelFileError(_FileError):
    """A model file that cannot be loaded, with its path and the reason.

    Raised by :func:`skspecrep.io.load_model` when the file is not a
    skspecrep model file, was written by a newer format version than this
    skspecrep reads, names a class that model files may not hold, or was
    changed or damaged after it was written. Loading stops before anything
    is built from it.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        What is wrong with it.

    Examples
    --------
    >>> import os, tempfile
    >>> from skspecrep.io import load_model
    >>> from skspecrep.exceptions import ModelFileError
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skspecrep")
    >>> with open(path, "w") as f:
    ...     _ = f.write("not a model")
    >>> try:
    ...     load_model(path)
    ... except ModelFileError as exc:
    ...     print(exc.reason[:46])
    not a skspecrep model file (not a zip archive)
    """


class NonFiniteRowError(ValueError):
    """A spectrum (a row of ``X``) holds NaN or infinity.

    Raised while on-disk spectra are read batch by batch, so it can come
    late in training; ``row`` names the spectrum.

    Attributes
    ----------
    row : int
        Index of the first bad row found.

    Examples
    --------
    >>> from skspecrep.exceptions import NonFiniteRowError
    >>> NonFiniteRowError("X contains NaN in row 7", 7).row
    7
    """

    def __init__(self, message: str, row: int):
        super().__init__(message)
        self.row = row

    def __reduce__(self):
        return type(self), (self.args[0], self.row)


class NonFiniteLossError(FloatingPointError):
    """Training stopped because the loss stopped being finite.

    The weights of the last complete epoch are restored before it is
    raised, so the estimator stays usable (its ``stop_reason_`` is
    ``"non_finite_loss"``).

    Attributes
    ----------
    epoch : int
        Epoch (counted from 1) in which the loss became NaN or infinite.
    batch : int
        Batch of that epoch (counted from 1).

    Examples
    --------
    >>> from skspecrep.exceptions import NonFiniteLossError
    >>> isinstance(NonFiniteLossError("loss became nan", epoch=3, batch=1), FloatingPointError)
    True
    """

    def __init__(self, message: str, *, epoch: int, batch: int):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch

    def __reduce__(self):
        return _rebuild_non_finite_loss, (self.args[0], self.epoch, self.batch)


def _rebuild_non_finite_loss(message, epoch, batch):
    return NonFiniteLossError(message, epoch=epoch, batch=batch)


class NonPositiveMedianError(ValueError):
    """Spectra whose median flux is not positive, so they cannot be normalised.

    Attributes
    ----------
    rows : ndarray of int
        Their row numbers, so that callers reading a large set in blocks can
        name the spectra.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import MedianNormalizer
    >>> from skspecrep.exceptions import NonPositiveMedianError
    >>> X = np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]])
    >>> try:
    ...     MedianNormalizer().fit_transform(X)
    ... except NonPositiveMedianError as exc:
    ...     print(exc.rows)
    [1]
    """

    def __init__(self, message: str, rows):
        super().__init__(message)
        self.rows = rows

    def __reduce__(self):
        return type(self), (self.args[0], self.rows)


class SpectrumReadError(_FileError):
    """A spectrum file that cannot be read, with its path and the reason.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        What is wrong with it.

    Examples
    --------
    >>> from skspecrep.io import read_eso_spectrum
    >>> from skspecrep.exceptions import SpectrumReadError
    >>> try:
    ...     read_eso_spectrum("no/such/file.fits")
    ... except SpectrumReadError as exc:
    ...     print(exc.reason)
    no such file
    """


class WarmStartError(ValueError):
    """A ``warm_start`` fit asked for a change that needs a new network.

    The architecture, bottleneck, loss, pixel mask, pixel count and
    ``distributed`` fix the network that was built; continuing to train it
    under other values is impossible, so the fit is refused rather than the
    change ignored. Set ``warm_start=False`` to train anew.

    Examples
    --------
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.exceptions import WarmStartError
    >>> X = np.random.RandomState(0).normal(1, 0.1, (20, 16))
    >>> ae = SpectralAutoencoder(2, max_epochs=1, warm_start=True).fit(X)
    >>> try:
    ...     ae.set_params(n_components=3).fit(X)
    ... except WarmStartError as exc:
    ...     print("n_components" in str(exc))
    True
    """


# ---------------------------------------------------------------- warnings


class TrainingInterruptedWarning(UserWarning):
    """Training was stopped by the user (Ctrl-C) and ``fit`` returned early.

    The estimator keeps the weights of the last complete epoch (or of the
    best one, with early stopping) and records ``stop_reason_ =
    "interrupted"``; with a ``checkpoint``, running the same ``fit`` again
    resumes where it stopped.

    Examples
    --------
    >>> import warnings
    >>> from skspecrep.exceptions import TrainingInterruptedWarning
    >>> issubclass(TrainingInterruptedWarning, UserWarning)
    True
    """


class PosteriorCollapseWarning(UserWarning):
    """Training ended with every latent collapsed to the prior: the model learned nothing.

    Raised by :meth:`SpectralAutoencoder.fit <skspecrep.SpectralAutoencoder.fit>`
    when no latent's ``component_kl_`` exceeds 0.01 nats, the threshold
    below which UDR (Duan et al. 2020) counts a latent as inactive. Every
    spectrum then gets nearly the same code and the decoder returns nearly
    the mean spectrum. The message says what to try (a smaller ``beta``,
    more epochs, a longer warm-up).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skspecrep import SpectralAutoencoder
    >>> from skspecrep.exceptions import PosteriorCollapseWarning
    >>> depth = np.random.RandomState(0).uniform(0.2, 0.8, size=(96, 1))
    >>> X = 1 - depth * np.exp(-0.5 * (np.linspace(-1, 1, 64) / 0.08) ** 2)
    >>> ae = SpectralAutoencoder(3, beta=10.0, kl_warmup=(0, 0), max_epochs=3, random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = ae.fit(X)
    >>> any(issubclass(w.category, PosteriorCollapseWarning) for w in caught)
    True
    """


class TrainingNotConvergedWarning(_sklearn.ConvergenceWarning):
    """Training stopped while it was still making progress.

    Raised by :meth:`SpectralAutoencoder.fit <skspecrep.SpectralAutoencoder.fit>`
    when ``max_epochs`` ended the run before the KL weight had reached
    ``beta`` (the warm-up was cut short), or while the training objective
    was still falling steeply (by more than 1 % per epoch over the last
    three epochs). A subclass of scikit-learn's
    :class:`~sklearn.exceptions.ConvergenceWarning`.

    Examples
    --------
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> from skspecrep.exceptions import TrainingNotConvergedWarning
    >>> issubclass(TrainingNotConvergedWarning, ConvergenceWarning)
    True
    """


class WorseThanPCAWarning(UserWarning):
    """The trained network reconstructs spectra worse than PCA with as many components.

    Raised by :meth:`SpectralAutoencoder.fit <skspecrep.SpectralAutoencoder.fit>`
    when its reconstruction error (``reconstruction_error_``) on a sample of
    spectra exceeds that of PCA with ``n_components`` components fitted on
    other spectra of the same archive (``pca_reconstruction_error_``): the
    network learned less than a linear model, so its latents should not be
    read as the archive's physics yet. The message says what to try.

    Examples
    --------
    >>> from skspecrep.exceptions import WorseThanPCAWarning
    >>> issubclass(WorseThanPCAWarning, UserWarning)
    True
    """


class ChunkedStorageWarning(UserWarning):
    """On-disk spectra stored so that shuffled training reads far more than it uses.

    Raised for HDF5 datasets compressed in chunks of many rows: HDF5
    decompresses a whole chunk to read any row of it.

    Examples
    --------
    >>> from skspecrep.exceptions import ChunkedStorageWarning
    >>> issubclass(ChunkedStorageWarning, UserWarning)
    True
    """


class SpectrumQualityWarning(UserWarning):
    """Spectra that preprocessing could not treat normally.

    Raised when spectra are noise only (the paper's raw-median test) or
    have a median flux that is not positive and are returned as NaN.

    Examples
    --------
    >>> from skspecrep.exceptions import SpectrumQualityWarning
    >>> issubclass(SpectrumQualityWarning, UserWarning)
    True
    """


class UnusableLabelWarning(UserWarning):
    """A label with too few usable values, or constant, whose MI is set to 0.

    Examples
    --------
    >>> from skspecrep.exceptions import UnusableLabelWarning
    >>> issubclass(UnusableLabelWarning, UserWarning)
    True
    """
