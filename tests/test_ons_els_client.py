"""ONS Explore Local Statistics: the real claimant-count CSV and CSVW metadata served over local HTTP."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from orchestration.lib.http import FetchError, HttpClient, SourceFormatError
from orchestration.lib.sources import ons_els
from orchestration.lib.sources.base import OGL
from tests.independent import SNAPSHOTS
from tests.fakeserver import Reply

SLUG = "claimant-count"
CSV_BYTES = (SNAPSHOTS / "ons_els" / SLUG / f"{SLUG}.wales_subset.csv").read_bytes()
META_BYTES = (SNAPSHOTS / "ons_els" / SLUG / f"{SLUG}.csv-metadata.json").read_bytes()
CSV_PATH = f"/main/{SLUG}/{SLUG}.csv"
META_PATH = f"/csvw-metadata/{SLUG}/{SLUG}.csv-metadata.json"


def lines_starting(prefix: str, content: bytes = CSV_BYTES) -> int:
    body = content.decode("utf-8-sig").splitlines()[1:]
    return sum(1 for line in body if line.startswith(prefix))


@pytest.fixture
def serve(fake_server, monkeypatch):
    monkeypatch.setenv(ons_els.DATA_URL_ENV, fake_server.url("/main"))
    monkeypatch.setenv(ons_els.METADATA_URL_ENV, fake_server.url("/csvw-metadata"))

    def _serve(csv: bytes = CSV_BYTES, meta: bytes = META_BYTES, *csv_first: Reply):
        fake_server.route("GET", CSV_PATH, *csv_first, Reply(200, body=csv, content_type="text/csv",
                                                              headers={"ETag": '"cc1"'}))
        fake_server.route("GET", META_PATH, Reply(200, body=meta, content_type="application/json"))
        return fake_server

    return _serve


def client() -> HttpClient:
    return HttpClient("ons_els", sleep=lambda s: None)


def test_fetch_parses_types_and_keeps_every_welsh_row(serve):
    server = serve()
    assert CSV_BYTES.startswith(b"\xef\xbb\xbf")  # the real file has a UTF-8 BOM
    pull = ons_els.fetch(SLUG, client=client())
    frame = pull.frame
    assert pull.mode == "live" and pull.source == "ons_els" and pull.dataset == SLUG
    assert pull.locations == [server.url(CSV_PATH), server.url(META_PATH)]
    assert list(frame.columns) == list(ons_els.OUTPUT_COLUMNS)
    assert frame.schema["observation"] == pl.Float64
    assert frame.schema["lci_95"] == pl.Float64 and frame.schema["uci_95"] == pl.Float64
    assert frame.schema["areacd"] == pl.String and frame.schema["period"] == pl.String
    # Every line of the file is kept with the default prefixes, and the W06 count matches the file.
    assert frame.height == lines_starting("") == 675
    assert frame.filter(pl.col("areacd").str.starts_with("W06")).height == lines_starting("W06") == 550
    assert frame["lci_95"].null_count() == frame.height  # empty -> null, not 0
    uk_2001 = frame.filter((pl.col("areacd") == "K02000001") & (pl.col("period") == "2001-01-01/P1Y"))
    assert uk_2001.row(0, named=True)["observation"] == 2.6
    assert pull.licence == OGL and pull.release == "2026-01-20" and pull.etag == '"cc1"'
    assert pull.metadata["title"] == "Claimant count"
    assert pull.metadata["indicators"][0]["frequency"] == "annual"
    assert any(note.startswith("caveats (Claimant Count): Proportions of people claiming") for note in pull.notes)


def test_area_prefixes_filter_rows(serve):
    serve()
    pull = ons_els.fetch(SLUG, areas_prefixes=("W06",), client=client())
    assert pull.frame.height == lines_starting("W06")
    assert pull.frame["areacd"].str.starts_with("W06").all()


def test_renamed_column_is_rejected_naming_it(serve):
    renamed = CSV_BYTES.replace(b"lci_95", b"lower_ci", 1)
    serve(renamed)
    with pytest.raises(SourceFormatError, match=r"missing column\(s\) \['lci_95'\], unexpected column\(s\) "
                                                r"\['lower_ci'\]") as caught:
        ons_els.fetch(SLUG, client=client())
    assert caught.value.url.endswith(CSV_PATH)


def test_missing_column_and_non_numeric_observation_are_rejected(serve):
    meta = json.loads(META_BYTES)
    meta["tableSchema"]["columns"].append({"titles": ["sex", "Sex"], "datatype": "string"})
    serve(CSV_BYTES, json.dumps(meta).encode())
    with pytest.raises(SourceFormatError, match=r"missing column\(s\) \['sex'\]"):
        ons_els.fetch(SLUG, client=client())
    bad_value = CSV_BYTES.replace(b"Claimant Count,2001-01-01/P1Y,2.6,", b"Claimant Count,2001-01-01/P1Y,n/a,", 1)
    serve(bad_value)
    with pytest.raises(SourceFormatError, match=r"row 2, column 'observation': 'n/a' is not a number"):
        ons_els.fetch(SLUG, client=client())


def test_html_page_is_rejected(serve):
    serve(b"<!DOCTYPE html><html><head><title>404</title></head><body>Not Found</body></html>")
    with pytest.raises(SourceFormatError, match="HTML page"):
        ons_els.fetch(SLUG, client=client())
    serve(CSV_BYTES, b"<html><body>rate limited</body></html>")
    with pytest.raises(SourceFormatError, match="HTML page, expected CSVW"):
        ons_els.fetch(SLUG, client=client())


def test_transient_errors_are_retried_and_404_is_not(serve, fake_server):
    serve(CSV_BYTES, META_BYTES, Reply(500), Reply(429, headers={"Retry-After": "0"}))
    assert ons_els.fetch(SLUG, client=client()).frame.height == 675
    assert fake_server.count("GET", CSV_PATH) == 3
    with pytest.raises(FetchError) as caught:
        ons_els.fetch("no-such-dataset", client=client())
    assert caught.value.status == 404 and caught.value.attempts == 1


def test_snapshot_equals_live_parse_of_the_same_bytes(serve):
    serve()
    live = ons_els.fetch(SLUG, client=client())
    snapshot = ons_els.read_snapshot(SLUG, SNAPSHOTS)
    assert snapshot.mode == "snapshot" and snapshot.sha256 == live.sha256
    assert_frame_equal(snapshot.frame, live.frame, check_exact=True)
    assert snapshot.metadata == live.metadata


def test_other_bundled_layouts_parse():
    # personal-wellbeing-estimates has measure before observation and no BOM; homicide is by police force area.
    wellbeing = ons_els.read_snapshot("personal-wellbeing-estimates", SNAPSHOTS).frame
    assert list(wellbeing.columns) == list(ons_els.OUTPUT_COLUMNS) and wellbeing.height == 1200
    assert wellbeing.schema["observation"] == pl.Float64 and wellbeing["observation"].null_count() == 0
    homicide = ons_els.read_snapshot("homicide-offences", SNAPSHOTS).frame
    assert homicide.filter(pl.col("areacd").str.starts_with("W15")).height == 36
    with pytest.raises(SourceFormatError, match="metadata only"):
        ons_els.read_snapshot("population-indicators", SNAPSHOTS)
