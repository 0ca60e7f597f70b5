"""Where the signing key comes from, how it rotates, and what turning signing off does."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import spoolrt
from spoolrt import Spooler, TaskStatus
from spoolrt.core.codec.envelope import Envelope, decode_body, encode_body, spool_vars
from spoolrt.core.codec.packet import SpoolPacket, unpack
from spoolrt.core.codec.serializers import (
    PickleSerializer,
    Signer,
    default_key_file,
    load_or_create_key_file,
    signer_from_environment,
)
from spoolrt.core.config import Settings, get_settings
from spoolrt.core.errors import BadSignature, ConfigurationError
from spoolrt.runtime.dispatch import Dispatcher
from spoolrt.spooldir.listing import iter_area, iter_pending

OLD = "old-key-0123456789abcdef"
NEW = "new-key-0123456789abcdef"
runs: list[str] = []


@Spooler.task(retries=2, retry_delay=10)
def keyed(mode: str) -> str:
    runs.append(mode)
    if mode == "fail":
        raise RuntimeError("fails so that a retry file is written")
    return mode


def envelope(mode: str = "ok") -> Envelope:
    return Envelope(
        task_id="key-test",
        type_id="fcall",
        name=keyed.name,
        payload=PickleSerializer().dumps({"func": keyed.name, "arg": (mode,), "kwg": {}}),
        retries=2,
        retry_delay=10,
    )


def signed_packet(key: str | None, mode: str = "ok") -> SpoolPacket:
    env = envelope(mode)
    return SpoolPacket(spool_vars(env), encode_body(env, Signer([key]) if key else None))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- no key configured: generated once, 0600, outside the spool dir --------------------------


def test_default_key_file_lives_in_the_users_config_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SPOOLRT_KEY_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert default_key_file() == tmp_path / "config" / "spoolrt" / "secret_key"


def test_generated_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "spoolrt" / "secret_key"
    first = load_or_create_key_file(path)
    assert len(first) == 64 and mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert load_or_create_key_file(path) == first
    assert os.listdir(path.parent) == ["secret_key"]  # no temp files left behind


def test_settings_without_a_key_sign_with_the_generated_file() -> None:
    signer = get_settings().signer()
    key = Path(os.environ["SPOOLRT_KEY_FILE"]).read_bytes()
    assert signer is not None
    body = encode_body(envelope(), signer)
    assert decode_body(body, Signer([key])) == envelope()


def _race(path: str, barrier: Any, queue: Any) -> None:
    barrier.wait()
    queue.put(load_or_create_key_file(Path(path)))


@pytest.mark.parametrize("round_", range(3))
def test_eight_racing_processes_all_get_one_key(tmp_path: Path, round_: int) -> None:
    path = tmp_path / f"race-{round_}" / "secret_key"
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(path), barrier, queue)) for _ in range(8)]
    for proc in procs:
        proc.start()
    keys = [queue.get(timeout=30) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert len(set(keys)) == 1 and keys[0] == path.read_bytes()
    assert os.listdir(path.parent) == ["secret_key"] and mode_of(path) == 0o600


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "secret_key"
    path.write_bytes(b"k" * 32)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, "spoolrt"):
        assert load_or_create_key_file(path) == b"k" * 32
    assert "chmod 600" in caplog.text


def test_a_short_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="16 bytes"):
        load_or_create_key_file(path)


def test_an_uncreatable_key_file_says_how_to_set_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")  # a file where the key's directory should be: fails even for root
    monkeypatch.setenv("SPOOLRT_KEY_FILE", str(not_a_dir / "sub" / "secret_key"))
    with pytest.raises(ConfigurationError, match="SPOOLRT_SECRET_KEY"):
        signer_from_environment()


# --- explicit keys -----------------------------------------------------------------------------


def test_configured_key_signs_and_the_generated_file_is_not_created() -> None:
    spoolrt.configure(secret_key=NEW)
    body = encode_body(envelope(), get_settings().signer())
    assert decode_body(body, Signer([NEW])) == envelope()
    assert not Path(os.environ["SPOOLRT_KEY_FILE"]).exists()


def test_environment_key_and_old_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLRT_SECRET_KEY", NEW)
    monkeypatch.setenv("SPOOLRT_OLD_SECRET_KEYS", f"{OLD},another-old-key-0123456")
    signer = get_settings().signer()
    assert signer is not None
    assert decode_body(encode_body(envelope(), signer), Signer([NEW])) == envelope()
    for key in (OLD, "another-old-key-0123456"):
        assert decode_body(encode_body(envelope(), Signer([key])), signer) == envelope()


def test_configured_key_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLRT_SECRET_KEY", OLD)
    spoolrt.configure(secret_key=NEW)
    body = encode_body(envelope(), get_settings().signer())
    with pytest.raises(BadSignature):
        decode_body(body, Signer([OLD]))


@pytest.mark.parametrize("key", ["", "short", b"0123456789abcde"])
def test_keys_under_16_bytes_are_refused(key: str | bytes) -> None:
    with pytest.raises(ConfigurationError):
        Signer([key]) if key else Signer([])


# --- rotation ----------------------------------------------------------------------------------


def test_rotation_accepts_the_old_key_and_signs_with_the_new() -> None:
    spoolrt.configure(secret_key=NEW, old_keys=[OLD])
    signer = get_settings().signer()
    assert decode_body(encode_body(envelope(), Signer([OLD])), signer) == envelope()
    new_body = encode_body(envelope(), signer)
    assert decode_body(new_body, Signer([NEW])) == envelope()
    with pytest.raises(BadSignature):
        decode_body(new_body, Signer([OLD]))


def test_a_retry_of_an_old_key_file_is_re_signed_with_the_new_key(tmp_path: Path) -> None:
    runs.clear()
    dispatcher = Dispatcher(Settings(secret_key=NEW, old_keys=[OLD]), observers=[])
    report = dispatcher.run(str(tmp_path), "old-file", signed_packet(OLD, "fail"))
    assert report.status is TaskStatus.RETRYING and runs == ["fail"]
    (retry_path,) = list(iter_pending(str(tmp_path)))
    retry_body = unpack(Path(retry_path).read_bytes()).body
    assert decode_body(retry_body, Signer([NEW])).attempt == 2
    with pytest.raises(BadSignature):  # once OLD is dropped, the retry still verifies
        decode_body(retry_body, Signer([OLD]))


def test_a_file_signed_with_a_dropped_key_is_quarantined_not_run(tmp_path: Path) -> None:
    runs.clear()
    dispatcher = Dispatcher(Settings(secret_key=NEW), observers=[])
    report = dispatcher.run(str(tmp_path), "uwsgi_spoolfile_on_old", signed_packet(OLD))
    assert report.status is TaskStatus.QUARANTINED and report.reason == "bad-signature"
    assert runs == []
    (kept,) = list(iter_area(str(tmp_path), "quarantine"))
    assert json.loads(Path(kept + ".json").read_text())["reason"] == "bad-signature"


# --- signing off ---------------------------------------------------------------------------------


def test_configure_signing_off_warns_and_runs_unsigned_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "spoolrt"):
        spoolrt.configure(signing=False)
    assert "signing is OFF" in caplog.text
    assert get_settings().signer() is None
    runs.clear()
    report = Dispatcher(get_settings(), observers=[]).run(str(tmp_path), "f", signed_packet(None))
    assert report.status is TaskStatus.DONE and runs == ["ok"]


def test_environment_switch_turns_signing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOOLRT_UNSAFE_NO_SIGNING", "1")
    spoolrt.core.config.reset()
    assert get_settings().signing is False and get_settings().signer() is None
    assert not Path(os.environ["SPOOLRT_KEY_FILE"]).exists()


def test_unsigned_files_are_refused_while_signing_is_on(tmp_path: Path) -> None:
    runs.clear()
    dispatcher = Dispatcher(Settings(secret_key=NEW), observers=[])
    report = dispatcher.run(str(tmp_path), "uwsgi_spoolfile_on_unsigned", signed_packet(None))
    assert report.status is TaskStatus.QUARANTINED and report.reason == "bad-signature"
    assert runs == []
