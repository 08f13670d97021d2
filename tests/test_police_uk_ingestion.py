"""Materializing a month replaces it; a bad file is quarantined and loses nothing already accepted; a
Crime ID repeated in a month's file counts once (the row with the latest outcome), all raw rows kept."""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.police_uk import police_uk_street_crimes
from orchestration.defs.resources import WarehouseResource
from tests.independent import (
    GWENT_LAS,
    SNAPSHOTS,
    counted_row_indexes,
    lsoa_to_la,
    one,
    street_files,
    street_rows,
)


@pytest.fixture
def workspace(built, tmp_path):
    """A copy of the built warehouse and of the bundled snapshots that a test may change freely."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built["settings"].warehouse_path, warehouse)
    snapshots = tmp_path / "snapshots"
    (snapshots / "police_uk").mkdir(parents=True)
    shutil.copytree(SNAPSHOTS / "police_uk" / "gwent", snapshots / "police_uk" / "gwent")
    shutil.copytree(SNAPSHOTS / "boundaries", snapshots / "boundaries")
    resource = WarehouseResource(
        warehouse_path=str(warehouse), snapshots_dir=str(snapshots),
        reports_dir=str(tmp_path / "reports"), quarantine_dir=str(tmp_path / "quarantine"),
    )
    return {"warehouse": warehouse, "snapshots": snapshots, "resource": resource, "tmp": tmp_path}


def materialize_month(workspace, month: str):
    return dg.materialize(
        [police_uk_street_crimes], partition_key=f"{month}-01",
        resources={"warehouse": workspace["resource"]}, raise_on_error=False,
    )


def month_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("select month, count(*) from raw.police_uk_street_crimes group by 1").fetchall())
    finally:
        con.close()


def test_materializing_a_month_again_replaces_it(workspace):
    before = month_counts(workspace["warehouse"])
    assert materialize_month(workspace, "2023-03").success
    assert month_counts(workspace["warehouse"]) == before  # identical file: unchanged, not duplicated

    # A corrected file for the month (here: its last 100 rows withdrawn) replaces the month's rows.
    path = workspace["snapshots"] / "police_uk" / "gwent" / "2023-03-gwent-street.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-100]), encoding="utf-8")
    result = materialize_month(workspace, "2023-03")
    assert result.success
    after = month_counts(workspace["warehouse"])
    assert after["2023-03"] == before["2023-03"] - 100
    assert {m: n for m, n in after.items() if m != "2023-03"} == {m: n for m, n in before.items() if m != "2023-03"}

    con = duckdb.connect(str(workspace["warehouse"]), read_only=True)
    outcomes = [r[0] for r in con.execute(
        "select outcome from raw.load_log where dataset = 'street_crimes/gwent' and partition_key = '2023-03' "
        "order by retrieved_at").fetchall()]
    dup = one(con, "select count(*) from (select source_row from raw.police_uk_street_crimes "
                   "where month = '2023-03' group by source_row having count(*) > 1)")
    con.close()
    assert outcomes[-2:] == ["unchanged", "loaded"] and dup == (0,)


def test_a_bad_file_is_quarantined_and_the_month_keeps_its_data(workspace):
    before = month_counts(workspace["warehouse"])
    path = workspace["snapshots"] / "police_uk" / "gwent" / "2023-04-gwent-street.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[99].split(",")
    fields[4] = "not-a-number"  # Longitude on line 100
    lines[99] = ",".join(fields)
    path.write_text("".join(lines), encoding="utf-8")

    result = materialize_month(workspace, "2023-04")
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "2023-04-gwent-street.csv" in message and "row 100" in message and "'Longitude'" in message

    assert month_counts(workspace["warehouse"]) == before  # nothing half-loaded, nothing lost
    reports = list((workspace["tmp"] / "quarantine").rglob("*.errors.txt"))
    assert len(reports) == 1 and "row 100" in reports[0].read_text()
    assert (reports[0].parent / path.name).read_bytes() == path.read_bytes()
    con = duckdb.connect(str(workspace["warehouse"]), read_only=True)
    (outcome,) = one(con, "select outcome from raw.load_log where partition_key = '2023-04' order by retrieved_at desc limit 1")
    con.close()
    assert outcome == "rejected"


def test_a_bad_month_in_a_range_fails_alone_and_the_others_are_materialized(workspace):
    """One run for 2023-03..2023-05 (single-run backfill) with 2023-04 broken: 03 and 05 are recorded as
    materialized for their partitions, 04 as failed, with a one-paragraph message."""
    before = month_counts(workspace["warehouse"])
    path = workspace["snapshots"] / "police_uk" / "gwent" / "2023-04-gwent-street.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[99].split(",")
    fields[4] = "not-a-number"
    lines[99] = ",".join(fields)
    path.write_text("".join(lines), encoding="utf-8")
    for month in ("2023-03", "2023-05"):  # a changed file, so these months really load again
        other = workspace["snapshots"] / "police_uk" / "gwent" / f"{month}-gwent-street.csv"
        other.write_text(other.read_text(encoding="utf-8").replace(",Status update unavailable,",
                                                                   ",Under investigation,"), encoding="utf-8")

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [police_uk_street_crimes], instance=instance, resources={"warehouse": workspace["resource"]},
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": "2023-03-01", "dagster/asset_partition_range_end": "2023-05-01"},
        )
        keys = ["2023-03-01", "2023-04-01", "2023-05-01"]
        partitions = police_uk_street_crimes.partitions_def
        status = instance.get_status_by_partition(police_uk_street_crimes.key, keys, partitions)
        assert {k: s.value for k, s in status.items()} == {
            "2023-03-01": "MATERIALIZED", "2023-04-01": "FAILED", "2023-05-01": "MATERIALIZED"}
        assert sorted(instance.get_materialized_partitions(police_uk_street_crimes.key)) == ["2023-03-01", "2023-05-01"]
    assert not result.success
    (event,) = result.get_step_failure_events()
    message = event.step_failure_data.user_failure_data.description
    assert message.startswith("police.uk: 1 month failed (2023-04), keeping the last good data; "
                              "2023-03, 2023-05 loaded and materialized;")
    assert "2023-04 gwent: 2023-04-gwent-street.csv rejected, nothing loaded; row 100, column 'Longitude'" in message
    assert f"Kept: the month keeps its {before['2023-04']:,} rows" in message and "\n" not in message
    assert month_counts(workspace["warehouse"]) == before  # same row counts; 03 and 05 reloaded, 04 kept


def test_a_file_far_shorter_than_the_months_last_load_is_refused(workspace, monkeypatch):
    monkeypatch.delenv("POLICE_UK_MAX_ROW_DROP", raising=False)
    before = month_counts(workspace["warehouse"])
    path = workspace["snapshots"] / "police_uk" / "gwent" / "2023-06-gwent-street.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = 1 + int((len(lines) - 1) * 0.7)  # header + 70% of the rows, cut at a row boundary
    path.write_text("".join(lines[:kept]), encoding="utf-8")

    result = materialize_month(workspace, "2023-06")
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert f"the file has {kept - 1:,} rows where the last accepted load" in message
    assert f"has {before['2023-06']:,}: 30% fewer, more than the 10% a reload may drop" in message
    assert month_counts(workspace["warehouse"]) == before

    # an officer who has checked the withdrawal lets it through for one run
    monkeypatch.setenv("POLICE_UK_MAX_ROW_DROP", "0.35")
    assert materialize_month(workspace, "2023-06").success
    assert month_counts(workspace["warehouse"])["2023-06"] == kept - 1


def test_a_month_with_no_file_fails_clearly(workspace):
    (workspace["snapshots"] / "police_uk" / "gwent" / "2024-01-gwent-street.csv").unlink()
    result = materialize_month(workspace, "2024-01")
    assert not result.success
    assert "No bundled street-level file for 2024-01" in str(result.get_step_failure_events()[0].step_failure_data.error)


# --- repeated Crime IDs: one count per Crime ID per month, raw rows kept --------------------------------

def csv_rows_with_keys(force: str | None = None) -> list[tuple[str, dict]]:
    """(record_key, row) for every row of the bundled files (of one force if given), read here with the csv
    module: the key is force:month:line (the force is the file's folder), the header being line 1."""
    out = []
    for path in street_files():
        if force is not None and path.parent.name != force:
            continue
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                out.append((f"{path.parent.name}:{row['Month']}:{line}", row))
    return out


def repeats_dropped_by_month(force: str | None = None) -> Counter:
    """Raw rows minus distinct (Crime ID, Month), per month, over rows with a Crime ID (of one force if given)."""
    rows, ids = Counter(), defaultdict(set)
    for _, r in csv_rows_with_keys(force):
        if r["Crime ID"]:
            rows[r["Month"]] += 1
            ids[r["Month"]].add(r["Crime ID"])
    return Counter({m: rows[m] - len(ids[m]) for m in rows})


def test_repeated_crime_ids_dropped_per_month_equal_a_count_of_the_csvs(warehouse):
    expected = repeats_dropped_by_month("gwent")
    got = {
        m.strftime("%Y-%m"): (in_file, dropped, total)
        for m, in_file, dropped, total in warehouse.sql(
            "select month, rows_in_file, repeated_crime_id_rows_dropped, rows_total "
            "from marts.fct_crime_monthly_coverage where force_id = 'gwent'"
        ).fetchall()
    }
    in_file = Counter(r["Month"] for _, r in csv_rows_with_keys("gwent"))
    for month in ("2023-01", "2024-05"):
        assert expected[month] > 0
        assert got[month] == (in_file[month], expected[month], in_file[month] - expected[month])
    # every other month has no repeats, and nothing else is dropped
    assert got == {m: (n, expected[m], n - expected[m]) for m, n in in_file.items()}
    assert {m for m, n in expected.items() if n} == {"2023-01", "2024-05"}


def test_gwent_2023_q1_all_crime_counts_each_crime_id_once(warehouse):
    months = {"2023-01", "2023-02", "2023-03"}
    la = lsoa_to_la()
    in_gwent = [
        r for _, r in csv_rows_with_keys()
        if r["Month"] in months and r["Crime type"] != "Anti-social behaviour"
        and r["LSOA code"].startswith("W01") and la[r["LSOA code"]] in GWENT_LAS
    ]
    assert all(r["Crime ID"] for r in in_gwent)  # every recorded crime carries a Crime ID
    distinct = len({(r["Crime ID"], r["Month"]) for r in in_gwent})
    (got,) = one(
        warehouse,
        "select crime_count from marts.fct_crime_quarterly where geography_level = 'police_force' "
        "and area_code = 'W15000002' and crime_group = 'all_crime' and quarter_start = date '2023-01-01'",
    )
    assert got == distinct
    # the repeats made the quarter 4.3% too high (audit, issue 11)
    assert len(in_gwent) > distinct and round(100 * (len(in_gwent) / distinct - 1), 1) == 4.3


def test_every_raw_row_is_still_in_staging(warehouse):
    keyed = csv_rows_with_keys()
    (n, counted) = one(warehouse, "select count(*), count(*) filter (where is_counted) "
                                  "from staging.stg_police_uk__street_crimes")
    assert n == len(keyed) == len(street_rows())
    assert counted == len(keyed) - sum(repeats_dropped_by_month().values())
    keys = {k for (k,) in warehouse.sql("select record_key from staging.stg_police_uk__street_crimes").fetchall()}
    assert keys == {k for k, _ in keyed}


def test_the_counted_row_of_a_repeated_crime_id_is_the_latest_outcome(warehouse):
    keyed = csv_rows_with_keys()
    groups = defaultdict(list)
    for key, r in keyed:
        if r["Crime ID"]:
            groups[(r["Crime ID"], r["Month"])].append((key, r))
    got = {
        key: (is_counted, duplicate_of, n_in_month)
        for key, is_counted, duplicate_of, n_in_month in warehouse.sql(
            "select record_key, is_counted, duplicate_of_record_key, crime_id_rows_in_month "
            "from staging.stg_police_uk__street_crimes where crime_id_rows_in_month > 1"
        ).fetchall()
    }

    # one worked example, by hand: 2023-01 lines 13 and 14 share a Crime ID; line 13 has a final outcome
    # (a caution), line 14 the later line but only 'Status update unavailable': line 13 is counted
    by_key = dict(keyed)
    first, second = by_key["gwent:2023-01:13"], by_key["gwent:2023-01:14"]
    assert first["Crime ID"] == second["Crime ID"]
    assert (first["Last outcome category"], second["Last outcome category"]) == (
        "Offender given a caution", "Status update unavailable")
    assert got["gwent:2023-01:13"] == (True, None, 2)
    assert got["gwent:2023-01:14"] == (False, "gwent:2023-01:13", 2)

    # every repeated Crime ID: the rule applied here to the CSV rows
    rank = {"": 0, "Status update unavailable": 1, "Under investigation": 2}
    differing = 0
    for rows in (g for g in groups.values() if len(g) > 1):
        outcomes = {r["Last outcome category"] for _, r in rows}
        differing += len(outcomes) > 1
        # latest outcome first, then the later line of the file
        kept = max(rows, key=lambda kr: (rank.get(kr[1]["Last outcome category"], 3), int(kr[0].rsplit(":", 1)[1])))[0]
        for key, _ in rows:
            assert got.pop(key) == ((True, None, len(rows)) if key == kept else (False, kept, len(rows)))
    assert got == {} and differing > 300  # 224 in 2023-01, 169 in 2024-05 differ in outcome
    # and tests/independent.py's counted rows (used by the other recounts) are the same rows
    counted_keys = {keyed[i][0] for i in counted_row_indexes()}
    assert counted_keys == {k for (k,) in warehouse.sql(
        "select record_key from staging.stg_police_uk__street_crimes where is_counted").fetchall()}


def test_a_load_that_breaks_the_runs_connection_fails_its_month_alone(tmp_path, monkeypatch):
    """A run's force-month loads share one warehouse connection (RunConnection); a load whose unexpected error
    leaves it broken fails its own month only: the next month opens a new connection and loads."""
    from orchestration.defs import police_uk as defs

    snapshots = tmp_path / "snapshots"
    (snapshots / "police_uk" / "gwent").mkdir(parents=True)
    for month in ("2023-03", "2023-04", "2023-05"):
        name = f"{month}-gwent-street.csv"
        shutil.copy(SNAPSHOTS / "police_uk" / "gwent" / name, snapshots / "police_uk" / "gwent" / name)
    shutil.copytree(SNAPSHOTS / "boundaries", snapshots / "boundaries")
    warehouse = tmp_path / "warehouse.duckdb"
    resource = WarehouseResource(warehouse_path=str(warehouse), snapshots_dir=str(snapshots),
                                 reports_dir=str(tmp_path / "reports"), quarantine_dir=str(tmp_path / "quarantine"))
    load = defs.load_police_uk_month
    connections = []

    def breaking_load(path, month, *args, con=None, **kwargs):
        connections.append(con)
        if month == "2023-04":
            con.close()
            raise duckdb.ConnectionException("Connection already closed!")
        return load(path, month, *args, con=con, **kwargs)

    monkeypatch.setattr(defs, "load_police_uk_month", breaking_load)
    keys = ["2023-03-01", "2023-04-01", "2023-05-01"]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [police_uk_street_crimes], instance=instance, resources={"warehouse": resource}, raise_on_error=False,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        status = instance.get_status_by_partition(police_uk_street_crimes.key, keys,
                                                  police_uk_street_crimes.partitions_def)
    assert {k: s.value for k, s in status.items()} == {
        "2023-03-01": "MATERIALIZED", "2023-04-01": "FAILED", "2023-05-01": "MATERIALIZED"}
    message = result.get_step_failure_events()[0].step_failure_data.user_failure_data.description
    assert "2023-04 gwent: unexpected ConnectionException" in message
    assert connections[0] is connections[1] and connections[2] is not connections[1]  # shared, then a new one
    assert month_counts(warehouse) == {m: len(street_rows_of(snapshots, m)) for m in ("2023-03", "2023-05")}


def street_rows_of(snapshots: Path, month: str) -> list[dict]:
    with open(snapshots / "police_uk" / "gwent" / f"{month}-gwent-street.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))
