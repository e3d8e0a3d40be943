"""What social tells the rest of the platform."""

from __future__ import annotations

from atelier.core.events import Event


class CastIndexed(Event):
    """A verified cast joined the feed (public: the feed page refreshes on it)."""

    hash: str
    fid: int
    text: str

    def audience(self) -> tuple[str, ...]:
        return ("public",)


class CastReacted(Event):
    """A kept cast's likes or recasts changed (public: the feed shows the new counts)."""

    hash: str
    likes: int
    recasts: int

    def audience(self) -> tuple[str, ...]:
        return ("public",)
