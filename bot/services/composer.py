"""Composing a notice in chat, one step at a time, on a draft stored in the database.

Steps (``notices.compose_step``): title → body → attachment → audience → time → preview.  The
draft survives a restart; ``/notice`` resumes it.  Each function returns a :class:`ComposeView`
(what to ask or show next); nothing here commits or sends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.schedule import QuietHours
from bot.notices import service as notices
from bot.notices.audience import Audience, AudienceError
from bot.notices.render import NoticeTemplateError, compile_notice, validate_html
from bot.services.actors import Actor, find_unit
from storage.models import Notice, NoticeStatus


class Step(StrEnum):
    TITLE = "title"
    BODY = "body"
    ATTACHMENT = "attachment"
    AUDIENCE = "audience"
    TIME = "time"
    PREVIEW = "preview"


@dataclass(frozen=True)
class ComposeView:
    step: Step | None  # None: nothing being composed (finished, cancelled, or not allowed)
    notice: Notice | None = None
    preview: notices.Preview | None = None
    summary: notices.AudienceSummary | None = None
    error: str | None = None  # a code for the re-prompt template
    detail: str = ""
    template_error: NoticeTemplateError | None = None
    confirmed: notices.Confirmed | None = None
    cancelled: bool = False
    #: At the time step: a local time to give as the example of the format, in the future.
    example: dt.datetime | None = None


_WHEN = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s+(\d{1,2})[:hg](\d{2})\s*$")


def parse_local_time(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """``dd/mm/yyyy hh:mm`` (also 20-11-2026 7h30) in local time; None if not a real time."""
    match = _WHEN.match(text)
    if match is None:
        return None
    day, month, year, hour, minute = (int(g) for g in match.groups())
    try:
        return dt.datetime(year, month, day, hour, minute, tzinfo=tz)
    except ValueError:
        return None


class Composer:
    def __init__(
        self, *, tz: dt.tzinfo, default_locale: str, quiet: QuietHours | None = None
    ) -> None:
        """``tz`` and ``default_locale``: the settings' ``Settings.tz`` and ``Settings.locale``
        (the zone of the times typed and shown, the language of a recipient with none)."""
        self.tz = tz
        self.default_locale = default_locale
        self.quiet = quiet or QuietHours()

    async def start(self, session: AsyncSession, *, actor: Actor) -> ComposeView:
        """``/notice``: resume the draft in progress, or begin a new one."""
        if not actor.is_officer:
            return ComposeView(None, error="forbidden")
        current = await self._draft(session, actor)
        if current is not None:
            return await self._view(session, actor, current)
        notice = await notices.create_draft(
            session, actor=actor, title="", body="", compose_step=Step.TITLE, tz=self.tz
        )
        actor.chat.compose_notice_id = notice.id
        return ComposeView(Step.TITLE, notice)

    async def current(self, session: AsyncSession, *, actor: Actor) -> ComposeView:
        notice = await self._draft(session, actor)
        if notice is None:
            return ComposeView(None)
        return await self._view(session, actor, notice)

    async def text(self, session: AsyncSession, *, actor: Actor, text: str) -> ComposeView:
        """Typed text: the answer to the step being asked."""
        notice = await self._draft(session, actor)
        if notice is None or notice.id is None:
            return ComposeView(None)
        nid = notice.id
        step = Step(notice.compose_step or Step.TITLE)
        text = text.strip()
        if step == Step.TITLE:
            if not text or len(text) > notices.MAX_TITLE:
                return ComposeView(step, notice, error="title")
            notice = await notices.update_draft(
                session, actor=actor, notice_id=nid, title=text, compose_step=Step.BODY, tz=self.tz
            )
        elif step == Step.BODY:
            problem = self._check_body(text)
            if isinstance(problem, NoticeTemplateError):
                return ComposeView(step, notice, template_error=problem)
            if problem:
                return ComposeView(step, notice, error="html", detail=problem)
            notice = await notices.update_draft(
                session,
                actor=actor,
                notice_id=nid,
                body=text,
                compose_step=Step.ATTACHMENT,
                tz=self.tz,
            )
        elif step == Step.ATTACHMENT:
            return ComposeView(step, notice, error="attachment")
        elif step == Step.AUDIENCE:
            return await self._narrow(session, actor, notice, text)
        elif step == Step.TIME:
            when = parse_local_time(text, self.tz)
            if when is None or when <= dt.datetime.now(self.tz):
                return ComposeView(step, notice, error="time", example=self.example_time())
            notice = await notices.update_draft(
                session,
                actor=actor,
                notice_id=nid,
                send_at=when,
                compose_step=Step.PREVIEW,
                tz=self.tz,
            )
        return await self._view(session, actor, notice)

    async def cancel(self, session: AsyncSession, *, actor: Actor) -> ComposeView:
        """The draft being composed is cancelled (``/cancel``, or the composer's cancel
        button); ``cancelled`` is False when nothing was being composed."""
        notice = await self._draft(session, actor)
        if notice is None or notice.id is None:
            return ComposeView(None)
        await notices.cancel(session, actor=actor, notice_id=notice.id)
        actor.chat.compose_notice_id = None
        return ComposeView(None, notice, cancelled=True)

    def example_time(self) -> dt.datetime:
        """The example of the time format: tomorrow at 07:30 local time (or when the quiet
        hours covering it end), so it is always a time that can be typed as it is."""
        tomorrow = dt.datetime.now(self.tz).date() + dt.timedelta(days=1)
        return self.quiet.release(
            dt.datetime.combine(tomorrow, dt.time(7, 30), tzinfo=self.tz), self.tz
        )

    async def attach(
        self, session: AsyncSession, *, actor: Actor, kind: str, ref: str
    ) -> ComposeView:
        """A document or photo sent at the attachment step."""
        notice = await self._draft(session, actor)
        if notice is None or notice.id is None:
            return ComposeView(None)
        if notice.compose_step != Step.ATTACHMENT:
            return ComposeView(Step(notice.compose_step or Step.TITLE), notice, error="unexpected")
        notice = await notices.update_draft(
            session,
            actor=actor,
            notice_id=notice.id,
            attachment=notices.Attachment(kind, ref),
            compose_step=Step.AUDIENCE,
            tz=self.tz,
        )
        return await self._view(session, actor, notice)

    async def press(
        self, session: AsyncSession, *, actor: Actor, notice_id: int, action: str
    ) -> ComposeView:
        """A composer button: skip the attachment, choose the audience or the time, confirm."""
        notice = await self._draft(session, actor)
        if notice is None or notice.id != notice_id:
            return ComposeView(None, error="stale")
        step = Step(notice.compose_step or Step.TITLE)
        audience = Audience.from_json(notice.audience)
        if action == "cancel":
            return await self.cancel(session, actor=actor)
        if step == Step.ATTACHMENT and action == "skip":
            notice = await notices.update_draft(
                session, actor=actor, notice_id=notice_id, compose_step=Step.AUDIENCE, tz=self.tz
            )
        elif step == Step.AUDIENCE and action in ("all", "public", "nonpublic", "members"):
            if action == "members":
                audience = dataclasses.replace(audience, members_only=not audience.members_only)
            else:
                public = {"all": None, "public": True, "nonpublic": False}[action]
                audience = dataclasses.replace(audience, public=public)
            notice = await notices.update_draft(
                session, actor=actor, notice_id=notice_id, audience=audience, tz=self.tz
            )
        elif step == Step.AUDIENCE and action == "next":
            notice = await notices.update_draft(
                session, actor=actor, notice_id=notice_id, compose_step=Step.TIME, tz=self.tz
            )
        elif step == Step.TIME and action == "now":
            notice = await notices.update_draft(
                session,
                actor=actor,
                notice_id=notice_id,
                send_at=None,
                compose_step=Step.PREVIEW,
                tz=self.tz,
            )
        elif step == Step.PREVIEW and action == "edit":
            notice = await notices.update_draft(
                session, actor=actor, notice_id=notice_id, compose_step=Step.BODY, tz=self.tz
            )
        elif step == Step.PREVIEW and action == "send":
            confirmed = await notices.confirm(
                session,
                actor=actor,
                notice_id=notice_id,
                now=dt.datetime.now(dt.UTC),
                tz=self.tz,
                default_locale=self.default_locale,
                quiet=self.quiet,
            )
            if confirmed.outcome == notices.ConfirmOutcome.QUEUED:
                actor.chat.compose_notice_id = None
                return ComposeView(None, confirmed.notice, confirmed=confirmed)
            view = await self._view(session, actor, notice)
            return dataclasses.replace(view, confirmed=confirmed)
        else:
            return ComposeView(step, notice, error="stale")
        return await self._view(session, actor, notice)

    # -- internals ---------------------------------------------------------------------

    async def _draft(self, session: AsyncSession, actor: Actor) -> Notice | None:
        notice_id = actor.chat.compose_notice_id
        if notice_id is None or not actor.is_officer or actor.person is None:
            return None
        notice = await session.get(Notice, notice_id)
        if (
            notice is None
            or notice.status != NoticeStatus.DRAFT
            or notice.author_id != actor.person.id
        ):
            actor.chat.compose_notice_id = None
            return None
        return notice

    async def _view(self, session: AsyncSession, actor: Actor, notice: Notice) -> ComposeView:
        step = Step(notice.compose_step or Step.TITLE)
        if step == Step.PREVIEW:
            preview = await notices.preview(session, actor=actor, notice=notice, tz=self.tz)
            return ComposeView(step, notice, preview=preview)
        if step == Step.AUDIENCE:
            audience = Audience.from_json(notice.audience)
            units = await notices.audience_units(session, actor=actor, audience=audience)
            summary = notices.AudienceSummary(
                scope_name=actor.scope.name if actor.scope else "",
                units=tuple(u.name for u in units) if audience.unit_ids else (),
                public=audience.public,
                members_only=audience.members_only,
                tag=audience.tag,
            )
            return ComposeView(step, notice, summary=summary)
        if step == Step.TIME:
            return ComposeView(step, notice, example=self.example_time())
        return ComposeView(step, notice)

    async def _narrow(
        self, session: AsyncSession, actor: Actor, notice: Notice, text: str
    ) -> ComposeView:
        """At the audience step, ``#tag`` sets a tag; other text names a unit of the scope."""
        assert notice.id is not None
        audience = Audience.from_json(notice.audience)
        if text.startswith("#") and len(text) > 1:
            audience = dataclasses.replace(audience, tag=text[1:].strip()[:64])
        else:
            within = actor.scope.path if actor.scope is not None else "/"
            unit = await find_unit(session, text=text, within_path=within)
            if unit is None or unit.id is None:
                return ComposeView(Step.AUDIENCE, notice, error="unit", detail=text)
            ids = tuple(dict.fromkeys((*audience.unit_ids, unit.id)))
            audience = dataclasses.replace(audience, unit_ids=ids)
        try:
            notice = await notices.update_draft(
                session, actor=actor, notice_id=notice.id, audience=audience, tz=self.tz
            )
        except AudienceError:
            return ComposeView(Step.AUDIENCE, notice, error="unit", detail=text)
        return await self._view(session, actor, notice)

    @staticmethod
    def _check_body(text: str) -> NoticeTemplateError | str | None:
        """A template that does not compile or render, or HTML Telegram would refuse."""
        if not text:
            return "empty"
        try:
            rendered = compile_notice(text).render(name="Nguyễn Văn A", unit="Đơn vị", year=2026)
        except NoticeTemplateError as exc:
            return exc
        problems = validate_html(rendered)
        return problems[0].code if problems else None
