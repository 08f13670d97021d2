"""Inline SVG figures for the cohesion atlas and the annual cohesion profile: a classed choropleth, a
Fingertips-style spine chart and a trend chart with 95% intervals and series breaks.

Same rules as ``orchestration/lib/svg.py`` (whose internals these reuse): no scripts, fonts, images or links
that must load; every word shown comes from the caller, already translated and formatted; caller text is
escaped; ids are a hash of the inputs, so the same inputs give the same string; ``role="img"`` with a
``<title>`` and ``<desc>`` for screen readers (the pages also give the figures' numbers as tables).

Maps are drawn from the bundled generalised boundaries (LSOA 2021, MSOA 2021, 2025 wards, local authorities)
with svg.py's projection and Douglas-Peucker simplification. The projected outline of a set of areas is
cached per (level, codes, size), so the same 1,917 LSOAs drawn for twenty indicators in two languages are
projected once.

No Dagster imports.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestration.lib.svg import (
    _FONT,
    LA_BOUNDARIES,
    LEVELS,
    _area_path,
    _attr,
    _check_size,
    _nice_ceiling,
    _num,
    _open_svg,
    _project_and_simplify,
    _require,
    _text,
    _text_width,
    _uid,
    load_boundaries,
)

if TYPE_CHECKING:
    import numpy as np  # imported where a map is measured (svg.py says why)

# level -> (boundary file, code property): svg.py's LSOA and ward files, plus MSOAs and local authorities.
MAP_LEVELS: dict[str, tuple[str, str]] = {
    **LEVELS,
    "lsoa": LEVELS["lsoa21"],
    "msoa": ("wales_msoa21_bgc.geojson", "MSOA21CD"),
    "la": LA_BOUNDARIES,
}

# Sequential classes, light to dark (ColorBrewer YlGnBu, 5 classes: colour-blind safe, prints in grey).
CLASS_FILLS: tuple[str, ...] = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")
NO_DATA_FILL = "#d4d4d4"
AREA_STROKE = "#ffffff"
TEXT_FILL = "#1b1b1b"

# The exception engine's verdicts (marts: fct_indicator_benchmark.assessment, mart_cohesion_profile
# .assessment_vs_wales) as Public Health England's Fingertips draws them, each with its own marker shape so
# colour is not the only carrier.
ASSESSMENT_STYLE: dict[str, dict[str, str]] = {
    "better": {"fill": "#4c9a2a", "shape": "circle"},
    "similar": {"fill": "#ffc000", "shape": "square"},
    "worse": {"fill": "#c00000", "shape": "diamond"},
    "higher": {"fill": "#5555e6", "shape": "triangle-up"},
    "lower": {"fill": "#bed2ff", "shape": "triangle-down"},
    "not compared": {"fill": "#ffffff", "shape": "circle"},
    "suppressed": {"fill": "#ffffff", "shape": "cross"},
}
MARKER_STROKE = "#1b1b1b"


# ----------------------------------------------------------------------------------------------- helpers


def marker_svg(assessment: str, cx: float, cy: float, r: float = 5.0, extra: str = "") -> str:
    """One spine-chart marker: its shape and fill say the verdict (legend and tables say it in words)."""
    style = ASSESSMENT_STYLE.get(assessment or "not compared", ASSESSMENT_STYLE["not compared"])
    fill = f'fill="{style["fill"]}" stroke="{MARKER_STROKE}" stroke-width="1"'
    shape = style["shape"]
    if shape == "cross":
        k = r * 0.8
        return (f'<path d="M{_num(cx - k)} {_num(cy - k)}L{_num(cx + k)} {_num(cy + k)}M{_num(cx + k)} {_num(cy - k)}'
                f'L{_num(cx - k)} {_num(cy + k)}" stroke="#4f4f4f" stroke-width="2" fill="none"{extra}/>')
    if shape == "square":
        s = r * 0.9
        return f'<rect x="{_num(cx - s)}" y="{_num(cy - s)}" width="{_num(2 * s)}" height="{_num(2 * s)}" {fill}{extra}/>'
    if shape == "diamond":
        pts = [(cx, cy - r * 1.2), (cx + r * 1.2, cy), (cx, cy + r * 1.2), (cx - r * 1.2, cy)]
    elif shape == "triangle-up":
        pts = [(cx, cy - r * 1.2), (cx + r * 1.1, cy + r * 0.8), (cx - r * 1.1, cy + r * 0.8)]
    elif shape == "triangle-down":
        pts = [(cx, cy + r * 1.2), (cx + r * 1.1, cy - r * 0.8), (cx - r * 1.1, cy - r * 0.8)]
    else:
        return f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="{_num(r)}" {fill}{extra}/>'
    points = " ".join(f"{_num(x)},{_num(y)}" for x, y in pts)
    return f'<polygon points="{points}" {fill}{extra}/>'


def marker_css() -> str:
    """CSS classes ``.mk-<verdict>`` that draw each marker as a background image (an SVG data URI, allowed by the
    pages' Content-Security-Policy): a table of 1,917 LSOAs then carries ``<i class="mk mk-worse">`` per cell, not
    a whole SVG."""
    from urllib.parse import quote

    rules = [".mk{display:inline-block;width:14px;height:14px;margin-right:5px;vertical-align:-2px;"
             "background-repeat:no-repeat;background-size:14px 14px}"]
    for code in ASSESSMENT_STYLE:
        svg = (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>"
               f"{marker_svg(code, 8, 8, 5).replace(chr(34), chr(39))}</svg>")
        rules.append(f'.mk-{code.replace(" ", "-")}{{background-image:url("data:image/svg+xml,{quote(svg, safe="")}")}}')
    return "".join(rules)


def class_breaks(values: list[float], k: int = 5) -> list[float]:
    """Upper bounds of up to ``k`` classes with (nearly) equal counts (quantile classes, as ONS Explore Local
    Statistics maps use), from the sorted values: a presentation choice only. Fewer distinct values than
    ``k`` give one class per distinct value."""
    vals = sorted(v for v in values if v is not None and math.isfinite(v))
    if not vals:
        return []
    distinct = sorted(set(vals))
    if len(distinct) <= k:
        return distinct
    bounds = []
    n = len(vals)
    for i in range(1, k):
        b = vals[min(n - 1, math.ceil(i * n / k) - 1)]
        if not bounds or b > bounds[-1]:
            bounds.append(b)
    if vals[-1] > bounds[-1]:
        bounds.append(vals[-1])
    return bounds


def class_of(value: float | None, bounds: list[float]) -> int | None:
    """Index of the class a value falls in (value <= bound), or None without a value."""
    if value is None or not bounds:
        return None
    for i, b in enumerate(bounds):
        if value <= b:
            return i
    return len(bounds) - 1


def class_fills(n: int) -> list[str]:
    """n sequential fills spread across the palette (n <= 5)."""
    if n <= 0:
        return []
    if n >= len(CLASS_FILLS):
        return list(CLASS_FILLS)
    picks = {1: [3], 2: [1, 4], 3: [0, 2, 4], 4: [0, 1, 3, 4]}[n]
    return [CLASS_FILLS[i] for i in picks]


# ------------------------------------------------------------------------------------------- choropleth


@functools.lru_cache(maxsize=64)
def _geometry(level: str, codes: tuple[str, ...], width: int, map_height: int) -> dict[str, str]:
    """code -> SVG path data, projected into (margin, margin, width, map_height) and simplified (cached)."""
    filename, prop = MAP_LEVELS[level]
    shapes = load_boundaries(filename, prop)
    _require(shapes, list(codes), f"{level} codes", filename)
    rings, owner = [], []
    for code in codes:
        for ring in shapes[code]:
            rings.append(ring)
            owner.append(code)
    margin = 6.0
    projected = _project_and_simplify(rings, (margin, margin, width - 2 * margin, map_height - 2 * margin))
    by_code: dict[str, list[np.ndarray]] = {}
    for code, ring in zip(owner, projected):
        by_code.setdefault(code, []).append(ring)
    return {code: _area_path(by_code[code]) for code in codes}


def map_height(level: str, codes: list[str], width: int) -> int:
    """The drawing height that fits the areas' extent at ``width`` (same projection as svg.py)."""
    return _map_height(level, tuple(codes), width)


@functools.lru_cache(maxsize=256)
def _map_height(level: str, codes: tuple[str, ...], width: int) -> int:
    filename, prop = MAP_LEVELS[level]
    shapes = load_boundaries(filename, prop)
    _require(shapes, list(codes), f"{level} codes", filename)
    import numpy as np

    coords = np.concatenate([ring for c in codes for ring in shapes[c]])
    lon_min, lat_min = coords.min(axis=0)
    lon_max, lat_max = coords.max(axis=0)
    k = math.cos(math.radians((lat_min + lat_max) / 2))
    span_x = max((lon_max - lon_min) * k, 1e-9)
    span_y = max(lat_max - lat_min, 1e-9)
    return int(round(min(max((width - 12) * span_y / span_x + 12, 120), 1.4 * width)))


@dataclass(frozen=True)
class MapArea:
    code: str
    cls: int | None  # class index; None = no figure
    tip: str  # tooltip: name and formatted value (already translated)
    suppressed: bool = False


def choropleth_svg(
    *,
    level: str,
    areas: list[MapArea],
    legend: list[str],
    no_data_label: str,
    suppressed_label: str = "",
    title: str,
    description: str = "",
    width: int = 640,
    outline_codes: tuple[str, ...] = (),
) -> str:
    """A classed choropleth of ``areas`` at ``level`` (lsoa, msoa, ward, la).

    - ``areas``: each drawn area with its class index (0 = lightest), or None for no figure (grey) or
      ``suppressed`` (hatched: a small count withheld).
    - ``legend``: one label per class, lightest first (e.g. "12.3 to 15.6"), already formatted.
    - Every area carries its ``tip`` as a tooltip; the figure's ``title`` / ``description`` are its accessible
      name and description.
    - ``outline_codes``: areas (same level) drawn as a thicker outline on top, e.g. the selected LA.
    """
    _check_size(width, 100, 60)
    if level not in MAP_LEVELS:
        raise ValueError(f"level must be one of {', '.join(MAP_LEVELS)}, got {level!r}")
    if not areas:
        raise ValueError("nothing to draw")
    codes = tuple(sorted({a.code for a in areas}))
    h_map = _map_height(level, codes, width)
    paths = _geometry(level, codes, width, h_map)
    fills = class_fills(len(legend))

    entries = [(f, label) for f, label in zip(fills, legend)]
    extra = [("nodata", no_data_label)]
    if suppressed_label and any(a.suppressed for a in areas):
        extra.append(("suppressed", suppressed_label))
    font_px = 12.0
    row_h = 18
    # legend: one row per entry in a column at the left, under the map (readable on a phone and in print)
    legend_rows = len(entries) + len(extra)
    legend_h = legend_rows * row_h + 8
    height = h_map + legend_h
    uid = _uid("choro", {"level": level, "areas": [(a.code, a.cls, a.tip, a.suppressed) for a in areas],
                         "legend": legend, "title": title, "d": description, "w": width, "o": list(outline_codes)})
    out = _open_svg(uid, "cm-choropleth", width, height, title, description)
    out.append(f"<style>.cm-choropleth text{{{_FONT};font-size:{font_px:g}px;fill:{TEXT_FILL}}}</style>")
    out.append(f'<defs><pattern id="{uid}-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
               f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
               f'<line x1="0" y1="0" x2="0" y2="6" stroke="#555555" stroke-width="2"/></pattern></defs>')
    ordered = sorted(areas, key=lambda a: (a.cls is not None, a.cls if a.cls is not None else -1, a.code))
    out.append(f'<g stroke="{AREA_STROKE}" stroke-width="0.4" stroke-linejoin="round" fill-rule="evenodd">')
    for a in ordered:
        if a.suppressed:
            fill = f"url(#{uid}-hatch)"
        elif a.cls is None:
            fill = NO_DATA_FILL
        else:
            fill = fills[min(a.cls, len(fills) - 1)]
        cls = "suppressed" if a.suppressed else ("nodata" if a.cls is None else f"c{a.cls}")
        out.append(f'<path class="area {cls}" data-code={_attr(a.code)} fill="{fill}" d="{paths[a.code]}">'
                   f'<title>{_text(a.tip)}</title></path>')
    out.append("</g>")
    if outline_codes:
        out.append('<g fill="none" stroke="#1b1b1b" stroke-width="1.6" stroke-linejoin="round">')
        for code in outline_codes:
            out.append(f'<path class="outline" d="{paths[code]}"/>')
        out.append("</g>")
    y = h_map + 6
    out.append('<g class="legend">')
    for fill, label in entries:
        out.append(f'<rect x="8" y="{y}" width="16" height="13" fill="{fill}" stroke="#555555" stroke-width="0.6"/>'
                   f'<text x="30" y="{y + 11}">{_text(label)}</text>')
        y += row_h
    for kind, label in extra:
        fill = f"url(#{uid}-hatch)" if kind == "suppressed" else NO_DATA_FILL
        out.append(f'<rect x="8" y="{y}" width="16" height="13" fill="{fill}" stroke="#555555" stroke-width="0.6"/>'
                   f'<text x="30" y="{y + 11}">{_text(label)}</text>')
        y += row_h
    out.append("</g></svg>")
    return "".join(out)


# ------------------------------------------------------------------------------------------ spine chart


def spine_svg(
    *,
    value: float,
    wales: float | None,
    lo: float,
    q1: float,
    q3: float,
    hi: float,
    polarity: str,
    assessment: str,
    title: str,
    description: str = "",
    width: int = 220,
    height: int = 24,
) -> str:
    """One row of a spine chart (Fingertips): the range of local authorities (light bar), their middle half
    (25th to 75th percentile, darker), Wales (a black line) and the area (a marker whose colour and shape say
    the exception engine's verdict). For a risk indicator the axis runs from highest (worst) on the left to
    lowest (best) on the right, for a protective one the other way round, so 'better' is always to the right;
    context indicators run low to high.

    The marker carries ``data-value`` (the plotted value) and the figure's ``title`` (the caller's formatted
    value and verdict)."""
    _check_size(width, height, 20)
    reverse = polarity == "risk"
    lo_v, hi_v = min(lo, value, wales if wales is not None else lo), max(hi, value, wales if wales is not None else hi)
    if hi_v - lo_v <= 0:
        lo_v, hi_v = lo_v - 1, hi_v + 1
    pad = 8.0

    def x_at(v: float) -> float:
        t = (v - lo_v) / (hi_v - lo_v)
        if reverse:
            t = 1 - t
        return pad + t * (width - 2 * pad)

    uid = _uid("spine", {"v": value, "w": wales, "r": [lo, q1, q3, hi], "p": polarity, "a": assessment,
                         "t": title, "d": description, "size": [width, height]})
    mid = height / 2
    out = _open_svg(uid, "cm-spine", width, height, title, description)
    x1, x2 = sorted((x_at(lo), x_at(hi)))
    out.append(f'<rect class="range" x="{_num(x1)}" y="{_num(mid - 5)}" width="{_num(max(x2 - x1, 1))}" height="10" '
               f'fill="#d9d9d9"/>')
    x1, x2 = sorted((x_at(q1), x_at(q3)))
    out.append(f'<rect class="iqr" x="{_num(x1)}" y="{_num(mid - 5)}" width="{_num(max(x2 - x1, 1))}" height="10" '
               f'fill="#8c8c8c"/>')
    if wales is not None:
        xw = x_at(wales)
        out.append(f'<line class="wales" x1="{_num(xw)}" y1="{_num(mid - 9)}" x2="{_num(xw)}" y2="{_num(mid + 9)}" '
                   f'stroke="#1b1b1b" stroke-width="2"/>')
    out.append(marker_svg(assessment, x_at(value), mid, 5.5,
                          extra=f' class="area-marker" data-value="{value!r}" data-assessment={_attr(assessment)}'))
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------------------------------ trend chart


def _nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    step = _nice_ceiling((hi - lo) / n)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 0.5 and len(ticks) < 12:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


@dataclass(frozen=True)
class TrendPoint:
    label: str  # x-axis label, localised
    value: float | None  # the area's value (None: no figure or suppressed)
    lci: float | None = None
    uci: float | None = None
    wales: float | None = None
    series: str = ""  # series key: a new key after the first starts a new series (a break)
    is_benchmark: bool = False
    is_latest: bool = False
    tip: str = ""  # tooltip for the point (formatted value, interval, period)


def trend_svg(
    *,
    points: list[TrendPoint],
    title: str,
    description: str = "",
    area_label: str,
    wales_label: str,
    break_label: str,
    benchmark_label: str,
    tick_format,
    width: int = 600,
    height: int = 240,
) -> str:
    """A trend of one indicator for one area, oldest first: the area's values as dots joined within each series,
    their 95% intervals as whiskers, Wales as a dashed line, a vertical dashed rule labelled ``break_label``
    where a new series starts (values either side are never joined), and the benchmark period(s) shaded and
    labelled ``benchmark_label``. ``tick_format`` formats the y-axis numbers (localised by the caller)."""
    _check_size(width, height, 80)
    n = len(points)
    if n == 0:
        raise ValueError("no points")
    values = [v for p in points for v in (p.value, p.lci, p.uci, p.wales) if v is not None and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo = min(lo, 0.0) if lo >= 0 and lo < 0.35 * hi else lo - (hi - lo) * 0.08
    ticks = _nice_ticks(lo, hi if hi > lo else lo + 1)
    y_min, y_max = ticks[0], ticks[-1]
    font_px = 12.0
    tick_texts = [tick_format(t) for t in ticks]
    left = 8 + max(_text_width(t, font_px) for t in tick_texts)
    right = width - 12
    top = 40.0
    bottom = height - 22.0

    def x_at(i: int) -> float:
        if n == 1:
            return (left + right) / 2
        return left + 10 + i * (right - left - 20) / (n - 1)

    def y_at(v: float) -> float:
        return bottom - (v - y_min) / (y_max - y_min) * (bottom - top)

    uid = _uid("trend2", {"p": [p.__dict__ for p in points], "t": title, "d": description, "a": area_label,
                          "w": wales_label, "b": break_label, "m": benchmark_label, "size": [width, height]})
    out = _open_svg(uid, "cm-trend2", width, height, title, description)
    out.append(f"<style>.cm-trend2 text{{{_FONT};font-size:{font_px:g}px;fill:{TEXT_FILL}}}</style>")

    # Key, top left.
    x = 4.0
    key_y = 13.0
    out.append(f'<line x1="{_num(x)}" y1="{_num(key_y - 4)}" x2="{_num(x + 16)}" y2="{_num(key_y - 4)}" stroke="#1f4e79" '
               f'stroke-width="2"/><circle cx="{_num(x + 8)}" cy="{_num(key_y - 4)}" r="3" fill="#1f4e79"/>')
    x += 20
    out.append(f'<text x="{_num(x)}" y="{_num(key_y)}">{_text(area_label)}</text>')
    x += _text_width(area_label, font_px) + 14
    if any(p.wales is not None for p in points):
        out.append(f'<line x1="{_num(x)}" y1="{_num(key_y - 4)}" x2="{_num(x + 16)}" y2="{_num(key_y - 4)}" '
                   f'stroke="#595959" stroke-width="1.6" stroke-dasharray="4 3"/>')
        x += 20
        out.append(f'<text x="{_num(x)}" y="{_num(key_y)}">{_text(wales_label)}</text>')
        x += _text_width(wales_label, font_px) + 14
    key2_y = key_y + 15
    x2 = 4.0
    if any(p.is_benchmark for p in points):
        out.append(f'<rect x="{_num(x2)}" y="{_num(key2_y - 10)}" width="16" height="11" fill="#e8e0f5" stroke="#6a4c9c" '
                   f'stroke-width="0.8"/>')
        x2 += 20
        out.append(f'<text x="{_num(x2)}" y="{_num(key2_y)}">{_text(benchmark_label)}</text>')
        x2 += _text_width(benchmark_label, font_px) + 14
    breaks = [i for i in range(1, n) if points[i].series != points[i - 1].series]
    if breaks:
        out.append(f'<line x1="{_num(x2 + 8)}" y1="{_num(key2_y - 11)}" x2="{_num(x2 + 8)}" y2="{_num(key2_y + 2)}" '
                   f'stroke="#a0341a" stroke-width="1.6" stroke-dasharray="3 2"/>')
        x2 += 20
        out.append(f'<text x="{_num(x2)}" y="{_num(key2_y)}">{_text(break_label)}</text>')

    # Benchmark shading (contiguous runs).
    step = (x_at(1) - x_at(0)) if n > 1 else 40
    i = 0
    while i < n:
        if points[i].is_benchmark:
            j = i
            while j + 1 < n and points[j + 1].is_benchmark:
                j += 1
            xa, xb = x_at(i) - step * 0.45, x_at(j) + step * 0.45
            out.append(f'<rect class="benchmark" x="{_num(xa)}" y="{_num(top - 4)}" width="{_num(xb - xa)}" '
                       f'height="{_num(bottom - top + 4)}" fill="#e8e0f5"/>')
            i = j + 1
        else:
            i += 1

    # Grid and y labels.
    for t, label in zip(ticks, tick_texts):
        y = y_at(t)
        out.append(f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(right)}" y2="{_num(y)}" stroke="#d0d0d0" '
                   f'stroke-width="0.7"/>')
        out.append(f'<text x="{_num(left - 4)}" y="{_num(y + 4)}" text-anchor="end">{_text(label)}</text>')

    # Series breaks.
    for b in breaks:
        xb = (x_at(b - 1) + x_at(b)) / 2
        out.append(f'<line class="series-break" x1="{_num(xb)}" y1="{_num(top - 6)}" x2="{_num(xb)}" y2="{_num(bottom)}" '
                   f'stroke="#a0341a" stroke-width="1.6" stroke-dasharray="3 2"><title>{_text(break_label)}</title></line>')

    # Wales: dashed line, joined within each series.
    def runs(key) -> list[list[int]]:
        out_runs: list[list[int]] = []
        for i, p in enumerate(points):
            if key(p) is None:
                continue
            if out_runs and out_runs[-1][-1] == i - 1 and points[i - 1].series == p.series:
                out_runs[-1].append(i)
            else:
                out_runs.append([i])
        return out_runs

    for run in runs(lambda p: p.wales):
        if len(run) == 1:
            xw, yw = x_at(run[0]), y_at(points[run[0]].wales)
            out.append(f'<line x1="{_num(xw - 6)}" y1="{_num(yw)}" x2="{_num(xw + 6)}" y2="{_num(yw)}" stroke="#595959" '
                       f'stroke-width="1.6" stroke-dasharray="4 3"/>')
        else:
            pts = " ".join(f"{_num(x_at(i))},{_num(y_at(points[i].wales))}" for i in run)
            out.append(f'<polyline class="wales" points="{pts}" fill="none" stroke="#595959" stroke-width="1.6" '
                       f'stroke-dasharray="4 3"/>')

    # The area: whiskers, line, dots.
    for i, p in enumerate(points):
        if p.value is None or p.lci is None or p.uci is None:
            continue
        xw = x_at(i)
        y1, y2 = y_at(p.lci), y_at(p.uci)
        out.append(f'<path class="ci" d="M{_num(xw)} {_num(y1)}V{_num(y2)}M{_num(xw - 3)} {_num(y1)}h6M{_num(xw - 3)} '
                   f'{_num(y2)}h6" stroke="#6f8fb3" stroke-width="1.2" fill="none"/>')
    for run in runs(lambda p: p.value):
        if len(run) > 1:
            pts = " ".join(f"{_num(x_at(i))},{_num(y_at(points[i].value))}" for i in run)
            out.append(f'<polyline class="area-line" points="{pts}" fill="none" stroke="#1f4e79" stroke-width="2" '
                       f'stroke-linejoin="round"/>')
    for i, p in enumerate(points):
        if p.value is None:
            continue
        r = 4 if p.is_latest else 3
        out.append(f'<circle class="point" cx="{_num(x_at(i))}" cy="{_num(y_at(p.value))}" r="{r}" fill="#1f4e79" '
                   f'stroke="#ffffff" stroke-width="1" data-value="{p.value!r}"><title>{_text(p.tip)}</title></circle>')

    # x labels: at most ~8, always the first, the last and the first of each new series.
    max_labels = max(2, int((right - left) // 70))
    every = max(1, math.ceil(n / max_labels))
    shown = {0, n - 1, *breaks} | set(range(0, n, every))
    placed: list[tuple[float, float, str]] = []  # (left, right, label); the last period is always labelled
    for i in sorted(shown):
        label = points[i].label
        w = _text_width(label, font_px)
        xc = min(max(x_at(i), left + w / 2), width - 2 - w / 2)
        if placed and xc - w / 2 < placed[-1][1] + 6:
            if i != n - 1:
                continue
            placed.pop()
        placed.append((xc - w / 2, xc + w / 2, label))
    for x_left, x_right, label in placed:
        out.append(f'<text x="{_num((x_left + x_right) / 2)}" y="{_num(height - 6)}" text-anchor="middle">'
                   f'{_text(label)}</text>')
    out.append("</svg>")
    return "".join(out)
