"""From a call to a spool file: options -> envelope -> signed bytes -> parked file or backend.

Every way of spooling ends here (``@task`` calls, ``spool_with``, ``SpoolerTask.spool``,
``send_message_raw``, schedule slots), so every check happens once, before anything is
written: a refused call leaves no file behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from spoolrt.core.codec.envelope import (
    Envelope,
    encode_body,
    first_attempt_body,
    header_parts,
    make,
    spool_vars,
)
from spoolrt.core.codec.packet import pack
from spoolrt.core.codec.serializers import Signer, get_serializer
from spoolrt.core.codec.task_ids import new_task_id
from spoolrt.core.config import Settings, generation, get_settings
from spoolrt.core.errors import (
    BackendUnavailable,
    ConfigurationError,
    InvalidTaskOption,
    UnknownSpooler,
)
from spoolrt.core.options import TaskOptions, check_delay, check_retries, resolve_at
from spoolrt.sending import backends
from spoolrt.sending.backends import Backend, RemoteBackend
from spoolrt.sending.handle import RemoteTaskHandle, TaskHandle
from spoolrt.spooldir.ids import link as link_id
from spoolrt.spooldir.parking import place_spool_file, should_park


def known_spool_dirs() -> list[str]:
    """The spool directories this process can send to, the default one first; ``[]`` where
    there is none (outside uWSGI with nothing configured), as uwsgiconf answers, so discovery
    code such as an admin page's listing works anywhere. Sending is what raises."""
    try:
        return backends.current().spooler_dirs()
    except (ConfigurationError, BackendUnavailable):
        return []


def resolve_spool_dir(spooler: Any) -> str:
    """The real path of the directory ``spooler`` names: an object with a ``dir`` (a
    ``Spooler``), a path, a spooler's basename, or None for this process's default spooler.

    Raises ``ConfigurationError`` when there is no default spooler and ``UnknownSpooler`` when
    the directory is not one this process sends to. Outside uWSGI with no spool directory
    configured, a spooler named by its path (``Spooler("/srv/spool")``) is that directory: the
    call names it, so the local writer writes there (``backends.current(spool_dir)``).
    """
    try:
        known = backends.current().spooler_dirs()
    except ConfigurationError:
        known = []
    except BackendUnavailable:  # nowhere configured: only an explicit path says where
        if not _names_a_path(spooler):
            raise
        known = []
    if spooler is None:
        if not known:
            raise ConfigurationError(
                "no spooler is configured: add `spooler = <dir>` to the uWSGI ini "
                "(or configure spool_dirs outside uWSGI)"
            )
        return known[0]
    spool_dir = getattr(spooler, "dir", None)
    if not isinstance(spool_dir, str):
        text = os.fspath(spooler)
        by_name = [d for d in known if os.path.basename(d.rstrip(os.sep)) == text]
        spool_dir = by_name[0] if by_name and os.sep not in text else os.path.realpath(text)
    if known and spool_dir not in known:
        raise UnknownSpooler(
            f"{os.fspath(getattr(spooler, 'name', spooler))!r} is not a spooler of this process; "
            "known: " + ", ".join(known)
        )
    return spool_dir


def _names_a_path(spooler: Any) -> bool:
    """Whether ``spooler`` is a directory given by its path (a ``Spooler`` or a path with a
    separator), not a spooler's bare name, which only a running configuration can resolve."""
    if spooler is None:
        return False
    if isinstance(getattr(spooler, "dir", None), str):
        spooler = getattr(spooler, "name", spooler.dir)
    try:
        return os.sep in os.fspath(spooler)
    except TypeError:
        return False


class _Route(NamedTuple):
    """Where calls naming one spooler go, derived once per settings generation: the remote
    pool's backend (then nothing else is set), or the backend, the spool directory and whether
    the call named that directory by its path."""

    remote: RemoteBackend | None
    backend: Backend | None
    spool_dir: str


_routes: dict[str | None, _Route] = {}
_routes_token: tuple[Any, ...] = ()


def _route(spooler: Any, settings: Settings) -> _Route:
    """The route of ``spooler``, cached for ``None`` and names (the common cases) until the
    settings, the uwsgi module or the forced backend change (``backends.choice_token()``)."""
    global _routes_token
    cacheable = spooler is None or type(spooler) is str
    if cacheable:
        token = backends.choice_token()
        if token != _routes_token:
            _routes.clear()
            _routes_token = token
        found = _routes.get(spooler)
        if found is not None:
            return found
    remote = backends.remote(spooler)
    if remote is not None:
        route = _Route(remote, None, "")
    else:
        if isinstance(spooler, str) and spooler in settings.remote:
            # eager or forced: a pool's tasks run where every other task of this process does
            spooler = None
        spool_dir = resolve_spool_dir(spooler)
        route = _Route(
            None, backends.current(spool_dir if _names_a_path(spooler) else None), spool_dir
        )
    if cacheable:
        _routes[spooler] = route
    return route


def enqueue(
    options: TaskOptions,
    *,
    type_id: str,
    message: str,
    name: str,
    payload: Any,
    task_id: str | None = None,
) -> TaskHandle:
    """Build, sign and spool one task; every check happens before anything is written.

    ``task_id`` names the task instead of a fresh id, for callers whose task has an identity
    of its own (a schedule slot's key); it must be unique, spoolrt does not check that.

    The route (backend, spool directory or remote pool) is chosen once per settings
    generation, and ``options`` are not checked again: a ``TaskOptions`` is checked when made.
    """
    if task_id is not None and (not isinstance(task_id, str) or not task_id):
        raise InvalidTaskOption(f"task_id must be a non-empty str, got {task_id!r}")
    settings = get_settings()
    route = _route(options.spooler, settings)
    remote = route.remote
    if remote is not None:
        envelope = _envelope(options, settings, type_id, message, name, payload, task_id, "")
        node = remote.spool(remote.pool.name, envelope, encode_body(envelope, settings.signer()))
        return RemoteTaskHandle(
            task_id=envelope.task_id, task_name=envelope.label, pool=remote.pool.name, node=node
        )
    spool_dir = route.spool_dir
    backend = route.backend
    assert backend is not None
    envelope = _envelope(options, settings, type_id, message, name, payload, task_id, spool_dir)
    if envelope.priority is not None:
        backend.check_priority(spool_dir)
    body = encode_body(envelope, settings.signer())
    if backend.parks and envelope.at is not None and should_park(envelope.at, envelope.enqueued_at):
        path = place_spool_file(
            spool_dir,
            pack(spool_vars(envelope), body),
            at=envelope.at,
            priority=envelope.priority,
            durable=settings.durable_writes,
            now=envelope.enqueued_at,
        )
    else:
        path = backend.spool(spool_dir, envelope, body)
    if (options.results or settings.results) != "off" and path.startswith("/"):
        # get_result(id) finds the file in O(1); an id made here is a safe file name
        link_id(spool_dir, envelope.task_id, path, safe_id=task_id is None)
    return TaskHandle(path, task_id=envelope.task_id, task_name=envelope.label, spooler=spool_dir)


class _Fast(NamedTuple):
    """What every call of one prepared kind shares along its route, derived once per
    settings generation; ``template`` is its envelope but for the id, time and payload."""

    token: tuple[Any, ...]
    backend: Backend
    spool_dir: str
    template: Envelope
    parts: tuple[str, str]
    dumps: Callable[[Any], bytes]
    signer: Signer | None
    indexed: bool


class Prepared:
    """One kind of call (options, task type, message, name) readied for many calls: what
    ``enqueue`` derives per call (route, defaults, the header's fixed fields, the spool vars)
    is derived once per settings generation, and a call pays only for its id, time, payload
    and signature. A task function spools its calls through one.

    Only the plain kind takes the short way: due now, no priority, the default spooler or one
    named by a str, a local spool directory, a backend that only places files (uWSGI's, the
    local writer), a fresh id. Any other call goes through ``enqueue``, so every check stays
    where it was; the file written is byte for byte the one ``enqueue`` writes (a test
    compares).
    """

    def __init__(self, options: TaskOptions, *, type_id: str, message: str, name: str) -> None:
        self.options = options
        self.kind = (type_id, message, name)
        self._fast: _Fast | None = None
        self._slow_token: tuple[Any, ...] | None = None  # the generation the short way is off

    def spool(self, payload: Any, task_id: str | None = None) -> TaskHandle:
        fast = self._fast
        token = backends.choice_token()
        if fast is None or fast.token != token:
            fast = self._fast = None if self._slow_token == token else self._derive(token)
        if fast is None or task_id is not None:
            type_id, message, name = self.kind
            return enqueue(
                self.options,
                type_id=type_id,
                message=message,
                name=name,
                payload=payload,
                task_id=task_id,
            )
        task_id = new_task_id()
        body = first_attempt_body(
            fast.parts, task_id, time.time(), fast.dumps(payload), fast.signer
        )
        path = fast.backend.spool(fast.spool_dir, fast.template, body)
        if fast.indexed and path.startswith("/"):
            link_id(fast.spool_dir, task_id, path, safe_id=True)
        return TaskHandle(
            path, task_id=task_id, task_name=fast.template.label, spooler=fast.spool_dir
        )

    def _derive(self, token: tuple[Any, ...]) -> _Fast | None:
        options = self.options
        settings = get_settings()
        plain = (
            options.postpone is None
            and options.priority is None
            and (options.spooler is None or type(options.spooler) is str)  # as _route caches
        )
        route = _route(options.spooler, settings) if plain else None
        if route is None or route.backend is None or not route.backend.places_only:
            self._slow_token = token
            return None
        type_id, message, name = self.kind
        template = _envelope(options, settings, type_id, message, name, None, "", route.spool_dir)
        return _Fast(
            token,
            route.backend,
            route.spool_dir,
            template,
            header_parts(template),
            _checked_defaults(settings).dumps,
            settings.signer(),
            (options.results or settings.results) != "off",
        )


class _Defaults(NamedTuple):
    """The settings' retry defaults and serializer, checked once per settings generation."""

    generation: int
    serializer: str
    dumps: Callable[[Any], bytes]
    retries: int
    retry_delay: float


_defaults: _Defaults | None = None


def _checked_defaults(settings: Settings) -> _Defaults:
    global _defaults
    found = _defaults
    current = generation()
    if found is None or found.generation != current:
        found = _defaults = _Defaults(
            current,
            settings.serializer,
            get_serializer(settings.serializer).dumps,
            check_retries(settings.retries),
            check_delay(settings.retry_delay),
        )
    return found


def _envelope(
    options: TaskOptions,
    settings: Settings,
    type_id: str,
    message: str,
    name: str,
    payload: Any,
    task_id: str | None,
    spool_dir: str,
) -> Envelope:
    """The envelope of one call; ``spool_dir`` is "" for a remote pool (the node's own spooler
    takes the task). ``options`` were checked when they were made (``TaskOptions``), the
    settings' defaults once per generation; only ``postpone`` is resolved here, against now."""
    checked = _checked_defaults(settings)
    serializer = getattr(options.spooler, "serializer", None)
    dumps: Callable[[Any], bytes]
    if serializer:
        dumps = get_serializer(serializer).dumps
    else:
        serializer, dumps = checked.serializer, checked.dumps
    now = time.time()
    retries = checked.retries if options.retries is None else options.retries
    delay = checked.retry_delay if options.retry_delay is None else options.retry_delay
    return make(
        {
            "task_id": new_task_id() if task_id is None else task_id,
            "type_id": type_id,
            "message": message,
            "name": name,
            "payload": dumps(payload),
            "serializer": serializer,
            "attempt": 1,
            "retries": retries,
            "retry_delay": delay,
            "at": None if options.postpone is None else resolve_at(options.postpone, now),
            "priority": options.priority,
            "spooler": spool_dir,
            "enqueued_at": now,
            "options": options.envelope_options(),
        }
    )
