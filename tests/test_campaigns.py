"""The reminder pass on a real database, with a controllable clock (``now`` passed in).

The campaign's audience is frozen into targets at launch; here the fixture writes the targets
of district D's people directly (launching is tested in ``test_campaign_launch.py``).

The fixture: province P → district D → schools A and B; school C sits directly under P, outside
the campaign's audience (district D).  People:

- an (A, linked chat, locale en), giang (A, linked, a response in progress), dung (B, never
  linked): have not completed → reminded (dung's reminders are written ``unreachable``);
- binh (A, linked, completed response), chi (B, linked, a participation row — an anonymous
  survey): completed → never reminded;
- em (C, linked): outside the audience → never reminded.

The campaign opens 01/03/2026 09:00 and closes 20/03/2026 17:00 (Asia/Ho_Chi_Minh, UTC+7).
Default policy (3 days and 1 day before closing, 08:00 on the last day, at most 3, quiet
21:00–07:00), so the planned moments are, by hand:

- 17/03 17:00 local = 17/03 10:00 UTC
- 19/03 17:00 local = 19/03 10:00 UTC
- 20/03 08:00 local = 20/03 01:00 UTC
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.schedule import ReminderPolicy
from bot.campaigns.service import (
    PassStats,
    PolicyError,
    policy_from_json,
    policy_to_json,
    reminder_pass,
)
from storage import campaigns as store
from storage.db import Database
from storage.models import (
    CampaignTarget,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Participation,
    Person,
    Response,
    ResponseState,
    RunStatus,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
    UnitKind,
)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


TZ = dt.timezone(dt.timedelta(hours=7))  # Asia/Ho_Chi_Minh has no DST: the same offsets
LOCALE = "vi"
OPENS = utc(2026, 3, 1, 2, 0)  # 01/03 09:00 local
CLOSES = utc(2026, 3, 20, 10, 0)  # 20/03 17:00 local
FIRST = utc(2026, 3, 17, 10, 0)  # 3 days before
SECOND = utc(2026, 3, 19, 10, 0)  # 1 day before
MORNING = utc(2026, 3, 20, 1, 0)  # 08:00 local on the last day
TITLE = "Khảo sát đời sống đoàn viên"


@dataclass
class World:
    run_id: int = 0
    people: dict[str, int] = field(default_factory=dict)

    def names(self, ids: list[int]) -> list[str]:
        by_id = {v: k for k, v in self.people.items()}
        return sorted(by_id[i] for i in ids)


async def _unit(s: AsyncSession, code: str, kind: UnitKind, parent: Unit | None) -> Unit:
    unit = Unit(
        code=code, name=f"Đơn vị {code}", kind=kind, parent_id=parent.id if parent else None
    )
    s.add(unit)
    await s.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await s.flush()
    return unit


async def _person(
    s: AsyncSession, w: World, key: str, unit: Unit, *, linked: bool, locale: str = "vi"
) -> Person:
    assert unit.id is not None
    person = Person(full_name=key.title(), unit_id=unit.id)
    s.add(person)
    await s.flush()
    assert person.id is not None
    w.people[key] = person.id
    if linked:
        s.add(
            ChatIdentity(
                channel=Channel.TELEGRAM,
                external_id=str(1000 + person.id),
                person_id=person.id,
                stage=ChatStage.LINKED,
                locale=locale,
            )
        )
    return person


async def build(db: Database, *, policy: str | None = None) -> World:
    w = World()
    async with db.session() as s:
        p = await _unit(s, "P", UnitKind.PROVINCE, None)
        d = await _unit(s, "D", UnitKind.DISTRICT, p)
        a = await _unit(s, "A", UnitKind.GRASSROOTS, d)
        b = await _unit(s, "B", UnitKind.GRASSROOTS, d)
        c = await _unit(s, "C", UnitKind.GRASSROOTS, p)
        await _person(s, w, "an", a, linked=True, locale="en")
        binh = await _person(s, w, "binh", a, linked=True)
        chi = await _person(s, w, "chi", b, linked=True)
        await _person(s, w, "dung", b, linked=False)
        await _person(s, w, "em", c, linked=True)
        giang = await _person(s, w, "giang", a, linked=True)
        definition = SurveyDefinitionRow(key="doi_song", title=TITLE, checksum="x", body="{}")
        s.add(definition)
        await s.flush()
        assert definition.id is not None and d.id is not None and a.id is not None
        run = SurveyRun(
            definition_id=definition.id,
            unit_id=d.id,
            period_year=2026,
            opens_at=OPENS,
            closes_at=CLOSES,
            reminder_policy=policy,
        )
        s.add(run)
        await s.flush()
        assert run.id is not None and b.id is not None
        w.run_id = run.id
        s.add(
            Response(
                run_id=run.id,
                person_id=binh.id,
                unit_id=a.id,
                state=ResponseState.COMPLETED,
                completed_at=utc(2026, 3, 2, 3, 0),
            )
        )
        s.add(Response(run_id=run.id, person_id=giang.id, unit_id=a.id))
        assert chi.id is not None
        s.add(Participation(run_id=run.id, person_id=chi.id))
        await store.insert_targets(
            s,
            run_id=run.id,
            rows=[
                store.Target(w.people[k], u)
                for k, u in (("an", a.id), ("binh", a.id), ("chi", b.id), ("dung", b.id),
                             ("giang", a.id))
            ],
            now=OPENS,
        )  # fmt: skip
    return w


async def state_of(db: Database, w: World, name: str) -> tuple[int, object, object]:
    async with db.session() as s:
        target = (
            await s.execute(
                select(CampaignTarget).where(
                    CampaignTarget.run_id == w.run_id,  # type: ignore[arg-type]
                    CampaignTarget.person_id == w.people[name],  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
    return target.sent_count, target.last_sent_at, target.last_manual_at


async def run_pass(db: Database, now: dt.datetime, **kw: object) -> PassStats:
    async with db.session() as s:
        return await reminder_pass(
            s,
            now=now,
            tz=TZ,
            default_locale=LOCALE,
            **kw,  # type: ignore[arg-type]
        )


async def reminders(db: Database) -> list[Delivery]:
    async with db.session() as s:
        rows = await s.execute(select(Delivery).order_by(Delivery.id))  # type: ignore[arg-type]
        return list(rows.scalars().all())


async def per_person(db: Database, w: World) -> dict[str, int]:
    counts = Counter(w.names([d.person_id for d in await reminders(db) if d.person_id]))
    return dict(counts)


# --------------------------------------------------------------------------- offsets


async def test_offsets_each_planned_moment_once(db: Database) -> None:
    w = await build(db)
    # a minute before the first planned moment: nothing
    stats = await run_pass(db, FIRST - dt.timedelta(minutes=1))
    assert stats == PassStats(runs_closed=0, runs_open=1, runs_due=0, reminders=0)
    assert await reminders(db) == []

    stats = await run_pass(db, FIRST)
    assert stats == PassStats(runs_closed=0, runs_open=1, runs_due=1, reminders=3)
    assert await per_person(db, w) == {"an": 1, "dung": 1, "giang": 1}
    # the same moment again, and the next day: nothing new
    assert (await run_pass(db, FIRST)).reminders == 0
    assert (await run_pass(db, utc(2026, 3, 18, 10, 0))).reminders == 0

    assert (await run_pass(db, SECOND)).reminders == 3
    assert (await run_pass(db, MORNING - dt.timedelta(seconds=1))).reminders == 0
    assert (await run_pass(db, MORNING)).reminders == 3
    assert (await run_pass(db, MORNING + dt.timedelta(hours=2))).reminders == 0
    assert await per_person(db, w) == {"an": 3, "dung": 3, "giang": 3}

    rows = await reminders(db)
    assert {r.kind for r in rows} == {DeliveryKind.REMINDER}
    assert {r.notice_id for r in rows} == {None}
    status = Counter((w.names([r.person_id])[0], r.status) for r in rows if r.person_id)
    assert status == {
        ("an", DeliveryStatus.QUEUED): 3,
        ("giang", DeliveryStatus.QUEUED): 3,
        ("dung", DeliveryStatus.UNREACHABLE): 3,
    }
    by_name = {w.names([r.person_id])[0]: r for r in rows if r.person_id}
    assert "⏰ <b>Nhắc nhở: Khảo sát đời sống đoàn viên</b>" in by_name["giang"].text
    assert "Khảo sát sẽ đóng lúc 17:00 20/03/2026." in by_name["giang"].text
    assert "The survey closes at 17:00 20/03/2026." in by_name["an"].text  # an's chat is en
    assert by_name["dung"].error == "never_linked"

    assert await state_of(db, w, "an") == (3, MORNING, None)
    assert {r.run_id for r in rows} == {w.run_id}


# --------------------------------------------------------------------------- quiet hours


async def test_quiet_hours_hold_a_missed_reminder_until_seven(db: Database) -> None:
    w = await build(db)
    # The process was down at 17:00 local; it comes back at 22:00 local (15:00 UTC).
    assert (await run_pass(db, utc(2026, 3, 17, 15, 0))).reminders == 0
    assert (await run_pass(db, utc(2026, 3, 17, 23, 59))).reminders == 0  # 06:59 local
    stats = await run_pass(db, utc(2026, 3, 18, 0, 0))  # 07:00 local
    assert stats.reminders == 3
    assert (await run_pass(db, utc(2026, 3, 18, 0, 0))).reminders == 0
    assert await per_person(db, w) == {"an": 1, "dung": 1, "giang": 1}


# --------------------------------------------------------------------------- downtime


async def test_restart_after_downtime_sends_each_missed_reminder_once(db: Database) -> None:
    w = await build(db)
    assert (await run_pass(db, utc(2026, 3, 17, 9, 0))).reminders == 0
    # down until 19/03 19:00 local: both the 3-day and the 1-day moments were missed
    assert (await run_pass(db, utc(2026, 3, 19, 12, 0))).reminders == 3
    assert (await run_pass(db, utc(2026, 3, 19, 12, 0))).reminders == 0
    assert (await run_pass(db, utc(2026, 3, 19, 13, 0))).reminders == 0
    assert await per_person(db, w) == {"an": 1, "dung": 1, "giang": 1}
    assert (await run_pass(db, MORNING)).reminders == 3
    assert await per_person(db, w) == {"an": 2, "dung": 2, "giang": 2}
    assert await state_of(db, w, "giang") == (2, MORNING, None)


# --------------------------------------------------------------------------- closing


async def test_a_campaign_that_closed_during_downtime_gets_nothing(db: Database) -> None:
    w = await build(db)
    stats = await run_pass(db, CLOSES)
    assert stats == PassStats(runs_closed=1, runs_open=0, runs_due=0, reminders=0)
    assert await reminders(db) == []
    async with db.session() as s:
        run = await s.get(SurveyRun, w.run_id)
        assert run is not None and run.status == RunStatus.CLOSED
    assert (await run_pass(db, CLOSES + dt.timedelta(days=1))).runs_closed == 0


async def test_a_closed_campaign_gets_nothing_even_with_reminders_due(db: Database) -> None:
    w = await build(db)
    assert (await run_pass(db, FIRST)).reminders == 3
    async with db.session() as s:
        await s.execute(
            update(SurveyRun)
            .where(SurveyRun.id == w.run_id)  # type: ignore[arg-type]
            .values(status=RunStatus.CLOSED)
        )
    stats = await run_pass(db, SECOND)
    assert stats == PassStats(runs_closed=0, runs_open=0, runs_due=0, reminders=0)
    assert await per_person(db, w) == {"an": 1, "dung": 1, "giang": 1}


# --------------------------------------------------------------------------- completion


async def test_who_completes_between_reminders_gets_no_more(db: Database) -> None:
    w = await build(db)
    assert (await run_pass(db, FIRST)).reminders == 3
    async with db.session() as s:
        await s.execute(
            update(Response)
            .where(Response.person_id == w.people["giang"])  # type: ignore[arg-type]
            .values(state=ResponseState.COMPLETED)
        )
        s.add(Participation(run_id=w.run_id, person_id=w.people["dung"]))
    stats = await run_pass(db, SECOND)
    assert stats.reminders == 1
    assert await per_person(db, w) == {"an": 2, "dung": 1, "giang": 1}


async def test_pending_by_unit_is_the_targets_minus_completed(db: Database) -> None:
    w = await build(db)
    async with db.session() as s:
        pending = await store.pending_by_unit(s, run_id=w.run_id, per_unit=False)
    # A: an, giang (binh completed); B: dung (chi took part anonymously)
    assert [(p.unit_name, p.count, p.names) for p in pending] == [
        ("Đơn vị A", 2, ("An", "Giang")),
        ("Đơn vị B", 1, ("Dung",)),
    ]
    assert await state_of(db, w, "giang") == (0, None, None)


# --------------------------------------------------------------------------- the cap


async def test_per_person_maximum_from_the_run_policy(db: Database) -> None:
    w = await build(db, policy='{"max_per_person": 2}')
    assert (await run_pass(db, FIRST)).reminders == 3
    assert (await run_pass(db, SECOND)).reminders == 3
    stats = await run_pass(db, MORNING)
    assert (stats.runs_due, stats.reminders) == (1, 0)
    assert await per_person(db, w) == {"an": 2, "dung": 2, "giang": 2}


async def test_per_person_maximum_from_the_default_policy(db: Database) -> None:
    w = await build(db)
    one = ReminderPolicy(max_per_person=1)
    assert (await run_pass(db, FIRST, policy_default=one)).reminders == 3
    assert (await run_pass(db, SECOND, policy_default=one)).reminders == 0
    assert (await run_pass(db, MORNING, policy_default=one)).reminders == 0
    assert await per_person(db, w) == {"an": 1, "dung": 1, "giang": 1}


# --------------------------------------------------------------------------- policy JSON


def test_policy_json_round_trip_and_defaults() -> None:
    policy = ReminderPolicy(
        offsets=(dt.timedelta(days=2), dt.timedelta(hours=6)),
        last_day_morning=None,
        max_per_person=5,
    )
    text = policy_to_json(policy)
    assert text == (
        '{"last_day_morning": null, "max_per_person": 5, "offsets_minutes": [2880, 360], '
        '"quiet_end": "07:00", "quiet_start": "21:00"}'
    )
    assert policy_from_json(text, ReminderPolicy()) == policy
    assert policy_from_json(None, policy) is policy
    partial = policy_from_json('{"last_day_morning": "07:30"}', ReminderPolicy())
    assert partial.last_day_morning == dt.time(7, 30)
    assert partial.offsets == (dt.timedelta(days=3), dt.timedelta(days=1))
    for bad in ("[1]", "not json", '{"offsets_minutes": [-5]}', '{"quiet_start": 9}'):
        with pytest.raises(PolicyError):
            policy_from_json(bad, ReminderPolicy())
