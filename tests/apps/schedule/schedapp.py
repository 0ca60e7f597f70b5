"""A WSGI app for the scheduling integration tests: one path only its web task may call."""

import json
from urllib.parse import parse_qs

import schedtasks

from spoolrt import Spooler, run_scheduled
from spoolrt.contrib.wsgi import guard


def respond(start_response, status, body):
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ping":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"pong"]
    if path == "/internal/beat":
        schedtasks.record("web", agent=environ.get("HTTP_USER_AGENT"))
        return respond(start_response, "200 OK", {"beat": True})
    if path == "/run":
        name = parse_qs(environ.get("QUERY_STRING", ""))["name"][0]
        return respond(start_response, "200 OK", {"result": run_scheduled(name)})
    if path == "/spoolers":
        return respond(start_response, "200 OK", {"pids": Spooler.get_pids()})
    return respond(start_response, "200 OK", {"path": path})


application = guard(app)
