"""``spoolrt run NAME [ARGS...]``: run a registered task now, in this process, or spool it.

Draco's "run this task by name" for cron jobs and debugging. The task runs as the spooler
would run it (through its task type, with ``current_task()`` set, attempt 1) but here, in the
foreground, with its exception and traceback on the terminal; no spool file is involved. With
``--spool`` it is enqueued instead, through whatever backend this process has.

Names, tried in this order: the ``module:qualname`` of a function task (or its ``name=``); the
``type_id`` of a ``SpoolerTask`` subclass; the name of a scheduled task (periodic, cron or
``ScheduledTask``); what ``RUNNABLE_FINDERS`` find; then a
function's or a schedule's last name part alone (``send_welcome``) when only one has it.

JSON shapes: ``run --json`` prints ``{"task", "id", "outcome": "processed|skipped|failed|
retry-requested", "result", "error", "seconds"}``; with ``--spool``, ``{"task", "id", "path",
"spooler"}``; ``run --list --json``, ``{"functions": [...], "types": [...], "scheduled": [...]}``.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spoolrt.api.schedules import registry, run_target, scheduled_names, spool_entry
from spoolrt.api.tasks import (
    FunctionCallTask,
    SpoolerTask,
    TaskFunction,
    task_functions,
    task_types,
)
from spoolrt.cli._common import (
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
from spoolrt.core.codec.envelope import Envelope, new_task_id
from spoolrt.core.config import configure
from spoolrt.core.errors import BackendUnavailable, ConfigurationError, EnqueueError, Retry, Skip
from spoolrt.core.outcomes import Outcome, to_task_result
from spoolrt.sending.handle import TaskHandle


@dataclass(frozen=True)
class Runnable:
    """Something ``run`` can run or spool: a task function, a task type (which takes a
    payload), or another kind of task given as two callables that take no arguments."""

    name: str
    function: TaskFunction[Any, Any] | None = None
    task_type: type[SpoolerTask] | None = None
    run_now: Callable[[], Any] | None = None
    spool_now: Callable[[], TaskHandle] | None = None


#: Extra ways to find a task by name, tried in order after the exact names of functions, task
#: types and schedules. A finder returns a ``Runnable`` or None.
RUNNABLE_FINDERS: list[Callable[[str], Runnable | None]] = []


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run a registered task by name now, in this process (or --spool it)",
        description="Run a task now, in the foreground, as the spooler would (attempt 1), and "
        "print its outcome and result. ARGS are JSON values where they parse as JSON "
        '(42, true, null, [1,2], {"a":1}, "quoted"), plain strings otherwise. A SpoolerTask '
        "type takes one ARG (or --kwargs) as its payload; a scheduled task takes none.",
        epilog=examples(
            "spoolrt run --app myapp.tasks myapp.tasks:send_welcome 42",
            'spoolrt run --app myapp.tasks send_welcome 42 --kwargs \'{"lang": "fr"}\'',
            'spoolrt run --app myapp.tasks thumbnail \'{"image": "a.png"}\'   # a type_id',
            "spoolrt run --app myapp.tasks send_welcome 42 --spool --postpone 60",
            "spoolrt run --app myapp.tasks Nightly      # a ScheduledTask, out of its schedule",
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
    schedules = _schedules()
    if name in schedules:
        return schedules[name]
    for finder in RUNNABLE_FINDERS:
        found = finder(name)
        if found is not None:
            return found
    short = {n: Runnable(n, function=f) for n, f in task_functions.items() if _tail(n) == name}
    short.update((n, r) for n, r in schedules.items() if _tail(n) == name and n not in short)
    if len(short) == 1:
        return next(iter(short.values()))
    if short:
        raise CliError(f"{name!r} is ambiguous: " + ", ".join(sorted(short)))
    known_names = sorted([*task_functions, *schedules])
    hint = "; is its module imported? pass --app MODULE" if not known_names else ""
    known = ", ".join(known_names[:10]) or "none"
    raise CliError(f"no task named {name!r}{hint} (known: {known})")


def _tail(name: str) -> str:
    """The last part of a task name: ``send`` of ``app.tasks:send``, ``Nightly`` of
    ``app.tasks.Nightly``."""
    return name.rpartition(":")[2].rpartition(".")[2]


def _schedules() -> dict[str, Runnable]:
    """Scheduled tasks by name."""
    found = {}
    for name in scheduled_names():
        entry = registry.get(name)
        found[name] = Runnable(
            name,
            run_now=functools.partial(run_target, entry),
            spool_now=functools.partial(spool_entry, entry),
        )
    return found


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
    task_id, call = _prepare(runnable, values, kwargs)
    started = time.perf_counter()
    error = ""
    try:
        result = to_task_result(call())
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
                "id": task_id,
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


def _prepare(
    runnable: Runnable, values: list[Any], kwargs: dict[str, Any]
) -> tuple[str | None, Callable[[], Any]]:
    """The task id (None for other kinds) and the call that runs ``runnable`` as the spooler
    would: through its task type, with ``current_task()`` set, attempt 1 of 1."""
    if runnable.run_now is not None:
        if values or kwargs:
            raise UsageError(f"{runnable.name!r} is a scheduled task: it takes no arguments")
        return None, runnable.run_now
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
    return envelope.task_id, task.invoke


def _spool(args: argparse.Namespace, runnable: Runnable, values: list[Any]) -> int:
    dirs, _source = find_spool_dirs([args.spooler] if args.spooler else [], required=False)
    if dirs:
        configure(spool_dirs=dirs)
    options: dict[str, Any] = {"postpone": args.postpone, "priority": args.priority}
    if args.spooler:
        options["spooler"] = dirs[0]
    try:
        if runnable.spool_now is not None:
            if values or args.kwargs or args.postpone is not None or args.priority is not None:
                raise UsageError(
                    f"{runnable.name!r} is a scheduled task: it is spooled with its own options"
                )
            handle = runnable.spool_now()
        elif runnable.function is not None:
            handle = runnable.function.spool_with(tuple(values), args.kwargs, **options)
        else:
            assert runnable.task_type is not None
            payload = _payload(runnable, values, args.kwargs)
            handle = runnable.task_type.spool(payload, **options)
    except BackendUnavailable as exc:
        raise CliError(f"cannot spool {runnable.name}: {exc}; or pass --spooler DIR") from exc
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
    scheduled = sorted(_schedules())
    if as_json:
        write_json({"functions": functions, "types": types, "scheduled": scheduled})
        return EXIT_OK
    if not functions and not types and not scheduled:
        warn("no tasks registered: pass --app MODULE (or set SPOOLRT_APP)")
        return EXIT_FAILURE
    for name in functions:
        print(name)
    for name in scheduled:
        print(f"{name}  (scheduled)")
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
