"""The dbt project as Dagster assets; dbt tests become asset checks.

The manifest is prepared ahead of time (``make manifest`` runs ``dbt parse``), so importing the code
location does not parse the project; under ``dagster dev`` it is refreshed on load.
"""


import json
import os
import posixpath
import shutil
import sys
import uuid
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL
from orchestration.lib.build_plan import (
    POLICE_RAW_TABLE,
    model_code_fingerprints,
    models_built_with_other_code,
    models_downstream_of,
    police_loads,
    police_months_not_built,
    record_model_code,
    record_police_loads,
)
from orchestration.lib.warehouse import connect, lock_holder, wait_until_writable
from orchestration.settings import (
    DBT_PARENT_ENV,
    DBT_PROJECT_DIR,
    POLICE_MONTHS_TAG,
    export_for_subprocesses,
    get_settings,
    incremental_police_months,
    valid_months,
)

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

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The dbt description and where the model is defined and documented. dagster-dbt's default appends the
        model's whole raw SQL under '#### Raw SQL'; the file's path leads to it instead."""
        props = dbt_resource_props
        description = (props.get("description") or "").strip() or f"dbt {props['resource_type']} {props['name']}."
        where = posixpath.normpath(posixpath.join(DBT_PROJECT_DIR.name, props.get("original_file_path") or ""))
        return (f"{description}\n\nDefined in `{where}`; columns, tests and lineage in the dbt docs "
                f"(`make docs`: {props['unique_id']}).")


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
    # otherwise be loaded into the old table shape) and the incremental crime models are rebuilt whole. A build
    # whose only new input is some police.uk months (COHESION_DBT_POLICE_MONTHS, set by `make run`'s plan)
    # runs without it: the models incremental by month rebuild exactly those months (macros/incremental_months.sql).
    from orchestration.lib.quality.runner import import_in_background

    import_in_background()  # the run's Great Expectations checks come next: their import overlaps dbt
    planned = incremental_police_months() or _months_from_run_tag(context)
    loads, months = _with_months_not_built(context, planned)
    args = ["build", "--indirect-selection", "buildable"] + ([] if months else ["--full-refresh"])
    if months:
        _MONTHS_BUILT[context.run_id] = months
        context.log.info(f"incremental dbt build: police.uk months {', '.join(months)} (the crime models rebuild "
                         "those months only)")
        _write_build_months(get_settings().warehouse_path, months)
    # The day the tension marts measure ages and overdue flags to reaches dbt as the environment variable
    # COHESION_AS_OF_DATE (settings.export_for_subprocesses; blank = today), not --vars: changed --vars make
    # dbt re-parse the whole project on every run (~10 s instead of ~4 s with partial parsing).
    invocation = yield from _dbt_build(context, dbt, args)
    if months:  # emptied once built: a later hand-run dbt build without --full-refresh recomputes every month
        _write_build_months(get_settings().warehouse_path, [])
    _record_build(get_settings().warehouse_path, invocation, loads, months or None)


# The police.uk months the dbt step of a run rebuilt alone, by run id, for the run's Great Expectations suites that
# are scoped by month (defs/quality.py): they then check just those months' periods, in the daemon's runs as in
# `make run`'s. Kept in the run's process (every job runs its steps in-process); a check in another process (a
# retry that starts after the dbt step, an ad-hoc run on the multiprocess executor) finds nothing: every row.
_MONTHS_BUILT: dict[str, list[str]] = {}


def police_months_built(run_id: str) -> list[str]:
    """The police.uk months whose crime models this run's dbt step rebuilt alone ([]: every month, or unknown)."""
    return _MONTHS_BUILT.get(run_id) or incremental_police_months()


def _with_months_not_built(context: dg.AssetExecutionContext, planned: list[str]):
    """(the police.uk loads in the raw table as dbt starts, the months to rebuild alone): ``planned`` and every
    month whose loads the crime models were not last built from (lib/build_plan.POLICE_LOADS_TABLE: an earlier
    build of it killed twice, failed, or never started), so a month loaded once always reaches the marts.
    [] (a full build) stays []."""
    path = get_settings().warehouse_path
    if not path.exists():  # dbt creates it: nothing loaded yet
        return [], planned
    con = connect(path, read_only=True)
    try:
        loads = police_loads(con)
        behind = (police_months_not_built(con, loads) or []) if planned else []
    finally:
        con.close()
    if not planned:
        return loads, []
    extra = sorted(set(behind) - set(planned))
    if extra:
        context.log.warning(f"police.uk months {', '.join(extra)} were loaded but never built into the crime models "
                            "(an earlier build stopped before its end): rebuilt with this build's months")
    return loads, sorted(set(planned) | set(behind))


def _months_from_run_tag(context: dg.AssetExecutionContext) -> list[str]:
    """The police.uk months a daemon run rebuilds alone: the tag the rebuild_after_public_loads sensor puts on a
    run after a load of police.uk months only (defs/delivery.py); [] (a full rebuild) without it, or when a model
    was last built with other dbt code than this (lib/build_plan.py; said in the log)."""
    tag = (context.run.tags.get(POLICE_MONTHS_TAG) or "").strip()
    if not tag:
        return []
    months = valid_months([m.strip() for m in tag.split(",") if m.strip()], f"run tag {POLICE_MONTHS_TAG}")
    con = connect(get_settings().warehouse_path, read_only=True)
    try:
        changed = models_built_with_other_code(con, model_code_fingerprints(dbt_project.manifest_path))
    finally:
        con.close()
    if changed:
        context.log.info(f"police.uk months {', '.join(months)} loaded, but {len(changed)} dbt models were last built "
                         f"with other code (e.g. {changed[0].split('.')[-1]}): a full rebuild of what is selected")
        return []
    return months


def _record_build(path: Path, invocation, loads: list[tuple[str, str, str]], months: list[str] | None) -> None:
    """After a dbt build: the models it built, with the code they were built with; and when it built every crime
    model, the police.uk loads (as dbt started) they were built from, for ``months`` (None: every month)."""
    results = (invocation.get_artifact("run_results.json") or {}).get("results", [])
    built = [r["unique_id"] for r in results if r.get("unique_id", "").startswith("model.") and r.get("status") == "success"]
    if not built:
        return
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    crime_models = models_downstream_of(manifest, POLICE_RAW_TABLE)
    con = connect(path)
    try:
        record_model_code(con, model_code_fingerprints(dbt_project.manifest_path), built)
        if crime_models and crime_models <= set(built):
            record_police_loads(con, loads, months)
    finally:
        con.close()


DBT_LOCK_ATTEMPTS = 3
def _write_build_months(path: Path, months: list[str]) -> None:
    """raw.build_police_months: the months the incremental crime models rebuild ([] empties it: every month)."""
    con = connect(path)
    try:
        con.execute("create schema if not exists raw")
        con.execute("create or replace table raw.build_police_months (month varchar)")
        if months:
            con.executemany("insert into raw.build_police_months values (?)", [[m] for m in months])
    finally:
        con.close()


def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, args: list[str]):
    """dbt opens the warehouse itself: wait (saying for whom) until no reader holds the file, and if a reader
    still slipped in as dbt started — dbt then fails before building anything — wait and start dbt again."""
    settings = get_settings()
    path = settings.warehouse_path
    cache = partial_parse_cache(settings.data_dir)
    # dbt ends if this process is killed, instead of holding the warehouse for the next build (lib/dbt_plugin.py)
    os.environ[DBT_PARENT_ENV] = str(os.getpid())
    for attempt in range(1, DBT_LOCK_ATTEMPTS + 1):
        wait_until_writable(path, log=context.log.warning)
        target = _run_target_path(context, cache)
        invocation = dbt.cli(args, context=context, raise_on_error=False, target_path=target)
        emitted = 0
        for event in invocation.stream():
            emitted += 1
            yield event
        error = invocation.get_error()
        _keep_partial_parse(Path(invocation.target_path), cache)
        _prune_target_dirs(Path(invocation.target_path).parent)
        if error is None:
            return invocation
        locked = [m for m in invocation._error_messages if "lock" in m.lower()]
        if emitted == 0 and locked and attempt < DBT_LOCK_ATTEMPTS:
            context.log.warning(f"dbt could not open {path}: {lock_holder(locked[0])} opened it as dbt started; "
                                f"waiting for it and starting dbt again ({attempt} of {DBT_LOCK_ATTEMPTS})")
            continue
        raise error


class CohesionDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without its two start-up costs, which this project does not use (measured: 3.6 s
    of every dbt step before dbt started):

    * ``dbt --version`` in a subprocess (~1.9 s) to learn the dbt version: when the executable is this
      environment's own dbt, the installed dbt-core's version is that version;
    * a dbt adapter built in the Dagster process (~1.5 s: profile, project and plugins loaded again), which
      dagster-dbt only uses to fetch row counts and column metadata; no asset here asks for them."""

    @cached_property
    def _cli_version(self):
        if Path(self.dbt_executable).resolve() == Path(sys.executable).with_name("dbt").resolve():
            from dbt.version import __version__
            from packaging import version

            return version.parse(__version__)
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    # dbt from this environment, also when the environment is not activated (a service started by its path)
    local = Path(sys.executable).with_name("dbt")
    return CohesionDbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                                  dbt_executable=str(local) if local.exists() else "dbt")


def partial_parse_cache(data_dir: Path) -> Path:
    """dbt's parse state for this data dir's warehouse: where the next dbt run against it starts from."""
    return data_dir / "dbt_state" / "partial_parse.msgpack"


def _run_target_path(context: dg.AssetExecutionContext, cache: Path) -> Path:
    """The folder of this dbt invocation (dagster-dbt's naming, under $DBT_TARGET_PATH or dbt_project/target),
    holding the data dir's parse state when there is one.

    dagster-dbt starts a run without one from dbt_project/target/partial_parse.msgpack, which `make manifest`
    parses for the Makefile's warehouse path. dbt parses the whole project again (~9 s of CPU) when the profile
    differs from the one a state was parsed with — another warehouse path (COHESION_DATA_DIR): a second data dir
    (a benchmark, a test, a council's second copy) would otherwise reparse in full on every run, and make every
    run of the first data dir reparse after it too."""
    base = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    if not base.is_absolute():
        base = dbt_project.project_dir / base
    target = base / f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    try:
        if cache.is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache, target / "partial_parse.msgpack")
    except OSError:
        pass  # only a cache: dagster-dbt then copies make manifest's state
    return target


def _keep_partial_parse(run_target: Path, cache: Path) -> None:
    """Keep the parse state this dbt run left for the data dir's next run (partial_parse_cache). Replaced by one
    rename, so a dbt starting meanwhile reads the old file or the new one."""
    produced = run_target / "partial_parse.msgpack"
    try:
        if not produced.is_file() or (cache.is_file() and produced.read_bytes() == cache.read_bytes()):
            return
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".partial_parse.{os.getpid()}.tmp")
        shutil.copyfile(produced, tmp)
        os.replace(tmp, cache)
    except OSError:
        pass  # only a cache: the next dbt run parses in full


KEEP_TARGET_DIRS = 5


def _prune_target_dirs(target: Path) -> None:
    """dagster-dbt gives every invocation its own folder under dbt_project/target (~25 MB each: compiled SQL,
    run results, logs); keep the newest few for debugging, not one per build for ever."""
    runs = []
    for path in target.glob("cohesion_dbt_assets-*"):
        try:  # another process (a sensor's run, a test worker) may be removing its own folders meanwhile
            if path.is_dir():
                runs.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue
    for _, old in sorted(runs)[:-KEEP_TARGET_DIRS]:
        shutil.rmtree(old, ignore_errors=True)
