"""Which `Set-Cookie` headers leave the server, and how withdrawn cookies are expired."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.catalogue import Catalogue
from consent.enforcement import (
    MAX_DOMAIN_LEVELS,
    MAX_EXPIRY_BYTES,
    MAX_EXPIRY_HEADERS,
    CookiePolicy,
    cookie_date,
    expiry_headers,
)
from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES

CATALOGUE = Catalogue.builtin()
REQUIRED = frozenset({NECESSARY})
EVERYTHING = frozenset({NECESSARY, PREFERENCES, ANALYTICS, MARKETING})
OPERATOR = {"site_lang": PREFERENCES, "visit_id": ANALYTICS, "ab_*": ANALYTICS, "exp_?": MARKETING}


def category(service_id: str) -> str:
    service = CATALOGUE.by_id(service_id)
    assert service is not None
    return service.category


def policy(*, block: bool = False, table: dict[str, str] | None = None) -> CookiePolicy:
    return CookiePolicy(
        CATALOGUE,
        OPERATOR if table is None else table,
        own_cookies=("consent", "consent_csrf"),
        required=REQUIRED,
        block_undeclared=block,
    )


# ----- what a cookie is for --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("consent", NECESSARY),
        ("consent_csrf", NECESSARY),
        ("site_lang", PREFERENCES),
        ("visit_id", ANALYTICS),
        ("ab_headline", ANALYTICS),
        ("exp_1", MARKETING),
        ("_ga", category("google-analytics")),
        ("_ga_NEWS2026", category("google-analytics")),
        ("_fbp", category("meta-pixel")),
        ("__gads", category("google-ad-manager")),
        ("__stripe_mid", category("stripe")),
        ("__Secure-_ga", category("google-analytics")),
        ("__Host-site_lang", PREFERENCES),
        ("__host-site_lang", PREFERENCES),
        ("__SECURE-_ga", category("google-analytics")),
    ],
)
def test_category_of_known_cookies(name: str, expected: str) -> None:
    assert policy().category_of(name) == expected


@pytest.mark.parametrize("name", ["session", "exp_12", "ab", "IDE", "uid", "NID", "__Secure-x"])
def test_undeclared_and_third_party_only_names_have_no_category(name: str) -> None:
    # IDE, uid and NID live on the vendors' domains: a site's own cookie of that name is not theirs.
    assert policy().category_of(name) is None


def test_operator_table_wins_over_the_catalogue() -> None:
    assert policy(table={"_ga": PREFERENCES}).category_of("_ga") == PREFERENCES
    assert policy(table={"_g*": MARKETING}).category_of("_ga") == MARKETING


# ----- Set-Cookie headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "granted", "allowed"),
    [
        ("_ga=GA1.1.1.1; Path=/; Max-Age=63072000", REQUIRED, False),
        ("_ga=GA1.1.1.1; Path=/; Max-Age=63072000", frozenset({NECESSARY, ANALYTICS}), True),
        ("_fbp=fb.1.2; Path=/; Domain=.news.example", frozenset({NECESSARY, ANALYTICS}), False),
        ("_fbp=fb.1.2; Path=/", EVERYTHING, True),
        ("site_lang=en", frozenset({NECESSARY, PREFERENCES}), True),
        ("site_lang=en", frozenset({NECESSARY, ANALYTICS}), False),
        ("consent=abc; Path=/", REQUIRED, True),
        ("__stripe_mid=x; Path=/", REQUIRED, True),
        ("  _ga  =x", REQUIRED, False),
    ],
)
def test_allows_by_purpose(header: str, granted: frozenset[str], allowed: bool) -> None:
    assert policy().allows(header, granted) is allowed


@pytest.mark.parametrize(
    "header",
    [
        "_ga=; Max-Age=0",
        "_ga=; max-age=-1; Path=/",
        "_ga=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "_ga=x; expires=Wed, 31-Dec-1969 23:59:59 GMT",
        "_ga=x; Expires=Sun, 06 Nov 1994 08:49:37 GMT",
        "_ga=x; Expires=Sunday, 06-Nov-94 08:49:37 GMT",
        "_ga=x; Expires=Sun Nov  6 08:49:37 1994",
    ],
)
def test_deletion_never_needs_consent(header: str) -> None:
    assert policy().allows(header, REQUIRED)


@pytest.mark.parametrize(
    "header",
    [
        "_ga=x; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",  # Max-Age wins
        "_ga=x; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
        "_ga=x; Expires=not a date",
        "_ga=max-age=0",  # the value is no attribute
        "_ga=x; Max-Age=abc",
    ],
)
def test_only_a_real_deletion_counts_as_one(header: str) -> None:
    assert not policy().allows(header, REQUIRED)


@pytest.mark.parametrize("block", [False, True])
def test_undeclared_cookies_follow_the_policy_and_are_reported(
    block: bool, caplog: pytest.LogCaptureFixture
) -> None:
    enforcement = policy(block=block)
    with caplog.at_level(logging.WARNING, logger="consent"):
        assert enforcement.allows("session=1; Path=/", REQUIRED) is not block
        assert enforcement.allows("session=2; Path=/", EVERYTHING) is not block
        assert enforcement.allows("nameless-value", EVERYTHING) is not block
    assert enforcement.undeclared == {"session", ""}
    assert sum("'session'" in r.getMessage() for r in caplog.records) == 1


def test_the_report_is_bounded() -> None:
    enforcement = policy()
    for index in range(2000):
        enforcement.allows(f"generated_{index}=1", REQUIRED)
    assert 0 < len(enforcement.undeclared) <= 500


def test_withdrawn_lists_each_refused_cookie_once() -> None:
    held = ["_ga", "_ga", "_fbp", "site_lang", "visit_id", "session", "consent", "__stripe_mid"]
    analytics_only = frozenset({NECESSARY, ANALYTICS})
    withdrawn = policy().withdrawn(held, analytics_only)
    expected = [
        name
        for name in dict.fromkeys(held)
        if policy().category_of(name) not in (None, NECESSARY, ANALYTICS)
    ]
    assert withdrawn == expected
    assert "_ga" not in withdrawn and "session" not in withdrawn and "consent" not in withdrawn
    assert policy().withdrawn(held, EVERYTHING) == []


@pytest.mark.parametrize(
    "header",
    [
        # Browsers match the prefixes regardless of case: the cookie is still _ga.
        "__host-_ga=GA1.1.1.1; Path=/; Secure; Max-Age=63072000",
        "__SECURE-_ga=GA1.1.1.1; Path=/; Secure; Max-Age=63072000",
        # No 31 February: Chromium keeps a session cookie where a lenient reader sees 1970.
        "_ga=x; Expires=Sat, 31 Feb 1970 00:00:00 GMT",
        "_ga=x; Expires=Sun, 29 Feb 1970 00:00:00 GMT",
        "_ga=x; Expires=Thu, 31 Apr 1980 00:00:00 GMT",
        "_ga=x; Expires=Thu, 99 Abc 9999",
        # An unreadable attribute is skipped, so the readable Max-Age before it decides.
        "_ga=x; Max-Age=3600; Max-Age=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "_ga=x; Max-Age=3600; Max-Age=+0",
        "_ga=x; Max-Age=3600; Max-Age=0x0",
    ],
)
def test_refused_cookies_are_kept_out_however_they_are_spelt(header: str) -> None:
    assert not policy().allows(header, REQUIRED)


def test_an_unreadable_expires_after_a_past_one_is_skipped_as_browsers_do() -> None:
    header = "_ga=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Expires=Thu, 99 Abc 9999"
    assert policy().allows(header, REQUIRED)


# ----- expiry headers --------------------------------------------------------------------------


def domains(headers: list[str], name: str) -> set[str | None]:
    found: set[str | None] = set()
    for header in headers:
        if not header.startswith(name + "="):
            continue
        attributes = {
            k.strip().lower(): v.strip()
            for k, _, v in (part.partition("=") for part in header.split(";")[1:])
        }
        assert attributes["max-age"] == "0"
        assert cookie_date(attributes["expires"]) == 0
        assert attributes["path"] == "/"
        found.add(attributes.get("domain"))
    return found


@pytest.mark.parametrize("host", ["www.news.example", "WWW.News.Example:8443", "www.news.example."])
def test_expiry_covers_the_host_and_its_parent_domains(host: str) -> None:
    headers = expiry_headers(["_ga", "_fbp"], host, secure=False)
    for name in ("_ga", "_fbp"):
        assert domains(headers, name) == {None, ".www.news.example", ".news.example"}
    assert not any("Secure" in h for h in headers)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "[::1]:8000", "[2001:db8::1]", ""])
def test_expiry_is_host_only_where_there_is_no_parent_domain(host: str) -> None:
    assert domains(expiry_headers(["_ga"], host, secure=True), "_ga") == {None}


def test_expiry_follows_the_name_prefixes_and_the_scheme() -> None:
    headers = expiry_headers(
        ["__Host-id", "__Secure-id", "_ga", "_ga"], "a.b.example", secure=False
    )
    host_prefixed = [h for h in headers if h.startswith("__Host-id=")]
    assert len(host_prefixed) == 1 and "Domain" not in host_prefixed[0]
    assert all(h.endswith("; Secure") for h in host_prefixed)
    assert all(h.endswith("; Secure") for h in headers if h.startswith("__Secure-id="))
    assert len([h for h in headers if h.startswith("_ga=")]) == 3
    assert all("Secure" in h for h in expiry_headers(["_ga"], "a.b.example", secure=True))


# ----- cookie dates ----------------------------------------------------------------------------

MOMENTS = st.datetimes(
    min_value=datetime(1601, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


@given(MOMENTS)
def test_cookie_dates_in_every_format_servers_write(moment: datetime) -> None:
    expected = int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(seconds=1))
    formats = [
        format_datetime(moment, usegmt=True),
        moment.strftime("%a, %d-%b-%Y %H:%M:%S GMT"),
        moment.strftime("%A, %d %b %Y %H:%M:%S +0000"),
    ]
    for text in formats:
        assert cookie_date(text) == expected, text


@given(st.text(max_size=300))
def test_any_expires_text_is_read_without_error(text: str) -> None:
    result = cookie_date(text)
    assert result is None or isinstance(result, int)


def test_lower_case_host_prefix_is_expired_host_only_and_secure() -> None:
    headers = expiry_headers(["__host-id"], "www.news.example", secure=False)
    assert headers == [h for h in headers if "Domain" not in h and h.endswith("; Secure")]
    assert len(headers) == 1


def test_expiry_never_goes_deeper_than_the_levels_kept() -> None:
    host = "a.b.c.d.e.www.news.example"
    expected = {None, *("." + ".".join(host.split(".")[-n:]) for n in range(2, 6))}
    assert MAX_DOMAIN_LEVELS == 4
    assert domains(expiry_headers(["_ga"], host, secure=False), "_ga") == expected


@pytest.mark.parametrize("host", ["evil.example", "news.example.evil.example", "bad_host!", ""])
def test_a_host_outside_the_configured_domain_gets_the_configured_domain(host: str) -> None:
    headers = expiry_headers(["_ga"], host, secure=True, cookie_domain=".news.example")
    assert domains(headers, "_ga") == {None, ".news.example"}


def test_a_host_under_the_configured_domain_keeps_its_own_levels() -> None:
    headers = expiry_headers(["_ga"], "www.news.example", secure=True, cookie_domain="news.example")
    assert domains(headers, "_ga") == {None, ".news.example", ".www.news.example"}


LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63)


@given(
    labels=st.lists(LABEL, min_size=1, max_size=400),
    names=st.lists(
        st.sampled_from(["_ga", "_fbp", "_gid"]).flatmap(
            lambda base: st.text("ABCDEFGH0123456789", max_size=300).map(lambda tail: base + tail)
        ),
        max_size=400,
    ),
    secure=st.booleans(),
)
def test_expiry_headers_are_bounded_whatever_the_request_says(
    labels: list[str], names: list[str], secure: bool
) -> None:
    headers = expiry_headers(names, ".".join(labels), secure=secure)
    assert len(headers) <= MAX_EXPIRY_HEADERS
    assert sum(map(len, headers)) <= MAX_EXPIRY_BYTES
    assert all(h.count("Domain=") <= 1 for h in headers)


def test_a_long_host_and_many_names_cost_what_the_bound_allows() -> None:
    host = ".".join(["a"] * 100) + ".news.example"  # as long as a host name may be
    names = [f"_ga_{index:05d}" for index in range(3000)]
    headers = expiry_headers(names, host, secure=True)
    assert len(headers) == MAX_EXPIRY_HEADERS - MAX_EXPIRY_HEADERS % (MAX_DOMAIN_LEVELS + 1)
    assert sum(map(len, headers)) <= MAX_EXPIRY_BYTES
    # Each name keeps all its variants: a name is expired everywhere or left for later.
    assert len({h.split("=", 1)[0] for h in headers}) * (MAX_DOMAIN_LEVELS + 1) == len(headers)
