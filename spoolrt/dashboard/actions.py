"""The dashboard's actions: every ``POST`` (after ``app`` checked who asks and the CSRF token).

- ``/task/<id>/retry`` and ``/task/<id>/cancel``: one task (``spoolrt.observe.actions``; a
  running task is never cancelled), then back to its page.
- ``/tasks/retry-failed`` (``confirm=yes``): every failed task the list's filter matches.
- ``/purge`` (``confirm=yes``, ``status=failed|quarantined|pending|scheduled``): delete every
  task file the list with that filter shows, as ``spoolrt purge`` does (a waiting file under the
  spooler's lock, never a running one; a kept file with its record); ``status=done|skipped|
  cancelled`` (and ``before``, the cut its confirmation page fixed): delete those records from
  the store, as ``spoolrt purge --status`` does (``spoolrt.dashboard.purging``).
- ``/schedules/run`` (``schedule=<name>``): one run of a schedule now.

Each changed task is one line in its directory's audit log (who, what, when); a purge of
history is one line per store, with the count and the filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import SpoolFileError, SpoolrtError
from spoolrt.dashboard import pages, purging, views
from spoolrt.dashboard.http import StartResponse, answer, root, who
from spoolrt.observe.actions import cancel, requeue
from spoolrt.spooldir.audit import record_action

_PAST = {"retry": "retried", "cancel": "cancelled"}
_ALLOWED_IF = {"retry": "retryable", "cancel": "cancelable"}


def post(
    environ: dict[str, Any],
    start_response: StartResponse,
    path: str,
    spool_dirs: Sequence[str],
    signer: Callable[[], Signer | None],
    message: Callable[[dict[str, Any], str], bytes],
) -> Iterable[bytes]:
    """Do the action ``path`` names with ``environ["spoolrt.form"]``; ``message`` renders a
    result page."""
    form: dict[str, str] = environ["spoolrt.form"]
    if path in ("/tasks/retry-failed", "/purge"):
        if form.get("confirm") != "yes":
            return answer(start_response, "400 Bad Request", b"confirm=yes is needed\n")
        if path == "/purge":
            if form.get("status") not in pages.PURGEABLE:
                body = f"purge which status? one of {', '.join(pages.PURGEABLE)}\n".encode()
                return answer(start_response, "400 Bad Request", body)
            said, refused = purging.purge_matching(spool_dirs, signer(), form, who(environ))
            lines = [said, *(f"left {r}" for r in refused)]
        else:
            done, refused = views.retry_failed(spool_dirs, signer(), form, who(environ))
            lines = [f"retried {done} failed task(s)", *(f"refused {r}" for r in refused)]
        return answer(start_response, "200 OK", message(environ, "; ".join(lines)))
    if path == "/schedules/run":
        return _run_schedule(environ, start_response, form)
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "task" or parts[2] not in _PAST:
        return answer(start_response, "404 Not Found", b"no such action\n")
    return _one_task(environ, start_response, parts[1], parts[2], spool_dirs, signer())


def _one_task(
    environ: dict[str, Any],
    start_response: StartResponse,
    task_id: str,
    action: str,
    spool_dirs: Sequence[str],
    signer: Signer | None,
) -> Iterable[bytes]:
    found = pages.task_detail(spool_dirs, signer, task_id)
    if found is None or not found[_ALLOWED_IF[action]]:
        return answer(start_response, "409 Conflict", f"cannot {action} it now\n".encode())
    if action == "cancel":  # audited by the cancel primitive itself, once
        done = cancel(found["entry"], who=who(environ), via="dashboard")
        if not done:
            return answer(start_response, "409 Conflict", f"refused: {done.reason}\n".encode())
    else:
        try:
            requeue(found["entry"], signer)
        except SpoolFileError as exc:
            return answer(start_response, "409 Conflict", f"refused: {exc}\n".encode())
        record_action(found["entry"].spool_dir, who(environ), "retried", task_id)
    location = f"{root(environ)}/task/{quote(task_id)}"
    return answer(start_response, "303 See Other", b"", [("Location", location)])


def _run_schedule(
    environ: dict[str, Any], start_response: StartResponse, form: dict[str, str]
) -> Iterable[bytes]:
    try:
        task_id = views.run_schedule(form.get("schedule", ""), who(environ))
    except KeyError:
        return answer(start_response, "404 Not Found", b"no such schedule here\n")
    except SpoolrtError as exc:
        return answer(start_response, "409 Conflict", f"refused: {exc}\n".encode())
    location = f"{root(environ)}/task/{quote(task_id)}"
    return answer(start_response, "303 See Other", b"", [("Location", location)])
