"""Process-wide settings: signing, serializer, retry defaults, spool directories.

Settings come from ``configure(...)`` (code, or the Django/Flask integration), else from
environment variables, else from ``defaults``. The signer is built on first use, not at import,
so importing spoolrt never touches the disk.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class RemotePool:
    """A named pool of uWSGI nodes that take tasks on their uwsgi ``--socket`` (modifier1 17).

    Two modes, one of them per pool:

    - direct: ``nodes`` are ``(host, port)`` pairs, or ``(path, 0)`` for a unix socket; the
      sender rotates over them and fails over itself.
    - fastrouter: ``fastrouter`` is the address of a uWSGI fastrouter whose subscription server
      the nodes subscribe to under ``key`` (``--subscribe2 server=...,key=K,addr=...,
      modifier1=17``); the sender adds the routing var ``UWSGI_FASTROUTER_KEY=key`` and the
      router picks the node and skips a dead one. A send the router could not place (no node
      alive, a refusal) is tried again through it, ``attempts`` times in all.

    ``buffer_size`` must not exceed the nodes' (and the router's) ``buffer-size``: a bigger
    packet is reset, not refused.
    """

    name: str
    nodes: tuple[tuple[str, int], ...] = ()
    timeout: float = defaults.REMOTE_TIMEOUT
    buffer_size: int = defaults.REMOTE_BUFFER_SIZE
    fastrouter: tuple[str, int] | None = None
    key: str = ""
    attempts: int = defaults.REMOTE_ROUTER_ATTEMPTS

    def __post_init__(self) -> None:
        where = f"remote pool {self.name!r}"
        if bool(self.nodes) == (self.fastrouter is not None):
            raise ConfigurationError(f"{where}: give either nodes or a fastrouter (and a key)")
        if self.fastrouter is not None:
            if not ROUTER_KEY.fullmatch(self.key):
                raise ConfigurationError(
                    f"{where}: key {self.key!r} is not a subscription key (1 to 255 of "
                    "letters, digits and .-_:, as the nodes' --subscribe2 key=)"
                )
            if not 1 <= self.attempts <= 100:
                raise ConfigurationError(f"{where}: attempts must be 1..100")

    @property
    def mode(self) -> str:
        """``"fastrouter"`` or ``"direct"``."""
        return "direct" if self.fastrouter is None else "fastrouter"


#: What a fastrouter subscription key may be here: a uWSGI key is at most 255 bytes and is
#: usually a host name; commas and spaces would break the nodes' ``--subscribe2`` line.
ROUTER_KEY = re.compile(r"[A-Za-z0-9._:-]{1,255}")


_lock = threading.Lock()
_settings: Settings | None = None


# --- reading a setting by its type -------------------------------------------------------------
# Settings arrive as strings from the environment, from .env files and from framework settings
# built from os.environ; ``bool("false")`` is True, so every integration reads them here, and a
# value that means nothing is refused with the name the user wrote instead of being guessed at.

TRUE_STRINGS = ("true", "1", "yes", "on")
FALSE_STRINGS = ("false", "0", "no", "off")


def to_bool(value: Any, label: str) -> bool:
    """A real bool, or one of ``TRUE_STRINGS`` / ``FALSE_STRINGS`` (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_STRINGS:
            return True
        if text in FALSE_STRINGS:
            return False
    raise ConfigurationError(
        f"{label}: {value!r} is not a boolean (use True/False, or one of "
        f"{', '.join(TRUE_STRINGS)} / {', '.join(FALSE_STRINGS)})"
    )


def to_count(value: Any, label: str) -> int:
    """A non-negative int, or a string of one (``"3"`` -> 3); bools and fractions refused."""
    number: Any = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise ConfigurationError(f"{label}: {value!r} is not a whole number >= 0")
    return number


def to_seconds(value: Any, label: str) -> float:
    """A finite number of seconds >= 0, or a string of one (``"0.5"`` -> 0.5)."""
    number: Any = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None or not math.isfinite(number) or number < 0:
        raise ConfigurationError(f"{label}: {value!r} is not a number of seconds >= 0")
    return float(number)


def to_dirs(value: Any, label: str) -> list[str]:
    """A list of directories; a single str or path is refused (it would become one spool dir
    per character)."""
    if isinstance(value, (str, bytes, os.PathLike)) or not hasattr(value, "__iter__"):
        raise ConfigurationError(f"{label}: {value!r} is not a list of directories")
    return [os.fspath(d) for d in value]


def to_node(value: Any, label: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:3031"`` for IPv6) or a unix socket path, as (host, port) with
    port 0 for a path."""
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if text and text.startswith("/"):
        return text, 0
    host, _, port = (text or "").rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host and port.isdigit() and 0 < int(port) < 65536:
        return host, int(port)
    raise ConfigurationError(f"{label}: {value!r} is not HOST:PORT or a unix socket path")


POOL_OPTIONS = ("nodes", "fastrouter", "key", "timeout", "buffer_size", "attempts")


def to_pools(value: Any, label: str) -> dict[str, RemotePool]:
    """Pools by name, each one of:

    - ``["host:port", ...]`` or ``{"nodes": [...], "timeout": s, "buffer_size": n}``: direct;
    - ``{"fastrouter": "host:port", "key": k, "timeout": s, "buffer_size": n, "attempts": n}``:
      through a fastrouter; ``key`` defaults to the pool's name.

    Values may be strings (``"timeout": "0.5"``). An empty node list is refused (every send to
    it would fail), and so are nodes and a fastrouter together.
    """
    if not isinstance(value, dict):
        raise ConfigurationError(f"{label}: {value!r} is not a dict of pool name -> nodes")
    pools: dict[str, RemotePool] = {}
    for name, spec in value.items():
        where = f"{label}[{name!r}]"
        if isinstance(spec, RemotePool):
            pools[str(name)] = spec
            continue
        options = dict(spec) if isinstance(spec, dict) else {"nodes": spec}
        unknown = set(options) - set(POOL_OPTIONS)
        if unknown or not isinstance(name, str) or not name or os.sep in name:
            raise ConfigurationError(
                f"{where}: a pool is a name without {os.sep!r} and {', '.join(POOL_OPTIONS)}"
                + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
            )
        timeout = to_seconds(options.get("timeout", defaults.REMOTE_TIMEOUT), f"{where} timeout")
        size = to_count(options.get("buffer_size", defaults.REMOTE_BUFFER_SIZE), f"{where} size")
        if not timeout or not 64 <= size <= 0xFFFF + 4:
            raise ConfigurationError(f"{where}: timeout must be > 0, buffer_size 64..65539")
        if "fastrouter" in options:
            if "nodes" in options:
                raise ConfigurationError(f"{where}: give nodes or a fastrouter, not both")
            key = options.get("key", name)
            if not isinstance(key, str):
                raise ConfigurationError(f"{where}: key {key!r} is not a str")
            attempts = options.get("attempts", defaults.REMOTE_ROUTER_ATTEMPTS)
            pools[name] = RemotePool(
                name,
                timeout=timeout,
                buffer_size=size,
                fastrouter=to_node(options["fastrouter"], f"{where} fastrouter"),
                key=key,
                attempts=to_count(attempts, f"{where} attempts"),
            )
            continue
        if {"key", "attempts"} & options.keys():
            raise ConfigurationError(f"{where}: key and attempts go with a fastrouter")
        nodes: Any = options.get("nodes")
        if isinstance(nodes, (str, bytes)) or not hasattr(nodes, "__iter__"):
            raise ConfigurationError(f"{where}: {nodes!r} is not a list of nodes")
        parsed = tuple(to_node(node, where) for node in nodes)
        if not parsed:
            raise ConfigurationError(f"{where}: a pool needs at least one node")
        pools[name] = RemotePool(name, parsed, timeout, size)
    return pools


def to_dashboards(value: Any, label: str) -> dict[str, list[str]]:
    """``{pool: ["host:port" or "http(s)://host:port/prefix", ...]}``: where each node of a pool
    serves its dashboard (its JSON API is what the pool-wide views read)."""
    if not isinstance(value, dict):
        raise ConfigurationError(f"{label}: {value!r} is not a dict of pool name -> dashboards")
    found: dict[str, list[str]] = {}
    for name, urls in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{label}: pool name {name!r} is not a non-empty str")
        if isinstance(urls, (str, bytes)) or not hasattr(urls, "__iter__"):
            raise ConfigurationError(f"{label}[{name!r}]: {urls!r} is not a list of addresses")
        listed = [str(url) for url in urls]
        if not listed or not all(url.strip() for url in listed):
            raise ConfigurationError(f"{label}[{name!r}]: give at least one non-empty address")
        found[name] = listed
    return found


def _one_of(*choices: str) -> Callable[[Any, str], str]:
    def check(value: Any, label: str) -> str:
        if value not in choices:
            raise ConfigurationError(f"{label}: {value!r} is not one of {', '.join(choices)}")
        return str(value)

    return check


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
    "serializer": _one_of(*SERIALIZERS),
    "results": _one_of(*defaults.RESULT_MODES),
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
    global _settings
    if _settings is None:
        _settings = _from_environment()
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
    global _settings
    _settings = None


@contextmanager
def overridden(**options: Any) -> Iterator[Settings]:
    """Run a block with a copy of the current settings changed by ``options``, then put the
    previous settings back (the test fixtures' way to point spoolrt at a temporary spool dir
    without losing what the test suite configured)."""
    global _settings
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
