"""A WSGI app for the uwsgi_configs tests: enqueue a task by name, list the spoolers."""

import importlib
import json
import os
import traceback

from spoolrt import Spooler
from spoolrt.api.tasks import task_functions

importlib.import_module(os.environ["SPOOLRT_TASKS"])


def enqueue(req):
    func = task_functions[req["task"]]
    options = {"spooler": req["spooler"]} if "spooler" in req else {}
    handle = func.spool_with(tuple(req.get("args", ())), req.get("kwargs", {}), **options)
    return {"path": str(handle), "id": handle.task_id, "spooler": handle.spooler}


def spoolers(_req):
    import uwsgi

    # uWSGI's own pairing: one (dir, pid) per spooler process; pid 0 for an external spooler.
    dirs = [os.fsdecode(d) for d in uwsgi.spoolers]
    return {
        "spoolers": [s.dir for s in Spooler.get_spoolers()],
        "processes": [[d, pid] for d, pid in zip(dirs, uwsgi.spooler_pids(), strict=True)],
    }


ROUTES = {"/enqueue": enqueue, "/spoolers": spoolers}


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
