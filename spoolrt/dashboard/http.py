"""The dashboard's HTTP plumbing, shared by its GET pages (``app``) and its actions
(``actions``): answers with the security headers, the form, who asks, and where it is mounted."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]
_MAX_FORM = 16 * 1024

#: Every answer's security headers: nothing from outside, scripts only from the dashboard's own
#: ``/live.js`` (no inline script, no ``eval``), no framing, no sniffing, no caching.
HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]


def root(environ: dict[str, Any]) -> str:
    """Where the dashboard is mounted (``SCRIPT_NAME``), without a trailing slash."""
    return str(environ.get("SCRIPT_NAME", "")).rstrip("/")


def who(environ: dict[str, Any]) -> str:
    return str(environ.get("REMOTE_USER") or environ.get("spoolrt.user") or "anonymous")


def when(stamp: float | None) -> str:
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def read_form(environ: dict[str, Any]) -> dict[str, str]:
    """The urlencoded POST form (at most 16 KiB of it), first value of each field."""
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), _MAX_FORM)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    parsed = parse_qs(body.decode("utf-8", "replace"))
    return {k: v[0] for k, v in parsed.items()}


def answer(
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: Sequence[tuple[str, str]] = (),
    content_type: str = "text/html; charset=utf-8",
) -> list[bytes]:
    if not status.startswith("200") and content_type.startswith("text/html") and b"<" not in body:
        content_type = "text/plain; charset=utf-8"
    all_headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *HEADERS]
    start_response(status, [*all_headers, *headers])
    return [body]
