"""The session's read-only warehouse connection, in a module imported under one name only (``tests.session_readers``),
so a test can close it before this process writes the file (conftest itself may be imported twice)."""

from __future__ import annotations


_READERS: list = []


def release_session_readers() -> None:
    """Close the session's read-only connection(s), if any were opened, before this process writes the file."""
    for reader in _READERS:
        reader.release()


class SessionReader:
    """A read-only connection to the session's warehouse, opened when first used. A test that writes to that
    warehouse in this process (a second build) calls release() first: DuckDB refuses a read-write connection
    to a file this process already holds read-only; the next query opens the reader again."""

    def __init__(self, path):
        self.path = path
        self._con = None
        _READERS.append(self)

    def _connection(self):
        import duckdb

        if self._con is None:
            self._con = duckdb.connect(str(self.path), read_only=True)
        return self._con

    def __getattr__(self, name):
        return getattr(self._connection(), name)

    def release(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def query_warehouse(live, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one query on a test's own warehouse (a WarehouseResource), through a short read-only connection."""
    import duckdb

    con = duckdb.connect(str(live.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
