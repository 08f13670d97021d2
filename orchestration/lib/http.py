"""Resilient HTTP for the public-data clients (plain ``requests``, no Dagster).

Every call has a timeout. 429, 5xx, connection errors, timeouts and truncated bodies are retried with
exponential backoff and full jitter, honouring ``Retry-After`` (seconds or an HTTP date). After the last
try a ``FetchError`` names the source, the URL and the reason. Conditional requests (ETag /
Last-Modified) let callers skip unchanged releases: a 304 comes back as ``Fetched.not_modified``.

Format problems (an HTML page where CSV or JSON was expected, a missing column) are not retried: they
raise ``SourceFormatError`` from the client that detects them, and the caller keeps the last good data.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "cohesion-monitor (open-source community cohesion warehouse; +https://github.com/)"


class FetchError(RuntimeError):
    """A request that failed after every try (or could not be retried)."""

    def __init__(self, source: str, url: str, reason: str, status: int | None = None, attempts: int = 1):
        self.source, self.url, self.reason, self.status, self.attempts = source, url, reason, status, attempts
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}"
        super().__init__(f"{source}: {url}: {reason}{tries}")


class SourceFormatError(ValueError):
    """A response that arrived but is not what the source publishes (wrong type, columns, truncated)."""

    def __init__(self, source: str, url: str, reason: str):
        self.source, self.url, self.reason = source, url, reason
        super().__init__(f"{source}: {url}: {reason}")


@dataclass
class Fetched:
    url: str
    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("Last-Modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def text(self, encoding: str = "utf-8") -> str:
        return self.content.decode(encoding)


def retry_after_seconds(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = (now or (lambda: datetime.now(timezone.utc)))()
    return max(0.0, (when - current).total_seconds())


def looks_like_html(content: bytes) -> bool:
    head = content[:512].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head[:200]


class HttpClient:
    """GET/POST with timeouts, bounded retries, backoff with jitter and Retry-After.

    ``sleep`` and ``rng`` are injectable so tests can run without waiting.
    """

    def __init__(
        self,
        source: str,
        *,
        timeout: float | tuple[float, float] = (10.0, 120.0),
        max_tries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        retry_after_max: float = 300.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        self.source = source
        self.timeout = timeout
        self.max_tries = max_tries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.waits: list[float] = []  # what we slept, for metadata and tests

    def _backoff(self, attempt: int) -> float:
        # "Full jitter": uniform in [0, min(max, base * 2^(attempt-1))].
        return self.rng.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))

    def get(self, url: str, params: Mapping | None = None, headers: Mapping | None = None,
            etag: str | None = None, last_modified: str | None = None) -> Fetched:
        conditional = dict(headers or {})
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        return self.request("GET", url, params=params, headers=conditional)

    def post(self, url: str, data: Mapping | str | None = None, headers: Mapping | None = None) -> Fetched:
        return self.request("POST", url, data=data, headers=headers)

    def request(self, method: str, url: str, *, params=None, data=None, headers=None) -> Fetched:
        last_reason, last_status = "no attempt made", None
        for attempt in range(1, self.max_tries + 1):
            wait: float | None = None
            try:
                response = self.session.request(
                    method, url, params=params, data=data, headers=headers, timeout=self.timeout
                )
                content = response.content  # reads the body; a cut-off body raises here
            except requests.exceptions.Timeout as exc:
                last_reason, last_status = f"timed out ({exc.__class__.__name__})", None
            except requests.exceptions.ChunkedEncodingError as exc:
                last_reason, last_status = f"truncated body: connection closed mid-response ({exc})", None
            except requests.exceptions.ConnectionError as exc:
                last_reason, last_status = f"connection error: {exc}", None
            else:
                full_url = response.url or url
                expected = response.headers.get("Content-Length")
                encoded = response.headers.get("Content-Encoding")
                if expected and not encoded and expected.isdigit() and int(expected) != len(content):
                    last_reason = f"truncated body: {len(content)} of {expected} bytes"
                    last_status = response.status_code
                elif response.status_code in RETRY_STATUSES:
                    last_reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
                    last_status = response.status_code
                    hinted = retry_after_seconds(response.headers.get("Retry-After"))
                    if hinted is not None:
                        if hinted > self.retry_after_max:
                            raise FetchError(self.source, full_url,
                                             f"{last_reason}; Retry-After {hinted:.0f} s exceeds the "
                                             f"{self.retry_after_max:.0f} s we wait", last_status, attempt)
                        wait = hinted
                elif response.status_code == 304 or response.ok:
                    return Fetched(full_url, response.status_code, content, dict(response.headers), attempt)
                else:
                    # 4xx other than 429 will not get better by asking again.
                    snippet = content[:200].decode("utf-8", "replace").strip()
                    raise FetchError(self.source, full_url,
                                     f"HTTP {response.status_code} {response.reason or ''}: {snippet}".strip(),
                                     response.status_code, attempt)
            if attempt == self.max_tries:
                break
            wait = self._backoff(attempt) if wait is None else wait
            self.waits.append(wait)
            self.sleep(wait)
        raise FetchError(self.source, url, last_reason, last_status, self.max_tries)
