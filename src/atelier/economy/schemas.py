"""The transparency routes' answers (amounts are integers in minor units: cents)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from atelier.core.schemas import Body

if TYPE_CHECKING:
    from atelier.economy.distribution import CurrencyPlan, WorkerLine
    from atelier.economy.earnings import Earnings
    from atelier.economy.models import PayoutAccount, Pledge
    from atelier.economy.transparency import MonthReport, MonthRow, Stats

SHARES_SHOWN = 50


class PoolOut(BaseModel):
    currency: str
    pool: int = Field(description="donations less refunds and earlier distributions")
    workers: int
    infrastructure: int
    development: int
    escrowed: int = Field(description="part of the workers' share held in escrow")

    @classmethod
    def of(cls, plan: CurrencyPlan) -> PoolOut:
        return cls(
            currency=plan.currency,
            pool=plan.pool,
            workers=plan.workers,
            infrastructure=plan.infrastructure,
            development=plan.development,
            escrowed=plan.escrowed,
        )


class ShareOut(BaseModel):
    worker_id: uuid.UUID
    worker_name: str
    currency: str
    units: int = Field(description="work units: thousandths of a standard second")
    amount: int
    state: str = Field(description="payable, or escrow (new or held workers)")

    @classmethod
    def of(cls, currency: str, line: WorkerLine) -> ShareOut:
        return cls(
            worker_id=line.worker_id,
            worker_name=line.name,
            currency=currency,
            units=line.units,
            amount=line.amount,
            state="escrow" if line.escrowed else "payable",
        )


class MonthOut(BaseModel):
    month: str
    state: str = Field(description="closed (distributed, final) or open (as it stands now)")
    closed_at: datetime | None
    digest: str | None = Field(
        description="sha256 of the month's postings CSV as published (closed months)"
    )
    split_bp: list[int] = Field(description="workers, infrastructure, development")
    contributors: int
    units: int
    note: str
    donations: dict[str, dict[str, int]] = Field(description="currency → source → amount")
    pools: list[PoolOut]
    shares: list[ShareOut] = Field(description=f"the {SHARES_SHOWN} largest; all in the CSV")
    shares_total: int
    postings_csv: str
    shares_csv: str | None

    @classmethod
    def of(cls, report: MonthReport, base: str) -> MonthOut:
        plan = report.plan
        lines = sorted(
            ((c.currency, line) for c in plan.currencies for line in c.lines),
            key=lambda cl: (cl[0], -cl[1].amount, -cl[1].units, cl[1].worker_id.hex),
        )
        return cls(
            month=plan.label,
            state="closed" if report.closed else "open",
            closed_at=plan.closed_at,
            digest=plan.digest,
            split_bp=list(plan.split_bp),
            contributors=plan.contributors,
            units=plan.units,
            note=plan.note,
            donations=report.donations,
            pools=[PoolOut.of(c) for c in plan.currencies],
            shares=[ShareOut.of(currency, line) for currency, line in lines[:SHARES_SHOWN]],
            shares_total=len(lines),
            postings_csv=f"{base}/month/{plan.label}/postings.csv",
            shares_csv=f"{base}/month/{plan.label}/shares.csv" if report.closed else None,
        )


class MonthSummaryOut(BaseModel):
    month: str
    closed: bool
    donations: dict[str, dict[str, int]]
    pools: list[PoolOut]

    @classmethod
    def of(cls, row: MonthRow) -> MonthSummaryOut:
        return cls(
            month=f"{row.month.year:04d}-{row.month.month:02d}",
            closed=row.closed,
            donations=row.donations,
            pools=[PoolOut.of(c) for c in row.pools],
        )


class MonthsOut(BaseModel):
    closed: list[str] = Field(description="every closed month, newest first")
    recent: list[MonthSummaryOut] = Field(description="the last 12 months, oldest first")


class StatsOut(BaseModel):
    donated: dict[str, int] = Field(description="currency → donations less refunds, ever")
    by_source: dict[str, dict[str, int]]
    distributed: dict[str, dict[str, int]] = Field(description="currency → part → amount")
    escrowed: dict[str, int]
    paid: dict[str, dict[str, int]] = Field(description="payout state → currency → amount")
    months_closed: int
    workers: int

    @classmethod
    def of(cls, stats: Stats) -> StatsOut:
        return cls(
            donated=stats.donated,
            by_source=stats.by_source,
            distributed=stats.distributed,
            escrowed=stats.escrowed,
            paid=stats.paid,
            months_closed=stats.months_closed,
            workers=stats.workers,
        )


class MonthEarningsOut(BaseModel):
    month: str
    currency: str
    shares: int
    escrowed: int
    payouts: dict[str, int] = Field(description="payout state → amount")


class EarningsOut(BaseModel):
    months: list[MonthEarningsOut]
    held: dict[str, int] = Field(description="currency → held in escrow now")
    holds: dict[str, str] = Field(description="worker name → why its share is held")
    projected: dict[str, int] = Field(description="currency → this month's projected shares")

    @classmethod
    def of(cls, earnings: Earnings) -> EarningsOut:
        return cls(
            months=[
                MonthEarningsOut(
                    month=f"{m.month.year:04d}-{m.month.month:02d}",
                    currency=m.currency,
                    shares=m.shares,
                    escrowed=m.escrowed,
                    payouts=m.payouts,
                )
                for m in earnings.months
            ],
            held=earnings.held,
            holds=earnings.holds,
            projected=earnings.projected,
        )


class DonateIn(Body):
    amount: int = Field(gt=0, le=10**11, description="minor units (cents)")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    message: str = Field(default="", max_length=500)


class PledgeOut(BaseModel):
    id: uuid.UUID
    amount: int
    currency: str
    message: str
    state: str = Field(description="pledged until a provider's payment names it: confirmed")
    created_at: datetime
    confirmed_at: datetime | None
    pay_with: dict[str, str] = Field(description="how a provider's payment names this pledge")

    @classmethod
    def of(cls, pledge: Pledge) -> PledgeOut:
        return cls(
            id=pledge.id,
            amount=pledge.amount,
            currency=pledge.currency,
            message=pledge.message,
            state=pledge.state,
            created_at=pledge.created_at,
            confirmed_at=pledge.confirmed_at,
            pay_with={
                "stripe": f"a PaymentIntent with metadata[pledge_id]={pledge.id}",
                "paypal": f"an order whose purchase unit has custom_id={pledge.id}",
            },
        )


class PayoutAccountIn(Body):
    provider: str = Field(default="stripe-connect", description="stripe-connect")
    destination: str = Field(max_length=100, description="the connected account (acct_…)")


class PayoutAccountOut(BaseModel):
    provider: str
    destination: str
    updated_at: datetime

    @classmethod
    def of(cls, account: PayoutAccount) -> PayoutAccountOut:
        return cls(
            provider=account.provider,
            destination=account.destination,
            updated_at=account.updated_at,
        )
