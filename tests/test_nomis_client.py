"""The Nomis client against a local server replaying Nomis layouts built from the real fixtures."""

from __future__ import annotations

import csv
import io
import json
import re

import polars as pl
import pytest

from orchestration.lib.http import HttpClient, SourceFormatError
from orchestration.lib.sources import nomis
from orchestration.lib.sources.nomis import NomisClient, read_csv_snapshot, read_web_download
from tests.fakeserver import FakeServer, Reply
from tests.independent import SNAPSHOTS

NOMIS_DIR = SNAPSHOTS / "nomis"
CLAIMANTS = NOMIS_DIR / "tombolo_fixture_NM_162_1_claimant_count_lsoa_select.csv"
TS011 = NOMIS_DIR / "nomis_census2021_TS011_households_deprivation_msoa21_EW.csv"
DATASET = "NM_162_1"
CSV_PATH = f"/api/v01/dataset/{DATASET}.data.csv"
JSON_PATH = f"/api/v01/dataset/{DATASET}.data.json"
PARAMS = {"geography": nomis.welsh_lsoas_2021(), "date": "latest", "measures": "20100",
          "select": "date_name,geography_name,geography_code,obs_value,obs_status_name"}



def make_client(server: FakeServer, **kwargs) -> NomisClient:
    http = HttpClient("nomis", timeout=5, max_tries=2, sleep=lambda s: None)
    return NomisClient(http, base=server.url("/api/v01"), **kwargs)


def fixture_table() -> tuple[list[str], list[list[str]]]:
    with open(CLAIMANTS, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def synthetic_rows(n: int) -> tuple[list[str], list[list[str]]]:
    """n rows in the real NM_162_1 layout: the real rows repeated, each with its own code and value."""
    header, real = fixture_table()
    code_at, value_at = header.index("GEOGRAPHY_CODE"), header.index("OBS_VALUE")
    rows = []
    for i in range(n):
        row = list(real[i % len(real)])
        row[code_at] = f"W01{i:06d}"
        row[value_at] = str(i)
        rows.append(row)
    return header, rows


def nomis_rows(n: int, record_count: int | None = None) -> tuple[list[str], list[list[str]]]:
    """n rows as Nomis' default output has them: the fixture's columns, then RECORD_OFFSET and RECORD_COUNT (the
    size of the whole answer, on every row). ``record_count`` lets a server claim another total."""
    header, rows = synthetic_rows(n)
    total = str(n if record_count is None else record_count)
    return header + ["RECORD_OFFSET", "RECORD_COUNT"], [row + [str(i), total] for i, row in enumerate(rows)]


def to_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def query(request, name: str) -> str | None:
    """A query parameter, whatever its case (Nomis does not care)."""
    for key, values in request.query.items():
        if key.lower() == name.lower():
            return values[0]
    return None


def paging_handler(header, rows, *, header_for=lambda offset: None, cap: int | None = None):
    """Serves rows[RecordOffset:RecordOffset + recordlimit], at most ``cap`` rows a reply whatever was asked."""
    def handler(request):
        offset, limit = int(query(request, "RecordOffset")), int(query(request, "recordlimit"))
        size = limit if cap is None else min(limit, cap)
        return Reply(200, body=to_csv(header_for(offset) or header, rows[offset:offset + size]),
                     content_type="text/csv")
    return handler


@pytest.mark.parametrize("n_rows, with_count, offsets", [
    (51_234, True, [0, 25_000, 50_000]),  # RECORD_COUNT reached on the short page: no extra request
    (50_000, True, [0, 25_000]),  # exact multiple: RECORD_COUNT says it is complete
    (51_234, False, [0, 25_000, 50_000, 51_234]),  # no RECORD_COUNT (a select= without it): until an empty page
    (50_000, False, [0, 25_000, 50_000]),
])
def test_csv_pages_with_record_offset_until_complete(fake_server, n_rows, with_count, offsets):
    header, rows = nomis_rows(n_rows) if with_count else synthetic_rows(n_rows)
    fake_server.route("GET", CSV_PATH, paging_handler(header, rows))
    pull = make_client(fake_server).fetch_csv(DATASET, PARAMS)

    assert [int(query(r, "RecordOffset")) for r in fake_server.requests] == offsets
    assert {query(r, "recordlimit") for r in fake_server.requests} == {"25000"}
    for request in fake_server.requests:  # the caller's parameters go on every page
        assert query(request, "geography") == "2092957700TYPE151"
        assert query(request, "select") == PARAMS["select"]
    assert pull.pages == len(offsets) and len(pull.locations) == len(offsets)
    assert all("RecordOffset=" in url for url in pull.locations)
    frame = pull.frame
    assert frame.height == n_rows
    assert frame["GEOGRAPHY_CODE"].n_unique() == n_rows  # every row exactly once
    assert frame["OBS_VALUE"].dtype == pl.Float64
    assert frame["OBS_VALUE"].sort().to_list() == [float(i) for i in range(n_rows)]
    assert frame.columns[: len(header)] == header  # every published column kept, OBS_STATUS_NAME too
    assert frame["OBS_STATUS_NAME"].unique().to_list() == ["Normal Value"]
    assert all(frame[c].dtype == pl.String for c in header if c != "OBS_VALUE")
    assert pull.source == "nomis" and pull.dataset == DATASET and pull.mode == "live"
    assert len(pull.sha256) == 64
    assert ("RECORD_COUNT 51234 matched" if with_count and n_rows == 51_234 else
            "RECORD_COUNT 50000 matched" if with_count else "paged until an empty page") in pull.notes[0]


def test_caller_paging_params_are_replaced_not_duplicated(fake_server):
    header, rows = nomis_rows(10)
    fake_server.route("GET", CSV_PATH, paging_handler(header, rows))
    make_client(fake_server).fetch_csv(DATASET, {**PARAMS, "RecordLimit": "5", "recordoffset": "7"})
    (request,) = fake_server.requests
    assert [k for k in request.query if k.lower() in ("recordlimit", "recordoffset")] == ["recordlimit", "RecordOffset"]
    assert query(request, "RecordOffset") == "0"


def test_header_change_between_pages_is_an_error(fake_server):
    header, rows = synthetic_rows(30_000)
    renamed = [("OBS_STATUS" if c == "OBS_STATUS_NAME" else c) for c in header]
    fake_server.route("GET", CSV_PATH, paging_handler(header, rows, header_for=lambda o: renamed if o else None))
    with pytest.raises(SourceFormatError) as caught:
        make_client(fake_server).fetch_csv(DATASET, PARAMS)
    message = str(caught.value)
    assert "header changed on page 2" in message and DATASET in message and "RecordOffset=25000" in message


def test_html_error_page_is_a_format_error_and_not_retried(fake_server):
    page = b"<!DOCTYPE html><html><head><title>Nomis - error</title></head><body>Sorry</body></html>"
    fake_server.route("GET", CSV_PATH, Reply(200, body=page, content_type="text/html"))
    with pytest.raises(SourceFormatError) as caught:
        make_client(fake_server).fetch_csv(DATASET, PARAMS)
    message = str(caught.value)
    assert "HTML" in message and "expected a Nomis CSV" in message and DATASET in message
    assert fake_server.url(CSV_PATH) in message
    assert fake_server.count("GET", CSV_PATH) == 1


def test_renamed_required_column_is_a_format_error(fake_server):
    header, rows = synthetic_rows(3)
    renamed = [("OBS_VAL" if c == "OBS_VALUE" else c) for c in header]
    fake_server.route("GET", CSV_PATH, Reply(200, body=to_csv(renamed, rows)))
    with pytest.raises(SourceFormatError) as caught:
        make_client(fake_server).fetch_csv(DATASET, PARAMS)
    assert "missing required column(s) ['OBS_VALUE']" in str(caught.value)


def test_empty_body_is_a_format_error(fake_server):
    fake_server.route("GET", CSV_PATH, Reply(200, body=b""))
    with pytest.raises(SourceFormatError, match="empty body"):
        make_client(fake_server).fetch_csv(DATASET, PARAMS)


def test_a_server_ignoring_record_offset_is_caught(fake_server):
    header, rows = synthetic_rows(25_000)
    fake_server.route("GET", CSV_PATH, Reply(200, body=to_csv(header, rows)))  # same full page forever
    with pytest.raises(SourceFormatError, match="identical to the previous page"):
        make_client(fake_server).fetch_csv(DATASET, PARAMS)
    assert fake_server.count("GET", CSV_PATH) == 2


def obs(code: str, value, record_count: int | None = None) -> dict:
    item = {"dataset": {"value": DATASET, "description": "Claimant count by sex and age"},
            "geography": {"value": 1249934985, "description": f"Area {code}", "geogcode": code},
            "date": {"value": "2024-06", "description": "June 2024"},
            "measures": {"value": 20100, "description": "Value"},
            "obs_value": {"value": value},
            "obs_status": {"value": "A" if value not in ("..", None) else "Q",
                           "description": "Normal Value" if value not in ("..", None) else "Suppressed"}}
    if record_count is not None:
        item["record_count"] = record_count
    return item


def test_json_values_as_numbers_strings_and_markers_and_paging(fake_server):
    items = [obs("W01000001", 12), obs("W01000002", "12"), obs("W01000003", ".."),
             obs("W01000004", 7.5), obs("W01000005", None)]

    def handler(request):
        offset, limit = int(query(request, "RecordOffset")), int(query(request, "recordlimit"))
        return Reply(200, body=json.dumps({"obs": items[offset:offset + limit]}), content_type="application/json")

    fake_server.route("GET", JSON_PATH, handler)
    pull = make_client(fake_server, page_size=2).fetch_json(DATASET, PARAMS)
    # no record_count in these items: a short page is not trusted as the end, an empty one is
    assert [int(query(r, "RecordOffset")) for r in fake_server.requests] == [0, 2, 4, 5]
    frame = pull.frame
    assert frame["GEOGRAPHY_CODE"].to_list() == [f"W0100000{i}" for i in range(1, 6)]
    assert frame["OBS_VALUE"].dtype == pl.Float64
    assert frame["OBS_VALUE"].to_list() == [12.0, 12.0, None, 7.5, None]
    assert frame["status"].to_list() == [None, None, "..", None, "missing"]
    assert frame["OBS_STATUS"].to_list() == ["A", "A", "Q", "A", "Q"]
    assert frame["GEOGRAPHY_NAME"][0] == "Area W01000001" and frame["DATE_NAME"][0] == "June 2024"
    assert frame["MEASURES"][0] == "20100"


# --- a server whose page cap is below the page size asked for (seen: 1,000 of 11,502 rows came back) ---------

def test_csv_a_page_cap_below_the_page_size_is_paged_through_to_record_count(fake_server):
    header, rows = nomis_rows(11_502)
    fake_server.route("GET", CSV_PATH, paging_handler(header, rows, cap=1_000))
    pull = make_client(fake_server).fetch_csv(DATASET, PARAMS)

    # the next offset is what arrived, not page * 25,000; it stops at RECORD_COUNT, with no extra request
    assert [int(query(r, "RecordOffset")) for r in fake_server.requests] == list(range(0, 11_502, 1_000))
    assert {query(r, "recordlimit") for r in fake_server.requests} == {"25000"}
    frame = pull.frame
    assert frame.height == 11_502 and pull.pages == 12
    assert frame["GEOGRAPHY_CODE"].n_unique() == 11_502
    assert frame["OBS_VALUE"].to_list() == [float(i) for i in range(11_502)]  # every row once, in order
    assert frame["RECORD_OFFSET"].to_list() == [str(i) for i in range(11_502)]
    assert "11502 rows in 12 page(s)" in pull.notes[0] and "RECORD_COUNT 11502 matched" in pull.notes[0]


def test_json_a_page_cap_below_the_page_size_is_paged_through_to_record_count(fake_server):
    header, rows = fixture_table()
    value_at = header.index("OBS_VALUE")  # the fixture's published values; every 7th suppressed
    items = [obs(f"W01{i:06d}", rows[i % len(rows)][value_at] if i % 7 else "..", record_count=2_345)
             for i in range(2_345)]

    def handler(request):
        offset, limit = int(query(request, "RecordOffset")), int(query(request, "recordlimit"))
        return Reply(200, body=json.dumps({"obs": items[offset:offset + min(limit, 1_000)]}),
                     content_type="application/json")

    fake_server.route("GET", JSON_PATH, handler)
    pull = make_client(fake_server).fetch_json(DATASET, PARAMS)
    assert [int(query(r, "RecordOffset")) for r in fake_server.requests] == [0, 1_000, 2_000]
    assert pull.frame.height == 2_345 and pull.frame["GEOGRAPHY_CODE"].n_unique() == 2_345
    assert pull.frame["status"].to_list().count("..") == len(range(0, 2_345, 7))


def test_csv_a_server_that_runs_out_before_record_count_is_an_error_and_returns_nothing(fake_server):
    header, rows = nomis_rows(9_000, record_count=11_502)  # says 11,502 on every row, has 9,000
    fake_server.route("GET", CSV_PATH, paging_handler(header, rows, cap=1_000))
    pull = None
    with pytest.raises(SourceFormatError) as caught:
        pull = make_client(fake_server).fetch_csv(DATASET, PARAMS)
    assert pull is None
    message = str(caught.value)
    assert "received 9000 rows" in message and "RECORD_COUNT is 11502" in message and "short" in message
    assert fake_server.url(CSV_PATH) in message and DATASET in message
    assert caught.value.url.startswith(fake_server.url(CSV_PATH))
    # it stopped at the first empty page: nothing loops
    assert [int(query(r, "RecordOffset")) for r in fake_server.requests] == list(range(0, 9_001, 1_000))


def test_json_a_server_that_lies_about_record_count_is_an_error(fake_server):
    items = [obs(f"W01{i:06d}", i, record_count=50) for i in range(30)]

    def handler(request):
        offset = int(query(request, "RecordOffset"))
        return Reply(200, body=json.dumps({"obs": items[offset:offset + 20]}), content_type="application/json")

    fake_server.route("GET", JSON_PATH, handler)
    with pytest.raises(SourceFormatError, match=r"received 30 rows in 3 page\(s\).*RECORD_COUNT is 50"):
        make_client(fake_server).fetch_json(DATASET, PARAMS)


def test_a_capped_server_that_ignores_record_offset_is_caught(fake_server):
    header, rows = nomis_rows(11_502)
    fake_server.route("GET", CSV_PATH, Reply(200, body=to_csv(header, rows[:1_000]), content_type="text/csv"))
    with pytest.raises(SourceFormatError, match="identical to the previous page"):
        make_client(fake_server).fetch_csv(DATASET, PARAMS)
    assert fake_server.count("GET", CSV_PATH) == 2


def test_record_count_that_changes_between_pages_is_an_error(fake_server):
    header, rows = nomis_rows(3_000)
    changed = [row[:-1] + ["3100"] for row in rows[1_000:]]  # the dataset was re-issued mid-pull
    fake_server.route("GET", CSV_PATH, paging_handler(header, rows[:1_000] + changed, cap=1_000))
    with pytest.raises(SourceFormatError, match="RECORD_COUNT changed from 3000 to 3100 on page 2"):
        make_client(fake_server).fetch_csv(DATASET, PARAMS)


def test_a_server_that_never_runs_out_stops_at_max_pages(fake_server):
    def handler(request):  # new rows at every offset, no RECORD_COUNT, never an empty page
        offset = int(query(request, "RecordOffset"))
        header, rows = synthetic_rows(offset + 10)
        return Reply(200, body=to_csv(header, rows[offset:offset + 10]), content_type="text/csv")

    fake_server.route("GET", CSV_PATH, handler)
    with pytest.raises(SourceFormatError, match=r"still rows after 5 pages \(50 rows so far\)"):
        make_client(fake_server, max_pages=5).fetch_csv(DATASET, PARAMS)
    assert fake_server.count("GET", CSV_PATH) == 5


def test_json_error_document_is_a_format_error(fake_server):
    fake_server.route("GET", JSON_PATH, Reply(200, body=json.dumps({"error": "unknown geography TYPE999"})))
    with pytest.raises(SourceFormatError, match="unknown geography TYPE999"):
        make_client(fake_server).fetch_json(DATASET, PARAMS)


@pytest.mark.parametrize("name", ["tombolo_fixture_NM_162_1_claimant_count_lsoa_select.csv",
                                  "tombolo_fixture_NM_17_5_aps_employment_rate_select.csv",  # CRLF, no final newline
                                  "tombolo_fixture_NM_1_1_jsa_la_select_quoted.csv"])  # every field quoted
def test_bundled_api_csvs_go_through_the_same_parser(name):
    path = NOMIS_DIR / name
    with open(path, newline="", encoding="utf-8") as fh:
        expected = list(csv.DictReader(fh))
    pull = read_csv_snapshot(path, name.split("_fixture_")[1][:7])
    assert pull.mode == "snapshot" and pull.locations == [str(path)]
    assert pull.frame.height == len(expected)
    assert pull.frame["OBS_VALUE"].to_list() == [float(r["OBS_VALUE"]) for r in expected]
    assert pull.frame["GEOGRAPHY_CODE"].to_list() == [r["GEOGRAPHY_CODE"] for r in expected]


def test_bulk_layout_fails_the_api_csv_checks():
    with pytest.raises(SourceFormatError, match="missing required column"):
        read_csv_snapshot(NOMIS_DIR / "nomis_bulk_census2011_QS402EW_accommodation_type_lad.csv", "QS402EW")


def test_web_download_ts011_title_block_and_notes_are_dropped():
    pull = read_web_download(TS011, "NM_2031_1")
    frame = pull.frame
    text = TS011.read_text()
    areas = re.findall(r'^"[^"]*","([EW]02\d{6})"', text, flags=re.M)  # independent count of the table
    welsh = [a for a in areas if a.startswith("W02")]
    assert len(welsh) == 408  # every 2021 MSOA in Wales
    assert frame["GEOGRAPHY_CODE"].n_unique() == len(areas)
    assert frame.height == len(areas) * 12  # 6 categories x (count, %)
    assert frame.filter(pl.col("GEOGRAPHY_CODE").str.starts_with("W02"))["GEOGRAPHY_CODE"].n_unique() == 408
    assert frame["OBS_VALUE"].dtype == pl.Float64 and frame["OBS_VALUE"].null_count() == 0
    assert frame["status"].null_count() == frame.height
    for column in ("GEOGRAPHY_NAME", "GEOGRAPHY_CODE", "CELL_NAME"):  # nothing of the footer or title leaks in
        assert not frame[column].str.contains("disclosure|Crown Copyright|affected").any()

    def value(code, cell, measure):
        return frame.filter((pl.col("GEOGRAPHY_CODE") == code) & (pl.col("CELL_NAME") == cell)
                            & (pl.col("MEASURES_NAME") == measure))["OBS_VALUE"].to_list()

    assert value("W02000102", "Household is deprived in one dimension", "Value") == [917.0]
    assert value("W02000102", "Household is deprived in one dimension", "Percent") == [34.2]
    assert value("W02000415", "Total: All households", "Value") == [3805.0]
    assert frame["GEOGRAPHY_TYPE"].unique().to_list() == ["2021 super output area - middle layer"]
    assert frame["DATE_NAME"].unique().to_list() == ["2021"]
    assert any("TS011" in note for note in pull.notes)
