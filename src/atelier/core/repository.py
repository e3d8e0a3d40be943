"""What every repository does the same way: add a row, add one that may collide with a
concurrent request's, remove one, fetch one by key.

Services never touch the session's SQL methods themselves; they call their domain's
repository, which uses these for the generic cases.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def add(session: AsyncSession, entity: T, *, refresh: bool = False) -> T:
    """Insert `entity` now (its defaults and generated keys are then set on it)."""
    session.add(entity)
    await session.flush()
    if refresh:  # server-side defaults the flush did not bring back
        await session.refresh(entity)
    return entity


async def add_unique(session: AsyncSession, entity: Any) -> bool:
    """Insert `entity`: False when a unique constraint says a concurrent request won the race
    (the row is then forgotten: a savepoint rolls it back, the transaction goes on)."""
    try:
        async with session.begin_nested():
            session.add(entity)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def remove(session: AsyncSession, entity: Any) -> None:
    await session.delete(entity)
    await session.flush()


async def get(
    session: AsyncSession, model: type[T], key: Any, *, for_update: bool = False
) -> T | None:
    """The row of `model` with primary key `key`; locked for this transaction on request."""
    return await session.get(model, key, with_for_update=for_update)
