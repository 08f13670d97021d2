"""The annual cohesion profile's change since the benchmark goes through the one exception engine (issue 11, item A):
mart_cohesion_profile.change_verdict, change_p_value and change_q_value recomputed here independently with scipy,
from the raw police.uk CSVs (csv module) for Newport's crime and from fct_indicator_value's figures for the rest.

The rules (dbt docs block exception_method): the exact conditional test for two counts (two-sided, the smaller
tail doubled), the pooled two-proportion z-test for census shares, z from the published intervals; no test below
10 events (10 in a cell), without an interval, or on an unreliable or estimated figure; Benjamini-Hochberg within
indicator × level × since the benchmark × (benchmark, latest) period; 'significant rise' / 'significant fall' only
when q < 0.05 AND |change| >= the catalogue's change_threshold.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date

import pytest
import scipy.stats

from tests.independent import (GWENT_LAS, SNAPSHOTS, catalogue, census_population_lsoa21, counted_street_rows,
                               lsoa_to_la, records)

REPO = SNAPSHOTS.parents[1]
NEWPORT = "W06000022"
Z95 = 1.959963984540054
CRIME = {  # indicator -> which police.uk rows count
    "all_crime_rate": lambda t: t != "Anti-social behaviour",
    "violence_against_person_rate": lambda t: t == "Violence and sexual offences",
    "public_order_rate": lambda t: t == "Public order",
    "asb_rate": lambda t: t == "Anti-social behaviour",
}
FIRST_12 = {f"2022-{m:02d}" for m in range(1, 13)}
LATEST_12 = {f"2023-{m:02d}" for m in range(7, 13)} | {f"2024-{m:02d}" for m in range(1, 7)}


def thresholds() -> dict[str, float]:
    return {indicator: float(row["change_threshold"]) for indicator, row in catalogue().items()}


def two_counts_p(k1: float, n1: float, k0: float, n0: float) -> float:
    """Exact conditional test of two Poisson counts given their total, two-sided by doubling the smaller tail."""
    k1, k0 = round(k1), round(k0)
    n, share = k1 + k0, n1 / (n1 + n0)
    return min(1.0, 2 * min(scipy.stats.binom.sf(k1 - 1, n, share), scipy.stats.binom.cdf(k1, n, share)))


def two_proportions_p(k1: float, n1: float, k0: float, n0: float) -> float:
    pooled = (k1 + k0) / (n1 + n0)
    if pooled in (0, 1):
        return 1.0
    z = (k1 / n1 - k0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return 2 * scipy.stats.norm.sf(abs(z))


def verdict(p, q, change, threshold) -> str:
    if p is None:
        return "not tested"
    if q >= 0.05 or change == 0:
        return "no significant change"
    if abs(change) < threshold:
        return "significant but below threshold"
    return "significant rise" if change > 0 else "significant fall"


def bh(pvalues: dict) -> dict:
    keys = list(pvalues)
    return dict(zip(keys, scipy.stats.false_discovery_control([pvalues[k] for k in keys], method="bh")))


# ------------------------------------------------------------------------------------------- from the raw files
def test_gwent_crime_change_since_the_benchmark_recomputed_from_the_raw_csvs(warehouse):
    """Each Gwent LA's crime and ASB counts in its first 12 months (2022) and the 12 months to June 2024, from the
    raw police.uk files (a Crime ID once per month), Census 2021 residents for the person-years; the exact test
    with scipy, BH across the five Gwent LAs (the only LAs with two 12-month windows), the verdict."""
    la_of, pop = lsoa_to_la(), census_population_lsoa21()
    residents = Counter()
    for code, n in pop.items():
        residents[la_of[code]] += n
    counts = defaultdict(Counter)  # indicator -> (la, window) -> count
    for r in counted_street_rows():
        code = r["LSOA code"]
        if not code.startswith("W01") or la_of.get(code) not in GWENT_LAS:
            continue
        window = "first" if r["Month"] in FIRST_12 else "latest" if r["Month"] in LATEST_12 else None
        if window:
            for indicator, counts_it in CRIME.items():
                if counts_it(r["Crime type"]):
                    counts[indicator][(la_of[code], window)] += 1
    limits = thresholds()
    seen = 0
    for indicator in CRIME:
        mine, p = {}, {}
        for la in GWENT_LAS:
            k0, k1 = counts[indicator][(la, "first")], counts[indicator][(la, "latest")]
            n0, n1 = residents[la] * 365 / 365.25, residents[la] * 366 / 365.25
            mine[la] = {"change": 1000 * (k1 / n1 - k0 / n0)}
            if k1 + k0 >= 10:
                p[la] = two_counts_p(k1, n1, k0, n0)
        q = bh(p)
        rows = records(warehouse, "select la_code, change_since_benchmark, change_test_method, change_p_value, "
                                  "change_q_value, change_verdict, is_change_rapid from marts.mart_cohesion_profile "
                                  "where indicator_id = ?", [indicator])
        assert {r["la_code"] for r in rows} == GWENT_LAS  # no other LA has two 12-month windows
        for r in rows:
            la = r["la_code"]
            assert r["change_since_benchmark"] == pytest.approx(mine[la]["change"], rel=1e-9, abs=1e-12)
            assert r["change_test_method"] == "exact conditional Poisson (two-sided)"
            assert r["change_p_value"] == pytest.approx(p[la], rel=1e-9, abs=1e-300)
            assert r["change_q_value"] == pytest.approx(q[la], rel=1e-9, abs=1e-300)
            expected = verdict(p[la], q[la], mine[la]["change"], limits[indicator])
            assert r["change_verdict"] == expected, (indicator, la)
            assert r["is_change_rapid"] == (expected in ("significant rise", "significant fall"))
            seen += 1
    assert seen == 20
    newport = {r["indicator_id"]: r["change_verdict"] for r in records(
        warehouse, "select indicator_id, change_verdict from marts.mart_cohesion_profile where la_code = ? "
                   "and indicator_id in ?", [NEWPORT, list(CRIME)])}
    # the audit's example: Newport's all-crime rate rose by about 15 per 1,000 person-years, on thousands of crimes
    assert newport["all_crime_rate"] == "significant rise"


# ------------------------------------------------------------------------------------------- every LA row
def _figure(values: list[dict], label: str, series_key: str) -> dict | None:
    """The LA's figure for a profile period label: one period, or a 12-month window of quarters summed."""
    if label.startswith("12 months to "):
        end = date.fromisoformat(label[len("12 months to "):])  # 12 months to a quarter end (never 29 February)
        start = date.fromordinal(date(end.year - 1, end.month, end.day).toordinal() + 1)
        inside = [v for v in values if v["series_key"] == series_key and v["period_start"] >= start
                  and v["period_end"] <= end]
        return {"numerator": sum(v["numerator"] for v in inside), "denominator": sum(v["denominator"] for v in inside),
                "ci_method": inside[0]["ci_method"], "status": "actual", "lci_95": None, "uci_95": None}
    (v,) = [v for v in values if v["period_label"] == label and v["series_key"] == series_key]
    return v


def test_every_profile_change_is_tested_by_the_engines_rules(warehouse):
    """Every local authority × indicator with a change since the benchmark: the test the kind of figure gets (or
    why none), its p-value with scipy, BH within indicator × (benchmark, latest) period, and the verdict."""
    values = defaultdict(list)
    for v in records(warehouse, "select * from marts.fct_indicator_value where geography_level = 'la'"):
        values[(v["indicator_id"], v["area_code"])].append(v)
    limits = thresholds()
    profile = records(warehouse, "select * from marts.mart_cohesion_profile")
    p, expected_method = {}, {}
    for r in profile:
        key = (r["indicator_id"], r["la_code"])
        if r["change_since_benchmark"] is None:
            assert r["change_test_method"] is None and r["change_p_value"] is None
            assert r["change_verdict"] == ("series break" if "series break" in r["change_note"] else "not compared")
            continue
        b = _figure(values[key], r["benchmark_period_label"], r["series_key"])
        latest = _figure(values[key], r["latest_period_label"], r["series_key"])
        method = b["ci_method"] if b["ci_method"] == latest["ci_method"] else "mixed"
        k1, n1, k0, n0 = latest["numerator"], latest["denominator"], b["numerator"], b["denominator"]
        if "estimated" in (b["status"], latest["status"]):
            expected_method[key] = "not tested: a figure is estimated"
        elif method == "poisson_exact":
            if k1 + k0 < 10:
                expected_method[key] = "not tested: fewer than 10 events in the two periods"
            else:
                expected_method[key] = "exact conditional Poisson (two-sided)"
                p[key] = two_counts_p(k1, n1, k0, n0)
        elif method == "wilson":
            if min(k1, n1 - k1, k0, n0 - k0) < 10:
                expected_method[key] = "not tested: fewer than 10 in a cell"
            else:
                expected_method[key] = "two-proportion z (pooled; census natural variation)"
                p[key] = two_proportions_p(k1, n1, k0, n0)
        elif method == "published" and latest["uci_95"] is not None and b["uci_95"] is not None:
            expected_method[key] = "published interval z"
            width = math.hypot(latest["uci_95"] - latest["lci_95"], b["uci_95"] - b["lci_95"])
            p[key] = 2 * scipy.stats.norm.sf(abs(latest["value"] - b["value"]) / (width / (2 * Z95))) if width else 1.0
        else:
            expected_method[key] = "not tested: no interval for a figure"
    families = defaultdict(dict)
    for r in profile:
        key = (r["indicator_id"], r["la_code"])
        if key in p:
            families[(r["indicator_id"], r["benchmark_period_label"], r["latest_period_label"])][key] = p[key]
    q = {}
    for family in families.values():
        q.update(bh(family))
    tested = 0
    for r in profile:
        key = (r["indicator_id"], r["la_code"])
        if key not in expected_method:
            continue
        assert r["change_test_method"].startswith(expected_method[key]), key
        if key in p:
            assert r["change_p_value"] == pytest.approx(p[key], rel=1e-9, abs=1e-300), key
            assert r["change_q_value"] == pytest.approx(q[key], rel=1e-9, abs=1e-300), key
            assert r["change_lci_95"] <= r["change_since_benchmark"] <= r["change_uci_95"]
            tested += 1
        else:
            assert r["change_p_value"] is None and r["change_q_value"] is None and not r["is_change_rapid"]
        assert r["change_verdict"] == verdict(p.get(key), q.get(key), r["change_since_benchmark"],
                                              limits[r["indicator_id"]]), key
    assert tested > 100
    kinds = {m for m in expected_method.values()}
    assert {"exact conditional Poisson (two-sided)", "two-proportion z (pooled; census natural variation)",
            "published interval z", "not tested: no interval for a figure"} <= kinds
    verdicts = Counter(r["change_verdict"] for r in profile)
    assert verdicts["significant rise"] + verdicts["significant fall"] > 0 and verdicts["no significant change"] > 0


def test_where_the_profile_compares_two_consecutive_periods_it_agrees_with_fct_indicator_change(warehouse):
    """The same engine: where the benchmark and the latest period are consecutive single periods (Census 2011 and
    2021 social renting, the APS qualifications of 2022 and 2023), the profile's test is fct_indicator_change's
    previous_period test at LA level, to the p- and q-value."""
    rows = records(warehouse, """
        select p.indicator_id, p.la_code, p.change_test_method, p.change_p_value, p.change_q_value,
               c.test_method, c.p_value, c.q_value
        from marts.mart_cohesion_profile as p
        inner join marts.fct_indicator_change as c
            on c.indicator_id = p.indicator_id and c.geography_level = 'la' and c.area_code = p.la_code
            and c.comparison = 'previous_period' and c.period_label = p.latest_period_label
            and c.compared_period_label = p.benchmark_period_label
        where p.change_since_benchmark is not null and not p.benchmark_period_label like '12 months%'
    """)
    assert {r["indicator_id"] for r in rows} >= {"pct_social_rented", "pct_no_qualifications_aps"}
    for r in rows:
        assert r["change_test_method"] == r["test_method"]
        if r["p_value"] is None:
            assert r["change_p_value"] is None
        else:
            assert r["change_p_value"] == pytest.approx(r["p_value"], rel=1e-12, abs=1e-300)
            assert r["change_q_value"] == pytest.approx(r["q_value"], rel=1e-12, abs=1e-300)


# ------------------------------------------------------------------------------------------- LSOAs most changed
@pytest.mark.parametrize("indicator", sorted(CRIME))
def test_the_lsoas_most_changed_are_those_with_a_significant_change_after_fdr(warehouse, indicator):
    """Every LSOA of Wales with both 12-month windows (the first 12 months of the LSOA series and the 12 months to
    its end), pooled from fct_indicator_value's quarters: the exact test with scipy, BH across all of them, rapid =
    q < 0.05 and |change| >= the threshold; each LA lists up to 3 of its rapid LSOAs, largest |change| first."""
    rows = records(warehouse, "select area_code, period_start, period_end, numerator, denominator "
                              "from marts.fct_indicator_value where indicator_id = ? and geography_level = 'lsoa'",
                   [indicator])
    first_end = date(2022, 12, 31)
    last_start, last_end = date(2023, 7, 1), date(2024, 6, 30)
    assert min(r["period_start"] for r in rows) == date(2022, 1, 1) and max(r["period_end"] for r in rows) == last_end
    pooled = defaultdict(lambda: {"k0": 0.0, "n0": 0.0, "d0": 0, "k1": 0.0, "n1": 0.0, "d1": 0})
    for r in rows:
        days = (r["period_end"] - r["period_start"]).days + 1
        if r["period_end"] <= first_end:
            w = "0"
        elif r["period_start"] >= last_start:
            w = "1"
        else:
            continue
        pooled[r["area_code"]]["k" + w] += r["numerator"]
        pooled[r["area_code"]]["n" + w] += r["denominator"]
        pooled[r["area_code"]]["d" + w] += days
    both = {c: x for c, x in pooled.items() if x["d0"] == 365 and x["d1"] == 366}
    assert len(both) > 350  # Gwent's LSOAs
    change = {c: 1000 * (x["k1"] / x["n1"] - x["k0"] / x["n0"]) for c, x in both.items()}
    p = {c: two_counts_p(x["k1"], x["n1"], x["k0"], x["n0"]) for c, x in both.items() if x["k1"] + x["k0"] >= 10}
    q = bh(p)
    limit = thresholds()[indicator]
    rapid = {c for c in p if q[c] < 0.05 and abs(change[c]) >= limit}
    la_of = lsoa_to_la()
    profile = {r["la_code"]: r for r in records(
        warehouse, "select * from marts.mart_cohesion_profile where indicator_id = ?", [indicator])}
    listed = 0
    for la in GWENT_LAS:
        mine = [c for c in both if la_of[c] == la]
        top = sorted((c for c in mine if c in rapid), key=lambda c: (-abs(change[c]), q[c], c))[:3]
        r = profile[la]
        assert r["lsoas_tested_for_change"] == sum(c in p for c in mine)
        assert r["lsoas_changed_significantly"] == sum(c in rapid for c in mine)
        assert (r["lsoas_most_changed"] or "") == ";".join(top), (indicator, la)
        if top:
            assert [float(x) for x in r["lsoas_most_changed_changes"].split(";")] == pytest.approx(
                [change[c] for c in top], abs=1e-6)
        listed += len(top)
    assert listed > 0
