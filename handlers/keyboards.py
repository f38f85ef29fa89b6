"""Inline and reply keyboards, built from service results and the labels template."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.campaigns.schedule import Recurrence
from bot.campaigns.service import CampaignDetail, CampaignSummary
from bot.notices.service import NoticeDetail
from bot.services.casework import BenefitItem, CaseItem
from bot.services.composer import ComposeView, Step
from bot.services.conversation import Offer, Screen, ScreenKind
from bot.services.leaving import LeaveResult
from bot.services.onboarding import CONSENT_VERSION, PendingItem, ResolveAction
from bot.texts import label
from handlers.callbacks import (
    AckCb,
    AnswerCb,
    BackCb,
    BenefitCb,
    CampaignCb,
    CaseCb,
    ComposeCb,
    ConsentCb,
    CorrectionCb,
    CorrectionDecideCb,
    DataExportCb,
    DoneCb,
    EraseCb,
    LaunchCb,
    LeftCb,
    NoticeDetailCb,
    NoticeRemindCb,
    PendingCb,
    SkipCb,
    StopCb,
    SubmitCb,
    SurveyOpenCb,
    ToggleCb,
    WithdrawCb,
    YearCloseCb,
)
from storage.models import NoticeStatus
from surveys.schema import QuestionKind, SurveyDefinition


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def consent(locale: str, version: str = CONSENT_VERSION) -> InlineKeyboardMarkup:
    """The consent buttons; each names the version of the text it answers."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    label("consent_accept", locale),
                    ConsentCb(accept=True, version=version).pack(),
                )
            ],
            [
                _button(
                    label("consent_decline", locale),
                    ConsentCb(accept=False, version=version).pack(),
                )
            ],
        ]
    )


def share_contact(locale: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=label("share_contact", locale), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=label("contact_placeholder", locale),
    )


def offers(items: Sequence[Offer], locale: str) -> InlineKeyboardMarkup | None:
    rows = [
        [
            _button(
                label("open_survey", locale, title=o.title, state=o.state or ""),
                SurveyOpenCb(run=o.run_id or 0, key="" if o.run_id else o.key).pack(),
            )
        ]
        for o in items
        if o.state != "completed"
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def screen(view: Screen, locale: str) -> InlineKeyboardMarkup | None:
    """The buttons of a survey screen: the choices, then skip / back / stop."""
    rid = view.response_id or 0
    rows: list[list[InlineKeyboardButton]] = []
    if view.kind == ScreenKind.QUESTION and view.question is not None:
        q = view.question
        if q.kind == QuestionKind.YES_NO:
            rows.append(
                [
                    _button(label("yes", locale), AnswerCb(r=rid, q=q.key, o=0).pack()),
                    _button(label("no", locale), AnswerCb(r=rid, q=q.key, o=1).pack()),
                ]
            )
        elif q.kind == QuestionKind.SINGLE:
            rows.extend(
                [_button(opt.label, AnswerCb(r=rid, q=q.key, o=i).pack())]
                for i, opt in enumerate(q.options)
            )
        elif q.kind == QuestionKind.MULTI:
            for i, opt in enumerate(q.options):
                name = "checked" if opt.value in view.selected else "unchecked"
                rows.append(
                    [
                        _button(
                            label(name, locale, text=opt.label),
                            ToggleCb(r=rid, q=q.key, o=i).pack(),
                        )
                    ]
                )
            rows.append([_button(label("done", locale), DoneCb(r=rid, q=q.key).pack())])
        if not q.required:
            rows.append([_button(label("skip", locale), SkipCb(r=rid, q=q.key).pack())])
        nav = []
        if view.can_go_back:
            nav.append(_button(label("back", locale), BackCb(r=rid).pack()))
        nav.append(_button(label("stop_survey", locale), SubmitCb(r=rid, send=False).pack()))
        rows.append(nav)
    elif view.kind == ScreenKind.SUMMARY:
        rows.append([_button(label("submit", locale), SubmitCb(r=rid, send=True).pack())])
        nav = []
        if view.can_go_back:
            nav.append(_button(label("back", locale), BackCb(r=rid).pack()))
        nav.append(_button(label("stop_survey", locale), SubmitCb(r=rid, send=False).pack()))
        rows.append(nav)
    elif view.kind == ScreenKind.CONFIRM_STOP:
        rows.append([_button(label("stop_confirm", locale), StopCb(r=rid, ok=True).pack())])
        rows.append([_button(label("stop_keep", locale), StopCb(r=rid, ok=False).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def pending(item: PendingItem, locale: str) -> InlineKeyboardMarkup:
    pid = item.pending.id or 0
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    label("confirm_member", locale),
                    PendingCb(id=pid, action=ResolveAction.MEMBER).pack(),
                ),
                _button(
                    label("confirm_staff", locale),
                    PendingCb(id=pid, action=ResolveAction.STAFF).pack(),
                ),
            ],
            [
                _button(
                    label("reject", locale), PendingCb(id=pid, action=ResolveAction.REJECT).pack()
                )
            ],
        ]
    )


def launch_menu(definitions: Sequence[SurveyDefinition], locale: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(label("launch", locale, title=d.title), LaunchCb(key=d.key).pack())]
            for d in definitions
        ]
    )


LAUNCH_DAYS = (7, 14, 30)
# LaunchCb.ok: launch to those no other open run of the survey asks; give up.
LAUNCH_OTHERS, LAUNCH_GIVE_UP = 1, 2


def launch_days(key: str, locale: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(label("launch_days", locale, days=d), LaunchCb(key=key, days=d).pack())
                for d in LAUNCH_DAYS
            ]
        ]
    )


def launch_repeat(key: str, days: int, locale: str) -> InlineKeyboardMarkup:
    choices = [r.value for r in Recurrence]
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    label("recurrence", locale, value=r),
                    LaunchCb(key=key, days=days, repeat=r).pack(),
                )
            ]
            for r in choices
        ]
    )


def launch_overlap(
    key: str, days: int, repeat: str, others: int, per_unit: bool, locale: str
) -> InlineKeyboardMarkup:
    """Launch to those no other open run of the survey asks, or give up."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    label("launch_others", locale, n=others, per_unit=per_unit),
                    LaunchCb(key=key, days=days, repeat=repeat, ok=LAUNCH_OTHERS).pack(),
                )
            ],
            [
                _button(
                    label("launch_cancel", locale),
                    LaunchCb(key=key, days=days, repeat=repeat, ok=LAUNCH_GIVE_UP).pack(),
                )
            ],
        ]
    )


def campaigns(items: Sequence[CampaignSummary], locale: str) -> InlineKeyboardMarkup | None:
    rows = [
        [
            _button(
                label("campaign_detail", locale, id=c.run_id),
                CampaignCb(run=c.run_id, action="detail").pack(),
            )
        ]
        for c in items
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def campaign(detail: CampaignDetail, locale: str) -> InlineKeyboardMarkup | None:
    if detail.summary.status != "open" or detail.pending == 0:
        return None
    run = detail.summary.run_id
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(label("remind_now", locale), CampaignCb(run=run, action="remind").pack())]
        ]
    )


def case(item: CaseItem, locale: str) -> InlineKeyboardMarkup | None:
    cid = item.case.id or 0
    row = [
        _button(
            label("case_status", locale, status=s.value, kind=item.case.kind),
            CaseCb(id=cid, status=s.value).pack(),
        )
        for s in item.next_statuses
    ]
    return InlineKeyboardMarkup(inline_keyboard=[row]) if row else None


def benefit(item: BenefitItem, locale: str) -> InlineKeyboardMarkup:
    bid = item.benefit.id or 0
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(label("benefit_confirm", locale), BenefitCb(id=bid, confirm=True).pack()),
                _button(label("benefit_cancel", locale), BenefitCb(id=bid, confirm=False).pack()),
            ]
        ]
    )


def left(result: LeaveResult, locale: str) -> InlineKeyboardMarkup:
    """Confirm or cancel a /left change; the buttons carry what was checked."""
    pid = result.person.id if result.person is not None and result.person.id else 0
    status = result.status.value if result.status is not None else ""
    day = result.left_on.toordinal() if result.left_on is not None else 0
    confirm = LeftCb(p=pid, s=status, d=day, ok=True).pack()
    cancel = LeftCb(p=pid, s=status, d=day, ok=False).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(label("left_confirm", locale), confirm),
                _button(label("left_cancel", locale), cancel),
            ]
        ]
    )


def survey_markup(run_id: int, locale: str) -> InlineKeyboardMarkup:
    """The button under a campaign's invitation or reminder: opens (or resumes) the survey."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(label("answer_now", locale), SurveyOpenCb(run=run_id).pack())]]
    )


def ack_markup(delivery_id: int, locale: str) -> InlineKeyboardMarkup:
    """The "Đã nắm" button under a notice; it names the delivery row."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(label("ack", locale), AckCb(d=delivery_id).pack())]]
    )


def acked_markup(delivery_id: int, locale: str) -> InlineKeyboardMarkup:
    """Once acknowledged, the button says so (pressing it again changes nothing)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(label("acked", locale), AckCb(d=delivery_id).pack())]]
    )


def compose(view: ComposeView, locale: str) -> InlineKeyboardMarkup | None:
    """The buttons of a composer step (every step can cancel the draft)."""
    if view.step is None or view.notice is None or view.notice.id is None:
        return None
    nid = view.notice.id

    def act(name: str, action: str, **kw: object) -> InlineKeyboardButton:
        return _button(label(name, locale, **kw), ComposeCb(n=nid, action=action).pack())

    rows: list[list[InlineKeyboardButton]] = []
    if view.step == Step.ATTACHMENT:
        rows.append([act("compose_skip", "skip")])
    elif view.step == Step.AUDIENCE and view.summary is not None:
        public = view.summary.public
        rows.append([act("compose_all", "all", on=public is None)])
        rows.append(
            [
                act("compose_public", "public", on=public is True),
                act("compose_nonpublic", "nonpublic", on=public is False),
            ]
        )
        rows.append([act("compose_members", "members", on=view.summary.members_only)])
        rows.append([act("compose_next", "next")])
    elif view.step == Step.TIME:
        rows.append([act("compose_now", "now")])
    elif view.step == Step.PREVIEW:
        if view.preview is not None and view.preview.ok:
            rows.append([act("compose_send", "send")])
        rows.append([act("compose_edit", "edit")])
    rows.append([act("compose_cancel", "cancel")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def notices_list(ids: Sequence[int], locale: str) -> InlineKeyboardMarkup | None:
    buttons = [
        _button(label("notice_detail", locale, id=i), NoticeDetailCb(n=i).pack()) for i in ids
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def notice_detail(detail: NoticeDetail, locale: str) -> InlineKeyboardMarkup | None:
    """Under a sent notice's detail, while someone has not acknowledged it: remind them."""
    if detail.summary.status != NoticeStatus.QUEUED or detail.not_acknowledged_total == 0:
        return None
    data = NoticeRemindCb(n=detail.summary.id).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[_button(label("remind_unacked", locale), data)]])


def data_export(locale: str, *, files: bool) -> InlineKeyboardMarkup:
    """Under the /dulieu summary: the file formats (where files can be sent), and the way to
    ask for a correction."""
    rows: list[list[InlineKeyboardButton]] = []
    if files:
        rows.append(
            [
                _button(label("export_xlsx", locale), DataExportCb(fmt="xlsx").pack()),
                _button(label("export_json", locale), DataExportCb(fmt="json").pack()),
            ]
        )
    rows.append([_button(label("correction_start", locale), CorrectionCb(action="start").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def correction_fields(locale: str) -> InlineKeyboardMarkup:
    """/suadulieu: which field to correct."""
    names = (
        ("correction_full_name", "full_name"),
        ("correction_phone", "phone"),
        ("correction_unit", "unit"),
        ("correction_cancel", "cancel"),
    )
    rows = [[_button(label(n, locale), CorrectionCb(action=a).pack())] for n, a in names]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def correction_cancel(locale: str) -> InlineKeyboardMarkup:
    """Under the question that waits for the new value."""
    button = _button(label("correction_cancel", locale), CorrectionCb(action="cancel").pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def correction_decide(request_id: int, locale: str) -> InlineKeyboardMarkup:
    """Under a correction request in /corrections: confirm (applies it) or reject."""
    confirm = CorrectionDecideCb(id=request_id, ok=True).pack()
    reject = CorrectionDecideCb(id=request_id, ok=False).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(label("correction_confirm", locale), confirm),
                _button(label("reject", locale), reject),
            ]
        ]
    )


def withdraw_ask(locale: str) -> InlineKeyboardMarkup:
    """Under /privacy: withdraw consent (asks to confirm first)."""
    data = WithdrawCb(step=1).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[_button(label("withdraw_ask", locale), data)]])


def withdraw_confirm(locale: str) -> InlineKeyboardMarkup:
    """Under what /rutlai does: withdraw, or keep consent."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(label("withdraw_confirm", locale), WithdrawCb(step=2).pack())],
            [_button(label("withdraw_keep", locale), WithdrawCb(step=0).pack())],
        ]
    )


def erase_step(step: int, locale: str) -> InlineKeyboardMarkup:
    """Under /xoadulieu's questions: ``step`` 1 "I want to erase", 2 the final confirmation;
    each with a way out."""
    name = "erase_want" if step == 1 else "erase_final"
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(label(name, locale), EraseCb(step=step).pack())],
            [_button(label("withdraw_keep", locale), EraseCb(step=0).pack())],
        ]
    )


def year_close(year: int, locale: str) -> InlineKeyboardMarkup:
    """Under /dongnam's question: close the year's figures, or not."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    label("year_close_confirm", locale, year=year),
                    YearCloseCb(year=year, ok=True).pack(),
                )
            ],
            [_button(label("year_close_cancel", locale), YearCloseCb(year=year, ok=False).pack())],
        ]
    )
