"""What a test needs from the machine, and what becomes of it when the machine lacks it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str) -> NoReturn:
    """Skip a test this machine cannot run (no root, no tmpfs mount, no ``ip netns``), except
    in CI (``CI`` set), whose machine ``./dev test`` provisions for it: there a missing
    capability fails the test instead of hiding a regression behind a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test, but {what}")
    pytest.skip(what)
