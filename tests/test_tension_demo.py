"""The demo partner extracts through the whole build (`make run`'s path): every planted event shows up in
the tension marts, figures match a count of the files themselves, and no personal data gets through.

The independent side reads the demo files with csv / openpyxl and the ONS lookup seed, not the
warehouse code.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from calendar import monthrange
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from scipy.stats import poisson

from orchestration.lib.partner_extracts.demo import PLANTED, write_demo_extracts
from orchestration.settings import SEEDS_DIR
from tests.independent import one

TITLES = re.compile(r"^(?:Mr|Mrs|Ms|Miss|Dr|Cllr|PC|Rev)\.?\s+")


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> dict[str, list[Path]]:
    """The same deterministic files the build ingested, written afresh to read independently."""
    folder = tmp_path_factory.mktemp("demo")
    files: dict[str, list[Path]] = {}
    for path in write_demo_extracts(folder):
        files.setdefault(path.parent.name, []).append(path)
    return files


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".xlsx":
        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        header = [str(h) for h in values[0]]
        rows = [dict(zip(header, r)) for r in values[1:]]
    else:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    return [r for r in rows if any(v not in (None, "") for v in r.values())]


def as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if "/" in value:
        d, m, y = value.split("/")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(value)


def lsoa21_of() -> dict[str, str]:
    """2011 or 2021 LSOA code -> the one 2021 LSOA it is (unchanged or merged); split codes are absent."""
    mapping = {}
    with open(SEEDS_DIR / "geography" / "lsoa11_lsoa21_exact_fit.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["change_code"] in ("U", "M"):
                mapping[row["lsoa11_code"]] = row["lsoa21_code"]
    with open(SEEDS_DIR / "geography" / "lsoa21_geography.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            mapping[row["lsoa21_code"]] = row["lsoa21_code"]
    return mapping


def current_incidents(demo_files) -> list[dict]:
    corrected = PLANTED["corrected_file"]
    rows = []
    for path in demo_files["incidents"]:
        if path.name == corrected["original"]:
            continue  # superseded by the corrected file
        partner = path.stem.split("_")[0]
        rows += [dict(r, partner=partner) for r in read_rows(path)]
    return rows


def test_every_demo_file_is_accepted(built, warehouse, demo_files):
    log = warehouse.execute(
        "select extract_type, file_name, outcome from raw.partner_file_log where outcome <> 'duplicate'"
    ).fetchall()
    expected = {(kind, p.name) for kind, paths in demo_files.items() for p in paths}
    assert {(k, n) for k, n, _ in log} == expected
    assert {o for _, _, o in log} == {"accepted"}
    for kind, paths in demo_files.items():
        for path in paths:
            loaded = one(warehouse,
                "select row_count from raw.partner_files where extract_type = ? and file_name = ?", [kind, path.name]
            )[0]
            assert loaded == len(read_rows(path)), path.name


def test_no_personal_data_in_any_warehouse_table_or_report(built, warehouse):
    secrets = {TITLES.sub("", s) for s in PLANTED["personal_data"]} | set(PLANTED["submitter_names"])
    secrets |= {"example.org", "07700 9"}
    tables = warehouse.execute(
        "select schema_name, table_name from duckdb_tables() union all select schema_name, view_name from duckdb_views() "
        "where not internal and schema_name not in ('information_schema', 'pg_catalog')"
    ).fetchall()
    scanned = 0
    for schema, table in tables:
        text_columns = [
            name for name, kind in warehouse.execute(
                "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall() if kind.startswith("VARCHAR")
        ]
        for column in text_columns:
            hits = warehouse.execute(
                f'select "{column}"::varchar from "{schema}"."{table}" where '
                + " or ".join(f'contains("{column}"::varchar, ?)' for _ in secrets),
                list(secrets),
            ).fetchall()
            assert not hits, f"{schema}.{table}.{column}: {hits[:3]}"
            scanned += 1
    assert scanned > 200
    for report in built["settings"].reports_dir.rglob("*"):
        if report.is_file():
            text = report.read_text(encoding="utf-8", errors="ignore")
            assert not [s for s in secrets if s in text], report


def test_no_personal_data_in_the_dagster_event_log(built):
    secrets = {TITLES.sub("", s) for s in PLANTED["personal_data"]} | set(PLANTED["submitter_names"])
    instance = built["instance"]
    # the partner files are read in the reference-datasets run, the rest of the build in the next one
    events = [e for r in (built["reference"], built["build"]) for e in instance.all_logs(r.run_id)]
    assert events
    text = "\n".join(str(e.message) + str(getattr(e.dagster_event, "event_specific_data", "")) for e in events)
    assert "demo-newport-council_2024-Q2.csv" in text, "the files are reported"
    assert not [s for s in secrets if s in text]


def test_redaction_kept_the_rest_of_the_text(warehouse):
    texts = [r[0] for r in warehouse.execute(
        "select information from marts.fct_tension_report where information like '%[phone]%'").fetchall()]
    assert texts, "the planted report is there, redacted"
    assert all("[email]" in t and "[postcode]" in t and "[NI number]" in t and "[vehicle reg]" in t for t in texts)
    # the planted report had submitter details (dropped) and eight items redacted: seven in its information,
    # the postcode in its place description
    assert one(warehouse, "select bool_or(has_submitter_details), max(redacted_items) "
                          "from marts.fct_tension_report where information like '%[phone]%'") == (True, 8)


def test_the_hate_incident_spike_and_its_evidence_recomputed_from_the_files(warehouse, demo_files):
    spike = PLANTED["hate_spike"]
    to21 = lsoa21_of()
    monthly = Counter()
    for row in current_incidents(demo_files):
        if to21.get(row["area_code"]) == spike["area_code"]:
            occurred = as_date(row["occurred_on"])
            monthly[date(occurred.year, occurred.month, 1)] += 1
    month = date.fromisoformat(spike["month"] + "-01")
    previous, cursor = [], month
    for _ in range(12):  # the 12 calendar months before the spike month
        cursor = date(cursor.year - (cursor.month == 1), (cursor.month - 2) % 12 + 1, 1)
        previous.append(cursor)
    baseline_count = sum(monthly[m] for m in previous)
    baseline_days = sum(monthrange(m.year, m.month)[1] for m in previous)
    expected = (baseline_count + 0.5) / baseline_days * monthrange(month.year, month.month)[1]
    observed = monthly[month]
    assert observed >= spike["total_rows"]
    row = one(warehouse,
        """select incident_count, baseline_count, expected, exceedance_p, volume_level, suggested_grade,
                  has_own_history, baseline_source
           from marts.fct_tension_evidence
           where area_level = 'lsoa21' and area_code = ? and community_type = 'overall' and month = ?""",
        [spike["area_code"], month],
    )
    assert row[0] == observed and row[1] == baseline_count
    assert row[6:] == (True, "own_history")  # 12 months of its own behind it
    assert row[2] == pytest.approx(expected, rel=1e-9)
    assert row[3] == pytest.approx(poisson.sf(observed - 1, expected), rel=1e-6) and row[3] > 0
    assert row[4] == "substantially_raised" and row[5] <= 4
    # no month anywhere is called normal without a baseline, and none without one has a grade
    assert one(warehouse,
        """select count(*) filter (where volume_level = 'normal' and expected is null),
                  count(*) filter (where expected is null and (suggested_grade is not null or volume_level <> 'insufficient_history'))
           from marts.fct_tension_evidence""") == (0, 0)


def test_the_rising_community_shows_three_rises_and_needs_a_cia(warehouse):
    planted = PLANTED["rising_rating"]
    rows = warehouse.execute(
        """select strftime(assessment_date, '%Y-%m'), current_eep_grade, current_trend, is_cia_trigger
           from marts.fct_tension_assessment where area_code = ? and community_type = ? order by assessment_date""",
        [planted["area_code"], planted["community_type"]],
    ).fetchall()
    by_month = {m: (g, t, c) for m, g, t, c in rows}
    months = sorted(planted["current_grade"])
    for month in months:
        assert by_month[month][0] == planted["current_grade"][month]
    assert [by_month[m][1] for m in months[1:]] == ["▲", "▲", "▲"]
    # a CIA is required where the current or potential grade is 1-4, and only there
    potential = planted["potential_grade"]
    assert [by_month[m][2] for m in months] == [min(planted["current_grade"][m], potential[m]) <= 4 for m in months]


def test_cias_overdue_completed_and_missing(warehouse):
    overdue = PLANTED["cia_overdue"]
    row = one(warehouse, "select status, age_days, is_overdue from marts.fct_cia where cia_id = ?",
                            [overdue["cia_id"]])
    assert row == (overdue["status"], overdue["days_open_at_end"], True)
    done = PLANTED["cia_completed_planned_event"]
    assert one(warehouse, "select status, is_overdue, completed_late from marts.fct_cia where cia_id = ?",
                             [done["cia_id"]]) == ("complete", False, False)
    missing = PLANTED["cia_missing"]
    rows = warehouse.execute(
        "select area_code, triggered_on from marts.fct_cia where status = 'missing'").fetchall()
    assert rows == [(missing["area_code"], date.fromisoformat(missing["assessment_date"]))]


def test_the_risk_without_an_action_plan(warehouse):
    planted = PLANTED["risk_without_action_plan"]
    flagged = warehouse.execute("select risk_id, score from marts.fct_risk where action_plan_missing").fetchall()
    assert flagged == [(planted["risk_id"], planted["score"])]
    assert one(warehouse,
        "select count(*) from marts.fct_risk where action_plan_required <> (likelihood * impact >= 5)") == (0,)


def test_the_corrected_file_replaced_the_original(warehouse, demo_files):
    corrected = PLANTED["corrected_file"]
    assert one(warehouse, "select incident_type from marts.fct_incident where incident_ref = ?",
                             [corrected["changed_ref"]]) == (corrected["changed_to"],)
    assert one(warehouse, "select count(*) from marts.fct_incident where incident_ref = ?",
                             [corrected["added_ref"]]) == (1,)
    superseded = warehouse.execute(
        "select file_name from raw.partner_files where superseded_by is not null").fetchall()
    assert superseded == [(corrected["original"],)]
    expected = {(r["partner"], r["source_organisation"], r["incident_ref"]) for r in current_incidents(demo_files)}
    assert one(warehouse, "select count(*) from marts.fct_incident") == (len(expected),)


def test_nothing_the_build_writes_is_world_readable_and_the_restricted_store_is_owner_only(built):
    settings = built["settings"]
    # the planted personal data is also searched for in the GX results and Data Docs of the whole build
    secrets = {TITLES.sub("", s) for s in PLANTED["personal_data"]} | set(PLANTED["submitter_names"])
    for path in settings.gx_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="ignore")
            assert not [s for s in secrets if s in text], path
    restricted = list(settings.restricted_dir.rglob("*"))
    assert [p for p in restricted if p.is_file()], "the originals are kept"
    for path in [settings.restricted_dir, *restricted]:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert stat.S_IMODE(os.stat(settings.dagster_home).st_mode) == 0o700, "the event log names partner files"
    for path in (settings.warehouse_path, settings.landing_dir, *settings.landing_dir.iterdir(), settings.gx_dir,
                 settings.reports_dir, *settings.reports_dir.iterdir()):
        assert not stat.S_IMODE(os.stat(path).st_mode) & 0o007, (path, oct(os.stat(path).st_mode))
