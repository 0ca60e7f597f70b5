"""``spoolrt dashboard``: serve the dashboard alone, behind HTTP basic auth.

Users come from ``--password-file FILE`` (one ``name:password:role`` a line, role ``viewer``
or ``operator``; ``#`` comments; the file must not be readable by others) or, for one operator,
``$SPOOLRT_DASHBOARD_PASSWORD`` (user ``--user``, default ``admin``). Without either it refuses
to start: the dashboard never serves without authorization. It binds to 127.0.0.1 unless told
otherwise; put TLS in front of it (a reverse proxy) before exposing it, as basic auth sends the
password with every request.

``--node HOST:PORT|URL|POOL`` (repeatable) names the dashboards of a pool's other nodes for the
pool page (``/pool``; default: ``configure(dashboards=...)``), asked with ``--node-auth-file``
or ``$SPOOLRT_DASHBOARD_PASSWORD`` for ``--node-user``, as ``spoolrt ls --node`` asks them.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from spoolrt.cli._common import (
    ENV_DASHBOARD_PASSWORD,
    EXIT_OK,
    CliError,
    UsageError,
    add_discovery_options,
    examples,
    find_spool_dirs,
    import_apps,
)
from spoolrt.cli.nodes import add_node_options, read_credentials
from spoolrt.core.errors import ConfigurationError
from spoolrt.dashboard import CHALLENGE, OPERATOR, basic_auth, make_app

ENV_PASSWORD = ENV_DASHBOARD_PASSWORD


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve the web dashboard (HTTP basic auth) on 127.0.0.1",
        description="Serve the dashboard of the spool directories over HTTP, with basic auth "
        "from --password-file or $" + ENV_PASSWORD + ". Needs pip install 'spoolrt[dashboard]'.",
        epilog=examples(
            "spoolrt dashboard --spool /var/spool/app --bind 127.0.0.1:9181 "
            "--password-file /etc/spoolrt/users",
            f"{ENV_PASSWORD}=s3cret spoolrt dashboard --spool /var/spool/app",
            "spoolrt dashboard --spool /var/spool/app --node 10.0.0.5:9181 --node 10.0.0.6:9181"
            "   # /pool shows them",
        )
        + "\n\npassword file: one name:password:role a line (role viewer or operator)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bind", default="127.0.0.1:9181", metavar="HOST:PORT")
    parser.add_argument("--password-file", metavar="FILE", help="users: name:password:role")
    parser.add_argument("--user", default="admin", help=f"the user of ${ENV_PASSWORD}")
    add_discovery_options(parser)
    add_node_options(parser)
    parser.set_defaults(handler=cmd_dashboard)


def read_users(path: str | None, user: str) -> dict[str, tuple[str, str]]:
    """The users of the password file, else the one operator of the environment variable."""
    if path:
        try:
            mode = os.stat(path).st_mode
            lines = open(path, encoding="utf-8").read().splitlines()  # noqa: SIM115
        except OSError as exc:
            raise CliError(f"cannot read the password file: {exc}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CliError(f"{path} is readable by others: chmod 600 it")
        users = {}
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, rest = line.partition(":")
            password, _, role = rest.rpartition(":")
            if not (name and password and role):
                raise CliError(f"{path}:{number}: expected name:password:role")
            users[name] = (password, role.strip())
        return users
    password = os.environ.get(ENV_PASSWORD, "")
    if not password:
        raise UsageError(f"no users: give --password-file FILE or set ${ENV_PASSWORD}")
    return {user: (password, OPERATOR)}


def parse_bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--bind takes HOST:PORT, not {text!r}")
    return host or "127.0.0.1", int(port)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"spoolrt dashboard: {format % args}\n")


def cmd_dashboard(args: argparse.Namespace) -> int:
    import_apps(args.app)
    dirs, _source = find_spool_dirs(args.spool)
    users = read_users(args.password_file, args.user)
    host, port = parse_bind(args.bind)
    try:
        app = make_app(
            dirs,
            authorize=basic_auth(users),
            challenge=CHALLENGE,
            nodes=args.node,
            node_credentials=read_credentials(args.node_auth_file, args.node_user),
            node_timeout=args.node_timeout,
        )
    except ConfigurationError as exc:
        raise CliError(str(exc)) from exc
    with make_server(host, port, app, handler_class=_QuietHandler) as server:
        sys.stderr.write(f"spoolrt dashboard on http://{host}:{server.server_port}/\n")
        sys.stderr.flush()
        server.serve_forever()
    return EXIT_OK
