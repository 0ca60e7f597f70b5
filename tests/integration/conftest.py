"""Integration fixtures: every test here boots real processes and is marked ``integration``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.uwsgi import UwsgiInstance
from tests.support.worker import WorkerRuntime


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


#: The runtimes the shared scenarios run on. Each must offer UwsgiInstance's test interface:
#: start/stop, enqueue(task, *args, **options), post("/raw", ...), runs(), wait_runs(),
#: pending(), area(name), spool_dir, log().
#: "worker" serves the same app outside uWSGI (wsgiref: local backend) and runs its tasks with
#: `python -m spoolrt.worker` (tests/support/worker.py); it honours priorities without an ini.
RUNTIMES = ["uwsgi", "worker"]


def start_runtime(kind: str, ini: str, workdir: Path) -> UwsgiInstance:
    if kind == "uwsgi":
        return UwsgiInstance(ini, workdir).start()
    if kind == "worker":
        return WorkerRuntime(workdir).start()  # type: ignore[return-value]
    raise ValueError(kind)


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UwsgiInstance]:
    """A running runtime on the basic config, stopped after the test."""
    instance = start_runtime(request.param, "basic.ini", tmp_path)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def ordered_uwsgi(tmp_path: Path) -> Iterator[UwsgiInstance]:
    instance = UwsgiInstance("priorities.ini", tmp_path).start()
    try:
        yield instance
    finally:
        instance.stop()
