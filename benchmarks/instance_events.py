"""Benchmark: what one Dagster event costs to store in the instance's SQLite files, as Dagster ships it and with
orchestration/lib/sqlite_storage.py.

    uv run python benchmarks/instance_events.py [--events 300] [--rounds 3]

Every step, planned materialization, dbt model, dbt test and Great Expectations suite is an event Dagster writes
in its own transaction; a full `make run` writes about 3,500 (a run's file and the cross-run index), and a
warehouse_build writes one "planned" event for each of its ~540 assets and checks before its first step starts.
Each round starts a fresh Python process with a fresh DAGSTER_HOME (the project's dagster.yaml) and stores
``--events`` engine events of one run (one write each) and half as many asset materializations (a run-file write
and an index write each) through a real DagsterInstance, in three configurations:

- ``dagster``: Dagster's own SQLite storage (synchronous=FULL, a new SQLAlchemy engine for every event);
- ``normal``: synchronous=NORMAL only (lib/sqlite_storage.py before engines were reused);
- ``project``: what the code location and make run install: synchronous=NORMAL and one engine per file.

Prints milliseconds per event, the median of the rounds, and the engines the project's storage made.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = ("dagster", "normal", "project")


def one_round(mode: str, events: int) -> dict:
    """In this (fresh) process: store the events, return ms per event."""
    home = Path(tempfile.mkdtemp(prefix="instance-events-"))
    try:
        os.environ["DAGSTER_HOME"] = str(home)
        shutil.copyfile(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
        from orchestration.lib import sqlite_storage

        if mode != "dagster":
            sqlite_storage.install()
        if mode == "normal":  # the pragma only: Dagster's engine per event
            import importlib

            for name in sqlite_storage._DAGSTER_SQLITE_MODULES:
                module = importlib.import_module(name)
                module.create_engine = module.create_engine.original
        import dagster as dg

        @dg.op
        def nothing():
            return None

        @dg.job
        def tiny():
            nothing()

        instance = dg.DagsterInstance.get()
        try:
            run = instance.create_run_for_job(tiny)
            started = time.perf_counter()
            for i in range(events):
                instance.report_engine_event(f"event {i}", run)
            run_event = (time.perf_counter() - started) / events * 1000
            started = time.perf_counter()
            for i in range(events // 2):
                instance.report_runless_asset_event(dg.AssetMaterialization(f"asset_{i % 10}"))
            materialization = (time.perf_counter() - started) / (events // 2) * 1000
            stored = len(instance.all_logs(run.run_id))
        finally:
            instance.dispose()
        if stored != events:
            raise SystemExit(f"{mode}: {stored} events stored, {events} written")
        return {"run_event_ms": run_event, "materialization_ms": materialization,
                "engines": sqlite_storage.engines_created}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)  # a round, in its own process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_round(args.one, args.events)))
        return
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:  # interleaved, so a busy moment of the machine falls on every configuration
            out = subprocess.run([sys.executable, __file__, "--one", mode, "--events", str(args.events)],
                                 cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True,
                                 capture_output=True, text=True)
            results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.events} run events and {args.events // 2} materializations per round, median of {args.rounds} rounds")
    print(f"{'storage':10s} {'ms / run event':>15s} {'ms / materialization':>21s}  engines made")
    for mode in MODES:
        run_ms = statistics.median(r["run_event_ms"] for r in results[mode])
        mat_ms = statistics.median(r["materialization_ms"] for r in results[mode])
        engines = max(r["engines"] for r in results[mode])
        print(f"{mode:10s} {run_ms:15.1f} {mat_ms:21.1f}  {engines if mode == 'project' else 'one per event'}")


if __name__ == "__main__":
    main()
