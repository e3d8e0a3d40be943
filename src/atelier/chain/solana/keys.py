"""The platform's own Solana keypairs, kept sealed in `secrets/` like its EVM key.

- `market`: the market's authority. It owns the escrow token accounts listed NFTs wait in
  and is the base of the escrow accounts offers' and bids' lamports wait in, and it signs
  every settlement (chain/solana/programs.py `escrow_address`). It pays its own fees: fund
  it on a cluster (`atelier market keys` prints the address).
- `reserve`: on the embedded runtime, the platform-fee reserve (`monads.skr`) when no
  address is configured. On a cluster the reserve is an operator's address, never a key
  the server holds.
"""

from __future__ import annotations

import json
from typing import Literal

from solders.keypair import Keypair

from atelier.core.config import Settings
from atelier.core.secrets import seal, unseal, write_private_file

Role = Literal["market", "reserve"]


def platform_keypair(settings: Settings, role: Role) -> Keypair:
    path = settings.secrets_dir / f"solana-{role}.key"
    if path.exists():
        record = json.loads(path.read_text())
        secret = unseal(settings, record["address"], bytes.fromhex(record["sealed"]))
        return Keypair.from_bytes(secret)
    keypair = Keypair()
    address = str(keypair.pubkey())
    sealed = seal(settings, address, bytes(keypair))
    write_private_file(path, json.dumps({"address": address, "sealed": sealed.hex()}).encode())
    return keypair
