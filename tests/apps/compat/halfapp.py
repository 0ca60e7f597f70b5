"""Serves /trigger for the tasks module named by SPOOLRT_TASKS (half_ucfg or half_ud)."""

import importlib
import json
import os

tasks = importlib.import_module(os.environ["SPOOLRT_TASKS"])


def application(environ, start_response):
    ping = environ["PATH_INFO"] == "/ping"
    body = b"pong" if ping else json.dumps(tasks.trigger()).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
