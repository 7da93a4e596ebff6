"""The files around the chart agree with it: images, kind cluster, add-ons, skaffold.

Pure file checks (no cluster, no engine), so they run everywhere.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hpo"


def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def test_kind_cluster_has_a_node_like_the_gpu_pool() -> None:
    config = yaml.safe_load((REPO / "k8s" / "kind-config.yaml").read_text())
    training = chart_values()["trainingWorker"]
    gpu_nodes = [
        n for n in config["nodes"] if training["nodeSelector"].items() <= n.get("labels", {}).items()
    ]
    assert len(gpu_nodes) == 1
    (patch,) = gpu_nodes[0]["kubeadmConfigPatches"]
    taints = yaml.safe_load(patch)["nodeRegistration"]["taints"]
    for taint in taints:  # every taint of the pool is tolerated by the training workers
        assert any(
            t["key"] == taint["key"] and t["effect"] == taint["effect"] and t["operator"] == "Exists"
            for t in training["tolerations"]
        ), taint
    # Something for the rest of the release to run on.
    assert any(n["role"] == "worker" and n is not gpu_nodes[0] for n in config["nodes"])


def test_dockerfile_is_non_root_with_a_base_image_argument() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=", dockerfile, re.M)
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 2
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1].split(":")[0] == str(chart_values()["common"]["podSecurityContext"]["runAsUser"])
    assert 'ENTRYPOINT ["hpo"]' in dockerfile
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile and "compileall" in dockerfile  # read-only root
    assert "torch==2.13.0" in dockerfile and "constraints.txt" in dockerfile


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*") :][:1] == ["*"]  # allow-list: everything else stays out
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "constraints.txt", "README.md", "services", "docker"}


def test_skaffold_builds_both_images_and_deploys_the_chart() -> None:
    config = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert set(artifacts) == {"hpo-worker", "hpo-training"}
    for name, artifact in artifacts.items():
        assert (REPO / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
        assert artifact["docker"]["buildArgs"]["VARIANT"] == name.removeprefix("hpo-")
    (release,) = config["manifests"]["helm"]["releases"]
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    values = chart_values()
    for key in release["setValueTemplates"]:
        node = values
        for part in key.split("."):
            assert part in node, key  # every value skaffold sets exists in the chart
            node = node[part]
    (kind,) = config["profiles"]
    for patch in kind["patches"]:
        if patch["path"].endswith("valuesFiles"):
            assert all((REPO / f).is_file() for f in patch["value"])


@pytest.mark.parametrize("path", sorted((REPO / "k8s" / "addons").glob("*.yaml")), ids=lambda p: p.name)
def test_addon_values_parse(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text()), dict)


def test_addon_values_target_the_gpu_pool() -> None:
    plugin = yaml.safe_load((REPO / "k8s" / "addons" / "nvidia-device-plugin-values.yaml").read_text())
    assert plugin["nodeSelector"] == chart_values()["trainingWorker"]["nodeSelector"]


@pytest.mark.parametrize(
    "script",
    [
        "scripts/install_k8s_tools.sh",
        "scripts/build_images.sh",
        "scripts/test_k8s_kind.sh",
        "scripts/smoke_test_image.sh",
        "k8s/install-addons.sh",
    ],
)
def test_scripts_parse(script: str) -> None:
    assert subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True).returncode == 0
