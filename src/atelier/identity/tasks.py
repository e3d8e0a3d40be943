"""Identity's background work: verification emails, reacting to `user.registered`."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.events import OutboxEvent
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.identity import repository as repo
from atelier.identity import service

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@events.subscribe(service.USER_REGISTERED, "identity.send_verification_email")
async def send_verification_email(session: AsyncSession, event: OutboxEvent) -> None:
    runtime = current_runtime()
    user = await repo.user_by_id(session, uuid.UUID(event.payload["user_id"]))
    if user is None:
        return
    token = await service.create_email_verification(
        session, user, runtime.settings.email_token_ttl_s
    )
    if token is None or user.email is None:
        return
    link = f"{runtime.settings.origin}/api/v1/auth/verify-email?token={quote(token)}"
    hours = runtime.settings.email_token_ttl_s // 3600
    await runtime.mailer.send(
        user.email,
        "Verify your Atelier account",
        f"Welcome to Atelier!\n\nConfirm this address by opening:\n\n{link}\n\n"
        f"The link works once and expires in {hours} hours. If you did not sign up, ignore "
        "this message.\n",
    )
    log.info("identity.verification_sent", user_id=str(user.id))
