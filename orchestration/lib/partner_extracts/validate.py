"""Validate a partner file row by row against its contract (contracts.py).

Every problem becomes a ``Problem`` naming file, sheet, row, column, value and rule, so the partner can fix
the file; a file with any problem is quarantined whole by the ingestion (store.py). The ``value`` is kept
only for the partner's error report in the restricted store: messages never quote a cell (they go to the
warehouse's file log and the Dagster UI). Values are typed here: dates from ISO, dd/mm/yyyy or Excel serial
numbers; whole numbers written as text or "3.0"; enumerations matched ignoring case, spaces and hyphens (and
by their label where a seed has one).

Rules beyond the column types (Part 3 of the guide and the extract contract):
- no date after the day received (review dates and the end of an assessment's period may lie ahead);
- tension assessments: period_start <= period_end and period_start <= assessment_date <= period_end +
  ASSESSMENT_LAG_DAYS (a group assesses a period at its next meeting); grades on the row's scale
  (eep6 1-6, level4 high/medium/low/none);
- incidents: hate_crime and hate_incident need at least one hate strand; occurred_on <= reported_on;
- CIAs: complete <=> completed_on given, complete needs overall_risk, completed_on >= triggered_on;
- risks: review_due >= raised_on; residual likelihood and impact given together;
- no duplicate key within the file (e.g. the same incident_ref twice from one organisation).
The file name plays no part: partner and period come from identity.py, which widens the file's period to
its rows rather than refusing them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from orchestration.lib.partner_extracts import contracts as c
from orchestration.lib.partner_extracts.reader import Workbook
from orchestration.lib.seeds import read_seed, seed_column

MAX_TEXT = 4000
FORWARD_DATES = {"review_due", "period_end"}
EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year bug already absorbed)
SERIAL_RANGE = (18264, 73051)  # 1950-01-01 .. 2099-12-31 as Excel serials


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None  # spreadsheet row (header = 1); None for the file as a whole
    column: str | None
    value: str | None  # the offending cell: for the partner's report in the restricted store only
    rule: str
    message: str  # never quotes a cell value
    sheet: str = ""  # the worksheet ('' for CSV)

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "rule": self.rule,
            "message": self.message,
        }

    @property
    def where(self) -> str:
        """'sheet 'Q2', row 5, column area_code' (no value)."""
        parts = [f"sheet '{self.sheet}'" if self.sheet else "", f"row {self.row}" if self.row else "",
                 f"column {self.column}" if self.column else ""]
        return ", ".join(p for p in parts if p) or "file"


@cache
def known_area_codes() -> dict[str, str]:
    """Every Welsh code an extract may use -> its kind (lsoa21 wins over lsoa11 for the 1,837 shared)."""

    codes: dict[str, str] = {}
    for code in seed_column("geography/local_authority.csv", "la_code"):
        codes[code] = "la"
    for code in seed_column("geography/ward.csv", "ward_code"):
        codes[code] = "ward"
    for code in seed_column("geography/lsoa11_lsoa21_exact_fit.csv", "lsoa11_code"):
        codes[code] = "lsoa11"
    for code in seed_column("geography/lsoa21_geography.csv", "lsoa21_code"):
        codes[code] = "lsoa21"
    return codes


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


@cache
def _aliases() -> dict[tuple[str, ...], dict[str, str]]:
    """Extra spellings accepted for vocabularies: seed labels, and a few common variants."""
    aliases: dict[tuple[str, ...], dict[str, str]] = {}

    def labels(relative: str, code_col: str, label_col: str) -> dict[str, str]:
        return {_key(row[label_col]): row[code_col] for row in read_seed(relative)}

    community = labels("reference/community_types.csv", "community_type", "community_type_label")
    community.update({"faith_or_religious": "faith", "religious": "faith", "gypsy_traveller": "gypsies_travellers",
                      "gypsies_and_travellers": "gypsies_travellers", "overall_assessment": "overall"})
    aliases[c.community_types()] = community
    aliases[c.community_types(include_overall=False)] = community
    categories = labels("reference/tension_categories.csv", "tension_category", "tension_category_label")
    categories.update({"immigration_asylum_seekers_and_refugees": "immigration", "future": "future"})
    aliases[c.tension_categories()] = categories
    aliases[c.SCALES] = {"eep": "eep6", "eep_6": "eep6", "level_4": "level4", "four_level": "level4",
                         "4_level": "level4", "level4_high_medium_low_none": "level4"}
    aliases[c.INCIDENT_TYPES] = {"anti_social_behaviour": "asb", "antisocial_behaviour": "asb", "graffiti": "offensive_graffiti",
                                 "noise": "noise_complaint", "arson": "deliberate_fire", "fire": "deliberate_fire",
                                 "neighbour_disputes": "neighbour_dispute", "neighbor_dispute": "neighbour_dispute"}
    aliases[c.HATE_STRANDS] = {"religion_or_belief": "religion", "faith": "religion", "racial": "race", "racist": "race",
                               "transgender_identity": "transgender", "gender_identity": "transgender",
                               "homophobic": "sexual_orientation"}
    aliases[c.CIA_STATUSES] = {"completed": "complete", "in_hand": "in_progress", "underway": "in_progress",
                               "started": "in_progress"}
    aliases[c.CIA_TRIGGERS] = {"event": "planned_event", "planned": "planned_event", "grade": "rating"}
    aliases[c.SOURCE_TYPES] = {"person_working_in_the_area": "person_working_in_area", "worker": "person_working_in_area"}
    aliases[c.PPPLEM_HEADINGS] = {"police_organisational": "police", "organisational": "police"}
    return aliases


def _enum(value: str, allowed: tuple[str, ...]) -> str | None:
    key = _key(value)
    if key in allowed:
        return key
    return _aliases().get(allowed, {}).get(key)


EEP_LABELS = {"imminent": "1", "high": "2", "moderate_high": "3", "moderate_low": "4", "raised": "5", "normal": "6"}
LEVEL4_ALIASES = {"no_tensions": "none", "no_tension": "none", "no": "none"}


def parse_grade(cell: object, scale: str) -> str | None:
    """Normalised grade text ('1'..'6' or high/medium/low/none) or None if not a grade on that scale."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return str(int(cell)) if scale == "eep6" and float(cell) == int(cell) and 1 <= cell <= 6 else None
    text = str(cell).strip()
    if scale == "eep6":
        match = re.fullmatch(r"(?:grade\s*)?([1-6])(?:\.0+)?(?:\s*[-–:(].*)?", text, flags=re.I)
        if match:
            return match[1]
        return EEP_LABELS.get(_key(text))
    key = _key(text)
    key = LEVEL4_ALIASES.get(key, key)
    return key if key in c.LEVEL4_GRADES else None


def parse_date(cell: object) -> date | None:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return _serial(cell)
    text = str(cell).strip()
    if re.fullmatch(r"\d{5}(?:\.0+)?", text):
        return _serial(float(text))
    for fmt in ("%d %B %Y", "%d %b %Y", "%d-%b-%Y", "%d-%B-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]00:00(?::00(?:\.0+)?)?Z?)?", text)
    if match:
        year, month, day = int(match[1]), int(match[2]), int(match[3])
    else:
        match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?: 00:00(?::00)?)?", text)
        if not match:
            return None
        day, month, year = int(match[1]), int(match[2]), int(match[3])
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _serial(number: float) -> date | None:
    if number != int(number) or not SERIAL_RANGE[0] <= number <= SERIAL_RANGE[1]:
        return None
    return EXCEL_EPOCH + timedelta(days=int(number))


def parse_int(cell: object) -> int | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float):
        return int(cell) if cell == int(cell) else None
    match = re.fullmatch(r"\s*([+-]?\d+)(?:\.0+)?\s*", str(cell))
    return int(match[1]) if match else None


# Sandwell's likelihood / impact words (guide, Part 3, Step 4), also written as "3 - medium".
RISK_WORDS = {"insignificant": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
RISK_SCALE_COLUMNS = {"likelihood", "impact", "residual_likelihood", "residual_impact"}


def parse_risk_level(cell: object) -> int | None:
    text = str(cell).strip().lower()
    match = re.fullmatch(r"([1-5])\s*[-–:(]?\s*([a-z]+)?\)?", text)
    if match and (match[2] is None or RISK_WORDS.get(match[2]) == int(match[1])):
        return int(match[1])
    return RISK_WORDS.get(text)


YES = {"yes", "y", "true", "1", "ie"}
NO = {"no", "n", "false", "0", "na", "nac_ydw", "n_a"}


def _text(cell: object) -> str:
    if isinstance(cell, float) and cell == int(cell):
        return str(int(cell))
    if isinstance(cell, (date, datetime)):
        return cell.isoformat()
    return str(cell).strip()


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and cell.strip() == "")


def _shown(cell: object) -> str | None:
    if cell is None:
        return None
    return _text(cell) if not isinstance(cell, str) else cell


def validate(extract: c.ExtractType, book: Workbook, file_name: str, received_on: date) -> tuple[list[dict], list[Problem]]:
    """Typed rows (only meaningful when there are no problems) and every problem found, over every sheet.

    Each row dict carries ``sheet`` and ``row_number`` (the spreadsheet's) besides its typed columns."""
    problems: list[Problem] = [Problem(file_name, p.row, p.column, None, p.rule, p.message, p.sheet)
                               for p in book.problems]
    areas = known_area_codes()
    rows: list[dict] = []
    seen_keys: dict[tuple, tuple[str, int]] = {}
    for sheet in book.sheets:
        def problem(row, column, value, rule, message, _sheet=sheet.name):
            problems.append(Problem(file_name, row, column, _shown(value), rule, message, _sheet))

        where = f"sheet '{sheet.name}': " if sheet.name else ""
        missing = [col.name for col in extract.columns if col.required and col.name not in sheet.header]
        if missing:
            problem(sheet.header_row, ", ".join(missing), None, "missing_column",
                    f"{where}required column(s) missing from the header: {', '.join(missing)} "
                    f"(expected columns: {', '.join(extract.column_names)})")
            continue
        if not sheet.rows:
            problem(None, None, None, "no_rows", f"{where}the header has no data rows under it")
            continue
        for number, cells in sheet.rows:
            row = _typed_row(extract, cells, number, sheet.header, areas, problem)
            row["sheet"] = sheet.name
            _row_rules(extract, received_on, number, row, problem)
            if extract.key and all(row.get(k) not in (None, "") for k in extract.key):
                key = tuple(str(row[k]).lower() for k in extract.key)
                if key in seen_keys:
                    first_sheet, first_row = seen_keys[key]
                    on = f"sheet '{first_sheet}' row {first_row}" if first_sheet != sheet.name else f"row {first_row}"
                    problem(number, ", ".join(extract.key), " / ".join(str(row[k]) for k in extract.key), "duplicate_key",
                            f"the same {' + '.join(extract.key)} is already on {on}")
                else:
                    seen_keys[key] = (sheet.name, number)
            rows.append(row)
    return rows, problems


def _typed_row(extract: c.ExtractType, cells: dict, number: int, header: list[str], areas: dict[str, str],
               problem) -> dict:
    row: dict[str, object] = {"row_number": number}
    for col in extract.columns:
        cell = cells.get(col.name) if col.name in header else None
        if col.kind == c.PERSONAL:
            row[col.name] = None if _blank(cell) else _text(cell)
            continue
        if col.kind == c.GRADE:
            continue  # needs the row's scale; checked below
        if _blank(cell):
            if col.required:
                problem(number, col.name, cell, "required", f"{col.name} is required")
            row[col.name] = [] if col.kind == c.ENUM_LIST else None
            continue
        value = _parse(col, cell, areas)
        if value is _INVALID:
            problem(number, col.name, cell, col.kind, _expected(col))
            row[col.name] = None
        else:
            row[col.name] = value
    # grades need the scale
    scale = row.get("scale")
    for col in extract.columns:
        if col.kind != c.GRADE:
            continue
        cell = cells.get(col.name)
        if _blank(cell):
            problem(number, col.name, cell, "required", f"{col.name} is required")
            row[col.name] = None
        elif scale in c.SCALES:
            grade = parse_grade(cell, scale)
            if grade is None:
                expected = "a grade 1-6" if scale == "eep6" else "high, medium, low or none"
                problem(number, col.name, cell, "grade", f"on scale {scale} the grade must be {expected}")
            row[col.name] = grade
        else:
            row[col.name] = None
    return row


class _Invalid:
    pass


_INVALID = _Invalid()


def _parse(col: c.Column, cell: object, areas: dict[str, str]):
    if col.kind in (c.TEXT, c.CODE):
        text = _text(cell)
        return text if len(text) <= MAX_TEXT else _INVALID
    if col.kind == c.ENUM:
        return _enum(_text(cell), col.values) or _INVALID
    if col.kind == c.ENUM_LIST:
        # ';' is the contract's separator; ',' is tried only when it makes every part valid, because some
        # labels contain commas ("Immigration, asylum seekers and refugees").
        for separator in (r"[;|]", r"[;|,]"):
            parts = [p for p in re.split(separator, _text(cell)) if p.strip()]
            values = [_enum(p, col.values) for p in parts]
            if parts and all(v is not None for v in values):
                return list(dict.fromkeys(values))
        return _INVALID
    if col.kind == c.DATE:
        return parse_date(cell) or _INVALID
    if col.kind == c.INT:
        value = parse_int(cell)
        if value is None and col.name in RISK_SCALE_COLUMNS:
            value = parse_risk_level(cell)
        if value is None or not col.minimum <= value <= col.maximum:
            return _INVALID
        return value
    if col.kind == c.AREA:
        code = _text(cell).upper()
        return code if code in areas else _INVALID
    if col.kind == c.YES_NO:
        key = _key(_text(cell))
        if key in YES:
            return True
        if key in NO:
            return False
        return _INVALID
    raise AssertionError(col.kind)


def _expected(col: c.Column) -> str:
    if col.kind == c.TEXT:
        return f"{col.name} is longer than {MAX_TEXT} characters"
    if col.kind == c.ENUM:
        return f"{col.name} must be one of: {', '.join(col.values)}"
    if col.kind == c.ENUM_LIST:
        return f"{col.name} must be ';'-separated values from: {', '.join(col.values)}"
    if col.kind == c.DATE:
        return f"{col.name} must be a date: yyyy-mm-dd or dd/mm/yyyy (or an Excel date)"
    if col.kind == c.INT:
        return f"{col.name} must be a whole number from {col.minimum} to {col.maximum}"
    if col.kind == c.AREA:
        return f"{col.name} must be a Welsh LSOA (2011 or 2021), ward (2025) or local-authority code we know"
    if col.kind == c.YES_NO:
        return f"{col.name} must be yes or no"
    return f"{col.name} is not valid"


def _row_rules(extract, received_on: date, number: int, row: dict, problem) -> None:
    for col in extract.columns:
        value = row.get(col.name)
        # review dates and the end of an assessment's period are meant to lie ahead
        if col.kind == c.DATE and col.name not in FORWARD_DATES and isinstance(value, date) and value > received_on:
            problem(number, col.name, value.isoformat(), "future_date",
                    f"{col.name} is after the day the file was received ({received_on})")
    if extract.name == "incidents":
        if row.get("reported_on") is None and isinstance(row.get("occurred_on"), date):
            row["reported_on"] = row["occurred_on"]
        occurred, reported = row.get("occurred_on"), row.get("reported_on")
        if isinstance(occurred, date) and isinstance(reported, date) and occurred > reported:
            problem(number, "reported_on", reported.isoformat(), "date_order", "reported_on is before occurred_on")
        if row.get("incident_type") in c.HATE_INCIDENT_TYPES and not row.get("hate_strands"):
            problem(number, "hate_strands", None, "hate_strand_required",
                    f"a {row['incident_type']} needs at least one hate strand ({', '.join(c.HATE_STRANDS)})")
    elif extract.name == "tension_assessments":
        # Part 3: the group rates a period, often at its next meeting (Q4 assessed on 10 January).
        start, end, assessed = row.get("period_start"), row.get("period_end"), row.get("assessment_date")
        if isinstance(start, date) and isinstance(end, date):
            if start > end:
                problem(number, "period_end", end.isoformat(), "date_order", "period_end is before period_start")
            elif isinstance(assessed, date) and assessed < start:
                problem(number, "assessment_date", assessed.isoformat(), "date_in_period",
                        "assessment_date is before the assessment's own period_start")
            elif isinstance(assessed, date) and assessed > end + timedelta(days=c.ASSESSMENT_LAG_DAYS):
                problem(number, "assessment_date", assessed.isoformat(), "date_in_period",
                        f"assessment_date is more than {c.ASSESSMENT_LAG_DAYS} days after the assessment's own "
                        "period_end (a period is assessed during it or at the next meetings)")
    elif extract.name == "community_impact_assessments":
        status, completed, triggered = row.get("status"), row.get("completed_on"), row.get("triggered_on")
        if status == "complete":
            if completed is None:
                problem(number, "completed_on", None, "required_when_complete", "completed_on is required when status is complete")
            if row.get("overall_risk") is None:
                problem(number, "overall_risk", None, "required_when_complete", "overall_risk is required when status is complete")
        elif status is not None and completed is not None:
            problem(number, "completed_on", completed.isoformat(), "completed_on_without_complete",
                    f"completed_on is given but status is {status} (set status to complete, or leave completed_on blank)")
        if isinstance(completed, date) and isinstance(triggered, date) and completed < triggered:
            problem(number, "completed_on", completed.isoformat(), "date_order",
                    "completed_on is before triggered_on")
    elif extract.name == "risk_register":
        raised, due = row.get("raised_on"), row.get("review_due")
        if isinstance(raised, date) and isinstance(due, date) and due < raised:
            problem(number, "review_due", due.isoformat(), "date_order", "review_due is before raised_on")
        if (row.get("residual_likelihood") is None) != (row.get("residual_impact") is None):
            problem(number, "residual_impact", None, "residual_pair",
                    "residual_likelihood and residual_impact must be given together (or both left blank)")
