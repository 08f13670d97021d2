"""load_pull: all-or-nothing writes, and 'unchanged' decided on the rows that would be written."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

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


# --- police.uk loads ------------------------------------------------------------------------------------

def test_the_content_hash_is_the_sha256_of_the_rows_as_csv_text():
    """raw.load_log keeps content_sha256 from every earlier load and 'unchanged' is decided on it: the way it
    is computed must give the same hash as it always did (the CSV text of each frame, UTF-8), or every month
    would load again once after an upgrade."""
    import hashlib

    from orchestration.lib.loaders import content_sha256

    rows = pl.DataFrame({"name": ["Ffordd Pen-y-bryn", "Heol Dŵr – â", None], "n": [1, None, 3],
                         "x": [-3.0012345678, 51.5, None]})
    points = pl.DataFrame({"code": ["W01001234"], "d": [12.5]})
    expected = hashlib.sha256(rows.write_csv().encode() + points.write_csv().encode()).hexdigest()
    assert content_sha256(rows, points) == expected


def test_the_months_a_first_load_is_compared_with_are_those_the_whole_table_gives(tmp_path):
    """police_uk_row_drop reads only the force's months within HISTORY_MONTHS of a first load when there are
    at least HISTORY_MONTHS of them (the nearest are then among them); whatever the gaps, the months and row
    counts it compares with must be those the whole table gives (the query it replaced)."""
    import random

    from orchestration.lib.loaders import POLICE_CRIMES_DDL, _loaded_months, _nearest
    from orchestration.lib.police_uk import month_index, month_label

    rng = random.Random(20240630)
    months = [month_label(month_index("2019-01") + i) for i in range(60)]
    held = {"every-month": months, "half": rng.sample(months, 30), "few": rng.sample(months, 8),
            "two-runs": months[:5] + months[40:42], "one": [months[20]], "none": []}
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(POLICE_CRIMES_DDL)
    for force, loaded in held.items():
        for month in loaded:
            con.execute("insert into raw.police_uk_street_crimes (force_id, source_file, source_row, month, "
                        "crime_type, load_id, loaded_at) select ?, 'f.csv', i, ?, 'Drugs', 'l', now() "
                        "from range(?) r(i)", [force, month, rng.randint(40, 160)])
    for force in held:
        everything = dict(con.execute("select month, count(*) from raw.police_uk_street_crimes where force_id = ? "
                                      "group by month", [force]).fetchall())
        for month in ["2018-03", "2018-12", *months, "2024-01", "2025-06"]:
            whole = {m: n for m, n in everything.items() if m != month}
            assert _nearest(_loaded_months(con, force, month), month) == _nearest(whole, month), (force, month)
    con.close()


def test_loads_sharing_a_connection_write_what_loads_on_their_own_write(tmp_path):
    """A run's force-month loads share one connection (lib/warehouse.py: RunConnection): on real files, with a
    file the parser rejects and one refused for its size between good ones, then every file again (unchanged,
    rejected again), the tables and the load log must be what loads opening their own connection give."""
    import shutil

    from orchestration.defs.police_uk import _resolver
    from orchestration.lib.loaders import load_police_uk_month
    from orchestration.lib.police_uk import PoliceUkParseError
    from orchestration.lib.warehouse import connect
    from tests.independent import SNAPSHOTS

    files = {}
    for month in ("2023-03", "2023-04", "2023-05", "2023-06", "2023-07", "2023-08"):
        files[month] = tmp_path / "files" / f"{month}-gwent-street.csv"
        files[month].parent.mkdir(exist_ok=True)
        shutil.copy(SNAPSHOTS / "police_uk" / "gwent" / files[month].name, files[month])
    lines = files["2023-06"].read_text(encoding="utf-8").splitlines(keepends=True)
    files["2023-06"].write_text("".join(lines[:len(lines) // 4]), encoding="utf-8")  # a quarter: refused for its size
    lines = files["2023-07"].read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[99].split(",")
    fields[4] = "not-a-number"
    lines[99] = ",".join(fields)
    files["2023-07"].write_text("".join(lines), encoding="utf-8")  # rejected by the parser
    resolver = _resolver(str(SNAPSHOTS))

    def load_all(warehouse, con=None) -> list[str]:
        outcomes = []
        for _ in range(2):
            for month, path in files.items():
                try:
                    outcomes.append(load_police_uk_month(path, month, "gwent", warehouse, resolver,
                                                         tmp_path / "quarantine", con=con).outcome)
                except PoliceUkParseError as exc:
                    outcomes.append(f"rejected: {str(exc).splitlines()[1]}")
        return outcomes

    alone, shared = tmp_path / "alone.duckdb", tmp_path / "shared.duckdb"
    expected = load_all(alone)
    con = connect(shared)
    try:
        assert load_all(shared, con) == expected
    finally:
        con.close()
    assert expected.count("loaded") == 4 and expected.count("unchanged") == 4

    def contents(path) -> list:
        db = duckdb.connect(str(path), read_only=True)
        try:
            return [
                db.execute("select * exclude (load_id, loaded_at) from raw.police_uk_street_crimes "
                           "order by month, source_row").fetchall(),
                db.execute("select * from raw.police_uk_split_points order by all").fetchall(),
                db.execute("select partition_key, outcome, row_count, sha256, content_sha256, "
                           "regexp_replace(message, 'quarantined copy: .*', '') from raw.load_log "
                           "order by retrieved_at").fetchall(),
                db.execute("select count(*) from raw.police_uk_street_crimes c join raw.load_log l using (load_id) "
                           "where l.outcome = 'loaded' and l.partition_key = c.month").fetchone(),
            ]
        finally:
            db.close()

    assert contents(shared) == contents(alone)


def test_the_row_drop_settings_must_be_fractions(monkeypatch):
    from orchestration.lib.loaders import MAX_ROW_DROP_ENV, _fraction

    monkeypatch.setenv(MAX_ROW_DROP_ENV, "0.2")
    assert _fraction(MAX_ROW_DROP_ENV, 0.1) == 0.2
    monkeypatch.setenv(MAX_ROW_DROP_ENV, "")
    assert _fraction(MAX_ROW_DROP_ENV, 0.1) == 0.1
    for bad in ("2", "-0.1", "ten percent"):
        monkeypatch.setenv(MAX_ROW_DROP_ENV, bad)
        with pytest.raises(ValueError, match=rf"POLICE_UK_MAX_ROW_DROP must be a fraction between 0 and 1 "
                                             rf"\(e.g. 0.1\), got '{bad}'"):
            _fraction(MAX_ROW_DROP_ENV, 0.1)
