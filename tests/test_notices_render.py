"""Officer-written notice templates in their sandbox, and the Telegram HTML check."""

from __future__ import annotations

import time

import pytest

from bot.notices.render import (
    MAX_OUTPUT,
    HtmlProblem,
    NoticeTemplateError,
    compile_notice,
    render_notice,
    validate_html,
)

NAME = "Trần <Tý> & Tèo"
UNIT = 'Trường "Hoa Sen" & Co'


def _render(source: str) -> str:
    return render_notice(source, name=NAME, unit=UNIT, year=2026)


def _refused(source: str) -> NoticeTemplateError:
    started = time.monotonic()
    with pytest.raises(NoticeTemplateError) as caught:
        _render(source)
    assert time.monotonic() - started < 2, "a refusal must come quickly"
    return caught.value


# --------------------------------------------------------------------------- rendering


def test_variables_and_escaping() -> None:
    text = _render("<b>Kính gửi {{ ten }}</b> ({{ don_vi }}), năm {{ nam }}: {{ name }}/{{ unit }}")
    assert text == (
        "<b>Kính gửi Trần &lt;Tý&gt; &amp; Tèo</b> (Trường &#34;Hoa Sen&#34; &amp; Co), năm 2026: "
        "Trần &lt;Tý&gt; &amp; Tèo/Trường &#34;Hoa Sen&#34; &amp; Co"
    )
    assert validate_html(text) == []
    # the officer's own markup and entities stay as written
    assert _render('<a href="https://x.vn/?a=1&amp;b=2">Xem</a> &lt;3') == (
        '<a href="https://x.vn/?a=1&amp;b=2">Xem</a> &lt;3'
    )


def test_allowed_logic() -> None:
    source = (
        "{% if ten.startswith('Trần') %}Thầy{% else %}Cô{% endif %} {{ ten|upper }}"
        "{% for i in range(3) %} {{ loop.index }}{% endfor %}"
        "{% set greeting = 'Chào ' ~ ten %} {{ greeting|length }} {{ nam + 1 }}"
        " {{ ['a', 'b']|join('-') }} {{ ten|replace('Tèo', 'T') }}"
    )
    assert _render(source) == (
        "Thầy TRẦN &lt;TÝ&gt; &amp; TÈO 1 2 3 20 2027 a-b Trần &lt;Tý&gt; &amp; T"
    )
    template = compile_notice("Chào {{ ten }}")
    assert template.personal and template.variables == {"ten"}
    assert not compile_notice("Chào cả nhà").personal


@pytest.mark.parametrize(
    ("source", "code"),
    [
        # Python internals
        ("{{ ''.__class__ }}", "forbidden"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "forbidden"),
        ("{{ ten.__class__ }}", "forbidden"),
        ("{{ cycler.__init__.__globals__ }}", "unknown_variable"),
        ("{{ lipsum.__globals__['os'] }}", "unknown_variable"),
        ("{{ range.__globals__ }}", "forbidden"),
        ("{{ ten.format(1) }}", "forbidden"),
        ("{{ '{0.__class__}'.format(ten) }}", "forbidden"),
        ("{{ ten['__class__'] }}", "forbidden"),
        ("{{ (ten|list).pop() }}", "forbidden"),
        ("{{ '%s%s' % (ten, ten) }}", "forbidden"),
        # statements notices do not allow
        ("{% macro m() %}x{% endmacro %}{{ m() }}", "unsupported"),
        ("{% include 'notice/message.txt' %}", "unsupported"),
        ("{% extends 'x' %}", "unsupported"),
        ("{% import 'x' as y %}", "unsupported"),
        ("{% set x %}{{ ten }}{% endset %}", "unsupported"),
        ("{% filter upper %}x{% endfilter %}", "unsupported"),
        ("{% for x in [1] recursive %}{{ loop([]) }}{% endfor %}", "unsupported"),
        ("{{ ten|center(100000000) }}", "unsupported"),
        ("{{ ten|safe }}", "unsupported"),
        # loops and sizes without bound
        ("{% for i in range(100000000) %}x{% endfor %}", "too_many_steps"),
        ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
         "too_many_steps"),
        ("{% for a in 'x' * 20000 %}{% for b in 'x' * 20000 %}{% endfor %}{% endfor %}",
         "too_many_steps"),
        ("{{ range(10 ** 9)|list }}", "too_many_steps"),
        ("{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}", "too_long"),
        ("{{ 'x' * 1000000000 }}", "too_long"),
        ("{{ 9 ** 9 ** 9 }}", "too_long"),
        ("{% set s = 'xx' %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}", "too_long"),
        ("{% set s = 'xx' %}" + "{% set s = s + s %}" * 40 + "{{ s|length }}", "too_long"),
        ("{% set n = 10 ** 30 %}" + "{% set n = n * n %}" * 40 + "{{ n }}", "too_long"),
        ("{{ ('x' * 10000)|replace('x', 'yyyy') }}", "too_long"),
        ("x" * 20_001, "too_long"),
        # mistakes
        ("Kính gửi {{ ho_ten }}", "unknown_variable"),
        ("{% if ten %}", "syntax"),
        ("{{ ten + 1 }}", "error"),
        ("{{ ten.foo }}", "error"),
        ("{{ 1 / 0 }}", "error"),
    ],
)  # fmt: skip
def test_refusals(source: str, code: str) -> None:
    error = _refused(source)
    assert error.code == code
    assert "notice template refused" in error.english()


def test_error_details() -> None:
    unknown = _refused("Chào {{ ho_ten }} và {{ ten }}")
    assert (unknown.code, unknown.detail) == ("unknown_variable", "ho_ten")
    syntax = _refused("dòng một\n{% if ten %}\nchưa đóng")
    assert (syntax.code, syntax.line) == ("syntax", 3)
    assert syntax.english().startswith("notice template refused (line 3): ")
    macro = _refused("a\n{% macro m() %}{% endmacro %}")
    assert (macro.code, macro.detail, macro.line) == ("unsupported", "macro", 2)


DEEP = 300  # levels: each kind below crashed with a RecursionError (or Python's own limits)


@pytest.mark.parametrize(
    "source",
    [
        "{% if true %}" * DEEP + "x" + "{% endif %}" * DEEP,
        "{% for i in range(1) %}" * DEEP + "x" + "{% endfor %}" * DEEP,
        "{% with a = 1 %}" * DEEP + "x" + "{% endwith %}" * DEEP,
        "{{ " + "(" * DEEP + "1" + ")" * DEEP + " }}",
        "{{ " + "[" * DEEP + "]" * DEEP + " }}",
        "{{ " + "not " * 1000 + "true }}",
        "{{ " + "1 if false else " * DEEP + "2 }}",
        "{{ ten" + "|upper" * 1000 + " }}",
        "{{ 1" + " + 1" * 1000 + " }}",
        "{{ ten" + ".upper()" * 1000 + " }}",
    ],
    ids=["if", "for", "with", "parentheses", "lists", "not", "conditional", "filters", "plus",
         "calls"],
)  # fmt: skip
def test_deep_nesting_is_refused_in_one_line(source: str) -> None:
    error = _refused(source)
    assert error.code == "too_deep"
    assert error.english() == (
        "notice template refused: the template is nested too deeply (blocks, brackets or "
        "filters inside each other)"
    )


def test_nesting_within_reason_renders() -> None:
    # twelve blocks deep, and loops inside conditions inside loops
    assert _render("{% if true %}" * 12 + "x" + "{% endif %}" * 12) == "x"
    source = "{% for i in range(2) %}{% if loop.first %}" * 6 + "y" + "{% endif %}{% endfor %}" * 6
    assert _render(source) == "y"
    assert _render("{{ " + "(" * 12 + "1 + 2" + ")" * 12 + " }}") == "3"


def test_output_stops_at_the_cap() -> None:
    # 900 iterations of 30 characters fit the step budget but not the output limit
    error = _refused("{% for i in range(900) %}{{ 'abcdefghij' * 3 }}{% endfor %}")
    assert error.code == "too_long" and str(MAX_OUTPUT) in error.detail
    # just under the cap is fine
    assert len(_render("{% for i in range(999) %}{{ 'abcdefghij' * 2 }}{% endfor %}")) == 19_980


def test_the_budget_is_per_rendering() -> None:
    template = compile_notice(
        "{% for i in range(500) %}{% for j in range(9) %}{% endfor %}{% endfor %}"
    )
    # 500 + 4500 iterations and 1002 calls (range, the loops) each time: 6002 steps; three
    # renderings would spend 18006 if the budget were shared
    for _ in range(3):
        assert template.render(name="a", unit="b", year=2026) == ""


# --------------------------------------------------------------------------- Telegram HTML


def _codes(text: str) -> list[tuple[str, str]]:
    return [(p.code, p.detail) for p in validate_html(text)]


@pytest.mark.parametrize(
    "text",
    [
        "plain text, no markup",
        "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>i</ins> <s>s</s> "
        "<strike>s</strike> <del>d</del>",
        '<span class="tg-spoiler">spoiler</span> <tg-spoiler>also</tg-spoiler>',
        "<a href=\"https://congdoan.vn/a?x=1&y=2\">link</a> <a href='tg://user?id=1'>u</a>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        '<pre><code class="language-python">x &lt; 1</code></pre> <code>a &amp;&amp; b</code>',
        "<blockquote>q</blockquote> <blockquote expandable>long</blockquote>",
        "<b>bold <i>both <u>three</u></i></b>",
        "&lt; &gt; &amp; &quot; &#39; &#x1F600;",
        "Tiếng Việt có dấu: Đoàn viên, CĐCS — 100%",
    ],
)
def test_valid_telegram_html(text: str) -> None:
    assert validate_html(text) == []


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("a < b", [("bare_lt", "< b")]),
        ("a > b", [("bare_gt", ">")]),
        ("Q&A", [("bare_amp", "&A")]),
        ("AT & T", [("bare_amp", "&")]),
        ("&nbsp;", [("bad_entity", "&nbsp;")]),
        ("&lt", [("bare_amp", "&lt")]),
        ("<div>x</div>", [("unknown_tag", "<div>"), ("unknown_tag", "</div>")]),
        ("line<br/>break", [("unknown_tag", "<br/>")]),
        ("<b>never closed", [("unclosed_tag", "<b>")]),
        ("closed</b>", [("unopened_close", "</b>")]),
        ("<b><i>x</b></i>", [("misnested", "</b>")]),
        ('<b class="x">x</b>', [("bad_attribute", '<b class="x">')]),
        ('<span class="red">x</span>', [("bad_attribute", '<span class="red">')]),
        ("<span>x</span>", [("missing_attribute", "<span>")]),
        ("<a>x</a>", [("missing_attribute", "<a>")]),
        ('<a href="">x</a>', [("bad_attribute", '<a href="">')]),
        ("<tg-emoji>👍</tg-emoji>", [("missing_attribute", "<tg-emoji>")]),
        ('<code class="x">c</code>', [("bad_attribute", '<code class="x">')]),
        ("<code><b>x</b></code>", [("nested_not_allowed", "<b>")]),
        ('<a href="https://x.vn"><a href="tg://y">z</a></a>',
         [("nested_not_allowed", '<a href="tg://y">')]),
        ("<blockquote><blockquote>x</blockquote></blockquote>",
         [("nested_not_allowed", "<blockquote>")]),
        ('<b>x</b class="y">', [("bad_attribute", '</b class="y">')]),
        ("<b/>", [("bad_attribute", "<b/>"), ("unclosed_tag", "<b>")]),
    ],
)  # fmt: skip
def test_html_problems(text: str, problems: list[tuple[str, str]]) -> None:
    assert _codes(text) == problems


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "\tjavascript:alert(1)",
        "jav&#x61;script:alert(1)",
        "&#106;avascript:alert(1)",
        "java&#9;script:alert(1)",
        "java\tscript:alert(1)",
        "&#x68;ttps://congdoan.vn",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "//congdoan.vn/x",
        "congdoan.vn",
        "https:congdoan.vn",
        "https://congdoan.vn/\x01x",
    ],
)
def test_links_other_than_http_https_and_tg_are_refused(href: str) -> None:
    for tag in (f'<a href="{href}">', f"<a href='{href}'>", f'<a HREF="{href}">'):
        assert _codes(f"{tag}bấm vào đây</a>") == [("bad_link", tag)]
    if not any(c in href for c in " \t="):  # an unquoted value cannot hold these
        assert _codes(f"<a href={href}>x</a>") == [("bad_link", f"<a href={href}>")]
    # a second href does not hide a bad one behind a good one
    both = f'<a href="https://congdoan.vn" href="{href}">'
    assert _codes(f"{both}x</a>") == [("bad_link", both)]


@pytest.mark.parametrize(
    "href",
    [
        "https://congdoan.vn",
        "HTTPS://CONGDOAN.VN/a?x=1&amp;y=2",
        "http://congdoan.vn",
        "tg://user?id=1",
        "TG://resolve?domain=congdoan",
        "  https://congdoan.vn  ",
    ],
)
def test_http_https_and_tg_links_pass(href: str) -> None:
    assert validate_html(f'<a href="{href}">x</a>') == []


def test_problem_positions() -> None:
    text = "dòng một\n<b>dòng & hai</b>\n<i>ba"
    assert validate_html(text) == [
        HtmlProblem("bare_amp", "&", line=2, column=9, offset=17),
        HtmlProblem("unclosed_tag", "<i>", line=3, column=1, offset=27),
    ]


def test_problems_are_capped() -> None:
    assert len(validate_html("<" * 100)) == 10
