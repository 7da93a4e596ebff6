"""hpo against a secured Temporal: TLS with a private CA, mTLS, an API key, through a real
TLS-terminating gRPC proxy in front of the real dev server (tls_proxy.py).

`hpo check` runs as a user runs it, a subprocess with the variables set: it connects or
exits 2 with one line that names the cause, never a traceback. A sweep runs end to end with
both workers (sweep and training) reaching Temporal only through the proxy.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sweeps import byo_spec, new_sweep_id
from tls_proxy import SERVER_NAME, Pki, make_pki, tls_proxy

from hpo.cli.commands import ship_code
from hpo.connections.temporal import connect
from hpo.contracts.messages import Queues, SweepRequest, SweepStatus
from hpo.workers.stack import ManagedProcess

pytestmark = pytest.mark.integration

WORKFLOW_SERVICE = "/temporal.api.workflowservice.v1.WorkflowService/"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def hpo_check(stack: Any, address: str, **variables: str | Path) -> tuple[int, str]:
    env = {**stack.env, "HPO_TEMPORAL_ADDRESS": address, **{k: str(v) for k, v in variables.items()}}
    done = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout + done.stderr


def assert_refused(outcome: tuple[int, str], *phrases: str) -> None:
    code, output = outcome
    assert code == 2, output
    assert "Traceback" not in output, output
    for phrase in phrases:
        assert phrase in output, output


def test_tls_with_a_private_ca_and_a_server_name(stack: Any, pki: Pki) -> None:
    with tls_proxy(stack.settings.temporal_address, pki) as proxy:
        code, output = hpo_check(stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca)
        assert code == 0, output
        assert f"Temporal connection: TLS verified with CA {pki.ca}; namespace default" in output
        code, output = hpo_check(
            stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca, HPO_TEMPORAL_TLS_SERVER_NAME=SERVER_NAME
        )
        assert code == 0 and f"server name {SERVER_NAME}" in output, output
        # A name the certificate does not carry, another CA, the system's roots, no TLS at all.
        assert_refused(
            hpo_check(
                stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca, HPO_TEMPORAL_TLS_SERVER_NAME="wrong.example"
            ),
            f"Temporal at {proxy.address}: the server's certificate is not valid for the name 'wrong.example'",
            "set HPO_TEMPORAL_TLS_SERVER_NAME",
        )
        assert_refused(
            hpo_check(stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.other_ca),
            f"Temporal at {proxy.address}: certificate verify failed: the server's certificate is not signed by "
            f"the CA in HPO_TEMPORAL_TLS_CA={pki.other_ca}",
        )
        assert_refused(
            hpo_check(stack, proxy.address, HPO_TEMPORAL_TLS="true"), "not signed by the system's root CAs"
        )
        assert_refused(hpo_check(stack, proxy.address), "it probably requires TLS; set HPO_TEMPORAL_TLS=true")
    # TLS towards the plaintext dev server itself.
    assert_refused(
        hpo_check(stack, stack.settings.temporal_address, HPO_TEMPORAL_TLS_CA=pki.ca), "does not speak TLS"
    )


def test_unusable_tls_settings_name_the_variable(stack: Any, pki: Pki, tmp_path: Path) -> None:
    address = stack.settings.temporal_address
    missing = tmp_path / "absent" / "ca.crt"
    assert_refused(
        hpo_check(stack, address, HPO_TEMPORAL_TLS_CA=missing),
        f"HPO_TEMPORAL_TLS_CA={missing} cannot be read (No such file or directory)",
    )
    assert_refused(
        hpo_check(stack, address, HPO_TEMPORAL_TLS_CERT=pki.client_cert),
        "HPO_TEMPORAL_TLS_CERT is set but HPO_TEMPORAL_TLS_KEY is not",
    )


def test_mtls_needs_the_client_certificate(stack: Any, pki: Pki) -> None:
    with tls_proxy(stack.settings.temporal_address, pki, require_client_cert=True) as proxy:
        assert_refused(
            hpo_check(stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca),
            f"Temporal at {proxy.address} closed the TLS connection: it requires a client certificate (mTLS)",
        )
        # A certificate the CA did not sign for a client (the server's own, TLS server use only).
        assert_refused(
            hpo_check(
                stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca,
                HPO_TEMPORAL_TLS_CERT=pki.server_cert, HPO_TEMPORAL_TLS_KEY=pki.server_key,
            ),
            f"did not accept the client certificate HPO_TEMPORAL_TLS_CERT={pki.server_cert}",
        )  # fmt: skip
        assert_refused(
            hpo_check(
                stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca,
                HPO_TEMPORAL_TLS_CERT=pki.client_cert, HPO_TEMPORAL_TLS_KEY=pki.server_key,
            ),
            "HPO_TEMPORAL_TLS_KEY is not the private key of the certificate in HPO_TEMPORAL_TLS_CERT",
        )  # fmt: skip
        code, output = hpo_check(
            stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca,
            HPO_TEMPORAL_TLS_CERT=pki.client_cert, HPO_TEMPORAL_TLS_KEY=pki.client_key,
        )  # fmt: skip
        assert code == 0, output
        assert f"mTLS client certificate {pki.client_cert}" in output


def test_api_key(stack: Any, pki: Pki, tmp_path: Path) -> None:
    key = f"key-{uuid.uuid4().hex}"
    key_file = tmp_path / "api-key"
    key_file.write_text(key + "\n")  # as a mounted Secret often is
    with tls_proxy(stack.settings.temporal_address, pki, api_key=key) as proxy:
        assert_refused(
            hpo_check(stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca),
            f"Temporal at {proxy.address} requires authentication: set HPO_TEMPORAL_API_KEY_FILE",
        )
        assert_refused(
            hpo_check(stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca, HPO_TEMPORAL_API_KEY="not-the-key"),
            f"Temporal at {proxy.address} refused the API key (HPO_TEMPORAL_API_KEY): it is wrong, expired",
        )
        code, output = hpo_check(
            stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca, HPO_TEMPORAL_API_KEY_FILE=key_file
        )
        assert code == 0, output
        assert f"API key from {key_file}" in output and key not in output
        code, output = hpo_check(stack, proxy.address, HPO_TEMPORAL_TLS_CA=pki.ca, HPO_TEMPORAL_API_KEY=key)
        assert code == 0 and key not in output, output


@pytest.fixture
def mtls_proxy(stack: Any, pki: Pki) -> Iterator[Any]:
    with tls_proxy(
        stack.settings.temporal_address, pki, require_client_cert=True, api_key="sweep-key"
    ) as proxy:
        yield proxy


async def test_a_sweep_runs_with_both_workers_behind_mtls_and_an_api_key(
    stack: Any, pki: Pki, mtls_proxy: Any, tmp_path: Path
) -> None:
    """The whole path: client, sweep worker and training worker each reach Temporal only
    through the proxy (their only address), on queues no other worker polls."""
    suffix = uuid.uuid4().hex[:6]
    secured = {
        "HPO_TEMPORAL_ADDRESS": mtls_proxy.address,
        "HPO_TEMPORAL_TLS_CA": str(pki.ca),
        "HPO_TEMPORAL_TLS_CERT": str(pki.client_cert),
        "HPO_TEMPORAL_TLS_KEY": str(pki.client_key),
        "HPO_TEMPORAL_API_KEY": "sweep-key",
        "HPO_SWEEP_QUEUE": f"tls-sweeps-{suffix}",
        "HPO_TRAINING_QUEUE": f"tls-training-{suffix}",
    }
    env = {**stack.env, **secured}
    workers = [
        _start_worker(tmp_path, env, "sweep"),
        _start_worker(tmp_path, env, "training", "--concurrency", "2"),
    ]
    try:
        settings = stack.settings.model_copy(
            update={
                "temporal_address": mtls_proxy.address,
                "temporal_tls_ca": pki.ca,
                "temporal_tls_cert": pki.client_cert,
                "temporal_tls_key": pki.client_key,
                "temporal_api_key": SecretStr("sweep-key"),
            }
        )
        client = await connect(settings)
        spec = byo_spec(trials=2, algorithm="random", training={"max_steps": 20, "checkpoint_every": 10})
        sweep_id = new_sweep_id("tls")
        status: SweepStatus = await asyncio.wait_for(
            client.execute_workflow(
                "SweepWorkflow",
                SweepRequest(
                    sweep_id=sweep_id,
                    spec=spec,
                    code=ship_code(stack.settings, spec),
                    queues=Queues(training=secured["HPO_TRAINING_QUEUE"], sweep=secured["HPO_SWEEP_QUEUE"]),
                ),
                id=sweep_id,
                task_queue=secured["HPO_SWEEP_QUEUE"],
                result_type=SweepStatus,
            ),
            timeout=300,
        )
        for worker in workers:
            assert worker.process.poll() is None, worker.log.read_text()[-3000:]
    finally:
        for worker in workers:
            worker.stop()
    assert status.state == "completed", status
    assert [t.status for t in status.trials] == ["completed", "completed"], [t.error for t in status.trials]
    assert all(t.train.step == 20 for t in status.trials)
    # Workflow tasks and activity tasks were polled and answered through the proxy: every
    # call the SDK made was a unary one it could forward.
    methods = {m.removeprefix(WORKFLOW_SERVICE) for m in mtls_proxy.methods}
    assert {"PollWorkflowTaskQueue", "PollActivityTaskQueue", "RespondActivityTaskCompleted"} <= methods, (
        methods
    )


def _start_worker(tmp_path: Path, env: dict[str, str], kind: str, *extra: str) -> ManagedProcess:
    log = tmp_path / f"{kind}-worker.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "hpo.cli", "worker", kind, *extra],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return ManagedProcess(f"{kind}-worker", process, log)
