"""Runs left 'started' by a process that is gone: released in the daemon as `make run` and `make ui` do."""

import dagster as dg

from orchestration.build import release_dead_runs


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
