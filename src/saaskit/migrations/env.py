"""Alembic environment: runs as the owner role, with a synchronous psycopg connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from saaskit.kit.db import create_owner_engine
from saaskit.kit.migrations import include_object
from saaskit.kit.sqlobjects import order_directives
from saaskit.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "the owner database URL must be set"
    engine = create_owner_engine(url)  # hide_parameters, scrubbed error texts (kit.logsafe)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
        process_revision_directives=order_directives,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
