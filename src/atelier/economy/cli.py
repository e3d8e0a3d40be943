"""`atelier ledger credit|debit|balance`: operator commands on the internal ledger (the
`ledger` voting strategy weighs votes by these balances at a proposal's snapshot)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.cli import fail, with_session
from atelier.economy import money, service

console = Console()
ledger_app = typer.Typer(
    help="The internal ledger (operator commands, run on the server).", no_args_is_help=True
)

Amount = Annotated[int, typer.Argument(min=1, help="Integer base units")]
Memo = Annotated[str, typer.Option(help="Why (kept with the entry)")]


def _wallet(address: str) -> str:
    from web3 import Web3

    try:
        return str(Web3.to_checksum_address(address))
    except ValueError:
        raise fail(f"{address!r} is not an EVM address (0x + 40 hex)") from None


def _post(wallet: str, amount: int, memo: str) -> None:
    address = _wallet(wallet)

    async def post(session: AsyncSession) -> int:
        await service.post_entry(session, address, amount, memo)
        return await service.balance_at(session, address)

    console.print(f"{address}: balance {with_session(post)}")


@ledger_app.command("credit")
def credit(wallet: str, amount: Amount, memo: Memo = "credit") -> None:
    """Add AMOUNT to WALLET."""
    _post(wallet, amount, memo)


@ledger_app.command("debit")
def debit(wallet: str, amount: Amount, memo: Memo = "debit") -> None:
    """Take AMOUNT from WALLET (never below zero)."""
    _post(wallet, -amount, memo)


@ledger_app.command("balance")
def balance(wallet: str) -> None:
    """WALLET's balance now."""
    address = _wallet(wallet)
    console.print(f"{address}: balance {with_session(lambda s: service.balance_at(s, address))}")


economy_app = typer.Typer(
    help="The money ledger: donations, splits and payouts in cents (operator commands).",
    no_args_is_help=True,
)


@economy_app.command("journal")
def journal() -> None:
    """The whole money ledger as a beancount file on stdout (`bean-check` accepts it)."""
    sys.stdout.write(with_session(money.journal))


@economy_app.command("postings")
def postings() -> None:
    """Every posting as CSV on stdout (amounts in minor units)."""
    sys.stdout.write(with_session(money.postings_csv))


@economy_app.command("balances")
def balances() -> None:
    """Each account's balance per currency, from its postings."""
    for (account, currency), amount in sorted(with_session(money.balances).items()):
        console.print(f"{account:50} {amount / 100:>14.2f} {currency}")
