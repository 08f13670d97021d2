"""Benchmark and end-to-end check: a new police.uk month through the real Dagster daemon in live mode.

    uv run --frozen python benchmarks/live_police_month.py [--years 2] [--compare] [--workdir /tmp] [--keep]

What a council running unattended sees when police.uk publishes a month, with nothing but the daemon running:

1. A warehouse is built from N years of (synthetic, benchmarks/synthetic_history.py: real months replayed with
   shifted dates, FOR BENCHMARKING ONLY) history of the four Welsh forces without 2024-06
   (`python -m orchestration.build`, snapshot mode, as `make run`).
2. A stand-in for data.police.uk on 127.0.0.1 (tests/fakeserver.py, a real HTTP server) answers
   ``crimes-street-dates`` (2024-06 is the newest month published) and serves ``/data/archive/2024-06.zip``
   as police.uk builds it: ``2024-06/2024-06-<force>-street.csv`` for the four forces and their previous eleven
   months. Every other live source's address points at the stand-in too (nothing leaves the machine).
3. ``dagster-daemon run`` starts on the code location in live mode (COHESION_MODE=live). The live police.uk
   schedule's own tick function (``schedule_run_requests``: asks the stand-in what is published, compares with
   the instance's materializations) says what to load; that run is launched on the instance the way the UI's
   "Launch run" does (``dagster job launch``; the schedule itself fires daily at 06:00, so it is not waited
   for). From then on only the daemon acts: ``rebuild_after_public_loads`` starts ``warehouse_build`` for what is
   downstream of the month (tagged ``cohesion/police_months``: the crime models rebuild that month alone),
   ``packs_after_warehouse_build`` then recomputes the packs, which go to the outbox.
   With --fault-first the stand-in first serves the month's archive with every force's CSV cut at a row boundary
   (half its rows: a valid zip, issue 14's fault 5): the load must be refused, nothing rebuilt, the data team told
   (a message in the outbox); then the stand-in replaces the archive with the whole one under the same name, and
   the next ordinary day's tick (not the 20th) asks for the month again, having asked the stand-in (a HEAD)
   whether the refused archive was replaced; it goes through as above.
   With --kill-builds N the daemon's warehouse builds are killed with SIGKILL (the run's process, as the OOM
   killer or an operator would) N times, each at a random point (--seed) between its start and a minute in:
   nobody helps; the daemon must finish the chain itself (Dagster retries a killed run once; a month whose
   build was killed twice is built by the ``build_police_months_not_built`` sensor). With --readers K, K
   processes read the published copy (``data/published/cohesion_marts.duckdb``) and the live warehouse
   (read-only) every half second throughout: no read of the published copy may fail, and no run may fail
   because of a reader.
4. Times (seconds after the launch): the load, the warehouse build (dbt done, report written, end), each pack run.
5. Checks: the month's raw rows per force equal the served files' rows; the warehouse build ran dbt for the
   month alone (its log says so); a new pack version for 2024-Q2 and its messages in the outbox. With
   --compare, a second warehouse is built from scratch with 2024-06 bundled (snapshot mode) and every table
   of the staging, intermediate and marts schemas is compared row for row (``except all`` both ways) with the
   daemon's: they must be equal.

Exits 1 if a run fails, a check fails or the daemon does not finish within --timeout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic_history  # noqa: E402
from incremental_build import build_env  # noqa: E402

from tests.fakeserver import FakeServer, Reply  # noqa: E402

MONTH = synthetic_history.LAST_MONTH  # the month police.uk "publishes"
QUARTER = "2024-Q2"
LIVE_URLS = ("NOMIS_API_URL", "STATSWALES_API_URL", "ONS_ELS_URL", "ONS_ELS_METADATA_URL", "WIMD_2019_URL")


def street_dates(latest: str, count: int = 36) -> bytes:
    """crimes-street-dates as the API answers: newest first."""
    months = [synthetic_history.add_months(latest, -i) for i in range(count)]
    return json.dumps([{"date": m, "stop-and-search": []} for m in months]).encode()


def archive(month: str, files: dict[str, Path], history: Path) -> bytes:
    """``month``.zip: the month's file of every force and the force's previous eleven months from ``history``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for force, path in files.items():
            z.write(path, f"{month}/{month}-{force}-street.csv")
            for back in range(1, 12):
                earlier = synthetic_history.add_months(month, -back)
                old = history / "police_uk" / force / f"{earlier}-{force}-street.csv"
                if old.exists():
                    z.write(old, f"{earlier}/{old.name}")
    return out.getvalue()


def cut_in_half(files: dict[str, Path], out: Path) -> dict[str, Path]:
    """Each file cut at a row boundary after half its rows (the header kept, newline-ended)."""
    cut = {}
    for force, path in files.items():
        lines = path.read_bytes().splitlines(keepends=True)
        cut[force] = out / path.name
        cut[force].parent.mkdir(parents=True, exist_ok=True)
        cut[force].write_bytes(b"".join(lines[: 1 + (len(lines) - 1) // 2]))
    return cut


def launch_tick(instance, partitions_def, live: dict[str, str]) -> float:
    """What the live police.uk schedule asks for at an ordinary day's tick (not the 20th: failed months only when
    the schedule would retry them), launched on the instance; returns the launch time."""
    from orchestration.defs.police_uk import schedule_run_requests

    requests = schedule_run_requests(instance, partitions_def, f"benchmark-{time.time():.0f}", retry_failed=False)
    if not isinstance(requests, list):
        raise SystemExit(f"the police.uk schedule would load nothing: {requests.skip_message}")
    print(f"   the schedule's tick asks for: {[r.tags for r in requests]}", flush=True)
    launched = time.time()
    for request in requests:
        subprocess.run([str(Path(sys.executable).with_name("dagster")), "job", "launch", "-m",
                        "orchestration.definitions", "-j", "police_uk_monthly_ingest",
                        "--tags", json.dumps(request.tags)], cwd=REPO, env=live, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return launched


def serve_archive(server, body: bytes) -> None:
    """The month's archive, to GET and (its headers only) to HEAD."""
    for method in ("GET", "HEAD"):
        server.route(method, f"/data/archive/{MONTH}.zip", Reply(200, body=body, content_type="application/zip"))


def fault_phase(instance, partitions_def, live, server, files, synth, data, work) -> list[str]:
    """The archive's CSVs cut at a row boundary: refused, nothing rebuilt, the data team told. Returns problems."""
    import dagster as dg
    import duckdb

    problems = []
    serve_archive(server, archive(MONTH, cut_in_half(files, work / "cut"), synth))
    outbox = data / "outbox"
    before = set(outbox.rglob("*.eml")) if outbox.exists() else set()
    launched = launch_tick(instance, partitions_def, live)
    deadline = time.time() + 300
    runs = []
    while time.time() < deadline:
        runs = [r for r in instance.get_runs() if
                instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp() >= launched]
        told = (set(outbox.rglob("*failure*.eml")) - before) if outbox.exists() else set()
        if runs and all(r.is_finished for r in runs) and told:
            break
        time.sleep(1)
    time.sleep(15)  # three evaluations of the chain sensors: nothing more may start
    runs = [r for r in instance.get_runs() if
            instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp() >= launched]
    told = sorted((set(outbox.rglob("*failure*.eml")) - before) if outbox.exists() else set())
    print("   runs: " + ", ".join(f"{r.job_name} {r.status.value}" for r in runs))
    for run in runs:
        for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            failed = event.dagster_event.step_failure_data
            said = failed.user_failure_data.description if failed.user_failure_data else failed.error.message
            print("   the step said: " + " ".join((said or "").split())[:600])
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        loaded = con.execute("select count(*) from raw.police_uk_street_crimes where month = ?", [MONTH]).fetchone()[0]
    finally:
        con.close()
    print(f"   {MONTH} rows in the warehouse: {loaded}; messages to the data team: {len(told)}")
    if [r.job_name for r in runs] != ["police_uk_monthly_ingest"] or runs[0].status != dg.DagsterRunStatus.FAILURE:
        problems.append(f"the cut archive: runs {[(r.job_name, r.status.value) for r in runs]}, expected one failed load")
    if loaded:
        problems.append(f"the cut archive loaded {loaded} rows")
    if not told:
        problems.append("no failure message to the data team")
    # police.uk puts it right under the same name: the next tick asks (HEAD) and finds it replaced
    serve_archive(server, archive(MONTH, files, synth))
    return problems


READER = """
import os, sys, time, duckdb
published, live, out = sys.argv[1], sys.argv[2], sys.argv[3]
counts = {"published_ok": 0, "published_failed": 0, "live_ok": 0, "live_busy": 0, "live_failed": 0}
errors = []

def read(path):
    con = duckdb.connect(path, read_only=True)
    try:
        con.execute("select count(*), sum(crime_count) from marts.fct_crime_monthly").fetchone()
    finally:
        con.close()

while True:
    for name, path in (("published", published), ("live", live)):
        try:
            read(path)
            counts[name + "_ok"] += 1
        except Exception as exc:
            said = str(exc)
            if name == "published" and ("No such file" in said or "does not exist" in said):
                continue  # not published yet
            outcome = "busy" if name == "live" and "lock" in said.lower() else "failed"  # a build writes it
            counts[f"{name}_{outcome}"] += 1
            if outcome == "failed":
                errors.append(f"{name}: {said}")
    with open(out + ".tmp", "w") as f:
        f.write(repr((counts, errors[-5:])))
    os.replace(out + ".tmp", out)
    time.sleep(0.5)
"""


def start_readers(count: int, data: Path, work: Path) -> list[tuple[subprocess.Popen, Path]]:
    """``count`` BI-like readers, each in its own process (DuckDB's lock is per process)."""
    readers = []
    for i in range(count):
        out = work / f"reader-{i}.txt"
        readers.append((subprocess.Popen([sys.executable, "-c", READER, str(data / "published" / "cohesion_marts.duckdb"),
                                          str(data / "warehouse.duckdb"), str(out)], cwd=REPO), out))
    return readers


def reader_counts(readers) -> tuple[dict[str, int], list[str]]:
    import ast

    total: dict[str, int] = {}
    errors: list[str] = []
    for _, out in readers:
        if out.exists():
            counts, said = ast.literal_eval(out.read_text())
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
            errors += said
    return total, errors


class Killer:
    """Kills the daemon's warehouse builds (their run process, SIGKILL) ``times`` times, each at a random point
    between 1 s and ``within`` s after the run started, if it is still running then."""

    def __init__(self, instance, since: float, times: int, seed: int, within: float = 60):
        import random

        self.instance, self.since, self.left, self.within = instance, since, times, within
        self.rng = random.Random(seed)
        self.planned: dict[str, float] = {}
        self.kills: list[str] = []
        self.killed: set[str] = set()

    def tick(self) -> None:
        import dagster as dg

        from orchestration.defs.runs import run_process

        if not self.left:
            return
        for record in self.instance.get_run_records(filters=dg.RunsFilter(
                job_name="warehouse_build", statuses=[dg.DagsterRunStatus.STARTED])):
            run = record.dagster_run
            if record.create_timestamp.timestamp() < self.since or not self.left:
                continue
            pid, started = run_process(self.instance, run)
            if not pid:
                continue
            when = self.planned.setdefault(run.run_id, started + self.rng.uniform(1, self.within))
            if time.time() < when:
                continue
            steps = [e for e in self.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)]
            step = steps[-1].step_key if steps else "(before its first step)"
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                continue
            self.left -= 1
            self.planned[run.run_id] = float("inf")
            self.killed.add(run.run_id)
            self.kills.append(f"{run.run_id[:8]} at {time.time() - started:.1f} s, during {step}")
            print(f"   KILLED warehouse_build {run.run_id[:8]} (pid {pid}) {time.time() - started:.1f} s after it "
                  f"started, during {step}", flush=True)


def build(env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run([sys.executable, "-m", "orchestration.build"], cwd=REPO, env=env, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    if code:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise SystemExit(f"the build failed (exit {code}); last lines of {log}:\n" + "\n".join(tail))
    return time.perf_counter() - started


def rows_in(path: Path) -> int:
    return path.read_bytes().rstrip(b"\r\n").count(b"\n")


def wait_for_runs(instance, since: float, timeout: float, log=print, killer: Killer | None = None) -> list:
    """The runs created after ``since`` once the chain is over: a police.uk run, the warehouse build the daemon
    started after it and the pack and atlas runs after that, every one finished, and no new run for 20 s. With a
    ``killer``, the failed runs it killed are expected (the daemon must get past them): the chain is over when a
    build succeeded, and packs and atlas after it, with every run finished."""
    import dagster as dg

    deadline = time.time() + timeout
    quiet_since, seen = None, 0
    while time.time() < deadline:
        if killer is not None:
            killer.tick()
        runs = [r for r in instance.get_runs() if instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp()
                >= since]
        finished = all(r.is_finished for r in runs)
        failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
        if killer is not None:  # the runs it killed failed as expected; the chain is the runs that succeeded
            jobs = {r.job_name for r in runs if r.status == dg.DagsterRunStatus.SUCCESS}
            failed = [r for r in failed if r.run_id not in killer.killed]
        else:
            jobs = {r.job_name for r in runs}
        if failed:
            return runs
        if len(runs) != seen:
            seen, quiet_since = len(runs), time.time()
            log(f"  {time.time() - since:6.1f} s: {len(runs)} runs ({', '.join(sorted(jobs))})")
        if finished and {"police_uk_monthly_ingest", "warehouse_build", "monitoring_packs_refresh",
                         "atlas_refresh"} <= jobs \
                and time.time() - quiet_since > 20:
            return runs
        time.sleep(1)
    raise SystemExit(f"the daemon had not finished the chain after {timeout:.0f} s")


def step_end(instance, run_id: str, step_key: str) -> float | None:
    from dagster._core.execution.stats import StepEventStatus

    for st in instance.get_run_step_stats(run_id):
        if st.step_key == step_key and st.status == StepEventStatus.SUCCESS:
            return st.end_time
    return None


# Lineage, not data: which load a row came from (every load has its own id) and the log of check results (times
# and run ids); the comparison leaves them out.
LINEAGE_COLUMNS = {"load_id", "loaded_at"}
RUN_LOGS = {"marts.dq_results"}


def compare(ours: Path, reference: Path) -> list[str]:
    """Every table of the staging, intermediate and marts schemas but the check-result log: rows in one and not the
    other (except all, both ways) over every column but the load ids. Returns one line per table that differs."""
    import duckdb

    schemas = "('staging', 'intermediate', 'marts')"
    con = duckdb.connect(str(ours), read_only=True)
    try:
        con.execute(f"attach '{reference}' as reference (read_only)")

        def tables(catalog: str) -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for schema, table, column in con.execute(
                    "select c.table_schema, c.table_name, c.column_name from information_schema.columns c join "
                    "information_schema.tables t using (table_catalog, table_schema, table_name) where "
                    f"c.table_catalog = ? and c.table_schema in {schemas} and t.table_type = 'BASE TABLE' "
                    "order by c.ordinal_position", [catalog]).fetchall():
                found.setdefault(f"{schema}.{table}", []).append(column)
            return {name: cols for name, cols in found.items() if name not in RUN_LOGS}

        mine, theirs = tables(con.execute("select current_database()").fetchone()[0]), tables("reference")
        differences = [f"{name}: only in the reference" for name in sorted(set(theirs) - set(mine))]
        for name, columns in sorted(mine.items()):
            if name not in theirs:
                differences.append(f"{name}: not in the reference")
                continue
            if columns != theirs[name]:
                differences.append(f"{name}: columns differ")
                continue
            cols = ", ".join(f'"{c}"' for c in columns if c not in LINEAGE_COLUMNS)
            ref = f"select {cols} from reference.{name}"
            own = f"select {cols} from {name}"
            missing = con.execute(f"select count(*) from ({ref} except all {own})").fetchone()[0]
            extra = con.execute(f"select count(*) from ({own} except all {ref})").fetchone()[0]
            if missing or extra:
                differences.append(f"{name}: {missing} reference rows missing, {extra} rows not in the reference")
        print(f"   compared {len(mine)} tables (staging, intermediate, marts; not {', '.join(sorted(RUN_LOGS))}, "
              f"not the columns {', '.join(sorted(LINEAGE_COLUMNS))}) with the reference build")
        return differences
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=float, default=2, help="history before the new month, in years (default 2)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--compare", action="store_true",
                        help="also build from scratch with the month bundled and compare every model's rows")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds the daemon has for the whole chain")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--fault-first", action="store_true",
                        help="first serve the month with every CSV cut in half: refused, nothing rebuilt, data team told")
    parser.add_argument("--kill-builds", type=int, default=0,
                        help="kill the daemon's warehouse builds (SIGKILL) this many times, each at a random point")
    parser.add_argument("--seed", type=int, default=14, help="seed of the random kill points")
    parser.add_argument("--readers", type=int, default=0,
                        help="processes reading the published copy and the live warehouse throughout")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="live-police-month-", dir=args.workdir))
    logs = work / "logs"
    logs.mkdir()
    problems: list[str] = []
    daemon = server = None
    readers: list = []
    try:
        synth = work / "snapshots"
        info = synthetic_history.build(synth, args.years, drop_last=True)
        served = work / "served"
        real = synthetic_history.real_months(synthetic_history.REAL_SNAPSHOTS)
        synthetic_history.write_month(synthetic_history.REAL_SNAPSHOTS, served, real, MONTH)
        files = {f: served / "police_uk" / f / f"{MONTH}-{f}-street.csv" for f in synthetic_history.FORCES}

        data = work / "data"
        env = build_env(data, synth, info["first_month"])
        print(f"1. full build without {MONTH} (snapshot mode) ...", flush=True)
        print(f"   {build(env, logs / 'initial-build.log'):.1f} s")

        server = FakeServer()
        server.route("GET", "/api/crimes-street-dates",
                     Reply(200, body=street_dates(MONTH), content_type="application/json"))
        serve_archive(server, archive(MONTH, files, synth))
        live = {**env, "COHESION_MODE": "live", "POLICE_UK_API_URL": server.url("/api"),
                "POLICE_UK_ARCHIVE_URL": server.url("/data/archive"), "DO_NOT_TRACK": "1",
                **{name: server.url(f"/not-served/{name.lower()}") for name in LIVE_URLS}}
        os.environ.update(live)
        import dagster as dg

        from orchestration.defs.police_uk import police_uk_monthly_partitions

        instance = dg.DagsterInstance.get()
        print("2. dagster-daemon (live mode) ...", flush=True)
        daemon_log = (logs / "daemon.log").open("w")
        daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m",
                                   "orchestration.definitions"], cwd=REPO, env=live, stdout=daemon_log,
                                  stderr=subprocess.STDOUT)
        time.sleep(20)  # the daemon loads the code location and starts its loops
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited ({daemon.returncode}); see {logs / 'daemon.log'}")

        if args.fault_first:
            print(f"3a. the stand-in serves {MONTH}.zip with every CSV cut at a row boundary (half the rows)", flush=True)
            problems += fault_phase(instance, police_uk_monthly_partitions, live, server, files, synth, data, work)
        if args.readers:
            readers = start_readers(args.readers, data, work)
            print(f"   {args.readers} readers of the published copy and the live warehouse started", flush=True)
        print(f"3. the stand-in serves the whole {MONTH}.zip", flush=True)
        launched = launch_tick(instance, police_uk_monthly_partitions, live)
        if args.fault_first:
            # an ordinary day's tick asks again for a refused month only if its archive was replaced
            heads = server.count("HEAD", f"/data/archive/{MONTH}.zip")
            print(f"   asked for again: the tick asked the stand-in whether {MONTH}.zip was replaced ({heads} HEAD)")
            if not heads:
                problems.append(f"the tick asked for the refused {MONTH} without asking whether its archive changed")
        killer = Killer(instance, launched, args.kill_builds, args.seed) if args.kill_builds else None
        runs = wait_for_runs(instance, launched, args.timeout, killer=killer)
        if killer is not None:
            print(f"   {len(killer.kills)} kills: {'; '.join(killer.kills)}")
            if killer.left:
                problems.append(f"only {len(killer.kills)} of {args.kill_builds} kills happened")
        if readers:
            for process, _ in readers:
                process.terminate()
                process.wait(timeout=30)
            counts, said = reader_counts(readers)
            readers = []
            print(f"   readers: {counts}" + (f"; last errors: {said}" if said else ""))
            if counts.get("published_failed") or counts.get("live_failed"):
                problems.append(f"reads failed: {counts}")
            if not counts.get("published_ok"):
                problems.append("no read of the published copy succeeded")

        print("\n4. runs (seconds after the launch)")
        order = sorted(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
        build_run = None
        for run in order:
            record = instance.get_run_record_by_id(run.run_id)
            created = record.create_timestamp.timestamp() - launched
            started = (record.start_time or launched) - launched
            ended = (record.end_time or launched) - launched
            extra = ""
            if run.job_name == "warehouse_build" and run.status == dg.DagsterRunStatus.SUCCESS:
                build_run = run
                marks = {name: step_end(instance, run.run_id, key) for name, key in (
                    ("dbt", "cohesion_dbt_assets"), ("report", "reports__crime_exception_report"))}
                extra = "  " + ", ".join(f"{k} done {v - launched:.1f}" for k, v in marks.items() if v)
                extra += f"  tag {run.tags.get('cohesion/police_months', '-')}"
            part = f"[{run.tags['dagster/partition']}]" if "dagster/partition" in run.tags else ""
            print(f"  {run.job_name + part:40} requested {created:6.1f}  started {started:6.1f}  ended {ended:6.1f}  "
                  f"{run.status.value}{extra}")
            if killer is not None and run.run_id in killer.killed:
                print(f"  {'':40} (killed by this benchmark)")
            elif run.status != dg.DagsterRunStatus.SUCCESS:
                problems.append(f"{run.job_name}{part} {run.status.value}")

        import duckdb

        con = duckdb.connect(env_warehouse := str(data / "warehouse.duckdb"), read_only=True)
        try:
            loaded = dict(con.execute("select force_id, count(*) from raw.police_uk_street_crimes where month = ? "
                                      "group by 1", [MONTH]).fetchall())
        finally:
            con.close()
        expected = {f: rows_in(p) for f, p in files.items()}
        print(f"\n5. {MONTH}: {sum(loaded.values()):,} raw rows loaded; the served files hold {sum(expected.values()):,} "
              f"({', '.join(f'{f} {n:,}' for f, n in expected.items())})")
        if loaded != expected:
            problems.append(f"{MONTH} rows loaded {loaded} != served {expected}")
        if build_run is None:
            problems.append("the daemon started no warehouse_build")
        else:
            said = [e.message for e in instance.all_logs(build_run.run_id) if "incremental dbt build" in (e.message or "")]
            if not said and build_run.parent_run_id:  # a retry from the failed step: its parent ran dbt
                said = [e.message for e in instance.all_logs(build_run.parent_run_id)
                        if "incremental dbt build" in (e.message or "")]
            print(f"   warehouse_build's dbt step: {said[0] if said else 'no incremental build in its log'}")
            if not said or MONTH not in said[0]:
                problems.append("the daemon's warehouse_build did not rebuild the month alone")
        versions = sorted(p.name for p in (data / "reports" / QUARTER).glob("*/v*"))
        outbox = sorted((data / "outbox").rglob("*.eml")) if (data / "outbox").exists() else []
        print(f"   {QUARTER} pack versions on disk: {sorted(set(versions))}; {len(outbox)} messages in the outbox")
        if "v2" not in versions:
            problems.append(f"no new {QUARTER} pack version after the month")

        if args.compare:
            daemon.terminate()
            daemon.wait(timeout=60)
            daemon = None
            print(f"\n6. reference: a full build from scratch with {MONTH} bundled ...", flush=True)
            synthetic_history.add_last(synth)
            ref_data = work / "reference"
            print(f"   {build(build_env(ref_data, synth, info['first_month']), logs / 'reference-build.log'):.1f} s")
            differences = compare(Path(env_warehouse), ref_data / "warehouse.duckdb")
            for line in differences:
                print(f"   DIFFERS {line}")
            if differences:
                problems.append(f"{len(differences)} tables differ from the full build")
            else:
                print("   every row of every table equals the full build's")
    finally:
        for process, _ in readers:
            process.terminate()
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=60)
        if server is not None:
            server.close()
        if not args.keep and not problems:
            shutil.rmtree(work, ignore_errors=True)
    if problems:
        print("\nFAILED: " + "; ".join(problems) + f"\n(work dir kept: {work})")
        return 1
    print("\nall checks passed" + (f" (work dir kept: {work})" if args.keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
