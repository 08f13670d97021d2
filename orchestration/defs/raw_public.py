"""Raw public datasets: whole-file loads and partitioned releases, live or from the bundled snapshots.

COHESION_MODE=snapshot (default) reads data/snapshots/; live calls the service. Either way the pull
is validated, loaded in one transaction and logged in raw.load_log; a failed or malformed pull is
logged as rejected and the table keeps its last good data.
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
        location = ";".join(spec.files)
        try:
            if warehouse.mode == "live" and spec.live is not None:
                pull = spec.live()
            else:
                pull = snapshot_pull(spec, warehouse.snapshots)
                if warehouse.mode == "live":
                    # No live client for this dataset (e.g. a derived file): say so, and keep it loadable.
                    pull.notes.append("live mode: no live source for this dataset; the bundled snapshot was used")
                    context.log.warning(f"raw.{spec.table}: no live source; loaded the bundled snapshot")
            result = load_pull(pull, spec.table, warehouse.warehouse)
        except LOAD_ERRORS as exc:
            log_rejection(warehouse.warehouse, source=spec.source, dataset=spec.dataset, location=location,
                          error=exc, mode=warehouse.mode, licence=spec.licence)
            raise dg.Failure(f"raw.{spec.table} kept its last good data: {exc}") from exc
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
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        per_key, total = {}, 0
        for key in context.partition_keys:
            table = spec.table_for(key)
            try:
                if warehouse.mode == "live" and spec.live is not None:
                    pull = spec.live(key)
                else:
                    pull = spec.snapshot(key, warehouse.snapshots)
                    if warehouse.mode == "live":
                        pull.notes.append("live mode: no live source for this dataset; the bundled snapshot was used")
                        context.log.warning(f"raw.{table}: no live source; loaded the bundled snapshot")
                result = load_pull(pull, table, warehouse.warehouse, partition_column=spec.partition_column,
                                   partition_key=key)
            except LOAD_ERRORS as exc:
                log_rejection(warehouse.warehouse, source=spec.source, dataset=spec.dataset, location=key,
                              error=exc, mode=warehouse.mode, partition_key=key, licence=spec.licence)
                raise dg.Failure(f"raw.{table} ({key}) kept its last good data: {exc}") from exc
            context.log.info(f"raw.{table} [{key}]: {result.outcome}, {result.row_count} rows")
            total += result.row_count
            per_key[key] = {"outcome": result.outcome, "rows": result.row_count, "sha256": result.sha256,
                            "location": result.location, "release": pull.release or "",
                            "notes": "; ".join(pull.notes)}
        return dg.MaterializeResult(metadata={
            "dagster/row_count": total, "partitions": dg.MetadataValue.json(per_key),
            "mode": warehouse.mode, "source": spec.source, "licence": spec.licence,
        })

    return _load


snapshot_assets = [build_snapshot_asset(spec) for spec in DATASETS]
partitioned_assets = [build_partitioned_asset(spec) for spec in PARTITIONED]
