"""The one exception method (dbt docs block exception_method) on the built warehouse, recomputed
independently: counts from the raw police.uk CSVs with the csv module, tests and FDR with scipy.

- fct_crime_exception (the quarterly report's flags): the force-adjusted expected count, the exact p-value,
  the Benjamini-Hochberg q and the flag, for every Gwent LSOA and crime group of 2024 Q2;
- fct_indicator_change: exact conditional tests, minimum counts, FDR families, series breaks, no duplicated
  annual rows, unreliable values never tested;
- a planted spike in one LSOA is flagged while a uniform +20% rise across the force flags nothing (real dbt
  on a copy of the built warehouse with synthetic police.uk rows).
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date

import duckdb
import pytest
import scipy.stats

from tests.dbt_build import dbt_build
from tests.independent import CRIME_GROUPS, GWENT_LAS, census_population_lsoa21, counted_street_rows, lsoa_to_la, one

THRESHOLD = {"all_crime": 10.0, "violence_sexual": 5.0, "asb": 3.0, "public_order": 2.0}  # catalogue, per 1,000 py
QUARTER = {"2024-04", "2024-05", "2024-06"}
BASELINE = {f"2023-{m:02d}" for m in range(4, 13)} | {"2024-01", "2024-02", "2024-03"}
DAYS_Q, DAYS_B = (date(2024, 7, 1) - date(2024, 4, 1)).days, (date(2024, 4, 1) - date(2023, 4, 1)).days


def gwent_lsoas() -> set[str]:
    la = lsoa_to_la()
    return {code for code in census_population_lsoa21() if la.get(code) in GWENT_LAS}


def independent_2024q2(group: str) -> dict[str, dict]:
    """Per Gwent LSOA: k1, k0 from the raw CSVs (a Crime ID once per month), the force-adjusted expected count,
    the one-sided exact p (scipy), BH q over the LSOAs with k1 + k0 >= 10, and the flag."""
    lsoas = gwent_lsoas()
    k1, k0 = Counter(), Counter()
    for r in counted_street_rows():
        code = r["LSOA code"]
        if code in lsoas and CRIME_GROUPS[group](r["Crime type"]):
            if r["Month"] in QUARTER:
                k1[code] += 1
            elif r["Month"] in BASELINE:
                k0[code] += 1
    f1, f0 = sum(k1.values()), sum(k0.values())
    pop = census_population_lsoa21()
    out = {}
    for code in lsoas:
        a, b = k1[code], k0[code]
        rest1, rest0 = f1 - a, f0 - b
        expected = b * rest1 / rest0
        p = scipy.stats.binomtest(a, a + b, rest1 / (rest1 + rest0), alternative="greater").pvalue if a + b >= 10 else None
        out[code] = {"observed": a, "baseline": b, "expected": expected, "p": p,
                     "person_years": pop[code] * DAYS_Q / 365.25}
    tested = [c for c in out if out[c]["p"] is not None]
    q = scipy.stats.false_discovery_control([out[c]["p"] for c in tested], method="bh")
    for c, qi in zip(tested, q):
        out[c]["q"] = qi
    for c, r in out.items():
        excess = 1000 * (r["observed"] - r["expected"]) / r["person_years"]
        r["flag"] = r.get("q") is not None and r["q"] < 0.05 and excess >= THRESHOLD[group]
    return out


@pytest.mark.parametrize("group", sorted(CRIME_GROUPS))
def test_crime_exceptions_recomputed_from_the_raw_files(warehouse, group):
    mine = independent_2024q2(group)
    rows = warehouse.execute(
        """select area_code, observed, baseline_count, expected, p_value, q_value, is_exception
           from marts.fct_crime_exception
           where geography_level = 'lsoa' and quarter_start = date '2024-04-01' and crime_group = ?""",
        [group],
    ).fetchall()
    assert {r[0] for r in rows} == set(mine)
    for code, observed, baseline, expected, p, q, flag in rows:
        m = mine[code]
        assert (observed, baseline) == (m["observed"], m["baseline"]), code
        assert expected == pytest.approx(m["expected"], rel=1e-12)
        if m["p"] is None:
            assert (p, q, flag) == (None, None, False), code
        else:
            assert p == pytest.approx(m["p"], rel=1e-9, abs=1e-300), code
            assert q == pytest.approx(m["q"], rel=1e-9, abs=1e-300), code
        assert flag == m["flag"], code


def test_the_force_adjustment_explains_the_force_wide_rise(warehouse):
    """Gwent all crime in 2024 Q2 was well above its previous four quarters: most LSOAs above their own past
    rose no more than the rest of the force, and only the adjusted flags are reported."""
    ratio, own_past, adjusted = one(
        warehouse,
        """select any_value(force_ratio), count(*) filter (where is_above_own_past), count(*) filter (where is_exception)
           from marts.fct_crime_exception
           where geography_level = 'lsoa' and quarter_start = date '2024-04-01' and crime_group = 'all_crime'""",
    )
    assert ratio > 1.15
    assert adjusted < own_past / 2
    reported = warehouse.execute(
        "select lsoa21_code, crime_group from reports.crime_exceptions where is_flagged order by 1, 2").fetchall()
    engine = warehouse.execute(
        """select area_code, crime_group from marts.fct_crime_exception
           where geography_level = 'lsoa' and quarter_start = date '2024-04-01' and is_exception order by 1, 2"""
    ).fetchall()
    assert reported == engine and reported
    # fct_indicator_change's headline comparison for LSOA crime is the same test, so the marts agree
    change = warehouse.execute(
        """select c.area_code, g.crime_group from marts.fct_indicator_change as c
           inner join (values ('all_crime', 'all_crime_rate'), ('violence_sexual', 'violence_against_person_rate'),
                              ('asb', 'asb_rate'), ('public_order', 'public_order_rate')) as g(crime_group, indicator_id)
               on c.indicator_id = g.indicator_id
           where c.geography_level = 'lsoa' and c.period_start = date '2024-04-01' and c.is_exception order by 1, 2"""
    ).fetchall()
    assert change == engine


def test_small_counts_are_not_tested_and_a_4_vs_0_is_no_change(warehouse):
    # the audit's example: W01001604 public order, 4 against 0 (z-test p = 0.046, exact p = 0.125)
    rows = warehouse.execute(
        """select comparison, test_method, p_value, is_rapid_change from marts.fct_indicator_change
           where area_code = 'W01001604' and indicator_id = 'public_order_rate'"""
    ).fetchall()
    assert rows and not any(r[3] for r in rows)
    (bad,) = one(
        warehouse,
        """select count(*) from marts.fct_indicator_change as c
           inner join marts.fct_indicator_value as v
               on v.indicator_id = c.indicator_id and v.geography_level = c.geography_level
               and v.area_code = c.area_code and v.period_start = c.period_start
           inner join marts.fct_indicator_value as w
               on w.indicator_id = c.indicator_id and w.geography_level = c.geography_level
               and w.area_code = c.area_code and w.period_start = c.compared_period_start
           where c.comparison <> 'force_adjusted' and v.ci_method = 'poisson_exact' and w.ci_method = 'poisson_exact'
             and v.numerator + w.numerator < 10 and (c.p_value is not null or c.is_rapid_change)""",
    )
    assert bad == 0


def test_lsoa_change_tests_recomputed_with_scipy(warehouse):
    """Exact two-sided conditional test (central method) and BH within indicator × level × comparison × period,
    for every LSOA all-crime change 2024 Q1 → 2024 Q2, from fct_indicator_value's counts and person-years."""
    values = dict(
        ((code, start), (k, d))
        for code, start, k, d in warehouse.execute(
            """select area_code, period_start, numerator, denominator from marts.fct_indicator_value
               where indicator_id = 'all_crime_rate' and geography_level = 'lsoa'
                 and period_start in (date '2024-01-01', date '2024-04-01')"""
        ).fetchall()
    )
    codes = sorted({c for c, _ in values})
    p = {}
    for code in codes:
        (k1, d1), (k0, d0) = values[(code, date(2024, 4, 1))], values[(code, date(2024, 1, 1))]
        k1, k0 = round(k1), round(k0)
        if k1 + k0 >= 10:
            n, share = k1 + k0, d1 / (d1 + d0)
            p[code] = min(1.0, 2 * min(scipy.stats.binom.sf(k1 - 1, n, share), scipy.stats.binom.cdf(k1, n, share)))
    q = dict(zip(p, scipy.stats.false_discovery_control(list(p.values()), method="bh")))
    rows = warehouse.execute(
        """select area_code, p_value, q_value, is_significant, change, change_threshold, is_rapid_change
           from marts.fct_indicator_change
           where indicator_id = 'all_crime_rate' and geography_level = 'lsoa' and comparison = 'previous_period'
             and period_start = date '2024-04-01'"""
    ).fetchall()
    assert len(rows) == len(codes) and len(p) > 300
    for code, pv, qv, sig, change, threshold, rapid in rows:
        if code not in p:
            assert pv is None and not rapid
            continue
        assert pv == pytest.approx(p[code], rel=1e-9, abs=1e-300)
        assert qv == pytest.approx(q[code], rel=1e-9, abs=1e-300)
        assert sig == (q[code] < 0.05)
        assert rapid == (q[code] < 0.05 and abs(change) >= threshold)


def test_lsoa_rapid_change_is_a_small_share_of_crime_changes(warehouse):
    """The audit counted 2,115 of 16,456 LSOA crime/ASB changes as rapid (unadjusted z-tests); with exact
    tests, minimum counts and FDR it is a small fraction."""
    rapid, total = one(
        warehouse,
        """select count(*) filter (where is_rapid_change), count(*) from marts.fct_indicator_change
           where geography_level = 'lsoa' and comparison in ('previous_period', 'year_earlier')
             and indicator_id in ('all_crime_rate', 'violence_against_person_rate', 'public_order_rate', 'asb_rate')""",
    )
    assert total > 10000 and rapid < 0.03 * total


def test_series_breaks_never_yield_rapid_change(warehouse):
    rows = warehouse.execute(
        """select indicator_id, count(*), count(*) filter (where is_rapid_change or p_value is not null),
                  count(*) filter (where series_break_reason is null)
           from marts.fct_indicator_change where is_series_break group by 1 order by 1"""
    ).fetchall()
    broken = {r[0]: r for r in rows}
    # mid-year estimates vs Census 2021 for the four age shares; the Claimant Count's 2015 definition change
    assert {"pct_aged_0_15", "pct_aged_16_24", "pct_aged_25_64", "pct_aged_65_plus", "claimant_count_rate"} <= set(broken)
    assert all(r[2] == 0 and r[3] == 0 for r in rows)
    (crossing,) = one(
        warehouse,
        """select count(*) from marts.fct_indicator_change
           where indicator_id = 'claimant_count_rate' and period_start >= date '2015-01-01'
             and compared_period_start < date '2015-01-01' and not is_series_break""",
    )
    assert crossing == 0


def test_annual_series_have_one_change_row_per_period(warehouse):
    (dupes,) = one(
        warehouse,
        """select count(*) from marts.fct_indicator_change as c
           inner join marts.fct_indicator_value as v
               on v.indicator_id = c.indicator_id and v.geography_level = c.geography_level
               and v.area_code = c.area_code and v.period_start = c.period_start
           where c.comparison = 'year_earlier' and v.period_end >= v.period_start + interval 360 day""",
    )
    assert dupes == 0


def test_ons_unreliable_values_are_marked_and_never_tested(warehouse):
    rows = warehouse.execute(
        """select area_name, status from marts.fct_indicator_value
           where indicator_id = 'pct_no_qualifications_aps' and period_label = '2023-01-01/P1Y' and status = 'unreliable'
           order by 1"""
    ).fetchall()
    assert [r[0] for r in rows] == ["Powys", "Vale of Glamorgan"]
    tested = warehouse.execute(
        """select count(*) from marts.fct_indicator_change
           where is_unreliable and (p_value is not null or is_rapid_change)"""
    ).fetchall()[0][0]
    assert tested == 0


# ------------------------------------------------------------------------------------------ planted changes

def _gwent_code(con) -> str:
    return one(con, "select police_force_code from ref.police_force where police_uk_force_id = 'gwent'")[0]


def test_a_planted_spike_is_flagged_and_a_uniform_force_rise_is_not(built, warehouse, tmp_path):
    """Synthetic police.uk months on a copy of the built warehouse: every Gwent LSOA has 50 burglaries a month
    from 2023-04 to 2024-03 and 60 (+20%) in 2024 Q2; one LSOA has 150 a month in 2024 Q2. Only that LSOA may be
    an exception; without the force adjustment nearly every LSOA would be 'above its own past'."""
    copy = tmp_path / "w.duckdb"
    shutil.copy(built["settings"].warehouse_path, copy)
    con = duckdb.connect(str(copy))
    try:
        lsoas = [r[0] for r in con.execute(
            "select lsoa21_code from marts.dim_geography where police_force_code = ? order by 1", [_gwent_code(con)]
        ).fetchall()]
        planted = lsoas[17]
        con.execute("delete from raw.police_uk_street_crimes where month >= '2023-04'")
        con.execute(
            """
            insert into raw.police_uk_street_crimes
                (force_id, source_file, source_row, crime_id, month, reported_by, falls_within, lsoa_code,
                 crime_type, load_id, loaded_at)
            select 'gwent', 'synthetic-' || m.month || '.csv', row_number() over (partition by m.month),
                   'SYN-' || m.month || '-' || l.code || '-' || i.i, m.month, 'Gwent Police', 'Gwent Police',
                   l.code, 'Burglary', 'synthetic', now()
            from (select unnest(?::varchar[]) as code) as l
            cross join (select strftime(d, '%Y-%m') as month
                        from range(date '2023-04-01', date '2024-07-01', interval 1 month) as t(d)) as m
            cross join lateral (select i from range(1, 1 + case when m.month < '2024-04' then 50
                                                               when l.code = ? then 150 else 60 end) as r(i)) as i
            """,
            [lsoas, planted],
        )
    finally:
        con.close()
    dbt_build(copy, "stg_police_uk__street_crimes int_police_uk__force_months fct_crime_monthly fct_crime_quarterly "
                    "fct_crime_exception", tmp_path)
    con = duckdb.connect(str(copy), read_only=True)
    try:
        rows = con.execute(
            """select area_code, is_exception, is_above_own_past, force_ratio from marts.fct_crime_exception
               where geography_level = 'lsoa' and quarter_start = date '2024-04-01' and crime_group = 'all_crime'"""
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == len(lsoas)
    assert [r[0] for r in rows if r[1]] == [planted]
    assert sum(r[2] for r in rows) > 0.9 * len(lsoas)  # the unadjusted test would flag nearly all
    force_ratio = (3 * (60 * len(lsoas) + 90) / DAYS_Q) / (50 * 12 * len(lsoas) / DAYS_B)
    assert rows[0][3] == pytest.approx(force_ratio, rel=1e-9)


# ------------------------------------------------------------------------------------------ audit follow-ups

def test_is_tested_and_test_status_tell_the_same_story(warehouse):
    """fct_crime_exception: a police force while no other force is loaded has nothing to compare with, so it is
    not tested (is_tested false, no p), whatever its count; every row's is_tested, test_status and p agree."""
    (disagree,) = one(
        warehouse,
        """select count(*) from marts.fct_crime_exception
           where is_tested <> (test_status = 'tested') or is_tested <> (p_value is not null)""",
    )
    assert disagree == 0
    forces = warehouse.execute(
        """select area_code, observed + baseline_count, is_tested, test_status, p_value, p_value_own_past
           from marts.fct_crime_exception where geography_level = 'police_force'"""
    ).fetchall()
    assert forces  # Gwent, alone from 2022-12: nothing to compare with
    for _code, events, tested, status, p, p_own in forces:
        assert not tested and p is None and status == "not tested: nothing to compare with (no other force loaded)"
        assert events >= 10 and p_own is not None  # enough events; its own-past test still runs
    # the force_adjusted comparison of fct_indicator_change carries the same reason
    (carried,) = one(
        warehouse,
        """select count(*) from marts.fct_indicator_change where comparison = 'force_adjusted'
           and geography_level = 'police_force' and test_method = 'not tested: nothing to compare with (no other force loaded)'
           and p_value is null""",
    )
    assert carried == len(forces)


def test_estimated_bridge_figures_are_never_tested(warehouse):
    """A 2011 LSOA split across the 2021 boundaries has its population shared out, not counted (status
    'estimated'): no change involving such a figure is tested, at LSOA or ward level, and the row says why. The
    audit's example: W01001971, aged 25-64, Mid-2019 against Mid-2017, was an exception."""
    rows = warehouse.execute(
        """select c.test_method, c.p_value, c.is_rapid_change, c.is_exception, count(*)
           from marts.fct_indicator_change as c
           inner join marts.fct_indicator_value as v
               on v.indicator_id = c.indicator_id and v.geography_level = c.geography_level
               and v.area_code = c.area_code and v.period_start in (c.period_start, c.compared_period_start)
           where c.comparison in ('previous_period', 'year_earlier') and v.status = 'estimated'
           group by all"""
    ).fetchall()
    assert sum(r[4] for r in rows) > 500
    for method, p, rapid, exception, _n in rows:
        assert p is None and not rapid and not exception
        assert method.startswith(("not tested: a figure is estimated", "not tested: series break")), method
    method, p, exception = one(
        warehouse,
        """select test_method, p_value, is_exception from marts.fct_indicator_change
           where indicator_id = 'pct_aged_25_64' and geography_level = 'lsoa' and area_code = 'W01001971'
             and comparison = 'previous_period' and period_label = 'Mid-2019'""",
    )
    assert method.startswith("not tested: a figure is estimated") and p is None and not exception
    # LSOAs of unchanged 2011 codes are still tested
    (tested,) = one(
        warehouse,
        """select count(*) from marts.fct_indicator_change where indicator_id = 'pct_aged_25_64'
           and geography_level = 'lsoa' and period_label = 'Mid-2019' and p_value is not null""",
    )
    assert tested > 1500


def test_the_homicide_rate_states_its_time_base(warehouse):
    """ONS publishes homicide per million residents a year over a three-year rolling period: the unit says so
    (per_million_person_years, like per_1000_person_years), and the England and Wales figure is an annual rate
    (about 10 per million a year: some 570 homicides a year among 58 million people, not three years' worth)."""
    units = {r[0] for r in warehouse.execute(
        "select distinct unit from marts.fct_indicator_value where indicator_id = 'homicide_rate'").fetchall()}
    assert units == {"per_million_person_years"}
    (catalogue_unit,) = one(warehouse, "select unit from ref.indicator_catalogue where indicator_id = 'homicide_rate'")
    assert catalogue_unit == "per_million_person_years"
    import csv

    from tests.independent import SNAPSHOTS

    with open(SNAPSHOTS / "ons_els" / "homicide-offences" / "homicide-offences.wales_subset.csv", encoding="utf-8-sig") as fh:
        ew = [float(r["observation"]) for r in csv.DictReader(fh) if r["areacd"] == "K04000001"]
    assert ew and all(5 < v < 15 for v in ew)
