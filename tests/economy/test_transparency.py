"""From signed webhooks and a volunteer's accepted jobs to a published month that anyone
can check: the transparency API, its CSV files, the page, the recompute script (which
imports nothing of Atelier), the contributor's earnings, and the journal beancount accepts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from beancount import loader
from typer.testing import CliRunner

from atelier.cli import app
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import money, months
from atelier.economy.signatures import github_signature, stripe_signature
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, asgi_client, session_for, worker_loop
from tests.helpers import bearer, drain_tasks

STRIPE = "whsec_transparency_" + "c" * 24
GITHUB = "sponsors-transparency-" + "d" * 12
RECOMPUTE = Path(__file__).parents[2] / "docs" / "transparency" / "recompute.py"
BASE = "/api/v1/transparency"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        database_url,
        stripe_webhook_secret=STRIPE,
        github_sponsors_webhook_secret=GITHUB,
        economy_escrow_canaries=0,
        economy_escrow_days=0,
    )


async def _donate(client: httpx.AsyncClient) -> None:
    stripe = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_e2e", "amount_received": 10_001, "currency": "usd"}},
        }
    ).encode()
    t = int(time.time())
    answer = await client.post(
        "/webhooks/stripe",
        content=stripe,
        headers={"Stripe-Signature": f"t={t},v1={stripe_signature(STRIPE, t, stripe)}"},
    )
    assert answer.json()["outcome"] == "applied", answer.text
    github = json.dumps(
        {
            "action": "created",
            "sponsorship": {
                "node_id": "S_e2e",
                "sponsor": {"login": "octocat"},
                "tier": {"monthly_price_in_cents": 500, "is_one_time": False},
            },
        }
    ).encode()
    answer = await client.post(
        "/webhooks/github-sponsors",
        content=github,
        headers={
            "X-Hub-Signature-256": github_signature(GITHUB, github),
            "X-GitHub-Event": "sponsorship",
            "X-GitHub-Delivery": str(uuid.uuid4()),
        },
    )
    assert answer.json()["outcome"] == "applied", answer.text


def _distribute(settings: Settings, *args: str) -> str:
    env = {
        "ATELIER_DATABASE_URL": str(settings.database_url.get_secret_value()),  # type: ignore[union-attr]
        "ATELIER_HOME": str(settings.home),
        "ATELIER_ECONOMY_ESCROW_CANARIES": "0",
        "ATELIER_ECONOMY_ESCROW_DAYS": "0",
    }
    result = CliRunner().invoke(app, ["economy", "distribute", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_month_from_webhooks_and_work_to_a_checked_publication(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    await _donate(client)
    _, creator = await account_with_key(runtime)
    volunteer_id, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    for size in (64, 128):
        await grid.generate(
            {"kind": "image", "prompt": "a lighthouse", "width": size, "height": size}
        )
    await grid.close()
    async with worker_loop(client, volunteer, "lighthouse-rig", tmp_path, max_jobs=2) as loop:
        await asyncio.wait_for(loop.run(), 120)
    await drain_tasks(runtime)  # ArtifactAccepted → the economy counts the work

    label = months.label(months.of(now_utc()))
    current = (await client.get(f"{BASE}/current")).json()
    assert current["state"] == "open" and current["month"] == label
    assert current["donations"] == {"USD": {"GitHub-Sponsors": 500, "Stripe": 10_001}}
    assert current["contributors"] == 1
    assert current["shares"][0]["worker_name"] == "lighthouse-rig"
    assert current["pools"][0]["workers"] == 7_876  # 75% of 10,501 = 7,875.75

    # the worker is unregistered before the month closes: its accepted work still counts
    public = (await client.get("/api/v1/workers/status")).json()
    rig = next(w for w in public["workers"] if w["name"] == "lighthouse-rig")
    gone = await client.delete(f"/api/v1/workers/{rig['id']}", headers=bearer(volunteer))
    assert gone.status_code == 204, gone.text

    dry = await asyncio.to_thread(_distribute, settings, label, "--dry-run", "--early")
    assert "dry run" in dry and "lighthouse-rig" in dry
    assert (await client.get(f"{BASE}/current")).json()["state"] == "open"
    closed = await asyncio.to_thread(_distribute, settings, label, "--early")
    assert "month digest" in closed

    month = (await client.get(f"{BASE}/month/{label}")).json()
    assert month["state"] == "closed" and month["digest"]
    postings = (await client.get(f"{BASE}/month/{label}/postings.csv")).content
    assert hashlib.sha256(postings).hexdigest() == month["digest"]
    shares = (await client.get(f"{BASE}/month/{label}/shares.csv")).text
    assert shares.splitlines()[1].endswith(",7876,payable")
    months_csv = (await client.get(f"{BASE}/months.csv")).text
    assert f"{label},USD,10501,7876,1575,1050,0,{month['digest']}" in months_csv
    stats = (await client.get(f"{BASE}/stats")).json()
    assert stats["distributed"]["USD"] == {
        "Development": 1_050,
        "Infrastructure": 1_575,
        "Workers": 7_876,
    }

    files = tmp_path / "month.json", tmp_path / "postings.csv", tmp_path / "shares.csv"
    files[0].write_text(json.dumps(month))
    files[1].write_bytes(postings)
    files[2].write_text(shares)
    check = subprocess.run(
        [sys.executable, "-I", str(RECOMPUTE), "--files", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "add up" in check.stdout
    files[2].write_text(shares.replace(",7876,", ",7875,"))  # a tampered share
    tampered = subprocess.run(
        [sys.executable, "-I", str(RECOMPUTE), "--files", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tampered.returncode == 1 and "MISMATCH" in tampered.stdout

    async with unit_of_work(runtime) as session:
        journal = await money.journal(session)
    _, errors, _ = loader.load_string(journal)
    assert errors == []

    page = await client.get(f"/transparency?month={label}")
    assert page.status_code == 200
    assert month["digest"] in page.text and "lighthouse-rig" in page.text
    bad = await client.get("/transparency?month=2026-13")
    assert bad.status_code == 422 and "is not a month" in bad.text

    signed_in = await session_for(runtime, volunteer_id)
    mine = (await client.get("/api/v1/user/earnings", headers=bearer(signed_in))).json()
    assert mine["months"][0] == {
        "month": label,
        "currency": "USD",
        "shares": 7_876,
        "escrowed": 0,
        "payouts": {"pending": 7_876},
    }


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{BASE}/month/2026-13", 422),
        (f"{BASE}/month/..%2F..%2Fetc", 404),
        (f"{BASE}/month/2999-01", 404),
        (f"{BASE}/month/2026-1%00", 422),
        (f"{BASE}/month/{'9' * 5000}", 422),
        (f"{BASE}/month/2999-01/postings.csv", 404),
    ],
)
async def test_bad_months_are_clear_problems(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    answer = await client.get(path)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
