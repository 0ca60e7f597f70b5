"""What group commit leaves behind and nothing needs any more (see ``spoolrt.results.journal``):
the merged offsets of journal files long gone, and empty temporaries of processes killed while
they opened a journal. Run with the store's purge of expired records, so it costs nothing on the
hot path.

Why a row can go. Journal file names are never reused (each holds its process's pid, a random
token and a generation), and a file is unlinked only once all of its records are merged. Its row
is still what stops a reader that had the file open, and is merging it at that moment, from
applying its records a second time; a reader lists the directory again before any merge and so
drops an unlinked file at its next look. ``JOURNAL_ROW_KEEP`` leaves that window an hour.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time

from spoolrt.results.sqlite_schema import JOURNAL_TABLE

#: Seconds a row outlives the last merge of a journal file that no longer exists.
JOURNAL_ROW_KEEP = 3600.0
#: Seconds before an unlocked temporary journal counts as left by a dead process (its owner
#: locks it right after creating it; a few seconds would do, a minute leaves no doubt).
TEMPORARY_KEEP = 60.0

_OLD_ROWS_SQL = f"SELECT name FROM {JOURNAL_TABLE} WHERE updated_at < ?"
_DELETE_ROW_SQL = f"DELETE FROM {JOURNAL_TABLE} WHERE name = ? AND updated_at < ?"


def forget_gone_files(conn: sqlite3.Connection, directory: str, now: float) -> int:
    """Delete the rows of journal files that are gone and were last merged before
    ``now - JOURNAL_ROW_KEEP``; returns how many went."""
    cutoff = now - JOURNAL_ROW_KEEP
    names = [row[0] for row in conn.execute(_OLD_ROWS_SQL, (cutoff,)).fetchall()]
    gone = [n for n in names if not os.path.lexists(os.path.join(directory, n))]
    if not gone:
        return 0
    # One short write; each delete re-checks the time, so a row a merge just advanced stays.
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_DELETE_ROW_SQL, [(name, cutoff) for name in gone])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return len(gone)


def sweep_temporaries(directory: str, now: float | None = None) -> int:
    """Remove the empty ``.<name>.log.tmp`` files whose owner is gone (unlocked and older
    than ``TEMPORARY_KEEP``); returns how many went."""
    cutoff = (time.time() if now is None else now) - TEMPORARY_KEEP
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and n.endswith(".tmp")]
    except OSError:
        return 0
    removed = 0
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if st.st_mtime >= cutoff or st.st_size != 0:
                continue  # being opened right now, or not what a kill leaves: left alone
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its owner is alive
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed += 1
        finally:
            os.close(fd)
    return removed
