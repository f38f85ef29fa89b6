"""``congdoan purge [--dry-run]``: the table of what would go (nothing changed), then the
real purge with the same counts and its audit row; a bad retention setting names itself."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Table, func, insert, select
from typer.testing import CliRunner

from bot.cli import app
from storage import audit
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    AuditAction,
    Channel,
    ChatStage,
    InboxUpdate,
    PendingStatus,
    UnitKind,
    utcnow,
)
from storage.tables import audit_events, chats, pending_links, units

runner = CliRunner()
inbox_updates: Table = InboxUpdate.__table__  # type: ignore[attr-defined]
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for var in ("DATABASE_URL", "TZ", "BOT_TZ", "RETAIN_INBOX_DAYS", "INBOX_RETENTION_DAYS"):
        monkeypatch.delenv(var, raising=False)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    # Wide enough that rich does not wrap the table's rows.
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'purge.db'}", "TZ": "", "COLUMNS": "200"}
    env.update(extra)
    return env


async def seed(url: str) -> None:
    """Relative to the real clock (the command reads it): one row of three kinds past its
    limit, one of each well within it."""
    db = Database(url)
    now = utcnow()
    try:
        await upgrade(db)
        async with db.session(write=True) as s:
            unit = (
                await s.execute(
                    insert(units)
                    .values(code="U1", name="Trường A", kind=UnitKind.GRASSROOTS, path="/")
                    .values(is_public=True, staff_count=1, created_at=now, updated_at=now)
                    .returning(units.c.id)
                )
            ).scalar_one()
            chat = (
                await s.execute(
                    insert(chats)
                    .values(channel=Channel.TELEGRAM, external_id="7001", stage=ChatStage.NEW)
                    .values(stopped=False, locale="vi", created_at=now, updated_at=now)
                    .returning(chats.c.id)
                )
            ).scalar_one()
            for key, handled in (("1", now - 10 * DAY), ("2", now - DAY)):
                await s.execute(
                    insert(inbox_updates).values(
                        channel=Channel.TELEGRAM,
                        update_id=int(key),
                        update_key=key,
                        payload='{"message": {"text": "Em tên Dung, 0912999999"}}',
                        attempts=0,
                        received_at=handled,
                        handled_at=handled,
                        replied_at=handled,
                    )
                )
            for resolved in (now - 60 * DAY, now - DAY):
                await s.execute(
                    insert(pending_links).values(
                        chat_id=chat,
                        full_name="Phạm Thị Dung",
                        phone="0912999999",
                        unit_id=unit,
                        status=PendingStatus.REJECTED,
                        created_at=resolved,
                        resolved_at=resolved,
                    )
                )
            for years in (6, 1):
                await audit.record(
                    s, AuditAction.ROLE_CHANGED, via="cli", at=now - years * 366 * DAY
                )
    finally:
        await db.dispose()


async def counts(url: str) -> tuple[int, int, list[tuple[str, str, str]]]:
    """(inbox rows, link requests, the audit trail as (action, via, detail))."""
    db = Database(url)
    try:
        async with db.session() as s:
            inbox = (await s.execute(select(func.count()).select_from(inbox_updates))).scalar_one()
            links = (await s.execute(select(func.count()).select_from(pending_links))).scalar_one()
            trail = (
                await s.execute(
                    select(
                        audit_events.c.action, audit_events.c.via, audit_events.c.detail
                    ).order_by(audit_events.c.id)
                )
            ).all()
    finally:
        await db.dispose()
    return int(inbox), int(links), [(str(a), str(v), str(d)) for a, v, d in trail]


def row(output: str, setting: str, what: str) -> str:
    """The count in the table's row of ``what`` (kept by ``setting``)."""
    for line in output.splitlines():
        if what in line and setting in line:
            return re.split(r"[│|]", line.strip().strip("│|"))[-1].strip()
    raise AssertionError(f"no row {what!r} in:\n{output}")


def test_dry_run_shows_what_would_go_and_the_purge_removes_it(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    asyncio.run(seed(env["DATABASE_URL"]))
    before = asyncio.run(counts(env["DATABASE_URL"]))
    assert (before[0], before[1], len(before[2])) == (2, 2, 2)

    dry = runner.invoke(app, ["purge", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing changed" in dry.output and "Would go" in dry.output
    assert row(dry.output, "RETAIN_INBOX_DAYS", "inbox updates handled") == "1"
    assert row(dry.output, "RETAIN_REJECTED_LINKS_DAYS", "rejected link") == "1"
    assert row(dry.output, "RETAIN_AUDIT_YEARS", "audit rows") == "1"
    assert row(dry.output, "RETAIN_DELIVERY_DAYS", "deliveries") == "0"
    assert "7 days" in dry.output and "400 days" in dry.output and "5 years" in dry.output
    assert "3 rows would be removed or blanked" in dry.output
    assert asyncio.run(counts(env["DATABASE_URL"])) == before

    real = runner.invoke(app, ["purge"], env=env)
    assert real.exit_code == 0, real.output
    assert "Went" in real.output
    assert row(real.output, "RETAIN_INBOX_DAYS", "inbox updates handled") == "1"
    assert row(real.output, "RETAIN_REJECTED_LINKS_DAYS", "rejected link") == "1"
    assert row(real.output, "RETAIN_AUDIT_YEARS", "audit rows") == "1"
    assert "3 rows removed or blanked" in real.output
    inbox, links, trail = asyncio.run(counts(env["DATABASE_URL"]))
    assert (inbox, links) == (1, 1)
    assert [(a, v) for a, v, _ in trail] == [("role_changed", "cli"), ("purged", "cli")]
    detail = json.loads(trail[-1][2])
    assert (detail["inbox"], detail["rejected_links"], detail["audit"]) == (1, 1, 1)
    assert sum(detail.values()) == 3


def test_a_longer_setting_keeps_more(tmp_path: Path) -> None:
    env = env_for(tmp_path, RETAIN_INBOX_DAYS="30", RETAIN_REJECTED_LINKS_DAYS="90")
    asyncio.run(seed(env["DATABASE_URL"]))
    dry = runner.invoke(app, ["purge", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "30 days" in dry.output and "90 days" in dry.output
    assert row(dry.output, "RETAIN_INBOX_DAYS", "inbox updates handled") == "0"
    assert row(dry.output, "RETAIN_REJECTED_LINKS_DAYS", "rejected link") == "0"


def test_a_bad_retention_setting_names_the_variable(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["purge", "--dry-run"], env=env_for(tmp_path, RETAIN_AUDIT_YEARS="0")
    )
    assert result.exit_code == 2
    assert "RETAIN_AUDIT_YEARS is invalid" in result.output
    assert "Traceback" not in result.output
    # The inbox's retention is still read under its old name.
    result = runner.invoke(
        app, ["purge", "--dry-run"], env=env_for(tmp_path, INBOX_RETENTION_DAYS="0")
    )
    assert result.exit_code == 2
    assert "RETAIN_INBOX_DAYS is invalid" in result.output
