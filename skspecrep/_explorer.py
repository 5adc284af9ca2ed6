"""The latent explorer: one static HTML page where a slider per latent redraws the spectrum.

The decodings are computed beforehand (a traversal of each latent on a grid
of values, :func:`skspecrep.inspection.latent_traversal`) and embedded in
the page, so it needs no server, no model and no network: it opens from a
file in any browser. Each decoding is stored as its difference from the
typical spectrum, quantised to 8 bits per pixel with a scale per decoding
and gzip-compressed; the browser inflates it with its own
``DecompressionStream``. At 16 latents x 21 steps x 18,000 pixels that is
6 MB before compression, a few MB after (8 MB of base64 text at most,
when every pixel changes at random: tests/test_explorer.py).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from importlib import resources
from pathlib import Path

import numpy as np

#: The page, with its script; placeholders ``__NAME__`` are filled in.
_TEMPLATE = "_explorer_page.html"
#: Most points drawn across the overview: the spectrum is reduced to the
#: minimum and maximum of each column of the plot (so no line disappears),
#: and the zoom window shows every pixel.
_COLUMNS = 1600


def encode_traversal(spectra: np.ndarray, reference: np.ndarray) -> tuple[str, np.ndarray]:
    """Differences from ``reference``, as gzip-compressed int8, base64, and their scales.

    Returns the text and the scale of each (latent, step) decoding: pixel
    ``j`` of decoding ``(k, s)`` is ``reference[j] + scale[k, s] * q[k, s, j]``.
    """
    delta = np.asarray(spectra, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    scale = np.abs(delta).max(axis=2) / 127.0
    safe = np.where(scale > 0, scale, 1.0)[:, :, None]
    q = np.clip(np.rint(delta / safe), -127, 127).astype(np.int8)
    packed = gzip.compress(q.tobytes(), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii"), scale


def write_explorer(
    path: Path,
    traversal,
    wavelength: np.ndarray | None,
    names: list[str],
    notes: dict[str, str],
    *,
    title: str,
) -> Path:
    """Write the explorer page of a traversal.

    Parameters
    ----------
    path : Path
        The HTML file to write.
    traversal : Bunch
        What :func:`~skspecrep.inspection.latent_traversal` returned:
        ``latents``, ``latent_values``, ``spectra``, ``reference`` and
        ``reference_spectrum``.
    wavelength : ndarray or None
        Wavelength of each pixel; None numbers the pixels.
    names : list of str
        Every latent's name (``"z0"``...), indexed by ``traversal.latents``.
    notes : dict of str to str
        A short note per latent name (e.g. the label it tracks), shown by its slider.
    title : str
        Heading of the page.
    """
    n_pixels = traversal.spectra.shape[2]
    x = np.arange(n_pixels, dtype=np.float64) if wavelength is None else np.asarray(wavelength)
    data, scale = encode_traversal(traversal.spectra, traversal.reference_spectrum)
    meta = {
        "latents": [names[j] for j in traversal.latents],
        "notes": [notes.get(names[j], "") for j in traversal.latents],
        "values": np.asarray(traversal.latent_values).tolist(),
        "centre": [float(traversal.reference[j]) for j in traversal.latents],
        "scale": scale.tolist(),
        "n_steps": int(traversal.spectra.shape[1]),
        "n_pixels": int(n_pixels),
        "x_label": "pixel" if wavelength is None else "wavelength",
        "columns": _COLUMNS,
    }
    arrays = {
        "x": base64.b64encode(x.astype(np.float32).tobytes()).decode("ascii"),
        "reference": base64.b64encode(
            np.asarray(traversal.reference_spectrum, dtype=np.float32).tobytes()
        ).decode("ascii"),
    }
    template = resources.files(__package__).joinpath(_TEMPLATE).read_text()
    page = (
        template.replace("__TITLE__", html.escape(title))
        .replace("__META__", json.dumps(meta))
        .replace("__X__", arrays["x"])
        .replace("__REFERENCE__", arrays["reference"])
        .replace("__DATA__", data)
    )
    path.write_text(page)
    return path
