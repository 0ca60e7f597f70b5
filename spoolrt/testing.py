"""Testing code that spools tasks: fixtures, and assertions on what was spooled.

Use it as a pytest plugin (in your top-level ``conftest.py``)::

    pytest_plugins = ["spoolrt.testing"]

    def test_signup_sends_mail(spoolrt_local):
        signup("ann@example.org")
        spoolrt_local.assert_spooled(send_mail, "ann@example.org", template="welcome")
        assert spoolrt_local.run_until_empty() == {"done": 1}

    def test_signup_inline(spoolrt_eager):
        signup("bob@example.org")                  # send_mail ran here, or the test failed
        assert spoolrt_eager.reports[-1].result == "sent"

Fixtures:

``spoolrt_local``
    A ``LocalSpool``: a temporary spool directory that every task call of the test goes to
    (through the real local backend: real files, signed, in uWSGI's format), and a ``Worker`` to
    run them in the test process with ``run_until_empty()``.
``spoolrt_eager``
    Eager mode for one test (see ``spoolrt.runtime.eager``): tasks run at call time, still
    serialised, signed and dispatched; a task that fails raises ``EagerTaskFailed``.

Both keep the rest of the test suite's configuration (secret key, serializer) and put it back
afterwards. When no secret key is configured at all, they use a random one for the test, so
no key file is ever created in the home directory by a test run.

The helpers ``spooled_tasks()`` and ``assert_spooled()`` work without pytest too: they read the
pending files of the current backend's spool directories, verify their signatures, and decode
their arguments.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from spoolrt.api.tasks import FunctionCallTask, SpoolerTask, TaskFunction
from spoolrt.core.codec.envelope import Envelope, decode_packet
from spoolrt.core.codec.packet import unpack
from spoolrt.core.codec.serializers import ENV_SECRET_KEY, get_serializer
from spoolrt.core.config import get_settings, overridden
from spoolrt.results.tracking import forget_stores
from spoolrt.runtime.eager import EagerBackend, eager
from spoolrt.runtime.worker import Worker
from spoolrt.sending import backends
from spoolrt.sending.backends.local import LocalBackend
from spoolrt.spooldir.layout import FAILED, QUARANTINE
from spoolrt.spooldir.listing import iter_area, pending_files
from spoolrt.spooldir.parking import iter_parked
from spoolrt.spooldir.slots import forget_boards

__all__ = [
    "LocalSpool",
    "SpooledTask",
    "assert_spooled",
    "local_spool",
    "read_spooled",
    "spooled_tasks",
    "spoolrt_eager",
    "spoolrt_local",
]


@dataclass(frozen=True)
class SpooledTask:
    """A pending spool file, verified and decoded. ``args``/``kwargs`` are the call's arguments
    for a function task; for a ``SpoolerTask`` type ``payload`` is what was sent."""

    path: str
    envelope: Envelope
    payload: Any
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.envelope.label

    @property
    def task_id(self) -> str:
        return self.envelope.task_id

    @property
    def at(self) -> float | None:
        return self.envelope.at

    @property
    def priority(self) -> int | None:
        return self.envelope.priority

    def __repr__(self) -> str:
        if self.envelope.type_id == FunctionCallTask.type_id:
            shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
            return f"<spooled {self.name}({', '.join(shown)})>"
        return f"<spooled {self.name} payload={self.payload!r}>"


def read_spooled(path: str | os.PathLike[str]) -> SpooledTask:
    """Decode one spool file, verifying its signature (raises ``SpoolFileError`` if it fails)."""
    with open(path, "rb") as f:
        data = f.read()
    envelope = decode_packet(unpack(data), get_settings().signer())
    payload = get_serializer(envelope.serializer).loads(envelope.payload)
    if envelope.type_id == FunctionCallTask.type_id and isinstance(payload, dict):
        return SpooledTask(
            os.fspath(path), envelope, payload, tuple(payload["arg"]), dict(payload["kwg"])
        )
    return SpooledTask(os.fspath(path), envelope, payload)


def _matches(spooled: SpooledTask, task: Any) -> bool:
    if task is None:
        return True
    if isinstance(task, TaskFunction):
        return spooled.envelope.type_id == FunctionCallTask.type_id and spooled.name == task.name
    if isinstance(task, type) and issubclass(task, SpoolerTask):
        return spooled.envelope.type_id == task.type_id
    if isinstance(task, str):
        return task in (spooled.name, spooled.envelope.message)
    raise TypeError(f"task must be a task function, a SpoolerTask class or a name, not {task!r}")


def spooled_tasks(
    task: Any = None, *, spool_dir: str | os.PathLike[str] | None = None
) -> list[SpooledTask]:
    """The pending tasks (postponed ones included) in run order, optionally only those of
    ``task`` (a task function, a ``SpoolerTask`` class, or a task name / raw message)."""
    dirs = [os.fspath(spool_dir)] if spool_dir is not None else backends.current().spooler_dirs()
    found = []
    for folder in dirs:
        parked = ((path, 0.0) for path in iter_parked(folder))
        for path, _mtime in chain(pending_files(folder), parked):
            try:
                spooled = read_spooled(path)
            except FileNotFoundError:
                continue  # run meanwhile
            if _matches(spooled, task):
                found.append(spooled)
    return found


def assert_spooled(
    task: Any,
    *args: Any,
    spool_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> SpooledTask:
    """Assert that a call of ``task`` with exactly these arguments is pending; return it.

    For a ``SpoolerTask`` class pass the payload as the single positional argument (none for a
    task spooled without payload).
    """
    candidates = spooled_tasks(task, spool_dir=spool_dir)
    for spooled in candidates:
        if spooled.envelope.type_id == FunctionCallTask.type_id:
            if spooled.args == tuple(args) and spooled.kwargs == kwargs:
                return spooled
        elif not kwargs and len(args) <= 1 and spooled.payload == (args[0] if args else None):
            return spooled
    label = getattr(task, "name", None) or getattr(task, "type_id", None) or task
    pending = spooled_tasks(spool_dir=spool_dir)
    raise AssertionError(
        f"no pending task {label} with args={args!r} kwargs={kwargs!r}; pending: "
        + (", ".join(repr(p) for p in pending) or "none")
    )


class LocalSpool:
    """A temporary spool directory, the local backend writing into it, and a worker for it."""

    def __init__(self, spool_dir: str | os.PathLike[str], frequency: float = 0.05) -> None:
        self.dir = Path(os.path.realpath(os.fspath(spool_dir)))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.backend = LocalBackend([str(self.dir)])
        self.worker = Worker([str(self.dir)], frequency=frequency)

    def run_until_empty(self, *, include_postponed: bool = False) -> Counter[str]:
        """Run the due tasks in this process until none is left; counts by status value.
        ``include_postponed=True`` also runs postponed tasks and retries, at once."""
        return self.worker.run_until_empty(include_postponed=include_postponed)

    def run_once(self, *, include_postponed: bool = False) -> Counter[str]:
        return self.worker.run_once(include_postponed=include_postponed)

    def spooled(self, task: Any = None) -> list[SpooledTask]:
        return spooled_tasks(task, spool_dir=self.dir)

    def assert_spooled(self, task: Any, *args: Any, **kwargs: Any) -> SpooledTask:
        return assert_spooled(task, *args, spool_dir=self.dir, **kwargs)

    def pending(self) -> list[str]:
        return [path for path, _mtime in pending_files(str(self.dir))]

    def failed(self) -> list[str]:
        return list(iter_area(str(self.dir), FAILED))

    def quarantined(self) -> list[str]:
        return list(iter_area(str(self.dir), QUARANTINE))


def _test_key() -> dict[str, Any]:
    """A random key for the test unless the suite configured one (no key file in $HOME)."""
    if get_settings().secret_key or os.environ.get(ENV_SECRET_KEY):
        return {}
    return {"secret_key": secrets.token_hex(16)}


@contextmanager
def local_spool(spool_dir: str | os.PathLike[str]) -> Iterator[LocalSpool]:
    """Send every task called in the block to ``spool_dir`` through the local backend."""
    spool = LocalSpool(spool_dir)
    previous = backends.forced()
    with overridden(spool_dirs=[str(spool.dir)], eager=False, **_test_key()):
        backends.force(spool.backend)
        try:
            yield spool
        finally:
            backends.force(previous)
            forget_stores()
            forget_boards()


try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pass
else:

    @pytest.fixture
    def spoolrt_local(tmp_path: Path) -> Iterator[LocalSpool]:
        """Tasks called in the test are written to a temporary spool directory (see module)."""
        with local_spool(tmp_path / "spool") as spool:
            yield spool

    @pytest.fixture
    def spoolrt_eager(tmp_path: Path) -> Iterator[EagerBackend]:
        """Tasks called in the test run inline (see ``spoolrt.runtime.eager``)."""
        with overridden(eager=False, **_test_key()):
            with eager(work_dir=str(tmp_path / "eager")) as backend:
                yield backend
            forget_stores()
