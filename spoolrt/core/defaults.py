"""Every default spoolrt uses, in one place, each with the reason for its value."""

from __future__ import annotations

#: Retries after the first attempt: a task runs at most ``RETRIES + 1`` times. Celery's default;
#: enough to ride out a deploy or a flaky network call, few enough to fail fast on a real bug.
RETRIES = 3

#: Seconds before the first retry; later retries double it (see ``outcomes.RetryPolicy``).
RETRY_DELAY = 1.0

#: Longest wait between two attempts, whatever the backoff says.
RETRY_CAP = 3600.0

#: Serializer for arguments and results. Pickle is what uwsgiconf users already send; every
#: envelope is signed, so a pickle is never loaded from a file that spoolrt did not write.
SERIALIZER = "pickle"

#: Seconds ahead beyond which a postponed task (or a retry) is parked outside the directory
#: uWSGI scans, and moved in when it comes within this much of its time. uWSGI stats every
#: file on every pass: 100,000 waiting files cost an idle enqueue ~100 ms. A minute keeps the
#: scanned directory to about a minute's worth of future tasks (see ``spoolrt.spooldir.parking``).
PARK_AFTER = 60.0

#: Seconds a spooler that cannot resolve a task (its module is not importable here, no such
#: task type) leaves the file for the spoolers of the same directory that can, before it sets
#: it aside as ``unknown-task``; counted from the later of the task's signed enqueue time and
#: its signed ``at``. An hour covers a rolling deploy that adds the task's module and a backlog
#: that keeps the spoolers that have it busy, and still surfaces a task nobody can run the same
#: day (``spoolrt ls`` shows it meanwhile as pending).
UNRESOLVED_GRACE = 3600.0

#: Seconds a spool file whose outcome could not be recorded (disk full: the retry file or the
#: failed copy cannot be written) is postponed before only its bookkeeping is tried again,
#: doubled at each failure up to ``BOOKKEEPING_RETRY_CAP``. Postponing (not just keeping) the
#: file keeps the other spoolers of the directory, which do not know the outcome, from running
#: the task's body again at their next pass.
BOOKKEEPING_RETRY_DELAY = 2.0

#: Longest postponement of a file whose bookkeeping keeps failing: space freed up is used
#: within a minute.
BOOKKEEPING_RETRY_CAP = 60.0

#: Seconds between two log lines about outcomes that cannot be recorded: a full disk must not
#: also fill the log (one line per pass was ~80 KB/s).
BOOKKEEPING_LOG_INTERVAL = 30.0

#: Seconds beyond the parking horizon (``PARK_AFTER``) past which a file's mtime in the scanned
#: directory is suspicious: nothing spoolrt writes there is due later than the horizon plus a
#: parking bucket (60 s) and the bookkeeping postponement above. Only such files are decoded to
#: compare their mtime with their signed ``at`` (a moved mtime would keep them from running),
#: so a pass over the directory stays a listing.
MISDATED_MARGIN = 180.0

#: Directory scans per second asked of uWSGI by the shipped configs. ``at`` (postpone and
#: retry delays) has this precision; enqueue still wakes an idle spooler at once.
SPOOLER_FREQUENCY = 1

#: Seconds between two sweeps of the task-id index (``spoolrt.spooldir.ids``) for entries whose
#: spool file is gone without the dispatcher removing them (a process killed in between). A
#: sweep lists the whole index, and a leftover entry only holds a finished file's disk space.
ID_SWEEP_INTERVAL = 60.0

#: Seconds ``spoolrt worker --until-empty`` waits for a task that comes due (a retry's backoff,
#: a short postpone) before it exits: the default retries' backoff (1 + 2 + 4 s, with jitter
#: below that) with room to spare, so a task that fails and then succeeds ends done.
UNTIL_EMPTY_WAIT = 30.0

#: What the result store keeps of a task: status and return value, status only, or nothing.
RESULT_MODES = ("all", "status", "off")

#: The default result mode: a handle's ``result()`` works without asking for it.
RESULTS = "all"

RESULT_TTL: float = 7 * 24 * 3600.0
"""Seconds a finished task's record (status, result, error) is kept: 7 days.

Handles usually read a result within seconds, so the TTL is not for them; it is for people. A
failure on Friday night must still be there to inspect on Monday morning, with a margin for a
long weekend. Longer than that, and the store of a busy site grows without anyone looking at it
(about 200 bytes a task before results: 1 M tasks a day is ~1.4 GB a week). Users who need
raw speed or small files lower it per task or turn results off; failed tasks also stay on disk
in the spooler's failed area, whatever the TTL. A record that has not finished is kept at least
this long past its last activity, so a long backlog does not lose its rows.
"""

STORE_BUSY_TIMEOUT: float = 30.0
"""Seconds a write waits for SQLite's single write lock before giving up with an error.

Writes hold the lock for tens of microseconds, so reaching this means something is wrong (a
process stopped while holding it in a long transaction, a full or read-only disk); until then
callers never see ``database is locked``.
"""

STORE_PURGE_INTERVAL: float = 300.0
"""Seconds between opportunistic purges of expired records, across all processes sharing a store.

Reads already hide expired records, so this only bounds how long their bytes stay on disk; a
purge scans the table, so doing it every few minutes keeps its cost invisible.
"""

STATE_DIR: str = ".spoolrt"
"""Directory, inside the spool directory, for spoolrt's own files.

uWSGI only runs files named ``uwsgi_spoolfile_on_*`` and numeric priority directories, so a
dot-directory beside them is never scanned as a task.
"""

RESULTS_FILENAME: str = "results.sqlite3"
"""File name of the embedded SQLite store inside ``STATE_DIR``."""

#: Seconds a remote enqueue waits for a node to connect and acknowledge before it tries the next
#: node: uWSGI answers in about a millisecond on a LAN, so 5 s means the node is gone or stuck,
#: and a caller (often a web request) must not hang much longer than that on one node.
REMOTE_TIMEOUT = 5.0

#: The largest uwsgi packet a node takes: uWSGI's default ``buffer-size``. A bigger packet is not
#: refused, the node resets the connection, so the sender checks the size itself; raise it per
#: pool (``{"nodes": [...], "buffer_size": 32768}``) together with the nodes' ``buffer-size``.
REMOTE_BUFFER_SIZE = 4096

#: Whether this process fires schedule slots. True suits one node; in a pool of nodes that load
#: the same app, set it False (``SPOOLRT_SCHEDULER=0``) on every node but the scheduler node.
SCHEDULER = True

#: Seconds a pool-wide view (``spoolrt ls --node``, the dashboard's pool page) waits for one
#: node's dashboard: a node that has not answered by then is marked, never waited on longer.
NODE_TIMEOUT = 3.0

#: Sends through a fastrouter, in all, before ``NoNodeAvailable``: the router already skips a
#: node it cannot connect to, so a send it could not place means no node took it; a second and
#: third try cover a node that refused (the router's rotation moves on) and a router restarting.
REMOTE_ROUTER_ATTEMPTS = 3
