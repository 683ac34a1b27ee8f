"""What the runtime builds from the configuration: the same for every worker."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.csrf import new_nonce
from tests.conftest import page_app

TRACKED_PAGE_PATHS = ("/", "/news/a", "/news/b")


def test_every_worker_shows_the_same_vendors_and_policy(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config()
    workers = [ConsentMiddleware(page_app(), config=config) for _ in range(2)]
    # Only the first worker has served pages, with a catalogue tracker on them.
    with TestClient(workers[0]) as client:
        for path in TRACKED_PAGE_PATHS:
            assert "data-consent-category" in client.get(path).text
    nonce = new_nonce()
    banners, pages = [], []
    for worker in workers:
        runtime = worker.runtime
        state = runtime.state(None, gpc=False)
        for tag in ("en", "de"):
            locale = runtime.locales.get(tag)
            banners.append(runtime.banner(locale, state, csrf_token="token", next_path="/"))
        with TestClient(worker, cookies={config.csrf_cookie_name: nonce}) as client:
            for path in ("/_consent/policy?lang=en", "/_consent/preferences?lang=fr"):
                response = client.get(path)
                assert response.status_code == 200
                pages.append(response.content)
    assert banners[:2] == banners[2:]
    assert pages[:2] == pages[2:]
    # The catalogue's services are counted in the banner and named on the policy page.
    assert 'class="cst-more"' in banners[0]
    assert b"Google Analytics" in pages[0]
