"""Benchmark: ingesting one large partner file (read, validate, redact, load) and the tension marts after.

    uv run python benchmarks/partner_ingest.py [--rows 50000]

Writes an incidents CSV of N rows on real Gwent LSOA codes (a quarter of them with personal data in the
description), ingests it with lib/partner_extracts/store.py into a fresh DuckDB file and prints rows per
second for the ingestion alone. Target: a year of a force's incidents (~50,000 rows) in well under a
minute, so a sensor run is dominated by dbt, not by the file.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from orchestration.lib.partner_extracts import contracts  # noqa: E402
from orchestration.lib.partner_extracts.store import ingest_file  # noqa: E402
from orchestration.settings import SEEDS_DIR  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    with open(SEEDS_DIR / "geography" / "lsoa21_geography.csv", newline="", encoding="utf-8") as handle:
        lsoas = [r["lsoa21_code"] for r in csv.DictReader(handle) if r["police_force_code"] == "W15000002"]
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "landing" / "incidents"
        folder.mkdir(parents=True)
        path = folder / "bench-police_2023.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(contracts.extract_types()["incidents"].column_names)
            for i in range(args.rows):
                day = date(2023, 1, 1) + timedelta(days=rng.randrange(365))
                kind = rng.choice(contracts.INCIDENT_TYPES)
                strands = "race" if kind in contracts.HATE_INCIDENT_TYPES else ""
                text = ("Mr Dai Jones of 12 High Street rang 07700 900123 about the noise" if i % 4 == 0
                        else "Group of youths shouting outside the shop on the estate")
                writer.writerow([f"B/{i}", day.isoformat(), day.isoformat(), rng.choice(lsoas), kind, strands, "",
                                 "Bench Police", text])
        size = path.stat().st_size
        con = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        started = time.perf_counter()
        outcome = ingest_file(path, "incidents", con, Path(tmp) / "restricted", datetime(2024, 2, 1))
        elapsed = time.perf_counter() - started
        con.close()
    assert outcome.outcome == "accepted", outcome.problems[:3]
    print(f"{args.rows:,} rows ({size / 1e6:.1f} MB) ingested in {elapsed:.2f} s = {args.rows / elapsed:,.0f} rows/s; "
          f"{outcome.redacted_items:,} personal-data items redacted")


if __name__ == "__main__":
    main()
