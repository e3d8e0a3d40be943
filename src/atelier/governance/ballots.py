"""Signed votes: the EIP-712 `Vote` message, its digest and the signer's recovery.

The message is exactly what `SoulvanUpgradeVoting.voteBySig` verifies, under the voting
contract's domain (name, version, chainId, verifyingContract), so one signature made once in
the voter's wallet is checked here and can later be relayed on chain unchanged. A signature
made for another proposal, contract or chain recovers another address and is refused.

Digests are computed here rather than through `eth_account.messages.encode_typed_data`: the
message has one fixed shape, and hashing its five fields directly is ~50x faster, which is
what lets one API node ingest thousands of votes a second. `tests/governance` checks the
digest against eth_account's general encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import coincurve
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from atelier.core.signatures import MalformedSignature, signature_bytes

DOMAIN_NAME = "SoulvanUpgradeVoting"
DOMAIN_VERSION = "1"
MAX_REASON_CHARS = 5000

DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
VOTE_FIELDS = [
    {"name": "proposal", "type": "bytes32"},
    {"name": "voter", "type": "address"},
    {"name": "choice", "type": "string"},
    {"name": "reason", "type": "string"},
    {"name": "timestamp", "type": "uint64"},
]
VOTE_TYPE = "Vote(bytes32 proposal,address voter,string choice,string reason,uint64 timestamp)"
VOTE_TYPEHASH = keccak(text=VOTE_TYPE)
_DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
# secp256k1 group order: signatures with s above half of it are the malleable twin of a
# canonical one; OpenZeppelin's ECDSA (and so the relay) rejects them, so we do too.
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class BadSignature(ValueError):
    """The signature is not 65 well-formed bytes, or nothing can be recovered from it."""


@dataclass(frozen=True)
class Domain:
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@dataclass(frozen=True)
class Ballot:
    """The signed fields of one vote."""

    proposal: bytes  # the proposal's 32-byte chain key
    voter: str  # checksummed address
    choice: str
    reason: str
    timestamp: int

    def message(self) -> dict[str, Any]:
        return {
            "proposal": "0x" + self.proposal.hex(),
            "voter": self.voter,
            "choice": self.choice,
            "reason": self.reason,
            "timestamp": self.timestamp,
        }


def typed_data(domain: Domain, ballot: Ballot) -> dict[str, Any]:
    """The JSON a wallet signs (`eth_signTypedData_v4`, eth_account `sign_typed_data`)."""
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "Vote": VOTE_FIELDS},
        "primaryType": "Vote",
        "domain": domain.as_dict(),
        "message": ballot.message(),
    }


@lru_cache(maxsize=64)
def domain_separator(domain: Domain) -> bytes:
    return keccak(
        _DOMAIN_TYPEHASH
        + keccak(text=DOMAIN_NAME)
        + keccak(text=DOMAIN_VERSION)
        + domain.chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(domain.verifying_contract[2:])
    )


def digest(domain: Domain, ballot: Ballot) -> bytes:
    struct_hash = keccak(
        VOTE_TYPEHASH
        + ballot.proposal
        + bytes(12)
        + bytes.fromhex(ballot.voter[2:])
        + keccak(text=ballot.choice)
        + keccak(text=ballot.reason)
        + ballot.timestamp.to_bytes(32, "big")
    )
    return keccak(b"\x19\x01" + domain_separator(domain) + struct_hash)


def parse_signature(signature: str) -> bytes:
    """65 bytes r‖s‖v (v 27/28 or 0/1), low-s, as coincurve takes them (v 0/1); anything
    else is a BadSignature."""
    try:
        raw = signature_bytes(signature)
    except MalformedSignature as exc:
        raise BadSignature(str(exc)) from None
    v = raw[64] - 27 if raw[64] >= 27 else raw[64]
    s = int.from_bytes(raw[32:64], "big")
    if not 0 < s <= _SECP256K1_N // 2:
        raise BadSignature("non-canonical signature (s must be in the lower half)")
    return raw[:64] + bytes([v])


def recover_address(domain: Domain, ballot: Ballot, signature: str) -> bytes:
    """The 20-byte address that signed `ballot` under `domain` (compare it with the voter's
    bytes: checksumming costs another keccak, which ingestion does not need)."""
    raw = parse_signature(signature)
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            raw, digest(domain, ballot), hasher=None
        )
    except Exception:  # coincurve raises plain Exception for unrecoverable points
        raise BadSignature("no public key can be recovered from the signature") from None
    return keccak(public.format(compressed=False)[1:])[-20:]


def recover(domain: Domain, ballot: Ballot, signature: str) -> str:
    """The checksummed address that signed `ballot` under `domain`."""
    return str(to_checksum_address(recover_address(domain, ballot, signature)))


# -- Solana votes (the `spl` strategy) ------------------------------------------------------
#
# A Solana wallet signs text (`signMessage`, ed25519), not EIP-712: the vote is this message,
# every field on its own line, the proposal named by its id. The signature is the 64 bytes
# in base58, as Solana writes signatures. These votes are never relayed to the EVM chain.


def solana_message(proposal_id: str, voter: str, choice: str, reason: str, timestamp: int) -> str:
    return (
        "Atelier vote\n"
        f"proposal: {proposal_id}\n"
        f"voter: {voter}\n"
        f"choice: {choice}\n"
        f"timestamp: {timestamp}\n"
        f"reason: {reason}"
    )


def verify_solana(message: str, voter: str, signature: str) -> bool:
    """The base58 ed25519 `signature` is `voter`'s over `message`; malformed is a
    BadSignature."""
    from solders.pubkey import Pubkey
    from solders.signature import Signature

    try:
        parsed = Signature.from_string(signature)
        key = Pubkey.from_string(voter)
    except ValueError as exc:
        raise BadSignature(f"not a base58 ed25519 signature: {exc}") from None
    return bool(parsed.verify(key, message.encode()))
