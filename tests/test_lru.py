"""The bounded caches of rendered markup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consent import ConsentConfig, ConsentMiddleware
from consent.cookie import CookiePayload
from consent.lru import LruCache
from consent.runtime import BANNER_CACHE_SIZE, PLACEHOLDER_CACHE_SIZE
from tests.conftest import page_app


def test_the_least_recently_used_entry_makes_room() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2
    with pytest.raises(ValueError, match="at least one"):
        LruCache[str, int](0)


def counted(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def test_banner_cache_stays_bounded_and_keeps_what_is_in_use(
    make_config: Callable[..., ConsentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = ConsentMiddleware(page_app(), config=make_config()).runtime
    renders = counted(monkeypatch, runtime, "_render_banner")
    optional = sorted(runtime.all_categories - runtime.required)
    # Each visitor picks the language (Accept-Language), their choices and the GPC signal.
    states = [runtime.state(None, gpc=False), runtime.state(None, gpc=True)]
    for mask in range(1 << len(optional)):
        granted = frozenset(c for bit, c in enumerate(optional) if mask >> bit & 1)
        payload = CookiePayload("c", granted | runtime.required, "1", runtime.now())
        cookie = runtime.codec.encode(payload)
        states += [runtime.state(cookie, gpc=False), runtime.state(cookie, gpc=True)]
    everyday = runtime.locales.get("en"), runtime.state(None, gpc=False)
    for tag in runtime.locales.tags:
        for state in states:
            runtime.banner(runtime.locales.get(tag), state, csrf_token="t", next_path="/")
        runtime.banner(*everyday, csrf_token="t", next_path="/")  # the banner most visitors see
    assert len(runtime._banner_cache) <= BANNER_CACHE_SIZE
    before = len(renders)
    runtime.banner(*everyday, csrf_token="t", next_path="/")
    assert len(renders) == before, "the banner in constant use stays cached"


def test_placeholder_cache_keeps_new_entries_after_a_flood_of_vendor_names(
    make_config: Callable[..., ConsentConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = ConsentMiddleware(page_app(), config=make_config()).runtime
    renders = counted(monkeypatch, runtime.templates, "render")
    locale = runtime.locales.get("en")
    # Vendor names come from page markup, user content included: anyone can invent them.
    for number in range(5000):
        runtime.placeholder(locale, "marketing", f"vendor {number}")
    runtime.placeholder(locale, "analytics", "Real Analytics")
    before = len(renders)
    runtime.placeholder(locale, "analytics", "Real Analytics")
    assert len(renders) == before, "a vendor seen after the flood is cached too"
    assert len(runtime._placeholder_cache) <= PLACEHOLDER_CACHE_SIZE
