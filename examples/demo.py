"""The README's demo: the plain example app under real uWSGI with a spooler.

It starts uWSGI (state in .state/demo/, HTTP on 127.0.0.1), spools five tasks through real
requests, waits until each has settled and prints what became of it. ``--serve`` keeps serving
on 127.0.0.1:8000 afterwards until Ctrl-C. uWSGI is always stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".state" / "demo"
CALLS = ["/welcome", "/clean", "/report", "/export", "/remind"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep serving after the demo")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    log_file, uwsgi_log = STATE / "tasks.log", STATE / "uwsgi.log"
    env = {
        **os.environ,
        "SPOOLRT_HTTP": f"127.0.0.1:{args.port}",
        "SPOOLRT_APP": "app",
        "SPOOLRT_TASKS": "tasks",
        "SPOOLRT_PYTHONPATH": str(REPO / "examples" / "plain"),
        "SPOOLRT_SPOOL_DIR": str(STATE / "spool"),
        "SPOOLRT_KEY_FILE": str(STATE / "secret_key"),
        "DEMO_LOG": str(log_file),
    }
    uwsgi = str(Path(sys.executable).parent / "uwsgi")
    ini = REPO / "uwsgi_configs" / "basic.ini"
    print(f"starting uWSGI ({ini.relative_to(REPO)}), log in {uwsgi_log.relative_to(REPO)}")
    with open(uwsgi_log, "wb") as out:
        proc = subprocess.Popen(
            [uwsgi, "--ini", str(ini)], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{args.port}"
        _wait(lambda: _get(base + "/") is not None, 30, "uWSGI to answer")
        handles = {}
        for path in CALLS:
            handle = json.loads(_get(base + path) or "{}")
            handles[handle["id"]] = handle["task"]
            print(f"  spooled {handle['task']:<22} id={handle['id']}")
        print("waiting for every task to settle ...")
        failed = STATE / "spool" / ".spoolrt" / "failed"
        _wait(lambda: _settled(base, failed), 30, "tasks to settle")
        _report(log_file, failed)
        _statuses(handles, str(STATE / "spool"), env["SPOOLRT_KEY_FILE"])
        _next_steps(handles)
        if args.serve:
            print(f"\nserving on {base} (try {base}/welcome); Ctrl-C stops uWSGI")
            proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return 0


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()
    except OSError:
        return None


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out waiting for {what}")
        time.sleep(0.1)


def _settled(base: str, failed: Path) -> bool:
    pending = json.loads(_get(base + "/pending") or '{"pending": [0]}')["pending"]
    return not pending and failed.is_dir() and any(failed.glob("*.json"))


def _statuses(handles: dict[str, str], spool_dir: str, key_file: str) -> None:
    """What any process can learn from a task id alone: status and result, from the store."""
    os.environ["SPOOLRT_KEY_FILE"] = key_file  # the key the app signed its results with
    from spoolrt import TaskFailed, TaskHandle

    print("\nfinal status, read back by task id (spoolrt's result store):")
    for task_id, name in handles.items():
        handle = TaskHandle("", task_id=task_id, task_name=name, spooler=spool_dir)
        try:
            outcome = repr(handle.result(timeout=10))
        except TaskFailed as exc:
            outcome = f"error: {exc.error}"
        status = handle.status.value if handle.status else "unknown"
        print(f"  {name:<22} {status:<8} attempts={handle.attempts}  {outcome}")


def _next_steps(handles: dict[str, str]) -> None:
    """The commands that look at what the demo did. The demo signs with its own key file, so
    each command names it: without it ``spoolrt show`` could not verify the files' signatures."""
    spoolrt = Path(sys.executable).parent / "spoolrt"
    if spoolrt.is_relative_to(REPO):
        spoolrt = spoolrt.relative_to(REPO)
    prefix = f"SPOOLRT_KEY_FILE={(STATE / 'secret_key').relative_to(REPO)} {spoolrt}"
    spool = f"--spool {(STATE / 'spool').relative_to(REPO)}"
    failed = next(task_id for task_id, name in handles.items() if name.endswith("broken_export"))
    print("\nlook at what it did (from the repository root; the key is the demo's own):")
    print(f"  {prefix} ls {spool}")
    print(f"  {prefix} show {spool} {failed}")
    print(f"  {prefix} stats {spool}")


def _report(log_file: Path, failed: Path) -> None:
    runs = [json.loads(line) for line in log_file.read_text().splitlines()]
    start = runs[0]["t"]
    print("\nwhat ran (attempt, seconds after the first run):")
    for run in runs:
        print(f"  +{run['t'] - start:5.2f}s  {run['event']:<14} attempt {run['attempt']}")
    print("\nfailed area (retries used up, kept with the reason):")
    for record_path in sorted(failed.glob("*.json")):
        record = json.loads(record_path.read_text())
        print(f"  {record['task']}: {record['error']} after {record['attempts']} attempts")
    print("\nnothing is left pending: processed and skipped tasks are done, the reminder ran")
    print("after its 2 s postpone, the flaky report recovered on its retry.")


if __name__ == "__main__":
    sys.exit(main())
