"""The Great Expectations Data Docs site, readable offline.

GX 1.x's page templates load jQuery, Bootstrap, bootstrap-table, the datepicker, Font Awesome and Vega from
public CDNs and its logo from S3, so on a machine without internet the site is a blank page (stack notes).
This site builder is GX's own extension point (``data_docs_sites.<site>.class_name`` / ``module_name`` and the
sections' ``view`` in great_expectations.yml; ``SITE_CONFIG`` below is what runner._context writes there):

- its views read GX's templates through a loader that points every CDN address at the same file vendored in
  ``orchestration/lib/quality/vendor/`` (versions, origins and licences in its README.md), served from the
  site's ``static/vendor/``, and that swaps in our own navbar logo, favicon, footer and a few styles
  (``templates/`` beside this file);
- after each build it copies the vendored files and ``static/`` beside this file into the site, each vendored
  stylesheet also as a script that puts its rules in the page (``stylesheet_script``: read on, below).

Every page must open from file:// in Chromium with no console error and meet WCAG 2.1 AA (axe-core;
tests/test_pages_in_browser.py). What GX's pages lack for that is added here, not by editing the built HTML:

- ``<html lang="en">`` (``offline_source``);
- the tabs of the index page as a tab list (our ``tabs.j2``: its list items are ``role="presentation"``);
- colours of 4.5:1 or more in both themes, links underlined in text, and long values that wrap instead of
  widening the page (``data_docs_custom_styles.css``);
- accessible names for bootstrap-table's filter controls and keyboard access to a table that scrolls in its
  box: both are drawn by bootstrap-table in the browser, so a small script configures it
  (``static/data_docs.js``, loaded by our ``js_script_imports.j2`` after GX's own scripts);
- stylesheets whose rules a script in the page may read. Chromium gives every file:// address an origin of its
  own, so a ``<link rel="stylesheet">`` to another file is cross-origin and its rules are hidden from scripts;
  axe-core (which by default preloads the rules of every stylesheet in the page) then fetches the file by
  XMLHttpRequest, which Chromium refuses from file://: "blocked by CORS policy", a console error per
  stylesheet (the page itself fetches nothing by script). Inlining 430 kB of Bootstrap, Font Awesome and the
  rest in each of some 400 pages would multiply the site's size, so each vendored stylesheet is loaded by a
  script beside it (``static/vendor/<file>.css.js``, ``stylesheet_script``) that inserts the same rules as a
  ``<style>`` where the link was; a ``<noscript>`` link keeps the styles for a reader without JavaScript.

``external_references`` lists whatever in a built site would still be fetched from the internet; the tests
require it to be empty. No Dagster imports.
"""

from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path

from great_expectations.render.renderer.site_builder import SiteBuilder
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BaseLoader

HERE = Path(__file__).parent
VENDOR_DIR = HERE.parent / "vendor"
OWN_TEMPLATES = HERE / "templates"
OWN_STATIC = HERE / "static"

# Every address GX 1.24's templates load, and the vendored file (under vendor/) that replaces it. GX asks for
# "@5"/"@6" of Vega, Vega-Lite and Vega-Embed (whatever the CDN serves today): the newest of those majors
# at the time of vendoring. The filter-control stylesheet is asked for as 1.19.0 on some pages; 1.19.1 is
# the version of the script beside it.
CDN = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/popper.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/vega-embed.min.js",
}
# GX's dark-mode stylesheet swaps the navbar logo for one on S3; our logo draws itself in both modes.
DARK_LOGO = "url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png')"
# Subresource-integrity and CORS attributes: a browser refuses a crossorigin script read from file://.
_SRI = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
# A vendored stylesheet's <link> (after the CDN address is replaced): loaded by its script instead (see above)
_VENDOR_STYLESHEET = re.compile(
    r'<link\b(?=[^>]*\brel="stylesheet")[^>]*\bhref="(\{\{ site_root \}\}static/vendor/[^"]+\.css)"[^>]*>')
# A url() in a stylesheet (quoted or not); the addresses that are not relative (data:, a scheme, a path from
# the root, a fragment); and what a relative one is made relative to in the stylesheet's script: the folder of
# the script, known only in the browser
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^"'()\s]*))\s*\)""", re.IGNORECASE)
_NOT_RELATIVE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|/|#|$)", re.IGNORECASE)
CSS_DIR = "__stylesheet_folder__/"

SITE_MODULE = __name__
SITE_CONFIG = {
    "class_name": "OfflineSiteBuilder",
    "module_name": SITE_MODULE,
    # GX's how-to buttons, walkthrough modal and call-to-action footer link to its online docs
    "show_how_to_buttons": False,
    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": "uncommitted/data_docs/local_site/"},
    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                           "view": {"module_name": SITE_MODULE, "class_name": "OfflineIndexPageView"}},
    "site_section_builders": {
        section: {"view": {"module_name": SITE_MODULE, "class_name": "OfflinePageView"}}
        for section in ("expectations", "validations", "profiling")
    },
}


def offline_source(source: str) -> str:
    """A GX template (or stylesheet) with every CDN address pointing at the vendored copy in the site.
    ``site_root`` is the relative path from the page to the site's root, given to every render."""
    for url, local in CDN.items():
        source = source.replace(url, "{{ site_root }}static/vendor/" + local)
    source = _SRI.sub("", source.replace(DARK_LOGO, "none"))
    source = _VENDOR_STYLESHEET.sub(
        lambda m: f'<script src="{m[1]}.js"></script><noscript><link rel="stylesheet" href="{m[1]}"></noscript>',
        source)
    return source.replace("<html>", '<html lang="en">')


def stylesheet_script(css: str) -> str:
    """A script that inserts the stylesheet's rules as a ``<style>`` element just after itself (where the
    ``<link>`` was, so the cascade is the same), its relative url()s resolved against the script's own folder
    (the stylesheet's). Served as ``<stylesheet>.js`` beside the stylesheet (see the module's docstring)."""
    def folder(match: re.Match) -> str:
        quote = '"' if match[1] is not None else "'" if match[2] is not None else ""
        address = next(group for group in match.groups() if group is not None)
        return match[0] if _NOT_RELATIVE.match(address) else f"url({quote}{CSS_DIR}{address}{quote})"

    rules = _CSS_URL.sub(folder, css)
    return (
        "/* Generated by orchestration/lib/quality/data_docs: the stylesheet beside this file, put in the page as a\n"
        "   <style> element (the rules of a stylesheet from another file:// address are hidden from scripts). */\n"
        "(function (script) {\n"
        '  var style = document.createElement("style");\n'
        f"  style.textContent = {json.dumps(rules)}\n"
        f'    .split({json.dumps(CSS_DIR)}).join(new URL(".", script.src).href);\n'
        "  script.parentNode.insertBefore(style, script.nextSibling);\n"
        "})(document.currentScript);\n")


def site_root(document) -> str:
    """The relative path from a page to the site's root, as GX lays the site out: expectations/<suite parts>.html
    and validations/<suite parts>/<run name>/<run time>/<batch>.html, a suite name's dots making folders
    (the same depths as GX's own top_navbar.j2 computes for its home link)."""
    renderer = _field(document, "renderer_type") or ""
    dots = (_field(document, "expectation_suite_name") or "").count(".")
    if "ValidationResults" in renderer or "ProfilingResults" in renderer:
        return "../" * (dots + 4)
    if "ExpectationSuite" in renderer:
        return "../" * (dots + 1)
    return "./"


def _field(document, name: str):
    return document.get(name) if isinstance(document, dict) else getattr(document, name, None)


class OfflineTemplateLoader(BaseLoader):
    """GX's template loader, with our own templates first and every template made offline. GX's own version of
    a template we replace stays readable as ``gx/<name>`` (our js_script_imports.j2 includes GX's)."""

    def __init__(self, inner: BaseLoader):
        self.inner = inner

    def get_source(self, environment, template):
        own = OWN_TEMPLATES / template
        if template.startswith("gx/"):
            source, filename, uptodate = self.inner.get_source(environment, template[3:])
        elif own.is_file():
            source, filename, uptodate = own.read_text(encoding="utf-8"), str(own), lambda: True
        else:
            source, filename, uptodate = self.inner.get_source(environment, template)
        return offline_source(source), filename, uptodate

    def list_templates(self):
        return sorted(set(self.inner.list_templates()) | {p.name for p in OWN_TEMPLATES.iterdir()})


class _OfflineView:
    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        self.env.loader = OfflineTemplateLoader(self.env.loader)

    def render(self, document, template=None, **kwargs):
        return super().render(document, template, **{"site_root": site_root(document), **kwargs})


class OfflinePageView(_OfflineView, DefaultJinjaPageView):
    """Expectation suite and validation result pages."""


class OfflineIndexPageView(_OfflineView, DefaultJinjaIndexPageView):
    """The site's index page."""


class OfflineSiteBuilder(SiteBuilder):
    """GX's site builder; after each build the vendored files and our own images join the site's static/."""

    def build(self, resource_identifiers=None, build_index: bool = True):
        built = super().build(resource_identifiers=resource_identifiers, build_index=build_index)
        backend = self.target_store.store_backends["static_assets"]
        for folder, prefix in ((VENDOR_DIR, ("static", "vendor")), (OWN_STATIC, ("static", "cohesion"))):
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                key = prefix + path.relative_to(folder).parts
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                backend.set(key, path.read_bytes(), content_type=content_type)
                if folder == VENDOR_DIR and path.suffix == ".css":
                    script = stylesheet_script(path.read_text(encoding="utf-8"))
                    backend.set(key[:-1] + (path.name + ".js",), script, content_type="text/javascript")
        # GX copies its stylesheet as a file too (the pages inline it): without the S3 logo as well
        key = ("static", "styles", "data_docs_default_styles.css")
        if backend.has_key(key):
            backend.set(key, offline_source(backend.get(key)), content_type="text/css")
        return built


def external_references(site_dir: Path) -> list[str]:
    """Every src/href/url()/@import in the site's HTML and CSS that a browser would fetch from the internet,
    as '<file>: <address>' (empty for an offline site). Plain <a href> links to web pages count too: the
    site should not send its reader out of it."""
    pattern = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])\s*((?:https?:)?//[^"')\s>]+)""",
                         re.IGNORECASE)
    found = []
    for path in sorted(site_dir.rglob("*")):
        if path.suffix.lower() in (".html", ".htm", ".css") and path.is_file():
            for match in pattern.finditer(path.read_text(encoding="utf-8", errors="replace")):
                found.append(f"{path.relative_to(site_dir)}: {match.group(1)}")
    return found
