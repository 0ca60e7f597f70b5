"""Shared fixtures. Integration tests boot real uWSGI; see tests/support/uwsgi.py."""

from __future__ import annotations

import pytest

import spoolrt.core.config


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Each test starts from default settings with its own key file (never ~/.config)."""
    key_dir = tmp_path_factory.mktemp("key")
    monkeypatch.setenv("SPOOLRT_KEY_FILE", str(key_dir / "secret_key"))
    monkeypatch.delenv("SPOOLRT_SECRET_KEY", raising=False)
    monkeypatch.delenv("SPOOLRT_SPOOL_DIRS", raising=False)
    spoolrt.core.config.reset()
    yield
    spoolrt.core.config.reset()
