"""Run a rendered Helm chart's containers as local processes, as the kubelet would start them.

A container becomes a process with exactly its rendered command, args and environment, under
Kubernetes' rules and the image's (docker/Dockerfile): the image's ENV first, then the
container's `env` in order (`valueFrom` resolved from the rendered Secrets and ConfigMaps, from
Secrets the caller supplies for an `existingSecret`, and from the pod's own fields);
`$(VAR)` references expanded; `command` replacing the image's ENTRYPOINT, `args` its CMD.
Only what a laptop cannot be is translated, each translation a mapping the caller can see:

* mounted volumes (emptyDir, configMap, secret) become temporary folders, and their mount paths
  in args and environment point at those folders;
* the image's own filesystem (`/opt/hpo`, the image's virtualenv) is this checkout's .venv;
* the service addresses the values name (an external Temporal, an S3 endpoint) are the local
  servers' addresses;
* each pod's network namespace is gone: its container ports are free local ports, and a
  listener on 0.0.0.0 listens on 127.0.0.1.

Nothing else is written by hand, so an env var, an arg or a mounted file the chart gets wrong
shows up as a process that fails.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Where the Dockerfile's final stage puts hpo's virtualenv; here it is the checkout's .venv.
IMAGE_VENV = "/opt/hpo"
# PATH of the Debian/python base images, which the Dockerfile's `ENV PATH=/opt/hpo/bin:$PATH` extends.
BASE_IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# `$(VAR)` as Kubernetes expands it in env values, command and args; `$$` escapes a `$`.
VAR_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
FIELD_LABEL = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


@dataclass(frozen=True)
class ImageConfig:
    """What an image contributes to a container: its ENV (in order), ENTRYPOINT, CMD, WORKDIR."""

    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    workdir: str = "/"


def dockerfile_image_config(dockerfile: Path) -> ImageConfig:
    """The final stage's ENV, ENTRYPOINT, CMD and WORKDIR, as `docker build` would set them."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    final_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    env: dict[str, str] = {"PATH": BASE_IMAGE_PATH}
    entrypoint: list[str] = []
    cmd: list[str] = []
    workdir = "/"
    for line in lines[final_from + 1 :]:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
        elif instruction == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif instruction == "CMD":
            cmd = json.loads(rest)
        elif instruction == "WORKDIR":
            workdir = rest.strip()
    return ImageConfig(env=env, entrypoint=entrypoint, cmd=cmd, workdir=workdir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, others stay as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return variables[name] if name in variables else match.group(0)

    return VAR_REFERENCE.sub(replace, text)


@dataclass
class Cluster:
    """The rendered objects a pod can refer to, plus the Secrets that exist outside the chart."""

    documents: list[dict[str, Any]]
    namespace: str
    existing_secrets: dict[str, dict[str, str]] = field(default_factory=dict)

    def _objects(self, kind: str) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["name"]: d for d in self.documents if d["kind"] == kind}

    def secret(self, name: str) -> dict[str, str]:
        rendered = self._objects("Secret").get(name)
        if rendered is not None:
            data = {k: base64.b64decode(v).decode() for k, v in (rendered.get("data") or {}).items()}
            return {**data, **(rendered.get("stringData") or {})}
        if name in self.existing_secrets:
            return self.existing_secrets[name]
        raise LookupError(f"Secret {name!r} is neither rendered by the chart nor supplied as existing")

    def configmap(self, name: str) -> dict[str, str]:
        rendered = self._objects("ConfigMap").get(name)
        if rendered is None:
            raise LookupError(f"ConfigMap {name!r} is not rendered by the chart")
        return dict(rendered.get("data") or {})


@dataclass
class PodInstance:
    """One pod of a workload: its name and labels as the controller would give them."""

    owner: str  # e.g. "Deployment/hpo-sweep-worker"
    source: str  # name of the rendered object it comes from: "hpo-sweep-worker", "ladder"
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]

    @classmethod
    def of_deployment(cls, deployment: dict[str, Any], replica: int) -> PodInstance:
        template = deployment["spec"]["template"]
        pod_hash = secrets.token_hex(5)[:10]
        return cls(
            owner=f"Deployment/{deployment['metadata']['name']}",
            source=deployment["metadata"]["name"],
            name=f"{deployment['metadata']['name']}-{pod_hash}-{replica:05d}"[:63],
            labels={**template["metadata"].get("labels", {}), "pod-template-hash": pod_hash},
            spec=template["spec"],
        )

    @classmethod
    def of_job_from_cronjob(cls, cronjob: dict[str, Any], job_name: str) -> PodInstance:
        """The pod of `kubectl create job JOB_NAME --from=cronjob/NAME`: the CronJob's job
        template, with the labels the Job controller adds to its pods."""
        template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
        return cls(
            owner=f"Job/{job_name} (from CronJob/{cronjob['metadata']['name']})",
            source=cronjob["metadata"]["name"],
            name=f"{job_name}-{secrets.token_hex(3)[:5]}",
            labels={
                **template["metadata"].get("labels", {}),
                "batch.kubernetes.io/job-name": job_name,
                "job-name": job_name,
            },
            spec=template["spec"],
        )

    @classmethod
    def of_pod(cls, pod: dict[str, Any]) -> PodInstance:
        return cls(
            owner=f"Pod/{pod['metadata']['name']}",
            source=pod["metadata"]["name"],
            name=pod["metadata"]["name"],
            labels=dict(pod["metadata"].get("labels", {})),
            spec=pod["spec"],
        )


@dataclass
class Started:
    """A container running as a local process, and how it was made from the render."""

    pod: PodInstance
    container: dict[str, Any]
    init: bool
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]  # container port name (or number) -> local port
    stopped_in: float | None = None  # seconds from SIGTERM to exit, once stopped

    @property
    def label(self) -> str:
        return f"{self.pod.owner} container {self.container['name']}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> None:
        """SIGTERM to the container's main process only: the runtime signals PID 1, never
        the processes it started (a worker's trial processes must not see it first)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def reap(self, signalled_at: float, deadline: float) -> None:
        """Wait for the exit after SIGTERM until `deadline` (time.monotonic()), then SIGKILL;
        whatever of the container still runs is killed with it, as tearing down the
        container's namespace does."""
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
            self.stopped_in = time.monotonic() - signalled_at
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            now = time.monotonic()
            self.terminate()
            self.reap(now, now + timeout)


@dataclass
class LocalKubelet:
    """Starts pods' containers as processes on this machine (see the module docstring)."""

    cluster: Cluster
    image: ImageConfig
    venv: Path  # stands for the image's IMAGE_VENV
    workdir: Path  # volumes, logs and each container's working directory live under here
    services: dict[str, str]  # address as the values name it -> local address
    started: list[Started] = field(default_factory=list)

    # --- the pod's environment -------------------------------------------------------------

    def _field(self, pod: PodInstance, path: str, container: dict[str, Any]) -> str:
        simple = {
            "metadata.name": pod.name,
            "metadata.namespace": self.cluster.namespace,
            "spec.serviceAccountName": pod.spec.get("serviceAccountName", "default"),
            "spec.nodeName": socket.gethostname(),
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        found = FIELD_LABEL.match(path)
        if found:
            where = pod.labels if found.group(1) == "labels" else {}
            if found.group(2) not in where:
                raise LookupError(
                    f"{container['name']}: fieldRef {path} names a {found.group(1)[:-1]} the pod lacks"
                )
            return where[found.group(2)]
        raise NotImplementedError(f"{container['name']}: fieldRef {path} is not supported here")

    def _value_from(self, pod: PodInstance, source: dict[str, Any], container: dict[str, Any]) -> str | None:
        if "secretKeyRef" in source or "configMapKeyRef" in source:
            secret = "secretKeyRef" in source
            ref = source["secretKeyRef" if secret else "configMapKeyRef"]
            data = self.cluster.secret(ref["name"]) if secret else self.cluster.configmap(ref["name"])
            if ref["key"] not in data:
                if ref.get("optional"):
                    return None
                kind = "Secret" if secret else "ConfigMap"
                raise LookupError(f"{container['name']}: {kind} {ref['name']!r} has no key {ref['key']!r}")
            return data[ref["key"]]
        if "fieldRef" in source:
            return self._field(pod, source["fieldRef"]["fieldPath"], container)
        raise NotImplementedError(f"{container['name']}: valueFrom {sorted(source)} is not supported here")

    def container_environment(self, pod: PodInstance, container: dict[str, Any]) -> dict[str, str]:
        """The image's ENV, the kubelet's HOSTNAME, then envFrom and env in order, as Kubernetes
        composes them; `$(VAR)` in a value sees only the container's variables defined above it."""
        declared: dict[str, str] = {}
        for source in container.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                data = self.cluster.secret(source["secretRef"]["name"])
            else:
                data = self.cluster.configmap(source["configMapRef"]["name"])
            declared.update({prefix + k: v for k, v in data.items()})
        for variable in container.get("env", []):
            if "valueFrom" in variable:
                value = self._value_from(pod, variable["valueFrom"], container)
                if value is None:
                    continue
            else:
                value = _expand(variable.get("value", ""), declared)
            declared[variable["name"]] = value
        return {**self.image.env, "HOSTNAME": pod.name, **declared}

    # --- volumes and translations ----------------------------------------------------------

    def _volume_dirs(self, pod: PodInstance) -> dict[str, Path]:
        """Each volume of the pod as a folder, filled the way the kubelet fills it."""
        folders: dict[str, Path] = {}
        for volume in pod.spec.get("volumes", []):
            folder = self.workdir / "pods" / pod.name / "volumes" / volume["name"]
            folder.mkdir(parents=True, exist_ok=True)
            if "emptyDir" in volume:
                folder.chmod(0o777)  # the kubelet's mode for an emptyDir
            elif "configMap" in volume or "secret" in volume:
                if "configMap" in volume:
                    source, data = volume["configMap"], self.cluster.configmap(volume["configMap"]["name"])
                else:
                    source, data = volume["secret"], self.cluster.secret(volume["secret"]["secretName"])
                items = source.get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    if item["key"] not in data:
                        raise LookupError(f"volume {volume['name']}: no key {item['key']!r} in its source")
                    target = folder / item["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(data[item["key"]])
            else:
                raise NotImplementedError(f"volume {volume['name']}: {sorted(volume)} is not supported here")
            folders[volume["name"]] = folder
        return folders

    def path_map(self, pod: PodInstance, container: dict[str, Any]) -> dict[str, str]:
        """Container path -> local path: the container's mounts and the image's virtualenv."""
        volumes = self._volume_dirs(pod)
        mapping = {IMAGE_VENV: str(self.venv)}
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                raise LookupError(
                    f"{container['name']}: mount of volume {mount['name']!r}, which the pod lacks"
                )
            local = volumes[mount["name"]] / mount.get("subPath", "")
            mapping[mount["mountPath"].rstrip("/") or "/"] = str(local)
        return mapping

    @staticmethod
    def _map_paths(text: str, mapping: Mapping[str, str]) -> str:
        # Longest container path first, matched only as a whole path (or a path's beginning),
        # also inside PATH-like lists: "/tmp" maps, "/tmpfoo" does not.
        # One pass, so a local path that itself contains a container path ("/tmp/...") is
        # never mapped twice.
        alternatives = "|".join(re.escape(p) for p in sorted(mapping, key=len, reverse=True))
        pattern = rf"(?<![\w.-])({alternatives})(?=/|:|,|$|\s)"
        return re.sub(pattern, lambda m: mapping[m.group(1)], text)

    def translate(self, text: str, paths: Mapping[str, str], pod_ports: Mapping[str, str]) -> str:
        for address, local in self.services.items():
            text = text.replace(address, local)
        text = self._map_paths(text, paths)
        if text == "0.0.0.0":  # a listener on all of the pod's interfaces: loopback here
            text = "127.0.0.1"
        return pod_ports.get(text, text)

    # --- starting --------------------------------------------------------------------------

    def start_container(self, pod: PodInstance, container: dict[str, Any], *, init: bool) -> Started:
        ports = {}
        for port in container.get("ports", []):
            local = free_port()
            ports[str(port["containerPort"])] = local
            if "name" in port:
                ports[port["name"]] = local
        # A value that is exactly a declared container port (HPO_METRICS_PORT) is that port,
        # which in the pod's own network namespace is the local port standing for it.
        pod_ports = {
            str(p["containerPort"]): str(ports[str(p["containerPort"])]) for p in container.get("ports", [])
        }
        paths = self.path_map(pod, container)
        env = {
            name: self.translate(value, paths, pod_ports)
            for name, value in self.container_environment(pod, container).items()
        }
        declared = {v["name"]: env[v["name"]] for v in container.get("env", []) if v["name"] in env}
        if "command" in container:
            argv = list(container["command"]) + list(container.get("args", []))
        else:
            argv = list(self.image.entrypoint) + list(container.get("args", self.image.cmd))
        argv = [self.translate(_expand(arg, declared), paths, {}) for arg in argv]
        executable = shutil.which(argv[0], path=env["PATH"])
        if executable is None:
            raise FileNotFoundError(
                f"{container['name']}: {argv[0]!r} is not on the image's PATH {env['PATH']}"
            )
        # hpo's commands are the image's virtualenv's: one found elsewhere on this machine's
        # PATH would not be in the image.
        assert Path(executable).parent == self.venv / "bin", (
            f"{container['name']}: {argv[0]!r} is {executable}, not in the image's virtualenv"
        )
        argv[0] = executable
        cwd = self.workdir / "pods" / pod.name / "cwd" / container["name"]
        cwd.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "logs" / f"{pod.name}.{container['name']}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as handle:
            process = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        started = Started(pod, container, init, argv, env, cwd, log, process, ports)
        self.started.append(started)
        return started

    def run_pod(self, pod: PodInstance, init_timeout: float = 120.0) -> list[Started]:
        """Init containers one by one to success, then the containers, as the kubelet does."""
        for container in pod.spec.get("initContainers", []):
            init = self.start_container(pod, container, init=True)
            try:
                code = init.process.wait(init_timeout)
            except subprocess.TimeoutExpired:
                init.stop()
                raise AssertionError(f"{init.label} ran past {init_timeout}s:\n{init.output()}") from None
            assert code == 0, f"{init.label} exited {code}:\n{init.output()}"
        return [self.start_container(pod, c, init=False) for c in pod.spec["containers"]]

    def stop_all(self, timeout: float = 30.0) -> None:
        """Every container at once, as deleting the release stops its pods."""
        now = time.monotonic()
        running = [s for s in self.started if s.process.poll() is None]
        for started in running:
            started.terminate()
        for started in running:
            started.reap(now, now + timeout)


def wait_ready(started: Started, timeout: float) -> None:
    """Poll the container's readinessProbe (httpGet) on its local port until it answers 200,
    failing at once when the process exits."""
    probe = started.container.get("readinessProbe", {}).get("httpGet")
    assert probe is not None, f"{started.label} has no httpGet readinessProbe"
    port = started.ports[str(probe["port"])]
    url = f"http://127.0.0.1:{port}{probe.get('path', '/')}"
    deadline = time.monotonic() + timeout
    while True:
        if started.process.poll() is not None:
            raise AssertionError(f"{started.label} exited {started.process.returncode}:\n{started.output()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{started.label}: readiness probe {url} not answering in {timeout}s:\n{started.output()}"
            )
        time.sleep(0.3)


def exec_in(started: Started, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`kubectl exec POD -c CONTAINER -- ARGV`: the container's environment and working
    directory, the command looked up on its PATH."""
    executable = shutil.which(argv[0], path=started.env["PATH"])
    assert executable is not None, f"{argv[0]} not on {started.label}'s PATH"
    return subprocess.run(
        [executable, *argv[1:]],
        env=started.env,
        cwd=started.cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
