"""A second writer waits for the DuckDB file lock instead of failing the run at once."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import pytest

from orchestration.lib.warehouse import connect

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("create table if not exists t as select 1 as x")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def hold_lock(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


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
