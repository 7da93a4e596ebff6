"""End to end on a real cluster: kind, the locally built image, `helm install`, and the
documented way to start a sweep, `kubectl create job sweep --from=cronjob/ladder`.

Needs kind, a container engine (docker or podman) and helm/kubectl; skips, saying which is
missing, where they are not (as on the project's CI machines). One command runs it:

    bash scripts/test_k8s_kind.sh

(builds hpo-worker with scripts/build_images.sh if the engine lacks it, then runs this file).
The cluster comes from k8s/kind-config.yaml (a node labelled and tainted as the GPU pool),
the release from charts/hpo/ci/kind-cpu-values.yaml (training worker on CPU, a 3-trial ASHA
ladder). HPO_KIND_KEEP=1 keeps the cluster for a look afterwards; HPO_KIND_SKIP=1 skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hpo"
VALUES = CHART / "ci" / "kind-cpu-values.yaml"
NAMESPACE = "hpo"
IMAGE = "hpo-worker:0.1.0"
SWEEP_TIMEOUT_S = int(os.environ.get("HPO_KIND_SWEEP_TIMEOUT", "1800"))


def _find(name: str) -> str | None:
    local = REPO / ".tools" / "bin" / name
    return str(local) if local.is_file() else shutil.which(name)


def _engine() -> str | None:
    for engine in ("docker", "podman"):
        path = shutil.which(engine)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=60).returncode == 0:
            return path
    return None


def _missing() -> str | None:
    if os.environ.get("HPO_KIND_SKIP"):
        return "HPO_KIND_SKIP is set"
    if not _find("kind"):
        return "kind is not installed (https://kind.sigs.k8s.io); this test needs a kind cluster"
    for tool in ("helm", "kubectl"):
        if not _find(tool):
            return f"{tool} is not installed (bash scripts/install_k8s_tools.sh puts it in .tools/bin)"
    if not _engine():
        return "no working container engine (docker info / podman info failed)"
    return None


pytestmark = [pytest.mark.skipif(_missing() is not None, reason=str(_missing())), pytest.mark.timeout(3600)]


class Cluster:
    def __init__(self, name: str, kubeconfig: Path, engine: str) -> None:
        self.name, self.kubeconfig, self.engine = name, kubeconfig, engine
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        if engine.endswith("podman"):
            self.env["KIND_EXPERIMENTAL_PROVIDER"] = "podman"

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(args, capture_output=True, text=True, env=self.env, cwd=REPO, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def kubectl(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run(_find("kubectl") or "kubectl", "-n", NAMESPACE, *args, **kw)  # type: ignore[arg-type]

    def helm(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run(_find("helm") or "helm", "-n", NAMESPACE, *args, **kw)  # type: ignore[arg-type]

    def diagnostics(self) -> str:
        parts = []
        for args in (
            ("get", "pods,jobs,pvc", "-o", "wide"),
            ("get", "events", "--sort-by=.lastTimestamp"),
            ("logs", "deploy/hpo-sweep-worker", "--tail=80"),
            ("logs", "deploy/hpo-training-worker", "--tail=80"),
            ("logs", "deploy/hpo-temporal", "-c", "temporal", "--tail=40"),
        ):
            proc = self.kubectl(*args, check=False, timeout=60)
            parts.append(f"$ kubectl {' '.join(args)}\n{proc.stdout}{proc.stderr}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    engine = _engine()
    assert engine
    kind = _find("kind")
    assert kind
    if subprocess.run([engine, "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        pytest.fail(f"image {IMAGE} is missing: build it with `bash scripts/build_images.sh worker`")
    name = f"hpo-test-{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="hpo-kind-"))
    c = Cluster(name, workdir / "kubeconfig", engine)
    c.run(
        kind,
        "create",
        "cluster",
        "--name",
        name,
        "--config",
        str(REPO / "k8s" / "kind-config.yaml"),
        "--kubeconfig",
        str(c.kubeconfig),
        "--wait",
        "180s",
        timeout=900,
    )
    try:
        # Through an archive, which works for docker and podman alike.
        archive = workdir / "hpo-worker.tar"
        c.run(engine, "save", "-o", str(archive), IMAGE, timeout=900)
        c.run(kind, "load", "image-archive", str(archive), "--name", name, timeout=900)
        archive.unlink()
        yield c
    finally:
        if not os.environ.get("HPO_KIND_KEEP"):
            c.run(kind, "delete", "cluster", "--name", name, check=False, timeout=300)
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept cluster {name}; KUBECONFIG={c.kubeconfig}")


def test_helm_install_and_ladder_sweep_end_to_end(cluster: Cluster) -> None:
    try:
        cluster.helm(
            "install",
            "hpo",
            str(CHART),
            "--create-namespace",
            "-f",
            str(VALUES),
            "--wait",
            "--timeout",
            "15m",
            timeout=1000,
        )
        # Temporal and S3 reachable with the workers' settings.
        test = cluster.helm("test", "hpo", "--logs", "--timeout", "5m", timeout=400)
        assert "Phase:          Succeeded" in test.stdout or "Succeeded" in test.stdout

        # The documented way to start a sweep.
        cluster.kubectl("create", "job", "sweep", "--from=cronjob/ladder")
        deadline = time.monotonic() + SWEEP_TIMEOUT_S
        while True:
            status = cluster.kubectl(
                "get", "job", "sweep", "-o", "jsonpath={.status.succeeded}/{.status.failed}"
            ).stdout
            succeeded, _, failed = status.partition("/")
            if succeeded == "1":
                break
            assert failed in ("", "0"), (
                "the sweep job failed:\n" + cluster.kubectl("logs", "job/sweep", check=False).stdout
            )
            assert time.monotonic() < deadline, f"sweep not done after {SWEEP_TIMEOUT_S}s"
            time.sleep(10)

        # The job's log ends with the leaderboard; the same result is readable afterwards.
        log = cluster.kubectl("logs", "job/sweep").stdout
        scored = re.search(r"(\d+)/(\d+) trials scored", log)
        assert scored and int(scored.group(1)) >= 1, f"no trial was scored:\n{log}"
        assert "completed" in log, log
        status = cluster.kubectl("exec", "deploy/hpo-sweep-worker", "--", "hpo", "sweep", "status", "sweep")
        assert "sweep sweep" in status.stdout and "completed" in status.stdout, status.stdout
        print(log)
    except BaseException:
        print(cluster.diagnostics())
        raise
