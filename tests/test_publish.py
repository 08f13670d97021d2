"""BI publishing (orchestration/lib/publish.py, defs/publishing.py): a read-only, DuckDB 1.x-readable copy of the
marts plus Parquet, CSV and a manifest, swapped in atomically after each build.

Most tests use a small real DuckDB warehouse made here (schemas marts, ref, raw) with a small dbt manifest of
the same shape as the project's (a partner source, a restricted mart, a shared mart, a seed); one test
publishes the session's real build. The DuckDB 1.x client is duckdb==1.4.4 in a venv cached under
~/.cache/cohesion-tests/duckdb1 (built once with uv from PyPI).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from orchestration.lib import publish
from orchestration.lib.publish import (
    BOM,
    DUCKDB_NAME,
    current_set,
    publish_marts,
    read_manifest,
    table_tiers,
    verify_set,
)
from orchestration.lib.safe_text import neutralise_formula

REPO = Path(__file__).resolve().parents[1]
DUCKDB1_VERSION = "1.4.4"
DUCKDB1_VENV = Path(os.environ.get("COHESION_DUCKDB1_VENV", Path.home() / ".cache" / "cohesion-tests" / "duckdb1"))
PROJECT_RESTRICTED = {"marts.fct_incident", "marts.fct_tension_report", "marts.fct_tension_assessment",
                      "marts.fct_tension_evidence", "marts.fct_cia", "marts.fct_risk"}


# ------------------------------------------------------------------------------------------ the small warehouse

def _model(name, schema="marts", deps=(), tags=(), resource_type="model"):
    return {f"{resource_type}.cm.{name}": {
        "resource_type": resource_type, "name": name, "alias": name, "schema": schema, "tags": list(tags),
        "config": {"tags": list(tags)}, "depends_on": {"nodes": list(deps)}}}


def tiny_manifest() -> dict:
    """The project's shape in miniature: partner source -> staging -> restricted mart -> shared mart."""
    nodes = {}
    for node in (
        _model("lookup", "ref", resource_type="seed"),
        _model("stg_public", "staging", deps=["source.cm.raw.public_rows"]),
        _model("stg_partner__rows", "staging", deps=["source.cm.partner.partner_rows"], tags=["tension"]),
        _model("fct_public", deps=["model.cm.stg_public", "seed.cm.lookup"]),
        _model("dim_area", deps=["seed.cm.lookup"]),
        _model("fct_partner_detail", deps=["model.cm.stg_partner__rows", "model.cm.dim_area"], tags=["tension"]),
        _model("int_partner_counts", "intermediate", deps=["model.cm.fct_partner_detail"]),
        # downstream of the restricted mart, but cleared for sharing (tag shared), like shared_incident_summary
        _model("shared_summary", deps=["model.cm.int_partner_counts"], tags=["tension", "shared"]),
        # built on the shared mart without the tag itself: judged by what it depends on -> restricted
        _model("fct_derived_from_shared", deps=["model.cm.shared_summary"]),
    ):
        nodes.update(node)
    sources = {
        "source.cm.raw.public_rows": {"source_name": "raw", "name": "public_rows", "schema": "raw"},
        "source.cm.partner.partner_rows": {"source_name": "partner", "name": "partner_rows", "schema": "raw"},
    }
    return {"nodes": nodes, "sources": sources}


TINY_PUBLIC = ["marts.dim_area", "marts.fct_public", "marts.shared_summary", "ref.lookup"]
TINY_RESTRICTED = ["marts.fct_derived_from_shared", "marts.fct_partner_detail"]


def make_warehouse(path: Path, rows: int = 50) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema ref; create schema raw")
    con.execute("""
        create table ref.lookup as
        select * from (values ('W06000001', 'Isle of Anglesey', 'Ynys Môn'), ('W06000016', 'Rhondda Cynon Taf',
                               'Rhondda Cynon Taf'), ('W06000024', 'Merthyr Tydfil', 'Merthyr Tudful'))
                      t(la_code, la_name, la_name_cy)""")
    con.execute("""
        create table marts.dim_area as
        select 'A' || i as area_code, 'Tŷ Ŵyn ' || i as area_name, i % 3 as la_index from range(20) r(i)""")
    con.execute(f"""
        create table marts.fct_public as
        select i::integer as id,
               case i % 5 when 0 then '=HYPERLINK("http://x","y")' when 1 then '-3 below' when 2 then '@risk'
                          when 3 then 'Ynys Môn ŵŷ' else 'plain' end as label,
               date '2024-01-01' + (i % 400)::integer as day,
               timestamp '2024-06-30 12:34:56' + to_seconds(i) as observed_at,
               i * 0.1 as value,
               case when i % 7 = 0 then null else (i % 11)::bigint end as maybe,
               case when i % 4 = 0 then '' else 'x' || i end as maybe_empty,
               ['a', 'b' || i] as tags,
               (i % 2 = 0) as flag,
               (i / 8)::decimal(12, 2) as amount
        from range({rows}) r(i)""")
    con.execute("""
        create table marts.fct_partner_detail as
        select 'INC-' || i as incident_ref, 'named person ' || i as information from range(15) r(i)""")
    con.execute("create table marts.shared_summary as select 'W06000001' as la_code, 10 as incident_count")
    con.execute("create table marts.fct_derived_from_shared as select 'W06000001' as la_code, 1 as n")
    con.execute("create table marts.dq_results as select 'raw_partner_incidents' as suite, true as success")
    con.execute("create table raw.partner_rows as select 'secret' as information")
    con.execute("create table raw.public_rows as select 1 as x")
    con.close()
    return path


@pytest.fixture
def wh(tmp_path) -> Path:
    return make_warehouse(tmp_path / "w.duckdb")


def tables_in(db: Path) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {f"{s}.{t}" for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()").fetchall()}
    finally:
        con.close()


def published_build(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select build_id from _publish.build").fetchall()[0][0]
    finally:
        con.close()


# -------------------------------------------------------------------------------------------- the DuckDB 1.x client

def _duckdb1_ok(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import duckdb; print(duckdb.__version__)"], capture_output=True,
                           text=True, check=False)
    return probe.returncode == 0 and probe.stdout.strip() == DUCKDB1_VERSION


@pytest.fixture(scope="session")
def duckdb1_python() -> Path:
    """Python with duckdb 1.4.4 (a BI driver's DuckDB): a venv built once with uv and cached between runs."""
    python = DUCKDB1_VENV / "bin" / "python"
    if _duckdb1_ok(python):
        return python
    DUCKDB1_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(DUCKDB1_VENV.parent / ".duckdb1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _duckdb1_ok(python):
            return python
        uv = [shutil.which("uv")] if shutil.which("uv") else [sys.executable, "-m", "uv"]
        building = DUCKDB1_VENV.with_name(DUCKDB1_VENV.name + f".building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        for args in (["venv", str(building), "--python", "3.11", "-q"],
                     ["pip", "install", "-q", "--python", str(building / "bin" / "python"),
                      f"duckdb=={DUCKDB1_VERSION}"]):
            done = subprocess.run([*uv, *args], capture_output=True, text=True, env=env, check=False)
            assert done.returncode == 0, f"could not build the DuckDB {DUCKDB1_VERSION} venv: {done.stderr}"
        shutil.rmtree(DUCKDB1_VENV, ignore_errors=True)
        building.rename(DUCKDB1_VENV)
    assert _duckdb1_ok(python)
    return python


READ_ALL = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("set enable_progress_bar = false")  # 1.x draws it on stdout for long queries
out = {"version": duckdb.__version__, "rows": {}}
for schema, name in json.loads(sys.argv[2]):
    out["rows"][schema + "." + name] = con.execute(f'select count(*) from "{schema}"."{name}"').fetchall()[0][0]
    con.execute(f'select * from "{schema}"."{name}"').fetchall()  # every value decodes
out["build_id"] = con.execute("select build_id from _publish.build").fetchall()[0][0]
print(json.dumps(out))
"""


def read_with(python: Path, db: Path, manifest: dict) -> dict:
    names = [[t["schema"], t["name"]] for t in manifest["tables"]]
    done = subprocess.run([str(python), "-c", READ_ALL, str(db), json.dumps(names)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------- tiers

def test_tiers_of_the_project_come_from_the_dbt_manifest():
    tiers = table_tiers()
    restricted = {t for t, tier in tiers.items() if tier == "restricted"}
    assert restricted == PROJECT_RESTRICTED
    # the suppressed shared tier, the dimensions and reference tables BI needs are public
    for table in ("marts.shared_incident_summary", "marts.dim_geography", "marts.fct_indicator_value",
                  "ref.indicator_catalogue", "ref.local_authority", "ref.lsoa21_geography"):
        assert tiers[table] == "public", table
    assert {t.split(".")[0] for t in tiers} == {"marts", "ref"}  # never raw, staging, intermediate


def test_tiers_follow_dependencies_transitively_and_the_shared_tag():
    tiers = table_tiers(tiny_manifest())
    assert sorted(t for t, tier in tiers.items() if tier == "public") == TINY_PUBLIC
    assert sorted(t for t, tier in tiers.items() if tier == "restricted") == TINY_RESTRICTED


# ------------------------------------------------------------------------------------------- layout and manifest

def test_public_set_layout_manifest_and_nothing_private(wh, tmp_path):
    out = tmp_path / "published"
    m = publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest())
    assert m["build_id"] == "run-1" and m["tier"] == "public" and not m["unchanged"]
    assert m["storage_version"].startswith("v1.4.0")
    assert [f"{t['schema']}.{t['name']}" for t in m["tables"]] == TINY_PUBLIC
    assert {n["table"] for n in m["not_published"]} == {"marts.dq_results"}  # unknown to dbt: fail closed
    # stable paths
    target = current_set(out)
    assert target == (out / "builds" / "run-1").resolve() and os.readlink(out / "current") == "builds/run-1"
    assert (out / DUCKDB_NAME).stat().st_ino == (target / DUCKDB_NAME).stat().st_ino  # a hard link
    assert json.loads((out / "manifest.json").read_text())["build_id"] == "run-1"
    assert sorted(p.name for p in (out / "parquet").iterdir()) == [f"{t}.parquet" for t in TINY_PUBLIC]
    assert sorted(p.name for p in (out / "csv").iterdir()) == [f"{t}.csv" for t in TINY_PUBLIC]
    assert verify_set(target) == []
    # per table: rows, columns with types, sha256 of each file
    by_name = {f"{t['schema']}.{t['name']}": t for t in m["tables"]}
    assert by_name["marts.fct_public"]["rows"] == 50
    assert {"name": "day", "type": "DATE"} in by_name["marts.fct_public"]["columns"]
    assert set(by_name["ref.lookup"]["files"]) == {"parquet", "csv"}
    assert len(m["duckdb"]["sha256"]) == 64
    # the DuckDB copy: public tables and the build stamp only
    assert tables_in(out / DUCKDB_NAME) == set(TINY_PUBLIC) | {"_publish.build"}
    assert published_build(out / DUCKDB_NAME) == "run-1"
    everything = " ".join(str(p) for p in out.rglob("*"))
    for private in ("fct_partner_detail", "fct_derived_from_shared", "partner_rows", "dq_results", "raw."):
        assert private not in everything
    # the folder's README.txt, Welsh then English, says what every entry of the folder is
    readme = (out / "README.txt").read_bytes()
    assert readme.startswith(BOM)  # Notepad reads the Welsh letters right
    welsh, english = readme[len(BOM):].decode("utf-8").split("\n" + "-" * 116 + "\n")
    assert welsh.startswith("Monitor cydlyniant") and "Peidiwch byth ag ysgrifennu" in welsh
    assert english.strip().startswith("Cohesion monitor") and "Never write into this folder" in english
    entries = sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.name != "README.txt")
    assert entries == ["builds", "cohesion_marts.duckdb", "csv", "current", "manifest.json", "parquet"]
    for section in (welsh, english):
        assert [e for e in entries if e not in section] == []
    # public files read-only, never world-readable
    for path in target.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o750 if path.is_dir() else 0o440), (path, oct(mode))


def test_a_table_the_tier_may_not_hold_is_refused(wh, tmp_path):
    for table in ("marts.fct_partner_detail", "fct_derived_from_shared", "raw.partner_rows", "marts.dq_results"):
        with pytest.raises(ValueError, match="not publishable in the public tier"):
            publish_marts(wh, tmp_path / "out", build_id="b", tables=[table], dbt_manifest=tiny_manifest())
    m = publish_marts(wh, tmp_path / "out", build_id="b", tables=["ref.lookup", "dim_area"],
                      dbt_manifest=tiny_manifest())
    assert [f"{t['schema']}.{t['name']}" for t in m["tables"]] == ["marts.dim_area", "ref.lookup"]


# ------------------------------------------------------------------------------------------ (d) file contents

def test_parquet_and_csv_hold_exactly_the_source_tables(wh, tmp_path):
    out = tmp_path / "published"
    m = publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest())
    src = duckdb.connect(str(wh), read_only=True)
    try:
        for table in m["tables"]:
            name = f'"{table["schema"]}"."{table["name"]}"'
            expected = src.sql(f"select * from {name}").pl()
            assert expected.height == table["rows"]
            # Parquet: the values and types exactly
            assert_frame_equal(pl.read_parquet(out / table["files"]["parquet"]["path"]), expected)
            # the DuckDB copy too
            copy = duckdb.connect(str(out / DUCKDB_NAME), read_only=True)
            assert_frame_equal(copy.sql(f"select * from {name}").pl(), expected)
            copy.close()
            # CSV: BOM, header, ISO dates; parsed with the source's types it gives the source's rows (text
            # cells that would start a formula carry a leading ')
            csv = out / table["files"]["csv"]["path"]
            raw = csv.read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf")
            header = raw[3:].split(b"\n", 1)[0].decode("utf-8")
            assert header.split(",") == expected.columns
            types = {c["name"]: c["type"] for c in table["columns"]}
            spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
            reader = duckdb.connect()
            got = reader.execute(f"select * from read_csv('{csv}', header = true, columns = {spec}, "
                                 "allow_quoted_nulls = false)").fetchall()
            reader.close()
            want = [tuple(neutralise_formula(v) for v in row)
                    for row in src.execute(f"select * from {name}").fetchall()]
            assert got == want, table["name"]
    finally:
        src.close()
    text = (out / "csv" / "marts.fct_public.csv").read_text(encoding="utf-8-sig")
    assert "Ynys Môn ŵŷ" in text and ",2024-01-01," in text and "2024-06-30 12:34:56" in text
    assert "'=HYPERLINK(" in text and "'-3 below" in text and "'@risk" in text
    assert "Ynys Môn" in (out / "csv" / "ref.lookup.csv").read_text(encoding="utf-8-sig")


def test_publishing_the_same_build_again_gives_the_same_contents(wh, tmp_path):
    out = tmp_path / "published"
    first = publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest())
    again = publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest())
    assert again["unchanged"] and again["published_at"] == first["published_at"]  # a retried step: nothing written
    assert sorted(p.name for p in (out / "builds").iterdir()) == ["run-1"]
    forced = publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest(), force=True)
    assert not forced["unchanged"] and current_set(out) == (out / "builds" / "run-1.2").resolve()
    for a, b in zip(first["tables"], forced["tables"], strict=True):
        assert (a["rows"], a["columns"]) == (b["rows"], b["columns"])
        for kind in ("parquet", "csv"):
            assert a["files"][kind]["sha256"] == b["files"][kind]["sha256"], (a["name"], kind)
    # a new build of the same warehouse publishes (its build id is what BI users see)
    assert not publish_marts(wh, out, build_id="run-2", dbt_manifest=tiny_manifest())["unchanged"]
    # and a changed warehouse is published again even under the same build id
    con = duckdb.connect(str(wh))
    con.execute("insert into marts.dim_area values ('Z', 'Zed', 0)")
    con.close()
    changed = publish_marts(wh, out, build_id="run-2", dbt_manifest=tiny_manifest())
    assert not changed["unchanged"]
    assert {t["name"]: t["rows"] for t in changed["tables"]}["dim_area"] == 21


# ------------------------------------------------------------------------------- unchanged tables are not re-exported

def _entries(manifest: dict) -> dict[str, dict]:
    return {f"{t['schema']}.{t['name']}": t for t in manifest["tables"]}


def _file(out: Path, entry: dict, kind: str) -> Path:
    return current_set(out) / entry["files"][kind]["path"]


def _csv_rows(path: Path) -> bytes:
    """A CSV file's rows, without its byte-order mark and header line."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), path
    return raw[3:].split(b"\n", 1)[1]


def test_a_table_over_excels_row_limit_has_its_csv_in_parts(tmp_path, monkeypatch):
    # Excel opens 1,048,576 rows, the header one of them, and drops the rest
    assert publish.CSV_MAX_ROWS == 1_048_576 - 1
    wh = make_warehouse(tmp_path / "w.duckdb", rows=50)
    whole = _entries(publish_marts(wh, tmp_path / "whole", build_id="run-1", dbt_manifest=tiny_manifest()))
    monkeypatch.setattr(publish, "CSV_MAX_ROWS", 20)  # fct_public's 50 rows: 20 + 20 + 10
    out = tmp_path / "published"
    manifest = publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest())
    entries = _entries(manifest)
    entry = entries["marts.fct_public"]
    assert sorted(entry["files"]) == ["csv.1", "csv.2", "csv.3", "parquet"]
    assert [entry["files"][f"csv.{k}"]["path"] for k in (1, 2, 3)] == [
        f"csv/marts.fct_public.{k}-of-3.csv" for k in (1, 2, 3)]
    assert [entry["files"][f"csv.{k}"]["rows"] for k in (1, 2, 3)] == [20, 20, 10]
    assert not (current_set(out) / "csv" / "marts.fct_public.csv").exists()
    header = (current_set(out) / "csv" / "marts.fct_public.1-of-3.csv").read_bytes()[3:].split(b"\n", 1)[0]
    parts = [_file(out, entry, f"csv.{k}") for k in (1, 2, 3)]
    for part, rows in zip(parts, (20, 20, 10), strict=True):
        assert part.read_bytes()[3:].split(b"\n", 1)[0] == header  # every part opens with the header
        # a real CSV reader finds the part's rows, typed as the table's columns
        reader = duckdb.connect()
        assert reader.execute(f"select count(*) from read_csv('{part}', header = true)").fetchone()[0] == rows
        reader.close()
    # the parts, one after another, are byte for byte the rows of the one file a smaller table gets
    assert b"".join(_csv_rows(p) for p in parts) == _csv_rows(tmp_path / "whole" / whole["marts.fct_public"][
        "files"]["csv"]["path"])
    # a table within the limit keeps its one file; every file is in the manifest with its size and sha256
    assert sorted(entries["marts.dim_area"]["files"]) == ["csv", "parquet"]
    assert manifest["csv"]["max_rows_per_file"] == 20
    assert manifest["format"] == 2  # a reader of format 1 expected one csv file per table
    assert verify_set(current_set(out), manifest, hashes=True) == []
    # an unchanged split table keeps all its parts in the next set (hard links), and so does the restricted tier
    # (copies)
    first_set = current_set(out)
    again = _entries(publish_marts(wh, out, build_id="run-2", dbt_manifest=tiny_manifest()))
    assert again["marts.fct_public"]["reused"] == {"set": "run-1", "tier": "public"}
    for k in (1, 2, 3):
        assert _file(out, again["marts.fct_public"], f"csv.{k}").stat().st_ino == (
            first_set / entry["files"][f"csv.{k}"]["path"]).stat().st_ino
    restricted_out = tmp_path / "restricted" / "published"
    restricted = publish_marts(wh, restricted_out, build_id="run-2", tier="restricted",
                               dbt_manifest=tiny_manifest(), reuse_from=[out])
    assert _entries(restricted)["marts.fct_public"]["files"] == _entries(read_manifest(out))["marts.fct_public"]["files"]
    assert verify_set(current_set(restricted_out), restricted, hashes=True) == []
    # the layout is part of the fingerprint: files written with another part size are never taken
    monkeypatch.setattr(publish, "CSV_MAX_ROWS", publish.CSV_MAX_ROWS + 5)
    other = _entries(publish_marts(wh, out, build_id="run-3", dbt_manifest=tiny_manifest()))
    assert other["marts.fct_public"].get("reused") is None
    assert sorted(other["marts.fct_public"]["files"]) == ["csv.1", "csv.2", "parquet"]
    # ten parts or more: k has as many digits as n, so that the names sort in the table's order
    monkeypatch.setattr(publish, "CSV_MAX_ROWS", 4)  # 50 rows: 12 parts of 4 and one of 2
    many = _entries(publish_marts(wh, out, build_id="run-4", dbt_manifest=tiny_manifest()))["marts.fct_public"]
    names = [Path(many["files"][f"csv.{k}"]["path"]).name for k in range(1, 14)]
    assert names[0] == "marts.fct_public.01-of-13.csv" and names[-1] == "marts.fct_public.13-of-13.csv"
    listed = sorted(p.name for p in (current_set(out) / "csv").glob("marts.fct_public.*"))
    assert listed == names
    assert b"".join(_csv_rows(current_set(out) / "csv" / n) for n in listed) == _csv_rows(
        tmp_path / "whole" / whole["marts.fct_public"]["files"]["csv"]["path"])



def test_rows_added_at_the_end_rewrite_only_the_last_csv_parts(tmp_path, monkeypatch):
    """A new police.uk month appends its rows after the others (the marts keep their order): the parts before them
    are taken from the set before, under their new names, and only the parts holding new rows are written."""
    wh = make_warehouse(tmp_path / "w.duckdb", rows=50)
    monkeypatch.setattr(publish, "CSV_MAX_ROWS", 20)
    out = tmp_path / "published"
    restricted_out = tmp_path / "restricted" / "published"
    first = _entries(publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest()))["marts.fct_public"]
    publish_marts(wh, restricted_out, build_id="run-1", tier="restricted", dbt_manifest=tiny_manifest(),
                  reuse_from=[out])
    first_set, restricted_first = current_set(out), current_set(restricted_out)
    con = duckdb.connect(str(wh))
    con.execute("insert into marts.fct_public select * replace (id + 50 as id) from marts.fct_public where id < 15")
    con.close()
    manifest = publish_marts(wh, out, build_id="run-2", dbt_manifest=tiny_manifest())
    entry = _entries(manifest)["marts.fct_public"]
    # the restricted tier takes the table from the public set just written, but the parts its own set before
    # already holds it links (not copies): only the new rows' parts cross tiers
    restricted = publish_marts(wh, restricted_out, build_id="run-2", tier="restricted", dbt_manifest=tiny_manifest(),
                               reuse_from=[out])
    mine = _entries(restricted)["marts.fct_public"]
    assert mine["reused"] == {"set": "run-2", "tier": "public"}
    for k, own in ((1, True), (2, True), (3, False), (4, False)):
        path = _file(restricted_out, mine, f"csv.{k}")
        assert (path.stat().st_ino == (restricted_first / f"csv/marts.fct_public.{k}-of-3.csv").stat().st_ino
                if own else path.stat().st_ino != _file(out, entry, f"csv.{k}").stat().st_ino), k
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert verify_set(current_set(restricted_out), restricted, hashes=True) == []
    assert entry.get("reused") is None and entry["rows"] == 65
    assert [entry["files"][f"csv.{k}"]["rows"] for k in (1, 2, 3, 4)] == [20, 20, 20, 5]
    for k in (1, 2):  # unchanged rows: the file of the set before (a hard link), now named k-of-4
        assert entry["files"][f"csv.{k}"]["path"] == f"csv/marts.fct_public.{k}-of-4.csv"
        assert entry["files"][f"csv.{k}"]["reused"] == {"set": "run-1", "tier": "public"}
        assert _file(out, entry, f"csv.{k}").stat().st_ino == (
            first_set / first["files"][f"csv.{k}"]["path"]).stat().st_ino
    for k in (3, 4):  # part 3 gained rows, part 4 is new
        assert "reused" not in entry["files"][f"csv.{k}"]
    assert verify_set(current_set(out), manifest, hashes=True) == []
    # byte for byte what writing every part afresh gives, and the parts together are the one file's rows
    fresh = _entries(publish_marts(wh, tmp_path / "fresh", build_id="run-2", dbt_manifest=tiny_manifest(),
                                   reuse=False))["marts.fct_public"]
    for k in (1, 2, 3, 4):
        assert entry["files"][f"csv.{k}"]["sha256"] == fresh["files"][f"csv.{k}"]["sha256"]
    monkeypatch.setattr(publish, "CSV_MAX_ROWS", 1000)
    whole = _entries(publish_marts(wh, tmp_path / "whole", build_id="run-2", dbt_manifest=tiny_manifest()))
    assert b"".join(_csv_rows(_file(out, entry, f"csv.{k}")) for k in (1, 2, 3, 4)) == _csv_rows(
        _file(tmp_path / "whole", whole["marts.fct_public"], "csv"))
    # a changed row in the middle rewrites its part only
    monkeypatch.setattr(publish, "CSV_MAX_ROWS", 20)
    con = duckdb.connect(str(wh))
    con.execute("update marts.fct_public set value = 99.5 where id = 25")  # row 26: part 2
    con.close()
    third = _entries(publish_marts(wh, out, build_id="run-3", dbt_manifest=tiny_manifest()))["marts.fct_public"]
    assert [("reused" in third["files"][f"csv.{k}"]) for k in (1, 2, 3, 4)] == [True, False, True, True]
    assert ",99.5," in _file(out, third, "csv.2").read_text(encoding="utf-8-sig")


def test_a_table_that_did_not_change_keeps_the_files_of_the_set_before(wh, tmp_path):
    out = tmp_path / "published"
    first = _entries(publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest()))
    assert not any(t.get("reused") for t in first.values())  # nothing to take them from
    first_set = current_set(out)
    con = duckdb.connect(str(wh))
    con.execute("update marts.fct_public set value = 99.5 where id = 3")
    con.close()
    second_manifest = publish_marts(wh, out, build_id="run-2", dbt_manifest=tiny_manifest())
    second = _entries(second_manifest)
    assert second["marts.fct_public"].get("reused") is None  # changed: exported again, with the new value
    assert ",99.5," in _file(out, second["marts.fct_public"], "csv").read_text(encoding="utf-8-sig")
    assert second["marts.fct_public"]["fingerprint"] != first["marts.fct_public"]["fingerprint"]
    for table in ("marts.dim_area", "marts.shared_summary", "ref.lookup"):
        assert second[table]["reused"] == {"set": "run-1", "tier": "public"}, table
        for kind in ("parquet", "csv"):
            # the same file (a hard link in the tier's folder), with the sha256 it had
            assert _file(out, second[table], kind).stat().st_ino == (
                first_set / first[table]["files"][kind]["path"]).stat().st_ino
            assert second[table]["files"][kind]["sha256"] == first[table]["files"][kind]["sha256"]
    assert verify_set(current_set(out), second_manifest, hashes=True) == []
    # byte for byte what exporting every table afresh writes
    fresh = _entries(publish_marts(wh, tmp_path / "fresh", build_id="run-2", dbt_manifest=tiny_manifest(),
                                   reuse=False))
    assert not any(t.get("reused") for t in fresh.values())
    for table, entry in second.items():
        for kind in ("parquet", "csv"):
            assert entry["files"][kind]["sha256"] == fresh[table]["files"][kind]["sha256"], (table, kind)
            assert entry["fingerprint"] == fresh[table]["fingerprint"]
    # later sets go on linking; pruning the set the files came from loses nothing
    for build in ("run-3", "run-4"):
        latest = publish_marts(wh, out, build_id=build, dbt_manifest=tiny_manifest())
    assert sorted(p.name for p in (out / "builds").iterdir()) == ["run-3", "run-4"]
    assert all(t["reused"]["set"] == "run-3" for t in latest["tables"])
    assert verify_set(current_set(out), latest, hashes=True) == []


def test_a_table_with_other_types_or_a_damaged_file_is_exported_again(wh, tmp_path):
    out = tmp_path / "published"
    publish_marts(wh, out, build_id="run-1", dbt_manifest=tiny_manifest())
    con = duckdb.connect(str(wh))
    # the same values in a narrower type: the Parquet schema differs, so the files must too
    con.execute("alter table marts.dim_area alter la_index type integer")
    con.close()
    damaged = current_set(out) / "csv" / "ref.lookup.csv"
    os.chmod(damaged, 0o640)
    with open(damaged, "ab") as fh:
        fh.write(b"extra")
    second = publish_marts(wh, out, build_id="run-2", dbt_manifest=tiny_manifest())
    entries = _entries(second)
    assert entries["marts.dim_area"].get("reused") is None
    assert entries["ref.lookup"].get("reused") is None  # its old CSV no longer has its manifest's size
    assert entries["marts.fct_public"]["reused"]["set"] == "run-1"
    assert pl.read_parquet(_file(out, entries["marts.dim_area"], "parquet")).schema["la_index"] == pl.Int32
    assert verify_set(current_set(out), second, hashes=True) == []


def test_the_restricted_tier_takes_the_public_tiers_files_for_the_public_tables(wh, tmp_path):
    public_out, restricted_out = tmp_path / "published", tmp_path / "restricted" / "published"
    public = _entries(publish_marts(wh, public_out, build_id="run-1", dbt_manifest=tiny_manifest()))
    manifest = publish_marts(wh, restricted_out, build_id="run-1", tier="restricted", dbt_manifest=tiny_manifest(),
                             reuse_from=[public_out])
    restricted = _entries(manifest)
    for table in TINY_PUBLIC:
        assert restricted[table]["reused"] == {"set": "run-1", "tier": "public"}, table
        for kind in ("parquet", "csv"):
            mine, theirs = _file(restricted_out, restricted[table], kind), _file(public_out, public[table], kind)
            assert mine.read_bytes() == theirs.read_bytes()
            # a copy: each keeps its tier's mode
            assert mine.stat().st_ino != theirs.stat().st_ino
            assert stat.S_IMODE(mine.stat().st_mode) == 0o600 and stat.S_IMODE(theirs.stat().st_mode) == 0o440
    for table in TINY_RESTRICTED:
        assert restricted[table].get("reused") is None
    assert verify_set(current_set(restricted_out), manifest, hashes=True) == []


# ----------------------------------------------------------------------------------------- (a) DuckDB 1.x client

def test_a_duckdb_1x_client_reads_every_published_table(wh, tmp_path, duckdb1_python):
    m = publish_marts(wh, tmp_path / "published", build_id="run-1", dbt_manifest=tiny_manifest())
    seen = read_with(duckdb1_python, tmp_path / "published" / DUCKDB_NAME, m)
    assert seen["version"] == DUCKDB1_VERSION and seen["build_id"] == "run-1"
    assert seen["rows"] == {f"{t['schema']}.{t['name']}": t["rows"] for t in m["tables"]}
    # the same client refuses the 2.0 warehouse itself: this is why the copy exists
    opens = "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True)"
    refused = subprocess.run([str(duckdb1_python), "-c", opens, str(wh)], capture_output=True, text=True, check=False)
    assert refused.returncode != 0


# ------------------------------------------------------------------------------ (e) restricted tier permissions

def test_the_restricted_tier_is_owner_only_and_holds_the_partner_marts(wh, tmp_path):
    out = tmp_path / "restricted" / "published"
    m = publish_marts(wh, out, build_id="run-1", tier="restricted", dbt_manifest=tiny_manifest())
    assert sorted(f"{t['schema']}.{t['name']}" for t in m["tables"]) == sorted(TINY_PUBLIC + TINY_RESTRICTED)
    assert "marts.fct_partner_detail" in tables_in(out / DUCKDB_NAME)
    checked = 0
    for path in [tmp_path / "restricted", out, *out.rglob("*")]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = stat.S_IMODE(st.st_mode)
        assert mode == (0o700 if stat.S_ISDIR(st.st_mode) else 0o600), (path, oct(mode))
        checked += 1
    assert checked > 10


# ------------------------------------------------------------------------------------------------- (f) pruning

def test_pruning_keeps_the_two_newest_sets_and_never_the_current_one(wh, tmp_path):
    out = tmp_path / "published"
    for build in ("b1", "b2", "b3", "b4"):
        publish_marts(wh, out, build_id=build, dbt_manifest=tiny_manifest())
    assert sorted(p.name for p in (out / "builds").iterdir()) == ["b3", "b4"]
    assert current_set(out) == (out / "builds" / "b4").resolve()
    # current pointing at the older set (e.g. rolled back by hand) is kept by a prune that keeps one set
    os.symlink("builds/b3", out / "current.tmp")
    os.replace(out / "current.tmp", out / "current")
    publish._prune(out, keep=1)
    assert sorted(p.name for p in (out / "builds").iterdir()) == ["b3", "b4"]


# ---------------------------------------------------------------------------------------- (c) crash mid-publish

def _assert_current_complete(out: Path, build_id: str | None = None) -> dict:
    manifest = read_manifest(out)
    assert manifest is not None
    assert verify_set(current_set(out), manifest) == []
    if build_id:
        assert manifest["build_id"] == build_id
    # the stable DuckDB file is complete and matches the manifest of the build it names
    top = out / DUCKDB_NAME
    top_build = published_build(top)
    set_manifest = json.loads(next(p for p in (out / "builds").glob("*/manifest.json")
                                   if json.loads(p.read_text())["build_id"] == top_build).read_text())
    con = duckdb.connect(str(top), read_only=True)
    for t in set_manifest["tables"]:
        assert con.execute(f'select count(*) from "{t["schema"]}"."{t["name"]}"').fetchall()[0][0] == t["rows"]
    con.close()
    json.loads((out / "manifest.json").read_text())  # never half written
    return manifest


def test_a_crash_after_staging_leaves_the_previous_set_current(wh, tmp_path, monkeypatch):
    out = tmp_path / "published"
    publish_marts(wh, out, build_id="good", dbt_manifest=tiny_manifest())
    con = duckdb.connect(str(wh))
    con.execute("insert into marts.fct_public select * from marts.fct_public")
    con.close()

    def staged_then_crash(*args, **kwargs):
        real_write_set(*args, **kwargs)
        raise RuntimeError("killed after the staging set was written")

    real_write_set = publish._write_set
    monkeypatch.setattr(publish, "_write_set", staged_then_crash)
    with pytest.raises(RuntimeError, match="killed"):
        publish_marts(wh, out, build_id="crash-1", dbt_manifest=tiny_manifest())
    monkeypatch.undo()
    assert list(out.glob(".staging-*"))  # the half-done work is there, but not current
    _assert_current_complete(out, "good")

    # a crash inside the swap: the new set is in builds/, but current was not moved yet
    def no_symlink(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(publish, "_replace_with_symlink", no_symlink)
    with pytest.raises(OSError, match="disk full"):
        publish_marts(wh, out, build_id="crash-2", dbt_manifest=tiny_manifest())
    monkeypatch.undo()
    _assert_current_complete(out, "good")
    assert published_build(out / DUCKDB_NAME) == "good"

    # the next publish succeeds and clears the leftovers
    m = publish_marts(wh, out, build_id="next", dbt_manifest=tiny_manifest())
    assert {t["name"]: t["rows"] for t in m["tables"]}["fct_public"] == 100
    _assert_current_complete(out, "next")
    assert not list(out.glob(".staging-*")) and not list(out.glob(".tmp-*"))


KILLABLE = """
import sys, json
from pathlib import Path
from orchestration.lib.publish import publish_marts
manifest = json.loads(Path(sys.argv[3]).read_text())
print("ready", flush=True)
i = 0
while True:
    i += 1
    publish_marts(Path(sys.argv[1]), Path(sys.argv[2]), build_id=f"k{sys.argv[4]}-{i}", dbt_manifest=manifest,
                  force=True)
"""


def test_killing_the_publisher_at_any_moment_leaves_a_complete_current_set(tmp_path):
    wh = make_warehouse(tmp_path / "w.duckdb", rows=200_000)
    out = tmp_path / "published"
    manifest_file = tmp_path / "dbt_manifest.json"
    manifest_file.write_text(json.dumps(tiny_manifest()))
    publish_marts(wh, out, build_id="first", dbt_manifest=tiny_manifest())
    for n, delay in enumerate((0.05, 0.2, 0.45, 0.7, 1.1, 1.6)):
        proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(wh), str(out), str(manifest_file), str(n)],
                                cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        _assert_current_complete(out)
    m = publish_marts(wh, out, build_id="after", dbt_manifest=tiny_manifest())
    _assert_current_complete(out, "after")
    assert published_build(out / DUCKDB_NAME) == "after" and not m["unchanged"]
    assert len(list((out / "builds").iterdir())) == 2


# ------------------------------------------------------------------------------- (b) readers during builds

WRITER = """
import sys, time, duckdb, re, json
path, stop, log = sys.argv[1], sys.argv[2], sys.argv[3]
import os
cycles, holders = 0, []
while not os.path.exists(stop):
    try:
        con = duckdb.connect(path)
    except duckdb.IOException as exc:   # the publisher copying (read-only) holds it for a moment
        m = re.search(r"PID (\\d+)", str(exc))
        holders.append(int(m.group(1)) if m else -1)
        time.sleep(0.05)
        continue
    con.execute("insert into marts.fct_public select * from marts.fct_public limit 997")
    con.execute("insert into raw.public_rows values (1)")
    time.sleep(0.2)                      # a build step holding the warehouse
    con.close()
    cycles += 1
    time.sleep(0.4)
json.dump({"cycles": cycles, "holders": holders}, open(log, "w"))
"""

READER = """
import sys, os, json, time, duckdb
db, stop, log, names = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with open(log, "w") as out:
    while not os.path.exists(stop):
        try:
            con = duckdb.connect(db, read_only=True)
            build = con.execute("select build_id from _publish.build").fetchall()[0][0]
            # every row and column read: count and an order-free checksum (DuckDB 1.4 and 2.0 hash alike)
            rows = {f"{s}.{n}": list(con.execute(f'select count(*), bit_xor(hash(t))::varchar from "{s}"."{n}" t'
                                                 ).fetchall()[0]) for s, n in names}
            time.sleep(0.01)  # a BI query holding the file open a little
            con.close()
            out.write(json.dumps({"build": build, "rows": rows, "version": duckdb.__version__}) + "\\n")
        except Exception as exc:
            out.write(json.dumps({"error": repr(exc)}) + "\\n")
        out.flush()
"""

SET_READER = """
import sys, os, json, duckdb
out_dir, stop, log = sys.argv[1], sys.argv[2], sys.argv[3]
with open(log, "w") as out:
    while not os.path.exists(stop):
        try:
            target = os.path.join(out_dir, os.readlink(os.path.join(out_dir, "current")))  # resolved once
            manifest = json.load(open(os.path.join(target, "manifest.json")))
            json.load(open(os.path.join(out_dir, "manifest.json")))
            con = duckdb.connect()
            rows = {}
            for t in manifest["tables"]:
                key = t["schema"] + "." + t["name"]
                rows[key] = con.execute(f"select count(*) from read_parquet('{target}/{t['files']['parquet']['path']}')"
                                        ).fetchall()[0][0]
                csv_rows = con.execute(f"select count(*) from read_csv('{target}/{t['files']['csv']['path']}', "
                                       "header = true, all_varchar = true)").fetchall()[0][0]
                assert csv_rows == rows[key], (key, csv_rows, rows[key])
            con.close()
            out.write(json.dumps({"build": manifest["build_id"], "rows": rows, "version": "parquet+csv"}) + "\\n")
        except Exception as exc:
            out.write(json.dumps({"error": repr(exc)}) + "\\n")
        out.flush()
"""


def test_readers_during_repeated_publishes_and_builds_see_only_complete_sets(tmp_path, duckdb1_python):
    wh = make_warehouse(tmp_path / "w.duckdb", rows=100_000)
    out = tmp_path / "published"
    manifests, checksums = {}, {}

    def checksum(manifest: dict) -> dict:
        """What a reader must see for this build: rows and checksum of every table, from its own set."""
        con = duckdb.connect(str(Path(manifest["set_dir"]) / DUCKDB_NAME), read_only=True)
        try:
            return {f"{t['schema']}.{t['name']}": list(con.execute(
                f'select count(*), bit_xor(hash(t))::varchar from "{t["schema"]}"."{t["name"]}" t').fetchall()[0])
                for t in manifest["tables"]}
        finally:
            con.close()

    first = publish_marts(wh, out, build_id="p0", dbt_manifest=tiny_manifest())
    manifests["p0"], checksums["p0"] = first, checksum(first)
    names = json.dumps([[t["schema"], t["name"]] for t in first["tables"]])
    stop = tmp_path / "stop"
    procs = {
        "writer": subprocess.Popen([sys.executable, "-c", WRITER, str(wh), str(stop), str(tmp_path / "writer.json")]),
        "reader-2.0-a": subprocess.Popen([sys.executable, "-c", READER, str(out / DUCKDB_NAME), str(stop),
                                          str(tmp_path / "reader-2.0-a.log"), names]),
        "reader-2.0-b": subprocess.Popen([sys.executable, "-c", READER, str(out / DUCKDB_NAME), str(stop),
                                          str(tmp_path / "reader-2.0-b.log"), names]),
        "reader-1.x": subprocess.Popen([str(duckdb1_python), "-c", READER, str(out / DUCKDB_NAME), str(stop),
                                        str(tmp_path / "reader-1.x.log"), names]),
        "reader-set": subprocess.Popen([sys.executable, "-c", SET_READER, str(out), str(stop),
                                        str(tmp_path / "reader-set.log")]),
    }
    waits: list[str] = []
    try:
        time.sleep(1.0)  # every reader is looping
        for i in range(1, 7):
            manifests[f"p{i}"] = publish_marts(wh, out, build_id=f"p{i}", dbt_manifest=tiny_manifest(),
                                               wait_seconds=60, log=waits.append)
            checksums[f"p{i}"] = checksum(manifests[f"p{i}"])
            time.sleep(0.3)
    finally:
        stop.touch()
        for proc in procs.values():
            proc.wait(timeout=60)
    assert all(proc.returncode == 0 for proc in procs.values())

    counts = {b: {f"{t['schema']}.{t['name']}": t["rows"] for t in m["tables"]} for b, m in manifests.items()}
    assert all({k: v[0] for k, v in checksums[b].items()} == counts[b] for b in manifests)
    assert len({json.dumps(c, sort_keys=True) for c in counts.values()}) >= 4  # the builds really differed
    seen_builds = set()
    for name in ("reader-2.0-a", "reader-2.0-b", "reader-1.x", "reader-set"):
        lines = [json.loads(line) for line in (tmp_path / f"{name}.log").read_text().splitlines()]
        errors = [line["error"] for line in lines if "error" in line]
        assert not errors, (name, errors[:3])
        assert len(lines) >= 5, name
        for line in lines:  # every read matches one complete published set: never a half-written file
            if name == "reader-set":
                assert line["rows"] == counts[line["build"]], (name, line)
            else:
                assert line["rows"] == checksums[line["build"]], (name, line)
            seen_builds.add(line["build"])
        if name == "reader-1.x":
            assert lines[0]["version"] == DUCKDB1_VERSION
    assert len(seen_builds) >= 3, seen_builds

    writer = json.loads((tmp_path / "writer.json").read_text())
    assert writer["cycles"] >= 5
    # the writer only ever waited for the publisher (this process), never for a reader of the published copy
    assert set(writer["holders"]) <= {os.getpid()}, writer["holders"]
    # and the publisher only ever waited for the writer (a build), never for a reader
    reader_pids = {str(p.pid) for n, p in procs.items() if n != "writer"}
    assert all(f"PID {procs['writer'].pid}" in w for w in waits), waits
    assert not any(pid in w for w in waits for pid in reader_pids)
    _assert_current_complete(out, "p6")


# ------------------------------------------------------------------------------------------ the Dagster asset

def test_the_bi_exports_asset_publishes_both_tiers(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.defs.publishing import PUBLISHED_KEYS, bi_exports
    from orchestration.defs.resources import WarehouseResource

    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("create schema marts; create schema ref; create schema raw")
    con.execute("create table marts.fct_indicator_value as select range as i from range(10)")
    con.execute("create table marts.dim_geography as select 'W01000001' as lsoa21_code")
    con.execute("create table marts.fct_incident as select 'INC-1' as incident_ref")
    con.execute("create table marts.shared_incident_summary as select 'W06000001' as la_code, null::int as n")
    con.execute("create table marts.dq_results as select 1 as x")
    con.execute("create table ref.local_authority as select 'W06000001' as la_code, 'Ynys Môn' as la_name_cy")
    con.execute("create table raw.partner_incidents as select 'secret' as information")
    con.close()
    monkeypatch.setenv("COHESION_PUBLISHED_DIR", str(tmp_path / "published"))
    monkeypatch.setenv("COHESION_RESTRICTED_DIR", str(tmp_path / "restricted"))
    assert dg.AssetKey(["marts", "fct_indicator_value"]) in PUBLISHED_KEYS
    assert dg.AssetKey(["ref", "local_authority"]) in PUBLISHED_KEYS
    assert bi_exports.key == dg.AssetKey(["published", "bi_exports"])
    assert bi_exports.group_names_by_key[bi_exports.key] == "published"
    assert set(PUBLISHED_KEYS) <= set(bi_exports.dependency_keys)

    resource = WarehouseResource(warehouse_path=str(wh), snapshots_dir=str(tmp_path), reports_dir=str(tmp_path),
                                 quarantine_dir=str(tmp_path))
    monkeypatch.setattr(publish, "CSV_MAX_ROWS", 4)  # fct_indicator_value's 10 rows: a CSV in three parts
    result = dg.materialize([bi_exports], resources={"warehouse": resource})
    assert result.success
    metadata = result.asset_materializations_for_node("published__bi_exports")[0].metadata
    run_id = result.run_id
    assert metadata["build_id"].value == run_id
    assert metadata["public_tables"].value == 4 and metadata["restricted_tables"].value == 5
    # the restricted tier took the public tier's files for the four public tables; nothing was published before
    assert metadata["public_tables_reused"].value == 0 and metadata["restricted_tables_reused"].value == 4
    # the run says which tables' CSVs are in parts, and the parts are there
    assert metadata["public_csv_in_parts"].value == "marts.fct_indicator_value (3 parts)"
    assert metadata["restricted_csv_in_parts"].value == "marts.fct_indicator_value (3 parts)"
    assert sorted(p.name for p in (tmp_path / "published" / "csv").glob("marts.fct_indicator_value*")) == [
        f"marts.fct_indicator_value.{k}-of-3.csv" for k in (1, 2, 3)]
    assert read_manifest(tmp_path / "published")["build_id"] == run_id
    assert tables_in(tmp_path / "published" / DUCKDB_NAME) == {
        "marts.fct_indicator_value", "marts.dim_geography", "marts.shared_incident_summary", "ref.local_authority",
        "_publish.build"}
    assert "marts.fct_incident" in tables_in(tmp_path / "restricted" / "published" / DUCKDB_NAME)
    assert stat.S_IMODE((tmp_path / "restricted").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "restricted" / "published").stat().st_mode) == 0o700


# ------------------------------------------------------------------------------------- the session's real build

def test_publishing_the_real_build(built, tmp_path, duckdb1_python):
    warehouse = built["settings"].warehouse_path
    out = tmp_path / "published"
    m = publish_marts(warehouse, out, build_id="session", wait_seconds=120)
    tiers = table_tiers()
    public = {t for t, tier in tiers.items() if tier == "public"}
    published = {f"{t['schema']}.{t['name']}" for t in m["tables"]}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        present = {f"{s}.{n}" for s, n in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()").fetchall()}
        assert published == public & present
        assert {t for t in public if t.startswith("marts.")} <= published  # every public mart was built and published
        for table in m["tables"]:
            rows = con.execute(f'select count(*) from "{table["schema"]}"."{table["name"]}"').fetchall()[0][0]
            assert table["rows"] == rows, table["name"]
            assert all(len(f["sha256"]) == 64 for f in table["files"].values())
    finally:
        con.close()
    assert verify_set(current_set(out), m) == []  # every sha256 in the manifest matches its file
    assert "marts.shared_incident_summary" in published and "marts.dim_geography" in published
    assert not published & PROJECT_RESTRICTED
    in_file = tables_in(out / DUCKDB_NAME)
    assert not in_file & PROJECT_RESTRICTED
    assert {t.split(".")[0] for t in in_file} <= {"marts", "ref", "_publish"}
    assert not any(r in str(p) for p in out.rglob("*") for r in PROJECT_RESTRICTED)
    # a BI driver's DuckDB 1.x reads every table of the real copy
    seen = read_with(duckdb1_python, out / DUCKDB_NAME, m)
    assert seen["rows"] == {f"{t['schema']}.{t['name']}": t["rows"] for t in m["tables"]}
