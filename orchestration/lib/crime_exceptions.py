"""The quarterly crime exception report: which LSOAs are significantly above their own baseline.

Part 2 of the guide: quarterly updates to the tension monitoring group are *reported by exception*,
so the report lists only the LSOAs whose crime in the latest complete quarter is significantly above
the same LSOA's previous four quarters.

Method, per LSOA and crime group (seed crime_groups):
- observed = the quarter's count; baseline = the previous four quarters' count;
- exact conditional test for two Poisson counts: under "rate unchanged", observed given
  observed + baseline is Binomial(n, days_quarter / (days_quarter + days_baseline)); p is the upper
  tail (one-sided: only rises are exceptions);
- about 1,700 tests run each quarter, so p-values are adjusted with Benjamini–Hochberg and an LSOA is
  flagged when the adjusted q < 0.05 (at most about 5% of flags are expected to be false alarms).

The population is the same in both periods (Census 2021), so it cancels out of the test; rates are
shown for context only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from orchestration.lib.report_html import write_report
from orchestration.lib.stats import (
    benjamini_hochberg,
    expected_count,
    poisson_exact_ci,
    poisson_rate_increase_test,
)
from orchestration.lib.warehouse import connect, fetch_row, transaction

ALPHA = 0.05
TEST_NAME = "Exact conditional Poisson test (binomial test of the quarter's share of quarter + baseline)"
QUARTER_MONTHS = {1: "January–March", 2: "April–June", 3: "July–September", 4: "October–December"}

EXCEPTIONS_DDL = """
create schema if not exists reports;
create or replace table reports.crime_exceptions (
    quarter_start date not null,
    lsoa21_code varchar not null,
    crime_group varchar not null,
    observed integer not null,
    baseline_count integer not null,
    days_in_quarter integer not null,
    baseline_days integer not null,
    expected double not null,
    ratio double,
    p_value double not null,
    q_value double not null,
    is_flagged boolean not null,
    test varchar not null,
    generated_at timestamp not null,
    primary key (quarter_start, lsoa21_code, crime_group)
);
"""


class NoTestableQuarter(RuntimeError):
    pass


@dataclass
class ExceptionReport:
    quarter_start: str
    tests: pl.DataFrame  # one row per LSOA × crime group tested
    context: dict  # for report_html


def _quarter_label(quarter_start) -> str:
    q = (quarter_start.month - 1) // 3 + 1
    return f"{quarter_start.year} Q{q} ({QUARTER_MONTHS[q]} {quarter_start.year})"


def _shift_quarter(quarter_start, quarters: int):
    index = quarter_start.year * 4 + (quarter_start.month - 1) // 3 + quarters
    return quarter_start.replace(year=index // 4, month=(index % 4) * 3 + 1)


def latest_testable_quarter(con) -> object:
    row = fetch_row(
        con, "select max(quarter_start) from marts.fct_crime_quarterly where geography_level = 'lsoa' and is_testable"
    )
    if row is None or row[0] is None:
        raise NoTestableQuarter(
            "No quarter has three complete months and a complete baseline of the previous four quarters "
            "(15 consecutive months of police.uk data are needed)."
        )
    return row[0]


def compute_tests(quarterly: pl.DataFrame) -> pl.DataFrame:
    """Add expected, ratio, p, q and the flag to LSOA × group rows of fct_crime_quarterly."""
    if quarterly.height == 0:
        return quarterly
    rows = quarterly.to_dicts()
    for r in rows:
        r["expected"] = expected_count(r["baseline_count"], r["days_in_quarter"], r["baseline_days"])
        r["ratio"] = r["crime_count"] / r["expected"] if r["expected"] > 0 else None
        r["p_value"] = poisson_rate_increase_test(
            r["crime_count"], r["baseline_count"], r["days_in_quarter"], r["baseline_days"]
        )
    qvalues = benjamini_hochberg([r["p_value"] for r in rows])
    for r, q in zip(rows, qvalues):
        r["q_value"] = q
        r["is_flagged"] = q < ALPHA
    return pl.DataFrame(rows, infer_schema_length=None)


def build_report(warehouse: Path) -> ExceptionReport:
    con = connect(warehouse, read_only=True)
    try:
        quarter = latest_testable_quarter(con)
        groups = con.sql(
            "select crime_group, crime_group_label, definition from ref.crime_groups "
            "where in_exception_report order by report_order"
        ).pl()
        quarterly = con.sql(
            """
            select q.*, g.lsoa21_name, g.ward_name, g.la_name, g.police_force_name
            from marts.fct_crime_quarterly as q
            inner join marts.dim_geography as g on q.area_code = g.lsoa21_code
            where q.geography_level = 'lsoa' and q.quarter_start = ? and q.is_testable
              and q.crime_group in (select crime_group from ref.crime_groups where in_exception_report)
            order by q.area_code, q.crime_group
            """,
            params=[quarter],
        ).pl()
        area_rows = con.sql(
            """
            select area_name, geography_level, crime_group, crime_count, baseline_count, days_in_quarter,
                   baseline_days
            from marts.fct_crime_quarterly
            where geography_level in ('la', 'police_force') and quarter_start = ? and is_testable
            order by geography_level desc, area_name, crime_group
            """,
            params=[quarter],
        ).pl()
        loads = con.sql(
            """
            select dataset, min(partition_key) as first_month, max(partition_key) as last_month,
                   count(distinct partition_key) as months, sum(row_count) as row_count,
                   max(retrieved_at) as last_loaded, any_value(mode) as mode
            from (
                select *, row_number() over (partition by dataset, partition_key order by retrieved_at desc) as rn
                from raw.load_log where source = 'police_uk' and outcome in ('loaded', 'unchanged')
            ) where rn = 1
            group by dataset
            """
        ).pl()
    finally:
        con.close()

    tests = compute_tests(quarterly)
    labels = dict(zip(groups["crime_group"], groups["crime_group_label"]))
    generated_at = datetime.now(timezone.utc).replace(microsecond=0)

    flags = []
    if tests.height:
        flagged = tests.filter(pl.col("is_flagged")).sort(["q_value", "la_name", "area_code"])
        for r in flagged.to_dicts():
            pop = r["population_2021"]
            low, high = poisson_exact_ci(r["crime_count"])
            flags.append({
                "lsoa21_code": r["area_code"],
                "lsoa21_name": r["lsoa21_name"],
                "ward_name": r["ward_name"],
                "la_name": r["la_name"],
                "crime_group_label": labels[r["crime_group"]],
                "observed": r["crime_count"],
                "baseline_count": r["baseline_count"],
                "expected": r["expected"],
                "ratio": r["ratio"],
                "p_value": r["p_value"],
                "q_value": r["q_value"],
                "population": pop,
                "rate_current_per_1000": 1000 * r["crime_count"] / pop if pop else None,
                "rate_baseline_per_1000": 1000 * r["expected"] / pop if pop else None,
                "ci_low_per_1000": 1000 * low / pop if pop else None,
                "ci_high_per_1000": 1000 * high / pop if pop else None,
            })

    summary = []
    if tests.height:
        by_la = (
            tests.group_by(["la_name", "crime_group"])
            .agg(pl.len().alias("lsoas_tested"), pl.col("is_flagged").sum().alias("lsoas_flagged"))
            .sort(["la_name", "crime_group"])
        )
        order = {g: i for i, g in enumerate(groups["crime_group"])}
        for r in sorted(by_la.to_dicts(), key=lambda r: (r["la_name"], order[r["crime_group"]])):
            summary.append({"la_name": r["la_name"], "crime_group_label": labels[r["crime_group"]],
                            "lsoas_tested": r["lsoas_tested"], "lsoas_flagged": int(r["lsoas_flagged"])})

    area_totals = []
    for r in area_rows.filter(pl.col("crime_group").is_in(list(labels))).to_dicts():
        expected = expected_count(r["baseline_count"], r["days_in_quarter"], r["baseline_days"])
        area_totals.append({
            "area_name": r["area_name"],
            "geography_level": {"la": "Local authority", "police_force": "Police force"}[r["geography_level"]],
            "crime_group_label": labels[r["crime_group"]],
            "observed": r["crime_count"],
            "expected": expected,
            "ratio": r["crime_count"] / expected if expected else None,
        })

    trend_caveats = [
        f"Across the {t['area_name']} police force area, {t['crime_group_label'].lower()} was "
        f"{abs(t['ratio'] - 1):.0%} {'above' if t['ratio'] >= 1 else 'below'} its baseline this quarter. "
        "Each LSOA is tested against its own past, so a force-wide rise or seasonal peak raises many LSOAs "
        "at once; compare a flagged LSOA's ratio with this figure."
        for t in area_totals
        if t["geography_level"] == "Police force" and t["crime_group_label"] == labels.get("all_crime") and t["ratio"]
    ]
    forces = sorted(tests["police_force_name"].unique().to_list()) if tests.height else []
    las = sorted(tests["la_name"].unique().to_list()) if tests.height else []
    sources = [
        {
            "name": "data.police.uk street-level crime",
            "dataset": r["dataset"],
            "vintage": f"{r['first_month']} to {r['last_month']} ({r['months']} months), loaded "
            f"{r['last_loaded']:%Y-%m-%d} ({r['mode']} mode)",
            "licence": "Open Government Licence v3.0",
            "detail": f"{r['row_count']:,} records. Locations are anonymised snap points; figures are as "
            "published and may be revised by the force.",
        }
        for r in loads.to_dicts()
    ] + [
        {
            "name": "Census 2021 usual residents (ONS)",
            "dataset": "Age (6 categories) by 2021 LSOA",
            "vintage": "Census day 21 March 2021",
            "licence": "Open Government Licence v3.0",
            "detail": "Denominator for the rates per 1,000 residents.",
        },
        {
            "name": "ONS geography lookups",
            "dataset": "LSOA 2021 to MSOA, ward (2025, best fit), local authority and police force; "
            "LSOA 2011 to 2021 exact fit",
            "vintage": "2021 LSOAs; 2025 wards; 2019 police force areas",
            "licence": "Open Government Licence v3.0; contains OS data © Crown copyright and database right",
            "detail": "2022 records on 2011 LSOA codes are carried onto 2021 codes before counting.",
        },
    ]
    n_tests = tests.height
    quality_caveats = data_quality_caveats(warehouse)
    context = {
        "title": f"Quarterly crime exception report — {', '.join(forces) or 'no area'}, {_quarter_label(quarter).split(' (')[0]}",
        "quarter_label": _quarter_label(quarter),
        "baseline_label": (
            f"{_quarter_label(_shift_quarter(quarter, -4)).split(' (')[0]} – "
            f"{_quarter_label(_shift_quarter(quarter, -1)).split(' (')[0]} (the previous four quarters)"
        ),
        "generated_at": generated_at.isoformat(),
        "areas_covered": f"{', '.join(forces)} police force area: {', '.join(las)}" if forces else "none",
        "method": {
            "test_name": TEST_NAME,
            "description": (
                "For each LSOA and crime group, the quarter's count is compared with the same LSOA's count "
                "over the previous four quarters. If the rate had not changed, the quarter's count given "
                "the combined total would follow a binomial distribution with probability days in quarter "
                "/ (days in quarter + days in baseline); p is the one-sided probability of a count at least "
                "as high. Expected = baseline count × days in quarter / days in baseline."
            ),
            "alpha": ALPHA,
            "correction": "Benjamini–Hochberg false discovery rate control",
            "n_tests": n_tests,
        },
        "crime_groups": [
            {"id": g, "label": labels[g], "definition": d}
            for g, d in zip(groups["crime_group"], groups["definition"])
        ],
        "summary": summary,
        "flags": flags,
        "area_totals": area_totals,
        "sources": sources,
        "caveats": quality_caveats + trend_caveats + [
            "Police-recorded crime reflects reporting and recording as well as offending; a rise can follow "
            "a change in reporting, an operation or a recording practice.",
            "Anti-social behaviour records are incidents, not crimes, and are reported separately from all "
            "recorded crime.",
            "Rates use Census 2021 residents; areas with many visitors, shops or night-time venues have high "
            "rates that do not reflect the resident population's risk.",
            "Records with no location and records in English LSOAs cannot be placed in a Welsh LSOA and are "
            "not tested (see marts.fct_crime_monthly_coverage).",
            "A flag is a prompt for the tension monitoring group to look at local intelligence, not evidence "
            "of community tension in itself.",
        ],
    }
    return ExceptionReport(quarter_start=str(quarter), tests=tests, context=context)


def data_quality_caveats(warehouse: Path) -> list[str]:
    """The latest failing Great Expectations results (marts.dq_results), one caveat per failed limit: the
    guide asks for every dataset's limits to be flagged wherever its figures are used."""
    con = connect(warehouse, read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'dq_results'"
        ).fetchall()[0][0]
        if not exists:
            return []
        rows = con.execute(
            """
            with latest as (select suite, max(checked_at) as checked_at from marts.dq_results group by suite)
            select r.suite, r.severity, r.why, r.expectation, r.column_name, r.unexpected_count, r.sample, r.checked_at
            from marts.dq_results as r inner join latest using (suite, checked_at)
            where not r.success
            order by r.severity, r.suite, r.expectation, r.column_name
            """
        ).fetchall()
    finally:
        con.close()
    caveats = []
    for suite, severity, why, expectation, column, unexpected, sample, checked_at in rows:
        shown = ""
        if sample:
            values = json.loads(sample)
            if isinstance(values, list) and values:
                shown = ": " + "; ".join(str(v) for v in values[:6]) + (" …" if len(values) > 6 else "")
        label = "Data-quality error" if severity == "error" else "Data-quality warning"
        caveats.append(
            f"{label} ({suite}, checked {checked_at:%Y-%m-%d %H:%M} UTC): {why or expectation + ' on ' + (column or 'the table')}"
            + (f" — {unexpected:,} row(s)" if unexpected else "") + shown
        )
    return caveats


def save_report(report: ExceptionReport, warehouse: Path, reports_dir: Path) -> tuple[Path, Path]:
    """Write the tests to reports.crime_exceptions and the HTML file; return (dated, latest) paths."""
    generated_at = datetime.fromisoformat(report.context["generated_at"]).replace(tzinfo=None)
    with transaction(warehouse) as con:
        con.execute(EXCEPTIONS_DDL)
        if report.tests.height:
            table = report.tests.select(
                pl.col("quarter_start"),
                pl.col("area_code").alias("lsoa21_code"),
                "crime_group",
                pl.col("crime_count").alias("observed"),
                "baseline_count", "days_in_quarter", "baseline_days", "expected", "ratio", "p_value",
                "q_value", "is_flagged",
            ).with_columns(pl.lit(TEST_NAME).alias("test"), pl.lit(generated_at).alias("generated_at"))
            con.register("incoming", table.to_arrow())
            con.execute("insert into reports.crime_exceptions select * from incoming")
            con.unregister("incoming")
    quarter = report.context["quarter_label"].split(" (")[0].replace(" ", "-")
    dated = write_report(report.context, reports_dir / f"crime_exception_report_{quarter}.html")
    latest = write_report(report.context, reports_dir / "crime_exception_report_latest.html")
    return dated, latest
