"""Dagster's SQLite instance storage (run history, event log, schedules: $DAGSTER_HOME/history, storage) made
cheaper to write: ``PRAGMA synchronous=NORMAL`` instead of SQLite's default FULL, and one SQLAlchemy engine per
database file instead of one per event.

Dagster stores every event in its own transaction over a new connection, and in FULL mode each commit waits for
the disk several times: measured on an earlier machine 25 ms an event, and a full build writes ~2,000 events (each
dbt model and test is a materialization or an asset check, each planned first), about 50 s of waiting. NORMAL:
~3 ms. (How much it saves depends on the disk: on a later machine FULL and NORMAL measured the same,
benchmarks/instance_events.py.) What it
costs: SQLite's documentation says a power failure at the wrong moment could, with a small chance, corrupt a
database in the default rollback-journal mode (a killed process cannot: its writes are with the OS). Only the
Dagster instance is affected (run history the UI shows), never the warehouse, the landing folder or the
restricted store; a team that needs more uses Dagster's Postgres storage (README, "Running it for real").

Dagster's SQLite storages also build a new SQLAlchemy engine for every event they write (``create_engine(url,
poolclass=NullPool)`` then ``dispose()``): each new engine initialises its dialect on its first connection and
starts with an empty statement cache, so every insert is compiled again. That was a quarter of the cost of a run's
event and two fifths of an asset materialization's (benchmarks/instance_events.py). ``install`` makes those storages
reuse one engine per database file and connection settings. The engines keep no connection open (NullPool: each
use still opens and closes its own SQLite connection, so locking between processes is unchanged); only the dialect
and the compiled statements are kept, for at most ``MAX_ENGINES`` files (an engine for a run's file is dropped once
runs are many).

Installed once per process by the code location (orchestration.definitions) and `make run` (orchestration.build)
before the instance is opened: the run workers, the code server and make run. The Dagster daemon and the UI,
which never import this project's code, keep Dagster's own behaviour.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict

MAX_ENGINES = 64

# Dagster's modules that open SQLite files with their own module-level name `create_engine` (dagster 1.13)
_DAGSTER_SQLITE_MODULES = (
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
)

_installed = False
_engines: OrderedDict[tuple, object] = OrderedDict()  # shared by the patched modules
_engines_lock = threading.Lock()
engines_created = 0  # for tests and benchmarks: engines made by the reusing create_engine


def _synchronous_normal(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def _reusing(create_engine, engines: OrderedDict | None = None):
    """``create_engine`` that hands back the engine it made before for the same SQLite URL and settings, when
    the engine keeps no connections (NullPool); anything else is passed through unchanged. ``engines``: the
    cache (the module's, shared by every patched module, unless given)."""
    engines = _engines if engines is None else engines
    from sqlalchemy.pool import NullPool

    def reused_engine(url, *args, **kwargs):
        if args or kwargs.get("poolclass") is not NullPool or not str(url).startswith("sqlite"):
            return create_engine(url, *args, **kwargs)
        key = (str(url), repr(sorted(kwargs.items(), key=lambda item: item[0])))
        global engines_created
        with _engines_lock:
            engine = engines.get(key)
            if engine is not None:
                engines.move_to_end(key)
                return engine
            engine = create_engine(url, **kwargs)
            engines_created += 1
            engines[key] = engine
            while len(engines) > MAX_ENGINES:
                engines.popitem(last=False)  # no connection to close (NullPool); in-flight users keep theirs
            return engine

    reused_engine.cohesion_reuses_engines = True
    reused_engine.original = create_engine
    return reused_engine


def install() -> None:
    """Every SQLite connection SQLAlchemy opens in this process from now on commits with synchronous=NORMAL, and
    Dagster's SQLite storages reuse their engines."""
    global _installed
    if _installed:
        return
    import importlib

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "connect", _synchronous_normal)
    for name in _DAGSTER_SQLITE_MODULES:
        module = importlib.import_module(name)
        current = getattr(module, "create_engine", None)
        if current is None:
            raise RuntimeError(f"{name} no longer has create_engine: check lib/sqlite_storage.py against this Dagster")
        if not getattr(current, "cohesion_reuses_engines", False):
            module.create_engine = _reusing(current)
    _installed = True
