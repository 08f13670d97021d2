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
from scipy.stats import norm

from tests.independent import census_population_lsoa21

Z95 = norm.ppf(0.975)
with open(Path(__file__).resolve().parents[1] / "seeds" / "indicator_catalogue.csv", encoding="utf-8") as _fh:
    CATALOGUE = {r["indicator_id"]: r for r in csv.DictReader(_fh)}


def records(con, query: str, params: list | None = None) -> list[dict]:
    cur = con.execute(query, params or [])
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row)) for row in cur.fetchall()]


def values(con, where: str, params: list | None = None) -> list[dict]:
    return records(con, f"select * from marts.fct_indicator_value where {where}", params)


def standard_error(row: dict) -> float | None:
    """One period's SE from its own interval method (see fct_indicator_change.sql)."""
    if row["ci_method"] == "wilson":
        p = row["numerator"] / row["denominator"]
        return 100 * math.sqrt(p * (1 - p) / row["denominator"])
    if row["ci_method"] == "byar":
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


def test_lsoa_crime_rate_2024_q2_against_2023_q2(warehouse):
    """Poisson rate difference: SE = 1000·sqrt(n1/d1² + n2/d2²), d in person-years."""
    now = {r["area_code"]: r for r in values(warehouse, "indicator_id = 'all_crime_rate' and geography_level = 'lsoa' and period_label = '2024 Q2'")}
    then = {r["area_code"]: r for r in values(warehouse, "indicator_id = 'all_crime_rate' and geography_level = 'lsoa' and period_label = '2023 Q2'")}
    assert len(now) == len(then) == 374  # Gwent's LSOAs: the bundled police.uk files

    def z_of(code):
        a, b = now[code], then[code]
        return (a["value"] - b["value"]) / (1000 * math.sqrt(a["numerator"] / a["denominator"] ** 2 + b["numerator"] / b["denominator"] ** 2))

    # the LSOA with the largest rise, and one whose change is clearly not significant
    rising = max(now, key=z_of)
    quiet = min((c for c in now if now[c]["numerator"] > 20), key=lambda c: abs(z_of(c)))
    for code in (rising, quiet):
        a, b = now[code], then[code]
        # rates are per 1,000 person-years: Census 2021 residents × 91 days (April-June) / 365.25
        assert a["denominator"] == pytest.approx(census_population_lsoa21()[code] * 91 / 365.25)
        change = a["value"] - b["value"]
        se = 1000 * math.sqrt(a["numerator"] / a["denominator"] ** 2 + b["numerator"] / b["denominator"] ** 2)
        z = change / se
        p = 2 * norm.sf(abs(z))
        got = records(
            warehouse,
            "select * from marts.fct_indicator_change where indicator_id = 'all_crime_rate' and geography_level = 'lsoa' "
            "and area_code = ? and period_label = '2024 Q2' and comparison = 'year_earlier'",
            [code],
        )
        assert len(got) == 1
        row = got[0]
        assert row["compared_period_label"] == "2023 Q2"
        assert row["test_method"] == "poisson rate difference z"
        assert row["change"] == pytest.approx(change, abs=1e-9)
        assert row["z"] == pytest.approx(z, rel=1e-9)
        assert row["p_value"] == pytest.approx(p, abs=1e-6)
        assert (row["change_lci_95"], row["change_uci_95"]) == pytest.approx((change - Z95 * se, change + Z95 * se))
        assert row["is_significant"] == (p < 0.05)
        assert row["is_beyond_threshold"] == (abs(change) >= 10)  # catalogue: 10 per 1,000 a year
        assert row["is_rapid_change"] == (p < 0.05 and abs(change) >= 10)
        assert row["direction"] == expected_direction("risk", change, p < 0.05)
    assert records(warehouse, "select direction from marts.fct_indicator_change where area_code = ? and indicator_id = 'all_crime_rate' "
                              "and period_label = '2024 Q2' and comparison = 'year_earlier'", [rising])[0]["direction"] == "worsening"
    assert records(warehouse, "select direction from marts.fct_indicator_change where area_code = ? and indicator_id = 'all_crime_rate' "
                              "and period_label = '2024 Q2' and comparison = 'year_earlier'", [quiet])[0]["direction"] == "no significant change"


def test_year_earlier_quarter_across_a_leap_day_has_the_same_length(warehouse):
    """2024 Q1 has 91 days and 2023 Q1 90: still a quarter against the same quarter."""
    (n,) = warehouse.execute(
        "select count(*) from marts.fct_indicator_change where indicator_id = 'violence_against_person_rate' "
        "and period_label = '2024 Q1' and comparison = 'year_earlier' and compared_period_label = '2023 Q1'"
    ).fetchone()
    (expected,) = warehouse.execute(
        "select count(*) from marts.fct_indicator_value where indicator_id = 'violence_against_person_rate' and period_label = '2024 Q1'"
    ).fetchone()
    assert n == expected > 0


def test_protective_indicator_significant_increase_is_improving(warehouse):
    """Polarity: a rise in a protective proxy (employment rate) is good for cohesion."""
    rows = records(
        warehouse,
        "select * from marts.fct_indicator_change where polarity = 'protective' and is_significant and change > 0",
    )
    assert rows and {r["direction"] for r in rows} == {"improving"}
    # one by hand, from the published 95% intervals
    row = max((r for r in rows if r["indicator_id"] == "employment_rate"), key=lambda r: r["change"])
    (a,) = values(warehouse, "indicator_id = 'employment_rate' and area_code = ? and period_start = ?", [row["area_code"], row["period_start"]])
    (b,) = values(warehouse, "indicator_id = 'employment_rate' and area_code = ? and period_start = ?", [row["area_code"], row["compared_period_start"]])
    se = math.hypot((a["uci_95"] - a["lci_95"]) / 3.92, (b["uci_95"] - b["lci_95"]) / 3.92)
    z = (a["value"] - b["value"]) / se
    assert row["z"] == pytest.approx(z, rel=1e-9)
    assert row["p_value"] == pytest.approx(2 * norm.sf(abs(z)), abs=1e-6)
    assert 2 * norm.sf(abs(z)) < 0.05 and z > 0
    # and the mirror images: a falling protective proxy worsens, a rising risk proxy worsens
    mirror = records(
        warehouse,
        "select polarity, change > 0 as up, list(distinct direction) as directions from marts.fct_indicator_change "
        "where is_significant and change <> 0 and not is_series_break group by all",
    )
    got = {(r["polarity"], r["up"]): sorted(r["directions"]) for r in mirror}
    assert got[("protective", False)] == ["worsening"]
    assert got[("risk", True)] == ["worsening"] and got[("risk", False)] == ["improving"]
    assert got[("context", True)] == ["significant increase"] and got[("context", False)] == ["significant decrease"]


def test_every_change_row_recomputed_from_fct_indicator_value(warehouse):
    """The pairs are exactly 'previous period' and 'same period a year earlier'; every z, p, flag and
    direction matches a recomputation with scipy (p within 1e-6 of 2·(1 − Φ(|z|)))."""
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
            if earlier:
                expected[(*key, cur["period_start"], "year_earlier")] = (cur, earlier)

    got = {
        (r["indicator_id"], r["geography_level"], r["area_code"], r["period_start"], r["comparison"]): r
        for r in records(warehouse, "select * from marts.fct_indicator_change")
    }
    assert got.keys() == expected.keys()

    testable = 0
    for key, (cur, before) in expected.items():
        row = got[key]
        change = cur["value"] - before["value"]
        assert row["compared_period_start"] == before["period_start"]
        assert math.isclose(row["change"], change, abs_tol=1e-9), key
        threshold = float(CATALOGUE[cur["indicator_id"]]["change_threshold"])
        assert row["is_beyond_threshold"] == (abs(change) >= threshold)
        se1, se2 = standard_error(cur), standard_error(before)
        if se1 is None or se2 is None or (math.hypot(se1, se2) == 0 and change != 0):
            assert row["z"] is None and row["p_value"] is None and row["direction"] == "not testable"
            assert row["is_rapid_change"] is False
            continue
        testable += 1
        se = math.hypot(se1, se2)
        z = change / se if se > 0 else 0.0
        p = 2 * norm.sf(abs(z))
        assert math.isclose(row["z"], z, rel_tol=1e-7, abs_tol=1e-9), key
        assert abs(row["p_value"] - p) < 1e-6, key
        assert math.isclose(row["p_value"], p, rel_tol=1e-6, abs_tol=1e-300), key  # the tails keep their precision too
        # ONS mid-year estimates and a census are different series: shown, never read as change
        series_break = series_of(cur["source_release"]) != series_of(before["source_release"])
        assert row["is_series_break"] == series_break, key
        if abs(p - 0.05) > 1e-6:
            assert row["is_significant"] == (p < 0.05), key
            assert row["is_rapid_change"] == (p < 0.05 and abs(change) >= threshold and not series_break), key
            expected = "series break" if series_break else expected_direction(cur["polarity"], change, p < 0.05)
            assert row["direction"] == expected, key
    assert testable > 80_000
    # the p-values span the whole range, from 1 to far in the tail
    assert max(abs(r["z"]) for r in got.values() if r["z"] is not None) > 10


# --- benchmarks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("indicator_id", ["pct_ethnic_minority", "pct_disabled_equality_act"])
def test_census_proportion_lsoa_against_its_la_and_similar_areas(warehouse, indicator_id):
    lsoas = {r["area_code"]: r for r in values(warehouse, "indicator_id = ? and geography_level = 'lsoa' and period_label = 'Census 2021'", [indicator_id])}
    las = {r["area_code"]: r for r in values(warehouse, "indicator_id = ? and geography_level = 'la' and period_label = 'Census 2021'", [indicator_id])}
    geo = {r["lsoa21_code"]: r for r in records(warehouse, "select lsoa21_code, la_code, wimd2025_decile, urban_rural from marts.dim_geography")}
    polarity = CATALOGUE[indicator_id]["polarity"]

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
        assert got["la"]["comparison"] == fingertips(mine, la["value"])
        assert got["la"]["assessment"] == expected_assessment(polarity, fingertips(mine, la["value"]))

        # similar areas: same WIMD 2025 decile and urban/rural class, pooled by summing counts
        group = [c for c in lsoas if (geo[c]["wimd2025_decile"], geo[c]["urban_rural"]) == (geo[code]["wimd2025_decile"], geo[code]["urban_rural"])]
        pooled = 100 * sum(lsoas[c]["numerator"] for c in group) / sum(lsoas[c]["denominator"] for c in group)
        averaged = sum(lsoas[c]["value"] for c in group) / len(group)
        similar = got["similar_areas"]
        assert similar["benchmark_lsoa_count"] == len(group)
        assert similar["benchmark_value"] == pytest.approx(pooled, rel=1e-12)
        assert similar["benchmark_value"] != pytest.approx(averaged, rel=1e-9)  # pooled, not a mean of values
        assert similar["comparison"] == fingertips(mine, pooled)
        assert similar["assessment"] == expected_assessment(polarity, fingertips(mine, pooled))

    # the highest LSOA stands clear of its LA
    top = records(warehouse, "select comparison, assessment from marts.fct_indicator_benchmark where indicator_id = ? and area_code = ? "
                             "and period_label = 'Census 2021' and benchmark_type = 'la'", [indicator_id, ordered[-1]])[0]
    assert top["comparison"] == "higher"
    assert top["assessment"] == ("higher" if polarity == "context" else "worse")


def test_la_against_wales_the_fingertips_way(warehouse):
    """Employment rate (APS, protective): the LA's published 95% interval against the Wales value."""
    (latest,) = warehouse.execute("select max(period_start) from marts.fct_indicator_value where indicator_id = 'employment_rate'").fetchone()
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
        assert row["comparison"] == fingertips(la, wales["value"])
        assert row["assessment"] == {"higher": "better", "lower": "worse"}.get(row["comparison"], row["comparison"])
    # a value above Wales whose interval still straddles it is 'similar', not 'higher'
    straddling = [la for la in las if la["value"] > wales["value"] and la["lci_95"] <= wales["value"]]
    assert straddling and all(got[la["area_code"]]["comparison"] == "similar" for la in straddling)


def test_benchmarks_follow_the_guide(warehouse):
    """LAs only against Wales; LSOAs against LA, Wales and similar areas; no benchmark of a ward or force."""
    kinds = {
        (r["geography_level"], r["benchmark_type"])
        for r in records(warehouse, "select distinct geography_level, benchmark_type from marts.fct_indicator_benchmark")
    }
    assert kinds == {("la", "wales"), ("lsoa", "la"), ("lsoa", "wales"), ("lsoa", "similar_areas")}
    # similar areas only for count-based indicators, never for the WIMD share that defines the groups
    (methods,) = warehouse.execute(
        "select list(distinct v.ci_method order by v.ci_method) from marts.fct_indicator_benchmark as b "
        "join marts.fct_indicator_value as v using (indicator_id, geography_level, area_code, period_start) "
        "where b.benchmark_type = 'similar_areas'"
    ).fetchone()
    assert methods == ["byar", "wilson"]
