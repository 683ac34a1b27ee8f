"""The scan's judgement, on records made by hand: every rule, and what it must leave alone."""

from __future__ import annotations

import pytest

from consent import ConsentConfig
from consent.config import TrackerRule
from consent.names import ANALYTICS, COOKIE_CONSENT, MARKETING, NECESSARY, PREFERENCES
from consent.runtime import ConsentRuntime
from consent.scan.browser import parse_set_cookie, plan_states
from consent.scan.gcm import consent_mode_of, parse_gcd, parse_gcs
from consent.scan.judge import (
    Knowledge,
    host_of,
    judge_banner,
    judge_state,
    merge,
    prominence_differences,
    read_policy,
)
from consent.scan.model import (
    AFTER,
    AT_WITHDRAWAL,
    BEFORE,
    WITHDRAWN,
    BannerCheck,
    ConsentModeRecord,
    CookieRecord,
    Finding,
    RequestRecord,
    StateResult,
    StorageRecord,
)
from tests.scan.conftest import STATE_NAMES

SITE = "news.example"
ALL = (NECESSARY, PREFERENCES, ANALYTICS, MARKETING)


def knowledge(config: ConsentConfig | None = None) -> Knowledge:
    declared = [(COOKIE_CONSENT, NECESSARY), ("_ga", ANALYTICS), ("_ga_*", ANALYTICS)]
    return Knowledge.build(SITE, config, declared, policy_read=True)


def request(url: str, phase: str = BEFORE) -> RequestRecord:
    return RequestRecord(url, host_of(url), "GET", "script", phase, "/")


def cookie(name: str, phase: str = BEFORE, domain: str = SITE, path: str = "/") -> CookieRecord:
    return CookieRecord(name, domain, path, phase, "/", "jar")


def kinds(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.kind, f.phase, f.subject) for f in findings]


# -- Consent Mode parameters --------------------------------------------------------------


def test_gcs_gives_ad_and_analytics_storage() -> None:
    assert parse_gcs("G100") == {"ad_storage": "denied", "analytics_storage": "denied"}
    assert parse_gcs("G110") == {"ad_storage": "granted", "analytics_storage": "denied"}
    assert parse_gcs("G101") == {"ad_storage": "denied", "analytics_storage": "granted"}
    assert parse_gcs("G2xx") == {}
    assert parse_gcs("") == {}


def test_gcd_letters_end_in_granted_denied_or_unset() -> None:
    assert parse_gcd("11l1l1l1l5") == {}
    assert parse_gcd("13p3r3q3v5") == {
        "ad_storage": "denied",
        "analytics_storage": "granted",
        "ad_user_data": "denied",
        "ad_personalization": "granted",
    }
    assert parse_gcd("13u3n3m3t1") == {
        "ad_storage": "denied",
        "analytics_storage": "granted",
        "ad_user_data": "denied",
        "ad_personalization": "granted",
    }
    assert parse_gcd("not-gcd") == {}


def test_gcd_wins_over_gcs_where_both_speak() -> None:
    found = consent_mode_of(
        "https://region1.google-analytics.com/g/collect?gcs=G111&gcd=13q3q3q3q5"
    )
    assert found is not None
    assert found[2]["ad_storage"] == "denied"
    assert consent_mode_of("https://www.google-analytics.com/g/collect?v=2") is None


# -- the policy page ----------------------------------------------------------------------


def test_the_shipped_policy_page_is_read_with_every_category() -> None:
    config = ConsentConfig(
        dev_mode=True,
        audit_url="sqlite:///:memory:",
        cookie_categories={"site_lang": PREFERENCES},
        services=[{"id": "google-analytics"}, {"id": "meta-pixel"}],
    )
    runtime = ConsentRuntime(config)
    html = runtime.policy_page(runtime.locale_for(None, "de", None))
    declared = dict(read_policy(html))
    assert declared[COOKIE_CONSENT] == NECESSARY
    assert declared["site_lang"] == PREFERENCES
    assert declared["_ga"] == ANALYTICS
    assert declared["_fbp"] == MARKETING
    assert any("*" in name for name in declared)


def test_a_page_without_the_policy_tables_declares_nothing() -> None:
    assert read_policy("<h1>Cookies</h1><table><tr><td><code>x</code></td></tr></table>") == []


# -- classification -----------------------------------------------------------------------


def test_requests_are_classed_first_party_library_known_rule_or_unknown() -> None:
    config = ConsentConfig(
        dev_mode=True,
        audit_url="sqlite:///:memory:",
        rules=[TrackerRule(category=ANALYTICS, host="metrics.partner.example")],
        own_domains=["news-static.example"],
    )
    k = knowledge(config)
    assert k.request_class("https://img.news.example/a.png", "img.news.example")[0] == "first"
    assert k.request_class("https://cdn.news-static.example/a.js", "cdn.news-static.example")[
        0
    ] == ("first")
    assert k.request_class("https://cdnjs.cloudflare.com/x.js", "cdnjs.cloudflare.com")[0] == (
        "library"
    )
    party, service, category = k.request_class(
        "https://www.google-analytics.com/g/collect", "www.google-analytics.com"
    )
    assert (party, category) == ("third", ANALYTICS)
    assert service is not None and "Google" in service
    assert k.request_class("https://a.metrics.partner.example/p", "a.metrics.partner.example") == (
        "third",
        "metrics.partner.example",
        ANALYTICS,
    )
    assert k.request_class("https://x.nobody.example/p", "x.nobody.example") == (
        "third",
        None,
        None,
    )


def test_cookies_are_declared_by_the_policy_page_first() -> None:
    k = knowledge()
    assert k.cookie_class("_ga") == (ANALYTICS, True)
    assert k.cookie_class("_ga_ABC123") == (ANALYTICS, True)
    assert k.cookie_class("_fbp") == (MARKETING, False)  # known to the catalogue, not declared
    assert k.cookie_class("mystery") == (None, False)


def test_without_a_policy_page_the_configuration_declares() -> None:
    config = ConsentConfig(
        dev_mode=True, audit_url="sqlite:///:memory:", cookie_categories={"site_lang": PREFERENCES}
    )
    read = Knowledge.build(SITE, config, [("x", NECESSARY)], policy_read=True)
    unread = Knowledge.build(SITE, config, [], policy_read=False)
    assert read.cookie_class("site_lang") == (PREFERENCES, False)
    assert unread.cookie_class("site_lang") == (PREFERENCES, True)


# -- judging ------------------------------------------------------------------------------


def state(name: str = "rejected", granted: tuple[str, ...] = (NECESSARY,)) -> StateResult:
    return StateResult(name, "", granted)


def test_third_parties_are_judged_by_what_was_granted_at_that_moment() -> None:
    s = state("only-analytics", (NECESSARY, ANALYTICS))
    s.requests = [
        request("https://www.google-analytics.com/g/collect", BEFORE),
        request("https://www.google-analytics.com/g/collect", AFTER),
        request("https://connect.facebook.net/fbevents.js", AFTER),
        request("https://connect.facebook.net/fbevents.js", AFTER),
        request("https://x.nobody.example/p.gif", AFTER),
        request("https://cdnjs.cloudflare.com/lib.js", BEFORE),
        request(f"https://{SITE}/collect", BEFORE),
    ]
    findings = judge_state(s, knowledge())
    assert sorted(kinds(findings)) == [
        ("third-party-after-refusal", AFTER, "connect.facebook.net"),
        ("third-party-after-refusal", AFTER, "x.nobody.example"),
        ("third-party-before-consent", BEFORE, "www.google-analytics.com"),
        ("unknown-host", "", "x.nobody.example"),
    ]
    facebook = next(f for f in findings if f.subject == "connect.facebook.net")
    assert facebook.count == 2
    unknown = next(f for f in findings if f.kind == "third-party-after-refusal" and f.count == 1)
    assert "marketing, as unclassified" in unknown.detail


def test_cookies_undeclared_refused_kept_and_set_again() -> None:
    s = state("accepted", ALL)
    s.cookies = [
        cookie(COOKIE_CONSENT, BEFORE),
        cookie("_fbp", BEFORE),
        cookie("mystery", AFTER),
        cookie("_ga", AFTER),
        cookie("_ga", AT_WITHDRAWAL),
        cookie("_ga", WITHDRAWN),  # the same cookie still there: reported once, as kept
        cookie("_gid", AT_WITHDRAWAL, path="/deep"),  # not there before: not "kept"
        cookie("IDE", AFTER, domain="doubleclick.net"),
        cookie("IDE", AT_WITHDRAWAL, domain="doubleclick.net"),
    ]
    findings = judge_state(s, knowledge())
    assert sorted(kinds(findings)) == sorted(
        [
            ("cookie-kept-after-withdrawal", AT_WITHDRAWAL, "_ga"),
            ("cookie-without-consent", AT_WITHDRAWAL, "_gid"),
            ("cookie-without-consent", BEFORE, "_fbp"),
            ("third-party-cookie-kept", AT_WITHDRAWAL, "IDE"),
            ("undeclared-cookie", AFTER, "IDE"),
            ("undeclared-cookie", AT_WITHDRAWAL, "_gid"),
            ("undeclared-cookie", BEFORE, "_fbp"),
            ("undeclared-cookie", AFTER, "mystery"),
        ]
    )


def test_storage_of_a_known_purpose_is_judged_and_the_rest_noticed() -> None:
    s = state()
    s.storage = [
        StorageRecord("localStorage", "https://news.example", "_ga", BEFORE, "/"),
        StorageRecord("localStorage", "https://news.example", "_ga", AFTER, "/"),
        StorageRecord("sessionStorage", "https://news.example", "cart", BEFORE, "/"),
        StorageRecord("indexedDB", "https://news.example", "cart", AFTER, "/"),
    ]
    assert sorted(kinds(judge_state(s, knowledge()))) == [
        ("storage-without-consent", AFTER, "_ga"),
        ("storage-without-consent", BEFORE, "_ga"),
        ("storage-written", AFTER, "cart"),
        ("storage-written", BEFORE, "cart"),
    ]


def test_consent_mode_signals_are_checked_against_their_category() -> None:
    s = state("only-analytics", (NECESSARY, ANALYTICS))
    granted_all = {
        "ad_storage": "granted",
        "analytics_storage": "granted",
        "ad_user_data": "denied",
    }
    s.consent_modes = [
        ConsentModeRecord("www.google-analytics.com", "G111", "", granted_all, AFTER, "/"),
        ConsentModeRecord(
            "www.google-analytics.com", "G101", "", {"analytics_storage": "granted"}, AFTER, "/"
        ),
    ]
    findings = judge_state(s, knowledge())
    assert kinds(findings) == [("consent-mode-granted", AFTER, "www.google-analytics.com")]
    assert "ad_storage (marketing)" in findings[0].detail
    assert "analytics_storage" not in findings[0].detail


def test_banner_findings() -> None:
    assert kinds(judge_banner(BannerCheck(), "undecided")) == [("banner-missing", BEFORE, "banner")]
    fine = BannerCheck(present=True, reject_visible=True, accept_visible=True, policy_url="/p")
    assert judge_banner(fine, "undecided") == []
    bad = BannerCheck(
        present=True,
        accept_visible=True,
        pre_ticked=[ANALYTICS, MARKETING],
    )
    assert [f.kind for f in judge_banner(bad, "undecided")] == [
        "reject-missing",
        "pre-ticked",
        "policy-missing",
    ]


def test_prominence_compares_styles_and_sizes() -> None:
    base = {"fontSize": "16px", "fontWeight": "600", "width": "120", "height": "44"}
    assert prominence_differences(base, dict(base)) == []
    assert prominence_differences(base, {**base, "width": "112"}) == []  # within 10 %
    found = prominence_differences(base, {**base, "fontWeight": "400", "height": "30"})
    assert found == ["fontWeight: accept 600, reject 400", "height: accept 44px, reject 30px"]


def test_merge_counts_what_every_state_saw_once() -> None:
    findings = [
        Finding("third-party-before-consent", "undecided", BEFORE, "a.example", "d", count=2),
        Finding("third-party-before-consent", "rejected", BEFORE, "a.example", "d", count=1),
        Finding("third-party-after-refusal", "rejected", AFTER, "a.example", "d"),
        Finding("third-party-after-refusal", "gpc", AFTER, "a.example", "d"),
        Finding("unknown-host", "rejected", "", "a.example", "d", count=3),
        Finding("unknown-host", "gpc", "", "a.example", "d", count=1),
    ]
    merged = merge(findings)
    assert [(f.kind, f.state, f.count) for f in merged] == [
        ("third-party-before-consent", "undecided", 3),
        ("third-party-after-refusal", "rejected", 1),
        ("third-party-after-refusal", "gpc", 1),
        ("unknown-host", "rejected", 4),
    ]


# -- Set-Cookie and states ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; Path=/; HttpOnly", ("a", "site.example", "/", True)),
        ("b=2; Domain=.Example.com; Path=/x; Secure", ("b", "example.com", "/x", False)),
        ("c=; Max-Age=0; Path=/", None),
        ("d=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", None),
        ("e=1; Max-Age=60", ("e", "site.example", "/", False)),
        ("=nameless", None),
    ],
)
def test_set_cookie_headers_are_read_as_stored_or_deleted(
    header: str, expected: tuple[str, str, str, bool] | None
) -> None:
    found = parse_set_cookie(header, "site.example", BEFORE, "/")
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.name, found.domain, found.path, found.http_only) == expected


def test_states_cover_each_optional_category_and_gpc() -> None:
    plans = plan_states(list(ALL), [NECESSARY], None)
    assert [p.name for p in plans] == STATE_NAMES
    by_name = {p.name: p for p in plans}
    assert by_name["gpc"].granted == {NECESSARY, PREFERENCES, ANALYTICS}
    assert by_name["only-analytics"].granted == {NECESSARY, ANALYTICS}
    assert by_name["accepted"].withdraw
    picked = [p.name for p in plan_states(list(ALL), [NECESSARY], ["gpc", "rejected"])]
    assert picked == ["rejected", "gpc"]
