"""A test the machine cannot run is skipped, except in CI, where it fails (no hidden skip)."""

from __future__ import annotations

import pytest

from tests.support.machine import unavailable


def test_outside_ci_a_missing_capability_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        unavailable("needs root")


def test_in_ci_a_missing_capability_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test, but needs root"):
        unavailable("needs root")
