"""The shared-tier mart (guide, Part 3: an edited version for Bronze and partner agencies), built by the real
dbt from hand-made partner incident rows.

One module-scoped fixture writes raw.partner_files and raw.partner_incidents into a fresh DuckDB file, runs
``dbt build --select +shared_incident_summary`` once (as of 2024-06-30, default disclosure threshold 5) and
the tests read marts.shared_incident_summary. The expected table is written out by hand below from the
incident rows, never read back from a model.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import duckdb
import pytest

from orchestration.lib.partner_extracts.schema import create_all
from tests.dbt_build import dbt_build

THRESHOLD = 5

# --- geography (ONS facts) ------------------------------------------------------------------------------
NEWPORT, CARDIFF, ANGLESEY = "W06000022", "W06000015", "W06000001"
LA_NAMES = {NEWPORT: "Newport", CARDIFF: "Cardiff", ANGLESEY: "Isle of Anglesey"}
NEWPORT_LSOA = "W01001600"  # Newport 012A (2021 LSOA)
NEWPORT_WARD = "W05001627"  # Allt-yr-yn (2025 ward, Newport)
CARDIFF_LSOA = "W01001694"  # Cardiff 036A (2021 LSOA)
ANGLESEY_LSOA11 = "W01000001"  # Isle of Anglesey 007A (2011 LSOA merged into W01002008)

# (file_id, partner, period, period_start, period_end, received_at, superseded_by)
FILES = [
    ("inc-gp-23q4", "gwent-police", "2023-Q4", date(2023, 10, 1), date(2023, 12, 31), datetime(2024, 1, 5), None),
    ("inc-gp-24h1", "gwent-police", "2024-H1", date(2024, 1, 1), date(2024, 6, 30), datetime(2024, 7, 5), None),
    ("inc-swp-24-old", "south-wales-police", "2024", date(2024, 1, 1), date(2024, 12, 31), datetime(2024, 7, 1), "inc-swp-24"),
    ("inc-swp-24", "south-wales-police", "2024", date(2024, 1, 1), date(2024, 12, 31), datetime(2024, 7, 4), None),
    ("inc-nwp-24q2", "north-wales-police", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 3), None),
]
SUPERSEDED = {f[0] for f in FILES if f[6] is not None}

# (file_id, area_code, occurred_on, incident_type, how many)
BATCHES = [
    # Newport 2023-Q4: asb group exactly at the threshold (2 + 1 + 1 + 1 = 5), total 5: both shown
    ("inc-gp-23q4", NEWPORT_LSOA, date(2023, 10, 3), "asb", 2),
    ("inc-gp-23q4", NEWPORT_WARD, date(2023, 11, 8), "public_order", 1),
    ("inc-gp-23q4", NEWPORT, date(2023, 12, 1), "noise_complaint", 1),
    ("inc-gp-23q4", NEWPORT_LSOA, date(2023, 12, 31), "neighbour_dispute", 1),
    # Newport 2024-Q1: hate 3 (primary) alone under the threshold, asb 6 and damage 6 tie, total 15: the tie
    # goes to asb (alphabetically first), which is suppressed as secondary
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 1, 1), "hate_crime", 2),
    ("inc-gp-24h1", NEWPORT_WARD, date(2024, 2, 14), "hate_incident", 1),
    ("inc-gp-24h1", NEWPORT_WARD, date(2024, 3, 2), "asb", 6),
    ("inc-gp-24h1", NEWPORT, date(2024, 1, 20), "criminal_damage", 3),
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 2, 2), "offensive_graffiti", 2),
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 3, 31), "deliberate_fire", 1),
    # Newport 2024-Q2: hate exactly 5 (shown), asb 2 and damage 1 (two primaries: nothing more), total 8
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 4, 1), "hate_crime", 5),
    ("inc-gp-24h1", NEWPORT_WARD, date(2024, 5, 5), "asb", 2),
    ("inc-gp-24h1", NEWPORT, date(2024, 6, 30), "criminal_damage", 1),
    # Cardiff 2024-Q1: total 3, under the threshold: the total and every group row are suppressed
    ("inc-swp-24", CARDIFF_LSOA, date(2024, 2, 10), "hate_incident", 1),
    ("inc-swp-24", CARDIFF, date(2024, 3, 15), "public_order", 2),
    # the withdrawn file's rows are never counted (it would make Cardiff 2024-Q2 non-zero)
    ("inc-swp-24-old", CARDIFF_LSOA, date(2024, 5, 10), "asb", 9),
    # Anglesey 2024-Q2: other 4 (primary) alone; the smallest other non-zero group (damage 7) is secondary
    ("inc-nwp-24q2", ANGLESEY_LSOA11, date(2024, 4, 2), "other", 4),
    ("inc-nwp-24q2", ANGLESEY, date(2024, 4, 9), "asb", 12),
    ("inc-nwp-24q2", ANGLESEY_LSOA11, date(2024, 5, 9), "criminal_damage", 7),
    ("inc-nwp-24q2", ANGLESEY, date(2024, 6, 9), "hate_crime", 9),
]

P, S = "primary", "secondary"
# (la_code, quarter) -> {incident_group: shown count, or P / S when suppressed}. Worked out by hand from
# BATCHES: the window is 2023-Q4 to 2024-Q2 for every LA with an incident, zeros filled.
EXPECTED = {
    (NEWPORT, "2023-Q4"): {"all": 5, "asb": 5, "damage": 0, "hate": 0, "other": 0},
    (NEWPORT, "2024-Q1"): {"all": 15, "asb": S, "damage": 6, "hate": P, "other": 0},
    (NEWPORT, "2024-Q2"): {"all": 8, "asb": P, "damage": P, "hate": 5, "other": 0},
    (CARDIFF, "2023-Q4"): {"all": 0, "asb": 0, "damage": 0, "hate": 0, "other": 0},
    (CARDIFF, "2024-Q1"): {"all": P, "asb": P, "damage": S, "hate": P, "other": S},
    (CARDIFF, "2024-Q2"): {"all": 0, "asb": 0, "damage": 0, "hate": 0, "other": 0},
    (ANGLESEY, "2023-Q4"): {"all": 0, "asb": 0, "damage": 0, "hate": 0, "other": 0},
    (ANGLESEY, "2024-Q1"): {"all": 0, "asb": 0, "damage": 0, "hate": 0, "other": 0},
    (ANGLESEY, "2024-Q2"): {"all": 32, "asb": 12, "damage": S, "hate": 9, "other": P},
}
QUARTER_STARTS = {"2023-Q4": date(2023, 10, 1), "2024-Q1": date(2024, 1, 1), "2024-Q2": date(2024, 4, 1)}
LABELS = {
    "hate": "Hate crimes and hate incidents",
    "asb": "Anti-social behaviour, public order, noise and neighbour disputes",
    "damage": "Criminal damage, offensive graffiti and deliberate fires",
    "other": "Other incidents",
    "all": "All incidents",
}
COLUMNS = [
    ("la_code", "VARCHAR"),
    ("la_name", "VARCHAR"),
    ("quarter", "VARCHAR"),
    ("quarter_start", "DATE"),
    ("incident_group", "VARCHAR"),
    ("incident_group_label", "VARCHAR"),
    ("incident_count", "INTEGER"),
    ("is_suppressed", "BOOLEAN"),
    ("suppression", "VARCHAR"),
    ("disclosure_threshold", "INTEGER"),
]


def load_partner_rows(con) -> None:
    create_all(con)
    for file_id, partner, period, start, end, received, superseded_by in FILES:
        con.execute(
            """insert into raw.partner_files (file_id, content_sha256, extract_type, partner, period, period_start,
               period_end, file_name, received_at, row_count, redacted_items, superseded_by, superseded_at)
               values (?, ?, 'incidents', ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)""",
            [file_id, file_id, partner, period, start, end, f"{partner}_{period}.csv", received, superseded_by,
             received + timedelta(days=3) if superseded_by else None],
        )
    row_numbers: dict[str, int] = defaultdict(lambda: 1)
    for file_id, area, occurred, itype, n in BATCHES:
        for _ in range(n):
            row_numbers[file_id] += 1
            ref = f"{file_id}-{row_numbers[file_id]}"
            strands = ["race"] if itype in ("hate_crime", "hate_incident") else []
            con.execute(
                "insert into raw.partner_incidents values (?, ?, ?, ?, ?, ?, ?, ?, null, ?, ?, 0)",
                [file_id, row_numbers[file_id], ref, occurred, occurred, area, itype, strands, "Some Force",
                 f"free text about {ref}"],
            )


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shared")
    warehouse = tmp / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    load_partner_rows(con)
    con.close()
    output = dbt_build(warehouse, "+shared_incident_summary", tmp)
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con, output
    con.close()


def table(con) -> list[dict]:
    cur = con.execute("select * from marts.shared_incident_summary")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def expected_rows() -> list[dict]:
    out = []
    for (la, quarter), cells in EXPECTED.items():
        for group, value in cells.items():
            suppression = value if isinstance(value, str) else None
            out.append({
                "la_code": la,
                "la_name": LA_NAMES[la],
                "quarter": quarter,
                "quarter_start": QUARTER_STARTS[quarter],
                "incident_group": group,
                "incident_group_label": LABELS[group],
                "incident_count": None if suppression else value,
                "is_suppressed": suppression is not None,
                "suppression": suppression,
                "disclosure_threshold": THRESHOLD,
            })
    return out


def key(r: dict) -> tuple:
    return (r["la_code"], r["quarter"], r["incident_group"])


def test_the_shared_tests_ran(shared):
    _, stdout = shared
    for name in ("assert_no_lone_suppressed_group_cell", "assert_suppressed_total_hides_every_group",
                 "assert_shared_counts_match_incidents", "unique_combination_of_columns_shared_incident_summary"):
        assert name in stdout


def test_the_table_is_exactly_the_hand_worked_one(shared):
    con, _ = shared
    got = sorted(table(con), key=key)
    want = sorted(expected_rows(), key=key)
    assert len(got) == len(want) == 3 * 3 * 5
    for g, w in zip(got, want, strict=True):
        assert g == w, (key(w), g)


def test_the_hand_worked_counts_match_the_incident_rows():
    """The unsuppressed counts behind EXPECTED, recounted from BATCHES (current files only)."""
    groups = {"hate_crime": "hate", "hate_incident": "hate", "asb": "asb", "public_order": "asb",
              "noise_complaint": "asb", "neighbour_dispute": "asb", "criminal_damage": "damage",
              "offensive_graffiti": "damage", "deliberate_fire": "damage", "other": "other"}
    la_of = {NEWPORT_LSOA: NEWPORT, NEWPORT_WARD: NEWPORT, NEWPORT: NEWPORT, CARDIFF_LSOA: CARDIFF,
             CARDIFF: CARDIFF, ANGLESEY_LSOA11: ANGLESEY, ANGLESEY: ANGLESEY}
    counts: dict[tuple, int] = defaultdict(int)
    for file_id, area, occurred, itype, n in BATCHES:
        if file_id in SUPERSEDED:
            continue
        q = f"{occurred.year}-Q{(occurred.month - 1) // 3 + 1}"
        counts[(la_of[area], q, groups[itype])] += n
        counts[(la_of[area], q, "all")] += n
    for (la, q), cells in EXPECTED.items():
        for group, value in cells.items():
            true = counts[(la, q, group)]
            if value == P:
                assert 1 <= true < THRESHOLD
            elif value == S:
                assert not 1 <= true < THRESHOLD
            else:
                assert value == true


def test_the_columns_are_counts_and_codes_only(shared):
    con, _ = shared
    got = con.execute(
        """select column_name, data_type from information_schema.columns
           where table_schema = 'marts' and table_name = 'shared_incident_summary' order by ordinal_position"""
    ).fetchall()
    assert got == COLUMNS
    assert {c for c, t in got if t == "VARCHAR"} == {
        "la_code", "la_name", "quarter", "incident_group", "incident_group_label", "suppression"}


def test_no_free_text_or_detail_reaches_the_shared_tier(shared):
    con, _ = shared
    text = " ".join(str(v) for r in table(con) for v in r.values())
    assert "free text" not in text
    for code in (NEWPORT_LSOA, NEWPORT_WARD, CARDIFF_LSOA, ANGLESEY_LSOA11, "W01002008"):
        assert code not in text


def test_suppression_rules_hold_row_by_row(shared):
    con, _ = shared
    rows = table(con)
    by_cell = defaultdict(dict)
    for r in rows:
        by_cell[(r["la_code"], r["quarter"])][r["incident_group"]] = r
        if r["incident_count"] is not None:
            assert r["incident_count"] == 0 or r["incident_count"] >= THRESHOLD
    for cells in by_cell.values():
        groups = [r for g, r in cells.items() if g != "all"]
        hidden = [r for r in groups if r["is_suppressed"]]
        if not cells["all"]["is_suppressed"]:
            assert len(hidden) != 1
        else:
            assert len(hidden) == 4
