"""Reading a setting by its type.

Settings arrive as strings from the environment, from .env files and from framework settings
built from os.environ; ``bool("false")`` is True, so every integration reads them here, and a
value that means nothing is refused with the name the user wrote instead of being guessed at.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from spoolrt.core.errors import ConfigurationError

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


def one_of(*choices: str) -> Callable[[Any, str], str]:
    def check(value: Any, label: str) -> str:
        if value not in choices:
            raise ConfigurationError(f"{label}: {value!r} is not one of {', '.join(choices)}")
        return str(value)

    return check
