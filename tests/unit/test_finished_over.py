"""``finished_over`` (a journaled record read without merging it) says exactly what
``FINISHED_SQL`` does to the row in SQLite, for any row and any record."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spoolrt.core.outcomes import FINAL_STATUSES, TaskStatus
from spoolrt.results.sqlite_schema import (
    COLUMNS,
    FINISHED_FIELDS,
    FINISHED_SQL,
    ROW_SQL,
    SCHEMA,
    TABLE,
    finished_over,
)

TASK = "t-1"
maybe_text = st.none() | st.sampled_from(["a", "b:task", "/spool"])
maybe_real = st.none() | st.floats(0, 1e9, allow_nan=False)
maybe_int = st.none() | st.integers(0, 9)
statuses = st.sampled_from([s.value for s in TaskStatus])


@st.composite
def rows(draw: Any) -> tuple[Any, ...]:
    """A task row in ``COLUMNS`` order, in any status."""
    return (
        TASK, draw(maybe_text), draw(maybe_text), draw(statuses), draw(st.integers(0, 9)),
        draw(maybe_int), draw(maybe_real), draw(maybe_real), draw(maybe_real), draw(maybe_real),
        draw(st.floats(0, 1e10, allow_nan=False)), draw(st.none() | st.binary(max_size=4)),
        draw(maybe_text), draw(maybe_text), draw(maybe_text), draw(maybe_text), draw(maybe_int),
    )  # fmt: skip


@st.composite
def records(draw: Any) -> tuple[Any, ...]:
    """``FINISHED_SQL`` parameters of a final status, as the store writes them."""
    final = draw(st.sampled_from(sorted(s.value for s in FINAL_STATUSES)))
    return (
        TASK, final, draw(st.integers(0, 9)), draw(st.floats(0, 1e9, allow_nan=False)),
        draw(st.floats(0, 1e10, allow_nan=False)), draw(st.none() | st.binary(max_size=4)),
        draw(maybe_text), draw(maybe_text), draw(maybe_text), draw(maybe_text),
        draw(maybe_text), draw(maybe_text), draw(maybe_int), draw(maybe_real), draw(maybe_int),
        draw(maybe_real), draw(maybe_real),
    )  # fmt: skip


def through_sqlite(row: tuple[Any, ...] | None, params: tuple[Any, ...]) -> tuple[Any, ...]:
    conn = sqlite3.connect(":memory:")
    try:
        for statement in SCHEMA:
            conn.execute(statement)
        if row is not None:
            marks = ", ".join("?" * len(row))
            conn.execute(f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({marks})", row)
        conn.execute(FINISHED_SQL, params)
        return tuple(conn.execute(ROW_SQL, (TASK,)).fetchone())
    finally:
        conn.close()


def test_the_fields_are_the_statements_parameters_in_order() -> None:
    inserted = FINISHED_SQL.split("(", 1)[1].split(")", 1)[0]
    assert tuple(c.strip() for c in inserted.split(",")) == FINISHED_FIELDS


@settings(max_examples=400, deadline=None)
@given(row=st.none() | rows(), params=records())
def test_finished_over_is_what_the_upsert_leaves(
    row: tuple[Any, ...] | None, params: tuple[Any, ...]
) -> None:
    assert finished_over(row, params) == through_sqlite(row, params)
