"""A team's code directory as a content-addressed archive in S3, and its copy on a worker.

`hpo sweep run` packs the directory once (deterministically: sorted names, fixed times and
owners, so the same files give the same sha256) and uploads `code/<sha256>.tar.gz`; each
training worker extracts it once into its cache and imports from there. A cluster then
runs new code without a new image.

What the worker runs must be what the client packed: files that look like secrets never
leave the client (code_secrets), each member is checked before it is written
(archive_extract), the cache folder is this user's alone (private_dir), and the extracted
files are checked against the archive's manifest before every use, re-extracted on a mismatch.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

from hpo.storage.archive_extract import ArchiveRefused, extract_members
from hpo.storage.code_secrets import is_secret, skipped_line
from hpo.storage.private_dir import UnsafeDirectory, private_directory
from hpo.storage.s3 import ObjectStore

log = logging.getLogger("hpo.code")

# Never shipped: version control, caches, virtual environments, the embedded stack's state.
SKIPPED_DIRS = {
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "env", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "node_modules", ".hpo", ".idea", ".vscode",
}  # fmt: skip
SKIPPED_FILES = ("*.pyc", "*.pyo", ".DS_Store")
IGNORE_FILE = ".hpoignore"  # extra glob patterns, one per line, matched against relative paths
DEFAULT_LIMIT_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_FILES = 10_000


class CodeArchiveError(ValueError):
    """The code directory cannot be shipped as it is."""


def _ignored(relative: str, name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _ignore_lines(directory: Path) -> tuple[list[str], list[str]]:
    """The `.hpoignore` patterns: (to skip, to ship although they look like secrets: `!PATTERN`)."""
    ignore = directory / IGNORE_FILE
    lines = [line.strip() for line in ignore.read_text().splitlines()] if ignore.is_file() else []
    lines = [line for line in lines if line and not line.startswith("#")]
    return [line for line in lines if not line.startswith("!")], [
        line[1:] for line in lines if line.startswith("!")
    ]


def code_files(directory: Path, skipped_secrets: list[str] | None = None) -> list[tuple[str, Path]]:
    """(archive name, path) of every file to ship, sorted by name; what was left out because it
    looks like a secret (code_secrets) is appended to `skipped_secrets`."""
    patterns, keep = _ignore_lines(directory)
    patterns += SKIPPED_FILES
    secrets = skipped_secrets if skipped_secrets is not None else []
    files = []
    for root, dirs, names in os.walk(directory):
        kept_dirs = []
        for d in sorted(dirs):
            relative = os.path.relpath(os.path.join(root, d), directory).replace(os.sep, "/")
            if d in SKIPPED_DIRS or _ignored(relative, d, patterns):
                continue
            if is_secret(relative, d, True, keep):
                secrets.append(relative + "/")
                continue
            kept_dirs.append(d)
        dirs[:] = kept_dirs
        for name in sorted(names):
            path = Path(root) / name
            relative = path.relative_to(directory).as_posix()
            if not path.is_file() or path.is_symlink() or _ignored(relative, name, patterns):
                continue
            if is_secret(relative, name, False, keep):
                secrets.append(relative)
                continue
            files.append((relative, path))
    return sorted(files)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def pack(
    directory: Path, limit_bytes: int = DEFAULT_LIMIT_BYTES, warn: Callable[[str], None] = _stderr
) -> bytes:
    """The directory as a deterministic .tar.gz; CodeArchiveError when it is over `limit_bytes`.
    Files that look like secrets stay behind, said in one line through `warn`."""
    skipped: list[str] = []
    files = code_files(directory, skipped)
    if skipped:
        warn(skipped_line(str(directory), skipped))
    total = sum(path.stat().st_size for _, path in files)
    if total > limit_bytes:
        biggest = sorted(files, key=lambda item: item[1].stat().st_size, reverse=True)[:3]
        names = ", ".join(f"{name} ({path.stat().st_size / 1e6:.1f} MB)" for name, path in biggest)
        raise CodeArchiveError(
            f"task.code: {directory} holds {total / 1e6:.1f} MB to ship, over the {limit_bytes / 1e6:.0f} MB "
            f"limit (largest: {names}); keep data and checkpoints out of the code directory (read data "
            f"from S3 or a path in task.config), or list what to skip in {directory / IGNORE_FILE}"
        )
    if not files:
        raise CodeArchiveError(f"task.code: {directory} holds no files to ship")
    buffer = io.BytesIO()
    # mtime 0 in the gzip header too: the same files always give the same bytes.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, path in files:
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def archive_key(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise CodeArchiveError(f"code archive sha256 {sha256!r} is not 64 lowercase hex digits")
    return f"code/{sha256}.tar.gz"


def upload(store: ObjectStore, data: bytes) -> tuple[str, str]:
    """Store the archive under its content hash (once); returns (key, sha256)."""
    sha256 = hashlib.sha256(data).hexdigest()
    key = archive_key(sha256)
    if not store.exists(key):
        store.put_bytes(key, data)
    return key, sha256


def fetch(
    store: ObjectStore,
    key: str,
    sha256: str,
    cache_dir: Path,
    *,
    max_bytes: int = DEFAULT_LIMIT_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
) -> Path:
    """The extracted code on this worker, verified before every use: extracted once into a
    private cache folder, re-extracted when its files no longer match the archive."""
    # The sha256 names a local directory and the key an object: both only as archive_key builds them.
    if key != archive_key(sha256):
        raise CodeArchiveError(
            f"code archive key {key!r} is not the key of sha256 {sha256} ({archive_key(sha256)})"
        )
    where = f"s3://{store.bucket}/{key}"
    root = cache_dir / "code"
    try:
        was_open = private_directory(root, "the code cache")
    except UnsafeDirectory as error:
        raise CodeArchiveError(str(error)) from None
    if was_open:
        # Anyone could have changed any of it, manifests included: start the cache afresh.
        log.warning("hpo: the code cache %s was open to other users; set it to 0700 and emptied it", root)
        for child in list(root.iterdir()):
            _discard(child, root)
    target, manifest = root / sha256, root / f"{sha256}.files.json"
    if target.is_dir() or target.is_symlink():
        problem = _mismatch(target, manifest)
        if problem is None:
            return target
        log.warning(
            "hpo: code %s: the copy in %s does not match the archive (%s); extracting it again",
            where,
            target,
            problem,
        )
        _discard(target, root)
    with tempfile.TemporaryDirectory(prefix=f".{sha256[:12]}-", dir=root) as staging_name:
        staging = Path(staging_name)
        hashes = _download_and_extract(store, key, sha256, staging, where, max_bytes, max_files)
        # The manifest first: a folder in place always has one.
        written = staging / "files.json"
        written.write_text(json.dumps(hashes, sort_keys=True))
        written.replace(manifest)
        try:
            (staging / "code").rename(target)  # atomic: concurrent trials on one worker see all or nothing
        except OSError:
            if not target.is_dir():
                raise
    return target


def _download_and_extract(
    store: ObjectStore, key: str, sha256: str, staging: Path, where: str, max_bytes: int, max_files: int
) -> dict[str, str]:
    """The archive downloaded to a file (not memory), checked against its sha256, extracted into
    `staging/code` member by member (archive_extract); the sha256 of each file."""
    archive = staging / "archive.tar.gz"
    store.download_file(key, archive)
    # gzip never grows what pack() writes by more than a little: anything bigger is not its output.
    if archive.stat().st_size > max_bytes + 1024 * 1024:
        size_mb, limit_mb = archive.stat().st_size / 1e6, max_bytes / 1e6
        raise CodeArchiveError(
            f"code archive {where} is {size_mb:.0f} MB, over the worker's {limit_mb:.0f} MB limit "
            "(HPO_CODE_MAX_BYTES)"
        )
    if _file_sha256(archive) != sha256:
        raise CodeArchiveError(f"code archive {where} does not match its sha256 {sha256}")
    (staging / "code").mkdir(mode=0o700)
    try:
        with archive.open("rb") as handle:
            return extract_members(handle, staging / "code", max_bytes=max_bytes, max_files=max_files)
    except ArchiveRefused as error:
        raise CodeArchiveError(
            f"code archive {where} is refused: {error}; pack task.code with hpo sweep run"
        ) from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise CodeArchiveError(f"code archive {where} cannot be extracted: {error}") from None


def _mismatch(target: Path, manifest: Path) -> str | None:
    """Why the folder is not the archive's files (a file missing, changed, or no longer a plain
    file), or None when every file the archive holds is there unchanged. Files the training
    wrote beside them (outputs, __pycache__) are left alone."""
    if target.is_symlink():
        return "it is a symbolic link"
    try:
        expected = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return "it has no manifest of its files"
    inside = target.resolve()
    for name, digest in sorted(expected.items()):
        path = target.joinpath(*name.split("/"))
        if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(inside):
            return f"{name} is missing or not a plain file"
        if _file_sha256(path) != digest:
            return f"{name} changed"
    return None


def _discard(target: Path, root: Path) -> None:
    """Move a folder (or file) out of the way at once (a rename), then remove it."""
    aside = Path(tempfile.mkdtemp(prefix=".stale-", dir=root))
    try:
        target.rename(aside / "code")
    except FileNotFoundError:
        pass  # another trial on this worker discarded it first
    shutil.rmtree(aside, ignore_errors=True)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
