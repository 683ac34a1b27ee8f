"""Throughput of the streaming HTML rewriter with the real catalogue, against its bars.

Run: ``python bench/bench_rewriter.py``; ``--cold-passes N`` only rewrites the real pages N
times, cold, for an instruction counter. The classifier is the one the middleware uses for a
visitor who has not decided: the shipped catalogue, unknown third parties held, no page cache.
*Cold* forgets every remembered answer (URL hosts, catalogue matches, classifier answers, held
tags) before each run: each page is seen for the first time. *Warm* keeps them: the same pages
come again, as on a news site (each real page is viewed once for its own site before it is
timed). Bodies: generated news front pages (a
realistic one, and an image-dense one where every card carries a picture) and the real pages
in ``../shared/realpages`` (``CONSENT_REALPAGES``), cut into 4 KB and 64 KB chunks or whole;
hostile bodies must stay linear. Each figure is the best of several runs, in MB/s (10**6 bytes
per second); the bare scan of the same bytes (one regular expression finding every tag) is
given for comparison.
"""

import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consent import parties, rewriter, urls
from consent.catalogue import Catalogue, LiteralSearch, not_tracker_hosts
from consent.holdback import HoldbackPolicy
from consent.lru import LruCache
from consent.names import MARKETING
from consent.parties import Parties
from consent.rewriter import Classifier, Element, Hold, HtmlRewriter

MB = 1 << 20
SITE = "www.ledger.example"
UNDECIDED = frozenset({"necessary"})

SECTIONS = ["World", "UK", "Politics", "Business", "Science", "Technology", "Culture", "Sport"]
SECTIONS += ["Travel", "Opinion", "Climate", "Health", "Education", "Media", "Money", "Football"]
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "government",
    "minister",
    "report",
    "said",
    "year",
    "people",
    "city",
    "council",
    "market",
    "new",
    "after",
    "could",
    "would",
    "police",
    "court",
    "health",
    "school",
    "players",
    "club",
    "season",
    "election",
    "budget",
    "energy",
    "prices",
    "climate",
    "scientists",
    "study",
    "water",
    "local",
    "national",
    "former",
]

HEAD = """<!DOCTYPE html>
<html lang="en-GB" class="no-js">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Daily Ledger &ndash; News, sport and opinion</title>
<meta name="description" content="Breaking news, analysis &amp; opinion from around the world.">
<meta property="og:image" content="https://static.ledger.example/og/home.jpg">
<link rel="canonical" href="https://www.ledger.example/">
<link rel="preconnect" href="https://securepubads.g.doubleclick.net">
<link rel="dns-prefetch" href="https://www.googletagmanager.com">
<link rel="preload" href="https://static.ledger.example/fonts/serif.woff2" as="font" crossorigin>
<link rel="stylesheet" href="https://static.ledger.example/css/main.4f1c2a.css">
<style>
:root{--ink:#121212;--accent:#c70000}body{margin:0;font:16px/1.5 Georgia,serif}
.card{display:grid;grid-template-columns:1fr 2fr;gap:12px}.card img{width:100%;height:auto}
@media (max-width:600px){.card{grid-template-columns:1fr}}
</style>
<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}
gtag('js',new Date());gtag('config','G-ABCDEF1234');</script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABCDEF1234"></script>
<script async src="https://securepubads.g.doubleclick.net/tag/js/gpt.js"></script>
<script>var googletag=googletag||{};googletag.cmd=googletag.cmd||[];googletag.cmd.push(function()
{googletag.defineSlot('/1234/home/top',[[728,90]],'div-gpt-ad-top').addService(googletag.pubads());
googletag.enableServices();});</script>
<script src="https://static.ledger.example/js/app.93bd1e.js" defer></script>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsMediaOrganization",
"name":"The Daily Ledger","url":"https://www.ledger.example/"}</script>
<!-- Facebook Pixel Code -->
<script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};t=b.createElement(e);t.async=!0;t.src=v;
s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script',
'https://connect.facebook.net/en_US/fbevents.js');fbq('init','123456789');</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id=123456789&amp;ev=PageView&amp;noscript=1"/></noscript>
<!-- End Facebook Pixel Code -->
</head>
<body class="home front-page">
<a class="skip" href="#main">Skip to content</a>
<header class="masthead"><nav class="nav" aria-label="Sections"><ul>
"""

FOOT = """<footer class="footer"><ul class="footer__links">
<li><a href="/about">About us</a></li><li><a href="/privacy">Privacy policy</a></li>
<li><a href="/terms">Terms &amp; conditions</a></li><li><a href="/help">Help</a></li></ul>
<p>&copy; 2024 The Daily Ledger. All rights reserved.</p></footer>
<script src="https://cdn.example-analytics.net/a.js" async></script>
<script>(function(){var s=document.createElement('script');
s.src='https://sb.scorecardresearch.com/beacon.js';document.head.appendChild(s);
if(a<b&&"</scr"+"ipt>"){}})();</script>
<noscript><img src="https://sb.scorecardresearch.com/p?c1=2&amp;c2=1234" alt=""></noscript>
</body>
</html>
"""

ICON = (
    '<svg class="icon icon--{n}" width="16" height="16" viewBox="0 0 24 24" aria-hidden="true"'
    ' focusable="false"><path d="M12 2C6.48 2 2 6.48 2 12s4.48 10 10 10 10-4.48 10-10S17.52 2 12'
    ' 2zm0 18c-4.41 0-8-3.59-8-8s3.59-8 8-8 8 3.59 8 8-3.59 8-8 8z"></path></svg>'
)


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def _picture(rng: random.Random, i: int) -> str:
    img = f"https://i.ledger.example/img/{i:06d}/{rng.randrange(10**8):08d}"
    sizes = "(max-width: 600px) 100vw, 33vw"
    return (
        '<div class="card__media-wrapper" data-component="media"><picture class="card__picture">'
        f'<source type="image/avif" srcset="{img}.avif?w=320 320w, {img}.avif?w=640 640w"'
        f' sizes="{sizes}"><img class="card__image" src="{img}.jpg?w=640&amp;q=80"'
        f' srcset="{img}.jpg?w=320 320w, {img}.jpg?w=640 640w" sizes="{sizes}"'
        f' alt="{_words(rng, 7)}" width="640" height="384" loading="lazy" decoding="async">'
        "</picture></div>\n"
    )


def _card(rng: random.Random, i: int, picture: bool) -> str:
    sec = rng.choice(SECTIONS).lower()
    href = f"/{sec}/2024/may/{rng.randrange(1, 29):02d}/" + "-".join(_words(rng, 6).split())
    day, hour, count = rng.randrange(1, 29), rng.randrange(24), rng.randrange(999)
    return (
        f'<li class="container__item container__item--{sec}" data-index="{i}">\n'
        f'<div class="card card--{sec} card--standard" data-component="card"'
        f' data-link-name="news | group-0 | card-@{i}" data-testid="card-{i}">\n'
        f'<div class="card__wrapper"><a class="card__overlay-link" href="{href}"'
        f' data-link-name="article" aria-label="{_words(rng, 9)}" tabindex="-1"></a>\n'
        + (_picture(rng, i) if picture else "")
        + '<div class="card__content"><div class="card__headline-wrapper">'
        f'<span class="card__kicker card__kicker--{sec}">{rng.choice(SECTIONS)}</span>\n'
        '<h3 class="card__headline headline headline--medium">'
        f'<a class="card__link" href="{href}" data-link-name="headline">'
        f'<span class="headline__text">{_words(rng, rng.randrange(8, 14))}</span></a></h3></div>\n'
        f'<div class="card__standfirst"><p>{_words(rng, rng.randrange(20, 40))}.</p></div>\n'
        '<footer class="card__footer"><div class="card__meta"><time class="card__timestamp"'
        f' datetime="2024-05-{day:02d}T{hour:02d}:00:00Z">{ICON.format(n="clock")}'
        f"<span>{hour % 12 + 1}h ago</span></time>"
        f'<a class="card__comments" href="{href}#comments" aria-label="{count} comments">'
        f"{ICON.format(n='comment')}<span>{count}</span></a></div></footer>\n"
        "</div></div></div></li>\n"
    )


def _extras(rng: random.Random, k: int) -> str:
    ad = (
        f'<aside class="ad-slot" aria-label="Advertisement"><!-- ad slot {k} -->'
        f'<div id="div-gpt-ad-{k}" data-slot="/1234/home/mpu{k}"><script>googletag.cmd.push('
        f"function(){{googletag.display('div-gpt-ad-{k}');}});</script></div></aside>\n"
    )
    if k % 3:
        return ad
    if k % 2:
        return ad + (
            '<figure class="embed"><iframe width="560" height="315" src="https://www.youtube.com'
            f'/embed/{rng.randrange(10**10):010d}" title="Video" allowfullscreen></iframe></figure>\n'
        )
    return ad + (
        f'<blockquote class="twitter-tweet"><p lang="en">{_words(rng, 18)}</p>&mdash; Reporter '
        '<a href="https://twitter.com/reporter/status/1">May 1, 2024</a></blockquote>'
        '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>\n'
    )


def news_page(size: int, *, dense: bool = False, seed: int = 7) -> bytes:
    """A front page of about ``size`` bytes; ``dense`` puts a picture in every card."""
    rng = random.Random(seed)
    nav = "".join(
        f'<li class="nav__item"><a class="nav__link" href="/{s.lower()}"'
        f' data-link-name="nav : primary : {s}">{s}</a></li>\n'
        for s in SECTIONS
    )
    parts = [HEAD, nav, '</ul></nav></header>\n<main id="main" class="front">\n']
    total = sum(map(len, parts)) + len(FOOT)
    budget = size * (0.97 if dense else 0.9)  # the rest is the page's JSON data island
    k = 0
    while total < budget:
        cards = "".join(_card(rng, k * 100 + j, dense or j % 3 == 0) for j in range(12))
        section = (
            f'<section class="container" id="s{k}" aria-labelledby="h{k}"><h2 id="h{k}">'
            f'{rng.choice(SECTIONS)}</h2>\n<ul class="container__list">\n{cards}</ul>\n'
            f"{_extras(rng, k)}</section>\n"
        )
        parts.append(section)
        total += len(section)
        k += 1
    parts.append("</main>\n")
    blob = [
        {"id": f"s{i}", "headline": _words(rng, 10), "url": f"/x/{i}"} for i in range(size // 60)
    ]
    data = json.dumps(blob)[: max(0, size - total - 100)]
    parts.append(f'<script id="page-data" type="application/json">{data}</script>\n')
    parts.append(FOOT)
    return "".join(parts).encode()


Runner = Callable[[bytes, int], None]
CATALOGUE = Catalogue.builtin()
POLICY = HoldbackPolicy(
    CATALOGUE, (), unclassified=MARKETING, parties=Parties((), not_tracker_hosts())
)


def forget() -> None:
    """Drops every remembered answer: the next page is classified as if seen for the first
    time."""
    global POLICY
    POLICY = HoldbackPolicy(
        CATALOGUE, (), unclassified=MARKETING, parties=Parties((), not_tracker_hosts())
    )
    CATALOGUE._match_url_cached.cache_clear()
    CATALOGUE._match_inline_cached.cache_clear()
    urls._read_host_cached.cache_clear()
    parties._registrable_domain_cached.cache_clear()
    # Checked for, so that the same benchmark measures earlier versions, which lack them.
    if hasattr(urls, "_host_of_cached"):
        urls._host_of_cached.cache_clear()
    if hasattr(urls, "_read_cached"):
        urls._read_cached.cache_clear()
    held_tags: object = getattr(rewriter, "_HELD_TAGS", None)
    if isinstance(held_tags, dict):
        held_tags.clear()
    elif isinstance(held_tags, LruCache):
        held_tags._entries.clear()  # earlier versions kept an LRU map
    if hasattr(CATALOGUE, "_host_alone_cached"):
        CATALOGUE._host_alone_cached.cache_clear()
        CATALOGUE._match_host_cached.cache_clear()


def placeholder(category: str, vendor: str) -> bytes:
    return b'<span class="cst-placeholder">' + vendor.encode() + b"</span>"


def classifier(site: str) -> Classifier:
    # The memo key stands for the placeholder's locale and charset, as in the middleware.
    return POLICY.classifier(UNDECIDED, placeholder, memo_key=("en", "utf-8"), site=site)


def chunks(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def run_scan(body: bytes, size: int) -> None:
    finditer = re.compile(rb"<[a-zA-Z!/?]").finditer
    for chunk in chunks(body, size):
        for _ in finditer(chunk):
            pass


def rewrite(body: bytes, size: int, classify: Classifier | None) -> None:
    pass_ = HtmlRewriter(classify, head_injection=b"<style></style>", body_injection=b"<div>")
    for chunk in chunks(body, size):
        pass_.feed(chunk)
    pass_.close()


def cpu_time_of(body: bytes, size: int, site: str) -> float:
    """CPU seconds to rewrite ``body`` in chunks of ``size`` (0: whole) as a page of ``site``."""
    start = time.process_time()
    rewrite(body, size or len(body), classifier(site))
    return time.process_time() - start


def run_cold(body: bytes, size: int) -> None:
    forget()
    rewrite(body, size, classifier(SITE))


def run_warm(body: bytes, size: int) -> None:
    rewrite(body, size, classifier(SITE))


def best_of(runs: dict[str, Runner], body: bytes, size: int, rounds: int) -> dict[str, float]:
    """MB/s of each runner, best of ``rounds`` runs taken in turns.

    Timed in this process's CPU time: other processes on the same cores slow the clock on the
    wall, not the work done here, so two runs agree on a shared machine.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.process_time()
            run(body, size)
            best[name] = min(best[name], time.process_time() - start)
    return {name: len(body) / took / 1e6 for name, took in best.items()}


def hostile(size: int) -> dict[str, bytes]:
    return {
        "<script unterminated": b"<!DOCTYPE html><head><script>" + b"x" * (size - 30),
        "<script repeated": (b"<script" * (size // 7 + 1))[:size],
        "<script  (open tag)": b"<script " + (b"a" * 7 + b" ") * (size // 8),
        "<a  without >": (b"<a " * (size // 3 + 1))[:size],
        "unterminated comment": b"<!--" + b"-x <script src=t> " * (size // 19),
        "attribute quote open": b'<img src="' + b"y" * (size - 10),
    }


def row(label: str, chunk: str, scan: float, measured: float, bar: float | None) -> None:
    verdict = "" if bar is None else ("met" if measured >= bar else "MISSED")
    bar_text = "" if bar is None else f">= {bar:.0f}"
    print(f"{label:34}{chunk:>7}{scan:>8.0f}{measured:>10.0f}  {bar_text:>7}  {verdict}")


def real_pages() -> list[tuple[str, bytes]]:
    try:
        from tests.realpages import harness
    except ImportError:  # an installed copy without the test suite
        return []
    folder = harness.realpages_dir()
    if not (folder / "manifest.json").is_file():
        return []
    return [(page.site, page.body) for page in harness.load_pages(folder)]


def corpus_rate(pages: Sequence[tuple[str, bytes]], size: int, warm: bool, rounds: int) -> float:
    """MB/s over every page, each page with the classifier of its own site.

    Cold: every answer forgotten before the round, so each page is seen for the first time
    (the hosts of earlier pages stay known, as they would on a site). Warm: each page is
    rewritten once, untimed, right before it is timed, as a site's page is viewed again. The
    pages come from over a hundred sites, more than the remembered answers keep at once
    (``holdback._MAX_MEMOS``), so a round over all of them before timing would time cold pages.
    """
    total = sum(len(body) for _, body in pages)
    best = float("inf")
    for _ in range(rounds):
        forget()
        took = 0.0
        for site, body in pages:
            if warm:
                rewrite(body, size or len(body), classifier(site))
            took += cpu_time_of(body, size, site)
        best = min(best, took)
    return total / best / 1e6


def next_articles(
    pages: Sequence[tuple[str, bytes]], rounds: int = 3
) -> tuple[int, int, float, float, float]:
    """MB/s over the later articles of the sites that have several among the real pages:
    each the first page the process sees (every answer forgotten before it, as after a
    restart), and each after its site's first article was viewed (every answer forgotten
    before the site's first article), as a site's new article is. Gives the number of pages
    and sites timed, the bare scan's rate over them, then the two rates."""
    by_site: dict[str, list[bytes]] = {}
    for site, body in pages:
        by_site.setdefault(site, []).append(body)
    sites = {site: bodies for site, bodies in by_site.items() if len(bodies) > 1}
    timed = [body for bodies in sites.values() for body in bodies[1:]]
    total = sum(map(len, timed))
    first = later = float("inf")
    for _ in range(rounds):
        took = 0.0
        for site, bodies in sites.items():
            for body in bodies[1:]:
                forget()
                took += cpu_time_of(body, 0, site)
        first = min(first, took)
        took = 0.0
        for site, bodies in sites.items():
            forget()
            rewrite(bodies[0], len(bodies[0]), classifier(site))
            took += sum(cpu_time_of(body, 0, site) for body in bodies[1:])
        later = min(later, took)
    scan = corpus_scan([("", body) for body in timed], 0, rounds)
    return len(timed), len(sites), scan, total / first / 1e6, total / later / 1e6


def floor(pages: Sequence[tuple[str, bytes]], rounds: int = 3) -> float:
    """MB/s over every page, whole, with a classifier that holds nothing and remembers
    nothing: every element is read by the Python rewriter, none judged."""
    total = sum(len(body) for _, body in pages)
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _, body in pages:
            rewrite(body, len(body), _nothing)
        best = min(best, time.process_time() - start)
    return total / best / 1e6


def corpus_scan(pages: Sequence[tuple[str, bytes]], size: int, rounds: int) -> float:
    total = sum(len(body) for _, body in pages)
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _, body in pages:
            run_scan(body, size or len(body))
        best = min(best, time.process_time() - start)
    return total / best / 1e6


def element_costs() -> None:
    """Where the time of a page goes: markup with nothing to look at, then what each image
    and each inline script adds, with no classifier work (an answer of "nothing") and with the
    shipped catalogue remembering its answers (the same tags on every view)."""
    start = b"<!doctype html><html><head><title>t</title></head><body>"
    card = (
        b'<article class="card"><a href="/news/story-1"><img src="/media/story-1-320.jpg"'
        b' alt="" width="320" height="180" loading="lazy"><h3>Story number 1</h3></a><p>Council'
        b" transport harbour library budget election weather river market school</p></article>\n"
    )
    plain = card.replace(b"<img", b"<span").replace(b'loading="lazy">', b'loading="lazy"></span>')
    script = b"<div class=ad><script>googletag.cmd.push(function(){googletag.display('a');});"
    script += b"</script></div>\n"
    count = 300

    def cost(body: bytes, classify: Classifier | None) -> float:
        best = float("inf")
        for _ in range(9):
            began = time.process_time()
            for _ in range(10):
                rewrite(body, len(body), classify)
            best = min(best, (time.process_time() - began) / 10)
        return best

    for label, classify in (("nothing held", _nothing), ("catalogue, warm", classifier(SITE))):
        base = cost(start + plain * count, classify)
        image = (cost(start + card * count, classify) - base) / count * 1e6
        inline = (cost(start + script * count, classify) - base) / count * 1e6
        rate = len(start + plain * count) / base / 1e6
        print(
            f"{label:20} markup without elements {rate:5.0f} MB/s, each image +{image:.1f} µs,"
            f" each inline script +{inline:.1f} µs"
        )


def _nothing(element: object) -> None:
    return None


class _Timed:
    """A page view's classifier, its calls timed by the kind of element asked about; what the
    compiled scan reads of it (``known``) is the classifier's own, so it passes by the same
    tags as without the timing."""

    def __init__(self, classify: Classifier, spent: dict[str, list[float]]) -> None:
        self._classify = classify
        self._spent = spent
        self.known = getattr(classify, "known", None)
        self.scripts: list[str] = []

    def __call__(self, element: Element) -> Hold | None:
        began = time.perf_counter()
        hold = self._classify(element)
        took = time.perf_counter() - began
        if element.text:  # only a script's element has text
            kind = "inline scripts"
            self.scripts.append(element.text)
        elif element.tag in ("img", "link", "source", "use"):
            kind = "images, links, sources"
        else:
            kind = "frames, script tags, others"
        if hold is not None:
            kind += ", held"
        entry = self._spent.setdefault(kind, [0, 0.0])
        entry[0] += 1
        entry[1] += took
        return hold


def cold_breakdown(pages: Sequence[tuple[str, bytes]], rounds: int = 3) -> None:
    """Where a cold real page's time goes: the classifier's calls by kind of element, timed
    around each call (every answer forgotten first), and the rest, which is the scan and the
    Python rewriter reading and writing the elements. The best of ``rounds`` runs by total."""
    best: tuple[float, dict[str, list[float]]] | None = None
    scripts: list[str] = []
    for _ in range(rounds):
        forget()
        spent: dict[str, list[float]] = {}
        scripts = []
        began = time.process_time()
        for site, body in pages:
            timed = _Timed(classifier(site), spent)
            rewrite(body, len(body), timed)
            scripts += timed.scripts
        took = time.process_time() - began
        if best is None or took < best[0]:
            best = (took, spent)
    assert best is not None
    total, spent = best
    classifying = sum(seconds for _, seconds in spent.values())
    print(f"cold real pages, whole: {total * 1e3:.0f} ms in all, of which")
    for kind, (count, seconds) in sorted(spent.items(), key=lambda item: -item[1][1]):
        print(
            f"  classifying {kind:36} {count:>6} calls {seconds * 1e3:7.1f} ms"
            f" {seconds / count * 1e6:6.1f} µs each"
        )
    print(f"  classifying, all                                 {classifying * 1e3:16.1f} ms")
    print(
        f"  the rest (scan, reading and writing elements)    {(total - classifying) * 1e3:16.1f} ms"
    )
    script_passes(scripts)


def script_passes(scripts: Sequence[str], rounds: int = 3) -> None:
    """The passes over inline script text that a cold page's scripts cost at least: each
    search run over every script to its last match, alone, in MB/s of script text."""
    size = sum(map(len, scripts))
    signatures, hosts = CATALOGUE._sig_search, CATALOGUE._host_search
    assert signatures is not None and hosts is not None  # the shipped catalogue has both

    def every_match(search: LiteralSearch) -> Callable[[str], None]:
        def run(text: str) -> None:
            pos = 0
            while (found := search.search(text, pos)) is not None:
                pos = found[0] + 1

        return run

    def url_hosts(text: str) -> None:
        for _ in parties.url_hosts(text):
            pass

    passes = {"the catalogue's signatures": every_match(signatures)}
    passes["the catalogue's host endings"] = every_match(hosts)
    passes["hosts written in URLs (third parties)"] = url_hosts
    print(f"  the {len(scripts)} inline scripts hold {size / 1e6:.1f} MB of text; searched alone:")
    for label, run in passes.items():
        best = float("inf")
        for _ in range(rounds):
            began = time.process_time()
            for text in scripts:
                run(text)
            best = min(best, time.process_time() - began)
        print(f"    {label:44} {size / best / 1e6:8.0f} MB/s {best * 1e3:7.1f} ms")


def cold_passes(count: int) -> None:
    """``count`` cold passes over the real pages, whole, and nothing else: for an instruction
    counter, the difference between one pass and none is one pass's count."""
    pages = real_pages()
    for _ in range(count):
        forget()
        for site, body in pages:
            rewrite(body, len(body), classifier(site))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--cold-passes":
        cold_passes(int(sys.argv[2]))
        return
    started = time.perf_counter()
    print("rewriter:", "compiled scan" if rewriter.SPEEDUPS else "pure Python")
    print("undecided visitor, shipped catalogue, no page cache; MB/s")
    print(f"{'body':34}{'chunk':>7}{'scan':>8}{'rewriter':>10}  {'bar':>7}")
    for label, size, dense in (
        ("news 1 MB", MB, False),
        ("news 10 MB", 10 * MB, False),
        ("image-dense news 1 MB", MB, True),
    ):
        body = news_page(size, dense=dense)
        for chunk in (4096, 65536):
            rounds = 9 if size <= MB else 3
            rates = best_of(
                {"scan": run_scan, "cold": run_cold, "warm": run_warm}, body, chunk, rounds
            )
            kb = f"{chunk // 1024} KB"
            row(f"{label}, cold", kb, rates["scan"], rates["cold"], 400)
            row(f"{label}, warm", kb, rates["scan"], rates["warm"], 400)
    print()
    element_costs()
    print()
    pages = real_pages()
    if pages:
        total = sum(len(body) for _, body in pages)
        label = f"{len(pages)} real pages, {total / 1e6:.1f} MB"
        for chunk in (0, 4096, 65536):
            kb = f"{chunk // 1024} KB" if chunk else "whole"
            scan = corpus_scan(pages, chunk, 3)
            row(f"{label}, cold", kb, scan, corpus_rate(pages, chunk, False, 3), 300)
            row(f"{label}, warm", kb, scan, corpus_rate(pages, chunk, True, 3), 300)
        # What the cold rows cannot beat while elements seen for the first time are read in
        # Python: a classifier that answers at once and remembers nothing.
        row(f"{label}, unjudged", "whole", corpus_scan(pages, 0, 3), floor(pages), None)
        count, sites, scan, first, later = next_articles(pages)
        # No bar: what a site's new article costs, which the warm and cold rows bracket.
        label = f"{count} later articles of {sites} sites"
        row(f"{label}, first page seen", "whole", scan, first, None)
        row(f"{label}, site seen before", "whole", scan, later, None)
        print()
        cold_breakdown(pages)
    else:
        print("(no real pages found: set CONSENT_REALPAGES)")
    print()
    print("hostile bodies: MB/s at 1 MB and 4 MB; linear when 4 MB takes at most 6 times as long")
    print(f"{'hostile body':34}{'chunk':>7}{'1 MB':>8}{'4 MB':>10}  {'time x':>7}")
    for label, small in hostile(MB).items():
        large = hostile(4 * MB)[label]
        for chunk in (4096, 65536):
            # Best of five and of three: a slow spell of the machine in every run of the 1 MB
            # body (some 40 ms each) would show as a factor past the bar.
            one = best_of({"cold": run_cold}, small, chunk, 5)["cold"]
            four = best_of({"cold": run_cold}, large, chunk, 3)["cold"]
            factor = (len(large) / four) / (len(small) / one)
            verdict = "met" if factor <= 6 else "MISSED"
            print(
                f"{label:34}{chunk // 1024:>4} KB{one:>8.0f}{four:>10.0f}  {factor:>7.2f}  {verdict}"
            )
    print(f"\n(MB/s, 10**6 bytes per second; {time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
