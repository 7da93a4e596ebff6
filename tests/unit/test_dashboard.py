"""The Grafana dashboard in the chart queries only metrics that exist, and the chart ships it.

Every query must name metrics hpo exports (hpo.telemetry.metrics.series_names(): the workers'
and the sweep workflow's) or the Temporal SDK's exporter does (SDK_SERIES, as the workers
configure it: counters end in _total, durations are milliseconds without a unit suffix).
tests/integration/test_prometheus.py checks the same names against a real Prometheus.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from dashboard_queries import DASHBOARD, all_metric_names, load, metric_names, panels, queries
from hpo.telemetry.metrics import series_names

# Temporal SDK (temporalio 1.35) series seen on a worker's /metrics; the dashboard may use these.
SDK_SERIES = frozenset(
    f"temporal_{name}"
    for name in (
        *(
            f"{histogram}{suffix}"
            for histogram in (
                "activity_schedule_to_start_latency",
                "activity_execution_latency",
                "activity_succeed_endtoend_latency",
                "workflow_task_schedule_to_start_latency",
                "workflow_task_execution_latency",
                "workflow_task_replay_latency",
                "workflow_endtoend_latency",
                "request_latency",
                "long_request_latency",
            )
            for suffix in ("_bucket", "_sum", "_count")
        ),
        "worker_task_slots_used",
        "worker_task_slots_available",
        "num_pollers",
        "sticky_cache_size",
        "request_total",
        "long_request_total",
        "activity_task_received_total",
        "workflow_completed_total",
        "workflow_task_queue_poll_succeed_total",
        "sticky_cache_hit_total",
        "worker_start_total",
    )
)
PANELS_WANTED = (
    "Trials by state",
    "Running segments",
    "Accelerator-seconds by sweep (rate)",
    "Accelerator-seconds by sweep (total)",
    "Checkpoint save seconds",
    "Newest checkpoint age",
    "Resumes by cause",
    "Best objective by sweep",
    "Training throughput",
    "Activity schedule-to-start latency (p95)",
)
K8S_TESTS = Path(__file__).resolve().parents[1] / "k8s" / "test_chart_render.py"


def test_dashboard_has_the_panels_operators_look_for() -> None:
    titles = {panel["title"] for panel in panels(load())}
    assert set(PANELS_WANTED) <= titles, set(PANELS_WANTED) - titles


@pytest.mark.parametrize(("where", "expr"), list(queries(load())), ids=[w for w, _ in queries(load())])
def test_every_query_names_exported_metrics(where: str, expr: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    unknown = names - series_names() - SDK_SERIES
    assert not unknown, f"{where}: {sorted(unknown)} exported by neither hpo nor the Temporal SDK: {expr}"


def test_dashboard_reads_every_hpo_metric() -> None:
    """A metric no panel reads is either missing from the dashboard or not worth exporting."""
    used = all_metric_names(load())
    # Histograms are read through their buckets; the relay's own health gauge is for alerts.
    wanted = {n for n in series_names() if not n.endswith(("_sum", "_count"))} - {"hpo_sdk_metrics_up"}
    assert not wanted - used, f"no panel reads {sorted(wanted - used)}"


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, task_queue) (rate(temporal_x_bucket{task_queue=~"a|b"}'
        '[$__rate_interval]))) / on (sweep) group_left max by (sweep) (hpo_y{sweep=~"$sweep"})'
    )
    assert metric_names(expr) == {"temporal_x_bucket", "hpo_y"}
    assert metric_names("sum(rate(typo_metric[5m]))") == {"typo_metric"}


def test_panels_have_unique_ids_and_a_datasource_variable() -> None:
    dashboard = load()
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


# --- the chart's ConfigMap ---------------------------------------------------------------------


@cache
def _chart() -> ModuleType:
    """tests/k8s/test_chart_render.py: its helm helpers (found, or skipped/failed as there)."""
    spec = importlib.util.spec_from_file_location("chart_render_helpers", K8S_TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configmap_ships_the_dashboard() -> None:
    chart = _chart()
    docs = chart.documents("dashboard")
    configmap = chart.by_kind(docs, "ConfigMap")["hpo-dashboard"]
    assert json.loads(configmap["data"]["hpo.json"]) == json.loads(DASHBOARD.read_text())
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "hpo"}
    assert configmap["metadata"]["namespace"] == chart.NAMESPACE


def test_configmap_is_off_by_default_and_its_label_configurable() -> None:
    chart = _chart()
    assert "hpo-dashboard" not in chart.by_kind(chart.documents("default"), "ConfigMap")
    docs = chart.documents(
        "dashboard",
        "--set",
        "grafana.dashboard.label=grafana.example.com/dashboard",
        "--set",
        "grafana.dashboard.labelValue=hpo",
        "--set",
        "grafana.dashboard.namespace=monitoring",
    )
    configmap = chart.by_kind(docs, "ConfigMap")["hpo-dashboard"]
    assert configmap["metadata"]["labels"]["grafana.example.com/dashboard"] == "hpo"
    assert "grafana_dashboard" not in configmap["metadata"]["labels"]
    assert configmap["metadata"]["namespace"] == "monitoring"
