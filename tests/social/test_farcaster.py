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
        farcaster.REACTION_ADD,
        farcaster.REACTION_REMOVE,
        farcaster.REACTION_ADD,
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
    target = (7, farcaster.verify(message).hash)
    for kind, remove in (("REACTION_TYPE_LIKE", False), ("REACTION_TYPE_RECAST", True)):
        reaction = farcaster.reaction_data(8, target, kind=kind, remove=remove)
        message, wire = farcaster.signed_message(key, reaction)
        assert farcaster.decode_message(wire) == message
        assert farcaster.verify(farcaster.decode_message(wire)).body["type"] == kind


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"type": "REACTION_TYPE_LIKE"}, "one cast"),
        (
            {
                "type": "REACTION_TYPE_LIKE",
                "targetCastId": {"fid": 1, "hash": "0x" + "ab" * 20},
                "targetUrl": "https://a.example",
            },
            "one cast",
        ),
        ({"type": "REACTION_TYPE_WOW", "targetUrl": "https://a.example"}, "reaction type"),
        ({"type": "REACTION_TYPE_LIKE", "targetCastId": {"fid": 1, "hash": "0xab"}}, "bytes"),
    ],
)
def test_a_malformed_reaction_is_refused(body: dict[str, Any], why: str) -> None:
    data = farcaster.reaction_data(8, (1, b"\xab" * 20))
    data["reactionBody"] = body
    with pytest.raises(MessageRefused, match=why):
        farcaster.signed_message(Ed25519PrivateKey.generate(), data)


def test_signed_bytes_a_hub_passes_on_are_what_is_checked() -> None:
    """A message whose signed bytes carry a field we do not know (a newer protocol): the
    hub sends them as `dataBytes`; re-encoding `data` would not give them back, so they
    are hashed as they are and read for what is stored. Changed, they are refused."""
    key = Ed25519PrivateKey.generate()
    data = farcaster.cast_data(7, "from the future")
    signed = farcaster.data_bytes(data) + bytes([0x78, 0x2A])  # field 15, varint 42
    digest = farcaster.message_hash(signed)
    message = {
        "data": data,
        "hash": "0x" + digest.hex(),
        "signature": base64.b64encode(key.sign(digest)).decode(),
        "signer": "0x" + key.public_key().public_bytes_raw().hex(),
    }
    with pytest.raises(MessageRefused, match="hash"):
        farcaster.verify(message)  # without the bytes, `data` does not hash to it
    verified = farcaster.verify({**message, "dataBytes": base64.b64encode(signed).decode()})
    assert verified.body["text"] == "from the future" and verified.fid == 7
    wire = b"\x12\x14" + digest + b"\x22\x40" + base64.b64decode(message["signature"])
    wire += b"\x32\x20" + key.public_key().public_bytes_raw() + b"\x3a" + bytes([len(signed)])
    wire += signed  # data_bytes only, as a hub may store it
    assert farcaster.verify(farcaster.decode_message(wire)).hash == digest
    lied = {**message, "data": farcaster.cast_data(7, "something else")}
    kept = farcaster.verify({**lied, "dataBytes": base64.b64encode(signed).decode()})
    assert kept.body["text"] == "from the future"  # the signed bytes, not the hub's word
    tampered = signed[:-1] + b"\x2b"
    with pytest.raises(MessageRefused, match="dataBytes"):
        farcaster.verify({**message, "dataBytes": base64.b64encode(tampered).decode()})


@pytest.mark.parametrize(
    "wire",
    [b"", b"\xff" * 20, b"\x0a\xff\xff\xff\xff\x0f", b"\x0b\x00", b"\x0a\x05abc", b"\x08" * 3],
)
def test_garbage_bytes_are_refused_not_crashed_on(wire: bytes) -> None:
    with pytest.raises(MessageRefused):
        farcaster.verify(farcaster.decode_message(wire))
