"""The quarterly monitoring pack, built by `make run`'s job on the bundled data and the demo partner files.

Read as the group would read it: the archived HTML in a real headless Chromium (network blocked) and the PDF's
own text (pypdf). The tension summary table is checked against the ratings files dropped in (read here with
the csv module, trends worked out independently), the tiers against everything restricted in the full pack,
the Welsh pack against every English string of the message catalogue.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.independent import corrected_demo_ratings, restricted_texts

QUARTER = "2024-Q2"
GWENT = "gwent-police-area"
ARROWS = {"rising": "▲", "falling": "▼", "static": "►"}


# ------------------------------------------------------------------------------------------------ helpers
def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _open(browser, path: Path):
    """The page in Chromium with every request other than the file itself refused; returns (page, requests)."""
    page = browser.new_page(viewport={"width": 1240, "height": 900})
    requests: list[str] = []

    def route(r):
        if r.request.url == path.as_uri():
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    return page, requests


def _pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(path.read_bytes())).pages]


@pytest.fixture(scope="module")
def archive(built):
    root = built["settings"].reports_dir / QUARTER
    assert root.is_dir(), f"no packs under {root}"
    return root


def _file(archive: Path, group: str, tier: str, language: str, fmt: str) -> Path:
    manifest = json.loads((archive / group / "manifest.json").read_text(encoding="utf-8"))
    current = manifest["versions"][-1]
    (entry,) = [f for f in current["files"] if (f["tier"], f["language"], f["format"]) == (tier, language, fmt)]
    return archive / group / entry["path"]


@pytest.fixture(scope="module")
def full_content(archive) -> dict:
    manifest = json.loads((archive / GWENT / "manifest.json").read_text(encoding="utf-8"))
    return json.loads((archive / GWENT / manifest["versions"][-1]["content"]).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ archive
def test_every_group_has_every_tier_language_and_format_with_a_true_manifest(built, warehouse, archive):
    groups = [r[0] for r in warehouse.execute("select distinct group_code from ref.monitoring_groups order by 1").fetchall()]
    assert len(groups) == 22 + 4
    for group in groups:
        manifest = json.loads((archive / group / "manifest.json").read_text(encoding="utf-8"))
        current = manifest["versions"][-1]
        assert manifest["current_version"] == current["version"]
        combos = {(f["tier"], f["language"], f["format"]) for f in current["files"]}
        assert combos == {(t, lang, fmt) for t in ("gold_silver", "bronze", "summary") for lang in ("en", "cy")
                          for fmt in ("html", "pdf")}, group
        for f in current["files"]:
            data = (archive / group / f["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
            assert f["marking"] == ("OFFICIAL-SENSITIVE" if f["tier"] == "gold_silver" else "OFFICIAL")
        assert current["inputs"]["partner_files"] and current["inputs"]["loads"]
        # the archive holds OFFICIAL-SENSITIVE files: owner-only folders and files
        assert (archive / group).stat().st_mode & 0o077 == 0
        assert all((archive / group / f["path"]).stat().st_mode & 0o077 == 0 for f in current["files"])


def test_same_inputs_give_the_same_version_and_content(built, archive):
    from orchestration.lib.pack.build import build_packs

    before = json.loads((archive / "newport" / "manifest.json").read_text(encoding="utf-8"))
    result = build_packs(built["settings"].warehouse_path, built["settings"].reports_dir,
                         quarters=[QUARTER], groups=["newport"], pdf=False, log=lambda m: None)
    assert not result["failed"]
    (pack,) = result["packs"]
    after = json.loads((archive / "newport" / "manifest.json").read_text(encoding="utf-8"))
    assert not pack["is_new"] and pack["version"] == before["current_version"]
    assert after == before


def test_a_change_to_a_past_quarters_inputs_makes_a_new_version_that_says_what_changed(built, full_content, tmp_path):
    """Archive a quarter, then the same quarter after a corrected ratings file (one grade worse, one more
    partner file): version 2, with the grade, the section totals and the input change named, in both
    languages; version 1 stays as it was."""
    from orchestration.lib.pack.archive import archive_pack
    from orchestration.lib.pack.render import EngineRules

    engine = EngineRules(alpha=0.05, min_events=10)
    first = archive_pack(full_content, tmp_path, engine, pdf=False)
    again = archive_pack(json.loads(json.dumps(full_content)), tmp_path, engine, pdf=False)
    assert (first.version, first.is_new, again.version, again.is_new) == (1, True, 1, False)
    # a file about another area (one more current file, another partner), a later as-of date, older CIAs: the
    # pack says nothing new about this group, so no new version and nobody gets a correction
    elsewhere = json.loads(json.dumps(full_content))
    elsewhere["inputs"]["partner_files"].append("e" * 64)
    elsewhere["about"]["partner_files"][0]["files"] += 1
    elsewhere["about"]["partner_files"][0]["partners"] += 1
    elsewhere["as_of"] = "2024-07-31"
    for c in elsewhere["action"]["cias"]:
        c["age_days"] = (c["age_days"] or 0) + 31
    unchanged = archive_pack(elsewhere, tmp_path, engine, pdf=False)
    assert (unchanged.version, unchanged.is_new) == (1, False)
    # every figure moved in its 14th significant digit (the same data summed in another order): no new version;
    # nor when the manifest's digest was recorded under an older rule (the stored content decides)
    noise = json.loads(json.dumps(full_content))
    moved = 0
    for factor in noise["cohesion"]["factors"]:
        for item in factor["items"]:
            for key in ("value", "lci", "uci", "benchmark_value", "difference"):
                if isinstance(item.get(key), float) and item[key]:
                    item[key] *= 1 + 3e-14
                    moved += 1
    assert moved > 0
    assert (archive_pack(noise, tmp_path, engine, pdf=False).is_new, moved) == (False, moved)
    manifest_path = tmp_path / QUARTER / GWENT / "manifest.json"
    recorded = json.loads(manifest_path.read_text(encoding="utf-8"))
    recorded["versions"][-1]["content_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(recorded), encoding="utf-8")
    assert archive_pack(full_content, tmp_path, engine, pdf=False).is_new is False
    # a figure that changes in its 4th significant digit is a change: checked on a copy of the archive
    changed = json.loads(json.dumps(full_content))
    item = next(i for f in changed["cohesion"]["factors"] for i in f["items"] if isinstance(i.get("value"), float)
                and i["value"])
    item["value"] *= 1.001
    import shutil

    shutil.copytree(tmp_path / QUARTER, tmp_path / "copy" / QUARTER)
    assert archive_pack(changed, tmp_path / "copy", engine, pdf=False).is_new
    v1_bytes = {f["path"]: (first.folder / f["path"]).read_bytes() for f in first.files}

    corrected = json.loads(json.dumps(full_content))
    area = next(a for a in corrected["tension"]["areas"] if a["area"]["name"] == "Torfaen")
    row = next(r for r in area["rows"] if r["community_type"] == "ethnic")
    row["current"] = {"scale": "eep6", "grade": "2", "eep": 2, "level4": "high"}
    row["is_cia_trigger"] = True
    corrected["inputs"]["partner_files"] = corrected["inputs"]["partner_files"] + ["f" * 64]
    second = archive_pack(corrected, tmp_path, engine, pdf=False)
    assert (second.version, second.is_new) == (2, True)
    kinds = {c["kind"]: c for c in second.changes}
    assert kinds["grades"]["n"] == 1
    assert kinds["partner_files"] == {"kind": "partner_files", "added": 1, "removed": 0}
    assert kinds["section"]["section"] == "tension" and kinds["section"]["after"] == kinds["section"]["before"] + 1
    manifest = json.loads((tmp_path / QUARTER / GWENT / "manifest.json").read_text(encoding="utf-8"))
    assert [v["version"] for v in manifest["versions"]] == [1, 2] and manifest["versions"][1]["replaces"] == 1
    en = (second.folder / "v2" / f"pack-{QUARTER}-{GWENT}-gold_silver-en.html").read_text(encoding="utf-8")
    cy = (second.folder / "v2" / f"pack-{QUARTER}-{GWENT}-gold_silver-cy.html").read_text(encoding="utf-8")
    assert "What changed since the previous version" in en and "Tension summary grades changed: 1" in en
    assert "replaces version 1" in en
    assert "What changed since the previous version" not in cy
    # the restricted-circulation summary stays one page with its list of changes, in the longer Welsh too
    from orchestration.lib.pack.render import VersionInfo, render_html, render_pdf
    from orchestration.lib.pack.tiers import for_tier

    summary = for_tier(corrected, "summary") | {"changes": second.changes}
    for language in ("en", "cy"):
        html, missing = render_html(summary, language, VersionInfo(2, "2024-07-01T00:00:00"), engine)
        assert not missing
        pdf = tmp_path / f"summary-{language}.pdf"
        pdf.write_bytes(render_pdf(html))
        assert len(_pdf_pages(pdf)) == 1, language
    for path, data in v1_bytes.items():
        assert (first.folder / path).read_bytes() == data


def test_a_corrected_ratings_file_for_a_past_quarter_gives_its_pack_a_new_version(built, archive, tmp_path):
    """The real path on a copy of the warehouse: the group re-sends its May 2024 ratings with Newport's ethnic
    communities at grade 2, the intake supersedes the old file, dbt rebuilds the tension marts, and the
    2024-Q2 pack for Newport becomes version 2, saying what changed."""
    import duckdb

    from orchestration.lib.pack.build import build_packs
    from orchestration.lib.partner_extracts.store import ingest_file
    from tests.dbt_build import dbt_build

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built["settings"].warehouse_path, warehouse)
    reports = tmp_path / "reports"
    shutil.copytree(archive / "newport", reports / QUARTER / "newport")
    shutil.copytree(archive / "torfaen", reports / QUARTER / "torfaen")
    before = json.loads((reports / QUARTER / "newport" / "manifest.json").read_text(encoding="utf-8"))

    corrected = corrected_demo_ratings(tmp_path, "W06000022", "ethnic", current_grade="2")
    con = duckdb.connect(str(warehouse))
    try:
        outcome = ingest_file(corrected, "tension_assessments", con, tmp_path / "restricted",
                              dt.datetime(2024, 7, 2, 9, 0))
    finally:
        con.close()
    assert outcome.outcome == "accepted", outcome
    dbt_build(warehouse, "stg_partner__tension_assessments+", tmp_path)

    result = build_packs(warehouse, reports, quarters=[QUARTER], groups=["newport", "torfaen"], pdf=False,
                         log=lambda m: None)
    assert not result["failed"]
    pack, other = result["packs"]
    # Torfaen's pack says nothing different (only the list of current files changed): no new version
    assert other["group"] == "torfaen" and not other["is_new"]
    assert pack["is_new"] and pack["version"] == before["current_version"] + 1
    kinds = {c["kind"]: c for c in pack["changes"]}
    assert kinds["grades"]["n"] == 1
    assert kinds["partner_files"] == {"kind": "partner_files", "added": 1, "removed": 1}
    manifest = json.loads((reports / QUARTER / "newport" / "manifest.json").read_text(encoding="utf-8"))
    assert [v["version"] for v in manifest["versions"]] == [1, 2]
    assert manifest["versions"][0] == before["versions"][0]  # the first version is kept as it was
    folder = reports / QUARTER / "newport" / "v2"
    en = (folder / f"pack-{QUARTER}-newport-gold_silver-en.html").read_text(encoding="utf-8")
    assert "replaces version 1" in en and "Tension summary grades changed: 1" in en
    assert "Partner files: 1 new or corrected, 1 superseded" in en
    assert "2 High ▲" in " ".join(re.sub(r"<[^>]+>", " ", en).split())
    for f in before["versions"][0]["files"]:
        assert hashlib.sha256((reports / QUARTER / "newport" / f["path"]).read_bytes()).hexdigest() == f["sha256"]


# ------------------------------------------------------------------------------------------------ tension table
def _dropped_in_ratings(as_of: dt.date) -> dict:
    """The latest rating (by the quarter's end) of every area and community in the demo ratings files, with
    the trend against the previous assessment of the same area and community, worked out here."""
    import tempfile

    from orchestration.lib.partner_extracts.demo import write_demo_extracts

    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for path in write_demo_extracts(Path(tmp)):
            if path.parent.name == "tension_assessments":
                with open(path, newline="", encoding="utf-8") as fh:
                    rows.extend(csv.DictReader(fh))
    rank = {"high": 1, "medium": 2, "low": 3, "none": 4}

    def severity(scale, grade):
        return int(grade) if scale == "eep6" else rank[grade]

    history: dict[tuple, list] = {}
    for r in rows:
        if dt.date.fromisoformat(r["assessment_date"]) <= as_of:
            history.setdefault((r["area_code"], r["community_type"]), []).append(r)
    latest = {}
    for key, items in history.items():
        items.sort(key=lambda r: r["assessment_date"])
        now = items[-1]
        prev = items[-2] if len(items) > 1 else None
        cell = {}
        for k in ("current_grade", "potential_grade"):
            if prev is None:
                trend = None
            else:
                a, b = severity(now["scale"], now[k]), severity(prev["scale"], prev[k])
                trend = "rising" if a < b else "falling" if a > b else "static"
            cell[k] = (now[k], trend, now["scale"])
        latest[key] = cell
    return latest


def _table_rows(page) -> list[dict]:
    return page.evaluate("""() => {
        const out = [];
        for (const table of document.querySelectorAll('#tension table.tension-table')) {
            const heading = table.previousElementSibling.tagName === 'H3' ? table.previousElementSibling
                : table.previousElementSibling.previousElementSibling;
            const area = heading.childNodes[0].textContent.trim();
            for (const tr of table.querySelectorAll('tbody tr')) {
                const td = tr.querySelectorAll('td');
                out.push({area, community: td[0].childNodes[0].textContent.trim(),
                          current: td[1].innerText.trim(), potential: td[2].innerText.trim()});
            }
        }
        return out;
    }""")


def test_the_tension_summary_table_is_the_ratings_dropped_in(browser, archive, warehouse):
    from orchestration.lib.pack.i18n import LABELS

    expected = _dropped_in_ratings(dt.date(2024, 6, 30))
    names = dict(warehouse.execute("select la_code, la_name from ref.local_authority").fetchall())
    page, requests = _open(browser, _file(archive, GWENT, "gold_silver", "en", "html"))
    shown = _table_rows(page)
    page.close()
    assert not requests
    assert len(shown) == len(expected) == 5 * 9
    level4 = LABELS["level4"]
    for (area_code, community), cell in expected.items():
        (row,) = [r for r in shown if r["area"] == names[area_code]
                  and r["community"] == LABELS["community_type"][community]]
        for column, key in (("current", "current_grade"), ("potential", "potential_grade")):
            grade, trend, scale = cell[key]
            text = row[column]
            if scale == "eep6":
                assert text.split()[0] == grade, (area_code, community, column, text)
            else:
                assert text.startswith(level4[grade]), (area_code, community, column, text)
            arrows = [a for a in "▲▼►" if a in text]
            assert arrows == ([ARROWS[trend]] if trend else []), (area_code, community, column, text)


def test_the_pack_names_what_the_console_used_to_keep(archive):
    """The tension findings `make run` printed now reach the group: the missing and overdue CIAs, the risk
    of 9 without an action plan, the planted hate-incident spike (14 against 0.4 expected), rising ratings."""
    html = _file(archive, "newport", "gold_silver", "en", "html").read_text(encoding="utf-8")
    assert "Overdue" in html and "CIA-2024-001" in html
    assert "RISK-2024-002" in html
    torfaen = _file(archive, "torfaen", "gold_silver", "en", "html").read_text(encoding="utf-8")
    assert "Required but missing" in torfaen
    content = json.loads((archive / "newport" / json.loads(
        (archive / "newport" / "manifest.json").read_text())["versions"][-1]["content"]).read_text())
    spike = next(s for s in content["evidence"]["spikes"] if s["area"]["name"] == "Newport 018C"
                 and s["community_type"] == "ethnic")
    assert spike["observed"] == 14 and spike["expected"] == pytest.approx(0.381, abs=0.001)
    assert spike["exceedance_p"] < 1e-15 and spike["trend"][-1]["is_flagged"]
    assert any(r["current_trend"] == "rising" for a in content["tension"]["areas"] for r in a["rows"])


def test_about_the_data_keeps_only_the_caveats_that_touch_the_figures_shown(warehouse, full_content):
    """The build has two failing data-quality limits (freshness of the age and Welsh-speaker series; crime-rate
    intervals of a few city-centre LSOAs outside Gwent wider than the catalogue's limit); the Gwent pack shows
    none of those figures, so it carries neither caveat; it does carry the force trend and the repeated Crime
    IDs behind its crime figures."""
    failing = warehouse.execute("select distinct suite from marts.dq_results where not success order by 1").fetchall()
    assert failing == [("marts_fct_indicator_value",), ("marts_fct_indicator_value__freshness",)]
    shown = {i["indicator_id"] for f in full_content["cohesion"]["factors"] for i in f["items"]}
    assert not shown & {"pct_aged_0_15", "pct_aged_16_24", "pct_aged_25_64", "pct_aged_65_plus", "pct_welsh_speakers"}
    kinds = [c["kind"] for c in full_content["about"]["caveats"]]
    assert "data_quality" not in kinds
    assert "force_trend" in kinds and "repeated_crime_ids" in kinds
    (repeated,) = [c for c in full_content["about"]["caveats"] if c["kind"] == "repeated_crime_ids"]
    (coverage,) = warehouse.execute(
        "select sum(repeated_crime_id_rows_dropped) from marts.fct_crime_monthly_coverage where month = '2024-05-01'"
    ).fetchall()[0:1]
    assert (repeated["month"], repeated["rows"]) == ("2024-05", coverage[0])
    assert {i["indicator_id"] for i in full_content["about"]["indicators"]} == shown


def test_the_evidence_figures_are_recomputed_from_the_marts_with_scipy(archive, warehouse):
    """Section 3's own statistics: quarterly incidents and expectation per community (sums of the monthly
    evidence rows) and per hate strand (counted here from fct_incident), exceedance probabilities by scipy."""
    import scipy.stats

    manifest = json.loads((archive / "newport" / "manifest.json").read_text(encoding="utf-8"))
    content = json.loads((archive / "newport" / manifest["versions"][-1]["content"]).read_text(encoding="utf-8"))
    volumes = content["evidence"]["volumes"]
    assert len(volumes) == 9  # eight community types and the overall row
    for v in volumes:
        observed, expected = warehouse.execute(
            "select sum(incident_count), sum(expected) from marts.fct_tension_evidence where area_level = 'la' "
            "and area_code = 'W06000022' and community_type = ? and month between '2024-04-01' and '2024-06-30'",
            [v["community_type"]]).fetchall()[0]
        assert v["observed"] == observed and v["expected"] == pytest.approx(expected, rel=1e-12)
        assert v["exceedance_p"] == pytest.approx(scipy.stats.poisson.sf(observed - 1, expected), rel=1e-9)
    strands = {s["hate_strand"]: s for s in content["evidence"]["strands"]}
    counts = warehouse.execute("""
        select s, count(*) filter (where occurred_on >= '2024-04-01'), count(*) filter (where occurred_on < '2024-04-01')
        from marts.fct_incident, unnest(hate_strands) as t(s)
        where is_hate and la_code = 'W06000022' and occurred_on between '2023-04-01' and '2024-06-30' group by 1
    """).fetchall()
    assert {c[0] for c in counts} == set(strands)
    for strand, observed, baseline in counts:
        expected = (baseline + 0.5) / 366 * 91  # 2023-04-01..2024-03-31 is 366 days; the quarter 91
        s = strands[strand]
        assert (s["observed"], s["baseline_count"]) == (observed, baseline)
        assert s["expected"] == pytest.approx(expected, rel=1e-12)
        assert s["exceedance_p"] == pytest.approx(scipy.stats.poisson.sf(observed - 1, expected), rel=1e-9)


# ------------------------------------------------------------------------------------------------ tiers
def _restricted(full: dict, warehouse) -> dict:
    """What must not appear below Gold/Silver: free text, risk descriptions and subjects, LSOA codes and names."""
    texts = {t.strip() for t in restricted_texts(full) if t.strip()}
    las = [la["code"] for la in full["group"]["las"]]
    lsoas = warehouse.execute(
        "select lsoa21_code, lsoa21_name, la_name, la_name_cy from marts.dim_geography where la_code in "
        "(select unnest(?::varchar[]))", [las]).fetchall()
    names = {n for _, n, _, _ in lsoas} | {n.replace(la, cy, 1) for _, n, la, cy in lsoas}
    return {"texts": texts, "codes": {c for c, *_ in lsoas}, "names": names}


@pytest.mark.parametrize("tier", ["bronze", "summary"])
def test_lower_tiers_hold_nothing_restricted(browser, archive, full_content, warehouse, tier):
    restricted = _restricted(full_content, warehouse)
    assert len(restricted["texts"]) > 10 and len(restricted["codes"]) == 374
    for language in ("en", "cy"):
        html_path = _file(archive, GWENT, tier, language, "html")
        page, requests = _open(browser, html_path)
        visible = page.evaluate("document.body.innerText")
        page.close()
        assert not requests
        sources = {"html": html_path.read_text(encoding="utf-8"), "visible": visible,
                   "pdf": "\n".join(_pdf_pages(_file(archive, GWENT, tier, language, "pdf")))}
        for where, text in sources.items():
            flat = " ".join(text.split())
            assert not re.search(r"W01\d{6}", text), (tier, language, where)
            assert "SENSITIVE" not in text and "SENSITIF" not in text, (tier, language, where)
            for name in restricted["names"]:
                assert not re.search(rf"\b{re.escape(name)}\b", flat), (tier, language, where, name)
            for snippet in restricted["texts"]:
                probe = " ".join(snippet.split())[:40]
                assert probe not in flat, (tier, language, where, probe)
        if tier == "summary":
            wards = {w for (w,) in warehouse.execute(
                "select distinct ward_name from marts.dim_geography where la_code in (select unnest(?::varchar[])) "
                "and ward_name not in (select la_name from ref.local_authority)",
                [[la["code"] for la in full_content["group"]["las"]]]).fetchall()}
            for ward in wards:
                assert not re.search(rf"\b{re.escape(ward)}\b", " ".join(visible.split())), (language, ward)


def test_bronze_shows_partner_counts_only_from_the_shared_tier(archive, full_content, warehouse):
    from orchestration.lib.pack.tiers import for_tier

    bronze = for_tier(full_content, "bronze")
    assert bronze["evidence"]["volumes"] == [] and bronze["evidence"]["strands"] == []
    assert all(set(s) == {"area", "la", "ward", "community_type", "month", "volume_level", "trend"} and not s["trend"]
               for s in bronze["evidence"]["spikes"])
    assert all(s["area"]["level"] in ("la", "ward") for s in bronze["evidence"]["spikes"])
    assert all("observed" not in d and "expected" not in d for d in bronze["evidence"]["disagreements"])
    assert bronze["forward"]["future_reports"] == []
    shared = {(r[0], r[1], r[2]): (r[3], r[4]) for r in warehouse.execute(
        "select la_code, quarter, incident_group, incident_count, is_suppressed from marts.shared_incident_summary"
    ).fetchall()}
    for cell in bronze["evidence"]["shared"]:
        count, suppressed = shared[(cell["la"]["code"], cell["quarter"], cell["incident_group"])]
        assert (cell["count"], cell["is_suppressed"]) == (count, suppressed)
        assert cell["count"] is None or cell["count"] == 0 or cell["count"] >= cell["threshold"]
    assert any(c["is_suppressed"] for c in bronze["evidence"]["shared"])  # the demo has small counts to hide
    # no suppressed cell can be worked back from what is shown: per LA and quarter, a shown total with
    # exactly one suppressed group would give it away
    by_la_quarter: dict[tuple, list] = {}
    for cell in bronze["evidence"]["shared"]:
        by_la_quarter.setdefault((cell["la"]["code"], cell["quarter"]), []).append(cell)
    for cells in by_la_quarter.values():
        total = next(c for c in cells if c["incident_group"] == "all")
        hidden = [c for c in cells if c["incident_group"] != "all" and c["is_suppressed"]]
        assert not (len(hidden) == 1 and not total["is_suppressed"])
    for count in bronze["forward"]["future_reports_by_la"]:
        assert count["count"]["value"] is None or count["count"]["value"] == 0 or count["count"]["value"] >= 5


# ------------------------------------------------------------------------------------------------ formats
@pytest.mark.parametrize("tier", ["gold_silver", "bronze", "summary"])
def test_every_pdf_page_carries_marking_group_quarter_and_page_number(archive, tier):
    marking = {"gold_silver": ("OFFICIAL-SENSITIVE", "SWYDDOGOL-SENSITIF")}.get(tier, ("OFFICIAL", "SWYDDOGOL"))
    for language, group_name, quarter in (("en", "Gwent police area", "2024 Q2"),
                                          ("cy", "Ardal Heddlu Gwent", None)):
        pages = _pdf_pages(_file(archive, GWENT, tier, language, "pdf"))
        assert (len(pages) == 1) if tier == "summary" else (len(pages) > 3)
        for number, text in enumerate(pages, start=1):
            assert marking[0 if language == "en" else 1] in text, (language, number)
            assert group_name in text, (language, number)
            if quarter:
                assert quarter in text, (language, number)
            assert f"{number} / {len(pages)}" in text, (language, number)


def test_the_pages_render_offline_with_their_maps_and_trend_charts(browser, archive, full_content):
    flagged_lsoas = {f["area"]["code"] for f in full_content["crime"]["flags"] if f["geography_level"] == "lsoa"}
    page, requests = _open(browser, _file(archive, GWENT, "gold_silver", "en", "html"))
    figures = page.evaluate("""() => ({
        mapAreas: document.querySelectorAll('#crime svg.cm-map path.area').length,
        marked: [...document.querySelectorAll('#crime svg.cm-map path.area.exception')].map(p => p.dataset.code),
        markedBox: [...document.querySelectorAll('#crime svg.cm-map path.area.exception')].every(p => {
            const b = p.getBBox(); return b.width > 0 && b.height > 0; }),
        charts: document.querySelectorAll('svg.cm-trend').length,
        crimeRows: document.querySelectorAll('#crime table tbody tr').length,
    })""")
    png = page.screenshot(full_page=True)
    page.close()
    assert not requests
    assert figures["mapAreas"] == 374 and set(figures["marked"]) == flagged_lsoas and figures["markedBox"]
    assert figures["crimeRows"] == len(full_content["crime"]["flags"])
    assert figures["charts"] == len(full_content["crime"]["flags"]) + len(full_content["evidence"]["spikes"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 100_000


# ------------------------------------------------------------------------------------------------ Welsh
def _english_fragments() -> list[str]:
    """Literal English pieces (12+ characters) of every catalogue string that has a different Welsh."""
    from orchestration.lib.pack.i18n import LABELS, welsh_catalogue

    welsh = welsh_catalogue()
    strings = set(welsh) | {v for kind in LABELS.values() for v in kind.values()}
    fragments = set()
    for s in strings:
        if welsh.get(s) == s:
            continue
        for piece in re.split(r"%\(\w+\)s", s.replace("%%", "%")):
            piece = " ".join(piece.split()).strip(" .,:;()–-")
            if len(piece) >= 12:
                fragments.add(piece)
    return sorted(fragments)


def test_no_fixed_english_string_survives_in_the_welsh_pack(browser, archive, full_content):
    fragments = _english_fragments()
    assert len(fragments) > 150
    # free text from partners is what they wrote (redacted), in their language: not a fixed string
    data_text = " ".join(" ".join(t.split()) for t in restricted_texts(full_content))
    for tier in ("gold_silver", "bronze", "summary"):
        page, requests = _open(browser, _file(archive, GWENT, tier, "cy", "html"))
        visible = " ".join(page.evaluate("document.body.innerText").split())
        title = page.title()
        page.close()
        assert not requests
        pdf = " ".join(" ".join(_pdf_pages(_file(archive, GWENT, tier, "cy", "pdf"))).split())
        for text in (visible + " " + title, pdf):
            for fragment in fragments:
                if fragment in text:
                    assert fragment in data_text, (tier, fragment)
        assert "Ardal Heddlu Gwent" in visible and "Mehefin 2024" in visible
        if tier != "summary":
            assert "Casnewydd" in visible and "Sir Fynwy" in visible


def test_a_dataset_whose_refresh_was_rejected_is_named_stale_in_about_the_data(built, tmp_path):
    """A source whose latest refresh was rejected keeps its last good data, and the pack says so: which dataset,
    when the refresh failed and which load its figures come from; a dataset never loaded is 'missing'."""
    import duckdb

    from orchestration.lib.pack.model import Quarter, build_pack
    from orchestration.lib.pack.render import EngineRules, VersionInfo, render_html
    from orchestration.lib.pack.tiers import for_tier

    copy = tmp_path / "w.duckdb"
    shutil.copyfile(built["settings"].warehouse_path, copy)
    con = duckdb.connect(str(copy))
    try:
        good = con.execute("select max(retrieved_at) from raw.load_log where dataset = 'wimd2019_index_and_domain_scores' "
                           "and outcome in ('loaded', 'unchanged')").fetchone()[0]
        later = good + dt.timedelta(days=3)
        con.execute("insert into raw.load_log (load_id, source, dataset, location, retrieved_at, licence, mode, outcome, "
                    "message) values ('t1', 'welsh_government_wimd', 'wimd2019_index_and_domain_scores', 'https://example.invalid/wimd.ods', ?, 'OGL', "
                    "'live', 'rejected', 'HTTP 404'), ('t2', 'ons', 'never_loaded', 'x', ?, 'OGL', 'live', "
                    "'rejected', 'HTTP 404')", [later, later])
        pack = build_pack(con, GWENT, Quarter.parse(QUARTER))
    finally:
        con.close()
    stale = {c["dataset"]: c for c in pack["about"]["caveats"] if c["kind"] == "stale_source"}
    wimd = "welsh_government_wimd wimd2019_index_and_domain_scores"
    assert set(stale) == {wimd, "ons never_loaded"}
    assert stale[wimd]["failed_on"] == later.date().isoformat()  # the pack content is JSON: dates as text
    assert stale[wimd]["good_on"] == good.date().isoformat()
    assert stale["ons never_loaded"]["good_on"] is None
    for language, words in (("en", "could not be refreshed on"), ("cy", "Nid oedd modd diweddaru")):
        html, missing = render_html(for_tier(pack, "gold_silver"), language, VersionInfo(1, "2024-07-01T00:00:00"),
                                    EngineRules(alpha=0.05, min_events=5))
        assert not missing and words in html and wimd in html


def test_every_pack_links_the_method_page_beside_it_and_names_the_fdr_families(archive, warehouse):
    """The method annex (and the summary tier's note) link the method page written in the version's folder
    (exception_method.html, from the dbt docs block); section 5 says false discovery rate control runs within each
    crime group, with each family's size (Welsh and English)."""
    from orchestration.lib.pack.i18n import Lang

    sizes = dict(warehouse.execute(
        """select crime_group, count(*) filter (where is_tested) from marts.fct_crime_exception
           where geography_level = 'lsoa' and quarter_start = date '2024-04-01' group by 1""").fetchall())
    for group in ("newport", GWENT, "conwy"):
        for tier in ("gold_silver", "bronze", "summary"):
            for language in ("en", "cy"):
                path = _file(archive, group, tier, language, "html")
                html = path.read_text(encoding="utf-8")
                hrefs = re.findall(r'<a href="([^"]+)"', html)
                assert "exception_method.html" in hrefs, (group, tier, language)
                assert all((path.parent / h).is_file() for h in hrefs)
                if tier != "summary" and group != "conwy":
                    L = Lang(language)
                    for crime_group, n in sizes.items():
                        text = L.gettext("%(group)s: %(n)s tests", group=L.label("crime_group", crime_group), n=L.int(n))
                        assert text.replace("'", "&#39;") in html, (group, tier, language, text)
    manifest = json.loads((archive / GWENT / "manifest.json").read_text(encoding="utf-8"))
    page = archive / GWENT / manifest["versions"][-1]["method_page"]
    assert page.is_file() and "Benjamini" in page.read_text(encoding="utf-8")
    assert page.stat().st_mode & 0o077 == 0  # owner-only, like the rest of the archive
