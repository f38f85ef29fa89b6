"""Roster import: units and people from the Excel/CSV files the union already keeps.

Three steps, each usable on its own (the CLI, the demo and the tests call them):

* :func:`read_roster` reads .xlsx/.csv files into typed rows, recognising each table (units or
  people) from its headers, and collects per-row errors (file row numbers as Excel shows them).
* :func:`plan_import` compares the rows with the database (two queries: all units, all people)
  and works out what to create and update, field by field, plus the errors that need the database
  (unknown unit, a phone that belongs to someone else, a cycle in the unit tree...).
* :func:`apply_plan` writes the plan with bulk statements (no commit: the caller's transaction
  makes the import all or nothing).

:func:`import_roster` chains them.  File-level problems (missing file, unreadable workbook,
unrecognised headers) raise :class:`RosterFileError` with one line for the operator.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from defusedxml import DefusedXmlException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import audit
from storage import roster as store
from storage.models import AuditAction, Gender, Person, Role, UnitKind, WorkStatus, utcnow
from surveys.phone import normalize_phone

SAMPLE_DIR = Path(__file__).with_name("sample")

TableKind = Literal["units", "people"]

# ---------------------------------------------------------------------------------------------
# Columns.  The first header of each list is the canonical (template) header; matching is on the
# folded form (lower case, no diacritics, punctuation as spaces).

UNIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("Mã đơn vị", "Mã ĐV", "code", "unit code"),
    "name": ("Tên đơn vị", "Tên ĐV", "Tên", "name", "unit name"),
    "level": ("Cấp", "Cấp đơn vị", "level", "kind", "unit level"),
    "parent": (
        "Đơn vị cấp trên",
        "Mã đơn vị cấp trên",
        "Cấp trên",
        "parent",
        "parent code",
        "parent unit",
    ),
    "public": ("Loại hình", "Loại hình đơn vị", "type", "sector", "public"),
    "staff_count": (
        "Số CBNGNLĐ",
        "Số CB, NG, NLĐ",
        "Tổng số CBNGNLĐ",
        "Số lao động",
        "staff count",
        "staff",
        "headcount",
    ),
}

PEOPLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "full_name": ("Họ và tên", "Họ tên", "full name", "name"),
    "phone": ("Số điện thoại", "Điện thoại", "SĐT", "Số ĐT", "phone", "phone number", "mobile"),
    "staff_code": ("Mã cán bộ", "Mã CB", "Mã nhân viên", "staff code", "employee code", "staff id"),
    "unit": ("Đơn vị", "Mã đơn vị", "Đơn vị công tác", "unit", "unit code"),
    "is_member": ("Đoàn viên", "Là đoàn viên", "member", "union member", "is member"),
    "gender": ("Giới tính", "gender", "sex"),
    "role": ("Vai trò", "role"),
    "officer_unit": (
        "Phụ trách đơn vị",
        "Đơn vị phụ trách",
        "Phụ trách",
        "officer unit",
        "officer of",
        "responsible for",
    ),
    "tags": ("Nhãn", "tags", "tag", "labels"),
    "work_status": ("Trạng thái", "Tình trạng", "Tình trạng công tác", "status", "work status"),
    "left_on": ("Ngày nghỉ", "Ngày thôi", "Ngày chuyển đi", "left on", "left date"),
}

UNIT_REQUIRED = ("code", "name", "level")
PEOPLE_REQUIRED = ("full_name", "unit")
# Columns that carry no data for the import and are skipped without a warning.
IGNORED_HEADERS = frozenset({"stt", "tt", "no", "ghi chu", "note", "notes"})

LEVEL_VALUES: dict[str, UnitKind] = {
    **dict.fromkeys(
        ("tinh", "cap tinh", "cong doan tinh", "cong doan nganh", "cd nganh", "province"),
        UnitKind.PROVINCE,
    ),
    **dict.fromkeys(
        (
            "huyen",
            "cap huyen",
            "cum",
            "cong doan cap tren",
            "cong doan cap tren co so",
            "cong doan cap tren truc tiep co so",
            "cd cap tren",
            "district",
            "cluster",
        ),
        UnitKind.DISTRICT,
    ),
    **dict.fromkeys(
        ("cdcs", "cd co so", "cong doan co so", "co so", "grassroots", "school"),
        UnitKind.GRASSROOTS,
    ),
    **dict.fromkeys(
        ("to cong doan", "to cd", "to", "group", "union group"),
        UnitKind.GROUP,
    ),
}
LEVEL_RANK = {UnitKind.PROVINCE: 0, UnitKind.DISTRICT: 1, UnitKind.GRASSROOTS: 2, UnitKind.GROUP: 3}

PUBLIC_VALUES: dict[str, bool] = {
    **dict.fromkeys(("", "cong lap", "cl", "public", "co", "x", "yes", "true", "1"), True),
    **dict.fromkeys(
        (
            "ngoai cong lap",
            "ncl",
            "tu thuc",
            "dan lap",
            "non public",
            "nonpublic",
            "private",
            "khong",
            "no",
            "false",
            "0",
        ),
        False,
    ),
}
MEMBER_VALUES: dict[str, bool] = {
    **dict.fromkeys(("co", "x", "v", "yes", "y", "true", "1", "doan vien", "dv"), True),
    **dict.fromkeys(("", "khong", "no", "n", "false", "0"), False),
}
GENDER_VALUES: dict[str, Gender] = {
    **dict.fromkeys(("nam", "male", "m"), Gender.MALE),
    **dict.fromkeys(("nu", "female", "f"), Gender.FEMALE),
    **dict.fromkeys(("khac", "other"), Gender.OTHER),
    "": Gender.UNKNOWN,
}
ROLE_VALUES: dict[str, Role] = {
    **dict.fromkeys(("", "doan vien", "thanh vien", "member"), Role.MEMBER),
    **dict.fromkeys(
        (
            "can bo cong doan",
            "can bo cd",
            "can bo",
            "chu tich cdcs",
            "chu tich cong doan co so",
            "chu tich",
            "pho chu tich",
            "officer",
        ),
        Role.OFFICER,
    ),
    **dict.fromkeys(("quan tri", "quan tri vien", "admin", "administrator"), Role.ADMIN),
}

WORK_STATUS_VALUES: dict[str, WorkStatus] = {
    **dict.fromkeys(
        ("", "dang cong tac", "con cong tac", "cong tac", "dang lam viec", "active", "working"),
        WorkStatus.ACTIVE,
    ),
    **dict.fromkeys(
        (
            "da nghi",
            "nghi",
            "nghi huu",
            "da nghi huu",
            "huu",
            "nghi viec",
            "da nghi viec",
            "thoi viec",
            "da thoi viec",
            "retired",
            "left",
        ),
        WorkStatus.RETIRED,
    ),
    **dict.fromkeys(
        (
            "chuyen di",
            "da chuyen di",
            "chuyen cong tac",
            "da chuyen cong tac",
            "chuyen khoi nganh",
            "chuyen nganh",
            "chuyen tinh",
            "moved",
            "moved out",
            "transferred",
        ),
        WorkStatus.MOVED,
    ),
}
#: The values of "Trạng thái" as the template and the messages name them.
WORK_STATUS_NAMES = {
    WorkStatus.ACTIVE: "Đang công tác",
    WorkStatus.RETIRED: "Đã nghỉ",
    WorkStatus.MOVED: "Chuyển đi",
}

INVITE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: readable when typed
INVITE_LENGTH = 10
MAX_NAME = 255
MAX_CODE = 64
MAX_TAGS = 255


def fold(text: str) -> str:
    """Lower case without diacritics, punctuation as single spaces: "Số ĐT" -> "so dt"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", bare.lower()).strip()


def clean(text: str) -> str:
    """NFC, trimmed, inner whitespace collapsed (Excel exports often hold NFD or double spaces)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "x" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return clean(str(value))


_DMY = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def parse_day(text: str) -> dt.date | None:
    """A calendar date written dd/mm/yyyy (also d/m/yyyy, with - or .), or yyyy-mm-dd as an
    Excel date cell reads; None if the text is not a real date."""
    text = text.strip()
    match = _DMY.fullmatch(text)
    if match is not None:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = _ISO.fullmatch(text)
        if match is None:
            return None
        year, month, day = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_work_status(text: str) -> WorkStatus | None:
    """The work status a cell or a command names (empty: active); None if unknown."""
    return WORK_STATUS_VALUES.get(fold(text))


def _alias_index(columns: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {fold(alias): name for name, aliases in columns.items() for alias in aliases}


_UNIT_ALIASES = _alias_index(UNIT_COLUMNS)
_PEOPLE_ALIASES = _alias_index(PEOPLE_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Results


class RosterFileError(Exception):
    """A file cannot be imported at all (missing, unreadable, unrecognised); one line of text."""


@dataclass(frozen=True, order=True)
class Where:
    """A row as the user finds it: file, sheet (xlsx) and the row number Excel shows."""

    file: str
    sheet: str | None
    row: int

    def __str__(self) -> str:
        if self.sheet is None:
            return f"{self.file} row {self.row}"
        return f"{self.file} [{self.sheet}] row {self.row}"


@dataclass(frozen=True)
class RowError:
    table: TableKind
    where: Where
    reason: str

    @property
    def order(self) -> tuple[bool, Where]:
        """Unit rows first (they are applied first), then by file, sheet and row."""
        return (self.table != "units", self.where)

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class UnitRow:
    where: Where
    columns: frozenset[str]
    code: str
    name: str
    kind: UnitKind
    parent: str | None
    is_public: bool
    staff_count: int


@dataclass
class PersonRow:
    where: Where
    columns: frozenset[str]
    full_name: str
    phone: str | None
    staff_code: str | None
    unit: str
    is_member: bool
    gender: Gender
    role: Role
    officer_unit: str | None
    tags: str
    work_status: WorkStatus
    left_on: dt.date | None  # as written; a missing date is filled in when planning


@dataclass
class ParsedRoster:
    units: list[UnitRow] = field(default_factory=list)
    people: list[PersonRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Unit codes (casefolded) on rows rejected while reading, so that references to them say so.
    rejected_units: dict[str, Where] = field(default_factory=dict)
    unit_rows_read: int = 0
    people_rows_read: int = 0


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class Change:
    table: TableKind
    action: Literal["create", "update"]
    label: str
    where: Where
    fields: tuple[FieldChange, ...]

    def __str__(self) -> str:
        parts = ", ".join(
            f"{c.field}: {c.new}" if self.action == "create" else f"{c.field}: {c.old} → {c.new}"
            for c in self.fields
        )
        return f"{self.action} {self.label} ({self.where}): {parts}"


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class ProgressSink(Protocol):
    """Where long steps report progress (the CLI passes a rich progress bar)."""

    def stage(self, description: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class _NoProgress:
    def stage(self, description: str, total: int) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None


# ---------------------------------------------------------------------------------------------
# Reading files


@dataclass
class _Sheet:
    file: str
    sheet: str | None
    rows: Iterator[tuple[int, list[str]]]
    total: int


_KINDS: tuple[tuple[TableKind, dict[str, str]], ...] = (
    ("units", _UNIT_ALIASES),
    ("people", _PEOPLE_ALIASES),
)


def _match_headers(folded: Sequence[str], aliases: dict[str, str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for index, key in enumerate(folded):
        name = aliases.get(key)
        if name is not None and name not in mapping:
            mapping[name] = index
    return mapping


def _missing(kind: TableKind, mapping: dict[str, int]) -> list[str]:
    """The headers (canonical Vietnamese and English) that a table of this kind lacks."""
    if kind == "units":
        columns, required = UNIT_COLUMNS, list(UNIT_REQUIRED)
    else:
        columns, required = PEOPLE_COLUMNS, list(PEOPLE_REQUIRED)
    missing = [f"{columns[r][0]} ({r})" for r in required if r not in mapping]
    if kind == "people" and "phone" not in mapping and "staff_code" not in mapping:
        missing.append("Số điện thoại (phone) or Mã cán bộ (staff_code)")
    return missing


def _detect(cells: Sequence[str]) -> tuple[TableKind | None, dict[str, int], list[str]]:
    """(kind, field → column index, ignored headers) of a header row; kind None if neither.

    When neither table is recognised, the third item lists the columns missing from the closest
    candidate (if at least two of its headers matched), to explain the refusal.
    """
    folded = [fold(c) for c in cells]
    candidates = [(kind, _match_headers(folded, aliases)) for kind, aliases in _KINDS]
    complete = [(k, m) for k, m in candidates if not _missing(k, m)]
    if not complete:
        kind, mapping = max(candidates, key=lambda c: len(c[1]))
        return None, mapping, (_missing(kind, mapping) if len(mapping) >= 2 else [])
    kind, mapping = max(complete, key=lambda c: len(c[1]))
    used = set(mapping.values())
    ignored = [
        cells[i]
        for i, key in enumerate(folded)
        if key and i not in used and key not in IGNORED_HEADERS
    ]
    return kind, mapping, ignored


def _describe_expected() -> str:
    units = ", ".join(aliases[0] for aliases in UNIT_COLUMNS.values())
    people = ", ".join(aliases[0] for aliases in PEOPLE_COLUMNS.values())
    return f"expected a units table ({units}) or a people table ({people})"


def _csv_sheets(path: Path) -> Iterator[_Sheet]:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RosterFileError(
                f"{path.name}: not UTF-8 text; in Excel use Save As → 'CSV UTF-8'"
            ) from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", ";", "\t"), key=lambda d: (first.count(d), d == ","))
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    rows = ((number, [_cell_text(c) for c in record]) for number, record in enumerate(records, 1))
    yield _Sheet(path.name, None, rows, len(records))


# A workbook is read by the cells it holds, not by the size its sheets declare: a forged
# <dimension ref="A1:XFD1048576">, or one cell at XFD1048576, would otherwise make openpyxl pad
# every row to 16,384 cells and the sheet to a million rows (hours of work for a 5 KB file).
MAX_COLUMNS = 256  # columns read from each row (a roster table has about fifteen)
MAX_ROWS = 1_048_576  # Excel's last row; a sheet with rows past it was not written by Excel


def _xml_bomb(exc: BaseException) -> bool:
    """Whether defusedxml refused the XML (an entity or DTD declaration), perhaps wrapped in
    openpyxl's own error."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        if isinstance(link, DefusedXmlException):
            return True
        chain.append(link)
        link = link.__cause__ or link.__context__
    return False


def _unreadable(label: str, what: str, exc: BaseException) -> RosterFileError:
    if _xml_bomb(exc):
        return RosterFileError(
            f"{label}: refused: the workbook declares XML entities or a DTD, which Excel never "
            "writes (an XML bomb?); save it again from Excel or as 'CSV UTF-8'"
        )
    return RosterFileError(f"{label}: cannot read {what} ({type(exc).__name__})")


def _xlsx_rows(name: str, worksheet: Any) -> Iterator[tuple[int, list[str]]]:
    label = f"{name} [{worksheet.title}]"
    worksheet.reset_dimensions()  # the declared size may lie: read the rows there are
    try:
        rows = worksheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
        for number, values in enumerate(rows, 1):
            if number > MAX_ROWS:
                raise RosterFileError(
                    f"{label}: rows past row {MAX_ROWS}, the last row of an Excel sheet; "
                    "this is no workbook Excel wrote"
                )
            if values.count(None) == len(values):  # an empty or missing row, cheaply
                yield number, []
            else:
                yield number, [_cell_text(v) if v is not None else "" for v in values]
    except RosterFileError:
        raise
    except Exception as exc:  # a corrupt sheet inside a valid zip
        raise _unreadable(label, "the sheet", exc) from None


def _xlsx_sheets(path: Path) -> Iterator[_Sheet]:
    import openpyxl  # heavy import, only when a workbook is read

    if not openpyxl.DEFUSEDXML:
        raise RosterFileError(
            f"{path.name}: workbooks are read only with protection against XML bombs, and it is "
            "off (defusedxml is not installed, or OPENPYXL_DEFUSEDXML is not True); "
            "import the roster as 'CSV UTF-8', or mend the installation"
        )
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike
        raise _unreadable(path.name, "it as an .xlsx workbook", exc) from None
    try:
        for worksheet in workbook.worksheets:
            declared = min(worksheet.max_row or 0, MAX_ROWS)  # for the progress bar only
            rows = _xlsx_rows(path.name, worksheet)
            yield _Sheet(path.name, worksheet.title, rows, declared)
    finally:
        workbook.close()


def _open(path: Path) -> Iterator[_Sheet]:
    if not path.exists():
        raise RosterFileError(f"{path}: file not found")
    if path.is_dir():
        raise RosterFileError(f"{path}: is a directory, not a roster file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_sheets(path)
    if suffix in (".csv", ".txt"):
        return _csv_sheets(path)
    if suffix == ".xls":
        raise RosterFileError(f"{path.name}: old .xls format; save it as .xlsx or 'CSV UTF-8'")
    raise RosterFileError(f"{path.name}: unsupported file type; use .xlsx or .csv")


HEADER_SEARCH_ROWS = 10


def read_roster(
    paths: Iterable[Path | str], *, today: dt.date, progress: ProgressSink | None = None
) -> ParsedRoster:
    """Read roster files (.xlsx with one or more sheets, .csv) into rows and row errors.

    ``today`` is the import's local date: a "Ngày nghỉ" after it is a bad row.

    Raises :class:`RosterFileError` for a missing/unreadable file or one without any
    recognisable table.  Sheets of a workbook that hold no roster table are skipped with a
    warning (an instructions sheet, say), as long as one sheet of the workbook is a roster table.
    """
    sink = progress or _NoProgress()
    parsed = ParsedRoster()
    seen_units: dict[str, list[UnitRow]] = defaultdict(list)
    for raw_path in paths:
        path = Path(raw_path)
        tables = 0
        unrecognised: list[str] = []
        for sheet in _open(path):
            label = path.name if sheet.sheet is None else f"{path.name} [{sheet.sheet}]"
            sink.stage(f"Reading {label}", sheet.total)
            header: tuple[TableKind, dict[str, int], int] | None = None
            first_cells: list[str] = []
            missing: list[str] = []
            advanced = 0
            for number, cells in sheet.rows:
                if header is None:
                    if not any(cells):
                        continue
                    if not first_cells:
                        first_cells = cells
                    kind, mapping, unknown = _detect(cells)
                    if kind is None and unknown and not missing:
                        missing = unknown
                    if kind is not None:
                        header = (kind, mapping, number)
                        if unknown:
                            parsed.warnings.append(
                                f"{label}: column(s) ignored: {', '.join(unknown)}"
                            )
                    elif number >= HEADER_SEARCH_ROWS:
                        break
                    continue
                if number - advanced >= 500:
                    sink.advance(number - advanced)
                    advanced = number
                if not any(cells):
                    continue
                kind, mapping, _ = header
                where = Where(path.name, sheet.sheet, number)
                if kind == "units":
                    parsed.unit_rows_read += 1
                    unit = _parse_unit(cells, mapping, where, parsed)
                    if unit is not None:
                        seen_units[unit.code.casefold()].append(unit)
                else:
                    parsed.people_rows_read += 1
                    _parse_person(cells, mapping, where, parsed, today)
            sink.advance(max(0, sheet.total - advanced))
            if header is None:
                if missing:
                    raise RosterFileError(f"{label}: missing column(s) {', '.join(missing)}")
                else:
                    shown = ", ".join(c for c in first_cells if c) or "an empty sheet"
                    unrecognised.append(f"{label}: unrecognised headers ({shown})")
            else:
                tables += 1
        if tables == 0:
            detail = unrecognised[0] if unrecognised else f"{path.name}: the file is empty"
            raise RosterFileError(f"{detail}; {_describe_expected()}")
        parsed.warnings.extend(f"{u}: sheet skipped" for u in unrecognised)
    for rows in seen_units.values():
        if len(rows) > 1:
            places = ", ".join(str(r.where) for r in rows)
            for row in rows:
                parsed.errors.append(
                    RowError("units", row.where, f"duplicate unit code {row.code} ({places})")
                )
                parsed.rejected_units[row.code.casefold()] = rows[0].where
        else:
            parsed.units.append(rows[0])
    parsed.errors.sort(key=lambda e: e.order)
    return parsed


def _get(cells: Sequence[str], mapping: dict[str, int], name: str) -> str:
    index = mapping.get(name)
    if index is None or index >= len(cells):
        return ""
    return cells[index]


def _parse_count(text: str) -> int | str:
    """A staff count, or the reason it is not one."""
    if text == "":
        return 0
    if re.fullmatch(r"\d+", text):
        return int(text)
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", text):  # 1.200 or 1,200
        return int(re.sub(r"[.,]", "", text))
    if re.fullmatch(r"-\s*\d+([.,]\d+)?", text):
        return f"negative staff count {text}"
    return f"staff count {text!r} is not a whole number"


def _parse_unit(
    cells: Sequence[str], mapping: dict[str, int], where: Where, parsed: ParsedRoster
) -> UnitRow | None:
    reasons: list[str] = []
    code = _get(cells, mapping, "code")
    name = _get(cells, mapping, "name")
    level_text = _get(cells, mapping, "level")
    if not code:
        reasons.append("no unit code")
    elif len(code) > MAX_CODE:
        reasons.append(f"unit code longer than {MAX_CODE} characters")
    if not name:
        reasons.append("no unit name")
    elif len(name) > MAX_NAME:
        reasons.append(f"unit name longer than {MAX_NAME} characters")
    kind = LEVEL_VALUES.get(fold(level_text))
    if kind is None:
        reasons.append(
            f"unknown level {level_text!r} (use Tỉnh, Công đoàn cấp trên, CĐCS or Tổ công đoàn)"
            if level_text
            else "no level (Cấp)"
        )
    public_text = _get(cells, mapping, "public")
    is_public = PUBLIC_VALUES.get(fold(public_text))
    if is_public is None:
        reasons.append(f"unknown type {public_text!r} (use Công lập or Ngoài công lập)")
    count = _parse_count(_get(cells, mapping, "staff_count"))
    if isinstance(count, str):
        reasons.append(count)
    if reasons:
        parsed.errors.append(RowError("units", where, "; ".join(reasons)))
        if code:
            parsed.rejected_units.setdefault(code.casefold(), where)
        return None
    assert kind is not None and is_public is not None and isinstance(count, int)
    return UnitRow(
        where=where,
        columns=frozenset(mapping),
        code=code,
        name=name,
        kind=kind,
        parent=_get(cells, mapping, "parent") or None,
        is_public=is_public,
        staff_count=count,
    )


def _parse_tags(text: str) -> str:
    tags: list[str] = []
    for part in re.split(r"[,;]", text):
        tag = part.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return ", ".join(tags)


def _parse_person(
    cells: Sequence[str],
    mapping: dict[str, int],
    where: Where,
    parsed: ParsedRoster,
    today: dt.date,
) -> None:
    reasons: list[str] = []
    name = _get(cells, mapping, "full_name")
    if not name:
        reasons.append("no name")
    elif len(name) > MAX_NAME:
        reasons.append(f"name longer than {MAX_NAME} characters")
    phone_text = _get(cells, mapping, "phone")
    phone = normalize_phone(phone_text) if phone_text else None
    if phone_text and phone is None:
        reasons.append(f"malformed phone number {phone_text!r}")
    staff_code = _get(cells, mapping, "staff_code") or None
    if staff_code is not None and len(staff_code) > MAX_CODE:
        reasons.append(f"staff code longer than {MAX_CODE} characters")
    if not phone_text and staff_code is None:
        reasons.append("no phone number and no staff code")
    unit = _get(cells, mapping, "unit")
    if not unit:
        reasons.append("no unit")
    member_text = _get(cells, mapping, "is_member")
    raw_member = member_text.strip()
    is_member = True if raw_member in ("✓", "✔") else MEMBER_VALUES.get(fold(member_text))
    if "is_member" not in mapping:
        is_member = True
    if is_member is None:
        reasons.append(f"unknown member value {member_text!r} (use Có or Không)")
    gender_text = _get(cells, mapping, "gender")
    gender = GENDER_VALUES.get(fold(gender_text))
    if gender is None:
        reasons.append(f"unknown gender {gender_text!r} (use Nam, Nữ or Khác)")
    role_text = _get(cells, mapping, "role")
    role = ROLE_VALUES.get(fold(role_text))
    if role is None:
        reasons.append(
            f"unknown role {role_text!r} (use Đoàn viên, Thành viên, Cán bộ công đoàn, "
            "Chủ tịch CĐCS or Quản trị)"
        )
    officer_unit = _get(cells, mapping, "officer_unit") or None
    if officer_unit is not None and role == Role.MEMBER:
        reasons.append("Phụ trách đơn vị is set but the role is not an officer or admin")
    tags = _parse_tags(_get(cells, mapping, "tags"))
    if len(tags) > MAX_TAGS:
        reasons.append(f"tags longer than {MAX_TAGS} characters")
    status_text = _get(cells, mapping, "work_status")
    status = parse_work_status(status_text)
    if status is None:
        reasons.append(f"unknown status {status_text!r} (use Đang công tác, Đã nghỉ or Chuyển đi)")
    left_text = _get(cells, mapping, "left_on")
    left_on = parse_day(left_text) if left_text else None
    if left_text and left_on is None:
        reasons.append(f"Ngày nghỉ {left_text!r} is not a date (use dd/mm/yyyy)")
    elif left_on is not None and left_on > today:
        reasons.append(f"Ngày nghỉ {left_on:%d/%m/%Y} is in the future")
    elif left_on is not None and status == WorkStatus.ACTIVE and "work_status" in mapping:
        reasons.append(f"Ngày nghỉ is set but the status is {WORK_STATUS_NAMES[WorkStatus.ACTIVE]}")
    if reasons:
        parsed.errors.append(RowError("people", where, "; ".join(reasons)))
        return
    assert is_member is not None and gender is not None and role is not None
    assert status is not None
    parsed.people.append(
        PersonRow(
            where=where,
            columns=frozenset(mapping),
            full_name=name,
            phone=phone,
            staff_code=staff_code,
            unit=unit,
            is_member=is_member,
            gender=gender,
            role=role,
            officer_unit=officer_unit,
            tags=tags,
            work_status=status,
            left_on=left_on,
        )
    )


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass
class UnitPlan:
    """The final state of one unit named in the files (new when ``id`` is None)."""

    key: str
    id: int | None
    code: str
    name: str
    kind: UnitKind
    parent_key: str | None
    is_public: bool
    staff_count: int
    invite_code: str | None
    changed: bool


@dataclass
class PersonPlan:
    """The final state of one person named in the files (new when ``id`` is None)."""

    id: int | None
    full_name: str
    phone: str | None
    staff_code: str | None
    unit_key: str
    is_member: bool
    gender: Gender
    role: Role
    officer_unit_key: str | None
    tags: str
    work_status: WorkStatus
    left_on: dt.date | None
    changed: bool
    releases_keys: bool  # phone or staff code changes: free them before the final update
    #: (role, officer unit id) before the import, for the audit trail; None for a new person.
    role_before: tuple[Role, int | None] | None = None


@dataclass
class ImportPlan:
    units: list[UnitPlan]
    people: list[PersonPlan]
    # Parent key of every unit after the import (units in the files and units only in the DB).
    parents: dict[str, str | None]
    db_units: dict[str, store.UnitRecord]
    changes: list[Change]
    errors: list[RowError]
    warnings: list[str]
    unit_counts: Counts
    people_counts: Counts

    @property
    def has_changes(self) -> bool:
        return any(u.changed for u in self.units) or any(p.changed for p in self.people)


def _new_invite_code(taken: set[str]) -> str:
    while True:
        code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
        if code not in taken:
            taken.add(code)
            return code


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _public(value: bool) -> str:
    return "public" if value else "non-public"


def _day(value: dt.date | None) -> str:
    return "—" if value is None else f"{value:%d/%m/%Y}"


def _plan_units(
    parsed: ParsedRoster, db_units: dict[str, store.UnitRecord]
) -> tuple[dict[str, UnitRow], dict[str, str | None], list[RowError], dict[str, Where]]:
    """Validate the unit rows against the tree.

    Returns (good rows by key, final parent of every unit, errors, where each rejected code is).
    """
    by_id = {u.id: u for u in db_units.values()}
    db_parent: dict[str, str | None] = {
        key: (by_id[u.parent_id].code.casefold() if u.parent_id in by_id else None)
        for key, u in db_units.items()
    }
    rows = {u.code.casefold(): u for u in parsed.units}
    bad: dict[str, RowError] = {}
    rejected_at = dict(parsed.rejected_units)

    while True:
        active = {k: r for k, r in rows.items() if k not in bad}

        def parent_of(key: str, active: dict[str, UnitRow] = active) -> str | None:
            row = active.get(key)
            if row is not None and "parent" in row.columns:
                return row.parent.casefold() if row.parent else None
            return db_parent.get(key)

        def kind_of(key: str, active: dict[str, UnitRow] = active) -> UnitKind:
            row = active.get(key)
            return row.kind if row is not None else db_units[key].kind

        new_bad: dict[str, RowError] = {}
        for key, row in active.items():
            parent = parent_of(key)
            if parent is None:
                continue
            if parent == key:
                new_bad[key] = RowError(
                    "units", row.where, f"cycle in the unit tree: {row.code} → itself"
                )
                continue
            if parent not in active and parent not in db_units:
                shown = row.parent or parent
                if parent in rejected_at:
                    reason = f"parent unit {shown} is rejected (see {rejected_at[parent]})"
                else:
                    reason = f"parent unit {shown} not found"
                new_bad[key] = RowError("units", row.where, reason)
                continue
            chain = [key]
            current: str | None = parent
            while current is not None and current not in chain:
                chain.append(current)
                if current not in active and current not in db_units:
                    break
                current = parent_of(current)
            if current == key:
                codes = [active[k].code if k in active else db_units[k].code for k in chain]
                new_bad[key] = RowError(
                    "units", row.where, f"cycle in the unit tree: {' → '.join([*codes, row.code])}"
                )
                continue
            parent_kind = kind_of(parent)
            if LEVEL_RANK[parent_kind] >= LEVEL_RANK[row.kind]:
                parent_code = active[parent].code if parent in active else db_units[parent].code
                new_bad[key] = RowError(
                    "units",
                    row.where,
                    f"a {row.kind.value} unit cannot be under {parent_code}, "
                    f"a {parent_kind.value} unit",
                )
                continue
            # Sub-units only in the database must stay below this unit's (possibly new) level.
            for child_key, child_parent in db_parent.items():
                if child_parent == key and child_key not in active:
                    child = db_units[child_key]
                    if LEVEL_RANK[child.kind] <= LEVEL_RANK[row.kind]:
                        new_bad[key] = RowError(
                            "units",
                            row.where,
                            f"level {row.kind.value} is not above its sub-unit {child.code} "
                            f"({child.kind.value})",
                        )
                        break
        if not new_bad:
            break
        for key, error in new_bad.items():
            bad[key] = error
            rejected_at.setdefault(key, error.where)
        # Flagging rows can orphan their children: re-check until nothing changes.

    parents = dict(db_parent)
    for key in active:
        parents[key] = parent_of(key)
    return active, parents, list(bad.values()), rejected_at


@dataclass
class _Tree:
    """Lookups over the units after the import: the database's, overridden by the files'."""

    db_units: dict[str, store.UnitRecord]
    by_id: dict[int, store.UnitRecord]
    rows: dict[str, UnitRow]

    def code(self, key: str | None) -> str:
        if key is None:
            return "—"
        if key in self.rows:
            return self.rows[key].code
        return self.db_units[key].code

    def key_of(self, unit_id: int | None) -> str | None:
        return self.by_id[unit_id].code.casefold() if unit_id is not None else None


def _unit_plans(
    tree: _Tree, parents: dict[str, str | None], changes: list[Change], counts: Counts
) -> list[UnitPlan]:
    taken_invites = {u.invite_code for u in tree.db_units.values() if u.invite_code}
    plans: list[UnitPlan] = []
    for key, row in tree.rows.items():
        old = tree.db_units.get(key)
        parent = parents[key]
        if old is None:
            invite = _new_invite_code(taken_invites) if row.kind == UnitKind.GRASSROOTS else None
            fields = [
                FieldChange("name", "", row.name),
                FieldChange("level", "", row.kind.value),
                FieldChange("parent", "", tree.code(parent)),
                FieldChange("type", "", _public(row.is_public)),
                FieldChange("staff", "", str(row.staff_count)),
            ]
            if invite:
                fields.append(FieldChange("invite code", "", "(new)"))
            changes.append(Change("units", "create", row.code, row.where, tuple(fields)))
            counts.created += 1
            plans.append(
                UnitPlan(
                    key=key,
                    id=None,
                    code=row.code,
                    name=row.name,
                    kind=row.kind,
                    parent_key=parent,
                    is_public=row.is_public,
                    staff_count=row.staff_count,
                    invite_code=invite,
                    changed=True,
                )
            )
            continue
        is_public = row.is_public if "public" in row.columns else old.is_public
        staff = row.staff_count if "staff_count" in row.columns else old.staff_count
        invite = old.invite_code
        if invite is None and row.kind == UnitKind.GRASSROOTS:
            invite = _new_invite_code(taken_invites)
        old_parent = tree.key_of(old.parent_id)
        diffs: list[FieldChange] = []
        if row.name != old.name:
            diffs.append(FieldChange("name", old.name, row.name))
        if row.kind != old.kind:
            diffs.append(FieldChange("level", old.kind.value, row.kind.value))
        if parent != old_parent:
            old_code = tree.by_id[old.parent_id].code if old.parent_id is not None else "—"
            diffs.append(FieldChange("parent", old_code, tree.code(parent)))
        if is_public != old.is_public:
            diffs.append(FieldChange("type", _public(old.is_public), _public(is_public)))
        if staff != old.staff_count:
            diffs.append(FieldChange("staff", str(old.staff_count), str(staff)))
        if invite != old.invite_code:
            diffs.append(FieldChange("invite code", "—", "(new)"))
        if diffs:
            counts.updated += 1
            changes.append(Change("units", "update", old.code, row.where, tuple(diffs)))
        else:
            counts.unchanged += 1
        plans.append(
            UnitPlan(
                key=key,
                id=old.id,
                code=old.code,
                name=row.name,
                kind=row.kind,
                parent_key=parent,
                is_public=is_public,
                staff_count=staff,
                invite_code=invite,
                changed=bool(diffs),
            )
        )
    return plans


def _unit_resolver(tree: _Tree, rejected: dict[str, Where]) -> Callable[[str], str]:
    final_units = set(tree.db_units) | set(tree.rows)
    names: dict[str, set[str]] = defaultdict(set)
    for key, unit in tree.db_units.items():
        if key not in tree.rows:
            names[unit.name.casefold()].add(key)
    for key, row in tree.rows.items():
        names[row.name.casefold()].add(key)

    def resolve(ref: str) -> str:
        """The unit key a people row names (code first, then exact name), or raise ValueError."""
        key = ref.casefold()
        if key in final_units:
            return key
        matches = names.get(key, set())
        if len(matches) == 1:
            return next(iter(matches))
        if len(matches) > 1:
            codes = ", ".join(sorted(tree.code(k) for k in matches))
            raise ValueError(f"unit name {ref!r} matches several units ({codes}); use the code")
        if key in rejected:
            raise ValueError(f"unit {ref} is rejected (see {rejected[key]})")
        raise ValueError(f"unknown unit {ref!r}")

    return resolve


def _match_people(
    rows: list[PersonRow],
    db_people: list[store.PersonRecord],
    errors: dict[int, RowError],
    tree: _Tree,
) -> dict[int, int | None]:
    """Row index → the id of the person it updates (None: a new person); adds errors.

    Matched by staff code first, then phone.  A phone or staff code may move from one person to
    another within the same import (both rows present); otherwise it must not belong to someone
    else already.  Rejecting a row can make another one invalid, so this repeats until stable.
    """
    db_by_id = {p.id: p for p in db_people}
    db_phone = {p.phone: p.id for p in db_people if p.phone}
    db_code = {p.staff_code.casefold(): p.id for p in db_people if p.staff_code}

    def owner_text(pid: int) -> str:
        person = db_by_id[pid]
        return f"{person.full_name} ({tree.code(tree.key_of(person.unit_id))})"

    while True:
        matched: dict[int, int | None] = {}
        claims: dict[int, list[int]] = defaultdict(list)
        for i, row in enumerate(rows):
            if i in errors:
                continue
            pid = db_code.get(row.staff_code.casefold()) if row.staff_code else None
            if pid is None and row.phone:
                # By phone, unless both sides have (different) staff codes: then it is someone
                # else, and the phone check below reports the clash.
                candidate = db_phone.get(row.phone)
                if candidate is not None and (
                    row.staff_code is None or db_by_id[candidate].staff_code is None
                ):
                    pid = candidate
            matched[i] = pid
            if pid is not None:
                claims[pid].append(i)
        new_errors: dict[int, RowError] = {}
        for pid, indexes in claims.items():
            if len(indexes) > 1:
                places = ", ".join(str(rows[i].where.row) for i in indexes)
                for i in indexes:
                    new_errors[i] = RowError(
                        "people",
                        rows[i].where,
                        f"rows {places} all match {owner_text(pid)} in the database",
                    )
        released_phones: set[str] = set()
        released_codes: set[str] = set()
        for i, pid in matched.items():
            if pid is None or i in new_errors:
                continue
            row, old = rows[i], db_by_id[pid]
            if "phone" in row.columns and old.phone and row.phone != old.phone:
                released_phones.add(old.phone)
            new_code = row.staff_code if "staff_code" in row.columns else old.staff_code
            if old.staff_code and (new_code or "").casefold() != old.staff_code.casefold():
                released_codes.add(old.staff_code.casefold())
        for i, pid in matched.items():
            if i in new_errors:
                continue
            row = rows[i]
            if row.phone and row.phone not in released_phones:
                owner = db_phone.get(row.phone)
                if owner is not None and owner != pid:
                    new_errors[i] = RowError(
                        "people",
                        row.where,
                        f"phone {row.phone} belongs to {owner_text(owner)} already",
                    )
                    continue
            if row.staff_code and row.staff_code.casefold() not in released_codes:
                owner = db_code.get(row.staff_code.casefold())
                if owner is not None and owner != pid:
                    new_errors[i] = RowError(
                        "people",
                        row.where,
                        f"staff code {row.staff_code} belongs to {owner_text(owner)} already",
                    )
        if not new_errors:
            return matched
        errors.update(new_errors)


def _flag_duplicates(rows: list[PersonRow], errors: dict[int, RowError]) -> None:
    by_phone: dict[str, list[int]] = defaultdict(list)
    by_code: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        if row.phone:
            by_phone[row.phone].append(index)
        if row.staff_code:
            by_code[row.staff_code.casefold()].append(index)
    for what, groups in (("phone", by_phone), ("staff code", by_code)):
        for indexes in groups.values():
            if len(indexes) < 2:
                continue
            places = ", ".join(str(rows[i].where.row) for i in indexes)
            for i in indexes:
                value = rows[i].phone if what == "phone" else rows[i].staff_code
                errors.setdefault(
                    i,
                    RowError("people", rows[i].where, f"duplicate {what} {value} (rows {places})"),
                )


def _work_status(
    row: PersonRow, old: store.PersonRecord | None, today: dt.date
) -> tuple[WorkStatus, dt.date | None] | str:
    """The status and leaving date a row gives a person, or the reason it cannot.

    Without a "Trạng thái" column the status stays as it is (active for someone new).  Someone
    who is not active left on the row's date, else on the date already recorded, else today
    (the import's date); someone active again has no leaving date.
    """
    cols = row.columns
    status = row.work_status if old is None or "work_status" in cols else old.work_status
    if status == WorkStatus.ACTIVE:
        if row.left_on is not None:
            active = WORK_STATUS_NAMES[WorkStatus.ACTIVE]
            return f"Ngày nghỉ is set but the status is {active} (no Trạng thái column)"
        return status, None
    if row.left_on is not None:
        return status, row.left_on
    if old is not None and old.work_status != WorkStatus.ACTIVE and old.left_on is not None:
        return status, old.left_on
    return status, today


def _person_plans(
    parsed: ParsedRoster,
    rejected_units: dict[str, Where],
    db_people: list[store.PersonRecord],
    tree: _Tree,
    changes: list[Change],
    sink: ProgressSink,
    today: dt.date,
) -> tuple[list[PersonPlan], Counts, list[RowError]]:
    rows = parsed.people
    resolve = _unit_resolver(tree, rejected_units)
    errors: dict[int, RowError] = {}
    resolved: dict[int, tuple[str, str | None]] = {}
    for index, row in enumerate(rows):
        try:
            unit_key = resolve(row.unit)
            officer_key = resolve(row.officer_unit) if row.officer_unit else None
        except ValueError as exc:
            errors[index] = RowError("people", row.where, str(exc))
            continue
        resolved[index] = (unit_key, officer_key)
    _flag_duplicates(rows, errors)
    db_by_id = {p.id: p for p in db_people}
    statuses: dict[int, tuple[WorkStatus, dt.date | None]] = {}
    while True:
        matched = _match_people(rows, db_people, errors, tree)
        bad: dict[int, RowError] = {}
        for i, pid in matched.items():
            if i not in statuses:
                found = _work_status(rows[i], db_by_id[pid] if pid is not None else None, today)
                if isinstance(found, str):
                    bad[i] = RowError("people", rows[i].where, found)
                else:
                    statuses[i] = found
        if not bad:
            break
        # A rejected row may have been freeing a phone for another one: match again.
        errors.update(bad)

    counts = Counts(rejected=parsed.people_rows_read - len(matched))
    plans: list[PersonPlan] = []
    sink.stage("Checking people", len(matched))
    for i, pid in matched.items():
        sink.advance()
        row = rows[i]
        unit_key, officer_key = resolved[i]
        work_status, left_on = statuses[i]
        old = db_by_id[pid] if pid is not None else None
        cols = row.columns
        phone = row.phone if old is None or "phone" in cols else old.phone
        staff_code = row.staff_code if old is None or "staff_code" in cols else old.staff_code
        is_member = row.is_member if old is None or "is_member" in cols else old.is_member
        gender = row.gender if old is None or "gender" in cols else old.gender
        role = row.role if old is None or "role" in cols else old.role
        tags = row.tags if old is None or "tags" in cols else old.tags
        old_officer = tree.key_of(old.officer_unit_id) if old is not None else None
        if role == Role.MEMBER:
            officer_key = None
        elif officer_key is None:
            keep = old is not None and "officer_unit" not in cols and old_officer is not None
            officer_key = old_officer if keep else unit_key
        plan = PersonPlan(
            id=pid,
            full_name=row.full_name,
            phone=phone,
            staff_code=staff_code,
            unit_key=unit_key,
            is_member=is_member,
            gender=gender,
            role=role,
            officer_unit_key=officer_key,
            tags=tags,
            work_status=work_status,
            left_on=left_on,
            changed=True,
            releases_keys=False,
            role_before=(old.role, old.officer_unit_id) if old is not None else None,
        )
        plans.append(plan)
        if old is None:
            fields = [
                FieldChange("phone", "", phone or "—"),
                FieldChange("unit", "", tree.code(unit_key)),
                FieldChange("member", "", _yes_no(is_member)),
                FieldChange("role", "", role.value),
            ]
            if staff_code:
                fields.insert(1, FieldChange("staff code", "", staff_code))
            if officer_key:
                fields.append(FieldChange("officer of", "", tree.code(officer_key)))
            if work_status != WorkStatus.ACTIVE:
                fields.append(FieldChange("status", "", work_status.value))
                fields.append(FieldChange("left on", "", _day(left_on)))
            changes.append(Change("people", "create", row.full_name, row.where, tuple(fields)))
            counts.created += 1
            continue
        old_unit = tree.key_of(old.unit_id)
        diffs: list[FieldChange] = []
        if row.full_name != old.full_name:
            diffs.append(FieldChange("name", old.full_name, row.full_name))
        if phone != old.phone:
            diffs.append(FieldChange("phone", old.phone or "—", phone or "—"))
        if staff_code != old.staff_code:
            diffs.append(FieldChange("staff code", old.staff_code or "—", staff_code or "—"))
        if unit_key != old_unit:
            diffs.append(FieldChange("unit", tree.code(old_unit), tree.code(unit_key)))
        if is_member != old.is_member:
            diffs.append(FieldChange("member", _yes_no(old.is_member), _yes_no(is_member)))
        if gender != old.gender:
            diffs.append(FieldChange("gender", old.gender.value, gender.value))
        if role != old.role:
            diffs.append(FieldChange("role", old.role.value, role.value))
        if officer_key != old_officer:
            diffs.append(FieldChange("officer of", tree.code(old_officer), tree.code(officer_key)))
        if tags != old.tags:
            diffs.append(FieldChange("tags", old.tags or "—", tags or "—"))
        if work_status != old.work_status:
            diffs.append(FieldChange("status", old.work_status.value, work_status.value))
        if left_on != old.left_on:
            diffs.append(FieldChange("left on", _day(old.left_on), _day(left_on)))
        plan.changed = bool(diffs)
        plan.releases_keys = phone != old.phone or staff_code != old.staff_code
        if diffs:
            counts.updated += 1
            changes.append(Change("people", "update", old.full_name, row.where, tuple(diffs)))
        else:
            counts.unchanged += 1
    return plans, counts, list(errors.values())


async def plan_import(
    session: AsyncSession,
    parsed: ParsedRoster,
    *,
    today: dt.date,
    progress: ProgressSink | None = None,
) -> ImportPlan:
    """Compare the parsed rows with the database; reads only (two queries), writes nothing.

    ``today`` (the import's local date) is the leaving date of someone who left without one."""
    sink = progress or _NoProgress()
    db_unit_list = await store.all_units(session)
    db_people = await store.all_people(session)
    db_units = {u.code.casefold(): u for u in db_unit_list}

    active_units, parents, unit_errors, rejected = _plan_units(parsed, db_units)
    tree = _Tree(db_units=db_units, by_id={u.id: u for u in db_unit_list}, rows=active_units)
    changes: list[Change] = []
    unit_counts = Counts(rejected=parsed.unit_rows_read - len(active_units))
    units = _unit_plans(tree, parents, changes, unit_counts)
    people, people_counts, people_errors = _person_plans(
        parsed, rejected, db_people, tree, changes, sink, today
    )
    errors = sorted([*parsed.errors, *unit_errors, *people_errors], key=lambda e: e.order)
    return ImportPlan(
        units=units,
        people=people,
        parents=parents,
        db_units=db_units,
        changes=changes,
        errors=errors,
        warnings=list(parsed.warnings),
        unit_counts=unit_counts,
        people_counts=people_counts,
    )


# ---------------------------------------------------------------------------------------------
# Applying


class RosterRejected(Exception):
    """The plan has bad rows and the caller did not ask to skip them; nothing was written."""

    def __init__(self, plan: ImportPlan) -> None:
        super().__init__(f"{len(plan.errors)} bad row(s); nothing imported")
        self.plan = plan


WRITE_CHUNK = 1000


def _paths(ids: dict[str, int], parents: dict[str, str | None]) -> dict[str, str]:
    paths: dict[str, str] = {}
    for start in parents:
        chain: list[str] = []
        key: str | None = start
        while key is not None and key not in paths:
            chain.append(key)
            key = parents.get(key)
        prefix = paths[key] if key is not None else "/"
        for item in reversed(chain):
            prefix = f"{prefix}{ids[item]}/"
            paths[item] = prefix
    return paths


async def apply_plan(
    session: AsyncSession,
    plan: ImportPlan,
    *,
    skip_bad: bool = False,
    progress: ProgressSink | None = None,
) -> None:
    """Write the plan in bulk.  Raises :class:`RosterRejected` (before writing anything) when the
    plan has bad rows and ``skip_bad`` is false.  Does not commit."""
    if plan.errors and not skip_bad:
        raise RosterRejected(plan)
    sink = progress or _NoProgress()
    now = utcnow()

    new_units = [u for u in plan.units if u.id is None]
    ids = {key: u.id for key, u in plan.db_units.items()}
    inserted = await store.insert_units(
        session,
        rows=[
            {
                "code": u.code,
                "name": u.name,
                "kind": u.kind,
                "parent_id": None,
                "path": "",
                "is_public": u.is_public,
                "staff_count": u.staff_count,
                "invite_code": u.invite_code,
            }
            for u in new_units
        ],
        now=now,
    )
    ids.update({code.casefold(): unit_id for code, unit_id in inserted.items()})

    paths = _paths(ids, plan.parents)
    full_updates: list[dict[str, Any]] = []
    for u in plan.units:
        if u.id is not None and u.changed:
            full_updates.append(
                {
                    "id": u.id,
                    "name": u.name,
                    "kind": u.kind,
                    "parent_id": ids[u.parent_key] if u.parent_key else None,
                    "path": paths[u.key],
                    "is_public": u.is_public,
                    "staff_count": u.staff_count,
                    "invite_code": u.invite_code,
                    "updated_at": now,
                }
            )
    fully_updated = {row["id"] for row in full_updates}
    tree_updates: list[dict[str, Any]] = []
    for key, parent in plan.parents.items():
        unit_id = ids[key]
        if unit_id in fully_updated:
            continue
        parent_id = ids[parent] if parent else None
        old = plan.db_units.get(key)
        if old is None or old.parent_id != parent_id or old.path != paths[key]:
            tree_updates.append({"id": unit_id, "parent_id": parent_id, "path": paths[key]})
    await store.update_units(session, rows=full_updates)
    await store.update_units(session, rows=tree_updates)

    def person_values(p: PersonPlan) -> dict[str, Any]:
        return {
            "full_name": p.full_name,
            "phone": p.phone,
            "staff_code": p.staff_code,
            "unit_id": ids[p.unit_key],
            "is_member": p.is_member,
            "gender": p.gender,
            "role": p.role,
            "officer_unit_id": ids[p.officer_unit_key] if p.officer_unit_key else None,
            "tags": p.tags,
            "work_status": p.work_status,
            "left_on": p.left_on,
        }

    updates = [p for p in plan.people if p.id is not None and p.changed]
    creates = [p for p in plan.people if p.id is None]
    sink.stage("Writing people", len(updates) + len(creates))
    # Free changed phones/staff codes first, so that swaps between people never collide.
    releases = [{"id": p.id, "phone": None, "staff_code": None} for p in updates if p.releases_keys]
    await store.update_people(session, rows=releases)
    for start in range(0, len(updates), WRITE_CHUNK):
        chunk = updates[start : start + WRITE_CHUNK]
        await store.update_people(
            session,
            rows=[{"id": p.id, **person_values(p), "updated_at": now} for p in chunk],
        )
        sink.advance(len(chunk))
    for start in range(0, len(creates), WRITE_CHUNK):
        chunk = creates[start : start + WRITE_CHUNK]
        await store.insert_people(session, rows=[person_values(p) for p in chunk], now=now)
        sink.advance(len(chunk))
    await _record_roles(session, plan, ids, now)
    if len(creates) + len(updates) >= ANALYZE_AFTER:
        # Fresh statistics, or PostgreSQL plans the audience and stats queries on an empty
        # table until autovacuum catches up (seen: 20-50 s instead of 40 ms).
        await store.refresh_statistics(session)


#: Rows written at which the import refreshes the planner's statistics.
ANALYZE_AFTER = 1000


async def _record_roles(
    session: AsyncSession, plan: ImportPlan, ids: dict[str, int], now: dt.datetime
) -> None:
    """One ROLE_CHANGED row per person the import made an officer or admin, or whose role or
    officer unit it changed: the roster file assigns roles as ``/role`` does."""
    for p in plan.people:
        after = (p.role, ids[p.officer_unit_key] if p.officer_unit_key else None)
        if p.id is None or p.role_before is None or p.role_before == after:
            continue
        await audit.record(
            session,
            AuditAction.ROLE_CHANGED,
            via="cli",
            person_id=p.id,
            unit_id=after[1],
            detail={"from": p.role_before[0].value, "to": p.role.value, "unit": after[1]},
            at=now,
        )
    if any(p.id is None and p.role != Role.MEMBER for p in plan.people):
        # New people have their ids only now: those this import created (same ``now``).
        created = select(col(Person.id), col(Person.role), col(Person.officer_unit_id)).where(
            col(Person.created_at) == now, col(Person.role) != Role.MEMBER
        )
        for person_id, role, officer_unit_id in (await session.execute(created)).all():
            await audit.record(
                session,
                AuditAction.ROLE_CHANGED,
                via="cli",
                person_id=person_id,
                unit_id=officer_unit_id,
                detail={"from": None, "to": role.value, "unit": officer_unit_id},
                at=now,
            )


@dataclass
class ImportReport:
    units: Counts
    people: Counts
    errors: list[RowError]
    warnings: list[str]
    changes: list[Change]
    dry_run: bool
    applied: bool

    @property
    def rejected(self) -> bool:
        """Nothing was written because of bad rows (without ``skip_bad``)."""
        return bool(self.errors) and not self.applied and not self.dry_run


async def import_roster(
    session: AsyncSession,
    paths: Iterable[Path | str],
    *,
    today: dt.date,
    dry_run: bool = False,
    skip_bad: bool = False,
    progress: ProgressSink | None = None,
) -> ImportReport:
    """Read, check and (unless ``dry_run`` or rejected) write roster files in one transaction.

    ``today`` is the import's date in the union's time zone (the settings' ``tz``): leaving
    dates after it are refused, and it is the leaving date of someone who left without one.
    Bad rows make the whole import write nothing unless ``skip_bad``; the report says which.
    Raises :class:`RosterFileError` for files that cannot be read at all.  Does not commit.
    """
    parsed = read_roster(paths, today=today, progress=progress)
    plan = await plan_import(session, parsed, today=today, progress=progress)
    applied = False
    if not dry_run and (skip_bad or not plan.errors):
        await apply_plan(session, plan, skip_bad=skip_bad, progress=progress)
        applied = True
        units, persons = plan.unit_counts, plan.people_counts
        await audit.record(
            session,
            AuditAction.ROSTER_IMPORTED,
            via="cli",
            detail={
                "units_created": units.created,
                "units_updated": units.updated,
                "people_created": persons.created,
                "people_updated": persons.updated,
                "bad_rows": len(plan.errors),
            },
        )
    return ImportReport(
        units=plan.unit_counts,
        people=plan.people_counts,
        errors=plan.errors,
        warnings=plan.warnings,
        changes=plan.changes,
        dry_run=dry_run,
        applied=applied,
    )


# ---------------------------------------------------------------------------------------------
# Templates and sample data

UNIT_TEMPLATE_ROWS: tuple[tuple[str, ...], ...] = (
    ("LD", "Công đoàn Giáo dục tỉnh Lâm Đồng", "Tỉnh", "", "Công lập", ""),
    ("LD-DL", "Công đoàn Giáo dục thành phố Đà Lạt", "Công đoàn cấp trên", "LD", "Công lập", ""),
    ("DL-THPT-BTX", "CĐCS Trường THPT Bùi Thị Xuân", "CĐCS", "LD-DL", "Công lập", "85"),
    ("DL-MN-HM", "CĐCS Trường Mầm non tư thục Hoa Mai", "CĐCS", "LD-DL", "Ngoài công lập", "18"),
    ("DL-THPT-BTX-TOAN", "Tổ công đoàn Toán – Tin", "Tổ công đoàn", "DL-THPT-BTX", "", ""),
)
PEOPLE_TEMPLATE_ROWS: tuple[tuple[str, ...], ...] = (
    (
        "Nguyễn Thị Lan",
        "0912 345 678",
        "GV-0001",
        "DL-THPT-BTX",
        "Có",
        "Nữ",
        "Chủ tịch CĐCS",
        "DL-THPT-BTX",
        "",
        "Đang công tác",
        "",
    ),
    (
        "Trần Văn Minh",
        "0385 123 456",
        "GV-0002",
        "DL-THPT-BTX-TOAN",
        "Có",
        "Nam",
        "Đoàn viên",
        "",
        "",
        "Đang công tác",
        "",
    ),
    (
        "Lê Thị Hoa",
        "0868 222 333",
        "",
        "DL-MN-HM",
        "Không",
        "Nữ",
        "Thành viên",
        "",
        "giáo viên mới",
        "Đang công tác",
        "",
    ),
)


def unit_headers() -> list[str]:
    return [aliases[0] for aliases in UNIT_COLUMNS.values()]


def people_headers() -> list[str]:
    return [aliases[0] for aliases in PEOPLE_COLUMNS.values()]


def write_csv_templates(directory: Path) -> tuple[Path, Path]:
    """Write ``units-template.csv`` and ``people-template.csv`` (UTF-8 with BOM, for Excel)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, headers, rows in (
        ("units-template.csv", unit_headers(), UNIT_TEMPLATE_ROWS),
        ("people-template.csv", people_headers(), PEOPLE_TEMPLATE_ROWS),
    ):
        target = directory / name
        with target.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(headers)
            writer.writerows(rows)
        written.append(target)
    return written[0], written[1]


def write_template(path: Path) -> Path:
    """Write an .xlsx template: a units sheet and a people sheet with example rows and lists."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    units = workbook.active
    assert units is not None
    units.title = "Đơn vị"
    people = workbook.create_sheet("Nhân sự")
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for sheet, headers, rows in (
        (units, unit_headers(), UNIT_TEMPLATE_ROWS),
        (people, people_headers(), PEOPLE_TEMPLATE_ROWS),
    ):
        sheet.append(headers)
        for row in rows:
            sheet.append(list(row))
        for index, header in enumerate(headers, 1):
            cell = sheet.cell(row=1, column=index)
            cell.font = bold
            cell.fill = fill
            letter = get_column_letter(index)
            sheet.column_dimensions[letter].width = max(14, len(header) + 4)
            for r in range(2, 1001):
                sheet.cell(row=r, column=index).number_format = "@"  # text: keeps leading zeros
        sheet.freeze_panes = "A2"
    units.column_dimensions["B"].width = 42
    people.column_dimensions["A"].width = 28

    def choice(sheet: Any, column: str, values: Sequence[str]) -> None:
        rule = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True)
        sheet.add_data_validation(rule)
        rule.add(f"{column}2:{column}1000")

    choice(units, "C", ["Tỉnh", "Công đoàn cấp trên", "CĐCS", "Tổ công đoàn"])
    choice(units, "E", ["Công lập", "Ngoài công lập"])
    choice(people, "E", ["Có", "Không"])
    choice(people, "F", ["Nam", "Nữ", "Khác"])
    choice(
        people, "G", ["Đoàn viên", "Thành viên", "Cán bộ công đoàn", "Chủ tịch CĐCS", "Quản trị"]
    )
    choice(people, "J", [WORK_STATUS_NAMES[s] for s in WorkStatus])
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def sample_paths() -> tuple[Path, Path]:
    """The bundled sample province (units.csv, people.csv) used by the demo and the tests."""
    return SAMPLE_DIR / "units.csv", SAMPLE_DIR / "people.csv"
