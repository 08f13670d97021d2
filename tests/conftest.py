"""Test session setup: every test writes under a temporary data dir, never the developer's data/.

The environment is set before anything imports ``orchestration``, because the Dagster definitions
read their paths once at import.

``make test`` runs the suite in two pytest-xdist worker processes (``-n 2``). Each worker is a session of its
own, with its own data dir, Dagster instance and Chromium; what they share is arranged here:

* the session build (``built``) runs once: the first worker to need it builds, keeps a copy of what it built
  beside the workers' dirs, and any other worker copies that into its own dir when it first needs it (a few
  seconds instead of another ~140 s build);
* the tests are handed out in an order that lets the other worker run the tests that need no build while the
  first one builds (``pytest_collection_modifyitems``);
* the temporary dirs are removed once, by the process that made them, when every worker is done.

Without ``-n`` (``uv run pytest tests/test_x.py``) none of this applies: one session, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "data" / "snapshots"
# the xdist worker's id ("gw0", "gw1", ...); empty in a run without workers
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# Guarded so that importing this module a second time (as `tests.conftest`) cannot re-point the session. With
# xdist, the controller process makes the dir before it starts the workers, which inherit the variable.
if "_COHESION_TEST_SESSION_DIR" not in os.environ:
    os.environ["_COHESION_TEST_SESSION_DIR"] = tempfile.mkdtemp(prefix="cohesion-tests-")
    os.environ["_COHESION_TEST_SESSION_OWNER"] = str(os.getpid())
SESSION_BASE = Path(os.environ["_COHESION_TEST_SESSION_DIR"])
# every worker has a session dir of its own below the shared one; a run without workers uses the shared one
SESSION_DIR = SESSION_BASE / WORKER if WORKER else SESSION_BASE
SESSION_DIR.mkdir(exist_ok=True)

os.environ["COHESION_DATA_DIR"] = str(SESSION_DIR / "data")
os.environ["COHESION_WAREHOUSE_PATH"] = str(SESSION_DIR / "data" / "warehouse.duckdb")
os.environ["DAGSTER_HOME"] = str(SESSION_DIR / "dagster_home")
os.environ["COHESION_MODE"] = "snapshot"
os.environ.pop("COHESION_SNAPSHOTS_DIR", None)
os.environ["DO_NOT_TRACK"] = "1"
# The session build writes the atlas without its 44 profile PDFs (~70 s of WeasyPrint): test_profile_document.py
# renders and reads the ones it checks, and tests/test_atlas.py checks that unchanged PDFs are reused.
os.environ["COHESION_ATLAS_PDF"] = "0"
# Offline always: a test that forgets to point police.uk's published-months discovery at its local server gets a
# refused connection on a closed local port, never the real data.police.uk.
os.environ.setdefault("POLICE_UK_API_URL", "http://127.0.0.1:9/api")
os.environ.setdefault("POLICE_UK_ARCHIVE_URL", "http://127.0.0.1:9/data/archive")
if WORKER:
    # dagster-dbt gives each dbt run a folder under $DBT_TARGET_PATH (default dbt_project/target) and
    # orchestration/defs/dbt.py keeps only the newest five there: with two workers in one folder, one worker's
    # clean-up could delete the folder of a dbt run the other has in progress. One folder per worker; the
    # partial-parse file dagster-dbt starts a data dir's first dbt run from stays the shared dbt_project/target one,
    # through a link (later runs start from the data dir's own: defs/dbt.py partial_parse_cache).
    _dbt_target = SESSION_DIR / "dbt_target"
    _dbt_target.mkdir(exist_ok=True)
    _partial_parse = _dbt_target / "partial_parse.msgpack"
    if not _partial_parse.is_symlink():
        _partial_parse.symlink_to(REPO / "dbt_project" / "target" / "partial_parse.msgpack")
    os.environ["DBT_TARGET_PATH"] = str(_dbt_target)

# the headless-Chromium fixture every browser test uses (tests/browser.py)
from tests.browser import browser  # noqa: E402,F401


def pytest_sessionfinish(session, exitstatus):
    # With xdist the controller made the dir and ends last: the workers leave it (another worker may still read
    # the build they copied from). Without xdist this process made it.
    if os.environ.get("_COHESION_TEST_SESSION_OWNER") == str(os.getpid()):
        shutil.rmtree(SESSION_BASE, ignore_errors=True)


# ------------------------------------------------------------------------------------------ the session build
BUILD_NEEDED_BY = {"built", "warehouse", "atlas_warehouse_path"}  # atlas_warehouse_path asks for `built` itself


def _needs_build(item) -> bool:
    return bool(BUILD_NEEDED_BY & set(getattr(item, "fixturenames", ())))


def _build() -> dict:
    import dagster as dg

    from orchestration.build import build_all, prepare_instance
    from orchestration.definitions import police_uk_monthly_partitions
    from orchestration.settings import get_settings

    prepare_instance()
    instance = dg.DagsterInstance.get()
    results = build_all(instance)
    assert all(r.success for r in results.values()), [n for n, r in results.items() if not r.success]
    ingest, build = results["police_uk_monthly_ingest"], results["warehouse_build"]
    keys = police_uk_monthly_partitions.get_partition_keys()
    settings = get_settings()
    # the reference datasets load in their own run before the rest of warehouse_build (build.build_all)
    return {"ingest": ingest, "build": build, "reference": results["reference_loads"], "settings": settings,
            "instance": instance, "partition_keys": keys}


RUNS = ("ingest", "build", "reference")
SHARED_BUILD = SESSION_BASE / "build"  # the first worker's build as it finished, for the other workers to copy
COPIED = ("data", "dagster_home")  # what the build writes under a session dir


def _run_summary(result) -> dict:
    """What a test reads from a build run's result, to check a copy's runs read from the instance say the same."""
    return {"run_id": result.run_id, "success": result.success,
            "checks": sorted([e.check_name, e.passed] for e in result.get_asset_check_evaluations()),
            "materializations": len(result.get_asset_materialization_events())}


def _share_build(built: dict) -> None:
    """Copy what this worker built (nothing has changed it yet) to SHARED_BUILD for the other workers."""
    staging = SESSION_BASE / f"build.{WORKER}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in COPIED:
        shutil.copytree(SESSION_DIR / name, staging / name, symlinks=True)
    (staging / "build.json").write_text(json.dumps({
        "session_dir": str(SESSION_DIR), "runs": {name: _run_summary(built[name]) for name in RUNS}}))
    staging.rename(SHARED_BUILD)


def _relocate_warehouse(path: Path, old: str, new: str) -> None:
    """The build records some absolute paths in the warehouse (each partner file's restricted original, each
    message's .eml): in the copy they name this worker's files, as they would had it built them itself."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        columns = con.execute(
            """select c.table_schema, c.table_name, c.column_name from information_schema.columns c
               join information_schema.tables t using (table_catalog, table_schema, table_name)
               where t.table_type = 'BASE TABLE' and c.data_type = 'VARCHAR'""").fetchall()
        for schema, table, column in columns:
            con.execute(f'update "{schema}"."{table}" set "{column}" = replace("{column}", ?, ?) '
                        f'where contains("{column}", ?)', [old, new, old])
        left = [f"{s}.{t}.{c}" for s, t, c in columns
                if con.execute(f'select count(*) from "{s}"."{t}" where contains("{c}", ?)', [old]).fetchone()[0]]
        assert not left, f"the copied warehouse still names the first worker's dir in {left}"
    finally:
        con.close()


def _stored_run(instance, run_id: str):
    """A finished run as the copied Dagster instance holds it, read through Dagster's own ExecutionResult (the
    base of ``materialize``'s result): success, run_id, dagster_run, its events, its check evaluations."""
    from dagster._core.execution.execution_result import ExecutionResult

    class StoredRun(ExecutionResult):
        def __init__(self):
            self._run = instance.get_run_by_id(run_id)
            assert self._run is not None, f"run {run_id} is not in the copied instance"
            self._events = [r.dagster_event for r in instance.all_logs(run_id) if r.is_dagster_event]

        @property
        def job_def(self):
            raise NotImplementedError("a run read from the instance has no job definition")

        def _get_output_for_handle(self, handle, output_name):
            raise NotImplementedError("a run read from the instance keeps no output values")

        @property
        def dagster_run(self):
            return self._run

        @property
        def all_events(self):
            return self._events

        @property
        def run_id(self) -> str:
            return run_id

    return StoredRun()


def _adopt_build() -> dict:
    """This worker's session becomes a copy of the shared build: its data dir and Dagster instance, the runs read
    from the instance (the same runs, checked against what the building worker's results said)."""
    import dagster as dg

    from orchestration.build import prepare_instance
    from orchestration.definitions import police_uk_monthly_partitions
    from orchestration.settings import get_settings

    shared = json.loads((SHARED_BUILD / "build.json").read_text())
    for name in COPIED:
        shutil.rmtree(SESSION_DIR / name, ignore_errors=True)  # what earlier tests left in this session's dirs
        shutil.copytree(SHARED_BUILD / name, SESSION_DIR / name, symlinks=True)
    settings = get_settings()
    _relocate_warehouse(settings.warehouse_path, shared["session_dir"] + "/", str(SESSION_DIR) + "/")
    prepare_instance()
    instance = dg.DagsterInstance.get()
    runs = {name: _stored_run(instance, shared["runs"][name]["run_id"]) for name in RUNS}
    for name, run in runs.items():
        assert _run_summary(run) == shared["runs"][name], f"the copied {name} run differs from the one built"
    return {**runs, "settings": settings, "instance": instance,
            "partition_keys": police_uk_monthly_partitions.get_partition_keys()}


@contextlib.contextmanager
def _flock(path: Path, mode: int):
    with open(path, "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def built():
    """The whole asset graph materialized in-process once: police.uk months, then everything else.

    Runs the same jobs as ``make run`` against a real Dagster instance (the repo's dagster.yaml) and
    a real DuckDB file, with real ``dbt build``. Under xdist, one worker builds and the others get a copy of
    that build (module docstring).
    """
    if not WORKER:
        return _build()
    with _flock(SESSION_BASE / "build.lock", fcntl.LOCK_EX):
        if (SHARED_BUILD / "build.json").exists():
            return _adopt_build()
        result = _build()
        _share_build(result)
        return result


UNITS = SESSION_BASE / "xdist_units.json"  # nodeid -> the unit it is handed out in (written by the workers)


def pytest_collection_modifyitems(config, items):
    """Under xdist: the tests of a module that use its module- or class-scoped fixtures are one unit, handed to
    one worker together (the fixture is set up once); every other test is a unit of its own. The units are
    handed out in this order: the first test that needs the session build, so one worker starts building at
    once; every unit that needs no build, which the other worker runs meanwhile; then the rest. Every worker
    collects the same items in the same order, as xdist requires, and writes the same units file for the
    scheduler (``pytest_xdist_make_scheduler``)."""
    if not hasattr(config, "workerinput"):
        return
    units: dict[str, list] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        scopes = {d.scope for defs in (info.name2fixturedefs.values() if info else ()) for d in defs}
        module = item.nodeid.split("::")[0]
        units.setdefault(module if scopes & {"module", "class", "package"} else item.nodeid, []).append(item)
    needing = [unit for unit in units.values() if any(_needs_build(item) for item in unit)]
    rest = [unit for unit in units.values() if not any(_needs_build(item) for item in unit)]
    items[:] = [item for unit in needing[:1] + rest + needing[1:] for item in unit]
    written = UNITS.with_name(f"{UNITS.name}.{WORKER}")
    written.write_text(json.dumps({item.nodeid: key for key, unit in units.items() for item in unit}))
    written.replace(UNITS)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (``make test``): xdist's scope scheduling over this suite's units, in the order the
    workers collected them. (xdist 3.8's own loadgroup scheduler groups nothing under pytest 9: it renames
    item._nodeid, which pytest 9 no longer reads.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        units: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.units is None:  # the workers wrote it before they reported their collection
                self.units = json.loads(UNITS.read_text())
            return self.units.get(nodeid, nodeid)

    config.option.loadscopereorder = False  # the units in collection order (above), not largest first
    return UnitScheduling(config, log)


@pytest.fixture(scope="session")
def warehouse(built):
    """Read-only connection to the built warehouse (closed at the end of the session)."""
    from tests.session_readers import SessionReader

    reader = SessionReader(built["settings"].warehouse_path)
    yield reader
    reader.release()


@pytest.fixture
def fake_server():
    """A real local HTTP server that replays recorded responses (tests/fakeserver.py)."""
    from tests.fakeserver import FakeServer

    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def store(tmp_path):
    """A partner landing folder (one sub-folder per extract type), a restricted store and a DuckDB file."""
    import duckdb

    from orchestration.lib.partner_extracts import contracts

    landing = tmp_path / "landing"
    for name in contracts.extract_types():
        (landing / name).mkdir(parents=True)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield {"landing": landing, "restricted": tmp_path / "restricted", "con": con, "tmp": tmp_path}
    con.close()


@pytest.fixture(scope="session")
def atlas_warehouse_path(request) -> Path:
    """The warehouse the atlas and profile tests read: COHESION_ATLAS_TEST_WAREHOUSE (a copy of a built one, to
    work on the atlas without the session build) or the session build's."""
    configured = os.environ.get("COHESION_ATLAS_TEST_WAREHOUSE")
    if configured:
        return Path(configured)
    return request.getfixturevalue("built")["settings"].warehouse_path
