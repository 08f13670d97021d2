"""Raw public datasets loaded whole from the bundled real files (census, WIMD, small-area estimates)."""


import dagster as dg

from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, WarehouseResource
from orchestration.lib.loaders import load_snapshot_dataset
from orchestration.lib.snapshots import DATASETS, DatasetSpec


def build_snapshot_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", spec.table],
        group_name=spec.group,
        description=spec.description,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        metadata={"source": spec.source, "release": spec.release, "licence": spec.licence,
                  "files": ", ".join(spec.files)},
        tags={"source": spec.source},
    )
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        result = load_snapshot_dataset(spec, warehouse.snapshots, warehouse.warehouse, mode=warehouse.mode)
        context.log.info(f"raw.{spec.table}: {result.outcome}, {result.row_count} rows")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.row_count,
                "outcome": result.outcome,
                "sha256": result.sha256,
                "location": result.location,
                "release": spec.release,
                "licence": spec.licence,
                "mode": warehouse.mode,
            }
        )

    return _load


snapshot_assets = [build_snapshot_asset(spec) for spec in DATASETS]
