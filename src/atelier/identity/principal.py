"""Who is calling: the one identity type every domain's routes and services receive.

Kept apart from identity's services so that a domain which only needs to know its caller
imports this small module, not account management.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved once per request from a JWT or an API key."""

    user_id: uuid.UUID
    roles: tuple[str, ...]
    email_verified: bool
    via: str  # "jwt" (a signed-in session), "api_key", or what acted for the user
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    scope: str = "full"  # an API key's scope: "full" or "worker"

    def has_role(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles

    @property
    def signed_in(self) -> bool:
        """A person in a session, not a key that may sit on some machine."""
        return self.via == "jwt"


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from (recorded with sessions and sign-ins)."""

    ip: str | None
    user_agent: str | None
