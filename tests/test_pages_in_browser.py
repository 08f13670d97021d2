"""Every human-read HTML page the build writes, opened in headless Chromium (tests/browser.py): it renders with
no console or page error and no request off this machine, meets WCAG 2.1 AA (axe-core in the page: the UK
public sector accessibility regulations' standard), and a screenshot of each page type is kept under
test-artefacts/screenshots/. Welsh pages hold no fixed English string.

Pages: the quarterly monitoring pack (every tier, English and Welsh), the emergency flash, the crime exception
report and the GX Data Docs site. The atlas has its own browser test.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest

from tests.browser import assert_clean, check_page, describe
from tests.independent import restricted_texts

QUARTER = "2024-Q2"
GWENT = "gwent-police-area"  # the largest pack: a police area, crime exceptions, maps and trend charts
QUIET = "conwy"  # a pack with no crime data this quarter: the "none" branches of every section
TIERS = ("gold_silver", "bronze", "summary")


# ------------------------------------------------------------------------------------------------ Welsh
@functools.cache
def english_fixed_strings() -> tuple[str, ...]:
    """The English pieces that must not be seen on a Welsh page.

    From every entry of the Welsh catalogue (``welsh_catalogue()``: each ``_()`` string of the templates and
    every label of ``i18n.LABELS``) whose Welsh differs from the English:

    - the msgid is cut at its placeholders (``%(name)s``: data, numbers and names go there) into literal pieces,
      whitespace collapsed, surrounding punctuation stripped;
    - a piece is kept if it has at least two words, or is one word of five letters or more. Single short words
      ("Age", "Due", "Low", "Risk", "Page") and acronyms ("CIA", "LSOA") are ambiguous: they turn up inside
      names, codes and partners' own words, and a four-letter English word can be Welsh too;
    - a piece with no letters (numbers, "%", "£") is dropped;
    - a piece that a Welsh translation itself uses as a whole word or phrase is dropped: a proper name or
      term the Welsh keeps ("data.police.uk", "Benjamini–Hochberg", "PPPLEM", "score" in "q-score").

    A piece is found on the page as a whole phrase (not inside a longer word), case-sensitively, in the visible
    text, the title and the accessible names (aria-label, title attributes, SVG title and desc)."""
    from orchestration.lib.pack.i18n import welsh_catalogue

    welsh = welsh_catalogue()
    translations = "\n".join(welsh.values())
    pieces = set()
    for english, cymraeg in welsh.items():
        if english == cymraeg:
            continue
        for piece in re.split(r"%\(\w+\)s", english.replace("%%", "%")):
            piece = " ".join(piece.split()).strip(" .,:;()–—-'\"“”")
            words = re.findall(r"[^\W\d_]+", piece)
            if not words or (len(words) == 1 and len(words[0]) < 5):
                continue
            if _phrase(piece).search(translations):
                continue
            pieces.add(piece)
    return tuple(sorted(pieces))


@functools.cache
def _phrase(piece: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(piece)}(?!\w)")


def english_left_in(text: str, data_texts: list[str]) -> list[str]:
    """Fixed English pieces in a Welsh page's text, after taking out what partners wrote (free text is shown as
    written, redacted, in the partner's language: it is data, not a fixed string)."""
    flat = " ".join(text.split())
    for data in sorted({" ".join(t.split()) for t in data_texts if t and t.strip()}, key=len, reverse=True):
        flat = flat.replace(data, " ¶ ")
    return [piece for piece in english_fixed_strings() if _phrase(piece).search(flat)]


def _accessible_text(page) -> str:
    """The visible text plus the text a screen reader is given that is not visible: aria-labels, title
    attributes, SVG titles and descriptions, image alternatives."""
    return page.evaluate("""() => {
        const out = [document.title, document.body.innerText];
        for (const el of document.querySelectorAll('[aria-label], [title], [alt]')) {
            for (const a of ['aria-label', 'title', 'alt']) if (el.hasAttribute(a)) out.push(el.getAttribute(a));
        }
        for (const el of document.querySelectorAll('svg title, svg desc')) out.push(el.textContent);
        return out.join('\\n');
    }""")


def test_the_welsh_rule_finds_the_english_of_an_english_page():
    """The rule has teeth: the English of the pack's fixed strings is found, the Welsh is not."""
    from orchestration.lib.pack.i18n import welsh_catalogue

    pieces = english_fixed_strings()
    assert len(pieces) > 250
    assert "What needs action" in pieces and "Tension summary table" in pieces and "rising" in pieces
    assert not {"Age", "Low", "CIA", "LSOA", "%", "£"} & set(pieces)
    welsh = welsh_catalogue()
    english_text = "Tension summary table. Rhywbeth arall. What needs action"
    assert {"Tension summary table", "What needs action"} <= set(english_left_in(english_text, []))
    assert english_left_in("Tension summary table", ["Tension summary table"]) == []  # partner text
    assert english_left_in("\n".join(welsh[k] for k in ("Tension summary table", "What needs action")), []) == []
    assert english_left_in("arising", []) == []  # whole words only


# ------------------------------------------------------------------------------------------------ quick
@pytest.fixture
def long_report(tmp_path) -> Path:
    """The crime exception report from the sample context of tests/test_report_html.py, with a flags table long
    and wide enough to scroll."""
    from orchestration.lib.report_html import render_crime_exception_report
    from tests.test_report_html import sample_ctx

    ctx = sample_ctx()
    ctx["flags"] = [dict(ctx["flags"][i % len(ctx["flags"])], lsoa21_code=f"W0100{i:04d}") for i in range(40)]
    path = tmp_path / "crime_exception_report.html"
    path.write_text(render_crime_exception_report(ctx), encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [1280, 375])
def test_the_crime_exception_report_template_is_accessible_at_desktop_and_phone_widths(browser, long_report, width):
    """A table wider than a phone scrolls in its own region, which a keyboard can reach (WCAG 2.1.1)."""
    check = check_page(browser, long_report, name=f"crime-exception-report-sample-{width}px", viewport=(width, 800),
                       inspect=lambda page: page.evaluate("""() => [...document.querySelectorAll('.table-wrap')]
                           .map(d => [d.tabIndex, d.getAttribute('role'), d.scrollWidth > d.clientWidth])"""))
    assert_clean(check)
    assert check.lang == "en-GB"
    assert check.inspected and all(tab == 0 and role == "region" for tab, role, _ in check.inspected)
    if width == 375:
        assert any(scrolls for *_, scrolls in check.inspected)


# ------------------------------------------------------------------------------------------------ built
def _current(reports: Path, group: str) -> tuple[Path, dict]:
    folder = reports / QUARTER / group
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return folder, manifest["versions"][-1]


def _pack_file(reports: Path, group: str, tier: str, language: str) -> Path:
    folder, current = _current(reports, group)
    (entry,) = [f for f in current["files"] if (f["tier"], f["language"], f["format"]) == (tier, language, "html")]
    return folder / entry["path"]


@pytest.fixture(scope="module")
def reports(built) -> Path:
    return built["settings"].reports_dir


# every tier of Gwent's pack in both languages; the quiet pack's full tier in both languages
PACKS = [(GWENT, tier, language) for tier in TIERS for language in ("en", "cy")] + \
        [(QUIET, "gold_silver", language) for language in ("en", "cy")]


@pytest.mark.parametrize("group, tier, language", PACKS)
def test_monitoring_pack_pages(browser, reports, group, tier, language):
    path = _pack_file(reports, group, tier, language)
    check = check_page(browser, path, name=f"pack-{group}-{tier}-{language}", inspect=_accessible_text)
    assert_clean(check)
    assert check.lang == language
    if language == "cy":
        folder, current = _current(reports, group)
        content = json.loads((folder / current["content"]).read_text(encoding="utf-8"))
        left = english_left_in(check.inspected, restricted_texts(content))
        assert not left, f"English in the Welsh {tier} pack of {group}: {left}"


def test_the_pack_at_phone_width(browser, reports):
    check = check_page(browser, _pack_file(reports, GWENT, "gold_silver", "cy"),
                       name=f"pack-{GWENT}-gold_silver-cy-375px", viewport=(375, 800))
    assert_clean(check)


def _flashes(reports: Path) -> list[Path]:
    return sorted((reports / "flash").glob("*/flash-*.html")) if (reports / "flash").is_dir() else []


def test_emergency_flash_pages(browser, reports):
    flashes = _flashes(reports)
    if not flashes:
        pytest.skip("this build produced no emergency flash")
    seen = set()
    for path in flashes:
        language = path.stem.rsplit("-", 1)[1]
        name = f"flash-{language}" + (f"-{path.stem}" if language in seen else "")
        seen.add(language)
        check = check_page(browser, path, name=name, inspect=_accessible_text)
        assert_clean(check)
        assert check.lang == language
        if language == "cy":
            items = json.loads((path.parent / "items.json").read_text(encoding="utf-8"))
            left = english_left_in(check.inspected, restricted_texts(items))
            assert not left, f"English in the Welsh flash {path.name}: {left}"


def test_crime_exception_report_page(browser, reports):
    check = check_page(browser, reports / "crime_exception_report_latest.html", name="crime-exception-report")
    assert_clean(check)
    assert check.lang == "en-GB" and "LSOAs significantly above their baseline" in check.text


def test_data_docs_index_and_a_validation_page(browser, built):
    from orchestration.lib.quality.runner import docs_index

    index = docs_index(built["settings"].gx_dir)
    validations = sorted((index.parent / "validations").rglob("*.html"))
    assert validations, f"no validation page under {index.parent / 'validations'}"
    checks = [check_page(browser, index, name="data-docs-index"),
              check_page(browser, validations[0], name="data-docs-validation")]
    assert all(c.ok for c in checks), "\n\n".join(describe(c) for c in checks if not c.ok)
