"""Files that look like credentials, left out of a shipped code directory unless asked for.

A code directory is often a checkout with a `.env`, a cloud credentials file or a key beside
the training script; shipped, they would sit in S3 and on every worker. Each pattern is
matched against a file's or directory's name and its path relative to the code directory.
A line `!PATTERN` in `.hpoignore` ships matching files anyway (e.g. `!.env.example`).
"""

from __future__ import annotations

import fnmatch

# Whole directories of credentials (their names).
SECRET_DIRS = (".aws", ".ssh", ".kube", ".gnupg", ".docker", ".azure", "gcloud")
# Files, by name or relative path.
SECRET_FILES = (
    ".env", ".env.*", ".envrc", "*.env",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    ".netrc", "_netrc", ".pgpass", ".git-credentials", ".npmrc", ".pypirc", ".htpasswd",
    "credentials", "*credentials*.json", "*service-account*.json", "*.kubeconfig", "kubeconfig",
)  # fmt: skip


def _matches(relative: str, name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(relative, p) for p in patterns)


def is_secret(relative: str, name: str, is_dir: bool, keep: list[str]) -> bool:
    """Whether a file or directory is left out as a secret: it matches a pattern above and no
    `!PATTERN` of the directory's `.hpoignore` (given without the `!`, in `keep`)."""
    patterns = SECRET_DIRS if is_dir else SECRET_FILES
    return _matches(relative, name, patterns) and not _matches(relative, name, keep)


def skipped_line(directory: str, skipped: list[str]) -> str:
    """The one stderr line that says what was left out, and how to ship it anyway."""
    shown = ", ".join(skipped[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
    return (
        f"hpo: task.code: left out {len(skipped)} file(s) that look like secrets from {directory}: {shown} "
        f"(add a line !NAME to {directory}/.hpoignore to ship one anyway)"
    )
