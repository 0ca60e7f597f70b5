"""Task types and task functions, and the registries that find them again in the spooler.

A spool file names a task *type* (``SpoolerTask.type_id``); the function-call type then names a
*function* by ``module:qualname``. Both registries refuse a second, different owner of a name at
definition time, but accept the same definition run again (uWSGI's ``spooler-import`` can execute
a task module a second time in the spooler process).
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar

from .errors import DuplicateTaskName, InvalidTaskOption, UnknownTask
from .outcomes import ResultProcessed, ResultRescheduled, ResultSkipped

if TYPE_CHECKING:
    from .handle import TaskHandle
    from .message import Envelope
    from .spooler import Spooler

log = logging.getLogger("spoolrt")

P = ParamSpec("P")
R = TypeVar("R")

Postpone = datetime | timedelta | int | float

#: type_id -> SpoolerTask subclass, filled by ``SpoolerTask.__init_subclass__``.
task_types: dict[str, type[SpoolerTask]] = {}

#: ``module:qualname`` -> TaskFunction, filled by the ``task`` decorators.
task_functions: dict[str, TaskFunction[Any, Any]] = {}


def _origin(obj: Any) -> tuple[str, str]:
    """Where a definition comes from; the same pair means the same definition run again."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_filename, str(code.co_firstlineno)
    return getattr(obj, "__module__", ""), getattr(obj, "__qualname__", "")


def _register(
    registry: dict[str, Any], name: str, owner: Any, origin: tuple[str, str], module: str
) -> None:
    """Claim ``name`` for ``owner``; re-running the same definition (or ``__main__``) replaces."""
    current = registry.get(name)
    if current is not None and current is not owner:
        same_definition = getattr(current, "_spoolrt_origin", None) == origin
        if not same_definition and module != "__main__":
            raise DuplicateTaskName(
                f"task name {name!r} is already taken by {current!r}; give one of them "
                "another name (task(name=...) or type_id)"
            )
    registry[name] = owner


_running: contextvars.ContextVar[SpoolerTask | None] = contextvars.ContextVar(
    "spoolrt_running_task", default=None
)


def current_task() -> SpoolerTask | None:
    """The task being run by this process right now (its ``task_id``, ``attempt``, ``envelope``),
    or None outside a task. Lets a plain function task know which attempt it is on."""
    return _running.get()


class SpoolerTask:
    """A kind of task. Subclass it, set ``type_id`` and implement ``process()``.

    ``process()`` returns ``None`` (skipped), a ``TaskResult`` (its kind), or any other value
    (processed, kept as the result); an exception reschedules it. Subclasses register themselves;
    pass ``abstract=True`` in the class statement for an intermediate base that should not.

    Spool one with ``MyTask.spool(payload)`` or, as in uwsgiconf,
    ``Spooler.send_message_raw(f"ucfg_{MyTask.type_id}", payload=...)``.
    """

    type_id: ClassVar[str] = ""

    mark_processed = ResultProcessed
    mark_skipped = ResultSkipped
    mark_rescheduled = ResultRescheduled

    def __init__(
        self, name: str, message: str, payload: Any, envelope: Envelope | None = None
    ) -> None:
        self.name = name
        self.message = message
        self.payload = payload
        self.envelope = envelope

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        origin = (cls.__module__, cls.__qualname__)
        cls._spoolrt_origin = origin  # type: ignore[attr-defined]
        _register(task_types, cls.type_id, cls, origin, cls.__module__)

    @property
    def task_id(self) -> str:
        return self.envelope.task_id if self.envelope else ""

    @property
    def attempt(self) -> int:
        return self.envelope.attempt if self.envelope else 1

    def invoke(self) -> Any:
        """Call ``process()`` with this task visible to ``current_task()``."""
        token = _running.set(self)
        try:
            return self.process()
        finally:
            _running.reset(token)

    def process(self) -> Any:
        """Do the work. The base class treats every message as processed (as uwsgiconf did)."""
        return True

    @classmethod
    def build_message(
        cls,
        spooler: str | None = None,
        priority: int | None = None,
        postpone: Postpone | None = None,
        payload: Any = None,
    ) -> dict[str, Any]:
        """Keyword arguments for ``Spooler.send_message_raw`` (uwsgiconf's helper, kept).

        As in uwsgiconf, a dict payload also carries the spooler, priority and postpone.
        """
        merged = {"spooler": spooler, "priority": priority, "postpone": postpone}
        merged.update(payload or {})
        return {
            "message": f"ucfg_{cls.type_id}",
            "spooler": spooler,
            "priority": priority,
            "postpone": postpone,
            "payload": merged,
        }

    @classmethod
    def spool(
        cls,
        payload: Any = None,
        *,
        spooler: Spooler | str | None = None,
        priority: int | None = None,
        postpone: Postpone | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
    ) -> TaskHandle:
        """Spool one task of this type."""
        from .spooler import Spooler

        target = Spooler.resolve(spooler)
        return target.enqueue(
            type_id=cls.type_id,
            message=f"ucfg_{cls.type_id}",
            name="",
            payload=payload,
            priority=priority,
            postpone=postpone,
            retries=retries,
            retry_delay=retry_delay,
        )


class FunctionCallTask(SpoolerTask):
    """Runs a function registered with a ``task`` decorator. Payload: func, arg, kwg."""

    type_id = "fcall"

    def process(self) -> Any:
        name = self.payload["func"]
        task_function = task_functions.get(name)
        if task_function is None:
            raise UnknownTask(
                f"no task function {name!r} in this process: is its module imported in the "
                "spooler (spooler-import)?"
            )
        return task_function.func(*self.payload["arg"], **self.payload["kwg"])


def resolve_function(name: str) -> TaskFunction[Any, Any]:
    try:
        return task_functions[name]
    except KeyError:
        raise UnknownTask(f"no task function {name!r} is registered") from None


class TaskFunction(Generic[P, R]):
    """A function turned into a task. Calling it spools the call and returns a ``TaskHandle``.

    ``.func`` is the original function (run it inline); ``.spool_with(args, kwargs, ...)`` spools
    with per-call options.
    """

    def __init__(
        self,
        func: Callable[P, R],
        *,
        spooler: Spooler | None,
        name: str | None = None,
        priority: int | None = None,
        postpone: Postpone | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
        results: str | None = None,
        ttl: float | None = None,
    ) -> None:
        self.func = func
        self.spooler = spooler
        self.name = name or f"{func.__module__}:{func.__qualname__}"
        self.priority = priority
        self.postpone = postpone
        self.retries = retries
        self.retry_delay = retry_delay
        self.options = task_options(results=results, ttl=ttl)
        self._spoolrt_origin = _origin(func)
        functools.update_wrapper(self, func)
        _register(task_functions, self.name, self, self._spoolrt_origin, func.__module__)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        return self.spool_with(args, kwargs)

    def spool(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        """Spool a call with the decorator's options (same as calling the task)."""
        return self.spool_with(args, kwargs)

    def spool_with(
        self,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        spooler: Spooler | str | None = None,
        priority: int | None = None,
        postpone: Postpone | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
    ) -> TaskHandle:
        """Spool a call, overriding the decorator's options for this call only."""
        from .spooler import Spooler

        target = Spooler.resolve(spooler if spooler is not None else self.spooler)
        return target.enqueue(
            type_id=FunctionCallTask.type_id,
            message=f"ucfg_{FunctionCallTask.type_id}",
            name=self.name,
            payload={"func": self.name, "arg": tuple(args), "kwg": dict(kwargs or {})},
            priority=priority if priority is not None else self.priority,
            postpone=postpone if postpone is not None else self.postpone,
            retries=retries if retries is not None else self.retries,
            retry_delay=retry_delay if retry_delay is not None else self.retry_delay,
            options=self.options,
        )

    def __repr__(self) -> str:
        return f"<task {self.name}>"


def task_options(*, results: str | None = None, ttl: float | None = None) -> dict[str, Any]:
    """Per-task options that travel (signed) in the envelope; checked at decoration time."""
    options: dict[str, Any] = {}
    if results is not None:
        if results not in ("all", "status", "off"):
            raise InvalidTaskOption(f"results must be 'all', 'status' or 'off', not {results!r}")
        options["results"] = results
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise InvalidTaskOption(f"ttl must be a positive number of seconds, not {ttl!r}")
        options["ttl"] = float(ttl)
    return options
