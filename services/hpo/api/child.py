"""The process `hpo.run` starts to run a sweep's client side: `python -m hpo.api.child`.

Why a process of its own: the Temporal SDK's Rust threads can call into Python while the
interpreter finalizes and abort a process whose work is already done (SIGABRT,
"PyGILState_Release: thread state must be current"; temporalio/sdk-python#300). The CLI
leaves with `os._exit` for that reason; a user's script or notebook cannot, so the SDK never
loads there. This child reads one request (JSON on stdin), runs the sweep exactly as
`hpo sweep run` would, writes its outcome to the file the request names and leaves without
the teardown.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from hpo.proc import die_gracefully_with_parent, exit_without_teardown

# Exit codes the parent reads (besides the outcome file): the caller's fault, the sweep's.
USER_ERROR = 2
SWEEP_FAILED = 1


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """The sweep's final status (`{"status": ...}`) or why there is none (`{"error": ...}`)."""
    from hpo.cli.commands import run_and_follow
    from hpo.cli.follow import SweepFailed
    from hpo.cli.main import _quiet_sdk_logs
    from hpo.cli.ui import UserError
    from hpo.contracts.settings import get_settings
    from hpo.contracts.spec import SpecError, SweepSpec

    _quiet_sdk_logs()
    settings = get_settings()
    spec = SweepSpec.model_validate(request["spec"])
    sweep_id = request.get("sweep_id")
    try:
        if request.get("embedded"):
            final = _run_embedded(settings, spec, sweep_id)
        else:
            final = asyncio.run(run_and_follow(settings, spec, sweep_id))
    except SweepFailed as error:
        return {"error": str(error), "kind": "sweep"}
    except (UserError, SpecError) as error:
        return {"error": str(error), "kind": "user"}
    assert final is not None
    return {"status": final.model_dump(mode="json")}


def _run_embedded(settings: Any, spec: Any, sweep_id: str | None) -> Any:
    from hpo.cli.commands import run_and_follow
    from hpo.workers.stack import EmbeddedStack

    with tempfile.TemporaryDirectory(prefix="hpo-run-") as home:
        with EmbeddedStack.for_home(Path(home), settings, ephemeral_ports=True) as embedded:
            return asyncio.run(run_and_follow(embedded.settings, spec, sweep_id, stack=embedded))


def main() -> None:
    die_gracefully_with_parent()
    request = json.loads(sys.stdin.read())
    try:
        outcome = run_request(request)
    except KeyboardInterrupt:
        outcome = {"error": "interrupted", "kind": "interrupted"}
    except Exception as error:  # hpo's own fault: the parent shows the trace it cannot see
        traceback.print_exc()
        outcome = {"error": f"{type(error).__name__}: {error}", "kind": "internal"}
    Path(request["outcome_path"]).write_text(json.dumps(outcome))
    code = 0 if "status" in outcome else (USER_ERROR if outcome["kind"] == "user" else SWEEP_FAILED)
    exit_without_teardown(code)


if __name__ == "__main__":
    main()
