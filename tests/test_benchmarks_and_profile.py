"""Benchmark verdicts (fct_indicator_benchmark, mart_cohesion_profile) and the profile's series rules,
recomputed here from the bundled raw CSVs with the csv module (and, where named, from fct_indicator_value's
rows with plain Python arithmetic).

The rules under test (issue 11, items 3, 5, 6; dbt docs block exception_method):
- a similar-areas benchmark is the OTHER LSOAs of the group, never the area itself;
- a verdict needs the interval to exclude the benchmark AND a difference of at least the catalogue's
  change_threshold (materiality); unreliable figures are not compared;
- the annual profile never reports change across a series break, and its "LSOAs most changed" ranking
  leaves out LSOAs whose figures are bridge estimates.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from datetime import date

import pytest

from tests.independent import (GWENT_LAS, SNAPSHOTS, catalogue, census_population_lsoa21, census_share_by_lsoa,
                               counted_street_rows, records)

REPO = SNAPSHOTS.parents[1]
POP = SNAPSHOTS / "population"
Z95 = 1.959963984540054
WALES = "W92000004"
CEREDIGION = "W06000008"
AGE_SHARES = ("pct_aged_0_15", "pct_aged_16_24", "pct_aged_25_64", "pct_aged_65_plus")


# ---------------------------------------------------------------------------------------------- helpers

def series_breaks() -> dict[str, dict]:
    with open(REPO / "seeds" / "reference" / "indicator_series_breaks.csv", encoding="utf-8") as fh:
        return {row["indicator_id"]: row for row in csv.DictReader(fh)}


def lsoa21_geography() -> dict[str, dict]:
    with open(SNAPSHOTS / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv", encoding="utf-8") as fh:
        return {row["LSOA21CD"]: row for row in csv.DictReader(fh)}


def similar_group_of() -> dict[str, tuple[int, str]]:
    """LSOA -> (WIMD 2025 decile, Urban/Rural), from the raw WIMD JSON and the ONS RUC CSV."""
    with open(SNAPSHOTS / "wimd" / "wimd2025_ranks_deciles_by_lsoa21_derived.json", encoding="utf-8") as fh:
        decile = {code: int(v["decile"]) for code, v in json.load(fh)["byLsoa"].items()}
    with open(POP / "ruc21_lsoa21_wales.csv", encoding="utf-8") as fh:
        ruc = {row["lsoa21_code"]: row["ruc"] for row in csv.DictReader(fh)}
    return {code: (decile[code], ruc[code]) for code in decile}


def ethnic_minority_counts() -> dict[str, tuple[float, float]]:
    return census_share_by_lsoa("census2021_ts021_ethnicity21_lsoa21_wales.csv", "ethnic_group", "total_residents",
                         lambda g: g != "White")


def disabled_counts() -> dict[str, tuple[float, float]]:
    return census_share_by_lsoa("census2021_ts038_disability21_lsoa21_ew_wales.csv", "disability", "total_residents",
                         lambda c: c == "Disabled under the Equality Act")


def wilson(k: float, n: float) -> tuple[float, float]:
    """Wilson score 95% interval for k / n, in percent."""
    centre, half, denom = 2 * k + Z95**2, Z95 * math.sqrt(Z95**2 + 4 * k * (1 - k / n)), 2 * (n + Z95**2)
    return 100 * (centre - half) / denom, 100 * (centre + half) / denom


def interval_only(lci, uci, benchmark) -> str:
    """The old Fingertips-only rule, kept here to measure what the materiality rule changes."""
    if lci is None or uci is None or benchmark is None:
        return "not compared"
    return "higher" if lci > benchmark else "lower" if uci < benchmark else "similar"


def expected_verdict(lci, uci, value, benchmark, threshold: float, status: str | None = None) -> str:
    """The documented rule: interval excludes the benchmark AND |difference| >= threshold."""
    if status == "unreliable" or lci is None or uci is None or value is None or benchmark is None:
        return "not compared"
    if lci > benchmark and value - benchmark >= threshold:
        return "higher"
    if uci < benchmark and benchmark - value >= threshold:
        return "lower"
    return "similar"


def la_and_wales(counts: dict[str, tuple[float, float]]) -> tuple[dict[str, tuple[float, float]], tuple[float, float]]:
    geo = lsoa21_geography()
    la: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for code, (k, n) in counts.items():
        la[geo[code]["LADCD"]][0] += k
        la[geo[code]["LADCD"]][1] += n
    wales = (sum(k for k, _ in counts.values()), sum(n for _, n in counts.values()))
    return {c: (k, n) for c, (k, n) in la.items()}, wales


# ---------------------------------------------------------------------------------------------- item 6: similar areas

def _check_similar_pools(warehouse, indicator_id: str, period_start: date, counts: dict[str, tuple[float, float]],
                         scale: float) -> tuple[int, int]:
    """Recompute every similar-areas row of one indicator and period from `counts` (LSOA -> (k, n)); return
    (rows checked, interval-only classifications that differ when the area is pooled with its own figures)."""
    threshold = float(catalogue()[indicator_id]["change_threshold"])
    group_of = similar_group_of()
    groups: dict[tuple, list[str]] = defaultdict(list)
    for code in counts:
        groups[group_of[code]].append(code)
    got = {
        r["area_code"]: r
        for r in records(
            warehouse,
            "select * from marts.fct_indicator_benchmark where indicator_id = ? and benchmark_type = 'similar_areas' "
            "and period_start = ?", [indicator_id, period_start],
        )
    }
    expected_codes = {c for c in counts if len(groups[group_of[c]]) - 1 >= 3}
    assert set(got) == expected_codes
    changed_by_self = 0
    for code, row in got.items():
        others = [c for c in groups[group_of[code]] if c != code]
        assert code not in others and row["benchmark_lsoa_count"] == len(others)
        pooled = scale * sum(counts[c][0] for c in others) / sum(counts[c][1] for c in others)
        assert row["benchmark_value"] == pytest.approx(pooled, rel=1e-9), code
        assert row["difference"] == pytest.approx(row["value"] - pooled, rel=1e-9, abs=1e-9)
        assert row["materiality_threshold"] == threshold
        assert row["comparison"] == expected_verdict(row["lci_95"], row["uci_95"], row["value"], pooled, threshold)
        # what the old, self-including pool would have said (interval rule only)
        members = groups[group_of[code]]
        with_self = scale * sum(counts[c][0] for c in members) / sum(counts[c][1] for c in members)
        changed_by_self += interval_only(row["lci_95"], row["uci_95"], pooled) != interval_only(
            row["lci_95"], row["uci_95"], with_self)
    return len(got), changed_by_self


def test_no_lsoa_is_in_its_own_similar_areas_pool_census(warehouse):
    checked, changed = _check_similar_pools(warehouse, "pct_ethnic_minority", date(2021, 3, 21),
                                            ethnic_minority_counts(), 100.0)
    assert checked == 1917
    assert changed > 0  # self-inclusion did move some verdicts


def test_no_lsoa_is_in_its_own_similar_areas_pool_crime(warehouse):
    """2024 Q2 all recorded crime, from the raw police.uk files: crimes over person-years (91 days)."""
    geo, pop = lsoa21_geography(), census_population_lsoa21()
    gwent = [c for c, row in geo.items() if row["LADCD"] in GWENT_LAS]
    crimes: Counter = Counter()
    for r in counted_street_rows():
        if r["Month"] in {"2024-04", "2024-05", "2024-06"} and r["Crime type"] != "Anti-social behaviour":
            crimes[r["LSOA code"]] += 1
    counts = {c: (float(crimes[c]), pop[c] * 91 / 365.25) for c in gwent}
    checked, changed = _check_similar_pools(warehouse, "all_crime_rate", date(2024, 4, 1), counts, 1000.0)
    assert checked == len(gwent)
    print(f"all_crime_rate 2024 Q2: {changed} of {checked} interval-only classifications move with self-exclusion")


def test_similar_area_pools_exclude_self_in_every_period(warehouse):
    """Every similar-areas row, all indicators and periods: the pool is the group minus the area (from
    fct_indicator_value's LSOA rows, summed here), at least 3 others; groups span every loaded force."""
    group_of = similar_group_of()
    rows = records(
        warehouse,
        "select indicator_id, area_code, period_start, numerator, denominator, unit from marts.fct_indicator_value "
        "where geography_level = 'lsoa' and ci_method in ('wilson', 'poisson_exact') and numerator is not null "
        "and status <> 'unreliable'",
    )
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    own = {}
    for r in rows:
        key = (r["indicator_id"], r["period_start"], group_of[r["area_code"]])
        sums[key][0] += r["numerator"]
        sums[key][1] += r["denominator"]
        sums[key][2] += 1
        own[(r["indicator_id"], r["period_start"], r["area_code"])] = r
    got = records(warehouse, "select indicator_id, area_code, period_start, benchmark_value, benchmark_lsoa_count "
                             "from marts.fct_indicator_benchmark where benchmark_type = 'similar_areas'")
    assert len(got) > 50_000
    for g in got:
        mine = own[(g["indicator_id"], g["period_start"], g["area_code"])]
        k, n, m = sums[(g["indicator_id"], g["period_start"], group_of[g["area_code"]])]
        scale = 1000.0 if mine["unit"].startswith("per_1000") else 100.0
        assert g["benchmark_lsoa_count"] == m - 1 >= 3
        assert g["benchmark_value"] == pytest.approx(scale * (k - mine["numerator"]) / (n - mine["denominator"]),
                                                     rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------- item 5: materiality

def test_la_vs_wales_ethnic_minority_is_similar_below_the_threshold(warehouse):
    """All 22 LAs differed 'significantly' from Wales under the interval-only rule; a difference under
    3 points (catalogue change_threshold) is now 'similar'."""
    threshold = float(catalogue()["pct_ethnic_minority"]["change_threshold"])
    assert threshold == 3
    las, (wk, wn) = la_and_wales(ethnic_minority_counts())
    wales = 100 * wk / wn
    bench = {r["area_code"]: r for r in records(
        warehouse, "select * from marts.fct_indicator_benchmark where indicator_id = 'pct_ethnic_minority' "
                   "and geography_level = 'la' and benchmark_type = 'wales'")}
    profile = {r["la_code"]: r for r in records(
        warehouse, "select * from marts.mart_cohesion_profile where indicator_id = 'pct_ethnic_minority'")}
    assert len(las) == len(bench) == len(profile) == 22
    old, new = Counter(), Counter()
    for la, (k, n) in las.items():
        value, (lci, uci) = 100 * k / n, wilson(k, n)
        expected = expected_verdict(lci, uci, value, wales, threshold)
        old[interval_only(lci, uci, wales)] += 1
        new[expected] += 1
        for row, comparison, diff in ((bench[la], "comparison", "difference"),
                                      (profile[la], "comparison_with_wales", "difference_from_wales")):
            assert row[diff] == pytest.approx(value - wales, abs=1e-9)
            assert row["materiality_threshold"] == threshold
            assert row[comparison] == expected, la
            if abs(value - wales) < threshold:
                assert row[comparison] == "similar"
        assert bench[la]["benchmark_value"] == pytest.approx(wales, rel=1e-12)
    assert old["similar"] == 0 and old["higher"] + old["lower"] == 22  # before: every LA a "difference"
    assert (new["higher"], new["lower"], new["similar"]) == (2, 11, 9)


def test_census_la_verdicts_follow_the_rule_for_every_census_share(warehouse):
    """Every LA-vs-Wales row of a Census 2021 proportion, recomputed from its own fct_indicator_value counts."""
    cat = catalogue()
    values = {(r["indicator_id"], r["area_code"]): r for r in records(
        warehouse, "select * from marts.fct_indicator_value where period_label = 'Census 2021' and ci_method = 'wilson' "
                   "and geography_level in ('la', 'wales')")}
    rows = records(warehouse, "select * from marts.fct_indicator_benchmark where geography_level = 'la' "
                              "and period_label = 'Census 2021'")
    checked = 0
    for row in rows:
        v = values.get((row["indicator_id"], row["area_code"]))
        if v is None:
            continue
        k, n = v["numerator"], v["denominator"]
        lci, uci = wilson(k, n)
        w = values[(row["indicator_id"], WALES)]
        wales = 100 * w["numerator"] / w["denominator"]
        threshold = float(cat[row["indicator_id"]]["change_threshold"])
        assert (row["lci_95"], row["uci_95"]) == pytest.approx((lci, uci), rel=1e-9)
        assert row["comparison"] == expected_verdict(lci, uci, 100 * k / n, wales, threshold), row["area_code"]
        checked += 1
    assert checked >= 22 * 8


def test_ceredigion_disability_is_similar_and_flagged_not_age_standardised(warehouse):
    las, (wk, wn) = la_and_wales(disabled_counts())
    k, n = las[CEREDIGION]
    value, wales, (lci, uci) = 100 * k / n, 100 * wk / wn, wilson(k, n)
    assert value - wales == pytest.approx(0.31, abs=0.01)
    assert interval_only(lci, uci, wales) == "higher"  # the audit's "worse at +0.31 points"
    assert "not age-standardised" in catalogue()["pct_disabled_equality_act"]["caveats"].lower()
    bench = records(warehouse, "select * from marts.fct_indicator_benchmark where indicator_id = 'pct_disabled_equality_act' "
                               "and area_code = ? and benchmark_type = 'wales'", [CEREDIGION])[0]
    profile = records(warehouse, "select * from marts.mart_cohesion_profile where indicator_id = 'pct_disabled_equality_act' "
                                 "and la_code = ?", [CEREDIGION])[0]
    assert bench["comparison"] == bench["assessment"] == "similar"
    assert profile["comparison_with_wales"] == profile["assessment_vs_wales"] == "similar"
    for note in (bench["comparison_note"], profile["comparison_note"]):
        assert "not age-standardised" in note and "materiality threshold" in note
    # every disability verdict carries the note; indicators without the caveat never do
    notes = records(warehouse, "select indicator_id, "
                               "bool_and(coalesce(comparison_note like '%not age-standardised%', false)) as all_noted, "
                               "bool_or(coalesce(comparison_note like '%not age-standardised%', false)) as any_noted "
                               "from marts.fct_indicator_benchmark group by 1")
    for r in notes:
        flagged = "not age-standardised" in catalogue()[r["indicator_id"]]["caveats"].lower()
        assert (r["all_noted"], r["any_noted"]) == (flagged, flagged), r["indicator_id"]


def test_unreliable_figures_are_shown_but_not_compared(warehouse):
    unreliable = records(warehouse, "select indicator_id, geography_level, area_code, period_start from marts.fct_indicator_value "
                                    "where status = 'unreliable'")
    assert unreliable  # APS estimates on small samples (ONS's own warning)
    for u in unreliable:
        rows = records(warehouse, "select * from marts.fct_indicator_benchmark where indicator_id = ? and geography_level = ? "
                                  "and area_code = ? and period_start = ?",
                       [u["indicator_id"], u["geography_level"], u["area_code"], u["period_start"]])
        assert rows and all(r["comparison"] == r["assessment"] == "not compared" for r in rows)
        assert all("unreliable" in r["comparison_note"] for r in rows)
    profile = records(warehouse, "select * from marts.mart_cohesion_profile where latest_status = 'unreliable'")
    assert profile
    for p in profile:
        assert p["comparison_with_wales"] == "not compared" and "unreliable" in p["comparison_note"]
        assert p["change_since_benchmark"] is None and "unreliable" in p["change_note"]


# ---------------------------------------------------------------------------------------------- item 3: the profile

def test_profile_age_shares_have_no_change_across_the_census_break(warehouse):
    reason = series_breaks()["pct_aged_0_15"]["reason"]
    rows = records(warehouse, "select * from marts.mart_cohesion_profile where indicator_id in ? order by indicator_id, la_code",
                   [list(AGE_SHARES)])
    assert len(rows) == 88  # 22 LAs x 4 age shares, all without change now (all 88 had one before)
    mid2020 = {(r["indicator_id"], r["area_code"]): r["value"] for r in records(
        warehouse, "select indicator_id, area_code, value from marts.fct_indicator_value "
                   "where geography_level = 'la' and period_label = 'Mid-2020'")}
    for r in rows:
        assert r["change_since_benchmark"] is None
        assert r["benchmark_period_label"] == r["latest_period_label"] == "Census 2021"
        assert r["change_note"] and reason in r["change_note"]
        assert series_breaks()[r["indicator_id"]]["reason"] == reason
        assert r["previous_series_label"] == "Mid-2020"
        assert r["previous_series_value"] == pytest.approx(mid2020[(r["indicator_id"], r["la_code"])])
        assert r["lsoas_most_changed"] is None  # no two LSOA periods in one series
    # the Census 2021 value itself, from the raw age CSV: what the profile shows is the census, not a change
    geo = lsoa21_geography()
    older, total = Counter(), Counter()
    with open(POP / "census2021_age6_lsoa21_wales.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            la = geo[row["lsoa21_code"]]["LADCD"]
            total[la] += int(row["usual_residents"])
            if row["age_group"] == "Aged 65 years and over":
                older[la] += int(row["usual_residents"])
    got = {r["la_code"]: r["latest_value"] for r in rows if r["indicator_id"] == "pct_aged_65_plus"}
    assert got == pytest.approx({la: 100 * older[la] / total[la] for la in total}, rel=1e-9)


def test_profile_claimant_count_and_wimd_stay_within_their_series(warehouse):
    breaks = series_breaks()
    claimant = records(warehouse, "select * from marts.mart_cohesion_profile where indicator_id = 'claimant_count_rate'")
    assert len(claimant) == 22
    start_2015 = date.fromisoformat(breaks["claimant_count_rate"]["break_start"])
    values = {(r["area_code"], r["period_label"]): r for r in records(
        warehouse, "select * from marts.fct_indicator_value where indicator_id = 'claimant_count_rate' and geography_level = 'la'")}
    for r in claimant:
        bench_start = date.fromisoformat(r["benchmark_period_label"][:10])
        assert bench_start >= start_2015
        b, latest = values[(r["la_code"], r["benchmark_period_label"])], values[(r["la_code"], r["latest_period_label"])]
        assert b["series_key"] == latest["series_key"]
        assert r["change_since_benchmark"] == pytest.approx(latest["value"] - b["value"])
        assert breaks["claimant_count_rate"]["reason"] in r["change_note"]
        assert r["previous_series_label"] == "2014-01-01/P1Y"
    wimd = records(warehouse, "select * from marts.mart_cohesion_profile where indicator_id = 'wimd_most_deprived_10pct_share'")
    assert len(wimd) == 22
    for r in wimd:
        assert r["change_since_benchmark"] is None
        assert r["benchmark_period_label"] == r["latest_period_label"] == "WIMD 2025"
        assert r["previous_series_label"] == "WIMD 2019" and r["previous_series_value"] is not None
        assert breaks["wimd_most_deprived_10pct_share"]["reason"] in r["change_note"]


def test_profile_change_is_always_within_one_series(warehouse):
    """Every profile change (period indicators) is between two LA figures with the same series_key, and the
    benchmark is the earliest LA period of that series; every withheld change says why."""
    la_rows = defaultdict(list)
    for r in records(warehouse, "select indicator_id, area_code, period_label, period_start, period_end, series_key "
                                "from marts.fct_indicator_value where geography_level = 'la'"):
        la_rows[(r["indicator_id"], r["area_code"])].append(r)
    profile = records(warehouse, "select * from marts.mart_cohesion_profile")
    checked = 0
    for p in profile:
        if p["change_since_benchmark"] is None:
            assert p["change_note"]
            continue
        if p["benchmark_period_label"].startswith("12 months to"):
            continue  # pooled police.uk windows: one series (police_uk) throughout
        periods = la_rows[(p["indicator_id"], p["la_code"])]
        latest = max(periods, key=lambda r: r["period_end"])
        same = [r for r in periods if r["series_key"] == latest["series_key"]]
        bench = min(same, key=lambda r: r["period_start"])
        assert (p["benchmark_period_label"], p["latest_period_label"]) == (bench["period_label"], latest["period_label"])
        assert p["series_key"] == latest["series_key"]
        checked += 1
    assert checked > 100


def test_lsoas_most_changed_exclude_bridge_estimates_and_name_the_lsoas(warehouse):
    geo = lsoa21_geography()
    estimated = defaultdict(set)
    periods = defaultdict(set)
    for r in records(warehouse, "select indicator_id, area_code, status, series_key, period_start from marts.fct_indicator_value "
                                "where geography_level = 'lsoa'"):
        if r["status"] == "estimated":
            estimated[r["indicator_id"]].add(r["area_code"])
        periods[(r["indicator_id"], r["series_key"])].add(r["period_start"])
    assert estimated["pct_aged_0_15"]  # the SAPE bridge estimates exist
    rows = records(warehouse, "select * from marts.mart_cohesion_profile where lsoas_most_changed is not null")
    assert rows
    for r in rows:
        codes = r["lsoas_most_changed"].split(";")
        assert not set(codes) & estimated[r["indicator_id"]]
        assert r["lsoas_most_changed_names"].split(";") == [geo[c]["LSOA21NM"] for c in codes]
        assert all(geo[c]["LADCD"] == r["la_code"] for c in codes)
        # only where one LSOA series has at least two periods
        assert max(len(v) for (i, _), v in periods.items() if i == r["indicator_id"]) >= 2
    assert not {r["indicator_id"] for r in rows} & set(AGE_SHARES)
