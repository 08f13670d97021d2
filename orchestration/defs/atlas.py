"""The static, bilingual cohesion atlas and the annual cohesion profile documents (orchestration/lib/atlas)."""

import os

import dagster as dg

from orchestration.defs.resources import OWNERS
from orchestration.defs.runs import launched_by_make_run, materializations
from orchestration.lib.atlas import build_atlas
from orchestration.settings import get_settings

ATLAS_JOB = "atlas_refresh"
# On the runs atlas_after_warehouse_build starts: the whole run renders at nice 19. Beside the monitoring packs (their
# PDF workers at nice 10) it otherwise took the CPU half and half, and with four renderers on two cores both ran
# 2.6-3x slower than alone (2-year live benchmark: packs 310 s instead of 103, the atlas 327 instead of 126).
BACKGROUND_TAG = "cohesion/background"

# The public marts and reference tables the atlas reads (lib/atlas/model.py); no partner-derived table.
ATLAS_INPUTS = [
    dg.AssetKey(["marts", name]) for name in (
        "mart_cohesion_profile", "mart_community_profile", "fct_indicator_value", "fct_indicator_benchmark",
        "fct_indicator_change", "dim_geography",
    )
] + [dg.AssetKey(["ref", name]) for name in ("indicator_catalogue", "local_authority", "police_force")]
# Not an input: the atlas comes after the quarterly crime exception report in a build, so minutes of rendering
# never hold back the report the monitoring group reads first (otherwise the executor may take either first).
AFTER = [dg.AssetKey(["reports", "crime_exception_report"])]


@dg.asset(
    key=["reports", "cohesion_atlas"],
    group_name="reports",
    description=(
        "The cohesion atlas (dashboards/atlas): static pages in Welsh and English, public statistics only, opened "
        "as files or served by `make dashboards`. Wales map of the 22 local authorities per indicator and the latest "
        "exceptions; an area profile per local authority (Part 1 community profile, Part 2 annual cohesion profile: "
        "each factor separately, spine charts against the local authorities and Wales coloured by the exception "
        "engine's verdict, trends since the benchmark with 95% intervals and series breaks, urban and rural, the "
        "LSOAs that changed most); indicator pages (LSOA/MSOA map, ranked table, CSV and Parquet downloads of "
        "exactly that table); and the annual cohesion profile document per local authority (HTML and PDF). "
        "Police counts of 1-4 suppressed. Written to a temporary folder and swapped in whole."
    ),
    deps=ATLAS_INPUTS + AFTER,
    kinds={"python", "html", "pdf"},
    owners=OWNERS,
    # No warehouse pool slot: it holds the file read-only only while loading (a few seconds, waiting for a writer
    # like every reader) and renders for minutes after closing it, so writers are not kept waiting.
)
def cohesion_atlas(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    settings = get_settings()
    if context.run.tags.get(BACKGROUND_TAG) == "1" and context.run.job_name == ATLAS_JOB:
        # the daemon's atlas_refresh run (its own process): the packs render beside it, and come first
        os.nice(19 - os.nice(0))
        context.log.info("rendering at background priority (nice 19): the monitoring packs and partner file runs "
                         "beside it come first")
    summary = build_atlas(settings.warehouse_path, settings.atlas_dir, pdf=settings.atlas_pdf,
                          live=settings.mode == "live")
    pages = summary["pages"]
    context.log.info(f"{summary['page_count']} pages, {len(summary['downloads'])} downloads, "
                     f"{summary['bytes'] / 1e6:.0f} MB in {summary['seconds']} s -> {summary['path']}")
    if summary["missing_welsh"] or summary["untranslated"]:
        context.log.warning("shown in English on Welsh pages: "
                            + "; ".join((summary["missing_welsh"] + summary["untranslated"])[:20]))
    return dg.MaterializeResult(metadata={
        "pages": summary["page_count"],
        **{f"pages_{kind}": len(paths) for kind, paths in pages.items()},
        "downloads": len(summary["downloads"]),
        "bytes": summary["bytes"],
        "build_seconds": summary["seconds"],
        "pdfs_rendered": summary.get("pdfs_rendered", 0),
        "untranslated_in_welsh": len(summary["missing_welsh"]) + len(summary["untranslated"]),
        "path": dg.MetadataValue.path(summary["path"]),
        "index": dg.MetadataValue.path(str(settings.atlas_dir / "index.html")),
    })


# Its own job, not part of warehouse_build: minutes of profile PDFs would otherwise hold back the end of that run, and
# with it the monitoring packs that follow it (measured through the daemon: the packs started ~140 s after the report,
# behind the atlas). After a warehouse_build the atlas and the packs now start together: the atlas reads the
# warehouse for seconds and holds no pool slot, and renders at nice 19 (BACKGROUND_TAG), so the packs take the CPU
# first. `make run` renders it after the packs.
atlas_job = dg.define_asset_job(
    ATLAS_JOB,
    selection=dg.AssetSelection.assets(cohesion_atlas),
    executor_def=dg.in_process_executor,
    description="The cohesion atlas and the annual cohesion profile documents (HTML and PDF, Welsh and English), "
                "from the public marts. Started after a warehouse_build that rebuilt any of its inputs "
                "(atlas_after_warehouse_build); make run runs it after the monitoring packs.",
)


def atlas_after(warehouse_build_job, interval_seconds: int) -> dg.SensorDefinition:
    """The sensor that renders the atlas after a warehouse_build run (the daemon's, or one launched from the UI) that
    rebuilt any of the atlas's inputs; on by default in both modes, as the atlas was part of that job."""

    @dg.run_status_sensor(
        name="atlas_after_warehouse_build",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[warehouse_build_job],
        request_job=atlas_job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After a warehouse_build run that rebuilt any public mart the atlas reads: the atlas and the "
                    "annual profile documents, in their own run, beside the monitoring packs (make run renders "
                    "the atlas itself).",
    )
    def atlas_after_warehouse_build(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if launched_by_make_run(run):
            return dg.SkipReason("make run renders the atlas itself, after the packs")
        built = {event.asset_key for event in materializations(context.instance, run.run_id)}
        if not built & set(ATLAS_INPUTS):
            return dg.SkipReason(f"run {run.run_id[:8]} rebuilt none of the marts the atlas reads")
        return dg.RunRequest(run_key=f"atlas-after-{run.run_id}",
                             tags={"cohesion/after_run": run.run_id, BACKGROUND_TAG: "1"})

    return atlas_after_warehouse_build
