"""Render a tier of a monitoring pack as self-contained HTML (Jinja2 + inline SVG) and as PDF (WeasyPrint).

HTML: inline CSS and SVG only, a Content-Security-Policy that forbids every fetch, so the page opens the
same from an e-mail, a file share or a browser with no network. PDF: WeasyPrint with a URL fetcher that
refuses everything, the protective marking, group, quarter and page number in the page margins, table
headers repeated on every page and rows that do not split.
"""

from __future__ import annotations

import gc
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from orchestration.lib.pack.i18n import Lang
from orchestration.lib.svg import area_map_svg, trend_chart_svg

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class EngineRules:
    alpha: float
    min_events: int


@dataclass(frozen=True)
class VersionInfo:
    number: int
    generated_at: str


def _css_string(value: str) -> Markup:
    """A CSS string literal for the @page margin boxes (inside <style>, so not HTML-escaped: quotes and
    backslashes are escaped by JSON rules, which CSS shares, and '<' is written as a CSS escape so no name can
    close the style element)."""
    return Markup(json.dumps(str(value), ensure_ascii=False).replace("<", "\\3c "))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = _css_string
    return env


_ENV = _environment()


def _crime_marks(p: dict) -> tuple[str, list[str], dict[str, str]]:
    """The map level, the codes drawn and the marked ones (crime exceptions red, evidence spikes amber)."""
    if p["tier"] == "gold_silver":
        level, codes = "lsoa21", p["geography"]["lsoa21_codes"]
        marked = {}
        for s in p["evidence"]["spikes"]:
            if s["area"]["level"] == "lsoa21":
                marked[s["area"]["code"]] = "raised"
        for f in p["crime"]["flags"]:
            if f["geography_level"] == "lsoa":
                marked[f["area"]["code"]] = "exception"
    else:
        level, codes = "ward", p["geography"]["ward_codes"]
        marked = {}
        for s in p["evidence"]["spikes"]:
            if s["area"]["level"] == "ward":
                marked[s["area"]["code"]] = "raised"
        for e in p["crime"].get("lsoas_by_ward", []):
            marked[e["ward"]["code"]] = "exception"
        for f in p["crime"]["flags"]:
            if f["geography_level"] == "ward":
                marked[f["area"]["code"]] = "exception"
    return level, codes, {c: m for c, m in marked.items() if c in set(codes)}


def _points(L: Lang, trend: list[dict]) -> list[dict]:
    return [{"label": L.quarter_short(t["quarter"]), "observed": t["observed"], "expected": t["expected"],
             "lower": t["lower"], "upper": t["upper"], "is_flagged": t["is_flagged"],
             "observed_text": L.int(t["observed"]) if t["observed"] is not None else "—"} for t in trend]


def describe_change(change: dict, L: Lang) -> str:
    _ = L.gettext
    if change["kind"] == "section":
        return _("%(section)s: %(before)s exceptions before, %(after)s now", section=L.label("section", change["section"]),
                 before=L.int(change["before"]), after=L.int(change["after"]))
    if change["kind"] == "grades":
        return _("Tension summary grades changed: %(n)s", n=L.int(change["n"]))
    if change["kind"] == "partner_files":
        return _("Partner files: %(added)s new or corrected, %(removed)s superseded",
                 added=L.int(change["added"]), removed=L.int(change["removed"]))
    if change["kind"] == "loads":
        return _("Public data releases reloaded: %(n)s", n=L.int(change["n"]))
    return _("Figures revised without a change in the number of exceptions")


def crime_families(families: list[dict], L: Lang) -> str:
    """The false discovery rate families of the crime exceptions (one per crime group) with their sizes."""
    return "; ".join(L.gettext("%(group)s: %(n)s tests", group=L.label("crime_group", f["crime_group"]), n=L.int(f["tests"]))
                     for f in families)


def figures(p: dict, L: Lang) -> tuple[dict, dict]:
    """(maps, charts) as SVG strings for the template."""
    _ = L.gettext
    maps, charts = {}, {}
    if p["tier"] == "summary":
        return maps, charts
    level, codes, marked = _crime_marks(p)
    if codes:
        level_word = _("LSOAs") if level == "lsoa21" else _("wards")
        maps["crime"] = area_map_svg(
            level=level, codes=codes, marked=marked, outline_la_codes=[la["code"] for la in p["group"]["las"]],
            title=_("Map of %(group)s: %(areas)s with exceptions this quarter", group=L.name(p["group"]), areas=level_word),
            description=_("%(n)s areas marked: red, crime or ASB above the force-adjusted expectation; amber, an incident spike.",
                          n=L.int(len(marked))),
            legend=[("exception", _("Crime or ASB exception")), ("raised", _("Incident spike"))],
        )
    for i, s in enumerate(p["evidence"]["spikes"]):
        if s.get("trend"):
            charts[f"spike:{i}"] = trend_chart_svg(
                points=_points(L, s["trend"]),
                title=_("Incidents per quarter, %(area)s, %(community)s", area=L.name(s["area"]),
                        community=L.label("community_type", s["community_type"])),
                band_label=_("expected range"), observed_label=_("incidents"))
    for f in p["crime"]["flags"]:
        if f.get("trend"):
            charts[f"crime:{f['area']['code']}:{f['crime_group']}"] = trend_chart_svg(
                points=_points(L, f["trend"]),
                title=_("%(group)s per quarter, %(area)s", group=L.label("crime_group", f["crime_group"]), area=L.name(f["area"])),
                band_label=_("expected range"), observed_label=_("count"))
    return maps, charts


def render_html(p: dict, language: str, version: VersionInfo, engine: EngineRules) -> tuple[str, set[str]]:
    """The HTML page and the set of fixed strings that had no Welsh (empty for English)."""
    L = Lang(language)
    maps, charts = figures(p, L)
    template = _ENV.get_template("pack.html.j2")
    html = template.render(p=p, L=L, version=version, engine=engine, maps=maps, charts=charts,
                           gettext=L.gettext, _=L.gettext, describe_change=describe_change, crime_families=crime_families)
    return html, L.missing


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while WeasyPrint lays out one document, then a young-generation
    collection frees that document's cycles. WeasyPrint creates a great many objects per document; left on, the
    collector walks every live object (the whole box tree and everything imported) again and again: about a sixth
    of a PDF's time. The PDF is the same byte for byte; the memory still comes back after each document."""
    if not gc.isenabled():  # the caller manages the collector
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


def render_pdf(html: str) -> bytes:
    """The PDF; a CSS rule WeasyPrint ignores (a lost page header, say) is an error, not a quiet warning.
    Only data: URIs may be read: any other address in the page (http, https, file) is refused, not fetched."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    collect = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(collect)
    try:
        with _collector_paused():
            pdf = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=["data"]), base_url=None).write_pdf()
    finally:
        logger.removeHandler(collect)
    dropped = [m for m in collect.messages if m.startswith(("Ignored", "Error", "Invalid", "Unsupported"))]
    if dropped:
        raise ValueError("WeasyPrint could not use part of the pack's HTML/CSS: " + " | ".join(dropped[:5]))
    return pdf
