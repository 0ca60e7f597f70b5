"""A task keeps its function's signature for type checkers: a wrong call fails mypy, not the
spooler (mypy run on small user files, as a user's CI would)."""

from __future__ import annotations

from pathlib import Path

from mypy import api

USER_CODE = """
from spoolrt import Spooler, TaskHandle


@Spooler.task()
def add(a: int, b: int) -> int:
    return a + b


@Spooler.task
def bare(a: int) -> int:
    return a


mail = Spooler("/var/spool/mail")


@mail.task(retries=2)
def send(to: str) -> None:
    pass


handle: TaskHandle = add(1, 2)
value: int = add.func(1, 2)
"""


def _mypy(tmp_path: Path, code: str) -> tuple[int, str]:
    path = tmp_path / "user_tasks.py"
    path.write_text(code)
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(path)]
    )
    return status, out + err


def test_right_calls_pass_mypy_strict(tmp_path: Path) -> None:
    status, output = _mypy(tmp_path, USER_CODE)
    assert status == 0, output


def test_wrong_calls_fail_mypy(tmp_path: Path) -> None:
    wrong = (
        USER_CODE
        + """
add("x", "y", "z")
bare("x")
send(to=1)
add.spool_with((1, 2), retries="3")
Spooler.task(retrys=3)
"""
    )
    status, output = _mypy(tmp_path, wrong)
    assert status == 1
    assert 'Too many arguments for "__call__" of "TaskFunction"' in output
    assert 'Argument 1 to "__call__" of "TaskFunction" has incompatible type "str"' in output
    assert 'Argument "to" to "__call__" of "TaskFunction" has incompatible type "int"' in output
    assert 'Argument "retries" to "spool_with"' in output
    assert 'Unexpected keyword argument "retrys"' in output
    assert output.count("error:") == 7, output
