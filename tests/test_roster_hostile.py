"""Hostile workbooks: a sheet that declares (or holds a cell at) the last cell of Excel, rows past
Excel's last row, XML entity declarations.  Each is read in bounded time or refused with one
line, and an import that fails leaves nothing behind."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bot.cli import app
from bot.roster import RosterFileError, read_roster
from storage.db import Database
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 3, 15)
SHEET = "xl/worksheets/sheet1.xml"
runner = CliRunner()


def forge(path: Path, edit: Callable[[str], str], part: str = SHEET) -> Path:
    """A units workbook (a header, units X and X1) whose XML ``part`` is rewritten by ``edit``."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Đơn vị"
    sheet.append(["Mã đơn vị", "Tên đơn vị", "Cấp", "Đơn vị cấp trên"])
    sheet.append(["X", "Công đoàn X", "Tỉnh", None])
    sheet.append(["X1", "CĐCS X1", "CĐCS", "X"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = zipfile.ZipFile(buffer)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == part:
                changed = edit(data.decode("utf-8"))
                assert changed != data.decode("utf-8"), f"{part} was not changed"
                data = changed.encode("utf-8")
            target.writestr(item, data)
    return path


def dimension(ref: str) -> Callable[[str], str]:
    return lambda xml: re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>', xml)


def extra_row(row: str) -> Callable[[str], str]:
    return lambda xml: xml.replace("</sheetData>", f"{row}</sheetData>")


def both(*edits: Callable[[str], str]) -> Callable[[str], str]:
    def apply(xml: str) -> str:
        for edit in edits:
            xml = edit(xml)
        return xml

    return apply


def with_dtd(dtd: str, root: str, cell: str | None = None) -> Callable[[str], str]:
    def edit(xml: str) -> str:
        xml = xml.replace(f"<{root}", f"<!DOCTYPE {root} [{dtd}]><{root}", 1)
        return xml.replace("Công đoàn X<", f"{cell}<") if cell else xml

    return edit


# Nine levels of ten: a thousand million "a" from a 5 KB file.
LAUGHS = '<!ENTITY a "aaaaaaaaaa">' + "".join(
    f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
)


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'roster.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)

    async def create() -> None:
        database = Database(url)
        await upgrade(database)
        await database.dispose()

    asyncio.run(create())
    return url


def units_in(url: str) -> list[str]:
    async def read() -> list[str]:
        database = Database(url)
        try:
            async with database.session() as session:
                result = await session.execute(text("SELECT code FROM units ORDER BY code"))
                return [code for (code,) in result.all()]
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_a_sheet_declaring_the_last_cell_of_excel_imports_in_seconds(
    tmp_path: Path, database_url: str
) -> None:
    """A 5 KB workbook whose sheet claims A1:XFD1048576 and holds a cell at XFD1048576: openpyxl
    padded each of a million rows to 16,384 cells, and the import ran for hours (run apart, so
    that a hang fails the test instead of stalling the suite)."""
    path = forge(
        tmp_path / "xfd.xlsx",
        both(
            dimension("A1:XFD1048576"),
            extra_row('<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row>'),
        ),
    )
    assert path.stat().st_size < 6_000
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "roster", "import", str(path)],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 60
    assert "Import done." in done.stdout
    assert re.search(r"Units\s*│\s*2\s*│\s*0\s*│\s*0\s*│\s*0", done.stdout), done.stdout
    assert units_in(database_url) == ["X", "X1"]


def test_rows_are_read_to_a_sane_width(tmp_path: Path) -> None:
    """Columns past the 256th are not read (a roster table has about fifteen): of two unknown
    headers at IV (256) and IW (257) only the first is reported as ignored, and a value at XFD
    changes nothing."""
    headers = (
        '<c r="IV1" t="inlineStr"><is><t>Cột 256</t></is></c>'
        '<c r="IW1" t="inlineStr"><is><t>Cột 257</t></is></c></row>'
    )
    path = forge(
        tmp_path / "wide.xlsx",
        both(
            dimension("A1:XFD3"),
            lambda xml: xml.replace("</row>", headers, 1),
            lambda xml: xml.replace(
                "</row></sheetData>", '<c r="XFD3"><v>7</v></c></row></sheetData>'
            ),
        ),
    )
    parsed = read_roster([path], today=TODAY)
    assert [(u.code, u.name, u.parent) for u in parsed.units] == [
        ("X", "Công đoàn X", None),
        ("X1", "CĐCS X1", "X"),
    ]
    assert parsed.errors == []
    assert parsed.warnings == ["wide.xlsx [Đơn vị]: column(s) ignored: Cột 256"]


def test_a_row_past_the_last_row_of_excel_is_refused_and_nothing_is_imported(
    tmp_path: Path, database_url: str
) -> None:
    path = forge(
        tmp_path / "tall.xlsx",
        both(
            dimension("A1:D1048577"),
            extra_row('<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>Y</t></is></c></row>'),
        ),
    )
    with pytest.raises(RosterFileError) as refused:
        read_roster([path], today=TODAY)
    assert str(refused.value) == (
        "tall.xlsx [Đơn vị]: rows past row 1048576, the last row of an Excel sheet; this is no "
        "workbook Excel wrote"
    )
    good = ROOT / "docs" / "roster" / "units-template.csv"
    result = runner.invoke(app, ["roster", "import", str(good), str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [str(refused.value)]
    assert units_in(database_url) == []


BOMBS = {
    "billion laughs in a sheet": (with_dtd(LAUGHS, "worksheet", "&i;"), SHEET),
    # one harmless-looking entity: Python's own parser would accept it, defusedxml does not
    "one entity in a sheet": (with_dtd('<!ENTITY x "Công đoàn X">', "worksheet", "&x;"), SHEET),
    "an external entity in the workbook part": (
        with_dtd('<!ENTITY x SYSTEM "file:///etc/passwd">', "workbook"),
        "xl/workbook.xml",
    ),
}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_xml_entities_are_refused_in_one_line_and_nothing_is_imported(
    bomb: str, tmp_path: Path, database_url: str
) -> None:
    assert openpyxl.DEFUSEDXML is True  # openpyxl parses through defusedxml
    edit, part = BOMBS[bomb]
    path = forge(tmp_path / "bomb.xlsx", edit, part)
    with pytest.raises(RosterFileError) as refused:
        read_roster([path], today=TODAY)
    assert str(refused.value) == (
        "bomb.xlsx: refused: the workbook declares XML entities or a DTD, which Excel never "
        "writes (an XML bomb?); save it again from Excel or as 'CSV UTF-8'"
    )
    good = ROOT / "docs" / "roster" / "units-template.csv"
    result = runner.invoke(app, ["roster", "import", str(good), str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [str(refused.value)]
    assert units_in(database_url) == []


def test_workbooks_are_not_read_without_the_protection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should defusedxml be missing (or OPENPYXL_DEFUSEDXML=False), no workbook is read."""
    path = forge(tmp_path / "plain.xlsx", dimension("A1:D3"))
    assert [u.code for u in read_roster([path], today=TODAY).units] == ["X", "X1"]
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(RosterFileError, match=r"^plain\.xlsx: workbooks are read only with "):
        read_roster([path], today=TODAY)
