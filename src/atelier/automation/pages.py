"""The automation page: a member's rules with their execution logs; a form to make one
(a trigger, one condition, one action: the API takes more); pause, resume, delete."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from atelier.automation import service, triggers
from atelier.automation.schemas import ActionIn, ConditionIn
from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.web.frame import NavItem, add_templates, check_csrf, field_errors, redirect, render

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Automation", "/automation"),))

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)
TARGET_OF = {
    "submit_job": "job",
    "webhook": "url",
    "email": "subject",
    "create_proposal": "title",
    "run_agent": "template",
    "list_nft": "nft",
    "reprice_nft": "nft",
}
TEXT_OF = {
    "submit_job": "prompt",
    "post_cast": "text",
    "webhook": "body",
    "email": "body",
    "create_proposal": "body",
    "run_agent": "prompt",
    "list_nft": "price",
    "reprice_nft": "price",
}


async def _page(
    request: Request,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        rules = await service.rules_of(session, principal)
        logs = {r.id: (await service.runs(session, principal, r.id))[:5] for r in rules}
    return render(
        request,
        "automation/rules.html",
        who=visitor,
        status_code=status_code,
        rules=rules,
        logs=logs,
        topics={t: triggers.fields_of(t) for t in sorted(triggers.TRIGGERS)},
        is_admin=principal.has_role("admin"),
        errors=errors or {},
        values=values or {},
    )


@router.get("/automation")
async def rules_page(request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _page(request, principal)


def _value(raw: str) -> str | int | float | bool:
    """A condition's value as typed in a form: true/false and numbers as such."""
    if raw in ("true", "false"):
        return raw == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def _parts(form: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    conditions = []
    if form["field"].strip():
        condition = ConditionIn(field=form["field"], op=form["op"], value=_value(form["value"]))
        conditions.append(condition.model_dump())
    kind = form["action"]
    action: dict[str, Any] = {"kind": kind, TEXT_OF.get(kind, "text"): form["text"]}
    if kind in TARGET_OF:
        action[TARGET_OF[kind]] = form["target"]
    return conditions, [ActionIn(**action).stored()]


@router.post("/automation/rules", dependencies=[Csrf])
async def create_rule(
    request: Request,
    principal: PagePrincipal,
    name: str = Form(""),
    trigger: str = Form("grid.job_changed"),
    schedule: str = Form(""),
    field: str = Form(""),
    op: str = Form("eq"),
    value: str = Form(""),
    action: str = Form("post_cast"),
    text: str = Form(""),
    target: str = Form(""),
    max_runs_per_hour: str = Form("60"),
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    form = {"name": name, "trigger": trigger, "schedule": schedule, "field": field, "op": op}
    form |= {"value": value, "action": action, "text": text, "target": target}
    form["max_runs_per_hour"] = max_runs_per_hour
    runtime = runtime_of(request)
    try:
        conditions, actions = _parts(form)
        kind = "schedule" if trigger == "schedule" else "event"
        async with unit_of_work(runtime) as session:
            await service.create(
                session,
                runtime.settings,
                principal,
                name=name.strip() or "untitled rule",
                trigger=kind,
                topic=trigger if kind == "event" else None,
                schedule=schedule or None,
                conditions=conditions,
                actions=actions,
                max_runs_per_hour=max(1, min(3600, int(max_runs_per_hour or 60))),
            )
    except (AppError, ValidationError, ValueError) as exc:
        if isinstance(exc, AppError | ValidationError):
            errors = field_errors(exc)
        else:
            errors = {"max_runs_per_hour": "a whole number of runs"}
        status = exc.status if isinstance(exc, AppError) else 422
        return await _page(request, principal, errors=errors, values=form, status_code=status)
    return redirect(request, "/automation")


@router.post("/automation/rules/{rule_id}/toggle", dependencies=[Csrf])
async def toggle_rule(rule_id: uuid.UUID, request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        rule = await service.owned(session, principal, rule_id)
        await service.update(
            session, runtime.settings, principal, rule_id, {"enabled": not rule.enabled}
        )
    return redirect(request, "/automation")


@router.post("/automation/rules/{rule_id}/delete", dependencies=[Csrf])
async def delete_rule(rule_id: uuid.UUID, request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    async with unit_of_work(runtime_of(request)) as session:
        await service.delete(session, principal, rule_id)
    return redirect(request, "/automation")
