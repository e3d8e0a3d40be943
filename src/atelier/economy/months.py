"""Calendar months in UTC, named "YYYY-MM" (the transparency routes' and the CLI's form)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from atelier.core.errors import InvalidInput

_LABEL = re.compile(r"^(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])$")


def parse(label: str) -> date:
    """The first day of the month `label` ("2026-11") names; InvalidInput otherwise."""
    found = _LABEL.match(label)
    if found is None or not 2000 <= int(found["year"]) <= 9998:
        raise InvalidInput(f"{label[:20]!r} is not a month (YYYY-MM)", slug="invalid-month")
    return date(int(found["year"]), int(found["month"]), 1)


def label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def of(moment: datetime) -> date:
    """The month `moment` falls in (UTC)."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def following(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def start(month: date) -> datetime:
    """The month's first instant (UTC)."""
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def end(month: date) -> datetime:
    """The month's last recorded instant: a close's postings are dated here, in the month."""
    return start(following(month)) - timedelta(microseconds=1)
