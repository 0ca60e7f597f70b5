"""The framework integrations' pure parts: settings mapping, the derived key, serve arguments,
and the Flask extension in process (Django's run in its own processes: tests/integration)."""

from __future__ import annotations

import sys
from pathlib import Path

import flask
import pytest

import spoolrt
from spoolrt.contrib._config import add_framework_key, derive_key, options_from_settings
from spoolrt.contrib._serve import serve_arguments
from spoolrt.core.errors import ConfigurationError

# --- settings -----------------------------------------------------------------------------------


def test_upper_case_settings_map_to_configure_options() -> None:
    options = options_from_settings(
        {"SPOOL_DIRS": [Path("/a"), "/b"], "EAGER": True, "RETRIES": 5}, source="test"
    )
    assert options == {"spool_dirs": ["/a", "/b"], "eager": True, "retries": 5}
    spoolrt.configure(**options)
    assert spoolrt.get_settings().retries == 5


def test_a_misspelt_setting_is_refused_with_the_known_names() -> None:
    with pytest.raises(ConfigurationError, match=r"'EAGRE' in test; known: .*EAGER"):
        options_from_settings({"EAGRE": True}, source="test")


def test_a_single_spool_dir_string_is_refused() -> None:
    # A str is iterable: it would become one spool dir per character.
    with pytest.raises(ConfigurationError, match="list of directories"):
        options_from_settings({"SPOOL_DIRS": "/var/spool/app"}, source="test")


# --- the derived key ----------------------------------------------------------------------------


def test_derived_key_is_stable_distinct_and_not_the_secret() -> None:
    assert derive_key("s3cret") == derive_key(b"s3cret")
    assert derive_key("s3cret") != derive_key("s3cret2")
    assert "s3cret" not in derive_key("s3cret")


def test_framework_secret_gives_the_key_and_its_fallbacks_the_old_keys() -> None:
    options = add_framework_key({}, "new", ["old", ""])
    assert options == {"secret_key": derive_key("new"), "old_keys": [derive_key("old")]}


def test_explicit_key_and_environment_key_win_over_the_framework_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert add_framework_key({"secret_key": "mine"}, "fw") == {"secret_key": "mine"}
    monkeypatch.setenv("SPOOLRT_SECRET_KEY", "from-env")
    assert add_framework_key({}, "fw") == {}
    monkeypatch.delenv("SPOOLRT_SECRET_KEY")
    assert add_framework_key({}, None) == {}


# --- serve arguments ----------------------------------------------------------------------------


def _serve(*args: str) -> list[str]:
    return serve_arguments(
        args,
        app=lambda: "site.wsgi:application",
        pythonpath=lambda: "/project",
        tasks=["spoolrt.contrib.django.spooler"],
        spool_dirs=["/spool/a"],
    )


def test_serve_fills_in_what_the_framework_knows() -> None:
    assert _serve("-w", "4", "--threads", "8") == [
        "site.wsgi:application",
        "--pythonpath",
        "/project",
        "--tasks",
        "spoolrt.contrib.django.spooler",
        "--spool",
        "/spool/a",
        "--workers",
        "4",
        "--threads",
        "8",
    ]


def test_serve_keeps_what_the_user_gave() -> None:
    given = ["other.wsgi", "--pythonpath=/x", "--tasks", "t", "--spool", "/s", "--http", "h:1"]
    assert _serve(*given) == given


def test_serve_does_not_take_an_option_value_for_the_app() -> None:
    assert _serve("--http", "127.0.0.1:9000")[0] == "site.wsgi:application"


def test_serve_help_is_passed_through_untouched() -> None:
    assert _serve("--help") == ["--help"]


# --- Flask, in process --------------------------------------------------------------------------


def _flask_app(name: str = "contrib_test_app", **config: object) -> flask.Flask:
    app = flask.Flask(name)
    app.config.update(SECRET_KEY="flask-secret", **config)
    return app


def test_flask_extension_configures_spoolrt_from_app_config(tmp_path: Path) -> None:
    from spoolrt.contrib.flask import Spoolrt

    app = _flask_app(SPOOLRT_SPOOL_DIRS=[tmp_path], SPOOLRT_RETRIES=1)
    Spoolrt(app)
    settings = spoolrt.get_settings()
    assert settings.spool_dirs == [str(tmp_path)] and settings.retries == 1
    assert settings.secret_key == derive_key("flask-secret")
    assert app.extensions["spoolrt"].imported == []
    assert "spoolrt" in app.cli.commands


def test_flask_unknown_spoolrt_key_is_refused() -> None:
    from spoolrt.contrib.flask import Spoolrt

    with pytest.raises(ConfigurationError, match="SPOOL_DIR"):
        Spoolrt(_flask_app(SPOOLRT_SPOOL_DIR="/x"))


def test_flask_config_names_remote_pools_their_dashboards_and_the_scheduler() -> None:
    from spoolrt.contrib.flask import Spoolrt

    pool = {"nodes": ["10.0.0.5:3031", "/run/node.sock"], "timeout": "2"}
    Spoolrt(
        _flask_app(
            SPOOLRT_REMOTE={"reports": pool},
            SPOOLRT_DASHBOARDS={"reports": ["10.0.0.5:9181"]},
            SPOOLRT_SCHEDULER="false",
        )
    )
    settings = spoolrt.get_settings()
    reports = settings.remote["reports"]
    assert reports.nodes == (("10.0.0.5", 3031), ("/run/node.sock", 0))
    assert reports.timeout == 2.0
    assert settings.dashboards == {"reports": ["10.0.0.5:9181"]}
    assert settings.scheduler is False


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("SPOOLRT_REMOTE", ["10.0.0.5:3031"], "dict of pool name"),
        ("SPOOLRT_REMOTE", {"reports": []}, "at least one node"),
        ("SPOOLRT_REMOTE", {"reports": ["10.0.0.5"]}, "HOST:PORT"),
        ("SPOOLRT_DASHBOARDS", {"reports": "10.0.0.5:9181"}, "list of addresses"),
        ("SPOOLRT_SCHEDULER", "sometimes", "not a boolean"),
    ],
)
def test_flask_refuses_a_bad_pool_setting_under_its_config_key(
    key: str, value: object, problem: str
) -> None:
    from spoolrt.contrib.flask import Spoolrt

    with pytest.raises(ConfigurationError, match=f"{key}.*{problem}"):
        Spoolrt(_flask_app("contrib_test_app", **{key: value}))
    assert spoolrt.get_settings().remote == {}  # nothing half-applied


def test_settings_map_remote_to_configure_options() -> None:
    options = options_from_settings({"REMOTE": {"r": ["h:1"]}, "SCHEDULER": "0"}, source="t")
    assert options["remote"]["r"].nodes == (("h", 1),) and options["scheduler"] is False


def test_flask_imports_the_tasks_module_of_the_app_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spoolrt.contrib.flask import Spoolrt

    package = tmp_path / "flaskpkg_for_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import flaskpkg_for_test  # noqa: F401

    try:
        ext = Spoolrt(_flask_app("flaskpkg_for_test"))
        assert ext.imported == ["flaskpkg_for_test.tasks"]
        assert sys.modules["flaskpkg_for_test.tasks"].LOADED
        with pytest.raises(ConfigurationError, match="list of module names"):
            Spoolrt(_flask_app("flaskpkg_for_test", SPOOLRT_IMPORTS="flaskpkg_for_test.tasks"))
    finally:
        for name in ("flaskpkg_for_test", "flaskpkg_for_test.tasks"):
            sys.modules.pop(name, None)


def test_app_context_observer_wraps_each_run_and_drops_a_leftover_context() -> None:
    from spoolrt.contrib.flask import AppContextObserver

    app = _flask_app()
    observer = AppContextObserver(app)
    observer.started(None, "/spool")
    assert flask.current_app.name == app.name
    observer.started(None, "/spool")  # the last run's bookkeeping failed: no finished() came
    observer.finished(None, "/spool")
    assert not flask.has_app_context()
    observer.finished(None, "/spool")  # a quarantined file: finished() without started()
    assert not flask.has_app_context()


def test_spooler_observers_reach_spooler_side_dispatchers_only() -> None:
    from spoolrt.contrib._config import add_spooler_observer
    from spoolrt.runtime.dispatch import Dispatcher, _spooler_observers

    class Hook:
        def started(self, envelope: object, spool_dir: str) -> None: ...

        def finished(self, report: object, spool_dir: str) -> None: ...

    saved = list(_spooler_observers)
    try:
        add_spooler_observer(Hook())
        add_spooler_observer(Hook())  # same type: replaces, never hooks twice
        spooler_side = [type(o) for o in Dispatcher().observers]
        eager_side = [type(o) for o in Dispatcher(spooler_side=False).observers]
        assert spooler_side.count(Hook) == 1
        assert Hook not in eager_side
    finally:
        _spooler_observers[:] = saved
