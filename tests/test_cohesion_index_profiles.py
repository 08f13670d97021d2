"""The cohesion index (fct_cohesion_index) and the LA profiles (mart_cohesion_profile, mart_community_profile),
against figures recomputed here from the bundled raw files with the csv module (and, where named, from
fct_indicator_value's LSOA rows): z-scores, direction, weights, pooling, ranks, deciles, urban/rural pooling
and a community-profile share."""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter, defaultdict

import pytest

from tests.independent import GWENT_LAS, SNAPSHOTS, census_population_lsoa21, lsoa_to_la, one, street_rows

CATALOGUE = SNAPSHOTS.parents[1] / "seeds" / "indicator_catalogue.csv"
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


# ---------------------------------------------------------------------------------------------- raw files

def catalogue() -> dict[str, dict]:
    with open(CATALOGUE, encoding="utf-8") as fh:
        return {row["indicator_id"]: row for row in csv.DictReader(fh)}


def lsoa21_la() -> dict[str, str]:
    with open(SNAPSHOTS / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv", encoding="utf-8") as fh:
        return {row["LSOA21CD"]: row["LADCD"] for row in csv.DictReader(fh)}


def urban_rural() -> dict[str, str]:
    with open(POP / "ruc21_lsoa21_wales.csv", encoding="utf-8") as fh:
        return {row["lsoa21_code"]: row["ruc"] for row in csv.DictReader(fh)}


def share_by_lsoa(filename: str, category_col: str, total_col: str, keep) -> dict[str, tuple[float, float]]:
    """LSOA -> (numerator, total) for the categories `keep` accepts."""
    num: Counter = Counter()
    total: dict[str, float] = {}
    with open(POP / filename, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            total[row["lsoa21_code"]] = float(row[total_col])
            if keep(row[category_col]):
                num[row["lsoa21_code"]] += float(row["n"])
    return {code: (num[code], t) for code, t in total.items()}


def wimd2025_decile() -> dict[str, int]:
    with open(SNAPSHOTS / "wimd" / "wimd2025_ranks_deciles_by_lsoa21_derived.json", encoding="utf-8") as fh:
        return {code: int(v["decile"]) for code, v in json.load(fh)["byLsoa"].items()}


def crimes_by_lsoa(months: set[str]) -> dict[str, Counter]:
    """crime group -> LSOA -> records in the months (the bundled 2023-24 files use 2021 codes only)."""
    out = {"all_crime_rate": Counter(), "violence_against_person_rate": Counter(), "asb_rate": Counter()}
    for r in street_rows():
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
    social = share_by_lsoa("census2021_ts054_household_tenure21_lsoa21_wales.csv", "tenure", "total_households",
                           lambda c: c.startswith("Social rented"))
    deprived = share_by_lsoa("census2021_ts011_household_deprivation21_lsoa21_wales.csv", "deprivation_dimensions",
                             "total_households", lambda c: c != "Household is not deprived in any dimension")
    disabled = share_by_lsoa("census2021_ts038_disability21_lsoa21_ew_wales.csv", "disability", "total_residents",
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


def index_from_raw() -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """score and per-factor sub-scores for every Gwent LSOA, the documented method, from raw files."""
    cat = catalogue()
    lsoas = sorted(code for code, la in lsoa21_la().items() if la in GWENT_LAS)
    values = member_values_from_raw(lsoas)
    directed: dict[str, dict[str, float]] = {}
    for ind, by_lsoa in values.items():
        mean, sd = statistics.fmean(by_lsoa.values()), statistics.stdev(by_lsoa.values())
        sign = -1 if cat[ind]["polarity"] == "protective" else 1
        directed[ind] = {c: sign * (v - mean) / sd for c, v in by_lsoa.items()}
    weight = {ind: float(cat[ind]["index_weight"]) for ind in values}
    factor = {ind: cat[ind]["cohesion_factor"] for ind in values}

    def wmean(code: str, inds) -> float:
        inds = list(inds)
        return sum(weight[i] * directed[i][code] for i in inds) / sum(weight[i] for i in inds)

    scores = {c: wmean(c, values) for c in lsoas}
    subs = {f: {c: wmean(c, [i for i in values if factor[i] == f]) for c in lsoas} for f in set(factor.values())}
    return scores, subs


# ---------------------------------------------------------------------------------------------- the index

def test_index_members_come_from_the_catalogue_and_scope_is_gwent(warehouse):
    cat = catalogue()
    in_index = {i for i, r in cat.items() if r["in_cohesion_index"] == "true"}
    assert in_index == MEMBERS | MEMBERS_WITHOUT_LSOA_DATA
    rows = warehouse.sql(
        "select lsoa21_code, members_used, members_count, index_scope, index_period_label, lsoas_in_scope "
        "from marts.fct_cohesion_index"
    ).fetchall()
    gwent = {code for code, la in lsoa21_la().items() if la in GWENT_LAS}
    assert {r[0] for r in rows} == gwent and len(gwent) == 374
    assert {r[1] for r in rows} == {";".join(sorted(MEMBERS))}
    assert {r[2] for r in rows} == {7} and {r[5] for r in rows} == {374}
    assert {r[3] for r in rows} == {"374 of 1917 LSOAs with every member (police force areas with crime data: Gwent)"}
    assert {r[4] for r in rows} == {"Census 2021, WIMD 2025, crime and ASB 12 months to 2024-06-30"}
    columns = {
        c for (c,) in warehouse.sql(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_cohesion_index'"
        ).fetchall()
    }
    # a sub-score for each factor with LSOA data, none for education / occupation (no bundled LSOA data)
    assert {c for c in columns if c.startswith("score_")} == {
        "score_economic_disadvantage", "score_crime", "score_disability", "score_local_extra"}


def test_index_scores_match_an_independent_recomputation_from_raw_files(warehouse):
    scores, subs = index_from_raw()
    got = {
        code: (score, econ, crime, disability, extra)
        for code, score, econ, crime, disability, extra in warehouse.sql(
            "select lsoa21_code, score, score_economic_disadvantage, score_crime, score_disability, score_local_extra "
            "from marts.fct_cohesion_index"
        ).fetchall()
    }
    assert set(got) == set(scores)
    for code, expected in scores.items():
        assert got[code][0] == pytest.approx(expected, abs=1e-9), code
    # two LSOAs in full: the highest-risk one and a Monmouthshire one, every sub-score
    top = max(scores, key=scores.get)
    monmouth = min(c for c, la in lsoa21_la().items() if la == MONMOUTHSHIRE)
    for code in (top, monmouth):
        assert got[code][1:] == pytest.approx((
            subs["economic_disadvantage"][code], subs["crime"][code], subs["disability"][code],
            subs["local_extra"][code]), abs=1e-9)
    # the weights as published: economic 3 x 0.25, crime 2 x 0.5, disability 0.5, ASB 1 (sum 3.25)
    score, econ, crime, disability, extra = got[top]
    assert score == pytest.approx((0.75 * econ + 1.0 * crime + 0.5 * disability + 1.0 * extra) / 3.25, abs=1e-9)


def test_index_direction_a_higher_risk_value_raises_the_score(warehouse):
    # every member is a risk proxy: an LSOA above the mean on all of them must score above 0
    lsoas = sorted(code for code, la in lsoa21_la().items() if la in GWENT_LAS)
    values = member_values_from_raw(lsoas)
    means = {i: statistics.fmean(v.values()) for i, v in values.items()}
    above = [c for c in lsoas if all(values[i][c] > means[i] for i in values)]
    below = [c for c in lsoas if all(values[i][c] < means[i] for i in values)]
    assert above and below
    got = dict(warehouse.sql("select lsoa21_code, score from marts.fct_cohesion_index").fetchall())
    assert all(got[c] > 0 for c in above) and all(got[c] < 0 for c in below)


def test_rank_follows_score_and_deciles_are_equal_tenths(warehouse):
    rows = warehouse.sql("select lsoa21_code, score, rank, decile from marts.fct_cohesion_index").fetchall()
    by_score = sorted(rows, key=lambda r: -r[1])
    assert by_score[0][2] == 1
    assert [r[2] for r in by_score] == sorted(r[2] for r in rows)  # rank never decreases as score falls
    for a, b in zip(by_score, by_score[1:]):
        assert (a[2] == b[2]) == (a[1] == b[1])
    assert [r[3] for r in by_score] == sorted(r[3] for r in rows)  # decile 1 = highest scores
    sizes = Counter(r[3] for r in rows)
    assert set(sizes) == set(range(1, 11))
    assert max(sizes.values()) - min(sizes.values()) <= 1
    assert statistics.fmean(r[1] for r in rows) == pytest.approx(0, abs=1e-9)


# ---------------------------------------------------------------------------------------------- cohesion profile

def test_urban_and_rural_values_pool_the_las_lsoas(warehouse):
    la_of, ruc = lsoa21_la(), urban_rural()
    social = share_by_lsoa("census2021_ts054_household_tenure21_lsoa21_wales.csv", "tenure", "total_households",
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
    first_12 = {f"2022-{m:02d}" for m in range(7, 13)} | {f"2023-{m:02d}" for m in range(1, 7)}
    count = Counter()
    for r in street_rows():
        code = r["LSOA code"]
        if code.startswith("W01") and la_of[code] == NEWPORT and r["Crime type"] != "Anti-social behaviour":
            count["first" if r["Month"] in first_12 else "latest" if r["Month"] in LATEST_12_MONTHS else "other"] += 1
    bench = 1000 * count["first"] / (newport_pop * 365 / 365.25)  # 2022-07-01 .. 2023-06-30
    latest = 1000 * count["latest"] / (newport_pop * WINDOW_DAYS / 365.25)
    row = one(
        warehouse,
        "select benchmark_period_label, benchmark_value, latest_period_label, latest_value, change_since_benchmark, "
        "comparison_with_wales, latest_lci_95 < latest_value and latest_value < latest_uci_95 "
        "from marts.mart_cohesion_profile where la_code = ? and indicator_id = 'all_crime_rate'", [NEWPORT],
    )
    assert row[0] == "12 months to 2023-06-30" and row[2] == "12 months to 2024-06-30"
    assert row[1] == pytest.approx(bench, rel=1e-9) and row[3] == pytest.approx(latest, rel=1e-9)
    assert row[4] == pytest.approx(latest - bench, rel=1e-9)
    assert row[5] == "not compared" and row[6]  # Wales is incomplete (only Gwent loaded): no Wales value
    (community,) = one(
        warehouse,
        "select value from marts.mart_community_profile where la_code = ? and topic = 'crime' "
        "and measure = 'All recorded crime per 1,000 residents' and period_label = '12 months to 2024-06-30'",
        [NEWPORT],
    )
    assert community == pytest.approx(latest, rel=1e-9)


def test_comparison_with_wales_follows_the_interval_and_polarity(warehouse):
    rows = warehouse.sql(
        "select polarity, latest_lci_95, latest_uci_95, wales_latest_value, comparison_with_wales, assessment_vs_wales "
        "from marts.mart_cohesion_profile"
    ).fetchall()
    seen = set()
    for polarity, lci, uci, wales, comparison, assessment in rows:
        if lci is None or uci is None or wales is None:
            expected = "not compared"
        else:
            expected = "higher" if lci > wales else "lower" if uci < wales else "similar"
        assert comparison == expected
        good = {"risk": {"higher": "worse", "lower": "better"}, "protective": {"higher": "better", "lower": "worse"}}
        assert assessment == good.get(polarity, {}).get(comparison, comparison)
        seen.add(comparison)
    assert {"higher", "lower", "similar", "not compared"} <= seen


def test_lsoas_most_changed_are_the_largest_absolute_lsoa_changes(warehouse):
    # recomputed from fct_indicator_value's LSOA quarters: first 12 months vs latest 12 months, pooled
    rows = warehouse.sql(
        "select v.area_code, v.period_start, v.numerator, v.denominator from marts.fct_indicator_value as v "
        "where v.indicator_id = 'asb_rate' and v.geography_level = 'lsoa'"
    ).fetchall()
    la_of = lsoa21_la()
    pooled = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for code, start, num, den in rows:
        if la_of[code] != NEWPORT:
            continue
        k = 0 if start.isoformat() < "2023-07-01" else 2
        pooled[code][k] += num
        pooled[code][k + 1] += den
    change = {c: 1000 * p[2] / p[3] - 1000 * p[0] / p[1] for c, p in pooled.items()}
    expected = sorted(change, key=lambda c: (-abs(change[c]), c))[:3]
    (got,) = one(warehouse, "select lsoas_most_changed from marts.mart_cohesion_profile "
                            "where la_code = ? and indicator_id = 'asb_rate'", [NEWPORT])
    assert got == ";".join(expected)
    # a single-period indicator has none
    (none,) = one(warehouse, "select lsoas_most_changed from marts.mart_cohesion_profile "
                             "where la_code = ? and indicator_id = 'pct_disabled_equality_act'", [NEWPORT])
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
