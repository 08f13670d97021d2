"""orchestration/lib/svg.py: inline SVG maps from the bundled boundaries and trend charts.

Checked on the real boundary files: one path per drawn code, mark classes, every coordinate inside the
viewBox, determinism, errors naming unknown codes, escaping of caller text, no text of the module's own;
then in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium, all network blocked):
boxes of the marked areas and of the chart's band and line, scoped styles. Screenshots of a Gwent map
and of a trend chart are written to /tmp/svg_gwent.png and /tmp/svg_trend.png for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestration.lib.svg import area_map_svg, trend_chart_svg

NS = "{http://www.w3.org/2000/svg}"
GWENT = ["W06000018", "W06000019", "W06000020", "W06000021", "W06000022"]
NEWPORT = "W06000022"
CHROMIUM = "/usr/bin/chromium"
BOUNDARIES = Path(__file__).resolve().parents[1] / "data" / "snapshots" / "boundaries"


@pytest.fixture(scope="module")
def lsoas_by_la() -> dict[str, list[str]]:
    """LSOA21 codes per LA, read straight from the GeoJSON (not through the module)."""
    data = json.loads((BOUNDARIES / "wales_lsoa21_bgc.geojson").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for f in data["features"]:
        out.setdefault(f["properties"]["LADCD_ACTIVE"], []).append(f["properties"]["LSOA21CD"])
    return out


@pytest.fixture(scope="module")
def wards_by_la() -> dict[str, list[str]]:
    data = json.loads((BOUNDARIES / "wales_wards2025_bgc.geojson").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for f in data["features"]:
        out.setdefault(f["properties"]["LAD25CD"], []).append(f["properties"]["WD25CD"])
    return out


def gwent_codes(lsoas_by_la) -> list[str]:
    return [c for la in GWENT for c in lsoas_by_la[la]]


def gwent_marks(codes: list[str]) -> dict[str, str]:
    ordered = sorted(codes)
    return {ordered[40]: "exception", ordered[41]: "exception", ordered[150]: "raised", ordered[300]: "watch"}


LEGEND = [("exception", "Exception"), ("raised", "Raised"), ("watch", "Watch"), ("neutral", "Other LSOAs"),
          ("outline", "Local authority")]


def parse(doc: str) -> ET.Element:
    root = ET.fromstring(doc)
    assert root.tag == f"{NS}svg"
    return root


def viewbox(root: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    return x, y, w, h


_TOKEN = re.compile(r"[MmLlZz]|-?(?:\d+\.?\d*|\.\d+)")


def path_points(d: str) -> list[tuple[float, float]]:
    """Absolute points of a path using M, m, L, l and Z/z (what the module writes)."""
    tokens = _TOKEN.findall(d)
    assert "".join(tokens).replace(" ", "") == re.sub(r"[\s,]", "", d), f"unexpected path syntax: {d[:80]}"
    pts: list[tuple[float, float]] = []
    cmd, cur, start, nums = None, (0.0, 0.0), (0.0, 0.0), []
    for tok in tokens + ["Z"]:
        if tok in "MmLlZz":
            assert not nums, d[:80]
            cmd = tok
            if tok in "Zz":
                cur = start
            continue
        nums.append(float(tok))
        if len(nums) < 2:
            continue
        dx, dy = nums
        nums = []
        if cmd in "ML":
            cur = (dx, dy)
        elif cmd in "ml":
            cur = (cur[0] + dx, cur[1] + dy)
        else:
            raise AssertionError(f"coordinates after {cmd!r}")
        if cmd in "Mm":
            start = cur
            cmd = "L" if cmd == "M" else "l"  # implicit lineto after a moveto
        pts.append(cur)
    return pts


def area_paths(root: ET.Element) -> list[ET.Element]:
    return [p for p in root.iter(f"{NS}path") if "area" in p.get("class", "").split()]


def assert_inside(root: ET.Element) -> int:
    x0, y0, w, h = viewbox(root)
    n = 0
    for p in root.iter(f"{NS}path"):
        pts = path_points(p.get("d"))
        assert pts, p.get("data-code")
        for x, y in pts:
            assert x0 <= x <= x0 + w and y0 <= y <= y0 + h, (p.get("data-code"), x, y)
        n += len(pts)
    for el in root.iter():
        for ax, ay in (("x", "y"), ("cx", "cy"), ("x1", "y1"), ("x2", "y2")):
            if el.get(ax) is not None:
                assert x0 <= float(el.get(ax)) <= x0 + w and y0 <= float(el.get(ay)) <= y0 + h, el.attrib
        if el.get("points"):
            for pair in el.get("points").split():
                x, y = (float(v) for v in pair.split(","))
                assert x0 <= x <= x0 + w and y0 <= y <= y0 + h, el.attrib
    return n


# ----------------------------------------------------------------------------------------------- maps


def test_map_draws_one_path_per_code_with_marks_on_top(lsoas_by_la):
    codes = lsoas_by_la[NEWPORT]
    ordered = sorted(codes)
    marked = {ordered[5]: "exception", ordered[6]: "watch", ordered[7]: "raised", ordered[8]: "exception"}
    doc = area_map_svg(level="lsoa21", codes=codes, marked=marked, outline_la_codes=[NEWPORT],
                       title="Newport map", description="Four LSOAs marked", legend=LEGEND)
    root = parse(doc)
    assert root.get("viewBox") == "0 0 640 480" and root.get("width") == "100%" and root.get("role") == "img"
    assert "cm-map" in root.get("class").split()

    paths = area_paths(root)
    assert len(paths) == len(codes) == len({p.get("data-code") for p in paths})
    assert {p.get("data-code") for p in paths} == set(codes)
    classes = {p.get("data-code"): p.get("class") for p in paths}
    for code, cls in marked.items():
        assert classes[code] == f"area {cls}"
    assert {classes[c] for c in codes if c not in marked} == {"area"}
    # Marked areas come after every unmarked one, the most severe last.
    order = [p.get("data-code") for p in paths]
    assert order[-4:] == [ordered[6], ordered[7], ordered[5], ordered[8]]
    assert all(all(p.get("d")) for p in paths)

    las = [p for p in root.iter(f"{NS}path") if p.get("class") == "la"]
    assert [p.get("data-code") for p in las] == [NEWPORT]
    assert [p.get("class") for p in root.iter(f"{NS}path")][-1] == "la"  # outlines on top of every area

    # Accessible name and description, with ids that resolve.
    title, desc = root.find(f"{NS}title"), root.find(f"{NS}desc")
    assert title.text == "Newport map" and desc.text == "Four LSOAs marked"
    assert root.get("aria-labelledby").split() == [title.get("id"), desc.get("id")]
    assert [t.text for t in root.iter(f"{NS}text")] == [label for _, label in LEGEND]
    style = root.find(f"{NS}style").text
    assert ".cm-map .area.exception{" in style and all(
        rule.startswith(".cm-map ") for rule in re.findall(r"[^{}]+(?=\{)", style))
    assert_inside(root)


@pytest.mark.parametrize("size", [(640, 480), (300, 520), (900, 240)])
def test_every_coordinate_is_inside_the_viewbox(lsoas_by_la, size):
    w, h = size
    codes = gwent_codes(lsoas_by_la)
    doc = area_map_svg(level="lsoa21", codes=codes, marked=gwent_marks(codes), outline_la_codes=GWENT,
                       title="Gwent", width=w, height=h, legend=LEGEND[:3])
    root = parse(doc)
    assert root.get("viewBox") == f"0 0 {w} {h}"
    assert len(area_paths(root)) == len(codes)
    assert assert_inside(root) > 5 * len(codes)
    # Fitted with the aspect preserved: the drawing touches both sides along one axis only.
    xs, ys = zip(*(pt for p in area_paths(root) for pt in path_points(p.get("d"))))
    spans = ((max(xs) - min(xs)) / (w - 16), (max(ys) - min(ys)) / (h - 16 - 18 * 2))
    assert max(spans) > 0.97 and min(spans) < 0.99


def test_wards_draw_from_the_2025_ward_boundaries(wards_by_la):
    codes = wards_by_la[NEWPORT]
    doc = area_map_svg(level="ward", codes=codes, marked={codes[0]: "raised"}, outline_la_codes=[NEWPORT],
                       title="Newport wards")
    root = parse(doc)
    assert sorted(p.get("data-code") for p in area_paths(root)) == sorted(codes)
    assert_inside(root)


def test_all_of_wales_stays_small_and_fast(lsoas_by_la):
    codes = [c for la in sorted(lsoas_by_la) for c in lsoas_by_la[la]]
    assert len(codes) == 1917
    area_map_svg(level="lsoa21", codes=codes[:3], title="warm the cache")
    start = time.perf_counter()
    doc = area_map_svg(level="lsoa21", codes=codes, title="Wales")
    elapsed = time.perf_counter() - start
    assert len(doc.encode()) < 250_000
    assert elapsed < 1.5, elapsed
    root = parse(doc)
    paths = area_paths(root)
    assert len(paths) == 1917
    # Even an LSOA a fraction of a pixel across keeps a path (drawn as a dot by its stroke's round caps).
    assert all(path_points(p.get("d")) for p in paths)
    with_las = area_map_svg(level="lsoa21", codes=codes, title="Wales", outline_la_codes=sorted(lsoas_by_la))
    assert len(with_las.encode()) < 300_000
    assert_inside(parse(with_las))


def test_output_is_deterministic(lsoas_by_la):
    codes = gwent_codes(lsoas_by_la)
    marks = gwent_marks(codes)
    kwargs = dict(level="lsoa21", outline_la_codes=GWENT, title="Gwent", legend=LEGEND)
    first = area_map_svg(codes=codes, marked=marks, **kwargs)
    assert area_map_svg(codes=codes, marked=marks, **kwargs) == first
    # The caller's order of codes or marks does not matter; duplicates are drawn once.
    shuffled = codes[::-1] + codes[:10]
    assert area_map_svg(codes=shuffled, marked=dict(reversed(marks.items())), **kwargs) == first
    # A different figure gets different ids, so two maps on one page do not clash.
    other = parse(area_map_svg(codes=codes, marked=marks, **{**kwargs, "title": "Gwent (2)"}))
    assert other.get("id") != parse(first).get("id")


def test_unknown_codes_and_bad_arguments_are_refused(lsoas_by_la):
    codes = lsoas_by_la[NEWPORT][:5]
    with pytest.raises(ValueError, match="W01999999.*W01999998|W01999998.*W01999999"):
        area_map_svg(level="lsoa21", codes=codes + ["W01999999", "W01999998"], title="x")
    with pytest.raises(ValueError, match="W05999999"):
        area_map_svg(level="ward", codes=["W05999999"], title="x")
    with pytest.raises(ValueError, match="W01000003"):  # an LSOA code is not a ward code
        area_map_svg(level="ward", codes=["W01000003"], title="x")
    with pytest.raises(ValueError, match="W06999999"):
        area_map_svg(level="lsoa21", codes=codes, outline_la_codes=["W06999999"], title="x")
    with pytest.raises(ValueError, match="level"):
        area_map_svg(level="msoa21", codes=codes, title="x")
    with pytest.raises(ValueError, match="purple"):
        area_map_svg(level="lsoa21", codes=codes, marked={codes[0]: "purple"}, title="x")
    with pytest.raises(ValueError, match=lsoas_by_la["W06000001"][0]):
        area_map_svg(level="lsoa21", codes=codes, marked={lsoas_by_la["W06000001"][0]: "watch"}, title="x")
    with pytest.raises(ValueError, match="legend"):
        area_map_svg(level="lsoa21", codes=codes, legend=[("area", "x")], title="x")
    with pytest.raises(ValueError, match="nothing to draw"):
        area_map_svg(level="lsoa21", codes=[], title="x")


def test_caller_text_is_escaped(lsoas_by_la):
    codes = lsoas_by_la[NEWPORT][:20]
    nasty = '<script>alert("x")</script> & \'quotes\' \x07'
    doc = area_map_svg(level="lsoa21", codes=codes, title=nasty, description=nasty, legend=[("watch", nasty)])
    root = parse(doc)
    assert "<script>" not in doc
    assert not list(root.iter(f"{NS}script")) and not list(root.iter("script"))
    clean = nasty.replace("\x07", "")
    assert root.find(f"{NS}title").text == clean and root.find(f"{NS}desc").text == clean
    assert [t.text for t in root.iter(f"{NS}text")] == [clean]

    chart = trend_chart_svg(points=[{"label": nasty, "observed": 3, "observed_text": nasty, "is_flagged": True}],
                            title=nasty, value_label=nasty, band_label=nasty, observed_label=nasty)
    root = parse(chart)
    assert "<script>" not in chart and not list(root.iter(f"{NS}script"))
    assert root.find(f"{NS}title").text == clean


# ---------------------------------------------------------------------------------------- trend chart


def quarters(observed, expected=None, lower=None, upper=None, flagged=()):
    n = len(observed)
    expected = expected or [None] * n
    lower = lower or [None] * n
    upper = upper or [None] * n
    return [{"label": f"2024 Ch{i + 1}", "observed": o, "expected": e, "lower": lo, "upper": up,
             "is_flagged": i in flagged, "observed_text": "" if o is None else f"{o:g}"}
            for i, (o, e, lo, up) in enumerate(zip(observed, expected, lower, upper))]


TYPICAL = quarters(
    observed=[12, 15, 11, 14, 13, 16, 18, 31],
    expected=[13, 13.5, 13, 13.2, 13.8, 14, 14.5, 14.8],
    lower=[7, 7.5, 7, 7.2, None, 8, 8.4, 8.6],
    upper=[20, 21, 20, 20.5, None, 21.5, 22, 22.4],
    flagged=(7,),
)


def test_trend_chart_draws_band_expected_observed_and_flags():
    doc = trend_chart_svg(points=TYPICAL, title="Violence, Newport", description="Last 8 quarters",
                          value_label="per 1,000", band_label="Expected range", observed_label="Observed")
    root = parse(doc)
    assert root.get("viewBox") == "0 0 260 110" and "cm-trend" in root.get("class").split()
    assert root.find(f"{NS}title").text == "Violence, Newport"
    # The band has a gap where quarter 5's bounds are missing: two polygons (plus the key swatch).
    bands = [e for e in root.iter(f"{NS}polygon") if e.get("class") == "band"]
    assert [len(b.get("points").split()) for b in bands] == [8, 6]
    exp = [e for e in root.iter(f"{NS}polyline") if e.get("class") == "exp"]
    assert len(exp) == 1 and len(exp[0].get("points").split()) == 8
    obs = [e for e in root.iter(f"{NS}polyline") if e.get("class") == "obs"]
    assert [len(o.get("points").split()) for o in obs] == [8]
    assert len([e for e in root.iter() if e.get("class", "").startswith("key ")]) == 3  # the key's samples
    dots = [c for c in root.iter(f"{NS}circle") if c.get("class") in ("dot", "flag")]
    assert len(dots) == 8
    flags = [c for c in dots if c.get("class") == "flag"]
    assert len(flags) == 1 and float(flags[0].get("r")) > float(dots[0].get("r"))
    assert flags[0].find(f"{NS}title").text == "2024 Ch8: 31"
    # The flagged quarter is the highest dot; y grows downwards.
    assert float(flags[0].get("cy")) == min(float(c.get("cy")) for c in dots)
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert texts == ["per 1,000", "Expected range", "Observed", "40", "0", "31", "2024 Ch1", "2024 Ch8"]
    assert_inside(root)


def test_trend_chart_has_no_text_of_its_own():
    """Every piece of text is the caller's, or a y-axis number in plain digits."""
    caller = {"per 1,000", "Expected range", "Observed", "Violence", "2024 Ch1", "2024 Ch8", "31",
              "2024 Ch8: 31"} | {f"2024 Ch{i + 1}: {p['observed_text']}" for i, p in enumerate(TYPICAL)}
    root = parse(trend_chart_svg(points=TYPICAL, title="Violence", value_label="per 1,000",
                                 band_label="Expected range", observed_label="Observed"))
    for el in root.iter():
        if el.tag in (f"{NS}text", f"{NS}title", f"{NS}desc") and el.text:
            assert el.text in caller or re.fullmatch(r"-?\d+(\.\d+)?", el.text), el.text


@pytest.mark.parametrize(
    "points",
    [
        [],
        quarters([None, None, None]),
        quarters([7.0]),
        quarters([7.0], expected=[6.0], lower=[2.0], upper=[11.0], flagged=(0,)),
        quarters([0, 0, 0, 0], expected=[0, 0, 0, 0], lower=[0, 0, 0, 0], upper=[0, 0, 0, 0]),
        quarters([None, 3, None, 4, 5], expected=[None, 3, 3, None, 4], lower=[1, None, 1, 1, 1],
                 upper=[5, None, 5, 6, 6]),
        quarters([-2.5, 1.5, float("nan"), 0.004], expected=[0, 0, 0, 0]),
        quarters([120000, 125000, 250001, 90000], flagged=(2,)),
    ],
    ids=["empty", "all-none", "single", "single-full", "zeros", "gaps", "negative-nan-small", "large"],
)
def test_trend_chart_degenerate_inputs(points):
    doc = trend_chart_svg(points=points, title="t", band_label="band", observed_label="obs")
    root = parse(doc)
    assert_inside(root)
    assert "nan" not in doc.lower() and "inf" not in doc.lower()
    assert doc == trend_chart_svg(points=points, title="t", band_label="band", observed_label="obs")
    numbers = [t.text for t in root.iter(f"{NS}text") if t.text and re.fullmatch(r"-?[\d.]+", t.text)]
    assert all("e" not in n for n in numbers)


def test_trend_chart_y_axis_is_round_and_bad_values_are_refused():
    root = parse(trend_chart_svg(points=quarters([0.004, 0.0031]), title="t"))
    assert [t.text for t in root.iter(f"{NS}text")][:2] == ["0.004", "0"]
    root = parse(trend_chart_svg(points=quarters([-2.5, 1.5]), title="t"))
    assert [t.text for t in root.iter(f"{NS}text")][:2] == ["1.5", "-2.5"]
    with pytest.raises(ValueError, match=r"points\[1\]\.observed"):
        trend_chart_svg(points=[{"label": "a", "observed": 1}, {"label": "b", "observed": "12"}], title="t")
    with pytest.raises(ValueError, match=r"points\[0\]"):
        trend_chart_svg(points=[{"observed": 1}], title="t")


# ----------------------------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); the browser checks need it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright (a dev dependency) is required in CI")
        pytest.skip("playwright is not installed in this env (uv sync --dev)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def open_page(browser, body: str):
    page = browser.new_page(viewport={"width": 900, "height": 900}, device_scale_factor=2)
    requests: list[str] = []

    def block(route):
        requests.append(route.request.url)
        route.abort()

    page.route("**/*", block)
    page.set_content(f'<!doctype html><html lang="cy"><head><meta charset="utf-8"></head>'
                     f'<body style="margin:8px;font-family:sans-serif">{body}</body></html>')
    page.wait_for_load_state("load")
    return page, requests


BOX_JS = """(sel) => {
  const svg = document.querySelector(sel);
  const vb = svg.viewBox.baseVal;
  const box = (el) => { const b = el.getBBox(); return {x: b.x, y: b.y, w: b.width, h: b.height}; };
  const marked = [...svg.querySelectorAll('path.area.exception, path.area.raised, path.area.watch')];
  return {
    viewBox: [vb.x, vb.y, vb.width, vb.height],
    rendered: svg.getBoundingClientRect().height,
    areas: svg.querySelectorAll('path.area').length,
    marked: marked.map((p) => ({code: p.dataset.code, fill: getComputedStyle(p).fill, ...box(p)})),
    las: [...svg.querySelectorAll('path.la')].map(box),
    bands: [...svg.querySelectorAll('polygon.band')].map(box),
    lines: [...svg.querySelectorAll('polyline.obs:not(.key)')].map(box),
    flags: [...svg.querySelectorAll('circle.flag')].map((c) => ({fill: getComputedStyle(c).fill, ...box(c)})),
  };
}"""


def inside(b, vb) -> bool:
    x0, y0, w, h = vb
    return b["w"] > 0 and b["h"] > 0 and b["x"] >= x0 and b["y"] >= y0 and b["x"] + b["w"] <= x0 + w + 1e-6 \
        and b["y"] + b["h"] <= y0 + h + 1e-6


def test_map_and_chart_render_in_chromium(browser, lsoas_by_la):
    codes = gwent_codes(lsoas_by_la)
    marks = gwent_marks(codes)
    gwent_map = area_map_svg(level="lsoa21", codes=codes, marked=marks, outline_la_codes=GWENT,
                             title="Gwent: LSOAs above their expected level", legend=LEGEND)
    newport_map = area_map_svg(level="lsoa21", codes=lsoas_by_la[NEWPORT], outline_la_codes=[NEWPORT],
                               marked={sorted(lsoas_by_la[NEWPORT])[3]: "watch"}, title="Newport")
    chart = trend_chart_svg(points=TYPICAL, title="Violence, Newport", value_label="per 1,000 residents",
                            band_label="Expected range", observed_label="Observed")
    page, requests = open_page(browser, (
        f'<div id="map" style="width:640px">{gwent_map}</div>'
        f'<div id="map2" style="width:400px">{newport_map}</div>'
        f'<div id="trend" style="width:390px;padding:4px;background:#fff">{chart}</div>'
        # Outside the figures the same class names must be left alone by their <style> elements.
        '<div id="outside" class="area exception band flag">x</div>'))
    try:
        m = page.evaluate(BOX_JS, "#map svg")
        assert m["viewBox"] == [0, 0, 640, 480]
        assert m["areas"] == len(codes)
        assert 470 < m["rendered"] < 490  # width 100% of 640px, height from the viewBox's aspect
        assert sorted(b["code"] for b in m["marked"]) == sorted(marks)
        for b in m["marked"]:
            assert inside(b, m["viewBox"]), b
        assert {b["fill"] for b in m["marked"] if marks[b["code"]] == "exception"} == {"rgb(200, 16, 46)"}
        assert len(m["las"]) == 5 and all(inside(b, m["viewBox"]) for b in m["las"])

        m2 = page.evaluate(BOX_JS, "#map2 svg")
        assert m2["areas"] == len(lsoas_by_la[NEWPORT]) and len(m2["marked"]) == 1
        assert inside(m2["marked"][0], m2["viewBox"]) and m2["marked"][0]["fill"] == "rgb(252, 228, 106)"

        t = page.evaluate(BOX_JS, "#trend svg")
        assert t["viewBox"] == [0, 0, 260, 110]
        assert len(t["bands"]) == 2 and all(inside(b, t["viewBox"]) for b in t["bands"])
        assert len(t["lines"]) == 1 and all(inside(b, t["viewBox"]) for b in t["lines"])
        assert t["lines"][0]["w"] > 150 and t["bands"][0]["h"] > 10
        assert len(t["flags"]) == 1 and t["flags"][0]["fill"] == "rgb(200, 16, 46)"

        outside = page.evaluate("""() => { const s = getComputedStyle(document.getElementById('outside'));
                                           return [s.fill, s.stroke]; }""")
        assert outside == ["rgb(0, 0, 0)", "none"]
        assert requests == []

        page.locator("#map").screenshot(path="/tmp/svg_gwent.png")
        page.locator("#trend").screenshot(path="/tmp/svg_trend.png")
        assert Path("/tmp/svg_gwent.png").stat().st_size > 10_000
    finally:
        page.close()
