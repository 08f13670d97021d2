"""load_pull: all-or-nothing writes, and 'unchanged' decided on the rows that would be written."""

from __future__ import annotations

import duckdb
import polars as pl

from orchestration.lib.loaders import load_pull
from orchestration.lib.sources.base import Pull


def pull(frame: pl.DataFrame, sha: str = "same-source-bytes") -> Pull:
    return Pull(source="test", dataset="d", locations=["file.csv"], sha256=sha, frame=frame, mode="snapshot")


def rows(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select * from raw.t order by 1").fetchall()
    finally:
        con.close()


def test_identical_rows_are_unchanged_but_a_corrected_reader_reloads(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    first = pl.DataFrame({"code": ["A", "B"], "n": [1, 2]})
    assert load_pull(pull(first), "t", warehouse).outcome == "loaded"
    assert load_pull(pull(first), "t", warehouse).outcome == "unchanged"
    # same source file (same sha256), but the reader now drops a row it used to mis-read
    corrected = pl.DataFrame({"code": ["A"], "n": [1]})
    assert load_pull(pull(corrected), "t", warehouse).outcome == "loaded"
    assert rows(warehouse) == [("A", 1)]
    # and a different source with identical content is still 'unchanged'
    assert load_pull(pull(corrected, sha="other-bytes"), "t", warehouse).outcome == "unchanged"


def test_a_partition_replaces_only_its_rows(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    load_pull(pull(pl.DataFrame({"code": ["A"], "n": [1]})), "t", warehouse, partition_column="year", partition_key="2019")
    load_pull(pull(pl.DataFrame({"code": ["B"], "n": [2]})), "t", warehouse, partition_column="year", partition_key="2020")
    load_pull(pull(pl.DataFrame({"code": ["C"], "n": [3]}), sha="x"), "t", warehouse, partition_column="year",
              partition_key="2019")
    assert rows(warehouse) == [("B", 2, "2020"), ("C", 3, "2019")]


def test_a_table_edited_since_its_load_is_rewritten_from_the_source(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    frame = pl.DataFrame({"code": ["A", "B", "C"], "n": [1, 2, 3]})
    assert load_pull(pull(frame), "t", warehouse).outcome == "loaded"
    con = duckdb.connect(str(warehouse))
    con.execute("delete from raw.t where code = 'B'")
    con.close()
    assert load_pull(pull(frame), "t", warehouse).outcome == "loaded"
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select code from raw.t order by code").fetchall() == [("A",), ("B",), ("C",)]
    con.close()
