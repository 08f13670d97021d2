"""Build the Welsh geography dbt seeds from the bundled ONS / Welsh Government snapshots.

Usage (from the repository root)::

    uv run python scripts/build_geography_seeds.py            # writes seeds/geography/
    uv run python scripts/build_geography_seeds.py --out DIR  # writes DIR/ (used by the tests)

Plain Python: stdlib ``csv``/``json`` plus ``shapely``.  Inputs are read from
``data/snapshots/`` only (no network).  The output is deterministic: rows are
sorted by key, files are UTF-8 without BOM with ``\\n`` line endings, and no
floating-point values are written.

Seeds written (see seeds/geography/README.md for provenance and method):

* ``lsoa21_geography.csv``      one row per 2021 LSOA (1,917) with MSOA, ward (best fit),
                                 local authority, police force and rural-urban class
* ``lsoa11_lsoa21_exact_fit.csv`` ONS exact-fit LSOA 2011 -> 2021 lookup (1,940 rows)
* ``local_authority.csv``       22 local authorities with CSP and police force
* ``police_force.csv``          4 Welsh police forces with data.police.uk ids
* ``ward.csv``                  762 electoral wards (2025) with their LSOA count
* ``msoa21.csv``                408 2021 MSOAs with House of Commons Library names

Any missing input, missing column, unexpected count or failed consistency check
stops the script with a non-zero exit status and a message naming the file.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import sys
from pathlib import Path

from shapely.geometry import Point, shape
from shapely.ops import transform
from shapely.prepared import prep

REPO_ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = REPO_ROOT / "data" / "snapshots"
DEFAULT_OUT = REPO_ROOT / "seeds" / "geography"

# Inputs (all relative to data/snapshots/)
LSOA21_LAD_CSV = "geography/wales_lsoa21_to_lad_from_ons_bgc.csv"
LSOA21_GEOJSON = "boundaries/wales_lsoa21_bgc.geojson"
MSOA21_GEOJSON = "boundaries/wales_msoa21_bgc.geojson"
WARD25_GEOJSON = "boundaries/wales_wards2025_bgc.geojson"
LSOA11_CENTROIDS_CSV = "geography/wales_lsoa11_names_welsh_centroids_from_ons_bgc.csv"
LSOA11_LSOA21_CSV = "population/lookup_lsoa11_lsoa21_ltla22_wales.csv"
LAD_CSP_PFA_CSV = "geography/ons_lad19_csp19_pfa19_EW.csv"
LA_NAMES_CSV = "statswales/bethyw_areas_la_names_en_cy.csv"
MSOA_HCL_NAMES_CSV = "geography/drkane_msoa_names_hcl_wales_subset.csv"
RUC21_CSV = "population/ruc21_lsoa21_wales.csv"

# Expected counts for Wales
N_LSOA21 = 1917
N_LSOA11 = 1909
N_EXACT_FIT_ROWS = 1940
N_MSOA21 = 408
N_WARDS = 762
N_LA = 22
N_FORCES = 4

# data.police.uk identifiers; police_uk_name is the "Reported by" value in police.uk CSVs
POLICE_UK = {
    "W15000001": ("north-wales", "North Wales Police"),
    "W15000002": ("gwent", "Gwent Police"),
    "W15000003": ("south-wales", "South Wales Police"),
    "W15000004": ("dyfed-powys", "Dyfed-Powys Police"),
}
# Welsh names of the police force areas (the forces' own Welsh names: Heddlu Gogledd Cymru, Heddlu Gwent,
# Heddlu De Cymru, Heddlu Dyfed-Powys), for the Welsh monitoring pack
POLICE_FORCE_NAME_CY = {"W15000001": "Gogledd Cymru", "W15000002": "Gwent", "W15000003": "De Cymru",
                        "W15000004": "Dyfed-Powys"}

# Distances for the nearest-ward fallback are measured in a local equirectangular
# projection (longitude scaled by cos of a fixed latitude near the middle of Wales),
# so that east-west and north-south degrees are comparable.
REF_LAT = 52.3
LON_SCALE = math.cos(math.radians(REF_LAT))
KM_PER_DEG_LAT = 111.32

WARD_FIT_METHODS = (
    "pwc_2011_in_ward",
    "pwc_2011_nearest_ward",
    "interior_point_in_ward",
    "interior_point_nearest_ward",
)

SEED_COLUMNS = {
    "lsoa21_geography.csv": [
        "lsoa21_code", "lsoa21_name", "msoa21_code", "msoa21_name", "msoa21_hcl_name",
        "msoa21_hcl_name_cy", "ward_code", "ward_name", "ward_name_cy", "ward_fit_method",
        "la_code", "la_name", "la_name_cy", "police_force_code", "police_force_name",
        "ruc21_code", "ruc21_class", "urban_rural",
    ],
    "lsoa11_lsoa21_exact_fit.csv": [
        "lsoa11_code", "lsoa11_name", "change_code", "lsoa21_code", "lsoa21_name", "la_code",
    ],
    "local_authority.csv": [
        "la_code", "la_name", "la_name_cy", "csp_code", "csp_name",
        "police_force_code", "police_force_name",
    ],
    "police_force.csv": [
        "police_force_code", "police_force_name", "police_uk_force_id", "police_uk_name", "police_force_name_cy",
    ],
    "ward.csv": ["ward_code", "ward_name", "ward_name_cy", "la_code", "lsoa21_count"],
    "msoa21.csv": ["msoa21_code", "msoa21_name", "msoa21_hcl_name", "msoa21_hcl_name_cy", "la_code"],
}


class SeedBuildError(Exception):
    """An input is missing, malformed or fails a consistency check."""


# Input directory; main() replaces it when --snapshots is given.
_snapshots_dir = SNAPSHOTS


def _display(relpath: str) -> str:
    path = _snapshots_dir / relpath
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def fail(relpath: str, problem: str) -> None:
    raise SeedBuildError(f"{_display(relpath)}: {problem}")


def check(condition: bool, relpath: str, problem: str) -> None:
    if not condition:
        fail(relpath, problem)


# --------------------------------------------------------------------------- readers


def _input_path(relpath: str) -> Path:
    path = _snapshots_dir / relpath
    if not path.is_file():
        fail(relpath, "input file is missing")
    return path


def read_csv(relpath: str, required: list[str], may_be_blank: tuple[str, ...] = ()) -> list[dict[str, str]]:
    path = _input_path(relpath)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            fail(relpath, f"missing column(s) {missing}; header is {header}")
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    for i, row in enumerate(rows, start=2):
        blank = [c for c in required if not row.get(c) and c not in may_be_blank]
        if blank:
            fail(relpath, f"line {i}: empty value(s) in {blank}")
    if not rows:
        fail(relpath, "no data rows")
    return rows


def read_geojson(relpath: str, required: list[str]) -> list[tuple[dict[str, str], object]]:
    path = _input_path(relpath)
    try:
        with path.open(encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        fail(relpath, f"not valid JSON ({exc})")
    crs = (doc.get("crs") or {}).get("properties", {}).get("name", "")
    if crs and not (crs.endswith("CRS84") or crs.endswith("4326")):
        fail(relpath, f"expected WGS84 lon/lat, found CRS {crs!r}")
    out = []
    for i, feat in enumerate(doc.get("features", [])):
        props = {k: ("" if v is None else str(v).strip()) for k, v in (feat.get("properties") or {}).items()}
        blank = [c for c in required if not props.get(c)]
        if blank:
            fail(relpath, f"feature {i}: missing/empty propert(y/ies) {blank}")
        geom = shape(feat["geometry"])
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            fail(relpath, f"feature {i} ({props.get(required[0])}): empty or non-polygon geometry")
        if not geom.is_valid:
            # Generalised (BGC) boundaries contain a few self-intersections, degenerate
            # slivers and nested shells; buffer(0) repairs them without moving edges.
            geom = geom.buffer(0)
            if geom.is_empty or not geom.is_valid:
                fail(relpath, f"feature {i} ({props.get(required[0])}): geometry cannot be repaired")
        out.append((props, geom))
    return out


def unique_index(rows, key: str, relpath: str, expected: int | None = None) -> dict:
    index = {}
    for row in rows:
        props = row[0] if isinstance(row, tuple) else row
        code = props[key]
        if code in index:
            fail(relpath, f"duplicate {key} {code}")
        index[code] = row
    if expected is not None and len(index) != expected:
        fail(relpath, f"expected {expected} unique {key}, found {len(index)}")
    return index


def _local_xy(geom):
    return transform(lambda x, y, z=None: (x * LON_SCALE, y), geom)


# --------------------------------------------------------------------------- build


def build() -> tuple[dict[str, list[dict[str, str]]], dict[str, object]]:
    """Return ({seed file name: rows}, summary)."""
    # ---- local authorities: names (en/cy), CSP and police force
    la_names = read_csv(LA_NAMES_CSV, ["Local authority code", "Name (eng)", "Name (cym)"])
    la_by_code = unique_index(la_names, "Local authority code", LA_NAMES_CSV, N_LA)
    check(all(c.startswith("W06") for c in la_by_code), LA_NAMES_CSV, "non-W06 local authority code")

    lad_pfa_all = read_csv(LAD_CSP_PFA_CSV, ["LAD19CD", "LAD19NM", "CSP19CD", "CSP19NM", "PFA19CD", "PFA19NM"])
    lad_pfa = unique_index([r for r in lad_pfa_all if r["LAD19CD"].startswith("W06")], "LAD19CD",
                           LAD_CSP_PFA_CSV, N_LA)
    check(set(lad_pfa) == set(la_by_code), LAD_CSP_PFA_CSV,
          f"Welsh LAD19 codes differ from {LA_NAMES_CSV}: {sorted(set(lad_pfa) ^ set(la_by_code))}")
    for code, r in lad_pfa.items():
        check(r["LAD19NM"] == la_by_code[code]["Name (eng)"], LAD_CSP_PFA_CSV,
              f"{code} named {r['LAD19NM']!r} but {la_by_code[code]['Name (eng)']!r} in {LA_NAMES_CSV}")
    forces = {}
    for r in lad_pfa.values():
        if forces.setdefault(r["PFA19CD"], r["PFA19NM"]) != r["PFA19NM"]:
            fail(LAD_CSP_PFA_CSV, f"police force {r['PFA19CD']} has more than one name")
    check(len(forces) == N_FORCES, LAD_CSP_PFA_CSV, f"expected {N_FORCES} Welsh police forces, found {len(forces)}")
    check(set(forces) == set(POLICE_UK), LAD_CSP_PFA_CSV,
          f"unexpected police force codes {sorted(forces)}; expected {sorted(POLICE_UK)}")

    local_authority = []
    for code in sorted(la_by_code):
        r = lad_pfa[code]
        local_authority.append({
            "la_code": code,
            "la_name": la_by_code[code]["Name (eng)"],
            "la_name_cy": la_by_code[code]["Name (cym)"],
            "csp_code": r["CSP19CD"],
            "csp_name": r["CSP19NM"],
            "police_force_code": r["PFA19CD"],
            "police_force_name": r["PFA19NM"],
        })
    la = {r["la_code"]: r for r in local_authority}

    police_force = [
        {
            "police_force_code": code,
            "police_force_name": forces[code],
            "police_uk_force_id": POLICE_UK[code][0],
            "police_uk_name": POLICE_UK[code][1],
            "police_force_name_cy": POLICE_FORCE_NAME_CY[code],
        }
        for code in sorted(forces)
    ]

    # ---- 2021 LSOAs: list, boundaries, rural-urban class
    lsoa_rows = read_csv(LSOA21_LAD_CSV, ["LSOA21CD", "LSOA21NM", "LADCD", "LADNM"])
    lsoa = unique_index(lsoa_rows, "LSOA21CD", LSOA21_LAD_CSV, N_LSOA21)
    for code, r in lsoa.items():
        check(r["LADCD"] in la, LSOA21_LAD_CSV, f"{code}: unknown local authority {r['LADCD']}")
        check(len(r["LSOA21NM"]) > 1 and r["LSOA21NM"][-1].isalpha() and r["LSOA21NM"][-1].isupper(),
              LSOA21_LAD_CSV, f"{code}: name {r['LSOA21NM']!r} does not end with a capital letter")
    check(len({r["LADCD"] for r in lsoa.values()}) == N_LA, LSOA21_LAD_CSV,
          f"LSOAs do not cover all {N_LA} local authorities")

    lsoa_bnd = unique_index(read_geojson(LSOA21_GEOJSON, ["LSOA21CD", "LSOA21NM", "LADCD_ACTIVE"]),
                            "LSOA21CD", LSOA21_GEOJSON, N_LSOA21)
    check(set(lsoa_bnd) == set(lsoa), LSOA21_GEOJSON, f"LSOA codes differ from {LSOA21_LAD_CSV}")
    for code, (props, _) in lsoa_bnd.items():
        check(props["LSOA21NM"] == lsoa[code]["LSOA21NM"] and props["LADCD_ACTIVE"] == lsoa[code]["LADCD"],
              LSOA21_GEOJSON, f"{code}: name/LA disagree with {LSOA21_LAD_CSV}")

    ruc = unique_index(read_csv(RUC21_CSV, ["lsoa21_code", "ruc21_code", "classification", "ruc"]),
                       "lsoa21_code", RUC21_CSV, N_LSOA21)
    check(set(ruc) == set(lsoa), RUC21_CSV, f"LSOA codes differ from {LSOA21_LAD_CSV}")
    bad_ruc = sorted({r["ruc"] for r in ruc.values()} - {"Urban", "Rural"})
    check(not bad_ruc, RUC21_CSV, f"unexpected ruc values {bad_ruc}")

    # ---- 2021 MSOAs: boundaries and House of Commons Library names
    msoa_bnd = unique_index(read_geojson(MSOA21_GEOJSON, ["MSOA21CD", "MSOA21NM", "LADCD_ACTIVE"]),
                            "MSOA21CD", MSOA21_GEOJSON, N_MSOA21)
    msoa_by_name = {}
    for code, (props, _) in msoa_bnd.items():
        check(props["LADCD_ACTIVE"] in la, MSOA21_GEOJSON, f"{code}: unknown LA {props['LADCD_ACTIVE']}")
        check(props["MSOA21NM"] not in msoa_by_name, MSOA21_GEOJSON, f"duplicate MSOA name {props['MSOA21NM']!r}")
        msoa_by_name[props["MSOA21NM"]] = code

    hcl_all = read_csv(MSOA_HCL_NAMES_CSV, ["MSOACD", "MSOANM", "MSOAHCLNM", "MSOAHCLNMW", "MSOA21CD"],
                       may_be_blank=("MSOA21CD",))
    # The file is the 2011+2021 union; rows with a blank MSOA21CD are 2011-only MSOAs.
    hcl = unique_index([r for r in hcl_all if r["MSOA21CD"]], "MSOA21CD", MSOA_HCL_NAMES_CSV, N_MSOA21)
    check(set(hcl) == set(msoa_bnd), MSOA_HCL_NAMES_CSV,
          f"2021 MSOA codes differ from {MSOA21_GEOJSON}: {sorted(set(hcl) ^ set(msoa_bnd))[:10]}")
    for code, r in hcl.items():
        check(r["MSOACD"] == code and r["MSOANM"] == msoa_bnd[code][0]["MSOA21NM"], MSOA_HCL_NAMES_CSV,
              f"{code}: code/name disagree with {MSOA21_GEOJSON}")

    msoa21 = [
        {
            "msoa21_code": code,
            "msoa21_name": msoa_bnd[code][0]["MSOA21NM"],
            "msoa21_hcl_name": hcl[code]["MSOAHCLNM"],
            "msoa21_hcl_name_cy": hcl[code]["MSOAHCLNMW"],
            "la_code": msoa_bnd[code][0]["LADCD_ACTIVE"],
        }
        for code in sorted(msoa_bnd)
    ]
    msoa = {r["msoa21_code"]: r for r in msoa21}

    # LSOA -> MSOA by the ONS naming rule: "<MSOA name><letter>"
    lsoa_msoa = {}
    for code, r in lsoa.items():
        msoa_name = r["LSOA21NM"][:-1]
        matches = [c for n, c in msoa_by_name.items() if n == msoa_name]
        check(len(matches) == 1, MSOA21_GEOJSON,
              f"LSOA {code} {r['LSOA21NM']!r}: expected exactly one MSOA named {msoa_name!r}, found {len(matches)}")
        check(msoa[matches[0]]["la_code"] == r["LADCD"], MSOA21_GEOJSON,
              f"LSOA {code} is in {r['LADCD']} but its MSOA {matches[0]} is in {msoa[matches[0]]['la_code']}")
        lsoa_msoa[code] = matches[0]
    empty_msoas = sorted(set(msoa) - set(lsoa_msoa.values()))
    check(not empty_msoas, MSOA21_GEOJSON, f"MSOA(s) with no LSOA: {empty_msoas[:10]}")

    # ---- LSOA 2011 -> 2021 exact fit and 2011 population-weighted centroids
    centroids = unique_index(
        read_csv(LSOA11_CENTROIDS_CSV, ["LSOA11CD", "LSOA11NM", "LADCD", "LONG", "LAT"]),
        "LSOA11CD", LSOA11_CENTROIDS_CSV, N_LSOA11)
    fit_rows = read_csv(LSOA11_LSOA21_CSV, ["lsoa11_code", "lsoa11_name", "change_code",
                                           "lsoa21_code", "lsoa21_name", "ltla22_code"])
    check(len(fit_rows) == N_EXACT_FIT_ROWS, LSOA11_LSOA21_CSV,
          f"expected {N_EXACT_FIT_ROWS} rows, found {len(fit_rows)}")
    pairs = collections.Counter((r["lsoa11_code"], r["lsoa21_code"]) for r in fit_rows)
    check(max(pairs.values()) == 1, LSOA11_LSOA21_CSV, "duplicate (lsoa11_code, lsoa21_code) pairs")
    bad_cc = sorted({r["change_code"] for r in fit_rows} - {"U", "S", "M"})
    check(not bad_cc, LSOA11_LSOA21_CSV, f"unexpected change_code(s) {bad_cc}")
    check({r["lsoa21_code"] for r in fit_rows} == set(lsoa), LSOA11_LSOA21_CSV,
          f"2021 LSOA codes differ from {LSOA21_LAD_CSV}")
    check({r["lsoa11_code"] for r in fit_rows} == set(centroids), LSOA11_LSOA21_CSV,
          f"2011 LSOA codes differ from {LSOA11_CENTROIDS_CSV}")
    n_children = collections.Counter(r["lsoa11_code"] for r in fit_rows)
    n_parents = collections.Counter(r["lsoa21_code"] for r in fit_rows)
    for r in fit_rows:
        c11, c21, cc = r["lsoa11_code"], r["lsoa21_code"], r["change_code"]
        check(r["lsoa21_name"] == lsoa[c21]["LSOA21NM"] and r["ltla22_code"] == lsoa[c21]["LADCD"],
              LSOA11_LSOA21_CSV, f"{c11}->{c21}: 2021 name/LA disagree with {LSOA21_LAD_CSV}")
        check(r["lsoa11_name"] == centroids[c11]["LSOA11NM"], LSOA11_LSOA21_CSV,
              f"{c11}: 2011 name disagrees with {LSOA11_CENTROIDS_CSV}")
        if cc == "U":
            check(c11 == c21 and n_children[c11] == 1 and n_parents[c21] == 1, LSOA11_LSOA21_CSV,
                  f"{c11}->{c21}: 'U' row is not a one-to-one unchanged code")
        elif cc == "S":
            check(n_children[c11] >= 2 and n_parents[c21] == 1, LSOA11_LSOA21_CSV,
                  f"{c11}->{c21}: 'S' row is not a split")
        else:
            check(n_parents[c21] >= 2 and n_children[c11] == 1, LSOA11_LSOA21_CSV,
                  f"{c11}->{c21}: 'M' row is not a merge")
    unchanged = {r["lsoa21_code"] for r in fit_rows if r["change_code"] == "U"}

    exact_fit = sorted(
        (
            {
                "lsoa11_code": r["lsoa11_code"],
                "lsoa11_name": r["lsoa11_name"],
                "change_code": r["change_code"],
                "lsoa21_code": r["lsoa21_code"],
                "lsoa21_name": r["lsoa21_name"],
                "la_code": r["ltla22_code"],
            }
            for r in fit_rows
        ),
        key=lambda r: (r["lsoa11_code"], r["lsoa21_code"]),
    )

    # ---- 2025 electoral wards and the LSOA -> ward best fit
    wards = unique_index(read_geojson(WARD25_GEOJSON, ["WD25CD", "WD25NM", "WD25NMW", "LAD25CD", "LAD25NM"]),
                         "WD25CD", WARD25_GEOJSON, N_WARDS)
    wards_by_la = collections.defaultdict(list)
    for code in sorted(wards):
        props, geom = wards[code]
        check(props["LAD25CD"] in la, WARD25_GEOJSON, f"{code}: unknown local authority {props['LAD25CD']}")
        check(props["LAD25NM"] == la[props["LAD25CD"]]["la_name"], WARD25_GEOJSON,
              f"{code}: LA name {props['LAD25NM']!r} disagrees with {LA_NAMES_CSV}")
        wards_by_la[props["LAD25CD"]].append((code, geom, prep(geom)))
    check(set(wards_by_la) == set(la), WARD25_GEOJSON, "not every local authority has wards")

    lsoa_ward: dict[str, tuple[str, str]] = {}
    nearest_km: list[tuple[float, str]] = []
    multi_hits = 0
    pwc_outside_own_lsoa = []
    for code in sorted(lsoa):
        la_code = lsoa[code]["LADCD"]
        lsoa_geom = lsoa_bnd[code][1]
        if code in unchanged:
            c = centroids[code]
            try:
                pt = Point(float(c["LONG"]), float(c["LAT"]))
            except ValueError:
                fail(LSOA11_CENTROIDS_CSV, f"{code}: LONG/LAT not numeric")
            prefix = "pwc_2011"
            if not lsoa_geom.covers(pt):
                pwc_outside_own_lsoa.append(code)
        else:
            pt = lsoa_geom.representative_point()
            prefix = "interior_point"
        candidates = wards_by_la[la_code]
        hits = [w for w, _, pg in candidates if pg.covers(pt)]
        if hits:
            # Generalised boundaries can overlap slightly; take the lowest code for determinism.
            multi_hits += len(hits) > 1
            lsoa_ward[code] = (hits[0], f"{prefix}_in_ward")
        else:
            pt_xy = _local_xy(pt)
            dists = sorted((_local_xy(g).distance(pt_xy), w) for w, g, _ in candidates)
            lsoa_ward[code] = (dists[0][1], f"{prefix}_nearest_ward")
            nearest_km.append((dists[0][0] * KM_PER_DEG_LAT, code))

    ward_counts = collections.Counter(w for w, _ in lsoa_ward.values())
    ward = [
        {
            "ward_code": code,
            "ward_name": wards[code][0]["WD25NM"],
            "ward_name_cy": wards[code][0]["WD25NMW"],
            "la_code": wards[code][0]["LAD25CD"],
            "lsoa21_count": str(ward_counts.get(code, 0)),
        }
        for code in sorted(wards)
    ]
    ward_by_code = {r["ward_code"]: r for r in ward}

    # ---- assemble the LSOA seed
    lsoa21_geography = []
    for code in sorted(lsoa):
        r = lsoa[code]
        m = msoa[lsoa_msoa[code]]
        w_code, method = lsoa_ward[code]
        w = ward_by_code[w_code]
        a = la[r["LADCD"]]
        rc = ruc[code]
        assert m["la_code"] == w["la_code"] == a["la_code"], code
        lsoa21_geography.append({
            "lsoa21_code": code,
            "lsoa21_name": r["LSOA21NM"],
            "msoa21_code": m["msoa21_code"],
            "msoa21_name": m["msoa21_name"],
            "msoa21_hcl_name": m["msoa21_hcl_name"],
            "msoa21_hcl_name_cy": m["msoa21_hcl_name_cy"],
            "ward_code": w_code,
            "ward_name": w["ward_name"],
            "ward_name_cy": w["ward_name_cy"],
            "ward_fit_method": method,
            "la_code": a["la_code"],
            "la_name": a["la_name"],
            "la_name_cy": a["la_name_cy"],
            "police_force_code": a["police_force_code"],
            "police_force_name": a["police_force_name"],
            "ruc21_code": rc["ruc21_code"],
            "ruc21_class": rc["classification"],
            "urban_rural": rc["ruc"],
        })

    seeds = {
        "lsoa21_geography.csv": lsoa21_geography,
        "lsoa11_lsoa21_exact_fit.csv": exact_fit,
        "local_authority.csv": local_authority,
        "police_force.csv": police_force,
        "ward.csv": ward,
        "msoa21.csv": msoa21,
    }
    expected_rows = {
        "lsoa21_geography.csv": N_LSOA21, "lsoa11_lsoa21_exact_fit.csv": N_EXACT_FIT_ROWS,
        "local_authority.csv": N_LA, "police_force.csv": N_FORCES, "ward.csv": N_WARDS, "msoa21.csv": N_MSOA21,
    }
    for name, rows in seeds.items():
        if len(rows) != expected_rows[name]:
            raise SeedBuildError(f"{name}: expected {expected_rows[name]} rows, built {len(rows)}")

    empty_wards = sorted(c for c in wards if ward_counts.get(c, 0) == 0)
    summary = {
        "method_counts": {m: sum(1 for _, x in lsoa_ward.values() if x == m) for m in WARD_FIT_METHODS},
        "wards_without_lsoa": empty_wards,
        "max_nearest_km": max(nearest_km) if nearest_km else None,
        "multi_ward_hits": multi_hits,
        "pwc_outside_own_lsoa": pwc_outside_own_lsoa,
        "n_unchanged": len(unchanged),
    }
    return seeds, summary


def write_seeds(seeds: dict[str, list[dict[str, str]]], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in seeds.items():
        cols = SEED_COLUMNS[name]
        with (out_dir / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(cols)
            for row in rows:
                writer.writerow([row[c] for c in cols])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default: seeds/geography)")
    parser.add_argument("--snapshots", type=Path, default=SNAPSHOTS,
                        help="input snapshot directory (default: data/snapshots)")
    args = parser.parse_args(argv)
    global _snapshots_dir
    _snapshots_dir = args.snapshots.resolve()
    try:
        seeds, summary = build()
    except SeedBuildError as exc:
        print(f"build_geography_seeds: ERROR: {exc}", file=sys.stderr)
        return 1
    write_seeds(seeds, args.out)

    for name, rows in seeds.items():
        print(f"wrote {args.out / name} ({len(rows)} rows)")
    print(f"LSOA -> ward best fit ({summary['n_unchanged']} unchanged LSOAs use the 2011 population-weighted centroid):")
    for method, n in summary["method_counts"].items():
        print(f"  {method:32s} {n:5d}")
    if summary["max_nearest_km"]:
        km, code = summary["max_nearest_km"]
        print(f"  largest nearest-ward distance: {km:.2f} km ({code})")
    print(f"  points covered by more than one ward: {summary['multi_ward_hits']}")
    print(f"  2011 centroids outside their own (generalised) 2021 LSOA polygon: "
          f"{len(summary['pwc_outside_own_lsoa'])}")
    empty = summary["wards_without_lsoa"]
    print(f"wards with no LSOA assigned: {len(empty)} of {N_WARDS}")
    for code in empty:
        w = next(r for r in seeds["ward.csv"] if r["ward_code"] == code)
        print(f"  {code} {w['ward_name']} ({w['la_code']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
