"""Figures computed straight from the bundled raw files with the csv module: no polars, no DuckDB, no
dbt, no seeds. Tests compare the warehouse against these."""

from __future__ import annotations

import csv
import glob
from collections import Counter
from functools import cache
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parents[1] / "data" / "snapshots"
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
    return [Path(p) for p in sorted(glob.glob(str(SNAPSHOTS / "police_uk" / "gwent" / "*-street.csv")))]


@cache
def street_rows() -> tuple[dict, ...]:
    rows = []
    for path in street_files():
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows.extend(csv.DictReader(fh))
    return tuple(rows)


def count_by_la_month_type() -> Counter:
    """(la_code, 'YYYY-MM', crime type) -> records located in a Welsh LSOA."""
    la = lsoa_to_la()
    counts: Counter = Counter()
    for row in street_rows():
        code = row["LSOA code"]
        if code.startswith("W01"):
            counts[(la[code], row["Month"], row["Crime type"])] += 1
    return counts


def one(con, query: str, params: list | None = None) -> tuple:
    """The single row of a query (DuckDB 2 relations have no fetchone)."""
    rows = con.execute(query, params or []).fetchall()
    assert len(rows) == 1, f"expected one row, got {len(rows)}"
    return rows[0]
