"""The released weights of Sedaghat et al. (2021), loaded into a SpectralAutoencoder."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from ..exceptions import ModelFileError
from ._restore import fitted_autoencoder

#: Pixels and latents of the released network.
N_FEATURES, N_COMPONENTS = 327_680, 128
_N_LAYERS = 15


def _key_map() -> dict[str, str]:
    """The paper module's ``state_dict`` keys -> ``ConvVAE``'s."""
    keys = {}
    for part in ("weight", "bias"):
        for i in range(1, _N_LAYERS + 1):
            keys[f"conv{i}.0.{part}"] = f"encoder.{i - 1}.{part}"
            # deconv15 is the decoder's first layer, deconv1 its last.
            keys[f"deconv{i}.0.{part}"] = f"decoder.{_N_LAYERS - i}.{part}"
        keys[f"fc11.{part}"] = f"fc_mu.{part}"
        keys[f"fc12.{part}"] = f"fc_log_var.{part}"
        keys[f"fc2.{part}"] = f"fc_decode.{part}"
        keys[f"predict0.{part}"] = f"output_conv.{part}"
    return keys


def load_sedaghat2021(path: str | os.PathLike, *, allow_pickle: bool = False, device: str = "auto"):
    """Load the paper's released checkpoint into a fitted SpectralAutoencoder.

    The checkpoint (``model_128d_e182_i1500000.pth.tar`` from the authors'
    repository NimSed/astro-machines) is a ``torch.save``-d dict whose
    ``state_dict`` holds the weights of their module ``ae1d``; its other
    entries (epoch, optimizer...) are ignored. The weights are renamed onto
    ``SpectralAutoencoder(architecture="sedaghat2021", n_components=128)``
    with no mean-spectrum offset and unit scale, as the paper's network sees
    spectra, so that ``transform`` gives the paper's codes. Feed it spectra
    prepared as the paper's code prepared them:
    ``HARPSPreprocessor(wavelength, median="sedaghat2021")``.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file.
    allow_pickle : bool, default=False
        The file is read with ``torch.load(weights_only=True)``, which runs no
        code from it. A checkpoint that holds other Python objects is then
        refused; ``True`` unpickles it fully, which runs any code it holds:
        only for a file you trust.
    device : str, default="auto"
        Device of the loaded model, as for ``SpectralAutoencoder``.

    Returns
    -------
    estimator : SpectralAutoencoder
        Fitted: ``transform``, ``encode``, ``inverse_transform`` and a warm
        start (fine-tuning) work. ``n_iter_`` is the checkpoint's ``epoch``
        when it has one, ``stop_reason_`` is ``"loaded"``, and
        ``component_kl_`` and the reconstruction errors are NaN until the model
        is fitted here.

    Raises
    ------
    ModelFileError
        When the file is missing, cannot be read safely, has no
        ``state_dict``, or its weights are not the paper's network.

    Notes
    -----
    The model has no ``pixel_mask``: the paper's network sees every pixel,
    the CCD gap included, and only its training loss ignored the pads and
    the gap. Setting ``pixel_mask=harps_pixel_mask()`` before fine-tuning
    also zeroes the gap at the input, which changes the codes.

    Examples
    --------
    A checkpoint in the paper's layout, here with random weights of the
    released shapes:

    >>> import os, tempfile
    >>> import numpy as np
    >>> import torch
    >>> from torch import nn
    >>> from skspecrep.io import load_sedaghat2021
    >>> channels = [1, 16, 16, 16, 32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 512, 512]
    >>> kernels = [7, 5, 5] + [3] * 12
    >>> layers = {"fc11": nn.Linear(10240, 128), "fc12": nn.Linear(10240, 128),
    ...           "fc2": nn.Linear(128, 10240), "predict0": nn.Conv1d(1, 1, 3)}
    >>> for i in range(15):
    ...     layers[f"conv{i + 1}.0"] = nn.Conv1d(channels[i], channels[i + 1], kernels[i])
    ...     k = 3 if i == 14 else 4
    ...     layers[f"deconv{i + 1}.0"] = nn.ConvTranspose1d(channels[i + 1], channels[i], k)
    >>> state = {f"{name}.{p}": t for name, layer in layers.items()
    ...          for p, t in layer.state_dict().items()}
    >>> path = os.path.join(tempfile.mkdtemp(), "model_128d_e182_i1500000.pth.tar")
    >>> torch.save({"state_dict": state, "epoch": 182}, path)
    >>> ae = load_sedaghat2021(path, device="cpu")
    >>> ae.n_components, ae.n_features_in_, ae.n_iter_
    (128, 327680, 182)
    >>> ae.transform(np.ones((1, 327_680), dtype=np.float32)).shape
    (1, 128)
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "no such file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        objects = [line for line in str(exc).splitlines() if "Unsupported global" in line]
        if not objects:
            raise ModelFileError(path, "not a readable torch checkpoint") from None
        raise ModelFileError(
            path,
            "it holds Python objects that a safe load (torch.load(weights_only=True)) does "
            f"not read ({objects[0].strip()}); pass allow_pickle=True only if you trust the "
            "file, since unpickling runs any code it holds",
        ) from None
    except Exception as exc:  # torch raises several types for files that are not checkpoints
        raise ModelFileError(path, f"not a readable torch checkpoint ({exc})") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelFileError(path, "not the paper's checkpoint: it has no 'state_dict'")
    keys = _key_map()
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
    unknown = sorted(set(state) - set(keys))
    missing = sorted(set(keys) - set(state))
    if unknown or missing:
        raise ModelFileError(
            path,
            "its state_dict is not the paper's ae1d network "
            f"(unexpected {unknown[:3]}, missing {missing[:3]})",
        )
    module_state = {keys[k]: torch.as_tensor(v, dtype=torch.float32) for k, v in state.items()}
    module_state["offset"] = torch.zeros(N_FEATURES)
    module_state["scale"] = torch.tensor(1.0)
    params = {
        "n_components": N_COMPONENTS,
        "architecture": "sedaghat2021",
        "device": device,
    }
    epoch = checkpoint.get("epoch")
    n_iter = int(epoch) if isinstance(epoch, int | np.integer) else 0
    fitted = {
        "n_features_in_": N_FEATURES,
        "_n_features_out": N_COMPONENTS,
        "mean_": np.zeros(N_FEATURES, dtype=np.float32),
        "scale_": 1.0,
        "pixel_weight_": np.ones(N_FEATURES, dtype=np.float32),
        "n_iter_": n_iter,
        "best_epoch_": n_iter,
        "stop_reason_": "loaded",
        "component_kl_": np.full(N_COMPONENTS, np.nan),
        "reconstruction_error_": float("nan"),
        "pca_reconstruction_error_": float("nan"),
        "fit_warnings_": [],
        "velocity_latent_": None,
        "velocity_scale_": None,
        # The paper trained without labels.
        "label_names_": None,
        "label_latents_": None,
        "label_intercept_": None,
        "label_slope_": None,
        "label_error_": None,
        "label_spread_": None,
        # No spectra were seen, so none can be called typical.
        "residual_scale_": None,
        "latent_density_": None,
        "typicality_reference_": None,
    }
    try:
        estimator = fitted_autoencoder(params, module_state, [], fitted)
    except ValueError as exc:
        raise ModelFileError(path, f"its weights do not have the paper's shapes ({exc})") from None
    estimator.architecture_ = estimator.net_.structure_.architecture.to_dict()
    return estimator
