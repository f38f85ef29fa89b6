"""Officer-written notice templates, and the Telegram HTML they must produce.

A notice body is a Jinja2 template rendered once per recipient in a sandbox of its own (not the
environment of :mod:`bot.texts`):

- the variables are ``ten`` / ``name`` (the recipient's full name), ``don_vi`` / ``unit`` (their
  unit's name) and ``nam`` / ``year`` (the notice's year); any other name is refused before
  rendering (``unknown_variable``);
- autoescape is on: inserted values are HTML-escaped, the officer's own markup stays;
- nothing of Python is reachable: no attribute but a few string methods (``upper``, ``title``…)
  and the ``loop`` variable's, a short list of filters, no macros, includes, imports, blocks or
  captured blocks (``forbidden`` / ``unsupported``);
- work is bounded: ``range`` yields at most :data:`MAX_RANGE` numbers, all loops and calls of
  one rendering share a budget of :data:`MAX_STEPS` steps (``too_many_steps``), no value built
  while rendering (a string, a list, an integer's digits) may grow past :data:`MAX_VALUE`, and
  the output stops at :data:`MAX_OUTPUT` characters (``too_long``);
- nesting is bounded: a template whose syntax tree is deeper than :data:`MAX_DEPTH` (blocks
  inside blocks, brackets, chains of filters or operators) is refused after parsing, before
  anything walks the tree recursively, and one too deep for the parser itself is refused as
  well (``too_deep``).

Errors are a :class:`NoticeTemplateError` carrying a code (see :data:`ERROR_CODES`), never user
text: the chat layer renders ``notice/template_error.txt`` for the code, the CLI
:meth:`NoticeTemplateError.english`.

:func:`validate_html` checks the rendered text against Telegram's HTML subset, so that a
malformed notice fails at preview, not halfway through a broadcast.
"""

from __future__ import annotations

import contextvars
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS, do_join, do_replace
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context, LoopContext, markup_join
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import pass_eval_context
from jinja2.visitor import NodeTransformer

MAX_SOURCE = 20_000  # characters of the template itself
MAX_OUTPUT = 20_000  # characters of one rendering
MAX_VALUE = 20_000  # length of any string or list built while rendering
MAX_INT_BITS = 256  # size of any integer built while rendering
MAX_RANGE = 1_000  # numbers one range() may yield
MAX_STEPS = 10_000  # loop iterations and calls of one rendering, all loops together
# Levels of the syntax tree: a notice with a dozen nested blocks stays far below it, while the
# compiler (recursive, then Python's own limits of 100 indented blocks and 200 nested
# parentheses) stays far from its limits.
MAX_DEPTH = 40
TELEGRAM_LIMIT = 4096  # characters of one Telegram message

# The variables of a notice template: Vietnamese names and their English aliases.
VARIABLES = ("ten", "name", "don_vi", "unit", "nam", "year")

ERROR_CODES = (
    "syntax",  # the template does not parse (detail: the parser's message; line)
    "unknown_variable",  # a name that is none of VARIABLES (detail: the name)
    "forbidden",  # an attribute or call outside the sandbox (internals)
    "unsupported",  # a statement notices do not allow (detail: macro, include…)
    "too_many_steps",  # loops or ranges beyond the budget
    "too_long",  # the template, the output or a value built while rendering is too long
    "too_deep",  # blocks, brackets or filters nested too deeply
    "error",  # any other failure while rendering (detail: the message)
)

_ENGLISH = {
    "syntax": "the template has a syntax error",
    "unknown_variable": "unknown variable (use ten/name, don_vi/unit, nam/year)",
    "forbidden": "the template tries to reach something outside the sandbox",
    "unsupported": "the template uses a statement notices do not allow",
    "too_many_steps": (
        f"the template loops too much (range() up to {MAX_RANGE}, {MAX_STEPS} steps in all)"
    ),
    "too_long": f"the template or its output is too long (at most {MAX_OUTPUT} characters)",
    "too_deep": "the template is nested too deeply (blocks, brackets or filters inside each other)",
    "error": "the template failed while rendering",
}


class NoticeTemplateError(Exception):
    """A notice template was refused or failed; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, detail: str = "", line: int | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(code, detail, line)
        self.code = code
        self.detail = detail
        self.line = line

    def english(self) -> str:
        """An operator-facing message (the CLI)."""
        where = f" (line {self.line})" if self.line else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"notice template refused{where}: {_ENGLISH[self.code]}{detail}"

    def __str__(self) -> str:
        return self.english()


class _Budget:
    def __init__(self) -> None:
        self.steps = 0

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise _Exhausted(f"more than {MAX_STEPS} steps")


class _Exhausted(SecurityError):
    """The step budget of a rendering is spent."""


class _TooBig(SecurityError):
    """A value or the output grew past its limit."""


_budget: contextvars.ContextVar[_Budget] = contextvars.ContextVar("notice_budget")


def _spend(n: int = 1) -> None:
    budget = _budget.get(None)
    if budget is not None:
        budget.step(n)


def _size(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    return len(str(value))


def _check_value(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_VALUE:
        raise _TooBig(f"a value longer than {MAX_VALUE}")
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (value.bit_length() > MAX_INT_BITS)
    ):
        raise _TooBig("an integer too large")
    return value


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _Exhausted(f"range() of more than {MAX_RANGE} numbers")
    return numbers


def _iterate(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every for loop runs over this: each iteration spends a step."""
    for item in iterable:
        _spend()
        yield item


def _concat(*parts: Any) -> Any:
    """The ``~`` operator, bounded."""
    if sum(_size(p) for p in parts) > MAX_VALUE:
        raise _TooBig(f"a value longer than {MAX_VALUE}")
    return markup_join(parts)


@pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
    text, old_s, new_s = str(s), str(old), str(new)
    hits = len(text) + 1 if not old_s else text.count(old_s)
    if count is not None:
        hits = min(hits, max(count, 0))
    if len(text) + hits * len(new_s) > MAX_VALUE:
        raise _TooBig(f"a value longer than {MAX_VALUE}")
    return do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
    items = list(_iterate(value))
    if sum(_size(i) for i in items) + len(d) * len(items) > MAX_VALUE:
        raise _TooBig(f"a value longer than {MAX_VALUE}")
    return do_join(eval_ctx, items, d, attribute)


_FILTERS: dict[str, Callable[..., Any]] = {
    name: FILTERS[name]
    for name in (
        "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int",
        "last", "length", "list", "lower", "max", "min", "reverse", "round", "sort", "string",
        "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "wordcount",
    )
}  # fmt: skip
_FILTERS |= {"replace": _replace, "join": _join}

_STR_METHODS = frozenset(
    {"upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "startswith",
     "endswith", "isdigit", "isalpha"}
)  # fmt: skip
_LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0",
     "previtem", "nextitem", "cycle", "changed"}
)  # fmt: skip
_DICT_METHODS = frozenset({"items", "keys", "values", "get"})

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}

_SEQUENCE = (str, list, tuple)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _NoticeSandbox(SandboxedEnvironment):
    """The sandbox of notice templates (see the module docstring)."""

    intercepted_binops = frozenset(_BINOPS)

    def __init__(self) -> None:
        super().__init__(
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            cache_size=0,
        )
        self.globals.clear()
        self.globals.update({"range": _range, "_iterate": _iterate, "_concat": _concat})
        self.filters = dict(_FILTERS)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        if isinstance(obj, LoopContext):
            return attr in _LOOP_ATTRIBUTES
        if isinstance(obj, str):
            return attr in _STR_METHODS
        if isinstance(obj, dict):
            return attr in _DICT_METHODS
        return False

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        return None  # str.format is not among the allowed methods

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not allowed")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SEQUENCE) and _is_int(times) and len(seq) * times > MAX_VALUE:
                    raise _TooBig(f"a value longer than {MAX_VALUE}")
            if (
                _is_int(left)
                and _is_int(right)
                and (left.bit_length() + right.bit_length() > MAX_INT_BITS)
            ):
                raise _TooBig("an integer too large")
        if (
            operator == "**"
            and _is_int(left)
            and _is_int(right)
            and right > 0
            and (max(left.bit_length(), 1) * right > MAX_INT_BITS * 2)
        ):
            raise _TooBig("an integer too large")
        if (
            operator == "+"
            and isinstance(left, _SEQUENCE)
            and isinstance(right, _SEQUENCE)
            and (len(left) + len(right) > MAX_VALUE)
        ):
            raise _TooBig(f"a value longer than {MAX_VALUE}")
        return _check_value(_BINOPS[operator](left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        return _check_value(super().call(__context, __obj, *args, **kwargs))


_UNSUPPORTED: dict[type[nodes.Node], str] = {
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.FilterBlock: "filter",
    nodes.AssignBlock: "set … endset",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Extends: "extends",
    nodes.Block: "block",
}


class _Bound(NodeTransformer):
    """Routes every for loop through ``_iterate`` and every ``~`` through ``_concat``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.Name("_iterate", "load", lineno=node.lineno),
            [node.iter],
            [],
            None,
            None,
            lineno=node.lineno,
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.Name("_concat", "load", lineno=node.lineno),
            list(node.nodes),
            [],
            None,
            None,
            lineno=node.lineno,
        )


_SANDBOX = _NoticeSandbox()


@dataclass(frozen=True)
class NoticeTemplate:
    """A compiled notice template; :meth:`render` once per recipient."""

    source: str
    template: Template
    variables: frozenset[str]  # the variables it uses

    @property
    def personal(self) -> bool:
        """Whether the text differs between recipients (it uses a variable)."""
        return bool(self.variables)

    def render(self, *, name: str, unit: str, year: int) -> str:
        """The body for one recipient (HTML: values escaped, the officer's markup kept)."""
        values = {"ten": name, "name": name, "don_vi": unit, "unit": unit, "nam": year,
                  "year": year}  # fmt: skip
        token = _budget.set(_Budget())
        try:
            chunks: list[str] = []
            size = 0
            for chunk in self.template.generate(values):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise NoticeTemplateError("too_long", f"more than {MAX_OUTPUT} characters")
                chunks.append(chunk)
            return "".join(chunks)
        except NoticeTemplateError:
            raise
        except Exception as exc:
            raise _translate(exc) from exc
        finally:
            _budget.reset(token)


def _translate(exc: BaseException) -> NoticeTemplateError:
    if isinstance(exc, _Exhausted):
        return NoticeTemplateError("too_many_steps", str(exc))
    if isinstance(exc, RecursionError):
        return NoticeTemplateError("too_deep")
    if isinstance(exc, _TooBig):
        return NoticeTemplateError("too_long", str(exc))
    if isinstance(exc, SecurityError):
        return NoticeTemplateError("forbidden", str(exc))
    if isinstance(exc, TemplateSyntaxError):
        if exc.message and exc.message.startswith("No filter named"):
            return NoticeTemplateError("unsupported", exc.message, exc.lineno)
        return NoticeTemplateError("syntax", exc.message or "", exc.lineno)
    if isinstance(exc, UndefinedError):
        return NoticeTemplateError("error", exc.message or "")
    if isinstance(exc, TemplateError):
        message = exc.message or ""
        if message.startswith("No filter named"):
            return NoticeTemplateError("unsupported", message)
        return NoticeTemplateError("error", message)
    if isinstance(exc, MemoryError | OverflowError):
        return NoticeTemplateError("too_long", type(exc).__name__)
    if isinstance(exc, SyntaxError) and "too many" in str(exc.msg):
        # Python's compiler: "too many levels of indentation", "too many nested parentheses"
        return NoticeTemplateError("too_deep")
    return NoticeTemplateError("error", f"{type(exc).__name__}: {exc}")


def _deeper_than(tree: nodes.Node, limit: int) -> bool:
    """Whether the syntax tree has more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return False


def compile_notice(source: str) -> NoticeTemplate:
    """Parse, check and compile a notice template; raises :class:`NoticeTemplateError`."""
    if len(source) > MAX_SOURCE:
        raise NoticeTemplateError("too_long", f"the template has more than {MAX_SOURCE} characters")
    try:
        tree = _SANDBOX.parse(source)
    except TemplateSyntaxError as exc:
        raise _translate(exc) from exc
    except RecursionError:  # the parser recurses into every block, bracket and "not"
        raise NoticeTemplateError("too_deep") from None
    if _deeper_than(tree, MAX_DEPTH):  # before find_all, the visitors and the compiler recurse
        raise NoticeTemplateError("too_deep")
    for kind, word in _UNSUPPORTED.items():
        found = next(iter(tree.find_all(kind)), None)
        if found is not None:
            raise NoticeTemplateError("unsupported", word, found.lineno)
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise NoticeTemplateError("unsupported", "recursive", loop.lineno)
    token = _budget.set(_Budget())
    try:
        names = find_undeclared_variables(tree)
        unknown = sorted(names - set(VARIABLES) - {"range"})
        if unknown:
            raise NoticeTemplateError("unknown_variable", unknown[0])
        bounded = _Bound().visit(tree)
        assert isinstance(bounded, nodes.Template)
        template = _SANDBOX.from_string(bounded)  # constant folding may run filters here
    except NoticeTemplateError:
        raise
    except Exception as exc:
        raise _translate(exc) from exc
    finally:
        _budget.reset(token)
    return NoticeTemplate(source, template, frozenset(names & set(VARIABLES)))


def render_notice(source: str, *, name: str, unit: str, year: int) -> str:
    """Compile and render once (a preview); raises :class:`NoticeTemplateError`."""
    return compile_notice(source).render(name=name, unit=unit, year=year)


# --------------------------------------------------------------------------- Telegram HTML

#: Tags Telegram's HTML parse mode knows, with the attributes each may carry.
TELEGRAM_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "span": frozenset({"class"}),
    "tg-spoiler": frozenset(),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}
_REQUIRED = {"a": "href", "span": "class", "tg-emoji": "emoji-id"}
ENTITIES = frozenset({"lt", "gt", "amp", "quot"})

HTML_PROBLEMS = (
    "unknown_tag",  # a tag Telegram does not support (detail: the tag)
    "bad_attribute",  # an attribute the tag may not carry, or a wrong value
    "missing_attribute",  # a without href, span without class="tg-spoiler", tg-emoji without id
    "bad_link",  # a link to anything but an http://, https:// or tg:// address (javascript:…)
    "unclosed_tag",  # opened and never closed
    "unopened_close",  # a closing tag with no matching opening tag
    "misnested",  # tags closed in the wrong order (<b><i></b></i>)
    "nested_not_allowed",  # a tag inside <code>/<pre>, a link in a link, a quote in a quote
    "bare_lt",  # a "<" that starts no tag: write &lt;
    "bare_gt",  # a ">" outside a tag: write &gt;
    "bare_amp",  # an "&" that starts no entity: write &amp;
    "bad_entity",  # an entity other than &lt; &gt; &amp; &quot; and numeric ones
)
MAX_PROBLEMS = 10


@dataclass(frozen=True)
class HtmlProblem:
    """One reason Telegram would refuse the text: ``code`` is one of :data:`HTML_PROBLEMS`."""

    code: str
    detail: str  # the offending fragment or tag name
    line: int
    column: int
    offset: int


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:[\s/][^<>]*)?)>")
_ATTRIBUTE = re.compile(
    r"""\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?"""
)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|([A-Za-z][A-Za-z0-9]*));")
_SPECIAL = re.compile(r"[<>&]")
# A link must start with one of these schemes, written out: matched on the attribute as typed
# (entities not decoded, so "jav&#x61;script:" or "&#x68;ttps:" are no scheme at all), after
# only the spaces around it, with no control character anywhere.
_LINK = re.compile(r"(?:https?|tg)://", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_link(href: str) -> bool:
    """Whether ``href`` (an ``<a href>`` value as written) is an http, https or tg link."""
    value = href.strip(" \t\n\r\f")
    return _LINK.match(value) is not None and _CONTROL.search(value) is None


def _attributes(text: str) -> list[tuple[str, str | None]] | None:
    """The attributes of a tag, or None when they do not parse."""
    found: list[tuple[str, str | None]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _ATTRIBUTE.match(text, pos)
        if match is None or match.end() == pos:
            return None
        name, dq, sq, bare = match.groups()
        value = dq if dq is not None else sq if sq is not None else bare
        found.append((name.lower(), value))
        pos = match.end()
    return found


def validate_html(text: str) -> list[HtmlProblem]:
    """The problems of ``text`` as Telegram HTML (at most :data:`MAX_PROBLEMS`): supported tags
    and attributes, links to http, https or tg addresses only, balanced and properly nested
    tags, only &lt; &gt; &amp; &quot; and numeric entities, no bare ``<``, ``>`` or ``&``."""
    problems: list[HtmlProblem] = []
    stack: list[tuple[str, int]] = []
    orphans: list[str] = []  # tags closed early by a misnested close

    def problem(code: str, detail: str, offset: int) -> None:
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        problems.append(HtmlProblem(code, detail, line, column, offset))

    pos = 0
    while len(problems) < MAX_PROBLEMS:
        special = _SPECIAL.search(text, pos)
        if special is None:
            break
        at = special.start()
        char = special.group()
        if char == ">":
            problem("bare_gt", ">", at)
            pos = at + 1
            continue
        if char == "&":
            entity = _ENTITY.match(text, at)
            if entity is None:
                problem("bare_amp", text[at : at + 8].split()[0] if text[at:].strip() else "&", at)
                pos = at + 1
            else:
                name = entity.group(1)
                if name is not None and name not in ENTITIES:
                    problem("bad_entity", entity.group(), at)
                pos = entity.end()
            continue
        tag = _TAG.match(text, at)
        if tag is None:
            problem("bare_lt", text[at : at + 12].split("\n")[0], at)
            pos = at + 1
            continue
        pos = tag.end()
        closing, name, rest = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
        if name not in TELEGRAM_TAGS:
            problem("unknown_tag", tag.group(), at)
            continue
        if closing:
            if rest.strip():
                problem("bad_attribute", tag.group(), at)
            _close(stack, name, at, problem, orphans)
            continue
        _open(stack, name, rest, tag.group(), at, problem)
    for name, offset in stack:
        if len(problems) >= MAX_PROBLEMS:
            break
        problem("unclosed_tag", f"<{name}>", offset)
    return problems


def _open(
    stack: list[tuple[str, int]],
    name: str,
    rest: str,
    whole: str,
    at: int,
    problem: Callable[[str, str, int], None],
) -> None:
    attributes = _attributes(rest)
    if attributes is None:
        problem("bad_attribute", whole, at)
    else:
        allowed = TELEGRAM_TAGS[name]
        for attr, value in attributes:
            if attr not in allowed or (
                (name == "span" and attr == "class" and value != "tg-spoiler")
                or (name == "code" and not (value or "").startswith("language-"))
                or (name == "a" and attr == "href" and not (value or "").strip())
                or (name == "blockquote" and value is not None)
            ):
                problem("bad_attribute", whole, at)
                break
            if name == "a" and attr == "href" and not safe_link(value or ""):
                problem("bad_link", whole, at)
                break
        required = _REQUIRED.get(name)
        if required is not None and required not in {a for a, _ in attributes}:
            problem("missing_attribute", whole, at)
    open_names = [n for n, _ in stack]
    if (
        any(n in ("code", "pre") for n in open_names)
        and not (name == "code" and open_names and open_names[-1] == "pre")
    ) or (name in ("a", "blockquote") and name in open_names):
        problem("nested_not_allowed", whole, at)
    stack.append((name, at))


def _close(
    stack: list[tuple[str, int]],
    name: str,
    at: int,
    problem: Callable[[str, str, int], None],
    orphans: list[str],
) -> None:
    if stack and stack[-1][0] == name:
        stack.pop()
        return
    if any(n == name for n, _ in stack):
        # <b><i></b></i>: report the </b>, close the <i> with it and forgive its own </i>
        problem("misnested", f"</{name}>", at)
        while stack and stack[-1][0] != name:
            orphans.append(stack.pop()[0])
        stack.pop()
        return
    if name in orphans:
        orphans.remove(name)
        return
    problem("unopened_close", f"</{name}>", at)
