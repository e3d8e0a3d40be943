"""Providers' webhooks (OBSIDIAN's `/webhooks/*`): verified on the raw bytes, then stored
and applied in one transaction."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request

from atelier.core.errors import InvalidInput, ServiceUnavailable
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.economy import donations
from atelier.economy.signatures import check_github, check_stripe

router = APIRouter(tags=["donations"])


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
