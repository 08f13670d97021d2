"""The cohesion-monitor code location: assembles the definitions, holds no logic."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt import cohesion_dbt_assets, dbt_resource
from orchestration.defs.police_uk import police_uk_monthly_partitions, police_uk_street_crimes
from orchestration.defs.raw_public import snapshot_assets
from orchestration.defs.reports import crime_exception_report
from orchestration.defs.resources import warehouse_from_settings

police_uk_job = dg.define_asset_job(
    "police_uk_monthly_ingest",
    selection=dg.AssetSelection.assets(police_uk_street_crimes),
    partitions_def=police_uk_monthly_partitions,
    description="Load police.uk street-level crime for one month (or a range, as one run).",
)

warehouse_build_job = dg.define_asset_job(
    "warehouse_build",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(police_uk_street_crimes),
    description=(
        "Reference datasets, every dbt model, seed and test, and the quarterly crime exception report. "
        "Run after police_uk_monthly_ingest."
    ),
)

defs = dg.Definitions(
    assets=[*snapshot_assets, police_uk_street_crimes, cohesion_dbt_assets, crime_exception_report],
    jobs=[police_uk_job, warehouse_build_job],
    resources={"warehouse": warehouse_from_settings(), "dbt": dbt_resource()},
)
