"""The one transaction rule: a transaction is opened by whoever is running a unit of work
(a request, a task, an operator command, a flow step), never by a service.

`unit_of_work` is that opening (`autocommit` for the hot paths' single statements).
Services and repositories receive its session and never begin, commit or roll back; the
unit of work commits when the work returns, rolls back when it raises, and then wakes what
the commit made ready: the outbox dispatcher for events written, the flow runner for flows
started.

One deliberate exception: rate-limit counters (`core.ratelimit.hit`) commit on their own,
because a refused or failed attempt must still count.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from procrastinate import exceptions as procrastinate_exceptions
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.db import HotConnection
from atelier.core.errors import AppError
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime

log = get_logger("atelier.transactions")

# Marks a session's transaction wrote something that wants waking once it commits.
OUTBOX_FLAG = "atelier.outbox_emitted"
FLOWS_STARTED = "atelier.flows_started"

DISPATCH_TASK = "core:dispatch_outbox"
RUN_FLOW_TASK = "core:run_flow"


@asynccontextmanager
async def unit_of_work(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """One transaction: committed on success, rolled back on error.

    An `AppError(commit=True)` still commits (security events that must outlive the failed
    request). What the commit made ready is woken once it is durable.
    """
    async with runtime.sessions() as session:
        try:
            yield session
        except AppError as exc:
            await (session.commit() if exc.commit else session.rollback())
            if not exc.commit:
                session.info.clear()
            raise
        except BaseException:
            await session.rollback()
            session.info.clear()
            raise
        else:
            await session.commit()
        finally:
            if session.info:
                await wake(runtime.tasks, session)


@asynccontextmanager
async def autocommit(runtime: Runtime) -> AsyncIterator[HotConnection]:
    """A unit of work of single statements, each its own transaction: a hot path's psycopg
    connection (authentication, the grid's pop, a first vote), without the ORM's per-call
    cost. Its repository statements are written so that one statement is the whole change."""
    async with runtime.hot.connection() as conn:
        yield conn


async def wake(task_app: Any, session: AsyncSession) -> None:
    """After a commit: dispatch the events it wrote and run the flows it started now rather
    than at the next periodic sweep (best effort: the sweeps pick them up anyway)."""
    try:
        if session.info.pop(OUTBOX_FLAG, False):
            await kick_dispatcher(task_app)
        for run_id in session.info.pop(FLOWS_STARTED, ()):
            await kick_flow(task_app, run_id)
    except Exception:
        log.warning("transactions.wake_failed", exc_info=True)


async def kick_dispatcher(task_app: Any) -> None:
    """Ask for an outbox dispatch now instead of at the next periodic tick."""
    with contextlib.suppress(procrastinate_exceptions.AlreadyEnqueued):
        await task_app.configure_task(DISPATCH_TASK, queueing_lock="dispatch_outbox").defer_async()


async def kick_flow(task_app: Any, run_id: str) -> None:
    """Queue a flow run (once: a run already queued is not queued twice, and a run's jobs
    never run side by side)."""
    with contextlib.suppress(procrastinate_exceptions.AlreadyEnqueued):
        await task_app.configure_task(
            RUN_FLOW_TASK, lock=f"flow:{run_id}", queueing_lock=f"flow:{run_id}"
        ).defer_async(run_id=run_id)
