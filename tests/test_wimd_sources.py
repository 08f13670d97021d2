"""WIMD: the original Welsh Government ODS files parsed without odfpy, checked against the bundled CSVs."""

from __future__ import annotations

import io
import zipfile

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from orchestration.lib.http import HttpClient, SourceFormatError
from orchestration.lib.sources import wimd
from tests.independent import SNAPSHOTS
from tests.fakeserver import Reply

SCORES_ODS = SNAPSHOTS / wimd.SNAPSHOT_SCORES_ODS
GEOGRAPHY_ODS = SNAPSHOTS / wimd.SNAPSHOT_GEOGRAPHY_ODS
SCORES_CSV = SNAPSHOTS / "wimd" / "wimd2019_lsoa11_index_and_domain_scores_wales.csv"
GEOGRAPHY_CSV = SNAPSHOTS / "wimd" / "wimd2019_lsoa11_geography_lookup_wales.csv"
WIMD2025_JSON = SNAPSHOTS / "wimd" / "wimd2025_ranks_deciles_by_lsoa21_derived.json"


@pytest.fixture(scope="module")
def scores_ods() -> bytes:
    return SCORES_ODS.read_bytes()


def retarget(content: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    """The same ODS with content.xml edited (mimetype first and stored, as the format requires)."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "content.xml":
                assert data.count(old) >= count, f"{old!r} not in content.xml"
                data = data.replace(old, new, count)
            compress = zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED
            target.writestr(info.filename, data, compress_type=compress)
    return out.getvalue()


def test_scores_ods_reproduces_the_bundled_csv_exactly(scores_ods):
    parsed = wimd.parse_wimd2019_scores_ods(scores_ods, str(SCORES_ODS))
    assert parsed.schema == pl.Schema(wimd.WIMD2019_SCORES_SCHEMA)
    expected = pl.read_csv(SCORES_CSV, infer_schema=False)
    expected.columns = list(wimd.WIMD2019_SCORE_HEADERS.values())
    expected = expected.with_columns([pl.col(c).cast(pl.Float64) for c in wimd.SCORE_COLUMNS])
    assert parsed.height == 1909
    # Full precision: office:value, not the one-decimal display text.
    assert_frame_equal(parsed, expected, check_exact=True)
    first = parsed.row(0, named=True)
    assert first["lsoa11_name"] == "Aberffraw & Rhosneigr 1"
    assert first["wimd_score"] == 19.17394138 and first["physical_environment_score"] == 0.614650136


def test_geography_ods_reproduces_the_bundled_csv_exactly():
    parsed = wimd.parse_wimd_geography_ods(GEOGRAPHY_ODS.read_bytes(), str(GEOGRAPHY_ODS))
    expected = pl.read_csv(GEOGRAPHY_CSV, infer_schema=False)
    assert expected.columns == list(wimd.GEOGRAPHY_COLUMNS)
    expected.columns = list(wimd.GEOGRAPHY_COLUMNS.values())
    assert_frame_equal(parsed, expected, check_exact=True)
    assert parsed["la_code"].n_unique() == 22


def test_reader_expands_repeated_cells_and_skips_repeated_empty_rows(scores_ods):
    rows = wimd.read_ods_sheet(scores_ods, "Data")
    # 3 banner/header rows + 1,909 LSOAs; ~1 million repeated empty rows are not materialised.
    assert len(rows) == 1912
    banner_row, banner = rows[1]
    assert banner_row == 2 and banner[:4] == [None, None, None, "Domain Score"]
    assert wimd.ods_sheet_names(scores_ods) == ["Guidance_Sheet", "Data"]


def test_renamed_header_is_rejected_naming_the_column(scores_ods):
    tampered = retarget(scores_ods, b"<text:p>Income<text:s/></text:p>", b"<text:p>Earnings</text:p>")
    with pytest.raises(SourceFormatError, match=r"missing column\(s\) \['Income'\]"):
        wimd.parse_wimd2019_scores_ods(tampered, "tampered.ods")


def test_non_numeric_score_is_rejected_naming_row_and_column(scores_ods):
    cell = (b'<table:table-cell office:value-type="float" office:value="17.03819751" table:style-name="ce3">'
            b"<text:p>17.0</text:p>")
    tampered = retarget(scores_ods, cell,
                        b'<table:table-cell office:value-type="string" table:style-name="ce3"><text:p>x</text:p>')
    with pytest.raises(SourceFormatError, match=r"row 4, column 'income_score': got 'x', expected a number"):
        wimd.parse_wimd2019_scores_ods(tampered, "tampered.ods")


def test_wrong_code_is_rejected(scores_ods):
    tampered = retarget(scores_ods, b"<text:p>W01000002</text:p>", b"<text:p>E01000002</text:p>")
    with pytest.raises(SourceFormatError, match=r"row 5, column 'lsoa11_code': got 'E01000002'"):
        wimd.parse_wimd2019_scores_ods(tampered, "tampered.ods")


def test_missing_lsoa_row_and_missing_sheet_are_rejected(scores_ods):
    content = zipfile.ZipFile(io.BytesIO(scores_ods)).read("content.xml")
    code = content.index(b"<text:p>W01001958</text:p>")
    start = content.rindex(b"<table:table-row", 0, code)
    end = content.index(b"</table:table-row>", code) + len(b"</table:table-row>")
    without_last = retarget(scores_ods, content[start:end], b"")
    with pytest.raises(SourceFormatError, match="1,908 LSOA rows, expected 1,909"):
        wimd.parse_wimd2019_scores_ods(without_last, "short.ods")
    renamed = retarget(scores_ods, b'table:name="Data"', b'table:name="Sheet2"')
    with pytest.raises(SourceFormatError, match=r"no sheet 'Data' \(sheets: \['Guidance_Sheet', 'Sheet2'\]\)"):
        wimd.parse_wimd2019_scores_ods(renamed, "renamed.ods")


def test_not_an_ods_is_rejected():
    with pytest.raises(SourceFormatError, match="HTML page"):
        wimd.parse_wimd2019_scores_ods(b"<!DOCTYPE html><html><body>Page not found</body></html>", "x")
    with pytest.raises(SourceFormatError, match="not an ODS"):
        wimd.parse_wimd2019_scores_ods(SCORES_ODS.read_bytes()[:50_000], "truncated.ods")


def test_fetch_wimd2019_over_http(fake_server, scores_ods, monkeypatch):
    path = "/sites/default/files/statistics-and-research/wimd-2019-index-and-domain-scores-by-small-area.ods"
    fake_server.route("GET", path, Reply(503), Reply(200, body=scores_ods, headers={"ETag": '"w19"'}))
    monkeypatch.setenv(wimd.WIMD_2019_URL_ENV, fake_server.url(path))
    pull = wimd.fetch_wimd2019(client=HttpClient("wimd", sleep=lambda s: None))
    assert pull.mode == "live" and pull.source == "wimd" and pull.etag == '"w19"'
    assert pull.frame.height == 1909 and fake_server.count("GET", path) == 2
    snapshot = wimd.read_wimd2019_snapshot(SNAPSHOTS)
    assert snapshot.sha256 == pull.sha256 and snapshot.mode == "snapshot"
    assert_frame_equal(snapshot.frame, pull.frame, check_exact=True)

    fake_server.route("GET", "/error.ods", Reply(200, body="<html><body>Sorry</body></html>", content_type="text/html"))
    with pytest.raises(SourceFormatError, match="HTML page"):
        wimd.fetch_wimd2019(fake_server.url("/error.ods"), client=HttpClient("wimd", sleep=lambda s: None))


def test_wimd2025_json():
    frame = wimd.parse_wimd2025_json(WIMD2025_JSON.read_bytes(), str(WIMD2025_JSON))
    assert frame.height == 1917
    assert frame.columns[:3] == ["lsoa21_code", "wimd_rank", "wimd_decile"]
    assert "community_safety_decile" in frame.columns and "physical_environment_decile" in frame.columns
    assert frame.filter(pl.col("lsoa21_code") == "W01000003").row(0, named=True)["wimd_rank"] == 570
    broken = WIMD2025_JSON.read_bytes().replace(b'"W01000003":{"rank":570,', b'"W01000003":{"rnk":570,', 1)
    with pytest.raises(SourceFormatError, match="LSOA W01000003: missing key 'rank'"):
        wimd.parse_wimd2025_json(broken)
