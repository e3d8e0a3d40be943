"""The vault's HTTP API (port 5003, seed route `/api/biometric/*`).

Only the node's own services may call it (the service token); it listens on loopback by
default. No route ever returns a template: the camera sends a probe and gets back a subject
or "unknown", so templates never leave this process decrypted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from pydantic import BaseModel, Field

from atelier.camera.edge import bearer, edge_app, every, unauthorized
from atelier.camera.keys import same_token
from atelier.camera.vault import TEMPLATE_SIZE, Subject, Vault, VaultError
from atelier.core.errors import InvalidInput, NotFound
from atelier.core.logging import get_logger

log = get_logger("atelier.camera.vault")
WALLET = r"^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$"
_ACTOR = re.compile(r"[^A-Za-z0-9:._-]")
EXPIRY_PERIOD_S = 5.0


class EnrolIn(BaseModel):
    wallet: str = Field(pattern=WALLET)
    session_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    template: list[float] = Field(min_length=TEMPLATE_SIZE, max_length=TEMPLATE_SIZE)
    ttl_s: float = Field(gt=0, le=7 * 86400)


class ProbeIn(BaseModel):
    template: list[float] = Field(min_length=TEMPLATE_SIZE, max_length=TEMPLATE_SIZE)
    max_distance: float = Field(gt=0, lt=2)
    margin: float = Field(ge=0, lt=1)


class PurgeIn(BaseModel):
    wallet: str = Field(pattern=WALLET)
    reason: str = Field(default="requested", min_length=1, max_length=40, pattern=r"^[a-z-]+$")


class SubjectOut(BaseModel):
    id: str
    wallet: str
    session_id: str
    created_at: float
    expires_at: float
    commitment: str
    purged_at: float | None
    purge_reason: str | None


class IdentificationOut(BaseModel):
    subject: str | None
    wallet: str | None
    distance: float | None
    second: float | None
    reason: str


def _out(subject: Subject) -> SubjectOut:
    return SubjectOut(
        id=subject.id,
        wallet=subject.wallet,
        session_id=subject.session_id,
        created_at=subject.created_at,
        expires_at=subject.expires_at,
        commitment=subject.commitment,
        purged_at=subject.purged_at,
        purge_reason=subject.purge_reason,
    )


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


def _actor(request: Request, x_atelier_actor: Annotated[str | None, Header()] = None) -> str:
    """Only the node's services may call; the actor they name goes into the audit log."""
    if not same_token(bearer(request), request.app.state.service_token):
        raise unauthorized()
    return _ACTOR.sub("", x_atelier_actor or "camera")[:64] or "camera"


TheVault = Annotated[Vault, Depends(_vault)]
Actor = Annotated[str, Depends(_actor)]
router = APIRouter()


def _subject(vault: Vault, subject_id: str) -> Subject:
    try:
        return vault.subject(subject_id)
    except VaultError as exc:
        raise NotFound(str(exc), slug="no-such-subject") from None


@router.get("/api/health")
def health(vault: TheVault) -> dict[str, Any]:
    return {"status": "ok", "service": "vault", "subjects": len(vault.subjects())}


@router.post("/api/biometric/templates", status_code=201)
def enrol(body: EnrolIn, vault: TheVault, actor: Actor) -> SubjectOut:
    try:
        subject = vault.enrol(
            body.wallet, body.session_id, body.template, ttl_s=body.ttl_s, actor=actor
        )
    except VaultError as exc:
        raise InvalidInput(str(exc), slug="bad-template") from None
    return _out(subject)


@router.get("/api/biometric/templates")
def subjects(vault: TheVault, actor: Actor, include_purged: bool = False) -> list[SubjectOut]:
    return [_out(s) for s in vault.subjects(active_only=not include_purged)]


@router.post("/api/biometric/identify")
def identify(body: ProbeIn, vault: TheVault, actor: Actor) -> IdentificationOut:
    try:
        found = vault.identify(
            body.template, max_distance=body.max_distance, margin=body.margin, actor=actor
        )
    except VaultError as exc:
        raise InvalidInput(str(exc), slug="bad-template") from None
    return IdentificationOut(
        subject=found.subject,
        wallet=found.wallet,
        distance=found.distance,
        second=found.second,
        reason=found.reason,
    )


@router.delete("/api/biometric/templates/{subject_id}")
def purge(subject_id: str, vault: TheVault, actor: Actor, reason: str = "requested") -> SubjectOut:
    _subject(vault, subject_id)
    cause = reason if re.fullmatch(r"[a-z-]{1,40}", reason) else "requested"
    return _out(vault.purge(subject_id, actor=actor, reason=cause))


@router.post("/api/biometric/purge")
def purge_wallet(body: PurgeIn, vault: TheVault, actor: Actor) -> list[SubjectOut]:
    return [_out(s) for s in vault.purge_wallet(body.wallet, actor=actor, reason=body.reason)]


@router.get("/api/biometric/templates/{subject_id}/proof")
def proof(subject_id: str, vault: TheVault, actor: Actor) -> dict[str, Any]:
    _subject(vault, subject_id)
    return vault.proof(subject_id, actor=actor)


@router.get("/api/biometric/templates/{subject_id}/package")
def package(subject_id: str, vault: TheVault, actor: Actor) -> dict[str, Any]:
    _subject(vault, subject_id)
    try:
        return vault.package(subject_id, actor=actor)
    except VaultError as exc:
        raise NotFound(str(exc), slug="subject-purged") from None


@router.get("/api/biometric/audit")
def audit(vault: TheVault, actor: Actor, limit: int = 200) -> dict[str, Any]:
    intact, checked = vault.audit.verify()
    entries = vault.audit.entries()
    return {
        "chain_intact": intact,
        "entries_checked": checked,
        "entries": entries[-max(1, min(limit, 1000)) :],
    }


def vault_app(vault: Vault, token: str) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def expire() -> None:
            for subject in await asyncio.to_thread(vault.expire):
                log.info("vault.expired", subject=subject.id)

        async with every(EXPIRY_PERIOD_S, expire, name="template-expiry"):
            yield

    app = edge_app(
        "Atelier camera node: biometric vault",
        "Face templates encrypted under per-subject keys; purge shreds the key.",
    )
    app.router.lifespan_context = lifespan
    app.state.vault, app.state.service_token = vault, token
    app.include_router(router)
    return app
