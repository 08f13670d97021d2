"""Build the whole warehouse from the bundled real data, recorded in the Dagster instance.

``make run`` calls this. It runs the same jobs the UI shows, in this process, against the instance in
$DAGSTER_HOME (default data/dagster_home), so every run and materialization appears in the UI after.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from orchestration.settings import REPO_ROOT, export_for_subprocesses, get_settings


def prepare_instance() -> Path:
    settings = get_settings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    template = REPO_ROOT / "orchestration" / "dagster.yaml"
    if not config.exists() or config.read_text() != template.read_text():
        shutil.copyfile(template, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def main() -> int:
    started = time.monotonic()
    settings = export_for_subprocesses()
    home = prepare_instance()

    import dagster as dg

    from orchestration.definitions import defs, police_uk_monthly_partitions

    instance = dg.DagsterInstance.get()
    # Every event is stored in the instance for the UI; the terminal only needs INFO and above.
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    keys = police_uk_monthly_partitions.get_partition_keys()
    print(f"police.uk: loading {len(keys)} months ({keys[0]} to {keys[-1]}) as one run", flush=True)
    result = defs.resolve_job_def("police_uk_monthly_ingest").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        run_config=quiet,
        raise_on_error=False,
    )
    if not result.success:
        print("police.uk ingestion failed; see the run in the Dagster UI (make ui)", file=sys.stderr)
        return 1
    from orchestration.definitions import release_jobs

    for job in release_jobs:
        job_def = defs.resolve_job_def(job.name)
        keys = job_def.partitions_def.get_partition_keys()
        print(f"{job.name}: {len(keys)} releases ({', '.join(keys)})", flush=True)
        result = job_def.execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
            run_config=quiet,
            raise_on_error=False,
        )
        if not result.success:
            print(f"{job.name} failed; see the run in the Dagster UI (make ui)", file=sys.stderr)
            return 1
    print("building reference data, dbt models and tests, and the exception report", flush=True)
    result = defs.resolve_job_def("warehouse_build").execute_in_process(instance=instance, run_config=quiet, raise_on_error=False)
    if not result.success:
        print("warehouse build failed; see the run in the Dagster UI (make ui)", file=sys.stderr)
        return 1

    from orchestration.lib.warehouse import connect, fetch_row

    con = connect(settings.warehouse_path, read_only=True)
    try:
        facts = fetch_row(
            con,
            """
            select count(distinct month) as months, count(distinct area_code) as lsoas, sum(crime_count) as crimes
            from marts.fct_crime_monthly where geography_level = 'lsoa'
            """,
        )
        flags = fetch_row(con, "select count(*) filter (where is_flagged), count(*) from reports.crime_exceptions")
    finally:
        con.close()
    report = settings.reports_dir / "crime_exception_report_latest.html"
    print(
        f"""
Built in {time.monotonic() - started:.0f} s.
  Warehouse : {settings.warehouse_path}
              marts.fct_crime_monthly: {facts[0]} months, {facts[1]} LSOAs, {facts[2]:,} crimes and ASB incidents
  Report    : {report}
              {flags[0]} LSOA x crime-group exceptions from {flags[1]:,} tests
  Dagster UI: make ui, then open http://127.0.0.1:3000 (instance: {home})
"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
