"""Process-wide settings: signing, serializer, retry defaults, spool directories.

Settings come from ``configure(...)`` (code, or the Django/Flask integration), else from
environment variables, else from ``defaults``. The signer is built on first use, not at import,
so importing spoolrt never touches the disk. Each value is read by its type
(``spoolrt.core.readers``); remote pools are described in ``spoolrt.core.pools``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.codec.serializers import SERIALIZERS, Signer, signer_from_environment
from spoolrt.core.errors import ConfigurationError
from spoolrt.core.pools import RemotePool, to_dashboards, to_pools
from spoolrt.core.readers import one_of, to_bool, to_count, to_dirs, to_seconds

log = logging.getLogger("spoolrt")

ENV_SPOOL_DIRS = "SPOOLRT_SPOOL_DIRS"
ENV_UNSIGNED = "SPOOLRT_UNSAFE_NO_SIGNING"
ENV_EAGER = "SPOOLRT_EAGER"
ENV_PARK_AFTER = "SPOOLRT_PARK_AFTER"
ENV_UNRESOLVED_GRACE = "SPOOLRT_UNRESOLVED_GRACE"
ENV_SCHEDULER = "SPOOLRT_SCHEDULER"


#: Derived key -> where its secret came from ("Django's SECRET_KEY"), so that what reports the
#: key's source (the header of the ini ``spoolrt serve`` writes) can name the real one.
DERIVED_FROM: dict[str, str] = {}


@dataclass
class Settings:
    """What ``configure()`` sets. ``signing=False`` is unsafe: any file in the spool dir runs."""

    secret_key: str | bytes | None = None
    old_keys: list[str | bytes] = field(default_factory=list)
    signing: bool = True
    serializer: str = defaults.SERIALIZER
    retries: int = defaults.RETRIES
    retry_delay: float = defaults.RETRY_DELAY
    retry_cap: float = defaults.RETRY_CAP
    spool_dirs: list[str] = field(default_factory=list)
    durable_writes: bool = True
    #: Seconds ahead beyond which a task is parked outside the scanned directory (see
    #: ``spoolrt.spooldir.parking``); env ``SPOOLRT_PARK_AFTER``.
    park_after: float = defaults.PARK_AFTER
    #: Seconds a spooler leaves a task it cannot resolve for the spoolers that can, before it
    #: quarantines it (see ``defaults.UNRESOLVED_GRACE``); env ``SPOOLRT_UNRESOLVED_GRACE``.
    unresolved_grace: float = defaults.UNRESOLVED_GRACE
    #: What the result store keeps: "all" (status and return value), "status", or "off".
    results: str = defaults.RESULTS
    #: ``spool_dir -> ResultStore``; None means the embedded SQLite store of each spool dir.
    result_store: Any = None
    #: Run tasks inline at call time (still encoded, signed, decoded and dispatched): for tests
    #: and scripts. See ``spoolrt.runtime.eager``.
    eager: bool = False
    #: Pools of uWSGI nodes that tasks are sent to over the network, by the name a task uses as
    #: its spooler: ``{"reports": ["10.0.0.5:3031", "10.0.0.6:3031"]}``, or through a uWSGI
    #: fastrouter ``{"reports": {"fastrouter": "10.0.0.4:3030", "key": "reports"}}`` (see
    #: ``RemotePool`` and ``to_pools``).
    remote: dict[str, RemotePool] = field(default_factory=dict)
    #: Whether this process fires schedule slots (``spoolrt.api.schedules.ticking``): False on
    #: every node of a pool but the one scheduler node; env ``SPOOLRT_SCHEDULER``.
    scheduler: bool = defaults.SCHEDULER
    #: The dashboards of each pool's nodes, for the pool-wide views (``spoolrt ls --node
    #: <pool>``, the dashboard's pool page): ``{"reports": ["10.0.0.5:9181", "http://..."]}``.
    dashboards: dict[str, list[str]] = field(default_factory=dict)
    _signer: Signer | None = field(default=None, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Any change, however made (``configure()``, a test setting an attribute), invalidates
        # what was derived from the settings: the backend and spooler choice, checked defaults.
        global _generation
        object.__setattr__(self, name, value)
        if not name.startswith("_"):  # ``_signer`` is derived, and reset with what it derives from
            _generation += 1

    def signer(self) -> Signer | None:
        """The signer for new envelopes and for verification; None when signing is off."""
        if not self.signing:
            return None
        if self._signer is None:
            with _lock:
                if self._signer is None:
                    if self.secret_key:
                        self._signer = Signer([self.secret_key, *self.old_keys])
                    else:
                        self._signer = signer_from_environment()
        return self._signer


_lock = threading.Lock()
_settings: Settings | None = None
#: Bumped by every change of the settings (``configure()``, ``reset()``, ``overridden()``, any
#: attribute set on a ``Settings``), so what is derived from them once per process (the backend
#: and spooler choice, the checked retry defaults) knows when to derive it again.
_generation = 0


def generation() -> int:
    """A number that changes whenever the settings may have changed (see ``_generation``)."""
    return _generation


#: How each setting is read; settings not named here (keys, the result store) are taken as given.
READERS: dict[str, Callable[[Any, str], Any]] = {
    "signing": to_bool,
    "durable_writes": to_bool,
    "eager": to_bool,
    "scheduler": to_bool,
    "retries": to_count,
    "retry_delay": to_seconds,
    "retry_cap": to_seconds,
    "park_after": to_seconds,
    "unresolved_grace": to_seconds,
    "spool_dirs": to_dirs,
    "remote": to_pools,
    "dashboards": to_dashboards,
    "serializer": one_of(*SERIALIZERS),
    "results": one_of(*defaults.RESULT_MODES),
}


def read_setting(name: str, value: Any, label: str | None = None) -> Any:
    """``value`` as setting ``name`` wants it, or ``ConfigurationError`` naming ``label`` (how
    the user wrote the setting: ``SPOOLRT_EAGER``, ``settings.SPOOLRT['EAGER']``)."""
    reader = READERS.get(name)
    return value if reader is None else reader(value, label or name)


def _from_environment() -> Settings:
    dirs = [d for d in os.environ.get(ENV_SPOOL_DIRS, "").split(os.pathsep) if d]
    settings = Settings(spool_dirs=dirs)
    # An empty variable is an unset one (``SPOOLRT_EAGER= cmd`` in a shell).
    for env, name in (
        (ENV_EAGER, "eager"),
        (ENV_PARK_AFTER, "park_after"),
        (ENV_UNRESOLVED_GRACE, "unresolved_grace"),
        (ENV_SCHEDULER, "scheduler"),
    ):
        text = os.environ.get(env, "").strip()
        if text:
            setattr(settings, name, read_setting(name, text, env))
    unsigned = os.environ.get(ENV_UNSIGNED, "").strip()
    if unsigned:
        settings.signing = not to_bool(unsigned, ENV_UNSIGNED)
    return settings


def get_settings() -> Settings:
    global _settings, _generation
    if _settings is None:
        _settings = _from_environment()
        _generation += 1
        if not _settings.signing:
            _warn_unsigned()
    return _settings


def configure(**options: Any) -> Settings:
    """Set process-wide options (see ``Settings``); unnamed options keep their current value.

    Values are read by type (``READERS``): booleans also as ``"true"``/``"false"``,
    ``"1"``/``"0"``, ``"yes"``/``"no"``, ``"on"``/``"off"``; numbers also as their strings
    (``retries="3"``); anything else is refused with the option's name.
    """
    settings = get_settings()
    for name in options:
        if name.startswith("_") or not hasattr(settings, name):
            raise ConfigurationError(f"unknown spoolrt setting {name!r}")
    # Every value is read before anything is stored, so a refused call leaves the settings
    # as they were.
    options = {name: read_setting(name, value) for name, value in options.items()}
    for name, value in options.items():
        setattr(settings, name, value)
    if {"secret_key", "old_keys", "signing"} & options.keys():
        settings._signer = None
    if "signing" in options and not settings.signing:
        _warn_unsigned()
    return settings


def _warn_unsigned() -> None:
    log.warning("signing is OFF; any file dropped in the spool dir will be run")


def reset() -> None:
    """Forget all configuration (tests)."""
    global _settings, _generation
    _settings = None
    _generation += 1


@contextmanager
def overridden(**options: Any) -> Iterator[Settings]:
    """Run a block with a copy of the current settings changed by ``options``, then put the
    previous settings back (the test fixtures' way to point spoolrt at a temporary spool dir
    without losing what the test suite configured)."""
    global _settings, _generation
    previous = get_settings()
    _settings = replace(
        previous,
        spool_dirs=list(previous.spool_dirs),
        remote=dict(previous.remote),
        dashboards=dict(previous.dashboards),
    )
    try:
        yield configure(**options)
    finally:
        _settings = previous
        _generation += 1
