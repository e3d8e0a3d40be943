"""GitHub Sponsors webhooks, signed as GitHub signs them (X-Hub-Signature-256 over the raw
body): a new sponsorship is posted once per delivery and per sponsorship; forged, unsigned
and other events post nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import money
from atelier.economy.signatures import github_signature
from tests.conftest import make_settings

SECRET = "sponsors-secret-" + "b" * 16
CLEARING = ("Assets:Clearing:GitHub-Sponsors", "USD")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, github_sponsors_webhook_secret=SECRET
    )


def _sponsorship(action: str, cents: Any = 500, one_time: bool = False) -> bytes:
    return json.dumps(
        {
            "action": action,
            "sponsorship": {
                "node_id": f"S_{uuid.uuid4().hex[:12]}",
                "sponsor": {"login": "octocat"},
                "tier": {"monthly_price_in_cents": cents, "is_one_time": one_time},
            },
        }
    ).encode()


def _headers(body: bytes, secret: str = SECRET, event: str = "sponsorship") -> dict[str, str]:
    return {
        "X-Hub-Signature-256": github_signature(secret, body),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


async def _clearing(runtime: Runtime) -> int:
    async with unit_of_work(runtime) as session:
        return (await money.balances(session)).get(CLEARING, 0)


async def test_a_sponsorship_redelivered_concurrently_posts_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await _clearing(runtime)
    body = _sponsorship("created", 2500, one_time=True)
    headers = _headers(body)  # one delivery id: GitHub's "redeliver" sends it again
    answers = await asyncio.gather(
        *(
            client.post("/webhooks/github-sponsors", content=body, headers=headers)
            for _ in range(20)
        )
    )
    assert sorted(a.json()["outcome"] for a in answers) == ["applied"] + ["duplicate"] * 19
    assert await _clearing(runtime) - before == 2500


async def test_other_actions_are_kept_and_post_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await _clearing(runtime)
    body = _sponsorship("cancelled")
    answer = await client.post("/webhooks/github-sponsors", content=body, headers=_headers(body))
    assert answer.json()["outcome"] == "kept"
    ping = await client.post(
        "/webhooks/github-sponsors", content=b"{}", headers=_headers(b"{}", event="ping")
    )
    assert ping.json()["outcome"] == "pong"
    assert await _clearing(runtime) == before


@pytest.mark.parametrize(
    ("make", "status", "slug"),
    [
        (lambda b: _headers(b, secret="forged"), 401, "bad-signature"),
        (lambda b: {**_headers(b), "X-Hub-Signature-256": "sha1=abc"}, 401, "bad-signature"),
        (lambda b: {"X-GitHub-Event": "sponsorship"}, 401, "bad-signature"),
        (lambda b: _headers(b, event="push"), 422, "unknown-event"),
    ],
)
async def test_forged_and_foreign_deliveries_post_nothing(
    client: httpx.AsyncClient, runtime: Runtime, make: Any, status: int, slug: str
) -> None:
    before = await _clearing(runtime)
    body = _sponsorship("created", 700)
    answer = await client.post("/webhooks/github-sponsors", content=body, headers=make(body))
    assert answer.status_code == status
    assert answer.json()["type"] == f"/problems/{slug}"
    assert await _clearing(runtime) == before


@pytest.mark.parametrize("cents", [0, -500, 10**16, "5.00", 12.5])
async def test_absurd_prices_are_refused(client: httpx.AsyncClient, cents: Any) -> None:
    body = _sponsorship("created", cents)
    answer = await client.post("/webhooks/github-sponsors", content=body, headers=_headers(body))
    assert answer.status_code == 422
    assert answer.json()["type"] == "/problems/malformed-event"
