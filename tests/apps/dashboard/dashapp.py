"""A WSGI app with the spoolrt dashboard mounted at /spoolrt (basic auth from the environment):
what a user's own app does. ``/enqueue/<task>?arg=...`` spools a task; ``/ping`` answers pong."""

import json
import os
from urllib.parse import parse_qs

import dashtasks

from spoolrt.dashboard import CHALLENGE, basic_auth, make_app

USERS = {
    "ops": (os.environ["DASHBOARD_OPERATOR_PASSWORD"], "operator"),
    "eve": (os.environ["DASHBOARD_VIEWER_PASSWORD"], "viewer"),
}
dashboard = make_app(
    [os.environ["SPOOLRT_SPOOL_DIR"]], authorize=basic_auth(USERS), challenge=CHALLENGE
)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/spoolrt" or path.startswith("/spoolrt/"):
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/spoolrt"
        environ["PATH_INFO"] = path[len("/spoolrt") :] or "/"
        return dashboard(environ, start_response)
    if path == "/ping":
        body = b"pong"
    elif path.startswith("/enqueue/"):
        task = getattr(dashtasks, path.rsplit("/", 1)[1])
        query = parse_qs(environ.get("QUERY_STRING", ""))
        postpone = int(query.get("postpone", ["0"])[0]) or None
        handle = task.spool_with((query["arg"][0],), postpone=postpone)
        body = json.dumps({"id": handle.task_id}).encode()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
