"""`make run` does only what changed: the plan from the inputs' fingerprints (lib/build_plan.py) and a real
partial build of what is downstream of one changed police.uk month."""

from __future__ import annotations

import datetime
import json
import shutil

import pytest

from orchestration.lib import build_plan
from orchestration.lib.snapshots import DATASETS
from orchestration.settings import REPO_ROOT
from tests.conftest import SNAPSHOTS
from tests.independent import one

MANIFEST = REPO_ROOT / "dbt_project" / "target" / "manifest.json"
DATASET_FILES = {spec.table: spec.files for spec in DATASETS}
SETTINGS = {"mode": "snapshot", "as_of_date": "2024-06-30", "demo_extracts": "True"}


@pytest.fixture(scope="module")
def snapshots_copy(tmp_path_factory):
    """A private copy of the bundled data to change (police files, a dataset file, a README)."""
    dest = tmp_path_factory.mktemp("plan") / "snapshots"
    shutil.copytree(SNAPSHOTS, dest)
    return dest


def _inputs(snapshots, landing, previous=None, manifest=MANIFEST, settings=SETTINGS):
    return build_plan.collect_inputs(REPO_ROOT, snapshots, manifest, landing, dict(settings), previous)


def _plan(inputs, previous, warehouse_exists=True):
    return build_plan.make_plan(inputs, previous, warehouse_exists, DATASET_FILES, demo=True)


def test_nothing_changed_means_nothing_to_do(snapshots_copy, tmp_path):
    first = _inputs(snapshots_copy, tmp_path / "landing")
    build_plan.write_state(tmp_path / "state.json", first, "run-1")
    previous = build_plan.read_state(tmp_path / "state.json")
    again = _inputs(snapshots_copy, tmp_path / "landing", previous)
    plan = _plan(again, previous)
    assert plan.nothing and not plan.full, plan.describe()
    assert plan.describe() == "nothing changed since the last complete build"


def test_first_build_missing_warehouse_code_or_settings_change_is_full(snapshots_copy, tmp_path):
    inputs = _inputs(snapshots_copy, tmp_path / "landing")
    assert _plan(inputs, None).full
    state = inputs.to_state()
    assert _plan(inputs, state, warehouse_exists=False).full
    other_code = dict(state, code_digest="0" * 64)
    assert "code changed" in _plan(inputs, other_code).describe()
    other_day = _inputs(snapshots_copy, tmp_path / "landing", state, settings={**SETTINGS, "as_of_date": "2024-07-01"})
    plan = _plan(other_day, state)
    assert plan.full and "as_of_date" in plan.describe()


def test_a_changed_police_month_a_dataset_file_and_a_readme_are_told_apart(snapshots_copy, tmp_path):
    previous = _inputs(snapshots_copy, tmp_path / "landing").to_state()
    month_file = snapshots_copy / "police_uk" / "north-wales" / "2022-05-north-wales-street.csv"
    wimd = DATASET_FILES["wimd2019_lsoa11"][0]
    original = month_file.read_bytes(), (snapshots_copy / wimd).read_bytes(), (snapshots_copy / "README.md").read_bytes()
    try:
        month_file.write_bytes(original[0] + b"")  # same bytes, new mtime: hashed again, not a change
        plan = _plan(_inputs(snapshots_copy, tmp_path / "landing", previous), previous)
        assert plan.nothing, plan.describe()
        month_file.write_bytes(original[0].replace(b"Status update unavailable", b"Unable to prosecute suspect", 1))
        (snapshots_copy / wimd).write_bytes(original[1] + b"\n")
        (snapshots_copy / "README.md").write_bytes(original[2] + b"\nnote\n")
        plan = _plan(_inputs(snapshots_copy, tmp_path / "landing", previous), previous)
        assert not plan.full
        assert plan.police_months == ["2022-05"]
        assert plan.raw_tables == ["wimd2019_lsoa11"]
        assert not plan.releases and not plan.dbt_nodes and not plan.partner
    finally:
        month_file.write_bytes(original[0])
        (snapshots_copy / wimd).write_bytes(original[1])
        (snapshots_copy / "README.md").write_bytes(original[2])


def test_changed_dbt_nodes_and_waiting_partner_files_are_planned(snapshots_copy, tmp_path):
    previous = _inputs(snapshots_copy, tmp_path / "landing").to_state()
    manifest = json.loads(MANIFEST.read_text())
    uid = "model.cohesion_monitor.fct_crime_quarterly"
    manifest["nodes"][uid]["raw_code"] += "\n-- edited"
    manifest["nodes"][uid]["checksum"]["checksum"] = "edited"
    edited = tmp_path / "manifest.json"
    edited.write_text(json.dumps(manifest))
    landing = tmp_path / "landing" / "incidents"
    landing.mkdir(parents=True)
    (landing / "police_2024-Q3.csv").write_text("x")
    (landing / "police_2024-Q3.csv.done").write_text("")
    plan = _plan(_inputs(snapshots_copy, tmp_path / "landing", previous, manifest=edited), previous)
    assert plan.dbt_nodes == [uid]
    assert plan.partner and "1 partner file(s) waiting" in plan.describe()


def test_a_new_police_month_rebuilds_only_what_is_downstream_of_it(built, warehouse):
    """A real partial build after the full one: the police month is reloaded (unchanged), then only the assets
    downstream of raw/police_uk_street_crimes run; the tension marts, for one, are left as built."""
    warehouse.release()  # this process writes the session warehouse now
    from orchestration.build import DBT_MANIFEST, _selection_for, build_all
    from orchestration.definitions import defs

    plan = build_plan.Plan(police_months=["2024-06"], reasons=["police.uk months 2024-06"])
    selection = {k.to_user_string() for k in _selection_for(plan, defs, DBT_MANIFEST)}
    assert {"marts/fct_crime_monthly", "marts/fct_crime_exception", "reports/crime_exception_report"} <= selection
    assert "marts/fct_tension_assessment" not in selection and "raw/wimd2019_lsoa11" not in selection
    results = build_all(built["instance"], plan=plan)
    assert {"police_uk_monthly_ingest", "warehouse_build"} <= set(results)
    assert not any(name.startswith("load_") for name in results)  # the releases did not change: not run
    assert all(r.success for r in results.values())
    done = {e.asset_key.to_user_string() for e in results["warehouse_build"].get_asset_materialization_events()}
    assert "marts/fct_crime_monthly" in done and "reports/crime_exception_report" in done
    assert "marts/fct_tension_assessment" not in done and "marts/fct_cia" not in done
    ingest = results["police_uk_monthly_ingest"]
    assert ingest.dagster_run.tags["dagster/asset_partition_range_start"] == "2024-06-01"
    evaluations = {c.check_name: c for c in results["warehouse_build"].get_asset_check_evaluations()}
    checks = set(evaluations)
    assert any(name.startswith("gx_") for name in checks)  # the GX suites of the rebuilt marts ran
    assert not any("tension_assessment" in name for name in checks)
    # the indicator values' suite checked only the periods containing the new month (the rest is unchanged since
    # it last checked it) and, wherever they are, the rows its warnings flag; counted here straight from the mart
    scoped = evaluations["gx_marts_fct_indicator_value"].metadata
    assert scoped["scope"].value == "police.uk months 2024-06"
    in_scope, total = one(warehouse, """
        select count(*) filter (where (v.period_start < date '2024-07-01'
                                       and coalesce(v.period_end, v.period_start) >= date '2024-06-01')
                                   or v.value not between c.valid_min and c.valid_max
                                   or v.uci_95 - v.lci_95 > c.max_ci_width
                                   or list_position(['lsoa', 'ward', 'msoa', 'la', 'police_force', 'wales'], v.geography_level)
                                      < list_position(['lsoa', 'ward', 'msoa', 'la', 'police_force', 'wales'], c.min_reliable_level)),
               count(*)
        from marts.fct_indicator_value v left join ref.indicator_catalogue c using (indicator_id)""")
    assert 0 < scoped["rows_checked"].value == in_scope < total


def test_a_scoped_suite_checks_every_row_after_another_failure(tmp_path):
    """A suite scoped by month (runner.month_scope) checks only the rebuilt months' periods (and the rows its
    warning flags mark) when its latest check failed nothing else: after any other failure, or before any check,
    every row is checked, so no failure is hidden by a scoped pass."""
    import duckdb

    from orchestration.lib.quality.runner import month_scope
    from orchestration.lib.quality.suites import load_suites

    suite = next(s for s in load_suites() if s["name"] == "marts_fct_indicator_value")
    other = next(s for s in load_suites() if s["name"] == "marts_fct_indicator_value__coverage")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert month_scope(suite, ["2024-06"], con) is None  # never checked: every row
    con.execute("create schema marts")
    con.execute("create table marts.dq_results (suite varchar, checked_at timestamp, expectation varchar, "
                "column_name varchar, success boolean)")

    def check(at: str, failed: str | None) -> None:
        for column in ("indicator_id", "uci_95", "interval_wider_than_allowed"):
            con.execute("insert into marts.dq_results values ('marts_fct_indicator_value', ?, 'x', ?, ?)",
                        [at, column, column != failed])

    check("2024-07-01 10:00", "uci_95")
    check("2024-07-02 10:00", "interval_wider_than_allowed")  # a standing warning: its rows are kept in scope
    scope = month_scope(suite, ["2024-06"], con)
    assert "date '2024-06-01'" in scope and "interval_wider_than_allowed is not null" in scope
    assert month_scope(suite, [], con) is None and month_scope(other, ["2024-06"], con) is None
    with pytest.raises(ValueError, match="YYYY-MM"):  # months become SQL: anything else is refused
        month_scope(suite, ["2024-06'; drop table marts.dq_results; --"], con)
    check("2024-07-03 10:00", "uci_95")  # an error-level expectation failed last time: check everything
    assert month_scope(suite, ["2024-06"], con) is None


def test_a_changed_dbt_macro_means_a_full_build(snapshots_copy, tmp_path):
    """A node's manifest entry names its macros but not their text: a macro edit must not go unnoticed."""
    repo = tmp_path / "repo"
    (repo / "dbt_project" / "macros").mkdir(parents=True)
    macro = repo / "dbt_project" / "macros" / "exact_sum.sql"
    macro.write_text("{% macro exact_sum(x) %}sum({{ x }}){% endmacro %}")
    first = build_plan.collect_inputs(repo, snapshots_copy, MANIFEST, tmp_path / "landing", dict(SETTINGS))
    previous = first.to_state()
    macro.write_text("{% macro exact_sum(x) %}sum(({{ x }})::decimal(38, 12))::double{% endmacro %}")
    again = build_plan.collect_inputs(repo, snapshots_copy, MANIFEST, tmp_path / "landing", dict(SETTINGS), previous)
    plan = _plan(again, previous)
    assert plan.full and "dbt_project/macros/exact_sum.sql" in plan.describe()


INCREMENTAL_MODELS = ["staging.stg_police_uk__street_crimes", "marts.fct_crime_monthly",
                      "marts.fct_crime_monthly_coverage"]


# The models after the monthly ones, incremental by calendar quarter (macros/incremental_months.sql), and the
# tables still rebuilt whole after them (they read every period but publish per area, not per period).
QUARTER_MODELS = ["marts.fct_crime_quarterly", "marts.fct_crime_exception", "intermediate.int_indicator__lsoa_counts",
                  "marts.fct_indicator_value", "marts.fct_indicator_benchmark", "intermediate.int_indicator__twelve_months",
                  "marts.fct_indicator_change"]
WHOLE_AFTER = ["marts.fct_cohesion_index", "marts.mart_cohesion_profile", "marts.mart_community_profile"]


# Scenarios for the test below: months of every force taken out of the raw table before anything arrives.
# "five-quarter gap": 2022-07 ... 2023-09, no crime rate anywhere for five quarters, so a period after the gap
# compares with one more than four quarters back (the previous_period rule of police_change_quarters).
LATE_MONTH_SCENARIOS = {
    "no gap": ([], "2022-07-01", datetime.date(2022, 1, 1)),
    "five-quarter gap": ([f"2022-{m:02d}" for m in range(7, 13)] + [f"2023-{m:02d}" for m in range(1, 10)],
                         "2023-10-01", datetime.date(2022, 1, 1)),
}


@pytest.mark.parametrize("scenario", LATE_MONTH_SCENARIOS)
def test_months_arriving_late_rebuild_their_quarters_and_equal_the_full_build(built, tmp_path, scenario):
    """The real scenario, with real dbt runs on copies of the full build. Reference: the full build (or, with a
    gap, the warehouse built --full-refresh without the gap's months). Work: the same without two months more -
    2022-06 (all four forces: 2022 Q2 then has no rate anywhere) and 2024-05 (the last quarter, whose exceptions
    are tested) - then those two months arrive and dbt runs without --full-refresh for them alone. Every row of
    every model after the raw table then equals the reference's: the quarter-incremental models rebuilt only the
    quarters the months touch, including, after a gap, a period more than four quarters on whose previous period is
    2022 Q2. A row of a quarter no month touches, altered on purpose, stays altered: it is not recomputed."""
    import duckdb

    from tests.dbt_build import dbt_build

    gap, period_after, previous_before = LATE_MONTH_SCENARIOS[scenario]
    months = ["2022-06", "2024-05"]
    reference = tmp_path / "reference.duckdb"
    work = tmp_path / "work.duckdb"
    shutil.copy(built["settings"].warehouse_path, reference)
    if gap:
        with duckdb.connect(str(reference)) as con:
            con.execute("delete from raw.police_uk_street_crimes where month in (select unnest(?::varchar[]))", [gap])
        dbt_build(reference, "stg_police_uk__street_crimes+", tmp_path / "reference", command="run")
    shutil.copy(reference, work)
    with duckdb.connect(str(work)) as con:
        con.execute("create table raw.arriving as select * from raw.police_uk_street_crimes "
                    "where month in (select unnest(?::varchar[]))", [months])
        assert con.execute("select count(distinct month) from raw.arriving").fetchone()[0] == 2
        con.execute("delete from raw.police_uk_street_crimes where month in (select unnest(?::varchar[]))", [months])
    dbt_build(work, "stg_police_uk__street_crimes+", tmp_path / "work", command="run")

    # a Gwent LA's all-crime rate: its previous period before and after 2022-06 arrives
    previous = ("select compared_period_start from marts.fct_indicator_change where area_code = 'W06000019' "
                "and indicator_id = 'all_crime_rate' and comparison = 'previous_period' "
                f"and period_start = date '{period_after}'")
    untouched = "quarter_start = date '2024-01-01'"
    with duckdb.connect(str(work)) as con:
        assert one(con, previous)[0] == previous_before
        con.execute("insert into raw.police_uk_street_crimes select * from raw.arriving")
        con.execute("drop table raw.arriving")
        con.execute("create or replace table raw.build_police_months as select unnest(?::varchar[]) as month", [months])
        # 2024 Q1 is nobody's quarter (2022-06 reaches 2023 Q2, 2024-05 only 2024 Q2): an incremental run leaves it
        altered = one(con, f"select count(*) from marts.fct_crime_quarterly where {untouched}")[0]
        assert altered > 0
        con.execute(f"update marts.fct_crime_quarterly set crime_count = -1 where {untouched}")
    dbt_build(work, "stg_police_uk__street_crimes+", tmp_path / "work", full_refresh=False, command="run")
    with duckdb.connect(str(work), read_only=True) as con:
        assert one(con, previous)[0] == datetime.date(2022, 4, 1)
        con.execute(f"attach '{reference}' as reference (read_only)")
        for table in INCREMENTAL_MODELS + QUARTER_MODELS + WHOLE_AFTER:
            rows = one(con, f"select count(*) from {table}")[0]
            missing = one(con, f"select count(*) from (select * from reference.{table} except all select * from {table})")[0]
            extra = one(con, f"select count(*) from (select * from {table} except all select * from reference.{table})")[0]
            if table == "marts.fct_crime_quarterly":
                assert (missing, extra) == (altered, altered), "2024 Q1, which no month touches, is not recomputed"
            else:
                assert (missing, extra) == (0, 0), table
            assert rows == one(con, f"select count(*) from reference.{table}")[0], table
        if not gap:  # the quarterly exception report's tests for the last quarter were rebuilt too
            assert one(con, "select count(*) from marts.fct_crime_exception where quarter_start = date '2024-04-01' "
                            "and is_tested")[0] > 0


def test_a_month_rebuilt_alone_equals_the_full_build(built, tmp_path):
    """The crime models incremental by month (macros/incremental_months.sql), on a copy of the full build: two
    months (one with all four forces, one with Gwent's repeated Crime IDs) are deleted from the models, dbt
    runs without --full-refresh for those months alone, and every row of every model equals the full build's."""
    import shutil

    import duckdb

    from tests.dbt_build import dbt_build

    full = tmp_path / "full.duckdb"
    work = tmp_path / "work.duckdb"
    shutil.copy(built["settings"].warehouse_path, full)
    shutil.copy(full, work)
    months = ["2022-06", "2024-05"]
    con = duckdb.connect(str(work))
    try:
        before = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in INCREMENTAL_MODELS}
        for table in INCREMENTAL_MODELS:
            con.execute(f"delete from {table} where strftime(month, '%Y-%m') in (select unnest(?::varchar[]))",
                        [months])
        con.execute("create or replace table raw.build_police_months as select unnest(?::varchar[]) as month",
                    [months])
        # a month nobody asked for, taken out of one model only: an incremental run must leave it alone
        con.execute("delete from marts.fct_crime_monthly_coverage where month = date '2022-01-01'")
    finally:
        con.close()
    # dbt run: the models' tests would (rightly) fail on the month taken out on purpose
    dbt_build(work, " ".join(t.split(".")[1] for t in INCREMENTAL_MODELS), tmp_path, full_refresh=False,
              command="run")
    con = duckdb.connect(str(work))
    try:
        con.execute(f"attach '{full}' as full_build (read_only)")
        for table in INCREMENTAL_MODELS:
            rows = con.execute(f"select count(*) from {table}").fetchone()[0]
            missing = con.execute(f"select count(*) from (select * from full_build.{table} except all "
                                  f"select * from {table})").fetchone()[0]
            extra = con.execute(f"select count(*) from (select * from {table} except all "
                                f"select * from full_build.{table})").fetchone()[0]
            if table.endswith("coverage"):
                assert (missing, extra) == (4, 0), "2022-01 (four forces), not asked for, stays out"
            else:
                assert (rows, missing, extra) == (before[table], 0, 0), table
        assert con.execute("select count(distinct strftime(month, '%Y-%m')) from staging.stg_police_uk__street_crimes "
                           "where strftime(month, '%Y-%m') in ('2022-06', '2024-05')").fetchone()[0] == 2
        # an empty list means every month: the model is emptied and rebuilt whole (2022-01 comes back)
        con.execute("delete from raw.build_police_months")
    finally:
        con.close()
    dbt_build(work, "fct_crime_monthly_coverage", tmp_path, full_refresh=False, command="run")
    con = duckdb.connect(str(work), read_only=True)
    try:
        con.execute(f"attach '{full}' as full_build (read_only)")
        assert con.execute("select count(*) from (select * from full_build.marts.fct_crime_monthly_coverage "
                           "except all select * from marts.fct_crime_monthly_coverage)").fetchone()[0] == 0
        assert con.execute("select count(*) from (select * from marts.fct_crime_monthly_coverage "
                           "except all select * from full_build.marts.fct_crime_monthly_coverage)").fetchone()[0] == 0
    finally:
        con.close()


# Generic tests that stay sound when only the months rebuilt are tested (macros/incremental_months.sql,
# duckdb__get_where_subquery): row by row, or a uniqueness whose key holds the month.
MONTH_SCOPED_MODELS = ("stg_police_uk__street_crimes", "fct_crime_monthly", "fct_crime_monthly_coverage")
ROW_BY_ROW_TESTS = {"not_null", "accepted_values", "expression_is_true", "relationships"}


def test_the_monthly_models_tests_check_the_months_rebuilt_and_every_month_otherwise(built, tmp_path):
    """In a build that rebuilt some police.uk months (raw.build_police_months), the dbt tests of the three models
    rebuilt by month, and the rollup test over them, check those months: a fault planted in a month not rebuilt
    passes (the last build tested it, nothing touched it since), the same kind of fault in a month rebuilt fails,
    and with the months table empty (every full build, a hand-run `dbt test`) every month is tested again and
    the first faults fail too. A new test on these models that is neither row by row nor keyed by the month
    fails the first half (it would need its own review)."""
    import duckdb

    from tests.dbt_build import dbt_build

    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    kinds = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or not node.get("test_metadata"):
            continue
        if node.get("attached_node", "").split(".")[-1] not in MONTH_SCOPED_MODELS:
            continue
        name, kwargs = node["test_metadata"]["name"], node["test_metadata"]["kwargs"]
        kinds.add(name)
        if name == "unique":
            assert kwargs["column_name"] == "record_key", node["name"]  # <force>:<month>:<line>
        elif name == "unique_combination_of_columns":
            assert "month" in kwargs["combination_of_columns"], node["name"]
        else:
            assert name in ROW_BY_ROW_TESTS, f"{node['name']}: is it sound on the months rebuilt alone?"
    assert {"unique", "unique_combination_of_columns", "relationships", "not_null"} <= kinds

    work = tmp_path / "work.duckdb"
    shutil.copy(built["settings"].warehouse_path, work)
    select = " ".join(MONTH_SCOPED_MODELS)

    def failing(con_sql: list[str]) -> set[str]:
        with duckdb.connect(str(work)) as con:
            for sql in con_sql:
                con.execute(sql)
        out = dbt_build(work, select, tmp_path / "dbt", command="test", check=False)
        assert "Done. PASS=" in out, out[-3000:]  # dbt ran its tests (a failing test is not a dbt error)
        return {line.split(" FAIL ")[1].split()[1] for line in out.splitlines() if " FAIL " in line}

    def plant(month: str) -> list[str]:
        # a row repeated in the staging model (record_key and (crime_id, month) no longer unique) and an LA's
        # count one more than its LSOAs' (the rollup test; its rate then disagrees with it too)
        return [
            "insert into staging.stg_police_uk__street_crimes select * from staging.stg_police_uk__street_crimes "
            f"where month = date '{month}-01' and crime_id is not null and is_counted limit 1",
            f"update marts.fct_crime_monthly set crime_count = crime_count + 1 where month = date '{month}-01' "
            "and geography_level = 'la' and area_code = 'W06000021' and crime_type = 'Burglary'",
        ]

    with duckdb.connect(str(work), read_only=True) as con:
        assert one(con, "select count(*) from marts.fct_crime_monthly where month = date '2022-03-01' "
                        "and geography_level = 'la' and area_code = 'W06000021' and crime_type = 'Burglary'")[0] == 1
        assert one(con, "select count(*) from marts.fct_crime_monthly where month = date '2024-05-01' "
                        "and geography_level = 'la' and area_code = 'W06000021' and crime_type = 'Burglary'")[0] == 1
    faults = {"unique_stg_police_uk__street_crimes_record_key",
              "unique_combination_of_columns_stg_police_uk__street_crimes_crime_id__month",
              "assert_crime_rollups_equal_sum_of_lsoas",
              # the LA's rate no longer matches its count
              "expression_is_true_fct_crime_monthly_abs_rate_per_1000_1000_0_crime_count_population_2021_0_0001"}
    rebuilding = "create or replace table raw.build_police_months as select '2024-05' as month"
    assert failing([rebuilding] + plant("2022-03")) == set(), "2022-03 was not rebuilt: not tested again"
    assert failing(["delete from raw.build_police_months"]) == faults, "every month tested"
    assert failing([rebuilding] + plant("2024-05")) == faults, "the month rebuilt is tested"


def test_a_daemon_rebuild_after_police_months_rebuilds_those_months_alone(built, warehouse):
    """The daemon's path (sensor rebuild_after_public_loads tags the run with the months a police.uk-only load
    brought): the dbt asset rebuilds the crime models for those months alone, as `make run` does, when every model
    was last built with the dbt code as it is now (raw.build_dbt_code, written after every dbt build), and the
    Great Expectations suite scoped by month checks just those months' periods; after a model was built with other
    code it rebuilds in full and says why (every row checked), then records the current code again."""
    warehouse.release()  # this process writes the session warehouse now
    import dagster as dg
    import duckdb

    from orchestration.definitions import defs
    from orchestration.defs.dbt import cohesion_dbt_assets, dbt_project
    from orchestration.lib.build_plan import MODEL_CODE_TABLE as CODE_TABLE
    from orchestration.lib.build_plan import model_code_fingerprints
    from orchestration.defs.police_uk import ASSET_KEY
    from orchestration.settings import POLICE_MONTHS_TAG

    path = built["settings"].warehouse_path
    graph = defs.resolve_asset_graph()
    keys = sorted((dg.AssetSelection.assets(ASSET_KEY).downstream().resolve(graph) - {ASSET_KEY})
                  & set(cohesion_dbt_assets.keys), key=lambda k: k.to_user_string())
    assert dg.AssetKey(["marts", "fct_crime_monthly"]) in keys and dg.AssetKey(["marts", "fct_cia"]) not in keys

    def recorded() -> dict[str, str]:
        with duckdb.connect(str(path), read_only=True) as con:
            return dict(con.execute(f"select unique_id, fingerprint from {CODE_TABLE}").fetchall())

    current = model_code_fingerprints(dbt_project.manifest_path)
    assert len(current) > 30 and recorded() == current  # the session's full build recorded every model's code

    def run() -> list[str]:
        result = defs.resolve_job_def("warehouse_build").execute_in_process(
            instance=built["instance"], asset_selection=keys, tags={POLICE_MONTHS_TAG: "2024-06"},
            raise_on_error=False)
        assert result.success
        return [e.user_message for e in built["instance"].all_logs(result.run_id) if e.user_message]

    scoped = "marts_fct_indicator_value (rows checked: "  # the suite scoped by month, as in make run's plan
    logs = run()
    assert any("incremental dbt build: police.uk months 2024-06" in m for m in logs)
    said = [m for m in logs if m.startswith(scoped)]
    assert len(said) == 1 and "the periods containing police.uk months 2024-06" in said[0], said
    with duckdb.connect(str(path)) as con:
        assert con.execute("select count(*) from raw.build_police_months").fetchone()[0] == 0  # emptied after
        con.execute(f"update {CODE_TABLE} set fingerprint = 'older code' "
                    "where unique_id = 'model.cohesion_monitor.fct_crime_quarterly'")
    logs = run()
    assert not any("incremental dbt build" in m for m in logs)
    assert any("last built with other code (e.g. fct_crime_quarterly): a full rebuild" in m for m in logs)
    assert not any(m.startswith(scoped) for m in logs), "every month rebuilt: every row checked"
    assert recorded() == current


def test_a_police_month_loaded_but_never_built_reaches_the_marts_with_the_next_build(built, warehouse):
    """A month whose build never finished (the daemon's run and its one retry both killed, a failed build, a load
    run killed after writing it) used to stay out of the crime marts for good: the next month's build rebuilt
    only its own month. Each dbt build that builds every crime model records the police.uk loads it was built
    from (raw.build_police_loads); a month whose loads differ is rebuilt with the next build's months, and in live
    mode the sensor build_police_months_not_built asks for a build of it once no load or build is under way.
    Real: the session warehouse, a new load of 2022-03 for one force (one row fewer, a new load id) written
    without a build; the sensor's request; a daemon-tagged build of 2024-06 alone; the marts then count 2022-03
    from the new load; the old load put back is picked up the same way."""
    warehouse.release()  # this process writes the session warehouse now
    import dagster as dg
    import duckdb

    from orchestration.definitions import defs
    from orchestration.defs.dbt import cohesion_dbt_assets
    from orchestration.defs.police_uk import ASSET_KEY
    from orchestration.lib.build_plan import POLICE_LOADS_TABLE, police_loads, police_months_not_built
    from orchestration.settings import POLICE_MONTHS_TAG

    path = built["settings"].warehouse_path
    with duckdb.connect(str(path), read_only=True) as con:
        # the session's full build recorded every load it was built from
        assert police_months_not_built(con) == []
        assert sorted(con.execute(f"select month, force_id, load_id from {POLICE_LOADS_TABLE}").fetchall()) \
            == police_loads(con)
        row = one(con, "select source_file, source_row, lsoa_code from raw.police_uk_street_crimes where month = "
                       "'2022-03' and force_id = 'gwent' and crime_type = 'Anti-social behaviour' and lsoa_code "
                       "like 'W01%' order by source_row limit 1")
        removed = con.execute("select * from raw.police_uk_street_crimes where source_file = ? and source_row = ?",
                              row[:2]).fetchall()
        old_load = one(con, "select distinct load_id from raw.police_uk_street_crimes where month = '2022-03' "
                            "and force_id = 'gwent'")[0]

    def wales_asb() -> int:
        with duckdb.connect(str(path), read_only=True) as con:
            return one(con, "select crime_count from marts.fct_crime_monthly where geography_level = 'wales' and "
                            "month = date '2022-03-01' and crime_type = 'Anti-social behaviour'")[0]

    def direct_asb() -> int:  # from the raw rows, not the models
        with duckdb.connect(str(path), read_only=True) as con:
            return one(con, "select count(*) from raw.police_uk_street_crimes where month = '2022-03' and "
                            "crime_type = 'Anti-social behaviour' and lsoa_code like 'W01%'")[0]

    before = wales_asb()
    assert before == direct_asb()
    with duckdb.connect(str(path)) as con:  # a new load of gwent 2022-03, one row fewer; no build after it
        con.execute("delete from raw.police_uk_street_crimes where source_file = ? and source_row = ?", row[:2])
        con.execute("update raw.police_uk_street_crimes set load_id = 'a-new-load' where month = '2022-03' "
                    "and force_id = 'gwent'")
        assert police_months_not_built(con) == ["2022-03"]

    # live mode's catch-up sensor: a build of what is downstream of police.uk, for that month, once per state
    sensor = defs.resolve_sensor_def("build_police_months_not_built")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # live mode only
    with dg.instance_for_test() as instance:
        request = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(request, dg.RunRequest), request
        assert request.tags[POLICE_MONTHS_TAG] == "2022-03"
        graph = defs.resolve_asset_graph()
        downstream = dg.AssetSelection.assets(ASSET_KEY).downstream().resolve(graph)
        assert set(request.asset_selection) <= downstream and ASSET_KEY not in request.asset_selection
        assert dg.AssetKey(["marts", "fct_crime_monthly"]) in request.asset_selection
        assert sensor(dg.build_sensor_context(instance=instance)).run_key == request.run_key  # asked for once
        # not while a load or build is queued or running (its own build includes the month)
        instance.add_run(dg.DagsterRun(job_name="warehouse_build", run_id="0" * 32,
                                       status=dg.DagsterRunStatus.STARTED))
        waiting = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(waiting, dg.SkipReason) and "is under way" in waiting.skip_message

    keys = sorted((dg.AssetSelection.assets(ASSET_KEY).downstream().resolve(defs.resolve_asset_graph()) - {ASSET_KEY})
                  & set(cohesion_dbt_assets.keys), key=lambda k: k.to_user_string())

    def build_june() -> list[str]:  # the daemon's build after police.uk loaded 2024-06 alone
        result = defs.resolve_job_def("warehouse_build").execute_in_process(
            instance=built["instance"], asset_selection=keys, tags={POLICE_MONTHS_TAG: "2024-06"},
            raise_on_error=False)
        assert result.success
        return [e.user_message for e in built["instance"].all_logs(result.run_id) if e.user_message]

    try:
        logs = build_june()
        assert any("incremental dbt build: police.uk months 2022-03, 2024-06" in m for m in logs), logs
        assert any("police.uk months 2022-03 were loaded but never built" in m for m in logs)
        assert wales_asb() == before - 1 == direct_asb()
        with duckdb.connect(str(path), read_only=True) as con:
            assert police_months_not_built(con) == []
    finally:  # the old load back, as it was: picked up by the next build the same way
        with duckdb.connect(str(path)) as con:
            con.execute("update raw.police_uk_street_crimes set load_id = ? where month = '2022-03' "
                        "and force_id = 'gwent'", [old_load])
            con.executemany("insert into raw.police_uk_street_crimes values (" + ", ".join("?" * len(removed[0]))
                            + ")", removed)
    build_june()
    assert wales_asb() == before
    with duckdb.connect(str(path), read_only=True) as con:
        assert police_months_not_built(con) == []


def test_the_police_loads_record_starts_with_a_full_build(tmp_path):
    """raw.build_police_loads on a real DuckDB file: unknown (None) until a full build records every load; an
    incremental build on a warehouse without a record leaves it unknown (else every month it did not build would
    look unbuilt); after that each build replaces the months it built, and a new load of a month shows."""
    import duckdb

    from orchestration.lib.build_plan import police_loads, police_months_not_built, record_police_loads

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert police_loads(con) == [] and police_months_not_built(con) is None
    con.execute("create schema raw")
    con.execute("create table raw.police_uk_street_crimes (month varchar, force_id varchar, load_id varchar)")
    con.execute("insert into raw.police_uk_street_crimes values ('2024-01', 'gwent', 'a'), ('2024-01', 'gwent', 'a'), "
                "('2024-01', 'dyfed-powys', 'b'), ('2024-02', 'gwent', 'c')")
    loads = police_loads(con)
    assert loads == [("2024-01", "dyfed-powys", "b"), ("2024-01", "gwent", "a"), ("2024-02", "gwent", "c")]
    record_police_loads(con, loads, ["2024-02"])
    assert police_months_not_built(con) is None  # no full build recorded yet: not known
    record_police_loads(con, loads, None)
    assert police_months_not_built(con) == []
    con.execute("update raw.police_uk_street_crimes set load_id = 'd' where month = '2024-01' and force_id = 'gwent'")
    con.execute("insert into raw.police_uk_street_crimes values ('2024-03', 'gwent', 'e')")
    assert police_months_not_built(con) == ["2024-01", "2024-03"]
    record_police_loads(con, police_loads(con), ["2024-03"])
    assert police_months_not_built(con) == ["2024-01"]
    record_police_loads(con, police_loads(con), ["2024-01"])
    assert police_months_not_built(con) == []
    con.close()
