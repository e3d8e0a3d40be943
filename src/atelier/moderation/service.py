"""Moderation logic: hiding content with a reason, its owner's appeal, an admin's decision,
and the question every public listing asks (`hidden`). The domains that show content ask;
the admin domain resolves who owns what before it hides it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.errors import Conflict, Forbidden, NotFound
from atelier.identity.principal import Principal
from atelier.moderation import repository as repo
from atelier.moderation.events import ContentModerated
from atelier.moderation.models import Case

KINDS = ("artifact", "nft", "cast", "script")


async def hide(
    session: AsyncSession,
    admin: Principal,
    kind: str,
    target_id: str,
    owner_id: uuid.UUID | None,
    reason: str,
) -> Case:
    """Hide a piece of content (again, if it was restored) with the reason its owner sees."""
    if not admin.has_role("admin"):
        raise Forbidden("moderation is for admins", slug="missing-role")
    found = await repo.case_for(session, kind, target_id, lock=True)
    if found is None:
        found = await repo.add(
            session,
            Case(
                target_kind=kind,
                target_id=target_id,
                owner_id=owner_id,
                reason=reason,
                hidden=True,
                decided_by=admin.user_id,
            ),
        )
    else:
        found.hidden, found.reason, found.decided_by = True, reason, admin.user_id
        found.appeal = found.appealed_at = found.resolution = found.resolved_at = None
    await _announce(session, found)
    return found


async def decide(
    session: AsyncSession, admin: Principal, case_id: uuid.UUID, *, restore: bool, note: str
) -> Case:
    """An admin's answer to a case (an appeal, or on their own): restore it or keep it
    hidden, with a note the owner reads."""
    if not admin.has_role("admin"):
        raise Forbidden("moderation is for admins", slug="missing-role")
    found = await repo.case(session, case_id, lock=True)
    if found is None:
        raise NotFound("no such moderation case", slug="case-not-found")
    found.hidden = not restore
    found.resolution, found.resolved_at, found.decided_by = note, now_utc(), admin.user_id
    await _announce(session, found)
    return found


async def appeal(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, text: str
) -> Case:
    """The owner asks for a decision to be looked at again (once per decision)."""
    found = await repo.case(session, case_id, lock=True)
    if found is None or found.owner_id != principal.user_id:
        raise NotFound("no such moderation case of yours", slug="case-not-found")
    if not found.hidden:
        raise Conflict("this content is not hidden", slug="not-hidden")
    if found.appealed_at is not None and found.resolved_at is None:
        raise Conflict("your appeal is waiting for an admin", slug="appeal-pending")
    if found.resolved_at is not None:
        decided = "your appeal was decided: " + (found.resolution or "")
        raise Conflict(decided, slug="appeal-decided")
    found.appeal, found.appealed_at = text, now_utc()
    return found


async def appeal_about(
    session: AsyncSession, principal: Principal, kind: str, target_id: str, text: str
) -> Case:
    """The owner's appeal, named by the content it concerns (what a page knows)."""
    found = await repo.case_for(session, kind, target_id, lock=True)
    if found is None or not found.hidden:
        raise NotFound(f"this {kind} is not hidden", slug="not-hidden")
    return await appeal(session, principal, found.id, text)


async def _announce(session: AsyncSession, found: Case) -> None:
    moderated = ContentModerated(
        case_id=found.id,
        target_kind=found.target_kind,
        target_id=found.target_id,
        owner_id=found.owner_id,
        hidden=found.hidden,
        reason=found.resolution if not found.hidden and found.resolution else found.reason,
    )
    await events.emit(session, moderated)


async def hidden(session: AsyncSession, kind: str, target_ids: list[str]) -> set[str]:
    """Which of these are hidden (the public listings leave them out)."""
    return await repo.hidden_ids(session, kind, target_ids)


async def all_hidden(session: AsyncSession, kind: str) -> set[str]:
    """Every hidden target of a kind, for listings that leave them out in their own query
    (so a page is never cut short): a moderator's handful, not the catalogue."""
    return await repo.all_hidden(session, kind)


async def refuse_if_hidden(
    session: AsyncSession, kind: str, target_id: str, *, may_see: bool
) -> Case | None:
    """404 `<kind>-hidden` for content a moderator hid, unless the caller may see it anyway
    (its owner, who is shown why, and admins); the hiding case otherwise, or None."""
    found = await repo.case_for(session, kind, target_id)
    if found is None or not found.hidden:
        return None
    if not may_see:
        raise NotFound(
            f"this {kind} was hidden by the moderators; its owner sees why", slug=f"{kind}-hidden"
        )
    return found


async def case_for(session: AsyncSession, kind: str, target_id: str) -> Case | None:
    return await repo.case_for(session, kind, target_id)


async def mine(session: AsyncSession, principal: Principal) -> list[Case]:
    return await repo.cases_of(session, principal.user_id)


async def queue(session: AsyncSession) -> list[Case]:
    return await repo.queue(session)
