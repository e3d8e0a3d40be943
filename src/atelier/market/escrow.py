"""The market's Solana transactions, as instruction lists (pure: no I/O).

No market program can run here (there is no SBF toolchain offline, and LiteSVM runs only the
programs it ships), so the market is a custodial escrow, in the open on chain:

- a listed NFT waits in the market authority's associated token account for its mint;
- an offer's or a bid's lamports wait in their own System account derived from the market
  authority and the offer's or bid's id (`create_with_seed`), which only it can spend;
- every sale is ONE transaction holding every transfer: the NFT out of escrow to the buyer
  and each payout (reserve, sponsor, creators, seller). It lands whole or not at all, and a
  second sale of the same NFT cannot land: the escrow account no longer holds it.

A purchase is signed by the buyer (who pays, and pays the fee) and by the market authority
(which releases the NFT); the platform signs last only what it built itself, so a buyer
cannot change an amount or a recipient without invalidating the authority's signature.
"""

from __future__ import annotations

import uuid

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from atelier.chain.solana import programs
from atelier.market.settlement import Split


def escrow_seed(record_id: uuid.UUID) -> str:
    """The seed of an offer's or a bid's escrow account (32 characters, the most allowed)."""
    return record_id.hex


def _payouts_from(payer: Pubkey, split: Split) -> list[Instruction]:
    return [
        programs.pay(payer, Pubkey.from_string(address), lamports)
        for address, lamports in split.transfers()
    ]


def _payouts_from_escrow(market: Pubkey, seed: str, split: Split) -> list[Instruction]:
    return [
        programs.pay_from_escrow(market, seed, Pubkey.from_string(address), lamports)
        for address, lamports in split.transfers()
    ]


def _release(market: Pubkey, mint: Pubkey, to: Pubkey, payer: Pubkey) -> list[Instruction]:
    """The NFT out of the market's escrow token account into `to`'s own."""
    return [
        programs.create_associated_token_account_idempotent(payer, to, mint),
        programs.transfer_checked(
            programs.associated_token_address(market, mint),
            mint,
            programs.associated_token_address(to, mint),
            market,
            1,
            0,
        ),
    ]


def deposit_nft(seller: Pubkey, market: Pubkey, mint: Pubkey, memo: str) -> list[Instruction]:
    """Listing: the seller moves the NFT into the market's escrow (paying its account)."""
    return [
        programs.create_associated_token_account_idempotent(seller, market, mint),
        programs.transfer_checked(
            programs.associated_token_address(seller, mint),
            mint,
            programs.associated_token_address(market, mint),
            seller,
            1,
            0,
        ),
        programs.memo(memo),
    ]


def return_nft(market: Pubkey, mint: Pubkey, seller: Pubkey, memo: str) -> list[Instruction]:
    """Cancel, or an auction with no bid: the NFT goes back (the market pays)."""
    return [*_release(market, mint, seller, market), programs.memo(memo)]


def purchase(
    buyer: Pubkey, market: Pubkey, mint: Pubkey, split: Split, memo: str
) -> list[Instruction]:
    """A fixed-price or Dutch sale: the buyer pays every payout, the NFT is released to them."""
    return [
        *_payouts_from(buyer, split),
        *_release(market, mint, buyer, buyer),
        programs.memo(memo),
    ]


def deposit_lamports(
    payer: Pubkey, market: Pubkey, seed: str, lamports: int, memo: str
) -> list[Instruction]:
    """A bid or an offer: its lamports into their own escrow account."""
    return [
        programs.pay(payer, programs.escrow_address(market, seed), lamports),
        programs.memo(memo),
    ]


def refund(market: Pubkey, seed: str, to: Pubkey, lamports: int, memo: str) -> list[Instruction]:
    return [programs.pay_from_escrow(market, seed, to, lamports), programs.memo(memo)]


def settle_auction(
    market: Pubkey, seed: str, mint: Pubkey, winner: Pubkey, split: Split, memo: str
) -> list[Instruction]:
    """The winning bid's escrow pays every payout; the NFT is released to the winner."""
    return [
        *_payouts_from_escrow(market, seed, split),
        *_release(market, mint, winner, market),
        programs.memo(memo),
    ]


def accept_offer(
    seller: Pubkey,
    market: Pubkey,
    seed: str,
    mint: Pubkey,
    buyer: Pubkey,
    split: Split,
    memo: str,
) -> list[Instruction]:
    """The seller hands the NFT to the buyer; the offer's escrow pays every payout."""
    return [
        programs.create_associated_token_account_idempotent(seller, buyer, mint),
        programs.transfer_checked(
            programs.associated_token_address(seller, mint),
            mint,
            programs.associated_token_address(buyer, mint),
            seller,
            1,
            0,
        ),
        *_payouts_from_escrow(market, seed, split),
        programs.memo(memo),
    ]
