"""Payouts from a closed month through Stripe Connect (a local stand-in for Stripe's API):
sent once even when a send is repeated after a crash, refused destinations failed and
retried, confirmations and reversals from Stripe's signed webhooks, money posted out of the
contributor's payable account and back; the CSV export and the manual marks of an operator
who pays by hand; payout accounts set only from a signed-in session."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from atelier.cli import app
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import contributions, distribution, money, payouts, scheduled, stripe_connect
from atelier.economy.contributions import Accepted
from atelier.economy.models import Payout
from atelier.economy.money import Leg, Movement
from atelier.economy.signatures import stripe_signature
from tests.conftest import make_settings
from tests.economy.stripe_standin import StripeState, stripe_api
from tests.grid.helpers import account_with_key, session_for
from tests.helpers import bearer

KEY = "sk_test_" + "f" * 24
WEBHOOK = "whsec_payouts_" + "a" * 24
SEPT = date(2026, 9, 1)


@pytest.fixture(scope="module")
def stripe() -> Iterator[tuple[str, StripeState]]:
    with stripe_api(KEY, {"acct_alpha123", "acct_gamma123"}) as running:
        yield running


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, stripe: tuple[str, StripeState]
) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        database_url,
        stripe_api_key=KEY,
        stripe_api_base=stripe[0],
        stripe_webhook_secret=WEBHOOK,
        economy_escrow_canaries=0,
        economy_escrow_days=0,
    )


async def _closed_month(runtime: Runtime, owners: list[uuid.UUID]) -> list[Payout]:
    """September: 3,000.00 USD donated, one worker per owner, equal work."""
    async with unit_of_work(runtime) as session:
        await money.record(
            session,
            Movement(
                "donation",
                [
                    Leg("Assets:Clearing:Stripe", 300_000, "USD"),
                    Leg("Income:Donations:Stripe", -300_000, "USD"),
                ],
                occurred_at=datetime(2026, 9, 2, tzinfo=UTC),
                source="stripe:pi_payouts",
            ),
        )
        for owner in owners:
            accepted = Accepted(
                uuid.uuid4(),
                uuid.uuid4(),
                f"rig-{owner.hex[:4]}",
                owner,
                "image",
                1000,
                datetime(2026, 9, 3, tzinfo=UTC),
            )
            await contributions.record(session, accepted)
        await distribution.distribute(session, runtime.settings, SEPT)
        return await payouts.listed(session, SEPT)


async def _state(runtime: Runtime, owner: uuid.UUID) -> Payout:
    async with unit_of_work(runtime) as session:
        return next(p for p in await payouts.listed(session, SEPT) if p.owner_id == owner)


async def _payable(runtime: Runtime, payout: Payout) -> int:
    async with unit_of_work(runtime) as session:
        balances = await money.balances(session)
    return balances.get((distribution.payable_account(payout.worker_id), "USD"), 0)


def _stripe_event(kind: str, obj: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"id": f"evt_{uuid.uuid4().hex}", "type": kind, "data": {"object": obj}}
    ).encode()
    t = int(time.time())
    return body, {"Stripe-Signature": f"t={t},v1={stripe_signature(WEBHOOK, t, body)}"}


async def test_payouts_through_stripe_connect(
    client: httpx.AsyncClient, runtime: Runtime, stripe: tuple[str, StripeState], tmp_path: Path
) -> None:
    _, state = stripe
    owners = {}
    for name, destination in (
        ("alpha", "acct_alpha123"),
        ("beta", "acct_nowhere1"),
        ("gamma", "acct_gamma123"),
        ("delta", None),
    ):
        user_id, api_key = await account_with_key(runtime)
        owners[name] = user_id
        if destination:
            signed_in = await session_for(runtime, user_id)
            answer = await client.put(
                "/api/v1/user/payout-account",
                headers=bearer(signed_in),
                json={"destination": destination},
            )
            assert answer.status_code == 200, answer.text
        refused = await client.put(
            "/api/v1/user/payout-account",
            headers=bearer(api_key),
            json={"destination": "acct_stolen123"},
        )
        assert refused.status_code == 403  # an API key cannot redirect earnings
    await _closed_month(runtime, list(owners.values()))
    alpha = await _state(runtime, owners["alpha"])
    assert alpha.amount == 56_250 and alpha.state == "pending"  # 75% of 3,000.00 / 4

    # a send that crashed after Stripe made the transfer: the rerun pays nothing more
    provider = stripe_connect.provider_for(runtime)
    assert provider is not None
    first = await provider.transfer(alpha, "acct_alpha123")
    report = await scheduled.send_payouts(runtime, provider)
    assert (report.sent, report.failed, report.left) == (2, 1, 0)
    assert [t["destination"] for t in state.transfers].count("acct_alpha123") == 1
    alpha = await _state(runtime, owners["alpha"])
    assert alpha.state == "sent" and alpha.reference == first
    assert await _payable(runtime, alpha) == 0  # its money left the payable account
    beta = await _state(runtime, owners["beta"])
    assert beta.state == "failed" and "No such destination" in (beta.error or "")
    assert await _payable(runtime, beta) == -56_250  # still owed
    assert (await _state(runtime, owners["delta"])).state == "pending"  # nowhere to pay yet

    # Stripe confirms alpha's transfer and reverses gamma's, by signed webhooks
    gamma = await _state(runtime, owners["gamma"])
    for kind, payout in (("transfer.created", alpha), ("transfer.reversed", gamma)):
        body, headers = _stripe_event(
            kind,
            {
                "id": payout.reference,
                "object": "transfer",
                "metadata": {"payout_id": str(payout.id)},
            },
        )
        answer = await client.post("/webhooks/stripe", content=body, headers=headers)
        assert answer.json()["outcome"] == "applied", answer.text
    assert (await _state(runtime, owners["alpha"])).state == "confirmed"
    gamma = await _state(runtime, owners["gamma"])
    assert gamma.state == "failed" and await _payable(runtime, gamma) == -56_250

    # beta fixes the account; the operator retries; it is sent
    signed_in = await session_for(runtime, owners["beta"])
    await client.put(
        "/api/v1/user/payout-account",
        headers=bearer(signed_in),
        json={"destination": "acct_gamma123"},
    )
    async with unit_of_work(runtime) as session:
        await payouts.retry(session, beta.id)
    state.outages = 1  # Stripe is down: the payout stays pending for the next run
    report = await scheduled.send_payouts(runtime, provider)
    assert (report.sent, report.failed, report.left) == (0, 0, 1)
    assert (await scheduled.send_payouts(runtime, provider)).sent == 1
    assert (await _state(runtime, owners["beta"])).state == "sent"

    # delta is paid by hand: exported, then marked sent with the bank's reference
    env = {"ATELIER_DATABASE_URL": runtime.database_url, "ATELIER_HOME": str(tmp_path)}
    runner = CliRunner()
    exported = await asyncio.to_thread(
        runner.invoke, app, ["economy", "payouts", "export", "--month", "2026-09"], env=env
    )
    assert exported.exit_code == 0, exported.output
    delta = await _state(runtime, owners["delta"])
    assert f"{delta.id},2026-09,USD,56250,562.50," in exported.output
    marked = await asyncio.to_thread(
        runner.invoke,
        app,
        ["economy", "payouts", "mark", str(delta.id), "sent", "--reference", "SEPA-42"],
        env=env,
    )
    assert marked.exit_code == 0 and "sent" in marked.output, marked.output
    again = await asyncio.to_thread(
        runner.invoke, app, ["economy", "payouts", "mark", str(delta.id), "sent"], env=env
    )
    assert again.exit_code == 2 and "not pending" in again.output
    assert await _payable(runtime, delta) == 0
    async with unit_of_work(runtime) as session:
        journal = await money.journal(session)
    assert "SEPA-42" in journal


@pytest.mark.parametrize(
    "body",
    [
        {"destination": "acct_"},
        {"destination": "https://evil.example"},
        {"destination": "acct_x" * 30},
        {"provider": "paypal", "destination": "acct_alpha123"},
        {"destination": "acct_ok12345", "extra": 1},
    ],
)
async def test_bad_payout_accounts_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any]
) -> None:
    user_id, _ = await account_with_key(runtime)
    signed_in = await session_for(runtime, user_id)
    answer = await client.put("/api/v1/user/payout-account", headers=bearer(signed_in), json=body)
    assert answer.status_code == 422, answer.text
    mine = await client.get("/api/v1/user/payout-account", headers=bearer(signed_in))
    assert mine.json() is None
