"""Remote pools: where tasks for another machine go, as the settings ``remote`` and
``dashboards`` name them (``configure(remote={"reports": [...]})``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from spoolrt.core import defaults
from spoolrt.core.errors import ConfigurationError
from spoolrt.core.readers import to_count, to_node, to_seconds


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
