"""Tasks of a pool node for tests/integration/test_pool.py (imported by the app and by
spooler-import). Every run writes one JSON line to $SPOOLRT_TEST_OUT/runs.jsonl."""

import json
import os
import time

from spoolrt import Spooler, current_task


def record(task, **fields):
    running = current_task()
    row = {"task": task, "pid": os.getpid(), "t": time.time(), **fields}
    row["key"] = running.task_id if running else None
    path = os.path.join(os.environ["SPOOLRT_TEST_OUT"], "runs.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(row) + "\n").encode())
    finally:
        os.close(fd)


# missed="all": a late tick makes up every slot, so each second must show up exactly once on
# the scheduler node, and never on the others.
@Spooler.periodic(seconds=1, missed="all", name="pool_beat")
def pool_beat():
    record("pool_beat")


@Spooler.task()
def later(tag):
    record("later", tag=tag)
