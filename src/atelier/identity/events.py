"""What identity tells the rest of the platform (and its own background tasks)."""

from __future__ import annotations

import uuid

from atelier.core.events import Event


class UserRegistered(Event):
    """An account was created with an email address to verify (also emitted again when its
    owner asks for a new verification link)."""

    user_id: uuid.UUID
    email: str


class RegistrationRepeated(Event):
    """Someone registered an address that already has an account. The API answered exactly as
    for a new one (it does not reveal who has an account); the owner is told by email."""

    user_id: uuid.UUID
