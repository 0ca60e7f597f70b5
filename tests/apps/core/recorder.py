"""Tasks in the test apps write one JSON line per run here, so tests can see what ran."""

import json
import os
import time


def record(task: str, **fields: object) -> None:
    row = {"task": task, "pid": os.getpid(), "t": time.time(), **fields}
    path = os.path.join(os.environ["SPOOLRT_TEST_OUT"], "runs.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(row) + "\n").encode())
    finally:
        os.close(fd)
