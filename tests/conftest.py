"""One embedded PostgreSQL per test session; a fresh database per test module, cloned from a
migrated template (a clone takes ~100 ms, a migration run several seconds)."""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.core import migrate
from atelier.core.config import Settings
from atelier.core.embedded import create_database_if_missing
from atelier.core.runtime import Runtime
from atelier.core.startup import close_runtime, open_runtime
from atelier.server.app import create_app
from atelier.server.modules import task_blueprints

TEMPLATE = "atelier_template"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    create_database_if_missing(server.get_uri(), TEMPLATE)
    migrate.upgrade(server.get_uri(TEMPLATE))
    return server


def fresh_database(pg_server: Any, label: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", label.lower())[-40:] + "_" + uuid.uuid4().hex[:6]
    create_database_if_missing(pg_server.get_uri(), name, template=TEMPLATE)
    return str(pg_server.get_uri(name))


@pytest.fixture(scope="module")
def database_url(pg_server: Any, request: pytest.FixtureRequest) -> str:
    return fresh_database(pg_server, request.module.__name__)


def make_settings(home: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "rate_limit_auth": "100000/minute",
        "rate_limit_write": "100000/minute",
        "rate_limit_worker": "100000/minute",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(tmp_path_factory.mktemp("home"), database_url)


@pytest.fixture(scope="module")
async def runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    opened = await open_runtime(settings, database_url, blueprints=task_blueprints())
    yield opened
    await close_runtime(opened)


@pytest.fixture(scope="module")
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.origin) as http:
        yield http
