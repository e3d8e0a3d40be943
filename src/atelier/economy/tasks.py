"""The economy counts the grid's accepted work, closes each month on the 1st, and sends
pending payouts."""

from __future__ import annotations

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.errors import AppError
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import contributions, distribution, months, scheduled, stripe_connect
from atelier.grid.events import ArtifactAccepted, CanaryChecked

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@events.subscribe(ArtifactAccepted)
async def count_contribution(session: AsyncSession, event: ArtifactAccepted) -> None:
    """Accepted work (it passed the grid's validation) is what workers are paid for."""
    if event.worker_id is None or event.work_units <= 0:
        return
    await contributions.record(
        session,
        contributions.Accepted(
            artifact_id=event.artifact_id,
            worker_id=event.worker_id,
            worker_name=event.worker_name or event.worker_id.hex[:8],
            owner_id=event.worker_owner_id,
            kind=event.kind,
            units=event.work_units,
            accepted_at=event.accepted_at or now_utc(),
        ),
    )


@events.subscribe(CanaryChecked)
async def count_canary(session: AsyncSession, event: CanaryChecked) -> None:
    """A new worker is paid once it passed its canaries; a failed one holds its share."""
    await contributions.record_canary(
        session,
        event.worker_id,
        event.worker_name,
        event.worker_owner_id,
        event.passed,
        event.reason,
        event.checked_at or now_utc(),
    )


@blueprint.periodic(cron="0 0 1 * *")
@blueprint.task(name="close_month", queueing_lock="economy_close_month", lock="economy_months")
async def close_month(timestamp: int | None = None) -> None:
    """On the 1st at 00:00 UTC, distribute the month that just ended (a rerun of a closed
    month changes nothing)."""
    runtime = current_runtime()
    month = months.previous(months.of(now_utc()))
    try:
        async with unit_of_work(runtime) as session:
            closed = await distribution.distribute(session, runtime.settings, month)
    except AppError as exc:
        log.warning("economy.close_month_refused", month=months.label(month), reason=exc.detail)
        return
    log.info(
        "economy.close_month",
        month=closed.label,
        contributors=closed.contributors,
        pools={c.currency: c.pool for c in closed.currencies},
        digest=closed.digest,
    )


@blueprint.periodic(cron="*/10 * * * *")
@blueprint.task(name="send_payouts", queueing_lock="economy_send_payouts", lock="economy_payouts")
async def send_payouts(timestamp: int | None = None) -> None:
    """Every 10 minutes, when a Stripe secret key is configured: send pending payouts to
    contributors who set a Stripe Connect account."""
    runtime = current_runtime()
    provider = stripe_connect.provider_for(runtime)
    if provider is None:
        return
    report = await scheduled.send_payouts(runtime, provider)
    if report.sent or report.failed or report.left:
        log.info("economy.payouts", sent=report.sent, failed=report.failed, left=report.left)
