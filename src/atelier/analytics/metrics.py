"""The product counters on /metrics: today's rollups as Prometheus gauges. The server reads
them from the database at most every 15 s per process (`due`), so a scrape, or anyone
calling /metrics, costs no more than that."""

from __future__ import annotations

import time

from prometheus_client import Gauge

from atelier.analytics.service import METRICS

EVENTS = Gauge("atelier_product_events_today", "product facts today (UTC)", ["metric"])
PEOPLE = Gauge("atelier_product_people_today", "distinct people behind them today", ["metric"])
REFRESH_S = 15.0
_read_at = 0.0


def due() -> bool:
    """True at most once every REFRESH_S: time to read the counts again."""
    global _read_at
    if time.monotonic() - _read_at < REFRESH_S:
        return False
    _read_at = time.monotonic()
    return True


def show(today: dict[str, tuple[int, int]]) -> None:
    for metric in METRICS:
        count, people = today.get(metric, (0, 0))
        EVENTS.labels(metric).set(count)
        PEOPLE.labels(metric).set(people)
