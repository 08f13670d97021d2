"""COHESION_MODE=live through the real Dagster assets, against a local server replaying real payloads.

Each case ends in a correct load, or in a failed materialization that names the source and URL, logs
the rejection in raw.load_log and leaves the last good data exactly as it was.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from orchestration.defs.police_uk import police_uk_street_crimes
from orchestration.defs.raw_public import partitioned_assets, snapshot_assets
from orchestration.defs.resources import WarehouseResource
from tests.fakeserver import Reply
from tests.independent import SNAPSHOTS
from tests.session_readers import query_warehouse as query


def asset(key: str):
    return next(a for a in [*snapshot_assets, *partitioned_assets] if a.key.to_user_string() == key)


@pytest.fixture
def live(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    return WarehouseResource(warehouse_path=str(warehouse), snapshots_dir=str(SNAPSHOTS),
                             reports_dir=str(tmp_path / "reports"), quarantine_dir=str(tmp_path / "q"), mode="live")


def run(a, live, partition_key=None):
    return dg.materialize([a], partition_key=partition_key, resources={"warehouse": live}, raise_on_error=False)



def error_of(result) -> str:
    return str(result.get_step_failure_events()[0].step_failure_data.error)


def last_log(live, source: str):
    return query(live, f"select outcome, mode, location, message from raw.load_log where source = '{source}' "
                       "order by retrieved_at desc limit 1")[0]


# --- StatsWales: paging to the end, then a bad pull that must not replace it ---------------------------

def test_statswales_live_pages_to_the_end_and_keeps_it_when_a_later_pull_is_html(fake_server, live, monkeypatch):
    page1 = json.loads((SNAPSHOTS / "statswales" / "statswales_odata_popu1009.json").read_bytes())
    page2 = {**page1, "value": page1["value"][:10]}
    page2.pop("odata.nextLink")
    monkeypatch.setenv("STATSWALES_API_URL", fake_server.url("/en-gb/dataset"))
    fake_server.route("GET", "/en-gb/dataset/popu1009", lambda req: Reply(
        200, body=json.dumps(page2 if "$skiptoken" in req.query else page1), content_type="application/json"))

    result = run(asset("raw/statswales"), live, "popu1009")
    assert result.success
    assert query(live, "select count(*) from raw.statswales_popu1009") == [(1010,)]
    outcome, mode, location, _ = last_log(live, "statswales")
    assert (outcome, mode) == ("loaded", "live") and location.count("popu1009") == 2  # both page URLs

    fake_server.route("GET", "/en-gb/dataset/popu1009",
                      Reply(200, body="<!DOCTYPE html><html><body>Service unavailable</body></html>",
                            content_type="text/html"))
    result = run(asset("raw/statswales"), live, "popu1009")
    assert not result.success
    assert "statswales" in error_of(result) and "kept its last good data" in error_of(result)
    assert query(live, "select count(*) from raw.statswales_popu1009") == [(1010,)]
    assert last_log(live, "statswales")[0] == "rejected"


# --- ONS ELS: a renamed column is refused by the CSVW schema ------------------------------------------

def test_ons_els_live_renamed_column_is_rejected_and_last_good_kept(fake_server, live, monkeypatch):
    folder = SNAPSHOTS / "ons_els" / "claimant-count"
    data = (folder / "claimant-count.wales_subset.csv").read_bytes()
    meta = (folder / "claimant-count.csv-metadata.json").read_bytes()
    monkeypatch.setenv("ONS_ELS_URL", fake_server.url("/data"))
    monkeypatch.setenv("ONS_ELS_METADATA_URL", fake_server.url("/meta"))
    fake_server.route("GET", "/data/claimant-count/claimant-count.csv", Reply(200, body=data, content_type="text/csv"))
    fake_server.route("GET", "/meta/claimant-count/claimant-count.csv-metadata.json", Reply(200, body=meta))

    assert run(asset("raw/ons_els_indicators"), live, "claimant-count").success
    before = query(live, "select count(*), sum(observation) from raw.ons_els_indicators")
    welsh_las = query(live, "select count(distinct areacd) from raw.ons_els_indicators where areacd like 'W06%'")
    assert before[0][0] == 675 and welsh_las == [(22,)]

    fake_server.route("GET", "/data/claimant-count/claimant-count.csv",
                      Reply(200, body=data.replace(b"observation", b"obs_value", 1), content_type="text/csv"))
    result = run(asset("raw/ons_els_indicators"), live, "claimant-count")
    assert not result.success and "observation" in error_of(result)
    assert query(live, "select count(*), sum(observation) from raw.ons_els_indicators") == before


# --- Nomis: a Census 2021 table in Nomis' layout lands exactly like the bundled copy ------------------

def nomis_layout(snapshot: pl.DataFrame) -> bytes:
    """The bundled TS021 rewritten as a Nomis API CSV: a Total row and categories with sub-categories, and, as in
    Nomis' default output, RECORD_OFFSET and RECORD_COUNT (the size of the whole answer) on every row."""
    totals = snapshot.group_by("area_code").agg(pl.col("total").first()).with_columns(
        pl.lit("Total: All usual residents").alias("category"), pl.col("total").alias("n"))
    detail = snapshot.filter(pl.col("category") == "White").with_columns(
        (pl.lit("White: English, Welsh, Scottish, Northern Irish or British")).alias("category"))
    rows = pl.concat([totals.select("area_code", "category", "n"), snapshot.select("area_code", "category", "n"),
                      detail.select("area_code", "category", "n")])
    return rows.select(
        pl.lit("2021").alias("DATE_NAME"), pl.col("area_code").alias("GEOGRAPHY_CODE"),
        pl.col("category").alias("C2021_ETH_20_NAME"), pl.lit("Value").alias("MEASURES_NAME"),
        pl.col("n").cast(pl.Float64).alias("OBS_VALUE"),
    ).with_row_index("RECORD_OFFSET").with_columns(
        pl.col("RECORD_OFFSET").cast(pl.String), pl.lit(str(rows.height)).alias("RECORD_COUNT"),
    ).select(pl.exclude("RECORD_OFFSET", "RECORD_COUNT"), "RECORD_OFFSET", "RECORD_COUNT").write_csv().encode()


def test_nomis_census_live_equals_the_bundled_table(fake_server, live, monkeypatch, tmp_path):
    from orchestration.lib.snapshots import read_census_topic

    bundled = read_census_topic(SNAPSHOTS / "population" / "census2021_ts021_ethnicity21_lsoa21_wales.csv",
                                code_column="lsoa21_code", total_column="total_residents", category_column="ethnic_group")
    monkeypatch.setenv("NOMIS_API_URL", fake_server.url("/api/v01"))
    fake_server.route("GET", "/api/v01/dataset/NM_2041_1.data.csv", Reply(200, body=nomis_layout(bundled), content_type="text/csv"))

    result = run(asset("raw/census2021_ethnicity_lsoa21"), live)
    assert result.success, error_of(result) if not result.success else ""
    loaded = pl.DataFrame(query(live, "select area_code, category, n, total from raw.census2021_ethnicity_lsoa21"),
                          schema=bundled.columns, orient="row").sort(["area_code", "category"])
    assert loaded.equals(bundled)
    (request,) = fake_server.requests
    assert request.query["geography"][0].startswith("2092957700TYPE") and request.query["measures"] == ["20100"]


def test_nomis_census_live_short_or_missing_answer_names_the_url_and_keeps_last_good(fake_server, live, monkeypatch):
    """A server capping pages at 1,000 rows is paged through; one that serves fewer rows than its RECORD_COUNT, or
    a 404, fails the asset with the dataset, URL and reason, and the table keeps its last good data."""
    from orchestration.lib.snapshots import read_census_topic

    bundled = read_census_topic(SNAPSHOTS / "population" / "census2021_ts021_ethnicity21_lsoa21_wales.csv",
                                code_column="lsoa21_code", total_column="total_residents", category_column="ethnic_group")
    table = pl.read_csv(nomis_layout(bundled), infer_schema=False)
    path = "/api/v01/dataset/NM_2041_1.data.csv"
    url = fake_server.url(path)
    monkeypatch.setenv("NOMIS_API_URL", fake_server.url("/api/v01"))

    def capped(record_count: int, rows: int):
        """At most 1,000 rows a reply whatever recordlimit asks for; RECORD_COUNT says ``record_count``."""
        body = table.head(rows).with_columns(pl.lit(str(record_count)).alias("RECORD_COUNT"))

        def handler(request):
            offset = int(request.query["RecordOffset"][0])
            return Reply(200, body=body.slice(offset, 1_000).write_csv().encode(), content_type="text/csv")
        return handler

    fake_server.route("GET", path, capped(table.height, table.height))
    result = run(asset("raw/census2021_ethnicity_lsoa21"), live)
    assert result.success, error_of(result) if not result.success else ""
    assert table.height > 1_000 and fake_server.count("GET", path) == -(-table.height // 1_000)
    before = query(live, "select count(*), sum(n) from raw.census2021_ethnicity_lsoa21")
    assert before[0][0] == bundled.height

    fake_server.route("GET", path, capped(table.height, table.height - 1_500))  # says every row, serves fewer
    result = run(asset("raw/census2021_ethnicity_lsoa21"), live)
    assert not result.success
    message = error_of(result)
    assert "raw.census2021_ethnicity_lsoa21 (ons_census TS021, live) failed" in message
    assert f"received {table.height - 1_500} rows" in message and f"RECORD_COUNT is {table.height}" in message
    assert url in message and "kept its last good data" in message
    assert query(live, "select count(*), sum(n) from raw.census2021_ethnicity_lsoa21") == before
    outcome, mode, location, _ = last_log(live, "ons_census")
    assert (outcome, mode) == ("rejected", "live") and location.startswith(url)

    fake_server.route("GET", path, Reply(404, body="Not Found", content_type="text/plain"))
    result = run(asset("raw/census2021_ethnicity_lsoa21"), live)
    message = error_of(result)
    assert not result.success and "HTTP 404" in message and url in message and "kept its last good data" in message
    assert query(live, "select count(*), sum(n) from raw.census2021_ethnicity_lsoa21") == before


# --- WIMD 2019: the original ODS; the rank computed from the score equals the official rank -----------

def test_wimd2019_live_from_the_ods_reproduces_the_official_rank(fake_server, live, monkeypatch):
    ods = SNAPSHOTS / "wimd" / "orig" / "wimd-2019-index-and-domain-scores-by-small-area_0.ods"
    monkeypatch.setenv("WIMD_2019_URL", fake_server.url("/wimd2019.ods"))
    fake_server.route("GET", "/wimd2019.ods", Reply(200, body=ods.read_bytes(),
                                                    content_type="application/vnd.oasis.opendocument.spreadsheet"))
    assert run(asset("raw/wimd2019_lsoa11"), live).success
    live_ranks = dict(query(live, "select lsoa11_code, wimd_rank from raw.wimd2019_lsoa11"))
    import csv
    with open(SNAPSHOTS / "wimd" / "dg_ons_imd_dec2019_lookup_wales_utf8bom.csv", encoding="utf-8-sig") as fh:
        official = {r["lsoa11cd"]: int(r["wimd_2019"]) for r in csv.DictReader(fh)}
    assert live_ranks == official


# --- police.uk: the monthly archive, then a truncated download that must not lose the month ------------

def archive_zip(month: str, force: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(SNAPSHOTS / "police_uk" / force / f"{month}-{force}-street.csv", f"{month}/{month}-{force}-street.csv")
    return buf.getvalue()


def test_police_uk_live_archive_month_then_truncated_download_keeps_it(fake_server, live, monkeypatch):
    monkeypatch.setenv("POLICE_UK_ARCHIVE_URL", fake_server.url("/data/archive"))
    monkeypatch.setenv("POLICE_UK_FORCES", "gwent")
    body = archive_zip("2024-06", "gwent")
    fake_server.route("GET", "/data/archive/2024-06.zip", Reply(503, headers={"Retry-After": "0"}),
                      Reply(200, body=body, content_type="application/zip"))
    result = dg.materialize([police_uk_street_crimes], partition_key="2024-06-01", resources={"warehouse": live},
                            raise_on_error=False)
    assert result.success
    expected = sum(1 for _ in open(SNAPSHOTS / "police_uk" / "gwent" / "2024-06-gwent-street.csv")) - 1
    assert query(live, "select count(*) from raw.police_uk_street_crimes") == [(expected,)]
    assert last_log(live, "police_uk")[:2] == ("loaded", "live")

    fake_server.route("GET", "/data/archive/2024-06.zip", Reply(200, body=body, truncate_to=1000,
                                                               content_type="application/zip"))
    result = dg.materialize([police_uk_street_crimes], partition_key="2024-06-01", resources={"warehouse": live},
                            raise_on_error=False)
    assert not result.success and "truncated" in error_of(result)
    assert query(live, "select count(*) from raw.police_uk_street_crimes") == [(expected,)]
    assert last_log(live, "police_uk")[0] == "rejected"
    kept = list((Path(live.warehouse_path).parent / "downloads" / "police_uk" / "gwent").glob("*.csv"))
    assert [p.name for p in kept] == ["2024-06-gwent-street.csv"]  # the good file, not a partial one


def test_live_mode_without_a_live_client_loads_the_snapshot_and_says_so(live):
    result = run(asset("raw/sape_lsoa11_broad_age"), live, "2019")
    assert result.success
    (outcome, mode, _, message) = last_log(live, "ons_sape")
    assert (outcome, mode) == ("loaded", "snapshot") and "no live source" in message


def test_one_archive_download_serves_every_force(fake_server, live, monkeypatch):
    monkeypatch.setenv("POLICE_UK_ARCHIVE_URL", fake_server.url("/data/archive"))
    monkeypatch.setenv("POLICE_UK_FORCES", "gwent,dyfed-powys")
    src = SNAPSHOTS / "police_uk" / "gwent" / "2024-05-gwent-street.csv"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(src, "2024-05/2024-05-gwent-street.csv")
        z.write(src, "2024-05/2024-05-dyfed-powys-street.csv")  # stands in for a second force's file
    fake_server.route("GET", "/data/archive/2024-05.zip", Reply(200, body=buf.getvalue(), content_type="application/zip"))
    result = dg.materialize([police_uk_street_crimes], partition_key="2024-05-01", resources={"warehouse": live},
                            raise_on_error=False)
    assert result.success
    assert fake_server.count("GET", "/data/archive/2024-05.zip") == 1
    assert dict(query(live, "select force_id, count(*) from raw.police_uk_street_crimes group by 1")) == {
        "gwent": 6566, "dyfed-powys": 6566}
