"""Following a hub (the `social:tick` task, every few seconds): read its event stream from
the last event read, check and keep what the feed follows, and move the cursor in the same
transaction as the casts, so a crash re-reads a page rather than skipping one.

The hub is asked for events *from* the last one read (inclusive): a hub that still has it
sends it first. When it does not (the hub pruned its history past our place, or restarted
with a fresh log), the events in between are lost to the stream, so the feed is backfilled
from each followed account's casts (`/v1/castsByFid`); a hub whose log restarted lower is
read again from its start (repeats are no-ops: a message's hash is its id). A hub that
fails or answers garbage leaves the cursor where it was; the error is kept on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atelier.core.clock import now_utc
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.social import repository as repo
from atelier.social import service
from atelier.social.hub import EventsPage, HubClient, HubError
from atelier.social.service import Indexed

log = get_logger(__name__)

PAGE_SIZE = 1000
PAGES_PER_TICK = 10
BACKFILL_PAGES = 20  # per followed account, 100 casts a page
REVOKE = "HUB_EVENT_TYPE_REVOKE_MESSAGE"
KEPT = (Indexed.STORED, Indexed.REMOVED, Indexed.PROFILE, Indexed.REACTION)
MERGE = "HUB_EVENT_TYPE_MERGE_MESSAGE"


@dataclass
class SyncReport:
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    gap: bool = False
    backfilled: int = 0
    error: str | None = None

    def count(self, outcome: Indexed) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


async def follow_hub(runtime: Runtime, client: HubClient | None = None) -> SyncReport:
    """One tick: catch up with the hub's events (a few pages at most)."""
    report = SyncReport()
    if not service.enabled(runtime.settings):
        return report
    client = client or service.hub_client(runtime.settings)
    try:
        for _ in range(PAGES_PER_TICK):
            async with unit_of_work(runtime) as session:
                cursor = await repo.cursor(session, client.base_url)
                last, backfill_due = cursor.last_event_id, cursor.backfilled_at is None
            if backfill_due:
                report.backfilled += await backfill(runtime, client)
            page = await client.events(last, page_size=PAGE_SIZE)
            if not await _apply(runtime, client.base_url, last, page, report):
                break
    except HubError as exc:
        report.error = str(exc)
        async with unit_of_work(runtime) as session:
            (await repo.cursor(session, client.base_url)).last_error = str(exc)[:500]
        log.warning("social.hub_unreadable", hub=client.base_url, error=str(exc))
    return report


async def _apply(
    runtime: Runtime, hub: str, last: int, page: EventsPage, report: SyncReport
) -> bool:
    """Index one page and move the cursor past it; True if there is more to do now (the hub
    may have more, or a gap wants its backfill)."""
    events = page.events
    lost = last > 0 and (not events or events[0].id != last)
    if last > 0 and not lost:
        events = events[1:]  # our last event, read already
    async with unit_of_work(runtime) as session:
        cursor = await repo.cursor(session, hub)
        if cursor.last_event_id != last:
            return False  # another indexer moved it meanwhile: its turn
        messages = [
            (event.message, event.type == REVOKE)
            for event in events
            if event.message is not None and event.type in (MERGE, REVOKE)
        ]
        for outcome in await service.index(session, runtime.settings, messages):
            report.count(outcome)
            cursor.indexed += outcome in KEPT
            cursor.refused += outcome == Indexed.REFUSED
        report.events += len(events)
        if lost:
            report.gap = True
            cursor.backfilled_at = None  # next tick backfills what fell between
            log.warning(
                "social.hub_gap", hub=hub, last=last, first=events[0].id if events else None
            )
        if events:
            cursor.last_event_id = max(e.id for e in events)
        elif lost:
            cursor.last_event_id = 0  # the hub's log starts again: read it from its start
        cursor.last_error = None
    return len(page.events) >= PAGE_SIZE or lost


async def backfill(runtime: Runtime, client: HubClient) -> int:
    """Every followed account's casts and profile from the hub's stores, not its stream."""
    kept = 0
    for fid in service.followed(runtime.settings):
        token: str | None = None
        for _ in range(BACKFILL_PAGES):
            messages, token = await client.casts_by_fid(fid, page_token=token)
            kept += await _index_all(runtime, messages)
            if token is None:
                break
        kept += await _index_all(runtime, await client.user_data_by_fid(fid))
    async with unit_of_work(runtime) as session:
        (await repo.cursor(session, client.base_url)).backfilled_at = now_utc()
    return kept


async def _index_all(runtime: Runtime, messages: list[object]) -> int:
    async with unit_of_work(runtime) as session:
        outcomes = await service.index(session, runtime.settings, [(m, False) for m in messages])
    return sum(outcome in (Indexed.STORED, Indexed.PROFILE) for outcome in outcomes)
