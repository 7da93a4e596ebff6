"""Extract a code archive member by member, each one checked here rather than by tarfile.

Python 3.11's `data` extraction filter let crafted archives write outside the target before
3.11.13, so nothing is left to it: only regular files and directories are taken (no symbolic or
hard links, devices, FIFOs or sparse files), every name must be a relative path of plain
parts (no absolute names, no `..`), the archive may hold at most `max_files` members and
`max_bytes` of file data, and each file is created with O_EXCL | O_NOFOLLOW under directories
made here, so no path can lead out of `target`. The archive is read as a stream, so a
gzip bomb stops at the size limit instead of filling memory or disk.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path
from typing import IO

from hpo.storage.checkpoints import name_problem

CHUNK = 1024 * 1024
# Shipped files are read-only on the worker: training code that writes beside itself gets an
# error instead of quietly changing the code the next trial imports.
FILE_MODES = {True: 0o500, False: 0o400}  # executable in the archive or not


class ArchiveRefused(ValueError):
    """A member no code archive hpo packs would hold."""


def extract_members(archive: IO[bytes], target: Path, *, max_bytes: int, max_files: int) -> dict[str, str]:
    """Extract the .tar.gz `archive` into the existing, empty directory `target`; the sha256 of
    every file extracted, by name. ArchiveRefused names the first member that breaks a rule."""
    hashes: dict[str, str] = {}
    total = count = 0
    with tarfile.open(fileobj=archive, mode="r|gz") as tar:
        for member in tar:
            count += 1
            if count > max_files:
                raise ArchiveRefused(
                    f"it holds more than {max_files:,} entries (HPO_CODE_MAX_FILES on the worker)"
                )
            why = name_problem(member.name)
            if why is not None:
                raise ArchiveRefused(f"entry {member.name[:120]!r} is not allowed: {why}")
            if member.type == tarfile.DIRTYPE:
                _make_directories(target, member.name)
                continue
            if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                raise ArchiveRefused(
                    f"entry {member.name!r} is a {_kind(member)}; a code archive holds only regular "
                    "files and directories"
                )
            total += member.size
            if total > max_bytes:
                raise ArchiveRefused(
                    f"its files add up to more than {max_bytes / 1e6:.0f} MB (at {member.name!r}); "
                    "the worker's HPO_CODE_MAX_BYTES is the limit"
                )
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has a body
            hashes[member.name] = _write(target, member, source)
    return hashes


def _make_directories(target: Path, name: str) -> Path:
    """`target/name` as real directories, each one made here or already made here (the names
    were checked, and nothing but directories and files is ever created, so no link is met)."""
    path = target
    for part in name.split("/"):
        path = path / part
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if path.is_symlink() or not path.is_dir():
                raise ArchiveRefused(
                    f"entry {name!r} needs {part!r} as a directory, but a file has that name"
                ) from None
    return path


def _write(target: Path, member: tarfile.TarInfo, source: IO[bytes]) -> str:
    parent, _, base = member.name.rpartition("/")
    directory = _make_directories(target, parent) if parent else target
    path = directory / base
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ArchiveRefused(f"entry {member.name!r} appears twice") from None
    digest = hashlib.sha256()
    with os.fdopen(descriptor, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    path.chmod(FILE_MODES[bool(member.mode & 0o100)])
    return digest.hexdigest()


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "FIFO"
    return f"tar entry of type {member.type!r}"
