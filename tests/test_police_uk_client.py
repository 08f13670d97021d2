"""data.police.uk client: the crimes-street API (POST, quadrant splitting on 503) and the monthly archive.

Everything runs against a real HTTP server on 127.0.0.1 (tests/fakeserver.py) with real police.uk data:
the London ``crimes-street`` API response and the Gwent monthly street-level CSVs.
"""

from __future__ import annotations

import copy
import io
import json
import os
import time
import zipfile
from urllib.parse import parse_qs

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from shapely.geometry import Point, Polygon

from orchestration.lib import police_uk
from orchestration.lib.http import FetchError, HttpClient, SourceFormatError
from orchestration.lib.sources import police_uk_api as api
from tests.independent import SNAPSHOTS
from tests.fakeserver import Reply

LONDON_JSON = SNAPSHOTS / "police_uk" / "api_crimes-street_poly_2016-01_ward_E05000026_london.json"
LONDON = json.loads(LONDON_JSON.read_text())
GWENT = SNAPSHOTS / "police_uk" / "gwent"
STREET = "/api/crimes-street/all-crime"


def client(max_tries: int = 5) -> HttpClient:
    return HttpClient("police_uk", max_tries=max_tries, sleep=lambda s: None)


def whole_area() -> list[tuple[float, float]]:
    """A box (lat, lng) around every crime in the London response, a little larger."""
    lats = [float(c["location"]["latitude"]) for c in LONDON]
    lngs = [float(c["location"]["longitude"]) for c in LONDON]
    s, n, w, e = min(lats) - 0.001, max(lats) + 0.001, min(lngs) - 0.001, max(lngs) + 0.001
    return [(s, w), (n, w), (n, e), (s, e)]


def form(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def polygon_of(poly: str) -> Polygon:
    points = [tuple(map(float, pair.split(","))) for pair in poly.split(":")]
    return Polygon([(lng, lat) for lat, lng in points])


class FakeCrimesStreet:
    """Like the real API: 503 when the area holds more than ``limit`` crimes, else the crimes in it.

    ``overlap`` widens each area a little, so neighbouring quadrants both return the crimes near their
    shared edge (as the real API can for a point snapped onto the edge): the client must de-duplicate.
    ``fail_once`` answers the first request for each sub-area with that status before answering properly.
    """

    def __init__(self, limit: int, overlap: float = 0.0005, fail_once: int | None = None, always: int | None = None):
        self.limit, self.overlap, self.fail_once, self.always = limit, overlap, fail_once, always
        self.polys: list[str] = []
        self.returned = 0
        self.failed: set[str] = set()

    def __call__(self, request) -> Reply:
        fields = form(request)
        poly = fields["poly"]
        self.polys.append(poly)
        if self.always:
            return Reply(self.always)
        if fields.get("date") != "2016-01":
            return Reply(400, body="bad date")
        if self.fail_once and len(self.polys) > 1 and poly not in self.failed:
            self.failed.add(poly)
            return Reply(self.fail_once, body="upstream error")
        area = polygon_of(poly).buffer(self.overlap)
        inside = [c for c in LONDON
                  if area.covers(Point(float(c["location"]["longitude"]), float(c["location"]["latitude"])))]
        if len(inside) > self.limit:
            return Reply(503, body="")
        self.returned += len(inside)
        return Reply(200, body=json.dumps(inside), content_type="application/json")


@pytest.fixture
def api_base(fake_server, monkeypatch):
    monkeypatch.setenv(api.API_URL_ENV, fake_server.url("/api"))
    monkeypatch.setenv(api.ARCHIVE_URL_ENV, fake_server.url("/data/archive"))
    return fake_server


# ---------------------------------------------------------------------------------------------- API


def test_crimes_street_posts_poly_and_date(api_base):
    api_base.route("POST", STREET, Reply(200, body=LONDON_JSON.read_bytes(), content_type="application/json"))
    crimes = api.crimes_street(whole_area(), "2016-01", client=client())
    assert len(crimes) == 233
    (request,) = api_base.requests
    assert request.method == "POST" and request.path == STREET and not request.query
    fields = form(request)
    assert set(fields) == {"poly", "date"} and fields["date"] == "2016-01"
    points = fields["poly"].split(":")
    assert len(points) == 4  # lat,lng pairs, ring not repeated
    lat, lng = map(float, points[0].split(","))
    assert (lat, lng) == pytest.approx(whole_area()[0])


def test_503_for_the_whole_area_splits_into_quadrants_and_deduplicates(api_base):
    fake = FakeCrimesStreet(limit=100)
    api_base.route("POST", STREET, fake)
    crimes = api.crimes_street(whole_area(), "2016-01", client=client())
    ids = [c["id"] for c in crimes]
    assert len(ids) == len(set(ids)) == 233
    assert set(ids) == {c["id"] for c in LONDON}
    assert fake.returned > 233  # quadrants overlapped: some crimes came back twice and were dropped
    whole = fake.polys[0]
    assert fake.polys.count(whole) == 1  # the 503 "too many crimes" was not retried
    assert len(fake.polys) >= 5


def test_500_on_a_quadrant_is_retried(api_base):
    fake = FakeCrimesStreet(limit=200, fail_once=500)
    api_base.route("POST", STREET, fake)
    http = client()
    crimes = api.crimes_street(whole_area(), "2016-01", client=http)
    assert sorted(c["id"] for c in crimes) == sorted(c["id"] for c in LONDON)
    quadrants = [p for p in fake.polys if p != fake.polys[0]]
    assert fake.failed and all(quadrants.count(p) == 2 for p in fake.failed)
    assert len(http.waits) == len(fake.failed)  # one backoff per retried quadrant


def test_transient_errors_give_up_after_max_tries(api_base):
    api_base.route("POST", STREET, Reply(502, body="bad gateway"))
    with pytest.raises(FetchError) as caught:
        api.crimes_street(whole_area(), "2016-01", client=client(max_tries=3))
    assert caught.value.status == 502 and caught.value.attempts == 3
    assert api_base.count("POST", STREET) == 3


def test_split_depth_limit_is_a_clear_error(api_base):
    fake = FakeCrimesStreet(limit=0, always=503)
    api_base.route("POST", STREET, fake)
    with pytest.raises(api.TooManyCrimesError, match=r"more than 10,000 crimes .* 2 times \(max_split_depth\)"):
        api.crimes_street(whole_area(), "2016-01", client=client(), max_split_depth=2)
    assert len(fake.polys) == 1 + 1 + 1  # whole area, first quadrant, its first quadrant: then stop


def test_api_json_shape_is_validated(api_base):
    broken = copy.deepcopy(LONDON)
    del broken[5]["category"]
    api_base.route("POST", STREET, Reply(200, body=json.dumps(broken)))
    with pytest.raises(SourceFormatError, match=r"crime 5 .*missing key 'category'") as caught:
        api.crimes_street(whole_area(), "2016-01", client=client())
    assert caught.value.url.endswith(STREET)
    no_street = copy.deepcopy(LONDON)
    del no_street[0]["location"]["street"]
    api_base.route("POST", STREET, Reply(200, body=json.dumps(no_street)))
    with pytest.raises(SourceFormatError, match=r"missing key 'location.street'"):
        api.crimes_street(whole_area(), "2016-01", client=client())
    api_base.route("POST", STREET, Reply(200, body="<!DOCTYPE html><html><body>Maintenance</body></html>"))
    with pytest.raises(SourceFormatError, match="HTML page"):
        api.crimes_street(whole_area(), "2016-01", client=client())


def no_location_crimes() -> list[dict]:
    """Real London crimes reshaped as crimes-no-location returns them (location null)."""
    picked = [c for c in LONDON if c["category"] != "anti-social-behaviour"][:3]
    out = []
    for crime in copy.deepcopy(picked):
        crime["location"], crime["location_type"] = None, None
        out.append(crime)
    return out


def test_crimes_no_location_get(api_base):
    body = json.dumps(no_location_crimes())
    api_base.route("GET", "/api/crimes-no-location", Reply(500), Reply(200, body=body))
    crimes = api.crimes_no_location("metropolitan", "2016-01", client=client())
    assert len(crimes) == 3
    last = api_base.requests[-1]
    assert last.method == "GET"
    assert last.query == {"category": ["all-crime"], "force": ["metropolitan"], "date": ["2016-01"]}


def test_real_api_json_converts_to_the_csv_schema():
    frame = api.api_crimes_to_street_frame(LONDON, "Metropolitan Police Service", "2016-01",
                                           no_location=no_location_crimes())
    assert frame.schema == pl.Schema(police_uk.OUTPUT_SCHEMA)
    assert frame.height == 233 + 3
    assert set(frame["crime_type"]) <= police_uk.CRIME_TYPES
    counts = dict(frame.head(233).group_by("crime_type").len().iter_rows())
    assert counts["Violence and sexual offences"] == 48
    assert counts["Anti-social behaviour"] == 71
    assert counts["Criminal damage and arson"] == 15
    assert counts["Theft from the person"] == 9 and counts["Public order"] == 14
    first = frame.row(0, named=True)
    assert first["location"] == "On or near Vicarage Drive"
    assert (first["latitude"], first["longitude"]) == (51.537035, 0.081555)
    assert first["crime_id"] is None and first["last_outcome_category"] is None  # ASB
    assert first["month"] == "2016-01" and first["falls_within"] == "Metropolitan Police Service"
    assert frame["lsoa_code"].null_count() == frame["lsoa_name"].null_count() == frame.height  # the API has no LSOA
    asb = frame.filter(pl.col("crime_type") == "Anti-social behaviour")
    assert asb["crime_id"].null_count() == asb.height
    crimes = frame.head(233).filter(pl.col("crime_type") != "Anti-social behaviour")
    # Real quirk: in this response the 15 British Transport Police crimes have an empty persistent_id too.
    btp = crimes.filter(pl.col("reported_by") == "British Transport Police")
    assert btp.height == btp["crime_id"].null_count() == 15
    force = crimes.filter(pl.col("reported_by") == "Metropolitan Police Service")
    assert force["crime_id"].null_count() == 0 and force["crime_id"].str.len_chars().eq(64).all()
    by_id = {c["id"]: c for c in LONDON}
    with_outcome = next(c for c in LONDON if c["outcome_status"])
    row = frame.filter(pl.col("crime_id") == with_outcome["persistent_id"]).row(0, named=True)
    assert row["last_outcome_category"] == with_outcome["outcome_status"]["category"]
    assert frame.filter(pl.col("reported_by") == "British Transport Police").height == sum(
        1 for c in by_id.values() if c["location_type"] == "BTP")
    placeless = frame.tail(3)
    assert placeless["location"].to_list() == ["No Location"] * 3
    assert placeless["longitude"].null_count() == 3 and placeless["crime_id"].null_count() == 0
    assert frame["source_row"].to_list() == list(range(1, 237))
    # One loading path downstream: the API rows stack onto rows parsed from a monthly CSV.
    parsed = police_uk.parse_street_file(GWENT / "2022-07-gwent-street.csv")
    assert pl.concat([parsed, frame]).height == parsed.height + frame.height


def test_unknown_category_is_rejected():
    odd = copy.deepcopy(LONDON[:2])
    odd[1]["category"] = "public-disorder-weapons"  # retired 2013 category, not in the CSV's list
    with pytest.raises(SourceFormatError, match="unknown category 'public-disorder-weapons'"):
        api.api_crimes_to_street_frame(odd, "Metropolitan Police Service", "2016-01")


def test_split_quadrants_clip_the_polygon():
    triangle = [(51.0, -3.0), (52.0, -3.0), (51.0, -2.0)]
    pieces = api.split_quadrants(triangle)
    assert len(pieces) == 3  # the north-east quadrant lies outside the triangle (it only touches it)
    whole = Polygon([(lng, lat) for lat, lng in triangle])
    union = Polygon()
    for piece in pieces:
        polygon = Polygon([(lng, lat) for lat, lng in piece])
        assert whole.buffer(1e-9).contains(polygon)
        union = union.union(polygon)
    assert union.area == pytest.approx(whole.area)


# ------------------------------------------------------------------------------------------ archive


def archive_zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


JULY = (GWENT / "2022-07-gwent-street.csv").read_bytes()
AUGUST = (GWENT / "2022-08-gwent-street.csv").read_bytes()
ARCHIVE = "/data/archive/2022-08.zip"


def test_archive_zip_is_extracted_and_parsed_like_the_csv(api_base, tmp_path):
    body = archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST, "2022-07/2022-07-gwent-street.csv": JULY})
    api_base.route("GET", ARCHIVE, Reply(200, body=body, content_type="application/zip", headers={"ETag": '"a8"'}))
    dest = tmp_path / "downloads"
    path = api.fetch_archive_month("2022-08", "gwent", dest, client=client())
    assert path == dest / "2022-08-gwent-street.csv" and path.read_bytes() == AUGUST
    assert sorted(p.name for p in dest.iterdir()) == ["2022-08-gwent-street.csv"]  # only this member
    expected = police_uk.parse_street_file(GWENT / "2022-08-gwent-street.csv")
    assert_frame_equal(police_uk.parse_street_file(path, "2022-08"), expected, check_exact=True)

    pull = api.fetch_street_month("gwent", "2022-08", dest, client=client())
    snapshot = api.read_street_snapshot(GWENT / "2022-08-gwent-street.csv", "2022-08")
    assert pull.mode == "live" and snapshot.mode == "snapshot"
    assert pull.dataset == snapshot.dataset == "street_crimes/gwent" and pull.etag == '"a8"'
    assert pull.sha256 == snapshot.sha256
    assert_frame_equal(pull.frame, snapshot.frame, check_exact=True)
    assert pull.locations == [api_base.url(ARCHIVE) + "#2022-08/2022-08-gwent-street.csv"]

    # An older month out of the newer archive (each archive holds the previous months too).
    older = api.fetch_archive_month("2022-07", "gwent", dest, client=client(), archive_month="2022-08")
    assert older.read_bytes() == JULY


def test_truncated_download_fails_and_leaves_no_file(api_base, tmp_path):
    body = archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST})
    api_base.route("GET", ARCHIVE, Reply(200, body=body, truncate_to=len(body) // 2))
    with pytest.raises(FetchError, match="truncated|connection"):
        api.fetch_archive_month("2022-08", "gwent", tmp_path, client=client(max_tries=2))
    assert api_base.count("GET", ARCHIVE) == 2
    assert list(tmp_path.iterdir()) == []


def test_cut_zip_and_corrupt_member_leave_no_file(api_base, tmp_path):
    good = tmp_path / "2022-08-gwent-street.csv"
    good.write_bytes(b"last good copy\n")
    body = archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST})
    api_base.route("GET", ARCHIVE, Reply(200, body=body[: len(body) - 4000]))  # complete response, cut file
    with pytest.raises(SourceFormatError, match="not a readable zip"):
        api.fetch_archive_month("2022-08", "gwent", tmp_path, client=client())

    stored = archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST}, compression=zipfile.ZIP_STORED)
    assert stored.count(b"Gwent Police") > 1
    corrupt = stored.replace(b"Gwent Police", b"Gwent Polic3", 1)  # the member's CRC no longer matches
    api_base.route("GET", ARCHIVE, Reply(200, body=corrupt))
    with pytest.raises(SourceFormatError, match="could not extract .*CRC"):
        api.fetch_archive_month("2022-08", "gwent", tmp_path, client=client())
    assert [p.name for p in tmp_path.iterdir()] == [good.name]  # no partial or temporary file
    assert good.read_bytes() == b"last good copy\n"  # the previous file was not clobbered


def test_html_instead_of_zip_and_missing_member(api_base, tmp_path):
    api_base.route("GET", ARCHIVE, Reply(200, body="<!DOCTYPE html>\n<html><body>Down for maintenance</body></html>",
                                         content_type="text/html"))
    with pytest.raises(SourceFormatError, match="HTML page"):
        api.fetch_archive_month("2022-08", "gwent", tmp_path, client=client())
    api_base.route("GET", ARCHIVE, Reply(200, body=archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST})))
    with pytest.raises(SourceFormatError, match=r"no member '2022-08/2022-08-south-wales-street.csv'"):
        api.fetch_archive_month("2022-08", "south-wales", tmp_path, client=client())
    assert list(tmp_path.iterdir()) == []


def test_a_member_the_parser_rejects_raises_the_parser_error(api_base, tmp_path):
    wrong_month = AUGUST.replace(b",2022-08,", b",2022-09,", 1)
    api_base.route("GET", ARCHIVE, Reply(200, body=archive_zip({"2022-08/2022-08-gwent-street.csv": wrong_month})))
    with pytest.raises(police_uk.PoliceUkParseError, match=r"row 2, column 'Month'"):
        api.fetch_street_month("gwent", "2022-08", tmp_path, client=client())


# ------------------------------------------------------------------------------- what is published

DATES = "/api/crimes-street-dates"
INDEX = "/data/archive/"


def street_dates(*months: str) -> str:
    return json.dumps([{"date": m, "stop-and-search": ["gwent", "south-wales"]} for m in months])


def test_published_months_from_crimes_street_dates(api_base):
    api_base.route("GET", DATES, Reply(502, headers={"Retry-After": "0"}),
                   Reply(200, body=street_dates("2024-06", "2024-05", "2024-04"), content_type="application/json"))
    published = api.published_months(client=client())
    assert published.latest == "2024-06" and published.months == ("2024-04", "2024-05", "2024-06")
    assert published.source == api_base.url(DATES)
    assert published.is_published("2022-01") and published.is_published("2024-06")
    assert not published.is_published("2024-07")
    assert api_base.count("GET", INDEX) == 0  # the API answered: the index is not needed


def test_published_months_falls_back_to_the_archive_index(api_base):
    api_base.route("GET", DATES, Reply(200, body="<!DOCTYPE html><html><body>Maintenance</body></html>",
                                       content_type="text/html"))
    index = ('<html><body><h1>Archive</h1><ul>'
             '<li><a href="/data/archive/2024-05.zip">May 2024</a></li>'
             '<li><a href="/data/archive/2024-04.zip">April 2024</a></li>'
             "<li><a href='2024-06.zip'>June 2024</a></li>"
             '<li><a href="/data/archive/latest.zip">Latest</a></li></ul></body></html>')
    api_base.route("GET", INDEX, Reply(200, body=index, content_type="text/html"))
    published = api.published_months(client=client())
    assert published.latest == "2024-06" and published.months == ("2024-04", "2024-05", "2024-06")
    assert published.source == api_base.url(INDEX)


def test_published_months_names_both_urls_when_neither_answers(api_base):
    api_base.route("GET", DATES, Reply(200, body=json.dumps([{"month": "2024-06"}]), content_type="application/json"))
    api_base.route("GET", INDEX, Reply(404, body="Not Found", content_type="text/html"))
    with pytest.raises(FetchError) as caught:
        api.published_months(client=client())
    text = str(caught.value)
    assert api_base.url(DATES) in text and "expected a 'date' YYYY-MM" in text
    assert api_base.url(INDEX) in text and "HTTP 404" in text


def test_archive_file_reports_the_forces_neighbouring_months_from_the_zip_directory(api_base, tmp_path):
    june = (GWENT / "2022-06-gwent-street.csv").read_bytes()
    body = archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST, "2022-07/2022-07-gwent-street.csv": JULY,
                        "2022-06/2022-06-gwent-street.csv": june, "2022-08/2022-08-south-wales-street.csv": b"x\n"})
    api_base.route("GET", ARCHIVE, Reply(200, body=body, content_type="application/zip", headers={"ETag": '"z"'}))
    got = api.fetch_archive_file("2022-08", "gwent", tmp_path / "in", client=client())
    assert got.path.read_bytes() == AUGUST and got.size == len(AUGUST) and got.etag == '"z"'
    assert got.neighbour_sizes == {"2022-07": len(JULY), "2022-06": len(june)}  # this force only, month excluded
    assert got.location == api_base.url(ARCHIVE) + "#2022-08/2022-08-gwent-street.csv"


def months(first: str, last: str) -> list[str]:
    out, (year, month) = [], map(int, first.split("-"))
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def test_archive_plan_takes_up_to_36_months_from_one_archive_newest_first():
    assert api.archive_plan(["2024-06"]) == {"2024-06": ["2024-06"]}  # a new month: its own archive
    assert api.archive_plan(months("2024-01", "2024-06")) == {"2024-06": months("2024-01", "2024-06")}
    # a first live run from 2022-01: two downloads, not 57
    plan = api.archive_plan(months("2022-01", "2026-09"))
    assert plan == {"2026-09": months("2023-10", "2026-09"), "2023-09": months("2022-01", "2023-09")}
    assert [len(v) for v in plan.values()] == [36, 21] and list(plan) == ["2026-09", "2023-09"]
    # gaps (a failed month asked for again beside new ones), duplicates and any order
    assert api.archive_plan(["2024-04", "2023-05", "2024-02", "2024-04", "2024-03"]) == {
        "2024-04": ["2023-05", "2024-02", "2024-03", "2024-04"]}
    # the 36th month before is in the archive, the 37th is not
    assert api.archive_plan(["2021-07", "2024-06"]) == {"2024-06": ["2021-07", "2024-06"]}
    assert api.archive_plan(["2021-06", "2024-06"]) == {"2024-06": ["2024-06"], "2021-06": ["2021-06"]}
    assert api.archive_plan([]) == {}
    with pytest.raises(ValueError, match="YYYY-MM"):
        api.archive_plan(["2024-6"])
    # with the newest archive police.uk has published: an older month asked for again comes in its latest vintage
    assert api.archive_plan(["2024-03"], newest="2024-07") == {"2024-07": ["2024-03"]}
    assert api.archive_plan(["2024-06"], newest="2024-06") == {"2024-06": ["2024-06"]}  # a new month: as before
    assert api.archive_plan(["2021-07", "2024-06"], newest="2024-07") == {"2024-07": ["2024-06"],
                                                                          "2021-07": ["2021-07"]}  # 37th month
    assert api.archive_plan(months("2022-01", "2026-09"), newest="2026-09") == plan


def test_the_month_archive_cache_does_not_retry_a_failed_download_for_each_force(api_base, tmp_path):
    api_base.route("GET", ARCHIVE, Reply(500, headers={"Retry-After": "0"}))
    cache = api.MonthArchiveCache(client(max_tries=3))
    for force in ("gwent", "south-wales"):
        with pytest.raises(FetchError, match="HTTP 500") as caught:
            api.fetch_archive_month("2022-08", force, tmp_path, client=cache)
        assert caught.value.attempts == 3
    assert api_base.count("GET", ARCHIVE) == 3  # one download's tries, not one per force


# ------------------------------------------------------------------ the archive on disk, not in memory (issue 14)
def test_the_archive_is_downloaded_to_disk_not_memory(api_base, tmp_path):
    """The real monthly archive holds every force's last three years (well over a gigabyte): before, the whole
    zip was held in memory (twice, briefly). Here a 40 MB archive (the other forces' files, incompressible)
    around Gwent's 3 MB: the download and extraction allocate a few MB of Python memory, not the archive."""
    import tracemalloc

    bulk = os.urandom(40 << 20)
    body = archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST, "2022-08/2022-08-other-street.csv": bulk},
                       compression=zipfile.ZIP_STORED)
    del bulk
    api_base.route("GET", ARCHIVE, Reply(200, body=body, content_type="application/zip"))
    tracemalloc.start()
    try:
        got = api.fetch_archive_file("2022-08", "gwent", tmp_path / "in", client=client())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.path.read_bytes() == AUGUST
    assert peak < len(AUGUST) * 2 + (4 << 20), f"peak {peak:,} bytes for a {len(body):,}-byte archive"
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["2022-08-gwent-street.csv"]  # zip deleted


def test_the_month_archive_cache_keeps_one_archive_on_disk_and_deletes_it(api_base, tmp_path):
    body = archive_zip({"2022-08/2022-08-gwent-street.csv": AUGUST, "2022-08/2022-08-south-wales-street.csv": JULY})
    api_base.route("GET", ARCHIVE, Reply(200, body=body, content_type="application/zip"))
    api_base.route("GET", "/data/archive/2022-07.zip",
                   Reply(200, body=archive_zip({"2022-07/2022-07-gwent-street.csv": JULY})))
    scratch = tmp_path / "downloads"
    with api.MonthArchiveCache(client(), scratch=scratch) as cache:
        for force in ("gwent", "south-wales"):
            api.fetch_archive_month("2022-08", force, tmp_path / force, client=cache)
        assert api_base.count("GET", ARCHIVE) == 1
        (held,) = scratch.iterdir()
        assert held.name.startswith(f".archive-{os.getpid()}-") and (held / "archive.zip").read_bytes() == body
        api.fetch_archive_month("2022-07", "gwent", tmp_path / "gwent", client=cache)
        (second,) = scratch.iterdir()  # the next month's archive replaces the first
        assert second != held and not held.exists()
    assert list(scratch.iterdir()) == []  # closed: nothing left


def test_sweep_deletes_archive_folders_of_processes_that_are_gone(tmp_path):
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f".archive-{gone.pid}-abc"
    alive = tmp_path / f".archive-{os.getpid()}-def"
    kept = tmp_path / "2022-08-gwent-street.csv"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "archive.zip").write_bytes(b"PK")
    kept.write_bytes(b"kept")
    assert api.sweep_scratch(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, kept.name])

    # a folder last changed before the live process with its number started was left by another process of that
    # number (killed, then the number reused, after a restart say): it goes too
    reused = tmp_path / f".archive-{os.getpid()}-ghi"
    reused.mkdir()
    (reused / "archive.zip").write_bytes(b"PK")
    long_ago = time.time() - 10 * 86400
    os.utime(reused / "archive.zip", (long_ago, long_ago))
    os.utime(reused, (long_ago, long_ago))
    assert api.sweep_scratch(tmp_path) == [reused]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, kept.name])
