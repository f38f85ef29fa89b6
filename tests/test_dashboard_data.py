"""The dashboard's data: storage.dashboard's queries on real databases (SQLite, and PostgreSQL
when TEST_POSTGRES_URL is set), the failure reasons of storage.reasons on the texts the
channels really store, and the list workbooks of bot.reports.lists.

The fixture (every expected value below is worked out by hand from it):

    P  province  "Công đoàn Giáo dục tỉnh"
    └ D  district "Công đoàn Giáo dục huyện"
      ├ HB CĐCS "Trường Hòa Bình"   (created before DK: a smaller id, and first by code point)
      └ DK CĐCS "Trường Đoàn Kết"   (first in Vietnamese order: đ comes before h)
    └ SM CĐCS "Trường Mầm non Sao Mai" (under P, outside D)

    person  name             unit  phone         chats                      notes
    cuong   Lê Văn Cường     DK    —             Telegram 103               not a member
    an      Nguyễn Văn An    DK    +84912000001  Telegram 101               officer of DK
    binh    Trần Thị Bình    DK    +84912000002  Zalo zb (Telegram 102      officer of DK
                                                 not linked)
    dung    Phạm Thị Dung    HB    +84912000004  Zalo zd                    officer of HB
    em      Hoàng Văn Em     HB    +84912000005  Telegram 105               retired 15/01/2026
    giang   Võ Thị Giang     HB    +84912000006  —                          erased
    hung    Đặng Văn Hùng    SM    +84912000007  Telegram 106

Notice N1, sent by the real delivery worker through a scripted channel whose refusals are the
real exceptions, classified by the real senders: an and binh and hung get it; cuong's account
is deactivated (Telegram 403), dung's message is refused (Zalo 400), em's send times out
(Telegram 5xx) and, with one attempt allowed, the worker gives up.  an acknowledges.  A
reminder of binh's delivery (unreachable, stopped) is not N1's own row.

Then dung stops notices, em withdraws consent, giang is erased.  Notice N2, enqueued through
the outbox: an, binh and hung scheduled for December; cuong's chat is known unreachable, dung
stopped, em and giang withdrawn; hung's row is found leased by a worker that crashed three
times; then N2 is cancelled (an's and binh's rows, still queued, are withdrawn).

Campaigns (opened 01/03/2026, closing 20/03/2026):

- R1, a member survey (not anonymous), targets an, binh, cuong (DK), dung, em (HB): an and
  dung and em completed, binh started, cuong not; em then withdrew consent (answers withheld);
- R2, an anonymous survey, targets an, binh (DK), dung (HB): an and binh completed;
- R3, a unit report (one answer per CĐCS), targets the officers an, binh (DK) and dung (HB):
  binh answered for DK, dung started for HB.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

import openpyxl
import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram_sender import classify as telegram_outcome
from bot.channels.zalo.api import ZaloError
from bot.channels.zalo.sender import classify as zalo_outcome
from bot.delivery.channel import Outbound, OutcomeKind, Pacer, SendOutcome
from bot.delivery.worker import DeliverySettings, DeliveryWorker
from bot.reports.lists import ListSheet, list_xlsx, lists_xlsx
from storage import dashboard, outbox
from storage import notices as notice_store
from storage import surveys as survey_store
from storage.campaigns import CLOSED, Target, insert_targets
from storage.dashboard import (
    AnswerRow,
    CampaignPerson,
    Contact,
    Progress,
    QuestionColumn,
    ReasonCount,
    RosterLine,
    UnacknowledgedLine,
    UnitNoticeCounts,
)
from storage.db import Database
from storage.erasure import ERASED
from storage.models import (
    Channel,
    ChatIdentity,
    ChatStage,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Person,
    Role,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
    UnitKind,
    WorkStatus,
)
from storage.notices import ACKNOWLEDGED, BLOCKED, CANCELLED, NoticeCounts
from storage.outbox import NOT_LINKED, STOPPED, WITHDRAWN
from storage.reasons import Reason, reason_of
from storage.redact import safe_text
from storage.tables import chats, deliveries, participations, people, responses
from surveys.loader import definition_to_json, parse_definition
from surveys.schema import QuestionKind
from tests.test_delivery_support import claim_due

FAILED, UNREACHABLE = DeliveryStatus.FAILED, DeliveryStatus.UNREACHABLE


def utc(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


QUEUED_AT = utc(3, 8, 2)  # N1 is due from then
SENT_AT = utc(3, 8, 2, 30)  # the worker's clock
ACK_AT = utc(3, 8, 3)
WITHDRAWN_AT = utc(3, 9, 1)
CRASH_CHECK = utc(3, 10, 1)  # the claim that finds hung's N2 row leased too often
DECEMBER = utc(12, 1, 1)  # when N2 was to go out
OPENS, CLOSES = utc(3, 1, 2), utc(3, 20, 10)

MEMBER_SURVEY = """\
key: hoat_dong
version: 1
title: Tham gia hoạt động
anonymous: false
questions:
  - key: joined
    kind: yes_no
    prompt: Thầy/cô có tham gia hoạt động không?
  - key: kinds
    kind: multi
    prompt: Những hoạt động nào?
    show_if: {question: joined, values: ["yes"]}
    options:
      - {value: van_nghe, label: Văn nghệ}
      - {value: the_thao, label: Thể thao}
      - {value: tu_thien, label: Từ thiện}
  - key: times
    kind: integer
    prompt: Bao nhiêu lần?
  - key: level
    kind: single
    prompt: Tự đánh giá
    options:
      - {value: tot, label: Tốt}
      - {value: kha, label: Khá}
  - key: day
    kind: date
    prompt: Ngày gần nhất
    required: false
  - key: note
    kind: text
    prompt: Góp ý
    required: false
"""

ANONYMOUS_SURVEY = """\
key: y_kien
version: 1
title: Ý kiến đoàn viên
anonymous: true
questions:
  - key: satisfied
    kind: single
    prompt: Mức độ hài lòng
    options:
      - {value: rat_hai_long, label: Rất hài lòng}
      - {value: hai_long, label: Hài lòng}
      - {value: chua, label: Chưa hài lòng}
  - key: idea
    kind: text
    prompt: Đề xuất
    required: false
"""

UNIT_SURVEY = """\
key: bao_cao
version: 1
title: Báo cáo đơn vị
audience: unit
questions:
  - key: dialogue
    kind: yes_no
    prompt: Đơn vị có tổ chức đối thoại không?
  - key: members
    kind: integer
    prompt: Số đoàn viên
"""


# --------------------------------------------------------------------------- the fixture


@dataclass
class World:
    units: dict[str, Unit] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)  # (notice, person)
    n1: int = 0
    n2: int = 0
    r1: int = 0
    r2: int = 0
    r3: int = 0

    def uid(self, key: str) -> int:
        unit_id = self.units[key].id
        assert unit_id is not None
        return unit_id


#: What the scripted channel answers, by chat: the outcome the real senders give for the
#: platforms' real refusals.
_METHOD = SendMessage(chat_id=1, text="…")
SCRIPT: dict[str, SendOutcome] = {
    "101": SendOutcome.sent(1),
    "zb": SendOutcome.sent("z1"),
    "106": SendOutcome.sent(2),
    "103": telegram_outcome(TelegramForbiddenError(_METHOD, "Forbidden: user is deactivated")),
    "zd": zalo_outcome(ZaloError("sendMessage", 400, "Bad Request: text is too long")),
    "105": telegram_outcome(TelegramServerError(_METHOD, "Internal Server Error")),
}


class ScriptedChannel:
    """A :class:`bot.delivery.channel.Sender` answering each chat as :data:`SCRIPT` says."""

    async def send(self, message: Outbound, *, pacer: Pacer | None = None) -> SendOutcome:
        return SCRIPT[message.external_id]


async def _unit(
    s: AsyncSession, w: World, key: str, name: str, kind: UnitKind, parent: str | None
) -> None:
    above = w.units[parent] if parent else None
    unit = Unit(code=key, name=name, kind=kind, parent_id=above.id if above else None)
    s.add(unit)
    await s.flush()
    unit.path = f"{above.path if above else '/'}{unit.id}/"
    await s.flush()
    w.units[key] = unit


async def _person(
    s: AsyncSession,
    w: World,
    key: str,
    name: str,
    unit: str,
    phone: str | None,
    *,
    chat: tuple[Channel, str] | None,
    member: bool = True,
    officer: bool = False,
) -> None:
    person = Person(
        full_name=name,
        phone=phone,
        unit_id=w.uid(unit),
        is_member=member,
        role=Role.OFFICER if officer else Role.MEMBER,
        officer_unit_id=w.uid(unit) if officer else None,
    )
    s.add(person)
    await s.flush()
    assert person.id is not None
    w.people[key] = person.id
    if chat is not None:
        channel, external_id = chat
        s.add(
            ChatIdentity(
                channel=channel,
                external_id=external_id,
                person_id=person.id,
                stage=ChatStage.LINKED,
            )
        )
        await s.flush()


async def _notice(s: AsyncSession, w: World, title: str) -> int:
    notice = Notice(
        scope_unit_id=w.uid("D"),
        title=title,
        body="…",
        status=NoticeStatus.QUEUED,
        period_year=2026,
        queued_at=QUEUED_AT,
    )
    s.add(notice)
    await s.flush()
    assert notice.id is not None
    return notice.id


async def _enqueue(
    s: AsyncSession, w: World, notice: str, notice_id: int, who: dict[str, dt.datetime]
) -> None:
    """Notice rows for ``who`` (person → due time) to each one's linked chat, if any."""
    c = chats.c
    linked = {
        int(pid): (int(cid), Channel(channel), str(ext))
        for cid, pid, channel, ext in (
            await s.execute(
                select(c.id, c.person_id, c.channel, c.external_id).where(
                    c.stage == ChatStage.LINKED
                )
            )
        ).all()
    }
    rows = []
    for key, due in who.items():
        pid = w.people[key]
        chat_id, channel, external_id = linked.get(pid, (None, None, None))
        rows.append(
            {
                "kind": DeliveryKind.NOTICE,
                "notice_id": notice_id,
                "person_id": pid,
                "chat_id": chat_id,
                "channel": channel,
                "external_id": external_id,
                "text": "Thông báo",
                "ack_button": True,
                "available_at": due,
            }
        )
    await outbox.enqueue(s, rows=rows)
    found = await s.execute(
        select(deliveries.c.id, deliveries.c.person_id).where(deliveries.c.notice_id == notice_id)
    )
    by_person = {v: k for k, v in w.people.items()}
    for delivery_id, pid in found.all():
        w.deliveries[(notice, by_person[int(pid)])] = int(delivery_id)


async def _definition(s: AsyncSession, text: str) -> int:
    defn = parse_definition(text)
    row = SurveyDefinitionRow(
        key=defn.key, title=defn.title, checksum=defn.key, body=definition_to_json(defn)
    )
    s.add(row)
    await s.flush()
    assert row.id is not None
    return row.id


async def _run(
    s: AsyncSession, w: World, definition_id: int, targets: dict[str, str], *, per_unit: bool
) -> int:
    run = SurveyRun(
        definition_id=definition_id,
        unit_id=w.uid("D"),
        period_year=2026,
        opens_at=OPENS,
        closes_at=CLOSES,
        per_unit=per_unit,
    )
    s.add(run)
    await s.flush()
    assert run.id is not None
    await insert_targets(
        s,
        run_id=run.id,
        rows=[Target(w.people[p], w.uid(u)) for p, u in targets.items()],
        now=OPENS,
    )
    return run.id


async def _answer(
    s: AsyncSession,
    w: World,
    run_id: int,
    who: str,
    unit: str,
    given: dict[str, Any],
    *,
    started: dt.datetime,
    completed: dt.datetime | None = None,
    anonymous: bool = False,
) -> None:
    """A response of ``who`` for ``unit`` with these answers (completed when ``completed``
    is given), written by storage.surveys as the conversation writes it; then its times set."""
    response = await survey_store.start_response(
        s, run_id=run_id, person_id=w.people[who], unit_id=w.uid(unit), is_member=True
    )
    for key, value in given.items():
        await survey_store.save_answer(s, response=response, question_key=key, value=value)
    if completed is not None:
        await survey_store.complete_response(s, response=response, anonymous=anonymous)
    await s.execute(
        update(responses)
        .where(responses.c.id == response.id)
        .values(started_at=started, completed_at=completed)
    )
    if anonymous and completed is not None:
        await s.execute(
            update(participations)
            .where(participations.c.run_id == run_id, participations.c.person_id == w.people[who])
            .values(completed_at=completed)
        )


async def build(db: Database) -> World:
    w = World()
    async with db.session() as s:
        await _unit(s, w, "P", "Công đoàn Giáo dục tỉnh", UnitKind.PROVINCE, None)
        await _unit(s, w, "D", "Công đoàn Giáo dục huyện", UnitKind.DISTRICT, "P")
        await _unit(s, w, "HB", "Trường Hòa Bình", UnitKind.GRASSROOTS, "D")
        await _unit(s, w, "DK", "Trường Đoàn Kết", UnitKind.GRASSROOTS, "D")
        await _unit(s, w, "SM", "Trường Mầm non Sao Mai", UnitKind.GRASSROOTS, "P")
        tg, zalo = Channel.TELEGRAM, Channel.ZALO
        await _person(s, w, "cuong", "Lê Văn Cường", "DK", None, chat=(tg, "103"), member=False)
        await _person(
            s, w, "an", "Nguyễn Văn An", "DK", "+84912000001", chat=(tg, "101"), officer=True
        )
        await _person(
            s, w, "binh", "Trần Thị Bình", "DK", "+84912000002", chat=(zalo, "zb"), officer=True
        )
        s.add(ChatIdentity(channel=tg, external_id="102", person_id=w.people["binh"],
                           stage=ChatStage.CONSENT))  # fmt: skip
        await _person(
            s, w, "dung", "Phạm Thị Dung", "HB", "+84912000004", chat=(zalo, "zd"), officer=True
        )
        await _person(s, w, "em", "Hoàng Văn Em", "HB", "+84912000005", chat=(tg, "105"))
        await _person(s, w, "giang", "Võ Thị Giang", "HB", "+84912000006", chat=None)
        await _person(s, w, "hung", "Đặng Văn Hùng", "SM", "+84912000007", chat=(tg, "106"))
        await s.execute(
            update(people)
            .where(people.c.id == w.people["em"])
            .values(work_status=WorkStatus.RETIRED, left_on=dt.date(2026, 1, 15))
        )
        w.n1 = await _notice(s, w, "N1")
        first = ("an", "binh", "cuong", "dung", "em", "hung")
        await _enqueue(s, w, "n1", w.n1, dict.fromkeys(first, QUEUED_AT))

    settings = DeliverySettings(
        global_rate=None, per_chat_rate=None, max_attempts=1, idle_seconds=0.05, record_linger=0
    )
    worker = DeliveryWorker(db, ScriptedChannel(), settings, owner="t", clock=lambda: SENT_AT)
    stats = await worker.drain(max_wait=0)
    assert (stats.sent, stats.failed, stats.unreachable) == (3, 2, 1)

    async with db.session() as s:
        done = await notice_store.acknowledge(
            s, delivery_id=w.deliveries[("n1", "an")], person_id=w.people["an"], now=ACK_AT
        )
        assert done.outcome == notice_store.ACKNOWLEDGED
        await outbox.enqueue(  # a reminder of binh's N1 row: not one of N1's own rows
            s,
            rows=[
                {
                    "kind": DeliveryKind.REMINDER,
                    "reminds_id": w.deliveries[("n1", "binh")],
                    "person_id": w.people["binh"],
                    "text": "Nhắc",
                    "status": UNREACHABLE,
                    "error": STOPPED,
                }
            ],
        )
        await s.execute(
            update(chats).where(chats.c.person_id == w.people["dung"]).values(stopped=True)
        )
        await s.execute(
            update(people)
            .where(people.c.id == w.people["em"])
            .values(consent_withdrawn_at=WITHDRAWN_AT)
        )
        giang = w.people["giang"]
        await s.execute(
            update(people)
            .where(people.c.id == giang)
            .values(full_name=f"(đã xóa #{giang})", phone=None, erased_at=WITHDRAWN_AT)
        )

    async with db.session() as s:
        w.n2 = await _notice(s, w, "N2")
        second = ("an", "binh", "cuong", "dung", "em", "giang", "hung")
        await _enqueue(s, w, "n2", w.n2, dict.fromkeys(second, DECEMBER))
        await s.execute(  # taken by a worker that died three times
            update(deliveries)
            .where(deliveries.c.id == w.deliveries[("n2", "hung")])
            .values(
                status=DeliveryStatus.SENDING,
                attempts=3,
                lease_owner="dead",
                lease_expires_at=CRASH_CHECK - dt.timedelta(minutes=1),
            )
        )
    async with db.session() as s:
        claimed = await claim_due(
            s,
            owner="t",
            now=CRASH_CHECK,
            lease_until=CRASH_CHECK + dt.timedelta(minutes=1),
            limit=10,
            max_attempts=3,
        )
        assert claimed == []
    async with db.session() as s:
        assert await notice_store.cancel_notice(s, notice_id=w.n2) == 2

    async with db.session() as s:
        member = await _definition(s, MEMBER_SURVEY)
        anonymous = await _definition(s, ANONYMOUS_SURVEY)
        unit_report = await _definition(s, UNIT_SURVEY)
        targets = {"an": "DK", "binh": "DK", "cuong": "DK", "dung": "HB", "em": "HB"}
        w.r1 = await _run(s, w, member, targets, per_unit=False)
        full = {
            "joined": True,
            "kinds": ["van_nghe", "tu_thien"],
            "times": 3,
            "level": "tot",
            "day": "2026-03-05",
            "note": "=1+1",
        }
        await _answer(
            s, w, w.r1, "an", "DK", full, started=utc(3, 2, 1), completed=utc(3, 2, 1, 10)
        )
        await _answer(s, w, w.r1, "binh", "DK", {"joined": False}, started=utc(3, 3, 1))
        dung = {"joined": False, "times": 0, "level": "kha"}
        await _answer(
            s, w, w.r1, "dung", "HB", dung, started=utc(3, 4, 1), completed=utc(3, 4, 1, 5)
        )
        em = {"joined": True, "kinds": ["the_thao"], "times": 1, "level": "tot"}
        await _answer(s, w, w.r1, "em", "HB", em, started=utc(3, 5, 1), completed=utc(3, 5, 1, 5))

        w.r2 = await _run(s, w, anonymous, {"an": "DK", "binh": "DK", "dung": "HB"}, per_unit=False)
        await _answer(
            s, w, w.r2, "an", "DK", {"satisfied": "hai_long", "idea": "Thêm giờ thể thao"},
            started=utc(3, 6, 0, 50), completed=utc(3, 6, 1), anonymous=True,
        )  # fmt: skip
        await _answer(
            s, w, w.r2, "binh", "DK", {"satisfied": "chua"},
            started=utc(3, 6, 1, 50), completed=utc(3, 6, 2), anonymous=True,
        )  # fmt: skip

        w.r3 = await _run(
            s, w, unit_report, {"an": "DK", "binh": "DK", "dung": "HB"}, per_unit=True
        )
        report = {"dialogue": True, "members": 25}
        await _answer(
            s, w, w.r3, "binh", "DK", report, started=utc(3, 7, 1), completed=utc(3, 7, 1, 20)
        )
        await _answer(s, w, w.r3, "dung", "HB", {"dialogue": False}, started=utc(3, 7, 2))
    return w


@pytest.fixture
async def world(db: Database) -> World:
    return await build(db)


# --------------------------------------------------------------------------- notices


def _counts(
    recipients: int,
    *,
    sent: int = 0,
    failed: int = 0,
    cancelled: int = 0,
    unreachable: int = 0,
    acknowledged: int = 0,
) -> NoticeCounts:
    return NoticeCounts(recipients, 0, sent, failed, cancelled, unreachable, acknowledged)


async def test_notice_reasons_classify_what_the_worker_and_the_outbox_stored(
    db: Database, world: World
) -> None:
    w = world
    async with db.session() as s:
        first = await dashboard.notice_reasons(s, notice_id=w.n1)
        second = await dashboard.notice_reasons(s, notice_id=w.n2)
        counts = await notice_store.notice_counts(s, notice_id=w.n2)
    # N1: em's timeouts (gave up after its one attempt), dung's text refused by Zalo; cuong's
    # account deactivated.  Not binh's reminder (unreachable, stopped): not N1's own row.
    assert first == [
        ReasonCount(FAILED, Reason.GAVE_UP, 1),
        ReasonCount(FAILED, Reason.REFUSED, 1),
        ReasonCount(UNREACHABLE, Reason.DEACTIVATED, 1),
    ]
    # N2: an and binh withdrawn by the cancellation, hung's row failed after three crashes;
    # em (withdrew) and giang (erased) withdrawn, cuong's chat known deactivated, dung stopped.
    assert second == [
        ReasonCount(FAILED, Reason.CANCELLED, 2),
        ReasonCount(FAILED, Reason.CRASHED, 1),
        ReasonCount(UNREACHABLE, Reason.WITHDRAWN, 2),
        ReasonCount(UNREACHABLE, Reason.DEACTIVATED, 1),
        ReasonCount(UNREACHABLE, Reason.STOPPED, 1),
    ]
    # The same rows as notice_counts: its failed, cancelled and unreachable.
    assert counts == _counts(7, failed=1, cancelled=2, unreachable=4)
    assert sum(r.count for r in second if r.reason == Reason.CANCELLED) == counts.cancelled
    assert sum(r.count for r in second if r.status == UNREACHABLE) == counts.unreachable
    failed = sum(r.count for r in second if r.status == FAILED and r.reason != Reason.CANCELLED)
    assert failed == counts.failed


async def test_notice_units_split_notice_counts_by_the_recipients_units(
    db: Database, world: World
) -> None:
    w = world
    async with db.session() as s:
        first = await dashboard.notice_units(s, notice_id=w.n1)
        second = await dashboard.notice_units(s, notice_id=w.n2)
        total = await notice_store.notice_counts(s, notice_id=w.n1)
    dk, hb, sm = (w.uid(k) for k in ("DK", "HB", "SM"))
    # Đoàn Kết before Hòa Bình (đ < h), whatever the ids (HB's is smaller) or code points.
    assert first == [
        UnitNoticeCounts(dk, "DK", "Trường Đoàn Kết", _counts(3, sent=2, unreachable=1, acknowledged=1)),  # noqa: E501
        UnitNoticeCounts(hb, "HB", "Trường Hòa Bình", _counts(2, failed=2)),
        UnitNoticeCounts(sm, "SM", "Trường Mầm non Sao Mai", _counts(1, sent=1)),
    ]  # fmt: skip
    assert total == _counts(6, sent=3, failed=2, unreachable=1, acknowledged=1)
    assert second == [
        UnitNoticeCounts(dk, "DK", "Trường Đoàn Kết", _counts(3, cancelled=2, unreachable=1)),
        UnitNoticeCounts(hb, "HB", "Trường Hòa Bình", _counts(3, unreachable=3)),
        UnitNoticeCounts(sm, "SM", "Trường Mầm non Sao Mai", _counts(1, failed=1)),
    ]


async def test_notice_unacknowledged_lists_who_got_it_and_did_not_acknowledge(
    db: Database, world: World
) -> None:
    w = world
    async with db.session() as s:
        first = await dashboard.notice_unacknowledged(s, notice_id=w.n1)
        second = await dashboard.notice_unacknowledged(s, notice_id=w.n2)
        grouped = await notice_store.not_acknowledged(s, notice_id=w.n1)
    assert first == [
        UnacknowledgedLine(
            w.uid("DK"), "Trường Đoàn Kết", w.people["binh"], "Trần Thị Bình", "+84912000002",
            SENT_AT,
        ),
        UnacknowledgedLine(
            w.uid("SM"), "Trường Mầm non Sao Mai", w.people["hung"], "Đặng Văn Hùng",
            "+84912000007", SENT_AT,
        ),
    ]  # fmt: skip
    assert sum(g.count for g in grouped) == len(first)  # the people not_acknowledged counts
    assert second == []  # nothing of N2 was sent


# --------------------------------------------------------------------------- campaigns


async def test_campaign_people_of_a_member_survey(db: Database, world: World) -> None:
    w = world
    async with db.session() as s:
        lines = await dashboard.campaign_people(s, run_id=w.r1)
    dk, hb = w.uid("DK"), w.uid("HB")
    p = w.people
    assert lines == [
        CampaignPerson(dk, "DK", "Trường Đoàn Kết", p["an"], "Nguyễn Văn An", "+84912000001",
                       Progress.DONE, utc(3, 2, 1), utc(3, 2, 1, 10)),
        CampaignPerson(dk, "DK", "Trường Đoàn Kết", p["binh"], "Trần Thị Bình", "+84912000002",
                       Progress.STARTED, utc(3, 3, 1), None),
        CampaignPerson(dk, "DK", "Trường Đoàn Kết", p["cuong"], "Lê Văn Cường", None,
                       Progress.NOT_STARTED, None, None),
        CampaignPerson(hb, "HB", "Trường Hòa Bình", p["dung"], "Phạm Thị Dung", "+84912000004",
                       Progress.DONE, utc(3, 4, 1), utc(3, 4, 1, 5)),
        CampaignPerson(hb, "HB", "Trường Hòa Bình", p["em"], "Hoàng Văn Em", "+84912000005",
                       Progress.DONE, utc(3, 5, 1), utc(3, 5, 1, 5)),
    ]  # fmt: skip


async def test_campaign_people_of_an_anonymous_survey(db: Database, world: World) -> None:
    """Their responses point at nobody: done, and when, come from the participation rows."""
    w = world
    async with db.session() as s:
        lines = await dashboard.campaign_people(s, run_id=w.r2)
    dk, hb = w.uid("DK"), w.uid("HB")
    p = w.people
    assert lines == [
        CampaignPerson(dk, "DK", "Trường Đoàn Kết", p["an"], "Nguyễn Văn An", "+84912000001",
                       Progress.DONE, None, utc(3, 6, 1)),
        CampaignPerson(dk, "DK", "Trường Đoàn Kết", p["binh"], "Trần Thị Bình", "+84912000002",
                       Progress.DONE, None, utc(3, 6, 2)),
        CampaignPerson(hb, "HB", "Trường Hòa Bình", p["dung"], "Phạm Thị Dung", "+84912000004",
                       Progress.NOT_STARTED, None, None),
    ]  # fmt: skip


async def test_campaign_people_of_a_unit_report_are_one_line_per_unit(
    db: Database, world: World
) -> None:
    """binh answered for Đoàn Kết, so an (asked too) has nothing left to do; dung began
    Hòa Bình's report."""
    w = world
    async with db.session() as s:
        lines = await dashboard.campaign_people(s, run_id=w.r3)
    p = w.people
    assert lines == [
        CampaignPerson(w.uid("DK"), "DK", "Trường Đoàn Kết", p["binh"], "Trần Thị Bình",
                       "+84912000002", Progress.DONE, utc(3, 7, 1), utc(3, 7, 1, 20),
                       others=(Contact(p["an"], "Nguyễn Văn An", "+84912000001"),)),
        CampaignPerson(w.uid("HB"), "HB", "Trường Hòa Bình", p["dung"], "Phạm Thị Dung",
                       "+84912000004", Progress.STARTED, utc(3, 7, 2), None),
    ]  # fmt: skip


async def test_campaign_answers_of_a_member_survey(db: Database, world: World) -> None:
    """Labels for choices, the definition's questions in order; em's answers withheld (she
    withdrew her consent after answering)."""
    w = world
    async with db.session() as s:
        found = await dashboard.campaign_answers(s, run_id=w.r1)
    assert found is not None
    assert (found.survey_key, found.title, found.anonymous, found.per_unit, found.withheld) == (
        "hoat_dong",
        "Tham gia hoạt động",
        False,
        False,
        1,
    )
    assert found.questions == (
        QuestionColumn("joined", "Thầy/cô có tham gia hoạt động không?", QuestionKind.YES_NO),
        QuestionColumn("kinds", "Những hoạt động nào?", QuestionKind.MULTI),
        QuestionColumn("times", "Bao nhiêu lần?", QuestionKind.INTEGER),
        QuestionColumn("level", "Tự đánh giá", QuestionKind.SINGLE),
        QuestionColumn("day", "Ngày gần nhất", QuestionKind.DATE),
        QuestionColumn("note", "Góp ý", QuestionKind.TEXT),
    )
    assert found.rows == (
        AnswerRow(
            w.uid("DK"), "DK", "Trường Đoàn Kết", "Nguyễn Văn An", "+84912000001", utc(3, 2, 1, 10),
            {"joined": True, "kinds": "Văn nghệ; Từ thiện", "times": 3, "level": "Tốt",
             "day": dt.date(2026, 3, 5), "note": "=1+1"},
        ),
        AnswerRow(
            w.uid("HB"), "HB", "Trường Hòa Bình", "Phạm Thị Dung", "+84912000004", utc(3, 4, 1, 5),
            {"joined": False, "kinds": None, "times": 0, "level": "Khá", "day": None,
             "note": None},
        ),
    )  # fmt: skip


async def test_campaign_answers_of_an_anonymous_survey_name_nobody(
    db: Database, world: World
) -> None:
    """No name, phone or time; rows by unit then by their answers (binh's, newer, first)."""
    w = world
    async with db.session() as s:
        found = await dashboard.campaign_answers(s, run_id=w.r2)
    assert found is not None
    assert (found.anonymous, found.withheld) == (True, 0)
    assert [q.key for q in found.questions] == ["satisfied", "idea"]
    dk = w.uid("DK")
    assert found.rows == (
        AnswerRow(dk, "DK", "Trường Đoàn Kết", None, None, None,
                  {"satisfied": "Chưa hài lòng", "idea": None}),
        AnswerRow(dk, "DK", "Trường Đoàn Kết", None, None, None,
                  {"satisfied": "Hài lòng", "idea": "Thêm giờ thể thao"}),
    )  # fmt: skip


async def test_campaign_answers_of_a_unit_report(db: Database, world: World) -> None:
    w = world
    async with db.session() as s:
        found = await dashboard.campaign_answers(s, run_id=w.r3)
        missing = await dashboard.campaign_answers(s, run_id=w.r3 + 100)
    assert found is not None
    assert (found.per_unit, found.anonymous, found.withheld) == (True, False, 0)
    assert found.rows == (
        AnswerRow(w.uid("DK"), "DK", "Trường Đoàn Kết", "Trần Thị Bình", "+84912000002",
                  utc(3, 7, 1, 20), {"dialogue": True, "members": 25}),
    )  # fmt: skip
    assert missing is None


# --------------------------------------------------------------------------- roster


async def test_roster_lines_of_a_subtree(db: Database, world: World) -> None:
    """D's people but giang (erased), by unit then name; channels of linked chats only
    (binh's Telegram chat is not linked; cuong's unreachable chat still is)."""
    w = world
    dk, hb, sm = (w.uid(k) for k in ("DK", "HB", "SM"))
    p = w.people
    tg, zalo = (Channel.TELEGRAM,), (Channel.ZALO,)
    active, officer, member = WorkStatus.ACTIVE, Role.OFFICER, Role.MEMBER
    expected_d = [
        RosterLine(dk, "DK", "Trường Đoàn Kết", p["an"], "Nguyễn Văn An", "+84912000001", True,
                   officer, "Trường Đoàn Kết", active, None, tg),
        RosterLine(dk, "DK", "Trường Đoàn Kết", p["binh"], "Trần Thị Bình", "+84912000002", True,
                   officer, "Trường Đoàn Kết", active, None, zalo),
        RosterLine(dk, "DK", "Trường Đoàn Kết", p["cuong"], "Lê Văn Cường", None, False,
                   member, None, active, None, tg),
        RosterLine(hb, "HB", "Trường Hòa Bình", p["dung"], "Phạm Thị Dung", "+84912000004", True,
                   officer, "Trường Hòa Bình", active, None, zalo),
        RosterLine(hb, "HB", "Trường Hòa Bình", p["em"], "Hoàng Văn Em", "+84912000005", True,
                   member, None, WorkStatus.RETIRED, dt.date(2026, 1, 15), tg),
    ]  # fmt: skip
    hung = RosterLine(sm, "SM", "Trường Mầm non Sao Mai", p["hung"], "Đặng Văn Hùng",
                      "+84912000007", True, member, None, active, None, tg)  # fmt: skip
    async with db.session() as s:
        in_d = await dashboard.roster_lines(s, path=w.units["D"].path)
        in_p = await dashboard.roster_lines(s, path=w.units["P"].path)
        in_sm = await dashboard.roster_lines(s, path=w.units["SM"].path)
    assert in_d == expected_d
    assert in_p == [*expected_d, hung]
    assert in_sm == [hung]
    assert [line.linked for line in in_d] == [True] * 5


async def test_each_query_runs_a_fixed_number_of_statements(db: Database, world: World) -> None:
    w = world
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    async def run(call: Any) -> int:
        statements.clear()
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            async with db.session() as s:
                await call(s)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        return len(statements)

    assert await run(lambda s: dashboard.notice_reasons(s, notice_id=w.n2)) == 1
    assert await run(lambda s: dashboard.notice_units(s, notice_id=w.n2)) == 1
    assert await run(lambda s: dashboard.notice_unacknowledged(s, notice_id=w.n1)) == 1
    assert await run(lambda s: dashboard.campaign_people(s, run_id=w.r1)) == 3
    assert await run(lambda s: dashboard.campaign_people(s, run_id=w.r3)) == 3
    assert await run(lambda s: dashboard.campaign_answers(s, run_id=w.r1)) == 3
    assert await run(lambda s: dashboard.roster_lines(s, path=w.units["P"].path)) == 2


# --------------------------------------------------------------------------- reasons


def _stored(outcome: SendOutcome) -> tuple[DeliveryStatus, str | None]:
    """The status and error a sender's outcome is recorded with (storage.outbox.record)."""
    status = {OutcomeKind.UNREACHABLE: UNREACHABLE, OutcomeKind.PERMANENT: FAILED}[outcome.kind]
    return status, safe_text(outcome.error, limit=outbox.ERROR_MAX)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TelegramForbiddenError(_METHOD, "Forbidden: bot was blocked by the user"), Reason.BLOCKED),
        (TelegramForbiddenError(_METHOD, "Forbidden: user is deactivated"), Reason.DEACTIVATED),
        (
            TelegramForbiddenError(
                _METHOD, "Forbidden: bot can't initiate conversation with a user"
            ),
            Reason.CHAT_NOT_FOUND,
        ),
        (
            TelegramForbiddenError(_METHOD, "Forbidden: bot was kicked from the group chat"),
            Reason.BLOCKED,
        ),
        (TelegramBadRequest(_METHOD, "Bad Request: chat not found"), Reason.CHAT_NOT_FOUND),
        (TelegramBadRequest(_METHOD, "Bad Request: PEER_ID_INVALID"), Reason.CHAT_NOT_FOUND),
        (TelegramBadRequest(_METHOD, "Bad Request: message is too long"), Reason.REFUSED),
        (
            TelegramBadRequest(_METHOD, "Bad Request: can't parse entities: Unsupported start tag"),
            Reason.REFUSED,
        ),
        (TelegramNotFound(_METHOD, "Not Found"), Reason.REFUSED),
    ],
)
def test_reasons_of_telegram_refusals(error: Exception, reason: Reason) -> None:
    status, stored = _stored(telegram_outcome(error))
    assert reason_of(status, stored) == reason


@pytest.mark.parametrize(
    ("status", "description", "reason"),
    [
        (403, "User has blocked the bot", Reason.BLOCKED),  # what tests/fakezalo.py answers
        (404, "User not found", Reason.CHAT_NOT_FOUND),
        (400, "The user has not interacted with the bot", Reason.CHAT_NOT_FOUND),
        (400, "User is not a follower of the OA", Reason.CHAT_NOT_FOUND),
        (400, "User has unfollowed the OA", Reason.BLOCKED),
        (400, "Bad Request: text is too long", Reason.REFUSED),
        (400, "Bad Request: photo must be a URL", Reason.REFUSED),
        (403, "Forbidden", Reason.OTHER),  # out of reach, but no word of why
    ],
)
def test_reasons_of_zalo_refusals(status: int, description: str, reason: Reason) -> None:
    stored_status, stored = _stored(zalo_outcome(ZaloError("sendMessage", status, description)))
    assert reason_of(stored_status, stored) == reason


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (UNREACHABLE, NOT_LINKED, Reason.NEVER_LINKED),
        (UNREACHABLE, STOPPED, Reason.STOPPED),
        (UNREACHABLE, WITHDRAWN, Reason.WITHDRAWN),
        (UNREACHABLE, ERASED, Reason.ERASED),
        (UNREACHABLE, BLOCKED, Reason.BLOCKED),  # a chat already marked unreachable
        (FAILED, CANCELLED, Reason.CANCELLED),
        (FAILED, ACKNOWLEDGED, Reason.CANCELLED),  # a reminder of a notice acknowledged since
        (FAILED, CLOSED, Reason.CANCELLED),  # an invitation of a campaign closed since
        (FAILED, "gave up after 5 attempts: TelegramServerError: Bad Gateway", Reason.GAVE_UP),
        (FAILED, "gave up after 5 attempts: timeout", Reason.GAVE_UP),
        (FAILED, "gave up after 3 attempts: sendMessage: HTTP 503: Service Unavailable",
         Reason.GAVE_UP),
        (FAILED, "lease expired 5 times (worker crashed while sending)", Reason.CRASHED),
        # a message in parts: a later part refused (the first went out)
        (UNREACHABLE, "Forbidden: bot was blocked by the user (1 of 2 parts sent)",
         Reason.BLOCKED),
        (FAILED, "Bad Request: message is too long (1 of 3 parts sent)", Reason.REFUSED),
        (FAILED, "nothing to send: empty text and no attachment", Reason.OTHER),
        (UNREACHABLE, "unreachable", Reason.OTHER),  # a chat marked without a reason
        (FAILED, None, Reason.OTHER),  # the retention purge blanked it
        (UNREACHABLE, None, Reason.OTHER),
    ],
)  # fmt: skip
def test_reasons_of_the_stored_words(
    status: DeliveryStatus, error: str | None, reason: Reason
) -> None:
    assert reason_of(status, error) == reason


def test_a_platform_word_counts_only_where_the_senders_put_it() -> None:
    """ "blocked" in a refusal of the message is not the member's doing."""
    assert reason_of(FAILED, "Bad Request: message text blocked by filter") == Reason.REFUSED
    assert reason_of(UNREACHABLE, "Bad Request: message is too long") == Reason.OTHER


# --------------------------------------------------------------------------- workbooks


def _open(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def _sheet(book: openpyxl.Workbook, index: int = 0) -> Worksheet:
    ws = book.worksheets[index]
    assert isinstance(ws, Worksheet)
    return ws


def test_list_workbook() -> None:
    long_text = "Góp ý " * 40  # 240 characters: the column is capped
    data = list_xlsx(
        title="Chưa xác nhận đã nắm",
        subtitle="Thông báo: Họp công đoàn",
        headers=["Đơn vị", "Họ và tên", "Ngày", "Gửi lúc", "Số", "Góp ý"],
        rows=[
            ["=1+1", "Trần\x0bThị Bình", dt.date(2026, 3, 5),
             dt.datetime(2026, 3, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=7))), 3,
             long_text],
            ["@SUM(A1)", None, None, dt.datetime(2026, 3, 8, 10, 0), 2.5, "ok"],
        ],
        sheet="Danh sách",
    )  # fmt: skip
    book = _open(data)
    assert book.sheetnames == ["Danh sách"]
    ws = _sheet(book)
    assert ws["A1"].value == "Chưa xác nhận đã nắm" and ws["A1"].font.b
    assert ws["A2"].value == "Thông báo: Họp công đoàn" and ws["A2"].font.i
    assert [c.value for c in ws[4]] == ["Đơn vị", "Họ và tên", "Ngày", "Gửi lúc", "Số", "Góp ý"]
    assert all(c.font.b and c.fill.fgColor.rgb == "00DDEBF7" for c in ws[4])
    assert ws.freeze_panes == "A5"  # the rows scroll under the header
    assert ws.auto_filter.ref == "A4:F6"
    # Text never a formula, and without the control characters a worksheet refuses.
    assert ws["A5"].value == "'=1+1" and ws["A5"].data_type == "s"
    assert ws["A6"].value == "'@SUM(A1)"
    assert ws["B5"].value == "TrầnThị Bình"
    # Dates as dd/mm/yyyy, times as HH:MM dd/mm/yyyy, in the local time given (naive).
    assert (ws["C5"].value, ws["C5"].number_format) == (dt.datetime(2026, 3, 5), "dd/mm/yyyy")
    assert ws["D5"].value == dt.datetime(2026, 3, 8, 9, 30)
    assert ws["D5"].number_format == ws["D6"].number_format == "hh:mm dd/mm/yyyy"
    assert ws["D6"].value == dt.datetime(2026, 3, 8, 10, 0)
    assert (ws["E5"].value, ws["E6"].value) == (3, 2.5)
    assert ws["B6"].value is None
    # Widths: fitted (the longest of header and cells, plus 2), at least 8, at most 60.
    widths = {col: ws.column_dimensions[col].width for col in "ABCDEF"}
    assert widths == {"A": 11, "B": 14, "C": 12, "D": 18, "E": 8, "F": 60}


def test_list_workbook_without_subtitle_or_rows() -> None:
    ws = _sheet(_open(list_xlsx(title="Danh sách", subtitle=None, headers=["A", "B"], rows=[],
                                sheet="x")))  # fmt: skip
    assert ws["A2"].value is None
    assert [c.value for c in ws[3]] == ["A", "B"]
    assert ws.freeze_panes == "A4"
    assert ws.auto_filter.ref == "A3:B3"


def test_several_lists_in_one_workbook() -> None:
    """One sheet each, in order; tab names made valid and distinct."""
    sheets = [
        ListSheet("Đơn vị / người", "Một", None, ["X"], [["a"]]),
        ListSheet("Đơn vị / người", "Hai", "phụ", ["Y", "Z"], [[1, dt.date(2026, 1, 2)]]),
        ListSheet("Danh sách những người chưa trả lời khảo sát", "Ba", None, ["W"], []),
    ]
    book = _open(lists_xlsx(sheets))
    assert book.sheetnames == [
        "Đơn vị người",
        "Đơn vị người (2)",
        "Danh sách những người chưa trả ",  # 31 characters
    ]
    assert [_sheet(book, i)["A1"].value for i in range(3)] == ["Một", "Hai", "Ba"]
    second = _sheet(book, 1)
    assert [c.value for c in second[5]] == [1, dt.datetime(2026, 1, 2)]
    with pytest.raises(ValueError):
        lists_xlsx([])
