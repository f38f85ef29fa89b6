"""Need to know for sensitive cases, as a matrix: five people of the sample province, a case in
a tổ of CĐCS THPT Bùi Thị Xuân (Đà Lạt) not passed up, passed up to the Đà Lạt district union,
or passed up to the province; who sees its details in ``/cases``, who only counts, who nothing;
who may change its status; and the audit rows each of these leaves (one per detailed view, none
for a count).  On SQLite and, when configured, PostgreSQL (the ``db`` fixture).

The people (bot/sample/people.csv):

* member: Phạm Minh Tuấn, Tổ Toán – Tin of Bùi Thị Xuân (no scope: /cases is not his);
* cdcs: Lê Thị Mai Anh, chair of CĐCS Bùi Thị Xuân (office: that CĐCS) — the case's own body;
* other_cdcs: Bùi Thị Lan, chair of CĐCS THCS Nguyễn Du, the same district (office: her unit);
* district: Trần Văn Hùng, officer of the Đà Lạt district union;
* admin: Nguyễn Thị Thu Hà, provincial admin (office: the province).

The fixture's cases: A (the matrix's, Bùi Thị Xuân, tổ Toán – Tin), N (Nguyễn Du), B (THPT Bảo
Lộc, another district).  Counts worked out by hand: Hùng's scope (Đà Lạt) holds A and N, Hà's
all three; Mai Anh's only A, Lan's only N.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from bot.services import alerts, casework
from bot.services.actors import Actor, scope_of
from bot.texts import render
from handlers.officer import _counts_text
from storage import audit, people
from storage import cases as store
from storage.db import Database
from storage.models import (
    AuditAction,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    Role,
    Unit,
    utcnow,
)
from surveys.phone import normalize_phone
from tests.flow import seed_sample

SUBJECT = "Ngô Văn Lâm"
STORY = "Nhập viện cấp cứu sau tai nạn giao thông"

PHONES = {
    "member": "0345271908",
    "cdcs": "0918402367",
    "other_cdcs": "0935274681",
    "district": "0903118274",
    "admin": "0913620145",
}

Sight = Literal["details", "counts", "nothing"]

#: Who sees case A, by where it was passed up to (None: not passed up).
MATRIX: dict[str | None, dict[str, Sight]] = {
    None: {
        "member": "nothing",
        "cdcs": "details",
        "other_cdcs": "nothing",
        "district": "counts",
        "admin": "counts",
    },
    "LD-DL": {
        "member": "nothing",
        "cdcs": "details",
        "other_cdcs": "nothing",
        "district": "details",
        "admin": "counts",
    },
    "LD": {
        "member": "nothing",
        "cdcs": "details",
        "other_cdcs": "nothing",
        "district": "counts",
        "admin": "details",
    },
}

CELLS = [(up, who) for up, row in MATRIX.items() for who in row]


@dataclass
class World:
    db: Database
    a: int  # the matrix's case
    n: int  # Nguyễn Du's
    b: int  # Bảo Lộc's


async def unit_id(session: AsyncSession, code: str) -> int:
    found = (await session.execute(select(col(Unit.id)).where(col(Unit.code) == code))).scalar_one()
    assert found is not None
    return found


async def actor_for(session: AsyncSession, phone: str) -> Actor:
    """The person of ``phone`` as the chat layer loads them (a linked chat)."""
    person = await people.person_by_phone(session, phone=normalize_phone(phone) or phone)
    assert person is not None and person.id is not None
    chat = ChatIdentity(
        channel=Channel.LOCAL, external_id=phone, person_id=person.id, stage=ChatStage.LINKED
    )
    actor = Actor(chat=chat, person=person)
    actor.unit = await people.get_unit(session, unit_id=person.unit_id)
    actor.scope = await scope_of(session, person=person)
    return actor


async def new_case(session: AsyncSession, *, unit_code: str, name: str, text: str) -> int:
    case = await store.create_case(
        session,
        kind=CaseKind.HARDSHIP,
        response_id=None,
        reported_by=None,
        subject_person_id=None,
        subject_name=name,
        subject_member=True,
        unit_id=await unit_id(session, unit_code),
        category="om_dau",
        description=text,
        period_year=2026,
    )
    assert case.id is not None
    return case.id


@pytest.fixture
async def world(db: Database) -> World:
    await seed_sample(db)
    async with db.session(write=True) as session:
        a = await new_case(session, unit_code="BTX-TOAN", name=SUBJECT, text=STORY)
        n = await new_case(session, unit_code="DL-THCS-ND", name="Phan Thanh Sơn", text="Cháy nhà")
        b = await new_case(session, unit_code="BL-THPT-BL", name="Tạ Đức Hiếu", text="Ốm nặng")
    return World(db, a, n, b)


async def pass_up(world: World, to: str | None) -> None:
    if to is None:
        return
    async with world.db.session(write=True) as session:
        case = await session.get(Case, world.a)
        assert case is not None
        case.escalated_at = utcnow()
        case.escalated_to_unit_id = await unit_id(session, to)


async def views(world: World) -> list[tuple[int | None, int | None]]:
    async with world.db.session() as session:
        found = await audit.rows(session, actions=[AuditAction.CASE_VIEWED])
    return [(r.actor_id, r.case_id) for r in found]


async def test_the_sample_people_have_the_roles_the_matrix_assumes(world: World) -> None:
    async with world.db.session() as session:
        roles = {who: (await actor_for(session, phone)).role for who, phone in PHONES.items()}
        lan = await actor_for(session, PHONES["other_cdcs"])
    assert roles == {
        "member": Role.MEMBER,
        "cdcs": Role.OFFICER,
        "other_cdcs": Role.OFFICER,
        "district": Role.OFFICER,
        "admin": Role.ADMIN,
    }
    assert lan.scope is not None and lan.scope.code == "DL-THCS-ND"


@pytest.mark.parametrize(("up", "who"), CELLS)
async def test_cases_shows_details_counts_or_nothing(
    world: World, up: str | None, who: str
) -> None:
    await pass_up(world, up)
    expected = MATRIX[up][who]
    async with world.db.session(write=True) as session:
        actor = await actor_for(session, PHONES[who])
        view = await casework.open_cases(session, actor=actor, now=utcnow())
        counts_text = _counts_text(view, "vi") if view.counts else ""
    async with world.db.session() as session:
        a = await session.get(Case, world.a)
        assert a is not None
        opened = a.opened_at is not None
    shown = [i.case.id for i in view.items]
    counted = {c.unit.code: dict(c.by_status) for c in view.counts}
    in_counts = counted.get("DL-THPT-BTX") == {CaseStatus.REPORTED: 1}
    assert (world.a in shown, in_counts) == {
        "details": (True, False),
        "counts": (False, True),
        "nothing": (False, False),
    }[expected]
    # a count names nobody and quotes nothing
    assert SUBJECT not in counts_text and STORY not in counts_text
    # one audit row per case shown in detail, the viewer's; none for a count
    actor_id = actor.person.id if actor.person is not None else None
    assert sorted(await views(world)) == sorted((actor_id, c) for c in shown)
    # only a detailed view opens the case (a count leaves the escalation running)
    assert opened == (expected == "details")


@pytest.mark.parametrize(
    ("who", "shown", "counted"),
    [
        ("member", [], {}),
        ("cdcs", ["A"], {}),
        ("other_cdcs", ["N"], {}),
        ("district", [], {"DL-THPT-BTX": 1, "DL-THCS-ND": 1}),
        ("admin", [], {"DL-THPT-BTX": 1, "DL-THCS-ND": 1, "BL-THPT-BL": 1}),
    ],
)
async def test_what_each_one_sees_of_the_whole_province(
    world: World, who: str, shown: list[str], counted: dict[str, int]
) -> None:
    """The three cases, none passed up: each officer's own body's in detail, the rest of their
    scope counted by CĐCS (in tree order), nothing outside it."""
    names = {world.a: "A", world.n: "N", world.b: "B"}
    async with world.db.session(write=True) as session:
        actor = await actor_for(session, PHONES[who])
        view = await casework.open_cases(session, actor=actor, now=utcnow())
    assert [names[i.case.id or 0] for i in view.items] == shown
    assert {c.unit.code: c.total for c in view.counts} == counted
    assert view.counted == sum(counted.values()) and view.urgent_counted == 0


#: Presses of every status button, in this order, by someone who may change the case: what
#: each does (a hardship case: reported → visited → supported → closed).
PRESSES = [
    (CaseStatus.REPORTED, casework.ChangeOutcome.UNCHANGED),
    (CaseStatus.CLOSED, casework.ChangeOutcome.NOT_ALLOWED),
    (CaseStatus.VISITED, casework.ChangeOutcome.CHANGED),
    (CaseStatus.SUPPORTED, casework.ChangeOutcome.CHANGED),
    (CaseStatus.WITHDRAWN, casework.ChangeOutcome.NOT_ALLOWED),
    (CaseStatus.CLOSED, casework.ChangeOutcome.CHANGED),
]


@pytest.mark.parametrize(("up", "who"), CELLS)
async def test_only_who_sees_details_may_change_the_status(
    world: World, up: str | None, who: str
) -> None:
    """Each status button pressed in turn: refused to whoever may not see the details (the
    case untouched, not even opened, no audit row); for the others, each change is recorded
    with from and to, and the refreshed card they are shown is a view."""
    await pass_up(world, up)
    may = MATRIX[up][who] == "details"
    outcomes = []
    for status, _ in PRESSES:
        async with world.db.session(write=True) as session:
            actor = await actor_for(session, PHONES[who])
            outcome, item = await casework.change_case(
                session, actor=actor, case_id=world.a, status=status
            )
            outcomes.append(outcome)
            assert (item is None) == (outcome == casework.ChangeOutcome.FORBIDDEN)
    async with world.db.session() as session:
        case = await session.get(Case, world.a)
        assert case is not None
        trail = await audit.rows(
            session, actions=[AuditAction.CASE_STATUS, AuditAction.CASE_VIEWED]
        )
    if not may:
        assert outcomes == [casework.ChangeOutcome.FORBIDDEN] * len(PRESSES)
        assert case.status == CaseStatus.REPORTED and case.opened_at is None
        assert trail == []
        return
    assert outcomes == [outcome for _, outcome in PRESSES]
    assert case.status == CaseStatus.CLOSED and case.opened_at is not None
    me = actor.person.id if actor.person is not None else None
    changes = [("reported", "visited"), ("visited", "supported"), ("supported", "closed")]
    assert [(r.action, r.actor_id, r.case_id, r.detail) for r in trail] == [
        row
        for old, new in changes
        for row in (
            (AuditAction.CASE_STATUS, me, world.a, {"from": old, "to": new}),
            (AuditAction.CASE_VIEWED, me, world.a, {}),  # the refreshed card
        )
    ]


async def test_a_case_of_a_tổ_officer_is_counted_only(world: World) -> None:
    """An officer whose office is a tổ (a tổ has no officers of its own: its CĐCS's answer
    for it) sees the tổ's cases as counts, never in detail."""
    async with world.db.session(write=True) as session:
        nhung = await people.person_by_phone(
            session, phone=normalize_phone("0387556120") or ""
        )  # tổ Toán – Tin
        assert nhung is not None
        nhung.role = Role.OFFICER
        nhung.officer_unit_id = await unit_id(session, "BTX-TOAN")
    async with world.db.session(write=True) as session:
        actor = await actor_for(session, "0387556120")
        view = await casework.open_cases(session, actor=actor, now=utcnow())
        outcome, _ = await casework.change_case(
            session, actor=actor, case_id=world.a, status=CaseStatus.VISITED
        )
    assert view.items == [] and {c.unit.code: c.total for c in view.counts} == {"DL-THPT-BTX": 1}
    assert outcome == casework.ChangeOutcome.FORBIDDEN
    assert await views(world) == []


async def test_the_alerts_name_nobody_and_record_where_the_case_went(world: World) -> None:
    """An urgent case at a school with nobody on the bot goes up to the district at once; one
    nobody opened goes up after the delay.  Neither alert names the subject or quotes the
    report (the details are in /cases, where each view is audited), and each records the body
    it went to, whose officers may then see the case."""
    async with world.db.session(write=True) as session:
        for phone in (PHONES["district"], PHONES["cdcs"], PHONES["admin"]):
            person = await people.person_by_phone(session, phone=normalize_phone(phone) or phone)
            assert person is not None and person.id is not None
            session.add(
                ChatIdentity(
                    channel=Channel.TELEGRAM,
                    external_id=phone,
                    person_id=person.id,
                    stage=ChatStage.LINKED,
                )
            )
    tz = dt.UTC
    after = dt.timedelta(hours=4)
    async with world.db.session(write=True) as session:
        # Nguyễn Du has nobody on the bot (Lan is not linked): Đà Lạt hears at once.
        nd = await session.get(Unit, await unit_id(session, "DL-THCS-ND"))
        assert nd is not None
        case = await session.get(Case, world.n)
        assert case is not None
        case.urgent = True
        sent = await alerts.alert_urgent(session, case=case, unit=nd, tz=tz, escalate_after=after)
        assert sent == 1
        assert case.escalated_at is not None
        assert case.escalated_to_unit_id == await unit_id(session, "LD-DL")
        # Bùi Thị Xuân has Mai Anh: she is alerted, and nobody above until the delay is over.
        toan = await session.get(Unit, await unit_id(session, "BTX-TOAN"))
        assert toan is not None
        a = await session.get(Case, world.a)
        assert a is not None
        a.urgent = True
        assert await alerts.alert_urgent(session, case=a, unit=toan, tz=tz, escalate_after=after)
        assert a.escalated_at is None and a.escalated_to_unit_id is None
    async with world.db.session(write=True) as session:
        a = await session.get(Case, world.a)
        assert a is not None
        done = await alerts.escalation_pass(
            session, now=a.created_at + after + dt.timedelta(minutes=1), escalate_after=after, tz=tz
        )
        assert done == 1
        assert a.escalated_to_unit_id == await unit_id(session, "LD-DL")
    async with world.db.session() as session:
        texts = list((await session.execute(select(col(Delivery.text)))).scalars())
    assert len(texts) == 3
    for text in texts:
        for secret in (SUBJECT, STORY, "Phan Thanh Sơn", "Cháy nhà"):
            assert secret not in text
    assert await views(world) == []  # an alert is not a view of the details
    # Passed up to Đà Lạt: Hùng now sees both in detail (urgent first, then the newest).
    async with world.db.session(write=True) as session:
        hung = await actor_for(session, PHONES["district"])
        view = await casework.open_cases(session, actor=hung, now=utcnow())
    assert sorted(i.case.id or 0 for i in view.items) == sorted([world.a, world.n])
    assert view.counts == []
    assert hung.person is not None
    assert sorted(await views(world)) == sorted(
        [(hung.person.id, world.a), (hung.person.id, world.n)]
    )


def test_the_counts_template_names_its_rows() -> None:
    """A sanity check of the count message's shape (the values are the caller's)."""
    text = render(
        "officer/cases_counts.txt",
        "vi",
        rows=[
            {
                "unit": "CĐCS Trường THPT Bùi Thị Xuân",
                "total": 3,
                "urgent": 1,
                "statuses": [
                    {"label": "🆕 Mới báo cáo", "n": 2},
                    {"label": "🏠 Đã thăm hỏi", "n": 1},
                ],
            }
        ],
        total=3,
        urgent=1,
        others=False,
    )
    assert (
        "• CĐCS Trường THPT Bùi Thị Xuân: 3 đang mở — 🆕 Mới báo cáo: 2; 🏠 Đã thăm hỏi: 1; "
        "🚨 khẩn cấp: 1"
    ) in text
    assert "Trong đó 🚨 1 trường hợp khẩn cấp." in text


async def test_a_case_passed_up_to_nobody_is_still_counted(world: World) -> None:
    """An urgent case whose escalation found nobody above to write to keeps ``escalated_at``
    with no body: it stays its CĐCS's in detail, and every officer above still counts it
    (the counts are true: a case nobody may read in detail is not a case that does not exist)."""
    async with world.db.session(write=True) as session:
        case = await session.get(Case, world.a)
        assert case is not None
        case.escalated_at = utcnow()
        assert case.escalated_to_unit_id is None
    seen: dict[str, tuple[list[int], dict[str, int]]] = {}
    for who in ("cdcs", "district", "admin"):
        async with world.db.session(write=True) as session:
            actor = await actor_for(session, PHONES[who])
            view = await casework.open_cases(session, actor=actor, now=utcnow())
        seen[who] = (
            [i.case.id or 0 for i in view.items],
            {c.unit.code: c.total for c in view.counts},
        )
    assert seen == {
        "cdcs": ([world.a], {}),
        "district": ([], {"DL-THPT-BTX": 1, "DL-THCS-ND": 1}),
        "admin": ([], {"DL-THPT-BTX": 1, "DL-THCS-ND": 1, "BL-THPT-BL": 1}),
    }


async def test_the_cases_beyond_those_shown_are_counted_not_dropped(world: World) -> None:
    """Only the first cases are shown in detail (urgent first, then the newest); how many more
    the officer may see is said, so that nothing silently goes missing.  Only the shown ones
    are views in the trail."""
    async with world.db.session(write=True) as session:
        second = await new_case(session, unit_code="DL-THPT-BTX", name="Đỗ Văn Hải", text="Ốm")
    found: list[tuple[list[int], int, int]] = []
    for limit in (1, 2, 3):
        async with world.db.session(write=True) as session:
            actor = await actor_for(session, PHONES["cdcs"])
            view = await casework.open_cases(session, actor=actor, now=utcnow(), limit=limit)
        found.append(([i.case.id or 0 for i in view.items], view.more, view.counted))
    assert found == [([second], 1, 0), ([second, world.a], 0, 0), ([second, world.a], 0, 0)]
    assert [case for _, case in await views(world)] == [second, second, world.a, second, world.a]
    more = render("officer/cases_more.txt", "vi", n=1)
    assert more.startswith("… và 1 trường hợp khác thầy/cô xem được chưa hiện ở đây")


async def test_two_officers_pressing_at_once_make_one_move(world: World) -> None:
    """Mai Anh's card was read as "reported" just before Hùng (the case was passed up to him)
    marked it visited: her press "visited" is no second move, her "withdrawn" is refused (no
    move from where he left it), and the history and the trail hold his change only."""
    await pass_up(world, "LD-DL")
    outcomes: list[casework.ChangeOutcome] = []
    for status in (CaseStatus.VISITED, CaseStatus.WITHDRAWN):
        async with world.db.session() as mine:  # her press, the case read before his
            mai_anh = await actor_for(mine, PHONES["cdcs"])
            card = await mine.get(Case, world.a)
            assert card is not None
            set_committed_value(card, "status", CaseStatus.REPORTED)
            if not outcomes:
                async with world.db.session(write=True) as his:
                    hung = await actor_for(his, PHONES["district"])
                    first, _ = await casework.change_case(
                        his, actor=hung, case_id=world.a, status=CaseStatus.VISITED
                    )
                outcomes.append(first)
            late, item = await casework.change_case(
                mine, actor=mai_anh, case_id=world.a, status=status
            )
            outcomes.append(late)
            assert item is not None and item.history == () and item.reporter is None
    assert outcomes == [
        casework.ChangeOutcome.CHANGED,
        casework.ChangeOutcome.UNCHANGED,
        casework.ChangeOutcome.NOT_ALLOWED,
    ]
    async with world.db.session() as session:
        case = await session.get(Case, world.a)
        assert case is not None and case.status == CaseStatus.VISITED
        trail = await audit.rows(session, actions=[AuditAction.CASE_STATUS])
        history = await session.execute(
            select(col(CaseEvent.to_status)).where(col(CaseEvent.case_id) == world.a)
        )
        steps = [CaseStatus(h) for h in history.scalars()]
    hung_id = hung.person.id if hung.person is not None else None
    assert [(r.actor_id, r.detail) for r in trail] == [
        (hung_id, {"from": "reported", "to": "visited"})
    ]
    assert steps == [CaseStatus.REPORTED, CaseStatus.VISITED]
