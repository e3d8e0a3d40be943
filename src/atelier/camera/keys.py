"""The camera node's keys, all from one operator secret.

`ATELIER_CAMERA_SECRET` (from the operator's secret store), or a random secret generated into
`ATELIER_HOME/secrets/camera.secret` (mode 0600). Mmoment derived its vault key from the
wallet address, which anyone can read on chain; nothing here is derived from public data.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from atelier.core.config import Settings
from atelier.core.secrets import load_or_create_secret


def operator_secret(settings: Settings) -> bytes:
    if settings.camera_secret is not None:
        value = settings.camera_secret.get_secret_value().encode()
        if len(value) < 16:
            raise ValueError("ATELIER_CAMERA_SECRET must be at least 16 characters")
        return value
    return load_or_create_secret(settings.secrets_dir, "camera.secret", 32)


def _derive(settings: Settings, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"atelier camera {purpose}".encode()
    ).derive(operator_secret(settings))


def device_key(settings: Settings) -> bytes:
    """The vault's key-wrapping key (AES-256). Only the vault calls this."""
    return _derive(settings, "vault device key v1")


def service_token(settings: Settings) -> str:
    """What the node's services show each other (`Authorization: Bearer …`)."""
    return _derive(settings, "service token v1").hex()


def middleware_seed(settings: Settings) -> bytes:
    """The Ed25519 seed of the middleware's fee-paying key (kept nowhere: derived each start)."""
    return _derive(settings, "middleware fee payer v1")


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
