"""Database connections in spooler processes."""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections


class CloseOldConnections:
    """Django closes broken connections, and those older than ``CONN_MAX_AGE``, when a request
    starts and ends (``request_started``/``request_finished``). A spooler process serves no
    requests, so without this a connection opened by one task would outlive the database
    restart or the ``CONN_MAX_AGE`` that should have ended it, and the next task would fail on
    it. A dispatch observer: called before and after each task.

    Only uWSGI spoolers get it (see ``add_spooler_observer``): in eager mode the task runs
    inside the caller's request or test transaction, whose connection must stay open.
    """

    def started(self, envelope: Any, spool_dir: str) -> None:
        close_old_connections()

    def finished(self, report: Any, spool_dir: str) -> None:
        close_old_connections()
