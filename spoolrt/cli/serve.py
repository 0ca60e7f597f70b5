"""``spoolrt serve MODULE[:CALLABLE]``: the app under real uWSGI, with a spooler, in one command.

The configuration is built with uwsgiconf (the ``serve`` extra) rather than a text template,
written to ``<state>/uwsgi.ini`` and handed to ``uwsgi --ini`` with ``os.execv``: the process
*becomes* the uWSGI master, so Ctrl-C, SIGTERM (``die-on-term``) and the exit status are
uWSGI's own, with no Python parent in between. ``--print-config`` prints the ini instead; edit a
copy of it for production.

Defaults, each chosen for a development machine: HTTP on 127.0.0.1:8000 only; state (the ini,
the spool directory) in ``./.spoolrt-state/``; the app module imported in the spooler too
(``spooler-import``), so tasks are found even with ``lazy-apps``; ``spooler-chdir`` to the
project so tasks run where the app runs; ``spooler-frequency = 1`` so postponed tasks and
retries are due to the second; ``die-on-term`` so SIGTERM stops rather than reloads.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from spoolrt._version import __version__
from spoolrt.cli._common import (
    EXIT_OK,
    GENERATED_INI,
    STATE_DIR,
    CliError,
    UsageError,
    examples,
)
from spoolrt.cli.preflight import key_source, preflight
from spoolrt.core.defaults import REMOTE_BUFFER_SIZE, SPOOLER_FREQUENCY
from spoolrt.core.errors import ConfigurationError
from spoolrt.core.pools import ROUTER_KEY
from spoolrt.core.readers import to_node
from spoolrt.spooldir.layout import ensure_dir, write_atomic

DEFAULT_HTTP = "127.0.0.1:8000"
DESCRIPTION = f"""\
Run a WSGI app under real uWSGI with a spooler. The uWSGI configuration is generated (with
uwsgiconf) into <state>/{GENERATED_INI} and this process becomes `uwsgi --ini` that file, so
signals and the exit status are uWSGI's: Ctrl-C or SIGTERM stops it.

Defaults for a development machine: HTTP on {DEFAULT_HTTP} only; state and the spool
directory in ./{STATE_DIR}/; the app module imported in the spooler (spooler-import) so its
tasks are found; spooler-chdir to the project; spooler-frequency = 1 (postponed tasks and
retries are due to the second); die-on-term. Other spoolrt commands run from the same
directory find the spool directories of the generated ini by themselves."""
# Plugins built into the uWSGI that pip installs; naming them keeps uwsgiconf from adding a
# `plugin = python3` line that such a uWSGI cannot load.
_EMBEDDED = ["python", "python3"]


@dataclass(frozen=True)
class ServeConfig:
    """Everything the generated ini depends on (paths absolute)."""

    app: str
    tasks: tuple[str, ...]
    http: str
    workers: int
    threads: int
    spooler_processes: int
    spool_dirs: tuple[str, ...]
    ordered: bool
    frequency: int
    pythonpath: tuple[str, ...]
    state_dir: str
    #: Where the signing key comes from, for the ini's header (see ``key_source``).
    key_source: str = ""
    #: A spooler node of a remote pool: the uwsgi socket it takes tasks on, and optionally the
    #: fastrouter subscription server it subscribes to under ``pool_key``.
    socket: str = ""
    subscribe: str = ""
    pool_key: str = ""
    #: A fastrouter (and its subscription server) run by this instance, for remote pools.
    fastrouter: str = ""
    subscription_server: str = ""


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run MODULE:APP under uWSGI with a spooler (development defaults)",
        description=DESCRIPTION,
        epilog=examples(
            "spoolrt serve myproject.wsgi",
            "spoolrt serve myproject.wsgi:application --tasks myproject.tasks",
            "spoolrt serve app:app --workers 4 --threads 2 --spooler-processes 2 --ordered",
            "spoolrt serve app --spool /var/spool/mail --spool /var/spool/media",
            "spoolrt serve app --print-config > uwsgi.ini   # start from this for production",
            "spoolrt serve app --socket 10.0.0.5:3031   # a node of a remote pool (direct mode)",
            "spoolrt serve app --socket 10.0.0.5:3031 --subscribe 10.0.0.4:3031 --pool-key reports",
            "spoolrt serve app --fastrouter 10.0.0.4:3030 --subscription-server 10.0.0.4:3031",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "app", metavar="MODULE[:CALLABLE]", help="the WSGI app (default callable: application)"
    )
    serve.add_argument(
        "--tasks",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE in the spooler (dotted name); repeatable; default: the app module",
    )
    serve.add_argument(
        "--http",
        default=DEFAULT_HTTP,
        metavar="ADDR",
        help=f"HTTP address (default {DEFAULT_HTTP})",
    )
    serve.add_argument("--workers", type=_positive, default=2, metavar="N", help="default 2")
    serve.add_argument(
        "--threads", type=_positive, default=1, metavar="N", help="threads per worker (default 1)"
    )
    serve.add_argument(
        "--spooler-processes",
        type=_positive,
        default=1,
        metavar="N",
        help="spooler processes per spool directory (default 1)",
    )
    serve.add_argument(
        "--spool",
        action="append",
        default=[],
        metavar="DIR",
        help=f"a spool directory, one spooler each; repeatable (default ./{STATE_DIR}/spool)",
    )
    serve.add_argument(
        "--ordered",
        action="store_true",
        help="spooler-ordered: run by priority (needed for priority=)",
    )
    serve.add_argument(
        "--frequency",
        type=_positive,
        default=SPOOLER_FREQUENCY,
        metavar="S",
        help=f"spooler scan interval, seconds (default {SPOOLER_FREQUENCY})",
    )
    serve.add_argument(
        "--pythonpath",
        action="append",
        default=[],
        metavar="DIR",
        help="import path for the app; repeatable (default: the current directory)",
    )
    serve.add_argument(
        "--state",
        default=STATE_DIR,
        metavar="DIR",
        help=f"where the ini and the default spool go (default {STATE_DIR})",
    )
    remote = serve.add_argument_group(
        "remote pools", "see README, More than one machine; every address: a private interface"
    )
    remote.add_argument(
        "--socket",
        default="",
        metavar="ADDR",
        help="take tasks from other machines on this uwsgi socket (a node of a remote pool)",
    )
    remote.add_argument(
        "--subscribe",
        default="",
        metavar="ADDR",
        help="subscribe the --socket to this fastrouter subscription server (with --pool-key)",
    )
    remote.add_argument(
        "--pool-key", default="", metavar="KEY", help="the pool's fastrouter key (--subscribe)"
    )
    remote.add_argument(
        "--fastrouter",
        default="",
        metavar="ADDR",
        help="also run a fastrouter for remote pools here (with --subscription-server)",
    )
    remote.add_argument(
        "--subscription-server",
        default="",
        metavar="ADDR",
        help="where the nodes subscribe to the --fastrouter (UDP)",
    )
    serve.add_argument(
        "--print-config", action="store_true", help="print the generated uWSGI ini and exit"
    )
    serve.add_argument(
        "--no-import-check",
        dest="import_check",
        action="store_false",
        help="start uWSGI without first importing the app and task modules in a child process",
    )
    serve.set_defaults(handler=cmd_serve)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    module = args.app.split(":", 1)[0]
    if not module or "/" in args.app or module.endswith(".py"):
        raise UsageError(f"give the app as a dotted module (MODULE[:CALLABLE]), not {args.app!r}")
    _host, sep, port = args.http.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--http takes HOST:PORT (e.g. {DEFAULT_HTTP}), not {args.http!r}")
    _check_remote(args)
    state_dir = os.path.abspath(args.state)
    spool_dirs = args.spool or [os.path.join(state_dir, "spool")]
    return ServeConfig(
        app=args.app if ":" in args.app else f"{args.app}:application",
        tasks=tuple(args.tasks or [module]),
        http=args.http,
        workers=args.workers,
        threads=args.threads,
        spooler_processes=args.spooler_processes,
        spool_dirs=tuple(dict.fromkeys(os.path.abspath(d) for d in spool_dirs)),
        ordered=args.ordered,
        frequency=args.frequency,
        pythonpath=tuple(os.path.abspath(p) for p in args.pythonpath or [os.getcwd()]),
        state_dir=state_dir,
        key_source=key_source(imported=False),
        socket=args.socket,
        subscribe=args.subscribe,
        pool_key=args.pool_key,
        fastrouter=args.fastrouter,
        subscription_server=args.subscription_server,
    )


def _check_remote(args: argparse.Namespace) -> None:
    """The remote options go in pairs; each address must be one (refused here, not by uWSGI)."""
    for option in ("socket", "subscribe", "fastrouter", "subscription_server"):
        value = getattr(args, option)
        if value:
            try:
                to_node(value, f"--{option.replace('_', '-')}")
            except ConfigurationError as exc:
                raise UsageError(str(exc)) from None
    if bool(args.subscribe) != bool(args.pool_key):
        raise UsageError("--subscribe and --pool-key go together")
    if args.subscribe and not args.socket:
        raise UsageError("--subscribe needs --socket: the address the router sends tasks to")
    if args.pool_key and not ROUTER_KEY.fullmatch(args.pool_key):
        raise UsageError(f"--pool-key {args.pool_key!r}: letters, digits and .-_: only")
    if bool(args.fastrouter) != bool(args.subscription_server):
        raise UsageError("--fastrouter and --subscription-server go together")


def build_ini(config: ServeConfig) -> str:
    """The uWSGI ini for ``config``, built with uwsgiconf."""
    try:
        from uwsgiconf.config import Section
    except ImportError as exc:
        raise CliError(
            "spoolrt serve builds its uWSGI configuration with uwsgiconf: "
            "pip install 'spoolrt[serve]'"
        ) from exc

    plugins = [*Section.embedded_plugins_presets.BASIC, *_EMBEDDED]
    section = Section(strict_config=True, embedded_plugins=plugins)
    section.master_process.set_basic_params(enable=True)
    section.master_process.set_exit_events(sig_term=True)
    section.applications.set_basic_params(exit_if_none=True)
    section.networking.register_socket(section.networking.sockets.http(config.http))
    section.workers.set_basic_params(count=config.workers)
    section.workers.set_thread_params(enable=True)
    if config.threads > 1:
        section.workers.set_thread_params(count=config.threads)
    section.python.set_basic_params(search_path=list(config.pythonpath))
    section.python.set_wsgi_params(module=config.app)
    section.python.import_module(list(config.tasks), into_spooler=True)
    section.spooler.set_basic_params(
        process_count=config.spooler_processes,
        poll_interval=config.frequency,
        change_dir=config.pythonpath[0],
        order_tasks=True if config.ordered else None,
    )
    section.spooler.add(list(config.spool_dirs))
    _add_remote(section, config)
    body = str(section.as_configuration().format(stamp=False)).strip()
    dirs = " ".join(shlex.quote(d) for d in config.spool_dirs)
    header = (
        f"; generated by `spoolrt serve` (spoolrt {__version__}); run: uwsgi --ini <this file>\n"
        f"; signing key: {config.key_source or key_source(imported=False)}\n"
        # uWSGI checks spool directories while it reads its options, before any hook could
        # create them; `serve` creates them itself, a copy of this file needs them made.
        f"; the spool directories must exist: mkdir -p -m 0700 {dirs}\n"
    )
    return header + body + "\n"


def _add_remote(section: Any, config: ServeConfig) -> None:
    """What uwsgi_configs/spooler_node*.ini and fastrouter.ini set (see their comments)."""
    if config.socket or config.fastrouter:
        section._set("buffer-size", REMOTE_BUFFER_SIZE)  # a task is one packet of at most this
    if config.socket:
        section.networking.register_socket(section.networking.sockets.default(config.socket))
    if config.subscribe:
        # modifier1=17, or the router turns each task into a WSGI request
        rule = f"server={config.subscribe},key={config.pool_key},addr={config.socket},modifier1=17"
        section._set("subscribe2", rule, multi=True)
        section._set("subscribe-freq", 2)
    if config.fastrouter:
        section._set("fastrouter", config.fastrouter, multi=True)
        section._set("fastrouter-subscription-server", config.subscription_server)
        section._set("fastrouter-buffer-size", REMOTE_BUFFER_SIZE)
        section._set("fastrouter-timeout", 2)
        section._set("subscription-tolerance", 12)


def uwsgi_binary() -> str:
    """The uwsgi installed next to this Python (the same virtualenv), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "uwsgi")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("uwsgi")
    if found:
        return found
    raise CliError("uWSGI is not installed: pip install 'spoolrt[serve]'")


def cmd_serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.print_config:
        sys.stdout.write(build_ini(config))
        return EXIT_OK
    binary = uwsgi_binary()
    if args.import_check:
        config = replace(config, key_source=preflight(config) or config.key_source)
    ini = build_ini(config)
    for directory in (config.state_dir, *config.spool_dirs):
        ensure_dir(Path(directory))  # 0700, parents too: files dropped there get run
    ignore = Path(config.state_dir, ".gitignore")
    if not ignore.exists():
        ignore.write_text("# spoolrt serve's state: not for version control\n*\n")
    path = write_atomic(config.state_dir, GENERATED_INI, ini.encode(), durable=False)
    sys.stderr.write(
        f"spoolrt serve: http://{config.http} ; spool {', '.join(config.spool_dirs)} ; "
        f"config {path}\n"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, "--ini", path])
    return EXIT_OK  # not reached: execv replaced this process
