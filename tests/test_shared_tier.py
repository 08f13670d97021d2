"""The shared-tier mart (guide, Part 3: an edited version for Bronze and partner agencies), built by the real
dbt from hand-made partner incident rows.

One module-scoped fixture writes raw.partner_files and raw.partner_incidents into a fresh DuckDB file, runs
``dbt build --select +shared_incident_summary`` once (as of 2024-06-30, default disclosure threshold 5) and
the tests read marts.shared_incident_summary and the decision behind it (intermediate.int_shared__incident_
suppression, not shared). The expected table is written out by hand below from the incident rows, never read
back from a model.

A second module-scoped fixture builds every table of four group counts from 0 to 12 as its own local
authority × quarter line and checks, by brute force, that a reader who knows the rule cannot work out any
hidden cell (thresholds 5, 3 and 2).
"""

from __future__ import annotations

import itertools
import shutil
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import duckdb
import pytest

from orchestration.lib.partner_extracts.schema import create_all
from orchestration.lib.seeds import seed_column
from tests.dbt_build import dbt_build

THRESHOLD = 5

# --- geography (ONS facts) ------------------------------------------------------------------------------
NEWPORT, CARDIFF, ANGLESEY, TORFAEN = "W06000022", "W06000015", "W06000001", "W06000020"
LA_NAMES = {NEWPORT: "Newport", CARDIFF: "Cardiff", ANGLESEY: "Isle of Anglesey", TORFAEN: "Torfaen"}
NEWPORT_LSOA = "W01001600"  # Newport 012A (2021 LSOA)
NEWPORT_WARD = "W05001627"  # Allt-yr-yn (2025 ward, Newport)
CARDIFF_LSOA = "W01001694"  # Cardiff 036A (2021 LSOA)
ANGLESEY_LSOA11 = "W01000001"  # Isle of Anglesey 007A (2011 LSOA merged into W01002008)

# (file_id, partner, period, period_start, period_end, received_at, superseded_by)
FILES = [
    ("inc-gp-23q4", "gwent-police", "2023-Q4", date(2023, 10, 1), date(2023, 12, 31), datetime(2024, 1, 5), None),
    ("inc-gp-24h1", "gwent-police", "2024-H1", date(2024, 1, 1), date(2024, 6, 30), datetime(2024, 7, 5), None),
    ("inc-swp-23", "south-wales-police", "2023", date(2023, 1, 1), date(2023, 12, 31), datetime(2024, 1, 4), None),
    ("inc-swp-24-old", "south-wales-police", "2024", date(2024, 1, 1), date(2024, 12, 31), datetime(2024, 7, 1), "inc-swp-24"),
    ("inc-swp-24", "south-wales-police", "2024", date(2024, 1, 1), date(2024, 12, 31), datetime(2024, 7, 4), None),
    ("inc-nwp-23q4", "north-wales-police", "2023-Q4", date(2023, 10, 1), date(2023, 12, 31), datetime(2024, 1, 3), None),
    ("inc-nwp-24q1", "north-wales-police", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31), datetime(2024, 4, 3), None),
    ("inc-nwp-24q2", "north-wales-police", "2024-Q2", date(2024, 4, 1), date(2024, 6, 30), datetime(2024, 7, 3), None),
]
SUPERSEDED = {f[0] for f in FILES if f[6] is not None}

# (file_id, area_code, occurred_on, incident_type, how many). Threshold 5 throughout: counts 1-4 are primary.
BATCHES = [
    # Newport 2023-Q4: asb group exactly at the threshold (2 + 1 + 1 + 1 = 5), total 5: both shown
    ("inc-gp-23q4", NEWPORT_LSOA, date(2023, 10, 3), "asb", 2),
    ("inc-gp-23q4", NEWPORT_WARD, date(2023, 11, 8), "public_order", 1),
    ("inc-gp-23q4", NEWPORT, date(2023, 12, 1), "noise_complaint", 1),
    ("inc-gp-23q4", NEWPORT_LSOA, date(2023, 12, 31), "neighbour_dispute", 1),
    # Newport 2024-Q1: hate 3 (primary) alone under the threshold, asb 6 and damage 6 tie, total 15: one primary
    # is never enough, so the smallest group at or above the threshold is hidden too - and with a tie, every
    # group holding it (hiding asb only would tell a reader that asb <= damage = 6, and a name-based tie-break
    # is exactly what a rule-aware reader exploits)
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 1, 1), "hate_crime", 2),
    ("inc-gp-24h1", NEWPORT_WARD, date(2024, 2, 14), "hate_incident", 1),
    ("inc-gp-24h1", NEWPORT_WARD, date(2024, 3, 2), "asb", 6),
    ("inc-gp-24h1", NEWPORT, date(2024, 1, 20), "criminal_damage", 3),
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 2, 2), "offensive_graffiti", 2),
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 3, 31), "deliberate_fire", 1),
    # Newport 2024-Q2, the case of the issue: hate 15, asb 1, damage 1, other 0, total 17. The old rule hid
    # asb and damage only (two primaries): 17 - 15 - 0 = 2 over two cells of at least 1 each gave both away.
    # The two primaries add up to 2 < 5 (and are all 1), so hate is hidden as well: hidden remainder 17.
    ("inc-gp-24h1", NEWPORT_LSOA, date(2024, 4, 1), "hate_crime", 10),
    ("inc-gp-24h1", NEWPORT_WARD, date(2024, 5, 5), "hate_incident", 5),
    ("inc-gp-24h1", NEWPORT_WARD, date(2024, 5, 5), "asb", 1),
    ("inc-gp-24h1", NEWPORT, date(2024, 6, 30), "criminal_damage", 1),
    # Torfaen 2024-Q2: hate 13, asb 2, damage 2, total 17 - published exactly as Newport 2024-Q2 above
    ("inc-gp-24h1", TORFAEN, date(2024, 4, 20), "hate_crime", 13),
    ("inc-gp-24h1", TORFAEN, date(2024, 5, 20), "neighbour_dispute", 2),
    ("inc-gp-24h1", TORFAEN, date(2024, 6, 20), "deliberate_fire", 2),
    # Cardiff 2023-Q4: hate 4 and asb 4 (primaries all equal to threshold - 1, which a reader could pin
    # down: two hidden cells of 1-4 adding up to 8), damage 5: damage is hidden too, total 13 shown
    ("inc-swp-23", CARDIFF_LSOA, date(2023, 10, 10), "hate_crime", 4),
    ("inc-swp-23", CARDIFF, date(2023, 11, 10), "asb", 4),
    ("inc-swp-23", CARDIFF, date(2023, 12, 10), "criminal_damage", 5),
    # Cardiff 2024-Q1: total 3, under the threshold: the total and every group row are suppressed
    ("inc-swp-24", CARDIFF_LSOA, date(2024, 2, 10), "hate_incident", 1),
    ("inc-swp-24", CARDIFF, date(2024, 3, 15), "public_order", 2),
    # Cardiff 2024-Q2: hate 4 and other 4, total 8: the primaries cannot protect each other and no group at or
    # above the threshold is left to hide, so the whole line is hidden, total included
    ("inc-swp-24", CARDIFF_LSOA, date(2024, 4, 10), "hate_crime", 4),
    ("inc-swp-24", CARDIFF, date(2024, 5, 15), "other", 4),
    # the withdrawn file's rows are never counted (asb 9 would make Cardiff 2024-Q2 a line with total 17)
    ("inc-swp-24-old", CARDIFF_LSOA, date(2024, 5, 10), "asb", 9),
    # Anglesey 2023-Q4: asb 3 and other 3 (equal, but 2 + 4 would publish the same line), hate 6, total 12:
    # the two primaries alone are enough (remainder 6 >= 5)
    ("inc-nwp-23q4", ANGLESEY, date(2023, 10, 5), "noise_complaint", 3),
    ("inc-nwp-23q4", ANGLESEY_LSOA11, date(2023, 11, 5), "other", 3),
    ("inc-nwp-23q4", ANGLESEY, date(2023, 12, 5), "hate_incident", 6),
    # Anglesey 2024-Q1: hate 2 and asb 3 (remainder 5, the threshold: enough), damage 9, total 14
    ("inc-nwp-24q1", ANGLESEY, date(2024, 1, 5), "hate_crime", 2),
    ("inc-nwp-24q1", ANGLESEY, date(2024, 2, 5), "asb", 3),
    ("inc-nwp-24q1", ANGLESEY_LSOA11, date(2024, 3, 5), "offensive_graffiti", 9),
    # Anglesey 2024-Q2: other 4 (primary) alone; the smallest other non-zero group (damage 7) is secondary
    ("inc-nwp-24q2", ANGLESEY_LSOA11, date(2024, 4, 2), "other", 4),
    ("inc-nwp-24q2", ANGLESEY, date(2024, 4, 9), "asb", 12),
    ("inc-nwp-24q2", ANGLESEY_LSOA11, date(2024, 5, 9), "criminal_damage", 7),
    ("inc-nwp-24q2", ANGLESEY, date(2024, 6, 9), "hate_crime", 9),
]

P, S = "primary", "secondary"
# (la_code, quarter) -> {incident_group: shown count, or P / S when suppressed, with the reason the non-shared
# intermediate model gives}. Worked out by hand from BATCHES: the window is 2023-Q4 to 2024-Q2 for every LA
# with an incident, zeros filled.
EXPECTED = {
    (NEWPORT, "2023-Q4"): {"all": 5, "asb": 5, "damage": 0, "hate": 0, "other": 0},
    (NEWPORT, "2024-Q1"): {"all": 15, "asb": S, "damage": S, "hate": P, "other": 0},
    (NEWPORT, "2024-Q2"): {"all": 17, "asb": P, "damage": P, "hate": S, "other": 0},
    (TORFAEN, "2023-Q4"): {"all": 0, "asb": 0, "damage": 0, "hate": 0, "other": 0},
    (TORFAEN, "2024-Q1"): {"all": 0, "asb": 0, "damage": 0, "hate": 0, "other": 0},
    (TORFAEN, "2024-Q2"): {"all": 17, "asb": P, "damage": P, "hate": S, "other": 0},
    (CARDIFF, "2023-Q4"): {"all": 13, "asb": P, "damage": S, "hate": P, "other": 0},
    (CARDIFF, "2024-Q1"): {"all": P, "asb": P, "damage": S, "hate": P, "other": S},
    (CARDIFF, "2024-Q2"): {"all": S, "asb": S, "damage": S, "hate": P, "other": P},
    (ANGLESEY, "2023-Q4"): {"all": 12, "asb": P, "damage": 0, "hate": 6, "other": P},
    (ANGLESEY, "2024-Q1"): {"all": 14, "asb": P, "damage": 9, "hate": P, "other": 0},
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
                """insert into raw.partner_incidents (file_id, row_number, incident_ref, occurred_on, reported_on,
                   area_code, incident_type, hate_strands, community_type, source_organisation, description,
                   redacted_items) values (?, ?, ?, ?, ?, ?, ?, ?, null, ?, ?, 0)""",
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


def table(con, relation: str = "marts.shared_incident_summary") -> list[dict]:
    cur = con.execute(f"select * from {relation}")
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
                "disclosure_threshold": THRESHOLD,
            })
    return out


def key(r: dict) -> tuple:
    return (r["la_code"], r["quarter"], r["incident_group"])


def test_the_shared_tests_ran(shared):
    _, stdout = shared
    for name in ("assert_hidden_remainder_is_not_small", "assert_no_hidden_cell_can_be_worked_out",
                 "assert_suppressed_total_hides_every_group", "assert_shared_counts_match_incidents",
                 "unique_combination_of_columns_shared_incident_summary",
                 "unique_combination_of_columns_int_shared__incident_suppression"):
        assert name in stdout


def test_the_table_is_exactly_the_hand_worked_one(shared):
    con, _ = shared
    got = sorted(table(con), key=key)
    want = sorted(expected_rows(), key=key)
    assert len(got) == len(want) == 4 * 3 * 5
    for g, w in zip(got, want, strict=True):
        assert g == w, (key(w), g)


def true_counts() -> dict[tuple, int]:
    """(la_code, quarter, incident_group) -> incidents, counted from BATCHES (current files only)."""
    groups = {"hate_crime": "hate", "hate_incident": "hate", "asb": "asb", "public_order": "asb",
              "noise_complaint": "asb", "neighbour_dispute": "asb", "criminal_damage": "damage",
              "offensive_graffiti": "damage", "deliberate_fire": "damage", "other": "other"}
    la_of = {NEWPORT_LSOA: NEWPORT, NEWPORT_WARD: NEWPORT, NEWPORT: NEWPORT, CARDIFF_LSOA: CARDIFF,
             CARDIFF: CARDIFF, ANGLESEY_LSOA11: ANGLESEY, ANGLESEY: ANGLESEY, TORFAEN: TORFAEN}
    counts: dict[tuple, int] = defaultdict(int)
    for file_id, area, occurred, itype, n in BATCHES:
        if file_id in SUPERSEDED:
            continue
        q = f"{occurred.year}-Q{(occurred.month - 1) // 3 + 1}"
        counts[(la_of[area], q, groups[itype])] += n
        counts[(la_of[area], q, "all")] += n
    return counts


def test_the_hand_worked_counts_match_the_incident_rows():
    """The shown counts of EXPECTED, and the P / S marks, agree with the incident rows."""
    counts = true_counts()
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
        "la_code", "la_name", "quarter", "incident_group", "incident_group_label"}


def test_no_free_text_or_detail_reaches_the_shared_tier(shared):
    con, _ = shared
    text = " ".join(str(v) for r in table(con) for v in r.values())
    assert "free text" not in text
    for code in (NEWPORT_LSOA, NEWPORT_WARD, CARDIFF_LSOA, ANGLESEY_LSOA11, "W01002008"):
        assert code not in text


def test_suppression_rules_hold_row_by_row(shared):
    """What any reader can check: no small count shown; where the total is shown, the hidden group rows are
    none or at least two, and what they add up to (the total minus the shown rows) is at least the threshold
    and more than their number; where the total is hidden, every group row is."""
    con, _ = shared
    by_line = defaultdict(dict)
    for r in table(con):
        by_line[(r["la_code"], r["quarter"])][r["incident_group"]] = r["incident_count"]
        if r["incident_count"] is not None:
            assert r["incident_count"] == 0 or r["incident_count"] >= THRESHOLD
    for line, cells in by_line.items():
        hidden = [g for g, v in cells.items() if g != "all" and v is None]
        if cells["all"] is None:
            assert len(hidden) == 4, line
        elif hidden:
            remainder = cells["all"] - sum(v for g, v in cells.items() if g != "all" and v is not None)
            assert len(hidden) >= 2 and remainder >= THRESHOLD and remainder > len(hidden), line


def test_the_issue_case_is_protected(shared):
    """Newport 2024-Q2 (all 17, hate 15, asb 1, damage 1, other 0): hate, asb and damage are hidden, so the
    hidden remainder is 17, not 2; and Torfaen 2024-Q2 (hate 13, asb 2, damage 2) publishes exactly the same
    line, so a reader cannot tell asb = 1 from asb = 2 (nor hate 15 from 13)."""
    con, _ = shared
    lines = defaultdict(dict)
    for r in table(con):
        if r["quarter"] == "2024-Q2":
            lines[r["la_code"]][r["incident_group"]] = r["incident_count"]
    published = {"all": 17, "hate": None, "asb": None, "damage": None, "other": 0}
    assert lines[NEWPORT] == lines[TORFAEN] == published
    counts = true_counts()
    assert [counts[(NEWPORT, "2024-Q2", g)] for g in ("hate", "asb", "damage")] == [15, 1, 1]
    assert [counts[(TORFAEN, "2024-Q2", g)] for g in ("hate", "asb", "damage")] == [13, 2, 2]


def test_the_reason_stays_in_the_intermediate_model(shared):
    """The shared mart says only that a cell is hidden; intermediate.int_shared__incident_suppression (not
    shared) keeps the true count and why (primary / secondary), as worked out by hand."""
    con, _ = shared
    counts = true_counts()
    want = {}
    for (la, quarter), cells in EXPECTED.items():
        for group, value in cells.items():
            suppression = value if isinstance(value, str) else None
            want[(la, quarter, group)] = (counts[(la, quarter, group)], suppression is not None, suppression)
    got = {key(r): (r["true_count"], r["is_suppressed"], r["suppression"])
           for r in table(con, "intermediate.int_shared__incident_suppression")}
    assert got == want
    shared_columns = {c for (c,) in con.execute(
        """select column_name from information_schema.columns
           where table_schema = 'marts' and table_name = 'shared_incident_summary'""").fetchall()}
    assert not shared_columns & {"suppression", "true_count"}


# --- brute force: no hidden cell can be worked out ------------------------------------------------------
# Every table of four group counts from 0 to BF_N is one local authority × quarter line of a second
# warehouse: line i goes to the i % 22-th real local authority in quarter i // 22, counted from 1700-Q1 (the
# mart cross-joins every LA with an incident × every quarter of the window, so the 22 × 1,299 lines hold the
# 28,561 tables and 17 all-zero lines). The real model is built once with `dbt build`, then re-run on the
# same incidents with smaller thresholds (BF_N = 12 >= 2t + 2 for each). The rule this replaced (a second cell
# hidden only when exactly one group was primary) fails here: at threshold 5, 1,558 hidden cells could be
# worked out, e.g. all 7, hate 0, other 5 shown, so asb = damage = 1.
BF_N = 12
BF_THRESHOLDS = (5, 3, 2)
GROUPS = ("hate", "asb", "damage", "other")
GROUP_TYPE = {"hate": "hate_crime", "asb": "asb", "damage": "criminal_damage", "other": "other"}
LA_CODES = seed_column("geography/local_authority.csv", "la_code")


def bf_tables() -> list[tuple[int, ...]]:
    return list(itertools.product(range(BF_N + 1), repeat=len(GROUPS)))


def bf_line(i: int) -> tuple[str, date]:
    q = i // len(LA_CODES)
    return LA_CODES[i % len(LA_CODES)], date(1700 + q // 4, 3 * (q % 4) + 1, 1)


def load_brute_force_rows(con) -> None:
    create_all(con)
    con.execute(
        """insert into raw.partner_files (file_id, content_sha256, extract_type, partner, period, period_start,
           period_end, file_name, received_at, row_count, redacted_items)
           values ('bf', 'bf', 'incidents', 'gwent-police', '1700', '1700-01-01', '2100-12-31', 'bf.csv',
                   '2024-07-01', 0, 0)"""
    )
    # (la_code, occurred_on, incident_type, how many) for every non-zero cell; each becomes that many incidents
    cells = [(*bf_line(i), GROUP_TYPE[group], n)
             for i, counts in enumerate(bf_tables()) for group, n in zip(GROUPS, counts, strict=True) if n]
    con.execute(
        """create temp table bf_cells as
           select unnest(?::varchar[]) as la_code, unnest(?::date[]) as occurred_on,
                  unnest(?::varchar[]) as incident_type, unnest(?::integer[]) as n""",
        [list(column) for column in zip(*cells, strict=True)],
    )
    con.execute(
        """insert into raw.partner_incidents by name
           select 'bf' as file_id, (1 + row_number() over ())::integer as row_number,
                  'bf-' || row_number() over () as incident_ref, occurred_on, occurred_on as reported_on,
                  la_code as area_code, incident_type,
                  (case when incident_type = 'hate_crime' then ['race'] else [] end)::varchar[] as hate_strands,
                  'Some Force' as source_organisation, 0 as redacted_items
           from bf_cells, range(n)"""
    )


def published_lines(con) -> dict[tuple[str, date], dict[str, int | None]]:
    """(la_code, quarter_start) -> {incident_group: shown count, or None when suppressed}."""
    lines: dict[tuple[str, date], dict[str, int | None]] = defaultdict(dict)
    for la, start, group, count, hidden in con.execute(
        "select la_code, quarter_start, incident_group, incident_count, is_suppressed from marts.shared_incident_summary"
    ).fetchall():
        assert hidden == (count is None)
        lines[(la, start)][group] = count
    return lines


@pytest.fixture(scope="module")
def brute_force(tmp_path_factory):
    """threshold -> the published lines. One full build (threshold 5); then the two shared models alone are
    rebuilt with thresholds 3 and 2, side by side, on two copies of the built file (dbt's start-up and parse
    are most of the time)."""
    tmp = tmp_path_factory.mktemp("brute_force")
    warehouse = tmp / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        load_brute_force_rows(con)
    first, *others = BF_THRESHOLDS
    dbt_build(warehouse, "+shared_incident_summary", tmp / str(first), extra_vars={"disclosure_threshold": first})
    copies = {t: tmp / f"warehouse_{t}.duckdb" for t in others}
    for copy in copies.values():
        shutil.copyfile(warehouse, copy)
    with ThreadPoolExecutor(max_workers=len(others)) as pool:
        list(pool.map(lambda t: dbt_build(copies[t], "1+shared_incident_summary", tmp / str(t),
                                          extra_vars={"disclosure_threshold": t}), others))
    published = {}
    for threshold, path in {first: warehouse, **copies}.items():
        with duckdb.connect(str(path), read_only=True) as con:
            published[threshold] = published_lines(con)
    return published


@pytest.mark.parametrize("threshold", BF_THRESHOLDS)
def test_no_hidden_cell_can_be_worked_out(brute_force, threshold):
    """The rule-aware reader: the tables that publish exactly the same line (same shown counts, same cells
    hidden, total shown or hidden) are all a reader can tell apart, knowing the rule, the threshold, that
    counts are non-negative integers and that shown zeros are zero. Every hidden cell must take at least
    two values across them. The enumeration is bounded (0..BF_N): a reader who allows any count has every
    table seen here among the candidates, plus more, so a hidden cell with two feasible values here has at
    least two for that reader too (passing here implies passing unbounded, for every table enumerated)."""
    lines = brute_force[threshold]
    assert len(lines) == len(LA_CODES) * -(-len(bf_tables()) // len(LA_CODES))
    by_output: dict[tuple, list[dict[str, int]]] = defaultdict(list)
    for i, counts in enumerate(bf_tables()):
        true = dict(zip(GROUPS, counts, strict=True)) | {"all": sum(counts)}
        shown = lines[bf_line(i)]
        assert set(shown) == set(true)
        for group, value in shown.items():
            if value is not None:
                assert value == true[group], (counts, group)
                assert not 1 <= value < threshold, (counts, group)
        by_output[tuple(shown[g] for g in ("all", *GROUPS))].append(true)
    worked_out = []
    for output, tables in by_output.items():
        for group, value in zip(("all", *GROUPS), output, strict=True):
            if value is None and len({t[group] for t in tables}) < 2:
                worked_out.append((output, group, tables))
    assert not worked_out, f"{len(worked_out)} hidden cells can be worked out, e.g. {worked_out[:3]}"
