"""A small WSGI app the integration tests drive over HTTP: it enqueues and inspects tasks."""

import json
import traceback
from datetime import datetime, timedelta, timezone

import coretasks

from spoolrt import Spooler
from spoolrt.api.tasks import task_functions


def _postpone(value):
    if isinstance(value, dict) and "at" in value:
        return datetime.fromtimestamp(value["at"], tz=timezone.utc)
    if isinstance(value, dict) and "naive_at" in value:
        return datetime.fromtimestamp(value["naive_at"])
    if isinstance(value, dict) and "delta" in value:
        return timedelta(seconds=value["delta"])
    return value


def enqueue(req):
    func = task_functions[req["task"]]
    options = {}
    if "postpone" in req:
        options["postpone"] = _postpone(req["postpone"])
    if "priority" in req:
        options["priority"] = req["priority"]
    args = [
        bytes(a["bytes"] * a["times"], "latin-1") if isinstance(a, dict) else a for a in req["args"]
    ]
    handles = []
    for _ in range(req.get("repeat", 1)):
        handle = func.spool_with(tuple(args), req.get("kwargs", {}), **options)
        handles.append({"path": str(handle), "id": handle.task_id, "name": handle.task_name})
    return handles[0] if len(handles) == 1 else handles


def raw(req):
    handle = Spooler.send_message_raw(
        req["message"],
        payload=req.get("payload"),
        priority=req.get("priority"),
        postpone=_postpone(req.get("postpone")),
    )
    return {"path": str(handle), "id": handle.task_id}


def spoolers(_req):
    return {
        "spoolers": [s.dir for s in Spooler.get_spoolers()],
        "pids": Spooler.get_pids(),
        "tasks": Spooler.get_tasks(),
    }


def status(req):
    """What a later request (or another process) learns about a task from its id alone."""
    handle = Spooler.get_result(req["id"])
    if handle is None:
        return {"known": False}
    status = handle.status  # read once: the task may finish between two reads
    out = {
        "known": True,
        "status": status.value if status else None,
        "ready": status is not None and status.is_final,
        "attempts": handle.attempts,
        "error": handle.error,
        "traceback": handle.traceback,
        "started_at": handle.started_at,
        "finished_at": handle.finished_at,
    }
    if out["ready"]:
        try:
            out["result"] = handle.result(timeout=0)
        except Exception as exc:
            out["result_error"] = type(exc).__name__
    return out


def statuses(req):
    """Poll many ids at once (the concurrency test's readers)."""
    counts: dict[str, int] = {}
    for task_id in req["ids"]:
        handle = Spooler.get_result(task_id)
        status = handle.status if handle is not None else None  # read once: it moves on
        key = status.value if status is not None else "unknown"
        counts[key] = counts.get(key, 0) + 1
    return counts


def read(req):
    return Spooler.read_task_file(req["path"]).to_dict()


def foreign(req):
    """A spool file spoolrt did not write, as another library would spool it."""
    import uwsgi

    path = uwsgi.spool({b"foreign": req.get("value", "x").encode()})
    return {"path": path.decode()}


def _cancelled(result):
    return {
        "cancelled": bool(result),
        "code": result.code,
        "reason": result.reason,
        "path": result.path,
    }


def spool_and_cancel(req):
    """Spool a postponed ``when`` and cancel it at once through the handle ``spool`` returned."""
    handle = coretasks.when.spool_with((req["tag"],), postpone=req["postpone"])
    return {"id": handle.task_id, "path": str(handle), **_cancelled(handle.cancel())}


def cancel(req):
    """Cancel by id alone, from a handle rebuilt by ``get_result`` (as a later request would)."""
    handle = Spooler.get_result(req["id"])
    if handle is None:
        return {"cancelled": False, "code": "unknown", "reason": "no such task", "path": ""}
    return _cancelled(handle.cancel())


def unpicklable(_req):
    coretasks.processed(lambda: None)
    return {"spooled": True}


ROUTES = {
    "/enqueue": enqueue,
    "/raw": raw,
    "/spoolers": spoolers,
    "/read": read,
    "/status": status,
    "/statuses": statuses,
    "/foreign": foreign,
    "/unpicklable": unpicklable,
    "/spool_and_cancel": spool_and_cancel,
    "/cancel": cancel,
}


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ping":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"pong"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        req = json.loads(environ["wsgi.input"].read(length) or b"{}")
        body, status = ROUTES[path](req), "200 OK"
    except Exception as exc:
        body = {"error": type(exc).__name__, "message": str(exc), "tb": traceback.format_exc()}
        status = "400 Bad Request"
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
