"""Steering commands and following without a server: parsing, exit codes, the reconnect loop,
and the sweep-state lines a follower prints."""

from __future__ import annotations

import asyncio
import io

import pytest
from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from test_cli_errors import closed_endpoints, hpo

from hpo.cli import follow
from hpo.cli.follow import Follower, Reconnector, lost_server, summary_line
from hpo.cli.main import _control_request, build_parser, run_cli
from hpo.cli.ui import UserError
from hpo.contracts.messages import SweepStatus, TrialResult
from hpo.contracts.spec import parse_spec
from hpo.workers.stack import free_port

SPEC = parse_spec(
    {
        "name": "steer",
        "task": {"entrypoint": "train:train"},
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "trials": 4,
        "objective": {"metric": "loss", "mode": "min"},
        "training": {"max_steps": 10},
    }
)


def request(*argv: str):
    return _control_request(build_parser().parse_args(["sweep", *argv]))


def test_each_command_becomes_its_control_request():
    assert request("pause", "s1").action == "pause"
    assert request("resume", "s1").action == "resume"
    stop = request("stop", "s1", "--reason", "enough")
    assert (stop.action, stop.reason) == ("stop", "enough")
    cancel = request("cancel-trial", "s1", "t0003")
    assert (cancel.action, cancel.trial_id) == ("cancel_trial", "t0003")
    extend = request(
        "extend", "s1", "--trials", "12", "--max-cost", "2.5", "--max-accelerator-hours", "3",
        "--max-wall-time", "2h", "--max-concurrent", "1",
    )  # fmt: skip
    assert extend.model_dump(exclude_none=True) == {
        "action": "extend", "trials": 12, "max_cost": 2.5, "max_accelerator_hours": 3.0,
        "max_wall_time": 7200.0, "max_concurrent": 1,
    }  # fmt: skip
    assert request("extend", "s1", "--max-wall-time", "90").max_wall_time == 90.0
    with pytest.raises(UserError, match="extend needs at least one of --trials"):
        request("extend", "s1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "pause", "Bad_Id"], "SWEEP_ID: 'Bad_Id' is not a valid sweep id"),
        (["sweep", "status", "x--Y"], "is not a valid sweep id"),
        (["sweep", "watch", "a" * 90], "is not a valid sweep id"),
        (["report", "UPPER"], "is not a valid sweep id"),
        (["export", "has_underscore"], "is not a valid sweep id"),
        (["predict", "Bad/t0001", "hello"], "SWEEP_ID: 'Bad' is not a valid sweep id"),
        (["sweep", "cancel-trial", "x.y", "t0001"], "is not a valid sweep id"),
        (["sweep", "run", "no-such-spec.yaml", "--id", "Not Valid"], "--id: 'Not Valid' is not a valid"),
        (["sweep", "extend", "ok-id"], "extend needs at least one of"),
        (["sweep", "extend", "ok-id", "--max-wall-time", "soon"], "'soon' is not a duration"),
        (["sweep", "extend", "ok-id", "--max-concurrent", "0"], "0 must be at least 1"),
    ],
)
def test_bad_ids_and_arguments_exit_2_with_one_message(argv, message, capsys):
    try:
        code = run_cli(argv)
    except SystemExit as usage:  # argparse
        code = usage.code
    assert code == 2
    assert message in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("argv", [["sweep", "pause", "ok-id"], ["sweep", "list", "--all"]])
def test_no_server_exits_2_naming_it(argv):
    env = closed_endpoints()
    result = hpo(*argv, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Temporal at {env['HPO_TEMPORAL_ADDRESS']} is unreachable" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def unavailable(message: str = "tcp connect error") -> RPCError:
    return RPCError(message, RPCStatusCode.UNAVAILABLE, b"")


def test_what_counts_as_a_lost_server():
    assert lost_server(unavailable())
    assert lost_server(ConnectionRefusedError())
    assert lost_server(RPCError("transport is closing", RPCStatusCode.UNKNOWN, b""))
    assert not lost_server(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""))
    assert not lost_server(RPCError("query timed out", RPCStatusCode.DEADLINE_EXCEEDED, b""))
    assert not lost_server(ValueError("no"))


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=300, highlight=False), out


async def test_reconnector_says_it_once_and_says_when_it_is_back(monkeypatch):
    monkeypatch.setattr(follow, "FIRST_BACKOFF_S", 0.01)
    screen, out = console()
    link = Reconnector(None, screen, "127.0.0.1:7233", "s1", timeout_s=30)  # type: ignore[arg-type]
    health = iter([False, False, True, True])

    async def healthy() -> bool:
        return next(health)

    monkeypatch.setattr(link, "_healthy", healthy)
    failures = [unavailable(), unavailable()]

    async def call() -> str:
        if failures:
            raise failures.pop()
        return "answer"

    assert await link.call(call) == "answer"
    assert out.getvalue().splitlines() == [
        "lost Temporal at 127.0.0.1:7233; reconnecting (the sweep goes on in the workers) …",
        "reconnected",
    ]
    assert link.outages == 1 and link.lost_at is None

    async def refused() -> str:
        raise RPCError("not found", RPCStatusCode.NOT_FOUND, b"")

    with pytest.raises(RPCError):  # an answer, not an outage: passed on
        await link.call(refused)


async def test_reconnector_gives_up_on_a_closed_port_with_what_to_do(monkeypatch):
    monkeypatch.setattr(follow, "FIRST_BACKOFF_S", 0.2)
    address = f"127.0.0.1:{free_port()}"
    client = await Client.connect(address, lazy=True)
    screen, out = console()
    link = Reconnector(client, screen, address, "s1", timeout_s=1.5)
    started = asyncio.get_running_loop().time()
    with pytest.raises(UserError) as gave_up:
        await link.call(lambda: client.service_client.check_health(retry=False))
    elapsed = asyncio.get_running_loop().time() - started
    assert 1.5 <= elapsed < 15
    assert out.getvalue().count("lost Temporal at") == 1 and "reconnected" not in out.getvalue()
    message = str(gave_up.value)
    assert f"lost Temporal at {address} for 2s" in message
    assert "may still be running" in message and "hpo sweep watch s1" in message


def status(state: str, **fields) -> SweepStatus:
    trials = [TrialResult(trial_id="t0000", params={"x": 0.5}, status="running")]
    return SweepStatus(
        sweep_id="s1", name="steer", spec=SPEC, state=state, objective_metric="loss", mode="min",
        trials=trials, **fields,
    )  # fmt: skip


def test_the_follower_narrates_pause_resume_extend_and_stop():
    follower = Follower(Console())
    assert follower.events(status("running", trials_planned=4, max_concurrent=2)) == []
    assert follower.events(status("paused", trials_planned=4, max_concurrent=2)) == [
        "sweep s1 paused: running trials finish, no new ones start"
    ]
    assert follower.events(status("running", trials_planned=6, max_concurrent=1)) == [
        "sweep s1 resumed",
        "sweep s1 now plans 6 trials (was 4)",
        "sweep s1 now runs up to 1 trials at once (was 2)",
    ]
    stopping = status("stopping", stop_reason="stopped by the user: enough", trials_planned=6)
    assert follower.events(stopping) == [
        "sweep s1 stopping: stopped by the user: enough; running trials checkpoint and end"
    ]
    assert follower.events(stopping.model_copy(update={"state": "stopped"})) == [
        "sweep s1 stopped: stopped by the user: enough"
    ]


def test_the_summary_line_shows_paused_and_stopping():
    assert summary_line(status("paused")).endswith("; PAUSED (`hpo sweep resume s1` goes on)")
    stopping = status("stopping", stop_reason="budget max_cost reached: 2.00 USD")
    assert summary_line(stopping).endswith("; STOPPING (budget max_cost reached: 2.00 USD)")
    assert summary_line(status("running")) == summary_line(status("completed"))


def test_a_failure_says_its_innermost_readable_message():
    from temporalio.exceptions import ApplicationError

    from hpo.cli.follow import failure_cause

    remote = ApplicationError('Traceback (most recent call last):\n  File "x.py"\nDatasetError: boom')
    dataset = ApplicationError("data.csv has no column 'sentiment'", type="DatasetError")
    dataset.__cause__ = remote
    activity = ApplicationError("DatasetError: data.csv has no column 'sentiment'", type="DatasetError")
    activity.__cause__ = dataset
    assert failure_cause(activity) == "data.csv has no column 'sentiment'"
    assert failure_cause(ValueError("plain")) == "plain"
