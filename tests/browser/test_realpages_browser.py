"""A sample of the shared real pages in Chromium, under their own host names: before a
choice, no third-party script, frame, request or beacon leaves the page except to libraries,
fonts and CDNs, and no known tracker's image loads. Each page goes through the middleware
in-process; Chromium gets it, and the middleware's own files, by request interception, and
every third-party request is answered locally: nothing leaves the machine.

Images a saved widget put in a ``style`` attribute (``background-image: url(...)``) are not
held: the rewriter looks at the elements that fetch by their attributes, not at inline CSS,
so those requests are listed apart and only they may reach a known tracker's host.

Only the HTML of each page is at hand, so the pages' own scripts fail without their
first-party files and the libraries held back: page errors are expected here, and what is
checked is the network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from consent.catalogue import Catalogue, not_tracker_hosts
from tests.browser.conftest import PageErrors, answer_locally
from tests.conftest import realpages_folder
from tests.realpages import harness

SAMPLE_SIZE = 20
# Request kinds that run, frame or send something: none may reach a third party.
ACTIVE = frozenset({"script", "document", "xhr", "fetch", "ping", "websocket", "eventsource"})
_STYLE_URL = re.compile(rb"""style="[^"]*?url\((?:&quot;|')?([^"')&]+(?:&amp;[^"')&]+)*)""")
_ASSET = re.compile(rb'(/_consent/static/[A-Za-z0-9._-]+)"')


@dataclass
class Served:
    page: harness.Page
    own: tuple[str, ...]
    body: bytes
    assets: dict[str, bytes]
    styled: frozenset[str]  # URLs the bare page names in inline CSS


def sample() -> list[harness.Page]:
    folder = realpages_folder()
    # One page per site, those with the most third-party markup first, then spread over the
    # rest of the set.
    by_site: dict[str, harness.Page] = {}
    for page in sorted(harness.load_pages(folder), key=lambda p: (-p.body.count(b"//"), p.id)):
        by_site.setdefault(harness.registrable(page.site), page)
    chosen = list(by_site.values())
    half = SAMPLE_SIZE // 2
    return chosen[:half] + chosen[half::8][:half]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> list[Served]:
    folder = tmp_path_factory.mktemp("realpages")

    async def wrap_all() -> list[Served]:
        result = []
        for index, page in enumerate(sample()):
            own = harness.OWN_DOMAINS.get(harness.registrable(page.site), ())
            where = Path(folder) / str(index)
            where.mkdir()
            middleware = harness.make_middleware(where, **({"own_domains": own} if own else {}))
            status, body = await harness.fetch(middleware, page, None)
            assert status == 200, page.id
            assets = {}
            for path in {m.decode() for m in _ASSET.findall(body)}:
                status, asset = await harness.fetch(middleware, page, None, path)
                assert status == 200, path
                assets[path] = asset
            styled = frozenset(
                without_scheme(html.unescape(m.decode("latin-1")))
                for m in _STYLE_URL.findall(page.body)
            )
            own_hosts = (harness.registrable(page.site), *own)
            result.append(Served(page, own_hosts, body, assets, styled))
        return result

    # Playwright's own event loop runs in this thread: the middleware gets one of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrap_all()).result()


def without_scheme(url: str) -> str:
    """A page served over https asks for its http images over https (mixed content)."""
    return url.partition("//")[2]


def covered(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def content_type(path: str) -> str:
    return "text/css" if path.endswith(".css") else "text/javascript"


def interceptor(item: Served, seen: list[tuple[str, str]]) -> Any:
    """Serves the wrapped page and the middleware's files; records and answers every other
    request locally."""

    def route(route: Any) -> None:
        request = route.request
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        if host == item.page.site and parts.path == "/":
            kind = f"text/html; charset={item.page.charset}"
            route.fulfill(status=200, headers={"content-type": kind}, body=item.body)
        elif host == item.page.site and parts.path in item.assets:
            body = item.assets[parts.path]
            route.fulfill(status=200, content_type=content_type(parts.path), body=body)
        elif covered(host, item.own):
            route.fulfill(status=404, body="")  # the site's own files are not at hand
        else:
            seen.append((request.resource_type, request.url))
            answer_locally(route)

    return route


def test_no_third_party_runs_or_tracks_before_a_choice(
    browser: Any, served: list[Served], page_errors: PageErrors
) -> None:
    page_errors.expect(".")  # the pages' own scripts, without their files (see above)
    catalogue = Catalogue.builtin()
    allowed = not_tracker_hosts()
    offending: list[str] = []
    contacted = styled = 0
    for item in served:
        page = item.page
        seen: list[tuple[str, str]] = []

        route = interceptor(item, seen)

        context = browser.new_context()
        context.route("**/*", route)
        tab = context.new_page()
        tab.goto(f"https://{page.site}/", wait_until="load", timeout=60000)
        tab.wait_for_timeout(300)
        assert tab.locator("[data-consent-banner]").count() == 1, page.id
        context.close()
        contacted += len(seen)
        for kind, url in seen:
            host = urlsplit(url).hostname or ""
            if covered(host, allowed):
                continue
            service = catalogue.match_url(url)
            if service is not None and service.category == "necessary":
                continue
            if kind == "image" and without_scheme(url) in item.styled:
                styled += 1
                continue
            if kind in ACTIVE or service is not None:
                offending.append(f"{page.id}: {kind} {url[:160]}")
    assert offending == [], "\n".join(offending)
    # The check saw the pages' content requests: it does not pass on pages that load nothing.
    assert contacted > 0
