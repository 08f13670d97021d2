"""Benchmark: what the exception engine's exact tests cost inside the marts.

    uv run python benchmarks/exception_engine.py [--warehouse data/warehouse.duckdb] [--runs 3]

On a copy of a built warehouse, each engine model's compiled SQL (`dbt compile`) is run directly in DuckDB
with the engine's functions registered (as dbt's plugin does), and again with every cm_* call replaced by a
constant, so the difference is the cost of the exact statistics themselves. Also counts the calls. Prints
one line per model (median of the runs) and the totals.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestration.lib.duckdb_functions import FUNCTIONS, register  # noqa: E402

MODELS = ["int_indicator__twelve_months", "fct_indicator_value", "fct_crime_exception", "fct_indicator_change",
          "fct_indicator_benchmark", "mart_cohesion_profile", "fct_cohesion_index", "fct_tension_evidence"]
CALL = re.compile(r"\b(" + "|".join(FUNCTIONS) + r")\(")


def compile_models(warehouse: Path, target: Path) -> dict[str, str]:
    env = {**os.environ, "COHESION_WAREHOUSE_PATH": str(warehouse), "DO_NOT_TRACK": "1"}
    subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "compile", "--select", " ".join(MODELS), "--profiles-dir", ".",
         "--target-path", str(target), "--log-path", str(target / "logs"), "--quiet"],
        cwd=REPO / "dbt_project", env=env, check=True, stdout=subprocess.DEVNULL,
    )
    out = {}
    for model in MODELS:
        [path] = list((target / "compiled").rglob(f"{model}.sql"))
        out[model] = path.read_text(encoding="utf-8")
    return out


def without_calls(sql: str) -> str:
    """Every cm_*(...) call replaced by 0.5: the same query without the exact statistics."""
    out, i = [], 0
    for m in CALL.finditer(sql):
        if m.start() < i:
            continue
        depth, j = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            j += 1
        out.append(sql[i:m.start()] + "0.5::double")
        i = j
    return "".join(out) + sql[i:]


def timed(con, sql: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        con.execute(f"create or replace temp table bench_result as {sql}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default=str(REPO / "data" / "warehouse.duckdb"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "w.duckdb"
        shutil.copy(args.warehouse, copy)
        compiled = compile_models(copy, Path(tmp) / "target")
        con = duckdb.connect(str(copy))
        register(con)
        total_with = total_without = 0.0
        print(f"{'model':32} {'rows':>8} {'calls':>6} {'with engine':>12} {'constants':>10}")
        for model, sql in compiled.items():
            with_engine = timed(con, sql, args.runs)
            rows = con.execute("select count(*) from bench_result").fetchall()[0][0]
            plain = timed(con, without_calls(sql), args.runs)
            calls = len(CALL.findall(sql))
            total_with += with_engine
            total_without += plain
            print(f"{model:32} {rows:>8,} {calls:>6} {with_engine:>11.2f}s {plain:>9.2f}s")
        con.close()
    print(f"{'total':32} {'':>8} {'':>6} {total_with:>11.2f}s {total_without:>9.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
