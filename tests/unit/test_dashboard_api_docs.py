"""README's table of the dashboard's JSON API, checked against the dashboard itself, so the
documentation cannot rot silently: every endpoint it lists answers 200 with JSON (with
credentials; 401 without), and each answer has exactly the keys the table shows, at every
level the table spells out (an object written ``{"a", "b": ...}``; a list of such objects is
checked item by item when the answer's list is not empty; ``{state: n}`` and ``[...]`` prose
are free)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spoolrt import Spooler
from spoolrt.api.schedules import registry
from spoolrt.dashboard import CHALLENGE, Dashboard, basic_auth, make_app
from spoolrt.dashboard import app as dashboard_app
from spoolrt.spooldir.presence import Presence
from spoolrt.testing import LocalSpool, local_spool
from tests.unit.test_dashboard import USERS, call

README = Path(__file__).resolve().parents[2] / "README.md"
SCHEDULE = "tests.api_docs.hourly"

#: A documented shape: the keys of an object and what the table says of each value (None:
#: nothing it spells out), or FREE where the table describes the value in words.
FREE = "free"
Shape = Any


@Spooler.task(retries=0)
def broken(n: int) -> None:
    raise RuntimeError("broken")


@Spooler.task()
def fine(n: int) -> int:
    return n


def documented() -> list[tuple[str, str]]:
    """(endpoint, shape) of every row of README's JSON API table."""
    text = README.read_text()
    start = text.index("### The dashboard's JSON API")
    section = text[start : text.index("\n#", start + 10)]
    rows = re.findall(r"^\| `GET (/api/[^`?]*)[^`]*` \| `(\{[^`]*\})`", section, re.MULTILINE)
    assert len(rows) >= 8, "the table of the JSON API was not found"
    return rows


class _Reader:
    """A lenient reader of the table's shapes: ``{"k", "k": value}``, ``[{...}]``, prose."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self) -> str:
        while self.at < len(self.text) and self.text[self.at] in " ,":
            self.at += 1
        return self.text[self.at] if self.at < len(self.text) else ""

    def skip_to(self, closing: str) -> None:
        """Past the ``closing`` bracket that ends the current one, nested ones included."""
        depth = 0
        while self.at < len(self.text):
            char = self.text[self.at]
            self.at += 1
            if char in "{[":
                depth += 1
            elif char in "}]":
                if depth == 0:
                    return
                depth -= 1

    def value(self) -> Shape:
        char = self.peek()
        shape: Shape = None
        if char == "{":
            shape = self.obj()
        elif char == "[":
            self.at += 1
            shape = [self.obj()] if self.peek() == "{" else FREE
            self.skip_to("]")
        # Prose after a value (``or null``, ``bool``): up to the next key or the end.
        while self.at < len(self.text) and self.text[self.at] not in ",}]":
            if self.text[self.at] in "{[":
                self.at += 1
                self.skip_to("}")
            else:
                self.at += 1
        return shape

    def obj(self) -> Shape:
        assert self.text[self.at] == "{"
        self.at += 1
        keys: dict[str, Shape] = {}
        while (char := self.peek()) != "}":
            if char != '"':  # ``{state: n}``, ``{...}``: described in words
                self.skip_to("}")
                return FREE
            end = self.text.index('"', self.at + 1)
            key = self.text[self.at + 1 : end]
            self.at = end + 1
            if self.peek() == ":":
                self.at += 1
                keys[key] = self.value()
            else:
                keys[key] = None
        self.at += 1
        return keys


def check(shape: Shape, answer: Any, where: str) -> None:
    if shape is None or shape == FREE:
        return
    if isinstance(shape, list):
        assert isinstance(answer, list), f"{where}: a list is documented, got {answer!r}"
        for i, item in enumerate(answer):
            check(shape[0], item, f"{where}[{i}]")
        return
    assert isinstance(answer, dict), f"{where}: an object is documented, got {answer!r}"
    assert sorted(answer) == sorted(shape), f"{where}: README has {sorted(shape)}"
    for key, inner in shape.items():
        if answer[key] is not None:
            check(inner, answer[key], f"{where}.{key}")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    with local_spool(tmp_path / "spool") as local:
        yield local


@pytest.fixture
def app(spool: LocalSpool) -> Iterator[tuple[Dashboard, str]]:
    """A dashboard over a directory with something in every view: a done, a failed and a
    scheduled task, a cancelled one (an audit line), a schedule with a run, a spooler."""
    Spooler.periodic(seconds=3600, name=SCHEDULE)(fine)
    presence = Presence(str(spool.dir), "worker", ordered=False)
    try:
        done = fine(1)
        broken(2)
        fine.spool_with((3,), postpone=60)
        assert fine.spool_with((4,), postpone=60).cancel()
        spool.run_until_empty()
        yield (
            make_app([str(spool.dir)], authorize=basic_auth(USERS), challenge=CHALLENGE),
            (done.task_id),
        )
    finally:
        presence.withdraw()
        registry.unregister(SCHEDULE)


def test_the_reader_reads_the_table_s_notation() -> None:
    shape = _Reader('{"a": [{"b", "c": {state: n}}], "d": {"e"} or null, "f": [x], "g"}').obj()
    assert shape == {"a": [{"b": None, "c": FREE}], "d": {"e": None}, "f": FREE, "g": None}


@pytest.mark.parametrize(("endpoint", "shape"), documented(), ids=[e for e, _ in documented()])
def test_every_documented_endpoint_answers_with_the_documented_keys(
    app: tuple[Dashboard, str], endpoint: str, shape: str
) -> None:
    dashboard, task_id = app
    path = endpoint.replace("<id>", task_id)
    assert call(dashboard, path).code == 401  # never without credentials
    answer = call(dashboard, path, user="eve")
    assert answer.code == 200, f"{path}: {answer.code} {answer.text[:200]}"
    assert answer.headers["Content-Type"].startswith("application/json")
    check(_Reader(shape).obj(), json.loads(answer.text), endpoint)


def test_the_table_lists_every_endpoint_the_dashboard_serves() -> None:
    """The pages' JSON twins (what live refresh polls), a task's detail and the pool."""
    served = {*dashboard_app._LIVE.values(), "/api/task/<id>", "/api/pool"}
    assert {endpoint for endpoint, _ in documented()} == served
