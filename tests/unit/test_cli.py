"""The ``spoolrt`` command's pure parts: parsing, discovery order, formatting, progress display.

Everything that touches real spool files written by uWSGI is in tests/integration/test_cli.py.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import pytest

import spoolrt.core.config
from spoolrt.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main, worker_main
from spoolrt.cli._common import (
    CliError,
    UsageError,
    confirm,
    find_spool_dirs,
    format_duration,
    format_table,
    format_when,
    parse_age,
    spool_dirs_of_ini,
)
from spoolrt.cli.progress import Progress
from spoolrt.cli.running import parse_value
from spoolrt.cli.serve import ServeConfig, build_ini
from spoolrt.observe.scan import Entry, State
from spoolrt.spooldir.inspect import TaskInfo

COMMANDS = [
    "serve",
    "ls",
    "show",
    "stats",
    "run",
    "retry",
    "purge",
    "metrics",
    "ps",
    "schedules",
    "dashboard",
]


# --- command line -------------------------------------------------------------------------------


def test_top_level_help_documents_the_lookup_order_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "where the command looks" in out
    assert "--spool DIR (repeatable), else the app's spoolrt.configure" in out
    assert "exit codes: 0 ok, 1 task failed or not found, 2 usage" in out
    for command in [*COMMANDS, "worker"]:
        assert f"\n    {command} " in out or f"\n    {command}\n" in out  # long names wrap


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"usage: spoolrt {command}")
    assert "examples:\n  spoolrt " + command in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "usage: spoolrt"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["ls", "--status", "lost"], "invalid choice: 'lost'"),
        (["purge", "--failed", "--older-than", "5 parsecs"], "not an age"),
        (["purge"], "purge what?"),
        (["retry"], "retry what?"),
        (["run", "--kwargs", "[1, 2]"], "--kwargs must be a JSON object"),
        (["serve", "app", "--workers", "0"], "must be 1 or more"),
        (["serve", "app", "--http", "8000", "--print-config"], "--http takes HOST:PORT"),
        (["serve", "app/wsgi.py", "--print-config"], "dotted module"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("spoolrt ")


def test_an_app_that_cannot_be_imported_is_a_lookup_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ls", "--app", "no_such_module_for_spoolrt", "--spool", "."]) == EXIT_FAILURE
    assert "cannot import app module 'no_such_module_for_spoolrt'" in capsys.readouterr().err


def test_python_dash_m_spoolrt_is_the_same_command() -> None:
    import runpy

    with pytest.raises(SystemExit) as exited:
        sys_argv = sys.argv
        sys.argv = ["spoolrt", "--version"]
        try:
            runpy.run_module("spoolrt", run_name="__main__")
        finally:
            sys.argv = sys_argv
    assert exited.value.code == EXIT_OK


# --- worker mount -------------------------------------------------------------------------------


def test_python_m_spoolrt_worker_is_the_worker_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["worker", "--help"]) == EXIT_OK
    via_command = capsys.readouterr().out
    assert worker_main(["--help"]) == EXIT_OK
    assert capsys.readouterr().out == via_command
    assert "usage: spoolrt worker" in via_command


# --- where the command looks --------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("flag", "configured", "env", "served"):
        (tmp_path / name).mkdir()
    state = tmp_path / ".spoolrt-state"
    state.mkdir()
    (state / "uwsgi.ini").write_text(f"[uwsgi]\nspooler = {tmp_path / 'served'}\nmaster = 1\n")
    return tmp_path


def test_spool_dirs_come_from_flags_first(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLRT_SPOOL_DIRS", str(project / "env"))
    spoolrt.core.config.configure(spool_dirs=[str(project / "configured")])
    assert find_spool_dirs(["flag"]) == ([str(project / "flag")], "--spool")


def test_then_from_the_apps_configure(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLRT_SPOOL_DIRS", str(project / "env"))
    spoolrt.core.config.configure(spool_dirs=[str(project / "configured")])
    dirs, source = find_spool_dirs([])
    assert dirs == [str(project / "configured")]
    assert "configure" in source


def test_then_from_the_environment(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLRT_SPOOL_DIRS", os.pathsep.join(["env", "flag", "env"]))
    assert find_spool_dirs([]) == (
        [str(project / "env"), str(project / "flag")],
        "$SPOOLRT_SPOOL_DIRS",
    )


def test_then_from_the_ini_spoolrt_serve_wrote(project: Path) -> None:
    assert find_spool_dirs([])[0] == [str(project / "served")]


def test_no_spool_dir_anywhere_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="no spool directory"):
        find_spool_dirs([])


def test_a_missing_spool_dir_is_named(project: Path) -> None:
    with pytest.raises(CliError, match=r"does not exist: .*nowhere"):
        find_spool_dirs(["nowhere"])


def test_ini_parsing_keeps_repeated_spooler_lines(tmp_path: Path) -> None:
    ini = tmp_path / "u.ini"
    ini.write_text(
        "[uwsgi]\nspooler = /a\n; spooler = /commented\nspooler=/b\nspooler-frequency = 1\n"
    )
    assert spool_dirs_of_ini(ini) == ["/a", "/b"]
    assert spool_dirs_of_ini(tmp_path / "absent.ini") == []


# --- values and formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("0.5m", 30),
        (" 3D ", 259200),
    ],
)
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "10m5", "-5", "nan", "inf", "1..5h"])
def test_parse_age_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_age(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (61, "1m01s"), (3600, "1h00m"), (90061, "1d01h"), (-5, "0s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_when() -> None:
    assert format_when(None, 100) == "-"
    assert format_when(400, 100) == "in 5m00s"
    assert format_when(40, 100) == "1m00s ago"


def test_format_table_pads_all_but_the_last_column() -> None:
    text = format_table(["A", "LONGER", "NOTE"], [["xxxx", "y", "free text"], ["z", "", ""]])
    assert text.splitlines() == ["A     LONGER  NOTE", "xxxx  y       free text", "z"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("4.5", 4.5),
        ("true", True),
        ("null", None),
        ('"42"', "42"),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("hello", "hello"),
        ("", ""),
        ("a b", "a b"),
    ],
)
def test_run_arguments_are_json_else_strings(text: str, value: object) -> None:
    assert parse_value(text) == value


def _entry(name: str = "", message: str = "", type_id: str = "") -> Entry:
    info = TaskInfo(path="/s/f", task_id="1", name=name, message=message, type_id=type_id)
    return Entry(State.PENDING, "/s", info)


@pytest.mark.parametrize(
    ("pattern", "hit"),
    [
        ("app.tasks:send_mail", True),
        ("send_mail", True),
        ("app.tasks:send_*", True),
        ("*mail", True),
        ("fcall", True),
        ("send", False),
        ("other.tasks:send_mail", False),
    ],
)
def test_task_filter(pattern: str, hit: bool) -> None:
    assert _entry("app.tasks:send_mail", "ucfg_fcall", "fcall").matches_task(pattern) is hit


def test_task_label_falls_back_to_message_then_type() -> None:
    assert _entry(message="ucfg_thumb", type_id="thumb").label == "ucfg_thumb"
    assert _entry(type_id="thumb").label == "thumb"


# --- confirmation -------------------------------------------------------------------------------


def test_confirm_refuses_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    with pytest.raises(UsageError, match="no terminal; pass --yes"):
        confirm("Remove?", assume_yes=False, what="purge")
    assert confirm("Remove?", assume_yes=True, what="purge") is True


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("y\n", True), ("YES\n", True), ("\n", False), ("n\n", False), ("", False)],
)
def test_confirm_asks_on_a_terminal(
    answer: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _Terminal()
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    monkeypatch.setattr(sys, "stdout", out)
    assert confirm("Remove 3 files?", assume_yes=False, what="purge") is expected
    assert out.getvalue() == "Remove 3 files? [y/N] "


# --- serve configuration ------------------------------------------------------------------------


def _config(**changes: object) -> ServeConfig:
    base = {
        "app": "proj.wsgi:application",
        "tasks": ("proj.tasks",),
        "http": "127.0.0.1:8000",
        "workers": 2,
        "threads": 1,
        "spooler_processes": 1,
        "spool_dirs": ("/srv/state/spool",),
        "ordered": False,
        "frequency": 1,
        "pythonpath": ("/srv/proj",),
        "state_dir": "/srv/state",
    }
    return ServeConfig(**{**base, **changes})  # type: ignore[arg-type]


def _options(ini: str) -> list[tuple[str, str]]:
    pairs = []
    for line in ini.splitlines():
        if line.startswith((";", "[")) or not line.strip():
            continue
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip()))
    return pairs


def test_serve_config_has_the_embedded_defaults() -> None:
    options = _options(build_ini(_config()))
    for pair in [
        ("strict", "true"),
        ("master", "true"),
        ("die-on-term", "true"),
        ("need-app", "true"),
        ("http-socket", "127.0.0.1:8000"),
        ("workers", "2"),
        ("pythonpath", "/srv/proj"),
        ("wsgi", "proj.wsgi:application"),
        ("spooler-python-import", "proj.tasks"),
        ("spooler-chdir", "/srv/proj"),
        ("spooler-frequency", "1"),
        ("spooler-processes", "1"),
        ("spooler", "/srv/state/spool"),
    ]:
        assert pair in options
    keys = [k for k, _ in options]
    assert "spooler-ordered" not in keys and "threads" not in keys
    assert "plugin" not in keys  # the pip-installed uWSGI has python built in


def test_serve_config_options() -> None:
    ini = build_ini(
        _config(
            threads=4,
            ordered=True,
            spooler_processes=3,
            spool_dirs=("/a", "/b"),
            tasks=("t1", "t2"),
            http="0.0.0.0:9000",
        )
    )
    options = _options(ini)
    assert ("threads", "4") in options and ("spooler-ordered", "true") in options
    assert ("spooler-processes", "3") in options
    assert [v for k, v in options if k == "spooler"] == ["/a", "/b"]
    assert [v for k, v in options if k == "spooler-python-import"] == ["t1", "t2"]
    assert ("http-socket", "0.0.0.0:9000") in options


def test_print_config_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "proj.wsgi", "--print-config"]) == EXIT_OK
    options = _options(capsys.readouterr().out)
    assert ("wsgi", "proj.wsgi:application") in options
    assert ("spooler-python-import", "proj.wsgi") in options  # the app module imports its tasks
    assert ("spooler", str(tmp_path / ".spoolrt-state" / "spool")) in options
    assert ("pythonpath", str(tmp_path)) in options
    assert not (tmp_path / ".spoolrt-state").exists()  # printing creates nothing


# --- progress -----------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_in_a_pipe_writes_plain_lines_now_and_then() -> None:
    stream, out, clock = io.StringIO(), io.StringIO(), _Clock()
    with Progress(100, "purge", stream=stream, out=out, interactive=False, clock=clock) as p:
        for i in range(1, 101):
            clock.now = i / 10  # 10 s in all: a line at 5 s and at 10 s, none again at the end
            p.advance()
            p.echo("removed x")
        p.advance(0)
    assert stream.getvalue().splitlines() == [
        "purge: 50/100 (50%) in 5s",
        "purge: 100/100 (100%) in 10s",
    ]
    assert out.getvalue() == "removed x\n" * 100
    assert "\r" not in stream.getvalue() + out.getvalue()
    assert "\x1b" not in stream.getvalue() + out.getvalue()


def test_progress_on_a_terminal_redraws_one_line() -> None:
    stream, clock = _Terminal(), _Clock()
    progress = Progress(
        4, "retry", stream=stream, out=stream, interactive=True, clock=clock, min_interval=1
    )
    progress.advance()  # first item: drawn at once
    progress.advance()  # too soon: not drawn
    progress.echo("re-queued a")  # clears the bar, writes the line, draws the bar again
    clock.now = 2
    progress.advance(2)
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\rretry [" + "#" * 8 + "." * 22 + "] 1/4  25% 0s\x1b[K")
    assert "\r\x1b[Kre-queued a\n\rretry [" in text
    assert text.endswith("] 4/4 100% 2s\x1b[K\n")
    assert text.count("\n") == 2


def test_progress_bar_fits_the_width_and_copes_without_a_total() -> None:
    progress = Progress(None, "worker", stream=io.StringIO(), interactive=True, clock=_Clock())
    progress.advance(12)
    assert progress.render_bar(80) == "worker 12 done 0s"
    progress.set_total(24)
    assert len(progress.render_bar(20)) == 19
    assert progress.render_plain() == "worker: 12/24 (50%) in 0s"


def test_quiet_progress_writes_nothing() -> None:
    stream, out = io.StringIO(), io.StringIO()
    with Progress(3, "x", stream=stream, out=out, quiet=True) as progress:
        progress.advance()
        progress.echo("line")
    assert stream.getvalue() == out.getvalue() == ""
