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


# One partition per quarter ("2024-Q2"): the UI shows which quarters have packs, when each was last built and
# which failed. Keys are added as quarters get data (make run, the quarterly schedule, the partner sensor).
pack_quarters = dg.DynamicPartitionsDefinition(name="pack_quarters")


class MonitoringPackConfig(dg.Config):
    """Which groups (default: every group in seed monitoring_groups) and whether to write PDFs. The quarter is
    the partition. A quarter whose inputs changed gets a new version that says what changed; one whose content
    is unchanged keeps its version and nothing is written."""

    groups: list[str] = []
    pdf: bool = True


@dg.asset(
    key=["reports", "monitoring_packs"],
    group_name="reports",
    description=(
        "The quarterly monitoring pack per tension monitoring group (seed monitoring_groups) and quarter, "
        "reported by exception: tension summary table, what needs action, evidence, cohesion indicators by "
        "exception, crime and ASB exceptions (force-trend adjusted), looking forward, about the data. Three "
        "tiers (Gold/Silver OFFICIAL-SENSITIVE; Bronze and partner agencies; summary) × Welsh and English × "
        "HTML and PDF, archived under data/reports/<quarter>/<group>/ with a manifest (orchestration/lib/pack)."
    ),
    deps=[
        dg.AssetKey(["marts", name]) for name in (
            "fct_tension_assessment", "fct_cia", "fct_risk", "fct_tension_evidence", "fct_incident",
            "fct_tension_report", "shared_incident_summary", "fct_indicator_change", "fct_indicator_benchmark",
            "fct_indicator_value", "fct_crime_exception", "fct_crime_quarterly", "fct_crime_monthly_coverage",
            "dim_geography",
        )
    ],
    kinds={"python", "html", "pdf"},
    owners=OWNERS,
    # No warehouse pool slot (as the atlas): it reads the file read-only for a few seconds (waiting for a writer,
    # like every reader) and renders for up to a minute after closing it; holding the slot would keep a partner
    # file's run, which writes, waiting behind the rendering.
    partitions_def=pack_quarters,
)
def monitoring_packs(context: dg.AssetExecutionContext, config: MonitoringPackConfig,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    from orchestration.lib.pack.build import build_packs

    result = build_packs(warehouse.warehouse, warehouse.reports, quarters=[context.partition_key], groups=config.groups,
                         pdf=config.pdf, log=context.log.info)
    table = "\n".join(
        f"| {r['quarter']} | {r['group']} | v{r['version']} | {'new' if r['is_new'] else 'unchanged'} | "
        + " | ".join(str(r['section_totals'][s]) for s in ("tension", "action", "evidence", "cohesion", "crime", "forward"))
        + " |"
        for r in result["packs"]
    )
    metadata = {
        "quarters": ", ".join(result["quarters"]),
        "packs": len(result["packs"]),
        "new_versions": sum(r["is_new"] for r in result["packs"]),
        "files_written": sum(len(r["files"]) for r in result["packs"] if r["is_new"]),
        "tiers": "gold_silver (OFFICIAL-SENSITIVE), bronze (OFFICIAL), summary (OFFICIAL)",
        "languages": "cy, en",
        "archive": dg.MetadataValue.path(str(warehouse.reports)),
        "packs_table": dg.MetadataValue.md(
            "| quarter | group | version | | tension | action | evidence | cohesion | crime | forward |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n" + table
        ),
    }
    if result["failed"]:
        # the other groups' packs are written; this run fails so the data team sees which did not
        raise dg.Failure(
            description="Monitoring packs failed for: " + "; ".join(f"{g}: {e}" for g, e in result["failed"]),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)
