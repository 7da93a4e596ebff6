"""`hpo.run`: sweep a training function from a script or a notebook.

    import hpo
    from train import train          # a function of one hpo.Trial, in a .py file

    result = hpo.run(train, space={"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
                     trials=8, objective={"metric": "accuracy", "mode": "max"},
                     training={"max_steps": 300})
    result.best_trial_id, result.leaderboard()

The function runs on training workers like any function trial: its module's directory is
shipped as the sweep's code. With a stack already running (`hpo up`, or HPO_TEMPORAL_ADDRESS
pointing at a cluster) the sweep runs there and survives this process; without one, hpo
starts the embedded stack for the sweep and stops it afterwards.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from hpo.contracts.messages import SweepStatus
from hpo.contracts.settings import Settings, get_settings
from hpo.contracts.spec import SpecError, SweepSpec, check_sweep_id, parse_spec


def run(
    train: Callable[..., Any] | str,
    *,
    space: dict[str, dict[str, Any]],
    trials: int,
    objective: dict[str, Any] | str | None = None,
    algorithm: str | dict[str, Any] = "auto",
    training: dict[str, Any] | None = None,
    max_concurrent: int = 2,
    config: dict[str, Any] | None = None,
    code: str | Path | None = None,
    name: str = "sweep",
    seed: int = 0,
    sweep_id: str | None = None,
    stack: Literal["auto", "running", "embedded"] = "auto",
    settings: Settings | None = None,
) -> SweepStatus:
    """Run a sweep of `train` and return its final status (`.leaderboard()`, `.best_trial_id`).

    `train` is a function of one `hpo.Trial` defined in a .py file (or "module:function" with
    `code`). `objective` is {"metric": ..., "mode": ...} or just the metric's name; `training`
    takes the spec's training fields (max_steps or epochs, checkpoint_every, ...). `sweep_id`
    follows `hpo sweep run --id`'s rule (lower-case letters, digits and dashes).
    """
    if sweep_id is not None:
        # A sweep id names the sweep's workflow and its storage: refused before anything starts.
        check_sweep_id(sweep_id, "hpo.run(sweep_id=...)")
    entrypoint, code_dir = _entrypoint(train, code)
    spec = _spec(
        name=name,
        task={"entrypoint": entrypoint, "code": str(code_dir) if code_dir else None, "config": config or {}},
        space=space,
        trials=trials,
        objective={"metric": objective} if isinstance(objective, str) else (objective or {}),
        algorithm=algorithm,
        training=training or {"max_steps": 100},
        max_concurrent=max_concurrent,
        seed=seed,
    )
    settings = settings or get_settings()
    embedded = stack == "embedded" or (stack == "auto" and not _reachable(settings))
    return _run_in_child(settings, spec, sweep_id, embedded)


def _entrypoint(train: Callable[..., Any] | str, code: str | Path | None) -> tuple[str, Path | None]:
    """`module:function` and the directory to ship, from a function or a reference."""
    if isinstance(train, str):
        return train, Path(code).resolve() if code is not None else None
    module = sys.modules.get(train.__module__)
    source = getattr(module, "__file__", None)
    if source is None or "<locals>" in train.__qualname__ or "." in train.__qualname__:
        raise SpecError(
            f"hpo.run: {train.__qualname__} must be a top-level function in a .py file, so that the "
            "training workers can import it (a notebook cell or a nested function cannot be shipped); "
            "move it into a module next to your notebook and import it from there"
        )
    module_name = train.__module__
    if module_name == "__main__":
        # A script run directly: its workers import it by its file name (keep the sweep
        # itself under `if __name__ == "__main__":`).
        module_name = inspect.getmodulename(source) or Path(source).stem
    depth = module_name.count(".") + (1 if Path(source).name == "__init__.py" else 0)
    root = Path(source).resolve().parents[depth]
    return f"{module_name}:{train.__name__}", Path(code).resolve() if code is not None else root


def _spec(**fields: Any) -> SweepSpec:
    fields["task"] = {k: v for k, v in fields["task"].items() if v is not None}
    return parse_spec(fields, source="hpo.run()")


def _reachable(settings: Settings) -> bool:
    from hpo.workers.stack import port_open

    host, _, port = settings.temporal_address.rpartition(":")
    return port.isdigit() and port_open(host or "127.0.0.1", int(port))


def _run_in_child(settings: Settings, spec: SweepSpec, sweep_id: str | None, embedded: bool) -> SweepStatus:
    """Run the sweep's client side in `python -m hpo.api.child` (why: see that module), its
    progress lines passed through to this process's stdout (a notebook cell shows them)."""
    from hpo.api.child import USER_ERROR

    with tempfile.TemporaryDirectory(prefix="hpo-run-") as scratch:
        outcome_path = Path(scratch) / "outcome.json"
        request = {
            "spec": spec.model_dump(mode="json"),
            "sweep_id": sweep_id,
            "embedded": embedded,
            "outcome_path": str(outcome_path),
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "hpo.api.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_child_env(settings),
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(json.dumps(request))
            child.stdin.close()
            for line in child.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
            code = child.wait()
        finally:
            if child.poll() is None:  # interrupted here: the child's stack must not outlive us
                child.terminate()
                child.wait()
        outcome = json.loads(outcome_path.read_text()) if outcome_path.exists() else {}
    if "status" in outcome:
        return SweepStatus.model_validate(outcome["status"])
    if code == USER_ERROR or outcome.get("kind") == "user":
        raise SpecError(outcome.get("error", "hpo.run: the sweep was refused"))
    if outcome.get("kind") == "interrupted":
        raise KeyboardInterrupt
    reason = outcome.get("error") or f"its process exited with code {code}"
    if outcome.get("kind") == "sweep":
        raise RuntimeError(reason)  # "sweep X failed: <root cause>"
    raise RuntimeError(f"hpo.run could not run the sweep: {reason}")


def _child_env(settings: Settings) -> dict[str, str]:
    """The caller's settings (maybe not the environment's) as the child's environment."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        field = Settings.model_fields[name]
        # A setting with other names (the S3 credentials) goes by its first one, the one read
        # first, so the caller's wins; unset, it is unset in the child too (or the child would
        # use keys the caller's settings do not have). A SecretStr dumps as "**********": the
        # real value is read from the settings themselves.
        choices = getattr(field.validation_alias, "choices", None)
        names = [str(choice) for choice in choices] if choices else [f"HPO_{name.upper()}"]
        for variable in names:
            env.pop(variable, None)
        real = getattr(settings, name)
        if real is not None:
            env[names[0]] = real.get_secret_value() if isinstance(real, SecretStr) else str(value)
    # The Temporal TLS settings by their own rule: unset ones unset, the API key's real value.
    from hpo.connections.temporal_tls import child_environment

    return child_environment(env, settings)


__all__ = ["run"]
