"""Opening and closing a process's `Runtime`: database pools, the task app, mail, keys.

Every entry point (the server, a task worker, an operator command, a test) opens its runtime
here. The task blueprints are the caller's to give: a process that only defers tasks needs
none (procrastinate defers by name), one that runs them passes the platform's.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from psycopg_pool import AsyncConnectionPool

from atelier.core.config import Settings
from atelier.core.db import (
    HotConnection,
    create_engine,
    redact_url,
    resolve_database_url,
    session_factory,
)
from atelier.core.limits import pin_recursion_limit
from atelier.core.logging import get_logger
from atelier.core.mail import MailboxMailer, Mailer, SmtpMailer
from atelier.core.runtime import Runtime, set_current_runtime
from atelier.core.secrets import load_or_create_secret
from atelier.core.tasks import build_task_app

log = get_logger("atelier.runtime")


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is not None:
        return SmtpMailer.from_url(settings.smtp_url.get_secret_value(), settings.mail_from)
    return MailboxMailer(settings.mailbox_dir, settings.mail_from)


def jwt_key(settings: Settings) -> bytes:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    return load_or_create_secret(settings.secrets_dir, "jwt.key", 32)


async def open_runtime(
    settings: Settings,
    database_url: str | None = None,
    *,
    blueprints: Mapping[str, Any] | None = None,
) -> Runtime:
    url = database_url or resolve_database_url(settings)
    engine = create_engine(url, pool_size=settings.db_pool_size)
    task_app = build_task_app(url, blueprints or {})
    pin_recursion_limit()  # the tasks' imports (py-evm, py_ecc) raise it for the process
    await task_app.open_async()
    hot: AsyncConnectionPool[HotConnection] = AsyncConnectionPool(
        url,
        min_size=2,
        max_size=settings.db_pool_size,
        kwargs={"autocommit": True, "prepare_threshold": 1},
        open=False,
    )
    await hot.open()
    runtime = Runtime(
        settings=settings,
        database_url=url,
        engine=engine,
        sessions=session_factory(engine),
        hot=hot,
        tasks=task_app,
        mailer=build_mailer(settings),
        jwt_key=jwt_key(settings),
    )
    set_current_runtime(runtime)
    log.info("runtime.open", database=redact_url(url))
    return runtime


async def close_runtime(runtime: Runtime) -> None:
    for adapter in list(runtime.adapters.values()):  # e.g. the embedded Solana runtime's lock
        closing = getattr(adapter, "close", None)
        if callable(closing):
            done = closing()
            if inspect.isawaitable(done):
                await done
    runtime.adapters.clear()
    await runtime.hot.close()
    await runtime.tasks.close_async()
    await runtime.engine.dispose()
    set_current_runtime(None)
