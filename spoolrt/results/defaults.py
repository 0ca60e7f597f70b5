"""Defaults of the result store, each in one place with the reason it has that value.

The lead plans a package-wide ``spoolrt/defaults.py``; these constants move there unchanged.
"""

from __future__ import annotations

DEFAULT_RESULT_TTL: float = 7 * 24 * 3600.0
"""Seconds a finished task's record (status, result, error) is kept: 7 days.

Handles usually read a result within seconds, so the TTL is not for them; it is for people. A
failure on Friday night must still be there to inspect on Monday morning, with a margin for a
long weekend. Longer than that, and the store of a busy site grows without anyone looking at it
(about 200 bytes a task before results: 1 M tasks a day is ~1.4 GB a week). Users who need
raw speed or small files lower it per task or turn results off; failed tasks also stay on disk
in the spooler's failed area, whatever the TTL. A record that has not finished is kept at least
this long past its last activity, so a long backlog does not lose its rows.
"""

DEFAULT_BUSY_TIMEOUT: float = 30.0
"""Seconds a write waits for SQLite's single write lock before giving up with an error.

Writes hold the lock for tens of microseconds, so reaching this means something is wrong (a
process stopped while holding it in a long transaction, a full or read-only disk); until then
callers never see ``database is locked``.
"""

DEFAULT_PURGE_INTERVAL: float = 300.0
"""Seconds between opportunistic purges of expired records, across all processes sharing a store.

Reads already hide expired records, so this only bounds how long their bytes stay on disk; a
purge scans the table, so doing it every few minutes keeps its cost invisible.
"""

RESULTS_DIRNAME: str = ".spoolrt"
"""Directory, inside the spool directory, for spoolrt's own files.

uWSGI only runs files named ``uwsgi_spoolfile_on_*`` and numeric priority directories, so a
dot-directory beside them is never scanned as a task.
"""

RESULTS_FILENAME: str = "results.sqlite3"
"""File name of the embedded SQLite store inside ``RESULTS_DIRNAME``."""
