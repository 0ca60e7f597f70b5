"""The SQL of the SQLite store's queries (``query``, ``timings``, ``purge``), built from their
arguments, and the store's ``purge`` itself (``SQLitePurge``, mixed into the store).

The table has no secondary index (every index costs every write, see ``spoolrt.results.sqlite``),
so these scan; the filters and the order run inside SQLite, and only the page comes back.
Status values are literals from the enum, names and times are bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spoolrt.core.outcomes import TaskStatus
from spoolrt.results.journal import Journal
from spoolrt.results.queries import FINAL_VALUES, check_page
from spoolrt.results.rules import StatusFilter, check_purge, status_filter
from spoolrt.results.sqlite_connection import SQLiteConnection
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


def list_sql(
    now: float, status: StatusFilter, name: str | None, limit: int, newest_first: bool
) -> tuple[str | None, list[Any]]:
    """The SQL of ``list`` (None when the status filter matches nothing)."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit!r}")
    wanted = status_filter(status)
    where = ["expires_at > ?"]
    params: list[Any] = [now]
    if wanted is not None:
        if not wanted:
            return None, []
        # Literal values from the enum: safe, and one statement per set in the cache.
        where.append("status IN (" + ", ".join(f"'{s.value}'" for s in sorted(wanted)) + ")")
    if name is not None:
        where.append("name = ?")
        params.append(name)
    params.append(limit)
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT {COLUMNS} FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?"
    return sql, params


def counts_sql(now: float, name: str | None) -> tuple[str, list[Any]]:
    """The SQL of ``counts``: (status, count) rows."""
    sql = f"SELECT status, count(*) FROM {TABLE} WHERE expires_at > ?"
    params: list[Any] = [now]
    if name is not None:
        sql += " AND name = ?"
        params.append(name)
    return sql + " GROUP BY status", params


COUNTS_BY_NAME_SQL = (
    f"SELECT name, status, count(*) FROM {TABLE} WHERE expires_at > ? GROUP BY name, status"
)


#: Rows one batch of ``purge`` deletes: one short write transaction, as ``purge_expired``'s.
PURGE_BATCH = 500


def purge_select_sql(
    now: float, status: TaskStatus, name: str | None, since: float | None, before: float | None
) -> tuple[str, list[Any]]:
    """The statement and parameters (after the first, ``seq > ?``) that find the next batch of
    ``purge``: the rows ``query`` would list, in row order."""
    where = ["seq > ?", "expires_at > ?", f"status = '{status.value}'"]
    params: list[Any] = [now]
    if name is not None:
        where.append("name = ?")
        params.append(name)
    more, window = _window(ACTIVITY, since, before)
    sql = f"SELECT seq FROM {TABLE} WHERE {' AND '.join(where + more)} ORDER BY seq LIMIT ?"
    return sql, [*params, *window, PURGE_BATCH]


class SQLitePurge:
    """``ResultStore.purge`` for the SQLite store: each batch of row numbers is found with a
    read (no write lock) and deleted in one short write that re-checks the status, so writers
    wait microseconds, and a record re-created under its id meanwhile (not final) stays."""

    _db: SQLiteConnection
    _clock: Callable[[], float]
    _journal: Journal

    def purge(
        self,
        status: TaskStatus | str,
        *,
        name: str | None = None,
        since: float | None = None,
        before: float | None = None,
    ) -> int:
        wanted = check_purge(status)
        self._journal.settle_all()  # records still in a journal would come back after
        sql, params = purge_select_sql(self._clock(), wanted, name, since, before)
        purged, after_seq = 0, 0
        while seqs := [row[0] for row in self._db.read(sql, [after_seq, *params])]:
            after_seq = seqs[-1]
            marks = ", ".join("?" * len(seqs))
            purged += self._db.write(
                f"DELETE FROM {TABLE} WHERE seq IN ({marks}) AND status = ?",
                (*seqs, wanted.value),
            )
        return purged
