"""The landing-folder sensor and the ingestion runs it starts, with real Dagster and real dbt.

Each test gets its own landing folder, restricted store and DuckDB file. The runs execute the real
`partner_extracts_ingest` job (in-process executor, GX checks included) on exactly the selection the sensor
asks for (the partner assets, the tension models downstream and the seeds they read), so `dbt build` runs
for real on the new warehouse.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs import partner_extracts as partner_defs
from orchestration.defs.dbt import cohesion_dbt_assets, dbt_resource
from orchestration.defs.delivery import emergency_flash
from orchestration.defs.partner_extracts import JOB_NAME, PARTNER_FILES_KEY, QUARANTINE_CHECK, partner_extracts, partner_landing_sensor
from orchestration.defs.quality import gx_checks
from orchestration.defs.resources import PartnerStoreResource, WarehouseResource
from orchestration.definitions import defs
from orchestration.lib.partner_extracts import contracts

HEADER = contracts.extract_types()["incidents"].column_names
OLD = time.time() - 3600  # files dropped an hour ago


def incident(ref, kind="hate_crime", strands="race", area="W01001524", day="2024-05-03"):
    return [ref, day, day, area, kind, strands, "", "Gwent Police", f"Reported by PC Dai Morgan, ref {ref}"]


@pytest.fixture
def site(tmp_path, monkeypatch):
    landing, restricted, warehouse = tmp_path / "landing", tmp_path / "restricted", tmp_path / "w.duckdb"
    monkeypatch.setenv("COHESION_LANDING_DIR", str(landing))
    monkeypatch.setenv("COHESION_WAREHOUSE_PATH", str(warehouse))  # read by the dbt subprocess
    monkeypatch.setenv("COHESION_LANDING_SETTLE_SECONDS", "0")  # the settle wait has its own test
    for name in contracts.extract_types():
        (landing / name).mkdir(parents=True)
    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "warehouse": WarehouseResource(warehouse_path=str(warehouse), snapshots_dir=str(tmp_path), reports_dir=str(tmp_path),
                                       quarantine_dir=str(tmp_path)),
        "partner_store": PartnerStoreResource(landing_dir=str(landing), restricted_dir=str(restricted), settle_seconds=0),
        "dbt": dbt_resource(),
    }
    return {"landing": landing, "warehouse": warehouse, "instance": instance, "resources": resources, "tmp": tmp_path}


def drop(site, name, rows, mtime=OLD, folder="incidents", header=HEADER) -> Path:
    path = site["landing"] / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    os.utime(path, (mtime, mtime))
    return path


def tick(site) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(instance=site["instance"], repository_def=defs.get_repository_def())
    result = partner_landing_sensor(context)
    if result is None or isinstance(result, dg.SkipReason):
        return []
    return [result] if isinstance(result, dg.RunRequest) else list(result)


def run(site, request: dg.RunRequest, with_dbt: bool = True):
    """Materialize the sensor's selection in-process with the GX checks on it (without dbt: only the partner
    assets)."""
    selection = request.asset_selection if with_dbt else [PARTNER_FILES_KEY, *partner_defs.EXTRACT_KEYS.values()]
    return dg.materialize(
        [partner_extracts, cohesion_dbt_assets, emergency_flash, *gx_checks],
        selection=selection, run_config=request.run_config, resources=site["resources"], instance=site["instance"],
        tags=request.tags, raise_on_error=False,
    )


def query(site, sql):
    con = duckdb.connect(str(site["warehouse"]), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_new_duplicate_and_corrected_files_through_the_sensor(site):
    assert tick(site) == []
    first = drop(site, "gwent-police_2024-05.csv", [incident("GP/1"), incident("GP/2", kind="asb", strands="")])
    [request] = tick(site)
    assert request.run_config == {"ops": {"partner_extracts": {"config": {"files": [str(first)]}}}}
    selected = {k.to_user_string() for k in request.asset_selection}
    assert {"raw/partner_files", "raw/partner_incidents", "marts/fct_incident", "marts/fct_tension_evidence"} <= selected
    assert "raw/partner_risk_register" not in selected, "only the folder that changed is ingested"
    assert tick(site)[0].run_key == request.run_key, "same files, same key: the daemon starts it once"

    result = run(site, request)
    assert result.success
    assert not first.exists()
    assert query(site, "select incident_ref, incident_type, description from marts.fct_incident order by 1") == [
        ("GP/1", "hate_crime", "Reported by PC [name], ref GP/1"),
        ("GP/2", "asb", "Reported by PC [name], ref GP/2"),
    ]
    check = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in check if c.check_name == QUARANTINE_CHECK] == [(QUARANTINE_CHECK, True)]
    assert {c.check_name for c in check} >= {"gx_raw_partner_incidents", "gx_marts_fct_incident"}, "GX suites ran"
    assert tick(site) == [], "nothing left in the landing folder"
    seeds_loaded = {k.to_user_string() for k in request.asset_selection if k.path[0] == "ref"}
    assert seeds_loaded, "a fresh warehouse gets the reference seeds"

    # the same file sent again: a new run (so the arrival is recorded) that changes nothing
    again = drop(site, "gwent-police_2024-05.csv", [incident("GP/1"), incident("GP/2", kind="asb", strands="")],
                 mtime=OLD + 60)
    [request_again] = tick(site)
    assert request_again.run_key != request.run_key
    assert not [k for k in request_again.asset_selection if k.path[0] == "ref"], "seeds already loaded are not reloaded"
    assert run(site, request_again, with_dbt=False).success and not again.exists()
    assert query(site, "select outcome from raw.partner_file_log order by received_at") == [("accepted",), ("duplicate",)]
    assert query(site, "select count(*) from raw.partner_incidents") == [(2,)]

    # a corrected file for the same partner and period supersedes the first; history is kept
    drop(site, "gwent-police_2024-05_corrected.csv",
         [incident("GP/1"), incident("GP/2", kind="public_order", strands=""), incident("GP/3")], mtime=OLD + 120)
    [request_corrected] = tick(site)
    selected = {k.to_user_string() for k in request_corrected.asset_selection}
    assert not {"raw/partner_risk_register", "staging/stg_partner__risk_register", "staging/stg_partner__tension_reports",
                "ref/community_types"} & selected, "models of other folders and seeds already built are not rebuilt"
    assert run(site, request_corrected).success
    assert query(site, "select incident_ref, incident_type from marts.fct_incident order by 1") == [
        ("GP/1", "hate_crime"), ("GP/2", "public_order"), ("GP/3", "hate_crime")]
    assert query(site, "select count(*) filter (where superseded_by is not null), count(*) from raw.partner_files") == [(1, 2)]
    assert query(site, "select count(*) from raw.partner_incidents") == [(5,)]


def test_everything_waiting_goes_in_one_run_and_nothing_while_a_run_is_ingesting(site, monkeypatch):
    files = [drop(site, "gwent-police_2024-05.csv", [incident("GP/1")]),
             drop(site, "newport-council_2024-05.csv", [incident("NCC/1")], mtime=OLD + 1),
             drop(site, "tension-group_2024-05.csv", [["2024-05-07", "2024-05-01", "2024-06-30", "W06000022", "ethnic",
                                                       "eep6", "4", "3", "", ""]], mtime=OLD + 2,
                  folder="tension_assessments", header=contracts.extract_types()["tension_assessments"].column_names)]
    [request] = tick(site)
    assert request.run_config["ops"]["partner_extracts"]["config"]["files"] == [str(f) for f in files]
    selected = {k.to_user_string() for k in request.asset_selection}
    assert {"raw/partner_incidents", "raw/partner_tension_assessments", "marts/fct_tension_assessment"} <= selected
    assert "raw/partner_risk_register" not in selected, "a folder with no new file is not read"
    assert "staging/stg_partner__risk_register" in selected, "a fresh warehouse gets every staging view once"

    # a run of the job in progress: the sensor waits for it rather than start a second run for the same files
    run_record = site["instance"].create_run_for_job(
        job_def=defs.resolve_job_def(JOB_NAME), run_config=request.run_config, status=dg.DagsterRunStatus.STARTED)
    context = dg.build_sensor_context(instance=site["instance"], repository_def=defs.get_repository_def())
    skipped = partner_landing_sensor(context)
    assert isinstance(skipped, dg.SkipReason) and run_record.run_id in skipped.skip_message
    # ... unless it has been "in progress" far longer than any ingestion takes (its process was killed)
    monkeypatch.setattr(partner_defs, "STALE_RUN_SECONDS", -1)
    assert len(tick(site)) == 1


def test_a_file_still_being_written_waits(site, monkeypatch):
    path = site["landing"] / "incidents" / "gwent-police_2024-05.csv"
    with open(path, "w", encoding="utf-8") as writer:  # a copy in progress: the file is held open
        writer.write(",".join(HEADER) + "\n")
        writer.flush()
        os.utime(path, (OLD, OLD))
        assert tick(site) == []
    monkeypatch.setenv("COHESION_LANDING_SETTLE_SECONDS", "30")
    assert tick(site) == [], "closed, but changed less than 30 s ago"
    path.with_name(path.name + ".done").touch()
    assert len(tick(site)) == 1, "the partner's marker says it is complete"


SHIFTED_NAME = "Bethan Lloyd-Hughes"


def test_a_bad_file_warns_in_the_ui_changes_nothing_and_quotes_no_cell(site):
    drop(site, "gwent-police_2024-05.csv", [incident("GP/1")])
    assert run(site, tick(site)[0], with_dbt=False).success
    # shifted columns: a bare name lands in area_code (and a cell beyond the header)
    bad = drop(site, "gwent-police_2024-06.csv", [incident("GP/9", area=SHIFTED_NAME, day="2024-06-02"),
                                                  [SHIFTED_NAME, *incident("GP/10", day="2024-06-02")]], mtime=OLD + 60)
    [request] = tick(site)
    result = run(site, request)
    assert result.success, "a quarantined file is reported, not a crashed run"
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == QUARANTINE_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    problems = check.metadata["problems"].value
    assert "gwent-police_2024-06.csv" in problems and "area_code" in problems and "shape" in problems
    rebuilt = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    assert rebuilt == [], f"a quarantined file changes no data, so nothing is rebuilt: {rebuilt}"
    assert not bad.exists()
    assert query(site, "select count(*) from raw.partner_incidents") == [(1,)]
    [errors] = list((site["tmp"] / "restricted" / "quarantine" / "incidents").glob("*/errors.csv"))
    assert SHIFTED_NAME in errors.read_text(encoding="utf-8"), "the partner's report (restricted) shows the value"
    # ... and nothing outside the restricted store does: Dagster's event log, the warehouse's file log
    events = site["instance"].all_logs(result.run_id)
    dumped = json.dumps([dg.serialize_value(e) for e in events])
    assert "Bethan" not in dumped and "Lloyd" not in dumped
    assert "Bethan" not in str(query(site, "select * from raw.partner_file_log"))


def test_the_daily_purge_job_enforces_retention(site):
    drop(site, "gwent-police_2024-05.csv", [incident("GP/1")])
    assert run(site, tick(site)[0], with_dbt=False).success
    originals = site["tmp"] / "restricted" / "originals"
    assert list(originals.rglob("*.csv"))
    job = defs.resolve_job_def("purge_partner_originals")
    keep = {**site["resources"], "partner_store": PartnerStoreResource(
        landing_dir=str(site["landing"]), restricted_dir=str(site["tmp"] / "restricted"), retention_days=30)}
    assert job.execute_in_process(instance=site["instance"], resources=keep).success
    assert list(originals.rglob("*.csv")), "received today: kept for 30 days"
    purge_now = {**keep, "partner_store": PartnerStoreResource(
        landing_dir=str(site["landing"]), restricted_dir=str(site["tmp"] / "restricted"), retention_days=-1)}
    assert job.execute_in_process(instance=site["instance"], resources=purge_now).success
    assert not list(originals.rglob("*.csv"))
    assert query(site, "select count(*) from raw.partner_incidents") == [(1,)], "redacted rows stay"


PII = {
    "name": "Mrs Bethan Lloyd-Hughes",
    "phone": "07700 900777",
    "email": "bethan.lh@example.org",
    "postcode": "NP19 7AB",
    "ni": "AB 12 34 56 C",
    "reg": "CV21 XYZ",
    "address": "27 Commercial Street",
}
PII_TEXT = "; ".join(PII.values())


def _pii_rows() -> dict[str, list[list[str]]]:
    """One valid row per extract type with every free-text field carrying every kind of personal data."""
    rows = {}
    for name, extract in contracts.extract_types().items():
        values = {
            "tension_reports": {"submitted_on": "2024-05-02", "source_type": "resident", "area_code": "W01001661",
                                "community_types": "ethnic", "tension_categories": "community",
                                "submitter_name": "Bethan Lloyd-Hughes", "submitter_organisation": "Pill Residents",
                                "submitter_email": PII["email"], "submitter_phone": PII["phone"],
                                "contact_consent": "yes"},
            "incidents": {"incident_ref": "P/1", "occurred_on": "2024-05-02", "reported_on": "2024-05-02",
                          "area_code": "W01001661", "incident_type": "hate_incident", "hate_strands": "race",
                          "source_organisation": "Gwent Police"},
            "tension_assessments": {"assessment_date": "2024-05-07", "period_start": "2024-05-01",
                                    "period_end": "2024-06-30", "area_code": "W06000022", "community_type": "ethnic",
                                    "scale": "eep6", "current_grade": "4", "potential_grade": "3"},
            "community_impact_assessments": {"cia_id": "CIA-P1", "trigger": "rating", "triggered_on": "2024-05-09",
                                             "area_code": "W06000022", "community_types": "ethnic",
                                             "status": "in_progress"},
            "risk_register": {"risk_id": "R-P1", "area_code": "W06000022", "raised_on": "2024-05-09",
                              "ppplem_heading": "physical", "likelihood": "3", "impact": "3",
                              "review_due": "2024-07-01", "status": "open"},
        }[name]
        row = [values.get(col.name, PII_TEXT if col.kind == contracts.TEXT else "") for col in extract.columns]
        rows[name] = [row]
    return rows


def test_personal_data_in_every_free_text_field_never_reaches_the_warehouse(site):
    paths = []
    for name, rows in _pii_rows().items():
        header = contracts.extract_types()[name].column_names
        path = site["landing"] / name / "pill-partner_2024-Q2.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        paths.append(str(path))
    job = defs.resolve_job_def("partner_extracts_ingest")
    result = dg.materialize(
        [partner_extracts, cohesion_dbt_assets, emergency_flash],
        selection=list(job.asset_layer.selected_asset_keys),
        run_config={"ops": {"partner_extracts": {"config": {"files": paths}}}},
        resources=site["resources"], instance=site["instance"], raise_on_error=False,
    )
    assert result.success
    assert query(site, "select count(*) from raw.partner_files") == [(5,)], "every file accepted"
    assert query(site, "select count(*) from marts.fct_risk where risk_id = 'R-P1'") == [(1,)]
    secrets = [*PII.values(), "Bethan", "Lloyd-Hughes", "Pill Residents"]
    con = duckdb.connect(str(site["warehouse"]), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() union all "
            "select schema_name, view_name from duckdb_views() where not internal"
        ).fetchall()
        searched = 0
        for schema, table in tables:
            columns = [c for c, t in con.execute(
                "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
                [schema, table]).fetchall() if t.startswith("VARCHAR")]
            for column in columns:
                hits = con.execute(
                    f'select "{column}"::varchar from "{schema}"."{table}" where '
                    + " or ".join(f'contains("{column}"::varchar, ?)' for _ in secrets), secrets).fetchall()
                assert not hits, f"{schema}.{table}.{column}: {hits}"
                searched += 1
        assert searched > 50
        # and every text field kept its redaction tokens
        text = query(site, "select description from marts.fct_risk where risk_id = 'R-P1'")[0][0]
        assert all(token in text for token in ("[name]", "[phone]", "[email]", "[postcode]", "[NI number]",
                                               "[vehicle reg]", "[address]")), text
    finally:
        con.close()


def test_make_run_rebuilds_the_partner_extracts_even_with_nothing_new(site):
    """The sensor rebuilds nothing when no file was accepted; make run (materialize_unchanged) materializes the
    extracts anyway, so that a rerun of `make run` rebuilds every model downstream."""
    partner_keys = [PARTNER_FILES_KEY, *partner_defs.EXTRACT_KEYS.values()]

    def materialized(config: dict) -> set[str]:
        result = dg.materialize([partner_extracts], selection=partner_keys, resources=site["resources"],
                                instance=site["instance"], run_config={"ops": {"partner_extracts": {"config": config}}})
        assert result.success
        return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}

    assert materialized({}) == set()
    assert materialized({"materialize_unchanged": True}) == {k.to_user_string() for k in partner_keys}
    # the warehouse_build job (the UI's launch of it, the daemon) needs no config for it: launched with none, its dbt
    # steps were skipped and the run succeeded having rebuilt nothing
    job = dg.Definitions(assets=[partner_extracts], resources=site["resources"], jobs=[
        dg.define_asset_job(partner_defs.WAREHOUSE_BUILD_JOB, selection=partner_keys)]).resolve_job_def(
        partner_defs.WAREHOUSE_BUILD_JOB)
    result = job.execute_in_process(instance=site["instance"])
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        k.to_user_string() for k in partner_keys}
