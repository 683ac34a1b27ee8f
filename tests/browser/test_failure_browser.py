"""A page finished after an injected fault loads nothing from a third party in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consent import ConsentConfig, ConsentMiddleware
from consent.holdback import HoldbackPolicy
from consent.rewriter import HtmlRewriter
from consent.runtime import ConsentRuntime
from tests.browser.conftest import LiveServer, _open
from tests.faults import faulty_classifier, faulty_rewriter_run

GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)

# Everything after the marked element: a fault there comes mid-stream when the page is streamed
# (what came before it was judged by the normal rules, which allow unknown stylesheets, say).
PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fault</title>'
    "</head><body><h1>News</h1>"
    + "<p>Article text.</p>"
    * 200
    + '<img src="/fault-here.png" alt="">'
    '<link rel="stylesheet" href="https://cdn.tracker.example/site.css">'
    '<script src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    "<script>new Image().src = 'https://pixel.tracker.example/p.gif';"
    "fetch('https://beacon.tracker.example/b', {mode: 'no-cors'});</script>"
    '<img src="https://www.facebook.com/tr?id=1&amp;ev=PageView" alt="">'
    '<img srcset="https://img.tracker.example/a.png 1x" alt="">'
    '<iframe src="https://www.youtube.com/embed/abc"></iframe>'
    '<video poster="https://media.tracker.example/poster.jpg"></video>'
    + "<p>More text.</p>"
    * 200
    + '<script src="https://connect.facebook.net/en_US/fbevents.js"></script>'
    "</body></html>"
)


def site_app(chunks: int) -> Any:
    body = PAGE.encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/":
            headers = [(b"content-type", b"image/gif")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": GIF})
            return
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        size = -(-len(body) // chunks)
        for at in range(0, len(body), size):
            last = at + size >= len(body)
            await send(
                {"type": "http.response.body", "body": body[at : at + size], "more_body": not last}
            )

    return app


def inject(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    if target == "classifier":
        monkeypatch.setattr(HoldbackPolicy, "classifier", faulty_classifier())
    elif target == "rewriter":
        monkeypatch.setattr(HtmlRewriter, "_run", faulty_rewriter_run())
    else:

        def banner(self: Any, *args: Any, **kwargs: Any) -> str:
            raise RuntimeError("injected banner fault")

        monkeypatch.setattr(ConsentRuntime, "banner", banner)


@pytest.mark.parametrize(
    ("target", "chunks"),
    [("classifier", 1), ("classifier", 24), ("rewriter", 1), ("rewriter", 24), ("banner", 24)],
)
def test_a_fault_injected_page_requests_nothing_from_a_third_party(
    browser: Any,
    make_config: Callable[..., ConsentConfig],
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    chunks: int,
) -> None:
    inject(monkeypatch, target)
    app = ConsentMiddleware(site_app(chunks), config=make_config())
    with LiveServer(app) as server:
        visit = _open(browser, server)
        try:
            response = visit.page.goto(server.url + "/")
            assert response is not None and response.status == 200
            visit.page.wait_for_load_state("networkidle")
            assert visit.page.locator("h1").inner_text() == "News"
            assert visit.third_party == []
        finally:
            visit.context.close()
