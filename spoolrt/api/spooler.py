"""``Spooler``: one spool directory, and the class-level API uwsgiconf users know.

Code written for ``uwsgiconf.runtime.spooler`` runs after changing its import to
``from spoolrt import Spooler, SpoolerTask, ...``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from spoolrt.api.schedules.decorators import CronDecorator, PeriodicDecorator
from spoolrt.api.tasks import SpoolerTask, TaskDecorator, spool_message
from spoolrt.core.codec.serializers import SERIALIZERS
from spoolrt.core.config import get_settings
from spoolrt.core.errors import BackendUnavailable, ConfigurationError
from spoolrt.core.options import OptionArgs, SpoolerRef, TaskOptions
from spoolrt.results.base import ResultStore
from spoolrt.results.tracking import current_record, store_for
from spoolrt.sending import backends
from spoolrt.sending.enqueue import enqueue, known_spool_dirs, resolve_spool_dir
from spoolrt.sending.handle import TaskHandle
from spoolrt.spooldir.ids import entry as id_entry
from spoolrt.spooldir.ids import ids_dir, pending_status
from spoolrt.spooldir.inspect import TaskInfo, describe_file, peek_header
from spoolrt.spooldir.listing import iter_pending
from spoolrt.spooldir.parking import iter_parked

if TYPE_CHECKING:
    from typing_extensions import Unpack


class _TaskDecorator:
    """``@Spooler.task(...)`` spools to the default spooler, ``@spooler.task(...)`` to that one."""

    def __get__(self, instance: Spooler | None, owner: type[Spooler]) -> TaskDecorator:
        return TaskDecorator(instance)


class _PeriodicDecorator:
    """``@Spooler.periodic(seconds=...)`` schedules on the default spooler, ``@spooler.periodic``
    on that one (see ``spoolrt.api.schedules``)."""

    def __get__(self, instance: Spooler | None, owner: type[Spooler]) -> PeriodicDecorator:
        return PeriodicDecorator(instance)


class _CronDecorator:
    """``@Spooler.cron("*/15 9-17 * * mon-fri")``, bound like ``periodic``."""

    def __get__(self, instance: Spooler | None, owner: type[Spooler]) -> CronDecorator:
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
        """Every spooler this process can send to, the default one first; ``[]`` where there is
        none (outside uWSGI with nothing configured), as uwsgiconf answers."""
        return [cls._for_dir(d) for d in known_spool_dirs()]

    @classmethod
    def get_by_basename(cls, name: str) -> Spooler | None:
        """The first spooler whose directory's last component is ``name``, or None."""
        for spooler in cls.get_spoolers():
            if os.path.basename(spooler.dir.rstrip(os.sep)) == name:
                return spooler
        return None

    @classmethod
    def resolve(cls, spooler: SpoolerRef | None) -> Spooler:
        """A ``Spooler`` from a Spooler, a directory, a basename, or None (the default one)."""
        spool_dir = resolve_spool_dir(spooler)
        return spooler if isinstance(spooler, Spooler) else cls._for_dir(spool_dir)

    @classmethod
    def get_pids(cls) -> list[int]:
        """PIDs of all spooler processes (empty where the backend cannot tell, or where there
        is no backend at all)."""
        try:
            return backends.current().pids()
        except BackendUnavailable:
            return []

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
        spooler knows it.

        O(1) per spooler, whatever waits there: the store (final and retrying records), the
        slots of the running processes, then the task-id index of pending files
        (``spoolrt.spooldir.ids``). Only a spool directory that has no index at all (written
        by an older spoolrt) is still searched file by file.
        """
        candidates = [cls.resolve(spooler)] if spooler is not None else cls.get_spoolers()
        for candidate in candidates:
            record = current_record(candidate.dir, task_id)
            if record is None:
                if pending_status(candidate.dir, task_id) is not None:
                    header = peek_header(id_entry(candidate.dir, task_id))
                    name = str(header.get("name") or header.get("msg") or "") if header else ""
                    return TaskHandle("", task_id=task_id, task_name=name, spooler=candidate.dir)
                if not os.path.isdir(ids_dir(candidate.dir)):
                    found = cls._search_unindexed(candidate, task_id)
                    if found is not None:
                        return found
                    continue
                # The outcome is stored before the index entry goes: a task that finished
                # between the two look-ups is in the store now.
                record = current_record(candidate.dir, task_id)
                if record is None:
                    continue
            return TaskHandle(
                "", task_id=task_id, task_name=record.name or "", spooler=candidate.dir
            )
        return None

    @staticmethod
    def _search_unindexed(candidate: Spooler, task_id: str) -> TaskHandle | None:
        """A spool directory without an id index (written by an older spoolrt): file by file."""
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
        cls, message: str, *, payload: Any = None, **options: Unpack[OptionArgs]
    ) -> TaskHandle:
        """Send ``message`` (uwsgiconf's meaning): ``ucfg_<type_id>`` goes to that task type,
        any other message to the ``SpoolerTask`` subclass whose ``type_id`` is ``""``.
        ``options`` are ``TaskOptions``' fields (uwsgiconf's ``spooler``, ``priority``,
        ``postpone``, and ``retries``, ``retry_delay``, ``results``, ``ttl``)."""
        return spool_message(TaskOptions(**options), message, payload)

    def enqueue(
        self,
        *,
        type_id: str,
        message: str,
        name: str,
        payload: Any,
        task_id: str | None = None,
        **options: Unpack[OptionArgs],
    ) -> TaskHandle:
        """Spool one task of any type into this spooler (the low-level form of every other way).

        ``task_id`` names the task instead of a fresh id, for callers whose task has an identity
        of its own (a schedule slot's key); it must be unique, spoolrt does not check that.
        """
        return enqueue(
            TaskOptions(**options).merged(spooler=self),
            type_id=type_id,
            message=message,
            name=name,
            payload=payload,
            task_id=task_id,
        )


#: One Spooler object per directory reported by a backend (their real paths are known).
_by_dir: dict[str, Spooler] = {}

__all__ = ["Spooler", "SpoolerTask"]
