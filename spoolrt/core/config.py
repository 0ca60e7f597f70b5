"""Process-wide settings: signing, serializer, retry defaults, spool directories.

Settings come from ``configure(...)`` (code, or the Django/Flask integration), else from
environment variables, else from ``defaults``. The signer is built on first use, not at import,
so importing spoolrt never touches the disk.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.codec.serializers import SERIALIZERS, Signer, signer_from_environment
from spoolrt.core.errors import ConfigurationError

log = logging.getLogger("spoolrt")

ENV_SPOOL_DIRS = "SPOOLRT_SPOOL_DIRS"
ENV_UNSIGNED = "SPOOLRT_UNSAFE_NO_SIGNING"
ENV_EAGER = "SPOOLRT_EAGER"
ENV_PARK_AFTER = "SPOOLRT_PARK_AFTER"


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
    #: What the result store keeps: "all" (status and return value), "status", or "off".
    results: str = defaults.RESULTS
    #: ``spool_dir -> ResultStore``; None means the embedded SQLite store of each spool dir.
    result_store: Any = None
    #: Run tasks inline at call time (still encoded, signed, decoded and dispatched): for tests
    #: and scripts. See ``spoolrt.runtime.eager``.
    eager: bool = False
    _signer: Signer | None = field(default=None, repr=False)

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


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _from_environment() -> Settings:
    dirs = [d for d in os.environ.get(ENV_SPOOL_DIRS, "").split(os.pathsep) if d]
    settings = Settings(
        spool_dirs=dirs, signing=not _env_flag(ENV_UNSIGNED), eager=_env_flag(ENV_EAGER)
    )
    park_after = os.environ.get(ENV_PARK_AFTER, "").strip()
    if park_after:
        try:
            settings.park_after = float(park_after)
        except ValueError:
            raise ConfigurationError(f"{ENV_PARK_AFTER}={park_after!r} is not seconds") from None
    return settings


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = _from_environment()
        if not _settings.signing:
            _warn_unsigned()
    return _settings


def configure(**options: Any) -> Settings:
    """Set process-wide options (see ``Settings``); unnamed options keep their current value."""
    settings = get_settings()
    for name in options:
        if name.startswith("_") or not hasattr(settings, name):
            raise ConfigurationError(f"unknown spoolrt setting {name!r}")
    # Checked before anything is stored, so a refused call leaves the settings as they were.
    if options.get("results", settings.results) not in defaults.RESULT_MODES:
        modes = ", ".join(defaults.RESULT_MODES)
        raise ConfigurationError(f"results must be one of {modes}: {options['results']!r}")
    if options.get("serializer", settings.serializer) not in SERIALIZERS:
        raise ConfigurationError(f"unknown serializer {options['serializer']!r}")
    for name, value in options.items():
        setattr(settings, name, value)
    if {"secret_key", "old_keys", "signing"} & options.keys():
        settings._signer = None
    if "signing" in options and not settings.signing:
        _warn_unsigned()
    return settings


def _warn_unsigned() -> None:
    log.warning("spoolrt: signing is OFF; any file dropped in the spool dir will be run")


def reset() -> None:
    """Forget all configuration (tests)."""
    global _settings
    _settings = None


@contextmanager
def overridden(**options: Any) -> Iterator[Settings]:
    """Run a block with a copy of the current settings changed by ``options``, then put the
    previous settings back (the test fixtures' way to point spoolrt at a temporary spool dir
    without losing what the test suite configured)."""
    global _settings
    previous = get_settings()
    _settings = replace(previous, spool_dirs=list(previous.spool_dirs))
    try:
        yield configure(**options)
    finally:
        _settings = previous
