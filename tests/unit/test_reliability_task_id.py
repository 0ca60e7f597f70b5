"""``new_task_id`` is unique across threads (issue 18, point 9).

It read its global counter twice (increment, then format), so two threads switching in between
got one id: 533 duplicates in 400k ids under a tiny switch interval.
"""

from __future__ import annotations

import os
import sys
import threading

from spoolrt.core.codec.envelope import new_task_id


def test_new_task_id_is_unique_across_threads() -> None:
    per_thread, threads = 20_000, 8
    results: list[list[str]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def make(out: list[str]) -> None:
        start.wait()
        out.extend(new_task_id() for _ in range(per_thread))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=make, args=(r,)) for r in results]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    finally:
        sys.setswitchinterval(old)
    ids = [i for r in results for i in r]
    assert len(ids) == per_thread * threads
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_a_new_prefix() -> None:
    parent = new_task_id().split("-")[1]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, new_task_id().split("-")[1].encode())
        os._exit(0)
    os.close(write)
    try:
        child = os.read(read, 64).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert child and child != parent
