"""`hpo report` on the real stack: a small ASHA sweep of the text task, then the command a user
runs, checked by the page's sections and the PNG files it writes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sweeps import new_sweep_id, run_sweep, tiny_spec

from hpo.results.report import ImageExportUnavailable, find_browser

pytestmark = pytest.mark.integration

SECTIONS = ["learning-curves", "ladder", "parallel-coordinates", "importance", "cost", "leaderboard"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def _hpo(stack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hpo.cli", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=stack.env, capture_output=True, text=True, timeout=300
    )


def _browser_missing() -> str | None:
    try:
        find_browser()
    except ImageExportUnavailable as missing:
        return str(missing)
    return None


async def test_report_of_an_asha_sweep(stack, training_worker, tiny_model, tiny_csv, tmp_path: Path):
    spec = tiny_spec(
        tiny_model,
        tiny_csv,
        algorithm={"name": "asha", "eta": 2, "min_fidelity": 10},
        # Six trials: enough results at rung 0 for the importance figure, not just its note.
        trials=6,
        training={"max_steps": 40, "checkpoint_every": 10},
    )
    sweep_id = new_sweep_id("report")
    status = await run_sweep(stack, spec, sweep_id)
    assert any(t.rung > 0 for t in status.trials), "ASHA promoted no trial"
    missing = _browser_missing()
    out = tmp_path / "report"

    done = await _hpo(stack, "report", sweep_id, "--out", str(out), *(["--no-png"] if missing else []))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"{out / 'report.html'}" in done.stdout
    page = (out / "report.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page, section
    for figure in ("learning-curves", "ladder", "parallel-coordinates", "importance", "cost"):
        assert f'id="fig-{figure}"' in page, figure
    assert f"{len(status.trials)} trials, " in page and f"best {status.best_trial_id} (accuracy" in page
    assert '"yaxis":{"title":{"text":"loss"}' in page.replace(" ", "")  # the curves training reported
    assert not any(f">{t.trial_id}</td>" not in page for t in status.trials)  # every trial in the table
    if missing:
        pytest.skip(f"PNGs not checked: {missing}")
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == sorted(f"{name}.png" for name in SECTIONS[:-1])
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 20_000, png.name
        assert f"  {png}" in done.stdout


async def test_report_of_an_unknown_sweep_is_one_error(stack, tmp_path: Path):
    done = await _hpo(stack, "report", "no-such-sweep", "--out", str(tmp_path / "r"))
    assert done.returncode == 2
    assert "no sweep 'no-such-sweep'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r").exists()
