"""The tension marts (guide, Part 3), built by the real dbt from hand-made partner rows.

One module-scoped fixture writes the raw partner tables into a fresh DuckDB file, runs
``dbt build --select +tag:tension`` once (as of 2024-06-30), and the tests read the marts. Every expected
value is worked out here from the rows below (geography facts from the ONS lookups, Poisson tails from
scipy), never read back from a model.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, datetime, timedelta

import duckdb
import pytest
from scipy.stats import poisson

from orchestration.lib.partner_extracts.schema import create_all
from tests.dbt_build import dbt_build

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
            "insert into raw.partner_incidents values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            [file_id, next_row(file_id), ref, occurred, occurred, area, itype, strands, community, org, f"{itype} {ref}"],
        )
    for file_id, submitted, source, area, communities, categories, info, has_sub, consent in _reports():
        con.execute(
            "insert into raw.partner_tension_reports values (?, ?, ?, ?, ?, null, ?, ?, ?, ?, ?, ?)",
            [file_id, next_row(file_id), submitted, source, area, communities, categories, info, has_sub, consent,
             1 if "[NAME]" in info else 0],
        )
    for file_id, adate, pstart, pend, area, community, scale, cur, pot in ASSESSMENTS:
        con.execute(
            "insert into raw.partner_tension_assessments values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'rationale', 'Silver chair', 0)",
            [file_id, next_row(file_id), adate, pstart, pend, area, community, scale, cur, pot],
        )
    for file_id, cia_id, trigger, triggered, area, communities, status, completed, risk in CIAS:
        con.execute(
            "insert into raw.partner_community_impact_assessments values (?, ?, ?, ?, ?, ?, ?, 'subject', ?, ?, ?, 0)",
            [file_id, next_row(file_id), cia_id, trigger, triggered, area, communities, status, completed, risk],
        )
    for file_id, risk_id, lk, im, rl, ri, plan, review, status in RISKS:
        con.execute(
            "insert into raw.partner_risk_register values (?, ?, ?, ?, ?, 'a risk', 'physical', ?, ?, ?, ?, ?, 'Silver chair', ?, ?, 0)",
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


def _places(code: str) -> list[tuple[str, str]]:
    _, lsoa21, ward, la, _ = AREAS[code]
    return [(lvl, c) for lvl, c in (("lsoa21", lsoa21), ("ward", ward), ("la", la)) if c]


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
    incidents = [r for _, r in incidents.values()]
    first = min(_month(r[2]) for r in incidents)
    last = max(_month(r[2]) for r in incidents)
    months = [first]
    while months[-1] < last:
        months.append(_add_months(months[-1], 1))

    counts = defaultdict(lambda: [0, 0, 0])  # (level, area, community, month) -> [incidents, hate, reports]
    for _, _, occurred, area, itype, strands, community, _ in incidents:
        derived = community or next((STRAND_COMMUNITY[s] for s in strands if s in STRAND_COMMUNITY), None)
        for level, code in _places(area):
            for c in (["overall"] + ([derived] if derived else [])):
                counts[(level, code, c, _month(occurred))][0] += 1
                counts[(level, code, c, _month(occurred))][1] += itype in ("hate_crime", "hate_incident")
    for file_id, submitted, _, area, communities, *_ in _reports():
        if file_id in SUPERSEDED or not first <= _month(submitted) <= last:
            continue
        for level, code in _places(area):
            for c in ["overall"] + sorted(set(communities)):
                counts[(level, code, c, _month(submitted))][2] += 1

    out = {}
    for series in {k[:3] for k in counts}:
        for i, m in enumerate(months):
            n, hate, reps = counts.get((*series, m), [0, 0, 0])
            base = months[max(0, i - 12):i]
            b_count = sum(counts.get((*series, b), [0])[0] for b in base)
            b_days = sum(_days(b) for b in base)
            b_reports = sum(counts.get((*series, b), [0, 0, 0])[2] for b in base)
            b_mean = b_reports / len(base) if base else None
            lam = (b_count + 0.5) / b_days * _days(m) if len(base) >= 6 else None
            p = None if lam is None else (1.0 if n == 0 else float(poisson.sf(n - 1, lam)))
            level = ("normal" if p is None or p >= 0.05 else
                     "substantially_raised" if p < 0.001 and n >= 3 else "raised")
            grade = {"normal": 6, "raised": 5, "substantially_raised": 4}[level]
            if reps >= 2 and reps > (b_mean or 0):
                nudge = -1
            elif reps == 0 and b_mean is not None and b_mean >= 1 and level != "normal":
                nudge = 1
            else:
                nudge = 0
            suggested = min(6, max(3, grade + nudge))
            month_end = date(m.year, m.month, _days(m))
            group = [g for g in GROUP if g[0] == series[1] and g[1] == series[2] and g[2] <= month_end and g[3] <= month_end]
            group_grade = max(group, key=lambda g: g[2])[4] if group else None
            gap = None if group_grade is None else group_grade - suggested
            out[(*series, m)] = dict(
                incident_count=n, hate_incident_count=hate, tension_report_count=reps, baseline_months=len(base),
                baseline_count=b_count, baseline_days=b_days, expected=lam, exceedance_p=p, volume_level=level,
                report_nudge=nudge, suggested_grade=suggested, group_current_grade=group_grade, grade_gap=gap,
                disagreement=None if gap is None or abs(gap) < 2 else
                ("group rates lower tension than the evidence" if gap > 0 else "group rates higher tension than the evidence"),
            )
    return out


def test_evidence_matches_an_independent_poisson_calculation(marts):
    got = by(rows(marts, "select * from marts.fct_tension_evidence"), "area_level", "area_code", "community_type", "month")
    expected = expected_evidence()
    assert set(got) == set(expected)
    for key, exp in expected.items():
        r = got[key]
        for col, value in exp.items():
            if col in ("expected", "exceedance_p") and value is not None:
                assert r[col] == pytest.approx(value, rel=1e-9, abs=1e-12), (key, col)
            else:
                assert r[col] == value, (key, col)


def test_evidence_spike_month_against_quiet_months(marts):
    got = by(rows(marts, "select * from marts.fct_tension_evidence where area_code = ? and community_type = 'overall'", [LSOA_A]),
             "month")
    assert len(got) == 12  # July 2023 to June 2024, zeros filled
    # June 2024: 8 incidents against 14 in the 11 previous months (one a month, four in April)
    june = got[date(2024, 6, 1)]
    days = sum(_days(_add_months(date(2023, 7, 1), k)) for k in range(11))
    lam = (14 + 0.5) / days * 30
    assert (june["baseline_months"], june["baseline_count"], june["baseline_days"]) == (11, 14, days)
    assert june["expected"] == pytest.approx(lam)
    assert june["exceedance_p"] == pytest.approx(poisson.sf(7, lam)) and poisson.sf(7, lam) < 0.001
    assert (june["volume_level"], june["volume_grade"]) == ("substantially_raised", 4)
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
    # under 6 baseline months: no expected, normal
    assert got[date(2023, 12, 1)]["expected"] is None and got[date(2023, 12, 1)]["volume_level"] == "normal"


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
