"""Inside uWSGI, a full spool filesystem says so (issue 18, point 5).

On a real small tmpfs, ``uwsgi.spool`` says only "unable to spool job" and a parked write raised
a raw ``OSError``; spoolrt now raises ``DiskFull`` naming the directory, for a task spooled at
once and a parked one, and spools again once there is space.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tmpfs import fill, mounted_tmpfs
from tests.support.uwsgi import UwsgiInstance


@pytest.fixture
def uwsgi_on_tmpfs(tmp_path: Path):
    with mounted_tmpfs(tmp_path / "spool", "2m"):
        instance = UwsgiInstance("basic.ini", tmp_path).start()
        try:
            yield instance
        finally:
            instance.stop()


@pytest.mark.parametrize("postpone", [None, {"delta": 7200}], ids=["now", "parked"])
def test_uwsgi_says_the_disk_is_full(uwsgi_on_tmpfs: UwsgiInstance, postpone: object) -> None:
    instance = uwsgi_on_tmpfs
    options = {} if postpone is None else {"postpone": postpone}
    filler = fill(instance.spool_dir)
    status, body = instance.request(
        "/enqueue", {"task": "coretasks:processed", "args": ["full"], **options}
    )
    assert status == 400, body
    assert body["error"] == "DiskFull", body
    assert "full" in body["message"] and str(instance.spool_dir) in body["message"]
    filler.unlink()
    handle = instance.enqueue("coretasks:processed", "after", **options)
    assert handle["id"]
    if postpone is None:
        instance.wait_runs("processed", 1, tag="after")
