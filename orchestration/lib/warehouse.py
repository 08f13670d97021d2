"""DuckDB warehouse access.

DuckDB allows one writing process per database file; a second process cannot even open it read-only
while the first holds it. Dagster serialises writers with the ``warehouse`` pool; ``connect`` also
waits (bounded, saying for whom) for a lock held by someone else, e.g. a BI user who opened the file by
hand, instead of failing the run at once; dbt's own connection is guarded the same way (defs/dbt.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

# How long a build waits for a reader (a BI tool, a notebook) to close the warehouse before it gives up;
# it says what it waits for every LOCK_REPORT_SECONDS. COHESION_LOCK_WAIT_SECONDS moves the limit.
LOCK_WAIT_SECONDS = float(os.environ.get("COHESION_LOCK_WAIT_SECONDS", "600"))
LOCK_REPORT_SECONDS = 30.0
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
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


def lock_holder(message: str) -> str:
    """'python3 (PID 1234)' from DuckDB's lock error, or 'another process' when it does not say."""
    match = _HOLDER.search(message)
    return f"{match['program']} (PID {match['pid']})" if match else "another process"


_log = logging.getLogger("cohesion.warehouse")


def connect(path: Path, read_only: bool = False, wait_seconds: float | None = None, log=None):
    """Open the warehouse, waiting up to ``wait_seconds`` (default LOCK_WAIT_SECONDS) while another process
    holds the file lock, and saying who holds it (at once, then every LOCK_REPORT_SECONDS) — never silently.
    ``log`` is a callable taking a message (default: the ``cohesion.warehouse`` logger, warning level)."""
    path = Path(path)
    wait_seconds = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    log = log or _log.warning
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    deadline = started + wait_seconds
    delay, next_report = 0.2, started
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                raise
            now = time.monotonic()
            if now >= next_report:
                log(f"waiting for {lock_holder(str(exc))} to close {path} (waited {now - started:.0f} s of at most "
                    f"{wait_seconds:.0f} s; COHESION_LOCK_WAIT_SECONDS): a reader holding the live warehouse "
                    "delays the build — BI tools should read the published copy")
                next_report = now + LOCK_REPORT_SECONDS
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if not read_only:
            restrict_mode(path)
        return con


def wait_until_writable(path: Path, wait_seconds: float | None = None, log=None) -> None:
    """Block (with messages) until this process could open the warehouse for writing; for a subprocess
    (dbt) that is about to open it itself."""
    connect(path, wait_seconds=wait_seconds, log=log).close()


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
        with transaction_on(con):
            yield con
    finally:
        con.close()


@contextmanager
def transaction_on(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A transaction on a connection the caller keeps open (e.g. for many loads in a run, which saves opening
    the file and a checkpoint per load): committed on success, rolled back on any error."""
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def fetch_row(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> tuple | None:
    """First row of a query, with the result fully consumed (DuckDB 2 refuses new work on a
    connection while a result is unfinished)."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


def fetch_value(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    row = fetch_row(con, query, params)
    return row[0] if row else None


def quote_identifier(name: str) -> str:
    """A DuckDB identifier written into SQL: "name", inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_string(text: str) -> str:
    """A DuckDB string literal written into SQL (where a parameter cannot go: COPY targets, IN lists of a query
    text): 'text', inner quotes doubled."""
    return "'" + str(text).replace("'", "''") + "'"


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


class RunConnection:
    """The warehouse connection a snapshot run's force-month loads share (each load is still one transaction):
    opening the file for every load and the checkpoint on closing it took two thirds of the load time. Opened
    at the first load; dropped after an unexpected error, so that a connection it broke cannot fail the loads
    after it (the next load opens a new one, as every load did before).

    While it is open DuckDB checkpoints the write-ahead log into the file every CHECKPOINT_THRESHOLD instead
    of every 16 MB (its default): each checkpoint cost ~0.5 s however little it wrote, ~35 of them at 10 years
    of history. Every commit is in the log on disk either way; closing checkpoints the rest."""

    CHECKPOINT_THRESHOLD = "64MB"

    def __init__(self, path: Path):
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None

    def get(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = connect(self.path)
            self._con.execute(f"set checkpoint_threshold = '{self.CHECKPOINT_THRESHOLD}'")
        return self._con

    def close(self) -> None:
        con, self._con = self._con, None
        if con is None:
            return
        try:
            # a setting of the database, not of this connection: back to DuckDB's default for whoever else
            # has the file open in this process
            con.execute("reset checkpoint_threshold")
        except duckdb.Error:
            pass  # a broken connection: closing it is all that is left to do
        try:
            con.close()
        except duckdb.Error:
            pass
