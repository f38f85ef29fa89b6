"""Typed callback data of every inline button (one prefix each).

Callback data comes back from the client and is untrusted: handlers re-check who presses and
what it names (services compare the response, question and scope with the database).
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ConsentCb(CallbackData, prefix="cs"):
    accept: bool
    version: str


class SurveyOpenCb(CallbackData, prefix="so"):
    run: int  # 0: a standing form named by ``key``
    key: str = ""


class AnswerCb(CallbackData, prefix="sa"):
    r: int  # response id
    q: str  # question key
    o: int  # option index (yes/no: 0 = yes, 1 = no)


class ToggleCb(CallbackData, prefix="st"):
    r: int
    q: str
    o: int


class DoneCb(CallbackData, prefix="sd"):
    r: int
    q: str


class SkipCb(CallbackData, prefix="sk"):
    r: int
    q: str


class BackCb(CallbackData, prefix="sb"):
    r: int


class SubmitCb(CallbackData, prefix="sx"):
    r: int
    send: bool  # True: submit; False: stop the survey (asks first: StopCb)


class StopCb(CallbackData, prefix="sz"):
    """The answer to "stop this survey?": ``ok`` stops it (its answers dropped); False goes
    back to where the survey was."""

    r: int
    ok: bool


class PendingCb(CallbackData, prefix="pl"):
    id: int
    action: str  # a ResolveAction value


class LaunchCb(CallbackData, prefix="ln"):
    """The /survey launcher, one choice per step: the survey, then how many days it stays
    open, then how it repeats (``repeat`` a Recurrence value; empty: not chosen yet).  When
    some of the audience are asked in another open run of the survey: ``ok`` 1 launches to
    the others, 2 gives up."""

    key: str
    days: int = 0
    repeat: str = ""
    ok: int = 0


class CampaignCb(CallbackData, prefix="cp"):
    """A campaign of /campaigns: ``action`` is ``detail`` or ``remind`` (by hand)."""

    run: int
    action: str


class CaseCb(CallbackData, prefix="hc"):
    id: int
    status: str  # a CaseStatus value


class BenefitCb(CallbackData, prefix="wb"):
    id: int
    confirm: bool


class AckCb(CallbackData, prefix="ak"):
    """ "Đã nắm" under a notice: names the delivery row, re-checked against the presser."""

    d: int


class ComposeCb(CallbackData, prefix="nc"):
    """A button of the notice composer; ``action`` names the step's choice."""

    n: int  # notice id
    action: str


class NoticeDetailCb(CallbackData, prefix="nd"):
    n: int


class NoticeRemindCb(CallbackData, prefix="nr"):
    """ "Nhắc người chưa nắm" under a notice's detail: remind who has not acknowledged it."""

    n: int


class LeftCb(CallbackData, prefix="lf"):
    """The confirmation of /left: the person, the new status (a WorkStatus value) and the
    leaving date as an ordinal (0: none); ``ok`` False cancels.  Re-checked when pressed."""

    p: int
    s: str
    d: int
    ok: bool


class DataExportCb(CallbackData, prefix="pdx"):
    """/dulieu: the file format chosen (``xlsx`` or ``json``) for the member's own data."""

    fmt: str


class CorrectionCb(CallbackData, prefix="pcr"):
    """/suadulieu: ``start`` (the button under /dulieu), a field to correct (``full_name``,
    ``phone``, ``unit``), or ``cancel``."""

    action: str


class CorrectionDecideCb(CallbackData, prefix="pcd"):
    """An officer's decision on a correction request; re-checked when pressed."""

    id: int
    ok: bool


class WithdrawCb(CallbackData, prefix="wd"):
    """/rutlai: ``step`` 1 asks (the button under /privacy), 2 withdraws, 0 keeps consent."""

    step: int


class EraseCb(CallbackData, prefix="er"):
    """/xoadulieu, confirmed twice: ``step`` 1 is "I want to erase", 2 the final, irreversible
    confirmation, 0 gives up.  Re-checked against the presser's chat when pressed."""

    step: int


class YearCloseCb(CallbackData, prefix="yc"):
    """The admin's answer to "close the figures of ``year``?" (/dongnam): ``ok`` closes it,
    False leaves it open.  Re-checked when pressed: admins only, a past year, not closed."""

    year: int
    ok: bool
