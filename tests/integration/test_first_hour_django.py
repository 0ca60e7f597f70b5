"""Django settings validated by type, through ``manage.py check`` in a project of the test's
own (issue 14, item 1: ``SPOOLRT = {"EAGER": "false"}`` turned eager mode on and passed
``check``; ``"RETRIES": "3"`` passed ``check`` and failed only when a task was called).

A bad value stops Django's start-up (``ImproperlyConfigured``) rather than being reported as a
system check only: uWSGI and other WSGI servers never run the checks, so a warning there would
let production run with a setting nobody meant.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

SETTINGS = """
SECRET_KEY = "first-hour-secret"
INSTALLED_APPS = ["spoolrt.contrib.django"]
SPOOLRT = {spoolrt!r}
"""

PRINT_SETTINGS = """
import django, spoolrt
django.setup()
s = spoolrt.get_settings()
print(repr((s.eager, s.retries, s.retry_delay)))
"""


def run_django(tmp_path: Path, spoolrt_setting: dict[str, Any], *args: str) -> Any:
    (tmp_path / "first_hour_settings.py").write_text(
        textwrap.dedent(SETTINGS).format(spoolrt=spoolrt_setting)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOOLRT_")}
    env.update(
        PYTHONPATH=str(tmp_path),
        DJANGO_SETTINGS_MODULE="first_hour_settings",
        SPOOLRT_KEY_FILE=str(tmp_path / "secret_key"),
    )
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def test_check_passes_and_false_strings_are_false(tmp_path: Path) -> None:
    setting = {"EAGER": "false", "RETRIES": "3", "RETRY_DELAY": "0.5"}
    checked = run_django(tmp_path, setting, "-m", "django", "check")
    assert checked.returncode == 0, checked.stderr
    found = run_django(tmp_path, setting, "-c", PRINT_SETTINGS)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "(False, 3, 0.5)"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"EAGER": "maybe"}, "settings.SPOOLRT['EAGER']: 'maybe' is not a boolean"),
        ({"RETRIES": "three"}, "settings.SPOOLRT['RETRIES']: 'three' is not a whole number"),
        ({"RETRY_DELAY": -1}, "settings.SPOOLRT['RETRY_DELAY']: -1 is not a number of seconds"),
    ],
)
def test_check_fails_naming_the_setting(
    tmp_path: Path, setting: dict[str, Any], message: str
) -> None:
    checked = run_django(tmp_path, setting, "-m", "django", "check")
    assert checked.returncode != 0, checked.stdout
    assert "ImproperlyConfigured" in checked.stderr
    assert message in checked.stderr, checked.stderr
