"""Partner extracts (Part 3): the landing-folder sensor, the ingestion asset and the retention purge.

Thin wiring around orchestration/lib/partner_extracts: the sensor notices complete files waiting in the
landing folder (landing.py decides what "complete" means) and asks for **one** run that ingests all of them
and rebuilds the tension models downstream of the folders they came from. Validation, redaction, identity,
supersession and quarantine live in the plain modules.

Nothing here puts a partner's cell value into Dagster's event log: outcomes, check metadata and failures
name files, rules, sheets, rows and columns only (the values are in the restricted store's error reports).
"""

import hashlib
import json
import time
import traceback
from pathlib import Path

import dagster as dg

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, PartnerStoreResource, WarehouseResource
from orchestration.lib.partner_extracts import contracts
from orchestration.lib.partner_extracts.landing import check_ready, ensure_landing, left_alone, scan, sweep_claims
from orchestration.lib.partner_extracts.store import ingest, purge_expired
from orchestration.lib.private_files import private_dir, write_private
from orchestration.lib.safe_text import md_cell
from orchestration.lib.warehouse import connect, sha256_of, utc_now
from orchestration.settings import get_settings

GROUP = "partner_extracts"
JOB_NAME = "partner_extracts_ingest"
WAREHOUSE_BUILD_JOB = "warehouse_build"  # orchestration/definitions.py
PARTNER_FILES_KEY = dg.AssetKey(["raw", "partner_files"])
EXTRACT_KEYS = {name: dg.AssetKey(["raw", f"partner_{name}"]) for name in contracts.extract_types()}
QUARANTINE_CHECK = "no_quarantined_files"
# An ingestion run normally takes a minute or two; one still "in progress" after this long was killed
# (its process is gone) and must not hold back the files waiting behind it.
STALE_RUN_SECONDS = 20 * 60
# After a failed run (not a quarantined file: an error such as a locked warehouse) the same files are tried
# again after this long, not at every tick.
RETRY_AFTER_SECONDS = 5 * 60
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


class PartnerIngestConfig(dg.Config):
    files: list[str] = []  # landing files to ingest; empty = every complete file waiting in the selected folders
    # make run rebuilds the whole warehouse: materialize the selected extracts even when no new file was accepted,
    # so that the dbt models downstream run (the sensor leaves this off: no new data, no rebuild)
    materialize_unchanged: bool = False


def _spec(name: str, extract: contracts.ExtractType) -> dg.AssetSpec:
    return dg.AssetSpec(
        EXTRACT_KEYS[name],
        description=(
            f"{extract.title}, from {extract.supplied_by}: validated rows of current and superseded files, "
            f"free text redacted. Partners drop files in landing/{name}/ (contract: docs/partner-extracts/README.md)."
        ),
        group_name=GROUP,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        skippable=True,
    )


@dg.multi_asset(
    name="partner_extracts",
    specs=[
        dg.AssetSpec(
            PARTNER_FILES_KEY,
            description=(
                "Register of partner files: every accepted file (content hash, partner and period and how they "
                "were known, rows, which corrected file superseded it, when its unredacted original was purged) "
                "and in raw.partner_file_log every arrival, duplicate and quarantine."
            ),
            group_name=GROUP,
            kinds={"python", "duckdb"},
            owners=OWNERS,
            skippable=True,
        ),
        *[_spec(name, extract) for name, extract in contracts.extract_types().items()],
    ],
    check_specs=[
        dg.AssetCheckSpec(
            QUARANTINE_CHECK,
            asset=PARTNER_FILES_KEY,
            description="Warns when a run quarantined a partner file; the metadata lists every problem found "
                        "(rule, sheet, row and column: the values are in the restricted store's error report).",
        )
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def partner_extracts(
    context: dg.AssetExecutionContext,
    config: PartnerIngestConfig,
    warehouse: WarehouseResource,
    partner_store: PartnerStoreResource,
):
    selected = {name for name, key in EXTRACT_KEYS.items() if key in context.selected_asset_keys}
    # In warehouse_build (make run, the UI's launch of the job, the daemon) the extracts are materialized even with
    # no new file, as make run's config says: otherwise every dbt model downstream of them is skipped and the run
    # still succeeds, having rebuilt nothing (seen through the daemon: a launched warehouse_build "succeeded" in
    # 12 s with dbt skipped). The landing sensor's job keeps the rule: no new data, no rebuild.
    unchanged_too = config.materialize_unchanged or context.job_name == WAREHOUSE_BUILD_JOB
    ensure_landing(partner_store.landing)
    _log_claims(context.log, sweep_claims(partner_store.landing, partner_store.claim_seconds))
    waiting = scan(partner_store.landing)
    if config.files:
        wanted = {str(Path(f)) for f in config.files}
        work = [f for f in waiting if str(f.path) in wanted]
        for gone in wanted - {str(f.path) for f in work}:
            context.log.info(f"{Path(gone).name} has already been taken by another run")
    else:
        readiness = check_ready(waiting, partner_store.settle_seconds, partner_store.require_marker)
        work = readiness.ready
        for file, why in readiness.waiting:
            context.log.info(f"{file.relative} is not read yet: {why}")
    # a misplaced file (outside every extract folder) is quarantined by any run that ingests partner files
    work = [f for f in work if f.extract_type is None or f.extract_type in selected]

    outcomes, failures = [], []
    con = connect(warehouse.warehouse)
    try:
        for file in work:
            try:
                outcome = ingest(file, con, partner_store.restricted, utc_now())
            except FileNotFoundError:
                # another run (the sensor's, or make run's) took it between listing and reading
                context.log.info(f"{file.relative} has already been taken by another run")
                continue
            except Exception as err:  # noqa: BLE001 - one file's failure stays with that file
                failures.append(_record_privately(partner_store.restricted, file.relative, err))
                context.log.error(failures[-1])
                continue
            if outcome.outcome == "waiting":
                context.log.info(f"{file.relative}: {outcome.message}")
                continue
            outcomes.append(outcome)
            (context.log.warning if outcome.outcome == "quarantined" else context.log.info)(outcome.summary())
        accepted_ids = [o.file_id for o in outcomes if o.outcome == "accepted"]
        # the calendar quarters the accepted files' rows can change (their periods): the monitoring packs of
        # exactly these quarters (and the four after, whose evidence baselines include them) are recomputed
        span = con.execute(
            "select min(period_start), max(period_end) from raw.partner_files where file_id in (select unnest(?::varchar[]))",
            [accepted_ids]).fetchall()[0] if accepted_ids else (None, None)
        purged = purge_expired(con, partner_store.restricted, partner_store.retention_days, utc_now())
        register = con.execute(
            """
            select count(*) filter (where superseded_by is null), count(*) filter (where superseded_by is not null),
                   count(*) filter (where original_purged_at is null)
            from raw.partner_files
            """
        ).fetchone()
    finally:
        con.close()
    if purged.originals or purged.quarantined:
        context.log.info(
            f"retention ({partner_store.retention_days} days): purged {purged.originals} original(s) and "
            f"{purged.quarantined} quarantined file(s) from the restricted store"
        )

    # Only an accepted file changes data: its extract (and the register) is materialized, and only that sets off
    # the dbt models downstream. A run that found only duplicates or quarantined files records what it saw as
    # observations and rebuilds nothing.
    accepted = {o.extract_type for o in outcomes if o.outcome == "accepted"}
    for name in sorted(selected):
        mine = [o for o in outcomes if o.extract_type == name]
        metadata = {
            "files_accepted": sum(o.outcome == "accepted" for o in mine),
            "files_duplicate": sum(o.outcome == "duplicate" for o in mine),
            "files_quarantined": sum(o.outcome == "quarantined" for o in mine),
            "rows_loaded": sum(o.row_count for o in mine if o.outcome == "accepted"),
            "personal_data_items_redacted": sum(o.redacted_items for o in mine),
            "files": dg.MetadataValue.md(_files_table(mine) if mine else "No new files."),
        }
        if name in accepted or unchanged_too:
            yield dg.MaterializeResult(asset_key=EXTRACT_KEYS[name], metadata=metadata)
        elif mine:
            context.log_event(dg.AssetObservation(asset_key=EXTRACT_KEYS[name], metadata=metadata))
    if PARTNER_FILES_KEY in context.selected_asset_keys:
        metadata = {
            "current_files": register[0],
            "periods_changed": f"{span[0]}/{span[1]}" if span[0] else "",
            "superseded_files": register[1],
            "originals_held": register[2],
            "originals_purged_this_run": purged.originals,
            "retention_days": partner_store.retention_days,
            "restricted_store": dg.MetadataValue.path(str(partner_store.restricted)),
        }
        if accepted or unchanged_too:
            yield dg.MaterializeResult(asset_key=PARTNER_FILES_KEY, metadata=metadata)
        else:
            context.log_event(dg.AssetObservation(asset_key=PARTNER_FILES_KEY, metadata=metadata))
        quarantined = [o for o in outcomes if o.outcome == "quarantined"]
        yield dg.AssetCheckResult(
            asset_key=PARTNER_FILES_KEY,
            check_name=QUARANTINE_CHECK,
            passed=not quarantined,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{len(quarantined)} file(s) quarantined: nothing from them was loaded" if quarantined
                else "no file quarantined in this run"
            ),
            metadata={
                "quarantined_files": len(quarantined),
                "problems": dg.MetadataValue.md(_problems_table(quarantined) if quarantined else "None."),
            },
        )
    if failures:
        # the other files were ingested; the run fails so the data team sees it, and the sensor tries the
        # failed files again later (they are still in the landing folder)
        raise dg.Failure(description="; ".join(failures))


def _log_claims(log, events) -> None:
    for event in events:
        if event.action == "returned":
            log.warning(f"{event.landing_path} grew after it was read (a copy still in progress when it was taken): "
                        "moved back to the landing folder to be read again; its complete version supersedes the "
                        "partial one")
        elif event.action == "waiting":
            log.info(f"{event.landing_path} grew after it was read; it goes back to the landing folder once the "
                     "file now there under the same name has been read")


def _record_privately(restricted: Path, relative: str, err: Exception) -> str:
    """An unexpected error while ingesting one file: the traceback (which may quote the file) goes to the
    restricted store; Dagster's event log gets the file, the error type and where to look."""
    folder = private_dir(restricted, restricted / "errors")
    log = folder / f"{utc_now():%Y%m%dT%H%M%S%fZ}_ingest_error.txt"
    write_private(log, f"{relative}\n\n{traceback.format_exc()}")
    return (f"ingesting {relative} failed ({type(err).__name__}): nothing from it was loaded and it stays in the "
            f"landing folder; details (restricted, they may quote the file): {log}")


def _files_table(outcomes) -> str:
    lines = ["| file | outcome | partner | period | rows | redacted | note |", "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        lines.append(f"| {md_cell(o.landing_path)} | {o.outcome} | {md_cell(o.partner)} | {md_cell(o.period)} | "
                     f"{o.row_count} | {o.redacted_items} | {md_cell(o.message, 400)} |")
    return "\n".join(lines)


def _problems_table(outcomes, limit: int = 50) -> str:
    """Rule, sheet, row and column of each problem: never the cell's value (that stays in errors.csv)."""
    lines = ["| file | sheet | row | column | rule | problem |", "|---|---|---|---|---|---|"]
    shown = 0
    for o in outcomes:
        for p in o.problems:
            if shown == limit:
                break
            lines.append(f"| {md_cell(o.landing_path)} | {md_cell(p.sheet)} | {p.row or ''} | {md_cell(p.column)} | "
                         f"{md_cell(p.rule)} | {md_cell(p.message, 300)} |")
            shown += 1
    total = sum(len(o.problems) for o in outcomes)
    lines.append("\nThe offending values are in the error reports (restricted store): "
                 + ", ".join(f"{o.quarantine_path}/errors.csv" for o in outcomes))
    if total > shown:
        lines.insert(-1, f"\n{total - shown} more problem(s) in the error reports.")
    return "\n".join(lines)


def changed_by(extract_types: set[str]) -> dg.AssetSelection:
    """What new files of these extract types change: the register, their raw assets and every dbt model
    downstream of those. Every staging model reads the register (raw.partner_files), but a new file changes
    only its own extract type's current files, so other types' staging models are left alone."""
    keys = [EXTRACT_KEYS[t] for t in sorted(extract_types)]
    selection = dg.AssetSelection.assets(PARTNER_FILES_KEY)
    if not keys:
        return selection
    # the reports (the monitoring packs) and the BI copies are rebuilt by warehouse_build, not by every partner
    # file's run (which stays quick: drop to marts in under a minute)
    return ((selection | dg.AssetSelection.assets(*keys).downstream())
            - dg.AssetSelection.groups("reports") - dg.AssetSelection.groups("published"))


DBT_SCHEMAS = {"ref", "staging", "intermediate", "marts"}


def run_selection(extract_types: set[str], graph, materialized) -> set[dg.AssetKey]:
    """The assets a run for new files of these types builds: what they change, plus any dbt model or seed
    upstream of that which this instance has never built (a fresh warehouse has no seeds or staging views yet).
    `materialized(key)` says whether a key was ever materialized."""
    changed = changed_by(extract_types)
    keys = changed.resolve(graph)
    prerequisites = changed.upstream().resolve(graph) - keys
    return keys | {k for k in prerequisites if k.path[0] in DBT_SCHEMAS and not materialized(k)}


# Every partner asset plus the dbt models built from them and the seeds they read; the sensor's runs take
# the part of it that new files change (run_selection). In-process: one process for the whole run, not one
# per step (each would import Dagster, dbt's manifest and GX again).
_everything_partner = changed_by(set(EXTRACT_KEYS))
partner_extracts_job = dg.define_asset_job(
    JOB_NAME,
    selection=_everything_partner | (_everything_partner.upstream() & dg.AssetSelection.groups("reference")),
    executor_def=dg.in_process_executor,
    description=(
        "Ingest partner files from the landing folder (validate, redact, supersede, quarantine) and rebuild "
        "the tension fact tables. The landing sensor starts one run for all the files that are ready."
    ),
)


@dg.sensor(
    job=partner_extracts_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the landing folder for complete partner files (no writer, unchanged for a few seconds, or a "
        "<file>.done marker) and starts one partner_extracts_ingest run for all of them, rebuilding only the "
        "tension models downstream of the folders they are in. While a run is ingesting, new files wait for "
        "the next one."
    ),
)
def partner_landing_sensor(context: dg.SensorEvaluationContext):
    settings = get_settings()
    ensure_landing(settings.landing_dir)
    _log_claims(context.log, sweep_claims(settings.landing_dir, settings.landing_claim_seconds))
    stale = left_alone(settings.landing_dir)
    if stale:
        context.log.warning(f"{len(stale)} file(s) with a temporary, hidden or marker name have sat in the landing "
                            "folder for over an hour and are never read as extracts (rename a finished copy to "
                            "its real name): " + ", ".join(stale[:20]))
    files = scan(settings.landing_dir)
    if not files:
        return dg.SkipReason("no partner files waiting"
                             + (f"; {len(stale)} temporary or hidden file(s) left alone" if stale else ""))
    readiness = check_ready(files, settings.landing_settle_seconds, settings.landing_require_marker)
    for file, why in readiness.waiting:
        context.log.info(f"{file.relative} is not read yet: {why}")
    if not readiness.ready:
        return dg.SkipReason(f"{len(readiness.waiting)} file(s) still being written")

    now = time.time()
    active = context.instance.get_runs(dg.RunsFilter(job_name=JOB_NAME, statuses=IN_PROGRESS), limit=5)
    live = [r for r in active if now - (_started(context.instance, r) or now) < STALE_RUN_SECONDS]
    for run in active:
        if run not in live:
            context.log.warning(f"run {run.run_id} has been in progress for over {STALE_RUN_SECONDS // 60} minutes "
                                "(killed?): not waiting for it; check it in the Runs page")
    if live:
        return dg.SkipReason(f"run {live[0].run_id} is ingesting; {len(readiness.ready)} file(s) go in the next run")
    [latest] = context.instance.get_runs(dg.RunsFilter(job_name=JOB_NAME), limit=1) or [None]
    if latest is not None and latest.status == dg.DagsterRunStatus.FAILURE:
        record = context.instance.get_run_record_by_id(latest.run_id)
        ended = record.end_time if record else None
        if ended and now - ended < RETRY_AFTER_SECONDS:
            return dg.SkipReason(f"run {latest.run_id} failed; trying again {RETRY_AFTER_SECONDS // 60} minutes "
                                 "after it ended")

    # the run key: which files, their bytes and when they arrived (a file sent again is a new arrival, recorded
    # as a duplicate), and the latest run (so files left behind by a failed run are asked for again)
    hashes = []
    for file in readiness.ready:
        try:
            hashes.append((file.relative, sha256_of(file.path), file.changed))
        except FileNotFoundError:
            continue  # taken by a run between listing and reading
    if not hashes:
        return dg.SkipReason("the files were taken by another run")
    ready = [f for f in readiness.ready if f.relative in {h[0] for h in hashes}]
    types = {f.extract_type for f in ready if f.extract_type}
    keys = run_selection(types, context.repository_def.asset_graph,
                         lambda k: context.instance.get_latest_materialization_event(k) is not None)
    key = hashlib.sha256(json.dumps([sorted(hashes), latest.run_id if latest else None]).encode()).hexdigest()
    return dg.RunRequest(
        run_key=key,
        run_config={"ops": {"partner_extracts": {"config": {"files": [str(f.path) for f in ready]}}}},
        asset_selection=sorted(keys, key=lambda k: k.to_user_string()),
        tags={"partner_files": str(len(ready)), "partner_extract_types": ",".join(sorted(types)) or "misplaced"},
    )


def _started(instance, run) -> float | None:
    record = instance.get_run_record_by_id(run.run_id)
    return (record.start_time or record.create_timestamp.timestamp()) if record else None


@dg.op(pool=WAREHOUSE_POOL, description="Delete unredacted originals and quarantined files past the retention period.")
def purge_restricted_store(context: dg.OpExecutionContext, warehouse: WarehouseResource, partner_store: PartnerStoreResource):
    con = connect(warehouse.warehouse)
    try:
        result = purge_expired(con, partner_store.restricted, partner_store.retention_days, utc_now())
    finally:
        con.close()
    context.log.info(
        f"retention {partner_store.retention_days} days: purged {result.originals} original(s), "
        f"{result.quarantined} quarantined file(s)"
    )


@dg.job(description="Enforce the retention period on the restricted store of partner files (daily).",
        executor_def=dg.in_process_executor)
def purge_partner_originals():
    purge_restricted_store()


purge_schedule = dg.ScheduleDefinition(
    job=purge_partner_originals,
    cron_schedule="30 2 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
