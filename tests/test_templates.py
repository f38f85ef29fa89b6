"""Templates and the English catalog.

Every template renders in Vietnamese (the source language) and English with a realistic context
(StrictUndefined makes a missing variable fail); the English output is really translated; the
catalog covers exactly what Babel extracts, with the same placeholders; every label macro
renders; and the output is HTML that Telegram accepts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gettext
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.runtime import Macro

from bot.indicators.catalog import Target, TargetKind
from bot.indicators.compute import (
    ChildResult,
    CoverageKind,
    Figure,
    IndicatorResult,
    NotComputed,
    StatsReport,
)
from bot.services import personal_data as _pd
from bot.services.conversation import Offer, Screen, ScreenKind
from bot.texts import environment, label, render, template_names
from storage.models import AuditAction, ResponseState, UnitKind
from surveys.engine import ERROR_CODES
from surveys.loader import builtin_definitions
from surveys.schema import Option, Question, QuestionKind, SurveyDefinition

ROOT = Path(__file__).resolve().parents[1]
PO_FILE = ROOT / "bot" / "locales" / "en" / "LC_MESSAGES" / "messages.po"
LOCALES = ("vi", "en")

# Templates made only of macros: their body renders nothing, the macros are tested one by one.
MACRO_TEMPLATES = ("labels.txt", "demo/ui.txt", "report/labels.txt", "member/data_labels.txt")

# --------------------------------------------------------------------------- fake data

NAME = "Trần Văn Bình"
UNIT = SimpleNamespace(name="Trường THCS Nguyễn Du")
WHEN = dt.datetime(2026, 3, 8, 9, 30)
ZALO_ID = "e4ea2cd5189df1c3a88c"
PERSON = SimpleNamespace(full_name=NAME)
CASE = SimpleNamespace(
    id=17,
    subject_name="Lê Thị Hoa",
    description="Bị tai nạn giao thông, phải nghỉ dạy hai tháng.",
    created_at=WHEN,
    kind="hardship",
    urgent=False,
)
PENDING_ITEM = SimpleNamespace(
    pending=SimpleNamespace(id=12, full_name="Phạm Minh Tuấn", created_at=WHEN), unit=UNIT
)
WELFARE_ITEM = SimpleNamespace(person=PERSON, unit=UNIT, benefit=SimpleNamespace(created_at=WHEN))
RUN = SimpleNamespace(
    title="Tham gia hoạt động", unit_name="Công đoàn Giáo dục Đà Lạt", completed=12, started=15
)
SCOPE_NAME = "Công đoàn Giáo dục tỉnh Lâm Đồng"
CHILD_NAMES = (
    "Trường THPT Trần Phú",
    "Trường TH Lê Lợi",
    "Trường MN Hoa Sen",
    "Trường THCS Quang Trung",
)
# more units of the /stats sample: one nobody answered in, one where too few did, a district
# that has not reported, one with no unit the indicator concerns
MORE_UNIT_NAMES = (
    "Trường TH Kim Đồng",
    "Trường THCS Chu Văn An",
    "Huyện Đức Trọng",
    "Huyện Lạc Dương",
)
# /left: what was checked or changed (a LeaveResult; statuses are WorkStatus values).
LEFT_RETIRED = SimpleNamespace(
    person=PERSON, unit=UNIT, status="retired", left_on=dt.date(2025, 6, 30),
    old_status="active", old_left_on=None, date_text=None,
)  # fmt: skip
LEFT_BACK = SimpleNamespace(
    person=PERSON, unit=UNIT, status="active", left_on=None,
    old_status="moved", old_left_on=dt.date(2025, 6, 30), date_text=None,
)  # fmt: skip
LEFT_MOVED = SimpleNamespace(
    person=PERSON, unit=UNIT, status="moved", left_on=None,
    old_status="retired", old_left_on=None, date_text=None,
)  # fmt: skip
LEFT_NONE = SimpleNamespace(
    person=None, unit=None, status=None, left_on=None,
    old_status=None, old_left_on=None, date_text="31/02/2025",
)  # fmt: skip
MEMBER_COMMANDS = ("/start", "/help", "/surveys", "/privacy", "/stop", "/cancel")
OFFICER_COMMANDS = (*MEMBER_COMMANDS, "/pending", "/survey", "/stats", "/cases", "/invite")
# bot.demo.Persona: number, kind, name, unit, invite, commands (every command once linked) and
# phone (as displayed); on Zalo the member links with an invitation code too.
PERSONAS = [
    SimpleNamespace(
        number=1, kind="member", name="Nguyễn Thị Mai", unit="Trường TH Kim Đồng", invite="",
        commands=MEMBER_COMMANDS, phone="0387 556 120",
    ),
    SimpleNamespace(
        number=2, kind="officer", name="Võ Thị Hằng", unit="Trường THPT Bùi Thị Xuân", invite="",
        commands=OFFICER_COMMANDS, phone="0918 402 367",
    ),
    SimpleNamespace(
        number=3, kind="admin", name="Đặng Thu Hà", unit="Công đoàn Giáo dục tỉnh", invite="",
        commands=(*OFFICER_COMMANDS, "/role"), phone="0913 620 145",
    ),
    SimpleNamespace(
        number=4, kind="newcomer", name="Hồ Văn Nam", unit="Trường TH Kim Đồng", invite="KD2026",
        commands=MEMBER_COMMANDS, phone="0912 345 678",
    ),
]  # fmt: skip
ZALO_PERSONAS = [SimpleNamespace(**{**vars(p), "invite": p.invite or "KD2026"}) for p in PERSONAS]
DEFINITIONS = builtin_definitions()
ACTIVITY = DEFINITIONS["activity_participation"]
UNIT_REPORT = DEFINITIONS["unit_report"]
HARDSHIP = DEFINITIONS["hardship_case"]
LEGAL = DEFINITIONS["legal_consultation"]
WELFARE = DEFINITIONS["welfare_signup"]

# Questions of each kind and shape, in a definition of their own.
EXTRA_QUESTIONS = (
    Question("count", QuestionKind.INTEGER, "Số con dưới 6 tuổi?"),
    Question("born", QuestionKind.DATE, "Ngày sinh của cháu?", hint="Theo giấy khai sinh."),
    Question("free", QuestionKind.TEXT, "Ý kiến khác?", required=False),
    Question(
        "pick",
        QuestionKind.SINGLE,
        "Khối lớp?",
        options=(Option("primary", "Tiểu học"), Option("lower", "THCS")),
        required=False,
    ),
)
EXTRA = SurveyDefinition(
    key="extra",
    version=1,
    title="Khảo sát thử",
    questions=EXTRA_QUESTIONS,
    intro="Khảo sát ngắn.",
    anonymous=True,
)

# Strings that are data, not catalog text: they stay Vietnamese in English output.
PROPER_NOUNS = ("Lâm Đồng", "Đà Lạt", "CĐCS", "CBNGNLĐ", "Nguyễn Thị Lan")


def _definition_strings(defn: SurveyDefinition) -> Iterator[str]:
    yield from (defn.title, defn.intro)
    for q in defn.questions:
        yield q.prompt
        yield q.hint or ""
        yield from (opt.label for opt in q.options)


DATA_STRINGS = sorted(
    {
        s
        for s in (
            NAME,
            UNIT.name,
            CASE.subject_name,
            CASE.description,
            PENDING_ITEM.pending.full_name,
            RUN.title,
            RUN.unit_name,
            SCOPE_NAME,
            *CHILD_NAMES,
            *MORE_UNIT_NAMES,
            "Xe đạp điện giảm 10%",
            "Ốm đau",
            "Bảo Lộc",
            *(p.name for p in PERSONAS),
            *(p.unit for p in PERSONAS),
            *PROPER_NOUNS,
            *(s for d in (*DEFINITIONS.values(), EXTRA) for s in _definition_strings(d)),
        )
        if s
    },
    key=len,
    reverse=True,
)

# Letters that only Vietnamese uses (đ, ă, â, ê, ô, ơ, ư and the tone marks on vowels).
VIETNAMESE = re.compile(
    "[đăâêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]", re.IGNORECASE
)

# --------------------------------------------------------------------------- the stats report


def _target(kind: TargetKind, value: str | None = None, **kw: Any) -> Target:
    return Target(kind, Decimal(value) if value is not None else None, **kw)


def _figure(num: int, den: int, target: Target, met: bool | None) -> Figure:
    return Figure(num, den, num / den if den else None, target, met, den, den)


def _stats_report() -> StatsReport:
    min75 = _target(TargetKind.MIN, "75", phase=2025)
    no_sides = {"public": _figure(0, 0, min75, None), "non_public": _figure(0, 0, min75, None)}
    children = tuple(
        ChildResult(n, 4, n / 4, min75, n * 4 >= 12, 4, 5, unit_id=i, code=f"C{i}", name=name)
        for i, (n, name) in enumerate(zip((4, 3, 1, 0), CHILD_NAMES, strict=True), start=1)
    )
    direct = ChildResult(0, 0, None, min75, None, 0, 0, unit_id=9, name=UNIT.name, direct=True)
    # a school nobody answered in (of 5), and one where 1 of 6 did: no verdict
    silent = ChildResult(0, 0, None, min75, None, 0, 5, unit_id=10, name=MORE_UNIT_NAMES[0])
    few = ChildResult(
        1, 1, 1.0, min75, None, 1, 6, enough=False, unit_id=11, name=MORE_UNIT_NAMES[1]
    )
    exact = _target(TargetKind.EXACT, "100")
    # unit reports: a CĐCS that has not reported, and a district with no CĐCS it concerns
    unreported = ChildResult(0, 0, None, exact, None, 0, 2, unit_id=12, name=MORE_UNIT_NAMES[2])
    unconcerned = ChildResult(0, 0, None, exact, None, 0, 0, unit_id=13, name=MORE_UNIT_NAMES[3])
    rows = (
        IndicatorResult(
            8, 20, 0.4, min75, False, 12, 20,
            code="A3c", name_vi="Đoàn viên tham gia", name_en="Members taking part",
            coverage_kind=CoverageKind.RESPONDENTS,
            by_public={
                "public": _figure(5, 16, min75, False),
                "non_public": _figure(3, 4, min75, True),
            },
            by_child=(*children, direct, silent, few),
        ),
        IndicatorResult(
            17, 22, 17 / 22, _target(TargetKind.EXACT, "100"), False, 6, 17,
            code="A3a", name_vi="Đoàn viên được hỗ trợ", name_en="Members supported",
            by_public={"public": _figure(17, 22, min75, False), "non_public": no_sides["public"]},
        ),
        IndicatorResult(
            3, 20, 0.15, _target(TargetKind.MIN, "20"), None, 4, 20, enough=False,
            code="A3x", name_vi="Đăng ký phúc lợi", name_en="Benefits", subject="member",
            coverage_kind=CoverageKind.SIGNUPS,
            by_public=no_sides,
        ),
        IndicatorResult(
            3, 2, 1.5, _target(TargetKind.PER_UNIT_AVERAGE, "1.5"), True, 3, 3, apart=2,
            code="B1", name_vi="Hoạt động mỗi CĐCS", name_en="Activities per CĐCS",
            coverage_kind=CoverageKind.CASES,
            by_public=no_sides,
        ),
        IndicatorResult(
            0, 0, None, _target(TargetKind.NONE, label_vi="Hầu hết", label_en="Almost all"), None,
            0, 0, code="A3b", name_vi="Khó khăn được thăm hỏi", name_en="Hardship cases visited",
            coverage_kind=CoverageKind.CASES,
            by_public=no_sides,
        ),
        IndicatorResult(
            20, 22, 20 / 22, _target(TargetKind.NONE, split=True), None, 20, 50,
            fallback_units=2,
            code="A5", name_vi="Danh sách", name_en="Roster",
            coverage_kind=CoverageKind.ROSTER,
            by_public=no_sides,
        ),
        IndicatorResult(
            9, 20, 0.45, _target(TargetKind.EXACT, "100"), False, 15, 20,
            code="A1", name_vi="Tiếp nhận thông tin", name_en="Informed",
            coverage_kind=CoverageKind.RECIPIENTS,
            by_public={
                "public": Figure(1, 10, 0.1, exact, None, 2, 10, enough=False),
                "non_public": _figure(8, 10, exact, False),
            },
        ),
        IndicatorResult(
            2, 4, 0.5, _target(TargetKind.EXACT, "100"), False, 3, 4,
            code="A2a", name_vi="Đối thoại định kỳ", name_en="Periodic dialogue",
            coverage_kind=CoverageKind.REPORTS,
            by_public={
                "public": Figure(1, 1, 1.0, exact, None, 1, 3, enough=False),
                "non_public": _figure(1, 3, exact, False),
            },
            by_child=(unreported, unconcerned),
        ),
        IndicatorResult(
            1, 2, 0.5, _target(TargetKind.NONE), None, 1, 2, code="C1", name_vi="Khác",
            name_en="Other",
            by_public=no_sides,
        ),
        IndicatorResult(
            224_000, 250_000, 0.896, min75, True, 3, 5,
            code="P5", name_vi="Thu tài chính", name_en="Finance collected", subject="money",
            coverage_kind=CoverageKind.REPORTS, upper_levels=True,
            by_public=no_sides,
        ),
    )  # fmt: skip
    return StatsReport(
        scope_id=1,
        scope_name=SCOPE_NAME,
        scope_code="LD",
        scope_kind=UnitKind.PROVINCE,
        scope_is_public=True,
        year=2025,
        rows=rows,
        not_computed=(NotComputed("A1", "Một", "One"), NotComputed("A2a", "Hai", "Two")),
    )


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class LocalLabel:
    """A label in the locale of the message, as the handlers pass it (e.g. a case status)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """A template rendered with a context; ``en`` must appear in the English output;
    ``allowed`` are Vietnamese words the English output may keep besides the data."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    en: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    def context_for(self, locale: str) -> dict[str, Any]:
        return {
            key: label(value.name, locale, **value.args) if isinstance(value, LocalLabel) else value
            for key, value in self.context.items()
        }

    @property
    def id(self) -> str:
        return f"{self.template}:{'/'.join(self.en)[:40]}"


def _q(defn: SurveyDefinition, key: str, index: int = 2, **kw: Any) -> Screen:
    counts = {"total": len(defn.questions), "total_max": len(defn.questions), **kw}
    return Screen(
        ScreenKind.QUESTION,
        response_id=1,
        definition=defn,
        question=defn.question(key),
        index=index,
        **counts,
    )


def _confirm_stop(answered: int) -> Screen:
    return Screen(
        ScreenKind.CONFIRM_STOP,
        response_id=1,
        definition=ACTIVITY,
        summary=[(q, "Có") for q in ACTIVITY.questions[:answered]],
    )


def _question_cases() -> list[Case]:
    multi = ACTIVITY.question("activities")
    return [
        Case("survey/question.txt", {"screen": _q(ACTIVITY, "participated", 1)},
             ("Question 1/5", "Press «Yes» or «No»")),
        Case("survey/question.txt",
             {"screen": _q(ACTIVITY, "participated", 1, total=3, total_max=4)},
             ("Question 1/3–4",)),
        Case("survey/question.txt",
             {"screen": _q(ACTIVITY, "activities", selected=(multi.options[1].value,))},
             ("Question 2/5", "Choose one or more items", " ☑️")),
        Case("survey/question.txt", {"screen": _q(ACTIVITY, "times", 3)},
             ("Type a number from 1 to 100.",)),
        Case("survey/question.txt", {"screen": _q(ACTIVITY, "reason", 4)}, ("Press an option",)),
        Case("survey/question.txt", {"screen": _q(ACTIVITY, "suggestion", 5)},
             ("Type your answer (at most 500 characters).", "This question is optional")),
        Case("survey/question.txt", {"screen": _q(HARDSHIP, "colleague_phone", 3)},
             ("Type a phone number",)),
        Case("survey/question.txt", {"screen": _q(EXTRA, "count", 1)},
             ("Anonymous survey", "Question 1/4", "Type a whole number.")),
        Case("survey/question.txt", {"screen": _q(EXTRA, "born")},
             ("Type the date as day/month/year",)),
        Case("survey/question.txt", {"screen": _q(EXTRA, "free", 3)},
             ("Type your answer.", "press «Skip» or type «skip»")),
        Case("survey/question.txt", {"screen": _q(EXTRA, "pick", 4)},
             ("Press an option", "This question is optional")),
    ]  # fmt: skip


# The English message of each engine error code, on a question it can occur on.
ERROR_CASES: dict[str, tuple[SurveyDefinition, str, dict[str, Any], str]] = {
    "required": (ACTIVITY, "participated", {}, "This question is required"),
    "not_a_choice": (ACTIVITY, "reason", {}, "does not match any option"),
    "not_yes_no": (ACTIVITY, "participated", {}, "Please press «Yes» or «No»"),
    "empty_selection": (ACTIVITY, "activities", {}, "at least one item before pressing «Done»"),
    "not_integer": (ACTIVITY, "times", {}, "whole number (digits only)"),
    "magnitude_word": (UNIT_REPORT, "finance_due", {"word": "tr"}, "without the word «tr»"),
    "out_of_range": (ACTIVITY, "times", {"min": 1, "max": 100}, "must be from 1 to 100"),
    "too_long": (ACTIVITY, "suggestion", {"max_length": 500}, "too long: at most 500 characters"),
    "bad_date": (EXTRA, "born", {}, "Invalid date"),
    "bad_phone": (HARDSHIP, "colleague_phone", {}, "Invalid phone number"),
    "wrong_type": (EXTRA, "count", {}, "That answer is not valid"),
}


def _error_cases() -> list[Case]:
    cases = []
    for code in ERROR_CODES:
        defn, key, params, en = ERROR_CASES[code]
        screen = _q(defn, key, 1, error_code=code, error_params=params)
        cases.append(Case("survey/question.txt", {"screen": screen}, ("⚠️ ", en)))
        cases.append(Case("survey/invalid.txt", {"screen": screen}, (en,)))
    # out_of_range and too_long without params take the bounds from the question
    cases.append(
        Case(
            "survey/invalid.txt",
            {"screen": _q(ACTIVITY, "times", error_code="out_of_range")},
            ("must be from 1 to 100",),
        )
    )
    cases.append(Case("survey/invalid.txt",
                      {"screen": _q(ACTIVITY, "suggestion", error_code="too_long")},
                      ("at most 500 characters",)))  # fmt: skip
    return cases


def _summary(defn: SurveyDefinition, shown: list[str]) -> Screen:
    return Screen(
        ScreenKind.SUMMARY,
        response_id=1,
        definition=defn,
        summary=list(zip(defn.questions, shown, strict=True)),
        can_go_back=True,
    )


def _done(defn: SurveyDefinition) -> Screen:
    return Screen(ScreenKind.DONE, response_id=1, definition=defn, case_id=3)


def _offers() -> list[Offer]:
    return [
        Offer("activity_participation", ACTIVITY.title, 1, RUN.unit_name, ResponseState.COMPLETED),
        Offer("hardship_case", HARDSHIP.title, None, None, ResponseState.IN_PROGRESS),
        Offer("welfare_signup", WELFARE.title, None, None, None),
    ]


CASES: list[Case] = [
    Case("error.txt", {}, ("Sorry, something went wrong",)),
    Case("stale.txt", {}, ("This button is outdated",)),
    Case("stats.txt", {"report": _stats_report()},
         ("📊 <b>Indicators for 2025</b>", "8/20 = 40% · ❌ Not met",
          "Target: ≥ 75% (milestone 2025)",
          "Coverage: 12/20 people answered", "Public: 5/16 = 31,2% ❌ · Non-public: 3/4 = 75% ✅",
          "(directly)", "Coverage: 6/17 people answered ⚠️ under 50%: not enough to judge",
          "Target: ≥ 1,5 per CĐCS", "✅ Met", "Cases: 3", "Target: Almost all", "no cases yet",
          "Target: by public / non-public units", "Roster: 20/50 staff ⚠️ the roster lists",
          "Coverage: 15/20 members received notices", "Coverage: 3/4 CĐCS sent their report",
          "3/2 = 1,50 · ✅ Met", "2 CĐCS without a staff count", "no data yet",
          "224.000/250.000 thousand VND = 89,6% · ✅ Met",
          "Coverage: 3/5 union bodies (all levels) sent their report",
          "Not computed in this version: A1, A2a",
          "Trường TH Kim Đồng: nobody has answered",
          "Trường THCS Chu Văn An: 1/1 = 100% ⚠️ not enough data (1/6 answered)",
          "Huyện Đức Trọng: no report yet", "Huyện Lạc Dương: no unit concerned",
          "Not members (handled, not counted in the indicator): 2 case(s)",
          "Public: 1/10 = 10% ⚠️ not enough data (2/10 received the notices)",
          "Public: 1/1 = 100% ⚠️ not enough data (1/3 reported)",
          "3/20 = 15% · ⚠️ not enough data (4/20 signed up)",
          "Coverage: 4/20 members signed up for benefits",
          "Rate = numerator/denominator")),
    Case("stats.txt", {"report": _stats_report(), "child_limit": 2}, ("… and 5 more units",)),
    Case("indicator.txt",
         {"report": _stats_report(), "row": _stats_report().rows[0],
          "children": _stats_report().rows[0].by_child},
         ("📊 <b>A3c</b> · Members taking part", "Indicators for 2025", "8/20 = 40% · ❌ Not met",
          "<b>Public</b>: 5/16 = 31,2% ❌ (≥ 75% (milestone 2025))",
          "By unit (furthest below target first):", "(directly): no data yet")),
    Case("indicator.txt",
         {"report": _stats_report(), "row": _stats_report().rows[3], "children": ()},
         ("no cases yet", "<b>Public</b>: no cases yet")),
    Case("officer/indicator_unknown.txt", {"text": "Z9", "codes": ["A1", "A3c"]},
         ("There is no indicator «Z9».", "CODE being one of: A1, A3c.")),
    Case("officer/indicator_unknown.txt", {"text": None, "codes": ["A1"]},
         ("Type /indicator CODE",)),
    Case("officer/report_caption.txt", {"report": _stats_report(), "chart": False},
         ("📑 Indicator report for 2025: ", "printable on A4")),
    Case("officer/report_caption.txt", {"report": _stats_report(), "chart": True},
         ("📈 Rate against target, 2025: ",)),
    # member/
    Case("member/ask_contact.txt", {"invite_unit": UNIT, "bad_invite": True},
         ("The invitation code is wrong", "a union officer of")),
    Case("member/ask_contact.txt", {"invite_unit": None, "bad_invite": False},
         ("If you would rather not share your number",)),
    # member/ask_details.txt: linking on Zalo, where there is no contact button
    Case("member/ask_details.txt", {"invite_unit": UNIT, "bad_invite": True},
         ("⚠️ The invitation code is wrong or has expired; you can still link with your full "
          "name and phone number.", "To link to the union member roster of <b>",
          "<b>full name and phone number</b> in one message, for example: Nguyễn Thị Lan",
          "you are linked right away; if not, a union officer will confirm your request.",
          "Your phone number is only used to find you on your unit's roster.")),
    Case("member/ask_details.txt", {"invite_unit": None, "bad_invite": False},
         ("please type the <b>invitation code</b> your grassroots union sent you",
          "Without an invitation code, your request will wait for a union officer",
          "Your phone number is only used to find you")),
    Case("member/cancelled.txt", {"title": ACTIVITY.title}, ("Stopped the survey",)),
    Case("member/cancelled.txt", {"title": None}, ("Nothing is in progress.",)),
    Case("member/consent.txt", {"invite_unit": UNIT, "version": "2026-01"},
         ("Welcome to the contact channel", "You were invited by the unit",
          "<b>Your rights:</b>", "Notice version: 2026-01")),
    Case("member/consent.txt", {"invite_unit": None, "version": "2026-01"},
         ("<b>Data collected:</b>", "Telegram account ID")),
    Case("member/consent.txt",
         {"invite_unit": None, "version": "2026-01", "zalo_id": ZALO_ID},
         ("<b>Data collected:</b>", "the Zalo account ID the union uses to send you messages "
          f"(<code>{ZALO_ID}</code>)")),
    Case("member/consent_accepted.txt", {}, ("Thank you for agreeing",)),
    Case("member/privacy_notice.txt", {}, ("<b>Data collected:</b>", "<b>Your rights:</b>")),
    Case("member/privacy.txt",
         {"version": "2026-01", "decision": "withdrawn", "agreed_version": "2026-01",
          "when": WHEN},
         ("You withdrew your consent at 09:30 08/03/2026: the bot sends you no more notices",
          "Type /dulieu to see and download your data", "/xoadulieu to erase your data",
          "every view is recorded")),
    Case("member/privacy.txt",
         {"version": "2026-01", "decision": "accepted", "agreed_version": "2025-12", "when": WHEN},
         ("<b>Personal data processing notice</b>", "<b>Data collected:</b>",
          "✅ You agreed to this notice (version 2025-12) at 09:30 08/03/2026.",
          "Notice version: 2026-01")),
    Case("member/privacy.txt",
         {"version": "2026-01", "decision": "declined", "agreed_version": "", "when": None},
         ("You did not agree", "Type /start if you change your mind")),
    Case("member/privacy.txt",
         {"version": "2026-01", "decision": None, "agreed_version": "", "when": None},
         ("You have not said yet whether you agree",)),
    Case("member/privacy.txt",
         {"version": "2026-01", "decision": "accepted", "agreed_version": "2026-01", "when": WHEN,
          "zalo_id": ZALO_ID},
         ("<b>Personal data processing notice</b>", f"(<code>{ZALO_ID}</code>)",
          "<b>Your rights:</b>")),
    Case("member/role_changed.txt",
         {"role": LocalLabel("role_name", {"role": "officer"}), "scope": UNIT},
         ("🔑 Your role on the union channel has been updated: <b>Union officer</b>, in charge "
          "of <b>", "Your command menu now matches your new role")),
    Case("member/role_changed.txt",
         {"role": LocalLabel("role_name", {"role": "member"}), "scope": None},
         ("<b>Member or staff (no officer rights)</b>.",)),
    Case("member/consent_declined.txt", {}, ("You did not agree", "type /start")),
    *(Case("member/contact_problem.txt", {"problem": problem}, (en,)) for problem, en in (
        ("not_own_contact", "share your own phone number"),
        ("bad_phone", "not a valid Vietnamese phone number"),
        ("need_details", "Please type your full name and phone number in one message, for "
                         "example: <b>Nguyễn Thị Lan 0912345678</b>."),
        ("bad_name", "Please type your full name"),
        ("already_linked", "already linked"),
        ("no_consent", "agree to the personal data processing notice"),
    )),
    Case("member/forbidden.txt", {}, ("authorised union officers",)),
    Case("member/help.txt", {"linked": False, "officer": False, "admin": False},
         ("<b>User guide</b>", "/start — get started", "/help — this guide",
          "/privacy — read the personal data notice again")),
    Case("member/help.txt", {"linked": True, "officer": True, "admin": True},
         ("/surveys — open surveys", "/cancel — stop", "/stop — stop receiving",
          "For union officers", "/pending — ", "/survey — open a survey", "/stats [unit] [year]",
          "/cases — hardship", "/welfare — confirm", "/invite [unit]", "For administrators",
          "/role PHONE", "/stats and /cases cover every unit")),
    Case("member/linked.txt", {"person": PERSON, "unit": UNIT},
         ("Linked successfully! Hello <b>", "Unit: ", "From now on")),
    Case("member/linked.txt", {"person": PERSON, "unit": None}, ("Linked successfully!",)),
    Case("member/not_linked.txt", {}, ("You are not linked",)),
    Case("member/pending.txt", {"typed": False},
         ("Your link request is waiting", "Share phone number")),
    Case("member/pending.txt", {"typed": True},
         ("Your link request is waiting", "If you have your unit's invitation code, type the "
          "code, then type your full name and phone number again")),
    Case("member/pending_decided.txt", {"confirmed": True, "person": PERSON, "unit": UNIT},
         ("A union officer has confirmed you",)),
    Case("member/pending_decided.txt", {"confirmed": False}, ("was not confirmed",)),
    Case("member/queued.txt", {"unit": UNIT}, ("could not find you", "union officers of <b>")),
    Case("member/queued.txt", {"unit": None}, ("passed to the union officers for confirmation",)),
    # member/channel_chosen.txt: /kenh, the channel of a person on Telegram and Zalo
    *(Case("member/channel_chosen.txt", {"channel": channel, "changed": changed}, (en,
           "To switch channels, type /kenh on the other channel.")) for channel, changed, en in (
        ("zalo", True, "📬 From now on, union announcements, survey invitations and reminders "
                       "reach you on <b>Zalo</b>, each message only once."),
        ("telegram", True, "reach you on <b>Telegram</b>, each message only once."),
        ("zalo", False, "📬 You had already chosen to receive messages on <b>Zalo</b>."),
        ("telegram", False, "📬 You had already chosen to receive messages on <b>Telegram</b>."),
    )),
    Case("member/stopped.txt", {"changed": True}, ("no longer receive",)),
    Case("member/stopped.txt", {"changed": False}, ("already stopped",)),
    Case("member/unknown.txt", {"command": True}, ("There is no such command",)),
    Case("member/unknown.txt", {"command": False}, ("didn't understand",)),
    Case("member/welcome_back.txt", {"person": PERSON, "resumed": True, "in_survey": True},
         ("Hello <b>", "receive union announcements and reminders again", "middle of a survey")),
    Case("member/welcome_back.txt", {"person": PERSON, "resumed": False, "in_survey": False},
         ("Type /surveys to see surveys",)),
    # officer/
    *(Case("officer/case_changed.txt",
           {"outcome": outcome, "case": CASE,
            "status_label": LocalLabel("case_status", {"status": "visited"})},
           (en,)) for outcome, en in (
        ("changed", "Updated case #17: 🏠 Visited."),
        ("unchanged", "already has this status"),
        ("not_allowed", "cannot move to this status"),
        ("forbidden", "Only the officers of this case's CĐCS"),
        ("not_found", "This case was not found"),
    )),
    Case("officer/case_item.txt",
         {"case": CASE, "unit": UNIT, "category": "Ốm đau", "when": WHEN,
          "reporter": NAME, "for_self": False, "phone": "0357 690 218", "history": [],
          "status_label": LocalLabel("case_status", {"status": "new"})},
         ("🆘 <b>Case #17</b>", "Category: ", "Details: ", "Status: 🆕 Newly reported (reported at "
          "09:30 08/03/2026)", "Reported by: Trần Văn Bình", "Phone: 0357 690 218")),
    Case("officer/case_item.txt",
         {"case": SimpleNamespace(id=18, subject_name=NAME, description="", created_at=WHEN,
                                  kind="hardship", urgent=True),
          "unit": UNIT, "category": None, "when": WHEN,
          "reporter": NAME, "for_self": True, "phone": None,
          "history": [{"status": "🆕 Mới báo cáo", "at": WHEN, "by": None},
                      {"status": "🤝 Đã hỗ trợ", "at": WHEN, "by": "Lê Thị Mai Anh"}],
          "status_label": LocalLabel("case_status", {"status": "supported"})},
         ("🚨 <b>URGENT</b>", "Status: 🤝 Supported", "Reported by: the person in need",
          "History:\n• 09:30 08/03/2026: ", "\n• 09:30 08/03/2026: ", " — Lê Thị Mai Anh"),
         ("Mới báo cáo", "Đã hỗ trợ", "Lê Thị Mai Anh")),
    Case("officer/case_item.txt",
         {"case": SimpleNamespace(id=19, subject_name=NAME, description="Chưa được trả lương",
                                  created_at=WHEN, kind="legal", urgent=False),
          "unit": UNIT, "category": "Tiền lương", "when": WHEN,
          "reporter": None, "for_self": False, "phone": None, "history": [],
          "status_label": LocalLabel("case_status", {"status": "supported", "kind": "legal"})},
         ("⚖️ <b>Legal case #19</b>", "Status: ⚖️ Union advised / represented"),
         ("Chưa được trả lương", "Tiền lương")),
    *(Case("officer/urgent_alert.txt",
           {"case": SimpleNamespace(id=21, kind=kind, subject_name=NAME), "place": UNIT.name,
            "first": SimpleNamespace(name="CĐCS Trường THCS Nguyễn Du"), "when": WHEN,
            "escalated": escalated, "hours": 4.0},
           en, ("CĐCS",)) for kind, escalated, en in (
        ("hardship", False, ("🚨 <b>Hardship case needing urgent support #21</b>",
                             "reported at 09:30 08/03/2026", "within 4 hours")),
        ("legal", True, ("🚨 <b>Legal case needing urgent support #21</b>",
                         "can be reached through the bot")),
    )),
    *(Case("officer/urgent_escalated.txt",
           {"case": SimpleNamespace(id=22, kind=kind, subject_name=NAME), "place": UNIT.name,
            "first": SimpleNamespace(name="CĐCS Trường THCS Nguyễn Du"), "when": WHEN,
            "hours": 1.5},
           en, ("CĐCS",)) for kind, en in (
        ("hardship", ("🚨 <b>Urgent hardship case #22: nobody has taken it up</b>",
                      "After 1.5 hours")),
        ("legal", ("🚨 <b>Urgent legal case #22: nobody has taken it up</b>",)),
    )),
    Case("officer/cases_empty.txt", {}, ("No hardship or legal case",)),
    Case("officer/invite.txt", {"unit": UNIT, "link": "https://t.me/congdoan_bot?start=AB12"},
         ("Invitation link of <b>", "https://t.me/congdoan_bot?start=AB12", "Send this link")),
    Case("officer/invite.txt", {"unit": UNIT, "link": None}, ("has no invitation code",)),
    Case("officer/web_link.txt",
         {"link": "https://congdoan.example.vn/dang-nhap/Zx81", "minutes": 10},
         ("🔐 <b>The dashboard", "https://congdoan.example.vn/dang-nhap/Zx81",
          "once, within 10 minutes")),
    Case("officer/web_link.txt", {"link": None, "minutes": 10},
         ("Only union officers and admins",)),
    Case("officer/assign.txt", {}, ("Usage: /assign REQUEST-NUMBER UNIT-CODE",)),
    Case("officer/pending_empty.txt", {}, ("Nobody is waiting",)),
    Case("officer/pending_item.txt",
         {"item": PENDING_ITEM, "phone": "0912 345 678", "when": WHEN},
         ("🙋 <b>Link request</b>", "Full name: ", "Phone number: 0912 345 678", "Unit: ",
          "Sent at: 09:30 08/03/2026")),
    Case("officer/pending_item.txt",
         {"item": SimpleNamespace(pending=PENDING_ITEM.pending, unit=None), "phone": None,
          "when": WHEN},
         ("Unit: unknown", "<code>/assign 12 unit-code</code>")),
    *(Case("officer/pending_resolved.txt", {"outcome": outcome, "person": PERSON, "unit": UNIT},
           (en,)) for outcome, en in (
        ("confirmed", "✅ Confirmed"),
        ("rejected", "The link request was rejected"),
        ("needs_unit", "This request has no unit yet: type /assign"),
        ("phone_taken", "already on the roster"),
        ("forbidden", "This request does not belong"),
        ("gone", "This request has already been handled"),
    )),
    *(Case("officer/role.txt",
           {"outcome": outcome, "person": PERSON, "scope": scope, "told": told, "linked": linked,
            "role": LocalLabel("role_name", {"role": "officer" if scope else "admin"})}, en)
      for outcome, scope, told, linked, en in (
        ("usage", None, 0, 0, ("Usage: /role PHONE",)),
        ("no_person", None, 0, 0, ("Nobody on the roster has this phone number",)),
        ("no_unit", None, 0, 0, ("No unit has this code",)),
        ("set", UNIT, 1, 1, ("Updated the role of", ": Union officer.", "Unit in charge: ",
                             "This person was told through the bot")),
        ("set", None, 0, 0, (": Administrator.", "has not linked a chat with the bot")),
        ("set", None, 0, 1, ("Your command menu now matches your new role",)),
    )),
    Case("officer/scope_not_found.txt", {"text": "Bảo Lộc"}, ("No unit «",)),
    Case("officer/report_zalo.txt", {},
         ("📄 The report is an Excel file with a chart.", "on Telegram (with the same /report",
          "<code>congdoan report</code>", "type /stats or /indicator.")),
    *(Case("officer/welfare_decided.txt", {"outcome": outcome, "confirmed": confirmed}, (en,))
      for outcome, confirmed, en in (
        ("changed", True, "Confirmed that the union member received the benefit"),
        ("changed", False, "The benefit sign-up was cancelled"),
        ("unchanged", True, "already been handled that way"),
        ("forbidden", True, "This sign-up does not belong"),
        ("gone", True, "This sign-up has already been handled"),
    )),
    Case("officer/welfare_empty.txt", {}, ("No benefit sign-ups",)),
    *(Case("officer/left.txt", {"outcome": outcome, "result": result}, en)
      for outcome, result, en in (
        ("confirm", LEFT_RETIRED,
         ("<b>Change of work status</b>", "Full name: ", "Unit: ", "Now: working in the sector",
          "Change to: retired (left on 30/06/2025)", "From 2025 on, this person is no longer",
          "Press «Confirm» to save it.")),
        ("confirm", LEFT_BACK,
         ("Now: moved out (left on 30/06/2025)", "Change to: working in the sector",
          "counted in the indicators again")),
        ("changed", LEFT_RETIRED,
         ("✅ Updated ", "working in the sector → retired (left on 30/06/2025)")),
        ("changed", LEFT_MOVED, ("retired → moved out",)),
        ("unchanged", LEFT_RETIRED,
         ("is already recorded as retired (left on 30/06/2025): nothing changed",)),
        ("cancelled", None, ("Cancelled: nothing was changed.",)),
        ("no_person", LEFT_NONE, ("Nobody on the roster has this phone number",)),
        ("forbidden", LEFT_NONE, ("This person does not belong to a unit you are in charge of",)),
        ("bad_date", LEFT_NONE, ("«31/02/2025» is not a date", "dd/mm/yyyy")),
        ("future", LEFT_RETIRED, ("30/06/2025 has not come yet",)),
        ("active_date", LEFT_NONE, ("has no leaving date",)),
        ("gone", LEFT_NONE, ("no longer on the roster",)),
        ("usage", LEFT_NONE,
         ("Usage: /left PHONE retired|moved|active [date left]",
          "Example: /left 0912 345 678 retired 30/06/2025", "Without a date, today")),
    )),
    Case("officer/welfare_item.txt",
         {"item": WELFARE_ITEM, "offer": "Xe đạp điện giảm 10%", "when": WHEN},
         ("🎁 <b>", "Benefit: ", "(signed up at 09:30 08/03/2026)")),
    # survey/
    Case("survey/done.txt", {"screen": _done(ACTIVITY)}, ("Your answers to «", "Thank you!")),
    Case("survey/done.txt", {"screen": _done(HARDSHIP)}, ("passed to the union officer",)),
    Case("survey/done.txt", {"screen": _done(LEGAL)}, ("will contact you to advise",)),
    Case("survey/done.txt", {"screen": _done(WELFARE)}, ("benefit sign-up has been recorded",)),
    Case("survey/list.txt", {"offers": _offers()},
         ("<b>Surveys and forms</b>", "Press an item to start", "(completed)", "(in progress)")),
    Case("survey/list.txt", {"offers": []}, ("no surveys open for you",)),
    *_question_cases(),
    *_error_cases(),
    Case("survey/status.txt", {"kind": "closed"}, ("deadline of this survey has passed",)),
    Case("survey/status.txt", {"kind": "not_open"}, ("not open yet",)),
    Case("survey/status.txt", {"kind": "unit_done"}, ("Your unit has already answered",)),
    Case("survey/status.txt", {"kind": "already_done"}, ("already completed this survey",)),
    Case("survey/status.txt", {"kind": "stale"}, ("no survey in progress", "/surveys")),
    Case("survey/confirm_stop.txt", {"screen": _confirm_stop(2)},
         ("<b>Stop the survey «", "the 2 answer(s) you have given will be dropped, not sent",
          "To take a break there is no need to stop")),
    Case("survey/confirm_stop.txt", {"screen": _confirm_stop(0)},
         ("You have not answered any question yet",)),
    Case("survey/not_text.txt", {}, ("⚠️ Here I only understand text messages and the buttons",)),
    Case("survey/summary.txt", {"screen": _summary(WELFARE, ["Xe đạp điện giảm 10%", ""])},
         ("Please check your answers", "→ —", "Press «Send answers» to finish")),
    # demo/
    # "SĐT" (phone number) is in the command syntax outside the {% trans %} blocks
    Case("demo/help.txt", {}, ("How to use the demo", "#Done", "switch role", "show this guide"),
         allowed=("SĐT",)),
    Case("demo/dashboard.txt",
         {"address": "http://127.0.0.1:8090",
          "links": [(SimpleNamespace(kind="officer", name="Lê Văn Tâm"),
                     "http://127.0.0.1:8090/dang-nhap/aB3"),
                    (SimpleNamespace(kind="admin", name="Nguyễn Thị Thu Hà"),
                     "http://127.0.0.1:8090/dang-nhap/Qx9")],
          "minutes": 60},
         ("🌐 The dashboard in a browser", "Sign in as the chair of a grassroots union",
          "Sign in as the provincial admin", "/dang-nhap/Qx9", "once, within 60 minutes"),
         allowed=("Lê Văn Tâm", "Nguyễn Thị Thu Hà")),
    Case("demo/intro.txt", {"units": 42, "people": 1234},
         ("— demo", "(42 units, 1234 people on the roster)")),
    Case("demo/personas.txt", {"personas": PERSONAS},
         ("Who would you like to play?", "Union member <b>", "Grassroots union chair <b>",
          "Provincial administrator <b>", "New teacher <b>", "Type a number (1–4).",
          "   Commands you can use: /start · /help · /surveys · /privacy · /stop · /cancel",
          "/invite · /role")),
    # demo/ on Zalo: no buttons, the personas type numbers and their name and phone
    Case("demo/help.txt", {"zalo": True},
         ("<b>How to use the demo on Zalo</b>",
          "Type messages as on Zalo; commands start with «/», for example /start, /help, "
          "/surveys, /stats.",
          "Zalo has no buttons: the chatbot numbers the options («1. …», «2. …») and you type "
          "the number of an option (for example 1) or its text (for example «yes»). The "
          "<code>#N</code>, <code>#M.N</code> and <code>#contact</code> syntax of the Telegram "
          "version does not work here.",
          "Linking on Zalo: type <code>/start INVITE_CODE</code> (the grassroots union's "
          "invitation code, see /invite), type 1 to agree, then type the full name and phone "
          "number. The grassroots union chair and the provincial administrator are already "
          "linked.", "switch role", "show this guide"),
         allowed=("SĐT",)),
    Case("demo/intro.txt", {"units": 42, "people": 1234, "zalo": True},
         ("(42 units, 1234 people on the roster)",
          "Channel: Zalo. The roles chat with the chatbot on Zalo: the chatbot's messages are "
          "plain text, with no buttons; the options are numbered and you type a number (for "
          "example 1) to choose. The #N, #M.N and #contact syntax of the Telegram version does "
          "not work here. The other people of the sample province use Telegram.")),
    Case("demo/personas.txt", {"personas": ZALO_PERSONAS, "zalo": True},
         ("Who would you like to play?",
          "first time using the chatbot on Zalo — type <code>/start KD2026</code> (the "
          "grassroots union's invitation code), type 1 to agree, then type the full name and "
          "phone number «Nguyễn Thị Mai 0387 556 120»; then answer surveys.",
          "Grassroots union chair <b>", "Provincial administrator <b>",
          "New teacher <b>Hồ Văn Nam</b>, not in the roster yet: type <code>/start KD2026</code> "
          "(the invitation code of Trường TH Kim Đồng), type 1 to agree, then type the full "
          "name and phone number «Hồ Văn Nam 0912 345 678»; wait for the union chair to confirm "
          "(/pending).", "Commands you can use: /start · /help", "Type a number (1–4).")),
    # notice/
    Case("notice/message.txt", {"title": RUN.title, "body": NAME, "buttons": True},
         ("📢 <b>Notice: ", "Please press «Noted» below to confirm")),
    Case("notice/message.txt", {"title": RUN.title, "body": NAME, "buttons": False},
         ("📢 <b>Notice: ",)),
    Case("notice/audience.txt",
         {"audience": SimpleNamespace(scope_name=SCOPE_NAME, units=(UNIT.name, CHILD_NAMES[0]),
                                      public=True, members_only=True, tag="gvcn")},
         ("Units: ", "Public units only", "Union members only", "Tag: gvcn")),
    Case("notice/audience.txt",
         {"audience": SimpleNamespace(scope_name=SCOPE_NAME, units=(), public=False,
                                      members_only=False, tag=None)},
         ("Units: all of ", "Non-public units only")),
    *(Case("notice/template_error.txt",
           {"error": SimpleNamespace(code=code, detail=detail, line=line)},
           ("⚠️ <b>The notice text cannot be used yet</b>", en,
            "You can use: <code>{{ ten }}</code> (the recipient")) for code, detail, line, en in (
        ("syntax", "unexpected end of template", 3,
         "Syntax error on line 3: <code>unexpected end of template</code>"),
        ("syntax", "unexpected end", None, "Check that every <code>{{ … }}</code>"),
        ("unknown_variable", "ho_ten", None, "There is no variable <code>ho_ten</code>."),
        ("forbidden", "", None, "may not reach into the system"),
        ("unsupported", "macro", 2, "unsupported instruction: <code>macro</code>"),
        ("too_many_steps", "", None, "The loops are too large"),
        ("too_long", "", None, "at most 20,000 characters"),
        ("too_deep", "", None, "The text is nested too deeply"),
        ("error", "division by zero", None, "Error while producing the text: <code>division"),
    )),
    Case("notice/preview.txt",
         {"preview": SimpleNamespace(
             missing_title=False, missing_body=False, error=None, problems=(),
             message=f"📢 <b>{RUN.title}</b>\n\n{NAME}", too_long=True, length=5000,
             notice=SimpleNamespace(attachment_kind="photo"),
             audience=SimpleNamespace(scope_name=SCOPE_NAME, units=(), public=None,
                                      members_only=False, tag=None),
             counts=SimpleNamespace(total=8, reachable=5, unreachable=3, never_linked=1,
                                    stopped=1, blocked=1),
             send_at=WHEN, ok=True)},
         ("👁 <b>Notice preview</b>", "Recipients will get this:",
          "ℹ️ The notice is 5.000 characters long", "📎 With a photo attached.",
          "<b>Recipients</b>", "In all: 8 people, reachable: 5",
          "Cannot be reached: 3 (not linked: 1, notifications stopped: 1, bot blocked: 1)",
          "🕒 Scheduled for 09:30 08/03/2026", "Check it carefully, then confirm to send.")),
    Case("notice/preview.txt",
         {"preview": SimpleNamespace(
             missing_title=False, missing_body=False, problems=(), message="", too_long=False,
             error=SimpleNamespace(code="unknown_variable", detail="ho_ten", line=None),
             length=0, notice=SimpleNamespace(attachment_kind="document"),
             audience=SimpleNamespace(scope_name=SCOPE_NAME, units=(UNIT.name,), public=False,
                                      members_only=True, tag="gvcn"),
             counts=SimpleNamespace(total=0, reachable=0, unreachable=0, never_linked=0,
                                    stopped=0, blocked=0),
             send_at=None, ok=False)},
         ("There is no variable <code>ho_ten</code>", "📎 With a file attached.",
          "🕒 Sent as soon as you confirm", "⚠️ There is nobody in this audience.")),
    Case("notice/preview.txt",
         {"preview": SimpleNamespace(
             missing_title=False, missing_body=False, error=None, message="", too_long=False,
             problems=tuple(SimpleNamespace(code=code, detail=detail, line=i, column=2)
                            for i, (code, detail) in enumerate((
                 ("unknown_tag", "<div>"), ("bad_attribute", '<b class="x">'),
                 ("bad_link", '<a href="javascript:x">'),
                 ("missing_attribute", "<a>"), ("unclosed_tag", "<b>"),
                 ("unopened_close", "</i>"), ("misnested", "</b>"),
                 ("nested_not_allowed", "<b>"), ("bare_lt", "< 5"), ("bare_gt", ">"),
                 ("bare_amp", "&"), ("bad_entity", "&nbsp;")), start=1)),
             length=0, notice=SimpleNamespace(attachment_kind=None),
             audience=SimpleNamespace(scope_name=SCOPE_NAME, units=(), public=None,
                                      members_only=False, tag=None),
             counts=SimpleNamespace(total=2, reachable=2, unreachable=0, never_linked=0,
                                    stopped=0, blocked=0),
             send_at=None, ok=False)},
         ("⚠️ <b>The text is not valid Telegram HTML:</b>",
          "• Line 1, column 2: the tag &lt;div&gt; is not supported by Telegram",
          "an invalid attribute in",
          "the link in &lt;a href=&#34;javascript:x&#34;&gt; is not allowed: use only addresses",
          "a required attribute is missing in &lt;a&gt;",
          "the tag &lt;b&gt; is never closed", "the closing tag &lt;/i&gt; has no opening tag",
          "closed in the wrong order", "is not allowed here", "a lone &lt; sign",
          "a lone &gt; sign", "a lone &amp; sign", "the entity &amp;nbsp; is not supported",
          "Please correct the notice and preview it again.")),
    Case("notice/preview.txt",
         {"preview": SimpleNamespace(
             missing_title=True, missing_body=True, error=None, problems=(), message="",
             too_long=False, length=0, notice=SimpleNamespace(attachment_kind=None),
             audience=SimpleNamespace(scope_name=SCOPE_NAME, units=(), public=None,
                                      members_only=False, tag=None),
             counts=SimpleNamespace(total=2, reachable=2, unreachable=0, never_linked=0,
                                    stopped=0, blocked=0),
             send_at=None, ok=False)},
         ("⚠️ The notice has no title yet.", "⚠️ The notice has no text yet.")),
    *(Case("notice/summary.txt",
           {"item": SimpleNamespace(
               id=7, title=RUN.title, status=status, scheduled=scheduled, created_at=WHEN,
               send_at=WHEN, queued_at=WHEN,
               counts=SimpleNamespace(recipients=recipients, sent=5, pending=2, failed=1,
                                      unreachable=3, cancelled=cancelled, acknowledged=4))},
           en) for status, scheduled, recipients, cancelled, en in (
        ("draft", False, 0, 0, ("#7 · ", "📝 Draft, created at 09:30 08/03/2026")),
        ("cancelled", False, 11, 3, ("🚫 Cancelled", "Withdrawn, not sent: 3")),
        ("queued", True, 11, 0, ("🕒 Scheduled for 09:30 08/03/2026",)),
        ("queued", False, 11, 0,
         ("📤 Sending since 09:30 08/03/2026", "👥 11 recipients · sent 5 · waiting 2",
          "Failed 1 · unreachable 3 (not linked", "✅ Acknowledged: 4/5")),
    )),
    Case("notice/list.txt",
         {"notices": [SimpleNamespace(
             id=n, title=RUN.title, status="queued", scheduled=False, created_at=WHEN,
             send_at=None, queued_at=WHEN,
             counts=SimpleNamespace(recipients=10, sent=9, pending=0, failed=0, unreachable=1,
                                    cancelled=0, acknowledged=6)) for n in (8, 7)]},
         ("📋 <b>Notices of your units</b>", "📤 Sending since", "✅ Acknowledged: 6/9")),
    Case("notice/list.txt", {"notices": []}, ("No notices yet. Type /notice",)),
    Case("notice/detail.txt",
         {"detail": SimpleNamespace(
             summary=SimpleNamespace(
                 id=7, title=RUN.title, status="queued", scheduled=False, created_at=WHEN,
                 send_at=None, queued_at=WHEN, scope_name=SCOPE_NAME, author_name=NAME,
                 counts=SimpleNamespace(recipients=10, sent=9, pending=0, failed=0,
                                        unreachable=1, cancelled=0, acknowledged=6)),
             audience=SimpleNamespace(scope_name=SCOPE_NAME, units=(), public=None,
                                      members_only=True, tag=None),
             not_acknowledged=(
                 SimpleNamespace(unit_name=CHILD_NAMES[0], count=2, names=(NAME, "Lê Thị Hoa")),
                 SimpleNamespace(unit_name=UNIT.name, count=3, names=("Phạm Minh Tuấn",)),
             ),
             not_acknowledged_total=5)},
         ("Scope: ", "Written by: ", "<b>Recipients</b>", "Not yet pressed «Noted» (5 people):",
          " and 2 more")),
    Case("notice/detail.txt",
         {"detail": SimpleNamespace(
             summary=SimpleNamespace(
                 id=7, title=RUN.title, status="queued", scheduled=False, created_at=WHEN,
                 send_at=None, queued_at=WHEN, scope_name=SCOPE_NAME, author_name=None,
                 counts=SimpleNamespace(recipients=2, sent=2, pending=0, failed=0,
                                        unreachable=0, cancelled=0, acknowledged=2)),
             audience=SimpleNamespace(scope_name=SCOPE_NAME, units=(), public=None,
                                      members_only=False, tag=None),
             not_acknowledged=(), not_acknowledged_total=0)},
         ("✅ Everyone who received it has pressed «Noted».",)),
    *(Case("notice/acknowledged.txt", {"outcome": outcome, "title": title}, (en,))
      for outcome, title, en in (
        ("acknowledged", RUN.title, "✅ Recorded that you have received the notice «"),
        ("acknowledged", None, "✅ Recorded that you have received the notice."),
        ("already", None, "You have already acknowledged this notice"),
        ("not_found", None, "This notice is not for you or no longer exists."),
    )),
    *(Case("notice/confirmed.txt",
           {"confirmed": SimpleNamespace(outcome=outcome, notice=SimpleNamespace(title=RUN.title),
                                         queued=12, unreachable=unreachable, send_at=send_at,
                                         error=error)}, en)
      for outcome, unreachable, send_at, error, en in (
        ("queued", 3, WHEN, None,
         ("🕒 The notice «", "» is scheduled for 09:30 08/03/2026, to 12 people.",
          "3 people cannot receive it", "Type /notices to follow")),
        ("queued", 0, None, None, ("📤 Sending the notice «", "» to 12 people.")),
        ("already", 0, None, None, ("already been confirmed for sending",)),
        ("cancelled", 0, None, None, ("This notice has been cancelled.",)),
        ("forbidden", 0, None, None, ("⛔ You cannot send this notice",)),
        ("invalid", 0, None, SimpleNamespace(code="too_long", detail="", line=None),
         ("The text is too long",)),
        ("invalid", 0, None, None, ("⚠️ Not sent: the notice lacks a title or text",)),
        ("empty", 0, None, None, ("⚠️ Not sent: there is nobody in the audience.",)),
        ("not_found", 0, None, None, ("This notice was not found.",)),
    )),
    *(Case("notice/cancelled.txt",
           {"cancelled": SimpleNamespace(outcome=outcome, notice=SimpleNamespace(title=RUN.title),
                                         withdrawn=withdrawn)}, en)
      for outcome, withdrawn, en in (
        ("cancelled", 4, ("🚫 Cancelled the notice «", "4 messages not sent yet will not be")),
        ("cancelled", 0, ("🚫 Cancelled the notice «",)),
        ("already", 0, ("This notice was already cancelled.",)),
        ("forbidden", 0, ("⛔ This notice does not belong to a unit you are responsible for.",)),
        ("not_found", 0, ("This notice was not found.",)),
    )),
    # notice/compose*.txt: each step of the composer, and its re-prompts
    *(Case("notice/compose.txt",
           {"view": SimpleNamespace(step=step, error=error, detail="BL-XYZ", template_error=None,
                                    summary=SimpleNamespace(scope_name=SCOPE_NAME, units=(),
                                                            public=None, members_only=True,
                                                            tag=None),
                                    example=dt.datetime(2026, 3, 9, 7, 30)
                                    if step == "time" else None)},
           en) for step, error, en in (
        ("title", None, ("📝 <b>New notice</b> (step 1/5)",)),
        ("title", "title", ("The title cannot be empty",)),
        ("body", None, ("Step 2/5", "<code>{{ ten }}</code> is the recipient's name")),
        ("body", "html", ("not valid Telegram HTML",)),
        ("attachment", None, ("Step 3/5",)),
        ("attachment", "attachment", ("please send a file or a photo",)),
        ("audience", None, ("Step 4/5", "Union members only")),
        ("audience", "unit", ("No unit «BL-XYZ»",)),
        ("time", None, ("Step 5/5", "(e.g. 09/03/2026 07:30)")),
        ("time", "time", ("That time is not valid", "e.g. 09/03/2026 07:30.")),
        ("time", "unexpected", ("does not take an attachment",)),
    )),
    Case("notice/compose.txt",
         {"view": SimpleNamespace(step="body", error=None, detail="", summary=None,
                                  example=None,
                                  template_error=SimpleNamespace(code="forbidden", detail="",
                                                                 line=None))},
         ("may not reach into the system",)),
    Case("notice/compose_closed.txt", {"cancelled": True}, ("The draft notice was discarded.",)),
    Case("notice/compose_closed.txt", {"cancelled": False}, ("No notice is being written.",)),
    # zalo/: what Zalo, which has no buttons, says in their place
    *(Case("zalo/choices.txt", {"count": count, "multi": multi, "typed": typed, "last": count},
           (en,)) for count, multi, typed, en in (
        (1, False, False, "Type 1 to choose."),
        (3, False, False, "Answer by typing a number: 1, 2 or 3."),
        (4, True, False, "Type the numbers, separated by commas (for example: 1, 3)."),
        (2, False, True, "Type your answer, or type the name of one of the options above."),
    )),
    # the member types "đã nắm" (got it) in Vietnamese whatever the locale: the bot reads it back
    Case("zalo/outbox.txt", {"attachment": True, "ack": True, "survey": False},
         ("📎 This notice has an attachment that cannot be sent through Zalo yet",
          '👉 Once you have read it, type "đã nắm" (got it) to confirm.'),
         ("đã nắm",)),
    Case("zalo/outbox.txt", {"attachment": False, "ack": False, "survey": True},
         ("👉 Type /surveys to answer.",)),
]  # fmt: skip

# Campaigns (issue 4)
_CLOSES = dt.datetime(2026, 3, 20, 17, 0)
_SUMMARY = SimpleNamespace(
    run_id=7,
    title=RUN.title,
    scope_name=RUN.unit_name,
    status="open",
    per_unit=False,
    opens_at=dt.datetime(2026, 3, 1, 9, 0),
    closes_at=_CLOSES,
    period_label="2026-03",
    recurrence="monthly",
    asked_elsewhere=0,
    elsewhere=(),
    others=0,
    targets=40,
    done=30,
    units=3,
    units_done=2,
    rate=0.75,
)
_UNIT_LINE = SimpleNamespace(
    unit_name=RUN.unit_name, targets=10, done=4, rate=0.4, pending_names=(NAME,), pending=5
)
_ELSEWHERE = SimpleNamespace(
    run_id=3, unit_name=RUN.unit_name, closes_at=dt.datetime(2026, 3, 20, 17), count=6
)
_LAUNCHED = dict(
    outcome="launched",
    title=RUN.title,
    scope_name=RUN.unit_name,
    per_unit=False,
    targets=40,
    invited=35,
    units_without_officer=0,
    opens_at=dt.datetime(2026, 3, 1, 9, 0),
    closes_at=_CLOSES,
    reminders=(dt.datetime(2026, 3, 17, 17, 0),),
    period_label="2026-03",
    recurrence="monthly",
    asked_elsewhere=0,
    elsewhere=(),
    others=0,
)


def _reminded(outcome: str, count: int, unreachable: int, at: dt.datetime | None) -> Any:
    return SimpleNamespace(outcome=outcome, count=count, unreachable=unreachable, at=at)


CASES.extend([
    Case("campaign/reminder.txt", {"title": RUN.title, "closes_at": _CLOSES, "manual": False},
         ("⏰ <b>Reminder: ", "The survey closes at 17:00 20/03/2026.", "Press the button below")),
    Case("campaign/reminder.txt", {"title": RUN.title, "closes_at": _CLOSES, "manual": True},
         ("🔔 <b>A reminder from the union: ",)),
    Case("campaign/invitation.txt",
         {"title": RUN.title, "intro": "", "per_unit": True, "closes_at": _CLOSES},
         ("📝 <b>New survey: ", "each unit answers once", "Answer by: <b>17:00 20/03/2026</b>")),
    Case("campaign/launch_menu.txt", {"unit": UNIT, "campaigns": [_SUMMARY]},
         ("Choose a survey to open", "75% answered, due 17:00 20/03/2026")),
    Case("campaign/launch_step.txt", {"step": "days", "title": RUN.title}, ("how long",)),
    Case("campaign/launch_step.txt", {"step": "repeat", "title": RUN.title}, ("repeat",)),
    Case("campaign/launched.txt", {"result": SimpleNamespace(**_LAUNCHED)},
         ("🚀 Opened the survey", "Audience: 40 people.", "5 have not linked",
          "this period: 2026-03", "/campaigns")),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "per_unit": True, "targets": 3,
                                       "units_without_officer": 1})},
         ("officers of 3 grassroots unions", "1 grassroots unions have no union officer")),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "targets": 34, "asked_elsewhere": 6,
                                       "elsewhere": (_ELSEWHERE,), "others": 34})},
         ("Audience: 34 people.", "6 people are asked in another open run, so not again",
          f"• the run for {RUN.unit_name}, due 17:00 20/03/2026: 6 people")),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "per_unit": True, "targets": 2,
                                       "asked_elsewhere": 1, "elsewhere": (_ELSEWHERE,),
                                       "others": 1})},
         ("1 grassroots unions are asked in another open run, so not again",)),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "overlap", "targets": 34,
                                       "asked_elsewhere": 6, "elsewhere": (_ELSEWHERE,),
                                       "others": 34})},
         ("6 people of the audience are already asked in another open run:",
          f"\n• the run for {RUN.unit_name}, due 17:00 20/03/2026: 6 people\n",
          "the new run asks only the other 34 people")),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "overlap", "per_unit": True,
                                       "asked_elsewhere": 1, "elsewhere": (_ELSEWHERE,),
                                       "others": 2})},
         ("1 grassroots unions of the audience are already asked",
          "the new run asks only the other 2 grassroots unions")),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "overlap", "targets": 0,
                                       "asked_elsewhere": 6, "elsewhere": (_ELSEWHERE,),
                                       "others": 0})},
         ("Everyone in the audience is asked already",)),
    Case("campaign/launched.txt", {"result": None, "title": RUN.title},
         ("Given up: «",)),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "already"})},
         ("already open",)),
    Case("officer/news.txt", {"new_cases": 2, "cases": 3, "new_links": 1, "links": 1},
         ("🗂 <b>New work for you</b>", "• 2 new cases reported, 3 cases are waiting for you",
          "• 1 new people ask to be linked, 1 are waiting for confirmation: type /pending.")),
    Case("officer/news.txt", {"new_cases": 0, "cases": 3, "new_links": 2, "links": 2},
         ("2 new people ask to be linked",)),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "empty"})}, ("nobody is in",)),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "bad_times"})},
         ("not valid",)),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "forbidden"})},
         ("could not be opened",)),
    Case("campaign/list.txt", {"campaigns": [_SUMMARY]},
         ("📋 <b>Survey campaigns</b>", "Answered: 30/40 (75%)", "due 17:00 20/03/2026")),
    Case("campaign/list.txt", {"campaigns": []}, ("No survey campaigns yet",)),
    Case("campaign/list.txt",
         {"campaigns": [SimpleNamespace(**{**vars(_SUMMARY), "status": "closed", "per_unit": True,
                                           "rate": 2 / 3})]},
         ("closed 17:00 20/03/2026", "Units answered: 2/3")),
    Case("campaign/launched.txt",
         {"result": SimpleNamespace(**{**_LAUNCHED, "outcome": "empty", "per_unit": True})},
         ("no grassroots union has a union officer",)),
    Case("campaign/detail.txt",
         {"detail": SimpleNamespace(summary=_SUMMARY, units=[_UNIT_LINE], pending=6,
                                    next_reminder=dt.datetime(2026, 3, 17, 17))},
         ("By unit (lowest first):", "4/10 (40%)", "Not answered yet:", "and 4 others",
          "Next automatic reminder: 17:00 17/03/2026")),
    Case("campaign/reminded.txt",
         {"result": _reminded("sent", 5, 2, None)},
         ("Reminder sent to 5 people", "2 people have not linked")),
    Case("campaign/reminded.txt",
         {"result": _reminded("sent", 5, 0, dt.datetime(2026, 3, 18, 7))},
         ("scheduled for 07:00 18/03/2026",)),
    Case("campaign/reminded.txt", {"result": _reminded("nobody", 0, 0, None)},
         ("Nobody left to remind",)),
    Case("campaign/reminded.txt", {"result": _reminded("closed", 0, 0, None)},
         ("closed",)),
    Case("campaign/reminded.txt",
         {"result": _reminded("not_found", 0, 0, None)}, ("not within",)),
    Case("notice/reminder.txt", {"manual": False},
         ("⏰ <b>Reminder:</b> you have not yet confirmed",)),
    Case("notice/reminder.txt", {"manual": True}, ("🔔 <b>Your union reminds you:</b>",)),
    Case("notice/reminded.txt",
         {"result": _reminded("sent", 4, 1, None)},
         ("Reminder sent to 4 people who have not pressed «Noted»", "1 people have not linked")),
    Case("notice/reminded.txt",
         {"result": _reminded("sent", 4, 0, dt.datetime(2026, 3, 18, 7))},
         ("scheduled for 07:00 18/03/2026",)),
    Case("notice/reminded.txt", {"result": _reminded("nobody", 0, 0, None)},
         ("has had every reminder",)),
    Case("notice/reminded.txt", {"result": _reminded("not_sent", 0, 0, None)},
         ("has not been sent (a draft)",)),
    Case("notice/reminded.txt", {"result": _reminded("not_found", 0, 0, None)},
         ("This notice was not found",)),
    Case("campaign/digest.txt",
         {"digest": SimpleNamespace(
             on_target=False, below=True, week_number=10, week_year=2026, year=2026,
             scope_name=UNIT.name, measured=3, unmeasured=1, indicators=[SimpleNamespace(
                 code="A3c", name=lambda locale: "Activities" if locale == "en" else "Hoạt động",
                 target=None, more_units=0,
                 units=[SimpleNamespace(name=RUN.unit_name, direct=False, rate=0.6,
                                        target=_target(TargetKind.MIN, "75"), gap=0.15,
                                        pending=(NAME,), pending_more=0, thin=False),
                        SimpleNamespace(name=CHILD_NAMES[0], direct=False, rate=None,
                                        target=_target(TargetKind.MIN, "75"), gap=0.0,
                                        pending=(NAME,), pending_more=0, thin=True,
                                        answered=1, in_scope=3)])])},
         ("Week 10/2026: units below target", "target for 2026", "15 percentage points",
          "not enough data (1/3 answered)", "Not answered yet:", "/digest off"),
         allowed=("Hoạt động",)),
    Case("campaign/digest.txt",
         {"digest": SimpleNamespace(
             on_target=False, below=False, week_number=10, week_year=2026, year=2026,
             scope_name=UNIT.name, measured=0, unmeasured=1, indicators=[SimpleNamespace(
                 code="A3c", name=lambda locale: "Activities" if locale == "en" else "Hoạt động",
                 target=_target(TargetKind.MIN, "75"), more_units=0,
                 units=[SimpleNamespace(name=CHILD_NAMES[0], direct=False, rate=None,
                                        target=_target(TargetKind.MIN, "75"), gap=0.0,
                                        pending=(NAME,), pending_more=0, thin=True,
                                        answered=0, in_scope=3)])])},
         ("Week 10/2026: units without enough data", "not enough data (0/3 answered)"),
         allowed=("Hoạt động",)),
    Case("campaign/digest.txt",
         {"digest": SimpleNamespace(on_target=True, below=False, week_number=10, week_year=2026,
                                    year=2026, scope_name=UNIT.name, measured=3, unmeasured=0,
                                    indicators=[])},
         ("All your units meet their targets",)),
    Case("campaign/digest.txt",
         {"digest": SimpleNamespace(on_target=True, below=False, week_number=10, week_year=2026,
                                    year=2026, scope_name=UNIT.name, measured=3, unmeasured=2,
                                    indicators=[])},
         ("The units with enough data all meet their targets; 2 units",)),
    Case("campaign/digest.txt",
         {"digest": SimpleNamespace(on_target=True, below=False, week_number=10, week_year=2026,
                                    year=2026, scope_name=UNIT.name, measured=0, unmeasured=0,
                                    indicators=[])},
         ("No figures to compare",)),
    Case("campaign/digest_setting.txt", {"enabled": True, "changed": True}, ("<b>on</b>",)),
    Case("campaign/digest_setting.txt", {"enabled": False, "changed": True}, ("<b>off</b>",)),
])  # fmt: skip

# ------------------------------------------------------------------ issue 16: personal data

_AT = dt.datetime(2026, 3, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=7)))
ACCESS_RECORD = _pd.Record(
    full_name=NAME, phone="+84912345678", staff_code="BTX-004", unit_name=UNIT.name,
    unit_code="DL-THCS-ND", is_member=True, gender="male", role="member",
    officer_unit_name=None, tags=("ban nữ công",), work_status="active", left_on=None,
    consent_withdrawn_at=None, since=_AT,
)  # fmt: skip
ACCESS_DATA = _pd.PersonalData(
    made_at=_AT,
    record=ACCESS_RECORD,
    chats=(_pd.ChatItem("telegram", "700123", "linked", False, False, _AT),
           _pd.ChatItem("zalo", ZALO_ID, "linked", True, True, _AT)),
    consents=(_pd.ConsentItem("telegram", "accepted", "2026.11-1", _AT),),
    responses=(
        _pd.ResponseItem(
            survey=ACTIVITY.title, period="2026-03", state="completed", started_at=_AT,
            completed_at=_AT, anonymous=False,
            answers=(_pd.AnswerItem("participated", ACTIVITY.questions[0].prompt, True, "Có"),),
        ),
    ),
    participations=(_pd.ParticipationItem(ACTIVITY.title, "2026", _AT),),
    cases=(
        _pd.CaseItem(id=17, kind="hardship", category="Ốm đau", status="reported", urgent=False,
                     reported=True, about_me=False, subject_name="Lê Thị Hoa",
                     description="Bị tai nạn giao thông, phải nghỉ dạy hai tháng.",
                     visible_to=(UNIT.name,), reported_at=_AT, updated_at=_AT),
        _pd.CaseItem(id=18, kind="hardship", category="Ốm đau", status="supported", urgent=True,
                     reported=False, about_me=True, subject_name=None, description=None,
                     visible_to=(UNIT.name, "Đà Lạt"), reported_at=_AT, updated_at=_AT),
        _pd.CaseItem(id=19, kind="legal", category="", status="closed", urgent=False,
                     reported=True, about_me=True, subject_name=NAME, description="",
                     visible_to=(UNIT.name,), reported_at=_AT, updated_at=_AT),
    ),
    benefits=(_pd.BenefitItem("xe_dien", "Xe đạp điện giảm 10%", "confirmed", 2026, _AT, _AT),),
    notices=tuple(
        _pd.NoticeItem(f"Thông báo số {i}", "sent", _AT, _AT, _AT if i % 2 else None)
        for i in range(1, 8)
    ),
    corrections=(_pd.CorrectionItem("phone", "+84912345678", "+84987654321", "pending", _AT,
                                    None),),
    link_requests=(_pd.LinkRequestItem(NAME, "+84912345678", "confirmed", _AT, _AT),),
)  # fmt: skip
ACCESS_UNLINKED = _pd.PersonalData(
    made_at=_AT,
    record=None,
    chats=(_pd.ChatItem("zalo", ZALO_ID, "pending", False, False, _AT),),
    consents=(_pd.ConsentItem("zalo", "accepted", "2026.12-zalo-1", _AT),),
    link_requests=(_pd.LinkRequestItem(NAME, "+84912345678", "pending", _AT, None),),
)
ACCESS_NOTICES = tuple(f"Thông báo số {i}" for i in range(1, 8))  # for `allowed`
CORRECTION_ITEM = SimpleNamespace(
    id=12, person=PERSON, unit=UNIT, field="unit", old=UNIT.name, new="Trường THPT Trần Phú",
    asked_at=WHEN,
)  # fmt: skip

ACCESS_CASES = [
    Case("member/data_summary.txt", {"data": ACCESS_DATA, "full": False, "zalo": False},
         ("<b>Personal data the bot holds about you</b>", "(exported at 09:30 08/03/2026)",
          "Full name: Trần Văn Bình", "Phone number: 0912 345 678",
          "Union member: Yes · Gender: Male",
          "Role: Member, employee", "Chat accounts</b> (2)", "Telegram, since 09:30 08/03/2026",
          "Zalo, since 09:30 08/03/2026 · notices stopped",
          "Agreed (text version 2026.11-1) at 09:30 08/03/2026", "(period 2026-03) — Sent",
          "1 answer(s)", "only keeps the fact that you took part",
          "#17 Hardship — Ốm đau · Newly reported",
          "You reported it about Lê Thị Hoa.", "#18 Hardship — Ốm đau · Supported",
          "only the officers of Trường THCS Nguyễn Du, Đà Lạt can see the details",
          "#19 Legal advice, legal matter · Closed", "You reported it about yourself.",
          "Xe đạp điện giảm 10% · Received", "7 notices, 4 acknowledged", "acknowledged at 09:30",
          "not acknowledged", "… and 2 older notices (in the downloaded file).",
          "Phone number: 0912 345 678 → 0987 654 321 · Pending", "Choose a format to download",
          "Type /suadulieu"),
         (*ACCESS_NOTICES, "ban nữ công")),
    Case("member/data_summary.txt", {"data": ACCESS_DATA, "full": True, "zalo": True},
         ("<b>All the personal data the bot holds about you</b>", "Staff code: BTX-004",
          "Tags: ban nữ công", "Employment status: Working", "Account ID 700123",
          "Tags: ban nữ công", "→ Có",
          "What you wrote: «Bị tai nạn giao thông, phải nghỉ dạy hai tháng.»",
          "Thông báo số 1 — 09:30 08/03/2026 · acknowledged at 09:30 08/03/2026",
          "Link requests</b> (1)"),
         (*ACCESS_NOTICES, "ban nữ công", "Có")),
    Case("member/data_summary.txt", {"data": ACCESS_DATA, "full": False, "zalo": True},
         ("Zalo cannot send files: all the data (every answer included) follows right after",),
         (*ACCESS_NOTICES, "ban nữ công")),
    Case("member/data_unlinked.txt", {"data": ACCESS_UNLINKED},
         ("<b>Data the bot holds about this chat</b>",
          "This chat is not linked to the member roster",
          f"Zalo, since 09:30 08/03/2026 · Account ID {ZALO_ID} · Waiting for an officer",
          "Agreed (text version 2026.12-zalo-1) at 09:30 08/03/2026",
          "You asked to be linked with these details", "Trần Văn Bình, 0912 345 678 · Pending",
          "Type /start to link; once linked, /dulieu shows")),
    Case("member/data_unlinked.txt",
         {"data": _pd.PersonalData(made_at=_AT, record=None, chats=ACCESS_UNLINKED.chats,
                                   consents=())},
         ("No decision yet.",)),
    Case("member/data_caption.txt", {"fmt": "xlsx", "made_at": _AT},
         ("Your personal data, exported at 09:30 08/03/2026.", "one sheet per kind of data",
          "please keep it safe")),
    Case("member/data_caption.txt", {"fmt": "json", "made_at": _AT},
         ("A JSON file (UTF-8) to move to another system.",)),
    Case("member/correction_choose.txt", {"person": PERSON, "phone": "0912 345 678", "unit": UNIT},
         ("<b>Ask for a correction of your details</b>", "The member roster currently has:",
          "Full name: Trần Văn Bình", "Phone number: 0912 345 678", "Unit: Trường THCS Nguyễn Du",
          "Which detail do you want corrected?")),
    Case("member/correction_ask.txt", {"field": "full_name", "current": NAME, "district": None},
         ("Full name now: Trần Văn Bình. Please type your correct full name",)),
    Case("member/correction_ask.txt", {"field": "phone", "current": "", "district": None},
         ("Phone number now: —. Please type the correct phone number",)),
    Case("member/correction_ask.txt",
         {"field": "unit", "current": UNIT.name, "district": SimpleNamespace(name="Đà Lạt")},
         ("Unit now: Trường THCS Nguyễn Du. Please type the name or code of the correct unit "
          "(school, union group) within Đà Lạt",)),
    *(Case("member/correction_problem.txt", {"problem": problem, "text": text}, (en, "/cancel"))
      for problem, text, en in (
          ("bad_name", "", "A full name needs at least two words"),
          ("bad_phone", "", "This phone number is not valid"),
          ("unit_not_found", "Trường THPT Trần Phú",
           "No unit «Trường THPT Trần Phú» was found in your"),
          ("same", "0912 345 678", "The roster already has exactly that (0912 345 678)"),
      )),
    Case("member/correction_sent.txt",
         {"field": "phone", "old": "0912 345 678", "new": "0987 654 321", "body": UNIT, "told": 2},
         ("Request sent to correct Phone number: 0912 345 678 → 0987 654 321. The officers of "
          "Trường THCS Nguyễn Du will confirm it",)),
    Case("member/correction_sent.txt",
         {"field": "full_name", "old": "", "new": NAME, "body": UNIT, "told": 0},
         ("Request sent to correct Full name: — → Trần Văn Bình", "No officer receives messages")),
    Case("member/correction_cancelled.txt", {"waiting": True},
         ("Stopped: nothing will be corrected.",)),
    Case("member/correction_cancelled.txt", {"waiting": False}, ("No correction is waiting",)),
    Case("member/correction_decided.txt", {"field": "unit", "new": UNIT.name, "confirmed": True},
         ("✅ A union officer confirmed your request to correct Unit: the roster now has "
          "«Trường THCS Nguyễn Du».",)),
    Case("member/correction_decided.txt",
         {"field": "phone", "new": "0987 654 321", "confirmed": False},
         ("did not accept your request to correct Phone number to «0987 654 321»",)),
    Case("officer/correction_request.txt",
         {"id": 12, "person": PERSON, "unit": UNIT, "field": "phone", "old": "0912 345 678",
          "new": "0987 654 321"},
         ("✏️ Correction request #12 from Trần Văn Bình (Trường THCS Nguyễn Du):",
          "Phone number: 0912 345 678 → <b>0987 654 321</b>", "Type /corrections")),
    Case("officer/correction_item.txt", {"item": CORRECTION_ITEM},
         ("<b>Request #12 · Trần Văn Bình</b>",
          "Unit: Trường THCS Nguyễn Du · requested at 09:30 08/03/2026",
          "Unit: Trường THCS Nguyễn Du → <b>Trường THPT Trần Phú</b>")),
    Case("officer/correction_empty.txt", {}, ("No correction request is waiting",)),
    *(Case("officer/correction_decided.txt",
           {"outcome": outcome, "field": "phone", "name": NAME, "new": "0987 654 321"}, (en,))
      for outcome, en in (
          ("confirmed", "✅ Phone number of Trần Văn Bình corrected to «0987 654 321»."),
          ("rejected", "Rejected the request to correct Phone number of Trần Văn Bình."),
          ("phone_taken", "0987 654 321 is already another person's number"),
          ("unit_gone", "the new unit is no longer in the roster"),
          ("own", "This is your own request"),
          ("forbidden", "a unit you are not responsible for"),
          ("gone", "This request was already handled"),
      )),
]  # fmt: skip


def _frozen_report() -> StatsReport:
    """A closed year's report (frozen on 15/01/2026) whose A3c leaves out 2 people's answers
    (they withdrew their consent)."""
    report = _stats_report()
    rows = (dataclasses.replace(report.rows[0], withdrawn=2), *report.rows[1:])
    return dataclasses.replace(report, rows=rows, frozen_on=dt.date(2026, 1, 15))


CASES.extend([
    *ACCESS_CASES,
    Case("officer/cases_more.txt", {"n": 7}, ("and 7 more cases you may see are not shown here",)),
    Case("member/privacy.txt",
         {"version": "2026-01", "decision": "accepted", "agreed_version": "2025-12", "when": WHEN},
         ("✅ You agreed to this notice (version 2025-12) at 09:30 08/03/2026.",
          "The text above is the current version; the union keeps the exact wording of every "
          "version, including the one you agreed to.")),
    Case("member/help.txt", {"linked": True, "officer": True, "admin": True},
         ("/audit [from date] — an Excel file of the audit trail: who did what with whose "
          "personal data",)),
    Case("admin/audit.txt", {"outcome": "sent", "rows": 9, "since": None},
         ("🗂 <b>Personal data audit trail</b>: 9 rows.", "this export is recorded too",
          "do not forward it")),
    Case("admin/audit.txt", {"outcome": "sent", "rows": 12, "since": dt.date(2026, 12, 1)},
         ("🗂 <b>Personal data audit trail</b> from 01/12/2026: 12 rows.",)),
    Case("admin/audit.txt", {"outcome": "empty", "rows": 0, "since": dt.date(2026, 12, 1)},
         ("The audit trail has no rows from 01/12/2026 on.",)),
    Case("admin/audit.txt", {"outcome": "empty", "rows": 0, "since": None},
         ("The audit trail has no rows yet.",)),
    Case("admin/audit.txt", {"outcome": "usage", "rows": 0, "since": None},
         ("Usage: /audit (the whole trail) or /audit 01/12/2026 (from that day on).",)),
    Case("admin/audit.txt", {"outcome": "zalo", "rows": 0, "since": None},
         ("Zalo does not let the bot send files yet", "<code>congdoan audit</code>")),
    *(Case("officer/case_changed.txt",
           {"outcome": "forbidden", "case": None,
            "status_label": LocalLabel("case_status", {"status": "visited"})},
           ("Only the officers of this case's CĐCS", "may see and update it")),),
    Case("officer/urgent_alert.txt",
         {"case": SimpleNamespace(id=21, kind="hardship", subject_name=NAME), "place": UNIT.name,
          "first": SimpleNamespace(name="CĐCS Trường THCS Nguyễn Du"), "when": WHEN,
          "escalated": False, "hours": 4.0},
         ("At Trường THCS Nguyễn Du, reported at 09:30 08/03/2026.",), ("CĐCS",)),
    Case("officer/urgent_escalated.txt",
         {"case": SimpleNamespace(id=22, kind="legal", subject_name=NAME), "place": UNIT.name,
          "first": SimpleNamespace(name="CĐCS Trường THCS Nguyễn Du"), "when": WHEN,
          "hours": 1.5},
         ("At Trường THCS Nguyễn Du, reported at 09:30 08/03/2026.",), ("CĐCS",)),
    Case("officer/cases_counts.txt",
         {"rows": [{"unit": "CĐCS Trường THPT Bùi Thị Xuân", "total": 3, "urgent": 1,
                    "statuses": [{"label": "🆕 Newly reported", "n": 2},
                                 {"label": "🏠 Visited", "n": 1}]}],
          "total": 3, "urgent": 1, "others": False},
         ("📊 <b>Open cases within your scope: 3</b>", "Of which 🚨 urgent: 1.",
          "CĐCS Trường THPT Bùi Thị Xuân: 3 open", "🚨 urgent: 1", "Counts and status only"),
         ("CĐCS", "Trường", "Bùi", "Thị", "Xuân")),
    Case("officer/cases_counts.txt",
         {"rows": [{"unit": "CĐCS Trường THCS Nguyễn Du", "total": 1, "urgent": 0,
                    "statuses": [{"label": "🆕 Newly reported", "n": 1}]}],
          "total": 1, "urgent": 0, "others": True},
         ("📊 <b>Other open cases within your scope: 1</b>", "Nguyễn Du: 1 open"),
         ("CĐCS", "Trường", "Nguyễn", "Du")),
Case("member/withdraw_confirm.txt", {},
     ("Withdrawing consent to the processing of personal data", "If you withdraw your consent:",
      "The union still keeps what the law allows it to keep")),
Case("member/withdraw_done.txt", {"outcome": "withdrawn"},
     ("Your withdrawal of consent is recorded. From now on the bot sends you no more notices",)),
Case("member/withdraw_done.txt", {"outcome": "already"}, ("You withdrew your consent before.",)),
Case("member/withdraw_done.txt", {"outcome": "forgotten"},
     ("This account was not linked to a membership record yet",)),
Case("member/withdraw_done.txt", {"outcome": "nothing"}, ("there is nothing to withdraw",)),
Case("member/withdraw_cancelled.txt", {}, ("Nothing was changed.",)),
Case("member/withdraw_consent_again.txt", {"accepted": True}, ("Thank you for consenting again.",)),
Case("member/withdraw_consent_again.txt", {"accepted": False}, ("Your consent stays withdrawn",)),
Case("member/erase_ask.txt", {"linked": True},
     ("<b>Request to erase personal data</b>", "Do you want to erase it?")),
Case("member/erase_ask.txt", {"linked": False}, ("This chat account is not linked",)),
Case("member/erase_confirm.txt", {"linked": True},
     ("⚠️ Final confirmation: erase personal data", "<b>Erasure cannot be undone.</b>")),
Case("member/erase_confirm.txt", {"linked": False},
     ("the bot deletes this chat account and your link request",)),
Case("member/erase_done.txt", {"outcome": "erased"}, ("Your personal data has been erased.",)),
Case("member/erase_done.txt", {"outcome": "forgotten"}, ("The bot deleted this chat account",)),
Case("member/erase_done.txt", {"outcome": "nothing"}, ("The bot keeps no data of yours",)),
Case("member/case_concerns_you.txt", {"kind": "hardship", "cdcs": "CĐCS Trường THPT Bùi Thị Xuân"},
     ("A colleague has told the union about your hardship",
      "Only the executive committee officers of CĐCS Trường THPT Bùi Thị Xuân "
      "can read the report")),
Case("member/case_concerns_you.txt", {"kind": "legal", "cdcs": ""},
     ("request for legal advice or support that concerns you",
      "Only the union officers in charge can read the report.")),
    Case("stats.txt", {"report": _frozen_report()},
         ("📊 <b>Indicators for 2025 (figures frozen on 15/01/2026)</b>",
          "<i>Not counted: the answers of 2 person(s) who withdrew their consent</i>")),
    Case("indicator.txt",
         {"report": _frozen_report(), "row": _frozen_report().rows[0], "children": ()},
         ("Indicators for 2025 (figures frozen on 15/01/2026)",
          "<i>Not counted: the answers of 2 person(s) who withdrew their consent</i>")),
    Case("admin/year_close.txt", {"outcome": "usage", "year": 2025, "day": None},
         ("Type /dongnam YEAR, e.g. /dongnam 2025, to freeze the indicator figures",)),
    Case("admin/year_close.txt", {"outcome": "ask", "year": 2025, "day": None},
         ("<b>Freeze the indicator figures of 2025?</b>", "This cannot be undone.")),
    Case("admin/year_close.txt", {"outcome": "closed", "year": 2025, "day": dt.date(2026, 1, 15)},
         ("🔒 The indicator figures of 2025 were frozen on 15/01/2026.",)),
    Case("admin/year_close.txt",
         {"outcome": "already_closed", "year": 2025, "day": dt.date(2026, 1, 15)},
         ("The figures of 2025 were already frozen on 15/01/2026.",)),
    Case("admin/year_close.txt", {"outcome": "not_past", "year": 2026, "day": None},
         ("Only a past year can be frozen: 2026 is not over yet.",)),
    Case("admin/year_close.txt", {"outcome": "cancelled", "year": 2025, "day": None},
         ("Cancelled: the figures of 2025 are not frozen.",)),
])  # fmt: skip


def _seed_case(locale: str) -> Case:
    def button(name: str, **kw: Any) -> str:
        return label(name, locale, **kw)

    return Case("demo/seed.txt", {"label": button}, ("#✅ I agree", "#✔️ Done", "#🤝 Supported"))


# --------------------------------------------------------------------------- rendering


def test_every_template_has_a_case() -> None:
    covered = {c.template for c in CASES} | set(MACRO_TEMPLATES) | {"demo/seed.txt"}
    assert set(template_names()) == covered


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_renders_in_both_locales(case: Case) -> None:
    vi = render(case.template, "vi", **case.context_for("vi"))
    en = render(case.template, "en", **case.context_for("en"))
    assert vi and en and vi != en
    assert VIETNAMESE.search(vi), "the Vietnamese text lost its diacritics"
    for expected in case.en:
        assert expected in en
    assert_english(en, case.allowed)
    assert_telegram_html(vi)
    assert_telegram_html(en)


def test_seed_script_uses_the_labels_of_its_locale() -> None:
    vi = render("demo/seed.txt", "vi", **_seed_case("vi").context)
    en_case = _seed_case("en")
    en = render("demo/seed.txt", "en", **en_case.context)
    assert "#✅ Tôi đồng ý" in vi and "#🤝 Đã hỗ trợ" in vi
    for expected in en_case.en:
        assert expected in en
    assert "Tôi đồng ý" not in en


@pytest.mark.parametrize("name", MACRO_TEMPLATES)
def test_macro_templates_render_nothing_by_themselves(name: str) -> None:
    assert render(name, "vi") == "" and render(name, "en") == ""


def test_help_for_a_linked_admin_is_english() -> None:
    en = render("member/help.txt", "en", linked=True, officer=True, admin=True)
    lines = en.splitlines()
    assert lines[0] == "<b>User guide</b>"
    surveys = "/surveys — open surveys, report a hardship case, ask for legal advice, sign up"
    assert f"{surveys} for welfare benefits" in lines
    assert "/role PHONE officer|member|admin [unit code] — assign officer roles" in lines
    assert "" in lines  # the blank lines before the officer and admin parts are kept


def test_trailing_newlines_of_trans_blocks_are_kept() -> None:
    """``{% endtrans +%}`` keeps the line break after the block in both locales."""
    en = render("member/consent_declined.txt", "en")
    assert en == (
        "You did not agree. We only record that you declined and keep no other information.\n"
        "If you change your mind, type /start at any time."
    )


def assert_english(text: str, allowed: tuple[str, ...] = ()) -> None:
    """No Vietnamese is left once the data (names, survey wording, proper nouns) is removed."""
    rest = unescape(text)
    for data in (*DATA_STRINGS, *allowed):
        rest = rest.replace(data, "")
    leftover = VIETNAMESE.search(rest)
    assert leftover is None, (
        f"untranslated text near {rest[max(0, leftover.start() - 30) :][:60]!r}"
    )


# --------------------------------------------------------------------------- labels (macros)

# Sample arguments of the label macros, by argument name; several values try each branch.
MACRO_ARGUMENTS: dict[str, tuple[Any, ...]] = {
    "text": ("Văn nghệ",),
    "title": (ACTIVITY.title,),
    "state": ("in_progress", "completed", None),
    # case_status: every status of a hardship case, then the legal case's "supported"
    "status": ("new", "visited", "supported", "closed", "withdrawn", "supported"),
    "kind": ("hardship", "hardship", "hardship", "hardship", "hardship", "legal"),
    "name": (NAME,),
    "n": (4,),
    "per_unit": (False, True),
    "commands": ("/start /help /surveys",),
    "phone": ("0912 345 678",),
    "wanted": ("Xong",),
    "command": (":foo",),
    "on": (True, False),
    "id": (12,),
    "days": (14,),
    "value": ("none", "monthly", "quarterly", "yearly"),
    "flag": (True, False, None),
    "role": ("admin", "officer", "member"),
    "year": (2026,),
    "at": ("09:30 05/01/2026",),
    "key": (
        "summary",
        "public",
        "units",
        "sheet",
        "numerator",
        "denominator",
        "part",
        "floor",
        "low",
        "coverage_count",
        "coverage_total",
        "notes",
        "met",
        "not_met",
        "no_verdict",
        "low_coverage",
        "target",
    ),
    "percent": (50,),
    "place": ("Lâm Đồng",),
    "day": ("05",),
    "month": ("01",),
    # the audit trail's workbook (labels.txt: audit_action, audit_via, audit_column)
    "act": tuple(a.value for a in AuditAction),
    "via": ("chat", "cli", "system", "web"),
    "column": ("when", "action", "via", "actor", "person", "case", "unit", "detail"),
}


def _macros(template: str, locale: str) -> dict[str, Macro]:
    module = environment(locale).get_template(template).make_module()
    return {n: m for n, m in vars(module).items() if isinstance(m, Macro)}


def _macro_calls(template: str) -> list[tuple[str, dict[str, Any]]]:
    calls = []
    for name, macro in sorted(_macros(template, "vi").items()):
        missing = [a for a in macro.arguments if a not in MACRO_ARGUMENTS]
        assert not missing, f"add sample values for {missing} of {template}:{name} to the test"
        variants = max([1, *(len(MACRO_ARGUMENTS[a]) for a in macro.arguments)])
        for i in range(variants):
            args = {
                a: MACRO_ARGUMENTS[a][min(i, len(MACRO_ARGUMENTS[a]) - 1)] for a in macro.arguments
            }
            calls.append((name, args))
    return calls


# Labels that are no text to translate: an emoji with the data it is given.
UNTRANSLATED_LABELS = frozenset({"checked", "unchecked", "open_survey", "launch"})


@pytest.mark.parametrize("name,args", _macro_calls("labels.txt"), ids=str)
def test_every_label_renders_in_both_locales(name: str, args: dict[str, Any]) -> None:
    vi = label(name, "vi", **args)
    en = label(name, "en", **args)
    assert vi and en
    assert "<" not in vi and "&" not in en  # button texts are plain text
    if name in UNTRANSLATED_LABELS:
        assert vi == en
    else:
        assert vi != en
        assert_english(en)


def test_labels_of_the_buttons_in_english() -> None:
    assert label("consent_accept", "en") == "✅ I agree"
    assert label("yes", "en") == "Yes" and label("no", "en") == "No"
    assert label("done", "en") == "✔️ Done"
    assert label("skip", "en") == "Skip"
    assert label("submit", "en") == "📨 Send answers"
    assert label("case_status", "en", status="closed") == "📁 Close the case"
    assert label("open_survey", "en", title="A & B", state="completed") == "✅ A & B"
    assert label("cmd_stats", "en") == "Indicators: /stats [unit] [year]"


@pytest.mark.parametrize("name,args", _macro_calls("demo/ui.txt"), ids=str)
def test_demo_texts_render_in_both_locales(name: str, args: dict[str, Any]) -> None:
    vi = str(_macros("demo/ui.txt", "vi")[name](**args))
    en = str(_macros("demo/ui.txt", "en")[name](**args))
    assert vi and en
    assert_english(en)
    assert_telegram_html(vi)
    assert_telegram_html(en)


def test_stats_headings_in_english() -> None:
    """The table headings are used by `congdoan stats`, not by the /stats message."""
    heading = _macros("stats.txt", "en")["heading"]
    keys = ("code", "name", "ratio", "rate", "target", "result", "coverage", "public", "non_public")
    assert [str(heading(k)) for k in keys] == [
        "Code", "Indicator", "Numerator/denominator", "Rate", "Target", "Result", "Coverage",
        "Public", "Non-public",
    ]  # fmt: skip


# --------------------------------------------------------------------------- the catalog


def _extracted() -> dict[str, set[str]]:
    """Babel's extraction of the templates, with the options of babel.cfg: msgid -> files."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)  # type: ignore[no-untyped-call]
    found: dict[str, set[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "bot" / "templates"),
        [(pattern.removeprefix("bot/templates/"), method) for pattern, method in method_map],
        {pattern.removeprefix("bot/templates/"): opts for pattern, opts in options_map.items()},
    ):
        assert isinstance(message, str), f"plural or context messages are unused: {message!r}"
        found.setdefault(message, set()).add(filename)
    return found


def _catalog() -> Catalog:
    with PO_FILE.open("rb") as fh:
        return read_po(fh, locale="en")


EXTRACTED = _extracted()
CATALOG = _catalog()
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def test_extraction_finds_the_messages() -> None:
    assert len(EXTRACTED) > 150
    assert "Hướng dẫn sử dụng" in EXTRACTED
    assert "Câu %(index)s/%(total)s" in EXTRACTED
    # {% trans %} bodies are taken verbatim: no trimming, HTML kept
    assert (
        "<b>Chào mừng thầy/cô đến với kênh liên lạc của Công đoàn Giáo dục tỉnh Lâm Đồng!</b>"
        in (EXTRACTED)
    )


def test_catalog_translates_every_extracted_message() -> None:
    ids = {m.id for m in CATALOG if m.id}
    missing = sorted(set(EXTRACTED) - ids)
    assert not missing, "run pybabel extract/update (bot/locales/README.md): " + repr(missing)
    empty = sorted(m.id for m in CATALOG if m.id and not m.string)
    assert not empty, f"untranslated: {empty!r}"
    fuzzy = sorted(m.id for m in CATALOG if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy: {fuzzy!r}"


def test_catalog_has_no_stale_messages() -> None:
    stale = sorted(m.id for m in CATALOG if m.id and m.id not in EXTRACTED)
    assert not stale, f"messages no template uses: {stale!r}"


@pytest.mark.parametrize("msgid", sorted(EXTRACTED))
def test_translation_keeps_placeholders_tags_and_emoji(msgid: str) -> None:
    message = CATALOG.get(msgid)
    assert message is not None and isinstance(message.string, str)
    translated = message.string
    assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(msgid))
    tags = re.compile(r"</?\w+[^>]*>")
    assert tags.findall(translated) == tags.findall(msgid)
    emoji = re.compile("[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f300-\U0001faff]\ufe0f?")
    assert sorted(emoji.findall(translated)) == sorted(emoji.findall(msgid))
    assert translated.strip() == translated or msgid.strip() != msgid


# member/data_labels.txt (the /dulieu export's words): every key, kind and code it knows.
DATA_LABEL_KEYS = [
    "record",
    "chats",
    "consents",
    "answers",
    "participations",
    "cases",
    "benefits",
    "notices",
    "corrections",
    "item",
    "value",
    "full_name",
    "phone",
    "staff_code",
    "unit",
    "unit_code",
    "is_member",
    "gender",
    "role",
    "officer_unit",
    "tags",
    "work_status",
    "left_on",
    "withdrawn",
    "since",
    "channel",
    "account",
    "stage",
    "stopped",
    "chosen",
    "chat_since",
    "decision",
    "version",
    "at",
    "survey",
    "period",
    "state",
    "started_at",
    "completed_at",
    "question",
    "answer",
    "case_id",
    "kind",
    "category",
    "status",
    "urgent",
    "relation",
    "subject",
    "description",
    "visible_to",
    "reported_at",
    "updated_at",
    "offer",
    "year",
    "signed_up_at",
    "confirmed_at",
    "title",
    "sent_at",
    "acknowledged_at",
    "field",
    "old_value",
    "new_value",
    "asked_at",
    "decided_at",
    "made_at",
]
DATA_LABEL_KINDS = [
    "bool",
    "channel",
    "gender",
    "role",
    "work_status",
    "stage",
    "decision",
    "state",
    "case_kind",
    "case_status",
    "relation",
    "benefit_status",
    "delivery",
    "request",
    "field",
]
DATA_LABEL_CODES: tuple[Any, ...] = (
    True, False, None, "", "zalo", "telegram", "local", "female", "male", "other", "unknown",
    "admin", "officer", "member", "retired", "moved", "active", "linked", "pending", "declined",
    "new", "accepted", "withdrawn", "completed", "abandoned", "in_progress", "legal", "hardship",
    "visited", "supported", "closed", "reported", "both", "subject", "confirmed", "cancelled",
    "requested", "sent", "queued", "sending", "failed", "unreachable", "rejected", "full_name",
    "phone", "unit",
)  # fmt: skip


def _data_label_calls(name: str) -> list[dict[str, Any]]:
    if name in ("sheet", "column"):
        return [{"key": key} for key in DATA_LABEL_KEYS]
    if name == "value":
        return [{"kind": k, "code": c} for k in DATA_LABEL_KINDS for c in DATA_LABEL_CODES]
    if name == "field":
        return [{"name": n} for n in ("full_name", "phone", "unit")]
    raise AssertionError(f"add the calls of member/data_labels.txt:{name} to the test")


@pytest.mark.parametrize("locale", LOCALES)
def test_personal_data_words_render_in_both_locales(locale: str) -> None:
    module = environment(locale).get_template("member/data_labels.txt").make_module()
    sheets = {key: str(module.sheet(key)) for key in ("record", "cases", "notices")}  # type: ignore[attr-defined]
    assert all(sheets.values())
    expected = {"vi": "Giới tính", "en": "Gender"}[locale]
    assert str(module.column("gender")) == expected  # type: ignore[attr-defined]
    assert str(module.value("bool", True)) == {"vi": "Có", "en": "Yes"}[locale]  # type: ignore[attr-defined]


def test_runtime_lookups_are_the_extracted_messages() -> None:
    """Every msgid Jinja2 asks for while rendering is one the extraction found, and the
    rendering cases exercise every extracted message."""
    looked_up: set[str] = set()
    real = gettext.NullTranslations()

    def recording_gettext(message: str) -> str:
        looked_up.add(message)
        return real.gettext(message)

    def recording_ngettext(singular: str, plural: str, n: int) -> str:
        looked_up.add(singular)
        return real.ngettext(singular, plural, n)

    # a fresh environment with the configuration of bot.texts, recording the lookups
    factory: Callable[[str], Environment] = environment.__wrapped__
    env = factory("vi")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        recording_gettext, recording_ngettext, newstyle=True
    )
    for case in [*CASES, _seed_case("vi")]:
        env.get_template(case.template).render(**case.context_for("vi"))
    for template in (*MACRO_TEMPLATES, "stats.txt"):
        module = env.get_template(template).make_module()
        for name, macro in vars(module).items():
            if not isinstance(macro, Macro):
                continue
            if name == "heading":
                for key in ("code", "name", "ratio", "rate", "result", "coverage"):
                    macro(key)
            elif template == "member/data_labels.txt":
                for args in _data_label_calls(name):
                    macro(**args)
            elif template != "stats.txt":
                for _, args in (c for c in _macro_calls(template) if c[0] == name):
                    macro(**args)
    assert looked_up - set(EXTRACTED) == set()
    assert set(EXTRACTED) - looked_up == set()


# --------------------------------------------------------------------------- Telegram HTML

TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a",
     "blockquote", "tg-spoiler", "span"}
)  # fmt: skip
TELEGRAM_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"tag <{tag}> is not supported by Telegram")
        names = {n for n, _ in attrs}
        allowed = {"a": {"href"}, "code": {"class"}, "span": {"class"}}.get(tag, set())
        if not names <= allowed:
            self.problems.append(f"attributes {sorted(names - allowed)} on <{tag}>")
        if tag == "span" and ("class", "tg-spoiler") not in attrs:
            self.problems.append("<span> without class tg-spoiler")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> does not close {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in TELEGRAM_ENTITIES:
            self.problems.append(f"entity &{name};")

    def handle_comment(self, data: str) -> None:
        self.problems.append("HTML comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declaration")


def assert_telegram_html(text: str) -> None:
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    assert not parser.problems, parser.problems
    assert not parser.stack, f"unclosed {parser.stack}"
    # a bare "<" or "&" that is no tag or entity is refused by Telegram
    stripped = re.sub(
        r"</?[a-z-]+(?:\s[^<>]*)?>|&(?:#\d+|#x[0-9a-f]+|[a-z]+);", "", text, flags=re.I
    )
    assert "<" not in stripped and ">" not in stripped and "&" not in stripped, text


def test_html_checker_catches_bad_markup() -> None:
    for bad in ("<b>open", "<b><i>x</b></i>", "<p>x</p>", "<br>", "a < b", "a & b", "&nbsp;"):
        with pytest.raises(AssertionError):
            assert_telegram_html(bad)
    assert_telegram_html('<b>x</b> <a href="https://t.me/x">y</a> &lt;z&gt; &amp; &#39;')


def test_values_are_escaped_for_telegram() -> None:
    unit = SimpleNamespace(name="Trường <A> & B")
    en = render("member/queued.txt", "en", unit=unit)
    assert "<b>Trường &lt;A&gt; &amp; B</b>" in en
    assert_telegram_html(en)
