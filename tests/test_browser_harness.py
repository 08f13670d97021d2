"""The browser harness (tests/browser.py) can fail: each kind of fault in a tiny page is caught, a clean page
passes, and a request outside the machine is blocked, not merely noted."""

from __future__ import annotations

import asyncio
import http.server
import threading
from pathlib import Path

import pytest

from tests.browser import REPO, artefact_dir, assert_clean, check_page, describe

CLEAN = """<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><title>A clean page</title></head>
<body><main><h1>A clean page</h1><p style="color:#1b1b1b">Dark text on white.</p>
<img alt="A red dot" src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="></main>
</body></html>"""


def page(tmp_path: Path, body: str, *, head: str = "<title>t</title>", lang: str | None = "en") -> Path:
    lang_attr = f' lang="{lang}"' if lang else ""
    path = tmp_path / "page.html"
    path.write_text(f'<!DOCTYPE html><html{lang_attr}><head><meta charset="utf-8">{head}</head>'
                    f"<body><main><h1>Heading</h1>{body}</main></body></html>", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _screenshots_in_tmp(tmp_path, monkeypatch):
    """The harness's own pages are not artefacts of the product: their screenshots go to tmp_path."""
    monkeypatch.setenv("COHESION_TEST_ARTEFACTS", str(tmp_path / "shots"))


class _Recorder:
    """A real HTTP server on a loopback address that records every path asked of it."""

    def __init__(self, host: str, pages: dict[str, str] | None = None):
        self.hits: list[str] = []
        pages = pages or {}
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                if body is not None:
                    self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------------------------------ passes
def test_a_clean_page_passes_and_leaves_a_screenshot(browser, tmp_path):
    path = tmp_path / "clean.html"
    path.write_text(CLEAN, encoding="utf-8")
    check = check_page(browser, path, name="clean page/1")
    assert_clean(check)
    assert check.ok and check.lang == "en-GB" and check.title == "A clean page"
    assert "Dark text on white." in check.text
    assert check.screenshot == tmp_path / "shots" / "clean-page-1.png"
    assert check.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert check.requests == [path.as_uri()]  # the page itself; data: URIs never reach the router


def test_the_artefact_folder_defaults_to_test_artefacts_in_the_repository(monkeypatch):
    monkeypatch.delenv("COHESION_TEST_ARTEFACTS")
    assert artefact_dir() == REPO / "test-artefacts" / "screenshots"


def test_a_local_http_server_may_be_used(browser):
    server = _Recorder("127.0.0.1", {"/": CLEAN})
    try:
        check = check_page(browser, server.url + "/", name="served")
    finally:
        server.close()
    assert_clean(check)
    assert "/" in server.hits


# ------------------------------------------------------------------------------------------------ faults
def test_a_console_error_is_caught(browser, tmp_path):
    check = check_page(browser, page(tmp_path, "<script>console.error('broken widget')</script>"), name="console")
    assert check.console_errors == ["broken widget"] and not check.page_errors
    with pytest.raises(AssertionError, match="console error: broken widget"):
        assert_clean(check)


def test_a_thrown_error_is_caught(browser, tmp_path):
    check = check_page(browser, page(tmp_path, "<script>throw new Error('chart data missing')</script>"), name="thrown")
    assert len(check.page_errors) == 1 and "chart data missing" in check.page_errors[0]
    with pytest.raises(AssertionError, match="page error: .*chart data missing"):
        assert_clean(check)


def test_a_request_to_the_internet_is_recorded_and_aborted(browser, tmp_path):
    path = page(tmp_path, '<img src="https://example.org/x.png" alt="x">'
                          "<script>fetch('https://example.org/api').catch(() => {});"
                          "new WebSocket('wss://example.org/live');</script>")
    check = check_page(browser, path, name="external")
    assert set(check.external_requests) == {"https://example.org/x.png", "https://example.org/api",
                                            "wss://example.org/live"}
    assert any("ERR_BLOCKED_BY_CLIENT" in e for e in check.console_errors)
    with pytest.raises(AssertionError, match="blocked.*https://example.org/x.png"):
        assert_clean(check)


def test_a_request_outside_the_allowed_hosts_is_never_sent(browser, tmp_path):
    """127.0.0.2 is this machine, but not an allowed host: a server there proves the request never leaves the
    browser under the harness, and does without it (so the test can tell)."""
    outside = _Recorder("127.0.0.2")
    probe = f'<img src="{outside.url}/pixel.png" alt="probe">'
    host = _Recorder("127.0.0.1", {"/": f'<!DOCTYPE html><html lang="en"><head><title>t</title></head>'
                                         f"<body><main><h1>h</h1>{probe}</main></body></html>"})
    try:
        check = check_page(browser, host.url + "/", name="probe")
        assert check.external_requests == [f"{outside.url}/pixel.png"]
        assert outside.hits == []
        # the same page in a plain context does reach the server
        context = browser.new_context()
        try:
            plain = context.new_page()
            plain.goto(host.url + "/", wait_until="load")
        finally:
            context.close()
        assert outside.hits == ["/pixel.png"]
    finally:
        outside.close()
        host.close()


def test_a_page_outside_the_machine_is_not_opened(browser):
    with pytest.raises(ValueError, match="local pages only"):
        check_page(browser, "https://example.org/", name="nope")


@pytest.mark.parametrize("fault, body, lang, rule", [
    ("low-contrast", '<p style="color:#aaaaaa;background:#ffffff">Pale grey text that is hard to read.</p>', "en",
     "color-contrast"),
    ("missing-alt", '<img src="data:image/png;base64,iVBORw0KGgo=">', "en", "image-alt"),
    ("no-lang", "<p>Text in a page with no language.</p>", None, "html-has-lang"),
])
def test_an_accessibility_fault_is_caught(browser, tmp_path, fault, body, lang, rule):
    check = check_page(browser, page(tmp_path, body, lang=lang), name=fault)
    assert [v["id"] for v in check.axe_violations] == [rule]
    (violation,) = check.axe_violations
    assert violation["nodes"] == 1 and violation["targets"] and violation["impact"] in ("serious", "critical")
    assert not (check.console_errors or check.page_errors or check.external_requests)
    with pytest.raises(AssertionError, match=f"axe {rule}"):
        assert_clean(check)


def test_axe_can_be_left_out(browser, tmp_path):
    check = check_page(browser, page(tmp_path, "<p>x</p>", lang=None), name="no-axe", axe=False)
    assert check.axe_violations == [] and check.ok


def test_every_fault_is_listed_in_one_message(browser, tmp_path):
    path = page(tmp_path, '<p style="color:#bbbbbb">pale</p><img src="https://example.org/x.png">'
                          "<script>console.error('one'); throw new Error('two')</script>", lang=None)
    check = check_page(browser, path, name="everything")
    with pytest.raises(AssertionError) as failure:
        assert_clean(check)
    message = str(failure.value)
    for expected in ("console error: one", "page error: Error: two", "blocked): https://example.org/x.png",
                     "axe color-contrast", "axe image-alt", "axe html-has-lang", "screenshot: "):
        assert expected in message
    assert message.startswith(describe(check).splitlines()[0])


# ------------------------------------------------------------------------------------------------ asyncio
# These three run in this order (pytest keeps the file's order): a browser test, a test that does not use the
# browser while the session browser is open, then the browser again.
def test_a_browser_test_has_the_harness_loop_marked_running(browser, tmp_path):
    from tests.browser import _Session

    assert asyncio.get_running_loop() is _Session.loop()  # what Playwright's sync API expects in a browser test
    assert check_page(browser, page(tmp_path, "<p>x</p>"), name="before").ok


def test_a_test_without_the_browser_can_use_asyncio_and_a_playwright_of_its_own():
    """While the session's browser is open, a test that does not use it has no running event loop: asyncio.run()
    and another sync Playwright (tests/test_monitoring_pack.py and tests/test_svg.py start their own) work."""
    from playwright.sync_api import sync_playwright

    from tests.browser import _Session, chromium_path

    assert _Session.browser is not None and _Session.browser.is_connected()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert asyncio.run(asyncio.sleep(0, result="ran")) == "ran"
    with sync_playwright() as p:
        other = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        other_page = other.new_page()
        other_page.set_content("<p>second</p>")
        assert other_page.inner_text("p") == "second"
        other.close()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_the_session_browser_still_works_after(browser, tmp_path):
    page_ = browser.new_page()  # direct use of the fixture, as other tests may
    page_.on("console", lambda m: None)
    page_.set_content("<p>third</p>")
    assert page_.inner_text("p") == "third"
    page_.close()
    assert check_page(browser, page(tmp_path, "<p>x</p>"), name="after").ok


@pytest.fixture(scope="module")
def module_page(browser):
    """A module-scoped fixture over the browser, as a page-type test module may keep one page open."""
    page_ = browser.new_page()
    messages: list[str] = []
    page_.on("console", lambda m: messages.append(m.text))  # sync-side asyncio work: needs the loop marked
    yield page_, messages
    page_.close()  # runs in the teardown of this module's last test, which does not use the browser


def test_a_module_fixture_can_use_the_browser(module_page):
    page_, messages = module_page
    page_.set_content("<script>console.log('hello')</script>")
    page_.wait_for_function("() => true")
    assert messages == ["hello"]


def test_the_last_test_of_the_module_does_not_use_the_browser():
    """The module fixture above closes its page after this test: a blocking call with no browser test running."""
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
