"""`atelier ledger credit|debit|balance`: operator commands on the internal ledger (the
`ledger` voting strategy weighs votes by these balances at a proposal's snapshot)."""

from __future__ import annotations

import csv
import io
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.cli import err, fail, settings_or_exit, with_session
from atelier.core.clock import now_utc
from atelier.core.errors import AppError
from atelier.economy import (
    contributions,
    distribution,
    donations,
    money,
    months,
    payouts,
    service,
    transparency,
)
from atelier.economy.distribution import Plan
from atelier.economy.models import PayoutState

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
    return money.decimal(amount, grouping=True)


def _month(label: str | None) -> date:
    if label is None:
        return months.previous(months.of(now_utc()))
    try:
        return months.parse(label)
    except AppError as exc:
        raise fail(exc.detail) from None


def print_plan(plan: Plan, *, dry_run: bool) -> None:
    """A month's split as tables: the pools, then each worker's share (every cent shown)."""
    state = (
        f"closed {plan.closed_at:%Y-%m-%d %H:%M} UTC"
        if plan.closed_at
        else "dry run: nothing posted"
        if dry_run
        else "open"
    )
    split = " / ".join(f"{bp / 100:g}" for bp in plan.split_bp)
    console.print(
        f"[bold]{plan.label}[/] ({state}): {plan.contributors} "
        f"contributor{'s' if plan.contributors != 1 else ''}, "
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


payouts_app = typer.Typer(
    help="Payouts to contributors: list, export for paying by hand, send, mark.",
    no_args_is_help=True,
)
economy_app.add_typer(payouts_app, name="payouts")
MonthOption = Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: all)")]
StateOption = Annotated[
    str | None, typer.Option("--state", help="pending, sent, confirmed or failed")
]


def _id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise fail(f"{value[:40]!r} is not a {what} id") from None


def _optional_month(label: str | None) -> date | None:
    return _month(label) if label else None


def _state(value: str | None) -> str | None:
    if value is not None and value not in tuple(PayoutState):
        raise fail(f"{value!r} is not a payout state ({', '.join(PayoutState)})")
    return value


@payouts_app.command("list")
def payouts_list(month: MonthOption = None, state: StateOption = None) -> None:
    """Payouts with their state (amounts in the currency's units)."""
    chosen, wanted = _optional_month(month), _state(state)
    rows = with_session(lambda session: payouts.listed(session, chosen, wanted))
    table = Table("payout", "month", "worker", "amount", "state", "reference / error")
    for p in rows:
        table.add_row(
            str(p.id),
            months.label(p.month),
            p.worker_id.hex[:8],
            f"{_minor(p.amount)} {p.currency}",
            p.state,
            p.error or p.reference or "",
        )
    console.print(table)


@payouts_app.command("export")
def payouts_export(month: MonthOption = None, state: StateOption = "pending") -> None:
    """Payouts as CSV on stdout, with each contributor's destination (pay by hand, then
    `atelier economy payouts mark ID sent --reference R`)."""
    chosen, wanted = _optional_month(month), _state(state)
    sys.stdout.write(with_session(lambda session: payouts.export_csv(session, chosen, wanted)))


@payouts_app.command("send")
def payouts_send(month: MonthOption = None) -> None:
    """Send pending payouts by Stripe Connect transfers now (the task worker does it every
    10 minutes); needs ATELIER_STRIPE_API_KEY."""
    import asyncio

    from atelier.core.startup import close_runtime, open_runtime
    from atelier.economy import scheduled, stripe_connect

    settings = settings_or_exit()
    chosen = _optional_month(month)

    async def run() -> scheduled.SendReport:
        runtime = await open_runtime(settings)
        try:
            provider = stripe_connect.provider_for(runtime)
            if provider is None:
                raise fail("payouts are sent through Stripe Connect: set ATELIER_STRIPE_API_KEY")
            return await scheduled.send_payouts(runtime, provider, chosen)
        finally:
            await close_runtime(runtime)

    report = asyncio.run(run())
    console.print(f"sent {report.sent}, failed {report.failed}, left pending {report.left}")


@payouts_app.command("mark")
def payouts_mark(
    payout_id: Annotated[str, typer.Argument(help="The payout's id")],
    state: Annotated[str, typer.Argument(help="sent, confirmed or failed")],
    reference: Annotated[str, typer.Option(help="The bank's or provider's reference")] = "",
    reason: Annotated[str, typer.Option(help="Why it failed")] = "",
) -> None:
    """Record a payout paid by hand: sent (posts its money out), confirmed, or failed."""
    chosen = _id(payout_id, "payout")

    async def mark(session: AsyncSession) -> str:
        if state == "sent":
            done = await payouts.mark_sent(session, chosen, "manual", reference or "by hand")
        elif state == "confirmed":
            done = await payouts.mark_confirmed(session, chosen)
        elif state == "failed":
            done = await payouts.mark_failed(session, chosen, reason or "failed")
        else:
            raise fail(f"{state!r}: mark a payout sent, confirmed or failed")
        return f"{done.id}: {done.state}"

    console.print(with_session(mark))


@payouts_app.command("retry")
def payouts_retry(payout_id: Annotated[str, typer.Argument(help="The payout's id")]) -> None:
    """A failed payout back to pending (after its contributor fixed their account)."""
    chosen = _id(payout_id, "payout")
    done = with_session(lambda session: payouts.retry(session, chosen))
    console.print(f"{done.id}: {done.state}")


workers_app = typer.Typer(
    help="What the economy knows of each worker: work this month, canaries, holds.",
    invoke_without_command=True,
)
economy_app.add_typer(workers_app, name="workers")


@workers_app.callback()
def workers_list(ctx: typer.Context) -> None:
    """Every worker: work units this open month, canaries passed and failed, and why its
    share would be held (escrow for new workers, a failed canary)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_or_exit()
    rows = with_session(lambda session: contributions.stats(session, settings))
    table = Table("worker", "first seen", "units this month", "canaries", "share")
    for row in rows:
        w = row.worker
        table.add_row(
            f"{w.name} ({w.worker_id})",
            f"{w.first_seen_at:%Y-%m-%d}",
            f"{row.units:,}",
            f"{w.canaries_passed} passed, {w.canaries_failed} failed",
            row.hold or "paid",
        )
    console.print(table)


@workers_app.command("clear")
def workers_clear(worker_id: Annotated[str, typer.Argument(help="The worker's id")]) -> None:
    """Clear the hold a failed canary put on a worker's share (after looking into it)."""
    chosen = _id(worker_id, "worker")
    worker = with_session(lambda session: contributions.clear_hold(session, chosen))
    console.print(f"{worker.name}: hold cleared")


donation_app = typer.Typer(
    help="Donations that came outside the webhooks (bank transfers, cash, other platforms).",
    no_args_is_help=True,
)
economy_app.add_typer(donation_app, name="donation")
MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000
IMPORT_COLUMNS = ("date", "amount", "currency", "source", "reference")


@donation_app.command("add")
def donation_add(
    amount: Annotated[str, typer.Argument(help="e.g. 25.00")],
    reference: Annotated[str, typer.Option(help="Your reference for it (it is recorded once)")],
    currency: Annotated[str, typer.Option(help="Three letters")] = "USD",
    source: Annotated[str, typer.Option(help="Where it came from: Bank, Cash, …")] = "Bank",
    on: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: now)")] = None,
) -> None:
    """Record one donation in the money ledger (a month already closed: it counts in the
    first open month)."""
    try:
        donation = donations.manual_donation(amount, currency, source, reference, on)
    except AppError as exc:
        raise fail(exc.detail) from None
    outcome = with_session(lambda session: donations.record_manual(session, donation))
    console.print(f"{reference}: {outcome}")


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a donations file, or a clear refusal (too big, not UTF-8 text, NUL
    bytes, not CSV, the wrong columns, too many rows)."""
    if not path.is_file():
        raise fail(f"{path} is not a file")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise fail(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MiB")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise fail(f"{path} is not UTF-8 text") from None
    if "\x00" in text:
        raise fail(f"{path} holds NUL bytes: not a CSV file")
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise fail(f"{path} is not a CSV file the importer reads: {exc}") from None
    if not rows or set(IMPORT_COLUMNS) - set(rows[0]):
        raise fail(f"the first line names the columns: {','.join(IMPORT_COLUMNS)}")
    if len(rows) > MAX_IMPORT_ROWS:
        raise fail(f"at most {MAX_IMPORT_ROWS} donations per file")
    return rows


@donation_app.command("import")
def donation_import(
    path: Annotated[Path, typer.Argument(help="CSV: date,amount,currency,source,reference")],
) -> None:
    """Record donations from a CSV file, all or none: every line is checked first (each
    problem reported with its line), then all are posted in one transaction; a reference
    already recorded is skipped, so importing the same file twice changes nothing."""
    checked, problems = [], []
    for line, row in enumerate(_csv_rows(path), start=2):
        try:
            checked.append(
                donations.manual_donation(
                    row["amount"] or "",
                    row["currency"] or "",
                    row["source"] or "",
                    row["reference"] or "",
                    row["date"] or None,
                )
            )
        except AppError as exc:
            problems.append(f"line {line}: {exc.detail}")
    if problems:
        for problem in problems[:20]:
            err.print(f"[red]error:[/] {problem}")
        raise fail(f"{len(problems)} line(s) refused; nothing was recorded")

    async def post(session: AsyncSession) -> list[str]:
        return [await donations.record_manual(session, d) for d in checked]

    outcomes = with_session(post)
    console.print(
        f"{outcomes.count('applied')} recorded, {outcomes.count('duplicate')} already recorded"
    )


@economy_app.command("report")
def report(
    month: Annotated[str | None, typer.Argument(help="YYYY-MM (default: this month)")] = None,
) -> None:
    """A month's report: donations by source, the split (projected while it is open), every
    worker's share, and its digest once closed."""
    chosen = _month(month) if month else months.of(now_utc())
    settings = settings_or_exit()
    found = with_session(lambda session: transparency.month_report(session, settings, chosen))
    table = Table("source", "donated", title=f"donations dated in {found.plan.label}")
    for currency, sources in found.donations.items():
        for source, amount in sources.items():
            table.add_row(source, f"{_minor(amount)} {currency}")
    console.print(table)
    print_plan(found.plan, dry_run=False)
