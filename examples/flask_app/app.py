"""A Flask app whose view spools a task, and a view that says what became of it.

Serve it with `flask --app app spoolrt serve` (from this directory): uWSGI with web workers and
a spooler that imports this module, so the spooler loads the same app, config and key.
"""

import tasks
from flask import Flask, abort, request, url_for

from spoolrt import ResultTimeout, Spooler, TaskFailed, TaskHandle
from spoolrt.contrib.flask import Spoolrt

app = Flask(__name__)
app.config.update(
    # Only for trying it out: set FLASK_SECRET_KEY in the environment for anything real.
    SECRET_KEY="flask-example-not-secret",
    REPORT_TITLE="Word count",
)
app.config.from_prefixed_env()  # FLASK_SECRET_KEY, FLASK_SPOOLRT_EAGER=true, ...
Spoolrt(app)


@app.get("/ping")
def ping() -> str:
    return "pong"


@app.post("/reports")
def start_report() -> tuple[dict[str, object], int]:
    """Spool the work and answer at once (202) with where to watch it. With ``?wait=SECONDS``
    wait for the task to finish first (a demo of ``handle.result()``; a real view would not
    hold a web worker for it)."""
    payload = request.get_json(force=True, silent=True) or {}
    text = request.form.get("text") or payload.get("text") or ""
    handle = tasks.word_count(text)
    wait = request.args.get("wait", type=float)
    if wait:
        try:
            handle.result(timeout=wait)
        except (TaskFailed, ResultTimeout):
            pass  # described below as failed / still running
    return describe(handle), 200 if handle.ready else 202


@app.get("/reports/<task_id>")
def report_status(task_id: str) -> dict[str, object]:
    """Status and result from spoolrt's result store, readable from any process."""
    handle = Spooler.get_result(task_id)
    if handle is None:
        abort(404)
    return describe(handle)


def describe(handle: TaskHandle) -> dict[str, object]:
    status = handle.status
    done = status is not None and status.value == "done"
    return {
        "id": handle.task_id,
        "status": status.value if status else None,
        "result": handle.result(timeout=0) if done else None,
        "error": handle.error,
        "status_url": url_for("report_status", task_id=handle.task_id),
    }
