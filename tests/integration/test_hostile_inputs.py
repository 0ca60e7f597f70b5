"""Hostile and broken spool files, dropped straight into a running spooler's directory.

Each file is written under a name no spooler looks at and renamed into place, so what is tested
is its content, not a half-written file. For every case: the file never runs (nor does any code
inside it), it ends where the table says, the spooler goes on with the next good task, and
nothing else in the directory is touched (a postponed sentinel task stays byte for byte).

What uWSGI does before spoolrt sees a file (core/spooler.c, plugins/python/python_plugin.c,
uWSGI 2.0): a file under 4 bytes is skipped at every scan and left in place forever; a file whose
header declares more vars than it holds, or whose vars do not parse (a key or value length that
runs past the block, a zero-length key) is deleted without calling the spooler callable. spoolrt
never gets to quarantine those ("deleted" / "ignored" below): nothing runs, nothing stalls, but
there is no trace. uWSGI never checks modifier1, so such a file still reaches spoolrt. The
pure-Python worker reads files itself and quarantines all of these as "corrupt".
"""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spoolrt.core.codec.envelope import (
    MAGIC,
    VERSION,
    Envelope,
    encode_body,
    new_task_id,
    spool_vars,
)
from spoolrt.core.codec.packet import HEADER, MODIFIER1_SPOOL, pack, pack_vars
from spoolrt.core.codec.serializers import MAC_SIZE, Signer
from tests.integration.conftest import RUNTIMES, start_runtime
from tests.support.uwsgi import UwsgiInstance, wait_for

pytestmark = pytest.mark.integration

#: The key every test runtime is started with (tests/support/uwsgi.py).
KEY = "integration-test-key-0123456789"
SIGNER = Signer([KEY])
ATTACKER = Signer(["an-attacker-guessing-keys-000000"])
PROCESSED = "coretasks:processed"


class _CodeOnLoad:
    """Unpickling this creates ``path``: the stand-in for "runs the attacker's code"."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


@dataclass
class Forge:
    """Builds spool files for one runtime: valid ones signed with its key, and broken ones."""

    spool_dir: str
    marker: str  # a file that exists only if hostile code ran

    def envelope(self, tag: str, **overrides: Any) -> Envelope:
        payload = {"func": PROCESSED, "arg": (tag,), "kwg": {}}
        fields: dict[str, Any] = dict(
            task_id=new_task_id(),
            type_id="fcall",
            message="ucfg_fcall",
            name=PROCESSED,
            payload=pickle.dumps(payload),
            retries=0,
            spooler=self.spool_dir,
        )
        fields.update(overrides)
        return Envelope(**fields)

    def evil_payload(self) -> bytes:
        return pickle.dumps({"func": PROCESSED, "arg": (_CodeOnLoad(self.marker),), "kwg": {}})

    def file(self, envelope: Envelope, signer: Signer | None = SIGNER) -> bytes:
        return pack(spool_vars(envelope), encode_body(envelope, signer))

    def body(self, tag: str, signer: Signer | None = SIGNER, **overrides: Any) -> bytes:
        return encode_body(self.envelope(tag, **overrides), signer)

    def with_body(self, body: bytes, spool_vars_: dict[bytes, bytes] | None = None) -> bytes:
        return pack({b"spoolrt": b"1"} if spool_vars_ is None else spool_vars_, body)


def _resign_header(body: bytes, edit: Callable[[bytes], bytes], signer: Signer) -> bytes:
    """Replace the header bytes of a body by ``edit(header)``, with a fresh MAC from ``signer``
    (a writer that holds the key but writes nonsense)."""
    start = len(MAGIC) + 1 + MAC_SIZE
    (size,) = struct.unpack_from("<I", body, start)
    header = edit(body[start + 4 : start + 4 + size])
    signed = struct.pack("<I", len(header)) + header + body[start + 4 + size :]
    return MAGIC + bytes((VERSION,)) + signer.sign(signed) + signed


def _edit_header(body: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """Change a header field and keep the old MAC: tampering by someone without the key."""
    start = len(MAGIC) + 1 + MAC_SIZE
    (size,) = struct.unpack_from("<I", body, start)
    header = json.loads(body[start + 4 : start + 4 + size])
    edit(header)
    raw = json.dumps(header, separators=(",", ":")).encode()
    return body[:start] + struct.pack("<I", len(raw)) + raw + body[start + 4 + size :]


def _random_bytes() -> bytes:
    data = random.Random(0).randbytes(1024)
    assert struct.unpack_from("<H", data, 1)[0] > len(data) - 4  # declares more than it holds
    return data


# --- the cases ------------------------------------------------------------------------------------
# Outcome per runtime: ("quarantine", reason), ("deleted",) by uWSGI without calling spoolrt,
# ("ignored",) left in place by uWSGI, or ("runs",) for the controls.

QUARANTINED_BY_WORKER = ("quarantine", "corrupt")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Forge], bytes]
    under_uwsgi: tuple[str, ...]
    under_worker: tuple[str, ...] | None = None  # None: the same as under uWSGI
    old: bool = False  # backdate the file (the worker judges tiny files only when not young)
    exact_copy: bool = True  # quarantine keeps these very bytes (uWSGI hands over parsed vars)
    tag: str = ""  # for the controls: the tag their run records

    def expected(self, kind: str) -> tuple[str, ...]:
        if kind == "worker" and self.under_worker is not None:
            return self.under_worker
        return self.under_uwsgi


def _cut(data: bytes, keep: int) -> bytes:
    assert 0 < keep < len(data)
    return data[:keep]


def _vars_size(f: Forge) -> int:
    return len(pack_vars(spool_vars(f.envelope("x"))))


CASES = [
    # controls: the forge makes real tasks, so what differs below is only the damage
    Case("control-signed-file", lambda f: f.file(f.envelope("control")), ("runs",), tag="control"),
    Case(
        "control-vars-rewritten",  # vars are never trusted: a signed body runs as signed
        lambda f: f.with_body(
            f.body("vars-rewritten"),
            {b"spoolrt": b"1", b"spooler": b"/tmp/elsewhere", b"priority": b"x"},
        ),
        ("runs",),
        tag="vars-rewritten",
    ),
    # too short to be anything
    Case("empty-file", lambda f: b"", ("ignored",), QUARANTINED_BY_WORKER, old=True),
    Case("three-bytes", lambda f: b"\x11\x00\x00", ("ignored",), QUARANTINED_BY_WORKER, old=True),
    Case("header-only", lambda f: HEADER.pack(MODIFIER1_SPOOL, 0, 0), ("quarantine", "foreign")),
    # truncated: the header claims more than is there
    Case(
        "truncated-inside-vars",
        lambda f: _cut(f.file(f.envelope("t")), 4 + _vars_size(f) // 2),
        ("deleted",),
        QUARANTINED_BY_WORKER,
    ),
    Case(
        "huge-declared-vars",
        lambda f: HEADER.pack(MODIFIER1_SPOOL, 0xFFFF, 0) + b"\xff" * 64,
        ("deleted",),
        QUARANTINED_BY_WORKER,
    ),
    Case(
        "key-length-past-vars",
        lambda f: HEADER.pack(MODIFIER1_SPOOL, 6, 0) + b"\xff\x00abcd" + f.body("k"),
        ("deleted",),
        QUARANTINED_BY_WORKER,
    ),
    Case(
        # uWSGI refuses a zero-length key and deletes the file; spoolfile.unpack refuses it too,
        # so the worker quarantines it.
        "empty-key",
        lambda f: HEADER.pack(MODIFIER1_SPOOL, 4, 0) + b"\x00\x00\x00\x00" + f.body("empty-key"),
        ("deleted",),
        QUARANTINED_BY_WORKER,
    ),
    Case("random-bytes", lambda f: _random_bytes(), ("deleted",), QUARANTINED_BY_WORKER),
    # cut inside the body / envelope
    Case(
        "cut-inside-envelope-prefix",
        lambda f: f.with_body(f.body("c")[:20]),
        ("quarantine", "corrupt"),
    ),
    Case(
        "cut-inside-envelope-header",
        lambda f: f.with_body(f.body("c")[:60]),
        ("quarantine", "corrupt"),
    ),
    Case(
        "cut-inside-payload",
        lambda f: f.with_body(f.body("c")[:-10]),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "huge-declared-header",
        lambda f: f.with_body(
            MAGIC + bytes((VERSION,)) + bytes(MAC_SIZE) + struct.pack("<I", 0xFFFFFFFF) + b"{}"
        ),
        ("quarantine", "corrupt"),
    ),
    # not spoolrt's
    Case(
        "foreign-packet",
        lambda f: pack({b"task": b"send_mail", b"to": b"x"}, b"hello"),
        ("quarantine", "foreign"),
    ),
    Case(
        "marker-but-random-body",
        lambda f: f.with_body(random.Random(1).randbytes(300)),
        ("quarantine", "foreign"),
    ),
    Case(
        "modifier1-not-17",  # uWSGI does not look at modifier1; the worker's codec does
        lambda f: HEADER.pack(0, 5, 0) + pack_vars({b"a": b""}) + b"body",
        ("quarantine", "foreign"),
        QUARANTINED_BY_WORKER,
        exact_copy=False,
    ),
    # forged or altered
    Case(
        "signed-with-another-key",
        lambda f: f.file(f.envelope("forged"), ATTACKER),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "unsigned-envelope",
        lambda f: f.file(f.envelope("unsigned"), None),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "replay-as-another-task-name",
        lambda f: f.with_body(_edit_header(f.body("r"), lambda h: h.update(name="tasks_a:dup"))),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "replay-as-another-task-type",
        lambda f: f.with_body(_edit_header(f.body("r"), lambda h: h.update(type="greeting"))),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "replay-with-more-retries",
        lambda f: f.with_body(_edit_header(f.body("r"), lambda h: h.update(retries=1000))),
        ("quarantine", "bad-signature"),
    ),
    # code that would run if anything unpickled it
    Case(
        "pickle-as-raw-body",
        lambda f: f.with_body(f.evil_payload()),
        ("quarantine", "foreign"),
    ),
    Case(
        "pickle-in-unsigned-envelope",
        lambda f: f.file(f.envelope("evil", payload=f.evil_payload()), None),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "pickle-signed-with-another-key",
        lambda f: f.file(f.envelope("evil", payload=f.evil_payload()), ATTACKER),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "pickle-swapped-into-a-signed-body",
        lambda f: f.with_body(f.body("swap", payload=b"x" * 10)[:-10] + f.evil_payload()),
        ("quarantine", "bad-signature"),
    ),
    Case(
        "pickle-in-a-foreign-packet",
        lambda f: pack({b"pickle": b"1"}, f.evil_payload()),
        ("quarantine", "foreign"),
    ),
    # signed with the right key, but not something spoolrt can run
    Case(
        "signed-header-not-json",
        lambda f: f.with_body(_resign_header(f.body("j"), lambda h: b"[" * 5000, SIGNER)),
        ("quarantine", "corrupt"),
    ),
    Case(
        "signed-header-overflowing-number",
        lambda f: f.with_body(
            _resign_header(
                f.body("n"), lambda h: h.replace(b"{", b'{"attempt":1e999,', 1), SIGNER
            )  # the compact header leaves attempt 1 out: the damage adds it
        ),
        ("quarantine", "corrupt"),
    ),
    Case(
        "signed-unknown-type",
        lambda f: f.file(f.envelope("u", type_id="no-such-type")),
        ("quarantine", "unknown-type"),
    ),
    Case(
        "signed-unknown-function",
        lambda f: f.file(
            f.envelope("u", payload=pickle.dumps({"func": "nowhere:gone", "arg": (), "kwg": {}}))
        ),
        ("quarantine", "unknown-task"),
    ),
    Case(
        "signed-undecodable-payload",
        lambda f: f.file(f.envelope("p", payload=b"\x80\x05not a pickle")),
        ("quarantine", "payload-decode"),
    ),
    Case(
        "signed-unknown-serializer",
        lambda f: f.file(f.envelope("s", serializer="yaml")),
        ("quarantine", "payload-decode"),
    ),
]


# --- the runtime, shared by all cases of a module run ---------------------------------------------


@dataclass
class Target:
    kind: str
    runtime: UwsgiInstance
    forge: Forge
    sentinel: Path
    sentinel_bytes: bytes
    spooler_pids: list[int]


@pytest.fixture(scope="module", params=RUNTIMES)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    kind: str = request.param
    runtime = start_runtime(kind, "basic.ini", tmp_path_factory.mktemp(f"hostile-{kind}"))
    try:
        spool_dir = os.path.realpath(runtime.spool_dir)
        sentinel = Path(runtime.enqueue(PROCESSED, "sentinel", postpone=3600)["path"])
        pids = runtime.get("/spoolers")["pids"]
        forge = Forge(spool_dir, str(runtime.out_dir / "hostile-code-ran"))
        yield Target(kind, runtime, forge, sentinel, sentinel.read_bytes(), pids)
    finally:
        runtime.stop()


def drop(spool_dir: str, name: str, data: bytes, *, old: bool = False) -> Path:
    """Place ``data`` as spool file ``name`` in one step (write elsewhere, then rename)."""
    tmp = Path(spool_dir) / f".hostile-{name}"
    tmp.write_bytes(data)
    if old:
        os.utime(tmp, (os.path.getmtime(tmp) - 600,) * 2)
    final = Path(spool_dir) / name
    os.rename(tmp, final)
    return final


def wake(target: Target) -> None:
    """Signal the spoolers, as spoolrt's local writer does, so they scan now, not in a second."""
    for pid in target.spooler_pids:
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass


def quarantine_record(runtime: UwsgiInstance, name: str) -> dict[str, Any] | None:
    record = runtime.spool_dir / ".spoolrt" / "quarantine" / f"{name}.json"
    kept = runtime.spool_dir / ".spoolrt" / "quarantine" / name
    if not (record.exists() and kept.exists()):
        return None
    return json.loads(record.read_text())


def good_task_runs(target: Target, tag: str) -> None:
    target.runtime.enqueue(PROCESSED, tag)
    target.runtime.wait_runs("processed", 1, tag=tag)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file(target: Target, case: Case) -> None:
    runtime, forge = target.runtime, target.forge
    data = case.build(forge)
    name = f"uwsgi_spoolfile_on_hostile_{case.name}"
    path = drop(forge.spool_dir, name, data, old=case.old)
    wake(target)
    expected = case.expected(target.kind)

    if expected[0] == "runs":
        runtime.wait_runs("processed", 1, tag=case.tag)
        wait_for(lambda: not path.exists(), what=f"{name} to be removed after running")
    elif expected[0] == "quarantine":
        record = wait_for(lambda: quarantine_record(runtime, name), what=f"{name} in quarantine")
        assert record["reason"] == expected[1], record
        assert record["file"] == name and record["detail"]
        kept = runtime.spool_dir / ".spoolrt" / "quarantine" / name
        if case.exact_copy or target.kind != "uwsgi":
            assert kept.read_bytes() == data  # kept byte for byte, for a person to look at
        wait_for(lambda: not path.exists(), what=f"{name} to leave the spool dir")
        line = f"quarantined {name} ({expected[1]})"
        wait_for(lambda: line in runtime.log(), what=f"a WARNING line: {line}")
    elif expected[0] == "deleted":
        wait_for(lambda: not path.exists(), what=f"uWSGI to delete {name}")
        assert quarantine_record(runtime, name) is None
    else:  # ignored: a scan must have passed over it, and one more to be sure
        good_task_runs(target, f"scan-1-{case.name}")
        wake(target)
        good_task_runs(target, f"scan-2-{case.name}")
        assert path.read_bytes() == data and quarantine_record(runtime, name) is None
        path.unlink()

    # the spooler goes on, and nothing else was touched
    good_task_runs(target, f"after-{case.name}")
    assert not os.path.exists(forge.marker), "hostile code ran"
    assert target.sentinel.read_bytes() == target.sentinel_bytes
    assert runtime.area("failed") == []
    unexpected = [
        r for r in runtime.runs("processed") if not str(r["tag"]).startswith(("after-", "scan-"))
    ]
    assert {r["tag"] for r in unexpected} <= {c.tag for c in CASES if c.tag}
    assert not os.path.exists("/tmp/elsewhere")
    log = runtime.log()
    assert "could not finish" not in log  # no SPOOL_RETRY: nothing loops
    assert "OOOPS the spooler is no more" not in log  # nothing crashed it
    if target.kind == "uwsgi":
        assert runtime.get("/spoolers")["pids"] == target.spooler_pids


def test_hostile_payload_really_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The weapon works: the suite would notice if a spooler ever unpickled it."""
    forge = Forge(str(tmp_path), str(tmp_path / "ran"))
    pickle.loads(forge.evil_payload())
    assert (tmp_path / "ran").exists()


def test_every_quarantine_reason_is_covered() -> None:
    reasons = {c.under_uwsgi[1] for c in CASES if c.under_uwsgi[0] == "quarantine"}
    assert reasons == {
        "corrupt",
        "foreign",
        "bad-signature",
        "unknown-type",
        "unknown-task",
        "payload-decode",
    }


def test_forged_files_differ_from_the_control_only_in_their_damage() -> None:
    forge = Forge("/spool", "/nonexistent/marker")
    control = forge.body("same", task_id="t")
    assert _edit_header(control, lambda h: None) == control  # the edit itself changes nothing
    assert _resign_header(control, lambda h: h, SIGNER) == control


def test_a_spool_dir_other_users_can_write_is_warned_about_at_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o777)
    with UwsgiInstance("basic.ini", tmp_path) as runtime:
        wait_for(
            lambda: "spool directory is open to other users" in runtime.log(),
            what="the start-up warning",
        )
        assert "writable by all users" in runtime.log()
        # a warning, not a refusal: tasks still run (and the instance is fully up before the
        # stop: a SIGINT while uWSGI still spawns workers is lost, and stop() waits 15 s)
        runtime.enqueue(PROCESSED, "open-dir")
        runtime.wait_runs("processed", 1, tag="open-dir")


def test_a_private_spool_dir_gets_no_warning_and_uwsgi_writes_0600(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir(mode=0o700)
    with UwsgiInstance("basic.ini", tmp_path) as runtime:
        later = runtime.enqueue(PROCESSED, "later", postpone=3600)  # written by uwsgi.spool
        assert stat.S_IMODE(os.stat(later["path"]).st_mode) == 0o600
        assert "open to other users" not in runtime.log()
