"""One PNG per figure, rendered by plotly's kaleido in a headless Chrome/Chromium."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from hpo.results.report.common import (
    BROWSER_HINT,
    PNG_HEIGHT,
    PNG_SCALE,
    PNG_WIDTH,
    ImageExportUnavailable,
)
from hpo.results.report.page import Section


def find_browser() -> str:
    """The Chrome/Chromium kaleido will drive: BROWSER_PATH (kaleido's own override), else
    what choreographer finds (its `kaleido_get_chrome` download, PATH, the usual paths)."""
    explicit = os.environ.get("BROWSER_PATH")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise ImageExportUnavailable(f"BROWSER_PATH={explicit} is not an executable file; {BROWSER_HINT}")
    from choreographer.browsers.chromium import Chromium

    found = Chromium.find_browser(skip_local=False)
    if found is None:
        raise ImageExportUnavailable(
            "PNG export needs Chrome or Chromium (plotly's kaleido drives it) and none was found; "
            + BROWSER_HINT
        )
    return found


def _png_figure(section: Section) -> go.Figure:
    """The page's figure for a file of its own: titled, without the page-only metric menu."""
    fig = go.Figure(section.figure)
    fig.layout.updatemenus = ()
    fig.layout.annotations = [a for a in fig.layout.annotations if a.text != "metric"]
    # Parallel coordinates put their axis labels above the plot, where a title would sit.
    room = 130 if any(isinstance(trace, go.Parcoords) for trace in fig.data) else 80
    fig.update_layout(
        title={"text": section.title, "x": 0.01, "y": 0.98, "yanchor": "top", "font": {"size": 18}},
        margin={"t": room},
    )
    return fig


def _png_spec(section: Section, path: Path) -> dict[str, Any]:
    fig = _png_figure(section)
    height = max(PNG_HEIGHT, int(fig.layout.height or PNG_HEIGHT) + 40)  # + the title's room
    opts = {"format": "png", "width": PNG_WIDTH, "height": height, "scale": PNG_SCALE}
    return {"fig": fig.to_dict(), "path": path, "opts": opts}


def write_images(sections: list[Section], out_dir: Path) -> list[Path]:
    """One PNG per figure, rendered in one browser session (a browser start costs seconds).
    A figure a section no longer has loses its old PNG, so the directory never mixes reports."""
    import kaleido

    for section in sections:
        if section.figure is None:
            (out_dir / f"{section.id}.png").unlink(missing_ok=True)
    figures = [s for s in sections if s.figure is not None]
    if not figures:
        return []
    browser = find_browser()
    paths = [out_dir / f"{s.id}.png" for s in figures]
    specs = [_png_spec(s, path) for s, path in zip(figures, paths, strict=True)]
    try:
        # mathjax=False: kaleido would otherwise load MathJax from a CDN, which an offline
        # machine waits for; no figure here uses LaTeX.
        kaleido.write_fig_from_object_sync(
            specs, kopts={"path": browser, "mathjax": False}, cancel_on_error=True
        )
    except Exception as error:  # kaleido's errors have no common base; all mean the same here
        raise ImageExportUnavailable(
            f"{browser} could not render the figures ({type(error).__name__}: {error}); {BROWSER_HINT}"
        ) from error
    return paths
