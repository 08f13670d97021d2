"""The cohesion-monitor code location: assembles the definitions, holds no logic."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt import cohesion_dbt_assets, dbt_resource
from orchestration.defs.police_uk import police_uk_monthly_partitions, police_uk_street_crimes
from orchestration.defs.raw_public import partitioned_assets, snapshot_assets
from orchestration.defs.reports import crime_exception_report
from orchestration.defs.resources import warehouse_from_settings

police_uk_job = dg.define_asset_job(
    "police_uk_monthly_ingest",
    selection=dg.AssetSelection.assets(police_uk_street_crimes),
    partitions_def=police_uk_monthly_partitions,
    description="Load police.uk street-level crime for one month (or a range, as one run).",
)

# One job per partitioned public dataset: a run loads one release, or all of them (single-run backfill).
release_jobs = [
    dg.define_asset_job(
        f"load_{asset.key.path[-1]}",
        selection=dg.AssetSelection.assets(asset),
        partitions_def=asset.partitions_def,
        description=f"Load releases of {asset.key.to_user_string()}.",
    )
    for asset in partitioned_assets
]

warehouse_build_job = dg.define_asset_job(
    "warehouse_build",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.assets(police_uk_street_crimes, *partitioned_assets),
    description=(
        "Reference datasets, every dbt model, seed and test, and the quarterly crime exception report. "
        "Run after police_uk_monthly_ingest and the load_* release jobs."
    ),
)

defs = dg.Definitions(
    assets=[*snapshot_assets, *partitioned_assets, police_uk_street_crimes, cohesion_dbt_assets, crime_exception_report],
    jobs=[police_uk_job, *release_jobs, warehouse_build_job],
    resources={"warehouse": warehouse_from_settings(), "dbt": dbt_resource()},
)
