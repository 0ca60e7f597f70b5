"""Tasks for the core integration tests (imported by the app and by spooler-import)."""

import hashlib
import os
import time

import tasks_a  # noqa: F401  - both define `dup`; both must run as themselves
import tasks_b  # noqa: F401
from recorder import record

from spoolrt import Spooler, SpoolerTask, TaskResult
from spoolrt.api.tasks import current_task


@Spooler.task()
def processed(tag):
    record("processed", tag=tag)
    return {"tag": tag}


@Spooler.task(ttl=1)
def short_lived(tag):
    record("short_lived", tag=tag)
    return tag


@Spooler.task(results="status")
def status_only(tag):
    record("status_only", tag=tag)
    return "not kept"


@Spooler.task()
def returns_none(tag):
    record("returns_none", tag=tag)


@Spooler.task()
def explicit(tag, kind):
    record("explicit", tag=tag, kind=kind)
    return {
        "processed": SpoolerTask.mark_processed,
        "skipped": SpoolerTask.mark_skipped,
        "rescheduled": SpoolerTask.mark_rescheduled,
    }[kind]()


@Spooler.task(retries=2, retry_delay=1)
def always_fails(tag):
    record("always_fails", tag=tag, attempt=_attempt())
    raise RuntimeError(f"boom {tag}")


@Spooler.task(retries=3, retry_delay=0.2)
def fails_then_works(tag, failures):
    path = os.path.join(os.environ["SPOOLRT_TEST_OUT"], f"count-{tag}")
    with open(path, "a") as f:
        f.write("x")
    with open(path) as f:
        n = len(f.read())
    record("fails_then_works", tag=tag, n=n)
    if n <= failures:
        raise ValueError(f"failure {n}")
    return n


@Spooler.task()
def when(tag):
    record("when", tag=tag)
    return True


@Spooler.task()
def ordered(tag):
    record("ordered", tag=tag)
    return True


@Spooler.task()
def blob(data):
    record("blob", size=len(data), sha=hashlib.sha256(data).hexdigest())
    return True


@Spooler.task()
def slow(tag, seconds):
    record("slow-start", tag=tag)
    time.sleep(seconds)
    record("slow-end", tag=tag)
    return True


@Spooler.task(retries=1, retry_delay=0.2)
def kills_its_process(tag):
    """Dies mid-run every time, as a task does under harakiri or the OOM killer."""
    record("kills_its_process", tag=tag, attempt=_attempt())
    os.kill(os.getpid(), 9)


class Greeting(SpoolerTask):
    type_id = "greeting"

    def process(self):
        record("greeting", payload=self.payload, message=self.message)
        return TaskResult(self.payload)


def _attempt() -> int:
    task = current_task()
    assert task is not None, "called outside a running task"
    return task.attempt


@Spooler.task(retries=3, retry_delay=0.2)
def storm(tag, fail_first=False):
    """Records each run as (tag, attempt): the storm tests check none is lost or run twice."""
    attempt = _attempt()
    record("storm", tag=tag, attempt=attempt)
    if fail_first and attempt == 1:
        raise RuntimeError(f"first attempt of {tag} fails")
    return tag


@Spooler.task()
def holds(tag, release):
    """Runs until the file ``release`` exists (a minute at most): a task that is running while
    a test delivers it again."""
    record("holds", tag=tag, attempt=_attempt())
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.01)
    return tag
