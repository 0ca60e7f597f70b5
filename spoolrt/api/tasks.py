"""Task types and task functions: what users define, and what a call to one of them spools.

``SpoolerTask`` subclasses are task *types* (uwsgiconf's model: ``process()`` gets a payload);
``TaskFunction`` wraps a function so that calling it spools the call. Both register themselves
in ``spoolrt.core.registry``, where the spooler finds them again by name, and both spool through
``spoolrt.sending.enqueue`` with a ``TaskOptions``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar, overload

from spoolrt.core.codec.envelope import Envelope
from spoolrt.core.options import NO_OPTIONS, OptionArgs, Postpone, SpoolerRef, TaskOptions
from spoolrt.core.outcomes import ResultProcessed, ResultRescheduled, ResultSkipped
from spoolrt.core.registry import (
    FUNCTION_CALL_TYPE,
    register,
    resolve_function,
    task_functions,
    task_types,
)
from spoolrt.sending.enqueue import Prepared, enqueue
from spoolrt.sending.handle import TaskHandle

if TYPE_CHECKING:
    from typing_extensions import Unpack

P = ParamSpec("P")
R = TypeVar("R")

_running: contextvars.ContextVar[SpoolerTask | None] = contextvars.ContextVar(
    "spoolrt_running_task", default=None
)


def current_task() -> SpoolerTask | None:
    """The task being run by this process right now (its ``task_id``, ``attempt``, ``envelope``),
    or None outside a task. Lets a plain function task know which attempt it is on."""
    return _running.get()


def message_for(type_id: str) -> str:
    """uwsgiconf's message for a task type: ``ucfg_<type_id>``."""
    return f"ucfg_{type_id}"


class SpoolerTask:
    """A kind of task. Subclass it, set ``type_id`` and implement ``process()``.

    ``process()`` returns ``None`` (skipped), a ``TaskResult`` (its kind), or any other value
    (processed, kept as the result); an exception reschedules it. Subclasses register themselves;
    pass ``abstract=True`` in the class statement for an intermediate base that should not.
    ``options`` (a ``TaskOptions``) are the defaults of every ``spool()`` of the type.

    Spool one with ``MyTask.spool(payload)`` or, as in uwsgiconf,
    ``Spooler.send_message_raw(f"ucfg_{MyTask.type_id}", payload=...)``.
    """

    type_id: ClassVar[str] = ""
    options: ClassVar[TaskOptions] = NO_OPTIONS

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
        if not abstract:
            register(task_types, cls.type_id, cls)

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
            "message": message_for(cls.type_id),
            "spooler": spooler,
            "priority": priority,
            "postpone": postpone,
            "payload": merged,
        }

    @classmethod
    def spool(cls, payload: Any = None, **options: Unpack[OptionArgs]) -> TaskHandle:
        """Spool one task of this type, with the type's ``options`` overridden by the ones given
        (``spooler``, ``priority``, ``postpone``, ``retries``, ``retry_delay``, ``results``,
        ``ttl``: see ``TaskOptions``)."""
        return spool_message(cls.options.merged(**options), message_for(cls.type_id), payload)


def spool_message(options: TaskOptions, message: str, payload: Any) -> TaskHandle:
    """Send ``message`` (uwsgiconf's meaning): ``ucfg_<type_id>`` goes to that task type, any
    other message to the ``SpoolerTask`` subclass whose ``type_id`` is ``""``."""
    type_id = message[5:] if message.startswith("ucfg_") else ""
    return enqueue(options, type_id=type_id, message=message, name="", payload=payload)


class FunctionCallTask(SpoolerTask):
    """Runs a function registered with a ``task`` decorator. Payload: func, arg, kwg."""

    type_id = FUNCTION_CALL_TYPE

    def process(self) -> Any:
        task_function = resolve_function(self.payload["func"])
        return task_function.func(*self.payload["arg"], **self.payload["kwg"])


class TaskFunction(Generic[P, R]):
    """A function turned into a task. Calling it spools the call and returns a ``TaskHandle``.

    ``.func`` is the original function (run it inline); ``.spool_with(args, kwargs, ...)`` spools
    with per-call options. The arguments are bound to the function's signature first, so a
    call that could never run raises ``TypeError`` here and writes nothing.
    """

    def __init__(
        self, func: Callable[P, R], *, options: TaskOptions = NO_OPTIONS, name: str | None = None
    ) -> None:
        self.func = func
        self.options = options
        self.name = name or f"{func.__module__}:{func.__qualname__}"
        self._signature = _signature_of(func)
        self._positional = _positional_range(self._signature)
        functools.update_wrapper(self, func)
        register(task_functions, self.name, self)
        self._prepared = Prepared(
            options,
            type_id=FunctionCallTask.type_id,
            message=message_for(FunctionCallTask.type_id),
            name=self.name,
        )

    @property
    def spooler(self) -> SpoolerRef | None:
        """Where calls go unless a call says otherwise (None: the default spooler)."""
        return self.options.spooler

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        return self.spool_call(self.options, args, kwargs)

    def spool(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle:
        """Spool a call with the decorator's options (same as calling the task)."""
        return self.spool_call(self.options, args, kwargs)

    def spool_with(
        self,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Unpack[OptionArgs],
    ) -> TaskHandle:
        """Spool a call, overriding the decorator's options for this call only (``spooler``,
        ``priority``, ``postpone``, ``retries``, ``retry_delay``, ``results``, ``ttl``)."""
        return self.spool_call(self.options.merged(**options), tuple(args), dict(kwargs or {}))

    def spool_call(
        self,
        options: TaskOptions,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        task_id: str | None = None,
    ) -> TaskHandle:
        """Spool one call with exactly ``options`` (the schedules' and the CLI's entry)."""
        kwargs = kwargs or {}
        self.check_call(args, kwargs)
        payload = {"func": self.name, "arg": args, "kwg": kwargs}
        prepared = self._prepared
        if options is prepared.options and self.name == prepared.kind[2]:
            return prepared.spool(payload, task_id)
        return enqueue(
            options,
            type_id=FunctionCallTask.type_id,
            message=message_for(FunctionCallTask.type_id),
            name=self.name,
            payload=payload,
            task_id=task_id,
        )

    def check_call(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Raise ``TypeError`` (as calling the function would) when the arguments do not fit."""
        if self._signature is None:
            return
        low, high = self._positional
        if not kwargs and low <= len(args) <= high:
            return  # what bind() would accept, without its 1.3 us (enqueue's hot path)
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}; nothing was spooled") from None

    def __repr__(self) -> str:
        return f"<task {self.name}>"


def _signature_of(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have none; they are checked when they run
        return None


def _positional_range(signature: inspect.Signature | None) -> tuple[float, float]:
    """(fewest, most) positional arguments that bind to ``signature`` with no keyword given;
    (1, 0), which no count fits, when a keyword-only parameter has no default."""
    if signature is None:
        return (1, 0)
    low = high = 0.0
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            high += 1
            low += parameter.default is parameter.empty  # no default after a default
        elif parameter.kind is parameter.VAR_POSITIONAL:
            high = math.inf
        elif parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            return (1, 0)
    return (low, high)


class TaskDecorator:
    """``@Spooler.task`` / ``@spooler.task(...)``: turns a function into a ``TaskFunction``.

    Used bare (``@spooler.task``) or with options (``@spooler.task(retries=5)``); either way the
    task keeps the function's parameters for type checkers, so ``add("x")`` for
    ``def add(a: int, b: int)`` is an error in mypy, not in the spooler.
    """

    def __init__(self, spooler: SpoolerRef | None = None) -> None:
        self.spooler = spooler

    @overload
    def __call__(self, func: Callable[P, R], /) -> TaskFunction[P, R]: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        **options: Unpack[OptionArgs],
    ) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...

    def __call__(
        self,
        func: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        **options: Unpack[OptionArgs],
    ) -> TaskFunction[P, R] | Callable[[Callable[P, R]], TaskFunction[P, R]]:
        """Options (``TaskOptions``' fields) are checked now, at decoration, not at the first
        call; ``name`` replaces ``module:qualname`` as the task's name.

        ``results`` ("all", "status", "off") and ``ttl`` (seconds) choose what the result store
        keeps of this task and for how long.
        """
        task_options = TaskOptions(spooler=self.spooler).merged(**options)

        def decorate(f: Callable[P, R]) -> TaskFunction[P, R]:
            return TaskFunction(f, options=task_options, name=name)

        return decorate(func) if func is not None else decorate


__all__ = [
    "FunctionCallTask",
    "SpoolerTask",
    "TaskDecorator",
    "TaskFunction",
    "current_task",
    "message_for",
    "resolve_function",
    "spool_message",
    "task_functions",
    "task_types",
]
