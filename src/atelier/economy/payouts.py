"""Payouts: what a closed month owes each contributor, sent through a payout provider or
paid by hand, each with a state (pending → sent → confirmed, or failed).

Sending is exactly-once without holding a transaction open across the network: the
provider is called with the payout's id as its idempotency key, then the payout is marked
sent and its money posted (`Liabilities:Payable:Workers:W… → Assets:Clearing:<provider>`,
source `payout:<id>`) in a transaction of its own. A crash between the two leaves the payout
pending; the next run calls the provider with the same key, gets the same transfer back,
and marks it then. A provider's refusal (no such account…) marks it failed and posts nothing;
the money stays payable, and `retry` puts it back to pending. The provider's signed
confirmation (Stripe's `transfer.created` webhook) confirms it; a reversal
(`transfer.reversed`) fails it and reverses its posting.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.errors import Conflict, InvalidInput, NotFound
from atelier.economy import money, months
from atelier.economy import repository as repo
from atelier.economy.distribution import payable_account
from atelier.economy.models import Payout, PayoutAccount, PayoutState
from atelier.economy.money import Leg, Movement

PROVIDERS = {"stripe-connect": "Assets:Clearing:Stripe", "manual": "Assets:Clearing:Manual"}
_DESTINATIONS = {"stripe-connect": re.compile(r"^acct_[A-Za-z0-9]{6,60}$")}


class PayoutRefused(Exception):
    """The provider refused the transfer for good (a bad destination…): the payout fails."""


class PayoutProvider(Protocol):
    name: str

    async def transfer(self, payout: Payout, destination: str) -> str:
        """Send `payout` to `destination`, idempotently by the payout's id; the provider's
        reference for it. PayoutRefused when the provider refuses it; any other error
        leaves it pending for the next run."""
        ...


@dataclass(frozen=True)
class Claim:
    payout_id: uuid.UUID
    destination: str


async def set_account(
    session: AsyncSession, user_id: uuid.UUID, provider: str, destination: str
) -> PayoutAccount:
    """Where the user is paid. Only providers Atelier can pay through, with a destination
    of that provider's shape."""
    if provider not in _DESTINATIONS:
        message = f"payouts go through {', '.join(_DESTINATIONS)}"
        raise InvalidInput(message, slug="unknown-payout-provider", extra=_at("provider", message))
    if not _DESTINATIONS[provider].match(destination):
        message = f"{destination[:40]!r} is not a {provider} account (acct_…)"
        raise InvalidInput(
            message, slug="invalid-payout-destination", extra=_at("destination", message)
        )
    return await repo.set_payout_account(session, user_id, provider, destination)


def _at(field: str, message: str) -> dict[str, object]:
    return {"errors": [{"loc": ["body", field], "msg": message, "type": "value_error"}]}


async def account_of(session: AsyncSession, user_id: uuid.UUID) -> PayoutAccount | None:
    return await repo.payout_account(session, user_id)


async def claims(session: AsyncSession, provider: str, month: date | None) -> list[Claim]:
    """Pending payouts whose owner is paid through `provider`."""
    return [
        Claim(payout_id, destination)
        for payout_id, destination in await repo.pending_payouts(session, provider, month)
    ]


async def claimed(session: AsyncSession, payout_id: uuid.UUID) -> Payout | None:
    """The payout, locked, if it is still pending (another runner may have sent it)."""
    payout = await repo.payout(session, payout_id, lock=True)
    return payout if payout is not None and payout.state == PayoutState.PENDING else None


async def mark_sent(
    session: AsyncSession, payout_id: uuid.UUID, provider: str, reference: str
) -> Payout:
    """Sent: its money leaves the contributor's payable account (posted once)."""
    payout = await _payout(session, payout_id)
    if payout.state != PayoutState.PENDING:
        raise Conflict(f"the payout is {payout.state}, not pending", slug="payout-not-pending")
    tx = await money.record(
        session,
        Movement(
            f"payout {payout.id} of {months.label(payout.month)} via {provider}: {reference}",
            [
                Leg(payable_account(payout.worker_id), payout.amount, payout.currency),
                Leg(PROVIDERS[provider], -payout.amount, payout.currency),
            ],
            source=f"payout:{payout.id}",
        ),
    )
    payout.state = PayoutState.SENT
    payout.provider = provider
    payout.reference = reference[:200]
    payout.transaction_id = tx
    payout.error = None
    payout.updated_at = now_utc()
    return payout


async def mark_failed(session: AsyncSession, payout_id: uuid.UUID, why: str) -> Payout:
    """Failed: a refusal before sending posts nothing; a reversal after sending posts the
    money back to the contributor's payable account."""
    payout = await _payout(session, payout_id)
    if payout.state == PayoutState.FAILED:
        return payout
    if payout.transaction_id is not None:
        await money.reverse(session, payout.transaction_id, f"payout failed: {why}")
    payout.state = PayoutState.FAILED
    payout.error = why[:500]
    payout.updated_at = now_utc()
    return payout


async def mark_confirmed(session: AsyncSession, payout_id: uuid.UUID) -> Payout:
    payout = await _payout(session, payout_id)
    if payout.state not in (PayoutState.SENT, PayoutState.CONFIRMED):
        raise Conflict(f"the payout is {payout.state}, not sent", slug="payout-not-sent")
    payout.state = PayoutState.CONFIRMED
    payout.updated_at = now_utc()
    return payout


async def retry(session: AsyncSession, payout_id: uuid.UUID) -> Payout:
    """A failed payout back to pending (after the contributor fixed their account). A
    payout that failed after being sent was reversed; its next send posts again."""
    payout = await _payout(session, payout_id)
    if payout.state != PayoutState.FAILED:
        raise Conflict(f"the payout is {payout.state}, not failed", slug="payout-not-failed")
    if payout.transaction_id is not None:
        raise Conflict(
            "a payout reversed by the provider is paid by hand or by a new close",
            slug="payout-reversed",
        )
    payout.state = PayoutState.PENDING
    payout.error = None
    payout.updated_at = now_utc()
    return payout


async def _payout(session: AsyncSession, payout_id: uuid.UUID) -> Payout:
    payout = await repo.payout(session, payout_id, lock=True)
    if payout is None:
        raise NotFound("no such payout", slug="payout-not-found")
    return payout


async def listed(
    session: AsyncSession, month: date | None = None, state: str | None = None
) -> list[Payout]:
    return await repo.payouts(session, month=month, state=state)


EXPORT_COLUMNS = [
    "payout",
    "month",
    "currency",
    "amount_minor",
    "amount",
    "worker_id",
    "owner_id",
    "state",
    "provider",
    "destination",
    "reference",
]


async def export_csv(session: AsyncSession, month: date | None, state: str | None) -> str:
    """Payouts as CSV for an operator who pays by hand (then `payouts mark … sent`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    accounts = await repo.payout_accounts(session)
    for payout in await repo.payouts(session, month=month, state=state):
        account = accounts.get(payout.owner_id) if payout.owner_id else None
        writer.writerow(
            [
                payout.id,
                months.label(payout.month),
                payout.currency,
                payout.amount,
                money.decimal(payout.amount),
                payout.worker_id,
                payout.owner_id or "",
                payout.state,
                payout.provider or (account.provider if account else ""),
                account.destination if account else "",
                payout.reference or "",
            ]
        )
    return out.getvalue()
