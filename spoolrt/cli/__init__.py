"""The ``spoolrt`` command (also ``python -m spoolrt``).

Sub-commands: ``serve`` (the app under uWSGI with a spooler), ``ls``, ``show``, ``stats``
(look), ``check`` (a health check: exit 1 with the reason), ``run`` (a task by name, now),
``retry``, ``purge`` (change), ``worker`` (the pure-Python worker), ``metrics`` (the
Prometheus text format), ``ps`` (spooler processes), ``schedules`` (next and last runs),
``dashboard`` (the web dashboard), ``cancel`` (pending tasks).
``spoolrt <command> --help`` shows each one's options and examples.

Where the command looks, in this order (the first that gives an answer wins):

- **tasks and settings**: the ``--app MODULE`` options (repeatable), else ``$SPOOLRT_APP``
  (comma-separated). Each module is imported with the current directory and
  ``$SPOOLRT_PYTHONPATH`` on ``sys.path``; importing registers its tasks and runs its
  ``spoolrt.configure(...)`` (secret key, spool dirs). A Django integration will configure
  spoolrt from settings at this step.
- **spool directories**: the ``--spool DIR`` options (repeatable); else what an imported app
  gave ``spoolrt.configure(spool_dirs=...)``; else ``$SPOOLRT_SPOOL_DIRS``
  (``os.pathsep``-separated); else the ``spooler`` lines of ``./.spoolrt-state/uwsgi.ini``,
  the ini ``spoolrt serve`` generates, so the commands work beside a running ``serve``.
- **signing key**: as spoolrt itself (``configure(secret_key=...)``, ``$SPOOLRT_SECRET_KEY``,
  the key file); read-only commands never create a key file.

Exit codes: ``EXIT_OK`` 0; ``EXIT_FAILURE`` 1 (a task failed, something named was not found,
an app could not be imported); ``EXIT_USAGE`` 2 (bad command line, or a confirmation that could
not be asked); ``EXIT_INTERRUPTED`` 130; ``spoolrt.cli.nodes.EXIT_NODE_DOWN`` 3 (``ls``,
``stats``, ``ps`` or ``schedules`` with ``--node``: a node did not answer; the others' rows are
shown). The JSON printed with ``--json`` is documented in ``spoolrt.cli.listing`` (ls, show,
stats), ``spoolrt.cli.nodes`` (with ``--node``) and in each command's help.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from spoolrt._version import __version__
from spoolrt.cli import (
    cancel,
    check,
    dashboard,
    listing,
    maintenance,
    metrics,
    processes,
    running,
    schedules,
    serve,
    worker,
)
from spoolrt.cli._common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError, warn

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "console_main",
    "main",
    "worker_main",
]

EPILOG = """\
where the command looks (first answer wins):
  tasks       --app MODULE (repeatable), else $SPOOLRT_APP (comma-separated);
              imported with the current directory and $SPOOLRT_PYTHONPATH on sys.path
  spool dirs  --spool DIR (repeatable), else the app's spoolrt.configure(spool_dirs=...),
              else $SPOOLRT_SPOOL_DIRS, else the spooler lines of ./.spoolrt-state/uwsgi.ini
              (written by `spoolrt serve`)
  key         configure(secret_key=...) in the app, $SPOOLRT_SECRET_KEY, the key file

exit codes: 0 ok, 1 task failed or not found, 2 usage, 130 interrupted; `check`: 1 unhealthy;
  ls/stats/ps/schedules --node: 3 when a node did not answer (the others' rows still show)

examples:
  spoolrt serve myproject.wsgi            # app + spooler on http://127.0.0.1:8000
  spoolrt ls                              # what is waiting, running, failed
  spoolrt show 19a4c7e0                   # one task, by id prefix
  spoolrt check --since 1h --max-age 5m   # health check: exit 1 with the reason
  spoolrt retry --failed --task 'myproject.tasks:*'
  spoolrt run --app myproject.tasks send_welcome 42
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spoolrt",
        description="Background tasks on the uWSGI spooler: serve, inspect, run, retry, purge.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"spoolrt {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    serve.register(subparsers)
    listing.register(subparsers)
    check.register(subparsers)
    running.register(subparsers)
    maintenance.register(subparsers)
    metrics.register(subparsers)
    processes.register(subparsers)
    schedules.register(subparsers)
    dashboard.register(subparsers)
    cancel.register(subparsers)
    worker.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``spoolrt`` command line; returns the exit code instead of exiting."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(arguments)
        except SystemExit as exc:  # argparse exits on --help, --version and usage errors
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(handler(args))
    except CliError as exc:
        warn(str(exc))
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED


def worker_main(argv: Sequence[str] | None = None) -> int:
    """``python -m spoolrt.worker ARGS``: the same as ``spoolrt worker ARGS``."""
    return main(["worker", *(sys.argv[1:] if argv is None else argv)])


def console_main() -> None:
    """The ``spoolrt`` console script."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `spoolrt ls | head`: the reader left; that is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)
