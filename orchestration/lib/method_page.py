"""The method page every output links to: the dbt docs block ``exception_method`` as one static HTML page.

One exception method serves every output (dbt_project/models/exception_method.md: the tests, the minimum counts,
Benjamini–Hochberg families, the materiality threshold, series breaks, what each mart uses). The outputs are read
offline (a file share, an archive, ``file://``) and dbt's own docs site is built only by ``make docs`` and lives
in dbt_project/target, which no reader of a report has. So each output folder gets this page, written from the
same Markdown, and links to it by a relative address:

* the quarterly crime exception report: ``<reports>/exception_method.html`` beside the report;
* the monitoring pack: ``<reports>/<quarter>/<group>/v<N>/exception_method.html`` beside the pack files;
* the atlas and the annual cohesion profile documents: ``<atlas>/exception_method.html`` at the site root.

The method text is in English only (it is the warehouse's technical documentation); the page says so in Welsh
and in English at the top, and its Welsh sentences come from the message catalogue like every other fixed string.
The page is self-contained: inline CSS, no script, nothing fetched (a Content-Security-Policy forbids it).

No Dagster imports.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from orchestration.lib.pack.i18n import N_, Lang
from orchestration.lib.private_files import write_atomic

REPO = Path(__file__).resolve().parents[2]
METHOD_MARKDOWN = REPO / "dbt_project" / "models" / "exception_method.md"
PAGE_NAME = "exception_method.html"

TITLE = N_("How the warehouse decides what is an exception: the method")
ENGLISH_ONLY = N_("The method below is in English only: it is the technical description of the tests, written once "
                  "for every output of the warehouse.")
ONE_METHOD = N_("One method serves every output: the quarterly crime exception report, the monitoring pack, the "
                "cohesion atlas and the annual cohesion profile link to this page.")

_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{ en_title }} / {{ cy_title }}</title>
<style>
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #0b0c0c; background: #fff; line-height: 1.5; margin: 0; }
main { max-width: 980px; margin: 0 auto; padding: 16px 20px 40px; }
header { border-bottom: 4px solid #1d4f91; margin-bottom: 16px; }
h1 { font-size: 1.6rem; margin: 8px 0; }
p.cy-title { font-size: 1.25rem; font-weight: bold; margin: 0 0 8px; }
p.note { background: #f3f2f1; border-left: 6px solid #1d4f91; padding: 8px 12px; }
code { font-family: "DejaVu Sans Mono", monospace; background: #f3f2f1; padding: 0 2px; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 12px 0; width: 100%; }
th, td { border: 1px solid #505a5f; padding: 4px 6px; text-align: left; vertical-align: top; font-size: .92rem; }
th { background: #f3f2f1; }
.scroll { overflow-x: auto; }
@media print { main { max-width: none; } }
</style>
</head>
<body>
<main>
<header>
<h1>{{ en_title }}</h1>
<p class="cy-title" lang="cy">{{ cy_title }}</p>
<p class="note">{{ en_note }} <span lang="cy">{{ cy_note }}</span></p>
<p>{{ en_one }} <span lang="cy">{{ cy_one }}</span></p>
<p>Source: dbt docs block <code>exception_method</code> (<code>dbt_project/models/exception_method.md</code>).</p>
</header>
<article>
{{ body }}
</article>
</main>
</body>
</html>
""")


def method_markdown() -> str:
    """The method's Markdown: the docs block without its ``{% docs %}`` / ``{% enddocs %}`` lines."""
    text = METHOD_MARKDOWN.read_text(encoding="utf-8")
    match = re.search(r"\{%\s*docs\s+exception_method\s*%\}(.*?)\{%\s*enddocs\s*%\}", text, flags=re.S)
    if not match:
        raise ValueError(f"{METHOD_MARKDOWN} holds no docs block exception_method")
    return match[1].strip() + "\n"


def render_method_page() -> str:
    """The page's HTML (English method text; the title and notes in English and Welsh)."""
    return _render(method_markdown())


@cache  # one rendering per process for the same text (every pack version gets the page)
def _render(markdown: str) -> str:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = md.render(markdown)
    # wide tables scroll on a phone instead of widening the page
    body = body.replace("<table>", '<div class="scroll" tabindex="0" role="region" aria-label="Table (scrolls sideways '
                        'on a narrow screen)"><table>').replace("</table>", "</table></div>")
    en, cy = Lang("en"), Lang("cy")
    html = _TEMPLATE.render(
        en_title=en.gettext(TITLE), cy_title=cy.gettext(TITLE), en_note=en.gettext(ENGLISH_ONLY),
        cy_note=cy.gettext(ENGLISH_ONLY), en_one=en.gettext(ONE_METHOD), cy_one=cy.gettext(ONE_METHOD),
        body=Markup(body),
    )
    if cy.missing:
        raise ValueError(f"the method page's Welsh is missing for {sorted(cy.missing)} (scripts/update_messages.py)")
    return html


def write_method_page(folder: Path, write=None, mode: int = 0o644) -> Path:
    """Write ``exception_method.html`` into ``folder`` (atomically, with ``mode`` less the umask; or with
    ``write(path, bytes)``, e.g. the pack archive's owner-only writer) and return its path."""
    path = Path(folder) / PAGE_NAME
    data = render_method_page().encode("utf-8")
    if write is not None:
        write(path, data)
        return path
    write_atomic(path, data, mode=mode)
    return path
