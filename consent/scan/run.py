"""A whole scan: serve or reach the site, visit it in every state, judge what was seen."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from urllib.parse import urlsplit

from consent.categories import DEFAULT_CATEGORIES
from consent.config import ConsentConfig
from consent.scan.browser import (
    CHROMIUM_ARGS,
    CrawlResult,
    Scanner,
    StatePlan,
    VisitOptions,
    plan_states,
    run_limited,
)
from consent.scan.judge import Knowledge, judge_banner, judge_state, merge, read_policy
from consent.scan.model import BEFORE, Finding, ScanResult, StateResult
from consent.scan.target import LoopbackServer, ScanSetupError, config_of, is_url, load_app

# Where Debian and most distributions put Chromium when no path is given.
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FALLBACK = "/usr/bin/chromium"

Progress = Callable[[str], None]


@dataclass(slots=True)
class ScanOptions:
    target: str
    factory: bool = False
    paths: Sequence[str] = ("/",)
    depth: int = 0
    max_pages: int = 20
    states: Sequence[str] | None = None  # None: every state
    offline: bool = False
    chromium: str | None = None
    jobs: int = 2
    timeout_s: float = 20.0
    screenshots: bool = True
    config: ConsentConfig | None = None
    headers: dict[str, str] = field(default_factory=dict)


def find_chromium(explicit: str | None) -> str:
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise ScanSetupError(f"--chromium {explicit}: no executable there")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.access(CHROMIUM_FALLBACK, os.X_OK):
        return CHROMIUM_FALLBACK
    raise ScanSetupError(
        "Chromium was not found: install your distribution's chromium package "
        "or pass --chromium PATH"
    )


def run_scan(options: ScanOptions, progress: Progress) -> ScanResult:
    """The scan, start to end; raises ScanSetupError when it cannot start."""
    if is_url(options.target):
        chromium = find_chromium(options.chromium)
        return asyncio.run(_scan(options.target, options, options.config, chromium, progress))
    app = load_app(options.target, factory=options.factory)
    config = options.config or config_of(app)
    chromium = find_chromium(options.chromium)
    with LoopbackServer(app) as server:
        progress(f"serving {options.target} on {server.url}")
        return asyncio.run(_scan(server.url, options, config, chromium, progress))


async def _scan(
    base_url: str,
    options: ScanOptions,
    config: ConsentConfig | None,
    chromium: str,
    progress: Progress,
) -> ScanResult:
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        raise ScanSetupError(
            "the scan drives Chromium with Playwright: pip install 'asgi-consent[scan]'"
        ) from exc
    started_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    started = time.monotonic()
    clock = partial(_timed, progress, started)
    paths = list(options.paths) or [urlsplit(base_url).path or "/"]
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=list(CHROMIUM_ARGS)
            )
        except Exception as exc:
            raise ScanSetupError(f"Chromium ({chromium}) did not start: {exc}") from exc
        try:
            scanner = Scanner(
                browser,
                base_url,
                VisitOptions(
                    options.offline, options.timeout_s, options.screenshots, dict(options.headers)
                ),
            )
            undecided = StateResult("undecided", "a first visit; nothing is clicked", ())
            crawl = await scanner.explore(undecided, paths, options.depth, options.max_pages, clock)
            if not crawl.pages:
                failures = "; ".join(f"{p}: {why}" for p, why in undecided.pages_failed)
                raise ScanSetupError(f"no page of {base_url} could be loaded ({failures})")
            categories, required = _categories(crawl, config)
            plans = plan_states(categories, required, None)
            unknown = sorted(set(options.states or ()) - {p.name for p in plans})
            if unknown:
                raise ScanSetupError(
                    f"--states: no state {', '.join(unknown)} on this site; "
                    f"its states are {', '.join(p.name for p in plans)}"
                )
            undecided.granted = tuple(sorted(plans[0].granted))
            wanted = [p for p in plans[1:] if options.states is None or p.name in options.states]
            states = [undecided] + [_result(plan) for plan in wanted]
            if crawl.banner.present:
                await run_limited(
                    options.jobs,
                    [
                        partial(scanner.run_state, plan, result, crawl.pages, clock)
                        for plan, result in zip(wanted, states[1:], strict=True)
                    ],
                )
            else:
                for result in states[1:]:
                    result.reached = False
                    result.error = "there is no banner to decide with"
        finally:
            await browser.close()
    site_host = urlsplit(base_url).hostname or ""
    declared = read_policy(crawl.policy_html) if crawl.policy_html else []
    knowledge = Knowledge.build(
        site_host, config, declared, policy_read=bool(declared), required=required
    )
    findings: list[Finding] = judge_banner(crawl.banner, undecided.name)
    if crawl.banner.policy_url is not None and not declared:
        findings.append(
            Finding(
                "policy-missing",
                undecided.name,
                BEFORE,
                crawl.banner.policy_url,
                "the policy page could not be read, or names no cookie",
            )
        )
    for state in states:
        if not state.reached:
            findings.append(
                Finding("state-unreachable", state.name, "", state.name, state.error or "")
            )
        elif state.error:
            findings.append(Finding("state-unreachable", state.name, "", "withdrawal", state.error))
        state.findings = judge_state(state, knowledge)
        findings += state.findings
    return ScanResult(
        target=options.target,
        started=started_at,
        seconds=round(time.monotonic() - started, 2),
        pages=crawl.pages,
        banner=crawl.banner,
        declared=declared,
        states=states,
        findings=merge(findings),
        offline=options.offline,
    )


def _categories(crawl: CrawlResult, config: ConsentConfig | None) -> tuple[list[str], list[str]]:
    """The purposes as the banner offers them; without a banner, the configuration's."""
    if crawl.banner.categories:
        return crawl.banner.categories, crawl.banner.required
    if config is not None:
        return list(config.category_ids), sorted(config.required_categories)
    return [c.id for c in DEFAULT_CATEGORIES], [c.id for c in DEFAULT_CATEGORIES if c.required]


def _result(plan: StatePlan) -> StateResult:
    return StateResult(
        plan.name,
        plan.description,
        tuple(sorted(plan.granted)),
        gpc=plan.gpc,
        withdraw=plan.withdraw,
    )


def _timed(progress: Progress, started: float, message: str) -> None:
    progress(f"{time.monotonic() - started:6.1f}s {message}")
