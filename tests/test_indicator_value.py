"""marts.fct_indicator_value against figures computed independently from the raw files (csv module,
scipy as the reference for intervals) or against the officially published figure."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date

import pytest
import scipy.stats

from tests.independent import SNAPSHOTS, census_population_lsoa21, counted_street_rows, lsoa_to_la, one


def fiv(warehouse, indicator, level, area, period_label):
    return one(
        warehouse,
        "select numerator, denominator, value, lci_95, uci_95, status from marts.fct_indicator_value "
        "where indicator_id = ? and geography_level = ? and area_code = ? and period_label = ?",
        [indicator, level, area, period_label],
    )


def test_wimd_most_deprived_10pct_share_by_la_2019_and_2025(warehouse):
    # 2019: on the 1,909 2011 LSOAs, rank 1-191, exactly as StatsWales publishes it
    with open(SNAPSHOTS / "wimd" / "dg_ons_imd_dec2019_lookup_wales_utf8bom.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    total, top = Counter(r["ladcd"] for r in rows), Counter(r["ladcd"] for r in rows if int(r["wimd_2019"]) <= 191)
    got = dict(warehouse.execute(
        "select area_code, value from marts.fct_indicator_value where indicator_id = 'wimd_most_deprived_10pct_share' "
        "and geography_level = 'la' and period_label = 'WIMD 2019'").fetchall())
    assert got == pytest.approx({la: 100 * top[la] / total[la] for la in total}, abs=1e-9)
    # 2025: on the 1,917 2021 LSOAs, decile 1 as published
    wimd25 = json.loads((SNAPSHOTS / "wimd" / "wimd2025_ranks_deciles_by_lsoa21_derived.json").read_text())["byLsoa"]
    la21 = lsoa_to_la()
    total, top = Counter(la21[c] for c in wimd25), Counter(la21[c] for c, r in wimd25.items() if r["decile"] == 1)
    got = dict(warehouse.execute(
        "select area_code, value from marts.fct_indicator_value where indicator_id = 'wimd_most_deprived_10pct_share' "
        "and geography_level = 'la' and period_label = 'WIMD 2025'").fetchall())
    assert got == pytest.approx({la: 100 * top[la] / total[la] for la in total}, abs=1e-9)
    assert got["W06000015"] > 15 and got["W06000023"] < 3  # Cardiff well above, Powys well below Wales' 10%


def test_lsoa_crime_rate_and_its_interval(warehouse):
    lsoa = "W01001524"  # Torfaen 004D
    months = {"2024-04", "2024-05", "2024-06"}
    count = sum(1 for r in counted_street_rows() if r["LSOA code"] == lsoa and r["Month"] in months
                and r["Crime type"] != "Anti-social behaviour")
    person_years = census_population_lsoa21()[lsoa] * (date(2024, 7, 1) - date(2024, 4, 1)).days / 365.25
    num, den, value, lci, uci, _ = fiv(warehouse, "all_crime_rate", "lsoa", lsoa, "2024 Q2")
    assert (num, den) == (count, pytest.approx(person_years))
    assert value == pytest.approx(1000 * count / person_years)
    # the exact (Garwood) limits from scipy's chi-square quantiles
    exact_l, exact_u = scipy.stats.chi2.ppf(0.025, 2 * count) / 2, scipy.stats.chi2.ppf(0.975, 2 * count + 2) / 2
    assert lci == pytest.approx(1000 * exact_l / person_years, rel=1e-9)
    assert uci == pytest.approx(1000 * exact_u / person_years, rel=1e-9)


def test_small_crime_counts_get_exact_limits(warehouse):
    """At 0-3 events the limits are exact (Byar's approximation put the lower limit 48% below at k = 1)."""
    rows = warehouse.execute(
        """select numerator, denominator, lci_95, uci_95 from marts.fct_indicator_value
           where ci_method = 'poisson_exact' and geography_level = 'lsoa' and numerator in (0, 1, 2, 3)"""
    ).fetchall()
    assert {r[0] for r in rows} == {0, 1, 2, 3}
    for k, d, lci, uci in rows:
        exact_l = scipy.stats.chi2.ppf(0.025, 2 * k) / 2 if k else 0.0
        exact_u = scipy.stats.chi2.ppf(0.975, 2 * k + 2) / 2
        assert lci == pytest.approx(1000 * exact_l / d, rel=1e-9, abs=1e-12)
        assert uci == pytest.approx(1000 * exact_u / d, rel=1e-9)


def test_merged_lsoas_take_a_population_weighted_welsh_speaker_share(warehouse):
    """A 2021 LSOA made of several 2011 LSOAs takes their Census 2011 Welsh-speaker percentages weighted by the
    parents' mid-2017 population (the earliest bundled estimate on 2011 LSOAs), not their plain mean."""
    parents: dict[str, list[str]] = {}
    with open(SNAPSHOTS / "population" / "lookup_lsoa11_lsoa21_ltla22_wales.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["change_code"] == "M":
                parents.setdefault(row["lsoa21_code"], []).append(row["lsoa11_code"])
    pct, pop = {}, {}
    with open(SNAPSHOTS / "population" / "census2011_welsh_speakers_pct_lsoa11_wales.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            pct[row["lsoa11_code"]] = float(row["pct_able_to_speak_welsh_2011"])
    with open(SNAPSHOTS / "population" / "sape_lsoa11_broadage_timeseries_2017_2020_wales.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["year"] == "2017":
                pop[row["lsoa11_code"]] = float(row["all_ages"])
    assert parents
    got = dict(warehouse.execute(
        "select area_code, value from marts.fct_indicator_value where indicator_id = 'pct_welsh_speakers' "
        "and geography_level = 'lsoa' and status = 'estimated'").fetchall())
    for code, olds in parents.items():
        weighted = sum(pct[c] * pop[c] for c in olds) / sum(pop[c] for c in olds)
        assert got[code] == pytest.approx(weighted, rel=1e-12), code


def test_census_proportion_wilson_interval_against_scipy(warehouse):
    lsoa = "W01001617"
    with open(SNAPSHOTS / "population" / "census2021_ts054_household_tenure21_lsoa21_wales.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["lsoa21_code"] == lsoa]
    k = sum(int(r["n"]) for r in rows if r["tenure"].startswith("Social rented"))
    n = int(rows[0]["total_households"])
    num, den, value, lci, uci, _ = fiv(warehouse, "pct_social_rented", "lsoa", lsoa, "Census 2021")
    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (num, den, value) == (k, n, pytest.approx(100 * k / n))
    assert (lci, uci) == (pytest.approx(100 * ci.low, rel=1e-9), pytest.approx(100 * ci.high, rel=1e-9))


def test_la_claimant_count_rate_is_the_ons_published_value(warehouse):
    with open(SNAPSHOTS / "ons_els" / "claimant-count" / "claimant-count.wales_subset.csv", encoding="utf-8-sig") as fh:
        published = {(r["areacd"], r["period"]): float(r["observation"]) for r in csv.DictReader(fh)
                     if r["areacd"].startswith("W06") and r["observation"]}
    got = dict(((a, p), v) for a, p, v in warehouse.execute(
        "select area_code, period_label, value from marts.fct_indicator_value "
        "where indicator_id = 'claimant_count_rate' and geography_level = 'la'").fetchall())
    assert got == published and len(got) == 22 * 25


def test_an_la_total_is_the_sum_of_its_lsoas(warehouse):
    rows = warehouse.execute(
        """select f.indicator_id, f.period_label, g.la_code, sum(f.numerator), sum(f.denominator)
           from marts.fct_indicator_value as f join marts.dim_geography as g on f.area_code = g.lsoa21_code
           where f.geography_level = 'lsoa' and f.numerator is not null group by all""").fetchall()
    la = {(i, p, a): (n, d) for i, p, a, n, d in warehouse.execute(
        "select indicator_id, period_label, area_code, numerator, denominator from marts.fct_indicator_value "
        "where geography_level = 'la' and numerator is not null").fetchall()}
    checked = 0
    for i, p, a, n, d in rows:
        if (i, p, a) in la:  # crime LAs outside Gwent are not published (incomplete)
            assert la[(i, p, a)] == (pytest.approx(n), pytest.approx(d)), (i, p, a)
            checked += 1
    # 688 LA rows come from LSOA data (the others are LA-level sources: country of birth, 2011 tenure, WIMD 2019)
    assert checked > 600


def test_2011_lsoa_estimates_bridge_exactly_at_la_level(warehouse):
    """SAPE mid-2017 is on 2011 LSOAs; split LSOAs are shared among 2021 children (estimated), but every
    LA total equals the raw 2011-LSOA sum exactly, because the exact-fit changes stay inside LAs."""
    with open(SNAPSHOTS / "geography" / "ons_lsoa11_to_ward18_lad18_v3_wales_subset.csv", encoding="utf-8") as fh:
        la11 = {r["LSOA11CD"]: r["LAD18CD"] for r in csv.DictReader(fh)}
    older, everyone = Counter(), Counter()
    with open(SNAPSHOTS / "population" / "sape_lsoa11_broadage_timeseries_2017_2020_wales.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["year"] == "2017":
                older[la11[r["lsoa11_code"]]] += int(r["aged_65_plus"])
                everyone[la11[r["lsoa11_code"]]] += int(r["all_ages"])
    got = {a: (n, d) for a, n, d in warehouse.execute(
        "select area_code, numerator, denominator from marts.fct_indicator_value where indicator_id = 'pct_aged_65_plus' "
        "and geography_level = 'la' and period_label = 'Mid-2017'").fetchall()}
    assert got == {la: (pytest.approx(older[la]), pytest.approx(everyone[la])) for la in older}
    statuses = dict(warehouse.execute(
        "select status, count(*) from marts.fct_indicator_value where indicator_id = 'pct_aged_65_plus' "
        "and geography_level = 'lsoa' and period_label = 'Mid-2017' group by 1").fetchall())
    assert statuses.get("estimated", 0) > 0 and statuses["actual"] > 1800


def test_age_share_for_an_la_from_the_census_file(warehouse):
    pop = census_population_lsoa21()
    young = Counter()
    with open(SNAPSHOTS / "population" / "census2021_age6_lsoa21_wales.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["age_group"] == "Aged 15 years and under" and lsoa_to_la()[r["lsoa21_code"]] == "W06000022":
                young["W06000022"] += int(r["usual_residents"])
    total = sum(p for c, p in pop.items() if lsoa_to_la()[c] == "W06000022")
    assert fiv(warehouse, "pct_aged_0_15", "la", "W06000022", "Census 2021")[2] == pytest.approx(100 * young["W06000022"] / total)


def test_every_catalogued_indicator_with_bundled_data_has_values(warehouse):
    with open(SNAPSHOTS.parents[1] / "seeds" / "indicator_catalogue.csv", encoding="utf-8") as fh:
        bundled = {r["indicator_id"] for r in csv.DictReader(fh) if r["snapshot_bundled"] == "true"}
    present = {r[0] for r in warehouse.execute("select distinct indicator_id from marts.fct_indicator_value").fetchall()}
    assert bundled <= present, bundled - present
