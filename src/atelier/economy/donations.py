"""Donations arriving as providers' webhooks, recorded in the money ledger.

An event is stored as received (after its signature was checked), once per provider and
event id, and applied in the same transaction: a redelivery, or twenty concurrent ones, post
nothing more. Stripe: `payment_intent.succeeded` posts the amount received from the Stripe
clearing account to donations income (its source is the payment intent, so a second event
about the same payment posts nothing either); `charge.refunded` posts the refunded amount
back, once per refund. Other event types are refused (4xx) and nothing is stored.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.errors import InvalidInput
from atelier.economy import money
from atelier.economy import repository as repo
from atelier.economy.money import Leg, Movement

GITHUB_CLEARING = "Assets:Clearing:GitHub-Sponsors"
GITHUB_DONATIONS = "Income:Donations:GitHub-Sponsors"
# a sponsorship's money is posted when it starts; later changes are kept, not posted
GITHUB_ACTIONS = (
    "created",
    "cancelled",
    "edited",
    "tier_changed",
    "pending_cancellation",
    "pending_tier_change",
)
STRIPE_CLEARING = "Assets:Clearing:Stripe"
STRIPE_DONATIONS = "Income:Donations:Stripe"
STRIPE_EVENTS = ("payment_intent.succeeded", "charge.refunded")


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidInput(
            f"the event's {name} is missing or not a {kind.__name__}", slug="malformed-event"
        )
    return value


def _stripe_movement(event_type: str, obj: dict[str, Any], event_id: str) -> Movement | None:
    currency = str(_field(obj, "currency", str)).upper()
    if event_type == "payment_intent.succeeded":
        amount = _field(obj, "amount_received", int)
        if amount <= 0:
            return None  # nothing was received
        pi = _field(obj, "id", str)
        return Movement(
            f"Stripe donation {pi}",
            [Leg(STRIPE_CLEARING, amount, currency), Leg(STRIPE_DONATIONS, -amount, currency)],
            source=f"stripe:{pi}",
        )
    refunds = ((obj.get("refunds") or {}).get("data")) or []
    newest = refunds[0] if refunds and isinstance(refunds[0], dict) else None
    amount = _field(newest, "amount", int) if newest else _field(obj, "amount_refunded", int)
    refund_id = str(newest.get("id")) if newest else event_id
    if amount <= 0:
        return None
    return Movement(
        f"Stripe refund {refund_id} of charge {obj.get('id')}",
        [Leg(STRIPE_DONATIONS, amount, currency), Leg(STRIPE_CLEARING, -amount, currency)],
        source=f"stripe:refund:{refund_id}",
    )


async def record_stripe_event(session: AsyncSession, event: dict[str, Any]) -> str:
    """Store and apply a verified Stripe event: "applied", "duplicate" or "ignored"."""
    event_id = _field(event, "id", str)
    event_type = _field(event, "type", str)
    if event_type not in STRIPE_EVENTS:
        raise InvalidInput(f"Atelier does not handle {event_type!r} events", slug="unknown-event")
    obj = _field(_field(event, "data", dict), "object", dict)
    movement = _stripe_movement(event_type, obj, event_id)  # validates before storing
    if not await repo.add_webhook_event(session, "stripe", event_id, event_type, event):
        return "duplicate"
    if movement is None:
        return "ignored"
    tx: uuid.UUID | None = await money.record(session, movement)
    if tx is None:
        return "duplicate"  # the same payment or refund, told by another event
    await repo.link_webhook_event(session, "stripe", event_id, tx)
    return "applied"


async def record_github_sponsorship(
    session: AsyncSession, delivery_id: str, event: dict[str, Any]
) -> str:
    """Store and apply a verified `sponsorship` event (GitHub Sponsors): a new sponsorship
    posts its tier's price (one-time or the first month) in USD; other actions are stored
    and post nothing. The delivery id (`X-GitHub-Delivery`) identifies a redelivery."""
    action = _field(event, "action", str)
    if action not in GITHUB_ACTIONS:
        raise InvalidInput(
            f"Atelier does not handle sponsorship {action!r} events", slug="unknown-event"
        )
    sponsorship = _field(event, "sponsorship", dict)
    tier = _field(sponsorship, "tier", dict)
    cents = _field(tier, "monthly_price_in_cents", int)
    if not 0 < cents <= money.MAX_MINOR_UNITS:
        raise InvalidInput(
            "the tier's price is not a positive number of cents", slug="malformed-event"
        )
    sponsor = _field(_field(sponsorship, "sponsor", dict), "login", str)[:100]
    if not await repo.add_webhook_event(session, "github", delivery_id, action, event):
        return "duplicate"
    if action != "created":
        return "ignored"
    kind = "one-time" if tier.get("is_one_time") else "monthly"
    node = str(sponsorship.get("node_id") or delivery_id)
    movement = Movement(
        f"GitHub Sponsors {kind} sponsorship by {sponsor}",
        [Leg(GITHUB_CLEARING, cents, "USD"), Leg(GITHUB_DONATIONS, -cents, "USD")],
        source=f"github:{node}",
    )
    tx = await money.record(session, movement)
    if tx is None:
        return "duplicate"
    await repo.link_webhook_event(session, "github", delivery_id, tx)
    return "applied"
