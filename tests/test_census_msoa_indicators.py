"""Census 2021 indicators bundled only per 2021 MSOA (TS019 migrant indicator, TS029 proficiency in English).

The raw files are read here with polars and the csv module, the MSOA → LA → police force lookups are built
from files the warehouse does not use for them (the MSOA's own ONS name, whose prefix is its LA; the ONS LSOA
→ LA list for LA codes; the House of Commons Library MSOA file as a cross-check; the ONS LA → police force
area lookup), and every figure is summed from MSOA counts independently of dbt. The published ONS figures
(Wales TS019 base; ONS Census Maps LA and Wales percentages) are the official check.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
import shutil
from functools import cache
from pathlib import Path

import polars as pl
import pytest
import scipy.stats

from orchestration.lib.snapshots import (
    SnapshotError,
    read_english_proficiency_msoa,
    read_migrant_indicator_msoa,
)

SNAPSHOTS = Path(__file__).resolve().parents[1] / "data" / "snapshots"
TS019 = SNAPSHOTS / "population" / "census2021_ts019_migrant_indicator_msoa21_wales.csv"
TS029 = SNAPSHOTS / "population" / "census2021_ts029_english_proficiency_msoa21_wales.csv"
GEO = SNAPSHOTS / "geography"
WALES = "W92000004"
CARDIFF, NEWPORT, POWYS = "W06000015", "W06000022", "W06000023"
NOT_ENGLISH = "Main language is not English (English or Welsh in Wales)"
IDS = ("pct_arrived_from_outside_uk_1yr", "pct_moved_within_uk_1yr", "pct_cannot_speak_english_well")


# --- independent figures --------------------------------------------------------------------------------

@cache
def msoa_counts() -> dict[str, dict[str, tuple[int, int]]]:
    """indicator -> MSOA -> (numerator, denominator), straight from the two raw CSVs."""
    ts019 = pl.read_csv(TS019)
    ts029 = pl.read_csv(TS029)
    out: dict[str, dict[str, tuple[int, int]]] = {i: {} for i in IDS}
    for r in ts019.iter_rows(named=True):
        n = r["all_usual_residents"]
        out["pct_arrived_from_outside_uk_1yr"][r["msoa21_code"]] = (r["migrant_from_outside_uk"], n)
        out["pct_moved_within_uk_1yr"][r["msoa21_code"]] = (r["migrant_from_within_uk"], n)
    for r in ts029.iter_rows(named=True):
        k = r[f"{NOT_ENGLISH}: Cannot speak English well"] + r[f"{NOT_ENGLISH}: Cannot speak English"]
        n = r["Main language is English (English or Welsh in Wales)"] + r[NOT_ENGLISH]
        out["pct_cannot_speak_english_well"][r["msoa21_code"]] = (k, n)
    return out


@cache
def msoa_to_la() -> dict[str, str]:
    """From the MSOA's ONS name ("Cardiff 012" is in Cardiff) and the ONS LSOA 2021 → LA list's LA names;
    checked against the House of Commons Library MSOA file's LA."""
    with open(GEO / "wales_lsoa21_to_lad_from_ons_bgc.csv", encoding="utf-8") as fh:
        la_by_name = {r["LADNM"]: r["LADCD"] for r in csv.DictReader(fh)}
    names = dict(pl.read_csv(TS019).select("msoa21_code", "msoa21_name").iter_rows())
    by_name = {code: la_by_name[re.sub(r" \d{3}$", "", name)] for code, name in names.items()}
    with open(GEO / "drkane_msoa_names_hcl_wales_subset.csv", encoding="utf-8") as fh:
        hcl = {r["MSOA21CD"]: r["LADCD_ACTIVE"] for r in csv.DictReader(fh) if r["MSOA21CD"] in names}
    assert hcl == by_name
    return by_name


@cache
def la_to_force() -> dict[str, str]:
    with open(GEO / "ons_lad19_csp19_pfa19_EW.csv", encoding="utf-8") as fh:
        return {r["LAD19CD"]: r["PFA19CD"] for r in csv.DictReader(fh) if r["LAD19CD"].startswith("W06")}


def summed(indicator: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(level, area) -> summed (numerator, denominator) at MSOA, LA, police force and Wales."""
    out: dict[tuple[str, str], list[int]] = {}
    for msoa, (k, n) in msoa_counts()[indicator].items():
        la = msoa_to_la()[msoa]
        for key in (("msoa", msoa), ("la", la), ("police_force", la_to_force()[la]), ("wales", WALES)):
            acc = out.setdefault(key, [0, 0])
            acc[0] += k
            acc[1] += n
    return {key: (k, n) for key, (k, n) in out.items()}


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return 100 * ci.low, 100 * ci.high


def published(warehouse, indicator: str) -> dict[tuple[str, str], dict]:
    cur = warehouse.execute(
        "select * from marts.fct_indicator_value where indicator_id = ?", [indicator])
    columns = [d[0] for d in cur.description]
    rows = [dict(zip(columns, r)) for r in cur.fetchall()]
    return {(r["geography_level"], r["area_code"]): r for r in rows}


# --- the bundled files ------------------------------------------------------------------------------------

def test_bundled_files_are_the_provenance_files_byte_for_byte():
    text = (SNAPSHOTS / "population" / "PROVENANCE-population.txt").read_text(encoding="utf-8")
    for path in (TS019, TS029):
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        assert f"FILE: {path.name}   ({path.stat().st_size:,} bytes; md5 {md5})" in text


def test_readers_load_all_408_msoas_with_parts_summing_to_the_base():
    ts019 = read_migrant_indicator_msoa([TS019])
    ts029 = read_english_proficiency_msoa([TS029])
    for frame, categories in ((ts019, 4), (ts029, 5)):
        assert frame.columns == ["area_code", "category", "n", "total"]
        assert frame["area_code"].n_unique() == 408 and frame.height == 408 * categories
        assert frame.group_by("area_code").agg((pl.col("n").sum() == pl.col("total").first()).alias("ok"))["ok"].all()
    # the TS019 base of Wales: usual residents aged 1 and over (provenance: 3,079,149)
    assert ts019.unique("area_code")["total"].sum() == 3_079_149
    assert ts029.unique("area_code")["total"].sum() == 3_018_186  # residents aged 3+


def corrupt(tmp_path: Path, source: Path, line: int, column: str, value: str) -> Path:
    """A copy of source with one cell replaced (line = file line, header = 1)."""
    with open(source, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[line - 1][rows[0].index(column)] = value
    out = tmp_path / source.name
    with open(out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return out


@pytest.mark.parametrize("column, value, message", [
    ("migrant_from_outside_uk", "-3", "row 7, column 'migrant_from_outside_uk': got '-3', expected a non-negative whole number"),
    ("migrant_from_within_uk", "12.5", "row 7, column 'migrant_from_within_uk': got '12.5', expected a non-negative whole number"),
    ("migrant_from_within_uk", "", "row 7, column 'migrant_from_within_uk': got None, expected a non-negative whole number"),
    ("msoa21_code", "E02000001", "row 7, column 'msoa21_code': got 'E02000001', expected a Welsh 2021 MSOA code (W02)"),
    ("address_one_year_ago_is_the_same", "1", "row 7, column 'all_usual_residents': got "),
])
def test_ts019_bad_cells_are_rejected_naming_file_row_and_column(tmp_path, column, value, message):
    bad = corrupt(tmp_path, TS019, 7, column, value)
    with pytest.raises(SnapshotError) as err:
        read_migrant_indicator_msoa([bad])
    assert str(err.value).startswith(f"{TS019.name}: ") and message in str(err.value)


def test_ts029_subtotal_must_equal_its_four_proficiency_parts(tmp_path):
    column = f"{NOT_ENGLISH}: Cannot speak English"
    with open(TS029, encoding="utf-8") as fh:
        row = list(csv.DictReader(fh))[10]  # file line 12
    bad = corrupt(tmp_path, TS029, 12, column, str(int(row[column]) + 1))
    with pytest.raises(SnapshotError, match=rf"^{re.escape(TS029.name)}: row 12, column '{re.escape(NOT_ENGLISH)}': "
                                            rf"got {row[NOT_ENGLISH]}, but its parts .* sum to {int(row[NOT_ENGLISH]) + 1}"):
        read_english_proficiency_msoa([bad])


def test_missing_or_repeated_msoas_are_rejected(tmp_path):
    lines = TS019.read_text(encoding="utf-8").splitlines(keepends=True)
    short = tmp_path / "short" / TS019.name
    short.parent.mkdir()
    short.write_text("".join(lines[:-1]), encoding="utf-8")
    with pytest.raises(SnapshotError, match="407 MSOAs, expected 408"):
        read_migrant_indicator_msoa([short])
    repeated = tmp_path / "repeated" / TS019.name
    repeated.parent.mkdir()
    repeated.write_text("".join(lines[:-1] + [lines[1]]), encoding="utf-8")
    with pytest.raises(SnapshotError, match="MSOA W02000001 appears more than once"):
        read_migrant_indicator_msoa([repeated])


def test_a_renamed_column_is_rejected(tmp_path):
    bad = tmp_path / TS029.name
    shutil.copyfile(TS029, bad)
    bad.write_text(bad.read_text(encoding="utf-8").replace("Cannot speak English well", "Cannot speak English wel", 1),
                   encoding="utf-8")
    with pytest.raises(SnapshotError, match="header is missing columns"):
        read_english_proficiency_msoa([bad])


# --- the warehouse ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("indicator", IDS)
def test_every_published_value_is_the_sum_of_its_msoas(warehouse, indicator):
    """MSOA, LA, police force and Wales: numerator and denominator equal the independent sums of the raw
    MSOA counts, the value is their ratio and the interval is Wilson's (as for every Census proportion)."""
    expected = summed(indicator)
    got = published(warehouse, indicator)
    assert set(got) == set(expected)
    assert {level for level, _ in got} == {"msoa", "la", "police_force", "wales"}  # no LSOA or ward rows
    assert sum(1 for level, _ in got if level == "msoa") == 408
    assert sum(1 for level, _ in got if level == "la") == 22
    assert sum(1 for level, _ in got if level == "police_force") == 4
    for key, (k, n) in expected.items():
        row = got[key]
        assert (row["numerator"], row["denominator"]) == (k, n), key
        assert row["value"] == pytest.approx(100 * k / n, rel=1e-12, abs=1e-12), key
        assert (row["lci_95"], row["uci_95"]) == pytest.approx(wilson(k, n), rel=1e-9, abs=1e-12), key
        assert (row["ci_method"], row["status"], row["period_label"], row["unit"]) == (
            "wilson", "actual", "Census 2021", "percent")
        assert row["series_key"].startswith("census#")


@pytest.mark.parametrize("indicator", IDS)
def test_an_averaged_rate_would_fail(warehouse, indicator):
    """The LA and Wales values are sums of counts: the mean of the MSOA rates differs from them (by more
    than the tolerance the test above allows) for most LAs and for Wales, so an averaged rate would fail."""
    got = published(warehouse, indicator)
    rates: dict[str, list[float]] = {}
    for msoa, (k, n) in msoa_counts()[indicator].items():
        rates.setdefault(msoa_to_la()[msoa], []).append(100 * k / n)
        rates.setdefault(WALES, []).append(100 * k / n)
    differ = [area for area, r in rates.items()
              if abs(sum(r) / len(r) - got[("wales" if area == WALES else "la", area)]["value"]) > 1e-6]
    assert WALES in differ and len(differ) >= 20


def test_wales_and_two_las_against_the_official_figures(warehouse):
    """Wales' TS019 base is the published 3,079,149; the LA and Wales percentages round to the ones ONS
    publishes from its own LA tables (Census Maps, 1 d.p.; cell-key perturbation differs slightly between
    MSOA and LA tables, hence 0.06)."""
    with open(SNAPSHOTS / "population" / "census2021_la_topic_percentages_wales.csv", encoding="utf-8") as fh:
        maps = {(r["area_code"], r["category_code"]): float(r["percent"]) for r in csv.DictReader(fh)}
    codes = {"pct_arrived_from_outside_uk_1yr": "migrant_ind-003", "pct_moved_within_uk_1yr": "migrant_ind-002",
             "pct_cannot_speak_english_well": "english_proficiency_4a-003"}
    wales = published(warehouse, "pct_moved_within_uk_1yr")[("wales", WALES)]
    assert wales["denominator"] == 3_079_149
    checked = 0
    for indicator, category in codes.items():
        got = published(warehouse, indicator)
        for (level, area), row in got.items():
            if level in ("la", "wales"):
                assert row["value"] == pytest.approx(maps[(area, category)], abs=0.06), (indicator, area)
                checked += 1
    assert checked == 3 * 23
    # the figures quoted in the catalogue caveats
    assert round(published(warehouse, "pct_moved_within_uk_1yr")[("la", CARDIFF)]["value"], 1) == 13.0
    assert round(published(warehouse, "pct_arrived_from_outside_uk_1yr")[("wales", WALES)]["value"], 1) == 0.5
    assert round(published(warehouse, "pct_cannot_speak_english_well")[("la", NEWPORT)]["value"], 1) == 1.5


def test_dim_geography_knows_the_408_msoas_by_their_ons_names(warehouse):
    names = dict(pl.read_csv(TS019).select("msoa21_code", "msoa21_name").iter_rows())
    got = dict(warehouse.execute("select distinct msoa21_code, msoa21_name from marts.dim_geography").fetchall())
    assert got == names
    mart_names = dict(warehouse.execute(
        "select area_code, area_name from marts.fct_indicator_value where geography_level = 'msoa' "
        "and indicator_id = 'pct_cannot_speak_english_well'").fetchall())
    assert mart_names == names
    # every LSOA's LA is its MSOA's LA (the LA sums from MSOAs and from LSOAs cover the same residents)
    pairs = warehouse.execute("select distinct msoa21_code, la_code from marts.dim_geography").fetchall()
    assert len(pairs) == 408 and dict(pairs) == msoa_to_la()


def test_a_single_census_gives_no_change_and_a_benchmark_only_profile(warehouse):
    ids = list(IDS)
    (changes,) = warehouse.execute(
        "select count(*) from marts.fct_indicator_change where indicator_id in (select unnest(?::varchar[]))", [ids]
    ).fetchone()
    assert changes == 0
    rows = warehouse.execute(
        "select la_periods, has_change, change_note from (select la_periods, change_since_benchmark is not null as has_change, "
        "change_note from marts.mart_cohesion_profile where indicator_id in (select unnest(?::varchar[])))", [ids]
    ).fetchall()
    assert len(rows) == 3 * 22
    assert {r[0] for r in rows} == {1} and not any(r[1] for r in rows)
    assert {r[2] for r in rows} == {"first year in this series is the benchmark: later years will show change"}


def test_msoas_are_benchmarked_against_their_la_and_wales(warehouse):
    indicator = "pct_moved_within_uk_1yr"
    got = published(warehouse, indicator)
    threshold = 3.0
    rows = warehouse.execute(
        "select geography_level, area_code, benchmark_type, benchmark_area_code, benchmark_value, comparison, assessment "
        "from marts.fct_indicator_benchmark where indicator_id = ?", [indicator]).fetchall()
    kinds = {}
    for level, area, kind, bench_area, bench_value, comparison, assessment in rows:
        kinds[(level, kind)] = kinds.get((level, kind), 0) + 1
        if level == "msoa":
            assert bench_area == (msoa_to_la()[area] if kind == "la" else WALES)
        bench_level = "wales" if kind == "wales" else "la"
        assert bench_value == got[(bench_level, bench_area)]["value"]
        own = got[(level, area)]
        if own["lci_95"] > bench_value and own["value"] - bench_value >= threshold:
            assert (comparison, assessment) == ("higher", "worse")  # polarity risk
        elif own["uci_95"] < bench_value and bench_value - own["value"] >= threshold:
            assert (comparison, assessment) == ("lower", "better")
        else:
            assert comparison == "similar"
    assert kinds == {("msoa", "la"): 408, ("msoa", "wales"): 408, ("la", "wales"): 22}
    by_la = {area: c for level, area, kind, _, _, c, _ in rows if level == "la"}
    assert by_la[CARDIFF] == "higher" and by_la[POWYS] == "similar"


def test_wilson_interval_of_a_small_msoa_count(warehouse):
    """The smallest numerators (a handful of residents who cannot speak English well) still get Wilson
    limits that contain the value and stay inside 0-100."""
    small = [(m, k, n) for m, (k, n) in msoa_counts()["pct_cannot_speak_english_well"].items() if k <= 2]
    assert small
    got = published(warehouse, "pct_cannot_speak_english_well")
    for msoa, k, n in small:
        row = got[("msoa", msoa)]
        lo, hi = wilson(k, n)
        assert row["lci_95"] == pytest.approx(lo, abs=1e-12) and row["uci_95"] == pytest.approx(hi, rel=1e-9)
        assert 0 <= row["lci_95"] <= row["value"] <= row["uci_95"] <= 100
        assert not math.isnan(row["uci_95"])
