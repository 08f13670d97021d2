"""A build killed with kill -9 must not make every later build wait for ever (issue 14, "failures stay local").

Reproduced for real: a process materializes an asset in the `duckdb_warehouse` pool on an instance configured
like the project's (orchestration/dagster.yaml: one step per pool), and is killed while it holds the slot.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from orchestration.defs.runs import PID_TAG, RUN_TAG, release_dead_runs, report_slot_holders

REPO = Path(__file__).resolve().parents[1]

HOLD = f"""
import os, sys, time
import dagster as dg

@dg.asset(pool="duckdb_warehouse")
def slow():
    print("holding", flush=True)
    time.sleep(300)

dg.materialize([slow], instance=dg.DagsterInstance.get(),
               tags={{"{RUN_TAG}": "make-run", "{PID_TAG}": str(os.getpid())}})
"""

NEXT = """
import dagster as dg

@dg.asset(pool="duckdb_warehouse")
def quick():
    return 1

print("success" if dg.materialize([quick], instance=dg.DagsterInstance.get()).success else "failure", flush=True)
"""


def _instance_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    return home


def test_a_killed_build_frees_its_pool_slot_and_the_next_build_does_not_hang(tmp_path):
    home = _instance_home(tmp_path)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        (slot,) = instance.event_log_storage.get_concurrency_info("duckdb_warehouse").claimed_slots
        # before the fix the next build waited here for ever, printing nothing
        said = []
        assert report_slot_holders(instance, said.append) == [slot.run_id]
        assert "held by run" in said[0] and slot.run_id[:8] in said[0]
        assert release_dead_runs(instance, said.append) == [slot.run_id]
        assert instance.get_run_by_id(slot.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("duckdb_warehouse").claimed_slots == []
        assert release_dead_runs(instance, said.append) == []  # idempotent
    finally:
        instance.dispose()
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", NEXT], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("success"), out.stderr[-2000:]
    assert time.monotonic() - started < 120


def test_a_live_build_is_not_released(tmp_path):
    """A run whose process is still alive (another make run) keeps its slot: this build waits and says so."""
    home = _instance_home(tmp_path)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            assert release_dead_runs(instance, lambda m: None) == []
            assert len(report_slot_holders(instance, lambda m: None)) == 1
        finally:
            instance.dispose()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)


def test_a_daemon_run_is_judged_by_the_pid_its_launcher_reported(tmp_path):
    """The daemon's runs have no pid tag: the code server's "Started process for run (pid: N)" event says which
    process runs them. Its process alive (started before the event) → kept; gone → failed, slot freed; a pid whose
    process started after the event is a reused number → gone. Only when asked to look at the daemon's runs."""
    from dagster._core.events import EngineEventData
    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration.defs.runs import run_process
    from orchestration.lib.processes import process_gone, process_started

    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    me = os.getpid()
    assert not process_gone(me, time.time()) and process_gone(done.pid, time.time())
    assert process_gone(me, process_started(me) - 10), "a process younger than the run's launch is another process"

    instance = dg.DagsterInstance.from_config(str(_instance_home(tmp_path)))
    worker = None
    try:
        runs = {}
        for name, pid in (("alive", me), ("dead", done.pid)):
            run = instance.add_run(DagsterRun(job_name=f"daemon_{name}", status=dg.DagsterRunStatus.STARTED))
            instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
            runs[name] = run
            assert run_process(instance, run)[0] == pid
        # queued for a while before its process started (a process younger than the run, not than the event)
        late = instance.add_run(DagsterRun(job_name="daemon_late", status=dg.DagsterRunStatus.STARTING))
        time.sleep(3.5)
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        time.sleep(0.5)
        instance.report_engine_event(f"Started process for run (pid: {worker.pid}).", late,
                                     EngineEventData.in_process(worker.pid))
        queued = instance.add_run(DagsterRun(job_name="daemon_queued", status=dg.DagsterRunStatus.STARTING))
        assert run_process(instance, queued) == (0, 0.0)  # no process yet: left alone
        assert release_dead_runs(instance, lambda m: None, daemon_runs=False) == []
        said = []
        assert release_dead_runs(instance, said.append, daemon_runs=True) == [runs["dead"].run_id]
        assert f"its process {done.pid} is gone" in said[0] and "started by the daemon" in said[0]
        assert instance.get_run_by_id(runs["dead"].run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(runs["alive"].run_id).status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.STARTING
        assert instance.get_run_by_id(late.run_id).status == dg.DagsterRunStatus.STARTING
    finally:
        if worker is not None:
            worker.kill()
            worker.wait()
        instance.dispose()


DBT_STEP = """
import dagster as dg
from orchestration.defs.dbt import cohesion_dbt_assets, dbt_resource

print("starting", flush=True)
dg.materialize([cohesion_dbt_assets], resources={"dbt": dbt_resource()})
"""


def _process_state(pid: int) -> str:
    """'R', 'S', … from /proc; 'Z' (dead, not yet reaped) or '' (gone) once it has ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def test_a_build_killed_during_dbt_takes_its_dbt_with_it(built, tmp_path):
    """make run (or a daemon's run) killed with kill -9 while its dbt step runs: its dbt process ends with it
    (lib/dbt_plugin.py), instead of running on for a minute holding the warehouse's write lock, so that the next
    build waited for it, and writing after the run was marked failed. Real: a copy of the session's warehouse, a
    process running the real dbt asset (dbt build --full-refresh of the whole project, ~45 s), killed once dbt
    holds the file; dbt is gone within seconds without having finished, and the warehouse opens, every mart whole."""
    import duckdb

    from orchestration.lib.warehouse import _HOLDER, connect

    data = tmp_path / "data"
    data.mkdir()
    warehouse = data / "warehouse.duckdb"
    shutil.copy(built["settings"].warehouse_path, warehouse)
    con = duckdb.connect(str(warehouse), read_only=True)
    tables = [f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables() "
                                                  "where schema_name = 'marts' order by all").fetchall()]
    before = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
    con.close()
    env = {**os.environ, "COHESION_DATA_DIR": str(data), "COHESION_WAREHOUSE_PATH": str(warehouse),
           "DAGSTER_HOME": str(_instance_home(tmp_path)), "DBT_TARGET_PATH": str(tmp_path / "dbt_target")}
    env.pop("COHESION_DBT_PARENT_PID", None)
    step = subprocess.Popen([sys.executable, "-c", DBT_STEP], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    dbt_pid = 0
    try:
        assert step.stdout.readline().strip() == "starting"
        deadline = time.monotonic() + 180
        while not dbt_pid and time.monotonic() < deadline and step.poll() is None:
            try:
                duckdb.connect(str(warehouse), read_only=True).close()
            except duckdb.IOException as exc:
                holder = _HOLDER.search(str(exc))
                if holder and int(holder["pid"]) != step.pid:
                    dbt_pid = int(holder["pid"])  # dbt has its connection: its plugin has run
            time.sleep(0.2)
        assert dbt_pid, f"dbt never opened the warehouse: {step.stdout.read() if step.poll() is not None else ''}"
        assert Path(f"/proc/{dbt_pid}/cmdline").read_bytes().split(b"\0")[1].endswith(b"dbt")
        assert _process_state(dbt_pid) not in ("", "Z")
        step.send_signal(signal.SIGKILL)
        step.wait(timeout=30)
        killed = time.monotonic()
        while _process_state(dbt_pid) not in ("", "Z") and time.monotonic() - killed < 15:
            time.sleep(0.1)
        assert _process_state(dbt_pid) in ("", "Z"), "dbt ran on after the process that started it was killed"
    finally:
        if step.poll() is None:
            step.kill()
            step.wait(timeout=30)
        if dbt_pid and _process_state(dbt_pid) not in ("", "Z"):
            os.kill(dbt_pid, signal.SIGKILL)
    # it was stopped, not finished: a finished dbt writes run_results.json
    assert not list((tmp_path / "dbt_target").glob("*/run_results.json"))
    con = connect(warehouse, wait_seconds=10)  # writable at once: no one holds it
    try:
        assert {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables} == before
    finally:
        con.close()


def test_only_a_dbt_started_by_the_named_process_is_tied_to_it():
    """lib/dbt_plugin.die_with_parent in a real child process: no COHESION_DBT_PARENT_PID (dbt run by hand) or
    another live process named → left alone; its parent named → watched; a dead process named (the build was
    killed while dbt started) → ends at once, by SIGTERM."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    probe = "from orchestration.lib.dbt_plugin import die_with_parent; print(die_with_parent(), flush=True)"
    cases = {"": "False", str(os.getpid()): "True", str(os.getppid()): "False", str(done.pid): None}
    for named, expected in cases.items():
        env = {k: v for k, v in os.environ.items() if k != "COHESION_DBT_PARENT_PID"}
        if named:
            env["COHESION_DBT_PARENT_PID"] = named
        out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=REPO, capture_output=True, text=True,
                             timeout=60)
        if expected is None:
            assert out.returncode == -signal.SIGTERM and out.stdout == "", (named, out)
        else:
            assert out.returncode == 0 and out.stdout.strip() == expected, (named, out)
