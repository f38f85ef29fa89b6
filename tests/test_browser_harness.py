"""The browser-test harness (tests/browser.py) on small pages served from 127.0.0.1: its
accessibility and contrast checks, error collection, keyboard order and screenshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.browser import (
    REPO,
    browser_page,
    low_contrast,
    screenshot_dir,
    shoot,
    tab_order,
    unlabelled_controls,
)

HEAD = '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{title}</title>'
# An empty icon, or Chromium asks for /favicon.ico and logs the 404 as a console error.
ICON = '<link rel="icon" href="data:,"></head>'

GOOD_PAGE = (
    HEAD.format(title="Trang tốt")
    + ICON
    + """<body style="background:#fff; color:#222; font-size:16px">
<nav><a href="/good">Trang chủ</a></nav>
<main>
  <form>
    <label for="q">Tìm kiếm</label> <input id="q" name="q">
    <button type="submit">Tìm</button>
  </form>
  <p>Công đoàn ngành giáo dục.</p>
</main>
</body></html>"""
)

BAD_PAGE = (
    HEAD.format(title="Trang lỗi")
    + ICON
    + """<body style="background:#fff; color:#222; font-size:16px">
<input type="text" name="q">
<p class="hint" style="color:#bbb">Chữ xám nhạt</p>
<script>throw new Error("boom");</script>
</body></html>"""
)


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """The two pages on an ephemeral port of 127.0.0.1; yields the base URL."""

    async def good(request: web.Request) -> web.Response:
        return web.Response(text=GOOD_PAGE, content_type="text/html")

    async def bad(request: web.Request) -> web.Response:
        return web.Response(text=BAD_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/good", good)
    app.router.add_get("/bad", bad)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_accessible_page_passes_every_check(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREENSHOT_DIR", str(tmp_path / "shots"))
    async with browser_page(1024, 768, base_url=site) as bp:
        await bp.page.goto("/good")
        assert await bp.page.evaluate("navigator.language") == "vi-VN"
        assert await unlabelled_controls(bp.page) == []
        assert await low_contrast(bp.page) == []
        assert await tab_order(bp.page, 3) == ['a "Trang chủ"', 'input "Tìm kiếm"', 'button "Tìm"']
        shot = await shoot(bp.page, "harness-good")
        assert bp.errors == []
    assert shot == tmp_path / "shots" / "harness-good.png"
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_faulty_page_reports_each_fault(site: str) -> None:
    async with browser_page(390, 844, base_url=site) as bp:
        await bp.page.goto("/bad")
        assert await unlabelled_controls(bp.page) == ['<input type="text" name="q">']
        # #bbb on white: channel 187/255 = 0.7333, linear ((0.7333 + 0.055) / 1.055) ** 2.4
        # = 0.4969, ratio (1 + 0.05) / (0.4969 + 0.05) = 1.92.
        assert await low_contrast(bp.page) == [
            '<p class="hint" style="color:#bbb"> "Chữ xám nhạt" 1.92:1 '
            "(#bbbbbb on #ffffff; needs 4.5)"
        ]
        assert bp.errors == ["page error: Error: boom"]


async def test_console_errors_are_collected() -> None:
    async with browser_page(800, 600) as bp:
        await bp.page.set_content("<script>console.error('hỏng'); console.log('ổn');</script>")
        assert [error.split(" @ ")[0] for error in bp.errors] == ["console error: hỏng"]


async def test_names_come_only_from_real_labels() -> None:
    page_html = """<body>
      <label for="empty"></label><input id="empty" name="a">
      <input name="b" placeholder="Tìm">
      <input name="c" aria-labelledby="nowhere">
      <a href="/x"><img width="16" height="16"></a>
      <button> </button>
      <input type="button">
      <input type="hidden" name="d">
      <input name="e" style="display:none">
      <span id="who">Họ tên</span><input name="f" aria-labelledby="who">
      <input name="g" aria-label="Mã số">
      <input name="h" title="Số điện thoại">
      <label>Ghi chú <textarea name="i"></textarea></label>
      <label>Đơn vị <select name="j"><option>Trường A</option></select></label>
      <a href="/y"><img width="16" height="16" alt="Trang chủ"></a>
      <input type="submit">
      <input type="button" value="Lưu">
    </body>"""
    async with browser_page(800, 600) as bp:
        await bp.page.set_content(page_html)
        assert await unlabelled_controls(bp.page) == [
            '<input id="empty" name="a">',
            '<input name="b" placeholder="Tìm">',
            '<input name="c" aria-labelledby="nowhere">',
            '<a href="/x">',
            "<button>",
            '<input type="button">',
        ]
        # The select's options are not part of its label's text.
        await bp.page.focus("textarea")
        assert await tab_order(bp.page, 4) == [
            'select "Đơn vị"',
            'a "Trang chủ"',
            'input "Submit"',
            'input "Lưu"',
        ]


async def test_contrast_composites_alpha_opacity_and_large_text() -> None:
    # Expected ratios, with L(c) = ((c + 0.055) / 1.055) ** 2.4 for a channel c in 0..1:
    # - black at alpha 0.3 on white paints 0.7: L = 0.4481, 1.05 / 0.4981 = 2.11;
    # - white on black at alpha 0.5 over white: background 0.5, L = 0.2140, 1.05 / 0.2640
    #   = 3.98;
    # - #949494 (0.5804, L = 0.2961): 1.05 / 0.3461 = 3.03, enough for 24px text (3.0) but
    #   not for 16px (4.5);
    # - #222 in a box of opacity 0.5 on white paints 0.5667 instead: L = 0.2811,
    #   1.05 / 0.3311 = 3.17.
    page_html = """<body style="background:#fff; color:#000; font-size:16px">
      <p id="alpha" style="color:rgba(0, 0, 0, 0.3)">Mờ</p>
      <div style="background:rgba(0, 0, 0, 0.5)"><p id="veil" style="color:#fff">Nền</p></div>
      <h2 id="big" style="color:#949494; font-size:24px; font-weight:400">Tiêu đề</h2>
      <p id="small" style="color:#949494">Nhỏ</p>
      <div style="opacity:0.5"><p id="faded" style="color:#222">Nhạt</p></div>
      <p id="fine" style="color:#767676">Vừa đủ</p>
      <button disabled style="color:#ccc">Tắt</button>
      <a href="#main" style="position:absolute; left:-9999px; color:#eee">Bỏ qua</a>
    </body>"""
    async with browser_page(800, 600) as bp:
        await bp.page.set_content(page_html)
        assert await low_contrast(bp.page) == [
            '<p id="alpha" style="color:rgba(0, 0, 0, 0.3)"> "Mờ" 2.11:1 '
            "(#b3b3b3 on #ffffff; needs 4.5)",
            '<p id="veil" style="color:#fff"> "Nền" 3.98:1 (#ffffff on #808080; needs 4.5)',
            '<p id="small" style="color:#949494"> "Nhỏ" 3.03:1 (#949494 on #ffffff; needs 4.5)',
            '<p id="faded" style="color:#222"> "Nhạt" 3.17:1 (#919191 on #ffffff; needs 4.5)',
        ]
        # #767676 is 4.54:1 on white: it fails only a stricter minimum.
        strict = await low_contrast(bp.page, minimum=4.6)
        flagged = [line.split('"')[1] for line in strict]
        assert flagged == ["alpha", "veil", "small", "faded", "fine"]


def test_screenshot_dir_defaults_to_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCREENSHOT_DIR", raising=False)
    directory = screenshot_dir()
    assert directory == REPO / "test-artifacts" / "screenshots"
    assert directory.is_dir()


async def test_shoot_refuses_a_name_with_a_path() -> None:
    async with browser_page(320, 240) as bp:
        with pytest.raises(ValueError, match="screenshot name"):
            await shoot(bp.page, "../outside")
