"""One error path for the user: exit codes by whose fault it was, one paragraph, a traceback only
with --debug, and remote failures unwrapped to their root cause's message, said once."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowFailureError
from temporalio.converter import DefaultFailureConverter, default
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, RetryState
from temporalio.service import RPCError, RPCStatusCode
from test_cli_errors import closed_endpoints, hpo

from hpo.activities.base import UserFacingError, fail_fast_on_permanent_errors
from hpo.cli import commands
from hpo.cli.errors import INTERNAL_ERROR, INTERRUPTED, SWEEP_FAILED, USER_ERROR, explain
from hpo.cli.follow import SweepFailed, failure_cause
from hpo.cli.main import build_parser, report_error, run_cli
from hpo.cli.ui import UserError
from hpo.connections.temporal import TemporalUnavailable
from hpo.contracts.settings import get_settings
from hpo.contracts.spec import SpecError
from hpo.tasks.datasets import DatasetError

ONE_CLASS = "data.csv has 1 distinct value(s) in 'label'; classification needs at least 2"
# What a process pool attaches to an activity's exception as its cause (concurrent.futures).
REMOTE = '\n"""\nTraceback (most recent call last):\n  File "prepare.py", line 22\nDatasetError: boom\n"""'


def remote_failure(root: BaseException, trial_workflow: str | None = "s1.t0003.r0") -> WorkflowFailureError:
    """A sweep's failure as the client gets it: workflow -> child workflow -> activity -> cause."""
    activity = ActivityError(
        "Activity task failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type="train_segment",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    activity.__cause__ = root
    inner: BaseException = activity
    if trial_workflow:
        child = ChildWorkflowError(
            "Child Workflow execution failed",
            namespace="default",
            workflow_id=trial_workflow,
            run_id="r",
            workflow_type="TrialWorkflow",
            initiated_event_id=1,
            started_event_id=2,
            retry_state=RetryState.NON_RETRYABLE_FAILURE,
        )
        child.__cause__ = activity
        inner = child
    return WorkflowFailureError(cause=inner)


def dataset_error_with_remote_traceback() -> ApplicationError:
    root = ApplicationError(ONE_CLASS, type="DatasetError", non_retryable=True)
    root.__cause__ = ApplicationError(REMOTE, type="_RemoteTraceback")
    return root


# -- exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SweepFailed("sweep s1 failed: boom"), SWEEP_FAILED),
        (UserError("spec.yaml: trails: unknown field"), USER_ERROR),
        (SpecError("space.lr.low: must be > 0"), USER_ERROR),
        (TemporalUnavailable("Temporal at 127.0.0.1:1 is unreachable"), USER_ERROR),
        (RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b""), USER_ERROR),
        (RPCError("namespace nope not found", RPCStatusCode.NOT_FOUND, b""), USER_ERROR),
        (FileNotFoundError(2, "No such file or directory", "out/final.json"), USER_ERROR),
        (remote_failure(dataset_error_with_remote_traceback()), SWEEP_FAILED),
        (KeyError("segments"), INTERNAL_ERROR),
        (KeyboardInterrupt(), INTERRUPTED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_error_has_the_exit_code_of_whose_fault_it_was(error, code):
    assert explain(error).code == code


def test_an_unreachable_server_is_named_with_what_to_do():
    lost = explain(RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b""), temporal_address="h:7233")
    assert lost.message is not None
    assert (
        "Temporal at h:7233 is unreachable (tcp connect error)" in lost.message and "hpo up" in lost.message
    )


def test_an_internal_error_says_it_is_a_bug_in_one_line_and_how_to_see_the_trace():
    message = explain(KeyError("segments")).message
    assert message is not None
    assert "a bug in hpo" in message and "KeyError: 'segments'" in message and "--debug" in message
    assert "Traceback" not in message and "\n" not in message


def test_a_bug_exits_70_without_a_traceback_unless_debug(monkeypatch, capsys):
    async def buggy(settings):  # an hpo command with a bug in it
        return {}["segments"]

    monkeypatch.setattr(commands, "check", buggy)
    assert run_cli(["check"]) == INTERNAL_ERROR
    quiet = capsys.readouterr().err
    assert "KeyError: 'segments'" in quiet and "Traceback" not in quiet
    assert run_cli(["check", "--debug"]) == INTERNAL_ERROR
    loud = capsys.readouterr().err
    assert "Traceback (most recent call last)" in loud and "buggy" in loud and "a bug in hpo" in loud


def test_debug_goes_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--debug", "sweep", "status", "s1"]).debug
    assert parser.parse_args(["sweep", "status", "s1", "--debug"]).debug
    assert not parser.parse_args(["sweep", "status", "s1"]).debug
    assert "exit codes: 0 done; 1 the sweep failed" in " ".join(parser.format_help().split())


def test_a_bad_setting_exits_2_naming_its_variable(monkeypatch, capsys):
    monkeypatch.setenv("HPO_PRICE_PER_HOUR", "abc")
    get_settings.cache_clear()
    try:
        assert run_cli(["check"]) == USER_ERROR
    finally:
        get_settings.cache_clear()
    err = " ".join(capsys.readouterr().err.split())
    assert "HPO_PRICE_PER_HOUR='abc'" in err and "valid number" in err and "Traceback" not in err


def test_an_unreachable_server_exits_2_with_a_traceback_only_under_debug():
    env = closed_endpoints()
    quiet = hpo("check", env=env)
    assert quiet.returncode == USER_ERROR and "Traceback" not in quiet.stderr
    assert f"Temporal at {env['HPO_TEMPORAL_ADDRESS']} is unreachable" in quiet.stderr
    loud = hpo("--debug", "check", env=env)
    assert loud.returncode == USER_ERROR and "Traceback (most recent call last)" in loud.stderr


def test_a_message_with_brackets_is_printed_as_written(capsys):
    raising = "labels ['a', 'b'] and [bold]x[/bold] absent"
    assert report_error(UserError(raising), debug=False) == USER_ERROR
    assert raising in capsys.readouterr().err


# -- remote failures ----------------------------------------------------------------------


def test_a_trials_dataset_error_unwraps_to_its_message_once_naming_the_trial():
    explained = explain(remote_failure(dataset_error_with_remote_traceback()))
    assert explained.message == f"failed: trial t0003: {ONE_CLASS}"


def test_a_sweep_level_failure_names_no_trial():
    failure = remote_failure(ApplicationError(ONE_CLASS, type="DatasetError", non_retryable=True), None)
    assert failure_cause(failure) == ONE_CLASS


def test_a_message_that_names_its_trial_is_not_prefixed_again():
    failure = remote_failure(ApplicationError("trial t0003: the training code raised ValueError: x"))
    assert failure_cause(failure) == "trial t0003: the training code raised ValueError: x"


def test_an_unexpected_remote_error_keeps_its_type():
    failure = remote_failure(ApplicationError("'segments'", type="KeyError"), None)
    assert failure_cause(failure) == "KeyError: 'segments'"


def test_a_cause_that_is_only_a_traceback_gives_its_last_line():
    failure = remote_failure(ApplicationError(REMOTE, type="_RemoteTraceback"), None)
    assert failure_cause(failure) == "DatasetError: boom"


def test_a_timeout_says_which():
    from temporalio.exceptions import TimeoutError, TimeoutType

    failure = remote_failure(
        TimeoutError("activity Heartbeat timeout", type=TimeoutType.HEARTBEAT, last_heartbeat_details=[])
    )
    assert failure_cause(failure) == "trial t0003: activity Heartbeat timeout"


# -- the source: activities' user errors reach Temporal without a remote traceback --------


@fail_fast_on_permanent_errors
def prepare_one_class() -> None:
    raise DatasetError(ONE_CLASS)


def _failure_from_a_process_pool(function) -> tuple[BaseException, Failure]:
    """Run `function` in a process pool, as a training worker runs activities, and convert what
    it raised as the worker does."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        with pytest.raises(Exception) as raised:
            pool.submit(function).result()
    failure = Failure()
    DefaultFailureConverter().to_failure(raised.value, default().payload_converter, failure)
    return raised.value, failure


def test_a_dataset_error_crosses_the_process_pool_as_its_message_alone():
    error, failure = _failure_from_a_process_pool(prepare_one_class)
    assert isinstance(error, UserFacingError) and error.__cause__ is None
    assert failure.message == ONE_CLASS
    assert failure.application_failure_info.type == "DatasetError"
    assert failure.application_failure_info.non_retryable
    assert not failure.HasField("cause")  # no _RemoteTraceback


def test_a_plain_application_error_would_carry_the_remote_traceback():
    # Why UserFacingError exists: the pool attaches the traceback as the cause of any exception.
    error, failure = _failure_from_a_process_pool(raise_plain_application_error)
    assert failure.HasField("cause") and "Traceback (most recent call last)" in failure.cause.message


def raise_plain_application_error() -> None:
    raise ApplicationError(ONE_CLASS, type="DatasetError", non_retryable=True)


def test_a_checkpoint_name_the_format_refuses_fails_the_trial_once():
    # A name the trial's own code chose: a retry would save it again and fail again.
    from hpo.storage.checkpoints import UnsafeCheckpointName

    @fail_fast_on_permanent_errors
    def save_a_bad_name() -> None:
        raise UnsafeCheckpointName("checkpoint file name '../x' leaves the checkpoint")

    with pytest.raises(UserFacingError) as raised:
        save_a_bad_name()
    assert raised.value.non_retryable and raised.value.type == "UnsafeCheckpointName"
