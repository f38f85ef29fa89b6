"""Launching campaigns, unit-level surveys, late answers, recurring runs, reminders by hand and
the leader-elected scheduler, on a real database with a controllable clock (no sleeps).

The fixture (by hand): province P → district D → CĐCS A, B, E (E has no officer); CĐCS C sits
directly under P, outside district D.  People:

- A: officer oa (linked), members a1 (linked), a2 (linked), a3 (never linked)
- B: officer ob (linked), officer ob2 (linked), member b1 (linked)
- E: member e1 (linked)
- C: member c1 (linked)
- P: admin (linked)

District D's audience is therefore oa, a1, a2, a3, ob, ob2, b1, e1 (8 people, 7 linked).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.campaigns import service
from bot.campaigns.schedule import QuietHours, Recurrence, ReminderPolicy
from bot.campaigns.scheduler import Scheduler, SchedulerSettings
from bot.notices import service as notices
from bot.notices.audience import Audience
from bot.services.actors import Actor, load_actor
from bot.services.conversation import Conversation, ScreenKind, SurveyRegistry
from storage import campaigns as store
from storage.db import Database
from storage.models import (
    CampaignTarget,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    Person,
    Response,
    ResponseState,
    Role,
    SurveyRun,
    Unit,
    UnitKind,
)

TZ = dt.timezone(dt.timedelta(hours=7))  # Asia/Ho_Chi_Minh has no DST: the same offsets
LOCALE = "vi"


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)


@dataclass
class World:
    units: dict[str, Unit] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)

    def name(self, person_id: int | None) -> str:
        return {v: k for k, v in self.people.items()}[person_id or 0]


async def _unit(s: AsyncSession, w: World, code: str, kind: UnitKind, parent: str | None) -> Unit:
    above = w.units[parent] if parent else None
    unit = Unit(code=code, name=f"Trường {code}", kind=kind, parent_id=above.id if above else None)
    s.add(unit)
    await s.flush()
    unit.path = f"{above.path if above else '/'}{unit.id}/"
    w.units[code] = unit
    return unit


async def _person(
    s: AsyncSession, w: World, key: str, unit: str, *, role: Role = Role.MEMBER, linked: bool = True
) -> None:
    u = w.units[unit]
    assert u.id is not None
    person = Person(full_name=key.upper(), unit_id=u.id, role=role)
    s.add(person)
    await s.flush()
    assert person.id is not None
    w.people[key] = person.id
    if linked:
        s.add(
            ChatIdentity(
                channel=Channel.TELEGRAM,
                external_id=str(5000 + person.id),
                person_id=person.id,
                stage=ChatStage.LINKED,
            )
        )


async def build(db: Database) -> World:
    w = World()
    async with db.session() as s:
        await _unit(s, w, "P", UnitKind.PROVINCE, None)
        await _unit(s, w, "D", UnitKind.DISTRICT, "P")
        for code in ("A", "B", "E"):
            await _unit(s, w, code, UnitKind.GRASSROOTS, "D")
        await _unit(s, w, "C", UnitKind.GRASSROOTS, "P")
        await _person(s, w, "oa", "A", role=Role.OFFICER)
        await _person(s, w, "a1", "A")
        await _person(s, w, "a2", "A")
        await _person(s, w, "a3", "A", linked=False)
        await _person(s, w, "ob", "B", role=Role.OFFICER)
        await _person(s, w, "ob2", "B", role=Role.OFFICER)
        await _person(s, w, "b1", "B")
        await _person(s, w, "e1", "E")
        await _person(s, w, "c1", "C")
        await _person(s, w, "admin", "P", role=Role.ADMIN)
    return w


async def actor_of(s: AsyncSession, w: World, key: str) -> Actor:
    return await load_actor(
        s, channel=Channel.TELEGRAM, external_id=str(5000 + w.people[key]), locale="vi"
    )


REGISTRY = SurveyRegistry()
LAUNCHABLE = {d.key: d for d in Conversation(REGISTRY, tz=TZ).launchable()}
NOW = local(2026, 11, 2, 9)  # a Monday, 09:00
CLOSES = local(2026, 11, 12, 17)


async def launch(
    db: Database, w: World, key: str, *, by: str = "admin", **plan: object
) -> service.Launched:
    async with db.session() as s:
        await REGISTRY.sync(s)
        actor = await actor_of(s, w, by)
        audience = plan.pop("audience", Audience(unit_ids=(w.units["D"].id or 0,)))
        closes = plan.pop("closes_at", CLOSES)
        now = plan.pop("now", NOW)
        return await service.launch(
            s,
            actor=actor,
            plan=service.Plan(key=key, closes_at=closes, audience=audience, **plan),  # type: ignore[arg-type]
            definitions=LAUNCHABLE,
            definition_id=await REGISTRY.row_id(s, key),
            now=now,  # type: ignore[arg-type]
            tz=TZ,
            default_locale=LOCALE,
        )


async def outbox(db: Database, w: World, kind: DeliveryKind) -> Counter[tuple[str, str]]:
    async with db.session() as s:
        rows = (
            await s.execute(select(Delivery).where(Delivery.kind == kind))  # type: ignore[arg-type]
        ).scalars()
        return Counter((w.name(d.person_id), str(d.status)) for d in rows)


async def complete(db: Database, w: World, run_id: int, key: str, unit: str) -> None:
    async with db.session() as s:
        s.add(
            Response(
                run_id=run_id,
                person_id=w.people[key],
                unit_id=w.units[unit].id or 0,
                state=ResponseState.COMPLETED,
            )
        )


# --------------------------------------------------------------------------- launching


async def test_a_member_campaign_freezes_its_audience_and_invites_it(db: Database) -> None:
    w = await build(db)
    result = await launch(db, w, "activity_participation")
    assert result.outcome == service.LaunchOutcome.LAUNCHED
    assert (result.targets, result.invited, result.per_unit) == (8, 7, False)
    # 3 and 1 days before 12/11 17:00, and 08:00 on the last day
    assert result.reminders == (
        local(2026, 11, 9, 17),
        local(2026, 11, 11, 17),
        local(2026, 11, 12, 8),
    )
    invitations = await outbox(db, w, DeliveryKind.INVITATION)
    assert invitations == Counter(
        {(k, "queued"): 1 for k in ("oa", "a1", "a2", "ob", "ob2", "b1", "e1")}
        | {("a3", "unreachable"): 1}
    )
    async with db.session() as s:
        row = (
            await s.execute(select(Delivery).where(col(Delivery.person_id) == w.people["a1"]))
        ).scalar_one()
    assert row.run_id == result.run_id and "Hạn trả lời: <b>17:00 12/11/2026</b>" in row.text
    # The same survey for the same unit and period cannot be opened twice.
    again = await launch(db, w, "activity_participation")
    assert again.outcome == service.LaunchOutcome.ALREADY
    # nor a second one-off a day later while the first is still open
    later = await launch(db, w, "activity_participation", now=NOW + dt.timedelta(days=1))
    assert later.outcome == service.LaunchOutcome.ALREADY


async def test_invitations_wait_out_quiet_hours(db: Database) -> None:
    w = await build(db)
    result = await launch(db, w, "activity_participation", now=local(2026, 11, 2, 22, 30))
    assert result.outcome == service.LaunchOutcome.LAUNCHED
    async with db.session() as s:
        times = set(
            (
                await s.execute(
                    select(col(Delivery.available_at)).where(
                        col(Delivery.kind) == DeliveryKind.INVITATION
                    )
                )
            ).scalars()
        )
    assert times == {local(2026, 11, 3, 7).astimezone(dt.UTC)}


async def test_bad_launches_are_refused(db: Database) -> None:
    w = await build(db)
    past = await launch(db, w, "activity_participation", closes_at=local(2026, 11, 1, 17))
    assert past.outcome == service.LaunchOutcome.BAD_TIMES
    outside = await launch(
        db,
        w,
        "activity_participation",
        by="oa",
        audience=Audience(unit_ids=(w.units["C"].id or 0,)),
    )
    assert outside.outcome == service.LaunchOutcome.FORBIDDEN
    standing = await launch(db, w, "hardship_case")
    assert standing.outcome == service.LaunchOutcome.UNKNOWN_SURVEY
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(SurveyRun))).scalar_one() == 0


async def test_each_person_is_invited_and_reminded_on_their_own_newest_chat(
    db: Database,
) -> None:
    """The channel comes from each recipient, never from the officer or a default: a1 linked
    a Zalo chat after the Telegram one, a2 only uses the local channel (the demo's), and oa, on
    Telegram, launches and reminds.  All 7 linked people of D are reached: none is "0
    người" for being on another channel than the launcher."""
    w = await build(db)
    async with db.session() as s:
        s.add(
            ChatIdentity(
                channel=Channel.ZALO,
                external_id="zalo-a1",
                person_id=w.people["a1"],
                stage=ChatStage.LINKED,
            )
        )
        a2 = (
            await s.execute(
                select(ChatIdentity).where(col(ChatIdentity.person_id) == w.people["a2"])
            )
        ).scalar_one()
        a2.channel, a2.external_id = Channel.LOCAL, "local-a2"
    result = await launch(
        db,
        w,
        "activity_participation",
        by="oa",
        audience=Audience(unit_ids=(w.units["A"].id or 0,)),
    )
    assert (result.outcome, result.targets, result.invited) == (
        service.LaunchOutcome.LAUNCHED,
        4,
        3,
    )

    async def written(kind: DeliveryKind) -> dict[str, tuple[Channel | None, str | None]]:
        async with db.session() as s:
            rows = (await s.execute(select(Delivery).where(col(Delivery.kind) == kind))).scalars()
            return {w.name(d.person_id): (d.channel, d.external_id) for d in rows}

    expected = {
        "oa": (Channel.TELEGRAM, str(5000 + w.people["oa"])),
        "a1": (Channel.ZALO, "zalo-a1"),
        "a2": (Channel.LOCAL, "local-a2"),
        "a3": (None, None),  # never linked: written unreachable, on no channel
    }
    assert await written(DeliveryKind.INVITATION) == expected
    async with db.session() as s:
        actor = await actor_of(s, w, "oa")
        reminded = await service.remind_by_hand(
            s,
            actor=actor,
            run_id=result.run_id or 0,
            now=local(2026, 11, 3, 10),
            tz=TZ,
            default_locale=LOCALE,
        )
    assert (reminded.outcome, reminded.count, reminded.unreachable) == (
        service.ManualOutcome.SENT,
        3,
        1,
    )
    assert await written(DeliveryKind.REMINDER) == expected


async def test_a_launch_over_an_open_run_of_the_survey_stops_then_asks_the_others(
    db: Database,
) -> None:
    """oa's run asks A (oa, a1, a2, a3); the admin then launches the same survey to D (8
    people): 4 of them are asked already, so nothing is written until the admin agrees, and
    then D's run asks the other 4 (ob, ob2, b1, e1).  a1 sees one entry."""
    w = await build(db)
    now = dt.datetime.now(dt.UTC)  # /surveys lists what is open on the real clock
    closes = dt.datetime.combine(
        (now.astimezone(TZ) + dt.timedelta(days=10)).date(), dt.time(17), tzinfo=TZ
    )
    first = await launch(
        db,
        w,
        "activity_participation",
        by="oa",
        audience=Audience(unit_ids=(w.units["A"].id or 0,)),
        now=now,
        closes_at=closes,
    )
    assert (first.outcome, first.targets, first.asked_elsewhere) == (
        service.LaunchOutcome.LAUNCHED,
        4,
        0,
    )
    stopped = await launch(db, w, "activity_participation", now=now, closes_at=closes)
    assert stopped.outcome == service.LaunchOutcome.OVERLAP
    assert (stopped.asked_elsewhere, stopped.others, stopped.targets) == (4, 4, 4)
    [other] = stopped.elsewhere
    assert (other.run_id, other.unit_name, other.count) == (first.run_id, "Trường A", 4)
    assert other.closes_at == closes and other.closes_at.utcoffset() == TZ.utcoffset(None)
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(SurveyRun))).scalar_one() == 1
    assert sum((await outbox(db, w, DeliveryKind.INVITATION)).values()) == 4

    second = await launch(
        db, w, "activity_participation", skip_asked=True, now=now, closes_at=closes
    )
    assert (second.outcome, second.targets, second.invited, second.asked_elsewhere) == (
        service.LaunchOutcome.LAUNCHED,
        4,
        4,
        4,
    )
    async with db.session() as s:
        asked = (
            await s.execute(
                select(col(Person.full_name))
                .join(CampaignTarget, col(CampaignTarget.person_id) == col(Person.id))
                .where(col(CampaignTarget.run_id) == second.run_id)
            )
        ).scalars()
        assert sorted(asked) == ["B1", "E1", "OB", "OB2"]
        a1 = await actor_of(s, w, "a1")
        offers = await Conversation(REGISTRY, tz=TZ).offers(s, actor=a1)
    assert [o.run_id for o in offers if o.key == "activity_participation"] == [first.run_id]
    # Everyone of B (ob, ob2, b1) is asked in D's run: nothing to launch, agreed or not.
    again = await launch(
        db,
        w,
        "activity_participation",
        by="ob",
        skip_asked=True,
        audience=Audience(unit_ids=(w.units["B"].id or 0,)),
        now=now,
        closes_at=closes,
    )
    assert (again.outcome, again.asked_elsewhere, again.others) == (
        service.LaunchOutcome.OVERLAP,
        3,
        0,
    )


async def test_a_unit_survey_over_an_open_one_counts_units(db: Database) -> None:
    """oa's unit report for A is open; the admin's for D would ask A's officer again: one
    CĐCS (A) is asked already, one (B, two officers) remains; E has no officer."""
    w = await build(db)
    now = dt.datetime.now(dt.UTC)
    closes = now + dt.timedelta(days=10)
    first = await launch(
        db,
        w,
        "unit_report",
        by="oa",
        now=now,
        closes_at=closes,
        audience=(Audience(unit_ids=(w.units["A"].id or 0,))),
    )
    assert first.outcome == service.LaunchOutcome.LAUNCHED
    stopped = await launch(db, w, "unit_report", now=now, closes_at=closes)
    assert (stopped.outcome, stopped.per_unit) == (service.LaunchOutcome.OVERLAP, True)
    assert (stopped.asked_elsewhere, stopped.others, stopped.targets) == (1, 1, 2)
    done = await launch(db, w, "unit_report", now=now, closes_at=closes, skip_asked=True)
    assert (done.outcome, done.targets, done.asked_elsewhere) == (
        service.LaunchOutcome.LAUNCHED,
        2,
        1,
    )


async def test_a_member_asked_twice_before_the_check_sees_one_entry(db: Database) -> None:
    """Runs launched before launches checked for overlap: a1 is a target of both.  /surveys
    lists the survey once: the older run, then the one a1 has started."""
    w = await build(db)
    now = dt.datetime.now(dt.UTC)
    closes = now + dt.timedelta(days=10)
    first = await launch(
        db,
        w,
        "activity_participation",
        by="oa",
        audience=Audience(unit_ids=(w.units["A"].id or 0,)),
        now=now,
        closes_at=closes,
    )
    second = await launch(
        db, w, "activity_participation", skip_asked=True, now=now, closes_at=closes
    )
    assert first.run_id is not None and second.run_id is not None
    async with db.session() as s:
        await store.insert_targets(
            s,
            run_id=second.run_id,
            rows=[store.Target(w.people["a1"], w.units["A"].id or 0)],
            now=NOW,
        )
    conversation = Conversation(REGISTRY, tz=TZ)

    async def entries() -> list[tuple[int | None, str | None]]:
        async with db.session() as s:
            a1 = await actor_of(s, w, "a1")
            offers = await conversation.offers(s, actor=a1)
        return [(o.run_id, o.state) for o in offers if o.key == "activity_participation"]

    assert await entries() == [(first.run_id, None)]
    async with db.session() as s:
        a1 = await actor_of(s, w, "a1")
        await conversation.open(s, actor=a1, run_id=second.run_id, key=None)
    assert await entries() == [(second.run_id, "in_progress")]


# --------------------------------------------------------------------------- unit-level


async def test_a_unit_survey_goes_to_cdcs_officers_and_one_answer_per_unit_counts(
    db: Database,
) -> None:
    w = await build(db)
    # Opened now (answering checks the real clock), closing in ten days at 17:00.
    now = dt.datetime.now(dt.UTC)
    closes = dt.datetime.combine(
        (now.astimezone(TZ) + dt.timedelta(days=10)).date(), dt.time(17), tzinfo=TZ
    )
    result = await launch(db, w, "unit_report", now=now, closes_at=closes)
    assert result.outcome == service.LaunchOutcome.LAUNCHED
    # A: oa; B: ob, ob2; E has no officer
    assert (result.targets, result.invited, result.units_without_officer) == (3, 3, 1)
    assert result.run_id is not None
    await complete(db, w, result.run_id, "ob", "B")
    async with db.session() as s:
        pending = await store.pending_by_unit(s, run_id=result.run_id, per_unit=True)
        actor = await actor_of(s, w, "ob2")
        screen = await Conversation(REGISTRY, tz=TZ).open(
            s, actor=actor, run_id=result.run_id, key=None
        )
        admin = await actor_of(s, w, "admin")
        rows = await service.campaigns_for(s, actor=admin, tz=TZ)
    assert [(p.unit_name, p.names) for p in pending] == [("Trường A", ("OA",))]
    assert screen.kind == ScreenKind.UNIT_DONE  # B has answered through ob
    assert (rows[0].units, rows[0].units_done, rows[0].rate) == (2, 1, 0.5)
    # the reminder pass (3 days before closing) reminds oa only
    async with db.session() as s:
        stats = await service.reminder_pass(
            s, now=closes - dt.timedelta(days=3), tz=TZ, default_locale=LOCALE
        )
    assert stats.reminders == 1
    assert await outbox(db, w, DeliveryKind.REMINDER) == Counter({("oa", "queued"): 1})


async def test_the_report_of_the_bodies_above_the_cdcs_goes_to_their_officers(
    db: Database,
) -> None:
    """The plan asks "các cấp công đoàn" (A4a, A8b, A8c, and A7's direct superior unions): the
    upper unit report goes to the officer of the district (OD, added here) and to the admin
    who answers for the province, never to a CĐCS officer."""
    w = await build(db)
    async with db.session() as s:
        await _person(s, w, "od", "D", role=Role.OFFICER)
    now = dt.datetime.now(dt.UTC)
    result = await launch(
        db,
        w,
        "unit_report_upper",
        now=now,
        closes_at=now + dt.timedelta(days=10),
        audience=Audience(unit_ids=(w.units["P"].id or 0,)),
    )
    assert result.outcome == service.LaunchOutcome.LAUNCHED
    assert (result.targets, result.units_without_officer) == (2, 0)
    assert result.run_id is not None
    async with db.session() as s:
        pending = await store.pending_by_unit(s, run_id=result.run_id, per_unit=True)
    # (the test units are all named "Trường <code>")
    assert sorted((p.unit_name, p.names) for p in pending) == [
        ("Trường D", ("OD",)),
        ("Trường P", ("ADMIN",)),
    ]


# --------------------------------------------------------------------------- late answers


async def test_answers_after_closing_are_refused_politely(db: Database) -> None:
    w = await build(db)
    result = await launch(
        db,
        w,
        "activity_participation",
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
        closes_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    assert result.run_id is not None
    conversation = Conversation(REGISTRY, tz=TZ)
    async with db.session() as s:
        a1 = await actor_of(s, w, "a1")
        started = await conversation.open(s, actor=a1, run_id=result.run_id, key=None)
        c1 = await actor_of(s, w, "c1")  # outside the audience
        outsider = await conversation.open(s, actor=c1, run_id=result.run_id, key=None)
    assert started.kind == ScreenKind.QUESTION and outsider.kind == ScreenKind.STALE
    async with db.session() as s:  # the deadline passes before a1 comes back
        run = await s.get(SurveyRun, result.run_id)
        assert run is not None
        run.closes_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with db.session() as s:
        a1 = await actor_of(s, w, "a1")
        late = await conversation.answer_text(s, actor=a1, text="có")
        assert late.kind == ScreenKind.QUESTION  # still answering; the submit is what counts
        a2 = await actor_of(s, w, "a2")
        reopened = await conversation.open(s, actor=a2, run_id=result.run_id, key=None)
    assert reopened.kind == ScreenKind.CLOSED


# --------------------------------------------------------------------------- recurring


async def test_a_monthly_campaign_runs_once_per_period(db: Database) -> None:
    w = await build(db)
    first = await launch(
        db,
        w,
        "activity_participation",
        now=local(2026, 11, 1, 8),
        opens_at=local(2026, 11, 1, 8),
        closes_at=local(2026, 11, 10, 17),
        recurrence=Recurrence.MONTHLY,
    )
    assert first.period_label == "2026-11"

    async def roll(at: dt.datetime) -> list[service.Rolled]:
        async with db.session() as s:
            return await service.roll_series(
                s, now=at, registry=REGISTRY, tz=TZ, default_locale=LOCALE
            )

    assert await roll(local(2026, 11, 30, 23)) == []
    december = await roll(local(2026, 12, 1, 8))
    assert [(r.period_label, r.targets) for r in december] == [("2026-12", 8)]
    assert await roll(local(2026, 12, 1, 8, 5)) == []  # no second December run
    # Down from 02/12 to 05/02/2027: January is over; February (01/02–10/02) starts once.
    february = await roll(local(2027, 2, 5, 9))
    assert [r.period_label for r in february] == ["2027-02"]
    async with db.session() as s:
        runs = (await s.execute(select(SurveyRun).order_by(SurveyRun.id))).scalars().all()  # type: ignore[arg-type]
    assert [(r.run_index, r.period_label, r.period_year) for r in runs] == [
        (0, "2026-11", 2026),
        (1, "2026-12", 2026),
        (3, "2027-02", 2027),
    ]
    assert runs[2].opens_at == local(2027, 2, 1, 8).astimezone(dt.UTC)
    assert runs[2].closes_at == local(2027, 2, 10, 17).astimezone(dt.UTC)
    assert {r.series_id for r in runs} == {runs[0].id}


# --------------------------------------------------------------------------- by hand


async def test_reminders_by_hand_at_most_once_a_day_per_person(db: Database) -> None:
    w = await build(db)
    result = await launch(db, w, "activity_participation")
    assert result.run_id is not None
    await complete(db, w, result.run_id, "a1", "A")

    async def remind(at: dt.datetime, by: str = "admin") -> service.ManualReminders:
        async with db.session() as s:
            actor = await actor_of(s, w, by)
            return await service.remind_by_hand(
                s, actor=actor, run_id=result.run_id or 0, now=at, tz=TZ, default_locale=LOCALE
            )

    # a1 has answered; of the 7 others, a3 has never linked a chat
    first = await remind(local(2026, 11, 3, 10))
    assert (first.outcome, first.count, first.unreachable, first.at) == (
        service.ManualOutcome.SENT,
        6,
        1,
        None,
    )
    assert (await remind(local(2026, 11, 3, 20, 59))).outcome == service.ManualOutcome.NOBODY
    late = await remind(local(2026, 11, 4, 22))  # the next day, in quiet hours
    assert (late.outcome, late.count, late.unreachable, late.at) == (
        service.ManualOutcome.SENT,
        6,
        1,
        local(2026, 11, 5, 7),
    )
    reminders = await outbox(db, w, DeliveryKind.REMINDER)
    assert reminders[("a3", "unreachable")] == 2 and ("a1", "queued") not in reminders
    assert reminders[("b1", "queued")] == 2
    # an officer of another unit's scope cannot see (nor remind about) the district campaign
    assert (
        await remind(local(2026, 11, 5, 10), by="oa")
    ).outcome == service.ManualOutcome.NOT_FOUND
    # manual reminders do not use up the automatic ones
    async with db.session() as s:
        stats = await service.reminder_pass(
            s, now=local(2026, 11, 9, 17), tz=TZ, default_locale=LOCALE
        )
    assert stats.reminders == 7


# --------------------------------------------------------------------------- the scheduler


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def test_restart_after_a_day_down_sends_each_missed_reminder_once(db: Database) -> None:
    w = await build(db)
    await launch(db, w, "activity_participation")
    clock = Clock(local(2026, 11, 9, 16))
    scheduler = Scheduler(
        db, REGISTRY, SchedulerSettings(tz=TZ, default_locale=LOCALE), clock=clock
    )
    try:
        first = await scheduler.tick()
        assert first is not None and first.reminders.reminders == 0
    finally:
        await scheduler.stop()
    # The process is stopped from 09/11 16:00 until 11/11 18:00: two planned moments missed.
    clock.now = local(2026, 11, 11, 18)
    restarted = Scheduler(
        db, REGISTRY, SchedulerSettings(tz=TZ, default_locale=LOCALE), clock=clock
    )
    try:
        ticks = [await restarted.tick() for _ in range(3)]
        assert [t.reminders.reminders for t in ticks if t] == [8, 0, 0]
        clock.now = local(2026, 11, 12, 17)  # closing time: the run closes, nothing is sent
        closing = await restarted.tick()
        assert closing is not None
        assert (closing.reminders.runs_closed, closing.reminders.reminders) == (1, 0)
    finally:
        await restarted.stop()
    per_person = Counter(k for k, _ in (await outbox(db, w, DeliveryKind.REMINDER)).elements())
    assert set(per_person.values()) == {1} and len(per_person) == 8


async def test_a_second_scheduler_on_the_same_database_does_not_double_reminders(
    db: Database,
) -> None:
    w = await build(db)
    await launch(db, w, "activity_participation")
    clock = Clock(local(2026, 11, 9, 17))
    other_db = Database(db.url, connect_args=db.connect_args)
    one = Scheduler(db, REGISTRY, SchedulerSettings(tz=TZ, default_locale=LOCALE), clock=clock)
    two = Scheduler(
        other_db, REGISTRY, SchedulerSettings(tz=TZ, default_locale=LOCALE), clock=clock
    )
    try:
        results = await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
        led = [r for r in results if r is not None]
        assert len(led) == 2  # the same scheduler twice; the other was refused both times
        assert sum(r.reminders.reminders for r in led) == 8
        # a separate process cannot take the lock either
        assert _other_process_leads(db) is False
        await one.stop()  # the leader stops: the other takes over at its next tick
        clock.now = local(2026, 11, 11, 17)
        took_over = await two.tick()
        assert took_over is not None and took_over.reminders.reminders == 8
    finally:
        await one.stop()
        await two.stop()
        await other_db.dispose()
    assert sum((await outbox(db, w, DeliveryKind.REMINDER)).values()) == 16


def _other_process_leads(db: Database) -> bool:
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        from storage.db import Database
        from bot.campaigns.scheduler import leadership_for
        async def main():
            db = Database({db.url!r})
            lock = leadership_for(db)
            got = await lock.acquire()
            await lock.release()
            await db.dispose()
            print(got)
        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.strip() == "True"


async def test_apscheduler_ticks_the_passes_on_its_own(sqlite_db: Database) -> None:
    w = await build(sqlite_db)
    await launch(sqlite_db, w, "activity_participation")
    woken = asyncio.Event()
    scheduler = Scheduler(
        sqlite_db,
        REGISTRY,
        SchedulerSettings(interval_seconds=0.05, tz=TZ, default_locale=LOCALE),
        clock=Clock(local(2026, 11, 9, 17)),
        on_written=woken.set,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    try:
        await asyncio.wait_for(woken.wait(), timeout=10)
    finally:
        stop.set()
        await task
    assert sum((await outbox(sqlite_db, w, DeliveryKind.REMINDER)).values()) == 8


# --------------------------------------------------------------------------- notices


async def test_a_scheduled_notice_due_in_quiet_hours_goes_out_at_seven(db: Database) -> None:
    w = await build(db)
    async with db.session() as s:
        admin = await actor_of(s, w, "admin")
        draft = await notices.create_draft(
            s, actor=admin, title="Họp", body="Họp lúc 8 giờ", send_at=local(2026, 11, 2, 23), tz=TZ
        )
        assert draft.id is not None
        confirmed = await notices.confirm(
            s,
            actor=admin,
            notice_id=draft.id,
            now=NOW,
            tz=TZ,
            quiet=QuietHours(),
            default_locale=LOCALE,
        )
    assert confirmed.send_at == local(2026, 11, 3, 7)
    async with db.session() as s:
        times = set((await s.execute(select(Delivery.available_at))).scalars())  # type: ignore[call-overload]
    assert times == {local(2026, 11, 3, 7).astimezone(dt.UTC)}


def test_policy_defaults_come_from_the_settings() -> None:
    from bot.runtime import reminder_policy
    from bot.settings import load_settings

    policy = reminder_policy(load_settings(quiet_hours="22:00-06:30", reminder_max=2))
    assert policy == ReminderPolicy(
        max_per_person=2, quiet=QuietHours(start=dt.time(22, 0), end=dt.time(6, 30))
    )
    with pytest.raises(Exception, match="QUIET_HOURS"):
        load_settings(quiet_hours="late")
