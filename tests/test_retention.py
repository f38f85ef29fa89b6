"""The retention purge: each kind just inside and just past its limit, a dry run that
announces exactly what the real run then does, notice deliveries of an open year kept, cases
anonymised while the audit trail names them, one purge a day from the scheduler's tick.

The world is built by hand at ``NOW`` (10:00 on 7 December 2026 in Hà Nội), with the default
settings: inbox 7 days, set aside 30 days, deliveries 400 days, their errors 30 days, closed
cases 5 years, rejected links 30 days, audit 5 years.  2020 and 2024 are closed years; 2021 and
2025 are open.  Every expected number below is counted from the rows, by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import build_app
from bot.campaigns.scheduler import Scheduler, SchedulerSettings
from bot.services import retention
from bot.services.conversation import SurveyRegistry
from bot.services.retention import RetentionPolicy
from storage import audit
from storage.db import Database
from storage.models import (
    AuditAction,
    CaseStatus,
    Channel,
    ChatStage,
    DeliveryKind,
    DeliveryStatus,
    InboxUpdate,
    PendingStatus,
    UnitKind,
    utcnow,
)
from storage.retention import Kind
from storage.tables import (
    answers,
    audit_events,
    case_events,
    cases,
    chats,
    closed_years,
    definitions,
    deliveries,
    indicator_snapshots,
    notices,
    pending_links,
    people,
    responses,
    runs,
    units,
)
from tests.fakebotapi import FakeBotAPI, close_bot
from tests.flow import settings_for

inbox_updates: Table = InboxUpdate.__table__  # type: ignore[attr-defined]

TZ = dt.timezone(dt.timedelta(hours=7))
NOW = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)  # 10:00 in Hà Nội
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
FIVE_YEARS_AGO = dt.datetime(2021, 12, 7, 3, 0, tzinfo=dt.UTC)
POLICY = RetentionPolicy()

EXPECTED = {
    Kind.INBOX: 1,  # i_old
    Kind.FAILED_INBOX: 1,  # i_failed_old
    Kind.DELIVERIES: 3,  # d_closed_old, its reminder d_reminder_of_gone, d_message_old
    Kind.DELIVERY_ERRORS: 3,  # d_open_old, d_reminder_kept, d_unreachable_31
    Kind.AUDIT: 2,  # a_old, a_old_case
    Kind.CASES_DELETED: 2,  # c_gone, c_gone_after_audit
    Kind.CASES_ANONYMISED: 1,  # c_audited
    Kind.CASE_EVENTS: 3,  # two of c_gone, one of c_audited
    Kind.CASE_REPORTS: 3,  # two answers of c_gone's report, one of c_audited's
    Kind.REJECTED_LINKS: 1,  # p_rejected_old
}


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)


async def _add(
    session: AsyncSession, table: Table, key: str, world: World, /, **values: object
) -> int:
    """Insert one row; remember its id under ``key``."""
    stmt = insert(table).values(**values).returning(table.c.id)
    new_id = int((await session.execute(stmt)).scalar_one())
    world.ids[key] = new_id
    return new_id


async def build(db: Database) -> World:
    w = World()
    long_ago = NOW - 3000 * DAY
    async with db.session(write=True) as s:
        unit = await _add(
            s,
            units,
            "unit",
            w,
            code="U1",
            name="Trường A",
            kind=UnitKind.GRASSROOTS,
            path="/",
            is_public=True,
            staff_count=3,
            created_at=long_ago,
            updated_at=long_ago,
        )
        for name, phone in (
            ("Nguyễn Văn An", "0912000001"),
            ("Trần Thị Bình", "0912000002"),
            ("Lê Văn Cường", "0912000003"),
        ):
            await _add(
                s,
                people,
                name,
                w,
                full_name=name,
                phone=phone,
                unit_id=unit,
                is_member=True,
                gender="unknown",
                role="member",
                tags="",
                work_status="active",
                created_at=long_ago,
                updated_at=long_ago,
            )
        a, b, c = w.ids["Nguyễn Văn An"], w.ids["Trần Thị Bình"], w.ids["Lê Văn Cường"]
        chat = await _add(
            s,
            chats,
            "chat",
            w,
            channel=Channel.TELEGRAM,
            external_id="5001",
            person_id=None,
            stage=ChatStage.NEW,
            stopped=False,
            locale="vi",
            created_at=long_ago,
            updated_at=long_ago,
        )
        await s.execute(
            insert(closed_years),
            [
                {"year": 2020, "closed_at": NOW - 700 * DAY, "closed_on": dt.date(2025, 1, 6)},
                {"year": 2024, "closed_at": NOW - 300 * DAY, "closed_on": dt.date(2026, 2, 10)},
            ],
        )
        await s.execute(
            insert(indicator_snapshots).values(
                year=2024, unit_id=unit, source="notices", n1=3, n2=2, n3=1, n4=0, n5=0, n6=0
            )
        )

        # -- inbox
        def update(key: str, **at: object) -> dict[str, object]:
            return {
                "channel": Channel.TELEGRAM,
                "update_id": len(w.ids),
                "update_key": key,
                "payload": '{"message": {"text": "Nhà em bị lũ cuốn"}}',
                "attempts": 0,
                "received_at": long_ago,
                **at,
            }

        old, young = NOW - 7 * DAY - HOUR, NOW - 7 * DAY + HOUR
        await _add(s, inbox_updates, "i_old", w, **update("1", handled_at=old, replied_at=old))
        await _add(
            s, inbox_updates, "i_young", w, **update("2", handled_at=young, replied_at=young)
        )
        await _add(s, inbox_updates, "i_unreplied", w, **update("3", handled_at=NOW - 8 * DAY))
        await _add(
            s,
            inbox_updates,
            "i_failed_old",
            w,
            **update(
                "4",
                failed_at=NOW - 30 * DAY - HOUR,
                replied_at=NOW - 31 * DAY,
                error="IntegrityError",
            ),
        )
        await _add(
            s,
            inbox_updates,
            "i_failed_young",
            w,
            **update("5", failed_at=NOW - 30 * DAY + HOUR, replied_at=NOW - 30 * DAY),
        )
        await _add(s, inbox_updates, "i_waiting", w, **update("6"))

        # -- notices and the outbox
        def notice(year: int) -> dict[str, object]:
            return {
                "scope_unit_id": unit,
                "title": f"Thông báo {year}",
                "body": "…",
                "audience": "{}",
                "status": "queued",
                "period_year": year,
                "created_at": long_ago,
            }

        n24 = await _add(s, notices, "n2024", w, **notice(2024))
        n25 = await _add(s, notices, "n2025", w, **notice(2025))
        over, under = NOW - 400 * DAY - HOUR, NOW - 400 * DAY + HOUR

        def delivery(
            person: int, status: DeliveryStatus, when: dt.datetime, **extra: object
        ) -> dict[str, object]:
            return {
                "kind": DeliveryKind.NOTICE,
                "person_id": person,
                "text": "Kính gửi An",
                "status": status,
                "attempts": 1,
                "available_at": when,
                "created_at": when,
                "sent_at": when if status == DeliveryStatus.SENT else None,
                **extra,
            }

        sent = DeliveryStatus.SENT
        gone = await _add(
            s, deliveries, "d_closed_old", w, **delivery(a, sent, over, notice_id=n24)
        )
        await _add(s, deliveries, "d_closed_young", w, **delivery(b, sent, under, notice_id=n24))
        kept_open = await _add(
            s,
            deliveries,
            "d_open_old",
            w,
            **delivery(a, sent, over, notice_id=n25, error="Bad Gateway"),
        )
        await _add(
            s,
            deliveries,
            "d_message_old",
            w,
            **delivery(
                a, DeliveryStatus.FAILED, over, kind=DeliveryKind.MESSAGE, error="Forbidden"
            ),
        )
        await _add(
            s,
            deliveries,
            "d_message_queued",
            w,
            **delivery(a, DeliveryStatus.QUEUED, over, kind=DeliveryKind.MESSAGE),
        )
        await _add(
            s,
            deliveries,
            "d_reminder_of_gone",
            w,
            **delivery(a, sent, NOW - 300 * DAY, kind=DeliveryKind.REMINDER, reminds_id=gone),
        )
        held = await _add(
            s, deliveries, "d_closed_old_held", w, **delivery(c, sent, over, notice_id=n24)
        )
        await _add(
            s,
            deliveries,
            "d_reminder_queued",
            w,
            **delivery(
                c,
                DeliveryStatus.QUEUED,
                over,
                kind=DeliveryKind.REMINDER,
                reminds_id=held,
                error="Bad Gateway",
            ),
        )
        await _add(
            s,
            deliveries,
            "d_reminder_kept",
            w,
            **delivery(
                a, sent, over, kind=DeliveryKind.REMINDER, reminds_id=kept_open, error="Bad Gateway"
            ),
        )
        await _add(
            s,
            deliveries,
            "d_unreachable_31",
            w,
            **delivery(
                b,
                DeliveryStatus.UNREACHABLE,
                NOW - 31 * DAY,
                kind=DeliveryKind.MESSAGE,
                error="Forbidden: bot was blocked",
            ),
        )
        await _add(
            s,
            deliveries,
            "d_failed_29",
            w,
            **delivery(
                b,
                DeliveryStatus.FAILED,
                NOW - 29 * DAY,
                kind=DeliveryKind.MESSAGE,
                error="Bad Request",
            ),
        )

        # -- cases, their events, the audit trail
        past, within = FIVE_YEARS_AGO - DAY, FIVE_YEARS_AGO + DAY

        def case(
            year: int, status: CaseStatus, updated: dt.datetime, report: int | None = None
        ) -> dict[str, object]:
            return {
                "response_id": report,
                "kind": "hardship",
                "reported_by": a,
                "subject_person_id": b,
                "subject_name": "Trần Thị Bình",
                "subject_member": True,
                "subject_union": False,
                "unit_id": unit,
                "category": "health",
                "description": "Chồng bị ung thư giai đoạn cuối",
                "status": status,
                "period_year": year,
                "urgent": False,
                "created_at": updated - DAY,
                "updated_at": updated,
            }

        # The reports the cases were made from: what the reporter wrote, and a draft.
        form = await _add(
            s,
            definitions,
            "form",
            w,
            key="hardship_report",
            version=1,
            title="Báo cáo hoàn cảnh khó khăn",
            checksum="x",
            body="{}",
            created_at=long_ago,
        )
        run = await _add(
            s,
            runs,
            "run",
            w,
            definition_id=form,
            unit_id=unit,
            period_year=2020,
            status="open",
            opens_at=long_ago,
        )

        async def report(key: str, person: int, said: Sequence[str]) -> int:
            response = await _add(
                s,
                responses,
                key,
                w,
                run_id=run,
                person_id=person,
                unit_id=unit,
                is_member=True,
                state="completed",
                draft="Chồng bị ung thư",
                started_at=past,
                updated_at=past,
                completed_at=past,
            )
            for i, value in enumerate(said):
                await s.execute(
                    insert(answers).values(
                        response_id=response, question_key=f"q{i}", value=value, answered_at=past
                    )
                )
            return response

        r_gone = await report("r_gone", a, ['"Chồng bị ung thư giai đoạn cuối"', '"0912000002"'])
        r_audited = await report("r_audited", b, ['"Nằm viện ba tháng"'])
        r_recent = await report("r_recent", c, ['"Nhà bị cháy"'])

        closed, withdrawn = CaseStatus.CLOSED, CaseStatus.WITHDRAWN
        c_gone = await _add(s, cases, "c_gone", w, **case(2020, closed, past, r_gone))
        c_audited = await _add(s, cases, "c_audited", w, **case(2020, withdrawn, past, r_audited))
        c_recent = await _add(s, cases, "c_recent", w, **case(2020, closed, within, r_recent))
        await _add(s, cases, "c_open_year", w, **case(2021, closed, past))
        await _add(s, cases, "c_supported", w, **case(2020, CaseStatus.SUPPORTED, past))
        c_after = await _add(s, cases, "c_gone_after_audit", w, **case(2020, closed, past))
        for case_id, n in ((c_gone, 2), (c_audited, 1), (c_recent, 1)):
            for i in range(n):
                await s.execute(
                    insert(case_events).values(
                        case_id=case_id,
                        from_status=None,
                        to_status=closed,
                        changed_by=a,
                        note=f"Đã thăm hỏi {i}",
                        changed_at=past,
                    )
                )
        await audit.record(
            s,
            AuditAction.CASE_VIEWED,
            via="chat",
            actor_id=a,
            case_id=c_audited,
            at=FIVE_YEARS_AGO + DAY,
        )
        await audit.record(
            s,
            AuditAction.CASE_VIEWED,
            via="chat",
            actor_id=a,
            case_id=c_after,
            at=FIVE_YEARS_AGO - DAY,
        )
        await audit.record(
            s, AuditAction.ROLE_CHANGED, via="cli", person_id=a, at=FIVE_YEARS_AGO - DAY
        )

        # -- link requests
        def link(status: PendingStatus, resolved: dt.datetime | None) -> dict[str, object]:
            return {
                "chat_id": chat,
                "full_name": "Phạm Thị Dung",
                "phone": "0912999999",
                "unit_id": unit,
                "status": status,
                "created_at": NOW - 90 * DAY,
                "resolved_at": resolved,
            }

        rejected = PendingStatus.REJECTED
        await _add(s, pending_links, "p_rejected_old", w, **link(rejected, NOW - 30 * DAY - HOUR))
        await _add(s, pending_links, "p_rejected_young", w, **link(rejected, NOW - 30 * DAY + HOUR))
        await _add(s, pending_links, "p_pending", w, **link(PendingStatus.PENDING, None))
        await _add(
            s, pending_links, "p_confirmed", w, **link(PendingStatus.CONFIRMED, NOW - 60 * DAY)
        )
    return w


TABLES = (
    inbox_updates,
    deliveries,
    cases,
    case_events,
    answers,
    responses,
    audit_events,
    pending_links,
)


async def snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the purged tables, and the closed year's frozen figures."""
    async with db.session() as s:
        out = {
            t.name: [tuple(r) for r in (await s.execute(select(t).order_by(t.c.id))).all()]
            for t in TABLES
        }
        out["snapshots"] = [tuple(r) for r in (await s.execute(select(indicator_snapshots))).all()]
    return out


async def ids(db: Database, table: Table) -> set[int]:
    async with db.session() as s:
        return set((await s.execute(select(table.c.id))).scalars())


def named(w: World, *names: str) -> set[int]:
    return {w.ids[n] for n in names}


async def test_dry_run_counts_what_the_purge_then_removes(db: Database) -> None:
    w = await build(db)
    before = await snapshot(db)
    async with db.session() as s:
        planned = await retention.plan(s, POLICY, NOW)
    assert planned == EXPECTED
    dry = await retention.purge(db, POLICY, NOW, via="cli", dry_run=True)
    assert dry == EXPECTED
    assert await snapshot(db) == before  # nothing changed, no audit row

    # Two rows per statement: every kind takes several chunks, as millions of rows would.
    done = await retention.purge(db, POLICY, NOW, via="cli", chunk=2)
    assert done == EXPECTED

    assert await ids(db, inbox_updates) == named(
        w, "i_young", "i_unreplied", "i_failed_young", "i_waiting"
    )
    assert await ids(db, deliveries) == named(
        w,
        "d_closed_young",
        "d_open_old",
        "d_message_queued",
        "d_closed_old_held",
        "d_reminder_queued",
        "d_reminder_kept",
        "d_unreachable_31",
        "d_failed_29",
    )
    async with db.session() as s:
        errors = dict((await s.execute(select(deliveries.c.id, deliveries.c.error))).all())
    assert errors == {
        w.ids["d_closed_young"]: None,
        w.ids["d_open_old"]: None,
        w.ids["d_message_queued"]: None,
        w.ids["d_closed_old_held"]: None,
        w.ids["d_reminder_queued"]: "Bad Gateway",  # not final: the worker may still use it
        w.ids["d_reminder_kept"]: None,
        w.ids["d_unreachable_31"]: None,
        w.ids["d_failed_29"]: "Bad Request",
    }
    assert await ids(db, cases) == named(w, "c_audited", "c_recent", "c_open_year", "c_supported")
    async with db.session() as s:
        shell = (await s.execute(select(cases).where(cases.c.id == w.ids["c_audited"]))).one()
        events = set((await s.execute(select(case_events.c.case_id))).scalars())
        trail = (await s.execute(select(audit_events).order_by(audit_events.c.id))).all()
    assert (shell.subject_name, shell.description) == ("", "")
    assert (shell.reported_by, shell.subject_person_id, shell.response_id) == (None, None, None)
    # What the indicators read stays: kind, unit, year, status, membership.
    assert (shell.kind, shell.period_year, shell.status, shell.subject_member) == (
        "hardship",
        2020,
        CaseStatus.WITHDRAWN,
        True,
    )
    assert shell.updated_at == FIVE_YEARS_AGO - DAY  # not "changed": its age still counts
    assert events == named(w, "c_recent")  # the shell's and the deleted case's went
    async with db.session() as s:
        said = set((await s.execute(select(answers.c.response_id))).scalars())
        drafts = dict((await s.execute(select(responses.c.id, responses.c.draft))).all())
    # What the reports behind the purged cases said went; the responses stay, without drafts.
    assert said == named(w, "r_recent")
    assert drafts == {
        w.ids["r_gone"]: None,
        w.ids["r_audited"]: None,
        w.ids["r_recent"]: "Chồng bị ung thư",
    }
    assert [(r.action, r.case_id) for r in trail] == [
        (AuditAction.CASE_VIEWED, w.ids["c_audited"]),
        (AuditAction.PURGED, None),
    ]
    purged = trail[-1]
    assert purged.via == "cli" and purged.at == NOW
    assert json.loads(purged.detail) == {kind.value: n for kind, n in EXPECTED.items()}
    assert await ids(db, pending_links) == named(w, "p_rejected_young", "p_pending", "p_confirmed")
    after = await snapshot(db)
    assert after["snapshots"] == before["snapshots"]  # the closed year's figures

    # Nothing is left to do: the anonymous shell is not anonymised again.
    again = await retention.purge(db, POLICY, NOW, via="system")
    assert again == dict.fromkeys(Kind, 0)


async def test_a_notice_delivery_of_an_open_year_is_never_deleted(db: Database) -> None:
    w = await build(db)
    later = NOW + 3000 * DAY  # eight years on, every limit long past; 2025 still open
    await retention.purge(db, POLICY, later, via="system")
    remaining = await ids(db, deliveries)
    assert w.ids["d_open_old"] in remaining
    assert w.ids["d_reminder_kept"] in remaining  # its reminder stays with it
    assert w.ids["d_closed_old"] not in remaining and w.ids["d_closed_young"] not in remaining
    # The queued reminder (not final) holds its notice delivery back.
    assert w.ids["d_closed_old_held"] in remaining
    # A case of an open year stays, however old.
    assert w.ids["c_open_year"] in await ids(db, cases)


async def test_the_shell_goes_once_the_audit_rows_naming_it_have_gone(db: Database) -> None:
    w = await build(db)
    await retention.purge(db, POLICY, NOW, via="system")
    assert w.ids["c_audited"] in await ids(db, cases)
    # Two days on, the audit row that named it (written 5 years and a day before NOW) is
    # past retention: it goes first, then the shell (and c_recent, five years old by then,
    # which no audit row names).
    done = await retention.purge(db, POLICY, NOW + 2 * DAY, via="system")
    assert (done[Kind.AUDIT], done[Kind.CASES_DELETED], done[Kind.CASES_ANONYMISED]) == (1, 2, 0)
    assert await ids(db, cases) == named(w, "c_open_year", "c_supported")


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def purges(db: Database) -> list[tuple[dt.datetime, str]]:
    async with db.session() as s:
        rows = await audit.rows(s, actions=[AuditAction.PURGED])
    return sorted((r.at, r.via) for r in rows)


async def stale_update(db: Database, key: str, handled: dt.datetime) -> None:
    async with db.session(write=True) as s:
        await s.execute(
            insert(inbox_updates).values(
                channel=Channel.TELEGRAM,
                update_id=int(key),
                update_key=key,
                payload="{}",
                attempts=0,
                received_at=handled,
                handled_at=handled,
                replied_at=handled,
            )
        )


async def inbox_count(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(inbox_updates))).scalar_one())


def scheduler(db: Database, clock: Clock) -> Scheduler:
    return Scheduler(
        db,
        SurveyRegistry(),
        SchedulerSettings(tz=TZ, default_locale="vi"),
        clock=clock,
        upkeep=partial(retention.daily, db, POLICY, tz=TZ),
    )


async def test_the_scheduler_purges_once_a_local_day(db: Database) -> None:
    clock = Clock(NOW)  # 10:00 local
    first = scheduler(db, clock)
    try:
        await stale_update(db, "1", NOW - 8 * DAY)
        await first.tick()
        assert await purges(db) == [(NOW, "system")]
        assert await inbox_count(db) == 0
        # Later the same day (and after a restart): no second purge, even with work waiting.
        await stale_update(db, "2", NOW - 8 * DAY)
        clock.now = NOW + 13 * HOUR  # 23:00 local
        await first.tick()
    finally:
        await first.stop()
    restarted = scheduler(db, clock)
    try:
        await restarted.tick()
        assert await purges(db) == [(NOW, "system")]
        assert await inbox_count(db) == 1
        # Past midnight local (17:00 UTC): a new day, its purge.
        clock.now = NOW + 14 * HOUR
        await restarted.tick()
        await restarted.tick()
        assert await purges(db) == [(NOW, "system"), (NOW + 14 * HOUR, "system")]
        assert await inbox_count(db) == 0
        # Three days down: one purge on the way back, not three.
        clock.now = NOW + 4 * DAY
        await restarted.tick()
        await restarted.tick()
        assert [at for at, _ in await purges(db)] == [NOW, NOW + 14 * HOUR, NOW + 4 * DAY]
    finally:
        await restarted.stop()


async def test_a_purge_from_the_command_line_counts_as_the_days_purge(db: Database) -> None:
    await retention.purge(db, POLICY, NOW, via="cli")
    assert await retention.daily(db, POLICY, NOW + HOUR, tz=TZ) is None
    assert await retention.daily(db, POLICY, NOW + DAY, tz=TZ) == dict.fromkeys(Kind, 0)
    assert [via for _, via in await purges(db)] == ["cli", "system"]


async def test_the_apps_scheduler_purges_by_the_settings(api: FakeBotAPI, db: Database) -> None:
    """``serve`` runs the app's scheduler beside the bot in polling and webhook mode alike
    (bot/app.py); its tick purges by the settings (here, handled updates kept 3 days)."""
    now = utcnow()
    await stale_update(db, "1", now - 4 * DAY)  # past 3 days: goes
    await stale_update(db, "2", now - 2 * DAY)  # kept
    settings = settings_for(api, db).model_copy(update={"retain_inbox_days": 3})
    app = await build_app(settings, token=api.token, db=db)
    try:
        await app.scheduler.tick()
        await app.scheduler.tick()
    finally:
        await app.scheduler.stop()
        await close_bot(app.bot)
    async with db.session() as s:
        left = set((await s.execute(select(inbox_updates.c.update_key))).scalars())
    assert left == {"2"}
    assert [via for _, via in await purges(db)] == ["system"]
