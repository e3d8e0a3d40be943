"""Platform-held wallets: keys sealed with AES-256-GCM under the server's wallet key.

For creators without a wallet of their own, the platform can hold one and sign with it on
their behalf (provenance proofs, votes). The key exists in plaintext only in memory while
signing; at rest it is `nonce || ciphertext+tag`, bound to the wallet's address as associated
data so a sealed key cannot be moved to another row. The wallet key comes from
`ATELIER_WALLET_KEY` (share it between API nodes) or is generated into
`ATELIER_HOME/secrets/wallet.key`.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atelier.core.config import Settings
from atelier.core.secrets import load_or_create_secret


def wallet_key(settings: Settings) -> bytes:
    if settings.wallet_key is not None:
        key = bytes.fromhex(settings.wallet_key.get_secret_value())
        if len(key) != 32:
            raise ValueError("ATELIER_WALLET_KEY must be 64 hex characters")
        return key
    return load_or_create_secret(settings.secrets_dir, "wallet.key", 32)


def seal(settings: Settings, address: str, secret: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(wallet_key(settings)).encrypt(nonce, secret, address.encode())


def unseal(settings: Settings, address: str, sealed: bytes) -> bytes:
    return AESGCM(wallet_key(settings)).decrypt(sealed[:12], sealed[12:], address.encode())


def sign_typed(settings: Settings, address: str, sealed: bytes, typed: dict[str, Any]) -> str:
    from atelier.identity.keystore import sign_typed_data

    return sign_typed_data(unseal(settings, address, sealed), typed)
