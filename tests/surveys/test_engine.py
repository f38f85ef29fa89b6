import datetime as dt

import pytest

from surveys.engine import (
    InvalidAnswer,
    Progress,
    answer,
    check_value,
    choices,
    display_value,
    go_back,
    is_complete,
    next_question,
    parse_text,
    previous_question,
    progress,
    prune,
    summary,
    toggle,
    visible_questions,
)
from surveys.loader import parse_definition
from surveys.schema import AnswerValue, Option, Question, QuestionKind

DEFN = parse_definition(
    """\
key: branching
version: 1
title: Branching
questions:
  - key: participated
    kind: yes_no
    prompt: Tham gia?
  - key: activities
    kind: multi
    prompt: Hoạt động?
    show_if: {question: participated, values: ["yes"]}
    options:
      - {value: van_nghe, label: Văn nghệ}
      - {value: the_thao, label: Thể dục thể thao}
      - {value: tham_quan, label: Tham quan}
      - {value: thien_tai, label: "Thiên tai, hỏa hoạn"}
  - key: sport_times
    kind: integer
    prompt: Bao nhiêu lần thể thao?
    min_value: 1
    max_value: 100
    show_if: {question: activities, values: [the_thao, tham_quan]}
  - key: reason
    kind: single
    prompt: Lý do?
    show_if: {question: participated, values: ["no"]}
    options:
      - {value: busy, label: Bận công việc}
      - {value: health, label: Sức khỏe}
      - {value: other, label: Khác}
  - key: note
    kind: text
    prompt: Ghi chú?
    required: false
    max_length: 10
"""
)
ACTIVITIES = DEFN.question("activities")
REASON = DEFN.question("reason")
YES_NO = DEFN.question("participated")
TIMES = DEFN.question("sport_times")
NOTE = DEFN.question("note")
DATE = Question(key="d", kind=QuestionKind.DATE, prompt="Ngày?")
PHONE = Question(key="p", kind=QuestionKind.PHONE, prompt="SĐT?", required=False)
TEXT = Question(key="t", kind=QuestionKind.TEXT, prompt="Tên?")
FREE_INT = Question(key="n", kind=QuestionKind.INTEGER, prompt="Số?")


def keys(questions: list[Question]) -> list[str]:
    return [q.key for q in questions]


def code_of(question: Question, text: str) -> str:
    with pytest.raises(InvalidAnswer) as info:
        parse_text(question, text)
    return info.value.code


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", "health"),
        (" 3 ", "other"),
        ("Sức khỏe", "health"),
        ("suc khoe", "health"),
        ("SỨC KHỎE.", "health"),
        ("bận", "busy"),  # the only label starting with it
        ("health", "health"),
        ("khac", "other"),
    ],
)
def test_single_accepts(text: str, expected: str) -> None:
    assert parse_text(REASON, text) == expected


def test_single_rejects() -> None:
    with pytest.raises(InvalidAnswer) as info:
        parse_text(REASON, "4")
    assert (info.value.code, info.value.params) == ("not_a_choice", {"count": 3, "item": "4"})
    assert code_of(REASON, "0") == "not_a_choice"
    assert code_of(REASON, "ngủ") == "not_a_choice"
    assert code_of(REASON, "") == "required"
    assert code_of(REASON, "bỏ qua") == "required"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", ["van_nghe"]),
        ("1, 3", ["van_nghe", "tham_quan"]),
        ("3 1", ["van_nghe", "tham_quan"]),
        ("3,1,3", ["van_nghe", "tham_quan"]),
        ("2;3", ["the_thao", "tham_quan"]),
        ("văn nghệ, tham quan", ["van_nghe", "tham_quan"]),
        ("Van nghe va the duc the thao", ["van_nghe", "the_thao"]),
        ("thể dục", ["the_thao"]),
        ("Thiên tai, hỏa hoạn", ["thien_tai"]),
        ("1, thiên tai, hỏa hoạn", ["van_nghe", "thien_tai"]),
        ("4", ["thien_tai"]),
    ],
)
def test_multi_accepts(text: str, expected: list[str]) -> None:
    assert parse_text(ACTIVITIES, text) == expected


def test_multi_rejects() -> None:
    with pytest.raises(InvalidAnswer) as info:
        parse_text(ACTIVITIES, "1, 7")
    assert (info.value.code, info.value.params) == ("not_a_choice", {"count": 4, "item": "7"})
    with pytest.raises(InvalidAnswer) as info:
        parse_text(ACTIVITIES, "văn nghệ, bơi lội")
    assert info.value.params["item"] == "bơi lội"
    assert code_of(ACTIVITIES, ", ;") == "empty_selection"
    assert code_of(ACTIVITIES, "  ") == "required"


@pytest.mark.parametrize(
    "text",
    ["có", "Có", "co", "C", "yes", "1", "có ạ", "Đúng"],
)
def test_yes(text: str) -> None:
    assert parse_text(YES_NO, text) is True


@pytest.mark.parametrize("text", ["không", "KHÔNG", "khong", "k", "ko", "no", "2", "chưa"])
def test_no(text: str) -> None:
    assert parse_text(YES_NO, text) is False


def test_yes_no_rejects() -> None:
    assert code_of(YES_NO, "có lẽ") == "not_yes_no"
    assert code_of(YES_NO, "3") == "not_yes_no"
    assert code_of(YES_NO, "-") == "required"


@pytest.mark.parametrize(
    ("text", "expected"), [("1", 1), ("100", 100), (" 12 ", 12), ("5 lần", 5), ("+7", 7)]
)
def test_integer_accepts(text: str, expected: int) -> None:
    assert parse_text(TIMES, text) == expected


def test_integer_thousands_and_sign() -> None:
    assert parse_text(FREE_INT, "1.000") == 1000
    assert parse_text(FREE_INT, "30 000") == 30000
    assert parse_text(FREE_INT, "-4") == -4


def test_integer_rejects() -> None:
    assert code_of(TIMES, "mười") == "not_integer"
    assert code_of(TIMES, "2.5") == "not_integer"
    assert code_of(TIMES, "1,5") == "not_integer"
    assert code_of(TIMES, "3 4") == "not_integer"
    assert code_of(FREE_INT, "9" * 16) == "not_integer"
    with pytest.raises(InvalidAnswer) as info:
        parse_text(TIMES, "0")
    assert (info.value.code, info.value.params) == ("out_of_range", {"min": 1, "max": 100})
    assert code_of(TIMES, "101") == "out_of_range"


def test_integer_refuses_magnitude_words() -> None:
    # "150 triệu" for a question in thousands of đồng would be stored as 150: refused instead.
    for text, word in (
        ("150 triệu", "triệu"),
        ("1,2 tỷ", None),
        ("2 TỶ đồng", "TỶ"),
        ("90 tr", "tr"),
    ):
        if word is None:
            assert code_of(FREE_INT, text) == "not_integer"  # a decimal is no whole number anyway
            continue
        with pytest.raises(InvalidAnswer) as info:
            parse_text(FREE_INT, text)
        assert (info.value.code, info.value.params) == ("magnitude_word", {"word": word})
    # the unit the question asks in, and other words, still pass
    assert parse_text(FREE_INT, "150.000 nghìn đồng") == 150_000
    assert parse_text(FREE_INT, "12 trường") == 12  # "trường" is not "tr"


def test_text() -> None:
    assert parse_text(NOTE, "  Tốt lắm ") == "Tốt lắm"
    assert parse_text(NOTE, "bỏ qua") is None
    assert parse_text(NOTE, "Bo qua") is None
    assert parse_text(NOTE, "-") is None
    assert parse_text(NOTE, "") is None
    with pytest.raises(InvalidAnswer) as info:
        parse_text(NOTE, "mười một ký")
    assert (info.value.code, info.value.params) == ("too_long", {"max": 10, "length": 11})
    assert parse_text(TEXT, "Nguyễn Văn A") == "Nguyễn Văn A"
    assert code_of(TEXT, " ") == "required"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05/09/2025", "2025-09-05"),
        ("5/9/2025", "2025-09-05"),
        ("05-09-2025", "2025-09-05"),
        ("5.9.2025", "2025-09-05"),
        ("29/02/2024", "2024-02-29"),
        ("2025-09-05", "2025-09-05"),
    ],
)
def test_date_accepts(text: str, expected: str) -> None:
    assert parse_text(DATE, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2025",
        "29/02/2025",
        "32/01/2025",
        "01/13/2025",
        "5/9/25",
        "hôm nay",
        "05/09-2025",
        "2025-9-5x",
    ],
)
def test_date_rejects(text: str) -> None:
    assert code_of(DATE, text) == "bad_date"


def test_phone() -> None:
    assert parse_text(PHONE, "0912 345 678") == "+84912345678"
    assert parse_text(PHONE, "bỏ qua") is None
    assert code_of(PHONE, "12345") == "bad_phone"


# --- typed values (buttons) -----------------------------------------------------------------


def test_check_value() -> None:
    assert check_value(REASON, "busy") == "busy"
    assert check_value(ACTIVITIES, ["tham_quan", "van_nghe", "tham_quan"]) == [
        "van_nghe",
        "tham_quan",
    ]
    assert check_value(YES_NO, True) is True
    assert check_value(YES_NO, "no") is False
    assert check_value(TIMES, 100) == 100
    assert check_value(NOTE, None) is None
    assert check_value(NOTE, " ") is None
    assert check_value(DATE, dt.date(2025, 2, 28)) == "2025-02-28"
    assert check_value(DATE, "2025-02-28") == "2025-02-28"
    assert check_value(PHONE, "+84912345678") == "+84912345678"
    cases: list[tuple[Question, object, str]] = [
        (REASON, "sleep", "not_a_choice"),
        (REASON, None, "required"),
        (REASON, 1, "wrong_type"),
        (ACTIVITIES, [], "empty_selection"),
        (ACTIVITIES, ["swim"], "not_a_choice"),
        (ACTIVITIES, "van_nghe", "wrong_type"),
        (YES_NO, "maybe", "wrong_type"),
        (TIMES, 0, "out_of_range"),
        (TIMES, True, "wrong_type"),
        (TIMES, "5", "wrong_type"),
        (NOTE, "x" * 11, "too_long"),
        (DATE, "2025-02-30", "bad_date"),
        (PHONE, "123", "bad_phone"),
        (TEXT, "", "required"),
    ]
    for question, value, code in cases:
        with pytest.raises(InvalidAnswer) as info:
            check_value(question, value)
        assert info.value.code == code, (question.key, value)


def test_toggle() -> None:
    selected = toggle(ACTIVITIES, [], "tham_quan")
    assert selected == ["tham_quan"]
    selected = toggle(ACTIVITIES, selected, "van_nghe")
    assert selected == ["van_nghe", "tham_quan"]
    assert toggle(ACTIVITIES, selected, "tham_quan") == ["van_nghe"]
    with pytest.raises(InvalidAnswer) as info:
        toggle(ACTIVITIES, selected, "forged")
    assert info.value.code == "not_a_choice"


def test_choices() -> None:
    assert choices(YES_NO) == (Option("yes", "Có"), Option("no", "Không"))
    assert choices(YES_NO, yes_label="Yes", no_label="No")[1] == Option("no", "No")
    assert choices(REASON) == REASON.options
    assert choices(TEXT) == ()


# --- walking --------------------------------------------------------------------------------


def test_branch_yes() -> None:
    answers: dict[str, AnswerValue] = {}
    assert keys(visible_questions(DEFN, {})) == ["participated", "note"]
    assert next_question(DEFN, {}) == YES_NO
    # 3 questions if not taking part (participated, reason, note), 4 with sport_times
    assert progress(DEFN, {}) == Progress(1, 3, 4)
    a = answer(DEFN, answers, YES_NO, True)
    assert next_question(DEFN, a) == ACTIVITIES
    assert progress(DEFN, a) == Progress(2, 3, 4)
    a = answer(DEFN, a, ACTIVITIES, ["van_nghe"])
    assert next_question(DEFN, a) == NOTE  # sport_times hidden: no sport chosen
    assert progress(DEFN, a) == Progress(3, 3, 3)
    a = answer(DEFN, a, NOTE, None)
    assert next_question(DEFN, a) is None
    assert is_complete(DEFN, a)
    assert progress(DEFN, a) == Progress(3, 3, 3)


def test_branch_multi_overlap_and_no() -> None:
    a: dict[str, AnswerValue] = {"participated": True, "activities": ["van_nghe", "tham_quan"]}
    assert next_question(DEFN, a) == TIMES
    assert progress(DEFN, a) == Progress(3, 4, 4)
    b: dict[str, AnswerValue] = {"participated": False}
    assert next_question(DEFN, b) == REASON
    assert keys(visible_questions(DEFN, b)) == ["participated", "reason", "note"]
    assert progress(DEFN, b) == Progress(2, 3, 3)


def test_progress_counts_a_skipped_branching_question() -> None:
    # An optional question a condition refers to may be skipped: then what it shows is not
    # asked.  Asked first: 2 questions (skipped or "no") or 3 ("yes").
    defn = parse_definition(
        """\
key: optional_branch
version: 1
title: T
questions:
  - key: sick
    kind: yes_no
    prompt: Ốm?
    required: false
  - key: days
    kind: integer
    prompt: Mấy ngày?
    show_if: {question: sick, values: ["yes"]}
  - key: note
    kind: text
    prompt: Ghi chú?
"""
    )
    assert progress(defn, {}) == Progress(1, 2, 3)
    assert progress(defn, {"sick": None}) == Progress(2, 2, 2)
    assert progress(defn, {"sick": True}) == Progress(2, 3, 3)


def test_progress_bounds_when_too_many_ways() -> None:
    # 9 options all named by a condition: 511 ways to tick them, more than are walked; the
    # bounds then come question by question (1 surely asked, 1 that may be).
    options = "\n".join(f"      - {{value: o{i}, label: L{i}}}" for i in range(9))
    names = ", ".join(f"o{i}" for i in range(9))
    defn = parse_definition(
        f"""\
key: wide
version: 1
title: T
questions:
  - key: pick
    kind: multi
    prompt: Chọn?
    options:
{options}
  - key: more
    kind: text
    prompt: Thêm?
    show_if: {{question: pick, values: [{names}]}}
"""
    )
    assert progress(defn, {}) == Progress(1, 1, 2)
    assert progress(defn, {"pick": ["o3"]}) == Progress(2, 2, 2)


def test_condition_on_hidden_question_is_false() -> None:
    # a stale 'activities' answer does not show sport_times once participated is no
    a: dict[str, AnswerValue] = {
        "participated": False,
        "activities": ["the_thao"],
        "sport_times": 3,
    }
    assert keys(visible_questions(DEFN, a)) == ["participated", "reason", "note"]
    assert prune(DEFN, a) == {"participated": False}


def test_back_and_prune_after_changing_branch() -> None:
    a: dict[str, AnswerValue] = {"participated": True, "activities": ["the_thao"], "sport_times": 4}
    assert next_question(DEFN, a) == NOTE
    assert previous_question(DEFN, a) == TIMES
    a = go_back(DEFN, a)
    assert a == {"participated": True, "activities": ["the_thao"]}
    assert next_question(DEFN, a) == TIMES
    assert previous_question(DEFN, a) == ACTIVITIES
    a = go_back(DEFN, a)
    assert previous_question(DEFN, a) == YES_NO
    a = go_back(DEFN, a)
    assert a == {}
    assert previous_question(DEFN, a) is None
    assert go_back(DEFN, a) == {}
    # change the branching answer: the yes-branch is gone for good
    stale: dict[str, AnswerValue] = {
        "participated": False,
        "activities": ["the_thao"],
        "sport_times": 4,
    }
    assert prune(DEFN, stale) == {"participated": False}
    assert prune(DEFN, {"participated": True, "unknown": 1}) == {"participated": True}


def test_previous_when_complete_is_last_answered() -> None:
    done: dict[str, AnswerValue] = {"participated": False, "reason": "busy", "note": "ok"}
    assert is_complete(DEFN, done)
    assert previous_question(DEFN, done) == NOTE


def test_summary_and_display() -> None:
    a: dict[str, AnswerValue] = {
        "participated": True,
        "activities": ["the_thao", "van_nghe"],
        "sport_times": 1200,
        "note": None,
    }
    rows = summary(DEFN, a)
    assert [(q.key, text) for q, text in rows] == [
        ("participated", "Có"),
        ("activities", "Thể dục thể thao, Văn nghệ"),
        ("sport_times", "1.200"),
        ("note", "—"),
    ]
    assert summary(DEFN, {"participated": False}, yes_label="Yes", no_label="No")[0][1] == "No"
    assert display_value(DATE, "2025-09-05") == "05/09/2025"
    assert display_value(PHONE, "+84912345678") == "0912 345 678"
    assert display_value(REASON, "health") == "Sức khỏe"
    assert display_value(REASON, "gone") == "gone"
    assert display_value(DATE, "not a date") == "not a date"
    assert display_value(TEXT, "Nguyễn Văn A") == "Nguyễn Văn A"
    assert display_value(NOTE, None, skipped="(bỏ qua)") == "(bỏ qua)"


def test_invalid_answer_str() -> None:
    err = InvalidAnswer("out_of_range", {"min": 1, "max": 2})
    assert str(err) == "out_of_range {'min': 1, 'max': 2}"
    assert str(InvalidAnswer("required")) == "required"
    assert InvalidAnswer("required").params == {}
