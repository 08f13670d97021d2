"""Build the whole warehouse from the bundled real data, recorded in the Dagster instance.

``make run`` calls this. It runs the same jobs the UI shows, in this process, against the instance in
$DAGSTER_HOME (default data/dagster_home), so every run and materialization appears in the UI after.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from orchestration.lib.private_files import private_dir
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, export_for_subprocesses, get_settings

DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


def prepare_instance() -> Path:
    settings = get_settings()
    home = settings.dagster_home
    # the event log names partner files and runs: readable by the service account only
    private_dir(home)
    config = home / "dagster.yaml"
    template = REPO_ROOT / "orchestration" / "dagster.yaml"
    if not config.exists() or config.read_text() != template.read_text():
        shutil.copyfile(template, config)
    os.environ["DAGSTER_HOME"] = str(home)
    from orchestration.lib import sqlite_storage

    sqlite_storage.install()  # before the instance is opened: ~3 ms an event instead of 25 (lib/sqlite_storage.py)
    return home


def prepare_ui() -> None:
    """`make ui`: the instance's config, and runs left 'started' by a killed make run released first."""
    prepare_instance()
    import dagster as dg

    from orchestration.defs.runs import release_dead_runs

    instance = dg.DagsterInstance.get()
    try:
        release_dead_runs(instance)
    finally:
        instance.dispose()


def _selection_for(plan, defs, manifest_path: Path) -> list:
    """The warehouse_build (and atlas_refresh) assets a partial plan has to run: everything downstream of the raw
    data, the dbt nodes and the partner files that changed (Dagster's asset graph decides what is downstream)."""
    import json

    import dagster as dg

    from orchestration.defs.partner_extracts import partner_extracts
    from orchestration.defs.police_uk import police_uk_street_crimes
    from orchestration.defs.raw_public import partitioned_assets

    roots: list[dg.AssetKey] = []
    if plan.police_months:
        roots.append(police_uk_street_crimes.key)
    if plan.releases:
        roots += [a.key for a in partitioned_assets]
    roots += [dg.AssetKey(["raw", table]) for table in plan.raw_tables]
    if plan.partner:
        roots += list(partner_extracts.keys)
    if plan.dbt_nodes:
        nodes = json.loads(manifest_path.read_text())["nodes"]
        for uid in plan.dbt_nodes:
            node = nodes.get(uid, {})
            # a changed test reruns with the node(s) it tests
            targets = node.get("depends_on", {}).get("nodes", []) if node.get("resource_type") == "test" else [uid]
            for target in targets:
                if target in nodes and nodes[target]["resource_type"] in {"model", "seed", "snapshot"}:
                    roots.append(dg.AssetKey([nodes[target]["schema"], nodes[target]["name"]]))
    graph = defs.resolve_asset_graph()
    downstream = dg.AssetSelection.assets(*roots).downstream().resolve(graph)
    in_jobs = {key for job in ("warehouse_build", "atlas_refresh")
               for key in defs.resolve_job_def(job).asset_layer.selected_asset_keys}
    return sorted(downstream & in_jobs, key=lambda k: k.to_user_string())


def incremental_months(plan) -> list[str]:
    """The police.uk months dbt may rebuild alone: a partial plan whose only change to the public data is some
    months (a changed dbt node, dataset or release can change every month's figures, so those build in full;
    partner files feed other models)."""
    if plan is None or plan.full or not plan.police_months or "*" in plan.police_months:
        return []
    if plan.raw_tables or plan.releases or plan.dbt_nodes:
        return []
    return list(plan.police_months)


def build_all(instance, run_config: dict | None = None, log=print, plan=None) -> dict:
    """Run every job in order, as `make run` does: police.uk months, the partitioned public releases,
    then reference datasets + dbt + report. Returns {job name: result}. A failed source does not stop
    the others (its tables keep their last good data); the caller reports every failure.

    With a partial plan (lib/build_plan.py) only the changed months, releases and datasets are loaded and
    only what is downstream of them (and of changed dbt nodes and partner files) is rebuilt and checked."""
    import dagster as dg

    from orchestration.definitions import defs, police_uk_monthly_partitions, release_jobs

    from orchestration.defs.runs import PID_TAG, RUN_TAG, release_dead_runs, report_slot_holders

    settings = get_settings()
    partial = plan is not None and not plan.full
    release_dead_runs(instance, log)
    report_slot_holders(instance, log)
    # make run's runs are never retried by a daemon (dagster.yaml run_retries): a killed make run is planned again
    # by the next one
    ours = {RUN_TAG: "make-run", PID_TAG: str(os.getpid()), "dagster/max_retries": "0"}
    if settings.demo_extracts and (not partial or plan.drop_demo):
        from orchestration.lib.partner_extracts.demo import write_demo_extracts

        written = write_demo_extracts(settings.landing_dir)
        log(f"demo partner extracts: {len(written)} files dropped in {settings.landing_dir} "
            "(already-accepted files are recorded as duplicates; COHESION_DEMO_EXTRACTS=0 turns the demo off)")
    results = {}
    ranged = []
    police_keys = police_uk_monthly_partitions.get_partition_keys()
    if not partial or "*" in plan.police_months:
        ranged.append(("police_uk_monthly_ingest", police_keys))
    elif plan.police_months:
        # one run over the changed months (each unchanged month in between is recognised and skipped)
        wanted = [k for k in police_keys if k[:7] >= plan.police_months[0] and k[:7] <= plan.police_months[-1]]
        if wanted:
            ranged.append(("police_uk_monthly_ingest", wanted))
    if not partial or plan.releases:
        for job in release_jobs:
            ranged.append((job.name, defs.resolve_job_def(job.name).partitions_def.get_partition_keys()))
    for name, keys in ranged:
        log(f"{name}: {len(keys)} partitions ({keys[0]} to {keys[-1]}) in one run")
        results[name] = defs.resolve_job_def(name).execute_in_process(
            instance=instance,
            tags={**ours, "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
            run_config=run_config,
            raise_on_error=False,
        )
        if not results[name].success:
            log(f"{name} FAILED; continuing with the last good data it left in place")
    build_config = {**(run_config or {})}
    selection = None
    if partial:
        selection = _selection_for(plan, defs, DBT_MANIFEST)
        if not selection:
            log("warehouse_build: nothing downstream changed")
            return results
        dbt_count = sum(1 for k in selection if k.path[0] in {"staging", "intermediate", "marts", "reference", "main"})
        log(f"warehouse_build: {len(selection)} of the assets downstream of what changed ({dbt_count} dbt models "
            "and seeds, their tests and Great Expectations suites), the rest kept as built")
    else:
        log("warehouse_build: reference datasets, partner files in the landing folder, dbt models and tests, "
            "the exception report")
    # the models after partner_extracts run in the same run even when the landing folder held nothing new
    # (the sensor's runs do not materialize unchanged extracts; here the steps after them would be skipped)
    from orchestration.defs.partner_extracts import partner_extracts

    build_job = defs.resolve_job_def("warehouse_build")
    atlas_job = defs.resolve_job_def("atlas_refresh")
    atlas_keys = set(atlas_job.asset_layer.selected_asset_keys)
    wanted = set(selection) if selection is not None else set(build_job.asset_layer.selected_asset_keys)
    # the atlas renders in its own run after the packs (minutes of PDFs; the packs are what the group reads)
    atlas_wanted = selection is None or bool(atlas_keys & wanted)
    wanted -= atlas_keys
    # The reference datasets load in their own run first: a dataset that fails to load (a 404, a bad file) keeps
    # its last good data and must not stop dbt, the checks and the report for everything else (in one run Dagster
    # would skip every step after a failed one). Only a dataset whose rows loaded but failed an ERROR-level Great
    # Expectations check holds back what is downstream of it, which keeps its last good build.
    reference = sorted((k for k in wanted if k.path[0] == "raw"), key=lambda k: k.to_user_string())
    if reference:
        results["reference_loads"] = build_job.execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False, tags={**ours, "cohesion/stage": "reference"},
            asset_selection=reference,
        )
        if not results["reference_loads"].success:
            log("reference_loads: some datasets FAILED; they keep their last good data and the build goes on")
        bad = {c.asset_key for c in results["reference_loads"].get_asset_check_evaluations()
               if not c.passed and c.severity.value == "ERROR"}
        held = dg.AssetSelection.assets(*bad).downstream().resolve(defs.resolve_asset_graph()) if bad else set()
        if held:
            log(f"held back (their last good build stays): {len(held)} assets downstream of "
                f"{', '.join(k.to_user_string() for k in sorted(bad, key=str))}, which failed an ERROR check")
        wanted = wanted - set(reference) - held
        atlas_wanted = atlas_wanted and not atlas_keys & held
    rest = sorted(wanted, key=lambda k: k.to_user_string())
    if set(partner_extracts.keys) & wanted:
        build_config["ops"] = {**build_config.get("ops", {}),
                               "partner_extracts": {"config": {"materialize_unchanged": True}}}
    if not rest:
        log("warehouse_build: nothing left to build")
        return results  # the atlas is downstream of dbt models: nothing to render either
    # only some police.uk months are new: the crime models incremental by month rebuild just those months
    from orchestration.settings import POLICE_MONTHS_ENV

    months = incremental_months(plan)
    if months:
        os.environ[POLICE_MONTHS_ENV] = ",".join(months)
    try:
        results["warehouse_build"] = build_job.execute_in_process(
            instance=instance, run_config=build_config, raise_on_error=False, tags=ours, asset_selection=rest
        )
    finally:
        os.environ.pop(POLICE_MONTHS_ENV, None)
    # the checks leave the Data Docs site to one rendering here (in the daemon: quality.data_docs_after_runs)
    from orchestration.lib.quality.runner import build_docs

    build_docs(settings.gx_dir)
    if not results["warehouse_build"].success:
        log("warehouse_build FAILED: the monitoring packs keep their last versions")
        return results
    # the packs: one partition per quarter (the current one and every archived one), then delivery
    from orchestration.defs.reports import pack_quarters
    from orchestration.lib.pack.build import default_quarters

    quarters = default_quarters(settings.warehouse_path, settings.reports_dir)
    instance.add_dynamic_partitions(pack_quarters.name, quarters)
    for quarter in quarters:
        log(f"monitoring_packs_refresh: {quarter}, every monitoring group, then delivery")
        results[f"monitoring_packs_refresh[{quarter}]"] = defs.resolve_job_def("monitoring_packs_refresh").execute_in_process(
            instance=instance, partition_key=quarter, run_config=run_config, raise_on_error=False, tags=ours
        )
    if atlas_wanted:
        log("atlas_refresh: the cohesion atlas and the annual profile documents (HTML and PDF, Welsh and English)")
        results["atlas_refresh"] = atlas_job.execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False, tags=ours)
    return results


def state_path(settings) -> Path:
    return settings.data_dir / "build_state.json"


def plan_build(settings, full: bool = False):
    """(plan, inputs): what this build has to do, from the inputs' fingerprints against the last complete
    build's (lib/build_plan.py). Live mode always builds in full: the services are the inputs."""
    from datetime import date

    from orchestration.lib import build_plan
    from orchestration.lib.snapshots import DATASETS

    previous = build_plan.read_state(state_path(settings))
    fixed = {
        "mode": settings.mode,
        "as_of_date": settings.as_of_date or date.today().isoformat(),
        "demo_extracts": str(settings.demo_extracts),
        "snapshots_dir": str(settings.snapshots_dir),
        "warehouse": str(settings.warehouse_path),
        "reports_dir": str(settings.reports_dir),
        "landing_dir": str(settings.landing_dir),
        # what the police.uk partitions and the live forces are (defs/police_uk.py)
        "police_uk_first_month": os.environ.get("POLICE_UK_FIRST_MONTH", ""),
        "police_uk_forces": os.environ.get("POLICE_UK_FORCES", ""),
    }
    inputs = build_plan.collect_inputs(REPO_ROOT, settings.snapshots_dir, DBT_MANIFEST, settings.landing_dir,
                                       fixed, previous)
    plan = build_plan.make_plan(inputs, previous, settings.warehouse_path.exists(),
                                {spec.table: spec.files for spec in DATASETS}, settings.demo_extracts)
    if not plan.full and (full or settings.mode == "live"):
        plan.full = True
        plan.reasons = ["COHESION_FULL_BUILD=1" if full else "live mode (the services are the inputs)"]
        plan.partner, plan.drop_demo = True, settings.demo_extracts
    return plan, inputs, previous


def _published_line(published_dir: Path) -> str:
    """Where BI tools read (the published copy), from its manifest."""
    import json

    try:
        manifest = json.loads((published_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "nothing published yet"
    tables = manifest.get("tables", [])
    rows = sum(t.get("rows", 0) for t in tables)
    return (f"{published_dir / 'cohesion_marts.duckdb'} (DuckDB 1.4+ clients; never locked by a build): "
            f"{len(tables)} tables, {rows:,} rows\n"
            f"              Parquet and CSV per table in {published_dir}/parquet, /csv; manifest.json "
            f"(build {str(manifest.get('build_id', '?'))[:8]})")


def main() -> int:
    started = time.monotonic()
    from orchestration.lib.warehouse import utc_now

    run_started = utc_now()
    settings = export_for_subprocesses()
    full = os.environ.get("COHESION_FULL_BUILD", "").strip().lower() in {"1", "true", "yes"}
    plan, inputs, previous = plan_build(settings, full=full)
    print(f"plan: {plan.describe()}", flush=True)
    home = settings.dagster_home
    if plan.nothing:
        print(f"Nothing rebuilt: the warehouse, report and packs are those of build {previous.get('build_id', '?')[:8]} "
              f"(completed {previous.get('completed_at', '?')[:19]} UTC). COHESION_FULL_BUILD=1 make run rebuilds "
              "everything.", flush=True)
        results = {}
    else:
        home = prepare_instance()

        import dagster as dg

        instance = dg.DagsterInstance.get()
        # Every event is stored in the instance for the UI; the terminal only needs INFO and above.
        quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
        results = build_all(instance, quiet, log=lambda m: print(m, flush=True), plan=plan)
    failed = [name for name, result in results.items() if not result.success]
    if not failed and not plan.nothing:
        from orchestration.lib import build_plan

        build_id = next((r.run_id for r in results.values()), "") if results else ""
        build_plan.write_state(state_path(settings), inputs, build_id, started_at=run_started)
    if plan.nothing and previous.get("started_at"):
        from datetime import datetime

        # the summary below describes the last complete build
        run_started = datetime.fromisoformat(previous["started_at"]).replace(tzinfo=None)
    if failed:
        print(f"failed: {', '.join(failed)}; see the runs in the Dagster UI (make ui)", file=sys.stderr)
        for name, result in results.items():
            for event in result.get_step_failure_events():
                # the step's own message: what failed, where (URL or file) and what was kept
                error = event.step_failure_data.error
                text = (error.message if error else event.message or "").strip()
                text = text.split("\n\nStack Trace:")[0].removeprefix("dagster._core.definitions.events.Failure: ")
                print(f"  {name} / {event.step_key}: {text}", file=sys.stderr)
            for check in result.get_asset_check_evaluations():
                if not check.passed and check.severity.value == "ERROR":
                    print(f"  {check.asset_key.to_user_string()}: check {check.check_name} failed "
                          f"({check.description}); nothing downstream of it ran", file=sys.stderr)
        return 1

    from orchestration.lib.quality.runner import docs_index
    from orchestration.lib.warehouse import connect, fetch_row

    con = connect(settings.warehouse_path, read_only=True)
    try:
        facts = fetch_row(
            con,
            """
            select count(distinct month) as months, count(distinct area_code) as lsoas, sum(crime_count) as crimes
            from marts.fct_crime_monthly where geography_level = 'lsoa'
            """,
        )
        flags = fetch_row(
            con,
            "select count(*) filter (where is_flagged), count(*) filter (where is_tested), "
            "count(*) filter (where is_above_own_past) from reports.crime_exceptions",
        )
        rapid = fetch_row(
            con,
            "select count(*) filter (where is_rapid_change), count(*) filter (where is_exception), count(*) "
            "from marts.fct_indicator_change where geography_level = 'lsoa'",
        )
        partner = fetch_row(
            con,
            """
            select count(*) filter (where outcome = 'accepted'), count(*) filter (where outcome = 'duplicate'),
                   count(*) filter (where outcome = 'quarantined')
            from raw.partner_file_log where received_at >= ?
            """,
            [run_started],
        )
        tension = fetch_row(
            con,
            """
            select (select count(*) from marts.fct_incident), (select count(*) from marts.fct_tension_report),
                   (select count(*) from marts.fct_tension_assessment),
                   (select count(*) filter (where current_trend = '▲') from marts.fct_tension_assessment),
                   (select count(*) filter (where status = 'missing') from marts.fct_cia),
                   (select count(*) filter (where is_overdue) from marts.fct_cia),
                   (select count(*) filter (where action_plan_missing) from marts.fct_risk),
                   (select count(*) filter (where disagrees) from marts.fct_tension_evidence)
            """,
        )
        dq = fetch_row(
            con,
            """
            select count(distinct suite), count(*), count(*) filter (where not success and severity = 'error'),
                   count(*) filter (where not success and severity = 'warn'),
                   string_agg(distinct suite, ', ') filter (where not success)
            from marts.dq_results where checked_at >= ?
            """,
            [run_started.replace(microsecond=0)],
        )
        raw = fetch_row(
            con,
            """
            select (select count(*) from duckdb_tables() where schema_name = 'raw' and table_name <> 'load_log'
                    and table_name not like 'partner%'),
                   count(distinct source || '/' || dataset), count(*) filter (where outcome = 'rejected')
            from raw.load_log where retrieved_at >= ?
            """,
            [run_started],
        )
        has_deliveries = fetch_row(con, "select count(*) from duckdb_tables() where schema_name = 'reports' "
                                        "and table_name = 'deliveries'")[0]
        deliveries = fetch_row(
            con,
            "select count(*) filter (where kind in ('pack', 'correction')), count(*) filter (where kind = 'flash'), "
            "count(*) filter (where status = 'sent'), count(*) filter (where status = 'failed') "
            "from reports.deliveries where created_at >= ?", [run_started.replace(tzinfo=None, microsecond=0)],
        ) if has_deliveries else (0, 0, 0, 0)
    finally:
        con.close()
    from orchestration.lib.delivery import SmtpSettings, default_distribution_list

    outbox = Path(os.environ.get("COHESION_OUTBOX_DIR") or settings.data_dir / "outbox")

    smtp_host = SmtpSettings.from_env().host
    distribution = default_distribution_list()
    report = settings.reports_dir / "crime_exception_report_latest.html"
    atlas_index = settings.atlas_dir / "index.html"
    atlas_line = (f"{atlas_index} (Welsh and English; make dashboards serves it on http://127.0.0.1:8080)"
                  if atlas_index.exists() else "not built")
    published_line = _published_line(settings.published_dir)
    from orchestration.lib.pack.archive import current_packs

    packs = current_packs(settings.reports_dir)
    newest = max((p["quarter"] for p in packs), default=None)
    packs = [p for p in packs if p["quarter"] == newest]
    example = next((p for p in packs if p["group"] == "gwent-police-area"), packs[0] if packs else None)
    pack_lines = (
        f"{len(packs)} groups for {newest} (3 tiers × Welsh and English × HTML and PDF) in "
        f"{settings.reports_dir / (newest or '')}\n"
        f"              e.g. {example['folder']}/{example['gold_silver_en_html']}"
        if example else "none (no monitoring group in seed monitoring_groups)"
    )
    print(
        f"""
{'Checked in' if plan.nothing else 'Built in'} {time.monotonic() - started:.0f} s{' (nothing changed; the figures are those of the last complete build)' if plan.nothing else ''}.
  Warehouse : {settings.warehouse_path}
              raw: {raw[0]} tables from {raw[1]} datasets ({settings.mode} mode), each load in raw.load_log ({raw[2]} rejected)
              marts.fct_crime_monthly: {facts[0]} months, {facts[1]} LSOAs, {facts[2]:,} crimes and ASB incidents
  Partners  : {partner[0]} files accepted, {partner[1]} duplicate, {partner[2]} quarantined this run (landing: {settings.landing_dir})
              tension marts: {tension[0]:,} incidents, {tension[1]} tension reports, {tension[2]:,} assessments ({tension[3]} rising ▲)
              {tension[4]} CIAs required but missing, {tension[5]} overdue; {tension[6]} risks scored >= 5 without an action plan
              {tension[7]} area-community-months where the group's grade and the evidence disagree (as at {settings.as_of_date or 'today'})
  Quality   : {dq[0]} Great Expectations suites, {dq[1]:,} expectations: {dq[2]} errors, {dq[3]} warnings{(' (' + dq[4] + ')') if dq[4] else ''}
              results in marts.dq_results; Data Docs: {docs_index(settings.gx_dir)}
  Report    : {report}
              {flags[0]} LSOA x crime-group exceptions from {flags[1]:,} tests, force-trend adjusted ({flags[2]} above their own past alone)
  Packs     : {pack_lines}
  Atlas     : {atlas_line}
  BI        : {published_line}
  Delivery  : {deliveries[0]} pack message(s) and {deliveries[1]} emergency flash(es) this run to {distribution or 'nobody (set COHESION_DISTRIBUTION_LIST)'}
              {'SMTP ' + smtp_host + f': {deliveries[2]} sent, {deliveries[3]} failed' if smtp_host else 'no SMTP (COHESION_SMTP_HOST): written to'} {outbox}; ledger reports.deliveries
  Exceptions: marts.fct_indicator_change, LSOA level: {rapid[0]:,} rapid changes, {rapid[1]:,} exceptions (headline comparison) in {rapid[2]:,} comparisons
  Dagster UI: make ui, then open http://127.0.0.1:3000 (instance: {home})
"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
