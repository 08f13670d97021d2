"""Render the quarterly crime exception report as one self-contained HTML file.

The Welsh Government guide "Community Mapping and Tension Monitoring" (Part 2) asks for quarterly
updates *reported by exception*: the tension monitoring group sees only the areas where something
changed. This module turns a plain context dict into that report. The output has inline CSS only
(no scripts, fonts, images or links that must load), so it can be e-mailed, archived and printed on
A4 as it is. Templates are rendered with jinja2 autoescaping, so names from source data are safe.

Context dict (``ctx``) - every key is required unless marked optional::

    title: str               e.g. "Quarterly crime exception report - Gwent, 2024 Q2"
    quarter_label: str       e.g. "2024 Q2 (April-June 2024)"
    baseline_label: str      e.g. "2023 Q2 - 2024 Q1 (previous four quarters)"
    generated_at: str        ISO timestamp
    areas_covered: str       e.g. "Gwent Police area: Blaenau Gwent, Caerphilly, ..."
    marking: str             optional; default "OFFICIAL — for the tension monitoring group"
    method: {test_name, description, alpha, correction, n_tests}
            optional extra: ci_confidence (float, default 0.95) - level of the rate intervals;
            families ([{crime_group_label, n_tests}]) - the false discovery rate families (one per crime
            group) and their sizes; page (str) - relative address of the method page (default
            "exception_method.html", written beside the report by crime_exceptions.save_report)
    crime_groups: [{id, label, definition}]
    headline_context: str    optional; a sentence after the headline count (e.g. the unadjusted count)
    force_ratios: [{area_name, crime_group_label, ratio}]   optional; force-wide change this quarter
    summary: [{la_name, crime_group_label, lsoas_tested, lsoas_flagged, lsoas_above_own_past}]
    flags: [{lsoa21_code, lsoa21_name, ward_name, la_name, crime_group_label, observed,
             baseline_count, expected_own_past, force_ratio, expected, ratio, p_value, q_value, population,
             rate_per_1000_py, expected_rate_per_1000_py, rate_lci_per_1000_py, rate_uci_per_1000_py}]
            rates are per 1,000 person-years (residents × days / 365.25)
            already sorted by the caller; may be empty. Numeric fields other than the counts may
            be None (shown as an em dash), e.g. a rate when population is unknown.
    area_totals: [{area_name, geography_level, crime_group_label, observed, expected_own_past, expected,
                   ratio, is_exception}]
    sources: [{name, dataset, vintage, licence, detail}]
    caveats: [str]

Missing keys raise ``ValueError`` naming the key (e.g. ``flags[3].q_value``).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2

__all__ = [
    "render_crime_exception_report",
    "write_report",
    "DEFAULT_MARKING",
    "OGL_ATTRIBUTION",
]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "crime_exception_report.html.j2"
DEFAULT_MARKING = "OFFICIAL — for the tension monitoring group"
OGL_ATTRIBUTION = "Contains public sector information licensed under the Open Government Licence v3.0"

_TOP_LEVEL_KEYS = (
    "title",
    "quarter_label",
    "baseline_label",
    "generated_at",
    "areas_covered",
    "method",
    "crime_groups",
    "summary",
    "flags",
    "area_totals",
    "sources",
    "caveats",
)
_ROW_KEYS: dict[str, tuple[str, ...]] = {
    "method": ("test_name", "description", "alpha", "correction", "n_tests"),
    "crime_groups": ("id", "label", "definition"),
    "summary": ("la_name", "crime_group_label", "lsoas_tested", "lsoas_flagged", "lsoas_above_own_past"),
    "flags": (
        "lsoa21_code",
        "lsoa21_name",
        "ward_name",
        "la_name",
        "crime_group_label",
        "observed",
        "baseline_count",
        "expected_own_past",
        "force_ratio",
        "expected",
        "ratio",
        "p_value",
        "q_value",
        "population",
        "rate_per_1000_py",
        "expected_rate_per_1000_py",
        "rate_lci_per_1000_py",
        "rate_uci_per_1000_py",
    ),
    "area_totals": ("area_name", "geography_level", "crime_group_label", "observed", "expected_own_past", "expected",
                    "ratio", "is_exception"),
    "sources": ("name", "dataset", "vintage", "licence", "detail"),
}

_DASH = "—"
_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")


# --------------------------------------------------------------------------------------------
# Number formatting (used as jinja filters; all return plain text, escaped by the template)
# --------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_int(value: Any) -> str:
    """Count with thousands separators: 12345 -> '12,345'."""
    if _missing(value):
        return _DASH
    return f"{int(round(float(value))):,}"


def fmt_fixed(value: Any, places: int = 1) -> str:
    """Fixed decimals with thousands separators: fmt_fixed(1234.56, 1) -> '1,234.6'."""
    if _missing(value):
        return _DASH
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:,.{places}f}"


def fmt_prob(value: Any) -> str:
    """p/q-value: 3 d.p. from 0.001 up, else scientific ('2.4 × 10⁻⁵'); 0 -> '< 1 × 10⁻³⁰⁰'."""
    if _missing(value):
        return _DASH
    value = float(value)
    if value >= 0.001:
        return f"{value:.3f}"
    if value <= 0.0:
        # Underflow: the exact p-value is below the smallest double we trust.
        return "< 1 × 10⁻³⁰⁰"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def fmt_range(low: Any, high: Any, places: int = 1) -> str:
    """Interval as 'low–high' (en dash) with the given decimals."""
    if _missing(low) or _missing(high):
        return _DASH
    return f"{fmt_fixed(low, places)}–{fmt_fixed(high, places)}"


def fmt_percent(value: Any) -> str:
    """Confidence level as a percentage without needless decimals: 0.95 -> '95%'."""
    return f"{float(value) * 100:g}%"


# --------------------------------------------------------------------------------------------
# Validation and rendering
# --------------------------------------------------------------------------------------------


def _validate(ctx: dict) -> None:
    if not isinstance(ctx, dict):
        raise ValueError("ctx must be a dict")
    for key in _TOP_LEVEL_KEYS:
        if key not in ctx:
            raise ValueError(f"crime exception report context is missing required key '{key}'")
    for key in ("summary", "flags", "area_totals", "sources", "caveats", "crime_groups"):
        if not isinstance(ctx[key], (list, tuple)):
            raise ValueError(f"ctx['{key}'] must be a list, got {type(ctx[key]).__name__}")
    method = ctx["method"]
    if not isinstance(method, dict):
        raise ValueError("ctx['method'] must be a dict")
    for sub in _ROW_KEYS["method"]:
        if sub not in method:
            raise ValueError(f"crime exception report context is missing required key 'method.{sub}'")
    for section, keys in _ROW_KEYS.items():
        if section == "method":
            continue
        for i, row in enumerate(ctx[section]):
            if not isinstance(row, dict):
                raise ValueError(f"ctx['{section}'][{i}] must be a dict")
            for sub in keys:
                if sub not in row:
                    raise ValueError(
                        f"crime exception report context is missing required key '{section}[{i}].{sub}'"
                    )


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt_int=fmt_int,
        fmt_fixed=fmt_fixed,
        fmt_prob=fmt_prob,
        fmt_range=fmt_range,
        fmt_percent=fmt_percent,
    )
    return env


def render_crime_exception_report(ctx: dict) -> str:
    """Render the report context (see module docstring) to a self-contained HTML string."""
    _validate(ctx)
    method = dict(ctx["method"])
    method.setdefault("ci_confidence", 0.95)
    method.setdefault("families", [])
    method.setdefault("page", "exception_method.html")
    values = dict(ctx)
    values["method"] = method
    values["marking"] = ctx.get("marking") or DEFAULT_MARKING
    values["ogl_attribution"] = OGL_ATTRIBUTION
    values["n_flags"] = len(ctx["flags"])
    values.setdefault("headline_context", "")
    values.setdefault("force_ratios", [])
    return _environment().get_template(TEMPLATE_NAME).render(**values)


def write_report(ctx: dict, path: Path) -> Path:
    """Render and write atomically (temp file in the same directory, then os.replace).

    Readers never see a half-written report, and a failed render leaves any previous file intact.
    """
    path = Path(path)
    html = render_crime_exception_report(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o640)  # mkstemp creates 0600; the service group may read it, never the world
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path
