"""`atelier ledger credit|debit|balance`: operator commands on the internal ledger (the
`ledger` voting strategy weighs votes by these balances at a proposal's snapshot)."""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.cli import fail, settings_or_exit, with_session
from atelier.core.clock import now_utc
from atelier.core.errors import AppError
from atelier.economy import distribution, money, months, service
from atelier.economy.distribution import Plan

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


def _minor(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units:,}.{cents:02d}"


def _month(label: str | None) -> date:
    if label is None:
        return months.previous(months.of(now_utc()))
    try:
        return months.parse(label)
    except AppError as exc:
        raise fail(exc.detail) from None


def print_plan(plan: Plan, *, dry_run: bool) -> None:
    """A month's split as tables: the pools, then each worker's share (every cent shown)."""
    state = "dry run: nothing posted" if dry_run else f"closed {plan.closed_at:%Y-%m-%d %H:%M} UTC"
    split = " / ".join(f"{bp / 100:g}" for bp in plan.split_bp)
    console.print(
        f"[bold]{plan.label}[/] ({state}): {plan.contributors} contributors, "
        f"{plan.units / 1000:,.1f} standard seconds; split {split} %"
    )
    if plan.note:
        console.print(plan.note)
    pools = Table("currency", "pool", "workers", "infrastructure", "development", "escrowed")
    for c in plan.currencies:
        pools.add_row(
            c.currency,
            *(_minor(x) for x in (c.pool, c.workers, c.infrastructure, c.development, c.escrowed)),
        )
    console.print(pools)
    for c in plan.currencies:
        if not c.lines:
            continue
        shares = Table(
            "worker", "units", c.currency, "state", title=f"workers' shares ({c.currency})"
        )
        for line in c.lines:
            shares.add_row(
                f"{line.name} ({line.worker_id.hex[:8]})",
                f"{line.units:,}",
                _minor(line.amount),
                line.hold or "payable",
            )
        console.print(shares)
        total = sum(line.amount for line in c.lines)
        console.print(f"sum of shares {_minor(total)} = workers' part {_minor(c.workers)}")
    if plan.digest:
        console.print(f"month digest (sha256 of its public postings CSV): {plan.digest}")


@economy_app.command("distribute")
def distribute(
    month: Annotated[
        str | None, typer.Argument(help="YYYY-MM (default: the month that just ended)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the split, post nothing")
    ] = False,
    early: Annotated[
        bool,
        typer.Option(
            "--early", help="Close the current month now (what arrives later counts next month)"
        ),
    ] = False,
) -> None:
    """Close MONTH: split its pool 75/15/10 (ATELIER_ECONOMY_SPLIT_BP) and the workers' part
    by contribution, exact to the cent; a closed month is shown, never posted twice."""
    chosen = _month(month)
    settings = settings_or_exit()
    plan = with_session(
        lambda session: distribution.distribute(
            session, settings, chosen, dry_run=dry_run, early=early
        )
    )
    print_plan(plan, dry_run=dry_run)
