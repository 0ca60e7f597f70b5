"""Eager mode and the ``spoolrt.testing`` helpers users write their tests with."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler, SpoolerTask, backends
from spoolrt.api.tasks import current_task
from spoolrt.core.errors import SerializationError, TaskFailed
from spoolrt.core.outcomes import TaskStatus
from spoolrt.runtime.eager import PATH_PREFIX, EagerBackend, EagerTaskFailed
from spoolrt.testing import LocalSpool, assert_spooled, local_spool, spooled_tasks

pytest_plugins = ["pytester"]

calls: list[tuple[str, object]] = []


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    calls.clear()
    previous = backends.forced()
    backends.force(None)
    yield
    backends.force(previous)


@Spooler.task()
def greet(name: str, punctuation: str = "!") -> str:
    calls.append(("greet", name))
    return f"hello {name}{punctuation}"


@Spooler.task(retries=2, retry_delay=60)
def flaky(failures: int) -> int:
    attempt = current_task().attempt  # type: ignore[union-attr]
    calls.append(("flaky", attempt))
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


@Spooler.task()
def outer(name: str) -> str:
    greet(name)
    return "outer done"


@pytest.fixture
def spoolrt_local(tmp_path: Path) -> Iterator[LocalSpool]:
    """What the plugin's fixture of the same name gives (the plugin is tested with pytester)."""
    with local_spool(tmp_path / "spool") as spool:
        yield spool


class Ping(SpoolerTask):
    type_id = "unit-eager-ping"

    def process(self) -> object:
        calls.append(("ping", self.payload))
        return self.payload


# --- eager mode -----------------------------------------------------------------------------------


def test_eager_runs_the_task_at_call_time_and_the_handle_answers(tmp_path: Path) -> None:
    with spoolrt.eager(work_dir=str(tmp_path)) as backend:
        handle = greet("ann")
        assert calls == [("greet", "ann")]
        assert spoolrt.backend() is backend
    assert handle.path == f"{PATH_PREFIX}{handle.task_id}"
    assert handle.status is TaskStatus.DONE
    assert handle.result(timeout=1) == "hello ann!"
    assert backend.reports[-1].result == "hello ann!"
    assert backend.results() == ["hello ann!"]


def test_eager_still_serialises_so_an_unpicklable_argument_fails_the_call() -> None:
    with spoolrt.eager(), pytest.raises(SerializationError):
        greet(lambda: "x")  # type: ignore[arg-type]
    assert calls == []


def test_eager_arguments_arrive_as_copies_not_the_same_objects() -> None:
    seen: list[object] = []
    original = {"a": [1, 2]}

    @Spooler.task(name="tests.unit.test_eager:keep")
    def keep(value: object) -> None:
        seen.append(value)

    with spoolrt.eager():
        keep(original)
    assert seen == [original] and seen[0] is not original


def test_eager_runs_retries_at_once_until_success() -> None:
    with spoolrt.eager() as backend:
        handle = flaky(2)
    assert calls == [("flaky", 1), ("flaky", 2), ("flaky", 3)]
    assert backend.reports[-1].status is TaskStatus.DONE
    assert handle.result(timeout=1) == 3


def test_eager_failure_raises_with_the_tasks_traceback() -> None:
    with spoolrt.eager(), pytest.raises(EagerTaskFailed) as caught:
        flaky(5)
    assert isinstance(caught.value, TaskFailed)
    assert caught.value.report.status is TaskStatus.FAILED
    assert "RuntimeError: attempt 3 failed" in str(caught.value)
    assert "Traceback" in str(caught.value)
    assert [c[1] for c in calls] == [1, 2, 3]


def test_eager_without_propagation_keeps_quiet_and_keeps_the_report(tmp_path: Path) -> None:
    spoolrt.configure(spool_dirs=[str(tmp_path)])
    with spoolrt.eager(propagate=False) as backend:
        handle = flaky(5)
    assert backend.reports[-1].status is TaskStatus.FAILED
    assert handle.status is TaskStatus.FAILED
    failed = list((tmp_path / ".spoolrt" / "failed").glob("uwsgi_spoolfile_on_*[!n]"))
    assert len(failed) == 1  # the failed area of the spooler's directory, as in production
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("uwsgi_spoolfile")]


def test_eager_raw_messages_and_task_types(tmp_path: Path) -> None:
    with spoolrt.eager():
        Ping.spool({"n": 1})
        Spooler.send_message_raw("ucfg_unit-eager-ping", payload="raw")
        with pytest.raises(EagerTaskFailed, match="quarantined"):
            Spooler.send_message_raw("nobody handles this", payload=1)
    assert calls == [("ping", {"n": 1}), ("ping", "raw")]


def test_eager_ignores_postpone_and_priority() -> None:
    with spoolrt.eager():
        greet.spool_with(("later",), postpone=3600, priority=3)
    assert calls == [("greet", "later")]


def test_a_task_that_spools_another_runs_it_inline_too() -> None:
    with spoolrt.eager():
        outer("nested")
    assert calls == [("greet", "nested")]


def test_configure_eager_switches_the_whole_process() -> None:
    spoolrt.configure(eager=True)
    assert isinstance(spoolrt.backend(), EagerBackend)
    greet("global")
    assert calls == [("greet", "global")]


def test_eager_context_restores_the_previous_choice(tmp_path: Path) -> None:
    local = LocalSpool(tmp_path)
    backends.force(local.backend)
    with spoolrt.eager():
        assert spoolrt.backend().name == "eager"
    assert spoolrt.backend() is local.backend


# --- spoolrt.testing ------------------------------------------------------------------------------


def test_local_fixture_spools_real_files_and_runs_them(spoolrt_local: LocalSpool) -> None:
    handle = greet("bob", punctuation="?")
    assert spoolrt_local.pending() == [handle.path]
    spooled = spoolrt_local.assert_spooled(greet, "bob", punctuation="?")
    assert spooled.task_id == handle.task_id
    assert calls == []
    assert spoolrt_local.run_until_empty() == {"done": 1}
    assert calls == [("greet", "bob")]
    assert handle.result(timeout=1) == "hello bob?"
    assert spoolrt_local.pending() == []


def test_assert_spooled_says_what_was_spooled_instead(spoolrt_local: LocalSpool) -> None:
    greet("carl")
    with pytest.raises(AssertionError, match=r"greet\('carl'\)"):
        assert_spooled(greet, "dora")
    with pytest.raises(AssertionError):
        assert_spooled(greet, "carl", punctuation="?")


def test_spooled_tasks_filters_by_function_type_or_name(spoolrt_local: LocalSpool) -> None:
    greet("a")
    Ping.spool(7)
    flaky.spool_with((0,), postpone=600)
    assert [t.args for t in spooled_tasks(greet)] == [("a",)]
    assert [t.payload for t in spooled_tasks(Ping)] == [7]
    (postponed,) = spooled_tasks(flaky.name)
    assert postponed.at is not None
    assert len(spooled_tasks()) == 3
    assert_spooled(Ping, 7)


def test_local_fixture_runs_postponed_tasks_and_retries_only_when_asked(
    spoolrt_local: LocalSpool,
) -> None:
    flaky(1)
    assert spoolrt_local.run_until_empty() == {"retrying": 1}
    assert len(spoolrt_local.pending()) == 1  # the retry, postponed by its delay
    assert spoolrt_local.run_until_empty() == {}
    assert spoolrt_local.run_until_empty(include_postponed=True) == {"done": 1}
    assert calls == [("flaky", 1), ("flaky", 2)]


def test_local_fixture_keeps_failures_in_the_failed_area(spoolrt_local: LocalSpool) -> None:
    flaky(9)
    assert spoolrt_local.run_until_empty(include_postponed=True) == {"retrying": 2, "failed": 1}
    assert len(spoolrt_local.failed()) == 1


def test_fixtures_put_the_previous_configuration_back(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["spoolrt.testing"]')
    pytester.makepyfile(
        textwrap.dedent(
            """
            import spoolrt
            from spoolrt import Spooler

            @Spooler.task()
            def hello(name):
                return name

            def test_local(spoolrt_local):
                hello("x")
                assert spoolrt.backend().name == "local"
                spoolrt_local.assert_spooled(hello, "x")

            def test_eager(spoolrt_eager):
                assert hello("y").result(timeout=1) == "y"

            def test_nothing_configured_after_them():
                assert spoolrt.get_settings().spool_dirs == []
                assert spoolrt.get_settings().secret_key is None
            """
        )
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
