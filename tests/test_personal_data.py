"""What /dulieu gathers about one person, straight from the database: every kind of data of a
fixture person, nothing of the person next to them, the answers of an anonymous survey left
out (its participation kept), a case about them reported by someone else without the reporter,
and a fixed number of queries whatever the amount of data."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import event, select
from sqlmodel import col

from bot.reports.personal import to_json, to_xlsx
from bot.services import personal_data
from bot.services.conversation import SurveyRegistry
from storage.db import Database
from storage.models import (
    Answer,
    BenefitStatus,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Channel,
    ChatIdentity,
    ChatStage,
    Consent,
    ConsentDecision,
    CorrectionRequest,
    CorrectionStatus,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Participation,
    PendingLink,
    PendingStatus,
    Person,
    Response,
    ResponseState,
    SurveyRun,
    Unit,
    WelfareBenefit,
)
from surveys.loader import builtin_definitions
from surveys.schema import Option, Question, QuestionKind, SurveyDefinition
from tests.flow import seed_sample

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = dt.datetime(2026, 3, 8, 2, 30, tzinfo=dt.UTC)  # 09:30 on 08/03/2026 in Vietnam

SECRET_POLL = SurveyDefinition(
    key="secret_poll",
    version=1,
    title="Góp ý ẩn danh về bếp ăn",
    questions=(
        Question(
            "rating",
            QuestionKind.SINGLE,
            "Thầy/cô đánh giá bếp ăn thế nào?",
            options=(Option("good", "Tốt"), Option("bad", "Chưa tốt")),
        ),
    ),
    anonymous=True,
)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


async def seed(db: Database, registry: SurveyRegistry) -> dict[str, int]:
    """Thủy (BTX-005) with one of everything; Lâm (BTX-006) beside her with his own."""
    await seed_sample(db)
    async with db.session() as session:
        await registry.sync(session)
        people = {
            p.staff_code: p
            for p in (await session.execute(select(Person))).scalars()
            if p.staff_code in ("BTX-005", "BTX-006")
        }
        thuy, lam = people["BTX-005"], people["BTX-006"]
        assert thuy.id is not None and lam.id is not None
        cdcs = (
            await session.execute(select(Unit).where(col(Unit.code) == "DL-THPT-BTX"))
        ).scalar_one()
        assert cdcs.id is not None
        for p, ext in ((thuy, "5001"), (lam, "5002")):
            session.add(
                ChatIdentity(
                    channel=Channel.TELEGRAM,
                    external_id=ext,
                    person_id=p.id,
                    stage=ChatStage.LINKED,
                    created_at=at(0),
                )
            )
            session.add(
                Consent(
                    channel=Channel.TELEGRAM,
                    external_id=ext,
                    person_id=p.id,
                    decision=ConsentDecision.ACCEPTED,
                    text_version="2026.11-1",
                    decided_at=at(0),
                )
            )
        # Before linking, Thủy's chat asked an officer to link it (what she typed then).
        await session.flush()
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == "5001")
            )
        ).scalar_one()
        assert chat.id is not None
        session.add(
            PendingLink(
                chat_id=chat.id,
                full_name="Huynh Thi Thanh Thuy",
                phone="+84977812435",
                unit_id=cdcs.id,
                status=PendingStatus.CONFIRMED,
                person_id=thuy.id,
                created_at=at(-1),
                resolved_at=at(-0.5),
            )
        )
        activity = await registry.row_id(session, "activity_participation")
        secret = await registry.row_id(session, "secret_poll")
        runs: dict[str, int] = {}
        for key, definition_id in (("activity", activity), ("secret", secret)):
            run = SurveyRun(
                definition_id=definition_id,
                unit_id=cdcs.id,
                period_year=2026,
                period_label="2026-03" if key == "activity" else None,
                opens_at=at(0),
            )
            session.add(run)
            await session.flush()
            runs[key] = run.id or 0
        for p, took_part in ((thuy, "yes"), (lam, "no")):
            response = Response(
                run_id=runs["activity"],
                person_id=p.id,
                unit_id=p.unit_id,
                state=ResponseState.COMPLETED,
                started_at=at(1),
                completed_at=at(2),
            )
            session.add(response)
            await session.flush()
            values: dict[str, Any] = (
                {"participated": True, "activities": ["the_thao", "van_nghe"], "times": 3}
                if took_part == "yes"
                else {"participated": False}
            )
            for key, value in values.items():
                session.add(
                    Answer(
                        response_id=response.id or 0,
                        question_key=key,
                        value=json.dumps(value, ensure_ascii=False),
                        answered_at=at(1.5),
                    )
                )
        # Thủy's anonymous answer: cut from her on completion; only that she took part.
        cut = Response(
            run_id=runs["secret"],
            person_id=None,
            unit_id=thuy.unit_id,
            state=ResponseState.COMPLETED,
            started_at=at(3),
            completed_at=at(3.5),
        )
        session.add(cut)
        await session.flush()
        session.add(Answer(response_id=cut.id or 0, question_key="rating", value='"bad"'))
        session.add(Participation(run_id=runs["secret"], person_id=thuy.id, completed_at=at(3.5)))
        # Cases: Thủy's own; Lâm's report about Thủy (escalated); Lâm's own.
        own = Case(
            kind=CaseKind.HARDSHIP,
            reported_by=thuy.id,
            subject_person_id=thuy.id,
            subject_name=thuy.full_name,
            unit_id=thuy.unit_id,
            category="om_dau",
            description="Mẹ chồng nằm viện dài ngày",
            period_year=2026,
            created_at=at(4),
            updated_at=at(4),
        )
        about = Case(
            kind=CaseKind.HARDSHIP,
            reported_by=lam.id,
            subject_person_id=thuy.id,
            subject_name="Chị Thủy tổ Văn",
            unit_id=thuy.unit_id,
            category="gia_dinh",
            description="Lâm viết: chồng chị Thủy mất việc",
            period_year=2026,
            urgent=True,
            escalated_at=at(30),
            escalated_to_unit_id=(
                await session.execute(select(col(Unit.id)).where(col(Unit.code) == "LD-DL"))
            ).scalar_one(),
            created_at=at(5),
            updated_at=at(30),
        )
        lams = Case(
            kind=CaseKind.LEGAL,
            reported_by=lam.id,
            subject_person_id=lam.id,
            subject_name=lam.full_name,
            unit_id=lam.unit_id,
            category="luong",
            description="Hợp đồng của Lâm chưa được gia hạn",
            period_year=2026,
            created_at=at(6),
            updated_at=at(6),
        )
        session.add_all([own, about, lams])
        for p, offer in ((thuy, "du_lich"), (lam, "xe_dien")):
            session.add(
                WelfareBenefit(
                    person_id=p.id or 0,
                    unit_id=p.unit_id,
                    offer=offer,
                    status=BenefitStatus.CONFIRMED,
                    period_year=2026,
                    created_at=at(7),
                    confirmed_at=at(8),
                )
            )
        for p, title, acked in (
            (thuy, "Hội thao ngành giáo dục 2026", at(10)),
            (lam, "Gia hạn hợp đồng lao động", None),
        ):
            notice = Notice(
                scope_unit_id=cdcs.id,
                title=title,
                body=title,
                status=NoticeStatus.QUEUED,
                period_year=2026,
            )
            session.add(notice)
            await session.flush()
            session.add(
                Delivery(
                    kind=DeliveryKind.NOTICE,
                    notice_id=notice.id,
                    person_id=p.id,
                    text=title,
                    status=DeliveryStatus.SENT,
                    created_at=at(9),
                    sent_at=at(9),
                    acknowledged_at=acked,
                )
            )
        session.add(
            CorrectionRequest(
                person_id=thuy.id,
                field="phone",
                old_value="+84977812435",
                new_value="+84912345678",
                unit_id=cdcs.id,
                status=CorrectionStatus.PENDING,
                created_at=at(11),
            )
        )
        await session.flush()
        ids = {"thuy": thuy.id, "lam": lam.id, "own": own.id or 0, "about": about.id or 0}
    return ids


def registry() -> SurveyRegistry:
    return SurveyRegistry({**builtin_definitions(), "secret_poll": SECRET_POLL})


LAMS = (
    "Ngô Văn Lâm",
    "0357 690 218",
    "+84357690218",
    "Lâm viết",
    "Chị Thủy tổ Văn",
    "Hợp đồng của Lâm",
    "Gia hạn hợp đồng lao động",
    "xe_dien",
    "5002",
    "BTX-006",
)


async def test_everything_of_the_person_and_nothing_of_anyone_else(db: Database) -> None:
    reg = registry()
    ids = await seed(db, reg)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as session:
            data = await personal_data.gather(
                session, person_id=ids["thuy"], registry=reg, tz=TZ, locale="vi"
            )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    # person, chats, consents, responses, answers, participations, cases, the bodies above
    # the cases, benefits, notices, corrections, link requests: 12, however much there is.
    assert len(statements) == 12
    assert data is not None
    content = to_dict_json(data)
    assert content["person"] == {
        "full_name": "Huỳnh Thị Thanh Thủy",
        "phone": "+84977812435",
        "staff_code": "BTX-005",
        "unit": {"code": "BTX-VAN", "name": "Tổ công đoàn Ngữ văn"},
        "is_member": True,
        "gender": "female",
        "role": "member",
        "officer_unit": None,
        "tags": [],
        "work_status": "active",
        "left_on": None,
        "consent_withdrawn_at": None,
        "in_roster_since": content["person"]["in_roster_since"],  # the import's clock
    }
    assert content["person"]["in_roster_since"].endswith("+07:00")
    assert content["chats"] == [
        {
            "channel": "telegram",
            "account_id": "5001",
            "stage": "linked",
            "notices_stopped": False,
            "chosen_for_messages": False,
            "since": "2026-03-08T09:30:00+07:00",
        }
    ]
    assert content["consents"] == [
        {
            "channel": "telegram",
            "decision": "accepted",
            "text_version": "2026.11-1",
            "at": "2026-03-08T09:30:00+07:00",
        }
    ]
    assert content["link_requests"] == [
        {
            "full_name": "Huynh Thi Thanh Thuy",
            "phone": "+84977812435",
            "status": "confirmed",
            "asked_at": "2026-03-08T08:30:00+07:00",
            "resolved_at": "2026-03-08T09:00:00+07:00",
        }
    ]
    (response,) = content["survey_responses"]
    assert response["survey"] == "Tham gia hoạt động văn hóa, thể thao, tham quan, nghỉ mát"
    assert (response["period"], response["state"], response["anonymous_survey"]) == (
        "2026-03",
        "completed",
        False,
    )
    assert (response["started_at"], response["completed_at"]) == (
        "2026-03-08T10:30:00+07:00",
        "2026-03-08T11:30:00+07:00",
    )
    assert [(a["question"], a["value"]) for a in response["answers"]] == [
        ("participated", True),
        ("activities", ["the_thao", "van_nghe"]),
        ("times", 3),
    ]
    assert [a["shown"] for a in response["answers"]] == ["Có", "Thể dục thể thao, Văn nghệ", "3"]
    assert response["answers"][2]["prompt"] == (
        "Trong năm nay, thầy/cô đã tham gia tổng cộng khoảng bao nhiêu lần?"
    )
    # The anonymous survey: no answer, only the participation.
    assert content["anonymous_participations"] == [
        {
            "survey": "Góp ý ẩn danh về bếp ăn",
            "period": "2026",
            "completed_at": "2026-03-08T13:00:00+07:00",
        }
    ]
    assert "Chưa tốt" not in json.dumps(content, ensure_ascii=False)
    assert content["cases"] == [
        {
            "id": ids["own"],
            "kind": "hardship",
            "category": "Ốm đau, bệnh hiểm nghèo",
            "status": "reported",
            "urgent": False,
            "you_reported": True,
            "about_you": True,
            "reported_at": "2026-03-08T13:30:00+07:00",
            "updated_at": "2026-03-08T13:30:00+07:00",
            "visible_to": ["CĐCS Trường THPT Bùi Thị Xuân"],
            "subject_name": "Huỳnh Thị Thanh Thủy",
            "description": "Mẹ chồng nằm viện dài ngày",
        },
        {
            # Lâm's report about her: passed up to the district, which sees it too; not Lâm, nor
            # his words, nor the name he wrote.
            "id": ids["about"],
            "kind": "hardship",
            "category": "Hoàn cảnh gia đình đặc biệt khó khăn",
            "status": "reported",
            "urgent": True,
            "you_reported": False,
            "about_you": True,
            "reported_at": "2026-03-08T14:30:00+07:00",
            "updated_at": "2026-03-09T15:30:00+07:00",
            "visible_to": [
                "CĐCS Trường THPT Bùi Thị Xuân",
                "Công đoàn Giáo dục thành phố Đà Lạt",
            ],
        },
    ]
    assert content["welfare_benefits"] == [
        {
            "offer": "du_lich",
            "offer_label": "Tour du lịch, nghỉ dưỡng giá ưu đãi",
            "status": "confirmed",
            "year": 2026,
            "signed_up_at": "2026-03-08T16:30:00+07:00",
            "confirmed_at": "2026-03-08T17:30:00+07:00",
        }
    ]
    assert content["notices"] == [
        {
            "title": "Hội thao ngành giáo dục 2026",
            "status": "sent",
            "queued_at": "2026-03-08T18:30:00+07:00",
            "sent_at": "2026-03-08T18:30:00+07:00",
            "acknowledged_at": "2026-03-08T19:30:00+07:00",
        }
    ]
    assert content["correction_requests"] == [
        {
            "field": "phone",
            "old_value": "+84977812435",
            "new_value": "+84912345678",
            "status": "pending",
            "asked_at": "2026-03-08T20:30:00+07:00",
            "decided_at": None,
        }
    ]
    text = json.dumps(content, ensure_ascii=False)
    for other in LAMS:
        assert other not in text, other

    book = load_workbook(io.BytesIO(to_xlsx(data, "vi")))
    cells = [
        str(v)
        for ws in book.worksheets
        for row in ws.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    for expected in (
        "Huỳnh Thị Thanh Thủy",
        "0977 812 435",
        "Tổ công đoàn Ngữ văn",
        "Nữ",
        "Mẹ chồng nằm viện dài ngày",
        "Ốm đau, bệnh hiểm nghèo",
        "Người khác báo cáo về tôi",
        "CĐCS Trường THPT Bùi Thị Xuân, Công đoàn Giáo dục thành phố Đà Lạt",
        "Tour du lịch, nghỉ dưỡng giá ưu đãi",
        "Hội thao ngành giáo dục 2026",
        "19:30 08/03/2026",
        "Góp ý ẩn danh về bếp ăn",
        "Thể dục thể thao, Văn nghệ",
        "0912 345 678",
        "Huynh Thi Thanh Thuy",
    ):
        assert expected in cells, expected
    joined = " ".join(cells)
    for other in (*LAMS, "Chưa tốt"):
        assert other not in joined, other
    answers = list(book["Câu trả lời khảo sát"].iter_rows(min_row=2, values_only=True))
    assert [row[:4] for row in answers] == [
        (
            "Tham gia hoạt động văn hóa, thể thao, tham quan, nghỉ mát",
            "2026-03",
            "Đã gửi",
            "11:30 08/03/2026",
        )
    ] * 3
    assert [row[5] for row in answers] == ["Có", "Thể dục thể thao, Văn nghệ", "3"]


def to_dict_json(data: personal_data.PersonalData) -> dict[str, Any]:
    """The JSON file as a member's program reads it back."""
    raw = to_json(data)
    decoded: dict[str, Any] = json.loads(raw.decode("utf-8"))
    assert "Huỳnh".encode() in raw  # UTF-8 as is, not \\u escapes
    return decoded


async def test_a_formula_typed_by_a_member_stays_text_in_the_workbook(db: Database) -> None:
    reg = registry()
    ids = await seed(db, reg)
    async with db.session() as session:
        case = await session.get(Case, ids["own"])
        assert case is not None
        case.description = '=HYPERLINK("http://x.example","bấm")'
    async with db.session() as session:
        data = await personal_data.gather(
            session, person_id=ids["thuy"], registry=reg, tz=TZ, locale="vi"
        )
    assert data is not None
    book = load_workbook(io.BytesIO(to_xlsx(data, "vi")))
    row = next(book["Trường hợp, vụ việc"].iter_rows(min_row=2, values_only=True))
    assert row[7] == '\'=HYPERLINK("http://x.example","bấm")'


async def test_who_sees_a_case_passed_up_is_whom_it_went_to(db: Database) -> None:
    """ "Who can see it" names the body the case was passed up to, as /cases decides: the
    province when the district had nobody to write to (not the next body up), and the CĐCS
    alone when nobody above could be written to."""
    reg = registry()
    ids = await seed(db, reg)
    shown: list[list[str]] = []
    for to in ("LD", None):
        async with db.session() as session:
            case = await session.get(Case, ids["about"])
            assert case is not None
            case.escalated_to_unit_id = (
                (
                    await session.execute(select(col(Unit.id)).where(col(Unit.code) == to))
                ).scalar_one()
                if to is not None
                else None
            )
        async with db.session() as session:
            data = await personal_data.gather(
                session, person_id=ids["thuy"], registry=reg, tz=TZ, locale="vi"
            )
        assert data is not None
        shown += [list(c.visible_to) for c in data.cases if c.id == ids["about"]]
    assert shown == [
        ["CĐCS Trường THPT Bùi Thị Xuân", "Công đoàn Giáo dục tỉnh Lâm Đồng"],
        ["CĐCS Trường THPT Bùi Thị Xuân"],
    ]


async def test_a_control_character_typed_by_a_member_does_not_break_the_workbook(
    db: Database,
) -> None:
    """Text pasted from elsewhere can hold characters a worksheet refuses (a vertical tab);
    the workbook leaves them out instead of failing the member's export."""
    reg = registry()
    ids = await seed(db, reg)
    async with db.session() as session:
        case = await session.get(Case, ids["own"])
        assert case is not None
        case.description = "Mẹ chồng\x0bnằm viện\x1f"
    async with db.session() as session:
        data = await personal_data.gather(
            session, person_id=ids["thuy"], registry=reg, tz=TZ, locale="vi"
        )
    assert data is not None
    book = load_workbook(io.BytesIO(to_xlsx(data, "vi")))
    row = next(book["Trường hợp, vụ việc"].iter_rows(min_row=2, values_only=True))
    assert row[7] == "Mẹ chồngnằm viện"


async def test_an_officers_data_is_their_own_record_not_what_they_handle(db: Database) -> None:
    """Mai Anh, chair of Thủy's CĐCS, was alerted about Thủy's case, moved it on, decided
    Thủy's correction and resolved her link request: what she holds as an officer is the
    members' data, not hers.  /dulieu gives her own record (her office included) and nothing
    of what she handled."""
    reg = registry()
    ids = await seed(db, reg)
    async with db.session() as session:
        chair = (
            await session.execute(select(Person).where(col(Person.staff_code) == "BTX-001"))
        ).scalar_one()
        assert chair.id is not None
        session.add(
            CaseEvent(case_id=ids["own"], to_status=CaseStatus.VISITED, changed_by=chair.id)
        )
        session.add(
            Delivery(
                kind=DeliveryKind.MESSAGE,
                person_id=chair.id,
                text="🚨 Trường hợp khẩn cấp #1",
                status=DeliveryStatus.SENT,
            )
        )
        for request in (await session.execute(select(CorrectionRequest))).scalars():
            request.decided_by = chair.id
        for link in (await session.execute(select(PendingLink))).scalars():
            link.resolved_by = chair.id
    async with db.session() as session:
        data = await personal_data.gather(
            session, person_id=chair.id, registry=reg, tz=TZ, locale="vi"
        )
    assert data is not None and data.record is not None
    assert (data.record.full_name, data.record.role, data.record.officer_unit_name) == (
        "Lê Thị Mai Anh",
        "officer",
        "CĐCS Trường THPT Bùi Thị Xuân",
    )
    assert (data.chats, data.consents, data.responses, data.cases) == ((), (), (), ())
    assert (data.notices, data.corrections, data.link_requests) == ((), (), ())
    text = to_json(data).decode("utf-8")
    for theirs in ("Thủy", "Thuy", "0977 812 435", "+84977812435", "Mẹ chồng", "🚨"):
        assert theirs not in text, theirs
