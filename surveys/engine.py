"""The survey engine: pure functions of (definition, answers so far).

``answers`` maps question keys to stored values (see ``surveys.schema``). A question is
*answered* when its key is in ``answers`` (a skipped optional question is stored as ``None``).
A question is *visible* when it has no ``show_if`` or when the question it refers to is visible
and its answer matches; a survey is *complete* when every visible question is answered.

Invalid input raises ``InvalidAnswer(code, params)``; the chat layer turns the code into a
re-prompt from its templates. Codes and their params:

- ``required``        {}                          nothing given for a required question
- ``not_a_choice``    {"count": n, "item": str}   not an option number, label or value
- ``not_yes_no``      {}                          neither yes nor no
- ``empty_selection`` {}                          multi-choice with nothing selected
- ``not_integer``     {}                          not a whole number
- ``magnitude_word``  {"word": str}               a number followed by "triệu" or "tỷ": read as
                                                  the bare number it would be off by a factor
                                                  of a thousand or more, so it is refused
- ``out_of_range``    {"min": int|None, "max": int|None}
- ``too_long``        {"max": int, "length": int}
- ``bad_date``        {}                          not a real dd/mm/yyyy calendar date
- ``bad_phone``       {}                          not a valid Vietnamese phone number
- ``wrong_type``      {"expected": kind}          a typed value of the wrong Python type
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from surveys.normalize import fold
from surveys.phone import display_phone, normalize_phone
from surveys.schema import (
    NO,
    NO_LABEL,
    YES,
    YES_LABEL,
    AnswerValue,
    Option,
    Question,
    QuestionKind,
    SurveyDefinition,
)

Answers = Mapping[str, AnswerValue]

ERROR_CODES = (
    "required",
    "not_a_choice",
    "not_yes_no",
    "empty_selection",
    "not_integer",
    "magnitude_word",
    "out_of_range",
    "too_long",
    "bad_date",
    "bad_phone",
    "wrong_type",
)

SKIPPED_DISPLAY = "—"
"""What ``display_value`` shows for a skipped optional question (a dash, not a word)."""

# Typed forms of "skip this optional question": folded words, or a lone dash/dot.
_SKIP_WORDS = frozenset({"bo qua", "boqua", "skip"})
_SKIP_MARKS = frozenset({"-", "--", "—", "–", "."})
_YES_WORDS = frozenset({"co", "c", "yes", "y", "1", "dung", "vang", "da co", "co a", "u", "ok"})
_NO_WORDS = frozenset(
    {"khong", "k", "ko", "kh", "khg", "no", "n", "2", "chua", "khong a", "khong co"}
)
_FILLER_WORDS = frozenset({"va", "and"})
_MIN_PREFIX = 3
_MAX_WORDS = 200
_MAX_INTEGER_DIGITS = 15
_MULTI_SEPARATORS = re.compile(r"[,;\n/+&]|\s(?:và|va|and)\s", re.IGNORECASE)
_INTEGER = re.compile(r"([+-]?)\s*(\d{1,3}(?:[.,\s]\d{3})+|\d+)(?:\s+[^\W\d_]+)*")
# Words that multiply the number before them ("150 triệu", "1 tỷ"), folded.  Never applied: an
# amount question says its unit ("nghìn đồng"), so the number must be typed in that unit.
_MAGNITUDE_WORDS = frozenset({"trieu", "tr", "ty", "ti"})
_DMY = re.compile(r"(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


class InvalidAnswer(Exception):
    """An answer was refused; ``code`` names why (see the module docstring)."""

    def __init__(self, code: str, params: dict[str, object] | None = None) -> None:
        super().__init__(code, params or {})
        self.code = code
        self.params: dict[str, object] = params or {}

    def __str__(self) -> str:
        return f"{self.code} {self.params}" if self.params else self.code


# --- walking ------------------------------------------------------------------------------------


def _matches(question: Question, value: AnswerValue, values: tuple[str, ...]) -> bool:
    if value is None:
        return False
    if question.kind is QuestionKind.YES_NO:
        return isinstance(value, bool) and (YES if value else NO) in values
    if question.kind is QuestionKind.MULTI:
        return isinstance(value, list) and any(v in values for v in value)
    return isinstance(value, str) and value in values


def visible_questions(defn: SurveyDefinition, answers: Answers) -> list[Question]:
    """The questions shown for these answers, in order.

    A condition counts only the answer of a visible question, so answers left over from an
    abandoned branch never make anything visible.
    """
    visible: list[Question] = []
    shown: set[str] = set()
    for question in defn.questions:
        cond = question.show_if
        if cond is not None:
            if cond.question not in shown or cond.question not in answers:
                continue
            if not _matches(defn.question(cond.question), answers[cond.question], cond.values):
                continue
        visible.append(question)
        shown.add(question.key)
    return visible


def next_question(defn: SurveyDefinition, answers: Answers) -> Question | None:
    """The first visible question not answered yet; None when the survey is complete."""
    for question in visible_questions(defn, answers):
        if question.key not in answers:
            return question
    return None


def previous_question(defn: SurveyDefinition, answers: Answers) -> Question | None:
    """The question "Quay lại" (back) goes to: the last answered visible question before the
    current one (before the end when complete); None at the first question."""
    current = next_question(defn, answers)
    limit = len(defn.questions) if current is None else defn.position(current.key)
    previous = None
    for question in visible_questions(defn, answers):
        if defn.position(question.key) >= limit:
            break
        if question.key in answers:
            previous = question
    return previous


def prune(defn: SurveyDefinition, answers: Answers) -> dict[str, AnswerValue]:
    """The answers to visible questions only (drops a branch abandoned after going back, and
    keys the definition does not have)."""
    keep = {q.key for q in visible_questions(defn, answers)}
    return {key: value for key, value in answers.items() if key in keep}


def is_complete(defn: SurveyDefinition, answers: Answers) -> bool:
    """Every visible question answered (a skipped optional one counts as answered)."""
    return next_question(defn, answers) is None


@dataclass(frozen=True, slots=True)
class Progress:
    """The question counter ("Câu 2/4"): the current question's number among those asked,
    and how many questions the survey can have in all given the answers so far, from
    ``fewest`` to ``most``.

    The two differ while an answer still to come can show or hide a later question (a
    ``show_if``); the count of questions visible so far would then be a total that grows
    (1/2, then 2/4).  Whatever the member answers next, the final count stays within the
    range announced at every earlier step, and ``index`` goes up by one per answer: a
    question shown by a later answer always comes after the question being asked.
    """

    index: int
    fewest: int
    most: int

    @property
    def settled(self) -> bool:
        """No answer still to come changes the number of questions."""
        return self.fewest == self.most


#: Beyond this many ways the remaining branching answers can go, ``progress`` gives bounds
#: question by question instead of walking every way (never reached by a sensible survey).
_MAX_PATHS = 256


def progress(defn: SurveyDefinition, answers: Answers) -> Progress:
    """The counter of the current question (the last one's when complete, where the range
    has narrowed to the number of questions answered)."""
    visible = visible_questions(defn, answers)
    index = next((i for i, q in enumerate(visible, start=1) if q.key not in answers), len(visible))
    fewest, most = _totals(defn, answers)
    return Progress(index, fewest, most)


def _outcomes(question: Question, values: set[str]) -> list[AnswerValue]:
    """One answer of ``question`` for each way the conditions naming ``values`` of it can
    turn out (an optional question can also be skipped: then no condition on it holds)."""
    found: list[AnswerValue]
    if question.kind is QuestionKind.YES_NO:
        found = [True, False]
    else:
        named = [v for v in question.option_values if v in values]
        other = [v for v in question.option_values if v not in values][:1]
        if question.kind is QuestionKind.SINGLE:
            found = [*named, *other]
        else:
            found = [
                list(combo)
                for size in range(1, len(named) + 1)
                for combo in itertools.combinations(named, size)
            ]
            if other:
                found.append(other)
    if not question.required:
        found.append(None)
    return found or [None]  # no option at all: nothing a condition names can be chosen


def _totals(defn: SurveyDefinition, answers: Answers) -> tuple[int, int]:
    """(fewest, most) questions the survey can have once complete, given ``answers``: every
    way the unanswered questions that conditions refer to can be answered, walked."""
    named: dict[str, set[str]] = {}
    for question in defn.questions:
        if question.show_if is not None:
            named.setdefault(question.show_if.question, set()).update(question.show_if.values)
    counts: list[int] = []
    paths = 1
    # A way still to walk: from which question, the answers given or assumed, the questions
    # shown so far on this way, and how many.
    todo: list[tuple[int, dict[str, AnswerValue], set[str], int]] = [(0, dict(answers), set(), 0)]
    while todo:
        start, assumed, shown, count = todo.pop()
        for position in range(start, len(defn.questions)):
            question = defn.questions[position]
            cond = question.show_if
            if cond is not None and not (
                cond.question in shown
                and cond.question in assumed
                and _matches(defn.question(cond.question), assumed[cond.question], cond.values)
            ):
                continue
            count += 1
            shown.add(question.key)
            if question.key in named and question.key not in assumed:
                outcomes = _outcomes(question, named[question.key])
                paths += len(outcomes) - 1
                if paths > _MAX_PATHS:
                    return _bounds(defn, answers)
                todo.extend(
                    (position + 1, {**assumed, question.key: value}, set(shown), count)
                    for value in outcomes
                )
                break  # this way goes on in ``todo``, once per answer
        else:
            counts.append(count)  # walked to the end
    return min(counts), max(counts)


def _bounds(defn: SurveyDefinition, answers: Answers) -> tuple[int, int]:
    """Looser (fewest, most) for ``_totals``: questions surely shown, and those not surely
    hidden, deciding each question from the one its condition refers to."""
    state: dict[str, bool | None] = {}  # shown, hidden, or None: depends on answers to come
    for question in defn.questions:
        cond = question.show_if
        if cond is None:
            state[question.key] = True
        elif state.get(cond.question) is False:
            state[question.key] = False
        elif state.get(cond.question) is True and cond.question in answers:
            value = answers[cond.question]
            state[question.key] = _matches(defn.question(cond.question), value, cond.values)
        else:
            state[question.key] = None
    sure = sum(1 for s in state.values() if s is True)
    return sure, sure + sum(1 for s in state.values() if s is None)


def answer(
    defn: SurveyDefinition, answers: Answers, question: Question, value: AnswerValue
) -> dict[str, AnswerValue]:
    """New answers with ``value`` (already parsed/checked) recorded for ``question``, pruned."""
    updated = dict(answers)
    updated[question.key] = value
    return prune(defn, updated)


def go_back(defn: SurveyDefinition, answers: Answers) -> dict[str, AnswerValue]:
    """New answers with the previous question's answer removed, so that it is asked again
    (unchanged when there is no previous question)."""
    previous = previous_question(defn, answers)
    updated = dict(answers)
    if previous is not None:
        del updated[previous.key]
    return prune(defn, updated)


def choices(
    question: Question, *, yes_label: str = YES_LABEL, no_label: str = NO_LABEL
) -> tuple[Option, ...]:
    """The buttons of a question: its options, "yes"/"no" for yes/no, none otherwise."""
    if question.kind is QuestionKind.YES_NO:
        return (Option(YES, yes_label), Option(NO, no_label))
    return question.options


# --- parsing typed text -------------------------------------------------------------------------


def _is_skip(text: str) -> bool:
    return text in _SKIP_MARKS or fold(text) in _SKIP_WORDS


def parse_text(question: Question, text: str) -> AnswerValue:
    """The value of what a person typed (no buttons, e.g. on Zalo) for this question.

    Accepts option numbers ("2") and labels (any case, with or without diacritics, or a unique
    start of one), "1, 3" / "1 3" / "văn nghệ, tham quan" for multi-choice, có/không/c/k/yes/no/
    1/2 for yes/no, whole numbers ("12", "1.000", "3 lần"), dates dd/mm/yyyy, d/m/yyyy,
    dd-mm-yyyy, dd.mm.yyyy or yyyy-mm-dd, Vietnamese phone numbers; "bỏ qua" or "-" skips an
    optional question (returns None). Raises InvalidAnswer.
    """
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped or _is_skip(stripped):
        if question.required:
            raise InvalidAnswer("required")
        return None
    kind = question.kind
    if kind is QuestionKind.SINGLE:
        return _parse_single(question, stripped)
    if kind is QuestionKind.MULTI:
        return _parse_multi(question, stripped)
    if kind is QuestionKind.YES_NO:
        return _parse_yes_no(stripped)
    if kind is QuestionKind.INTEGER:
        return _check_range(question, _parse_integer(stripped))
    if kind is QuestionKind.TEXT:
        return _check_text(question, stripped)
    if kind is QuestionKind.DATE:
        return _parse_date(stripped)
    return _check_phone(stripped)


def _match_option(question: Question, phrase: str, *, prefix: bool) -> Option | None:
    """The option a folded phrase names: its number, label or value (exactly), or with
    ``prefix`` the only option whose label starts with the phrase."""
    if phrase.isdigit():
        number = int(phrase)
        if 1 <= number <= len(question.options):
            return question.options[number - 1]
        return None
    for opt in question.options:
        if phrase in (fold(opt.label), fold(opt.value)):
            return opt
    if prefix and len(phrase) >= _MIN_PREFIX:
        found = [opt for opt in question.options if fold(opt.label).startswith(phrase)]
        if len(found) == 1:
            return found[0]
    return None


def _not_a_choice(question: Question, item: str) -> InvalidAnswer:
    return InvalidAnswer("not_a_choice", {"count": len(question.options), "item": item})


def _parse_single(question: Question, text: str) -> str:
    opt = _match_option(question, fold(text), prefix=True)
    if opt is None:
        raise _not_a_choice(question, text)
    return opt.value


def _parse_multi(question: Question, text: str) -> list[str]:
    whole = _match_option(question, fold(text), prefix=True)
    if whole is not None:
        return [whole.value]
    parts = [p for p in _MULTI_SEPARATORS.split(text) if fold(p)]
    if not parts:
        raise InvalidAnswer("empty_selection")
    # Words of all parts in one sequence, remembering where each part ends, so that a label
    # holding a comma ("Thiên tai, hỏa hoạn") still matches across the split.
    words: list[str] = []
    part_end: list[int] = []
    part_of: list[str] = []
    for part in parts:
        folded = fold(part).split()
        words.extend(folded)
        part_end.extend([len(words)] * len(folded))
        part_of.extend([part.strip()] * len(folded))
    if len(words) > _MAX_WORDS:
        raise _not_a_choice(question, text[:50])
    chosen: set[str] = set()
    i = 0
    while i < len(words):
        found: tuple[Option, int] | None = None
        for j in range(len(words), i, -1):
            opt = _match_option(question, " ".join(words[i:j]), prefix=False)
            if opt is not None:
                found = (opt, j)
                break
        if found is None and words[i] in _FILLER_WORDS:
            i += 1
            continue
        if found is None:
            opt = _match_option(question, " ".join(words[i : part_end[i]]), prefix=True)
            if opt is None:
                item = words[i] if words[i].isdigit() else part_of[i]
                raise _not_a_choice(question, item)
            found = (opt, part_end[i])
        chosen.add(found[0].value)
        i = found[1]
    return [v for v in question.option_values if v in chosen]


def _parse_yes_no(text: str) -> bool:
    folded = fold(text)
    if folded in _YES_WORDS:
        return True
    if folded in _NO_WORDS:
        return False
    raise InvalidAnswer("not_yes_no")


def _parse_integer(text: str) -> int:
    match = _INTEGER.fullmatch(text)
    if match is None:
        raise InvalidAnswer("not_integer")
    after = text[match.end(2) :].split()
    if after and fold(after[0]) in _MAGNITUDE_WORDS:
        raise InvalidAnswer("magnitude_word", {"word": after[0]})
    digits = re.sub(r"\D", "", match.group(2))
    if len(digits) > _MAX_INTEGER_DIGITS:
        raise InvalidAnswer("not_integer")
    value = int(digits)
    return -value if match.group(1) == "-" else value


def _check_range(question: Question, value: int) -> int:
    low, high = question.min_value, question.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidAnswer("out_of_range", {"min": low, "max": high})
    if abs(value) >= 10**_MAX_INTEGER_DIGITS:
        raise InvalidAnswer("out_of_range", {"min": low, "max": high})
    return value


def _check_text(question: Question, text: str) -> str:
    if question.max_length is not None and len(text) > question.max_length:
        raise InvalidAnswer("too_long", {"max": question.max_length, "length": len(text)})
    return text


def _make_date(year: int, month: int, day: int) -> str:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        raise InvalidAnswer("bad_date") from None


def _parse_date(text: str) -> str:
    match = _DMY.fullmatch(text)
    if match is not None:
        return _make_date(int(match.group(4)), int(match.group(3)), int(match.group(1)))
    match = _ISO.fullmatch(text)
    if match is not None:
        return _make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    raise InvalidAnswer("bad_date")


def _check_phone(text: str) -> str:
    e164 = normalize_phone(text)
    if e164 is None:
        raise InvalidAnswer("bad_phone")
    return e164


# --- checking typed values (buttons) ------------------------------------------------------------


def check_value(question: Question, value: object) -> AnswerValue:
    """Validate (and normalize) a value that arrived already typed, e.g. from a button.

    single: an option value; multi: a list of option values (returned de-duplicated, in
    option order); yes_no: a bool or "yes"/"no"; integer: an int; text: a str; date: an ISO
    str or a ``datetime.date``; phone: any form ``normalize_phone`` accepts (returned E.164).
    None skips an optional question. Raises InvalidAnswer.
    """
    if value is None:
        if question.required:
            raise InvalidAnswer("required")
        return None
    kind = question.kind
    wrong = InvalidAnswer("wrong_type", {"expected": kind.value})
    if kind is QuestionKind.SINGLE:
        if not isinstance(value, str):
            raise wrong
        if question.option(value) is None:
            raise _not_a_choice(question, value)
        return value
    if kind is QuestionKind.MULTI:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise wrong
        for item in value:
            if question.option(item) is None:
                raise _not_a_choice(question, item)
        if not value:
            raise InvalidAnswer("empty_selection")
        return [v for v in question.option_values if v in value]
    if kind is QuestionKind.YES_NO:
        if isinstance(value, bool):
            return value
        if value in (YES, NO):
            return value == YES
        raise wrong
    if kind is QuestionKind.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return _check_range(question, value)
    if kind is QuestionKind.TEXT:
        if not isinstance(value, str):
            raise wrong
        text = value.strip()
        if not text:
            if question.required:
                raise InvalidAnswer("required")
            return None
        return _check_text(question, text)
    if kind is QuestionKind.DATE:
        if isinstance(value, dt.date):
            return _make_date(value.year, value.month, value.day)
        if not isinstance(value, str):
            raise wrong
        return _parse_date(value.strip())
    if not isinstance(value, str):
        raise wrong
    return _check_phone(value)


def toggle(question: Question, selected: Sequence[str], value: str) -> list[str]:
    """The multi-choice selection after pressing the button of ``value``: added if absent,
    removed if present; in option order. Raises InvalidAnswer for an unknown value."""
    if question.option(value) is None:
        raise _not_a_choice(question, value)
    current = set(selected)
    current ^= {value}
    return [v for v in question.option_values if v in current]


# --- display ------------------------------------------------------------------------------------


def display_value(
    question: Question,
    value: AnswerValue,
    *,
    yes_label: str = YES_LABEL,
    no_label: str = NO_LABEL,
    skipped: str = SKIPPED_DISPLAY,
) -> str:
    """An answer as shown in the summary: option labels joined by ", ", "Có"/"Không",
    dates dd/mm/yyyy, phones "0912 345 678", integers with "." thousands. Never raises (a value
    that does not fit the question, e.g. from an older version, is shown as it is)."""
    if value is None:
        return skipped
    kind = question.kind
    if kind is QuestionKind.YES_NO and isinstance(value, bool):
        return yes_label if value else no_label
    if kind is QuestionKind.SINGLE and isinstance(value, str):
        opt = question.option(value)
        return opt.label if opt is not None else value
    if kind is QuestionKind.MULTI and isinstance(value, list):
        labels = []
        for item in value:
            opt = question.option(item)
            labels.append(opt.label if opt is not None else str(item))
        return ", ".join(labels)
    if kind is QuestionKind.INTEGER and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}".replace(",", ".")
    if kind is QuestionKind.DATE and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    if kind is QuestionKind.PHONE and isinstance(value, str):
        return display_phone(value)
    return str(value)


def summary(
    defn: SurveyDefinition,
    answers: Answers,
    *,
    yes_label: str = YES_LABEL,
    no_label: str = NO_LABEL,
    skipped: str = SKIPPED_DISPLAY,
) -> list[tuple[Question, str]]:
    """(question, displayed answer) for each answered visible question, in order."""
    return [
        (
            q,
            display_value(
                q, answers[q.key], yes_label=yes_label, no_label=no_label, skipped=skipped
            ),
        )
        for q in visible_questions(defn, answers)
        if q.key in answers
    ]
