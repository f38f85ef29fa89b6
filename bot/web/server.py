"""The dashboard's web server: aiohttp, server-rendered pages, no script at all.

Every response carries a Content-Security-Policy that allows only the dashboard's own
stylesheet (no script, no frame, forms only to itself) and is never cached.  A request
to the signed-in part runs in one database session (committed after the page is made) with
the officer as the chat's services know them (:func:`bot.services.actors.web_actor`): the same
role and unit scope, enforced by the same services.  Every form carries the session's CSRF
token; a POST without it is refused (403) before any handler runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import socket
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.indicators.catalog import Catalog
from bot.reports.export import SignOff
from bot.runtime import ack_reminder_policy, reminder_policy
from bot.services import web_access
from bot.services.actors import web_actor
from bot.services.web_access import SIGN_IN_PATH, WebPolicy
from bot.settings import LOCALES, Settings
from bot.web.common import CTX, LOCALE, VISIT, Visit, WebContext, ctx, html, visit
from bot.web.pages import campaigns, cases, indicators, notices, pending
from bot.web.render import STATIC
from storage import web as store
from storage.db import Database
from storage.models import utcnow

log = logging.getLogger(__name__)

COOKIE = "congdoan_session"
SIGN_IN_ATTEMPTS = 10
SIGN_IN_WINDOW = 600.0  # seconds
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: The paths a visitor reaches without a session.
PUBLIC = ("/static/", "/dang-nhap", "/favicon.ico")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await _guarded(request, handler)
    except web.HTTPRedirection as redirect:
        _secure(request, redirect)
        raise
    _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Frame-Options"] = "DENY"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if not request.path.startswith("/static/"):
        h["Cache-Control"] = "no-store"
    if ctx(request).policy.secure:
        h["Strict-Transport-Security"] = "max-age=31536000"


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response; an HTTP error or a failure as a page in the visitor's language
    (never a traceback)."""
    try:
        return await handler(request)
    except web.HTTPRedirection:
        raise
    except web.HTTPException as exc:
        if exc.status in (401, 403, 404, 400, 405, 413, 429):
            return html(request, "error.html", status=exc.status, code=exc.status)
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("dashboard page %s failed", request.path)
        return html(request, "error.html", status=500, code=500)


def _client(request: web.Request) -> str:
    return request.remote or "?"


def _allowed(request: web.Request) -> bool:
    """Counts a sign-in attempt of the client; False past the limit."""
    now = time.monotonic()
    attempts = ctx(request).attempts
    recent = [t for t in attempts.get(_client(request), []) if now - t < SIGN_IN_WINDOW]
    if len(recent) >= SIGN_IN_ATTEMPTS:
        attempts[_client(request)] = recent
        return False
    recent.append(now)
    attempts[_client(request)] = recent
    if len(attempts) > 10_000:  # forget the quiet addresses rather than grow without end
        for key in [k for k, v in attempts.items() if not v or now - v[-1] >= SIGN_IN_WINDOW]:
            del attempts[key]
    return True


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The signed-in part: a live session and an officer behind it, the CSRF token on every
    POST; one database session around the handler."""
    request[LOCALE] = ctx(request).policy.default_locale
    if request.path.startswith(PUBLIC):
        return await handler(request)
    token = request.cookies.get(COOKIE, "")
    c = ctx(request)
    if request.method == "POST":
        form = await request.post()
    # A redirect is how a form's handler ends (post, redirect, get): what it wrote commits.
    redirect: web.HTTPRedirection | None = None
    async with c.db.session(write=True) as session:
        now = utcnow()
        live = await store.live_session(session, token=token, now=now) if token else None
        actor = (
            await web_actor(session, person_id=live.person_id, locale=live.locale)
            if live is not None
            else None
        )
        if live is None or actor is None:
            if live is not None:  # the person may not sign in any more: the session ends
                await store.end_session(session, session_id=live.id, now=now)
            redirect = web.HTTPSeeOther("/dang-nhap")
        else:
            request[LOCALE] = live.locale
            if request.method == "POST":
                sent = str(form.get("csrf", ""))
                if not hmac.compare_digest(sent.encode(), live.csrf.encode()):
                    return html(request, "error.html", status=403, code=403, stale_form=True)
            # The idle end moves on, at most once a minute (a write per page view costs).
            if live.expires_at - now < c.policy.idle - dt.timedelta(minutes=1):
                await store.touch_session(
                    session, session_id=live.id, expires_at=now + c.policy.idle
                )
            request[VISIT] = Visit(session, actor, live, live.locale, now)
            try:
                response = await handler(request)
            except web.HTTPRedirection as done:
                redirect = done
    # Committed: what a form queued in the outbox (a reminder, a decision) goes out now.
    finished = request.get(VISIT)
    if finished is not None and finished.wake and c.wake_delivery is not None:
        c.wake_delivery()
    if redirect is not None:
        raise redirect
    return response


# ----------------------------------------------------------------------------- signing in


async def sign_in_help(request: web.Request) -> web.Response:
    return html(request, "sign_in.html", state="help")


async def sign_in_page(request: web.Request) -> web.Response:
    """The page of a link: a button to sign in (opening the link uses nothing up)."""
    if not _allowed(request):
        raise web.HTTPTooManyRequests()
    token = request.match_info["token"]
    async with ctx(request).db.session() as session:
        state = await store.sign_in_state(session, token=token, now=utcnow())
    status = 200 if state == store.LinkState.VALID else 410
    return html(request, "sign_in.html", status=status, state=state.value, token=token)


async def sign_in(request: web.Request) -> web.Response:
    if not _allowed(request):
        raise web.HTTPTooManyRequests()
    token = request.match_info["token"]
    c = ctx(request)
    async with c.db.session(write=True) as session:
        done = await web_access.sign_in(session, token=token, policy=c.policy, now=utcnow())
    if done is None:
        return html(request, "sign_in.html", status=410, state="used", token="")
    response = web.HTTPSeeOther("/chi-tieu")
    response.set_cookie(
        COOKIE,
        done.token,
        httponly=True,
        secure=c.policy.secure,
        samesite="Strict",
        path="/",
        max_age=int(c.policy.longest.total_seconds()),
    )
    raise response


async def sign_out(request: web.Request) -> web.Response:
    v = visit(request)
    await store.end_session(v.session, session_id=v.web.id, now=v.now)
    response = web.HTTPSeeOther("/dang-nhap")
    response.del_cookie(COOKIE, path="/")
    raise response


async def language(request: web.Request) -> web.Response:
    """The visitor's language, kept with their session; back to the page they were on."""
    v = visit(request)
    form = await request.post()
    chosen = str(form.get("locale", ""))
    if chosen in LOCALES:
        await store.touch_session(
            v.session,
            session_id=v.web.id,
            expires_at=v.now + ctx(request).policy.idle,
            locale=chosen,
        )
    back = str(form.get("next", "/"))
    raise web.HTTPSeeOther(back if back.startswith("/") and not back.startswith("//") else "/")


async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/chi-tieu")


def build_web_app(context: WebContext) -> web.Application:
    app = web.Application(middlewares=[headers, signed_in], client_max_size=64 * 1024)
    app[CTX] = context
    app.router.add_get("/dang-nhap", sign_in_help)
    app.router.add_get(SIGN_IN_PATH + "{token}", sign_in_page)
    app.router.add_post(SIGN_IN_PATH + "{token}", sign_in)
    app.router.add_post("/dang-xuat", sign_out)
    app.router.add_post("/ngon-ngu", language)
    app.router.add_get("/", home)
    app.router.add_static("/static/", STATIC, append_version=False)
    for module in (indicators, campaigns, notices, cases, pending):
        app.router.add_routes(module.routes())
    return app


async def start_web(
    app: web.Application, *, host: str, port: int, sock: socket.socket | None = None
) -> web.AppRunner:
    """Listen on ``host:port`` (or on ``sock``, bound to it already); the caller cleans the
    runner up.  A port that cannot be had raises :class:`OSError`."""
    # No access log: a sign-in link's token is in its path.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port) if sock is None else web.SockSite(runner, sock)
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("dashboard listening on %s:%s", host, port)
    return runner


def web_context(
    settings: Settings,
    db: Database,
    catalog: Catalog,
    *,
    wake_delivery: Callable[[], None] | None = None,
) -> WebContext:
    """The dashboard's context from the one settings object."""
    return WebContext(
        db=db,
        catalog=catalog,
        tz=settings.tz,
        policy=WebPolicy.from_settings(settings),
        signoff=SignOff.from_settings(settings),
        reminders=reminder_policy(settings),
        ack_reminders=ack_reminder_policy(settings),
        wake_delivery=wake_delivery,
    )
