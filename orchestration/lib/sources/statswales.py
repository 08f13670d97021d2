"""StatsWales (Welsh Government) OData v3 client, and a reader for the website's "Download CSV" export.

Live: ``StatsWalesClient.fetch`` GETs ``{base}/{dataset_id}`` (optionally with ``$filter``) and follows
``odata.nextLink`` to the end. The service writes nextLink as an absolute URL on its own host, so a link
to another host than ``base`` is rebased onto ``base`` (a mirror or test server keeps serving every page).
A nextLink seen twice, or more than ``max_pages`` pages, is a ``SourceFormatError``: a server that loops
must not hang the run.

``parse_odata_page`` is the one parser for live pages and bundled response files. Output frame (one row
per observation): every field of the response as published (dimension ``*_Code``, ``*_ItemName_ENG``,
``*_Hierarchy``, ``*_ItemNotes_ENG``, ``RowKey``, ``PartitionKey`` ...) as String, except ``*_SortOrder``
(Int64), plus ``data`` (Float64; replaces the published ``Data``) and ``data_status`` (null where
``data`` is a number; else a code from ``MARKERS``). Codes, names and hierarchy codes lose their
trailing spaces (StatsWales pads some, e.g. "Isle of Anglesey "), so they join to ONS codes.

``read_snapshot`` reads bundled response file(s) through the same parser; when the last file still has a
nextLink the ``Pull.notes`` say the snapshot is partial. ``read_web_export`` parses the website export
(banner, filters, header row(s), hierarchical row labels, markers, footnotes and metadata footer).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import polars as pl

from orchestration.lib.http import HttpClient, SourceFormatError, looks_like_html
from orchestration.lib.sources.base import Pull, base_url, sha256_chunks

SOURCE = "statswales"
BASE_ENV = "STATSWALES_API_URL"
BASE_DEFAULT = "http://open.statswales.gov.wales/en-gb/dataset"
MAX_PAGES = 1000  # 1,000 rows a page: a million rows, far beyond any dataset we load

# What a non-numeric value means. The classic StatsWales symbols: ".." "The data item is not available";
# "." "The data item is not applicable" (wording as in the footer of the bundled NSW web export);
# "*" the data item is confidential / disclosive or not robust enough to publish (suppressed);
# "-" nil, or rounds to zero. Only "."'s wording appears in the bundled files; the others follow
# StatsWales footnotes as we know them. The new StatsWales service (stats.gov.wales/en-GB/shorthand)
# uses letters instead: x not available, z not applicable, c confidential, k low figure that rounds
# to zero, w none recorded in survey; they are mapped too when they stand alone in a cell.
MARKERS = {
    "..": "not_available", "x": "not_available",
    ".": "not_applicable", "z": "not_applicable",
    "*": "confidential", "c": "confidential",
    "-": "nil_or_rounds_to_zero", "k": "nil_or_rounds_to_zero",
    "w": "none_recorded",
    "": "missing",
}
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_STRIPPED = re.compile(r"_(Code|AltCode\d*|ItemName_[A-Z]{3}|Hierarchy)$")
_SORT = re.compile(r"_SortOrder$")


def coerce_value(value) -> tuple[float | None, str | None]:
    """A published value -> (number, status): (12.5, None), (None, 'not_available') for '..' ...

    Unknown text becomes ``'unrecognised:<text>'`` rather than failing the whole dataset.
    """
    if value is None:
        return None, "missing"
    if isinstance(value, bool):
        return None, f"unrecognised:{value}"
    if isinstance(value, (int, float)):
        return (None, "missing") if value != value else (float(value), None)
    text = str(value).strip()
    if _NUMBER.match(text):
        return float(text), None
    if _THOUSANDS.match(text):
        return float(text.replace(",", "")), None
    if text in MARKERS:
        return None, MARKERS[text]
    return None, f"unrecognised:{text}"


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # e.g. Year_Code 2002.0 -> "2002"
    return str(value)


def _sort_order(value, key: str, location: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SourceFormatError(SOURCE, location, f"{key} is {value!r}, expected a whole number") from None
    if not number.is_integer():
        raise SourceFormatError(SOURCE, location, f"{key} is {value!r}, expected a whole number")
    return int(number)


def parse_odata_page(content: bytes, url: str, dataset_id: str | None = None) -> tuple[list[dict], str | None]:
    """(rows, next_link) of one OData v3 page (JSON light ``value``/``odata.nextLink``, or verbose ``d``).

    Rows are typed as in the module docstring. An HTML page, an empty body, bad JSON, no ``value`` list
    or an ``odata.metadata`` for another dataset is a ``SourceFormatError``.
    """
    if not content.strip():
        raise SourceFormatError(SOURCE, url, "empty body, expected an OData JSON page with a 'value' list")
    if looks_like_html(content):
        raise SourceFormatError(SOURCE, url, "got an HTML page, expected an OData JSON page with a 'value' list")
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceFormatError(SOURCE, url, f"not valid JSON: {exc}") from exc
    if isinstance(document, dict) and isinstance(document.get("d"), dict):  # OData v2/verbose layout
        document = {"value": document["d"].get("results"), "odata.nextLink": document["d"].get("__next")}
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        error = document.get("odata.error") if isinstance(document, dict) else None
        detail = f": {error}" if error else ""
        raise SourceFormatError(SOURCE, url, f"no 'value' list in the OData response{detail}")
    metadata = document.get("odata.metadata")
    if dataset_id and isinstance(metadata, str) and "#" in metadata:
        served = metadata.rsplit("#", 1)[1].split("/")[0]
        if served.lower() != dataset_id.lower():
            raise SourceFormatError(SOURCE, url, f"odata.metadata names dataset {served!r}, expected {dataset_id!r}")

    rows = []
    for index, item in enumerate(document["value"]):
        if not isinstance(item, dict) or "Data" not in item:
            raise SourceFormatError(SOURCE, url, f"value[{index}] has no 'Data' field: {item!r:.120}")
        row: dict = {}
        for key, value in item.items():
            if key == "Data":
                continue
            if _SORT.search(key):
                row[key] = _sort_order(value, key, url)
            else:
                text = _text(value)
                row[key] = text.rstrip() if text is not None and _STRIPPED.search(key) else text
        row["data"], row["data_status"] = coerce_value(item["Data"])
        rows.append(row)
    next_link = document.get("odata.nextLink") or None
    return rows, next_link


def odata_frame(rows: list[dict]) -> pl.DataFrame:
    """Rows from ``parse_odata_page`` as a frame (columns in first-seen order, data/data_status last)."""
    names: list[str] = []
    for row in rows:
        for key in row:
            if key not in names and key not in ("data", "data_status"):
                names.append(key)
    names += ["data", "data_status"]
    schema = {n: pl.Int64 if _SORT.search(n) else pl.Float64 if n == "data" else pl.String for n in names}
    return pl.DataFrame({n: [row.get(n) for row in rows] for n in names}, schema=schema)


class StatsWalesClient:
    """Follows ``odata.nextLink`` through a StatsWales OData dataset (module docstring)."""

    def __init__(self, http: HttpClient | None = None, base: str | None = None, *, max_pages: int = MAX_PAGES):
        self.http = http or HttpClient(SOURCE)
        self.base = (base or base_url(BASE_ENV, BASE_DEFAULT)).rstrip("/")
        self.max_pages = max_pages

    def rebase(self, link: str) -> str:
        """``link`` on ``base``'s scheme/host (and path root) when it names another host."""
        target = urlsplit(urljoin(self.base + "/", link))
        base = urlsplit(self.base)
        if (target.scheme, target.netloc) == (base.scheme, base.netloc):
            return urlunsplit(target)
        # Keep the part of the path below the service root (".../en-gb/dataset/<id>" -> "<id>").
        upstream_root = urlsplit(BASE_DEFAULT).path.rstrip("/")
        path = target.path
        tail = path[len(upstream_root):] if path.startswith(upstream_root + "/") else "/" + path.rsplit("/", 1)[-1]
        return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + tail, target.query, ""))

    def fetch(self, dataset_id: str, filter: str | None = None) -> Pull:  # noqa: A002 (OData's name)
        url: str = f"{self.base}/{dataset_id}"
        params = {"$filter": filter} if filter else None
        rows: list[dict] = []
        urls, bodies, seen = [], [], set()
        while True:
            fetched = self.http.get(url, params=params)
            page_rows, next_link = parse_odata_page(fetched.content, fetched.url, dataset_id)
            rows += page_rows
            urls.append(fetched.url)
            bodies.append(fetched.content)
            if not next_link:
                break
            if next_link in seen:
                raise SourceFormatError(SOURCE, fetched.url, f"{dataset_id}: odata.nextLink {next_link} came back "
                                                             f"a second time (page {len(urls)}); the paging loops")
            if len(urls) >= self.max_pages:
                raise SourceFormatError(SOURCE, fetched.url, f"{dataset_id}: still a nextLink after "
                                                             f"{self.max_pages} pages")
            seen.add(next_link)
            url, params = self.rebase(next_link), None  # the nextLink carries $filter and $skiptoken
        frame = odata_frame(rows)
        return Pull(SOURCE, dataset_id, urls, sha256_chunks(bodies), frame, "live", pages=len(urls),
                    notes=[f"{frame.height} rows in {len(urls)} page(s)"])


def read_snapshot(paths: list[Path], dataset_id: str) -> Pull:
    """Bundled OData response file(s), in page order, through ``parse_odata_page``."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_snapshot needs at least one file")
    rows: list[dict] = []
    bodies = []
    next_link = None
    for number, path in enumerate(paths, start=1):
        if number > 1 and not next_link:
            raise SourceFormatError(SOURCE, str(paths[number - 2]), f"{dataset_id}: page {number - 1} has no "
                                                                    f"nextLink but {len(paths) - number + 1} more file(s) follow")
        content = path.read_bytes()
        page_rows, next_link = parse_odata_page(content, str(path), dataset_id)
        rows += page_rows
        bodies.append(content)
    notes = []
    if next_link:
        held = "page 1" if len(paths) == 1 else f"pages 1-{len(paths)}"
        notes.append(f"partial snapshot: holds {held} of more ({len(rows)} rows); the last page still has "
                     f"odata.nextLink {next_link}")
    return Pull(SOURCE, dataset_id, [str(p) for p in paths], sha256_chunks(bodies), odata_frame(rows), "snapshot",
                pages=len(paths), notes=notes)


# --- the website's "Download CSV" export ----------------------------------------------------------------

def _is_number(cell: str) -> bool:
    return bool(_NUMBER.match(cell) or _THOUSANDS.match(cell))


def _value_like(cell: str) -> bool:
    return _is_number(cell) or cell in MARKERS


def _fill_levels(levels: list[str], previous: list[str]) -> list[str]:
    # Crosstab labels are printed only where they change: cells left of the first printed label repeat
    # the previous line's; cells right of it are as printed (a new parent resets its children).
    first = next((i for i, cell in enumerate(levels) if cell), len(levels))
    return previous[:first] + levels[first:]


def read_web_export(path: Path) -> pl.DataFrame:
    """A StatsWales website CSV export as a long frame.

    Handles the breadcrumb/title/"Filters:" banner, one or more header rows, row labels over several
    columns (printed only where they change), ``..``/``.``/``*``/``-`` markers, trailing spaces, and the
    "Footnotes:"/"Metadata:" footer, which is dropped. Columns: ``row_level_1..k`` (the row label path),
    ``row_label`` (its deepest label), ``column`` (the column header path joined with " / "), ``data``
    (Float64) and ``data_status`` (as for the OData frame). Raises ``SourceFormatError`` when no table
    is found.
    """
    path = Path(path)
    location = str(path)
    content = path.read_bytes()
    if not content.strip():
        raise SourceFormatError(SOURCE, location, "empty file, expected a StatsWales CSV export")
    if looks_like_html(content):
        raise SourceFormatError(SOURCE, location, "got an HTML page, expected a StatsWales CSV export")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252")  # older exports are Windows-1252
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""))]

    def blank(row: list[str]) -> bool:
        return not any(row)

    def numeric_row(row: list[str]) -> bool:  # a label, then a number somewhere to its right
        label_at = next((i for i, c in enumerate(row) if c and not _value_like(c)), None)
        return label_at is not None and any(_is_number(c) for c in row[label_at + 1:])

    first = next((i for i, r in enumerate(rows) if numeric_row(r)), None)
    if first is None:
        raise SourceFormatError(SOURCE, location, "no table found: no row with a label and a number")
    end = first
    while end < len(rows) and not blank(rows[end]):
        end += 1
    # Width of the row-label block: right of the last text cell in any data row.
    k = max(max((i + 1 for i, c in enumerate(r) if c and not _value_like(c)), default=0) for r in rows[first:end])

    start, header_rows = first, []
    i = first - 1
    while i >= 0 and not blank(rows[i]):
        row = rows[i]
        if not header_rows and any(row[:k]) and any(row[k:]) and all(_value_like(c) or not c for c in row[k:]):
            start = i  # a section row above the first number (e.g. "Alcohol ,,.,.,."): data
        elif not any(row[:k]):
            header_rows.insert(0, row)
        else:
            break
        i -= 1
    if not header_rows:
        raise SourceFormatError(SOURCE, location, f"no header row above the table (row {first + 1})")

    width = max(len(r) for r in rows[start:end] + header_rows)
    pad = lambda r: r + [""] * (width - len(r))  # noqa: E731
    header_rows = [pad(r) for r in header_rows]
    data = [pad(r) for r in rows[start:end]]

    columns: dict[int, str] = {}
    previous: list[str] = [""] * len(header_rows)
    for j in range(k, width):
        levels = _fill_levels([h[j] for h in header_rows], previous)
        previous = levels
        label = " / ".join(p for p in levels if p and p not in MARKERS)
        if label or any(r[j] for r in data):
            columns[j] = label

    out = {f"row_level_{n + 1}": [] for n in range(k)}
    out.update(row_label=[], column=[], data=[], data_status=[])
    path_above: list[str] = [""] * k
    for row in data:
        levels = _fill_levels(row[:k], path_above)
        path_above = levels
        deepest = next((c for c in reversed(levels) if c), None)
        for j, label in columns.items():
            for n in range(k):
                out[f"row_level_{n + 1}"].append(levels[n] or None)
            out["row_label"].append(deepest)
            out["column"].append(label)
            number, status = coerce_value(row[j])
            out["data"].append(number)
            out["data_status"].append(status)
    schema = {name: pl.Float64 if name == "data" else pl.String for name in out}
    return pl.DataFrame(out, schema=schema)
