"""spoolrt's log lines when the application configured no logging (a uWSGI spooler, mostly).

Every spoolrt logger is ``spoolrt`` or below it, and that name is the lines' one prefix:
messages never start with ``spoolrt:`` themselves, so a format with ``%(name)s`` (the worker's,
Django's ``LOGGING``) does not print it twice.

A library adds no handlers, but a spooler process is spoolrt's runtime, as ``spoolrt worker``
is: with nothing configured, Python would print only warnings, bare, and a user would never see
a task finish. So the spooler side calls ``install_fallback()``: the ``spoolrt`` logger at INFO
with a handler to stderr (uWSGI's log) in ``FORMAT``, which stays silent as soon as the root
logger has a handler of its own (the app configured logging later: its handlers get the lines
by propagation, never twice). An app that configures the ``spoolrt`` logger itself (Django's
``LOGGING["loggers"]["spoolrt"]``, ``dictConfig``) replaces all of this.
"""

from __future__ import annotations

import logging
import sys

#: What a spoolrt line looks like when nothing else was configured.
FORMAT = "%(levelname)s %(name)s: %(message)s"


class FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg, unused-ignore]
    """Writes to stderr only while the root logger has no handler (see module)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers:
            return  # the root's handlers get it by propagation
        super().emit(record)


def install_fallback(level: int = logging.INFO) -> bool:
    """Give the ``spoolrt`` logger ``level`` and a ``FallbackHandler`` unless logging of it or
    of the root was already configured; whether it did. Idempotent."""
    logger = logging.getLogger("spoolrt")
    if logging.getLogger().handlers or logger.handlers or logger.level != logging.NOTSET:
        return False
    logger.addHandler(FallbackHandler())
    logger.setLevel(level)
    return True
