"""The cohesion index (fct_cohesion_index) and the LA profiles (mart_cohesion_profile, mart_community_profile),
against figures recomputed here from the bundled raw files with the csv module (and, where named, from
fct_indicator_value's LSOA rows): z-scores, direction, weights, pooling, ranks, deciles, urban/rural pooling
and a community-profile share."""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
from collections import Counter, defaultdict

import duckdb
import numpy as np
import pytest
from scipy.stats import norm, rankdata

from tests.dbt_build import dbt_build
from tests.independent import (GWENT_LAS, SNAPSHOTS, catalogue, census_population_lsoa21, census_share_by_lsoa,
                               counted_street_rows, lsoa_to_la, one)

POP = SNAPSHOTS / "population"
NEWPORT, MONMOUTHSHIRE, CARDIFF = "W06000022", "W06000021", "W06000015"
# the four quarters to the last bundled police.uk month, and their length in days (2024 is a leap year)
LATEST_12_MONTHS = {f"2023-{m:02d}" for m in range(7, 13)} | {f"2024-{m:02d}" for m in range(1, 7)}
WINDOW_DAYS = 366
# index members with bundled LSOA data, and the catalogue members that have none
MEMBERS = {
    "wimd_most_deprived_10pct_share", "pct_social_rented", "pct_household_deprived_1plus_dimensions",
    "all_crime_rate", "violence_against_person_rate", "pct_disabled_equality_act", "asb_rate",
}
MEMBERS_WITHOUT_LSOA_DATA = {"claimant_count_rate", "pct_no_qualifications", "pct_upper_occupations",
                             "pct_disability_benefit"}
# the index's factors (equal weights) and its stated bound: no factor carries more than 1.6 x its equal share
# of the score's variance, 40% with four factors
FACTORS = ("economic_disadvantage", "crime", "disability", "local_extra")
VARIANCE_SHARE_BOUND = 0.40


# ---------------------------------------------------------------------------------------------- raw files

def lsoa21_la() -> dict[str, str]:
    with open(SNAPSHOTS / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv", encoding="utf-8") as fh:
        return {row["LSOA21CD"]: row["LADCD"] for row in csv.DictReader(fh)}


def urban_rural() -> dict[str, str]:
    with open(POP / "ruc21_lsoa21_wales.csv", encoding="utf-8") as fh:
        return {row["lsoa21_code"]: row["ruc"] for row in csv.DictReader(fh)}


def wimd2025_decile() -> dict[str, int]:
    with open(SNAPSHOTS / "wimd" / "wimd2025_ranks_deciles_by_lsoa21_derived.json", encoding="utf-8") as fh:
        return {code: int(v["decile"]) for code, v in json.load(fh)["byLsoa"].items()}


def crimes_by_lsoa(months: set[str]) -> dict[str, Counter]:
    """crime group -> LSOA -> records in the months (the bundled 2023-24 files use 2021 codes only)."""
    out = {"all_crime_rate": Counter(), "violence_against_person_rate": Counter(), "asb_rate": Counter()}
    for r in counted_street_rows():
        code = r["LSOA code"]
        if r["Month"] not in months or not code.startswith("W01"):
            continue
        if r["Crime type"] == "Anti-social behaviour":
            out["asb_rate"][code] += 1
        else:
            out["all_crime_rate"][code] += 1
            if r["Crime type"] == "Violence and sexual offences":
                out["violence_against_person_rate"][code] += 1
    return out


def member_values_from_raw(lsoas: list[str]) -> dict[str, dict[str, float]]:
    """indicator -> LSOA -> value, computed from the raw CSVs only."""
    social = census_share_by_lsoa("census2021_ts054_household_tenure21_lsoa21_wales.csv", "tenure", "total_households",
                           lambda c: c.startswith("Social rented"))
    deprived = census_share_by_lsoa("census2021_ts011_household_deprivation21_lsoa21_wales.csv", "deprivation_dimensions",
                             "total_households", lambda c: c != "Household is not deprived in any dimension")
    disabled = census_share_by_lsoa("census2021_ts038_disability21_lsoa21_ew_wales.csv", "disability", "total_residents",
                             lambda c: c == "Disabled under the Equality Act")
    decile = wimd2025_decile()
    pop = census_population_lsoa21()
    crimes = crimes_by_lsoa(LATEST_12_MONTHS)
    values: dict[str, dict[str, float]] = {}
    values["pct_social_rented"] = {c: 100 * social[c][0] / social[c][1] for c in lsoas}
    values["pct_household_deprived_1plus_dimensions"] = {c: 100 * deprived[c][0] / deprived[c][1] for c in lsoas}
    values["pct_disabled_equality_act"] = {c: 100 * disabled[c][0] / disabled[c][1] for c in lsoas}
    values["wimd_most_deprived_10pct_share"] = {c: 100.0 if decile[c] == 1 else 0.0 for c in lsoas}
    for ind, counts in crimes.items():
        # crimes per 1,000 person-years: residents x 366/365.25 years
        values[ind] = {c: 1000 * counts[c] / (pop[c] * WINDOW_DAYS / 365.25) for c in lsoas}
    return values


def wimd_exponential(rank: float, n: int) -> float:
    """WIMD's exponential transformation of a rank (1 = lowest risk, n = highest): from just above 0 to 100."""
    return -23 * math.log(1 - rank / n * (1 - math.exp(-100 / 23)))


def index_from_raw() -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """score and per-factor scores for every Gwent LSOA, the documented (WIMD) method, from raw files: each
    member's ranks (ties averaged) as normal scores, their weighted mean per factor ranked and put through
    WIMD's exponential transformation, the factors averaged with equal weights. Values are compared to 9
    decimals, as in the model."""
    cat = catalogue()
    lsoas = sorted(code for code, la in lsoa21_la().items() if la in GWENT_LAS)
    n = len(lsoas)
    values = member_values_from_raw(lsoas)
    assert {cat[i]["cohesion_factor"] for i in values} == set(FACTORS)
    normal: dict[str, dict[str, float]] = {}
    for ind, by_lsoa in values.items():
        sign = -1 if cat[ind]["polarity"] == "protective" else 1
        ranks = rankdata([round(sign * by_lsoa[c], 9) for c in lsoas])  # 1 = lowest risk, ties averaged
        normal[ind] = dict(zip(lsoas, norm.ppf(ranks / (n + 1))))
    weight = {ind: float(cat[ind]["index_weight"]) for ind in values}
    subs: dict[str, dict[str, float]] = {}
    for f in FACTORS:
        inds = [i for i in values if cat[i]["cohesion_factor"] == f]
        means = [round(sum(weight[i] * normal[i][c] for i in inds) / sum(weight[i] for i in inds), 9) for c in lsoas]
        subs[f] = {c: wimd_exponential(r, n) for c, r in zip(lsoas, rankdata(means))}
    scores = {c: sum(subs[f][c] for f in FACTORS) / len(FACTORS) for c in lsoas}
    return scores, subs


# ---------------------------------------------------------------------------------------------- the index

def index_rows(warehouse) -> dict[str, dict]:
    """fct_cohesion_index, LSOA -> row as a dict."""
    rel = warehouse.sql("select * from marts.fct_cohesion_index")
    return {row[0]: dict(zip(rel.columns, row)) for row in rel.fetchall()}


def test_index_members_come_from_the_catalogue_and_scope_is_gwent(warehouse):
    cat = catalogue()
    in_index = {i for i, r in cat.items() if r["in_cohesion_index"] == "true"}
    assert in_index == MEMBERS | MEMBERS_WITHOUT_LSOA_DATA
    rows = list(index_rows(warehouse).values())
    gwent = {code for code, la in lsoa21_la().items() if la in GWENT_LAS}
    assert {r["lsoa21_code"] for r in rows} == gwent and len(gwent) == 374
    assert {r["members_used"] for r in rows} == {";".join(sorted(MEMBERS))}
    assert {r["members_count"] for r in rows} == {7} and {r["lsoas_in_scope"] for r in rows} == {374}
    assert {r["index_scope"] for r in rows} == {
        "374 of 1917 LSOAs with a reliable value for every member (police force areas with crime data: Gwent)"}
    assert {r["index_period_label"] for r in rows} == {"Census 2021, WIMD 2025, crime and ASB 12 months to 2024-06-30"}
    # a sub-score for each factor with LSOA data, none for education / occupation (no bundled LSOA data)
    assert {c for c in rows[0] if c.startswith("score_")} == {f"score_{f}" for f in FACTORS}
    # a factor resting on fewer members than the catalogue defines is marked, never passed off as complete
    assert {r["factor_coverage"] for r in rows} == {
        "crime 2/2; disability 1/2 (missing: pct_disability_benefit); "
        "economic_disadvantage 3/4 (missing: claimant_count_rate); "
        "education 0/1 (missing: pct_no_qualifications; not in the index); local_extra 1/1; "
        "occupation 0/1 (missing: pct_upper_occupations; not in the index)"}
    assert {frozenset(r["members_missing"].split(";")) for r in rows} == {frozenset(MEMBERS_WITHOUT_LSOA_DATA)}


def test_index_scores_match_an_independent_recomputation_from_raw_files(warehouse):
    scores, subs = index_from_raw()
    got = index_rows(warehouse)
    assert set(got) == set(scores)
    for code, expected in scores.items():
        row = got[code]
        assert row["score"] == pytest.approx(expected, abs=1e-6), code
        for f in FACTORS:
            assert row[f"score_{f}"] == pytest.approx(subs[f][code], abs=1e-6), (code, f)
        # equal factor weights: the score is the plain mean of the four factor scores
        assert row["score"] == pytest.approx(sum(row[f"score_{f}"] for f in FACTORS) / 4, abs=1e-8)
    codes = sorted(scores)
    expected_rank = rankdata([-round(scores[c], 9) for c in codes], method="min")
    assert {c: got[c]["rank"] for c in codes} == {c: int(r) for c, r in zip(codes, expected_rank)}


def test_index_no_factor_dominates_the_score(warehouse):
    scores, subs = index_from_raw()
    codes = sorted(scores)
    total = np.array([scores[c] for c in codes])
    shares = {f: float(np.cov(np.array([subs[f][c] for c in codes]) / len(FACTORS), total)[0, 1] / total.var(ddof=1))
              for f in FACTORS}
    assert sum(shares.values()) == pytest.approx(1, abs=1e-9)
    rows = list(index_rows(warehouse).values())
    for f in FACTORS:
        # equal factor weights: crime and ASB (local_extra) together are 2 of the 4 factors, half the weight
        assert {r[f"weight_share_{f}"] for r in rows} == {0.25}
        assert len({r[f"variance_share_{f}"] for r in rows}) == 1
        assert rows[0][f"variance_share_{f}"] == pytest.approx(shares[f], abs=1e-6), f
    # the stated bound: no factor above 40% of the score's variance (1.6 x its equal share)
    assert max(shares.values()) < VARIANCE_SHARE_BOUND
    largest = max(shares, key=shares.get)
    assert {(r["largest_variance_share_factor"], round(r["largest_variance_share"], 6)) for r in rows} == {
        (largest, round(shares[largest], 6))}


def test_index_a_town_centre_with_extreme_crime_rates_no_longer_tops_it(warehouse):
    cat = catalogue()
    lsoas = sorted(code for code, la in lsoa21_la().items() if la in GWENT_LAS)
    values = member_values_from_raw(lsoas)
    centre = max(lsoas, key=values["all_crime_rate"].get)  # Newport city centre: few residents, many crimes
    # the old method (catalogue-weighted mean of z-scores) put it first on crime and ASB rates alone
    z = {i: {c: (v - statistics.fmean(by.values())) / statistics.stdev(by.values()) for c, v in by.items()}
         for i, by in values.items()}
    weight = {i: float(cat[i]["index_weight"]) for i in values}
    old = {c: sum(weight[i] * z[i][c] for i in values) / sum(weight.values()) for c in lsoas}
    assert max(old, key=old.get) == centre
    assert max(z["all_crime_rate"][c] for c in lsoas) > 8  # a raw z-score of 8-9
    row = index_rows(warehouse)[centre]
    # ranks, then WIMD's exponential transformation: the most extreme rate scores the maximum, 100, no more
    assert row["score_crime"] == pytest.approx(100, abs=1e-9)
    assert row["score_local_extra"] == pytest.approx(100, abs=1e-9)
    assert all(row[f"score_{f}"] <= 100 + 1e-9 for f in FACTORS)
    assert row["rank"] > 1 and row["decile"] == 1  # still high risk, but crime and ASB alone cannot put it first


def test_index_direction_a_higher_risk_value_raises_the_score(warehouse):
    # every member is a risk proxy: an LSOA at least as high on every member scores at least as high, and an
    # LSOA higher on every member scores higher
    lsoas = sorted(code for code, la in lsoa21_la().items() if la in GWENT_LAS)
    values = member_values_from_raw(lsoas)
    got = {c: r["score"] for c, r in index_rows(warehouse).items()}
    weakly = strictly = 0
    for a in lsoas:
        for b in lsoas:
            if a == b:
                continue
            if all(values[i][a] >= values[i][b] for i in values):
                weakly += 1
                assert got[a] >= got[b], (a, b)
                if all(values[i][a] > values[i][b] for i in values):
                    strictly += 1
                    assert got[a] > got[b], (a, b)
    assert weakly > 100 and strictly > 10


def test_index_leaves_unreliable_values_out(built, warehouse, tmp_path):
    """An LSOA value marked unreliable (ONS reliability notes) keeps its LSOA out of the index, for a census
    member and for one quarter of a pooled police.uk member; the index is rebuilt on a copy of the warehouse."""
    members = sorted(MEMBERS)
    flagged = warehouse.execute(
        "select distinct area_code from marts.fct_indicator_value where geography_level = 'lsoa' "
        "and status = 'unreliable' and indicator_id in (select unnest(?::varchar[]))", [members]).fetchall()
    assert not {c for (c,) in flagged} & set(index_rows(warehouse))
    census_lsoa, police_lsoa = "W01001685", "W01001506"  # Newport 014B and Torfaen 010A, both in scope
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(built["settings"].warehouse_path, copy)
    con = duckdb.connect(str(copy))
    marked = con.execute(
        "update marts.fct_indicator_value set status = 'unreliable' where geography_level = 'lsoa' and ("
        "(indicator_id = 'pct_social_rented' and area_code = ?) "
        "or (indicator_id = 'asb_rate' and area_code = ? and period_start = '2024-01-01')) returning area_code",
        [census_lsoa, police_lsoa]).fetchall()
    con.close()
    assert sorted(marked) == sorted([(census_lsoa,), (police_lsoa,)])
    dbt_build(copy, "fct_cohesion_index", tmp_path)
    con = duckdb.connect(str(copy), read_only=True)
    try:
        rows = con.execute("select lsoa21_code, index_scope, lsoas_in_scope from marts.fct_cohesion_index").fetchall()
    finally:
        con.close()
    gwent = {code for code, la in lsoa21_la().items() if la in GWENT_LAS}
    assert {r[0] for r in rows} == gwent - {census_lsoa, police_lsoa}
    assert {(r[1], r[2]) for r in rows} == {
        ("372 of 1917 LSOAs with a reliable value for every member (police force areas with crime data: Gwent)", 372)}


def test_rank_follows_score_and_deciles_are_equal_tenths(warehouse):
    rows = warehouse.sql(
        "select lsoa21_code, score, rank, decile, score_economic_disadvantage, score_crime, score_disability, "
        "score_local_extra from marts.fct_cohesion_index").fetchall()
    by_score = sorted(rows, key=lambda r: -r[1])
    assert by_score[0][2] == 1
    assert [r[2] for r in by_score] == sorted(r[2] for r in rows)  # rank never decreases as score falls
    for a, b in zip(by_score, by_score[1:]):
        assert (a[2] == b[2]) == (a[1] == b[1])
    assert [r[3] for r in by_score] == sorted(r[3] for r in rows)  # decile 1 = highest scores
    sizes = Counter(r[3] for r in rows)
    assert set(sizes) == set(range(1, 11))
    assert max(sizes.values()) - min(sizes.values()) <= 1
    # every factor score is WIMD's exponential transformation of a rank: above 0, exactly 100 at the top
    for k in range(4, 8):
        assert min(r[k] for r in rows) > 0 and max(r[k] for r in rows) == pytest.approx(100, abs=1e-9)
    assert all(0 < r[1] <= 100 for r in rows)


# ---------------------------------------------------------------------------------------------- cohesion profile

def test_urban_and_rural_values_pool_the_las_lsoas(warehouse):
    la_of, ruc = lsoa21_la(), urban_rural()
    social = census_share_by_lsoa("census2021_ts054_household_tenure21_lsoa21_wales.csv", "tenure", "total_households",
                           lambda c: c.startswith("Social rented"))
    expected = {}
    for cls in ("Urban", "Rural"):
        codes = [c for c, la in la_of.items() if la == MONMOUTHSHIRE and ruc[c] == cls]
        expected[cls] = 100 * sum(social[c][0] for c in codes) / sum(social[c][1] for c in codes)
    urban, rural = one(
        warehouse,
        "select urban_value, rural_value from marts.mart_cohesion_profile "
        "where la_code = ? and indicator_id = 'pct_social_rented'", [MONMOUTHSHIRE],
    )
    assert (urban, rural) == pytest.approx((expected["Urban"], expected["Rural"]), abs=1e-9)
    # crime: the latest 12 months of the class's LSOAs, crimes over person-years
    crimes, pop = crimes_by_lsoa(LATEST_12_MONTHS)["all_crime_rate"], census_population_lsoa21()
    for cls, column in (("Urban", "urban_value"), ("Rural", "rural_value")):
        codes = [c for c, la in la_of.items() if la == MONMOUTHSHIRE and ruc[c] == cls]
        rate = 1000 * sum(crimes[c] for c in codes) / (sum(pop[c] for c in codes) * WINDOW_DAYS / 365.25)
        (got,) = one(warehouse, f"select {column} from marts.mart_cohesion_profile "
                                "where la_code = ? and indicator_id = 'all_crime_rate'", [MONMOUTHSHIRE])
        assert got == pytest.approx(rate, rel=1e-9)


def test_crime_benchmark_and_latest_are_12_month_pools(warehouse):
    la_of, pop = lsoa_to_la(), census_population_lsoa21()
    newport_pop = sum(p for c, p in pop.items() if la_of.get(c) == NEWPORT)
    first_12 = {f"2022-{m:02d}" for m in range(1, 13)}  # Gwent's bundled series starts in 2022-01
    count = Counter()
    for r in counted_street_rows():
        code = r["LSOA code"]
        if code.startswith("W01") and la_of[code] == NEWPORT and r["Crime type"] != "Anti-social behaviour":
            count["first" if r["Month"] in first_12 else "latest" if r["Month"] in LATEST_12_MONTHS else "other"] += 1
    bench = 1000 * count["first"] / (newport_pop * 365 / 365.25)  # 2022-01-01 .. 2022-12-31
    latest = 1000 * count["latest"] / (newport_pop * WINDOW_DAYS / 365.25)
    row = one(
        warehouse,
        "select benchmark_period_label, benchmark_value, latest_period_label, latest_value, change_since_benchmark, "
        "comparison_with_wales, latest_lci_95 < latest_value and latest_value < latest_uci_95 "
        "from marts.mart_cohesion_profile where la_code = ? and indicator_id = 'all_crime_rate'", [NEWPORT],
    )
    assert row[0] == "12 months to 2022-12-31" and row[2] == "12 months to 2024-06-30"
    assert row[1] == pytest.approx(bench, rel=1e-9) and row[3] == pytest.approx(latest, rel=1e-9)
    assert row[4] == pytest.approx(latest - bench, rel=1e-9)
    assert row[5] == "not compared" and row[6]  # Wales is incomplete after 2022-11 (Gwent only): no Wales value
    series_key, change_note, comparison_note = one(
        warehouse, "select series_key, change_note, comparison_note from marts.mart_cohesion_profile "
                   "where la_code = ? and indicator_id = 'all_crime_rate'", [NEWPORT])
    assert series_key.startswith("police_uk") and change_note is None
    assert comparison_note.startswith("not compared: no benchmark value")
    (community,) = one(
        warehouse,
        "select value from marts.mart_community_profile where la_code = ? and topic = 'crime' "
        "and measure = 'All recorded crime per 1,000 residents' and period_label = '12 months to 2024-06-30'",
        [NEWPORT],
    )
    assert community == pytest.approx(latest, rel=1e-9)


def test_comparison_with_wales_follows_the_interval_and_polarity(warehouse):
    """The interval must exclude Wales AND the difference must reach the catalogue's change_threshold
    (materiality); unreliable figures are not compared."""
    cat = catalogue()
    rows = warehouse.sql(
        "select indicator_id, polarity, latest_value, latest_lci_95, latest_uci_95, latest_status, wales_latest_value, "
        "materiality_threshold, comparison_with_wales, assessment_vs_wales from marts.mart_cohesion_profile"
    ).fetchall()
    seen, held_back = set(), 0
    for indicator_id, polarity, value, lci, uci, status, wales, threshold, comparison, assessment in rows:
        assert threshold == float(cat[indicator_id]["change_threshold"])
        if lci is None or uci is None or wales is None or status == "unreliable":
            expected = "not compared"
        elif lci > wales and value - wales >= threshold:
            expected = "higher"
        elif uci < wales and wales - value >= threshold:
            expected = "lower"
        else:
            expected = "similar"
            held_back += lci > wales or uci < wales  # the interval alone would have called it
        assert comparison == expected, (indicator_id, value, wales)
        good = {"risk": {"higher": "worse", "lower": "better"}, "protective": {"higher": "better", "lower": "worse"}}
        assert assessment == good.get(polarity, {}).get(comparison, comparison)
        seen.add(comparison)
    assert {"higher", "lower", "similar", "not compared"} <= seen
    assert held_back > 0


def test_lsoas_most_changed_are_named_and_ordered_by_the_size_of_their_change(warehouse):
    """The listed LSOAs are those with a significant change after FDR (recomputed with scipy in
    tests/test_profile_change.py), largest absolute change first: recomputed here from fct_indicator_value's LSOA
    quarters, first 12 months vs latest 12 months, pooled."""
    rows = warehouse.sql(
        "select v.area_code, v.period_start, v.numerator, v.denominator from marts.fct_indicator_value as v "
        "where v.indicator_id = 'asb_rate' and v.geography_level = 'lsoa'"
    ).fetchall()
    la_of = lsoa21_la()
    pooled = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for code, start, num, den in rows:
        if la_of[code] != NEWPORT:
            continue
        # first 12 months of the series (2022) and latest 12 months (2023-07..2024-06); the half-year between
        # is in neither window
        if "2023-01-01" <= start.isoformat() < "2023-07-01":
            continue
        k = 0 if start.isoformat() < "2023-01-01" else 2
        pooled[code][k] += num
        pooled[code][k + 1] += den
    change = {c: 1000 * p[2] / p[3] - 1000 * p[0] / p[1] for c, p in pooled.items()}
    got, names, changes = one(warehouse, "select lsoas_most_changed, lsoas_most_changed_names, lsoas_most_changed_changes "
                                         "from marts.mart_cohesion_profile where la_code = ? and indicator_id = 'asb_rate'",
                              [NEWPORT])
    listed = got.split(";")
    assert len(listed) == 3 and listed == sorted(listed, key=lambda c: -abs(change[c]))
    assert [float(x) for x in changes.split(";")] == pytest.approx([change[c] for c in listed], abs=1e-6)
    expected = listed
    with open(SNAPSHOTS / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv", encoding="utf-8") as fh:
        name_of = {row["LSOA21CD"]: row["LSOA21NM"] for row in csv.DictReader(fh)}
    assert names == ";".join(name_of[c] for c in expected)
    # a single-period indicator has none; nor do the age shares, whose only 2021 LSOA period follows a
    # series break (mid-year estimates -> Census 2021): no ranking of bridged 2011 estimates against the census
    for indicator_id in ("pct_disabled_equality_act", "pct_aged_0_15", "pct_aged_65_plus"):
        (none,) = one(warehouse, "select lsoas_most_changed from marts.mart_cohesion_profile "
                                 "where la_code = ? and indicator_id = ?", [NEWPORT, indicator_id])
        assert none is None


# ---------------------------------------------------------------------------------------------- community profile

def test_community_profile_religion_share_matches_the_raw_census_csv(warehouse):
    la_of = lsoa21_la()
    muslims = residents = 0
    by_category: Counter = Counter()
    with open(POP / "census2021_ts030_religion21_lsoa21_wales.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if la_of[row["lsoa21_code"]] == CARDIFF:
                by_category[row["religion"]] += int(row["n"])
                if row["religion"] == "Muslim":
                    muslims += int(row["n"])
    residents = sum(by_category.values())
    got = dict(warehouse.execute(
        "select measure, value from marts.mart_community_profile where la_code = ? and topic = 'religion'",
        [CARDIFF],
    ).fetchall())
    assert len(got) == 9
    assert got["Muslim"] == pytest.approx(100 * muslims / residents, abs=1e-9)
    assert sum(got.values()) == pytest.approx(100, abs=1e-9)


def test_community_profile_size_and_tenure_sum_the_las_lsoas(warehouse):
    la_of = lsoa21_la()
    households = {}
    with open(POP / "census2021_ts054_household_tenure21_lsoa21_wales.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            households[row["lsoa21_code"]] = int(row["total_households"])
    pop = census_population_lsoa21()
    got = dict(warehouse.execute(
        "select measure, value from marts.mart_community_profile where la_code = ? and topic = 'size'", [NEWPORT],
    ).fetchall())
    assert got["Households"] == sum(h for c, h in households.items() if la_of[c] == NEWPORT)
    assert got["Usual residents"] == sum(p for c, p in pop.items() if la_of[c] == NEWPORT)
    topics = dict(warehouse.execute(
        "select topic, count(distinct measure) from marts.mart_community_profile where la_code = ? group by 1",
        [NEWPORT],
    ).fetchall())
    assert topics["tenure"] == 8 and topics["religion"] == 9 and topics["age_structure"] == 6
    assert topics["ethnicity"] == 20 and topics["qualifications"] == 5 and topics["economic_activity"] == 3
    assert "welsh_language" not in topics  # not bundled in a summable form (documented)
    # crime only for LAs complete in all four quarters: Gwent's five
    crime_las = {la for (la,) in warehouse.sql(
        "select distinct la_code from marts.mart_community_profile where topic = 'crime'").fetchall()}
    assert crime_las == GWENT_LAS
