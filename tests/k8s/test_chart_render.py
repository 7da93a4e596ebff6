"""The Helm chart, rendered offline: lint, schema validation, and what the manifests promise.

Runs wherever scripts/install_k8s_tools.sh has put helm into .tools/bin (scripts/test.sh
does, so CI always runs these). Every ci/*-values.yaml scenario is linted with --strict,
rendered with `helm template`, validated against the Kubernetes JSON schemas
(kubernetes-validate --strict, for the oldest and newest Kubernetes the chart supports) and
the KEDA objects and the ServiceMonitor against their models (cloudcoil); then the assertions below read the manifests.
"""

from __future__ import annotations

import base64
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
    assert hpo_args(worker) == ["worker", "training"]
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
        for value in secret.get("data", {}).values():
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
        if len(value) >= 8:  # the generated keys; the access key id alone is not a secret
            assert value not in others


def test_s3_secret_generated_once_and_kept() -> None:
    docs = documents("default")
    secrets = by_kind(docs, "Secret")
    s3 = secrets["hpo-s3"]
    assert s3["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(s3["data"]["AWS_SECRET_ACCESS_KEY"])) == 40
    assert secrets["hpo-temporal-postgresql"]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    template = (CHART / "templates" / "secret-s3.yaml").read_text()
    assert 'lookup "v1" "Secret"' in template  # upgrades read the existing key back
    # MinIO's root credentials are that same Secret.
    minio = main_container(by_kind(docs, "StatefulSet")["hpo-minio"]["spec"]["template"]["spec"])
    assert env_of(minio)["MINIO_ROOT_PASSWORD"]["secretKeyRef"]["name"] == "hpo-s3"


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
    assert set(policies) == {"hpo-workers", "hpo-temporal", "hpo-temporal-postgresql", "hpo-minio"}
    # External endpoints with no egressTo: egress is not restricted (it could not be known).
    ext = by_kind(documents("external"), "NetworkPolicy")["hpo-workers"]["spec"]
    assert "Egress" in ext["policyTypes"] and {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]} in ext["egress"]


def test_service_account_and_rbac_are_minimal() -> None:
    docs = documents("gpu-keda")
    (account,) = by_kind(docs, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False
    (role,) = by_kind(docs, "Role").values()
    verbs = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert ("batch", "jobs", "create") in verbs and ("batch", "cronjobs", "get") in verbs
    assert not any(
        resource in ("secrets", "*") or verb in ("*", "escalate", "bind") for _, resource, verb in verbs
    )
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


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
