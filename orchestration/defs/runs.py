"""Runs left 'started' by a process that is gone (killed, a restart) would keep the warehouse's pool slot for
ever: found and released here, by `make run` and `make ui` at their start (orchestration/build.py) and in the
daemon by the `release_dead_runs` sensor. Tags on the runs `make run` starts: RUN_TAG, PID_TAG."""

import time

import dagster as dg

from orchestration.defs.resources import WAREHOUSE_POOL
from orchestration.lib.processes import process_gone

RUN_TAG = "cohesion/launched_by"
PID_TAG = "cohesion/pid"


def launched_by_make_run(run) -> bool:
    """A run `make run` started (orchestration/build.py). It does its own next steps (the rebuild after its loads,
    the packs, the atlas), so the daemon's chain sensors, which watch every run in the instance, leave it alone."""
    return run.tags.get(RUN_TAG) == "make-run"


def run_process(instance, run) -> tuple[int, float]:
    """(pid, since): the process that runs ``run`` and a time it was already running by. `make run`'s pid tag (the
    build's process, running before it created the run), else the pid in the run launcher's "Started process for
    run" event (the daemon's runs: the code server starts one process per run) and that event's time; (0, 0) if
    not known yet (the run is still queued)."""
    pid = int(run.tags.get(PID_TAG, "0") or 0)
    if pid:
        record = instance.get_run_record_by_id(run.run_id)
        return pid, record.create_timestamp.timestamp() if record else time.time()
    for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=20).records:
        entry = record.event_log_entry
        metadata = getattr(entry.dagster_event.event_specific_data, "metadata", None) or {}
        if "pid" in metadata and (entry.message or "").startswith("Started process for run"):
            return int(metadata["pid"].value), entry.timestamp
    return 0, 0.0


def daemon_alive(instance, within: float = 120) -> bool:
    """A dagster-daemon has sent this instance a heartbeat in the last ``within`` seconds (it beats every ~30 s)."""
    try:
        beats = instance.get_daemon_heartbeats()
    except Exception:  # no daemon table yet, say: no daemon
        return False
    return any(time.time() - beat.timestamp < within for beat in beats.values())


def release_dead_runs(instance, log=print, daemon_runs: bool | None = None) -> list[str]:
    """Runs whose process is gone (killed, the machine restarted) stay 'started' for ever and keep their
    `duckdb_warehouse` pool slot, so every later run would wait without end: mark them failed and free their slots.
    Runs `make run` started (their pid is tagged) and runs the daemon launched (the pid in the launcher's event);
    a run whose process is not known yet (still starting) is left alone. `make run` and `make ui` call this first;
    in the daemon the `release_dead_runs` sensor does, every 30 s. ``daemon_runs``: look at the daemon's runs too
    (default: only when no daemon has sent a heartbeat for two minutes - a daemon that is up judges its own runs,
    from its own process table, which need not be this one's, in a container say). (A daemon run whose process
    dies while the code server lives is marked failed by the code server, and Dagster's run monitoring then frees
    its slots: orchestration/dagster.yaml, free_slots_after_run_end_seconds.)"""
    if daemon_runs is None:
        daemon_runs = not daemon_alive(instance)
    released = []
    records = instance.get_run_records(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING]))
    for record in records:
        run = record.dagster_run
        if run.tags.get(RUN_TAG) != "make-run" and not daemon_runs:
            continue
        pid, running_by = run_process(instance, run)
        if not pid or not process_gone(pid, running_by):
            continue
        who = "make run" if run.tags.get(RUN_TAG) == "make-run" else "the daemon"
        instance.report_run_failed(run, message=f"the process that ran it ({pid}, started by {who}) is gone (killed? "
                                                "a restart?): marked failed and its pool slots freed")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
        log(f"released run {run.run_id[:8]} ({run.job_name}, started by {who}): its process {pid} is gone; its "
            f"{WAREHOUSE_POOL} slot is free again")
    # a run that ended (failed, say, when the code server saw its process die) but still holds a slot
    for slot in instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots:
        run = instance.get_run_by_id(slot.run_id)
        if (run is None or run.is_finished) and slot.run_id not in released:
            instance.event_log_storage.free_concurrency_slots_for_run(slot.run_id)
            released.append(slot.run_id)
            log(f"released the {WAREHOUSE_POOL} slot run {slot.run_id[:8]} still held after it ended "
                f"({run.status.value if run else 'run deleted'})")
    return released


def materializations(instance, run_id: str) -> list:
    """The asset materializations a run recorded (DagsterEvents, in order): what the chain sensors start the next run
    from (defs/delivery.py, defs/atlas.py)."""
    return [record.event_log_entry.dagster_event for record in instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records]


def report_slot_holders(instance, log=print) -> list[str]:
    """Say who holds the warehouse's pool slot, so a run that has to wait says what it waits for."""
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    holders = []
    for slot in info.claimed_slots:
        run = instance.get_run_by_id(slot.run_id)
        name = run.job_name if run else "an unknown run"
        holders.append(slot.run_id)
        log(f"waiting: the {WAREHOUSE_POOL} slot is held by run {slot.run_id[:8]} ({name}, step {slot.step_key}); "
            "this build starts when it finishes (see it in the Dagster UI)")
    return holders


@dg.sensor(
    name="release_dead_runs",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 s: a run whose process is gone (killed, the machine restarted) is marked failed and its "
                "duckdb_warehouse pool slot freed, so the runs after it do not wait for ever; a slot still held by "
                "a run that ended is freed too. The failure reaches the data team (failures_to_data_team).",
)
def release_dead_runs_sensor(context: dg.SensorEvaluationContext):
    released = release_dead_runs(context.instance, log=context.log.warning, daemon_runs=True)
    return dg.SkipReason(f"released {len(released)} run(s): {', '.join(r[:8] for r in released)}" if released
                         else "no run without a process")
