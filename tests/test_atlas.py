"""The static, bilingual cohesion atlas (orchestration/lib/atlas): what a council research officer or a police
analyst opens from the folder with the network off, in Welsh or English.

The atlas is built once per module from the session's warehouse (the ``built`` fixture; set
``COHESION_ATLAS_TEST_WAREHOUSE`` to a built warehouse file to run these tests without building one). Every
figure checked here is compared with a direct query of the marts, never with the atlas's own code.
"""

from __future__ import annotations

import csv
import io
import math
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import polars as pl
import pytest
from markupsafe import escape

from orchestration.lib.atlas.text import AtlasLang
from tests.browser import assert_clean, check_page

REPO = Path(__file__).resolve().parents[1]
ATLAS_SRC = REPO / "orchestration" / "lib" / "atlas"
NEWPORT = "W06000022"  # Gwent: police.uk to mid-2024, so crime trends and LSOAs most changed
CARDIFF = "W06000015"  # South Wales: police.uk for 2022 only, no 12-month crime profile
PARTNER_TABLES = ("fct_incident", "fct_tension", "fct_cia", "fct_risk", "shared_incident_summary")


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def warehouse_path(atlas_warehouse_path) -> Path:
    return atlas_warehouse_path


@pytest.fixture(scope="module")
def con(warehouse_path):
    c = duckdb.connect(str(warehouse_path), read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def atlas(request, warehouse_path, tmp_path_factory):
    """The whole site: the one the session's build wrote (Dagster asset reports/cohesion_atlas, PDFs included),
    or, against COHESION_ATLAS_TEST_WAREHOUSE, one built here with the profile PDFs left out
    (tests/test_profile_document.py renders them)."""
    from orchestration.lib.atlas.site import build_atlas

    if not os.environ.get("COHESION_ATLAS_TEST_WAREHOUSE"):
        out = request.getfixturevalue("built")["settings"].atlas_dir
        return {"dir": out, "summary": json.loads((out / "manifest.json").read_text(encoding="utf-8"))}
    out = tmp_path_factory.mktemp("atlas") / "atlas"
    summary = build_atlas(warehouse_path, out, pdf=False)
    return {"dir": out, "summary": summary}


def rows(con, sql: str, params=None) -> list[dict]:
    rel = con.execute(sql, params or [])
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r)) for r in rel.fetchall()]


class _Page(HTMLParser):
    """Text, links and the elements the tests look at, from one page (no browser needed)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []  # visible text, minus elements marked lang="en" (data shown in English)
        self.links: list[str] = []
        self.srcs: list[str] = []
        self.stack: list[tuple[str, bool]] = []
        self.skip = 0
        self.en_depth = 0
        self.lang = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang", "")
        for key in ("href",):
            if key in a:
                self.links.append(a[key])
        if "src" in a:
            self.srcs.append(a["src"])
        if tag in self.VOID:
            return
        english = a.get("lang") == "en"
        hidden = tag in ("style", "script")
        self.stack.append((tag, english, hidden))
        self.en_depth += english
        self.skip += hidden

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        if "href" in a:
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        while self.stack:
            t, english, hidden = self.stack.pop()
            self.en_depth -= english
            self.skip -= hidden
            if t == tag:
                break

    def handle_data(self, data):
        if not self.skip and not self.en_depth:
            self.text.append(data)


def parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def html(atlas, rel: str) -> str:
    return (atlas["dir"] / rel).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ structure
def test_every_page_type_is_built_in_both_languages_with_identical_structure(atlas):
    s = atlas["summary"]
    pages = s["pages"]
    for kind in ("home", "area", "indicator", "profile_html"):
        assert pages[kind], kind
    assert len(pages["area"]) == 44 and len(pages["profile_html"]) == 44  # 22 local authorities × 2 languages
    assert "en/index.html" in pages["home"] and "cy/index.html" in pages["home"]
    assert pages["method"] == ["exception_method.html"]  # the method page at the root is listed like any page
    assert (atlas["dir"] / "index.html").is_file()
    every = [p for paths in pages.values() for p in paths]
    en = {p[3:] for p in every if p.startswith("en/")}
    cy = {p[3:] for p in every if p.startswith("cy/")}
    assert en == cy and len(en) > 300
    for p in every:
        assert (atlas["dir"] / p).is_file(), p
    assert s["downloads"] and all((atlas["dir"] / d).is_file() for d in s["downloads"])
    assert all(d.startswith("downloads/") for d in s["downloads"])
    assert s["seconds"] > 0 and s["bytes"] > 0


def test_each_page_links_to_its_twin_in_the_other_language_and_says_its_language(atlas):
    for rel in ("en/index.html", "cy/area/W06000022.html", "en/indicator/pct_ethnic_minority.html",
                "cy/indicator/asb_rate/W06000022.html", "en/about.html", "cy/profile/W06000022.html"):
        page = atlas["dir"] / rel
        doc = html(atlas, rel)
        lang = rel[:2]
        other = "cy" if lang == "en" else "en"
        assert f'<html lang="{lang}">' in doc
        twins = re.findall(rf'href="([^"]+)"[^>]*hreflang="{other}"', doc)
        assert twins, rel
        for href in twins:
            target = (page.parent / href).resolve()
            assert target.is_file() and target.relative_to(atlas["dir"].resolve()).as_posix() == other + rel[2:]


def test_all_links_are_relative_and_resolve_and_nothing_is_loaded_from_outside(atlas):
    root = atlas["dir"].resolve()
    files = sorted(root.rglob("*.html"))
    assert len(files) > 600
    for path in files:
        doc = path.read_text(encoding="utf-8")
        p = _Page()
        p.feed(doc)
        assert not re.search(r"<script\b[^>]*\bsrc=", doc), path
        assert not re.search(r"<link\b[^>]*rel=\"stylesheet\"", doc), path
        assert not p.srcs, (path, p.srcs[:3])
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", doc):
            assert url.startswith(("data:", "#")), (path, url)
        assert "@import" not in doc and "@font-face" not in doc
        for href in p.links:
            assert not re.match(r"^(https?:)?//", href), (path, href)
            assert not href.startswith("/"), (path, href)
            target = href.split("#", 1)[0]
            if target:
                assert (path.parent / target).resolve().exists(), (path.relative_to(root), href)


def test_pages_stay_under_two_megabytes(atlas):
    sizes = {p: p.stat().st_size for p in atlas["dir"].rglob("*.html")}
    too_big = {str(p.relative_to(atlas["dir"])): s for p, s in sizes.items() if s > 2_000_000}
    assert not too_big


def test_the_site_is_swapped_in_whole_and_a_failed_build_keeps_the_last_good_site(atlas, warehouse_path, tmp_path,
                                                                                  monkeypatch):
    from orchestration.lib.atlas import site

    out = tmp_path / "atlas"
    out.mkdir()
    (out / "old.html").write_text("previous build", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(site, "build_site", broken)
    with pytest.raises(RuntimeError):
        site.build_atlas(warehouse_path, out, pdf=False)
    assert (out / "old.html").read_text(encoding="utf-8") == "previous build"
    assert [p.name for p in tmp_path.iterdir()] == ["atlas"]  # no half-built folder left beside it


# ----------------------------------------------------------------------------------------- the figures
def test_the_wales_map_classes_every_local_authority_with_a_figure_in_value_order(atlas, con):
    doc = html(atlas, "en/index.html")
    svg = doc[doc.index('<svg xmlns="http://www.w3.org/2000/svg" viewBox'):]
    svg = svg[:svg.index("</svg>")]
    classes = {code: cls for cls, code in re.findall(r'<path class="area (c\d|nodata|suppressed)" data-code="([^"]+)"', svg)}
    las = [r[0] for r in con.execute("select la_code from ref.local_authority").fetchall()]
    assert sorted(classes) == sorted(las) and len(las) == 22
    from orchestration.lib.atlas.model import DEFAULT_INDICATOR

    values = dict(con.execute("select la_code, latest_value from marts.mart_cohesion_profile where indicator_id = ?",
                              [DEFAULT_INDICATOR]).fetchall())
    assert len(values) == 22 and all(classes[la].startswith("c") for la in values)
    ranked = sorted(values, key=values.get)
    cls = [int(classes[la][1:]) for la in ranked]
    assert cls == sorted(cls) and cls[0] == 0 and len(set(cls)) == 5


def test_the_la_table_on_the_wales_page_is_the_mart_and_its_download(atlas, con):
    from orchestration.lib.atlas.model import DEFAULT_INDICATOR

    doc = html(atlas, "en/index.html")
    table = doc[doc.index('<table class="ranked"'):]
    table = table[:table.index("</table>")]
    shown = re.findall(r'<tr data-code="(W06\d+)">', table)
    csv_rel = re.search(r'data-table="([^"]+)"', table)[1]
    frame = pl.read_csv(atlas["dir"] / csv_rel)
    assert frame["area_code"].to_list() == shown and len(shown) == 22
    assert pl.read_parquet(atlas["dir"] / csv_rel.replace(".csv", ".parquet")).equals(frame, null_equal=True)
    mart = {r["la_code"]: r for r in rows(con, "select * from marts.mart_cohesion_profile where indicator_id = ?",
                                          [DEFAULT_INDICATOR])}
    L = AtlasLang("en")
    for r in frame.iter_rows(named=True):
        m = mart[r["area_code"]]
        assert math.isclose(r["value"], m["latest_value"], rel_tol=1e-12)
        assert r["compared_with_wales"] == m["assessment_vs_wales"]
        assert f'>{L.value(m["latest_value"], m["unit"])}<' in table
    assert frame["value"].to_list() == sorted(frame["value"].to_list(), reverse=True)


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_spine_charts_plot_the_mart_values_with_the_exception_engines_verdict(atlas, con, lang):
    L = AtlasLang(lang)
    profile = rows(con, "select * from marts.mart_cohesion_profile")
    by_la: dict[str, list[dict]] = {}
    for r in profile:
        by_la.setdefault(r["la_code"], []).append(r)
    assert len(by_la) == 22
    for la, mart_rows in by_la.items():
        doc = html(atlas, f"{lang}/area/{la}.html")
        table = doc[doc.index('<table class="spine-table">'):]
        table = table[:table.index("</table>")]
        for r in mart_rows:
            row = re.search(rf'<tr data-indicator="{r["indicator_id"]}">(.*?)</tr>', table, re.S)
            assert row, (la, r["indicator_id"])
            cells = row[1]
            marker = re.search(r'class="area-marker" data-value="([^"]+)" data-assessment="([^"]+)"', cells)
            assert float(marker[1]) == pytest.approx(r["latest_value"], rel=1e-12)
            assert marker[2] == r["assessment_vs_wales"]
            title = re.search(r"<title[^>]*>(.*?)</title>", cells)[1]
            assert L.value(r["latest_value"], r["unit"]) in title
            assert L.assessment(r["assessment_vs_wales"]) in title
            assert f'<td class="num" data-value="{r["latest_value"]!r}">' in cells


def test_the_spine_range_is_the_local_authorities_with_a_figure_for_the_same_period(atlas, con):
    L = AtlasLang("en")
    doc = html(atlas, f"en/area/{NEWPORT}.html")
    for r in rows(con, """
        select p.indicator_id, p.unit, p.polarity, min(q.latest_value) lo, max(q.latest_value) hi
        from marts.mart_cohesion_profile p join marts.mart_cohesion_profile q using (indicator_id, latest_period_label)
        where p.la_code = ? group by all
    """, [NEWPORT]):
        row = re.search(rf'<tr data-indicator="{r["indicator_id"]}">(.*?)</tr>', doc, re.S)[1]
        left, right = (r["hi"], r["lo"]) if r["polarity"] == "risk" else (r["lo"], r["hi"])
        nums = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert L.value(left, r["unit"]) in nums and L.value(right, r["unit"]) in nums


def test_indicator_pages_rank_the_warehouse_figures_and_the_downloads_hold_exactly_the_rows_shown(atlas, con):
    checked = 0
    for rel, level, la in (("en/indicator/pct_ethnic_minority.html", "lsoa", None),
                           ("en/indicator/all_crime_rate.html", "lsoa", None),
                           (f"cy/indicator/asb_rate/{NEWPORT}.html", "lsoa", NEWPORT),
                           ("en/indicator/pct_cannot_speak_english_well.html", "msoa", None),
                           ("en/indicator/employment_rate.html", "la", None)):
        doc = html(atlas, rel)
        table = doc[doc.index('<table class="ranked"'):]
        table = table[:table.index("</table>")]
        shown = re.findall(r'<tr data-code="([^"]+)">', table)
        csv_rel = re.search(r'data-table="([^"]+)"', table)[1]
        text = (atlas["dir"] / csv_rel).read_text(encoding="utf-8")
        frame = pl.read_csv(io.StringIO(text), infer_schema_length=None)
        assert frame["area_code"].to_list() == shown
        assert pl.read_parquet(atlas["dir"] / csv_rel.replace(".csv", ".parquet")).equals(frame, null_equal=True)
        assert list(csv.reader(io.StringIO(text)))[0] == frame.columns
        ind = frame["indicator_id"][0]
        period = frame["period_label"][0]
        truth = {r["area_code"]: r for r in rows(con, f"""
            select v.area_code, v.value, v.lci_95, v.uci_95, v.numerator, c.disclosure_threshold
            from marts.fct_indicator_value v join ref.indicator_catalogue c using (indicator_id)
            where v.indicator_id = ? and v.geography_level = ? and v.period_label = ?
            {"and v.area_code in (select lsoa21_code from marts.dim_geography where la_code = ?)" if la else ""}
        """, [ind, level, period] + ([la] if la else []))}
        assert set(shown) == set(truth), rel
        L = AtlasLang(rel[:2])
        for r in frame.iter_rows(named=True):
            t = truth[r["area_code"]]
            if r["status"] == "suppressed":
                assert r["value"] is None and r["lci_95"] is None and t["disclosure_threshold"] > 0
                continue
            assert math.isclose(r["value"], t["value"], rel_tol=1e-12)
            if t["lci_95"] is not None:
                assert math.isclose(r["lci_95"], t["lci_95"], rel_tol=1e-12)
            assert f'<td class="n">{L.value(t["value"], r["unit"])}</td>' in table
        values = [v for v in frame["value"].to_list() if v is not None]
        assert values == sorted(values, reverse=True)
        checked += 1
    assert checked == 5


# The ranked table's rows as the template wrote them row by row before Renderer.ranked_rows took over (same
# environment options as the atlas's): the Python rows must be these bytes.
_TEMPLATE_ROWS = """{% for r in rows %}
<tr data-code="{{ r.area_code }}"><td class="n">{{ r.rank if r.rank is not none else "—" }}</td><th scope="row">{% if area_links and r.area_code in area_links %}<a href="{{ area_links[r.area_code] }}">{{ L.area_name({'name': r.area_name, 'name_cy': r.area_name_cy}) }}</a>{% else %}{{ L.area_name({'name': r.area_name, 'name_cy': r.area_name_cy}) }}{% endif %}</th><td>{{ r.area_code }}</td>{% if show_la %}<td>{{ L.area_name({'name': r.la_name, 'name_cy': r.la_name_cy}) if r.la_name else "—" }}</td>{% endif %}{% if r.status == 'suppressed' %}<td class="n s">{{ _("suppressed") }}</td><td class="n">—</td>{% else %}<td class="n">{{ L.value(r.value, r.unit) }}</td><td class="n">{{ L.interval(r.lci_95, r.uci_95, r.unit) }}</td>{% endif %}<td>{{ marker(r.compared_with_wales) }}{{ L.assessment(r.compared_with_wales) }}</td>{% if show_la_compare %}<td>{{ marker(r.compared_with_la) }}{{ L.assessment(r.compared_with_la) }}</td>{% endif %}</tr>
{% endfor %}
"""


@pytest.mark.parametrize("lang", ["en", "cy"])
def test_the_ranked_rows_are_the_rows_the_template_wrote(lang):
    from orchestration.lib.atlas.site import Renderer, environment

    R = Renderer(None, lang)
    base = {"area_name": "Newport 014B", "area_name_cy": "Casnewydd 014B", "la_name": "Newport",
            "la_name_cy": "Casnewydd", "value": 12.345, "lci_95": 10.0, "uci_95": 14.5, "unit": "percent",
            "status": "actual", "compared_with_wales": "worse", "compared_with_la": "similar"}
    rows_ = [
        {**base, "rank": 1, "area_code": "W01001000"},
        {**base, "rank": None, "area_code": "W01001001", "status": "suppressed", "value": None, "lci_95": None,
         "uci_95": None, "compared_with_wales": "suppressed", "compared_with_la": "suppressed"},
        {**base, "rank": 2, "area_code": "W01001002", "area_name": 'A & "B" <c>', "area_name_cy": None,
         "la_name": None, "lci_95": None, "compared_with_wales": None, "compared_with_la": "not compared"},
        {**base, "rank": 3, "area_code": "W06000022", "unit": "gbp", "value": -1234.5, "lci_95": -2000.0,
         "uci_95": 0.0, "compared_with_wales": "higher"},
    ]
    template = environment().from_string(_TEMPLATE_ROWS)
    for area_links in ({}, {"W06000022": "../area/W06000022.html", "W01001002": "a&b.html"}):
        for show_la in (True, False):
            for show_la_compare in (True, False):
                expected = template.render(rows=rows_, area_links=area_links, show_la=show_la,
                                           show_la_compare=show_la_compare, L=R.L, _=R.L.gettext, marker=R.marker)
                assert R.ranked_rows(rows_, area_links, show_la, show_la_compare) == expected
    assert R.ranked_rows([], {}, True, True) == ""


def test_small_police_counts_are_suppressed_with_secondary_suppression(atlas, con):
    downloads = [d for d in atlas["summary"]["downloads"] if d.startswith("downloads/indicator/") and d.endswith(".csv")]
    police = [d for d in downloads if re.search(r"/(all_crime_rate|violence_against_person_rate|public_order_rate|asb_rate)",
                                                 d)]
    assert police
    seen_suppressed = 0
    for d in police:
        frame = pl.read_csv(atlas["dir"] / d, infer_schema_length=None)
        ind, period, level = frame["indicator_id"][0], frame["period_label"][0], frame["geography_level"][0]
        counts = dict(con.execute("select area_code, numerator from marts.fct_indicator_value where indicator_id = ? "
                                  "and period_label = ? and geography_level = ?", [ind, period, level]).fetchall())
        shown = frame.filter(pl.col("status") != "suppressed")
        assert all(not (1 <= counts[c] <= 4) for c in shown["area_code"].to_list()), d
        hidden = frame.filter(pl.col("status") == "suppressed")
        seen_suppressed += hidden.height
        assert hidden["value"].null_count() == hidden.height
        per_la = hidden.group_by("la_code").len()
        assert per_la.filter(pl.col("len") == 1).is_empty(), d  # one suppressed area alone could be derived
    assert seen_suppressed > 0


def test_every_area_page_lists_the_lsoas_that_changed_most_by_name(atlas, con):
    found = 0
    for r in rows(con, "select la_code, indicator_id, lsoas_most_changed, lsoas_most_changed_names "
                       "from marts.mart_cohesion_profile where lsoas_most_changed is not null"):
        la_name, la_cy = con.execute("select la_name, la_name_cy from ref.local_authority where la_code = ?",
                                     [r["la_code"]]).fetchone()
        en = html(atlas, f"en/area/{r['la_code']}.html")
        cy = html(atlas, f"cy/area/{r['la_code']}.html")
        card_en = en[en.index(f'id="ind-{r["indicator_id"]}"'):]
        card_cy = cy[cy.index(f'id="ind-{r["indicator_id"]}"'):]
        for code, name in zip(r["lsoas_most_changed"].split(";"), r["lsoas_most_changed_names"].split(";")):
            assert f'<li data-code="{code}">{name} ({code}' in card_en[:card_en.index("</article>")]
            welsh = la_cy + name[len(la_name):]
            assert f'<li data-code="{code}">{welsh} ({code}' in card_cy[:card_cy.index("</article>")]
            found += 1
    assert found >= 10
    # an area whose indicators have no two comparable LSOA periods says so
    assert "None: no two comparable LSOA periods" in html(atlas, f"en/area/{CARDIFF}.html")


def test_each_change_since_the_benchmark_carries_the_engines_verdict(atlas, con):
    """Next to each change since the benchmark, in both languages: the exception engine's verdict
    (mart_cohesion_profile.change_verdict: 'significant rise', 'no significant change', 'not tested: fewer than 10
    events ...'), never a bare difference."""
    profile = rows(con, "select * from marts.mart_cohesion_profile where la_code = ? and change_since_benchmark is not null",
                   [NEWPORT])
    assert {r["change_verdict"] for r in profile} >= {"significant rise", "no significant change", "not tested"}
    for lang in ("en", "cy"):
        L = AtlasLang(lang)
        doc = html(atlas, f"{lang}/area/{NEWPORT}.html")
        for r in profile:
            card = doc[doc.index(f'id="ind-{r["indicator_id"]}"'):]
            card = card[:card.index("</article>")]
            text = L.change_verdict(r["change_verdict"], r["change_test_method"], r["change_q_value"])
            shown = re.search(r'<strong class="change-verdict" data-change-verdict="([^"]+)">(.*?)</strong>', card, re.S)
            assert shown and shown[1] == r["change_verdict"], (lang, r["indicator_id"])
            assert shown[2] == str(escape(text)), (lang, r["indicator_id"])
            assert L.change(r["change_since_benchmark"], r["unit"]) in card
    en = html(atlas, f"en/area/{NEWPORT}.html")
    assert "Not tested: a figure has no 95% interval" in en and "Significant rise (q &lt; 0.0001)" in en
    # the profile download carries the verdict and its test with the figures
    frame = pl.read_csv(atlas["dir"] / f"downloads/area/{NEWPORT}_cohesion_profile.csv", infer_schema_length=None)
    got = dict(zip(frame["indicator_id"], frame["change_verdict"]))
    assert got == {r["indicator_id"]: r["change_verdict"] for r in rows(
        con, "select indicator_id, change_verdict from marts.mart_cohesion_profile where la_code = ?", [NEWPORT])
        if r["indicator_id"] in got}
    assert {"change_p_value", "change_q_value", "change_test_method", "lsoas_changed_significantly"} <= set(frame.columns)


def test_the_about_area_and_profile_pages_link_the_method_page(atlas):
    """The method is linked from the outputs, not restated: the About page, every area page and every profile
    document link to exception_method.html at the atlas root, which the build wrote from the dbt docs block."""
    root = atlas["dir"]
    method = root / "exception_method.html"
    assert method.is_file()
    text = method.read_text(encoding="utf-8")
    assert "Benjamini" in text and "change_verdict" in text and '<html lang="en">' in text and 'lang="cy"' in text
    for lang in ("en", "cy"):
        for rel in (f"{lang}/about.html", f"{lang}/area/{NEWPORT}.html", f"{lang}/area/{CARDIFF}.html",
                    f"{lang}/profile/{NEWPORT}.html"):
            page = root / rel
            links = [h for h in parse(page).links if h.endswith("exception_method.html")]
            assert links, rel
            assert all((page.parent / h).resolve() == method.resolve() for h in links), rel


def test_series_breaks_are_marked_on_the_trends_and_change_is_withheld_across_them(atlas, con):
    breaks = rows(con, "select la_code, indicator_id, change_note from marts.mart_cohesion_profile "
                       "where change_note like 'change withheld: series break%' and la_code = ?", [NEWPORT])
    assert {r["indicator_id"] for r in breaks} >= {"pct_aged_0_15", "wimd_most_deprived_10pct_share"}
    for lang in ("en", "cy"):
        doc = html(atlas, f"{lang}/area/{NEWPORT}.html")
        for r in breaks:
            card = doc[doc.index(f'id="ind-{r["indicator_id"]}"'):]
            card = card[:card.index("</article>")]
            assert '<line class="series-break"' in card
            assert 'data-series-break="true"' in card
            assert AtlasLang(lang).gettext("Series break") in card
    # the claimant count: change is shown from 2015, the break before it is drawn on the trend
    doc = html(atlas, f"en/area/{NEWPORT}.html")
    card = doc[doc.index('id="ind-claimant_count_rate"'):]
    card = card[:card.index("</article>")]
    assert '<line class="series-break"' in card and "percentage points (2015 to 2025)" in card


def test_the_latest_exceptions_are_the_exception_engines(atlas, con):
    truth = rows(con, """
        with c as (select * from marts.fct_indicator_change where is_headline_comparison),
        latest as (select indicator_id, geography_level, max(period_start) period_start from c group by all)
        select c.indicator_id, c.area_code from c join latest using (indicator_id, geography_level, period_start)
        where c.is_exception
    """)
    doc = html(atlas, "en/index.html")
    section = doc[doc.index('id="exceptions-h"'):doc.index('id="areas-h"')]
    shown = set()
    for block in re.findall(r'<table class="exceptions" data-indicator="([^"]+)">(.*?)</table>', section, re.S):
        for code in re.findall(r'<tr data-code="([^"]+)">', block[1]):
            shown.add((block[0], code))
    assert shown == {(r["indicator_id"], r["area_code"]) for r in truth} and shown
    frame = pl.read_csv(atlas["dir"] / "downloads/wales/exceptions_latest.csv")
    assert set(zip(frame["indicator_id"], frame["area_code"])) == shown


def test_every_factor_is_reported_separately_with_source_date_and_metadata_limit(atlas, con):
    from orchestration.lib.pack.i18n import LABELS

    for lang in ("en", "cy"):
        L = AtlasLang(lang)
        doc = html(atlas, f"{lang}/area/{NEWPORT}.html")
        positions = [doc.index(f'<h3 id="factor-{f}">') for f in LABELS["factor"]]
        assert positions == sorted(positions)
        for f in LABELS["factor"]:
            assert f'<h3 id="factor-{f}">{L.factor(f)}</h3>' in doc
        cards = re.findall(r'<article class="indicator-card".*?</article>', doc, re.S)
        n_rows = con.execute("select count(*) from marts.mart_cohesion_profile where la_code = ?", [NEWPORT]).fetchone()[0]
        assert len(cards) == n_rows
        for card in cards:
            for word in ("Source", "Date", "Metadata limit"):
                assert f"<strong>{L.gettext(word)}:</strong>" in card


def _visible_text(doc: str) -> str:
    """A page's text with its markup, styles, scripts and charts taken out, on one line."""
    import html as html_module

    doc = re.sub(r"<(style|script|svg)\b.*?</\1>", " ", doc, flags=re.S)
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", doc)).split())


def test_an_area_whose_crime_months_cover_less_than_a_year_is_told_why_it_has_no_crime_figure(atlas, con):
    """Cardiff's police.uk months (South Wales: 2022-01..11 bundled) cover less than the year the profile's 12-month
    crime figures need: its area page and profile name each such indicator with the periods its figures do cover
    (from the warehouse, independently), in English and Welsh, instead of listing it as not available; Newport
    (Gwent, two years) has no such line."""
    from orchestration.lib.atlas.model import short_of_a_year

    short = rows(con, """
        select indicator_id, arg_min(period_label, period_start) as first, arg_max(period_label, period_end) as last
        from marts.fct_indicator_value v join ref.indicator_catalogue c using (indicator_id)
        where geography_level = 'la' and area_code = ? and coalesce(c.licence, '') not ilike '%partner%'
          and indicator_id not in (select indicator_id from marts.mart_cohesion_profile where la_code = ?)
        group by indicator_id having max(period_end) < min(period_start) + interval 1 year - interval 1 day
        order by indicator_id""", [CARDIFF, CARDIFF])
    ids = {r["indicator_id"] for r in short}
    assert {"all_crime_rate", "violence_against_person_rate", "public_order_rate"} <= ids
    for lang in ("en", "cy"):
        L = AtlasLang(lang)
        labels = {r["indicator_id"]: L.text(r["label"]) for r in rows(
            con, "select indicator_id, label from ref.indicator_catalogue") if r["indicator_id"] in ids}
        for rel in (f"{lang}/area/{CARDIFF}.html", f"{lang}/profile/{CARDIFF}.html"):
            text = _visible_text(html(atlas, rel))
            lead = L.gettext("No 12-month figure for %(area)s yet: its figures cover less than a year:") % {
                "area": L.name({"name": "Cardiff", "name_cy": "Caerdydd"})}
            assert lead in text, rel
            said = text[text.index(lead):]
            for r in short:
                span = L.gettext("%(first)s to %(last)s") % {"first": L.period(r["first"]), "last": L.period(r["last"])}
                assert f"{labels[r['indicator_id']]} ({span})" in said, (rel, r)
            assert L.gettext("No 12-month figure yet: the figures for this area cover less than a year (below).") in text
            not_available = L.gettext("Not available for %(area)s:") % {
                "area": L.name({"name": "Cardiff", "name_cy": "Caerdydd"})}
            for sentence in text.split(not_available)[1:]:
                listed = sentence.split(".")[0]
                assert not any(labels[i] in listed for i in ids), (rel, listed)
        newport = _visible_text(html(atlas, f"{lang}/profile/{NEWPORT}.html"))
        assert L.gettext("No 12-month figure yet: the figures for this area cover less than a year (below).") not in newport
    # the rule itself: quarters from January to December are a year, January to September are not
    import datetime as dt

    def quarter(start: dt.date, end: dt.date, label: str) -> dict:
        return {"period_start": start, "period_end": end, "period_label": label}

    q1 = quarter(dt.date(2022, 1, 1), dt.date(2022, 3, 31), "2022 Q1")
    q3 = quarter(dt.date(2022, 7, 1), dt.date(2022, 9, 30), "2022 Q3")
    q4 = quarter(dt.date(2022, 10, 1), dt.date(2022, 12, 31), "2022 Q4")
    assert short_of_a_year([q1, q4]) is None
    assert short_of_a_year([q1, q3]) == {"first": "2022 Q1", "last": "2022 Q3"}
    assert short_of_a_year([]) is None
    # as in the mart, only the latest point's series counts: a year across a series break is not a year
    q2 = quarter(dt.date(2022, 4, 1), dt.date(2022, 6, 30), "2022 Q2")
    old_series = [{**q, "series_key": "a"} for q in (q1, q2)]
    new_series = [{**q, "series_key": "b"} for q in (q3, q4)]
    assert short_of_a_year(old_series + new_series) == {"first": "2022 Q3", "last": "2022 Q4"}
    assert short_of_a_year([{**q, "series_key": "b"} for q in (q1, q2, q3, q4)]) is None


def test_the_crime_pages_say_when_each_forces_police_uk_files_end(atlas, con):
    """The forces' police.uk files end in different months (in the bundle South Wales, North Wales and
    Dyfed-Powys in November 2022, Gwent in June 2024): every police.uk indicator page says, in both languages,
    which force's files end when, taken here from the raw table; no other indicator page says it."""
    import datetime as dt

    from orchestration.lib.atlas.model import police_file_ends

    ends = rows(con, """
        select f.police_force_name as name, f.police_force_name_cy as name_cy, max(r.month) as last_month
        from raw.police_uk_street_crimes r join ref.police_force f on f.police_uk_force_id = r.force_id
        group by all""")
    assert len({r["last_month"] for r in ends}) > 1  # the bundle's forces end in different months
    police = {r["indicator_id"] for r in rows(con, """
        select indicator_id from ref.indicator_catalogue
        where cohesion_factor in ('crime', 'local_extra') and source like 'data.police.uk%'""")}
    pages = set(atlas["summary"]["pages"]["indicator"])
    for lang in ("en", "cy"):
        L = AtlasLang(lang)
        by_month: dict[str, list[str]] = {}
        for r in sorted(ends, key=lambda r: r["name"]):
            by_month.setdefault(r["last_month"], []).append(L.name(r))
        listed = "; ".join(", ".join(names) + ": " + L.month(f"{month}-01") for month, names in sorted(by_month.items()))
        sentence = L.gettext("The forces' police.uk files do not all end in the same month (%(ends)s): a period that ends "
                             "after a force's last month has no figure for its local authorities.") % {"ends": listed}
        lead = sentence.split("(")[0]
        checked = 0
        # every indicator's Wales page ({lang}/indicator/{id}.html) and one indicator's local authority pages
        chosen = [p for p in pages if p.startswith(f"{lang}/") and (p.count("/") == 2 or "/all_crime_rate/" in p)]
        for rel in sorted(chosen):
            ind = rel.split("/")[2].removesuffix(".html")
            text = _visible_text(html(atlas, rel))
            if ind in police:
                assert sentence in text, rel
                checked += 1
            else:
                assert lead not in text, rel
        assert checked, lang
    # one month for every force (or one force): nothing to say
    nov = {"last_month": dt.date(2022, 11, 1)}
    assert police_file_ends([{**nov, "name": "Gwent"}, {**nov, "name": "Dyfed-Powys"}]) == []
    assert police_file_ends([{**nov, "name": "Gwent"}]) == []


def test_the_home_page_says_why_an_indicator_has_no_figure_in_the_mode_it_was_built_in(atlas, warehouse_path,
                                                                                        tmp_path):
    """Bundled data: a live download adds the indicators with no figure (the session's atlas, which the Dagster asset
    built in snapshot mode). Live: their sources have not loaded (the same warehouse built as live). In both
    languages; the other mode's sentence is absent."""
    from orchestration.lib.atlas.site import build_atlas

    said = {"bundled": "In the indicator catalogue but with no figure in the bundled data (a live download adds them):",
            "live": "In the indicator catalogue but with no figure in this edition of the atlas (their sources had not "
                    "loaded when it was built):"}
    built = {"bundled": atlas["dir"], "live": tmp_path / "live"}
    build_atlas(warehouse_path, built["live"], pdf=False, live=True)
    for mode, other in (("bundled", "live"), ("live", "bundled")):
        for lang in ("en", "cy"):
            L = AtlasLang(lang)
            text = _visible_text((built[mode] / lang / "index.html").read_text(encoding="utf-8"))
            assert L.gettext(said[mode]) in text, (mode, lang)
            assert L.gettext(said[other]) not in text, (mode, lang)


def test_public_statistics_only(atlas):
    for path in ATLAS_SRC.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for table in PARTNER_TABLES:
            assert not re.search(rf"\b(marts|main|restricted)\.{table}", source), (path.name, table)
    assert not [d for d in atlas["summary"]["downloads"] if "hate_crime" in d]
    for rel in ("en/index.html", f"en/area/{NEWPORT}.html", "en/about.html"):
        doc = html(atlas, rel)
        assert "Hate crimes and incidents per 1,000 residents" not in doc
        assert "Public statistics only" in doc


# --------------------------------------------------------------------------------------------- Welsh
def test_the_atlas_strings_all_have_welsh():
    """Every string the atlas marks (templates and modules) has a non-fuzzy Welsh translation with the same
    placeholders (scripts/update_messages.py does not yet extract orchestration/lib/atlas)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from orchestration.lib.pack.i18n import PO_PATH

    methods = [("templates/**.j2", "jinja2.ext:babel_extract"), ("**.py", "python")]
    found = {m if isinstance(m, str) else m[0] for _f, _l, m, _c, _x in extract_from_dir(
        str(ATLAS_SRC), methods, keywords={"_": None, "N_": None, "gettext": None},
        options_map={"templates/**.j2": {"trimmed": "false"}}) if m}
    assert len(found) > 300
    with open(PO_PATH, "rb") as fh:
        po = {m.id: m for m in read_po(fh, locale="cy") if m.id}
    problems = []
    for msgid in sorted(found):
        m = po.get(msgid)
        if m is None or not m.string or m.fuzzy:
            problems.append(msgid)
            continue
        if sorted(re.findall(r"%\((\w+)\)s", msgid)) != sorted(re.findall(r"%\((\w+)\)s", m.string)):
            problems.append(f"placeholders differ: {msgid}")
    assert not problems, problems


def test_welsh_pages_hold_no_english_fixed_string(atlas):
    from tests.test_pages_in_browser import english_left_in

    s = atlas["summary"]
    assert s["missing_welsh"] == [] and s["untranslated"] == []
    for rel in ("cy/index.html", "cy/wales/employment_rate.html", f"cy/area/{NEWPORT}.html", f"cy/area/{CARDIFF}.html",
                "cy/indicator/all_crime_rate.html", f"cy/indicator/pct_aged_0_15/{NEWPORT}.html",
                "cy/indicator/homicide_rate.html", "cy/about.html", f"cy/profile/{NEWPORT}.html"):
        page = parse(atlas["dir"] / rel)
        assert page.lang == "cy"
        text = " ".join(page.text)
        left = english_left_in(text, [])
        assert not left, (rel, left)
        assert "Cohesion atlas for Wales" not in text
        if "/profile/" not in rel:
            assert "Atlas cydlyniant Cymru" in text


def test_welsh_pages_name_areas_in_welsh(atlas):
    doc = html(atlas, f"cy/area/{NEWPORT}.html")
    assert "Casnewydd: proffil ardal" in doc
    doc = html(atlas, "cy/indicator/pct_ethnic_minority.html")
    assert "Casnewydd 014B" in doc and "Newport 014B" not in doc


# ------------------------------------------------------------------------------------- in a browser
BROWSER_PAGES = ["index.html"] + [f"{lang}/{rel}" for lang in ("en", "cy") for rel in (
    "index.html", "wales/employment_rate.html", f"area/{NEWPORT}.html", "indicator/all_crime_rate.html",
    f"indicator/asb_rate/{NEWPORT}.html", "about.html", f"profile/{NEWPORT}.html",
    # Cardiff: crime months short of a year, so its pages carry the 'no 12-month figure yet' lines
    f"area/{CARDIFF}.html", f"profile/{CARDIFF}.html")]


@pytest.mark.parametrize("rel", BROWSER_PAGES)
def test_pages_in_a_browser_offline(browser, atlas, rel):
    from tests.test_pages_in_browser import _accessible_text, english_left_in

    check = check_page(browser, atlas["dir"] / rel, name="atlas-" + rel.replace("/", "-").removesuffix(".html"),
                       inspect=_accessible_text)
    assert_clean(check)
    assert check.lang == ("cy" if rel == "index.html" else rel[:2])
    assert not [r for r in check.requests if not r.startswith(("file:", "data:"))]
    if rel.startswith("cy/"):
        caveats = re.findall(r'<p lang="en">(.*?)</p>', html(atlas, rel), re.S)
        left = english_left_in(check.inspected, [re.sub(r"<[^>]+>", "", c) for c in caveats] + ["English"])
        assert not left, (rel, left)


def test_the_area_page_at_phone_width(browser, atlas):
    """The spine table is wider than a phone: it scrolls in its own region, which a keyboard can reach."""
    check = check_page(browser, atlas["dir"] / f"cy/area/{NEWPORT}.html", name=f"atlas-cy-area-{NEWPORT}-375px",
                       viewport=(375, 800), inspect=lambda page: page.evaluate("""() => [...document.querySelectorAll(
                           '.scroll')].map(d => [d.tabIndex, d.getAttribute('role'), d.scrollWidth > d.clientWidth])"""))
    assert_clean(check)
    assert check.inspected and all(tab == 0 and role == "region" for tab, role, _ in check.inspected)
    assert any(scrolls for *_, scrolls in check.inspected)

