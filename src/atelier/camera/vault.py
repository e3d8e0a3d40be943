"""The biometric vault: face templates that can be forgotten for good.

Each enrolled face (a *subject*) gets a random AES-256 key. Its template is stored encrypted
under that key (AES-256-GCM, the subject id as associated data), and the key itself is stored
wrapped by the device key (from the operator's secret, see `camera.keys`). Purging a subject
overwrites and deletes its wrapped key: whatever copies of the ciphertext survive (a backup, a
disk image) can no longer be opened by anyone, the device key and every other subject's key
included. That is crypto-shredding, and it is why keys and templates live in files of their
own here rather than in PostgreSQL, whose deleted rows linger in dead tuples and WAL.

Every access (enrol, match, purge, expiry, proof) is appended to a hash-chained audit log:
each line carries the SHA-256 of the one before, so removing or editing a line shows.

The face NFT package of the seed carries a salted commitment to the template (SHA-256 of a
random salt and the template), never the template: the salt is wrapped with the subject key
and shredded with it, so after a purge the commitment no longer links to any face.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atelier.core.secrets import ensure_private_dir, write_private_file

TEMPLATE_SIZE = 128  # dlib's face descriptor
_SALT = 16
GENESIS = "0" * 64


class VaultError(Exception):
    """A request the vault refuses (unknown or purged subject, a bad template)."""


@dataclass
class Subject:
    id: str
    wallet: str
    session_id: str
    created_at: float
    expires_at: float
    commitment: str
    purged_at: float | None = None
    purge_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.purged_at is None


@dataclass(frozen=True)
class Identification:
    """The vault's answer to "whose face is this": a subject, or unknown with the reason."""

    subject: str | None
    wallet: str | None
    distance: float | None
    second: float | None
    reason: str  # "match", "no-subjects", "too-far", "ambiguous"


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    write_private_file(temporary, data)
    with temporary.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _shred(path: Path) -> None:
    """Overwrite in place with random bytes, flush, then unlink. (On flash storage an
    overwrite may land on new blocks: docs/security.md says what that means.)"""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    with path.open("rb+") as handle:
        handle.write(secrets.token_bytes(size))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    _fsync_directory(path.parent)


def template_bytes(template: list[float] | np.ndarray) -> bytes:
    vector = np.asarray(template, dtype=np.float64)
    if vector.shape != (TEMPLATE_SIZE,) or not np.isfinite(vector).all():
        raise VaultError(f"a template is {TEMPLATE_SIZE} finite numbers")
    if np.abs(vector).max() > 100:
        raise VaultError("a template's numbers lie within ±100")
    return vector.astype(np.float32).tobytes()


class AuditLog:
    """Append-only, hash-chained JSON lines, each flushed to disk before the call returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = GENESIS
        self._seq = 0
        if path.exists():
            for entry in self.entries():
                self._last, self._seq = entry["hash"], entry["seq"]

    def append(self, action: str, actor: str, **detail: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "seq": self._seq + 1,
            "at": round(time.time(), 3),
            "action": action,
            "actor": actor,
            **detail,
            "prev": self._last,
        }
        entry["hash"] = hashlib.sha256(
            json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._last, self._seq = entry["hash"], entry["seq"]
        return entry

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def verify(self) -> tuple[bool, int]:
        """Whether every line chains to the one before (and the count checked)."""
        previous = GENESIS
        entries = self.entries()
        for expected_seq, entry in enumerate(entries, start=1):
            body = {k: v for k, v in entry.items() if k != "hash"}
            digest = hashlib.sha256(
                json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            if entry.get("prev") != previous or digest != entry["hash"]:
                return False, expected_seq - 1
            if entry.get("seq") != expected_seq:
                return False, expected_seq - 1
            previous = entry["hash"]
        return True, len(entries)


class Vault:
    def __init__(
        self, directory: Path, device_key: bytes, *, clock: Callable[[], float] = time.time
    ) -> None:
        if len(device_key) != 32:
            raise ValueError("the device key is 32 bytes")
        self.directory = ensure_private_dir(directory)
        self.keys_dir = ensure_private_dir(directory / "keys")
        self.templates_dir = ensure_private_dir(directory / "templates")
        self._device = AESGCM(device_key)
        self._clock = clock
        self._lock = threading.Lock()
        self._index_path = directory / "subjects.json"
        self._subjects: dict[str, Subject] = {}
        if self._index_path.exists():
            for row in json.loads(self._index_path.read_text()):
                self._subjects[row["id"]] = Subject(**row)
        self._gallery: dict[str, np.ndarray] | None = None
        self.audit = AuditLog(directory / "audit.log")

    # -- storage -------------------------------------------------------------------------

    def _save_index(self) -> None:
        rows = [asdict(s) for s in self._subjects.values()]
        _atomic_write(self._index_path, json.dumps(rows).encode())

    def _wrap(self, subject_id: str, key: bytes, salt: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._device.encrypt(nonce, key + salt, f"subject:{subject_id}".encode())

    def _unwrap(self, subject_id: str) -> tuple[bytes, bytes]:
        try:
            wrapped = (self.keys_dir / subject_id).read_bytes()
        except FileNotFoundError:
            raise VaultError("this subject's key is gone: its template cannot be read") from None
        plain = self._device.decrypt(wrapped[:12], wrapped[12:], f"subject:{subject_id}".encode())
        return plain[:32], plain[32:]

    def _read_template(self, subject_id: str) -> np.ndarray:
        key, _ = self._unwrap(subject_id)
        sealed = (self.templates_dir / subject_id).read_bytes()
        plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], subject_id.encode())
        return np.frombuffer(plain, dtype=np.float32)

    def _gallery_now(self) -> dict[str, np.ndarray]:
        if self._gallery is None:
            self._gallery = {s.id: self._read_template(s.id) for s in self._active()}
        return self._gallery

    def _active(self) -> list[Subject]:
        return [s for s in self._subjects.values() if s.active]

    # -- operations ----------------------------------------------------------------------

    def enrol(
        self,
        wallet: str,
        session_id: str,
        template: list[float] | np.ndarray,
        *,
        ttl_s: float,
        actor: str,
    ) -> Subject:
        """Store a template under a fresh subject key. A wallet holds one face: enrolling
        again replaces (and shreds) the previous one."""
        data = template_bytes(template)
        with self._lock:
            for old in [s for s in self._active() if s.wallet == wallet]:
                self._purge(old, actor, "re-enrolled")
            subject_id = uuid.uuid4().hex
            key, salt = AESGCM.generate_key(bit_length=256), secrets.token_bytes(_SALT)
            nonce = os.urandom(12)
            sealed = nonce + AESGCM(key).encrypt(nonce, data, subject_id.encode())
            write_private_file(self.templates_dir / subject_id, sealed)
            write_private_file(self.keys_dir / subject_id, self._wrap(subject_id, key, salt))
            _fsync_directory(self.keys_dir)
            now = self._clock()
            subject = Subject(
                id=subject_id,
                wallet=wallet,
                session_id=session_id,
                created_at=now,
                expires_at=now + ttl_s,
                commitment=hashlib.sha256(salt + data).hexdigest(),
            )
            self._subjects[subject_id] = subject
            self._save_index()
            if self._gallery is not None:
                self._gallery[subject_id] = np.frombuffer(data, dtype=np.float32)
            self.audit.append("enrol", actor, subject=subject_id, wallet=wallet)
            return subject

    def identify(
        self, template: list[float] | np.ndarray, *, max_distance: float, margin: float, actor: str
    ) -> Identification:
        """Open-set: the nearest subject only when it is near enough *and* clearly nearer than
        the nearest subject of any other wallet; otherwise unknown, with the reason."""
        probe = np.frombuffer(template_bytes(template), dtype=np.float32)
        with self._lock:
            gallery = self._gallery_now()
            if not gallery:
                return Identification(None, None, None, None, "no-subjects")
            ids = list(gallery)
            distances = np.linalg.norm(np.stack([gallery[i] for i in ids]) - probe, axis=1)
            order = np.argsort(distances)
            best = ids[int(order[0])]
            best_wallet = self._subjects[best].wallet
            others = [
                float(distances[i])
                for i in order[1:]
                if self._subjects[ids[i]].wallet != best_wallet
            ]
            distance, second = float(distances[order[0]]), (others[0] if others else None)
            if distance > max_distance:
                return Identification(None, None, distance, second, "too-far")
            if second is not None and second - distance < margin:
                return Identification(None, None, distance, second, "ambiguous")
            self.audit.append("match", actor, subject=best, distance=round(distance, 4))
            return Identification(best, best_wallet, distance, second, "match")

    def _purge(self, subject: Subject, actor: str, reason: str) -> None:
        _shred(self.keys_dir / subject.id)
        (self.templates_dir / subject.id).unlink(missing_ok=True)
        subject.purged_at, subject.purge_reason = self._clock(), reason
        if self._gallery is not None:
            self._gallery.pop(subject.id, None)
        self.audit.append("purge", actor, subject=subject.id, reason=reason)

    def purge(self, subject_id: str, *, actor: str, reason: str) -> Subject:
        with self._lock:
            subject = self._subjects.get(subject_id)
            if subject is None:
                raise VaultError("no such subject")
            if subject.active:
                self._purge(subject, actor, reason)
                self._save_index()
            return subject

    def purge_wallet(self, wallet: str, *, actor: str, reason: str) -> list[Subject]:
        with self._lock:
            purged = [s for s in self._active() if s.wallet == wallet]
            for subject in purged:
                self._purge(subject, actor, reason)
            if purged:
                self._save_index()
            return purged

    def expire(self) -> list[Subject]:
        """Purge every subject whose time is up (the vault runs this every few seconds)."""
        now = self._clock()
        with self._lock:
            due = [s for s in self._active() if s.expires_at <= now]
            for subject in due:
                self._purge(subject, "vault", "expired")
            if due:
                self._save_index()
            return due

    def subject(self, subject_id: str) -> Subject:
        subject = self._subjects.get(subject_id)
        if subject is None:
            raise VaultError("no such subject")
        return subject

    def subjects(self, *, active_only: bool = True) -> list[Subject]:
        with self._lock:
            return self._active() if active_only else list(self._subjects.values())

    def proof(self, subject_id: str, *, actor: str) -> dict[str, Any]:
        """What the vault can show about a subject: for a purged one, that its key is gone,
        that opening its template fails, and the audit lines that say when and why."""
        with self._lock:
            subject = self.subject(subject_id)
            key_present = (self.keys_dir / subject_id).exists()
            try:
                self._read_template(subject_id)
                readable = True
            except (VaultError, FileNotFoundError, InvalidTag):
                readable = False
            self.audit.append("proof", actor, subject=subject_id)
            chained, checked = self.audit.verify()
            return {
                "subject": subject_id,
                "wallet": subject.wallet,
                "purged_at": subject.purged_at,
                "purge_reason": subject.purge_reason,
                "key_present": key_present,
                "template_readable": readable,
                "audit": [e for e in self.audit.entries() if e.get("subject") == subject_id],
                "audit_chain_intact": chained,
                "audit_entries_checked": checked,
            }

    def package(self, subject_id: str, *, actor: str) -> dict[str, Any]:
        """The seed's "face NFT package": Metaplex-style metadata holding the salted
        commitment only (see the module docstring)."""
        with self._lock:
            subject = self.subject(subject_id)
            if not subject.active:
                raise VaultError("this subject was purged")
            self.audit.append("package", actor, subject=subject_id)
            return {
                "name": "Face check-in",
                "symbol": "FACE",
                "description": "A salted commitment to an enrolled face; never the face itself.",
                "attributes": [
                    {"trait_type": "template_commitment", "value": subject.commitment},
                    {"trait_type": "commitment_scheme", "value": "sha256(salt || template)"},
                    {"trait_type": "enrolled_at", "value": int(subject.created_at)},
                ],
                "properties": {"files": [], "category": "identity"},
            }
