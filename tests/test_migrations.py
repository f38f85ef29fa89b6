"""The migrations and the models agree, and every revision goes down and up again."""

from __future__ import annotations

from sqlalchemy import inspect

from storage.db import Database
from storage.migrate import current_revision, differences, downgrade, head_revision, upgrade


async def test_models_match_the_migrated_schema(db: Database) -> None:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(differences)
    assert found == []


async def test_every_revision_goes_down_and_up_again(db: Database) -> None:
    head = head_revision()
    assert await current_revision(db) == head
    assert await downgrade(db, "base") == (head, None)
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
    assert await upgrade(db) == (None, head)
    async with db.engine.connect() as conn:
        found = await conn.run_sync(differences)
    assert found == []


async def test_notice_reminders_revision_adds_and_removes_the_link(db: Database) -> None:
    async def columns() -> set[str]:
        async with db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("deliveries")}
            )

    assert "reminds_id" in await columns()
    await downgrade(db, "0004")
    assert "reminds_id" not in await columns()
    await upgrade(db)
    assert "reminds_id" in await columns()
