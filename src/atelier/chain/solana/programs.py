"""Instructions for the programs every Solana cluster (and LiteSVM) runs: System, SPL Token,
Associated Token Account, Memo. solders builds the System ones; SPL Token's are a one-byte
tag and little-endian fields (the program's `TokenInstruction` enum), written here.

An NFT is a mint with 0 decimals and a supply of 1 whose mint authority is then revoked,
so no second token can ever exist (`mint_nft_instructions`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import (
    CreateAccountParams,
    TransferParams,
    TransferWithSeedParams,
    create_account,
    transfer,
    transfer_with_seed,
)
from solders.token.associated import get_associated_token_address
from solders.token.state import Mint, TokenAccount

SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
ASSOCIATED_TOKEN_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")

MINT_SIZE = 82
TOKEN_ACCOUNT_SIZE = 165
LAMPORTS_PER_SOL = 1_000_000_000
# The most lamports there can be (the u64 of every balance): a price above it is refused
# before any arithmetic (`lamport overflow`).
MAX_LAMPORTS = 2**64 - 1

# SPL Token instruction tags (spl-token's TokenInstruction).
_MINT_TO = 7
_SET_AUTHORITY = 6
_TRANSFER_CHECKED = 12
_INITIALIZE_MINT2 = 20
_AUTHORITY_MINT_TOKENS = 0
_ATA_CREATE_IDEMPOTENT = 1


def _meta(key: Pubkey, *, signer: bool = False, writable: bool = False) -> AccountMeta:
    return AccountMeta(pubkey=key, is_signer=signer, is_writable=writable)


def initialize_mint2(
    mint: Pubkey, decimals: int, mint_authority: Pubkey, freeze_authority: Pubkey | None = None
) -> Instruction:
    data = struct.pack("<BB", _INITIALIZE_MINT2, decimals) + bytes(mint_authority)
    data += b"\x01" + bytes(freeze_authority) if freeze_authority else b"\x00"
    return Instruction(TOKEN_PROGRAM, data, [_meta(mint, writable=True)])


def mint_to(mint: Pubkey, destination: Pubkey, authority: Pubkey, amount: int) -> Instruction:
    return Instruction(
        TOKEN_PROGRAM,
        struct.pack("<BQ", _MINT_TO, amount),
        [
            _meta(mint, writable=True),
            _meta(destination, writable=True),
            _meta(authority, signer=True),
        ],
    )


def revoke_mint_authority(mint: Pubkey, authority: Pubkey) -> Instruction:
    """SetAuthority(MintTokens, None): nobody can mint again."""
    return Instruction(
        TOKEN_PROGRAM,
        struct.pack("<BBB", _SET_AUTHORITY, _AUTHORITY_MINT_TOKENS, 0),
        [_meta(mint, writable=True), _meta(authority, signer=True)],
    )


def transfer_checked(
    source: Pubkey, mint: Pubkey, destination: Pubkey, owner: Pubkey, amount: int, decimals: int
) -> Instruction:
    return Instruction(
        TOKEN_PROGRAM,
        struct.pack("<BQB", _TRANSFER_CHECKED, amount, decimals),
        [
            _meta(source, writable=True),
            _meta(mint),
            _meta(destination, writable=True),
            _meta(owner, signer=True),
        ],
    )


def associated_token_address(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint)


def create_associated_token_account_idempotent(
    payer: Pubkey, owner: Pubkey, mint: Pubkey
) -> Instruction:
    return Instruction(
        ASSOCIATED_TOKEN_PROGRAM,
        bytes([_ATA_CREATE_IDEMPOTENT]),
        [
            _meta(payer, signer=True, writable=True),
            _meta(associated_token_address(owner, mint), writable=True),
            _meta(owner),
            _meta(mint),
            _meta(SYSTEM_PROGRAM),
            _meta(TOKEN_PROGRAM),
        ],
    )


def memo(text: str, signers: list[Pubkey] | None = None) -> Instruction:
    return Instruction(
        MEMO_PROGRAM, text.encode(), [_meta(key, signer=True) for key in (signers or [])]
    )


def pay(source: Pubkey, destination: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=source, to_pubkey=destination, lamports=lamports))


def escrow_address(base: Pubkey, seed: str) -> Pubkey:
    """A System-owned account only `base` can spend from (`create_with_seed`): where an
    offer's or a bid's lamports wait, one account each, visible on chain."""
    return Pubkey.create_with_seed(base, seed, SYSTEM_PROGRAM)


def pay_from_escrow(base: Pubkey, seed: str, destination: Pubkey, lamports: int) -> Instruction:
    return transfer_with_seed(
        TransferWithSeedParams(
            from_pubkey=escrow_address(base, seed),
            from_base=base,
            from_seed=seed,
            from_owner=SYSTEM_PROGRAM,
            to_pubkey=destination,
            lamports=lamports,
        )
    )


def mint_nft_instructions(
    payer: Pubkey, mint: Pubkey, owner: Pubkey, mint_rent: int
) -> list[Instruction]:
    """Create the mint (0 decimals), the owner's token account, mint exactly one token into
    it and revoke the mint authority: a supply of 1, forever. `payer` is the authority while
    it lasts; the mint keypair signs its own creation."""
    return [
        create_account(
            CreateAccountParams(
                from_pubkey=payer,
                to_pubkey=mint,
                lamports=mint_rent,
                space=MINT_SIZE,
                owner=TOKEN_PROGRAM,
            )
        ),
        initialize_mint2(mint, 0, payer),
        create_associated_token_account_idempotent(payer, owner, mint),
        mint_to(mint, associated_token_address(owner, mint), payer, 1),
        revoke_mint_authority(mint, payer),
    ]


@dataclass(frozen=True)
class TokenHolding:
    owner: Pubkey
    mint: Pubkey
    amount: int
    delegate: Pubkey | None


def parse_token_account(data: bytes) -> TokenHolding | None:
    if len(data) != TOKEN_ACCOUNT_SIZE:
        return None
    account = TokenAccount.from_bytes(data)
    return TokenHolding(account.owner, account.mint, account.amount, account.delegate)


def parse_mint(data: bytes) -> Mint | None:
    return Mint.from_bytes(data) if len(data) == MINT_SIZE else None
