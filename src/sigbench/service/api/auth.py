"""API keys: stored hashed, each with a name (written to the audit log) and a role.

A key looks like ``sbk_<id>_<secret>``: the 8-hex-digit ``id`` is stored in clear so a request's key is
looked up directly, the 32-byte random ``secret`` only as a salted scrypt hash (``hashlib.scrypt``,
n=2**14, r=8, p=1) compared in constant time (:func:`hmac.compare_digest`). A stolen keys file therefore
gives no usable key. The key itself is shown once, when it is made (``sigbench-service keys add``).

Roles are ordered, each allowing what the ones before it allow: ``read`` (verify, identify, detect, list,
view), ``enrol`` (create and rename identities, add and delete references, upload documents), ``admin``
(delete identities, read the audit log).

scrypt costs tens of milliseconds by design; a key that has been checked once is remembered by the SHA-256
of the whole key (never the key) for the life of the process, so each request does not pay it again. The
memory is dropped whenever the keys file changes (a revoked key stops working at once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigbench.atomic import atomic_write_text

ROLES = ("read", "enrol", "admin")
FORMAT = "sigbench-service-keys"
FORMAT_VERSION = 1
PREFIX = "sbk"
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
KEY_PATTERN = re.compile(rf"^{PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")


class KeysError(ValueError):
    """A keys file or a key request that cannot be used; the message names the file or the key name."""


def role_allows(role: str, needed: str) -> bool:
    """Whether a key of ``role`` may do what ``needed`` guards (roles are ordered)."""
    return ROLES.index(role) >= ROLES.index(needed)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise KeysError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("ascii"), salt=salt, **SCRYPT)


@dataclass(frozen=True)
class StoredKey:
    """One key as the keys file holds it: no secret, only its salted hash."""

    id: str
    name: str
    role: str
    salt: str  # hex
    hash: str  # hex
    created_at: str


@dataclass(frozen=True)
class Caller:
    """Who is asking: the key's name (the audit log's actor), its role and the key's public id."""

    name: str
    role: str
    key_id: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KeyRing:
    """The keys of one keys file (JSON), re-read when the file changes."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, StoredKey] = {}
        self._checked: dict[str, Caller] = {}  # sha256(full key) -> caller

    # ---- file -------------------------------------------------------------------------------------

    def _read(self) -> dict[str, StoredKey]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise KeysError(f"keys file {self.path}: not readable JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise KeysError(f"keys file {self.path}: not a {FORMAT} file")
        if data.get("format_version") != FORMAT_VERSION:
            raise KeysError(
                f"keys file {self.path}: format version {data.get('format_version')!r}, "
                f"this sigbench reads {FORMAT_VERSION}"
            )
        keys = {}
        for entry in data.get("keys", []):
            try:
                key = StoredKey(**entry)
            except TypeError as exc:
                raise KeysError(f"keys file {self.path}: bad entry {entry!r} ({exc})") from exc
            check_role(key.role)
            keys[key.id] = key
        return keys

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp or (stamp is None and self._keys):
            self._keys = self._read()
            self._checked = {}
            self._stamp = stamp

    def _write(self, keys: dict[str, StoredKey]) -> None:
        text = json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "keys": [asdict(k) for k in keys.values()],
            },
            indent=1,
        )
        atomic_write_text(self.path, text + "\n")
        os.chmod(self.path, 0o600)
        self._stamp = None  # re-read on next use

    # ---- management -------------------------------------------------------------------------------

    def list(self) -> list[StoredKey]:
        with self._lock:
            self._refresh()
            return sorted(self._keys.values(), key=lambda k: k.created_at)

    def add(self, name: str, role: str) -> str:
        """Make a key for ``name`` with ``role``; returns the key (the only time it exists in clear)."""
        check_role(role)
        if not NAME_PATTERN.match(name):
            raise KeysError(
                f"key name {name!r}: expected 1-64 characters: letters, digits, '_', '.', '@', '-' "
                "(starting with a letter or digit)"
            )
        with self._lock:
            self._refresh()
            if any(k.name == name for k in self._keys.values()):
                raise KeysError(f"key name {name!r} already exists in {self.path} (revoke it first)")
            key_id = secrets.token_hex(4)
            while key_id in self._keys:
                key_id = secrets.token_hex(4)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_bytes(16)
            stored = StoredKey(key_id, name, role, salt.hex(), _hash(secret, salt).hex(), _now())
            self._write({**self._keys, key_id: stored})
            return f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, name: str) -> None:
        with self._lock:
            self._refresh()
            kept = {i: k for i, k in self._keys.items() if k.name != name}
            if len(kept) == len(self._keys):
                raise KeysError(f"no key named {name!r} in {self.path}")
            self._write(kept)

    # ---- checking ---------------------------------------------------------------------------------

    def authenticate(self, key: str) -> Caller | None:
        """The caller a key belongs to, or ``None`` for a malformed, unknown or revoked key."""
        match = KEY_PATTERN.match(key.strip())
        if match is None:
            return None
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        with self._lock:
            self._refresh()
            if digest in self._checked:
                return self._checked[digest]
            stored = self._keys.get(match.group(1))
        if stored is None:
            return None
        computed = _hash(match.group(2), bytes.fromhex(stored.salt))
        if not hmac.compare_digest(computed, bytes.fromhex(stored.hash)):
            return None
        caller = Caller(stored.name, stored.role, stored.id)
        with self._lock:
            if self._keys.get(stored.id) == stored:
                self._checked[digest] = caller
        return caller


def describe(keys: list[StoredKey]) -> list[dict[str, Any]]:
    """Keys as shown to people: name, role, id, creation time (no hash)."""
    return [{"name": k.name, "role": k.role, "id": k.id, "created_at": k.created_at} for k in keys]
