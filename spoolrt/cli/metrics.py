"""``spoolrt metrics``: the Prometheus text format of the spool directories, on stdout or into a
file for node_exporter's textfile collector (``--output``, written atomically).

The families and their labels are documented in ``spoolrt.observe.metrics``; they are the same
as the dashboard's ``/metrics``. Schedules are those the ``--app`` modules register.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from spoolrt.cli._common import (
    EXIT_OK,
    CliError,
    add_discovery_options,
    examples,
    find_spool_dirs,
    import_apps,
)
from spoolrt.core.errors import ConfigurationError
from spoolrt.observe import metrics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="Prometheus metrics of the spool directories (stdout, or a textfile)",
        description="Print the Prometheus text format of the spool directories and their "
        "result stores, computed now; with --output, write it atomically for node_exporter's "
        "textfile collector. Needs prometheus_client: pip install 'spoolrt[metrics]'.",
        epilog=examples(
            "spoolrt metrics --spool /var/spool/app",
            "spoolrt metrics --app myproject.tasks --output "
            "/var/lib/node_exporter/textfile/spoolrt.prom",
            "# cron, every minute:",
            "* * * * * spoolrt metrics --spool /var/spool/app --output /var/lib/ne/spoolrt.prom",
        )
        + "\n\nfamilies and labels: see `pydoc spoolrt.observe.metrics`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE (a temporary file beside it, then a rename) instead of stdout; "
        "node_exporter reads only names ending in .prom",
    )
    add_discovery_options(parser)
    parser.set_defaults(handler=cmd_metrics)


def cmd_metrics(args: argparse.Namespace) -> int:
    import_apps(args.app)
    dirs, _source = find_spool_dirs(args.spool)
    try:
        if args.output:
            folder = os.path.dirname(os.path.abspath(args.output))
            if not os.path.isdir(folder):
                raise CliError(f"cannot write {args.output}: {folder} is not a directory")
            metrics.write_textfile(args.output, dirs)
        else:
            sys.stdout.write(metrics.render(dirs).decode())
    except ConfigurationError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc}") from exc
    return EXIT_OK
