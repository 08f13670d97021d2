"""How long does BI publishing take, and how long does it hold the warehouse? publish_marts (DuckDB copy in the
1.x-readable storage version, Parquet, CSV with BOM, sha256 manifest, atomic swap) against a plain
``COPY FROM DATABASE`` of the whole warehouse into a v1.4.0 file, run directly in DuckDB.

    uv run python benchmarks/publish.py [--warehouse data/warehouse.duckdb] [--tier public] [--repeat 2]

The warehouse is only read (read-only); everything is written to a temporary folder and deleted. Run it on a
copy (cp data/warehouse.duckdb /tmp/pub.duckdb) if a build may be running.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from orchestration.lib.publish import STORAGE_VERSION, publish_marts  # noqa: E402
from orchestration.settings import get_settings  # noqa: E402


def _mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB"


def direct_copy(warehouse: Path, target: Path) -> tuple[float, int]:
    started = time.monotonic()
    con = duckdb.connect()
    con.execute(f"attach '{warehouse}' as src (read_only)")
    con.execute(f"attach '{target}' as dst (storage_version '{STORAGE_VERSION}')")
    con.execute("copy from database src to dst")
    con.execute("detach dst")
    con.close()
    return time.monotonic() - started, target.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default=str(get_settings().warehouse_path))
    parser.add_argument("--tier", default="public", choices=["public", "restricted"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    warehouse = Path(args.warehouse)
    print(f"warehouse {warehouse} ({_mb(warehouse.stat().st_size).strip()}), tier {args.tier}")
    with tempfile.TemporaryDirectory(prefix="publish-bench-") as tmp:
        for i in range(1, args.repeat + 1):
            started = time.monotonic()
            m = publish_marts(warehouse, Path(tmp) / "published", build_id=f"bench-{i}", tier=args.tier, force=True)
            total = time.monotonic() - started
            parquet = sum(t["files"]["parquet"]["bytes"] for t in m["tables"])
            csv = sum(f["bytes"] for t in m["tables"] for kind, f in t["files"].items() if kind.startswith("csv"))
            s = m["seconds"]
            print(f"publish_marts #{i}: {total:6.2f} s  ({len(m['tables'])} tables, "
                  f"{sum(t['rows'] for t in m['tables']):,} rows)")
            duck = _mb(m["duckdb"]["bytes"])
            print(f"  warehouse held (read-only copy)   {s['warehouse_held']:6.2f} s  duckdb  {duck}")
            print(f"  Parquet + CSV from the copy       {s['exports']:6.2f} s  parquet {_mb(parquet)}  csv {_mb(csv)}")
            print(f"  sha256 + fsync                    {s['hashes']:6.2f} s")
            print(f"  waiting for the warehouse lock    {s['waited_for_warehouse']:6.2f} s")
        for i in range(1, args.repeat + 1):
            seconds, size = direct_copy(warehouse, Path(tmp) / f"direct-{i}.duckdb")
            print(f"COPY FROM DATABASE (whole warehouse, {STORAGE_VERSION}) #{i}: {seconds:6.2f} s  {_mb(size)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
