"""Files: atomic writes (a temporary file in the same directory, then a rename over the target) and bounded reads
of untrusted text files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from breachpath.errors import InputError


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would: the old file's, else the
        # umask's, so a report written for sharing can be shared.
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def read_text(path: Path | str, limit: int, errors: str = "strict") -> str:
    """A UTF-8 text file of at most ``limit`` bytes (a size users control: checked before reading); any failure is
    an :class:`InputError` of one line naming the file."""
    path = Path(path)
    try:
        if path.stat().st_size > limit:
            raise InputError(f"{path}: larger than {_size(limit)}")
        return path.read_text(encoding="utf-8", errors=errors)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:g} MiB"
    return f"{n / 1024:g} KiB" if n >= 1024 else f"{n} bytes"
