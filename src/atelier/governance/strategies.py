"""Voting power at a proposal's snapshot, per strategy.

- `one-wallet-one-vote`: every signer weighs 1 (Snapshot's "ticket"); any fresh key is a
  vote, so it suits only proposals where that does not matter.
- `verified-wallets`: 1 for a wallet linked to an active account with a verified email, else
  0 (a job's proposal by default: fresh keys are no votes). On chain such a proposal takes
  only the platform's relays (`createRelayedProposal`).
- `erc20`: the token's checkpointed votes at the snapshot block (`getPastVotes`), falling back
  to `balanceOf` read at that block for tokens without checkpoints (needs an archive node).
  Tokens bought after the snapshot weigh nothing: no flash-loan voting. Delegation
  is honoured as the token records it (SoulvanCoin counts undelegated balances for their
  holder).
- `ledger`: the internal ledger balance at the snapshot time.
- `quadratic`: the square root of a base strategy's power (`base`: erc20 or ledger).
- `spl`: a Solana wallet's balance of an SPL token (`mint`) at the slot the proposal was
  made, read from the chain then (governance_spl_balances): AiNFT's DAO. Its votes are
  signed by Solana wallets (ballots.solana_message).
"""

from __future__ import annotations

import contextlib
from decimal import ROUND_DOWN, Decimal, localcontext

from sqlalchemy.ext.asyncio import AsyncSession
from web3 import Web3

from atelier.chain.evm.client import EvmChain
from atelier.chain.evm.contracts import token_contract
from atelier.economy import service as ledger
from atelier.governance import repository as repo
from atelier.governance.models import Terms
from atelier.identity.service import wallets


def _erc20_power(chain: EvmChain, token: str, voter: str, block: int) -> int:
    """Checkpointed votes at `block`: `getPastVotes` once the chain is past it, else the
    current `getVotes` read at that block; `balanceOf` at the block for plain ERC20s."""
    contract = token_contract(chain.w3, Web3.to_checksum_address(token))
    if chain.w3.eth.block_number > block:
        with contextlib.suppress(Exception):  # any revert: not an IVotes token
            return int(contract.functions.getPastVotes(voter, block).call())
    with contextlib.suppress(Exception):
        return int(contract.functions.getVotes(voter).call(block_identifier=block))
    return int(contract.functions.balanceOf(voter).call(block_identifier=block))


async def _base_power(
    session: AsyncSession, chain: EvmChain | None, proposal: Terms, strategy: str, voter: str
) -> Decimal:
    if strategy == "one-wallet-one-vote":
        return Decimal(1)
    if strategy == "verified-wallets":
        owner = await wallets.verified_owner(session, "evm", voter)
        return Decimal(1 if owner is not None else 0)
    if strategy == "ledger":
        return Decimal(await ledger.balance_at(session, voter, proposal.snapshot_at))
    if strategy == "spl":
        return await repo.spl_power(session, proposal.id, voter)
    if strategy == "erc20":
        if chain is None or proposal.snapshot_block is None:
            raise RuntimeError("an erc20 proposal needs a chain and a snapshot block")
        token = str(proposal.strategy_params.get("token") or chain.deployment.token)
        block = proposal.snapshot_block
        return Decimal(await chain.run(lambda c: _erc20_power(c, token, voter, block)))
    raise ValueError(f"unknown strategy {strategy!r}")


async def voting_power(
    session: AsyncSession, chain: EvmChain | None, proposal: Terms, voter: str
) -> Decimal:
    """Power as of the snapshot, which no later write can change; only the `ledger` and
    `verified-wallets` strategies read the database (through `session`), so the common
    strategies leave the caller's session unused (no transaction begins)."""
    if proposal.strategy == "quadratic":
        base = str(proposal.strategy_params.get("base", "erc20"))
        power = await _base_power(session, chain, proposal, base, voter)
        with localcontext() as ctx:
            ctx.prec = 40
            return (
                power.sqrt().quantize(Decimal("0.000001"), ROUND_DOWN) if power > 0 else Decimal(0)
            )
    return await _base_power(session, chain, proposal, proposal.strategy, voter)
