"""The reports and the command line, without a browser: formats, escaping, exit statuses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from consent.cli import main
from consent.names import ANALYTICS, NECESSARY
from consent.scan.model import (
    AFTER,
    BEFORE,
    BannerCheck,
    CookieRecord,
    Finding,
    RequestRecord,
    ScanResult,
    Screenshot,
    StateResult,
)
from consent.scan.report import to_document, to_html, to_junit, write_html, write_json, write_junit
from tests.scan.conftest import tags_and_addresses

HOSTILE = '"><script>alert(1)</script><img src="https://evil.example/x.gif">'


def result(*findings: Finding) -> ScanResult:
    state = StateResult("rejected", "Reject all", (NECESSARY,), withdraw=False)
    state.requests = [
        RequestRecord(
            f"https://evil.example/{HOSTILE}",
            "evil.example",
            "GET",
            "image",
            AFTER,
            "/",
            party="third",
            category=ANALYTICS,
        )
    ]
    state.cookies = [CookieRecord(HOSTILE, "site.example", "/", BEFORE, "/", "header")]
    state.screenshots = [Screenshot("after the decision", b"\xff\xd8\xff\xe0jpeg")]
    accepted = StateResult("accepted", "Accept all", (NECESSARY, ANALYTICS), withdraw=True)
    return ScanResult(
        target="app:app",
        started="2026-11-30T00:00:00+00:00",
        seconds=1.5,
        pages=["/", f"/?q={HOSTILE}"],
        banner=BannerCheck(present=True, reject_visible=True, accept_visible=True),
        declared=[("consent", NECESSARY)],
        states=[state, accepted],
        findings=list(findings),
        offline=True,
    )


def test_html_escapes_everything_recorded_and_loads_nothing() -> None:
    leak = Finding("third-party-after-refusal", "rejected", AFTER, "evil.example", HOSTILE, "/")
    page = to_html(result(leak))
    tags, urls = tags_and_addresses(page)
    assert "script" not in tags
    assert urls == ["data:image/jpeg;base64,/9j/4GpwZWc="]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "1 violation(s)" in page


def test_junit_fails_the_check_each_violation_belongs_to() -> None:
    findings = [
        Finding("third-party-after-refusal", "rejected", AFTER, "evil.example", HOSTILE),
        Finding("cookie-kept-after-withdrawal", "accepted", "at-withdrawal", "_ga", "kept"),
        Finding("pre-ticked", "undecided", BEFORE, ANALYTICS, "ticked"),
        Finding("unknown-host", "rejected", "", "evil.example", "a notice, not a failure"),
    ]
    root = to_junit(result(*findings))
    text = ET.tostring(root, encoding="unicode")
    reread = ET.fromstring(text)  # noqa: S314 (our own output)
    failed = sorted(
        (case.get("classname"), case.get("name"))
        for case in reread.iter("testcase")
        if case.find("failure") is not None
    )
    assert failed == [
        ("consent.scan.accepted", "withdrawal"),
        ("consent.scan.banner", "nothing pre-ticked"),
        ("consent.scan.rejected", "third parties"),
    ]
    assert reread.get("failures") == "3"
    assert int(reread.get("tests", "0")) == len(list(reread.iter("testcase")))
    withdrawal = [c for c in reread.iter("testcase") if c.get("name") == "withdrawal"]
    assert len(withdrawal) == 1  # only the state that withdraws has the check


def test_json_is_complete_and_round_trips(tmp_path: Path) -> None:
    notice = Finding("unknown-host", "rejected", "", "evil.example", "seen")
    scan = result(notice)
    write_json(scan, tmp_path / "r.json")
    write_html(scan, tmp_path / "r.html")
    write_junit(scan, tmp_path / "r.xml")
    document = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert document == json.loads(json.dumps(to_document(scan)))
    assert document["summary"] == {"violations": 0, "notices": 1, "by_kind": {"unknown-host": 1}}
    assert document["notices"][0]["severity"] == "notice"
    rejected = document["states"][0]
    assert rejected["hosts"] == [
        {
            "host": "evil.example",
            "party": "third",
            "service": None,
            "category": ANALYTICS,
            "phase": AFTER,
            "requests": 1,
        }
    ]
    assert rejected["screenshots"] == ["after the decision"]
    assert (tmp_path / "r.xml").read_text("utf-8").startswith("<?xml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "no-colon"], "module:attribute"),
        (["scan", "consent_no_such_module:app"], "cannot import"),
        (["scan", "consent.names:NOPE"], "has no attribute"),
        (["scan", "consent.names:MARKETING"], "not an ASGI application"),
        (["scan", "http://127.0.0.1:9/", "--chromium", "/nonexistent/chromium"], "no executable"),
        (["scan", "http://127.0.0.1:9/", "--path", "news"], "starting with /"),
        (["scan", "http://127.0.0.1:9/", "--max-pages", "0"], "--max-pages"),
        (["scan", "http://127.0.0.1:9/", "--header", "no colon"], "NAME:VALUE"),
        (["scan", "http://127.0.0.1:9/", "--json", "/nonexistent/dir/r.json"], "no such directory"),
    ],
)
def test_usage_and_setup_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("missing", "target"),
    [
        (("playwright", "playwright.async_api"), "http://127.0.0.1:9/"),
        (("uvicorn",), "tests.scan.leaky:bare_app"),
    ],
)
def test_a_missing_package_names_the_extra_to_install(
    missing: tuple[str, ...],
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in missing:
        # A None entry in sys.modules makes the import fail as if it were not installed.
        monkeypatch.setitem(sys.modules, name, None)
    # Any executable passes for Chromium here: the scan stops before starting it.
    argv = ["scan", target, "--factory", "--chromium", sys.executable]
    if target.startswith("http"):
        argv.remove("--factory")
    assert main(argv) == 2
    errors = capsys.readouterr().err
    assert "asgi-consent[scan]" in errors
    assert "Traceback" not in errors
