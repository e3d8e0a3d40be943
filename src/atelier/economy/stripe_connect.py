"""Payouts through Stripe Connect: a transfer from the platform's Stripe balance to the
contributor's connected account (`POST /v1/transfers`, form-encoded, the secret key as a
bearer token, the payout's id and destination as the `Idempotency-Key`, so a repeated send
can never pay twice). `transfer.created` and `transfer.reversed` come back as signed webhooks.
"""

from __future__ import annotations

import hashlib

import httpx

from atelier.core.runtime import Runtime
from atelier.economy import months
from atelier.economy.models import Payout
from atelier.economy.payouts import PayoutRefused

ADAPTER = "economy.stripe_http"
STRIPE_VERSION = "2024-06-20"


class StripeConnect:
    name = "stripe-connect"

    def __init__(self, api_base: str, api_key: str, client: httpx.AsyncClient) -> None:
        self.api_base = api_base.rstrip("/")
        self._key = api_key
        self._client = client

    async def transfer(self, payout: Payout, destination: str) -> str:
        label = months.label(payout.month)
        answer = await self._client.post(
            f"{self.api_base}/v1/transfers",
            data={
                "amount": str(payout.amount),
                "currency": payout.currency.lower(),
                "destination": destination,
                "transfer_group": f"atelier-{label}",
                "description": f"Atelier contributors' share, {label}",
                "metadata[payout_id]": str(payout.id),
            },
            headers={
                "Authorization": f"Bearer {self._key}",
                "Idempotency-Key": idempotency_key(payout, destination),
                "Stripe-Version": STRIPE_VERSION,
            },
        )
        body = (
            answer.json()
            if answer.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if answer.status_code == 200 and isinstance(body.get("id"), str):
            return str(body["id"])
        found = body.get("error")
        error: dict[str, object] = found if isinstance(found, dict) else {}
        message = str(error.get("message") or f"Stripe answered {answer.status_code}")[:300]
        if answer.status_code in (400, 402, 403, 404) and error.get("type") != "api_error":
            raise PayoutRefused(message)
        raise httpx.HTTPStatusError(message, request=answer.request, response=answer)


def idempotency_key(payout: Payout, destination: str) -> str:
    """One key per payout and destination: a repeated send replays the first answer (never a
    second transfer), and a retry to a corrected destination is a new request (Stripe
    refuses a key reused with other parameters)."""
    return f"atelier-payout-{payout.id}-{hashlib.sha256(destination.encode()).hexdigest()[:16]}"


def provider_for(runtime: Runtime) -> StripeConnect | None:
    """Stripe Connect when a Stripe secret key is configured (its HTTP client is a runtime
    adapter: the tests' local stand-in for Stripe's API provides its own)."""
    key = runtime.settings.stripe_api_key
    if key is None:
        return None
    client = runtime.adapters.get(ADAPTER)
    if client is None:
        client = httpx.AsyncClient(timeout=30.0)
        runtime.adapters[ADAPTER] = client
    return StripeConnect(runtime.settings.stripe_api_base, key.get_secret_value(), client)
