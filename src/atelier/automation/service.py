"""Automation logic: saving rules (checked against their trigger), deciding what an event,
a schedule tick or a webhook delivery fires, and dry runs. Firing records a run (once per
rule and trigger) and starts its flow; the actions run there (flows.py).

A rule sees an event only when its owner could (their scopes meet the event's audience). A
run whose trigger was caused by a chain of rules' actions that already holds this rule (or
is `MAX_CHAIN` long) is cut off as a loop; a rule that acted `max_runs_per_hour` times in
the last hour is refused as rate-limited. Both are logged as runs, with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.automation import actions as acts
from atelier.automation import conditions as conds
from atelier.automation import repository as repo
from atelier.automation import triggers
from atelier.automation.models import Rule, Run, RunOutcome, TriggerKind
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import Forbidden, InvalidInput, NotFound
from atelier.core.realtime import scopes_of
from atelier.core.secrets import seal, unseal
from atelier.identity.principal import Principal

MAX_CHAIN = 5
WEBHOOK_BYTES = 65_536


@dataclass(frozen=True)
class Fired:
    """A run to start: its id and what its flow needs."""

    run_id: uuid.UUID
    rule_id: uuid.UUID
    owner_id: uuid.UUID
    inputs: dict[str, Any]
    chain: list[str]
    actions: list[dict[str, Any]]


def _invalid(message: str, where: str) -> InvalidInput:
    return InvalidInput.on_field(where, message, slug="invalid-rule")


def _check(
    settings: Settings,
    principal: Principal,
    trigger: str,
    topic: str | None,
    schedule: str | None,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
) -> None:
    if trigger == TriggerKind.EVENT:
        if topic not in triggers.TRIGGERS:
            known = ", ".join(sorted(triggers.TRIGGERS))
            raise _invalid(f"{topic!r} is not an event a rule can follow ({known})", "topic")
        fields = triggers.fields_of(topic)
    elif trigger == TriggerKind.SCHEDULE:
        if not schedule or not croniter.is_valid(schedule):
            raise _invalid("a schedule is a cron expression like '0 9 * * 1'", "schedule")
        fields = {"scheduled_for": "string"}
    else:
        fields = {str(c.get("field")): _kind_of(c.get("value")) for c in conditions}
    try:
        conds.check(conditions, fields)
    except conds.ConditionError as exc:
        raise _invalid(str(exc), "conditions") from None
    try:
        acts.check(actions, admin=principal.has_role("admin"))
    except acts.ActionError as exc:
        raise _invalid(str(exc), "actions") from None


def _kind_of(value: Any) -> str:
    item = value[0] if isinstance(value, list) and value else value
    return conds.kind_of(item)


async def create(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    name: str,
    trigger: str,
    topic: str | None,
    schedule: str | None,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    max_runs_per_hour: int,
    enabled: bool = True,
) -> tuple[Rule, str | None]:
    """A new rule, and for a webhook trigger its signing secret (shown once, kept sealed)."""
    _check(settings, principal, trigger, topic, schedule, conditions, actions)
    rule = Rule(
        id=uuid.uuid4(),
        owner_id=principal.user_id,
        name=name,
        enabled=enabled,
        trigger=trigger,
        topic=topic if trigger == TriggerKind.EVENT else None,
        schedule=schedule if trigger == TriggerKind.SCHEDULE else None,
        conditions=conditions,
        actions=actions,
        max_runs_per_hour=max_runs_per_hour,
        last_fired_at=now_utc() if trigger == TriggerKind.SCHEDULE else None,
    )
    secret = None
    if trigger == TriggerKind.WEBHOOK:
        secret = "whsec_" + secrets.token_hex(24)
        rule.webhook_secret = seal(settings, f"automation:{rule.id}", secret.encode())
    return await repo.add_rule(session, rule), secret


async def owned(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> Rule:
    found = await repo.rule(session, rule_id, principal.user_id)
    if found is None:
        raise NotFound("no such rule of yours", slug="rule-not-found")
    return found


async def rules_of(session: AsyncSession, principal: Principal) -> list[Rule]:
    return await repo.rules_of(session, principal.user_id)


async def update(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    rule_id: uuid.UUID,
    changes: dict[str, Any],
) -> Rule:
    rule = await owned(session, principal, rule_id)
    if changes.get("schedule") is not None and rule.trigger != TriggerKind.SCHEDULE:
        raise _invalid(f"a rule triggered by {rule.trigger} has no schedule", "schedule")
    _check(
        settings,
        principal,
        rule.trigger,
        rule.topic,
        changes.get("schedule", rule.schedule),
        changes.get("conditions", rule.conditions),
        changes.get("actions", rule.actions),
    )
    for name in ("name", "enabled", "conditions", "actions", "max_runs_per_hour", "schedule"):
        if name in changes:
            setattr(rule, name, changes[name])
    return rule


async def delete(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    await repo.delete_rule(session, await owned(session, principal, rule_id))


# -- firing ------------------------------------------------------------------------------------


@dataclass
class Firing:
    started: list[Fired] = field(default_factory=list)
    refused: int = 0


async def _fire(
    session: AsyncSession,
    rule: Rule,
    trigger_key: str,
    inputs: dict[str, Any],
    chain: list[str],
) -> Fired | None:
    """Record the rule's run for this trigger (once), refused when it loops or is over its
    rate; the run to start, if any."""
    run = Run(
        id=uuid.uuid4(),
        rule_id=rule.id,
        trigger_key=trigger_key[:200],
        inputs=inputs,
        chain=chain,
        outcome=RunOutcome.RUNNING,
    )
    if str(rule.id) in chain or len(chain) >= MAX_CHAIN:
        run.outcome, run.finished_at = RunOutcome.LOOP_CUT, now_utc()
        run.error = (
            f"loop cut off: this rule's trigger was caused by rules {', '.join(chain)}, "
            + ("this one among them" if str(rule.id) in chain else f"{MAX_CHAIN} deep")
        )
    elif await repo.runs_since(session, rule.id, now_utc() - timedelta(hours=1)) >= (
        rule.max_runs_per_hour
    ):
        run.outcome, run.finished_at = RunOutcome.RATE_LIMITED, now_utc()
        run.error = f"rate limited: the rule acted {rule.max_runs_per_hour} times in the last hour"
    if not await repo.add_run(session, run) or run.outcome != RunOutcome.RUNNING:
        return None
    return Fired(run.id, rule.id, rule.owner_id, inputs, chain, list(rule.actions))


async def fire_for_event(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    audience: tuple[str, ...],
    trigger_key: str,
    chain: list[str],
) -> list[Fired]:
    fired = []
    owners = [uuid.UUID(a[5:]) for a in audience if a.startswith("user:")]
    roles = [a[5:] for a in audience if a.startswith("role:")]
    found = await repo.listening(
        session, topic, everyone="public" in audience, owners=owners, roles=roles
    )
    for rule, roles in found:
        if not scopes_of(rule.owner_id, roles) & set(audience):
            continue  # the owner could not see this event: neither may their rule
        if not conds.holds(rule.conditions, payload):
            continue
        started = await _fire(session, rule, trigger_key, payload, chain)
        if started is not None:
            fired.append(started)
    return fired


async def fire_schedules(session: AsyncSession, now: datetime) -> list[Fired]:
    """Each scheduled rule whose next time has come fires once (missed times in between are
    not made up: one run, for the latest)."""
    fired = []
    for rule in await repo.scheduled(session):
        assert rule.schedule is not None
        since = rule.last_fired_at or rule.created_at
        due = croniter(rule.schedule, since).get_next(datetime)
        if due > now:
            continue
        latest = croniter(rule.schedule, now).get_prev(datetime)
        rule.last_fired_at = now
        inputs = {"scheduled_for": latest.isoformat()}
        started = await _fire(session, rule, f"schedule:{latest.isoformat()}", inputs, [])
        if started is not None:
            fired.append(started)
    return fired


async def fire_webhook(
    session: AsyncSession,
    settings: Settings,
    rule_id: uuid.UUID,
    raw: bytes,
    signature: str | None,
    delivery: str,
    payload: dict[str, Any],
) -> Fired | None:
    """A delivery to a webhook rule: its signature checked against the rule's secret
    (`sha256=` HMAC of the raw body), then fired like an event (once per delivery id)."""
    rule = await repo.rule(session, rule_id)
    if rule is None or rule.trigger != TriggerKind.WEBHOOK or rule.webhook_secret is None:
        raise NotFound("no such webhook", slug="rule-not-found")
    secret = unseal(settings, f"automation:{rule.id}", rule.webhook_secret)
    expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature):
        raise Forbidden("the signature does not match this webhook's secret", slug="bad-signature")
    if not rule.enabled or not conds.holds(rule.conditions, payload):
        return None
    return await _fire(session, rule, f"webhook:{delivery}", payload, [])


@dataclass(frozen=True)
class DryRun:
    matched: bool
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    would: str


async def dry_run(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, payload: dict[str, Any]
) -> DryRun:
    """What the rule would do for `payload`: each condition's verdict and each action as it
    would be sent; nothing is done. Logged as a `dry_run` run."""
    rule = await owned(session, principal, rule_id)
    verdicts = [{**c, "holds": conds.holds([c], payload)} for c in rule.conditions]
    matched = all(v["holds"] for v in verdicts)
    rendered = [
        {k: conds.render(v, payload) if k != "kind" else v for k, v in a.items()}
        for a in rule.actions
    ]
    recent = await repo.runs_since(session, rule.id, now_utc() - timedelta(hours=1))
    would = "nothing (a condition does not hold)"
    if matched:
        would = "rate limited" if recent >= rule.max_runs_per_hour else "run its actions"
    log = Run(
        id=uuid.uuid4(),
        rule_id=rule.id,
        trigger_key=f"dry:{uuid.uuid4()}",
        inputs=payload,
        chain=[],
        outcome=RunOutcome.DRY_RUN,
        results=rendered,
        finished_at=now_utc(),
    )
    await repo.add_run(session, log)
    return DryRun(matched, verdicts, rendered, would)


async def runs(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> list[Run]:
    await owned(session, principal, rule_id)
    return await repo.runs_of(session, rule_id, 50)
