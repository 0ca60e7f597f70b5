"""spoolrt.compat.uwsgiconf offers uwsgiconf.runtime.spooler's public names with the return
types code depends on; tasks run through real spool files and the pure-Python worker."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uwsgiconf.runtime.spooler as original

import spoolrt
from spoolrt import TaskStatus, backends
from spoolrt.compat import uwsgiconf as compat
from spoolrt.compat.uwsgiconf import (
    ResultProcessed,
    ResultRescheduled,
    ResultSkipped,
    Spooler,
    SpoolerFunctionCallTask,
    SpoolerTask,
    TaskResult,
    spooler_task_types,
)
from spoolrt.testing import LocalSpool, local_spool

PUBLIC = [
    "Spooler",
    "SpoolerTask",
    "SpoolerFunctionCallTask",
    "TaskResult",
    "ResultProcessed",
    "ResultSkipped",
    "ResultRescheduled",
    "spooler_task_types",
    "TypeTaskResult",
]

seen: list[Any] = []


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalSpool]:
    seen.clear()
    with local_spool(tmp_path / "spool") as spooled:
        yield spooled


class Verdict(SpoolerTask):
    type_id = "unit-compat-ucfg-verdict"

    def process(self) -> Any:
        seen.append(self.payload["kind"])
        return {
            "processed": self.mark_processed(result="kept"),
            "skipped": self.mark_skipped(),
            "rescheduled": self.mark_rescheduled(),
        }[self.payload["kind"]]


@Spooler.task()
def add(a: int, b: int = 10) -> int:
    return a + b


def test_every_public_name_of_uwsgiconf_runtime_spooler_is_here() -> None:
    defined_there = {
        name
        for name, value in vars(original).items()
        if not name.startswith("_")
        and (getattr(value, "__module__", None) == original.__name__ or name in PUBLIC)
    }
    assert defined_there == set(PUBLIC)
    assert set(compat.__all__) == set(PUBLIC)
    for name in PUBLIC:
        assert hasattr(compat, name), name


def test_result_codes_are_uwsgiconfs() -> None:
    for name in ("TaskResult", "ResultProcessed", "ResultSkipped", "ResultRescheduled"):
        assert getattr(compat, name).code_uwsgi == getattr(original, name).code_uwsgi


def test_result_classes_are_spoolrt_results_too() -> None:
    assert issubclass(ResultProcessed, spoolrt.ResultProcessed)
    assert issubclass(ResultSkipped, spoolrt.ResultSkipped)
    assert issubclass(ResultRescheduled, spoolrt.ResultRescheduled)
    assert all(issubclass(c, TaskResult) for c in (ResultProcessed, ResultSkipped))
    assert ResultRescheduled(delay=5).delay == 5


def test_subclasses_register_in_spooler_task_types_and_the_base_does_not() -> None:
    assert spooler_task_types["unit-compat-ucfg-verdict"] is Verdict
    assert spooler_task_types[SpoolerFunctionCallTask.type_id] is SpoolerFunctionCallTask
    assert SpoolerFunctionCallTask.type_id == "fcall"
    assert spooler_task_types.get("") is not SpoolerTask


def test_the_compat_results_decide_the_outcome(local: LocalSpool) -> None:
    handles = {
        kind: Spooler.send_message_raw(**Verdict.build_message(None, None, None, {"kind": kind}))
        for kind in ("processed", "skipped", "rescheduled")
    }
    counts = local.run_until_empty(include_postponed=True)
    assert counts == {"done": 1, "skipped": 1, "retrying": 3, "failed": 1}
    assert handles["processed"].result(timeout=1) == "kept"
    assert handles["skipped"].status is TaskStatus.SKIPPED
    assert handles["rescheduled"].status is TaskStatus.FAILED  # bounded, never a success


def test_read_task_file_gives_uwsgiconfs_mapping(local: LocalSpool) -> None:
    handle = add(1, b=2)
    found = Spooler.read_task_file(handle)
    assert found["spooler_task_name"] == handle.path.encode()
    assert found[b"msg"] == b"ucfg_fcall"
    assert found[b"spooler"] == str(local.dir).encode()
    assert found.info.task_id == handle.task_id  # type: ignore[attr-defined]
    assert found.info.verified  # type: ignore[attr-defined]
    assert Spooler.read_task_file(handle.path.encode()) == found


def test_read_task_file_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert Spooler.read_task_file(str(tmp_path / "gone")) == {}


def test_discovery_returns_compat_spoolers(local: LocalSpool) -> None:
    [spooler] = Spooler.get_spoolers()
    assert type(spooler) is Spooler and str(spooler) == str(local.dir)
    found = Spooler.get_by_basename("spool")
    assert isinstance(found, Spooler)
    assert Spooler.get_tasks() == [] and Spooler.get_pids() == []


def test_discovery_outside_uwsgi_with_nothing_configured_is_empty() -> None:
    backends.force(None)
    spoolrt.configure(spool_dirs=[], eager=False)
    assert Spooler.get_spoolers() == []
    assert Spooler.get_by_basename("spool") is None
    assert Spooler.get_tasks() == [] and Spooler.get_pids() == []


def test_build_message_keeps_uwsgiconfs_signature() -> None:
    params = list(inspect.signature(original.SpoolerTask.build_message).parameters)
    assert list(inspect.signature(SpoolerTask.build_message).parameters)[: len(params)] == params
