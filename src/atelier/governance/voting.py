"""Casting a vote, as a unit of work: the API's `POST /api/vote` and the voting pages run it.

Two-handed (decision 0013): the proposal's terms and a first vote go through the hot
autocommit connection; the session (which begins a transaction only when used) serves the
rest (a platform-held wallet's signature, voting power, a replaced vote).
"""

from __future__ import annotations

import uuid

from atelier.chain.evm.client import chain_for
from atelier.core.runtime import Runtime
from atelier.core.transactions import autocommit, unit_of_work
from atelier.governance import service
from atelier.governance.models import Vote
from atelier.identity.principal import Principal


async def cast(
    runtime: Runtime,
    some_id: uuid.UUID,
    ballot: service.VoteRequest,
    principal: Principal | None,
) -> tuple[Vote, str]:
    """`some_id`: the proposal's id or its job's; the stored vote and what happened."""
    chain = await chain_for(runtime)
    async with autocommit(runtime) as conn, unit_of_work(runtime) as session:
        terms = await service.terms_of(runtime.adapters, conn, some_id)
        return await service.cast_vote(
            session, conn, runtime.settings, chain, terms, ballot, principal
        )
