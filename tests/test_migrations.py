"""The migrations and the models agree, and every revision goes down and up again."""

from __future__ import annotations

from sqlalchemy import inspect, text

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


async def test_cases_keep_their_rows_and_history_through_the_rename(db: Database) -> None:
    """0006 → 0007 renames hardship_cases to cases: a case written before (with its history)
    is there after, and the history still points at it; 0006 gives the old name back."""
    await downgrade(db, "0006")
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO units (id, code, name, kind, path, is_public, staff_count, "
                "created_at, updated_at) VALUES (1, 'LD', 'Tỉnh', 'province', '/1/', true, 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO hardship_cases (id, kind, subject_name, unit_id, category, "
                "description, status, period_year, created_at, updated_at) VALUES (7, 'legal', "
                "'Lê Thị Hoa', 1, 'tien_luong', '', 'supported', 2026, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO case_events (id, case_id, to_status, note, changed_at) "
                "VALUES (1, 7, 'reported', '', CURRENT_TIMESTAMP)"
            )
        )
    await upgrade(db)
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT c.id, c.kind, c.subject_name, e.to_status FROM cases c "
                    "JOIN case_events e ON e.case_id = c.id"
                )
            )
        ).all()
        foreign = await conn.run_sync(
            lambda c: [fk["referred_table"] for fk in inspect(c).get_foreign_keys("case_events")]
        )
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert [tuple(r) for r in rows] == [(7, "legal", "Lê Thị Hoa", "reported")]
    assert "cases" in foreign and "hardship_cases" not in names
    await downgrade(db, "0006")
    async with db.engine.connect() as conn:
        back = (await conn.execute(text("SELECT id, kind FROM hardship_cases"))).all()
    assert [tuple(r) for r in back] == [(7, "legal")]
    await upgrade(db)


async def test_a_delivery_without_a_chat_loses_its_made_up_channel(db: Database) -> None:
    """0012: a delivery's channel is its chat's; a row for a person with no chat (written as
    Telegram before) has none.  The rebuilt table keeps its rows and the reminder's link to
    the notice delivery it reminds of; 0011 writes Telegram back."""
    await downgrade(db, "0011")
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO units (id, code, name, kind, path, is_public, staff_count, "
                "created_at, updated_at) VALUES (1, 'LD', 'Tỉnh', 'province', '/1/', true, 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO chat_identities (id, channel, external_id, stage, stopped, locale, "
                "created_at, updated_at) VALUES (5, 'local', 'c5', 'linked', false, 'vi', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for id_, chat, channel, reminds in (
            (1, "5", "'local'", "NULL"),
            (2, "5", "'local'", "1"),
            (3, "NULL", "'telegram'", "NULL"),
        ):
            await conn.execute(
                text(
                    "INSERT INTO deliveries (id, kind, chat_id, channel, reminds_id, text, "
                    "ack_button, status, attempts, available_at, created_at) VALUES "
                    f"({id_}, 'notice', {chat}, {channel}, {reminds}, 'x', false, 'queued', 0, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
    await upgrade(db)
    query = text("SELECT id, channel, reminds_id FROM deliveries ORDER BY id")
    async with db.engine.connect() as conn:
        rows = [tuple(r) for r in (await conn.execute(query)).all()]
    assert rows == [(1, "local", None), (2, "local", 1), (3, None, None)]
    await downgrade(db, "0011")
    async with db.engine.connect() as conn:
        rows = [tuple(r) for r in (await conn.execute(query)).all()]
    assert rows == [(1, "local", None), (2, "local", 1), (3, "telegram", None)]
    await upgrade(db)
