"""A live demo site served by uvicorn and a real Chromium driven by Playwright.

Chromium is Debian's (`/usr/bin/chromium`), launched through `executable_path`. When it is
missing the browser tests skip, except where CONSENT_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from consent import ConsentConfig
from tests.conftest import SECRET, require

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.port = _free_port()
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
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
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


@dataclass
class Visit:
    """A browser context whose requests to any other host are recorded and blocked."""

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
            route.abort()

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
