"""A candidate's benchmark, as a flow of persisted steps (core.flows), keyed by its model id:
submit → collect → score.

- submit: each case of the capability's suite becomes a grid job pinned to the candidate (and
  to the champion, when the champion has no scores from this suite yet), owned by the
  engine's system account and charged to no one's quota.
- collect: waits (woken by each benchmark job's `JobEnded`, and by the stalled-run sweep)
  until every job has ended or `engine_benchmark_timeout_s` has passed; a job not done by
  then counts as a failed case.
- score: reads the accepted outputs with no transaction open, scores them against the
  suite's references (engine.suites), then records the scores and applies the decision
  (engine.decisions) in the step's transaction.

A candidate whose weights crash its backend fails its jobs on the workers: its cases fail and
the decision rejects it. Killed at any point, the benchmark resumes at its step.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import anyio
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import flows
from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.flows import Flow, StepContext
from atelier.core.logging import get_logger
from atelier.engine import decisions, provider, quality, service, suites
from atelier.engine import repository as repo
from atelier.engine.models import BenchmarkJob, VersionStatus
from atelier.grid import service as grid
from atelier.grid.events import BENCHMARK_SOURCE
from atelier.identity.service import accounts
from atelier.storage.blobs import store_for

log = get_logger("atelier.engine")

ENGINE_EMAIL = "engine@atelier.local"


class BenchmarkStarted(BaseModel):
    model_id: str
    capability: str


class Submitted(BaseModel):
    at: datetime
    suite: str
    runs: list[str]  # the model ids benchmarked, the candidate first


BENCHMARK: Flow[BenchmarkStarted] = Flow("engine.benchmark", BenchmarkStarted)
Ctx = StepContext[BenchmarkStarted]


async def check_updates(
    session: AsyncSession, settings: Settings, actor: str
) -> service.UpdateReport:
    """The update check: new catalog versions registered and their benchmarks started (they
    run once the caller commits)."""
    report = await service.check_updates(session, settings, actor)
    for model_id, capability in report.found.items():
        started = BenchmarkStarted(model_id=model_id, capability=capability)
        await flows.start(session, BENCHMARK, model_id, started)
    return report


async def fetch_from_provider(settings: Settings) -> provider.SyncReport | None:
    """New versions from the configured provider into the catalog (no transaction open: the
    weights may be large); refusals are logged as alerts."""
    if settings.model_provider_url is None:
        return None
    token = settings.model_provider_token
    report = await anyio.to_thread.run_sync(
        partial(
            provider.sync,
            settings.model_provider_url,
            settings.catalog_dir,
            token=None if token is None else token.get_secret_value(),
            max_bytes=settings.model_provider_max_bytes,
        )
    )
    for label, reason in report.refused.items():
        log.error("engine.alert", source="provider", model=label, problem=reason)
    if report.error:
        log.error("engine.alert", source="provider", problem=report.error)
    return report


async def wake(session: AsyncSession, model_id: str) -> None:
    await flows.wake_run(session, BENCHMARK, model_id)


async def _reject(session: AsyncSession, ctx: Ctx, reason: str) -> None:
    decision = decisions.Decision(decisions.Action.REJECT, [reason])
    await service.apply_decision(
        session, ctx.runtime.settings, ctx.input.model_id, ctx.input.capability, decision
    )


@BENCHMARK.step("submit")
async def submit(ctx: Ctx) -> None:
    settings = ctx.runtime.settings
    try:
        suite = await anyio.to_thread.run_sync(
            suites.load, settings.catalog_dir, ctx.input.capability
        )
    except suites.SuiteError as exc:
        async with ctx.fail(str(exc)) as session:
            await _reject(session, ctx, f"the benchmark suite is unusable: {exc}")
        return
    async with ctx.finish(Submitted(at=now_utc(), suite=suite.digest, runs=[])) as session:
        champion_id = await repo.alias(session, ctx.input.capability, service.CHAMPION)
        champion = None if champion_id is None else await repo.version(session, champion_id)
        runs = [ctx.input.model_id]
        if champion_id is not None and service.comparable_scores(champion, suite.digest) is None:
            runs.append(champion_id)
        account = await accounts.system_account(session, ENGINE_EMAIL, ["creator"])
        principal = await accounts.principal_for(session, account.id, via="engine")
        for model_id in runs:
            for index, case in enumerate(suite.cases):
                request = await grid.submit(
                    session,
                    settings,
                    principal,
                    ctx.input.capability,
                    {**case.fields, "model": model_id},
                    source=BENCHMARK_SOURCE,
                    charge_quota=False,
                )
                job = BenchmarkJob(
                    run_key=ctx.input.model_id,
                    model_id=model_id,
                    case_index=index,
                    request_id=request.id,
                )
                await rows.add(session, job)


@BENCHMARK.step("collect")
async def collect(ctx: Ctx) -> None:
    submitted = ctx.output("submit", Submitted)
    assert submitted is not None
    async with ctx.read() as session:
        jobs = await repo.benchmark_jobs(session, ctx.input.model_id)
        found = await grid.outcomes(session, [job.request_id for job in jobs])
    ended = sum(1 for job in jobs if job.request_id in found and found[job.request_id].ended)
    deadline = submitted.at + timedelta(seconds=ctx.runtime.settings.engine_benchmark_timeout_s)
    if ended < len(jobs) and now_utc() < deadline:
        async with ctx.wait(f"{ended} of {len(jobs)} benchmark jobs ended"):
            return
    async with ctx.finish(note=f"{ended} of {len(jobs)} benchmark jobs ended"):
        return


def _scores_by_model(
    suite: suites.Suite,
    jobs: list[BenchmarkJob],
    found: dict[uuid.UUID, grid.Outcome],
    settings: Settings,
) -> dict[str, decisions.Scores]:
    """Score each benchmarked version's outputs (slow: decoding, SSIM; no transaction)."""
    store = store_for(settings.blobs_dir)
    nets = suites.networks(
        _pinned(settings.engine_lpips_model, settings.engine_lpips_sha256),
        _pinned(settings.engine_fid_model, settings.engine_fid_sha256),
    )
    for problem in nets.problems:  # a configured network that does not load is an alert
        log.error("engine.alert", source="benchmark", problem=problem)
    outputs: dict[str, list[suites.Output]] = {}
    for job in jobs:
        outcome = found.get(job.request_id)
        if outcome is not None and outcome.done and outcome.storage_key is not None:
            output = suites.Output(store.path(outcome.storage_key), compute_s=outcome.compute_s)
        else:
            reason = outcome.reason if outcome is not None and outcome.ended else None
            output = suites.Output(None, error=reason or "not done within the benchmark's time")
        outputs.setdefault(job.model_id, []).append(output)
    return {model_id: suites.score(suite, out, nets) for model_id, out in outputs.items()}


def _pinned(path: Path | None, sha256: str | None) -> quality.PinnedWeights | None:
    return None if path is None or sha256 is None else quality.PinnedWeights(path, sha256)


@BENCHMARK.step("score")
async def score(ctx: Ctx) -> None:
    settings = ctx.runtime.settings
    submitted = ctx.output("submit", Submitted)
    assert submitted is not None
    async with ctx.read() as session:
        jobs = await repo.benchmark_jobs(session, ctx.input.model_id)
        found = await grid.outcomes(session, [job.request_id for job in jobs])
    suite = await anyio.to_thread.run_sync(suites.load, settings.catalog_dir, ctx.input.capability)
    if suite.digest != submitted.suite:
        async with ctx.fail("the benchmark suite changed while it ran") as session:
            await _reject(session, ctx, "the benchmark suite changed while it ran; check again")
        return
    by_model = await anyio.to_thread.run_sync(_scores_by_model, suite, jobs, found, settings)
    async with ctx.finish() as session:
        for model_id, scores in by_model.items():
            await service.record_scores(session, model_id, scores, suite.digest)
        candidate = by_model[ctx.input.model_id]
        champion_id = await repo.alias(session, ctx.input.capability, service.CHAMPION)
        champion = by_model.get(champion_id or "") or service.comparable_scores(
            None if champion_id is None else await repo.version(session, champion_id),
            suite.digest,
        )
        decision = decisions.decide(
            candidate,
            champion,
            suites.thresholds_for(ctx.input.capability, settings),
            activate_gain=settings.engine_activate_gain,
        )
        version = await repo.version(session, ctx.input.model_id)
        if version is not None and version.status == VersionStatus.CANDIDATE:
            await service.apply_decision(
                session, settings, ctx.input.model_id, ctx.input.capability, decision
            )


@BENCHMARK.give_up
async def gave_up(session: AsyncSession, ctx: Ctx, error: str) -> None:
    """A step kept failing (the suite's references unreadable, the store gone…): the
    candidate is rejected saying why, rather than left a candidate forever."""
    await _reject(session, ctx, f"the benchmark crashed: {error}")
