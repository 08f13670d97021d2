"""Benchmark: a partner file's time from being dropped in the landing folder to the tension marts, through the
real Dagster daemon, sensor, run queue, run launcher and in-process executor.

    uv run python benchmarks/partner_sensor_latency.py [--data-dir data]

In a temporary data folder: builds the warehouse from the bundled data (``python -m orchestration.build``,
demo extracts off; or copies the warehouse and Dagster instance of an already-built data folder with
--data-dir, as after ``make run``), starts ``dagster-daemon run`` on the code
location, then drops partner files the way partners do and times, for each scenario, drop → run requested
(the sensor), → run started, → run finished (marts rebuilt). Scenarios: one incidents file with no marker
(the sensor must see it settle), one with a ``.done`` marker, five files in three folders at once (one run for
all), and a file that is quarantined (no dbt at all). Target (issue 10): under 60 s from drop to marts on an
idle 2-core machine. Run it after ``make install`` (which compiles the environment's bytecode: without it
every run worker compiles Dagster from source when PYTHONDONTWRITEBYTECODE is set).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestration.lib.partner_extracts import contracts  # noqa: E402

HEADERS = {name: extract.column_names for name, extract in contracts.extract_types().items()}


def incident(ref: str, day: str = "2024-06-12", area: str = "W01001524", kind: str = "hate_crime") -> list[str]:
    return [ref, day, day, area, kind, "race" if kind.startswith("hate") else "", "", "Gwent Police", "Shouting"]


def write(path: Path, rows: list[list[str]], marker: bool = False) -> None:
    """As a careful partner does: a temporary name, then a rename (and optionally a .done marker)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS[path.parent.name])
        writer.writerows(rows)
    os.replace(partial, path)
    if marker:
        path.with_name(path.name + ".done").touch()


SCENARIOS = {
    "one file, no marker (settles 5 s)": lambda landing: [
        write(landing / "incidents" / "bench-police_2024-06.csv", [incident(f"B/{i}") for i in range(20)])],
    "one file with a .done marker": lambda landing: [
        write(landing / "incidents" / "bench-council_2024-06.csv", [incident(f"C/{i}") for i in range(20)], marker=True)],
    "five files in three folders": lambda landing: [
        *[write(landing / "incidents" / f"bench-housing-{k}_2024-06.csv", [incident(f"H{k}/{i}") for i in range(5)],
                marker=True) for k in range(3)],
        write(landing / "tension_assessments" / "bench-group_2024-06.csv",
              [["2024-06-20", "2024-06-01", "2024-06-30", "W06000022", "ethnic", "eep6", "5", "5", "", ""]], marker=True),
        write(landing / "risk_register" / "bench-group_2024-Q2.csv",
              [["BR-1", "W06000022", "2024-06-20", "Counter-protest", "physical", "2", "2", "", "", "", "Silver chair",
                "2024-08-01", "open"]], marker=True)],
    "a bad file (quarantined, no dbt)": lambda landing: [
        write(landing / "incidents" / "bench-bad_2024-06.csv", [incident("X/1", area="W01999999")], marker=True)],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", help="copy the warehouse and Dagster instance of this built data folder")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cohesion-sensor-bench-"))
    data = tmp / "data"
    env = {**os.environ, "COHESION_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home"),
           "COHESION_WAREHOUSE_PATH": str(data / "warehouse.duckdb"), "COHESION_DEMO_EXTRACTS": "0",
           "COHESION_AS_OF_DATE": "2024-06-30", "DO_NOT_TRACK": "1"}
    os.environ.update(env)
    daemon = None
    try:
        started = time.monotonic()
        if args.data_dir:
            data.mkdir(parents=True)
            shutil.copyfile(Path(args.data_dir) / "warehouse.duckdb", data / "warehouse.duckdb")
            shutil.copytree(Path(args.data_dir) / "dagster_home", data / "dagster_home")
            subprocess.run([sys.executable, "-c", "from orchestration.build import prepare_instance; prepare_instance()"],
                           cwd=REPO, env=env, check=True)
        else:
            subprocess.run([sys.executable, "-m", "orchestration.build"], cwd=REPO, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        print(f"warehouse ready in {time.monotonic() - started:.0f} s ({tmp})")
        import dagster as dg

        from dagster._core.execution.stats import StepEventStatus

        from orchestration.defs.partner_extracts import JOB_NAME

        instance = dg.DagsterInstance.get()
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m", "orchestration.definitions"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(20)  # the daemon loads the code location and starts its sensor loop
        landing = data / "landing"
        results = []
        for name, drop in SCENARIOS.items():
            before = {r.run_id for r in instance.get_runs(dg.RunsFilter(job_name=JOB_NAME))}
            dropped = time.time()
            drop(landing)
            run = None
            while time.time() - dropped < args.timeout:
                runs = [r for r in instance.get_runs(dg.RunsFilter(job_name=JOB_NAME)) if r.run_id not in before]
                if runs and runs[0].is_finished:
                    run = runs[0]
                    break
                time.sleep(0.5)
            if run is None:
                raise SystemExit(f"{name}: no finished run after {args.timeout:.0f} s")
            record = instance.get_run_record_by_id(run.run_id)
            steps = sorted(instance.get_run_step_stats(run.run_id), key=lambda st: st.start_time or 0)
            dbt = [st.end_time for st in steps if st.step_key == "cohesion_dbt_assets"
                   and st.status == StepEventStatus.SUCCESS]
            results.append((name, record.create_timestamp.timestamp() - dropped, record.start_time - dropped,
                            dbt[0] - dropped if dbt else None, record.end_time - dropped, run.status.value))
            ran = [f"{st.step_key.split('_gx_')[-1] if '_gx_' in st.step_key else st.step_key} "
                   f"{(st.end_time or 0) - (st.start_time or 0):.1f}s" for st in steps
                   if st.status == StepEventStatus.SUCCESS]
            print(f"{name}: {len(ran)} steps ran: " + ", ".join(ran))
            time.sleep(6)  # let the sensor see the empty landing folder before the next drop
        print(f"\n{'scenario':40} {'requested':>10} {'started':>9} {'marts':>8} {'finished':>9}  status")
        for name, requested, run_started, marts, finished, status in results:
            shown = f"{marts:7.1f}s" if marts is not None else "     n/a"
            print(f"{name:40} {requested:9.1f}s {run_started:8.1f}s {shown} {finished:8.1f}s  {status}")
        print("\n(seconds after the file was dropped: the sensor asked for the run, the run started, dbt had rebuilt "
              "the tension marts, the run ended after the Great Expectations checks on them)")
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
