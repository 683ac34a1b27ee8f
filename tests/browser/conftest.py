"""A live demo site served by uvicorn and a real Chromium driven by Playwright.

Chromium is Debian's (`/usr/bin/chromium`), launched through `executable_path`. When it is
missing the browser tests skip, except where CONSENT_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from consent import ConsentConfig
from consent.scan.browser import CHROMIUM_ARGS
from tests.conftest import SECRET, require
from tests.workers import free_port


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class PageErrors:
    """Every uncaught page error and console error of the browser contexts a test opens.

    A test fails when any is left that it did not declare with ``expect``: a script that
    throws must never pass for one that works.
    """

    def __init__(self) -> None:
        self.seen: list[str] = []
        # The browser asks for a favicon by itself; the demo pages have none.
        self._expected: list[re.Pattern[str]] = [re.compile(r"404 .*/favicon\.ico\)$")]

    def expect(self, pattern: str) -> None:
        self._expected.append(re.compile(pattern))

    def watch(self, context: Any) -> None:
        context.on("weberror", lambda error: self.seen.append(f"page error: {error.error}"))
        context.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.seen.append(f"console error: {message.text} ({where})")

    def take(self) -> list[str]:
        """The errors seen so far, which then no longer count against the test."""
        seen, self.seen = self.seen, []
        return seen

    def unexpected(self) -> list[str]:
        return [e for e in self.seen if not any(p.search(e) for p in self._expected)]


@pytest.fixture(autouse=True)
def page_errors(request: pytest.FixtureRequest) -> Iterator[PageErrors]:
    """Watches every context made from the module's browser (see pytest_runtest_call)."""
    errors = PageErrors()
    if "browser" not in request.fixturenames:
        yield errors
        return
    browser = request.getfixturevalue("browser")
    new_context = browser.new_context

    def watched(*args: Any, **kwargs: Any) -> Any:
        context = new_context(*args, **kwargs)
        errors.watch(context)
        return context

    browser.new_context = watched
    try:
        yield errors
    finally:
        browser.new_context = new_context


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    result = yield
    errors = getattr(item, "funcargs", {}).get("page_errors")
    if isinstance(errors, PageErrors) and errors.unexpected():
        pytest.fail("errors in the page:\n" + "\n".join(errors.unexpected()), pytrace=False)
    return result


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "Debian's chromium is not installed (make test installs it as root)"
        if require("browser"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


# Module scope, not session: while the synchronous Playwright driver is open, its event loop
# counts as running in this thread, and every asyncio test collected after it would fail.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path, args=list(CHROMIUM_ARGS)
        )
        yield instance
        instance.close()


def demo_config(tmp: Path, **overrides: Any) -> ConsentConfig:
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "audit_url": f"sqlite:///{tmp / 'audit.db'}",
        "audit_key": "browser-test-audit-key-0123456789",
        "policy_version": "2026-11",
        "cookie_categories": {"news_lang": "preferences", "news_uid": "analytics"},
    }
    values.update(overrides)
    return ConsentConfig(**values)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LiveServer]:
    from examples.news.app import create_app

    with LiveServer(create_app(config=demo_config(tmp_path), data_dir=tmp_path)) as server:
        yield server


GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)


def answer_locally(route: Any) -> None:
    """Answers a request to a third party here, with an empty body of the kind it asked for:
    nothing leaves the machine, and a refused request does not count as a page error."""
    kind = route.request.resource_type
    if kind == "script":
        route.fulfill(status=200, content_type="text/javascript", body="")
    elif kind == "image":
        route.fulfill(status=200, content_type="image/gif", body=GIF)
    elif kind == "document":
        route.fulfill(status=200, content_type="text/html", body="<p>third party</p>")
    else:
        route.fulfill(status=204, body="")


@dataclass
class Visit:
    """A browser context whose requests to any other host are recorded and answered locally."""

    context: Any
    page: Any
    third_party: list[str] = field(default_factory=list)


def _open(browser: Any, site: LiveServer, **context_options: Any) -> Visit:
    context = browser.new_context(**context_options)
    visit = Visit(context=context, page=None)
    own_host = urlsplit(site.url).netloc

    def route(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own_host or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            visit.third_party.append(url)
            answer_locally(route)

    context.route("**/*", route)
    visit.page = context.new_page()
    return visit


@pytest.fixture
def visit(browser: Any, site: LiveServer) -> Iterator[Visit]:
    v = _open(browser, site)
    yield v
    v.context.close()


@pytest.fixture
def visit_without_js(browser: Any, site: LiveServer) -> Iterator[Visit]:
    v = _open(browser, site, java_script_enabled=False)
    yield v
    v.context.close()
