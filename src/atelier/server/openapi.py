"""The OpenAPI document says what the API really answers: every error is problem+json.

FastAPI documents a 422 as its own `HTTPValidationError` JSON and no other error, while every
error Atelier sends is an RFC 9457 problem. Each operation here gets the problems it can send,
read off what the route depends on: credentials (401, 403), a rate limit (429), a body (413,
422), parameters (422), a path id (404); and a problem+json `default` for the rest a service
may answer (409, 503). Clients and checkers (schemathesis) can then rely on the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from atelier.core.errors import PROBLEM_JSON
from atelier.identity.deps import (
    any_principal,
    limit_auth,
    limit_open_writes,
    limit_worker,
    optional_principal,
)
from atelier.identity.deps import limit_writes as limit_account_writes

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` is a stable /problems/<slug>",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}
DESCRIPTIONS = {
    "401": "No credentials, or credentials that are not valid",
    "403": "The credentials may not do this",
    "404": "No such resource (or not yours)",
    "413": "The body is too large",
    "422": "Invalid input: the fields in `errors`",
    "429": "Rate limited: retry after `Retry-After` seconds",
    "default": "Another problem (a conflict, a service unavailable, …)",
}
# The Solana Actions spec's error body, which its routes answer instead of a problem (a
# wallet or a Blink client reads `message`); they say so with this `openapi_extra` key.
ACTION_ERRORS = "x-solana-action-errors"
ACTION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ActionError",
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}
_LIMITS = {limit_auth, limit_account_writes, limit_open_writes, limit_worker}


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _problem_statuses(route: APIRoute) -> set[str]:
    calls = _calls(route.dependant)
    statuses = {"default"}
    if calls & {any_principal, optional_principal}:
        statuses |= {"401", "403"}
    if calls & _LIMITS:
        statuses.add("429")
    if route.body_field is not None:
        statuses |= {"413", "422"}
    if route.dependant.query_params or route.dependant.path_params or route.body_field:
        statuses.add("422")
    if route.dependant.path_params:
        statuses.add("404")
    return statuses


def install_problem_openapi(app: FastAPI, routers: list[APIRouter]) -> None:
    """Serve a document whose operations (those of `routers`) list their problems."""
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["Problem"] = PROBLEM_SCHEMA
        problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        action_error = {"application/json": {"schema": ACTION_ERROR_SCHEMA}}
        for route in routes:
            if not route.include_in_schema:
                continue
            content = action_error if (route.openapi_extra or {}).get(ACTION_ERRORS) else problem
            for method in route.methods or ():
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for status in _problem_statuses(route):
                    responses[status] = {"description": DESCRIPTIONS[status], "content": content}
        for path, operations in schema["paths"].items():  # the operational routes (/ready's 503)
            content = action_error if path.startswith("/api/actions/") else problem
            for operation in operations.values():
                operation.setdefault("responses", {}).setdefault(
                    "default", {"description": DESCRIPTIONS["default"], "content": content}
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
