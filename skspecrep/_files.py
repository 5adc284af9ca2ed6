"""Writing a file so that a reader never sees half of it and no link is followed."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def replace_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` through ``write(file)`` on a fresh temporary file, then rename it.

    The temporary file is created exclusively (``O_EXCL``, a random name in
    ``path``'s folder), so a file or symbolic link planted at a predictable
    name is never written through. The rename replaces ``path`` itself (a
    link there is replaced, not followed), and only once the new content is
    complete; on any error the temporary file is removed and ``path`` is
    untouched.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    write : callable
        Called with the temporary file, open for binary writing.

    Returns
    -------
    path : pathlib.Path
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            # Mode 0o666 less the umask: the file gets the permissions a
            # plain open() would give it.
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
