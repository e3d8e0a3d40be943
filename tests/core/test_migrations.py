"""Migrations: the models and the migration history describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from atelier.core import migrate
from atelier.core.db import sqlalchemy_url
from atelier.models import metadata
from tests.conftest import fresh_database


def test_models_match_migrations(pg_server: Any) -> None:
    url = fresh_database(pg_server, "schema_diff")
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, metadata)
            if not (isinstance(d, tuple) and "procrastinate" in str(d))
        ]
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(pg_server: Any) -> None:
    url = fresh_database(pg_server, "down_up")
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
