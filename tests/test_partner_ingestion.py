"""Partner files through validation, redaction and the restricted store (no Dagster: lib/partner_extracts).

Every bad file is quarantined whole with an error report naming file, row, column, value and rule;
nothing from it reaches the warehouse and data accepted earlier is untouched. Good files survive the
things spreadsheets do to them.
"""

from __future__ import annotations

import csv
import os
import stat
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook

from orchestration.lib.partner_extracts import contracts
from orchestration.lib.partner_extracts.landing import scan
from orchestration.lib.partner_extracts.store import ingest_file, purge_expired

NOW = datetime(2024, 7, 15, 9, 0, 0)
LSOA21 = "W01001524"  # Torfaen 004D (2021 code)
LSOA11_SPLIT = None  # filled from the seeds below
WARD = "W05001039"
NEWPORT = "W06000022"

INCIDENT_HEADER = contracts.extract_types()["incidents"].column_names
ASSESSMENT_HEADER = contracts.extract_types()["tension_assessments"].column_names


def drop(store, extract_type: str, name: str, rows: list[list], header: list[str] | None = None,
         encoding: str = "utf-8", delimiter: str = ",") -> Path:
    header = header or contracts.extract_types()[extract_type].column_names
    path = store["landing"] / extract_type / name
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def ingest(store, path: Path, extract_type: str, now: datetime = NOW):
    return ingest_file(path, extract_type, store["con"], store["restricted"], now)


def incident(ref="GP/24/1", occurred="2024-05-03", reported="2024-05-04", area=LSOA21, kind="hate_crime",
             strands="race", community="", org="Gwent Police", description="Shouting outside the shop"):
    return [ref, occurred, reported, area, kind, strands, community, org, description]


def rows_in(store, table: str) -> int:
    store["con"].execute("create schema if not exists raw")
    exists = store["con"].execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?", [table]
    ).fetchone()[0]
    return store["con"].execute(f"select count(*) from raw.{table}").fetchone()[0] if exists else 0


def errors_of(outcome) -> list[dict]:
    with open(Path(outcome.quarantine_path) / "errors.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------- good files and spreadsheet quirks


def test_a_good_file_is_loaded_redacted_and_moved_to_the_restricted_store(store):
    path = drop(store, "incidents", "gwent-police_2024-05.csv", [
        incident(description="Mr Gareth Price of 14 Commercial Road called 07700 900123"),
        incident(ref="GP/24/2", kind="asb", strands="", area=NEWPORT, description="Youths in Caerllion; ŵyl"),
    ])
    outcome = ingest(store, path, "incidents")
    assert outcome.outcome == "accepted", outcome.problems
    assert not path.exists(), "the landing folder is emptied"
    rows = store["con"].execute(
        "select incident_ref, description, reported_on, redacted_items from raw.partner_incidents order by row_number"
    ).fetchall()
    assert rows[0][1] == "Mr [name] of [address] called [phone]"
    assert rows[0][3] == 3 and outcome.redacted_items == 3
    assert rows[1][1] == "Youths in Caerllion; ŵyl", "Welsh characters survive"
    original = next((store["restricted"] / "originals" / "incidents").rglob("*.csv"))
    assert "07700 900123" in original.read_text(encoding="utf-8"), "the unredacted original is kept, restricted"
    assert stat.S_IMODE(os.stat(store["restricted"]).st_mode) == 0o700
    log = store["con"].execute("select outcome, row_count, partner, period from raw.partner_file_log").fetchall()
    assert log == [("accepted", 2, "gwent-police", "2024-05")]


def test_excel_quirks_are_accepted(store):
    # BOM, ';' separator, dd/mm/yyyy, Excel serial numbers, numbers as text, labels, trailing blank rows
    path = store["landing"] / "risk_register" / "tension-group_2024-Q2.csv"
    header = contracts.extract_types()["risk_register"].column_names
    lines = [";".join(header),
             ";".join(["R-1", LSOA21, "03/04/2024", "Counter-protest planned", "Physical", " 3 ", "3.0", "2", "2",
                       "AP-7", "Silver chair", "45474", "Open"]),  # 45474 = 2024-07-01 as an Excel serial
             ";;;;;;;;;;;;", ";;;;;;;;;;;;"]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    outcome = ingest(store, path, "risk_register")
    assert outcome.outcome == "accepted", outcome.problems
    row = store["con"].execute(
        "select raised_on, likelihood, impact, review_due, ppplem_heading, status from raw.partner_risk_register"
    ).fetchone()
    assert row == (date(2024, 4, 3), 3, 3, date(2024, 7, 1), "physical", "open")


def test_xlsx_with_date_cells_and_numbers(store):
    book = Workbook()
    sheet = book.active
    sheet.append(ASSESSMENT_HEADER)
    sheet.append([datetime(2024, 5, 7), datetime(2024, 5, 1), datetime(2024, 6, 30), NEWPORT, "Ethnic communities",
                  "EEP6", 3, 2.0, "Leaflets from Cllr Sian Jones' opponents", "Silver chair"])
    sheet.append([date(2024, 5, 7), date(2024, 5, 1), date(2024, 6, 30), NEWPORT, "overall", "eep6", "4", "3",
                  None, None])
    sheet.append([None] * 10)
    path = store["landing"] / "tension_assessments" / "tension-group_2024-05.xlsx"
    book.save(path)
    outcome = ingest(store, path, "tension_assessments")
    assert outcome.outcome == "accepted", outcome.problems
    got = store["con"].execute(
        "select community_type, scale, current_grade, potential_grade, rationale from raw.partner_tension_assessments "
        "order by row_number"
    ).fetchall()
    assert got == [("ethnic", "eep6", "3", "2", "Leaflets from Cllr [name]' opponents"),
                   ("overall", "eep6", "4", "3", None)]


def test_submitter_fields_never_reach_the_warehouse(store):
    header = contracts.extract_types()["tension_reports"].column_names
    path = drop(store, "tension_reports", "wrexham-council_2024-05.csv", [
        ["2024-05-02", "resident", LSOA21, "outside NP20 4AB", "ethnic;faith", "racial_religious", "Graffiti again",
         "Rhiannon Pritchard", "Newport Women's Aid", "rhiannon@example.org", "07700 900456", "yes"],
        ["2024-05-03", "own_observation", WARD, "", "", "", "Quiet", "", "", "", "", "no"],
    ], header=header)
    outcome = ingest(store, path, "tension_reports")
    assert outcome.outcome == "accepted", outcome.problems
    columns = [r[0] for r in store["con"].execute("describe raw.partner_tension_reports").fetchall()]
    assert not [c for c in columns if c.startswith("submitter")]
    dump = str(store["con"].execute("select * from raw.partner_tension_reports").fetchall())
    for secret in ("Rhiannon", "Pritchard", "Women's Aid", "rhiannon@example.org", "07700 900456", "NP20 4AB"):
        assert secret not in dump
    got = store["con"].execute(
        "select has_submitter_details, contact_consent, community_types, area_description from raw.partner_tension_reports "
        "order by row_number"
    ).fetchall()
    assert got == [(True, True, ["ethnic", "faith"], "outside [postcode]"), (False, False, [], None)]


# ---------------------------------------------------------------- bad files are quarantined whole

BAD_INCIDENT_FILES = {
    "unknown area": ([incident(), incident(ref="GP/24/2", area="W01999999")], 3, "area_code", "area"),
    "English LSOA": ([incident(area="E01000001")], 2, "area_code", "area"),
    "bad enumeration": ([incident(kind="riot")], 2, "incident_type", "enum"),
    "hate crime without strand": ([incident(strands="")], 2, "hate_strands", "hate_strand_required"),
    "unknown strand": ([incident(strands="race;football")], 2, "hate_strands", "enum_list"),
    "impossible date": ([incident(occurred="31/02/2024")], 2, "occurred_on", "date"),
    "American date": ([incident(occurred="05/13/2024")], 2, "occurred_on", "date"),
    "two-digit year": ([incident(occurred="03/05/24")], 2, "occurred_on", "date"),
    "reported before it happened": ([incident(occurred="2024-05-09", reported="2024-05-02")], 2, "reported_on", "date_order"),
    "missing required value": ([incident(ref="")], 2, "incident_ref", "required"),
    "duplicate key": ([incident(), incident()], 3, "source_organisation, incident_ref", "duplicate_key"),
    "date in the future": ([incident(occurred="2024-05-20", reported="2024-07-20")], 2, "reported_on", "future_date"),
}


@pytest.mark.parametrize("case", BAD_INCIDENT_FILES)
def test_bad_rows_quarantine_the_whole_file(store, case):
    rows, row, column, rule = BAD_INCIDENT_FILES[case]
    rows = [incident(ref="GP/24/900", description="a good row")] + rows  # good rows do not save the file
    path = drop(store, "incidents", "gwent-police_2024-05.csv", rows)
    outcome = ingest(store, path, "incidents")
    assert outcome.outcome == "quarantined"
    assert rows_in(store, "partner_incidents") == 0 and rows_in(store, "partner_files") == 0
    assert not path.exists()
    folder = Path(outcome.quarantine_path)
    assert (folder / path.name).exists() and (folder / "REPORT.md").exists()
    errors = errors_of(outcome)
    match = [e for e in errors if e["rule"] == rule and e["column"] == column]
    assert match, errors
    assert match[0]["file"] == path.name and int(match[0]["row"]) == row + 1  # one good row was put first
    assert match[0]["message"]


BAD_FILES = {
    "not UTF-8": ("incidents", "gwent-police_2024-05.csv", "encoding"),
    "missing column": ("incidents", "gwent-police_2024-05.csv", "missing_column"),
    "header only": ("incidents", "gwent-police_2024-05.csv", "no_rows"),
    "old Excel format": ("incidents", "gwent-police_2024-05.xls", "file_type"),
    "no contact_consent answer": ("tension_reports", "wrexham-council_2024-05.csv", "required"),
    "not really xlsx": ("incidents", "gwent-police_2024-05.xlsx", "xlsx"),
    "grade off the scale": ("tension_assessments", "tension-group_2024-05.csv", "grade"),
    "level4 word on eep6": ("tension_assessments", "tension-group_2024-05.csv", "grade"),
    "assessment before its own period": ("tension_assessments", "tension-group_2024-05.csv", "date_in_period"),
    "assessment long after its period": ("tension_assessments", "tension-group_2024-05.csv", "date_in_period"),
    "complete CIA without date": ("community_impact_assessments", "tension-group_2024-Q2.csv", "required_when_complete"),
    "likelihood 6": ("risk_register", "tension-group_2024-Q2.csv", "int"),
    "ragged row": ("incidents", "gwent-police_2024-05.csv", "shape"),
}


def _write_bad(store, case: str) -> Path:
    extract_type, name, _ = BAD_FILES[case]
    folder = store["landing"] / extract_type
    if case == "not UTF-8":
        path = drop(store, "incidents", name, [incident(description="Caf\u00e9 in Caerllion")], encoding="cp1252")
    elif case == "missing column":
        path = drop(store, "incidents", name, [incident()[:3]], header=INCIDENT_HEADER[:3])
    elif case == "header only":
        path = drop(store, "incidents", name, [])
    elif case == "old Excel format":
        path = drop(store, "incidents", name, [incident()])
    elif case == "no contact_consent answer":
        path = drop(store, "tension_reports", name, [
            ["2024-05-02", "resident", LSOA21, "", "ethnic", "community", "Graffiti again", "", "", "", "", ""]])
    elif case == "not really xlsx":
        path = folder / name
        path.write_text("this is,not a workbook\n")
    elif case == "ragged row":
        path = drop(store, "incidents", name, [incident() + ["extra cell"]])
    elif extract_type == "tension_assessments":
        grade, scale, assessed, start, end = {
            "grade off the scale": ("7", "eep6", "2024-05-07", "2024-05-01", "2024-06-30"),
            "level4 word on eep6": ("medium", "eep6", "2024-05-07", "2024-05-01", "2024-06-30"),
            "assessment before its own period": ("5", "eep6", "2024-04-30", "2024-05-01", "2024-06-30"),
            # 121 days after period_end: beyond the 120-day lag a group may take to assess a period
            "assessment long after its period": ("5", "eep6", "2024-05-01", "2023-10-01", "2023-12-31"),
        }[case]
        path = drop(store, extract_type, name, [[assessed, start, end, NEWPORT, "ethnic", scale, grade, "5", "", ""]])
    elif extract_type == "community_impact_assessments":
        path = drop(store, extract_type, name, [["CIA-1", "incident", "2024-05-02", NEWPORT, "ethnic", "March",
                                                 "complete", "", "medium"]])
    else:
        path = drop(store, extract_type, name, [["R-1", NEWPORT, "2024-04-02", "Disorder", "physical", "6", "2", "",
                                                 "", "AP-1", "Silver chair", "2024-07-01", "open"]])
    return path


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_are_quarantined_with_a_named_rule(store, case):
    extract_type, _, rule = BAD_FILES[case]
    path = _write_bad(store, case)
    outcome = ingest(store, path, extract_type)
    assert outcome.outcome == "quarantined"
    assert rule in {e["rule"] for e in errors_of(outcome)}, errors_of(outcome)
    assert rows_in(store, contracts.extract_types()[extract_type].raw_table) == 0
    report = (Path(outcome.quarantine_path) / "REPORT.md").read_text(encoding="utf-8")
    assert "Nothing from this file was loaded" in report and rule in report


def test_a_bad_correction_leaves_the_accepted_data_untouched(store):
    good = drop(store, "incidents", "gwent-police_2024-05.csv", [incident(), incident(ref="GP/24/2")])
    assert ingest(store, good, "incidents").outcome == "accepted"
    before = store["con"].execute("select * from raw.partner_incidents order by row_number").fetchall()
    bad = drop(store, "incidents", "gwent-police_2024-05_corrected.csv", [incident(kind="riot")])
    assert ingest(store, bad, "incidents").outcome == "quarantined"
    assert store["con"].execute("select * from raw.partner_incidents order by row_number").fetchall() == before
    assert store["con"].execute("select count(*) from raw.partner_files where superseded_by is null").fetchone()[0] == 1


# ---------------------------------------------------------------- identity: duplicates and corrections


def test_the_same_file_twice_changes_nothing(store):
    rows = [incident(), incident(ref="GP/24/2")]
    first = drop(store, "incidents", "gwent-police_2024-05.csv", rows)
    assert ingest(store, first, "incidents").outcome == "accepted"
    again = drop(store, "incidents", "gwent-police_2024-05.csv", rows)  # same bytes, sent again
    outcome = ingest(store, again, "incidents", NOW + timedelta(hours=1))
    assert outcome.outcome == "duplicate" and not again.exists()
    assert rows_in(store, "partner_incidents") == 2 and rows_in(store, "partner_files") == 1
    assert [r[0] for r in store["con"].execute("select outcome from raw.partner_file_log order by received_at").fetchall()] == [
        "accepted", "duplicate"]


def test_a_corrected_file_supersedes_the_earlier_one_and_keeps_history(store):
    first = drop(store, "incidents", "gwent-police_2024-05.csv", [incident(), incident(ref="GP/24/2", kind="asb", strands="")])
    first_outcome = ingest(store, first, "incidents")
    corrected = drop(store, "incidents", "gwent-police_2024-05_v2.csv",
                     [incident(), incident(ref="GP/24/2", kind="public_order", strands=""), incident(ref="GP/24/3")])
    outcome = ingest(store, corrected, "incidents", NOW + timedelta(days=1))
    assert outcome.outcome == "accepted" and outcome.supersedes == first_outcome.file_id
    files = store["con"].execute(
        "select file_id, superseded_by from raw.partner_files order by received_at").fetchall()
    assert files == [(first_outcome.file_id, outcome.file_id), (outcome.file_id, None)]
    assert rows_in(store, "partner_incidents") == 5, "the superseded rows stay as history"
    current = store["con"].execute(
        """select i.incident_ref, i.incident_type from raw.partner_incidents i join raw.partner_files f using (file_id)
           where f.superseded_by is null order by i.incident_ref"""
    ).fetchall()
    assert current == [("GP/24/1", "hate_crime"), ("GP/24/2", "public_order"), ("GP/24/3", "hate_crime")]
    # a different period from the same partner is a different file, not a correction
    june = drop(store, "incidents", "gwent-police_2024-06.csv", [incident(occurred="2024-06-03", reported="2024-06-03")])
    assert ingest(store, june, "incidents").supersedes is None
    # re-sending the superseded original does not bring it back
    resent = drop(store, "incidents", "gwent-police_2024-05.csv", [incident(), incident(ref="GP/24/2", kind="asb", strands="")])
    assert ingest(store, resent, "incidents").outcome == "duplicate"
    assert store["con"].execute("select superseded_by from raw.partner_files where file_id = ?",
                                [first_outcome.file_id]).fetchone()[0] == outcome.file_id


def test_waiting_files_skip_temporary_hidden_and_marker_files_and_come_oldest_first(store):
    folder = store["landing"] / "incidents"
    (folder / "gwent-police").mkdir()
    for name, mtime in (("b_2024-05.csv", 200), ("a_2024-05.csv", 300), ("~$a_2024-05.xlsx", 100),
                        (".hidden.csv", 100), ("c_2024-05.csv.part", 100), ("a_2024-05.csv.done", 100),
                        ("gwent-police/May.xlsx", 250)):
        (folder / name).write_text("x")
        os.utime(folder / name, (mtime, mtime))
    (store["landing"] / "stray.csv").write_text("x")
    os.utime(store["landing"] / "stray.csv", (400, 400))
    found = [(f.relative, f.extract_type, f.partner_folder) for f in scan(store["landing"])]
    assert found == [("incidents/b_2024-05.csv", "incidents", None),
                     ("incidents/gwent-police/May.xlsx", "incidents", "gwent-police"),
                     ("incidents/a_2024-05.csv", "incidents", None),
                     ("stray.csv", None, None)], "sub-folders and misplaced files are found, never ignored"


def test_retention_purges_originals_and_quarantine(store):
    good = drop(store, "incidents", "gwent-police_2024-05.csv", [incident()])
    ingest(store, good, "incidents")
    bad = drop(store, "incidents", "gwent-police_2024-06.csv", [incident(kind="riot")])
    ingest(store, bad, "incidents")
    kept = purge_expired(store["con"], store["restricted"], 90, NOW + timedelta(days=89))
    assert (kept.originals, kept.quarantined) == (0, 0)
    assert list((store["restricted"] / "originals").rglob("*.csv"))
    purged = purge_expired(store["con"], store["restricted"], 90, NOW + timedelta(days=91))
    assert (purged.originals, purged.quarantined) == (1, 1)
    assert not list(store["restricted"].rglob("*.csv"))
    assert store["con"].execute("select original_purged_at is not null from raw.partner_files").fetchone()[0]
    assert rows_in(store, "partner_incidents") == 1, "the redacted rows stay in the warehouse"


@pytest.mark.parametrize("name, partner, period", [
    ("gwent-police_2024-Q2.csv", "gwent-police", "2024-Q2"),
    ("Gwent Police 2024 Q2.csv", "gwent-police", "2024-Q2"),
    ("newport_council_2024_05_v2.xlsx", "newport-council", "2024-05"),
    ("gwent-police-2024-05.csv", "gwent-police", "2024-05"),
    ("tension-group_2024.csv", "tension-group", "2024"),
])
def test_file_names_are_read_leniently(name, partner, period):
    from orchestration.lib.partner_extracts.identity import from_file_name

    named_partner, named_period = from_file_name(name)
    assert (named_partner, named_period.label) == (partner, period)


def test_words_people_write_are_understood(store):
    header = contracts.extract_types()["risk_register"].column_names
    path = drop(store, "risk_register", "Tension Group 2024 Q2.csv", [
        ["R-1", NEWPORT, "3 April 2024", "Counter-protest", "Police/organisational", "3 - medium", "High", "low", "2",
         "AP-1", "Silver chair", "01-Jul-2024", "open"],
    ], header=header)
    assert ingest(store, path, "risk_register").outcome == "accepted"
    assert store["con"].execute(
        "select raised_on, ppplem_heading, likelihood, impact, residual_likelihood, review_due from raw.partner_risk_register"
    ).fetchall() == [(date(2024, 4, 3), "police", 3, 4, 2, date(2024, 7, 1))]
    reports = drop(store, "tension_reports", "wrexham-council_2024-05.csv", [
        ["2024-05-02", "Person working in the area", LSOA21, "", "Faith or religious communities; LGBT communities",
         "Immigration, asylum seekers and refugees", "Rumours", "", "", "", "", "No"],
    ])
    assert ingest(store, reports, "tension_reports").outcome == "accepted"
    assert store["con"].execute(
        "select source_type, community_types, tension_categories from raw.partner_tension_reports").fetchall() == [
        ("person_working_in_area", ["faith", "lgbt"], ["immigration"])]


def test_a_file_the_reader_chokes_on_is_quarantined_not_a_crash(store, monkeypatch):
    from orchestration.lib.partner_extracts import store as store_module

    def broken(data, suffix, expected):
        raise KeyError("xl/worksheets/sheet1.xml")

    monkeypatch.setattr(store_module, "read_bytes", broken)
    path = drop(store, "incidents", "gwent-police_2024-05.csv", [incident()])
    outcome = ingest(store, path, "incidents")
    assert outcome.outcome == "quarantined" and not path.exists()
    [error] = errors_of(outcome)
    assert error["rule"] == "unreadable" and "KeyError" in error["message"]
    assert "sheet1.xml" not in outcome.message, "the exception's text is not repeated outside the restricted store"
