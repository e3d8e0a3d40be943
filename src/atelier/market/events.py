"""What the market tells the rest of the platform."""

from __future__ import annotations

import uuid

from atelier.core.events import Event


class ListingChanged(Event):
    """A listing took a bid, sold, ended, was cancelled or repriced: its public page reads
    it again."""

    listing_id: uuid.UUID
    status: str

    def audience(self) -> tuple[str, ...]:
        return ("public",)
