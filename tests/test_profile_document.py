"""The annual cohesion profile document (guide, Part 2, Step 5), HTML and PDF, Welsh and English: the first year of
each series is the benchmark, later years show change, each factor is reported separately.

Built for one local authority (Newport: Gwent's police.uk files run to mid-2024, so it has crime trends and the LSOAs
that changed most) from the session's warehouse (``built``; or ``COHESION_ATLAS_TEST_WAREHOUSE``), and read back as a
council officer would: the PDF's text (pypdf), the HTML's tables.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import duckdb
import pytest
from markupsafe import escape
from pypdf import PdfReader

from orchestration.lib.atlas.text import AtlasLang
from orchestration.lib.pack.i18n import LABELS

NEWPORT = "W06000022"


@pytest.fixture(scope="module")
def warehouse_path(atlas_warehouse_path) -> Path:
    return atlas_warehouse_path


@pytest.fixture(scope="module")
def mart(warehouse_path) -> list[dict]:
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        rel = con.execute("select * from marts.mart_cohesion_profile where la_code = ? order by indicator_id", [NEWPORT])
        cols = [d[0] for d in rel.description]
        return [dict(zip(cols, r)) for r in rel.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def docs(warehouse_path, tmp_path_factory):
    from orchestration.lib.atlas import build_profile_documents

    out = tmp_path_factory.mktemp("profiles")
    result = build_profile_documents(warehouse_path, out, la_codes=[NEWPORT])
    return {"dir": out, "result": result, "built_on": datetime.date.today()}


def pdf_text(path: Path) -> tuple[list[str], str]:
    reader = PdfReader(str(path))
    pages = [page.extract_text() or "" for page in reader.pages]
    return pages, " ".join(" ".join(pages).split())


def test_one_document_per_language_and_format(docs):
    result = docs["result"]
    assert sorted(result["pages"]["profile_html"]) == [f"cy/profile/{NEWPORT}.html", f"en/profile/{NEWPORT}.html"]
    assert sorted(result["pages"]["profile_pdf"]) == [f"cy/profile/{NEWPORT}.pdf", f"en/profile/{NEWPORT}.pdf"]
    for rel in result["pages"]["profile_html"] + result["pages"]["profile_pdf"]:
        path = docs["dir"] / rel
        assert path.stat().st_size > 10_000
    assert (docs["dir"] / f"en/profile/{NEWPORT}.pdf").read_bytes().startswith(b"%PDF")
    assert result["missing"] == set() and result["untranslated"] == set()
    assert not [p for p in docs["dir"].rglob("*.tmp")]


def outline(path: Path) -> list[tuple[int, str]]:
    """The PDF's bookmarks (WeasyPrint makes them from the headings): (depth, title) in reading order."""
    out: list[tuple[int, str]] = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                out.append((depth, item.title))

    walk(PdfReader(str(path)).outline, 0)
    return out


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_the_pdf_reports_each_factor_separately_in_the_guides_order(docs, mart, lang):
    L = AtlasLang(lang)
    path = docs["dir"] / f"{lang}/profile/{NEWPORT}.pdf"
    pages, text = pdf_text(path)
    assert len(pages) >= 8
    title = L.gettext("Annual cohesion profile: %(area)s", area="Casnewydd" if lang == "cy" else "Newport")
    assert title in " ".join(pages[0].split())
    assert L.gettext("How to read this profile") in text
    # page numbers in the margin: "Page 1 / N" (Tudalen in Welsh)
    assert re.search(rf"{L.gettext('Page')} 1 / {len(pages)}", " ".join(pages[0].split()))
    # the document's outline: a section per factor, in the guide's order, holding that factor's indicators
    marks = outline(path)
    assert marks[0] == (0, title)
    sections = [t for d, t in marks if d == 1]
    factors = [L.factor(f) for f in LABELS["factor"]]
    assert [t for t in sections if t in factors] == factors
    current = None
    under: dict[str, list[str]] = {}
    for depth, t in marks:
        if depth == 1:
            current = t
        elif depth == 2 and current in factors:
            under.setdefault(current, []).append(t)
    for r in mart:  # the mart's label is the catalogue's, shown in Welsh through the message catalogue
        assert L.text(r["label"]) in under[L.factor(r["cohesion_factor"])], r["indicator_id"]
    assert sum(len(v) for v in under.values()) == len(mart)


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_no_page_ends_on_a_heading_whose_content_is_on_the_next(docs, lang):
    """Read in a PDF reader (pypdf puts the page's running header and footer last): the last line of a page's
    content is never a factor's heading row in the summary table, a section heading or a table caption. (Page 1
    used to end on the summary's first factor row, "Age", its indicators on page 2.)"""
    L = AtlasLang(lang)
    headings = {L.factor(f) for f in LABELS["factor"]} | {
        L.gettext("Summary: benchmark, latest and change"), L.gettext("Every indicator of the profile, by cohesion factor")}
    reader = PdfReader(str(docs["dir"] / f"{lang}/profile/{NEWPORT}.pdf"))
    assert len(reader.pages) >= 8
    for number, page in enumerate(reader.pages, 1):
        lines = [line.strip() for line in (page.extract_text() or "").splitlines() if line.strip()]
        assert re.search(rf"{L.gettext('Page')} {number} / {len(reader.pages)}", lines[-1])  # the footer is last
        assert lines[-3] not in headings, f"page {number} ends on {lines[-3]!r}, its content on the next page"


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_benchmark_latest_and_change_are_the_marts(docs, mart, lang):
    """Each indicator's benchmark, latest figure and change since the benchmark, as the mart has them."""
    L = AtlasLang(lang)
    doc = (docs["dir"] / f"{lang}/profile/{NEWPORT}.html").read_text(encoding="utf-8")
    summary = doc[doc.index('<table class="summary-table">'):]
    summary = summary[:summary.index("</table>")]
    assert len(mart) >= 20
    for r in mart:
        row = re.search(rf'<tr data-indicator="{r["indicator_id"]}">(.*?)</tr>', summary, re.S)
        assert row, r["indicator_id"]
        cells = re.findall(r"<td>(.*?)</td>", row[1], re.S)
        assert cells[0].startswith(L.value(r["benchmark_value"], r["unit"]))
        assert L.period(r["benchmark_period_label"]) in cells[0]
        assert cells[1].startswith(L.value(r["latest_value"], r["unit"]))
        if r["change_since_benchmark"] is not None:
            # the change with the exception engine's verdict beside it
            assert cells[2].startswith(L.change(r["change_since_benchmark"], r["unit"]) + "<br>")
            assert f'data-change-verdict="{r["change_verdict"]}"' in cells[2]
            assert str(escape(L.change_verdict(r["change_verdict"], r["change_test_method"], r["change_q_value"]))) in cells[2]
        elif "series break" in (r["change_note"] or ""):
            assert L.gettext("Series break: not compared") in cells[2]
        elif (r["change_note"] or "").startswith("first year"):
            # the first year is the benchmark: later years will show change
            assert L.gettext("Benchmark year") in cells[2]
            assert r["benchmark_period_label"] == r["latest_period_label"]
        assert L.assessment(r["assessment_vs_wales"]) in cells[3]


def test_the_pdf_carries_the_figures_the_lsoas_and_the_series_breaks(docs, mart):
    L = AtlasLang("en")
    _pages, text = pdf_text(docs["dir"] / f"en/profile/{NEWPORT}.pdf")
    crime = next(r for r in mart if r["indicator_id"] == "all_crime_rate")
    assert f"{L.value(crime['benchmark_value'], crime['unit'])} (12 months to 31 December 2022)" in text
    assert L.change(crime["change_since_benchmark"], crime["unit"]) in text
    for r in mart:
        if r["lsoas_most_changed_names"]:
            for name in r["lsoas_most_changed_names"].split(";"):
                assert name in text
    assert "Series break" in text and "Mid-2020 → Census 2021" in text
    assert "Source:" in text and "Metadata limit:" in text


def test_the_document_says_how_change_is_judged_and_links_the_method(docs, mart):
    """The verdicts and the ranking rule are stated in the document (both languages), the LSOAs most changed carry
    their change, and the HTML links the method page (written beside the documents); the PDF names the file."""
    method = docs["dir"] / "exception_method.html"
    assert method.is_file() and "exception_method" in method.read_text(encoding="utf-8")
    for lang in ("en", "cy"):
        L = AtlasLang(lang)
        path = docs["dir"] / f"{lang}/profile/{NEWPORT}.html"
        doc = path.read_text(encoding="utf-8")
        hrefs = re.findall(r'<a href="([^"]*exception_method\.html)"', doc)
        assert hrefs and all((path.parent / h).resolve() == method.resolve() for h in hrefs)
        flat = " ".join(doc.split())
        assert str(escape(L.gettext("LSOAs that changed most: each LSOA's own change since the benchmark is tested in "
                                    "the same way, against every LSOA of Wales with the same periods. Only LSOAs "
                                    "whose change is significant and at least the materiality threshold are listed, "
                                    "up to three, largest change first. Ranking the raw change would list the LSOAs "
                                    "with the fewest residents, whose rates move most by chance."))) in flat
        for r in mart:
            if r["lsoas_most_changed"]:
                assert L.gettext("%(n)s of the %(tested)s LSOAs tested changed significantly and by at least the "
                                 "materiality threshold; the largest changes:", n=L.int(r["lsoas_changed_significantly"]),
                                 tested=L.int(r["lsoas_tested_for_change"])).replace("'", "&#39;") in flat
    _pages, text = pdf_text(docs["dir"] / f"en/profile/{NEWPORT}.pdf")
    assert "exception_method.html" in text and "Significant rise" in text


def test_the_welsh_document_is_in_welsh(docs):
    from tests.test_pages_in_browser import english_left_in

    _pages, text = pdf_text(docs["dir"] / f"cy/profile/{NEWPORT}.pdf")
    left = english_left_in(text, [])
    assert not left, left
    assert "Proffil cydlyniant blynyddol: Casnewydd" in text and "Casnewydd 014B" in text


def test_nothing_in_the_documents_loads_from_outside(docs):
    for path in docs["dir"].rglob("*.html"):
        doc = path.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', doc)
        assert "<script" not in doc and "@import" not in doc
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", doc):
            assert url.startswith("data:")


def test_an_unknown_local_authority_is_refused(warehouse_path, tmp_path):
    from orchestration.lib.atlas import build_profile_documents

    with pytest.raises(ValueError, match="W06999999"):
        build_profile_documents(warehouse_path, tmp_path, la_codes=["W06999999"], pdf=False)


def test_an_unchanged_document_is_copied_from_the_last_site_not_rendered_again(docs, warehouse_path, tmp_path):
    """A PDF takes WeasyPrint 6-10 s: a rebuild whose HTML for a document is byte-identical copies the last PDF."""
    from orchestration.lib.atlas import model
    from orchestration.lib.atlas.profile_doc import write_profiles

    data = model.load(warehouse_path)
    data.built_on = docs["built_on"]  # the same day as the documents being reused
    again = write_profiles(data, tmp_path / "again", [NEWPORT], pdf=True, previous=docs["dir"])
    assert again["pdfs_rendered"] == 0
    for lang in ("en", "cy"):
        rel = f"{lang}/profile/{NEWPORT}.pdf"
        assert (tmp_path / "again" / rel).read_bytes() == (docs["dir"] / rel).read_bytes()


def test_a_changed_document_is_rendered_and_the_others_reused(tmp_path):
    from orchestration.lib.atlas.profile_doc import _record_sources, _reuse_unchanged

    previous, new = tmp_path / "previous", tmp_path / "new"
    jobs = [("en/profile/W06000001.pdf", "<p>a</p>"), ("cy/profile/W06000001.pdf", "<p>b</p>")]
    for rel, _html in jobs:
        (previous / rel).parent.mkdir(parents=True, exist_ok=True)
        (previous / rel).write_bytes(b"%PDF " + rel.encode())
    _record_sources(jobs, previous)
    changed = [jobs[0], ("cy/profile/W06000001.pdf", "<p>b, changed</p>")]
    assert _reuse_unchanged(changed, new, previous) == [changed[1]]
    assert (new / jobs[0][0]).read_bytes() == b"%PDF en/profile/W06000001.pdf"
    assert not (new / changed[1][0]).exists()
    # no previous site, or one without the record of its sources: everything is rendered
    assert _reuse_unchanged(changed, tmp_path / "n1", None) == changed
    assert _reuse_unchanged(changed, tmp_path / "n2", tmp_path / "nothing") == changed


def test_the_pdfs_render_while_the_rest_of_the_site_is_built_and_a_failure_stops_them(warehouse_path, tmp_path,
                                                                                       monkeypatch):
    """write_profiles starts the PDF workers first and runs ``meanwhile`` (the atlas's pages) while they render; if
    that fails, the workers are stopped and their temporary inputs removed, and the error is the caller's."""
    from orchestration.lib.atlas import model, profile_doc

    started = []

    class Recorded(profile_doc.PdfRendering):
        def __init__(self, jobs):
            super().__init__(jobs)
            started.append(self)

    monkeypatch.setattr(profile_doc, "PdfRendering", Recorded)
    monkeypatch.setattr(profile_doc, "_workers", lambda: 2)
    data = model.load(warehouse_path)
    codes = [NEWPORT, "W06000021"]  # 4 documents: rendered by worker processes

    def broken():
        (rendering,) = started
        assert rendering.procs and all(p.poll() is None for p in rendering.procs)  # rendering meanwhile
        raise RuntimeError("page build failed")

    with pytest.raises(RuntimeError, match="page build failed"):
        profile_doc.write_profiles(data, tmp_path / "site", codes, pdf=True, meanwhile=broken)
    (rendering,) = started
    assert all(p.returncode is not None for p in rendering.procs)
    assert not Path(rendering.tmp.name).exists()

    ran = []
    result = profile_doc.write_profiles(data, tmp_path / "site2", codes, pdf=True, meanwhile=lambda: ran.append(1))
    assert ran == [1] and result["pdfs_rendered"] == 4
    for rel in result["pages"]["profile_pdf"]:
        assert (tmp_path / "site2" / rel).read_bytes().startswith(b"%PDF")
    assert not Path(started[1].tmp.name).exists()
