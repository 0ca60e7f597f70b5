"""Payload serializers and the signing key (pure, but for reading/creating the key file).

A spool directory is a code-execution surface: whatever can drop a file there gets it
unpickled by the spooler. So every envelope spoolrt writes carries an HMAC-SHA256 over all
that decides what runs, and nothing is deserialised before the MAC verifies.

Key resolution order (first that gives a key wins):

1. ``configure(secret_key=..., old_keys=...)`` or a ``Signer`` passed explicitly;
2. the ``SPOOLRT_SECRET_KEY`` environment variable (``SPOOLRT_OLD_SECRET_KEYS``: comma-separated
   keys still accepted while rotating);
3. Django's ``settings.SECRET_KEY`` when the Django integration configures spoolrt;
4. a key generated once into ``$SPOOLRT_KEY_FILE`` or ``~/.config/spoolrt/secret_key`` (mode 0600,
   outside any spool directory), so a single-host deployment is safe with no setup. Every
   process of one user on one host reads the same file; several hosts need an explicit key.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import pickle
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from spoolrt.core.errors import ConfigurationError, PayloadDecodeError, SerializationError

_openssl_hmac: Any
try:  # private, only for speed (see ``_keyed``); ``hmac.new`` is the public fallback
    from _hashlib import hmac_new as _openssl_hmac
except ImportError:  # pragma: no cover - a Python built without OpenSSL
    _openssl_hmac = None

log = logging.getLogger("spoolrt")

MAC_SIZE = 32
ENV_SECRET_KEY = "SPOOLRT_SECRET_KEY"
ENV_OLD_KEYS = "SPOOLRT_OLD_SECRET_KEYS"
ENV_KEY_FILE = "SPOOLRT_KEY_FILE"


class Serializer(Protocol):
    name: str

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class PickleSerializer:
    """Any picklable object; only ever loaded after the envelope's MAC verified."""

    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # pickle raises many types (TypeError, PicklingError, ...)
            raise SerializationError(f"cannot pickle task data: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise PayloadDecodeError(f"cannot unpickle payload: {exc}") from exc


class JsonSerializer:
    """Data only (dict with str keys, list, str, int, float, bool, None); tuples come back as
    lists. Anything else is refused at the call site rather than changed on the way: ``json``
    itself would turn ``{1: "a"}`` into ``{"1": "a"}`` and NaN into a non-standard token."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        try:
            _check_str_keys(value)
            return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(f"task data is not JSON-serialisable: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise PayloadDecodeError(f"cannot decode JSON payload: {exc}") from exc


def _check_str_keys(value: Any) -> None:
    """Refuse dict keys that ``json`` would silently turn into strings."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"dict key {key!r} is not a str; JSON would turn it into one")
                stack.append(inner)
        elif isinstance(item, list | tuple):
            stack.extend(item)


SERIALIZERS: dict[str, Serializer] = {s.name: s for s in (PickleSerializer(), JsonSerializer())}


def get_serializer(name: str) -> Serializer:
    try:
        return SERIALIZERS[name]
    except KeyError:
        raise PayloadDecodeError(f"unknown serializer {name!r}") from None


class Signer:
    """Signs with the first key, verifies against all of them (rotation: new key first)."""

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not keys:
            raise ConfigurationError("a Signer needs at least one key")
        self._keys = [k.encode() if isinstance(k, str) else bytes(k) for k in keys]
        if any(len(k) < 16 for k in self._keys):
            raise ConfigurationError("signing keys must be at least 16 bytes")

        # One keyed HMAC state per key, copied for each message: keying hashes two blocks
        # (inner and outer pad) that ``hmac.digest`` would hash again on every call.
        self._states = [_keyed(k) for k in self._keys]

    def sign(self, data: bytes) -> bytes:
        state = self._states[0].copy()
        state.update(data)
        mac: bytes = state.digest()
        return mac

    def verify(self, data: bytes, mac: bytes) -> bool:
        for keyed in self._states:
            state = keyed.copy()
            state.update(data)
            if hmac.compare_digest(state.digest(), mac):
                return True
        return False


def _keyed(key: bytes) -> Any:
    """An HMAC-SHA256 state keyed with ``key``: OpenSSL's own object when the stdlib has it
    (its ``copy()`` is C, 0.8 against 1.0 us a message), else ``hmac.new``'s."""
    if _openssl_hmac is not None:
        try:
            return _openssl_hmac(key, digestmod="sha256")
        except ValueError:  # an OpenSSL without HMAC-SHA256 in this mode (FIPS builds)
            pass
    return hmac.new(key, digestmod="sha256")


def default_key_file() -> Path:
    explicit = os.environ.get(ENV_KEY_FILE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "spoolrt" / "secret_key"


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, creating it (0600, atomically, once) when missing.

    Racing processes either create it (O_EXCL wins once) or read the winner's key.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race; then we read its key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    with open(path, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        key = f.read().strip()
    if len(key) < 16:
        raise ConfigurationError(f"signing key file {path} holds fewer than 16 bytes")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Whoever can read the key can sign a pickle that the spooler will load.
        log.warning(
            "signing key file %s has mode %o: other users can read or change it; "
            "run `chmod 600 %s`",
            path,
            stat.S_IMODE(mode),
            path,
        )
    return key


def signer_from_environment() -> Signer:
    """Build the signer from the environment variable, else the generated key file."""
    key = os.environ.get(ENV_SECRET_KEY)
    if key:
        old = [k for k in os.environ.get(ENV_OLD_KEYS, "").split(",") if k]
        return Signer([key, *old])
    path = default_key_file()
    try:
        return Signer([load_or_create_key_file(path)])
    except OSError as exc:
        raise ConfigurationError(
            f"no signing key is configured and the key file {path} cannot be read or created "
            f"({exc}); set {ENV_SECRET_KEY}, call spoolrt.configure(secret_key=...), or point "
            f"{ENV_KEY_FILE} at a file this user can write"
        ) from exc
