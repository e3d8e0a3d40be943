"""Identity's background work: the emails its own events call for."""

from __future__ import annotations

from urllib.parse import quote

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events, ratelimit
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.identity import repository as repo
from atelier.identity.events import RegistrationRepeated, UserRegistered
from atelier.identity.service import accounts

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@events.subscribe(UserRegistered)
async def send_verification_email(session: AsyncSession, event: UserRegistered) -> None:
    runtime = current_runtime()
    user = await repo.user_by_id(session, event.user_id)
    if user is None:
        return
    token = await accounts.create_email_verification(
        session, user, runtime.settings.email_token_ttl_s
    )
    if token is None or user.email is None:
        return
    link = f"{runtime.settings.origin}/verify-email?token={quote(token)}"
    hours = runtime.settings.email_token_ttl_s // 3600
    await runtime.mailer.send(
        user.email,
        "Verify your Atelier account",
        f"Welcome to Atelier!\n\nConfirm this address by opening:\n\n{link}\n\n"
        f"The link works once and expires in {hours} hours. If you did not sign up, ignore "
        "this message.\n",
    )
    log.info("identity.verification_sent", user_id=str(user.id))


@events.subscribe(RegistrationRepeated)
async def tell_owner_of_repeat(session: AsyncSession, event: RegistrationRepeated) -> None:
    """Someone registered an address that has an account: tell its owner, at most once a
    day (a stranger may repeat it to flood the inbox)."""
    runtime = current_runtime()
    user = await repo.user_by_id(session, event.user_id)
    if user is None or user.email is None:
        return
    once_a_day = await ratelimit.hit(runtime.sessions, f"notice:repeat:{user.id}", 1, 86400)
    if not once_a_day.allowed:
        return
    await runtime.mailer.send(
        user.email,
        "Someone tried to sign up with your address",
        "Someone just tried to create an Atelier account with this email address, which "
        "already has one.\n\nIf it was you: sign in at "
        f"{runtime.settings.origin} with your password (or the wallet you use).\n"
        "If it was not you: nothing has changed, and you need do nothing.\n",
    )
    log.info("identity.repeat_notice_sent", user_id=str(user.id))
