"""Read a partner file (CSV or XLSX) into rows of cells, coping with what spreadsheets do to files.

Handled here, so the validator sees clean cells:
- CSV must be UTF-8 (a byte-order mark is fine); anything else is a file error naming the line and
  byte, with the fix ("save as CSV UTF-8"). A header with ';' and no ',' is read as ';'-separated
  (Excel's CSV in many European locales).
- Header names are matched ignoring case, surrounding spaces, and spaces/hyphens vs underscores.
- Blank rows (every cell empty, e.g. Excel's trailing ",,,," rows) are skipped.
- XLSX: the first worksheet; date cells arrive as dates, numbers as numbers (the validator accepts
  both), formulas as their cached values.

Row numbers are the spreadsheet's: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


class FileProblem(Exception):
    """The file as a whole cannot be read (wrong type, not UTF-8, no header)."""

    def __init__(self, rule: str, message: str, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.row = row
        self.column = column


@dataclass
class Sheet:
    header: list[str]  # normalised names, in file order
    rows: list[tuple[int, dict[str, object]]]  # (spreadsheet row number, {normalised column: cell})


def normalise_header(name: object) -> str:
    text = "" if name is None else str(name)
    text = text.replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def _is_blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and cell.strip() == "")


def _build(raw_header: list[object], body: list[tuple[int, list[object]]]) -> Sheet:
    while raw_header and _is_blank(raw_header[-1]):
        raw_header = raw_header[:-1]
    if not raw_header:
        raise FileProblem("header", "the file is empty or its first row (the header) is blank", row=1)
    header = [normalise_header(h) for h in raw_header]
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise FileProblem("header", f"header cell {position} is blank", row=1)
        if name in seen:
            raise FileProblem("header", f"column '{name}' appears twice in the header", row=1, column=name)
        seen.add(name)
    rows = []
    for number, cells in body:
        if all(_is_blank(c) for c in cells):
            continue
        extra = [c for c in cells[len(header):] if not _is_blank(c)]
        if extra:
            raise FileProblem(
                "shape", f"row {number} has {len(cells)} cells but the header has {len(header)} columns", row=number
            )
        padded = list(cells[: len(header)]) + [None] * (len(header) - len(cells))
        rows.append((number, dict(zip(header, padded, strict=True))))
    return Sheet(header=header, rows=rows)


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


def read_csv(data: bytes) -> Sheet:
    text = _decode(data)
    if "\x00" in text:
        raise FileProblem("encoding", "the file contains NUL bytes: it is not a CSV text file (UTF-16 or binary?)")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        records = list(reader)
    except csv.Error as err:
        raise FileProblem("csv", f"malformed CSV near line {reader.line_num}: {err}", row=reader.line_num) from None
    if not records:
        raise FileProblem("header", "the file is empty", row=1)
    # Row numbers count records as a spreadsheet shows them (a quoted cell may span several lines).
    body = [(number, cells) for number, cells in enumerate(records[1:], start=2)]
    return _build(records[0], body)


def read_xlsx(path: Path) -> Sheet:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError) as err:
        raise FileProblem("xlsx", f"not a readable .xlsx workbook ({type(err).__name__}: {err})") from None
    except Exception as err:  # zipfile.BadZipFile and friends
        raise FileProblem("xlsx", f"not a readable .xlsx workbook ({type(err).__name__}: {err})") from None
    try:
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        raise FileProblem("header", "the first worksheet is empty", row=1)
    body = []
    for number, cells in enumerate(rows[1:], start=2):
        body.append((number, [_xlsx_cell(c) for c in cells]))
    return _build(list(rows[0]), body)


def _xlsx_cell(cell: object) -> object:
    if isinstance(cell, datetime):
        return cell.date() if cell.time() == datetime.min.time() else cell
    return cell


def read_file(path: Path) -> Sheet:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path.read_bytes())
    if suffix == ".xlsx":
        return read_xlsx(path)
    raise FileProblem("file_type", f"'{suffix or '(none)'}' files are not accepted: send .csv (UTF-8) or .xlsx")

