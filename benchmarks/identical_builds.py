"""Do two builds of the same inputs give identical marts? Runs every dbt model twice (`dbt run --full-refresh`)
on two copies of a built warehouse and compares every table of the intermediate and marts schemas cell by cell.

    uv run python benchmarks/identical_builds.py [--warehouse data/warehouse.duckdb]

Prints, per table, the rows that differ and the columns they differ in (exit 1 if any).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = ("intermediate", "marts")


def build(copy: Path) -> None:
    env = {**os.environ, "COHESION_WAREHOUSE_PATH": str(copy), "COHESION_REPO_ROOT": str(REPO),
           "COHESION_AS_OF_DATE": os.environ.get("COHESION_AS_OF_DATE", "2024-06-30"), "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run([str(dbt), "run", "--full-refresh", "--quiet", "--target-path", str(copy.parent / "target")],
                   cwd=REPO / "dbt_project", env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default=str(REPO / "data" / "warehouse.duckdb"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for name in ("a", "b"):
            (Path(tmp) / name).mkdir()
            copy = Path(tmp) / name / "w.duckdb"
            shutil.copyfile(args.warehouse, copy)
            build(copy)
            copies.append(copy)
        con = duckdb.connect()
        con.execute(f"attach '{copies[0]}' as a (read_only)")
        con.execute(f"attach '{copies[1]}' as b (read_only)")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'a' and schema_name in "
            f"({', '.join(repr(s) for s in SCHEMAS)}) order by 1, 2").fetchall()
        differing = 0
        for schema, table in tables:
            n = con.execute(f"select count(*) from (select * from a.{schema}.{table} except all "
                            f"select * from b.{schema}.{table})").fetchone()[0]
            if not n:
                continue
            differing += 1
            columns = [r[0] for r in con.execute(f"describe a.{schema}.{table}").fetchall()]
            bad = [c for c in columns if con.execute(
                f'select count(*) from (select "{c}" from a.{schema}.{table} except all '
                f'select "{c}" from b.{schema}.{table})').fetchone()[0]]
            print(f"{schema}.{table}: {n} rows differ; columns {bad}")
        print(f"{len(tables)} tables compared, {differing} differ")
        return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
