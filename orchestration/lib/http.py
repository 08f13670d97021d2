"""Resilient HTTP for the public-data clients (plain ``requests``, no Dagster).

Every call has a timeout. 429, 5xx, connection errors, timeouts and truncated bodies are retried with
exponential backoff and full jitter, honouring ``Retry-After`` (seconds or an HTTP date). After the last
try a ``FetchError`` names the source, the URL and the reason. Conditional requests (ETag /
Last-Modified) let callers skip unchanged releases: a 304 comes back as ``Fetched.not_modified``.

A socket timeout only bounds the wait for *each* read, so a server that trickles a byte every few seconds
would hold a call for ever. The body is therefore read as it arrives and, like curl's ``--speed-limit`` /
``--speed-time``, a transfer that brings fewer than ``min_rate`` bytes/s over ``rate_window`` seconds is
abandoned (``too slow``) and retried like a timeout. A body larger than ``max_bytes`` is refused at once
(not retried). ``download`` writes the body to a file instead of memory (the police.uk monthly archive
holds every force's last three years: well over a gigabyte), through a ``.part`` file renamed when whole, and
never fills the disk: it stops (``DiskSpaceError``, not retried) rather than leave less than
``COHESION_DOWNLOAD_KEEP_FREE_MB`` (1,024) free on the download's disk, which the warehouse shares - checked
before writing (for the whole body when the server says its size) and every 64 MiB as it writes.

Format problems (an HTML page where CSV or JSON was expected, a missing column) are not retried: they
raise ``SourceFormatError`` from the client that detects them, and the caller keeps the last good data.
"""

from __future__ import annotations

import email.utils
import errno
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3.exceptions

from orchestration.settings import env_number

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BYTES_IN_MEMORY = 1 << 30  # 1 GiB: more than any page or file a client here reads into memory
MAX_BYTES_TO_FILE = 32 << 30  # 32 GiB: a download to disk (the police.uk archive is ~1.5-2 GB)
READ_SIZE = 1 << 20
# a transfer slower than MIN_RATE bytes/s over RATE_WINDOW seconds is given up (and retried); both settable
MIN_RATE_ENV, MIN_RATE_DEFAULT = "COHESION_HTTP_MIN_RATE", 1024.0
RATE_WINDOW_ENV, RATE_WINDOW_DEFAULT = "COHESION_HTTP_RATE_WINDOW", 60.0
# a download stops rather than leave less than this free on its disk (the warehouse's builds need room too)
KEEP_FREE_ENV, KEEP_FREE_DEFAULT_MB = "COHESION_DOWNLOAD_KEEP_FREE_MB", 1024.0
DISK_CHECK_BYTES = 64 << 20  # how often a download looks at the free space as it writes
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
    content: bytes  # empty when the body went to ``path`` (``HttpClient.download``)
    headers: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 1
    path: Path | None = None  # the file holding the body, from ``HttpClient.download``
    size: int | None = None  # bytes of body received (decoded)

    def __post_init__(self):
        if self.size is None:
            self.size = len(self.content)

    def head(self, n: int = 512) -> bytes:
        """The body's first ``n`` bytes, wherever it is."""
        if self.path is None:
            return self.content[:n]
        with open(self.path, "rb") as handle:
            return handle.read(n)

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


class DiskSpaceError(OSError):
    """A download that would leave less than the space to keep free on its disk (errno ENOSPC, not retried)."""

    def __init__(self, folder: Path, free: int, keep: int, size: int | None = None, written: int | None = None):
        what = f"the download is {_mb(size)}" if written is None else f"the download was stopped after {_mb(written)}"
        super().__init__(errno.ENOSPC, f"not enough free disk: {what}, {_mb(free)} are free under {folder} and "
                                       f"{_mb(keep)} are to stay free ({KEEP_FREE_ENV})")


def _mb(size: int | None) -> str:
    if size is None:
        return "of unknown size"
    return f"{size / 1e6:,.1f} MB" if size < 10e6 else f"{size / 1e6:,.0f} MB"


def keep_free_bytes() -> int:
    return int(env_number(KEEP_FREE_ENV, KEEP_FREE_DEFAULT_MB, expected="a number of megabytes, 0 or more") * 1e6)


def check_disk(folder: Path, needed: int, keep: int, *, size: int | None = None, written: int | None = None) -> None:
    """Raise ``DiskSpaceError`` if writing ``needed`` more bytes under ``folder`` would leave under ``keep`` free.
    For the message: the download's ``size`` if known, or what it has ``written`` so far once under way."""
    free = shutil.disk_usage(folder).free
    if free - needed < keep:
        raise DiskSpaceError(folder, free, keep, size=size, written=written)


class _BodyProblem(Exception):
    """Why reading a body stopped: retried (too slow, cut off) unless ``final`` (too large)."""

    def __init__(self, reason: str, final: bool = False):
        super().__init__(reason)
        self.reason, self.final = reason, final


class HttpClient:
    """GET/POST with timeouts, bounded retries, backoff with jitter and Retry-After.

    ``timeout`` is (connect, read) in seconds, the read timeout per read; ``min_rate`` (bytes/s) over
    ``rate_window`` (s) bounds a transfer that keeps sending but too slowly to finish (0 turns it off;
    defaults 1,024 bytes/s over 60 s, or ``COHESION_HTTP_MIN_RATE`` / ``COHESION_HTTP_RATE_WINDOW``);
    ``max_bytes`` caps a body (default: 1 GiB in memory, 32 GiB for ``download``); ``keep_free`` (bytes) is what
    ``download`` leaves free on its disk (default ``COHESION_DOWNLOAD_KEEP_FREE_MB``, 1,024 MB; 0 turns it off).
    ``sleep``, ``rng`` and ``clock`` are injectable so tests can run without waiting.
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
        min_rate: float | None = None,
        rate_window: float | None = None,
        max_bytes: int | None = None,
        keep_free: int | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        self.source = source
        self.timeout = timeout
        self.max_tries = max_tries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.min_rate = env_number(MIN_RATE_ENV, MIN_RATE_DEFAULT) if min_rate is None else min_rate
        self.rate_window = env_number(RATE_WINDOW_ENV, RATE_WINDOW_DEFAULT) if rate_window is None else rate_window
        self.max_bytes = max_bytes
        self.keep_free = keep_free_bytes() if keep_free is None else keep_free
        self.clock = clock
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

    def head(self, url: str, headers: Mapping | None = None) -> Fetched:
        """HEAD: the headers a GET would bring (ETag, Last-Modified, Content-Length), no body; retried like a GET."""
        return self.request("HEAD", url, headers=headers)

    def post(self, url: str, data: Mapping | str | None = None, headers: Mapping | None = None) -> Fetched:
        return self.request("POST", url, data=data, headers=headers)

    def download(self, url: str, dest: Path, params: Mapping | None = None,
                 headers: Mapping | None = None) -> Fetched:
        """GET into the file ``dest`` (``Fetched.path``; ``content`` is empty), never holding the body in memory.

        The body goes to ``dest`` + ``.part`` and is renamed to ``dest`` only when whole; a failure leaves
        neither file (and any earlier ``dest`` as it was). Raises ``DiskSpaceError`` (an ``OSError``, not retried)
        rather than leave less than ``COHESION_DOWNLOAD_KEEP_FREE_MB`` free on ``dest``'s disk.
        """
        return self.request("GET", url, params=params, headers=headers, dest=Path(dest))

    def _read_body(self, response: requests.Response, sink: BinaryIO | None, limit: int,
                   disk: Callable[[int], None] | None = None) -> tuple[bytes, int]:
        """Read the body as it arrives into ``sink`` (or memory): bytes (empty with a sink) and their count;
        ``disk(bytes written so far)`` is called before each further ``DISK_CHECK_BYTES`` are written."""
        raw = response.raw
        parts: list[bytes] = []
        total = checked = 0
        window_start, window_bytes = self.clock(), 0
        while True:
            try:
                chunk = raw.read1(READ_SIZE, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError:
                raise requests.exceptions.ReadTimeout(f"no data for {self.timeout} s after {total:,} bytes") from None
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError,
                    urllib3.exceptions.SSLError, OSError) as exc:
                raise _BodyProblem(f"truncated body: connection closed mid-response after {total:,} bytes ({exc})")
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise _BodyProblem(f"the body exceeds the {limit:,} bytes accepted", final=True)
            if sink is None:
                parts.append(chunk)
            else:
                if disk is not None and total - checked >= DISK_CHECK_BYTES:
                    disk(total - len(chunk))
                    checked = total
                sink.write(chunk)
            window_bytes += len(chunk)
            elapsed = self.clock() - window_start
            if self.min_rate and elapsed >= self.rate_window:
                if window_bytes < self.min_rate * elapsed:
                    raise _BodyProblem(
                        f"too slow: {window_bytes:,} bytes in the last {elapsed:.0f} s (under "
                        f"{self.min_rate:,.0f} bytes/s), {total:,} bytes received in all")
                window_start, window_bytes = self.clock(), 0
        return b"".join(parts), total

    def _attempt(self, method: str, url: str, *, params, data, headers,
                 dest: Path | None) -> tuple[requests.Response, bytes, int]:
        """One request with its whole body read (into ``dest``'s .part file when given)."""
        response = self.session.request(method, url, params=params, data=data, headers=headers,
                                        timeout=self.timeout, stream=True)
        limit = self.max_bytes or (MAX_BYTES_TO_FILE if dest is not None else MAX_BYTES_IN_MEMORY)
        try:
            if dest is None or not response.ok:  # an error page is read into memory, to quote it
                content, size = self._read_body(response, None, min(limit, MAX_BYTES_IN_MEMORY))
            else:
                keep = self.keep_free
                length = response.headers.get("Content-Length", "")
                if keep:  # before a byte is written: room for the whole size when the server says it, else for the
                    # first DISK_CHECK_BYTES; then, as it writes, for each next DISK_CHECK_BYTES
                    known = int(length) if length.isdigit() else None
                    check_disk(dest.parent, DISK_CHECK_BYTES if known is None else known, keep, size=known)

                def disk(written: int) -> None:
                    check_disk(dest.parent, DISK_CHECK_BYTES, keep, written=written)

                with open(_part(dest), "wb") as sink:
                    content, size = self._read_body(response, sink, limit, disk if keep else None)
        finally:
            response.close()
        return response, content, size

    def request(self, method: str, url: str, *, params=None, data=None, headers=None,
                dest: Path | None = None) -> Fetched:
        last_reason, last_status = "no attempt made", None
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            for attempt in range(1, self.max_tries + 1):
                wait: float | None = None
                try:
                    response, content, size = self._attempt(method, url, params=params, data=data,
                                                            headers=headers, dest=dest)
                except requests.exceptions.Timeout as exc:
                    last_reason, last_status = f"timed out ({exc.__class__.__name__})", None
                except requests.exceptions.ChunkedEncodingError as exc:
                    last_reason, last_status = f"truncated body: connection closed mid-response ({exc})", None
                except requests.exceptions.ConnectionError as exc:
                    last_reason, last_status = f"connection error: {exc}", None
                except _BodyProblem as exc:
                    if exc.final:
                        raise FetchError(self.source, url, exc.reason, None, attempt) from None
                    last_reason, last_status = exc.reason, None
                else:
                    full_url = response.url or url
                    expected = response.headers.get("Content-Length")
                    encoded = response.headers.get("Content-Encoding")
                    if method != "HEAD" and expected and not encoded and expected.isdigit() and int(expected) != size:
                        last_reason = f"truncated body: {size} of {expected} bytes"
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
                        if dest is not None and response.status_code != 304:
                            os.replace(_part(dest), dest)
                            return Fetched(full_url, response.status_code, b"", dict(response.headers), attempt,
                                           path=dest, size=size)
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
        finally:
            if dest is not None:
                _part(dest).unlink(missing_ok=True)
        raise FetchError(self.source, url, last_reason, last_status, self.max_tries)


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")
