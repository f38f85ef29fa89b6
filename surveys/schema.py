"""The survey definition schema: immutable dataclasses built by the loader, walked by the engine.

Answer values are JSON-friendly (they are stored as JSON):

- ``single``  -> the chosen option's value (``str``)
- ``multi``   -> ``list[str]`` of option values, non-empty, in option order
- ``yes_no``  -> ``bool``
- ``integer`` -> ``int``
- ``text``    -> ``str`` (stripped)
- ``date``    -> ISO ``"YYYY-MM-DD"`` (``str``)
- ``phone``   -> E.164 ``str`` (``"+84912345678"``)
- a skipped optional question -> ``None``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

AnswerValue = str | int | bool | list[str] | None
"""One stored answer (see the module docstring)."""

YES = "yes"
NO = "no"
"""How a yes/no answer is named in conditions (``show_if.values``) and button data."""

YES_LABEL = "Có"
NO_LABEL = "Không"
"""Default display words for yes/no answers (the only user words in the package)."""


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTI = "multi"
    YES_NO = "yes_no"
    INTEGER = "integer"
    TEXT = "text"
    DATE = "date"
    PHONE = "phone"


CHOICE_KINDS = frozenset({QuestionKind.SINGLE, QuestionKind.MULTI})
"""Kinds that carry an explicit option list."""

BRANCHABLE_KINDS = frozenset({QuestionKind.SINGLE, QuestionKind.MULTI, QuestionKind.YES_NO})
"""Kinds a ``show_if`` condition may refer to."""


class Audience(StrEnum):
    """Who answers: each member, or the officer of a unit (CĐCS) on behalf of the unit."""

    MEMBER = "member"
    UNIT = "unit"


class Level(StrEnum):
    """The union bodies that answer a unit-level survey, by level of the tree."""

    GRASSROOTS = "grassroots"  # công đoàn cơ sở (CĐCS)
    DISTRICT = "district"  # công đoàn cấp trên trực tiếp cơ sở
    PROVINCE = "province"  # Công đoàn Giáo dục tỉnh


class Outcome(StrEnum):
    """What a completed response creates besides its answers."""

    HARDSHIP_CASE = "hardship_case"
    LEGAL_CASE = "legal_case"
    WELFARE_BENEFIT = "welfare_benefit"


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Condition:
    """Show a question only when an earlier answer matches.

    ``values`` are option values (single: equals one of them; multi: any overlap) or
    ``"yes"``/``"no"`` for a yes/no question.
    """

    question: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    kind: QuestionKind
    prompt: str
    options: tuple[Option, ...] = ()
    required: bool = True
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None
    show_if: Condition | None = None
    hint: str | None = None

    def option(self, value: str) -> Option | None:
        """The option with this value, or None."""
        for opt in self.options:
            if opt.value == value:
                return opt
        return None

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(opt.value for opt in self.options)


@dataclass(frozen=True, slots=True)
class SurveyDefinition:
    key: str
    version: int
    title: str
    questions: tuple[Question, ...]
    intro: str = ""
    anonymous: bool = False
    audience: Audience = Audience.MEMBER
    feeds: tuple[str, ...] = ()
    outcome: Outcome | None = None
    # A unit-level survey: the levels whose union bodies answer it (empty: CĐCS only).
    levels: tuple[Level, ...] = ()
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index.update({q.key: i for i, q in enumerate(self.questions)})

    def question(self, key: str) -> Question:
        """The question with this key (KeyError if none)."""
        return self.questions[self._index[key]]

    def has_question(self, key: str) -> bool:
        return key in self._index

    def position(self, key: str) -> int:
        """0-based position of a question in the definition (KeyError if none)."""
        return self._index[key]

    @property
    def answered_by(self) -> tuple[Level, ...]:
        """The levels of the union bodies answering a unit-level survey (none for members)."""
        if self.audience != Audience.UNIT:
            return ()
        return self.levels or (Level.GRASSROOTS,)

    @property
    def question_keys(self) -> tuple[str, ...]:
        return tuple(q.key for q in self.questions)
