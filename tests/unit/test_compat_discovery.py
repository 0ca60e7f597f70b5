"""Discovery outside uWSGI with nothing configured answers as uwsgiconf does: empty, not an
error (an admin page listing spoolers must render anywhere); sending still raises."""

from __future__ import annotations

import pytest

import spoolrt
from spoolrt import BackendUnavailable, Spooler, backends


@pytest.fixture(autouse=True)
def _no_backend() -> None:
    backends.force(None)
    spoolrt.configure(spool_dirs=[], eager=False)


def test_discovery_with_nowhere_to_spool_is_empty() -> None:
    assert Spooler.get_spoolers() == []
    assert Spooler.get_by_basename("spool") is None
    assert Spooler.get_tasks() == []
    assert Spooler.get_pids() == []
    assert "\n".join(map(str, Spooler.get_spoolers())) == ""


def test_sending_with_nowhere_to_spool_still_raises() -> None:
    with pytest.raises(BackendUnavailable):
        spoolrt.backend()
    with pytest.raises(BackendUnavailable, match="SPOOLRT_SPOOL_DIRS"):
        Spooler.send_message_raw("ucfg_x")
