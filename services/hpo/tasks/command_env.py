"""The environment a command trial runs with: an allow-list of the worker's, never all of it.

A training worker's environment holds its S3 keys, its Temporal address and API key, its
metrics folder: nothing a training program needs, everything a stray `print(os.environ)` or
a compromised dependency would leak into logs. A command gets the variables below that the
worker has, the HPO_* contract variables hpo sets for it (tasks/command.py), and the worker's
variables named in the spec's `task.env` (names or glob patterns, e.g. [WANDB_MODE, MY_*]).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

# Taken when the worker has them: the basics of a process, a locale, temp space, Python.
PASSED = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "HOSTNAME", "LANG", "LANGUAGE", "TZ",
    "TMPDIR", "TEMP", "TMP", "TERM", "LD_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "TOKENIZERS_PARALLELISM",
)  # fmt: skip
# Families of variables accelerators and frameworks read (GPUs, thread pools, caches, offline modes).
PASSED_PREFIXES = (
    "LC_", "PYTHON", "CUDA_", "NVIDIA_", "CUDNN_", "NCCL_", "HIP_", "ROCR_", "OMP_", "MKL_",
    "OPENBLAS_", "TORCH_", "PYTORCH_", "XLA_", "TF_", "JAX_", "HF_", "TRANSFORMERS_",
)  # fmt: skip
# Never taken by family, even from the families above (HF_TOKEN, a TORCH_..._KEY): credentials.
# A name listed in task.env is taken all the same: the spec asked for it by name.
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|(^|_)(API_?)?KEY$|AUTH", re.IGNORECASE)
# The worker's own settings and cloud credentials: never passed, not even when task.env asks
# (the spec's author is not always the worker's operator); the spec refuses such names.
NEVER_PREFIXES = ("HPO_", "AWS_")


def allowed(name: str) -> bool:
    """Whether a command gets the worker's variable `name` without asking for it."""
    if name.startswith(NEVER_PREFIXES) or SECRET_NAME.search(name):
        return False
    return name in PASSED or name.startswith(PASSED_PREFIXES)


def requested(name: str, patterns: list[str]) -> bool:
    """Whether task.env asks for `name` (never one of the worker's own, see NEVER_PREFIXES)."""
    return not name.startswith(NEVER_PREFIXES) and any(fnmatch.fnmatchcase(name, p) for p in patterns)


def command_environment(
    worker: Mapping[str, str], contract: Mapping[str, str], task_env: Iterable[str] = ()
) -> dict[str, str]:
    """The worker's allowed variables and those task.env names (names or glob patterns), then
    hpo's contract variables, which always win."""
    patterns = list(task_env)
    chosen = {name: value for name, value in worker.items() if allowed(name) or requested(name, patterns)}
    return {**chosen, **contract}
