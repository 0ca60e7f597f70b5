"""A WSGI middleware that keeps the paths of web tasks closed to outside requests.

::

    from spoolrt.contrib.wsgi import guard

    application = guard(get_wsgi_application())             # the paths of every web task
    application = guard(app, prefixes=["/internal/"])      # or a whole subtree

A request to a guarded path gets ``403 Forbidden`` unless it is spoolrt's own in-process call
(``spoolrt.api.schedules.web``), recognised by an environ value that is an object of this very
process:
a WSGI server maps what a client sends only to ``HTTP_*`` keys and strings, so no request can
carry it. Other paths pass through untouched.

Paths are compared after collapsing repeated slashes, resolving ``.`` and ``..`` and dropping a
trailing slash, so ``//internal/./cleanup/`` is the same path as ``/internal/cleanup``; a
prefix guards every path below it. Serving the task paths under one dedicated prefix
(``/internal/``) and guarding the prefix is the sturdiest setup: it also covers spellings a
router may accept that no normalisation foresees.

The guarded app also becomes the default app of web tasks that name none (see
``spoolrt.api.schedules.web.register_app``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from typing import Any

from spoolrt.api.schedules.web import (
    INTERNAL_CALL,
    INTERNAL_CALL_KEY,
    WSGIApp,
    _guarded_app,
    web_task_paths,
)

FORBIDDEN_BODY = b"Forbidden: this path only serves spoolrt's scheduled web tasks.\n"

_SLASHES = re.compile(r"/{2,}")


def normalize_path(path: str) -> str:
    """The canonical spelling of a URL path, as the guard compares it."""
    path = _SLASHES.sub("/", "/" + path)
    path = posixpath.normpath(path)
    return "/" if path in ("", ".") else path.rstrip("/") or "/"


def is_internal_call(environ: dict[str, Any]) -> bool:
    """True for spoolrt's in-process call of a web task, False for any outside request."""
    return environ.get(INTERNAL_CALL_KEY) is INTERNAL_CALL


class Guard:
    """The middleware ``guard()`` returns; ``paths`` None means every web task's path."""

    def __init__(
        self, app: WSGIApp, paths: Iterable[str] | None = None, prefixes: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.paths = None if paths is None else frozenset(normalize_path(p) for p in paths)
        self.prefixes = tuple(normalize_path(p).rstrip("/") + "/" for p in prefixes)

    def guarded(self, path: str) -> bool:
        normalized = normalize_path(path)
        if normalized.startswith(self.prefixes) or normalized + "/" in self.prefixes:
            return True
        paths = self.paths
        if paths is None:
            paths = frozenset(normalize_path(p) for p in web_task_paths())
        return normalized in paths

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.guarded(environ.get("PATH_INFO", "") or "/") and not is_internal_call(environ):
            start_response(
                "403 Forbidden",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(FORBIDDEN_BODY)))],
            )
            return [FORBIDDEN_BODY]
        return self.app(environ, start_response)


def guard(
    app: WSGIApp, paths: Iterable[str] | None = None, *, prefixes: Iterable[str] = ()
) -> Guard:
    """Wrap ``app`` so outside requests to web-task paths get 403 (see the module docstring).

    ``paths`` lists the guarded paths; by default the paths of every ``web_task`` of the
    process, read at each request, so tasks registered after this call are covered too.
    ``prefixes`` guards whole subtrees in addition.
    """
    wrapped = Guard(app, paths, prefixes)
    _guarded_app(wrapped)
    return wrapped


__all__ = ["Guard", "guard", "is_internal_call", "normalize_path"]
