"""The SQL of the SQLite store's queries (``query``, ``timings``), built from their arguments.

The table has no secondary index (every index costs every write, see ``spoolrt.results.sqlite``),
so these scan; the filters and the order run inside SQLite, and only the page comes back.
Status values are literals from the enum, names and times are bound parameters.
"""

from __future__ import annotations

from typing import Any

from spoolrt.results.queries import FINAL_VALUES, check_page
from spoolrt.results.rules import StatusFilter, status_filter
from spoolrt.results.sqlite_schema import COLUMNS, TABLE

#: The activity time of ``spoolrt.results.queries``, in SQL.
ACTIVITY = "coalesce(finished_at, started_at, enqueued_at, scheduled_for, 0)"
_FINAL = "(" + ", ".join(f"'{v}'" for v in FINAL_VALUES) + ")"


def _window(column: str, since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{column} < ?")
        params.append(until)
    return where, params


def query_sql(
    now: float,
    status: StatusFilter,
    name: str | None,
    since: float | None,
    until: float | None,
    limit: int,
    offset: int,
) -> tuple[str, list[Any]]:
    """The statement and parameters of ``query``; an empty statement when nothing can match."""
    check_page(limit, offset)
    wanted = status_filter(status)
    if wanted is not None and not wanted:
        return "", []
    where = ["expires_at > ?"]
    params: list[Any] = [now]
    if wanted is not None:
        where.append("status IN (" + ", ".join(f"'{s.value}'" for s in sorted(wanted)) + ")")
    if name is not None:
        where.append("name = ?")
        params.append(name)
    more, window = _window(ACTIVITY, since, until)
    where += more
    params += window
    params += [limit, offset]
    sql = (
        f"SELECT {COLUMNS} FROM {TABLE} WHERE {' AND '.join(where)} "
        f"ORDER BY {ACTIVITY} DESC, task_id DESC LIMIT ? OFFSET ?"
    )
    return sql, params


def timings_sql(
    now: float, name: str | None, since: float | None, until: float | None
) -> tuple[str, list[Any]]:
    """The statement and parameters that fetch the rows ``queries.timings_of`` adds up."""
    where = ["expires_at > ?", f"status IN {_FINAL}", "finished_at IS NOT NULL"]
    params: list[Any] = [now]
    if name is not None:
        where.append("name = ?")
        params.append(name)
    more, window = _window("finished_at", since, until)
    sql = (
        f"SELECT name, started_at, finished_at, enqueued_at, scheduled_for FROM {TABLE} "
        f"WHERE {' AND '.join(where + more)}"
    )
    return sql, params + window
