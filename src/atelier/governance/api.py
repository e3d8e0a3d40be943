"""Proposals and votes (Soulvan's DAO service, port 5300): POST /api/vote, GET /api/vote/{id}."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from atelier.chain.evm.client import chain_for
from atelier.chain.solana.client import solana_for
from atelier.core import idempotency
from atelier.core.clock import now_utc
from atelier.core.http import runtime_of
from atelier.core.schemas import Instant, Text
from atelier.core.transactions import autocommit, unit_of_work
from atelier.governance import ballots, service, voting
from atelier.governance.schemas import (
    ProposalIn,
    ProposalOut,
    ProposalWithTally,
    TallyOut,
    VoteIn,
    VoteOut,
    VoteReceipt,
    VotesOut,
)
from atelier.identity.deps import (
    CurrentPrincipal,
    OptionalPrincipal,
    limit_open_writes,
    limit_writes,
)

router = APIRouter(prefix="/api", tags=["governance"])


@router.post(
    "/proposals",
    status_code=status.HTTP_201_CREATED,
    response_model=ProposalWithTally,
    dependencies=[Depends(limit_writes)],
)
async def create_proposal(
    body: ProposalIn, principal: CurrentPrincipal, request: Request
) -> ProposalWithTally | JSONResponse:
    """A free-standing proposal (a finished job gets one by itself). It is mirrored on chain
    (the relayer pays) only when its author is a validator or an admin; anyone else's is
    decided off chain."""
    runtime = runtime_of(request)
    spec = service.ProposalSpec(
        title=body.title,
        body=body.body,
        choices=tuple(body.choices),
        strategy=body.strategy,
        strategy_params=body.strategy_params,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        quorum=body.quorum,
        majority=body.majority,
        allow_vote_change=body.allow_vote_change,
        action=dict(body.action) if body.action is not None else None,
    )
    solana = await solana_for(runtime) if body.strategy == "spl" else None
    async with unit_of_work(runtime) as session:
        claim = await idempotency.claim(session, request, principal.user_id)
        if claim.replay is not None:
            return claim.replay
        proposal = await service.create_proposal(
            session,
            runtime.settings,
            await chain_for(runtime),
            spec,
            author_id=principal.user_id,
            on_chain=principal.has_role("validator"),  # mirroring costs the relayer gas
            solana=solana,
        )
        result = await service.tally(session, proposal)
        out = ProposalWithTally(**ProposalOut.of(proposal).model_dump(), result=TallyOut.of(result))
        await idempotency.keep(session, claim, status.HTTP_201_CREATED, out.model_dump(mode="json"))
        return out


@router.get("/proposals", response_model=list[ProposalOut])
async def list_proposals(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[Instant | None, Query(description="created_at of the last item seen")] = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> list[ProposalOut]:
    async with unit_of_work(runtime_of(request)) as session:
        page = await service.proposals_page(session, limit, before, open_only)
    return [ProposalOut.of(p) for p in page]


@router.get("/proposals/{some_id}", response_model=ProposalWithTally)
async def get_proposal(some_id: uuid.UUID, request: Request) -> ProposalWithTally:
    """`some_id` is a proposal id or a job id."""
    async with unit_of_work(runtime_of(request)) as session:
        proposal = await service.get_proposal(session, some_id)
        result = await service.tally(session, proposal)
    return ProposalWithTally(**ProposalOut.of(proposal).model_dump(), result=TallyOut.of(result))


@router.get("/vote/{some_id}/typed-data")
async def typed_data(
    some_id: uuid.UUID,
    request: Request,
    wallet: Annotated[Text, Query(min_length=40, max_length=42)],
    vote: Annotated[Text, Query(min_length=1, max_length=40)],
    reason: Annotated[Text, Query(max_length=ballots.MAX_REASON_CHARS)] = "",
    timestamp: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
) -> dict[str, Any]:
    """The EIP-712 typed data to sign (`eth_signTypedData_v4`); post the signature with the
    same wallet, vote, reason and timestamp to `POST /api/vote`."""
    runtime = runtime_of(request)
    async with autocommit(runtime) as conn:
        terms = await service.terms_of(runtime.adapters, conn, some_id)
    return service.typed_data(await chain_for(runtime), terms, wallet, vote, reason, timestamp)


@router.get("/vote/{some_id}/message")
async def solana_vote_message(
    some_id: uuid.UUID,
    request: Request,
    wallet: Annotated[Text, Query(min_length=32, max_length=44)],
    vote: Annotated[Text, Query(min_length=1, max_length=40)],
    reason: Annotated[Text, Query(max_length=ballots.MAX_REASON_CHARS)] = "",
    timestamp: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
) -> dict[str, Any]:
    """For an `spl` proposal: the text a Solana wallet signs (`signMessage`, ed25519); post
    the base58 signature with the same wallet, vote, reason and timestamp to
    `POST /api/vote`."""
    runtime = runtime_of(request)
    async with autocommit(runtime) as conn:
        terms = await service.terms_of(runtime.adapters, conn, some_id)
    stamp = timestamp if timestamp is not None else int(now_utc().timestamp())
    return {
        "message": service.solana_message(terms, wallet, vote, reason, stamp),
        "timestamp": stamp,
    }


@router.post("/vote", response_model=VoteReceipt, dependencies=[Depends(limit_open_writes)])
async def cast_vote(
    body: VoteIn, request: Request, response: Response, principal: OptionalPrincipal
) -> VoteReceipt:
    """Store a signed vote: 201 when stored (the voter's first, or a change that replaced
    their vote where the proposal allows changes), 200 when this exact vote was already
    stored (the same signature, whichever way its v is written).

    The receipt carries no tally: counting a proposal's votes on every vote would make each
    vote cost the whole count; `GET /api/vote/{id}` has it."""
    runtime = runtime_of(request)
    some_id = body.proposal_id or body.job_id
    assert some_id is not None
    vote_request = service.VoteRequest(
        body.wallet, body.vote, body.reason, body.timestamp, body.signature
    )
    vote, outcome = await voting.cast(runtime, some_id, vote_request, principal)
    unchanged = outcome == "unchanged"
    response.status_code = status.HTTP_200_OK if unchanged else status.HTTP_201_CREATED
    return VoteReceipt(
        vote=VoteOut.of(vote), created=outcome == "created", replaced=outcome == "replaced"
    )


@router.get("/vote/{some_id}", response_model=VotesOut)
async def votes(
    some_id: uuid.UUID,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        Text | None, Query(max_length=42, description="next_cursor of the previous page")
    ] = None,
) -> VotesOut:
    """Votes with reasons and signatures, the tally, quorum state and outcome."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        proposal = await service.get_proposal(session, some_id)
        result = await service.tally(session, proposal)
        page = await service.votes_page(session, proposal, limit, cursor)
    domain = service.vote_domain(await chain_for(runtime))
    return VotesOut(
        **TallyOut.of(result).model_dump(),
        proposal=ProposalOut.of(proposal),
        votes=[VoteOut.of(v) for v in page],
        next_cursor=page[-1].voter if len(page) == limit else None,
        domain=domain.as_dict(),
    )
