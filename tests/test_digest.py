"""The officers' weekly digest on a real database, with a controllable clock (``now`` passed in).

The fixture province (units named as a real one would be):

    P  Công đoàn Giáo dục tỉnh Lâm Đồng (province, root)
    ├── D  Công đoàn Giáo dục Đà Lạt (district)
    │   ├── A  Trường THCS Nguyễn Du (CĐCS)
    │   └── B  Trường TH Lê Lợi (CĐCS)
    └── C  Văn phòng Công đoàn tỉnh (CĐCS)

An open activity_participation campaign (survey ``activity_participation``, yes/no question
``participated``, feeding A3c: target 75 % in 2026, counted over every person of the roster)
targets the eight people of D.  By hand, from the rows written below:

- A, 4 people: An yes, Bình no (both completed), Cường never answered, Dung's response is in
  progress (an answer "yes" that is not counted).  A3c = 1/4 = 25 %: 50 points below 75 %;
  not answered: Lê Văn Cường, Phạm Thị Dung.
- B, 4 people: Em, Giang, Hùng yes, Lan never answered.  A3c = 3/4 = 75 %: on target (a rate
  at the target is met).
- D = A + B: 4/8 = 50 %: 25 points below.
- C, 4 people, no answers (and outside the campaign): 0/4 = 0 %: 75 points below; nobody to
  name.  (Long is a target of an older, *closed* run of the survey: not named either.)

Officers: Bình (CĐCS officer of A), Giang (CĐCS officer of B), Hùng (a teacher of B, officer of
district D), Hà (admin: the whole province) get a digest.  Khoa turned the digest off, Long has
no chat, Minh's chat is not linked yet: they get nothing.

Week 49 of 2026 runs from Monday 30/11 to Sunday 06/12 (Asia/Ho_Chi_Minh, UTC+7); the schedule
is Monday 08:00 local = 30/11 01:00 UTC.  Quiet hours are 21:00–07:00 local.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.campaigns.digest import (
    DigestSchedule,
    build_digest,
    campaign_key,
    digest_due,
    digest_pass,
    render_digest,
    week_label,
)
from bot.campaigns.schedule import QuietHours
from bot.indicators.catalog import Catalog, load_catalog
from storage import campaigns as campaign_store
from storage import digests as digest_store
from storage.db import Database
from storage.models import (
    Answer,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    DigestSent,
    Person,
    Response,
    ResponseState,
    Role,
    RunStatus,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
    UnitKind,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LOCALE = "vi"
QUIET = QuietHours()  # 21:00–07:00
SCHEDULE = DigestSchedule()  # Monday 08:00
FULL_CATALOG = load_catalog()
A3C = Catalog((FULL_CATALOG.get("A3c"),))


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


MONDAY_8 = utc(11, 30, 1)  # Monday 30/11/2026 08:00 local, week 49
NEXT_MONDAY_8 = utc(12, 7, 1)  # Monday 07/12/2026 08:00 local, week 50

NAMES = {
    "an": "Nguyễn Văn An",
    "binh": "Trần Thị Bình",
    "cuong": "Lê Văn Cường",
    "dung": "Phạm Thị Dung",
    "em": "Hoàng Văn Em",
    "giang": "Vũ Thị Giang",
    "hung": "Đặng Văn Hùng",
    "lan": "Bùi Thị Lan",
    "ha": "Ngô Thị Hà",
    "khoa": "Đỗ Văn Khoa",
    "long": "Mai Văn Long",
    "minh": "Hồ Văn Minh",
}
FOOTER = "<i>Gõ /digest off để không nhận bản tin này.</i>"


@dataclass
class World:
    units: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    chats: dict[str, int] = field(default_factory=dict)

    def key_of(self, person_id: int | None) -> str:
        return next(k for k, v in self.people.items() if v == person_id)


async def _unit(
    s: AsyncSession, w: World, key: str, name: str, kind: UnitKind, parent: Unit | None
) -> Unit:
    unit = Unit(code=key, name=name, kind=kind, parent_id=parent.id if parent else None)
    s.add(unit)
    await s.flush()
    assert unit.id is not None
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await s.flush()
    w.units[key] = unit.id
    return unit


async def _person(
    s: AsyncSession,
    w: World,
    key: str,
    unit: Unit,
    *,
    role: Role = Role.MEMBER,
    office: Unit | None = None,
    chat: ChatStage | None = None,
    weekly_digest: bool = True,
    full_name: str | None = None,
) -> Person:
    assert unit.id is not None
    person = Person(
        full_name=full_name or NAMES[key],
        unit_id=unit.id,
        role=role,
        officer_unit_id=office.id if office else None,
        weekly_digest=weekly_digest,
    )
    s.add(person)
    await s.flush()
    assert person.id is not None
    w.people[key] = person.id
    if chat is not None:
        identity = ChatIdentity(
            channel=Channel.TELEGRAM,
            external_id=str(5000 + person.id),
            person_id=person.id,
            stage=chat,
        )
        s.add(identity)
        await s.flush()
        assert identity.id is not None
        w.chats[key] = identity.id
    return person


async def _definition(s: AsyncSession) -> int:
    row = SurveyDefinitionRow(
        key="activity_participation", title="Tham gia hoạt động", checksum="x", body="{}"
    )
    s.add(row)
    await s.flush()
    assert row.id is not None
    return row.id


async def _run(
    s: AsyncSession, definition_id: int, unit_id: int, *, status: RunStatus = RunStatus.OPEN
) -> int:
    run = SurveyRun(
        definition_id=definition_id,
        unit_id=unit_id,
        period_year=2026,
        status=status,
        opens_at=utc(11, 20, 2),
        closes_at=utc(12, 20, 10),
    )
    s.add(run)
    await s.flush()
    assert run.id is not None
    return run.id


async def _answer(
    s: AsyncSession, run_id: int, person: Person, participated: bool, *, completed: bool = True
) -> None:
    assert person.id is not None
    response = Response(
        run_id=run_id,
        person_id=person.id,
        unit_id=person.unit_id,
        state=ResponseState.COMPLETED if completed else ResponseState.IN_PROGRESS,
        completed_at=utc(11, 25, 3) if completed else None,
    )
    s.add(response)
    await s.flush()
    assert response.id is not None
    s.add(
        Answer(
            response_id=response.id,
            question_key="participated",
            value="true" if participated else "false",
        )
    )


async def build(db: Database) -> World:
    w = World()
    linked = ChatStage.LINKED
    async with db.session() as s:
        p = await _unit(s, w, "P", "Công đoàn Giáo dục tỉnh Lâm Đồng", UnitKind.PROVINCE, None)
        d = await _unit(s, w, "D", "Công đoàn Giáo dục Đà Lạt", UnitKind.DISTRICT, p)
        a = await _unit(s, w, "A", "Trường THCS Nguyễn Du", UnitKind.GRASSROOTS, d)
        b = await _unit(s, w, "B", "Trường TH Lê Lợi", UnitKind.GRASSROOTS, d)
        c = await _unit(s, w, "C", "Văn phòng Công đoàn tỉnh", UnitKind.GRASSROOTS, p)
        an = await _person(s, w, "an", a, chat=linked)
        binh = await _person(s, w, "binh", a, role=Role.OFFICER, chat=linked)
        await _person(s, w, "cuong", a, chat=linked)
        dung = await _person(s, w, "dung", a)
        em = await _person(s, w, "em", b, chat=linked)
        giang = await _person(s, w, "giang", b, role=Role.OFFICER, chat=linked)
        hung = await _person(s, w, "hung", b, role=Role.OFFICER, office=d, chat=linked)
        await _person(s, w, "lan", b)
        await _person(s, w, "ha", c, role=Role.ADMIN, chat=linked)
        await _person(
            s, w, "khoa", c, role=Role.OFFICER, office=c, chat=linked, weekly_digest=False
        )
        await _person(s, w, "long", c, role=Role.OFFICER, office=c)
        await _person(s, w, "minh", c, role=Role.OFFICER, office=c, chat=ChatStage.CONTACT)

        definition_id = await _definition(s)
        assert d.id is not None and c.id is not None
        run_id = await _run(s, definition_id, d.id)
        for person, yes in ((an, True), (binh, False), (em, True), (giang, True), (hung, True)):
            await _answer(s, run_id, person, yes)
        await _answer(s, run_id, dung, True, completed=False)
        await campaign_store.insert_targets(
            s,
            run_id=run_id,
            rows=[
                campaign_store.Target(w.people[k], w.units[u])
                for k, u in (("an", "A"), ("binh", "A"), ("cuong", "A"), ("dung", "A"),
                             ("em", "B"), ("giang", "B"), ("hung", "B"), ("lan", "B"))
            ],
            now=utc(11, 20, 2),
        )  # fmt: skip
        closed_id = await _run(s, definition_id, c.id, status=RunStatus.CLOSED)
        await campaign_store.insert_targets(
            s,
            run_id=closed_id,
            rows=[campaign_store.Target(w.people["long"], w.units["C"])],
            now=utc(11, 20, 2),
        )
    return w


@pytest.fixture
async def world(db: Database) -> World:
    return await build(db)


async def run_pass(
    db: Database, now: dt.datetime, *, schedule: DigestSchedule = SCHEDULE, catalog: Catalog = A3C
) -> int:
    async with db.session() as s:
        return await digest_pass(
            s,
            now=now,
            catalog=catalog,
            tz=TZ,
            schedule=schedule,
            quiet=QUIET,
            default_locale=LOCALE,
        )


async def digests(db: Database) -> list[Delivery]:
    async with db.session() as s:
        stmt = (
            select(Delivery)
            .where(Delivery.kind == DeliveryKind.DIGEST)  # type: ignore[arg-type]
            .order_by(Delivery.id)  # type: ignore[arg-type]
        )
        return list((await s.execute(stmt)).scalars().all())


async def texts(db: Database, w: World) -> dict[str, str]:
    return {w.key_of(d.person_id): d.text for d in await digests(db)}


async def sent_rows(db: Database) -> list[tuple[int, str]]:
    async with db.session() as s:
        rows = await s.execute(select(col(DigestSent.person_id), col(DigestSent.week)))
        return sorted((int(p), str(wk)) for p, wk in rows.all())


# --------------------------------------------------------------------------- the clock


def test_week_label_is_the_local_iso_week() -> None:
    assert week_label(MONDAY_8, TZ) == "2026-W49"
    # Sunday 29/11 17:30 UTC is already Monday 30/11 00:30 in Vietnam
    assert week_label(utc(11, 29, 17, 30), TZ) == "2026-W49"
    assert week_label(utc(11, 29, 16, 59), TZ) == "2026-W48"
    # Friday 01/01/2027 03:00 local belongs to the 53rd week of ISO year 2026
    assert week_label(utc(12, 31, 20), TZ) == "2026-W53"
    with pytest.raises(ValueError):
        week_label(dt.datetime(2026, 11, 30, 8, 0), TZ)


@pytest.mark.parametrize(
    "now,schedule,due",
    [
        # Monday 08:00 local: the moment itself
        (MONDAY_8, SCHEDULE, True),
        # Monday 07:59 local: before it
        (utc(11, 30, 0, 59), SCHEDULE, False),
        # Monday 06:00 local is quiet anyway, and before 08:00
        (utc(11, 29, 23), SCHEDULE, False),
        # Thursday 14:00 local, after downtime: still this week's digest
        (utc(12, 3, 7), SCHEDULE, True),
        # Sunday 06/12 20:59 local: the last moment of the week outside quiet hours
        (utc(12, 6, 13, 59), SCHEDULE, True),
        # Monday 22:00 local: after the moment, but quiet
        (utc(11, 30, 15), SCHEDULE, False),
        # Tuesday 06:59 local: quiet; 07:00: due
        (utc(11, 30, 23, 59), SCHEDULE, False),
        (utc(12, 1, 0), SCHEDULE, True),
        # Wednesday 08:00: Monday, Tuesday and Wednesday 07:59 are before it
        (utc(11, 30, 5), DigestSchedule(weekday=2), False),
        (utc(12, 1, 5), DigestSchedule(weekday=2), False),
        (utc(12, 2, 0, 59), DigestSchedule(weekday=2), False),
        (utc(12, 2, 1), DigestSchedule(weekday=2), True),
        (utc(12, 4, 3), DigestSchedule(weekday=2), True),
        # a time inside quiet hours (06:00) waits for their end (07:00)
        (utc(11, 29, 23, 30), DigestSchedule(at=dt.time(6, 0)), False),
        (utc(11, 30, 0), DigestSchedule(at=dt.time(6, 0)), True),
    ],
)
def test_digest_due(now: dt.datetime, schedule: DigestSchedule, due: bool) -> None:
    assert digest_due(now, schedule, TZ, QUIET) is due


def test_digest_due_without_quiet_hours_and_naive_clock() -> None:
    late = utc(11, 30, 15)  # Monday 22:00 local
    assert digest_due(late, SCHEDULE, TZ, QuietHours(dt.time(0, 0), dt.time(0, 0))) is True
    with pytest.raises(ValueError):
        digest_due(dt.datetime(2026, 11, 30, 9, 0), SCHEDULE, TZ, QUIET)


@pytest.mark.parametrize(
    "kwargs", [{"weekday": 7}, {"weekday": -1}, {"batch": 0}, {"at": dt.time(8, 0, tzinfo=TZ)}]
)
def test_schedule_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DigestSchedule(**kwargs)  # type: ignore[arg-type]


def test_campaign_key_of_indicator_sources() -> None:
    assert campaign_key("survey:activity_participation:participated") == "activity_participation"
    assert campaign_key("unit_report:periodic_dialogue") == "unit_report"
    assert campaign_key("welfare_benefits") is None
    assert campaign_key("roster_membership") is None


# --------------------------------------------------------------------------- the pass


async def test_pass_writes_one_digest_per_officer(db: Database, world: World) -> None:
    assert await run_pass(db, MONDAY_8) == 4
    rows = await digests(db)
    assert [world.key_of(d.person_id) for d in rows] == ["binh", "giang", "hung", "ha"]
    for row in rows:
        key = world.key_of(row.person_id)
        assert row.chat_id == world.chats[key]
        assert row.external_id == str(5000 + world.people[key])
        assert row.channel == Channel.TELEGRAM
        assert row.status == DeliveryStatus.QUEUED
        assert row.available_at == MONDAY_8
        assert row.text.startswith("📊 <b>Tuần 49/2026: ")
        assert row.text.endswith(FOOTER)
    assert await sent_rows(db) == sorted(
        (world.people[k], "2026-W49") for k in ("binh", "giang", "hung", "ha")
    )


async def test_district_officer_sees_the_unit_below_target_and_who_has_not_answered(
    db: Database, world: World
) -> None:
    await run_pass(db, MONDAY_8)
    text = (await texts(db, world))["hung"]
    assert text == (
        "📊 <b>Tuần 49/2026: đơn vị dưới chỉ tiêu</b>\n"
        "🏫 Công đoàn Giáo dục Đà Lạt · chỉ tiêu năm 2026\n"
        "\n"
        "<b>A3c</b> · Đoàn viên, CBNGNLĐ tham gia văn hóa, văn nghệ, TDTT, tham quan, nghỉ mát\n"
        "Mục tiêu: ≥ 75%\n"
        "• Trường THCS Nguyễn Du: 50% — còn thiếu 25 điểm %\n"
        "   <i>Chưa trả lời: Lê Văn Cường, Phạm Thị Dung</i>\n"
        "\n" + FOOTER
    )
    # Nguyễn Du: An yes, Bình no (2 of its 4 answered: enough to judge) = 50%; Lê Lợi: 3 of 3
    # answering yes, on target
    assert "Trường TH Lê Lợi" not in text
    assert "Bùi Thị Lan" not in text  # B's, not A's


async def test_cdcs_officer_gets_their_own_unit(db: Database, world: World) -> None:
    await run_pass(db, MONDAY_8)
    text = (await texts(db, world))["binh"]
    assert "🏫 Trường THCS Nguyễn Du · chỉ tiêu năm 2026" in text
    assert "• Trường THCS Nguyễn Du: 50% — còn thiếu 25 điểm %" in text
    assert "Chưa trả lời: Lê Văn Cường, Phạm Thị Dung</i>" in text


async def test_officer_whose_units_are_on_target_gets_a_short_message(
    db: Database, world: World
) -> None:
    await run_pass(db, MONDAY_8)
    assert (await texts(db, world))["giang"] == (
        "📊 <b>Tuần 49/2026: chỉ tiêu của đơn vị</b>\n"
        "🏫 Trường TH Lê Lợi\n"
        "\n"
        "✅ Tất cả đơn vị của thầy/cô đều đạt chỉ tiêu.\n"
        "\n" + FOOTER
    )


async def test_admin_sees_the_worst_gap_first_and_names_from_the_whole_subtree(
    db: Database, world: World
) -> None:
    # Đà Lạt: 4 yes of the 5 who answered = 80%, on target; the provincial office: nobody
    # answered (its run is closed: nobody to ask), no figure.  Not "0% — 75 points below".
    await run_pass(db, MONDAY_8)
    text = (await texts(db, world))["ha"]
    assert text == (
        "📊 <b>Tuần 49/2026: chỉ tiêu của đơn vị</b>\n"
        "🏫 Công đoàn Giáo dục tỉnh Lâm Đồng\n"
        "\n"
        "✅ Các đơn vị đã đủ số liệu đều đạt chỉ tiêu; 1 đơn vị chưa đủ số liệu để đánh giá.\n"
        "\n" + FOOTER
    )
    assert "Mai Văn Long" not in text

    # Two more "no" (Cường in Nguyễn Du, Lan in Lê Lợi): Đà Lạt 4 of 7 = 57.1%, 17.9 points
    # below; who has not answered is named from the whole district (Dung, in Nguyễn Du).
    async with db.session() as s:
        found = (
            await s.execute(
                select(col(SurveyRun.id)).where(col(SurveyRun.unit_id) == world.units["D"])
            )
        ).scalar_one()
        assert found is not None
        run_id: int = found
        for key in ("cuong", "lan"):
            person = await s.get(Person, world.people[key])
            assert person is not None
            await _answer(s, run_id, person, False)
    text = await _digest_of(db, world, "ha", "P", A3C)
    assert "🏫 Công đoàn Giáo dục tỉnh Lâm Đồng · chỉ tiêu năm 2026" in text
    assert (
        "• Công đoàn Giáo dục Đà Lạt: 57,1% — còn thiếu 17,9 điểm %\n"
        "   <i>Chưa trả lời: Phạm Thị Dung</i>\n"
    ) in text
    assert "Văn phòng Công đoàn tỉnh" not in text


async def test_a_second_pass_the_same_week_writes_nothing(db: Database, world: World) -> None:
    assert await run_pass(db, MONDAY_8) == 4
    assert await run_pass(db, MONDAY_8) == 0
    assert await run_pass(db, utc(12, 3, 7)) == 0  # Thursday, after a restart
    assert len(await digests(db)) == 4


async def test_the_next_week_writes_again(db: Database, world: World) -> None:
    assert await run_pass(db, MONDAY_8) == 4
    assert await run_pass(db, utc(12, 6, 13)) == 0  # Sunday 20:00 local, still week 49
    assert await run_pass(db, NEXT_MONDAY_8) == 4
    rows = await digests(db)
    assert len(rows) == 8
    assert all(r.text.startswith("📊 <b>Tuần 50/2026: ") for r in rows[4:])
    async with db.session() as s:
        weeks = await digest_store.weeks_sent(s, person_id=world.people["hung"])
    assert weeks == ["2026-W49", "2026-W50"]


async def test_nothing_is_written_before_the_time_or_in_quiet_hours(
    db: Database, world: World
) -> None:
    assert await run_pass(db, utc(11, 30, 0, 59)) == 0  # Monday 07:59
    assert await run_pass(db, utc(11, 30, 15)) == 0  # Monday 22:00: quiet hours
    assert await digests(db) == []
    assert await sent_rows(db) == []


async def test_a_digest_missed_during_downtime_goes_out_later_that_week(
    db: Database, world: World
) -> None:
    # down from Monday morning to Wednesday 15:00 local
    assert await run_pass(db, utc(12, 2, 8)) == 4
    assert all(r.text.startswith("📊 <b>Tuần 49/2026: ") for r in await digests(db))


async def test_officers_with_the_digest_off_or_no_linked_chat_get_nothing(
    db: Database, world: World
) -> None:
    await run_pass(db, MONDAY_8)
    got = {world.key_of(d.person_id) for d in await digests(db)}
    assert "khoa" not in got  # weekly_digest false
    assert "long" not in got  # no chat at all
    assert "minh" not in got  # a chat still in onboarding, not linked
    assert not {"an", "cuong", "em"} & got  # members get no digest
    sent = {p for p, _ in await sent_rows(db)}
    assert not {world.people[k] for k in ("khoa", "long", "minh")} & sent


async def test_turning_the_digest_off_stops_the_next_one(db: Database, world: World) -> None:
    await run_pass(db, MONDAY_8)
    async with db.session() as s:
        await s.execute(
            update(Person)
            .where(Person.id == world.people["hung"])  # type: ignore[arg-type]
            .values(weekly_digest=False)
        )
    assert await run_pass(db, NEXT_MONDAY_8) == 3
    assert [world.key_of(d.person_id) for d in (await digests(db))[4:]] == ["binh", "giang", "ha"]


async def test_the_batch_limit_leaves_the_rest_for_the_next_pass(
    db: Database, world: World
) -> None:
    small = DigestSchedule(batch=3)
    assert await run_pass(db, MONDAY_8, schedule=small) == 3
    assert [world.key_of(d.person_id) for d in await digests(db)] == ["binh", "giang", "hung"]
    assert await run_pass(db, MONDAY_8 + dt.timedelta(minutes=1), schedule=small) == 1
    assert world.key_of((await digests(db))[-1].person_id) == "ha"
    assert await run_pass(db, MONDAY_8 + dt.timedelta(minutes=2), schedule=small) == 0


async def test_a_stopped_chat_gets_its_digest_written_unreachable(
    db: Database, world: World
) -> None:
    async with db.session() as s:
        await s.execute(
            update(ChatIdentity)
            .where(ChatIdentity.id == world.chats["giang"])  # type: ignore[arg-type]
            .values(stopped=True)
        )
    assert await run_pass(db, MONDAY_8) == 4
    row = next(d for d in await digests(db) if d.person_id == world.people["giang"])
    assert (row.status, row.error) == (DeliveryStatus.UNREACHABLE, "stopped")


# --------------------------------------------------------------------------- the content


async def _digest_of(db: Database, w: World, key: str, scope: str, catalog: Catalog) -> str:
    async with db.session() as s:
        officer = await s.get(Person, w.people[key])
        unit = await s.get(Unit, w.units[scope])
        assert officer is not None and unit is not None
        digest = await build_digest(
            s, officer=officer, scope=unit, now=MONDAY_8, catalog=catalog, tz=TZ
        )
    return render_digest(digest, "vi")


async def test_build_digest_lists_every_indicator_below_target(db: Database, world: World) -> None:
    """With the whole catalog: nothing was sent (A1), no benefit asked for (A3a), nobody
    answered a training survey (A4b) and no unit report came in: no figure for any of them,
    and no open campaign to ask anyone about, so none is listed (never as 0%).  A3b has no
    case and A5 is met (8 members of 8 people, the roster standing in for the staff count).
    A3c: Nguyễn Du, 1 yes of the 2 who answered, 25 points below."""
    async with db.session() as s:
        officer = await s.get(Person, world.people["hung"])
        unit = await s.get(Unit, world.units["D"])
        assert officer is not None and unit is not None
        digest = await build_digest(
            s, officer=officer, scope=unit, now=MONDAY_8, catalog=FULL_CATALOG, tz=TZ
        )
    assert [i.code for i in digest.indicators] == ["A3c"]
    (a3c,) = digest.indicators
    assert [(u.name, u.numerator, u.denominator, u.gap) for u in a3c.units] == [
        ("Trường THCS Nguyễn Du", 1, 2, 0.25)
    ]
    assert a3c.campaign and a3c.units[0].pending == ("Lê Văn Cường", "Phạm Thị Dung")
    assert a3c.units[0].pending_count == 2
    text = render_digest(digest, "vi")
    assert "<b>A3c</b> · Đoàn viên, CBNGNLĐ tham gia" in text
    for code in ("A1", "A3a", "A4b", "A5", "A3b"):
        assert f"<b>{code}</b>" not in text
    assert ": 0%" not in text


async def test_nothing_measurable_says_so(db: Database, world: World) -> None:
    text = await _digest_of(db, world, "hung", "D", Catalog((FULL_CATALOG.get("A3b"),)))
    assert "Chưa có số liệu để so với chỉ tiêu." in text
    assert "dưới chỉ tiêu" not in text


async def test_at_most_ten_units_and_ten_names(db: Database) -> None:
    """A district of twelve schools, each with one teacher who answered "no" and one asked who
    has not answered (1 of 2: enough to judge; 0 %, 75 points below each, so by name): ten
    listed, "… và 2 đơn vị khác".  The first school has twelve more who answered "no" and
    twelve more asked: 13 of 26 answered, 0 %; of its thirteen who have not answered, ten are
    named (by name), "và 3 người khác"."""
    w = World()
    async with db.session() as s:
        p = await _unit(s, w, "P", "Công đoàn Giáo dục tỉnh Lâm Đồng", UnitKind.PROVINCE, None)
        d = await _unit(s, w, "D", "Công đoàn Giáo dục Bảo Lộc", UnitKind.DISTRICT, p)
        schools = [
            await _unit(s, w, f"S{i:02d}", f"Trường số {i:02d}", UnitKind.GRASSROOTS, d)
            for i in range(1, 13)
        ]
        officer = await _person(s, w, "hung", d, role=Role.OFFICER, office=d, chat=ChatStage.LINKED)
        assert d.id is not None
        run_id = await _run(s, await _definition(s), d.id)
        asked: list[campaign_store.Target] = []
        for i, school in enumerate(schools, start=1):
            count = 13 if i == 1 else 1
            for j in range(1, count + 1):
                no = await _person(
                    s, w, f"no{i:02d}{j:02d}", school, full_name=f"Đã trả lời {i}.{j}"
                )
                await _answer(s, run_id, no, False)
                who = await _person(
                    s, w, f"gv{i:02d}{j:02d}", school, full_name=f"Giáo viên {i:02d}.{j:02d}"
                )
                asked.append(campaign_store.Target(int(who.id or 0), w.units[f"S{i:02d}"]))
        await campaign_store.insert_targets(s, run_id=run_id, rows=asked, now=utc(11, 20, 2))
        assert officer.id is not None
    assert await run_pass(db, MONDAY_8) == 1
    text = (await digests(db))[0].text
    listed = [line for line in text.splitlines() if line.startswith("• ")]
    assert listed == [f"• Trường số {i:02d}: 0% — còn thiếu 75 điểm %" for i in range(1, 11)]
    assert "… và 2 đơn vị khác" in text
    named = ", ".join(f"Giáo viên 01.{j:02d}" for j in range(1, 11))
    assert f"   <i>Chưa trả lời: {named} và 3 người khác</i>" in text


async def test_units_with_too_few_answers_are_listed_with_who_to_ask(
    db: Database, world: World
) -> None:
    """Lê Lợi's four are asked again in a second campaign nobody has answered yet: 3 of 4
    answered the first, so A3c is judged there all the same.  A new school under Đà Lạt with
    three people asked and one answer: 1 of 3 is too few to judge; it is listed apart, with
    who to ask, not as below target."""
    async with db.session() as s:
        d = await s.get(Unit, world.units["D"])
        assert d is not None and d.id is not None
        e = await _unit(s, world, "E", "Trường MN Hoa Mai", UnitKind.GRASSROOTS, d)
        found = (
            await s.execute(select(col(SurveyRun.id)).where(col(SurveyRun.unit_id) == d.id))
        ).scalar_one()
        assert found is not None
        run_id: int = found
        first = await _person(s, world, "x1", e, full_name="Trịnh Văn Một")
        await _person(s, world, "x2", e, full_name="Trịnh Văn Hai")
        await _person(s, world, "x3", e, full_name="Trịnh Văn Ba")
        await _answer(s, run_id, first, True)
        await campaign_store.insert_targets(
            s,
            run_id=run_id,
            rows=[campaign_store.Target(world.people[k], world.units["E"]) for k in ("x2", "x3")],
            now=utc(11, 20, 2),
        )
    text = await _digest_of(db, world, "hung", "D", A3C)
    assert (
        "• Trường MN Hoa Mai: chưa đủ số liệu (đã trả lời 1/3)\n"
        "   <i>Chưa trả lời: Trịnh Văn Ba, Trịnh Văn Hai</i>\n"
    ) in text
    # Nguyễn Du stays below target, listed first
    assert text.index("Trường THCS Nguyễn Du: 50%") < text.index("Trường MN Hoa Mai")


async def test_unit_report_indicators_only_where_a_report_came_in(
    db: Database, world: World
) -> None:
    """Nguyễn Du's officer reported no periodic dialogue (A2a 0 of 1, target 100 %); Lê Lợi
    has sent no report: it is not listed under the unit indicators (0 % would say nothing)."""
    async with db.session() as s:
        row = SurveyDefinitionRow(key="unit_report", title="Báo cáo năm", checksum="r", body="{}")
        s.add(row)
        await s.flush()
        assert row.id is not None
        run_id = await _run(s, row.id, world.units["D"])
        response = Response(
            run_id=run_id,
            person_id=world.people["binh"],
            unit_id=world.units["A"],
            state=ResponseState.COMPLETED,
            completed_at=utc(11, 25, 3),
        )
        s.add(response)
        await s.flush()
        assert response.id is not None
        s.add(Answer(response_id=response.id, question_key="periodic_dialogue", value="false"))
        await s.flush()
        officer = await s.get(Person, world.people["hung"])
        unit = await s.get(Unit, world.units["D"])
        assert officer is not None and unit is not None
        digest = await build_digest(
            s, officer=officer, scope=unit, now=MONDAY_8, catalog=FULL_CATALOG, tz=TZ
        )
    a2a = next(i for i in digest.indicators if i.code == "A2a")
    assert [(u.name, u.numerator, u.denominator) for u in a2a.units] == [
        ("Trường THCS Nguyễn Du", 0, 1)
    ]
    # the other unit indicators: Nguyễn Du answered nothing else, so 0 of 1 each where the
    # indicator concerns every CĐCS; Lê Lợi is listed under none of them
    assert all(
        u.name != "Trường TH Lê Lợi"
        for i in digest.indicators
        if i.code[0] == "P" or i.code in ("A2a", "A2b", "A4a", "A6", "A7", "A8a", "A8b", "A8c")
        for u in i.units
    )
