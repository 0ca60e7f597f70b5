"""A plain WSGI app: each path spools a demo task and answers with its handle as JSON."""

import json
from datetime import timedelta

import tasks

from spoolrt import Spooler

ROUTES = {
    "/welcome": lambda: tasks.send_welcome("ann@example.org"),
    "/clean": lambda: tasks.clean_cache(),
    "/report": lambda: tasks.flaky_report("monthly"),
    "/export": lambda: tasks.broken_export(),
    "/remind": lambda: tasks.reminder.spool_with(("stand up",), postpone=timedelta(seconds=2)),
}


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path in ROUTES:
        handle = ROUTES[path]()
        body = {"task": handle.task_name, "id": handle.task_id, "file": str(handle)}
    elif path == "/pending":
        body = {"pending": Spooler.get_tasks()}
    else:
        body = {"try": [*sorted(ROUTES), "/pending"]}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body, indent=1).encode() + b"\n"]
