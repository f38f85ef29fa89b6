from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.loader import (
    DefinitionError,
    definition_checksum,
    definition_from_dict,
    definition_from_json,
    definition_to_dict,
    definition_to_json,
    load_definition,
    parse_definition,
)
from surveys.schema import (
    Audience,
    Condition,
    Option,
    Outcome,
    Question,
    QuestionKind,
    SurveyDefinition,
)

VALID = """\
key: activity
version: 2
title: Hoạt động
intro: Giới thiệu
anonymous: true
audience: unit
feeds: [A3c, A4b]
outcome: welfare_benefit
questions:
  - key: participated
    kind: yes_no
    prompt: Có tham gia không?
  - key: activities
    kind: multi
    prompt: Những hoạt động nào?
    show_if: {question: participated, values: ["yes"]}
    options:
      - {value: van_nghe, label: Văn nghệ}
      - {value: the_thao, label: Thể thao}
  - key: times
    kind: integer
    prompt: Bao nhiêu lần?
    min_value: 1
    max_value: 100
    show_if: {question: activities, values: [the_thao]}
  - key: note
    kind: text
    prompt: Ghi chú
    required: false
    max_length: 50
    hint: Không bắt buộc
"""


def test_valid_definition_is_built() -> None:
    defn = parse_definition(VALID, source="activity.yaml")
    assert defn == SurveyDefinition(
        key="activity",
        version=2,
        title="Hoạt động",
        intro="Giới thiệu",
        anonymous=True,
        audience=Audience.UNIT,
        feeds=("A3c", "A4b"),
        outcome=Outcome.WELFARE_BENEFIT,
        questions=(
            Question(key="participated", kind=QuestionKind.YES_NO, prompt="Có tham gia không?"),
            Question(
                key="activities",
                kind=QuestionKind.MULTI,
                prompt="Những hoạt động nào?",
                options=(Option("van_nghe", "Văn nghệ"), Option("the_thao", "Thể thao")),
                show_if=Condition("participated", ("yes",)),
            ),
            Question(
                key="times",
                kind=QuestionKind.INTEGER,
                prompt="Bao nhiêu lần?",
                min_value=1,
                max_value=100,
                show_if=Condition("activities", ("the_thao",)),
            ),
            Question(
                key="note",
                kind=QuestionKind.TEXT,
                prompt="Ghi chú",
                required=False,
                max_length=50,
                hint="Không bắt buộc",
            ),
        ),
    )
    assert defn.question("times").min_value == 1
    assert defn.position("note") == 3


def test_defaults_and_unquoted_yes_in_condition() -> None:
    text = """\
key: s
version: 1
title: T
questions:
  - {key: a, kind: yes_no, prompt: P}
  - {key: b, kind: date, prompt: Q, show_if: {question: a, values: [yes, no]}}
  - {key: c, kind: phone, prompt: R, show_if: {question: a, values: no}}
"""
    defn = parse_definition(text)
    assert defn.intro == ""
    assert defn.anonymous is False
    assert defn.audience is Audience.MEMBER
    assert defn.feeds == ()
    assert defn.outcome is None
    assert defn.question("b").show_if == Condition("a", ("yes", "no"))
    assert defn.question("c").show_if == Condition("a", ("no",))


def _replace(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


# (yaml text, expected line, expected key, a fragment of the reason)
ERRORS = [
    ("", 1, "", "empty"),
    ("key: [unclosed\n", 2, "", "invalid YAML"),
    ("- a\n- b\n", 1, "", "expected a mapping"),
    (_replace("anonymous: true\n", "anonymous: true\ncolour: red\n"), 6, "colour", "unknown key"),
    (_replace("title: Hoạt động\n", "title: Hoạt động\ntitle: B\n"), 4, "title", "duplicate key"),
    (_replace("key: activity\n", ""), 1, "key", "missing required key"),
    (_replace("key: activity", "key: Activity Survey"), 1, "key", "not a valid survey key"),
    (_replace("version: 2", "version: two"), 2, "version", "whole number"),
    (_replace("version: 2", "version: 0"), 2, "version", "1 or more"),
    (_replace("title: Hoạt động", "title: '  '"), 3, "title", "must not be empty"),
    (_replace("anonymous: true", "anonymous: maybe"), 5, "anonymous", "true or false"),
    (_replace("audience: unit", "audience: school"), 6, "audience", "not one of"),
    (_replace("outcome: welfare_benefit", "outcome: prize"), 8, "outcome", "not one of"),
    (_replace("audience: unit", "audience: unit\nlevels: [school]"), 7, "levels[0]", "not one of"),
    (
        _replace("audience: unit", "audience: unit\nlevels: [district, district]"),
        7,
        "levels[1]",
        "twice",
    ),
    (
        _replace("audience: unit", "audience: member\nlevels: [district]"),
        7,
        "levels",
        "only a survey with audience unit",
    ),
    (_replace("feeds: [A3c, A4b]", "feeds: [A3c, A3c]"), 7, "feeds[1]", "twice"),
    (_replace("feeds: [A3c, A4b]", "feeds: [a3c]"), 7, "feeds[0]", "indicator code"),
    (
        _replace("questions:\n", "questions: []\n").split("  - key: participated")[0],
        9,
        "questions",
        "at least one question",
    ),
    (_replace("    kind: yes_no\n", "    kind: choice\n"), 11, "questions[0].kind", "not one of"),
    (_replace("    kind: yes_no\n", ""), 10, "questions[0].kind", "missing required key"),
    (
        _replace("    prompt: Có tham gia không?", "    prompt: ''"),
        12,
        "questions[0].prompt",
        "must not be empty",
    ),
    (
        _replace("    prompt: Có tham gia không?", "    prompt: [a, b]"),
        12,
        "questions[0].prompt",
        "expected a single value",
    ),
    (
        _replace(
            "    prompt: Có tham gia không?\n", "    prompt: Có tham gia không?\n    colour: x\n"
        ),
        13,
        "questions[0].colour",
        "unknown key",
    ),
    (
        _replace("  - key: activities", "  - key: participated"),
        13,
        "questions[1].key",
        "duplicate question key 'participated' (first at line 10)",
    ),
    (_replace("  - key: times", "  - key: 3times"), 20, "questions[2].key", "not a valid"),
    (
        _replace(
            "    prompt: Có tham gia không?\n",
            "    prompt: Có tham gia không?\n    options: [{value: a, label: A}]\n",
        ),
        13,
        "questions[0].options",
        "only for single and multi",
    ),
    (
        _replace(
            "    options:\n      - {value: van_nghe, label: Văn nghệ}\n"
            "      - {value: the_thao, label: Thể thao}\n",
            "",
        ),
        13,
        "questions[1].options",
        "needs options",
    ),
    (
        _replace("      - {value: the_thao, label: Thể thao}\n", ""),
        18,
        "questions[1].options",
        "at least 2 options",
    ),
    (
        _replace("{value: the_thao, label: Thể thao}", "{value: van_nghe, label: Thể thao}"),
        19,
        "questions[1].options[1].value",
        "duplicate option value 'van_nghe' (first at line 18)",
    ),
    (
        _replace("{value: the_thao, label: Thể thao}", "{value: the_thao, label: VĂN NGHỆ}"),
        19,
        "questions[1].options[1].label",
        "same as the one at line 18",
    ),
    (
        _replace("{value: the_thao, label: Thể thao}", "{value: The Thao, label: Thể thao}"),
        19,
        "questions[1].options[1].value",
        "not a valid option value",
    ),
    (
        _replace("{value: the_thao, label: Thể thao}", "{value: no, label: Thể thao}"),
        19,
        "questions[1].options[1].value",
        "put it in quotes",
    ),
    (
        _replace("{value: the_thao, label: Thể thao}", "{value: the_thao}"),
        19,
        "questions[1].options[1].label",
        "missing required key",
    ),
    (
        _replace("    min_value: 1\n    max_value: 100\n", "    min_value: 10\n    max_value: 5\n"),
        24,
        "questions[2].max_value",
        "max_value 5 is less than min_value 10",
    ),
    (
        _replace("    min_value: 1\n", "    min_value: 1.5\n"),
        23,
        "questions[2].min_value",
        "whole number",
    ),
    (
        _replace("    max_length: 50\n", "    max_length: 50\n    min_value: 1\n"),
        31,
        "questions[3].min_value",
        "only integer questions",
    ),
    (
        _replace("    max_value: 100\n", "    max_value: 100\n    max_length: 5\n"),
        25,
        "questions[2].max_length",
        "only text questions",
    ),
    (
        _replace("    max_length: 50\n", "    max_length: 0\n"),
        30,
        "questions[3].max_length",
        "1 or more",
    ),
    (
        _replace("{question: participated, values", "{question: participated2, values"),
        16,
        "questions[1].show_if.question",
        "'participated2' is not an earlier question",
    ),
    (
        _replace("{question: participated, values", "{question: times, values"),
        16,
        "questions[1].show_if.question",
        "'times' is not an earlier question",
    ),
    (
        _replace("{question: participated, values", "{question: activities, values"),
        16,
        "questions[1].show_if.question",
        "'activities' is not an earlier question",
    ),
    (
        _replace('values: ["yes"]', 'values: ["maybe"]'),
        16,
        "questions[1].show_if.values[0]",
        "'participated' cannot take the value 'maybe'",
    ),
    (
        _replace("values: [the_thao]", "values: [boi_loi]"),
        25,
        "questions[2].show_if.values[0]",
        "'activities' cannot take the value 'boi_loi'",
    ),
    (
        _replace("values: [the_thao]", "values: []"),
        25,
        "questions[2].show_if.values",
        "at least one value",
    ),
    (
        _replace("{question: activities, values: [the_thao]}", "{question: activities}"),
        25,
        "questions[2].show_if.values",
        "missing required key",
    ),
    (
        VALID + "    show_if: {question: times, values: ['1']}\n",
        32,
        "questions[3].show_if.question",
        "cannot branch on 'times': it is a integer question",
    ),
    (
        _replace("    required: false\n", "    required: sometimes\n"),
        29,
        "questions[3].required",
        "true or false",
    ),
    (
        _replace("    hint: Không bắt buộc\n", "    hint: 5\n"),
        31,
        "questions[3].hint",
        "expected text",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "reason"), ERRORS)
def test_errors_name_file_line_and_key(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, source="activity.yaml")
    err = info.value
    assert (err.file, err.line, err.key) == ("activity.yaml", line, key), str(err)
    assert reason in err.reason
    prefix = f"activity.yaml:{line}: {key}: " if key else f"activity.yaml:{line}: "
    assert str(err).startswith(prefix)


def test_error_message_format() -> None:
    text = _replace("{question: participated, values", "{question: participated2, values")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, source="activity.yaml")
    assert str(info.value) == (
        "activity.yaml:16: questions[1].show_if.question: "
        "'participated2' is not an earlier question"
    )


def test_load_definition_names_the_path(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID, encoding="utf-8")
    assert load_definition(good).key == "activity"
    bad = tmp_path / "bad.yaml"
    bad.write_text(_replace("    kind: yes_no\n", "    kind: choice\n"), encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_definition(bad)
    assert info.value.file == str(bad)
    assert str(info.value).startswith(f"{bad}:11: questions[0].kind: ")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("title: Ho\xe1t\n".encode("latin-1"))
    with pytest.raises(DefinitionError) as info:
        load_definition(latin)
    assert info.value.line == 1


def test_json_round_trip() -> None:
    defn = parse_definition(VALID)
    text = definition_to_json(defn)
    assert "Hoạt động" in text  # stored readable, not \\u-escaped
    assert definition_from_json(text) == defn
    assert definition_from_dict(definition_to_dict(defn)) == defn


def test_to_dict_shape() -> None:
    data = definition_to_dict(parse_definition(VALID))
    assert data["feeds"] == ["A3c", "A4b"]
    assert data["outcome"] == "welfare_benefit"
    assert data["questions"][0] == {
        "key": "participated",
        "kind": "yes_no",
        "prompt": "Có tham gia không?",
        "required": True,
    }
    assert data["questions"][1]["show_if"] == {"question": "participated", "values": ["yes"]}
    assert data["questions"][2]["min_value"] == 1


def test_from_json_validates() -> None:
    data = definition_to_dict(parse_definition(VALID))
    data["questions"][2]["max_value"] = 0
    with pytest.raises(DefinitionError) as info:
        definition_from_dict(data, source="db:survey_definition/7")
    assert info.value.key == "questions[2].max_value"
    assert info.value.file == "db:survey_definition/7"


def test_checksum() -> None:
    assert definition_checksum("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert definition_checksum(VALID) != definition_checksum(VALID + " ")


def test_invalid_scalar_is_reported() -> None:
    text = _replace("    prompt: Ghi chú\n", "    prompt: 2025-13-45\n")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, source="a.yaml")
    assert (info.value.line, info.value.key) == (28, "questions[3].prompt")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mangled_files_raise_only_definition_error(data: st.DataObject) -> None:
    lines = VALID.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "replace", "dup", "cut"]))
        if action == "drop":
            del lines[i]
        elif action == "replace":
            lines[i] = data.draw(st.text(alphabet="ab:-[]{}'\" !&*1\t", max_size=12))
        elif action == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
        if not lines:
            break
    try:
        parse_definition("\n".join(lines), source="f.yaml")
    except DefinitionError as exc:
        assert exc.file == "f.yaml"
        assert exc.line >= 1
