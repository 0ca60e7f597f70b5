"""Scheduled tasks that call a path of the web app itself, in-process (Pulse's idea).

::

    web_task("/internal/cleanup", seconds=300, app="mysite.wsgi:application")
    web_tasks({"/internal/cleanup": {"seconds": 300}, "/internal/report": {"cron": "0 7 * * *"}},
              app="mysite.wsgi:application")

Each slot is spooled as an ordinary task; in the spooler it builds a WSGI environ for the path
and calls the app object directly: no socket, no HTTP server, no network. The response status
decides the outcome: 2xx and 3xx are done (the result is ``{"status", "body"}``, the body cut
to ``BODY_LIMIT`` characters), anything else raises ``WebTaskFailed`` and is retried like any
failed task.

The app is ``app=`` (the object or ``"module:attr"``, imported in the spooler on first use, so it
also works with ``lazy-apps``), else the one given to ``register_app()``, else the one wrapped
by ``spoolrt.contrib.wsgi.guard``. Keep these paths closed to the outside with that guard: the
call sets a per-process marker in the environ (``INTERNAL_CALL_KEY``) that a client cannot
forge, because a WSGI server puts request headers only under ``HTTP_*`` keys.

The environ names host ``localhost`` on port 80 unless ``host=`` says otherwise (Django's
``ALLOWED_HOSTS`` must accept it) and ``REMOTE_ADDR`` 127.0.0.1.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from spoolrt.api.schedules.decorators import Missed, register
from spoolrt.api.schedules.entries import registry
from spoolrt.api.schedules.timing import Schedule, periodic
from spoolrt.api.schedules.timing import cron as cron_schedule
from spoolrt.core.errors import ConfigurationError, InvalidTaskOption, WebTaskFailed
from spoolrt.core.options import OptionArgs, TaskOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

WSGIApp = Callable[..., Iterable[bytes]]

#: The environ key an in-process call carries; its value is ``INTERNAL_CALL``.
INTERNAL_CALL_KEY = "spoolrt.internal_call"

#: Unforgeable: an object of this process, compared by identity.
INTERNAL_CALL = object()

#: How much of a response body a web task keeps as its result.
BODY_LIMIT = 2000

USER_AGENT = "spoolrt-web-task"

_default_app: WSGIApp | None = None
_default_from_guard: WSGIApp | None = None


def register_app(app: WSGIApp | str) -> None:
    """The WSGI app web tasks call when they name none (an object or ``"module:attr"``)."""
    global _default_app
    _default_app = _load_app(app) if isinstance(app, str) else app


def _guarded_app(app: WSGIApp) -> None:
    """Called by ``spoolrt.contrib.wsgi.guard``: the first guarded app is the fallback."""
    global _default_from_guard
    if _default_from_guard is None:
        _default_from_guard = app


def _load_app(spec: str) -> WSGIApp:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"app={spec!r}: expected 'module:attribute'")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ConfigurationError(f"app={spec!r} is not a WSGI callable: {target!r}")
    app: WSGIApp = target
    return app


class WebTask:
    """One path of the app, called in-process on a schedule (build with ``web_task``)."""

    def __init__(
        self,
        path: str,
        *,
        app: WSGIApp | str | None = None,
        method: str = "GET",
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        host: str = "localhost",
        **options: Unpack[OptionArgs],
    ) -> None:
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidTaskOption(f"a web task path starts with '/', got {path!r}")
        if not isinstance(body, bytes):
            raise InvalidTaskOption(f"body must be bytes, got {type(body).__name__}")
        self.options = TaskOptions(**options)
        split = urlsplit(path)
        self.path = split.path
        self.query = split.query
        self.method = method.upper()
        self.body = body
        self.headers = dict(headers or {})
        self.host = host
        self.app = app

    def __repr__(self) -> str:
        return f"<web task {self.method} {self.path}>"

    @property
    def default_name(self) -> str:
        query = f"?{self.query}" if self.query else ""
        verb = "" if self.method == "GET" else f"{self.method} "
        return f"web:{verb}{self.path}{query}"

    def resolve_app(self) -> WSGIApp:
        if isinstance(self.app, str):
            self.app = _load_app(self.app)
        app = self.app or _default_app or _default_from_guard
        if app is None:
            raise ConfigurationError(
                f"{self!r}: no WSGI app to call in this process; pass app='module:attr' to "
                "web_task, or call spoolrt.api.schedules.web.register_app(app)"
            )
        return app

    def environ(self) -> dict[str, Any]:
        host, _, port = self.host.partition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": self.path,
            "QUERY_STRING": self.query,
            "SERVER_NAME": host,
            "SERVER_PORT": port or "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": self.host,
            "HTTP_USER_AGENT": USER_AGENT,
            "CONTENT_LENGTH": str(len(self.body)) if self.body else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(self.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            INTERNAL_CALL_KEY: INTERNAL_CALL,
        }
        for header, value in self.headers.items():
            key = header.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                environ[f"HTTP_{key}"] = value
        return environ

    def call(self) -> dict[str, Any]:
        """Call the path now; ``{"status": 200, "body": ...}`` or ``WebTaskFailed``."""
        app = self.resolve_app()
        captured: list[str] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured[:] = [status]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = app(self.environ(), start_response)
        try:
            for chunk in result:
                chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = captured[0] if captured else "500 no start_response"
        text = b"".join(chunks).decode("utf-8", "replace")[:BODY_LIMIT]
        code = int(status.split(None, 1)[0]) if status[:3].isdigit() else 500
        if not 200 <= code < 400:
            raise WebTaskFailed(self.method, self.path, status, text)
        return {"status": code, "body": text}

    def run_slot(self, slot: datetime | None) -> dict[str, Any]:
        return self.call()


def web_task(
    path: str,
    *,
    seconds: int | float | timedelta | None = None,
    cron: str | None = None,
    start_now: bool = False,
    tz: str | tzinfo | None = None,
    missed: Missed = None,
    name: str | None = None,
    app: WSGIApp | str | None = None,
    method: str = "GET",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    host: str = "localhost",
    **options: Unpack[OptionArgs],
) -> WebTask:
    """Call ``path`` of the WSGI app every ``seconds`` or at the times of the crontab ``cron``.

    Named ``web:<path>`` (``web:POST <path>`` for other methods) unless ``name`` is given; the
    name is what ``spoolrt run`` takes and what the slot claims are filed under.
    """
    if (seconds is None) == (cron is None):
        raise InvalidTaskOption("a web task needs exactly one of seconds= or cron=")
    schedule: Schedule
    if seconds is not None:
        schedule = periodic(seconds, start_now=start_now)
    else:
        schedule = cron_schedule(cron, tz=tz)
    task = WebTask(path, app=app, method=method, body=body, headers=headers, host=host, **options)
    schedule_name = name or task.default_name
    identity = f"{schedule_name}|{task.method} {path}|{_app_identity(app)}"
    register(schedule_name, schedule, task, missed=missed, identity=identity)
    return task


def _app_identity(app: WSGIApp | str | None) -> str:
    """The same for the same app in a re-executed module (``spooler-import``), unlike ``id()``."""
    if app is None or isinstance(app, str):
        return str(app)
    owner = app if hasattr(app, "__qualname__") else type(app)
    return f"{getattr(owner, '__module__', '')}:{getattr(owner, '__qualname__', '')}"


def web_tasks(
    config: Mapping[str, Mapping[str, Any]], *, app: WSGIApp | str | None = None
) -> list[WebTask]:
    """Several web tasks from a dict of path to ``web_task`` keywords (Pulse's configuration
    style); ``app`` applies to those that name none."""
    tasks = []
    for path, options in config.items():
        keywords = dict(options)
        keywords.setdefault("app", app)
        tasks.append(web_task(path, **keywords))
    return tasks


def web_task_paths() -> set[str]:
    """The paths of every web task of this process (what the guard closes by default)."""
    return {entry.target.path for entry in registry if isinstance(entry.target, WebTask)}


__all__ = [
    "INTERNAL_CALL_KEY",
    "WebTask",
    "WebTaskFailed",
    "register_app",
    "web_task",
    "web_task_paths",
    "web_tasks",
]
