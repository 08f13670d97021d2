"""Benchmark: full, no-change and new-month builds over N years of (synthetic) police.uk history.

    uv run --frozen python benchmarks/incremental_build.py [--years 2,5,10] [--workdir /tmp] [--keep]

--years takes fractions (1.5 = 18 months, the smallest history with which the full build's crime exception
report has a quarter to test once 2024-06 is left out; a shorter one is refused before building).

For each history size: benchmarks/synthetic_history.py makes a snapshots dir of N years for all four
Welsh forces ending 2024-05 (2024-06 left out); then, each as `python -m orchestration.build` in a
subprocess from the repo root (as benchmarks/build_warehouse.py and `make run` do) with a fresh
COHESION_DATA_DIR, COHESION_SNAPSHOTS_DIR=the synthetic dir and POLICE_UK_FIRST_MONTH=its first month:

1. FULL build from scratch;
2. NO-CHANGE rebuild (the planner should find nothing to do);
3. NEW-MONTH build: 2024-06 is added for the four forces, so the month is loaded and what is downstream
   of raw/police_uk_street_crimes (marts, checks, report, packs) is rebuilt.

Recorded per build: wall time, the `plan:` line the build printed, the Dagster runs it made and their
durations, the slowest steps of its runs (from the instance's event log), the build process's peak RSS
(VmHWM, reported by a small wrapper that runs the build in-process), the largest subprocess's (dbt) peak
RSS and the peak of the whole process tree's summed RSS (both sampled from /proc every 0.5 s).
After the full build: raw police rows (the warehouse opened read-only), dbt's own model times (sum of
execution_time over models in the build's run_results.json, and the dbt invocation's elapsed time), and
the "same SQL run directly in DuckDB": every model's compiled SQL from that run_results.json, run as
`create or replace table|view <relation> as ...` in dependency order (the build's manifest.json) on a
copy of the built warehouse, with the exception engine's functions registered as dbt's plugin does.

Expects an installed environment and a current dbt manifest (`make manifest`, which `make run` runs
first; checked before each size). The builds read this checkout's code and dbt project as they run: an
edit made meanwhile shows in the next build's plan (a "no-change" build that plans a full one) or fails a
build whose manifest no longer matches. --isolated runs every build in a copy of the checkout made at the
start (git's tracked and new files except data/, data/snapshots being a symlink to the real one, which the
demo partner extracts read; a dbt manifest parsed there), so a shared checkout being edited does not
change what is measured; dbt's target dirs are then written in the copy.

Nothing is written under data/: every build's data dir is a temporary dir under --workdir (removed
afterwards unless --keep or a build fails). dagster-dbt writes one target dir per dbt run under
dbt_project/target/ (cohesion_dbt_assets-<run id>-*); those of this benchmark's runs are removed at the
end unless --keep or a build failed. Exits 1 if a build fails, after printing the last 30 lines of its
output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic_history  # noqa: E402

# the checkout the builds run in: this one, or with --isolated a copy made at the start (main())
CHECKOUT = REPO


def target_dir() -> Path:
    return CHECKOUT / "dbt_project" / "target"

# Runs the build exactly as `python -m orchestration.build` would, then writes its own peak RSS to the file
# named by argv[1]: VmHWM, the high-water mark of this process's memory since it started. Not getrusage's
# ru_maxrss: Linux carries the pre-exec high-water mark of the process that spawned it into that (a child
# spawned by a 1.5 GB process reports at least 1.5 GB), so RUSAGE_CHILDREN says nothing about dbt and
# RUSAGE_SELF would include this benchmark's own memory. Both are recorded for reference.
WRAPPER = r"""
import json, resource, runpy, sys
out = sys.argv[1]


def hwm_kb():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))


sys.argv = [sys.argv[0]]
code = 0
try:
    runpy.run_module("orchestration.build", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
except BaseException:
    import traceback
    traceback.print_exc()
    code = 1
finally:
    with open(out, "w") as handle:
        json.dump({"hwm_kb": hwm_kb(), "ru_maxrss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "ru_maxrss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, handle)
sys.exit(code)
"""


@dataclass
class Build:
    name: str
    seconds: float = 0.0
    returncode: int = 0
    plan: str = "?"
    self_mb: float = 0.0  # the build process's peak RSS (VmHWM)
    child_mb: float = 0.0  # the largest descendant's peak RSS (VmHWM, sampled)
    child_name: str = ""
    tree_mb: float = 0.0  # peak of the summed RSS of the whole tree (sampled)
    runs: list[tuple[str, str, str, float]] = field(default_factory=list)  # run id, job, status, seconds
    steps: list[tuple[float, str]] = field(default_factory=list)  # seconds, run job / step key
    log: Path | None = None
    to_marts: float | None = None  # build start -> the dbt step (marts and their tests) finished
    to_report: float | None = None  # build start -> the crime exception report written



# ------------------------------------------------------------------------------------------ process tree RSS
def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as handle:
                    kids += [int(x) for x in handle.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, 0s if it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            args = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return "?"
    # python -m x / .venv/bin/dbt build ...: the program and its first argument
    shown = [Path(a).name if i == 0 or "/" in a else a for i, a in enumerate(args[:3])]
    return " ".join(" ".join(shown).split())[:60]  # one line (python -c's code has newlines)


class TreeSampler(threading.Thread):
    """Every `interval` s: the summed RSS of a process and all its descendants (its peak is kept), and each
    descendant's own high-water mark (VmHWM, as last seen before it ended)."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self.descendants: dict[int, tuple[int, str]] = {}  # pid: (VmHWM kb, command)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            root = _name(self.pid)  # read each time: the first sample may come before the build's exec
            total, todo, seen = 0, [self.pid], set()
            while todo:
                pid = todo.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                todo += _children(pid)
                name = _name(pid)
                if pid != self.pid and name == root:
                    # forked by the build and not yet exec'd (subprocess.Popen between fork and exec): a
                    # copy-on-write image of the build process, not memory of its own; its VmHWM and RSS are the
                    # build's (counting them made a "largest child" of the build's own size and doubled the tree)
                    continue
                rss, hwm = _memory_kb(pid)
                total += rss
                if pid != self.pid and hwm:
                    old = self.descendants.get(pid)
                    self.descendants[pid] = (max(hwm, old[0] if old else 0), name if old is None else old[1])
            self.peak_kb = max(self.peak_kb, total)
            self._stop_event.wait(self.interval)

    def largest_child(self) -> tuple[int, str]:
        return max(self.descendants.values(), default=(0, ""))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# ---------------------------------------------------------------------------------------------- the builds
def build_env(data_dir: Path, snapshots: Path, first_month: str) -> dict[str, str]:
    # every COHESION_* setting from the caller's shell is dropped, so nothing points at the repo's data/
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHESION_")}
    env.update({
        "COHESION_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(data_dir / "dagster_home"),
        "COHESION_SNAPSHOTS_DIR": str(snapshots),
        "COHESION_MODE": "snapshot",
        "POLICE_UK_FIRST_MONTH": first_month,
    })
    return env


def _runs(data_dir: Path) -> list[tuple[str, str, str, float]]:
    """(run id, job, status, seconds) of every run in the build's Dagster instance, oldest first."""
    db = data_dir / "dagster_home" / "history" / "runs.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("select run_id, pipeline_name, status, partition, start_time, end_time "
                           "from runs order by id").fetchall()
    finally:
        con.close()
    return [(rid, job + (f"[{part}]" if part else ""), status, (end or 0) - (start or 0) if start else 0.0)
            for rid, job, status, part, start, end in rows]


def _steps(data_dir: Path, run_id: str, job: str) -> list[tuple[float, str]]:
    """(seconds, job / step) of every finished step of a run, from its event log (sqlite, per run)."""
    from datetime import datetime

    db = data_dir / "dagster_home" / "history" / "runs" / f"{run_id}.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        events = con.execute("select dagster_event_type, step_key, timestamp from event_logs where dagster_event_type "
                             "in ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id").fetchall()
    finally:
        con.close()
    started, out = {}, []
    for kind, key, stamp in events:
        at = datetime.fromisoformat(str(stamp))
        if kind == "STEP_START":
            started[key] = at
        elif key in started:
            out.append(((at - started[key]).total_seconds(), f"{job} / {key}{' (failed)' if kind == 'STEP_FAILURE' else ''}"))
    return out


def _step_done(data_dir: Path, run_ids: list[str], step_key: str):
    """When a step of one of these runs last succeeded (UTC, naive, as Dagster's sqlite event log stores it)."""
    from datetime import datetime

    done = None
    for run_id in run_ids:
        db = data_dir / "dagster_home" / "history" / "runs" / f"{run_id}.db"
        if not db.exists():
            continue
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = con.execute("select max(timestamp) from event_logs where dagster_event_type = 'STEP_SUCCESS' "
                              "and step_key = ?", [step_key]).fetchone()
        finally:
            con.close()
        if row and row[0]:
            at = datetime.fromisoformat(str(row[0]))
            done = at if done is None or at > done else done
    return done


def run_build(name: str, env: dict[str, str], data_dir: Path, logs: Path) -> Build:
    from datetime import datetime, timezone

    result = Build(name)
    wall_start = datetime.now(timezone.utc).replace(tzinfo=None)
    result.log = logs / f"{name}.log"
    usage = logs / f"{name}.rusage.json"
    before = {r[0] for r in _runs(data_dir)}
    started = time.perf_counter()
    with result.log.open("w") as out:
        child = subprocess.Popen([sys.executable, "-c", WRAPPER, str(usage)], cwd=CHECKOUT, env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
        sampler = TreeSampler(child.pid)
        sampler.start()
        result.returncode = child.wait()
        sampler.stop()
    result.seconds = time.perf_counter() - started
    result.tree_mb = sampler.peak_kb / 1024
    child_kb, result.child_name = sampler.largest_child()
    result.child_mb = child_kb / 1024
    if usage.exists():
        rusage = json.loads(usage.read_text())
        result.self_mb = rusage["hwm_kb"] / 1024
    text = result.log.read_text(errors="replace")
    result.plan = next((line[len("plan: "):].strip() for line in text.splitlines() if line.startswith("plan: ")), "?")
    result.runs = [r for r in _runs(data_dir) if r[0] not in before]
    result.steps = sorted((s for rid, job, _, _ in result.runs for s in _steps(data_dir, rid, job)), reverse=True)
    ids = [r[0] for r in result.runs]
    for attr, key in (("to_marts", "cohesion_dbt_assets"), ("to_report", "reports__crime_exception_report")):
        done = _step_done(data_dir, ids, key)
        setattr(result, attr, (done - wall_start).total_seconds() if done else None)
    return result


def fail(build: Build, workdir: Path) -> None:
    lines = build.log.read_text(errors="replace").splitlines() if build.log else []
    print(f"\n{build.name} build FAILED (exit {build.returncode}); its last 30 lines of output:", file=sys.stderr)
    for line in lines[-30:]:
        print(f"  | {line}", file=sys.stderr)
    print(f"full log: {build.log}; the work dir {workdir} is kept", file=sys.stderr)
    sys.exit(1)


def police_rows(warehouse: Path) -> tuple[int, int]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select count(*), count(distinct month) from raw.police_uk_street_crimes").fetchone()
    finally:
        con.close()


# ------------------------------------------------------------------------------- dbt artifacts and direct SQL
def dbt_target(run_id: str) -> Path | None:
    """The target dir dagster-dbt used for the run (cohesion_dbt_assets-<run id[:7]>-<uuid[:7]>), the newest
    one with run_results.json if dbt was started more than once (a lock retry)."""
    dirs = [d for d in target_dir().glob(f"*-{run_id[:7]}-*") if (d / "run_results.json").exists()]
    return max(dirs, key=lambda d: (d / "run_results.json").stat().st_mtime) if dirs else None


def dbt_times(target: Path) -> dict:
    results = json.loads((target / "run_results.json").read_text())
    by_type: dict[str, float] = {}
    for r in results["results"]:
        kind = r["unique_id"].split(".")[0]
        by_type[kind] = by_type.get(kind, 0.0) + (r.get("execution_time") or 0.0)
    def slowest(kind: str, part: int) -> list[tuple[float, str]]:
        return sorted(((r.get("execution_time") or 0.0, r["unique_id"].split(".")[part]) for r in results["results"]
                       if r["unique_id"].startswith(kind + ".")), reverse=True)

    return {"elapsed": results.get("elapsed_time", 0.0), "by_type": by_type, "models": slowest("model", -1),
            "tests": slowest("test", 2),
            "count": sum(1 for r in results["results"] if r["unique_id"].startswith("model."))}


def model_order(manifest: dict) -> list[str]:
    """Model unique ids in dependency order (upstream first; ties by name)."""
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    deps = {uid: [d for d in n.get("depends_on", {}).get("nodes", []) if d in models] for uid, n in models.items()}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(uid: str) -> None:
        if state.get(uid) == 2:
            return
        if state.get(uid) == 1:
            raise ValueError(f"dependency cycle at {uid}")
        state[uid] = 1
        for dep in sorted(deps[uid]):
            visit(dep)
        state[uid] = 2
        order.append(uid)

    for uid in sorted(models):
        visit(uid)
    return order


def direct_sql(warehouse: Path, target: Path, scratch: Path) -> tuple[float, list[tuple[float, str]], int]:
    """Run every model's compiled SQL of the build directly in DuckDB on a copy of the warehouse; returns
    (total seconds, [(seconds, model)], models run). The copy keeps the file name, so the compiled SQL's
    catalog ("warehouse") resolves."""
    import duckdb

    from orchestration.lib.duckdb_functions import register

    manifest = json.loads((target / "manifest.json").read_text())
    compiled = {r["unique_id"]: r for r in json.loads((target / "run_results.json").read_text())["results"]
                if r["unique_id"].startswith("model.")}
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / warehouse.name
    shutil.copy(warehouse, copy)
    wal = warehouse.with_name(warehouse.name + ".wal")
    if wal.exists():
        shutil.copy(wal, copy.with_name(wal.name))
    times: list[tuple[float, str]] = []
    con = duckdb.connect(str(copy))
    try:
        register(con)
        for uid in model_order(manifest):
            node = manifest["nodes"][uid]
            materialized = node["config"].get("materialized", "view")
            if materialized == "ephemeral":
                continue  # inlined into its consumers' compiled SQL
            result = compiled.get(uid)
            sql = (result or {}).get("compiled_code")
            relation = (result or {}).get("relation_name") or node.get("relation_name")
            if not sql:
                path = target / "compiled" / node["package_name"] / node["original_file_path"]
                if not path.exists():
                    print(f"    (no compiled SQL for {uid}: skipped)")
                    continue
                sql = path.read_text(encoding="utf-8")
            sql = sql.strip().rstrip(";")
            kind = "view" if materialized == "view" else "table"
            started = time.perf_counter()
            con.execute(f"create or replace {kind} {relation} as (\n{sql}\n)")
            times.append((time.perf_counter() - started, node["name"]))
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return sum(t for t, _ in times), sorted(times, reverse=True), len(times)


# ---------------------------------------------------------------------------------------------------- main
def stale_manifest() -> list[str]:
    """The dbt files newer than dbt_project/target/manifest.json (the Makefile's rule for `make manifest`):
    the build plans and runs from that manifest, so a stale one fails the dbt step (an unknown node)."""
    manifest = target_dir() / "manifest.json"
    if not manifest.exists():
        return ["(no manifest)"]
    since = manifest.stat().st_mtime
    files = [p for folder in ("dbt_project/models", "dbt_project/macros", "dbt_project/tests", "seeds")
             for p in (CHECKOUT / folder).rglob("*") if p.suffix in {".sql", ".yml", ".csv"} and p.is_file()]
    files += [CHECKOUT / "dbt_project" / "dbt_project.yml", CHECKOUT / "uv.lock"]
    return sorted(str(p.relative_to(CHECKOUT)) for p in files if p.exists() and p.stat().st_mtime > since)


def isolated_checkout(dest: Path) -> Path:
    """A copy of this checkout's files (tracked and new, as they are now; not data/) with a dbt manifest
    parsed from them, so edits made in the checkout while the benchmark runs do not reach its builds. The
    copy runs with this environment's Python (the project is imported from the working directory)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    count = 0
    for rel in sorted(set(filter(None, listed))):
        source = REPO / rel
        if rel.startswith("data/") or not source.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / rel)
        count += 1
    # the demo partner extracts are drawn from the real bundled Gwent files at <repo>/data/snapshots whatever
    # COHESION_SNAPSHOTS_DIR says (lib/partner_extracts/demo.py): the copy sees the real ones, read only
    (dest / "data").mkdir(exist_ok=True)
    (dest / "data" / "snapshots").symlink_to(REPO / "data" / "snapshots", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHESION_")}
    env.update({"COHESION_WAREHOUSE_PATH": str(dest / "parse.duckdb"), "COHESION_REPO_ROOT": str(dest),
                "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    subprocess.run([str(Path(sys.executable).with_name("dbt")), "parse", "--quiet"], cwd=dest / "dbt_project",
                   env=env, check=True)
    print(f"isolated checkout: {count} files of {REPO} copied to {dest}, dbt manifest parsed there", flush=True)
    return dest


def check_manifest() -> None:
    stale = stale_manifest()
    if stale:
        raise SystemExit(f"the dbt manifest is older than {', '.join(stale[:3])}{' …' if len(stale) > 3 else ''}: "
                         "run `make manifest` first (as `make run` does)")


def one_size(years: float, base: Path, keep: bool, direct: bool) -> dict:
    if CHECKOUT == REPO:
        check_manifest()
    workdir = Path(tempfile.mkdtemp(prefix=f"incremental-{years:g}y-", dir=base))
    snapshots, data_dir, logs = workdir / "snapshots", workdir / "data", workdir / "logs"
    logs.mkdir()
    print(f"\n=== {years:g} year(s) of history (work dir {workdir})", flush=True)
    made = synthetic_history.build(snapshots, years, drop_last=True, log=lambda m: print("  " + m, flush=True))
    env = build_env(data_dir, snapshots, made["first_month"])
    row = {"years": years, "first_month": made["first_month"], "builds": {}}
    run_ids: list[str] = []
    ok = False

    def step(name: str) -> Build:
        print(f"  {name} build ...", flush=True)
        build = run_build(name, env, data_dir, logs)
        run_ids.extend(r[0] for r in build.runs)
        row["builds"][name] = build
        print(f"    {build.seconds:.1f} s; peak RSS: build process {build.self_mb:.0f} MB, largest child "
              f"{build.child_mb:.0f} MB ({build.child_name or 'none'}), whole tree {build.tree_mb:.0f} MB; "
              f"plan: {build.plan}", flush=True)
        if build.to_report is not None:
            print(f"      load -> marts: {build.to_marts:.1f} s; load -> marts -> crime exception report: "
                  f"{build.to_report:.1f} s (from the build's start)", flush=True)
        for _, job, status, seconds in build.runs:
            print(f"      run {job}: {status.lower()} in {seconds:.1f} s", flush=True)
        if build.steps:
            print("      slowest steps: " + ", ".join(f"{k} {t:.1f}s" for t, k in build.steps[:6]), flush=True)
        if build.returncode != 0:
            fail(build, workdir)
        return build

    try:
        full = step("full")
        warehouse = data_dir / "warehouse.duckdb"
        row["rows"], row["months"] = police_rows(warehouse)
        print(f"    raw.police_uk_street_crimes: {row['rows']:,} rows in {row['months']} months", flush=True)
        wb = [r for r in full.runs if r[1] == "warehouse_build"]
        target = dbt_target(wb[-1][0]) if wb else None
        row["dbt"] = dbt_times(target) if target else None
        if row["dbt"]:
            d = row["dbt"]
            print(f"    dbt ({target.name}): {d['count']} models {d['by_type'].get('model', 0):.1f} s, seeds "
                  f"{d['by_type'].get('seed', 0):.1f} s, tests {d['by_type'].get('test', 0):.1f} s (summed over "
                  f"dbt's threads); dbt build elapsed {d['elapsed']:.1f} s", flush=True)
            print("      slowest models: " + ", ".join(f"{n} {t:.1f}s" for t, n in d["models"][:5]), flush=True)
            print("      slowest tests: " + ", ".join(f"{n} {t:.1f}s" for t, n in d["tests"][:4]), flush=True)
        else:
            print("    (no dbt run_results.json found for the warehouse_build run)", flush=True)
        row["direct"] = None
        if direct and target:
            try:
                total, times, count = direct_sql(warehouse, target, workdir / "direct")
            except Exception as exc:  # noqa: BLE001 - the builds after it are still worth measuring
                print(f"    same SQL directly in DuckDB FAILED: {type(exc).__name__}: {exc}", flush=True)
            else:
                row["direct"] = total
                print(f"    same SQL directly in DuckDB: {count} models in {total:.1f} s; slowest: "
                      + ", ".join(f"{n} {t:.1f}s" for t, n in times[:5]), flush=True)

        nochange = step("no-change")
        if not nochange.plan.startswith("nothing changed"):
            print("    NOTE: the no-change build planned work: something it fingerprints changed between the "
                  "builds (code or the dbt manifest edited in this checkout meanwhile? --isolated avoids that)",
                  flush=True)

        added = synthetic_history.add_last(snapshots, log=lambda m: print("  " + m, flush=True))
        new = step("new-month")
        expected = f"only what changed: police.uk months {synthetic_history.LAST_MONTH}"
        if new.plan != expected:
            print(f"    NOTE: the new-month build planned more than the new month (expected '{expected}')", flush=True)
        row["rows_after"], row["months_after"] = police_rows(warehouse)
        grew = row["rows_after"] - row["rows"]
        print(f"    raw.police_uk_street_crimes: {row['rows_after']:,} rows in {row['months_after']} months "
              f"(+{grew:,}; the new month's files hold {sum(added.values()):,})", flush=True)
        nb = [r for r in new.runs if r[1] == "warehouse_build"]
        new_target = dbt_target(nb[-1][0]) if nb else None
        row["dbt_new"] = dbt_times(new_target) if new_target else None
        if row["dbt_new"]:
            d = row["dbt_new"]
            print(f"    dbt: {d['count']} models {d['by_type'].get('model', 0):.1f} s, tests "
                  f"{d['by_type'].get('test', 0):.1f} s; dbt build elapsed {d['elapsed']:.1f} s", flush=True)
        ok = True
    finally:
        # a failed build's dbt target dirs stay beside its kept work dir
        if ok and not keep:
            for rid in run_ids:
                for d in target_dir().glob(f"cohesion_dbt_assets-{rid[:7]}-*"):
                    shutil.rmtree(d, ignore_errors=True)
    if keep:
        print(f"  kept: {workdir} (and this benchmark's dbt target dirs under {target_dir()})", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", default="2,5,10", help="history sizes in years, comma-separated (default 2,5,10)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where each size's temporary snapshots and data dirs go (default the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dirs and dbt target dirs")
    parser.add_argument("--no-direct-sql", action="store_true", help="skip the direct-DuckDB timing")
    parser.add_argument("--isolated", action="store_true",
                        help="run the builds in a copy of this checkout made at the start (its code, dbt project and "
                             "a freshly parsed manifest), so others' edits meanwhile do not change what is measured; "
                             "dbt's target dirs then go there too")
    args = parser.parse_args()
    sizes = [float(y) for y in args.years.split(",") if y.strip()]
    needed = synthetic_history.months_for_report(drop_last=True)
    short = [y for y in sizes if synthetic_history.month_count(y) < needed]
    if short:
        raise SystemExit(f"--years {', '.join(f'{y:g}' for y in short)}: too short. The full build (2024-06 left out) "
                         f"needs {needed} months (--years {needed / 12:g}) for the crime exception report to have a "
                         "quarter with three complete months and the four quarters before it; with fewer its "
                         "reports__crime_exception_report step fails (NoTestableQuarter).")
    base = args.workdir.resolve()
    data = (REPO / "data").resolve()
    if base == data or data in base.parents:
        raise SystemExit(f"--workdir must not be under {data}")
    base.mkdir(parents=True, exist_ok=True)
    global CHECKOUT
    copy = None
    if args.isolated:
        copy = Path(tempfile.mkdtemp(prefix="incremental-checkout-", dir=base))
        CHECKOUT = isolated_checkout(copy)
    try:
        rows = [one_size(y, base, args.keep, not args.no_direct_sql) for y in sizes]
    finally:
        if copy and not args.keep:
            shutil.rmtree(copy, ignore_errors=True)

    def s(value) -> str:
        return f"{value:.1f}" if isinstance(value, (int, float)) else "-"

    header = ["years", "police rows", "full build s", "full to report s", "peak MB", "dbt MB", "tree MB", "no-change s",
              "new-month s", "new to report s", "new peak MB", "new tree MB", "direct-SQL s", "dbt models s",
              "dbt build s", "new dbt models s"]
    table = [header]
    for r in rows:
        b = r["builds"]
        full, new = b["full"], b["new-month"]
        dbt, dbt_new = r.get("dbt") or {}, r.get("dbt_new") or {}
        table.append([
            f"{r['years']:g}", f"{r['rows']:,}", s(full.seconds), s(full.to_report), f"{full.self_mb:.0f}",
            f"{full.child_mb:.0f}", f"{full.tree_mb:.0f}", s(b["no-change"].seconds), s(new.seconds),
            s(new.to_report), f"{new.self_mb:.0f}",
            f"{new.tree_mb:.0f}", s(r.get("direct")), s(dbt.get("by_type", {}).get("model")), s(dbt.get("elapsed")),
            s(dbt_new.get("by_type", {}).get("model")),
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for row in table:
        print(" | ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    print("\nplans:")
    for r in rows:
        for name, b in r["builds"].items():
            print(f"  {r['years']:g}y {name:9}: {b.plan}")
    print("\nto report s: from the build's start to the crime exception report written (load -> marts -> checks ->"
          "\nreport); the rest of the build is the monitoring packs, the atlas and the BI copies.")
    print("\npeak MB: the build process's own peak RSS (VmHWM); dbt MB: the largest subprocess's (dbt) own peak"
          "\n(VmHWM, sampled every 0.5 s); tree MB: peak of the whole process tree's summed RSS (sampled). dbt models"
          "\ns: sum of the models' execution_time in the build's run_results.json (dbt runs 2 threads); dbt build s:"
          "\nthe dbt invocation's elapsed time (seeds, models, tests); direct-SQL s: the same compiled model SQL run"
          "\none model after another directly in DuckDB on a copy of the built warehouse.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
