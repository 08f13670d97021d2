"""fct_indicator_change and fct_indicator_benchmark, recomputed by hand from fct_indicator_value.

Guide, Part 2, Step 4: track every indicator over time (rapid change, not gradual change, is the risk
signal) and benchmark districts against Wales, neighbourhoods against their district or against
neighbourhoods with a similar profile. Each test recomputes the warehouse's figures in Python, with
scipy's normal distribution, from the rows of marts.fct_indicator_value.
"""

from __future__ import annotations

import csv
import math
from datetime import date, timedelta
from pathlib import Path

import pytest
from scipy.stats import binom, false_discovery_control, norm

from tests.independent import census_population_lsoa21, one, records

Z95 = norm.ppf(0.975)
with open(Path(__file__).resolve().parents[1] / "seeds" / "indicator_catalogue.csv", encoding="utf-8") as _fh:
    CATALOGUE = {r["indicator_id"]: r for r in csv.DictReader(_fh)}


def values(con, where: str, params: list | None = None) -> list[dict]:
    return records(con, f"select * from marts.fct_indicator_value where {where}", params)


def standard_error(row: dict) -> float | None:
    """One period's SE from its own interval method (see fct_indicator_change.sql)."""
    if row["ci_method"] == "wilson":
        p = row["numerator"] / row["denominator"]
        return 100 * math.sqrt(p * (1 - p) / row["denominator"])
    if row["ci_method"] == "poisson_exact":
        return 1000 * math.sqrt(row["numerator"]) / row["denominator"]
    if row["ci_method"] == "published" and row["lci_95"] is not None:
        return (row["uci_95"] - row["lci_95"]) / (2 * 1.96)
    return None


def series_of(source_release: str) -> str:
    for prefix, series in (("ONS small area population estimates", "sape"), ("Census 20", "census"),
                           ("Welsh Index of Multiple Deprivation", "wimd")):
        if source_release.startswith(prefix):
            return series
    return source_release


def expected_direction(polarity: str, change: float, significant: bool) -> str:
    if not significant or change == 0:
        return "no significant change"
    up = change > 0
    if polarity == "risk":
        return "worsening" if up else "improving"
    if polarity == "protective":
        return "improving" if up else "worsening"
    return "significant increase" if up else "significant decrease"


def fingertips(value_row: dict, benchmark: float) -> str:
    if value_row["lci_95"] is None or value_row["uci_95"] is None:
        return "not compared"
    if value_row["lci_95"] > benchmark:
        return "higher"
    if value_row["uci_95"] < benchmark:
        return "lower"
    return "similar"


def expected_assessment(polarity: str, comparison: str) -> str:
    if comparison in ("similar", "not compared") or polarity == "context":
        return comparison
    worse_if = "higher" if polarity == "risk" else "lower"
    return "worse" if comparison == worse_if else "better"


def one_year_earlier(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


# --- change over time -------------------------------------------------------------------------------
# Method: dbt docs block exception_method. Counts: exact conditional test (two-sided, central); census
# proportions: pooled two-proportion z; published intervals: z from the intervals; BH within
# indicator × level × comparison × period; rapid = q < 0.05 AND |change| ≥ threshold AND same series.

MIN_EVENTS = 10


def is_sub_annual(row: dict) -> bool:
    return row["period_start"] < row["period_end"] < row["period_start"] + timedelta(days=360)


def expected_test(cur: dict, before: dict) -> tuple[str, float | None]:
    """(test_method, p) recomputed with scipy from two fct_indicator_value rows."""
    if cur["series_key"] != before["series_key"]:
        return "not tested: series break", None
    if "unreliable" in (cur["status"], before["status"]):
        return "not tested: the source calls a figure unreliable", None
    if "estimated" in (cur["status"], before["status"]):
        # a 2011 LSOA split across the 2021 boundaries: a population share of its parent, not a count
        return ("not tested: a figure is estimated (a 2011 LSOA split across the 2021 boundaries, shared out by "
                "population, not counted)"), None
    method = cur["ci_method"] if cur["ci_method"] == before["ci_method"] else "mixed"
    if method == "poisson_exact":
        k1, k0 = round(cur["numerator"]), round(before["numerator"])
        if k1 + k0 < MIN_EVENTS:
            return "not tested: fewer than 10 events in the two periods", None
        share = cur["denominator"] / (cur["denominator"] + before["denominator"])
        n = k1 + k0
        p = min(1.0, 2 * min(binom.sf(k1 - 1, n, share), binom.cdf(k1, n, share)))
        return "exact conditional Poisson (two-sided)", p
    if method == "wilson":
        k1, n1, k0, n0 = cur["numerator"], cur["denominator"], before["numerator"], before["denominator"]
        if min(k1, n1 - k1, k0, n0 - k0) < MIN_EVENTS:
            return "not tested: fewer than 10 in a cell", None
        pooled = (k1 + k0) / (n1 + n0)
        z = (k1 / n1 - k0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        return "two-proportion z (pooled; census natural variation)", 2 * norm.sf(abs(z))
    if method == "published" and cur["uci_95"] >= cur["lci_95"] and before["uci_95"] >= before["lci_95"]:
        se = math.hypot(cur["uci_95"] - cur["lci_95"], before["uci_95"] - before["lci_95"]) / (2 * Z95)
        return "published interval z", (2 * norm.sf(abs(cur["value"] - before["value"]) / se) if se > 0 else 1.0)
    return "not tested: no interval for a figure", None


def test_lsoa_crime_rate_2024_q2_against_2023_q2(warehouse):
    """Exact conditional test for two Poisson counts: given n = k1 + k0, k1 ~ Binomial(n, d1 / (d1 + d0))."""
    now = {r["area_code"]: r for r in values(warehouse, "indicator_id = 'all_crime_rate' and geography_level = 'lsoa' and period_label = '2024 Q2'")}
    then = {r["area_code"]: r for r in values(warehouse, "indicator_id = 'all_crime_rate' and geography_level = 'lsoa' and period_label = '2023 Q2'")}
    assert len(now) == len(then) == 374  # Gwent's LSOAs: the bundled police.uk files
    tests = {code: expected_test(now[code], then[code]) for code in now}
    tested = {code: p for code, (_, p) in tests.items() if p is not None}
    q = dict(zip(tested, false_discovery_control(list(tested.values()), method="bh")))
    got = {r["area_code"]: r for r in records(
        warehouse,
        "select * from marts.fct_indicator_change where indicator_id = 'all_crime_rate' and geography_level = 'lsoa' "
        "and period_label = '2024 Q2' and comparison = 'year_earlier'")}
    assert got.keys() == now.keys()
    for code, row in got.items():
        a, b = now[code], then[code]
        # rates are per 1,000 person-years: Census 2021 residents × 91 days (April-June) / 365.25
        assert a["denominator"] == pytest.approx(census_population_lsoa21()[code] * 91 / 365.25)
        change = a["value"] - b["value"]
        assert row["compared_period_label"] == "2023 Q2" and row["test_method"] == tests[code][0]
        assert row["change"] == pytest.approx(change, abs=1e-9)
        assert row["is_beyond_threshold"] == (abs(change) >= 10)  # catalogue: 10 per 1,000 person-years
        if code not in tested:
            assert row["p_value"] is None and row["direction"] == "not tested" and not row["is_rapid_change"]
            continue
        assert row["p_value"] == pytest.approx(tested[code], rel=1e-9, abs=1e-300)
        assert row["q_value"] == pytest.approx(q[code], rel=1e-9, abs=1e-300)
        assert row["is_rapid_change"] == (q[code] < 0.05 and abs(change) >= 10)
        # not the headline for LSOA crime (that is the force-adjusted comparison), so never an exception here
        assert row["is_headline_comparison"] is False and row["is_exception"] is False
    assert sum(r["is_rapid_change"] for r in got.values()) < 0.1 * len(got)


def test_year_earlier_quarter_across_a_leap_day_has_the_same_length(warehouse):
    """2024 Q1 has 91 days and 2023 Q1 90: still a quarter against the same quarter."""
    (n,) = one(
        warehouse,
        "select count(*) from marts.fct_indicator_change where indicator_id = 'violence_against_person_rate' "
        "and period_label = '2024 Q1' and comparison = 'year_earlier' and compared_period_label = '2023 Q1'"
    )
    (expected,) = one(
        warehouse,
        "select count(*) from marts.fct_indicator_value where indicator_id = 'violence_against_person_rate' and period_label = '2024 Q1'"
    )
    assert n == expected > 0


def test_direction_reads_rapid_change_through_polarity(warehouse):
    """Polarity: a rapid rise in a risk proxy is worsening, in a protective proxy improving; context proxies
    say rapid increase / decrease. Anything not rapid never gets a direction of travel."""
    rows = records(
        warehouse,
        "select polarity, change, is_rapid_change, is_significant, is_series_break, p_value, direction "
        "from marts.fct_indicator_change",
    )
    reading = {("risk", True): "worsening", ("risk", False): "improving", ("protective", True): "improving",
               ("protective", False): "worsening", ("context", True): "rapid increase",
               ("context", False): "rapid decrease"}
    rapid = [r for r in rows if r["is_rapid_change"]]
    assert rapid and {r["polarity"] for r in rapid} >= {"risk"}
    for r in rows:
        if r["is_rapid_change"]:
            assert r["direction"] == reading[(r["polarity"], r["change"] > 0)]
        elif r["is_series_break"]:
            assert r["direction"] == "series break"
        elif r["p_value"] is None:
            assert r["direction"] == "not tested"
        else:
            assert r["direction"] in ("no significant change", "significant but below threshold")


def test_every_change_row_recomputed_from_fct_indicator_value(warehouse):
    """The pairs are exactly 'previous period' (every series) and 'same period a year earlier' (quarterly series
    only: no duplicated annual rows); every test, p, q, flag and direction matches a recomputation with scipy."""
    series: dict[tuple, list[dict]] = {}
    for r in values(warehouse, "true"):
        series.setdefault((r["indicator_id"], r["geography_level"], r["area_code"]), []).append(r)
    expected = {}
    for key, rows in series.items():
        rows.sort(key=lambda r: r["period_start"])
        by_period = {(r["period_start"], r["period_end"]): r for r in rows}
        for i, cur in enumerate(rows):
            if i > 0:
                expected[(*key, cur["period_start"], "previous_period")] = (cur, rows[i - 1])
            earlier = by_period.get((one_year_earlier(cur["period_start"]), one_year_earlier(cur["period_end"] + timedelta(days=1)) - timedelta(days=1)))
            if earlier and is_sub_annual(cur):
                expected[(*key, cur["period_start"], "year_earlier")] = (cur, earlier)

    got = {
        (r["indicator_id"], r["geography_level"], r["area_code"], r["period_start"], r["comparison"]): r
        for r in records(warehouse, "select * from marts.fct_indicator_change where comparison <> 'force_adjusted'")
    }
    assert got.keys() == expected.keys()

    tests = {key: expected_test(cur, before) for key, (cur, before) in expected.items()}
    families: dict[tuple, list[tuple]] = {}
    for key, (_, p) in tests.items():
        if p is not None:
            families.setdefault((key[0], key[1], key[4], key[3]), []).append(key)
    q = {}
    for members in families.values():
        q.update(zip(members, false_discovery_control([tests[k][1] for k in members], method="bh")))

    for key, (cur, before) in expected.items():
        row = got[key]
        change = cur["value"] - before["value"]
        method, p = tests[key]
        assert row["compared_period_start"] == before["period_start"]
        assert math.isclose(row["change"], change, abs_tol=1e-9), key
        assert row["test_method"] == method, key
        threshold = float(CATALOGUE[cur["indicator_id"]]["change_threshold"])
        assert row["is_beyond_threshold"] == (abs(change) >= threshold)
        assert row["is_series_break"] == (cur["series_key"] != before["series_key"]), key
        if p is None:
            assert row["p_value"] is None and row["q_value"] is None and row["is_rapid_change"] is False, key
            continue
        assert math.isclose(row["p_value"], p, rel_tol=1e-7, abs_tol=1e-300), key
        assert math.isclose(row["q_value"], q[key], rel_tol=1e-7, abs_tol=1e-300), key
        if abs(q[key] - 0.05) > 1e-6:
            rapid = q[key] < 0.05 and abs(change) >= threshold
            assert row["is_rapid_change"] == rapid, key
            if rapid:
                assert row["direction"] in ("worsening", "improving", "rapid increase", "rapid decrease"), key
    assert sum(p is not None for _, p in tests.values()) > 40_000


# --- benchmarks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("indicator_id", ["pct_ethnic_minority", "pct_disabled_equality_act"])
def test_census_proportion_lsoa_against_its_la_and_similar_areas(warehouse, indicator_id):
    lsoas = {r["area_code"]: r for r in values(warehouse, "indicator_id = ? and geography_level = 'lsoa' and period_label = 'Census 2021'", [indicator_id])}
    las = {r["area_code"]: r for r in values(warehouse, "indicator_id = ? and geography_level = 'la' and period_label = 'Census 2021'", [indicator_id])}
    geo = {r["lsoa21_code"]: r for r in records(warehouse, "select lsoa21_code, la_code, wimd2025_decile, urban_rural from marts.dim_geography")}
    polarity = CATALOGUE[indicator_id]["polarity"]
    threshold = float(CATALOGUE[indicator_id]["change_threshold"])

    def material(row: dict, benchmark: float) -> str:
        """Fingertips interval rule AND |value - benchmark| >= the catalogue's change_threshold."""
        verdict = fingertips(row, benchmark)
        return verdict if verdict == "not compared" or abs(row["value"] - benchmark) >= threshold else "similar"

    ordered = sorted(lsoas, key=lambda c: lsoas[c]["value"])
    for code in (ordered[-1], ordered[len(ordered) // 2], ordered[0]):  # highest, median, lowest
        mine = lsoas[code]
        got = {
            r["benchmark_type"]: r
            for r in records(
                warehouse,
                "select * from marts.fct_indicator_benchmark where indicator_id = ? and area_code = ? and period_label = 'Census 2021'",
                [indicator_id, code],
            )
        }
        assert set(got) == {"la", "wales", "similar_areas"}

        la = las[geo[code]["la_code"]]
        assert got["la"]["benchmark_area_code"] == la["area_code"]
        assert got["la"]["benchmark_value"] == pytest.approx(la["value"])
        assert got["la"]["comparison"] == material(mine, la["value"])
        assert got["la"]["assessment"] == expected_assessment(polarity, material(mine, la["value"]))

        # similar areas: the OTHER LSOAs of the same WIMD 2025 decile and urban/rural class, pooled by summing counts
        group = [c for c in lsoas if c != code and (geo[c]["wimd2025_decile"], geo[c]["urban_rural"]) == (geo[code]["wimd2025_decile"], geo[code]["urban_rural"])]
        pooled = 100 * sum(lsoas[c]["numerator"] for c in group) / sum(lsoas[c]["denominator"] for c in group)
        averaged = sum(lsoas[c]["value"] for c in group) / len(group)
        similar = got["similar_areas"]
        assert similar["benchmark_lsoa_count"] == len(group)
        assert similar["benchmark_value"] == pytest.approx(pooled, rel=1e-12)
        assert similar["benchmark_value"] != pytest.approx(averaged, rel=1e-9)  # pooled, not a mean of values
        assert similar["comparison"] == material(mine, pooled)
        assert similar["assessment"] == expected_assessment(polarity, material(mine, pooled))
        assert similar["difference"] == pytest.approx(mine["value"] - pooled, rel=1e-9)

    # the highest LSOA stands clear of its LA
    top = records(warehouse, "select comparison, assessment from marts.fct_indicator_benchmark where indicator_id = ? and area_code = ? "
                             "and period_label = 'Census 2021' and benchmark_type = 'la'", [indicator_id, ordered[-1]])[0]
    assert top["comparison"] == "higher"
    assert top["assessment"] == ("higher" if polarity == "context" else "worse")


def test_la_against_wales_the_fingertips_way(warehouse):
    """Employment rate (APS, protective): the LA's published 95% interval against the Wales value, and a
    difference of at least the catalogue's change_threshold (materiality)."""
    threshold = float(CATALOGUE["employment_rate"]["change_threshold"])
    (latest,) = one(warehouse, "select max(period_start) from marts.fct_indicator_value where indicator_id = 'employment_rate'")
    (wales,) = values(warehouse, "indicator_id = 'employment_rate' and geography_level = 'wales' and period_start = ?", [latest])
    las = values(warehouse, "indicator_id = 'employment_rate' and geography_level = 'la' and period_start = ?", [latest])
    got = {
        r["area_code"]: r
        for r in records(
            warehouse,
            "select * from marts.fct_indicator_benchmark where indicator_id = 'employment_rate' and geography_level = 'la' and period_start = ?",
            [latest],
        )
    }
    assert len(las) == len(got) == 22
    for la in las:
        row = got[la["area_code"]]
        assert row["benchmark_type"] == "wales" and row["benchmark_area_code"] == "W92000004"
        assert row["benchmark_value"] == wales["value"]
        interval = fingertips(la, wales["value"])
        material = abs(la["value"] - wales["value"]) >= threshold
        assert row["comparison"] == (interval if interval == "not compared" or material else "similar")
        assert row["materiality_threshold"] == threshold
        assert row["assessment"] == {"higher": "better", "lower": "worse"}.get(row["comparison"], row["comparison"])
    # a value above Wales whose interval still straddles it is 'similar', not 'higher'
    straddling = [la for la in las if la["value"] > wales["value"] and la["lci_95"] <= wales["value"]]
    assert straddling and all(got[la["area_code"]]["comparison"] == "similar" for la in straddling)


def test_benchmarks_follow_the_guide(warehouse):
    """LAs only against Wales; LSOAs against LA, Wales and similar areas; MSOAs (indicators bundled only per
    MSOA) against their LA and Wales; no benchmark of a ward or force."""
    kinds = {
        (r["geography_level"], r["benchmark_type"])
        for r in records(warehouse, "select distinct geography_level, benchmark_type from marts.fct_indicator_benchmark")
    }
    assert kinds == {("la", "wales"), ("lsoa", "la"), ("lsoa", "wales"), ("lsoa", "similar_areas"),
                     ("msoa", "la"), ("msoa", "wales")}
    # similar areas only for count-based indicators, never for the WIMD share that defines the groups
    (methods,) = one(
        warehouse,
        "select list(distinct v.ci_method order by v.ci_method) from marts.fct_indicator_benchmark as b "
        "join marts.fct_indicator_value as v using (indicator_id, geography_level, area_code, period_start) "
        "where b.benchmark_type = 'similar_areas'"
    )
    assert methods == ["poisson_exact", "wilson"]
