"""The code location loads, and its asset graph is what we expect (a change to it shows up here)."""

from __future__ import annotations

import yaml

from orchestration.definitions import defs
from orchestration.settings import REPO_ROOT

EXPECTED_ASSETS = {
    "raw/police_uk_street_crimes", "raw/census2021_population_lsoa21", "raw/wimd2019_lsoa11",
    "raw/wimd2025_lsoa21", "raw/sape2019_population_lsoa11", "raw/sape_lsoa11_broad_age",
    "raw/census2021_ethnicity_lsoa21", "raw/census2021_tenure_lsoa21", "raw/census2021_disability_lsoa21",
    "raw/census2021_religion_lsoa21", "raw/census2021_household_deprivation_lsoa21",
    "raw/census2011_welsh_speakers_lsoa11", "raw/census2021_country_of_birth_la",
    "raw/census2021_la_topic_percentages", "raw/ons_els_indicators", "raw/statswales",
    "raw/census2011_tenure_la", "raw/census2021_household_deprivation_msoa21", "raw/census2021_ethnicity_la",
    "raw/statswales_wimd2019_la_summary", "raw/census2021_migrant_indicator_msoa21",
    "raw/census2021_english_proficiency_msoa21",
    "staging/stg_police_uk__street_crimes", "staging/stg_census2021__population_lsoa21",
    "staging/stg_wimd__wimd2019_lsoa11", "staging/stg_wimd__wimd2025_lsoa21",
    "staging/stg_ons__sape2019_population_lsoa11",
    "intermediate/int_population__lsoa21", "intermediate/int_wimd2019__bridged_to_lsoa21",
    "intermediate/int_geography__area_membership", "intermediate/int_police_uk__force_months",
    "intermediate/int_indicator__lsoa_counts", "intermediate/int_indicator__published_values",
    "intermediate/int_indicator__twelve_months", "intermediate/int_indicator__msoa_counts",
    "intermediate/int_geography__msoa_membership",
    "marts/fct_indicator_value", "marts/fct_indicator_change", "marts/fct_indicator_benchmark",
    "marts/fct_cohesion_index", "marts/mart_cohesion_profile", "marts/mart_community_profile",
    "marts/dim_geography", "marts/fct_crime_monthly", "marts/fct_crime_monthly_coverage",
    "marts/fct_crime_quarterly", "marts/fct_crime_exception", "reports/crime_exception_report", "reports/monitoring_packs", "reports/pack_deliveries", "alerts/emergency_flash",
    "published/bi_exports", "reports/cohesion_atlas",
    "ref/lsoa21_geography", "ref/lsoa11_lsoa21_exact_fit", "ref/local_authority", "ref/police_force",
    "ref/ward", "ref/msoa21", "ref/police_uk_crime_types", "ref/crime_groups", "ref/crime_group_members",
    "ref/wimd_decile_bounds", "ref/eep_grades", "ref/indicator_catalogue", "ref/indicator_series_breaks", "ref/community_types", "ref/tension_categories", "ref/monitoring_groups",
    # Part 3: partner extracts and the tension fact tables
    "raw/partner_files", "raw/partner_tension_reports", "raw/partner_incidents", "raw/partner_tension_assessments",
    "raw/partner_community_impact_assessments", "raw/partner_risk_register",
    "staging/stg_partner__tension_reports", "staging/stg_partner__incidents",
    "staging/stg_partner__tension_assessments", "staging/stg_partner__community_impact_assessments",
    "staging/stg_partner__risk_register", "intermediate/int_partner__area_levels",
    "intermediate/int_shared__incident_suppression",
    "marts/fct_tension_report", "marts/fct_incident", "marts/fct_tension_assessment", "marts/fct_cia",
    "marts/fct_risk", "marts/fct_tension_evidence", "ref/hate_strands", "ref/risk_score_bands",
    "marts/shared_incident_summary", "ref/incident_groups",
}


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == EXPECTED_ASSETS


def test_every_asset_has_description_owner_and_group():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.owners, key
        assert node.group_name, key
        if key.path[0] in {"raw", "reports"}:
            assert node.kinds, key


def test_every_warehouse_writer_is_in_the_single_writer_pool():
    graph = defs.resolve_asset_graph()
    # the atlas and the monitoring packs only read, for seconds, through lib.warehouse.connect (which waits for a
    # writer), then render for minutes with the file closed: holding the slot would keep writers (a partner file's
    # run) waiting for nothing
    readers_outside_the_pool = {"reports/cohesion_atlas", "reports/monitoring_packs"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.to_user_string() in readers_outside_the_pool:
            assert not node.pools, key
        else:
            assert node.pools == {"duckdb_warehouse"}, key
    config = yaml.safe_load((REPO_ROOT / "orchestration" / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["telemetry"]["enabled"] is False


def test_the_atlas_and_the_bi_copies_come_after_the_exception_report():
    """In one run the executor may otherwise take minutes of atlas rendering before the report."""
    graph = defs.resolve_asset_graph()
    for name in ("reports/cohesion_atlas", "published/bi_exports"):
        node = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == name))
        assert "reports/crime_exception_report" in {k.to_user_string() for k in node.parent_keys}, name


def test_the_exception_report_depends_on_the_marts():
    graph = defs.resolve_asset_graph()
    report = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "reports/crime_exception_report"))
    assert {k.to_user_string() for k in report.parent_keys} == {
        "marts/fct_crime_exception", "marts/fct_crime_monthly_coverage", "marts/dim_geography",
        "marts/fct_indicator_value", "staging/stg_police_uk__street_crimes"}


def test_police_uk_is_monthly_over_the_bundled_months():
    from orchestration.defs.police_uk import police_uk_monthly_partitions

    keys = police_uk_monthly_partitions.get_partition_keys()
    # all four forces 2022-01..11, Gwent on to 2024-06: one partition per bundled month
    assert len(keys) == 30 and keys[0] == "2022-01-01" and keys[-1] == "2024-06-01"


def test_the_landing_sensor_and_the_purge_schedule_run_by_default():
    import dagster as dg

    sensor = defs.resolve_sensor_def("partner_landing_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "partner_extracts_ingest"
    schedule = defs.resolve_schedule_def("purge_partner_originals_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_partner_job_rebuilds_only_what_depends_on_partner_data():
    job = defs.resolve_job_def("partner_extracts_ingest")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "marts/fct_tension_evidence" in keys and "raw/partner_incidents" in keys
    assert not {k for k in keys if k.startswith("raw/") and not k.startswith("raw/partner")}
    assert "marts/fct_crime_monthly" not in keys and "reports/crime_exception_report" not in keys


def test_delivery_automation_is_on_by_default_and_live_only_pulls_are_off_in_snapshot_mode():
    import dagster as dg

    quarterly = defs.resolve_schedule_def("quarterly_monitoring_packs")
    assert quarterly.default_status == dg.DefaultScheduleStatus.RUNNING
    assert quarterly.execution_timezone == "Europe/London" and quarterly.cron_schedule == "0 7 10 1,4,7,10 *"
    assert quarterly.job_name == "monitoring_packs_refresh"
    for name in ("packs_after_partner_files", "failures_to_data_team", "release_dead_runs"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_schedule_def("police_uk_monthly_schedule").default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.resolve_sensor_def("rebuild_after_public_loads").default_status == dg.DefaultSensorStatus.STOPPED
    refresh = defs.resolve_job_def("monitoring_packs_refresh")
    assert {k.to_user_string() for k in refresh.asset_layer.selected_asset_keys} == {
        "reports/monitoring_packs", "reports/pack_deliveries"}
    # the flash runs in the partner file's own run (minutes, not the quarter)
    partner = defs.resolve_job_def("partner_extracts_ingest")
    assert "alerts/emergency_flash" in {k.to_user_string() for k in partner.asset_layer.selected_asset_keys}


def test_every_job_runs_in_process_and_the_chain_sensors_look_every_five_seconds():
    """The daemon's runs as `make run`'s: one process per run, not one per step (measured through the daemon:
    ~3 s to start each step's process and ~5 s between a step freeing the warehouse pool and the next claiming it,
    benchmarks/live_police_month.py); the sensors that start the next run of a chain look every 5 s, not 30."""
    import dagster as dg

    from orchestration.defs.delivery import CHAIN_SENSOR_SECONDS

    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    assert {"warehouse_build", "police_uk_monthly_ingest", "monitoring_packs_refresh",
            "partner_extracts_ingest", "atlas_refresh"} <= {job.name for job in jobs}
    for job in jobs:
        assert job.executor_def is dg.in_process_executor, job.name
    assert CHAIN_SENSOR_SECONDS == 5
    for name in ("rebuild_after_public_loads", "rebuild_after_partial_public_loads", "packs_after_warehouse_build",
                 "packs_after_partner_files", "partner_landing_sensor", "atlas_after_warehouse_build"):
        assert defs.resolve_sensor_def(name).minimum_interval_seconds == CHAIN_SENSOR_SECONDS, name


def test_the_quarterly_schedule_builds_the_quarter_just_ended():
    import datetime as dt

    import dagster as dg

    from orchestration.defs.delivery import quarterly_pack_schedule

    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=dt.datetime(2024, 7, 10, 7, 0))
        request = quarterly_pack_schedule(context)
        assert request.partition_key == "2024-Q2"
        assert "2024-Q2" in instance.get_dynamic_partitions("pack_quarters")


def test_every_public_release_has_a_schedule_at_its_frequency_stopped_in_snapshot_mode():
    import datetime as dt

    import dagster as dg

    from orchestration.definitions import release_jobs
    from orchestration.defs.delivery import DEFAULT_RELEASE_CRON, RELEASE_CRON
    from orchestration.defs.raw_public import partitioned_assets

    for job, asset in zip(release_jobs, partitioned_assets):
        schedule = defs.resolve_schedule_def(f"{job.name}_schedule")
        frequency = asset.metadata_by_key[asset.key]["frequency"]
        assert schedule.cron_schedule == RELEASE_CRON.get(frequency, DEFAULT_RELEASE_CRON)
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED and schedule.job_name == job.name
        with dg.instance_for_test() as instance:
            request = schedule(dg.build_schedule_context(instance=instance,
                                                         scheduled_execution_time=dt.datetime(2025, 3, 1, 5)))
        keys = asset.partitions_def.get_partition_keys()
        assert request.tags["dagster/asset_partition_range_start"] == keys[0]
        assert request.tags["dagster/asset_partition_range_end"] == keys[-1]


def _instance_and_a_one_step_job(tmp_path, monkeypatch):
    """A real Dagster instance under tmp_path with the project's dagster.yaml, and a one-step job to run on it."""
    import shutil

    import dagster as dg

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copyfile(REPO_ROOT / "orchestration" / "dagster.yaml", tmp_path / "dagster.yaml")

    @dg.op
    def nothing():
        return 1

    @dg.job
    def tiny():
        nothing()

    return dg.DagsterInstance.get(), tiny


def test_the_instance_storage_commits_with_synchronous_normal(tmp_path, monkeypatch):
    """Dagster's SQLite storage (one transaction per event) waited ~25 ms an event for the disk in SQLite's FULL
    mode; loading the code location switches the instance's connections to NORMAL (lib/sqlite_storage.py).
    Checked on a real instance's event log, after a real run stored its events there."""
    from sqlalchemy import text

    instance, tiny = _instance_and_a_one_step_job(tmp_path, monkeypatch)
    try:
        result = tiny.execute_in_process(instance=instance)
        assert result.success
        storage = instance.event_log_storage
        with storage.run_connection(result.run_id) as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL (FULL is 2)
        assert len(instance.all_logs(result.run_id)) > 5  # the events were stored
    finally:
        instance.dispose()


def test_the_instance_storage_reuses_one_engine_per_file_not_one_per_event(tmp_path, monkeypatch):
    """Dagster's SQLite storages built a new SQLAlchemy engine for every event (a dialect to initialise, every
    insert compiled again): a quarter to two fifths of an event's cost (benchmarks/instance_events.py). With the code
    location loaded, a real run and 60 more events of it are stored through one engine per database file, every
    event is there, and a second instance on the same files reads them."""
    import dagster as dg

    import orchestration.definitions  # noqa: F401 - loading the code location installs lib/sqlite_storage.py
    from orchestration.lib import sqlite_storage

    before = sqlite_storage.engines_created
    instance, tiny = _instance_and_a_one_step_job(tmp_path, monkeypatch)
    try:
        result = tiny.execute_in_process(instance=instance)
        assert result.success
        for i in range(60):
            instance.report_engine_event(f"event {i}", instance.get_run_by_id(result.run_id))
        for i in range(20):
            instance.report_runless_asset_event(dg.AssetMaterialization(f"asset_{i % 4}"))
        stored = len(instance.all_logs(result.run_id))
    finally:
        instance.dispose()
    made = sqlite_storage.engines_created - before
    # runs.db, the run's event file, the cross-run index, the schedules file: never one per event (~100 here)
    assert 1 <= made <= 5, made
    assert stored >= 60 + 5
    again = dg.DagsterInstance.get()
    try:
        assert len(again.all_logs(result.run_id)) == stored
        assert again.get_latest_materialization_event(dg.AssetKey("asset_3")) is not None
    finally:
        again.dispose()


def test_the_reused_engines_are_one_per_url_and_settings_and_only_without_a_pool():
    from collections import OrderedDict

    from sqlalchemy.pool import NullPool, QueuePool

    from orchestration.lib import sqlite_storage

    made = []

    def fake_create_engine(url, **kwargs):
        made.append((url, kwargs))
        return object()

    create = sqlite_storage._reusing(fake_create_engine, OrderedDict())
    a = create("sqlite:////tmp/x/a.db", poolclass=NullPool, connect_args={"timeout": 30})
    assert create("sqlite:////tmp/x/a.db", poolclass=NullPool, connect_args={"timeout": 30}) is a
    assert create("sqlite:////tmp/x/a.db", poolclass=NullPool, connect_args={"timeout": 5}) is not a
    assert create("sqlite:////tmp/x/b.db", poolclass=NullPool) is not a
    # an engine that would keep connections, or another database, is made every time as asked
    assert create("sqlite:////tmp/x/a.db", poolclass=QueuePool) is not create("sqlite:////tmp/x/a.db", poolclass=QueuePool)
    assert create("postgresql://h/db", poolclass=NullPool) is not create("postgresql://h/db", poolclass=NullPool)
    assert len(made) == 3 + 2 + 2
    # at most MAX_ENGINES are kept: the least recently used is dropped, then made again when asked for
    for i in range(sqlite_storage.MAX_ENGINES + 1):
        create(f"sqlite:////tmp/many/{i}.db", poolclass=NullPool)
    count = len(made)
    create(f"sqlite:////tmp/many/{sqlite_storage.MAX_ENGINES}.db", poolclass=NullPool)
    assert len(made) == count
    create("sqlite:////tmp/many/0.db", poolclass=NullPool)
    assert len(made) == count + 1


def test_old_dbt_run_folders_are_pruned_and_one_vanishing_meanwhile_is_no_error(tmp_path, monkeypatch):
    """defs/dbt.py keeps the newest KEEP_TARGET_DIRS run folders; a folder another process removes while the
    list is made (a sensor's run, a test worker pruning its own) is skipped, not a crash."""
    import os
    from pathlib import Path

    from orchestration.defs import dbt as dbt_defs

    folders = []
    for i in range(dbt_defs.KEEP_TARGET_DIRS + 3):
        folder = tmp_path / f"cohesion_dbt_assets-{i:02d}"
        folder.mkdir()
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
        folders.append(folder)
    vanishing = folders[-1]
    real_stat = Path.stat
    calls = []

    def stat(self, *args, **kwargs):  # there when listed (is_dir), gone when its time is read
        if self == vanishing:
            calls.append(self)
            if len(calls) > 1:
                raise FileNotFoundError(self)
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    dbt_defs._prune_target_dirs(tmp_path)
    monkeypatch.undo()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(f.name for f in folders[-1 - dbt_defs.KEEP_TARGET_DIRS:])


def test_loading_the_code_location_imports_no_library_it_only_needs_when_drawing_or_checking():
    """Every run's process, the code server and each `dagster` command load the code location first: a library
    needed only when a map is drawn or a point resolved (numpy, shapely: ~0.5 s), a PDF rendered (WeasyPrint) or a
    suite validated (Great Expectations, pandas) is imported there, not at load. In a fresh interpreter."""
    import subprocess
    import sys

    heavy = ["numpy", "shapely", "weasyprint", "great_expectations", "pandas", "pyarrow"]
    code = ("import sys\n"
            "import orchestration.definitions\n"
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(REPO_ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"imported when the code location loads: {done.stdout.strip()}"
