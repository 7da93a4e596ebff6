"""A process of the embedded stack that died is reported with the end of its log, which may live
in a temporary home (`hpo demo`, `hpo.run`) that is gone by the time anyone looks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpo.contracts.settings import Settings
from hpo.workers.stack import EmbeddedStack, ManagedProcess, StackError


def test_a_dead_server_is_named_with_its_log_tail(tmp_path):
    log = tmp_path / "temporal.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('bind: address already in use'); sys.exit(3)"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        process.wait()
    stack = EmbeddedStack.for_home(tmp_path / "home", Settings(), ephemeral_ports=True)
    stack.processes["temporal"] = ManagedProcess("temporal", process, log)
    with pytest.raises(StackError) as raised:
        stack.check_alive()
    message = str(raised.value)
    assert message.startswith("temporal exited with 3") and "bind: address already in use" in message
