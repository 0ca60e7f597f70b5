"""What every sub-command shares: exit codes, errors, finding the app and the spool dirs,
reading signatures, and turning times and tables into text."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from spoolrt.cli.progress import format_duration
from spoolrt.core.codec.serializers import ENV_SECRET_KEY, Signer, default_key_file
from spoolrt.core.config import ENV_SPOOL_DIRS, get_settings
from spoolrt.core.errors import CommandError as CliError
from spoolrt.core.errors import CommandUsageError as UsageError
from spoolrt.core.errors import ConfigurationError

#: Everything went as asked.
EXIT_OK = 0
#: A task failed, or something named on the command line was not found or could not be done.
EXIT_FAILURE = 1
#: The command line itself is wrong (argparse uses 2 too), or a confirmation was impossible.
EXIT_USAGE = 2
#: Stopped with Ctrl-C.
EXIT_INTERRUPTED = 130

ENV_APP = "SPOOLRT_APP"
#: The password of ``spoolrt dashboard``'s one operator, and what ``--node`` views send.
ENV_DASHBOARD_PASSWORD = "SPOOLRT_DASHBOARD_PASSWORD"
ENV_PYTHONPATH = "SPOOLRT_PYTHONPATH"
#: Where ``spoolrt serve`` keeps its state (generated ini, default spool dir), relative to cwd.
STATE_DIR = ".spoolrt-state"
GENERATED_INI = "uwsgi.ini"


# --- finding the app and the spool directories -------------------------------------------------


def add_discovery_options(parser: argparse.ArgumentParser, *, spool: bool = True) -> None:
    """``--app`` and ``--spool``, shared by every command that reads spool directories."""
    group = parser.add_argument_group("where to look (see `spoolrt --help` for the order)")
    group.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (registers its tasks, applies its spoolrt.configure()); "
        f"repeatable; default: ${ENV_APP}",
    )
    if not spool:
        return
    group.add_argument(
        "--spool",
        action="append",
        default=[],
        metavar="DIR",
        help=f"a spool directory; repeatable; default: the app's configure(spool_dirs=...), "
        f"${ENV_SPOOL_DIRS}, then the spool dirs of ./{STATE_DIR}/{GENERATED_INI}",
    )


def import_apps(flags: Sequence[str]) -> list[str]:
    """Import the app modules: ``--app`` flags, else ``$SPOOLRT_APP`` (comma-separated).

    ``MODULE:ATTR`` is accepted (what ``serve`` takes) and imports MODULE. The current directory
    and ``$SPOOLRT_PYTHONPATH`` are put first on ``sys.path``, as ``python -m`` would, because a
    console script does not have the project directory on its path.
    """
    names = list(flags) or [n.strip() for n in os.environ.get(ENV_APP, "").split(",") if n.strip()]
    if not names:
        return []
    for entry in reversed([os.getcwd(), *_env_paths(ENV_PYTHONPATH)]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for name in names:
        module = name.split(":", 1)[0]
        try:
            importlib.import_module(module)
        except Exception as exc:  # an app module can raise anything at import
            raise CliError(
                f"cannot import app module {module!r}: {type(exc).__name__}: {exc}"
            ) from exc
    return names


def find_spool_dirs(flags: Sequence[str], *, required: bool = True) -> tuple[list[str], str]:
    """The spool directories to work on, and where they came from (for messages).

    Order: ``--spool`` flags; ``spoolrt.configure(spool_dirs=...)`` run by an imported app (a
    Django integration will configure spoolrt from settings the same way); the
    ``SPOOLRT_SPOOL_DIRS`` variable (``os.pathsep``-separated); the ``spooler`` lines of the ini
    ``spoolrt serve`` generated in ``./.spoolrt-state/``.
    """
    if flags:
        dirs, source = list(flags), "--spool"
    else:
        configured = list(get_settings().spool_dirs)
        from_env = _env_paths(ENV_SPOOL_DIRS)
        if configured and configured != from_env:
            dirs, source = configured, "spoolrt.configure(spool_dirs=...)"
        elif from_env:
            dirs, source = from_env, f"${ENV_SPOOL_DIRS}"
        else:
            ini = Path(STATE_DIR) / GENERATED_INI
            dirs, source = spool_dirs_of_ini(ini), str(ini)
    dirs = _unique(os.path.abspath(d) for d in dirs)
    if not dirs and required:
        raise UsageError(
            "no spool directory: pass --spool DIR, set "
            f"{ENV_SPOOL_DIRS}, or run this where `spoolrt serve` keeps ./{STATE_DIR}/"
        )
    missing = [d for d in dirs if not os.path.isdir(d)]
    if missing:
        raise CliError(f"spool directory does not exist: {', '.join(missing)} (from {source})")
    return dirs, source


def spool_dirs_of_ini(path: Path) -> list[str]:
    """The ``spooler = DIR`` lines of a uWSGI ini (which repeats keys, so not configparser)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    dirs = []
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "spooler" and value.strip():
            dirs.append(value.strip())
    return dirs


def _env_paths(name: str) -> list[str]:
    return [p for p in os.environ.get(name, "").split(os.pathsep) if p]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def read_signer() -> tuple[Signer | None, str]:
    """The signer to verify files with, and a warning when verification is impossible.

    Unlike ``Settings.signer()`` it never creates a key file: a key made up by a read-only
    command (say, run as another user than uWSGI) would only make every file look forged. With
    no key anywhere it returns a signer with a random key, so nothing claims to be verified.
    """
    settings = get_settings()
    if not settings.signing:
        return None, "signing is off: every well-formed file counts as verified"
    if settings.secret_key or os.environ.get(ENV_SECRET_KEY) or default_key_file().exists():
        try:
            return settings.signer(), ""
        except ConfigurationError as exc:
            raise CliError(f"cannot load the signing key: {exc}") from exc
    return Signer([os.urandom(32)]), (
        f"no signing key ({ENV_SECRET_KEY} is unset and {default_key_file()} does not exist): "
        "signatures cannot be checked, arguments are not shown"
    )


# --- output -------------------------------------------------------------------------------------


def write_json(data: Any, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    stream.write(json.dumps(data, indent=2, default=str) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"spoolrt: {message}\n")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def format_when(timestamp: float | None, now: float) -> str:
    """``in 5m00s`` for the future, ``3m05s ago`` for the past, ``-`` for unknown."""
    if timestamp is None:
        return "-"
    delta = timestamp - now
    return f"in {format_duration(delta)}" if delta >= 1 else f"{format_duration(-delta)} ago"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``2h``, ``7d``, ``1w``, or combined as ``1h30m`` -> seconds."""
    spec = text.strip().lower()
    if not spec:
        raise argparse.ArgumentTypeError("an age is a number with an optional unit, e.g. 10m")
    try:
        return _check_age(float(spec), text)
    except ValueError:
        pass
    total, number = 0.0, ""
    for char in spec:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            try:
                total += float(number) * _UNITS[char]
            except ValueError:
                raise argparse.ArgumentTypeError(f"not an age: {text!r}") from None
            number = ""
        else:
            raise argparse.ArgumentTypeError(
                f"not an age: {text!r} (use a number with s, m, h, d or w, e.g. 90s, 10m, 1h30m)"
            )
    if number:
        raise argparse.ArgumentTypeError(f"not an age: {text!r} (a unit is missing after {number})")
    return _check_age(total, text)


def _check_age(seconds: float, text: str) -> float:
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"an age must be a finite number >= 0, not {text!r}")
    return seconds


def confirm(question: str, *, assume_yes: bool, what: str) -> bool:
    """Ask ``question`` on the terminal; without one, refuse unless ``--yes`` was given.

    A destructive command must never go ahead because its input happened to be a pipe.
    """
    if assume_yes:
        return True
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(f"refusing to {what} without confirmation: no terminal; pass --yes")
    sys.stdout.write(f"{question} [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def examples(*lines: str) -> str:
    """The examples block that ends every sub-command's ``--help``."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)
