"""`hpo report SWEEP_ID`: the sweep's status from Temporal, its learning curves from S3, the
page and images from `hpo.results.report`.

A finished sweep's status is its workflow result, so no sweep worker needs to run; a running
sweep answers a query and the report shows it as it stands.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hpo.cli.commands import _status_of, preflight
from hpo.cli.curves import read_curves
from hpo.cli.ui import UserError, console
from hpo.contracts.settings import Settings


def default_out_dir(sweep_id: str) -> Path:
    return Path(f"hpo-report-{sweep_id}")


async def report(settings: Settings, sweep_id: str, out_dir: Path | None, *, images: bool = True) -> int:
    """Write `report.html` and a PNG per figure for a running or finished sweep; print the paths."""
    from hpo.results.report import ImageExportUnavailable, write_report

    client = await preflight(settings)
    status = await _status_of(client, sweep_id, settings)
    curves = await asyncio.to_thread(read_curves, settings, status)
    out = out_dir or default_out_dir(sweep_id)
    try:
        # Off the event loop: kaleido runs its own loop and a browser, for seconds.
        files = await asyncio.to_thread(write_report, status, curves, out, images=images)
    except ImageExportUnavailable as error:
        raise UserError(f"{out / 'report.html'} written, but no PNG: {error}") from None
    except OSError as error:
        raise UserError(f"could not write the report into {out}: {error}") from None
    # Paths as plain text: never wrapped or read as markup, so scripts can pick them up.
    console.print(f"report of sweep {sweep_id} ({status.state}): {files.html}", markup=False, soft_wrap=True)
    for image in files.images:
        console.print(f"  {image}", markup=False, soft_wrap=True)
    return 0
