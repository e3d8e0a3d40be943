"""Compressed NFTs (Metaplex Bubblegum v1): the leaf schema and `mint_v1`, encoded by us.

UNTESTED ON CHAIN: neither Bubblegum nor SPL Account Compression runs in LiteSVM, and no
package ships their binaries. What is tested is the bytes: the leaf hash, the metadata and
creator hashes, the asset id and the instruction data, against Metaplex's own
`@metaplex-foundation/mpl-bubblegum` 4.4 (tests/chain/fixtures/bubblegum_reference.json, made
once by tests/chain/make_bubblegum_reference.mjs).

A leaf is `keccak256(version u8 = 1 || asset id || owner || delegate || nonce u64 ||
data hash || creator hash)`, where the data hash is `keccak256(keccak256(MetadataArgs) ||
seller fee u16)` and the creator hash `keccak256` of the creators' (address, verified,
share) records; the asset id is the PDA `["asset", tree, nonce u64]` of the Bubblegum
program. This is what an indexer checks a proof against.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from eth_hash.auto import keccak
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from atelier.chain.solana.metaplex import (
    TOKEN_STANDARD_NON_FUNGIBLE,
    CollectionRef,
    Creator,
    check_fields,
)
from atelier.chain.solana.programs import SYSTEM_PROGRAM

BUBBLEGUM_PROGRAM = Pubkey.from_string("BGUMAp9Gq7iTEuizy4pqaxsTyUCBK68MDfK752saRPUY")
SPL_NOOP = Pubkey.from_string("noopb9bkMVfRPU8AsbpTUg8AQkHtKwMYZiFUjNRtMmV")
SPL_ACCOUNT_COMPRESSION = Pubkey.from_string("cmtDvXumGCrqC1Age74AVPhSRVXJMd8PJS91L8KbNCK")
_MINT_V1 = bytes([145, 98, 192, 118, 184, 147, 118, 104])
LEAF_VERSION = 1


@dataclass(frozen=True)
class MetadataArgs:
    name: str
    symbol: str
    uri: str
    seller_fee_basis_points: int
    creators: list[Creator] = field(default_factory=list)
    primary_sale_happened: bool = False
    is_mutable: bool = True
    collection: CollectionRef | None = None


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("<I", len(raw)) + raw


def _creator(creator: Creator) -> bytes:
    return bytes(creator.address) + struct.pack("<?B", creator.verified, creator.share)


def encode_metadata_args(args: MetadataArgs) -> bytes:
    check_fields(args.name, args.symbol, args.uri, args.seller_fee_basis_points, args.creators)
    collection = (
        b"\x00"
        if args.collection is None
        else b"\x01" + struct.pack("<?", args.collection.verified) + bytes(args.collection.key)
    )
    return (
        _string(args.name)
        + _string(args.symbol)
        + _string(args.uri)
        + struct.pack(
            "<H??", args.seller_fee_basis_points, args.primary_sale_happened, args.is_mutable
        )
        + b"\x00"  # edition nonce: none
        + b"\x01"
        + bytes([TOKEN_STANDARD_NON_FUNGIBLE])
        + collection
        + b"\x00"  # uses: none
        + b"\x00"  # token program version: original
        + struct.pack("<I", len(args.creators))
        + b"".join(_creator(c) for c in args.creators)
    )


def data_hash(args: MetadataArgs) -> bytes:
    return keccak(
        keccak(encode_metadata_args(args)) + struct.pack("<H", args.seller_fee_basis_points)
    )


def creator_hash(creators: list[Creator]) -> bytes:
    return keccak(b"".join(_creator(c) for c in creators))


def asset_id(merkle_tree: Pubkey, nonce: int) -> Pubkey:
    address, _ = Pubkey.find_program_address(
        [b"asset", bytes(merkle_tree), struct.pack("<Q", nonce)], BUBBLEGUM_PROGRAM
    )
    return address


def tree_config(merkle_tree: Pubkey) -> Pubkey:
    address, _ = Pubkey.find_program_address([bytes(merkle_tree)], BUBBLEGUM_PROGRAM)
    return address


def leaf_hash(
    merkle_tree: Pubkey,
    nonce: int,
    owner: Pubkey,
    args: MetadataArgs,
    delegate: Pubkey | None = None,
) -> bytes:
    """The leaf a compressed NFT is in its tree (what a proof proves)."""
    return keccak(
        bytes([LEAF_VERSION])
        + bytes(asset_id(merkle_tree, nonce))
        + bytes(owner)
        + bytes(delegate or owner)
        + struct.pack("<Q", nonce)
        + data_hash(args)
        + creator_hash(args.creators)
    )


def mint_v1(
    *,
    merkle_tree: Pubkey,
    owner: Pubkey,
    payer: Pubkey,
    tree_authority: Pubkey,
    args: MetadataArgs,
    delegate: Pubkey | None = None,
) -> Instruction:
    """Bubblegum's `mint_v1`: a compressed NFT appended to `merkle_tree` for `owner`."""
    accounts = [
        AccountMeta(tree_config(merkle_tree), is_signer=False, is_writable=True),
        AccountMeta(owner, is_signer=False, is_writable=False),
        AccountMeta(delegate or owner, is_signer=False, is_writable=False),
        AccountMeta(merkle_tree, is_signer=False, is_writable=True),
        AccountMeta(payer, is_signer=True, is_writable=True),
        AccountMeta(tree_authority, is_signer=True, is_writable=False),
        AccountMeta(SPL_NOOP, is_signer=False, is_writable=False),
        AccountMeta(SPL_ACCOUNT_COMPRESSION, is_signer=False, is_writable=False),
        AccountMeta(SYSTEM_PROGRAM, is_signer=False, is_writable=False),
    ]
    return Instruction(BUBBLEGUM_PROGRAM, _MINT_V1 + encode_metadata_args(args), accounts)
