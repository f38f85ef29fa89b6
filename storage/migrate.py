"""Schema migrations (Alembic), run programmatically on an async engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(RuntimeError):
    """The database is older (or newer) than the code."""

    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(f"database schema is at {current or 'nothing'}, the code needs {head}")
        self.current = current
        self.head = head


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


async def _migrate(db: Database, run: Callable[[Connection], T]) -> T:
    """Run ``run`` in one transaction.  On SQLite, with foreign keys off while it runs and
    checked before it commits (SQLite's own procedure for a schema change): rebuilding a
    table (how SQLite alters a column) drops the old one, which the rows of tables
    referring to it, the table's own included, would otherwise forbid."""
    async with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:
            async with conn.begin():
                return await conn.run_sync(run)
        await _foreign_keys(conn, on=False)
        try:
            async with conn.begin():
                result = await conn.run_sync(run)
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"the migration leaves broken references: {broken[:5]}")
            return result
        finally:
            await _foreign_keys(conn, on=True)


async def _foreign_keys(conn: AsyncConnection, *, on: bool) -> None:
    # Outside any transaction: inside one, SQLite ignores the pragma.
    await conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    await conn.commit()


async def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``; returns (before, after)."""
    config = alembic_config()

    def run(connection: Connection) -> tuple[str | None, str]:
        before = _current(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = _current(connection)
        return before, after or ""

    return await _migrate(db, run)


async def downgrade(db: Database, revision: str) -> tuple[str | None, str | None]:
    """Take the schema back to ``revision`` (``base``: nothing); returns (before, after)."""
    config = alembic_config()

    def run(connection: Connection) -> tuple[str | None, str | None]:
        before = _current(connection)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        return before, _current(connection)

    return await _migrate(db, run)


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would write: the models against the database (empty: in step)."""
    from alembic.autogenerate import compare_metadata
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers the tables)

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": SQLModel.metadata}
    )
    return list(compare_metadata(context, SQLModel.metadata))


async def check_up_to_date(db: Database) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at the code's head."""
    current = await current_revision(db)
    head = head_revision()
    if current != head:
        raise SchemaOutOfDate(current, head)


async def autogenerate(db: Database, message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)
