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
    config = make_config(services=[{"id": "google-analytics"}, {"id": "meta-pixel"}])
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
    # Only the services the operator declares are named; the catalogue's others are not.
    assert b"Google Analytics" in pages[0]
    assert b"Criteo" not in pages[0]


def test_the_banner_and_policy_name_only_declared_services(
    make_config: Callable[..., ConsentConfig],
) -> None:
    """The catalogue knows a thousand services to hold back what pages load; a site uses a
    few. Naming the rest would tell readers the site shares their data with all of them."""
    undeclared = ConsentMiddleware(page_app(), config=make_config()).runtime
    declared = ConsentMiddleware(
        page_app(), config=make_config(services=[{"id": "youtube-nocookie"}])
    ).runtime
    state = undeclared.state(None, gpc=False)
    locale = undeclared.locales.get("en")
    plain = undeclared.banner(locale, state, csrf_token="token", next_path="/")
    named = declared.banner(locale, state, csrf_token="token", next_path="/")
    assert "Google" not in plain
    assert "Google Ireland Limited" in named
    policy = undeclared.policy_page(locale)
    assert "Criteo" not in policy and "Google Analytics" not in policy
    assert len(policy.encode()) < 30_000
    assert "youtube" in declared.policy_page(locale).lower()
