"""Providers' webhooks (OBSIDIAN's `/webhooks/*`): verified on the raw bytes, then stored
and applied in one transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import date
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import InvalidInput, ServiceUnavailable
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.economy import donations, earnings, months, payouts, paypal, transparency
from atelier.economy.distribution import Plan
from atelier.economy.schemas import (
    DonateIn,
    EarningsOut,
    MonthOut,
    MonthsOut,
    MonthSummaryOut,
    PayoutAccountIn,
    PayoutAccountOut,
    PledgeOut,
    StatsOut,
)
from atelier.economy.signatures import (
    check_github,
    check_paypal,
    check_paypal_cert_url,
    check_stripe,
)
from atelier.identity.deps import CurrentPrincipal, SessionPrincipal, limit_writes

router = APIRouter(tags=["donations"])
T = TypeVar("T")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", slug="invalid-json") from None
    if not isinstance(event, dict):
        raise InvalidInput("the body is not an event object", slug="malformed-event")
    return event


@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request) -> dict[str, Any]:
    """Stripe's events (`Stripe-Signature`): `payment_intent.succeeded` records a donation,
    `charge.refunded` its refund. 401 for a bad or stale signature, 422 for an event Atelier
    does not handle; a redelivery answers 200 `duplicate` and posts nothing."""
    runtime = runtime_of(request)
    secret = runtime.settings.stripe_webhook_secret
    if secret is None:
        raise ServiceUnavailable(
            "Stripe webhooks are not configured (ATELIER_STRIPE_WEBHOOK_SECRET)",
            slug="webhooks-not-configured",
        )
    body = await request.body()  # capped by the middleware before it gets here
    check_stripe(
        secret.get_secret_value(),
        request.headers.get("stripe-signature"),
        body,
        time.time(),
        runtime.settings.webhook_tolerance_s,
    )
    event = _json_object(body)
    async with unit_of_work(runtime) as session:
        outcome = await donations.record_stripe_event(session, event)
    return {"received": True, "outcome": outcome}


@router.post("/webhooks/paypal")
async def paypal_webhook(request: Request) -> dict[str, Any]:
    """PayPal's events (transmission signature under PayPal's certificate): a completed
    capture is a donation, a refund or reversal posts it back. 401 for a bad, stale or
    foreign-certificate signature, 422 for an event Atelier does not handle, 503 while
    PayPal's certificate cannot be fetched; a redelivery answers `duplicate`."""
    runtime = runtime_of(request)
    webhook_id = runtime.settings.paypal_webhook_id
    if webhook_id is None:
        raise ServiceUnavailable(
            "PayPal webhooks are not configured (ATELIER_PAYPAL_WEBHOOK_ID)",
            slug="webhooks-not-configured",
        )
    body = await request.body()
    url = check_paypal_cert_url(request.headers.get("paypal-cert-url"))
    pem = await paypal.certificate(runtime, url)
    check_paypal(
        pem,
        request.headers,
        body,
        webhook_id,
        now_utc(),
        runtime.settings.webhook_tolerance_s,
    )
    event = _json_object(body)
    async with unit_of_work(runtime) as session:
        outcome = await donations.record_paypal_event(session, event)
    return {"received": True, "outcome": outcome}


@router.post("/webhooks/github-sponsors")
async def github_sponsors_webhook(request: Request) -> dict[str, Any]:
    """GitHub Sponsors' `sponsorship` events (`X-Hub-Signature-256`): a new sponsorship is a
    donation of its tier's price; other actions are kept. 401 for a bad signature, 422 for
    another event or action; a redelivery (same `X-GitHub-Delivery`) answers `duplicate`."""
    runtime = runtime_of(request)
    secret = runtime.settings.github_sponsors_webhook_secret
    if secret is None:
        raise ServiceUnavailable(
            "GitHub Sponsors webhooks are not configured (ATELIER_GITHUB_SPONSORS_WEBHOOK_SECRET)",
            slug="webhooks-not-configured",
        )
    body = await request.body()
    check_github(secret.get_secret_value(), request.headers.get("x-hub-signature-256"), body)
    kind = request.headers.get("x-github-event", "")
    if kind == "ping":
        return {"received": True, "outcome": "pong"}
    if kind != "sponsorship":
        raise InvalidInput(f"Atelier does not handle {kind!r} events", slug="unknown-event")
    delivery = request.headers.get("x-github-delivery", "")
    if not 1 <= len(delivery) <= 100:
        raise InvalidInput("no X-GitHub-Delivery id", slug="malformed-event")
    event = _json_object(body)
    async with unit_of_work(runtime) as session:
        outcome = await donations.record_github_sponsorship(session, delivery, event)
    return {"received": True, "outcome": outcome}


# -- transparency (OBSIDIAN's /api/v1/transparency/*): public, read only -----------------------

transparency_router = APIRouter(prefix="/api/v1/transparency", tags=["transparency"])
TRANSPARENCY = "/api/v1/transparency"


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _snapshot(
    request: Request, key: Hashable, compute: Callable[[AsyncSession, Settings], Awaitable[T]]
) -> T:
    """`compute`'s answer from this process's recent answers (public routes must not cost a
    full computation per visitor), recomputed at once after a month closes."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        last = await transparency.last_close(session)

    async def run() -> T:
        async with unit_of_work(runtime) as session:
            return await compute(session, runtime.settings)

    return await transparency.snapshots(runtime).get((key, last), transparency.SNAPSHOT_S, run)


async def _report(request: Request, month: date | None) -> transparency.MonthReport:
    chosen = month or months.of(now_utc())
    return await _snapshot(
        request,
        ("month", chosen),
        lambda session, settings: transparency.month_report(session, settings, chosen),
    )


@transparency_router.get("/current", response_model=MonthOut)
async def transparency_current(request: Request) -> MonthOut:
    """This month as it stands: donations so far by source, and the split the work so far
    would get (projected; it is final once the month closes)."""
    return MonthOut.of(await _report(request, None), TRANSPARENCY)


@transparency_router.get("/current.csv", response_class=Response)
async def transparency_current_csv(request: Request) -> Response:
    """This month's projected shares, one row per worker."""
    report = await _report(request, None)
    return _csv(transparency.shares_csv(report), f"atelier-{report.plan.label}-shares.csv")


@transparency_router.get("/month/{month}", response_model=MonthOut)
async def transparency_month(month: str, request: Request) -> MonthOut:
    """A month (YYYY-MM): closed months as published, with the digest of their postings;
    404 for a month that has not begun or that a later close covered."""
    return MonthOut.of(await _report(request, months.parse(month)), TRANSPARENCY)


@transparency_router.get("/month/{month}/shares.csv", response_class=Response)
async def transparency_month_shares(month: str, request: Request) -> Response:
    """Every worker's share of the month (projected while it is open)."""
    report = await _report(request, months.parse(month))
    return _csv(transparency.shares_csv(report), f"atelier-{month}-shares.csv")


@transparency_router.get("/month/{month}/postings.csv", response_class=Response)
async def transparency_month_postings(month: str, request: Request) -> Response:
    """Every posting dated in the month (no descriptions): for a closed month, its sha256
    is the month's published digest."""
    chosen = months.parse(month)
    text = await _snapshot(
        request,
        ("postings", chosen),
        lambda session, _: transparency.postings_csv(session, chosen),
    )
    return _csv(text, f"atelier-{month}-postings.csv")


async def _recent(
    session: AsyncSession, _: Settings
) -> tuple[list[transparency.MonthRow], list[Plan]]:
    return await transparency.chart_months(session), await transparency.closed_months(session)


@transparency_router.get("/months", response_model=MonthsOut)
async def transparency_months(request: Request) -> MonthsOut:
    """Every closed month, and the last 12 months' donations by source and splits."""
    recent, closed = await _snapshot(request, "months", _recent)
    return MonthsOut(
        closed=[plan.label for plan in closed],
        recent=[MonthSummaryOut.of(row) for row in recent],
    )


@transparency_router.get("/months.csv", response_class=Response)
async def transparency_months_csv(request: Request) -> Response:
    """Each closed month's pool and split per currency, with its digest."""
    _, closed = await _snapshot(request, "months", _recent)
    return _csv(transparency.months_csv(closed), "atelier-months.csv")


@transparency_router.get("/stats", response_model=StatsOut)
async def transparency_stats(request: Request) -> StatsOut:
    """Since the start: donated by source, distributed by part, held in escrow, paid out."""
    return StatsOut.of(await _snapshot(request, "stats", lambda s, _: transparency.stats(s)))


@transparency_router.get("/stats.csv", response_class=Response)
async def transparency_stats_csv(request: Request) -> Response:
    figures = await _snapshot(request, "stats", lambda s, _: transparency.stats(s))
    return _csv(transparency.stats_csv(figures), "atelier-stats.csv")


earnings_router = APIRouter(prefix="/api/v1/user", tags=["donations"])


@earnings_router.get("/earnings", response_model=EarningsOut)
async def my_earnings(principal: CurrentPrincipal, request: Request) -> EarningsOut:
    """What the caller's workers earned per month (shares, escrow, payouts by state), what
    is held now and why, and this month's projected share."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        return EarningsOut.of(await earnings.of_owner(session, runtime.settings, principal.user_id))


@earnings_router.get("/payout-account", response_model=PayoutAccountOut | None)
async def my_payout_account(
    principal: CurrentPrincipal, request: Request
) -> PayoutAccountOut | None:
    """Where the caller is paid (null: nowhere yet; payouts wait)."""
    async with unit_of_work(runtime_of(request)) as session:
        account = await payouts.account_of(session, principal.user_id)
        return PayoutAccountOut.of(account) if account else None


@earnings_router.put(
    "/payout-account", response_model=PayoutAccountOut, dependencies=[Depends(limit_writes)]
)
async def set_payout_account(
    body: PayoutAccountIn, principal: SessionPrincipal, request: Request
) -> PayoutAccountOut:
    """Set where the caller is paid (a signed-in session, not an API key: a leaked key must
    not redirect anyone's earnings)."""
    async with unit_of_work(runtime_of(request)) as session:
        account = await payouts.set_account(
            session, principal.user_id, body.provider, body.destination
        )
        return PayoutAccountOut.of(account)


donate_router = APIRouter(prefix="/api/v1", tags=["donations"])


@donate_router.post(
    "/donate", response_model=PledgeOut, status_code=201, dependencies=[Depends(limit_writes)]
)
async def donate(body: DonateIn, principal: CurrentPrincipal, request: Request) -> PledgeOut:
    """Pledge a donation (OBSIDIAN's `/api/v1/donate`): recorded as a pledge, not money,
    until a provider's payment names it (`pay_with`); only then is it posted."""
    async with unit_of_work(runtime_of(request)) as session:
        pledged = await donations.pledge(
            session, principal.user_id, body.amount, body.currency, body.message
        )
        return PledgeOut.of(pledged)


@donate_router.get("/user/pledges", response_model=list[PledgeOut])
async def my_pledges(principal: CurrentPrincipal, request: Request) -> list[PledgeOut]:
    async with unit_of_work(runtime_of(request)) as session:
        return [PledgeOut.of(p) for p in await donations.pledges_of(session, principal.user_id)]
