"""HttpClient against a real local HTTP server that misbehaves on cue (tests/fakeserver.py)."""

from __future__ import annotations

import email.utils
import random
import re
import statistics
from datetime import datetime, timedelta, timezone

import pytest

from orchestration.lib.http import FetchError, HttpClient
from tests.fakeserver import Reply

PATH = "/api/v01/dataset/NM_1_1.data.csv"
BODY = b"GEOGRAPHY_CODE,OBS_VALUE\nW06000001,12\n"



def client(**kwargs) -> tuple[HttpClient, list[float]]:
    slept: list[float] = []
    options = dict(timeout=2.0, max_tries=3, sleep=slept.append, rng=random.Random(1))
    options.update(kwargs)
    return HttpClient("test-source", **options), slept


def test_429_with_retry_after_seconds_waits_that_long_then_succeeds(fake_server):
    fake_server.route("GET", PATH, Reply(429, headers={"Retry-After": "2"}), Reply(200, body=BODY))
    http, slept = client()
    fetched = http.get(fake_server.url(PATH))
    assert fetched.status == 200 and fetched.content == BODY
    assert slept == [2.0]
    assert fake_server.count("GET", PATH) == 2


def test_429_with_http_date_retry_after(fake_server):
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    fake_server.route("GET", PATH, Reply(429, headers={"Retry-After": when}), Reply(200, body=BODY))
    http, slept = client()
    assert http.get(fake_server.url(PATH)).content == BODY
    assert len(slept) == 1 and 25 <= slept[0] <= 30  # the date has whole-second resolution


def test_500_then_success(fake_server):
    fake_server.route("GET", PATH, Reply(500, body="oops"), Reply(200, body=BODY))
    http, slept = client()
    fetched = http.get(fake_server.url(PATH))
    assert fetched.content == BODY and fetched.attempts == 2
    assert len(slept) == 1


def test_503_every_time_raises_fetch_error_naming_source_url_status_and_attempts(fake_server):
    fake_server.route("GET", PATH, Reply(503, body="busy"))
    http, slept = client(max_tries=4)
    with pytest.raises(FetchError) as caught:
        http.get(fake_server.url(PATH))
    error = caught.value
    assert error.source == "test-source" and error.status == 503 and error.attempts == 4
    assert PATH in error.url
    message = str(error)
    assert "test-source" in message and fake_server.url(PATH) in message
    assert "HTTP 503" in message and "after 4 attempts" in message
    assert fake_server.count("GET", PATH) == 4
    assert len(slept) == 3  # no sleep after the last try


def test_timeout_is_retried_then_succeeds(fake_server):
    fake_server.route("GET", PATH, Reply(200, body=BODY, delay=0.6), Reply(200, body=BODY))
    http, slept = client(timeout=0.15)
    fetched = http.get(fake_server.url(PATH))
    assert fetched.content == BODY and fetched.attempts == 2
    assert fake_server.count("GET", PATH) == 2


def test_always_timing_out_raises_fetch_error(fake_server):
    fake_server.route("GET", PATH, Reply(200, body=BODY, delay=0.5))
    http, _ = client(timeout=0.1, max_tries=2)
    with pytest.raises(FetchError) as caught:
        http.get(fake_server.url(PATH))
    assert "timed out" in str(caught.value) and caught.value.attempts == 2
    assert caught.value.status is None


def test_truncated_body_is_retried_then_reported(fake_server):
    fake_server.route("GET", PATH, Reply(200, body=BODY * 50, truncate_to=40))
    http, slept = client(max_tries=3)
    with pytest.raises(FetchError) as caught:
        http.get(fake_server.url(PATH))
    assert "truncated" in str(caught.value)
    assert fake_server.count("GET", PATH) == 3 and len(slept) == 2


def test_truncated_body_then_a_whole_one_succeeds(fake_server):
    fake_server.route("GET", PATH, Reply(200, body=BODY * 50, truncate_to=40), Reply(200, body=BODY * 50))
    http, _ = client()
    assert http.get(fake_server.url(PATH)).content == BODY * 50


def test_404_fails_at_once_without_retry(fake_server):
    fake_server.route("GET", PATH, Reply(404, body="no such dataset"))
    http, slept = client(max_tries=5)
    with pytest.raises(FetchError) as caught:
        http.get(fake_server.url(PATH))
    assert caught.value.status == 404 and caught.value.attempts == 1
    assert "HTTP 404" in str(caught.value) and "no such dataset" in str(caught.value)
    assert fake_server.count("GET", PATH) == 1 and slept == []


def test_conditional_get_with_etag_gets_304_not_modified(fake_server):
    def handler(request):
        sent = {k.lower(): v for k, v in request.headers.items()}.get("if-none-match")
        if sent == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(200, body=BODY, headers={"ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"})

    fake_server.route("GET", PATH, handler)
    http, _ = client()
    first = http.get(fake_server.url(PATH))
    assert first.status == 200 and not first.not_modified and first.etag == '"v1"'
    second = http.get(fake_server.url(PATH), etag=first.etag)
    assert second.not_modified and second.content == b""
    changed = http.get(fake_server.url(PATH), etag='"v0"')  # a stale ETag gets the body again
    assert changed.status == 200 and changed.content == BODY


def test_backoff_waits_are_jittered_within_a_growing_cap_and_reproducible(fake_server):
    fake_server.route("GET", PATH, Reply(503))
    tries, base = 5, 0.5
    caps = [base * 2 ** (attempt - 1) for attempt in range(1, tries)]

    def waits(seed: int) -> list[float]:
        http, slept = client(max_tries=tries, backoff_base=base, rng=random.Random(seed))
        with pytest.raises(FetchError):
            http.get(fake_server.url(PATH))
        assert slept == http.waits
        return slept

    runs = [waits(seed) for seed in range(25)]
    for run in runs:
        assert len(run) == tries - 1
        assert all(0 <= wait <= cap for wait, cap in zip(run, caps))
    assert waits(3) == runs[3]  # the same seed gives the same waits
    assert len({tuple(run) for run in runs}) == len(runs)  # jitter: no two seeds agree
    assert all(run != caps for run in runs)  # never the bare exponential
    means = [statistics.mean(run[i] for run in runs) for i in range(tries - 1)]
    assert means == sorted(means) and means[-1] > 3 * means[0]  # waits grow with the attempt


# ------------------------------------------------------------------ bodies read as they arrive (issue 14: no hangs)
def test_a_server_trickling_the_body_is_given_up_as_too_slow_and_retried(fake_server):
    """Every read gets a byte well within the read timeout, so the socket timeout never fires: before, this
    call ran for as long as the server kept trickling (a 1 MB body at 20 bytes/s: 14 hours)."""
    fake_server.route("GET", PATH, Reply(200, body=b"x" * 1_000_000, trickle=0.05), Reply(200, body=BODY))
    http, slept = client(timeout=(2.0, 2.0), min_rate=1024, rate_window=0.5)
    fetched = http.get(fake_server.url(PATH))
    assert fetched.content == BODY and fetched.attempts == 2 and len(slept) == 1

    fake_server.route("GET", PATH, Reply(200, body=b"x" * 1_000_000, trickle=0.05))
    http, slept = client(timeout=(2.0, 2.0), min_rate=1024, rate_window=0.5, max_tries=2)
    with pytest.raises(FetchError) as caught:
        http.get(fake_server.url(PATH))
    assert caught.value.attempts == 2 and caught.value.status is None
    assert "too slow" in caught.value.reason and "under 1,024 bytes/s" in caught.value.reason


def test_a_slow_but_steady_transfer_is_not_cut(fake_server):
    fake_server.route("GET", PATH, Reply(200, body=b"y" * 60, trickle=0.01))  # ~100 bytes/s for 0.6 s
    http, _ = client(timeout=(2.0, 2.0), min_rate=10, rate_window=0.2)
    assert http.get(fake_server.url(PATH)).content == b"y" * 60


def test_a_body_over_the_cap_is_refused_at_once(fake_server):
    fake_server.route("GET", PATH, Reply(200, body=b"z" * 5000))
    http, slept = client(max_bytes=4096, max_tries=5)
    with pytest.raises(FetchError, match="exceeds the 4,096 bytes accepted") as caught:
        http.get(fake_server.url(PATH))
    assert caught.value.attempts == 1 and fake_server.count("GET", PATH) == 1 and slept == []


def test_chunked_and_gzip_bodies_are_read_whole(fake_server):
    import gzip

    fake_server.route("GET", PATH, Reply(200, body=BODY * 1000, chunked=777))
    http, _ = client()
    assert http.get(fake_server.url(PATH)).content == BODY * 1000
    fake_server.route("GET", PATH, Reply(200, body=gzip.compress(BODY * 1000), headers={"Content-Encoding": "gzip"}))
    fetched = http.get(fake_server.url(PATH))
    assert fetched.content == BODY * 1000 and fetched.size == len(BODY) * 1000


def test_download_writes_the_file_only_when_whole(fake_server, tmp_path):
    dest = tmp_path / "archive.zip"
    fake_server.route("GET", PATH, Reply(200, body=BODY * 100, headers={"ETag": '"d1"'}))
    http, _ = client()
    fetched = http.download(fake_server.url(PATH), dest)
    assert fetched.path == dest and dest.read_bytes() == BODY * 100 and fetched.content == b""
    assert fetched.size == len(BODY) * 100 and fetched.head(8) == BODY[:8] and fetched.etag == '"d1"'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.zip"]

    # a failed download (cut, then too slow, then 404) leaves the earlier file as it was and no .part
    for reply in (Reply(200, body=BODY * 100, truncate_to=50),
                  Reply(200, body=BODY * 100, trickle=0.05),
                  Reply(404, body="gone")):
        fake_server.route("GET", PATH, reply)
        http, _ = client(max_tries=2, timeout=(2.0, 2.0), rate_window=0.3)
        with pytest.raises(FetchError):
            http.download(fake_server.url(PATH), dest)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.zip"]
        assert dest.read_bytes() == BODY * 100


def test_rate_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("COHESION_HTTP_MIN_RATE", "2048")
    monkeypatch.setenv("COHESION_HTTP_RATE_WINDOW", "30")
    http = HttpClient("test-source")
    assert (http.min_rate, http.rate_window) == (2048.0, 30.0)
    assert HttpClient("test-source", rate_window=5).rate_window == 5
    monkeypatch.setenv("COHESION_HTTP_RATE_WINDOW", "soon")
    with pytest.raises(ValueError, match="COHESION_HTTP_RATE_WINDOW must be a number of 0 or more, got 'soon'"):
        HttpClient("test-source")
    monkeypatch.setenv("COHESION_HTTP_RATE_WINDOW", "-5")
    with pytest.raises(ValueError, match="COHESION_HTTP_RATE_WINDOW must be a number of 0 or more, got '-5'"):
        HttpClient("test-source")
    # float() takes these, but "nan" would turn the limit off without a word and "inf" would cut every transfer
    for value in ("nan", "inf"):
        monkeypatch.setenv("COHESION_HTTP_MIN_RATE", value)
        with pytest.raises(ValueError, match=f"COHESION_HTTP_MIN_RATE must be a number of 0 or more, got '{value}'"):
            HttpClient("test-source")


def test_a_download_stops_rather_than_fill_the_disk(fake_server, tmp_path, monkeypatch):
    """The warehouse shares the download's disk: a download that would leave less than COHESION_DOWNLOAD_KEEP_FREE_MB
    free is refused before a byte is written when the server gives the size, and stopped as it writes when it does
    not (chunked); not retried, no file and no .part left, an earlier file kept."""
    import collections
    import shutil

    from orchestration.lib import http as http_module
    from orchestration.lib.http import DiskSpaceError

    dest = tmp_path / "archive.zip"
    dest.write_bytes(b"the earlier archive")
    body = b"z" * 1_000_000

    def refused(reply) -> str:
        fake_server.route("GET", PATH, reply)
        before = fake_server.count("GET", PATH)
        http, slept = client(max_tries=3)
        with pytest.raises(DiskSpaceError) as caught:
            http.download(fake_server.url(PATH), dest)
        message = str(caught.value)
        assert f"free under {tmp_path}" in message and "COHESION_DOWNLOAD_KEEP_FREE_MB" in message
        assert caught.value.errno == 28 and isinstance(caught.value, OSError)
        assert fake_server.count("GET", PATH) == before + 1 and slept == []  # not retried
        assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.zip"] and dest.read_bytes() == b"the earlier archive"
        return message

    # the real disk, asked to keep 50 GB more than it has free (other processes' writes cannot change the answer)
    monkeypatch.setenv("COHESION_DOWNLOAD_KEEP_FREE_MB", str((shutil.disk_usage(tmp_path).free + 50e9) / 1e6))
    assert "the download is 1.0 MB," in refused(Reply(200, body=body))
    assert "the download is of unknown size," in refused(Reply(200, body=body, chunked=10_000))

    # a chunked body on a disk of 1 MB whose free space is what the download has not yet written (the real disk's
    # free space moves with every other process): with 0.6 MB to keep, it is stopped at about 0.3-0.4 MB
    usage = collections.namedtuple("usage", "total used free")
    part = tmp_path / "archive.zip.part"
    monkeypatch.setattr(http_module.shutil, "disk_usage",
                        lambda folder: usage(1_000_000, 0, 1_000_000 - (part.stat().st_size if part.exists() else 0)))
    monkeypatch.setattr(http_module, "DISK_CHECK_BYTES", 100_000)  # look every 100 kB, not every 64 MiB
    monkeypatch.setenv("COHESION_DOWNLOAD_KEEP_FREE_MB", "0.6")
    message = refused(Reply(200, body=body, chunked=10_000))
    assert re.search(r"the download was stopped after 0\.[234] MB, 0\.[5-7] MB are free", message), message

    # 0 keeps nothing back; a bad value is a clear error when the client is made
    monkeypatch.setenv("COHESION_DOWNLOAD_KEEP_FREE_MB", "0")
    http, _ = client()
    assert http.download(fake_server.url(PATH), dest).size == len(body) and dest.read_bytes() == body
    monkeypatch.setenv("COHESION_DOWNLOAD_KEEP_FREE_MB", "lots")
    with pytest.raises(ValueError, match="COHESION_DOWNLOAD_KEEP_FREE_MB must be a number of megabytes, 0 or more"):
        HttpClient("test-source")
