"""EVM signatures in one form.

A 65-byte secp256k1 signature r ‖ s ‖ v is written with v as 27/28 by most wallets and as
0/1 by some (Ledger, some libraries); both recover the same address off chain, but on chain
OpenZeppelin's ECDSA accepts only 27/28. One vote signed both ways is one vote: signatures
are stored in this canonical form (0x, lower-case hex, v 27 or 28), so a relay always works
and an equality test means the same signature.
"""

from __future__ import annotations


class MalformedSignature(ValueError):
    pass


def signature_bytes(signature: str) -> bytes:
    """The 65 bytes of a hex signature (0x optional), v as written; else MalformedSignature."""
    text = signature[2:] if signature[:2] in ("0x", "0X") else signature
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise MalformedSignature("the signature is not hex") from None
    if len(raw) != 65:
        raise MalformedSignature("a signature is 65 bytes (r, s, v)")
    if raw[64] not in (0, 1, 27, 28):
        raise MalformedSignature("v must be 27 or 28 (or 0 or 1)")
    return raw


def canonical_signature(signature: str) -> str:
    """`signature` with v as 27/28, as 0x + lower-case hex."""
    raw = signature_bytes(signature)
    v = raw[64] + 27 if raw[64] < 27 else raw[64]
    return "0x" + (raw[:64] + bytes([v])).hex()
