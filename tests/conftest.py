"""Test session setup: every test writes under a temporary data dir, never the developer's data/.

The environment is set before anything imports ``orchestration``, because the Dagster definitions
read their paths once at import.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = REPO / "data" / "snapshots"
# Guarded so that importing this module a second time (as `tests.conftest`) cannot re-point the session.
if "_COHESION_TEST_SESSION_DIR" not in os.environ:
    os.environ["_COHESION_TEST_SESSION_DIR"] = tempfile.mkdtemp(prefix="cohesion-tests-")
SESSION_DIR = Path(os.environ["_COHESION_TEST_SESSION_DIR"])

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

# the headless-Chromium fixture every browser test uses (tests/browser.py)
from tests.browser import browser  # noqa: E402,F401


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def built():
    """The whole asset graph materialized in-process once: police.uk months, then everything else.

    Runs the same jobs as ``make run`` against a real Dagster instance (the repo's dagster.yaml) and
    a real DuckDB file, with real ``dbt build``.
    """
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
