"""A local directory only this user can read or write, for what a worker later runs or imports.

A worker imports the team's code from its cache, so anyone who can write there chooses the
code it runs. The directory is therefore created 0700; one that already exists must belong to
this user (a directory planted by another local user is refused, never used), and one that
is readable or writable by others is tightened and reported, since its contents may have been
changed while it was open (callers verify them before use).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class UnsafeDirectory(PermissionError):
    """A directory another user owns, or that is not a directory at all."""


def private_directory(path: Path, what: str) -> bool:
    """Make `path` a 0700 directory of this user's; True when it was open to others before
    (and has just been tightened). UnsafeDirectory when another user owns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(
            f"{what} {path} is a symbolic link or not a directory; hpo keeps code only in a real "
            "directory of its own: remove it, or set HPO_CACHE_DIR to a directory you own"
        )
    if info.st_uid != os.getuid():
        raise UnsafeDirectory(
            f"{what} {path} belongs to user id {info.st_uid}, not to this worker's user ({os.getuid()}): "
            "another user could have put code there, so hpo does not use it; remove it, or set "
            "HPO_CACHE_DIR to a directory you own"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        path.chmod(0o700)
        return True
    return False


def write_private_file(path: Path, data: bytes) -> None:
    """Write `path` readable by its owner only, atomically: a reader sees the old file or the
    new one, never half of one; mkstemp creates it 0600 before any secret is in it."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
