"""Live police.uk through the real asset, against a real HTTP server on 127.0.0.1 standing in for
data.police.uk: ``crimes-street-dates`` says what is published, and ``/data/archive/YYYY-MM.zip`` are real
zip archives built from the bundled Gwent files (each, like the real ones, holding the force's previous
months too). Runs go through a real Dagster instance, whose partition status is checked.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.police_uk import (
    ASSET_KEY,
    ArchiveCheck,
    LATEST_TAG,
    REFUSED_TAG,
    RETRY_TAG,
    build_police_uk_asset,
    monthly_partitions,
    months_to_request,
    months_to_retry,
    police_uk_monthly_partitions,
)
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.sources import police_uk_api as api
from tests.fakeserver import Reply
from tests.independent import SNAPSHOTS
from tests.session_readers import query_warehouse as query

GWENT = SNAPSHOTS / "police_uk" / "gwent"
LIVE_PARTITIONS = monthly_partitions("live", SNAPSHOTS)  # open-ended, as in COHESION_MODE=live
ASSET = build_police_uk_asset(LIVE_PARTITIONS)


def csv_bytes(month: str) -> bytes:
    return (GWENT / f"{month}-gwent-street.csv").read_bytes()


def rows_in(data: bytes) -> int:
    return data.count(b"\n") - 1  # header line


def cut(data: bytes, keep: float) -> bytes:
    """The file cut at a row boundary: the header and the first ``keep`` of its rows, newline-ended."""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[: 1 + int((len(lines) - 1) * keep)])


def archive(month: str, replace: dict[str, bytes] | None = None, drop: set[str] = frozenset()) -> bytes:
    """``month``.zip as police.uk builds it: YYYY-MM/YYYY-MM-gwent-street.csv for the month and every earlier
    bundled month of the last 36 (``replace`` swaps a member's content, ``drop`` leaves months out)."""
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(GWENT.glob("*-gwent-street.csv")):
            member_month = path.name[:7]
            if member_month <= month and month_index(month) - month_index(member_month) < 36 \
                    and member_month not in drop:
                z.writestr(f"{member_month}/{path.name}", replace.get(member_month, path.read_bytes()))
    return out.getvalue()


def month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7])


def street_dates(latest: str, count: int = 36) -> bytes:
    """crimes-street-dates as the API answers: newest first."""
    year, month = int(latest[:4]), int(latest[5:7])
    out = []
    for _ in range(count):
        out.append({"date": f"{year:04d}-{month:02d}", "stop-and-search": ["gwent", "south-wales"]})
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return json.dumps(out).encode()


@pytest.fixture
def police(fake_server, monkeypatch):
    monkeypatch.setenv(api.API_URL_ENV, fake_server.url("/api"))
    monkeypatch.setenv(api.ARCHIVE_URL_ENV, fake_server.url("/data/archive"))
    monkeypatch.setenv("POLICE_UK_FORCES", "gwent")
    for var in ("POLICE_UK_MAX_ROW_DROP", "POLICE_UK_MIN_FIRST_LOAD_RATIO"):
        monkeypatch.delenv(var, raising=False)
    server = fake_server

    def publish(latest: str):
        server.route("GET", "/api/crimes-street-dates", Reply(200, body=street_dates(latest),
                                                              content_type="application/json"))

    def serve(month: str, *replies: Reply):
        """The archive's replies to GET and, the same headers without the body, to HEAD (the live schedule asks
        whether a refused archive was replaced)."""
        replies = replies or (Reply(200, body=archive(month), content_type="application/zip"),)
        server.route("GET", f"/data/archive/{month}.zip", *replies)
        server.route("HEAD", f"/data/archive/{month}.zip", *replies)

    server.publish, server.serve = publish, serve
    return server


@pytest.fixture
def live(tmp_path):
    return WarehouseResource(warehouse_path=str(tmp_path / "warehouse.duckdb"), snapshots_dir=str(SNAPSHOTS),
                             reports_dir=str(tmp_path / "reports"), quarantine_dir=str(tmp_path / "quarantine"),
                             mode="live")


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def run(instance, live, first: str, last: str):
    return dg.materialize(
        [ASSET], instance=instance, resources={"warehouse": live}, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": f"{first}-01", "dagster/asset_partition_range_end": f"{last}-01"},
    )



def month_rows(live) -> dict[str, int]:
    return dict(query(live, "select month, count(*) from raw.police_uk_street_crimes group by 1"))


def last_log(live, month: str):
    return query(live, "select outcome, row_count, location, message from raw.load_log where partition_key = ? "
                       "order by retrieved_at desc limit 1", [month])[0]


def status(instance, *months: str) -> dict[str, str | None]:
    keys = [f"{m}-01" for m in months]
    got = instance.get_status_by_partition(ASSET_KEY, keys, LIVE_PARTITIONS)
    return {k[:7]: (v.value if v else None) for k, v in got.items()}


def materialized_in(result) -> set[str]:
    return {e.event_specific_data.materialization.partition[:7] for e in result.get_asset_materialization_events()}


def failure(result) -> str:
    (event,) = result.get_step_failure_events()
    return event.step_failure_data.user_failure_data.description


def landing(live, month: str) -> Path:
    return Path(live.warehouse_path).parent / "downloads" / "police_uk" / "gwent" / f"{month}-gwent-street.csv"


# (a) ------------------------------------------------------------------------------------------------------
def test_months_not_published_yet_are_reported_and_the_published_ones_load(police, live, instance):
    police.publish("2024-06")
    police.serve("2024-05")
    police.serve("2024-06")

    result = run(instance, live, "2024-05", "2024-08")

    assert result.success  # not published is not a failure
    assert month_rows(live) == {"2024-05": rows_in(csv_bytes("2024-05")), "2024-06": rows_in(csv_bytes("2024-06"))}
    assert materialized_in(result) == {"2024-05", "2024-06"}
    assert sorted(instance.get_materialized_partitions(ASSET_KEY)) == ["2024-05-01", "2024-06-01"]
    assert status(instance, "2024-05", "2024-06", "2024-07", "2024-08") == {
        "2024-05": "MATERIALIZED", "2024-06": "MATERIALIZED", "2024-07": None, "2024-08": None}
    # the unpublished months were never asked for, and are reported as such
    assert police.count("GET", "/data/archive/2024-07.zip") == police.count("GET", "/data/archive/2024-08.zip") == 0
    observed = {e.event_specific_data.asset_observation.partition[:7]: e.event_specific_data.asset_observation
                for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION}
    assert set(observed) == {"2024-07", "2024-08"}
    assert observed["2024-07"].description == "2024-07: not published yet (latest published: 2024-06)"
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(m.startswith("2024-08: not published yet (latest published: 2024-06)") for m in messages)
    assert landing(live, "2024-06").read_bytes() == csv_bytes("2024-06")


# (b) ------------------------------------------------------------------------------------------------------
def test_a_backfill_takes_its_months_from_one_archive_not_one_each(police, live, instance):
    """Each archive holds its month and the 35 before (the real one is over a gigabyte): six months come from
    2024-06.zip, downloaded once, each month exactly its file in that archive."""
    police.publish("2024-06")
    for month in ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"):
        police.serve(month)

    result = run(instance, live, "2024-01", "2024-06")

    assert result.success
    assert police.count("GET", "/data/archive/2024-06.zip") == 1
    assert sum(police.count("GET", f"/data/archive/2024-0{m}.zip") for m in range(1, 6)) == 0
    got = month_rows(live)
    assert got == {f"2024-0{m}": rows_in(csv_bytes(f"2024-0{m}")) for m in range(1, 7)}
    assert materialized_in(result) == set(got)
    for month in got:
        outcome, rows, location, _ = last_log(live, month)
        assert (outcome, rows) == ("loaded", got[month])
        assert location == police.url("/data/archive/2024-06.zip") + f"#{month}/{month}-gwent-street.csv"
        assert landing(live, month).read_bytes() == csv_bytes(month)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(m.startswith("2024-02: extracted gwent from 2024-06.zip") for m in messages)
    assert not list(landing(live, "2024-06").parent.parent.rglob(".archive-*"))  # the archive deleted after


def test_a_month_missing_from_the_shared_archive_comes_from_its_own(police, live, instance):
    police.publish("2024-06")
    police.serve("2024-06", Reply(200, body=archive("2024-06", drop={"2024-04"}), content_type="application/zip"))
    police.serve("2024-04")

    result = run(instance, live, "2024-03", "2024-06")

    assert result.success and materialized_in(result) == {"2024-03", "2024-04", "2024-05", "2024-06"}
    assert police.count("GET", "/data/archive/2024-06.zip") == police.count("GET", "/data/archive/2024-04.zip") == 1
    assert police.count("GET", "/data/archive/2024-03.zip") == police.count("GET", "/data/archive/2024-05.zip") == 0
    assert last_log(live, "2024-04")[2] == police.url("/data/archive/2024-04.zip") + "#2024-04/2024-04-gwent-street.csv"
    assert month_rows(live)["2024-04"] == rows_in(csv_bytes("2024-04"))


def test_a_month_whose_archive_fails_fails_alone_and_keeps_its_rows(police, live, instance):
    """The shared archive (2024-06.zip) fails on every try: each month falls back to its own archive, so
    2024-03 and 2024-05 (good archives) load, 2024-04 (404) fails alone, and 2024-06 fails with its archive."""
    police.publish("2024-06")
    for month in ("2024-03", "2024-04", "2024-05", "2024-06"):
        police.serve(month)
    assert run(instance, live, "2024-03", "2024-06").success
    before = month_rows(live)
    kept = {m: landing(live, m).read_bytes() for m in ("2024-04", "2024-06")}

    police.serve("2024-06", Reply(500, body="upstream error", headers={"Retry-After": "0"}))  # every try
    police.serve("2024-04", Reply(404, body="Not Found", content_type="text/html"))
    result = run(instance, live, "2024-03", "2024-06")

    assert not result.success
    assert materialized_in(result) == {"2024-03", "2024-05"}  # the month after a bad one still ran
    assert status(instance, "2024-03", "2024-04", "2024-05", "2024-06") == {
        "2024-03": "MATERIALIZED", "2024-04": "FAILED", "2024-05": "MATERIALIZED", "2024-06": "FAILED"}
    assert month_rows(live) == before
    assert {m: landing(live, m).read_bytes() for m in kept} == kept
    for month in ("2024-03", "2024-05"):  # from their own archives
        assert last_log(live, month)[2] == police.url(f"/data/archive/{month}.zip") + f"#{month}/{month}-gwent-street.csv"
    for month, reason in (("2024-04", "HTTP 404"), ("2024-06", "HTTP 500")):
        outcome, _, location, message = last_log(live, month)
        assert outcome == "rejected" and location == police.url(f"/data/archive/{month}.zip") and reason in message
    message = failure(result)
    assert "Traceback" not in message and "\n" not in message
    assert "2 months failed (2024-04, 2024-06)" in message and "2024-03, 2024-05 loaded and materialized" in message
    assert "2024-06 gwent: HTTP 500" in message and police.url("/data/archive/2024-06.zip") in message
    assert "2024-04 gwent: HTTP 404" in message and "tried first in 2024-06.zip: HTTP 500 Internal Server Error after 5 attempts" in message
    assert f"Kept: the month keeps its {before['2024-06']:,} rows from the last accepted load" in message
    assert f"the landing copy {landing(live, '2024-04')} is unchanged" in message
    # neither archive could be fetched: the live schedule asks for both months again at its next tick
    assert instance.get_run_by_id(result.run_id).tags[RETRY_TAG] == "2024-04,2024-06"
    assert "2024-04, 2024-06 could not be fetched: asked for again at the live schedule's next daily check" in message
    assert police.count("GET", "/data/archive/2024-06.zip") == 1 + 5  # first run, then the client's 5 tries, once
    assert police.count("GET", "/data/archive/2024-03.zip") == police.count("GET", "/data/archive/2024-05.zip") == 1


# (c) ------------------------------------------------------------------------------------------------------
def test_a_csv_cut_at_a_row_boundary_does_not_replace_the_month(police, live, instance, tmp_path):
    police.publish("2024-06")
    police.serve("2024-06")
    assert run(instance, live, "2024-06", "2024-06").success
    full = csv_bytes("2024-06")
    half = cut(full, 0.5)
    assert half.endswith(b"\n") and rows_in(half) == rows_in(full) // 2

    police.serve("2024-06", Reply(200, body=archive("2024-06", {"2024-06": half}), content_type="application/zip"))
    result = run(instance, live, "2024-06", "2024-06")

    assert not result.success
    assert month_rows(live) == {"2024-06": rows_in(full)}
    assert landing(live, "2024-06").read_bytes() == full  # the kept copy is byte-identical
    outcome, row_count, location, log_message = last_log(live, "2024-06")
    assert outcome == "rejected" and row_count == rows_in(half)
    assert location == police.url("/data/archive/2024-06.zip") + "#2024-06/2024-06-gwent-street.csv"
    message = failure(result)
    numbers = f"the file has {rows_in(half):,} rows where the last accepted load"
    for text in (message, log_message):
        assert numbers in text and f"has {rows_in(full):,}: 50% fewer" in text and "POLICE_UK_MAX_ROW_DROP" in text
    assert f"the month keeps its {rows_in(full):,} rows" in message and "landing copy" in message
    assert "Traceback" not in message and "\n" not in message
    # refused, not unreachable: the live schedule does not download the archive again every day
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags[RETRY_TAG] == "-" and tags[LATEST_TAG] == "2024-06"
    assert ("2024-06 refused: asked for again once police.uk replaces the archive (the live schedule asks daily) or "
            "publishes a newer one, or on the 20th" in message)
    assert json.loads(tags[REFUSED_TAG]) == {police.url("/data/archive/2024-06.zip"): {
        "content_length": str(len(archive("2024-06", {"2024-06": half}))), "months": ["2024-06"]}}
    (report,) = (tmp_path / "quarantine").rglob("*.errors.txt")
    assert (report.parent / "2024-06-gwent-street.csv").read_bytes() == half
    assert status(instance, "2024-06") == {"2024-06": "FAILED"}


@pytest.mark.parametrize("keep", [0.3, 0.5])
def test_a_first_load_far_smaller_than_its_neighbours_in_the_archive_is_refused(police, live, instance, keep):
    """Cut at a row boundary to 30% or half of its rows (half: issue 14's fault, which loaded at the old 0.5 ratio;
    Gwent 2024-06 is 1.09 times the median size of its six neighbours in the archive: half of it is 0.54)."""
    police.publish("2024-06")
    third = cut(csv_bytes("2024-06"), keep)
    police.serve("2024-06", Reply(200, body=archive("2024-06", {"2024-06": third}), content_type="application/zip"))

    result = run(instance, live, "2024-06", "2024-06")

    assert not result.success
    assert query(live, "select count(*) from raw.police_uk_street_crimes") == [(0,)]
    assert not landing(live, "2024-06").exists()
    message = failure(result)
    assert f"the file is {len(third):,} bytes ({rows_in(third):,} rows), under 70% of the median" in message
    assert "neighbouring months in the same archive (2023-12 to 2024-05" in message
    assert "nothing had been loaded for this force-month" in message
    assert last_log(live, "2024-06")[:2] == ("rejected", rows_in(third))


# (c2) -----------------------------------------------------------------------------------------------------
def test_a_trickling_archive_fails_its_month_in_bounded_time_and_a_killed_runs_archive_is_swept(
        police, live, instance, monkeypatch):
    """A server that sends the archive a byte at a time never trips the read timeout: before, the run waited for
    as long as the server trickled. Now each try is given up after COHESION_HTTP_RATE_WINDOW under 1 KB/s."""
    import os
    import subprocess
    import sys
    import time

    monkeypatch.setenv("COHESION_HTTP_RATE_WINDOW", "0.5")
    police.publish("2024-06")
    police.serve("2024-05")
    police.serve("2024-06")
    assert run(instance, live, "2024-05", "2024-06").success
    before, kept = month_rows(live), landing(live, "2024-06").read_bytes()

    # what a live run killed while it held an archive leaves: its archive folder and its scratch folder
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    downloads = landing(live, "2024-06").parent.parent
    left = [downloads / f".archive-{gone.pid}-x1", downloads / "gwent" / f".archive-{gone.pid}-incoming-x2"]
    for folder in left:
        folder.mkdir()
        (folder / "archive.zip").write_bytes(b"PK" * 1000)
    ours = downloads / f".archive-{os.getpid()}-x3"  # a live process's folder: left alone
    ours.mkdir()

    police.serve("2024-06", Reply(200, body=archive("2024-06"), content_type="application/zip", trickle=0.02))
    started = time.monotonic()
    result = run(instance, live, "2024-05", "2024-06")
    took = time.monotonic() - started

    assert not result.success and took < 60
    assert police.count("GET", "/data/archive/2024-06.zip") == 1 + 5  # the first run, then every try given up
    assert materialized_in(result) == {"2024-05"}
    assert status(instance, "2024-05", "2024-06") == {"2024-05": "MATERIALIZED", "2024-06": "FAILED"}
    assert month_rows(live) == before and landing(live, "2024-06").read_bytes() == kept
    message = failure(result)
    assert "2024-06 gwent: too slow:" in message and "under 1,024 bytes/s" in message and "after 5 attempts" in message
    assert police.url("/data/archive/2024-06.zip") in message
    assert f"the month keeps its {before['2024-06']:,} rows from the last accepted load" in message
    assert not any(folder.exists() for folder in left) and ours.exists()
    assert sorted(p.name for p in downloads.rglob(".archive-*")) == [ours.name]  # this run's archives deleted too
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(f"deleted .archive-{gone.pid}-x1, left in {downloads} by a live run that was killed" in m
               for m in messages)


def test_a_download_the_disk_cannot_hold_fails_its_month_with_a_message_not_a_traceback(police, live, instance,
                                                                                      monkeypatch):
    """No room for the archive: first the space kept free for the warehouse (COHESION_DOWNLOAD_KEEP_FREE_MB, set 50 GB
    over what is free now on the real disk), then no space left while it downloads (the OS's error, raised where the
    file is written). Each time every force of the month fails naming the folder and the reason, with the archive
    asked for once, and the month keeps its rows; before, a second force met the failed download as a crash."""
    import errno
    import shutil

    from orchestration.lib import http

    police.publish("2024-06")
    police.serve("2024-06")
    assert run(instance, live, "2024-06", "2024-06").success
    before = month_rows(live)
    monkeypatch.setenv("POLICE_UK_FORCES", "gwent,dyfed-powys")

    monkeypatch.setenv("COHESION_DOWNLOAD_KEEP_FREE_MB", str((shutil.disk_usage(live.warehouse).free + 50e9) / 1e6))
    result = run(instance, live, "2024-06", "2024-06")
    assert not result.success and month_rows(live) == before
    assert police.count("GET", "/data/archive/2024-06.zip") == 2  # the first run, then once for both forces
    message = failure(result)
    for force in ("gwent", "dyfed-powys"):
        assert f"2024-06 {force}: could not write the download under" in message
    assert "not enough free disk: the download is" in message and "COHESION_DOWNLOAD_KEEP_FREE_MB" in message
    assert f"the month keeps its {before['2024-06']:,} rows" in message and "Traceback" not in message
    monkeypatch.delenv("COHESION_DOWNLOAD_KEEP_FREE_MB")

    def full(self, url, dest, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(dest))

    monkeypatch.setattr(http.HttpClient, "download", full)
    result = run(instance, live, "2024-06", "2024-06")
    assert not result.success and month_rows(live) == before
    message = failure(result)
    for force in ("gwent", "dyfed-powys"):
        assert f"2024-06 {force}: could not write the download under" in message
    assert "No space left on device" in message
    assert f"the month keeps its {before['2024-06']:,} rows" in message and "Traceback" not in message


def test_a_load_step_without_its_staged_files_downloads_the_month_once_for_every_force(police, live):
    """A retried run re-runs only the load step; if the download step's files are gone it downloads them itself:
    one archive for the month's forces, not one per force (the real archive is over a gigabyte)."""
    from orchestration.defs.police_uk import Staged, _run_month
    from orchestration.lib.warehouse import RunConnection

    police.publish("2024-06")
    police.serve("2024-06")
    connection = RunConnection(live.warehouse)
    try:
        outcome = _run_month(dg.build_asset_context(), "2024-06", ["gwent", "dyfed-powys"], {}, live, Staged(),
                             connection)
    finally:
        connection.close()
    assert police.count("GET", "/data/archive/2024-06.zip") == 1
    assert outcome.results["gwent"].row_count == rows_in(csv_bytes("2024-06"))
    assert "2024-06 dyfed-powys: the zip has no member" in outcome.problems[0]  # the stand-in serves Gwent only
    assert not list(landing(live, "2024-06").parent.parent.rglob(".archive-*"))


def test_a_retried_load_step_without_its_files_takes_a_backfill_from_one_archive_too(police, live, instance,
                                                                                  monkeypatch):
    """The load step re-run without the download step's files (a run retried after its process died, the staging
    folder gone) fetches them from the archive the download step would have used: once for the run."""
    from orchestration.defs import police_uk as defs_police

    police.publish("2024-06")
    for month in ("2024-04", "2024-05", "2024-06"):
        police.serve(month)
    monkeypatch.setattr(defs_police, "stage_months",
                        lambda context, months, warehouse: defs_police.Staged(api.published_months()))

    result = run(instance, live, "2024-04", "2024-06")

    assert result.success and materialized_in(result) == {"2024-04", "2024-05", "2024-06"}
    assert police.count("GET", "/data/archive/2024-06.zip") == 1
    assert police.count("GET", "/data/archive/2024-04.zip") == police.count("GET", "/data/archive/2024-05.zip") == 0
    assert month_rows(live) == {m: rows_in(csv_bytes(m)) for m in ("2024-04", "2024-05", "2024-06")}
    assert last_log(live, "2024-04")[2] == police.url("/data/archive/2024-06.zip") + "#2024-04/2024-04-gwent-street.csv"
    assert not list(landing(live, "2024-06").parent.parent.rglob(".archive-*"))


# (c3) -----------------------------------------------------------------------------------------------------
QUICK = """
import dagster as dg

@dg.asset(pool="duckdb_warehouse")
def quick():
    return 1

print("success" if dg.materialize([quick], instance=dg.DagsterInstance.get()).success else "failure", flush=True)
"""


def test_a_slow_download_holds_no_warehouse_slot(police, live, tmp_path):
    """The archive is downloaded in a step outside the duckdb_warehouse pool: while police.uk takes its time,
    another writer (a partner file's run, its emergency flash) gets the warehouse. Before, the one step held the
    slot for the whole download (the real archive is over a gigabyte) and every other writer waited."""
    import os
    import shutil
    import subprocess
    import sys
    import threading
    import time

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(Path(__file__).resolve().parents[1] / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    police.publish("2024-06")
    police.serve("2024-06", Reply(200, body=archive("2024-06"), content_type="application/zip", delay=25))
    instance = dg.DagsterInstance.from_config(str(home))
    done: dict[str, float] = {}
    results = []

    def police_run():
        results.append(run(instance, live, "2024-06", "2024-06"))
        done["police"] = time.monotonic()

    thread = threading.Thread(target=police_run)
    try:
        thread.start()
        deadline = time.monotonic() + 60
        while police.count("GET", "/data/archive/2024-06.zip") == 0:
            assert time.monotonic() < deadline, "the police run never asked for the archive"
            time.sleep(0.1)
        assert instance.event_log_storage.get_concurrency_info("duckdb_warehouse").claimed_slots == []
        out = subprocess.run([sys.executable, "-c", QUICK], env={**os.environ, "DAGSTER_HOME": str(home)},
                             capture_output=True, text=True, timeout=120)
        done["other writer"] = time.monotonic()
        assert out.stdout.strip().endswith("success"), out.stderr[-2000:]
        thread.join(timeout=120)
        assert done["other writer"] < done["police"]  # it did not wait for the download
        (result,) = results
        assert result.success and month_rows(live) == {"2024-06": rows_in(csv_bytes("2024-06"))}
        steps = [e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]
        assert steps == ["raw__police_uk_street_crimes.download_months", "raw__police_uk_street_crimes.load_months"]
        assert not list(landing(live, "2024-06").parent.parent.rglob(".archive-*"))  # staging deleted
    finally:
        thread.join(timeout=120)
        instance.dispose()


# (d) ------------------------------------------------------------------------------------------------------
def test_an_outcome_only_revision_still_loads(police, live, instance):
    police.publish("2024-06")
    police.serve("2024-06")
    assert run(instance, live, "2024-06", "2024-06").success
    full = csv_bytes("2024-06")
    # police.uk re-issues a month with later outcomes: same rows, other outcome text
    revised = full.replace(b",Status update unavailable,", b",Investigation complete; no suspect identified,")
    changed = full.count(b",Status update unavailable,")
    before = query(live, "select count(*) from raw.police_uk_street_crimes where last_outcome_category = "
                         "'Investigation complete; no suspect identified'")[0][0]
    assert changed > 100 and rows_in(revised) == rows_in(full)

    police.serve("2024-06", Reply(200, body=archive("2024-06", {"2024-06": revised}), content_type="application/zip"))
    result = run(instance, live, "2024-06", "2024-06")

    assert result.success
    assert last_log(live, "2024-06")[:2] == ("loaded", rows_in(full))
    assert query(live, "select count(*) from raw.police_uk_street_crimes where last_outcome_category = "
                       "'Investigation complete; no suspect identified'") == [(before + changed,)]
    assert landing(live, "2024-06").read_bytes() == revised  # the accepted file is now the kept copy
    (event,) = result.get_asset_materialization_events()
    meta = event.event_specific_data.materialization.metadata
    assert meta["per_force"].value["gwent"]["previous_rows"] == rows_in(full)
    assert meta["per_force"].value["gwent"]["outcome"] == "loaded"
    assert status(instance, "2024-06") == {"2024-06": "MATERIALIZED"}


# the live schedule ----------------------------------------------------------------------------------------
def test_the_daily_schedule_requests_new_months_at_once_unreachable_ones_daily_and_refused_ones_on_the_20th(
        police, live, monkeypatch):
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("police_uk_monthly_schedule")
    keys = police_uk_monthly_partitions.get_partition_keys()  # 2022-01 .. 2024-06 (bundled)
    with dg.instance_for_test() as instance:  # a schedule context needs an instance it can reopen
        for key in keys:
            if key <= "2024-01-01":
                instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=ASSET_KEY, partition=key))
        police.publish("2024-04")
        # 2023-05 was loaded once, then a reload was refused: police.uk served a page, not the archive, both for the
        # newest archive (2024-04.zip, where a month is taken from first) and for the month's own
        page = Reply(200, body="<html><body>Down for maintenance</body></html>", content_type="text/html")
        police.serve("2024-04", page)
        police.serve("2023-05", page)
        refused = run(instance, live, "2023-05", "2023-05")
        assert not refused.success and instance.get_run_by_id(refused.run_id).tags[RETRY_TAG] == "-"
        assert "2023-05 refused: asked for again once police.uk replaces the archive" in failure(refused)
        # 2023-08: police.uk could not be reached (HTTP 500 on every try)
        police.serve("2023-08", Reply(500, body="upstream error", headers={"Retry-After": "0"}))
        unreachable = run(instance, live, "2023-08", "2023-08")
        assert not unreachable.success and instance.get_run_by_id(unreachable.run_id).tags[RETRY_TAG] == "2023-08"
        assert ("2023-08 could not be fetched: asked for again at the live schedule's next daily check"
                in failure(unreachable))
        assert status(instance, "2023-05", "2023-06", "2023-08") == {
            "2023-05": "FAILED", "2023-06": "MATERIALIZED", "2023-08": "FAILED"}

        published = api.published_months()
        assert published.latest == "2024-04"
        everything = [("2023-05-01", "2023-05-01"), ("2023-08-01", "2023-08-01"),
                      ("2024-02-01", "2024-04-01")]  # 2024-05, 06 not published
        assert months_to_request(instance, police_uk_monthly_partitions, published) == everything

        monkeypatch.setenv("COHESION_MODE", "live")
        assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "Europe/London"

        def ranges(requests):
            return [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                    for r in requests]

        def tick(day: int):
            with dg.build_schedule_context(instance=instance,
                                           scheduled_execution_time=dt.datetime(2024, 7, day, 6)) as context:
                return schedule.evaluate_tick(context)

        # any day: the new months at once (police.uk publishes on no fixed day) and the unreachable month again
        # (a failed request costs nothing), not the refused one (its archive is over a gigabyte)
        requests = tick(11).run_requests
        assert ranges(requests) == [("2023-08-01", "2023-08-01"), ("2024-02-01", "2024-04-01")]
        assert all(r.run_key.endswith("at-2024-07-11") for r in requests)
        for key in ("2024-02-01", "2024-03-01", "2024-04-01"):  # those loaded
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=ASSET_KEY, partition=key))
        # 2023-08 again: this time police.uk answers, with a page where the archive should be: refused, so the
        # next day leaves it (its last failed run decides, not an earlier one)
        police.serve("2023-08", page)
        assert not run(instance, live, "2023-08", "2023-08").success
        data = tick(12)
        assert not data.run_requests
        assert data.skip_message.startswith(
            "no new police.uk month (latest published: 2024-04); months whose file was refused are asked for again "
            "once police.uk replaces the archive they were refused from or publishes a newer one, or on the 20th "
            "(asked police.uk whether it replaced ")
        # each archive they were refused from asked about once, with a HEAD (the page's size unchanged), not a GET
        assert sorted(data.skip_message.rsplit("replaced ", 1)[1].rstrip(")").split(", ")) == [
            "2023-05.zip: no", "2023-08.zip: no", "2024-04.zip: no"]
        # the 20th: the refused months too
        requests = tick(20).run_requests
        assert ranges(requests) == [("2023-05-01", "2023-05-01"), ("2023-08-01", "2023-08-01")]
        assert all(r.run_key.endswith("at-2024-07-20") for r in requests)
        # police.uk publishes 2024-05: the next day asks for the new month and, since a newer archive than the one
        # they were refused from is out, the refused months too
        police.publish("2024-05")
        requests = tick(21).run_requests
        assert ranges(requests) == [("2023-05-01", "2023-05-01"), ("2023-08-01", "2023-08-01"),
                                    ("2024-05-01", "2024-05-01")]
        # and 2023-05 comes from the newest archive, police.uk's latest vintage (its own still serves the page)
        police.serve("2024-05")
        again = run(instance, live, "2023-05", "2023-05")
        assert again.success and status(instance, "2023-05") == {"2023-05": "MATERIALIZED"}
        assert last_log(live, "2023-05")[2] == police.url("/data/archive/2024-05.zip") + \
            "#2023-05/2023-05-gwent-street.csv"
        assert police.count("GET", "/data/archive/2023-05.zip") == 1  # the refused first try only
        with dg.build_schedule_context(instance=instance,
                                       scheduled_execution_time=dt.datetime(2024, 7, 20, 6)) as context:
            # police.uk cannot be reached: a skip, tried again at the next tick, never a crash
            police.route("GET", "/api/crimes-street-dates", Reply(500, headers={"Retry-After": "0"}))
            police.route("GET", "/data/archive/", Reply(404))
            data = schedule.evaluate_tick(context)
            assert not data.run_requests and "could not check which police.uk months are published" in data.skip_message


def test_a_refused_archive_police_uk_replaces_under_the_same_name_is_asked_for_again_the_next_day(
        police, live, monkeypatch):
    """police.uk puts a bad archive right by replacing it under the same name (no newer archive is out): the
    daily check asks police.uk (one HEAD) whether the archive it was refused from has changed, and only then
    downloads it again; before this, the month waited for the 20th."""
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("police_uk_monthly_schedule")
    monkeypatch.setenv("COHESION_MODE", "live")
    path = "/data/archive/2024-06.zip"
    with dg.instance_for_test() as instance:
        for key in police_uk_monthly_partitions.get_partition_keys():
            if key < "2024-06-01":
                instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=ASSET_KEY, partition=key))
        police.publish("2024-06")
        full = csv_bytes("2024-06")
        bad = archive("2024-06", {"2024-06": cut(full, 0.5)})
        stamp = {"ETag": '"v1"', "Last-Modified": "Mon, 01 Jul 2024 09:00:00 GMT"}
        police.serve("2024-06", Reply(200, body=bad, content_type="application/zip", headers=stamp))
        refused = run(instance, live, "2024-06", "2024-06")
        assert not refused.success and "2024-06 refused" in failure(refused)
        assert json.loads(instance.get_run_by_id(refused.run_id).tags[REFUSED_TAG]) == {police.url(path): {
            "etag": '"v1"', "last_modified": "Mon, 01 Jul 2024 09:00:00 GMT", "content_length": str(len(bad)),
            "months": ["2024-06"]}}
        assert police.count("GET", path) == 1

        def tick(day: int):
            with dg.build_schedule_context(instance=instance,
                                           scheduled_execution_time=dt.datetime(2024, 7, day, 6)) as context:
                return schedule.evaluate_tick(context)

        # the next days: the same archive (one HEAD a day, no download), then a HEAD police.uk does not answer:
        # nothing asked for, and the skip message says what police.uk was asked and what it said
        unchanged = tick(11)
        assert not unchanged.run_requests
        assert unchanged.skip_message.endswith("(asked police.uk whether it replaced 2024-06.zip: no)")
        police.route("HEAD", path, Reply(503, headers={"Retry-After": "0"}))
        silent = tick(12)
        assert not silent.run_requests
        assert silent.skip_message.endswith("(asked police.uk whether it replaced 2024-06.zip: cannot tell)")
        assert police.count("GET", path) == 1 and police.count("HEAD", path) == 3  # 1 + 2 tries

        # police.uk replaces the archive under the same name: the next day asks for the month, which loads whole
        good = archive("2024-06")
        police.serve("2024-06", Reply(200, body=good, content_type="application/zip",
                                      headers={"ETag": '"v2"', "Last-Modified": "Tue, 02 Jul 2024 09:00:00 GMT"}))
        requests = tick(13).run_requests
        assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                for r in requests] == [("2024-06-01", "2024-06-01")]
        assert police.count("GET", path) == 1  # asked about, not downloaded, by the schedule
        again = run(instance, live, "2024-06", "2024-06")
        assert again.success and status(instance, "2024-06") == {"2024-06": "MATERIALIZED"}
        assert month_rows(live) == {"2024-06": rows_in(full)}
        # a version that differs only in a header the first did not send is no evidence: the month waits
        assert api.archive_replaced(police.url(path), {"etag": '"v2"'}) is False
        assert api.archive_replaced(police.url(path), {"etag": '"v1"'}) is True
        assert api.archive_replaced(police.url(path), {"x": "y"}) is None


def test_a_refused_archive_behind_a_redirect_is_asked_about_at_the_address_asked_for(police, live, monkeypatch):
    """An archive served by a redirect to a signed address that expires: the tag keeps the address the run
    asked for, which the next HEAD follows to wherever it points then."""
    police.publish("2024-06")
    bad = archive("2024-06", {"2024-06": cut(csv_bytes("2024-06"), 0.5)})
    for method in ("GET", "HEAD"):
        police.route(method, "/data/archive/2024-06.zip", Reply(302, headers={"Location": "/store/2024-06.zip?sig=1"}))
        police.route(method, "/store/2024-06.zip", Reply(200, body=bad, content_type="application/zip",
                                                          headers={"ETag": '"b1"'}))
    with dg.instance_for_test() as instance:
        refused = run(instance, live, "2024-06", "2024-06")
        assert not refused.success and "2024-06 refused" in failure(refused)
        asked = police.url("/data/archive/2024-06.zip")
        assert json.loads(instance.get_run_by_id(refused.run_id).tags[REFUSED_TAG]) == {asked: {
            "etag": '"b1"', "content_length": str(len(bad)), "months": ["2024-06"]}}
        check = ArchiveCheck()
        assert months_to_retry(instance, ["2024-06-01"], "2024-06", check) == set()
        assert check.answers == {asked: False}
        police.route("HEAD", "/store/2024-06.zip", Reply(200, content_type="application/zip", headers={"ETag": '"b2"'}))
        check = ArchiveCheck()
        assert months_to_retry(instance, ["2024-06-01"], "2024-06", check) == {"2024-06-01"}
        assert check.summary() == " (asked police.uk whether it replaced 2024-06.zip: yes)"
