"""Build the static, bilingual cohesion atlas (and the annual cohesion profile documents) from the warehouse.

Layout under ``out_dir`` (identical under en/ and cy/; every page links to its twin in the other language)::

    index.html                       choose a language
    en/index.html                    Wales: map of the 22 local authorities (default indicator), latest exceptions
    en/wales/<indicator>.html        the same map for each other indicator
    en/area/<la_code>.html           area profile: Part 1 community profile + Part 2 annual cohesion profile
    en/indicator/<indicator>.html    the indicator across Wales at its lowest level, ranked table, downloads
    en/indicator/<indicator>/<la_code>.html   the same for one local authority's neighbourhoods
    en/profile/<la_code>.html|.pdf   the annual cohesion profile document
    en/about.html                    how to read the atlas
    downloads/...                    CSV and Parquet of exactly the rows each table shows

The whole site is written into a temporary folder beside ``out_dir`` and swapped in with two renames, so a reader
never sees a half-written page or a mix of two builds. All links are relative (the site opens from file://); no
page loads anything from outside itself (a Content-Security-Policy forbids it).

No Dagster imports.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import jinja2
import polars as pl
from markupsafe import Markup, escape

from orchestration.lib.atlas import charts, model
from orchestration.lib.atlas.text import AtlasLang
from orchestration.lib.atlas.vocabulary import TOPICS
from orchestration.lib.private_files import current_umask, write_atomic
from orchestration.lib.safe_text import neutralise_frame

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("en", "cy")
PAGE_TYPES = ("home", "area", "indicator", "profile_html", "profile_pdf")


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_ENV = environment()
MARKER_CSS = Markup(charts.marker_css())


def _prefix(path: str) -> str:
    """Relative prefix from a page at ``path`` (relative to the site root) back to the site root."""
    return "../" * path.count("/")


# ------------------------------------------------------------------------------------------ page helpers


class Renderer:
    """Renders the pages of one language; shared figures (maps) are cached across languages by charts.py."""

    def __init__(self, data: model.AtlasData, lang: str, has_pdf: bool = True):
        self.data = data
        self.L = AtlasLang(lang)
        self.has_pdf = has_pdf  # link the profile PDFs (not written by a build without PDFs)

    # -- small formatting callables for templates
    def marker(self, code: str | None) -> Markup:
        """The verdict's marker (drawn by the .mk-* CSS classes; the verdict is always written beside it)."""
        return Markup('<i class="mk mk-%s" aria-hidden="true"></i>') % (code or "not compared").replace(" ", "-")

    def ranked_rows(self, rows: list[dict], area_links: dict | None, show_la: bool, show_la_compare: bool) -> Markup:
        """The body rows of a ranked table (_macros.html.j2 ranked_table), one line each, exactly as the template
        wrote them row by row (escaped the same way) but without Jinja's per-cell cost: the atlas's tables have
        some 130,000 rows (a million cells), most in the LSOA tables, and were most of its page-building time."""
        L = self.L
        suppressed = Markup('<td class="n s">%s</td><td class="n">—</td>') % L.gettext("suppressed")
        verdicts: dict = {}

        def verdict(code) -> str:
            if code not in verdicts:
                verdicts[code] = str(Markup("<td>%s%s</td>") % (self.marker(code), L.assessment(code)))
            return verdicts[code]

        out = []
        for r in rows:
            code = escape(r["area_code"])
            name = escape(L.area_name({"name": r["area_name"], "name_cy": r["area_name_cy"]}))
            if area_links and r["area_code"] in area_links:
                name = f'<a href="{escape(area_links[r["area_code"]])}">{name}</a>'
            cells = [f'<tr data-code="{code}"><td class="n">{escape(r["rank"] if r["rank"] is not None else "—")}</td>'
                     f'<th scope="row">{name}</th><td>{code}</td>']
            if show_la:
                la = L.area_name({"name": r["la_name"], "name_cy": r["la_name_cy"]}) if r["la_name"] else "—"
                cells.append(f"<td>{escape(la)}</td>")
            if r["status"] == "suppressed":
                cells.append(suppressed)
            else:
                cells.append(f'<td class="n">{escape(L.value(r["value"], r["unit"]))}</td>'
                             f'<td class="n">{escape(L.interval(r["lci_95"], r["uci_95"], r["unit"]))}</td>')
            cells.append(verdict(r["compared_with_wales"]))
            if show_la_compare:
                cells.append(verdict(r["compared_with_la"]))
            cells.append("</tr>\n")
            out.append("".join(cells))
        return Markup("".join(out))

    def spine(self, r: dict) -> Markup:
        L = self.L
        la = self.data.la_by_code[r["la_code"]]
        title = L.gettext("%(area)s: %(value)s (%(period)s); Wales %(wales)s; local authorities from %(low)s to %(high)s; "
                          "%(verdict)s", area=L.name(la), value=L.value(r["latest_value"], r["unit"]),
                          period=L.period(r["latest_period_label"]), wales=L.value(r["wales_latest_value"], r["unit"]),
                          low=L.value(r["wales_lowest"], r["unit"]), high=L.value(r["wales_highest"], r["unit"]),
                          verdict=L.assessment(r["assessment_vs_wales"]))
        return Markup(charts.spine_svg(
            value=r["latest_value"], wales=r["wales_latest_value"], lo=r["wales_lowest"], q1=r["wales_25th_percentile"],
            q3=r["wales_75th_percentile"], hi=r["wales_highest"], polarity=r["polarity"],
            assessment=r["assessment_vs_wales"], title=title))

    def community_value(self, c: dict) -> str:
        if c["unit"] == "count":
            return self.L.int(c["value"])
        return self.L.value(c["value"], c["unit"])

    def topic_label(self, topic: str) -> str:
        return self.L.gettext(TOPICS[topic]) if topic in TOPICS else topic

    def context(self, path: str, crumbs: list[tuple[str, str | None]], **extra) -> dict:
        L = self.L
        site_root = _prefix(path)
        rel = path.split("/", 1)[1]
        return {
            "L": L, "_": L.gettext, "gettext": L.gettext, "root": "../" * (path.count("/") - 1),
            "site_root": site_root, "other_href": site_root + L.other + "/" + rel, "built_on": self.data.built_on,
            "crumbs": crumbs, "marker": self.marker, "spine": self.spine, "las": self.data.las,
            "la_by_code": self.data.la_by_code, "indicators": self.data.indicators, "marker_css": MARKER_CSS,
            "has_pdf": self.has_pdf, "ranked_rows": self.ranked_rows, **extra,
        }

    # -- maps
    def _legend(self, values: list[float], unit: str) -> tuple[list[float], list[str]]:
        bounds = charts.class_breaks(values)
        labels = []
        vals = sorted(v for v in values if v is not None)
        for i, b in enumerate(bounds):
            members = [v for v in vals if charts.class_of(v, bounds) == i]
            if not members:
                labels.append(self.L.value(b, unit))
            elif min(members) == max(members):
                labels.append(self.L.value(members[0], unit))
            else:
                labels.append(self.L.gettext("%(low)s to %(high)s", low=self.L.value(min(members), unit),
                                             high=self.L.value(max(members), unit)))
        return bounds, labels

    def choropleth(self, level: str, rows: list[dict], unit: str, title: str, all_codes: list[str],
                   name_of, force_of: dict[str, str] | None = None) -> Markup:
        """rows: dicts with area_code, value, status; ``all_codes``: every area drawn (grey without a figure).
        ``force_of``: for police-force figures, LA code -> force code (the LAs are drawn in their force's class)."""
        L = self.L
        by_code = {r["area_code"]: r for r in rows}
        values = [r["value"] for r in rows if r["value"] is not None]
        bounds, labels = self._legend(values, unit)
        areas = []
        for code in all_codes:
            r = by_code.get(force_of[code] if force_of else code)
            value = r["value"] if r else None
            suppressed = bool(r and r.get("status") == "suppressed")
            if suppressed:
                tip = L.gettext("%(area)s: suppressed (small count)", area=name_of(code))
            elif value is None:
                tip = L.gettext("%(area)s: no figure", area=name_of(code))
            else:
                tip = f"{name_of(code)}: {L.value(value, unit)}"
            areas.append(charts.MapArea(code=code, cls=charts.class_of(value, bounds), tip=tip, suppressed=suppressed))
        description = L.gettext("Choropleth map, %(n)s areas with a figure; the same figures are in the table below.",
                                n=L.int(len(values)))
        return Markup(charts.choropleth_svg(
            level="la" if force_of else level, areas=areas, legend=labels, no_data_label=L.gettext("No figure"),
            suppressed_label=L.gettext("Suppressed (small count)"), title=title, description=description))

    # -- trends
    def trend(self, la: dict, r: dict, width: int = 600, height: int = 240) -> dict:
        """The trend chart and its table for one profile indicator of one local authority."""
        L, d = self.L, self.data
        ind = r["indicator_id"]
        pts = d.trends.get((la["code"], ind), [])
        wales = {p["period_label"]: p for p in d.trends.get((model.WALES_CODE, ind), [])}
        flags = model.benchmark_flags(pts, r["benchmark_period_label"], r["latest_period_label"])
        rows, points = [], []
        for i, (p, (is_b, is_l)) in enumerate(zip(pts, flags)):
            w = wales.get(p["period_label"])
            is_break = i > 0 and p["series_key"] != pts[i - 1]["series_key"]
            rows.append({**p, "wales": w["value"] if w else None, "is_break": is_break, "is_benchmark": is_b})
            tip = f"{L.period(p['period_label'])}: {L.value(p['value'], p['unit'])}"
            if p["lci_95"] is not None:
                tip += f" ({L.interval(p['lci_95'], p['uci_95'], p['unit'])})"
            points.append(charts.TrendPoint(
                label=L.period_short(p["period_label"]), value=p["value"], lci=p["lci_95"], uci=p["uci_95"],
                wales=w["value"] if w else None, series=p["series_key"], is_benchmark=is_b, is_latest=is_l, tip=tip))
        if not points:
            return {"svg": Markup(""), "rows": []}
        breaks = sum(1 for x in rows if x["is_break"])
        description = L.gettext("%(n)s periods from %(first)s to %(last)s, with 95%% intervals where published.",
                                n=L.int(len(points)), first=L.period(pts[0]["period_label"]),
                                last=L.period(pts[-1]["period_label"]))
        if breaks:
            description += " " + L.gettext("Series breaks: %(n)s; figures either side are not compared.", n=L.int(breaks))
        svg = charts.trend_svg(
            points=points, title=L.gettext("%(indicator)s, %(area)s, over time", indicator=L.text(d.indicators[ind]["label"]),
                                           area=L.name(la)),
            description=description, area_label=L.gettext("%(area)s (95%% interval)", area=L.name(la)),
            wales_label=L.gettext("Wales"), break_label=L.gettext("Series break"),
            benchmark_label=L.gettext("Benchmark"), tick_format=lambda v, u=r["unit"]: L.value(v, u),
            width=width, height=height)
        return {"svg": Markup(svg), "rows": rows}


# ------------------------------------------------------------------------------------------------- build


class SiteBuilder:
    def __init__(self, data: model.AtlasData, root: Path, pdf: bool = True, live: bool = False):
        self.data = data
        self.root = root
        self.pdf = pdf
        self.live = live  # the warehouse was built from live downloads (what the home page says of missing figures)
        self.pages: dict[str, list[str]] = {t: [] for t in (*PAGE_TYPES, "about", "language", "method")}
        self.downloads: list[str] = []
        self.untranslated: set[str] = set()
        self.missing: set[str] = set()

    @functools.cached_property
    def police_file_ends(self) -> list:
        """model.police_file_ends of the warehouse's forces, worked out once for every crime page."""
        return model.police_file_ends(self.data.police_months)

    def _write(self, rel: str, data: bytes | str, kind: str | None = None) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        if kind:
            self.pages[kind].append(rel)

    def download(self, rel_base: str, frame: pl.DataFrame) -> dict:
        """Write frame as CSV and Parquet under downloads/; returns their paths (relative to the site root)."""
        out = {}
        for ext in ("csv", "parquet"):
            rel = f"downloads/{rel_base}.{ext}"
            if rel not in self.downloads:
                path = self.root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if ext == "csv":  # text cells that a spreadsheet would run as a formula are made text
                    neutralise_frame(frame).write_csv(path)
                else:
                    frame.write_parquet(path)
                self.downloads.append(rel)
            out[ext] = rel
        return out

    @staticmethod
    def _link(from_page: str, rel: str) -> str:
        return _prefix(from_page) + rel

    def _downloads_for(self, page: str, files: dict) -> dict:
        return {k: self._link(page, v) for k, v in files.items()}

    # -- downloads shared by both languages
    def write_downloads(self) -> dict:
        d = self.data
        files: dict = {"wales": {}, "indicator": {}, "la_indicator": {}, "area": {}, "community": {}}
        for ind, lm in d.la_maps.items():
            files["wales"][ind] = self.download(f"wales/{ind}_local_authorities", lm["frame"])
        for ind, t in d.tables.items():
            files["indicator"][ind] = self.download(f"indicator/{ind}_wales_{t['level']}", t["frame"])
        for (ind, la), t in d.la_tables.items():
            files["la_indicator"][(ind, la)] = self.download(f"indicator/{ind}/{la}_{t['level']}", t["frame"])
        for la, rows in d.profiles.items():
            files["area"][la] = self.download(f"area/{la}_cohesion_profile", model.profile_frame(rows))
        for la, rows in d.community.items():
            frame = pl.DataFrame([{k: r[k] for k in ("la_code", "la_name", "topic", "measure", "value", "unit", "universe",
                                                      "source", "period_label")} for r in rows], infer_schema_length=None)
            files["community"][la] = self.download(f"area/{la}_community_profile", frame)
        cols = ["indicator_id", "geography_level", "area_code", "area_name", "la_code", "comparison", "period_label",
                "compared_period_label", "unit", "value", "compared_value", "change", "change_lci_95", "change_uci_95",
                "test_method", "p_value", "q_value", "change_threshold", "direction"]
        ex = pl.DataFrame([{k: e[k] for k in cols} for e in d.exceptions], schema_overrides=None,
                          infer_schema_length=None) if d.exceptions else pl.DataFrame({k: [] for k in cols})
        files["exceptions"] = self.download("wales/exceptions_latest", ex)
        return files

    # -- pages
    def build_language(self, lang: str, files: dict) -> None:
        d = self.data
        R = Renderer(d, lang, has_pdf=self.pdf)
        L = R.L
        _ = L.gettext
        map_ids = [i for i in d.indicators if i in d.la_maps]
        groups = []
        for f in model.FACTORS:
            items = [d.indicators[i] for i in map_ids if d.indicators[i]["cohesion_factor"] == f]
            if items:
                groups.append((f, items))
        all_groups = []
        for f in model.FACTORS:
            items = [c for c in d.indicators.values() if c["cohesion_factor"] == f and c["indicator_id"] in d.tables]
            if items:
                all_groups.append((f, items))
        not_bundled = [c for c in d.indicators.values() if c["map_level"] is None]
        la_codes = [la["code"] for la in d.las]

        exception_groups: list[dict] = []
        for e in sorted(d.exceptions, key=lambda e: (list(d.indicators).index(e["indicator_id"]), e["geography_level"],
                                                     -(e["change"] or 0))):
            key = (e["indicator_id"], e["geography_level"], e["period_label"], e["comparison"])
            if not exception_groups or exception_groups[-1]["key"] != key:
                exception_groups.append({"key": key, "indicator_id": key[0], "geography_level": key[1],
                                         "period_label": key[2], "comparison": key[3], "rows": []})
            exception_groups[-1]["rows"].append(e)

        # Wales pages (index + one per indicator)
        default = model.DEFAULT_INDICATOR if model.DEFAULT_INDICATOR in d.la_maps else map_ids[0]
        for ind in map_ids:
            is_index = ind == default
            path = f"{lang}/index.html" if is_index else f"{lang}/wales/{ind}.html"
            c = d.indicators[ind]
            lm = d.la_maps[ind]
            rows = lm["frame"].to_dicts()
            prefix = "../" * (path.count("/") - 1)
            area_links = {la: f"{prefix}area/{la}.html" for la in la_codes}
            map_svg = R.choropleth("la", rows, c["unit"], _("Map of the local authorities of Wales: %(indicator)s, %(period)s",
                                                           indicator=L.text(c["label"]), period=L.period(lm["period_label"])),
                                   la_codes, lambda code: L.name(d.la_by_code[code]))
            table = {"rows": rows, "download": self._downloads_for(path, files["wales"][ind]),
                     "download_id": files["wales"][ind]["csv"]}
            crumbs = [] if is_index else [(_("Wales"), prefix + "index.html"), (L.text(c["label"]), None)]
            ctx = R.context(path, crumbs, ind=c, la_map=lm, la_table=table, map_svg=map_svg, is_index=is_index,
                            map_choices=groups, indicator_groups=all_groups, default_indicator=default,
                            area_links=area_links, exceptions=d.exceptions, exception_groups=exception_groups,
                            not_bundled=not_bundled, live=self.live,
                            exceptions_download=self._downloads_for(path, files["exceptions"]))
            self._write(path, _ENV.get_template("home.html.j2").render(ctx), "home")

        # About
        path = f"{lang}/about.html"
        self._write(path, _ENV.get_template("about.html.j2").render(
            R.context(path, [(_("Wales"), "index.html"), (_("About the atlas"), None)])), "about")

        # Area pages
        for la in d.las:
            self._area_page(R, la, files)

        # Indicator pages
        for ind, t in d.tables.items():
            self._indicator_page(R, ind, t, files, la=None)
            for la in d.las:
                lt = d.la_tables.get((ind, la["code"]))
                if lt is not None:
                    self._indicator_page(R, ind, lt, files, la=la)
        self.untranslated |= L.untranslated
        self.missing |= L.missing

    def _area_page(self, R: Renderer, la: dict, files: dict) -> None:
        d, L = self.data, R.L
        _ = L.gettext
        path = f"{L.code}/area/{la['code']}.html"
        rows = d.profiles.get(la["code"], [])
        factors = model.profile_by_factor(rows, d.indicators, d.trends, la["code"])
        trends = {r["indicator_id"]: R.trend(la, r) for r in rows}
        indicator_pages = {ind: f"../indicator/{ind}/{la['code']}.html" for (ind, code) in d.la_tables if code == la["code"]}
        exceptions = [e for e in d.exceptions if e["la_code"] == la["code"]]
        community = []
        for r in d.community.get(la["code"], []):
            if not community or community[-1][0] != r["topic"]:
                community.append((r["topic"], []))
            community[-1][1].append(r)
        ctx = R.context(
            path, [(_("Wales"), "../index.html"), (L.name(la), None)], la=la, factors=factors, trends=trends,
            indicator_anchor=lambda ind: f"#ind-{ind}", lsoa_names=d.lsoa_names, indicator_pages=indicator_pages,
            exceptions=exceptions, community=community, topic_labels={t: R.topic_label(t) for t, _r in community},
            community_value=R.community_value,
            profile_download=self._downloads_for(path, files["area"].get(la["code"], {"csv": "", "parquet": ""})),
            community_download=self._downloads_for(path, files["community"].get(la["code"], {"csv": "", "parquet": ""})),
        )
        self._write(path, _ENV.get_template("area.html.j2").render(ctx), "area")

    def _indicator_page(self, R: Renderer, ind: str, t: dict, files: dict, la: dict | None) -> None:
        d, L = self.data, R.L
        _ = L.gettext
        c = d.indicators[ind]
        path = f"{L.code}/indicator/{ind}.html" if la is None else f"{L.code}/indicator/{ind}/{la['code']}.html"
        prefix = "../" * (path.count("/") - 1)
        rows = t["frame"].to_dicts()
        level = t["level"]
        force_of = None
        if level in ("lsoa", "msoa", "ward"):
            names = {}
            if level == "lsoa":
                pool = [(code, n) for code, n in d.lsoa_names.items() if la is None or n["la_code"] == la["code"]]
                codes = sorted(code for code, _n in pool)
                names = {code: L.area_name(n) for code, n in pool}
            else:
                codes = sorted(r["area_code"] for r in rows)
                if level == "msoa" and la is None:
                    codes = sorted({n["msoa21_code"] for n in d.lsoa_names.values()})
                elif level == "msoa":
                    codes = sorted({n["msoa21_code"] for n in d.lsoa_names.values() if n["la_code"] == la["code"]})
                by = {r["area_code"]: r for r in rows}
                names = {code: L.area_name({"name": by[code]["area_name"], "name_cy": by[code]["area_name_cy"]})
                         if code in by else code for code in codes}
            name_of = names.get
            area_links = {}
        elif level == "police_force":
            codes = [x["code"] for x in d.las]
            force_of = {x["code"]: x["police_force_code"] for x in d.las}
            name_of = lambda code: L.name(d.la_by_code[code])  # noqa: E731
            area_links = {}
        else:
            codes = [x["code"] for x in d.las]
            name_of = lambda code: L.name(d.la_by_code[code])  # noqa: E731
            area_links = {x["code"]: f"{prefix}area/{x['code']}.html" for x in d.las}
        place = L.name(la) if la else _("Wales")
        map_svg = R.choropleth(level, rows, c["unit"], _("Map of %(place)s by %(level)s: %(indicator)s, %(period)s",
                                                        place=place, level=L.level(level), indicator=L.text(c["label"]),
                                                        period=L.period(t["period_label"])),
                               codes, lambda code: name_of(code) or code, force_of=force_of)
        dl = files["indicator"][ind] if la is None else files["la_indicator"][(ind, la["code"])]
        table = {**t, "rows": rows, "download": self._downloads_for(path, dl), "download_id": dl["csv"]}
        la_links = []
        if la is None:
            la_links = [(x, f"{ind}/{x['code']}.html") for x in d.las if (ind, x["code"]) in d.la_tables]
        coverage_note = ""
        ends = self.police_file_ends
        if c["cohesion_factor"] in ("crime", "local_extra") and c["source"].startswith("data.police.uk") and ends:
            coverage_note = _("The forces' police.uk files do not all end in the same month (%(ends)s): a period that ends "
                              "after a force's last month has no figure for its local authorities.",
                              ends="; ".join(", ".join(L.name(f) for f in forces) + ": " + L.month(end)
                                             for end, forces in ends))
        caption = _("%(indicator)s by %(level)s, %(place)s, %(period)s (rank 1 = highest value)",
                    indicator=L.text(c["label"]), level=L.level(level), place=place, period=L.period(t["period_label"]))
        crumbs = [(_("Wales"), prefix + "index.html")]
        if la is not None:
            crumbs += [(L.text(c["label"]), f"../{ind}.html"), (L.name(la), None)]
        else:
            crumbs += [(L.text(c["label"]), None)]
        ctx = R.context(path, crumbs, ind=c, table=table, map_svg=map_svg, la=la, la_links=la_links,
                        area_links=area_links, caption=caption, coverage_note=coverage_note)
        self._write(path, _ENV.get_template("indicator.html.j2").render(ctx), "indicator")

    def build_root(self) -> None:
        en, cy = AtlasLang("en"), AtlasLang("cy")
        html = _ENV.get_template("choose.html.j2").render(en=en.gettext, cy=cy.gettext, marker_css=MARKER_CSS)
        self._write("index.html", html, "language")
        self.missing |= cy.missing


def build_site(data: model.AtlasData, root: Path, pdf: bool = True, previous: Path | None = None,
               live: bool = False) -> dict:
    """Write every page, download and profile document of the atlas under ``root`` (an empty folder); profile PDFs
    whose HTML is unchanged are copied from the ``previous`` site. The profile PDFs (most of the time) render in
    worker processes while this process writes the pages and downloads."""
    from orchestration.lib.atlas.profile_doc import write_profiles

    builder = SiteBuilder(data, root, pdf=pdf, live=live)

    def pages_and_downloads() -> None:
        files = builder.write_downloads()
        builder.build_root()
        for lang in LANGUAGES:
            builder.build_language(lang, files)

    prof = write_profiles(data, root, [la["code"] for la in data.las], pdf=pdf, previous=previous,
                          meanwhile=pages_and_downloads)
    for kind in ("profile_html", "profile_pdf", "method"):
        builder.pages[kind].extend(prof["pages"][kind])
    builder.untranslated |= prof["untranslated"]
    builder.missing |= prof["missing"]
    return {"pages": builder.pages, "downloads": builder.downloads, "untranslated": sorted(builder.untranslated),
            "missing_welsh": sorted(builder.missing), "pdfs_rendered": prof["pdfs_rendered"]}


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Replace out_dir by tmp with two renames (a reader sees the old site or the new one, never a mix)."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_atlas(warehouse: Path, out_dir: Path, pdf: bool = True, live: bool = False) -> dict:
    """Build the whole atlas from ``warehouse`` (opened read-only) into ``out_dir`` and return a summary:
    ``pages`` {page type: [relative paths]} for home, area, indicator, profile_html, profile_pdf (and about,
    language, method: the exception method page), ``downloads`` [relative paths], ``seconds``, ``bytes``,
    ``untranslated`` (data notes shown in English on Welsh pages) and ``missing_welsh`` (fixed strings with no
    Welsh: should be empty). ``live``: the warehouse was built from live downloads, not the bundled snapshots
    (what the home page says of indicators with no figure)."""
    started = time.monotonic()
    warehouse, out_dir = Path(warehouse), Path(out_dir)
    data = model.load(warehouse)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        summary = build_site(data, tmp, pdf=pdf, previous=out_dir if out_dir.is_dir() else None, live=live)
        # what the site holds, for scripts and tests that read a built atlas (pages by type, downloads)
        summary.update({"built_on": data.built_on.isoformat(), "seconds": round(time.monotonic() - started, 1),
                        "page_count": sum(len(v) for v in summary["pages"].values()),
                        "bytes": sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())})
        write_atomic(tmp / "manifest.json", json.dumps(summary, indent=1))
        os.chmod(tmp, 0o755 & ~current_umask())
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary.update({"path": str(out_dir), "seconds": round(time.monotonic() - started, 1)})
    return summary


def _remove_leftovers(out_dir: Path, older_than_s: float = 6 * 3600) -> None:
    """Folders a killed build left beside out_dir: replaced sites at once, unfinished ones after a while (a build
    runs in the warehouse pool, one at a time, so an old unfinished folder belongs to no live build)."""
    now = time.time()
    for p in out_dir.parent.glob(f".{out_dir.name}.*"):
        if not p.is_dir():
            continue
        if ".old-" in p.name or (".new-" in p.name and now - p.stat().st_mtime > older_than_s):
            shutil.rmtree(p, ignore_errors=True)


