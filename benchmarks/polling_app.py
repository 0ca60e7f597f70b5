"""The uWSGI app of ``benchmarks.polling_cost``: a no-op task and a status endpoint.

``GET /status/<id>`` answers with ``Spooler.get_result(id)``'s status, as a web page polling
its tasks would; the spooler imports this module for the task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from spoolrt import Spooler


@Spooler.task()
def noop(n: int) -> int:
    """The task the spooler drains: its cost is spoolrt's own."""
    return n


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path.startswith("/status/"):
        handle = Spooler.get_result(path[len("/status/") :])
        status = handle.status if handle is not None else None
        body = (status.value if status is not None else "unknown").encode()
    else:
        body = b"pong"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
