"""Publish the marts for BI tools: a read-only DuckDB copy that DuckDB 1.x clients open, Parquet, CSV and a manifest.

BI tools never open the warehouse (DuckDB allows one writing process per file, and a reader holding it would
block the build); they read a *published set* written after each successful build. No Dagster imports.

**Tiers.** Which tables go where is decided from the dbt manifest (``table_tiers``):

- a model or seed in the ``marts`` or ``ref`` schema is *restricted* when it depends, directly or through any
  chain of models, on the partner extracts: dbt source ``partner`` (``raw.partner_*``, the tension reports,
  incidents, assessments, CIAs and risks), or on a ``stg_partner__*`` / ``int_partner__*`` model, or is a
  model tagged ``tension`` (the tension monitoring family, all built from partner data);
- except a model tagged ``shared`` (``shared_incident_summary``: counts suppressed for Bronze and partner
  agencies, models/marts/shared_tier.md). The exemption belongs to the tagged model only: a model built on
  top of a shared one is judged by everything it depends on, so it must carry the tag itself to be public;
- everything else in ``marts`` and ``ref`` (statistics, ``dim_geography``, the seeds: ``indicator_catalogue``,
  ``local_authority``, ...) is *public*.

Tables in ``marts``/``ref`` that dbt does not know (``marts.dq_results``, written by the quality checks and
naming partner suites) are never published (fail closed), nor is any other schema (raw, staging,
intermediate, reports). The public tier holds the public tables; the restricted tier holds every publishable
table (restricted and public, so the monitoring group's BI needs one connection) and goes to the restricted
store (folders 0700, files 0600). Public files are 0440 (read-only even for the service account, so nothing
opens the published file for writing by mistake), folders 0750: never world-readable, like the warehouse.

**Directory scheme** (``out_dir`` = data/published, or restricted/published)::

    out_dir/
      cohesion_marts.duckdb      stable path BI tools point at; a hard link to current's file, swapped in by
                                 os.replace: a reader that has it open keeps reading the old inode
      manifest.json              copy of current's manifest, swapped in by os.replace
      parquet -> current/parquet   (symlinks, created once)
      csv     -> current/csv
      current -> builds/<set>    symlink swapped atomically (symlink under a temporary name + os.replace)
      builds/<set>/              one complete published set (<set> = the build id; <id>.2 when republished)
          cohesion_marts.duckdb  schemas marts, ref (as in the warehouse) and _publish.build (build id, tier)
          parquet/<schema>.<table>.parquet
          csv/<schema>.<table>.csv   (a table over CSV_MAX_ROWS rows: <schema>.<table>.<k>-of-<n>.csv)
          manifest.json
      .publish.lock              publishers take it in turn (flock); readers never touch it

A set is written in full under ``out_dir/.staging-*`` (same filesystem), every file and folder fsynced, then
renamed into ``builds/``; only then are ``current``, the top-level DuckDB file and ``manifest.json`` swapped,
each by a single rename. Every path therefore always names a complete file of one published set. A reader
that needs several files of one set resolves ``current`` once (``os.readlink``) and reads under
``builds/<set>/``; the DuckDB file says which build it holds (``_publish.build``). The newest two sets are
kept (so a reader that resolved ``current`` just before a swap can finish), older ones are deleted, and the
set ``current`` points to never is. A crash at any point leaves the previous set current and complete; the
next publish removes the leftovers. The publisher never opens the published files it replaces, so readers
(any number, any DuckDB version) never make it wait, and it never makes them wait.

**Source lock.** The warehouse is opened read-only with orchestration.lib.warehouse.connect (waits, saying
for whom, while a build holds it) only while the tables are copied into the new DuckDB file; Parquet, CSV and
hashes are written from that copy after the warehouse is closed again.

**Formats.** DuckDB: ``ATTACH ... (STORAGE_VERSION 'v1.4.0')`` (DuckDB 1.4+ clients, which most BI drivers
embed, cannot read the 2.0 format). Parquet: snappy, PARQUET_VERSION V1 (the widest reader support). CSV for
Excel: UTF-8 *with* a byte-order mark (without it Excel decodes a double-clicked CSV in the Windows code
page, so "Ynys Môn" shows as "Ynys MÃ´n", and ŵ/ŷ are not in that code page at all), a header row, comma,
ISO dates (2024-06-30) and timestamps (2024-06-30 12:00:00), empty cell for null; and, like every CSV the
project writes (lib/safe_text.py), a text cell starting with = + - @ tab or CR gets a leading ' so a
spreadsheet never runs it as a formula (Parquet and DuckDB keep the values exactly). Excel opens at most
1,048,576 rows (the header one of them) and drops the rest: a table with more rows (fct_crime_monthly passes that
after about 28 months of all four Welsh forces) has its CSV in parts of ``CSV_MAX_ROWS`` rows, each with the
header, in the table's order (``csv_parts``; ``csv.1`` … in its manifest entry, with each part's rows).

**Re-publishing.** Publishing the same build again (same build id, tier and tables, and the warehouse file not
modified since: same size and mtime) returns the current manifest with ``unchanged: True`` and writes nothing
(a retried step); ``force=True`` writes a new set, with the same table contents (the same rows in the same
order: the CSV bytes and their sha256 are the same).

**Unchanged tables are not exported again.** Every table's manifest entry carries a ``fingerprint`` (columns and
types, row count, an order-independent sum of DuckDB row hashes, the export options, the DuckDB version:
``_fingerprints``). When a table's fingerprint equals one in the tier's current set, or (for the restricted tier)
in the public set just written, that set's Parquet and CSV are taken as they are (a hard link within the tier, a
copy across tiers) and the entry says ``reused``: a new police.uk month re-exports the crime tables, not the
census ones; a build after a partner file re-exports only the tables it changed; the restricted tier no longer
writes the public tables a second time. The CSV parts of a table over Excel's row limit have fingerprints of
their own (``_fingerprints``): a police.uk month appends its rows after the others, so a changed table over
the limit writes only its last parts again (at 10 years of history, 4 of fct_crime_monthly's 5 parts are taken from
the set before). The DuckDB file is always written whole. A file whose size no longer matches its manifest is not
reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from orchestration.lib.safe_text import FORMULA_START
from orchestration.lib.warehouse import connect, sha256_of
from orchestration.lib.warehouse import quote_identifier as _quote
from orchestration.lib.warehouse import quote_string as _literal
from orchestration.settings import DBT_PROJECT_DIR

PUBLISHABLE_SCHEMAS = ("marts", "ref")
PARTNER_SOURCES = frozenset({"partner"})
PARTNER_MODEL_PREFIXES = ("stg_partner__", "int_partner__")
RESTRICTED_TAG = "tension"
SHARED_TAG = "shared"
TIERS = ("public", "restricted")

DUCKDB_NAME = "cohesion_marts.duckdb"
MANIFEST_NAME = "manifest.json"
STORAGE_VERSION = "v1.4.0"
KEEP_SETS = 2
INFO_SCHEMA = "_publish"
# 2: a table over CSV_MAX_ROWS rows has CSV files csv.1 … csv.<n> in its entry instead of one csv (format 1 had no parts)
MANIFEST_FORMAT = 2
BOM = b"\xef\xbb\xbf"
# Excel opens at most 1,048,576 rows of a CSV, its header one of them, and drops the rest (with a warning that is
# easy to click past). A table with more rows has its CSV written in parts of at most this many data rows each,
# <schema>.<table>.<k>-of-<n>.csv, in the table's order; Parquet and DuckDB hold every table whole.
CSV_MAX_ROWS = 1_048_575

MODES = {
    "public": {"dir": 0o750, "file": 0o440},
    "restricted": {"dir": 0o700, "file": 0o600},
}
# the same characters as safe_text.FORMULA_PREFIXES, as a regular expression for DuckDB
_FORMULA_START = FORMULA_START  # lib.safe_text: the OWASP formula rule
_OUT = "__cohesion_publish_out"
_PARQUET_OPTIONS = "format parquet, compression snappy, parquet_version v1"
_CSV_OPTIONS = "format csv, header true, delimiter ',', quote '\"', dateformat '%Y-%m-%d'"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PublishError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------ tiers

def load_dbt_manifest(dbt_manifest: Path | dict | None = None) -> dict:
    if isinstance(dbt_manifest, dict):
        return dbt_manifest
    path = Path(dbt_manifest) if dbt_manifest else DBT_PROJECT_DIR / "target" / "manifest.json"
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def table_tiers(dbt_manifest: Path | dict | None = None) -> dict[str, str]:
    """'marts.fct_indicator_value' -> 'public' | 'restricted' for every dbt model and seed in marts/ref."""
    manifest = load_dbt_manifest(dbt_manifest)
    nodes, sources = manifest.get("nodes", {}), manifest.get("sources", {})
    partner = {uid for uid, s in sources.items()
               if s.get("source_name") in PARTNER_SOURCES or str(s.get("name", "")).startswith("partner_")}
    tainted: dict[str, bool] = {}

    def is_tainted(uid: str) -> bool:
        # iterative depth-first walk with memo; a cycle (impossible in dbt) counts as untainted on the way round
        stack = [(uid, False)]
        while stack:
            current, expanded = stack.pop()
            if current in tainted and not expanded:
                continue
            if current in partner:
                tainted[current] = True
                continue
            node = nodes.get(current)
            if node is None:
                tainted[current] = False
                continue
            deps = (node.get("depends_on") or {}).get("nodes") or []
            if expanded:
                own = node.get("name", "").startswith(PARTNER_MODEL_PREFIXES)
                tainted[current] = own or any(tainted.get(d, False) for d in deps)
                continue
            tainted.setdefault(current, False)  # cycle guard
            stack.append((current, True))
            stack.extend((d, False) for d in deps if d not in tainted)
        return tainted[uid]

    tiers: dict[str, str] = {}
    for uid, node in nodes.items():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        schema = node.get("schema")
        if schema not in PUBLISHABLE_SCHEMAS:
            continue
        name = node.get("alias") or node["name"]
        tags = set(node.get("tags") or []) | set((node.get("config") or {}).get("tags") or [])
        if SHARED_TAG in tags:
            tier = "public"
        elif is_tainted(uid) or (node["resource_type"] != "seed" and RESTRICTED_TAG in tags):
            tier = "restricted"
        else:
            tier = "public"
        tiers[f"{schema}.{name}"] = tier
    return dict(sorted(tiers.items()))


def tables_for_tier(tier: str, dbt_manifest: Path | dict | None = None) -> list[str]:
    """The tables a tier publishes: public -> the public ones; restricted -> all (restricted and public)."""
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, got {tier!r}")
    return [t for t, t_tier in table_tiers(dbt_manifest).items() if tier == "restricted" or t_tier == "public"]


# ------------------------------------------------------------------------------------------ file helpers

def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_sha256 = sha256_of


def _tmp_name(directory: Path, name: str) -> Path:
    return directory / f".tmp-{uuid.uuid4().hex[:12]}-{name}"


def _replace_with_symlink(link: Path, target: str) -> None:
    tmp = _tmp_name(link.parent, link.name)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _replace_with_hardlink(link: Path, source: Path) -> None:
    """``link`` becomes the same file as ``source`` (a hard link; a full, fsynced copy where the filesystem has
    no hard links), swapped in by one rename: a reader that has the old file open keeps reading it."""
    tmp = _tmp_name(link.parent, link.name)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, stat.S_IMODE(source.stat().st_mode))
        _fsync_file(tmp)
    os.replace(tmp, link)


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write under a temporary name, fsync, set the mode, rename into place."""
    tmp = _tmp_name(path.parent, path.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _mkdir(path: Path, mode: int) -> Path:
    """Create ``path`` and any missing parents with ``mode`` (not the umask's default); set it on ``path``."""
    missing, parent = [], path
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        os.chmod(directory, mode)
    os.chmod(path, mode)
    return path


def _source_state(warehouse: Path) -> dict:
    state = {}
    for key, path in (("file", warehouse), ("wal", warehouse.with_name(warehouse.name + ".wal"))):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        state[key] = {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    return state


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------- reading a set

def current_set(out_dir: Path) -> Path | None:
    """The set ``current`` points to (resolved once), or None before the first publish."""
    link = Path(out_dir) / "current"
    try:
        target = os.readlink(link)
    except (FileNotFoundError, OSError):
        return None
    return (link.parent / target).resolve()


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest of the current set, or None."""
    target = current_set(out_dir)
    if target is None:
        return None
    try:
        with open(target / MANIFEST_NAME, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def manifest_files(manifest: dict) -> list[dict]:
    """Every file entry ({path, bytes, sha256}, path relative to the set folder) of a manifest."""
    files = [manifest["duckdb"]]
    for table in manifest["tables"]:
        files.extend(table["files"].values())
    return files


def verify_set(set_dir: Path, manifest: dict | None = None, hashes: bool = True) -> list[str]:
    """Problems with a published set (missing files, wrong sizes or sha256); empty when complete."""
    set_dir = Path(set_dir)
    if manifest is None:
        try:
            manifest = json.loads((set_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError) as exc:
            return [f"{set_dir / MANIFEST_NAME}: {exc}"]
    problems = []
    for entry in manifest_files(manifest):
        path = set_dir / entry["path"]
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(f"{path}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        elif hashes and _sha256(path) != entry["sha256"]:
            problems.append(f"{path}: sha256 differs from the manifest")
    return problems


# -------------------------------------------------------------------------------------------- publishing

def _normalise(name: str) -> str:
    return name if "." in name else f"marts.{name}"


def publish_marts(
    warehouse: Path,
    out_dir: Path,
    *,
    build_id: str,
    tables: list[str] | None = None,
    tier: str = "public",
    dbt_manifest: Path | dict | None = None,
    keep: int = KEEP_SETS,
    force: bool = False,
    storage_version: str = STORAGE_VERSION,
    wait_seconds: float | None = None,
    log=None,
    reuse_from: list[Path] | None = None,
    reuse: bool = True,
) -> dict:
    """Publish the tier's tables of ``warehouse`` as a new set under ``out_dir`` and make it current.

    ``tables`` (``schema.name``, or a bare name for marts) narrows the tier's tables; naming a table the tier
    may not hold (a restricted mart for the public tier, raw.*, an unknown table) is an error. ``log`` takes
    a message (lock waits). Returns the manifest, plus ``out_dir``, ``set_dir`` and ``unchanged``.

    A table whose content is the same as in this tier's current set, or in the current set of a folder in
    ``reuse_from`` (the restricted tier passes the public one: it holds the same public tables), keeps that set's
    Parquet and CSV files instead of writing them again (``reused`` in its manifest entry; see ``_fingerprints``).
    Never pass a folder of a more restricted tier. ``reuse=False`` writes every file afresh.
    """
    started = time.monotonic()
    warehouse, out_dir = Path(warehouse), Path(out_dir)
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, got {tier!r}")
    if not build_id or not str(build_id).strip():
        raise ValueError("build_id is required")
    if keep < 1:
        raise ValueError("keep must be at least 1")
    modes = MODES[tier]
    tiers = table_tiers(dbt_manifest)
    allowed = [t for t, t_tier in tiers.items() if tier == "restricted" or t_tier == "public"]
    if tables is None:
        wanted = allowed
    else:
        wanted = sorted({_normalise(t) for t in tables})
        refused = [t for t in wanted if t not in allowed]
        if refused:
            raise ValueError(f"not publishable in the {tier} tier: {', '.join(refused)} (tiers come from the dbt "
                             "manifest: orchestration/lib/publish.py)")

    _mkdir(out_dir, modes["dir"])
    _mkdir(out_dir / "builds", modes["dir"])
    lock_fd = os.open(out_dir / ".publish.lock", os.O_RDWR | os.O_CREAT, modes["file"] | 0o200)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (log or (lambda m: None))(f"waiting for another publisher of {out_dir} to finish")
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
        _remove_leftovers(out_dir)

        current = read_manifest(out_dir)
        source_state = _source_state(warehouse)
        if (not force and current is not None and current.get("build_id") == build_id
                and current.get("tier") == tier and current.get("requested") == wanted
                and current.get("source", {}).get("state") == source_state
                and not verify_set(current_set(out_dir), current, hashes=False)):
            return {**current, "out_dir": str(out_dir), "set_dir": str(current_set(out_dir)), "unchanged": True}

        staging = _mkdir(out_dir / f".staging-{uuid.uuid4().hex[:12]}", modes["dir"])
        candidates = _reuse_candidates([out_dir, *(reuse_from or [])], out_dir) if reuse else {}
        manifest = _write_set(warehouse, staging, build_id=build_id, tier=tier, wanted=wanted, known=set(tiers),
                              storage_version=storage_version, modes=modes, wait_seconds=wait_seconds, log=log,
                              candidates=candidates)
        set_dir = _swap_in(out_dir, staging, build_id, manifest, modes)
        _prune(out_dir, keep)
        manifest["seconds"]["total"] = round(time.monotonic() - started, 3)
        return {**manifest, "out_dir": str(out_dir), "set_dir": str(set_dir), "unchanged": False}
    finally:
        os.close(lock_fd)  # releases the flock


def _fingerprints(con, ref: str, columns: list[dict], rows: int) -> tuple[str, list[str]]:
    """(the table's fingerprint, its CSV parts' fingerprints: [] when one CSV file holds it), from one scan.

    A table's files are a function of its columns (names and types, in order), its row count and an
    order-independent sum of its rows' hashes (DuckDB's ``hash`` of each row, summed as a HUGEINT), tagged with the
    DuckDB version (``hash`` is not promised stable across versions: another version's fingerprint never matches,
    so the table is written afresh). Two tables with equal fingerprints hold the same rows, possibly in another
    order (a 64-bit row hash: accidental equality is out of reach for a changed table; this is not a defence
    against someone forging rows). The columns, the export options and the CSV formula guard are hashed in too.
    One parallel scan: ~0.5 s for 2.3M rows, against ~3 s to write them again.

    The sums are taken per CSV part (csv_parts; by row id: the published copy's rows are numbered in its insertion
    order) and added up for the table. A police.uk month appends its rows after the others, so every part of a table
    over CSV_MAX_ROWS but the last keeps its fingerprint, and its file is taken from the set before instead of being
    written again."""
    sums = dict(con.execute(f"select rowid // {CSV_MAX_ROWS}, coalesce(sum(hash(t)::hugeint), 0) "
                            f"from {ref} as t group by 1").fetchall())
    shape = f"duckdb {duckdb.__version__}|{_fingerprint_shape(columns)}"
    table = f"{shape}|{rows}|{sum(sums.values())}"
    if rows <= CSV_MAX_ROWS:
        return table, []
    return table, [f"{shape}|part {k + 1}|{min(CSV_MAX_ROWS, rows - k * CSV_MAX_ROWS)}|{sums.get(k, 0)}"
                   for k in range(-(-rows // CSV_MAX_ROWS))]


def _fingerprint_shape(columns: list[dict]) -> str:
    # how the files are written is part of what they are: a change to the export options, the CSV formula guard or
    # the CSV part size makes every fingerprint new
    return hashlib.sha256(json.dumps([columns, _PARQUET_OPTIONS, _CSV_OPTIONS, _csv_select(columns), BOM.hex(),
                                      CSV_MAX_ROWS], sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _reuse_candidates(out_dirs: list[Path], own: Path) -> dict[tuple[str, str], tuple[Path, dict, bool, str]]:
    """(table, fingerprint) -> (set folder, manifest entry, same tier, its tier) for every table of the current sets of
    ``out_dirs`` whose files are all present with their manifest's sizes (the cheap half of verify_set: a
    damaged file is written afresh, not copied); and (table, part fingerprint) -> (set folder, file entry, same
    tier, its tier) for every CSV part (csv_parts) present with its size, whatever the rest of its table."""
    found: dict[tuple[str, str], tuple[Path, dict, bool, str]] = {}
    for folder in out_dirs:
        set_dir, manifest = current_set(folder), read_manifest(folder)
        if set_dir is None or manifest is None:
            continue
        same_tier = Path(folder).resolve() == Path(own).resolve()
        for entry in manifest.get("tables", []):
            fingerprint = entry.get("fingerprint")
            if not fingerprint:
                continue
            table = f"{entry['schema']}.{entry['name']}"
            whole = [_file_intact(set_dir, f) for f in entry["files"].values()]
            if all(whole):
                found.setdefault((table, fingerprint), (set_dir, entry, same_tier, manifest.get("tier")))
            for kind, info in entry["files"].items():
                if kind.startswith("csv.") and info.get("fingerprint") and _file_intact(set_dir, info):
                    found.setdefault((table, info["fingerprint"]), (set_dir, info, same_tier, manifest.get("tier")))
    return found


def _file_intact(set_dir: Path, info: dict) -> bool:
    """The file is there with its manifest's size and has a sha256 in it."""
    path = set_dir / info["path"]
    return path.is_file() and path.stat().st_size == info.get("bytes") and bool(info.get("sha256"))


def _reuse_file(source: Path, target: Path, same_tier: bool) -> None:
    """``target`` becomes ``source``'s bytes: a hard link within one tier's folder (the files are read-only and
    never rewritten; a pruned set's links keep the data), a copy across tiers (a link would share the mode, and
    the restricted tier's chmod would change the public file), fsynced."""
    if same_tier:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # no hard links here: copy
    shutil.copyfile(source, target)
    _fsync_file(target)


def _remove_leftovers(out_dir: Path) -> None:
    """Staging folders and temporary names left by a publisher that died (we hold the publish lock)."""
    for path in list(out_dir.glob(".staging-*")) + list(out_dir.glob(".tmp-*")) + list(
            (out_dir / "builds").glob(".tmp-*")):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _write_set(warehouse: Path, staging: Path, *, build_id: str, tier: str, wanted: list[str], known: set[str],
               storage_version: str, modes: dict, wait_seconds: float | None, log,
               candidates: dict | None = None) -> dict:
    timings: dict[str, float] = {}
    candidates = candidates or {}
    db_path = staging / DUCKDB_NAME
    published_at = _utc_now()

    # 1. copy the tables into a new DuckDB file in the 1.x-readable storage version, holding the warehouse
    #    (read-only) for this step only
    t0 = time.monotonic()
    con = connect(warehouse, read_only=True, wait_seconds=wait_seconds, log=log)
    t1 = time.monotonic()
    try:
        source_state = _source_state(warehouse)
        present = {f"{s}.{n}" for s, n in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "and not temporary").fetchall()}
        selected = [t for t in wanted if t in present]
        missing = [t for t in wanted if t not in present]
        # tables dbt does not know (marts.dq_results): never published, named in the manifest
        unknown = sorted(t for t in present if t.split(".", 1)[0] in PUBLISHABLE_SCHEMAS and t not in known)
        con.execute(f"attach {_literal(db_path)} as {_OUT} (storage_version {_literal(storage_version)}, read_write)")
        try:
            con.execute("begin transaction")
            for schema in sorted({t.split(".", 1)[0] for t in selected} | {INFO_SCHEMA}):
                con.execute(f"create schema if not exists {_OUT}.{_quote(schema)}")
            for table in selected:
                schema, name = table.split(".", 1)
                con.execute(f"create table {_OUT}.{_quote(schema)}.{_quote(name)} as "
                            f"select * from {_quote(schema)}.{_quote(name)}")
            con.execute(f"create table {_OUT}.{INFO_SCHEMA}.build as select ? as build_id, ? as tier, "
                        "?::timestamp as published_at, ? as storage_version",
                        [build_id, tier, published_at.rstrip("Z"), storage_version])
            con.execute("commit")
            storage = con.execute("select tags['storage_version'] from duckdb_databases() where database_name = ?",
                                  [_OUT]).fetchall()
        except BaseException:
            try:
                con.execute("rollback")
            except duckdb.Error:
                pass  # no transaction left to roll back; the error below says what went wrong
            raise
        finally:
            con.execute(f"detach {_OUT}")
    finally:
        con.close()
    timings["waited_for_warehouse"] = round(t1 - t0, 3)
    timings["warehouse_held"] = round(time.monotonic() - t1, 3)
    if db_path.with_name(db_path.name + ".wal").exists():
        raise PublishError(f"{db_path}.wal remains after closing the published copy")
    _fsync_file(db_path)

    # 2. Parquet and CSV from the new copy (the warehouse is free again)
    t2 = time.monotonic()
    parquet_dir = _mkdir(staging / "parquet", modes["dir"])
    csv_dir = _mkdir(staging / "csv", modes["dir"])
    entries = []
    pub = duckdb.connect()
    try:
        pub.execute(f"attach {_literal(db_path)} as pub (read_only)")
        for table in selected:
            schema, name = table.split(".", 1)
            ref = f"pub.{_quote(schema)}.{_quote(name)}"
            columns = [{"name": c, "type": t} for c, t, *_ in pub.execute(f"describe {ref}").fetchall()]
            rows = pub.execute(f"select count(*) from {ref}").fetchall()[0][0]
            fingerprint, part_prints = _fingerprints(pub, ref, columns, int(rows))
            parquet = parquet_dir / f"{schema}.{name}.parquet"
            entry = {"schema": schema, "name": name, "rows": int(rows), "columns": columns,
                     "fingerprint": fingerprint}
            known_set = candidates.get((table, fingerprint))
            if known_set is not None:
                # the same rows as a set already published: its files, not a second export (the same fingerprint:
                # the same rows and part size, so the same file names)
                set_dir, source, same_tier, source_tier = known_set
                entry["files"] = {}
                for kind, info in source["files"].items():
                    origin, origin_info, link = set_dir, info, same_tier
                    own_dir, own_info, own_tier, _ = candidates.get((table, info.get("fingerprint", "")),
                                                                    (None, None, False, None))
                    if not same_tier and own_tier:
                        # a part of another tier's set that this tier's own set already holds: a hard link to
                        # that, not a copy (the restricted tier after a new month: the parts before the new rows)
                        origin, origin_info, link = own_dir, own_info, True
                    _reuse_file(origin / origin_info["path"], staging / info["path"], link)
                    entry["files"][kind] = {k: v for k, v in info.items() if k not in ("bytes", "reused")}
                    entry["files"][kind]["sha256"] = origin_info["sha256"]
                entry["reused"] = {"set": set_dir.name, "tier": source_tier}
                entries.append(entry)
                continue
            pub.execute(f"copy (select * from {ref}) to {_literal(parquet)} ({_PARQUET_OPTIONS})")
            entry["files"] = {"parquet": {"path": f"parquet/{parquet.name}"}}
            for index, (kind, csv, limit, offset) in enumerate(csv_parts(schema, name, int(rows))):
                info = {"path": f"csv/{csv}"}
                if limit is not None:
                    info.update(rows=min(limit, int(rows) - offset), fingerprint=part_prints[index])
                known_part = candidates.get((table, info.get("fingerprint", "")))
                if known_part is not None:
                    # the same rows as a part already published (under its name then: k-of-n may have grown)
                    set_dir, source, same_tier, source_tier = known_part
                    _reuse_file(set_dir / source["path"], csv_dir / csv, same_tier)
                    info.update(sha256=source["sha256"], reused={"set": set_dir.name, "tier": source_tier})
                else:
                    body = csv_dir / f"{csv}.body"
                    # the published copy's rows are numbered (rowid) in its insertion order, which its scans keep:
                    # the parts, one after another, are the table's rows in the order one file would hold them
                    window = f" where rowid >= {offset} and rowid < {offset + limit}" if limit is not None else ""
                    pub.execute(f"copy (select {_csv_select(columns)} from {ref}{window}) to {_literal(body)} "
                                f"({_CSV_OPTIONS})")
                    info["sha256"] = _prepend_bom(body, csv_dir / csv)
                entry["files"][kind] = info
            entries.append(entry)
    finally:
        pub.close()
    timings["exports"] = round(time.monotonic() - t2, 3)

    # 3. modes, hashes, fsync, manifest
    t3 = time.monotonic()
    for path in [db_path, *parquet_dir.iterdir(), *csv_dir.iterdir()]:
        os.chmod(path, modes["file"])
    for entry in entries:
        for kind, info in entry["files"].items():
            path = staging / info["path"]
            if kind == "parquet" and "sha256" not in info:
                _fsync_file(path)
                info["sha256"] = _sha256(path)
            info["bytes"] = path.stat().st_size
    duckdb_entry = {"path": DUCKDB_NAME, "bytes": db_path.stat().st_size, "sha256": _sha256(db_path)}
    timings["hashes"] = round(time.monotonic() - t3, 3)
    manifest = {
        "format": MANIFEST_FORMAT,
        "build_id": build_id,
        "published_at": published_at,
        "tier": tier,
        "storage_version": storage[0][0] if storage and storage[0][0] else storage_version,
        "source": {"warehouse": str(warehouse.resolve()), "state": source_state},
        "requested": wanted,
        "duckdb": duckdb_entry,
        "csv": {"encoding": "utf-8 with BOM", "delimiter": ",", "header": True, "null": "",
                "dates": "ISO 8601 (yyyy-mm-dd; timestamps yyyy-mm-dd hh:mm:ss)",
                "formula_guard": "a text cell starting with = + - @ tab or CR is prefixed with '",
                "max_rows_per_file": CSV_MAX_ROWS,
                "parts": f"a table of more than {CSV_MAX_ROWS:,} rows (Excel's limit with the header) is in files "
                         "csv.1, csv.2, ... of its entry, each with the header row and its rows, in order"},
        "tables": entries,
        "not_published": ([{"table": t, "reason": "not in the warehouse"} for t in missing]
                          + [{"table": t, "reason": "not a dbt model or seed"} for t in unknown]),
        "seconds": timings,
    }
    for directory in (parquet_dir, csv_dir):
        _fsync_dir(directory)
    _write_file(staging / MANIFEST_NAME, _manifest_bytes(manifest), modes["file"])
    _fsync_dir(staging)
    return manifest


def _manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _csv_select(columns: list[dict]) -> str:
    parts = []
    for column in columns:
        q = _quote(column["name"])
        if column["type"] == "VARCHAR":
            parts.append(f"case when regexp_matches({q}, {_literal(_FORMULA_START)}) then '''' || {q} else {q} end "
                         f"as {q}")
        else:
            parts.append(q)
    return ", ".join(parts) if parts else "*"


def csv_parts(schema: str, name: str, rows: int) -> list[tuple[str, str, int | None, int]]:
    """(manifest key, file name, rows limit or None, offset) of each CSV file of a table of ``rows`` rows: one
    ``csv`` file, or over CSV_MAX_ROWS rows ``csv.1`` … ``csv.<n>``, ``<schema>.<table>.<k>-of-<n>.csv`` (k with
    as many digits as n, so that the names sort in order)."""
    count = max(1, -(-rows // CSV_MAX_ROWS))
    if count == 1:
        return [("csv", f"{schema}.{name}.csv", None, 0)]
    width = len(str(count))  # 01-of-12 … 12-of-12: the names sort in the table's order
    return [(f"csv.{k}", f"{schema}.{name}.{k:0{width}d}-of-{count}.csv", CSV_MAX_ROWS, (k - 1) * CSV_MAX_ROWS)
            for k in range(1, count + 1)]


def _prepend_bom(body: Path, csv: Path) -> str:
    """csv = BOM + body (fsynced); body removed; returns the sha256 of csv."""
    digest = hashlib.sha256(BOM)
    with open(body, "rb") as src, open(csv, "wb") as dst:
        dst.write(BOM)
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    body.unlink()
    return digest.hexdigest()


def _swap_in(out_dir: Path, staging: Path, build_id: str, manifest: dict, modes: dict) -> Path:
    """Move the complete staging set into builds/ and make it current; each step is one rename."""
    builds = out_dir / "builds"
    base = _SAFE_NAME.sub("_", build_id).strip("._") or "build"
    name, n = base, 1
    while (builds / name).exists():
        n += 1
        name = f"{base}.{n}"
    set_dir = builds / name
    os.rename(staging, set_dir)
    _fsync_dir(builds)
    _replace_with_symlink(out_dir / "current", f"builds/{name}")
    _replace_with_hardlink(out_dir / DUCKDB_NAME, set_dir / DUCKDB_NAME)
    _write_file(out_dir / MANIFEST_NAME, _manifest_bytes({**manifest, "set": name}), modes["file"])
    for kind in ("parquet", "csv"):
        link = out_dir / kind
        if not link.exists() and not link.is_symlink():
            _replace_with_symlink(link, f"current/{kind}")
    _write_file(out_dir / "README.txt", BOM + README.encode("utf-8"), modes["file"])
    _fsync_dir(out_dir)
    return set_dir


def _set_published_at(set_dir: Path) -> str:
    try:
        return json.loads((set_dir / MANIFEST_NAME).read_text(encoding="utf-8")).get("published_at", "")
    except (OSError, json.JSONDecodeError):
        return ""


def _prune(out_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` sets; never the one ``current`` points to."""
    current = current_set(out_dir)
    sets = [p for p in (out_dir / "builds").iterdir() if p.is_dir() and not p.name.startswith(".")]
    sets.sort(key=lambda p: (_set_published_at(p), p.stat().st_mtime_ns), reverse=True)
    removed = []
    for old in sets[keep:]:
        if current is not None and old.resolve() == current:
            continue
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    if removed:
        _fsync_dir(out_dir / "builds")
    return removed


# Welsh first, then English (the Welsh Language Standards: Welsh no less favourably than English). Written with a
# BOM so that Notepad and other Windows tools read the Welsh letters (â, ŵ, ŷ) right.
README = """Monitor cydlyniant: y marts a gyhoeddir ar gyfer offer BI                              (English below)
Ysgrifennir gan orchestration/lib/publish.py ar ôl pob adeiladu.

cohesion_marts.duckdb   y marts mewn un ffeil DuckDB (DuckDB 1.4 neu'n ddiweddarach; agorwch hi i'w DARLLEN YN
                        UNIG), sgemâu marts a ref fel yn y warws; mae _publish.build yn dweud pa adeiladu sydd ynddi
parquet/<schema>.<table>.parquet, csv/<schema>.<table>.csv
                        un ffeil i bob tabl (CSV: UTF-8 gyda BOM ar gyfer Excel, dyddiadau ISO). Mae Excel yn agor
                        1,048,576 o resi ar y mwyaf: mae CSV tabl sydd â mwy na hynny mewn rhannau o 1,048,575 o
                        resi a phennyn, csv/<schema>.<table>.1-of-3.csv, 2-of-3, ... (01-of-12 ... o 10 rhan
                        ymlaen; y tabl cyfan yn Parquet a DuckDB)
manifest.json           rhif yr adeiladu, yr amser, ac ar gyfer pob tabl: y rhesi, y colofnau a sha256 pob ffeil
current -> builds/<set> y set gyfredol; i ddarllen sawl ffeil o'r un adeiladu, datryswch 'current' unwaith a
                        darllenwch o dan builds/<set>/ (cedwir y ddwy set fwyaf diweddar)

Caiff pob ffeil yma ei disodli drwy ailenwi ffeil newydd gyflawn drosti: mae ffeil sydd gennych ar agor yn cadw ei
hen gynnwys, ac mae ffeil a agorwch bob amser yn gyflawn. Peidiwch byth ag ysgrifennu i'r ffolder hon.

--------------------------------------------------------------------------------------------------------------------

Cohesion monitor: published marts for BI tools
Written by orchestration/lib/publish.py after each build.

cohesion_marts.duckdb   the marts in one DuckDB file (DuckDB 1.4 or later; open it READ ONLY), schemas marts and
                        ref as in the warehouse; _publish.build says which build it holds
parquet/<schema>.<table>.parquet, csv/<schema>.<table>.csv
                        one file per table (CSV: UTF-8 with BOM for Excel, ISO dates). Excel opens at most
                        1,048,576 rows: a table with more has its CSV in parts of 1,048,575 rows and a header,
                        csv/<schema>.<table>.1-of-3.csv, 2-of-3, ... (01-of-12 ... from 10 parts on; the whole
                        table in Parquet and DuckDB)
manifest.json           build id, time, and per table: rows, columns, sha256 of every file
current -> builds/<set> the current set; to read several files of one build, resolve 'current' once
                        and read under builds/<set>/ (the newest two sets are kept)

Every file here is replaced by renaming a complete new one over it: a file you have open keeps its old
contents, a file you open is always complete. Never write into this folder.
"""
