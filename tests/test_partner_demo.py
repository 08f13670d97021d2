"""The demo partner extracts: deterministic, valid against the contracts, on real Gwent areas, and holding
the planted events the warehouse is meant to find.

The checks here read the files with plain csv / openpyxl and re-state the contract rules independently of
the validator, so a validator bug cannot hide a bad demo file (or the other way round).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.lib.partner_extracts import contracts
from orchestration.lib.partner_extracts.demo import DEMO_END, DEMO_START, PLANTED, write_demo_extracts
from orchestration.settings import SEEDS_DIR

GWENT = "W15000002"
TYPES = contracts.extract_types()


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[tuple[Path, list[Path]], tuple[Path, list[Path]]]:
    first = tmp_path_factory.mktemp("demo_a")
    second = tmp_path_factory.mktemp("demo_b")
    return (first, write_demo_extracts(first)), (second, write_demo_extracts(second))


@pytest.fixture(scope="module")
def landing(runs) -> Path:
    return runs[0][0]


@pytest.fixture(scope="module")
def paths(runs) -> list[Path]:
    return runs[0][1]


def _seed(relative: str) -> list[dict[str, str]]:
    with open(SEEDS_DIR / relative, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def gwent() -> dict[str, set[str] | dict[str, str]]:
    las = {r["la_code"] for r in _seed("geography/local_authority.csv") if r["police_force_code"] == GWENT}
    lsoa21 = {r["lsoa21_code"]: r["la_code"] for r in _seed("geography/lsoa21_geography.csv")
              if r["police_force_code"] == GWENT}
    lsoa11 = {r["lsoa11_code"]: r["la_code"] for r in _seed("geography/lsoa11_lsoa21_exact_fit.csv")
              if r["la_code"] in las}
    wards = {r["ward_code"]: r["la_code"] for r in _seed("geography/ward.csv") if r["la_code"] in las}
    la_of = {**lsoa21, **lsoa11, **wards, **{la: la for la in las}}
    return {"las": las, "lsoa21": set(lsoa21), "lsoa11": set(lsoa11), "wards": set(wards), "la_of": la_of}


# --------------------------------------------------------------------------------------------- reading


def _name_parts(path: Path) -> tuple[str, str, str | None]:
    match = contracts.FILE_NAME.match(path.stem.lower())
    assert match, f"{path.name} does not follow <partner>_<period>[_<suffix>]"
    return match["partner"], match["period"], match["suffix"]


def _period(period: str) -> tuple[date, date]:
    if re.fullmatch(r"\d{4}", period):
        return date(int(period), 1, 1), date(int(period), 12, 31)
    if m := re.fullmatch(r"(\d{4})-?q([1-4])", period):
        year, quarter = int(m[1]), int(m[2])
        start = date(year, 3 * quarter - 2, 1)
        return start, _month_end(year, 3 * quarter)
    year, month = (int(x) for x in period.split("-"))
    return date(year, month, 1), _month_end(year, month)


def _month_end(year: int, month: int) -> date:
    return (date(year + (month == 12), month % 12 + 1, 1)) - timedelta(days=1)


def _read(path: Path) -> tuple[list[str], list[dict[str, object]]]:
    """(header, rows) with blank rows dropped; cells are str, or date for XLSX date cells, None if empty."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            records = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
        records = [[c.date() if isinstance(c, datetime) else c for c in r] for r in records]
    else:
        text = path.read_bytes().decode("utf-8")
        assert not text.startswith("\ufeff")
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    header = [str(h) for h in records[0]]
    rows = []
    for record in records[1:]:
        cells = [None if c is None or (isinstance(c, str) and c == "") else c for c in record]
        if all(c is None for c in cells):
            continue
        assert len(cells) == len(header), f"{path.name}: row of {len(cells)} cells"
        rows.append(dict(zip(header, cells, strict=True)))
    return header, rows


@pytest.fixture(scope="module")
def files(paths) -> dict[str, dict]:
    """relative path -> {type, partner, period, start, end, header, rows}."""
    out = {}
    for path in paths:
        partner, period, suffix = _name_parts(path)
        start, end = _period(period)
        header, rows = _read(path)
        out[f"{path.parent.name}/{path.name}"] = {
            "type": path.parent.name, "partner": partner, "period": period, "suffix": suffix,
            "start": start, "end": end, "header": header, "rows": rows, "path": path,
        }
    return out


def _date(value: object, partner: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    text = str(value)
    if partner == "demo-newport-council":  # the council's quirk: dd/mm/yyyy
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", text), text
        return datetime.strptime(text, "%d/%m/%Y").date()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", text), text
    return date.fromisoformat(text)


def _current_files(files: dict, extract_type: str) -> list[dict]:
    """The latest file per (partner, period): a corrected file replaces the original."""
    latest: dict[tuple[str, str], dict] = {}
    for f in files.values():  # ingest order
        if f["type"] == extract_type:
            latest[(f["partner"], f["period"])] = f
    return list(latest.values())


# ------------------------------------------------------------------------------------------------ tests


def test_two_runs_write_identical_bytes(runs):
    (a, paths_a), (b, paths_b) = runs
    assert [p.relative_to(a) for p in paths_a] == [p.relative_to(b) for p in paths_b]
    written_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.suffix != ".done")
    assert written_a == sorted(p.relative_to(a) for p in paths_a)
    markers = sorted(p.relative_to(a) for p in a.rglob("*.done"))
    assert markers == sorted(p.relative_to(a).with_name(p.name + ".done") for p in paths_a), \
        "each file is marked complete, as the partner guide asks"
    for pa, pb in zip(paths_a, paths_b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
        assert pa.stat().st_mtime == pb.stat().st_mtime, pa.name


def test_file_names_folders_and_ingest_order(paths, landing):
    assert len(paths) == len(set(paths))
    for path in paths:
        assert path.parent.parent == landing and path.parent.name in TYPES
        assert path.suffix in contracts.FILE_SUFFIXES
        partner, _period, _suffix = _name_parts(path)
        assert partner.startswith("demo-")
    mtimes = [p.stat().st_mtime for p in paths]
    assert mtimes == sorted(mtimes), "mtimes follow the ingest order"
    names = [f"{p.parent.name}/{p.name}" for p in paths]
    corrected = PLANTED["corrected_file"]
    assert names.index(f"incidents/{corrected['original']}") < names.index(f"incidents/{corrected['corrected']}")
    assert paths[names.index(f"incidents/{corrected['original']}")].stat().st_mtime < \
        paths[names.index(f"incidents/{corrected['corrected']}")].stat().st_mtime


def test_headers_are_the_contract_columns(files):
    for name, f in files.items():
        assert f["header"] == TYPES[f["type"]].column_names, name


def test_at_least_twelve_months_per_type(files):
    months: dict[str, set[tuple[int, int]]] = {t: set() for t in TYPES}
    for f in files.values():
        spans = [(f["start"], f["end"])]
        if f["type"] == "tension_assessments":
            spans += [(_date(r["period_start"], f["partner"]), _date(r["period_end"], f["partner"])) for r in f["rows"]]
        for start, end in spans:
            day = start
            while day <= end:
                months[f["type"]].add((day.year, day.month))
                day = _month_end(day.year, day.month) + timedelta(days=1)
    for extract_type, covered in months.items():
        assert len(covered) >= 12, extract_type
    assert min(min(m) for m in months.values()) == (DEMO_START.year, DEMO_START.month)


def test_area_codes_are_real_gwent_codes(files, gwent):
    kinds = {"lsoa21": 0, "lsoa11": 0, "ward": 0, "la": 0}
    for name, f in files.items():
        for row in f["rows"]:
            code = row["area_code"]
            assert code in gwent["la_of"], f"{name}: {code} is not a Gwent area"
            if code in gwent["lsoa21"]:
                kinds["lsoa21"] += 1
            elif code in gwent["lsoa11"]:
                kinds["lsoa11"] += 1
            elif code in gwent["wards"]:
                kinds["ward"] += 1
            else:
                kinds["la"] += 1
    assert all(kinds.values()), kinds
    assert kinds["lsoa21"] > sum(kinds.values()) / 2, kinds


def test_every_row_follows_the_contract_rules(files):
    community = set(contracts.community_types())
    community_no_overall = set(contracts.community_types(include_overall=False))
    categories = set(contracts.tension_categories())
    for name, f in files.items():
        extract = TYPES[f["type"]]
        start, end, partner = f["start"], f["end"], f["partner"]
        assert f["rows"], f"{name} has no rows"
        keys = set()
        for row in f["rows"]:
            for column in extract.columns:
                value = row[column.name]
                if column.required:
                    assert value is not None and str(value).strip(), f"{name}: {column.name} blank"
                if column.kind == contracts.DATE and value is not None:
                    assert _date(value, partner) <= DEMO_END, f"{name}: {column.name} after the demo end"
                if column.kind == contracts.ENUM and value is not None:
                    assert value in column.values, f"{name}: {column.name}={value}"
                if column.kind == contracts.ENUM_LIST and value is not None:
                    items = str(value).split(";")
                    assert set(items) <= set(column.values) and len(items) == len(set(items)), (name, value)
            if extract.key:
                key = tuple(row[k] for k in extract.key)
                assert key not in keys, f"{name}: duplicate key {key}"
                keys.add(key)
            if extract.is_register:
                assert _date(row[extract.period_date], partner) <= end, name
            elif f["type"] != "incidents":
                assert start <= _date(row[extract.period_date], partner) <= end, name

            if f["type"] == "incidents":
                occurred = _date(row["occurred_on"], partner)
                reported = _date(row["reported_on"], partner) or occurred
                assert start <= reported <= end and occurred <= reported, (name, row["incident_ref"])
                strands = [] if row["hate_strands"] is None else str(row["hate_strands"]).split(";")
                if row["incident_type"] in contracts.HATE_INCIDENT_TYPES:
                    assert strands, (name, row["incident_ref"])
                else:
                    assert not strands, (name, row["incident_ref"])
                assert row["community_type"] is None or row["community_type"] in community_no_overall
            elif f["type"] == "tension_reports":
                assert str(row["contact_consent"]).lower() in ("yes", "no"), "the form asks: never blank"
                assert set((row["tension_categories"] or "").split(";")) - {""} <= categories
            elif f["type"] == "tension_assessments":
                assessed = _date(row["assessment_date"], partner)
                assert _date(row["period_start"], partner) <= assessed <= _date(row["period_end"], partner)
                assert assessed.weekday() < 5 and assessed.day <= 10
                assert row["community_type"] in community
                grades = contracts.EEP_GRADES if row["scale"] == "eep6" else contracts.LEVEL4_GRADES
                assert row["current_grade"] in grades and row["potential_grade"] in grades, (name, row)
            elif f["type"] == "community_impact_assessments":
                triggered = _date(row["triggered_on"], partner)
                completed = _date(row["completed_on"], partner)
                if row["status"] == "complete":
                    assert completed is not None and completed >= triggered and row["overall_risk"], row
                else:
                    assert completed is None, row
            elif f["type"] == "risk_register":
                assert _date(row["review_due"], partner) >= _date(row["raised_on"], partner)
                for column in ("likelihood", "impact", "residual_likelihood", "residual_impact"):
                    assert row[column] is None or 1 <= int(row[column]) <= 5


def test_assessment_files_cover_every_la_and_community(files, gwent):
    monmouthshire = "W06000021"
    assessments = [f for f in files.values() if f["type"] == "tension_assessments"]
    assert [f["period"] for f in assessments] == sorted(f["period"] for f in assessments)
    assert {int(f["period"][5:]) for f in assessments} == {1, 3, 5, 7, 9, 11}
    for f in assessments:
        pairs = {(r["area_code"], r["community_type"]) for r in f["rows"]}
        assert pairs == {(la, c) for la in gwent["las"] for c in contracts.community_types()}
        for row in f["rows"]:
            assert row["scale"] == ("level4" if row["area_code"] == monmouthshire else "eep6")
            assert _date(row["period_start"], f["partner"]) == f["start"]
            next_month_end = _month_end(f["start"].year + (f["start"].month == 12), f["start"].month % 12 + 1)
            assert _date(row["period_end"], f["partner"]) == next_month_end


def test_realistic_police_volumes(files):
    police = [f for f in _current_files(files, "incidents") if f["partner"] == "demo-gwent-police"]
    assert len(police) == 18
    for f in police:
        hate = sum(r["incident_type"] in contracts.HATE_INCIDENT_TYPES for r in f["rows"])
        other = len(f["rows"]) - hate
        assert 40 <= hate <= 75 and 70 <= other <= 130, (f["period"], hate, other)
        assert re.fullmatch(r"GP/\d{2}/\d{6}", f["rows"][0]["incident_ref"])
    strands = [s for f in police for r in f["rows"] for s in (r["hate_strands"] or "").split(";") if s]
    counts = {s: strands.count(s) for s in contracts.HATE_STRANDS}
    assert counts["race"] > counts["sexual_orientation"] > counts["transgender"] > counts["alternative_subculture"] > 0


def test_council_quirks(files):
    council = {n: f for n, f in files.items() if f["partner"] == "demo-newport-council"}
    xlsx = council[PLANTED["quirks"]["xlsx_with_date_cells"]]
    assert all(isinstance(r["occurred_on"], date) for r in xlsx["rows"])
    raw = (xlsx["path"].parent / PLANTED["quirks"]["trailing_blank_rows"].split("/")[1]).read_bytes()
    assert raw.endswith(b"\r\n,,,,,,,,\r\n,,,,,,,,\r\n")
    for f in council.values():
        if f["type"] == "incidents":
            assert {r["source_organisation"] for r in f["rows"]} == {"Newport City Council"}
        if f["type"] == "tension_reports":
            assert 5 <= len(f["rows"]) <= 20
    text = " ".join(str(r["information"]) for f in council.values() if f["type"] == "tension_reports"
                    for r in f["rows"])
    assert "ŵyl" in text or "Cymraeg" in text


def test_planted_hate_spike(files, gwent):
    spike = PLANTED["hate_spike"]
    per_month: dict[str, dict[str, int]] = {}
    for f in _current_files(files, "incidents"):
        for row in f["rows"]:
            if row["area_code"] != spike["area_code"] or row["incident_type"] not in spike["incident_types"]:
                continue
            if "race" not in str(row["hate_strands"]).split(";"):
                continue
            reported = _date(row["reported_on"], f["partner"]) or _date(row["occurred_on"], f["partner"])
            month = per_month.setdefault(f"{reported:%Y-%m}", {})
            month[f["partner"]] = month.get(f["partner"], 0) + 1
    may = per_month.pop(spike["month"])
    assert may == {"demo-gwent-police": spike["police_rows"], "demo-newport-council": spike["council_rows"]}
    assert sum(may.values()) == spike["total_rows"] >= 12
    assert all(sum(m.values()) <= spike["baseline_max_per_month"] for m in per_month.values()), per_month
    assert gwent["la_of"][spike["area_code"]] == spike["la_code"]


def _grades(files, area, community) -> dict[str, tuple[str, str]]:
    return {f["period"]: (r["current_grade"], r["potential_grade"])
            for f in files.values() if f["type"] == "tension_assessments"
            for r in f["rows"] if r["area_code"] == area and r["community_type"] == community}


def test_planted_rising_rating(files):
    rising = PLANTED["rising_rating"]
    grades = _grades(files, rising["area_code"], rising["community_type"])
    overall = _grades(files, rising["area_code"], "overall")
    periods = sorted(rising["current_grade"])
    assert [int(grades[p][0]) for p in periods] == [rising["current_grade"][p] for p in periods] == [6, 5, 4, 3]
    assert [int(grades[p][1]) for p in periods] == [rising["potential_grade"][p] for p in periods]
    assert [int(overall[p][0]) for p in periods] == [rising["overall_current_grade"][p] for p in periods]
    for p in periods:
        assert int(grades[p][1]) <= int(grades[p][0])


def test_planted_cias(files, gwent):
    latest = _current_files(files, "community_impact_assessments")[-1]
    assert latest["end"] == DEMO_END
    cias = {r["cia_id"]: r for r in latest["rows"]}
    overdue = PLANTED["cia_overdue"]
    row = cias[overdue["cia_id"]]
    triggered = _date(row["triggered_on"], latest["partner"])
    assert row["status"] == overdue["status"] == "in_progress" and row["trigger"] == "rating"
    assert (DEMO_END - triggered).days > 28
    assert triggered >= date.fromisoformat(overdue["after_assessment"])
    assert set(overdue["community_types"]) <= set(row["community_types"].split(";"))
    done = PLANTED["cia_completed_planned_event"]
    row = cias[done["cia_id"]]
    assert (row["trigger"], row["status"], row["completed_on"], row["overall_risk"]) == \
        ("planned_event", "complete", done["completed_on"], done["overall_risk"])

    # The rating that should have had a CIA but has none.
    missing = PLANTED["cia_missing"]
    grades = _grades(files, missing["area_code"], missing["community_type"])[missing["assessment_month"]]
    assert grades == (str(missing["current_grade"]), str(missing["potential_grade"]))
    assert min(int(g) for g in grades) <= 4
    assert not [r for r in latest["rows"] if gwent["la_of"][r["area_code"]] == missing["area_code"]]

    # Every other CIA-triggering rating (eep 1-4, level4 high/medium) is Newport's, which has its CIA.
    triggers = set()
    for f in files.values():
        if f["type"] == "tension_assessments":
            for r in f["rows"]:
                if {r["current_grade"], r["potential_grade"]} & {"1", "2", "3", "4", "high", "medium"}:
                    triggers.add((r["area_code"], r["community_type"], f["period"]))
    newport = PLANTED["rising_rating"]["area_code"]
    assert triggers - {(newport, c, p) for c in ("ethnic", "overall") for p in ("2024-03", "2024-05")} == {
        (missing["area_code"], missing["community_type"], missing["assessment_month"])}

    # Registers are snapshots: every earlier CIA is still listed later.
    registers = _current_files(files, "community_impact_assessments")
    for earlier, later in zip(registers, registers[1:]):
        assert {r["cia_id"] for r in earlier["rows"]} <= {r["cia_id"] for r in later["rows"]}


def test_planted_risks(files):
    latest = _current_files(files, "risk_register")[-1]
    risks = {r["risk_id"]: r for r in latest["rows"]}
    planted = PLANTED["risk_without_action_plan"]
    row = risks[planted["risk_id"]]
    assert int(row["likelihood"]) * int(row["impact"]) == planted["score"] >= 5
    assert row["action_plan_ref"] is None and row["status"] == "open"
    others = [r for r in risks.values() if r["risk_id"] != planted["risk_id"]]
    for r in others:
        if int(r["likelihood"]) * int(r["impact"]) >= 5:
            assert re.fullmatch(r"AP-\d{4}-\d{2}", r["action_plan_ref"] or ""), r
    assert any(r["status"] == "closed" for r in others)
    assert any(r["residual_likelihood"] and int(r["residual_likelihood"]) * int(r["residual_impact"])
               < int(r["likelihood"]) * int(r["impact"]) for r in others)
    assert {r["ppplem_heading"] for r in risks.values()} >= {"physical", "police", "psychological", "moral"}


def test_planted_personal_data(files):
    planted = PLANTED["personal_data"]
    assert len(planted) == len(set(planted)) >= 14
    found = set()
    for name, columns in PLANTED["personal_data_locations"].items():
        for column, strings in columns.items():
            text = "\n".join(str(r[column]) for r in files[name]["rows"] if r[column] is not None)
            for s in strings:
                assert s in text, (name, column, s)
                found.add(s)
    assert found == set(planted)
    # The free-text carriers of the brief, one each.
    locations = PLANTED["personal_data_locations"]
    assert {"information", "area_description"} <= set(locations["tension_reports/demo-newport-council_2024-Q2.csv"])


def test_planted_corrected_file(files):
    corrected = PLANTED["corrected_file"]
    original = {r["incident_ref"]: r for r in files[f"incidents/{corrected['original']}"]["rows"]}
    fixed = {r["incident_ref"]: r for r in files[f"incidents/{corrected['corrected']}"]["rows"]}
    assert set(fixed) - set(original) == {corrected["added_ref"]}
    assert set(original) <= set(fixed)
    changed = {ref for ref in original if original[ref] != fixed[ref]}
    assert changed == {corrected["changed_ref"]}
    assert original[corrected["changed_ref"]][corrected["changed_field"]] == corrected["changed_from"]
    assert fixed[corrected["changed_ref"]][corrected["changed_field"]] == corrected["changed_to"]
