"""Benchmark: wall time of a cold build (empty data dir) and a warm rebuild (nothing changed), and where the cold
build's time goes.

    uv run python benchmarks/build_warehouse.py [--runs N]

Each build runs `python -m orchestration.build` in a subprocess with its own data dir, exactly as
`make run` does after the environment is installed. Prints one line per run and the medians, and for the first
cold build the runs and steps from its Dagster instance: each run's span, its steps by kind (Great Expectations
suites, dataset loads, dbt, the PDFs), and when the crime report, the BI copies, the packs and the atlas were done
(seconds after the build's first run started; the process start and the plan before it are in the wall time).

A cold build in a new data dir parses the dbt project in full (its warehouse path differs from the one
`make manifest` parsed for), ~9 s of CPU that `make run` in the default data dir does not spend.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# steps whose end is a milestone of the build: what a person or a BI tool reads
MILESTONES = {"reports__crime_exception_report": "crime exception report written",
              "published__bi_exports": "BI copies published (public and restricted)",
              "reports__monitoring_packs": "monitoring packs rendered",
              "reports__cohesion_atlas": "atlas and profile documents rendered"}


def build(data_dir: Path) -> float:
    env = {**os.environ, "COHESION_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    env.pop("COHESION_WAREHOUSE_PATH", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "orchestration.build"], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def step_kind(step_key: str) -> str:
    if "_gx_" in step_key:
        return "Great Expectations suites"
    if step_key.startswith("raw__"):
        return "dataset loads"
    return step_key


def breakdown(dagster_home: Path) -> list[str]:
    """Lines saying where a build's time went, from the Dagster instance it wrote (Dagster's own step stats)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    lines = []
    with dg.DagsterInstance.get() as instance:
        # runs that never started (none in a build that ended) have no times to show
        records = sorted((r for r in instance.get_run_records() if r.start_time), key=lambda r: r.start_time)
        if not records:
            return ["no runs recorded"]
        t0 = records[0].start_time
        milestones = []
        for record in records:
            run = record.dagster_run
            label = run.job_name + "".join(f"[{run.tags[t]}]" for t in ("cohesion/stage", "dagster/partition")
                                           if t in run.tags)
            start, end = record.start_time - t0, (record.end_time or record.start_time) - t0
            kinds: dict[str, list] = defaultdict(lambda: [0, 0.0])
            for stats in instance.get_run_step_stats(run.run_id):
                if stats.start_time is None or stats.end_time is None:
                    continue
                kinds[step_kind(stats.step_key)][0] += 1
                kinds[step_kind(stats.step_key)][1] += stats.end_time - stats.start_time
                if stats.step_key in MILESTONES:
                    milestones.append((stats.end_time - t0, MILESTONES[stats.step_key]))
            lines.append(f"  {label:40} {start:6.1f} -> {end:6.1f}  ({end - start:5.1f} s, {run.status.value})")
            for kind, (count, seconds) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
                lines.append(f"      {kind:46} {seconds:6.1f} s" + (f" ({count} steps)" if count > 1 else ""))
        lines.append("  milestones (seconds after the first run started):")
        lines += [f"      {at:6.1f}  {what}" for at, what in sorted(milestones)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            cold.append(build(Path(tmp)))
            if i == 0:
                print(f"cold build {cold[-1]:.1f} s; where it went:", flush=True)
                print("\n".join(breakdown(Path(tmp) / "dagster_home")), flush=True)
            warm.append(build(Path(tmp)))
        print(f"run {i + 1}: cold {cold[-1]:.1f} s, warm {warm[-1]:.1f} s", flush=True)
    print(f"median of {args.runs}: cold build {statistics.median(cold):.1f} s, warm rebuild {statistics.median(warm):.1f} s")


if __name__ == "__main__":
    main()
