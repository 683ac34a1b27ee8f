"""The built-in catalogue of third-party services: its data and its matchers."""

import re
import string
import tomllib
from collections import Counter
from collections.abc import Sequence
from importlib import resources

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from consent import catalogue as catalogue_module
from consent.catalogue import (
    DEFAULT_CATEGORY_IDS,
    HOST_CACHE_SIZE,
    LOADS,
    Catalogue,
    CatalogueError,
    CookieSpec,
    LiteralSearch,
    Service,
    loads_near,
    may_load,
    not_tracker_hosts,
    parse_service,
    service_from_mapping,
)
from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES
from tests.conftest import speedups

HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z][a-z0-9-]*")
LABEL = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.builtin()


def _all_hosts(catalogue: Catalogue) -> list[tuple[str, Service]]:
    return [(host, service) for service in catalogue.services for host in service.hosts]


def _data_files() -> list[tuple[str, dict[str, object]]]:
    folder = resources.files("consent").joinpath("services")
    return [
        (entry.name, tomllib.loads(entry.read_text("utf-8")))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and not entry.name.startswith("_")
    ]


# -- the data ------------------------------------------------------------------------------


def test_at_least_220_services_load(catalogue: Catalogue) -> None:
    assert len(catalogue.services) >= 220
    assert Catalogue.builtin() is catalogue  # cached


def test_every_service_is_well_formed(catalogue: Catalogue) -> None:
    for service in catalogue.services:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", service.id), service.id
        assert service.category in DEFAULT_CATEGORY_IDS, service.id
        assert service.name.strip() and service.vendor.strip(), service.id
        assert service.privacy_policy.startswith("https://"), service.id
        assert service.hosts or service.urls or service.inline or service.cookies, service.id
        for host in service.hosts:
            assert HOST.fullmatch(host), (service.id, host)
            assert "/" not in host and ":" not in host and host == host.lower()
        for rule in service.urls:
            assert HOST.fullmatch(rule.partition("/")[0]), (service.id, rule)
        for cookie in service.cookies:
            assert cookie.party in {"first", "third"}, (service.id, cookie.name)
            assert cookie.lifetime_days >= 0 and cookie.purpose.strip()
            assert cookie.pattern == ("*" in cookie.name or "?" in cookie.name), cookie.name


def test_every_data_file_names_its_sources() -> None:
    files = _data_files()
    assert len(files) >= 8
    for name, document in files:
        assert isinstance(document.get("source"), str), name
        assert len(str(document["source"]).split()) >= 5, name


def test_no_id_and_no_host_is_claimed_twice() -> None:
    ids: Counter[str] = Counter()
    claims: Counter[str] = Counter()
    for _, document in _data_files():
        services = document.get("services", [])
        assert isinstance(services, list)
        for table in services:
            ids[table["id"]] += 1
            claims.update(table.get("hosts", []))
            claims.update(table.get("urls", []))
    assert [i for i, n in ids.items() if n > 1] == []
    assert [h for h, n in claims.items() if n > 1] == []


def test_categories_are_covered(catalogue: Catalogue) -> None:
    counts = Counter(service.category for service in catalogue.services)
    assert counts[MARKETING] >= 120
    assert counts[ANALYTICS] >= 45
    assert counts[PREFERENCES] >= 15
    assert counts[NECESSARY] >= 10
    assert sum(1 for s in catalogue.services if s.embed) >= 35
    assert sum(1 for s in catalogue.services if s.cookies) >= 120


@pytest.mark.parametrize(
    ("service_id", "category"),
    [
        ("google-analytics", ANALYTICS),
        ("adobe-analytics", ANALYTICS),
        ("matomo-cloud", ANALYTICS),
        ("piwik-pro", ANALYTICS),
        ("chartbeat", ANALYTICS),
        ("parsely", ANALYTICS),
        ("comscore", ANALYTICS),
        ("nielsen", ANALYTICS),
        ("gemius", ANALYTICS),
        ("piano-analytics", ANALYTICS),
        ("mediametrie-estat", ANALYTICS),
        ("infonline", ANALYTICS),
        ("kantar-spring", ANALYTICS),
        ("plausible", ANALYTICS),
        ("hotjar", ANALYTICS),
        ("microsoft-clarity", ANALYTICS),
        ("fullstory", ANALYTICS),
        ("mouseflow", ANALYTICS),
        ("crazy-egg", ANALYTICS),
        ("lucky-orange", ANALYTICS),
        ("smartlook", ANALYTICS),
        ("mixpanel", ANALYTICS),
        ("amplitude", ANALYTICS),
        ("heap", ANALYTICS),
        ("segment", ANALYTICS),
        ("new-relic-browser", ANALYTICS),
        ("optimizely", ANALYTICS),
        ("vwo", ANALYTICS),
        ("ab-tasty", ANALYTICS),
        ("kameleoon", ANALYTICS),
        ("dynamic-yield", ANALYTICS),
        ("yandex-metrica", ANALYTICS),
        ("mail-ru-top", ANALYTICS),
        ("liveinternet", ANALYTICS),
        ("bigmir-counter", ANALYTICS),
        ("i-ua-counter", ANALYTICS),
        ("google-tag-manager", MARKETING),
        ("tealium", MARKETING),
        ("adobe-launch", MARKETING),
        ("ensighten", MARKETING),
        ("commanders-act", MARKETING),
        ("google-ad-manager", MARKETING),
        ("google-adsense", MARKETING),
        ("google-ads", MARKETING),
        ("google-campaign-manager", MARKETING),
        ("amazon-publisher-services", MARKETING),
        ("prebid", MARKETING),
        ("xandr", MARKETING),
        ("magnite", MARKETING),
        ("pubmatic", MARKETING),
        ("openx", MARKETING),
        ("index-exchange", MARKETING),
        ("triplelift", MARKETING),
        ("sovrn", MARKETING),
        ("criteo", MARKETING),
        ("teads", MARKETING),
        ("equativ", MARKETING),
        ("sharethrough", MARKETING),
        ("gumgum", MARKETING),
        ("seedtag", MARKETING),
        ("adform", MARKETING),
        ("improve-digital", MARKETING),
        ("yieldmo", MARKETING),
        ("media-net", MARKETING),
        ("taboola", MARKETING),
        ("outbrain", MARKETING),
        ("mgid", MARKETING),
        ("revcontent", MARKETING),
        ("plista", MARKETING),
        ("ligatus", MARKETING),
        ("the-trade-desk", MARKETING),
        ("liveramp", MARKETING),
        ("id5", MARKETING),
        ("lotame", MARKETING),
        ("oracle-bluekai", MARKETING),
        ("permutive", MARKETING),
        ("piano-composer", MARKETING),
        ("salesforce-dmp", MARKETING),
        ("adobe-audience-manager", MARKETING),
        ("quantcast", MARKETING),
        ("yahoo-advertising", MARKETING),
        ("microsoft-advertising", MARKETING),
        ("linkedin-insight", MARKETING),
        ("x-pixel", MARKETING),
        ("tiktok-pixel", MARKETING),
        ("pinterest-tag", MARKETING),
        ("snap-pixel", MARKETING),
        ("reddit-pixel", MARKETING),
        ("meta-pixel", MARKETING),
        ("facebook", MARKETING),
        ("instagram", MARKETING),
        ("x-widgets", MARKETING),
        ("tiktok-embed", MARKETING),
        ("linkedin", MARKETING),
        ("pinterest", MARKETING),
        ("reddit", MARKETING),
        ("telegram", MARKETING),
        ("vk", MARKETING),
        ("addthis", MARKETING),
        ("sharethis", MARKETING),
        ("addtoany", MARKETING),
        ("youtube", MARKETING),
        ("youtube-nocookie", MARKETING),
        ("vimeo", MARKETING),
        ("dailymotion", MARKETING),
        ("jw-player", MARKETING),
        ("brightcove", MARKETING),
        ("wistia", MARKETING),
        ("spotify", MARKETING),
        ("soundcloud", MARKETING),
        ("twitch", MARKETING),
        ("streamable", MARKETING),
        ("apple-podcasts", PREFERENCES),
        ("google-maps", MARKETING),
        ("bing-maps", MARKETING),
        ("mapbox", PREFERENCES),
        ("openstreetmap", PREFERENCES),
        ("disqus", MARKETING),
        ("facebook-comments", MARKETING),
        ("openweb", MARKETING),
        ("viafoura", PREFERENCES),
        ("coral-hosted", PREFERENCES),
        ("onesignal", MARKETING),
        ("intercom", PREFERENCES),
        ("zendesk-chat", PREFERENCES),
        ("hubspot", MARKETING),
        ("salesforce-marketing-cloud", MARKETING),
        ("braze", MARKETING),
        ("admixer", MARKETING),
        ("google-recaptcha", NECESSARY),
        ("cloudflare", NECESSARY),
        ("stripe", NECESSARY),
    ],
)
def test_key_services_exist_with_their_category(
    catalogue: Catalogue, service_id: str, category: str
) -> None:
    service = catalogue.by_id(service_id)
    assert service is not None, service_id
    assert service.category == category


def test_google_flag_marks_the_consent_mode_tags(catalogue: Catalogue) -> None:
    flagged = {s.id for s in catalogue.services if s.google}
    assert {
        "google-analytics",
        "google-tag-manager",
        "google-ads",
        "google-ad-manager",
        "google-campaign-manager",
    } <= flagged
    assert all(catalogue.by_id(i).vendor.startswith("Google") for i in flagged)  # type: ignore[union-attr]
    assert "youtube" not in flagged and "google-maps" not in flagged


def test_players_and_maps_are_embeds(catalogue: Catalogue) -> None:
    for service_id in ("youtube", "youtube-nocookie", "vimeo", "spotify", "google-maps", "disqus"):
        assert catalogue.by_id(service_id).embed, service_id  # type: ignore[union-attr]
    assert not catalogue.by_id("google-analytics").embed  # type: ignore[union-attr]


# -- hosts and URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "service_id"),
    [
        ("https://www.google-analytics.com/g/collect?v=2", "google-analytics"),
        ("https://www.googletagmanager.com/gtag/js?id=G-ABC123", "google-analytics"),
        ("https://www.googletagmanager.com/gtag/js?id=AW-99", "google-ads"),
        ("https://www.googletagmanager.com/gtag/js?id=DC-7", "google-campaign-manager"),
        ("https://www.googletagmanager.com/gtm.js?id=GTM-X", "google-tag-manager"),
        ("https://securepubads.g.doubleclick.net/tag/js/gpt.js", "google-ad-manager"),
        ("https://ad.doubleclick.net/ddm/activity/src=1", "google-campaign-manager"),
        ("//connect.facebook.net/en_US/fbevents.js", "meta-pixel"),
        ("https://www.facebook.com/tr?id=1&ev=PageView", "meta-pixel"),
        ("https://www.facebook.com/plugins/post.php?href=x", "facebook"),
        ("https://www.facebook.com/plugins/comments.php?href=x", "facebook-comments"),
        ("https://www.youtube.com/embed/abc", "youtube"),
        ("https://www.youtube-nocookie.com/embed/abc", "youtube-nocookie"),
        ("https://www.google.com/maps/embed?pb=1", "google-maps"),
        ("https://www.google.com/recaptcha/api.js", "google-recaptcha"),
        ("https://static.chartbeat.com/js/chartbeat.js", "chartbeat"),
        ("https://tt.omtrdc.net/m2/x", "adobe-target"),
        ("https://example.sc.omtrdc.net/b/ss/x", "adobe-analytics"),
        ("https://analytics.twitter.com/i/adsct", "x-pixel"),
        ("https://platform.twitter.com/widgets.js", "x-widgets"),
        ("https://cmp.quantcast.com/choice/x.js", "quantcast-choice"),
        ("https://secure.quantserve.com/quant.js", "quantcast"),
        ("https://vk.com/rtrg?p=1", "vk-pixel"),
        ("https://vk.com/video_ext.php?oid=1", "vk"),
        ("https://c.bigmir.net/?v16884267&s16884267&t2", "bigmir-counter"),
    ],
)
def test_match_url_examples(catalogue: Catalogue, url: str, service_id: str) -> None:
    service = catalogue.match_url(url)
    assert service is not None, url
    assert service.id == service_id


def test_match_url_ignores_case_port_and_userinfo(catalogue: Catalogue) -> None:
    expected = catalogue.by_id("google-analytics")
    assert catalogue.match_url("HTTPS://user:pw@WWW.Google-Analytics.COM:443/x") is expected
    assert catalogue.match_url("https://www.google-analytics.com./x") is expected


@pytest.mark.parametrize(
    "url",
    [
        "https:www.google-analytics.com/analytics.js",
        "https:/www.google-analytics.com/analytics.js",
        "https:///www.google-analytics.com/analytics.js",
        "https:\\www.google-analytics.com\\analytics.js",
        "\\\\www.google-analytics.com/analytics.js",
        "/\\www.google-analytics.com/analytics.js",
        " https://www.google-ana\tlytics.com/analytics.js\n",
        "https://www.google-analytics%2Ecom/analytics.js",
        "https://www\u3002google-analytics\uff0ecom/analytics.js",
        "https://WWW\uff0eGOOGLE-ANALYTICS\uff61COM./analytics.js",
        "https://a@www.google-analytics.com/analytics.js",
    ],
)
def test_match_url_reads_hosts_as_browsers_do(catalogue: Catalogue, url: str) -> None:
    assert catalogue.match_url(url) is catalogue.by_id("google-analytics"), url


def test_match_url_resolves_relative_urls_against_the_base(catalogue: Catalogue) -> None:
    expected = catalogue.by_id("google-analytics")
    assert catalogue.match_url("/analytics.js") is None
    assert catalogue.match_url("/analytics.js", "https://www.google-analytics.com/") is expected
    assert catalogue.match_url("analytics.js", "//www.google-analytics.com/x/") is expected


@pytest.mark.parametrize(
    "url",
    [
        "/static/app.js",
        "app.js",
        "?q=1",
        "#top",
        "data:text/javascript,alert(1)",
        "javascript:void(0)",
        "https://evilgoogle-analytics.com/x.js",
        "https://google-analytics.com.evil.example/x.js",
        "https://example.org/redirect?to=https://www.google-analytics.com/",
        "/out?u=https://connect.facebook.net/",
        "https://fonts.gstatic.com/s/roboto.woff2",
        "",
        "//",
        "https://",
        "http://[::1",
    ],
)
def test_match_url_leaves_own_and_unknown_urls_alone(catalogue: Catalogue, url: str) -> None:
    assert catalogue.match_url(url) is None


@settings(max_examples=200, deadline=None)
@given(data=st.data(), labels=st.lists(LABEL, min_size=1, max_size=3))
def test_subdomains_of_a_host_match_its_service(
    catalogue: Catalogue, data: st.DataObject, labels: list[str]
) -> None:
    host = data.draw(st.sampled_from(_all_hosts(catalogue)))[0]
    sub = ".".join([*labels, host])
    found = catalogue.match_host(sub)
    assert found is not None
    # A deeper host may belong to a more specific service, never to a less specific one.
    owner_hosts = [h for h in found.hosts if sub == h or sub.endswith("." + h)]
    assert max(map(len, owner_hosts)) >= len(host)
    assert catalogue.match_url(f"//{sub}/x.js?{labels[0]}") is found
    assert catalogue.match_url(f"https://{sub.upper()}:8443/") is found


@settings(max_examples=200, deadline=None)
@given(data=st.data(), junk=LABEL)
def test_text_glued_to_a_label_does_not_match(
    catalogue: Catalogue, data: st.DataObject, junk: str
) -> None:
    host = data.draw(st.sampled_from(_all_hosts(catalogue)))[0]
    claimed = {h for h, _ in _all_hosts(catalogue)}
    glued_before = junk + host
    assume(glued_before not in claimed)
    # The glued host is a sibling, not a subdomain: only the parent domain may answer.
    assert catalogue.match_host(glued_before) is catalogue.match_host(host.partition(".")[2])
    assert catalogue.match_host(host + junk) is None
    assert catalogue.match_url(f"https://{host}{junk}/x.js") is None


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_arbitrary_text_never_raises(catalogue: Catalogue, text: str) -> None:
    for candidate in (text, "//" + text, "https://" + text, "http://[" + text):
        found = catalogue.match_url(candidate)
        assert found is None or isinstance(found, Service)
    assert catalogue.match_host(text) is None or "." in text.strip().lower().rstrip(".")
    found = catalogue.match_inline(text)
    assert found is None or isinstance(found, Service)
    cookie = catalogue.match_cookie(text)
    assert cookie is None or cookie[1].matches(text)


def test_not_trackers_are_never_held_back(catalogue: Catalogue) -> None:
    hosts = not_tracker_hosts()
    assert {"code.jquery.com", "cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com"} <= hosts
    for host in hosts:
        assert catalogue.match_host(host) is None, host
        assert catalogue.match_url(f"https://{host}/lib/1.0/lib.min.js") is None, host
        snippet = f"var s=document.createElement('script');s.src='https://{host}/lib.js';"
        assert catalogue.match_inline(snippet) is None, host


def test_an_operator_service_wins_over_a_shipped_host() -> None:
    own = Service(
        id="house-ads",
        name="House ads",
        vendor="Example Media Ltd",
        category=MARKETING,
        hosts=("ads.example.org", "securepubads.g.doubleclick.net"),
        inline=(),
        cookies=(),
        privacy_policy="https://example.org/privacy",
    )
    loaded = Catalogue.load(extra=[own])
    assert loaded.match_url("https://ads.example.org/x.js") is own
    assert loaded.match_url("https://securepubads.g.doubleclick.net/tag/js/gpt.js") is own
    assert loaded.by_id("google-ad-manager") is not None
    alone = Catalogue.load(extra=[own], include_builtin=False)
    assert alone.services == (own,)
    assert alone.match_url("https://www.google-analytics.com/") is None


# -- inline snippets -----------------------------------------------------------------------

GTAG = """
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-3XAMPLE42');
"""
GTM = """(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-ABCD12');"""
META_PIXEL = """!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;
n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,
document,'script','https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '123456789012345');
fbq('track', 'PageView');"""
MATOMO = """var _paq = window._paq = window._paq || [];
_paq.push(['trackPageView']);
_paq.push(['enableLinkTracking']);
(function() {
  var u="https://stats.example-news.org/";
  _paq.push(['setTrackerUrl', u+'matomo.php']);
  _paq.push(['setSiteId', '3']);
  var d=document, g=d.createElement('script'), s=d.getElementsByTagName('script')[0];
  g.async=true; g.src=u+'matomo.js'; s.parentNode.insertBefore(g,s);
})();"""
HOTJAR = """(function(h,o,t,j,a,r){
    h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
    h._hjSettings={hjid:1234567,hjsv:6};
    a=o.getElementsByTagName('head')[0];
    r=o.createElement('script');r.async=1;
    r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
    a.appendChild(r);
})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');"""
CHARTBEAT = """(function() {
  var _sf_async_config = window._sf_async_config = (window._sf_async_config || {});
  _sf_async_config.uid = 12345;
  _sf_async_config.domain = 'example-news.org';
  _sf_async_config.useCanonical = true;
  function loadChartbeat() {
    var e = document.createElement('script');
    var n = document.getElementsByTagName('script')[0];
    e.type = 'text/javascript';
    e.async = true;
    e.src = '//static.chartbeat.com/js/chartbeat.js';
    n.parentNode.insertBefore(e, n);
  }
  loadChartbeat();
})();"""
COMSCORE = """var _comscore = _comscore || [];
_comscore.push({ c1: "2", c2: "1234567" });
(function() {
  var s = document.createElement("script"), el = document.getElementsByTagName("script")[0];
  s.async = true;
  s.src = "https://sb.scorecardresearch.com/cs/1234567/beacon.js";
  el.parentNode.insertBefore(s, el);
})();"""
CLARITY = """(function(c,l,a,r,i,t,y){
    c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
    t=l.createElement(r);t.async=1;t.src="https://www.clarity.ms/tag/"+i;
    y=l.getElementsByTagName(r)[0];y.parentNode.insertBefore(t,y);
})(window, document, "clarity", "script", "abcdefghij");"""
ADSENSE = "(adsbygoogle = window.adsbygoogle || []).push({});"
YANDEX = """(function(m,e,t,r,i,k,a){m[i]=m[i]||function(){(m[i].a=m[i].a||[]).push(arguments)};
m[i].l=1*new Date();k=e.createElement(t),a=e.getElementsByTagName(t)[0],k.async=1,k.src=r,
a.parentNode.insertBefore(k,a)})(window, document, "script",
"https://mc.yandex.ru/metrika/tag.js", "ym");
ym(12345678, "init", {clickmap:true, trackLinks:true, accurateTrackBounce:true});"""


@pytest.mark.parametrize(
    ("snippet", "service_id"),
    [
        (GTAG, "google-analytics"),
        (GTM, "google-tag-manager"),
        (META_PIXEL, "meta-pixel"),
        (MATOMO, "matomo-cloud"),
        (HOTJAR, "hotjar"),
        (CHARTBEAT, "chartbeat"),
        (COMSCORE, "comscore"),
        (CLARITY, "microsoft-clarity"),
        (ADSENSE, "google-adsense"),
        (YANDEX, "yandex-metrica"),
    ],
)
def test_inline_snippets_are_recognised(
    catalogue: Catalogue, snippet: str, service_id: str
) -> None:
    found = catalogue.match_inline(snippet)
    assert found is not None
    assert found.id == service_id
    # Surrounding page code changes nothing.
    wrapped = f"console.log('ready');\n{snippet}\nwindow.siteReady = true;"
    assert catalogue.match_inline(wrapped) is found


def test_a_host_mention_identifies_a_loader(catalogue: Catalogue) -> None:
    snippet = "var s=document.createElement('script');s.src='https://cdn.taboola.com/x/loader.js';"
    assert catalogue.match_inline(snippet) is catalogue.by_id("taboola")
    glued = "var s=document.createElement('script');s.src='https://cdn.nottaboola.com/x.js';"
    assert catalogue.match_inline(glued) is None


def test_a_signature_outranks_an_earlier_host_mention(catalogue: Catalogue) -> None:
    text = "var pre = 'https://static.chartbeat.com/'; " + GTAG
    assert catalogue.match_inline(text) is catalogue.by_id("google-analytics")


def test_share_links_in_scripts_are_not_embeds(catalogue: Catalogue) -> None:
    share = (
        "function share(u){window.open('https://www.facebook.com/sharer/sharer.php?u='+u);"
        "window.open('https://twitter.com/intent/tweet?url='+u);"
        "window.open('https://t.me/share/url?url='+u);}"
    )
    assert catalogue.match_inline(share) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "document.querySelector('.menu').classList.toggle('open');",
        '{"@context":"https://schema.org","@type":"NewsArticle","headline":"Rain"}',
        "var init = function(){ return 'init'; }; obj.push(1); app.load('x');",
    ],
)
def test_ordinary_scripts_are_not_trackers(catalogue: Catalogue, text: str) -> None:
    assert catalogue.match_inline(text) is None


@settings(max_examples=100, deadline=None)
@given(data=st.data(), before=st.text(max_size=40), after=st.text(max_size=40))
def test_every_signature_is_found_in_any_context(
    catalogue: Catalogue, data: st.DataObject, before: str, after: str
) -> None:
    service = data.draw(st.sampled_from([s for s in catalogue.services if s.inline]))
    signature = data.draw(st.sampled_from(service.inline))
    if url_piece(signature):
        # A piece of the vendor's URL counts where the script loads it.
        signature = f"s=document.createElement('script');s.src='//{signature}"
    found = catalogue.match_inline(before + signature + after)
    assert found is not None
    # Another service's signature may come first in the random context, never a bare host.
    assert found is service or any(sig in before + signature + after for sig in found.inline)


def url_piece(signature: str) -> bool:
    return not re.search(r"[(=\[]|\.push\b|\.cmd\b|\.que\b|^window\.|^_|\b_[a-z]", signature)


def test_a_url_piece_in_a_string_or_setting_is_no_tag(catalogue: Catalogue) -> None:
    pieces = [(s, sig) for s in catalogue.services for sig in s.inline if url_piece(sig)]
    assert len(pieces) > 100
    for service, signature in pieces:
        setting = f'window.siteConfig = {{"vendorUrl": "https://{signature}", "lang": "en"}};'
        assert catalogue.match_inline(setting) is None, signature
        loader = f"var s=document.createElement('script');s.src='https://{signature}';"
        found = catalogue.match_inline(loader)
        assert found is not None, signature
        assert found is service or any(sig in loader for sig in found.inline), signature


# Pieces of what fetches, near misses of them, and the characters between them.
LOADER_PIECES = [
    "createElement(",
    "createElement (",
    ".src=",
    ".src==",
    "['src'] = ",
    'setAttribute("href"',
    "new Image",
    "new Images",
    "sendBeacon(",
    "fetch(",
    "prefetch(",
    "XMLHttpRequest",
    "document . write",
    "importScripts(",
    "$.post(",
    ".getScript(",
    ".getJSON(",
    ".ajax(",
    "innerHTML +=x",
    "innerHTML==",
    "insertAdjacentHTML(",
]
script_like = st.lists(
    st.sampled_from(LOADER_PIECES) | st.text(alphabet="src.=( '\"[]$+fetchImage\n", max_size=6),
    max_size=24,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(text=script_like, start=st.integers(-20, 300), length=st.integers(0, 300))
def test_the_loader_words_answer_as_the_expression_does(text: str, start: int, length: int) -> None:
    end = max(0, start) + length
    found = LOADS.search(text, max(0, start), end) is not None
    assert loads_near(text, start, end) is found
    # Without a loader word nothing in the whole script fetches.
    assert may_load(text) or LOADS.search(text) is None


# Every branch of LOADS, with white space where a branch allows it (of kinds that ``\\s``
# and ``str.isspace`` both take), and the near misses around them.
LOADER_EXAMPLES = [
    "createElement \t(",
    ".src \n= x",
    "[ \xa0'src' ]\u2028 = x",
    "setAttribute( 'href'",
    "new \n\t Image",
    "sendBeacon (",
    "fetch  (",
    "XMLHttpRequest",
    "document \n . \u3000 write",
    "importScripts (",
    ".getScript (",
    ".getJSON(",
    ".ajax (",
    "$.post (",
    "innerHTML  += x",
    "insertAdjacentHTML (",
]
spaced_loader_like = st.lists(
    st.sampled_from(LOADER_EXAMPLES)
    | st.sampled_from(["document", "new", "Image", "write", "src", "'", "[", ".", "=", "(", "f"])
    | st.text(alphabet=" \t\n\xa0\u2028\x1cx.=", max_size=5),
    max_size=12,
).map("".join)


def test_every_loader_example_is_a_match_of_its_own_branch() -> None:
    assert len(LOADER_EXAMPLES) == len(catalogue_module._LOADERS)
    for example, (word, branch) in zip(LOADER_EXAMPLES, catalogue_module._LOADERS, strict=True):
        assert re.match(branch, example), example
        lead = example[: example.index(word)]
        most = catalogue_module._LOADER_LEADS.get(word, 0)
        assert sum(not c.isspace() for c in lead) <= most, example


@settings(max_examples=400, deadline=None)
@given(text=spaced_loader_like, start=st.integers(-5, 80), length=st.integers(0, 80))
def test_loaders_with_white_space_answer_as_the_expression_does(
    text: str, start: int, length: int
) -> None:
    end = max(0, start) + length
    assert loads_near(text, start, end) is (LOADS.search(text, max(0, start), end) is not None)


def test_a_loader_is_found_from_every_start_and_to_every_end() -> None:
    for example in LOADER_EXAMPLES:
        text = "x" * 30 + example + " y"
        for start in range(len(text) + 1):
            for end in range(start, len(text) + 1):
                expected = LOADS.search(text, start, end) is not None
                assert loads_near(text, start, end) is expected, (example, start, end)


def test_a_script_without_any_loader_word_may_not_load() -> None:
    assert not may_load("document.querySelector('.menu').classList.toggle('open');")
    assert may_load("var i = new Image(); i.src = u;")
    text = "x" * 5000 + "s.src='https://t.example/p'" + "x" * 5000
    at = text.index(".src")
    assert loads_near(text, at - 10, at + 10)
    assert not loads_near(text, at + 1, at + 100)
    assert not loads_near(text, 0, at)


def test_operator_inline_signature_without_anchor_is_rejected() -> None:
    with pytest.raises(CatalogueError, match="inline signature 'nopunctuation'"):
        Catalogue.from_config([{**GOOD, "inline": ["nopunctuation"]}])


# -- cookies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "service_id"),
    [
        ("_ga", "google-analytics"),
        ("_ga_ABC123DEF", "google-analytics"),
        ("_gid", "google-analytics"),
        ("_pk_id.1.1fff", "matomo-cloud"),
        ("_hjSessionUser_1234567", "hotjar"),
        ("AMCV_ABCDEF0123456789%40AdobeOrg", "adobe-analytics"),
        ("_fbp", "meta-pixel"),
        ("_gcl_au", "google-ads"),
        ("__gads", "google-ad-manager"),
        ("_cb", "chartbeat"),
        ("_ym_uid", "yandex-metrica"),
        ("intercom-session-abc", "intercom"),
        ("__cf_bm", "cloudflare"),
        ("visid_incap_12345", "imperva"),
    ],
)
def test_cookie_names_and_patterns_match(catalogue: Catalogue, name: str, service_id: str) -> None:
    found = catalogue.match_cookie(name)
    assert found is not None, name
    service, spec = found
    assert service.id == service_id
    assert spec.matches(name)


def test_unknown_cookies_do_not_match(catalogue: Catalogue) -> None:
    for name in ("sessionid", "csrftoken", "consent", "_gax", "ga", "x_ga_1", "_pk_idx"):
        assert catalogue.match_cookie(name) is None, name


def test_party_filter_protects_generic_first_party_names(catalogue: Catalogue) -> None:
    found = catalogue.match_cookie("uid")
    assert found is not None and found[1].party == "third"
    assert catalogue.match_cookie("uid", party="first") is None
    first = catalogue.match_cookie("_ga", party="first")
    assert first is not None and first[0].id == "google-analytics"
    assert catalogue.match_cookie("IDE", party="first") is None
    assert catalogue.match_cookie("_pk_id.4.abcd", party="third") is None


@settings(max_examples=200, deadline=None)
@given(data=st.data(), filler=st.text(alphabet=string.ascii_letters + string.digits + "._-"))
def test_every_cookie_spec_is_found_by_its_own_name(
    catalogue: Catalogue, data: st.DataObject, filler: str
) -> None:
    pairs = [(s, c) for s in catalogue.services for c in s.cookies]
    spec = data.draw(st.sampled_from(pairs))[1]
    name = (
        spec.name.replace("*", filler).replace("?", filler[:1] or "x")
        if spec.pattern
        else spec.name
    )
    assume(name)
    assert spec.matches(name)
    found = catalogue.match_cookie(name, party=spec.party)
    assert found is not None
    assert found[1].matches(name) and found[1].party == spec.party


def test_patterns_are_found_whatever_their_literal_start() -> None:
    """Patterns are indexed by their first literal characters; those that start with a
    wildcard or a short literal are compared with every name."""

    def service(sid: str, *cookies: tuple[str, str]) -> Service:
        specs = tuple(
            CookieSpec(name, "*" in name or "?" in name, 1, party, "x") for name, party in cookies
        )
        return Service(sid, sid, sid, ANALYTICS, (), (), specs, "https://x.example", source="x")

    catalogue = Catalogue(
        [
            service("tail", ("*_tail", "first")),
            service("short", ("ab*", "third"), ("q?", "first")),
            service("third", ("_xy_*", "third")),
            service("first", ("_xy_*", "first"), ("_xyz*", "first")),
        ]
    )
    expected = {
        "anything_tail": "tail",
        "abc": "short",
        "qz": "short",
        "_xy_1": "first",  # first-party declarations come first
        "_xyz": "first",
        "ab_tail": "tail",  # the earlier service wins a name two patterns match
    }
    for name, sid in expected.items():
        found = catalogue.match_cookie(name)
        assert found is not None and found[0].id == sid, name
    third = catalogue.match_cookie("_xy_1", party="third")
    assert third is not None and third[0].id == "third"
    assert catalogue.match_cookie("abc", party="first") is None
    for name in ("a", "q", "qzz", "_x", "_xa", "xy_1", ""):
        assert catalogue.match_cookie(name) is None, name


def test_cookie_spec_globs() -> None:
    spec = CookieSpec("_ga_*", pattern=True, lifetime_days=730, party="first", purpose="x")
    assert spec.matches("_ga_X") and spec.matches("_ga_")
    assert not spec.matches("_ga") and not spec.matches("x_ga_1")
    exact = CookieSpec("_ga_*", pattern=False, lifetime_days=1, party="first", purpose="x")
    assert exact.matches("_ga_*") and not exact.matches("_ga_X")


def test_cookies_by_category_lists_every_cookie_once(catalogue: Catalogue) -> None:
    grouped = catalogue.cookies_by_category()
    assert set(grouped) <= set(DEFAULT_CATEGORY_IDS)
    total = sum(len(s.cookies) for s in catalogue.services)
    assert sum(map(len, grouped.values())) == total
    for category, entries in grouped.items():
        assert all(service.category == category for service, _ in entries)
    assert any(spec.name == "_ga" for _, spec in grouped[ANALYTICS])


# -- loading and operator configuration ----------------------------------------------------

GOOD = {
    "id": "own-stats",
    "name": "Own statistics",
    "vendor": "Example Media Ltd",
    "category": ANALYTICS,
    "hosts": ["stats.example.org"],
    "inline": ["ownStats.track("],
    "cookies": [
        {
            "name": "own_*",
            "pattern": True,
            "lifetime_days": 30,
            "party": "first",
            "purpose": "Visitor identifier.",
        }
    ],
    "privacy_policy": "https://example.org/privacy",
}


def test_operator_tables_become_services() -> None:
    loaded = Catalogue.from_config([GOOD])
    own = loaded.by_id("own-stats")
    assert own is not None and own.category == ANALYTICS
    assert loaded.match_url("https://stats.example.org/p.gif") is own
    assert loaded.match_inline("ownStats.track('view');") is own
    match = loaded.match_cookie("own_visitor")
    assert match is not None and match[0] is own and match[1].lifetime_days == 30


def test_an_operator_may_recategorise_a_shipped_service() -> None:
    shipped = Catalogue.builtin().by_id("google-tag-manager")
    assert shipped is not None
    loaded = Catalogue.from_config([{"id": "google-tag-manager", "category": ANALYTICS}])
    changed = loaded.by_id("google-tag-manager")
    assert changed is not None and changed.category == ANALYTICS
    assert changed.hosts == shipped.hosts and changed.google
    assert loaded.match_url("https://www.googletagmanager.com/gtm.js?id=GTM-1") is changed
    assert service_from_mapping({"id": "youtube", "category": PREFERENCES}).hosts == (
        Catalogue.builtin().by_id("youtube").hosts  # type: ignore[union-attr]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown keys"),
        ({"category": "tracking"}, "category 'tracking'"),
        ({"privacy_policy": "http://example.org/privacy"}, "https"),
        ({"hosts": ["Stats.Example.org"]}, "lower-case host"),
        ({"hosts": ["https://stats.example.org/"]}, "lower-case host"),
        ({"vendor": " "}, "vendor"),
        (
            {"cookies": [{"name": "x", "lifetime_days": 1, "party": "fourth", "purpose": "y"}]},
            "party",
        ),
        (
            {"cookies": [{"name": "x", "lifetime_days": "1", "party": "first", "purpose": "y"}]},
            "lifetime_days",
        ),
        ({"hosts": "stats.example.org"}, "list"),
    ],
)
def test_invalid_services_are_refused_with_the_id(change: dict[str, object], message: str) -> None:
    with pytest.raises(CatalogueError, match=message) as error:
        Catalogue.from_config([{**GOOD, **change}])
    assert "own-stats" in str(error.value)


def test_parse_errors_name_the_file() -> None:
    with pytest.raises(CatalogueError, match=r"analytics\.toml: service 'x': missing keys"):
        parse_service({"id": "x", "name": "X"}, origin="analytics.toml")


def test_duplicate_operator_ids_are_refused() -> None:
    with pytest.raises(CatalogueError, match="defined twice"):
        Catalogue.from_config([GOOD, GOOD])


def test_custom_categories_are_accepted_when_configured() -> None:
    table = {**GOOD, "category": "functional"}
    with pytest.raises(CatalogueError, match="functional"):
        Catalogue.from_config([table])
    loaded = Catalogue.from_config([table], categories=(*DEFAULT_CATEGORY_IDS, "functional"))
    assert loaded.by_id("own-stats").category == "functional"  # type: ignore[union-attr]
    with pytest.raises(CatalogueError, match="not configured"):
        Catalogue.load(categories=(NECESSARY, ANALYTICS))


# -- remembered answers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def url_claims(catalogue: Catalogue) -> list[str]:
    """Hosts and ``urls`` rules of the shipped services, the spellings the host cache keys."""
    return [claim for service in catalogue.services for claim in (*service.hosts, *service.urls)]


@pytest.fixture(scope="module")
def path_read(catalogue: Catalogue) -> Catalogue:
    """The same services answering every URL by its host and path, nothing remembered."""
    reader = Catalogue(catalogue.services)
    reader._host_alone_cached = lambda host: (None, True)  # type: ignore[assignment]
    reader._match_url_cached = reader._match_url  # type: ignore[assignment]
    reader._match_host_cached = reader._match_host  # type: ignore[assignment]
    return reader


@settings(max_examples=400, deadline=None)
@given(data=st.data(), sub=st.sampled_from(["", "www.", "x1."]), path=st.text(max_size=12))
def test_answers_by_host_agree_with_reading_every_path(
    catalogue: Catalogue,
    path_read: Catalogue,
    url_claims: list[str],
    data: st.DataObject,
    sub: str,
    path: str,
) -> None:
    host, _, rule_path = data.draw(st.sampled_from(url_claims)).partition("/")
    # A URL on the claimed host or under it, on the rule's path or beside it.
    url = f"https://{sub}{host}/{data.draw(st.sampled_from([rule_path, '']))}{path}"
    assert catalogue.match_url(url) is path_read.match_url(url)
    assert catalogue.match_host(sub + host) is path_read.match_host(sub + host)


def test_answers_by_host_are_bounded(catalogue: Catalogue) -> None:
    fresh = Catalogue(catalogue.services)
    for i in range(HOST_CACHE_SIZE + 50):
        fresh.match_url(f"https://h{i}.example/a.js")
        fresh.match_host(f"h{i}.example")
    for cached in (fresh._host_alone_cached, fresh._match_host_cached):
        assert cached.cache_info().currsize == HOST_CACHE_SIZE
    assert fresh.match_url("https://www.google-analytics.com/analytics.js") is catalogue.by_id(
        "google-analytics"
    )


@pytest.fixture(scope="module")
def twins() -> tuple[Catalogue, Catalogue]:
    """The built-in services searched with the compiled extension, and with expressions only."""
    services = Catalogue.builtin().services
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalogue_module, "_speedups", speedups())
        compiled = Catalogue(services)
        patch.setattr(catalogue_module, "_speedups", None)
        python = Catalogue(services)
    return compiled, python


def test_the_inline_searches_use_the_extension_where_it_is_built(
    twins: tuple[Catalogue, Catalogue],
) -> None:
    compiled, python = twins
    for catalogue in twins:
        assert catalogue._sig_search is not None and catalogue._host_search is not None
    assert compiled._sig_search._compiled is not None  # type: ignore[union-attr]
    assert compiled._host_search._compiled is not None  # type: ignore[union-attr]
    assert python._sig_search._compiled is None  # type: ignore[union-attr]


def _inline_pieces() -> list[str]:
    builtin = Catalogue.builtin()
    signatures = sorted({sig for s in builtin.services for sig in s.inline})
    hosts = sorted({h for s in builtin.services if s.inline_hosts for h in s.hosts})
    # Whole signatures and hosts, and their beginnings and ends: near misses of each literal,
    # and literals that overlap or stand inside one another.
    pieces = set(signatures) | set(hosts)
    for word in signatures + hosts:
        for cut in (1, 3, len(word) // 2, len(word) - 1):
            pieces.update((word[:cut], word[cut:]))
    return sorted(p for p in pieces if p)


INLINE_PIECES = _inline_pieces()
inline_like = st.lists(
    st.sampled_from(INLINE_PIECES)
    | st.sampled_from(LOADER_PIECES)
    | st.text(alphabet="./'\"( =:\\#?;,&)_-ab\n\t\x0b\x1c\x85\xa0\xe9", max_size=4)
    | st.text(max_size=2),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=inline_like, padding=st.integers(0, 1100))
def test_inline_matches_are_the_same_with_and_without_the_extension(
    twins: tuple[Catalogue, Catalogue], text: str, padding: int
) -> None:
    compiled, python = twins
    assert compiled._match_inline(text) is python._match_inline(text)
    # Far from what fetches, and in a text of a wider kind, which the expressions search.
    far = "x" * padding + text
    assert compiled._match_inline(far) is python._match_inline(far)
    wide = text + "\u0100"
    assert compiled._match_inline(wide) is python._match_inline(wide)
    for name in ("_sig_search", "_host_search"):
        fast, slow = getattr(compiled, name), getattr(python, name)
        for pos in range(-1, len(text) + 2):
            assert fast.search(text, pos) == slow.search(text, pos), (name, pos)


def _search_of(catalogue: Catalogue, name: str) -> tuple[LiteralSearch, Sequence[str]]:
    """One of the catalogue's literal searches, which it must have, and its literals."""
    search = getattr(catalogue, name)
    assert isinstance(search, LiteralSearch)
    return search, search.words


def test_a_signature_search_takes_the_longest_literal_at_the_earliest_start(
    twins: tuple[Catalogue, Catalogue],
) -> None:
    for catalogue in twins:
        search, words = _search_of(catalogue, "_sig_search")
        # Literals that begin other literals: the longer one is the answer where both start.
        pairs = [(a, b) for a in words for b in words if a != b and b.startswith(a)]
        assert pairs
        for short, long in pairs:
            text = "x" + long + short
            longest = max((w for w in words if text.startswith(w, 1)), key=len)
            assert search.search(text) == (1, 1 + len(longest), words.index(longest))
            assert search.search(text, 2) is not None


def test_a_host_ending_counts_only_before_the_end_of_a_host(
    twins: tuple[Catalogue, Catalogue],
) -> None:
    for catalogue in twins:
        search, words = _search_of(catalogue, "_host_search")
        assert ".co" in words and ".com" in words
        assert search.search("a.com/") == (1, 5, words.index(".com"))
        # ".com" cannot end here, so the shorter ending that can is the match.
        assert search.search("a.co\u00a0m") == (1, 4, words.index(".co"))
        assert search.search("a.comx") is None
        assert search.search("a.com") == (1, 5, words.index(".com"))
        assert search.search("a.com\n") == (1, 5, words.index(".com"))
        assert search.search("a.com\u0100/") is None
        assert search.search("a.com\u2028") == (1, 5, words.index(".com"))


def test_a_literal_search_refuses_what_it_cannot_answer_as_the_expression() -> None:
    with pytest.raises(ValueError, match="empty"):
        catalogue_module.LiteralSearch(["a", ""])
    with pytest.raises(ValueError, match="end the text"):
        catalogue_module.LiteralSearch(["a"], "(?=x)")
    with pytest.raises(ValueError, match="final newline"):
        catalogue_module.LiteralSearch(["a"], "(?=[x]|$)")
