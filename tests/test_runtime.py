"""What the runtime builds from the configuration: the same for every worker."""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.cookie import CookiePayload
from consent.csrf import new_nonce
from consent.i18n import Locale
from consent.runtime import ConsentRuntime
from consent.templating import CSRF_MARKER, HELD_MARKER, NEXT_MARKER, NONCE_MARKER
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


def test_visitor_state_is_worked_out_once_per_cookie_header(
    make_config: Callable[..., ConsentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(cookie_max_age=600)
    runtime = ConsentRuntime(config)
    value = runtime.codec.encode(
        CookiePayload(
            consent_id="c1",
            granted=frozenset({"analytics"}),
            policy_version=config.policy_version,
            decided_at=int(time.time()),
        )
    )
    header = f"theme=dark; {config.cookie_name}={value}".encode()
    decoded: list[str | None] = []
    real = runtime.codec.decode_until

    def counting(cookie: str | None, now: float) -> tuple[CookiePayload | None, float]:
        decoded.append(cookie)
        return real(cookie, now)

    monkeypatch.setattr(runtime.codec, "decode_until", counting)
    names: list[str] = []

    def name() -> str:
        names.append(config.cookie_name)
        return config.cookie_name

    first = runtime.visitor_state(header, False, name, gpc=False)
    assert first.decided and "analytics" in first.granted
    assert runtime.visitor_state(header, False, name, gpc=False) is first
    assert decoded == [value] and len(names) == 1
    # GPC and the connection's security change the answer: each is its own entry.
    assert "marketing" not in runtime.visitor_state(header, False, name, gpc=True).granted
    runtime.visitor_state(header, True, name, gpc=False)
    assert len(decoded) == 3
    # Past the cookie's lifetime the remembered answer is not used: the visitor is undecided.
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)
    assert not runtime.visitor_state(header, False, name, gpc=False).decided
    # No Cookie header: no work at all.
    assert not runtime.visitor_state(b"", False, name, gpc=False).decided
    assert len(names) == 4


def test_banner_values_are_joined_in_once(make_config: Callable[..., ConsentConfig]) -> None:
    runtime = ConsentRuntime(make_config())
    locale = runtime.locales.get("en")
    state = runtime.state(None, gpc=False)
    # A path naming another slot stays what it is: values are not read again for slots.
    path = f"/news?{HELD_MARKER}-{CSRF_MARKER}"
    banner = runtime.banner(
        locale, state, csrf_token="tok<1>", next_path=path, held="h1", nonce="n0nce"
    )
    assert html.escape(path) in banner
    assert "tok&lt;1&gt;" in banner and "tok<1>" not in banner
    assert banner.count('nonce="n0nce"') >= 1 and NONCE_MARKER not in banner
    assert "&#34;held&#34;:&#34;h1&#34;" in banner  # in the banner's configuration
    plain = runtime.banner(locale, state, csrf_token="t", next_path="/", held="h1")
    assert " nonce=" not in plain and NONCE_MARKER not in plain
    assert CSRF_MARKER not in plain and NEXT_MARKER not in plain and HELD_MARKER not in plain


def test_head_bytes_are_kept_only_when_no_nonce_is_in_them(
    make_config: Callable[..., ConsentConfig],
) -> None:
    runtime = ConsentRuntime(make_config())
    state = runtime.state(None, gpc=False)
    first = runtime.head_bytes("utf-8", nonce=None, gpc=False, root_path="", state=state)
    again = runtime.head_bytes("utf-8", nonce=None, gpc=False, root_path="", state=state)
    assert first is again and b" nonce=" not in first
    with_nonce = runtime.head_bytes("utf-8", nonce="n0nce", gpc=False, root_path="", state=state)
    other = runtime.head_bytes("utf-8", nonce="other", gpc=False, root_path="", state=state)
    assert b'nonce="n0nce"' in with_nonce and b"n0nce" not in other
    mounted = runtime.head_bytes("utf-8", nonce=None, gpc=False, root_path="/m", state=state)
    assert b"/m/_consent/" in mounted and b"/m/_consent/" not in first
    assert len(runtime._head_bytes) == 2


def test_page_parts_are_what_the_separate_calls_give_and_kept_only_without_a_nonce(
    make_config: Callable[..., ConsentConfig],
) -> None:
    runtime = ConsentRuntime(make_config())
    state = runtime.state(None, gpc=False)

    def parts(
        nonce: str | None, accept: str | None = "de-DE,de;q=0.9"
    ) -> tuple[Locale, bytes, tuple[str, ...]]:
        return runtime.page_parts(
            "utf-8",
            page_lang=None,
            accept_language=accept,
            resolved=None,
            state=state,
            root_path="/m",
            nonce=nonce,
        )

    locale, head, banner = parts(None)
    assert locale is runtime.locale_for(None, "de-DE,de;q=0.9", None)
    assert head == runtime.head_bytes("utf-8", nonce=None, gpc=False, root_path="/m", state=state)
    assert banner == runtime.banner_parts(locale, state, "/m")
    assert parts(None) == (locale, head, banner) and len(runtime._page_parts) == 1
    with_nonce = parts("n0nce")
    assert b'nonce="n0nce"' in with_nonce[1] and len(runtime._page_parts) == 1
    parts(None, "de," * 200)  # a long header is negotiated, not kept
    assert len(runtime._page_parts) == 1
