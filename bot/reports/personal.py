"""A member's own data (``/dulieu``) as a file: an .xlsx workbook (one sheet per kind of data,
headed in the member's language) or JSON (keys in English, times ISO 8601 in local time with
their offset, codes as the database keeps them, so that another system can read it).

The words of the workbook come from ``member/data_labels.txt``; text that came from people
(names, answers, what a member wrote) never starts a cell as a formula (:func:`safe_text`).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
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
        ws.append([safe_text(v) if isinstance(v, str) else v for v in row])
    for index, header in enumerate(headers, start=1):
        longest = max([len(header), *(len(str(r[index - 1] or "")) for r in rows)])
        ws.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest + 2))
    for line in ws.iter_rows(min_row=2):
        for cell in line:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"


def _when(value: dt.datetime | None) -> str:
    return format_datetime(value)


def to_xlsx(data: PersonalData, locale: str) -> bytes:
    """The workbook: one sheet per kind of data, every sheet present (empty ones say so by
    having only their header)."""
    w = _Words(locale)

    def col(key: str) -> str:
        return w("column", key)

    book = Workbook()
    first = book.active
    assert first is not None
    sheets: dict[str, Worksheet] = {}
    for index, key in enumerate(SHEETS):
        ws = first if index == 0 else book.create_sheet()
        ws.title = w("sheet", key)[:31]
        sheets[key] = ws
    r = data.record
    record_rows: list[list[Cell]] = [[col("made_at"), _when(data.made_at)]]
    if r is not None:
        record_rows += [
            [col("full_name"), r.full_name],
            [col("phone"), r.phone_shown],
            [col("staff_code"), r.staff_code or ""],
            [col("unit"), r.unit_name],
            [col("unit_code"), r.unit_code],
            [col("is_member"), w.value("bool", r.is_member)],
            [col("gender"), w.value("gender", r.gender)],
            [col("role"), w.value("role", r.role)],
            [col("officer_unit"), r.officer_unit_name or ""],
            [col("tags"), ", ".join(r.tags)],
            [col("work_status"), w.value("work_status", r.work_status)],
            [col("left_on"), format_date(r.left_on)],
            [col("withdrawn"), _when(r.consent_withdrawn_at)],
            [col("since"), _when(r.since)],
        ]
    _sheet(sheets["record"], [col("item"), col("value")], record_rows)
    _sheet(
        sheets["chats"],
        [col(k) for k in ("channel", "account", "stage", "stopped", "chosen", "chat_since")],
        [
            [
                w.value("channel", c.channel),
                c.account_id,
                w.value("stage", c.stage),
                w.value("bool", c.stopped),
                w.value("bool", c.chosen),
                _when(c.since),
            ]
            for c in data.chats
        ],
    )
    _sheet(
        sheets["consents"],
        [col(k) for k in ("channel", "decision", "version", "at")],
        [
            [w.value("channel", c.channel), w.value("decision", c.decision), c.version, _when(c.at)]
            for c in data.consents
        ],
    )
    answer_rows: list[list[Cell]] = []
    for s in data.responses:
        head: list[Cell] = [
            s.survey,
            s.period,
            w.value("state", s.state),
            _when(s.completed_at or s.started_at),
        ]
        if not s.answers:
            answer_rows.append([*head, "", ""])
        answer_rows.extend([*head, a.prompt, a.shown] for a in s.answers)
    _sheet(
        sheets["answers"],
        [col(k) for k in ("survey", "period", "state", "completed_at", "question", "answer")],
        answer_rows,
    )
    _sheet(
        sheets["participations"],
        [col(k) for k in ("survey", "period", "completed_at")],
        [[p.survey, p.period, _when(p.completed_at)] for p in data.participations],
    )
    _sheet(
        sheets["cases"],
        [
            col(k)
            for k in (
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
            )
        ],
        [
            [
                c.id,
                w.value("case_kind", c.kind),
                c.category,
                w.value("case_status", c.status),
                w.value("bool", c.urgent),
                w.value("relation", _relation(c.reported, c.about_me)),
                c.subject_name or "",
                c.description or "",
                ", ".join(c.visible_to),
                _when(c.reported_at),
                _when(c.updated_at),
            ]
            for c in data.cases
        ],
    )
    _sheet(
        sheets["benefits"],
        [col(k) for k in ("offer", "status", "year", "signed_up_at", "confirmed_at")],
        [
            [
                b.offer_label,
                w.value("benefit_status", b.status),
                b.year,
                _when(b.signed_up_at),
                _when(b.confirmed_at),
            ]
            for b in data.benefits
        ],
    )
    _sheet(
        sheets["notices"],
        [col(k) for k in ("title", "status", "sent_at", "acknowledged_at")],
        [
            [
                n.title,
                w.value("delivery", n.status),
                _when(n.sent_at or n.queued_at),
                _when(n.acknowledged_at),
            ]
            for n in data.notices
        ],
    )
    _sheet(
        sheets["corrections"],
        [col(k) for k in ("field", "old_value", "new_value", "status", "asked_at", "decided_at")],
        [
            [
                w.value("field", k.field),
                k.old_shown,
                k.new_shown,
                w.value("request", k.status),
                _when(k.asked_at),
                _when(k.decided_at),
            ]
            for k in data.corrections
        ],
    )
    _sheet(
        sheets["link_requests"],
        [col(k) for k in ("full_name", "phone", "status", "asked_at", "decided_at")],
        [
            [
                q.full_name,
                q.phone_shown,
                w.value("request", q.status),
                _when(q.asked_at),
                _when(q.resolved_at),
            ]
            for q in data.link_requests
        ],
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
