"""The report endpoint under the reserved prefix: always 204, bounded, counting only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.audit import open_store
from consent.csp import MAX_REPORT_BYTES
from tests.conftest import page_app

URL = "/_consent/csp-report"


def report(host: str = "px.ads.example", directive: str = "img-src") -> bytes:
    return json.dumps(
        {
            "csp-report": {
                "effective-directive": directive,
                "blocked-uri": f"https://{host}/pixel?uid=visitor-42",
                "document-uri": "https://paper.example/news/a?email=someone@example.org",
            }
        }
    ).encode()


def test_a_report_is_counted_without_personal_data_and_answered_204(
    make_config: Callable[..., ConsentConfig],
) -> None:
    middleware = ConsentMiddleware(page_app(), config=make_config(csp_mode="report-only"))
    client = TestClient(middleware)
    response = client.post(
        URL, content=report(), headers={"content-type": "application/csp-report"}
    )
    assert response.status_code == 204
    assert "set-cookie" not in response.headers
    [(violation, count)] = middleware.runtime.csp_reports.counter.snapshot()
    assert (violation.directive, violation.blocked_host, violation.path, count) == (
        "img-src",
        "px.ads.example",
        "/news/a",
        1,
    )


def test_junk_and_oversized_bodies_count_nothing_and_still_get_204(
    make_config: Callable[..., ConsentConfig],
) -> None:
    middleware = ConsentMiddleware(page_app(), config=make_config())
    client = TestClient(middleware)
    big = b'{"csp-report": {"blocked-uri": "https://x.example/' + b"a" * MAX_REPORT_BYTES + b'"}}'

    def chunked() -> object:
        yield big[:1000]
        yield big[1000:]

    for kwargs in (
        {"content": b"not json"},
        {"content": b"\xff\xfe"},
        {"content": b'[{"type": "deprecation", "body": {}}]'},
        {"content": big},
        {"content": chunked()},
        {"content": b"", "headers": {"content-length": "-1"}},
    ):
        response = client.post(URL, **kwargs)
        assert response.status_code == 204
        assert "set-cookie" not in response.headers
    assert client.get(URL).status_code == 204
    assert middleware.runtime.csp_reports.counter.snapshot() == []


def test_a_flood_is_rate_limited(make_config: Callable[..., ConsentConfig]) -> None:
    middleware = ConsentMiddleware(page_app(), config=make_config())
    client = TestClient(middleware)
    many = json.dumps(
        [
            {
                "type": "csp-violation",
                "body": {
                    "effectiveDirective": "img-src",
                    "blockedURL": f"https://h{n}.example/",
                    "documentURL": "https://paper.example/",
                },
            }
            for n in range(32)
        ]
    ).encode()
    for _ in range(20):
        assert client.post(URL, content=many).status_code == 204
    counter = middleware.runtime.csp_reports.counter
    assert counter.dropped > 0
    assert counter.pending < 20 * 32


def test_counts_reach_the_store_when_the_site_stops(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    config = make_config(csp_mode="enforce")
    with TestClient(ConsentMiddleware(page_app(), config=config)) as client:
        for _ in range(3):
            client.post(URL, content=report())
        client.post(URL, content=report("tags.ads.example", "script-src-elem"))

    async def read() -> list[tuple[object, ...]]:
        store = open_store(audit_url, config.resolved_audit_key)
        try:
            return await store.csp_counts("2000-01-01", 10)
        finally:
            await store.close()

    rows = asyncio.run(read())
    assert [row[:4] for row in rows] == [
        ("img-src", "px.ads.example", "/news/a", 3),
        ("script-src-elem", "tags.ads.example", "/news/a", 1),
    ]
