"""Materializing a month replaces it; a bad file is quarantined and loses nothing already accepted."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.police_uk import police_uk_street_crimes
from orchestration.defs.resources import WarehouseResource
from tests.independent import SNAPSHOTS, one


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


def test_a_month_with_no_file_fails_clearly(workspace):
    (workspace["snapshots"] / "police_uk" / "gwent" / "2024-01-gwent-street.csv").unlink()
    result = materialize_month(workspace, "2024-01")
    assert not result.success
    assert "No bundled street-level file for 2024-01" in str(result.get_step_failure_events()[0].step_failure_data.error)
