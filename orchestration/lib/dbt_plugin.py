"""dbt-duckdb plugin: gives every dbt connection the exception engine's exact statistics
(``orchestration.lib.duckdb_functions``), and makes a dbt started by a Dagster step end with the process that
started it. Imported only inside the dbt process (profiles.yml ``plugins``)."""

from __future__ import annotations

import os
import signal
import threading
import time

from dbt.adapters.duckdb.plugins import BasePlugin

from orchestration.lib.duckdb_functions import register
from orchestration.settings import DBT_PARENT_ENV

WATCH_SECONDS = 0.5


def die_with_parent() -> bool:
    """A dbt whose Dagster process is killed (kill -9, the machine's OOM killer) would otherwise run on alone:
    it would hold the warehouse's write lock until it finished, so the next build, or the daemon's retry of the
    run, waited for it, and it would go on writing after Dagster had marked its run failed. Here a thread watches
    the parent process and ends dbt (SIGTERM) within WATCH_SECONDS of its death; a dbt whose parent died before
    this point ends at once. DuckDB keeps the file consistent: a model dbt had not finished stays as it was
    before this build. (Not the kernel's PR_SET_PDEATHSIG: it is kept per thread, and this runs in one of dbt's
    worker threads, which ends before dbt does.)

    Only for a dbt whose parent is the process named by COHESION_DBT_PARENT_PID (defs/dbt.py sets it): dbt run
    by hand from a shell is left alone. True when watching."""
    expected = os.environ.get(DBT_PARENT_ENV, "")
    if not expected.isdigit():
        return False
    parent = int(expected)
    if os.getppid() != parent:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:  # it died before this point: no one is left to read the result
            os.kill(os.getpid(), signal.SIGTERM)
        except OSError:
            pass
        return False  # another process in between (dbt started by something else): leave it

    def watch():
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    return True


class Plugin(BasePlugin):
    def initialize(self, plugin_config):
        die_with_parent()

    def configure_connection(self, conn):
        register(conn)
