"""``python manage.py spoolrt <command> ...``: the ``spoolrt`` command with the project set up.

Everything after ``spoolrt`` goes to ``spoolrt.cli.main`` (``manage.py spoolrt --help`` is the
CLI's help). ``serve`` is completed from the settings: the app from ``WSGI_APPLICATION``, the
project directory as import path, ``spoolrt.contrib.django.spooler`` imported in the spooler,
the ``SPOOLRT["SPOOL_DIRS"]``, and ``-w`` for ``--workers``::

    python manage.py spoolrt serve -w 4 --threads 8
    python manage.py spoolrt ls --status failed
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from spoolrt.cli import main
from spoolrt.contrib._serve import import_root, serve_arguments
from spoolrt.core.config import get_settings

SPOOLER_MODULE = "spoolrt.contrib.django.spooler"


class Command(BaseCommand):
    help = (
        "spoolrt commands for this project: serve (-w/--workers, --threads), ls, show, stats, "
        "run, retry, purge, worker. `manage.py spoolrt --help` lists them all."
    )

    def run_from_argv(self, argv: list[str]) -> None:
        # The spoolrt CLI parses its own options (and prints its own --help); Django's options
        # (--settings, --pythonpath) were already applied by manage.py.
        code = run(argv[2:])
        if code:
            sys.exit(code)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("argv", nargs=argparse.REMAINDER, help="a spoolrt command line")

    def handle(self, *args: Any, **options: Any) -> None:
        """``call_command("spoolrt", "ls", "--json")``."""
        code = run(list(options["argv"]))
        if code:
            raise CommandError(f"spoolrt {' '.join(options['argv'])} exited with {code}")


def run(argv: list[str]) -> int:
    return main(cli_arguments(argv))


def cli_arguments(argv: list[str]) -> list[str]:
    if argv[:1] != ["serve"]:
        return argv
    return [
        "serve",
        *serve_arguments(
            argv[1:],
            app=wsgi_app,
            pythonpath=lambda: str(import_root(os.environ["DJANGO_SETTINGS_MODULE"])),
            tasks=[SPOOLER_MODULE],
            spool_dirs=get_settings().spool_dirs,
        ),
    ]


def wsgi_app() -> str:
    """``WSGI_APPLICATION`` (``mysite.wsgi.application``) as uWSGI names it: ``MODULE:NAME``."""
    dotted = getattr(settings, "WSGI_APPLICATION", None)
    if not dotted or "." not in dotted:
        raise CommandError(
            "set WSGI_APPLICATION in settings, or name the app: manage.py spoolrt serve mysite.wsgi"
        )
    module, _, name = dotted.rpartition(".")
    return f"{module}:{name}"
