"""The public transparency page (OBSIDIAN's dashboard) and a contributor's own earnings.

Charts are SVG drawn here on the server (no script, no CDN): donations by source and the
split per month over the last twelve months, and the chosen month's top contributors by
their workers' public names. Every figure is also in a table, and in the CSV files the
page links to; a closed month shows the digest its postings were published with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from atelier.core.clock import now_utc
from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.economy import earnings, months, payouts, transparency
from atelier.economy.distribution import PARTS
from atelier.economy.money import decimal
from atelier.economy.schemas import PayoutAccountIn
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.web.frame import NavItem, add_templates, check_csrf, field_errors, redirect, render

add_templates(
    Path(__file__).parent / "templates",
    nav=(
        NavItem("Transparency", "/transparency"),
        NavItem("Earnings", "/dashboard/earnings", "members"),
    ),
)

router = APIRouter(include_in_schema=False)
TOP_SHOWN = 10
CHART_H = 60.0
BAR_W = 8.0
SLOT_W = 10.0


def money(amount: int, currency: str = "") -> str:
    """Minor units as a decimal amount, exactly ("-1,234.05 USD")."""
    return decimal(amount, currency, grouping=True)


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    width: float
    segments: list[Segment]
    series: list[str]
    columns: list[tuple[float, str]]  # (x of the label's centre, label)
    rows: list[tuple[str, list[str]]]  # the same figures as a table


def stacked(
    key: str, title: str, currency: str, columns: list[tuple[str, dict[str, int]]]
) -> Chart:
    """A stacked bar per column (a month), one segment per series (a source, a part)."""
    series = sorted({name for _, values in columns for name, v in values.items() if v > 0})
    if set(series) <= set(PARTS):
        series = [p for p in PARTS if p in series]
    tallest = max([sum(max(v, 0) for v in values.values()) for _, values in columns] + [1])
    segments = []
    for i, (label, values) in enumerate(columns):
        top = CHART_H
        for s, name in enumerate(series):
            amount = max(values.get(name, 0), 0)
            if amount == 0:
                continue
            height = CHART_H * amount / tallest
            top -= height
            segments.append(
                Segment(
                    i * SLOT_W + 1,
                    round(top, 3),
                    BAR_W,
                    round(height, 3),
                    s,
                    f"{label} {name}: {money(amount, currency)}",
                )
            )
    return Chart(
        key=key,
        title=title,
        width=len(columns) * SLOT_W,
        segments=segments,
        series=series,
        columns=[(i * SLOT_W + SLOT_W / 2, label[2:]) for i, (label, _) in enumerate(columns)],
        rows=[
            (label, [money(values.get(name, 0)) for name in series]) for label, values in columns
        ],
    )


def _charts(recent: list[transparency.MonthRow]) -> list[Chart]:
    currencies = sorted({c for row in recent for c in row.donations} | {"USD"})[:3]
    charts = []
    for currency in currencies:
        donated = [(months.label(r.month), r.donations.get(currency, {})) for r in recent]
        charts.append(
            stacked(
                f"donations-{currency}",
                f"Donations by source, {currency}",
                currency,
                donated,
            )
        )
        split = [
            (
                months.label(r.month),
                {
                    part: amount
                    for c in r.pools
                    if c.currency == currency
                    for part, amount in zip(
                        PARTS, (c.workers, c.infrastructure, c.development), strict=True
                    )
                },
            )
            for r in recent
        ]
        charts.append(
            stacked(f"split-{currency}", f"Distributed per month, {currency}", currency, split)
        )
    return charts


@router.get("/transparency")
async def transparency_page(
    request: Request, principal: PagePrincipal, month: str | None = None
) -> Response:
    runtime = runtime_of(request)
    errors: dict[str, str] = {}
    chosen = months.of(now_utc())
    if month:
        try:
            chosen = months.parse(month)
        except AppError as exc:
            errors["month"] = exc.detail
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
    try:
        async with unit_of_work(runtime) as session:
            report = await transparency.month_report(session, runtime.settings, chosen)
    except AppError as exc:
        errors["month"] = exc.detail
        async with unit_of_work(runtime) as session:
            report = await transparency.current(session, runtime.settings)
    async with unit_of_work(runtime) as session:
        recent = await transparency.chart_months(session)
        closed = await transparency.closed_months(session)
        stats = await transparency.stats(session)
    choices = sorted(
        {months.label(r.month) for r in recent} | {p.label for p in closed}, reverse=True
    )
    top = [
        (c.currency, line)
        for c in report.plan.currencies
        for line in sorted(c.lines, key=lambda line: (-line.amount, -line.units))[:TOP_SHOWN]
    ]
    widest = max([line.amount for _, line in top] + [1])
    return render(
        request,
        "economy/transparency.html",
        who=visitor,
        status_code=422 if errors else 200,
        errors=errors,
        report=report,
        plan=report.plan,
        charts=_charts(recent),
        chart_h=CHART_H,
        top=top,
        widest=widest,
        stats=stats,
        choices=choices,
        chosen=report.plan.label,
        money=money,
        base=f"/api/v1/transparency/month/{report.plan.label}",
    )


async def _earnings(
    request: Request,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
        mine = await earnings.of_owner(session, runtime.settings, principal.user_id)
        account = await payouts.account_of(session, principal.user_id)
    return render(
        request,
        "economy/earnings.html",
        who=visitor,
        status_code=status_code,
        earnings=mine,
        account=account,
        errors=errors or {},
        values=values or {"destination": account.destination if account else ""},
        saved=saved,
        money=money,
    )


@router.get("/dashboard/earnings")
async def earnings_page(request: Request, principal: PagePrincipal) -> Response:
    """What the caller's workers earned, month by month: shares, escrow, payouts."""
    if principal is None:
        return redirect(request, "/sign-in")
    return await _earnings(request, principal)


@router.post("/dashboard/earnings/payout-account", dependencies=[Depends(check_csrf)])
async def set_payout_account(
    request: Request,
    principal: PagePrincipal,
    destination: Annotated[str, Form()] = "",
) -> Response:
    """Where the caller is paid (the API's PUT /api/v1/user/payout-account)."""
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        body = PayoutAccountIn.from_form({"destination": destination})
        async with unit_of_work(runtime_of(request)) as session:
            await payouts.set_account(session, principal.user_id, body.provider, body.destination)
    except (ValidationError, AppError) as exc:
        return await _earnings(
            request,
            principal,
            errors=field_errors(exc),
            values={"destination": destination},
            status_code=422,
        )
    return await _earnings(request, principal, saved=True)
