"""The Helm chart, rendered offline: lint, schema validation, and what the manifests promise.

Runs wherever scripts/install_k8s_tools.sh has put helm into .tools/bin (scripts/test.sh
does, so CI always runs these). Every ci/*-values.yaml scenario is linted with --strict,
rendered with `helm template`, validated against the Kubernetes JSON schemas
(kubernetes-validate --strict, for the oldest and newest Kubernetes the chart supports) and
the KEDA objects and the ServiceMonitor against their models (cloudcoil); then the assertions below read the manifests.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hpo"
SCENARIOS = sorted(p.stem.removesuffix("-values") for p in (CHART / "ci").glob("*-values.yaml"))
RELEASE, NAMESPACE = "hpo", "hpo"
# Kinds whose schemas kubernetes-validate does not have (CRDs); checked separately.
CRD_KINDS = {"ScaledObject", "ServiceMonitor"}
# Oldest (Chart.yaml kubeVersion) and newest Kubernetes the manifests must validate against.
KUBE_VERSIONS = ("1.27.0", "1.37.0")
# Containers that are not ours and whose images need a writable root filesystem.
WRITABLE_ROOT_OK = {("hpo-temporal", "temporal")}


def _tool(name: str) -> str:
    for candidate in (REPO / ".tools" / "bin" / name, REPO / ".venv" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} not found: run `bash scripts/install_k8s_tools.sh` (scripts/test.sh does)"
    if os.environ.get("CI"):
        pytest.fail(reason)  # CI must run the chart tests, never skip them
    pytest.skip(reason)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def values_file(scenario: str) -> str:
    return str(CHART / "ci" / f"{scenario}-values.yaml")


@cache
def rendered_text(scenario: str, *extra: str) -> str:
    helm = _tool("helm")
    args = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", values_file(scenario)]
    return run(*args, *extra).stdout


def documents(scenario: str, *extra: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered_text(scenario, *extra)) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner name, pod spec) of every workload in the render."""
    for d in docs:
        kind, spec = d["kind"], d.get("spec", {})
        if kind in ("Deployment", "StatefulSet", "Job"):
            yield d["metadata"]["name"], spec["template"]["spec"]
        elif kind == "CronJob":
            yield d["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]
        elif kind == "Pod":
            yield d["metadata"]["name"], spec


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod.get("initContainers", [])) + list(pod["containers"])


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def main_container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["containers"][0]


def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def hpo_args(container: dict[str, Any]) -> list[str]:
    return list(container.get("command", [])) + list(container.get("args", []))


# --- lint, render, schema validation --------------------------------------------------------


def test_every_scenario_exists() -> None:
    assert {"default", "gpu-keda", "external", "kind-cpu"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(scenario: str) -> None:
    out = run(_tool("helm"), "lint", "--strict", str(CHART), "-f", values_file(scenario)).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_render_validates_against_kubernetes_schemas(scenario: str, tmp_path: Path) -> None:
    docs = documents(scenario)
    plain = [d for d in docs if d["kind"] not in CRD_KINDS]
    manifest = tmp_path / f"{scenario}.yaml"
    manifest.write_text(yaml.safe_dump_all(plain, sort_keys=False))
    validator = _tool("kubernetes-validate")
    for version in KUBE_VERSIONS:
        proc = run(validator, "--strict", "--quiet", "-k", version, str(manifest), check=False)
        assert proc.returncode == 0, f"{scenario} @ {version}:\n{proc.stdout}\n{proc.stderr}"
        assert "ERROR" not in proc.stdout + proc.stderr


def _strict_model_check(model: Any, doc: dict[str, Any]) -> None:
    """Validate against a pydantic model and reject fields the model does not know."""
    parsed = model.model_validate(doc)
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_keda_objects_validate_against_keda_models(scenario: str) -> None:
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    for doc in by_kind(documents(scenario), "ScaledObject").values():
        _strict_model_check(ScaledObject, doc)


def test_keda_model_check_catches_mistakes() -> None:
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    doc = next(iter(by_kind(documents("gpu-keda"), "ScaledObject").values()))
    with pytest.raises(pydantic.ValidationError):
        _strict_model_check(ScaledObject, {**doc, "spec": {**doc["spec"], "minReplicaCount": "zero"}})
    with pytest.raises(AssertionError):
        _strict_model_check(ScaledObject, {**doc, "spec": {**doc["spec"], "minReplicas": 0}})


def test_servicemonitor_shape() -> None:
    from cloudcoil.models.prometheus_operator.v1 import ServiceMonitor

    docs = documents("gpu-keda")
    (monitor,) = by_kind(docs, "ServiceMonitor").values()
    _strict_model_check(ServiceMonitor, monitor)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    wanted = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        s for s in by_kind(docs, "Service").values() if wanted.items() <= s["metadata"]["labels"].items()
    ]
    assert {s["metadata"]["name"] for s in selected} == {
        "hpo-training-worker-metrics",
        "hpo-sweep-worker-metrics",
    }
    assert all(e["port"] == "metrics" for e in monitor["spec"]["endpoints"])
    assert {p["name"] for s in selected for p in s["spec"]["ports"]} == {"metrics"}


def test_schema_rejects_bad_values() -> None:
    helm = _tool("helm")
    bad = {
        "trainingWorker.autoscaling.enabled=sometimes": "autoscaling/enabled",
        "sweeps.Bad_Name.schedule=x": "Bad_Name",
        "trainingWorker.terminationGracePeriodSeconds=5": "terminationGracePeriodSeconds",
        "queues.training=has space": "queues/training",
    }
    for setting, message in bad.items():
        proc = run(helm, "template", RELEASE, str(CHART), "--set", setting, check=False)
        assert proc.returncode != 0 and message in proc.stderr, (setting, proc.stderr)
    proc = run(helm, "template", RELEASE, str(CHART), "--set", "temporal.enabled=false", check=False)
    assert proc.returncode != 0 and "temporal.address is required" in proc.stderr


def test_values_yaml_comments_every_setting() -> None:
    """Every key of values.yaml (outside free-form maps) has a comment right above it."""
    free_form = {
        "spec",
        "dynamicConfig",
        "resources",
        "podSecurityContext",
        "securityContext",
        "nodeSelector",
        "tolerations",
    }
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    missing = []
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z0-9_.\-/]+):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [key for _, key in stack]
        stack.append((indent, match.group(2)))
        if free_form & set(parents):
            continue
        if not lines[number - 1].strip().startswith("#"):
            missing.append(f"{number + 1}: {line.strip()}")
    assert not missing, "values without a comment:\n" + "\n".join(missing)


# --- what the manifests promise ---------------------------------------------------------------


def test_gpu_training_worker_resources_and_scheduling() -> None:
    docs = documents("gpu-keda")
    deploy = by_kind(docs, "Deployment")["hpo-training-worker"]
    pod = deploy["spec"]["template"]["spec"]
    worker = main_container(pod)
    assert worker["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"hpo/pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    # Checkpoint-on-SIGTERM: the trial uploads its checkpoint (~270 MB) before SIGKILL.
    assert pod["terminationGracePeriodSeconds"] >= 300
    assert worker["image"] == "registry.example.com/ml/hpo-training:0.1.0-cuda"
    assert hpo_args(worker) == ["worker", "training", "--concurrency", "1"]
    # Rolling updates never need a spare GPU.
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in pod["volumes"])  # /dev/shm


def test_cpu_scenario_requests_no_gpu() -> None:
    pod = by_kind(documents("kind-cpu"), "Deployment")["hpo-training-worker"]["spec"]["template"]["spec"]
    text = yaml.safe_dump(pod)
    assert "nvidia.com/gpu:" not in text.replace("key: nvidia.com/gpu", "")
    assert main_container(pod)["image"] == "hpo-worker:0.1.0"


def test_sweep_worker_runs_the_sweep_queue_on_cpu() -> None:
    pod = by_kind(documents("default"), "Deployment")["hpo-sweep-worker"]["spec"]["template"]["spec"]
    worker = main_container(pod)
    assert hpo_args(worker) == ["worker", "sweep"]
    assert "nvidia.com/gpu" not in yaml.safe_dump(worker["resources"])
    assert "nodeSelector" not in pod


def test_the_bucket_is_created_by_the_python_path() -> None:
    """One bucket-creation path: the init container runs ObjectStore.ensure_bucket (which sends
    the LocationConstraint AWS needs outside us-east-1), not an inline copy of it."""
    pod = by_kind(documents("default"), "Deployment")["hpo-sweep-worker"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "ensure-bucket"
    assert init["command"] == ["python", "-m", "hpo.storage.ensure_bucket"]
    module = pytest.importorskip("hpo.storage.ensure_bucket")
    assert module.main.__module__ == "hpo.storage.ensure_bucket"
    assert env_of(init)["HPO_S3_REGION"] == "us-east-1"
    no_init = by_kind(documents("default", "--set", "s3.createBucket=false"), "Deployment")
    assert "initContainers" not in no_init["hpo-sweep-worker"]["spec"]["template"]["spec"]


def test_dataset_buckets_reach_every_hpo_container() -> None:
    docs = documents("default", "--set", "s3.datasetBuckets={corpora,shared.data}")
    for owner, pod in pod_specs(docs):
        for container in containers(pod):
            if "HPO_S3_BUCKET" in env_of(container):
                assert env_of(container)["HPO_DATASET_BUCKETS"] == "corpora,shared.data", owner
    default_worker = main_container(dict(pod_specs(documents("default")))["hpo-sweep-worker"])
    assert env_of(default_worker)["HPO_DATASET_BUCKETS"] == ""  # the configured bucket only
    bad = run(
        _tool("helm"), "template", RELEASE, str(CHART), "-f", values_file("default"),
        "--set", "s3.datasetBuckets={Not_A_Bucket}", check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "datasetBuckets" in bad.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ladder_cronjob_is_a_suspended_template_wired_to_the_sweep_queue(scenario: str) -> None:
    docs = documents(scenario)
    cron = by_kind(docs, "CronJob")["ladder"]
    assert cron["spec"]["suspend"] is True
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job_spec = cron["spec"]["jobTemplate"]["spec"]
    assert job_spec["backoffLimit"] == 0  # a retry would submit a second sweep
    pod = job_spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    submit = main_container(pod)
    assert hpo_args(submit)[:3] == ["sweep", "run", "/etc/hpo/sweeps/ladder.yaml"]
    # Same queues and servers as the workers that will run the sweep.
    sweep_worker = main_container(by_kind(docs, "Deployment")["hpo-sweep-worker"]["spec"]["template"]["spec"])
    for name in (
        "HPO_SWEEP_QUEUE",
        "HPO_TRAINING_QUEUE",
        "HPO_TEMPORAL_ADDRESS",
        "HPO_TEMPORAL_NAMESPACE",
        "HPO_S3_ENDPOINT",
        "HPO_S3_BUCKET",
    ):
        assert env_of(submit)[name] == env_of(sweep_worker)[name], name
    # The spec file comes from the chart's ConfigMap, under the name the command reads.
    mount = next(m for m in submit["volumeMounts"] if m["mountPath"] == "/etc/hpo/sweeps")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    configmap = by_kind(docs, "ConfigMap")[volume["configMap"]["name"]]
    assert [i["key"] for i in volume["configMap"]["items"]] == ["ladder.yaml"]
    assert yaml.safe_load(configmap["data"]["ladder.yaml"])["name"] == "ladder"
    # The sweep id is the Job's name (kubectl create job sweep ... -> hpo sweep status sweep).
    assert env_of(submit)["HPO_SWEEP_ID"] == {
        "fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}
    }


def test_kubectl_create_job_from_cronjob_yields_a_valid_job(tmp_path: Path) -> None:
    """What `kubectl create job sweep --from=cronjob/ladder` builds from the rendered CronJob."""
    cron = by_kind(documents("default"), "CronJob")["ladder"]
    template = cron["spec"]["jobTemplate"]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "sweep",
            "namespace": NAMESPACE,
            "labels": template["metadata"].get("labels", {}),
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
        },
        "spec": template["spec"],
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    proc = run(
        _tool("kubernetes-validate"), "--strict", "--quiet", "-k", KUBE_VERSIONS[-1], str(path), check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every object the job's pod refers to is part of the release.
    docs = documents("default")
    pod = job["spec"]["template"]["spec"]
    configmaps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    for volume in pod["volumes"]:
        if "configMap" in volume:
            assert volume["configMap"]["name"] in configmaps
    for value in env_of(main_container(pod)).values():
        if isinstance(value, dict) and "secretKeyRef" in value:
            ref = value["secretKeyRef"]
            assert ref["key"] in secrets[ref["name"]]["data"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sweep_specs_are_valid_hpo_specs(scenario: str, tmp_path: Path) -> None:
    """Each ConfigMap spec loads with hpo's own spec loader, as `hpo sweep run` will."""
    spec_module = pytest.importorskip("hpo.contracts.spec")
    (configmap,) = (
        d
        for d in documents(scenario)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-sweeps")
    )
    cronjobs = by_kind(documents(scenario), "CronJob")
    assert {f"{name}.yaml" for name in cronjobs} == set(configmap["data"])
    for key, text in configmap["data"].items():
        path = tmp_path / key
        path.write_text(text)
        spec = spec_module.load_spec(path)
        assert spec.name == key.removesuffix(".yaml")


def test_chart_commands_parse_with_the_hpo_cli() -> None:
    """Every `hpo ...` command line in the chart is accepted by the real CLI parser."""
    cli = pytest.importorskip("hpo.cli.main")
    parser = cli.build_parser()
    seen = set()
    for scenario in SCENARIOS:
        for _owner, pod in pod_specs(documents(scenario)):
            for container in pod["containers"]:
                args = hpo_args(container)
                if not args or container.get("command"):
                    continue  # our images' entrypoint is `hpo`; command overrides run something else
                if not container["image"].split("/")[-1].startswith("hpo-"):
                    continue
                parser.parse_args([a.replace("$(HPO_SWEEP_ID)", "sweep") for a in args])
                seen.add(args[0])
    assert {"worker", "sweep", "check"} <= seen


@pytest.mark.parametrize("scenario", ["gpu-keda", "external"])
def test_keda_scaler_uses_the_workers_queue_and_server(scenario: str) -> None:
    docs = documents(scenario)
    (scaled,) = by_kind(docs, "ScaledObject").values()
    deploys = by_kind(docs, "Deployment")
    training = deploys["hpo-training-worker"]
    sweep_env = env_of(main_container(deploys["hpo-sweep-worker"]["spec"]["template"]["spec"]))
    training_env = env_of(main_container(training["spec"]["template"]["spec"]))
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "hpo-training-worker",
    }
    assert spec["minReplicaCount"] == 0
    assert "replicas" not in training["spec"]  # KEDA owns it; upgrades must not reset it
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "temporal"
    assert meta["taskQueue"] == training_env["HPO_TRAINING_QUEUE"]
    assert meta["endpoint"] == training_env["HPO_TEMPORAL_ADDRESS"]
    assert meta["namespace"] == training_env["HPO_TEMPORAL_NAMESPACE"]
    assert meta["queueTypes"] == "activity"
    # Not scaled away mid-training: active while sweeps run, and no HPA scale-down while active.
    assert meta["includeRunningWorkflowCount"] == "true"
    assert meta["workflowTaskQueueForCount"] == sweep_env["HPO_SWEEP_QUEUE"]
    assert (
        spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["selectPolicy"]
        == "Disabled"
    )
    assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is a string map
    if scenario == "external":
        assert meta["taskQueue"] == "acme-training" and meta["workflowTaskQueueForCount"] == "acme-sweeps"
        assert trigger["authenticationRef"] == {"name": "temporal-api-key"}


def test_keda_auto_mode_follows_the_cluster() -> None:
    assert not by_kind(documents("default"), "ScaledObject")
    with_keda = documents("default", "--api-versions", "keda.sh/v1alpha1")
    assert by_kind(with_keda, "ScaledObject")
    assert "replicas" not in by_kind(with_keda, "Deployment")["hpo-training-worker"]["spec"]
    assert by_kind(documents("default"), "Deployment")["hpo-training-worker"]["spec"]["replicas"] == 1


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_probes_on_long_running_containers(scenario: str) -> None:
    docs = documents(scenario)
    for kind in ("Deployment", "StatefulSet"):
        for name, workload in by_kind(docs, kind).items():
            for container in workload["spec"]["template"]["spec"]["containers"]:
                if container["name"] == "namespace":
                    continue  # idle companion of the Temporal server, nothing to probe
                assert "readinessProbe" in container and "livenessProbe" in container, (
                    name,
                    container["name"],
                )
    for name in ("hpo-training-worker", "hpo-sweep-worker"):
        worker = main_container(by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"])
        port = next(p for p in worker["ports"] if p["name"] == "metrics")
        assert str(port["containerPort"]) == env_of(worker)["HPO_METRICS_PORT"] == "9100"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert worker[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_security_contexts(scenario: str) -> None:
    for owner, pod in pod_specs(documents(scenario)):
        pod_sc = pod.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, owner
        assert pod_sc.get("seccompProfile") == {"type": "RuntimeDefault"}, owner
        assert pod.get("automountServiceAccountToken") is False, owner
        for container in containers(pod):
            sc = container.get("securityContext", {})
            where = (owner, container["name"])
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("capabilities") == {"drop": ["ALL"]}, where
            assert sc.get("privileged") is not True, where
            if where not in WRITABLE_ROOT_OK:
                assert sc.get("readOnlyRootFilesystem") is True, where
            assert "resources" in container and container["resources"].get("limits", {}).get("memory"), where


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_credentials_inline(scenario: str) -> None:
    docs = documents(scenario)
    secret_values = set()
    for secret in by_kind(docs, "Secret").values():
        for key, value in secret.get("data", {}).items():
            if key not in ("AWS_ACCESS_KEY_ID", "rootUser"):  # user names, not secrets
                secret_values.add(base64.b64decode(value).decode())
    secretish = re.compile(r"(SECRET|PASSWORD|PASSWD|PWD|TOKEN|ACCESS_KEY|API_KEY)", re.I)
    for owner, pod in pod_specs(docs):
        for container in containers(pod):
            for entry in container.get("env", []):
                if entry["name"].endswith("_FILE"):  # where a mounted Secret's file is, not its value
                    assert entry["value"].startswith("/etc/"), (owner, entry["name"])
                elif secretish.search(entry["name"]):
                    assert "value" not in entry, (owner, container["name"], entry["name"])
                    assert "secretKeyRef" in entry["valueFrom"], (owner, entry["name"])
    others = yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"])
    for value in secret_values:
        assert len(value) >= 32 and value not in others  # the generated keys


def test_s3_secret_generated_once_and_kept() -> None:
    docs = documents("default")
    secrets = by_kind(docs, "Secret")
    s3 = secrets["hpo-s3"]
    assert s3["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(s3["data"]["AWS_SECRET_ACCESS_KEY"])) == 40
    assert secrets["hpo-temporal-postgresql"]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    root = secrets["hpo-minio-root"]
    assert root["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(root["data"]["rootPassword"])) == 40
    assert root["data"]["rootPassword"] != s3["data"]["AWS_SECRET_ACCESS_KEY"]
    for name in ("secret-s3.yaml", "secret-minio-root.yaml"):
        template = (CHART / "templates" / name).read_text()
        assert 'lookup "v1" "Secret"' in template  # upgrades read the existing key back
    # MinIO's root credentials are a Secret of their own, not the workers' keys.
    minio = main_container(by_kind(docs, "StatefulSet")["hpo-minio"]["spec"]["template"]["spec"])
    assert env_of(minio)["MINIO_ROOT_PASSWORD"]["secretKeyRef"] == {
        "name": "hpo-minio-root",
        "key": "rootPassword",
    }


def test_existing_secret_and_external_servers() -> None:
    docs = documents("external")
    assert "hpo-s3" not in by_kind(docs, "Secret")
    kinds = {d["kind"] for d in docs}
    assert "StatefulSet" not in kinds  # no in-chart PostgreSQL or MinIO
    assert "hpo-temporal" not in by_kind(docs, "Deployment")
    for _owner, pod in pod_specs(docs):
        env = env_of(main_container(pod))
        if "HPO_TEMPORAL_ADDRESS" in env:
            assert env["HPO_TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc.cluster.local:7233"
            assert env["HPO_S3_ENDPOINT"] == "https://s3.eu-west-1.amazonaws.com"
            assert env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "hpo-s3-credentials"
    # A second, scheduled sweep gets its own CronJob and spec.
    nightly = by_kind(docs, "CronJob")["nightly-random"]
    assert nightly["spec"]["suspend"] is False and nightly["spec"]["schedule"] == "30 1 * * *"


def test_in_chart_temporal_and_minio_are_single_replica_and_persistent() -> None:
    docs = documents("default")
    temporal = by_kind(docs, "Deployment")["hpo-temporal"]
    assert temporal["spec"]["replicas"] == 1 and temporal["spec"]["strategy"]["type"] == "Recreate"
    assert main_container(temporal["spec"]["template"]["spec"])["image"].startswith("temporalio/server:")
    statefulsets = by_kind(docs, "StatefulSet")
    for name in ("hpo-temporal-postgresql", "hpo-minio"):
        assert statefulsets[name]["spec"]["replicas"] == 1
        assert statefulsets[name]["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == [
            "ReadWriteOnce"
        ]
    env = env_of(main_container(by_kind(docs, "Deployment")["hpo-sweep-worker"]["spec"]["template"]["spec"]))
    services = by_kind(docs, "Service")
    host, port = env["HPO_TEMPORAL_ADDRESS"].split(":")
    assert host in services and int(port) in [p["port"] for p in services[host]["spec"]["ports"]]
    s3_host = env["HPO_S3_ENDPOINT"].removeprefix("http://").split(":")[0]
    assert s3_host in services


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_selectors_match_pods(scenario: str) -> None:
    docs = documents(scenario)
    pod_labels = {
        name: w["spec"]["template"]["metadata"]["labels"]
        for kind in ("Deployment", "StatefulSet")
        for name, w in by_kind(docs, kind).items()
    }
    for service in by_kind(docs, "Service").values():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels.values()), service["metadata"][
            "name"
        ]
    for pdb in by_kind(docs, "PodDisruptionBudget").values():
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [n for n, labels in pod_labels.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, pdb["metadata"]["name"]
    for name, labels in pod_labels.items():
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"):
            assert key in labels, (name, key)


def test_network_policies() -> None:
    docs = documents("default")
    policies = by_kind(docs, "NetworkPolicy")
    workers = policies["hpo-workers"]["spec"]
    assert workers["ingress"] == [{"ports": [{"port": 9100, "protocol": "TCP"}]}]
    assert "Egress" in workers["policyTypes"]
    egress_ports = {p["port"] for rule in workers["egress"] for p in rule.get("ports", [])}
    assert egress_ports == {53, 7233, 9000}
    # DNS only to the cluster DNS pods, not to port 53 anywhere.
    for rule in workers["egress"]:
        assert rule.get("to"), rule
    (dns,) = [r for r in workers["egress"] if {p["port"] for p in r["ports"]} == {53}]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert set(policies) == {"hpo-workers", "hpo-temporal", "hpo-temporal-postgresql", "hpo-minio"}
    # External endpoints with no egressTo: egress is not restricted (it could not be known).
    ext = by_kind(documents("external"), "NetworkPolicy")["hpo-workers"]["spec"]
    assert "Egress" in ext["policyTypes"] and {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]} in ext["egress"]


def _role_verbs(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    (role,) = by_kind(docs, "Role").values()
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_launcher_role_cannot_reach_secrets(scenario: str) -> None:
    """Launching needs no Kubernetes write access: nothing that makes a pod (which could mount
    any Secret), no Secrets, no exec; port-forward only where rbac.portForward asks for it."""
    docs = documents(scenario)
    verbs = _role_verbs(docs)
    writes = {(g, r, v) for g, r, v in verbs if v not in ("get", "list", "watch")}
    forward = (
        yaml.safe_load(Path(values_file(scenario)).read_text()).get("rbac", {}).get("portForward", False)
    )
    assert writes == ({("", "pods/portforward", "create")} if forward else set()), writes
    pod_makers = {
        "pods",
        "jobs",
        "cronjobs",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "pods/exec",
    }
    assert not any(r in pod_makers and v in ("create", "update", "patch") for _, r, v in verbs)
    assert not any(
        r in ("secrets", "*", "pods/exec", "pods/attach") or v in ("*", "escalate", "bind", "impersonate")
        for _, r, v in verbs
    )
    assert ("batch", "cronjobs", "get") in verbs and ("", "pods/log", "get") in verbs
    (role,) = by_kind(docs, "Role").values()
    (configmaps,) = [rule for rule in role["rules"] if "configmaps" in rule["resources"]]
    assert configmaps["resourceNames"] == ["hpo-sweeps"] and configmaps["verbs"] == ["get"]


def test_service_account_and_rbac_are_minimal() -> None:
    docs = documents("gpu-keda")
    (account,) = by_kind(docs, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False
    (role,) = by_kind(docs, "Role").values()
    (binding,) = by_kind(docs, "RoleBinding").values()
    assert binding["subjects"] == [
        {"kind": "Group", "name": "ml-team", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert not by_kind(documents("default"), "RoleBinding")  # nobody is bound unless named


def test_helm_test_pod_checks_temporal_and_s3() -> None:
    (pod,) = by_kind(documents("default"), "Pod").values()
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    check = main_container(pod["spec"])
    assert hpo_args(check) == ["check"]
    assert {"HPO_TEMPORAL_ADDRESS", "HPO_S3_ENDPOINT", "AWS_SECRET_ACCESS_KEY"} <= set(env_of(check))


def test_notes_tell_the_next_command() -> None:
    out = run(
        _tool("helm"), "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE
    ).stdout
    notes = out[out.index("NOTES:") :]
    assert f"kubectl -n {NAMESPACE} create job sweep --from=cronjob/ladder" in notes
    assert f"helm -n {NAMESPACE} test {RELEASE}" in notes


# --- pools of training workers ---------------------------------------------------------------


def _hpo_containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for owner, pod in pod_specs(docs):
        for container in containers(pod):
            if "HPO_TEMPORAL_ADDRESS" in env_of(container):
                yield owner, container


def test_two_pools_two_deployments_on_two_queues() -> None:
    docs = documents("pools")
    deploys, scaled = by_kind(docs, "Deployment"), by_kind(docs, "ScaledObject")
    pools = {"hpo-training-worker": "hpo-training", "hpo-training-worker-a100x2": "hpo-training-a100x2"}
    assert pools.keys() <= deploys.keys() and set(scaled) == set(pools)
    for name, queue in pools.items():
        pod = deploys[name]["spec"]["template"]["spec"]
        assert env_of(main_container(pod))["HPO_TRAINING_QUEUE"] == queue
        (trigger,) = scaled[name]["spec"]["triggers"]
        assert scaled[name]["spec"]["scaleTargetRef"]["name"] == name
        assert trigger["metadata"]["taskQueue"] == queue
    default = main_container(deploys["hpo-training-worker"]["spec"]["template"]["spec"])
    a100_pod = deploys["hpo-training-worker-a100x2"]["spec"]["template"]["spec"]
    a100 = main_container(a100_pod)
    # Prices, currencies and accelerators per trial: 2 GPUs / concurrency 2 = 1 per trial.
    assert (env_of(default)["HPO_PRICE_PER_HOUR"], env_of(default)["HPO_CURRENCY"]) == ("1.2", "USD")
    assert (env_of(a100)["HPO_PRICE_PER_HOUR"], env_of(a100)["HPO_CURRENCY"]) == ("3.5", "USD")
    assert (
        env_of(default)["HPO_ACCELERATORS_PER_TRIAL"] == "1"
        and env_of(a100)["HPO_ACCELERATORS_PER_TRIAL"] == "1"
    )
    assert hpo_args(a100) == ["worker", "training", "--concurrency", "2"]
    assert a100["resources"]["limits"] == {"memory": "96Gi", "nvidia.com/gpu": 2}
    # A pool's nodeSelector replaces the default one; unset keys (tolerations) are inherited.
    assert a100_pod["nodeSelector"] == {"hpo/pool": "a100"}
    assert a100_pod["tolerations"] == chart_values()["trainingWorker"]["tolerations"]
    # Map settings merge key by key: maxReplicas and keepAlive from the pool, the rest inherited.
    meta = {n: s["spec"]["triggers"][0]["metadata"] for n, s in scaled.items()}
    assert scaled["hpo-training-worker-a100x2"]["spec"]["maxReplicaCount"] == 2
    assert scaled["hpo-training-worker"]["spec"]["maxReplicaCount"] == 4
    assert "includeRunningWorkflowCount" in meta["hpo-training-worker"]
    assert "includeRunningWorkflowCount" not in meta["hpo-training-worker-a100x2"]
    # Every hpo container (sweep worker, sweep jobs, helm test, workers) knows the pools, default first.
    owners = {owner for owner, _ in _hpo_containers(docs)}
    assert {"hpo-sweep-worker", "ladder", "hpo-test-connection", *pools} <= owners
    for owner, container in _hpo_containers(docs):
        assert env_of(container)["HPO_POOLS"] == "default,a100x2", owner
        if owner not in pools:
            assert env_of(container)["HPO_TRAINING_QUEUE"] == "hpo-training", owner
    # Each pool's PDB selects its own pods only; the metrics Service selects both pools.
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert {"hpo-training-worker", "hpo-training-worker-a100x2", "hpo-sweep-worker"} == set(pdbs)
    service = by_kind(docs, "Service")["hpo-training-worker-metrics"]["spec"]["selector"]
    for name in pools:
        assert service.items() <= deploys[name]["spec"]["template"]["metadata"]["labels"].items()


def test_pool_order_and_names_follow_the_values() -> None:
    pools = '[{"name":"l4"},{"name":"default","gpus":0}]'
    docs = documents("default", "--set-json", f"trainingWorkers={pools}")
    deploys = by_kind(docs, "Deployment")
    for _owner, container in _hpo_containers(docs):
        assert env_of(container)["HPO_POOLS"] == "l4,default"
    # The first pool polls the base queue, whatever its name; "default" keeps the 0.1 Deployment name.
    assert (
        env_of(main_container(deploys["hpo-training-worker-l4"]["spec"]["template"]["spec"]))[
            "HPO_TRAINING_QUEUE"
        ]
        == "hpo-training"
    )
    cpu = main_container(deploys["hpo-training-worker"]["spec"]["template"]["spec"])
    assert env_of(cpu)["HPO_TRAINING_QUEUE"] == "hpo-training-default"
    assert (
        env_of(cpu)["HPO_ACCELERATORS_PER_TRIAL"] == "1"
        and "nvidia.com/gpu" not in cpu["resources"]["limits"]
    )


def test_single_training_worker_is_the_default_pool() -> None:
    """Values from before pools render the same Deployment, now with HPO_POOLS and the GPUs per trial."""
    docs = documents("default", "--set", "trainingWorker.gpus=2")
    deploys = by_kind(docs, "Deployment")
    assert [n for n in deploys if n.startswith("hpo-training-worker")] == ["hpo-training-worker"]
    deploy = deploys["hpo-training-worker"]
    assert deploy["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "training-worker"
    env = env_of(main_container(deploy["spec"]["template"]["spec"]))
    assert env["HPO_POOLS"] == "default" and env["HPO_ACCELERATORS_PER_TRIAL"] == "2"
    # A 2-GPU limit written in resources counts the same as `gpus`.
    docs = documents(
        "default", "--set", "trainingWorker.gpus=0", "--set-json",
        'trainingWorker.resources={"limits":{"memory":"8Gi","nvidia.com/gpu":4}}',
        "--set", "trainingWorker.concurrency=2",
    )  # fmt: skip
    env = env_of(
        main_container(by_kind(docs, "Deployment")["hpo-training-worker"]["spec"]["template"]["spec"])
    )
    assert env["HPO_ACCELERATORS_PER_TRIAL"] == "2"


def _render_fails(*args: str) -> str:
    proc = run(_tool("helm"), "template", RELEASE, str(CHART), *args, check=False)
    assert proc.returncode != 0, args
    return proc.stderr


def test_pool_values_that_cannot_work_fail_the_render() -> None:
    assert "do not divide among concurrency 2" in _render_fails(
        "--set-json", 'trainingWorkers=[{"name":"default","gpus":3,"concurrency":2}]'
    )
    assert "two pools are named" in _render_fails("--set-json", 'trainingWorkers=[{"name":"a"},{"name":"a"}]')
    assert "trainingWorkers/0" in _render_fails("--set-json", 'trainingWorkers=[{"gpus":1}]')
    assert "trainingWorkers/0/name" in _render_fails("--set-json", 'trainingWorkers=[{"name":"Bad_Name"}]')
    assert "trainingWorker" in _render_fails("--set", "trainingWorker.name=x")


# --- least privilege and stable renders ------------------------------------------------------


def test_hpo_pods_use_a_scoped_minio_user_never_the_root() -> None:
    docs = documents("default")
    (job,) = by_kind(docs, "Job").values()
    assert job["metadata"]["name"].startswith("hpo-minio-user-setup-")
    mc = main_container(job["spec"]["template"]["spec"])
    env = env_of(mc)
    assert env["ROOT_PASSWORD"]["secretKeyRef"]["name"] == "hpo-minio-root"
    assert env["HPO_SECRET_KEY"]["secretKeyRef"] == {"name": "hpo-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    assert mc["image"] == chart_values()["minio"]["image"]  # it ships mc
    script = mc["args"][0]
    for step in ("mc admin policy create root", "mc admin user add root", "mc admin policy attach root"):
        assert step in script
    assert "$(" not in script  # Kubernetes would expand it as a variable reference
    policy = json.loads(env["POLICY"])
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::hpo", "arn:aws:s3:::hpo/*"}
    # Only MinIO and the setup Job see the root Secret.
    root_users = {
        owner
        for owner, pod in pod_specs(docs)
        for c in containers(pod)
        for e in c.get("env", [])
        if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "hpo-minio-root"
    }
    assert root_users == {"hpo-minio", job["metadata"]["name"]}
    for owner, container in _hpo_containers(docs):
        assert env_of(container)["AWS_ACCESS_KEY_ID"]["secretKeyRef"]["name"] == "hpo-s3", owner
    assert base64.b64decode(by_kind(docs, "Secret")["hpo-s3"]["data"]["AWS_ACCESS_KEY_ID"]) == b"hpo-workers"
    # Dataset buckets are read-only in the policy.
    docs = documents("default", "--set", "s3.datasetBuckets={corpora}")
    (job,) = by_kind(docs, "Job").values()
    statements = json.loads(env_of(main_container(job["spec"]["template"]["spec"]))["POLICY"])["Statement"]
    (read,) = [s for s in statements if "arn:aws:s3:::corpora" in s["Resource"]]
    assert "s3:PutObject" not in read["Action"] and "s3:*" not in read["Action"]


def test_irsa_renders_no_key_secret() -> None:
    docs = documents("irsa")
    assert not by_kind(docs, "Secret") and not by_kind(docs, "Job")
    for owner, container in _hpo_containers(docs):
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env_of(container)), owner
    assert "does not work with the in-chart MinIO" in _render_fails("--set", "s3.credentials=none")


def test_external_endpoints_get_their_own_egress_rules() -> None:
    workers = by_kind(documents("irsa"), "NetworkPolicy")["hpo-workers"]["spec"]
    assert "Egress" in workers["policyTypes"]
    rules = {
        tuple(p["port"] for p in r["ports"]): [
            peer["ipBlock"]["cidr"] for peer in r["to"] if "ipBlock" in peer
        ]
        for r in workers["egress"]
    }
    assert rules[(7233,)] == ["10.20.0.0/16"]
    assert rules[(443,)] == ["52.218.0.0/17", "3.5.64.0/21"]
    assert all(r.get("to") for r in workers["egress"])  # nothing goes anywhere
    # Only one endpoint known: egress stays open rather than cutting the other off.
    half = by_kind(documents("irsa", "--set-json", "networkPolicy.egress.s3.cidrs=[]"), "NetworkPolicy")
    assert "Egress" not in half["hpo-workers"]["spec"]["policyTypes"]


def test_existing_secrets_make_renders_byte_identical() -> None:
    helm = _tool("helm")
    args = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    gitops = [run(*args, "-f", values_file("gitops")).stdout for _ in range(2)]
    assert gitops[0] == gitops[1]
    docs = [d for d in yaml.safe_load_all(gitops[0]) if d]
    assert not by_kind(docs, "Secret")  # every password comes from the named Secrets
    # Without them each render generates new passwords, as the chart README warns.
    generated = [run(*args).stdout for _ in range(2)]
    assert generated[0] != generated[1]


def test_image_digest_pins_the_image() -> None:
    docs = documents("gitops")
    images = {
        c["image"] for _o, pod in pod_specs(docs) for c in containers(pod) if "hpo-worker" in c["image"]
    }
    assert images == {"hpo-worker@sha256:" + "0123456789abcdef" * 4}
    assert "images/worker/digest" in _render_fails("--set", "images.worker.digest=sha256:abc")
    assert "minio/image" in _render_fails("--set", "minio.image=minio/minio@sha256:nothex")


# --- KEDA version ------------------------------------------------------------------------------

# Oldest KEDA whose Temporal scaler knows each metadata field (keda.sh/docs/<version>/scalers/temporal).
TEMPORAL_SCALER_FIELDS = {
    **dict.fromkeys(("endpoint", "namespace", "taskQueue", "queueTypes", "targetQueueSize"), (2, 17)),
    **dict.fromkeys(("activationTargetQueueSize",), (2, 17)),
    **dict.fromkeys(("includeRunningWorkflowCount", "workflowTaskQueueForCount"), (2, 22)),
}
KEDA_MENTION = re.compile(r"KEDA\s*(?:≥|>=|<|older than)\s*(\d+\.\d+)", re.I)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_one_keda_version_stated_installed_and_needed() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    minimum = _version(chart["annotations"]["hpo/keda-min-version"])
    mentions = []
    for path in [
        CHART / "README.md",
        CHART / "values.yaml",
        REPO / "README.md",
        *sorted((REPO / "k8s").rglob("*")),
    ]:
        if path.is_file():
            mentions += [(path.name, m) for m in KEDA_MENTION.findall(path.read_text())]
    assert len(mentions) >= 4 and {_version(m) for _p, m in mentions} == {minimum}, mentions
    installed = re.search(r"KEDA_VERSION:-([0-9.]+)", (REPO / "k8s" / "install-addons.sh").read_text())
    assert installed and _version(installed.group(1))[:2] >= minimum
    used = set()
    for scenario in SCENARIOS:
        for scaled in by_kind(documents(scenario), "ScaledObject").values():
            for trigger in scaled["spec"]["triggers"]:
                used |= set(trigger["metadata"])
    assert used <= TEMPORAL_SCALER_FIELDS.keys(), used - TEMPORAL_SCALER_FIELDS.keys()
    assert max(TEMPORAL_SCALER_FIELDS[f] for f in used) == minimum


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
