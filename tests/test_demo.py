"""``congdoan demo``, scripted: the real Dispatcher behind the local channel, on the sample
province, with the output checked as the person at the terminal reads it.

Figures worked out by hand from bot/sample/people.csv (40 people, 10 of them in the three
non-public schools Hoa Mai, Ngôi Sao and Sơn Ca) and the demo's seed (bot/templates/demo/seed.txt):

* activity survey (A3c, population: everyone in the roster) — the seed has five colleagues
  answer: Nhung, Thủy, Lâm (Bùi Thị Xuân, Đà Lạt) yes, Khánh (Nguyễn Du, Đà Lạt) no, Thảo
  (THPT Bảo Lộc) yes.  The script's member Tuấn (Bùi Thị Xuân) answers yes: 5 yes out of 40,
  12,5%; 6 respondents; all five in public schools: public 5/30 = 16,7%, non-public 0/10.
  Đà Lạt: Hùng + Bùi Thị Xuân 6 + Nguyễn Du 5 + Hoa Mai 4 = 16 people, 4 yes (Nhung, Thủy, Lâm,
  Tuấn) = 25%; Bảo Lộc: 6 + 5 + 3 = 14 people, 1 yes = 7,1%.
* hardship cases (A3b) — two reported in the seed, one marked supported by the chair: 1/2 = 50%.
"""

from __future__ import annotations

import asyncio
import io
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from rich.console import Console

from bot.channels.local import KEYBOARD_HISTORY, TOKEN, LocalEvent, LocalSession
from bot.channels.zalo.api import TEXT_LIMIT, ZaloError, ZaloErrorKind
from bot.channels.zalo.local import LocalZaloClient, ZaloSent
from bot.demo import Input, html_to_text, parse_press, reserve_port, run_demo
from bot.texts import render
from handlers.views import ADMIN_COMMANDS, MEMBER_COMMANDS, OFFICER_COMMANDS

BOX = re.compile(r"[│╭╮╰╯─]")


def flat(text: str) -> str:
    """The output with panel borders removed and all white space collapsed."""
    return " ".join(BOX.sub(" ", text).split())


def section(text: str, start: str, end: str) -> str:
    begin = text.index(start)
    return text[begin : text.index(end, begin)]


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no BOT_LOCALE/TZ from the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_LOCALE", "TZ", "BOT_TZ", "DATABASE_URL", "BOT_TOKEN", "ZALO_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # Invitations wait out quiet hours (21:00-07:00 by default): the demo's tests must not
    # depend on the hour they run at.  Quiet hours are tested with a clock of their own.
    monkeypatch.setenv("QUIET_HOURS", "00:00-00:00")


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None, highlight=False), out


MEMBER_WALK = """\
1
/start
#1
#contact
/surveys
#Tham gia hoạt động
#Có
#1
#3
#Xong
ba lần
200
3
#Bỏ qua
#Gửi
:who
3
/stats
:quit
"""


def test_member_answers_the_activity_survey_then_the_admin_sees_stats(tmp_path: Path) -> None:
    script = tmp_path / "walk.txt"
    script.write_text(MEMBER_WALK, encoding="utf-8")
    term, out = console()

    assert run_demo(script=str(script), console=term) == 0

    text = flat(out.getvalue())
    # Onboarding: the consent text, then linking by the shared contact.
    assert "91/2025/QH15" in text
    assert "Phạm Minh Tuấn › #1 👆 Bấm «✅ Tôi đồng ý»" in text
    assert "📱 Đã chia sẻ số điện thoại 0345 271 908" in text
    assert "Đã liên kết thành công! Xin chào Phạm Minh Tuấn." in text
    # The survey: buttons by number and by text, two re-prompts, the summary, the receipt.
    assert "👆 Bấm «▫️ Văn nghệ»" in text
    assert "👆 Bấm «▫️ Tham quan»" in text
    assert "(đã sửa)" in text
    assert "⚠️ Xin gõ một số nguyên (chỉ gồm chữ số)." in text
    assert "⚠️ Số phải từ 1 đến 100." in text
    summary = section(text, "Xin kiểm tra lại các câu trả lời", "Gửi câu trả lời")
    assert "→ Văn nghệ, Tham quan" in summary
    assert "→ 3" in summary
    assert (
        "✅ Đã ghi nhận câu trả lời cho «Tham gia hoạt động văn hóa, thể thao, tham quan, "
        "nghỉ mát». Cảm ơn thầy/cô!" in text
    )
    # The admin's /stats for the province.
    assert "Thầy/cô đang vào vai Nguyễn Thị Thu Hà." in text
    stats = text[text.index("Nguyễn Thị Thu Hà › /stats") :]
    assert "Công đoàn Giáo dục tỉnh Lâm Đồng" in stats
    a3b = section(stats, "A3b ·", "A3c ·")
    assert "1/2 = 50% · ❌ Chưa đạt" in a3b
    assert "Số trường hợp: 2" in a3b
    a3c = section(stats, "A3c ·", "A5 ·")
    # A3c, over those who answered: the seeded answers and Tuấn's, 5 yes of 6 (Đà Lạt 4 of 5,
    # Bảo Lộc 1 of 1); 6 of the 40 on the roster answered, too few for a verdict.
    assert "5/6 = 83,3% · ⚠️ chưa đủ số liệu (đã trả lời 6/40)" in a3c
    assert "Mục tiêu: ≥ 75%" in a3c
    assert "Độ phủ: 6/40 người trả lời ⚠️ dưới 50%: chưa đủ để đánh giá" in a3c
    assert (
        "Công đoàn Giáo dục thành phố Đà Lạt: 4/5 = 80% ⚠️ chưa đủ số liệu (đã trả lời 5/16)" in a3c
    )
    assert "Công đoàn Giáo dục thành phố Bảo Lộc: 1/1 = 100%" in a3c
    assert "Công đoàn Giáo dục huyện Đức Trọng: chưa có ai trả lời" in a3c
    # A4b, from the seeded training survey: 0387 556 120 and 0977 812 435 took part, 0989 163 502
    # did not: 2 of the 3 who answered, of the 40 on the roster.
    a4b = section(stats, "A4b ·", "A5 ·")
    assert "2/3 = 66,7% · ⚠️ chưa đủ số liệu (đã trả lời 3/40)" in a4b
    assert "Độ phủ: 3/40 người trả lời" in a4b
    # No unit report yet: no figure, every district "chưa báo cáo", never 0%.
    a4a = section(stats, "A4a ·", "A4b ·")
    assert "chưa có số liệu" in a4a and "Công đoàn Giáo dục thành phố Đà Lạt: chưa báo cáo" in a4a
    assert text.endswith("Tạm biệt! Cơ sở dữ liệu tạm đã được xóa.")


class LazyInput:
    """A non-terminal stdin whose lines may depend on what the demo printed so far."""

    def __init__(self, lines: list[str | Callable[[], str]]) -> None:
        self._lines: Iterator[str | Callable[[], str]] = iter(lines)

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        item = next(self._lines, None)
        if item is None:
            return ""
        return (item() if callable(item) else item) + "\n"


def test_newcomer_is_confirmed_by_the_chair(tmp_path: Path) -> None:
    term, out = console()

    def invite_start() -> str:
        code = re.search(r"bằng cách gõ /start (\w+)", flat(out.getvalue()))
        assert code is not None
        return f"/start {code.group(1)}"

    stdin = LazyInput(
        [
            "7",  # not a persona
            "4",
            invite_start,
            "#Tôi đồng ý",
            "#contact",
            ":nope",
            "#9",
            ":who",
            "2",
            "/pending",
            "#1",
            ":as 0345 271 908",
            "/stats",
            ":as 0900 000 000",
        ]
    )

    assert run_demo(console=term, stdin=stdin) == 0

    text = flat(out.getvalue())
    assert "Xin gõ một số từ 1 đến 4." in text
    assert "Chưa tìm thấy thông tin của thầy/cô trong danh sách đoàn viên." in text
    assert "Bản chạy thử không có lệnh :nope" in text
    assert "Chưa có tin nhắn nào có nút để bấm." in text
    pending = section(text, "Lê Thị Mai Anh › /pending", "Lê Thị Mai Anh › #1")
    assert "Trần Thị Bảo Ngọc" in pending
    assert "0912 345 678" in pending
    # The chair's decision reaches the newcomer's chat.
    assert "Chatbot → Trần Thị Bảo Ngọc" in text
    # A member may not run /stats.
    member = section(text, "Phạm Minh Tuấn › /stats", ":as 0900")
    assert "Lệnh này dành cho cán bộ công đoàn được phân quyền" in member
    assert "Không có ai trong danh sách mẫu với số 0900 000 000." in text


def hardship_report(situation: str, category: str) -> list[str | Callable[[], str]]:
    """The member files a hardship report of their own, not urgent."""
    return [
        "/surveys",
        "#Báo cáo hoàn cảnh khó khăn",
        "#Của bản thân tôi",
        f"#{category}",
        situation,
        "#Không",
        "#Gửi",
    ]


def test_a_button_of_an_older_message_acts_on_that_message(tmp_path: Path) -> None:
    """Two case cards on the officer's screen: a button of the older one changes that case and
    edits that card, as a tap on an older message in Telegram; ``#N`` alone is still the latest
    card's; each persona's chat keeps its own numbering."""
    term, out = console()
    first, second = "Mẹ bị ốm nặng, nằm viện dài ngày.", "Nhà bị sập mái sau bão."

    def cards() -> tuple[str, str, int, int]:
        """The two cards /cases printed for the member's reports, oldest message first: their
        texts and their numbers (what the buttons show before the dot)."""
        listing = flat(out.getvalue()).split("Lê Thị Mai Anh › /cases", 1)[1]
        tags = {}
        for situation in (first, second):
            after = listing[listing.index(situation) :]
            found = re.search(r"\[(\d+)\.1\] 🏠 Đã thăm hỏi", after)
            assert found is not None
            tags[situation] = int(found.group(1))
        older, newer = sorted(tags, key=listing.index)
        return older, newer, tags[older], tags[newer]

    def press_older() -> str:
        return f"#{cards()[2]}.1"

    def surveys_list() -> str:
        """The member's first /surveys list (pressed again after the officer's turn)."""
        member = flat(out.getvalue()).split("Phạm Minh Tuấn › /surveys", 1)[1]
        found = re.search(r"\[(\d+)\.(\d+)\] 📝 Báo cáo hoàn cảnh khó khăn", member)
        assert found is not None
        return f"#{found.group(1)} Báo cáo hoàn cảnh"

    stdin = LazyInput(
        [
            "1",
            "/start",
            "#1",
            "#contact",
            *hardship_report(first, "Ốm đau"),
            *hardship_report(second, "Thiên tai"),
            ":who",
            "2",
            "/cases",
            press_older,
            "#999.1",
            lambda: f"#{cards()[2]} Đóng hồ sơ",
            "#1",
            ":who",
            "1",
            surveys_list,
            ":quit",
        ]
    )

    assert run_demo(console=term, stdin=stdin) == 0

    text = flat(out.getvalue())
    older, newer, older_tag, newer_tag = cards()
    assert older_tag < newer_tag  # numbered as printed

    # The older card's button: its case is visited, and that card (not the latest) is edited.
    pressed = section(text, f"Lê Thị Mai Anh › #{older_tag}.1", "Lê Thị Mai Anh › #999.1")
    assert f"👆 Bấm «🏠 Đã thăm hỏi» [{older_tag}.1]" in pressed
    assert "💬 Đã cập nhật trường hợp #" in pressed and ": 🏠 Đã thăm hỏi." in pressed
    edited = pressed[pressed.index("Chatbot (đã sửa)") :]
    assert older in edited and newer not in edited
    assert "Tình trạng: 🏠 Đã thăm hỏi" in edited
    assert f"[{older_tag}.1] 🤝 Đã hỗ trợ" in edited  # its new buttons, under the same number

    # An unknown number, and a button the older card no longer has: one clear line each.
    assert (
        "Không có tin nhắn số 999 để bấm trong cuộc trò chuyện này: mỗi nút ghi [số tin "
        f"nhắn.số nút], và chỉ {KEYBOARD_HISTORY} tin nhắn có nút gần nhất còn bấm được."
    ) in text
    assert f"Tin nhắn số {older_tag} không có nút «Đóng hồ sơ»." in text

    # "#1" alone: the first button of the latest card, the newer case.
    latest = section(text, "Lê Thị Mai Anh › #1 ", "Lê Thị Mai Anh › :who")
    assert f"👆 Bấm «🏠 Đã thăm hỏi» [{newer_tag}.1]" in latest
    assert newer in latest and older not in latest and "Tình trạng: 🏠 Đã thăm hỏi" in latest

    # Back as the member: a button of his own older list, numbered in his own chat.
    member = text[text.rindex("Thầy/cô đang vào vai Phạm Minh Tuấn.") :]
    assert "👆 Bấm «📝 Báo cáo hoàn cảnh khó khăn»" in member
    assert "Thầy/cô báo cáo hoàn cảnh khó khăn của ai?" in member


def test_help_names_the_history_kept() -> None:
    assert f"(đến {KEYBOARD_HISTORY} tin)" in render("demo/help.txt", "vi")
    assert f"(up to {KEYBOARD_HISTORY})" in " ".join(render("demo/help.txt", "en").split())


async def test_parse_press() -> None:
    session = LocalSession()
    bot = Bot(TOKEN, session=session)
    days = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="14 ngày", callback_data="d14")]]
    )
    await bot.send_message(42, "Bao lâu?", reply_markup=days)
    latest = session.chat(42).last_with_buttons()
    assert parse_press("3.2", latest) == (3, "2")
    assert parse_press("3 Đã hỗ trợ", latest) == (3, "Đã hỗ trợ")
    assert parse_press("3", latest) == (None, "3")  # the latest message's third button
    assert parse_press("Xong", latest) == (None, "Xong")
    # a button of the latest message whose text starts with a number wins over an address
    assert parse_press("14 ngày", latest) == (None, "14 ngày")
    assert parse_press("14 ngày", None) == (14, "ngày")


async def test_local_session_numbers_the_messages_with_a_keyboard() -> None:
    session = LocalSession()
    bot = Bot(TOKEN, session=session)

    def keyboard(*texts: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=t) for t in texts]]
        )

    chat = session.chat(42)
    first = await bot.send_message(42, "một", reply_markup=keyboard("A", "B"))
    await bot.send_message(42, "không có nút")
    second = await bot.send_message(42, "hai", reply_markup=keyboard("C"))
    assert [chat.messages[m.message_id].tag for m in (first, second)] == [1, 2]
    other = session.chat(43)
    await bot.send_message(43, "chat khác", reply_markup=keyboard("X"))
    assert other.messages[1].tag == 1  # each chat counts its own

    # An edit changes the keyboard a press sees, under the same number; with none left the
    # message keeps its number; a message that gets its first keyboard by an edit gets one.
    await bot.edit_message_reply_markup(
        chat_id=42, message_id=first.message_id, reply_markup=keyboard("D")
    )
    message = chat.keyboard(1)
    assert message is not None and [b.text for b in message.flat_buttons] == ["D"]
    assert message.raw["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "D"
    await bot.edit_message_text("một (xong)", chat_id=42, message_id=first.message_id)
    message = chat.keyboard(1)
    assert message is not None and not message.flat_buttons
    assert "reply_markup" not in message.raw
    await bot.edit_message_reply_markup(chat_id=42, message_id=2, reply_markup=keyboard("E"))
    assert chat.messages[2].tag == 3 and chat.keyboard(3) is chat.messages[2]
    assert chat.last_with_buttons() is chat.messages[second.message_id]

    # Only the last KEYBOARD_HISTORY stay pressable; a deleted message is gone.
    for n in range(KEYBOARD_HISTORY):
        await bot.send_message(42, f"tin {n}", reply_markup=keyboard("F"))
    assert chat.keyboard(1) is None and chat.keyboard(3) is None
    last = chat.last_with_buttons()
    assert last is not None and last.tag == 3 + KEYBOARD_HISTORY
    oldest = chat.keyboard(4)
    assert oldest is not None and oldest.text == "tin 0"
    assert len(chat.keyboards) == KEYBOARD_HISTORY
    await bot.delete_message(42, oldest.message_id)
    assert chat.keyboard(4) is None


def test_script_file_missing() -> None:
    term, out = console()
    assert run_demo(script="no-such-script.txt", console=term) == 2
    assert "cannot read the demo script no-such-script.txt" in out.getvalue()


async def test_local_session_answers_like_the_bot_api() -> None:
    events: list[LocalEvent] = []
    session = LocalSession(listener=events.append)
    bot = Bot(TOKEN, session=session)
    me = await bot.get_me()
    assert me.username == "congdoan_demo_bot"
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]]
    )
    sent = await bot.send_message(
        42, "<b>Xin chào</b> &amp; chúc mừng", parse_mode="HTML", reply_markup=keyboard
    )
    assert sent.message_id == 1
    assert sent.text == "Xin chào & chúc mừng"
    assert sent.reply_markup is not None
    chat = session.chat(42)
    assert chat.last_with_buttons() is chat.messages[1]
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<b>Xin chào</b> &amp; chúc mừng",
            chat_id=42,
            message_id=1,
            parse_mode="HTML",
            reply_markup=keyboard,
        )
    edited = await bot.edit_message_text("Xong", chat_id=42, message_id=1)
    assert not isinstance(edited, bool) and edited.text == "Xong"
    assert chat.last_with_buttons() is None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("?", chat_id=42, message_id=7)
    assert await bot.answer_callback_query("q1", text="Đã lưu")
    assert [e.kind for e in events] == ["message", "edit", "toast"]
    assert events[2].text == "Đã lưu"
    assert session.take_message_id(42) == 2


def test_telegram_html_to_rich_text() -> None:
    text = html_to_text("<b>Đậm</b> và <i>nghiêng</i> &lt;b&gt; [red]không phải markup[/red]")
    assert text.plain == "Đậm và nghiêng <b> [red]không phải markup[/red]"
    styles = {(span.start, span.end, str(span.style)) for span in text.spans}
    assert (0, 3, "bold") in styles
    assert (7, 14, "italic") in styles


async def test_local_session_saves_uploads_where_the_user_can_open_them(tmp_path: Path) -> None:
    from aiogram.types import BufferedInputFile

    session = LocalSession(files_dir=tmp_path / "files")
    bot = Bot(TOKEN, session=session)
    upload = BufferedInputFile(b"PK\x03\x04 workbook", filename="chi-tieu-LD-2026.xlsx")
    sent = await bot.send_document(42, upload, caption="📑 Báo cáo")
    saved = tmp_path / "files" / "chi-tieu-LD-2026.xlsx"
    assert saved.read_bytes() == b"PK\x03\x04 workbook"
    assert sent.text == f"📑 Báo cáo\n📎 {saved}"
    photo = await bot.send_photo(42, BufferedInputFile(b"\x89PNG", filename="chart.png"))
    assert photo.text == f"📎 {tmp_path / 'files' / 'chart.png'}"
    assert (tmp_path / "files" / "chart.png").read_bytes() == b"\x89PNG"


# -- Zalo ---------------------------------------------------------------------------------------

# A button as the Telegram demo prints it ("[3.1]"): never in what a Zalo persona sees.
BUTTON = re.compile(r"\[\d+\.\d+\]")


def persona_invite(out: io.StringIO, persona: str) -> Callable[[], str]:
    """``/start CODE`` with the invite code the persona menu gives ``persona`` (it differs from
    run to run)."""

    def start() -> str:
        text = flat(out.getvalue())
        found = re.search(rf"{persona}.*?gõ /start (\w+)", text)
        assert found is not None
        return f"/start {found.group(1)}"

    return start


def after_setup(text: str) -> str:
    """What the demo printed once the sample province was ready (the personas' turn)."""
    return text[text.index("Tỉnh mẫu đã sẵn sàng") :]


def test_zalo_member_answers_by_typed_numbers_and_the_chair_gets_an_invitation() -> None:
    term, out = console()
    stdin = LazyInput(
        [
            "1",
            persona_invite(out, "Đoàn viên Phạm Minh Tuấn"),
            "1",  # ✅ Tôi đồng ý
            "Phạm Minh Tuấn 0345 271 908",
            "/surveys",
            "1",  # the activity survey
            "#1",  # no buttons on Zalo
            "1",  # Có
            "1, 3",  # Văn nghệ, Tham quan
            "3",  # times
            "bỏ qua",
            "1",  # 📨 Gửi câu trả lời
            ":help",
            ":who",
            "3",
            "/survey",
            "3",  # the grassroots unit report
            "1",  # 7 days
            "1",  # once
            ":who",
            "2",
            "/surveys",
            ":quit",
        ]
    )

    assert run_demo(console=term, stdin=stdin, channel="zalo") == 0

    text = flat(out.getvalue())
    assert "Kênh: Zalo." in text
    assert "Cú pháp #N, #M.N và #contact của bản Telegram không dùng được ở đây." in text
    turn = after_setup(text)
    # Nothing in the personas' turn is a button: every choice is a numbered line to type.
    assert not BUTTON.search(turn), BUTTON.search(turn)
    assert "👆 Bấm" not in turn
    assert (
        "Thầy/cô đang vào vai Phạm Minh Tuấn. Gõ :help để xem hướng dẫn. (Zalo: zalo-tuan)" in turn
    )

    # Linking on Zalo: the consent as numbered choices, then the typed name and phone.
    consent = section(turn, "Phạm Minh Tuấn › /start", "Phạm Minh Tuấn › 1")
    assert "Chatbot · Zalo" in consent
    assert "zalo-tuan" in consent  # the Zalo account id the union keeps
    assert "1. ✅ Tôi đồng ý 2. Không đồng ý" in consent
    assert "Trả lời bằng cách gõ số: 1 hoặc 2." in consent
    assert "Đã liên kết thành công! Xin chào Phạm Minh Tuấn." in turn

    # The survey, answered by typing: the list, a refused "#1", the typed choices.
    listing = section(turn, "Phạm Minh Tuấn › /surveys", "Phạm Minh Tuấn › 1 ")
    assert "1. 📝 Tham gia hoạt động văn hóa, thể thao, tham quan, nghỉ mát" in listing
    assert "Zalo không có nút để bấm: gõ số của lựa chọn (ví dụ 1) hoặc chữ của nó" in turn
    summary = section(turn, "Xin kiểm tra lại các câu trả lời", "Phạm Minh Tuấn ›")
    assert "→ Có" in summary and "→ Văn nghệ, Tham quan" in summary and "→ 3" in summary
    assert "1. 📨 Gửi câu trả lời" in summary
    assert (
        "✅ Đã ghi nhận câu trả lời cho «Tham gia hoạt động văn hóa, thể thao, tham quan, "
        "nghỉ mát». Cảm ơn thầy/cô!" in turn
    )
    # The Zalo help.
    assert "Cách dùng bản chạy thử trên Zalo" in turn and "Zalo không có nút" in turn

    # The admin opens the unit report on Zalo; the chair's invitation goes through the outbox
    # to her Zalo chat (linked there after the seed), in Zalo's words for the button.
    opened = section(turn, "Nguyễn Thị Thu Hà › /survey", "Nguyễn Thị Thu Hà › :who")
    assert "🚀 Đã mở khảo sát «Báo cáo năm của công đoàn cơ sở»" in opened
    invitation = opened[opened.index("Chatbot → Lê Thị Mai Anh · Zalo") :]
    assert "📝 Khảo sát mới: Báo cáo năm của công đoàn cơ sở" in invitation
    assert "👉 Gõ /surveys để trả lời." in invitation
    assert "· Telegram" not in turn  # nobody else of the demo heard of it
    chair = turn[turn.index("Lê Thị Mai Anh › /surveys") :]
    assert "📝 Báo cáo năm của công đoàn cơ sở" in chair


def test_zalo_newcomer_is_confirmed_and_told_on_zalo() -> None:
    term, out = console()
    stdin = LazyInput(
        [
            "4",
            persona_invite(out, "Giáo viên mới Trần Thị Bảo Ngọc"),
            "1",
            "#contact",  # no contact button on Zalo
            "Trần Thị Bảo Ngọc 0912 345 678",
            ":who",
            "2",
            "/pending",
            "1",
            ":quit",
        ]
    )

    assert run_demo(console=term, stdin=stdin, channel="zalo") == 0

    turn = after_setup(flat(out.getvalue()))
    assert not BUTTON.search(turn)
    assert "Zalo không có nút để bấm" in turn
    assert "Yêu cầu đã được chuyển đến cán bộ công đoàn của CĐCS Trường THPT Bùi Thị Xuân" in turn
    pending = section(turn, "Lê Thị Mai Anh › /pending", "Lê Thị Mai Anh › 1")
    assert "Trần Thị Bảo Ngọc" in pending and "0912 345 678" in pending
    assert "Trả lời bằng cách gõ số: 1, 2 hoặc 3." in pending
    decided = turn[turn.index("Lê Thị Mai Anh › 1") :]
    assert "✅ Đã xác nhận Trần Thị Bảo Ngọc vào CĐCS Trường THPT Bùi Thị Xuân." in decided
    # The decision goes through the outbox to the newcomer's Zalo chat.
    told = decided[decided.index("Chatbot → Trần Thị Bảo Ngọc · Zalo") :]
    assert "🎉 Cán bộ công đoàn đã xác nhận: xin chào Trần Thị Bảo Ngọc" in told


@pytest.mark.parametrize("channel", ["telegram", "zalo"])
def test_the_persona_menu_lists_every_command_of_each_persona(channel: str) -> None:
    term, out = console()
    assert run_demo(console=term, stdin=LazyInput([":quit"]), channel=channel) == 0

    menu = section(flat(out.getvalue()), "Thầy/cô muốn vào vai ai?", "Gõ số thứ tự (1–4).")

    def listed(*names: str) -> str:
        return "Các lệnh dùng được: " + " · ".join(f"/{name}" for name in names)

    member = listed(*MEMBER_COMMANDS)
    officer = listed(*MEMBER_COMMANDS, *OFFICER_COMMANDS)
    admin = listed(*MEMBER_COMMANDS, *OFFICER_COMMANDS, *ADMIN_COMMANDS)
    parts = re.split(r" [1-4]\. ", menu)[1:]
    assert len(parts) == 4
    assert member in parts[0] and officer not in parts[0]
    assert officer in parts[1] and "· /role" not in parts[1]
    assert admin in parts[2]
    assert member in parts[3] and officer not in parts[3]
    if channel == "zalo":
        assert "lần đầu dùng chatbot trên Zalo — gõ /start" in parts[0]
        assert "«Phạm Minh Tuấn 0345 271 908»" in parts[0]
    else:
        assert "chia sẻ số điện thoại" in parts[0]


def test_an_unknown_channel() -> None:
    term, out = console()
    assert run_demo(console=term, stdin=LazyInput([]), channel="viber") == 2
    assert "--channel must be one of telegram, zalo, not 'viber'" in out.getvalue()


async def test_local_zalo_client_answers_like_the_zalo_bot_api() -> None:
    sent: list[ZaloSent] = []
    client = LocalZaloClient(listener=sent.append)
    me = await client.get_me()
    assert me["account_type"] == "BASIC" and me["id"]
    first = await client.send_message("zalo-tuan", "Xin chào")
    second = await client.send_message("zalo-tuan", "x" * TEXT_LIMIT)  # at the limit: fine
    assert first != second
    assert client.texts("zalo-tuan") == ["Xin chào", "x" * TEXT_LIMIT]
    assert [(m.chat_id, m.message_id) for m in sent] == [
        ("zalo-tuan", first),
        ("zalo-tuan", second),
    ]

    # Refused as Zalo refuses, with the error kinds the senders act on.
    with pytest.raises(ZaloError, match="too long") as too_long:
        await client.send_message("zalo-tuan", "x" * (TEXT_LIMIT + 1))
    assert too_long.value.kind == ZaloErrorKind.PERMANENT and too_long.value.code == 400
    with pytest.raises(ZaloError, match="empty"):
        await client.send_message("zalo-tuan", "  ")
    with pytest.raises(ZaloError, match="chat_id"):
        await client.send_message("", "Xin chào")
    with pytest.raises(ZaloError, match="photo must be a URL"):
        await client.send_photo("zalo-tuan", "/tmp/chart.png")
    with pytest.raises(ZaloError) as unknown:
        await client.get_updates(1)
    assert unknown.value.code == 404
    assert len(sent) == 2  # a refused call has no effect

    photo = await client.send_photo("zalo-tuan", "https://example.org/chart.png", "📊 Biểu đồ")
    assert client.sent_to("zalo-tuan")[-1] == sent[-1]
    assert (sent[-1].message_id, sent[-1].photo_url, sent[-1].text) == (
        photo,
        "https://example.org/chart.png",
        "📊 Biểu đồ",
    )
    await client.send_chat_action("zalo-tuan")
    assert client.actions == [("zalo-tuan", "typing")]
    await client.set_webhook("https://bot.example.org/zalo", "s3cret-token")
    assert (await client.get_webhook_info())["url"] == "https://bot.example.org/zalo"
    await client.delete_webhook()
    assert client.webhook is None
    await client.close()
    assert client._session is None  # no HTTP session was ever opened
    assert client.calls[0] == "getMe"


class _SlowKeyboard(Console):
    """A console whose keyboard answers only when told to (a person thinking)."""

    def __init__(self, typed: threading.Event, line: str | None) -> None:
        super().__init__(file=io.StringIO())
        self.typed = typed
        self.answer = line

    def input(self, *args: object, **kwargs: object) -> str:
        self.typed.wait(5)
        if self.answer is None:
            raise EOFError
        return self.answer


async def test_waiting_for_the_keyboard_leaves_the_event_loop_running() -> None:
    """While the demo waits for a line, its dashboard and its outbox go on: the keyboard is
    read in a thread, not on the event loop."""
    typed = threading.Event()
    source = Input(_SlowKeyboard(typed, "/stats"), None)
    reading = asyncio.create_task(source.read("Lê Thị Mai Anh"))
    ticks = 0
    for _ in range(5):  # the loop runs other work while nobody types
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 5 and not reading.done()
    typed.set()
    assert await asyncio.wait_for(reading, 5) == "/stats"
    # End of input (Ctrl-D) is the end of the demo's reading, as before.
    done = threading.Event()
    done.set()
    assert await Input(_SlowKeyboard(done, None), None).read("?") is None


def test_two_demos_never_reserve_the_same_dashboard_port() -> None:
    """Each demo holds its dashboard's port from the moment it picks it (a port only probed
    free was taken by another demo starting at the same time, and that demo failed)."""
    first = reserve_port("127.0.0.1", 0)
    try:
        taken = int(first.getsockname()[1])
        second = reserve_port("127.0.0.1", taken)  # wanted, but held: another one
        try:
            assert int(second.getsockname()[1]) not in (taken, 0)
        finally:
            second.close()
    finally:
        first.close()


def test_a_dashboard_address_of_another_machine_is_said_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WEB_HOST naming an address this machine does not have (192.0.2.1, reserved for
    documentation): one line saying so, exit 1, no traceback."""
    monkeypatch.setenv("WEB_HOST", "192.0.2.1")
    script = tmp_path / "walk.txt"
    script.write_text(":quit\n", encoding="utf-8")
    term, out = console()
    assert run_demo(script=str(script), console=term) == 1
    text = out.getvalue()
    assert "error: the dashboard cannot listen on 192.0.2.1 (WEB_HOST)" in text
    assert "Traceback" not in text
