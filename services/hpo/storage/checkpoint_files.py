"""The files of a checkpoint directory a trial wrote: regular files inside it, bounded in size.

The directory is the training code's to fill, and whatever it holds is uploaded with the
worker's credentials: a symbolic link would carry the worker's own files (its credentials, a
key) into S3, a FIFO would hang the upload, a runaway writer would fill the bucket. So links
are never followed (nor hard links taken), anything but a regular file or a directory is refused, and the total size
is checked before the first byte is uploaded.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UnsafeCheckpointFile(ValueError):
    """A checkpoint directory holds something other than regular files, or too much."""


def checkpoint_files(directory: Path, max_bytes: int, who: str) -> dict[str, Path]:
    """{relative name: path} of every regular file under `directory`, sorted; `who` names the
    trial and step in the message of UnsafeCheckpointFile."""
    files: dict[str, Path] = {}
    total = 0
    for root, dirs, names in os.walk(directory, followlinks=False):
        for name in sorted(dirs) + sorted(names):
            path = Path(root) / name
            relative = path.relative_to(directory).as_posix()
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeCheckpointFile(
                    f"{who}: the checkpoint directory holds {relative!r}, a {_kind(info.st_mode)}; a "
                    "checkpoint holds regular files only (copy the file in instead of linking to it)"
                )
            if info.st_nlink > 1:
                raise UnsafeCheckpointFile(
                    f"{who}: the checkpoint directory holds {relative!r}, a hard link ({info.st_nlink} "
                    "names) that may share a file from elsewhere; write or copy the file in instead"
                )
            total += info.st_size
            if total > max_bytes:
                raise UnsafeCheckpointFile(
                    f"{who}: the checkpoint's files add up to more than {max_bytes / 1e9:g} GB (at "
                    f"{relative!r}); save the model and training state only, or raise "
                    "HPO_CHECKPOINT_MAX_BYTES on the workers"
                )
            files[relative] = path
    return dict(sorted(files.items()))


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
