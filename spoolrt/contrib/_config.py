"""What the Django and Flask integrations share: framework settings to ``spoolrt.configure()``
options, the signing key derived from the framework's own secret, and hooks on the dispatcher
of this process's uWSGI spooler.

Kept free of framework imports so both integrations (and their tests) can use it alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

from spoolrt.core.codec.serializers import ENV_SECRET_KEY
from spoolrt.core.config import DERIVED_FROM, Settings, read_setting
from spoolrt.core.errors import ConfigurationError
from spoolrt.runtime.dispatch import add_spooler_observer as add_dispatch_observer

#: ``spoolrt.configure()`` options, by the upper-case name frameworks use for settings.
SETTING_NAMES: dict[str, str] = {
    f.name.upper(): f.name for f in dataclasses.fields(Settings) if not f.name.startswith("_")
}

#: Mixed into the framework secret so that the task-signing key is not the framework's key
#: itself: a spool key that leaks (it sits in every spooler's memory and maybe in an ini)
#: then forges task files but not sessions, password-reset links or signed cookies.
KEY_PURPOSE = b"spoolrt task signing v1"


def options_from_settings(
    values: Mapping[str, Any], *, source: str, label: str = "{source}[{key!r}]"
) -> dict[str, Any]:
    """``{"SPOOL_DIRS": [...], "EAGER": "false"}`` -> ``{"spool_dirs": [...], "eager": False}``.

    An unknown name is refused with the list of known ones: a misspelt ``EAGRE`` would otherwise
    leave tests writing real spool files, or production running tasks inline. Values are read
    by ``spoolrt.core.config.read_setting`` (the one reader every integration shares), and a bad one
    is refused under ``label``: the name the user wrote in the framework's settings.
    """
    options: dict[str, Any] = {}
    for key, value in values.items():
        name = SETTING_NAMES.get(key)
        if name is None:
            known = ", ".join(sorted(SETTING_NAMES))
            raise ConfigurationError(f"unknown spoolrt setting {key!r} in {source}; known: {known}")
        options[name] = read_setting(name, value, label.format(source=source, key=key))
    return options


def derive_key(secret: str | bytes) -> str:
    """The task-signing key that belongs to a framework secret (see ``KEY_PURPOSE``)."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    return hmac.new(raw, KEY_PURPOSE, hashlib.sha256).hexdigest()


def add_framework_key(
    options: dict[str, Any],
    secret: str | bytes | None,
    fallbacks: Iterable[str | bytes] = (),
    *,
    source: str = "the framework's SECRET_KEY",
) -> dict[str, Any]:
    """Default the signing key to one derived from the framework's secret (and accept keys
    derived from its fallbacks, so rotating the framework secret does not quarantine tasks
    already spooled).

    An explicit spoolrt key wins, and so does ``$SPOOLRT_SECRET_KEY``: processes that never load
    the framework (an external spooler, ``spoolrt`` run by hand) can share that one.
    """
    if options.get("secret_key") or os.environ.get(ENV_SECRET_KEY) or not secret:
        return options
    derived = {**options, "secret_key": derive_key(secret)}
    DERIVED_FROM[derived["secret_key"]] = source
    if "old_keys" not in options:
        derived["old_keys"] = [derive_key(old) for old in fallbacks if old]
    return derived


def add_spooler_observer(observer: Any) -> None:
    """Hook ``observer`` into every spooler-side dispatcher of this process (the uWSGI spooler
    callable and ``spoolrt worker``), replacing one of the same type: setting an app up twice
    must not close connections twice or push two app contexts.

    Eager mode does not get it: it runs tasks inside the caller's own request or test, whose
    database connections and app context belong to the caller.
    """
    add_dispatch_observer(observer)
