"""The dbt project as Dagster assets; dbt tests become asset checks.

The manifest is prepared ahead of time (``make manifest`` runs ``dbt parse``), so importing the code
location does not parse the project; under ``dagster dev`` it is refreshed on load.
"""


import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL
from orchestration.settings import DBT_PROJECT_DIR, export_for_subprocesses, get_settings

export_for_subprocesses()

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    # First use of a fresh clone outside make: prepare once; later imports reuse target/manifest.json.
    dbt_project.preparer.prepare(dbt_project)

GROUPS = {"staging": "staging", "intermediate": "intermediate", "marts": "marts"}


class CohesionDbtTranslator(DagsterDbtTranslator):
    """Asset keys are <schema>/<name> (marts/fct_crime_monthly), the name BI users query."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        return GROUPS.get(dbt_resource_props["fqn"][1], "dbt")

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return OWNERS


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=CohesionDbtTranslator(settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True,
        # the split-points table is written by the same asset as the crimes, so both sources share its key
        enable_duplicate_source_asset_keys=True,
    )),
    pool=WAREHOUSE_POOL,
)
def cohesion_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    # buildable: a test runs only when everything it reads is built in this run, so a run of a subset
    # (e.g. the tension models after a partner file lands) never trips over a test on another model.
    # --full-refresh: seeds are reloaded with their current columns (a seed that gained a column would
    # otherwise be loaded into the old table shape); every model here is a view or table anyway.
    args = ["build", "--indirect-selection", "buildable", "--full-refresh"]
    as_of_date = get_settings().as_of_date
    if as_of_date:
        # The day the tension marts measure ages and overdue flags to (COHESION_AS_OF_DATE); else today.
        args += ["--vars", json.dumps({"as_of_date": as_of_date})]
    yield from dbt.cli(args, context=context).stream()


def dbt_resource() -> DbtCliResource:
    # dbt from this environment, also when the environment is not activated (a service started by its path)
    local = Path(sys.executable).with_name("dbt")
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                          dbt_executable=str(local) if local.exists() else "dbt")
