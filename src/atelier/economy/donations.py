"""Donations arriving as providers' webhooks, recorded in the money ledger.

An event is stored as received (after its signature was checked), once per provider and
event id, and applied in the same transaction: a redelivery, or twenty concurrent ones, post
nothing more. Each movement's `source` is the money itself (the payment, the refund, the
dispute), so two different events about the same money post it once. Event types Atelier
does not handle are refused (4xx) and nothing is stored.

Stripe: `payment_intent.succeeded` posts the amount received from the Stripe clearing
account to donations income; `charge.refunded` posts the newest refund back;
`charge.dispute.funds_withdrawn` posts a dispute back and `charge.dispute.funds_reinstated`
posts it again when the dispute is won (`charge.dispute.created`/`closed` are kept, nothing
posted). PayPal: `PAYMENT.CAPTURE.COMPLETED` posts a capture, `PAYMENT.CAPTURE.REFUNDED`
and `PAYMENT.CAPTURE.REVERSED` post a refund or a chargeback back. GitHub Sponsors: a new
sponsorship posts its tier's price. A payment naming a pledge (`metadata.pledge_id`, PayPal's
`custom_id`) confirms it.

Amounts are whole minor units of two-decimal currencies (the ledger's journal writes cents):
a zero-decimal currency (JPY…) is refused rather than recorded a hundred times too big.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.errors import InvalidInput
from atelier.economy import money, payouts
from atelier.economy import repository as repo
from atelier.economy.models import Pledge
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
STRIPE_POSTING = (
    "payment_intent.succeeded",
    "charge.refunded",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
STRIPE_KEPT = ("charge.dispute.created", "charge.dispute.closed")
# our own payouts (Stripe Connect transfers) coming back: confirmed, or reversed
STRIPE_TRANSFERS = ("transfer.created", "transfer.reversed")
STRIPE_EVENTS = STRIPE_POSTING + STRIPE_KEPT + STRIPE_TRANSFERS
PAYPAL_CLEARING = "Assets:Clearing:PayPal"
PAYPAL_DONATIONS = "Income:Donations:PayPal"
PAYPAL_EVENTS = (
    "PAYMENT.CAPTURE.COMPLETED",
    "PAYMENT.CAPTURE.REFUNDED",
    "PAYMENT.CAPTURE.REVERSED",
)
# ISO 4217 currencies without minor units (Stripe's and PayPal's lists)
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "HUF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "TWD",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_DECIMAL = re.compile(r"^\d{1,13}(\.\d{1,2})?$")


def _malformed(message: str) -> InvalidInput:
    return InvalidInput(message, slug="malformed-event")


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _malformed(f"the event's {name} is missing or not a {kind.__name__}")
    return value


def _currency(code: Any) -> str:
    currency = str(code).upper() if isinstance(code, str) else ""
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise _malformed(f"{str(code)[:10]!r} is not a currency code")
    if currency in ZERO_DECIMAL:
        raise _malformed(f"{currency} has no minor units; the ledger keeps two-decimal currencies")
    return currency


def _cents(amount: Any) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise _malformed("an amount is a positive whole number of minor units")
    if amount > money.MAX_MINOR_UNITS:
        raise _malformed(f"an amount beyond {money.MAX_MINOR_UNITS} minor units")
    return amount


def decimal_cents(value: Any) -> int:
    """A provider's decimal amount ("10.05") in minor units, exactly; fractions of a cent,
    negative and absurd amounts are refused."""
    if not isinstance(value, str) or not _DECIMAL.match(value):
        raise _malformed(f"{str(value)[:20]!r} is not an amount with at most two decimals")
    try:
        cents = Decimal(value) * 100
    except InvalidOperation:
        raise _malformed(f"{value!r} is not an amount") from None
    return _cents(int(cents))


def _donation(clearing: str, income: str, amount: int, currency: str) -> list[Leg]:
    return [Leg(clearing, amount, currency), Leg(income, -amount, currency)]


def _stripe_movement(event_type: str, obj: dict[str, Any], event_id: str) -> Movement | None:
    currency = _currency(obj.get("currency"))
    if event_type == "payment_intent.succeeded":
        pi = _field(obj, "id", str)
        return Movement(
            f"Stripe donation {pi}",
            _donation(
                STRIPE_CLEARING, STRIPE_DONATIONS, _cents(obj.get("amount_received")), currency
            ),
            source=f"stripe:{pi}",
        )
    if event_type == "charge.refunded":
        refunds = ((obj.get("refunds") or {}).get("data")) or []
        newest = refunds[0] if refunds and isinstance(refunds[0], dict) else None
        amount = _cents(newest.get("amount") if newest else obj.get("amount_refunded"))
        refund_id = str(newest.get("id")) if newest else event_id
        return Movement(
            f"Stripe refund {refund_id} of charge {obj.get('id')}",
            _donation(STRIPE_DONATIONS, STRIPE_CLEARING, amount, currency),
            source=f"stripe:refund:{refund_id}",
        )
    dispute = _field(obj, "id", str)
    amount = _cents(obj.get("amount"))
    if event_type == "charge.dispute.funds_withdrawn":
        return Movement(
            f"Stripe dispute {dispute} of charge {obj.get('charge')}: funds withdrawn",
            _donation(STRIPE_DONATIONS, STRIPE_CLEARING, amount, currency),
            source=f"stripe:dispute:{dispute}",
        )
    if event_type == "charge.dispute.funds_reinstated":
        return Movement(
            f"Stripe dispute {dispute} won: funds reinstated",
            _donation(STRIPE_CLEARING, STRIPE_DONATIONS, amount, currency),
            source=f"stripe:dispute-won:{dispute}",
        )
    return None  # kept for the record, nothing moves


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, dict) else {}


def _uuid_of(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def _apply(
    session: AsyncSession,
    provider: str,
    event_id: str,
    event_type: str,
    event: dict[str, Any],
    movement: Movement | None,
    pledge: uuid.UUID | None = None,
) -> str:
    """Store the event, then post its movement: "applied", "duplicate" or "kept"."""
    if not await repo.add_webhook_event(session, provider, event_id, event_type, event):
        return "duplicate"
    if movement is None:
        return "kept"
    tx = await money.record(session, movement)
    if tx is None:
        return "duplicate"  # the same money, told by another event
    await repo.link_webhook_event(session, provider, event_id, tx)
    if pledge is not None:
        await repo.confirm_pledge(session, pledge, tx)
    return "applied"


async def record_stripe_event(session: AsyncSession, event: dict[str, Any]) -> str:
    """Store and apply a verified Stripe event."""
    event_id = _field(event, "id", str)
    event_type = _field(event, "type", str)
    if event_type not in STRIPE_EVENTS:
        raise InvalidInput(f"Atelier does not handle {event_type!r} events", slug="unknown-event")
    obj = _field(_field(event, "data", dict), "object", dict)
    if event_type in STRIPE_TRANSFERS:
        return await _stripe_transfer(session, event_id, event_type, event, obj)
    movement = _stripe_movement(event_type, obj, event_id)  # validates before storing
    pledge = _uuid_of(_metadata(obj).get("pledge_id")) if event_type == STRIPE_POSTING[0] else None
    return await _apply(session, "stripe", event_id, event_type, event, movement, pledge)


async def _stripe_transfer(
    session: AsyncSession,
    event_id: str,
    event_type: str,
    event: dict[str, Any],
    transfer: dict[str, Any],
) -> str:
    """A payout's transfer, told by Stripe: `transfer.created` confirms the payout it
    names (`metadata.payout_id`), `transfer.reversed` fails it and posts its money back."""
    payout_id = _uuid_of(_metadata(transfer).get("payout_id"))
    if payout_id is None:
        raise _malformed("a transfer event without metadata.payout_id is not one of ours")
    if not await repo.add_webhook_event(session, "stripe", event_id, event_type, event):
        return "duplicate"
    if event_type == "transfer.created":
        await payouts.mark_confirmed(session, payout_id)
    else:
        await payouts.mark_failed(
            session, payout_id, f"Stripe reversed transfer {transfer.get('id')}"
        )
    return "applied"


def _paypal_movement(event_type: str, resource: dict[str, Any]) -> Movement:
    amount = _field(resource, "amount", dict)
    cents = decimal_cents(amount.get("value"))
    currency = _currency(amount.get("currency_code"))
    resource_id = _field(resource, "id", str)
    if event_type == "PAYMENT.CAPTURE.COMPLETED":
        return Movement(
            f"PayPal donation {resource_id}",
            _donation(PAYPAL_CLEARING, PAYPAL_DONATIONS, cents, currency),
            source=f"paypal:{resource_id}",
        )
    what = "refund" if event_type == "PAYMENT.CAPTURE.REFUNDED" else "reversal"
    return Movement(
        f"PayPal {what} {resource_id}",
        _donation(PAYPAL_DONATIONS, PAYPAL_CLEARING, cents, currency),
        source=f"paypal:{what}:{resource_id}",
    )


async def record_paypal_event(session: AsyncSession, event: dict[str, Any]) -> str:
    """Store and apply a verified PayPal webhook event."""
    event_id = _field(event, "id", str)
    event_type = _field(event, "event_type", str)
    if event_type not in PAYPAL_EVENTS:
        raise InvalidInput(f"Atelier does not handle {event_type!r} events", slug="unknown-event")
    resource = _field(event, "resource", dict)
    movement = _paypal_movement(event_type, resource)
    pledge = _uuid_of(resource.get("custom_id")) if event_type == PAYPAL_EVENTS[0] else None
    return await _apply(session, "paypal", event_id, event_type, event, movement, pledge)


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
    cents = _cents(tier.get("monthly_price_in_cents"))
    sponsor = _field(_field(sponsorship, "sponsor", dict), "login", str)[:100]
    movement = None
    if action == "created":
        kind = "one-time" if tier.get("is_one_time") else "monthly"
        node = str(sponsorship.get("node_id") or delivery_id)
        movement = Movement(
            f"GitHub Sponsors {kind} sponsorship by {sponsor}",
            _donation(GITHUB_CLEARING, GITHUB_DONATIONS, cents, "USD"),
            source=f"github:{node}",
        )
    return await _apply(session, "github", delivery_id, action, event, movement)


async def pledge(
    session: AsyncSession, user_id: uuid.UUID, amount: int, currency: str, message: str
) -> Pledge:
    """A donation announced through the API: recorded, not posted (it is not money until
    a provider's payment names it)."""
    _currency(currency)
    return await repo.add_pledge(
        session, Pledge(user_id=user_id, amount=_cents(amount), currency=currency, message=message)
    )


async def pledges_of(session: AsyncSession, user_id: uuid.UUID) -> list[Pledge]:
    return await repo.pledges_of(session, user_id)


MANUAL_SOURCE = re.compile(r"^[A-Z][A-Za-z0-9-]{0,40}$")


@dataclass(frozen=True)
class ManualDonation:
    """A donation that came outside the webhooks (a bank transfer, cash at a meetup), as an
    operator records it: its own reference makes recording it twice harmless."""

    amount: int  # minor units
    currency: str
    source: str  # "Bank", "Open-Collective"…: the income account's last part
    reference: str
    occurred_at: datetime


def manual_donation(
    amount: str, currency: str, source: str, reference: str, on: str | None
) -> ManualDonation:
    """Checked fields of a manual donation ("25.00", "USD", "Bank", "SEPA-2026-11-03", a
    YYYY-MM-DD date or None for now)."""
    if not MANUAL_SOURCE.match(source):
        raise InvalidInput(
            f"{source[:40]!r} is not a source name (a capital, then letters, digits, dashes)",
            slug="invalid-source",
        )
    if not 1 <= len(reference) <= 150 or not reference.isprintable():
        raise InvalidInput("a reference of 1 to 150 printable characters", slug="invalid-source")
    occurred = now_utc()
    if on:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            raise InvalidInput(
                f"{on[:20]!r} is not a date (YYYY-MM-DD)", slug="invalid-date"
            ) from None
        occurred = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        if occurred > now_utc():
            raise InvalidInput(f"{on} is in the future", slug="invalid-date")
    return ManualDonation(decimal_cents(amount), _currency(currency), source, reference, occurred)


async def record_manual(session: AsyncSession, donation: ManualDonation) -> str:
    """Post a manual donation once (by its reference): "applied" or "duplicate"."""
    movement = Movement(
        f"{donation.source} donation {donation.reference}",
        _donation(
            f"Assets:Clearing:{donation.source}",
            f"Income:Donations:{donation.source}",
            donation.amount,
            donation.currency,
        ),
        occurred_at=donation.occurred_at,
        source=f"manual:{donation.source}:{donation.reference}",
    )
    return "applied" if await money.record(session, movement) else "duplicate"
