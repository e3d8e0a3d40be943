"""The model registry: versions per capability, champion/challenger aliases, update checks
against the catalog, A/B tests on live grid traffic, rollback.

Every change of a version or an alias writes an audit event (`engine_events`) in the same
transaction. The champion of a capability is also the grid's route for that kind (jobs that
name no model run it); while an A/B test runs, the route splits jobs between champion and
challenger by a hash of each job's id (grid.routing), and each job's end (`JobEnded`) is an
observation of its arm. The test is looked at after every observation with an anytime-valid
confidence sequence (engine.sequential) and decided as soon as it can be.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import Conflict, InvalidInput
from atelier.core.logging import get_logger
from atelier.engine import repository as repo
from atelier.engine import sequential
from atelier.engine.decisions import Action, Decision, Scores
from atelier.engine.models import (
    Experiment,
    ExperimentState,
    Look,
    ModelEvent,
    ModelVersion,
    VersionStatus,
)
from atelier.generators import catalog
from atelier.grid import routing
from atelier.grid import service as grid
from atelier.grid.events import JobEnded

log = get_logger("atelier.engine")

CAPABILITIES = catalog.CAPABILITIES
CHAMPION, CHALLENGER = routing.CHAMPION, routing.CHALLENGER
ENGINE = "engine"  # the actor of the engine's own changes


def actor_of(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


def public_actor(actor: str) -> str:
    """Who made a change, as the public registry shows it: admins are not named."""
    return "an admin" if actor.startswith("user:") else actor


def known_capability(capability: str) -> str:
    if capability not in CAPABILITIES:
        raise InvalidInput(
            f"unknown capability {capability!r}; capabilities are {', '.join(CAPABILITIES)}",
            slug="unknown-capability",
        )
    return capability


async def _audit(
    session: AsyncSession,
    capability: str,
    action: str,
    model_id: str | None,
    detail: str,
    actor: str,
    previous: str | None = None,
) -> None:
    event = ModelEvent(
        capability=capability,
        action=action,
        model_id=model_id,
        previous=previous,
        detail=detail,
        actor=actor,
    )
    await rows.add(session, event)
    log.info("engine.change", capability=capability, action=action, model=model_id, actor=actor)


async def _set_status(
    session: AsyncSession, model_id: str, status: VersionStatus, reason: str | None
) -> ModelVersion | None:
    version = await repo.version(session, model_id, for_update=True)
    if version is not None:
        version.status, version.status_reason, version.updated_at = status, reason, now_utc()
    return version


async def make_champion(
    session: AsyncSession,
    capability: str,
    model_id: str,
    *,
    actor: str,
    reason: str,
    action: str = "champion",
) -> None:
    """`model_id` serves `capability` from now on; the champion it replaces is kept on
    standby (rollback restores it) and any challenger alias ends."""
    previous = await repo.alias(session, capability, CHAMPION)
    await repo.set_alias(session, capability, CHAMPION, model_id)
    await repo.drop_alias(session, capability, CHALLENGER)
    await _set_status(session, model_id, VersionStatus.ACTIVE, reason)
    if previous is not None and previous != model_id:
        await _set_status(session, previous, VersionStatus.STANDBY, f"replaced by {model_id}")
    await grid.set_route(session, capability, model_id)
    await _audit(session, capability, action, model_id, reason, actor, previous=previous)


# -- the registry's contents ------------------------------------------------------------------


def _builtin_models(workers: list[Any], capability: str) -> dict[str, str]:
    """Models live workers run for `capability` with a built-in backend: model -> backend."""
    found: dict[str, str] = {}
    for worker in workers:
        for backend in worker.backends or []:
            if capability in backend.get("kinds", []) and backend["name"] not in catalog.BACKENDS:
                for model in backend.get("models", []):
                    found.setdefault(model, backend["name"])
    return found


async def register_builtins(
    session: AsyncSession, settings: Settings, capabilities: set[str]
) -> list[str]:
    """A champion for each of `capabilities` that has none: the built-in model live workers
    run (procedural images, the synthesizer, espeak…), so a candidate has something to beat.
    Until a capability has a candidate the engine leaves its jobs unrouted (any model)."""
    workers = await grid.live_workers(session, settings)
    made = []
    for capability in sorted(capabilities):
        if await repo.alias(session, capability, CHAMPION) is not None:
            continue
        offered = _builtin_models(workers, capability)
        if not offered:
            continue
        model_id = sorted(offered)[0]
        if await repo.version(session, model_id) is None:
            name, _, version = model_id.partition("@")
            version_row = ModelVersion(
                model_id=model_id,
                capability=capability,
                name=name[:60],
                version=(version or "builtin")[:60],
                source="builtin",
                backend=offered[model_id],
                status=VersionStatus.ACTIVE,
            )
            await rows.add(session, version_row)
        await make_champion(
            session, capability, model_id, actor=ENGINE, reason="the built-in model workers run"
        )
        made.append(model_id)
    return made


@dataclass
class UpdateReport:
    found: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    champions: list[str] = field(default_factory=list)


async def check_updates(session: AsyncSession, settings: Settings, actor: str) -> UpdateReport:
    """Register the catalog's new versions (`found`: model id -> capability; the caller
    starts their benchmarks). One check runs at a time (a transaction-scoped advisory
    lock): a second, concurrent one is refused."""
    if not await repo.try_update_lock(session):
        raise Conflict(
            "an update check is running now; its results will be on /api/models/info",
            slug="update-check-running",
        )
    report = UpdateReport()
    entries, unreadable = await anyio.to_thread.run_sync(catalog.scan, settings.catalog_dir)
    report.unreadable = {str(u.path): u.reason for u in unreadable}
    known = await repo.known_model_ids(session)
    for entry in entries:
        if entry.model_id in known:
            continue
        problem = await anyio.to_thread.run_sync(entry.weights_problem)
        version = ModelVersion(
            model_id=entry.model_id,
            capability=entry.capability,
            name=entry.name,
            version=entry.version,
            source=f"catalog:{entry.capability}/{entry.name}/{entry.version}",
            backend=entry.backend,
            weights_sha256=entry.sha256,
            status=VersionStatus.REJECTED if problem else VersionStatus.CANDIDATE,
            status_reason=problem,
        )
        await rows.add(session, version)
        known.add(entry.model_id)
        if problem is not None:
            report.rejected[entry.model_id] = problem
            await _alert(session, entry.capability, entry.model_id, problem, actor)
            continue
        report.found[entry.model_id] = entry.capability
        await _audit(session, entry.capability, "found", entry.model_id, "in the catalog", actor)
    candidates = set(report.found.values())
    report.champions = await register_builtins(session, settings, candidates)
    await _audit(session, "all", "update-check", None, f"{len(report.found)} new", actor)
    return report


async def _alert(
    session: AsyncSession, capability: str, model_id: str, problem: str, actor: str
) -> None:
    """A rejected candidate: audited, and logged at error level for the operators' alerts."""
    await _audit(session, capability, "rejected", model_id, problem, actor)
    log.error("engine.alert", capability=capability, model=model_id, problem=problem)


async def update_due(session: AsyncSession, settings: Settings) -> bool:
    last = await repo.last_event_at(session, "update-check")
    return last is None or now_utc() - last >= timedelta(hours=settings.engine_update_every_h)


# -- decisions --------------------------------------------------------------------------------


def scores_json(scores: Scores, suite_digest: str) -> dict[str, Any]:
    return {**asdict(scores), "suite": suite_digest, "at": now_utc().isoformat()}


def comparable_scores(version: ModelVersion | None, suite_digest: str) -> Scores | None:
    """A version's stored scores if they come from this suite."""
    if version is None or not version.scores or version.scores.get("suite") != suite_digest:
        return None
    fields = {k: v for k, v in version.scores.items() if k in Scores.__dataclass_fields__}
    return Scores(**fields)


async def record_scores(
    session: AsyncSession, model_id: str, scores: Scores, suite_digest: str
) -> None:
    version = await repo.version(session, model_id, for_update=True)
    if version is not None:
        version.scores = scores_json(scores, suite_digest)
        version.updated_at = now_utc()


async def apply_decision(
    session: AsyncSession, settings: Settings, model_id: str, capability: str, decision: Decision
) -> None:
    reason = "; ".join(decision.reasons)
    await _audit(session, capability, f"decision:{decision.action}", model_id, reason, ENGINE)
    if decision.action == Action.REJECT:
        await _set_status(session, model_id, VersionStatus.REJECTED, reason)
        await _alert(session, capability, model_id, reason, ENGINE)
    elif decision.action == Action.ACTIVATE:
        await make_champion(session, capability, model_id, actor=ENGINE, reason=reason)
    elif await repo.running_experiment(session, capability) is not None:
        await _set_status(
            session, model_id, VersionStatus.STANDBY, f"{reason}; another A/B test was running"
        )
    else:
        await start_experiment(session, settings, capability, model_id, reason=reason)


async def start_experiment(
    session: AsyncSession, settings: Settings, capability: str, challenger: str, *, reason: str
) -> Experiment:
    champion = await repo.alias(session, capability, CHAMPION)
    if champion is None:
        raise Conflict(f"{capability} has no champion to test against", slug="no-champion")
    experiment = Experiment(
        capability=capability,
        champion=champion,
        challenger=challenger,
        challenger_share=settings.engine_ab_challenger_share,
        alpha=settings.engine_ab_alpha,
        state=ExperimentState.RUNNING,
        ends_at=now_utc() + timedelta(hours=settings.engine_ab_max_hours),
    )
    await rows.add(session, experiment)
    await repo.set_alias(session, capability, CHALLENGER, challenger)
    await _set_status(session, challenger, VersionStatus.TESTING, reason)
    await grid.set_route(
        session,
        capability,
        champion,
        challenger=challenger,
        experiment_id=experiment.id,
        challenger_share=experiment.challenger_share,
    )
    detail = f"A/B test {experiment.id} against {champion}: {reason}"
    await _audit(session, capability, "ab-start", challenger, detail, ENGINE, previous=champion)
    return experiment


def reward_of(event: JobEnded) -> tuple[float, bool]:
    """A job's reward in [0, 1] and whether it failed: 0 for a failure; for a success its
    output's quality score where the grid measured one, else 1."""
    failed = event.state != "done"
    if failed:
        return 0.0, True
    score = 1.0 if event.quality is None else event.quality
    return min(1.0, max(0.0, score)), False


async def observe(session: AsyncSession, event: JobEnded) -> bool:
    """Count a live job of a running A/B test (once), then look at the test."""
    if event.experiment_id is None or event.arm is None or event.state == "cancelled":
        return False
    experiment = await repo.experiment(session, event.experiment_id, for_update=True)
    if experiment is None or experiment.state != ExperimentState.RUNNING:
        return False
    reward, failed = reward_of(event)
    added = await repo.add_observation(
        session, experiment.id, event.request_id, event.arm, reward, failed, event.compute_s
    )
    if added:
        await evaluate(session, experiment)
    return added


async def _arms(
    session: AsyncSession, experiment: Experiment
) -> tuple[sequential.ArmStats, sequential.ArmStats]:
    totals = await repo.arm_totals(session, experiment.id)

    def stats(arm: str) -> sequential.ArmStats:
        jobs, reward_sum, failures, _ = totals.get(arm, (0, 0.0, 0, None))
        return sequential.ArmStats(jobs, reward_sum, failures)

    return stats(CHAMPION), stats(CHALLENGER)


async def evaluate(
    session: AsyncSession, experiment: Experiment, now: datetime | None = None
) -> sequential.Look:
    """Look at a running test (its row locked by the caller) and end it if it is decided."""
    champion, challenger = await _arms(session, experiment)
    expired = (now or now_utc()) >= experiment.ends_at
    look = sequential.look(champion, challenger, experiment.alpha, expired=expired)
    decided = look.verdict != sequential.Verdict.CONTINUE
    if decided or _worth_keeping(champion.jobs + challenger.jobs):
        await _record_look(session, experiment, look, champion, challenger)
    if decided:
        await _conclude(session, experiment, look.verdict, _summary(look, champion, challenger))
    return look


def _worth_keeping(jobs: int) -> bool:
    """Which looks are stored for the plot: every one of the first 100 jobs, every 10th to
    1,000, every 100th after (a day of traffic stays a few hundred rows)."""
    return jobs <= 100 or (jobs <= 1000 and jobs % 10 == 0) or jobs % 100 == 0


async def _record_look(
    session: AsyncSession,
    experiment: Experiment,
    look: sequential.Look,
    champion: sequential.ArmStats,
    challenger: sequential.ArmStats,
) -> None:
    row = Look(
        experiment_id=experiment.id,
        champion_jobs=champion.jobs,
        challenger_jobs=challenger.jobs,
        champion_mean=champion.mean,
        challenger_mean=challenger.mean,
        low=max(-1.0, look.low),
        high=min(1.0, look.high),
    )
    await rows.add(session, row)


def _summary(
    look: sequential.Look, champion: sequential.ArmStats, challenger: sequential.ArmStats
) -> str:
    return (
        f"challenger - champion in [{look.low:+.3f}, {look.high:+.3f}] after "
        f"{challenger.jobs} + {champion.jobs} jobs ({challenger.failures} and "
        f"{champion.failures} failed)"
    )


async def _conclude(
    session: AsyncSession, experiment: Experiment, verdict: str, summary: str
) -> None:
    experiment.state = ExperimentState.DECIDED
    experiment.verdict = verdict
    experiment.reason = summary
    experiment.decided_at = now_utc()
    capability = experiment.capability
    if verdict == sequential.Verdict.CHALLENGER:
        await make_champion(
            session,
            capability,
            experiment.challenger,
            actor=ENGINE,
            reason=f"won A/B test {experiment.id}: {summary}",
        )
    else:
        kept = f"A/B test {experiment.id} ended ({verdict}): {summary}"
        await _set_status(session, experiment.challenger, VersionStatus.STANDBY, kept)
        await repo.drop_alias(session, capability, CHALLENGER)
        champion = await repo.alias(session, capability, CHAMPION) or experiment.champion
        await grid.set_route(session, capability, champion)
    await _audit(
        session, capability, "ab-end", experiment.challenger, f"{verdict}: {summary}", ENGINE
    )


async def expire_experiments(session: AsyncSession) -> int:
    """End the tests past their maximum duration (each decided by its last look)."""
    ended = 0
    for experiment_id in await repo.expired_experiments(session, now_utc()):
        experiment = await repo.experiment(session, experiment_id, for_update=True)
        if experiment is not None and experiment.state == ExperimentState.RUNNING:
            await evaluate(session, experiment)
            ended += 1
    return ended


# -- rollback ---------------------------------------------------------------------------------


async def rollback(
    session: AsyncSession, settings: Settings, capability: str, actor: str
) -> tuple[str, str]:
    """Restore the champion before the last change, within `engine_rollback_days` of that
    change; a running A/B test of the capability ends. Returns (restored, replaced)."""
    known_capability(capability)
    change = await repo.last_champion_change(session, capability)
    if change is None or change.previous is None:
        raise Conflict(
            f"{capability}'s champion has never changed: there is nothing to roll back to",
            slug="nothing-to-roll-back",
        )
    age = now_utc() - change.at
    window = timedelta(days=settings.engine_rollback_days)
    if age > window:
        raise Conflict(
            f"{capability}'s champion changed {age.days} days ago ({change.at:%Y-%m-%d %H:%M} "
            f"UTC); rollback is open for {settings.engine_rollback_days:g} days after a change",
            slug="rollback-expired",
        )
    running = await repo.running_experiment(session, capability)
    if running is not None:
        running = await repo.experiment(session, running.id, for_update=True)
        assert running is not None
        await _conclude(session, running, "stopped", "stopped by a rollback")
    current = await repo.alias(session, capability, CHAMPION)
    restored = change.previous
    await make_champion(
        session,
        capability,
        restored,
        actor=actor,
        reason=f"rolled back from {current}",
        action="rollback",
    )
    return restored, current or ""


# -- what the registry shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Info:
    versions: list[ModelVersion]
    aliases: dict[str, dict[str, str]]
    experiments: list[Experiment]
    arms: dict[uuid.UUID, dict[str, tuple[int, float, int, float | None]]]
    looks: dict[uuid.UUID, list[Look]]
    events: list[ModelEvent]

    def aliases_by_model(self) -> dict[str, list[str]]:
        named: dict[str, list[str]] = {}
        for aliases in self.aliases.values():
            for alias, model_id in aliases.items():
                named.setdefault(model_id, []).append(alias)
        return named


async def info(session: AsyncSession, *, experiments: int = 10, events: int = 50) -> Info:
    aliases: dict[str, dict[str, str]] = {}
    for alias in await repo.aliases(session):
        aliases.setdefault(alias.capability, {})[alias.alias] = alias.model_id
    tests = await repo.experiments(session, experiments)
    looks: dict[uuid.UUID, list[Look]] = {t.id: [] for t in tests}
    for look in await repo.looks(session, [t.id for t in tests]):
        looks[look.experiment_id].append(look)
    arms = {t.id: await repo.arm_totals(session, t.id) for t in tests}
    return Info(
        await repo.versions(session),
        aliases,
        tests,
        arms,
        looks,
        await repo.recent_events(session, events),
    )


@dataclass(frozen=True)
class BackendOffer:
    name: str
    kinds: list[str]
    models: list[str]
    workers: int


async def capabilities(
    session: AsyncSession, settings: Settings
) -> tuple[dict[str, list[BackendOffer]], int]:
    """What the live grid can do now: per kind, each backend with its models and how many
    live workers run it; and the number of live workers."""
    workers = await grid.live_workers(session, settings)
    offers: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for worker in workers:
        for backend in worker.backends or []:
            for kind in backend.get("kinds", []):
                key = (kind, backend["name"], tuple(backend.get("models", [])))
                offers[key] = offers.get(key, 0) + 1
    by_kind: dict[str, list[BackendOffer]] = {}
    for (kind, name, models), count in sorted(offers.items()):
        by_kind.setdefault(kind, []).append(BackendOffer(name, [kind], list(models), count))
    return by_kind, len(workers)
