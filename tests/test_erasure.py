"""Withdrawal and erasure in storage and on the command line: the outbox state machine for
people who withdrew, the search of every text column that the erasure tests rely on, and
``congdoan person withdraw|erase``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, String, Text, TypeDecorator, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col
from typer.testing import CliRunner

from bot.cli import app
from bot.roster import sample_paths
from bot.services import erasure, withdrawal
from storage import erasure as store
from storage import outbox
from storage.db import Database
from storage.models import (
    AuditAction,
    AuditEvent,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    ChatIdentity,
    ChatStage,
    Consent,
    ConsentDecision,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Person,
    Role,
    utcnow,
)
from tests.flow import seed_sample
from tests.test_delivery_support import claim_due

#: Phạm Minh Tuấn of the sample roster: his name, and his phone in every usual format.
TUAN_NEEDLES = [
    "Phạm Minh Tuấn",
    json.dumps("Phạm Minh Tuấn")[1:-1],  # as a JSON payload may escape it
    "0345271908",
    "345271908",  # inside +84345271908 and 84345271908
    "0345 271 908",
    "+84 345 271 908",
    "0345.271.908",
]


def holds_text(column: Column[object]) -> bool:
    """Whether the column stores text: ``String`` and ``Text``, and the types built on them
    (SQLModel's ``AutoString``, every ``str`` field with a ``max_length``, is a
    ``TypeDecorator`` over ``String``, not a ``String``: without this, names, phones, answers
    and case descriptions would never be searched)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, String | Text)


def text_columns() -> list[Column[object]]:
    """Every text column of every table of the metadata (a table added later included)."""
    return [
        column
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if holds_text(column)
    ]


async def found_anywhere(session: AsyncSession, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text column of every table holding a needle: the
    tables and columns read from the metadata, so that a table added later is searched too."""
    found: list[tuple[str, str, str]] = []
    for column in text_columns():
        table = column.table
        for needle in needles:
            count = (
                await session.execute(
                    select(func.count())
                    .select_from(table)
                    .where(func.cast(column, Text).contains(needle, autoescape=True))
                )
            ).scalar_one()
            if count:
                found.append((table.name, column.name, needle))
    return found


def test_the_search_reads_every_text_column_of_the_metadata() -> None:
    searched = {f"{c.table.name}.{c.name}" for c in text_columns()}
    # The columns that hold a person's identity or words, whatever their declared type.
    assert {
        "people.full_name",
        "people.phone",
        "people.staff_code",
        "chat_identities.external_id",
        "consents.external_id",
        "pending_links.full_name",
        "pending_links.phone",
        "answers.value",
        "responses.draft",
        "cases.subject_name",
        "cases.description",
        "case_events.note",
        "correction_requests.old_value",
        "correction_requests.new_value",
        "inbox_updates.payload",
        "inbox_updates.replies",
        "inbox_updates.error",
        "deliveries.text",
        "deliveries.error",
        "notices.body",
        "audit_events.detail",
    } <= searched
    # Nothing that stores text is left out: every column not searched is a number, a flag
    # or a time.
    skipped = {
        type(c.type).__name__
        for t in SQLModel.metadata.sorted_tables
        for c in t.columns
        if not holds_text(c)
    }
    assert skipped <= {"Integer", "BigInteger", "Boolean", "Date", "UTCDateTime"}


def test_phone_forms_cover_the_usual_ways_of_writing_a_number() -> None:
    forms = store.phone_forms("+84345271908")
    assert "345271908" in forms and "0345 271 908" in forms and "345 271 908" in forms
    assert "0345.271.908" in forms and "034-527-1908" in forms
    assert store.phone_forms(None) == []


async def audit_count(session: AsyncSession, action: AuditAction) -> int:
    """How many audit rows of ``action`` the trail holds."""
    stmt = select(func.count()).select_from(AuditEvent).where(col(AuditEvent.action) == action)
    return int((await session.execute(stmt)).scalar_one())


async def until_someone_waits(db: Database) -> None:
    """On PostgreSQL, wait until another transaction waits on a lock (the second of two
    concurrent changes of the same thing has reached its row); on SQLite let the other task
    run: it waits for the writer's lock, wherever it gets to first."""
    if db.dialect != "postgresql":
        await asyncio.sleep(0)
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with asyncio.timeout(10):
        while True:
            async with db.session() as session:
                if (await session.execute(waiting)).scalar_one():
                    return
            await asyncio.sleep(0.02)


async def _tuan(session: AsyncSession) -> Person:
    person = (
        await session.execute(select(Person).where(col(Person.phone) == "+84345271908"))
    ).scalar_one()
    return person


async def _linked_chat(session: AsyncSession, person: Person, external_id: str) -> ChatIdentity:
    chat = ChatIdentity(
        channel=Channel.TELEGRAM,
        external_id=external_id,
        person_id=person.id,
        stage=ChatStage.LINKED,
    )
    session.add(chat)
    await session.flush()
    return chat


async def test_withdrawal_stops_what_is_queued_and_what_comes_later(db: Database) -> None:
    await seed_sample(db)
    async with db.session(write=True) as session:
        tuan = await _tuan(session)
        assert tuan.id is not None
        chat = await _linked_chat(session, tuan, "7301")
        to_him = {
            "person_id": tuan.id,
            "chat_id": chat.id,
            "channel": Channel.TELEGRAM,
            "external_id": "7301",
        }
        await outbox.enqueue(
            session,
            rows=[
                {**to_him, "kind": DeliveryKind.REMINDER, "text": "nhắc"},
                {**to_him, "kind": DeliveryKind.MESSAGE, "text": "trả lời"},
            ],
        )
        counts = await withdrawal.withdraw_person(
            session, person_id=tuan.id, actor_id=tuan.id, via="chat"
        )
        assert counts == store.Withdrawal(1, 1, 0, 0)
        # A second withdrawal (a double press) changes nothing, and the trail keeps one row.
        again = await withdrawal.withdraw_person(
            session, person_id=tuan.id, actor_id=tuan.id, via="chat"
        )
        assert again is None
        rows = list((await session.execute(select(Delivery).order_by(col(Delivery.id)))).scalars())
        # The reminder stops (final, with the reason); the answer to what he asked goes.
        assert [(r.kind, r.status, r.error) for r in rows] == [
            (DeliveryKind.REMINDER, DeliveryStatus.UNREACHABLE, "withdrawn"),
            (DeliveryKind.MESSAGE, DeliveryStatus.QUEUED, None),
        ]
        # Enqueued after the withdrawal: unreachable at once.
        await outbox.enqueue(session, rows=[{**to_him, "kind": DeliveryKind.DIGEST, "text": "x"}])
        # Written queued by a statement that knew nothing of it: the worker does not send it.
        await session.execute(
            insert(Delivery.__table__).values(  # type: ignore[attr-defined]
                kind=DeliveryKind.NOTICE.value,
                text="thông báo",
                status=DeliveryStatus.QUEUED.value,
                attempts=0,
                ack_button=False,
                available_at=utcnow() - dt.timedelta(seconds=1),
                created_at=utcnow(),
                **to_him,
            )
        )
        consents = list(
            (await session.execute(select(Consent).where(col(Consent.person_id) == tuan.id)))
            .scalars()
            .all()
        )
        assert [(c.decision, c.external_id) for c in consents] == [
            (ConsentDecision.WITHDRAWN, "7301")
        ]
        audit_rows = await audit_count(session, AuditAction.CONSENT_WITHDRAWN)
        assert audit_rows == 1
    async with db.session(write=True) as session:
        digest = (
            await session.execute(select(Delivery).where(col(Delivery.kind) == DeliveryKind.DIGEST))
        ).scalar_one()
        assert (digest.status, digest.error) == (DeliveryStatus.UNREACHABLE, "withdrawn")
        now = utcnow()
        claimed = await claim_due(
            session,
            owner="w",
            now=now,
            lease_until=now + dt.timedelta(minutes=1),
            limit=10,
        )
        by_kind = {c.kind: c.skip_reason for c in claimed}
        assert by_kind == {DeliveryKind.MESSAGE: None, DeliveryKind.NOTICE: "withdrawn"}


async def test_a_declined_chat_keeps_only_its_consent_row(db: Database) -> None:
    """The storage half of forgetting a chat: its request and its updates go too."""
    async with db.session(write=True) as session:
        chat = ChatIdentity(channel=Channel.TELEGRAM, external_id="7401", stage=ChatStage.CONTACT)
        session.add(chat)
        await session.flush()
        assert chat.id is not None
        await session.execute(
            store.inbox_table.insert().values(
                channel=Channel.TELEGRAM.value,
                update_id=1,
                update_key="1",
                payload=json.dumps(
                    {"update_id": 1, "message": {"from": {"id": 7401, "first_name": "Lan"}}}
                ),
                attempts=0,
                received_at=utcnow(),
                handled_at=utcnow(),
                replies='[{"text": "Xin chào Lan"}]',
            )
        )
        await session.execute(
            store.inbox_table.insert().values(
                channel=Channel.TELEGRAM.value,
                update_id=2,
                update_key="2",
                payload=json.dumps({"update_id": 2, "message": {"from": {"id": 74010}}}),
                attempts=0,
                received_at=utcnow(),
                handled_at=utcnow(),
            )
        )
        scrubbed = await store.scrub_inbox(
            session, chats_of=[(Channel.TELEGRAM, "7401")], now=utcnow()
        )
        assert scrubbed == 1  # not the update of chat 74010, which merely contains "7401"
        await store.forget_chat(session, chat_id=chat.id)
        rows = (
            await session.execute(
                select(store.inbox_table.c.update_key, store.inbox_table.c.payload).order_by(
                    store.inbox_table.c.id
                )
            )
        ).all()
        assert [(k, p == "{}") for k, p in rows] == [("1", True), ("2", False)]
        left = select(func.count()).select_from(ChatIdentity)
        assert (await session.execute(left)).scalar_one() == 0


runner = CliRunner()


def test_person_withdraw_and_erase_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "BOT_TOKEN": "", "TZ": ""}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    units, people_csv = sample_paths()
    assert (
        runner.invoke(app, ["roster", "import", str(units), str(people_csv)], env=env).exit_code
        == 0
    )

    result = runner.invoke(app, ["person", "withdraw", "--phone", "0345 271 908"], env=env)
    assert result.exit_code == 0, result.output
    assert "Consent withdrawn for person #" in result.output
    again = runner.invoke(app, ["person", "withdraw", "--phone", "0345271908"], env=env)
    assert again.exit_code != 0 and "withdrew their consent already" in again.output

    refused = runner.invoke(app, ["person", "erase", "--phone", "0345271908"], env=env, input="n\n")
    assert refused.exit_code != 0 and "cannot be undone" in refused.output
    erased = runner.invoke(app, ["person", "erase", "--phone", "0345271908", "--yes"], env=env)
    assert erased.exit_code == 0, erased.output
    assert "erased; the roster keeps (đã xóa #" in erased.output
    assert "Phạm Minh Tuấn" not in erased.output
    twice = runner.invoke(app, ["person", "erase", "--phone", "0345271908", "--yes"], env=env)
    assert twice.exit_code != 0 and "nobody on the roster has the phone" in twice.output
    # By person number (a roster record without a phone): the erased record is still there.
    number = erased.output.split("Person #", 1)[1].split(" ", 1)[0]
    by_id = runner.invoke(app, ["person", "erase", "--id", number, "--yes"], env=env)
    assert by_id.exit_code == 2 and f"person #{number} was erased already" in by_id.output
    gone = runner.invoke(app, ["person", "withdraw", "--id", number], env=env)
    assert gone.exit_code == 2 and "was erased: there is nothing to withdraw" in gone.output
    nobody = runner.invoke(app, ["person", "withdraw", "--id", "99999"], env=env)
    assert nobody.exit_code == 2 and "nobody on the roster is person #99999" in nobody.output
    for named in ([], ["--phone", "0387556120", "--id", number]):
        both = runner.invoke(app, ["person", "withdraw", *named], env=env)
        assert both.exit_code == 2 and "with --phone or --id (one of them)" in both.output
    unknown = runner.invoke(app, ["person", "erase", "--phone", "12", "--yes"], env=env)
    assert unknown.exit_code != 0 and "Traceback" not in unknown.output

    asyncio.run(_nothing_left_of_tuan(env["DATABASE_URL"]))


async def _nothing_left_of_tuan(url: str) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            assert await found_anywhere(session, TUAN_NEEDLES) == []
            actions = (
                await session.execute(
                    select(col(AuditEvent.action), col(AuditEvent.via)).order_by(col(AuditEvent.id))
                )
            ).all()
            mine = (AuditAction.CONSENT_WITHDRAWN, AuditAction.ERASED)
            assert [(a, v) for a, v in actions if a in mine] == [
                (AuditAction.CONSENT_WITHDRAWN, "cli"),
                (AuditAction.ERASED, "cli"),
            ]
    finally:
        await db.dispose()


async def test_erasure_withdraws_open_cases_about_them_and_keeps_their_reports_on_others(
    db: Database,
) -> None:
    await seed_sample(db)
    async with db.session(write=True) as session:
        tuan = await _tuan(session)
        nhung = (
            await session.execute(select(Person).where(col(Person.phone) == "+84387556120"))
        ).scalar_one()
        assert tuan.id is not None and nhung.id is not None
        about_him = Case(
            reported_by=nhung.id,
            subject_person_id=tuan.id,
            subject_name="Phạm Minh Tuấn",
            subject_member=True,
            unit_id=tuan.unit_id,
            description="Nhà thầy Tuấn bị cháy",
            status=CaseStatus.VISITED,
            period_year=2026,
        )
        by_him = Case(
            reported_by=tuan.id,
            subject_person_id=nhung.id,
            subject_name="Võ Thị Hồng Nhung",
            subject_member=True,
            unit_id=nhung.unit_id,
            description="Cô Nhung nằm viện",
            period_year=2026,
        )
        session.add_all([about_him, by_him])
        await session.flush()
        counts = await erasure.erase_person(session, person_id=tuan.id, actor_id=None, via="cli")
        assert counts is not None
        assert (counts.cases_withdrawn, counts.cases_closed, counts.cases_unlinked) == (1, 0, 1)
    async with db.session() as session:
        rows = list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())
        # Not supported yet, and nobody left to support: withdrawn (counted in no indicator).
        assert (rows[0].status, rows[0].subject_person_id, rows[0].description) == (
            CaseStatus.WITHDRAWN,
            None,
            "",
        )
        # His report about Nhung goes on for her; only the link to him is cut.
        assert (rows[1].status, rows[1].reported_by, rows[1].description) == (
            CaseStatus.REPORTED,
            None,
            "Cô Nhung nằm viện",
        )
        events = (
            await session.execute(
                select(col(CaseEvent.from_status), col(CaseEvent.to_status)).where(
                    col(CaseEvent.case_id) == rows[0].id
                )
            )
        ).all()
        assert [tuple(e) for e in events] == [(CaseStatus.VISITED, CaseStatus.WITHDRAWN)]
        assert await found_anywhere(session, TUAN_NEEDLES) == []


async def test_erasure_stops_queued_messages_that_name_them_and_demotes_an_officer(
    db: Database,
) -> None:
    """A message queued for someone else that names the erased person (a correction request
    an officer has not received yet) is stopped, not sent blank; one already sent keeps its
    status only; a message naming nobody goes on.  An officer erased keeps no role."""
    await seed_sample(db)
    async with db.session(write=True) as session:
        tuan = await _tuan(session)
        nhung = (
            await session.execute(select(Person).where(col(Person.phone) == "+84387556120"))
        ).scalar_one()
        assert tuan.id is not None and nhung.id is not None
        tuan.role = Role.OFFICER
        tuan.officer_unit_id = tuan.unit_id
        chat = await _linked_chat(session, nhung, "7702")
        to_nhung: dict[str, Any] = {
            "kind": DeliveryKind.MESSAGE,
            "person_id": nhung.id,
            "chat_id": chat.id,
            "channel": Channel.TELEGRAM,
            "external_id": "7702",
        }
        session.add_all(
            [
                Delivery(**to_nhung, text="Phạm Minh Tuấn xin sửa tên", status=DeliveryStatus.SENT),
                Delivery(**to_nhung, text="Gọi thầy: 0345.271.908", status=DeliveryStatus.QUEUED),
                Delivery(**to_nhung, text="Họp tổ thứ Hai", status=DeliveryStatus.QUEUED),
            ]
        )
        await session.flush()
        counts = await erasure.erase_person(session, person_id=tuan.id, actor_id=None, via="cli")
        assert counts is not None and counts.deliveries == 2
    async with db.session() as session:
        rows = list((await session.execute(select(Delivery).order_by(col(Delivery.id)))).scalars())
        assert [(r.status, r.error, r.text, r.external_id) for r in rows] == [
            (DeliveryStatus.SENT, None, "", "7702"),
            (DeliveryStatus.UNREACHABLE, "erased", "", "7702"),
            (DeliveryStatus.QUEUED, None, "Họp tổ thứ Hai", "7702"),
        ]
        erased = await session.get(Person, tuan.id)
        assert erased is not None
        assert (erased.role, erased.officer_unit_id) == (Role.MEMBER, None)
        assert await found_anywhere(session, TUAN_NEEDLES) == []


async def test_a_short_name_is_not_looked_for_in_other_messages(db: Database) -> None:
    """A roster row with a given name only ("An") is erased from the roster, but "An" is not
    looked for in the outbox: it would stop every queued message with "an" in a word."""
    await seed_sample(db)
    async with db.session(write=True) as session:
        tuan = await _tuan(session)
        nhung = (
            await session.execute(select(Person).where(col(Person.phone) == "+84387556120"))
        ).scalar_one()
        assert tuan.id is not None and nhung.id is not None
        tuan.full_name = "An"
        chat = await _linked_chat(session, nhung, "7702")
        session.add(
            Delivery(
                kind=DeliveryKind.NOTICE,
                person_id=nhung.id,
                chat_id=chat.id,
                channel=Channel.TELEGRAM,
                external_id="7702",
                text="Tập huấn an toàn lao động",
                status=DeliveryStatus.QUEUED,
            )
        )
        await session.flush()
        counts = await erasure.erase_person(session, person_id=tuan.id, actor_id=None, via="cli")
        assert counts is not None and counts.deliveries == 0
    async with db.session() as session:
        row = (await session.execute(select(Delivery))).scalar_one()
        assert (row.status, row.text) == (DeliveryStatus.QUEUED, "Tập huấn an toàn lao động")
        erased = await session.get(Person, tuan.id)
        assert erased is not None and erased.full_name.startswith("(đã xóa #")


async def test_a_second_erasure_does_nothing(db: Database) -> None:
    await seed_sample(db)
    async with db.session(write=True) as session:
        tuan = await _tuan(session)
        assert tuan.id is not None
        tuan_id = tuan.id
        assert await erasure.erase_person(session, person_id=tuan_id, actor_id=None, via="cli")
    async with db.session(write=True) as session:
        assert (
            await erasure.erase_person(session, person_id=tuan_id, actor_id=None, via="cli") is None
        )
        erased = await audit_count(session, AuditAction.ERASED)
        assert erased == 1


async def test_two_erasures_at_once_erase_once(db: Database) -> None:
    """A double press, or the chat and the command line at the same moment: the second
    erasure waits for the first to commit (the person's row is locked on PostgreSQL; SQLite
    serializes writes), then finds the person erased and does nothing: one audit row, the
    case events written once."""
    await seed_sample(db)
    async with db.session() as session:
        tuan = await _tuan(session)
        assert tuan.id is not None
        tuan_id = tuan.id

    async def erase_alone() -> store.Erasure | None:
        async with db.session(write=True) as session:
            return await erasure.erase_person(session, person_id=tuan_id, actor_id=None, via="chat")

    async with db.session(write=True) as first:
        assert await erasure.erase_person(first, person_id=tuan_id, actor_id=None, via="cli")
        second = asyncio.create_task(erase_alone())
        await until_someone_waits(db)
    assert await second is None
    async with db.session() as session:
        erasures = await audit_count(session, AuditAction.ERASED)
        assert erasures == 1
