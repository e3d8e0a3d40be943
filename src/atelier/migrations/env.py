"""Alembic environment: synchronous psycopg, all of Atelier's models as the target."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from atelier.models import metadata

config = context.config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """procrastinate owns its tables; autogenerate must neither create nor drop them."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate"))


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            include_name=include_name,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run against a database")
run_migrations_online()
