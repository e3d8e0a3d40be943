"""Chaos: the API, the task worker and a generation worker are SIGKILLed mid-flight and come
back; no job, artifact step or vote is lost or doubled.

The processes are laid out as in production: API processes and a task worker on one
PostgreSQL, a volunteer worker over HTTP, and a chain they reach over JSON-RPC (here the
embedded chain of a separate `atelier serve governance` that is never killed, standing in for
an external node).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from atelier.core.events import OutboxDelivery, OutboxEvent, handlers_for
from atelier.core.flows import FlowRun, FlowStep
from atelier.core.runtime import Runtime
from atelier.governance.models import Proposal, Vote
from atelier.grid.events import ArtifactAccepted
from atelier.grid.models import Artifact, GenerationRequest
from atelier.provenance.flows import SIGN_ARTIFACT
from atelier.provenance.models import CorpusItem, ProvenanceRecord
from tests.governance.helpers import signed_vote, verified_voter
from tests.grid.helpers import account_with_key
from tests.servers import atelier_env, free_port, running_server, start_worker, wait_healthy

JOBS = 8
VOTERS = 12
GENEROUS = {f"ATELIER_RATE_LIMIT_{k}": "1000000/minute" for k in ("AUTH", "WRITE", "WORKER")}


def _spawn(args: list[str], home: Path, database_url: str, log: Path, **env: str) -> Any:
    return subprocess.Popen(
        [sys.executable, "-m", "atelier", *args],
        env=atelier_env(home, database_url, **env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _until(what: str, check: Any, timeout_s: float = 180) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with_result = await check()
        if with_result:
            return with_result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _post(url: str, **kwargs: Any) -> httpx.Response:
    """POST as a patient client does: through a server restart, with the same request."""
    deadline = time.monotonic() + 90
    while True:
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                return await http.post(url, **kwargs)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def test_sigkill_mid_flight_loses_and_doubles_nothing(
    client: httpx.AsyncClient, runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    logs = tmp_path / "logs"
    logs.mkdir()
    with running_server(home, database_url, ["governance"]) as chain_host:
        chain = httpx.get(f"{chain_host}/api/chain").json()
        env = {
            **GENEROUS,
            "ATELIER_CHAIN_RPC_URL": chain["rpc_url"],
            "ATELIER_CHAIN_TOKEN_ADDRESS": chain["token"],
            "ATELIER_CHAIN_VOTING_ADDRESS": chain["voting"],
            "ATELIER_GRID_LEASE_MIN_S": "4",
            "ATELIER_GRID_LEASE_FACTOR": "1",
        }
        port = free_port()
        url = f"http://localhost:{port}"

        def api() -> Any:
            process = _spawn(
                ["serve", "grid", "provenance", "governance", "--port", str(port)],
                home,
                database_url,
                logs / "api.log",
                **env,
            )
            wait_healthy(url, process)
            return process

        def tasks() -> Any:
            return _spawn(["tasks"], home, database_url, logs / "tasks.log", **env)

        _, creator = await account_with_key(runtime)
        _, volunteer = await account_with_key(runtime, ["worker"])
        _, validator = await account_with_key(runtime, ["creator", "validator"])
        creator_auth = {"Authorization": f"Bearer {creator}"}
        processes: dict[str, Any] = {"api": api(), "tasks": tasks()}
        processes["worker"] = start_worker(home, url, volunteer, "chaos-1", "--kinds", "image")
        try:
            jobs = []
            for i in range(JOBS):
                submitted = await _post(
                    f"{url}/api/v1/generate",
                    json={"kind": "image", "prompt": f"chaos {i}", "width": 256, "height": 256},
                    headers={**creator_auth, "Idempotency-Key": f"job-{i}"},
                )
                assert submitted.status_code == 202, submitted.text
                jobs.append(submitted.json()["id"])

            async def states() -> list[str]:
                async with httpx.AsyncClient(timeout=30) as http:
                    answers = [
                        await http.get(f"{url}/api/v1/generate/status/{j}", headers=creator_auth)
                        for j in jobs
                    ]
                return [a.json()["state"] for a in answers if a.status_code == 200]

            # 1. the generation worker dies holding a job; another takes over after the lease
            await _until("a job in progress", lambda: _any(states, {"assigned", "processing"}))
            processes["worker"].kill()
            processes["worker"].wait()
            processes["worker"] = start_worker(home, url, volunteer, "chaos-2", "--kinds", "image")

            # 2. the task worker dies while provenance signs what the grid accepted
            await _until("a result being signed", lambda: _any(states, {"signing", "done"}))
            processes["tasks"].kill()
            processes["tasks"].wait()
            processes["tasks"] = tasks()

            # 3. the API dies while votes come in; voters retry the same signed vote
            proposal = await _post(
                f"{url}/api/proposals",
                headers={
                    "Authorization": f"Bearer {validator}",
                    "Idempotency-Key": "chaos-proposal",
                },
                json={"title": "Chaos?", "ends_at": "2099-01-01T00:00:00Z"},
            )
            assert proposal.status_code == 201, proposal.text
            proposal_id = proposal.json()["id"]
            voters = [await verified_voter(client, runtime) for _ in range(VOTERS)]
            async with httpx.AsyncClient(base_url=url, timeout=30) as real:  # its chain's domain
                ballots = [await signed_vote(real, proposal_id, v, "approve") for v in voters]
            casting = [asyncio.create_task(_post(f"{url}/api/vote", json=b)) for b in ballots]
            await asyncio.sleep(0.05)
            processes["api"].kill()
            processes["api"].wait()
            processes["api"] = api()
            for answer in await asyncio.gather(*casting):
                assert answer.status_code in (200, 201), answer.text
            for ballot in ballots:  # every voter sends theirs once more: nothing doubles
                assert (await _post(f"{url}/api/vote", json=ballot)).status_code == 200

            final = await _until(
                "every job done", lambda: _all(states, {"done"}, len(jobs)), timeout_s=240
            )
            assert final

            # A job is done for its creator once signed; its proposal comes from another
            # reaction to the same event, which may still be in the queue.
            async def proposals_made() -> bool:
                async with httpx.AsyncClient(timeout=30) as http:
                    answers = [await http.get(f"{url}/api/proposals/{j}") for j in jobs]
                return all(a.status_code == 200 for a in answers)

            assert await _until("every job's proposal", proposals_made, timeout_s=120)

            # the other reactions (economy, films) may still be queued: the task worker must
            # deliver them before it is stopped (else they wait for the next worker)
            async def all_reactions_delivered() -> bool:
                expected = len(handlers_for(ArtifactAccepted.topic)) * len(jobs)
                return await _deliveries(runtime, jobs) == expected

            assert await _until("every reaction delivered", all_reactions_delivered, 120)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()

    await _assert_nothing_lost_or_doubled(
        runtime, [uuid.UUID(j) for j in jobs], uuid.UUID(proposal_id)
    )


async def _deliveries(runtime: Runtime, jobs: list[str]) -> int:
    """How many reactions to the jobs' ArtifactAccepted events were delivered."""
    async with runtime.sessions() as session:
        events = select(OutboxEvent.id).where(
            OutboxEvent.topic == ArtifactAccepted.topic,
            OutboxEvent.payload["request_id"].astext.in_(jobs),
        )
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(OutboxDelivery.event_id.in_(events))
        )
    return int(count or 0)


async def _any(states: Any, wanted: set[str]) -> bool:
    return any(state in wanted for state in await states())


async def _all(states: Any, wanted: set[str], count: int) -> bool:
    seen = await states()
    return len(seen) == count and all(state in wanted for state in seen)


async def _assert_nothing_lost_or_doubled(
    runtime: Runtime, jobs: list[uuid.UUID], proposal_id: uuid.UUID
) -> None:
    async with runtime.sessions() as session:
        requests = list(
            await session.scalars(select(GenerationRequest).where(GenerationRequest.id.in_(jobs)))
        )
        assert {r.state for r in requests} == {"done"} and len(requests) == len(jobs)
        artifacts = list(
            await session.scalars(select(Artifact).where(Artifact.request_id.in_(jobs)))
        )
        assert len(artifacts) == len(jobs)  # one accepted result per job
        ids = [a.id for a in artifacts]
        records = list(
            await session.scalars(
                select(ProvenanceRecord).where(ProvenanceRecord.artifact_id.in_(ids))
            )
        )
        assert len(records) == len(jobs)
        for record in records:
            assert record.manifest_state == "signed", record.error
        runs = list(
            await session.scalars(
                select(FlowRun).where(
                    FlowRun.flow == SIGN_ARTIFACT.name, FlowRun.key.in_([str(i) for i in ids])
                )
            )
        )
        assert [r.state for r in runs] == ["succeeded"] * len(jobs)  # one run per artifact
        signs = await session.scalar(
            select(func.count())
            .select_from(FlowStep)
            .where(
                FlowStep.run_id.in_([r.id for r in runs]),
                FlowStep.name == "sign",
                FlowStep.state == "done",
            )
        )
        assert signs == len(jobs)
        corpus = await session.scalar(
            select(func.count()).select_from(CorpusItem).where(CorpusItem.artifact_id.in_(ids))
        )
        assert corpus == len(jobs)  # each artifact joined the corpus once
        events = list(
            await session.scalars(
                select(OutboxEvent.id).where(
                    OutboxEvent.topic == ArtifactAccepted.topic,
                    OutboxEvent.payload["request_id"].astext.in_([str(j) for j in jobs]),
                )
            )
        )
        assert len(events) == len(jobs)  # one event per accepted result
        deliveries = await session.scalar(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(OutboxDelivery.event_id.in_(events))
        )
        # provenance, governance, the economy, films: each handler once per event
        handlers = len(handlers_for(ArtifactAccepted.topic))
        assert handlers == 4 and deliveries == handlers * len(jobs)
        job_proposals = await session.scalar(
            select(func.count()).select_from(Proposal).where(Proposal.job_id.in_(jobs))
        )
        assert job_proposals == len(jobs)
        votes = list(await session.scalars(select(Vote).where(Vote.proposal_id == proposal_id)))
        assert len(votes) == VOTERS and len({v.voter for v in votes}) == VOTERS
