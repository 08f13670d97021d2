"""The quarterly crime exception report: which LSOAs rose significantly more than the rest of their force.

Part 2 of the guide: quarterly updates to the tension monitoring group are *reported by exception*.
The tests are not computed here: they are rows of the mart ``marts.fct_crime_exception`` (dbt), built with
the warehouse's one exception method (dbt docs block ``exception_method``; statistics in
``orchestration.lib.stats``), so the report, ``fct_indicator_change`` and every later output agree.

Method, per LSOA and crime group (seed crime_groups), for the latest quarter with a complete baseline:
- observed = the quarter's count; baseline = the LSOA's previous four quarters (a whole year, every season once);
- expected = baseline x (rest of the force this quarter) / (rest of the force in the baseline): the count if the
  LSOA moved exactly as the rest of its police force did, so a force-wide rise or the force's seasonal peak is
  not an exception;
- exact conditional test (one-sided), run only when observed + baseline >= 10; Benjamini-Hochberg q < 0.05
  within each crime group (one family per crime group: the LSOAs tested for it); and the excess must be at least
  the catalogue's change threshold
  (per 1,000 person-years). The headline counts only these force-adjusted exceptions; "above its own past"
  (the unadjusted test) is reported as a number alongside, with the force ratio that explains the difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import yaml

from orchestration.lib.method_page import PAGE_NAME as METHOD_PAGE
from orchestration.lib.method_page import write_method_page
from orchestration.lib.report_html import write_report
from orchestration.lib.warehouse import connect, fetch_row, transaction
from orchestration.settings import DBT_PROJECT_DIR



def engine_rules() -> tuple[float, int]:
    """(FDR alpha, minimum events) of the exception engine, as the dbt models use them (dbt_project.yml vars)."""
    with open(DBT_PROJECT_DIR / "dbt_project.yml", encoding="utf-8") as fh:
        rules = yaml.safe_load(fh)["vars"]
    return float(rules["exception_fdr_alpha"]), int(rules["exception_min_events"])


ALPHA, MIN_EVENTS = engine_rules()
TEST_NAME = (
    "Exact conditional Poisson test against a force-adjusted expectation (binomial test of the quarter's share "
    "of quarter + baseline, null share taken from the rest of the police force)"
)
METHOD_DOC = f"the method page {METHOD_PAGE}, beside this report; dbt docs block exception_method"
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
    expected_own_past double not null,
    force_ratio_leave_one_out double,
    expected double,
    ratio double,
    is_tested boolean not null,
    p_value_own_past double,
    q_value_own_past double,
    is_above_own_past boolean not null,
    p_value double,
    q_value double,
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
    tests: pl.DataFrame  # one row per LSOA × crime group of fct_crime_exception for the quarter
    context: dict  # for report_html


def _quarter_label(quarter_start) -> str:
    q = (quarter_start.month - 1) // 3 + 1
    return f"{quarter_start.year} Q{q} ({QUARTER_MONTHS[q]} {quarter_start.year})"


def _shift_quarter(quarter_start, quarters: int):
    index = quarter_start.year * 4 + (quarter_start.month - 1) // 3 + quarters
    return quarter_start.replace(year=index // 4, month=(index % 4) * 3 + 1)


def latest_testable_quarter(con) -> object:
    row = fetch_row(con, "select max(quarter_start) from marts.fct_crime_exception where geography_level = 'lsoa'")
    if row is None or row[0] is None:
        raise NoTestableQuarter(
            "No quarter has three complete months and a complete baseline of the previous four quarters "
            "(15 consecutive months of police.uk data are needed)."
        )
    return row[0]


def _pct(ratio: float) -> str:
    return f"{abs(ratio - 1):.0%} {'above' if ratio >= 1 else 'below'}"


def build_report(warehouse: Path) -> ExceptionReport:
    con = connect(warehouse, read_only=True)
    try:
        quarter = latest_testable_quarter(con)
        groups = con.sql(
            "select crime_group, crime_group_label, definition from ref.crime_groups "
            "where in_exception_report order by report_order"
        ).pl()
        tests = con.sql(
            """
            select e.*, g.lsoa21_name, g.ward_name, g.la_name, g.police_force_name
            from marts.fct_crime_exception as e
            inner join marts.dim_geography as g on e.area_code = g.lsoa21_code
            where e.geography_level = 'lsoa' and e.quarter_start = ?
            order by e.area_code, e.crime_group
            """,
            params=[quarter],
        ).pl()
        area_rows = con.sql(
            """
            select area_name, geography_level, crime_group, observed, expected_own_past, expected, force_ratio,
                   is_exception
            from marts.fct_crime_exception
            where geography_level in ('la', 'police_force') and quarter_start = ?
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
        repeated = _repeated_crime_ids(con, quarter)
    finally:
        con.close()

    labels = dict(zip(groups["crime_group"], groups["crime_group_label"]))
    generated_at = datetime.now(timezone.utc).replace(microsecond=0)

    flags = []
    if tests.height:
        flagged = tests.filter(pl.col("is_exception")).sort(["la_name", "ward_name", "q_value", "area_code"])
        for r in flagged.to_dicts():
            flags.append({
                "lsoa21_code": r["area_code"],
                "lsoa21_name": r["lsoa21_name"],
                "ward_name": r["ward_name"],
                "la_name": r["la_name"],
                "crime_group_label": labels[r["crime_group"]],
                "observed": r["observed"],
                "baseline_count": r["baseline_count"],
                "expected_own_past": r["expected_own_past"],
                "force_ratio": r["force_ratio_leave_one_out"],
                "expected": r["expected"],
                "ratio": r["ratio"],
                "p_value": r["p_value"],
                "q_value": r["q_value"],
                "population": r["population_2021"],
                "rate_per_1000_py": r["rate_per_1000_person_years"],
                "expected_rate_per_1000_py": r["expected_rate_per_1000_person_years"],
                "rate_lci_per_1000_py": r["rate_lci_95"],
                "rate_uci_per_1000_py": r["rate_uci_95"],
            })

    summary = []
    if tests.height:
        by_la = (
            tests.group_by(["la_name", "crime_group"])
            .agg(pl.col("is_tested").sum().alias("lsoas_tested"), pl.col("is_exception").sum().alias("lsoas_flagged"),
                 pl.col("is_above_own_past").sum().alias("lsoas_above_own_past"))
            .sort(["la_name", "crime_group"])
        )
        order = {g: i for i, g in enumerate(groups["crime_group"])}
        for r in sorted(by_la.to_dicts(), key=lambda r: (r["la_name"], order[r["crime_group"]])):
            summary.append({"la_name": r["la_name"], "crime_group_label": labels[r["crime_group"]],
                            "lsoas_tested": int(r["lsoas_tested"]), "lsoas_flagged": int(r["lsoas_flagged"]),
                            "lsoas_above_own_past": int(r["lsoas_above_own_past"])})

    area_totals = []
    for r in area_rows.filter(pl.col("crime_group").is_in(list(labels))).to_dicts():
        area_totals.append({
            "area_name": r["area_name"],
            "geography_level": {"la": "Local authority", "police_force": "Police force"}[r["geography_level"]],
            "crime_group_label": labels[r["crime_group"]],
            "observed": r["observed"],
            "expected_own_past": r["expected_own_past"],
            "expected": r["expected"] if r["geography_level"] == "la" else None,
            "ratio": r["observed"] / r["expected_own_past"] if r["expected_own_past"] else None,
            "is_exception": bool(r["is_exception"]),
        })
    force_ratios = [
        {"area_name": t["area_name"], "crime_group_label": t["crime_group_label"], "ratio": t["ratio"]}
        for t in area_totals if t["geography_level"] == "Police force" and t["ratio"]
    ]

    n_tested = int(tests["is_tested"].sum()) if tests.height else 0
    # Benjamini-Hochberg runs within each crime group (fct_crime_exception: level × crime group × quarter): one
    # family per crime group, its size the LSOAs tested for that group this quarter
    tested_by_group = dict(tests.filter(pl.col("is_tested")).group_by("crime_group").len().iter_rows()) if tests.height else {}
    families = [{"crime_group_label": labels[g], "n_tests": int(tested_by_group.get(g, 0))} for g in groups["crime_group"]]
    n_own_past = int(tests["is_above_own_past"].sum()) if tests.height else 0
    n_untested = tests.height - n_tested
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
            "published and may be revised by the force. A Crime ID counts once per month (the row with the "
            "latest outcome).",
        }
        for r in loads.to_dicts()
    ] + [
        {
            "name": "Census 2021 usual residents (ONS)",
            "dataset": "Age (6 categories) by 2021 LSOA",
            "vintage": "Census day 21 March 2021",
            "licence": "Open Government Licence v3.0",
            "detail": "Denominator for the rates per 1,000 person-years (residents × days / 365.25).",
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
    trend_caveats = [
        f"Across the {t['area_name']} police force area, {t['crime_group_label'].lower()} was {_pct(t['ratio'])} "
        "its previous four quarters' daily rate this quarter. Each LSOA's expected count is scaled by the rest of "
        "its force's ratio, so this rise or fall is not counted as a local exception."
        for t in force_ratios
    ]
    repeated_caveats = [
        f"{n:,} police.uk rows in {month} repeated a Crime ID already counted that month and were not counted "
        "again (the row with the latest outcome is kept; raw rows are kept in the warehouse)."
        for month, n in repeated if n
    ]
    quality_caveats = data_quality_caveats(warehouse)
    context = {
        "title": f"Quarterly crime exception report — {', '.join(forces) or 'no area'}, {_quarter_label(quarter).split(' (')[0]}",
        "quarter_label": _quarter_label(quarter),
        "baseline_label": (
            f"{_quarter_label(_shift_quarter(quarter, -4)).split(' (')[0]} – "
            f"{_quarter_label(_shift_quarter(quarter, -1)).split(' (')[0]} (the previous four quarters), "
            "scaled by how the rest of the police force changed"
        ),
        "generated_at": generated_at.isoformat(),
        "areas_covered": f"{', '.join(forces)} police force area: {', '.join(las)}" if forces else "none",
        "method": {
            "test_name": TEST_NAME,
            "description": (
                "For each LSOA and crime group, the quarter's count is compared with the same LSOA's count over "
                "the previous four quarters, scaled by how much the rest of its police force changed between the "
                "same periods: expected = baseline count × (rest of force this quarter) ÷ (rest of force in the "
                "baseline). A force-wide rise or the force's seasonal peak therefore raises the expected count as "
                "much as the LSOA's own. If the LSOA had moved like the rest of its force, the quarter's count given "
                "the combined total would follow a binomial distribution with probability (rest of force this "
                "quarter) ÷ (rest of force in quarter + baseline); p is the one-sided probability of a count at "
                f"least as high. No test is run below {MIN_EVENTS} events in the quarter and its baseline "
                f"({n_untested:,} LSOA and crime group combinations this quarter). A flag also needs the excess over "
                "the expected rate to reach the indicator catalogue's change threshold (per 1,000 person-years). "
                f"The same method is used by every output of the warehouse ({METHOD_DOC})."
            ),
            "alpha": ALPHA,
            "correction": "Benjamini–Hochberg false discovery rate control",
            "n_tests": n_tested,
            "families": families,
            "page": METHOD_PAGE,
        },
        "headline_context": (
            f"Against their own past alone (no allowance for the force trend) {n_own_past:,} combinations would have "
            "been above their baseline; the difference is what the force-wide change explains."
        ),
        "force_ratios": force_ratios,
        "crime_groups": [
            {"id": g, "label": labels[g], "definition": d}
            for g, d in zip(groups["crime_group"], groups["definition"])
        ],
        "summary": summary,
        "flags": flags,
        "area_totals": area_totals,
        "sources": sources,
        "caveats": quality_caveats + trend_caveats + repeated_caveats + [
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


def _repeated_crime_ids(con, quarter) -> list[tuple[str, int]]:
    """(month, rows not counted because their Crime ID was already counted that month) for the quarter and its
    baseline, from fct_crime_monthly_coverage."""
    rows = con.execute(
        """
        select strftime(month, '%Y-%m'), sum(repeated_crime_id_rows_dropped)::bigint
        from marts.fct_crime_monthly_coverage
        where month >= ? - interval 1 year and month < ? + interval 3 month
        group by 1 order by 1
        """,
        [quarter, quarter],
    ).fetchall()
    return [(m, int(n)) for m, n in rows]


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
    """Write the quarter's tests as reported to reports.crime_exceptions and the HTML file, with the method page
    it links to beside it (exception_method.html); return (dated, latest)."""
    generated_at = datetime.fromisoformat(report.context["generated_at"]).replace(tzinfo=None)
    with transaction(warehouse) as con:
        con.execute(EXCEPTIONS_DDL)
        if report.tests.height:
            table = report.tests.select(
                pl.col("quarter_start"),
                pl.col("area_code").alias("lsoa21_code"),
                "crime_group", "observed", "baseline_count", "days_in_quarter", "baseline_days",
                "expected_own_past", "force_ratio_leave_one_out", "expected", "ratio", "is_tested",
                "p_value_own_past", "q_value_own_past", "is_above_own_past", "p_value", "q_value",
                pl.col("is_exception").alias("is_flagged"),
            ).with_columns(pl.lit(TEST_NAME).alias("test"), pl.lit(generated_at).alias("generated_at"))
            con.register("incoming", table.to_arrow())
            con.execute("insert into reports.crime_exceptions select * from incoming")
            con.unregister("incoming")
    quarter = report.context["quarter_label"].split(" (")[0].replace(" ", "-")
    write_method_page(reports_dir, mode=0o640)
    dated = write_report(report.context, reports_dir / f"crime_exception_report_{quarter}.html")
    latest = write_report(report.context, reports_dir / "crime_exception_report_latest.html")
    return dated, latest
