"""Partner extracts (Part 3): the landing-folder sensor, the ingestion asset and the retention purge.

Thin wiring around orchestration/lib/partner_extracts: the sensor notices a new or changed file in
landing/<extract type>/ and asks for a run that ingests exactly that file and rebuilds the tension
models downstream of it. Validation, redaction, supersession and quarantine live in the plain modules.
"""

import time
from pathlib import Path

import dagster as dg

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, PartnerStoreResource, WarehouseResource
from orchestration.lib.partner_extracts import contracts
from orchestration.lib.partner_extracts.redaction import redact
from orchestration.lib.partner_extracts.store import (
    ensure_landing,
    ingest_file,
    pending_files,
    purge_expired,
)
from orchestration.lib.warehouse import connect, sha256_of, utc_now
from orchestration.settings import get_settings

GROUP = "partner_extracts"
PARTNER_FILES_KEY = dg.AssetKey(["raw", "partner_files"])
EXTRACT_KEYS = {name: dg.AssetKey(["raw", f"partner_{name}"]) for name in contracts.extract_types()}
QUARANTINE_CHECK = "no_quarantined_files"
# A file still being copied into the folder must not be read half-written: wait until it is this old.
SETTLE_SECONDS = 5


class PartnerIngestConfig(dg.Config):
    files: list[str] = []  # landing files to ingest; empty = every file waiting in the selected folders


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
                "Register of partner files: every accepted file (content hash, partner, period, rows, which "
                "corrected file superseded it, when its unredacted original was purged) and in "
                "raw.partner_file_log every arrival, duplicate and quarantine."
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
            description="Warns when a run quarantined a partner file; the metadata lists every problem found.",
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
    selected = [name for name, key in EXTRACT_KEYS.items() if key in context.selected_asset_keys]
    ensure_landing(partner_store.landing)
    work: list[tuple[str, Path]] = []
    if config.files:
        for name in config.files:
            path = Path(name)
            extract_type = path.parent.name
            if extract_type not in selected:
                raise dg.Failure(f"{path} is not in a selected landing folder ({', '.join(selected)})")
            if path.exists():
                work.append((extract_type, path))
            else:
                context.log.info(f"{path} has already been taken by another run")
    else:
        work = [(name, path) for name in selected for path in pending_files(partner_store.landing, name)]

    outcomes = []
    con = connect(warehouse.warehouse)
    try:
        for extract_type, path in work:
            try:
                outcome = ingest_file(path, extract_type, con, partner_store.restricted, utc_now())
            except FileNotFoundError:
                # another run (the sensor's, or make run's) took it between listing and reading
                context.log.info(f"{path} has already been taken by another run")
                continue
            outcomes.append(outcome)
            log = context.log.warning if outcome.outcome == "quarantined" else context.log.info
            # Messages may quote cell values: redact them before they reach Dagster's event log.
            log(redact(outcome.summary()).text)
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

    for name in selected:
        mine = [o for o in outcomes if o.extract_type == name]
        yield dg.MaterializeResult(
            asset_key=EXTRACT_KEYS[name],
            metadata={
                "files_accepted": sum(o.outcome == "accepted" for o in mine),
                "files_duplicate": sum(o.outcome == "duplicate" for o in mine),
                "files_quarantined": sum(o.outcome == "quarantined" for o in mine),
                "rows_loaded": sum(o.row_count for o in mine if o.outcome == "accepted"),
                "personal_data_items_redacted": sum(o.redacted_items for o in mine),
                "files": dg.MetadataValue.md(_files_table(mine) if mine else "No new files."),
            },
        )
    if PARTNER_FILES_KEY in context.selected_asset_keys:
        yield dg.MaterializeResult(
            asset_key=PARTNER_FILES_KEY,
            metadata={
                "current_files": register[0],
                "superseded_files": register[1],
                "originals_held": register[2],
                "originals_purged_this_run": purged.originals,
                "retention_days": partner_store.retention_days,
                "restricted_store": dg.MetadataValue.path(str(partner_store.restricted)),
            },
        )
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


def _files_table(outcomes) -> str:
    lines = ["| file | outcome | partner | period | rows | redacted | note |", "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        note = redact(o.message).text.replace("|", "/")
        lines.append(f"| {o.file_name} | {o.outcome} | {o.partner or ''} | {o.period or ''} | {o.row_count} | "
                     f"{o.redacted_items} | {note[:300]} |")
    return "\n".join(lines)


def _problems_table(outcomes, limit: int = 50) -> str:
    lines = ["| file | row | column | value | rule | problem |", "|---|---|---|---|---|---|"]
    shown = 0
    for o in outcomes:
        for p in o.problems:
            if shown == limit:
                break
            value = redact(p.value).text if p.value is not None else ""
            lines.append(f"| {o.extract_type}/{o.file_name} | {p.row or ''} | {p.column or ''} | "
                         f"{value[:60].replace('|', '/')} | {p.rule} | {p.message.replace('|', '/')} |")
            shown += 1
    total = sum(len(o.problems) for o in outcomes)
    if total > shown:
        lines.append(f"\n{total - shown} more in the error reports: "
                     + ", ".join(f"{o.quarantine_path}/errors.csv" for o in outcomes))
    return "\n".join(lines)


# Every partner asset plus the dbt models built from them (the seeds they read come along so a run works
# on a warehouse whose reference tables are not built yet).
_partner_keys = [PARTNER_FILES_KEY, *EXTRACT_KEYS.values()]
partner_extracts_selection = dg.AssetSelection.assets(*_partner_keys).downstream()
partner_extracts_job = dg.define_asset_job(
    "partner_extracts_ingest",
    selection=partner_extracts_selection | (partner_extracts_selection.upstream() & dg.AssetSelection.groups("reference")),
    description=(
        "Ingest partner files from the landing folder (validate, redact, supersede, quarantine) and rebuild "
        "the tension fact tables. The landing sensor starts one run per new or changed file."
    ),
)


@dg.sensor(
    job=partner_extracts_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches landing/<extract type>/ for new or changed partner files (csv/xlsx) and starts one "
        "partner_extracts_ingest run per file. The run key is the file's content hash and modification "
        "time, so a file re-sent unchanged is still recorded (as a duplicate) but never loaded twice."
    ),
)
def partner_landing_sensor(context: dg.SensorEvaluationContext):
    landing = get_settings().landing_dir
    ensure_landing(landing)
    graph = context.repository_def.asset_graph
    now = time.time()
    waiting = 0
    for extract_type, key in EXTRACT_KEYS.items():
        files = pending_files(landing, extract_type)
        if not files:
            continue
        downstream = dg.AssetSelection.assets(PARTNER_FILES_KEY, key).downstream()
        selection = downstream | (downstream.upstream() & dg.AssetSelection.groups("reference"))
        asset_keys = sorted(selection.resolve(graph), key=lambda k: k.to_user_string())
        for path in files:
            try:
                stat = path.stat()
                if now - stat.st_mtime < SETTLE_SECONDS:
                    waiting += 1
                    continue
                sha = sha256_of(path)
            except FileNotFoundError:
                continue  # taken by a run between listing and reading
            yield dg.RunRequest(
                run_key=f"{extract_type}/{path.name}/{sha}/{stat.st_mtime_ns}",
                run_config={"ops": {"partner_extracts": {"config": {"files": [str(path)]}}}},
                asset_selection=asset_keys,
                tags={"partner_extract_type": extract_type, "partner_file": path.name, "partner_file_sha256": sha},
            )
    if waiting:
        context.log.info(f"{waiting} file(s) still being written; will look again")


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


@dg.job(description="Enforce the retention period on the restricted store of partner files (daily).")
def purge_partner_originals():
    purge_restricted_store()


purge_schedule = dg.ScheduleDefinition(
    job=purge_partner_originals,
    cron_schedule="30 2 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
