"""Tests for scripts/build_geography_seeds.py and the committed seeds in seeds/geography/.

Offline; the whole module runs in a few seconds.
"""

from __future__ import annotations

import collections
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from shapely.geometry import shape
from shapely.prepared import prep

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "build_geography_seeds.py"
SEED_DIR = REPO_ROOT / "seeds" / "geography"
SNAPSHOTS = REPO_ROOT / "data" / "snapshots"

SEED_FILES = [
    "lsoa21_geography.csv",
    "lsoa11_lsoa21_exact_fit.csv",
    "local_authority.csv",
    "police_force.csv",
    "ward.csv",
    "msoa21.csv",
]

GWENT_LAS = {
    "W06000019": "Blaenau Gwent",
    "W06000018": "Caerphilly",
    "W06000021": "Monmouthshire",
    "W06000022": "Newport",
    "W06000020": "Torfaen",
}


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, encoding="utf-8", timeout=120,
    )


def read_seed(name: str) -> list[dict[str, str]]:
    with (SEED_DIR / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_polygons(relpath: str, key: str) -> dict:
    with (SNAPSHOTS / relpath).open(encoding="utf-8") as fh:
        features = json.load(fh)["features"]
    out = {}
    for f in features:
        g = shape(f["geometry"])
        out[f["properties"][key]] = g if g.is_valid else g.buffer(0)
    return out


@pytest.fixture(scope="module")
def lsoa():
    return {r["lsoa21_code"]: r for r in read_seed("lsoa21_geography.csv")}


@pytest.fixture(scope="module")
def exact_fit():
    return read_seed("lsoa11_lsoa21_exact_fit.csv")


# --------------------------------------------------------------------------- reproducibility


def test_regeneration_is_byte_identical(tmp_path):
    result = run_script("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SEED_FILES)
    for name in SEED_FILES:
        committed = (SEED_DIR / name).read_bytes()
        assert (tmp_path / name).read_bytes() == committed, f"{name} differs from a fresh build"


def test_seed_file_format():
    for name in SEED_FILES:
        data = (SEED_DIR / name).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf"), f"{name} has a BOM"
        assert b"\r" not in data, f"{name} has CR line endings"
        assert data.endswith(b"\n")
        data.decode("utf-8")


def test_sorted_by_key(lsoa, exact_fit):
    keys = {
        "lsoa21_geography.csv": ("lsoa21_code",),
        "lsoa11_lsoa21_exact_fit.csv": ("lsoa11_code", "lsoa21_code"),
        "local_authority.csv": ("la_code",),
        "police_force.csv": ("police_force_code",),
        "ward.csv": ("ward_code",),
        "msoa21.csv": ("msoa21_code",),
    }
    for name, key in keys.items():
        values = [tuple(r[k] for k in key) for r in read_seed(name)]
        assert values == sorted(values), name
        assert len(values) == len(set(values)), f"{name}: duplicate key"


def test_missing_input_fails_loudly(tmp_path):
    snaps = tmp_path / "snapshots"
    shutil.copytree(SNAPSHOTS, snaps, ignore=shutil.ignore_patterns("wimd", "police_uk"))
    (snaps / "statswales" / "bethyw_areas_la_names_en_cy.csv").unlink()
    result = run_script("--snapshots", str(snaps), "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "bethyw_areas_la_names_en_cy.csv" in result.stderr and "missing" in result.stderr
    assert not (tmp_path / "out").exists()


def test_wrong_count_fails_loudly(tmp_path):
    snaps = tmp_path / "snapshots"
    shutil.copytree(SNAPSHOTS, snaps, ignore=shutil.ignore_patterns("wimd", "police_uk"))
    target = snaps / "geography" / "wales_lsoa21_to_lad_from_ons_bgc.csv"
    target.chmod(0o644)
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(lines[:-1]), encoding="utf-8")  # drop one LSOA
    result = run_script("--snapshots", str(snaps), "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "wales_lsoa21_to_lad_from_ons_bgc.csv" in result.stderr and "1917" in result.stderr


# --------------------------------------------------------------------------- counts and hierarchy


def test_counts(lsoa):
    assert len(lsoa) == 1917
    assert len(read_seed("lsoa21_geography.csv")) == 1917
    assert len(read_seed("local_authority.csv")) == 22
    assert len({r["la_code"] for r in lsoa.values()}) == 22
    assert len(read_seed("police_force.csv")) == 4
    assert len(read_seed("ward.csv")) == 762
    assert len(read_seed("msoa21.csv")) == 408
    assert len({r["msoa21_code"] for r in lsoa.values()}) == 408


def test_no_blank_values():
    for name in SEED_FILES:
        for row in read_seed(name):
            assert all(v != "" for v in row.values()), (name, row)


def test_gwent_local_authorities():
    la = {r["la_code"]: r for r in read_seed("local_authority.csv")}
    for code, name in GWENT_LAS.items():
        assert la[code]["la_name"] == name
        assert la[code]["police_force_code"] == "W15000002"
        assert la[code]["police_force_name"] == "Gwent"
    assert {c for c, r in la.items() if r["police_force_code"] == "W15000002"} == set(GWENT_LAS)


def test_police_forces():
    forces = {r["police_force_code"]: r for r in read_seed("police_force.csv")}
    assert {c: (r["police_uk_force_id"], r["police_uk_name"]) for c, r in forces.items()} == {
        "W15000001": ("north-wales", "North Wales Police"),
        "W15000002": ("gwent", "Gwent Police"),
        "W15000003": ("south-wales", "South Wales Police"),
        "W15000004": ("dyfed-powys", "Dyfed-Powys Police"),
    }
    la = read_seed("local_authority.csv")
    assert {r["police_force_code"] for r in la} == set(forces)


def test_lsoa_msoa_ward_la_agree(lsoa):
    ward = {r["ward_code"]: r for r in read_seed("ward.csv")}
    msoa = {r["msoa21_code"]: r for r in read_seed("msoa21.csv")}
    la = {r["la_code"]: r for r in read_seed("local_authority.csv")}
    for code, r in lsoa.items():
        assert ward[r["ward_code"]]["la_code"] == r["la_code"], code
        assert msoa[r["msoa21_code"]]["la_code"] == r["la_code"], code
        assert r["lsoa21_name"][:-1] == r["msoa21_name"], code
        assert r["ward_name"] == ward[r["ward_code"]]["ward_name"]
        assert r["msoa21_hcl_name"] == msoa[r["msoa21_code"]]["msoa21_hcl_name"]
        a = la[r["la_code"]]
        assert (r["la_name"], r["la_name_cy"], r["police_force_code"], r["police_force_name"]) == (
            a["la_name"], a["la_name_cy"], a["police_force_code"], a["police_force_name"])
        assert r["urban_rural"] in {"Urban", "Rural"}
        assert r["ward_fit_method"] in {
            "pwc_2011_in_ward", "pwc_2011_nearest_ward",
            "interior_point_in_ward", "interior_point_nearest_ward",
        }


def test_ward_lsoa_counts(lsoa):
    counts = collections.Counter(r["ward_code"] for r in lsoa.values())
    wards = read_seed("ward.csv")
    assert {r["ward_code"]: int(r["lsoa21_count"]) for r in wards} == {
        r["ward_code"]: counts.get(r["ward_code"], 0) for r in wards}
    assert sum(int(r["lsoa21_count"]) for r in wards) == 1917


def test_ward_fit_method_matches_change_code(lsoa, exact_fit):
    unchanged = {r["lsoa21_code"] for r in exact_fit if r["change_code"] == "U"}
    for code, r in lsoa.items():
        expected_prefix = "pwc_2011_" if code in unchanged else "interior_point_"
        assert r["ward_fit_method"].startswith(expected_prefix), code


# --------------------------------------------------------------------------- spatial checks


def test_lsoa_interior_point_inside_assigned_msoa(lsoa):
    """Independent of the name rule: every LSOA's interior point lies in its MSOA polygon."""
    lsoa_geom = load_polygons("boundaries/wales_lsoa21_bgc.geojson", "LSOA21CD")
    msoa_geom = {k: prep(g) for k, g in load_polygons("boundaries/wales_msoa21_bgc.geojson", "MSOA21CD").items()}
    outside = [c for c, r in lsoa.items() if not msoa_geom[r["msoa21_code"]].covers(lsoa_geom[c].representative_point())]
    assert outside == []


def test_in_ward_points_inside_assigned_ward(lsoa):
    """For non-U LSOAs flagged 'interior_point_in_ward', the interior point lies in the ward."""
    lsoa_geom = load_polygons("boundaries/wales_lsoa21_bgc.geojson", "LSOA21CD")
    ward_geom = load_polygons("boundaries/wales_wards2025_bgc.geojson", "WD25CD")
    checked = 0
    for code, r in lsoa.items():
        if r["ward_fit_method"] == "interior_point_in_ward":
            assert ward_geom[r["ward_code"]].covers(lsoa_geom[code].representative_point()), code
            checked += 1
    assert checked > 0


# --------------------------------------------------------------------------- exact-fit lookup


def test_exact_fit(lsoa, exact_fit):
    assert len(exact_fit) == 1940
    assert {r["lsoa21_code"] for r in exact_fit} == set(lsoa)
    assert {r["change_code"] for r in exact_fit} <= {"U", "S", "M"}
    children = collections.Counter(r["lsoa11_code"] for r in exact_fit)
    parents = collections.Counter(r["lsoa21_code"] for r in exact_fit)
    for r in exact_fit:
        assert r["la_code"] == lsoa[r["lsoa21_code"]]["la_code"]
        assert r["lsoa21_name"] == lsoa[r["lsoa21_code"]]["lsoa21_name"]
        if r["change_code"] == "U":
            assert r["lsoa11_code"] == r["lsoa21_code"]
            assert children[r["lsoa11_code"]] == 1 and parents[r["lsoa21_code"]] == 1
        elif r["change_code"] == "S":
            assert children[r["lsoa11_code"]] >= 2, r
        else:
            assert parents[r["lsoa21_code"]] >= 2, r
    assert collections.Counter(r["change_code"] for r in exact_fit) == {"U": 1837, "S": 58, "M": 45}
