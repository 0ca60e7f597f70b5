"""A priority under an instance without ``spooler-ordered`` (what a default ``spoolrt serve``
runs) is refused with a message that names ``spoolrt serve --ordered``, not only the ini that
``serve`` regenerates each time (issue 14, item 4): from inside uWSGI and from a writer outside
it that sees the unordered spooler's announcement."""

from __future__ import annotations

from pathlib import Path

import pytest

import spoolrt
from spoolrt import Spooler
from spoolrt.core.errors import ConfigurationError
from spoolrt.sending import backends
from tests.support.uwsgi import UwsgiInstance, wait_for


@Spooler.task()
def first_hour_ordered(tag: str) -> str:
    return tag


def test_priority_error_points_at_serve_ordered(tmp_path: Path) -> None:
    instance = UwsgiInstance("basic.ini", tmp_path).start()
    try:
        status, body = instance.request(
            "/enqueue", {"task": "coretasks:ordered", "args": ["x"], "priority": 1}
        )
        assert status == 400 and "spoolrt serve --ordered" in body["message"], body
        assert "spooler-ordered = true" in body["message"]

        run = instance.spool_dir / ".spoolrt" / "run"
        wait_for(lambda: run.exists() and any(run.iterdir()), what="the spooler's announcement")
        spoolrt.configure(spool_dirs=[str(instance.spool_dir)], secret_key="k" * 32)
        previous = backends.forced()
        backends.force(None)
        try:
            with pytest.raises(ConfigurationError, match="spoolrt serve --ordered"):
                first_hour_ordered.spool_with(("y",), priority=0)
        finally:
            backends.force(previous)
        assert instance.pending() == []
    finally:
        instance.stop()
