"""The cohesion-monitor code location: assembles the definitions, holds no logic."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt import cohesion_dbt_assets, dbt_resource
from orchestration.defs.delivery import (
    CHAIN_SENSOR_SECONDS,
    emergency_flash,
    failures_to_data_team,
    live_schedules_and_sensors,
    release_schedules,
    monitoring_packs_job,
    pack_deliveries,
    packs_after_partner_files,
    quarterly_pack_schedule,
)
from orchestration.defs.atlas import atlas_after, atlas_job, cohesion_atlas
from orchestration.defs.publishing import bi_exports
from orchestration.defs.partner_extracts import (
    WAREHOUSE_BUILD_JOB,
    partner_extracts,
    partner_extracts_job,
    partner_landing_sensor,
    purge_partner_originals,
    purge_schedule,
)
from orchestration.defs.quality import data_docs_after_failed_runs, data_docs_after_runs, gx_checks
from orchestration.defs.police_uk import police_uk_monthly_partitions, police_uk_street_crimes
from orchestration.defs.raw_public import partitioned_assets, snapshot_assets
from orchestration.defs.reports import crime_exception_report, monitoring_packs
from orchestration.defs.resources import partner_store_from_settings, warehouse_from_settings
from orchestration.defs.runs import release_dead_runs_sensor
from orchestration.lib import sqlite_storage

# a run started from this code location (the daemon's run workers, `make run`) writes the instance's SQLite
# storage with synchronous=NORMAL: ~3 ms an event instead of 25 (lib/sqlite_storage.py)
sqlite_storage.install()

# Every job runs its steps in-process, one after another in the run's own process, as `make run` does
# (execute_in_process): Dagster's default multiprocess executor starts a process per step, which imports Dagster,
# the definitions and dbt's manifest again (~3 s a step) and, when the step waits for the duckdb_warehouse pool,
# looks for a free slot again only every few seconds - measured through the daemon, a new police.uk month's
# warehouse_build spent ~35 s of its ~50 s before the report on that (benchmarks/live_police_month.py). The steps
# share one writer slot anyway; the PDFs render in their own worker processes either way.
police_uk_job = dg.define_asset_job(
    "police_uk_monthly_ingest",
    selection=dg.AssetSelection.assets(police_uk_street_crimes),
    partitions_def=police_uk_monthly_partitions,
    executor_def=dg.in_process_executor,
    description="Load police.uk street-level crime for one month (or a range, as one run).",
)

# One job per partitioned public dataset: a run loads one release, or all of them (single-run backfill).
release_jobs = [
    dg.define_asset_job(
        f"load_{asset.key.path[-1]}",
        selection=dg.AssetSelection.assets(asset),
        partitions_def=asset.partitions_def,
        executor_def=dg.in_process_executor,
        description=f"Load releases of {asset.key.to_user_string()}.",
    )
    for asset in partitioned_assets
]

warehouse_build_job = dg.define_asset_job(
    WAREHOUSE_BUILD_JOB,
    # the packs are partitioned by quarter: build_all runs monitoring_packs_refresh for each quarter after this,
    # then atlas_refresh (in the daemon: both start when this run succeeds)
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(police_uk_street_crimes, *partitioned_assets, monitoring_packs, pack_deliveries,
                               cohesion_atlas),
    executor_def=dg.in_process_executor,
    description=(
        "Reference datasets, partner files waiting in the landing folder, every dbt model, seed and test, "
        "the quarterly crime exception report, the emergency flash and the BI copies. Run after "
        "police_uk_monthly_ingest and the load_* release jobs; then monitoring_packs_refresh per quarter and "
        "atlas_refresh."
    ),
)

(police_uk_schedule, rebuild_after_public_loads, rebuild_after_partial_public_loads, packs_after_warehouse_build,
 build_police_months_not_built) = live_schedules_and_sensors(police_uk_job, release_jobs, warehouse_build_job)
atlas_after_warehouse_build = atlas_after(warehouse_build_job, CHAIN_SENSOR_SECONDS)

defs = dg.Definitions(
    assets=[
        *snapshot_assets,
        *partitioned_assets,
        police_uk_street_crimes,
        partner_extracts,
        cohesion_dbt_assets,
        crime_exception_report,
        monitoring_packs,
        pack_deliveries,
        emergency_flash,
        bi_exports,
        cohesion_atlas,
    ],
    asset_checks=gx_checks,
    jobs=[police_uk_job, *release_jobs, warehouse_build_job, partner_extracts_job, purge_partner_originals,
          monitoring_packs_job, atlas_job],
    sensors=[partner_landing_sensor, packs_after_partner_files, failures_to_data_team, rebuild_after_public_loads,
             rebuild_after_partial_public_loads, packs_after_warehouse_build, data_docs_after_runs,
             data_docs_after_failed_runs, release_dead_runs_sensor, atlas_after_warehouse_build,
             build_police_months_not_built],
    schedules=[purge_schedule, quarterly_pack_schedule, police_uk_schedule,
               *release_schedules(release_jobs, partitioned_assets)],
    resources={
        "warehouse": warehouse_from_settings(),
        "partner_store": partner_store_from_settings(),
        "dbt": dbt_resource(),
    },
)
