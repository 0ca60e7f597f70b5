"""``Spooler``: one spool directory, and the class-level API uwsgiconf users know.

Code written for ``uwsgiconf.runtime.spooler`` runs after changing its import to
``from spoolrt import Spooler, SpoolerTask, ...``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import backends
from .config import get_settings
from .errors import ConfigurationError, InvalidTaskOption, UnknownSpooler
from .handle import TaskHandle
from .inspection import TaskInfo, describe_file, peek_header
from .message import Envelope, encode_body, new_task_id, spool_vars
from .options import Postpone, check_delay, check_priority, check_retries, resolve_at
from .parking import iter_parked, place_spool_file, should_park
from .results.base import ResultStore
from .results.tracking import store_for
from .serializers import SERIALIZERS, get_serializer
from .spooldir import iter_pending
from .spoolfile import pack
from .tasks import SpoolerTask, TaskFunction

if TYPE_CHECKING:
    from .schedule import CronDecorator, PeriodicDecorator

F = TypeVar("F", bound=Callable[..., Any])


class _TaskDecorator:
    """``@Spooler.task(...)`` spools to the default spooler, ``@spooler.task(...)`` to that one."""

    def __get__(self, instance: Spooler | None, owner: type[Spooler]) -> _BoundTaskDecorator:
        return _BoundTaskDecorator(instance)


class _BoundTaskDecorator:
    def __init__(self, spooler: Spooler | None) -> None:
        self.spooler = spooler

    def __call__(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        priority: int | None = None,
        postpone: Postpone | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
        results: str | None = None,
        ttl: float | None = None,
    ) -> Any:
        """Turn a function into a task; options are checked now, not at the first call.

        ``results`` ("all", "status", "off") and ``ttl`` (seconds) choose what the result store
        keeps of this task and for how long.
        """
        check_priority(priority)
        if retries is not None:
            check_retries(retries)
        if retry_delay is not None:
            check_delay(retry_delay)
        if postpone is not None:
            resolve_at(postpone, time.time())

        def decorate(f: Callable[..., Any]) -> TaskFunction[Any, Any]:
            return TaskFunction(
                f,
                spooler=self.spooler,
                name=name,
                priority=priority,
                postpone=postpone,
                retries=retries,
                retry_delay=retry_delay,
                results=results,
                ttl=ttl,
            )

        return decorate(func) if func is not None else decorate


class _PeriodicDecorator:
    """``@Spooler.periodic(seconds=...)`` schedules on the default spooler, ``@spooler.periodic``
    on that one (see ``spoolrt.schedule``, imported on first use to keep ``import spoolrt`` light).
    """

    def __get__(self, instance: Spooler | None, owner: type[Spooler]) -> PeriodicDecorator:
        from .schedule import PeriodicDecorator

        return PeriodicDecorator(instance)


class _CronDecorator:
    """``@Spooler.cron("*/15 9-17 * * mon-fri")``, bound like ``periodic``."""

    def __get__(self, instance: Spooler | None, owner: type[Spooler]) -> CronDecorator:
        from .schedule import CronDecorator

        return CronDecorator(instance)


class Spooler:
    """One spool directory. ``name`` is its path (or, with ``get_by_basename``, found by name)."""

    task = _TaskDecorator()
    periodic = _PeriodicDecorator()
    cron = _CronDecorator()

    def __init__(self, name: str | os.PathLike[str], *, serializer: str | None = None) -> None:
        """``serializer`` ("pickle" or "json") overrides ``configure(serializer=...)`` for tasks
        sent through this object, e.g. ``mail = Spooler(path, serializer="json")`` and then
        ``@mail.task()``; it is recorded in each envelope, so the spooler decodes any mix."""
        if serializer is not None and serializer not in SERIALIZERS:
            raise ConfigurationError(
                f"unknown serializer {serializer!r}; choose one of {', '.join(SERIALIZERS)}"
            )
        self.name = os.fspath(name)
        self.serializer = serializer

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Spooler({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spooler) and self.dir == other.dir

    def __hash__(self) -> int:
        return hash(self.dir)

    @property
    def dir(self) -> str:
        """The directory's real path: uWSGI matches a spooler only by its exact real path.
        Resolved once per object (three ``lstat`` calls: a third of an enqueue otherwise)."""
        real = self.__dict__.get("_dir")
        if real is None:
            real = self.__dict__["_dir"] = os.path.realpath(self.name)
        return real

    @classmethod
    def _for_dir(cls, real_dir: str) -> Spooler:
        """The shared object for a directory the backend reported (already a real path)."""
        spooler = _by_dir.get(real_dir)
        if spooler is None:
            spooler = cls(real_dir)
            spooler.__dict__["_dir"] = real_dir
            _by_dir[real_dir] = spooler
        return spooler

    # --- discovery ----------------------------------------------------------------------------

    @classmethod
    def get_spoolers(cls) -> list[Spooler]:
        """Every spooler this process can send to, the default one first."""
        try:
            dirs = backends.current().spooler_dirs()
        except ConfigurationError:
            dirs = []
        return [cls._for_dir(d) for d in dirs]

    @classmethod
    def get_by_basename(cls, name: str) -> Spooler | None:
        """The first spooler whose directory's last component is ``name``, or None."""
        for spooler in cls.get_spoolers():
            if os.path.basename(spooler.dir.rstrip(os.sep)) == name:
                return spooler
        return None

    @classmethod
    def resolve(cls, spooler: Spooler | str | os.PathLike[str] | None) -> Spooler:
        """A ``Spooler`` from a Spooler, a directory, a basename, or None (the default one)."""
        known = cls.get_spoolers()
        if spooler is None:
            if not known:
                raise ConfigurationError(
                    "no spooler is configured: add `spooler = <dir>` to the uWSGI ini "
                    "(or configure spool_dirs outside uWSGI)"
                )
            return known[0]
        if not isinstance(spooler, Spooler):
            text = os.fspath(spooler)
            found = cls.get_by_basename(text) if os.sep not in text else None
            spooler = found or cls(text)
        if known and not any(spooler.dir == k.dir for k in known):
            raise UnknownSpooler(
                f"{spooler.name!r} is not a spooler of this process; known: "
                + ", ".join(s.dir for s in known)
            )
        return spooler

    @classmethod
    def get_pids(cls) -> list[int]:
        """PIDs of all spooler processes (empty where the backend cannot tell)."""
        return backends.current().pids()

    @classmethod
    def set_period(cls, seconds: int) -> bool:
        """Set how often spoolers scan their directories (``spooler-frequency``)."""
        return backends.current().set_period(seconds)

    @classmethod
    def get_tasks(cls) -> list[str]:
        """Every pending task of every spooler, priority sub-directories included."""
        return [path for spooler in cls.get_spoolers() for path in spooler.pending()]

    def pending(self) -> list[str]:
        """Pending spool files of this spooler, in the order uWSGI would run them, then the
        parked far-future ones (soonest first)."""
        return [*iter_pending(self.dir), *iter_parked(self.dir)]

    @classmethod
    def get_result(cls, task_id: str, spooler: Spooler | str | None = None) -> TaskHandle | None:
        """A handle for ``task_id`` rebuilt from the id alone (any process), or None if no
        spooler's store knows it and no pending spool file carries it."""
        candidates = [cls.resolve(spooler)] if spooler is not None else cls.get_spoolers()
        for candidate in candidates:
            store = candidate.results()
            record = store.get(task_id) if store is not None else None
            if record is not None:
                return TaskHandle(
                    "", task_id=task_id, task_name=record.name or "", spooler=candidate.dir
                )
            for path in candidate.pending():
                header = peek_header(path)
                if header is not None and header.get("id") == task_id:
                    name = str(header.get("name") or header.get("msg") or "")
                    return TaskHandle(path, task_id=task_id, task_name=name, spooler=candidate.dir)
        return None

    def results(self) -> ResultStore | None:
        """This spooler's result store (None when results are off): ``list()``, ``counts()``..."""
        return store_for(self.dir)

    @classmethod
    def read_task_file(cls, path: str | bytes | os.PathLike[str]) -> TaskInfo:
        """Decode a spool file (str or bytes path) without running it."""
        raw = os.fsdecode(path)
        return describe_file(raw, get_settings().signer())

    # --- sending ------------------------------------------------------------------------------

    @classmethod
    def send_message_raw(
        cls,
        message: str,
        *,
        spooler: Spooler | str | None = None,
        priority: int | None = None,
        postpone: Postpone | None = None,
        payload: Any = None,
    ) -> TaskHandle:
        """Send ``message`` (uwsgiconf's meaning): ``ucfg_<type_id>`` goes to that task type,
        any other message to the ``SpoolerTask`` subclass whose ``type_id`` is ``""``."""
        type_id = message[5:] if message.startswith("ucfg_") else ""
        return cls.resolve(spooler).enqueue(
            type_id=type_id,
            message=message,
            name="",
            payload=payload,
            priority=priority,
            postpone=postpone,
        )

    def enqueue(
        self,
        *,
        type_id: str,
        message: str,
        name: str,
        payload: Any,
        priority: int | None = None,
        postpone: Postpone | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
        options: dict[str, Any] | None = None,
        task_id: str | None = None,
    ) -> TaskHandle:
        """Build, sign and spool one task; every check happens before anything is written.

        ``task_id`` names the task instead of a fresh id, for callers whose task has an identity
        of its own (a schedule slot's key); it must be unique, spoolrt does not check that.
        """
        if task_id is not None and (not isinstance(task_id, str) or not task_id):
            raise InvalidTaskOption(f"task_id must be a non-empty str, got {task_id!r}")
        settings = get_settings()
        serializer = self.serializer or settings.serializer
        backend = backends.current()
        now = time.time()
        priority = check_priority(priority)
        spool_dir = self.dir
        if priority is not None:
            backend.check_priority(spool_dir)
        envelope = Envelope(
            task_id=new_task_id() if task_id is None else task_id,
            type_id=type_id,
            message=message,
            name=name,
            payload=get_serializer(serializer).dumps(payload),
            serializer=serializer,
            retries=check_retries(settings.retries if retries is None else retries),
            retry_delay=check_delay(settings.retry_delay if retry_delay is None else retry_delay),
            at=resolve_at(postpone, now),
            priority=priority,
            spooler=spool_dir,
            enqueued_at=now,
            options=options or {},
        )
        body = encode_body(envelope, settings.signer())
        if backend.parks and should_park(envelope.at, now):
            path = place_spool_file(
                spool_dir,
                pack(spool_vars(envelope), body),
                at=envelope.at,
                priority=priority,
                durable=settings.durable_writes,
                now=now,
            )
        else:
            path = backend.spool(spool_dir, envelope, body)
        return TaskHandle(
            path, task_id=envelope.task_id, task_name=envelope.label, spooler=spool_dir
        )


#: One Spooler object per directory reported by a backend (their real paths are known).
_by_dir: dict[str, Spooler] = {}

__all__ = ["Spooler", "SpoolerTask"]
