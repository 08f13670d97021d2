"""Dagster's SQLite instance storage (run history, event log, schedules: $DAGSTER_HOME/history, storage) written
with ``PRAGMA synchronous=NORMAL`` instead of SQLite's default FULL.

Dagster stores every event in its own transaction over a new connection, and in FULL mode each commit waits for
the disk several times: measured here 25 ms an event, and a full build writes ~2,000 events (each dbt model and
test is a materialization or an asset check, each planned first), about 50 s of waiting. NORMAL: ~3 ms. What it
costs: SQLite's documentation says a power failure at the wrong moment could, with a small chance, corrupt a
database in the default rollback-journal mode (a killed process cannot: its writes are with the OS). Only the
Dagster instance is affected (run history the UI shows), never the warehouse, the landing folder or the
restricted store; a team that needs more uses Dagster's Postgres storage (README, "Running it for real").

No Dagster imports: a SQLAlchemy connect hook for sqlite3 connections, installed once per process by the code
location (orchestration.definitions) and `make run` (orchestration.build) before the instance is opened.
"""

from __future__ import annotations

import sqlite3

_installed = False


def _synchronous_normal(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def install() -> None:
    """Every SQLite connection SQLAlchemy opens in this process from now on commits with synchronous=NORMAL."""
    global _installed
    if _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "connect", _synchronous_normal)
    _installed = True

