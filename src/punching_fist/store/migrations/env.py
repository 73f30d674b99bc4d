"""Alembic environment: migrations run on a connection handed over by ``punching_fist.store``.

The store runs ``upgrade`` inside ``AsyncConnection.run_sync``, so this file never builds an
engine of its own; ``alembic`` on the command line works too when given ``-x url=...``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from punching_fist.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("pass the database with: alembic -x url=sqlite:///path.db upgrade head")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)


main()
