"""The admin view: authentication, headers, charts, lookup, export, chain status, failures."""

from __future__ import annotations

import asyncio
import base64
import csv
import hmac
import io
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware, admin
from consent.audit import Decision, open_store
from consent.audit.export import CSV_FIELDS
from consent.audit.model import Head
from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES
from tests.conftest import csrf_token, page_app

USER = "dpo"
PASSWORD = "correct horse battery staple"
AUDIT_KEY = "audit-key-for-tests-0123456789"
ADMIN = "/_consent/admin"
OPTIONAL = (PREFERENCES, ANALYTICS, MARKETING)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


AUTH = basic(USER, PASSWORD)


@pytest.fixture
def admin_config(make_config: Callable[..., ConsentConfig]) -> ConsentConfig:
    return make_config(admin_user=USER, admin_password=PASSWORD)


@pytest.fixture
def admin_client(admin_config: ConsentConfig) -> Iterator[TestClient]:
    with TestClient(ConsentMiddleware(page_app(), config=admin_config)) as test_client:
        yield test_client


def decide(
    client: TestClient,
    action: str,
    categories: tuple[str, ...] = (),
    *,
    new_visitor: bool = True,
    locale: str | None = None,
) -> dict[str, Any]:
    """One decision through the decision endpoint, as the banner's script sends it."""
    if new_visitor:
        client.cookies.clear()
    data: dict[str, Any] = {"action": action, "csrf_token": csrf_token(client)}
    if categories:
        data["category"] = list(categories)
    if locale is not None:
        data["locale"] = locale
    response = client.post("/_consent/decision", data=data, headers={"accept": "application/json"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rates_svg(html: str, chart: str) -> ET.Element:
    match = re.search(rf'<svg role="img" aria-labelledby="{chart}-title.*?</svg>', html, re.S)
    assert match is not None, f"the {chart} chart is missing"
    return ET.fromstring(match.group(0))  # noqa: S314 - our own page, parsed in a test


# ----- off, authentication, headers ----------------------------------------------------------


def test_admin_is_off_unless_configured(client: TestClient) -> None:
    for path in (ADMIN, f"{ADMIN}/export?format=csv", f"{ADMIN}/lookup?consent_id=x"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 404
        assert "Consent receipts" not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(USER, "wrong"),
        basic("someone", PASSWORD),
        basic(USER, PASSWORD + "x"),
        basic(USER, ""),
        {"authorization": "Basic not base64!"},
        {"authorization": "Basic " + base64.b64encode(USER.encode()).decode()},
        {"authorization": "Bearer " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
    ],
    ids=["none", "password", "user", "longer", "empty", "garbage", "no-colon", "scheme"],
)
def test_wrong_or_missing_credentials_get_401(
    admin_client: TestClient, headers: dict[str, str]
) -> None:
    for path in (ADMIN, f"{ADMIN}/export", f"{ADMIN}/lookup?consent_id=x"):
        response = admin_client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic realm=")
        assert response.headers["cache-control"] == "no-store"
        assert "Chain of receipts" not in response.text


def test_correct_credentials_open_the_overview_with_strict_headers(
    admin_client: TestClient,
) -> None:
    response = admin_client.get(ADMIN, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    assert f'<style nonce="{nonce.group(1)}">' in response.text
    assert "<script" not in response.text.lower()
    assert " style=" not in response.text  # inline style attributes would break the CSP
    second = admin_client.get(ADMIN, headers=AUTH).headers["content-security-policy"]
    assert second != policy, "the nonce is fresh for every response"


def test_only_reads_are_allowed(admin_client: TestClient) -> None:
    response = admin_client.post(ADMIN, headers=AUTH)
    assert response.status_code == 405
    assert admin_client.post(ADMIN).status_code == 401


def test_unknown_admin_page_is_404(admin_client: TestClient) -> None:
    response = admin_client.get(f"{ADMIN}/nothing-here", headers=AUTH)
    assert response.status_code == 404
    assert response.headers["x-frame-options"] == "DENY"


_credential = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters=":"), min_size=1
)


@given(user=_credential, password=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1))
def test_authorised_accepts_exactly_the_configured_pair(user: str, password: str) -> None:
    header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert admin.authorised(header, user, password)
    assert not admin.authorised(header, user + "x", password)
    assert not admin.authorised(header, user, password + "x")
    assert not admin.authorised(None, user, password)


def test_authorised_compares_both_parts_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert not admin.authorised(basic("intruder", "guess")["authorization"], USER, PASSWORD)
    assert len(compared) == 2, "a wrong user name must not skip the password comparison"


# ----- overview ------------------------------------------------------------------------------

CHOICES: list[tuple[str, tuple[str, ...]]] = [
    ("accept_all", ()),
    ("reject_all", ()),
    ("custom", (ANALYTICS,)),
    ("custom", (PREFERENCES, ANALYTICS)),
    ("accept_all", ()),
    ("close", ()),
]


def _granted(action: str, chosen: tuple[str, ...]) -> set[str]:
    if action == "accept_all":
        return set(OPTIONAL)
    if action == "custom":
        return set(chosen)
    return set()


def test_overview_charts_the_decisions_taken(admin_client: TestClient) -> None:
    for action, chosen in CHOICES:
        decide(admin_client, action, chosen)
    html = admin_client.get(ADMIN, headers=AUTH).text
    today = datetime.now(UTC).date().isoformat()
    total = len(CHOICES)

    svg = rates_svg(html, "rates")
    assert svg.find("title") is not None and svg.find("desc") is not None
    groups = {g.get("data-category"): g for g in svg.iter("g") if g.get("data-category")}
    assert set(groups) == set(OPTIONAL)
    for category in OPTIONAL:
        granted = sum(category in _granted(a, c) for a, c in CHOICES)
        rate = granted / total
        (point,) = groups[category].iter("circle")
        label = point.findtext("title") or ""
        assert label == f"{category}, {today}: {rate * 100:.1f}% ({granted} of {total})"
        expected_y = admin._BOTTOM - rate * (admin._BOTTOM - admin._TOP)
        assert float(point.get("cy", "nan")) == pytest.approx(expected_y, abs=0.1)
        assert float(point.get("cx", "nan")) == pytest.approx(admin._RIGHT, abs=0.1)
        # the table fallback carries the same figure
        assert f'{rate * 100:.1f}% <span class="muted">({granted}/{total})</span>' in html

    bars = rates_svg(html, "counts")
    labels = [rect.findtext("title") for rect in bars.iter("rect")]
    assert labels == [f"{today}: {total} decisions"]
    row = re.search(rf'<th scope="row">{today}</th><td class="num">(\d+)</td>', html)
    assert row is not None and int(row.group(1)) == total
    assert re.search(r"<strong data-total>(\d+)</strong>", html).group(1) == str(total)  # type: ignore[union-attr]
    assert 'data-verify="ok"' in html
    assert NECESSARY not in groups


def test_overview_counts_decisions_per_locale(admin_client: TestClient) -> None:
    shown = {"de": 2, "fr": 1, "en": 3}
    for tag, count in shown.items():
        for _ in range(count):
            decide(admin_client, "reject_all", locale=tag)
    html = admin_client.get(ADMIN, headers=AUTH).text
    table = re.search(r'<table data-table="locales">.*?</table>', html, re.S)
    assert table is not None
    rows = dict(
        re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td>', table.group(0))
    )
    assert rows == {tag: str(count) for tag, count in shown.items()}


def test_overview_of_an_empty_store(admin_client: TestClient) -> None:
    response = admin_client.get(ADMIN, headers=AUTH)
    assert response.status_code == 200
    assert 'data-verify="ok"' in response.text
    assert "No decisions in this period." in response.text
    svg = rates_svg(response.text, "rates")
    assert not list(svg.iter("circle"))


# ----- chain status --------------------------------------------------------------------------


def _database(config: ConsentConfig) -> Path:
    return Path(config.resolved_audit_url.removeprefix("sqlite:///"))


def _tamper(path: Path, statement: str, params: tuple[Any, ...]) -> None:
    """Change the file behind the store's back, as someone with database access could."""
    lite = sqlite3.connect(path)
    try:
        for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type='trigger'"):
            lite.execute(f'DROP TRIGGER "{name}"')
        lite.execute(statement, params)
        lite.commit()
    finally:
        lite.close()


def test_a_tampered_chain_is_reported_with_the_first_bad_receipt(
    admin_client: TestClient, admin_config: ConsentConfig
) -> None:
    receipts = [decide(admin_client, "accept_all") for _ in range(2)]
    assert 'data-verify="ok"' in admin_client.get(ADMIN, headers=AUTH).text
    receipts += [decide(admin_client, "accept_all") for _ in range(2)]
    # The overview walks what was appended since its last look: seq 3 and 4.
    _tamper(_database(admin_config), "UPDATE receipts SET action = ? WHERE seq = ?", ("x", 3))
    html = admin_client.get(ADMIN, headers=AUTH).text
    assert 'data-verify="failed"' in html
    assert 'data-verify="ok"' not in html
    assert "receipt seq 3" in html
    assert receipts[2]["receipt_id"] in html


def test_the_overview_reports_what_it_walked_since_its_last_look(
    admin_client: TestClient, admin_config: ConsentConfig
) -> None:
    for _ in range(3):
        decide(admin_client, "accept_all")
    first = admin_client.get(ADMIN, headers=AUTH).text
    assert "3 receipts checked (seq 1 to 3)" in first
    decide(admin_client, "reject_all")
    second = admin_client.get(ADMIN, headers=AUTH).text
    assert "1 receipt checked (seq 4 to 4) appended since the last verification at seq 3" in second
    assert "<strong data-total>4</strong>" in second


def test_a_removed_newest_receipt_is_reported(
    admin_client: TestClient, admin_config: ConsentConfig
) -> None:
    for _ in range(3):
        decide(admin_client, "reject_all")
    _tamper(_database(admin_config), "DELETE FROM receipts WHERE seq = ?", (3,))
    html = admin_client.get(ADMIN, headers=AUTH).text
    assert 'data-verify="failed"' in html
    assert "missing" in html


async def test_verify_ignores_receipts_written_during_the_walk(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'live.db'}", AUDIT_KEY)
    try:
        for index in range(3):
            await store.record(_decision(f"v{index}"))
        real_head = store.head

        async def head_then_more_writes() -> Head | None:
            head = await real_head()
            await store.record(_decision("late"))  # lands while the walk is under way
            return head

        store.head = head_then_more_writes  # type: ignore[method-assign]
        report = await store.verify()
        assert report.ok, report.problem
        assert report.checked == 3
        assert await store.count() == 4
    finally:
        await store.close()


def _decision(consent_id: str) -> Decision:
    return Decision.create(
        consent_id=consent_id,
        action="reject_all",
        method="banner",
        granted={NECESSARY},
        refused=set(OPTIONAL),
        policy_version="1",
        locale="en",
        texts={"banner.title": "Cookies"},
    )


# ----- lookup --------------------------------------------------------------------------------


def test_lookup_shows_a_visitors_full_history_and_texts(admin_client: TestClient) -> None:
    first = decide(admin_client, "accept_all")
    second = decide(admin_client, "custom", (ANALYTICS,), new_visitor=False)
    decide(admin_client, "reject_all")  # someone else
    consent_id = first["consent_id"]
    assert second["consent_id"] == consent_id

    for path in (f"{ADMIN}/lookup", ADMIN):
        response = admin_client.get(path, params={"consent_id": consent_id}, headers=AUTH)
        assert response.status_code == 200
        html = response.text
        assert html.count('<table class="fields">') == 2
        for field in CSV_FIELDS:
            assert f'<th scope="row">{field}</th>' in html
        first_at = html.index(first["receipt_id"])
        assert first_at < html.index(second["receipt_id"], first_at + 1)
        assert "<td>accept_all</td>" in html and "<td>custom</td>" in html

    history = _history(admin_client, consent_id)
    assert [r["receipt_id"] for r in history["receipts"]] == [
        first["receipt_id"],
        second["receipt_id"],
    ]
    (texts,) = history["notices"].values()
    assert texts
    for key, text in list(texts.items())[:5]:
        assert f'<tr><th scope="row">{key}</th><td>' in html
        assert _escaped(text) in html


def _history(client: TestClient, consent_id: str) -> dict[str, Any]:
    response = client.get(
        f"{ADMIN}/lookup", params={"consent_id": consent_id, "format": "json"}, headers=AUTH
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    document: dict[str, Any] = response.json()
    return document


def _escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def test_lookup_of_an_unknown_or_oversized_id(admin_client: TestClient) -> None:
    response = admin_client.get(f"{ADMIN}/lookup", params={"consent_id": "nobody"}, headers=AUTH)
    assert response.status_code == 404
    assert "No receipt is stored" in response.text
    too_long = admin_client.get(
        f"{ADMIN}/lookup", params={"consent_id": "x" * (admin.MAX_CONSENT_ID + 1)}, headers=AUTH
    )
    assert too_long.status_code == 400
    form = admin_client.get(f"{ADMIN}/lookup", headers=AUTH)
    assert form.status_code == 200
    assert 'name="consent_id"' in form.text


# ----- export --------------------------------------------------------------------------------


def _exported(client: TestClient, **params: str) -> Any:
    response = client.get(f"{ADMIN}/export", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    return response


def test_export_streams_jsonl_and_csv(
    admin_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "_BATCH", 2)  # several batches and chunks from a few rows
    monkeypatch.setattr(admin, "_CHUNK", 200)
    made = [decide(admin_client, action) for action, _ in CHOICES]
    ids = [item["receipt_id"] for item in made]

    jsonl = _exported(admin_client, format="jsonl")
    assert "ndjson" in jsonl.headers["content-type"]
    assert '.jsonl"' in jsonl.headers["content-disposition"]
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [row["receipt_id"] for row in rows] == ids
    assert [row["seq"] for row in rows] == list(range(1, len(ids) + 1))
    assert [row["action"] for row in rows] == [action for action, _ in CHOICES]

    table = _exported(admin_client, format="csv")
    assert table.headers["content-type"].startswith("text/csv")
    records = list(csv.DictReader(io.StringIO(table.text)))
    assert tuple(records[0]) == CSV_FIELDS
    assert [r["receipt_id"] for r in records] == ids
    assert [r["mac"] for r in records] == [row["mac"] for row in rows]


def test_export_respects_since_and_until(admin_client: TestClient) -> None:
    made = [decide(admin_client, "reject_all") for _ in range(4)]
    times = [item["decided_at"] for item in made]
    assert times == sorted(times) and len(set(times)) == len(times)
    ids = [item["receipt_id"] for item in made]

    def exported(**params: str) -> list[str]:
        lines = _exported(admin_client, format="jsonl", **params).text.splitlines()
        return [json.loads(line)["receipt_id"] for line in lines]

    assert exported(since=times[1]) == ids[1:]  # since is included
    assert exported(until=times[2]) == ids[:2]  # until is excluded
    assert exported(since=times[1], until=times[3]) == ids[1:3]
    assert exported(since="2001-01-01", until="2001-01-02") == []
    assert exported(since="", until="") == ids  # an empty form field is no bound


@pytest.mark.parametrize(
    "params",
    [{"format": "xml"}, {"since": "yesterday"}, {"until": "2025-13-01"}],
)
def test_export_refuses_bad_parameters(admin_client: TestClient, params: dict[str, str]) -> None:
    response = admin_client.get(f"{ADMIN}/export", params=params, headers=AUTH)
    assert response.status_code == 400
    assert "content-disposition" not in response.headers


# ----- store down ----------------------------------------------------------------------------


@pytest.fixture
def broken_client(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> Iterator[TestClient]:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database directory should be")
    config = make_config(
        audit_url=f"sqlite:///{blocker / 'audit.db'}", admin_user=USER, admin_password=PASSWORD
    )
    with TestClient(ConsentMiddleware(page_app(), config=config)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path",
    [ADMIN, f"{ADMIN}/lookup?consent_id=someone", f"{ADMIN}/export?format=csv"],
)
def test_store_down_gives_a_503_page(
    broken_client: TestClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR", logger="consent"):
        response = broken_client.get(path, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "store cannot be read" in response.text
    assert "Traceback" not in response.text
    assert "not-a-directory" not in response.text  # no internals in the page
    assert "content-disposition" not in response.headers
    assert any("admin view" in record.getMessage() for record in caplog.records)


def test_store_down_still_asks_for_credentials(broken_client: TestClient) -> None:
    assert broken_client.get(ADMIN).status_code == 401


# ----- login rate limit ----------------------------------------------------------------------


def test_repeated_failed_logins_from_one_address_get_429(admin_config: ConsentConfig) -> None:
    app = ConsentMiddleware(page_app(), config=admin_config)
    guesser = TestClient(app, client=("203.0.113.7", 4000))
    colleague = TestClient(app, client=("198.51.100.2", 4000))
    for attempt in range(5):
        assert guesser.get(ADMIN, headers=basic(USER, f"guess {attempt}")).status_code == 401
    limited = guesser.get(ADMIN, headers=AUTH)  # even the right password waits now
    assert limited.status_code == 429
    assert limited.headers["cache-control"] == "no-store"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Chain of receipts" not in limited.text
    assert colleague.get(ADMIN, headers=AUTH).status_code == 200  # other addresses go on


def test_failed_logins_spread_over_many_addresses_hit_the_overall_limit(
    admin_config: ConsentConfig,
) -> None:
    app = ConsentMiddleware(page_app(), config=admin_config)
    for number in range(50):
        client = TestClient(app, client=(f"192.0.2.{number}", 4000))
        assert client.get(ADMIN, headers=basic(USER, "guess")).status_code == 401
    fresh = TestClient(app, client=("192.0.2.200", 4000))
    response = fresh.get(ADMIN, headers=AUTH)
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1


def test_requests_without_credentials_are_not_counted(admin_client: TestClient) -> None:
    for _ in range(20):
        assert admin_client.get(ADMIN).status_code == 401
    assert admin_client.get(ADMIN, headers=AUTH).status_code == 200


def test_the_login_limit_refills_with_time_and_forgets_old_addresses() -> None:
    now = [0.0]
    limiter = admin.LoginLimiter(
        burst=2, overall_burst=100, window=10.0, max_clients=3, clock=lambda: now[0]
    )
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(5.0)  # one failure back every 5 s
    now[0] += 5.0
    assert limiter.retry_after("a") == 0
    for client in ("b", "c", "d", "e"):
        limiter.failed(client)
        limiter.failed(client)
    assert limiter.retry_after("a") == 0 and limiter.retry_after("e") > 0
    assert len(limiter._clients) == 3  # bounded memory


def test_csv_export_guards_operator_values_a_spreadsheet_would_run(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(
        admin_user=USER, admin_password=PASSWORD, policy_version="=1+1", rule_name="@rule"
    )
    with TestClient(ConsentMiddleware(page_app(), config=config)) as client:
        made = decide(client, "accept_all")
        table = _exported(client, format="csv")
        lookup = client.get(
            f"{ADMIN}/lookup", params={"consent_id": made["consent_id"]}, headers=AUTH
        )
    record = next(csv.DictReader(io.StringIO(table.text)))
    assert record["policy_version"] == "'=1+1" and record["rule"] == "'@rule"
    # The lookup page is HTML, not a spreadsheet: it shows the values as stored.
    assert lookup.status_code == 200 and ">=1+1<" in lookup.text and "&#39;=1+1" not in lookup.text


# ----- consent policy reports ----------------------------------------------------------------


def test_overview_lists_policy_reports_and_marks_unknown_hosts(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(admin_user=USER, admin_password=PASSWORD, csp_mode="report-only")

    async def fill() -> None:
        store = open_store(config.resolved_audit_url, config.resolved_audit_key)
        try:
            today = datetime.now(UTC).date().isoformat()
            rows = [
                ("img-src", "www.google-analytics.com", "/news/a", 4),
                ("script-src-elem", "tags.unheard-of.example", "/<script>alert(1)</script>", 2),
            ]
            await store.add_csp_counts(rows, today, keep_days=90, keep=100)
        finally:
            await store.close()

    asyncio.run(fill())
    with TestClient(ConsentMiddleware(page_app(), config=config)) as client:
        response = client.get(ADMIN, headers=AUTH)
    assert response.status_code == 200
    text = response.text
    assert "Mode: <code>report-only</code>" in text
    table = text[text.index('data-table="csp"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 3  # the header and two rows
    assert "www.google-analytics.com" in table and "analytics" in table
    assert "<strong>unknown</strong>" in table and "tags.unheard-of.example" in table
    assert "<script" not in text.lower()


def test_overview_without_policy_reports(admin_client: TestClient) -> None:
    text = admin_client.get(ADMIN, headers=AUTH).text
    assert "Mode: <code>off</code>" in text
    assert "No reports in this period." in text
