"""Partner intake you can trust (lib/partner_extracts, no Dagster): nothing lost, nothing leaked, any name.

Real files on disk, a real DuckDB file, real writer processes: a copy still in progress is never read half
way; every worksheet is read (or the workbook refused); a stray cell far out costs nothing; sub-folders and
misplaced files are never ignored; partner and period come from the name, the folder or the rows; a group
may assess a period at its next meeting; no cell value reaches a message; formula text is neutralised;
every restricted path is owner-only.
"""

from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
import textwrap
import time
import tracemalloc
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.styles import Font

from orchestration.lib.partner_extracts import contracts, schema
from orchestration.lib.partner_extracts import store as store_module
from orchestration.lib.partner_extracts.landing import check_ready, scan
from orchestration.lib.partner_extracts.store import ingest, ingest_file
from tests.test_partner_ingestion import LSOA21, NEWPORT, incident

NOW = datetime(2024, 7, 15, 9, 0, 0)
INCIDENT_HEADER = contracts.extract_types()["incidents"].column_names
ASSESSMENT_HEADER = contracts.extract_types()["tension_assessments"].column_names
REPORT_HEADER = contracts.extract_types()["tension_reports"].column_names


def write_csv(path: Path, rows: list[list], header: list[str] = INCIDENT_HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def query(store, sql, params=None):
    return store["con"].execute(sql, params or []).fetchall()


def errors_of(outcome) -> list[dict]:
    with open(Path(outcome.quarantine_path) / "errors.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------ 1. a copy still in progress


WRITER = textwrap.dedent("""
    import csv, sys, time, pathlib
    path, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    header, rows = eval(sys.argv[3]), eval(sys.argv[4])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows[:5])
        handle.flush()
        (path.parent / ".half-written").touch()
        while not go.exists():          # the copy pauses at a row boundary, file held open
            time.sleep(0.05)
        writer.writerows(rows[5:])
""")


def paused_writer(path: Path, go: Path, rows: list[list]) -> subprocess.Popen:
    """A writer process that has written the header and five rows, holds the file open and waits for `go`."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(go), repr(INCIDENT_HEADER), repr(rows)])
    deadline = time.time() + 30
    try:
        while not (path.parent / ".half-written").exists():
            assert time.time() < deadline and writer.poll() is None
            time.sleep(0.05)
    except BaseException:
        writer.kill()
        raise
    (path.parent / ".half-written").unlink()
    return writer


def test_a_copy_paused_half_way_is_never_read_and_is_loaded_whole_when_finished(store):
    path = store["landing"] / "incidents" / "gwent-police_2024-05.csv"
    go = store["tmp"] / "go"
    rows = [incident(ref=f"GP/24/{i}") for i in range(10)]
    writer = paused_writer(path, go, rows)
    try:
        [waiting] = scan(store["landing"])
        readiness = check_ready([waiting], settle_seconds=0)
        assert readiness.ready == [] and "open for writing" in readiness.waiting[0][1]
        outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
        assert outcome.outcome == "waiting" and path.exists(), "a file held open by its writer is not touched"
        schema.create_all(store["con"])
        assert query(store, "select count(*) from raw.partner_file_log") == [(0,)]
        go.touch()
        assert writer.wait(timeout=30) == 0
    finally:
        writer.kill()
    [done] = scan(store["landing"])
    assert check_ready([done], settle_seconds=0).ready == [done]
    outcome = ingest(done, store["con"], store["restricted"], NOW)
    assert outcome.outcome == "accepted" and outcome.row_count == 10 and not path.exists()


def test_a_file_that_changes_while_it_is_read_stays_and_its_complete_version_supersedes(store, monkeypatch):
    path = write_csv(store["landing"] / "incidents" / "gwent-police_2024-05.csv", [incident()])
    real_validate = store_module.validate

    def validate_while_the_copy_goes_on(*args, **kwargs):
        result = real_validate(*args, **kwargs)
        with open(path, "a", newline="", encoding="utf-8") as handle:  # more rows arrive after the bytes were read
            csv.writer(handle).writerow(incident(ref="GP/24/2"))
        return result

    monkeypatch.setattr(store_module, "validate", validate_while_the_copy_goes_on)
    first = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
    assert first.outcome == "accepted" and first.row_count == 1
    assert first.left_in_landing and path.exists(), "never delete a file whose bytes differ from what was ingested"
    [(logged,)] = query(store, "select message from raw.partner_file_log")
    assert "changed while it was being read" in logged, "the data team sees why the file is still there"
    monkeypatch.setattr(store_module, "validate", real_validate)
    second = ingest_file(path, "incidents", store["con"], store["restricted"], NOW + timedelta(minutes=1))
    assert second.outcome == "accepted" and second.row_count == 2 and second.supersedes == first.file_id
    assert not path.exists()
    assert query(store, """select i.incident_ref from raw.partner_incidents i join raw.partner_files f using (file_id)
                           where f.superseded_by is null order by 1""") == [("GP/24/1",), ("GP/24/2",)]


def test_a_done_marker_makes_a_fresh_file_ready_and_is_removed_with_it(store):
    path = write_csv(store["landing"] / "incidents" / "gwent-police_2024-05.csv", [incident()])
    [fresh] = scan(store["landing"])
    assert check_ready([fresh], settle_seconds=60).ready == [], "just written: waits for the settle time"
    assert check_ready([fresh], settle_seconds=60, require_marker=True).waiting[0][1].startswith("waiting for its marker")
    path.with_name(path.name + ".done").touch()
    [marked] = scan(store["landing"])
    assert check_ready([marked], settle_seconds=60, require_marker=True).ready == [marked]
    assert ingest(marked, store["con"], store["restricted"], NOW).outcome == "accepted"
    assert not [p for p in store["landing"].rglob("*") if p.is_file() and ".claimed" not in p.parts], \
        "file and marker are both taken (the file into landing/.claimed, watched for late writes)"


# ------------------------------------------------------------------ 2-3. every worksheet, bounded memory


def _book(sheets: dict[str, list[list]]) -> Workbook:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    return book


def test_every_worksheet_with_the_header_is_read(store):
    reordered = [INCIDENT_HEADER[3], *INCIDENT_HEADER[:3], *INCIDENT_HEADER[4:]]
    may = incident(ref="GP/24/3", occurred="2024-05-20", reported="2024-05-20")
    book = _book({
        "April": [INCIDENT_HEADER, incident(ref="GP/24/1", occurred="2024-04-03", reported="2024-04-03"),
                  incident(ref="GP/24/2", occurred="2024-04-09", reported="2024-04-09")],
        "Empty": [],
        "May": [reordered, [may[3], *may[:3], *may[4:]]],
    })
    path = store["landing"] / "incidents" / "gwent-police_2024-Q2.xlsx"
    book.save(path)
    outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "accepted", outcome.problems
    assert query(store, "select sheet, row_number, incident_ref from raw.partner_incidents order by incident_ref") == [
        ("April", 2, "GP/24/1"), ("April", 3, "GP/24/2"), ("May", 2, "GP/24/3")]
    assert query(store, "select sheets from raw.partner_files") == [(["April", "May"],)]
    assert "from 2 worksheets" in outcome.message and "empty worksheet(s) skipped: 1" in outcome.message


@pytest.mark.parametrize("sheets, rule, where", [
    # a continuation sheet without the header: its rows would vanish
    ({"April": [INCIDENT_HEADER, incident()], "Sheet2": [incident(ref="GP/24/9")]}, "sheet_without_header", "Sheet2"),
    # notes next to the data: refused rather than guessed at
    ({"Data": [INCIDENT_HEADER, incident()], "Notes": [["Figures from Niche RMS"], ["Call DS Jones"]]},
     "sheet_without_header", "Notes"),
    # the same incident on two sheets
    ({"A": [INCIDENT_HEADER, incident()], "B": [INCIDENT_HEADER, incident()]}, "duplicate_key", "B"),
])
def test_a_workbook_with_data_that_cannot_be_read_as_the_extract_is_quarantined(store, sheets, rule, where):
    path = store["landing"] / "incidents" / "gwent-police_2024-05.xlsx"
    _book(sheets).save(path)
    outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "quarantined"
    assert (rule, where) in {(e["rule"], e["sheet"]) for e in errors_of(outcome)}, errors_of(outcome)
    schema.create_all(store["con"])
    assert query(store, "select count(*) from raw.partner_incidents") == [(0,)]


@pytest.mark.timeout(120)
def test_a_stray_cell_at_xfd1048576_is_read_in_bounded_memory_and_named(store):
    book = _book({"Incidents": [INCIDENT_HEADER, incident()]})
    book["Incidents"]["XFD1048576"] = "x"
    path = store["landing"] / "incidents" / "gwent-police_2024-05.xlsx"
    book.save(path)
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 20 and peak < 64 * 2**20, (time.monotonic() - started, peak)
    assert outcome.outcome == "quarantined"
    [error] = errors_of(outcome)
    assert (error["rule"], error["row"], error["sheet"]) == ("shape", "1048576", "Incidents")
    assert "column XFD" in error["message"]


def test_a_formatted_but_empty_cell_far_out_changes_nothing(store):
    book = _book({"Incidents": [INCIDENT_HEADER, incident()]})
    book["Incidents"]["XFD1048576"].font = Font(bold=True)
    path = store["landing"] / "incidents" / "gwent-police_2024-05.xlsx"
    book.save(path)
    outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "accepted" and outcome.row_count == 1


# ------------------------------------------------------------------ 4-6. folders and names


def test_a_partner_folder_names_the_partner_and_the_rows_give_the_period(store):
    path = write_csv(store["landing"] / "incidents" / "Gwent Police" / "hate incidents (May).csv",
                     [incident(), incident(ref="GP/24/2", occurred="2024-05-30", reported="2024-05-31")])
    [file] = scan(store["landing"])
    outcome = ingest(file, store["con"], store["restricted"], NOW)
    assert outcome.outcome == "accepted", outcome.problems
    assert query(store, "select partner, partner_from, period, period_from, period_start, period_end, landing_path "
                        "from raw.partner_files") == [
        ("gwent-police", "folder", "2024-05", "rows", date(2024, 5, 1), date(2024, 5, 31),
         "incidents/Gwent Police/hate incidents (May).csv")]
    assert not path.exists()


def test_a_misplaced_file_is_quarantined_with_where_it_should_go(store):
    path = write_csv(store["landing"] / "May incidents.csv", [incident()])
    [file] = scan(store["landing"])
    assert file.extract_type is None
    outcome = ingest(file, store["con"], store["restricted"], NOW)
    assert outcome.outcome == "quarantined" and not path.exists()
    [error] = errors_of(outcome)
    assert error["rule"] == "folder" and "incidents/" in error["message"]
    assert query(store, "select extract_type, outcome from raw.partner_file_log") == [("misplaced", "quarantined")]


def test_any_name_is_accepted_and_its_content_checked_in_one_go(store):
    good = write_csv(store["landing"] / "incidents" / "Hate crime extract.csv", [incident()])
    assert ingest_file(good, "incidents", store["con"], store["restricted"], NOW).outcome == "accepted"
    bad = write_csv(store["landing"] / "incidents" / "May export FINAL (2).csv", [incident(area="W01999999")])
    outcome = ingest_file(bad, "incidents", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "quarantined"
    assert [(e["rule"], e["column"]) for e in errors_of(outcome)] == [("area", "area_code")], "content checked first time"
    report = (Path(outcome.quarantine_path) / "REPORT.md").read_text(encoding="utf-8")
    assert "the same file name is fine" not in report


def test_an_unnamed_file_read_half_copied_is_replaced_by_its_complete_version(store, monkeypatch):
    path = write_csv(store["landing"] / "incidents" / "export.csv", [incident()])
    real_validate = store_module.validate

    def validate_while_the_copy_goes_on(*args, **kwargs):
        result = real_validate(*args, **kwargs)
        with open(path, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(incident(ref="GP/24/2"))
        return result

    monkeypatch.setattr(store_module, "validate", validate_while_the_copy_goes_on)
    first = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
    assert first.partner == "unknown" and first.left_in_landing
    monkeypatch.setattr(store_module, "validate", real_validate)
    second = ingest_file(path, "incidents", store["con"], store["restricted"], NOW + timedelta(minutes=1))
    assert second.supersedes == first.file_id, "the partial read is not counted next to the complete one"
    assert query(store, """select count(*) from raw.partner_incidents i join raw.partner_files f using (file_id)
                           where f.superseded_by is null""") == [(2,)]
    assert query(store, "select distinct landing_path from raw.partner_files") == [("incidents/export.csv",)]


def test_files_of_an_unknown_partner_never_supersede_each_other(store):
    for i, name in enumerate(("export.csv", "export (1).csv")):
        path = write_csv(store["landing"] / "incidents" / name, [incident(ref=f"X/{i}")])
        outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW + timedelta(minutes=i))
        assert outcome.outcome == "accepted" and outcome.partner == "unknown" and outcome.supersedes is None
    assert query(store, "select count(*) from raw.partner_files where superseded_by is null") == [(2,)]


def test_rows_outside_the_named_period_widen_it_rather_than_refuse_the_file(store):
    path = write_csv(store["landing"] / "incidents" / "gwent-police_2024-05.csv",
                     [incident(), incident(ref="GP/24/2", occurred="2024-04-28", reported="2024-04-29")])
    outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "accepted"
    assert query(store, "select period, period_start, period_end from raw.partner_files") == [
        ("2024-05", date(2024, 4, 28), date(2024, 5, 31))]
    assert "1 row(s) dated outside that period" in outcome.message


# ------------------------------------------------------------------ 7-8. how groups work


def test_a_group_assesses_a_period_at_its_next_meeting_and_may_send_a_series(store):
    rows = [
        # Q4 2023 assessed on 10 January, and a series back to 2022 in the same file
        ["2024-01-10", "2023-10-01", "2023-12-31", NEWPORT, "ethnic", "eep6", "4", "3", "", "Silver chair"],
        ["2022-04-02", "2022-01-01", "2022-03-31", NEWPORT, "ethnic", "eep6", "6", "5", "", "Silver chair"],
        # exactly 120 days after period_end
        ["2024-06-28", "2024-01-01", "2024-02-29", NEWPORT, "faith", "eep6", "5", "5", "", ""],
    ]
    path = write_csv(store["landing"] / "tension_assessments" / "tension-group_2024-Q1.csv", rows,
                     header=ASSESSMENT_HEADER)
    outcome = ingest_file(path, "tension_assessments", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "accepted", outcome.problems
    assert query(store, "select period, period_start, period_end from raw.partner_files") == [
        ("2024-Q1", date(2022, 1, 1), date(2024, 3, 31))], "the file spans the periods its rows name"


def test_contact_consent_must_be_answered(store):
    header = [c for c in REPORT_HEADER if c != "contact_consent"]
    path = write_csv(store["landing"] / "tension_reports" / "wrexham-council_2024-05.csv",
                     [["2024-05-02", "resident", LSOA21, "", "ethnic", "community", "Graffiti", "", "", "", ""]],
                     header=header)
    outcome = ingest_file(path, "tension_reports", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "quarantined"
    assert [e["rule"] for e in errors_of(outcome)] == ["missing_column"] and "contact_consent" in outcome.message


# ------------------------------------------------------------------ 9. no cell value outside the restricted store

SECRET = "Bethan Lloyd-Hughes"


def test_no_cell_value_reaches_a_message_or_the_file_log(store):
    # a shifted row (a bare name pushed in front) and a header cell holding a name
    header = [*INCIDENT_HEADER, "Rhys Morgan"]
    rows = [[SECRET, *incident()[:-1]], incident(ref="GP/24/2", area=SECRET) + [""]]
    path = write_csv(store["landing"] / "incidents" / "gwent-police_2024-05.csv", rows, header=header)
    outcome = ingest_file(path, "incidents", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "quarantined"
    logged = str(query(store, "select * from raw.partner_file_log"))
    for text in (outcome.message, outcome.summary(), logged, *(p.message for p in outcome.problems)):
        assert SECRET not in text and "Rhys" not in text
    assert any(SECRET in e["value"] for e in errors_of(outcome)), "the partner's own report (restricted) quotes it"
    accepted = write_csv(store["landing"] / "incidents" / "gwent-police_2024-06.csv",
                         [incident(occurred="2024-06-03", reported="2024-06-03") + ["a note"]], header=header)
    outcome = ingest_file(accepted, "incidents", store["con"], store["restricted"], NOW)
    assert outcome.outcome == "accepted" and "column J" in outcome.message and "Rhys" not in outcome.message


# ------------------------------------------------------------------ 11. formulas and script


def test_formula_text_is_neutralised_and_script_escaped(store):
    formula = '=HYPERLINK("http://example.invalid/x","click")'
    path = write_csv(store["landing"] / "incidents" / "gwent-police_2024-05.csv",
                     [incident(description=formula), incident(ref="@SUM(1+1)", description="<script>alert(1)</script>")])
    assert ingest_file(path, "incidents", store["con"], store["restricted"], NOW).outcome == "accepted"
    assert query(store, "select incident_ref, description from raw.partner_incidents order by row_number") == [
        ("GP/24/1", "'" + formula), ("'@SUM(1+1)", "<script>alert(1)</script>")]
    bad = write_csv(store["landing"] / "incidents" / "gwent-police_2024-06.csv",
                    [incident(area="=cmd|' /C calc'!A0", description="<script>alert(2)</script>",
                              occurred="2024-06-01", reported="2024-06-01"),
                     incident(area="<img src=x onerror=alert(3)>", occurred="2024-06-02", reported="2024-06-02")])
    outcome = ingest_file(bad, "incidents", store["con"], store["restricted"], NOW)
    errors = errors_of(outcome)
    assert [e["value"] for e in errors if e["column"] == "area_code"] == ["'=cmd|' /C calc'!A0",
                                                                           "<img src=x onerror=alert(3)>"]
    with open(Path(outcome.quarantine_path) / "errors.csv", encoding="utf-8") as handle:
        assert not [line for line in handle if line.startswith(("=", "+", "-", "@"))]
    report = (Path(outcome.quarantine_path) / "REPORT.md").read_text(encoding="utf-8")
    assert "<img" not in report and "<script" not in report and "&lt;img src=x" in report


def test_the_atlas_downloads_neutralise_formula_text(tmp_path):
    """Every CSV the project writes follows the formula rule, the atlas's downloads too (written with polars)."""
    import polars as pl

    from orchestration.lib.atlas.site import SiteBuilder

    frame = pl.DataFrame({"area_name": ["=HYPERLINK(\"x\")", "+44 1633", "Newport", "\uff1dSUM(A1)", None],
                          "value": [-1.5, 2.0, 3.0, 4.0, 5.0]})
    SiteBuilder(data=None, root=tmp_path, pdf=False).download("x/test", frame)
    with open(tmp_path / "downloads" / "x" / "test.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["area_name"] for r in rows] == ["'=HYPERLINK(\"x\")", "'+44 1633", "Newport", "'\uff1dSUM(A1)", ""]
    assert [r["value"] for r in rows][0] == "-1.5", "numbers stay numbers"
    assert pl.read_parquet(tmp_path / "downloads" / "x" / "test.parquet")["area_name"][0] == "=HYPERLINK(\"x\")", \
        "Parquet is typed data, not a spreadsheet: kept as it is"


# ------------------------------------------------------------------ 12. permissions


def test_every_restricted_path_is_owner_only(store, monkeypatch):
    good = write_csv(store["landing"] / "incidents" / "gwent-police_2024-05.csv", [incident()])
    ingest_file(good, "incidents", store["con"], store["restricted"], NOW)
    bad = write_csv(store["landing"] / "incidents" / "gwent-police_2024-06.csv", [incident(kind="riot")])
    ingest_file(bad, "incidents", store["con"], store["restricted"], NOW)
    paths = list(store["restricted"].rglob("*"))
    assert len([p for p in paths if p.is_file()]) >= 4  # original, quarantined file, errors.csv, REPORT.md
    modes = {str(p.relative_to(store["restricted"])): stat.S_IMODE(os.stat(p).st_mode) for p in [store["restricted"], *paths]}
    wrong = {p: oct(m) for p, m in modes.items() if m != (0o700 if (store["restricted"] / p).is_dir() else 0o600)}
    assert not wrong, wrong


def test_landing_folders_are_not_world_readable(tmp_path):
    from orchestration.lib.partner_extracts.landing import ensure_landing

    ensure_landing(tmp_path / "landing")
    for folder in [tmp_path / "landing", *(tmp_path / "landing").iterdir()]:
        assert stat.S_IMODE(os.stat(folder).st_mode) & 0o007 == 0, folder


# ------------------------------------------------------------------ upgrading a warehouse keeps every row


def test_row_tables_of_an_earlier_version_gain_the_sheet_key_without_losing_rows(store):
    con = store["con"]
    con.execute("create schema raw")
    con.execute("""create table raw.partner_incidents (file_id varchar not null, row_number integer not null,
        incident_ref varchar not null, occurred_on date not null, reported_on date not null, area_code varchar not null,
        incident_type varchar not null, hate_strands varchar[] not null, community_type varchar,
        source_organisation varchar not null, description varchar, redacted_items integer not null,
        primary key (file_id, row_number))""")
    con.execute("""insert into raw.partner_incidents values ('f1', 2, 'GP/1', date '2024-05-01', date '2024-05-01',
        'W01001524', 'asb', [], null, 'Gwent Police', 'kept', 0)""")
    schema.create_all(con)
    schema.create_all(con)  # idempotent
    assert query(store, "select file_id, sheet, row_number, description from raw.partner_incidents") == [
        ("f1", "", 2, "kept")]
    keys = query(store, "select constraint_column_names from duckdb_constraints() "
                        "where table_name = 'partner_incidents' and constraint_type = 'PRIMARY KEY'")
    assert keys == [(["file_id", "sheet", "row_number"],)]


# ------------------------------------------------------------------ 1. a writer no rule can see


def test_a_writer_that_goes_on_after_the_file_was_taken_loses_nothing(store, monkeypatch):
    """A writer the service cannot see (another user's share session) pauses longer than the settle time: the
    file is read and taken, the writer writes on into the claimed file, the sweep gives it back, and its
    complete version replaces the partial read although the partial rows gave another period."""
    from orchestration.lib.partner_extracts import landing as landing_module

    monkeypatch.setattr(landing_module, "open_for_writing", lambda paths: set())
    monkeypatch.setattr(store_module, "open_for_writing", lambda paths: set())
    path = store["landing"] / "incidents" / "export.csv"
    go = store["tmp"] / "go"
    rows = ([incident(ref=f"GP/24/{i}") for i in range(5)]
            + [incident(ref=f"GP/24/{i}", occurred="2024-06-03", reported="2024-06-04") for i in range(5, 10)])
    writer = paused_writer(path, go, rows)
    try:
        [seen] = scan(store["landing"])
        assert check_ready([seen], settle_seconds=0).ready == [seen], "no rule on this machine can tell"
        first = ingest(seen, store["con"], store["restricted"], NOW)
        assert first.outcome == "accepted" and first.row_count == 5 and first.period == "2024-05"
        assert not path.exists() and scan(store["landing"]) == [], "the partner sees the file taken"
        [claimed] = [p for p in (store["landing"] / ".claimed").rglob("export.csv")]
        assert stat.S_IMODE(claimed.parent.stat().st_mode) == 0o700
        assert landing_module.sweep_claims(store["landing"], hold_seconds=3600) == [], "unchanged: held and watched"
        go.touch()
        assert writer.wait(timeout=30) == 0
    finally:
        writer.kill()
    assert claimed.read_bytes().count(b"\n") == 11, "the writer's last five rows went into the claimed file"
    [event] = landing_module.sweep_claims(store["landing"], hold_seconds=3600)
    assert (event.landing_path, event.action) == ("incidents/export.csv", "returned") and path.exists()
    [again] = scan(store["landing"])
    second = ingest(again, store["con"], store["restricted"], NOW + timedelta(minutes=2))
    assert second.outcome == "accepted" and second.row_count == 10 and second.period != first.period
    assert second.supersedes == first.file_id and "completes 1 partial read" in second.message
    assert query(store, """select count(*), count(distinct i.incident_ref) from raw.partner_incidents i
                           join raw.partner_files f using (file_id) where f.superseded_by is null""") == [(10, 10)]
    # unchanged after that: held for the claim window, then deleted
    assert landing_module.sweep_claims(store["landing"], hold_seconds=3600) == []
    [event] = landing_module.sweep_claims(store["landing"], hold_seconds=3600, now=time.time() + 3601)
    assert event.action == "released" and not any((store["landing"] / ".claimed").iterdir())


def test_a_file_claimed_by_a_killed_run_is_still_watched(store):
    """A claim left half made (the run killed between moving the file and naming the claim) is swept once it is
    old enough: the file is not lost and not left for ever."""
    from orchestration.lib.partner_extracts import landing as landing_module

    from orchestration.lib.warehouse import sha256_of

    path = write_csv(store["landing"] / "incidents" / "gwent-police_2024-05.csv", [incident()])
    claimed = landing_module.claim(path, store["landing"], "incidents/gwent-police_2024-05.csv",
                                   sha256_of(path), path.stat())
    hidden = claimed.parent.with_name("." + claimed.parent.name)
    claimed.parent.rename(hidden)
    with open(hidden / claimed.name, "a", newline="", encoding="utf-8") as handle:  # the writer went on
        csv.writer(handle).writerow(incident(ref="GP/24/2"))
    assert landing_module.sweep_claims(store["landing"], hold_seconds=0) == [], "a claim being made is left alone"
    [event] = landing_module.sweep_claims(store["landing"], hold_seconds=0, now=time.time() + 601)
    assert event.action == "returned" and path.exists() and not hidden.exists()


def test_files_with_temporary_names_left_for_hours_are_reported(store):
    from orchestration.lib.partner_extracts import landing as landing_module

    old = time.time() - 7200
    for name in ("incidents/report.csv.part", "incidents/~$book.xlsx", "incidents/.hidden.csv",
                 "incidents/orphan.csv.done"):
        p = store["landing"] / name
        p.write_text("x")
        os.utime(p, (old, old))
    write_csv(store["landing"] / "incidents" / "fresh.csv.part", [incident()])
    write_csv(store["landing"] / "incidents" / "named.csv", [incident()])
    (store["landing"] / "incidents" / "named.csv.done").touch()
    os.utime(store["landing"] / "incidents" / "named.csv.done", (old, old))
    assert landing_module.left_alone(store["landing"]) == [
        "incidents/.hidden.csv", "incidents/orphan.csv.done", "incidents/report.csv.part", "incidents/~$book.xlsx"]
