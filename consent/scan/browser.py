"""Visiting a site in headless Chromium, one fresh context per consent state.

Playwright (the ``scan`` extra) drives the system's Chromium through ``executable_path``;
nothing here downloads a browser. States are reached as a visitor reaches them, by clicking
the banner, so the banner's controls are exercised too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urldefrag, urljoin, urlsplit

from consent.names import (
    ACTION_ACCEPT_ALL,
    ACTION_CUSTOM,
    ACTION_CUSTOMIZE,
    ACTION_REJECT_ALL,
    ATTR_ACTION,
    ATTR_BANNER,
    ATTR_LAYER,
    ATTR_OPEN,
    FIELD_CATEGORY,
    MARKETING,
)
from consent.scan.gcm import consent_mode_of
from consent.scan.judge import PROMINENCE_PROPERTIES, host_of, prominence_differences, read_policy
from consent.scan.model import (
    AFTER,
    AT_WITHDRAWAL,
    BEFORE,
    WITHDRAWN,
    BannerCheck,
    ConsentModeRecord,
    CookieRecord,
    RequestRecord,
    Screenshot,
    StateResult,
    StorageKind,
    StorageRecord,
)

CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: Final = {"width": 1280, "height": 800}
# navigator.globalPrivacyControl as browsers that send Sec-GPC expose it, in every frame.
GPC_SCRIPT: Final = (
    "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl',"
    " {get: () => true, configurable: true});"
)
QUIET_MS: Final = 400  # a page counts as settled after this long without a request in flight
SETTLE_LIMIT_S: Final = 4.0
WITHDRAWN_PAGES: Final = 3  # pages visited after withdrawal: enough to see what comes back
GIF: Final = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
)

_STYLE_SCRIPT = (
    "e => { const s = getComputedStyle(e), r = e.getBoundingClientRect();"
    " const out = {width: String(r.width), height: String(r.height)};"
    f" for (const p of {list(PROMINENCE_PROPERTIES)!r}) out[p] = String(s[p]);"
    " return out; }"
)
_STORAGE_SCRIPT = """async () => {
  const out = {origin: location.origin, local: [], session: [], idb: []};
  try { out.local = Object.keys(localStorage); } catch (e) {}
  try { out.session = Object.keys(sessionStorage); } catch (e) {}
  try { out.idb = (await indexedDB.databases()).map(d => d.name || ""); } catch (e) {}
  return out;
}"""


def first_layer(selector: str) -> str:
    return f"[{ATTR_BANNER}] [{ATTR_LAYER}='1'] {selector}"


def second_layer(selector: str) -> str:
    return f"[{ATTR_BANNER}] [{ATTR_LAYER}='2'] {selector}"


def action(name: str) -> str:
    return f"[{ATTR_ACTION}='{name}']"


@dataclass(frozen=True, slots=True)
class StatePlan:
    name: str
    description: str
    granted: frozenset[str]
    decide: str | None = None  # ACTION_ACCEPT_ALL, ACTION_REJECT_ALL, or ACTION_CUSTOM
    only: str | None = None  # the category ticked alone in the second layer
    gpc: bool = False
    withdraw: bool = False


def plan_states(
    categories: Sequence[str], required: Sequence[str], wanted: Sequence[str] | None
) -> list[StatePlan]:
    """Every state of the scan, in order; ``wanted`` picks some by name."""
    required_set = frozenset(required)
    optional = [c for c in categories if c not in required_set]
    everything = required_set | frozenset(optional)
    plans = [
        StatePlan("undecided", "a first visit; nothing is clicked", required_set),
        StatePlan("rejected", "Reject all in the first layer", required_set, ACTION_REJECT_ALL),
        StatePlan(
            "accepted",
            "Accept all in the first layer, then everything withdrawn in Privacy settings",
            everything,
            ACTION_ACCEPT_ALL,
            withdraw=True,
        ),
    ]
    plans += [
        StatePlan(
            f"only-{category}",
            f"only {category} ticked in the second layer, then Save",
            required_set | {category},
            ACTION_CUSTOM,
            only=category,
        )
        for category in optional
    ]
    # A browser with Global Privacy Control refuses the sale and sharing of data, which the
    # middleware reads as a refusal of marketing whatever else the visitor accepts.
    plans.append(
        StatePlan(
            "gpc",
            "Sec-GPC: 1 and navigator.globalPrivacyControl; Accept all",
            everything - {MARKETING},
            ACTION_ACCEPT_ALL,
            gpc=True,
        )
    )
    if wanted is None:
        return plans
    return [plan for plan in plans if plan.name in wanted]


@dataclass(slots=True)
class VisitOptions:
    offline: bool
    timeout_s: float = 20.0
    screenshots: bool = True
    # Sent with every request of every state, e.g. a trusted location header to be scanned
    # as a visitor from a region.
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CrawlResult:
    pages: list[str] = field(default_factory=list)  # paths with query, in visiting order
    banner: BannerCheck = field(default_factory=BannerCheck)
    policy_html: str | None = None


class _Recorder:
    """Every request, Set-Cookie and jar cookie of one context, tagged with the moment."""

    def __init__(self, state: StateResult) -> None:
        self.state = state
        self.phase = BEFORE
        self.page = ""
        self.inflight = 0
        self.last_activity = time.monotonic()
        self.pending: list[asyncio.Task[None]] = []
        self._cookie_keys: set[tuple[str, ...]] = set()
        self._storage_keys: set[tuple[str, ...]] = set()

    def attach(self, context: Any) -> None:
        context.on("request", self._request)
        context.on("requestfinished", self._done)
        context.on("requestfailed", self._done)
        context.on("response", self._response)

    def _request(self, request: Any) -> None:
        self.inflight += 1
        self.last_activity = time.monotonic()
        url = request.url
        if not url.startswith(("http://", "https://")):
            return
        self.state.requests.append(
            RequestRecord(
                url, host_of(url), request.method, request.resource_type, self.phase, self.page
            )
        )
        found = consent_mode_of(url)
        if found is not None:
            gcs, gcd, signals = found
            self.state.consent_modes.append(
                ConsentModeRecord(host_of(url), gcs, gcd, signals, self.phase, self.page)
            )

    def _done(self, request: Any) -> None:
        self.inflight = max(0, self.inflight - 1)
        self.last_activity = time.monotonic()

    def _response(self, response: Any) -> None:
        # Set-Cookie is only readable asynchronously; the moment is the one of the response.
        self.pending.append(
            asyncio.ensure_future(self._set_cookies(response, self.phase, self.page))
        )

    async def _set_cookies(self, response: Any, phase: str, page: str) -> None:
        try:
            values = await response.header_values("set-cookie")
        except Exception:  # the page went away; its headers are lost
            return
        for value in values:
            cookie = parse_set_cookie(value, host_of(response.url), phase, page)
            if cookie is not None:
                self.add_cookie(cookie)

    def add_cookie(self, cookie: CookieRecord) -> None:
        key = (cookie.phase, cookie.source, cookie.name, cookie.domain, cookie.path)
        if key not in self._cookie_keys:
            self._cookie_keys.add(key)
            self.state.cookies.append(cookie)

    def add_storage(self, item: StorageRecord) -> None:
        key = (item.phase, item.kind, item.origin, item.key)
        if key not in self._storage_keys:
            self._storage_keys.add(key)
            self.state.storage.append(item)

    async def quiet(self) -> None:
        """Until no request has been in flight for QUIET_MS, or SETTLE_LIMIT_S at most."""
        deadline = time.monotonic() + SETTLE_LIMIT_S
        while time.monotonic() < deadline:
            idle = time.monotonic() - self.last_activity
            if self.inflight == 0 and idle * 1000 >= QUIET_MS:
                break
            await asyncio.sleep(0.05)
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)
            self.pending.clear()


def parse_set_cookie(header: str, response_host: str, phase: str, page: str) -> CookieRecord | None:
    """A stored cookie from one Set-Cookie value; None for a deletion (expired or Max-Age<=0)."""
    parts = [part.strip() for part in header.split(";")]
    name, sep, _ = parts[0].partition("=")
    if not sep or not name.strip():
        return None
    attributes: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        attributes[key.strip().lower()] = value.strip()
    expires = -1.0
    if "max-age" in attributes:
        try:
            if int(attributes["max-age"]) <= 0:
                return None
        except ValueError:
            pass
    elif "expires" in attributes:
        try:
            expires = parsedate_to_datetime(attributes["expires"]).timestamp()
        except (TypeError, ValueError):
            expires = -1.0
        if 0 <= expires < time.time():
            return None
    return CookieRecord(
        name=name.strip(),
        domain=attributes.get("domain", "").lstrip(".").lower() or response_host,
        path=attributes.get("path", "") or "/",
        phase=phase,
        page=page,
        source="header",
        http_only="httponly" in attributes,
        secure="secure" in attributes,
        expires=expires,
    )


class Scanner:
    """One browser for a whole scan; each state gets a context of its own."""

    def __init__(self, browser: Any, base_url: str, options: VisitOptions) -> None:
        self.browser = browser
        self.origin = origin_of(base_url)
        self.options = options

    # -- contexts -----------------------------------------------------------------------

    async def _context(self, state: StateResult, gpc: bool) -> tuple[Any, Any, _Recorder]:
        headers = dict(self.options.headers)
        if gpc:
            headers["Sec-GPC"] = "1"
        context = await self.browser.new_context(
            viewport=VIEWPORT, extra_http_headers=headers, locale="en-GB"
        )
        context.set_default_timeout(self.options.timeout_s * 1000)
        if gpc:
            await context.add_init_script(GPC_SCRIPT)
        recorder = _Recorder(state)
        recorder.attach(context)
        if self.options.offline:
            await context.route(self._elsewhere, _answer_locally)
        page = await context.new_page()
        return context, page, recorder

    def _elsewhere(self, url: str) -> bool:
        if not url.startswith(("http://", "https://")):
            return False
        return origin_of(url) != self.origin

    # -- pages --------------------------------------------------------------------------

    async def _visit(self, page: Any, recorder: _Recorder, path: str) -> bool:
        recorder.page = path
        try:
            response = await page.goto(self.origin + path)
        except Exception as exc:  # any navigation failure is reported, not raised
            recorder.state.pages_failed.append((path, _first_line(exc)))
            return False
        await recorder.quiet()
        if response is None or response.status >= 400:
            status = "no response" if response is None else f"HTTP {response.status}"
            recorder.state.pages_failed.append((path, status))
            return False
        await self._snapshot(page, recorder)
        return "html" in (await response.header_value("content-type") or "")

    async def _snapshot(self, page: Any, recorder: _Recorder, phase: str | None = None) -> None:
        phase = phase or recorder.phase
        for cookie in await page.context.cookies():
            recorder.add_cookie(
                CookieRecord(
                    name=cookie["name"],
                    domain=str(cookie.get("domain", "")).lstrip("."),
                    path=str(cookie.get("path", "/")),
                    phase=phase,
                    page=recorder.page,
                    source="jar",
                    http_only=bool(cookie.get("httpOnly")),
                    secure=bool(cookie.get("secure")),
                    expires=float(cookie.get("expires", -1)),
                )
            )
        for frame in page.frames:
            try:
                found = await frame.evaluate(_STORAGE_SCRIPT)
            except Exception:  # noqa: S112 (a frame that went away or forbids scripts)
                continue
            origin = str(found.get("origin", ""))
            kinds: tuple[tuple[StorageKind, list[Any]], ...] = (
                ("localStorage", found["local"]),
                ("sessionStorage", found["session"]),
                ("indexedDB", found["idb"]),
            )
            for kind, keys in kinds:
                for key in keys:
                    recorder.add_storage(
                        StorageRecord(kind, origin, str(key), phase, recorder.page)
                    )

    async def _screenshot(self, page: Any, state: StateResult, label: str) -> None:
        if not self.options.screenshots:
            return
        try:
            image = await page.screenshot(type="jpeg", quality=60)
        except Exception:  # a report without one picture is still a report
            return
        state.screenshots.append(Screenshot(label, image))

    # -- the first visit: banner, policy, crawl -------------------------------------------

    async def explore(
        self,
        state: StateResult,
        paths: Sequence[str],
        depth: int,
        max_pages: int,
        progress: Callable[[str], None],
    ) -> CrawlResult:
        """The undecided state: checks the banner on the first page, reads the policy it links
        to, and visits the given paths and, to ``depth`` links away, the site's own pages."""
        started = time.monotonic()
        result = CrawlResult()
        context, page, recorder = await self._context(state, gpc=False)
        try:
            queue: list[tuple[str, int]] = [(_path_of(p), 0) for p in paths]
            seen = {p for p, _ in queue}
            while queue and len(result.pages) < max_pages:
                path, level = queue.pop(0)
                progress(f"[undecided] {path}")
                if not await self._visit(page, recorder, path):
                    continue
                result.pages.append(path)
                if len(result.pages) == 1:
                    await self._screenshot(page, state, "first layer")
                    result.banner = await self._check_banner(page, state)
                    result.policy_html = await self._policy(page, result.banner)
                    # The second layer is open now; the next page shows the first again.
                if level >= depth:
                    continue
                for link in await self._links(page, result.banner.prefix):
                    if link not in seen:
                        seen.add(link)
                        queue.append((link, level + 1))
        finally:
            await context.close()
            state.seconds = time.monotonic() - started
        return result

    async def _links(self, page: Any, prefix: str | None) -> list[str]:
        hrefs: list[str] = await page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        links = []
        for href in hrefs:
            url, _ = urldefrag(href)
            if origin_of(url) != self.origin:
                continue
            path = _path_of(url)
            if prefix and (path == prefix or path.startswith(prefix + "/")):
                continue  # the middleware's own pages: preferences, policy, receipts
            links.append(path)
        return links

    async def _check_banner(self, page: Any, state: StateResult) -> BannerCheck:
        check = BannerCheck()
        banner = page.locator(f"[{ATTR_BANNER}]").first
        check.present = await banner.count() > 0 and await banner.is_visible()
        if not check.present:
            return check
        form_action = await page.locator(f"[{ATTR_BANNER}] [{ATTR_LAYER}='1']").first.get_attribute(
            "action"
        )
        if form_action and "/" in form_action.rstrip("/"):
            check.prefix = _path_of(urljoin(page.url, form_action)).rsplit("/", 1)[0] or None
        policy = page.locator(first_layer("a[href]")).first
        if await policy.count():
            check.policy_url = str(await policy.evaluate("e => e.href"))
        accept = page.locator(first_layer(action(ACTION_ACCEPT_ALL))).first
        reject = page.locator(first_layer(action(ACTION_REJECT_ALL))).first
        check.accept_visible = await accept.count() > 0 and await accept.is_visible()
        check.reject_visible = await reject.count() > 0 and await reject.is_visible()
        if check.accept_visible and check.reject_visible:
            check.accept_style = await accept.evaluate(_STYLE_SCRIPT)
            check.reject_style = await reject.evaluate(_STYLE_SCRIPT)
            check.differences = prominence_differences(check.accept_style, check.reject_style)
        customize = page.locator(first_layer(action(ACTION_CUSTOMIZE))).first
        if await customize.count() and await customize.is_visible():
            await customize.click()
            layer = page.locator(f"[{ATTR_BANNER}] [{ATTR_LAYER}='2']").first
            # Read the boxes all the same if it does not show: the markup has them.
            with contextlib.suppress(Exception):
                await layer.wait_for(state="visible", timeout=5000)
            await self._screenshot(page, state, "second layer")
        boxes = await page.eval_on_selector_all(
            second_layer(f"input[name='{FIELD_CATEGORY}']"),
            "els => els.map(e => [e.value, e.checked, e.disabled])",
        )
        for value, checked, disabled in boxes:
            check.categories.append(str(value))
            if disabled:
                check.required.append(str(value))
            elif checked:
                check.pre_ticked.append(str(value))
        return check

    async def _policy(self, page: Any, banner: BannerCheck) -> str | None:
        if banner.policy_url is None:
            return None
        try:
            response = await page.context.request.get(banner.policy_url)
            if not response.ok:
                return None
            text: str = await response.text()
        except Exception:  # an unreadable policy is a finding, not a crash
            return None
        return text if read_policy(text) else None

    # -- the other states ---------------------------------------------------------------

    async def run_state(
        self,
        plan: StatePlan,
        state: StateResult,
        pages: Sequence[str],
        progress: Callable[[str], None],
    ) -> None:
        started = time.monotonic()
        context, page, recorder = await self._context(state, gpc=plan.gpc)
        try:
            first = pages[0]
            progress(f"[{plan.name}] {first}, deciding")
            await self._visit(page, recorder, first)
            try:
                await self._decide(page, plan, recorder)
            except Exception as exc:  # a control that is not there or not usable
                state.reached = False
                state.error = f"could not decide through the banner: {_first_line(exc)}"
                return
            await recorder.quiet()
            await self._snapshot(page, recorder)
            await self._screenshot(page, state, "after the decision")
            for path in pages:
                progress(f"[{plan.name}] {path}")
                await self._visit(page, recorder, path)
            if plan.withdraw:
                await self._withdraw(page, state, recorder, pages, plan, progress)
        finally:
            await context.close()
            state.seconds = time.monotonic() - started

    async def _withdraw(
        self,
        page: Any,
        state: StateResult,
        recorder: _Recorder,
        pages: Sequence[str],
        plan: StatePlan,
        progress: Callable[[str], None],
    ) -> None:
        progress(f"[{plan.name}] withdrawing in Privacy settings")
        try:
            await page.locator(f"[{ATTR_OPEN}]").first.click()
            await page.locator(second_layer(action(ACTION_REJECT_ALL))).first.click()
            await page.locator(f"[{ATTR_BANNER}]").first.wait_for(state="hidden")
        except Exception as exc:
            state.error = f"could not withdraw through Privacy settings: {_first_line(exc)}"
            return
        # The page already running keeps what it loaded (withdrawal applies from the next
        # page on); what is left in the jar now is what the decision did not expire.
        await recorder.quiet()
        await self._snapshot(page, recorder, AT_WITHDRAWAL)
        await self._screenshot(page, state, "after withdrawal")
        recorder.phase = WITHDRAWN
        for path in pages[:WITHDRAWN_PAGES]:
            progress(f"[{plan.name}] {path}, after withdrawal")
            await self._visit(page, recorder, path)

    async def _decide(self, page: Any, plan: StatePlan, recorder: _Recorder) -> None:
        """Clicks through the banner; what is requested from the decisive click on belongs
        to the decision, what came before it to the undecided visitor."""
        banner = page.locator(f"[{ATTR_BANNER}]").first
        if plan.decide is None:
            return
        if plan.only is not None:
            await page.locator(first_layer(action(ACTION_CUSTOMIZE))).first.click()
            boxes = page.locator(second_layer(f"input[name='{FIELD_CATEGORY}']:not([disabled])"))
            for index in range(await boxes.count()):
                box = boxes.nth(index)
                wanted = await box.get_attribute("value") == plan.only
                await box.set_checked(wanted)
            button = page.locator(second_layer(action(ACTION_CUSTOM))).first
        else:
            button = page.locator(first_layer(action(plan.decide))).first
        await button.wait_for(state="visible")
        recorder.phase = AFTER
        await button.click()
        await banner.wait_for(state="hidden")


async def _answer_locally(route: Any) -> None:
    """With --offline, every other host is answered here with an empty body of the kind asked
    for: nothing leaves the machine, and the page goes on as if the host had answered."""
    kind = route.request.resource_type
    if kind == "script":
        await route.fulfill(status=200, content_type="text/javascript", body="")
    elif kind == "image":
        await route.fulfill(status=200, content_type="image/gif", body=GIF)
    elif kind == "document":
        await route.fulfill(status=200, content_type="text/html", body="<!doctype html><p></p>")
    else:
        await route.fulfill(status=204, body="")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path + (f"?{parts.query}" if parts.query else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def run_limited(jobs: int, tasks: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Runs the tasks with at most ``jobs`` at a time: each state is a page in Chromium, and
    two cores render two pages at once."""
    limit = asyncio.Semaphore(max(1, jobs))

    async def one(task: Callable[[], Awaitable[None]]) -> None:
        async with limit:
            await task()

    await asyncio.gather(*(one(task) for task in tasks))
