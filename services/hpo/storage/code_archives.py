"""A team's code directory as a content-addressed archive in S3, and its copy on a worker.

`hpo sweep run` packs the directory once (deterministically: sorted names, fixed times and
owners, so the same files give the same sha256) and uploads `code/<sha256>.tar.gz`; each
training worker extracts it once into its cache and imports from there. A cluster then
runs new code without a new image.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from hpo.storage.s3 import ObjectStore

# Never shipped: version control, caches, virtual environments, the embedded stack's state.
SKIPPED_DIRS = {
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "env", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "node_modules", ".hpo", ".idea", ".vscode",
}  # fmt: skip
SKIPPED_FILES = ("*.pyc", "*.pyo", ".DS_Store")
IGNORE_FILE = ".hpoignore"  # extra glob patterns, one per line, matched against relative paths
DEFAULT_LIMIT_BYTES = 100 * 1024 * 1024


class CodeArchiveError(ValueError):
    """The code directory cannot be shipped as it is."""


def _ignored(relative: str, name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)


def code_files(directory: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of every file to ship, sorted by name."""
    patterns = list(SKIPPED_FILES)
    ignore = directory / IGNORE_FILE
    if ignore.is_file():
        patterns += [
            line.strip()
            for line in ignore.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
    files = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not _ignored(
            os.path.relpath(os.path.join(root, d), directory), d, patterns))  # fmt: skip
        for name in sorted(names):
            path = Path(root) / name
            relative = path.relative_to(directory).as_posix()
            if path.is_file() and not path.is_symlink() and not _ignored(relative, name, patterns):
                files.append((relative, path))
    return sorted(files)


def pack(directory: Path, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> bytes:
    """The directory as a deterministic .tar.gz; CodeArchiveError when it is over `limit_bytes`."""
    files = code_files(directory)
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


def fetch(store: ObjectStore, key: str, sha256: str, cache_dir: Path) -> Path:
    """The extracted code on this worker: downloaded and verified once, then reused."""
    # The sha256 names a local directory and the key an object: both only as archive_key builds them.
    if key != archive_key(sha256):
        raise CodeArchiveError(
            f"code archive key {key!r} is not the key of sha256 {sha256} ({archive_key(sha256)})"
        )
    target = cache_dir / "code" / sha256
    if target.is_dir():
        return target
    data = store.get_bytes(key)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CodeArchiveError(f"code archive s3://{store.bucket}/{key} does not match its sha256 {sha256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            # The "data" filter refuses absolute names, `..`, links out of the tree and devices.
            tar.extractall(staging, filter="data")
        try:
            staging.rename(target)  # atomic: concurrent trials on one worker see all or nothing
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
