"""The quarterly crime exception report renders to safe, self-contained, well-formatted HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from orchestration.lib.report_html import (
    DEFAULT_MARKING,
    OGL_ATTRIBUTION,
    fmt_prob,
    render_crime_exception_report,
    write_report,
)


def sample_ctx() -> dict:
    return {
        "title": "Quarterly crime exception report — Gwent, 2024 Q2",
        "quarter_label": "2024 Q2 (April–June 2024)",
        "baseline_label": "2023 Q2 – 2024 Q1 (previous four quarters)",
        "generated_at": "2024-08-01T09:30:00+01:00",
        "areas_covered": "Gwent Police area: Blaenau Gwent, Caerphilly, Monmouthshire, Newport, Torfaen",
        "method": {
            "test_name": "Exact conditional Poisson test (Przyborowski & Wilenski)",
            "description": (
                "Each LSOA's count this quarter is compared with its own count over the previous "
                "four quarters, allowing for the 91 against 365 days."
            ),
            "alpha": 0.05,
            "correction": "Benjamini–Hochberg false discovery rate",
            "n_tests": 2384,
            "families": [{"crime_group_label": "All crime", "n_tests": 1045}, {"crime_group_label": "Public order",
                                                                               "n_tests": 1339}],
        },
        "crime_groups": [
            {"id": "all_crime", "label": "All crime", "definition": "All police-recorded street-level crime."},
            {
                "id": "violence_sexual",
                "label": "Violence and sexual offences",
                "definition": "police.uk category violent-crime.",
            },
            {"id": "asb", "label": "Anti-social behaviour", "definition": "police.uk category anti-social-behaviour."},
            {"id": "public_order", "label": "Public order", "definition": "police.uk category public-order."},
        ],
        "summary": [
            {"la_name": "Newport", "crime_group_label": "All crime", "lsoas_tested": 1045, "lsoas_flagged": 3,
             "lsoas_above_own_past": 9},
            {"la_name": "Torfaen", "crime_group_label": "Public order", "lsoas_tested": 60, "lsoas_flagged": 0,
             "lsoas_above_own_past": 1},
        ],
        "flags": [
            {
                "lsoa21_code": "W01001569",
                "lsoa21_name": "Newport 021A",
                "ward_name": "Stow Hill",
                "la_name": "Newport",
                "crime_group_label": "All crime",
                "observed": 1234,
                "baseline_count": 3012,
                "expected_own_past": 680.3,
                "force_ratio": 1.1038,
                "expected": 750.9315068,
                "ratio": 1.6433,
                "p_value": 2.345e-7,
                "q_value": 0.000512,
                "population": 12345,
                "rate_per_1000_py": 99.956,
                "expected_rate_per_1000_py": 60.82,
                "rate_lci_per_1000_py": 94.44,
                "rate_uci_per_1000_py": 105.71,
            },
            {
                "lsoa21_code": "W01001600",
                "lsoa21_name": "Pill <East> & Docks",
                "ward_name": "Pillgwenlly",
                "la_name": "Newport",
                "crime_group_label": "Public order",
                "observed": 14,
                "baseline_count": 20,
                "expected_own_past": 4.9863,
                "force_ratio": 0.9999,
                "expected": 4.986,
                "ratio": 2.8078,
                "p_value": 0.0004,
                "q_value": 0.0213,
                "population": 1650,
                "rate_per_1000_py": 8.4848,
                "expected_rate_per_1000_py": 3.0,
                "rate_lci_per_1000_py": 4.6387,
                "rate_uci_per_1000_py": 14.236,
            },
        ],
        "area_totals": [
            {
                "area_name": "Newport",
                "geography_level": "Local authority",
                "crime_group_label": "All crime",
                "observed": 5321,
                "expected_own_past": 4987.26,
                "expected": 5011.0,
                "ratio": 1.0669,
                "is_exception": False,
            },
            {
                "area_name": "Gwent Police",
                "geography_level": "Police force area",
                "crime_group_label": "All crime",
                "observed": 15234,
                "expected_own_past": 15010.4,
                "expected": None,
                "ratio": 1.0149,
                "is_exception": False,
            },
        ],
        "sources": [
            {
                "name": "police.uk",
                "dataset": "Street-level crime, Gwent Police",
                "vintage": "2023-04 to 2024-06",
                "licence": "Open Government Licence v3.0",
                "detail": "Locations are anonymised to snap points; counts assigned to LSOA 2021.",
            },
            {
                "name": "ONS",
                "dataset": "LSOA 2021 mid-year population estimates",
                "vintage": "mid-2022",
                "licence": "Open Government Licence v3.0",
                "detail": "Used as the denominator for rates per 1,000 residents.",
            },
        ],
        "caveats": [
            "Recorded crime reflects reporting and police activity, not only offending.",
            "Small counts make single-quarter rises common; the test allows for this.",
        ],
    }


class _Collector(HTMLParser):
    """Collects tags/attributes, checks basic nesting, and keeps the visible text."""

    VOID = {"meta", "br", "hr", "img", "link", "input", "col", "area", "base", "wbr", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser


def _visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", "".join(_parse(html).text))


@pytest.fixture()
def html() -> str:
    return render_crime_exception_report(sample_ctx())


def test_renders_well_formed_document(html):
    assert html.lstrip().startswith("<!DOCTYPE html>")
    parsed = _parse(html)
    assert parsed.errors == []
    assert parsed.stack == []
    assert '<html lang="en-GB">' in html
    assert "<title>Quarterly crime exception report — Gwent, 2024 Q2</title>" in html


def test_self_contained_no_scripts_or_remote_loads(html):
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "<img" not in lowered
    assert "<iframe" not in lowered
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert "@font-face" not in lowered
    for tag, attrs in _parse(html).tags:
        for name in ("src", "href", "srcset", "action", "data"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http://", "https://", "//")), (tag, name, value)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", lowered)
    # Inline CSS only, with print rules for A4.
    assert "<style>" in html
    assert "@media print" in html
    assert "A4" in html


def test_header_method_and_marking(html):
    text = _visible_text(html)
    assert DEFAULT_MARKING in text
    assert "2024 Q2 (April–June 2024)" in text
    assert "2023 Q2 – 2024 Q1 (previous four quarters)" in text
    assert "2024-08-01T09:30:00+01:00" in text
    assert "What this report shows" in text
    assert "Exact conditional Poisson test (Przyborowski & Wilenski)" in text
    assert "Benjamini–Hochberg false discovery rate" in text
    assert "2,384 tests in all" in text
    # false discovery rate control is per crime group: each family and its size, never "across" every test
    assert "applied separately within each crime group" in " ".join(text.split())
    assert "All crime: 1,045 tests; public order: 1,339 tests" in " ".join(text.split())
    assert "applied across" not in text
    # the method is linked (the page written beside the report), not only restated
    assert '<a href="exception_method.html">' in html
    assert "0.05" in text
    assert "Violence and sexual offences" in text
    assert OGL_ATTRIBUTION in text
    assert "Contains public sector information licensed under the Open Government Licence v3.0" in text


def test_custom_marking():
    ctx = sample_ctx()
    ctx["marking"] = "OFFICIAL-SENSITIVE"
    text = _visible_text(render_crime_exception_report(ctx))
    assert "OFFICIAL-SENSITIVE" in text
    assert DEFAULT_MARKING not in text


def _flag_row_cells(html: str, code: str) -> list[str]:
    """Visible text of each cell in the flags-table row containing this LSOA code."""
    table = html[html.index('<table class="flags">') : html.index("</table>", html.index('<table class="flags">'))]
    for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S):
        if code in row:
            cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
            return [re.sub(r"\s+", " ", _visible_text(c)).strip() for c in cells]
    raise AssertionError(f"no row for {code}")


def test_flag_figures_formatted(html):
    cells = _flag_row_cells(html, "W01001569")
    assert cells[0] == "Newport 021A W01001569 Stow Hill, Newport"
    assert cells[1:] == [
        "All crime",
        "1,234",  # observed: integer, thousands separator
        "3,012",  # baseline count
        "680.3",  # own past: 1 d.p.
        "1.10",  # force ratio: 2 d.p.
        "750.9",  # expected (force adjusted): 1 d.p.
        "1.64",  # ratio: 2 d.p.
        "100.0",  # rate: 1 d.p.
        "94.4–105.7",  # CI low–high, en dash
        "60.8",  # baseline rate
        "12,345",  # population
        "2.3 × 10⁻⁷",  # p < 0.001: scientific
        "5.1 × 10⁻⁴",  # q < 0.001: scientific
    ]
    cells = _flag_row_cells(html, "W01001600")
    assert cells[1:] == [
        "Public order",
        "14",
        "20",
        "5.0",
        "1.00",
        "5.0",
        "2.81",
        "8.5",
        "4.6–14.2",
        "3.0",
        "1,650",
        "4.0 × 10⁻⁴",
        "0.021",  # >= 0.001: fixed
    ]


def test_summary_and_totals_formatted(html):
    text = _visible_text(html)
    assert "Newport All crime 1,045 3 9" in text
    assert "Gwent Police Police force area All crime 15,234 15,010.4 1.01 — —" in text
    assert "Newport Local authority All crime 5,321 4,987.3 1.07 5,011.0 —" in text
    assert "Open Government Licence v3.0" in text
    assert "mid-2022" in text
    assert "Recorded crime reflects reporting and police activity, not only offending." in text


def test_names_are_escaped(html):
    assert "Pill &lt;East&gt; &amp; Docks" in html
    assert "<East>" not in html
    assert "Przyborowski &amp; Wilenski" in html
    ctx = sample_ctx()
    ctx["flags"][0]["ward_name"] = '<script>alert("x")</script>'
    ctx["caveats"].append("<b>bold</b> & <i>more</i>")
    ctx["sources"][0]["detail"] = '<a href="https://example.org/x">link</a>'
    out = render_crime_exception_report(ctx)
    assert "<script" not in out.lower()
    assert "&lt;script&gt;" in out
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;more&lt;/i&gt;" in out
    assert 'href="https://' not in out
    assert _parse(out).errors == []


def test_empty_flags_message():
    ctx = sample_ctx()
    ctx["flags"] = []
    out = render_crime_exception_report(ctx)
    text = _visible_text(out)
    assert "No LSOA was significantly above its baseline" in text
    assert '<table class="flags">' not in out
    # The rest of the report still renders.
    assert "Gwent Police Police force area" in text


def test_flags_present_has_no_empty_message(html):
    assert "No LSOA was significantly above its baseline" not in html


def test_tables_accessible(html):
    parsed = _parse(html)
    ths = [attrs for tag, attrs in parsed.tags if tag == "th"]
    assert ths and all(attrs.get("scope") in {"col", "row"} for attrs in ths)
    assert sum(1 for tag, _ in parsed.tags if tag == "caption") >= 3


@pytest.mark.parametrize(
    "path,expected",
    [
        (("title",), "title"),
        (("generated_at",), "generated_at"),
        (("flags",), "flags"),
        (("caveats",), "caveats"),
        (("method", "alpha"), "method.alpha"),
        (("flags", 1, "q_value"), "flags[1].q_value"),
        (("summary", 0, "lsoas_flagged"), "summary[0].lsoas_flagged"),
        (("sources", 1, "licence"), "sources[1].licence"),
    ],
)
def test_missing_key_raises(path, expected):
    ctx = sample_ctx()
    target = ctx
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    with pytest.raises(ValueError, match=re.escape(expected)):
        render_crime_exception_report(ctx)


def test_fmt_prob_edges():
    assert fmt_prob(0.5) == "0.500"
    assert fmt_prob(0.001) == "0.001"
    assert fmt_prob(0.00099) == "9.9 × 10⁻⁴"
    assert fmt_prob(1.2e-123) == "1.2 × 10⁻¹²³"
    assert fmt_prob(0.0) == "< 1 × 10⁻³⁰⁰"
    assert fmt_prob(None) == "—"


def test_none_values_render_as_dash():
    ctx = sample_ctx()
    ctx["flags"][1].update(population=None, rate_per_1000_py=None, expected_rate_per_1000_py=None,
                           rate_lci_per_1000_py=None, rate_uci_per_1000_py=None)
    cells = _flag_row_cells(render_crime_exception_report(ctx), "W01001600")
    assert cells[8:12] == ["—", "—", "—", "—"]


def test_write_report_atomic(tmp_path):
    target = tmp_path / "reports" / "crime_exception_2024Q2.html"
    out = write_report(sample_ctx(), target)
    assert out == target
    assert target.read_text(encoding="utf-8") == render_crime_exception_report(sample_ctx())
    # Overwrite in place, still no temp files left.
    ctx = sample_ctx()
    ctx["flags"] = []
    write_report(ctx, target)
    assert "No LSOA was significantly above its baseline" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_write_report_failure_keeps_old_file(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("previous", encoding="utf-8")
    ctx = sample_ctx()
    del ctx["sources"]
    with pytest.raises(ValueError, match="sources"):
        write_report(ctx, target)
    assert target.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
