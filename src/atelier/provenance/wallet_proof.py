"""The creator's wallet signature over an artifact, as EIP-712 typed data.

C2PA cannot sign with secp256k1, so the wallet signs (sha256, cid, fingerprint, model) of
the accepted bytes, and the proof travels inside the C2PA manifest as the custom assertion
`org.atelier.wallet-proof`. Anyone recovers the wallet with standard EIP-712 tooling
(eth_account, ethers' `verifyTypedData`): the typed data is in the assertion.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from atelier.core.signatures import canonical_signature

DOMAIN_NAME = "Atelier Provenance"
DOMAIN_VERSION = "1"

TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "Artifact": [
        {"name": "sha256", "type": "bytes32"},
        {"name": "cid", "type": "string"},
        {"name": "fingerprint", "type": "string"},
        {"name": "model", "type": "string"},
    ],
}


def typed_data(
    chain_id: int, sha256: str, cid: str, fingerprint: str | None, model: str | None
) -> dict[str, Any]:
    return {
        "types": TYPES,
        "primaryType": "Artifact",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id},
        "message": {
            "sha256": "0x" + sha256,
            "cid": cid,
            "fingerprint": fingerprint or "",
            "model": model or "",
        },
    }


def is_artifact_proof(typed: Any) -> bool:
    """Whether `typed` is the typed data of an artifact proof (and nothing else a wallet
    key could be made to sign), whatever the artifact."""
    if not isinstance(typed, dict) or typed.get("types") != TYPES:
        return False
    domain = typed.get("domain") or {}
    return (
        typed.get("primaryType") == "Artifact"
        and domain.get("name") == DOMAIN_NAME
        and domain.get("version") == DOMAIN_VERSION
        and set(domain) == {"name", "version", "chainId"}
    )


def recover(typed: dict[str, Any], signature: str) -> str | None:
    """The address that signed `typed`, or None if the signature or data is malformed."""
    try:
        signable = encode_typed_data(full_message=typed)
        return str(Account.recover_message(signable, signature=canonical_signature(signature)))
    except Exception:  # any malformed input is simply "no valid signer"
        return None


def check(assertion: dict[str, Any] | None) -> dict[str, Any] | None:
    """Verify a wallet-proof assertion read from a manifest."""
    if not assertion:
        return None
    claimed = str(assertion.get("wallet", ""))
    recovered = recover(assertion.get("typed_data") or {}, str(assertion.get("signature", "")))
    return {
        "claimed": claimed,
        "recovered": recovered,
        "valid": recovered is not None and recovered.lower() == claimed.lower(),
        "message": (assertion.get("typed_data") or {}).get("message"),
    }
