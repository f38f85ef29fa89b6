"""Lists of people in Vietnamese name order, on SQLite and PostgreSQL alike: who has not
answered a campaign, who has not acknowledged a notice, the digest's names, /pending.

The six people of the school, in Vietnamese order (by given name, then the rest), worked out
by hand: Dương Văn An, Nguyễn Văn An (An: D < N), Bùi Thị Anh, Trần Thị Ánh (An < Anh < Ánh:
letters first, tones second), Lê Thị Ân (a < â), Đỗ Văn Bình.  In code-point order of the full
name (SQLite's, and PostgreSQL's "C"), Bùi, Dương and Lê would come first and Đỗ last; in a
Latin locale, Bùi, Dương and Đỗ.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.digest import _Pending
from bot.services.actors import operator_actor
from bot.services.onboarding import pending_for
from storage import campaigns as campaign_store
from storage import notices as notice_store
from storage.db import Database
from storage.models import (
    Channel,
    ChatIdentity,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    PendingLink,
    Person,
    Role,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
    UnitKind,
)

NOW = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)

# As a roster lists them (by row), and as the bot must show them.
PEOPLE = [
    "Bùi Thị Anh",
    "Lê Thị Ân",
    "Đỗ Văn Bình",
    "Trần Thị Ánh",
    "Nguyễn Văn An",
    "Dương Văn An",
]
IN_ORDER = (
    "Dương Văn An",
    "Nguyễn Văn An",
    "Bùi Thị Anh",
    "Trần Thị Ánh",
    "Lê Thị Ân",
    "Đỗ Văn Bình",
)


@dataclass
class School:
    province: Unit
    school: Unit
    people: dict[str, int] = field(default_factory=dict)


async def _unit(s: AsyncSession, code: str, kind: UnitKind, parent: Unit | None) -> Unit:
    unit = Unit(
        code=code, name=f"Đơn vị {code}", kind=kind, parent_id=parent.id if parent else None
    )
    s.add(unit)
    await s.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await s.flush()
    return unit


async def school(db: Database) -> School:
    async with db.session() as s:
        province = await _unit(s, "P", UnitKind.PROVINCE, None)
        found = School(province, await _unit(s, "S", UnitKind.GRASSROOTS, province))
        for name in PEOPLE:
            assert found.school.id is not None
            person = Person(full_name=name, unit_id=found.school.id)
            s.add(person)
            await s.flush()
            assert person.id is not None
            found.people[name] = person.id
    return found


async def test_who_has_not_answered_a_campaign(db: Database) -> None:
    w = await school(db)
    async with db.session() as s:
        definition = SurveyDefinitionRow(key="doi_song", title="Đời sống", checksum="x", body="{}")
        s.add(definition)
        await s.flush()
        assert definition.id is not None and w.province.id is not None
        run = SurveyRun(definition_id=definition.id, unit_id=w.province.id, period_year=2026)
        s.add(run)
        await s.flush()
        assert run.id is not None and w.school.id is not None
        await campaign_store.insert_targets(
            s,
            run_id=run.id,
            rows=[campaign_store.Target(pid, w.school.id) for pid in w.people.values()],
            now=NOW,
        )
        run_id = run.id
    async with db.session() as s:
        everyone = await campaign_store.pending_by_unit(s, run_id=run_id, per_unit=False)
        capped = await campaign_store.pending_by_unit(
            s, run_id=run_id, per_unit=False, names_per_unit=3
        )
        subtree = await campaign_store.pending_in_subtree(
            s, run_ids=[run_id], path=w.province.path, limit_per_unit=3
        )
    assert [(p.unit_name, p.count, p.names) for p in everyone] == [("Đơn vị S", 6, IN_ORDER)]
    # The cap keeps the first three in that order, not the first three the database returns.
    assert [(p.count, p.names) for p in capped] == [
        (6, ("Dương Văn An", "Nguyễn Văn An", "Bùi Thị Anh"))
    ]
    assert subtree == {w.school.path: ["Dương Văn An", "Nguyễn Văn An", "Bùi Thị Anh"]}


async def test_who_has_not_acknowledged_a_notice(db: Database) -> None:
    w = await school(db)
    async with db.session() as s:
        assert w.province.id is not None
        notice = Notice(
            scope_unit_id=w.province.id,
            title="Thông báo",
            body="…",
            status=NoticeStatus.QUEUED,
            period_year=2026,
        )
        s.add(notice)
        await s.flush()
        assert notice.id is not None
        for pid in w.people.values():
            s.add(Delivery(notice_id=notice.id, person_id=pid, status=DeliveryStatus.SENT))
        notice_id = notice.id
    async with db.session() as s:
        everyone = await notice_store.not_acknowledged(s, notice_id=notice_id)
        capped = await notice_store.not_acknowledged(s, notice_id=notice_id, names_per_unit=2)
    assert [(p.count, p.names) for p in everyone] == [(6, IN_ORDER)]
    assert [(p.count, p.names) for p in capped] == [(6, ("Dương Văn An", "Nguyễn Văn An"))]


def test_the_digest_names_the_first_of_a_whole_subtree() -> None:
    """Each unit's list holds its first names (by name); a district's line names the first of
    all its units together, not unit by unit."""
    pending = _Pending(
        names={
            "/1/2/3/": ["Bùi Thị Anh", "Đỗ Văn Bình"],
            "/1/2/4/": ["Nguyễn Văn An", "Lê Thị Ân"],
            "/1/5/": ["Dương Văn An"],
        },
        counts={"/1/2/3/": 2, "/1/2/4/": 5, "/1/5/": 1},
    )
    assert pending.of("/1/2/", exact=False) == (
        ("Nguyễn Văn An", "Bùi Thị Anh", "Lê Thị Ân", "Đỗ Văn Bình"),
        7,
    )
    assert pending.of("/1/", exact=False)[0][:2] == ("Dương Văn An", "Nguyễn Văn An")


async def test_pending_link_requests_the_oldest_first_by_name(db: Database) -> None:
    """/pending shows the oldest requests (none waits behind newer ones), listed by name."""
    w = await school(db)
    async with db.session() as s:
        assert w.province.id is not None
        s.add(
            Person(
                full_name="Nguyễn Thị Thu Hà",
                phone="+84913620145",
                unit_id=w.province.id,
                role=Role.ADMIN,
                officer_unit_id=w.province.id,
            )
        )
        # Oldest first: Ánh, Bình, Dương Văn An, then two newer ones.
        for minutes, name in enumerate(
            ["Trần Thị Ánh", "Đỗ Văn Bình", "Dương Văn An", "Nguyễn Văn An", "Lê Thị Ân"]
        ):
            chat = ChatIdentity(channel=Channel.TELEGRAM, external_id=str(5000 + minutes))
            s.add(chat)
            await s.flush()
            assert chat.id is not None
            s.add(
                PendingLink(
                    chat_id=chat.id,
                    full_name=name,
                    unit_id=w.school.id,
                    created_at=NOW + dt.timedelta(minutes=minutes),
                )
            )
    async with db.session() as s:
        actor = await operator_actor(s, phone="0913620145")
        assert actor is not None
        every = [item.pending.full_name for item in await pending_for(s, actor=actor)]
        assert every == [
            "Dương Văn An",
            "Nguyễn Văn An",
            "Trần Thị Ánh",
            "Lê Thị Ân",
            "Đỗ Văn Bình",
        ]
        shown = [item.pending.full_name for item in await pending_for(s, actor=actor, limit=3)]
        assert shown == ["Dương Văn An", "Trần Thị Ánh", "Đỗ Văn Bình"]
