"""The consent-aware policy: hosts by granted category, its bound, and the reports it brings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.catalogue import Catalogue, not_tracker_hosts
from consent.csp import (
    DEFAULT_MAX_LENGTH,
    RESTRICTED,
    CspMode,
    PolicyBuilder,
    ReportCounter,
    Violation,
    parse_reports,
)

CATEGORIES = ("necessary", "preferences", "analytics", "marketing")


@pytest.fixture(scope="module")
def builder() -> PolicyBuilder:
    return PolicyBuilder(
        Catalogue.builtin(),
        CATEGORIES,
        own_domains=["news-cdn.example"],
        library_hosts=not_tracker_hosts(),
    )


def _directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        found[name] = sources
    return found


def _hosts_of(catalogue: Catalogue, category: str) -> set[str]:
    return {host for s in catalogue.services if s.category == category for host in s.hosts}


def test_a_refusing_visitor_is_allowed_the_site_its_domains_and_libraries(
    builder: PolicyBuilder,
) -> None:
    policy = _directives(builder.policy({"necessary"}, "www.paper.example"))
    assert set(policy) == {RESTRICTED, "style-src", "font-src", "manifest-src"}
    catalogue = Catalogue.builtin()
    sources = policy[RESTRICTED]
    assert sources[:5] == ["'self'", "'unsafe-inline'", "'unsafe-eval'", "data:", "blob:"]
    assert {"paper.example", "*.paper.example", "news-cdn.example"} <= set(sources)
    assert "cdnjs.cloudflare.com" in sources  # a library
    assert not _hosts_of(catalogue, "marketing") & set(sources)
    assert not _hosts_of(catalogue, "analytics") & set(sources)
    assert "https:" not in sources and "*" not in sources
    # No other fetch directive is named, so every other one falls back to default-src.
    assert not {"script-src", "img-src", "frame-src", "connect-src", "media-src"} & set(policy)


def _covered(host: str, sources: set[str]) -> bool:
    """Whether a policy's sources let a request to ``host`` through."""
    if "https:" in sources or host in sources:
        return True
    labels = host.split(".")
    return any("*." + ".".join(labels[i:]) in sources for i in range(1, len(labels)))


def test_granted_categories_add_their_hosts_and_only_theirs(builder: PolicyBuilder) -> None:
    catalogue = Catalogue.builtin()
    policy = builder.policy({"necessary", "analytics"}, "paper.example")
    sources = set(_directives(policy)[RESTRICTED])
    assert "https:" not in sources
    for host in _hosts_of(catalogue, "analytics"):
        assert _covered(host, sources), host
    for host in ("connect.facebook.net", "static.criteo.net", "securepubads.g.doubleclick.net"):
        assert not _covered(host, sources), host


def test_the_header_stays_within_its_bound(builder: PolicyBuilder) -> None:
    everything = builder.policy(set(CATEGORIES), "paper.example")
    assert len(everything) <= DEFAULT_MAX_LENGTH
    assert "https:" in _directives(everything)[RESTRICTED]
    for granted in ({"necessary"}, {"necessary", "analytics"}, {"necessary", "preferences"}):
        assert len(builder.policy(granted, "paper.example")) <= DEFAULT_MAX_LENGTH


def test_a_small_bound_folds_hosts_before_giving_way(builder: PolicyBuilder) -> None:
    small = PolicyBuilder(Catalogue.builtin(), CATEGORIES, max_length=2500)
    refused = small.policy({"necessary"}, "paper.example")
    assert "https:" not in refused
    assert "connect.facebook.net" not in refused


def test_the_pages_nonce_and_the_report_path_are_kept(builder: PolicyBuilder) -> None:
    policy = builder.policy(
        {"necessary"}, "paper.example", nonce="abc123XYZ", report_path="/.c/csp"
    )
    script = _directives(policy)[RESTRICTED]
    assert script[:2] == ["'self'", "'nonce-abc123XYZ'"]
    assert policy.endswith("; report-uri /.c/csp")
    # The cached policy is not changed by one visitor's nonce.
    assert "nonce" not in builder.policy({"necessary"}, "paper.example")


def test_an_address_as_host_gets_no_wildcard(builder: PolicyBuilder) -> None:
    sources = _directives(builder.policy({"necessary"}, "127.0.0.1:8000"))[RESTRICTED]
    assert "127.0.0.1" in sources
    assert not any(s.endswith(".127.0.0.1") for s in sources)


def test_modes_name_their_headers() -> None:
    assert CspMode.ENFORCE.header_name == "content-security-policy"
    assert CspMode.REPORT_ONLY.header_name == "content-security-policy-report-only"


def test_reports_of_both_formats_lose_everything_personal() -> None:
    legacy = {
        "csp-report": {
            "document-uri": "https://paper.example/world/article?session=secret#top",
            "violated-directive": "script-src-elem",
            "effective-directive": "script-src-elem",
            "blocked-uri": "https://user:pw@connect.facebook.net/en_US/fbevents.js?id=123",
            "script-sample": "secret",
        }
    }
    assert parse_reports(json.dumps(legacy).encode()) == [
        Violation("script-src-elem", "connect.facebook.net", "/world/article")
    ]
    modern = [
        {
            "type": "csp-violation",
            "body": {
                "documentURL": "https://paper.example/",
                "effectiveDirective": "img-src",
                "blockedURL": "https://px.ads.example/p.gif?uid=42",
            },
        },
        {"type": "deprecation", "body": {}},
        {
            "type": "csp-violation",
            "body": {"effectiveDirective": "script-src", "blockedURL": "inline"},
        },
    ]
    assert parse_reports(json.dumps(modern).encode()) == [
        Violation("img-src", "px.ads.example", "/"),
        Violation("script-src", "inline", "/"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[1, 2]",
        b'{"csp-report": 5}',
        b"\xff\xfe",
        b'"text"',
        b"[" + b"{}," * 40_000 + b"{}]",
    ],
)
def test_malformed_or_oversized_reports_count_nothing(body: bytes) -> None:
    assert parse_reports(body) == []


@given(st.binary(max_size=300))
def test_any_body_is_read_without_an_exception(body: bytes) -> None:
    assert all(isinstance(v, Violation) for v in parse_reports(body))


def test_the_counter_is_bounded_in_keys_and_rate() -> None:
    counter = ReportCounter(max_keys=3, per_second=0.0, burst=5)
    counted = counter.add(Violation("img-src", f"h{i}.example", "/") for i in range(8))
    assert counted == 5
    assert counter.dropped == 3
    assert len(counter.top()) == 3  # the two oldest made room
    assert {v.blocked_host for v, _ in counter.top()} == {"h2.example", "h3.example", "h4.example"}


def test_the_counter_ranks_by_count() -> None:
    counter = ReportCounter()
    common = Violation("script-src-elem", "tags.example", "/")
    counter.add([common, common, Violation("img-src", "px.example", "/a"), common])
    assert counter.top(1) == [(common, 3)]
