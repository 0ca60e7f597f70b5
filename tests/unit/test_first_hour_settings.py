"""Settings are validated by type where they are read: ``configure()``, the environment, and the
framework settings (Flask's ``app.config`` in process here; Django's ``check`` runs in its own
process: tests/integration/test_first_hour_django.py).

Issue 14, item 1: ``eager="false"`` turned eager mode on, and ``"RETRIES": "3"`` passed until
a task was called.
"""

from __future__ import annotations

import pytest

import spoolrt
from spoolrt.contrib._config import options_from_settings
from spoolrt.core import config
from spoolrt.core.errors import ConfigurationError

flask = pytest.importorskip("flask")


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (config.ENV_EAGER, config.ENV_UNSIGNED, config.ENV_PARK_AFTER):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("text", ["false", "False", "0", "no", "off", " OFF "])
def test_configure_reads_false_strings_as_false(text: str) -> None:
    assert spoolrt.configure(eager=text).eager is False


@pytest.mark.parametrize("text", ["true", "1", "yes", "on", "TRUE"])
def test_configure_reads_true_strings_as_true(text: str) -> None:
    assert spoolrt.configure(eager=text).eager is True


@pytest.mark.parametrize("value", ["maybe", "", 2, None, 1.0])
def test_configure_refuses_a_value_that_is_not_a_boolean_by_name(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"eager: .* is not a boolean"):
        spoolrt.configure(eager=value)
    assert spoolrt.get_settings().eager is False, "a refused call must change nothing"


def test_configure_reads_a_number_string_as_the_number() -> None:
    settings = spoolrt.configure(retries="3", retry_delay="0.5", park_after=" 30 ")
    assert (settings.retries, settings.retry_delay, settings.park_after) == (3, 0.5, 30.0)
    assert isinstance(settings.retries, int)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("retries", "three"),
        ("retries", "2.5"),
        ("retries", -1),
        ("retries", True),
        ("retry_delay", "soon"),
        ("retry_delay", -1),
        ("retry_cap", float("nan")),
        ("park_after", [60]),
    ],
)
def test_configure_refuses_a_bad_number_by_name(name: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{name}: "):
        spoolrt.configure(**{name: value})


def test_configure_refuses_a_single_directory_string() -> None:
    with pytest.raises(ConfigurationError, match=r"spool_dirs: .*list of directories"):
        spoolrt.configure(spool_dirs="/var/spool/app")


def test_the_environment_flags_are_read_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_EAGER, "off")
    assert spoolrt.get_settings().eager is False
    config.reset()
    monkeypatch.setenv(config.ENV_EAGER, "yes")
    assert spoolrt.get_settings().eager is True


def test_an_environment_flag_that_is_not_a_boolean_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(config.ENV_EAGER, "maybe")
    with pytest.raises(ConfigurationError, match="SPOOLRT_EAGER: 'maybe' is not a boolean"):
        spoolrt.get_settings()


def test_a_framework_setting_is_refused_under_the_name_the_user_wrote() -> None:
    with pytest.raises(ConfigurationError, match=r"settings.SPOOLRT\['RETRIES'\]: 'x'"):
        options_from_settings({"RETRIES": "x"}, source="settings.SPOOLRT")
    assert options_from_settings({"EAGER": "false", "RETRIES": "3"}, source="s") == {
        "eager": False,
        "retries": 3,
    }


def test_flask_config_false_string_leaves_eager_off() -> None:
    app = flask.Flask("first_hour_app")
    app.config.update(SPOOLRT_EAGER="false", SPOOLRT_RETRIES="3", SPOOLRT_IMPORTS=[])
    from spoolrt.contrib.flask import Spoolrt

    Spoolrt(app)
    assert spoolrt.get_settings().eager is False
    assert spoolrt.get_settings().retries == 3


def test_flask_config_bad_value_is_refused_with_its_config_key() -> None:
    app = flask.Flask("first_hour_app")
    app.config.update(SPOOLRT_EAGER="maybe", SPOOLRT_IMPORTS=[])
    from spoolrt.contrib.flask import Spoolrt

    with pytest.raises(ConfigurationError, match=r"SPOOLRT_EAGER.*'maybe' is not a boolean"):
        Spoolrt(app)
