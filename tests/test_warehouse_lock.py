"""A second writer waits for the DuckDB file lock instead of failing the run at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import duckdb
import pytest

from orchestration.lib.warehouse import connect

HOLD = """
import sys, time, duckdb
reader = sys.argv[3] == "read"
con = duckdb.connect(sys.argv[1], read_only=reader)
if not reader:
    con.execute("create table if not exists t as select 1 as x")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold_lock(path, seconds: float, mode: str = "write") -> subprocess.Popen:
    """Another process holding the file for ``seconds``: a writer (the default) or a read-only reader."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds), mode], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def hold_reader(path, seconds: float) -> subprocess.Popen:
    return hold_lock(path, seconds, mode="read")


def test_connect_waits_for_another_process_to_release_the_file(tmp_path):
    path = tmp_path / "w.duckdb"
    proc = hold_lock(path, 2.0)
    started = time.monotonic()
    con = connect(path, wait_seconds=30)
    waited = time.monotonic() - started
    assert con.execute("select x from t").fetchall() == [(1,)]
    con.close()
    proc.wait(timeout=10)
    assert 1.0 < waited < 30


def test_connect_gives_up_with_duckdbs_lock_error_after_the_wait(tmp_path):
    path = tmp_path / "w.duckdb"
    proc = hold_lock(path, 5.0)
    try:
        with pytest.raises(duckdb.IOException, match="lock"):
            connect(path, wait_seconds=0.5)
    finally:
        proc.wait(timeout=15)


def test_a_waiting_writer_says_who_it_waits_for(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    proc = hold_reader(path, 2.0)
    said: list[str] = []
    con = connect(path, wait_seconds=30, log=said.append)
    con.close()
    proc.wait(timeout=10)
    assert said and f"(PID {proc.pid})" in said[0] and str(path) in said[0]


def test_dbt_started_while_a_reader_holds_the_warehouse_waits_and_builds(monkeypatch, capfd, tmp_path):
    """A BI reader opens the warehouse just as dbt starts: dbt fails to open it, the asset waits for the reader
    and starts dbt again, and the build succeeds (a real dbt build of one seed, in the test session's warehouse)."""
    import dagster as dg

    from tests.session_readers import release_session_readers

    release_session_readers()  # the session's own read-only connection would hold the file in this process

    from orchestration.defs import dbt as dbt_defs
    from orchestration.settings import get_settings

    path = get_settings().warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(path)).close()
    real_wait = dbt_defs.wait_until_writable
    calls: list[int] = []
    # opened "as dbt starts": the first dbt invocation cannot open the file. The reader stays until the retry: a
    # fixed 20 s was a race with dbt's start-up (a whole-project parse on a busy machine took longer)
    proc = hold_reader(path, 600.0)

    def racy_wait(p, log=None, wait_seconds=None):
        calls.append(1)
        if len(calls) > 1:  # the retry really waits for the reader, which closes the file 2 s later
            threading.Timer(2.0, proc.terminate).start()
            real_wait(p, log=log)

    monkeypatch.setattr(dbt_defs, "wait_until_writable", racy_wait)
    try:
        result = dg.materialize(
            [dbt_defs.cohesion_dbt_assets], resources={"dbt": dbt_defs.dbt_resource()},
            selection=dg.AssetSelection.assets(dg.AssetKey(["ref", "police_force"])), raise_on_error=False,
        )
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
    assert result.success
    assert len(calls) == 2
    assert f"(PID {proc.pid}) opened it as dbt started" in capfd.readouterr().err  # Dagster's console log
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("select count(*) from ref.police_force").fetchone()[0] == 4
    con.close()
    # the run left dbt's parse state in its data dir (defs/dbt.py partial_parse_cache). A dbt run against another
    # data dir's warehouse (another profile: dbt parses the whole project for it) does not replace that state: the
    # next run against the first warehouse parses only what changed, not the whole project (~9 s of CPU)
    seed = dg.AssetSelection.assets(dg.AssetKey(["ref", "police_force"]))
    assert dbt_defs.partial_parse_cache(get_settings().data_dir).is_file()
    with monkeypatch.context() as other:
        other.setenv("COHESION_DATA_DIR", str(tmp_path / "other"))
        other.setenv("COHESION_WAREHOUSE_PATH", str(tmp_path / "other" / "warehouse.duckdb"))
        elsewhere = dg.materialize([dbt_defs.cohesion_dbt_assets], resources={"dbt": dbt_defs.dbt_resource()},
                                   selection=seed)
        assert elsewhere.success
        assert dbt_defs.partial_parse_cache(tmp_path / "other").is_file()
    capfd.readouterr()
    again = dg.materialize([dbt_defs.cohesion_dbt_assets], resources={"dbt": dbt_defs.dbt_resource()}, selection=seed)
    assert again.success
    output = capfd.readouterr()
    assert "Unable to do partial parsing" not in output.out + output.err
