"""The real-browser harness: every human-read HTML page opened in headless Chromium, offline, checked with axe-core.

Use it from a test module::

    from tests.browser import assert_clean, browser, check_page  # noqa: F401  (browser is a pytest fixture)

    def test_my_page(browser, tmp_path):
        check = check_page(browser, tmp_path / "page.html", name="my-page")
        assert_clean(check)

``browser`` (session scope) is Debian's Chromium (``/usr/bin/chromium``) driven by Playwright's sync API; it is
skipped when Chromium is missing, and fails instead when ``CI`` is set. ``check_page`` opens the page in a fresh
context where every request is routed: ``file:``, ``data:``, ``blob:``, ``about:`` and http(s) to 127.0.0.1 /
localhost go through, anything else is aborted (never sent) and recorded. It collects console errors and
uncaught page errors, runs axe-core (WCAG 2.0 and 2.1, levels A and AA: what the UK public sector
accessibility regulations require) and keeps a full-page screenshot under ``$COHESION_TEST_ARTEFACTS``
(default ``test-artefacts/screenshots/`` in the repository, git-ignored).

Playwright's sync API and asyncio: between two sync calls Playwright leaves its event loop marked as the
thread's *running* loop (its sync side schedules work on it, e.g. ``page.on(...)``). A browser kept for the
whole session would then break every later test that calls ``asyncio.run()`` or starts its own
``sync_playwright()`` ("using Playwright Sync API inside the asyncio loop": tests/test_monitoring_pack.py and
tests/test_svg.py do). So this harness's loop is marked running only

- while a fixture that uses this ``browser`` is set up, and while the body of a test that uses it runs (a
  pytest plugin the fixture registers, ``_LoopTurns``),
- inside ``check_page`` (whoever calls it), and
- during each blocking call on one of its objects (``_own_turns``: e.g. a module fixture that closes a page
  in the teardown of a test that does not use the browser itself),

and every other test runs with no running loop. ``tests/test_browser_harness.py`` checks that a test after a
browser test can use ``asyncio.run()`` and a Playwright of its own while the session browser stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
# axe-core rule tags: WCAG 2.0 and 2.1, levels A and AA (WCAG 2.1 AA is the UK public-sector standard)
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}


# ---------------------------------------------------------------------------------------------- the browser
def chromium_path() -> str:
    """Debian's Chromium; skip when it is missing, fail when CI is set (CI installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


_OWN_LOOPS: set = set()  # the event loop of the session's Playwright (see the module docstring)


def _own_turns() -> None:
    """Mark a loop of ours as running for each blocking call on its objects, and put back what was there
    before (nothing, outside a browser test) when the call returns. Loops of other Playwright instances (a
    test that starts its own) are left exactly as Playwright runs them."""
    from playwright._impl import _sync_base

    original = _sync_base.wait_for_future
    if getattr(original, "_cohesion_turns", False):
        return

    def wait_for_future(loop, dispatcher_fiber, future):
        __tracebackhide__ = True
        if loop not in _OWN_LOOPS:
            return original(loop, dispatcher_fiber, future)
        before = asyncio._get_running_loop()
        asyncio._set_running_loop(loop)
        try:
            return original(loop, dispatcher_fiber, future)
        finally:
            asyncio._set_running_loop(before)

    wait_for_future._cohesion_turns = True
    _sync_base.wait_for_future = wait_for_future


@contextlib.contextmanager
def _turn(loop):
    """The loop marked running inside the block (as Playwright's sync API expects), the previous mark after."""
    before = asyncio._get_running_loop()
    asyncio._set_running_loop(loop)
    try:
        yield
    finally:
        asyncio._set_running_loop(before)


def _is_this_browser(definitions) -> bool:
    func = getattr(definitions[-1], "func", None) if definitions else None
    return getattr(func, "__module__", None) == __name__


def _needs_this_browser(argnames, name2fixturedefs, seen=None) -> bool:
    """Does something asking for these fixtures get this module's browser (directly or through a fixture)?"""
    seen = set() if seen is None else seen
    for name in argnames:
        if name in seen:
            continue
        seen.add(name)
        definitions = name2fixturedefs.get(name)
        if not definitions:
            continue
        if name == "browser":
            if _is_this_browser(definitions):
                return True
            continue
        if _needs_this_browser(definitions[-1].argnames, name2fixturedefs, seen):
            return True
    return False


class _LoopTurns:
    """pytest plugin: the session's loop marked running while a fixture that uses the browser is set up and
    while the body of a test that uses it runs; no other code of the session sees it (in particular not the
    other fixtures of a browser test, such as ``built``, which runs Dagster)."""

    @staticmethod
    def _around(uses: bool):
        before = asyncio._get_running_loop()
        loop = _Session.loop()
        if uses and loop is not None and before is None:
            asyncio._set_running_loop(loop)
        try:
            return (yield)
        finally:
            # put back what was there before; a Playwright the test or fixture started for itself keeps its mark
            current = asyncio._get_running_loop()
            if current is not None and current is _Session.loop():
                asyncio._set_running_loop(before)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        item = getattr(request, "_pyfuncitem", None)
        info = getattr(item, "_fixtureinfo", None)
        uses = info is not None and fixturedef.argname != "browser" and _needs_this_browser(
            fixturedef.argnames, info.name2fixturedefs)
        return (yield from self._around(uses))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        info = getattr(item, "_fixtureinfo", None)
        uses = info is not None and "browser" in info.names_closure and _is_this_browser(
            info.name2fixturedefs.get("browser"))
        return (yield from self._around(uses))


class _Session:
    """One Playwright and one Chromium for the whole test session, shared by every module that imports the
    ``browser`` fixture (pytest makes one fixture definition per importing module: they all use this one)."""

    manager = None
    playwright = None
    browser = None
    users = 0

    @classmethod
    def loop(cls):
        return cls.manager._loop if cls.manager is not None else None

    @classmethod
    def acquire(cls, config=None):
        executable = chromium_path()
        sync_api = pytest.importorskip("playwright.sync_api")
        if config is not None and not config.pluginmanager.has_plugin("cohesion-browser-loop"):
            config.pluginmanager.register(_LoopTurns(), "cohesion-browser-loop")
        if cls.manager is None:
            _own_turns()
            if asyncio._get_running_loop() is not None:
                raise RuntimeError("the browser fixture cannot start inside a running asyncio loop")
            cls.manager = sync_api.sync_playwright()
            cls.playwright = cls.manager.start()
            _OWN_LOOPS.add(cls.manager._loop)
            asyncio._set_running_loop(None)  # start() returns with its loop marked running
        with _turn(cls.loop()):
            if cls.browser is None or not cls.browser.is_connected():
                cls.browser = cls.playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        cls.users += 1
        return cls.browser

    @classmethod
    def release(cls):
        cls.users -= 1
        if cls.users > 0 or cls.manager is None:
            return
        manager, browser = cls.manager, cls.browser
        cls.manager = cls.playwright = cls.browser = None
        # stop() resumes the loop without a sync call: mark it running for that, as Playwright expects; the
        # loop clears the mark itself when it ends
        asyncio._set_running_loop(manager._loop)
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        finally:
            try:
                manager.__exit__(None, None, None)
            finally:
                _OWN_LOOPS.discard(manager._loop)
                if asyncio._get_running_loop() is manager._loop:
                    asyncio._set_running_loop(None)


@pytest.fixture(scope="session")
def browser(request):
    """Headless Debian Chromium (Playwright sync ``Browser``) for the whole session."""
    b = _Session.acquire(request.config)
    try:
        yield b
    finally:
        _Session.release()


# ---------------------------------------------------------------------------------------------- one page
@dataclass
class PageCheck:
    name: str
    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    axe_violations: list[dict] = field(default_factory=list)
    screenshot: Path | None = None
    title: str = ""
    lang: str = ""
    text: str = ""  # the visible text: page.inner_text('body')
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, allowed or not
    inspected: Any = None  # what check_page's `inspect` callable returned

    @property
    def ok(self) -> bool:
        return not (self.console_errors or self.page_errors or self.external_requests or self.axe_violations)


def artefact_dir() -> Path:
    """Where screenshots go: $COHESION_TEST_ARTEFACTS, else test-artefacts/screenshots/ in the repository."""
    configured = os.environ.get("COHESION_TEST_ARTEFACTS")
    return Path(configured) if configured else REPO / "test-artefacts" / "screenshots"


def is_local(url: str) -> bool:
    """May the page load this URL? Files, inline data, blobs, about: pages, and http(s) to this machine."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in LOCAL_SCHEMES:
        return True
    if scheme in ("http", "https", "ws", "wss"):
        return (parts.hostname or "").lower() in LOCAL_HOSTS
    return False


def _url(target: Path | str) -> str:
    if isinstance(target, Path):
        return target.resolve().as_uri()
    if "://" not in target:
        return Path(target).resolve().as_uri()
    return target


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if not cleaned:
        raise ValueError(f"screenshot name {name!r} has no usable characters")
    return cleaned


def _violations(results: dict) -> list[dict]:
    out = []
    for v in results.get("violations", []):
        nodes = v.get("nodes", [])
        out.append({
            "id": v.get("id"),
            "impact": v.get("impact"),
            "help": v.get("help"),
            "nodes": len(nodes),
            "targets": [" ".join(map(str, n.get("target", []))) for n in nodes[:5]],
            "summary": (nodes[0].get("failureSummary") or "").strip() if nodes else "",
        })
    return out


def run_axe(page) -> list[dict]:
    """axe-core in the page, WCAG 2.0/2.1 A and AA rules; the violations, one dict per rule."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS},
                                       "resultTypes": ["violations"]})
    return _violations(results.response)


def check_page(browser, target: Path | str, *, name: str, axe: bool = True, viewport=(1280, 900),
               inspect: Callable[[Any], Any] | None = None, timeout_ms: int = 60_000) -> PageCheck:
    """Open one page offline in a fresh context and report what a reader's browser would complain about.

    ``target``: a file (Path) or a file://, http://127.0.0.1 or http://localhost URL. ``inspect(page)``, if
    given, runs on the loaded page before it closes; its result is ``PageCheck.inspected``."""
    url = _url(target)
    if not is_local(url):
        raise ValueError(f"check_page opens local pages only, not {url}")
    with _turn(browser._loop):
        return _check_page(browser, url, name=name, axe=axe, viewport=viewport, inspect=inspect,
                           timeout_ms=timeout_ms)


def _check_page(browser, url: str, *, name: str, axe: bool, viewport, inspect, timeout_ms: int) -> PageCheck:
    check = PageCheck(name=name, url=url)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  service_workers="block", java_script_enabled=True)
    context.set_default_timeout(timeout_ms)

    def route(r):
        request_url = r.request.url
        check.requests.append(request_url)
        if is_local(request_url):
            r.continue_()
        else:
            check.external_requests.append(request_url)
            r.abort("blockedbyclient")

    def websocket(ws):
        check.requests.append(ws.url)
        if is_local(ws.url):
            ws.connect_to_server()
        else:
            check.external_requests.append(ws.url)
            ws.close()

    context.route("**/*", route)
    context.route_web_socket(re.compile(".*"), websocket)
    try:
        page = context.new_page()

        def console(msg):
            if msg.type == "error":
                where = msg.location.get("url") if msg.location else ""
                check.console_errors.append(f"{msg.text}" + (f" ({where})" if where and where != url else ""))

        page.on("console", console)

        def page_error(error):
            name, message = getattr(error, "name", "") or "", getattr(error, "message", "") or str(error)
            check.page_errors.append(f"{name}: {message}" if name else message)

        page.on("pageerror", page_error)
        page.goto(url, wait_until="load")
        try:
            page.wait_for_load_state("networkidle", timeout=5_000)
        except Exception:  # noqa: BLE001  (a page that keeps polling: what it did so far is recorded)
            pass
        check.title = page.title()
        check.lang = page.evaluate("document.documentElement.lang || ''")
        check.text = page.inner_text("body")
        if inspect is not None:
            check.inspected = inspect(page)
        if axe:
            check.axe_violations = run_axe(page)
        folder = artefact_dir()
        folder.mkdir(parents=True, exist_ok=True)
        check.screenshot = folder / f"{_safe_name(name)}.png"
        page.screenshot(path=str(check.screenshot), full_page=True)
    finally:
        context.close()
    return check


def describe(check: PageCheck) -> str:
    """Everything wrong with the page, one line each."""
    lines = [f"{check.name} ({check.url}):"]
    for label, items in (("console error", check.console_errors), ("page error", check.page_errors),
                         ("request outside the page's machine (blocked)", check.external_requests)):
        lines += [f"  {label}: {item}" for item in items]
    for v in check.axe_violations:
        lines.append(f"  axe {v['id']} [{v['impact']}] {v['help']}: {v['nodes']} element(s), e.g. "
                     + "; ".join(v["targets"][:3]))
        if v.get("summary"):
            lines.append("      " + " ".join(v["summary"].split())[:300])
    if check.screenshot:
        lines.append(f"  screenshot: {check.screenshot}")
    return "\n".join(lines)


def assert_clean(check: PageCheck) -> None:
    """No console error, no page error, no request outside the machine, no WCAG 2.1 A/AA violation."""
    assert check.ok, describe(check)
