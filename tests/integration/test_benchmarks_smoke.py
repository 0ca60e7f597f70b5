"""The benchmark harness runs end to end (``--quick``); speeds are never asserted here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _uwsgi_available() -> bool:
    return (Path(sys.executable).parent / "uwsgi").exists() or shutil.which("uwsgi") is not None


def test_quick_run_prints_a_table_for_each_subject_and_writes_json(tmp_path: Path) -> None:
    assert _uwsgi_available(), "the dev extras install uwsgi"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "huey-sqlite",
            "--postponed",
            "0,50",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-4000:]
    lines = completed.stdout.splitlines()
    assert "| figure | uWSGI raw spool (baseline) | huey SqliteHuey |" in lines
    figure_rows = [line for line in lines if line.startswith("| drain tasks/s, 1 process ↑ | **")]
    assert len(figure_rows) == 1
    assert "FAILED" not in completed.stdout
    (record_path,) = tmp_path.glob("*-quick.json")
    record = json.loads(record_path.read_text())
    assert set(record["samples"]["tmpfs"]) == {"uwsgi-raw", "huey-sqlite"}
    assert record["errors"] == []
    assert not (tmp_path / "latest.md").exists()


def test_drain_split_times_the_callable_inside_each_spooler(tmp_path: Path) -> None:
    """Each subject's row comes out, and its time inside the callable is measured (not zero)
    and smaller than its wall time: the timer ran in the spooler process of each uWSGI."""
    assert _uwsgi_available(), "the dev extras install uwsgi"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.drain_split", "--n", "1000", "--reps", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")
        for line in completed.stdout.splitlines()
        if line.startswith(("| uwsgi-raw ", "| spoolrt-uwsgi"))
    }
    assert set(rows) == {"uwsgi-raw", "spoolrt-uwsgi-noresults", "spoolrt-uwsgi"}
    for cells in rows.values():
        wall, inside = float(cells[2]), float(cells[3])
        assert 0 < inside < wall
