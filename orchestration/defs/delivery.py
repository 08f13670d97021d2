"""Automation and delivery: packs to named officers, the emergency flash to Gold, run failures to the data team,
the quarterly schedule and the sensor that recomputes the packs of the quarters a partner file changed."""


import datetime as dt
import hashlib
import os
import time
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.partner_extracts import partner_extracts_job
from orchestration.defs.reports import pack_quarters
from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, WarehouseResource
from orchestration.defs.runs import launched_by_make_run, materializations
from orchestration.lib.build_plan import police_loads, police_months_not_built
from orchestration.lib.delivery import (
    SmtpSettings,
    default_distribution_list,
    deliver_flash,
    deliver_packs,
    notify_failure,
    read_distribution_list,
)
from orchestration.lib.pack.archive import archived_quarters
from orchestration.lib.pack.model import Quarter, quarters_affected
from orchestration.lib.warehouse import connect
from orchestration.settings import POLICE_MONTHS_TAG, get_settings

PACKS_KEY = dg.AssetKey(["reports", "monitoring_packs"])


def outbox_dir() -> Path:
    return Path(os.environ.get("COHESION_OUTBOX_DIR") or get_settings().data_dir / "outbox")


def _recipients(log):
    path = default_distribution_list()
    if path is None:
        log("no distribution list (set COHESION_DISTRIBUTION_LIST): nothing is sent")
        return []
    return read_distribution_list(path)


def _table(rows: list[dict]) -> str:
    if not rows:
        return "Nothing new to send."
    return "| kind | recipient | tier | language | pack | status | attempts |\n|---|---|---|---|---|---|---|\n" + "\n".join(
        f"| {r['kind']} | {r['recipient_id']} | {r['tier']} | {r['language']} | "
        f"{r.get('quarter') or ''} {r.get('group') or ''} {('v' + str(r['version'])) if r.get('version') else ''} | "
        f"{r['status']} | {r['attempts']} |" for r in rows)


@dg.asset(
    key=["reports", "pack_deliveries"],
    group_name="reports",
    description=(
        "Sends every current monitoring pack version to the named officers on the distribution list "
        "(COHESION_DISTRIBUTION_LIST; the demo list while the demo is on): one message per recipient with the PDF "
        "of their tier and language, to the outbox (.eml) and by SMTP when COHESION_SMTP_HOST is set; a later "
        "version goes out as a correction. Recorded in reports.deliveries; a version is never sent twice."
    ),
    deps=[PACKS_KEY],
    kinds={"python", "email"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
)
def pack_deliveries(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    recipients = _recipients(context.log.info)
    smtp = SmtpSettings.from_env()
    results = deliver_packs(warehouse.warehouse, warehouse.reports, outbox_dir(), recipients, smtp) if recipients else []
    failed = [r for r in results if r["status"] == "failed"]
    metadata = {
        "recipients": len(recipients),
        "messages": len(results),
        "corrections": sum(r["kind"] == "correction" for r in results),
        "failed": len(failed),
        "smtp": smtp.host or "not configured (outbox only)",
        "outbox": dg.MetadataValue.path(str(outbox_dir())),
        "deliveries": dg.MetadataValue.md(_table(results)),
    }
    if failed:
        raise dg.Failure(description=f"{len(failed)} message(s) could not be sent after retries; they are in the "
                                     "outbox and are tried again on the next run", metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["alerts", "emergency_flash"],
    group_name="alerts",
    description=(
        "Emergency flash to Gold (guide Part 3, Next steps: a high risk is rapidly relayed to Gold): a rating of "
        "1–2 (high on the four-level scale) or an open risk scored 15 or more, flashed once, as soon as the "
        "partner file is accepted (this asset runs in the partner file's run), to the Gold/Silver recipients of "
        "the groups covering the area. Archived under data/reports/flash/."
    ),
    # the seeds it reads are deps too, so a partner run on a fresh warehouse builds them first
    deps=[dg.AssetKey(["marts", "fct_tension_assessment"]), dg.AssetKey(["marts", "fct_risk"]),
          dg.AssetKey(["ref", "monitoring_groups"]), dg.AssetKey(["ref", "local_authority"]), dg.AssetKey(["ref", "ward"])],
    kinds={"python", "email"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
)
def emergency_flash(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    recipients = _recipients(context.log.info)
    smtp = SmtpSettings.from_env()
    result = deliver_flash(warehouse.warehouse, warehouse.reports, outbox_dir(), recipients, smtp)
    if result["items"]:
        context.log.warning(f"emergency flash {result['flash_id']}: {result['items']} item(s) at the high level, "
                            f"{len(result['deliveries'])} message(s) to Gold")
    return dg.MaterializeResult(metadata={
        "items_flashed": result["items"],
        "flash_id": result["flash_id"] or "",
        "messages": len(result["deliveries"]),
        "deliveries": dg.MetadataValue.md(_table(result["deliveries"])),
    })


# ---------------------------------------------------------------------------------------------- jobs, schedule
# The sensors that start the next run of a chain (a load -> warehouse_build -> packs) look every 5 s, not Dagster's
# default 30 s: each link otherwise waits up to half a minute for nothing. Each evaluation is a query or two of the
# instance's event log.
CHAIN_SENSOR_SECONDS = 5

monitoring_packs_job = dg.define_asset_job(
    "monitoring_packs_refresh",
    selection=dg.AssetSelection.assets(PACKS_KEY, pack_deliveries.key),
    partitions_def=pack_quarters,
    executor_def=dg.in_process_executor,  # see definitions.py: one process for the run, not one per step
    description="Recompute one quarter's monitoring packs (all groups; the partition is the quarter) and deliver "
                "what is new.",
)


def _pack_day() -> int:
    day = int(os.environ.get("COHESION_PACK_DAY", "10"))
    if not 1 <= day <= 28:
        raise ValueError(f"COHESION_PACK_DAY must be 1-28 (the day of the month after a quarter ends), got {day}")
    return day


@dg.schedule(
    name="quarterly_monitoring_packs",
    job=monitoring_packs_job,
    # COHESION_PACK_DAY (default the 10th) of the month after each quarter, 07:00 UK time
    cron_schedule=f"0 7 {_pack_day()} 1,4,7,10 *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The quarterly monitoring pack for every group for the quarter just ended, delivered to the "
                "distribution list.",
)
def quarterly_pack_schedule(context: dg.ScheduleEvaluationContext):
    quarter = Quarter.containing(context.scheduled_execution_time.date()).shift(-1).key  # the quarter just ended
    context.instance.add_dynamic_partitions(pack_quarters.name, [quarter])
    return dg.RunRequest(run_key=f"quarterly-{quarter}", partition_key=quarter)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[partner_extracts_job],
    request_job=monitoring_packs_job,
    minimum_interval_seconds=CHAIN_SENSOR_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a partner file run that accepted files, recompute the packs of exactly the quarters its "
                "files cover (and the four after) that have packs, and deliver new versions as corrections.",
)
def packs_after_partner_files(context: dg.RunStatusSensorContext):
    periods = []
    for event in materializations(context.instance, context.dagster_run.run_id):
        materialization = event.event_specific_data.materialization
        if materialization.asset_key == dg.AssetKey(["raw", "partner_files"]):
            value = materialization.metadata.get("periods_changed")
            if value is not None and getattr(value, "value", ""):
                periods.append(value.value)
    latest = _latest_ended_quarter()
    touched = {k for p in periods for k in quarters_affected(p, latest)}
    if not touched:
        return dg.SkipReason("the run accepted no partner file")
    # recompute the quarters that have packs (and the current one): a correction to an old file does not
    # produce packs for quarters nobody was sent
    archived = archived_quarters(get_settings().reports_dir)
    quarters = sorted(q for q in touched if q in archived or q == latest)
    if not quarters:
        return dg.SkipReason(f"no archived pack covers {', '.join(sorted(touched))}")
    context.instance.add_dynamic_partitions(pack_quarters.name, quarters)
    return [dg.RunRequest(run_key=f"packs-after-{context.dagster_run.run_id}-{q}", partition_key=q,
                          tags={"cohesion/after_run": context.dagster_run.run_id})
            for q in quarters]


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Tells the data team (distribution list role data_team) when a run fails: what failed, which "
                "step, and that the last good data is kept; to the outbox and by SMTP when configured.",
)
def failures_to_data_team(context: dg.RunFailureSensorContext):
    steps, errors = [], []
    for event in context.get_step_failure_events():
        steps.append(event.step_key or "")
        data = event.event_specific_data
        error = getattr(data, "error", None)
        while error is not None and error.cause is not None:  # Dagster wraps the op's own exception
            error = error.cause
        if error is not None:
            errors.append(error.cls_name or "error")
    if not steps:
        errors.append((context.failure_event.message or "run failure")[:80])
    recipients = _recipients(context.log.info)
    notify_failure(outbox_dir(), recipients, SmtpSettings.from_env(), job=context.dagster_run.job_name,
                   run_id=context.dagster_run.run_id, failed_steps=steps, error_classes=errors)


# ---------------------------------------------------------------------------------------------- live mode
def live_schedules_and_sensors(police_uk_job, release_jobs, warehouse_build_job):
    """In live mode: police.uk checked daily (only the months police.uk has published and we have not loaded: it
    publishes about two months in arrears, on no fixed day) and, after any public load, a warehouse build so
    the new data reaches the marts and the packs. Defined in snapshot mode too (so the UI shows them) but
    stopped: the bundled data never changes."""
    from orchestration.defs.police_uk import RETRY_FAILED_DAY, schedule_run_requests

    live = get_settings().mode == "live"

    @dg.schedule(
        name="police_uk_monthly_schedule",
        job=police_uk_job,
        cron_schedule="0 6 * * *",
        execution_timezone="Europe/London",
        default_status=dg.DefaultScheduleStatus.RUNNING if live else dg.DefaultScheduleStatus.STOPPED,
        description="Live mode, every day at 06:00: asks data.police.uk which months are published "
                    "(crimes-street-dates, else the archive index: one small request) and loads every published "
                    "month not yet materialized, as one run per range of months, so a month is in within a day of "
                    "police.uk publishing it (on no fixed day). A month whose last load could not fetch its file "
                    "(police.uk down, a timeout, the disk full: the failed run's tag "
                    "cohesion/police_uk_unreachable_months) is asked for again at the next daily check; a month "
                    "whose file was refused, once police.uk publishes a newer archive (taken from it: police.uk's "
                    "latest vintage of the month) or replaces the archive it was refused from (its ETag, "
                    "Last-Modified or size, kept in the failed run's tag cohesion/police_uk_refused_archives, differ "
                    "at a daily check: one HEAD request per archive), or on the "
                    f"{RETRY_FAILED_DAY}th; never downloaded again just to see (an archive is over a gigabyte); to "
                    "retry one sooner, launch police_uk_monthly_ingest for its partition from the UI.",
    )
    def schedule(context: dg.ScheduleEvaluationContext):
        if get_settings().mode != "live":
            return dg.SkipReason("snapshot mode: the bundled police.uk files never change")
        partitions_def = police_uk_job.partitions_def
        when = context.scheduled_execution_time
        tick = f"{when:%Y-%m-%d}" if when else "manual"
        return schedule_run_requests(context.instance, partitions_def, tick,
                                     retry_failed=when is None or when.day == RETRY_FAILED_DAY)

    @dg.run_status_sensor(
        name="rebuild_after_public_loads",
        minimum_interval_seconds=CHAIN_SENSOR_SECONDS,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[police_uk_job, *release_jobs],
        request_job=warehouse_build_job,
        default_status=dg.DefaultSensorStatus.RUNNING if live else dg.DefaultSensorStatus.STOPPED,
        description="After a police.uk month or a public release loads (live mode), rebuild only the dbt models, "
                    "checks and reports downstream of what was loaded; the packs follow "
                    "(packs_after_warehouse_build). Not after make run's loads: it rebuilds itself.",
    )
    def rebuild_after_public_loads(context: dg.RunStatusSensorContext):
        return _rebuild_downstream(context)

    @dg.run_failure_sensor(
        name="rebuild_after_partial_public_loads",
        minimum_interval_seconds=CHAIN_SENSOR_SECONDS,
        monitored_jobs=[police_uk_job, *release_jobs],
        request_job=warehouse_build_job,
        default_status=dg.DefaultSensorStatus.RUNNING if live else dg.DefaultSensorStatus.STOPPED,
        description="A police.uk or release run in which some partitions failed still loaded the others: rebuild "
                    "what is downstream of those (live mode); the failed ones keep their last good data.",
    )
    def rebuild_after_partial_public_loads(context: dg.RunFailureSensorContext):
        return _rebuild_downstream(context)

    def _downstream_in_build(loaded: set) -> list:
        """Only what is downstream of the loaded datasets: their dbt models, checks and reports."""
        from orchestration.definitions import defs  # the assembled graph (imports this module)

        in_build = defs.resolve_job_def(warehouse_build_job.name).asset_layer.selected_asset_keys
        downstream = dg.AssetSelection.assets(*loaded).downstream().resolve(defs.resolve_asset_graph())
        return sorted((downstream - loaded) & set(in_build), key=lambda k: k.to_user_string())

    def _rebuild_downstream(context):
        if launched_by_make_run(context.dagster_run):
            return dg.SkipReason("make run rebuilds what is downstream of its loads itself")
        events = materializations(context.instance, context.dagster_run.run_id)
        loaded = {event.asset_key for event in events}
        if not loaded:
            return dg.SkipReason("the run loaded nothing new")
        keys = _downstream_in_build(loaded)
        if not keys:
            return dg.SkipReason("nothing in the warehouse build depends on what was loaded")
        tags = {"cohesion/after": context.dagster_run.job_name}
        # only police.uk months loaded: the crime models rebuild those months alone, as in `make run`
        # (defs/dbt.py; a full rebuild instead if a model was last built with other dbt code)
        from orchestration.defs.police_uk import ASSET_KEY as POLICE_KEY

        months = sorted({event.partition[:7] for event in events if event.partition})
        if loaded == {POLICE_KEY} and months:
            tags[POLICE_MONTHS_TAG] = ",".join(months)
        return dg.RunRequest(run_key=f"rebuild-after-{context.dagster_run.run_id}", asset_selection=keys, tags=tags)

    @dg.run_status_sensor(
        name="packs_after_warehouse_build",
        minimum_interval_seconds=CHAIN_SENSOR_SECONDS,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[warehouse_build_job],
        request_job=monitoring_packs_job,
        default_status=dg.DefaultSensorStatus.RUNNING if live else dg.DefaultSensorStatus.STOPPED,
        description="After a warehouse build launched by the daemon (live mode), recompute the packs of the last "
                    "ended quarter and every archived quarter; unchanged ones keep their version.",
    )
    def packs_after_warehouse_build(context: dg.RunStatusSensorContext):
        if launched_by_make_run(context.dagster_run):
            return dg.SkipReason("make run renders the packs itself, after its warehouse build")
        latest = _latest_ended_quarter()
        quarters = sorted(archived_quarters(get_settings().reports_dir) | {latest})
        context.instance.add_dynamic_partitions(pack_quarters.name, quarters)
        return [dg.RunRequest(run_key=f"packs-after-{context.dagster_run.run_id}-{q}", partition_key=q)
                for q in quarters]

    @dg.sensor(
        name="build_police_months_not_built",
        job=warehouse_build_job,
        minimum_interval_seconds=CATCH_UP_SENSOR_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING if live else dg.DefaultSensorStatus.STOPPED,
        description="Live mode: police.uk months that were loaded but never reached the crime models - their "
                    "build was killed twice (the daemon retries a killed run once) or failed, or a load run was "
                    "killed after writing them - get a warehouse build of what is downstream of police.uk, once no "
                    "load or build is under way. Once for each state of the loads: a build that failed on the "
                    "data is not started again every minute (the next load's build includes the months anyway).",
    )
    def build_police_months_not_built(context: dg.SensorEvaluationContext):
        from orchestration.defs.police_uk import ASSET_KEY as POLICE_KEY

        busy = _chain_busy(context.instance, {police_uk_job.name, warehouse_build_job.name})
        if busy:
            return dg.SkipReason(busy)
        con = _read_warehouse()
        if con is None:
            return dg.SkipReason("the warehouse is being written or not built yet: looked at again next time")
        try:
            loads = police_loads(con)
            behind = police_months_not_built(con, loads)
        finally:
            con.close()
        if behind is None:
            return dg.SkipReason("no build has recorded the police.uk loads it used yet (the next build will)")
        if not behind:
            return dg.SkipReason("every police.uk month loaded is in the crime models")
        state = hashlib.sha256(repr([row for row in loads if row[0] in behind]).encode()).hexdigest()[:16]
        context.log.warning(f"police.uk months {', '.join(behind)} are loaded but not in the crime models: "
                            "a warehouse build for them")
        return dg.RunRequest(run_key=f"police-months-not-built-{state}", asset_selection=_downstream_in_build({POLICE_KEY}),
                             tags={"cohesion/after": "build_police_months_not_built",
                                   POLICE_MONTHS_TAG: ",".join(behind)})

    return (schedule, rebuild_after_public_loads, rebuild_after_partial_public_loads, packs_after_warehouse_build,
            build_police_months_not_built)


# How often the live sensor for police.uk months loaded but never built looks (a few queries of the instance and
# one short read-only open of the warehouse), and how long after a load or build ended it leaves the chain's own
# sensors and Dagster's retry of a killed run to act first.
CATCH_UP_SENSOR_SECONDS = 60
CHAIN_SETTLE_SECONDS = 60
_UNDER_WAY = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _chain_busy(instance, jobs: set[str]) -> str:
    """Why the catch-up must wait ('' if it need not): a run of ``jobs`` queued or running, ended in the last
    CHAIN_SETTLE_SECONDS (its success sensor has not acted yet), or failed and about to be retried."""
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_UNDER_WAY)):
        if record.dagster_run.job_name in jobs:
            return f"{record.dagster_run.job_name} run {record.dagster_run.run_id[:8]} is under way"
    for record in instance.get_run_records(limit=20):
        run = record.dagster_run
        if run.job_name not in jobs:
            continue
        if run.is_complete_and_waiting_to_retry:
            return f"{run.job_name} run {run.run_id[:8]} failed and is about to be retried"
        if record.end_time and time.time() - record.end_time < CHAIN_SETTLE_SECONDS:
            return f"{run.job_name} run {run.run_id[:8]} ended under {CHAIN_SETTLE_SECONDS} s ago"
    return ""


def _read_warehouse():
    """A read-only connection to the warehouse, or None when it is being written (no wait) or not built yet."""
    path = get_settings().warehouse_path
    if not path.exists():
        return None
    try:
        return connect(path, read_only=True, wait_seconds=0)
    except duckdb.Error:
        return None


def _latest_ended_quarter() -> str:
    """The last quarter ended by the as-of date (COHESION_AS_OF_DATE, the demo's date, else today)."""
    as_of = get_settings().as_of_date
    return Quarter.last_ended(dt.date.fromisoformat(as_of) if as_of else dt.date.today()).key


# How often a public release is looked for, by the catalogue's publication frequency: new releases come out on
# dates that move, so each is checked at least as often as it publishes (and a reload of an unchanged release is
# logged 'unchanged' and changes nothing downstream).
RELEASE_CRON = {"monthly": "0 5 25 * *", "quarterly": "0 5 25 * *", "annual": "0 5 1 * *"}
DEFAULT_RELEASE_CRON = "0 5 1 1,4,7,10 *"  # decennial, irregular: once a quarter


def release_schedules(release_jobs, partitioned_assets) -> list[dg.ScheduleDefinition]:
    """Live mode: one schedule per public release job at its publication frequency (asset metadata
    `frequency`), loading every release of the dataset in one run (as make run does). Stopped in snapshot mode."""
    live = get_settings().mode == "live"
    out = []
    for job, asset in zip(release_jobs, partitioned_assets):
        frequency = str(asset.metadata_by_key[asset.key].get("frequency", "annual"))
        keys = asset.partitions_def.get_partition_keys()

        def _make(job=job, keys=keys, frequency=frequency):
            @dg.schedule(
                name=f"{job.name}_schedule",
                job=job,
                cron_schedule=RELEASE_CRON.get(frequency, DEFAULT_RELEASE_CRON),
                execution_timezone="Europe/London",
                default_status=dg.DefaultScheduleStatus.RUNNING if live else dg.DefaultScheduleStatus.STOPPED,
                description=f"Live mode: look for new releases of this {frequency} dataset (every release, one run).",
            )
            def _schedule(context: dg.ScheduleEvaluationContext):
                return dg.RunRequest(
                    run_key=f"{job.name}-{context.scheduled_execution_time:%Y-%m-%d}",
                    tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
                )
            return _schedule

        out.append(_make())
    return out
