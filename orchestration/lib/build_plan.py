"""What a `make run` has to do: compare every input with the last complete build and plan only the work
that changed (no Dagster imports; orchestration/build.py runs the plan).

Inputs and how a change in each is answered:

- a bundled police.uk file (``police_uk/<force>/<month>-<force>-street.csv``): that month is reloaded,
  then everything downstream of raw/police_uk_street_crimes;
- a file of a whole-file dataset (``snapshots.DATASETS``): that raw asset, then its downstream;
- any other bundled file (the partitioned releases read them): the release jobs (each partition's loader
  skips content it already holds), then their downstream;
- a dbt node whose SQL, config, columns, tests or dependencies changed (node fingerprints from the dbt
  manifest, the equivalent of ``state:modified``): that node and its downstream;
- files waiting in the partner landing folder: the partner extracts, then their downstream;
- the code (``orchestration/``, Great Expectations suites, the environment lock, the dbt macros and project
  config), the settings (mode, as-of date, demo extracts, police.uk range), or a missing warehouse / state:
  a full build.

Nothing changed → nothing runs. The state is written only after a build in which every job succeeded,
so a failed or killed build is planned again in full next time. File contents are hashed (sha256); a
file whose size and modification time are unchanged since the last build reuses its recorded hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from orchestration.lib.warehouse import transaction_on

STATE_VERSION = 1
SPLIT_BOUNDARIES = "boundaries/wales_lsoa21_bgc.geojson"


def _sha_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(root: Path, patterns: tuple[str, ...], previous: dict | None = None) -> dict[str, dict]:
    """{relative path: {size, mtime_ns, sha256}} for the files under root matching any glob pattern; a
    file whose size and mtime equal the previous record keeps its recorded hash (no re-read)."""
    previous = previous or {}
    found: dict[str, dict] = {}
    if not root.exists():
        return found
    for pattern in patterns:
        for path in root.glob(pattern):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root).as_posix()
            stat = path.stat()
            old = previous.get(rel)
            if old and old.get("size") == stat.st_size and old.get("mtime_ns") == stat.st_mtime_ns:
                found[rel] = old
            else:
                found[rel] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _sha_file(path)}
    return dict(sorted(found.items()))


def _digest(records: dict[str, dict]) -> str:
    return hashlib.sha256(json.dumps({k: v["sha256"] for k, v in records.items()}, sort_keys=True).encode()).hexdigest()


# the parts of a dbt manifest node that decide what it builds and tests (state:modified compares the same)
_NODE_KEYS = ("checksum", "config", "columns", "depends_on", "raw_code", "test_metadata", "unrendered_config")


def dbt_node_fingerprints(manifest_path: Path, manifest: dict | None = None) -> dict[str, str]:
    """{unique_id: fingerprint} for every model, seed, snapshot and test in the dbt manifest (``manifest``: the
    same file already read)."""
    manifest = manifest if manifest is not None else json.loads(manifest_path.read_text())
    prints = {}
    for uid, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") not in {"model", "seed", "snapshot", "test"}:
            continue
        config = {k: v for k, v in node.get("config", {}).items() if k not in {"meta"}}
        body = {k: node.get(k) for k in _NODE_KEYS if k != "config"} | {"config": config}
        prints[uid] = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return prints


# The code each model was last built with, kept in the warehouse: the daemon may rebuild some police.uk months
# alone only if every model was last built with the dbt project as it is now (after a code change without a full
# build, months rebuilt alone would mix old and new code in one table). `make run` answers the same question with
# its plan (a changed dbt node or macro is a full build).
MODEL_CODE_TABLE = "raw.build_dbt_code"


def model_code_fingerprints(manifest_path: Path) -> dict[str, str]:
    """{model unique_id: fingerprint of its node and of every macro in the manifest (dbt's own and adapters'
    included: a dbt upgrade is a code change too)}."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    macros = hashlib.sha256(json.dumps(sorted((uid, m.get("macro_sql")) for uid, m in manifest.get("macros", {}).items()),
                                       ensure_ascii=False).encode("utf-8")).hexdigest()
    return {uid: hashlib.sha256(f"{fingerprint}|{macros}".encode()).hexdigest()
            for uid, fingerprint in dbt_node_fingerprints(manifest_path, manifest).items() if uid.startswith("model.")}


def _table_exists(con, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(con.execute("select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                            [schema, table]).fetchone()[0])


def models_built_with_other_code(con, current: dict[str, str]) -> list[str]:
    """The models whose recorded code (MODEL_CODE_TABLE) is not ``current`` (all of them before the first record)."""
    known = (dict(con.execute(f"select unique_id, fingerprint from {MODEL_CODE_TABLE}").fetchall())
             if _table_exists(con, MODEL_CODE_TABLE) else {})
    return sorted(uid for uid, fingerprint in current.items() if known.get(uid) != fingerprint)


def record_model_code(con, current: dict[str, str], built: list[str]) -> None:
    """``built`` (model unique_ids a dbt build just built) were built with the ``current`` code."""
    con.execute(f"create table if not exists {MODEL_CODE_TABLE} (unique_id varchar primary key, fingerprint varchar, "
                "built_at timestamp)")
    con.executemany(f"insert or replace into {MODEL_CODE_TABLE} values (?, ?, now()::timestamp)",
                    [[uid, current.get(uid)] for uid in built])


# The police.uk loads the crime models were last built from, kept in the warehouse: (month, force, load id) for
# every load in raw.police_uk_street_crimes when a dbt build that built every crime model began. A month whose
# loads in the raw table differ (a new load, a month never built) has rows the marts do not show yet: its build
# was killed twice (the daemon retries once), failed, or never started (a load run killed after writing some
# months, whose retry then found them unchanged). Every incremental build rebuilds those months too, and in live
# mode a sensor starts a build for them (defs/delivery.py).
POLICE_LOADS_TABLE = "raw.build_police_loads"
POLICE_RAW_TABLE = "raw.police_uk_street_crimes"


def police_loads(con) -> list[tuple[str, str, str]]:
    """(month, force_id, load_id) of every police.uk load the raw table holds, in order."""
    if not _table_exists(con, POLICE_RAW_TABLE):
        return []
    return con.execute(f"select distinct month, force_id, load_id from {POLICE_RAW_TABLE} order by all").fetchall()


def police_months_not_built(con, loads: list[tuple[str, str, str]] | None = None) -> list[str] | None:
    """The months of the raw table whose loads (``loads``: police_loads(con), already read) are not the ones the
    crime models were last built from; None when no build has been recorded yet (a warehouse built before the
    record existed: not known)."""
    if not _table_exists(con, POLICE_LOADS_TABLE):
        return None
    loads = police_loads(con) if loads is None else loads
    built = set(con.execute(f"select month, force_id, load_id from {POLICE_LOADS_TABLE}").fetchall())
    return sorted({month for month, force, load in loads if (month, force, load) not in built})


def record_police_loads(con, loads: list[tuple[str, str, str]], months: list[str] | None) -> None:
    """A dbt build that began when the raw table held ``loads`` built every crime model: for ``months`` (an
    incremental build) or every month (None: a full build). One transaction. The first record comes from a full
    build: an incremental one on a warehouse with no record (built before it existed) leaves it unknown rather
    than make every other month look unbuilt."""
    if months is not None and not _table_exists(con, POLICE_LOADS_TABLE):
        return
    with transaction_on(con):
        con.execute(f"create table if not exists {POLICE_LOADS_TABLE} (month varchar, force_id varchar, "
                    "load_id varchar, built_at timestamp)")
        if months is None:
            con.execute(f"delete from {POLICE_LOADS_TABLE}")
        else:
            con.execute(f"delete from {POLICE_LOADS_TABLE} where month in (select unnest(?::varchar[]))", [months])
        rows = [[m, f, load] for m, f, load in loads if months is None or m in months]
        if rows:
            con.executemany(f"insert into {POLICE_LOADS_TABLE} values (?, ?, ?, now()::timestamp)", rows)


def models_downstream_of(manifest: dict, source_name: str) -> set[str]:
    """The unique_ids of every model downstream of the dbt source table ``source_name`` (e.g.
    'raw.police_uk_street_crimes')."""
    children = manifest.get("child_map", {})
    starts = [uid for uid, s in manifest.get("sources", {}).items()
              if f"{s.get('source_name')}.{s.get('name')}" == source_name]
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return {uid for uid in seen if uid.startswith("model.")}


def landing_waiting(landing_dir: Path) -> list[str]:
    """Partner files waiting in the landing folder, as the ingestion sees them (landing.scan: markers, partial
    copies, hidden folders and the files claimed after reading are not files to read)."""
    from orchestration.lib.partner_extracts.landing import scan

    return sorted(Path(f.relative).as_posix() for f in scan(landing_dir))


@dataclass
class Inputs:
    """Everything a build reads, fingerprinted."""

    snapshots: dict[str, dict]
    code: dict[str, dict]
    code_digest: str
    dbt_nodes: dict[str, str]
    settings: dict[str, str]
    landing: list[str]

    def to_state(self) -> dict:
        return {"version": STATE_VERSION, "snapshots": self.snapshots, "code": self.code,
                "code_digest": self.code_digest, "dbt_nodes": self.dbt_nodes, "settings": self.settings}


# A change to any of these means a full build. The dbt macros are here because a node's manifest entry names
# the macros it calls but not their text; dbt_project.yml and profiles.yml configure every node.
CODE_PATTERNS = ("orchestration/**/*.py", "orchestration/**/*.j2", "orchestration/**/*.po", "orchestration/**/*.css",
                 "orchestration/**/*.js", "orchestration/**/*.svg",
                 "orchestration/dagster.yaml", "expectations/*.json", "pyproject.toml", "uv.lock",
                 "docs/delivery/*.csv", "dbt_project/macros/*.sql", "dbt_project/*.yml")


def collect_inputs(repo_root: Path, snapshots_dir: Path, manifest_path: Path, landing_dir: Path,
                   settings: dict[str, str], previous: dict | None = None) -> Inputs:
    previous = previous or {}
    snapshots = hash_tree(snapshots_dir, ("**/*",), previous.get("snapshots"))
    code = hash_tree(repo_root, CODE_PATTERNS, previous.get("code"))
    return Inputs(snapshots=snapshots, code=code, code_digest=_digest(code),
                  dbt_nodes=dbt_node_fingerprints(manifest_path), settings=settings,
                  landing=landing_waiting(landing_dir))


@dataclass
class Plan:
    full: bool = False
    reasons: list[str] = field(default_factory=list)
    police_months: list[str] = field(default_factory=list)  # YYYY-MM whose bundled files changed
    raw_tables: list[str] = field(default_factory=list)  # whole-file datasets whose files changed
    releases: bool = False  # some file read by the partitioned releases changed
    dbt_nodes: list[str] = field(default_factory=list)  # dbt unique ids added or modified
    partner: bool = False  # files wait in the landing folder (or the demo extracts are to be dropped)
    drop_demo: bool = False

    @property
    def nothing(self) -> bool:
        return not (self.full or self.police_months or self.raw_tables or self.releases or self.dbt_nodes
                    or self.partner)

    def describe(self) -> str:
        if self.full:
            return "full build: " + "; ".join(self.reasons)
        if self.nothing:
            return "nothing changed since the last complete build"
        return "only what changed: " + "; ".join(self.reasons)


def make_plan(inputs: Inputs, previous: dict | None, warehouse_exists: bool, dataset_files: dict[str, tuple[str, ...]],
              demo: bool) -> Plan:
    """Compare the inputs with the state of the last complete build. dataset_files maps each whole-file
    raw table to its snapshot files (relative paths)."""
    plan = Plan()
    if not warehouse_exists:
        plan.full, plan.reasons = True, ["no warehouse yet"]
    elif not previous or previous.get("version") != STATE_VERSION:
        plan.full, plan.reasons = True, ["no record of a complete build"]
    elif previous.get("code_digest") != inputs.code_digest:
        changed = sorted(k for k in set(inputs.code) | set(previous.get("code", {}))
                         if inputs.code.get(k, {}).get("sha256") != previous.get("code", {}).get(k, {}).get("sha256"))
        plan.full, plan.reasons = True, [f"code changed ({', '.join(changed[:3])}{' …' if len(changed) > 3 else ''})"]
    elif previous.get("settings") != inputs.settings:
        diff = sorted(k for k in set(inputs.settings) | set(previous.get("settings", {}))
                      if inputs.settings.get(k) != previous.get("settings", {}).get(k))
        plan.full, plan.reasons = True, [f"settings changed ({', '.join(diff)})"]
    if plan.full:
        plan.drop_demo = demo
        plan.partner = True
        return plan

    old_files = previous.get("snapshots", {})
    changed = sorted(k for k in set(inputs.snapshots) | set(old_files)
                     if inputs.snapshots.get(k, {}).get("sha256") != old_files.get(k, {}).get("sha256"))
    by_file = {f: table for table, files in dataset_files.items() for f in files}
    for rel in changed:
        parts = rel.split("/")
        name = parts[-1]
        if name.startswith(("README", "PROVENANCE")):
            continue  # documentation beside the data: read by people, not by a loader
        if len(parts) == 3 and parts[0] == "police_uk" and name.endswith("-street.csv"):
            plan.police_months.append(name[:7])
            continue
        if rel in by_file:
            plan.raw_tables.append(by_file[rel])
        elif rel == SPLIT_BOUNDARIES:
            pass
        else:
            plan.releases = True
        if rel == SPLIT_BOUNDARIES:
            # the police loader places crimes in split 2011 LSOAs with these polygons: every month again
            plan.police_months.append("*")
    plan.police_months = sorted(set(plan.police_months))
    plan.raw_tables = sorted(set(plan.raw_tables))
    plan.police_months.sort()
    if plan.police_months:
        plan.reasons.append("police.uk months " + ", ".join(plan.police_months))
    if plan.raw_tables:
        plan.reasons.append("raw " + ", ".join(sorted(plan.raw_tables)))
    if plan.releases:
        plan.reasons.append("bundled release files")
    old_nodes = previous.get("dbt_nodes", {})
    plan.dbt_nodes = sorted(uid for uid, fp in inputs.dbt_nodes.items() if old_nodes.get(uid) != fp)
    if plan.dbt_nodes:
        plan.reasons.append(f"{len(plan.dbt_nodes)} dbt node(s) changed")
    if inputs.landing:
        plan.partner = True
        plan.reasons.append(f"{len(inputs.landing)} partner file(s) waiting")
    return plan


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_state(path: Path, inputs: Inputs, build_id: str, started_at: datetime | None = None) -> None:
    """Atomically record the inputs of a complete build (written last, after every job succeeded)."""
    state = inputs.to_state() | {"build_id": build_id, "completed_at": datetime.now(timezone.utc).isoformat(),
                                 "started_at": (started_at or datetime.now(timezone.utc)).isoformat()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)
