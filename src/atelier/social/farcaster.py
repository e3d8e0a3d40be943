"""Farcaster messages: their protobuf bytes, BLAKE3 hash and ed25519 signature.

A hub's HTTP API hands out messages as JSON (`data` decoded, `hash` and `signer` 0x-hex,
`signature` base64). The signature covers the hash and the hash covers the protobuf bytes of
`data`, which the JSON does not carry: we encode them again. Protobuf has no single
encoding: @farcaster/core (ts-proto) writes fields in their order of declaration and empty
packed lists as empty fields, other encoders (prost) in field-number order without empty
fields; both are tried, and a hash that matches either proves the JSON's data is what was
signed (tests/social/fixtures holds messages @farcaster/core made). A message whose hash
or signature does not check is refused before anything stores it.

Only the message types the platform reads are understood: casts (add, remove), reactions
(likes and recasts, add and remove) and user data.
Others are refused as unsupported, never stored unchecked. Pure: no I/O, no database.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from typing import Any

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from atelier.core.protobuf import varint

FARCASTER_EPOCH = 1_609_459_200  # 2021-01-01T00:00:00Z: message timestamps count from here
HASH_BYTES = 20
MAX_TEXT_BYTES = 1024  # a long cast's limit; anything longer is refused
MAX_EMBEDS = 4
MAX_MENTIONS = 10

CAST_ADD = "MESSAGE_TYPE_CAST_ADD"
CAST_REMOVE = "MESSAGE_TYPE_CAST_REMOVE"
REACTION_ADD = "MESSAGE_TYPE_REACTION_ADD"
REACTION_REMOVE = "MESSAGE_TYPE_REACTION_REMOVE"
USER_DATA_ADD = "MESSAGE_TYPE_USER_DATA_ADD"
MESSAGE_TYPES = {
    CAST_ADD: 1,
    CAST_REMOVE: 2,
    REACTION_ADD: 3,
    REACTION_REMOVE: 4,
    USER_DATA_ADD: 11,
}
NETWORKS = {
    "FARCASTER_NETWORK_MAINNET": 1,
    "FARCASTER_NETWORK_TESTNET": 2,
    "FARCASTER_NETWORK_DEVNET": 3,
}
CAST_TYPES = {"CAST": 0, "LONG_CAST": 1, "TEN_K_CAST": 2}
USER_DATA_TYPES = {
    "USER_DATA_TYPE_PFP": 1,
    "USER_DATA_TYPE_DISPLAY": 2,
    "USER_DATA_TYPE_BIO": 3,
    "USER_DATA_TYPE_URL": 5,
    "USER_DATA_TYPE_USERNAME": 6,
}
BODY_FIELDS = {CAST_ADD: ("castAddBody", 5), CAST_REMOVE: ("castRemoveBody", 6)}
BODY_FIELDS[REACTION_ADD] = BODY_FIELDS[REACTION_REMOVE] = ("reactionBody", 7)
BODY_FIELDS[USER_DATA_ADD] = ("userDataBody", 12)
REACTION_TYPES = {"REACTION_TYPE_LIKE": 1, "REACTION_TYPE_RECAST": 2}


class MessageRefused(ValueError):
    """A message that is malformed, unsupported, or whose hash or signature does not check."""


# -- protobuf wire format ---------------------------------------------------------------------


def _varint(value: int) -> bytes:
    try:
        return varint(value)
    except ValueError:
        raise MessageRefused("a number is out of the protobuf range") from None


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _uint(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value) if value else b""


def _bytes(number: int, value: bytes, *, keep_empty: bool = False) -> bytes:
    if not value and not keep_empty:
        return b""
    return _key(number, 2) + _varint(len(value)) + value


def _text(number: int, value: str) -> bytes:
    return _bytes(number, value.encode())


def _packed(number: int, values: list[int], *, keep_empty: bool = False) -> bytes:
    return _bytes(number, b"".join(_varint(v) for v in values), keep_empty=keep_empty)


# -- JSON → bytes ------------------------------------------------------------------------------


def _hex(value: object, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MessageRefused(f"{what} must be 0x-prefixed hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise MessageRefused(f"{what} is not hex") from None
    if size is not None and len(raw) != size:
        raise MessageRefused(f"{what} must be {size} bytes")
    return raw


def _int(value: object, what: str, bits: int = 64) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MessageRefused(f"{what} must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise MessageRefused(f"{what} must be a whole number") from None
    if not 0 <= number < 2**bits:
        raise MessageRefused(f"{what} is out of range")
    return number


def _enum(table: dict[str, int], value: object, what: str) -> int:
    if not isinstance(value, str) or value not in table:
        raise MessageRefused(f"{what} {str(value)[:40]!r} is not supported")
    return table[value]


def _str(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise MessageRefused(f"{what} must be text")
    if "\x00" in value:
        raise MessageRefused(f"{what} holds a NUL character")
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise MessageRefused(f"{what} is not valid Unicode") from None
    if size > limit:
        raise MessageRefused(f"{what} is longer than {limit} bytes")
    return value


def _list(value: object, what: str, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > limit:
        raise MessageRefused(f"{what} must be a list of at most {limit}")
    return value


def _cast_id(value: object) -> bytes:
    if not isinstance(value, dict):
        raise MessageRefused("a cast id must be {fid, hash}")
    return _uint(1, _int(value.get("fid"), "a cast id's fid")) + _bytes(
        2, _hex(value.get("hash"), "a cast id's hash", HASH_BYTES)
    )


def _embed(value: object) -> bytes:
    if not isinstance(value, dict):
        raise MessageRefused("an embed must be {url} or {castId}")
    if "url" in value:
        return _text(1, _str(value["url"], "an embed's url", 256))
    if "castId" in value:
        return _bytes(2, _cast_id(value["castId"]), keep_empty=True)
    raise MessageRefused("an embed must be {url} or {castId}")


def _cast_add(body: dict[str, Any], *, declared_order: bool) -> bytes:
    parts: list[tuple[int, bytes]] = []
    deprecated = _list(body.get("embedsDeprecated"), "embedsDeprecated", MAX_EMBEDS)
    parts += [(1, _text(1, _str(e, "an embed", 256))) for e in deprecated]
    mentions = [_int(m, "a mention") for m in _list(body.get("mentions"), "mentions", MAX_MENTIONS)]
    parts.append((2, _packed(2, mentions, keep_empty=declared_order)))
    if body.get("parentCastId") is not None:
        parts.append((3, _bytes(3, _cast_id(body["parentCastId"]), keep_empty=True)))
    if body.get("parentUrl") is not None:
        parts.append((7, _text(7, _str(body["parentUrl"], "parentUrl", 256))))
    parts.append((4, _text(4, _str(body.get("text", ""), "the text", MAX_TEXT_BYTES))))
    positions = _list(body.get("mentionsPositions"), "mentionsPositions", MAX_MENTIONS)
    numbers = [_int(p, "a mention position", 32) for p in positions]
    parts.append((5, _packed(5, numbers, keep_empty=declared_order)))
    embeds = _list(body.get("embeds"), "embeds", MAX_EMBEDS)
    parts += [(6, _bytes(6, _embed(e), keep_empty=True)) for e in embeds]
    parts.append((8, _uint(8, _enum(CAST_TYPES, body.get("type", "CAST"), "cast type"))))
    if not declared_order:
        parts.sort(key=lambda part: part[0])
    return b"".join(encoded for _, encoded in parts)


def _reaction(body: dict[str, Any]) -> bytes:
    """A reaction's body: its type, then its one target (a cast's id, or a URL)."""
    kind = _uint(1, _enum(REACTION_TYPES, body.get("type"), "reaction type"))
    has_cast, has_url = body.get("targetCastId") is not None, body.get("targetUrl") is not None
    if has_cast == has_url:
        raise MessageRefused("a reaction targets one cast (targetCastId) or one URL (targetUrl)")
    if has_cast:
        return kind + _bytes(2, _cast_id(body["targetCastId"]), keep_empty=True)
    return kind + _text(3, _str(body["targetUrl"], "targetUrl", 256))


def _body(kind: str, body: object, *, declared_order: bool) -> bytes:
    if not isinstance(body, dict):
        raise MessageRefused("the message has no body for its type")
    if kind == CAST_ADD:
        return _cast_add(body, declared_order=declared_order)
    if kind == CAST_REMOVE:
        return _bytes(1, _hex(body.get("targetHash"), "targetHash", HASH_BYTES))
    if kind in (REACTION_ADD, REACTION_REMOVE):
        return _reaction(body)
    kind_number = _enum(USER_DATA_TYPES, body.get("type"), "user data type")
    return _uint(1, kind_number) + _text(2, _str(body.get("value", ""), "user data", 256))


def data_bytes(data: object, *, declared_order: bool = True) -> bytes:
    """The protobuf `MessageData` bytes of a message's JSON `data`."""
    if not isinstance(data, dict):
        raise MessageRefused("the message has no data")
    kind = data.get("type")
    number = _enum(MESSAGE_TYPES, kind, "message type")
    assert isinstance(kind, str)
    body_name, body_field = BODY_FIELDS[kind]
    body = _body(kind, data.get(body_name), declared_order=declared_order)
    return (
        _uint(1, number)
        + _uint(2, _int(data.get("fid"), "fid"))
        + _uint(3, _int(data.get("timestamp"), "timestamp", 32))
        + _uint(4, _enum(NETWORKS, data.get("network"), "network"))
        + _bytes(body_field, body, keep_empty=True)
    )


def message_hash(data: bytes) -> bytes:
    return blake3.blake3(data).digest()[:HASH_BYTES]


# -- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """A message whose hash and signature checked, with its fields as we store them."""

    hash: bytes
    signer: bytes
    fid: int
    kind: str
    timestamp: int  # Farcaster time (seconds since FARCASTER_EPOCH)
    body: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def unix_time(self) -> int:
        return FARCASTER_EPOCH + self.timestamp


def verify(message: object) -> Verified:
    """Check a hub's JSON message: BLAKE3 hash of its data's bytes, then the ed25519
    signature of that hash by its signer. Raises `MessageRefused` saying why not."""
    if not isinstance(message, dict):
        raise MessageRefused("a message must be a JSON object")
    if message.get("hashScheme", "HASH_SCHEME_BLAKE3") != "HASH_SCHEME_BLAKE3":
        raise MessageRefused("only BLAKE3 hashes are accepted")
    if message.get("signatureScheme", "SIGNATURE_SCHEME_ED25519") != "SIGNATURE_SCHEME_ED25519":
        raise MessageRefused("only ed25519 signatures are accepted")
    claimed = _hex(message.get("hash"), "hash", HASH_BYTES)
    signer = _hex(message.get("signer"), "signer", 32)
    signature = _signature(message.get("signature"))
    data = message.get("data")
    if message.get("dataBytes") is not None:
        # The signed bytes themselves (a hub sends them when re-encoding `data` would not
        # give them back: unknown fields, another field order): they are hashed as they
        # are, and what is stored is read from them, not from the hub's `data`.
        signed = _base64(message["dataBytes"], "dataBytes")
        if message_hash(signed) != claimed:
            raise MessageRefused("the hash is not the BLAKE3 hash of the message's dataBytes")
        data = _decoded_data(signed)
    else:
        candidates = [data_bytes(data), data_bytes(data, declared_order=False)]
        if not any(message_hash(candidate) == claimed for candidate in candidates):
            raise MessageRefused("the hash is not the BLAKE3 hash of the message's data")
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(signature, claimed)
    except InvalidSignature:
        raise MessageRefused("the signature is not the signer's signature of the hash") from None
    assert isinstance(data, dict)
    kind = str(data["type"])
    return Verified(
        hash=claimed,
        signer=signer,
        fid=_int(data.get("fid"), "fid"),
        kind=kind,
        timestamp=_int(data.get("timestamp"), "timestamp", 32),
        body=dict(data[BODY_FIELDS[kind][0]]),
        raw={**message, "data": data},  # as signed, whatever the hub's `data` said
    )


def _base64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise MessageRefused(f"the {what} must be base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MessageRefused(f"the {what} is not base64") from None


def _signature(value: object) -> bytes:
    raw = _base64(value, "signature")
    if len(raw) != 64:
        raise MessageRefused("an ed25519 signature is 64 bytes")
    return raw


# -- making messages (cross-posting, the development hub's fixtures) ----------------------------


def farcaster_time(unix: float | None = None) -> int:
    return int((time.time() if unix is None else unix) - FARCASTER_EPOCH)


def signed_message(key: Ed25519PrivateKey, data: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A message as a hub's JSON, signed by `key`, and its protobuf `Message` bytes (what
    `POST /v1/submitMessage` takes)."""
    encoded = data_bytes(data)
    digest = message_hash(encoded)
    signature = key.sign(digest)
    signer = key.public_key().public_bytes_raw()
    message = {
        "data": data,
        "hash": "0x" + digest.hex(),
        "hashScheme": "HASH_SCHEME_BLAKE3",
        "signature": base64.b64encode(signature).decode(),
        "signatureScheme": "SIGNATURE_SCHEME_ED25519",
        "signer": "0x" + signer.hex(),
    }
    wire = (
        _bytes(1, encoded, keep_empty=True)
        + _bytes(2, digest)
        + _uint(3, 1)
        + _bytes(4, signature)
        + _uint(5, 1)
        + _bytes(6, signer)
        + _bytes(7, encoded)
    )
    return message, wire


def reaction_data(
    fid: int,
    target: tuple[int, bytes],
    *,
    kind: str = "REACTION_TYPE_LIKE",
    remove: bool = False,
    network: str = "FARCASTER_NETWORK_MAINNET",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A like or recast of the cast `target` (its author's fid, its hash), or its removal."""
    target_fid, target_hash = target
    return {
        "type": REACTION_REMOVE if remove else REACTION_ADD,
        "fid": fid,
        "timestamp": farcaster_time() if timestamp is None else timestamp,
        "network": network,
        "reactionBody": {
            "type": kind,
            "targetCastId": {"fid": target_fid, "hash": "0x" + target_hash.hex()},
        },
    }


def cast_data(
    fid: int,
    text: str,
    *,
    embeds: list[str] | None = None,
    parent_url: str | None = None,
    network: str = "FARCASTER_NETWORK_MAINNET",
    timestamp: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "embedsDeprecated": [],
        "mentions": [],
        "text": text,
        "mentionsPositions": [],
        "embeds": [{"url": url} for url in embeds or []],
        "type": "CAST",
    }
    if parent_url is not None:
        body["parentUrl"] = parent_url
    return {
        "type": CAST_ADD,
        "fid": fid,
        "timestamp": farcaster_time() if timestamp is None else timestamp,
        "network": network,
        "castAddBody": body,
    }


# -- bytes → JSON (the development hub reads what clients submit) -------------------------------


class _Reader:
    """Reads protobuf's wire format: varints and length-delimited fields."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.at = 0

    def varint(self) -> int:
        shift = value = 0
        while True:
            if self.at >= len(self.raw) or shift > 63:
                raise MessageRefused("truncated protobuf")
            byte = self.raw[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def fields(self) -> list[tuple[int, int | bytes]]:
        """(field number, value) of each field: varints as ints, the rest as bytes."""
        out: list[tuple[int, int | bytes]] = []
        while self.at < len(self.raw):
            key = self.varint()
            number, wire = key >> 3, key & 7
            if wire == 0:
                out.append((number, self.varint()))
            elif wire == 2:
                size = self.varint()
                if self.at + size > len(self.raw):
                    raise MessageRefused("truncated protobuf")
                out.append((number, self.raw[self.at : self.at + size]))
                self.at += size
            else:
                raise MessageRefused("unsupported protobuf wire type")
        return out


def _fields(raw: bytes) -> dict[int, int | bytes]:
    return dict(_Reader(raw).fields())


def _as_int(value: int | bytes | None) -> int:
    if value is None:
        return 0
    if not isinstance(value, int):
        raise MessageRefused("a number field holds bytes")
    return value


def _as_bytes(value: int | bytes | None) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, bytes):
        raise MessageRefused("a bytes field holds a number")
    return value


def _varints(value: int | bytes) -> list[int]:
    """A repeated number field: one varint, or a packed run of them."""
    if isinstance(value, int):
        return [value]
    reader, out = _Reader(value), []
    while reader.at < len(value):
        out.append(reader.varint())
    return out


def _name_of(table: dict[str, int], number: int, what: str) -> str:
    for name, value in table.items():
        if value == number:
            return name
    raise MessageRefused(f"{what} {number} is not supported")


def _decoded_cast_id(raw: bytes) -> dict[str, Any]:
    values = _fields(raw)
    return {"fid": _as_int(values.get(1)), "hash": "0x" + _as_bytes(values.get(2)).hex()}


def _decoded_embed(raw: bytes) -> dict[str, Any]:
    values = _fields(raw)
    if 1 in values:
        return {"url": _as_bytes(values[1]).decode()}
    return {"castId": _decoded_cast_id(_as_bytes(values.get(2)))}


def _decoded_cast_add(raw: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {
        "embedsDeprecated": [],
        "mentions": [],
        "text": "",
        "mentionsPositions": [],
        "embeds": [],
        "type": "CAST",
    }
    for number, value in _Reader(raw).fields():
        if number == 1:
            body["embedsDeprecated"].append(_as_bytes(value).decode())
        elif number in (2, 5):
            body["mentions" if number == 2 else "mentionsPositions"] += _varints(value)
        elif number == 3:
            body["parentCastId"] = _decoded_cast_id(_as_bytes(value))
        elif number == 4:
            body["text"] = _as_bytes(value).decode()
        elif number == 6:
            body["embeds"].append(_decoded_embed(_as_bytes(value)))
        elif number == 7:
            body["parentUrl"] = _as_bytes(value).decode()
        elif number == 8:
            body["type"] = _name_of(CAST_TYPES, _as_int(value), "cast type")
    return body


def _decoded_body(kind: str, raw: bytes) -> dict[str, Any]:
    if kind == CAST_ADD:
        return _decoded_cast_add(raw)
    fields = _fields(raw)
    if kind == CAST_REMOVE:
        return {"targetHash": "0x" + _as_bytes(fields.get(1)).hex()}
    if kind in (REACTION_ADD, REACTION_REMOVE):
        body: dict[str, Any] = {
            "type": _name_of(REACTION_TYPES, _as_int(fields.get(1)), "reaction type")
        }
        if 2 in fields:
            body["targetCastId"] = _decoded_cast_id(_as_bytes(fields[2]))
        if 3 in fields:
            body["targetUrl"] = _as_bytes(fields[3]).decode()
        return body
    return {
        "type": _name_of(USER_DATA_TYPES, _as_int(fields.get(1)), "user data type"),
        "value": _as_bytes(fields.get(2)).decode(),
    }


def _decoded_data(raw: bytes) -> dict[str, Any]:
    """A protobuf `MessageData` as a hub's JSON `data`."""
    try:
        data = _fields(raw)
        kind = _name_of(MESSAGE_TYPES, _as_int(data.get(1)), "message type")
        body_name, body_field = BODY_FIELDS[kind]
        return {
            "type": kind,
            "fid": _as_int(data.get(2)),
            "timestamp": _as_int(data.get(3)),
            "network": _name_of(NETWORKS, _as_int(data.get(4)), "network"),
            body_name: _decoded_body(kind, _as_bytes(data.get(body_field))),
        }
    except UnicodeDecodeError:
        raise MessageRefused("a text field is not UTF-8") from None


def decode_message(raw: bytes) -> dict[str, Any]:
    """A protobuf `Message` as a hub's JSON (not yet verified: pass it to `verify`); its
    `data_bytes`, when they are not its `data` field again, kept as `dataBytes` (they are
    what was signed)."""
    top = _fields(raw)
    signed = top.get(7) if top.get(7) != top.get(1) else None
    message = {
        "data": _decoded_data(_as_bytes(signed or top.get(1))),
        "hash": "0x" + _as_bytes(top.get(2)).hex(),
        "hashScheme": "HASH_SCHEME_BLAKE3",
        "signature": base64.b64encode(_as_bytes(top.get(4))).decode(),
        "signatureScheme": "SIGNATURE_SCHEME_ED25519",
        "signer": "0x" + _as_bytes(top.get(6)).hex(),
    }
    if signed:
        message["dataBytes"] = base64.b64encode(_as_bytes(signed)).decode()
    return message
