"""Errors of the command line: a problem with the user's input, in one line, exit status 2."""

from __future__ import annotations

#: Exit statuses: bad input, and Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INPUT, EXIT_INTERRUPTED = 2, 130


class InputError(Exception):
    """A problem with what the user gave: reported in one line, exit status 2."""


def non_finite_error(row: int, ids) -> InputError:
    """The error for spectrum ``ids[row]``, which holds NaN or infinity."""
    return InputError(
        f"Spectrum {ids[row]} has NaN or infinite pixels: bad values, or outside "
        "its file's wavelength coverage. Trim the grid or drop that spectrum."
    )
