"""Messages as Zalo shows them (plain text, split, numbered buttons) and typed replies read back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.zalo import text as zalo_text
from bot.channels.zalo.text import (
    Choice,
    Menu,
    choices_block,
    fold,
    hint,
    interpret,
    is_acknowledgement,
    number_buttons,
    plain_text,
    split,
)

# --------------------------------------------------------------------------- plain_text


def test_plain_text_of_a_notice() -> None:
    markup = (
        "<b>📢 Thông báo</b>\n\n"
        "Kính gửi thầy/cô <i>Trần Văn Bình</i>,\n"
        "Công đoàn &amp; nhà trường tổ chức &quot;Ngày hội&quot; &lt;2026&gt;.\n"
        "• Thời gian: <u>08/03</u>\n"
        "1. Đăng ký <s>trước</s> ngay"
    )
    assert plain_text(markup) == (
        "📢 Thông báo\n\n"
        "Kính gửi thầy/cô Trần Văn Bình,\n"
        'Công đoàn & nhà trường tổ chức "Ngày hội" <2026>.\n'
        "• Thời gian: 08/03\n"
        "1. Đăng ký trước ngay"
    )


@pytest.mark.parametrize(
    "markup,expected",
    [
        ('Xem <a href="https://cd.vn/hd">hướng dẫn</a>.', "Xem hướng dẫn (https://cd.vn/hd)."),
        ('<a href="https://congdoan.vn">https://congdoan.vn</a>', "https://congdoan.vn"),
        ('<a href="https://t.me/congdoan_bot">t.me/congdoan_bot</a>', "t.me/congdoan_bot"),
        ('<a href="tg://user?id=42">Lan</a> đã trả lời', "Lan đã trả lời"),
        ('<a href="https://x.vn/a"><b>Đọc</b> thêm</a>', "Đọc thêm (https://x.vn/a)"),
        ('<a href="https://x.vn/?a=1&amp;b=2">link</a>', "link (https://x.vn/?a=1&b=2)"),
        ('<a href="https://x.vn/a"></a>', "https://x.vn/a"),
        ("<a>không có địa chỉ</a>", "không có địa chỉ"),
    ],
)  # fmt: skip
def test_links(markup: str, expected: str) -> None:
    assert plain_text(markup) == expected


def test_nested_and_other_tags() -> None:
    assert plain_text("<b>Câu 1/5 <i>(bắt <u>buộc</u>)</i></b>") == "Câu 1/5 (bắt buộc)"
    assert plain_text("<strong>A</strong><em>B</em><ins>C</ins><del>D</del>") == "ABCD"
    assert plain_text("<blockquote>Trích dẫn</blockquote>") == "Trích dẫn"
    assert plain_text('<tg-spoiler>bí</tg-spoiler> <span class="tg-spoiler">mật</span>') == "bí mật"


def test_code_and_pre_are_kept_as_is() -> None:
    assert plain_text("Gõ <code>/assign 12 mã-đơn-vị</code>") == "Gõ /assign 12 mã-đơn-vị"
    assert plain_text("Có thể dùng <code>&lt;b&gt;đậm&lt;/b&gt;</code>") == "Có thể dùng <b>đậm</b>"
    # blank lines inside <pre> are not collapsed
    assert plain_text("Bảng:\n<pre>  a   b\n\n\n  c</pre>") == "Bảng:\n  a   b\n\n\n  c"


def test_whitespace() -> None:
    markup = "\n\n  Dòng 1\n\n\n\nDòng 2   \n  • thụt lề  hai  cách\n \n\t\n"
    assert plain_text(markup) == "Dòng 1\n\nDòng 2\n  • thụt lề  hai  cách"
    assert plain_text("a<br>b<br/>c<br />d") == "a\nb\nc\nd"
    assert plain_text("") == ""


@pytest.mark.parametrize(
    "markup,expected",
    [
        ("<b>không đóng", "không đóng"),
        ("<b><i>sai</b></i> thứ tự", "sai thứ tự"),
        ("</i>lạc", "lạc"),
        ("a < b & c > d", "a < b & c > d"),
        ('<a href="https://x.vn">chưa đóng', "chưa đóng (https://x.vn)"),
        ("<p>đoạn</p><div>khác</div>", "đoạnkhác"),
        ("<!-- ghi chú -->còn lại", "còn lại"),
    ],
)
def test_malformed_markup(markup: str, expected: str) -> None:
    assert plain_text(markup) == expected


def test_a_parser_failure_falls_back_to_removing_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, data: str) -> None:
        raise AssertionError("unexpected")

    monkeypatch.setattr(zalo_text._PlainText, "feed", broken)
    assert plain_text("<b>Xin</b> &amp; <i>chào</i>\n\n\n!") == "Xin & chào\n\n!"


@given(st.text())
def test_plain_text_never_raises(markup: str) -> None:
    assert isinstance(plain_text(markup), str)


# --------------------------------------------------------------------------- split


@pytest.mark.parametrize(
    "text,limit,expected",
    [
        ("aaaa bbbb\n\ncccc dddd\neeee", 12, ["aaaa bbbb", "cccc dddd", "eeee"]),
        # a blank line is preferred to a later line end
        ("ab\n\ncd\nef", 8, ["ab", "cd\nef"]),
        ("ab\n  \ncd", 3, ["ab", "cd"]),
        ("một hai ba bốn năm", 8, ["một hai", "ba bốn", "năm"]),
        ("abcd efgh", 4, ["abcd", "efgh"]),
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),
        ("  xin chào  ", 2000, ["xin chào"]),
        ("   \n ", 2000, []),
        ("", 10, []),
    ],
)
def test_split_examples(text: str, limit: int, expected: list[str]) -> None:
    assert split(text, limit) == expected


def test_split_default_limit_is_zalos() -> None:
    text = ("x" * 1500 + "\n\n") * 3
    assert split(text) == ["x" * 1500] * 3
    assert split("y" * 4001) == ["y" * 2000, "y" * 2000, "y"]


def test_split_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError):
        split("abc", 0)


@given(st.text(alphabet=st.sampled_from("ab đ\n\t")), st.integers(min_value=1, max_value=30))
def test_split_keeps_the_text(text: str, limit: int) -> None:
    parts = split(text, limit)
    assert all(0 < len(part) <= limit and part == part.strip() for part in parts)
    assert "".join("".join(p.split()) for p in parts) == "".join(text.split())
    # the parts, in order, with only whitespace around and between them, are the text
    pattern = r"\s*" + r"\s*".join(re.escape(p) for p in parts) + r"\s*"
    assert re.fullmatch(pattern, text)


# --------------------------------------------------------------------------- numbered buttons

KEYBOARD: dict[str, Any] = {
    "inline_keyboard": [
        [
            {"text": "▫️ Văn nghệ", "callback_data": "sv:5:t:art"},
            {"text": "▫️ Thể thao", "callback_data": "sv:5:t:sport"},
        ],
        [{"text": "📖 Xem hướng dẫn", "url": "https://congdoan.vn/hd"}],
        [
            {"text": "✔️ Xong", "callback_data": "sv:5:done"},
            {"text": "⬅️ Quay lại", "callback_data": "sv:5:back"},
        ],
    ]
}


def _is_toggle(action: str) -> bool:
    return ":t:" in action


def test_number_buttons() -> None:
    lines, menu = number_buttons(KEYBOARD, toggle=_is_toggle)
    assert lines == [
        "1. ▫️ Văn nghệ",
        "2. ▫️ Thể thao",
        "🔗 📖 Xem hướng dẫn: https://congdoan.vn/hd",
        "3. ✔️ Xong",
        "4. ⬅️ Quay lại",
    ]
    assert menu == Menu(
        (
            Choice(1, "▫️ Văn nghệ", "sv:5:t:art"),
            Choice(2, "▫️ Thể thao", "sv:5:t:sport"),
            Choice(3, "✔️ Xong", "sv:5:done"),
            Choice(4, "⬅️ Quay lại", "sv:5:back"),
        ),
        free=(1, 2),
    )
    assert choices_block(lines, menu, hint(menu, "vi")) == (
        "1. ▫️ Văn nghệ\n"
        "2. ▫️ Thể thao\n"
        "🔗 📖 Xem hướng dẫn: https://congdoan.vn/hd\n"
        "3. ✔️ Xong\n"
        "4. ⬅️ Quay lại\n"
        "\n"
        "Gõ các số, cách nhau bởi dấu phẩy (ví dụ: 1, 3)."
    )
    # without toggles nothing is free
    assert number_buttons(KEYBOARD)[1].free == ()


def test_replies_to_a_multiple_choice() -> None:
    _, menu = number_buttons(KEYBOARD, toggle=_is_toggle)
    assert interpret("1", menu) is None  # a toggle: the caller reads it
    assert interpret("1, 3", menu) is None
    assert interpret("3", menu) == "sv:5:done"
    assert interpret("xong", menu) == "sv:5:done"
    assert interpret("quay", menu) == "sv:5:back"
    assert interpret("Văn nghệ", menu) is None
    assert interpret("the", menu) is None  # the start of a toggle only


@pytest.mark.parametrize(
    "markup",
    [
        None,
        {"keyboard": [[{"text": "📱 Chia sẻ số điện thoại", "request_contact": True}]]},
        {"remove_keyboard": True},
        {"force_reply": True},
        {"inline_keyboard": "hỏng"},
    ],
)
def test_other_markup_gives_no_lines(markup: dict[str, Any] | None) -> None:
    assert number_buttons(markup) == ([], Menu())


def test_only_url_buttons() -> None:
    markup = {"inline_keyboard": [[{"text": "Mở", "url": "https://x.vn"}]]}
    lines, menu = number_buttons(markup)
    assert (lines, menu) == (["🔗 Mở: https://x.vn"], Menu())
    assert hint(menu, "vi") == ""
    assert choices_block(lines, menu, hint(menu, "vi")) == "🔗 Mở: https://x.vn"
    assert choices_block([], Menu(), "Gõ 1 để chọn.") == ""


# --------------------------------------------------------------------------- hints


def _menu(count: int, free: tuple[int, ...] = ()) -> Menu:
    return Menu(tuple(Choice(n, f"Lựa chọn {n}", f"a:{n}") for n in range(1, count + 1)), free)


@pytest.mark.parametrize(
    "menu,expected",
    [
        (_menu(1), "Gõ 1 để chọn."),
        (_menu(2), "Trả lời bằng cách gõ số: 1 hoặc 2."),
        (_menu(3), "Trả lời bằng cách gõ số: 1, 2 hoặc 3."),
        (_menu(5), "Trả lời bằng cách gõ số: 1, 2, 3, 4 hoặc 5."),
        (_menu(4, free=(1, 2, 3)), "Gõ các số, cách nhau bởi dấu phẩy (ví dụ: 1, 3)."),
        (Menu(), ""),
    ],
)
def test_hint_in_vietnamese(menu: Menu, expected: str) -> None:
    assert hint(menu, "vi") == expected


# --------------------------------------------------------------------------- Menu as JSON


def test_menu_json_round_trip() -> None:
    _, menu = number_buttons(KEYBOARD, toggle=_is_toggle)
    data = menu.to_json()
    assert "Văn nghệ" in data  # readable in the database
    assert Menu.from_json(data) == menu
    assert Menu.from_json(Menu().to_json()) == Menu()


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "không phải JSON",
        "null",
        "[]",
        '"chuỗi"',
        '{"choices": 5}',
        '{"free": [1]}',
        '{"choices": [[1, "Có"]]}',
        '{"choices": [["1", "Có", "a"]], "free": "x"}',
        '{"choices": [[true, "Có", "a"]]}',
        '{"choices": [[1, "Có", null]]}',
    ],
)
def test_bad_menu_json_is_an_empty_menu(data: str | None) -> None:
    assert Menu.from_json(data) == Menu()


# --------------------------------------------------------------------------- interpret

YES_NO = Menu((Choice(1, "✅ Có", "sa:12:yes"), Choice(2, "Không", "sa:12:no")))
CONSENT = Menu((Choice(1, "✅ Tôi đồng ý", "consent:yes"), Choice(2, "Không đồng ý", "consent:no")))
UNITS = Menu(
    (
        Choice(1, "Trường THCS Nguyễn Du", "u:1"),
        Choice(2, "Trường THPT Trần Phú", "u:2"),
        Choice(3, "Huyện Đức Trọng", "u:3"),
    )
)


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("1", "sa:12:yes"),
        (" 2 ", "sa:12:no"),
        ("2.", "sa:12:no"),
        ("2)", "sa:12:no"),
        ("số 2", "sa:12:no"),
        ("Số 2", "sa:12:no"),
        ("SỐ 1", "sa:12:yes"),
        ("so 2", "sa:12:no"),
        ("số2", "sa:12:no"),
        ("#2", "sa:12:no"),
        ("# 1", "sa:12:yes"),
        ("２", "sa:12:no"),
        ("０１", "sa:12:yes"),
        ("3", None),
        ("0", None),
        ("0912345678", None),
        ("1 2", None),
    ],
)
def test_numbers(typed: str, expected: str | None) -> None:
    assert interpret(typed, YES_NO) == expected


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("có", "sa:12:yes"),
        ("Có", "sa:12:yes"),
        ("CÓ", "sa:12:yes"),
        ("co", "sa:12:yes"),
        ("✅ có!", "sa:12:yes"),
        ("khong", "sa:12:no"),
        ("Không", "sa:12:no"),
        ("KHÔNG", "sa:12:no"),
        ("không.", "sa:12:no"),
        ("khô", "sa:12:no"),  # folded "kho": three letters, the start of "khong"
        ("ok", "sa:12:yes"),
        ("OK", "sa:12:yes"),
        ("ừ", "sa:12:yes"),
        ("Dạ", "sa:12:yes"),
        ("vâng", "sa:12:yes"),
        ("yes", "sa:12:yes"),
        ("y", "sa:12:yes"),
        ("đồng ý", "sa:12:yes"),
        ("ko", "sa:12:no"),
        ("k", "sa:12:no"),
        ("No", "sa:12:no"),
        ("từ chối", "sa:12:no"),
        ("có lẽ", None),
        ("chưa biết", None),
        ("", None),
        ("   ", None),
        ("!!!", None),
        ("👍", None),
    ],
)
def test_labels_and_yes_no_words(typed: str, expected: str | None) -> None:
    assert interpret(typed, YES_NO) == expected


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("tôi đồng ý", "consent:yes"),
        ("Đồng ý", "consent:yes"),  # a yes word; "dong y" starts no label
        ("có", "consent:yes"),
        ("ok", "consent:yes"),
        ("không", "consent:no"),  # the start of "khong dong y" alone
        ("không đồng ý", "consent:no"),
        ("ko", "consent:no"),
        ("tôi", "consent:yes"),  # three letters: the start of one label
        ("2", "consent:no"),
    ],
)
def test_consent(typed: str, expected: str) -> None:
    assert interpret(typed, CONSENT) == expected


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("truong", None),  # the start of two labels
        ("Trường THCS", "u:1"),
        ("truong thpt tran phu", "u:2"),
        ("huyện", "u:3"),
        ("hu", None),  # shorter than three letters
        ("đức trọng", None),  # not the start
        ("Trường THCS Nguyễn Du và", None),
    ],
)
def test_prefixes(typed: str, expected: str | None) -> None:
    assert interpret(typed, UNITS) == expected


def test_ambiguity() -> None:
    two_yes = Menu((Choice(1, "Có, tham gia", "a"), Choice(2, "Có, nhưng chưa đủ", "b")))
    assert interpret("có", two_yes) is None
    assert interpret("ok", two_yes) is None
    assert interpret("có, tham", two_yes) == "a"
    same = Menu((Choice(1, "Bỏ qua", "skip:1"), Choice(2, "bỏ qua!", "skip:2")))
    assert interpret("bỏ qua", same) is None
    assert interpret("2", same) == "skip:2"
    two_no = Menu((Choice(1, "Không dừng", "keep"), Choice(2, "Từ chối", "refuse")))
    assert interpret("không", two_no) == "keep"  # the start of one label
    assert interpret("ko", two_no) is None  # both are no buttons


def test_free_choices_are_never_picked() -> None:
    menu = Menu((Choice(1, "Có", "t:yes"), Choice(2, "✔️ Xong", "done")), free=(1,))
    assert interpret("1", menu) is None
    assert interpret("có", menu) is None
    assert interpret("ok", menu) is None
    assert interpret("2", menu) == "done"


def test_an_empty_menu_chooses_nothing() -> None:
    assert interpret("1", Menu()) is None
    assert interpret("có", Menu()) is None


# --------------------------------------------------------------------------- folding


def test_fold() -> None:
    assert fold("Thể THAO!") == "the thao"
    assert fold("✅ Đồng ý") == "dong y"
    assert fold("Người  lao\tđộng") == "nguoi lao dong"
    assert fold("ＡＢＣ １２") == "abc 12"
    assert fold("Ừ, ờ") == "u o"
    assert fold("🎉") == ""


@pytest.mark.parametrize(
    "typed,expected",
    [
        ("Đã nắm", True),
        ("đã nắm được.", True),
        ("Nắm rồi!", True),
        ("OK, đã nắm", True),
        ("✅ Đã nắm", True),
        ("Đã đọc", True),
        ("da nam", True),
        ("đã", False),
        ("nắm", False),
        ("chưa nắm", False),
        ("", False),
    ],
)
def test_acknowledgements(typed: str, expected: bool) -> None:
    assert is_acknowledgement(typed) is expected
