"""Content identifiers computed locally, streaming: SHA-256 and the IPFS CID of a file.

Settings (those of `ipfs add` with its defaults, and what Debian's `ipfs-cid` prints):
UnixFS files in dag-pb, SHA2-256, fixed-size chunks of 262,144 bytes, leaves are UnixFS
`File` nodes holding their bytes (no raw leaves), a balanced DAG with at most 174 links per
node. CIDv1 is that DAG's root as `dag-pb` in base32 (`bafy…`); CIDv0 is the same multihash
in base58 (`Qm…`). Anyone can recompute both with `ipfs add --only-hash` or `ipfs-cid`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import base58

from atelier.core.protobuf import varint

CHUNK_SIZE = 262_144
MAX_LINKS = 174
_DAG_PB = 0x70
_SHA2_256 = 0x12
_UNIXFS_FILE = 2


def _field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _fieldvarint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


@dataclass(frozen=True)
class _Node:
    multihash: bytes
    block_size: int
    tree_size: int  # this block plus everything below it (a link's Tsize)
    file_size: int


def _unixfs(data: bytes | None, file_size: int, block_sizes: list[int]) -> bytes:
    message = _fieldvarint(1, _UNIXFS_FILE)
    if data:
        message += _field_bytes(2, data)
    message += _fieldvarint(3, file_size)
    for size in block_sizes:
        message += _fieldvarint(4, size)
    return message


def _block(links: list[_Node], unixfs: bytes) -> bytes:
    encoded = b""
    for link in links:  # dag-pb: links (field 2) before data (field 1)
        body = (
            _field_bytes(1, link.multihash) + _field_bytes(2, b"") + _fieldvarint(3, link.tree_size)
        )
        encoded += _field_bytes(2, body)
    return encoded + _field_bytes(1, unixfs)


def _node(links: list[_Node], data: bytes | None) -> _Node:
    if links:
        file_size = sum(link.file_size for link in links)
        block = _block(links, _unixfs(None, file_size, [link.file_size for link in links]))
    else:
        file_size = len(data or b"")
        block = _block([], _unixfs(data, file_size, []))
    multihash = bytes([_SHA2_256, 32]) + hashlib.sha256(block).digest()
    tree_size = len(block) + sum(link.tree_size for link in links)
    return _Node(multihash, len(block), tree_size, file_size)


@dataclass(frozen=True)
class ContentIds:
    sha256: str
    cid_v1: str
    cid_v0: str
    size: int


def content_ids(stream: BinaryIO) -> ContentIds:
    """SHA-256 and CIDs of a stream, reading it once in 256 KiB chunks."""
    digest = hashlib.sha256()
    level: list[_Node] = []
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
        level.append(_node([], chunk))
    if not level:
        level.append(_node([], b""))
    while len(level) > 1:
        level = [_node(level[i : i + MAX_LINKS], None) for i in range(0, len(level), MAX_LINKS)]
    root = level[0].multihash
    cid_v1 = "b" + base64.b32encode(bytes([1, _DAG_PB]) + root).decode().lower().rstrip("=")
    return ContentIds(digest.hexdigest(), cid_v1, base58.b58encode(root).decode(), size)


def file_ids(path: Path) -> ContentIds:
    with path.open("rb") as handle:
        return content_ids(handle)
