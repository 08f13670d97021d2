"""Raw public datasets: whole-file loads and partitioned releases, live or from the bundled snapshots.

COHESION_MODE=snapshot (default) reads data/snapshots/; live calls the service. Either way the pull
is validated, loaded in one transaction and logged in raw.load_log; a failed or malformed pull is
logged as rejected and the table keeps its last good data.

Partitioned releases (StatsWales datasets, ONS ELS indicators, SAPE years) load a range of partitions
in one run (single-run backfill). Each partition succeeds or fails alone: a failed key is logged as
rejected and the loop goes on to the next. If any key failed, every loaded key is reported to Dagster
as its own materialization (``AssetMaterialization(partition=key)``) and the step then fails, naming
each failed key, where it was read from and why; Dagster records the loaded keys as materialized and
only the failed ones as failed (their planned materialization has none after it in a failed run).
"""

import warnings

import dagster as dg

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, WarehouseResource
from orchestration.lib.datasets import PARTITIONED, PartitionedSpec
from orchestration.lib.http import FetchError, SourceFormatError
from orchestration.lib.loaders import LoadResult, load_pull, log_rejection, snapshot_pull
from orchestration.lib.snapshots import DATASETS, DatasetSpec, SnapshotError

warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

LOAD_ERRORS = (FetchError, SourceFormatError, SnapshotError, ValueError)


def _where_and_why(exc: Exception, fallback: str) -> tuple[str, str]:
    """Where a failed pull was read from (the URL or file the error names, else ``fallback``) and why it failed."""
    where = getattr(exc, "url", None)
    reason = getattr(exc, "reason", None)
    if where and reason:  # FetchError / SourceFormatError: the URL (or file) and the reason apart
        attempts = getattr(exc, "attempts", 1) or 1
        return str(where), f"{reason}{f' (after {attempts} attempts)' if attempts > 1 else ''}"
    text = str(exc) or type(exc).__name__
    return fallback, (text if isinstance(exc, LOAD_ERRORS) else f"{type(exc).__name__}: {text}")


def _reject(warehouse: WarehouseResource, context, *, source: str, dataset: str, location: str, error: Exception,
            licence: str, partition_key: str | None = None) -> str:
    """log_rejection, which must not hide the load error if the warehouse itself cannot be written."""
    try:
        log_rejection(warehouse.warehouse, source=source, dataset=dataset, location=location, error=error,
                      mode=warehouse.mode, partition_key=partition_key, licence=licence)
        return "logged as rejected in raw.load_log"
    except Exception as log_exc:  # noqa: BLE001 - reported in the failure message instead
        context.log.error(f"could not log the rejection in raw.load_log: {log_exc}")
        return f"NOT logged in raw.load_log ({type(log_exc).__name__}: {log_exc})"


def _metadata(result: LoadResult, mode: str, release: str | None, licence: str, source: str) -> dict:
    return {
        "dagster/row_count": result.row_count,
        "outcome": result.outcome,
        "sha256": result.sha256,
        "location": result.location,
        "release": release or "",
        "licence": licence,
        "mode": mode,
        "source": source,
        "notes": "; ".join(result.details.get("notes", [])) if result.details else "",
    }


def build_snapshot_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", spec.table],
        group_name=spec.group,
        description=spec.description,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        metadata={"source": spec.source, "release": spec.release, "licence": spec.licence,
                  "files": ", ".join(spec.files), "frequency": spec.frequency,
                  "live_source": "yes" if spec.live else "snapshot only"},
        tags={"source": spec.source},
    )
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        live = warehouse.mode == "live" and spec.live is not None
        files = "; ".join(str(warehouse.snapshots / f) for f in spec.files)
        try:
            if live:
                pull = spec.live()
            else:
                pull = snapshot_pull(spec, warehouse.snapshots)
                if warehouse.mode == "live":
                    # No live client for this dataset (e.g. a derived file): say so, and keep it loadable.
                    pull.notes.append("live mode: no live source for this dataset; the bundled snapshot was used")
                    context.log.warning(f"raw.{spec.table}: no live source; loaded the bundled snapshot")
            result = load_pull(pull, spec.table, warehouse.warehouse)
        except LOAD_ERRORS as exc:
            where, why = _where_and_why(exc, f"the live {spec.source} service" if live else files)
            logged = _reject(warehouse, context, source=spec.source, dataset=spec.dataset, location=where, error=exc,
                             licence=spec.licence)
            raise dg.Failure(
                description=(f"raw.{spec.table} ({spec.source} {spec.dataset}, {'live' if live else 'bundled snapshot'})"
                             f" failed: {why} [from {where}]. raw.{spec.table} kept its last good data; "
                             f"the failed pull was {logged}."),
                metadata={"dataset": spec.dataset, "table": f"raw.{spec.table}", "location": where, "reason": why,
                          "mode": warehouse.mode},
            ) from exc
        context.log.info(f"raw.{spec.table}: {result.outcome}, {result.row_count} rows")
        return dg.MaterializeResult(metadata=_metadata(result, warehouse.mode, pull.release, pull.licence, pull.source))

    return _load


def build_partitioned_asset(spec: PartitionedSpec) -> dg.AssetsDefinition:
    partitions = dg.StaticPartitionsDefinition(list(spec.partitions))

    @dg.asset(
        key=["raw", spec.asset_name],
        group_name=spec.group,
        description=spec.description,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"python", "duckdb"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        metadata={"source": spec.source, "licence": spec.licence, "frequency": spec.frequency,
                  "live_source": "yes" if spec.live else "snapshot only"},
        tags={"source": spec.source},
    )
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        live = warehouse.mode == "live" and spec.live is not None
        per_key, failed, total = {}, {}, 0
        for key in context.partition_keys:  # every key, whatever happened to the one before
            table = spec.table_for(key)
            try:
                if live:
                    pull = spec.live(key)
                else:
                    pull = spec.snapshot(key, warehouse.snapshots)
                    if warehouse.mode == "live":
                        pull.notes.append("live mode: no live source for this dataset; the bundled snapshot was used")
                        context.log.warning(f"raw.{table}: no live source; loaded the bundled snapshot")
                result = load_pull(pull, table, warehouse.warehouse, partition_column=spec.partition_column,
                                   partition_key=key)
            except Exception as exc:  # noqa: BLE001 - one key's failure (of any kind) must not stop the others
                fallback = (f"the live {spec.source} service" if live
                            else f"the bundled snapshot of {key} under {warehouse.snapshots}")
                where, why = _where_and_why(exc, fallback)
                logged = _reject(warehouse, context, source=spec.source, dataset=spec.dataset, location=where,
                                 error=exc, licence=spec.licence, partition_key=key)
                failed[key] = {"table": f"raw.{table}", "location": where, "reason": why, "logged": logged}
                context.log.error(f"raw.{table} [{key}]: FAILED from {where}: {why}; kept its last good data for "
                                  f"{key}; continuing with the other partitions")
                continue
            context.log.info(f"raw.{table} [{key}]: {result.outcome}, {result.row_count} rows")
            total += result.row_count
            per_key[key] = {"table": f"raw.{table}", "outcome": result.outcome, "rows": result.row_count,
                            "sha256": result.sha256, "location": result.location, "release": pull.release or "",
                            "notes": "; ".join(pull.notes)}

        if not failed:
            yield dg.MaterializeResult(metadata={
                "dagster/row_count": total, "partitions": dg.MetadataValue.json(per_key),
                "mode": warehouse.mode, "source": spec.source, "licence": spec.licence,
            })
            return

        # Some keys failed: no step output (it would mark every key of the run materialized). Each loaded key
        # is reported as materialized on its own; the step then fails, so the run shows the failures and
        # Dagster records only the failed keys as failed.
        for key, done in per_key.items():
            yield dg.AssetMaterialization(
                asset_key=context.asset_key, partition=key,
                description=f"{done['table']} [{key}]: {done['outcome']} (other partitions of this run failed)",
                metadata={"dagster/row_count": done["rows"], "outcome": done["outcome"], "sha256": done["sha256"],
                          "location": done["location"], "release": done["release"], "notes": done["notes"],
                          "table": done["table"], "mode": warehouse.mode, "source": spec.source,
                          "licence": spec.licence},
            )
        lines = [f"- {key}: {f['table']} failed to load from {f['location']}: {f['reason']}. {f['table']} kept "
                 f"its last good data for {key} (the failed pull was {f['logged']})." for key, f in failed.items()]
        loaded = (f"{len(per_key)} loaded and recorded as materialized: {', '.join(per_key)}" if per_key
                  else "none loaded")
        raise dg.Failure(
            description=(f"raw/{spec.asset_name} ({spec.source}): {len(failed)} of {len(failed) + len(per_key)} "
                         f"partition(s) failed; {loaded}.\n" + "\n".join(lines)),
            metadata={"failed_partitions": dg.MetadataValue.json(failed),
                      "loaded_partitions": dg.MetadataValue.json(per_key), "mode": warehouse.mode,
                      "source": spec.source},
        )

    return _load


snapshot_assets = [build_snapshot_asset(spec) for spec in DATASETS]
partitioned_assets = [build_partitioned_asset(spec) for spec in PARTITIONED]
