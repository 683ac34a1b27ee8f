"""The site's public origin and mount point, as browsers see them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.site import (
    OriginError,
    decision_allowed,
    in_cookie_domain,
    is_https,
    normalise_origin,
    origin_from_url,
    request_origin,
    split_root_path,
)

_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_hosts = st.lists(_label, min_size=1, max_size=4).map(".".join)
_segments = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True), max_size=4)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.example.com", "https://www.example.com"),
        ("HTTPS://WWW.Example.COM/", "https://www.example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_origins_are_normalised(value: str, expected: str) -> None:
    assert normalise_origin(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "www.example.com",
        "ftp://example.com",
        "https://example.com/news",
        "https://example.com/?x=1",
        "https://example.com#top",
        "https://user:pw@example.com",
        "https://",
        "https://exa mple.com",
        "https://example.com:99999",
        "javascript:alert(1)",
    ],
)
def test_anything_but_an_origin_is_refused(value: str) -> None:
    with pytest.raises(OriginError):
        normalise_origin(value)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=_hosts,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    path=_segments,
)
def test_a_url_has_the_origin_of_its_scheme_host_and_port(
    scheme: str, host: str, port: int | None, path: list[str]
) -> None:
    authority = host if port is None else f"{host}:{port}"
    origin = normalise_origin(f"{scheme}://{authority}")
    assert origin_from_url(f"{scheme}://{authority}/{'/'.join(path)}?q=1#f") == origin
    assert normalise_origin(origin) == origin
    default = {"http": 80, "https": 443}[scheme]
    assert origin.endswith(f":{port}") == (port is not None and port != default)


def test_public_origin_wins_over_what_the_server_saw() -> None:
    assert request_origin("http", "internal:8000", "https://news.example") == (
        "https://news.example"
    )
    assert request_origin("https", "news.example", None) == "https://news.example"
    assert request_origin("wss", "news.example:443", None) == "https://news.example"
    assert request_origin("http", "", None) is None
    assert request_origin("http", "bad host", None) is None


def test_secure_when_the_server_or_the_public_origin_is_on_tls() -> None:
    assert is_https("https", None)
    assert is_https("http", "https://news.example")
    assert not is_https("http", "http://news.example")
    assert not is_https("http", None)


def test_behind_a_proxy_the_browser_says_same_origin() -> None:
    # The server saw http; the browser posted from https. Sec-Fetch-Site decides.
    assert decision_allowed(
        fetch_site="same-origin",
        origin="https://news.example",
        referer=None,
        expected="http://news.example",
        cookie_domain=None,
    )


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site", "bogus", ""])
def test_other_sites_are_refused_whatever_their_origin_says(fetch_site: str) -> None:
    assert not decision_allowed(
        fetch_site=fetch_site,
        origin="https://news.example",
        referer="https://news.example/a",
        expected="https://news.example",
        cookie_domain=None,
    )


def _from_sibling(origin: str, cookie_domain: str | None) -> bool:
    return decision_allowed(
        fetch_site="same-site",
        origin=origin,
        referer=None,
        expected="https://www.news.example",
        cookie_domain=cookie_domain,
    )


def test_a_sibling_subdomain_passes_only_inside_the_cookie_domain() -> None:
    assert _from_sibling("https://live.news.example", "news.example")
    assert not _from_sibling("https://live.news.example", None)
    assert not _from_sibling("https://news.example.evil", "news.example")
    assert not _from_sibling("https://evilnews.example", "news.example")
    assert not _from_sibling("http://live.news.example", "news.example")


@pytest.mark.parametrize(
    ("origin", "referer", "allowed"),
    [
        ("https://news.example", None, True),
        ("https://news.example:443", None, True),
        ("http://news.example", None, False),
        ("https://evil.example", None, False),
        ("null", None, False),
        (None, "https://news.example/world?page=2", True),
        (None, "https://evil.example/news.example", False),
        (None, "http://news.example/", False),
        (None, None, True),  # not a browser page: the CSRF token alone decides
    ],
)
def test_without_fetch_metadata_origin_then_referer_must_be_public(
    origin: str | None, referer: str | None, allowed: bool
) -> None:
    assert (
        decision_allowed(
            fetch_site=None,
            origin=origin,
            referer=referer,
            expected="https://news.example",
            cookie_domain=None,
        )
        is allowed
    )


@given(host=_hosts, attacker=_hosts)
def test_only_hosts_under_the_cookie_domain_share_it(host: str, attacker: str) -> None:
    inside = in_cookie_domain(f"https://{attacker}", host)
    assert inside == (attacker == host or attacker.endswith("." + host))


@given(root=_segments, rest=_segments, query=st.booleans())
def test_the_route_path_is_found_under_either_convention(
    root: list[str], rest: list[str], query: bool
) -> None:
    root_path = "".join("/" + s for s in root)
    route = "/" + "/".join(rest)
    # Newer servers (uvicorn 0.26 and later) include the mount point in path, older do not.
    assert split_root_path(root_path + route, root_path) == route
    if not root_path or not (route == root_path or route.startswith(root_path + "/")):
        assert split_root_path(route, root_path) == route


def test_route_path_edges() -> None:
    assert split_root_path("/news", "/news") == "/"
    assert split_root_path("/news/", "/news/") == "/"
    assert split_root_path("/newsroom", "/news") == "/newsroom"
    assert split_root_path("", "") == "/"
