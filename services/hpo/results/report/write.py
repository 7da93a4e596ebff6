"""Writing a report: `report.html` first, then a PNG per figure beside it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hpo.contracts.messages import SweepStatus
from hpo.results.report.common import CurveRows
from hpo.results.report.images import write_images
from hpo.results.report.page import build_sections, render_html


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    images: list[Path]


def write_report(
    status: SweepStatus,
    curves: Mapping[str, CurveRows],
    out_dir: Path,
    *,
    images: bool = True,
    generated_at: datetime | None = None,
) -> ReportFiles:
    """Write `report.html` (always first, so a missing browser costs only the PNGs) and one
    PNG per figure into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = build_sections(status, curves)
    page = out_dir / "report.html"
    page.write_text(render_html(status, sections, generated_at), encoding="utf-8")
    written = write_images(sections, out_dir) if images else []
    return ReportFiles(html=page, images=written)
