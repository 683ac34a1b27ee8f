"""`consent scan` end to end: the demo site, and sites that leak in every way it judges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consent.names import ANALYTICS, COOKIE_CONSENT, COOKIE_CSRF, MARKETING
from consent.scan.model import AFTER, AT_WITHDRAWAL, BEFORE, NOTICES, PHASES, VIOLATIONS
from consent.scan.target import LoopbackServer
from tests.scan.conftest import STATE_NAMES, Scan, tags_and_addresses
from tests.scan.leaky import KEPT_COOKIE, LEAKY_COOKIE, UNKNOWN_PIXEL_HOST, bare_app

pytestmark = pytest.mark.browser


def assert_reports_valid(scan: Scan) -> None:
    report = scan.report
    assert report["report_version"] == 1
    assert report["summary"]["violations"] == len(report["violations"])
    for finding in report["violations"]:
        assert finding["kind"] in VIOLATIONS
        assert finding["severity"] == "violation"
        assert finding["meaning"] == VIOLATIONS[finding["kind"]]
    for finding in report["notices"]:
        assert finding["kind"] in NOTICES
    for state in report["states"]:
        for request in state["requests"]:
            assert request["phase"] in PHASES
            assert request["party"] in ("first", "third", "library")
    # JUnit: one failure per failing check, and the counts add up.
    assert scan.junit.tag == "testsuites"
    cases = scan.junit.findall("./testsuite/testcase")
    failures = scan.junit.findall("./testsuite/testcase/failure")
    assert int(scan.junit.get("tests", "-1")) == len(cases)
    assert int(scan.junit.get("failures", "-1")) == len(failures)
    assert (len(failures) > 0) == (scan.status == 1)
    # The HTML report loads nothing: no script, and every address in it is a data: URI.
    tags, urls = tags_and_addresses(scan.html)
    assert "script" not in tags
    assert "link" not in tags
    assert all(url.startswith("data:image/jpeg;base64,") for url in urls), urls
    assert "url(" not in scan.html.split("</style>")[0]


def test_the_demo_site_scans_clean(scan: Any) -> None:
    result = scan(
        "examples.news.app:create_app",
        "--factory",
        "--path",
        "/",
        "--path",
        "/news/night-trams-return",
    )
    assert result.report["violations"] == [], result.output
    assert result.status == 0
    assert_reports_valid(result)
    assert [s["name"] for s in result.report["states"]] == STATE_NAMES
    assert all(s["reached"] and s["error"] is None for s in result.report["states"])
    assert result.report["pages"] == ["/", "/news/night-trams-return"]

    banner = result.report["banner"]
    assert banner["present"] and banner["reject_visible"] and banner["differences"] == []
    assert banner["categories"] == ["necessary", "preferences", "analytics", MARKETING]
    declared = {d["name"]: d["category"] for d in result.report["declared_cookies"]}
    assert declared[COOKIE_CONSENT] == declared[COOKIE_CSRF] == "necessary"

    # Clean because nothing leaked, not because nothing was seen: accepting releases the
    # Google tag, the Meta pixel and the video, each recorded with its purpose.
    def third(state: str, phase: str) -> set[tuple[str, str]]:
        return {
            (h["host"], h["category"])
            for h in result.state(state)["hosts"]
            if h["party"] == "third" and h["phase"] == phase
        }

    assert third("undecided", BEFORE) == set()
    assert third("rejected", AFTER) == set()
    assert {
        ("www.googletagmanager.com", ANALYTICS),
        ("connect.facebook.net", MARKETING),
        ("www.youtube-nocookie.com", MARKETING),
    } <= third("accepted", AFTER)
    assert third("only-analytics", AFTER) == {("www.googletagmanager.com", ANALYTICS)}
    assert ("connect.facebook.net", MARKETING) not in third("gpc", AFTER)
    accepted = {c["name"] for c in result.state("accepted")["cookies"] if c["phase"] == AFTER}
    assert {"news_uid", COOKIE_CONSENT} <= accepted
    withdrawn = {
        c["name"] for c in result.state("accepted")["cookies"] if c["phase"] == AT_WITHDRAWAL
    }
    assert "news_uid" not in withdrawn
    assert result.html.count("data:image/jpeg;base64,") >= len(STATE_NAMES)


def test_a_leaky_site_fails_with_every_leak_named(scan: Any) -> None:
    result = scan("tests.scan.leaky:leaky_app", "--factory", "--depth", "1")
    assert result.status == 1
    assert_reports_valid(result)
    assert result.report["pages"] == ["/", "/more"]

    # Loaded at run time by inline code the rewriter cannot read as a loader.
    assert result.subjects("third-party-before-consent", "undecided") == {
        "www.google-analytics.com"
    }
    assert (
        "Google Analytics (analytics)"
        in result.violations("third-party-before-consent")[0]["detail"]
    )
    # A pixel to an unknown host on every decision, refusals too; reported as unknown.
    assert UNKNOWN_PIXEL_HOST in result.subjects("third-party-after-refusal", "rejected")
    assert UNKNOWN_PIXEL_HOST in result.subjects("third-party-after-refusal", "only-analytics")
    assert UNKNOWN_PIXEL_HOST in result.subjects("unknown-host")
    # Meta's browser id written by script, a marketing cookie per the catalogue.
    assert "_fbp" in result.subjects("cookie-without-consent", "undecided")
    assert "_fbp" in result.subjects("cookie-without-consent", "gpc")
    # Set by the server, HttpOnly, named nowhere: read from the jar and the headers.
    undeclared = result.violations("undeclared-cookie")
    assert [v["subject"] for v in undeclared] == [LEAKY_COOKIE]
    assert "HttpOnly" in undeclared[0]["detail"]
    # Stored on a path the decision request does not reach, so withdrawal cannot expire it.
    assert result.subjects("cookie-kept-after-withdrawal", "accepted") == {KEPT_COOKIE}
    assert "_ga" in result.subjects("storage-without-consent", "undecided")
    assert result.subjects("consent-mode-granted", "rejected") == {"www.google-analytics.com"}
    # Scripts see Global Privacy Control in the gpc state, and only there.
    gpc_seen = [n for n in result.report["notices"] if n["subject"] == "gpc_seen"]
    assert [(n["kind"], n["state"]) for n in gpc_seen] == [("storage-written", "gpc")]
    gpc_mode = [v for v in result.violations("consent-mode-granted") if v["state"] == "gpc"]
    assert "ad_storage (marketing)" in gpc_mode[0]["detail"]
    assert "analytics_storage" not in gpc_mode[0]["detail"]

    # What the visitor granted is never held against the site.
    for finding in result.report["violations"]:
        if finding["state"] == "accepted":
            assert finding["phase"] != AFTER, finding
        if finding["state"] == "only-analytics" and finding["phase"] == AFTER:
            assert finding["kind"] != "third-party-after-refusal" or (
                finding["subject"] != "www.google-analytics.com"
            ), finding
    assert not result.subjects("undeclared-cookie") & {COOKIE_CONSENT, COOKIE_CSRF}

    failed = {
        (case.get("classname"), case.get("name"))
        for case in result.junit.iter("testcase")
        if case.find("failure") is not None
    }
    assert ("consent.scan.accepted", "withdrawal") in failed
    assert ("consent.scan.rejected", "third parties") in failed
    assert ("consent.scan.banner", "banner shown") not in failed
    assert "&lt;" not in result.output


def test_a_banner_that_favours_accepting_is_reported(scan: Any) -> None:
    result = scan("tests.scan.leaky:dark_banner_app", "--factory", "--states", "undecided")
    assert result.status == 1
    assert_reports_valid(result)
    assert [s["name"] for s in result.report["states"]] == ["undecided"]
    differences = result.report["banner"]["differences"]
    assert any(d.startswith("fontWeight: accept 800, reject") for d in differences)
    assert any(d.startswith("backgroundColor:") for d in differences)
    assert result.subjects("unequal-prominence") == {"reject all / accept all"}
    assert result.subjects("pre-ticked") == {MARKETING}


def test_a_hidden_reject_button_is_reported_and_refusing_is_unreachable(scan: Any) -> None:
    result = scan(
        "tests.scan.leaky:hidden_reject_app", "--factory", "--states", "rejected", "--timeout", "3"
    )
    assert result.status == 1
    assert result.subjects("reject-missing") == {"reject all"}
    assert result.subjects("state-unreachable") == {"rejected"}
    assert result.state("rejected")["reached"] is False


def test_a_site_without_a_banner_is_scanned_by_its_url(scan: Any, tmp_path: Path) -> None:
    # The operator's configuration, given with the global --config, classes hosts too.
    config = tmp_path / "consent.toml"
    config.write_text('own_domains = ["googletagmanager.com"]\n', encoding="utf-8")
    with LoopbackServer(bare_app()) as server:
        result = scan(server.url + "/", "--states", "accepted")
        configured = scan(
            server.url + "/", "--states", "accepted", before=["--config", str(config)]
        )
    assert result.status == 1
    assert_reports_valid(result)
    assert result.subjects("banner-missing") == {"banner"}
    assert result.subjects("third-party-before-consent") == {"www.googletagmanager.com"}
    assert result.subjects("state-unreachable") == {"accepted"}
    assert configured.status == 1
    assert configured.subjects("third-party-before-consent") == set()
    assert configured.subjects("banner-missing") == {"banner"}


def test_a_state_the_site_does_not_have_is_a_usage_error(scan: Any) -> None:
    result = scan("tests.scan.leaky:dark_banner_app", "--factory", "--states", "only-weather")
    assert result.status == 2
    assert "no state only-weather on this site" in result.errors
