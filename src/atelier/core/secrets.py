"""Secrets generated on first run and kept in `ATELIER_HOME/secrets` with mode 0600.

Values never pass through a logger: callers get bytes and the log only ever sees a name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atelier.core.config import Settings


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only; the mode is set at open, never widened."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def read_secret_file(path: Path, what: str) -> str:
    """A passphrase or password a user keeps in a file (trailing newline dropped).

    Raises ValueError with a message fit for the user when it is missing or empty.
    """
    try:
        value = path.read_text().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if not value:
        raise ValueError(f"{what} file {path} is empty")
    return value


def load_or_create_secret(directory: Path, name: str, nbytes: int = 32) -> bytes:
    """Return the secret called `name`, creating it atomically if it does not exist.

    O_EXCL makes concurrent first runs agree on one value: the loser reads the winner's file.
    """
    ensure_private_dir(directory)
    path = directory / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_bytes()
        if len(value) < nbytes:
            raise RuntimeError(
                f"secret file {path} is truncated; delete it to regenerate"
            ) from None
        return value
    value = secrets.token_bytes(nbytes)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)
    return value


def sealing_key(settings: Settings) -> bytes:
    """The AES-256 key that seals keys the platform holds (wallets, its chain key):
    `ATELIER_WALLET_KEY` (the same on every API node), or generated into secrets/wallet.key."""
    if settings.wallet_key is not None:
        key = bytes.fromhex(settings.wallet_key.get_secret_value())
        if len(key) != 32:
            raise ValueError("ATELIER_WALLET_KEY must be 64 hex characters")
        return key
    return load_or_create_secret(settings.secrets_dir, "wallet.key", 32)


def seal(settings: Settings, bound_to: str, secret: bytes) -> bytes:
    """`nonce || ciphertext+tag` (AES-256-GCM), bound to `bound_to` as associated data, so a
    sealed key cannot be moved to another owner's row and still open."""
    nonce = os.urandom(12)
    return nonce + AESGCM(sealing_key(settings)).encrypt(nonce, secret, bound_to.encode())


def unseal(settings: Settings, bound_to: str, sealed: bytes) -> bytes:
    return AESGCM(sealing_key(settings)).decrypt(sealed[:12], sealed[12:], bound_to.encode())
