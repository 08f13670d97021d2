"""Great Expectations suites on the built warehouse: a clean build passes, and each kind of corruption
fails the matching check with a clear message; an ERROR check stops what is downstream of it.

Corruptions are made on copies of the session's built warehouse, never on it.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import dagster as dg
import duckdb
import pytest

from orchestration.lib.quality.runner import record_results, run_suite
from orchestration.lib.quality.suites import (
    EXPECTATIONS_DIR,
    REFRESH_DAYS,
    all_suites,
    load_suites,
    observed_schema,
)

SUITES = {s["name"]: s for s in load_suites()}
AS_OF = "2024-06-30"


@pytest.fixture
def copy(built, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copyfile(built["settings"].warehouse_path, path)
    con = duckdb.connect(str(path))
    yield con
    con.close()


def check(con, suite: str, tmp_path, as_of: str = AS_OF):
    return run_suite(SUITES[suite], con, tmp_path / "gx", as_of=as_of)


def failed(outcome, expectation: str | None = None, column: str | None = None) -> list[dict]:
    return [r for r in outcome.failed
            if (expectation is None or r["expectation"] == expectation) and (column is None or r["column_name"] == column)]


def test_the_committed_suites_are_what_the_generator_writes(built, warehouse):
    schema = observed_schema(warehouse)
    generated = {s.name: s.as_json() for s in all_suites(schema)}
    committed = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in EXPECTATIONS_DIR.glob("*.json")}
    assert committed == generated, "run scripts/build_expectation_suites.py"


def test_a_clean_build_passes_every_check_but_the_honest_warnings(built, warehouse):
    evaluations = built["build"].get_asset_check_evaluations() + built["reference"].get_asset_check_evaluations()
    gx = {e.check_name: e for e in evaluations if e.check_name.startswith("gx_")}
    assert set(gx) == {f"gx_{name}" for name in SUITES}, "every suite ran as a check in the build"
    failing = {name: e for name, e in gx.items() if not e.passed}
    assert set(failing) <= {"gx_marts_fct_indicator_value__freshness", "gx_marts_fct_indicator_value"}
    for e in failing.values():
        assert e.severity == dg.AssetCheckSeverity.WARN
    # the reliability warning: only crime rates of LSOAs with few residents (city and town centres) whose 95%
    # interval is wider than the catalogue's max_ci_width, recomputed from the mart and the catalogue
    failed_rows = warehouse.execute(
        """select expectation, column_name, unexpected_count from marts.dq_results
           where suite = 'marts_fct_indicator_value' and not success
             and checked_at = (select max(checked_at) from marts.dq_results where suite = 'marts_fct_indicator_value')"""
    ).fetchall()
    wide = warehouse.execute(
        """select v.geography_level, d.population_2021 from marts.fct_indicator_value v
           join ref.indicator_catalogue c using (indicator_id)
           left join marts.dim_geography d on v.area_code = d.lsoa21_code
           where v.uci_95 - v.lci_95 > c.max_ci_width"""
    ).fetchall()
    assert {(e, c) for e, c, _ in failed_rows} <= {("expect_column_values_to_be_null", "interval_wider_than_allowed")}
    assert sum(n for *_, n in failed_rows) == len(wide)
    assert all(level == "lsoa" and population < 3000 for level, population in wide)
    # the stale series, recomputed from the catalogue and the mart: newest period + frequency + lag < as-of
    stale = {
        ind for ind, frequency, latest in warehouse.execute(
            """select v.indicator_id, c.frequency, max(coalesce(v.period_end, v.period_start))
               from marts.fct_indicator_value v join ref.indicator_catalogue c using (indicator_id) group by all"""
        ).fetchall()
        if frequency in REFRESH_DAYS and latest + timedelta(days=REFRESH_DAYS[frequency]) < date.fromisoformat(AS_OF)
    }
    flagged = warehouse.execute(
        """select sample from marts.dq_results where suite = 'marts_fct_indicator_value__freshness' and not success
           order by checked_at desc limit 1"""
    ).fetchall()
    shown = {text.split(" ")[0] for text in json.loads(flagged[0][0])} if flagged else set()
    assert shown == stale
    # every expectation's outcome landed in marts.dq_results for this build
    n_expectations = sum(len(s["expectations"]) for s in SUITES.values())
    run_ids = [built["build"].run_id, built["reference"].run_id]
    assert warehouse.execute("select count(*) from marts.dq_results where run_id in (?, ?)", run_ids).fetchall() == [
        (n_expectations,)]


def test_data_docs_are_built(built):
    index = built["settings"].gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    text = index.read_text(encoding="utf-8")
    assert "marts_fct_indicator_value" in text and "raw_wimd2025_lsoa21" in text


def test_the_report_carries_the_warning_as_a_caveat(built):
    report = (built["settings"].reports_dir / "crime_exception_report_latest.html").read_text(encoding="utf-8")
    assert "Data-quality warning (marts_fct_indicator_value__freshness" in report


# ---------------------------------------------------------------- each kind of limit, corrupted


def test_a_value_out_of_its_valid_range(copy, tmp_path):
    copy.execute("""update marts.fct_indicator_value set value = 130
                    where indicator_id = 'pct_social_rented' and geography_level = 'la' and area_code = 'W06000022'""")
    outcome = check(copy, "marts_fct_indicator_value", tmp_path)
    assert outcome.severity == "error"
    [row] = failed(outcome, "expect_column_values_to_be_null", "outside_valid_range")
    assert row["why"] == "every value inside its indicator's valid range (catalogue valid_min–valid_max)"
    # the sample names the indicator, the area, the value and the limit it broke
    assert sorted(json.loads(row["sample"])) == [
        f"pct_social_rented la W06000022 Census {year}: 130.0 outside the valid range 0.0–100.0 percent"
        for year in (2011, 2021)]


def test_an_interval_that_does_not_contain_its_value_and_a_zero_denominator(copy, tmp_path):
    copy.execute("""update marts.fct_indicator_value set lci_95 = value + 1, denominator = 0
                    where indicator_id = 'pct_ethnic_minority' and area_code = 'W06000015'""")
    outcome = check(copy, "marts_fct_indicator_value", tmp_path)
    assert outcome.severity == "error"
    assert failed(outcome, "expect_column_pair_values_a_to_be_greater_than_b", "value")[0]["why"] == \
        "the interval contains the value"
    assert failed(outcome, "expect_column_values_to_be_between", "denominator")[0]["unexpected_count"] >= 1


def test_a_missing_lsoa_in_raw_data_and_in_an_indicator_period(copy, tmp_path):
    copy.execute("delete from raw.wimd2025_lsoa21 where lsoa21_code = 'W01001661'")
    raw = check(copy, "raw_wimd2025_lsoa21", tmp_path)
    assert raw.severity == "error"
    [row] = failed(raw, "expect_column_unique_value_count_to_be_between")
    assert row["why"] == "every one of the 1917 2021 LSOAs present" and json.loads(row["observed_value"]) == 1916
    copy.execute("""delete from marts.fct_indicator_value
                    where indicator_id = 'pct_social_rented' and geography_level = 'lsoa' and area_code = 'W01001661'""")
    coverage = check(copy, "marts_fct_indicator_value__coverage", tmp_path)
    assert coverage.severity == "error"
    [row] = failed(coverage)
    assert json.loads(row["sample"]) == ["pct_social_rented lsoa 2021-03-21: 1 of 1917 areas missing"]


def test_codes_from_the_wrong_vintage_and_duplicate_keys(copy, tmp_path):
    # W01000001 is a 2011 LSOA merged away in 2021: not a valid code for the 2021 table
    copy.execute("update raw.wimd2025_lsoa21 set lsoa21_code = 'W01000001' where lsoa21_code = 'W01000003'")
    copy.execute("insert into raw.wimd2025_lsoa21 select * from raw.wimd2025_lsoa21 where lsoa21_code = 'W01001661'")
    outcome = check(copy, "raw_wimd2025_lsoa21", tmp_path)
    assert json.loads(failed(outcome, "expect_column_values_to_be_in_set", "lsoa21_code")[0]["sample"]) == ["W01000001"]
    assert failed(outcome, "expect_column_values_to_be_unique", "lsoa21_code")


def test_a_stale_source(copy, tmp_path):
    # a year on, the monthly crime series (newest month June 2024) are past their refresh date
    outcome = check(copy, "marts_fct_indicator_value__freshness", tmp_path, as_of="2025-06-30")
    assert outcome.severity == "warn"
    stale = json.loads(failed(outcome)[0]["sample"])
    assert any(s.startswith("all_crime_rate (monthly; newest period ends 2024-06-30") for s in stale)


def test_reliability_limits_are_warnings(copy, tmp_path):
    # an APS (survey) estimate shown for an LSOA, and an interval far wider than the catalogue allows
    copy.execute("""insert into marts.fct_indicator_value by name
                    select * replace ('lsoa' as geography_level, 'W01001661' as area_code)
                    from marts.fct_indicator_value where indicator_id = 'pct_no_qualifications_aps' limit 1""")
    copy.execute("""update marts.fct_indicator_value set lci_95 = 0, uci_95 = 60
                    where indicator_id = 'pct_social_rented' and area_code = 'W06000022'""")
    outcome = check(copy, "marts_fct_indicator_value", tmp_path)
    assert outcome.severity == "warn", [r["why"] for r in outcome.failed]
    samples = {r["column_name"]: json.loads(r["sample"]) for r in outcome.failed}
    assert set(samples) == {"below_min_reliable_level", "interval_wider_than_allowed"}
    assert any(s.startswith("pct_no_qualifications_aps lsoa W01001661 ") and s.endswith(": not reliable below la")
               for s in samples["below_min_reliable_level"])
    assert "pct_social_rented la W06000022 Census 2021: 95% interval 60.0 wide, more than 10.0 percent" in \
        samples["interval_wider_than_allowed"]


def test_personal_data_in_a_text_column(copy, tmp_path):
    copy.execute("update marts.fct_incident set description = 'Reported by Mrs Jane Roberts on 07700 900555' "
                 "where incident_ref = (select min(incident_ref) from marts.fct_incident)")
    outcome = check(copy, "marts_fct_incident", tmp_path)
    assert outcome.severity == "error"
    [row] = failed(outcome, "expect_column_values_to_not_match_regex_list", "description")
    assert row["why"] == "personal data must never reach a mart" and row["unexpected_count"] == 1
    # the failing value is personal data: it is counted, never copied into results, Data Docs or dq_results
    record_results(copy, outcome)
    assert row["sample"] is None and row["observed_value"] is None
    assert not copy.execute("select count(*) from marts.dq_results where contains(coalesce(sample, '') || "
                            "coalesce(observed_value, ''), '900555')").fetchone()[0]
    stored = [p for p in (tmp_path / "gx").rglob("*") if p.is_file() and "900555" in p.read_text(errors="ignore")]
    assert not stored, stored


def test_a_small_count_in_the_shared_tier(copy, tmp_path):
    # a shown group count (not a total, so what its line's hidden rows add up to only grows) made small
    copy.execute("""update marts.shared_incident_summary set incident_count = 3, is_suppressed = false
                    where (la_code, quarter, incident_group) in
                          (select la_code, quarter, incident_group from marts.shared_incident_summary
                           where incident_group <> 'all' and incident_count >= 5 limit 1)""")
    outcome = check(copy, "marts_shared_incident_summary", tmp_path)
    assert outcome.severity == "error"
    [row] = failed(outcome)
    assert row["why"] == "counts from 1 to threshold − 1 must be suppressed before sharing"


def test_a_total_that_gives_hidden_counts_back_in_the_shared_tier(copy, tmp_path):
    # the case: a shown total leaving the hidden group rows of its line one incident each
    [(changed,)] = copy.execute(
        """update marts.shared_incident_summary as s set incident_count = l.shown + l.hidden
           from (select la_code, quarter,
                        coalesce(sum(incident_count) filter (where incident_group <> 'all'), 0) as shown,
                        count(*) filter (where incident_group <> 'all' and is_suppressed) as hidden
                 from marts.shared_incident_summary
                 group by la_code, quarter
                 having bool_or(incident_group = 'all' and not is_suppressed)
                    and count(*) filter (where incident_group <> 'all' and is_suppressed) > 0
                 order by la_code, quarter limit 1) as l
           where s.la_code = l.la_code and s.quarter = l.quarter and s.incident_group = 'all'"""
    ).fetchall()
    assert changed == 1
    outcome = check(copy, "marts_shared_incident_summary", tmp_path)
    assert outcome.severity == "error"
    [row] = failed(outcome, "expect_column_values_to_be_null", "disclosive_remainder")
    assert row["why"].startswith("where the total is shown, hidden counts must be at least two")


def test_a_free_text_column_in_the_shared_tier(copy, tmp_path):
    copy.execute("alter table marts.shared_incident_summary add column notes varchar")
    outcome = check(copy, "marts_shared_incident_summary", tmp_path)
    assert failed(outcome, "expect_table_columns_to_match_set")[0]["why"].startswith("only codes, labels")


def test_a_grade_off_the_scale_in_partner_data(copy, tmp_path):
    copy.execute("update raw.partner_tension_assessments set current_grade = '7' where row_number = 2")
    outcome = check(copy, "raw_partner_tension_assessments", tmp_path)
    assert outcome.severity == "error"
    assert failed(outcome, "expect_column_values_to_be_in_set", "current_grade")


def test_results_are_recorded(copy, tmp_path):
    outcome = check(copy, "raw_wimd2025_lsoa21", tmp_path)
    record_results(copy, outcome)
    rows = copy.execute(
        "select count(*), bool_and(success) from marts.dq_results where suite = 'raw_wimd2025_lsoa21' and run_id is null"
    ).fetchall()
    assert rows == [(len(SUITES["raw_wimd2025_lsoa21"]["expectations"]), True)]


# ---------------------------------------------------------------- an ERROR check blocks downstream


def test_an_error_check_stops_downstream_assets(built, tmp_path, monkeypatch):
    from orchestration.defs.dbt import cohesion_dbt_assets, dbt_resource
    from orchestration.defs.quality import gx_checks
    from orchestration.defs.raw_public import snapshot_assets
    from orchestration.defs.resources import WarehouseResource

    path = tmp_path / "w.duckdb"
    shutil.copyfile(built["settings"].warehouse_path, path)
    con = duckdb.connect(str(path))
    # edited in place (same row count), so the reload sees 'unchanged' input and leaves it: the check must stop it
    con.execute("update raw.wimd2025_lsoa21 set wimd_decile = 11 where lsoa21_code = 'W01001661'")
    con.close()
    monkeypatch.setenv("COHESION_WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("COHESION_GX_DIR", str(tmp_path / "gx"))
    settings = built["settings"]
    resources = {
        "warehouse": WarehouseResource(warehouse_path=str(path), snapshots_dir=str(settings.snapshots_dir),
                                       reports_dir=str(tmp_path), quarantine_dir=str(tmp_path)),
        "dbt": dbt_resource(),
    }
    raw = dg.AssetKey(["raw", "wimd2025_lsoa21"])
    staging = dg.AssetKey(["staging", "stg_wimd__wimd2025_lsoa21"])
    wimd = next(a for a in snapshot_assets if raw in a.keys)
    check = next(c for c in gx_checks if c.check_keys and next(iter(c.check_keys)).asset_key == raw)
    result = dg.materialize([wimd, cohesion_dbt_assets, check], selection=[raw, staging], resources=resources,
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_key == raw]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "| error | expect_column_values_to_be_between | wimd_decile | 1 |" in evaluation.metadata["failing_expectations"].value
    materialized = {m.asset_key for m in result.get_asset_materialization_events() for m in [m.event_specific_data.materialization]}
    assert raw in materialized and staging not in materialized, "the staging view was not rebuilt on bad data"


def test_a_missing_table_is_a_clear_error_not_a_crash(copy, tmp_path):
    copy.execute("drop table marts.fct_risk")
    outcome = check(copy, "marts_fct_risk", tmp_path)
    assert outcome.severity == "error"
    [row] = outcome.rows
    assert row["expectation"] == "suite_query" and "could not be read" in row["why"] and "fct_risk" in row["why"]
    record_results(copy, outcome)  # and it is recorded like any other result


def test_stored_validation_results_are_pruned(copy, tmp_path):
    from orchestration.lib.quality import runner

    for _ in range(4):
        run_suite(SUITES["raw_wimd2025_lsoa21"], copy, tmp_path / "gx", as_of=AS_OF)
    stored = tmp_path / "gx" / "gx" / "uncommitted" / "validations" / "raw_wimd2025_lsoa21"
    assert len(list(stored.glob("*/*"))) == 4
    assert runner.prune_history(tmp_path / "gx", "raw_wimd2025_lsoa21", keep=2) == 4  # 2 results + 2 pages
    assert len(list(stored.glob("*/*"))) == 2


def test_police_rows_are_validated_once_after_each_load_of_their_month(copy, tmp_path):
    """The police.uk suite checks the rows loaded since it last passed: after a clean pass nothing is checked
    again until a month reloads, then only that month; a corrupt reloaded month still fails."""
    from datetime import datetime

    copy.execute("delete from marts.dq_results where suite = 'raw_police_uk_street_crimes'")
    first = check(copy, "raw_police_uk_street_crimes", tmp_path)
    total = copy.execute("select count(*) from raw.police_uk_street_crimes").fetchone()[0]
    counted = {r["element_count"] for r in first.rows if r["element_count"] is not None}
    assert first.success and counted == {total}
    record_results(copy, first)
    again = check(copy, "raw_police_uk_street_crimes", tmp_path)
    assert again.success and {r["element_count"] for r in again.rows if r["element_count"] is not None} == {0}
    record_results(copy, again)
    # a month reloads (a later loaded_at) with one bad crime type
    later = datetime.utcnow().replace(microsecond=0) + timedelta(seconds=2)
    copy.execute("update raw.police_uk_street_crimes set loaded_at = ? where force_id = 'gwent' and month = '2023-03'",
                 [later])
    copy.execute("update raw.police_uk_street_crimes set crime_type = 'Not a police.uk category' "
                 "where force_id = 'gwent' and month = '2023-03' and source_row = 2")
    month_rows = copy.execute("select count(*) from raw.police_uk_street_crimes where force_id = 'gwent' "
                              "and month = '2023-03'").fetchone()[0]
    reloaded = check(copy, "raw_police_uk_street_crimes", tmp_path)
    assert {r["element_count"] for r in reloaded.rows if r["element_count"] is not None} == {month_rows}
    assert failed(reloaded, "expect_column_values_to_be_in_set", "crime_type")


# --- the frame GX validates ----------------------------------------------------------------------------

def same_frame(got, expected) -> None:
    """Equal frames, with the same dtypes, and in object columns the same values of the same types (a NULL
    read as NaN in one and None in the other would still compare equal)."""
    import pandas as pd

    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    for column in expected.columns:
        if expected[column].dtype == object:
            assert [type(v) for v in got[column]] == [type(v) for v in expected[column]], column


def test_the_frame_read_for_gx_is_the_one_duckdb_gives():
    """runner.read_frame reads a suite's rows through Arrow; it must give GX exactly the frame DuckDB's own
    conversion (as validation_frame adjusts it) gives: text with and without NULLs, all NULL, no rows, every
    other column type it reads through Arrow, and the types and names it leaves to DuckDB."""
    from orchestration.lib.quality.runner import read_frame, validation_frame

    con = duckdb.connect()
    con.execute("""
        create table t as select
            case when i % 3 = 0 then null else 'Heol ' || i || ' â' end as text_with_nulls,
            null::varchar as text_all_null, 'x' || i as text, case when i % 5 = 0 then null else i end::bigint as big,
            case when i % 5 = 0 then null else i end::integer as int, i::smallint as small, (i % 100)::tinyint as tiny,
            case when i % 4 = 0 then null else i / 3.0 end::double as dbl, (i / 3)::float as flt,
            case when i % 4 = 0 then null else i % 2 = 0 end as flag,
            timestamp '2024-01-01' + to_minutes(i) as ts,
            case when i % 7 = 0 then null else date '2024-01-01' + i::integer end as day,
            (i / 7)::decimal(10, 2) as dec, (i / 7)::decimal(30, 2) as wide_dec
        from range(5000) r(i)""")
    queries = [
        "select * from t",
        "select * from t where false",
        "select * from t where big is null",
        "select text_with_nulls, text_all_null from t where text_with_nulls is null",
        "select count(*) as n, text_with_nulls from t group by all order by all",
        "select 1 as x, 'a' as x",  # repeated names: DuckDB's own path
        "select '{}'::json as j, [1, 2] as l, 'a' as s",  # types left to DuckDB
    ]
    for query in queries:
        same_frame(read_frame(con, query), validation_frame(con.sql(query).df()))
    con.close()


def test_every_suite_reads_the_frame_duckdb_gives(copy):
    from orchestration.lib.quality.runner import query_for, read_frame, validation_frame

    for suite in SUITES.values():
        # every row (no connection: nothing is scoped to what changed since the last pass), ordered so that
        # the two reads of a query with joins or groups return their rows in the same order
        query = f"select * from ({query_for(suite, AS_OF)}) order by all"
        expected = validation_frame(copy.sql(query).df())
        if suite["name"] == "raw_police_uk_street_crimes":
            assert len(expected) > 300_000  # every bundled row
        same_frame(read_frame(copy, query), expected)


def test_great_expectations_is_imported_in_the_background_while_dbt_runs():
    """The dbt step starts the import of Great Expectations in a thread (3-6 s the run's first suite otherwise
    spends right after dbt, before the report); in a fresh interpreter: imported once the thread ends, not again."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from orchestration.lib.quality.runner import import_in_background\n"
            "assert 'great_expectations' not in sys.modules\n"
            "thread = import_in_background()\n"
            "assert thread is not None and thread.daemon\n"
            "thread.join(120)\n"
            "assert 'great_expectations' in sys.modules and import_in_background() is None\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          cwd=str(EXPECTATIONS_DIR.parent))
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# --- large suites in parts -----------------------------------------------------------------------------
def test_a_large_suite_validated_in_parts_gives_the_same_results_as_whole(copy, tmp_path, monkeypatch):
    """The police.uk suite is validated in parts of whole files when its rows are many (at 10 years of four forces
    3.2M rows took 5.5 GB in one frame, 1.8 GB in parts of 500,000); every result - counts, percentages, the
    failing values and their order - is the one a single frame gives, failures spread over several parts."""
    from orchestration.lib.quality import runner

    suite = SUITES["raw_police_uk_street_crimes"]
    assert suite["meta"]["chunk_by"] == "source_file" and runner.chunkable(suite)
    # a count of distinct values cannot be added up over parts; a uniqueness only within the chunk column's groups
    assert not runner.chunkable({**SUITES["raw_wimd2025_lsoa21"], "meta": {
        **SUITES["raw_wimd2025_lsoa21"]["meta"], "chunk_by": "lsoa21_code"}})
    assert not runner.chunkable({"meta": {"chunk_by": "month"}, "expectations": [
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["source_file", "source_row"]}}]})
    copy.execute("delete from marts.dq_results where suite = 'raw_police_uk_street_crimes'")
    files = [f for (f,) in copy.execute("select distinct source_file from raw.police_uk_street_crimes order by 1")
             .fetchall()]
    for name in (files[3], files[40], files[-2]):  # a category police.uk does not publish, in three files
        copy.execute("update raw.police_uk_street_crimes set crime_type = 'Bogus' || source_row "
                     "where source_file = ? and source_row in (2, 9)", [name])
    copy.execute("update raw.police_uk_street_crimes set lsoa_code = 'E0' where source_file = ? "
                 "and source_row between 5 and 16 and lsoa_code is not null", [files[20]])  # 12 of 1 file
    copy.execute("insert into raw.police_uk_street_crimes select * from raw.police_uk_street_crimes "
                 "where source_file = ? and source_row = 3", [files[-1]])  # a duplicate file row

    total = copy.execute("select count(*) from raw.police_uk_street_crimes").fetchone()[0]
    query = runner.query_for(suite, AS_OF, copy)
    assert runner.chunk_queries(suite, copy, query, limit=total) is None  # not more rows than a part: one frame
    parts = runner.chunk_queries(suite, copy, query, limit=total // 8)
    assert 8 <= len(parts) <= 10
    counts = [copy.execute(f"select count(*), count(distinct source_file) from ({q})").fetchone() for q in parts]
    assert sum(n for n, _ in counts) == total and sum(f for _, f in counts) == len(files)  # whole files, each once

    whole = run_suite({**suite, "meta": {k: v for k, v in suite["meta"].items() if k != "chunk_by"}}, copy,
                      tmp_path / "gx-whole", as_of=AS_OF, run_id="whole")
    monkeypatch.setenv(runner.CHUNK_ROWS_ENV, str(total // 8))
    chunked = run_suite(suite, copy, tmp_path / "gx", as_of=AS_OF, run_id="chunked")

    def comparable(outcome):
        return [{k: v for k, v in r.items() if k not in ("checked_at", "run_id")} for r in outcome.rows]

    assert comparable(chunked) == comparable(whole)
    assert {(r["expectation"], r["column_name"], r["unexpected_count"]) for r in chunked.failed} == {
        ("expect_column_values_to_be_in_set", "crime_type", 6),
        ("expect_column_values_to_match_regex", "lsoa_code", 12),
        ("expect_compound_columns_to_be_unique", "source_file,source_row", 2)}
    assert {r["element_count"] for r in chunked.rows if r["element_count"] is not None} == {total}
    # each part is its own validation in the Data Docs, named after the run and the part
    stored = tmp_path / "gx" / "gx" / "uncommitted" / "validations" / "raw_police_uk_street_crimes"
    assert sorted(p.name for p in stored.iterdir()) == sorted(f"chunked part {k} of {len(parts)}"
                                                             for k in range(1, len(parts) + 1))


def test_pruning_keeps_or_deletes_a_checks_parts_together(tmp_path):
    """A suite validated in parts stores one validation per part, all with the check's run time: the newest checks
    are kept whole, however many parts each has (GX's own layout: <run name>/<run time>/)."""
    from orchestration.lib.quality import runner

    uncommitted = tmp_path / "gx" / "uncommitted"
    roots = [uncommitted / "validations" / "s", uncommitted / "data_docs" / "local_site" / "validations" / "s"]
    checks = {"20261201T000000.000000Z": 1, "20261202T000000.000000Z": 3, "20261203T000000.000000Z": 7,
              "20261204T000000.000000Z": 1, "20261205T000000.000000Z": 7}
    for root in roots:
        for day, parts in checks.items():
            names = [f"run-{day[6:8]}"] if parts == 1 else [f"run-{day[6:8]} part {k} of {parts}"
                                                            for k in range(1, parts + 1)]
            for name in names:
                (root / name / day).mkdir(parents=True)
                (root / name / day / "result.json").write_text("{}")
    assert runner.prune_history(tmp_path, "s", keep=3) == 2 * (1 + 3)
    for root in roots:
        kept = sorted((p.parent.name, p.name) for p in root.glob("*/*"))
        assert sorted({day for _, day in kept}) == ["20261203T000000.000000Z", "20261204T000000.000000Z",
                                                    "20261205T000000.000000Z"]
        assert len(kept) == 7 + 1 + 7
        assert not (root / "run-01").exists() and not (root / "run-02 part 1 of 3").exists()  # empty folders go
