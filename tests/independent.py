"""Figures computed straight from the bundled raw files with the csv module: no polars, no DuckDB, no
dbt, no seeds. Tests compare the warehouse against these."""

from __future__ import annotations

import csv
import glob
from collections import Counter
from functools import cache
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parents[1] / "data" / "snapshots"
CATALOGUE = Path(__file__).resolve().parents[1] / "seeds" / "indicator_catalogue.csv"
GWENT_LAS = {"W06000018", "W06000019", "W06000020", "W06000021", "W06000022"}


@cache
def lsoa_to_la() -> dict[str, str]:
    """Both vintages: 2021 LSOAs from the ONS 2021 list, 2011 LSOAs from the ONS 2011→ward→LA lookup.
    (LSOAs nest in LAs in both vintages, and the 2011→2021 changes stay inside an LA.)"""
    mapping = {}
    with open(SNAPSHOTS / "geography" / "ons_lsoa11_to_ward18_lad18_v3_wales_subset.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            mapping[row["LSOA11CD"]] = row["LAD18CD"]
    with open(SNAPSHOTS / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            mapping[row["LSOA21CD"]] = row["LADCD"]
    return mapping


@cache
def lsoa21_codes() -> frozenset[str]:
    with open(SNAPSHOTS / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv", encoding="utf-8") as fh:
        return frozenset(row["LSOA21CD"] for row in csv.DictReader(fh))


@cache
def census_population_lsoa21() -> dict[str, int]:
    pop: Counter = Counter()
    with open(SNAPSHOTS / "population" / "census2021_age6_lsoa21_wales.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            pop[row["lsoa21_code"]] += int(row["usual_residents"])
    return dict(pop)


def street_files() -> list[Path]:
    """Every bundled street-level file: all four Welsh forces 2022-01..11, Gwent on to 2024-06."""
    return [Path(p) for p in sorted(glob.glob(str(SNAPSHOTS / "police_uk" / "*" / "*-street.csv")))]


@cache
def street_rows() -> tuple[dict, ...]:
    rows = []
    for path in street_files():
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows.extend(csv.DictReader(fh))
    return tuple(rows)


# the exception report's crime groups, defined here from the police.uk categories, independently of the seeds
CRIME_GROUPS = {
    "all_crime": lambda t: t != "Anti-social behaviour",
    "violence_sexual": lambda t: t == "Violence and sexual offences",
    "asb": lambda t: t == "Anti-social behaviour",
    "public_order": lambda t: t == "Public order",
}


def outcome_rank(outcome: str) -> int:
    """How late an outcome is: empty < 'Status update unavailable' < 'Under investigation' < any other."""
    outcome = (outcome or "").strip()
    if not outcome:
        return 0
    return {"Status update unavailable": 1, "Under investigation": 2}.get(outcome, 3)


@cache
def counted_row_indexes() -> frozenset[int]:
    """Indexes into street_rows() of the rows that count: every row without a Crime ID, and per (Crime ID,
    Month) the row with the latest outcome, then the later line of the file (each bundled file is one
    force-month, so the file's line order is street_rows() order within a month)."""
    best: dict[tuple[str, str], tuple[int, int]] = {}
    keep = set()
    for i, row in enumerate(street_rows()):
        if not row["Crime ID"]:
            keep.add(i)
            continue
        key = (row["Crime ID"], row["Month"])
        candidate = (outcome_rank(row["Last outcome category"]), i)
        if key not in best or candidate > best[key]:
            best[key] = candidate
    keep.update(i for _, i in best.values())
    return frozenset(keep)


@cache
def counted_street_rows() -> tuple[dict, ...]:
    """street_rows() with a repeated Crime ID counted once per month (the row with the latest outcome)."""
    keep = counted_row_indexes()
    return tuple(row for i, row in enumerate(street_rows()) if i in keep)


def dropped_street_rows() -> tuple[dict, ...]:
    """The raw rows not counted: repeats of a Crime ID already counted that month."""
    keep = counted_row_indexes()
    return tuple(row for i, row in enumerate(street_rows()) if i not in keep)


def count_by_la_month_type(rows: tuple[dict, ...] | None = None) -> Counter:
    """(la_code, 'YYYY-MM', crime type) -> records located in a Welsh LSOA (of street_rows() unless rows
    are given, e.g. counted_street_rows())."""
    la = lsoa_to_la()
    counts: Counter = Counter()
    for row in street_rows() if rows is None else rows:
        code = row["LSOA code"]
        if code.startswith("W01"):
            counts[(la[code], row["Month"], row["Crime type"])] += 1
    return counts


def census_share_by_lsoa(filename: str, category_col: str, total_col: str, keep) -> dict[str, tuple[float, float]]:
    """LSOA -> (numerator, total) from a Census 2021 LSOA CSV in data/snapshots/population, for the categories
    `keep` accepts."""
    num: Counter = Counter()
    total: dict[str, float] = {}
    with open(SNAPSHOTS / "population" / filename, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            total[row["lsoa21_code"]] = float(row[total_col])
            if keep(row[category_col]):
                num[row["lsoa21_code"]] += float(row["n"])
    return {code: (num[code], t) for code, t in total.items()}


def one(con, query: str, params: list | None = None) -> tuple:
    """The single row of a query (DuckDB 2 relations have no fetchone)."""
    rows = con.execute(query, params or []).fetchall()
    assert len(rows) == 1, f"expected one row, got {len(rows)}"
    return rows[0]


def records(con, query: str, params: list | None = None) -> list[dict]:
    """A query's rows as dicts keyed by column name."""
    cur = con.execute(query, params or [])
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row)) for row in cur.fetchall()]


def catalogue() -> dict[str, dict]:
    """The indicator catalogue seed as written (indicator_id -> its row of strings)."""
    with open(CATALOGUE, encoding="utf-8") as fh:
        return {row["indicator_id"]: row for row in csv.DictReader(fh)}


def restricted_texts(full: dict) -> list[str]:
    """Every partner free text (``*_text`` fields and the tension narrative) in a full pack."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k.endswith("_text") and isinstance(v, str):
                    out.append(v)
                elif k == "narrative_text":
                    out.extend(n["text"] for n in v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(full)
    return out


def corrected_demo_ratings(work_dir, area_code: str, community_type: str, **fields):
    """The demo group's May 2024 ratings file re-sent with one row changed (as a partner corrects a file): written
    to work_dir/landing/tension_assessments/ under the original name; returns its path. Fails if the row is
    missing or already says that."""
    import csv
    from pathlib import Path

    from orchestration.lib.partner_extracts.demo import write_demo_extracts

    work_dir = Path(work_dir)
    original = next(p for p in write_demo_extracts(work_dir / "demo") if p.name == "demo-tension-group_2024-05.csv")
    with open(original, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows, header = list(reader), reader.fieldnames
    (row,) = [r for r in rows if r["area_code"] == area_code and r["community_type"] == community_type]
    assert any(row[k] != v for k, v in fields.items()), "the correction must change something"
    row.update(fields)
    corrected = work_dir / "landing" / "tension_assessments" / original.name
    corrected.parent.mkdir(parents=True, exist_ok=True)
    with open(corrected, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return corrected
