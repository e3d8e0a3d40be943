"""Governance's periodic work, run by the `governance:chain_tick` task and `atelier chain
tick`: one round of mirroring, relaying, indexing and applying, each step its own unit of
work (a step that fails rolls back alone; the next tick tries it again)."""

from __future__ import annotations

from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.governance import relay
from atelier.governance.relay import ChainReport


async def chain_tick(runtime: Runtime) -> ChainReport:
    report = ChainReport()
    for step in relay.STEPS:
        async with unit_of_work(runtime) as session:
            await step(session, runtime, report)
    return report
