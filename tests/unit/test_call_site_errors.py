"""Everything that can be known to be wrong at the call site fails there, with the documented
error, and writes nothing.

The backend here is a small stand-in that writes real spool files into a temporary directory
(as the local backend does), so "nothing written" is checked on disk, not on a mock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import spoolrt
from spoolrt import backends
from spoolrt.api.spooler import Spooler
from spoolrt.core.codec.envelope import Envelope, decode_packet, spool_vars
from spoolrt.core.codec.packet import pack, unpack
from spoolrt.core.errors import (
    BackendUnavailable,
    ConfigurationError,
    EnqueueError,
    InvalidTaskOption,
    PayloadTooLarge,
    SerializationError,
    UnknownSpooler,
)
from spoolrt.sending.backends.base import Backend
from spoolrt.spooldir.layout import write_spool_file


class DirBackend(Backend):
    """Writes spool files into known directories; ``ordered`` says whether priorities run."""

    name = "unit-dirs"

    def __init__(self, dirs: list[str], *, ordered: bool = True) -> None:
        self.dirs = dirs
        self.ordered = ordered

    def spooler_dirs(self) -> list[str]:
        return list(self.dirs)

    def check_priority(self, spool_dir: str) -> None:
        if not self.ordered:
            raise ConfigurationError("spooler-ordered is off: a priority would never run")

    def spool(self, spool_dir: str, envelope: Envelope, body: bytes) -> str:
        data = pack(spool_vars(envelope), body)  # refuses oversize vars before any write
        return write_spool_file(spool_dir, data, at=envelope.at, priority=envelope.priority)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    directory = (tmp_path / "spool").resolve()
    directory.mkdir()
    backends.force(DirBackend([str(directory)]))
    spoolrt.configure(secret_key="call-site-key-0123456789")
    try:
        yield directory
    finally:
        backends.force(None)


def written(spool: Path) -> list[str]:
    """Every file below the spool dir, temp files and spoolrt's own areas included. The
    task-id index entry (``.spoolrt/ids/<id>``) is a second name of a spool file (a hard link,
    the same inode), not a file of its own, so it counts once, under the spool file's name."""
    files = [p for p in spool.rglob("*") if p.is_file()]
    inodes = {p.stat().st_ino for p in files if "ids" not in p.parent.parts[-1:]}
    return sorted(
        str(p.relative_to(spool))
        for p in files
        if not (p.parent.name == "ids" and p.stat().st_ino in inodes)
    )


@Spooler.task()
def echo(*args: Any, **kwargs: Any) -> Any:
    return args, kwargs


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("this object refuses to be pickled")


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


# --- the control: a good call writes exactly one file that decodes back ----------------------


def test_a_good_call_writes_one_signed_file(spool: Path) -> None:
    handle = echo(1, "two", three=3.0)
    assert written(spool) == [Path(handle.path).name]
    envelope = decode_packet(
        unpack(Path(handle.path).read_bytes()), spoolrt.get_settings().signer()
    )
    assert envelope.name == echo.name and envelope.task_id == handle.task_id


# --- arguments that the serializer cannot take --------------------------------------------------


@pytest.mark.parametrize(
    "argument",
    [lambda: None, threading.Lock(), Unpicklable(), _nested(100_000)],
    ids=["lambda", "lock", "reduce-raises", "too-deep"],
)
def test_unpicklable_arguments_raise_serialization_error(spool: Path, argument: Any) -> None:
    with pytest.raises(SerializationError, match="pickle"):
        echo(argument)
    with pytest.raises(SerializationError):
        echo(kw=argument)
    assert written(spool) == []


NOT_JSON = {
    "bytes": b"raw",
    "set": {1, 2},
    "object": object(),
    "int-key": {1: "a"},  # json would silently turn the key into "1"
    "nested-int-key": [{"ok": {(1, 2): "tuple key"}}],
    "nan": math.nan,
    "inf": math.inf,
    "datetime": datetime(2030, 1, 1, tzinfo=timezone.utc),
    "too-deep": _nested(100_000),
}


@pytest.mark.parametrize("argument", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_non_json_arguments_raise_serialization_error_on_a_json_spooler(
    spool: Path, argument: Any
) -> None:
    json_spooler = Spooler(spool, serializer="json")
    with pytest.raises(SerializationError, match="JSON"):
        echo.spool_with((argument,), spooler=json_spooler)
    spoolrt.configure(serializer="json")
    with pytest.raises(SerializationError, match="JSON"):
        echo(argument)
    assert written(spool) == []


def test_json_data_is_accepted_and_recorded_as_json(spool: Path) -> None:
    handle = echo.spool_with(
        ([1, "a", None, 2.5, {"k": [True]}],), spooler=Spooler(spool, serializer="json")
    )
    envelope = decode_packet(
        unpack(Path(handle.path).read_bytes()), spoolrt.get_settings().signer()
    )
    assert envelope.serializer == "json"


# --- oversize -----------------------------------------------------------------------------------


def test_large_arguments_are_not_oversize_they_go_in_the_body(spool: Path) -> None:
    # uwsgiconf put data in 16-bit vars; spoolrt puts all of it in the body, which has no limit
    echo(b"x" * 300_000, message="m" * 100_000)
    assert len(written(spool)) == 1


def test_oversize_spool_vars_are_refused_before_anything_is_written(spool: Path) -> None:
    # The only vars spoolrt writes are uWSGI's own (spooler, priority, at); a spooler "path" of
    # 70 kB is the one way to overflow them, and it must fail before the write, not truncate.
    huge = str(spool) + "/" + "d" * 70_000
    backends.force(DirBackend([str(spool), huge]))
    target = Spooler(huge)
    assert target in Spooler.get_spoolers()
    envelope = Envelope(task_id="t", type_id="fcall", spooler=huge)
    with pytest.raises(PayloadTooLarge, match="65535"):
        backends.current().spool(str(spool), envelope, b"body")
    assert written(spool) == []


# --- where to ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["/no/such/spool", "nosuchbasename"])
def test_unknown_spooler_is_refused(spool: Path, name: str) -> None:
    with pytest.raises(UnknownSpooler, match="not a spooler of this process"):
        echo.spool_with((1,), spooler=name)
    with pytest.raises(UnknownSpooler):
        Spooler.send_message_raw("ucfg_fcall", spooler=name)
    assert written(spool) == []


def test_no_backend_at_all_is_a_clear_error(tmp_path: Path) -> None:
    backends.force(None)
    spoolrt.configure(spool_dirs=[])
    with pytest.raises(BackendUnavailable, match="uWSGI"):
        echo(1)
    assert list(tmp_path.iterdir()) == []


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [-1, "1", 1.5, True, [1]])
def test_bad_priority_is_refused(spool: Path, priority: Any) -> None:
    with pytest.raises(InvalidTaskOption, match="priority"):
        echo.spool_with((1,), priority=priority)
    with pytest.raises(InvalidTaskOption, match="priority"):
        Spooler.task(priority=priority)(lambda: None)
    with pytest.raises(InvalidTaskOption, match="priority"):
        Spooler.send_message_raw("ucfg_fcall", priority=priority)
    assert written(spool) == []


def test_priority_that_would_never_run_is_refused(spool: Path) -> None:
    backends.force(DirBackend([str(spool)], ordered=False))
    with pytest.raises(ConfigurationError, match="spooler-ordered"):
        echo.spool_with((1,), priority=3)
    assert written(spool) == []


NAIVE = datetime(2030, 1, 1, 12, 0)


@pytest.mark.parametrize(
    "postpone",
    [NAIVE, datetime.now(), -1, math.nan, math.inf, timedelta(seconds=-5), "tomorrow", True],
    ids=["naive", "naive-now", "negative", "nan", "inf", "negative-delta", "str", "bool"],
)
def test_bad_postpone_is_refused(spool: Path, postpone: Any) -> None:
    with pytest.raises(InvalidTaskOption, match="postpone"):
        echo.spool_with((1,), postpone=postpone)
    with pytest.raises(InvalidTaskOption, match="postpone"):
        Spooler.send_message_raw("ucfg_fcall", postpone=postpone)
    assert written(spool) == []


def test_naive_datetime_message_says_what_to_do(spool: Path) -> None:
    with pytest.raises(InvalidTaskOption, match="aware"):
        echo.spool_with((1,), postpone=NAIVE)
    echo.spool_with((1,), postpone=NAIVE.replace(tzinfo=timezone.utc))  # aware: fine
    assert len(written(spool)) == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("retries", -1), ("retries", 1.5), ("retries", True), ("retry_delay", -1),
     ("retry_delay", math.nan), ("retry_delay", "1s")],
)  # fmt: skip
def test_bad_retry_options_are_refused(spool: Path, option: str, value: Any) -> None:
    with pytest.raises(InvalidTaskOption):
        echo.spool_with((1,), **{option: value})
    with pytest.raises(InvalidTaskOption):
        Spooler.task(**{option: value})(lambda: None)
    assert written(spool) == []


def test_unknown_serializer_is_refused_where_it_is_chosen() -> None:
    with pytest.raises(ConfigurationError, match="serializer"):
        Spooler("/tmp/spool", serializer="yaml")
    with pytest.raises(ConfigurationError, match="serializer"):
        spoolrt.configure(serializer="yaml")


def test_every_call_site_error_is_an_enqueue_error() -> None:
    # one except clause catches "the task was not spooled"
    for error in (InvalidTaskOption, PayloadTooLarge, SerializationError, UnknownSpooler,
                  BackendUnavailable):  # fmt: skip
        assert issubclass(error, EnqueueError)
