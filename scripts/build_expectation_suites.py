"""Regenerate expectations/*.json from the catalogue, the extract contracts and a known-good build.

    uv run python scripts/build_expectation_suites.py [--warehouse data/warehouse.duckdb]

The raw tables' columns and types are read from the warehouse (build it first with `make run`).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from orchestration.lib.quality.suites import EXPECTATIONS_DIR, all_suites, observed_schema, write_suites  # noqa: E402
from orchestration.settings import get_settings  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default=str(get_settings().warehouse_path))
    args = parser.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True)
    try:
        schema = observed_schema(con)
    finally:
        con.close()
    for stale in EXPECTATIONS_DIR.glob("*.json"):
        stale.unlink()
    for path in write_suites(all_suites(schema)):
        print(f"wrote {path.relative_to(EXPECTATIONS_DIR.parent)}")
