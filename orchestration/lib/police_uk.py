"""Parser for data.police.uk street-level crime files (``YYYY-MM-<force>-street.csv``).

The monthly archive holds one CSV per force per month. Real quirks this parser accepts (and tests
cover): anti-social behaviour rows have no Crime ID; some rows have no location ("No Location",
empty coordinates and LSOA); forces near the border carry English (E01) LSOAs; files from 2022 mix
2011 and 2021 LSOA codes; the Context column is empty.

Anything else unexpected is an error that names the file, the row (1-based line number in the file,
header = line 1), the column, the value and what was expected. A file with any error is rejected
whole: the caller must not load part of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

EXPECTED_COLUMNS = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
]

# data.police.uk's street-level crime categories (https://data.police.uk/docs/method/crime-categories/).
CRIME_TYPES = frozenset(
    {
        "Anti-social behaviour",
        "Bicycle theft",
        "Burglary",
        "Criminal damage and arson",
        "Drugs",
        "Other crime",
        "Other theft",
        "Possession of weapons",
        "Public order",
        "Robbery",
        "Shoplifting",
        "Theft from the person",
        "Vehicle crime",
        "Violence and sexual offences",
    }
)

FILE_NAME = re.compile(r"^(?P<month>\d{4}-\d{2})-(?P<force>[a-z-]+)-street\.csv$")
LSOA_CODE = r"^[EW]01\d{6}$"
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
# Generous box around England and Wales; police.uk snap points are all inside it.
LON_RANGE = (-7.0, 2.5)
LAT_RANGE = (49.5, 56.0)
MAX_REPORTED_ERRORS = 25

OUTPUT_SCHEMA = {
    "source_file": pl.String,
    "source_row": pl.Int64,
    "crime_id": pl.String,
    "month": pl.String,
    "reported_by": pl.String,
    "falls_within": pl.String,
    "longitude": pl.Float64,
    "latitude": pl.Float64,
    "location": pl.String,
    "lsoa_code": pl.String,
    "lsoa_name": pl.String,
    "crime_type": pl.String,
    "last_outcome_category": pl.String,
    "context": pl.String,
}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str | None
    expected: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: got {self.value!r}, expected {self.expected}"


class PoliceUkParseError(ValueError):
    """A street-level file that must not be loaded; ``errors`` lists what is wrong, row by row."""

    def __init__(self, path: Path, errors: list[RowError] | None = None, problem: str | None = None):
        self.path = Path(path)
        self.errors = errors or []
        self.problem = problem
        lines = [f"{self.path.name}: rejected, nothing loaded"]
        if problem:
            lines.append(problem)
        shown = self.errors[:MAX_REPORTED_ERRORS]
        lines += [str(e) for e in shown]
        if len(self.errors) > len(shown):
            lines.append(f"... and {len(self.errors) - len(shown)} more row errors")
        super().__init__("\n".join(lines))


def month_index(month: str) -> int:
    """``YYYY-MM`` as a count of months (consecutive months differ by 1); ``month_label`` turns it back."""
    year, mon = map(int, month.split("-"))
    return year * 12 + mon


def month_label(index: int) -> str:
    return f"{(index - 1) // 12:04d}-{(index - 1) % 12 + 1:02d}"


def month_from_filename(path: Path) -> tuple[str, str]:
    """('2024-06', 'gwent') from '2024-06-gwent-street.csv'."""
    match = FILE_NAME.match(Path(path).name)
    if not match:
        raise PoliceUkParseError(
            path, problem="file name: expected YYYY-MM-<force>-street.csv as in the police.uk archive"
        )
    return match["month"], match["force"]


def parse_street_file(path: Path, expected_month: str | None = None) -> pl.DataFrame:
    """Read and validate one street-level file; return typed rows (see OUTPUT_SCHEMA).

    ``expected_month`` (YYYY-MM) defaults to the month in the file name; every row's Month must equal
    it, so a file filed under the wrong month is caught before it replaces that month's data.
    """
    path = Path(path)
    file_month, _force = month_from_filename(path)
    expected_month = expected_month or file_month
    if expected_month != file_month:
        raise PoliceUkParseError(
            path, problem=f"file name says {file_month} but partition {expected_month} was requested"
        )
    raw_bytes = path.read_bytes()
    if not raw_bytes.strip():
        raise PoliceUkParseError(path, problem="file is empty")
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PoliceUkParseError(
            path, problem=f"not valid UTF-8 at byte {exc.start}: expected a UTF-8 CSV from data.police.uk"
        ) from exc
    head = text.lstrip()[:200].lower()
    if head.startswith("<!doctype html") or head.startswith("<html"):
        raise PoliceUkParseError(path, problem="got an HTML page, expected CSV (an error page saved as data?)")
    if not text.endswith("\n"):
        # police.uk files end with a newline; a missing one means the download was cut off mid-row.
        raise PoliceUkParseError(path, problem="file does not end with a newline: truncated download?")

    try:
        df = pl.read_csv(
            text.encode("utf-8"),
            infer_schema=False,
            has_header=True,
            raise_if_empty=True,
        )
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise PoliceUkParseError(path, problem=f"not a readable CSV: {exc}") from exc

    missing = [c for c in EXPECTED_COLUMNS if c not in df.columns]
    unexpected = [c for c in df.columns if c not in EXPECTED_COLUMNS]
    if missing or unexpected:
        raise PoliceUkParseError(
            path,
            problem=(
                f"header: missing columns {missing}, unexpected columns {unexpected}; "
                f"expected exactly {EXPECTED_COLUMNS}"
            ),
        )

    # Line numbers as a spreadsheet user sees them: header is line 1.
    df = df.with_row_index("source_row", offset=2).with_columns(pl.col("source_row").cast(pl.Int64))
    # Excel saves trailing blank rows as ",,,,,"; drop rows where every field is empty.
    df = df.filter(~pl.all_horizontal([pl.col(c).is_null() for c in EXPECTED_COLUMNS]))
    df = df.with_columns([pl.col(c).str.strip_chars() for c in EXPECTED_COLUMNS])
    df = df.with_columns([pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in EXPECTED_COLUMNS])
    if df.height == 0:
        raise PoliceUkParseError(path, problem="no data rows")

    lon = pl.col("Longitude").cast(pl.Float64, strict=False)
    lat = pl.col("Latitude").cast(pl.Float64, strict=False)
    checks: list[tuple[str, pl.Expr, str]] = [
        ("Month", pl.col("Month").is_null() | ~pl.col("Month").str.contains(MONTH), "a month YYYY-MM"),
        ("Month", pl.col("Month") != expected_month, f"{expected_month} (the file's month)"),
        ("Crime type", pl.col("Crime type").is_null() | ~pl.col("Crime type").is_in(list(CRIME_TYPES)),
         "one of the police.uk crime categories"),
        ("Crime ID", pl.col("Crime ID").is_null() & (pl.col("Crime type") != "Anti-social behaviour"),
         "a Crime ID (only anti-social behaviour rows may lack one)"),
        ("Longitude", pl.col("Longitude").is_not_null() & lon.is_null(), "a decimal longitude or empty"),
        ("Latitude", pl.col("Latitude").is_not_null() & lat.is_null(), "a decimal latitude or empty"),
        ("Longitude", lon.is_not_null() & ~lon.is_between(*LON_RANGE),
         f"a longitude in England and Wales ({LON_RANGE[0]} to {LON_RANGE[1]})"),
        ("Latitude", lat.is_not_null() & ~lat.is_between(*LAT_RANGE),
         f"a latitude in England and Wales ({LAT_RANGE[0]} to {LAT_RANGE[1]})"),
        ("Latitude", pl.col("Longitude").is_null() != pl.col("Latitude").is_null(),
         "both coordinates or neither"),
        ("LSOA code", pl.col("LSOA code").is_not_null() & ~pl.col("LSOA code").str.contains(LSOA_CODE),
         "an LSOA code like W01001234 or E01012345, or empty"),
        ("LSOA code", pl.col("LSOA code").is_not_null() & pl.col("Longitude").is_null(),
         "empty when the row has no location"),
    ]
    # one pass over the rows says which checks fail at all (none, in a good file); only those list their rows
    failing_checks = df.select(bad.fill_null(False).any().alias(str(i)) for i, (_, bad, _) in enumerate(checks)).row(0)
    errors: list[RowError] = []
    for (column, bad, expected), fails in zip(checks, failing_checks):
        if not fails:
            continue
        failing = df.filter(bad.fill_null(False)).select("source_row", column)
        for row, value in failing.iter_rows():
            errors.append(RowError(row=row, column=column, value=value, expected=expected))
    if errors:
        errors.sort(key=lambda e: (e.row, e.column))
        raise PoliceUkParseError(path, errors)

    return df.select(
        pl.lit(path.name).alias("source_file"),
        pl.col("source_row"),
        pl.col("Crime ID").alias("crime_id"),
        pl.col("Month").alias("month"),
        pl.col("Reported by").alias("reported_by"),
        pl.col("Falls within").alias("falls_within"),
        lon.alias("longitude"),
        lat.alias("latitude"),
        pl.col("Location").alias("location"),
        pl.col("LSOA code").alias("lsoa_code"),
        pl.col("LSOA name").alias("lsoa_name"),
        pl.col("Crime type").alias("crime_type"),
        pl.col("Last outcome category").alias("last_outcome_category"),
        pl.col("Context").alias("context"),
    )
