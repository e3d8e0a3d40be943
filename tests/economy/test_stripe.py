"""Stripe webhooks, signed as Stripe signs them (HMAC-SHA256 over "t.body"): a donation and
its refund are posted once however often they arrive; forged, stale, unsigned, malformed and
unknown deliveries are refused and post nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import money
from atelier.economy.models import WebhookEvent
from atelier.economy.signatures import stripe_signature
from tests.conftest import make_settings

SECRET = "whsec_test_" + "a" * 32
CLEARING = ("Assets:Clearing:Stripe", "USD")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, stripe_webhook_secret=SECRET
    )


def _event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def _signed(body: bytes, secret: str = SECRET, at: int | None = None, extra: str = "") -> dict:
    t = int(time.time()) if at is None else at
    return {
        "Stripe-Signature": f"t={t},v1={stripe_signature(secret, t, body)}{extra}",
        "Content-Type": "application/json",
    }


def _payment(amount: int) -> dict[str, Any]:
    return {
        "id": f"pi_{uuid.uuid4().hex[:16]}",
        "object": "payment_intent",
        "amount_received": amount,
        "currency": "usd",
    }


async def _clearing(runtime: Runtime) -> int:
    async with unit_of_work(runtime) as session:
        return (await money.balances(session)).get(CLEARING, 0)


async def test_a_donation_delivered_twenty_times_at_once_posts_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await _clearing(runtime)
    body = _event("payment_intent.succeeded", _payment(2500))
    answers = await asyncio.gather(
        *(client.post("/webhooks/stripe", content=body, headers=_signed(body)) for _ in range(20))
    )
    assert [a.status_code for a in answers] == [200] * 20
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["applied"] + ["duplicate"] * 19
    assert await _clearing(runtime) - before == 2500
    event_id = json.loads(body)["id"]
    async with runtime.sessions() as session:
        stored = await session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.event_id == event_id)
        )
    assert stored == 1  # kept as received, once


async def test_a_refund_posts_back_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    payment = _payment(4000)
    paid = _event("payment_intent.succeeded", payment)
    assert (await client.post("/webhooks/stripe", content=paid, headers=_signed(paid))).json()[
        "outcome"
    ] == "applied"
    before = await _clearing(runtime)
    charge = {
        "id": "ch_1",
        "object": "charge",
        "currency": "usd",
        "amount_refunded": 1500,
        "refunds": {"data": [{"id": f"re_{uuid.uuid4().hex[:12]}", "amount": 1500}]},
    }
    for _ in range(2):  # the same refund told by two events
        refund = _event("charge.refunded", charge)
        answer = await client.post("/webhooks/stripe", content=refund, headers=_signed(refund))
        assert answer.status_code == 200
    assert await _clearing(runtime) - before == -1500


async def test_a_rolled_secret_still_verifies(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """While a secret is rolled Stripe sends one v1 per active secret: any may match."""
    body = _event("payment_intent.succeeded", _payment(100))
    t = int(time.time())
    old = stripe_signature("whsec_old_secret", t, body)
    headers = _signed(body, at=t)
    headers["Stripe-Signature"] = f"t={t},v1={old},v1={stripe_signature(SECRET, t, body)}"
    assert (await client.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("make_headers", "slug"),
    [
        (lambda body: _signed(body, secret="whsec_forged"), "bad-signature"),
        (lambda body: _signed(body, at=int(time.time()) - 3600), "stale-signature"),
        (lambda body: _signed(body, at=int(time.time()) + 3600), "stale-signature"),
        (lambda body: {"Content-Type": "application/json"}, "bad-signature"),
        (lambda body: {"Stripe-Signature": "t=abc,v1=zz"}, "bad-signature"),
    ],
)
async def test_forged_stale_and_unsigned_deliveries_post_nothing(
    client: httpx.AsyncClient, runtime: Runtime, make_headers: Any, slug: str
) -> None:
    before = await _clearing(runtime)
    body = _event("payment_intent.succeeded", _payment(999))
    answer = await client.post("/webhooks/stripe", content=body, headers=make_headers(body))
    assert answer.status_code == 401
    assert answer.json()["type"] == f"/problems/{slug}"
    assert await _clearing(runtime) == before


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        (_event("customer.created", {"id": "cus_1", "currency": "usd"}), "unknown-event"),
        (
            _event(
                "payment_intent.succeeded",
                {"id": "pi_x", "currency": "usd", "amount_received": "25.00"},
            ),
            "malformed-event",
        ),
        (b"[1, 2, 3]", "malformed-event"),
        (b"{not json", "invalid-json"),
    ],
)
async def test_unknown_and_malformed_events_are_refused_and_not_stored(
    client: httpx.AsyncClient, runtime: Runtime, body: bytes, slug: str
) -> None:
    async with runtime.sessions() as session:
        stored_before = await session.scalar(select(func.count()).select_from(WebhookEvent))
    answer = await client.post("/webhooks/stripe", content=body, headers=_signed(body))
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == f"/problems/{slug}"
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == stored_before


def test_the_signature_helper_matches_stripes_documented_scheme(tmp_path: Path) -> None:
    """Stripe's own construction, written out: HMAC-SHA256(secret, f"{t}.{payload}")."""
    import hashlib
    import hmac

    payload = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_x", b"1700000000." + payload, hashlib.sha256).hexdigest()
    assert stripe_signature("whsec_x", 1700000000, payload) == expected


async def test_a_dispute_posts_back_and_a_won_dispute_posts_again_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    paid = _event("payment_intent.succeeded", _payment(6000))
    await client.post("/webhooks/stripe", content=paid, headers=_signed(paid))
    before = await _clearing(runtime)
    dispute = {
        "id": f"dp_{uuid.uuid4().hex[:12]}",
        "object": "dispute",
        "amount": 6000,
        "currency": "usd",
        "charge": "ch_disputed",
        "status": "needs_response",
    }
    outcomes = []
    for kind in (
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ):
        body = _event(kind, dispute)
        answer = await client.post("/webhooks/stripe", content=body, headers=_signed(body))
        outcomes.append(answer.json()["outcome"])
        if kind.endswith("withdrawn"):
            assert await _clearing(runtime) - before == -6000  # once, however often told
    assert outcomes == ["kept", "applied", "duplicate", "kept", "applied"]
    assert await _clearing(runtime) == before  # the dispute was won


async def test_a_zero_decimal_currency_is_refused(client: httpx.AsyncClient) -> None:
    body = _event("payment_intent.succeeded", {**_payment(1000), "currency": "jpy"})
    answer = await client.post("/webhooks/stripe", content=body, headers=_signed(body))
    assert answer.status_code == 422 and "no minor units" in answer.json()["detail"]
