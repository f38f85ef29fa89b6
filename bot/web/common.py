"""What every page of the dashboard shares: the context the server is built with, the
request's unit of work (its database session and the officer behind it), rendering, and the
checks of the parameters a page is given."""

from __future__ import annotations

import datetime as dt
import html as markup
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.campaigns.schedule import QuietHours, RemindedByHand, ReminderPolicy
from bot.indicators.catalog import Catalog
from bot.notices.service import AckReminderPolicy
from bot.reports.export import SignOff
from bot.services.actors import Actor
from bot.services.web_access import WebPolicy
from bot.web.render import page, web_environment
from storage import audit, people
from storage.db import Database
from storage.models import AuditAction, Unit
from storage.web import LiveSession
from surveys.phone import display_phone


@dataclass
class WebContext:
    """Everything the pages need, built once from the settings (``bot.web.server``)."""

    db: Database
    catalog: Catalog
    tz: ZoneInfo
    policy: WebPolicy
    signoff: SignOff
    reminders: ReminderPolicy
    ack_reminders: AckReminderPolicy
    wake_delivery: Callable[[], None] | None = None
    # Sign-in attempts per client address: at most ``SIGN_IN_ATTEMPTS`` in ``SIGN_IN_WINDOW``.
    attempts: dict[str, list[float]] = field(default_factory=dict)


CTX = web.AppKey("congdoan_web", WebContext)


@dataclass
class Visit:
    """One request of a signed-in officer: its session (committed after the handler), the
    officer as the chat's services know them, their dashboard session and language."""

    session: AsyncSession
    actor: Actor
    web: LiveSession
    locale: str
    now: dt.datetime

    # Set by a form that queued messages in the outbox: the worker is woken after the commit.
    wake: bool = False

    def __post_init__(self) -> None:
        # Read now: an error page is made after the rollback, when the rows are expired.
        assert self.actor.person is not None and self.actor.scope is not None
        self.person_name = self.actor.person.full_name
        self.scope_name = self.actor.scope.name


VISIT = web.RequestKey("visit", Visit)
LOCALE = web.RequestKey("locale", str)


def ctx(request: web.Request) -> WebContext:
    return request.app[CTX]


def default_locale(request: web.Request) -> str:
    """The settings' language: before a visitor signs in, and for their first session."""
    return ctx(request).policy.default_locale


def visit(request: web.Request) -> Visit:
    found: Visit | None = request.get(VISIT)
    if found is None:  # a page of the signed-in part reached without its guard
        raise web.HTTPForbidden()
    return found


def html(
    request: web.Request, template: str, /, *, status: int = 200, **context: Any
) -> web.Response:
    """A page in the visitor's language, with what the layout needs (nav, CSRF token)."""
    found = request.get(VISIT)
    locale = (
        found.locale
        if found is not None
        else request.get(LOCALE, ctx(request).policy.default_locale)
    )
    body = page(
        template,
        locale,
        visit=found,
        csrf=found.web.csrf if found is not None else "",
        here=request.path,
        here_full=request.path_qs,
        url=url,
        **context,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def url(path: str, /, **params: object) -> str:
    """A path with its query, the parameters that are None left out."""
    query = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    return path + ("?" + urlencode(query) if query else "")


_INT = re.compile(r"^[0-9]{1,9}$")


def int_param(request: web.Request, name: str) -> int | None:
    """A whole number from the query string; absent is None, anything else a 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not _INT.match(raw):
        raise web.HTTPBadRequest()
    return int(raw)


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info.get(name, "")
    if not _INT.match(raw):
        raise web.HTTPNotFound()
    return int(raw)


def this_year(v: Visit, tz: dt.tzinfo) -> int:
    return v.now.astimezone(tz).year


def year_param(request: web.Request, v: Visit) -> int:
    """``?year=``: the union's local year by default; a year out of reach is a 400."""
    year = int_param(request, "year")
    current = this_year(v, ctx(request).tz)
    if year is None:
        return current
    if not 2000 <= year <= current + 1:
        raise web.HTTPBadRequest()
    return year


async def unit_param(request: web.Request, v: Visit, name: str = "unit") -> Unit:
    """``?unit=``: a unit the officer may see (their scope by default).  One they may not see
    is refused as it is (403), so that its existence says nothing more."""
    assert v.actor.scope is not None
    unit_id = int_param(request, name)
    if unit_id is None:
        return v.actor.scope
    unit = await people.get_unit(v.session, unit_id=unit_id)
    if unit is None or not v.actor.can_see(unit):
        raise web.HTTPForbidden()
    return unit


async def downloaded(
    v: Visit, *, what: str, unit_id: int | None = None, **detail: str | int
) -> None:
    """A download from the dashboard: one audit row (who, what, when)."""
    assert v.actor.person is not None
    await audit.record(
        v.session,
        AuditAction.REPORT_EXPORTED,
        via="web",
        actor_id=v.actor.person.id,
        unit_id=unit_id,
        detail={"what": what, **detail},
        at=v.now,
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(data: bytes, filename: str, content_type: str = XLSX) -> web.Response:
    """A file to download; the name is ASCII (codes and dates, never a person's name)."""
    response = web.Response(body=data, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    )
    return response


async def trail(v: Visit, unit: Unit) -> list[Unit]:
    """The units from the officer's scope down to ``unit`` (for the breadcrumbs)."""
    assert v.actor.scope is not None
    ids = people.path_ids(unit.path)
    top = people.path_ids(v.actor.scope.path)
    wanted = ids[len(top) - 1 :] if ids[: len(top)] == top else [unit.id]
    found = {
        u.id: u
        for u in (await v.session.execute(select(Unit).where(col(Unit.id).in_(wanted)))).scalars()
    }
    return [found[i] for i in wanted if i in found]


async def children_of(v: Visit, unit: Unit) -> list[Unit]:
    """The units directly under ``unit``, by name."""
    stmt = select(Unit).where(col(Unit.parent_id) == unit.id).order_by(col(Unit.name))
    return list((await v.session.execute(stmt)).scalars())


def recent_years(v: Visit, tz: dt.tzinfo, count: int = 5) -> list[int]:
    """This year and the ``count - 1`` before it, newest first."""
    current = this_year(v, tz)
    return list(range(current, current - count, -1))


def see_other(location: str) -> web.Response:
    """The answer to a POST (post/redirect/get), returned (a raised redirect commits too)."""
    return web.Response(status=303, headers={"Location": location})


def sheet_words(template: str, locale: str, /, **context: Any) -> dict[str, str]:
    """The words of a page's workbook: the ``sheet`` block of its template, rendered alone
    (without the layout), one ``key=text`` a line."""
    found = web_environment(locale).get_template(template)
    text = "".join(found.blocks["sheet"](found.new_context(context)))
    words: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            words[key.strip()] = markup.unescape(value.strip())
    return words


def phone(value: str | None) -> str:
    """A stored phone as people write it ("0912 345 678"); "" when there is none."""
    return display_phone(value) if value else ""


_Told = TypeVar("_Told", bound=StrEnum)


def reminded(path: str, done: RemindedByHand[Any]) -> web.HTTPSeeOther:
    """The redirect after a reminder by hand (a campaign's or a notice's): back to its page,
    with what it did as counts in the query (``?nhac=…&n=…&u=…&held=1``), never names."""
    return web.HTTPSeeOther(
        url(
            path,
            nhac=done.outcome.value,
            n=done.count or None,
            u=done.unreachable or None,
            held=1 if done.at is not None else None,
        )
        + "#nhac"
    )


def told(
    request: web.Request,
    v: Visit,
    outcomes: type[_Told],
    shown: frozenset[_Told],
    quiet: QuietHours,
) -> dict[str, Any] | None:
    """What :func:`reminded`'s query says, for the page to tell: the outcome (one of
    ``shown``, else a 400), the counts, and when held-back reminders go out (the end of the
    quiet hours, local)."""
    raw = request.query.get("nhac")
    if raw is None:
        return None
    try:
        outcome = outcomes(raw)
    except ValueError:
        raise web.HTTPBadRequest() from None
    if outcome not in shown:
        raise web.HTTPBadRequest()
    tz = ctx(request).tz
    held = None
    if request.query.get("held") == "1":
        at = quiet.release(v.now, tz)
        held = at.astimezone(tz) if at > v.now else None
    return {
        "outcome": outcome.value,
        "count": int_param(request, "n") or 0,
        "unreachable": int_param(request, "u") or 0,
        "at": held,
    }
