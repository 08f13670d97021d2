"""DuckDB warehouse access.

DuckDB allows one writing process per database file; a second process cannot even open it read-only
while the first holds it. Dagster serialises writers with the ``warehouse`` pool; ``connect`` also
waits (bounded) for a lock held by someone else, e.g. a BI user who opened the file by hand, instead
of failing the run at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

LOCK_WAIT_SECONDS = 120.0
# The warehouse holds redacted partner data and partner file names: owner read-write, group read (BI users
# in the service's group), never world-readable.
WAREHOUSE_MODE = 0o640

LOAD_LOG_DDL = """
create schema if not exists raw;
create table if not exists raw.load_log (
    load_id varchar primary key,
    source varchar not null,          -- e.g. police_uk
    dataset varchar not null,         -- e.g. street_crimes
    partition_key varchar,            -- e.g. 2024-06 for monthly data
    location varchar not null,        -- file path (snapshot mode) or URL (live mode)
    release varchar,                  -- release / vintage of the data
    retrieved_at timestamp not null,
    sha256 varchar,
    row_count bigint,
    licence varchar,
    mode varchar not null,            -- snapshot | live
    outcome varchar not null,         -- loaded | unchanged | rejected
    message varchar,
    content_sha256 varchar            -- hash of the validated rows written (decides 'unchanged')
);
-- warehouses built before content_sha256 existed
alter table raw.load_log add column if not exists content_sha256 varchar;
"""


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def connect(path: Path, read_only: bool = False, wait_seconds: float = LOCK_WAIT_SECONDS):
    """Open the warehouse, waiting up to ``wait_seconds`` if another process holds the file lock."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if not read_only:
            restrict_mode(path)
        return con


def restrict_mode(path: Path) -> None:
    """Take away any world access from the warehouse file and its write-ahead log."""
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            if candidate.stat().st_mode & 0o007:
                candidate.chmod(WAREHOUSE_MODE)
        except FileNotFoundError:
            pass


@contextmanager
def transaction(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with an open transaction: committed on success, rolled back on any error."""
    con = connect(path)
    try:
        con.execute("begin transaction")
        yield con
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.close()


def fetch_row(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> tuple | None:
    """First row of a query, with the result fully consumed (DuckDB 2 refuses new work on a
    connection while a result is unfinished)."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


def fetch_value(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    row = fetch_row(con, query, params)
    return row[0] if row else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def log_load(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    dataset: str,
    location: str,
    release: str | None,
    sha256: str | None,
    row_count: int | None,
    licence: str,
    mode: str,
    outcome: str,
    partition_key: str | None = None,
    message: str | None = None,
    content_sha256: str | None = None,
) -> str:
    con.execute(LOAD_LOG_DDL)
    retrieved_at = utc_now()
    load_id = hashlib.sha1(
        f"{source}|{dataset}|{partition_key}|{location}|{retrieved_at.isoformat()}".encode()
    ).hexdigest()
    con.execute(
        """
        insert into raw.load_log (load_id, source, dataset, partition_key, location, release, retrieved_at,
                                  sha256, row_count, licence, mode, outcome, message, content_sha256)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [load_id, source, dataset, partition_key, location, release, retrieved_at, sha256,
         row_count, licence, mode, outcome, message, content_sha256],
    )
    return load_id
