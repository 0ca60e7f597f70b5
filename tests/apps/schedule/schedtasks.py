"""Scheduled tasks for the scheduling integration tests (imported by the app and by
spooler-import). Every run writes one JSON line to $SPOOLRT_TEST_OUT/runs.jsonl."""

import json
import os
import time

from spoolrt import ScheduledTask, Spooler, current_task, web_task


def record(task, **fields):
    running = current_task()
    row = {
        "task": task,
        "pid": os.getpid(),
        "t": time.time(),
        "key": running.task_id if running else None,
        **fields,
    }
    path = os.path.join(os.environ["SPOOLRT_TEST_OUT"], "runs.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(row) + "\n").encode())
    finally:
        os.close(fd)


# Makes up every slot a late tick missed, so each second must show up exactly once.
@Spooler.periodic(seconds=1, missed="all", name="every_second")
def every_second():
    record("every_second")


# The default policy: a tick later than the next slot runs only the newest slot.
@Spooler.periodic(seconds=1, name="every_second_once")
def every_second_once():
    record("every_second_once")


class EveryTwoSeconds(ScheduledTask):
    def __init__(self):
        self.schedule(seconds=2)

    def run(self):
        record("draco", slot=self.slot.isoformat() if self.slot else None)
        return "draco ran"


web_task("/internal/beat", seconds=1, missed="all", app="schedapp:application")
