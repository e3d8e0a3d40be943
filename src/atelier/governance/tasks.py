"""A finished job gets its proposal; the relayer and indexer tick in the background."""

from __future__ import annotations

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.evm.client import chain_for
from atelier.core import events
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.governance import scheduled, service
from atelier.grid.events import BENCHMARK_SOURCE, ArtifactAccepted

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@events.subscribe(ArtifactAccepted)
async def job_proposal(session: AsyncSession, event: ArtifactAccepted) -> None:
    """The seed's render + vote flow: a completed job is put to the community's vote."""
    if event.creator_id is None or event.source == BENCHMARK_SOURCE:
        return
    runtime = current_runtime()
    proposal = await service.create_job_proposal(
        session,
        runtime.settings,
        await chain_for(runtime),
        event.request_id,
        event.kind,
        event.creator_id,
    )
    log.info("governance.job_proposal", job_id=str(event.request_id), proposal=str(proposal.id))


@blueprint.periodic(cron="* * * * * */2")
@blueprint.task(name="chain_tick", queueing_lock="governance_chain_tick", lock="governance_chain")
async def chain_tick(timestamp: int | None = None) -> None:
    runtime = current_runtime()
    if not runtime.settings.chain_relay:
        return
    report = await scheduled.chain_tick(runtime)
    if any((report.mirrored, report.relayed, report.failed, report.added, report.removed)):
        log.info(
            "governance.chain_tick",
            mirrored=report.mirrored,
            relayed=report.relayed,
            failed=report.failed,
            added=report.added,
            removed=report.removed,
            reorg_at=report.reorg_at,
            applied=report.applied,
        )
