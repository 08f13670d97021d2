"""Small inline SVG figures for the quarterly monitoring pack: area maps and trend charts.

The pack is an HTML page (Chromium) and a PDF (WeasyPrint), in Welsh and in English. So these figures:

- are inline ``<svg>`` strings with no scripts, fonts, images or links that must load;
- hold NO human-language text of their own: every title, legend label, axis label and number shown
  comes from the caller, already translated and formatted (the only text made here is the two y-axis
  numbers of a trend chart, a round number in plain digits, e.g. ``40`` or ``2.5``);
- escape all caller text (``<script>`` in a title is shown as text) and drop characters XML forbids;
- are deterministic: the same inputs give a byte-identical string (ids are a short hash of the inputs,
  so two different figures on one page do not share ids; styles are scoped by ``.cm-map`` /
  ``.cm-trend`` so they apply only inside these figures).

``area_map_svg`` draws 2021 LSOAs or 2025 wards from the bundled generalised boundaries
(``<snapshots>/boundaries``, WGS84 GeoJSON) with an equirectangular projection whose x is scaled by the
cosine of the drawn extent's mean latitude, simplified (Douglas-Peucker, 0.6 px) and rounded to 0.1 px
after projection so a map of every Welsh LSOA stays a few hundred kilobytes at most. Parsed boundaries
are cached per file (keyed by path and modification time).

``trend_chart_svg`` draws up to ~8 quarters: the expected band, the expected value (dashed), the observed
values (line and dots, flagged quarters as larger red dots).

No Dagster imports.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from orchestration.settings import get_settings

if TYPE_CHECKING:
    import numpy as np
# numpy and shapely are imported where the maps are drawn, not here: this module is imported (through the packs
# and delivery) by every process that loads the code location, and those two are ~0.5 s of its start

# level -> (file under <snapshots>/boundaries, property holding the area code)
LEVELS: dict[str, tuple[str, str]] = {
    "lsoa21": ("wales_lsoa21_bgc.geojson", "LSOA21CD"),
    "ward": ("wales_wards2025_bgc.geojson", "WD25CD"),
}
LA_BOUNDARIES: tuple[str, str] = ("wales_lad13_martinjc.geojson", "LAD13CD")

# Mark classes in drawing order: the most severe is drawn last, so its outline is on top.
MARK_CLASSES: tuple[str, ...] = ("watch", "raised", "exception")
# Classes a map legend entry may show: the three marks, unmarked areas and the LA outline.
LEGEND_CLASSES: tuple[str, ...] = ("exception", "raised", "watch", "neutral", "outline")

SIMPLIFY_TOLERANCE_PX = 0.6  # Douglas-Peucker tolerance after projection
MAP_MARGIN_PX = 8

# One place for the colours: used both in the <style> element and as presentation attributes on the
# groups, so a renderer (or a mail client) that ignores <style> still draws the same map.
_MAP_STYLE: dict[str, dict[str, str]] = {
    "neutral": {"fill": "#e4e1da", "stroke": "#ffffff", "stroke-width": "0.5"},
    "watch": {"fill": "#fce46a", "stroke": "#6b5600", "stroke-width": "0.9"},
    "raised": {"fill": "#f08c1c", "stroke": "#6e3500", "stroke-width": "0.9"},
    "exception": {"fill": "#c8102e", "stroke": "#3d0008", "stroke-width": "1.1"},
    "outline": {"fill": "none", "stroke": "#2b2b2b", "stroke-width": "1.3"},
}
_TREND_STYLE: dict[str, dict[str, str]] = {
    "grid": {"fill": "none", "stroke": "#c8c8c8", "stroke-width": "0.6"},
    "band": {"fill": "#cfdcec", "stroke": "none"},
    "exp": {"fill": "none", "stroke": "#4b6c96", "stroke-width": "1", "stroke-dasharray": "3 2"},
    "obs": {"fill": "none", "stroke": "#1d2b3a", "stroke-width": "1.4", "stroke-linejoin": "round"},
    "dot": {"fill": "#1d2b3a", "stroke": "none"},
    "flag": {"fill": "#c8102e", "stroke": "#ffffff", "stroke-width": "0.8"},
}
_FONT = "font-family:'DejaVu Sans',Arial,Helvetica,sans-serif"
_SVG_NS = "http://www.w3.org/2000/svg"
# Characters XML 1.0 does not allow (a stray control character would make the whole page unparseable).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --------------------------------------------------------------------------------------------- helpers


def _text(value) -> str:
    """Caller text for an element's content: forbidden characters dropped, markup escaped."""
    return escape(_XML_INVALID.sub("", str(value)))


def _attr(value) -> str:
    """Caller text for an attribute value, quotes included."""
    return quoteattr(_XML_INVALID.sub("", str(value)))


def _uid(kind: str, payload: dict) -> str:
    digest = hashlib.sha1(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    return f"cm{kind}-{digest[:10]}"


def _attrs(style: dict[str, str]) -> str:
    return " ".join(f'{k}="{v}"' for k, v in style.items())


def _css(prefix: str, styles: dict[str, str]) -> str:
    return "".join(f"{prefix} {selector}{{{body}}}" for selector, body in styles.items())


def _declarations(style: dict[str, str]) -> str:
    return ";".join(f"{k}:{v}" for k, v in style.items())


def _num(v: float) -> str:
    """A coordinate with at most one decimal, no '-0', no trailing '.0'."""
    s = f"{v:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


def _text_width(text: str, font_px: float) -> float:
    """Rough advance width of a sans-serif string (for layout only; ~0.56 em a character)."""
    return 0.56 * font_px * len(text)


def _open_svg(uid: str, css_class: str, width: int, height: int, title: str, description: str) -> list[str]:
    labelled = f"{uid}-t {uid}-d" if description else f"{uid}-t"
    out = [
        f'<svg xmlns="{_SVG_NS}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'class="{css_class}" id="{uid}" aria-labelledby="{labelled}">',
        f'<title id="{uid}-t">{_text(title)}</title>',
    ]
    if description:
        out.append(f'<desc id="{uid}-d">{_text(description)}</desc>')
    return out


def _check_size(width: int, height: int, minimum: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")


# ---------------------------------------------------------------------------------------- boundaries


def boundaries_dir() -> Path:
    return get_settings().snapshots_dir / "boundaries"


@functools.lru_cache(maxsize=8)
def _parse_boundaries(path: str, code_property: str, mtime_ns: int) -> dict[str, tuple[np.ndarray, ...]]:
    """code -> rings (read-only (n, 2) lon/lat arrays, exteriors and holes alike)."""
    import numpy as np

    del mtime_ns  # part of the cache key only: a replaced file is parsed again
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    shapes: dict[str, list[np.ndarray]] = {}
    for feature in data["features"]:
        code = str(feature["properties"][code_property])
        geometry = feature["geometry"]
        if geometry is None:
            continue
        if geometry["type"] == "Polygon":
            polygons = [geometry["coordinates"]]
        elif geometry["type"] == "MultiPolygon":
            polygons = geometry["coordinates"]
        else:
            raise ValueError(f"{path}: {code} has a {geometry['type']} geometry, expected (Multi)Polygon")
        rings = shapes.setdefault(code, [])
        for polygon in polygons:
            for ring in polygon:
                arr = np.asarray([pt[:2] for pt in ring], dtype=np.float64)
                if len(arr) >= 3:
                    arr.flags.writeable = False
                    rings.append(arr)
    return {code: tuple(rings) for code, rings in shapes.items()}


def load_boundaries(filename: str, code_property: str) -> dict[str, tuple[np.ndarray, ...]]:
    """The parsed boundary file ``<snapshots>/boundaries/<filename>`` (cached; do not modify)."""
    path = boundaries_dir() / filename
    return _parse_boundaries(str(path), code_property, path.stat().st_mtime_ns)


def _require(shapes: dict, codes: list[str], what: str, filename: str) -> None:
    missing = [c for c in codes if c not in shapes]
    if missing:
        shown = ", ".join(missing[:25]) + (f" … ({len(missing)} in all)" if len(missing) > 25 else "")
        raise ValueError(f"{what} not in the boundaries {filename}: {shown}")


# ----------------------------------------------------------------------------------------------- map


def _project_and_simplify(rings: list[np.ndarray], box: tuple[float, float, float, float]) -> list[np.ndarray]:
    """Project lon/lat rings into ``box`` (x0, y0, w, h) and simplify them.

    Returns one int array of tenths of a pixel per ring (closing point dropped, consecutive duplicates
    removed); a ring that collapsed to under three points comes back with what is left of it.
    """
    import numpy as np
    import shapely

    x0, y0, w, h = box
    coords = np.concatenate(rings)
    lon_min, lat_min = coords.min(axis=0)
    lon_max, lat_max = coords.max(axis=0)
    k = math.cos(math.radians((lat_min + lat_max) / 2))
    span_x = max((lon_max - lon_min) * k, 1e-12)
    span_y = max(lat_max - lat_min, 1e-12)
    scale = min(w / span_x, h / span_y)
    off_x = x0 + (w - span_x * scale) / 2
    off_y = y0 + (h - span_y * scale) / 2
    xy = np.empty_like(coords)
    xy[:, 0] = off_x + (coords[:, 0] - lon_min) * k * scale
    xy[:, 1] = off_y + (lat_max - coords[:, 1]) * scale

    lengths = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    ring_index = np.repeat(np.arange(len(rings)), lengths)
    lines = shapely.linestrings(xy, indices=ring_index)
    simplified = shapely.simplify(lines, SIMPLIFY_TOLERANCE_PX, preserve_topology=False)
    out_xy, out_index = shapely.get_coordinates(simplified, return_index=True)
    tenths = np.rint(out_xy * 10).astype(np.int64)
    # Clamp into the drawing box (rounding can push an extreme point a twentieth of a pixel out).
    tenths[:, 0] = np.clip(tenths[:, 0], int(math.floor(x0 * 10)), int(math.ceil((x0 + w) * 10)))
    tenths[:, 1] = np.clip(tenths[:, 1], int(math.floor(y0 * 10)), int(math.ceil((y0 + h) * 10)))

    keep = np.ones(len(tenths), dtype=bool)
    keep[1:] = (out_index[1:] != out_index[:-1]) | np.any(tenths[1:] != tenths[:-1], axis=1)
    tenths, out_index = tenths[keep], out_index[keep]
    bounds = np.searchsorted(out_index, np.arange(len(rings) + 1))
    result = []
    for i in range(len(rings)):
        ring = tenths[bounds[i]:bounds[i + 1]]
        if len(ring) > 1 and (ring[0] == ring[-1]).all():
            ring = ring[:-1]
        result.append(ring)
    return result


def _ring_path(ring: np.ndarray) -> str:
    """'M x y l dx dy dx dy …z' in pixels with one decimal (relative moves keep the string short)."""
    first = ring[0]
    parts = [f"M{_num(first[0] / 10)} {_num(first[1] / 10)}"]
    if len(ring) > 1:
        deltas = ring[1:] - ring[:-1]  # np.diff(ring, axis=0)
        tokens = []
        for dx, dy in deltas.tolist():
            tokens.append(_num(dx / 10))
            tokens.append(_num(dy / 10))
        # A minus sign separates two numbers on its own: "1.5-2" is 1.5 then -2.
        body = tokens[0]
        for tok in tokens[1:]:
            body += tok if tok.startswith("-") else " " + tok
        parts.append("l" + body)
    parts.append("z")
    return "".join(parts)


def _area_path(rings: list[np.ndarray]) -> str:
    kept = [r for r in rings if len(r) >= 3]
    if not kept:
        # Too small to show at this scale: keep its largest remnant so the area is still drawn (a dot
        # with the stroke's round caps) and every requested code has its path.
        kept = [max(rings, key=len)]
    return "".join(_ring_path(r) for r in kept)


def _legend_layout(legend: list[tuple[str, str]], width: int, font_px: float) -> list[tuple[float, int, str, str]]:
    """(x, row, class, label) for each legend entry, wrapped into rows that fit ``width``."""
    placed = []
    x, row = float(MAP_MARGIN_PX), 0
    for css_class, label in legend:
        item_w = 14 + 5 + _text_width(label, font_px) + 14
        if x > MAP_MARGIN_PX and x + item_w > width - MAP_MARGIN_PX:
            x, row = float(MAP_MARGIN_PX), row + 1
        placed.append((x, row, css_class, label))
        x += item_w
    return placed


def area_map_svg(
    *,
    level: str,
    codes: list[str],
    marked: dict[str, str] | None = None,
    outline_la_codes: list[str] | None = None,
    title: str,
    description: str = "",
    width: int = 640,
    height: int = 480,
    legend: list[tuple[str, str]] | None = None,
) -> str:
    """An inline SVG map of ``codes`` (LSOA21 or 2025 ward codes), some of them marked.

    - ``level``: "lsoa21" or "ward". Every code must exist in the boundaries, else ``ValueError`` naming
      the missing ones. Duplicate codes are drawn once.
    - ``marked``: code -> "exception" (red), "raised" (amber) or "watch" (yellow); each marked code must
      be one of ``codes``. Unmarked areas are light grey with white borders; marked ones are drawn after
      them (watch, then raised, then exception) with a darker outline.
    - ``outline_la_codes``: local authorities (W06 codes) whose outline is drawn on top, unfilled. They
      count in the map's extent.
    - ``legend``: (class, label) pairs, class one of exception/raised/watch/neutral/outline, labels
      already translated; drawn as a key in a band below the map.
    - Areas are ordered by code within each class, so the caller's order does not change the output.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    _check_size(width, height, 60)
    codes = list(dict.fromkeys(str(c) for c in codes))
    marked = {str(k): v for k, v in (marked or {}).items()}
    outline_la_codes = list(dict.fromkeys(str(c) for c in (outline_la_codes or [])))
    legend = [(str(c), str(label)) for c, label in (legend or [])]
    if not codes and not outline_la_codes:
        raise ValueError("nothing to draw: codes and outline_la_codes are both empty")

    bad = sorted({f"{k}={v!r}" for k, v in marked.items() if v not in MARK_CLASSES})
    if bad:
        raise ValueError(f"marked classes must be one of {', '.join(MARK_CLASSES)}: {', '.join(bad)}")
    undrawn = sorted(set(marked) - set(codes))
    if undrawn:
        raise ValueError(f"marked codes that are not among the codes drawn: {', '.join(undrawn)}")
    bad = sorted({c for c, _ in legend if c not in LEGEND_CLASSES})
    if bad:
        raise ValueError(f"legend classes must be one of {', '.join(LEGEND_CLASSES)}: {', '.join(bad)}")

    filename, code_property = LEVELS[level]
    shapes = load_boundaries(filename, code_property)
    _require(shapes, codes, f"{level} codes", filename)
    la_shapes: dict[str, tuple[np.ndarray, ...]] = {}
    if outline_la_codes:
        la_shapes = load_boundaries(*LA_BOUNDARIES)
        _require(la_shapes, outline_la_codes, "local authority codes", LA_BOUNDARIES[0])

    font_px = 12.0
    row_h = 18
    placed = _legend_layout(legend, width, font_px)
    legend_h = (placed[-1][1] + 1) * row_h + 4 if placed else 0
    box = (float(MAP_MARGIN_PX), float(MAP_MARGIN_PX), float(width - 2 * MAP_MARGIN_PX),
           float(max(height - 2 * MAP_MARGIN_PX - legend_h, 20)))

    # Drawing order: unmarked, then each mark class (most severe last); by code within each group.
    rank = {None: 0, **{c: i + 1 for i, c in enumerate(MARK_CLASSES)}}
    ordered = sorted(codes, key=lambda c: (rank[marked.get(c)], c))
    ring_owner: list[tuple[str, str]] = []  # ("area" | "la", code) for each ring
    rings: list[np.ndarray] = []
    for code in ordered:
        for ring in shapes[code]:
            ring_owner.append(("area", code))
            rings.append(ring)
    for code in sorted(outline_la_codes):
        for ring in la_shapes[code]:
            ring_owner.append(("la", code))
            rings.append(ring)
    projected = _project_and_simplify(rings, box)
    by_owner: dict[tuple[str, str], list[np.ndarray]] = {}
    for owner, ring in zip(ring_owner, projected):
        by_owner.setdefault(owner, []).append(ring)

    uid = _uid("map", {"level": level, "codes": sorted(codes), "marked": marked, "la": sorted(outline_la_codes),
                       "title": title, "description": description, "w": width, "h": height, "legend": legend})
    shape = "stroke-linejoin:round;stroke-linecap:round"
    css = {".area": f"{shape};fill-rule:evenodd;{_declarations(_MAP_STYLE['neutral'])}",
           **{f".area.{cls}": _declarations(_MAP_STYLE[cls]) for cls in MARK_CLASSES},
           ".la": f"{shape};{_declarations(_MAP_STYLE['outline'])}",
           **{f".key.{cls}": _declarations(style) for cls, style in _MAP_STYLE.items()}}
    css["text"] = f"{_FONT};font-size:{font_px:g}px;fill:#222222"
    out = _open_svg(uid, "cm-map", width, height, title, description)
    out.append(f"<style>{_css('.cm-map', css)}</style>")

    groups: list[tuple[str | None, list[str]]] = []
    for code in ordered:
        cls = marked.get(code)
        if not groups or groups[-1][0] != cls:
            groups.append((cls, []))
        groups[-1][1].append(code)
    for cls, members in groups:
        style = _MAP_STYLE[cls or "neutral"]
        out.append(f'<g fill-rule="evenodd" stroke-linejoin="round" stroke-linecap="round" {_attrs(style)}>')
        css_class = f"area {cls}" if cls else "area"
        for code in members:
            out.append(f'<path class="{css_class}" data-code={_attr(code)} d="{_area_path(by_owner[("area", code)])}"/>')
        out.append("</g>")
    if outline_la_codes:
        out.append(f'<g stroke-linejoin="round" stroke-linecap="round" {_attrs(_MAP_STYLE["outline"])}>')
        for code in sorted(outline_la_codes):
            out.append(f'<path class="la" data-code={_attr(code)} d="{_area_path(by_owner[("la", code)])}"/>')
        out.append("</g>")

    if placed:
        top = height - legend_h
        out.append('<g class="legend">')
        for x, row, cls, label in placed:
            y = top + row * row_h + 4
            out.append(f'<rect class="key {cls}" x="{_num(x + 1)}" y="{_num(y + 1)}" width="12" height="12" '
                       f'{_attrs(_MAP_STYLE[cls])}/>')
            out.append(f'<text x="{_num(x + 19)}" y="{_num(y + 11)}">{_text(label)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------------------- trend chart


def _value(p: dict, key: str, i: int) -> float | None:
    v = p.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"points[{i}].{key} must be a number or None, got {v!r}")
    v = float(v)
    return v if math.isfinite(v) else None


def _nice_ceiling(v: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is >= v (v > 0)."""
    exp = math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = m * 10.0 ** exp
        if candidate >= v * (1 - 1e-9):
            return float(f"{candidate:.12g}")
    return 10.0 ** (exp + 1)


def _plain_number(v: float) -> str:
    """A round number in plain digits (no grouping, no exponent): 0, 40, 2.5, 0.05, 1200."""
    if v == 0:
        return "0"
    decimals = 0
    while decimals < 12 and abs(round(v, decimals) - v) > abs(v) * 1e-9:
        decimals += 1
    return f"{v:.{decimals}f}"


def _runs(flags: list[bool]) -> list[list[int]]:
    """Index runs where flags is true: [T, T, F, T] -> [[0, 1], [3]]."""
    runs: list[list[int]] = []
    for i, f in enumerate(flags):
        if f:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
    return runs


def _pts(pairs: list[tuple[float, float]]) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in pairs)


def trend_chart_svg(
    *,
    points: list[dict],
    title: str,
    description: str = "",
    value_label: str = "",
    width: int = 260,
    height: int = 110,
    band_label: str = "",
    observed_label: str = "",
) -> str:
    """A small inline SVG trend of the last quarters (oldest first).

    Each point: ``label`` (x-axis label, localised), ``observed``, ``expected``, ``lower``, ``upper``
    (numbers or None; NaN counts as None), ``is_flagged`` (bool), ``observed_text`` (the observed value as
    the caller formats it: shown after the last observed point and as each dot's tooltip). Missing keys
    other than ``label`` count as None / False / "".

    Drawn: the expected band (lower..upper) as shaded polygons with gaps where a bound is missing, the
    expected values as a dashed line, the observed values as a line with dots, flagged quarters as
    larger red dots, the first and last x labels, and a y axis labelled only at 0 (or the rounded
    minimum, when values go below 0) and at a round maximum in plain digits. ``value_label`` is written
    above the plot; ``band_label`` / ``observed_label`` make a key beside it when given.
    """
    _check_size(width, height, 60)
    pts = []
    for i, p in enumerate(points):
        if not isinstance(p, dict) or "label" not in p:
            raise ValueError(f"points[{i}] must be a dict with a 'label'")
        pts.append({
            "label": str(p["label"]),
            "observed": _value(p, "observed", i),
            "expected": _value(p, "expected", i),
            "lower": _value(p, "lower", i),
            "upper": _value(p, "upper", i),
            "is_flagged": bool(p.get("is_flagged")),
            "observed_text": str(p.get("observed_text") or ""),
        })
    n = len(pts)

    # y range: 0 (or a round floor below 0) .. a round ceiling above every value.
    values = [p[k] for p in pts for k in ("observed", "expected", "lower", "upper") if p[k] is not None]
    hi = max(values, default=0.0)
    lo = min(values, default=0.0)
    y_max = _nice_ceiling(hi) if hi > 0 else 0.0
    y_min = -_nice_ceiling(-lo) if lo < 0 else 0.0
    if y_max == y_min:
        y_max = 1.0
    y_max_text, y_min_text = _plain_number(y_max), _plain_number(y_min)

    font_px = 9.0
    line_h = 11.0
    # Header: value label, then the key (on the same line when it fits).
    key_items = [(cls, label) for cls, label in (("band", band_label), ("obs", observed_label)) if label]
    key_w = sum(16 + _text_width(label, font_px) + 8 for _, label in key_items)
    header_rows: list[list[tuple[str, str]]] = []
    if value_label:
        header_rows.append([("value", value_label)])
    if key_items:
        if header_rows and _text_width(value_label, font_px) + 10 + key_w <= width - 4:
            header_rows[0].extend(key_items)
        else:
            header_rows.append(list(key_items))
    header_h = len(header_rows) * line_h + (3 if header_rows else 0)

    last_obs = next((i for i in range(n - 1, -1, -1) if pts[i]["observed"] is not None), None)
    last_text = pts[last_obs]["observed_text"] if last_obs is not None else ""
    left = 4 + max(_text_width(y_max_text, font_px), _text_width(y_min_text, font_px)) + 4
    right = width - 5 - (_text_width(last_text, font_px) + 4 if last_text else 0)
    top = header_h + 5
    bottom = height - (line_h + 3 if n else 4)
    pad = 4.0  # keep the dots off the axis
    if right - left < 2 * pad + 10 or bottom - top < 10:
        raise ValueError(f"a {width}×{height} chart is too small for these labels")

    def x_at(i: int) -> float:
        if n <= 1:
            return (left + right) / 2
        return left + pad + i * (right - left - 2 * pad) / (n - 1)

    def y_at(v: float) -> float:
        return bottom - (v - y_min) / (y_max - y_min) * (bottom - top)

    uid = _uid("trend", {"points": pts, "title": title, "description": description, "value_label": value_label,
                         "w": width, "h": height, "band": band_label, "obs": observed_label})
    css = {sel if sel.startswith(".") else f".{sel}": _declarations(style) for sel, style in _TREND_STYLE.items()}
    css["text"] = f"{_FONT};font-size:{font_px:g}px;fill:#333333"
    css[".end"] = "text-anchor:end"
    css[".mid"] = "text-anchor:middle"
    out = _open_svg(uid, "cm-trend", width, height, title, description)
    out.append(f"<style>{_css('.cm-trend', css)}</style>")
    text_attrs = f'font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="{font_px:g}" fill="#333333"'

    # Header
    for r, row in enumerate(header_rows):
        x = 2.0
        y = r * line_h + line_h - 1
        for cls, label in row:
            if cls == "band":
                out.append(f'<rect class="key band" x="{_num(x)}" y="{_num(y - 7)}" width="12" height="8" '
                           f'{_attrs(_TREND_STYLE["band"])}/>')
                x += 16
            elif cls == "obs":
                out.append(f'<polyline class="key obs" points="{_pts([(x, y - 3), (x + 12, y - 3)])}" '
                           f'{_attrs(_TREND_STYLE["obs"])}/>')
                out.append(f'<circle class="key dot" cx="{_num(x + 6)}" cy="{_num(y - 3)}" r="2" '
                           f'{_attrs(_TREND_STYLE["dot"])}/>')
                x += 16
            out.append(f'<text x="{_num(x)}" y="{_num(y)}" {text_attrs}>{_text(label)}</text>')
            x += _text_width(label, font_px) + (10 if cls == "value" else 8)

    # Axis: grid lines at the y labels.
    for v, label in ((y_max, y_max_text), (y_min, y_min_text)):
        y = y_at(v)
        out.append(f'<line class="grid" x1="{_num(left)}" y1="{_num(y)}" x2="{_num(right)}" y2="{_num(y)}" '
                   f'{_attrs(_TREND_STYLE["grid"])}/>')
        out.append(f'<text class="end" x="{_num(left - 3)}" y="{_num(y + 3)}" text-anchor="end" '
                   f'{text_attrs}>{label}</text>')
    if y_min < 0:
        y = y_at(0.0)
        out.append(f'<line class="grid" x1="{_num(left)}" y1="{_num(y)}" x2="{_num(right)}" y2="{_num(y)}" '
                   f'{_attrs(_TREND_STYLE["grid"])}/>')

    # Expected band, with gaps where a bound is missing.
    for run in _runs([p["lower"] is not None and p["upper"] is not None for p in pts]):
        lows = [min(pts[i]["lower"], pts[i]["upper"]) for i in run]
        highs = [max(pts[i]["lower"], pts[i]["upper"]) for i in run]
        if len(run) == 1:
            x = x_at(run[0])
            poly = [(x - 3, y_at(highs[0])), (x + 3, y_at(highs[0])), (x + 3, y_at(lows[0])), (x - 3, y_at(lows[0]))]
        else:
            poly = [(x_at(i), y_at(v)) for i, v in zip(run, highs)]
            poly += [(x_at(i), y_at(v)) for i, v in reversed(list(zip(run, lows)))]
        out.append(f'<polygon class="band" points="{_pts(poly)}" {_attrs(_TREND_STYLE["band"])}/>')

    # Expected value, dashed.
    for run in _runs([p["expected"] is not None for p in pts]):
        if len(run) == 1:
            x, y = x_at(run[0]), y_at(pts[run[0]]["expected"])
            line = [(x - 4, y), (x + 4, y)]
        else:
            line = [(x_at(i), y_at(pts[i]["expected"])) for i in run]
        out.append(f'<polyline class="exp" points="{_pts(line)}" {_attrs(_TREND_STYLE["exp"])}/>')

    # Observed: line, then dots (flagged ones larger and red), each with its value as a tooltip.
    for run in _runs([p["observed"] is not None for p in pts]):
        if len(run) > 1:
            line = [(x_at(i), y_at(pts[i]["observed"])) for i in run]
            out.append(f'<polyline class="obs" points="{_pts(line)}" {_attrs(_TREND_STYLE["obs"])}/>')
    for i, p in enumerate(pts):
        if p["observed"] is None:
            continue
        cls, r = ("flag", 3.6) if p["is_flagged"] else ("dot", 2.1)
        tip = f"{p['label']}: {p['observed_text']}" if p["observed_text"] else p["label"]
        out.append(f'<circle class="{cls}" cx="{_num(x_at(i))}" cy="{_num(y_at(p["observed"]))}" r="{r:g}" '
                   f'{_attrs(_TREND_STYLE[cls])}><title>{_text(tip)}</title></circle>')
    if last_text:
        out.append(f'<text x="{_num(x_at(last_obs) + 5)}" y="{_num(y_at(pts[last_obs]["observed"]) + 3)}" '
                   f'{text_attrs}>{_text(last_text)}</text>')

    # x labels: first and last only.
    y = height - 3
    if n == 1:
        out.append(f'<text class="mid" x="{_num(x_at(0))}" y="{_num(y)}" text-anchor="middle" {text_attrs}>'
                   f'{_text(pts[0]["label"])}</text>')
    elif n > 1:
        out.append(f'<text x="{_num(x_at(0) - pad)}" y="{_num(y)}" {text_attrs}>{_text(pts[0]["label"])}</text>')
        out.append(f'<text class="end" x="{_num(x_at(n - 1) + pad)}" y="{_num(y)}" text-anchor="end" {text_attrs}>'
                   f'{_text(pts[-1]["label"])}</text>')
    out.append("</svg>")
    return "".join(out)
