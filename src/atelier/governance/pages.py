"""Voting pages (Soulvan's DAOVoting): proposals and their tallies as a chart, the votes with
their reasons, voting with a wallet Atelier holds for you, and new proposals."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import Field, ValidationError

from atelier.chain.evm.client import chain_for
from atelier.core.clock import now_utc
from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.schemas import Body
from atelier.core.transactions import autocommit, unit_of_work
from atelier.governance import service, voting
from atelier.governance.ballots import MAX_REASON_CHARS
from atelier.governance.schemas import ProposalIn, TallyOut
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.identity.service import accounts
from atelier.web.frame import (
    NavItem,
    add_templates,
    check_csrf,
    check_csrf_header,
    field_errors,
    redirect,
    render,
)

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Vote", "/proposals"),))

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)
VOTING_DAYS = (1, 3, 7, 14)


async def _list(
    request: Request,
    principal: Principal | None,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        proposals = await service.proposals_page(session, 50, None, False)
        visitor = await visitor_for(session, principal)
    return render(
        request,
        "governance/proposals.html",
        who=visitor,
        proposals=proposals,
        days=VOTING_DAYS,
        errors=errors or {},
        values=values or {},
        status_code=status_code,
        now=now_utc(),
    )


@router.get("/proposals")
async def proposals(request: Request, principal: PagePrincipal) -> Response:
    return await _list(request, principal)


@router.post("/proposals", dependencies=[Csrf])
async def create(
    request: Request,
    principal: PagePrincipal,
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "7",
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    runtime = runtime_of(request)
    values = {"title": title, "body": body, "days": days}
    try:
        length = int(days) if days.isdigit() and int(days) in VOTING_DAYS else 7
        ends = (now_utc() + timedelta(days=length)).isoformat()
        spec_in = ProposalIn.from_form({"title": title, "body": body, "ends_at": ends})
        spec = service.ProposalSpec(title=spec_in.title, body=spec_in.body, ends_at=spec_in.ends_at)
        async with unit_of_work(runtime) as session:
            proposal = await service.create_proposal(
                session,
                runtime.settings,
                await chain_for(runtime),
                spec,
                author_id=principal.user_id,
                on_chain=principal.has_role("validator"),
            )
    except (ValidationError, AppError) as exc:
        return await _list(
            request, principal, errors=field_errors(exc), values=values, status_code=422
        )
    return redirect(request, f"/proposals/{proposal.id}")


async def _detail(
    request: Request,
    principal: Principal | None,
    some_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        try:
            proposal = await service.get_proposal(session, some_id)
        except AppError as exc:
            return render(request, "missing.html", detail=exc.detail, status_code=exc.status)
        tally = TallyOut.of(await service.tally(session, proposal))
        votes = await service.votes_page(session, proposal, 200, None)
        visitor = await visitor_for(session, principal)
        held = []
        if principal is not None:
            user = await accounts.get_user(session, principal.user_id)
            held = [
                w.address
                for w in await accounts.wallets_of(session, user)
                if w.chain == "evm" and w.sealed_key is not None
            ]
    total = sum(float(power) for power in tally.tally.values()) or 1.0
    bars = [
        {"choice": choice, "power": power, "share": float(power) / total}
        for choice, power in tally.tally.items()
    ]
    return render(
        request,
        "governance/proposal.html",
        who=visitor,
        proposal=proposal,
        tally=tally,
        bars=bars,
        votes=votes,
        held=held,
        errors=errors or {},
        values=values or {},
        status_code=status_code,
    )


@router.get("/proposals/{some_id}")
async def proposal_page(request: Request, principal: PagePrincipal, some_id: uuid.UUID) -> Response:
    return await _detail(request, principal, some_id)


@router.post("/proposals/{some_id}/vote", dependencies=[Csrf])
async def vote(
    request: Request,
    principal: PagePrincipal,
    some_id: uuid.UUID,
    wallet: Annotated[str, Form()] = "",
    choice: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """A vote signed by a wallet Atelier holds for the signed-in voter (a browser wallet signs
    through `POST /api/vote`, as any client does)."""
    if principal is None:
        return redirect(request, "/sign-in")
    runtime = runtime_of(request)
    ballot = service.VoteRequest(wallet, choice, reason, None, None)
    try:
        await voting.cast(runtime, some_id, ballot, principal)
    except AppError as exc:
        errors = field_errors(exc)
        if "vote" in errors:  # the API's name for the choice
            errors["choice"] = errors.pop("vote")
        values = {"choice": choice, "reason": reason}
        return await _detail(
            request, principal, some_id, errors=errors, values=values, status_code=exc.status
        )
    return redirect(request, f"/proposals/{some_id}")


# A browser wallet's vote: the page's script asks for the EIP-712 data, has the wallet sign
# it (eth_signTypedData_v4) and sends the signature here (the same as `GET
# /api/vote/{id}/typed-data` and `POST /api/vote`, served by the site).


@router.get("/proposals/{some_id}/typed-data")
async def typed_data(
    request: Request, some_id: uuid.UUID, wallet: str = "", vote: str = "", reason: str = ""
) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with autocommit(runtime) as conn:
        terms = await service.terms_of(runtime.adapters, conn, some_id)
    return service.typed_data(await chain_for(runtime), terms, wallet, vote, reason, None)


@router.post("/proposals/{some_id}/signed-vote", dependencies=[Depends(check_csrf_header)])
async def signed_vote(
    request: Request, principal: PagePrincipal, some_id: uuid.UUID, body: SignedVoteIn
) -> dict[str, str]:
    runtime = runtime_of(request)
    ballot = service.VoteRequest(
        body.wallet, body.vote, body.reason, body.timestamp, body.signature
    )
    _, outcome = await voting.cast(runtime, some_id, ballot, principal)
    return {"outcome": outcome}


class SignedVoteIn(Body):
    wallet: str = Field(min_length=40, max_length=42)
    vote: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)
    timestamp: int = Field(ge=0, lt=2**63)
    signature: str = Field(min_length=1, max_length=140)
