"""Indicator A1: đoàn viên who acknowledged every notice of the year delivered to them.

The fixture is built with the ORM below; every expected figure is a literal worked out by hand
(the comments show the sums).  Runs on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.indicators import (
    CoverageKind,
    Figure,
    IndicatorResult,
    Standing,
    StatsReport,
    TargetKind,
    compute_stats,
    load_catalog,
)
from bot.indicators.terminal import render_stats_terminal
from bot.texts import render
from storage.db import Database
from storage.models import (
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Person,
    Unit,
    UnitKind,
)

CATALOG = load_catalog()
WHEN = dt.datetime(2025, 5, 1, 3, 0, tzinfo=dt.UTC)

SENT = DeliveryStatus.SENT
SENDING = DeliveryStatus.SENDING
QUEUED = DeliveryStatus.QUEUED
FAILED = DeliveryStatus.FAILED
UNREACHABLE = DeliveryStatus.UNREACHABLE
ACK = True


@dataclass
class Province:
    units: dict[str, Unit] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    def uid(self, key: str) -> int:
        unit_id = self.units[key].id
        assert unit_id is not None
        return unit_id


async def _unit(
    s: AsyncSession, p: Province, key: str, kind: UnitKind, parent: str | None, public: bool = True
) -> None:
    parent_unit = p.units[parent] if parent else None
    unit = Unit(
        code=key,
        name=f"Đơn vị {key}",
        kind=kind,
        parent_id=parent_unit.id if parent_unit else None,
        is_public=public,
    )
    s.add(unit)
    await s.flush()
    unit.path = f"{parent_unit.path if parent_unit else '/'}{unit.id}/"
    p.units[key] = unit


async def _notice(
    s: AsyncSession,
    p: Province,
    year: int,
    deliveries: dict[str, tuple[DeliveryStatus, bool]],
) -> None:
    notice = Notice(
        scope_unit_id=p.uid("LD"),
        title=f"Thông báo {year}",
        body="x",
        status=NoticeStatus.QUEUED,
        period_year=year,
    )
    s.add(notice)
    await s.flush()
    for who, (status, acked) in deliveries.items():
        s.add(
            Delivery(
                kind=DeliveryKind.NOTICE,
                notice_id=notice.id,
                person_id=p.people[who].id,
                channel=Channel.TELEGRAM,
                text="x",
                status=status,
                acknowledged_at=WHEN if acked else None,
            )
        )
    await s.flush()


async def build(s: AsyncSession) -> Province:
    """LD (province) → DL (S1 public, S2 non-public), BL (S3, S4 public).

    members: S1 m1 m2 m3 m4 (+ x1 not a member), S2 n1 n2 n3, S3 k1 k2, S4 q1, LD office pv:
    11 đoàn viên.

    2025 notice N1: m1 sent+ack, m2 sent, m3 unreachable, m4 sent+ack, x1 sent+ack, n1 sent+ack,
                    n2 failed, k1 sent+ack, q1 sent+ack, pv queued (not sent yet)
    2025 notice N2: m1 sent+ack, m4 sent, n1 sending but acknowledged, n3 sent+ack,
                    k2 unreachable
    2024 notice N3: m2 sent+ack, k2 sent+ack

    2025 per member (delivered / acknowledged): m1 2/2 ✓, m2 1/0, m3 0, m4 2/1, n1 2/2 ✓,
    n2 0, n3 1/1 ✓, k1 1/1 ✓, k2 0, q1 1/1 ✓, pv 0.
    informed = m1 n1 n3 k1 q1 = 5; reached (≥ 1 delivered) = m1 m2 m4 n1 n3 k1 q1 = 7.
    """
    p = Province()
    await _unit(s, p, "LD", UnitKind.PROVINCE, None)
    await _unit(s, p, "DL", UnitKind.DISTRICT, "LD")
    await _unit(s, p, "BL", UnitKind.DISTRICT, "LD")
    await _unit(s, p, "S1", UnitKind.GRASSROOTS, "DL")
    await _unit(s, p, "S2", UnitKind.GRASSROOTS, "DL", public=False)
    await _unit(s, p, "S3", UnitKind.GRASSROOTS, "BL")
    await _unit(s, p, "S4", UnitKind.GRASSROOTS, "BL")
    for unit, names in {
        "S1": "m1 m2 m3 m4",
        "S2": "n1 n2 n3",
        "S3": "k1 k2",
        "S4": "q1",
        "LD": "pv",
    }.items():
        for name in names.split():
            p.people[name] = Person(full_name=name, unit_id=p.uid(unit))
    p.people["x1"] = Person(full_name="x1", unit_id=p.uid("S1"), is_member=False)
    s.add_all(p.people.values())
    await s.flush()
    await _notice(
        s,
        p,
        2025,
        {
            "m1": (SENT, ACK), "m2": (SENT, False), "m3": (UNREACHABLE, False),
            "m4": (SENT, ACK), "x1": (SENT, ACK), "n1": (SENT, ACK), "n2": (FAILED, False),
            "k1": (SENT, ACK), "q1": (SENT, ACK), "pv": (QUEUED, False),
        },
    )  # fmt: skip
    await _notice(
        s,
        p,
        2025,
        {
            "m1": (SENT, ACK), "m4": (SENT, False), "n1": (SENDING, ACK), "n3": (SENT, ACK),
            "k2": (UNREACHABLE, False),
        },
    )  # fmt: skip
    await _notice(s, p, 2024, {"m2": (SENT, ACK), "k2": (SENT, ACK)})
    return p


@pytest.fixture
async def province(db: Database) -> Province:
    async with db.session() as s:
        return await build(s)


async def _a1(db: Database, p: Province, unit: str, year: int = 2025) -> IndicatorResult:
    async with db.session() as s:
        report = await compute_stats(s, scope_unit_id=p.uid(unit), year=year, catalog=CATALOG)
    return next(r for r in report.rows if r.code == "A1")


def _fig(f: Figure) -> tuple[int, int, bool | None]:
    return f.numerator, f.denominator, f.met


def test_a1_is_computed_in_the_catalog() -> None:
    a1 = CATALOG.get("A1")
    assert a1.computed and a1.source == "notices_ack"
    assert a1.population.value == "members"
    assert "A1" not in [i.code for i in CATALOG.not_computed]


async def test_a1_province(db: Database, province: Province) -> None:
    a1 = await _a1(db, province, "LD")
    assert _fig(a1) == (5, 11, False)  # 45.5% < 100%
    assert a1.target.kind is TargetKind.EXACT
    assert a1.coverage_kind is CoverageKind.RECIPIENTS
    assert (a1.coverage_count, a1.coverage_total, a1.coverage_low) == (7, 11, False)
    assert a1.by_public is not None
    # public: S1 m1..m4, S3 k1 k2, S4 q1, office pv = 8, informed m1 k1 q1 = 3
    assert _fig(a1.by_public["public"]) == (3, 8, False)
    # non-public S2: n1 n3 of 3
    assert _fig(a1.by_public["non_public"]) == (2, 3, False)
    children = {(f"{c.code}*" if c.direct else c.code): _fig(c) for c in a1.by_child}
    # DL: m1 n1 n3 of 7; BL: k1 q1 of 3; the office: pv's notice is still queued, nothing
    # reached them: no figure (not 0%)
    assert children == {"BL": (2, 3, False), "DL": (3, 7, False), "LD*": (0, 1, None)}
    office = next(c for c in a1.by_child if c.direct)
    assert (office.rate, office.standing) == (None, Standing.NO_DATA)
    dl = next(c for c in a1.by_child if c.code == "DL")
    assert (dl.coverage_count, dl.coverage_total) == (5, 7)  # m1 m2 m4 n1 n3


async def test_a1_smaller_scopes_and_years(db: Database, province: Province) -> None:
    p = province
    assert _fig(await _a1(db, p, "S4")) == (1, 1, True)  # q1 acknowledged all: 100%
    s1 = await _a1(db, p, "S1")
    assert _fig(s1) == (1, 4, False)  # m1; x1 is not a member
    assert (s1.coverage_count, s1.coverage_total) == (3, 4)  # m1 m2 m4
    s3 = await _a1(db, p, "S3")
    assert (_fig(s3), s3.coverage_count, s3.coverage_low) == ((1, 2, False), 1, False)
    # 2024: m2 and k2 acknowledged the one notice delivered to them: 2 of 11 reached (18%),
    # too few for a verdict
    old = await _a1(db, p, "LD", 2024)
    assert (_fig(old), old.coverage_count, old.coverage_low) == ((2, 11, None), 2, True)
    assert old.standing is Standing.LOW_COVERAGE
    # a year without notices: nobody reached, no figure (never "0/11 = 0% ❌")
    empty = await _a1(db, p, "LD", 2023)
    assert (_fig(empty), empty.coverage_count, empty.rate) == ((0, 11, None), 0, None)


async def test_a1_query_count_does_not_grow(db: Database, province: Province) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await _a1(db, province, "LD")
        before = len(statements)
        async with db.session() as s:
            for i in range(30):
                s.add(Person(full_name=f"z{i}", unit_id=province.uid("S4")))
        statements.clear()
        a1 = await _a1(db, province, "LD")
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == before
    assert _fig(a1) == (5, 41, None)  # 7 of 41 members reached: no verdict


async def test_a1_in_the_stats_report(db: Database, province: Province) -> None:
    async with db.session() as s:
        report: StatsReport = await compute_stats(
            s, scope_unit_id=province.uid("LD"), year=2025, catalog=CATALOG
        )
    assert [r.code for r in report.rows][:4] == ["A1", "A2a", "A2b", "A3a"]
    text = render("stats.txt", "vi", report=report)
    assert "<b>A1</b> · Đoàn viên, CBNGNLĐ tiếp nhận thông tin" in text
    assert "5/11 = 45,5% · ❌ Chưa đạt" in text
    assert "Công lập: 3/8 = 37,5% ❌ · Ngoài công lập: 2/3 = 66,7% ❌" in text
    assert "Chưa tính trong phiên bản này" not in text  # every indicator is computed
    table = render_stats_terminal(report, "en")
    assert table.row_count > 5
