"""``handle.cancel()`` and the cancel primitive under it (``spoolrt.spooldir.cancel`` and
``spoolrt.results.cancelling``) over a temporary spool directory run by the pure-Python worker:
real files, real fcntl locks, the real store."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spoolrt import CancelResult, Spooler
from spoolrt.cli import EXIT_OK, main
from spoolrt.core.outcomes import TaskStatus
from spoolrt.dashboard import basic_auth, make_app
from spoolrt.observe.audit import read_actions
from spoolrt.sending.handle import RemoteTaskHandle
from spoolrt.spooldir import ids
from spoolrt.spooldir.cancel import _unlink_ours, take
from spoolrt.spooldir.claim import claim
from spoolrt.spooldir.parking import iter_parked, promoted_path
from spoolrt.testing import LocalSpool, local_spool
from tests.support.holding import running_elsewhere
from tests.unit.test_dashboard import USERS, call, csrf_of

ran: list[int] = []


@Spooler.task()
def job(n: int) -> int:
    ran.append(n)
    return n


@Spooler.task(retries=2, retry_delay=3600)
def flaky(n: int) -> int:
    raise RuntimeError("try again later")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[LocalSpool]:
    ran.clear()
    with local_spool(tmp_path / "spool") as local:
        yield local


def test_cancel_takes_pending_scheduled_and_parked_tasks_and_they_never_run(
    spool: LocalSpool,
) -> None:
    now, later, parked = (
        job(1),
        job.spool_with((2,), postpone=30),
        job.spool_with((3,), postpone=7200),
    )
    kept = job(4)
    assert list(iter_parked(str(spool.dir))) == [parked.path]
    for handle in (now, later, parked):
        result = handle.cancel()
        assert isinstance(result, CancelResult) and result and result.code == "cancelled"
        assert not os.path.exists(result.path)
        assert handle.status is TaskStatus.CANCELLED and handle.ready
        assert handle.result(timeout=0) is None
        assert not os.path.exists(ids.entry(str(spool.dir), handle.task_id))
    assert spool.run_until_empty(include_postponed=True) == {"done": 1}
    assert ran == [4] and kept.status == "done"
    record = now.record()
    assert (record.reason, record.error) == ("cancelled", "cancelled before it ran")


def test_a_handle_rebuilt_from_the_id_cancels_through_the_index(spool: LocalSpool) -> None:
    handle = job.spool_with((5,), postpone=30)
    rebuilt = Spooler.get_result(handle.task_id, str(spool.dir))
    assert rebuilt is not None and rebuilt.path == ""
    assert rebuilt.cancel()
    assert spool.pending() == [] and handle.status is TaskStatus.CANCELLED


def test_cancel_twice_or_after_the_run_is_refused_as_finished(spool: LocalSpool) -> None:
    first, done = job(6), job(7)
    assert first.cancel()
    again = first.cancel()
    assert not again and again.code == "finished" and "cancelled" in again.reason
    spool.run_until_empty()
    late = done.cancel()
    assert not late and late.code == "finished" and "done" in late.reason
    assert done.status == "done" and ran == [7]


def test_a_running_task_is_refused_with_that_reason_and_left_alone(spool: LocalSpool) -> None:
    handle = job(8)
    (path,) = spool.pending()
    with running_elsewhere(path):
        refused = handle.cancel()
    assert not refused and refused.code == "running" and "running" in refused.reason
    assert spool.pending() == [path] and handle.status is TaskStatus.QUEUED


def test_a_retry_file_the_index_does_not_know_is_found_and_cancelled(spool: LocalSpool) -> None:
    handle = flaky(9)
    spool.run_once()
    assert handle.status is TaskStatus.RETRYING
    (retry_file,) = iter_parked(str(spool.dir))  # an hour away: parked
    assert retry_file != handle.path
    done = handle.cancel()
    assert done and done.path == retry_file
    assert list(iter_parked(str(spool.dir))) == [] and handle.status is TaskStatus.CANCELLED


def test_a_parked_file_promoted_while_locked_is_still_the_one_removed(spool: LocalSpool) -> None:
    handle = job.spool_with((10,), postpone=7200)
    taken = claim(handle.path, due_by=None)
    assert taken is not None
    moved = promoted_path(str(spool.dir), handle.path)
    os.rename(handle.path, moved)  # what promote_due does, without a lock, meanwhile
    try:
        assert _unlink_ours(str(spool.dir), handle.path, os.fstat(taken.fd)) == moved
    finally:
        taken.release()
    assert not os.path.exists(moved)


def test_take_of_a_gone_file_says_gone(tmp_path: Path) -> None:
    result = take(str(tmp_path), str(tmp_path / "uwsgi_spoolfile_on_gone"), "t1")
    assert not result and result.code == "gone"


def test_a_remote_handle_says_cancel_is_local_only() -> None:
    remote = RemoteTaskHandle(task_id="t1", task_name="job", pool="pool", node="10.0.0.2:3031")
    with pytest.raises(NotImplementedError, match=r"local only.*spoolrt cancel t1"):
        remote.cancel()


@Spooler.task(retries=0)
def broken() -> None:
    raise RuntimeError("broken")


def test_cli_retry_and_purge_write_the_audit_log_as_the_os_user(spool: LocalSpool) -> None:
    first, second = broken(), broken()
    spool.run_until_empty()
    assert len(spool.failed()) == 2
    d = str(spool.dir)
    assert main(["retry", "--spool", d, first.task_id]) == EXIT_OK
    assert main(["purge", "--spool", d, "--failed", "--yes"]) == EXIT_OK
    me = pwd.getpwuid(os.getuid()).pw_name
    lines = sorted((a["action"], a["target"], a["who"], a["via"]) for a in read_actions(d))
    assert lines == [("purged", second.task_id, me, "cli"), ("retried", first.task_id, me, "cli")]


def test_a_parked_task_promoted_between_lock_and_unlink_is_still_cancelled(
    spool: LocalSpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The promotion is a rename without a lock: it can land right after ``claim`` locked the
    parked name. (Before, cancel raised FileNotFoundError there and the file stayed to run.)"""
    handle = job.spool_with((11,), postpone=7200)
    moved = promoted_path(str(spool.dir), handle.path)

    def claim_then_promote(path: str, *, due_by: float | None) -> Any:
        taken = claim(path, due_by=due_by)
        os.rename(path, moved)  # promote_due, in another process, in that instant
        return taken

    monkeypatch.setattr("spoolrt.spooldir.cancel.claim", claim_then_promote)
    done = handle.cancel()
    assert done and done.path == moved
    assert not os.path.exists(moved) and spool.pending() == []
    assert handle.status is TaskStatus.CANCELLED


# --- one audit line per cancel, whoever asks ------------------------------------------------


def _audit(spool: LocalSpool) -> list[tuple[str, str, str, str]]:
    return [(a["action"], a["target"], a["who"], a["via"]) for a in read_actions(str(spool.dir))]


def test_handle_cancel_is_audited_once_as_the_os_user_via_the_api(spool: LocalSpool) -> None:
    """Before, ``handle.cancel()`` wrote no audit line: only the faces above observe did."""
    waiting, later = job(12), job.spool_with((13,), postpone=7200)
    assert waiting.cancel() and later.cancel()
    me = pwd.getpwuid(os.getuid()).pw_name
    assert sorted(_audit(spool)) == sorted(
        [("cancelled", h.task_id, me, "api") for h in (waiting, later)]
    )


def test_a_refused_cancel_is_not_audited(spool: LocalSpool) -> None:
    handle = job(14)
    spool.run_until_empty()
    assert not handle.cancel()  # finished
    assert _audit(spool) == []


def test_cli_cancel_writes_exactly_one_line_per_task(spool: LocalSpool) -> None:
    first, second = job(15), job.spool_with((16,), postpone=30)
    d = str(spool.dir)
    assert main(["cancel", "--spool", d, first.task_id, second.task_id]) == EXIT_OK
    me = pwd.getpwuid(os.getuid()).pw_name
    assert sorted(_audit(spool)) == sorted(
        [("cancelled", h.task_id, me, "cli") for h in (first, second)]
    )


def test_the_dashboard_cancel_writes_exactly_one_line_as_its_user(spool: LocalSpool) -> None:
    handle = job.spool_with((17,), postpone=30)
    app = make_app([str(spool.dir)], authorize=basic_auth(USERS))
    cookie, token = csrf_of(app, "ops", f"/task/{handle.task_id}")
    answer = call(app, f"/task/{handle.task_id}/cancel", method="POST", user="ops",
                  cookie=cookie, form={"csrf": token})  # fmt: skip
    assert answer.code == 303
    assert _audit(spool) == [("cancelled", handle.task_id, "ops", "dashboard")]
