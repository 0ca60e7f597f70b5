"""Demo tasks. Each writes one line to $DEMO_LOG so the demo can show what ran, where and when."""

import json
import os
import time

from spoolrt import Spooler, current_task


def _log(event: str, **fields: object) -> None:
    task = current_task()
    row = {"t": round(time.time(), 3), "event": event, "pid": os.getpid(), **fields}
    if task is not None:
        row.update(task_id=task.task_id, attempt=task.attempt)
    with open(os.environ["DEMO_LOG"], "a") as f:
        f.write(json.dumps(row) + "\n")


@Spooler.task()
def send_welcome(email: str) -> str:
    """Processed: returns a value."""
    _log("send_welcome", email=email)
    return f"welcome mail sent to {email}"


@Spooler.task()
def clean_cache() -> None:
    """Skipped: returns None (under uwsgiconf this re-ran forever)."""
    _log("clean_cache")


@Spooler.task(retries=3, retry_delay=0.5)
def flaky_report(name: str) -> str:
    """Fails on its first attempt, then works: retried with backoff."""
    attempt = current_task().attempt  # type: ignore[union-attr]
    _log("flaky_report", name=name)
    if attempt == 1:
        raise ConnectionError("report backend not reachable (first attempt always fails)")
    return f"report {name} built on attempt {attempt}"


@Spooler.task(retries=1, retry_delay=0.5)
def broken_export() -> None:
    """Always raises: retried once, then kept in the failed area with its traceback."""
    _log("broken_export")
    raise RuntimeError("export target is read-only")


@Spooler.task()
def reminder(text: str) -> str:
    """Postponed by the caller: must not run before its time."""
    _log("reminder", text=text)
    return text
