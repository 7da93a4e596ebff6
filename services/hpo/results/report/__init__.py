"""`hpo report`: one self-contained HTML page of a sweep, and a PNG of each of its figures.

Pure formatting of a SweepStatus and each trial's learning curve (the rows
`hpo.storage.curves.read_curve` returns); no Temporal, no S3, so a unit test builds a report
from a status written by hand. Nothing here names a task, a hyperparameter or a metric: the
objective comes from the status, the parameters from the spec's space, the curve metrics from
whatever the training reported.

The HTML carries plotly.js inline, once, so it opens offline and can be mailed as one file.
The PNGs are rendered by plotly's kaleido, which drives a headless Chrome/Chromium; without
one, the HTML is still written and `ImageExportUnavailable` says what to install.

One module per part: outcomes (how trials ended), curves, ladder, parallel, importance and cost
(one figure each), leaderboard (the table's rows), captions (the words), page (the sections and
the jinja2 template, which escapes everything it is given), images (the PNGs) and write (both).
"""

from hpo.results.report.captions import summary_line
from hpo.results.report.common import ImageExportUnavailable
from hpo.results.report.images import find_browser
from hpo.results.report.importance import Importance, importance
from hpo.results.report.outcomes import Outcome, outcome
from hpo.results.report.page import Section, build_sections, render_html
from hpo.results.report.write import ReportFiles, write_report

__all__ = [
    "ImageExportUnavailable",
    "Importance",
    "Outcome",
    "ReportFiles",
    "Section",
    "build_sections",
    "find_browser",
    "importance",
    "outcome",
    "render_html",
    "summary_line",
    "write_report",
]
