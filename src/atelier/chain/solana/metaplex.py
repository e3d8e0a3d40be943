"""Metaplex Token Metadata, encoded by us: the metadata account at its PDA and the
`CreateMetadataAccountV3` instruction, in Borsh, byte for byte as the program writes them.

The program itself ships in no package we can install, so LiteSVM cannot run it: we build
its instruction (for clusters that have it) and test the account layout against bytes made
by Metaplex's own serialiser (tests/chain/fixtures/metaplex_reference.json, made once with
npm `@metaplex-foundation/mpl-token-metadata`; tests/chain/make_metaplex_reference.mjs).

Layout of a `MetadataV1` account (679 bytes, zero-padded): key u8 = 4, update authority,
mint, data {name, symbol, uri (Borsh strings, each padded with NULs to 32 / 10 / 200 bytes
as the program's `puff_out_data_fields` does), seller fee u16, creators Option<Vec<{address,
verified, share}>>}, primary sale bool, mutable bool, edition nonce Option<u8>, token
standard Option<u8>, collection Option<{verified, key}>, uses Option<{method u8, remaining
u64, total u64}>, collection details Option<enum>, programmable config Option<enum>.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from atelier.chain.solana.programs import SYSTEM_PROGRAM

TOKEN_METADATA_PROGRAM = Pubkey.from_string("metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s")
MAX_NAME_LENGTH = 32
MAX_SYMBOL_LENGTH = 10
MAX_URI_LENGTH = 200
MAX_CREATORS = 5
MAX_METADATA_LEN = 679
KEY_METADATA_V1 = 4
TOKEN_STANDARD_NON_FUNGIBLE = 0
_CREATE_METADATA_ACCOUNT_V3 = 33


class MetadataError(ValueError):
    """Metadata Metaplex would refuse: a field over its byte limit, shares that do not sum."""


@dataclass(frozen=True)
class Creator:
    address: Pubkey
    share: int
    verified: bool = False


@dataclass(frozen=True)
class CollectionRef:
    key: Pubkey
    verified: bool = False


@dataclass(frozen=True)
class Metadata:
    update_authority: Pubkey
    mint: Pubkey
    name: str
    symbol: str
    uri: str
    seller_fee_basis_points: int
    creators: list[Creator] = field(default_factory=list)
    primary_sale_happened: bool = False
    is_mutable: bool = True
    edition_nonce: int | None = None
    token_standard: int | None = TOKEN_STANDARD_NON_FUNGIBLE
    collection: CollectionRef | None = None


def metadata_address(mint: Pubkey) -> Pubkey:
    address, _ = Pubkey.find_program_address(
        [b"metadata", bytes(TOKEN_METADATA_PROGRAM), bytes(mint)], TOKEN_METADATA_PROGRAM
    )
    return address


def check_fields(name: str, symbol: str, uri: str, fee_bps: int, creators: list[Creator]) -> None:
    """The program's own limits, checked before anything is built."""
    for label, value, limit in (
        ("name", name, MAX_NAME_LENGTH),
        ("symbol", symbol, MAX_SYMBOL_LENGTH),
        ("uri", uri, MAX_URI_LENGTH),
    ):
        if len(value.encode()) > limit:
            raise MetadataError(f"{label} is {len(value.encode())} bytes; at most {limit}")
        if "\x00" in value:
            raise MetadataError(f"{label} holds a NUL byte")
    if not 0 <= fee_bps <= 10_000:
        raise MetadataError("seller_fee_basis_points is between 0 and 10000")
    if len(creators) > MAX_CREATORS:
        raise MetadataError(f"at most {MAX_CREATORS} creators")
    if creators and sum(c.share for c in creators) != 100:
        raise MetadataError("creator shares sum to 100")
    if len({c.address for c in creators}) != len(creators):
        raise MetadataError("a creator is listed twice")


def _string(value: str, pad_to: int | None = None) -> bytes:
    raw = value.encode()
    if pad_to is not None:
        raw = raw.ljust(pad_to, b"\x00")
    return struct.pack("<I", len(raw)) + raw


def _option(value: bytes | None) -> bytes:
    return b"\x00" if value is None else b"\x01" + value


def _creators(creators: list[Creator]) -> bytes:
    if not creators:
        return b"\x00"
    body = struct.pack("<I", len(creators))
    for creator in creators:
        body += bytes(creator.address) + struct.pack("<?B", creator.verified, creator.share)
    return b"\x01" + body


def _collection(collection: CollectionRef | None) -> bytes:
    if collection is None:
        return b"\x00"
    return b"\x01" + struct.pack("<?", collection.verified) + bytes(collection.key)


def encode_metadata_account(metadata: Metadata) -> bytes:
    """The account's bytes as the program stores them (padded strings, 679 bytes)."""
    check_fields(
        metadata.name,
        metadata.symbol,
        metadata.uri,
        metadata.seller_fee_basis_points,
        metadata.creators,
    )
    body = (
        bytes([KEY_METADATA_V1])
        + bytes(metadata.update_authority)
        + bytes(metadata.mint)
        + _string(metadata.name, MAX_NAME_LENGTH)
        + _string(metadata.symbol, MAX_SYMBOL_LENGTH)
        + _string(metadata.uri, MAX_URI_LENGTH)
        + struct.pack("<H", metadata.seller_fee_basis_points)
        + _creators(metadata.creators)
        + struct.pack("<??", metadata.primary_sale_happened, metadata.is_mutable)
        + _option(None if metadata.edition_nonce is None else bytes([metadata.edition_nonce]))
        + _option(None if metadata.token_standard is None else bytes([metadata.token_standard]))
        + _collection(metadata.collection)
        + b"\x00"  # uses
        + b"\x00"  # collection details
        + b"\x00"  # programmable config
    )
    return body.ljust(MAX_METADATA_LEN, b"\x00")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise MetadataError("metadata account is cut short")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def flag(self) -> bool:
        value = self.u8()
        if value > 1:
            raise MetadataError("a boolean or option tag is neither 0 nor 1")
        return value == 1

    def pubkey(self) -> Pubkey:
        return Pubkey.from_bytes(self.take(32))

    def string(self, limit: int) -> str:
        (length,) = struct.unpack("<I", self.take(4))
        if length > limit:
            raise MetadataError("a string is longer than its field")
        return self.take(length).decode(errors="replace").rstrip("\x00")


def decode_metadata_account(data: bytes) -> Metadata:
    """Read a metadata account back (what an indexer does with one found on chain)."""
    reader = _Reader(data)
    if reader.u8() != KEY_METADATA_V1:
        raise MetadataError("not a MetadataV1 account")
    update_authority, mint = reader.pubkey(), reader.pubkey()
    name = reader.string(MAX_NAME_LENGTH)
    symbol = reader.string(MAX_SYMBOL_LENGTH)
    uri = reader.string(MAX_URI_LENGTH)
    (fee,) = struct.unpack("<H", reader.take(2))
    creators: list[Creator] = []
    if reader.flag():
        (count,) = struct.unpack("<I", reader.take(4))
        if count > MAX_CREATORS:
            raise MetadataError("more than five creators")
        for _ in range(count):
            address = reader.pubkey()
            verified = reader.flag()
            creators.append(Creator(address, reader.u8(), verified))
    primary, mutable = reader.flag(), reader.flag()
    nonce = reader.u8() if reader.flag() else None
    standard = reader.u8() if reader.flag() else None
    collection = None
    if reader.flag():
        verified = reader.flag()
        collection = CollectionRef(reader.pubkey(), verified)
    return Metadata(
        update_authority,
        mint,
        name,
        symbol,
        uri,
        fee,
        creators,
        primary,
        mutable,
        nonce,
        standard,
        collection,
    )


def create_metadata_account_v3(
    *,
    mint: Pubkey,
    mint_authority: Pubkey,
    payer: Pubkey,
    update_authority: Pubkey,
    name: str,
    symbol: str,
    uri: str,
    seller_fee_basis_points: int,
    creators: list[Creator],
    collection: CollectionRef | None = None,
    is_mutable: bool = True,
) -> Instruction:
    """The instruction a cluster with Token Metadata runs to make the account above (the
    program pads the strings itself; the instruction carries them as given)."""
    check_fields(name, symbol, uri, seller_fee_basis_points, creators)
    data = (
        bytes([_CREATE_METADATA_ACCOUNT_V3])
        + _string(name)
        + _string(symbol)
        + _string(uri)
        + struct.pack("<H", seller_fee_basis_points)
        + _creators(creators)
        + _collection(collection)
        + b"\x00"  # uses
        + struct.pack("<?", is_mutable)
        + b"\x00"  # collection details
    )
    accounts = [
        AccountMeta(metadata_address(mint), is_signer=False, is_writable=True),
        AccountMeta(mint, is_signer=False, is_writable=False),
        AccountMeta(mint_authority, is_signer=True, is_writable=False),
        AccountMeta(payer, is_signer=True, is_writable=True),
        AccountMeta(update_authority, is_signer=update_authority == payer, is_writable=False),
        AccountMeta(SYSTEM_PROGRAM, is_signer=False, is_writable=False),
        AccountMeta(TOKEN_METADATA_PROGRAM, is_signer=False, is_writable=False),  # no rent
    ]
    return Instruction(TOKEN_METADATA_PROGRAM, data, accounts)
