from pathlib import Path

import pytest
import yaml

from surveys.engine import (
    InvalidAnswer,
    Progress,
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
from surveys.normalize import fold
from surveys.schema import (
    AnswerValue,
    Audience,
    Level,
    Outcome,
    Question,
    QuestionKind,
    SurveyDefinition,
)


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


def test_the_builtins_load() -> None:
    defs = builtin_definitions()
    assert sorted(defs) == [
        "activity_participation",
        "hardship_case",
        "legal_consultation",
        "legal_union_case",
        "training_participation",
        "unit_report",
        "unit_report_upper",
        "welfare_signup",
    ]
    assert defs["activity_participation"].feeds == ("A3c",)
    assert defs["activity_participation"].outcome is None
    assert defs["training_participation"].feeds == ("A4b",)
    assert defs["training_participation"].outcome is None
    assert defs["legal_consultation"].feeds == ("P4",)
    assert defs["legal_consultation"].outcome is Outcome.LEGAL_CASE
    # a union body's own legal case, filed by its officer: P4 counts it
    assert defs["legal_union_case"].feeds == ("P4",)
    assert defs["legal_union_case"].outcome is Outcome.LEGAL_CASE
    assert defs["hardship_case"].feeds == ("A3b",)
    assert defs["hardship_case"].outcome is Outcome.HARDSHIP_CASE
    assert defs["welfare_signup"].feeds == ("A3a",)
    assert defs["welfare_signup"].outcome is Outcome.WELFARE_BENEFIT
    assert defs["unit_report"].outcome is None
    # "các cấp công đoàn": the unit report of the union bodies above the CĐCS (the plan's A4a,
    # A7's second half, A8b, A8c), with the questions that apply to them
    upper = defs["unit_report_upper"]
    assert upper.answered_by == (Level.DISTRICT, Level.PROVINCE)
    assert upper.question_keys == (
        "training_policy_proposal",
        "financial_disclosure",
        "financial_audit",
        "year_end_rating",
    )
    assert defs["unit_report"].answered_by == (Level.GRASSROOTS,)
    assert defs["activity_participation"].answered_by == ()
    for key, defn in defs.items():
        # the unit report and the union's own legal case are answered by an officer on
        # behalf of the unit
        unit_forms = ("unit_report", "unit_report_upper", "legal_union_case")
        expected = Audience.UNIT if key in unit_forms else Audience.MEMBER
        assert defn.audience is expected, key
        assert defn.anonymous is False
        assert defn.version == 1
        assert definition_from_json(definition_to_json(defn)) == defn
    # a fresh dict each call: callers cannot corrupt the cache
    defs.clear()
    assert len(builtin_definitions()) == 8


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
    assert progress(defn, answers) == Progress(4, 4, 4)


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
    assert progress(defn, {}) == Progress(1, 2, 2)


CATALOG_PATH = Path(__file__).resolve().parents[2] / "bot" / "indicators" / "catalog.yaml"

# What each unit_report:<question> source of the catalog needs from the unit report.
UNIT_REPORT_KINDS = {
    "periodic_dialogue": QuestionKind.YES_NO,  # A2a
    "staff_conference": QuestionKind.YES_NO,  # A2b
    "training_policy_proposal": QuestionKind.YES_NO,  # A4a
    "party_introductions": QuestionKind.INTEGER,  # A6: a count
    "year_end_rating": QuestionKind.SINGLE,  # A7
    "funds_use": QuestionKind.YES_NO,  # A8a
    "financial_disclosure": QuestionKind.YES_NO,  # A8b
    "financial_audit": QuestionKind.YES_NO,  # A8c
    "womens_committee": QuestionKind.YES_NO,  # P1
    "coordination_rules": QuestionKind.YES_NO,  # P2
    "collective_agreement": QuestionKind.YES_NO,  # P3
    "finance_collected": QuestionKind.INTEGER,  # P5: the amount collected …
}
# … over the amount due: the question named by the catalog's ``out_of``.
UNIT_REPORT_OUT_OF = {"P5": "finance_due"}


def _unit_report_sources(level: str = "grassroots") -> dict[str, str]:
    """Indicator code -> question, for every ``unit_report:<question>`` source of the catalog
    that counts the union bodies of ``level`` (CĐCS unless the entry's ``levels`` say more)."""
    catalog = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    prefix = "unit_report:"
    return {
        entry["code"]: entry["source"].removeprefix(prefix)
        for entry in catalog["indicators"]
        if str(entry.get("source", "")).startswith(prefix)
        and level in entry.get("levels", ["grassroots"])
    }


def test_every_unit_report_source_of_the_catalog_is_a_question() -> None:
    defn = builtin_definitions()["unit_report"]
    sources = _unit_report_sources()
    assert sorted(sources.values()) == sorted(UNIT_REPORT_KINDS)
    for code, key in sources.items():
        assert defn.has_question(key), f"{code}: unit_report has no question {key!r}"
        question = defn.question(key)
        assert question.kind is UNIT_REPORT_KINDS[key], code
        assert question.required, code
    for code, key in UNIT_REPORT_OUT_OF.items():
        assert defn.question(key).kind is QuestionKind.INTEGER, code
        assert defn.question(key).required, code
    # the survey feeds exactly the indicators that read it, in catalog order
    assert defn.feeds == tuple(sources)


def test_every_upper_level_source_is_a_question_of_the_upper_report() -> None:
    """The indicators counting the district unions or the province (A4a, A7b, A8b, A8c) read
    questions the upper report asks them, of the same kind as the CĐCS report's."""
    upper = builtin_definitions()["unit_report_upper"]
    sources = {**_unit_report_sources("district"), **_unit_report_sources("province")}
    assert sorted(sources) == ["A4a", "A7b", "A8b", "A8c"]
    for code, key in sources.items():
        assert upper.question(key).kind is UNIT_REPORT_KINDS[key], code
        assert upper.question(key).required, code
    assert set(upper.feeds) == set(sources)
    # A7b reads the same rating as A7, with the same options
    base = builtin_definitions()["unit_report"]
    assert upper.question("year_end_rating").options == base.question("year_end_rating").options


def test_unit_report_question_shapes() -> None:
    defn = builtin_definitions()["unit_report"]
    assert defn.question_keys == (
        "periodic_dialogue",
        "staff_conference",
        "coordination_rules",
        "collective_agreement",
        "training_policy_proposal",
        "womens_committee_eligible",
        "womens_committee",
        "party_introductions",
        "funds_use",
        "financial_disclosure",
        "financial_audit",
        "finance_due",
        "finance_collected",
        "year_end_rating",
        "notes",
    )
    count = defn.question("party_introductions")
    assert (count.min_value, count.max_value) == (0, 500)
    for key in ("finance_due", "finance_collected"):  # thousands of đồng, up to 100 billion
        amount = defn.question(key)
        assert (amount.kind, amount.min_value, amount.max_value) == (
            QuestionKind.INTEGER,
            0,
            100_000_000,
        )
    rating = defn.question("year_end_rating")
    assert rating.option_values == ("xuat_sac", "tot", "hoan_thanh", "khong_hoan_thanh")
    assert [opt.label for opt in rating.options] == [
        "Hoàn thành xuất sắc nhiệm vụ",
        "Hoàn thành tốt nhiệm vụ",
        "Hoàn thành nhiệm vụ",
        "Không hoàn thành nhiệm vụ",
    ]
    committee = defn.question("womens_committee")
    assert committee.show_if is not None
    assert (committee.show_if.question, committee.show_if.values) == (
        "womens_committee_eligible",
        ("yes",),
    )
    notes = defn.question("notes")
    assert (notes.kind, notes.required, notes.max_length) == (QuestionKind.TEXT, False, 1000)


def test_unit_report_by_typed_answers() -> None:
    defn = builtin_definitions()["unit_report"]
    answers = walk(
        defn,
        {
            "periodic_dialogue": "có",
            "staff_conference": "c",
            "coordination_rules": "1",
            "collective_agreement": "không",
            "training_policy_proposal": "yes",
            "womens_committee_eligible": "có",
            "womens_committee": "co",
            "party_introductions": "2 đoàn viên",
            "funds_use": "có",
            "financial_disclosure": "có",
            "financial_audit": "2",
            "finance_due": "150.000",
            "finance_collected": "142.500 nghìn đồng",
            "year_end_rating": "hoàn thành tốt",
            "notes": "Đã đối thoại tháng 12.",
        },
    )
    assert answers == {
        "periodic_dialogue": True,
        "staff_conference": True,
        "coordination_rules": True,
        "collective_agreement": False,
        "training_policy_proposal": True,
        "womens_committee_eligible": True,
        "womens_committee": True,
        "party_introductions": 2,
        "funds_use": True,
        "financial_disclosure": True,
        "financial_audit": False,
        "finance_due": 150000,
        "finance_collected": 142500,
        "year_end_rating": "tot",
        "notes": "Đã đối thoại tháng 12.",
    }
    texts = [text for _, text in summary(defn, answers)]
    assert texts[7:] == [
        "2",
        "Có",
        "Có",
        "Không",
        "150.000",
        "142.500",
        "Hoàn thành tốt nhiệm vụ",
        "Đã đối thoại tháng 12.",
    ]
    assert progress(defn, answers) == Progress(15, 15, 15)


def test_unit_report_not_eligible_skips_the_womens_committee() -> None:
    defn = builtin_definitions()["unit_report"]
    answers = walk(
        defn,
        {
            "periodic_dialogue": "k",
            "staff_conference": "có",
            "coordination_rules": "không",
            "collective_agreement": "có",
            "training_policy_proposal": "không",
            "womens_committee_eligible": "không",
            "party_introductions": "0",
            "funds_use": "có",
            "financial_disclosure": "không",
            "financial_audit": "có",
            "finance_due": "0",
            "finance_collected": "0",
            "year_end_rating": "4",
            "notes": "bỏ qua",
        },
    )
    assert "womens_committee" not in answers
    assert answers["party_introductions"] == 0
    assert answers["year_end_rating"] == "khong_hoan_thanh"
    assert answers["notes"] is None
    assert answers["womens_committee_eligible"] is False
    assert progress(defn, answers) == Progress(14, 14, 14)
    # changing the eligibility back to yes asks the committee question again
    answers = prune(defn, {**answers, "womens_committee_eligible": True})
    assert next_question(defn, answers) == defn.question("womens_committee")


def test_unit_report_rejects_an_out_of_range_count() -> None:
    question = builtin_definitions()["unit_report"].question("party_introductions")
    with pytest.raises(InvalidAnswer):
        parse_text(question, "501")
    with pytest.raises(InvalidAnswer):
        parse_text(question, "-1")
    assert parse_text(question, "500") == 500


def _restated(question: Question) -> list[str]:
    """What the question screen (bot/templates/survey/question.txt) already says about this
    question that its hint says again, folded: the range of a number, the length of a text,
    that several items may be chosen, the example number, how to skip an optional one."""
    hint = fold(question.hint or "")
    said = []
    if question.min_value is not None and question.max_value is not None:
        said.append(f"tu {question.min_value} den {question.max_value}")
    if question.max_length is not None:
        said.append(f"toi da {question.max_length}")
    if question.kind is QuestionKind.MULTI:
        said.append("chon nhieu")
    if question.kind is QuestionKind.PHONE:
        said.append("0912 345 678")
    if not question.required:
        said.extend(("bo qua", "khong bat buoc"))
    return [phrase for phrase in said if phrase in hint]


def test_hints_do_not_repeat_what_the_question_screen_says() -> None:
    restated = {
        f"{key}.{q.key}": found
        for key, defn in builtin_definitions().items()
        for q in defn.questions
        if (found := _restated(q))
    }
    assert restated == {}
