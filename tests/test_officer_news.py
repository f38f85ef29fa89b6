"""New work reaches the officers who must do it in one message at most every few hours
(bot.services.news), on a real database with a controlled clock.

The fixture (by hand): province P (admin pa) → district D (officer od) → CĐCS A (officer oa)
and CĐCS B (nobody to write to: its work goes to D's officer).  Everyone named is linked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import col

from bot.campaigns.schedule import QuietHours
from bot.services.news import NewsPolicy, news_pass
from storage.db import Database
from storage.models import (
    Case,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    PendingLink,
    Person,
    Role,
    Unit,
    UnitKind,
)

TZ = dt.timezone(dt.timedelta(hours=7))
POLICY = NewsPolicy(every=dt.timedelta(hours=3), quiet=QuietHours())  # 21:00–07:00


def local(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=TZ)


@dataclass
class World:
    units: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)


async def build(db: Database) -> World:
    w = World()
    async with db.session() as s:
        for code, kind, parent in (
            ("P", UnitKind.PROVINCE, None),
            ("D", UnitKind.DISTRICT, "P"),
            ("A", UnitKind.GRASSROOTS, "D"),
            ("B", UnitKind.GRASSROOTS, "D"),
        ):
            above = await s.get(Unit, w.units[parent]) if parent else None
            unit = Unit(
                code=code, name=f"Đơn vị {code}", kind=kind, parent_id=above.id if above else None
            )
            s.add(unit)
            await s.flush()
            unit.path = f"{above.path if above else '/'}{unit.id}/"
            w.units[code] = unit.id or 0
        for key, unit_code, role in (
            ("pa", "P", Role.ADMIN),
            ("od", "D", Role.OFFICER),
            ("oa", "A", Role.OFFICER),
            ("b1", "B", Role.MEMBER),
        ):
            person = Person(
                full_name=key.upper(),
                unit_id=w.units[unit_code],
                role=role,
                officer_unit_id=w.units[unit_code] if role != Role.MEMBER else None,
            )
            s.add(person)
            await s.flush()
            w.people[key] = person.id or 0
            s.add(
                ChatIdentity(
                    channel=Channel.TELEGRAM,
                    external_id=f"tg-{key}",
                    person_id=person.id,
                    stage=ChatStage.LINKED,
                    locale="vi",
                )
            )
    return w


async def add_case(
    db: Database,
    w: World,
    unit: str,
    at: dt.datetime,
    *,
    urgent: bool = False,
    opened: bool = False,
) -> None:
    async with db.session() as s:
        s.add(
            Case(
                subject_name="Nguyễn Văn X",
                unit_id=w.units[unit],
                period_year=2026,
                urgent=urgent,
                opened_at=at if opened else None,
                created_at=at.astimezone(dt.UTC),
            )
        )


async def add_link_request(db: Database, key: str, unit_id: int | None, at: dt.datetime) -> None:
    async with db.session() as s:
        chat = ChatIdentity(channel=Channel.TELEGRAM, external_id=f"new-{key}")
        s.add(chat)
        await s.flush()
        s.add(
            PendingLink(
                chat_id=chat.id or 0,
                full_name=key,
                unit_id=unit_id,
                created_at=at.astimezone(dt.UTC),
            )
        )


async def run(db: Database, at: dt.datetime) -> int:
    async with db.session() as s:
        return await news_pass(s, now=at.astimezone(dt.UTC), policy=POLICY, tz=TZ)


async def messages(db: Database, w: World) -> list[tuple[str, str]]:
    """(who, text) of every announcement written, in order."""
    names = {v: k for k, v in w.people.items()}
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Delivery)
                .where(col(Delivery.kind) == DeliveryKind.MESSAGE)
                .order_by(col(Delivery.id))
            )
        ).scalars()
        return [(names[d.person_id or 0], d.text) for d in rows]


async def test_new_work_is_announced_once_in_a_batch_to_those_who_must_do_it(
    db: Database,
) -> None:
    w = await build(db)
    await add_case(db, w, "A", local(2, 8))
    await add_case(db, w, "A", local(2, 8))
    await add_case(db, w, "A", local(2, 8), urgent=True)  # alerted at once, not here
    await add_case(db, w, "A", local(2, 8), opened=True)  # an officer has seen it
    await add_case(db, w, "B", local(2, 8))  # B has nobody: D's officer
    await add_link_request(db, "l1", w.units["A"], local(2, 8))
    await add_link_request(db, "l2", None, local(2, 8))  # no unit: the province

    assert await run(db, local(2, 9)) == 3
    assert await messages(db, w) == [
        (
            "pa",
            "🗂 <b>Việc mới cần thầy/cô xử lý</b>\n"
            "• 1 người mới xin liên kết, 1 người đang chờ xác nhận: gõ /pending.",
        ),
        (
            "od",
            "🗂 <b>Việc mới cần thầy/cô xử lý</b>\n"
            "• 1 trường hợp mới báo cáo, 1 trường hợp đang chờ thầy/cô xem: gõ /cases.",
        ),
        (
            "oa",
            "🗂 <b>Việc mới cần thầy/cô xử lý</b>\n"
            "• 2 trường hợp mới báo cáo, 2 trường hợp đang chờ thầy/cô xem: gõ /cases.\n"
            "• 1 người mới xin liên kết, 1 người đang chờ xác nhận: gõ /pending.",
        ),
    ]
    assert await run(db, local(2, 9)) == 0  # the same moment again: nobody told twice

    # A case an hour later waits: oa was told less than 3 hours ago.
    await add_case(db, w, "A", local(2, 10))
    assert await run(db, local(2, 11)) == 0
    assert await run(db, local(2, 12)) == 1  # 3 hours after the last one
    assert (await messages(db, w))[-1] == (
        "oa",
        "🗂 <b>Việc mới cần thầy/cô xử lý</b>\n"
        "• 1 trường hợp mới báo cáo, 3 trường hợp đang chờ thầy/cô xem: gõ /cases.",
    )
    assert await run(db, local(2, 18)) == 0  # nothing new

    # Reported in the evening: not at 22:00 (quiet hours), but at 07:00 the next morning.
    await add_case(db, w, "A", local(2, 20))
    assert await run(db, local(2, 22)) == 0
    assert await run(db, local(3, 6)) == 0
    assert await run(db, local(3, 7)) == 1
    assert (await messages(db, w))[-1][1].endswith(
        "• 1 trường hợp mới báo cáo, 4 trường hợp đang chờ thầy/cô xem: gõ /cases."
    )
    assert len(await messages(db, w)) == 5
