"""Automation routes: a member's rules (`/api/automation/rules`), their execution logs and
dry runs, the triggers a rule can follow, and the webhook deliveries that fire rules."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from atelier.automation import flows, service, triggers
from atelier.automation.schemas import (
    DryRunIn,
    DryRunOut,
    RuleIn,
    RuleOut,
    RulePatch,
    RunOut,
    TriggerOut,
)
from atelier.core.errors import InvalidInput, PayloadTooLarge
from atelier.core.http import runtime_of
from atelier.core.schemas import Text
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import CurrentPrincipal, limit_open_writes, limit_writes

router = APIRouter(prefix="/api/automation", tags=["automation"])
WriteLimited = [Depends(limit_writes)]


@router.get("/triggers", response_model=list[TriggerOut])
async def trigger_catalogue() -> list[TriggerOut]:
    """The events a rule can follow and the fields its conditions may test."""
    return [TriggerOut(topic=t, fields=triggers.fields_of(t)) for t in sorted(triggers.TRIGGERS)]


@router.post("/rules", status_code=201, response_model=RuleOut, dependencies=WriteLimited)
async def create_rule(body: RuleIn, principal: CurrentPrincipal, request: Request) -> RuleOut:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        rule, secret = await service.create(
            session,
            runtime.settings,
            principal,
            name=body.name,
            trigger=body.trigger.kind,
            topic=body.trigger.topic,
            schedule=body.trigger.schedule,
            conditions=[c.model_dump() for c in body.conditions],
            actions=[a.stored() for a in body.actions],
            max_runs_per_hour=body.max_runs_per_hour,
            enabled=body.enabled,
        )
        return RuleOut.of(rule, secret)


@router.get("/rules", response_model=list[RuleOut])
async def list_rules(principal: CurrentPrincipal, request: Request) -> list[RuleOut]:
    async with unit_of_work(runtime_of(request)) as session:
        return [RuleOut.of(r) for r in await service.rules_of(session, principal)]


@router.get("/rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: uuid.UUID, principal: CurrentPrincipal, request: Request) -> RuleOut:
    async with unit_of_work(runtime_of(request)) as session:
        return RuleOut.of(await service.owned(session, principal, rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleOut, dependencies=WriteLimited)
async def change_rule(
    rule_id: uuid.UUID, body: RulePatch, principal: CurrentPrincipal, request: Request
) -> RuleOut:
    runtime = runtime_of(request)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"conditions", "actions"})
    if body.conditions is not None:
        changes["conditions"] = [c.model_dump() for c in body.conditions]
    if body.actions is not None:
        changes["actions"] = [a.stored() for a in body.actions]
    async with unit_of_work(runtime) as session:
        return RuleOut.of(
            await service.update(session, runtime.settings, principal, rule_id, changes)
        )


@router.delete("/rules/{rule_id}", status_code=204, dependencies=WriteLimited)
async def delete_rule(
    rule_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        await service.delete(session, principal, rule_id)
    return Response(status_code=204)


@router.get("/rules/{rule_id}/runs", response_model=list[RunOut])
async def rule_runs(
    rule_id: uuid.UUID, principal: CurrentPrincipal, request: Request
) -> list[RunOut]:
    """The rule's execution log, newest first: what triggered each run, what each action
    did, or why it did not run (a loop cut off, a rate limit, an error)."""
    async with unit_of_work(runtime_of(request)) as session:
        return [RunOut.of(r) for r in await service.runs(session, principal, rule_id)]


@router.post("/rules/{rule_id}/dry-run", response_model=DryRunOut, dependencies=WriteLimited)
async def dry_run(
    rule_id: uuid.UUID, body: DryRunIn, principal: CurrentPrincipal, request: Request
) -> DryRunOut:
    """What the rule would do for this event, without doing it."""
    async with unit_of_work(runtime_of(request)) as session:
        found = await service.dry_run(session, principal, rule_id, dict(body.event))
    return DryRunOut(
        matched=found.matched, conditions=found.conditions, actions=found.actions, would=found.would
    )


@router.post(
    "/hooks/{rule_id}",
    status_code=202,
    dependencies=[Depends(limit_open_writes)],
    responses={403: {"description": "bad signature"}},
)
async def webhook(
    rule_id: uuid.UUID,
    request: Request,
    x_atelier_delivery: Annotated[Text, Header(min_length=1, max_length=100)],
    x_atelier_signature: Annotated[Text | None, Header(max_length=100)] = None,
) -> dict[str, Any]:
    """A delivery to a webhook rule: a JSON object, signed `X-Atelier-Signature:
    sha256=<HMAC-SHA256 of the raw body with the rule's secret>`, named by
    `X-Atelier-Delivery` (a repeat of a delivery id fires nothing)."""
    raw = await request.body()
    if len(raw) > service.WEBHOOK_BYTES:
        raise PayloadTooLarge("a webhook delivery is at most 64 KiB")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput("the body is not JSON", slug="invalid-json") from None
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object", slug="invalid-json")
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        fired = await service.fire_webhook(
            session,
            runtime.settings,
            rule_id,
            raw,
            x_atelier_signature,
            x_atelier_delivery,
            payload,
        )
        if fired is not None:
            await flows.start(session, [fired])
    return {"fired": fired is not None}
