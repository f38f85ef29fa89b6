"""Load and validate survey definition files (YAML), and (de)serialize definitions as JSON.

Errors name the file, the line and the offending key, e.g.::

    activity.yaml:14: questions[2].show_if.question: 'participated2' is not an earlier question

Question indexes in key paths are 0-based. The file format::

    key: activity_participation      # ASCII snake_case, unique among definitions
    version: 1                       # integer >= 1
    title: ...
    intro: ...                       # optional
    anonymous: false                 # optional, default false
    audience: member                 # optional: member (default) | unit
    levels: [grassroots]             # optional, unit audience only: grassroots (default) |
                                     #   district | province: the union bodies that answer
    feeds: [A3c]                     # optional: indicator codes
    outcome: hardship_case           # optional: hardship_case | legal_case | welfare_benefit
    questions:
      - key: participated
        kind: yes_no                 # single | multi | yes_no | integer | text | date | phone
        prompt: ...
        hint: ...                    # optional
        required: true               # optional, default true
      - key: activities
        kind: multi
        prompt: ...
        show_if: {question: participated, values: ["yes"]}
        options:
          - {value: van_nghe, label: Văn nghệ}
      - key: times
        kind: integer
        prompt: ...
        min_value: 1                 # integer only
        max_value: 100               # integer only
      - key: suggestion
        kind: text
        prompt: ...
        max_length: 500              # text only
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from surveys.normalize import fold
from surveys.schema import (
    BRANCHABLE_KINDS,
    CHOICE_KINDS,
    NO,
    YES,
    Audience,
    Condition,
    Level,
    Option,
    Outcome,
    Question,
    QuestionKind,
    SurveyDefinition,
)

DEFINITIONS_DIR = Path(__file__).parent / "definitions"

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_OPTION_VALUE = re.compile(r"[a-z0-9][a-z0-9_]*")
_INDICATOR_CODE = re.compile(r"[A-Z][A-Za-z0-9]*")
_MAX_KEY_LENGTH = 64
_MIN_OPTIONS = 2

_TOP_KEYS = (
    "key",
    "version",
    "title",
    "intro",
    "anonymous",
    "audience",
    "levels",
    "feeds",
    "outcome",
    "questions",
)
_QUESTION_KEYS = (
    "key",
    "kind",
    "prompt",
    "options",
    "required",
    "min_value",
    "max_value",
    "max_length",
    "show_if",
    "hint",
)
_OPTION_KEYS = ("value", "label")
_CONDITION_KEYS = ("question", "values")


class DefinitionError(Exception):
    """A definition file is invalid. ``line`` is 1-based; ``key`` is a path like
    ``questions[2].show_if.question`` (empty when the problem is the whole document)."""

    def __init__(self, file: str, line: int, key: str, reason: str) -> None:
        super().__init__(file, line, key, reason)
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class _Entry:
    """A mapping entry with both nodes, for line numbers of the key and of the value."""

    key_node: Node
    value: Node


class _Reader:
    """Walks a composed YAML node tree, raising DefinitionError with marks."""

    def __init__(self, source: str, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader

    def fail(self, node: Node, path: str, reason: str) -> NoReturn:
        raise DefinitionError(self.source, node.start_mark.line + 1, path, reason)

    def scalar(self, node: Node, path: str) -> object:
        if not isinstance(node, ScalarNode):
            self.fail(node, path, "expected a single value, not a list or mapping")
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            self.fail(node, path, f"invalid value: {exc}")

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def mapping(
        self, node: Node, path: str, allowed: tuple[str, ...], required: tuple[str, ...]
    ) -> dict[str, _Entry]:
        if not isinstance(node, MappingNode):
            self.fail(node, path, "expected a mapping of key: value")
        entries: dict[str, _Entry] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, path)
            child = _join(path, str(key))
            if not isinstance(key, str):
                self.fail(key_node, child, "keys must be names")
            if key not in allowed:
                self.fail(key_node, child, f"unknown key (allowed: {', '.join(allowed)})")
            if key in entries:
                first = entries[key].key_node.start_mark.line + 1
                self.fail(key_node, child, f"duplicate key (first at line {first})")
            entries[key] = _Entry(key_node, value_node)
        for key in required:
            if key not in entries or self.is_null(entries[key].value):
                self.fail(node, _join(path, key), "missing required key")
        return {k: e for k, e in entries.items() if not self.is_null(e.value)}

    def sequence(self, node: Node, path: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, path, "expected a list")
        return list(node.value)

    def string(self, node: Node, path: str, *, allow_empty: bool = False) -> str:
        value = self.scalar(node, path)
        if not isinstance(value, str):
            self.fail(node, path, f"expected text, got {_describe(value)} (put it in quotes)")
        value = value.strip()
        if not value and not allow_empty:
            self.fail(node, path, "must not be empty")
        return value

    def name(self, node: Node, path: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.string(node, path)
        if len(value) > _MAX_KEY_LENGTH or not pattern.fullmatch(value):
            self.fail(node, path, f"{value!r} is not a valid {what}")
        return value

    def integer(self, node: Node, path: str) -> int:
        value = self.scalar(node, path)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(node, path, f"expected a whole number, got {_describe(value)}")
        return value

    def boolean(self, node: Node, path: str) -> bool:
        value = self.scalar(node, path)
        if not isinstance(value, bool):
            self.fail(node, path, f"expected true or false, got {_describe(value)}")
        return value

    def choice(self, node: Node, path: str, allowed: tuple[str, ...]) -> str:
        value = self.scalar(node, path)
        if not isinstance(value, str) or value not in allowed:
            self.fail(node, path, f"{value!r} is not one of: {', '.join(allowed)}")
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"{type(value).__name__} {value!r}"


def parse_definition(text: str, source: str = "<string>") -> SurveyDefinition:
    """Parse and validate a definition from YAML (or JSON) text.

    Raises DefinitionError naming ``source``, the line and the offending key.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            problem = exc.problem or exc.context or "invalid YAML"
            raise DefinitionError(source, line, "", f"invalid YAML: {problem}") from None
        except yaml.YAMLError as exc:
            raise DefinitionError(source, 1, "", f"invalid YAML: {exc}") from None
        if root is None:
            raise DefinitionError(source, 1, "", "the definition is empty")
        return _build_definition(_Reader(source, loader), root)
    finally:
        loader.dispose()


def load_definition(path: str | Path) -> SurveyDefinition:
    """Read and validate one definition file (errors name this path)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(str(file), 1, "", f"not UTF-8 text: {exc.reason}") from None
    return parse_definition(text, source=str(file))


@functools.cache
def _builtin_definitions() -> tuple[SurveyDefinition, ...]:
    found: dict[str, tuple[Path, SurveyDefinition]] = {}
    for path in sorted(DEFINITIONS_DIR.glob("*.yaml")):
        defn = load_definition(path)
        if defn.key in found:
            raise DefinitionError(
                str(path), 1, "key", f"{defn.key!r} is already defined in {found[defn.key][0]}"
            )
        found[defn.key] = (path, defn)
    return tuple(defn for _, defn in found.values())


def builtin_definitions() -> dict[str, SurveyDefinition]:
    """The definitions shipped in ``surveys/definitions/``, by key (a fresh dict each call)."""
    return {defn.key: defn for defn in _builtin_definitions()}


def definition_checksum(text: str) -> str:
    """SHA-256 (hex) of a definition's text, to tell stored versions apart."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def definition_to_dict(defn: SurveyDefinition) -> dict[str, Any]:
    """A JSON-friendly dict that ``definition_from_dict`` turns back into an equal definition."""
    data: dict[str, Any] = {
        "key": defn.key,
        "version": defn.version,
        "title": defn.title,
        "intro": defn.intro,
        "anonymous": defn.anonymous,
        "audience": defn.audience.value,
        "feeds": list(defn.feeds),
    }
    if defn.levels:
        data["levels"] = [level.value for level in defn.levels]
    if defn.outcome is not None:
        data["outcome"] = defn.outcome.value
    data["questions"] = [_question_to_dict(q) for q in defn.questions]
    return data


def _question_to_dict(question: Question) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": question.key,
        "kind": question.kind.value,
        "prompt": question.prompt,
        "required": question.required,
    }
    if question.options:
        data["options"] = [{"value": o.value, "label": o.label} for o in question.options]
    for name in ("min_value", "max_value", "max_length", "hint"):
        value = getattr(question, name)
        if value is not None:
            data[name] = value
    if question.show_if is not None:
        data["show_if"] = {
            "question": question.show_if.question,
            "values": list(question.show_if.values),
        }
    return data


def definition_to_json(defn: SurveyDefinition) -> str:
    """The definition as JSON text (for storage in the database)."""
    return json.dumps(definition_to_dict(defn), ensure_ascii=False, separators=(",", ":"))


def definition_from_json(text: str, source: str = "<json>") -> SurveyDefinition:
    """Rebuild (and re-validate) a definition stored with ``definition_to_json``."""
    return parse_definition(text, source=source)


def definition_from_dict(data: dict[str, Any], source: str = "<dict>") -> SurveyDefinition:
    """Rebuild (and re-validate) a definition from ``definition_to_dict`` output."""
    return parse_definition(json.dumps(data, ensure_ascii=False, indent=1), source=source)


def _build_definition(r: _Reader, root: Node) -> SurveyDefinition:
    top = r.mapping(root, "", _TOP_KEYS, required=("key", "version", "title", "questions"))
    key = r.name(top["key"].value, "key", _IDENTIFIER, "survey key (use snake_case)")
    version = r.integer(top["version"].value, "version")
    if version < 1:
        r.fail(top["version"].value, "version", "must be 1 or more")
    title = r.string(top["title"].value, "title")
    intro = r.string(top["intro"].value, "intro", allow_empty=True) if "intro" in top else ""
    anonymous = r.boolean(top["anonymous"].value, "anonymous") if "anonymous" in top else False
    audience = Audience.MEMBER
    if "audience" in top:
        audience = Audience(r.choice(top["audience"].value, "audience", tuple(Audience)))
    levels: list[Level] = []
    if "levels" in top:
        if audience != Audience.UNIT:
            r.fail(top["levels"].value, "levels", "only a survey with audience unit has levels")
        for i, node in enumerate(r.sequence(top["levels"].value, "levels")):
            level = Level(r.choice(node, f"levels[{i}]", tuple(Level)))
            if level in levels:
                r.fail(node, f"levels[{i}]", f"{level.value!r} is listed twice")
            levels.append(level)
    outcome = None
    if "outcome" in top:
        outcome = Outcome(r.choice(top["outcome"].value, "outcome", tuple(Outcome)))
    feeds: list[str] = []
    if "feeds" in top:
        for i, node in enumerate(r.sequence(top["feeds"].value, "feeds")):
            path = f"feeds[{i}]"
            code = r.name(node, path, _INDICATOR_CODE, "indicator code (like A3c)")
            if code in feeds:
                r.fail(node, path, f"{code!r} is listed twice")
            feeds.append(code)

    question_nodes = r.sequence(top["questions"].value, "questions")
    if not question_nodes:
        r.fail(top["questions"].value, "questions", "at least one question is needed")
    questions: list[Question] = []
    seen: dict[str, tuple[Question, int]] = {}
    for i, node in enumerate(question_nodes):
        question = _build_question(r, node, f"questions[{i}]", seen)
        seen[question.key] = (question, node.start_mark.line + 1)
        questions.append(question)
    return SurveyDefinition(
        key=key,
        version=version,
        title=title,
        intro=intro,
        questions=tuple(questions),
        anonymous=anonymous,
        audience=audience,
        feeds=tuple(feeds),
        outcome=outcome,
        levels=tuple(levels),
    )


def _build_question(
    r: _Reader, node: Node, path: str, seen: dict[str, tuple[Question, int]]
) -> Question:
    m = r.mapping(node, path, _QUESTION_KEYS, required=("key", "kind", "prompt"))

    def at(name: str) -> str:
        return _join(path, name)

    key = r.name(m["key"].value, at("key"), _IDENTIFIER, "question key (use snake_case)")
    if key in seen:
        r.fail(
            m["key"].value,
            at("key"),
            f"duplicate question key {key!r} (first at line {seen[key][1]})",
        )
    kind = QuestionKind(r.choice(m["kind"].value, at("kind"), tuple(QuestionKind)))
    prompt = r.string(m["prompt"].value, at("prompt"))
    hint = r.string(m["hint"].value, at("hint")) if "hint" in m else None
    required = r.boolean(m["required"].value, at("required")) if "required" in m else True

    options: tuple[Option, ...] = ()
    if kind in CHOICE_KINDS:
        if "options" not in m:
            r.fail(node, at("options"), f"a {kind} question needs options")
        options = _build_options(r, m["options"].value, at("options"))
    elif "options" in m:
        r.fail(
            m["options"].key_node,
            at("options"),
            f"options are only for single and multi questions, not {kind}",
        )

    min_value = max_value = max_length = None
    for name in ("min_value", "max_value"):
        if name in m and kind is not QuestionKind.INTEGER:
            r.fail(m[name].key_node, at(name), f"only integer questions have {name}, not {kind}")
    if "min_value" in m:
        min_value = r.integer(m["min_value"].value, at("min_value"))
    if "max_value" in m:
        max_value = r.integer(m["max_value"].value, at("max_value"))
        if min_value is not None and max_value < min_value:
            r.fail(
                m["max_value"].value,
                at("max_value"),
                f"max_value {max_value} is less than min_value {min_value}",
            )
    if "max_length" in m:
        if kind is not QuestionKind.TEXT:
            r.fail(
                m["max_length"].key_node,
                at("max_length"),
                f"only text questions have max_length, not {kind}",
            )
        max_length = r.integer(m["max_length"].value, at("max_length"))
        if max_length < 1:
            r.fail(m["max_length"].value, at("max_length"), "must be 1 or more")

    show_if = None
    if "show_if" in m:
        show_if = _build_condition(r, m["show_if"].value, at("show_if"), seen)

    return Question(
        key=key,
        kind=kind,
        prompt=prompt,
        options=options,
        required=required,
        min_value=min_value,
        max_value=max_value,
        max_length=max_length,
        show_if=show_if,
        hint=hint,
    )


def _build_options(r: _Reader, node: Node, path: str) -> tuple[Option, ...]:
    nodes = r.sequence(node, path)
    if len(nodes) < _MIN_OPTIONS:
        r.fail(node, path, f"at least {_MIN_OPTIONS} options are needed")
    options: list[Option] = []
    values: dict[str, int] = {}
    labels: dict[str, int] = {}
    for i, opt_node in enumerate(nodes):
        opt_path = f"{path}[{i}]"
        m = r.mapping(opt_node, opt_path, _OPTION_KEYS, required=_OPTION_KEYS)
        value_path = f"{opt_path}.value"
        value = r.name(m["value"].value, value_path, _OPTION_VALUE, "option value (snake_case)")
        if value in values:
            r.fail(
                m["value"].value,
                value_path,
                f"duplicate option value {value!r} (first at line {values[value]})",
            )
        label = r.string(m["label"].value, f"{opt_path}.label")
        folded = fold(label)
        if not folded:
            r.fail(m["label"].value, f"{opt_path}.label", "needs letters or digits")
        if folded in labels:
            r.fail(
                m["label"].value,
                f"{opt_path}.label",
                f"label {label!r} is the same as the one at line {labels[folded]}",
            )
        values[value] = labels[folded] = opt_node.start_mark.line + 1
        options.append(Option(value=value, label=label))
    return tuple(options)


def _build_condition(
    r: _Reader, node: Node, path: str, seen: dict[str, tuple[Question, int]]
) -> Condition:
    m = r.mapping(node, path, _CONDITION_KEYS, required=_CONDITION_KEYS)
    q_path = f"{path}.question"
    target_key = r.string(m["question"].value, q_path)
    if target_key not in seen:
        r.fail(m["question"].value, q_path, f"{target_key!r} is not an earlier question")
    target = seen[target_key][0]
    if target.kind not in BRANCHABLE_KINDS:
        r.fail(
            m["question"].value,
            q_path,
            f"cannot branch on {target_key!r}: it is a {target.kind} question "
            "(only single, multi and yes_no)",
        )
    allowed = (YES, NO) if target.kind is QuestionKind.YES_NO else target.option_values

    values_node = m["values"].value
    v_path = f"{path}.values"
    items = (
        [values_node] if isinstance(values_node, ScalarNode) else r.sequence(values_node, v_path)
    )
    if not items:
        r.fail(values_node, v_path, "at least one value is needed")
    values: list[str] = []
    for i, item in enumerate(items):
        item_path = f"{v_path}[{i}]" if isinstance(values_node, SequenceNode) else v_path
        raw = r.scalar(item, item_path)
        if isinstance(raw, bool) and target.kind is QuestionKind.YES_NO:
            raw = YES if raw else NO
        if not isinstance(raw, str) or raw not in allowed:
            r.fail(
                item,
                item_path,
                f"{target_key!r} cannot take the value {raw!r} (it takes: {', '.join(allowed)})",
            )
        if raw in values:
            r.fail(item, item_path, f"{raw!r} is listed twice")
        values.append(raw)
    return Condition(question=target_key, values=tuple(values))
