"""The uwsgi-module guard: a spooler callable or post-fork hook assigned after spoolrt's is
chained behind it (logic checked on a stand-in module; tests/integration/test_compat_chaining.py
runs it under real uWSGI with uwsgiconf and uwsgidecorators)."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import pytest

from spoolrt.runtime import guard as uwsgi_backend


class Ours:
    _spoolrt = True

    def __init__(self) -> None:
        self.previous: Any = None


def foreign(env: dict[str, Any]) -> int:
    return -2


def guarded() -> tuple[ModuleType, Ours]:
    module = ModuleType("uwsgi")
    ours = Ours()
    module.spooler = ours  # type: ignore[attr-defined]
    assert uwsgi_backend.guard(module)
    return module, ours


def test_a_later_spooler_callable_is_chained_behind_spoolrts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    module, ours = guarded()
    with caplog.at_level(logging.WARNING, logger="spoolrt"):
        module.spooler = foreign  # type: ignore[attr-defined]
    assert module.spooler is ours and ours.previous is foreign
    assert "chained behind spoolrt's" in caplog.text


def test_the_same_holds_for_the_post_fork_hook() -> None:
    module, _ours = guarded()
    hook = Ours()
    module.post_fork_hook = hook  # type: ignore[attr-defined]
    module.post_fork_hook = print  # type: ignore[attr-defined]
    assert module.post_fork_hook is hook and hook.previous is print


def test_spoolrts_own_callables_and_other_attributes_are_set_as_usual() -> None:
    module, ours = guarded()
    newer = Ours()
    module.spooler = newer  # type: ignore[attr-defined]
    assert module.spooler is newer and ours.previous is None
    module.mule_msg_hook = foreign  # type: ignore[attr-defined]
    assert module.mule_msg_hook is foreign


def test_a_foreign_callable_set_before_spoolrts_is_simply_replaced() -> None:
    module = ModuleType("uwsgi")
    module.spooler = foreign  # type: ignore[attr-defined]
    uwsgi_backend.guard(module)
    ours = Ours()
    module.spooler = ours  # type: ignore[attr-defined]  # install() chains it itself
    assert module.spooler is ours
