"""The tension marts (guide, Part 3), built by the real dbt from hand-made partner rows.

One module-scoped fixture writes the raw partner tables into a fresh DuckDB file, runs
``dbt build --select +tag:tension`` once (as of 2024-06-30), and the tests read the marts. Every expected
value is worked out here from the rows below (geography facts from the ONS lookups, Poisson tails from
scipy), never read back from a model.
"""

from __future__ import annotations

import calendar
import csv
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import cache

import duckdb
import jinja2
import pytest
from scipy.stats import poisson

from orchestration.lib.duckdb_functions import register
from orchestration.lib.partner_extracts.schema import create_all
from orchestration.settings import SEEDS_DIR
from tests.dbt_build import REPO, dbt_build
from tests.independent import SNAPSHOTS

AS_OF = date(2024, 6, 30)

# --- geography (ONS facts, not the seeds) -----------------------------------------------------------
LSOA_A = "W01001600"  # Newport 012A, 2021 LSOA, ward Allt-yr-yn
LSOA_B = "W01001601"  # Newport 006A, 2021 LSOA, ward Allt-yr-yn
SPLIT_SAME = "W01001644"  # Newport 013C (2011), split into W01002030/31, both in Lliswerry
SPLIT_DIFF = "W01001647"  # Newport 015F (2011), split into Lliswerry and Llanwern
MERGED = "W01000001"  # Isle of Anglesey 007A (2011), merged into W01002008 (ward Bro Aberffraw)
WARD = "W05001627"  # Allt-yr-yn, Newport
NEWPORT = "W06000022"
CARDIFF_LSOA = "W01001694"  # Cardiff 036A, ward Adamsdown

# code -> (area_level, lsoa21_code, ward_code, la_code, police_force_code)
AREAS = {
    LSOA_A: ("lsoa21", LSOA_A, WARD, NEWPORT, "W15000002"),
    LSOA_B: ("lsoa21", LSOA_B, WARD, NEWPORT, "W15000002"),
    SPLIT_SAME: ("lsoa11", None, "W05001635", NEWPORT, "W15000002"),
    SPLIT_DIFF: ("lsoa11", None, None, NEWPORT, "W15000002"),
    MERGED: ("lsoa11", "W01002008", "W05001494", "W06000001", "W15000001"),
    WARD: ("ward", None, WARD, NEWPORT, "W15000002"),
    NEWPORT: ("la", None, None, NEWPORT, "W15000002"),
    CARDIFF_LSOA: ("lsoa21", CARDIFF_LSOA, "W05001270", "W06000015", "W15000003"),
}
STRAND_COMMUNITY = {"race": "ethnic", "religion": "faith", "sexual_orientation": "lgbt", "transgender": "lgbt"}

# --- partner files ----------------------------------------------------------------------------------
# (file_id, extract_type, partner, period, period_start, period_end, received_at, superseded_by)
FILES = [
    ("inc-gp-23q3", "incidents", "gwent-police", "2023-Q3", date(2023, 7, 1), date(2023, 9, 30), datetime(2023, 10, 5), None),
    ("inc-gp-23q4", "incidents", "gwent-police", "2023-Q4", date(2023, 10, 1), date(2023, 12, 31), datetime(2024, 1, 5), None),
    ("inc-gp-24q1", "incidents", "gwent-police", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31), datetime(2024, 4, 5), None),
    ("inc-gp-24q2-old", "incidents", "gwent-police", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 2), "inc-gp-24q2"),
    ("inc-gp-24q2", "incidents", "gwent-police", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 5), None),
    ("inc-ncc-2024", "incidents", "newport-council", "2024", date(2024, 1, 1), date(2024, 12, 31), datetime(2024, 7, 3), None),
    ("inc-acc-2405", "incidents", "anglesey-council", "2024-05", date(2024, 5, 1), date(2024, 5, 31), datetime(2024, 6, 3), None),
    ("rep-ncc-2023", "tension_reports", "newport-council", "2023", date(2023, 1, 1), date(2023, 12, 31), datetime(2024, 1, 8), None),
    ("rep-ncc-2024-old", "tension_reports", "newport-council", "2024", date(2024, 1, 1), date(2024, 12, 31), datetime(2024, 7, 1), "rep-ncc-2024"),
    ("rep-ncc-2024", "tension_reports", "newport-council", "2024", date(2024, 1, 1), date(2024, 12, 31), datetime(2024, 7, 4), None),
    ("ass-tmg-24q1", "tension_assessments", "gwent-tmg", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31), datetime(2024, 4, 2), None),
    ("ass-tmg-24q2", "tension_assessments", "gwent-tmg", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 2), None),
    ("ass-ctmg-24q1", "tension_assessments", "cardiff-tmg", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31), datetime(2024, 4, 2), None),
    ("cia-tmg-24q1", "community_impact_assessments", "gwent-tmg", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31), datetime(2024, 4, 2), None),
    ("cia-tmg-24q2", "community_impact_assessments", "gwent-tmg", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 2), None),
    ("cia-ctmg-24q2", "community_impact_assessments", "cardiff-tmg", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 2), None),
    ("risk-tmg-24q1", "risk_register", "gwent-tmg", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31), datetime(2024, 4, 2), None),
    ("risk-tmg-24q2", "risk_register", "gwent-tmg", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 2), None),
]


def _incidents() -> list[tuple]:
    """(file_id, incident_ref, occurred_on, area_code, incident_type, hate_strands, community_type, source_organisation)"""
    gp = "Gwent Police"
    rows = []
    # one quiet ASB a month at LSOA_A, July 2023 to May 2024, from the quarterly police files
    for month, file_id in [(date(2023, m, 1), "inc-gp-23q3") for m in (7, 8, 9)] + [
        (date(2023, m, 1), "inc-gp-23q4") for m in (10, 11, 12)
    ] + [(date(2024, m, 1), "inc-gp-24q1") for m in (1, 2, 3)]:
        rows.append((file_id, f"GP-{month:%Y-%m}-1", month.replace(day=15), LSOA_A, "asb", [], None, gp))
    q2 = "inc-gp-24q2"
    # the Q2 file repeats March's incident, now recorded as a religious hate crime: the Q2 row wins
    rows.append((q2, "GP-2024-03-1", date(2024, 3, 15), LSOA_A, "hate_crime", ["religion"], None, gp))
    rows += [(q2, f"GP-2024-04-{k}", date(2024, 4, 10 + k), LSOA_A, "asb", [], None, gp) for k in range(1, 5)]  # 4: raised
    rows.append((q2, "GP-2024-05-1", date(2024, 5, 15), LSOA_A, "asb", [], None, gp))
    rows += [(q2, f"GP-2024-05-B{k}", date(2024, 5, 20 + k), LSOA_B, "asb", [], None, gp) for k in range(1, 4)]
    # June spike at LSOA_A: 5 racist hate crimes and 3 ASB
    rows += [(q2, f"GP-2024-06-{k}", date(2024, 6, 2 + k), LSOA_A, "hate_crime", ["race"], None, gp) for k in range(1, 6)]
    rows += [(q2, f"GP-2024-06-{k}", date(2024, 6, 10 + k), LSOA_A, "asb", [], None, gp) for k in range(6, 9)]
    # the superseded Q2 file placed GP-2024-06-1 in Cardiff: it must not be read
    rows.append(("inc-gp-24q2-old", "GP-2024-06-1", date(2024, 6, 3), CARDIFF_LSOA, "other", [], None, gp))
    ncc = "Newport City Council"
    rows += [
        ("inc-ncc-2024", "NCC-1", date(2024, 2, 10), SPLIT_SAME, "hate_incident", ["disability", "race"], None, ncc),
        ("inc-ncc-2024", "NCC-2", date(2024, 3, 5), SPLIT_DIFF, "hate_incident", ["disability"], None, ncc),
        ("inc-ncc-2024", "NCC-3", date(2024, 4, 20), WARD, "hate_crime", ["race"], "new_arrivals", ncc),
        ("inc-ncc-2024", "NCC-4", date(2024, 5, 2), NEWPORT, "offensive_graffiti", [], None, ncc),
        ("inc-ncc-2024", "NCC-5", date(2024, 6, 1), LSOA_B, "hate_incident", ["transgender"], None, ncc),
        ("inc-acc-2405", "ACC-1", date(2024, 5, 9), MERGED, "neighbour_dispute", [], None, "Isle of Anglesey County Council"),
    ]
    return rows


def _reports() -> list[tuple]:
    """(file_id, submitted_on, source_type, area_code, community_types, tension_categories, information, has_submitter, consent)"""
    rows = [("rep-ncc-2023", date(2023, 5, 10), "resident", LSOA_B, ["faith"], ["community"], "before the window", False, False)]
    for m in (7, 8, 9, 10, 11, 12):
        rows.append(("rep-ncc-2023", date(2023, m, 10), "resident", LSOA_B, ["faith"], ["community"], "monthly note", False, False))
    for m in (1, 2, 3, 4):
        rows.append(("rep-ncc-2024", date(2024, m, 10), "resident", LSOA_B, ["faith"], ["community"], "monthly note", False, False))
    rows += [
        ("rep-ncc-2024", date(2024, 6, 4), "person_working_in_area", LSOA_A, ["ethnic"], ["racial_religious", "community"],
         "Leaflets at the shops, [NAME] said", True, True),
        ("rep-ncc-2024", date(2024, 6, 9), "resident", LSOA_A, ["ethnic", "faith"], ["racial_religious"], "Shouting outside the mosque", False, False),
        ("rep-ncc-2024", date(2024, 6, 21), "own_observation", LSOA_A, ["ethnic"], [], "Graffiti on the underpass", False, False),
        ("rep-ncc-2024", date(2024, 3, 20), "resident", SPLIT_DIFF, [], ["future"], "March planned", False, False),
        ("rep-ncc-2024-old", date(2024, 6, 5), "resident", LSOA_A, ["ethnic"], [], "withdrawn", False, False),
    ]
    return rows


# (file_id, assessment_date, period_start, period_end, area_code, community_type, scale, current, potential)
ASSESSMENTS = [
    ("ass-tmg-24q1", date(2024, 1, 15), date(2024, 1, 1), date(2024, 2, 29), WARD, "ethnic", "eep6", "5", "4"),
    ("ass-tmg-24q1", date(2024, 3, 12), date(2024, 3, 1), date(2024, 4, 30), WARD, "ethnic", "eep6", "3", "3"),
    ("ass-tmg-24q1", date(2024, 3, 12), date(2024, 3, 1), date(2024, 4, 30), WARD, "faith", "level4", "low", "medium"),
    ("ass-tmg-24q2", date(2024, 5, 14), date(2024, 5, 1), date(2024, 6, 30), WARD, "ethnic", "eep6", "3", "5"),
    ("ass-tmg-24q2", date(2024, 5, 14), date(2024, 5, 1), date(2024, 6, 30), WARD, "faith", "eep6", "2", "4"),
    ("ass-tmg-24q1", date(2024, 2, 20), date(2024, 2, 1), date(2024, 3, 31), LSOA_A, "overall", "eep6", "6", "6"),
    ("ass-tmg-24q2", date(2024, 4, 16), date(2024, 4, 1), date(2024, 5, 31), LSOA_A, "overall", "eep6", "5", "5"),
    ("ass-tmg-24q2", date(2024, 6, 10), date(2024, 6, 1), date(2024, 7, 31), LSOA_A, "overall", "eep6", "6", "5"),
    ("ass-ctmg-24q1", date(2024, 3, 1), date(2024, 3, 1), date(2024, 4, 30), CARDIFF_LSOA, "lgbt", "level4", "high", "high"),
]

# (file_id, cia_id, trigger, triggered_on, area_code, community_types, status, completed_on, overall_risk)
CIAS = [
    ("cia-tmg-24q1", "CIA-001", "rating", date(2024, 1, 20), LSOA_A, ["ethnic"], "in_progress", None, None),
    ("cia-tmg-24q1", "CIA-005", "planned_event", date(2024, 2, 1), NEWPORT, [], "in_progress", None, None),
    ("cia-tmg-24q2", "CIA-001", "rating", date(2024, 1, 20), LSOA_A, ["ethnic"], "complete", date(2024, 2, 10), "medium"),
    ("cia-tmg-24q2", "CIA-005", "planned_event", date(2024, 2, 1), NEWPORT, [], "complete", date(2024, 3, 15), "low"),
    ("cia-tmg-24q2", "CIA-002", "rating", date(2024, 5, 30), NEWPORT, ["ethnic", "faith"], "in_progress", None, None),
    ("cia-ctmg-24q2", "CIA-004", "incident", date(2024, 6, 20), CARDIFF_LSOA, ["lgbt"], "required", None, None),
]

# (file_id, risk_id, likelihood, impact, residual_l, residual_i, action_plan_ref, review_due, status)
RISKS = [
    ("risk-tmg-24q1", "RISK-001", 2, 2, None, None, None, date(2024, 3, 1), "open"),
    ("risk-tmg-24q1", "RISK-004", 3, 3, None, None, "AP-2", date(2024, 4, 30), "open"),
    ("risk-tmg-24q2", "RISK-001", 5, 1, 1, 2, "  ", date(2024, 6, 1), "open"),
    ("risk-tmg-24q2", "RISK-002", 2, 2, None, None, None, date(2024, 7, 15), "open"),
    ("risk-tmg-24q2", "RISK-003", 4, 4, None, None, "AP-7", date(2024, 5, 1), "closed"),
]

SUPERSEDED = {f[0] for f in FILES if f[7] is not None}

# the raw row tables' columns, named so the inserts do not depend on column order (sheet keeps its default)
INCIDENT_COLUMNS = ("file_id, row_number, incident_ref, occurred_on, reported_on, area_code, incident_type, hate_strands, "
                    "community_type, source_organisation, description, redacted_items")
REPORT_COLUMNS = ("file_id, row_number, submitted_on, source_type, area_code, area_description, community_types, "
                  "tension_categories, information, has_submitter_details, contact_consent, redacted_items")
ASSESSMENT_COLUMNS = ("file_id, row_number, assessment_date, period_start, period_end, area_code, community_type, scale, "
                      "current_grade, potential_grade, rationale, assessed_by_role, redacted_items")
CIA_COLUMNS = ("file_id, row_number, cia_id, trigger, triggered_on, area_code, community_types, subject, status, "
               "completed_on, overall_risk, redacted_items")
RISK_COLUMNS = ("file_id, row_number, risk_id, area_code, raised_on, description, ppplem_heading, likelihood, impact, "
                "residual_likelihood, residual_impact, action_plan_ref, owner_role, review_due, status, redacted_items")


def load_partner_rows(con) -> None:
    """Create the raw partner tables and insert the rows above."""
    create_all(con)
    for file_id, extract_type, partner, period, start, end, received, superseded_by in FILES:
        con.execute(
            """insert into raw.partner_files (file_id, content_sha256, extract_type, partner, period, period_start,
               period_end, file_name, received_at, row_count, redacted_items, superseded_by, superseded_at)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)""",
            [file_id, file_id, extract_type, partner, period, start, end, f"{partner}_{period}.csv", received, superseded_by,
             received + timedelta(days=3) if superseded_by else None],
        )
    row_numbers: dict[str, int] = defaultdict(lambda: 1)

    def next_row(file_id: str) -> int:
        row_numbers[file_id] += 1
        return row_numbers[file_id]

    for file_id, ref, occurred, area, itype, strands, community, org in _incidents():
        con.execute(
            f"insert into raw.partner_incidents ({INCIDENT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            [file_id, next_row(file_id), ref, occurred, occurred, area, itype, strands, community, org, f"{itype} {ref}"],
        )
    for file_id, submitted, source, area, communities, categories, info, has_sub, consent in _reports():
        con.execute(
            f"insert into raw.partner_tension_reports ({REPORT_COLUMNS}) values (?, ?, ?, ?, ?, null, ?, ?, ?, ?, ?, ?)",
            [file_id, next_row(file_id), submitted, source, area, communities, categories, info, has_sub, consent,
             1 if "[NAME]" in info else 0],
        )
    for file_id, adate, pstart, pend, area, community, scale, cur, pot in ASSESSMENTS:
        con.execute(
            f"insert into raw.partner_tension_assessments ({ASSESSMENT_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'rationale', 'Silver chair', 0)",
            [file_id, next_row(file_id), adate, pstart, pend, area, community, scale, cur, pot],
        )
    for file_id, cia_id, trigger, triggered, area, communities, status, completed, risk in CIAS:
        con.execute(
            f"insert into raw.partner_community_impact_assessments ({CIA_COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, 'subject', ?, ?, ?, 0)",
            [file_id, next_row(file_id), cia_id, trigger, triggered, area, communities, status, completed, risk],
        )
    for file_id, risk_id, lk, im, rl, ri, plan, review, status in RISKS:
        con.execute(
            f"insert into raw.partner_risk_register ({RISK_COLUMNS}) values (?, ?, ?, ?, ?, 'a risk', 'physical', ?, ?, ?, ?, ?, 'Silver chair', ?, ?, 0)",
            [file_id, next_row(file_id), risk_id, NEWPORT, date(2024, 1, 10), lk, im, rl, ri, plan, review, status],
        )


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tension")
    warehouse = tmp / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    load_partner_rows(con)
    con.close()
    dbt_build(warehouse, "+tag:tension", tmp)
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def rows(con, query: str, params: list | None = None) -> list[dict]:
    cur = con.execute(query, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def by(items: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in items}


# --- tension reports ----------------------------------------------------------------------------------


def test_reports_are_the_current_files_forms_with_no_submitter_columns(marts):
    got = rows(marts, "select * from marts.fct_tension_report")
    expected = [r for r in _reports() if r[0] not in SUPERSEDED]
    assert len(got) == len(expected) == 15
    assert "withdrawn" not in {r["information"] for r in got}
    columns = {r[0] for r in marts.execute(
        "select column_name from information_schema.columns where table_schema in ('staging', 'intermediate', 'marts')"
    ).fetchall()}
    assert {c for c in columns if "submitter" in c} == {"has_submitter_details"}
    leaflets = next(r for r in got if r["information"].startswith("Leaflets"))
    assert leaflets["community_types"] == ["ethnic"]
    assert leaflets["tension_categories_text"] == "racial_religious; community"
    assert leaflets["month"] == date(2024, 6, 1) and leaflets["quarter"] == "2024-Q2"
    assert (leaflets["has_submitter_details"], leaflets["contact_consent"], leaflets["redacted_items"]) == (True, True, 1)
    assert (leaflets["ward_code"], leaflets["la_code"], leaflets["police_force_code"]) == (WARD, NEWPORT, "W15000002")
    mosque = next(r for r in got if r["information"].startswith("Shouting"))
    assert mosque["community_types_text"] == "ethnic; faith"


# --- incidents and geography ------------------------------------------------------------------------------


def test_incidents_keep_the_latest_periods_row_and_skip_superseded_files(marts):
    got = by(rows(marts, "select * from marts.fct_incident"), "incident_ref")
    current = {r[1] for r in _incidents() if r[0] not in SUPERSEDED}
    assert set(got) == current and len(got) == 31
    march = got["GP-2024-03-1"]  # in the Q1 file as ASB, updated in Q2 as a religious hate crime
    assert (march["incident_type"], march["is_hate"], march["community_type_derived"]) == ("hate_crime", True, "faith")
    assert march["file_id"] == "inc-gp-24q2"
    assert got["GP-2024-06-1"]["area_code"] == LSOA_A  # not the superseded file's Cardiff LSOA


def test_community_type_is_supplied_else_the_first_mapped_hate_strand(marts):
    got = by(rows(marts, "select * from marts.fct_incident"), "incident_ref")
    assert got["NCC-1"]["community_type_derived"] == "ethnic"  # disability (no community) then race
    assert got["NCC-1"]["hate_strands_text"] == "disability; race"
    assert got["NCC-2"]["community_type_derived"] is None  # disability only
    assert got["NCC-3"]["community_type_derived"] == "new_arrivals"  # supplied beats the race strand
    assert got["NCC-5"]["community_type_derived"] == "lgbt"  # transgender
    assert got["GP-2024-06-1"]["community_type_derived"] == "ethnic"
    assert got["GP-2024-06-6"]["community_type_derived"] is None and got["GP-2024-06-6"]["is_hate"] is False


def test_area_codes_resolve_at_every_level(marts):
    got = by(rows(marts, "select * from intermediate.int_partner__area_levels"), "area_code")
    assert set(got) == set(AREAS)  # every code used above, no others
    for code, (level, lsoa21, ward, la, force) in AREAS.items():
        r = got[code]
        assert (r["area_level"], r["lsoa21_code"], r["ward_code"], r["la_code"], r["police_force_code"]) == (
            level, lsoa21, ward, la, force), code
    assert got[MERGED]["lsoa21_name"] == "Isle of Anglesey 007F"
    assert got[WARD]["ward_name"] == "Allt-yr-yn" and got[NEWPORT]["la_name"] == "Newport"


# --- tension assessments ------------------------------------------------------------------------------

LEVEL4 = {1: "high", 2: "high", 3: "medium", 4: "medium", 5: "low", 6: "none"}
RANK = {"high": 1, "medium": 2, "low": 3, "none": 4}


def test_grades_map_between_the_two_scales(marts):
    got = by(rows(marts, "select * from marts.fct_tension_assessment"), "area_code", "community_type", "assessment_date")
    for _, adate, _, _, area, community, scale, cur, pot in ASSESSMENTS:
        r = got[(area, community, adate)]
        if scale == "eep6":
            assert (r["current_eep_grade"], r["potential_eep_grade"]) == (int(cur), int(pot))
            assert (r["current_level4"], r["potential_level4"]) == (LEVEL4[int(cur)], LEVEL4[int(pot)])
        else:
            assert (r["current_eep_grade"], r["potential_eep_grade"]) == (None, None)
            assert (r["current_level4"], r["potential_level4"]) == (cur, pot)
        assert r["current_level4_rank"] == RANK[r["current_level4"]]
        assert r["overall_source"] == "supplied"


def test_trend_against_the_previous_assessment_of_the_same_area_and_community(marts):
    got = by(rows(marts, "select * from marts.fct_tension_assessment"), "area_code", "community_type", "assessment_date")
    # (area, community, date): (current_trend, potential_trend, label)
    expected = {
        (WARD, "ethnic", date(2024, 1, 15)): (None, None, None),  # first assessment
        (WARD, "ethnic", date(2024, 3, 12)): ("▲", "▲", "rising"),  # 5→3, 4→3
        (WARD, "ethnic", date(2024, 5, 14)): ("►", "▼", "static"),  # 3→3, 3→5
        (WARD, "faith", date(2024, 3, 12)): (None, None, None),
        # level4 low/medium before, EEP 2/4 now: compared on the four-level ranks (low→high, medium→medium)
        (WARD, "faith", date(2024, 5, 14)): ("▲", "►", "rising"),
        (LSOA_A, "overall", date(2024, 2, 20)): (None, None, None),
        (LSOA_A, "overall", date(2024, 4, 16)): ("▲", "▲", "rising"),  # 6→5
        (LSOA_A, "overall", date(2024, 6, 10)): ("▼", "►", "falling"),  # 5→6, 5→5
        (CARDIFF_LSOA, "lgbt", date(2024, 3, 1)): (None, None, None),
    }
    for key, (cur, pot, label) in expected.items():
        r = got[key]
        assert (r["current_trend"], r["potential_trend"], r["current_trend_label"]) == (cur, pot, label), key
    assert got[(WARD, "ethnic", date(2024, 5, 14))]["previous_assessment_date"] == date(2024, 3, 12)
    assert got[(WARD, "ethnic", date(2024, 5, 14))]["previous_current_grade"] == "3"


def test_derived_overall_row_takes_the_highest_tension_of_the_community_rows(marts):
    got = by(rows(marts, "select * from marts.fct_tension_assessment where overall_source = 'derived'"),
             "area_code", "assessment_date")
    # the ward (three dates) and the Cardiff LSOA have community rows but no overall row; LSOA_A gave its own
    assert set(got) == {(WARD, date(2024, 1, 15)), (WARD, date(2024, 3, 12)), (WARD, date(2024, 5, 14)),
                        (CARDIFF_LSOA, date(2024, 3, 1))}
    cardiff = got[(CARDIFF_LSOA, date(2024, 3, 1))]
    assert (cardiff["scale"], cardiff["current_grade"], cardiff["is_cia_trigger"]) == ("level4", "high", True)
    jan, mar, may = (got[(WARD, d)] for d in (date(2024, 1, 15), date(2024, 3, 12), date(2024, 5, 14)))
    assert (jan["scale"], jan["current_grade"], jan["potential_grade"]) == ("eep6", "5", "4")  # ethnic only
    # ethnic EEP 3/3 (medium) and faith level4 low/medium: mixed scales → level4
    assert (mar["scale"], mar["current_grade"], mar["potential_grade"]) == ("level4", "medium", "medium")
    assert (may["scale"], may["current_grade"], may["potential_grade"]) == ("eep6", "2", "4")  # min(3, 2), min(5, 4)
    assert [r["community_type"] for r in (jan, mar, may)] == ["overall"] * 3
    assert (mar["current_trend"], may["current_trend"]) == ("▲", "▲")  # 5 (low) → medium → 2 (high)
    assert (mar["potential_trend"], may["potential_trend"]) == ("►", "►")  # 4 → medium → 4
    n = marts.execute("select count(*) from marts.fct_tension_assessment").fetchone()[0]
    assert n == len(ASSESSMENTS) + 4


def test_cia_required_at_grades_1_to_4_only(marts):
    got = rows(marts, "select * from marts.fct_tension_assessment")
    for r in got:
        grades = [r["current_level4"], r["potential_level4"]]
        assert r["is_cia_trigger"] == any(g in ("high", "medium") for g in grades), r["assessment_id"]
    lsoa_a = [r for r in got if r["area_code"] == LSOA_A]
    assert lsoa_a and not any(r["is_cia_trigger"] for r in lsoa_a)  # grades 5-6 only
    assert got and by(got, "assessment_id")[f"{WARD}:ethnic:2024-01-15"]["is_cia_trigger"]  # potential 4


# --- CIAs ---------------------------------------------------------------------------------------------


def test_ratings_without_a_cia_in_the_la_and_window_are_listed_as_missing(marts):
    got = by(rows(marts, "select * from marts.fct_cia"), "cia_id")
    missing = {k for k, r in got.items() if r["cia_record_source"] == "missing"}
    # Jan and Mar ward ratings: covered by CIA-001 (20 Jan, Newport; within 61 days before 12 Mar).
    # May ward ratings: CIA-002 on 30 May is 16 days after, outside the 14 days allowed.
    # Cardiff: CIA-001 is in the window but in Newport; CIA-004 is an incident CIA.
    # Derived overall rows (the ward's, Cardiff's) restate their community rows: no CIA of their own.
    assert missing == {
        f"REQUIRED-{WARD}:ethnic:2024-05-14",
        f"REQUIRED-{WARD}:faith:2024-05-14",
        f"REQUIRED-{CARDIFF_LSOA}:lgbt:2024-03-01",
    }
    assert len(got) == 4 + 3
    cardiff = got[f"REQUIRED-{CARDIFF_LSOA}:lgbt:2024-03-01"]
    assert (cardiff["status"], cardiff["trigger"], cardiff["triggered_on"], cardiff["la_code"]) == (
        "missing", "rating", date(2024, 3, 1), "W06000015")
    assert cardiff["due_on"] == date(2024, 3, 29) and cardiff["is_overdue"] and cardiff["age_days"] == (AS_OF - date(2024, 3, 1)).days
    assert got["CIA-001"]["triggered_by_assessment_id"] == f"{WARD}:ethnic:2024-01-15"  # nearest: 5 days
    assert got["CIA-002"]["triggered_by_assessment_id"] is None


def test_cia_dates_use_the_latest_log_and_the_as_of_date(marts):
    got = by(rows(marts, "select * from marts.fct_cia where cia_record_source = 'supplied'"), "cia_id")
    c1, c2, c4, c5 = got["CIA-001"], got["CIA-002"], got["CIA-004"], got["CIA-005"]
    assert (c1["status"], c1["completed_on"], c1["overall_risk"]) == ("complete", date(2024, 2, 10), "medium")  # Q2 log
    assert (c1["age_days"], c1["is_overdue"], c1["completed_late"]) == (21, False, False)
    # in progress, due 27 June, as of 30 June: overdue
    assert (c2["due_on"], c2["age_days"], c2["is_overdue"], c2["completed_late"]) == (date(2024, 6, 27), 31, True, False)
    assert (c4["due_on"], c4["age_days"], c4["is_overdue"]) == (date(2024, 7, 18), 10, False)
    # completed on 15 March, due 29 February: late, not overdue
    assert (c5["age_days"], c5["is_overdue"], c5["completed_late"]) == (43, False, True)
    assert {r["as_of_date"] for r in got.values()} == {AS_OF}


# --- risks --------------------------------------------------------------------------------------------


def test_risk_scores_bands_and_action_plans(marts):
    got = by(rows(marts, "select * from marts.fct_risk"), "risk_id")
    assert set(got) == {"RISK-001", "RISK-002", "RISK-003", "RISK-004"}  # RISK-004: only in Q1, still current
    r1, r2, r3, r4 = (got[k] for k in ("RISK-001", "RISK-002", "RISK-003", "RISK-004"))
    # RISK-001 from the Q2 register: 5 × 1 = 5 → medium, action plan required, blank ref → missing
    assert (r1["score"], r1["risk_level"], r1["action_plan_required"], r1["action_plan_missing"]) == (5, "medium", True, True)
    assert r1["next_step"] == "report to Gold and engage Bronze on prevention"
    assert (r1["residual_score"], r1["residual_risk_level"], r1["score_change"]) == (2, "low", -3)
    assert r1["is_review_overdue"]  # open, due 1 June
    assert (r2["score"], r2["risk_level"], r2["action_plan_required"], r2["action_plan_missing"]) == (4, "low", False, False)
    assert r2["next_step"] == "keep monitoring" and not r2["is_review_overdue"]
    assert (r3["score"], r3["risk_level"], r3["next_step"]) == (16, "high", "relay to Gold at once for a strategic response")
    assert (r3["action_plan_missing"], r3["residual_score"], r3["is_review_overdue"]) == (False, None, False)  # closed
    assert (r4["score"], r4["action_plan_missing"], r4["is_review_overdue"]) == (9, False, True)


# --- evidence -----------------------------------------------------------------------------------------


def _month(d: date) -> date:
    return d.replace(day=1)


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _days(m: date) -> int:
    return calendar.monthrange(m.year, m.month)[1]


def _places(code: str, areas: dict) -> list[tuple[str, str]]:
    _, lsoa21, ward, la, _ = areas[code]
    return [(lvl, c) for lvl, c in (("lsoa21", lsoa21), ("ward", ward), ("la", la)) if c]


@cache
def lsoas_in() -> dict[tuple[str, str], int]:
    """2021 LSOAs per ward (best fit: the geography seed's assignment), LA (ONS LSOA list) and police force
    (ONS LA → police force area lookup): the population measure of a wider rate."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    with open(SEEDS_DIR / "geography" / "lsoa21_geography.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            counts[("ward", row["ward_code"])] += 1
    with open(SNAPSHOTS / "geography" / "ons_lad19_csp19_pfa19_EW.csv", newline="", encoding="utf-8-sig") as handle:
        force_of = {row["LAD19CD"]: row["PFA19CD"] for row in csv.DictReader(handle)}
    with open(SNAPSHOTS / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            counts[("lsoa21", row["LSOA21CD"])] = 1
            counts[("la", row["LADCD"])] += 1
            counts[("force", force_of[row["LADCD"]])] += 1
    return dict(counts)


WIDER = {"lsoa21": ("ward", "la", "force"), "ward": ("la", "force"), "la": ("force",)}


def evidence_rule(incidents: list[tuple], reports: list[tuple], group: list[tuple], areas: dict) -> dict:
    """The evidence rule worked out in Python from the rows themselves.

    incidents: (occurred_on, area_code, incident_type, hate_strands, community_type) of the current rows;
    reports: (submitted_on, area_code, community_types); group: (area, community, assessment_date,
    period_start, EEP grade); areas: code -> (level, lsoa21, ward, la, force), as the ONS lookups place it.
    """
    first = min(_month(r[0]) for r in incidents)
    last = max(_month(r[0]) for r in incidents)
    months = [first]
    while months[-1] < last:
        months.append(_add_months(months[-1], 1))

    counts = defaultdict(lambda: [0, 0, 0])  # (level, area, community, month) -> [incidents, hate, reports]
    for occurred, area, itype, strands, community in incidents:
        derived = community or next((STRAND_COMMUNITY[s] for s in strands if s in STRAND_COMMUNITY), None)
        for level, code in _places(area, areas):
            for c in (["overall"] + ([derived] if derived else [])):
                counts[(level, code, c, _month(occurred))][0] += 1
                counts[(level, code, c, _month(occurred))][1] += itype in ("hate_crime", "hate_incident")
    for submitted, area, communities in reports:
        if not first <= _month(submitted) <= last:
            continue
        for level, code in _places(area, areas):
            for c in ["overall"] + sorted(set(communities)):
                counts[(level, code, c, _month(submitted))][2] += 1

    # the ward, LA and force around every area of the grid
    around = {}
    for _, lsoa21, ward, la, force in areas.values():
        if lsoa21:
            around[("lsoa21", lsoa21)] = {"ward": ward, "la": la, "force": force}
        if ward:
            around[("ward", ward)] = {"la": la, "force": force}
        around[("la", la)] = {"force": force}
    units = lsoas_in()

    def wider_count(level: str, community: str, wider_level: str, wider_code: str, in_months: list[date]) -> int:
        return sum(n for (lvl, code, c, m), (n, _, _) in counts.items()
                   if lvl == level and c == community and m in in_months and around[(lvl, code)][wider_level] == wider_code)

    out = {}
    for series in {k[:3] for k in counts}:
        level, code, community = series
        for i, m in enumerate(months):
            n, hate, reps = counts.get((*series, m), [0, 0, 0])
            base = months[max(0, i - 12):i]
            b_count = sum(counts.get((*series, b), [0])[0] for b in base)
            b_days = sum(_days(b) for b in base)
            b_reports = sum(counts.get((*series, b), [0, 0, 0])[2] for b in base)
            b_mean = b_reports / len(base) if base else None
            own_units = units.get((level, code), 0)
            source, fallback, lam = "none", (None, None, None, None, None), None
            own = len(base) >= 6 or (len(base) >= 1 and b_count >= 10)  # 6 months, or 10 incidents in fewer
            if own:
                source, lam = "own_history", (b_count + 0.5) / b_days * _days(m)
            else:
                candidates = []
                if base:  # the wider area's rate over the same previous months
                    for wl in WIDER[level]:
                        wc = around[(level, code)][wl]
                        candidates.append((f"{wl}_rate", wl, wc, wider_count(level, community, wl, wc, base), b_days,
                                           units.get((wl, wc), 0)))
                for wl in WIDER[level]:  # the rest of the LA or force in the same month
                    if wl != "ward":
                        wc = around[(level, code)][wl]
                        candidates.append((f"{wl}_same_month", wl, wc, wider_count(level, community, wl, wc, [m]) - n,
                                           _days(m), units.get((wl, wc), 0) - own_units))
                for cand in candidates:
                    if cand[3] >= 10 and cand[5] > 0 and own_units > 0:
                        source, fallback = cand[0], cand[1:]
                        lam = cand[3] / (cand[4] * cand[5]) * _days(m) * own_units
                        break
            p = None if lam is None else (1.0 if n == 0 else float(poisson.sf(n - 1, lam)))
            vlevel = ("insufficient_history" if p is None else "normal" if p >= 0.05 else
                      "substantially_raised" if p < 0.001 and n >= 3 else "raised")
            grade = {"normal": 6, "raised": 5, "substantially_raised": 4}.get(vlevel)
            if grade is None:
                nudge = None
            elif reps >= 2 and reps > (b_mean or 0):
                nudge = -1
            elif reps == 0 and b_mean is not None and b_mean >= 1 and vlevel != "normal":
                nudge = 1
            else:
                nudge = 0
            suggested = None if grade is None else min(6, max(3, grade + nudge))
            month_end = date(m.year, m.month, _days(m))
            assessed = [g for g in group if g[0] == code and g[1] == community and g[2] <= month_end and g[3] <= month_end]
            group_grade = max(assessed, key=lambda g: g[2])[4] if assessed else None
            gap = None if group_grade is None or suggested is None else group_grade - suggested
            out[(*series, m)] = dict(
                incident_count=n, hate_incident_count=hate, tension_report_count=reps, baseline_months=len(base),
                baseline_count=b_count, baseline_days=b_days, has_own_history=own, baseline_source=source,
                fallback_area_level=fallback[0], fallback_area_code=fallback[1], fallback_count=fallback[2],
                fallback_days=fallback[3], fallback_lsoas=fallback[4], area_lsoas=own_units,
                expected=lam, exceedance_p=p, volume_level=vlevel, volume_grade=grade,
                report_nudge=nudge, suggested_grade=suggested, group_current_grade=group_grade, grade_gap=gap,
                disagrees=gap is not None and abs(gap) >= 2,
                disagreement=None if gap is None or abs(gap) < 2 else
                ("group rates lower tension than the evidence" if gap > 0 else "group rates higher tension than the evidence"),
            )
    return out


def assert_evidence_matches(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, exp in expected.items():
        r = got[key]
        for col, value in exp.items():
            if col in ("expected", "exceedance_p") and value is not None:
                assert r[col] == pytest.approx(value, rel=1e-9, abs=1e-300), (key, col)
            else:
                assert r[col] == value, (key, col)


# The group's current grade as EEP for the evidence mart: supplied rows plus the derived ward overall rows
# (EEP as given; four-level high 2, medium 4, low 5, none 6).
L4_TO_EEP = {"high": 2, "medium": 4, "low": 5, "none": 6}
GROUP = [(area, community, adate, pstart, int(cur) if scale == "eep6" else L4_TO_EEP[cur])
         for _, adate, pstart, _, area, community, scale, cur, _ in ASSESSMENTS] + [
    (WARD, "overall", date(2024, 1, 15), date(2024, 1, 1), 5),
    (WARD, "overall", date(2024, 3, 12), date(2024, 3, 1), 4),  # level4 medium
    (WARD, "overall", date(2024, 5, 14), date(2024, 5, 1), 2),
    (CARDIFF_LSOA, "overall", date(2024, 3, 1), date(2024, 3, 1), 2),  # level4 high
]


def expected_evidence() -> dict:
    incidents = {}
    for r in _incidents():  # the current row per (org, ref): not superseded, latest period wins
        if r[0] in SUPERSEDED:
            continue
        period_end = next(f[5] for f in FILES if f[0] == r[0])
        if (r[7], r[1]) not in incidents or period_end > incidents[(r[7], r[1])][0]:
            incidents[(r[7], r[1])] = (period_end, r)
    current = [(r[2], r[3], r[4], r[5], r[6]) for _, r in incidents.values()]
    reports = [(r[1], r[3], r[4]) for r in _reports() if r[0] not in SUPERSEDED]
    return evidence_rule(current, reports, GROUP, AREAS)


def test_evidence_matches_an_independent_poisson_calculation(marts):
    got = by(rows(marts, "select * from marts.fct_tension_evidence"), "area_level", "area_code", "community_type", "month")
    assert_evidence_matches(got, expected_evidence())


def test_evidence_spike_month_against_quiet_months(marts):
    got = by(rows(marts, "select * from marts.fct_tension_evidence where area_code = ? and community_type = 'overall'", [LSOA_A]),
             "month")
    assert len(got) == 12  # July 2023 to June 2024, zeros filled
    # June 2024: 8 incidents against 14 in the 11 previous months (one a month, four in April)
    june = got[date(2024, 6, 1)]
    days = sum(_days(_add_months(date(2023, 7, 1), k)) for k in range(11))
    lam = (14 + 0.5) / days * 30
    assert (june["baseline_months"], june["baseline_count"], june["baseline_days"]) == (11, 14, days)
    assert (june["has_own_history"], june["baseline_source"]) == (True, "own_history")
    assert june["expected"] == pytest.approx(lam)
    assert june["exceedance_p"] == pytest.approx(poisson.sf(7, lam)) and poisson.sf(7, lam) < 0.001
    assert (june["volume_level"], june["volume_grade"]) == ("substantially_raised", 4)
    assert june["evidence_note"] == "own history: 11 previous months, 14 incidents"
    # three tension reports against none before: one grade up, to 3; the group said 6 on 10 June
    assert (june["tension_report_count"], june["report_nudge"], june["suggested_grade"]) == (3, -1, 3)
    assert june["suggested_level4"] == "medium"
    assert (june["group_current_grade"], june["grade_gap"], june["disagrees"]) == (6, 3, True)
    assert june["disagreement"] == "group rates lower tension than the evidence"
    # April: 4 against 9 in 9 months → raised (5); the group said 5 on 16 April
    april = got[date(2024, 4, 1)]
    assert 0.001 <= april["exceedance_p"] < 0.05 and april["volume_level"] == "raised" and april["suggested_grade"] == 5
    assert (april["group_current_grade"], april["disagrees"]) == (5, False)
    # a quiet month: one incident as usual
    march = got[date(2024, 3, 1)]
    assert (march["incident_count"], march["volume_level"], march["suggested_grade"]) == (1, "normal", 6)
    # under 6 baseline months holding under 10 incidents, and Gwent never had 10 in a month or in the months
    # before (one a month, all here): no wider rate either, so no grade, and never 'normal'
    dec = got[date(2023, 12, 1)]
    assert (dec["baseline_months"], dec["has_own_history"], dec["baseline_source"]) == (5, False, "none")
    assert (dec["expected"], dec["exceedance_p"], dec["volume_level"]) == (None, None, "insufficient_history")
    assert (dec["volume_grade"], dec["report_nudge"], dec["suggested_grade"], dec["suggested_level4"]) == (None,) * 4
    assert dec["evidence_note"].startswith("insufficient history: 5 previous months, 5 incidents, and no enclosing")
    everything = rows(marts, "select * from marts.fct_tension_evidence where baseline_months < 6")
    assert everything and {r["volume_level"] for r in everything} == {"insufficient_history"}


def test_evidence_quiet_reporters_nudge_a_spike_down_and_disagreement_both_ways(marts):
    got = by(rows(marts, "select * from marts.fct_tension_evidence"), "area_level", "area_code", "community_type", "month")
    # LSOA_B: 3 incidents in May 2024 after none, but no report after one a month: 4 + 1 = 5
    may_b = got[("lsoa21", LSOA_B, "overall", date(2024, 5, 1))]
    assert (may_b["volume_level"], may_b["report_nudge"], may_b["suggested_grade"]) == ("substantially_raised", 1, 5)
    # the ward's ethnic rating of 3 while its ethnic incidents are quiet: the group is higher
    apr_ward = got[("ward", WARD, "ethnic", date(2024, 4, 1))]
    assert (apr_ward["suggested_grade"], apr_ward["group_current_grade"]) == (6, 3)
    assert apr_ward["disagreement"] == "group rates higher tension than the evidence"
    # the derived overall row (level4 medium → 4) is the ward's group grade in March and April
    assert got[("ward", WARD, "overall", date(2024, 3, 1))]["group_current_grade"] == 4
    # a split 2011 LSOA across two wards counts at the LA only; the merged Anglesey LSOA at all three levels
    assert not any(k[1] == SPLIT_DIFF for k in got)
    assert ("lsoa21", "W01002008", "overall", date(2024, 5, 1)) in got
    assert ("ward", "W05001494", "overall", date(2024, 5, 1)) in got
    # the May 2023 report lies before the first incident month: not in the grid
    assert min(k[3] for k in got) == date(2023, 7, 1)


# --- evidence without history: a second, small warehouse -----------------------------------------------
# Three months, January to March 2024, so every month has fewer than 6 months behind it.

SPIKE_LSOA = "W01001694"  # Cardiff 036A, ward Adamsdown (5 LSOAs), Cardiff (218), South Wales (820)
ADAMSDOWN_B = "W01001695"  # Cardiff 036B, ward Adamsdown
CATHAYS_A = "W01001718"  # Cardiff 028A, ward Cathays
TORFAEN_A = "W01001482"  # Torfaen 002A, ward Abersychan, Gwent
ANGLESEY_A = "W01000003"  # Isle of Anglesey 001A, ward Twrcelyn, North Wales
SOUTH_WALES, GWENT, NORTH_WALES = "W15000003", "W15000002", "W15000001"
CARDIFF, TORFAEN, ANGLESEY = "W06000015", "W06000020", "W06000001"
ADAMSDOWN, CATHAYS, ABERSYCHAN, TWRCELYN = "W05001270", "W05001274", "W05001361", "W05001504"

SHORT_AREAS = {
    SPIKE_LSOA: ("lsoa21", SPIKE_LSOA, ADAMSDOWN, CARDIFF, SOUTH_WALES),
    ADAMSDOWN_B: ("lsoa21", ADAMSDOWN_B, ADAMSDOWN, CARDIFF, SOUTH_WALES),
    CATHAYS_A: ("lsoa21", CATHAYS_A, CATHAYS, CARDIFF, SOUTH_WALES),
    LSOA_A: ("lsoa21", LSOA_A, WARD, NEWPORT, GWENT),
    LSOA_B: ("lsoa21", LSOA_B, WARD, NEWPORT, GWENT),
    TORFAEN_A: ("lsoa21", TORFAEN_A, ABERSYCHAN, TORFAEN, GWENT),
    ANGLESEY_A: ("lsoa21", ANGLESEY_A, TWRCELYN, ANGLESEY, NORTH_WALES),
}


def _short_incidents() -> list[tuple]:
    """(occurred_on, area_code, incident_type, hate_strands, community_type)"""
    race = ("hate_crime", ["race"], None)
    asb = ("asb", [], None)
    rows = []
    rows += [(date(2024, 1, 2 + k), CATHAYS_A, *race) for k in range(20)]  # Cardiff's ethnic history:
    rows += [(date(2024, 2, 2 + k), CATHAYS_A, *race) for k in range(20)]  # 40 in Cathays,
    rows += [(date(2024, 1, 20), ADAMSDOWN_B, *race), (date(2024, 1, 21), ADAMSDOWN_B, *race),
             (date(2024, 2, 20), ADAMSDOWN_B, *race)]  # 3 in Adamsdown: too few for a ward rate
    rows += [(date(2024, 3, 1 + k), SPIKE_LSOA, *race) for k in range(15)]  # the spike, no own history
    rows += [(date(2024, 1, 3 + k), LSOA_A, *asb) for k in range(6)]  # Newport in the first month:
    rows += [(date(2024, 1, 10 + k), LSOA_B, *asb) for k in range(12)]  # 6 + 12
    rows += [(date(2024, 1, 5), TORFAEN_A, *asb), (date(2024, 1, 6), TORFAEN_A, *asb), (date(2024, 2, 5), TORFAEN_A, *asb)]
    rows += [(date(2024, 1, 8), ANGLESEY_A, *asb), (date(2024, 1, 9), ANGLESEY_A, *asb)]  # alone in North Wales
    return rows


SHORT_REPORTS = [(date(2024, 1, 10), ANGLESEY_A, ["ethnic"]), (date(2024, 1, 12), ANGLESEY_A, ["ethnic"])]
# (area, community, assessment_date, period_start, EEP grade)
SHORT_GROUP = [(SPIKE_LSOA, "ethnic", date(2024, 3, 5), date(2024, 3, 1), 6),
               (ANGLESEY_A, "overall", date(2024, 1, 20), date(2024, 1, 1), 3)]


@pytest.fixture(scope="module")
def short_marts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tension_short")
    warehouse = tmp / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    create_all(con)
    files = [("inc", "incidents", "test-police", "2024-Q1"), ("rep", "tension_reports", "test-council", "2024-Q1"),
             ("ass", "tension_assessments", "test-tmg", "2024-Q1")]
    for file_id, extract_type, partner, period in files:
        con.execute(
            """insert into raw.partner_files (file_id, content_sha256, extract_type, partner, period, period_start,
               period_end, file_name, received_at, row_count, redacted_items, superseded_by, superseded_at)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, null, null)""",
            [file_id, file_id, extract_type, partner, period, date(2024, 1, 1), date(2024, 3, 31),
             f"{partner}_{period}.csv", datetime(2024, 4, 2)],
        )
    for k, (occurred, area, itype, strands, community) in enumerate(_short_incidents(), start=2):
        con.execute(f"insert into raw.partner_incidents ({INCIDENT_COLUMNS}) values ('inc', ?, ?, ?, ?, ?, ?, ?, ?, 'Test Police', ?, 0)",
                    [k, f"T-{k}", occurred, occurred, area, itype, strands, community, f"{itype} T-{k}"])
    for k, (submitted, area, communities) in enumerate(SHORT_REPORTS, start=2):
        con.execute(f"insert into raw.partner_tension_reports ({REPORT_COLUMNS}) values ('rep', ?, ?, 'resident', ?, null, ?, ?, 'a note', false, false, 0)",
                    [k, submitted, area, communities, ["community"]])
    for k, (area, community, adate, pstart, grade) in enumerate(SHORT_GROUP, start=2):
        con.execute(f"insert into raw.partner_tension_assessments ({ASSESSMENT_COLUMNS}) values ('ass', ?, ?, ?, ?, ?, ?, 'eep6', ?, ?, 'rationale', 'Silver chair', 0)",
                    [k, adate, pstart, date(2024, 3, 31), area, community, str(grade), str(grade)])
    con.close()
    dbt_build(warehouse, "+fct_tension_evidence", tmp)
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def test_evidence_without_history_matches_the_rule_worked_out_independently(short_marts):
    got = by(rows(short_marts, "select * from marts.fct_tension_evidence"),
             "area_level", "area_code", "community_type", "month")
    # plus the overall row fct_tension_assessment derives from the spike LSOA's only community row
    group = SHORT_GROUP + [(SPIKE_LSOA, "overall", date(2024, 3, 5), date(2024, 3, 1), 6)]
    expected = evidence_rule(_short_incidents(), SHORT_REPORTS, group, SHORT_AREAS)
    assert_evidence_matches(got, expected)
    # every way of finding a baseline is exercised here: own history only where 10 or more incidents lie behind
    assert {r["baseline_source"] for r in expected.values()} == {
        "own_history", "ward_rate", "la_rate", "force_rate", "la_same_month", "force_same_month", "none"}
    assert all(r["baseline_count"] >= 10 for r in expected.values() if r["baseline_source"] == "own_history")
    assert not any(r["volume_level"] == "normal" and r["expected"] is None for r in got.values())


def test_fifteen_hate_crimes_with_no_history_are_not_normal(short_marts):
    """The issue's case: 15 racist hate crimes in one LSOA in March 2024, none there before (2 months of
    window behind it). Adamsdown had 3 ethnic incidents in January–February (under 10: no ward rate);
    Cardiff had 43 at its LSOAs (40 in Cathays + 3): la_rate."""
    r = one_row(short_marts, "select * from marts.fct_tension_evidence where area_level = 'lsoa21' and area_code = ? "
                             "and community_type = 'ethnic' and month = ?", [SPIKE_LSOA, date(2024, 3, 1)])
    assert (r["incident_count"], r["baseline_months"], r["baseline_count"]) == (15, 2, 0)
    assert (r["has_own_history"], r["baseline_source"]) == (False, "la_rate")
    assert (r["fallback_area_level"], r["fallback_area_code"], r["fallback_count"], r["fallback_days"]) == ("la", CARDIFF, 43, 31 + 29)
    assert (r["fallback_lsoas"], r["area_lsoas"]) == (218, 1)  # 2021 LSOAs in Cardiff (ONS list); one LSOA
    lam = 43 / ((31 + 29) * 218) * 31 * 1  # Cardiff's ethnic rate per LSOA-day × 31 days × 1 LSOA
    assert r["expected"] == pytest.approx(lam, rel=1e-12)  # 0.1019...
    p = float(poisson.sf(14, lam))  # P(X >= 15 | λ) ≈ 9.2e-28
    assert 0 < p < 1e-26
    assert r["exceedance_p"] == pytest.approx(p, rel=1e-6) and r["exceedance_p"] > 0  # 1 − Σ gave 0.0
    assert (r["volume_level"], r["report_nudge"], r["suggested_grade"], r["suggested_level4"]) == (
        "substantially_raised", 0, 4, "medium")
    # the group rated it 6 (normal) on 5 March: now flagged, where the old rule agreed with it
    assert (r["group_current_grade"], r["grade_gap"], r["disagrees"]) == (6, 2, True)
    assert r["evidence_note"] == (
        "own history too thin (2 previous months, 0 incidents): expected from the rate in the local authority "
        f"Cardiff ({CARDIFF}) over the same months, 43 incidents across 218 LSOAs")
    # the ward sees the same spike against the LA's rate, scaled to its 5 LSOAs
    ward = one_row(short_marts, "select * from marts.fct_tension_evidence where area_level = 'ward' and area_code = ? "
                                "and community_type = 'ethnic' and month = ?", [ADAMSDOWN, date(2024, 3, 1)])
    assert (ward["baseline_source"], ward["fallback_count"], ward["fallback_lsoas"], ward["area_lsoas"]) == ("la_rate", 43, 218, 5)
    assert ward["exceedance_p"] == pytest.approx(float(poisson.sf(14, 43 / (60 * 218) * 31 * 5)), rel=1e-6)
    # Cardiff itself had 43 ethnic incidents in two months: its own history, though short, is a rate (10 or
    # more), and 15 in March is below its usual 21 a month: normal, not measured against the force's average
    la = one_row(short_marts, "select * from marts.fct_tension_evidence where area_level = 'la' and area_code = ? "
                              "and community_type = 'ethnic' and month = ?", [CARDIFF, date(2024, 3, 1)])
    assert (la["baseline_months"], la["baseline_count"], la["has_own_history"], la["baseline_source"]) == (2, 43, True, "own_history")
    assert la["expected"] == pytest.approx((43 + 0.5) / 60 * 31, rel=1e-12)
    assert la["exceedance_p"] == pytest.approx(float(poisson.sf(14, (43 + 0.5) / 60 * 31)), rel=1e-9)
    assert (la["volume_level"], la["suggested_grade"]) == ("normal", 6)
    assert la["evidence_note"] == "own history: 2 previous months, 43 incidents"


def test_a_busy_area_with_a_short_history_is_measured_against_itself(short_marts):
    """Cathays 028A: 20 racist hate crimes in January and 20 in February. Against its ward's rate (20 over
    Cathays's 10 LSOAs) February would look like a spike; its own January is 20 incidents, a rate already."""
    r = one_row(short_marts, "select * from marts.fct_tension_evidence where area_level = 'lsoa21' and area_code = ? "
                             "and community_type = 'ethnic' and month = '2024-02-01'", [CATHAYS_A])
    assert (r["baseline_months"], r["baseline_count"], r["has_own_history"], r["baseline_source"]) == (1, 20, True, "own_history")
    lam = (20 + 0.5) / 31 * 29
    assert r["expected"] == pytest.approx(lam, rel=1e-12)
    assert r["exceedance_p"] == pytest.approx(float(poisson.sf(19, lam)), rel=1e-9)
    assert (r["volume_level"], r["suggested_grade"]) == ("normal", 6)


def test_first_month_compares_with_the_rest_of_the_la_or_force(short_marts):
    got = by(rows(short_marts, "select * from marts.fct_tension_evidence where community_type = 'overall' "
                               "and month = '2024-01-01' and area_level = 'lsoa21'"), "area_code")
    # LSOA_A: 6 in January, the window's first month; the rest of Newport had 12 (LSOA_B), across 99 LSOAs
    a = got[LSOA_A]
    assert (a["baseline_months"], a["baseline_source"], a["fallback_area_code"], a["fallback_count"]) == (0, "la_same_month", NEWPORT, 12)
    assert (a["fallback_days"], a["fallback_lsoas"]) == (31, 99)
    lam = 12 / (31 * 99) * 31
    assert a["expected"] == pytest.approx(lam, rel=1e-12)
    assert a["exceedance_p"] == pytest.approx(float(poisson.sf(5, lam)), rel=1e-6)
    assert (a["volume_level"], a["suggested_grade"]) == ("substantially_raised", 4)
    # Torfaen: 2 in January, the rest of Torfaen none; the rest of Gwent 18 across 373 LSOAs
    t = got[TORFAEN_A]
    assert (t["baseline_source"], t["fallback_area_code"], t["fallback_count"], t["fallback_lsoas"]) == (
        "force_same_month", GWENT, 18, 373)
    assert t["exceedance_p"] == pytest.approx(float(poisson.sf(1, 18 / (31 * 373) * 31)), rel=1e-6)
    # and in February, with January behind it: its own 2, Abersychan 2, Torfaen 2, Gwent 20 → the force's rate
    feb = one_row(short_marts, "select * from marts.fct_tension_evidence where area_level = 'lsoa21' and area_code = ? "
                               "and community_type = 'overall' and month = '2024-02-01'", [TORFAEN_A])
    assert (feb["baseline_source"], feb["fallback_count"], feb["fallback_days"], feb["fallback_lsoas"]) == ("force_rate", 20, 31, 374)
    assert feb["expected"] == pytest.approx(20 / (31 * 374) * 29, rel=1e-12)


def test_nothing_to_compare_with_is_insufficient_history_not_normal(short_marts):
    """Anglesey: 2 incidents in January, alone in North Wales all quarter; two tension reports."""
    got = by(rows(short_marts, "select * from marts.fct_tension_evidence where area_code = ? and community_type = 'overall'",
                  [ANGLESEY_A]), "month")
    assert set(got) == {date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)}
    for r in got.values():
        assert (r["has_own_history"], r["baseline_source"], r["volume_level"]) == (False, "none", "insufficient_history")
        assert (r["expected"], r["ratio"], r["exceedance_p"], r["volume_grade"], r["suggested_grade"]) == (None,) * 5
        assert r["fallback_area_level"] is None and r["fallback_count"] is None
    jan = got[date(2024, 1, 1)]
    assert (jan["incident_count"], jan["tension_report_count"], jan["report_nudge"]) == (2, 2, None)  # no grade to nudge
    # the group rated it 3: nothing to set against it, so no gap and no flag
    assert (jan["group_current_grade"], jan["grade_gap"], jan["disagrees"], jan["disagreement"]) == (3, None, False, None)
    assert jan["evidence_note"] == (
        "insufficient history: 0 previous months, 0 incidents, and no enclosing ward, local authority or police "
        "force with at least 10 incidents to take a rate from, so no suggested grade")


def one_row(con, query: str, params: list) -> dict:
    [row] = rows(con, query, params)
    return row


# --- the Poisson survival function (macro poisson_upper_tail) ------------------------------------------


def test_poisson_upper_tail_is_the_survival_function_down_to_tiny_tails():
    """The macro rendered alone and run on DuckDB (with the exception engine's functions registered, as dbt's
    plugin does) against scipy's poisson.sf(n − 1, λ) = P(X ≥ n)."""
    source = (REPO / "dbt_project" / "macros" / "tension.sql").read_text(encoding="utf-8")
    macro = jinja2.Environment().from_string(source).module.poisson_upper_tail
    cases = [(60, 0.5), (140, 0.5), (15, 43 / (60 * 218) * 31), (6, 12 / 99), (1, 0.5), (3, 3.0), (2, 3.5),
             (5, 10.0), (12, 4.2), (100, 80.0), (200, 150.0), (1000, 1000.0), (1001, 1000.0), (700, 1000.0),
             (30, 2.0), (1, 1e-4), (0, 2.0)]
    con = duckdb.connect()
    register(con)
    values = ", ".join(f"({n}, {lam!r}::double)" for n, lam in cases)
    got = con.execute(f"select n, lam, {macro('n', 'lam')} as p from (values {values}) as t(n, lam) order by n, lam").fetchall()
    assert len(got) == len(cases)
    for n, lam, p in got:
        want = float(poisson.sf(n - 1, lam))
        assert want > 0 and p > 0, (n, lam)
        assert p == pytest.approx(want, rel=1e-6), (n, lam)
    tiny = {(n, lam): p for n, lam, p in got}
    assert tiny[(60, 0.5)] == pytest.approx(6.3745884571e-101, rel=1e-9)  # poisson.sf(59, 0.5)
    assert tiny[(140, 0.5)] < 1e-280
    assert tiny[(0, 2.0)] == 1.0
    nulls = con.execute(f"select {macro('n', 'lam')} from (values (3, null::double), (3, 0.0)) as t(n, lam)").fetchall()
    assert nulls == [(None,), (0.0,)]
