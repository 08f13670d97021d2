"""Text that came from outside (partner cells, file names) made safe for where it is written.

- ``neutralise_formula``: the OWASP rule against CSV/formula injection. A cell that starts with ``=``,
  ``+``, ``-``, ``@``, a tab or a carriage return (or their full-width forms, which some spreadsheets also
  evaluate) is read by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``,
  ``-2+3``, ``@SUM(...)``); prefixing a single quote makes it text. Applied to partner free text and codes
  before they are stored, and to every cell of every CSV the project writes.
- ``md_cell``: text for a Markdown table cell (REPORT.md, Dagster metadata): HTML and Markdown
  metacharacters become entities, so ``<script>`` or ``[link](…)`` is shown, never run or followed.
HTML pages are rendered by Jinja with autoescape on (report_html.py). No Dagster imports.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise_formula(value):
    """'=HYPERLINK("x")' -> "'=HYPERLINK(\"x\")"; anything not a formula-leading string is returned as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_row(values: dict) -> dict:
    return {key: neutralise_formula(value) for key, value in values.items()}


# the same rule as a regular expression (DuckDB, polars): a text starting with one of FORMULA_PREFIXES
FORMULA_START = "^[=+\\-@\t\r\uff1d\uff0b\uff0d\uff20]"


def neutralise_frame(frame):
    """A polars DataFrame with neutralise_formula applied to every text cell (for CSV written with polars)."""
    import polars as pl

    text = [name for name, dtype in frame.schema.items() if dtype == pl.Utf8]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name))
        .alias(name) for name in text)


# HTML tags, table pipes, code spans and link brackets; emphasis characters (* _) are left readable: at worst
# they italicise a word, they cannot run or link anything.
_MD = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;", "[": "&#91;", "]": "&#93;",
    "\n": " ", "\r": " ",
})


def md_cell(text: object, limit: int | None = None) -> str:
    value = "" if text is None else str(text)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.translate(_MD)
