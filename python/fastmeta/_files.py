"""Writing files atomically: into a temporary file beside the target, renamed into place,
so a reader never sees half a file and a failed write leaves the old one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: bytes | Sequence[Buffer], *, make_dirs: bool = False) -> None:
    """Write ``data`` (bytes, or pieces written one after the other) to ``path``
    atomically (``make_dirs``: create its directory first)."""
    target = os.fspath(path)
    directory = os.path.dirname(target)
    if make_dirs and directory:
        os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(target) + ".", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in (data,) if isinstance(data, bytes) else data:
                f.write(piece)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
