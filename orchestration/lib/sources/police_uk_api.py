"""data.police.uk: the street-level crime API and the monthly archive (plain Python, no Dagster).

Two ways to get one force's street-level crime for one month:

* **The monthly archive (primary).** ``{archive}/{YYYY-MM}.zip`` holds
  ``YYYY-MM/YYYY-MM-<force>-street.csv`` for every force (and the previous months too).
  ``fetch_archive_month`` extracts only the one member needed, atomically, and
  ``fetch_street_month`` runs the validated parser ``orchestration.lib.police_uk.parse_street_file`` on
  it, so live and bundled files go through exactly one parser.
* **The API (secondary).** ``crimes_street`` (by polygon) and ``crimes_no_location`` (by force) for
  areas or months the archive does not hold yet. ``api_crimes_to_street_frame`` turns the API's JSON
  into the same columns as the parsed CSV (``police_uk.OUTPUT_SCHEMA``). The API has **no LSOA**:
  ``lsoa_code`` and ``lsoa_name`` are null in API rows and must be assigned from the coordinates
  (point in polygon) downstream, or the month re-loaded from the archive once it is published.

The API answers **503 when a custom area holds more than 10,000 crimes**. ``crimes_street`` then splits
the polygon's bounding box into four quadrants, clips the polygon to each (shapely) and asks again,
recursively up to ``max_split_depth``; crimes are de-duplicated by ``id`` (a crime snapped onto a shared
edge can come back from two quadrants). That 503 is deliberately not retried; 429, 500, 502, 504,
timeouts, connection errors and truncated bodies on every (sub-)query still are, with backoff.

The area query is a POST with form fields ``poly`` and ``date``: a GET URL longer than 4,094
characters gets a 400 from the API. Docs: https://data.police.uk/docs/method/crime-street/ and
https://data.police.uk/docs/method/crimes-no-location/ (rate limit: 15 requests/s, bursts of 30).

**What is published.** police.uk publishes about two months in arrears, on no fixed day, so a month is
only asked for once it is out: ``published_months`` reads the API's ``crimes-street-dates`` (a JSON
list of ``{"date": "YYYY-MM", "stop-and-search": [force ids]}``, newest first;
https://data.police.uk/docs/method/crimes-street-dates/) and, if that fails, the archive index
(``{archive}/`` lists the ``YYYY-MM.zip`` archives). Both follow ``POLICE_UK_API_URL`` /
``POLICE_UK_ARCHIVE_URL`` like every other call here, so a mirror or a test server can stand in.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import requests

from orchestration.lib import police_uk
from orchestration.lib.http import (
    RETRY_STATUSES,
    FetchError,
    Fetched,
    HttpClient,
    SourceFormatError,
    looks_like_html,
    retry_after_seconds,
)
from orchestration.lib.processes import process_gone
from orchestration.lib.sources.base import Pull, base_url, sha256_chunks

if TYPE_CHECKING:
    from shapely.geometry import Polygon

SOURCE = "police_uk"
API_URL_ENV, API_URL_DEFAULT = "POLICE_UK_API_URL", "https://data.police.uk/api"
ARCHIVE_URL_ENV, ARCHIVE_URL_DEFAULT = "POLICE_UK_ARCHIVE_URL", "https://data.police.uk/data/archive"
LICENCE = "Open Government Licence v3.0"

# The API's category slugs -> the crime type names in the monthly CSV ("Crime type").
# https://data.police.uk/docs/method/crime-categories/ ; 'all-crime' is a query value, never a crime's.
CATEGORY_TO_CRIME_TYPE = {
    "anti-social-behaviour": "Anti-social behaviour",
    "bicycle-theft": "Bicycle theft",
    "burglary": "Burglary",
    "criminal-damage-arson": "Criminal damage and arson",
    "drugs": "Drugs",
    "other-crime": "Other crime",
    "other-theft": "Other theft",
    "possession-of-weapons": "Possession of weapons",
    "public-order": "Public order",
    "robbery": "Robbery",
    "shoplifting": "Shoplifting",
    "theft-from-the-person": "Theft from the person",
    "vehicle-crime": "Vehicle crime",
    "violent-crime": "Violence and sexual offences",
}
assert set(CATEGORY_TO_CRIME_TYPE.values()) == police_uk.CRIME_TYPES

# What every crime object must carry (crimes-street); no-location crimes have location null.
CRIME_KEYS = ("category", "id", "persistent_id", "month", "outcome_status", "location")
LOCATION_KEYS = ("latitude", "longitude", "street")
TOO_MANY_CRIMES_STATUS = 503  # "If a custom area contains more than 10,000 crimes, the API will return a 503"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
FORCE_ID = re.compile(r"^[a-z][a-z-]*$")
NO_LOCATION = "No Location"  # what the monthly CSV says in "Location" for a record without one
BTP = "British Transport Police"


class TooManyCrimesError(FetchError):
    """The area still holds more than 10,000 crimes after splitting it ``max_split_depth`` times."""


def api_url() -> str:
    return base_url(API_URL_ENV, API_URL_DEFAULT)


def archive_url() -> str:
    return base_url(ARCHIVE_URL_ENV, ARCHIVE_URL_DEFAULT)


def archive_zip_url(archive_month: str, archive: str | None = None) -> str:
    """``{archive}/YYYY-MM.zip``: the address asked for (the server may redirect it)."""
    return f"{(archive or archive_url()).rstrip('/')}/{archive_month}.zip"


def make_client(**kwargs) -> HttpClient:
    """The HttpClient these functions use unless given one (tests pass ``sleep=lambda s: None``)."""
    return HttpClient(SOURCE, **kwargs)


def _check_month(month: str) -> None:
    if not isinstance(month, str) or not MONTH.match(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")


def _check_force(force_id: str) -> None:
    if not isinstance(force_id, str) or not FORCE_ID.match(force_id):
        raise ValueError(f"force_id must be a police.uk force id like 'gwent' or 'south-wales', got {force_id!r}")


# --------------------------------------------------------------------------------------------------
# The API: crimes-street by polygon (POST, split on 503), crimes-no-location by force
# --------------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    text = f"{float(value):.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def poly_param(poly: Sequence[tuple[float, float]]) -> str:
    """'lat,lng:lat,lng:…' as the API wants it (the ring closes itself; a repeated last point is dropped)."""
    points = [(float(lat), float(lng)) for lat, lng in poly]
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    return ":".join(f"{_fmt(lat)},{_fmt(lng)}" for lat, lng in points)


def _to_polygon(poly: Sequence[tuple[float, float]]) -> Polygon:
    # here, not at the top: lsoa_bridge.py says why
    from shapely.geometry import Polygon

    points = [(float(lng), float(lat)) for lat, lng in poly]  # shapely: x = longitude, y = latitude
    if len(points) < 3:
        raise ValueError(f"poly needs at least 3 (lat, lng) points, got {len(points)}")
    polygon = Polygon(points)
    if not polygon.is_valid:
        polygon = polygon.buffer(0)  # repair a self-intersecting ring
    if polygon.is_empty or polygon.area == 0:
        raise ValueError("poly encloses no area")
    return polygon


def _from_polygon(polygon: Polygon) -> list[tuple[float, float]]:
    coords = list(polygon.exterior.coords)[:-1]
    return [(lat, lng) for lng, lat in coords]


def split_quadrants(poly: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """The polygon clipped to each quadrant of its bounding box (parts of a concave clip kept apart)."""
    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon, box

    polygon = _to_polygon(poly)
    minx, miny, maxx, maxy = polygon.bounds
    # Round the cut lines once so neighbouring quadrants share exactly the same edge (no sliver gap).
    midx, midy = round((minx + maxx) / 2, 7), round((miny + maxy) / 2, 7)
    pieces: list[list[tuple[float, float]]] = []
    for quadrant in (box(minx, miny, midx, midy), box(midx, miny, maxx, midy),
                     box(minx, midy, midx, maxy), box(midx, midy, maxx, maxy)):
        clipped = polygon.intersection(quadrant)
        parts: Iterable = (
            clipped.geoms if isinstance(clipped, (MultiPolygon, GeometryCollection)) else [clipped]
        )
        for part in parts:
            if isinstance(part, Polygon) and not part.is_empty and part.area > 0:
                pieces.append(_from_polygon(part))
    return pieces


def _validate_crimes(payload, url: str, *, with_location: bool) -> list[dict]:
    """A list of crime objects with the keys the conversion needs; else SourceFormatError naming the key."""
    if not isinstance(payload, list):
        raise SourceFormatError(SOURCE, url, f"expected a JSON list of crimes, got {type(payload).__name__}")
    for index, crime in enumerate(payload):
        if not isinstance(crime, dict):
            raise SourceFormatError(SOURCE, url, f"crime {index}: expected an object, got {type(crime).__name__}")
        for key in CRIME_KEYS:
            if key not in crime:
                raise SourceFormatError(SOURCE, url, f"crime {index} (id {crime.get('id')!r}): missing key {key!r}")
        if crime["category"] not in CATEGORY_TO_CRIME_TYPE:
            raise SourceFormatError(
                SOURCE, url, f"crime {index} (id {crime.get('id')!r}): unknown category {crime['category']!r}; "
                f"expected one of {sorted(CATEGORY_TO_CRIME_TYPE)}")
        outcome = crime["outcome_status"]
        if outcome is not None and (not isinstance(outcome, dict) or "category" not in outcome):
            raise SourceFormatError(
                SOURCE, url, f"crime {index} (id {crime.get('id')!r}): missing key 'outcome_status.category'")
        location = crime["location"]
        if with_location:
            if not isinstance(location, dict):
                raise SourceFormatError(SOURCE, url, f"crime {index} (id {crime.get('id')!r}): missing key "
                                        f"'location' (got {location!r})")
            for key in LOCATION_KEYS:
                if key not in location:
                    raise SourceFormatError(
                        SOURCE, url, f"crime {index} (id {crime.get('id')!r}): missing key 'location.{key}'")
            street = location["street"]
            if not isinstance(street, dict) or "name" not in street:
                raise SourceFormatError(
                    SOURCE, url, f"crime {index} (id {crime.get('id')!r}): missing key 'location.street.name'")
            for key in ("latitude", "longitude"):
                try:
                    float(location[key])
                except (TypeError, ValueError):
                    raise SourceFormatError(
                        SOURCE, url, f"crime {index} (id {crime.get('id')!r}): location.{key} "
                        f"{location[key]!r} is not a number") from None
    return payload


def _json(fetched: Fetched, url: str):
    if looks_like_html(fetched.content):
        raise SourceFormatError(SOURCE, url, "got an HTML page, expected JSON")
    if not fetched.content.strip():
        raise SourceFormatError(SOURCE, url, "empty response, expected a JSON list of crimes")
    try:
        return json.loads(fetched.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceFormatError(SOURCE, url, f"not valid JSON: {exc}") from exc


class _AreaQuery:
    """crimes-street for one polygon: one try per request (so a 503 splits at once), own retries otherwise."""

    def __init__(self, client: HttpClient, url: str, month: str, max_split_depth: int):
        self.client, self.url, self.month, self.max_split_depth = client, url, month, max_split_depth
        self.retry_after: list[str | None] = [None]
        session = requests.Session()
        session.headers.update(client.session.headers)
        session.hooks["response"].append(self._remember_retry_after)
        self.single = HttpClient(client.source, timeout=client.timeout, max_tries=1, session=session,
                                 min_rate=client.min_rate, rate_window=client.rate_window,
                                 max_bytes=client.max_bytes, sleep=client.sleep, rng=client.rng, clock=client.clock)
        self.requests = 0

    def _remember_retry_after(self, response, *args, **kwargs):
        self.retry_after[0] = response.headers.get("Retry-After")

    def _post(self, poly: Sequence[tuple[float, float]]) -> Fetched:
        client = self.client
        last: FetchError | None = None
        for attempt in range(1, client.max_tries + 1):
            self.retry_after[0] = None
            self.requests += 1
            try:
                return self.single.post(self.url, data={"poly": poly_param(poly), "date": self.month})
            except FetchError as exc:
                if exc.status == TOO_MANY_CRIMES_STATUS:
                    raise
                transient = (exc.status is None or exc.status in RETRY_STATUSES
                             or exc.reason.startswith("truncated body"))
                if not transient or "exceeds the" in exc.reason:
                    raise
                last = exc
            if attempt == client.max_tries:
                break
            hinted = retry_after_seconds(self.retry_after[0])
            if hinted is not None and hinted > client.retry_after_max:
                raise FetchError(client.source, self.url, f"{last.reason}; Retry-After {hinted:.0f} s exceeds the "
                                 f"{client.retry_after_max:.0f} s we wait", last.status, attempt)
            wait = hinted if hinted is not None else client.rng.uniform(
                0, min(client.backoff_max, client.backoff_base * 2 ** (attempt - 1)))
            client.waits.append(wait)
            client.sleep(wait)
        raise FetchError(client.source, self.url, last.reason if last else "no attempt made",
                         last.status if last else None, client.max_tries)

    def crimes(self, poly: Sequence[tuple[float, float]], depth: int = 0) -> list[dict]:
        try:
            fetched = self._post(poly)
        except FetchError as exc:
            if exc.status != TOO_MANY_CRIMES_STATUS:
                raise
            if depth >= self.max_split_depth:
                raise TooManyCrimesError(
                    SOURCE, self.url,
                    f"HTTP 503 for {self.month}: the area still holds more than 10,000 crimes (or the API is "
                    f"down) after splitting it into quadrants {depth} times (max_split_depth); poly "
                    f"{poly_param(poly)[:200]}", 503, exc.attempts) from exc
            found: list[dict] = []
            for piece in split_quadrants(poly):
                found.extend(self.crimes(piece, depth + 1))
            return found
        return _validate_crimes(_json(fetched, self.url), self.url, with_location=True)


def crimes_street(poly: Sequence[tuple[float, float]], month: str, *, client: HttpClient | None = None,
                  api: str | None = None, max_split_depth: int = 6) -> list[dict]:
    """All street-level crimes (category all-crime) in ``poly`` [(lat, lng), …] for ``month``.

    POSTs ``{api}/crimes-street/all-crime`` with form fields ``poly`` and ``date``. On the API's 503 for
    more than 10,000 crimes the area is split into quadrants recursively (see the module docstring);
    the result lists each crime once (first seen wins), by ``id``.
    """
    _check_month(month)
    _to_polygon(poly)  # fail early on a degenerate polygon
    client = client or make_client()
    url = f"{(api or api_url()).rstrip('/')}/crimes-street/all-crime"
    query = _AreaQuery(client, url, month, max_split_depth)
    seen: set = set()
    unique: list[dict] = []
    for crime in query.crimes(list(poly)):
        if crime["id"] in seen:
            continue
        seen.add(crime["id"])
        unique.append(crime)
    return unique


def crimes_no_location(force_id: str, month: str, *, client: HttpClient | None = None,
                       api: str | None = None) -> list[dict]:
    """Crimes the force recorded in ``month`` that could not be mapped (``location`` is null)."""
    _check_month(month)
    _check_force(force_id)
    client = client or make_client()
    url = f"{(api or api_url()).rstrip('/')}/crimes-no-location"
    fetched = client.get(url, params={"category": "all-crime", "force": force_id, "date": month})
    return _validate_crimes(_json(fetched, fetched.url), fetched.url, with_location=False)


def _crime_id(crime: dict) -> str | None:
    persistent = crime.get("persistent_id")
    return persistent.strip() or None if isinstance(persistent, str) else None


def _none_if_blank(value) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def api_crimes_to_street_frame(crimes: list[dict], force_name: str, month: str,
                               no_location: list[dict] | None = None, *,
                               source_file: str | None = None) -> pl.DataFrame:
    """API crimes as rows of the parsed monthly CSV (exactly ``police_uk.OUTPUT_SCHEMA``).

    ``force_name`` is the CSV's force name, e.g. "Gwent Police" ("Falls within"; "Reported by" too,
    except British Transport Police records, ``location_type`` "BTP"). The API carries no LSOA:
    ``lsoa_code`` / ``lsoa_name`` are null. ``crime_id`` is the ``persistent_id``, null when that is
    empty: always for ASB, and (real quirk, seen in the bundled London response) for BTP crimes too,
    which the monthly CSV would not allow; downstream counts null Crime IDs rather than requiring them.
    ``no_location`` crimes get ``location`` "No Location" and null coordinates, as in the CSV.
    ``source_file`` labels the rows (default ``api:crimes-street:<month>``); ``source_row`` numbers
    them from 1 in the order given, street crimes first.
    """
    _check_month(month)
    label = source_file or f"api:crimes-street:{month}"
    _validate_crimes(crimes, label, with_location=True)
    _validate_crimes(no_location or [], label, with_location=False)
    rows = []
    for located, batch in ((True, crimes), (False, no_location or [])):
        for crime in batch:
            if crime.get("month") != month:
                raise SourceFormatError(SOURCE, label, f"crime id {crime.get('id')!r}: month "
                                        f"{crime.get('month')!r}, expected {month}")
            if located:
                location = crime["location"]
                name = _none_if_blank(location["street"]["name"]) or ""
                # The API's street names already read "On or near …"; the CSV's Location is the same text.
                place = name if name.lower().startswith("on or near") else f"On or near {name}".strip()
                lon, lat = float(location["longitude"]), float(location["latitude"])
            else:
                place, lon, lat = NO_LOCATION, None, None
            outcome = crime["outcome_status"]
            rows.append({
                "source_file": label,
                "source_row": len(rows) + 1,
                "crime_id": _crime_id(crime),
                "month": month,
                "reported_by": BTP if crime.get("location_type") == "BTP" else force_name,
                "falls_within": force_name,
                "longitude": lon,
                "latitude": lat,
                "location": place,
                "lsoa_code": None,
                "lsoa_name": None,
                "crime_type": CATEGORY_TO_CRIME_TYPE[crime["category"]],
                "last_outcome_category": _none_if_blank(outcome["category"]) if outcome else None,
                "context": _none_if_blank(crime.get("context")),
            })
    return pl.DataFrame(rows, schema=police_uk.OUTPUT_SCHEMA)


# --------------------------------------------------------------------------------------------------
# What is published: crimes-street-dates, else the archive index
# --------------------------------------------------------------------------------------------------

ARCHIVE_LINK = re.compile(r"""href\s*=\s*["'][^"']*?(\d{4}-\d{2})\.zip["']""", re.IGNORECASE)


@dataclass(frozen=True)
class Publication:
    """The months data.police.uk has published, oldest first; ``latest`` is the newest."""

    months: tuple[str, ...]
    source: str  # the URL that said so

    @property
    def latest(self) -> str:
        return self.months[-1]

    def is_published(self, month: str) -> bool:
        """A month up to the latest is out (older months stay in the archives); a later one is not yet."""
        return month <= self.latest


def discovery_client() -> HttpClient:
    """A client for the small discovery requests: two quick tries each, so that asking both sources stays
    well inside a schedule tick's time limit (about 50 s at worst) and a dead service is a skip, not a hang
    (a server trickling the answer is given up on after 10 s under 1 KB/s)."""
    return make_client(max_tries=2, timeout=(5.0, 10.0), backoff_max=5.0, rate_window=10.0)


def crimes_street_dates(*, client: HttpClient | None = None, api: str | None = None) -> Publication:
    """``{api}/crimes-street-dates``: every month the API holds (newest first in the answer)."""
    client = client or discovery_client()
    url = f"{(api or api_url()).rstrip('/')}/crimes-street-dates"
    fetched = client.get(url)
    payload = _json(fetched, fetched.url)
    if not isinstance(payload, list) or not payload:
        raise SourceFormatError(SOURCE, fetched.url, "expected a non-empty JSON list of "
                                f'{{"date": "YYYY-MM", ...}}, got {str(payload)[:100]!r}')
    months = set()
    for index, item in enumerate(payload):
        date = item.get("date") if isinstance(item, dict) else None
        if not isinstance(date, str) or not MONTH.match(date):
            raise SourceFormatError(SOURCE, fetched.url, f"item {index}: expected a 'date' YYYY-MM, got {item!r}"[:300])
        months.add(date)
    return Publication(tuple(sorted(months)), fetched.url)


def archive_index(*, client: HttpClient | None = None, archive: str | None = None) -> Publication:
    """The archive index page ``{archive}/``: every ``YYYY-MM.zip`` it links to."""
    client = client or discovery_client()
    url = f"{(archive or archive_url()).rstrip('/')}/"
    fetched = client.get(url)
    text = fetched.content.decode("utf-8", "replace")
    months = {m for m in ARCHIVE_LINK.findall(text) if MONTH.match(m)}
    if not months:
        raise SourceFormatError(SOURCE, fetched.url, "the archive index links to no YYYY-MM.zip archive")
    return Publication(tuple(sorted(months)), fetched.url)


def published_months(*, client: HttpClient | None = None, api: str | None = None,
                     archive: str | None = None) -> Publication:
    """What data.police.uk has published: ``crimes_street_dates``, else ``archive_index``.

    Raises ``FetchError`` naming both URLs and reasons when neither answers.
    """
    client = client or discovery_client()
    try:
        return crimes_street_dates(client=client, api=api)
    except (FetchError, SourceFormatError) as exc:
        first = exc
    try:
        return archive_index(client=client, archive=archive)
    except (FetchError, SourceFormatError) as exc:
        raise FetchError(SOURCE, first.url, f"could not tell which months are published: {first.reason}; the "
                         f"archive index {exc.url}: {exc.reason}", getattr(first, "status", None),
                         getattr(first, "attempts", 1)) from exc


# --------------------------------------------------------------------------------------------------
# The monthly archive
# --------------------------------------------------------------------------------------------------


def archive_member(month: str, force_id: str) -> str:
    return f"{month}/{month}-{force_id}-street.csv"


ARCHIVE_SPAN = 36  # months in one archive: YYYY-MM.zip holds YYYY-MM and the 35 before it


def archive_plan(months: Iterable[str], span: int = ARCHIVE_SPAN, newest: str | None = None) -> dict[str, list[str]]:
    """Which archive to take each month from: ``{archive month: [months, oldest first]}``, newest archive first.

    Each archive holds its own month and the ``span - 1`` before it, so a backfill needs one archive per
    ``span`` months, not one per month: the newest month not yet covered names the next archive. (The real
    archive is over a gigabyte; a first live run from 2022-01 asks for some sixty months.) Older months then
    come in the newest vintage police.uk has published, as they would from its ``latest.zip``. ``newest``: the
    newest archive police.uk has published; the months it holds come from it, so an older month asked for again
    (its file refused, say) comes in police.uk's latest vintage, not again from its own archive."""
    plan: dict[str, list[str]] = {}
    current = None
    ordered = sorted(set(months), reverse=True)
    if newest is not None and ordered:
        _check_month(newest)
        if newest >= ordered[0]:
            current = newest
    for month in ordered:
        _check_month(month)
        if current is None or police_uk.month_index(current) - police_uk.month_index(month) >= span:
            current = month
        plan.setdefault(current, []).insert(0, month)
    return plan


@dataclass(frozen=True)
class ArchiveFile:
    """One force's street CSV extracted from a monthly archive, with what the archive says about it.

    ``neighbour_sizes`` are the uncompressed sizes (bytes, from the zip directory, nothing extracted) of
    the same force's other months in the same archive (each archive holds the last ~36 months): the
    loader compares a file against them to catch a file cut short at a row boundary, which still
    parses and still sits in a valid zip.
    """

    path: Path
    url: str  # the archive's URL (after any redirect)
    requested: str  # the archive's address as asked for (archive_zip_url), which a redirect may not keep
    member: str  # the member's name inside the zip
    size: int  # bytes extracted
    sha256: str
    neighbour_sizes: dict[str, int] = field(default_factory=dict)  # {YYYY-MM: bytes}, this month excluded
    validator: dict[str, str] = field(default_factory=dict)  # the archive's version (archive_validator)

    @property
    def location(self) -> str:
        return f"{self.url}#{self.member}"

    @property
    def etag(self) -> str | None:
        return self.validator.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.validator.get("last_modified")


VALIDATOR_HEADERS = {"etag": "etag", "last_modified": "last-modified", "content_length": "content-length"}


def archive_validator(headers) -> dict[str, str]:
    """What tells one version of an archive from another, as the server sent it: its ETag, Last-Modified and
    Content-Length (whichever of them came). A HEAD gives the same headers as the GET, without the gigabyte."""
    sent = {str(name).lower(): value for name, value in dict(headers or {}).items()}
    return {key: str(sent[name]) for key, name in VALIDATOR_HEADERS.items() if sent.get(name)}


def archive_replaced(url: str, recorded: dict[str, str], *, client: HttpClient | None = None) -> bool | None:
    """Whether the archive at ``url`` is no longer the version ``recorded`` (``archive_validator`` of the response
    it was refused from), asked with one HEAD request: True if any header both name differs, False if all are the
    same, None when it cannot be told (no header in common, or the HEAD failed)."""
    client = client or discovery_client()
    try:
        now = archive_validator(client.head(url).headers)
    except FetchError:
        return None
    common = [key for key in recorded if key in now]
    if not common:
        return None
    return any(now[key] != recorded[key] for key in common)


def _force_month_sizes(infos: Iterable[zipfile.ZipInfo], force_id: str) -> dict[str, int]:
    pattern = re.compile(rf"^(\d{{4}}-\d{{2}})-{re.escape(force_id)}-street\.csv$")
    sizes = {}
    for info in infos:
        match = pattern.match(info.filename.rsplit("/", 1)[-1])
        if match and not info.is_dir():
            sizes[match[1]] = info.file_size
    return sizes


def _fetch_archive_member(month: str, force_id: str, dest_dir: Path, *,
                          client: HttpClient | MonthArchiveCache | None, archive: str | None,
                          archive_month: str | None) -> tuple[Path, Fetched, bytes, dict[str, int]]:
    _check_month(month)
    _check_force(force_id)
    archive_month = archive_month or month
    _check_month(archive_month)
    url = archive_zip_url(archive_month, archive)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(client, MonthArchiveCache):
        fetched, owned = client.archive(url), False
    else:
        # the archive goes to disk beside the extracted file, never into memory, and is deleted after
        scratch = dest_dir / f".{archive_month}.zip.{os.getpid()}"
        fetched, owned = (client or make_client()).download(url, scratch), True
    try:
        return _extract_member(fetched, url, month, force_id, dest_dir)
    finally:
        if owned and fetched.path is not None:
            fetched.path.unlink(missing_ok=True)


def _extract_member(fetched: Fetched, url: str, month: str, force_id: str,
                    dest_dir: Path) -> tuple[Path, Fetched, bytes, dict[str, int]]:
    if looks_like_html(fetched.head()):
        raise SourceFormatError(SOURCE, url, "got an HTML page, expected the monthly archive zip")
    member = archive_member(month, force_id)
    target = dest_dir / Path(member).name
    try:
        archive_zip = zipfile.ZipFile(fetched.path if fetched.path is not None else io.BytesIO(fetched.content))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SourceFormatError(SOURCE, url, f"not a readable zip ({fetched.size:,} bytes): {exc}") from exc
    with archive_zip:
        sizes = _force_month_sizes(archive_zip.infolist(), force_id)
        names = archive_zip.namelist()
        if member not in names:
            # Tolerate a different folder layout as long as the file name is the force's street file.
            matches = [n for n in names if n.rsplit("/", 1)[-1] == Path(member).name]
            if len(matches) != 1:
                raise SourceFormatError(SOURCE, url, f"the zip has no member {member!r} "
                                        f"({len(names)} members; force {force_id!r}, month {month})")
            member = matches[0]
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=dest_dir)
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out, archive_zip.open(member) as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            data = temp.read_bytes()
            os.replace(temp, target)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            temp.unlink(missing_ok=True)
            raise SourceFormatError(SOURCE, url, f"could not extract {member!r}: {exc}") from exc
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    return target, fetched, data, sizes


SCRATCH_PREFIX = ".archive-"


class MonthArchiveCache:
    """A client for ``fetch_archive_month`` that downloads a month's archive once for every force
    (the zip holds all forces' files), keeping one archive at a time, **on disk**, in a folder of its own
    under ``scratch`` (``.archive-<pid>-…``; deleted by ``close()`` or by the next archive, and by
    ``sweep_scratch`` once the process that made it is gone). A download that failed (after the client's
    retries) fails again at once for the next force instead of being retried."""

    def __init__(self, client: HttpClient | None = None, scratch: Path | None = None):
        self.client = client or make_client()
        self.scratch = Path(scratch) if scratch is not None else None
        self.url: str | None = None
        self.fetched: Fetched | None = None
        self.error: FetchError | OSError | None = None
        self.folder: Path | None = None

    def archive(self, url: str) -> Fetched:
        if url != self.url:
            self.close()
            self.url = url
            if self.scratch is not None:
                self.scratch.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=self.scratch))
            try:
                self.fetched = self.client.download(url, self.folder / "archive.zip")
            except (FetchError, OSError) as exc:  # OSError: the disk (full, or kept free), not the source
                self.error = exc
        if self.error is not None:
            raise self.error
        return self.fetched

    def close(self) -> None:
        """Delete the archive held, if any."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.url = self.fetched = self.error = self.folder = None

    def __enter__(self) -> MonthArchiveCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sweep_scratch(folder: Path) -> list[Path]:
    """Delete the archive folders (``.archive-<pid>-…``) under ``folder`` whose process is gone (a run killed
    while it held an archive) and return them; a live process's folder is left alone."""
    removed = []
    for path in sorted(Path(folder).glob(f"{SCRATCH_PREFIX}*")):
        pid = path.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        # the folder's last change is a time its process was running by: a live process with the same number
        # that started later is another one (the number reused after a restart), and the folder is left over
        if path.is_dir() and pid.isdigit() and process_gone(int(pid), path.stat().st_mtime):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def fetch_archive_month(month: str, force_id: str, dest_dir: Path, *,
                        client: HttpClient | MonthArchiveCache | None = None,
                        archive: str | None = None, archive_month: str | None = None) -> Path:
    """Download ``{archive}/{archive_month or month}.zip`` and extract only this force's street CSV.

    Returns ``dest_dir/YYYY-MM-<force>-street.csv``, written to a temporary file and renamed, so a
    failure never leaves a partial file. An HTML page, a bad zip or a missing member raise
    ``SourceFormatError``; network failures ``FetchError``. Run ``police_uk.parse_street_file`` on it.
    (Each published archive also holds the previous months: pass ``archive_month`` to take an older
    month out of a newer archive.)
    """
    path, _fetched, _data, _sizes = _fetch_archive_member(month, force_id, dest_dir, client=client, archive=archive,
                                                          archive_month=archive_month)
    return path


def fetch_archive_file(month: str, force_id: str, dest_dir: Path, *,
                       client: HttpClient | MonthArchiveCache | None = None,
                       archive: str | None = None, archive_month: str | None = None) -> ArchiveFile:
    """``fetch_archive_month``, plus what the archive says about the file (``ArchiveFile``).

    Extract into a scratch folder, not over a kept copy: the file is only kept once it is accepted.
    """
    path, fetched, data, sizes = _fetch_archive_member(month, force_id, dest_dir, client=client, archive=archive,
                                                       archive_month=archive_month)
    member = archive_member(month, force_id)
    own = sizes.pop(month, None)
    return ArchiveFile(path=path, url=fetched.url, requested=archive_zip_url(archive_month or month, archive),
                       member=member, size=own if own is not None else len(data), sha256=sha256_chunks([data]),
                       neighbour_sizes=sizes, validator=archive_validator(fetched.headers))


def fetch_street_month(force_id: str, month: str, dest_dir: Path, *,
                       client: HttpClient | MonthArchiveCache | None = None,
                       archive: str | None = None, archive_month: str | None = None) -> Pull:
    """The archive month for one force, extracted and parsed (``police_uk.parse_street_file``); mode 'live'.

    ``sha256`` is of the extracted CSV (not the whole zip), so it equals the snapshot's hash when the
    data are the same. A file the parser rejects raises ``PoliceUkParseError`` (the extracted file is
    left in ``dest_dir`` for quarantine).
    """
    path, fetched, data, _sizes = _fetch_archive_member(month, force_id, dest_dir, client=client, archive=archive,
                                                        archive_month=archive_month)
    frame = police_uk.parse_street_file(path, expected_month=month)
    return Pull(
        source=SOURCE,
        dataset=f"street_crimes/{force_id}",
        locations=[f"{fetched.url}#{archive_member(month, force_id)}"],
        sha256=sha256_chunks([data]),
        frame=frame,
        mode="live",
        release=month,
        licence=LICENCE,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        notes=[f"extracted to {path}"],
    )


def read_street_snapshot(path: Path, month: str | None = None) -> Pull:
    """A bundled ``YYYY-MM-<force>-street.csv`` through the same parser; mode 'snapshot'."""
    path = Path(path)
    file_month, force_id = police_uk.month_from_filename(path)
    frame = police_uk.parse_street_file(path, expected_month=month or file_month)
    return Pull(
        source=SOURCE,
        dataset=f"street_crimes/{force_id}",
        locations=[str(path)],
        sha256=sha256_chunks([path.read_bytes()]),
        frame=frame,
        mode="snapshot",
        release=month or file_month,
        licence=LICENCE,
    )


__all__ = [
    "ArchiveFile",
    "CATEGORY_TO_CRIME_TYPE",
    "Publication",
    "archive_index",
    "archive_replaced",
    "archive_validator",
    "archive_zip_url",
    "crimes_street_dates",
    "discovery_client",
    "fetch_archive_file",
    "published_months",
    "TooManyCrimesError",
    "api_crimes_to_street_frame",
    "api_url",
    "archive_url",
    "crimes_no_location",
    "crimes_street",
    "fetch_archive_month",
    "MonthArchiveCache",
    "sweep_scratch",
    "fetch_street_month",
    "make_client",
    "poly_param",
    "read_street_snapshot",
    "split_quadrants",
]
