"""Inline and reply keyboards, built from service results and the labels template."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.services.casework import BenefitItem, CaseItem
from bot.services.conversation import Offer, Screen, ScreenKind
from bot.services.onboarding import CONSENT_VERSION, PendingItem, ResolveAction
from bot.texts import label
from handlers.callbacks import (
    AnswerCb,
    BackCb,
    BenefitCb,
    CaseCb,
    ConsentCb,
    DoneCb,
    LaunchCb,
    PendingCb,
    SkipCb,
    SubmitCb,
    SurveyOpenCb,
    ToggleCb,
)
from surveys.schema import QuestionKind, SurveyDefinition


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def consent(locale: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    label("consent_accept", locale),
                    ConsentCb(accept=True, version=CONSENT_VERSION).pack(),
                )
            ],
            [
                _button(
                    label("consent_decline", locale),
                    ConsentCb(accept=False, version=CONSENT_VERSION).pack(),
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


def case(item: CaseItem, locale: str) -> InlineKeyboardMarkup | None:
    cid = item.case.id or 0
    row = [
        _button(label("case_status", locale, status=s.value), CaseCb(id=cid, status=s.value).pack())
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
