"""``manage.py spoolrt serve`` and ``flask spoolrt serve``: the ``spoolrt serve`` command line
completed with what the framework already knows (the WSGI app, its import path, the modules
the spooler imports, the configured spool directories). Anything the user typed wins."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

#: ``spoolrt serve`` options that take a value (so that value is not taken for the app).
VALUE_OPTIONS = frozenset(
    {"--tasks", "--http", "--workers", "-w", "--threads", "--spooler-processes", "--spool"}
    | {"--frequency", "--pythonpath", "--state"}
)


def wants_help(args: Sequence[str]) -> bool:
    return "-h" in args or "--help" in args


def has_option(args: Sequence[str], option: str) -> bool:
    return any(a == option or a.startswith(f"{option}=") for a in args)


def has_positional(args: Sequence[str]) -> bool:
    expects_value = False
    for arg in args:
        if expects_value:
            expects_value = False
        elif arg.startswith("-"):
            expects_value = arg in VALUE_OPTIONS
        else:
            return True
    return False


def serve_arguments(
    args: Sequence[str],
    *,
    app: Callable[[], str],
    pythonpath: Callable[[], str],
    tasks: Sequence[str] = (),
    spool_dirs: Sequence[str] = (),
) -> list[str]:
    """The arguments after ``serve``: ``-w`` spelled ``--workers``, then the app (``MODULE:NAME``)
    and its import path, the spooler's ``--tasks`` and the ``--spool`` directories, each added
    only when ``args`` does not give it."""
    given = ["--workers" if a == "-w" else a for a in args]
    if wants_help(given):
        return given
    extra: list[str] = []
    if not has_positional(given):
        extra.append(app())
    if not has_option(given, "--pythonpath"):
        extra += ["--pythonpath", pythonpath()]
    if not has_option(given, "--tasks"):
        for module in tasks:
            extra += ["--tasks", module]
    if not has_option(given, "--spool"):
        for directory in spool_dirs:
            extra += ["--spool", directory]
    return [*extra, *given]


def import_root(module_name: str) -> Path:
    """The directory ``module_name`` (already imported) is imported from: uWSGI's pythonpath."""
    module = sys.modules[module_name]
    path = Path(module.__file__ or "").resolve()
    depth = module_name.count(".") + (1 if path.name == "__init__.py" else 0)
    return path.parents[depth]
