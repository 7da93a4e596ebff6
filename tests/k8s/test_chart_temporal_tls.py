"""The chart's secured Temporal (temporal.tls): the Secret's files are mounted where the
HPO_TEMPORAL_TLS_* / HPO_TEMPORAL_API_KEY_FILE variables point, in every pod that talks to
Temporal, and values that do not fit together are refused at render time. The
temporal-cloud scenario is also linted and schema-validated with the others
(test_chart_render.py runs every ci/*-values.yaml)."""

from __future__ import annotations

from typing import Any

import pytest
from test_chart_render import CHART, RELEASE, _tool, by_kind, containers, documents, env_of, pod_specs, run

TLS_DIR = "/etc/hpo/temporal-tls"
# Every workload that reaches Temporal: both workers, the sweep job template, the helm test pod.
TEMPORAL_PODS = {"hpo-sweep-worker", "hpo-training-worker", "ladder", "hpo-test-connection"}
MTLS = (
    "--set", "temporal.tls.existingSecret=temporal-mtls", "--set", "temporal.tls.caKey=ca.crt",
    "--set", "temporal.tls.certKey=tls.crt", "--set", "temporal.tls.keyKey=tls.key",
    "--set", "temporal.tls.serverName=temporal.internal",
)  # fmt: skip


def temporal_containers(docs: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """By owner: the pod spec and its containers that get HPO_TEMPORAL_ADDRESS."""
    found = {}
    for owner, pod in pod_specs(docs):
        talking = [c for c in containers(pod) if "HPO_TEMPORAL_ADDRESS" in env_of(c)]
        if talking:
            found[owner] = (pod, talking)
    return found


def tls_volume(pod: dict[str, Any]) -> dict[str, Any]:
    (volume,) = [v for v in pod["volumes"] if v["name"] == "temporal-tls"]
    return volume["secret"]


def assert_mounted(container: dict[str, Any]) -> None:
    mounts = [m for m in container["volumeMounts"] if m["name"] == "temporal-tls"]
    assert mounts == [{"name": "temporal-tls", "mountPath": TLS_DIR, "readOnly": True}], container["name"]


def test_temporal_cloud_api_key_is_a_mounted_file_in_every_pod() -> None:
    found = temporal_containers(documents("temporal-cloud"))
    assert set(found) == TEMPORAL_PODS
    for owner, (pod, talking) in found.items():
        assert tls_volume(pod) == {
            "secretName": "temporal-cloud",
            "defaultMode": 0o440,
            "items": [{"key": "api-key", "path": "api-key"}],
        }, owner
        for container in talking:
            env = env_of(container)
            assert env["HPO_TEMPORAL_ADDRESS"] == "ns.account.tmprl.cloud:7233"
            assert env["HPO_TEMPORAL_NAMESPACE"] == "ns.account"
            assert env["HPO_TEMPORAL_API_KEY_FILE"] == f"{TLS_DIR}/api-key"
            # TLS turns on by itself with a key (system roots); the key is never a value.
            assert not {"HPO_TEMPORAL_API_KEY", "HPO_TEMPORAL_TLS", "HPO_TEMPORAL_TLS_CA"} & set(env), owner
            assert_mounted(container)


def test_mtls_with_a_private_ca_points_every_variable_at_its_file() -> None:
    found = temporal_containers(documents("external", *MTLS))
    assert set(found) == TEMPORAL_PODS | {"nightly-random"}  # the scenario's second sweep
    for owner, (pod, talking) in found.items():
        assert tls_volume(pod)["items"] == [
            {"key": "ca.crt", "path": "ca.crt"},
            {"key": "tls.crt", "path": "tls.crt"},
            {"key": "tls.key", "path": "tls.key"},
        ], owner
        for container in talking:
            env = env_of(container)
            assert {name: env[name] for name in env if name.startswith("HPO_TEMPORAL_TLS")} == {
                "HPO_TEMPORAL_TLS_CA": f"{TLS_DIR}/ca.crt",
                "HPO_TEMPORAL_TLS_CERT": f"{TLS_DIR}/tls.crt",
                "HPO_TEMPORAL_TLS_KEY": f"{TLS_DIR}/tls.key",
                "HPO_TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
            }
            assert_mounted(container)


def test_without_temporal_tls_nothing_is_mounted() -> None:
    docs = documents("default")
    for owner, (pod, talking) in temporal_containers(docs).items():
        assert all(v["name"] != "temporal-tls" for v in pod["volumes"]), owner
        for container in talking:
            assert not [
                name
                for name in env_of(container)
                if name.startswith(("HPO_TEMPORAL_TLS", "HPO_TEMPORAL_API"))
            ]
    assert by_kind(docs, "Deployment")  # the render had workloads to look at


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["temporal.tls.existingSecret=t", "temporal.tls.certKey=tls.crt"], "temporal.tls.certKey and temporal.tls.keyKey go together"),
        (["temporal.tls.apiKeyKey=api-key"], "temporal.tls.existingSecret is required when"),
        (["temporal.tls.existingSecret=t"], "temporal.tls.existingSecret is set but names no key"),
        (["temporal.tls.serverName=host:7233"], "serverName"),
    ],
)  # fmt: skip
def test_tls_values_that_do_not_fit_are_refused(settings: list[str], message: str) -> None:
    args = [arg for setting in settings for arg in ("--set", setting)]
    proc = run(_tool("helm"), "template", RELEASE, str(CHART), *args, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
