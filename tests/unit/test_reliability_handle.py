"""Task handles compare by task id and are still their path ``str`` (issue 18, point 9).

``TaskHandle`` is a ``str`` subclass (uwsgiconf returned the spool file's path), so handles
rebuilt by ``Spooler.get_result`` (empty path) all compared equal, and a set of them held one.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from spoolrt import Spooler, configure
from spoolrt.sending.handle import TaskHandle


def _handle(path: str, task_id: str) -> TaskHandle:
    return TaskHandle(path, task_id=task_id, task_name="t", spooler="/spool")


def test_handles_rebuilt_from_ids_are_distinct() -> None:
    a, b = _handle("", "id-a"), _handle("", "id-b")
    assert a != b
    assert not a == b  # noqa: SIM201  (== and != must agree)
    assert len({a, b}) == 2


def test_handles_of_one_task_are_equal_whatever_their_path() -> None:
    spooled, rebuilt = _handle("/spool/uwsgi_spoolfile_x", "id-a"), _handle("", "id-a")
    assert spooled == rebuilt
    assert not spooled != rebuilt  # noqa: SIM202
    assert hash(spooled) == hash(rebuilt)
    assert {spooled: 1}[rebuilt] == 1
    assert pickle.loads(pickle.dumps(spooled)) == rebuilt


def test_a_handle_is_still_its_path_for_uwsgiconf_code() -> None:
    handle = _handle("/spool/uwsgi_spoolfile_x", "id-a")
    assert isinstance(handle, str)
    assert handle == "/spool/uwsgi_spoolfile_x"
    assert handle != "/spool/other"
    assert handle in ["/spool/uwsgi_spoolfile_x"]
    assert handle.startswith("/spool/") and str(handle) == "/spool/uwsgi_spoolfile_x"
    assert sorted([_handle("/b", "1"), _handle("/a", "2")]) == ["/a", "/b"]


@Spooler.task()
def unit_handle_task(n: int) -> int:
    return n


def test_get_result_handles_of_two_tasks_differ(tmp_path: Path) -> None:
    configure(spool_dirs=[str(tmp_path)])
    first, second = unit_handle_task(1), unit_handle_task(2)
    found_first = Spooler.get_result(first.task_id)
    found_second = Spooler.get_result(second.task_id)
    assert found_first is not None and found_second is not None
    assert found_first == first and found_second == second
    assert found_first != found_second
