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
#: scanned directory to about a minute's worth of future tasks (see ``spoolrt.parking``).
PARK_AFTER = 60.0

#: Directory scans per second asked of uWSGI by the shipped configs. ``at`` (postpone and
#: retry delays) has this precision; enqueue still wakes an idle spooler at once.
SPOOLER_FREQUENCY = 1
