"""Where a page's time goes in the middleware: each step timed in place, per page.

    python bench/bench_steps.py [--requests N]

The article of ``bench_overhead.py`` (``/news/live``, rendered anew for every request, page
cache off; and ``/news/harbour-library`` from the page cache), requested in-process. Each step
of the middleware is wrapped with a timer; a step's figure is what its calls took in one request
(the median over the requests, after a warm-up), so it is the step's cost in place, after the
app's rendering, not in a loop. Every figure carries its timer's own cost, a fraction of a
microsecond, and a step that holds another includes it. ``request`` is the whole request through
the middleware, ``app`` the app's own call (with the middleware's work on what it sends).
A step some version of the middleware does not have prints as ``-``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_overhead import (  # noqa: E402
    LIVE_PAGE_PATH,
    NEWS_PAGE_PATH,
    _accepted_cookie,
    _call,
    _config,
    _scope,
    build_apps,
)
from consent import middleware, rewriter  # noqa: E402

# (owner, attribute, label), in the order a page meets them.
STEPS: list[tuple[Any, str, str]] = [
    (middleware._Responder, "_on_start", "the response's start"),
    (middleware._Responder, "_build_pipeline", "the pipeline: locale, banner, nonce, cache key"),
    (middleware._Responder, "_cached_output", "the page from the page cache"),
    (middleware._Responder, "_transform", "rewriting, with the rewriter's making"),
    (rewriter.HtmlRewriter, "feed", "  the rewriter's feed"),
    (rewriter.HtmlRewriter, "finish", "  the rewriter's finish (feed and close in one)"),
    (rewriter.HtmlRewriter, "_scan_head", "    the page's start, up to the head injection"),
    (rewriter, "_fast_scan", "    the compiled scan"),
    (middleware._Responder, "_response_headers", "the response's headers"),
]
CASES = ("per-request, undecided", "per-request, accepted", "cached, undecided")

spent: dict[str, float] = {}


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(function):

        @functools.wraps(function)
        async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

        return timed_coroutine

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

    return timed


def wrap_steps() -> list[str]:
    """Puts a timer around every step the middleware has; the labels of those it has."""
    found = []
    for owner, name, label in STEPS:
        function = getattr(owner, name, None)
        if function is None:
            continue
        setattr(owner, name, _timed(label, function))
        found.append(label)
    return found


async def _measure(app: Any, scope: dict[str, Any], requests: int) -> dict[str, list[float]]:
    inner = app.app
    per_request: dict[str, list[float]] = {}

    async def timed_app(scope: Any, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        await inner(scope, receive, send)
        spent["app"] = time.perf_counter() - start

    app.app = timed_app
    try:
        for count in range(requests + 200):
            spent.clear()
            start = time.perf_counter()
            await _call(app, scope)
            spent["request"] = time.perf_counter() - start
            if count >= 200:  # warm-up first
                for label, seconds in spent.items():
                    per_request.setdefault(label, []).append(seconds)
    finally:
        app.app = inner
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    labels = wrap_steps()
    columns: list[dict[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        _, cached = build_apps(tmp)
        _, uncached = build_apps(tmp, page_cache=False)
        accepted = _accepted_cookie(_config(tmp))
        for app, path, cookie in (
            (uncached, LIVE_PAGE_PATH, None),
            (uncached, LIVE_PAGE_PATH, accepted),
            (cached, NEWS_PAGE_PATH, None),
        ):
            columns.append(asyncio.run(_measure(app, _scope(path, cookie), args.requests)))
    print(f"µs per page, median of {args.requests} requests, rewriter: ", end="")
    print("compiled scan" if rewriter.SPEEDUPS else "pure Python")
    print(f"{'step':50}" + "".join(f"{case:>24}" for case in CASES))
    for label in ["request", "app", *labels]:
        cells = []
        for column in columns:
            values = column.get(label)
            cells.append(f"{statistics.median(values) * 1e6:24.1f}" if values else f"{'-':>24}")
        print(f"{label:50}" + "".join(cells))


if __name__ == "__main__":
    main()
