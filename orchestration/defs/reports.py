"""The quarterly crime exception report for the tension monitoring group."""


import dagster as dg

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, WarehouseResource
from orchestration.lib.crime_exceptions import build_report, save_report


@dg.asset(
    key=["reports", "crime_exception_report"],
    group_name="reports",
    description=(
        "Quarterly crime exception report (self-contained HTML) for the latest complete quarter: LSOAs whose "
        "all recorded crime, violence and sexual offences, anti-social behaviour or public order rose "
        "significantly more than the rest of their police force (marts.fct_crime_exception: exact conditional "
        "Poisson test against the force-adjusted expectation, Benjamini–Hochberg q < 0.05, at least the "
        "catalogue's change threshold; method: dbt docs exception_method). Also writes the quarter's tests as "
        "reported to reports.crime_exceptions."
    ),
    # fct_indicator_value and the police.uk staging view carry the data-quality suites whose failures the
    # report lists as caveats; depending on them makes the report wait for (and be blocked by) those checks.
    deps=[
        dg.AssetKey(["marts", "fct_crime_exception"]),
        dg.AssetKey(["marts", "fct_crime_monthly_coverage"]),
        dg.AssetKey(["marts", "dim_geography"]),
        dg.AssetKey(["marts", "fct_indicator_value"]),
        dg.AssetKey(["staging", "stg_police_uk__street_crimes"]),
    ],
    kinds={"python", "html"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
)
def crime_exception_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    report = build_report(warehouse.warehouse)
    dated, latest = save_report(report, warehouse.warehouse, warehouse.reports)
    flags = report.context["flags"]
    tested = int(report.tests["is_tested"].sum()) if report.tests.height else 0
    own_past = int(report.tests["is_above_own_past"].sum()) if report.tests.height else 0
    context.log.info(f"{report.context['quarter_label']}: {len(flags)} flags (force adjusted) from {tested} tests "
                     f"({own_past} above their own past) -> {dated}")
    preview = "\n".join(
        f"| {f['lsoa21_code']} | {f['lsoa21_name']} | {f['crime_group_label']} | {f['observed']} | "
        f"{f['expected']:.1f} | {f['q_value']:.2g} |"
        for f in flags[:15]
    )
    return dg.MaterializeResult(
        metadata={
            "quarter": report.context["quarter_label"],
            "tests": tested,
            "flags": len(flags),
            "above_own_past_unadjusted": own_past,
            "path": dg.MetadataValue.path(str(dated)),
            "latest": dg.MetadataValue.path(str(latest)),
            "top_flags": dg.MetadataValue.md(
                "| LSOA | name | group | observed | expected | q |\n|---|---|---|---|---|---|\n" + preview
            ),
        }
    )
