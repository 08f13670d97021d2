"""A run the daemon launched, killed while it holds the warehouse's pool slot, must not block every later run.

Reproduced for real with `dagster-daemon run` on an instance configured like the project's
(orchestration/dagster.yaml: one step per pool, the queued run coordinator, run monitoring) and a small code
location with the project's release_dead_runs sensor: before the fix, the code server marked the killed run failed
but its slot stayed claimed and the next run in the pool waited for ever (seen through the real warehouse's
daemon too). Two ways to die: the run's process alone (the code server lives on and reports it), and the daemon
with its code server and the run (a crash or restart: nobody reports it; the sensor releases it). Either way the
daemon then starts the run again once (dagster.yaml run_retries), unattended.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from orchestration.defs.runs import daemon_alive, release_dead_runs, run_process

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CODE = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
import dagster as dg
from orchestration.defs.runs import release_dead_runs_sensor

@dg.asset(pool="duckdb_warehouse")
def slow(context):
    if context.run.parent_run_id is None:  # the daemon's retry of a killed run (dagster.yaml run_retries) ends at once
        time.sleep(600)

@dg.asset(pool="duckdb_warehouse")
def quick():
    return 1

defs = dg.Definitions(
    assets=[slow, quick],
    jobs=[dg.define_asset_job("slow_job", [slow], executor_def=dg.in_process_executor),
          dg.define_asset_job("quick_job", [quick], executor_def=dg.in_process_executor)],
    sensors=[release_dead_runs_sensor],
)
"""


def _slots(instance) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info("duckdb_warehouse").claimed_slots]


def _wait(what: str, condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            print(f"{time.strftime('%H:%M:%S')} {what}", flush=True)  # beside the daemon log's times on a failure
            return value
        time.sleep(0.5)
    raise AssertionError(f"after {timeout:.0f} s: {what}")


def test_a_killed_daemon_run_frees_its_slot_and_the_next_run_goes_ahead(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    code = tmp_path / "dead_runs_location.py"  # not code.py: that is a standard-library module
    code.write_text(CODE)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1"}

    def daemon() -> subprocess.Popen:
        with (tmp_path / "daemon.log").open("a") as log:
            return subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-f", str(code)], cwd=tmp_path, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def launch(job: str) -> None:
        subprocess.run([str(BIN / "dagster"), "job", "launch", "-f", str(code), "-j", job], cwd=tmp_path, env=env,
                       check=True, capture_output=True, timeout=120)

    def holding(instance):
        runs = instance.get_runs(dg.RunsFilter(job_name="slow_job", statuses=[dg.DagsterRunStatus.STARTED]))
        return runs[0] if runs and runs[0].run_id in _slots(instance) and run_process(instance, runs[0])[0] else None

    def retried(instance, run) -> None:
        """The daemon started the killed run again once (dagster.yaml run_retries), and that run succeeded."""
        try:
            again = _wait(f"a retry of {run.run_id[:8]} finished", lambda: next(
                (r for r in instance.get_runs(dg.RunsFilter(job_name="slow_job"))
                 if r.parent_run_id == run.run_id and r.is_finished), None), 180)
        except AssertionError as failure:  # say why: Dagster's retry daemon leaves its reasons in the run's log
            runs = [(r.run_id[:8], r.status.value, r.parent_run_id and r.parent_run_id[:8],
                     {k: v for k, v in r.tags.items() if "retry" in k or "failure" in k})
                    for r in instance.get_runs(dg.RunsFilter(job_name="slow_job"))]
            events = [f"{e.dagster_event_type.value}: {e.message}" for e in instance.all_logs(run.run_id)
                      if e.dagster_event_type is not None][-20:]
            log = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in (tmp_path / "daemon.log").read_text().splitlines()
                   if "Priority sorting" not in line]
            raise AssertionError(f"{failure}\nruns: {runs}\nevents of {run.run_id[:8]}: {events}\n"
                                 "daemon log:\n" + "\n".join(log[-60:])) from None
        assert again.status == dg.DagsterRunStatus.SUCCESS and again.tags.get("dagster/retry_number") == "1"

    def quick_run_succeeds(instance) -> None:
        before = {r.run_id for r in instance.get_runs(dg.RunsFilter(job_name="quick_job"))}
        launch("quick_job")
        run = _wait("the next run in the pool finished", lambda: next(
            (r for r in instance.get_runs(dg.RunsFilter(job_name="quick_job"))
             if r.run_id not in before and r.is_finished), None), 120)
        assert run.status == dg.DagsterRunStatus.SUCCESS

    instance = dg.DagsterInstance.from_config(str(home))
    process = daemon()
    try:
        # 1. the run's process dies; the code server lives and marks the run failed, but not its slot free
        launch("slow_job")
        run = _wait("the slow run holds the pool slot", lambda: holding(instance), 120)
        os.kill(run_process(instance, run)[0], signal.SIGKILL)
        _wait("the killed run is failed and its slot free",
              lambda: instance.get_run_by_id(run.run_id).is_finished and run.run_id not in _slots(instance), 60)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        retried(instance, run)
        quick_run_succeeds(instance)

        # 2. the daemon, its code server and the run die together (a crash): no one reports the run
        launch("slow_job")
        run = _wait("a second slow run holds the slot", lambda: holding(instance), 120)
        pid = run_process(instance, run)[0]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        if Path(f"/proc/{pid}").exists():  # the run's process is in the daemon's session too; kill it if not
            os.kill(pid, signal.SIGKILL)
        time.sleep(1)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        assert _slots(instance) == [run.run_id]
        # `make run` now leaves it to the daemon, which beat less than two minutes ago (its process table may not
        # be this one's); with no daemon for two minutes it would release it itself
        assert daemon_alive(instance) and release_dead_runs(instance, lambda m: None) == []
        process = daemon()  # restarted, as a service manager would
        _wait("the dead run is released by the sensor",
              lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
              and not _slots(instance), 120)
        failure = [e.message for e in instance.all_logs(run.run_id) if "is gone" in (e.message or "")]
        assert failure and f"({pid}, started by the daemon)" in failure[0]
        retried(instance, run)
        quick_run_succeeds(instance)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
        instance.dispose()
