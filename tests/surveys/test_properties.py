"""Property tests: no sequence of inputs crashes the engine or leaves it in an impossible state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.engine import (
    ERROR_CODES,
    InvalidAnswer,
    Progress,
    answer,
    check_value,
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
from surveys.loader import definition_from_json, definition_to_json
from surveys.schema import (
    BRANCHABLE_KINDS,
    CHOICE_KINDS,
    NO,
    YES,
    AnswerValue,
    Condition,
    Option,
    Question,
    QuestionKind,
    SurveyDefinition,
)

# Distinct after folding; includes a label with a comma and one starting with a digit.
LABELS = ["Văn nghệ", "Thể thao", "Tham quan", "Nghỉ mát", "Khác", "Ốm đau, bệnh", "1 lần", "Đi xa"]
PHONES = ["0912 345 678", "+84 912.345.678", "0263 3822 111"]
TYPED = [
    "",
    " ",
    "-",
    "bỏ qua",
    "có",
    "không",
    "k",
    "c",
    "1",
    "2",
    "3",
    "1, 2",
    "2 3",
    "0",
    "99",
    "văn nghệ",
    "the thao, tham quan",
    "ốm đau, bệnh",
    "1 lần",
    "31/02/2025",
    "05/09/2025",
    "0912 345 678",
    "12345",
    "5 lần",
    "1.000",
    "-3",
    "xin chào",
    ",",
    "x" * 40,
]


@st.composite
def questions(draw: st.DrawFn, index: int, earlier: list[Question]) -> Question:
    kind = draw(st.sampled_from(list(QuestionKind)))
    options: tuple[Option, ...] = ()
    min_value = max_value = max_length = None
    if kind in CHOICE_KINDS:
        labels = draw(st.lists(st.sampled_from(LABELS), min_size=2, max_size=4, unique=True))
        options = tuple(Option(f"o{j}", label) for j, label in enumerate(labels))
    elif kind is QuestionKind.INTEGER:
        min_value = draw(st.none() | st.integers(-10, 10))
        max_value = draw(st.none() | st.integers(min_value if min_value is not None else -10, 50))
    elif kind is QuestionKind.TEXT:
        max_length = draw(st.none() | st.integers(1, 30))
    show_if = None
    targets = [q for q in earlier if q.kind in BRANCHABLE_KINDS]
    if draw(st.booleans()) and targets:
        target = draw(st.sampled_from(targets))
        allowed = [YES, NO] if target.kind is QuestionKind.YES_NO else list(target.option_values)
        values = draw(st.lists(st.sampled_from(allowed), min_size=1, unique=True))
        show_if = Condition(target.key, tuple(values))
    return Question(
        key=f"q{index}",
        kind=kind,
        prompt=f"Câu {index}?",
        options=options,
        required=draw(st.booleans()),
        min_value=min_value,
        max_value=max_value,
        max_length=max_length,
        show_if=show_if,
    )


@st.composite
def definitions(draw: st.DrawFn) -> SurveyDefinition:
    made: list[Question] = []
    for index in range(draw(st.integers(1, 6))):
        made.append(draw(questions(index, made)))
    return SurveyDefinition(key="generated", version=1, title="T", questions=tuple(made))


def valid_values(question: Question) -> st.SearchStrategy[Any]:
    kind = question.kind
    base: st.SearchStrategy[Any]
    if kind is QuestionKind.SINGLE:
        base = st.sampled_from(question.option_values)
    elif kind is QuestionKind.MULTI:
        base = st.lists(st.sampled_from(question.option_values), min_size=1)
    elif kind is QuestionKind.YES_NO:
        base = st.booleans() | st.sampled_from([YES, NO])
    elif kind is QuestionKind.INTEGER:
        low = question.min_value if question.min_value is not None else -1000
        high = question.max_value if question.max_value is not None else 1000
        base = st.integers(low, high)
    elif kind is QuestionKind.TEXT:
        base = st.text(min_size=1, max_size=question.max_length or 20).filter(
            lambda s: bool(s.strip())
        )
    elif kind is QuestionKind.DATE:
        base = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)) | st.dates().map(
            dt.date.isoformat
        )
    else:
        base = st.sampled_from(PHONES)
    return base if question.required else (base | st.none())


def typed_texts(question: Question) -> st.SearchStrategy[str]:
    labels = [o.label for o in question.options]
    numbered = [str(i) for i in range(len(question.options) + 2)]
    return st.one_of(
        st.text(max_size=30),
        st.sampled_from(TYPED),
        st.sampled_from(labels + numbered or ["1"]),
        st.integers(-20, 200).map(str),
    )


def check_state(defn: SurveyDefinition, answers: dict[str, AnswerValue]) -> None:
    visible = visible_questions(defn, answers)
    visible_keys = [q.key for q in visible]
    # no answer to an invisible question, and prune has nothing left to do
    assert set(answers) <= set(visible_keys)
    assert prune(defn, answers) == answers
    # every stored answer is one the question accepts
    for key, value in answers.items():
        assert check_value(defn.question(key), value) == value
    current = next_question(defn, answers)
    if current is not None:
        assert current in visible
        assert current.key not in answers
    # done <=> every visible question answered; then every required one has a value
    done = is_complete(defn, answers)
    assert done == (current is None) == all(k in answers for k in visible_keys)
    if done:
        assert all(answers[q.key] is not None for q in visible if q.required)
    counter = progress(defn, answers)
    assert 1 <= len(visible) <= counter.fewest <= counter.most <= len(defn.questions)
    assert 1 <= counter.index <= len(visible)
    assert counter.settled == (counter.fewest == counter.most)
    if done:
        assert counter == Progress(len(visible), len(visible), len(visible))
    previous = previous_question(defn, answers)
    if previous is not None:
        assert previous in visible
        assert previous.key in answers
        if current is not None:
            assert defn.position(previous.key) < defn.position(current.key)
    rows = summary(defn, answers)
    assert [q.key for q, _ in rows] == [k for k in visible_keys if k in answers]
    assert all(isinstance(text, str) and text for _, text in rows)


@settings(max_examples=60, deadline=None)
@given(definitions())
def test_definitions_round_trip_through_json_and_the_loader(defn: SurveyDefinition) -> None:
    assert definition_from_json(definition_to_json(defn)) == defn


@settings(max_examples=150, deadline=None)
@given(definitions(), st.data())
def test_no_sequence_of_actions_breaks_the_engine(
    defn: SurveyDefinition, data: st.DataObject
) -> None:
    answers: dict[str, AnswerValue] = {}
    check_state(defn, answers)
    for _ in range(data.draw(st.integers(0, 20), label="steps")):
        action = data.draw(st.sampled_from(["text", "text", "valid", "valid", "back", "toggle"]))
        question = next_question(defn, answers)
        try:
            if action == "back":
                answers = go_back(defn, answers)
            elif question is None:
                continue
            elif action == "text":
                value = parse_text(question, data.draw(typed_texts(question), label="typed"))
                assert check_value(question, value) == value
                answers = answer(defn, answers, question, value)
            elif action == "valid":
                raw = data.draw(valid_values(question), label="value")
                answers = answer(defn, answers, question, check_value(question, raw))
            elif question.kind is QuestionKind.MULTI:
                picked = data.draw(st.lists(st.sampled_from((*question.option_values, "x"))))
                selected: list[str] = []
                for value in picked:
                    selected = toggle(question, selected, value)
                if selected:
                    answers = answer(defn, answers, question, check_value(question, selected))
        except InvalidAnswer as exc:
            assert exc.code in ERROR_CODES
        check_state(defn, answers)


@settings(max_examples=80, deadline=None)
@given(definitions(), st.data())
def test_valid_answers_always_finish(defn: SurveyDefinition, data: st.DataObject) -> None:
    answers: dict[str, AnswerValue] = {}
    counters = []
    for _ in range(len(defn.questions)):
        question = next_question(defn, answers)
        if question is None:
            break
        counters.append(progress(defn, answers))
        value = check_value(question, data.draw(valid_values(question)))
        assert isinstance(display_value(question, value), str)
        answers = answer(defn, answers, question, value)
    assert is_complete(defn, answers)
    # The counter never jumps: one more per answer, and the number of questions asked in the
    # end within the range announced at every step.
    asked = len(visible_questions(defn, answers))
    assert [c.index for c in counters] == list(range(1, asked + 1))
    assert all(c.fewest <= asked <= c.most for c in counters)
    # going back from the end, one step at a time, returns to the start
    for _ in range(len(defn.questions)):
        answers = go_back(defn, answers)
    assert answers == {}
    assert next_question(defn, answers) == defn.questions[0]
