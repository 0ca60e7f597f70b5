"""``spoolrt run NAME [ARGS...]``: run a registered task now, in this process, or spool it.

Draco's "run this task by name" for cron jobs and debugging. The task runs as the spooler
would run it (through its task type, with ``current_task()`` set, attempt 1) but here, in the
foreground, with its exception and traceback on the terminal; no spool file is involved. With
``--spool`` it is enqueued instead, through whatever backend this process has.

Names: ``module:qualname`` of a function task (or its ``name=``), the qualname alone when only
one module has it, or the ``type_id`` of a ``SpoolerTask`` subclass. Other kinds of runnable
tasks (scheduled tasks, later) plug in through ``RUNNABLE_FINDERS``.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BackendUnavailable, ConfigurationError, EnqueueError, Retry, Skip
from ..message import Envelope, new_task_id
from ..outcomes import Outcome, to_task_result
from ..tasks import FunctionCallTask, SpoolerTask, TaskFunction, task_functions, task_types
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    UsageError,
    add_discovery_options,
    examples,
    find_spool_dirs,
    import_apps,
    warn,
    write_json,
)


@dataclass(frozen=True)
class Runnable:
    """Something ``run`` can run or spool: a task function, or a task type with a payload."""

    name: str
    function: TaskFunction[Any, Any] | None = None
    task_type: type[SpoolerTask] | None = None


#: Extra ways to find a task by name, tried in order after functions and task types. A finder
#: returns a ``Runnable`` or None. The scheduling layer will add one for scheduled tasks.
RUNNABLE_FINDERS: list[Callable[[str], Runnable | None]] = []


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run a registered task by name now, in this process (or --spool it)",
        description="Run a task now, in the foreground, as the spooler would (attempt 1), and "
        "print its outcome and result. ARGS are JSON values where they parse as JSON "
        '(42, true, null, [1,2], {"a":1}, "quoted"), plain strings otherwise. A SpoolerTask '
        "type takes one ARG (or --kwargs) as its payload.",
        epilog=examples(
            "spoolrt run --app myapp.tasks myapp.tasks:send_welcome 42",
            'spoolrt run --app myapp.tasks send_welcome 42 --kwargs \'{"lang": "fr"}\'',
            'spoolrt run --app myapp.tasks thumbnail \'{"image": "a.png"}\'   # a type_id',
            "spoolrt run --app myapp.tasks send_welcome 42 --spool --postpone 60",
            "spoolrt run --app myapp.tasks --list",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("name", nargs="?", metavar="NAME", help="module:qualname, qualname or type id")
    run.add_argument("args", nargs="*", metavar="ARGS", help="positional arguments")
    run.add_argument(
        "--kwargs",
        type=_json_object,
        default={},
        metavar="JSON",
        help="keyword arguments as a JSON object",
    )
    run.add_argument("--spool", action="store_true", help="enqueue it instead of running it")
    run.add_argument("--spooler", metavar="DIR", help="with --spool: the spool directory")
    run.add_argument("--postpone", type=float, metavar="SECONDS", help="with --spool: not before")
    run.add_argument("--priority", type=int, metavar="N", help="with --spool: priority")
    run.add_argument("--list", action="store_true", help="list the tasks that can be run")
    run.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_discovery_options(run, spool=False)
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    import_apps(args.app)
    if args.list:
        return _list(args.json)
    if not args.name:
        raise UsageError("run what? give a task NAME (see `spoolrt run --list`)")
    runnable = find_runnable(args.name)
    values = [parse_value(a) for a in args.args]
    if args.spool:
        return _spool(args, runnable, values)
    if (args.spooler, args.postpone, args.priority) != (None, None, None):
        raise UsageError("--spooler, --postpone and --priority only apply with --spool")
    return _run_here(runnable, values, args.kwargs, args.json)


def find_runnable(name: str) -> Runnable:
    """The task called ``name``; ``CliError`` (exit 1) naming the candidates otherwise."""
    if name in task_functions:
        return Runnable(name, function=task_functions[name])
    if name in task_types and name:
        return Runnable(name, task_type=task_types[name])
    for finder in RUNNABLE_FINDERS:
        found = finder(name)
        if found is not None:
            return found
    by_qualname = [n for n in task_functions if n.rpartition(":")[2] == name]
    if len(by_qualname) == 1:
        return Runnable(by_qualname[0], function=task_functions[by_qualname[0]])
    if by_qualname:
        raise CliError(f"{name!r} is ambiguous: " + ", ".join(sorted(by_qualname)))
    hint = "; is its module imported? pass --app MODULE" if not task_functions else ""
    known = ", ".join(sorted(task_functions)[:10]) or "none"
    raise CliError(f"no task named {name!r}{hint} (known: {known})")


def parse_value(text: str) -> Any:
    """A command-line value: JSON where it parses (so ``42`` is an int), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--kwargs is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--kwargs must be a JSON object, e.g. '{\"a\": 1}'")
    return value


def _payload(runnable: Runnable, values: list[Any], kwargs: dict[str, Any]) -> Any:
    """A task type's payload: its one ARG, or the --kwargs object."""
    if len(values) > 1 or (values and kwargs):
        raise UsageError(f"task type {runnable.name!r} takes one payload: one ARG or --kwargs")
    return values[0] if values else (kwargs or None)


def _run_here(runnable: Runnable, values: list[Any], kwargs: dict[str, Any], as_json: bool) -> int:
    if runnable.function is not None:
        task_cls: type[SpoolerTask] = FunctionCallTask
        payload: Any = {"func": runnable.function.name, "arg": tuple(values), "kwg": kwargs}
    else:
        assert runnable.task_type is not None
        task_cls, payload = runnable.task_type, _payload(runnable, values, kwargs)
    envelope = Envelope(
        task_id=new_task_id(),
        type_id=task_cls.type_id,
        message=f"ucfg_{task_cls.type_id}",
        name=runnable.function.name if runnable.function else "",
        retries=0,
        enqueued_at=time.time(),
    )
    task = task_cls("spoolrt-run", envelope.message, payload, envelope)
    started = time.perf_counter()
    error = ""
    try:
        result = to_task_result(task.invoke())
        outcome, value = result.outcome.value, result.result
    except Skip as exc:
        outcome, value, error = Outcome.SKIPPED.value, None, str(exc)
    except Retry as exc:
        outcome, value, error = "retry-requested", None, str(exc)
    except Exception as exc:
        outcome, value, error = "failed", None, f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    seconds = time.perf_counter() - started
    if as_json:
        write_json(
            {
                "task": runnable.name,
                "id": envelope.task_id,
                "outcome": outcome,
                "result": _jsonable(value),
                "error": error or None,
                "seconds": round(seconds, 6),
            }
        )
    else:
        print(f"{runnable.name}: {outcome} in {seconds:.3f}s")
        if value is not None:
            print(f"result: {_show(value)}")
        if error:
            print(f"error: {error}")
    ok = outcome in (Outcome.PROCESSED.value, Outcome.SKIPPED.value)
    return EXIT_OK if ok else EXIT_FAILURE


def _spool(args: argparse.Namespace, runnable: Runnable, values: list[Any]) -> int:
    dirs, _source = find_spool_dirs([args.spooler] if args.spooler else [], required=False)
    if dirs:
        from ..config import configure

        configure(spool_dirs=dirs)
    options: dict[str, Any] = {"postpone": args.postpone, "priority": args.priority}
    if args.spooler:
        options["spooler"] = dirs[0]
    try:
        if runnable.function is not None:
            handle = runnable.function.spool_with(tuple(values), args.kwargs, **options)
        else:
            assert runnable.task_type is not None
            payload = _payload(runnable, values, args.kwargs)
            handle = runnable.task_type.spool(payload, **options)
    except BackendUnavailable as exc:
        raise CliError(
            f"cannot spool from outside uWSGI yet: {exc}\n"
            "(spoolrt's local backend, which writes spool files from any process, is not part "
            "of this version; run the task here without --spool, or spool it from the app)"
        ) from exc
    except (EnqueueError, ConfigurationError) as exc:
        raise CliError(f"cannot spool {runnable.name}: {exc}") from exc
    if args.json:
        write_json(
            {
                "task": runnable.name,
                "id": handle.task_id,
                "path": handle.path,
                "spooler": handle.spooler,
            }
        )
    else:
        print(f"spooled {runnable.name} id={handle.task_id} -> {handle.path}")
    return EXIT_OK


def _list(as_json: bool) -> int:
    functions = sorted(task_functions)
    types = sorted(t for t in task_types if t and t != FunctionCallTask.type_id)
    if as_json:
        write_json({"functions": functions, "types": types})
        return EXIT_OK
    if not functions and not types:
        warn("no tasks registered: pass --app MODULE (or set SPOOLRT_APP)")
        return EXIT_FAILURE
    for name in functions:
        print(name)
    for type_id in types:
        print(
            f"{type_id}  (SpoolerTask {task_types[type_id].__module__}."
            f"{task_types[type_id].__qualname__})"
        )
    return EXIT_OK


def _show(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


__all__ = ["RUNNABLE_FINDERS", "Runnable", "find_runnable", "parse_value"]
