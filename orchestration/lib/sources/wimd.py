"""Welsh Index of Multiple Deprivation (WIMD): the Welsh Government's original ODS publications.

The Welsh Government publishes WIMD as OpenDocument spreadsheets on gov.wales. This module reads them
with a small standard-library reader (zip + ``xml.etree`` iterparse; no odfpy), which understands
``table:number-columns-repeated`` / ``table:number-rows-repeated`` (the sheets declare 16,384 columns and
about a million trailing empty rows, none of which are materialised) and takes numbers from
``office:value`` at full precision, not from the rounded display text.

* ``parse_wimd2019_scores_ods`` — "WIMD 2019 index and domain scores by small area", sheet ``Data``:
  banner rows, then the header ``LSOA Code | LSOA Name | Local Authority Name | WIMD 2019 | Income |
  Employment | Health | Education | Access to Services | Housing | Community Safety | Physical
  Environment`` (under a merged "Domain Score" banner), then one row per 2011 LSOA.
  Output (``WIMD2019_SCORES_SCHEMA``): lsoa11_code, lsoa11_name, la_name, wimd_score and the eight
  ``*_score`` columns (Float64).
* ``parse_wimd_geography_ods`` — "WIMD geography lookups (LSOA)", sheet ``Geography_Lookup``: LSOA ->
  LA, MSOA, LHB, rural/urban class, BUA, economic region, constituency, city region, Communities First.
  Output (``GEOGRAPHY_COLUMNS`` values, all String).

Both check: the sheet and every expected header exist (a renamed or missing header is a
``SourceFormatError`` naming it), 1,909 rows, unique codes ``W01``+6 digits, numeric scores in 0–100.
The bundled CSV conversions in ``data/snapshots/wimd/`` are reproduced exactly by these parsers (tested).

WIMD 2025: its ODS is **not bundled**; ``parse_wimd2025_json`` reads the bundled derived JSON
(``wimd/wimd2025_ranks_deciles_by_lsoa21_derived.json``: rank, decile and domain deciles per 2021 LSOA).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import polars as pl

from orchestration.lib.http import HttpClient, SourceFormatError, looks_like_html
from orchestration.lib.sources.base import OGL, Pull, base_url, sha256_chunks

SOURCE = "wimd"

# UNVERIFIED DEFAULTS — must be checked against gov.wales before the first live run (no network here).
# The scores file is linked from https://www.gov.wales/welsh-index-multiple-deprivation-full-index-update-ranks-2019
# ("WIMD 2019 index and domain scores by small area"); the path below is the one a public project used
# (gov.wales re-uploads files under new YYYY-MM folders, and the bundled copy is named "..._0.ods").
WIMD_2019_URL_ENV = "WIMD_2019_URL"
WIMD_2019_URL_DEFAULT = (
    "https://www.gov.wales/sites/default/files/statistics-and-research/2022-02/"
    "wimd-2019-index-and-domain-scores-by-small-area.ods"
)
# The geography lookup ("Geography lookups - match LSOA to different geography groups", linked from the
# same WIMD 2019 page). This path is a best guess and is even less certain than the one above.
WIMD_2019_GEOGRAPHY_URL_ENV = "WIMD_2019_GEOGRAPHY_URL"
WIMD_2019_GEOGRAPHY_URL_DEFAULT = (
    "https://www.gov.wales/sites/default/files/statistics-and-research/2019-11/"
    "welsh-index-multiple-deprivation-2019-geography-lookups-lsoa.ods"
)

WIMD2019_LSOAS = 1909
WIMD2025_LSOAS = 1917
LSOA_CODE = re.compile(r"^W01\d{6}$")
ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"

# ODS header (whitespace collapsed) -> output column.
WIMD2019_SCORE_HEADERS = {
    "LSOA Code": "lsoa11_code",
    "LSOA Name": "lsoa11_name",
    "Local Authority Name": "la_name",
    "WIMD 2019": "wimd_score",
    "Income": "income_score",
    "Employment": "employment_score",
    "Health": "health_score",
    "Education": "education_score",
    "Access to Services": "access_to_services_score",
    "Housing": "housing_score",
    "Community Safety": "community_safety_score",
    "Physical Environment": "physical_environment_score",
}
WIMD2019_SCORES_SCHEMA = {
    column: (pl.String if column in ("lsoa11_code", "lsoa11_name", "la_name") else pl.Float64)
    for column in WIMD2019_SCORE_HEADERS.values()
}
SCORE_COLUMNS = [c for c, t in WIMD2019_SCORES_SCHEMA.items() if t == pl.Float64]

GEOGRAPHY_COLUMNS = {
    "Lower Layer Super Output Area (LSOA) Code": "lsoa11_code",
    "LSOA Name": "lsoa11_name",
    "Local Authority (LA) Code": "la_code",
    "Local Authority (LA) Name": "la_name",
    "Middle Layer Super Output Area (MSOA) Code": "msoa11_code",
    "Middle Layer Super Output Area (MSOA) Name": "msoa11_name",
    "Local Health Board (LHB) Code": "lhb_code",
    "Local Health Board (LHB) Name": "lhb_name",
    "Rural/ Urban Settlement Classification (RU) Code": "rural_urban_code",
    "Rural/ Urban Settlement Classification (RU) Name": "rural_urban_name",
    "Built Up Area (BUA) Code": "bua_code",
    "Built Up Area (BUA) Name": "bua_name",
    "Economic Region/ Economic Action Plan Area (EAP) Code": "economic_region_code",
    "Economic Region/ Economic Action Plan Area (EAP) Name": "economic_region_name",
    "Constituency Area (CA) Code": "constituency_code",
    "Constituency Area (CA) Name": "constituency_name",
    "City Region (CR) Code": "city_region_code",
    "City Region (CR) Name": "city_region_name",
    "Communities First (CF) Code": "communities_first_code",
    "Communities First (CF) Name": "communities_first_name",
}

# WIMD 2025 JSON domain keys -> output column stem (anything else keeps its own key).
WIMD2025_DOMAIN_NAMES = {
    "income": "income",
    "employment": "employment",
    "health": "health",
    "education": "education",
    "access": "access",
    "housing": "housing",
    "community": "community_safety",
    "physical": "physical_environment",
}

# --------------------------------------------------------------------------------------------------
# A minimal ODS (OpenDocument spreadsheet) reader
# --------------------------------------------------------------------------------------------------

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
T_TABLE, T_ROW = f"{{{_TABLE}}}table", f"{{{_TABLE}}}table-row"
T_CELL, T_COVERED = f"{{{_TABLE}}}table-cell", f"{{{_TABLE}}}covered-table-cell"
A_NAME = f"{{{_TABLE}}}name"
A_COLS_REPEATED, A_ROWS_REPEATED = f"{{{_TABLE}}}number-columns-repeated", f"{{{_TABLE}}}number-rows-repeated"
A_VALUE_TYPE, A_VALUE = f"{{{_OFFICE}}}value-type", f"{{{_OFFICE}}}value"
X_P, X_H = f"{{{_TEXT}}}p", f"{{{_TEXT}}}h"
X_S, X_TAB, X_BREAK, X_C = f"{{{_TEXT}}}s", f"{{{_TEXT}}}tab", f"{{{_TEXT}}}line-break", f"{{{_TEXT}}}c"
MAX_COLUMNS = 1024  # nothing we read is wider; repeated trailing cells beyond this are ignored
MAX_REPEATED_ROWS = 10_000  # a non-empty row repeated more than this is not data we expect


def _inline_text(element) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag == X_S:
            parts.append(" " * int(child.get(X_C, "1")))
        elif child.tag == X_TAB:
            parts.append("\t")
        elif child.tag == X_BREAK:
            parts.append("\n")
        else:
            parts.append(_inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _cell_value(cell):
    value_type = cell.get(A_VALUE_TYPE)
    if value_type in ("float", "percentage", "currency"):
        return float(cell.get(A_VALUE))
    if value_type == "boolean":
        return cell.get(f"{{{_OFFICE}}}boolean-value") == "true"
    if value_type == "date":
        return cell.get(f"{{{_OFFICE}}}date-value")
    if value_type == "time":
        return cell.get(f"{{{_OFFICE}}}time-value")
    if value_type == "string" and cell.get(f"{{{_OFFICE}}}string-value") is not None:
        return cell.get(f"{{{_OFFICE}}}string-value")
    paragraphs = [_inline_text(p) for p in cell if p.tag in (X_P, X_H)]
    if value_type is None and not any(paragraphs):
        return None
    return "\n".join(paragraphs)


def _row_values(row) -> list:
    values: list = []
    pending_blanks = 0
    for cell in row:
        if cell.tag not in (T_CELL, T_COVERED):
            continue
        repeat = int(cell.get(A_COLS_REPEATED, "1"))
        value = _cell_value(cell)
        if value is None or value == "":
            pending_blanks += repeat
            continue
        if len(values) + pending_blanks >= MAX_COLUMNS:
            break
        values.extend([None] * pending_blanks)
        pending_blanks = 0
        values.extend([value] * min(repeat, MAX_COLUMNS - len(values)))
    return values


def ods_sheet_names(content: bytes, location: str = "<ods>") -> list[str]:
    names = []
    for _event, element in ElementTree.iterparse(_content_xml(content, location), events=("start",)):
        if element.tag == T_TABLE:
            names.append(element.get(A_NAME))
    return names


def _content_xml(content: bytes, location: str) -> io.BytesIO:
    if looks_like_html(content):
        raise SourceFormatError(SOURCE, location, "got an HTML page, expected an ODS spreadsheet")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as ods:
            names = ods.namelist()
            if "mimetype" in names:
                mimetype = ods.read("mimetype").decode("ascii", "replace").strip()
                if mimetype != ODS_MIMETYPE:
                    raise SourceFormatError(SOURCE, location, f"mimetype {mimetype!r}, expected {ODS_MIMETYPE}")
            if "content.xml" not in names:
                raise SourceFormatError(SOURCE, location, "no content.xml: not an OpenDocument spreadsheet")
            return io.BytesIO(ods.read("content.xml"))
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise SourceFormatError(SOURCE, location, f"not an ODS (zip) file: {exc}") from exc


def read_ods_sheet(content: bytes, sheet: str, location: str = "<ods>") -> list[tuple[int, list]]:
    """(1-based row number, values) of every non-empty row of ``sheet``; trailing empty cells dropped.

    Values are float (numbers, from ``office:value``), str (text, paragraphs joined by newlines) or None.
    """
    xml = _content_xml(content, location)
    rows: list[tuple[int, list]] = []
    seen_sheets: list[str] = []
    in_sheet, done, row_number, depth = False, False, 0, 0
    try:
        for event, element in ElementTree.iterparse(xml, events=("start", "end")):
            if element.tag == T_TABLE:
                if event == "start":
                    seen_sheets.append(element.get(A_NAME))
                    depth += 1
                    if depth == 1 and element.get(A_NAME) == sheet:
                        in_sheet = True
                else:
                    depth -= 1
                    if in_sheet and depth == 0:
                        done = True
                        break
                    element.clear()
                continue
            if event != "end" or element.tag != T_ROW:
                continue
            if in_sheet and depth == 1:
                repeat = int(element.get(A_ROWS_REPEATED, "1"))
                values = _row_values(element)
                if values:
                    if repeat > MAX_REPEATED_ROWS:
                        raise SourceFormatError(SOURCE, location, f"sheet {sheet!r} row {row_number + 1}: "
                                                f"a non-empty row repeated {repeat:,} times")
                    for offset in range(repeat):
                        rows.append((row_number + offset + 1, list(values)))
                row_number += repeat
            element.clear()
    except ElementTree.ParseError as exc:
        raise SourceFormatError(SOURCE, location, f"content.xml is not well-formed XML: {exc}") from exc
    if not done:
        raise SourceFormatError(SOURCE, location, f"no sheet {sheet!r} (sheets: {seen_sheets})")
    return rows


# --------------------------------------------------------------------------------------------------
# WIMD 2019 publications
# --------------------------------------------------------------------------------------------------


def _normalise(value) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _find_header(rows, first: str, sheet: str, location: str, within: int = 30) -> tuple[int, list[str]]:
    for index, (row_number, values) in enumerate(rows[:within]):
        if values and _normalise(values[0]) == first:
            return index, [_normalise(v) for v in values]
    raise SourceFormatError(SOURCE, location, f"sheet {sheet!r}: no header row starting {first!r} in the "
                            f"first {within} non-empty rows")


def _columns(header: list[str], expected: dict[str, str], sheet: str, location: str) -> dict[str, int]:
    positions = {name: i for i, name in reversed(list(enumerate(header))) if name}
    missing = [name for name in expected if name not in positions]
    if missing:
        found = [h for h in header if h]
        raise SourceFormatError(SOURCE, location, f"sheet {sheet!r}: missing column(s) {missing} "
                                f"(header found: {found})")
    return {expected[name]: positions[name] for name in expected}


def _cell(values: list, position: int):
    return values[position] if position < len(values) else None


def _fail(location: str, sheet: str, row: int, column: str, value, expected: str):
    raise SourceFormatError(SOURCE, location, f"sheet {sheet!r} row {row}, column {column!r}: got {value!r}, "
                            f"expected {expected}")


def _table(rows, header_index, columns, sheet, location, numeric: list[str]) -> pl.DataFrame:
    records: dict[str, list] = {column: [] for column in columns}
    codes: set[str] = set()
    for row_number, values in rows[header_index + 1:]:
        for column, position in columns.items():
            value = _cell(values, position)
            if column in numeric:
                if isinstance(value, str):
                    try:
                        value = float(value.strip())
                    except ValueError:
                        _fail(location, sheet, row_number, column, value, "a number")
                if not isinstance(value, float) or not (0.0 <= value <= 100.0):
                    _fail(location, sheet, row_number, column, value, "a number from 0 to 100")
            else:
                value = None if value is None else (value if isinstance(value, str) else _number_text(value))
                if column == "lsoa11_code":
                    value = (value or "").strip()
                    if not LSOA_CODE.match(value):
                        _fail(location, sheet, row_number, column, value, "a Welsh 2011 LSOA code W01 + 6 digits")
                    if value in codes:
                        _fail(location, sheet, row_number, column, value, "each LSOA once")
                    codes.add(value)
            records[column].append(value)
    count = len(records["lsoa11_code"])
    if count != WIMD2019_LSOAS:
        raise SourceFormatError(SOURCE, location, f"sheet {sheet!r}: {count:,} LSOA rows, expected "
                                f"{WIMD2019_LSOAS:,}")
    schema = {column: (pl.Float64 if column in numeric else pl.String) for column in columns}
    return pl.DataFrame(records, schema=schema)


def _number_text(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def parse_wimd2019_scores_ods(content: bytes, location: str = "<wimd 2019 scores ods>") -> pl.DataFrame:
    """WIMD 2019 index and domain scores (sheet "Data") -> ``WIMD2019_SCORES_SCHEMA``, 1,909 rows."""
    sheet = "Data"
    rows = read_ods_sheet(content, sheet, location)
    header_index, header = _find_header(rows, "LSOA Code", sheet, location)
    columns = _columns(header, WIMD2019_SCORE_HEADERS, sheet, location)
    return _table(rows, header_index, columns, sheet, location, SCORE_COLUMNS)


def parse_wimd_geography_ods(content: bytes, location: str = "<wimd geography lookup ods>") -> pl.DataFrame:
    """WIMD LSOA geography lookup (sheet "Geography_Lookup") -> ``GEOGRAPHY_COLUMNS`` values, 1,909 rows."""
    sheet = "Geography_Lookup"
    rows = read_ods_sheet(content, sheet, location)
    header_index, header = _find_header(rows, "Lower Layer Super Output Area (LSOA) Code", sheet, location)
    columns = _columns(header, GEOGRAPHY_COLUMNS, sheet, location)
    frame = _table(rows, header_index, columns, sheet, location, numeric=[])
    bad = frame.filter(~pl.col("la_code").fill_null("").str.contains(r"^W06\d{6}$"))
    if bad.height:
        raise SourceFormatError(SOURCE, location, f"sheet {sheet!r}: LSOA {bad['lsoa11_code'][0]}: la_code "
                                f"{bad['la_code'][0]!r}, expected a Welsh LA code W06 + 6 digits")
    return frame


def make_client(**kwargs) -> HttpClient:
    return HttpClient(SOURCE, **kwargs)


def _ods_pull(dataset: str, parser, url_env: str, url_default: str, url: str | None,
              client: HttpClient | None) -> Pull:
    url = url or base_url(url_env, url_default)
    client = client or make_client()
    fetched = client.get(url)
    frame = parser(fetched.content, fetched.url)
    return Pull(source=SOURCE, dataset=dataset, locations=[fetched.url], sha256=sha256_chunks([fetched.content]),
                frame=frame, mode="live", release="WIMD 2019 (November 2019)", licence=OGL,
                etag=fetched.etag, last_modified=fetched.last_modified)


def fetch_wimd2019(url: str | None = None, *, client: HttpClient | None = None) -> Pull:
    """Download and parse the WIMD 2019 scores ODS (URL: argument, else env ``WIMD_2019_URL``)."""
    return _ods_pull("wimd2019_index_and_domain_scores", parse_wimd2019_scores_ods, WIMD_2019_URL_ENV,
                     WIMD_2019_URL_DEFAULT, url, client)


def fetch_wimd2019_geography(url: str | None = None, *, client: HttpClient | None = None) -> Pull:
    """Download and parse the WIMD LSOA geography lookup ODS (env ``WIMD_2019_GEOGRAPHY_URL``)."""
    return _ods_pull("wimd2019_geography_lookup", parse_wimd_geography_ods, WIMD_2019_GEOGRAPHY_URL_ENV,
                     WIMD_2019_GEOGRAPHY_URL_DEFAULT, url, client)


SNAPSHOT_SCORES_ODS = "wimd/orig/wimd-2019-index-and-domain-scores-by-small-area_0.ods"
SNAPSHOT_GEOGRAPHY_ODS = "wimd/orig/wimd_geography_lookups_lsoa.ods"


def read_wimd2019_snapshot(snapshots_dir: Path) -> Pull:
    """The bundled original scores ODS through the same parser; mode 'snapshot'."""
    path = Path(snapshots_dir) / SNAPSHOT_SCORES_ODS
    content = path.read_bytes()
    return Pull(source=SOURCE, dataset="wimd2019_index_and_domain_scores", locations=[str(path)],
                sha256=sha256_chunks([content]), frame=parse_wimd2019_scores_ods(content, str(path)),
                mode="snapshot", release="WIMD 2019 (November 2019)", licence=OGL)


def read_wimd_geography_snapshot(snapshots_dir: Path) -> Pull:
    """The bundled original geography lookup ODS through the same parser; mode 'snapshot'."""
    path = Path(snapshots_dir) / SNAPSHOT_GEOGRAPHY_ODS
    content = path.read_bytes()
    return Pull(source=SOURCE, dataset="wimd2019_geography_lookup", locations=[str(path)],
                sha256=sha256_chunks([content]), frame=parse_wimd_geography_ods(content, str(path)),
                mode="snapshot", release="WIMD 2019 (November 2019)", licence=OGL)


# --------------------------------------------------------------------------------------------------
# WIMD 2025 (derived JSON; the 2025 ODS is not bundled)
# --------------------------------------------------------------------------------------------------


def _int(value, code: str, key: str, location: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SourceFormatError(SOURCE, location, f"LSOA {code}: {key} {value!r} is not a whole number")
    try:
        number = float(value)
    except ValueError:
        raise SourceFormatError(SOURCE, location, f"LSOA {code}: {key} {value!r} is not a whole number") from None
    if not number.is_integer():
        raise SourceFormatError(SOURCE, location, f"LSOA {code}: {key} {value!r} is not a whole number")
    return int(number)


def parse_wimd2025_json(content: bytes, location: str = "<wimd 2025 json>",
                        expected_lsoas: int | None = WIMD2025_LSOAS) -> pl.DataFrame:
    """``{"byLsoa": {code: {"rank", "decile", <domain>: decile, …}}}`` -> one row per LSOA.

    Columns: lsoa21_code, wimd_rank, wimd_decile, then ``<domain>_decile`` for every other key
    (income, employment, health, education, access, housing, community_safety, physical_environment in
    the bundled file). Every LSOA must have the same keys; ranks must be 1..N each once; deciles 1-10;
    ``count`` (if present) and ``expected_lsoas`` (if given) must equal the number of LSOAs.
    """
    if looks_like_html(content):
        raise SourceFormatError(SOURCE, location, "got an HTML page, expected JSON")
    try:
        payload = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceFormatError(SOURCE, location, f"not valid JSON: {exc}") from exc
    by_lsoa = payload.get("byLsoa") if isinstance(payload, dict) else None
    if not isinstance(by_lsoa, dict) or not by_lsoa:
        raise SourceFormatError(SOURCE, location, "expected a JSON object with a non-empty 'byLsoa' object")
    keys: list[str] | None = None
    rows = []
    for code in sorted(by_lsoa):
        record = by_lsoa[code]
        if not LSOA_CODE.match(code):
            raise SourceFormatError(SOURCE, location, f"key {code!r} is not a Welsh LSOA code (W01 + 6 digits)")
        if not isinstance(record, dict):
            raise SourceFormatError(SOURCE, location, f"LSOA {code}: expected an object, got {record!r}")
        for key in ("rank", "decile"):
            if key not in record:
                raise SourceFormatError(SOURCE, location, f"LSOA {code}: missing key {key!r}")
        domains = sorted(k for k in record if k not in ("rank", "decile"))
        if keys is None:
            keys = domains
        elif domains != keys:
            raise SourceFormatError(SOURCE, location, f"LSOA {code}: keys {domains}, expected {keys} as in the "
                                    f"first LSOA")
        row = {"lsoa21_code": code, "wimd_rank": _int(record["rank"], code, "rank", location),
               "wimd_decile": _int(record["decile"], code, "decile", location)}
        for key in domains:
            row[f"{WIMD2025_DOMAIN_NAMES.get(key, key)}_decile"] = _int(record[key], code, key, location)
        rows.append(row)
    order = ["lsoa21_code", "wimd_rank", "wimd_decile"] + [
        f"{WIMD2025_DOMAIN_NAMES.get(k, k)}_decile"
        for k in sorted(keys or [], key=lambda k: list(WIMD2025_DOMAIN_NAMES).index(k)
                        if k in WIMD2025_DOMAIN_NAMES else len(WIMD2025_DOMAIN_NAMES))
    ]
    frame = pl.DataFrame(rows).select(order)
    count = frame.height
    declared = payload.get("count")
    if declared is not None and declared != count:
        raise SourceFormatError(SOURCE, location, f"'count' says {declared} but byLsoa holds {count} LSOAs")
    if expected_lsoas is not None and count != expected_lsoas:
        raise SourceFormatError(SOURCE, location, f"{count:,} LSOAs, expected {expected_lsoas:,}")
    if sorted(frame["wimd_rank"].to_list()) != list(range(1, count + 1)):
        raise SourceFormatError(SOURCE, location, f"ranks are not 1..{count} each once")
    for column in order[2:]:
        bad = frame.filter(~pl.col(column).is_between(1, 10))
        if bad.height:
            raise SourceFormatError(SOURCE, location, f"LSOA {bad['lsoa21_code'][0]}: {column} "
                                    f"{bad[column][0]}, expected a decile 1-10")
    return frame


__all__ = [
    "GEOGRAPHY_COLUMNS",
    "WIMD2019_SCORES_SCHEMA",
    "fetch_wimd2019",
    "fetch_wimd2019_geography",
    "ods_sheet_names",
    "parse_wimd2019_scores_ods",
    "parse_wimd2025_json",
    "parse_wimd_geography_ods",
    "read_ods_sheet",
    "read_wimd2019_snapshot",
    "read_wimd_geography_snapshot",
]
