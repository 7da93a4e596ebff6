"""The Grafana dashboard shipped with the chart, read as its queries and the metrics they name.

Shared by tests/unit/test_dashboard.py (every name is one hpo or the SDK exports) and
tests/integration/test_prometheus.py (every name has data in a real Prometheus).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[1] / "charts" / "hpo" / "dashboards" / "hpo.json"

# PromQL functions, aggregations and keywords the dashboard may use: any other bare word in a
# query must be a metric name.
PROMQL_WORDS = frozenset(
    {
        "sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile", "stddev",
        "rate", "irate", "increase", "delta", "idelta", "histogram_quantile",
        "max_over_time", "min_over_time", "avg_over_time", "last_over_time", "count_over_time",
        "clamp_min", "clamp_max", "abs", "time", "vector", "scalar", "label_replace",
        "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right",
    }
)  # fmt: skip


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(metric, label) is Grafana's, not PromQL: its metric is what counts.
            yield (
                f"variable {variable['name']!r}",
                re.sub(r"label_values\((\w+),\s*\w+\)", r"\1", variable["definition"]),
            )


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    words = re.findall(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text)
    return {word for word in words if word not in PROMQL_WORDS}


def all_metric_names(dashboard: dict[str, Any]) -> set[str]:
    return {name for _, expr in queries(dashboard) for name in metric_names(expr)}
