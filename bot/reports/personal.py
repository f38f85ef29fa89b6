"""A member's own data (``/dulieu``) as a file: an .xlsx workbook (one sheet per kind of data,
headed in the member's language) or JSON (keys in English, times ISO 8601 in local time with
their offset, codes as the database keeps them, so that another system can read it).

The words of the workbook come from ``member/data_labels.txt``; text that came from people
(names, answers, what a member wrote) never starts a cell as a formula and loses the control
characters a worksheet refuses (:func:`cell_text`).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.reports.export import safe_text
from bot.services.personal_data import PersonalData
from bot.texts import environment, format_date, format_datetime

#: The sheets of the workbook, in order (the keys of ``sheet`` in data_labels.txt).
SHEETS = (
    "record",
    "chats",
    "consents",
    "answers",
    "participations",
    "cases",
    "benefits",
    "notices",
    "corrections",
    "link_requests",
)


def cell_text(value: str) -> str:
    """``value`` as a worksheet cell can hold it and shows it literally: without the control
    characters openpyxl refuses (text pasted from elsewhere may hold a vertical tab, and one
    such character must not fail a whole export), never read as a formula."""
    return safe_text(ILLEGAL_CHARACTERS_RE.sub("", value))


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def _relation(reported: bool, about_me: bool) -> str:
    if reported and about_me:
        return "both"
    return "reported" if reported else "about_me"


def to_dict(data: PersonalData) -> dict[str, Any]:
    """The JSON export's content (module doc)."""
    out: dict[str, Any] = {"exported_at": _iso(data.made_at)}
    r = data.record
    if r is not None:
        out["person"] = {
            "full_name": r.full_name,
            "phone": r.phone,
            "staff_code": r.staff_code,
            "unit": {"code": r.unit_code, "name": r.unit_name},
            "is_member": r.is_member,
            "gender": r.gender,
            "role": r.role,
            "officer_unit": r.officer_unit_name,
            "tags": list(r.tags),
            "work_status": r.work_status,
            "left_on": _iso(r.left_on),
            "consent_withdrawn_at": _iso(r.consent_withdrawn_at),
            "in_roster_since": _iso(r.since),
        }
    out["chats"] = [
        {
            "channel": c.channel,
            "account_id": c.account_id,
            "stage": c.stage,
            "notices_stopped": c.stopped,
            "chosen_for_messages": c.chosen,
            "since": _iso(c.since),
        }
        for c in data.chats
    ]
    out["consents"] = [
        {"channel": c.channel, "decision": c.decision, "text_version": c.version, "at": _iso(c.at)}
        for c in data.consents
    ]
    out["link_requests"] = [
        {
            "full_name": q.full_name,
            "phone": q.phone,
            "status": q.status,
            "asked_at": _iso(q.asked_at),
            "resolved_at": _iso(q.resolved_at),
        }
        for q in data.link_requests
    ]
    if r is None:
        return out
    out["survey_responses"] = [
        {
            "survey": s.survey,
            "period": s.period,
            "state": s.state,
            "anonymous_survey": s.anonymous,
            "started_at": _iso(s.started_at),
            "completed_at": _iso(s.completed_at),
            "answers": [
                {"question": a.question, "prompt": a.prompt, "value": a.value, "shown": a.shown}
                for a in s.answers
            ],
        }
        for s in data.responses
    ]
    out["anonymous_participations"] = [
        {"survey": p.survey, "period": p.period, "completed_at": _iso(p.completed_at)}
        for p in data.participations
    ]
    cases = []
    for c in data.cases:
        item: dict[str, Any] = {
            "id": c.id,
            "kind": c.kind,
            "category": c.category,
            "status": c.status,
            "urgent": c.urgent,
            "you_reported": c.reported,
            "about_you": c.about_me,
            "reported_at": _iso(c.reported_at),
            "updated_at": _iso(c.updated_at),
            "visible_to": list(c.visible_to),
        }
        if c.reported:
            item["subject_name"] = c.subject_name
            item["description"] = c.description
        cases.append(item)
    out["cases"] = cases
    out["welfare_benefits"] = [
        {
            "offer": b.offer,
            "offer_label": b.offer_label,
            "status": b.status,
            "year": b.year,
            "signed_up_at": _iso(b.signed_up_at),
            "confirmed_at": _iso(b.confirmed_at),
        }
        for b in data.benefits
    ]
    out["notices"] = [
        {
            "title": n.title,
            "status": n.status,
            "queued_at": _iso(n.queued_at),
            "sent_at": _iso(n.sent_at),
            "acknowledged_at": _iso(n.acknowledged_at),
        }
        for n in data.notices
    ]
    out["correction_requests"] = [
        {
            "field": k.field,
            "old_value": k.old_value,
            "new_value": k.new_value,
            "status": k.status,
            "asked_at": _iso(k.asked_at),
            "decided_at": _iso(k.decided_at),
        }
        for k in data.corrections
    ]
    return out


def to_json(data: PersonalData) -> bytes:
    """UTF-8 JSON, Vietnamese kept as is (not \\u escapes), indented for reading."""
    return json.dumps(to_dict(data), ensure_ascii=False, indent=2).encode("utf-8")


class _Words:
    """The macros of member/data_labels.txt, as plain text."""

    def __init__(self, locale: str) -> None:
        env = environment(locale)
        self._module: Any = env.get_template("member/data_labels.txt").make_module()

    def __call__(self, macro: str, *args: Any) -> str:
        return html.unescape(str(getattr(self._module, macro)(*args))).strip()

    def value(self, kind: str, code: object) -> str:
        return self("value", kind, code)


Cell = str | int | None


def _sheet(ws: Worksheet, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([cell_text(v) if isinstance(v, str) else v for v in row])
    for index, header in enumerate(headers, start=1):
        longest = max([len(header), *(len(str(r[index - 1] or "")) for r in rows)])
        ws.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest + 2))
    for line in ws.iter_rows(min_row=2):
        for cell in line:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"


def _when(value: dt.datetime | None) -> str:
    return format_datetime(value)


#: A sheet's columns: the key of each header (``column`` in data_labels.txt) and its cell.
Columns = Sequence[tuple[str, Callable[[Any], Cell]]]


def _columns(w: _Words) -> dict[str, Columns]:
    """The columns of every sheet but the record (a sheet of item and value), in order."""
    return {
        "chats": (
            ("channel", lambda c: w.value("channel", c.channel)),
            ("account", lambda c: c.account_id),
            ("stage", lambda c: w.value("stage", c.stage)),
            ("stopped", lambda c: w.value("bool", c.stopped)),
            ("chosen", lambda c: w.value("bool", c.chosen)),
            ("chat_since", lambda c: _when(c.since)),
        ),
        "consents": (
            ("channel", lambda c: w.value("channel", c.channel)),
            ("decision", lambda c: w.value("decision", c.decision)),
            ("version", lambda c: c.version),
            ("at", lambda c: _when(c.at)),
        ),
        "participations": (
            ("survey", lambda p: p.survey),
            ("period", lambda p: p.period),
            ("completed_at", lambda p: _when(p.completed_at)),
        ),
        "cases": (
            ("case_id", lambda c: c.id),
            ("kind", lambda c: w.value("case_kind", c.kind)),
            ("category", lambda c: c.category),
            ("status", lambda c: w.value("case_status", c.status)),
            ("urgent", lambda c: w.value("bool", c.urgent)),
            ("relation", lambda c: w.value("relation", _relation(c.reported, c.about_me))),
            ("subject", lambda c: c.subject_name or ""),
            ("description", lambda c: c.description or ""),
            ("visible_to", lambda c: ", ".join(c.visible_to)),
            ("reported_at", lambda c: _when(c.reported_at)),
            ("updated_at", lambda c: _when(c.updated_at)),
        ),
        "benefits": (
            ("offer", lambda b: b.offer_label),
            ("status", lambda b: w.value("benefit_status", b.status)),
            ("year", lambda b: b.year),
            ("signed_up_at", lambda b: _when(b.signed_up_at)),
            ("confirmed_at", lambda b: _when(b.confirmed_at)),
        ),
        "notices": (
            ("title", lambda n: n.title),
            ("status", lambda n: w.value("delivery", n.status)),
            ("sent_at", lambda n: _when(n.sent_at or n.queued_at)),
            ("acknowledged_at", lambda n: _when(n.acknowledged_at)),
        ),
        "corrections": (
            ("field", lambda k: w.value("field", k.field)),
            ("old_value", lambda k: k.old_shown),
            ("new_value", lambda k: k.new_shown),
            ("status", lambda k: w.value("request", k.status)),
            ("asked_at", lambda k: _when(k.asked_at)),
            ("decided_at", lambda k: _when(k.decided_at)),
        ),
        "link_requests": (
            ("full_name", lambda q: q.full_name),
            ("phone", lambda q: q.phone_shown),
            ("status", lambda q: w.value("request", q.status)),
            ("asked_at", lambda q: _when(q.asked_at)),
            ("decided_at", lambda q: _when(q.resolved_at)),
        ),
    }


def _record_rows(data: PersonalData, w: _Words) -> list[list[Cell]]:
    """The record sheet: when the file was made, then the roster record, one item a row."""
    rows: list[list[Cell]] = [[w("column", "made_at"), _when(data.made_at)]]
    r = data.record
    if r is None:
        return rows
    items: list[tuple[str, Cell]] = [
        ("full_name", r.full_name),
        ("phone", r.phone_shown),
        ("staff_code", r.staff_code or ""),
        ("unit", r.unit_name),
        ("unit_code", r.unit_code),
        ("is_member", w.value("bool", r.is_member)),
        ("gender", w.value("gender", r.gender)),
        ("role", w.value("role", r.role)),
        ("officer_unit", r.officer_unit_name or ""),
        ("tags", ", ".join(r.tags)),
        ("work_status", w.value("work_status", r.work_status)),
        ("left_on", format_date(r.left_on)),
        ("withdrawn", _when(r.consent_withdrawn_at)),
        ("since", _when(r.since)),
    ]
    return rows + [[w("column", key), value] for key, value in items]


def _answer_rows(data: PersonalData, w: _Words) -> list[list[Cell]]:
    """The answers sheet: a row per answer, headed by its survey (a row of its own for a
    response with no answer yet)."""
    rows: list[list[Cell]] = []
    for s in data.responses:
        head: list[Cell] = [
            s.survey,
            s.period,
            w.value("state", s.state),
            _when(s.completed_at or s.started_at),
        ]
        if not s.answers:
            rows.append([*head, "", ""])
        rows.extend([*head, a.prompt, a.shown] for a in s.answers)
    return rows


def to_xlsx(data: PersonalData, locale: str) -> bytes:
    """The workbook: one sheet per kind of data, every sheet present (empty ones say so by
    having only their header)."""
    w = _Words(locale)
    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook has its one sheet
    sheets: dict[str, Worksheet] = {}
    for index, key in enumerate(SHEETS):
        ws = first if index == 0 else book.create_sheet()
        ws.title = w("sheet", key)[:31]
        sheets[key] = ws
    _sheet(sheets["record"], [w("column", "item"), w("column", "value")], _record_rows(data, w))
    answer_keys = ("survey", "period", "state", "completed_at", "question", "answer")
    _sheet(sheets["answers"], [w("column", k) for k in answer_keys], _answer_rows(data, w))
    items: dict[str, Sequence[Any]] = {
        "chats": data.chats,
        "consents": data.consents,
        "participations": data.participations,
        "cases": data.cases,
        "benefits": data.benefits,
        "notices": data.notices,
        "corrections": data.corrections,
        "link_requests": data.link_requests,
    }
    for key, columns in _columns(w).items():
        _sheet(
            sheets[key],
            [w("column", name) for name, _ in columns],
            [[cell(item) for _, cell in columns] for item in items[key]],
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
