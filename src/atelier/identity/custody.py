"""Platform-held wallets: keys sealed with AES-256-GCM under the server's wallet key.

For creators without a wallet of their own, the platform can hold one and sign with it on
their behalf (provenance proofs, votes). The key exists in plaintext only in memory while
signing; at rest it is `nonce || ciphertext+tag`, bound to the wallet's address as associated
data so a sealed key cannot be moved to another row. The wallet key comes from
`ATELIER_WALLET_KEY` (share it between API nodes) or is generated into
`ATELIER_HOME/secrets/wallet.key`.
"""

from __future__ import annotations

from typing import Any

from atelier.core.config import Settings
from atelier.core.secrets import seal, unseal

__all__ = ["seal", "sign_typed", "unseal"]


def sign_typed(settings: Settings, address: str, sealed: bytes, typed: dict[str, Any]) -> str:
    from atelier.identity.keystore import sign_typed_data

    return sign_typed_data(unseal(settings, address, sealed), typed)
