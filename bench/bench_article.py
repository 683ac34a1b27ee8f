"""The rewriter alone on the overhead benchmark's per-request article, both implementations.

Run: ``python bench/bench_article.py``. The article of ``bench_overhead.py`` (``/news/live``,
about 100 kB, 37 third-party tags, a form token and a counter that change with every request)
is rendered anew for each page, as the app serves it, and rewritten as one body for a visitor
who has not decided (the shipped catalogue, its answers remembered, as from the second view
on). The compiled scan and the pure-Python rewriter alternate round by round in this process,
so that both see the same load on the machine; each figure is the median of the rounds, in
this process's CPU time. The app's own rendering time is given for scale: the bar of 0.90
leaves the middleware a ninth of it. The same pages are also rewritten for a visitor who
granted everything (no classifier: the banner placed, nothing held).
"""

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_overhead import LIVE_PAGE_PATH, _news_page_app, _scope
from bench.bench_rewriter import classifier
from consent import rewriter
from consent.rewriter import HtmlRewriter
from consent.types import Message

PAGES = 40
ROUNDS = 15


async def _render(app: Any, scope: dict[str, Any]) -> bytes:
    body: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(dict(scope), receive, send)
    return b"".join(body)


def _per_page(work: Callable[[], object], count: int) -> float:
    start = time.process_time()
    work()
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    app = _news_page_app()
    scope = _scope(LIVE_PAGE_PATH, None)

    async def render_all() -> list[bytes]:
        return [await _render(app, scope) for _ in range(PAGES)]

    pages = asyncio.run(render_all())
    compiled = rewriter._fast_scan

    def rewrite_all() -> None:
        for page in pages:
            pass_ = HtmlRewriter(classifier("127.0.0.1"), head_injection=b"<script></script>")
            pass_.feed(page)
            pass_.close()

    def rewrite_all_accepted() -> None:
        # A visitor who granted everything: no classifier, the banner placed, nothing held.
        for page in pages:
            pass_ = HtmlRewriter(None, head_injection=b"<script></script>", body_injection=b"<div>")
            pass_.feed(page)
            pass_.close()

    rewrite_all()  # the catalogue's answers remembered, as from the second view on
    timings: dict[str, list[float]] = {"app": []}
    for label in ("compiled scan", "pure Python"):
        timings[label] = []
        timings[f"{label}, accepted"] = []
    for _ in range(ROUNDS):
        for label, scan in (("compiled scan", compiled), ("pure Python", None)):
            if label == "compiled scan" and scan is None:
                continue
            rewriter._fast_scan = scan
            timings[label].append(_per_page(rewrite_all, PAGES))
            timings[f"{label}, accepted"].append(_per_page(rewrite_all_accepted, PAGES))
        timings["app"].append(_per_page(lambda: asyncio.run(render_all()), PAGES))
    rewriter._fast_scan = compiled
    app_time = statistics.median(timings["app"])
    size = sum(map(len, pages)) / len(pages) / 1000
    print(f"the per-request article ({size:.1f} kB), warm, one body; undecided unless said")
    print(f"{'app rendering it':34}{app_time:8.0f} µs a page")
    for label in (
        "compiled scan",
        "pure Python",
        "compiled scan, accepted",
        "pure Python, accepted",
    ):
        if not timings[label]:
            print(f"{label:34}     (not built)")
            continue
        took = statistics.median(timings[label])
        print(f"{label:34}{took:8.0f} µs a page, {took / app_time:.2f} of the app's time")


if __name__ == "__main__":
    main()
