"""Leaderboards and progress lines: pure formatting of a SweepStatus.

The objective's own metric comes first, then whatever else the task reported: nothing
here knows which task ran.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hpo.contracts.messages import SweepStatus, TrialResult, ranked_trials
from hpo.contracts.segment_details import SegmentDetails
from hpo.engine.ledger import ACCELERATOR_SECONDS_DEFINITION, money_lines

MAX_OTHER_METRICS = 3


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict[str, object]) -> str:
    return " ".join(f"{name}={_value(params[name])}" for name in sorted(params))


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _other_metrics(status: SweepStatus) -> list[str]:
    names: set[str] = set()
    for trial in status.trials:
        names.update(trial.validation or {})
    names.discard(status.objective_metric)
    return sorted(names)[:MAX_OTHER_METRICS]


def leaderboard(status: SweepStatus) -> Group:
    """The ranked trials, then the training time and the money ledger (what `hpo sweep run`,
    `status` and `watch` print)."""
    metric = status.objective_metric
    table = Table(
        title=f"sweep {status.sweep_id} ({status.state}), objective: validation {metric} ({status.mode})"
    )
    others = _other_metrics(status)
    has_test = any(trial.test and metric in trial.test for trial in status.trials)
    columns = ["rank", "trial", "status", "params", "steps", "resumed", f"val {metric}"]
    columns += [f"val {name}" for name in others] + ([f"test {metric}"] if has_test else []) + ["train s"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("trial", "status", "params") else "right")
    for rank, trial in enumerate(ranked_trials(status.trials, status.mode), start=1):
        train = trial.train
        validation = trial.validation or {}
        row = [
            str(rank) if trial.objective is not None else "-",
            trial.trial_id,
            trial.status,
            format_params(trial.params),
            str(train.step) if train else "-",
            str(train.resumed_from_step) if train and train.resumed_from_step else "-",
            _metric(trial.objective),
        ]
        row += [_metric(validation.get(name)) for name in others]
        if has_test:
            row.append(_metric((trial.test or {}).get(metric)))
        row.append(f"{train.train_seconds:.0f}" if train else "-")
        table.add_row(*row)
    # The footer below the table, not a caption: a caption wraps to the table's width.
    money = money_report(status)
    return Group(table, Text(_footer(status)), *([money] if money is not None else []))


def _footer(status: SweepStatus) -> str:
    footer = f"training time {status.train_seconds:.0f} s over all trials, rungs and attempts"
    if status.released_bytes:
        footer += (
            f"; {status.released_bytes / 1e6:.1f} MB of superseded checkpoints released "
            "(each trial keeps the one it was scored on)"
        )
    return footer


def money_report(status: SweepStatus) -> Text | None:
    """The sweep's money ledger under its leaderboard (hpo.engine.ledger); None when the sweep has none
    (a sweep recorded before the ledger). Plain Text: nothing in it is read as markup."""
    if status.money is None:
        return None
    text = Text()
    for line in money_lines(status.money):
        text.append(line + "\n", style="dim" if line == ACCELERATOR_SECONDS_DEFINITION else "")
    text.rstrip()
    return text


def failures(status: SweepStatus) -> list[str]:
    """One line per failed trial: its id and why (a stopped or cancelled trial did not fail)."""
    return [f"{t.trial_id}: {failure_reason(t)}" for t in status.trials if t.status == "failed" and t.error]


TRACEBACK = "Traceback (most recent call last)"


def failure_reason(trial: TrialResult) -> str:
    """Why a trial failed, to print after its id: its cause's message once, as the trial
    workflow recorded it ("Type: message"), without the "trial tNNNN: " the line already says
    and, should a Python traceback have slipped into it, that traceback's last line only."""
    reason = (trial.error or "").strip()
    if TRACEBACK in reason:
        before, _, trace = reason.partition(TRACEBACK)
        lines = [line.strip() for line in trace.replace('"""', "").splitlines() if line.strip()]
        before = before.replace('"""', "").strip()
        reason = " ".join(part for part in (before, lines[-1] if lines else "") if part)
    kind, colon, rest = reason.partition(": ")
    repeated = f"trial {trial.trial_id}: "
    if colon and kind.isidentifier() and rest.startswith(repeated):
        return f"{kind}: {rest.removeprefix(repeated)}"
    return reason.removeprefix(repeated)


def _scores(trial: TrialResult, metric: str) -> str:
    test = (trial.test or {}).get(metric)
    value = f"val {metric} {trial.objective:.4f}" if trial.objective is not None else f"no {metric}"
    return value + (f", test {metric} {test:.4f}" if test is not None else "")


def sweep_events(trial: TrialResult, seen: tuple[str, int] | None, metric: str) -> list[str]:
    """What happened to `trial` since it was last seen as (status, segments): lines a person reads
    while a sweep runs ("t0003 promoted to rung 2: 18 -> 54 steps")."""
    segments = trial.segments
    events = []
    if seen is None or len(segments) > seen[1]:
        for index in range(seen[1] if seen else 0, len(segments)):
            segment = segments[index]
            target = f"{segment.target_step} steps" if segment.target_step else "its full budget"
            if index == 0:
                events.append(
                    f"{trial.trial_id} started: rung {segment.rung}, to {target}  ({format_params(trial.params)})"
                )
            else:
                before = segments[index - 1].step or 0
                events.append(f"{trial.trial_id} promoted to rung {segment.rung}: {before} -> {target}")
    if seen is None or trial.status != seen[0]:
        if trial.status == "completed":
            events.append(f"{trial.trial_id} completed rung {trial.rung}: {_scores(trial, metric)}")
        elif trial.status == "stopped":
            events.append(
                f"{trial.trial_id} stopped at rung {trial.rung} (not promoted): {_scores(trial, metric)}"
            )
        elif trial.status == "failed":
            events.append(f"{trial.trial_id} failed: {failure_reason(trial)}")
    return events


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def running_line(trial: TrialResult, live: SegmentDetails | None, now: float) -> str:
    """One running trial: rung, step / target, its latest reported metrics and an ETA."""
    segment = trial.segments[-1] if trial.segments else None
    rung = segment.rung if segment else trial.rung
    step = (live.step or 0) if live else 0
    target = segment.target_step if segment else None
    parts = [f"{trial.trial_id}  rung {rung}", f"step {step}/{target}" if target else f"step {step}"]
    metrics = live.metrics if live else {}
    if metrics:
        parts += [f"{name} {_value(value)}" for name, value in list(metrics.items())[:3]]
    if segment and target and step:
        # The segment resumed where the previous one stopped (0 for the first).
        start = (trial.segments[-2].step or 0) if len(trial.segments) > 1 else 0
        elapsed = now - segment.started_at
        if step > start and elapsed > 0:
            parts.append(f"ETA {_duration((target - step) * elapsed / (step - start))}")
    return "  ".join(parts)


def sweep_summary(status: SweepStatus) -> str:
    """The sweep in one line: trials by state, the best so far, training time so far."""
    counts: dict[str, int] = {}
    for trial in status.trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    best = status.best
    leader = (
        f"best {best.trial_id} {status.objective_metric} {best.objective:.4f}"
        if best and best.objective is not None
        else "no result yet"
    )
    spent = sum(t.train_seconds for trial in status.trials for t in trial.segments)
    return f"{status.sweep_id}: {len(status.trials)}/{status.spec.trials} trials ({states}); {leader}; training {_duration(spent)}"
