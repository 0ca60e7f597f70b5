"""The ``spoolrt`` command against real spool directories.

One uWSGI instance (priorities.ini) fills a spool directory with every kind of file through real
HTTP requests: scheduled (postponed) and prioritised tasks, a task type, failed tasks (retries
used up), quarantined files (foreign, forged, unknown task) and a task running in its spooler;
spoolrt itself then adds pending files (top level, priority sub-directory) and a foreign one.
Each test works on its own copy of that directory. ``serve`` boots its own uWSGI; the progress
display is watched under a pseudo-terminal and through a pipe.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spoolrt.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from spoolrt.core.codec.envelope import Envelope, encode_body, new_task_id, spool_vars
from spoolrt.core.codec.packet import pack
from spoolrt.core.codec.serializers import Signer, get_serializer
from spoolrt.spooldir.inspect import describe_file
from spoolrt.spooldir.layout import FAILED, keep_aside, write_spool_file
from tests.support.uwsgi import APPS, REPO, UwsgiInstance, free_port, wait_for

KEY = "integration-test-key-0123456789"  # the key UwsgiInstance gives its uWSGI
SIGNER = Signer([KEY])
CORE = APPS / "core"


# --- the spool directory every test starts from -------------------------------------------------


@dataclass
class Populated:
    spool: Path
    out: Path
    ids: dict[str, str]
    while_running: dict[str, Any]


def write_task(
    spool_dir: Path,
    name: str,
    *args: Any,
    signer: Signer = SIGNER,
    priority: int | None = None,
) -> str:
    """Spool a function-call task the way spoolrt's writers do (atomically, signed)."""
    envelope = Envelope(
        task_id=new_task_id(),
        type_id="fcall",
        message="ucfg_fcall",
        name=name,
        payload=get_serializer("pickle").dumps({"func": name, "arg": args, "kwg": {}}),
        priority=priority,
        spooler=str(spool_dir),
        enqueued_at=time.time(),
    )
    data = pack(spool_vars(envelope), encode_body(envelope, signer))
    write_spool_file(str(spool_dir), data, priority=priority)
    return envelope.task_id


def spool_cli(*argv: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m spoolrt ...`` in a child process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "spoolrt", *argv],
        cwd=cwd or CORE,
        env={**os.environ, "SPOOLRT_SECRET_KEY": KEY, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    workdir = tmp_path_factory.mktemp("cli-spool")
    instance = UwsgiInstance("priorities.ini", workdir)
    instance.start()
    ids: dict[str, str] = {}
    try:
        spool = instance.spool_dir
        ids["fails_then_works"] = instance.enqueue("coretasks:fails_then_works", "ret", 4)["id"]
        ids["always_fails"] = instance.enqueue("coretasks:always_fails", "f1")["id"]
        ids["done"] = instance.enqueue("coretasks:processed", "done")["id"]
        hour = {"delta": 3600}
        ids["later"] = instance.enqueue("coretasks:processed", "later", postpone=hour)["id"]
        ids["prio3"] = instance.enqueue("coretasks:ordered", "p", priority=3, postpone=hour)["id"]
        raw = {"message": "ucfg_greeting", "payload": {"hi": 1}, "postpone": hour}
        ids["greeting"] = instance.post("/raw", raw)["id"]
        instance.post("/foreign", {"value": "x"})
        ids["forged"] = write_task(
            spool, "coretasks:processed", "forged", signer=Signer(["k" * 32])
        )
        ids["unknown"] = write_task(spool, "nowhere:missing", "u")
        wait_for(lambda: len(instance.area("failed")) == 2, 40, what="two tasks to fail")
        wait_for(lambda: len(instance.area("quarantine")) == 3, 20, what="three quarantined")
        instance.wait_runs("processed", 1, tag="done")
        ids["slow"] = instance.enqueue("coretasks:slow", "s", 60)["id"]
        instance.wait_runs("slow-start", 1)
        listing = spool_cli("ls", "--json", "--spool", str(spool))
        assert listing.returncode == 0, listing.stderr
        while_running = json.loads(listing.stdout)
    finally:
        instance.stop()
    # Written by spoolrt while no spooler runs, so they stay pending.
    ids["now"] = write_task(spool, "coretasks:processed", "now")
    ids["prio1"] = write_task(spool, "coretasks:processed", "prio1", priority=1)
    write_spool_file(str(spool), pack({b"from": b"elsewhere"}, b"not ours"))
    yield Populated(spool, instance.out_dir, ids, while_running)


@pytest.fixture
def spool(populated: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the populated spool directory (mtimes kept), and the key to read it."""
    copy = tmp_path / "spool"
    shutil.copytree(populated.spool, copy, symlinks=True)
    monkeypatch.setenv("SPOOLRT_SECRET_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    return copy


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = cli(capsys, *argv, "--json")
    assert code == EXIT_OK, err
    return json.loads(out)


def by_id(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in tasks if t["id"]}


# --- ls -----------------------------------------------------------------------------------------


def test_ls_shows_every_state_of_real_files(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = populated.ids
    data = cli_json(capsys, "ls", "--spool", str(spool))
    assert data["spoolers"] == [str(spool)]
    tasks = by_id(data["tasks"])
    now = time.time()

    later = tasks[ids["later"]]
    assert later["state"] == "scheduled" and later["due"] > now + 3000
    assert later["task"] == "coretasks:processed" and later["verified"] is True
    assert later["attempt"] == 1 and later["max_attempts"] == 4
    assert tasks[ids["prio3"]]["state"] == "scheduled" and tasks[ids["prio3"]]["priority"] == 3
    assert "/3/uwsgi_spoolfile_on_" in tasks[ids["prio3"]]["path"]
    assert tasks[ids["greeting"]]["type"] == "greeting"

    for name, error in [
        ("always_fails", "RuntimeError: boom f1"),
        ("fails_then_works", "ValueError: failure 4"),
    ]:
        failed = tasks[ids[name]]
        assert failed["state"] == "failed" and failed["reason"] == "retries-exhausted"
        assert failed["error"] == error
        assert failed["attempt"] == failed["max_attempts"]
        assert "/.spoolrt/failed/" in failed["path"]

    quarantined = [t for t in data["tasks"] if t["state"] == "quarantined"]
    assert sorted(t["reason"] for t in quarantined) == ["bad-signature", "foreign", "unknown-task"]
    assert tasks[ids["forged"]]["verified"] is False
    assert tasks[ids["unknown"]]["verified"] is True  # it verifies; its function is unknown

    assert tasks[ids["now"]]["state"] == "pending" and tasks[ids["now"]]["kind"] == "spoolrt"
    assert (
        tasks[ids["prio1"]]["priority"] == 1
        and "/1/uwsgi_spoolfile_on_" in (tasks[ids["prio1"]]["path"])
    )
    foreign = [t for t in data["tasks"] if t["kind"] == "foreign" and t["state"] == "pending"]
    assert len(foreign) == 1 and foreign[0]["id"] is None and foreign[0]["task"] is None
    assert ids["done"] not in tasks  # done tasks leave no file
    assert all(t["locked_by"] is None for t in data["tasks"])  # no spooler runs now


def test_ls_filters_and_orders(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = populated.ids
    failed = cli_json(capsys, "ls", "--spool", str(spool), "--status", "failed")["tasks"]
    assert {t["id"] for t in failed} == {ids["always_fails"], ids["fails_then_works"]}
    both = cli_json(
        capsys, "ls", "--spool", str(spool), "--status", "failed", "--status", "quarantined"
    )["tasks"]
    assert {t["state"] for t in both} == {"failed", "quarantined"}
    one = cli_json(capsys, "ls", "--spool", str(spool), "--task", "always_fails")["tasks"]
    assert [t["id"] for t in one] == [ids["always_fails"]]
    glob = cli_json(capsys, "ls", "--spool", str(spool), "--task", "coretasks:*fail*")["tasks"]
    assert len(glob) == 2
    oldest = cli_json(capsys, "ls", "--spool", str(spool))["tasks"]
    newest = cli_json(capsys, "ls", "--spool", str(spool), "--newest")["tasks"]
    assert [t["path"] for t in newest] == [t["path"] for t in reversed(oldest)]
    assert [t["since"] for t in oldest] == sorted(t["since"] for t in oldest)
    assert len(cli_json(capsys, "ls", "--spool", str(spool), "-n", "2")["tasks"]) == 2


def test_ls_table_for_people(spool: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = cli(capsys, "ls", "--spool", str(spool))
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].split() == ["STATE", "ID", "TASK", "TRY", "PRIO", "WHEN", "NOTE"]
    assert any(
        line.startswith("failed") and "retries-exhausted: RuntimeError: boom f1" in line
        for line in lines
    )
    assert any("(foreign)" in line and line.startswith("pending") for line in lines)
    assert any(line.startswith("scheduled") and "in 59m" in line for line in lines)
    assert lines[-1].startswith(f"{len(lines) - 2} task(s) in {spool}: ")


def test_ls_marks_the_task_a_spooler_is_running(populated: Populated) -> None:
    tasks = by_id(populated.while_running["tasks"])
    slow = tasks[populated.ids["slow"]]
    assert slow["state"] == "running"
    assert isinstance(slow["locked_by"], int) and slow["locked_by"] > 0
    assert tasks[populated.ids["later"]]["locked_by"] is None


def test_ls_without_a_key_says_signatures_cannot_be_checked(
    spool: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPOOLRT_SECRET_KEY")
    code, _out, err = cli(capsys, "ls", "--spool", str(spool), "--status", "scheduled")
    assert code == EXIT_OK and "signatures cannot be checked" in err
    assert not Path(os.environ["SPOOLRT_KEY_FILE"]).exists()  # looking created no key
    data = cli_json(capsys, "ls", "--spool", str(spool))
    assert not any(t["verified"] for t in data["tasks"])


# --- show ---------------------------------------------------------------------------------------


def test_show_a_failed_task_by_id_prefix(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = populated.ids["always_fails"]
    code, out, _err = cli(capsys, "show", task_id[:-2], "--spool", str(spool))
    assert code == EXIT_OK
    assert "state       failed" in out and f"id          {task_id}" in out
    assert "attempt     3 of 3" in out and "last error  RuntimeError: boom f1" in out
    assert "traceback of the last attempt:" in out and 'raise RuntimeError(f"boom {tag}")' in out
    data = cli_json(capsys, "show", task_id, "--spool", str(spool))
    assert data["record"]["attempts"] == 3 and data["record"]["reason"] == "retries-exhausted"
    assert data["arguments"] == "('f1')" or "'f1'" in data["arguments"]


def test_show_a_scheduled_task_by_path(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = by_id(cli_json(capsys, "ls", "--spool", str(spool))["tasks"])
    path = listed[populated.ids["prio3"]]["path"]
    data = cli_json(capsys, "show", path)
    assert data["state"] == "scheduled" and data["priority"] == 3
    assert data["spooler"] == str(spool) and "'p'" in data["arguments"]
    assert data["vars"]["priority"] == "3" and data["record"] is None


def test_show_foreign_and_forged_files(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = cli_json(capsys, "ls", "--spool", str(spool))["tasks"]
    foreign = next(t for t in tasks if t["state"] == "quarantined" and t["reason"] == "foreign")
    code, out, _err = cli(capsys, "show", foreign["path"])
    assert code == EXIT_OK
    assert "signature   none (foreign file)" in out and "foreign = x" in out
    code, out, _err = cli(capsys, "show", populated.ids["forged"], "--spool", str(spool))
    assert code == EXIT_OK
    assert "signature   NOT verified (bad-signature" in out
    assert "arguments   (not shown: signature not verified)" in out
    assert "forged" not in out.split("arguments")[1].splitlines()[0]


def test_show_a_finished_task_from_the_result_store(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = populated.ids["done"]
    code, out, _err = cli(capsys, "show", task_id, "--spool", str(spool))
    assert code == EXIT_OK
    assert "result store  done" in out and 'result        {"tag": "done"}' in out
    # Ids start with the enqueue time: a prefix unique among the populated tasks, not [:12].
    others = [i for i in populated.ids.values() if i != task_id]
    prefix = next(task_id[:n] for n in range(4, len(task_id) + 1) if not any(
        o.startswith(task_id[:n]) for o in others
    ))  # fmt: skip
    data = cli_json(capsys, "show", prefix, "--spool", str(spool))
    assert data["result"]["status"] == "done" and data["result"]["result"] == {"tag": "done"}


def test_show_unknown_and_ambiguous(spool: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = cli(capsys, "show", "no-such-task", "--spool", str(spool))
    assert code == EXIT_FAILURE and "no task 'no-such-task'" in err
    prefix = cli_json(capsys, "ls", "--spool", str(spool))["tasks"][0]["id"][:4]
    code, _out, err = cli(capsys, "show", prefix, "--spool", str(spool))
    assert code == EXIT_FAILURE and "give more of the id" in err


# --- stats --------------------------------------------------------------------------------------


def test_stats_counts_per_state_and_task(spool: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = cli_json(capsys, "ls", "--spool", str(spool))["tasks"]
    data = cli_json(capsys, "stats", "--spool", str(spool))
    [summary] = data["spoolers"]
    assert summary["spooler"] == str(spool)
    for state in ("pending", "scheduled", "running", "failed", "quarantined"):
        assert summary["counts"][state] == sum(t["state"] == state for t in tasks)
    assert summary["counts"]["failed"] == 2 and summary["counts"]["quarantined"] == 3
    assert summary["by_task"]["coretasks:always_fails"]["failed"] == 1
    assert summary["by_task"]["coretasks:processed"]["scheduled"] == 1
    oldest = max(time.time() - t["since"] for t in tasks if t["state"] == "pending")
    assert abs(summary["oldest_pending_age"] - oldest) < 5
    assert data["total"]["counts"] == summary["counts"]
    code, out, _err = cli(capsys, "stats", "--spool", str(spool))
    assert code == EXIT_OK and "oldest pending: " in out and "failed 2" in out


# --- retry --------------------------------------------------------------------------------------


def test_retry_requeues_a_failed_task_that_uwsgi_then_runs(
    spool: Path, populated: Populated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = populated.ids["fails_then_works"]
    # The long task the fixture interrupted would hold the spooler for a minute: drop it.
    code, out, _err = cli(
        capsys, "purge", "--pending", "--task", "slow", "--spool", str(spool), "--yes"
    )
    assert code == EXIT_OK and "1 removed" in out
    data = cli_json(
        capsys, "retry", "--failed", "--task", "fails_then_works", "--spool", str(spool)
    )
    [requeued] = data["requeued"]
    assert requeued["id"] == task_id and data["refused"] == []
    info = describe_file(requeued["path"], SIGNER)
    assert info.verified and info.task_id == task_id and info.attempt == 1
    assert os.path.dirname(requeued["path"]) == str(spool)
    assert not os.path.exists(requeued["from"]) and not os.path.exists(requeued["from"] + ".json")
    failed = cli_json(capsys, "ls", "--spool", str(spool), "--status", "failed")["tasks"]
    assert [t["id"] for t in failed] == [populated.ids["always_fails"]]

    shutil.copytree(populated.out, tmp_path / "out")  # the task counts its runs there
    instance = UwsgiInstance("priorities.ini", tmp_path)
    instance.start()
    try:
        rows = instance.wait_runs("fails_then_works", 5, tag="ret")
        assert rows[-1]["n"] == 5  # fifth run overall, first of the retry: it succeeds
        wait_for(
            lambda: (
                not any(p.endswith(os.path.basename(requeued["path"])) for p in instance.pending())
            ),
            what="the retried file to go",
        )
    finally:
        instance.stop()
    assert len(instance.area("failed")) == 1


def test_retry_quarantined_only_when_the_signature_verifies(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    data = cli_json(capsys, "retry", "--quarantined", "--spool", str(spool))
    assert [r["id"] for r in data["requeued"]] == [populated.ids["unknown"]]
    assert sorted(r["reason"] for r in data["refused"]) == ["bad-signature", "foreign"]
    left = cli_json(capsys, "ls", "--spool", str(spool), "--status", "quarantined")["tasks"]
    assert sorted(t["reason"] for t in left) == ["bad-signature", "foreign"]
    code, _out, err = cli(capsys, "retry", populated.ids["forged"], "--spool", str(spool))
    assert code == EXIT_FAILURE
    code, _out, err = cli(capsys, "retry", "nope-nope", "--spool", str(spool))
    assert code == EXIT_FAILURE and "no failed or quarantined task 'nope-nope'" in err


# --- purge --------------------------------------------------------------------------------------


def test_purge_asks_and_refuses_without_a_terminal(
    spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in spool.rglob("*"))
    code, _out, err = cli(capsys, "purge", "--failed", "--spool", str(spool))
    assert code == EXIT_USAGE and "no terminal; pass --yes" in err
    code, out, _err = cli(
        capsys, "purge", "--failed", "--older-than", "1h", "--spool", str(spool), "--yes"
    )
    assert code == EXIT_OK and "nothing to purge" in out
    assert sorted(p.name for p in spool.rglob("*")) == before


def test_purge_failed_and_quarantined_removes_files_and_records(
    spool: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = cli(capsys, "purge", "--failed", "--spool", str(spool), "--yes")
    assert code == EXIT_OK and out.count("removed failed ") == 2 and "2 removed" in out
    assert list((spool / ".spoolrt" / "failed").iterdir()) == []
    data = cli_json(capsys, "purge", "--quarantine", "--spool", str(spool), "--yes")
    assert len(data["removed"]) == 3 and data["skipped"] == []
    assert list((spool / ".spoolrt" / "quarantine").iterdir()) == []
    states = {t["state"] for t in cli_json(capsys, "ls", "--spool", str(spool))["tasks"]}
    assert states == {"pending", "scheduled"}


def test_purge_pending_leaves_a_running_task_alone(
    spool: Path, populated: Populated, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = by_id(cli_json(capsys, "ls", "--spool", str(spool))["tasks"])
    held = tasks[populated.ids["now"]]["path"]
    holder = subprocess.Popen(  # takes the lock a spooler holds while it runs a task
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
            "fcntl.lockf(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            held,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        running = by_id(cli_json(capsys, "ls", "--spool", str(spool))["tasks"])
        assert running[populated.ids["now"]]["state"] == "running"
        assert running[populated.ids["now"]]["locked_by"] == holder.pid
        data = cli_json(
            capsys, "purge", "--pending", "--task", "coretasks:*", "--spool", str(spool), "--yes"
        )
    finally:
        holder.kill()
        holder.wait()
    removed = {r["id"] for r in data["removed"]}
    assert populated.ids["now"] not in removed and os.path.exists(held)
    assert {populated.ids["later"], populated.ids["prio1"], populated.ids["prio3"]} <= removed
    left = cli_json(capsys, "ls", "--spool", str(spool), "--status", "pending")["tasks"]
    assert {t["id"] for t in left} == {populated.ids["now"], None}  # + the foreign file


# --- run ----------------------------------------------------------------------------------------


def test_run_a_function_task_here(tmp_path: Path) -> None:
    done = spool_cli(
        "run", "--app", "coretasks", "coretasks:processed", "hello", SPOOLRT_TEST_OUT=str(tmp_path)
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.startswith("coretasks:processed: processed in ")
    assert 'result: {"tag": "hello"}' in done.stdout
    rows = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert rows[0]["task"] == "processed" and rows[0]["tag"] == "hello"

    short = spool_cli(
        "run",
        "processed",
        "--kwargs",
        '{"tag": 42}',
        "--json",
        SPOOLRT_APP="coretasks",
        SPOOLRT_TEST_OUT=str(tmp_path),
    )
    assert short.returncode == EXIT_OK, short.stderr
    outcome = json.loads(short.stdout)
    assert outcome["task"] == "coretasks:processed" and outcome["outcome"] == "processed"
    assert outcome["result"] == {"tag": 42}


def test_run_a_failing_task_shows_its_traceback_and_exits_1(tmp_path: Path) -> None:
    failed = spool_cli(
        "run", "--app", "coretasks", "always_fails", "x", SPOOLRT_TEST_OUT=str(tmp_path)
    )
    assert failed.returncode == EXIT_FAILURE
    assert "Traceback (most recent call last)" in failed.stderr
    assert "RuntimeError: boom x" in failed.stderr
    assert "error: RuntimeError: boom x" in failed.stdout


def test_run_a_task_type_by_its_type_id(tmp_path: Path) -> None:
    done = spool_cli(
        "run", "--app", "coretasks", "greeting", '{"who": "ann"}', SPOOLRT_TEST_OUT=str(tmp_path)
    )
    assert done.returncode == EXIT_OK, done.stderr
    row = json.loads((tmp_path / "runs.jsonl").read_text())
    assert row["task"] == "greeting" and row["payload"] == {"who": "ann"}


def test_run_unknown_names_exit_1(tmp_path: Path) -> None:
    missing = spool_cli("run", "--app", "coretasks", "nope", SPOOLRT_TEST_OUT=str(tmp_path))
    assert missing.returncode == EXIT_FAILURE and "no task named 'nope'" in missing.stderr
    listed = spool_cli("run", "--app", "coretasks", "--list", "--json")
    names = json.loads(listed.stdout)
    assert "coretasks:processed" in names["functions"] and "greeting" in names["types"]


SCHEDULED_MODULE = """
import os
from spoolrt import ScheduledTask

class Nightly(ScheduledTask):
    def __init__(self):
        self.schedule(seconds=3600)

    def run(self):
        with open(os.environ["NIGHTLY_OUT"], "a") as f:
            f.write(f"ran slot={self.slot}\\n")
        return "nightly done"
"""


def test_run_a_scheduled_task_by_name(tmp_path: Path) -> None:
    (tmp_path / "nightly.py").write_text(SCHEDULED_MODULE)
    out = tmp_path / "out.txt"
    done = spool_cli("run", "--app", "nightly", "Nightly", "--json", cwd=tmp_path,
                     NIGHTLY_OUT=str(out))  # fmt: skip
    assert done.returncode == EXIT_OK, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["task"] == "nightly:Nightly" and outcome["result"] == "nightly done"
    assert out.read_text() == "ran slot=None\n"  # on demand: no schedule slot
    listed = spool_cli("run", "--app", "nightly", "--list", "--json", cwd=tmp_path)
    assert json.loads(listed.stdout)["scheduled"] == ["nightly:Nightly"]
    with_args = spool_cli("run", "--app", "nightly", "Nightly", "x", cwd=tmp_path)
    assert with_args.returncode == EXIT_USAGE and "takes no arguments" in with_args.stderr


def test_run_spool_writes_a_file_a_spooler_will_run(tmp_path: Path) -> None:
    target = tmp_path / "spool"
    target.mkdir()
    spooled = spool_cli(
        "run", "--app", "coretasks", "processed", "later", "--spool", "--spooler", str(target),
        "--postpone", "600", "--json",
    )  # fmt: skip
    if importlib.util.find_spec("spoolrt.sending.backends.local") is None:
        assert spooled.returncode == EXIT_FAILURE
        assert "cannot spool from outside uWSGI yet" in spooled.stderr
        assert list(target.iterdir()) == []
        return
    assert spooled.returncode == EXIT_OK, spooled.stderr
    handle = json.loads(spooled.stdout)
    listed = spool_cli("ls", "--spool", str(target), "--json")
    [task] = json.loads(listed.stdout)["tasks"]
    assert task["id"] == handle["id"] and task["state"] == "scheduled" and task["verified"]


# --- serve --------------------------------------------------------------------------------------


def test_print_config_is_an_ini_uwsgi_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = UwsgiInstance(tmp_path / "serve.ini", tmp_path)
    code, ini, _err = cli(
        capsys,
        "serve",
        "coreapp",
        "--tasks",
        "coretasks",
        "--pythonpath",
        str(CORE),
        "--http",
        f"127.0.0.1:{instance.port}",
        "--spool",
        str(instance.spool_dir),
        "--state",
        str(tmp_path / "state"),
        "--ordered",
        "--print-config",
    )
    assert code == EXIT_OK
    (tmp_path / "serve.ini").write_text(ini)
    with instance:  # strict = true: uWSGI refuses any option it does not know
        handle = instance.enqueue("coretasks:ordered", "prio", priority=0)
        instance.wait_runs("ordered", 1, tag="prio")
        assert handle["path"].startswith(str(instance.spool_dir.resolve()))


def test_serve_runs_the_app_and_its_tasks_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out"
    out.mkdir()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed in finally
    env = {**os.environ, "SPOOLRT_SECRET_KEY": KEY, "SPOOLRT_TEST_OUT": str(out)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spoolrt",
            "serve",
            "coreapp",
            "--tasks",
            "coretasks",
            "--pythonpath",
            str(CORE),
            "--http",
            f"127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        probe = UwsgiInstance("basic.ini", tmp_path)  # only for its HTTP helpers
        probe.port, probe.out_dir = port, out

        def serving() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return bool(probe.get("/ping") == "pong")
            except OSError:
                return False

        wait_for(serving, 30, 0.05, "spoolrt serve to answer")
        assert os.readlink(f"/proc/{proc.pid}/exe").endswith("uwsgi")  # exec'd, no wrapper
        state = tmp_path / ".spoolrt-state"
        assert (state / ".gitignore").read_text().endswith("\n*\n")
        assert (state / "spool").stat().st_mode & 0o777 == 0o700
        handle = probe.enqueue("coretasks:processed", "served")
        probe.wait_runs("processed", 1, tag="served")
        assert handle["path"].startswith(str((state / "spool").resolve()))
        # The other commands find the spool dir of the generated ini by themselves.
        ls = spool_cli("stats", "--json", cwd=tmp_path)
        assert json.loads(ls.stdout)["spoolers"][0]["spooler"] == str(state / "spool")

        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
        assert "goodbye to uWSGI" in (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


# --- progress display ---------------------------------------------------------------------------


def _failed_tasks(spool_dir: Path, count: int) -> None:
    for i in range(count):
        task_id = f"progress-{i}"
        keep_aside(
            str(spool_dir),
            FAILED,
            f"uwsgi_spoolfile_on_test_{i}",
            pack({b"spoolrt": b"1"}, b"x"),
            {"reason": "retries-exhausted", "task_id": task_id, "task": "t:t"},
        )


def _run_in_terminal(argv: list[str], answer: bytes, timeout: float = 30) -> tuple[int, str]:
    """Run ``python -m spoolrt argv`` on a new pseudo-terminal; type ``answer`` at the prompt."""
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spoolrt", *argv],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        cwd=REPO,
        env={**os.environ, "SPOOLRT_SECRET_KEY": KEY, "TERM": "xterm", "COLUMNS": "100"},
        start_new_session=True,
    )
    os.close(child_fd)
    seen = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main_fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"[y/N] " in seen:
                os.write(main_fd, answer)
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main_fd)
    return code, seen.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_plain_lines_in_a_pipe(tmp_path: Path) -> None:
    on_tty, piped = tmp_path / "tty", tmp_path / "pipe"
    for spool_dir in (on_tty, piped):
        spool_dir.mkdir()
        _failed_tasks(spool_dir, 40)

    code, screen = _run_in_terminal(["purge", "--failed", "--spool", str(on_tty)], b"y\n")
    assert code == EXIT_OK, screen
    assert "Remove 40 task file(s) (40 failed; oldest " in screen and "[y/N] " in screen
    assert "\rpurge [" in screen and "] 40/40 100% " in screen  # the bar, redrawn in place
    assert "\x1b[K" in screen
    assert screen.count("removed failed progress-") == 40
    assert list((on_tty / ".spoolrt" / "failed").iterdir()) == []

    with open(tmp_path / "log.txt", "w") as log:
        code = subprocess.run(
            [sys.executable, "-m", "spoolrt", "purge", "--failed", "--spool", str(piped), "--yes"],
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=60,
            env={**os.environ, "SPOOLRT_SECRET_KEY": KEY},
        ).returncode
    text = (tmp_path / "log.txt").read_text()
    assert code == EXIT_OK
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert sum(line.startswith("removed failed progress-") for line in lines) == 40
    assert "purge: 40/40 (100%) in " in text and lines[-1] == "40 removed"


def test_purge_in_a_pipe_without_yes_changes_nothing(tmp_path: Path) -> None:
    _failed_tasks(tmp_path, 3)
    refused = spool_cli("purge", "--failed", "--spool", str(tmp_path))
    assert refused.returncode == EXIT_USAGE and "pass --yes" in refused.stderr
    assert len(list((tmp_path / ".spoolrt" / "failed").iterdir())) == 6


def test_a_terminal_answer_of_no_keeps_everything(tmp_path: Path) -> None:
    _failed_tasks(tmp_path, 2)
    code, screen = _run_in_terminal(["purge", "--failed", "--spool", str(tmp_path)], b"n\n")
    assert code == EXIT_OK and "nothing removed" in screen
    assert len(list((tmp_path / ".spoolrt" / "failed").iterdir())) == 4
