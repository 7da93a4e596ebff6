"""Command trials: a subprocess per segment, talking to hpo with `hpo:` lines on stdout."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.tasks.command import CommandTask
from hpo.trial import Result, RetryableTrialError, TrialError


class FakeSession:
    """A TrialSession that keeps checkpoints in memory and records reports."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.checkpoints: dict[int, dict[str, bytes]] = {}
        self.reports: list[tuple[int, dict[str, float]]] = []
        self.stop_when: Callable[[], bool] = lambda: False

    def save_checkpoint(self, step: int, directory: Path, info: dict[str, Any]) -> str:
        self.checkpoints[step] = {
            str(path.relative_to(directory)): path.read_bytes()
            for path in directory.rglob("*")
            if path.is_file()
        }
        return f"checkpoint-{step}"

    def report(self, step: int, metrics: dict[str, float]) -> None:
        self.reports.append((step, metrics))

    def stopping(self) -> bool:
        return self.stop_when()


def make_trial(session: FakeSession, restored_step: int = 0, restored_dir: Path | None = None) -> hpo.Trial:
    return hpo.Trial(
        session=session,
        sweep_id="s",
        trial_id="t0001",
        params={"lr": 0.01, "layers": 2},
        config={"dataset": "toy"},
        seed=7,
        rung=1,
        target_step=10,
        max_steps=None,
        restored_step=restored_step,
        restored_dir=restored_dir,
    )


def script_task(tmp_path: Path, body: str, stop_grace_s: float = 5.0) -> CommandTask:
    script = tmp_path / "code" / "train.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text("import json, os, signal, sys, time\n" + textwrap.dedent(body))
    return CommandTask([sys.executable, "train.py"], script.parent, stop_grace_s)


@pytest.fixture
def session(tmp_path: Path) -> FakeSession:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return FakeSession(scratch)


def test_params_and_environment_reach_the_command(tmp_path, session):
    task = script_task(
        tmp_path,
        """
        names = ["HPO_CONFIG", "HPO_TRIAL_ID", "HPO_SWEEP_ID", "HPO_SEED", "HPO_RUNG", "HPO_TARGET_STEP",
                 "HPO_MAX_STEPS", "HPO_START_STEP", "PYTHONUNBUFFERED"]
        env = {name: os.environ[name] for name in names}
        env["cwd"] = os.getcwd()
        env["checkpoint_dir_writable"] = os.access(os.environ["HPO_CHECKPOINT_DIR"], os.W_OK)
        with open("env.json", "w") as f:
            json.dump(env, f)
        params = json.loads(os.environ["HPO_PARAMS"])
        print("hpo:result " + json.dumps({"score": params["lr"] * params["layers"]}))
        """,
    )
    assert task.train(make_trial(session)) == {"score": 0.02}
    env = json.loads((tmp_path / "code" / "env.json").read_text())
    assert env == {
        "HPO_CONFIG": '{"dataset": "toy"}',
        "HPO_TRIAL_ID": "t0001",
        "HPO_SWEEP_ID": "s",
        "HPO_SEED": "7",
        "HPO_RUNG": "1",
        "HPO_TARGET_STEP": "10",
        "HPO_MAX_STEPS": "",
        "HPO_START_STEP": "0",
        "PYTHONUNBUFFERED": "1",
        "cwd": str(tmp_path / "code"),
        "checkpoint_dir_writable": True,
    }


def test_reports_and_result_are_parsed(tmp_path, session):
    task = script_task(
        tmp_path,
        """
        print("starting up")
        for step in (5, 10):
            print("hpo:report " + json.dumps({"step": step, "loss": 1.0 / step}))
        print("hpo:result " + json.dumps({"accuracy": 0.5}))
        print("hpo:result " + json.dumps({"validation": {"accuracy": 0.9}, "test": {"accuracy": 0.8}}))
        """,
    )
    trial = make_trial(session)
    outcome = task.train(trial)
    assert outcome == Result(validation={"accuracy": 0.9}, test={"accuracy": 0.8})
    assert session.reports == [(5, {"loss": 0.2}), (10, {"loss": 0.1})]
    assert trial.step == 10


def test_a_checkpoint_saves_the_files(tmp_path, session):
    task = script_task(
        tmp_path,
        """
        directory = os.environ["HPO_CHECKPOINT_DIR"]
        os.makedirs(os.path.join(directory, "sub"))
        with open(os.path.join(directory, "model.bin"), "wb") as f:
            f.write(b"weights at 5")
        with open(os.path.join(directory, "sub", "opt.txt"), "w") as f:
            f.write("adam")
        print('hpo:checkpoint {"step": 5}')
        print('hpo:result {"accuracy": 0.9}')
        """,
    )
    trial = make_trial(session)
    task.train(trial)
    assert session.checkpoints == {5: {"model.bin": b"weights at 5", "sub/opt.txt": b"adam"}}
    assert trial.saved_step == 5


def test_a_resume_sees_the_restored_files(tmp_path, session):
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "model.bin").write_bytes(b"weights at 5")
    task = script_task(
        tmp_path,
        """
        with open(os.path.join(os.environ["HPO_CHECKPOINT_DIR"], "model.bin"), "rb") as f:
            content = f.read().decode()
        print("hpo:result " + json.dumps({"start": int(os.environ["HPO_START_STEP"]), "ok": int(content == "weights at 5")}))
        """,
    )
    assert task.train(make_trial(session, restored_step=5, restored_dir=restored)) == {"start": 5, "ok": 1}
    assert (restored / "model.bin").read_bytes() == b"weights at 5"


def test_a_failing_command_raises_with_its_output_tail(tmp_path, session):
    task = script_task(
        tmp_path,
        """
        for i in range(100):
            print(f"line {i}")
        sys.stderr.write("Traceback: CUDA out of patience\\n")
        sys.exit(3)
        """,
    )
    with pytest.raises(TrialError) as error:
        task.train(make_trial(session))
    message = str(error.value)
    assert "t0001" in message and "exited with code 3" in message and "train.py" in message
    assert "CUDA out of patience" in message and "line 99" in message and "line 10\n" not in message


def test_a_missing_executable_names_the_command(tmp_path, session):
    task = CommandTask(["no-such-trainer-xyz", "--fast"], tmp_path, 5.0)
    with pytest.raises(TrialError) as error:
        task.train(make_trial(session))
    message = str(error.value)
    assert "t0001" in message and "no-such-trainer-xyz" in message and "task.command" in message


@pytest.mark.parametrize(
    "line",
    [
        "hpo:report {not json}",
        'hpo:report {"loss": 0.3}',
        'hpo:report {"step": -1, "loss": 0.3}',
        'hpo:report {"step": 1, "loss": "low"}',
        'hpo:checkpoint {"step": 0}',
        "hpo:result [0.9]",
        "hpo:reslut {}",
    ],
)
def test_a_malformed_line_raises(tmp_path, session, line):
    task = script_task(tmp_path, f"print({line!r})\ntime.sleep(30)\n")
    started = time.monotonic()
    with pytest.raises(TrialError) as error:
        task.train(make_trial(session))
    assert time.monotonic() - started < 2
    message = str(error.value)
    assert "t0001" in message and line[:12] in message and "must look like" in message


def test_an_empty_checkpoint_directory_raises(tmp_path, session):
    task = script_task(tmp_path, "print('hpo:checkpoint {\"step\": 5}')\nprint('hpo:result {}')\n")
    with pytest.raises(TrialError, match="t0001.*HPO_CHECKPOINT_DIR.*empty"):
        task.train(make_trial(session))
    assert session.checkpoints == {}


def test_a_stop_sends_sigterm_and_keeps_the_checkpoint(tmp_path, session):
    # The command is silent once ready: the stop request must reach it without any output.
    ready = tmp_path / "code" / "ready"
    session.stop_when = ready.exists
    task = script_task(
        tmp_path,
        """
        def on_term(signum, frame):
            with open(os.path.join(os.environ["HPO_CHECKPOINT_DIR"], "state"), "w") as f:
                f.write("saved on SIGTERM")
            print('hpo:checkpoint {"step": 3}')
            sys.exit(0)

        signal.signal(signal.SIGTERM, on_term)
        open("ready", "w").close()
        time.sleep(30)
        """,
    )
    started = time.monotonic()
    assert task.train(make_trial(session)) == {}
    assert time.monotonic() - started < 2
    assert session.checkpoints == {3: {"state": b"saved on SIGTERM"}}


def test_a_command_ignoring_sigterm_is_killed_after_the_grace(tmp_path, session):
    session.stop_when = lambda: bool(session.reports)
    task = script_task(
        tmp_path,
        """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('hpo:report {"step": 1, "loss": 0.5}')
        print('hpo:result {"accuracy": 0.1}')
        time.sleep(30)
        """,
        stop_grace_s=0.5,
    )
    started = time.monotonic()
    assert task.train(make_trial(session)) == {"accuracy": 0.1}
    assert 0.5 <= time.monotonic() - started < 2


def test_exit_zero_without_a_result_raises(tmp_path, session):
    task = script_task(tmp_path, "print('done training')\n")
    with pytest.raises(TrialError, match=r"t0001.*must print a line hpo:result"):
        task.train(make_trial(session))


def test_a_kill_hpo_did_not_send_is_retryable(tmp_path, session):
    task = script_task(tmp_path, "print('allocating')\nos.kill(os.getpid(), signal.SIGKILL)\n")
    with pytest.raises(RetryableTrialError, match="(?s)t0001.*SIGKILL.*allocating"):
        task.train(make_trial(session))


def test_helpers_it_started_are_killed_with_it(tmp_path, session):
    # A helper that inherits stdout would otherwise keep the segment waiting for its output.
    task = script_task(
        tmp_path,
        """
        import subprocess
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        with open("helper.pid", "w") as f:
            f.write(str(helper.pid))
        print('hpo:result {"accuracy": 0.9}')
        """,
    )
    started = time.monotonic()
    assert task.train(make_trial(session)) == {"accuracy": 0.9}
    assert time.monotonic() - started < 2
    pid = int((tmp_path / "code" / "helper.pid").read_text())
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    # Killed orphans may linger as zombies until whoever adopted them reaps them.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
