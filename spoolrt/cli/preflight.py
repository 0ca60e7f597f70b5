"""``spoolrt serve``'s check before it starts uWSGI: the app and the task modules import, and
where the signing key they end up with comes from (for the generated ini's header).

uWSGI reports a typo in the app as ``unable to load app 0 ... (callable not found or import
error)`` somewhere in its start-up output, and a broken task module only in the spooler's log.
Importing them first, in a child process as uWSGI will, names the one that failed and why.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback
from typing import TYPE_CHECKING

from spoolrt.cli._common import CliError, warn
from spoolrt.core.codec.serializers import ENV_SECRET_KEY, default_key_file
from spoolrt.core.config import DERIVED_FROM, get_settings

if TYPE_CHECKING:
    from spoolrt.cli.serve import ServeConfig


def key_source(*, imported: bool) -> str:
    """Where this process's signing key comes from, in the order spoolrt looks (see
    ``spoolrt.core.config``). ``imported=False``: the app was not imported here, and may still
    configure a key of its own (a Django or Flask app derives one from its ``SECRET_KEY``)."""
    settings = get_settings()
    if not settings.signing:
        return "none, signing is OFF (any file in the spool directory runs)"
    if settings.secret_key:
        derived = DERIVED_FROM.get(str(settings.secret_key))
        return f"derived from {derived}" if derived else "spoolrt.configure(secret_key=...)"
    if os.environ.get(ENV_SECRET_KEY):
        found = f"${ENV_SECRET_KEY}"
    else:
        found = f"the key file {default_key_file()}"
    return found if imported else f"{found}, unless the app configures its own"


#: The last line a pre-flight child prints: this marker, then its findings as JSON.
PREFLIGHT_MARK = "spoolrt-preflight: "


def preflight(config: ServeConfig) -> str:
    """Import the app (and check its callable) and each task module in a child process, as
    uWSGI will, before uWSGI starts: a typo then gets its own error and traceback instead of
    uWSGI's "unable to load app 0 ... (callable not found or import error)" in its start-up
    output. A child, so that nothing the app does at import stays in this process (which
    becomes the uWSGI master). Returns the key source the imported app ends up with."""
    code = "import sys; from spoolrt.cli.preflight import child_main; child_main(sys.argv[1:])"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in [*config.pythonpath, os.environ.get("PYTHONPATH", "")] if p
        ),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, config.app, *config.tasks],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        warn("spoolrt serve: importing the app took over 120 s; starting uWSGI without the check")
        return ""
    lines = [line for line in done.stdout.splitlines() if line.startswith(PREFLIGHT_MARK)]
    if not lines:
        raise CliError(f"spoolrt serve: checking the app's import failed:\n{done.stderr.strip()}")
    found = json.loads(lines[-1][len(PREFLIGHT_MARK) :])
    if found.get("uwsgi_only"):
        warn(
            f"spoolrt serve: {found['what']} imports {found['uwsgi_only']}, which exists only "
            "inside uWSGI: not checked before start"
        )
        return ""
    if "error" in found:
        raise CliError(
            f"spoolrt serve: cannot {found['what']}: {found['error']}\n{found['traceback']}"
            "(uWSGI was not started; --no-import-check skips this check)"
        )
    return str(found["key"])


def child_main(argv: list[str]) -> None:
    """The child's side of ``preflight``: one JSON line after the marker, whatever happens."""
    app, *tasks = argv
    module, _, name = app.partition(":")
    what = f"load the app {app!r}"
    try:
        loaded = importlib.import_module(module)
        if not hasattr(loaded, name):
            raise AttributeError(f"module {module!r} has no attribute {name!r} (the WSGI callable)")
        for task_module in tasks:
            what = f"import the task module {task_module!r}"
            importlib.import_module(task_module)
        found: dict[str, str] = {"key": key_source(imported=True)}
    except ModuleNotFoundError as exc:
        if exc.name in ("uwsgi", "uwsgidecorators"):
            found = {"what": what, "uwsgi_only": exc.name}
        else:
            found = _failure(what, exc)
    except BaseException as exc:  # whatever the app raises (SystemExit too) is the answer
        found = _failure(what, exc)
    sys.stdout.write("\n" + PREFLIGHT_MARK + json.dumps(found) + "\n")


def _failure(what: str, exc: BaseException) -> dict[str, str]:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return {
        "what": what,
        "error": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
        "traceback": "".join(traceback.format_list(frames)),
    }
