"""Real article pages through the middleware: what is held for each visitor, and what breaks.

Each page of the shared set is served by a bare ASGI app and fetched through
``ConsentMiddleware`` in-process, once per visitor state. The bare and the wrapped page are
parsed with html5lib; in the wrapped one the injected banner, scripts and placeholders are
removed and held elements are given their attributes back. The two trees must then be equal:
anything else means the rewriter changed the page outside the elements it holds.

Third-party resources are read from the bare page by our own rules (below), independent of
the catalogue's matching code: an external script, a frame, a pixel (an image of 1×1 or
0×0, or hidden), anything fetching inside ``<noscript>``, and an inline script that loads or
calls a tracker. Each is put in a class: the catalogue's category of its host, ``library``
(the allowlist of libraries, fonts and CDNs), or ``unknown`` (a third party nobody
classified). The share held for a visitor who has not decided is counted per class.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import difflib
import gzip
import json
import multiprocessing
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import html5lib
import tldextract

from consent import ConsentConfig, ConsentMiddleware
from consent.catalogue import Catalogue, not_tracker_hosts
from consent.cookie import CookiePayload, cookie_name_for
from consent.types import Message, Receive, Scope, Send
from consent.urls import host_of
from tests.conftest import http_scope

SECRET = "realpages-secret-key-0123456789abcdef"
STATES: dict[str, frozenset[str] | None] = {
    "undecided": None,
    "rejected": frozenset({"necessary"}),
    "analytics": frozenset({"necessary", "analytics"}),
    "accepted": frozenset({"necessary", "preferences", "analytics", "marketing"}),
}
# Classes whose resources must wait for a visitor who has not decided.
TRACKING = ("analytics", "marketing", "preferences", "unknown")
# What each publisher would declare as its own domains (``own_domains``): the static,
# image and script hosts it runs under another registrable domain. Keyed by the page's
# registrable domain; only hosts the publisher's own pages name as theirs are listed.
OWN_DOMAINS: dict[str, tuple[str, ...]] = {
    "aktualne.cz": ("stdout.cz",),
    "arstechnica.com": ("arstechnica.net",),
    "bbc.com": ("bbci.co.uk", "bbc.co.uk"),
    "buzzfeed.com": ("buzzfed.com",),
    "cnet.com": ("cbsistatic.com",),
    "cnn.com": ("turner.com",),
    "ehow.com": ("ehowcdn.com",),
    "engadget.com": ("aolcdn.com", "blogsmithmedia.com"),
    "gofeminin.de": ("afcdn.com",),
    "heise.de": ("heise.cloudimg.io",),
    "heraldsun.com.au": ("newscdn.com.au", "news.com.au"),
    "knowtechie.com": ("kt-media-knowtechie.netdna-ssl.com",),
    "kotaku.com": ("kinja-static.com", "kinja.com"),
    "lemonde.fr": ("lemde.fr",),
    "liberation.fr": ("libe.com",),
    "lifehacker.com": ("kinja-static.com", "kinja.com"),
    "mozilla.org": ("mozilla.net",),
    "msn.com": ("s-msn.com",),
    "nytimes.com": ("nyt.com",),
    "pcgamer.com": ("futurecdn.net",),
    "phys.org": ("phys.b-cdn.net",),
    "pixnet.net": ("pixfs.net", "pixnet.cc"),
    "qq.com": ("gtimg.com", "gtimg.cn"),
    "scmp.com": ("i-scmp.com",),
    "spiceworks.com": ("spiceworksstatic.com",),
    "theguardian.com": ("guim.co.uk",),
    "theverge.com": ("vox-cdn.com", "voxmedia.com"),
    "vox.com": ("vox-cdn.com", "voxmedia.com"),
    "wikia.com": ("wikia-services.com", "wikia.nocookie.net"),
    "yahoo.co.jp": ("yimg.jp", "yahooapis.jp", "storage-yahoo.jp"),
    "yahoo.com": ("yimg.com", "zenfs.com"),
    "uol.com.br": ("folha.com.br",),
}

_PSL = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def realpages_dir() -> Path:
    """``CONSENT_REALPAGES``, else the ``shared/realpages`` folder beside the checkout (or beside
    the folder holding it, for a checkout one level deeper)."""
    configured = os.environ.get("CONSENT_REALPAGES")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[2]
    candidates = [up / "shared" / "realpages" for up in (checkout.parent, checkout.parent.parent)]
    return next((c for c in candidates if (c / "manifest.json").is_file()), candidates[0])


@dataclass(frozen=True, slots=True)
class Page:
    id: str
    site: str
    charset: str
    body: bytes


def load_pages(folder: Path | None = None) -> list[Page]:
    folder = folder or realpages_dir()
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    return [
        Page(
            entry["id"],
            entry["site"],
            entry["charset"],
            gzip.decompress((folder / entry["file"]).read_bytes()),
        )
        for entry in manifest
    ]


def registrable(host: str) -> str:
    found = _PSL(host)
    return found.top_domain_under_public_suffix or host


# -- serving --------------------------------------------------------------------------------


def make_middleware(folder: Path, **settings: Any) -> ConsentMiddleware:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        page: Page = scope["state"]["page"]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", f"text/html; charset={page.charset}".encode())],
            }
        )
        await send({"type": "http.response.body", "body": page.body})

    config = ConsentConfig(
        secret_key=SECRET,
        audit_url=f"sqlite:///{folder / 'audit.db'}",
        audit_key="realpages-audit-key-0123456789",
        **settings,
    )
    return ConsentMiddleware(app, config=config)


def consent_cookie(middleware: ConsentMiddleware, granted: frozenset[str]) -> str:
    runtime = middleware.runtime
    value = runtime.codec.encode(
        CookiePayload(
            consent_id="realpages",
            granted=granted,
            policy_version=runtime.config.policy_version,
            decided_at=1_790_000_000,
        )
    )
    name = cookie_name_for(runtime.config.cookie_name, secure=False, domain=None)
    return f"{name}={value}"


async def fetch(
    middleware: ConsentMiddleware, page: Page, cookie: str | None, path: str = "/"
) -> tuple[int, bytes]:
    headers = [(b"accept", b"text/html")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope: Scope = http_scope(path, host=page.site, headers=headers)
    scope["state"] = {"page": page}
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await middleware(scope, receive, send)
    return status, b"".join(chunks)


# -- parsing and normalising ------------------------------------------------------------------


def parse(body: bytes, charset: str) -> ET.Element:
    tree: ET.Element = html5lib.parse(
        body, treebuilder="etree", namespaceHTMLElements=False, transport_encoding=charset
    )
    return tree


_HELD_PREFIX = "data-consent-"
_OURS = ("data-consent-banner", "data-consent-placeholder", "data-consent-open")


def _injected(element: ET.Element) -> bool:
    attrs = element.attrib
    if any(name in attrs for name in _OURS):
        return True
    # The scripts and styles the middleware puts in the head.
    src = attrs.get("src", "") + attrs.get("href", "")
    return "/_consent/" in src and element.tag in ("script", "link", "style")


def _restore(element: ET.Element) -> None:
    attrs = element.attrib
    if "data-consent-held" not in attrs:
        return
    restored: dict[str, str] = {}
    for name, value in attrs.items():
        if name in ("data-consent-held", "data-consent-category"):
            continue
        if name == "type" and element.tag == "script":
            continue
        if name.startswith(_HELD_PREFIX) and name not in ("data-consent-vendor",):
            restored[name[len(_HELD_PREFIX) :]] = value
        else:
            restored[name] = value
    attrs.clear()
    attrs.update(restored)


def _drop_marks(element: ET.Element) -> None:
    """Author marks are compared without the attributes the middleware adds to them."""
    element.attrib.pop("data-consent-held", None)


def normalise(tree: ET.Element, wrapped: bool) -> ET.Element:
    for parent in list(tree.iter()):
        for child in list(parent):
            if wrapped and _injected(child):
                # The removed element's tail text, less the line break written after it,
                # belongs to the text before it.
                tail = child.tail or ""
                if tail.startswith("\n") and "data-consent-banner" in child.attrib:
                    tail = tail[1:]
                index = list(parent).index(child)
                if index:
                    prev = parent[index - 1]
                    prev.tail = (prev.tail or "") + tail
                else:
                    parent.text = (parent.text or "") + tail
                parent.remove(child)
    for element in tree.iter():
        if wrapped:
            _restore(element)
        else:
            _drop_marks(element)
    return tree


_INJECTED_HEAD = re.compile(
    rb'<link rel="stylesheet" href="/_consent/static/[^"]*"[^>]*>|'
    rb'<script src="/_consent/static/gcm\.[^"]*"[^>]*></script>'
)
_INJECTED_BODY = re.compile(
    rb'<div class="cst" data-consent-banner.*?<a class="cst-open"[^>]*>[^<]*</a>', re.DOTALL
)


def strip_injected(body: bytes) -> bytes:
    """The wrapped page without the stylesheet, scripts and banner the middleware adds."""
    return _INJECTED_BODY.sub(b"", _INJECTED_HEAD.sub(b"", body), count=1)


def events(tree: ET.Element) -> Iterator[tuple[Any, ...]]:
    for element in tree.iter():
        tag: object = element.tag
        if not isinstance(tag, str):
            continue  # a comment
        attrs = tuple(sorted(element.attrib.items()))
        yield (element.tag, attrs, element.text or "", element.tail or "", len(element))


def first_difference(bare: ET.Element, wrapped: ET.Element) -> str | None:
    left, right = list(events(bare)), list(events(wrapped))
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return f"element {index}: bare {str(a)[:300]} != wrapped {str(b)[:300]}"
    if len(left) != len(right):
        return f"{len(left)} elements bare, {len(right)} wrapped"
    return None


# -- third-party resources --------------------------------------------------------------------

# What an inline script does to load or call a third party: build a script or an image, set a
# source, send a beacon, fetch, write markup.
_LOADER = re.compile(
    r"createElement\(\s*['\"](?:script|img|iframe)['\"]\s*\)|\.src\s*=|new\s+Image\b|"
    r"sendBeacon\(|\bfetch\(|XMLHttpRequest|document\.write(?:ln)?\(|\.setAttribute\(\s*['\"]src|"
    r"\.getScript\(|\.getJSON\(|\.ajax\(|\$\.(?:get|post)\(|innerHTML\s*\+?="
)
_HOST_IN_TEXT = re.compile(
    r"(?:https?:)?(?:\\?/){2}([a-z0-9][a-z0-9.-]*\.[a-z]{2,})(?=[/\\'\":?#]|$)", re.IGNORECASE
)
MAX_INLINE_SCRIPT = 262144  # the rewriter's default limit for reading one inline script
_SCRIPT_TYPES = ("", "text/javascript", "application/javascript", "module", "text/ecmascript")


@dataclass(frozen=True, slots=True)
class Resource:
    index: int  # the element's position in document order
    kind: str  # script, iframe, pixel, noscript, inline
    host: str
    klass: str  # a category id, "library", "unknown" or "first-party"


@dataclass
class Classifier:
    catalogue: Catalogue
    allowed: frozenset[str]

    def klass(self, host: str, site: str, url: str | None = None) -> str:
        own = OWN_DOMAINS.get(registrable(site), ())
        if registrable(host) == registrable(site) or any(
            host == d or host.endswith("." + d) for d in own
        ):
            return "first-party"
        if any(host == a or host.endswith("." + a) for a in self.allowed):
            return "library"
        service = self.catalogue.match_url(url) if url else self.catalogue.match_host(host)
        if service is None:
            return "unknown"
        return service.category

    def url_host(self, url: str | None) -> str | None:
        if not url or url.startswith(("data:", "blob:", "javascript:", "about:")):
            return None
        parsed = host_of(url.strip(), None)
        return parsed[0] if parsed else None

    def inline(self, text: str, site: str) -> tuple[str, str] | None:
        """The host an inline script loads or calls, with its class; None for site code."""
        signature = self.catalogue._match_signature(text)
        if signature is not None:
            host = signature.hosts[0] if signature.hosts else signature.id
            return host, signature.category
        if not _LOADER.search(text):
            return None
        for match in _HOST_IN_TEXT.finditer(text):
            host = match.group(1).lower().rstrip(".")
            klass = self.klass(host, site)
            if klass not in ("first-party", "library"):
                return host, klass
        return None


def resources(tree: ET.Element, site: str, classifier: Classifier) -> list[Resource]:
    found: list[Resource] = []
    parents = {child: parent for parent in tree.iter() for child in parent}

    def in_noscript(element: ET.Element) -> bool:
        node: ET.Element | None = parents.get(element)
        while node is not None:
            if node.tag == "noscript":
                return True
            node = parents.get(node)
        return False

    for index, element in enumerate(e for e in tree.iter() if isinstance(e.tag, str)):
        tag, attrs = element.tag, element.attrib
        kind: str | None = None
        host: str | None = None
        url: str | None = None
        if tag == "script":
            script_type = attrs.get("type", "").strip().lower()
            if script_type not in _SCRIPT_TYPES:
                continue
            if "src" in attrs:
                url = attrs["src"].strip()
                kind, host = "script", classifier.url_host(url)
            elif element.text:
                loads = classifier.inline(element.text, site)
                if loads is not None:
                    found.append(Resource(index, "inline", loads[0], loads[1]))
                continue
        elif tag in ("iframe", "frame"):
            url = (attrs.get("src") or "").strip()
            kind, host = "iframe", classifier.url_host(url)
        elif tag == "img":
            style = attrs.get("style", "").replace(" ", "").lower()
            tiny = attrs.get("width", "").strip() in ("0", "1", "1px") and attrs.get(
                "height", ""
            ).strip() in ("0", "1", "1px")
            hidden = "display:none" in style or "visibility:hidden" in style
            url = (attrs.get("src") or "").strip()
            host = classifier.url_host(url)
            pixel = tiny or hidden or "hidden" in attrs
            if in_noscript(element):
                # A picture shown without JavaScript is content; a pixel or a known
                # tracker's image there is a beacon.
                known = host is not None and classifier.catalogue.match_host(host) is not None
                if not (pixel or known):
                    continue
                kind = "noscript"
            elif pixel:
                kind = "pixel"
            else:
                continue
        elif tag in ("embed", "object") or (tag in ("iframe",) and in_noscript(element)):
            kind, host = "iframe", classifier.url_host(attrs.get("src") or attrs.get("data"))
        if kind is None or host is None:
            continue
        if kind != "noscript" and in_noscript(element):
            kind = "noscript"
        klass = classifier.klass(host, site, url if url and "//" in url else None)
        if klass != "first-party":
            found.append(Resource(index, kind, host, klass))
    return found


def held_elements(tree: ET.Element) -> dict[ET.Element, str]:
    """The elements held back in a wrapped page (read before normalising) and their category."""
    return {
        e: e.attrib.get("data-consent-category", "")
        for e in tree.iter()
        if "data-consent-held" in e.attrib
    }


def _keys(tree: ET.Element) -> list[tuple[Any, ...]]:
    return [(e.tag, tuple(sorted(e.attrib.items()))) for e in tree.iter() if isinstance(e.tag, str)]


def held_indexes(bare: ET.Element, wrapped: ET.Element, held: dict[ET.Element, str]) -> set[int]:
    """Indexes, in the bare page's document order, of the elements held in the normalised
    wrapped page; the two are aligned element by element, so an element the rewriter added or
    split does not shift the rest."""
    elements = [e for e in wrapped.iter() if isinstance(e.tag, str)]
    matcher = difflib.SequenceMatcher(None, _keys(bare), _keys(wrapped), autojunk=False)
    found: set[int] = set()
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            if elements[block.b + offset] in held:
                found.add(block.a + offset)
    return found


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Report:
    pages: int = 0
    failures: list[str] = field(default_factory=list)  # exceptions and 5xx
    broken: dict[str, list[str]] = field(default_factory=dict)  # state -> page: difference
    total: Counter[tuple[str, str]] = field(default_factory=Counter)  # (klass, kind)
    held: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: Counter[str] = field(default_factory=Counter)  # host -> count (tracking classes)
    miss_pages: dict[str, set[str]] = field(default_factory=dict)
    false_holds: list[tuple[str, str, str, str]] = field(default_factory=list)  # page, kind...
    placeholders_in_head: list[str] = field(default_factory=list)

    def share(self, classes: Sequence[str] = TRACKING) -> tuple[int, int]:
        total = sum(n for (k, _), n in self.total.items() if k in classes)
        held = sum(n for (k, _), n in self.held.items() if k in classes)
        return held, total

    def table(self) -> str:
        lines = [f"{'class':<12} {'kind':<9} {'held':>6} {'of':>6} {'share':>7}"]
        for key in sorted(self.total):
            total, held = self.total[key], self.held[key]
            lines.append(
                f"{key[0]:<12} {key[1]:<9} {held:>6} {total:>6} {100 * held / total:>6.1f}%"
            )
        held, total = self.share()
        if total:
            lines.append(f"{'tracking':<22} {held:>6} {total:>6} {100 * held / total:>6.1f}%")
        return "\n".join(lines)


def run(
    pages: Sequence[Page] | None = None,
    states: Sequence[str] = tuple(STATES),
    declare_own: bool = True,
    **settings: Any,
) -> Report:
    pages = list(pages) if pages is not None else load_pages()
    classifier = Classifier(Catalogue.builtin(), not_tracker_hosts())
    report = Report(pages=len(pages))
    with tempfile.TemporaryDirectory() as folder:
        middlewares: dict[tuple[str, ...], ConsentMiddleware] = {}

        def wrapper(page: Page) -> ConsentMiddleware:
            own = OWN_DOMAINS.get(registrable(page.site), ()) if declare_own else ()
            if own not in middlewares:
                where = Path(folder) / str(len(middlewares))
                where.mkdir()
                declared = {"own_domains": own} if own else {}
                middlewares[own] = make_middleware(where, **declared, **settings)
            return middlewares[own]

        async def all_pages() -> None:
            for page in pages:
                middleware = wrapper(page)
                cookies = {
                    state: (consent_cookie(middleware, granted) if granted is not None else None)
                    for state, granted in STATES.items()
                }
                bare_tree = parse(page.body, page.charset)
                found = resources(bare_tree, page.site, classifier)
                bare_events = list(events(normalise(bare_tree, False)))
                # A state whose page, less the injected banner, is the bare page or one
                # already compared, needs no second parse.
                compared: dict[bytes, str | None] = {page.body: None}
                for state in states:
                    try:
                        status, body = await fetch(middleware, page, cookies[state])
                    except Exception as error:
                        report.failures.append(f"{page.id} {state}: {error!r}")
                        continue
                    if status >= 500:
                        report.failures.append(f"{page.id} {state}: status {status}")
                        continue
                    stripped = strip_injected(body)
                    if state != "undecided" and stripped in compared:
                        difference = compared[stripped]
                    else:
                        tree = parse(body, page.charset)
                        held = held_elements(tree)
                        wrapped_events = list(events(normalise(tree, True)))
                        difference = None
                        if wrapped_events != bare_events:
                            difference = _first(bare_events, wrapped_events)
                        compared[stripped] = difference
                        if state == "undecided":
                            indexes = held_indexes(bare_tree, tree, held)
                            _count(report, page, found, bare_tree, indexes, classifier)
                    if difference is not None:
                        report.broken.setdefault(state, []).append(f"{page.id}: {difference}")

        asyncio.run(all_pages())
    return report


def merge(reports: Sequence[Report]) -> Report:
    merged = Report()
    for report in reports:
        merged.pages += report.pages
        merged.failures += report.failures
        for state, pages in report.broken.items():
            merged.broken.setdefault(state, []).extend(pages)
        merged.total.update(report.total)
        merged.held.update(report.held)
        merged.misses.update(report.misses)
        for host, ids in report.miss_pages.items():
            merged.miss_pages.setdefault(host, set()).update(ids)
        merged.false_holds += report.false_holds
    return merged


def _run_slice(ids: Sequence[str], settings: dict[str, Any]) -> Report:
    wanted = set(ids)
    return run([p for p in load_pages() if p.id in wanted], **settings)


def run_parallel(workers: int = 0, **settings: Any) -> Report:
    """:func:`run` over every page, split among ``workers`` processes (default: the CPUs)."""
    pages = load_pages()
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        return run(pages, **settings)
    # Large pages first, dealt out in turn, so the slices take about as long.
    ordered = sorted(pages, key=lambda p: len(p.body), reverse=True)
    slices = [[p.id for p in ordered[i::workers]] for i in range(workers)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        reports = list(pool.map(_run_slice, slices, [settings] * workers))
    return merge(reports)


def _first(left: list[tuple[Any, ...]], right: list[tuple[Any, ...]]) -> str:
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return f"element {index}: bare {str(a)[:200]} != wrapped {str(b)[:200]}"
    return f"{len(left)} elements bare, {len(right)} wrapped"


def _count(
    report: Report,
    page: Page,
    found: list[Resource],
    bare: ET.Element,
    held_indexes: set[int],
    classifier: Classifier,
) -> None:
    for resource in found:
        key = (resource.klass, resource.kind)
        report.total[key] += 1
        held = resource.index in held_indexes
        if held:
            report.held[key] += 1
            if resource.klass == "library":
                report.false_holds.append((page.id, resource.kind, resource.host, "library"))
        elif resource.klass in TRACKING:
            report.misses[resource.host] += 1
            report.miss_pages.setdefault(resource.host, set()).add(page.id)
    # Held elements that are no third-party resource counted above: fine when they fetch
    # from a third party that is no library (a preconnect hint, an ad's image); a false hold
    # when they are the site's own code or markup, or a library.
    counted = {r.index for r in found}
    elements = [e for e in bare.iter() if isinstance(e.tag, str)]
    for index in sorted(held_indexes - counted):
        element = elements[index]
        if "data-consent-category" in element.attrib:
            continue  # the author's own mark
        attrs = element.attrib
        url = attrs.get("src") or attrs.get("href") or attrs.get("data") or attrs.get("srcset")
        host = classifier.url_host(url.split()[0] if url else None)
        klass = classifier.klass(host, page.site) if host else "first-party"
        if klass not in ("first-party", "library"):
            continue
        if klass == "first-party" and host and classifier.catalogue.match_host(host):
            klass = "own tracker"  # the site's own analytics host, known to the catalogue
        elif klass == "first-party" and element.tag == "script" and not url:
            # Inline code: held for what it does, or a false hold when it does nothing that
            # loads (a settings object, a link that names a vendor). Past the rewriter's
            # limit a script is judged on its start and held unless that proves it harmless.
            text = element.text or ""
            if len(text.encode("utf-8")) > MAX_INLINE_SCRIPT:
                klass = "over-long"
            else:
                klass = "loader" if _LOADER.search(text) else "site code"
        what = url or (element.text or "")[:80].strip()
        report.false_holds.append((page.id, element.tag, what, klass))


def main() -> None:
    report = run_parallel()
    print(f"{report.pages} pages, states: {', '.join(STATES)}")
    print(f"failures (exception or 5xx): {len(report.failures)}")
    for line in report.failures:
        print("  ", line)
    for state in STATES:
        broken = report.broken.get(state, [])
        print(f"pages changed outside held elements, {state}: {len(broken)}")
        for line in broken:
            print("  ", line)
    print("\nthird-party resources for an undecided visitor, held by class and kind")
    print(report.table())
    print(f"\nmisses by host ({sum(report.misses.values())}):")
    for host, count in report.misses.most_common():
        pages = sorted(report.miss_pages[host])
        print(f"  {count:>4}  {host}  ({', '.join(pages[:4])}{' ...' if len(pages) > 4 else ''})")
    print(f"\nfalse holds ({len(report.false_holds)}):")
    for page_id, kind, what, why in report.false_holds:
        print(f"  {page_id:<28} {kind:<8} {why:<11} {what[:90]!r}")


if __name__ == "__main__":
    main()
