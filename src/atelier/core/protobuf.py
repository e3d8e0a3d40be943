"""Protobuf's base-128 varint, the one piece of its wire format two formats we write share
(IPFS dag-pb nodes for CIDs, Farcaster messages)."""

from __future__ import annotations


def varint(value: int) -> bytes:
    """`value` (0 <= value < 2**64) as a protobuf varint."""
    if value < 0 or value >= 2**64:
        raise ValueError("a number is out of the protobuf varint range")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
