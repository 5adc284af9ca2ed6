"""matplotlib, an optional dependency, imported only when a figure is drawn."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skspecrep's figures and report need matplotlib: pip install 'skspecrep[plot]'."
        ) from exc
    return plt
