"""Farcaster messages: the ones @farcaster/core (the reference library) made verify; any
change to a signed message, a foreign signature, or malformed input is refused."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atelier.social import farcaster
from atelier.social.farcaster import MessageRefused

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "farcaster_core_messages.json").read_text()
)


def _reference() -> list[dict[str, Any]]:
    return copy.deepcopy(FIXTURES["messages"])


def test_messages_made_by_the_reference_library_verify() -> None:
    seed = bytes.fromhex(FIXTURES["signer_private_key"])
    signer = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    kinds = []
    for message in _reference():
        verified = farcaster.verify(message)
        assert verified.signer == signer and verified.fid == 4242
        kinds.append(verified.kind)
    assert kinds == [
        farcaster.CAST_ADD,
        farcaster.CAST_ADD,
        farcaster.CAST_ADD,
        farcaster.CAST_REMOVE,
        farcaster.USER_DATA_ADD,
    ]


def test_our_encoding_is_the_reference_librarys() -> None:
    """A message we sign with the reference's key and data has the reference's hash (the
    same bytes under BLAKE3) and signature (ed25519 is deterministic)."""
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(FIXTURES["signer_private_key"]))
    for reference in _reference():
        ours, _ = farcaster.signed_message(key, reference["data"])
        assert ours["hash"] == reference["hash"]
        assert ours["signature"] == reference["signature"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda m: m["data"]["castAddBody"].__setitem__("text", "edited"), "hash"),
        (lambda m: m["data"].__setitem__("fid", 4243), "hash"),
        (lambda m: m["data"].__setitem__("timestamp", 120000001), "hash"),
        (lambda m: m.__setitem__("hash", "0x" + "00" * 20), "hash"),
        (lambda m: m.__setitem__("signer", "0x" + "11" * 32), "signature"),
        (
            lambda m: m.__setitem__("signature", base64.b64encode(b"\x01" * 64).decode()),
            "signature",
        ),
        (lambda m: m.__setitem__("signature", "not base64!"), "base64"),
        (lambda m: m.__setitem__("hashScheme", "HASH_SCHEME_SHA256"), "BLAKE3"),
        (lambda m: m["data"].__setitem__("type", "MESSAGE_TYPE_FRAME_ACTION"), "not supported"),
        (lambda m: m["data"]["castAddBody"].__setitem__("text", "a\x00b"), "NUL"),
        (lambda m: m["data"]["castAddBody"].__setitem__("text", "x" * 5000), "longer"),
        (lambda m: m["data"]["castAddBody"].__setitem__("mentions", list(range(50))), "mentions"),
        (lambda m: m["data"].__setitem__("fid", 2**64), "range"),
        (lambda m: m["data"].__setitem__("fid", True), "whole number"),
        (lambda m: m.__setitem__("data", "nope"), "no data"),
        (lambda m: m["data"]["castAddBody"].__setitem__("text", "\udc00"), "Unicode"),
    ],
)
def test_a_changed_or_malformed_message_is_refused(change: Any, why: str) -> None:
    message = _reference()[0]
    change(message)
    with pytest.raises(MessageRefused, match=why):
        farcaster.verify(message)


def test_a_message_signed_by_another_key_for_the_same_data_is_not_the_authors() -> None:
    """A valid signature by a key the message does not name is refused: the signer field
    is what the signature is checked against."""
    reference = _reference()[0]
    forged, _ = farcaster.signed_message(Ed25519PrivateKey.generate(), reference["data"])
    forged["signer"] = reference["signer"]
    with pytest.raises(MessageRefused, match="signature"):
        farcaster.verify(forged)


def test_submitted_protobuf_bytes_read_back_to_the_same_message() -> None:
    key = Ed25519PrivateKey.generate()
    data = farcaster.cast_data(
        7, "hello ✓", embeds=["https://atelier.example/x"], parent_url="https://p.example"
    )
    message, wire = farcaster.signed_message(key, data)
    assert farcaster.decode_message(wire) == message
    farcaster.verify(farcaster.decode_message(wire))


@pytest.mark.parametrize(
    "wire",
    [b"", b"\xff" * 20, b"\x0a\xff\xff\xff\xff\x0f", b"\x0b\x00", b"\x0a\x05abc", b"\x08" * 3],
)
def test_garbage_bytes_are_refused_not_crashed_on(wire: bytes) -> None:
    with pytest.raises(MessageRefused):
        farcaster.verify(farcaster.decode_message(wire))
