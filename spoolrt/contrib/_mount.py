"""Running the dashboard's WSGI app inside another framework's view (Django, Flask).

The framework routes ``<prefix>/<path>`` to one view; the view hands the dashboard a copy of the
request's WSGI environ in which ``SCRIPT_NAME`` is the mount point and ``PATH_INFO`` the rest,
so the dashboard's links, cookie path and redirects stay below the prefix. The body is passed
as bytes the framework already read (it may have buffered the stream), and the user the
framework authenticated travels in the environ (``spoolrt.user`` for the audit log,
``spoolrt.principal`` for ``authorize``): the dashboard keeps its own CSRF check and roles.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from spoolrt.dashboard import Dashboard

#: The environ key of the framework's user object, for the ``authorize`` of a mount.
PRINCIPAL = "spoolrt.principal"


def mounted_environ(
    environ: Mapping[str, Any],
    *,
    script_name: str,
    path_info: str,
    body: bytes,
    user: str,
    principal: object,
) -> dict[str, Any]:
    """A copy of ``environ`` as the dashboard mounted at ``script_name`` should see it."""
    copied = dict(environ)
    copied.update(
        {
            "SCRIPT_NAME": script_name.rstrip("/"),
            "PATH_INFO": "/" + path_info.lstrip("/"),
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
            "spoolrt.user": user,
            PRINCIPAL: principal,
        }
    )
    return copied


def call(app: Dashboard, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """The dashboard's answer to ``environ``: status code, headers, body."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, headers

    body = b"".join(app(environ, start_response))
    return int(str(seen["status"]).split()[0]), list(seen["headers"]), body
