"""Nomis API client (ONS labour-market and census statistics), plus readers for bundled Nomis files.

Live: ``NomisClient.fetch_csv`` / ``fetch_json`` call ``{base}/dataset/{id}.data.csv|json`` and page with
``recordlimit`` + ``RecordOffset``. Nomis serves guests at most 25,000 rows per call and *silently*
cuts a bigger answer, and a server (or a proxy, or Nomis on a bad day) can cap a page *below* the
``recordlimit`` asked for. So paging goes by what actually arrives: the next ``RecordOffset`` is the
number of rows received so far, and paging stops when the total in the ``RECORD_COUNT`` column (on
every row of Nomis' default output) is reached, or a page comes back empty. A short page is not taken
as the end. At the end the rows received must equal ``RECORD_COUNT``: a pull that is short (or long)
is a ``SourceFormatError`` naming the URL, the rows received and ``RECORD_COUNT``, so nothing short is
ever returned. Without a ``RECORD_COUNT`` column (a ``select=`` that leaves it out) paging continues
until an empty page. A page identical to the one before (offset ignored), a ``RECORD_COUNT`` that
changes between pages and more than ``max_pages`` pages are errors too, so paging cannot loop.

Every page is validated (an HTML page, an empty body, a header that changes between pages or a
missing required column is a ``SourceFormatError`` naming the dataset, URL and what was expected) and
the pages are concatenated. The bundled files go through the same parsing: ``read_csv_snapshot`` for a
saved API CSV and ``read_web_download`` for the nomisweb.co.uk "download" layout (title block above the
header, notes below the table).

Output frame (``Pull.frame``): every column as published, as String, except ``OBS_VALUE`` (Float64;
null where the published value is not a number) plus ``status``: null where ``OBS_VALUE`` is a number,
else the published text (e.g. ``".."``) or ``"missing"`` when nothing was published. ``OBS_STATUS`` /
``OBS_STATUS_NAME`` are kept when the query selects them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from orchestration.lib.http import HttpClient, SourceFormatError, looks_like_html
from orchestration.lib.sources.base import Pull, base_url, sha256_chunks

SOURCE = "nomis"
BASE_ENV = "NOMIS_API_URL"
BASE_DEFAULT = "https://www.nomisweb.co.uk/api/v01"
PAGE_SIZE = 25_000  # the guest (no uid) row cap per call
MAX_PAGES = 400  # 10 million rows: far beyond any Welsh query; stops a server that never ends
REQUIRED_COLUMNS = ("GEOGRAPHY_CODE", "OBS_VALUE")
RECORD_COUNT = "RECORD_COUNT"  # rows in the whole answer, repeated on every row (JSON: obs[].record_count)
_PAGING_KEYS = {"recordlimit", "recordoffset"}

# --- Welsh geography -------------------------------------------------------------------------------
# Nomis has its own numeric geography ids and geography *type* ids ("TYPEnnn"); they are not ONS GSS
# codes. "<parent id>TYPE<n>" selects every area of type n inside the parent, e.g. all Welsh LSOAs.
# Values below are from Nomis' API documentation and public scripts that call the live API; Nomis adds
# a new LA type whenever boundaries change, so the types can be overridden by environment variable.
WALES = "2092957700"  # Nomis id of the country Wales (GSS W92000004); England is 2092957699
TYPE_LSOA_2021 = "TYPE151"  # "2021 super output areas - lower layer" (Census 2021 tables)
TYPE_MSOA_2021 = "TYPE152"  # "2021 super output areas - middle layer"
TYPE_LSOA_2011 = "TYPE298"  # "2011 super output areas - lower layer" (older datasets)
# Local authorities: TYPE424 is "local authorities: district / unitary (as of April 2023)"; TYPE154 is
# used by some scripts for the Census 2021 LA vintage. UNSURE which types each dataset offers: check the
# dataset's geography list ({base}/dataset/{id}/geography/{WALES}TYPE.def.sdmx.json). For Wales both give
# the same 22 unitary authorities (W06), whose boundaries have not changed since 1996.
TYPE_LA = "TYPE424"
TYPE_LA_CENSUS2021 = "TYPE154"


def wales() -> str:
    """The ``geography`` value for Wales as a whole."""
    return os.environ.get("NOMIS_GEOGRAPHY_WALES", WALES)


def within(parent: str, type_code: str) -> str:
    """Every area of ``type_code`` inside ``parent`` (Nomis syntax, e.g. ``2092957700TYPE151``)."""
    return f"{parent}{type_code}"


def welsh_lsoas_2021(type_code: str | None = None) -> str:
    """All Welsh 2021 LSOAs (1,917). Override the type with ``NOMIS_TYPE_LSOA21``."""
    return within(wales(), type_code or os.environ.get("NOMIS_TYPE_LSOA21", TYPE_LSOA_2021))


def welsh_local_authorities(type_code: str | None = None) -> str:
    """All 22 Welsh local authorities. Override the type with ``NOMIS_TYPE_LA`` (see TYPE_LA)."""
    return within(wales(), type_code or os.environ.get("NOMIS_TYPE_LA", TYPE_LA))


# --- parsing shared by live pages and bundled files ------------------------------------------------

def _check_body(content: bytes, dataset_id: str, location: str, expected: str) -> str:
    if not content.strip():
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: empty body, expected {expected}")
    if looks_like_html(content):
        title = re.search(rb"<title>(.*?)</title>", content[:4000], re.I | re.S)
        hint = f" ({title.group(1).decode('utf-8', 'replace').strip()})" if title else ""
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: got an HTML page{hint}, expected {expected}")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: not valid UTF-8 at byte {exc.start}") from exc


def _require_columns(header: list[str], required: tuple[str, ...], dataset_id: str, location: str) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceFormatError(SOURCE, location,
                                f"{dataset_id}: missing required column(s) {missing}; expected {list(required)} "
                                f"among the columns, found {header}")


def record_count(values, dataset_id: str, location: str) -> int | None:
    """The one ``RECORD_COUNT`` of a page's rows (None for a page without rows or without the column)."""
    distinct = {str(v).strip() for v in values if v is not None and str(v).strip() != ""}
    if not distinct:
        return None
    if len(distinct) > 1:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: rows of one page disagree on {RECORD_COUNT}: "
                                                  f"{sorted(distinct)[:5]}")
    (text,) = distinct
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number.is_integer() or number < 0:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: {RECORD_COUNT} {text!r} is not a row count")
    return int(number)


def parse_csv_page(content: bytes, dataset_id: str, location: str,
                   required_columns: tuple[str, ...] = REQUIRED_COLUMNS) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) of one Nomis API CSV page; blank lines are skipped, ragged rows are errors."""
    text = _check_body(content, dataset_id, location, "a Nomis CSV with a header row")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [c.strip() for c in next(reader)]
        rows = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise SourceFormatError(SOURCE, location,
                                        f"{dataset_id}: line {reader.line_num} has {len(row)} fields, "
                                        f"expected {len(header)} as in the header")
            rows.append(row)
    except csv.Error as exc:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: not a readable CSV: {exc}") from exc
    _require_columns(header, required_columns, dataset_id, location)
    return header, rows


def _frame(header: list[str], rows: list[list[str]]) -> pl.DataFrame:
    columns = {name: [row[i] if row[i] != "" else None for row in rows] for i, name in enumerate(header)}
    return pl.DataFrame(columns, schema={name: pl.String for name in header})


def type_obs_value(frame: pl.DataFrame) -> pl.DataFrame:
    """OBS_VALUE text -> Float64 plus ``status`` (null for a number, else the text or 'missing')."""
    if "OBS_VALUE" not in frame.columns:  # a caller that did not require it, e.g. a geography-only query
        return frame
    raw = pl.col("OBS_VALUE").str.strip_chars()
    number = raw.cast(pl.Float64, strict=False)
    status = (pl.when(raw.is_null() | (raw == "")).then(pl.lit("missing"))
              .when(number.is_null() | number.is_nan()).then(raw)
              .otherwise(pl.lit(None, dtype=pl.String)))
    number = pl.when(number.is_nan()).then(None).otherwise(number)
    return frame.with_columns(number.alias("OBS_VALUE"), status.alias("status"))


def _coerce_json_value(value) -> tuple[float | None, str | None]:
    """Nomis JSON ``obs_value.value``: a number, a numeric string ("12") or a marker ("..")."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "missing"
    if isinstance(value, bool):
        return None, str(value)
    if isinstance(value, (int, float)):
        return float(value), None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return None, text
    return (None, text) if number != number else (number, None)


def parse_json_page(content: bytes, dataset_id: str, location: str, *, first_page: bool = True
                    ) -> tuple[list[str], list[dict]]:
    """(column names, flat rows) of one Nomis ``.data.json`` page.

    Each ``obs[]`` item is flattened to the CSV's names: a dimension ``{"value", "description"}`` becomes
    ``DIM`` and ``DIM_NAME``; geography also gives ``GEOGRAPHY_CODE`` (its ``geogcode``); ``obs_value``
    becomes ``OBS_VALUE`` (float) + ``status``.
    """
    text = _check_body(content, dataset_id, location, "Nomis JSON with an 'obs' list")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: expected a JSON object with an 'obs' list")
    if "error" in document:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: Nomis error: {document['error']}")
    obs = document.get("obs")
    if obs is None and not first_page:
        obs = []  # an exhausted offset can come back without 'obs'
    if not isinstance(obs, list):
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: no 'obs' list in the JSON "
                                                  f"(keys {sorted(document)})")
    names: list[str] = []
    rows: list[dict] = []
    for item in obs:
        if not isinstance(item, dict):
            raise SourceFormatError(SOURCE, location, f"{dataset_id}: an 'obs' item is not an object: {item!r:.80}")
        row: dict = {}
        for key, value in item.items():
            name = key.upper()
            if key == "obs_value":
                raw = value.get("value") if isinstance(value, dict) else value
                row["OBS_VALUE"], row["status"] = _coerce_json_value(raw)
            elif isinstance(value, dict):
                if "geogcode" in value:
                    row["GEOGRAPHY_CODE"] = _text(value.get("geogcode"))
                row[name] = _text(value.get("value"))
                if "description" in value:
                    row[f"{name}_NAME"] = _text(value.get("description"))
            else:
                row[name] = _text(value)
        for name in row:
            if name not in names:
                names.append(name)
        rows.append(row)
    return names, rows


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_frame(names: list[str], rows: list[dict]) -> pl.DataFrame:
    schema = {n: (pl.Float64 if n == "OBS_VALUE" else pl.String) for n in names}
    return pl.DataFrame({n: [row.get(n) for row in rows] for n in names}, schema=schema)


# --- live client -------------------------------------------------------------------------------------

class NomisClient:
    """Pages through ``{base}/dataset/{id}.data.csv|json`` (module docstring)."""

    def __init__(self, http: HttpClient | None = None, base: str | None = None, *,
                 page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES):
        self.http = http or HttpClient(SOURCE)
        self.base = (base or base_url(BASE_ENV, BASE_DEFAULT)).rstrip("/")
        self.page_size = page_size
        self.max_pages = max_pages

    def url(self, dataset_id: str, fmt: str) -> str:
        return f"{self.base}/dataset/{dataset_id}.data.{fmt}"

    def _page_through(self, dataset_id: str, fmt: str, params: Mapping,
                      parse: Callable[[bytes, str, int], tuple[object, int, int | None]]
                      ) -> tuple[list, list[str], list[bytes], int | None]:
        """Every page of one query: (parsed pages, page URLs, page bodies, RECORD_COUNT or None).

        ``parse(content, url, page)`` gives (parsed page, rows on it, the page's RECORD_COUNT or None).
        """
        # We own the paging parameters, whatever case the caller wrote them in.
        base_params = {k: v for k, v in params.items() if k.lower() not in _PAGING_KEYS}
        url = self.url(dataset_id, fmt)
        parsed, urls, bodies = [], [], []
        received, expected = 0, None
        for page in range(self.max_pages):
            # the next offset is what has arrived, not page * page_size: a server may cap a page below it
            fetched = self.http.get(url, params={**base_params, "recordlimit": self.page_size,
                                                 "RecordOffset": received})
            if bodies and fetched.content == bodies[-1]:
                raise SourceFormatError(SOURCE, fetched.url, f"{dataset_id}: page at RecordOffset={received} is "
                                                             "identical to the previous page (offset ignored?)")
            result, n_rows, count = parse(fetched.content, fetched.url, page)
            parsed.append(result)
            urls.append(fetched.url)
            bodies.append(fetched.content)
            if count is not None:
                if expected is not None and count != expected:
                    raise SourceFormatError(SOURCE, fetched.url,
                                            f"{dataset_id}: {RECORD_COUNT} changed from {expected} to {count} on "
                                            f"page {page + 1} (the dataset changed while it was being read?)")
                expected = count
            received += n_rows
            if n_rows == 0 or (expected is not None and received >= expected):
                break
        else:
            so_far = f"{received} rows so far" + (f" of {RECORD_COUNT} {expected}" if expected is not None else "")
            raise SourceFormatError(SOURCE, url, f"{dataset_id}: still rows after {self.max_pages} pages ({so_far})")
        if expected is not None and received != expected:
            raise SourceFormatError(
                SOURCE, urls[0],
                f"{dataset_id}: received {received} rows in {len(urls)} page(s) (last {urls[-1]}) but "
                f"{RECORD_COUNT} is {expected}: the answer is {'short' if received < expected else 'too long'} "
                "(a server row cap, or the data changed while paging); nothing returned")
        return parsed, urls, bodies, expected

    @staticmethod
    def _notes(height: int, pages: int, page_size: int, expected: int | None) -> list[str]:
        check = (f"{RECORD_COUNT} {expected} matched" if expected is not None
                 else f"no {RECORD_COUNT} in the answer: paged until an empty page")
        return [f"{height} rows in {pages} page(s) (asked for up to {page_size} a page); {check}"]

    def fetch_csv(self, dataset_id: str, params: Mapping,
                  required_columns: tuple[str, ...] = REQUIRED_COLUMNS) -> Pull:
        header: list[str] | None = None

        def parse(content: bytes, url: str, page: int):
            nonlocal header
            page_header, rows = parse_csv_page(content, dataset_id, url, required_columns)
            if header is not None and page_header != header:
                raise SourceFormatError(SOURCE, url, f"{dataset_id}: header changed on page {page + 1}: "
                                                     f"expected {header}, got {page_header}")
            header = page_header
            upper = [c.upper() for c in page_header]
            count = (record_count([row[upper.index(RECORD_COUNT)] for row in rows], dataset_id, url)
                     if RECORD_COUNT in upper else None)
            return rows, len(rows), count

        pages, urls, bodies, expected = self._page_through(dataset_id, "csv", params, parse)
        frame = type_obs_value(_frame(header, [row for rows in pages for row in rows]))
        return Pull(SOURCE, dataset_id, urls, sha256_chunks(bodies), frame, "live", pages=len(urls),
                    notes=self._notes(frame.height, len(urls), self.page_size, expected))

    def fetch_json(self, dataset_id: str, params: Mapping,
                   required_columns: tuple[str, ...] = REQUIRED_COLUMNS) -> Pull:
        names: list[str] = []

        def parse(content: bytes, url: str, page: int):
            page_names, rows = parse_json_page(content, dataset_id, url, first_page=page == 0)
            if rows:
                if names and set(page_names) != set(names):
                    raise SourceFormatError(SOURCE, url, f"{dataset_id}: fields changed on page {page + 1}: "
                                                         f"expected {names}, got {page_names}")
                if not names:
                    _require_columns(page_names, required_columns, dataset_id, url)
                    names.extend(page_names)
            count = (record_count([row.get(RECORD_COUNT) for row in rows], dataset_id, url)
                     if RECORD_COUNT in page_names else None)
            return rows, len(rows), count

        pages, urls, bodies, expected = self._page_through(dataset_id, "json", params, parse)
        columns = names or [*required_columns, "status"]
        frame = _json_frame(columns, [row for rows in pages for row in rows])
        return Pull(SOURCE, dataset_id, urls, sha256_chunks(bodies), frame, "live", pages=len(urls),
                    notes=self._notes(frame.height, len(urls), self.page_size, expected))


# --- bundled files -----------------------------------------------------------------------------------

def read_csv_snapshot(path: Path, dataset_id: str,
                      required_columns: tuple[str, ...] = REQUIRED_COLUMNS) -> Pull:
    """A saved Nomis API CSV (``.data.csv`` / ``select=`` layout) through the live parser."""
    path = Path(path)
    content = path.read_bytes()
    header, rows = parse_csv_page(content, dataset_id, str(path), required_columns)
    frame = type_obs_value(_frame(header, rows))
    return Pull(SOURCE, dataset_id, [str(path)], sha256_chunks([content]), frame, "snapshot")


_GSS = re.compile(r"^[EWSNKJLM]\d{8}$")


def read_web_download(path: Path, dataset_id: str) -> Pull:
    """A nomisweb.co.uk web download: title block, one header row, the table, then notes.

    The table is wide (one column per category, each count followed by a ``%`` column); it is returned
    long, in the API's names, so it meets the same checks: ``GEOGRAPHY_NAME``, ``GEOGRAPHY_CODE`` (the
    ``mnemonic`` column), ``GEOGRAPHY_TYPE`` (the first header cell, e.g. "2021 super output area -
    middle layer"), ``DATE_NAME`` (the title block's "Date"), ``CELL_NAME`` (the category), ``MEASURES_NAME``
    ("Value" or "Percent"), ``OBS_VALUE`` (Float64) and ``status``. Only the first table of a file is read.
    """
    path = Path(path)
    location = str(path)
    content = path.read_bytes()
    text = _check_body(content, dataset_id, location, "a Nomis web download (title block, header, table)")
    try:
        rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: not a readable CSV: {exc}") from exc

    def blank(row: list[str]) -> bool:
        return not any(row)

    # The header is the first row as wide as the table: the width most rows with 3+ filled cells share.
    widths = [len(r) for r in rows if sum(1 for c in r if c) >= 3]
    if not widths:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: no table found, expected a header row and data")
    width = max(set(widths), key=widths.count)
    header_at = next(i for i, r in enumerate(rows) if len(r) == width and sum(1 for c in r if c) >= 3)
    header = rows[header_at]
    title = {r[0].rstrip(": ").strip().lower(): r[1] for r in rows[:header_at] if len(r) >= 2 and r[0].endswith(":")}

    start = header_at + 1
    while start < len(rows) and blank(rows[start]):
        start += 1
    end = start
    while end < len(rows) and not blank(rows[end]):
        if len(rows[end]) != width:
            raise SourceFormatError(SOURCE, location, f"{dataset_id}: table row {end + 1} has {len(rows[end])} "
                                                      f"fields, expected {width} as in the header (row {header_at + 1})")
        end += 1
    data = rows[start:end]
    if not data:
        raise SourceFormatError(SOURCE, location, f"{dataset_id}: header found on row {header_at + 1} but no data rows")

    lowered = [h.lower() for h in header]
    if "mnemonic" in lowered:
        code_at = lowered.index("mnemonic")
    else:  # no mnemonic column: the column of GSS codes
        code_at = next((j for j in range(width) if sum(bool(_GSS.match(r[j])) for r in data) >= 0.9 * len(data)), None)
        if code_at is None:
            raise SourceFormatError(SOURCE, location, f"{dataset_id}: no 'mnemonic' or GSS-code column in {header}")
    name_at = 0 if code_at != 0 else 1

    value_columns: list[tuple[int, str, str]] = []  # (index, CELL_NAME, MEASURES_NAME)
    last_cell = None
    for j, name in enumerate(header):
        if j in (code_at, name_at):
            continue
        if name == "%":
            if last_cell is None:
                raise SourceFormatError(SOURCE, location, f"{dataset_id}: a '%' column with no category before it")
            value_columns.append((j, last_cell, "Percent"))
        else:
            last_cell = name
            value_columns.append((j, name, "Value"))

    records = {k: [] for k in ("GEOGRAPHY_NAME", "GEOGRAPHY_CODE", "CELL_NAME", "MEASURES_NAME", "OBS_VALUE")}
    for row in data:
        for j, cell, measure in value_columns:
            records["GEOGRAPHY_NAME"].append(row[name_at])
            records["GEOGRAPHY_CODE"].append(row[code_at])
            records["CELL_NAME"].append(cell)
            records["MEASURES_NAME"].append(measure)
            records["OBS_VALUE"].append(row[j] or None)
    frame = pl.DataFrame(records, schema={k: pl.String for k in records}).with_columns(
        pl.lit(header[name_at], dtype=pl.String).alias("GEOGRAPHY_TYPE"),
        pl.lit(title.get("date"), dtype=pl.String).alias("DATE_NAME"),
    ).select("GEOGRAPHY_NAME", "GEOGRAPHY_CODE", "GEOGRAPHY_TYPE", "DATE_NAME", "CELL_NAME", "MEASURES_NAME",
             "OBS_VALUE")
    frame = type_obs_value(frame)
    _require_columns(frame.columns, REQUIRED_COLUMNS, dataset_id, location)

    titles = [r[0] for r in rows[:header_at] if len(r) == 1 and r[0]]
    notes = [f"web download: {len(data)} areas x {len(value_columns)} cells; title block and "
             f"{sum(1 for r in rows[end:] if not blank(r))} note line(s) dropped"]
    notes += [f"title: {t}" for t in titles] + [f"{k}: {v}" for k, v in title.items()]
    return Pull(SOURCE, dataset_id, [location], sha256_chunks([content]), frame, "snapshot", notes=notes)
