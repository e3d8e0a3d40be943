"""The one clock: timezone-aware UTC (DESIGN.md section 5)."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC)
