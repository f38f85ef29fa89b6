"""Notices: audiences, drafts, preview, confirmation into the outbox, counts, acknowledgements,
cancellation and scheduled sends.

The fixture province is built with the ORM below; every expected set and count is a literal
worked out by hand from it.  The database tests run on SQLite and, when TEST_POSTGRES_URL is
set, on PostgreSQL too (the ``db`` fixture of conftest).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.notices.audience import Audience, AudienceError, AudienceSpec, parse_audience
from bot.notices.service import (
    AckOutcome,
    Attachment,
    CancelOutcome,
    ConfirmOutcome,
    NoticeError,
    acknowledge,
    cancel,
    confirm,
    create_draft,
    detail,
    list_for,
    member_message,
    preview,
    resolve_audience,
    update_draft,
)
from bot.services.actors import Actor
from storage import notices as store
from storage.db import Database
from storage.models import (
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Person,
    Role,
    Unit,
    UnitKind,
)

TZ = dt.timezone(dt.timedelta(hours=7))  # Asia/Ho_Chi_Minh has no DST: the same offsets
LOCALE = "vi"
NOW = dt.datetime(2026, 3, 8, 2, 30, tzinfo=dt.UTC)  # 09:30 in Vietnam
FOOTER = "<i>Thầy/cô bấm «Đã nắm» bên dưới để xác nhận đã nhận được thông tin.</i>"

# --------------------------------------------------------------------------- the fixture


def _utc(value: dt.datetime) -> dt.datetime:
    """A stored time (SQLite gives it back naive, in UTC) as an aware UTC datetime."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass
class Province:
    units: dict[str, Unit] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    chats: dict[str, ChatIdentity] = field(default_factory=dict)

    def uid(self, key: str) -> int:
        unit_id = self.units[key].id
        assert unit_id is not None
        return unit_id

    def pid(self, key: str) -> int:
        person_id = self.people[key].id
        assert person_id is not None
        return person_id

    def names(self, ids: set[int] | list[int]) -> set[str]:
        by_id = {p.id: k for k, p in self.people.items()}
        return {by_id[i] for i in ids}

    def actor(self, key: str, scope: str | None = None) -> Actor:
        person = self.people[key]
        unit = next(u for u in self.units.values() if u.id == person.unit_id)
        return Actor(
            chat=self.chats[key],
            person=person,
            unit=unit,
            scope=self.units[scope] if scope else None,
        )


async def _unit(
    s: AsyncSession,
    p: Province,
    key: str,
    name: str,
    kind: UnitKind,
    parent: str | None,
    *,
    public: bool = True,
) -> None:
    parent_unit = p.units[parent] if parent else None
    unit = Unit(
        code=key,
        name=name,
        kind=kind,
        parent_id=parent_unit.id if parent_unit else None,
        is_public=public,
    )
    s.add(unit)
    await s.flush()
    unit.path = f"{parent_unit.path if parent_unit else '/'}{unit.id}/"
    p.units[key] = unit


async def _person(
    s: AsyncSession,
    p: Province,
    key: str,
    unit: str,
    *,
    name: str | None = None,
    member: bool = True,
    tags: str = "",
    chat: str = "ok",
    role: Role = Role.MEMBER,
    officer_of: str | None = None,
) -> None:
    """A person and their chat: ok, stopped, blocked, pending (not linked), local (linked on
    the local channel only), twice (a Telegram chat, then a newer one on Zalo) or none."""
    person = Person(
        full_name=name or key,
        unit_id=p.uid(unit),
        is_member=member,
        tags=tags,
        role=role,
        officer_unit_id=p.uid(officer_of) if officer_of else None,
    )
    s.add(person)
    await s.flush()
    p.people[key] = person
    if chat == "none":
        return
    chats = [ChatIdentity(channel=Channel.TELEGRAM, external_id=f"tg-{key}")]
    if chat == "local":
        chats = [ChatIdentity(channel=Channel.LOCAL, external_id=f"local-{key}")]
    if chat == "twice":
        chats.append(ChatIdentity(channel=Channel.ZALO, external_id=f"zalo-{key}"))
    for c in chats:
        c.person_id = person.id
        c.stage = ChatStage.PENDING if chat == "pending" else ChatStage.LINKED
        c.stopped = chat == "stopped"
        c.unreachable_at = NOW - dt.timedelta(days=3) if chat == "blocked" else None
        c.unreachable_reason = "blocked" if chat == "blocked" else None
        s.add(c)
    await s.flush()
    p.chats[key] = chats[-1]


async def build_province(s: AsyncSession) -> Province:
    """province LD → districts DL, BL.

    unit  kind        public  people
    LD    province    yes     pv (admin)
    DL    district    yes     —
    S1    CĐCS (DL)   yes     o1 (officer of DL), a1 "gvcn", a2 "gvcn, tổ trưởng" stopped,
                              a3 non-member
    T1    tổ (S1)     no*     t1 "GVCN", named «Trần <Tý> & Tèo»
    S2    CĐCS (DL)   no      b1 blocked, b2 non-member "gvcn" never linked
    T2    tổ (S2)     yes*    t2
    BL    district    yes     blo (on the district office)
    S3    CĐCS (BL)   yes     c1 pending (not linked), c2 "gvcnx" on Telegram, then Zalo,
                              d1 linked on the local channel only, o2 (officer of S3)
    (*) a tổ counts as its CĐCS: T1 is public, T2 non-public, whatever their own flag.
    """
    p = Province()
    await _unit(s, p, "LD", "Công đoàn Giáo dục tỉnh Lâm Đồng", UnitKind.PROVINCE, None)
    await _unit(s, p, "DL", "Công đoàn Giáo dục Đà Lạt", UnitKind.DISTRICT, "LD")
    await _unit(s, p, "BL", "Công đoàn Giáo dục Bảo Lộc", UnitKind.DISTRICT, "LD")
    await _unit(s, p, "S1", "THPT Bùi Thị Xuân", UnitKind.GRASSROOTS, "DL")
    await _unit(s, p, "T1", "Tổ Toán", UnitKind.GROUP, "S1", public=False)
    await _unit(s, p, "S2", "Trường Quốc tế Hoa Sen & Co", UnitKind.GRASSROOTS, "DL", public=False)
    await _unit(s, p, "T2", "Tổ Văn", UnitKind.GROUP, "S2")
    await _unit(s, p, "S3", "THCS Lê Lợi", UnitKind.GRASSROOTS, "BL")
    await _person(s, p, "pv", "LD", role=Role.ADMIN, officer_of="LD")
    await _person(s, p, "o1", "S1", role=Role.OFFICER, officer_of="DL")
    await _person(s, p, "a1", "S1", tags="gvcn")
    await _person(s, p, "a2", "S1", tags="gvcn, tổ trưởng", chat="stopped")
    await _person(s, p, "a3", "S1", member=False)
    await _person(s, p, "t1", "T1", name="Trần <Tý> & Tèo", tags="GVCN")
    await _person(s, p, "b1", "S2", chat="blocked")
    await _person(s, p, "b2", "S2", member=False, tags="gvcn", chat="none")
    await _person(s, p, "t2", "T2")
    await _person(s, p, "blo", "BL")
    await _person(s, p, "c1", "S3", chat="pending")
    await _person(s, p, "c2", "S3", tags="gvcnx", chat="twice")
    await _person(s, p, "d1", "S3", chat="local")
    await _person(s, p, "o2", "S3", role=Role.OFFICER, officer_of="S3")
    return p


@pytest.fixture
async def province(db: Database) -> Province:
    async with db.session() as s:
        return await build_province(s)


async def _recipients(
    db: Database, p: Province, units: list[str], **kw: Any
) -> dict[str, str | None]:
    """name → reason it cannot be written to (None: reachable)."""
    audience = store.AudienceFilter(paths=tuple(p.units[u].path for u in units), **kw)
    async with db.session() as s:
        found = await store.audience_recipients(s, audience=audience)
        counts = await store.audience_counts(s, audience=audience)
    by_id = {person.id: key for key, person in p.people.items()}
    result = {by_id[r.person_id]: r.reason for r in found}
    assert len(result) == len(found)  # one row per person, whatever their chats
    reasons = list(result.values())
    assert counts == store.AudienceCounts(
        reachable=reasons.count(None),
        never_linked=reasons.count("never_linked"),
        stopped=reasons.count("stopped"),
        blocked=reasons.count("blocked"),
    )
    return result


# --------------------------------------------------------------------------- the audience text


def test_parse_audience() -> None:
    spec = parse_audience("unit=DL-THPT-BTX,unit=LD-BL; public ;members;tag=gvcn")
    assert spec == AudienceSpec(("DL-THPT-BTX", "LD-BL"), True, True, "gvcn")
    assert parse_audience("") == AudienceSpec()
    assert parse_audience("all") == AudienceSpec()
    assert parse_audience("NonPublic") == AudienceSpec(public=False)
    assert parse_audience("non-public;unit=S1;unit=S1") == AudienceSpec(("S1",), False)
    assert parse_audience("Members, tag = tổ trưởng") == AudienceSpec(
        members_only=True, tag="tổ trưởng"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unit=S1;membres", "unknown audience part 'membres'"),
        ("public;nonpublic", "audience part 'nonpublic': public and nonpublic cannot both"),
        ("unit=", "audience part 'unit=': a unit code is missing"),
        ("tag=", "audience part 'tag=': the tag is missing"),
        ("tag=a;tag=b", "audience part 'tag=b': only one tag may be given"),
        ("school=S1", "unknown audience part 'school=S1'"),
    ],
)
def test_parse_audience_errors_name_the_part(text: str, message: str) -> None:
    with pytest.raises(AudienceError) as caught:
        parse_audience(text)
    assert message in str(caught.value)


def test_audience_json() -> None:
    audience = Audience(unit_ids=(4, 7), public=False, members_only=True, tag="gvcn")
    assert (
        audience.to_json() == '{"members": true, "public": false, "tag": "gvcn", "units": [4, 7]}'
    )
    assert Audience.from_json(audience.to_json()) == audience
    assert Audience.from_json("{}") == Audience() == Audience.from_json("")
    for bad in ('{"units": ["x"]}', '{"public": "yes"}', '{"who": 1}', "[1]", "{"):
        with pytest.raises(AudienceError):
            Audience.from_json(bad)


# --------------------------------------------------------------------------- audience selection


async def test_audience_subtrees(db: Database, province: Province) -> None:
    p = province
    assert await _recipients(db, p, ["DL"]) == {
        "o1": None,
        "a1": None,
        "a2": "stopped",
        "a3": None,
        "t1": None,
        "b1": "blocked",
        "b2": "never_linked",
        "t2": None,
    }
    assert await _recipients(db, p, ["BL"]) == {
        "blo": None,
        "c1": "never_linked",  # a chat waiting for an officer is not linked
        "c2": None,  # two linked chats: one recipient
        "d1": None,  # linked on the local channel only: written to there
        "o2": None,
    }
    # a tổ and its CĐCS together, and a unit inside an already chosen district: no duplicates
    assert set(await _recipients(db, p, ["S1", "T1", "DL", "T2"])) == {
        "o1", "a1", "a2", "a3", "t1", "b1", "b2", "t2",
    }  # fmt: skip
    assert set(await _recipients(db, p, ["T1", "S3"])) == {"t1", "c1", "c2", "d1", "o2"}
    assert len(await _recipients(db, p, ["LD"])) == 14
    assert await _recipients(db, p, []) == {}


async def test_each_recipient_is_written_to_on_the_channel_of_their_newest_chat(
    db: Database, province: Province
) -> None:
    """Whoever writes, from whichever channel: c2 linked Telegram, then Zalo (newest); d1 only
    the local channel; o2 Telegram; c1 has no linked chat, so no channel."""
    p = province
    audience = store.AudienceFilter(paths=(p.units["S3"].path,))
    async with db.session() as s:
        found = await store.audience_recipients(s, audience=audience)
    by_id = {person.id: key for key, person in p.people.items()}
    assert {by_id[r.person_id]: (r.channel, r.external_id) for r in found} == {
        "c1": (None, None),
        "c2": (Channel.ZALO, "zalo-c2"),
        "d1": (Channel.LOCAL, "local-d1"),
        "o2": (Channel.TELEGRAM, "tg-o2"),
    }


async def test_audience_public_is_judged_on_the_cdcs(db: Database, province: Province) -> None:
    p = province
    # T1 (own flag non-public) sits in the public S1; T2 (own flag public) in the non-public S2
    assert set(await _recipients(db, p, ["DL"], public=True)) == {"o1", "a1", "a2", "a3", "t1"}
    assert set(await _recipients(db, p, ["DL"], public=False)) == {"b1", "b2", "t2"}
    # people on the province and district offices are judged by their own unit
    assert set(await _recipients(db, p, ["LD"], public=True)) == {
        "pv", "o1", "a1", "a2", "a3", "t1", "blo", "c1", "c2", "d1", "o2",
    }  # fmt: skip
    assert set(await _recipients(db, p, ["LD"], public=False)) == {"b1", "b2", "t2"}


async def test_audience_members_and_tag(db: Database, province: Province) -> None:
    p = province
    assert set(await _recipients(db, p, ["DL"], members_only=True)) == {
        "o1", "a1", "a2", "t1", "b1", "t2",
    }  # fmt: skip
    # tags are matched whole and without regard to case: "gvcnx" is another tag
    assert set(await _recipients(db, p, ["LD"], tag="gvcn")) == {"a1", "a2", "t1", "b2"}
    assert set(await _recipients(db, p, ["LD"], tag="tổ trưởng")) == {"a2"}
    assert set(await _recipients(db, p, ["LD"], tag="GVCN", members_only=True)) == {
        "a1", "a2", "t1",
    }  # fmt: skip
    assert await _recipients(db, p, ["DL"], tag="gvcn", public=False, members_only=True) == {}
    assert await _recipients(db, p, ["LD"], tag="%") == {}  # LIKE characters are literal


# --------------------------------------------------------------------------- scope


async def test_audience_must_lie_within_the_scope(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    async with db.session() as s:
        spec = parse_audience("unit=s1;unit=T2;members")
        audience = await resolve_audience(s, actor=officer, spec=spec)
        assert audience == Audience((p.uid("S1"), p.uid("T2")), None, True, None)
        with pytest.raises(AudienceError, match="unit 'S3' is outside your scope") as out:
            await resolve_audience(s, actor=officer, spec=parse_audience("unit=S3"))
        assert (out.value.code, out.value.detail) == ("out_of_scope", "S3")
        with pytest.raises(AudienceError, match="no unit with code 'XX'"):
            await resolve_audience(s, actor=officer, spec=parse_audience("unit=XX"))
        with pytest.raises(AudienceError, match="outside your scope"):
            await create_draft(
                s,
                actor=officer,
                title="T",
                body="B",
                audience=Audience((p.uid("BL"),)),
                now=NOW,
                tz=TZ,
            )
        # an admin reaches everything
        admin = p.actor("pv", "LD")
        assert (await resolve_audience(s, actor=admin, spec=parse_audience("unit=S3"))).unit_ids
        # a member writes no notice
        with pytest.raises(NoticeError) as refused:
            await create_draft(s, actor=p.actor("a1"), title="T", body="B", now=NOW, tz=TZ)
        assert refused.value.code == "forbidden"


# --------------------------------------------------------------------------- confirm


async def _draft(
    db: Database,
    p: Province,
    *,
    officer: str = "o1",
    scope: str = "DL",
    body: str = "Kính gửi {{ ten }} ({{ don_vi }}), năm {{ nam }}.",
    audience: Audience | None = None,
    send_at: dt.datetime | None = None,
    title: str = "Họp <tổ> & sinh hoạt",
) -> int:
    async with db.session() as s:
        notice = await create_draft(
            s,
            actor=p.actor(officer, scope),
            title=title,
            body=body,
            audience=audience,
            send_at=send_at,
            now=NOW,
            tz=TZ,
        )
        assert notice.id is not None
        return notice.id


async def _deliveries(db: Database, p: Province, notice_id: int) -> dict[str, Delivery]:
    async with db.session() as s:
        rows = (
            await s.execute(select(Delivery).where(col(Delivery.notice_id) == notice_id))
        ).scalars()
        by_id = {person.id: key for key, person in p.people.items()}
        return {by_id[d.person_id]: d for d in rows}


async def test_confirm_writes_one_delivery_per_recipient_once(
    db: Database, province: Province
) -> None:
    p = province
    notice_id = await _draft(db, p, audience=Audience(members_only=True))
    async with db.session() as s:
        done = await confirm(
            s, actor=p.actor("o1", "DL"), notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
    assert done.outcome is ConfirmOutcome.QUEUED
    # DL members: o1 a1 t1 t2 reachable; a2 stopped, b1 blocked
    assert (done.queued, done.unreachable, done.send_at) == (4, 2, None)
    rows = await _deliveries(db, p, notice_id)
    assert {k: (d.status, d.error) for k, d in rows.items()} == {
        "o1": (DeliveryStatus.QUEUED, None),
        "a1": (DeliveryStatus.QUEUED, None),
        "t1": (DeliveryStatus.QUEUED, None),
        "t2": (DeliveryStatus.QUEUED, None),
        "a2": (DeliveryStatus.UNREACHABLE, "stopped"),
        "b1": (DeliveryStatus.UNREACHABLE, "blocked"),
    }
    t1 = rows["t1"]
    assert t1.text == (
        "📢 <b>Thông báo: Họp &lt;tổ&gt; &amp; sinh hoạt</b>\n\n"
        "Kính gửi Trần &lt;Tý&gt; &amp; Tèo (Tổ Toán), năm 2026.\n\n" + FOOTER
    )
    assert rows["a1"].text.splitlines()[2] == "Kính gửi a1 (THPT Bùi Thị Xuân), năm 2026."
    assert t1.ack_button and t1.attempts == 0
    assert t1.chat_id == p.chats["t1"].id and t1.external_id == "tg-t1"
    assert t1.channel == Channel.TELEGRAM
    assert {_utc(d.available_at) for d in rows.values()} == {NOW}
    async with db.session() as s:
        notice = await s.get(Notice, notice_id)
        assert notice is not None
        assert (notice.status, notice.period_year) == (NoticeStatus.QUEUED, 2026)

    # confirming again (a double press) writes nothing
    async with db.session() as s:
        again = await confirm(
            s, actor=p.actor("o1", "DL"), notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
    assert again.outcome is ConfirmOutcome.ALREADY
    # and a double enqueue of the same rows is ignored by the unique key
    async with db.session() as s:
        await store.insert_deliveries(
            s,
            rows=[
                store.delivery_row(
                    notice_id=notice_id,
                    person_id=p.pid("a1"),
                    chat_id=None,
                    channel=Channel.TELEGRAM,
                    external_id=None,
                    text="again",
                    status=DeliveryStatus.QUEUED,
                    available_at=NOW,
                    created_at=NOW,
                )
            ],
        )
    rows = await _deliveries(db, p, notice_id)
    assert len(rows) == 6 and rows["a1"].text != "again"


async def test_confirm_is_for_the_author_within_scope(db: Database, province: Province) -> None:
    p = province
    notice_id = await _draft(db, p)
    async with db.session() as s:
        other = await confirm(
            s, actor=p.actor("o2", "S3"), notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
        member = await confirm(
            s, actor=p.actor("a1"), notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
        missing = await confirm(
            s, actor=p.actor("o1", "DL"), notice_id=9999, now=NOW, tz=TZ, default_locale=LOCALE
        )
    assert other.outcome is ConfirmOutcome.FORBIDDEN
    assert member.outcome is ConfirmOutcome.FORBIDDEN
    assert missing.outcome is ConfirmOutcome.NOT_FOUND
    # the officer was moved to S3 since writing: the DL audience is out of their scope now
    async with db.session() as s:
        moved = await confirm(
            s, actor=p.actor("o1", "S3"), notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
    assert moved.outcome is ConfirmOutcome.FORBIDDEN
    assert await _deliveries(db, p, notice_id) == {}


async def test_confirm_refuses_invalid_or_empty_notices(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    bad_html = await _draft(db, p, body="Xin chào <b><i>{{ ten }}</b></i>")
    bad_template = await _draft(db, p, body="{{ ten.__class__ }}")
    nobody = await _draft(db, p, audience=Audience(tag="không ai"))
    async with db.session() as s:
        html = await confirm(
            s, actor=officer, notice_id=bad_html, now=NOW, tz=TZ, default_locale=LOCALE
        )
        template = await confirm(
            s, actor=officer, notice_id=bad_template, now=NOW, tz=TZ, default_locale=LOCALE
        )
        empty = await confirm(
            s, actor=officer, notice_id=nobody, now=NOW, tz=TZ, default_locale=LOCALE
        )
    assert html.outcome is ConfirmOutcome.INVALID
    assert [(x.code, x.detail) for x in html.problems] == [("misnested", "</b>")]
    assert template.outcome is ConfirmOutcome.INVALID
    assert template.error is not None and template.error.code == "forbidden"
    assert empty.outcome is ConfirmOutcome.EMPTY
    async with db.session() as s:
        statuses = (
            await s.execute(
                select(col(Notice.status)).where(
                    col(Notice.id).in_([bad_html, bad_template, nobody])
                )
            )
        ).scalars()
        assert set(statuses) == {NoticeStatus.DRAFT}
        assert (await s.execute(select(Delivery))).first() is None


async def test_confirm_query_count_does_not_grow(db: Database, province: Province) -> None:
    p = province
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def confirmed_statements(audience: Audience) -> int:
        notice_id = await _draft(db, p, officer="pv", scope="LD", audience=audience)
        statements.clear()
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            async with db.session() as s:
                done = await confirm(
                    s,
                    actor=p.actor("pv", "LD"),
                    notice_id=notice_id,
                    now=NOW,
                    tz=TZ,
                    default_locale=LOCALE,
                )
                assert done.outcome is ConfirmOutcome.QUEUED
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        return len(statements)

    small = await confirmed_statements(Audience((p.uid("T1"),)))  # 1 recipient
    async with db.session() as s:
        for i in range(60):
            s.add(Person(full_name=f"n{i}", unit_id=p.uid("T2")))
    large = await confirmed_statements(Audience((p.uid("LD"),)))  # 14 + 60 recipients
    assert small == large


# --------------------------------------------------------------------------- preview


async def test_preview(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    notice_id = await _draft(db, p, audience=Audience((p.uid("S1"), p.uid("S2")), tag="gvcn"))
    async with db.session() as s:
        notice = await s.get(Notice, notice_id)
        assert notice is not None
        shown = await preview(s, actor=officer, notice=notice, now=NOW, tz=TZ)
    assert shown.body == "Kính gửi o1 (THPT Bùi Thị Xuân), năm 2026."
    assert shown.message == member_message(
        notice.title, shown.body, locale=LOCALE, channel=Channel.TELEGRAM
    )
    assert shown.error is None and shown.problems == () and shown.ok and not shown.too_long
    # a1 reachable, a2 stopped, t1 reachable, b2 never linked
    assert shown.counts == store.AudienceCounts(reachable=2, never_linked=1, stopped=1, blocked=0)
    assert shown.audience.units == ("THPT Bùi Thị Xuân", "Trường Quốc tế Hoa Sen & Co")
    assert (shown.audience.tag, shown.audience.scope_name) == ("gvcn", "Công đoàn Giáo dục Đà Lạt")
    assert shown.send_at is None and shown.year == 2026

    async with db.session() as s:
        notice = await update_draft(
            s,
            actor=officer,
            notice_id=notice_id,
            body="{% for i in range(5000) %}x{% endfor %}",
            send_at=dt.datetime(2026, 12, 31, 20, 0, tzinfo=dt.UTC),
            attachment=Attachment("photo", "file-1"),
            tz=TZ,
        )
        broken = await preview(s, actor=officer, notice=notice, now=NOW, tz=TZ)
        with pytest.raises(NoticeError) as refused:
            await preview(s, actor=p.actor("o2", "S3"), notice=notice, tz=TZ)
    assert refused.value.code == "forbidden"
    assert broken.error is not None and broken.error.code == "too_many_steps"
    assert not broken.ok and broken.message == ""
    # 20:00 UTC on 31/12 is 03:00 on 1/1 in Vietnam: the notice counts for 2027
    assert broken.send_at is not None
    assert (broken.send_at.utcoffset(), broken.send_at.replace(tzinfo=None)) == (
        dt.timedelta(hours=7),
        dt.datetime(2027, 1, 1, 3, 0),
    )
    assert broken.year == 2027
    assert broken.notice.attachment_kind == "photo"

    async with db.session() as s:
        notice = await update_draft(
            s,
            actor=officer,
            notice_id=notice_id,
            body="<b>" + "đoạn văn. " * 500 + "</b> & co",
            tz=TZ,
        )
        long = await preview(s, actor=officer, notice=notice, now=NOW, tz=TZ)
    assert long.too_long and long.length > 4096
    assert [(x.code, x.line, x.column) for x in long.problems] == [("bare_amp", 1, 5009)]


async def test_drafts_are_checked(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    notice_id = await _draft(db, p)
    async with db.session() as s:
        changes: list[tuple[dict[str, Any], str]] = [
            ({"title": "x" * 256}, "title_too_long"),
            ({"body": "x" * 20_001}, "body_too_long"),
            ({"attachment": Attachment("video", "f")}, "bad_attachment"),
        ]
        for kwargs, code in changes:
            with pytest.raises(NoticeError) as refused:
                await update_draft(s, actor=officer, notice_id=notice_id, tz=TZ, **kwargs)
            assert refused.value.code == code
        with pytest.raises(NoticeError) as refused:
            await update_draft(s, actor=p.actor("pv", "LD"), notice_id=notice_id, title="x", tz=TZ)
        assert refused.value.code == "forbidden"  # only the author edits a draft
    async with db.session() as s:
        await confirm(s, actor=officer, notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE)
    async with db.session() as s:
        with pytest.raises(NoticeError) as refused:
            await update_draft(s, actor=officer, notice_id=notice_id, title="x", tz=TZ)
        assert refused.value.code == "not_draft"


# --------------------------------------------------------------------------- counts, detail


async def _set(db: Database, delivery: Delivery, **values: Any) -> None:
    async with db.session() as s:
        await s.execute(update(Delivery).where(col(Delivery.id) == delivery.id).values(**values))


async def test_counts_and_not_acknowledged_by_unit(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    notice_id = await _draft(db, p)  # the author's scope: DL
    async with db.session() as s:
        done = await confirm(
            s, actor=officer, notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
    # DL: o1 a1 a3 t1 t2 reachable; a2 stopped, b1 blocked, b2 never linked
    assert (done.queued, done.unreachable) == (5, 3)
    rows = await _deliveries(db, p, notice_id)
    # the worker's outcomes: o1 a1 a3 t1 sent, t2 failed; o1 and a1 acknowledge
    for key in ("o1", "a1", "a3", "t1"):
        await _set(db, rows[key], status=DeliveryStatus.SENT, sent_at=NOW)
    await _set(db, rows["t2"], status=DeliveryStatus.FAILED, error="http 400")
    async with db.session() as s:
        for key in ("o1", "a1"):
            ack = await acknowledge(s, actor=p.actor(key), delivery_id=rows[key].id or 0, now=NOW)
            assert ack.outcome is AckOutcome.ACKNOWLEDGED

    async with db.session() as s:
        listed = await list_for(s, actor=officer, now=NOW, tz=TZ)
        shown = await detail(s, actor=officer, notice_id=notice_id, now=NOW, tz=TZ)
        upper = await list_for(s, actor=p.actor("pv", "LD"), now=NOW, tz=TZ)
        other = await list_for(s, actor=p.actor("o2", "S3"), now=NOW, tz=TZ)
        hidden = await detail(s, actor=p.actor("o2", "S3"), notice_id=notice_id, tz=TZ)
        member = await list_for(s, actor=p.actor("a1"), tz=TZ)
    assert [n.id for n in listed] == [notice_id] == [n.id for n in upper]
    assert other == [] and hidden is None and member == []
    summary = listed[0]
    assert summary.counts == store.NoticeCounts(
        recipients=8, pending=0, sent=4, failed=1, cancelled=0, unreachable=3, acknowledged=2
    )
    assert (summary.status, summary.scheduled, summary.author_name) == (
        NoticeStatus.QUEUED,
        False,
        "o1",
    )
    assert summary.queued_at is not None and summary.queued_at.hour == 9  # 02:30 UTC, Vietnam
    assert shown is not None and shown.summary == summary
    # sent and not acknowledged: a3 (S1), t1 (T1); failed and unreachable rows are not listed
    assert [(u.unit_name, u.count, u.names) for u in shown.not_acknowledged] == [
        ("THPT Bùi Thị Xuân", 1, ("a3",)),
        ("Tổ Toán", 1, ("Trần <Tý> & Tèo",)),
    ]
    assert shown.not_acknowledged_total == 2
    async with db.session() as s:
        capped = await detail(s, actor=officer, notice_id=notice_id, names_per_unit=0, tz=TZ)
    assert capped is not None
    assert [(u.count, u.names) for u in capped.not_acknowledged] == [(1, ()), (1, ())]


# --------------------------------------------------------------------------- acknowledge


async def test_acknowledge_once_and_harmlessly(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    notice_id = await _draft(db, p)
    async with db.session() as s:
        await confirm(s, actor=officer, notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE)
    rows = await _deliveries(db, p, notice_id)
    a1 = rows["a1"].id
    assert a1 is not None
    await _set(db, rows["a1"], status=DeliveryStatus.SENT)
    later = NOW + dt.timedelta(hours=1)
    async with db.session() as s:
        first = await acknowledge(s, actor=p.actor("a1"), delivery_id=a1, now=NOW)
        second = await acknowledge(s, actor=p.actor("a1"), delivery_id=a1, now=later)
        foreign = await acknowledge(s, actor=p.actor("t1"), delivery_id=a1, now=later)
        forged = await acknowledge(s, actor=p.actor("a1"), delivery_id=987654, now=later)
    assert (first.outcome, first.title) == (AckOutcome.ACKNOWLEDGED, "Họp <tổ> & sinh hoạt")
    assert second.outcome is AckOutcome.ALREADY
    assert (foreign.outcome, foreign.title) == (AckOutcome.NOT_FOUND, None)
    assert forged.outcome is AckOutcome.NOT_FOUND
    # a chat that is not linked (or no longer) acknowledges nothing
    unlinked = p.actor("a3")
    unlinked.chat.stage = ChatStage.CONTACT
    async with db.session() as s:
        assert (
            await acknowledge(s, actor=unlinked, delivery_id=rows["a3"].id or 0)
        ).outcome is AckOutcome.NOT_FOUND
    rows = await _deliveries(db, p, notice_id)
    assert rows["a1"].acknowledged_at is not None
    assert _utc(rows["a1"].acknowledged_at) == NOW  # the first press counts
    assert [k for k, d in rows.items() if d.acknowledged_at is not None] == ["a1"]

    # an old notice (two years ago) is acknowledged all the same, even before "sent" is recorded
    async with db.session() as s:
        old = await s.get(Notice, notice_id)
        assert old is not None
        old.period_year = 2024
    async with db.session() as s:
        t1 = await acknowledge(s, actor=p.actor("t1"), delivery_id=rows["t1"].id or 0, now=later)
    assert t1.outcome is AckOutcome.ACKNOWLEDGED


# --------------------------------------------------------------------------- schedule, cancel


async def test_scheduled_notice(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    send_at = dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.UTC)  # tomorrow 08:00 in Vietnam
    notice_id = await _draft(db, p, send_at=send_at, audience=Audience((p.uid("S2"),)))
    async with db.session() as s:
        done = await confirm(
            s, actor=officer, notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
    assert done.outcome is ConfirmOutcome.QUEUED
    assert done.send_at is not None and (done.send_at.hour, done.send_at.day) == (8, 9)
    # S2: b1 blocked, b2 never linked; T2 under S2: t2 reachable
    assert (done.queued, done.unreachable) == (1, 2)
    rows = await _deliveries(db, p, notice_id)
    assert {_utc(d.available_at) for d in rows.values()} == {send_at}
    async with db.session() as s:
        due = (
            await s.execute(
                select(Delivery).where(
                    col(Delivery.status) == DeliveryStatus.QUEUED,
                    col(Delivery.available_at) <= NOW,
                )
            )
        ).first()
        [summary] = await list_for(s, actor=officer, now=NOW, tz=TZ)
        [after] = await list_for(s, actor=officer, now=send_at + dt.timedelta(minutes=1), tz=TZ)
    assert due is None  # nothing for the worker before the time
    assert summary.scheduled and not after.scheduled
    assert summary.counts.pending == 1

    # a send time already past is sent at once
    past = await _draft(
        db, p, send_at=NOW - dt.timedelta(hours=2), audience=Audience((p.uid("T2"),))
    )
    async with db.session() as s:
        at_once = await confirm(
            s, actor=officer, notice_id=past, now=NOW, tz=TZ, default_locale=LOCALE
        )
    assert at_once.send_at is None
    assert [_utc(d.available_at) for d in (await _deliveries(db, p, past)).values()] == [NOW]


async def test_cancel(db: Database, province: Province) -> None:
    p = province
    officer = p.actor("o1", "DL")
    send_at = NOW + dt.timedelta(days=1)
    notice_id = await _draft(db, p, send_at=send_at)
    async with db.session() as s:
        await confirm(s, actor=officer, notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE)
    rows = await _deliveries(db, p, notice_id)
    await _set(db, rows["o1"], status=DeliveryStatus.SENT)  # already out (sent early by hand)
    await _set(db, rows["a1"], status=DeliveryStatus.SENDING)  # in flight

    async with db.session() as s:
        forbidden = await cancel(s, actor=p.actor("o2", "S3"), notice_id=notice_id)
        by_member = await cancel(s, actor=p.actor("a1"), notice_id=notice_id)
        missing = await cancel(s, actor=officer, notice_id=424242)
    assert forbidden.outcome is by_member.outcome is CancelOutcome.FORBIDDEN
    assert missing.outcome is CancelOutcome.NOT_FOUND
    async with db.session() as s:
        done = await cancel(s, actor=officer, notice_id=notice_id)
    # still queued: a3 t1 t2 → withdrawn; o1 sent and a1 in flight go on; 3 unreachable stay
    assert (done.outcome, done.withdrawn) == (CancelOutcome.CANCELLED, 3)
    rows = await _deliveries(db, p, notice_id)
    assert {k: (d.status, d.error) for k, d in rows.items()} == {
        "o1": (DeliveryStatus.SENT, None),
        "a1": (DeliveryStatus.SENDING, None),
        "a3": (DeliveryStatus.FAILED, "cancelled"),
        "t1": (DeliveryStatus.FAILED, "cancelled"),
        "t2": (DeliveryStatus.FAILED, "cancelled"),
        "a2": (DeliveryStatus.UNREACHABLE, "stopped"),
        "b1": (DeliveryStatus.UNREACHABLE, "blocked"),
        "b2": (DeliveryStatus.UNREACHABLE, "never_linked"),
    }
    async with db.session() as s:
        again = await cancel(s, actor=officer, notice_id=notice_id)
        reconfirm = await confirm(
            s, actor=officer, notice_id=notice_id, now=NOW, tz=TZ, default_locale=LOCALE
        )
        [summary] = await list_for(s, actor=officer, now=NOW, tz=TZ)
    assert again.outcome is CancelOutcome.ALREADY
    assert reconfirm.outcome is ConfirmOutcome.CANCELLED
    assert summary.status == NoticeStatus.CANCELLED and not summary.scheduled
    assert summary.counts == store.NoticeCounts(
        recipients=8, pending=1, sent=1, failed=0, cancelled=3, unreachable=3, acknowledged=0
    )

    # a draft is cancelled too; an officer above the author (the admin) may cancel
    draft = await _draft(db, p)
    async with db.session() as s:
        gone = await cancel(s, actor=p.actor("pv", "LD"), notice_id=draft)
    assert (gone.outcome, gone.withdrawn) == (CancelOutcome.CANCELLED, 0)
