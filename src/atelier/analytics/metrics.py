"""The product counters on /metrics: today's rollups as Prometheus gauges, read from the
database at most every 15 s per process (a scrape, or anyone calling /metrics, costs no
more than that)."""

from __future__ import annotations

import time

from prometheus_client import Gauge

from atelier.analytics import service
from atelier.core.clock import now_utc
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work

EVENTS = Gauge("atelier_product_events_today", "product facts today (UTC)", ["metric"])
PEOPLE = Gauge("atelier_product_people_today", "distinct people behind them today", ["metric"])
REFRESH_S = 15.0
_read_at = 0.0


async def refresh(runtime: Runtime) -> None:
    global _read_at
    if time.monotonic() - _read_at < REFRESH_S:
        return
    _read_at = time.monotonic()
    async with unit_of_work(runtime) as session:
        today = await service.on(session, now_utc().date())
    for metric in service.METRICS:
        count, people = today.get(metric, (0, 0))
        EVENTS.labels(metric).set(count)
        PEOPLE.labels(metric).set(people)
