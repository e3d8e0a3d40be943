"""What films tell the rest of the platform."""

from __future__ import annotations

import uuid
from datetime import datetime

from atelier.core.events import Event


class FilmViewed(Event):
    """A signed-in member opened a finished film's viewer (anonymous views are not
    counted: a public page must not write for anyone who asks)."""

    movie_id: uuid.UUID
    viewer_id: uuid.UUID
    at: datetime


class FilmChanged(Event):
    """A film being made moved on (its status, percent or stage), or its signed copy is
    ready: its public viewer reads it again."""

    movie_id: uuid.UUID
    status: str
    progress: float
    stage: str | None = None

    def audience(self) -> tuple[str, ...]:
        return ("public",)
