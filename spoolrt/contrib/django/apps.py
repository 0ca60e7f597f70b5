"""The Django app: configures spoolrt from settings and imports every app's tasks at start-up."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.test.signals import setting_changed

from spoolrt.contrib._config import add_spooler_observer
from spoolrt.contrib.django.conf import autodiscover, configure_from_settings
from spoolrt.contrib.django.db import CloseOldConnections


class SpoolrtConfig(AppConfig):
    name = "spoolrt.contrib.django"
    label = "spoolrt"
    verbose_name = "spoolrt"

    def ready(self) -> None:
        configure_from_settings()
        setting_changed.connect(_settings_changed, dispatch_uid="spoolrt.contrib.django")
        add_spooler_observer(CloseOldConnections())
        autodiscover()


def _settings_changed(*, setting: str, **_: Any) -> None:
    """``override_settings(SPOOLRT=...)`` (or of the keys the signing key comes from) in tests."""
    if setting in ("SPOOLRT", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        configure_from_settings()
