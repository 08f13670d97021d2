"""Which partner sent a file and which period it covers: from its name, its folder or its rows.

A file's name is never a reason to refuse it (issue: partners name files as they like):
- **partner**: from a name that follows the convention ``<partner>_<period>[_<anything>]`` (read leniently:
  ``Gwent Police 2024 Q2.csv``), else from the partner sub-folder it was dropped in
  (``landing/incidents/gwent-police/May.xlsx``), else unknown. Never from a cell: cell values stay out of
  logs and the register.
- **period**: from the name when it has one (a year, quarter or month); else from the rows' dates: the
  month, quarter or year that holds them all, or a month range (``2023-01..2024-06``).
- **covered span** (``period_start`` .. ``period_end``): the period, widened to every row's date where rows
  fall outside it. Registers (CIAs, risks) are snapshots: rows raised before the period are normal, so only
  the end widens. A tension assessment covers its own ``period_start`` .. ``period_end``, so a ratings file
  spans the periods its rows name.

Identity: a later file with the same extract type, partner and period **supersedes** an earlier one. A file
whose partner is unknown supersedes only an earlier read of the same file (same landing path and period: a copy
completed after a partial read), never another unnamed file (two may come from different partners).
No Dagster imports.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from orchestration.lib.partner_extracts import contracts as c

UNKNOWN_PARTNER = "unknown"


@dataclass(frozen=True)
class Period:
    label: str  # 2024, 2024-Q2, 2024-05 or 2023-01..2024-06
    start: date
    end: date


@dataclass(frozen=True)
class FileIdentity:
    partner: str
    partner_from: str  # file_name | folder | unknown
    period: str
    period_from: str  # file_name | rows
    period_start: date  # the span the rows cover (the period, widened to the rows)
    period_end: date
    rows_outside_period: int  # rows dated outside a period taken from the name (incidents, reports)

    def describe(self) -> str:
        """How partner and period were derived, in words (no cell values)."""
        partner = {"file_name": "from the file name", "folder": "from the partner folder",
                   "unknown": "unknown (not in the file name and no partner folder): it replaces only an earlier "
                              "read of the same file"}
        period = {"file_name": "from the file name", "rows": "from the dates in the rows"}
        text = f"partner {self.partner} {partner[self.partner_from]}; period {self.period} {period[self.period_from]}"
        if self.rows_outside_period:
            text += (f"; {self.rows_outside_period} row(s) dated outside that period, so the file covers "
                     f"{self.period_start} to {self.period_end}")
        return text


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")


def _named_period(match: re.Match) -> Period:
    year = int(match["year"])
    if match["quarter"]:
        quarter = int(match["quarter"])
        return Period(f"{year}-Q{quarter}", date(year, 3 * quarter - 2, 1),
                      date(year, 3 * quarter, monthrange(year, 3 * quarter)[1]))
    if match["month"]:
        month = int(match["month"])
        return Period(f"{year}-{month:02d}", date(year, month, 1), date(year, month, monthrange(year, month)[1]))
    return Period(str(year), date(year, 1, 1), date(year, 12, 31))


def from_file_name(file_name: str) -> tuple[str | None, Period | None]:
    """(partner, period) when the name follows the convention, else (None, None)."""
    match = c.FILE_NAME.match(Path(file_name).stem.lower().strip())
    if not match or (match["month"] and not 1 <= int(match["month"]) <= 12):
        return None, None
    return slug(match["partner"]) or None, _named_period(match)


def covering_period(first: date, last: date) -> Period:
    """The month, quarter or year holding first..last, else a month range."""
    if (first.year, first.month) == (last.year, last.month):
        return Period(f"{first.year}-{first.month:02d}", first.replace(day=1),
                      last.replace(day=monthrange(last.year, last.month)[1]))
    if first.year == last.year and (first.month - 1) // 3 == (last.month - 1) // 3:
        quarter = (first.month - 1) // 3 + 1
        return Period(f"{first.year}-Q{quarter}", date(first.year, 3 * quarter - 2, 1),
                      date(first.year, 3 * quarter, monthrange(first.year, 3 * quarter)[1]))
    if first.year == last.year:
        return Period(str(first.year), date(first.year, 1, 1), date(first.year, 12, 31))
    return Period(f"{first.year}-{first.month:02d}..{last.year}-{last.month:02d}", first.replace(day=1),
                  last.replace(day=monthrange(last.year, last.month)[1]))


def _row_span(extract: c.ExtractType, row: dict) -> tuple[date, date] | None:
    """The days a row belongs to."""
    if extract.name == "tension_assessments":
        start, end = row.get("period_start"), row.get("period_end")
        return (start, end) if isinstance(start, date) and isinstance(end, date) else None
    if extract.name == "incidents":
        days = [d for d in (row.get("occurred_on"), row.get("reported_on")) if isinstance(d, date)]
        return (min(days), max(days)) if days else None
    day = row.get(extract.period_date)
    return (day, day) if isinstance(day, date) else None


def identify(extract: c.ExtractType, file_name: str, partner_folder: str | None, rows: list[dict]) -> FileIdentity | None:
    """Partner, period and covered span of a validated file; None when neither the name nor a row dates it."""
    named_partner, named_period = from_file_name(file_name)
    if named_partner:
        partner, partner_from = named_partner, "file_name"
    elif partner_folder and slug(partner_folder):
        partner, partner_from = slug(partner_folder), "folder"
    else:
        partner, partner_from = UNKNOWN_PARTNER, "unknown"

    spans = [s for s in (_row_span(extract, row) for row in rows) if s]
    if named_period is None:
        if not spans:
            return None
        period = covering_period(min(s[0] for s in spans), max(s[1] for s in spans))
        return FileIdentity(partner, partner_from, period.label, "rows", period.start, period.end, 0)

    start, end = named_period.start, named_period.end
    outside = 0
    for first, last in spans:
        if extract.is_register:
            end = max(end, last)  # a register row raised before the period is normal: only a later one widens
            continue
        if extract.name == "incidents":
            inside = named_period.start <= last and first <= named_period.end  # occurred or reported inside
        else:
            inside = named_period.start <= first and last <= named_period.end
        if not inside and extract.name != "tension_assessments":
            outside += 1
        start, end = min(start, first), max(end, last)
    return FileIdentity(partner, partner_from, named_period.label, "file_name", start, end, outside)
