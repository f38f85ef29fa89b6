from pathlib import Path

import pytest

from surveys.engine import (
    is_complete,
    next_question,
    parse_text,
    previous_question,
    progress,
    prune,
    summary,
)
from surveys.loader import (
    DEFINITIONS_DIR,
    builtin_definitions,
    definition_from_json,
    definition_to_json,
    load_definition,
)
from surveys.schema import AnswerValue, Audience, Outcome, QuestionKind, SurveyDefinition


def walk(defn: SurveyDefinition, replies: dict[str, str]) -> dict[str, AnswerValue]:
    """Answer by typed text as a member would; every asked question must have a reply."""
    answers: dict[str, AnswerValue] = {}
    asked = []
    while (question := next_question(defn, answers)) is not None:
        asked.append(question.key)
        answers[question.key] = parse_text(question, replies[question.key])
        answers = prune(defn, answers)
        assert len(asked) <= len(defn.questions)
    assert is_complete(defn, answers)
    return answers


def test_the_three_builtins_load() -> None:
    defs = builtin_definitions()
    assert sorted(defs) == ["activity_participation", "hardship_case", "welfare_signup"]
    assert defs["activity_participation"].feeds == ("A3c",)
    assert defs["activity_participation"].outcome is None
    assert defs["hardship_case"].feeds == ("A3b",)
    assert defs["hardship_case"].outcome is Outcome.HARDSHIP_CASE
    assert defs["welfare_signup"].feeds == ("A3a",)
    assert defs["welfare_signup"].outcome is Outcome.WELFARE_BENEFIT
    for defn in defs.values():
        assert defn.audience is Audience.MEMBER
        assert defn.anonymous is False
        assert defn.version == 1
        assert definition_from_json(definition_to_json(defn)) == defn
    # a fresh dict each call: callers cannot corrupt the cache
    defs.clear()
    assert len(builtin_definitions()) == 3


@pytest.mark.parametrize("path", sorted(DEFINITIONS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_file_name_is_the_key(path: Path) -> None:
    assert load_definition(path).key == path.stem


def test_activity_question_shapes() -> None:
    defn = builtin_definitions()["activity_participation"]
    assert defn.question_keys == ("participated", "activities", "times", "reason", "suggestion")
    assert defn.question("participated").kind is QuestionKind.YES_NO
    assert defn.question("activities").option_values == (
        "van_nghe",
        "the_thao",
        "tham_quan",
        "nghi_mat",
        "khac",
    )
    times = defn.question("times")
    assert (times.min_value, times.max_value) == (1, 100)
    suggestion = defn.question("suggestion")
    assert (suggestion.required, suggestion.max_length) == (False, 500)


def test_activity_yes_branch() -> None:
    defn = builtin_definitions()["activity_participation"]
    answers = walk(
        defn,
        {"participated": "có", "activities": "1, 3", "times": "4", "suggestion": "bỏ qua"},
    )
    assert answers == {
        "participated": True,
        "activities": ["van_nghe", "tham_quan"],
        "times": 4,
        "suggestion": None,
    }
    assert [text for _, text in summary(defn, answers)] == ["Có", "Văn nghệ, Tham quan", "4", "—"]
    assert progress(defn, answers) == (4, 4)


def test_activity_no_branch_and_back() -> None:
    defn = builtin_definitions()["activity_participation"]
    answers = walk(defn, {"participated": "k", "reason": "1", "suggestion": "Tổ chức cuối tuần"})
    assert answers == {
        "participated": False,
        "reason": "ban_cong_viec",
        "suggestion": "Tổ chức cuối tuần",
    }
    assert previous_question(defn, answers) == defn.question("suggestion")
    # go back to the first question and change it: the no-branch answer is dropped
    answers = prune(defn, {**answers, "participated": True})
    assert answers == {"participated": True, "suggestion": "Tổ chức cuối tuần"}
    assert next_question(defn, answers) == defn.question("activities")


def test_hardship_for_a_colleague() -> None:
    defn = builtin_definitions()["hardship_case"]
    answers = walk(
        defn,
        {
            "subject": "2",
            "colleague_name": "Trần Thị B",
            "colleague_phone": "0912 345 678",
            "category": "thiên tai, hỏa hoạn",
            "description": "Nhà bị sập do mưa lũ.",
            "urgent": "có",
        },
    )
    assert answers == {
        "subject": "colleague",
        "colleague_name": "Trần Thị B",
        "colleague_phone": "+84912345678",
        "category": "thien_tai",
        "description": "Nhà bị sập do mưa lũ.",
        "urgent": True,
    }
    assert [text for _, text in summary(defn, answers)][2] == "0912 345 678"


def test_hardship_for_self_skips_colleague_questions() -> None:
    defn = builtin_definitions()["hardship_case"]
    answers = walk(
        defn,
        {"subject": "1", "category": "om dau", "description": "Điều trị ung thư", "urgent": "2"},
    )
    assert answers == {
        "subject": "self",
        "category": "om_dau",
        "description": "Điều trị ung thư",
        "urgent": False,
    }
    assert defn.question("category").option_values == (
        "om_dau",
        "tai_nan",
        "thien_tai",
        "gia_dinh",
        "khac",
    )


def test_welfare_signup() -> None:
    defn = builtin_definitions()["welfare_signup"]
    assert 4 <= len(defn.question("offer").options) <= 5
    answers = walk(defn, {"offer": "2", "note": "-"})
    assert answers == {"offer": "vay_von", "note": None}
    assert progress(defn, {}) == (1, 2)
