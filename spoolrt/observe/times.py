"""Times as a person reads them, for every face that shows one (CLI, dashboard, scan notes)."""

from __future__ import annotations

import time


def format_time(timestamp: float | None) -> str:
    """Local wall-clock time, to the second (what a person compares with their clock), with
    its zone: under Django the local zone is the project's ``TIME_ZONE``, not the machine's."""
    if timestamp is None:
        return "-"
    moment = time.localtime(timestamp)
    return time.strftime("%Y-%m-%d %H:%M:%S ", moment) + (moment.tm_zone or time.strftime("%z"))


__all__ = ["format_time"]
