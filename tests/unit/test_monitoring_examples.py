"""The monitoring examples name only metrics spoolrt exports: a renamed metric fails here,
not silently in someone's alerts and dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from spoolrt import Spooler
from spoolrt.observe import metrics
from spoolrt.testing import local_spool

EXAMPLES = Path(__file__).parents[2] / "examples" / "monitoring"
NAME = re.compile(r"\bspoolrt_[a-z_]+\b")
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count")


@Spooler.task()
def measured() -> int:
    return 1


def exported(tmp_path: Path) -> set[str]:
    """Every sample name a scrape of a spool with one finished task can carry."""
    with local_spool(tmp_path / "spool") as spool:
        measured()
        assert spool.run_until_empty() == {"done": 1}
        text = metrics.render([str(spool.dir)]).decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    return {family + suffix for family in families for suffix in SUFFIXES}


def expressions(dashboard: dict[str, object]) -> list[str]:
    panels = dashboard["panels"]
    assert isinstance(panels, list) and panels
    return [t["expr"] for p in panels for t in p["targets"]]


def test_the_alert_rules_and_the_dashboard_name_exported_metrics(tmp_path: Path) -> None:
    known = exported(tmp_path)
    rules = (EXAMPLES / "alerts.yml").read_text()
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    queries = expressions(dashboard) + [
        v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    ]
    named = set(NAME.findall(rules)) | {n for q in queries for n in NAME.findall(q)}
    assert named - known == set(), "names no scrape exports"
    assert {"spoolrt_spool_oldest_pending_age_seconds", "spoolrt_task_run_seconds_bucket"} <= named
    assert rules.count("- alert:") >= 5
