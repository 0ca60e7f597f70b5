"""Flask integration: settings from ``app.config``, an app context around each spooled task, and
``flask spoolrt ...``.

::

    from flask import Flask
    from spoolrt.contrib.flask import Spoolrt

    app = Flask(__name__)
    app.config["SPOOLRT_SPOOL_DIRS"] = ["/var/spool/myapp"]   # optional
    spoolrt_ext = Spoolrt(app)                                # or Spoolrt().init_app(app)

Configuration (``app.config``), each key mapping to the ``spoolrt.configure()`` option of the same
name: ``SPOOLRT_SPOOL_DIRS``, ``SPOOLRT_SECRET_KEY``, ``SPOOLRT_OLD_KEYS``, ``SPOOLRT_EAGER``,
``SPOOLRT_SERIALIZER``, ``SPOOLRT_RETRIES``, ``SPOOLRT_RETRY_DELAY``, ``SPOOLRT_RETRY_CAP``,
``SPOOLRT_RESULTS``, ``SPOOLRT_RESULT_STORE``, ``SPOOLRT_SIGNING``, ``SPOOLRT_DURABLE_WRITES``,
``SPOOLRT_REMOTE`` (pools of nodes: ``{"reports": ["10.0.0.5:3031", ...]}``),
``SPOOLRT_DASHBOARDS`` (their dashboards, for the pool views), ``SPOOLRT_SCHEDULER`` (False on
every node of a pool but one);
an unknown ``SPOOLRT_*`` key is an error, and values are read by type as ``configure()`` reads them
(``SPOOLRT_EAGER = "false"`` is False; ``"maybe"`` is refused naming the key).
``SPOOLRT_IMPORTS`` lists task modules to import; by default ``<app package>.tasks`` is imported
when the app lives in a package that has one.

The signing key defaults to one derived from the app's ``SECRET_KEY`` (``$SPOOLRT_SECRET_KEY``
and ``SPOOLRT_SECRET_KEY`` win), so web workers and spoolers that load the same app agree on it.

In a uWSGI spooler process every task runs inside an app context of the app, as a request
would: ``current_app``, extensions and their teardown (Flask-SQLAlchemy's session removal) work
in tasks. Under uWSGI the spooler must load the app: ``spooler-import`` the module that creates
it (``flask spoolrt serve`` does that). spoolrt's settings are process-wide: with several apps
in one process, the last one set up wins.

``SPOOLRT_EAGER = True`` runs each task inline at call time (for tests with the Flask test
client): still serialised, signed and dispatched, and a failing task raises.

The dashboard as a blueprint, behind the app's own users (Flask has none of its own, so the
``authorize`` is yours, e.g. over Flask-Login's ``current_user``)::

    def authorize(environ, method, path):
        user = current_user
        return user.is_authenticated and (user.is_admin or method == "GET")

    app.register_blueprint(dashboard_blueprint(authorize=authorize), url_prefix="/spoolrt")

``user`` names who acted, for the audit log (default ``REMOTE_USER``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Blueprint, Flask, Response, current_app, request
from flask.cli import with_appcontext

from spoolrt.cli import main
from spoolrt.contrib._config import add_framework_key, add_spooler_observer, options_from_settings
from spoolrt.contrib._mount import call, mounted_environ
from spoolrt.contrib._serve import import_root, serve_arguments
from spoolrt.core.config import configure, get_settings
from spoolrt.core.errors import ConfigurationError
from spoolrt.dashboard import Authorize, Dashboard

PREFIX = "SPOOLRT_"
#: Keys of the extension itself, not ``spoolrt.configure()`` options.
IMPORTS_KEY = "SPOOLRT_IMPORTS"

__all__ = ["AppContextObserver", "Spoolrt", "dashboard_blueprint", "spoolrt_command"]


class Spoolrt:
    """The extension. ``Spoolrt(app)`` or ``Spoolrt()`` then ``init_app(app)`` (factories)."""

    def __init__(self, app: Flask | None = None) -> None:
        self.imported: list[str] = []
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Configure spoolrt from ``app.config``, register ``flask spoolrt``, import the tasks."""
        configure(**self.options_for(app))
        app.extensions["spoolrt"] = self
        app.cli.add_command(spoolrt_command)
        add_spooler_observer(AppContextObserver(app))
        self.imported = import_task_modules(app)

    @staticmethod
    def options_for(app: Flask) -> dict[str, Any]:
        """The ``spoolrt.configure()`` options that ``app.config`` asks for."""
        values = {
            key[len(PREFIX) :]: value
            for key, value in app.config.items()
            if key.startswith(PREFIX) and key != IMPORTS_KEY
        }
        options = options_from_settings(
            values,
            source=f"the config of Flask app {app.name!r}",
            label=PREFIX + "{key} in {source}",
        )
        source = f"the SECRET_KEY of Flask app {app.name!r}"
        return add_framework_key(options, app.config.get("SECRET_KEY"), source=source)


def import_task_modules(app: Flask) -> list[str]:
    """Import ``SPOOLRT_IMPORTS``, else ``<app package>.tasks`` if there is one; the names
    imported. An error inside a tasks module is raised, not taken for a missing module."""
    names = app.config.get(IMPORTS_KEY)
    if names is None:
        package = sys.modules.get(app.import_name)
        candidate = f"{app.import_name}.tasks"
        found = hasattr(package, "__path__") and importlib.util.find_spec(candidate) is not None
        names = [candidate] if found else []
    elif isinstance(names, str):
        raise ConfigurationError(f"{IMPORTS_KEY} is a list of module names, not {names!r}")
    for name in names:
        importlib.import_module(name)
    return list(names)


class AppContextObserver:
    """Runs each task of a uWSGI spooler inside an app context of ``app``.

    A dispatch observer (``started``/``finished``): the spooler runs one task at a time, so a
    context left behind by a run whose bookkeeping failed is popped before the next one starts.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._pushed: list[Any] = []

    def started(self, envelope: Any, spool_dir: str) -> None:
        self._pop_all()
        context = self.app.app_context()
        context.push()
        self._pushed.append(context)

    def finished(self, report: Any, spool_dir: str) -> None:
        self._pop_all()

    def _pop_all(self) -> None:
        while self._pushed:
            self._pushed.pop().pop()


# --- flask spoolrt ... --------------------------------------------------------------------------


@click.command(
    "spoolrt",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def spoolrt_command(argv: tuple[str, ...]) -> None:
    """spoolrt commands for this app: serve, ls, show, stats, run, retry, purge, worker.

    `flask spoolrt serve` runs the app under uWSGI with a spooler; `flask spoolrt --help` lists
    every command.
    """
    code = main(cli_arguments(list(argv)))
    if code:
        click.get_current_context().exit(code)


def cli_arguments(argv: list[str]) -> list[str]:
    """The ``spoolrt`` command line for ``flask spoolrt <argv>``: ``serve`` gets this app as
    ``MODULE:NAME``, its import path and the configured spool dirs unless the line names them.
    The spooler imports the app's module (serve's default), which sets everything else up."""
    if argv[:1] != ["serve"]:
        return argv
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return [
        "serve",
        *serve_arguments(
            argv[1:],
            app=lambda: ":".join(app_location(app)),
            pythonpath=lambda: str(import_root(app.import_name)),
            spool_dirs=get_settings().spool_dirs,
        ),
    ]


def app_location(app: Flask) -> tuple[str, str]:
    """``(module, attribute)`` of the module-level variable holding ``app``: what uWSGI loads."""
    module = sys.modules.get(app.import_name)
    for name, value in vars(module or object()).items():
        if value is app:
            return app.import_name, name
    raise click.UsageError(
        f"the app {app.name!r} is not a module-level variable of {app.import_name!r} (made by a "
        "factory?): give uWSGI a module that holds it, e.g. a wsgi.py with `app = create_app()`, "
        "and run `flask spoolrt serve wsgi:app`"
    )


def dashboard_blueprint(
    spool_dirs: list[str] | None = None,
    *,
    authorize: Authorize | None = None,
    user: Callable[[], str] | None = None,
    name: str = "spoolrt_dashboard",
) -> Blueprint:
    """The dashboard over ``spool_dirs`` (default: spoolrt's configured ones, read at each
    request) as a blueprint; register it with a ``url_prefix``. ``authorize`` is required, as
    for ``make_app`` (``ConfigurationError`` without it, when the blueprint is made)."""
    if authorize is None or not callable(authorize):
        raise ConfigurationError(
            "the dashboard blueprint refuses to serve without authorization: pass "
            "authorize=callable(environ, method, path) -> bool"
        )
    checked: Authorize = authorize
    blueprint = Blueprint(name, __name__)
    made: dict[tuple[str, ...], Dashboard] = {}
    methods = ["GET", "HEAD", "POST"]

    @blueprint.route("/", defaults={"rest": ""}, methods=methods, strict_slashes=False)
    @blueprint.route("/<path:rest>", methods=methods)
    def serve(rest: str) -> Response:
        dirs = tuple(spool_dirs if spool_dirs is not None else get_settings().spool_dirs)
        if dirs not in made:
            made[dirs] = Dashboard(list(dirs), authorize=checked)
        full = request.script_root + request.path
        mount = full[: len(full) - len(rest)] if rest else full
        who = user() if user is not None else str(request.environ.get("REMOTE_USER") or "")
        environ = mounted_environ(
            request.environ, script_name=mount, path_info=rest, body=request.get_data(),
            user=who or "anonymous", principal=None,
        )  # fmt: skip
        status, headers, body = call(made[dirs], environ)
        return Response(body, status=status, headers=headers)

    return blueprint
