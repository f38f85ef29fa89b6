"""The dashboard's templates and their English catalog: the catalog covers exactly what Babel
extracts from ``bot/web/templates`` (nothing missing, empty, fuzzy or stale), every
translation keeps its placeholders and tags, and no template holds a script, an inline style
or an event handler (the Content-Security-Policy would refuse them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.web.render import WEB_LOCALES, WEB_TEMPLATES, page, web_template_names

ROOT = Path(__file__).resolve().parents[1]
PO_FILE = WEB_LOCALES / "en" / "LC_MESSAGES" / "web.po"


def _extracted() -> set[str]:
    with (ROOT / "bot" / "web" / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)  # type: ignore[no-untyped-call]
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB_TEMPLATES), method_map, options_map
    ):
        assert isinstance(message, str), f"plural or context messages are unused: {message!r}"
        found.add(message)
    return found


def _catalog() -> Catalog:
    with PO_FILE.open("rb") as fh:
        return read_po(fh, locale="en")


EXTRACTED = _extracted()


def test_extraction_finds_the_pages_words() -> None:
    assert len(EXTRACTED) > 100
    assert "Đăng nhập bảng theo dõi" in EXTRACTED
    assert "Tỷ lệ %(rate)s, mục tiêu %(target)s" in EXTRACTED


def test_catalog_translates_every_extracted_message_and_nothing_else() -> None:
    catalog = _catalog()
    ids = {m.id for m in catalog if m.id}
    assert EXTRACTED - ids == set(), "run the extraction of bot/web/locales/README.md"
    assert ids - EXTRACTED == set(), "stale messages in web.po"
    empty = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert empty == []


PLACEHOLDER = re.compile(r"%\((\w+)\)s|<[a-z]+>|</[a-z]+>")


@pytest.mark.parametrize("msgid", sorted(EXTRACTED))
def test_translation_keeps_placeholders_and_tags(msgid: str) -> None:
    message = _catalog().get(msgid)
    assert message is not None and isinstance(message.string, str)
    assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(message.string))
    assert message.string != msgid or not re.search(r"[à-ỹĐđ]", msgid)


@pytest.mark.parametrize("name", web_template_names())
def test_no_script_inline_style_or_handler(name: str) -> None:
    text = (WEB_TEMPLATES / name).read_text(encoding="utf-8")
    assert "<script" not in text
    assert not re.search(r"\sstyle=", text)
    assert not re.search(r"\son[a-z]+=", text)
    assert "http://" not in text and "https://" not in text  # nothing fetched from elsewhere


def test_the_sign_in_page_in_both_languages() -> None:
    vi = page(
        "sign_in.html",
        "vi",
        visit=None,
        csrf="",
        here="/dang-nhap",
        here_full="/dang-nhap",
        url=lambda p, **_: p,
        state="help",
        token="",
    )
    en = page(
        "sign_in.html",
        "en",
        visit=None,
        csrf="",
        here="/dang-nhap",
        here_full="/dang-nhap",
        url=lambda p, **_: p,
        state="help",
        token="",
    )
    assert "Đăng nhập bảng theo dõi" in vi and '<html lang="vi">' in vi
    assert "Sign in to the dashboard" in en and '<html lang="en">' in en
    assert "/web" in vi and "/web" in en
