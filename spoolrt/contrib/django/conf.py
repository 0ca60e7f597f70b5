"""``settings.SPOOLRT`` to ``spoolrt.configure()``, and discovery of the apps' task modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

from spoolrt.contrib._config import add_framework_key, options_from_settings
from spoolrt.core.config import configure, get_settings
from spoolrt.core.errors import ConfigurationError

SETTING = "SPOOLRT"
#: Keys of the integration itself, not ``spoolrt.configure()`` options.
TASK_MODULES = "TASK_MODULES"
DEFAULT_TASK_MODULES = ("tasks",)

#: The value each option had before this module first set it, so that a key dropped from
#: ``SPOOLRT`` (``override_settings`` ending) goes back to it instead of keeping the override.
_before: dict[str, Any] = {}
_applied: set[str] = set()


def spoolrt_setting() -> Mapping[str, Any]:
    value = getattr(settings, SETTING, None) or {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"settings.{SETTING} must be a dict, not {type(value).__name__}")
    return value


def options() -> dict[str, Any]:
    """The ``spoolrt.configure()`` options the Django settings ask for."""
    values = {k: v for k, v in spoolrt_setting().items() if k != TASK_MODULES}
    try:
        found = options_from_settings(values, source=f"settings.{SETTING}")
    except ConfigurationError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    return add_framework_key(
        found,
        _django_secret(),
        getattr(settings, "SECRET_KEY_FALLBACKS", None) or (),
        source="Django's SECRET_KEY",
    )


def _django_secret() -> str | None:
    try:
        return settings.SECRET_KEY or None
    except ImproperlyConfigured:  # Django refuses an empty SECRET_KEY when it is read
        return None


def configure_from_settings() -> None:
    """Apply ``settings.SPOOLRT``; options it no longer names go back to their earlier value."""
    global _applied
    wanted = options()
    current = get_settings()
    for name in wanted:
        _before.setdefault(name, getattr(current, name))
    restore = {name: _before[name] for name in _applied - wanted.keys()}
    try:
        configure(**restore, **wanted)
    except ConfigurationError as exc:
        raise ImproperlyConfigured(f"settings.{SETTING}: {exc}") from exc
    _applied = set(wanted)


def task_modules() -> tuple[str, ...]:
    names = spoolrt_setting().get(TASK_MODULES, DEFAULT_TASK_MODULES)
    if isinstance(names, str):
        raise ImproperlyConfigured(f"settings.{SETTING}[{TASK_MODULES!r}] is a list of names")
    return tuple(names)


def autodiscover() -> None:
    """Import ``<app>.tasks`` (each of ``TASK_MODULES``) of every installed app that has one.
    An error inside such a module is raised, not mistaken for a missing module."""
    autodiscover_modules(*task_modules())
