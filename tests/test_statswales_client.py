"""The StatsWales OData client against a local server replaying the real recorded responses."""

from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from orchestration.lib.http import HttpClient, SourceFormatError
from orchestration.lib.sources.statswales import (
    StatsWalesClient,
    odata_frame,
    parse_odata_page,
    read_snapshot,
    read_web_export,
)
from tests.fakeserver import FakeServer, Reply
from tests.independent import SNAPSHOTS

SW = SNAPSHOTS / "statswales"
POPU = SW / "statswales_odata_popu1009.json"
ENVI = SW / "statswales_odata_envi0201.json"
TRAN = SW / "statswales_odata_tran0152.json"
ROOT = "/en-gb/dataset"



def load(path) -> dict:
    return json.loads(path.read_bytes())


def make_client(server: FakeServer, **kwargs) -> StatsWalesClient:
    http = HttpClient("statswales", timeout=5, max_tries=3, sleep=lambda s: None)
    return StatsWalesClient(http, base=server.url(ROOT), **kwargs)


def page_two_of_popu(page_one: dict, rows: int = 120) -> dict:
    """A last page in popu1009's layout: real rows of page 1 with new RowKeys and no nextLink."""
    values = copy.deepcopy(page_one["value"][:rows])
    for i, row in enumerate(values):
        row["RowKey"] = f"{1000 + i:016d}"
    return {"odata.metadata": page_one["odata.metadata"], "value": values}


def serve_popu(server: FakeServer, page_one: dict, page_two: dict, *, first_skiptoken_reply=None):
    skiptoken_requests = []

    def handler(request):
        if "$skiptoken" not in request.query:
            return Reply(200, body=json.dumps(page_one), content_type="application/json")
        skiptoken_requests.append(request.query["$skiptoken"][0])
        if first_skiptoken_reply is not None and len(skiptoken_requests) == 1:
            return first_skiptoken_reply
        return Reply(200, body=json.dumps(page_two), content_type="application/json")

    server.route("GET", f"{ROOT}/popu1009", handler)
    return skiptoken_requests


@pytest.mark.parametrize("rewrite_host", [True, False])
def test_follows_next_link_and_concatenates_pages(fake_server, rewrite_host):
    page_one = load(POPU)
    real_next = page_one["odata.nextLink"]
    assert real_next.startswith("http://open.statswales.gov.wales/en-gb/dataset/popu1009?")
    if rewrite_host:  # the test server's own host in the link
        page_one["odata.nextLink"] = real_next.replace("http://open.statswales.gov.wales", fake_server.base_url)
    # else: the link still names the real service; the client must rebase it (no network here).
    page_two = page_two_of_popu(page_one)
    tokens = serve_popu(fake_server, page_one, page_two)

    pull = make_client(fake_server).fetch("popu1009")
    expected_token = parse_qs(urlsplit(real_next).query)["$skiptoken"][0]
    assert tokens == [expected_token]
    assert fake_server.count("GET", f"{ROOT}/popu1009") == 2
    assert pull.pages == 2 and len(pull.locations) == 2
    assert all(url.startswith(fake_server.base_url) for url in pull.locations)
    assert pull.frame.height == 1000 + 120
    assert pull.frame["RowKey"].n_unique() == 1120
    assert pull.frame["data"].dtype == pl.Float64
    assert pull.frame["data"][0] == pytest.approx(95.701706)
    assert pull.frame["Localauthority_SortOrder"].dtype == pl.Int64
    assert pull.notes == ["1120 rows in 2 page(s)"]


def test_filter_is_sent_on_the_first_page(fake_server):
    page = load(TRAN)
    fake_server.route("GET", f"{ROOT}/tran0152", Reply(200, body=json.dumps(page)))
    pull = make_client(fake_server).fetch("tran0152", filter="LocalAuthority_Code eq 'W06000001'")
    (request,) = fake_server.requests
    assert request.query["$filter"] == ["LocalAuthority_Code eq 'W06000001'"]
    assert pull.frame.height == 442


def test_a_500_mid_paging_is_retried(fake_server):
    page_one = load(POPU)
    page_one["odata.nextLink"] = page_one["odata.nextLink"].replace("http://open.statswales.gov.wales",
                                                                    fake_server.base_url)
    tokens = serve_popu(fake_server, page_one, page_two_of_popu(page_one, rows=5),
                        first_skiptoken_reply=Reply(500, body="Internal Server Error"))
    pull = make_client(fake_server).fetch("popu1009")
    assert len(tokens) == 2 and tokens[0] == tokens[1]  # the same page asked for again
    assert pull.frame.height == 1005


def test_a_next_link_that_comes_back_is_a_loop(fake_server):
    page = load(TRAN)
    page["odata.nextLink"] = fake_server.url(f"{ROOT}/tran0152?$skiptoken=same")
    fake_server.route("GET", f"{ROOT}/tran0152", Reply(200, body=json.dumps(page)))
    with pytest.raises(SourceFormatError, match="a second time"):
        make_client(fake_server).fetch("tran0152")
    assert fake_server.count("GET", f"{ROOT}/tran0152") == 2


def test_max_pages_stops_a_server_that_never_ends(fake_server):
    page = load(TRAN)
    served = []

    def handler(request):
        served.append(request)
        body = dict(page, **{"odata.nextLink": fake_server.url(f"{ROOT}/tran0152?$skiptoken={len(served)}")})
        return Reply(200, body=json.dumps(body))

    fake_server.route("GET", f"{ROOT}/tran0152", handler)
    with pytest.raises(SourceFormatError, match="after 4 pages"):
        make_client(fake_server, max_pages=4).fetch("tran0152")
    assert len(served) == 4


def test_html_page_and_wrong_dataset_are_format_errors(fake_server):
    fake_server.route("GET", f"{ROOT}/tran0152", Reply(200, body="<html><body>Service unavailable</body></html>"))
    with pytest.raises(SourceFormatError, match="HTML"):
        make_client(fake_server).fetch("tran0152")
    fake_server.route("GET", f"{ROOT}/econ0080", Reply(200, body=TRAN.read_bytes()))
    with pytest.raises(SourceFormatError, match="names dataset 'tran0152', expected 'econ0080'"):
        make_client(fake_server).fetch("econ0080")


def test_string_data_in_envi0201_is_coerced():
    raw = load(ENVI)
    assert isinstance(raw["value"][0]["Data"], str)  # the real quirk
    rows, next_link = parse_odata_page(ENVI.read_bytes(), str(ENVI), "envi0201")
    frame = odata_frame(rows)
    assert frame["data"].dtype == pl.Float64 and frame["data"].null_count() == 0
    assert frame["data"].to_list() == [float(item["Data"]) for item in raw["value"]]
    assert frame["data"][0] == pytest.approx(16.8290927841982466)
    assert frame["Area_SortOrder"].dtype == pl.Int64 and frame["Area_SortOrder"][0] == 24  # was "24"
    assert frame["Year_SortOrder"][0] == 1
    assert "Data" not in frame.columns
    assert next_link == raw["odata.nextLink"]


def test_float_sort_orders_in_econ0080_become_integers():
    rows, _ = parse_odata_page((SW / "statswales_odata_econ0080.json").read_bytes(), "econ0080")
    frame = odata_frame(rows)
    assert frame["Area_SortOrder"].dtype == pl.Int64 and frame["Area_SortOrder"][0] == 411  # was 411.0


def test_trailing_spaces_are_stripped_from_codes_and_names():
    page = load(POPU)
    # StatsWales pads names with a trailing space, as in the real web export: "Isle of Anglesey ".
    page["value"][0]["Localauthority_Code"] = "W06000001 "
    page["value"][0]["Localauthority_ItemName_ENG"] = "Isle of Anglesey "
    page["value"][0]["Measure_Code"] = "Dens  "
    rows, _ = parse_odata_page(json.dumps(page).encode(), "test", "popu1009")
    assert rows[0]["Localauthority_Code"] == "W06000001"
    assert rows[0]["Localauthority_ItemName_ENG"] == "Isle of Anglesey"
    assert rows[0]["Measure_Code"] == "Dens"
    assert b'"Isle of Anglesey "' in (SW / "dg_statswales_export_la_WIMD_2019.csv").read_bytes()


def test_markers_become_null_with_a_status():
    page = load(TRAN)
    values = ["..", ".", "*", "-", "", None, "12.5", 7, "x", "z", "c", "k", "?!"]
    for item, value in zip(page["value"], values):
        item["Data"] = value
    rows, _ = parse_odata_page(json.dumps(page).encode(), "test", "tran0152")
    got = [(row["data"], row["data_status"]) for row in rows[: len(values)]]
    assert got == [
        (None, "not_available"), (None, "not_applicable"), (None, "confidential"), (None, "nil_or_rounds_to_zero"),
        (None, "missing"), (None, "missing"), (12.5, None), (7.0, None),
        (None, "not_available"), (None, "not_applicable"), (None, "confidential"), (None, "nil_or_rounds_to_zero"),
        (None, "unrecognised:?!"),
    ]


def test_snapshot_of_popu1009_says_it_is_partial():
    pull = read_snapshot([POPU], "popu1009")
    assert pull.mode == "snapshot" and pull.frame.height == 1000
    assert len(pull.notes) == 1
    note = pull.notes[0]
    assert "partial" in note and "page 1 of more" in note and "skiptoken" in note


def test_complete_snapshot_has_no_partial_note():
    pull = read_snapshot([TRAN], "tran0152")
    assert pull.notes == [] and pull.frame.height == 442
    assert pull.frame["LocalAuthority_Code"].str.starts_with("W").all()


def test_snapshot_pages_must_chain(tmp_path):
    with pytest.raises(SourceFormatError, match="no nextLink but 1 more file"):
        read_snapshot([TRAN, TRAN], "tran0152")
    second = tmp_path / "popu1009_page2.json"
    second.write_text(json.dumps(page_two_of_popu(load(POPU))))
    pull = read_snapshot([POPU, second], "popu1009")
    assert pull.notes == [] and pull.frame.height == 1120 and pull.pages == 2


def test_web_export_population_estimates():
    frame = read_web_export(SW / "statswales_web_export_popu_estimates_la_mid2022_2023.csv")
    assert frame.columns == ["row_level_1", "row_level_2", "row_level_3", "row_level_4", "row_label", "column",
                             "data", "data_status"]
    assert frame.height == 28 * 2
    anglesey = frame.filter(pl.col("row_label") == "Isle of Anglesey")  # "Isle of Anglesey " in the file
    assert anglesey["column"].to_list() == ["Mid-year 2022", "Mid-year 2023"]
    assert anglesey["data"].to_list() == [69070.0, 69291.0]
    assert anglesey.row(0, named=True)["row_level_3"] == "Wales"  # label path filled down the hierarchy
    gwynedd = frame.filter(pl.col("row_label") == "Gwynedd").row(0, named=True)
    assert (gwynedd["row_level_1"], gwynedd["row_level_2"], gwynedd["row_level_3"]) == (
        "United Kingdom (1)", "Great Britain (1)", "Wales")
    uk_2023 = frame.filter((pl.col("row_label") == "United Kingdom (1)") & (pl.col("column") == "Mid-year 2023"))
    assert uk_2023["data"].to_list() == [None] and uk_2023["data_status"].to_list() == ["not_available"]
    labels = set(frame["row_label"])
    assert not labels & {"Footnotes:", "Metadata:", "Title", "Filters:"}  # banner and footer are gone


def test_web_export_with_sections_and_not_applicable_markers():
    frame = read_web_export(SW / "statswales_web_export_nsw_adult_lifestyles_la_hb.csv")
    smoker = frame.filter((pl.col("row_label") == "Smoker") & (pl.col("column") == "Wales"))
    assert smoker["data"].to_list() == [pytest.approx(12.804476)]
    assert smoker["row_level_1"].to_list() == ["Smoking & e-cigarette use"]
    section = frame.filter(pl.col("row_label") == "Alcohol")
    assert section.height == 30 and set(section["data_status"]) == {"not_applicable"}
    assert frame.filter(pl.col("row_label") == "Ex-smoker")["row_level_1"].unique().to_list() == [
        "Smoking & e-cigarette use"]


def test_web_export_with_three_header_rows_and_confidential_cells():
    frame = read_web_export(SW / "dg_statswales_export_la_population_age_2019.csv")
    anglesey = frame.filter(pl.col("row_label") == "Isle of Anglesey")
    got = dict(zip(anglesey["column"], anglesey["data"]))
    assert got["All ages / Aged 0 to 15 / Aged 0 to 4"] == 3600 and got["All ages"] == 69961
    assert got["All ages / Aged 5 to 15"] == 8455 and got["All ages / Aged 0 to 15"] == 12055
    welsh = read_web_export(SW / "dg_statswales_export_la_welsh_frequency_2018-19.csv")
    merthyr = welsh.filter(pl.col("row_label") == "Merthyr Tydfil")
    assert dict(zip(merthyr["column"], merthyr["data_status"]))["Weekly"] == "confidential"
    lsoas = read_web_export(SW / "dg_statswales_export_lsoa_welsh_language_2011.csv")
    first = lsoas.filter(pl.col("row_label") == "W01000001").row(0, named=True)  # "W01000001 " in the file
    assert (first["row_level_1"], first["row_level_2"], first["data"]) == ("Wales", "Isle of Anglesey", 50.0)


def test_web_export_without_a_table_is_a_format_error(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Population > Estimates\nFilters:\nYear: 2023\n")
    with pytest.raises(SourceFormatError, match="no table found"):
        read_web_export(path)
