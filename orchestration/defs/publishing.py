"""BI publishing: after a build, read-only copies of the marts for BI tools (orchestration/lib/publish.py).

Two tiers from one asset: the public marts, reference tables and the shared (suppressed) tier go to
settings.published_dir (data/published); the full set including the partner tension marts goes to the
restricted store (restricted/published, owner-only). Which table is which comes from the dbt manifest.
"""

import time

import dagster as dg

from orchestration.defs.dbt import dbt_project
from orchestration.defs.resources import OWNERS, WAREHOUSE_POOL, WarehouseResource
from orchestration.lib.private_files import private_dir
from orchestration.lib.publish import CSV_MAX_ROWS, publish_marts, table_tiers
from orchestration.settings import get_settings

# every table either tier copies: dbt asset keys are <schema>/<name> (defs/dbt.py), seeds included (ref/<name>)
_TIERS = table_tiers(dbt_project.manifest_path)
PUBLISHED_KEYS = [dg.AssetKey(table.split(".", 1)) for table in _TIERS]


@dg.asset(
    key=["published", "bi_exports"],
    group_name="published",
    description=(
        "Read-only copies of the marts for BI tools, written after every build and swapped in atomically (a BI "
        "reader never blocks the build and never sees a half-written file): a DuckDB file that DuckDB 1.4+ "
        "clients open (cohesion_marts.duckdb), Parquet and CSV (UTF-8 with BOM, for Excel) per table, and a "
        "manifest (build id, rows, columns, sha256). Public tier: data/published (public marts, reference "
        "tables, the suppressed shared tier). Restricted tier, with the partner tension marts: "
        "restricted/published (owner-only). Keeps the last two sets (orchestration/lib/publish.py)."
    ),
    # after the quarterly crime exception report (not an input): the copies never hold the report back
    deps=PUBLISHED_KEYS + [dg.AssetKey(["reports", "crime_exception_report"])],
    kinds={"duckdb", "parquet", "csv"},
    owners=OWNERS,
    # it opens the warehouse (read-only, while copying): one process on the file at a time, as every asset here
    pool=WAREHOUSE_POOL,
)
def bi_exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = get_settings()
    started = time.monotonic()
    outputs = {
        "public": settings.published_dir,
        "restricted": private_dir(settings.restricted_dir, settings.restricted_dir / "published"),
    }
    metadata: dict = {"build_id": context.run_id, "tier": ", ".join(outputs)}
    lines = []
    for tier, out_dir in outputs.items():
        # the restricted tier holds the public tables too: it takes the public set's files just written for
        # them (and either tier keeps its own previous files for a table that did not change) instead of
        # exporting the same rows again (lib/publish.py, _fingerprints)
        manifest = publish_marts(warehouse.warehouse, out_dir, build_id=context.run_id, tier=tier,
                                 dbt_manifest=dbt_project.manifest_path, log=context.log.warning,
                                 reuse_from=[outputs["public"]] if tier == "restricted" else None)
        reused = sum(1 for t in manifest["tables"] if t.get("reused"))
        rows = sum(t["rows"] for t in manifest["tables"])
        size = manifest["duckdb"]["bytes"] + sum(f["bytes"] for t in manifest["tables"] for f in t["files"].values())
        # a table over Excel's row limit has its CSV in parts (lib/publish.py, csv_parts)
        parts = {f"{t['schema']}.{t['name']}": sum(1 for kind in t["files"] if kind.startswith("csv."))
                 for t in manifest["tables"]}
        in_parts = ", ".join(f"{table} ({count} parts)" for table, count in parts.items() if count)
        context.log.info(f"{tier}: {len(manifest['tables'])} tables ({reused} with the files of a set already "
                         f"published), {rows} rows -> {manifest['set_dir']}"
                         + (" (unchanged)" if manifest["unchanged"] else "")
                         + (f"; CSV in parts, over Excel's {CSV_MAX_ROWS + 1:,} rows: {in_parts}" if in_parts else ""))
        metadata.update({
            f"{tier}_tables": len(manifest["tables"]),
            f"{tier}_tables_reused": reused,
            f"{tier}_rows": rows,
            f"{tier}_bytes": size,
            f"{tier}_path": dg.MetadataValue.path(str(out_dir / "cohesion_marts.duckdb")),
            f"{tier}_set": dg.MetadataValue.path(manifest["set_dir"]),
            f"{tier}_seconds": manifest["seconds"].get("total", 0.0),
            f"{tier}_warehouse_held_seconds": manifest["seconds"].get("warehouse_held", 0.0),
            f"{tier}_unchanged": manifest["unchanged"],
            f"{tier}_csv_in_parts": in_parts or "none",
        })
        if manifest["not_published"]:
            metadata[f"{tier}_not_published"] = ", ".join(n["table"] for n in manifest["not_published"])
        lines += [f"| {tier} | {t['schema']}.{t['name']} | {t['rows']} |" for t in manifest["tables"]]
    metadata["seconds"] = round(time.monotonic() - started, 3)
    metadata["tables"] = dg.MetadataValue.md("| tier | table | rows |\n|---|---|---|\n" + "\n".join(lines))
    return dg.MaterializeResult(metadata=metadata)
