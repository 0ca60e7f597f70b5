"""A task call that could never run fails at the call site, and nothing is written.

Reported: ``double(1, 2, 3)`` for ``def double(x)`` was spooled, retried four times with a
``TypeError`` in the spooler and ended failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler, backends
from spoolrt.spooldir.listing import iter_pending


@Spooler.task()
def double(x: int) -> int:
    return 2 * x


@Spooler.task()
def greet(name: str, *, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "spool"
    folder.mkdir()
    previous = backends.forced()
    backends.force(None)
    with spoolrt.core.config.overridden(spool_dirs=[str(folder)], secret_key="k" * 32):
        yield folder
    backends.force(previous)


def _written(folder: Path) -> list[str]:
    return [*iter_pending(str(folder)), *(str(p) for p in folder.rglob("*") if p.is_file())]


@pytest.mark.parametrize(
    "call",
    [
        lambda: double(1, 2, 3),  # type: ignore[call-arg]
        lambda: double(),  # type: ignore[call-arg]
        lambda: double(y=1),  # type: ignore[call-arg]
        lambda: greet("ann", "?"),  # type: ignore[call-arg]
        lambda: double.spool_with((1, 2)),
        lambda: greet.spool_with((), {"punctuation": "?"}, retries=1),
    ],
    ids=[
        "too-many",
        "missing",
        "unknown-keyword",
        "keyword-only-as-positional",
        "spool_with",
        "spool_with-missing",
    ],
)
def test_a_wrong_call_raises_type_error_and_writes_nothing(spool: Path, call: object) -> None:
    with pytest.raises(TypeError, match="nothing was spooled"):
        call()  # type: ignore[operator]
    assert _written(spool) == []


def test_a_wrong_call_fails_in_eager_mode_before_running(spool: Path) -> None:
    with spoolrt.eager() as backend, pytest.raises(TypeError, match=r"double\(\)"):
        double(1, 2, 3)  # type: ignore[call-arg]
    assert list(backend.reports) == []


def test_a_right_call_is_spooled(spool: Path) -> None:
    handle = greet("ann", punctuation="?")
    assert os.path.exists(handle.path)
    assert Spooler.read_task_file(handle.path).task_id == handle.task_id
