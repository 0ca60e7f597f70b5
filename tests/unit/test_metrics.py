"""Prometheus metrics: a known set of tasks run by the pure-Python worker in a temporary spool
directory, then ``spoolrt metrics`` and ``render`` parsed by prometheus_client's own parser."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from spoolrt import Spooler
from spoolrt.api.schedules import registry, slot_key, spool_entry
from spoolrt.cli import EXIT_OK, main
from spoolrt.core.errors import Skip
from spoolrt.observe import metrics
from spoolrt.observe.metrics import label_code
from spoolrt.spooldir.layout import write_spool_file
from spoolrt.testing import LocalSpool, local_spool

SCHEDULE = "tests.metrics.nightly"


@Spooler.task()
def fine(n: int) -> int:
    return n


@Spooler.task()
def slow(seconds: float) -> float:
    time.sleep(seconds)  # the run time the histogram must see
    return seconds  # (None would mean skipped)


@Spooler.task()
def skipped() -> None:
    raise Skip("nothing to do")


@Spooler.task(retries=0)
def broken(secret: str) -> None:
    raise RuntimeError(f"boom with {secret}")


@Spooler.task()
def nightly() -> str:
    return "ran"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


@pytest.fixture
def schedule() -> Iterator[str]:
    Spooler.periodic(seconds=3600, name=SCHEDULE)(nightly)
    yield SCHEDULE
    registry.unregister(SCHEDULE)


def _known_set(spool: LocalSpool, schedule: str) -> float:
    """3 done + 1 slow done, 1 skipped, 2 failed, 1 quarantined, 1 schedule slot done; then,
    not run: 2 pending, 1 scheduled, 1 parked. Returns when the slot finished (at most)."""
    for n in range(3):
        fine(n)
    slow(0.2)
    skipped()
    broken("<script>hunter2</script>")
    broken("again")
    write_spool_file(str(spool.dir), bytes([17, 200, 0, 0]) + b"short")  # corrupt
    slot = datetime(2026, 1, 2, 3, 0, tzinfo=timezone.utc)
    spool_entry(registry.get(schedule), task_id=slot_key(schedule, slot))
    counts = spool.run_until_empty()
    assert counts == {"done": 5, "skipped": 1, "failed": 2, "quarantined": 1}
    finished_by = time.time()
    fine(10)
    fine(11)
    fine.spool_with((12,), postpone=30)
    fine.spool_with((13,), postpone=3600)
    return finished_by


def _parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_of_a_known_set_of_tasks(spool: LocalSpool, schedule: str) -> None:
    finished_by = _known_set(spool, schedule)
    d = str(spool.dir)
    text = metrics.render([d]).decode()
    samples = _parse(text)

    files = {
        state: _value(samples, "spoolrt_spool_files", spooler=d, state=state)
        for state in metrics.FILE_STATES
    }
    assert files == {
        "pending": 2,
        "scheduled": 1,
        "parked": 1,
        "running": 0,
        "failed": 2,
        "quarantined": 1,
    }
    assert _value(samples, "spoolrt_tasks_running", spooler=d) == 0
    assert 0 <= _value(samples, "spoolrt_spool_oldest_pending_age_seconds", spooler=d) < 60

    name = f"{fine.__module__}:fine"
    assert _value(samples, "spoolrt_tasks_finished_total", task=name, outcome="done") == 3
    assert _value(samples, "spoolrt_tasks_finished_total", task=f"{__name__}:broken",
                  outcome="failed") == 2  # fmt: skip
    assert _value(samples, "spoolrt_tasks_finished_total", task=f"{__name__}:skipped",
                  outcome="skipped") == 1  # fmt: skip
    assert _value(samples, "spoolrt_tasks_quarantined_total", reason="corrupt") == 1

    slow_name = f"{__name__}:slow"
    assert _value(samples, "spoolrt_task_run_seconds_count", task=slow_name) == 1
    assert _value(samples, "spoolrt_task_run_seconds_sum", task=slow_name) >= 0.2
    assert _value(samples, "spoolrt_task_run_seconds_bucket", task=slow_name, le="0.1") == 0
    assert _value(samples, "spoolrt_task_run_seconds_bucket", task=slow_name, le="0.5") == 1
    assert _value(samples, "spoolrt_task_run_seconds_bucket", task=slow_name, le="+Inf") == 1
    assert _value(samples, "spoolrt_task_wait_seconds_count", task=name) == 3

    last = _value(samples, "spoolrt_schedule_last_success_timestamp_seconds", schedule=schedule)
    assert finished_by - 60 < last <= finished_by

    # No idle or busy spooler: the worker here never announced itself as running.
    assert _value(samples, "spoolrt_spooler_processes", spooler=d, state="busy") == 0


def test_no_task_id_argument_or_error_text_in_any_label(spool: LocalSpool, schedule: str) -> None:
    _known_set(spool, schedule)
    text = metrics.render([str(spool.dir)]).decode()
    assert "hunter2" not in text and "boom" not in text and "script" not in text
    handle = fine(99)
    text = metrics.render([str(spool.dir)]).decode()
    assert handle.task_id not in text


def test_spoolrt_metrics_writes_the_textfile_atomically_and_prints_the_same(
    spool: LocalSpool, schedule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _known_set(spool, schedule)
    out = tmp_path / "textfile" / "spoolrt.prom"
    out.parent.mkdir()
    assert main(["metrics", "--spool", str(spool.dir), "--output", str(out)]) == EXIT_OK
    assert os.listdir(out.parent) == ["spoolrt.prom"]  # no temporary file left behind
    written = _parse(out.read_text())
    assert main(["metrics", "--spool", str(spool.dir)]) == EXIT_OK
    printed = _parse(capsys.readouterr().out)
    finished = "spoolrt_tasks_finished_total"
    assert {k: v for k, v in written.items() if k[0] == finished} == {
        k: v for k, v in printed.items() if k[0] == finished
    }
    assert _value(written, "spoolrt_spool_files", spooler=str(spool.dir), state="failed") == 2


def test_spoolrt_metrics_refuses_an_output_in_a_missing_directory(
    spool: LocalSpool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nowhere" / "x.prom"
    assert main(["metrics", "--spool", str(spool.dir), "--output", str(target)]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_an_empty_spool_dir_without_a_store_gives_zeros(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    samples = _parse(metrics.render([str(empty)]).decode())
    assert _value(samples, "spoolrt_spool_files", spooler=str(empty), state="pending") == 0
    assert _value(samples, "spoolrt_spool_oldest_pending_age_seconds", spooler=str(empty)) == 0
    assert not (empty / ".spoolrt").exists()  # looking created no store


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bad-signature", "bad-signature"),
        ("myapp.tasks:send", "myapp.tasks:send"),
        ("boom with <script>", "other"),
        ("x" * 65, "other"),
        (None, "other"),
    ],
)
def test_labels_take_only_short_codes(value: str | None, expected: str) -> None:
    assert label_code(value, "other") == expected
