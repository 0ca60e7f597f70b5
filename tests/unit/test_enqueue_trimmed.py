"""Enqueue's hot path, trimmed: the route chosen once per settings generation and dropped on
``configure()``, the compact envelope header (old full headers still decode), the reused HMAC
state."""

from __future__ import annotations

import hmac
import json
import os
import struct
from pathlib import Path

import pytest

import spoolrt
from spoolrt.core import config, defaults
from spoolrt.core.codec.envelope import (
    MAGIC,
    VERSION,
    Envelope,
    decode_body,
    encode_body,
    read_header,
)
from spoolrt.core.codec.packet import unpack
from spoolrt.core.codec.serializers import Signer
from spoolrt.core.errors import BadSignature, UnknownSpooler
from spoolrt.sending import backends, enqueue

KEY = "unit-enqueue-trimmed-key-0123456789"


@spoolrt.Spooler.task
def trimmed_job(x: int) -> int:
    return x


def spool_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith("uwsgi_spoolfile"))


def test_configure_moves_the_next_call_to_the_new_spool_dir(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    spoolrt.configure(secret_key=KEY, spool_dirs=[str(first)])
    trimmed_job(1)
    trimmed_job(2)
    spoolrt.configure(spool_dirs=[str(second)])
    handle = trimmed_job(3)
    assert len(spool_files(first)) == 2 and len(spool_files(second)) == 1
    assert handle.spooler == os.path.realpath(second)


def test_the_backend_choice_is_kept_until_the_settings_change(tmp_path: Path) -> None:
    spoolrt.configure(secret_key=KEY, spool_dirs=[str(tmp_path)])
    chosen = backends.current()
    assert backends.current() is chosen
    token = backends.choice_token()
    spoolrt.configure(eager=True)
    assert backends.choice_token() != token
    assert backends.current().name == "eager"
    assert trimmed_job(5).result(timeout=1) == 5  # ran inline: the cached local route was dropped


def test_an_attribute_set_on_the_settings_drops_the_choice(tmp_path: Path) -> None:
    spoolrt.configure(secret_key=KEY, spool_dirs=[str(tmp_path)])
    trimmed_job(1)
    before = config.generation()
    config.get_settings().eager = True
    assert config.generation() != before
    assert trimmed_job(7).result(timeout=1) == 7


def test_a_pool_name_still_goes_remote_after_a_local_call_was_cached(tmp_path: Path) -> None:
    spoolrt.configure(secret_key=KEY, spool_dirs=[str(tmp_path)])
    trimmed_job(1)  # caches the default route
    spoolrt.configure(remote={"reports": ["127.0.0.1:9"]})
    route = enqueue._route("reports", config.get_settings())
    assert route.remote is not None and route.remote.pool.name == "reports"
    assert enqueue._route(None, config.get_settings()).remote is None
    spoolrt.configure(remote={})
    with pytest.raises(UnknownSpooler):
        enqueue._route("reports", config.get_settings())


def test_a_forced_backend_takes_calls_from_the_cached_route(tmp_path: Path) -> None:
    spoolrt.configure(secret_key=KEY, spool_dirs=[str(tmp_path)])
    trimmed_job(1)
    with spoolrt.eager():
        assert trimmed_job(9).result(timeout=1) == 9
    trimmed_job(2)
    assert len(spool_files(tmp_path)) == 2


def test_the_header_leaves_out_fields_at_their_default(tmp_path: Path) -> None:
    spoolrt.configure(secret_key=KEY, spool_dirs=[str(tmp_path)])
    trimmed_job(1)
    (path,) = spool_files(tmp_path)
    body = unpack(path.read_bytes()).body
    header_size = struct.unpack_from("<I", body, 37)[0]
    raw = json.loads(body[41 : 41 + header_size])
    assert set(raw) == {"id", "type", "msg", "name", "spooler", "ts"}
    full = read_header(body)[2]  # tools see every field, the defaults filled in
    assert full["attempt"] == 1 and full["retries"] == defaults.RETRIES and full["at"] is None
    assert full["ser"] == defaults.SERIALIZER and full["opts"] == {}


def test_options_away_from_their_default_travel_and_come_back() -> None:
    signer = Signer([KEY])
    envelope = Envelope(
        task_id="t1",
        type_id="x",
        serializer="json",
        attempt=3,
        retries=7,
        retry_delay=2.5,
        at=1234.5,
        priority=4,
        spooler="/srv/spool",
        enqueued_at=1000.0,
        options={"results": "status", "ttl": 60.0},
    )
    assert decode_body(encode_body(envelope, signer), signer) == envelope


def old_full_body(header: dict[str, object], payload: bytes, key: str) -> bytes:
    """A body as spoolrt wrote it before the compact header: every field, in the old order."""
    raw = json.dumps(header, separators=(",", ":")).encode()
    signed = struct.pack("<I", len(raw)) + raw + payload
    return MAGIC + bytes((VERSION,)) + hmac.digest(key.encode(), signed, "sha256") + signed


def test_an_old_file_with_the_full_header_still_decodes() -> None:
    header = {
        "id": "18c0-abcdef0123-1",
        "type": "fc",
        "msg": "ucfg_fc",
        "name": "mod:job",
        "ser": "pickle",
        "attempt": 2,
        "retries": 3,
        "delay": 5.0,
        "at": None,
        "prio": None,
        "spooler": "/srv/spool",
        "ts": 1764590000.25,
        "opts": {"results": "off"},
    }
    envelope = decode_body(old_full_body(header, b"payload", KEY), Signer([KEY]))
    assert (envelope.task_id, envelope.name, envelope.attempt, envelope.retries) == (
        "18c0-abcdef0123-1",
        "mod:job",
        2,
        3,
    )
    assert envelope.options == {"results": "off"} and envelope.spooler == "/srv/spool"
    assert envelope.payload == b"payload" and envelope.enqueued_at == 1764590000.25


def test_the_reused_hmac_state_signs_as_hmac_does_and_keeps_rotation() -> None:
    data = b"some signed part" * 10
    old, new = "old-key-0123456789abcdef", "new-key-0123456789abcdef"
    signer = Signer([new, old])
    assert signer.sign(data) == hmac.digest(new.encode(), data, "sha256")
    assert signer.sign(data) == signer.sign(data)  # the keyed state is copied, never consumed
    assert signer.verify(data, hmac.digest(old.encode(), data, "sha256"))
    assert not signer.verify(data, hmac.digest(b"another-key-0123456789", data, "sha256"))
    with pytest.raises(BadSignature):
        decode_body(old_full_body({"id": "1", "type": "x"}, b"", "wrong-key-0123456789"), signer)
