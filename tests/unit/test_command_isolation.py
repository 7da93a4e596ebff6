"""A command trial gets an allow-listed environment, bounded output handling, finite reports
only, and a checkpoint directory of regular files."""

from __future__ import annotations

import os
import resource

import pytest
from test_command_task import FakeSession, make_trial, script_task

from hpo.contracts.spec import TaskSpec
from hpo.storage.checkpoint_files import UnsafeCheckpointFile, checkpoint_files
from hpo.tasks import command
from hpo.tasks.command_env import command_environment
from hpo.trial import TrialError

# What a command is given of a worker's environment, and what it is not.
ALLOWED = {
    "PATH": "/usr/bin",
    "HOME": "/home/w",
    "LC_ALL": "C.UTF-8",
    "CUDA_VISIBLE_DEVICES": "0",
    "OMP_NUM_THREADS": "2",
    "HF_HOME": "/cache/hf",
    "HF_HUB_OFFLINE": "1",
}
WORKER = {
    **ALLOWED,
    "HF_TOKEN": "hf_secret",
    "AWS_SECRET_ACCESS_KEY": "s3-secret",
    "AWS_ACCESS_KEY_ID": "key-id",
    "HPO_S3_SECRET_KEY": "s3-secret",
    "HPO_TEMPORAL_ADDRESS": "temporal:7233",
    "HPO_TEMPORAL_API_KEY": "api-key",
    "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics",
    "WANDB_API_KEY": "wandb-secret",
    "WANDB_MODE": "offline",
    "MY_SETTING": "x",
}


def test_the_environment_is_an_allow_list():
    assert command_environment(WORKER, {"HPO_TRIAL_ID": "t0001"}) == {**ALLOWED, "HPO_TRIAL_ID": "t0001"}


def test_task_env_adds_named_variables_but_never_the_workers_own():
    env = command_environment(WORKER, {}, ["WANDB_*", "MY_SETTING", "*"])
    # Asked for by name or pattern: taken, credentials-looking ones included ...
    assert (
        env["WANDB_MODE"] == "offline" and env["WANDB_API_KEY"] == "wandb-secret" and env["MY_SETTING"] == "x"
    )
    # ... but even "*" never reaches the worker's settings or cloud credentials.
    assert not [name for name in env if name.startswith(("HPO_", "AWS_"))]


def test_the_spec_refuses_task_env_for_the_workers_own_variables():
    with pytest.raises(ValueError, match="task.env: 'AWS_SECRET_ACCESS_KEY' names the worker's own"):
        TaskSpec(command=["python", "train.py"], env=["AWS_SECRET_ACCESS_KEY"])
    with pytest.raises(ValueError, match="task.env is for task.command"):
        TaskSpec(entrypoint="train:train", env=["WANDB_MODE"])
    assert TaskSpec(command=["python", "train.py"], env=["WANDB_*"]).env == ["WANDB_*"]


def test_the_command_sees_no_worker_secret(tmp_path, monkeypatch):
    for name in ("AWS_SECRET_ACCESS_KEY", "HPO_S3_SECRET_KEY", "HPO_TEMPORAL_ADDRESS", "HF_TOKEN"):
        monkeypatch.setenv(name, "leaked")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    session = FakeSession(tmp_path)
    task = script_task(
        tmp_path,
        """
        leaked = sorted(name for name, value in os.environ.items() if value == "leaked")
        print("hpo:result " + json.dumps({"leaked": len(leaked), "offline": int(os.environ["HF_HUB_OFFLINE"])}))
        """,
    )
    assert task.train(make_trial(session)) == {"leaked": 0, "offline": 1}


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_huge_output_stays_bounded(tmp_path, monkeypatch):
    # 50 MB in one line, then 300,000 short lines, then a failure: the tail is short, memory flat.
    monkeypatch.setattr(command, "MAX_LINE_CHARS", 64 * 1024)
    session = FakeSession(tmp_path)
    task = script_task(
        tmp_path,
        """
        chunk = "x" * (1024 * 1024)
        for _ in range(50):
            sys.stdout.write(chunk)
        sys.stdout.write("\\n")
        sys.stdout.write("line\\n" * 300_000)
        sys.stdout.write("y" * 2_000_000 + "\\n")
        sys.stdout.flush()
        sys.exit(3)
        """,
    )
    before = _peak_rss_kb()
    with pytest.raises(TrialError) as raised:
        task.train(make_trial(session))
    grown_mb = (_peak_rss_kb() - before) / 1024
    message = str(raised.value)
    assert "exited with code 3" in message
    assert len(message) < 20 * command.TAIL_LINE_CHARS + 1000, len(message)
    assert message.rstrip().endswith("[cut]")  # the last, 2 MB line: its head only
    assert grown_mb < 40, f"the trial process grew by {grown_mb:.0f} MB reading 52 MB of output"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_report_fails_the_trial(tmp_path, value):
    session = FakeSession(tmp_path)
    task = script_task(
        tmp_path, f'print(\'hpo:report {{"step": 1, "loss": {value}}}\')\nprint(\'hpo:result {{"a": 1}}\')\n'
    )
    with pytest.raises(TrialError, match=r"trial t0001: .*metric 'loss' is .*not a finite number"):
        task.train(make_trial(session))
    assert session.reports == []


def test_a_symlink_in_the_checkpoint_directory_is_refused(tmp_path):
    outside = tmp_path / "worker-credentials"
    outside.write_text("secret")
    session = FakeSession(tmp_path)
    task = script_task(
        tmp_path,
        f"""
        directory = os.environ["HPO_CHECKPOINT_DIR"]
        open(os.path.join(directory, "model.bin"), "w").write("weights")
        os.symlink({str(outside)!r}, os.path.join(directory, "creds"))
        print('hpo:checkpoint {{"step": 1}}')
        print('hpo:result {{"a": 1}}')
        """,
    )
    with pytest.raises(UnsafeCheckpointFile, match=r"trial t0001 at step 1: .*'creds', a symbolic link"):
        task.train(make_trial(session))
    assert session.checkpoints == {}


def test_checkpoint_files_take_regular_files_only_and_bounded(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "weights.bin").write_bytes(b"\0" * 100)
    (tmp_path / "model.bin").write_bytes(b"\0" * 100)
    assert list(checkpoint_files(tmp_path, 1000, "trial t0001")) == ["model.bin", "sub/weights.bin"]
    with pytest.raises(UnsafeCheckpointFile, match=r"trial t0001: .*more than .* \(at 'sub/weights.bin'\)"):
        checkpoint_files(tmp_path, 150, "trial t0001")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnsafeCheckpointFile, match="'pipe', a FIFO"):
        checkpoint_files(tmp_path, 1000, "trial t0001")
    (tmp_path / "pipe").unlink()
    os.link(tmp_path / "model.bin", tmp_path / "other-name.bin")
    with pytest.raises(UnsafeCheckpointFile, match="hard link"):
        checkpoint_files(tmp_path, 1000, "trial t0001")
    (tmp_path / "other-name.bin").unlink()
    (tmp_path / "linked-dir").symlink_to(tmp_path / "sub")
    with pytest.raises(UnsafeCheckpointFile, match="'linked-dir', a symbolic link"):
        checkpoint_files(tmp_path, 1000, "trial t0001")
