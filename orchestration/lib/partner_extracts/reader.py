"""Read a partner file (CSV or XLSX) into sheets of rows of cells, coping with what spreadsheets do to files.

Handled here, so the validator sees clean cells:
- The file's bytes are read once by the caller (store.py) and parsed from memory, so what is hashed,
  kept and loaded is the same bytes.
- CSV must be UTF-8 (a byte-order mark is fine); anything else is a file error naming the line and
  byte, with the fix ("save as CSV UTF-8"). A header with ';' and no ',' is read as ';'-separated
  (Excel's CSV in many European locales).
- XLSX: **every worksheet** is looked at, streamed (only the cells the workbook stores, so a stray cell at
  XFD1048576 costs one cell, not a billion). A sheet with no data is skipped; a sheet with data is read
  when it has a header row; a sheet with data but no header is a problem (never dropped silently). Date
  cells arrive as dates, numbers as numbers, formulas as their cached values.
- The header is the first non-blank row, or, when title rows sit above it, the first of the first ten
  non-blank rows that names at least two of the contract's columns (the rows above are reported).
- Header names are matched ignoring case, surrounding spaces, and spaces/hyphens vs underscores.
- Blank rows (every cell empty, e.g. Excel's trailing ",,,," rows) are skipped.
- A cell to the right of the header's last column is a row problem ("shape"), never silently dropped.

Row numbers are the spreadsheet's: the header is row 1 when it is the first row, the first data row is the
next one. Nothing here puts a cell value in a message: messages name sheets, rows and column positions.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

# Bounds that keep a hostile or runaway file from taking the machine: bytes read, rows with data.
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_DATA_ROWS = 500_000
HEADER_SEARCH_ROWS = 10


class FileProblem(Exception):
    """The file as a whole cannot be read (wrong type, not UTF-8, no header)."""

    def __init__(self, rule: str, message: str, row: int | None = None, column: str | None = None,
                 sheet: str = ""):
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.row = row
        self.column = column
        self.sheet = sheet


@dataclass(frozen=True)
class ShapeProblem:
    """A row problem found while reading (a cell beyond the header, a sheet without a header)."""

    sheet: str
    row: int | None
    column: str | None
    rule: str
    message: str


@dataclass
class Sheet:
    name: str  # the worksheet's title; '' for a CSV file
    header: list[str]  # normalised names, in file order
    rows: list[tuple[int, dict[str, object]]]  # (spreadsheet row number, {normalised column: cell})
    header_row: int = 1
    rows_above_header: list[int] = field(default_factory=list)  # non-blank title rows skipped
    matched: bool = True  # False: one of several sheets, with data but no header naming the contract's columns


@dataclass
class Workbook:
    """What a file holds: the sheets read, the sheets skipped as empty, and shape problems."""

    sheets: list[Sheet]
    empty_sheets: list[str] = field(default_factory=list)
    problems: list[ShapeProblem] = field(default_factory=list)


def normalise_header(name: object) -> str:
    text = "" if name is None else str(name)
    text = text.replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def _is_blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and cell.strip() == "")


def column_letter(position: int) -> str:
    """1 -> A, 27 -> AA, 16384 -> XFD."""
    letters = ""
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _where(sheet: str) -> str:
    return f"sheet '{sheet}', " if sheet else ""


def _find_header(rows: list[tuple[int, list[object]]], expected: frozenset[str]) -> int:
    """Index into `rows` (non-blank rows) of the header: the first row naming >= 2 contract columns, else 0."""
    for index, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if len({normalise_header(c) for c in cells if not _is_blank(c)} & expected) >= 2:
            return index
    return 0


def _sheet(name: str, records: Iterable[tuple[int, list[object]]], expected: frozenset[str],
           problems: list[ShapeProblem], strict: bool = True) -> Sheet | None:
    """Build one sheet from (row number, cells) records; None when it has no data at all.

    Not strict (one of several sheets of a workbook): a sheet whose header names fewer than two contract
    columns is returned without rows and with matched=False, so the caller can refuse it by name."""
    head: list[tuple[int, list[object]]] = []
    iterator = iter(records)
    for number, cells in iterator:
        if any(not _is_blank(c) for c in cells):
            head.append((number, cells))
            if len(head) == HEADER_SEARCH_ROWS:
                break
    if not head:
        return None
    at = _find_header(head, expected)
    header_row, raw_header = head[at]
    raw_header = list(raw_header)
    while raw_header and _is_blank(raw_header[-1]):
        raw_header.pop()
    header = [normalise_header(h) for h in raw_header]
    if not strict and len(set(header) & expected) < 2:
        return Sheet(name=name, header=[], rows=[], header_row=header_row, matched=False)
    seen: dict[str, int] = {}
    for position, column in enumerate(header, start=1):
        if not column:
            raise FileProblem("header", f"{_where(name)}header cell {column_letter(position)}{header_row} is blank "
                              "(every column needs a name)", row=header_row, sheet=name)
        if column in seen:
            # the name itself is not quoted: a header cell is partner text like any other
            raise FileProblem("header", f"{_where(name)}header cells {column_letter(seen[column])}{header_row} and "
                              f"{column_letter(position)}{header_row} have the same name", row=header_row, sheet=name)
        seen[column] = position
    width = len(header)
    rows: list[tuple[int, dict[str, object]]] = []

    def take(number: int, cells: list[object]) -> None:
        if all(_is_blank(c) for c in cells):
            return
        beyond = [i for i, c in enumerate(cells[width:], start=width + 1) if not _is_blank(c)]
        if beyond:
            problems.append(ShapeProblem(
                name, number, None, "shape",
                f"{_where(name)}row {number} has a value in column {column_letter(beyond[0])}, beyond the header's "
                f"{width} columns (a shifted row, or a stray cell: delete it or give the column a header)"))
            return
        padded = list(cells[:width]) + [None] * (width - len(cells))
        rows.append((number, dict(zip(header, padded, strict=True))))
        if len(rows) > MAX_DATA_ROWS:
            raise FileProblem("too_large", f"{_where(name)}more than {MAX_DATA_ROWS:,} rows: split the file",
                              row=number, sheet=name)

    for number, cells in head[at + 1:]:
        take(number, cells)
    for number, cells in iterator:
        take(number, cells)
    return Sheet(name=name, header=header, rows=rows, header_row=header_row,
                 rows_above_header=[number for number, _ in head[:at]])


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise FileProblem(
            "encoding",
            f"not UTF-8: byte 0x{data[err.start]:02x} at line {line} cannot be read "
            "(save the file as 'CSV UTF-8 (Comma delimited)' so Welsh characters survive)",
            row=line,
        ) from None


def read_csv(data: bytes, expected: frozenset[str] = frozenset()) -> Workbook:
    text = _decode(data)
    if "\x00" in text:
        raise FileProblem("encoding", "the file contains NUL bytes: it is not a CSV text file (UTF-16 or binary?)")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def records() -> Iterator[tuple[int, list[object]]]:
        # Row numbers count records as a spreadsheet shows them (a quoted cell may span several lines).
        number = 0
        try:
            for number, cells in enumerate(reader, start=1):  # noqa: B007 - number is used after the loop
                yield number, cells
        except csv.Error as err:
            raise FileProblem("csv", f"malformed CSV near line {reader.line_num} ({err.__class__.__name__}: "
                              "check the quotes on that line)", row=reader.line_num) from None

    problems: list[ShapeProblem] = []
    sheet = _sheet("", records(), expected, problems)
    if sheet is None:
        raise FileProblem("header", "the file is empty", row=1)
    return Workbook(sheets=[sheet], problems=problems)


def read_xlsx(data: bytes, expected: frozenset[str] = frozenset()) -> Workbook:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - zipfile.BadZipFile, KeyError, InvalidFileException and friends
        raise FileProblem("xlsx", f"not a readable .xlsx workbook ({type(err).__name__}); save it again from Excel "
                          "as 'Excel Workbook (*.xlsx)' or as CSV UTF-8") from None
    sheets, empty, problems = [], [], []
    try:
        for worksheet in book.worksheets:
            sheet = _sheet(worksheet.title, _stored_rows(worksheet, book), expected, problems, strict=False)
            if sheet is None:
                empty.append(worksheet.title)
            else:
                sheets.append((worksheet, sheet))
        if len(sheets) == 1 and not sheets[0][1].matched:
            # the only sheet with data: read it as the table, so its header is reported column by column
            worksheet, _ = sheets[0]
            sheets = [(worksheet, _sheet(worksheet.title, _stored_rows(worksheet, book), expected, problems))]
    finally:
        book.close()
    if not sheets:
        raise FileProblem("header", "every worksheet is empty", row=1)
    for _, sheet in sheets:
        if not sheet.matched:
            # Several sheets with data: each must be a table of this extract. A sheet whose first rows name no
            # contract column is notes, a lookup list or a continuation without a header: refused, never dropped.
            problems.append(ShapeProblem(
                sheet.name, sheet.header_row, None, "sheet_without_header",
                f"sheet '{sheet.name}' has data but no header row naming this extract's columns: give it the "
                "header (as its first row) or delete the sheet, then send the workbook again"))
    return Workbook(sheets=[s for _, s in sheets if s.matched], empty_sheets=empty, problems=problems)


def _stored_rows(worksheet, book) -> Iterator[tuple[int, list[object]]]:
    """(row number, cells) for each row the sheet stores, cells up to its last stored value only.

    openpyxl's iter_rows pads every row to the sheet's stated dimension and yields the missing rows in
    between: one stray cell at XFD1048576 turns that into a million rows of 16,384 cells. This reads the
    sheet's XML row elements as they stream past and keeps only the cells that hold a value.
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    with worksheet._get_source() as source:
        parser = WorkSheetParser(source, worksheet._shared_strings, data_only=True, epoch=book.epoch,
                                 date_formats=book._date_formats, timedelta_formats=book._timedelta_formats)
        for number, stored in parser.parse():
            values = {c["column"]: _xlsx_cell(c["value"]) for c in stored if c["value"] is not None}
            if not values:
                continue
            last = max(values)
            yield number, [values.get(position) for position in range(1, last + 1)]


def _xlsx_cell(cell: object) -> object:
    if isinstance(cell, datetime):
        return cell.date() if cell.time() == datetime.min.time() else cell
    return cell


def read_bytes(data: bytes, suffix: str, expected: Iterable[str] = ()) -> Workbook:
    """Parse a file's bytes by its suffix; `expected` are the contract's column names (to find the header)."""
    expected = frozenset(expected)
    suffix = suffix.lower()
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem("too_large", f"the file is larger than {MAX_FILE_BYTES // 2**20} MB: split it")
    if suffix == ".csv":
        return read_csv(data, expected)
    if suffix == ".xlsx":
        return read_xlsx(data, expected)
    raise FileProblem("file_type", f"'{suffix or '(none)'}' files are not accepted: send .csv (UTF-8) or .xlsx")

