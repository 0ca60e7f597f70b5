"""The dashboard as a plain WSGI app, secure by default.

- **No authorization, no dashboard**: ``Dashboard`` refuses to be made without an
  ``authorize(environ, method, path) -> bool``. It is asked for every request, pages and the
  stylesheet included; a read-only user is one whose ``authorize`` says no to ``POST``. Denied
  requests get 401 (with ``challenge`` as ``WWW-Authenticate`` when the request carried no
  credentials and one is configured) or 403.
- **CSRF**: every action is a ``POST`` whose form must carry the token of the ``spoolrt_csrf``
  cookie (double submit: no server state, so it works across workers; the cookie is
  ``SameSite=Strict`` and ``HttpOnly``). Without it: 403.
- **Escaping**: jinja2 with autoescape; a task argument ``<script>`` shows as text. No inline
  script and no asset from outside; the ``Content-Security-Policy`` says ``default-src 'none'``
  and allows scripts, styles and fetches from the dashboard itself only.
- **Live refresh**: each page names its JSON twin (``data-api`` on ``<main>``); the
  dashboard's own ``/live.js`` polls it and, when it changed, swaps in the page's fresh
  ``<main>``. Without JavaScript every page is the same, reloaded by hand.
- **Actions** are written to ``<spool>/.spoolrt/audit.log`` (one JSON line each: who, what,
  when; ``spoolrt.observe.audit``) and to the ``spoolrt.audit`` logger.

Routes (below the mount prefix, ``SCRIPT_NAME``): ``/`` overview, ``/tasks?status=&name=&
spooler=&since=&sort=&offset=`` list, ``/task/<id>`` detail, ``/timings`` (run-time p50/p95
per task), ``/schedules``, ``/processes``, ``/audit``, ``POST /task/<id>/retry`` and
``/task/<id>/cancel``, ``/tasks/retry-failed`` (GET: the confirmation; POST with
``confirm=yes``: retry every failed task the filter matches), ``/purge?status=`` (the same
for deleting the files of one status, or the store's records of done, skipped or cancelled
tasks: ``spoolrt.dashboard.purging``), ``POST /schedules/run`` (``schedule=<name>``; every
action in ``spoolrt.dashboard.actions``), ``/metrics``, ``/api/...`` (the JSON of each page,
see ``spoolrt.dashboard.views``), ``/style.css``, ``/live.js``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

from spoolrt.core import defaults
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.config import get_settings
from spoolrt.core.errors import ConfigurationError
from spoolrt.dashboard import actions, pages, purging, views
from spoolrt.dashboard.http import StartResponse, answer, read_form, root, secs, when, who
from spoolrt.dashboard.pool import page_values, pool_nodes, pool_view
from spoolrt.dashboard.templates import LIVE_JS, STYLE, environment
from spoolrt.observe import metrics
from spoolrt.observe.fanout import Credentials
from spoolrt.observe.processes import spoolers
from spoolrt.observe.schedules import describe_all

Authorize = Callable[[dict[str, Any], str, str], bool]
CSRF_COOKIE = "spoolrt_csrf"
#: The HTML pages that have a JSON twin under ``/api`` (what ``live.js`` polls).
_LIVE = {
    "/": "/api/overview",
    "/tasks": "/api/tasks",
    "/timings": "/api/timings",
    "/schedules": "/api/schedules",
    "/processes": "/api/processes",
    "/audit": "/api/audit",
}


class Dashboard:
    """The WSGI app over ``spool_dirs``. ``authorize`` is required; ``signer`` verifies files
    (default: the process's key, as the spooler uses); ``challenge`` e.g. ``Basic realm=...``;
    ``nodes``, ``node_credentials``, ``node_timeout``: the pool page (``dashboard.pool``)."""

    def __init__(
        self,
        spool_dirs: Sequence[str],
        *,
        authorize: Authorize | None = None,
        signer: Callable[[], Signer | None] | None = None,
        challenge: str | None = None,
        nodes: Sequence[str] | None = None,
        node_credentials: Credentials | None = None,
        node_timeout: float = defaults.NODE_TIMEOUT,
    ) -> None:
        if authorize is None or not callable(authorize):
            raise ConfigurationError(
                "the dashboard refuses to serve without authorization: pass "
                "authorize=callable(environ, method, path) -> bool (say no to POST for "
                "read-only users)"
            )
        self.spool_dirs = list(spool_dirs)
        self.authorize = authorize
        self.challenge = challenge
        self._signer = signer or _default_signer
        self.templates = environment()
        self.pool = (list(nodes or []), node_credentials, node_timeout)

    # --- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "") or "/")
        if not self.authorize(environ, method, path):
            return self._denied(environ, start_response)
        token, fresh = self._csrf_token(environ)
        extra = [("Set-Cookie", self._cookie(environ, token))] if fresh else []
        if method == "POST":
            form = read_form(environ)
            environ["spoolrt.form"] = form
            if not hmac.compare_digest(form.get("csrf", ""), token) or fresh:
                return answer(start_response, "403 Forbidden", b"CSRF token missing or wrong\n")
            return actions.post(
                environ, start_response, path, self.spool_dirs, self._signer, self._message
            )
        if method not in ("GET", "HEAD"):
            return answer(start_response, "405 Method Not Allowed", b"GET or POST\n")
        return self._get(environ, start_response, path, token, extra)

    def _denied(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.challenge and not environ.get("HTTP_AUTHORIZATION"):
            headers = [("WWW-Authenticate", self.challenge)]
            return answer(start_response, "401 Unauthorized", b"credentials needed\n", headers)
        return answer(start_response, "403 Forbidden", b"not allowed\n")

    def _get(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        path: str,
        token: str,
        extra: list[tuple[str, str]],
    ) -> Iterable[bytes]:
        query = {k: v[0] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        if path == "/style.css":
            return answer(start_response, "200 OK", STYLE.encode(), extra, "text/css")
        if path == "/live.js":
            return answer(start_response, "200 OK", LIVE_JS.encode(), extra, "text/javascript")
        if path == "/metrics":
            body = metrics.render(self.spool_dirs)
            return answer(start_response, "200 OK", body, extra, metrics.CONTENT_TYPE)
        if path in ("/pool", "/api/pool"):
            return self._pool(environ, start_response, path, token, extra)
        if path.startswith("/api/"):
            try:
                data = views.api(path, self.spool_dirs, self._signer, query)
            except KeyError:
                body, code = b'{"error": "not found"}', "404 Not Found"
                return answer(start_response, code, body, extra, "application/json")
            body = json.dumps(data, default=str).encode()
            return answer(start_response, "200 OK", body, extra, "application/json")
        context = self._context(environ, token)
        context["api"] = self._live_url(environ, path)
        dirs = self.spool_dirs
        if path == "/":
            html = self._render("overview", context, spoolers=pages.overview(dirs))
        elif path == "/tasks":
            html = self._tasks(context, query)
        elif path == "/tasks/retry-failed":
            chosen = views.filters(query)
            matching = pages.failed_matching(
                dirs, self._signer(), name=chosen["name"], spooler=chosen["spooler"],
                since=chosen["since"],
            )  # fmt: skip
            html = self._render("confirm", context, title="retry failed", f=chosen, n=len(matching))
        elif path == "/purge":
            cut = time.time()  # sent back with the form: what goes is what is counted now
            n = purging.purge_count(dirs, self._signer(), query, cut)
            html = self._render(
                "purge", context, title="purge", f=views.filters(query), n=n, before=repr(cut),
                purgeable=pages.PURGEABLE, history=pages.STORE_STATES,
            )  # fmt: skip
        elif path == "/timings":
            since = views.filters(query)["since"]
            found = pages.timings(dirs, since)
            html = self._render("timings", context, title="timings", rows=found, since=since)
        elif path == "/schedules":
            found = describe_all(dirs, views.NEXT_RUNS)
            html = self._render("schedules", context, title="schedules", schedules=found)
        elif path == "/processes":
            found = spoolers(dirs, self._signer(), time.time())
            html = self._render("processes", context, title="processes", spoolers=found)
        elif path == "/audit":
            found = views.audit_lines(dirs)
            html = self._render("audit", context, title="audit", actions=found)
        elif path.startswith("/task/") and path.count("/") == 2:
            detail = pages.task_detail(dirs, self._signer(), path[len("/task/") :])
            if detail is None:
                html = self._render("message", context, title="Not found", message="no such task")
                return answer(start_response, "404 Not Found", html.encode(), extra)
            html = self._render("detail", context, title="task", t=detail)
        else:
            return answer(start_response, "404 Not Found", b"not found\n", extra)
        return answer(start_response, "200 OK", html.encode(), extra)

    def _pool(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        path: str,
        token: str,
        extra: list[tuple[str, str]],
    ) -> Iterable[bytes]:
        view, problem = pool_view(*self.pool)
        if path == "/api/pool":
            body = json.dumps(view, default=str).encode()
            return answer(start_response, "200 OK", body, extra, "application/json")
        values = page_values(view, problem)
        html = self._render("pool", self._context(environ, token), title="pool", **values)
        return answer(start_response, "200 OK", html.encode(), extra)

    def _tasks(self, context: dict[str, Any], query: dict[str, str]) -> str:
        chosen = views.filters(query)
        listing = pages.task_list(self.spool_dirs, self._signer(), **chosen)
        kept = {k: str(v) for k, v in chosen.items() if v and k != "offset"}

        def link(**changes: str) -> str:
            """This list's URL with ``changes``: every filter stays in the URL (flower#1215)."""
            merged = {k: v for k, v in {**kept, **changes}.items() if v}
            return f"{context['root']}/tasks?{urlencode(merged)}"

        following = str(chosen["offset"] + len(listing.rows))
        return self._render(
            "tasks",
            context,
            title="tasks",
            rows=listing.rows,
            more=listing.more,
            f=chosen,
            states=list(pages.STATES),
            windows=list(pages.WINDOWS),
            sorts=pages.SORTS,
            link=link,
            next_url=link(offset=following),
            retry_url=f"{context['root']}/tasks/retry-failed?{urlencode(kept)}",
            purgeable=pages.PURGEABLE,
            purge_url=f"{context['root']}/purge?{urlencode(kept)}",
        )

    def _message(self, environ: dict[str, Any], message: str) -> bytes:
        context = self._context(environ, "")
        return self._render("message", context, title="done", message=message).encode()

    # --- helpers --------------------------------------------------------------------------

    def _context(self, environ: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "root": root(environ),
            "user": who(environ),
            "operator": self.authorize(environ, "POST", "/"),
            "csrf": token,
            "when": when,
            "secs": secs,
            "title": "overview",
            "api": "",
            "pool_nodes": len(self._pool_nodes()),
        }

    def _pool_nodes(self) -> list[Any]:
        try:
            return pool_nodes(self.pool[0])
        except ConfigurationError:
            return [None]  # a bad address: the pool page says which

    def _live_url(self, environ: dict[str, Any], path: str) -> str:
        """The JSON twin of the page ``path`` that ``live.js`` polls ("" for none)."""
        twin = _LIVE.get(path) or (f"/api{path}" if path.startswith("/task/") else "")
        if not twin:
            return ""
        query = str(environ.get("QUERY_STRING", ""))
        return f"{root(environ)}{twin}" + (f"?{query}" if query else "")

    def _render(self, template: str, context: dict[str, Any], /, **values: Any) -> str:
        return str(self.templates.get_template(template).render({**context, **values}))

    def _csrf_token(self, environ: dict[str, Any]) -> tuple[str, bool]:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(str(environ.get("HTTP_COOKIE", "")))
        except Exception:  # a malformed Cookie header: treat as none
            cookie = SimpleCookie()
        morsel = cookie.get(CSRF_COOKIE)
        if morsel is not None and len(morsel.value) >= 32:
            return morsel.value, False
        return secrets.token_urlsafe(32), True

    def _cookie(self, environ: dict[str, Any], token: str) -> str:
        return f"{CSRF_COOKIE}={token}; Path={root(environ) or '/'}; HttpOnly; SameSite=Strict"


def _default_signer() -> Signer | None:
    settings = get_settings()
    return settings.signer() if settings.signing else None
