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
from orchestration.settings import REPO_ROOT, export_for_subprocesses, get_settings


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
    return home


RUN_TAG = "cohesion/launched_by"
PID_TAG = "cohesion/pid"
WAREHOUSE_POOL = "duckdb_warehouse"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_runs(instance, log=print) -> list[str]:
    """Runs that `make run` started in a process that is gone (killed, the machine restarted) stay 'started'
    for ever and keep their `duckdb_warehouse` pool slot, so every later run would wait without end. Mark them
    failed and free their slots. Runs launched by the daemon are left to Dagster's run monitoring."""
    import dagster as dg

    released = []
    records = instance.get_run_records(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING],
        tags={RUN_TAG: "make-run"}))
    for record in records:
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and _alive(pid):
            continue
        instance.report_run_failed(run, message=f"the process that ran it ({pid}) is gone (killed?): marked failed "
                                                "and its pool slots freed by the next make run")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
        log(f"released run {run.run_id[:8]} ({run.job_name}): its process {pid} is gone; its "
            f"{WAREHOUSE_POOL} slot is free again")
    return released


def report_slot_holders(instance, log=print) -> list[str]:
    """Say who holds the warehouse's pool slot, so a run that has to wait says what it waits for."""
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    holders = []
    for slot in info.claimed_slots:
        run = instance.get_run_by_id(slot.run_id)
        name = run.job_name if run else "an unknown run"
        holders.append(slot.run_id)
        log(f"waiting: the {WAREHOUSE_POOL} slot is held by run {slot.run_id[:8]} ({name}, step {slot.step_key}); "
            "this build starts when it finishes (see it in the Dagster UI)")
    return holders


def prepare_ui() -> None:
    """`make ui`: the instance's config, and runs left 'started' by a killed make run released first."""
    prepare_instance()
    import dagster as dg

    instance = dg.DagsterInstance.get()
    try:
        release_dead_runs(instance)
    finally:
        instance.dispose()


def build_all(instance, run_config: dict | None = None, log=print) -> dict:
    """Run every job in order, as `make run` does: police.uk months, the partitioned public releases,
    then reference datasets + dbt + report. Returns {job name: result}. A failed source does not stop
    the others (its tables keep their last good data); the caller reports every failure."""
    from orchestration.definitions import defs, police_uk_monthly_partitions, release_jobs

    settings = get_settings()
    release_dead_runs(instance, log)
    report_slot_holders(instance, log)
    ours = {RUN_TAG: "make-run", PID_TAG: str(os.getpid())}
    if settings.demo_extracts:
        from orchestration.lib.partner_extracts.demo import write_demo_extracts

        written = write_demo_extracts(settings.landing_dir)
        log(f"demo partner extracts: {len(written)} files dropped in {settings.landing_dir} "
            "(already-accepted files are recorded as duplicates; COHESION_DEMO_EXTRACTS=0 turns the demo off)")
    results = {}
    ranged = [("police_uk_monthly_ingest", police_uk_monthly_partitions.get_partition_keys())]
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
    log("warehouse_build: reference datasets, partner files in the landing folder, dbt models and tests, the exception report")
    # a rebuild re-runs every model even when the landing folder holds nothing new (the sensor does not)
    build_config = {**(run_config or {})}
    build_config["ops"] = {**build_config.get("ops", {}),
                           "partner_extracts": {"config": {"materialize_unchanged": True}}}
    results["warehouse_build"] = defs.resolve_job_def("warehouse_build").execute_in_process(
        instance=instance, run_config=build_config, raise_on_error=False, tags=ours
    )
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
    return results


def main() -> int:
    started = time.monotonic()
    from orchestration.lib.warehouse import utc_now

    run_started = utc_now()
    settings = export_for_subprocesses()
    home = prepare_instance()

    import dagster as dg

    instance = dg.DagsterInstance.get()
    # Every event is stored in the instance for the UI; the terminal only needs INFO and above.
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    results = build_all(instance, quiet, log=lambda m: print(m, flush=True))
    failed = [name for name, result in results.items() if not result.success]
    if failed:
        print(f"failed: {', '.join(failed)}; see the runs in the Dagster UI (make ui)", file=sys.stderr)
        for name, result in results.items():
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
    from orchestration.defs.delivery import outbox_dir
    from orchestration.lib.delivery import SmtpSettings, default_distribution_list

    smtp_host = SmtpSettings.from_env().host
    distribution = default_distribution_list()
    report = settings.reports_dir / "crime_exception_report_latest.html"
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
Built in {time.monotonic() - started:.0f} s.
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
  Delivery  : {deliveries[0]} pack message(s) and {deliveries[1]} emergency flash(es) this run to {distribution or 'nobody (set COHESION_DISTRIBUTION_LIST)'}
              {'SMTP ' + smtp_host + f': {deliveries[2]} sent, {deliveries[3]} failed' if smtp_host else 'no SMTP (COHESION_SMTP_HOST): written to'} {outbox_dir()}; ledger reports.deliveries
  Exceptions: marts.fct_indicator_change, LSOA level: {rapid[0]:,} rapid changes, {rapid[1]:,} exceptions (headline comparison) in {rapid[2]:,} comparisons
  Dagster UI: make ui, then open http://127.0.0.1:3000 (instance: {home})
"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
