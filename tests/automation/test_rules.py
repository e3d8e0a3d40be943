"""Automation end to end: a rule saved over the API fires in the task worker when its event
commits; its actions run once each with a log; loops are cut, rates limited, failures
retried alone and logged; webhook triggers check their signature; dry runs do nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import func, select

from atelier.automation import actions as acts
from atelier.automation import flows as automation_flows
from atelier.automation import service as automation
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.grid.models import GenerationRequest
from atelier.server.app import create_app
from atelier.social import farcaster
from atelier.social.api import standin
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, worker_loop
from tests.helpers import bearer, drain_tasks, serving
from tests.servers import free_port


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, automation_private_targets=True
    )


@pytest.fixture(scope="module")
async def url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    """The app served for real: the embedded hub lives at the settings' origin."""
    async with serving(create_app(settings, runtime=runtime), free_port()) as base:
        runtime.settings.__dict__["origin"] = base
        yield base


async def _rule(client: httpx.AsyncClient, key: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/automation/rules", headers=bearer(key), json=body)


async def _runs(client: httpx.AsyncClient, key: str, rule_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/automation/rules/{rule_id}/runs", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def _jobs_of(runtime: Runtime, user_id: uuid.UUID) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(GenerationRequest)
            .where(GenerationRequest.user_id == user_id)
        )
    return int(found or 0)


async def _submit(client: httpx.AsyncClient, key: str, prompt: str = "a fox") -> str:
    answer = await client.post(
        "/api/v1/generate", headers=bearer(key), json={"kind": "image", "prompt": prompt}
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ({"trigger": {"kind": "event", "topic": "grid.nope"}}, "topic", "not an event"),
        (
            {"conditions": [{"field": "colour", "op": "eq", "value": "red"}]},
            "conditions",
            "no field 'colour'",
        ),
        (
            {"conditions": [{"field": "state", "op": "gt", "value": "done"}]},
            "conditions",
            "compares numbers",
        ),
        (
            {"conditions": [{"field": "progress", "op": "eq", "value": "half"}]},
            "conditions",
            "not a number",
        ),
        ({"actions": [{"kind": "post_cast", "text": "hi"}]}, "actions", "only an admin"),
        (
            {"actions": [{"kind": "submit_job", "job": "opera", "prompt": "x"}]},
            "actions",
            "job kind",
        ),
        ({"actions": [{"kind": "webhook", "url": "ftp://x"}]}, "actions", "http(s)"),
        ({"trigger": {"kind": "schedule", "schedule": "every tuesday"}}, "schedule", "cron"),
    ],
)
async def test_a_rule_that_cannot_work_is_refused_with_the_field(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any], where: str, words: str
) -> None:
    _, key = await account_with_key(runtime)
    rule = {
        "name": "r",
        "trigger": {"kind": "event", "topic": "grid.job_changed"},
        "actions": [{"kind": "email", "subject": "s", "body": "b"}],
        **body,
    }
    answer = await _rule(client, key, rule)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/invalid-rule" and words in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", where]


async def test_when_a_job_finishes_an_admins_rule_casts_it(
    url: str, client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    _, volunteer = await account_with_key(runtime)
    created = await _rule(
        client,
        admin,
        {
            "name": "announce",
            "trigger": {"kind": "event", "topic": "grid.job_changed"},
            "conditions": [{"field": "state", "op": "eq", "value": "done"}],
            "actions": [{"kind": "post_cast", "text": "a {kind} job just finished"}],
        },
    )
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    await _submit(client, admin)
    async with worker_loop(client, volunteer, "w-auto", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), timeout=120)
    await drain_tasks(runtime)
    await drain_tasks(runtime)
    runs = await _runs(client, admin, rule_id)
    done = [r for r in runs if r["outcome"] == "done"]
    assert len(done) == 1, runs  # queued, assigned, processing did not match; done did, once
    cast_hash = done[0]["results"][0]["hash"]
    kept = standin(runtime).cast_by_id(runtime.settings.farcaster_fid, cast_hash)
    assert kept is not None
    assert farcaster.verify(kept).body["text"] == "a image job just finished"


async def test_a_rule_sees_only_its_owners_events(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, watcher = await account_with_key(runtime)
    _, other = await account_with_key(runtime)
    created = await _rule(
        client,
        watcher,
        {
            "name": "spy",
            "trigger": {"kind": "event", "topic": "grid.job_changed"},
            "actions": [{"kind": "email", "subject": "seen", "body": "{request_id}"}],
        },
    )
    rule_id = created.json()["id"]
    await _submit(client, other)
    await drain_tasks(runtime)
    assert await _runs(client, watcher, rule_id) == []
    mine = await _submit(client, watcher)
    await drain_tasks(runtime)
    runs = await _runs(client, watcher, rule_id)
    assert [r["inputs"]["request_id"] for r in runs] == [mine]
    assert runs[0]["outcome"] == "done"
    other_sees = await client.get(f"/api/automation/rules/{rule_id}/runs", headers=bearer(other))
    assert other_sees.status_code == 404


async def test_a_rule_triggering_itself_is_cut_off(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A rule that submits a job whenever a job of its owner is queued would run forever:
    the job it submits carries its chain, and the second firing is cut off, logged."""
    user_id, key = await account_with_key(runtime)
    created = await _rule(
        client,
        key,
        {
            "name": "echo",
            "trigger": {"kind": "event", "topic": "grid.job_changed"},
            "conditions": [{"field": "state", "op": "eq", "value": "queued"}],
            "actions": [{"kind": "submit_job", "job": "image", "prompt": "again: {request_id}"}],
        },
    )
    rule_id = created.json()["id"]
    await _submit(client, key, "the first")
    for _ in range(3):
        await drain_tasks(runtime)
    runs = await _runs(client, key, rule_id)
    outcomes = sorted(r["outcome"] for r in runs)
    assert outcomes == ["done", "loop_cut"], runs
    cut = next(r for r in runs if r["outcome"] == "loop_cut")
    assert "loop cut off" in cut["error"] and cut["chain"] == [rule_id]
    assert await _jobs_of(runtime, user_id) == 2  # the first, and one echo


async def test_a_rule_over_its_rate_is_refused_and_logged(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    created = await _rule(
        client,
        key,
        {
            "name": "chatty",
            "trigger": {"kind": "event", "topic": "grid.job_changed"},
            "actions": [{"kind": "email", "subject": "job", "body": "{state}"}],
            "max_runs_per_hour": 1,
        },
    )
    rule_id = created.json()["id"]
    await _submit(client, key)
    await _submit(client, key)
    await drain_tasks(runtime)
    outcomes = sorted(r["outcome"] for r in await _runs(client, key, rule_id))
    assert outcomes == ["done", "rate_limited"]


def _receiver(seen: list[dict[str, Any]], failures: list[int]) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        if failures:
            failures.pop()
            from fastapi import HTTPException

            raise HTTPException(status_code=503)
        seen.append({"body": json.loads(await request.body()), "headers": dict(request.headers)})
        return {"ok": "yes"}

    return app


async def test_a_failing_webhook_is_retried_alone_and_never_doubles_the_job_before_it(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    seen: list[dict[str, Any]] = []
    failures = [503]
    async with serving(_receiver(seen, failures), free_port()) as receiver:
        user_id, key = await account_with_key(runtime)
        created = await _rule(
            client,
            key,
            {
                "name": "hook",
                "trigger": {"kind": "webhook"},
                "actions": [
                    {"kind": "submit_job", "job": "image", "prompt": "{subject}"},
                    {"kind": "webhook", "url": f"{receiver}/hook", "body": '{"job": "{subject}"}'},
                ],
            },
        )
        assert created.status_code == 201, created.text
        rule = created.json()
        secret = rule["webhook_secret"].encode()
        body = json.dumps({"subject": "otter"}).encode()
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        headers = {"X-Atelier-Signature": signature, "X-Atelier-Delivery": "d-1"}
        forged = await client.post(
            rule["webhook_url"],
            content=body,
            headers={**headers, "X-Atelier-Signature": "sha256=00"},
        )
        assert forged.status_code == 403
        fired = await client.post(rule["webhook_url"], content=body, headers=headers)
        assert fired.status_code == 202 and fired.json() == {"fired": True}
        again = await client.post(rule["webhook_url"], content=body, headers=headers)
        assert again.json() == {"fired": False} or again.status_code == 202
        for _ in range(4):
            await drain_tasks(runtime)
            await asyncio.sleep(2.5)  # the failed step's backoff
        runs = await _runs(client, key, rule["id"])
    assert [r["outcome"] for r in runs] == ["done"], runs
    assert [r["kind"] for r in runs[0]["results"]] == ["submit_job", "webhook"]
    assert len(seen) == 1 and seen[0]["body"] == {"job": "otter"}
    assert seen[0]["headers"]["x-atelier-delivery"].endswith(":2")
    assert await _jobs_of(runtime, user_id) == 1  # not submitted again by the retry


async def test_a_dry_run_shows_and_does_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_id, key = await account_with_key(runtime)
    created = await _rule(
        client,
        key,
        {
            "name": "dry",
            "trigger": {"kind": "event", "topic": "grid.job_changed"},
            "conditions": [{"field": "progress", "op": "gte", "value": 0.5}],
            "actions": [{"kind": "submit_job", "job": "music", "prompt": "for {request_id}"}],
        },
    )
    rule_id = created.json()["id"]
    event = {"request_id": str(uuid.uuid4()), "state": "processing", "progress": 0.75}
    answer = await client.post(
        f"/api/automation/rules/{rule_id}/dry-run", headers=bearer(key), json={"event": event}
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["matched"] is True and found["would"] == "run its actions"
    assert found["actions"][0]["prompt"] == f"for {event['request_id']}"
    runs = await _runs(client, key, rule_id)
    assert [r["outcome"] for r in runs] == ["dry_run"]
    assert await _jobs_of(runtime, user_id) == 0


async def test_a_webhook_proposes_and_runs_an_agent(
    url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A delivery makes a proposal and starts a studio agent, both the owner's, once."""
    _, key = await account_with_key(runtime, ["validator"])
    created = await _rule(
        client,
        key,
        {
            "name": "ideas",
            "trigger": {"kind": "webhook"},
            "actions": [
                {"kind": "create_proposal", "title": "Make {subject}?", "body": "from a hook"},
                {"kind": "run_agent", "template": "music-pack", "prompt": "{subject} in rain"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    body = json.dumps({"subject": "otters"}).encode()
    secret = rule["webhook_secret"].encode()
    headers = {
        "X-Atelier-Signature": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
        "X-Atelier-Delivery": "ideas-1",
    }
    assert (await client.post(rule["webhook_url"], content=body, headers=headers)).json() == {
        "fired": True
    }
    await drain_tasks(runtime)
    runs = await _runs(client, key, rule["id"])
    assert [r["outcome"] for r in runs] == ["done"], runs
    made = {r["kind"]: r for r in runs[0]["results"]}
    proposal = await client.get(f"/api/proposals/{made['create_proposal']['proposal_id']}")
    assert proposal.status_code == 200 and proposal.json()["title"] == "Make otters?"
    agent = await client.get(
        f"/api/studio/agents/{made['run_agent']['agent_id']}", headers=bearer(key)
    )
    assert agent.json()["params"]["prompt"] == "otters in rain"
    assert agent.json()["status"] in ("running", "done")
    bad = await _rule(
        client,
        key,
        {
            "name": "x",
            "trigger": {"kind": "webhook"},
            "actions": [{"kind": "run_agent", "template": "opera", "prompt": "x"}],
        },
    )
    assert bad.status_code == 422 and "not an agent template" in bad.json()["detail"]


async def test_a_scheduled_rule_fires_once_per_time_and_misses_are_not_made_up(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The every-minute task, run as the clock moves on: one run for the latest due time,
    none again for the same time, none for an event rule; a schedule only on a schedule."""
    _, key = await account_with_key(runtime)
    created = await _rule(
        client,
        key,
        {
            "name": "hourly",
            "trigger": {"kind": "schedule", "schedule": "0 * * * *"},
            "actions": [{"kind": "email", "subject": "tick", "body": "at {scheduled_for}"}],
        },
    )
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    later = now_utc() + timedelta(hours=3, minutes=1)  # three hours due: one run, not three
    async with unit_of_work(runtime) as session:
        fired = await automation.fire_schedules(session, later)
        await automation_flows.start(session, fired)
    async with unit_of_work(runtime) as session:
        assert await automation.fire_schedules(session, later) == []
    await drain_tasks(runtime)
    runs = await _runs(client, key, rule_id)
    assert [r["outcome"] for r in runs] == ["done"], runs
    expected = later.replace(minute=0, second=0, microsecond=0).isoformat()
    assert runs[0]["inputs"] == {"scheduled_for": expected}
    event_rule = await _rule(
        client,
        key,
        {
            "name": "e",
            "trigger": {"kind": "event", "topic": "grid.job_changed"},
            "actions": [{"kind": "email", "subject": "s", "body": "b"}],
        },
    )
    refused = await client.patch(
        f"/api/automation/rules/{event_rule.json()['id']}",
        headers=bearer(key),
        json={"schedule": "* * * * *"},
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["body", "schedule"]
    renamed = await client.patch(
        f"/api/automation/rules/{rule_id}", headers=bearer(key), json={"schedule": "nonsense"}
    )
    assert renamed.status_code == 422


def test_a_webhook_is_sent_to_the_address_that_was_checked() -> None:
    """DNS rebinding: the URL's host is replaced by the address checked, the host name kept
    for `Host` and (over TLS) for the certificate's check, so a second lookup cannot send
    the request elsewhere."""
    url, host, extensions = acts.pinned("https://hooks.example.org:8443/in?x=1", "93.184.216.34")
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert host == {"Host": "hooks.example.org:8443"}
    assert extensions == {"sni_hostname": "hooks.example.org"}
    url, host, extensions = acts.pinned("http://hooks.example.org/in", "2606:2800:220:1::1")
    assert url == "http://[2606:2800:220:1::1]/in" and host == {"Host": "hooks.example.org"}
    assert extensions == {}
    assert acts.pinned("http://localhost:9/x", None) == ("http://localhost:9/x", {}, {})


async def test_a_host_answering_a_private_address_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every address a host resolves to must be public; the first is the one called."""
    answers: dict[str, list[str]] = {
        "public.example": ["93.184.216.34", "93.184.216.35"],
        "mixed.example": ["93.184.216.34", "10.0.0.7"],
        "loopback.example": ["127.0.0.1"],
    }

    async def resolve(host: str, port: int, **_: Any) -> list[Any]:
        if host not in answers:
            raise OSError("no such host")
        return [(2, 1, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(acts.anyio, "getaddrinfo", resolve)
    closed = settings.model_copy(update={"automation_private_targets": False})
    assert await acts.public_address(closed, "public.example", 443) == "93.184.216.34"
    for host in ("mixed.example", "loopback.example", "nowhere.example"):
        with pytest.raises(acts.TargetRefused):
            await acts.public_address(closed, host, 443)
    assert await acts.public_address(settings, "loopback.example", 443) is None  # allowed here
