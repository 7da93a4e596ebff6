"""`hpo report`'s page and images, from a sweep status written by hand (an ASHA ladder on rungs
0/1/2 with stopped, promoted, finished and failed trials): pure, no stack."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from hpo.contracts.messages import SegmentRecord, SweepStatus, TrainResult, TrialResult
from hpo.contracts.spec import parse_spec
from hpo.results.report import (
    ImageExportUnavailable,
    build_sections,
    find_browser,
    importance,
    outcome,
    summary_line,
    write_report,
)

SECTIONS = ["learning-curves", "ladder", "parallel-coordinates", "importance", "cost", "leaderboard"]
FIGURES = ["learning-curves", "ladder", "parallel-coordinates", "importance", "cost"]
RUNG_STEPS = (10, 20, 40)
T0 = 1_750_000_000.0


def _spec(trials: int) -> Any:
    return parse_spec(
        {
            "name": "hand-made",
            "task": {"entrypoint": "train:train"},
            "space": {
                "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "batch_size": {"type": "categorical", "choices": [8, 16, 32]},
                "layers": {"type": "int", "low": 1, "high": 6},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            },
            "algorithm": {"name": "asha", "eta": 2, "min_fidelity": 10},
            "objective": {"metric": "accuracy", "mode": "max"},
            "trials": trials,
            "training": {"max_steps": 40},
        }
    )


def _accuracy(params: dict[str, Any], step: int) -> float:
    # lr near 1e-2 is best; more steps help; the other parameters barely matter.
    return 0.9 - 0.08 * abs(math.log10(params["lr"]) + 2) - 2.0 / step + 0.001 * params["layers"]


def _params(i: int) -> dict[str, Any]:
    return {
        "lr": 10 ** (-4 + 3 * ((i * 7) % 10) / 9),
        "batch_size": [8, 16, 32][i % 3],
        "layers": 1 + i % 6,
        "dropout": round(0.05 * (i % 10), 2),
    }


def _segment(rung: int, start: float, seconds: float, objective: float | None, status: str) -> SegmentRecord:
    step = RUNG_STEPS[rung]
    return SegmentRecord(
        rung=rung,
        started_at=start,
        finished_at=start + seconds,
        target_step=step,
        step=step,
        objective=objective,
        status=status,
        train_seconds=seconds,
    )


def _trial(i: int, top_rung: int, status: str, fail_at: int | None = None) -> TrialResult:
    """A trial that climbed to `top_rung` (failing there if `fail_at` says so)."""
    params = _params(i)
    segments, objective = [], None
    start = T0 + 30.0 * (i % 4) + 5 * i
    for rung in range(top_rung + 1):
        failed = fail_at == rung
        value = None if failed else round(_accuracy(params, RUNG_STEPS[rung]), 4)
        segments.append(_segment(rung, start, 20.0 * (rung + 1), value, "failed" if failed else "completed"))
        start += 20.0 * (rung + 1) + 15.0
        objective = value if value is not None else objective
    last_step = RUNG_STEPS[top_rung]
    return TrialResult(
        trial_id=f"t{i:04d}",
        params=params,
        status=status,
        rung=top_rung,
        objective=objective,
        validation={"accuracy": objective, "loss": 1 - objective} if objective is not None else None,
        test={"accuracy": objective - 0.01} if objective is not None else None,
        train=TrainResult(
            step=last_step,
            resumed_from_step=RUNG_STEPS[top_rung - 1] if top_rung else 0,
            train_seconds=sum(s.train_seconds for s in segments),
            checkpoint_key=f"ck/{i}",
        ),
        error="RuntimeError: CUDA out of memory" if fail_at is not None else None,
        segments=segments,
    )


def asha_status(n_trials: int = 10) -> SweepStatus:
    """Rung 0 for all; t0000..t0002 reach rung 1 and t0000, t0001 the top (rung 2); t0003
    fails at rung 1 after a rung-0 result, the last trial fails at rung 0; one rung-0 trial
    was left paused (completed) when the sweep ended, the others were stopped."""
    trials = [_trial(0, 2, "completed"), _trial(1, 2, "completed"), _trial(2, 1, "stopped")]
    trials.append(_trial(3, 1, "failed", fail_at=1))
    for i in range(4, n_trials - 1):
        trials.append(_trial(i, 0, "completed" if i == 4 else "stopped"))
    trials.append(_trial(n_trials - 1, 0, "failed", fail_at=0))
    best = max((t for t in trials if t.rung == 2), key=lambda t: t.objective or 0.0)
    return SweepStatus(
        sweep_id="hand-made-1",
        name="hand-made",
        spec=_spec(n_trials),
        state="completed",
        objective_metric="accuracy",
        mode="max",
        trials=trials,
        best_trial_id=best.trial_id,
        train_seconds=sum(t.train.train_seconds for t in trials if t.train),
    )


def curves_for(status: SweepStatus) -> dict[str, list[dict[str, Any]]]:
    curves = {}
    for i, trial in enumerate(status.trials):
        steps = trial.train.step if trial.train else 0
        rate = 0.02 + 0.01 * (i % 5)
        curves[trial.trial_id] = [
            {"step": s, "time": T0 + s, "loss": 2.0 * math.exp(-rate * s) + 0.1, "grad_norm": 1.0 / s}
            for s in range(1, steps + 1)
        ]
    return curves


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_the_page_has_every_section_with_its_figure_and_a_caption(tmp_path: Path) -> None:
    status = asha_status()
    files = write_report(status, curves_for(status), tmp_path, images=False)
    page = files.html.read_text()
    assert files.html == tmp_path / "report.html" and files.images == []
    assert 'id="summary"' in page
    for section_id in SECTIONS:
        body = _section(page, section_id)
        assert re.search(r'<p class="caption">[^<]{20,}</p>', body), section_id
    for figure_id in FIGURES:
        assert f'id="fig-{figure_id}"' in page, figure_id
    assert "10 trials, 4 promoted to rung 1, 2 to rung 2, 2 failed, best t0001 (accuracy" in page
    assert "lr (log)" in page  # a log-scaled parameter is drawn on a log axis
    assert "PED-ANOVA over 9 trials scored at rung 0" in page


def test_plotly_js_is_inline_once_and_nothing_is_fetched(tmp_path: Path) -> None:
    status = asha_status()
    page = write_report(status, curves_for(status), tmp_path, images=False).html.read_text()
    assert not re.search(r"<script[^>]+src=", page)
    # plotly.js announces its version once; each figure only calls it.
    assert len(re.findall(r"plotly\.js v\d", page)) == 1
    inline = max(re.findall(r"<script[^>]*>(.*?)</script>", page, re.S), key=len)
    assert len(inline) > 1_000_000  # the library itself, not a loader
    assert not re.search(r"""(src|href)=["']https?://""", page.replace(inline, ""))
    assert page.count("Plotly.newPlot(") == len(FIGURES)


def test_the_leaderboard_is_best_first_with_objective_metrics_params_and_outcome(tmp_path: Path) -> None:
    status = asha_status()
    page = write_report(status, curves_for(status), tmp_path, images=False).html.read_text()
    table = _section(page, "leaderboard")
    header = re.findall(r"<th>([^<]*)</th>", table)
    assert header[:5] == ["#", "trial", "accuracy (max)", "loss", "test accuracy"]
    assert {"lr", "batch_size", "layers", "dropout", "steps", "outcome"} <= set(header)
    rows = re.findall(r"<tr[^>]*><td class=\"num\">[^<]*</td><td>(t\d{4})</td>", table)
    assert rows[:2] == ["t0001", "t0000"] and rows[-1] == "t0009"
    assert '<tr class="best"><td class="num">1</td><td>t0001</td>' in table
    for label in (
        "finished",
        "promoted to rung 1",
        "stopped at rung 0",
        "failed (rung 1)",
        "failed (rung 0)",
    ):
        assert f">{label}</span>" in table, label


def test_trials_are_coloured_by_how_they_ended() -> None:
    status = asha_status()
    labels = {t.trial_id: outcome(t, 2).label for t in status.trials}
    assert labels["t0000"] == labels["t0001"] == "finished"
    assert labels["t0002"] == "promoted to rung 1"
    assert labels["t0003"] == "failed (rung 1)"
    assert labels["t0004"] == labels["t0005"] == "stopped at rung 0"  # paused at the end, or stopped
    assert summary_line(status).startswith("10 trials, 4 promoted to rung 1, 2 to rung 2")


def test_too_few_trials_give_a_note_instead_of_an_importance_figure(tmp_path: Path) -> None:
    status = asha_status(5)
    result = importance(status)
    assert result.values == {} and result.note and "Too few trials" in result.note
    sections = {s.id: s for s in build_sections(status, curves_for(status))}
    assert sections["importance"].figure is None and sections["importance"].note == result.note
    page = write_report(status, curves_for(status), tmp_path, images=False).html.read_text()
    assert '<p class="note">Too few trials' in _section(page, "importance")


def test_importance_ranks_the_parameter_that_drives_the_objective_first() -> None:
    status = asha_status(24)
    result = importance(status)
    assert result.rung == 0 and result.trials == 23
    assert max(result.values, key=result.values.__getitem__) == "lr"
    assert math.isclose(sum(result.values.values()), 1.0)


def test_user_strings_are_escaped_in_the_page(tmp_path: Path) -> None:
    status = asha_status()
    status.trials[0].error = "<script>alert(1)</script>"
    status.trials[1] = status.trials[1].model_copy(update={"trial_id": "t</script><b>x"})
    page = write_report(status, curves_for(status), tmp_path, images=False).html.read_text()
    assert "<script>alert(1)" not in page and "</script><b>x" not in page


def test_a_sweep_with_nothing_yet_still_gives_a_page(tmp_path: Path) -> None:
    status = asha_status().model_copy(update={"trials": [], "best_trial_id": None, "state": "running"})
    page = write_report(status, {}, tmp_path, images=False).html.read_text()
    for section_id in SECTIONS:
        _section(page, section_id)
    assert "no trial scored yet" in page


def test_a_running_sweep_shows_waiting_and_running_trials(tmp_path: Path) -> None:
    status = asha_status()
    running = status.trials[2].model_copy(deep=True)
    running.status = "running"
    running.segments[-1].finished_at = None
    running.segments[-1].status = "running"
    status = status.model_copy(
        update={"state": "running", "trials": [*status.trials[:2], running, *status.trials[3:]]}
    )
    labels = {t.trial_id: outcome(t, 2, sweep_running=True).label for t in status.trials}
    assert labels["t0002"] == "running (rung 1)" and labels["t0004"] == "waiting at rung 0"
    assert labels["t0005"] == "stopped at rung 0"
    page = write_report(status, curves_for(status), tmp_path, images=False).html.read_text()
    assert ">running (rung 1)</span>" in page and ">waiting at rung 0</span>" in page
    assert "tiny · asha · running" not in page and "hand-made · asha · running" in page


def _require_browser() -> None:
    try:
        find_browser()
    except ImageExportUnavailable as missing:
        pytest.skip(f"no Chrome/Chromium for PNG export ({missing}); CI installs it")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_each_figure_is_written_as_a_real_png(tmp_path: Path) -> None:
    _require_browser()
    status = asha_status()
    files = write_report(status, curves_for(status), tmp_path)
    assert [p.name for p in files.images] == [f"{name}.png" for name in FIGURES]
    for path in files.images:
        width, height = _png_size(path)
        assert width >= 1200 and height >= 600, (path.name, width, height)
        assert path.stat().st_size > 20_000, path.name  # drawn, not a blank canvas


def test_a_missing_browser_is_named_after_the_html_is_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    status = asha_status()
    with pytest.raises(ImageExportUnavailable, match="install Chromium"):
        write_report(status, curves_for(status), tmp_path)
    assert (tmp_path / "report.html").exists()


def test_importance_keeps_choices_optuna_would_call_equal() -> None:
    # 1, 1.0 and True are three choices to hpo; to Optuna they are one value. Every trial
    # must count, whichever of them it drew.
    spec = parse_spec(
        {
            "name": "mixed",
            "task": {"entrypoint": "train:train"},
            "training": {"max_steps": 10},
            "space": {
                "flag": {"type": "categorical", "choices": [1, 1.0, True]},
                "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            },
            "algorithm": "random",
            "trials": 12,
            "objective": {"metric": "loss", "mode": "min"},
        }
    )
    choices = [1, 1.0, True]
    trials = [
        TrialResult(
            trial_id=f"t{i:04d}",
            params={"flag": choices[i % 3], "lr": 10 ** (-4 + 3 * i / 11)},
            status="completed",
            objective=float(i % 3) + i / 100,
        )
        for i in range(12)
    ]
    status = SweepStatus(
        sweep_id="mixed",
        name="mixed",
        state="completed",
        spec=spec,
        trials=trials,
        mode="min",
        objective_metric="loss",
    )
    result = importance(status)
    assert result.trials == 12 and result.note is None
    assert max(result.values, key=result.values.__getitem__) == "flag"
