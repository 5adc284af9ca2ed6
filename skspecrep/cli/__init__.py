"""Command line: ``skspecrep demo``, ``skspecrep fit`` and ``skspecrep analyze``.

The CLI is the only layer that prints; estimators stay silent unless asked.
Input problems (missing files, unreadable spectra, label tables that do not
match) end with one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
import warnings

from ._commands import run_analyze, run_demo, run_fit
from ._errors import EXIT_INPUT, EXIT_INTERRUPTED, InputError
from ._parser import build_parser

__all__ = ["main"]


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """The package's own warnings in the command's words; others as Python shows them."""
    if category.__module__ == "skspecrep.exceptions":
        print(f"\nWarning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skspecrep`` command."""
    args = build_parser().parse_args(argv)
    run = {"demo": run_demo, "fit": run_fit, "analyze": run_analyze}[args.command]
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return run(args)
    except InputError as exc:
        print(f"skspecrep {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except FloatingPointError as exc:
        print(f"skspecrep {args.command}: training failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nskspecrep {args.command}: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
