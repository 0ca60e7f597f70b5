"""The spoolrt dashboard: a WSGI app to mount in your own app, or ``spoolrt dashboard``.

::

    from spoolrt.dashboard import make_app

    def authorize(environ, method, path):        # your users: who may look, who may act
        user = environ.get("REMOTE_USER")
        return user in OPERATORS or (method == "GET" and user in VIEWERS)

    dashboard = make_app(["/var/spool/app"], authorize=authorize)   # mount at /spoolrt

It refuses to be made without ``authorize``. ``basic_auth(users)`` builds one from
``{name: (password, role)}`` for HTTP basic auth (what ``spoolrt dashboard`` uses), roles
``viewer`` (read-only) and ``operator``. Needs ``pip install 'spoolrt[dashboard]'``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from spoolrt.core.defaults import NODE_TIMEOUT
from spoolrt.core.errors import ConfigurationError
from spoolrt.dashboard.app import CSRF_COOKIE, Authorize, Dashboard
from spoolrt.observe.fanout import Credentials

__all__ = ["CHALLENGE", "CSRF_COOKIE", "OPERATOR", "VIEWER", "Dashboard", "basic_auth", "make_app"]

VIEWER = "viewer"
OPERATOR = "operator"
CHALLENGE = 'Basic realm="spoolrt", charset="UTF-8"'


def make_app(
    spool_dirs: Sequence[str],
    *,
    authorize: Authorize | None = None,
    challenge: str | None = None,
    nodes: Sequence[str] | None = None,
    node_credentials: Credentials | None = None,
    node_timeout: float = NODE_TIMEOUT,
) -> Dashboard:
    """The dashboard over ``spool_dirs``; ``authorize(environ, method, path) -> bool`` is
    required (``ConfigurationError`` without it). ``nodes=[...]``, ``node_credentials=`` and
    ``node_timeout=`` set up the pool page (``spoolrt.dashboard.pool``)."""
    return Dashboard(
        spool_dirs,
        authorize=authorize,
        challenge=challenge,
        nodes=nodes,
        node_credentials=node_credentials,
        node_timeout=node_timeout,
    )


def basic_auth(users: Mapping[str, tuple[str, str]]) -> Authorize:
    """An ``authorize`` for HTTP basic auth: ``users`` maps a name to ``(password, role)``.
    A viewer may ``GET``; an operator may also ``POST``. Sets ``REMOTE_USER`` for the audit."""
    for name, (password, role) in users.items():
        if role not in (VIEWER, OPERATOR) or not password:
            raise ConfigurationError(f"user {name!r}: a password and a role viewer|operator")
    known = dict(users)

    def authorize(environ: dict[str, Any], method: str, path: str) -> bool:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            name, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        wanted, role = known.get(name, ("", VIEWER))
        ok = hmac.compare_digest(password.encode(), wanted.encode()) and bool(wanted)
        if not ok:
            return False
        environ["REMOTE_USER"] = name
        return method in ("GET", "HEAD") or role == OPERATOR

    return authorize
