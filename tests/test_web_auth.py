"""Signing in to the dashboard and what guards it: single-use, short-lived links bound to a
person; sessions that expire; the role and scope of chat; CSRF on every form; the security
headers; sign-in attempts rate limited; nothing personal in a URL."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from bot.services import web_access
from bot.services.web_access import WebPolicy
from bot.web.server import COOKIE, SIGN_IN_ATTEMPTS
from storage import web
from storage.db import Database
from storage.models import AuditAction, Person, Role, utcnow
from storage.tables import audit_events, web_sessions, web_sign_ins
from tests.flow import seed_sample
from tests.webclient import ADMIN_PHONE, DALAT_OFFICER_PHONE, dashboard, person_id, unit_id

# A member of the sample roster (no officer role).
MEMBER_PHONE = "0345 271 908"


@pytest.fixture
async def sample(db: Database) -> Database:
    await seed_sample(db)
    return db


async def test_a_link_signs_in_once_and_the_session_sees_the_province(sample: Database) -> None:
    async with dashboard(sample) as d:
        link = await d.link_for(ADMIN_PHONE)
        path = link.removeprefix(d.context.policy.base_url)
        assert re.fullmatch(r"/dang-nhap/[A-Za-z0-9_-]{43}", path)
        # Opening the link (what a link preview does too) uses nothing up.
        for _ in range(2):
            page = await d.client.get(path)
            assert page.status == 200
            assert 'action="/dang-nhap/' in await page.text()
        done = await d.client.post(path, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/chi-tieu"
        cookie = done.headers["Set-Cookie"]
        assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in cookie  # served over http here
        page = await d.client.get("/chi-tieu")
        text = await page.text()
        assert page.status == 200
        assert "Nguyễn Thị Thu Hà" in text and "Công đoàn Giáo dục tỉnh Lâm Đồng" in text
        # The same link again: refused, and says so.
        d.client.session.cookie_jar.clear()
        again = await d.client.post(path, allow_redirects=False)
        assert again.status == 410
        assert "đã được dùng" in await again.text()
        after = await d.client.get(path)
        assert after.status == 410


async def test_only_the_hash_of_a_token_is_stored(sample: Database) -> None:
    async with dashboard(sample) as d:
        link = await d.link_for(ADMIN_PHONE)
        token = link.rsplit("/", 1)[1]
        await d.sign_in(ADMIN_PHONE)
        cookie = d.client.session.cookie_jar.filter_cookies(d.client.make_url("/"))[COOKIE].value
    async with sample.session() as session:
        hashes = set((await session.execute(select(web_sign_ins.c.token_hash))).scalars())
        hashes |= set((await session.execute(select(web_sessions.c.token_hash))).scalars())
    assert web.token_hash(token) in hashes
    assert web.token_hash(cookie) in hashes
    assert token not in hashes and cookie not in hashes
    # The sign-in is in the audit trail: who, via the dashboard, naming nobody else.
    admin = await person_id(sample, ADMIN_PHONE)
    async with sample.session() as session:
        rows = (
            await session.execute(
                select(audit_events.c.actor_id, audit_events.c.via, audit_events.c.person_id).where(
                    audit_events.c.action == AuditAction.WEB_SIGNED_IN.value
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [(admin, "web", None)]


async def test_an_expired_link_is_refused(sample: Database) -> None:
    async with dashboard(sample) as d:
        link = await d.link_for(ADMIN_PHONE)
        path = link.removeprefix(d.context.policy.base_url)
        async with sample.session() as session:
            await session.execute(
                update(web_sign_ins).values(expires_at=utcnow() - dt.timedelta(seconds=1))
            )
        page = await d.client.get(path)
        assert page.status == 410 and "đã hết hạn" in await page.text()
        done = await d.client.post(path, allow_redirects=False)
        assert done.status == 410
        assert COOKIE not in done.cookies
        unknown = await d.client.get("/dang-nhap/" + "x" * 43)
        assert unknown.status == 410 and "không đúng" in await unknown.text()


async def test_a_member_gets_no_link(sample: Database) -> None:
    policy = WebPolicy(base_url="http://127.0.0.1:8090", default_locale="vi")
    member = await person_id(sample, MEMBER_PHONE)
    async with sample.session() as session:
        assert (await session.get_one(Person, member)).role == Role.MEMBER
        assert (
            await web_access.issue_link(session, person_id=member, policy=policy, now=utcnow())
            is None
        )


async def test_without_a_session_every_page_sends_to_sign_in(sample: Database) -> None:
    async with dashboard(sample) as d:
        for path in ("/", "/chi-tieu", "/chi-tieu/A3c", "/tai-ve/chi-tieu.xlsx", "/khao-sat"):
            page = await d.client.get(path, allow_redirects=False)
            assert page.status == 303, path
            assert page.headers["Location"] in ("/dang-nhap", "/chi-tieu"), path
        help_page = await d.client.get("/dang-nhap")
        assert help_page.status == 200 and "/web" in await help_page.text()
        post = await d.client.post("/dang-xuat", data={}, allow_redirects=False)
        assert post.status == 303 and post.headers["Location"] == "/dang-nhap"


async def test_a_form_without_its_csrf_token_is_refused(sample: Database) -> None:
    async with dashboard(sample) as d:
        csrf = await d.sign_in(ADMIN_PHONE)
        for data in ({}, {"csrf": "forged"}, {"csrf": csrf[:-1]}):
            refused = await d.client.post("/dang-xuat", data=data, allow_redirects=False)
            assert refused.status == 403
            assert "Biểu mẫu này đã cũ" in await refused.text()
        assert (await d.client.get("/chi-tieu")).status == 200  # still signed in
        out = await d.client.post("/dang-xuat", data={"csrf": csrf}, allow_redirects=False)
        assert out.status == 303 and out.headers["Location"] == "/dang-nhap"
        gone = await d.client.get("/chi-tieu", allow_redirects=False)
        assert gone.status == 303 and gone.headers["Location"] == "/dang-nhap"


async def test_security_headers_on_every_page(sample: Database) -> None:
    async with dashboard(sample) as d:
        await d.sign_in(ADMIN_PHONE)
        for path in ("/chi-tieu", "/dang-nhap", "/khong-co"):
            page = await d.client.get(path)
            csp = page.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src" not in csp, path
            assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
            assert page.headers["X-Content-Type-Options"] == "nosniff"
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert page.headers["Cache-Control"] == "no-store"
            assert "<script" not in await page.text()
        css = await d.client.get("/static/style.css")
        assert css.status == 200 and css.content_type == "text/css"


async def test_cookies_are_secure_over_https(sample: Database) -> None:
    async with dashboard(sample) as d:
        d.context.policy = WebPolicy(base_url="https://congdoan.example.vn", default_locale="vi")
        link = await d.link_for(ADMIN_PHONE)
        path = link.removeprefix("https://congdoan.example.vn")
        done = await d.client.post(path, allow_redirects=False)
        assert done.status == 303
        assert "Secure" in done.headers["Set-Cookie"]
        assert done.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_sign_in_attempts_are_rate_limited(sample: Database) -> None:
    async with dashboard(sample) as d:
        for _ in range(SIGN_IN_ATTEMPTS):
            assert (await d.client.get("/dang-nhap/" + "y" * 43)).status == 410
        limited = await d.client.get("/dang-nhap/" + "y" * 43)
        assert limited.status == 429
        assert "quá nhiều lần" in await limited.text()
        # Even a good link waits: the limit is on the address, not on the token.
        link = await d.link_for(ADMIN_PHONE)
        path = link.removeprefix(d.context.policy.base_url)
        assert (await d.client.post(path, allow_redirects=False)).status == 429


async def test_a_session_idles_out_and_ends_at_the_latest(sample: Database) -> None:
    async with dashboard(sample) as d:
        await d.sign_in(ADMIN_PHONE)
        async with sample.session() as session:
            await session.execute(
                update(web_sessions).values(expires_at=utcnow() - dt.timedelta(seconds=1))
            )
        page = await d.client.get("/chi-tieu", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"] == "/dang-nhap"
        await d.sign_in(ADMIN_PHONE)
        async with sample.session() as session:
            await session.execute(
                update(web_sessions)
                .where(web_sessions.c.ended_at.is_(None))
                .values(ends_at=utcnow() - dt.timedelta(seconds=1))
            )
        page = await d.client.get("/chi-tieu", allow_redirects=False)
        assert page.status == 303


async def test_a_role_taken_away_ends_what_the_session_may_do(sample: Database) -> None:
    async with dashboard(sample) as d:
        await d.sign_in(DALAT_OFFICER_PHONE)
        assert (await d.client.get("/chi-tieu")).status == 200
        officer = await person_id(sample, DALAT_OFFICER_PHONE)
        async with sample.session() as session:
            person = await session.get_one(Person, officer)
            person.role = Role.MEMBER
        page = await d.client.get("/chi-tieu", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"] == "/dang-nhap"
        async with sample.session() as session:
            ended = await session.scalar(
                select(web_sessions.c.ended_at).where(web_sessions.c.person_id == officer)
            )
        assert ended is not None


async def test_an_officer_sees_their_district_and_not_another(sample: Database) -> None:
    dalat = await unit_id(sample, "LD-DL")
    baoloc = await unit_id(sample, "LD-BL")
    async with dashboard(sample) as d:
        await d.sign_in(DALAT_OFFICER_PHONE)
        own = await d.client.get("/chi-tieu")
        text = await own.text()
        assert own.status == 200 and "Công đoàn Giáo dục thành phố Đà Lạt" in text
        assert "Bảo Lộc" not in text
        mine = await d.client.get(f"/chi-tieu?unit={dalat}&year=2026")
        assert mine.status == 200
        for path in (
            f"/chi-tieu?unit={baoloc}",
            f"/chi-tieu/A3c?unit={baoloc}",
            f"/tai-ve/chi-tieu.xlsx?unit={baoloc}",
            f"/tai-ve/danh-sach.xlsx?unit={baoloc}",
        ):
            refused = await d.client.get(path)
            assert refused.status == 403, path
            assert "không có quyền" in await refused.text()
        # The province above them too.
        province = await unit_id(sample, "LD")
        assert (await d.client.get(f"/chi-tieu?unit={province}")).status == 403


async def test_bad_parameters_are_a_clear_400_or_404(sample: Database) -> None:
    async with dashboard(sample) as d:
        await d.sign_in(ADMIN_PHONE)
        for path, status in (
            ("/chi-tieu?unit=abc", 400),
            ("/chi-tieu?year=1999", 400),
            ("/chi-tieu?year=20260", 400),
            ("/chi-tieu/ZZ9", 404),
            ("/khong-co-trang-nay", 404),
        ):
            page = await d.client.get(path)
            assert page.status == status, path
            assert "Traceback" not in await page.text()


async def test_the_language_follows_the_visitor(sample: Database) -> None:
    async with dashboard(sample) as d:
        csrf = await d.sign_in(ADMIN_PHONE)
        switched = await d.client.post(
            "/ngon-ngu",
            data={"csrf": csrf, "locale": "en", "next": "/chi-tieu/A3c"},
            allow_redirects=False,
        )
        assert switched.status == 303 and switched.headers["Location"] == "/chi-tieu/A3c"
        page = await d.client.get("/chi-tieu")
        text = await page.text()
        assert '<html lang="en">' in text and "Sign out" in text
        # Somewhere else than this site: back to the start.
        away = await d.client.post(
            "/ngon-ngu",
            data={"csrf": csrf, "locale": "vi", "next": "//evil.example/x"},
            allow_redirects=False,
        )
        assert away.headers["Location"] == "/"
