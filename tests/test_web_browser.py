"""The dashboard in a real headless Chromium (issue 17), on the sample province, with the bot
running against the fake Bot API: people answer, report and ask in chat, an officer sends
``/web`` and signs in through the link of the bot's reply.

Every page is opened at a phone's width (390 px) and an office PC's (1366 px): a screenshot of
each goes to the test artifacts (tests/browser.py's ``shoot``), and each has every control
labelled, enough contrast, no console error and no sideways scrolling of the page itself.  The
keyboard reaches the skip link first, then the pages of the menu, each with a visible focus
ring; forms are sent with the keyboard.  And what must be refused is: a used link, a form
without its CSRF token (the session lives on), another district's unit.

The world of the first test, worked out by hand (the people are bot/sample/people.csv's):

* Lê Thị Mai Anh, chair of CĐCS THPT Bùi Thị Xuân, launches the activity survey in chat for
  her CĐCS: 6 people.  Phạm Minh Tuấn (tổ Toán – Tin) answers it: took part, in Văn nghệ, 3
  times: 1/6 answered, 5 not; A3c (took part among those who answered) is 1/1 = 100% for the
  CĐCS, for the Đà Lạt district union above it and for the province; the other two CĐCS of
  Đà Lạt have no answer ("chưa có ai trả lời").
* Tuấn reports a colleague's hardship in chat (Ngô Văn Lâm, ill), not urgent: the admin sees
  it as a count (1 newly reported, none urgent, at Bùi Thị Xuân) and nothing of who.
* Mai Anh's notice to her CĐCS (confirmed as ``/notice`` does, delivered by the bot's outbox):
  6 recipients; she and Tuấn are on the bot (2 sent), the other four are not (4 unreachable);
  Tuấn presses «Đã nắm»: 1/2 acknowledged = 50%.
* Lò Văn Páo opens the invite link of CĐCS THCS Nguyễn Du, consents and shares a phone no one
  of the roster has: a request waiting for an officer; the admin confirms it as a member, with
  the keyboard, and Páo hears of it in chat.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from playwright.async_api import Locator, Page
from playwright.async_api import Response as PageResponse

from bot.notices.service import ConfirmOutcome, confirm, create_draft
from bot.services.actors import web_actor
from storage import people
from storage.db import Database
from storage.models import utcnow
from surveys.phone import normalize_phone
from tests.browser import (
    BrowserPage,
    browser_page,
    low_contrast,
    shoot,
    tab_order,
    unlabelled_controls,
)
from tests.fakebotapi import FakeBotAPI, FakeUser
from tests.flow import (
    RunningBot,
    eventually,
    invite_code,
    link,
    local_today,
    seed_sample,
    settings_for,
)
from tests.test_flow_officer import answer_typed
from tests.test_flow_surveys import ACTIVITY_TITLE, officer_launches_activity, open_activity
from tests.test_flow_urgent import alerts_of, report_colleague
from tests.webclient import Dashboard, dashboard, unit_id

PHONE, DESKTOP = 390, 1366
WIDTHS = (PHONE, DESKTOP)
HEIGHT = 844

SKIP_LINK = 'a "Bỏ qua, đến nội dung chính"'
MENU = ("Chỉ tiêu", "Khảo sát", "Thông báo", "Trường hợp", "Chờ xác nhận")
FORBIDDEN = "Thầy/cô không có quyền xem trang này"
STALE_FORM = "Biểu mẫu này đã cũ"
USED = "Đường dẫn này đã được dùng hoặc đã hết hạn."
ADMIN_NAME = "Nguyễn Thị Thu Hà"
SCHOOL = "CĐCS Trường THPT Bùi Thị Xuân"
DALAT = "Công đoàn Giáo dục thành phố Đà Lạt"
NOTICE_TITLE = "Họp công đoàn tháng 12"
NEWCOMER = "Lò Văn Páo"
NGUYEN_DU = "CĐCS Trường THCS Nguyễn Du"
HUNG = "Trần Văn Hùng"
MENU_PATHS = ("chi-tieu", "khao-sat", "thong-bao", "truong-hop", "cho-xac-nhan")
LINK = re.compile(r"http://127\.0\.0\.1:\d+/dang-nhap/[A-Za-z0-9_-]+")


# -- the bot and the dashboard on one database ------------------------------------------------


@dataclass
class Live:
    api: FakeBotAPI
    d: Dashboard
    db: Database


@pytest.fixture
async def live(api: FakeBotAPI, sqlite_db: Database) -> AsyncIterator[Live]:
    """The sample province; the dashboard on 127.0.0.1 and the bot, whose ``/web`` links
    point at it and whose outbox the dashboard wakes."""
    await seed_sample(sqlite_db)
    async with dashboard(sqlite_db) as d:
        settings = settings_for(api, sqlite_db).model_copy(
            update={"web_base_url": d.base.rstrip("/")}
        )
        bot = RunningBot(api, sqlite_db, settings)
        app = await bot.start()
        d.context.wake_delivery = app.worker.notify
        try:
            yield Live(api, d, sqlite_db)
        finally:
            await bot.stop()


async def press(api: FakeBotAPI, user: FakeUser, button: str) -> None:
    await user.click(user.last_message(), button)
    await api.wait_idle()


async def web_link(api: FakeBotAPI, officer: FakeUser) -> str:
    """The sign-in link of the bot's answer to ``/web``."""
    await officer.send("/web")
    await api.wait_idle()
    found = LINK.search(officer.last_message().text)
    assert found is not None, officer.last_message().text
    return found.group()


def received(user: FakeUser, text: str) -> bool:
    return any(text in message for message in user.texts())


async def send_notice(live: Live, author_phone: str) -> int:
    """The author's notice to their whole CĐCS, confirmed as ``/notice`` confirms it."""
    tz = live.d.context.tz
    async with live.db.session() as session:
        phone = normalize_phone(author_phone)
        assert phone is not None
        person = await people.person_by_phone(session, phone=phone)
        assert person is not None and person.id is not None
        author = await web_actor(session, person_id=person.id, locale="vi")
        assert author is not None
        draft = await create_draft(
            session, actor=author, title=NOTICE_TITLE, body="Họp lúc 14h thứ Sáu.", tz=tz
        )
        assert draft.id is not None
        done = await confirm(
            session, actor=author, notice_id=draft.id, now=utcnow(), tz=tz, default_locale="vi"
        )
    assert (done.outcome, done.queued, done.unreachable) == (ConfirmOutcome.QUEUED, 2, 4)
    wake = live.d.context.wake_delivery
    assert wake is not None
    wake()
    return draft.id


# -- what every page is checked for -----------------------------------------------------------


@dataclass
class Walk:
    """Every page seen: the screenshots written and what was wrong, by page and width."""

    bp: BrowserPage
    shots: list[Path] = dataclasses.field(default_factory=list)
    problems: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def page(self) -> Page:
        return self.bp.page

    async def width(self, width: int) -> None:
        await self.page.set_viewport_size({"width": width, "height": HEIGHT})

    async def look(self, name: str, *, refused: int | None = None) -> None:
        """Checks the page on screen and writes its screenshot ``<name>-<width>``.  A page
        answered with an error status (``refused``) makes Chromium log exactly one console
        error, which is expected there."""
        page = self.page
        width = page.viewport_size["width"] if page.viewport_size else 0
        found = [f"unlabelled: {tag}" for tag in await unlabelled_controls(page)]
        found += [f"low contrast: {text}" for text in await low_contrast(page)]
        wider = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if wider > 0:
            found.append(f"the page scrolls sideways by {wider}px")
        errors = list(self.bp.errors)
        self.bp.errors.clear()
        if refused is not None:
            status = f"the server responded with a status of {refused}"
            expected = [e for e in errors if status in e]
            assert len(expected) == 1, errors
            errors.remove(expected[0])
        found += errors
        if found:
            self.problems[f"{name}-{width}"] = found
        self.shots.append(await shoot(page, f"{name}-{width}"))


async def follow(page: Page, target: Locator) -> PageResponse:
    """Click a link or a button and wait for the page it leads to."""
    async with page.expect_navigation() as navigation:
        await target.click()
    response = await navigation.value
    assert response is not None
    return response


async def visit(page: Page, path: str) -> PageResponse:
    response = await page.goto(path)
    assert response is not None
    return response


async def heading(page: Page) -> str:
    return " ".join((await page.locator("h1").inner_text()).split())


async def main_text(page: Page) -> str:
    return " ".join((await page.locator("main").inner_text()).split())


async def row_text(page: Page, header: str) -> str:
    """The text of the one table row whose header cell reads ``header``."""
    exactly = re.compile(rf"^\s*{re.escape(header)}\s*$")
    row = page.locator("tbody tr", has=page.locator("th", has_text=exactly))
    return " ".join((await row.inner_text()).split())


def sheet_rows(sheet: Worksheet) -> list[dict[str, object]]:
    """The rows of a workbook sheet under its header row (the one starting "Mã"), by header."""
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == "Mã")
    header = [str(h) for h in rows[start]]
    return [dict(zip(header, row, strict=True)) for row in rows[start + 1 :]]


def menu_link(page: Page, name: str) -> Locator:
    return page.locator("header nav").get_by_role("link", name=name, exact=True)


# Whether the focused element shows its focus ring (an outline at least 2px wide).
FOCUS_RING = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
}"""


async def tab_to(page: Page, target: Locator, most: int = 40) -> int:
    """Presses Tab until ``target`` has the focus; how many presses it took."""
    for presses in range(1, most + 1):
        await page.keyboard.press("Tab")
        if await target.evaluate("(el) => el === document.activeElement"):
            return presses
    raise AssertionError(f"Tab never reached {target} in {most} presses")


# -- the tests --------------------------------------------------------------------------------


async def test_an_admin_signs_in_from_the_bot_and_works_every_page(
    live: Live, tmp_path: Path
) -> None:
    api = live.api
    mai_anh = await officer_launches_activity(api)  # chair of CĐCS Bùi Thị Xuân, linked
    tuan = api.user(id=7002, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)
    await open_activity(api, tuan)
    await press(api, tuan, "Có")
    await press(api, tuan, "▫️ Văn nghệ")
    await press(api, tuan, "✔️ Xong")
    await answer_typed(api, tuan, "3")
    await press(api, tuan, "Bỏ qua")
    await press(api, tuan, "📨 Gửi câu trả lời")
    assert "Đã ghi nhận" in tuan.last_message().text
    await report_colleague(api, tuan, urgent=False)

    notice_id = await send_notice(live, "0918 402 367")
    await eventually(lambda: received(mai_anh, NOTICE_TITLE) and received(tuan, NOTICE_TITLE))
    got = next(m for m in tuan.messages() if NOTICE_TITLE in m.text)
    await tuan.click(got, "✅ Đã nắm")
    await api.wait_idle()

    pao = api.user(id=7090, first_name="Páo", last_name="Lò Văn", phone="0912345678")
    await pao.send(f"/start {await invite_code(live.db, 'DL-THCS-ND')}")
    await api.wait_idle()
    await press(api, pao, "✅ Tôi đồng ý")
    await pao.share_contact()
    await api.wait_idle()
    assert f"cán bộ công đoàn của {NGUYEN_DU} để xác nhận" in pao.last_message().text
    told_before = len(pao.messages())

    ha = api.user(id=7000, first_name="Hà", last_name="Nguyễn Thị Thu", phone="0913620145")
    await link(api, ha)
    signed_link = await web_link(api, ha)

    base = live.d.base.rstrip("/")
    async with browser_page(DESKTOP, HEIGHT, base_url=base) as bp:
        walk = Walk(bp)
        page = walk.page

        # The link of the bot's message: a page with one button (opening it uses nothing up).
        for width in WIDTHS:
            await walk.width(width)
            assert (await visit(page, signed_link)).status == 200
            assert await heading(page) == "Đăng nhập bảng theo dõi"
            await walk.look("dang-nhap")
        await follow(page, page.get_by_role("button", name="Đăng nhập"))
        assert page.url == f"{base}/chi-tieu"
        assert ADMIN_NAME in await page.locator("header").inner_text()

        # The keyboard: the skip link first (on screen once focused), then the menu, each with
        # its focus ring; Enter on the skip link puts the focus on the main content.
        assert await tab_order(page, 1 + len(MENU)) == [
            SKIP_LINK,
            *(f'a "{name}"' for name in MENU),
        ]
        await visit(page, "/chi-tieu")
        for _ in range(1 + len(MENU)):
            await page.keyboard.press("Tab")
            assert await page.evaluate(FOCUS_RING), await page.evaluate(
                "document.activeElement.outerHTML"
            )
        await visit(page, "/chi-tieu")
        await page.keyboard.press("Tab")
        box = await page.locator("a.skip").bounding_box()
        assert box is not None and box["x"] >= 0 and box["y"] >= 0
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "main"
        assert await tab_order(page, 1) == ['select "Đơn vị"']

        # Every page of the menu, and one of each list, reached by clicking as a person does.
        seen: list[tuple[str, str]] = []

        async def arrive(name: str) -> None:
            seen.append((name, page.url))
            await walk.look(name)

        for name, path in zip(MENU, MENU_PATHS, strict=True):
            response = await follow(page, menu_link(page, name))
            assert response.status == 200 and page.url == f"{base}/{path}"
            assert await page.locator("header nav [aria-current=page]").inner_text() == name
            await arrive(path)
            if path == "chi-tieu":
                # Drill down: an indicator, then a unit below, where the answer was given.
                await follow(page, page.get_by_role("link", name="A3c", exact=True))
                assert (await heading(page)).startswith("A3c · Đoàn viên, CBNGNLĐ tham gia")
                assert "100% 1/1" in await row_text(page, DALAT)
                await arrive("chi-tieu-A3c")
                await follow(page, page.get_by_role("link", name=DALAT))
                assert DALAT in await page.locator("nav.crumbs").inner_text()
                assert "100% 1/1" in await row_text(page, SCHOOL)
                assert "chưa có ai trả lời" in await row_text(page, NGUYEN_DU)
                await arrive("chi-tieu-A3c-da-lat")
            elif path == "khao-sat":
                await follow(page, page.get_by_role("link", name=ACTIVITY_TITLE))
                assert await heading(page) == ACTIVITY_TITLE
                text = await main_text(page)
                assert "16,7%" in text and "1/6 người" in text and "Người chưa trả lời (5)" in text
                await arrive("khao-sat-mot-dot")
            elif path == "thong-bao":
                await follow(page, page.get_by_role("link", name=NOTICE_TITLE))
                assert page.url == f"{base}/thong-bao/{notice_id}"
                # 6 recipients, 2 sent, 0 waiting, 0 failed, 4 unreachable, 0 withdrawn; 1/2.
                assert re.search(r"6 2 0 0 4 0 50% 1/2", await main_text(page))
                await arrive("thong-bao-mot-tin")
            elif path == "truong-hop":
                # Counts only, for the admin: 1 newly reported (of 1 open), none urgent.
                assert (await row_text(page, SCHOOL)).endswith("1 0 0 1 0")
                assert "Ngô Văn Lâm" not in await main_text(page)
            else:
                assert NEWCOMER in await main_text(page)

        # The same pages on a phone.
        await walk.width(PHONE)
        for name, address in seen:
            assert (await visit(page, address)).status == 200
            await walk.look(name)
        await walk.width(DESKTOP)

        # The indicator workbook, downloaded and opened: A3c is 1/1 for the province, and at
        # Bùi Thị Xuân 1 of its 6 people answered.
        await visit(page, "/chi-tieu")
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Tải bảng chỉ tiêu (Excel)").click()
        download = await downloading.value
        assert re.fullmatch(r"chi-tieu-LD-\d{4}\.xlsx", download.suggested_filename)
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        book = load_workbook(saved)
        assert book.sheetnames == ["Tổng hợp", "Công lập - ngoài công lập", "Theo đơn vị"]
        province = sheet_rows(book["Tổng hợp"])
        assert [(r["Tử số"], r["Mẫu số"], r["Tỷ lệ"]) for r in province if r["Mã"] == "A3c"] == [
            (1, 1, 1)
        ]
        by_unit = sheet_rows(book["Theo đơn vị"])
        school = [r for r in by_unit if r["Mã"] == "A3c" and r["Phạm vi"] == SCHOOL]
        assert [(r["Tử số"], r["Mẫu số"], r["Kết quả"]) for r in school] == [
            (1, 1, "chưa đủ số liệu (đã trả lời 1/6)")
        ]

        # A request confirmed with the keyboard alone (Tab to its button, Enter); Páo hears.
        await visit(page, "/cho-xac-nhan")
        as_member = page.locator("article", has_text=NEWCOMER).locator("button[value=member]")
        await tab_to(page, as_member)
        assert await page.evaluate(FOCUS_RING)
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert page.url == f"{base}/cho-xac-nhan?done=confirmed"
        assert "✅ Đã xác nhận" in await main_text(page)
        await eventually(lambda: len(pao.messages()) > told_before)

        # The link again: used.
        assert (await visit(page, signed_link)).status == 410
        assert USED in await main_text(page)
        await walk.look("dang-nhap-da-dung", refused=410)

        # A form without its CSRF token: refused, and the session lives on.
        await visit(page, "/chi-tieu")
        await page.evaluate(
            "document.querySelector('form[action=\"/dang-xuat\"] input[name=csrf]').remove()"
        )
        refused = await follow(page, page.get_by_role("button", name="Đăng xuất"))
        assert refused.status == 403 and STALE_FORM in await main_text(page)
        await walk.look("tu-choi-csrf", refused=403)
        assert (await visit(page, "/chi-tieu")).status == 200
        assert ADMIN_NAME in await page.locator("header").inner_text()

        assert walk.problems == {}
        assert bp.errors == []


async def test_a_district_officer_works_a_passed_up_case_and_is_refused_another_district(
    live: Live,
) -> None:
    """Trần Văn Hùng, of the Đà Lạt district union, on his phone: Đặng Quốc Bảo reports an
    urgent case of a colleague at Bùi Thị Xuân, whose union has nobody on the bot, so it is
    passed up to Hùng at once; he sees it in detail and marks it visited with the keyboard.
    The Bảo Lộc district union's figures are refused him."""
    api = live.api
    hung = api.user(id=7101, first_name="Hùng", last_name="Trần Văn", phone="0903118274")
    await link(api, hung)
    bao = api.user(id=8004, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await report_colleague(api, bao, urgent=True)
    await eventually(lambda: len(alerts_of(hung)) == 1)
    signed_link = await web_link(api, hung)
    bao_loc = await unit_id(live.db, "LD-BL")

    base = live.d.base.rstrip("/")
    async with browser_page(PHONE, HEIGHT, base_url=base) as bp:
        walk = Walk(bp)
        page = walk.page
        await visit(page, signed_link)
        await follow(page, page.get_by_role("button", name="Đăng nhập"))
        assert page.url == f"{base}/chi-tieu"
        assert await heading(page) == f"Chỉ tiêu năm {local_today().year} · {DALAT}"
        units = await page.get_by_label("Đơn vị").locator("option").all_inner_texts()
        assert not any("Bảo Lộc" in u for u in units)

        for width in WIDTHS:
            await walk.width(width)
            await follow(page, menu_link(page, "Trường hợp"))
            card = page.locator("article.case")
            assert await card.count() == 1
            text = " ".join((await card.inner_text()).split())
            assert "🚨 KHẨN CẤP" in text and "Ngô Văn Lâm" in text
            assert "Nhập viện cấp cứu" in text and "Đặng Quốc Bảo" in text
            await walk.look("truong-hop-cap-tren")

            # Another district's unit: refused, the officer still signed in.
            response = await visit(page, f"/chi-tieu?unit={bao_loc}")
            assert response.status == 403 and FORBIDDEN in await main_text(page)
            assert HUNG in await page.locator("header").inner_text()
            await walk.look("tu-choi-don-vi", refused=403)

        # The case marked visited with the keyboard alone.
        await visit(page, "/truong-hop")
        case_id = str(await page.locator("article.case").get_attribute("id")).removeprefix("case-")
        visited = page.locator("article.case").get_by_role("button", name="🏠 Đã thăm hỏi")
        await tab_to(page, visited)
        assert await page.evaluate(FOCUS_RING)
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert f"Đã cập nhật trường hợp #{case_id}: 🏠 Đã thăm hỏi." in await main_text(page)
        assert "🏠 Đã thăm hỏi (báo lúc" in " ".join(
            (await page.locator("article.case").inner_text()).split()
        )

        # Signing out ends the session: the pages lead to the sign-in help.
        await follow(page, page.get_by_role("button", name="Đăng xuất"))
        assert page.url == f"{base}/dang-nhap"
        assert "/web" in await main_text(page)
        await walk.look("dang-nhap-huong-dan")
        await visit(page, "/truong-hop")
        assert page.url == f"{base}/dang-nhap"

        assert walk.problems == {}
        assert bp.errors == []
