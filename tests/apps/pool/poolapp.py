"""A pool node's app: the dashboard mounted at /spoolrt (one viewer, password from
$POOL_DASHBOARD_PASSWORD), ``/enqueue?tag=&postpone=`` spools ``later``, ``/ping``."""

import json
import os
from urllib.parse import parse_qs

import pooltasks

from spoolrt.dashboard import CHALLENGE, basic_auth, make_app

dashboard = make_app(
    [os.environ["SPOOLRT_SPOOL_DIR"]],
    authorize=basic_auth({"viewer": (os.environ["POOL_DASHBOARD_PASSWORD"], "viewer")}),
    challenge=CHALLENGE,
)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/spoolrt" or path.startswith("/spoolrt/"):
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/spoolrt"
        environ["PATH_INFO"] = path[len("/spoolrt") :] or "/"
        return dashboard(environ, start_response)
    if path == "/ping":
        body = b"pong"
    elif path == "/enqueue":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        postpone = int(query.get("postpone", ["0"])[0]) or None
        handle = pooltasks.later.spool_with((query["tag"][0],), postpone=postpone)
        body = json.dumps({"id": handle.task_id}).encode()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
