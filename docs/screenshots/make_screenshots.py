"""Take the banner screenshots shown in docs/locales.md.

Run from the repository root, with the development environment installed::

    .venv/bin/python docs/screenshots/make_screenshots.py

It serves a bare page wrapped in ConsentMiddleware on a free local port, opens it in Chromium
once per locale and screen size, and saves the banner, cropped to its own box, as
``banner-<tag>-<desktop|mobile>.png`` (and ``banner-<tag>-layer2-desktop.png`` for the second
layer) next to this script. Chromium is Debian's ``chromium`` when installed, otherwise
Playwright's own build.
"""

from __future__ import annotations

import argparse
import html
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consent import ConsentConfig, ConsentMiddleware
from consent.i18n import LocaleCatalogue
from consent.types import ASGIApp

HERE = Path(__file__).resolve().parent
TAGS = ("en", "uk", "de", "ar", "ja")
SECOND_LAYER_TAGS = ("en", "ar")
VIEWPORTS = {"desktop": (1280, 800), "mobile": (360, 740)}
BANNER = "[data-consent-banner]"
SECOND_LAYER = "[data-consent-layer='2']"


def page_app() -> Starlette:
    """A bare page in the language asked for (``/?lang=ar``): the banner follows ``<html lang>``."""
    catalogue = LocaleCatalogue.load()

    async def page(request: Request) -> Response:
        locale = catalogue.get(request.query_params.get("lang", "en"))
        return HTMLResponse(
            f'<!doctype html><html lang="{html.escape(locale.tag)}">'
            '<head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(locale.name)}</title></head>"
            f"<body><main><h1>{html.escape(locale.name)}</h1></main></body></html>"
        )

    return Starlette(routes=[Route("/", page)])


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the page server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def open_banner(browser: Browser, url: str, tag: str, size: tuple[int, int]) -> Page:
    width, height = size
    page = browser.new_page(
        viewport={"width": width, "height": height},
        color_scheme="light",
        reduced_motion="reduce",
    )
    page.goto(f"{url}/?lang={tag}", wait_until="load")
    page.locator(BANNER).wait_for(state="visible")
    page.wait_for_function("window.consent !== undefined")
    page.evaluate("document.fonts.ready")
    return page


def shoot(page: Page, path: Path) -> None:
    page.locator(BANNER).screenshot(path=path, scale="css", animations="disabled", caret="hide")
    print(f"{path.name}: {path.stat().st_size // 1024} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the PNG files")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        config = ConsentConfig(
            secret_key=secrets.token_urlsafe(32),
            audit_url=f"sqlite:///{Path(tmp) / 'audit.db'}",
            policy_version="2026-11",
        )
        with serve(ConsentMiddleware(page_app(), config=config)) as url, sync_playwright() as pw:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                for tag in TAGS:
                    for name, size in VIEWPORTS.items():
                        page = open_banner(browser, url, tag, size)
                        shoot(page, out / f"banner-{tag}-{name}.png")
                        if tag in SECOND_LAYER_TAGS and name == "desktop":
                            page.locator("[data-consent-action='customize']").first.click()
                            page.locator(SECOND_LAYER).wait_for(state="visible")
                            # No hover or focus ring left over from the click in the picture.
                            page.mouse.move(0, 0)
                            page.evaluate("document.activeElement && document.activeElement.blur()")
                            shoot(page, out / f"banner-{tag}-layer2-{name}.png")
                        page.close()
            finally:
                browser.close()


if __name__ == "__main__":
    main()
