"""``spoolrt worker``: run spool files without uWSGI, and alongside uWSGI spoolers.

It finds its tasks and spool directories the way every other command does (``--app`` /
``$SPOOLRT_APP``, then ``--spool`` / the app's ``configure()`` / ``$SPOOLRT_SPOOL_DIRS`` /
``./.spoolrt-state/uwsgi.ini``), so a worker started beside ``spoolrt serve`` serves the same
directory with the same tasks. ``python -m spoolrt.worker ARGS`` is the same command.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from spoolrt.cli._common import (
    EXIT_OK,
    CliError,
    UsageError,
    add_discovery_options,
    examples,
    find_spool_dirs,
    import_apps,
)
from spoolrt.cli.progress import Progress
from spoolrt.core import defaults
from spoolrt.core.config import configure, get_settings
from spoolrt.runtime.worker import Worker
from spoolrt.spooldir.listing import pending_files

log = logging.getLogger("spoolrt.worker")

#: The names ``--log-level`` accepts (any case), as the ``logging`` module spells them.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level; choose one of {', '.join(LOG_LEVELS)}"
        )
    return level


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _non_negative_seconds(text: str) -> float:
    seconds = _seconds(text)
    if not seconds >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return seconds


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def _positive_seconds(text: str) -> float:
    seconds = _seconds(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return seconds


def register(subparsers: Any) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run spool files without uWSGI (the pure-Python worker)",
        description="Run the spool files of one or more directories without uWSGI, and "
        "alongside uWSGI spoolers on the same directory (each file runs once: both take the "
        "same file lock). Stops after the running task on SIGTERM or Ctrl-C; a second one "
        "abandons the task, whose file stays for a rerun.",
        epilog=examples(
            "spoolrt worker --app myapp.tasks --spool /var/spool/myapp",
            "spoolrt worker --app myapp.tasks --processes 4          # spool dir from the app",
            "SPOOLRT_APP=myapp.tasks spoolrt worker --until-empty     # run what is due, exit",
            "spoolrt worker --app myapp.tasks --log-level debug",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_discovery_options(worker)
    worker.add_argument(
        "--processes",
        type=_positive_int,
        default=1,
        metavar="N",
        help="worker processes (default 1)",
    )
    worker.add_argument(
        "--frequency",
        type=_positive_seconds,
        default=float(defaults.SPOOLER_FREQUENCY),
        metavar="S",
        help=f"seconds between scans when nothing wakes the worker "
        f"(default {defaults.SPOOLER_FREQUENCY})",
    )
    worker.add_argument(
        "--until-empty",
        action="store_true",
        help="run what is due, then exit (prints counts as JSON); a retry or postponed task "
        "due within --wait seconds is waited for first",
    )
    worker.add_argument(
        "--wait",
        type=_non_negative_seconds,
        default=defaults.UNTIL_EMPTY_WAIT,
        metavar="S",
        help=f"with --until-empty: wait for tasks due within S seconds (default "
        f"{defaults.UNTIL_EMPTY_WAIT:g}: the default retries' backoff; 0: do not wait)",
    )
    worker.add_argument(
        "--log-level",
        type=_log_level,
        default="INFO",
        metavar="LEVEL",
        help=f"one of {', '.join(LOG_LEVELS)}, any case (default INFO)",
    )
    worker.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=args.log_level,
            format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        )
    try:
        import_apps(args.app)
        dirs, _source = find_spool_dirs(args.spool)
    except UsageError:
        raise
    except CliError as exc:  # nothing to serve with: the command line must change
        raise UsageError(str(exc)) from exc
    if not get_settings().spool_dirs:
        # Tasks that spool other tasks send them to the directories this worker serves.
        configure(spool_dirs=list(dirs))
    worker = Worker(dirs, processes=args.processes, frequency=args.frequency)
    if args.until_empty:
        # A bar on a terminal, plain lines otherwise (stderr: stdout keeps the JSON counts).
        # Forked processes cannot report to this one's display, so only one process shows it.
        total = sum(1 for d in worker.spool_dirs for _ in pending_files(d))
        with Progress(total=total, label="worker", quiet=args.processes > 1) as progress:
            worker.on_file = lambda _status: progress.advance()
            counts = worker.run_until_empty(wait=args.wait)
        print(json.dumps(dict(sorted(counts.items()))))
        return EXIT_OK
    log.info(
        "worker serving %s with %d process(es)",
        ", ".join(worker.spool_dirs),
        worker.processes,
    )
    worker.run_forever()
    return EXIT_OK
