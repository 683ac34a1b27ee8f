"""News pages shaped like real ones: third-party tags in the forms their vendors document
(external scripts, inline loaders that build their own ``<script>``, iframes, no-script
pixels, preload hints), next to libraries, the site's own code and author-marked elements.

A snippet's expected category is looked up in the catalogue by service id; only elements a
site author marks carry a category written here, and that is the author's input.
Each snippet sits between ``<!-- snippet:KEY -->`` and ``<!-- /snippet:KEY -->`` so that a
parsed page can be traced back to the snippet every element came from.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from consent.catalogue import Catalogue, Service

CATALOGUE = Catalogue.builtin()
SITE_HOST = "www.news.example"


@dataclass(frozen=True, slots=True)
class Snippet:
    """One pasted tag, or one piece of the site's own markup.

    ``category`` is None for markup that must never wait (libraries, first-party code, data
    blocks, necessary services). ``hosts`` are the third-party hosts the snippet contacts
    once it runs, including those its loader builds at run time.
    """

    key: str
    markup: str
    category: str | None
    hosts: tuple[str, ...] = ()
    service: Service | None = None
    place: str = "body"  # "head" or "body"

    @property
    def embed(self) -> bool:
        return self.service is not None and self.service.embed

    @property
    def urls(self) -> tuple[str, ...]:
        """Absolute URLs in the snippet's own fetching attributes."""
        return tuple(e.url for e in parse(self.markup).fetches if e.host is not None)

    @property
    def scripts(self) -> tuple[str, ...]:
        """The text of the snippet's inline scripts that a browser would run."""
        return tuple(e.text for e in parse(self.markup).elements if e.runs_inline)

    def wrapped(self) -> str:
        return f"<!-- snippet:{self.key} -->{self.markup}<!-- /snippet:{self.key} -->"


def service(service_id: str) -> Service:
    found = CATALOGUE.by_id(service_id)
    if found is None:
        raise LookupError(f"the catalogue has no service {service_id!r}")
    return found


def tag(service_id: str, markup: str, *hosts: str, place: str = "body", key: str = "") -> Snippet:
    known = service(service_id)
    return Snippet(key or service_id, markup.strip(), known.category, hosts, known, place)


def own(key: str, markup: str, *hosts: str, place: str = "body") -> Snippet:
    return Snippet(key, markup.strip(), None, hosts, None, place)


def marked(key: str, markup: str, category: str, *hosts: str, place: str = "body") -> Snippet:
    return Snippet(key, markup.strip(), category, hosts, None, place)


# ----- tags publishers paste --------------------------------------------------------------

TRACKERS: tuple[Snippet, ...] = (
    tag(
        "google-tag-manager",
        """
<script>
  (function (w, d, layer, containerId) {
    w[layer] = w[layer] || [];
    w[layer].push({"gtm.start": new Date().getTime(), event: "gtm.js"});
    var tag = d.createElement("script");
    tag.async = true;
    tag.src = "https://www.googletagmanager.com/gtm.js?id=" + containerId;
    d.head.appendChild(tag);
  })(window, document, "dataLayer", "GTM-N3WS42");
</script>""",
        "www.googletagmanager.com",
        place="head",
    ),
    tag(
        "google-tag-manager",
        """
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-N3WS42"
  height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>""",
        "www.googletagmanager.com",
        key="google-tag-manager-noscript",
    ),
    tag(
        "google-analytics",
        """
<script async src="https://www.googletagmanager.com/gtag/js?id=G-NEWS2026"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag() { dataLayer.push(arguments); }
  gtag('js', new Date());
  gtag('config', 'G-NEWS2026', {cookie_flags: 'SameSite=Lax'});
</script>""",
        "www.googletagmanager.com",
        "region1.google-analytics.com",
        place="head",
    ),
    tag(
        "google-ads",
        """
<script async src="https://www.googletagmanager.com/gtag/js?id=AW-987654321"></script>""",
        "www.googletagmanager.com",
        "googleads.g.doubleclick.net",
        place="head",
    ),
    tag(
        "meta-pixel",
        """
<script>
  !function (w, d, src) {
    if (w.fbq) return;
    var q = w.fbq = function () {
      q.callMethod ? q.callMethod.apply(q, arguments) : q.queue.push(arguments);
    };
    q.push = q; q.loaded = true; q.version = "2.0"; q.queue = [];
    var s = d.createElement("script"); s.async = true; s.src = src;
    d.head.appendChild(s);
  }(window, document, "https://connect.facebook.net/en_US/fbevents.js");
  fbq('init', '1234567890123456');
  fbq('track', 'PageView');
</script>""",
        "connect.facebook.net",
        "www.facebook.com",
        place="head",
    ),
    tag(
        "meta-pixel",
        """
<noscript><img height="1" width="1" style="display:none" alt=""
  src="https://www.facebook.com/tr?id=1234567890123456&amp;ev=PageView&amp;noscript=1"/></noscript>""",
        "www.facebook.com",
        key="meta-pixel-noscript",
    ),
    tag(
        "google-ad-manager",
        """
<link rel="preload" href="https://securepubads.g.doubleclick.net/tag/js/gpt.js" as="script">
<script async src="https://securepubads.g.doubleclick.net/tag/js/gpt.js"></script>
<script>
  window.googletag = window.googletag || {cmd: []};
  googletag.cmd.push(function () {
    googletag.defineSlot('/21700000/news/top', [[728, 90], [970, 250]], 'ad-top')
      .addService(googletag.pubads());
    googletag.pubads().enableSingleRequest();
    googletag.enableServices();
  });
</script>""",
        "securepubads.g.doubleclick.net",
        place="head",
    ),
    tag(
        "google-ad-manager",
        """
<div id="ad-top" class="ad-slot">
  <script>googletag.cmd.push(function () { googletag.display('ad-top'); });</script>
</div>""",
        "securepubads.g.doubleclick.net",
        key="google-ad-manager-slot",
    ),
    tag(
        "prebid",
        """
<script>
  var pbjs = window.pbjs || {}; pbjs.que = pbjs.que || [];
  pbjs.que.push(function () {
    pbjs.addAdUnits([{code: 'ad-top', mediaTypes: {banner: {sizes: [[728, 90]]}},
      bids: [{bidder: 'appnexus', params: {placementId: 13144370}}]}]);
    pbjs.requestBids({timeout: 1000});
  });
</script>""",
        "ib.adnxs.com",
        place="head",
    ),
    tag(
        "amazon-publisher-services",
        """
<script>
  (function (win, name, src) {
    function queue(method, args) { win[name]._Q.push([method, args]); }
    if (win[name]) return;
    win[name] = {
      init: function () { queue("i", arguments); },
      fetchBids: function () { queue("f", arguments); },
      _Q: []
    };
    var s = document.createElement("script"); s.async = true; s.src = src;
    document.head.appendChild(s);
  })(window, "apstag", "https://c.amazon-adsystem.com/aax2/apstag.js");
  apstag.init({pubID: 'a1b2c3d4-0000', adServer: 'googletag'});
</script>""",
        "c.amazon-adsystem.com",
        "aax.amazon-adsystem.com",
        place="head",
    ),
    tag(
        "criteo",
        """
<script async src="https://static.criteo.net/js/ld/publishertag.js"></script>
<script>
  window.criteo_q = window.criteo_q || [];
  window.criteo_q.push({event: "setAccount", account: 54321});
</script>""",
        "static.criteo.net",
        "bidder.criteo.com",
    ),
    tag(
        "taboola",
        """
<script>
  window._taboola = window._taboola || [];
  _taboola.push({article: 'auto'});
  !function (el, before, src, id) {
    if (document.getElementById(id)) return;
    el.async = 1; el.src = src; el.id = id;
    before.parentNode.insertBefore(el, before);
  }(document.createElement('script'), document.getElementsByTagName('script')[0],
    '//cdn.taboola.com/libtrc/examplenews/loader.js', 'tb_loader_script');
</script>""",
        "cdn.taboola.com",
        "trc.taboola.com",
        place="head",
    ),
    tag(
        "taboola",
        """
<div id="taboola-below-article-thumbnails"></div>
<script>
  window._taboola = window._taboola || [];
  _taboola.push({mode: 'thumbnails-a', container: 'taboola-below-article-thumbnails',
    placement: 'Below Article Thumbnails', target_type: 'mix'});
</script>""",
        "trc.taboola.com",
        key="taboola-widget",
    ),
    tag(
        "outbrain",
        """
<div class="OUTBRAIN" data-src="https://www.news.example/news/night-trams-return"
  data-widget-id="AR_1"></div>
<script async src="//widgets.outbrain.com/outbrain.js"></script>""",
        "widgets.outbrain.com",
        "mv.outbrain.com",
    ),
    tag(
        "chartbeat",
        """
<link rel="dns-prefetch" href="//static.chartbeat.com">
<script>
  (function () {
    var config = window._sf_async_config = (window._sf_async_config || {});
    config.uid = 65432; config.domain = 'news.example'; config.useCanonical = true;
    config.sections = 'City'; config.authors = 'Night Desk';
  })();
</script>
<script async src="//static.chartbeat.com/js/chartbeat.js"></script>""",
        "static.chartbeat.com",
        "ping.chartbeat.net",
        place="head",
    ),
    tag(
        "parsely",
        """
<script id="parsely-cfg" src="//cdn.parsely.com/keys/news.example/p.js"></script>""",
        "cdn.parsely.com",
        "p1.parsely.com",
    ),
    tag(
        "comscore",
        """
<script>
  var _comscore = _comscore || [];
  _comscore.push({c1: "2", c2: "7654321", options: {enableFirstPartyCookie: true}});
  (function () {
    var s = document.createElement("script");
    s.async = true; s.src = "https://sb.scorecardresearch.com/cs/7654321/beacon.js";
    document.head.appendChild(s);
  })();
</script>
<noscript><img src="https://sb.scorecardresearch.com/p?c1=2&amp;c2=7654321&amp;cv=4.4.0&amp;cj=1"
  alt=""></noscript>""",
        "sb.scorecardresearch.com",
    ),
    tag(
        "hotjar",
        """
<script>
  (function (w, d, base, ext) {
    w.hj = w.hj || function () { (w.hj.q = w.hj.q || []).push(arguments); };
    w._hjSettings = {hjid: 3456789, hjsv: 6};
    var s = d.createElement('script'); s.async = 1;
    s.src = base + w._hjSettings.hjid + ext + w._hjSettings.hjsv;
    d.head.appendChild(s);
  })(window, document, 'https://static.hotjar.com/c/hotjar-', '.js?sv=');
</script>""",
        "static.hotjar.com",
        place="head",
    ),
    tag(
        "microsoft-clarity",
        """
<script type="text/javascript">
  (function (c,l,a,r,i,t,y) {
    c[a] = c[a] || function () { (c[a].q = c[a].q || []).push(arguments); };
    t = l.createElement(r); t.async = 1; t.src = "https://www.clarity.ms/tag/" + i;
    y = l.getElementsByTagName(r)[0]; y.parentNode.insertBefore(t, y);
  })(window, document, "clarity", "script", "n3ws1234ab");
</script>""",
        "www.clarity.ms",
        place="head",
    ),
    tag(
        "matomo-cloud",
        """
<script>
  var _paq = window._paq = window._paq || [];
  _paq.push(['trackPageView']);
  _paq.push(['enableLinkTracking']);
  (function () {
    var base = "https://examplenews.matomo.cloud/";
    _paq.push(['setTrackerUrl', base + 'matomo.php']);
    _paq.push(['setSiteId', '3']);
    var g = document.createElement('script'); g.async = true;
    g.src = 'https://cdn.matomo.cloud/examplenews.matomo.cloud/matomo.js';
    document.head.appendChild(g);
  })();
</script>""",
        "cdn.matomo.cloud",
        "examplenews.matomo.cloud",
    ),
    tag(
        "adobe-analytics",
        """
<script>
  var s = s_gi("examplenewsprod");
  s.pageName = document.title;
  s.channel = "city";
  s.t();
</script>
<noscript><img src="https://examplenews.sc.omtrdc.net/b/ss/examplenewsprod/1/JS-2.22.0-NS/0"
  height="1" width="1" border="0" alt=""></noscript>""",
        "examplenews.sc.omtrdc.net",
    ),
    tag(
        "tealium",
        """
<script type="text/javascript">
  var utag_data = {page_type: "article", section: "city"};
  (function (src, d, kind) {
    var el = d.createElement(kind); el.src = src; el.type = "text/java" + kind; el.async = true;
    var first = d.getElementsByTagName(kind)[0]; first.parentNode.insertBefore(el, first);
  })("//tags.tiqcdn.com/utag/examplenews/main/prod/utag.js", document, "script");
</script>""",
        "tags.tiqcdn.com",
    ),
    tag(
        "youtube",
        """
<iframe width="560" height="315" src="https://www.youtube.com/embed/aBcDeFgHiJk?si=Zx9"
  title="YouTube video player" frameborder="0"
  allow="accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; picture-in-picture"
  referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe>""",
        "www.youtube.com",
    ),
    tag(
        "youtube",
        """
<picture>
  <source type="image/webp"
    srcset="https://i.ytimg.com/vi_webp/aBcDeFgHiJk/maxresdefault.webp 2x, https://i.ytimg.com/vi_webp/aBcDeFgHiJk/hqdefault.webp 1x">
  <img src="https://i.ytimg.com/vi/aBcDeFgHiJk/hqdefault.jpg" alt="Still from the report" loading="lazy">
</picture>""",
        "i.ytimg.com",
        key="youtube-thumbnail",
    ),
    tag(
        "youtube",
        """
<object type="application/x-shockwave-flash" width="425" height="350"
  data="https://www.youtube.com/v/aBcDeFgHiJk"><param name="movie"
  value="https://www.youtube.com/v/aBcDeFgHiJk"></object>""",
        "www.youtube.com",
        key="youtube-legacy-object",
    ),
    tag(
        "vimeo",
        """
<iframe src="https://player.vimeo.com/video/123456789?h=ab12cd34ef" width="640" height="360"
  frameborder="0" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>""",
        "player.vimeo.com",
    ),
    tag(
        "dailymotion",
        """
<iframe frameborder="0" width="640" height="360"
  src="https://geo.dailymotion.com/player.html?video=x8abc12" allowfullscreen
  allow="autoplay; fullscreen; picture-in-picture; web-share"></iframe>""",
        "geo.dailymotion.com",
    ),
    tag(
        "jw-player",
        """
<video controls width="640" poster="https://cdn.jwplayer.com/v2/media/AbCd1234/poster.jpg?width=720">
  <source src="https://cdn.jwplayer.com/videos/AbCd1234-720.mp4" type="video/mp4">
  <track kind="captions" srclang="en" src="https://cdn.jwplayer.com/tracks/AbCd1234.vtt">
</video>""",
        "cdn.jwplayer.com",
    ),
    tag(
        "x-widgets",
        """
<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Night trams are back on line 4 from
Monday.</p>&mdash; City Transport (@citytransport)
<a href="https://twitter.com/citytransport/status/1790000000000000000">May 2, 2026</a></blockquote>
<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>""",
        "platform.twitter.com",
        "syndication.twitter.com",
    ),
    tag(
        "instagram",
        """
<blockquote class="instagram-media" data-instgrm-permalink="https://www.instagram.com/p/C7abcDEFgh1/"
  data-instgrm-version="14"><a href="https://www.instagram.com/p/C7abcDEFgh1/">View this post
  on Instagram</a></blockquote>
<script async src="//www.instagram.com/embed.js"></script>""",
        "www.instagram.com",
    ),
    tag(
        "tiktok-embed",
        """
<blockquote class="tiktok-embed" cite="https://www.tiktok.com/@citynews/video/7360000000000000000"
  data-video-id="7360000000000000000" style="max-width: 605px; min-width: 325px;">
  <section><a target="_blank" href="https://www.tiktok.com/@citynews">@citynews</a></section>
</blockquote>
<script async src="https://www.tiktok.com/embed.js"></script>""",
        "www.tiktok.com",
    ),
    tag(
        "tiktok-pixel",
        """
<script>
  !function (w, d, name) {
    w.TiktokAnalyticsObject = name;
    var ttq = w[name] = w[name] || [];
    ttq.methods = ["page", "track", "identify"];
    ttq.methods.forEach(function (m) {
      ttq[m] = function () { ttq.push([m].concat([].slice.call(arguments))); };
    });
    ttq.load = function (id) {
      var s = d.createElement("script"); s.async = true;
      s.src = "https://analytics.tiktok.com/i18n/pixel/events.js?sdkid=" + id + "&lib=" + name;
      d.head.appendChild(s);
    };
    ttq.load('C9NEWS0123456789');
    ttq.page();
  }(window, document, 'ttq');
</script>""",
        "analytics.tiktok.com",
    ),
    tag(
        "linkedin-insight",
        """
<script type="text/javascript">
  _linkedin_partner_id = "4455667";
  window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
  window._linkedin_data_partner_ids.push(_linkedin_partner_id);
  (function () {
    var s = document.createElement("script"); s.type = "text/javascript"; s.async = true;
    s.src = "https://snap.licdn.com/li.lms-analytics/insight.min.js";
    document.head.appendChild(s);
  })();
</script>
<noscript><img height="1" width="1" style="display:none;" alt=""
  src="https://px.ads.linkedin.com/collect/?pid=4455667&amp;fmt=gif" /></noscript>""",
        "snap.licdn.com",
        "px.ads.linkedin.com",
    ),
    tag(
        "pinterest-tag",
        """
<script>
  !function (src) {
    if (window.pintrk) return;
    window.pintrk = function () { window.pintrk.queue.push([].slice.call(arguments)); };
    window.pintrk.queue = []; window.pintrk.version = "3.0";
    var s = document.createElement("script"); s.async = true; s.src = src;
    document.head.appendChild(s);
  }("https://s.pinimg.com/ct/core.js");
  pintrk('load', '2612345678901', {em: ''});
  pintrk('page');
</script>
<noscript><img height="1" width="1" style="display:none;" alt=""
  src="https://ct.pinterest.com/v3/?event=init&amp;tid=2612345678901&amp;noscript=1" /></noscript>""",
        "s.pinimg.com",
        "ct.pinterest.com",
    ),
    tag(
        "snap-pixel",
        """
<script type="text/javascript">
  (function (w, d, src) {
    if (w.snaptr) return;
    var a = w.snaptr = function () {
      a.handleRequest ? a.handleRequest.apply(a, arguments) : a.queue.push(arguments);
    };
    a.queue = [];
    var s = d.createElement("script"); s.async = true; s.src = src;
    d.head.appendChild(s);
  })(window, document, "https://sc-static.net/scevent.min.js");
  snaptr('init', 'aaaabbbb-cccc-dddd-eeee-ffff00001111', {});
  snaptr('track', 'PAGE_VIEW');
</script>""",
        "sc-static.net",
        "tr.snapchat.com",
    ),
    tag(
        "spotify",
        """
<iframe style="border-radius:12px" width="100%" height="152" frameBorder="0" loading="lazy"
  src="https://open.spotify.com/embed/episode/4rOoJ6Egrf8K2IrywzwOMk?utm_source=generator"
  allowfullscreen allow="autoplay; clipboard-write; encrypted-media; fullscreen; picture-in-picture"></iframe>""",
        "open.spotify.com",
    ),
    tag(
        "soundcloud",
        """
<iframe width="100%" height="166" scrolling="no" frameborder="no" allow="autoplay"
  src="https://w.soundcloud.com/player/?url=https%3A//api.soundcloud.com/tracks/1234567890&amp;color=%23ff5500&amp;auto_play=false"></iframe>""",
        "w.soundcloud.com",
    ),
    tag(
        "google-maps",
        """
<iframe src="https://www.google.com/maps/embed?pb=!1m18!1m12!1m3!1d2500!2d13.4!3d52.5"
  width="600" height="450" style="border:0;" allowfullscreen="" loading="lazy"
  referrerpolicy="no-referrer-when-downgrade"></iframe>""",
        "www.google.com",
    ),
    tag(
        "disqus",
        """
<div id="disqus_thread"></div>
<script>
  var disqus_config = function () {
    this.page.url = "https://www.news.example/news/night-trams-return";
    this.page.identifier = "night-trams-return";
  };
  (function () {
    var d = document, s = d.createElement('script');
    s.src = 'https://examplenews.disqus.com/embed.js';
    s.setAttribute('data-timestamp', +new Date());
    (d.head || d.body).appendChild(s);
  })();
</script>""",
        "examplenews.disqus.com",
    ),
    tag(
        "onesignal",
        """
<script src="https://cdn.onesignal.com/sdks/web/v16/OneSignalSDK.page.js" defer></script>
<script>
  window.OneSignalDeferred = window.OneSignalDeferred || [];
  OneSignalDeferred.push(async function (OneSignal) {
    await OneSignal.init({appId: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"});
  });
</script>""",
        "cdn.onesignal.com",
    ),
    tag(
        "optimizely",
        """
<script src="https://cdn.optimizely.com/js/24681357.js"></script>""",
        "cdn.optimizely.com",
        place="head",
    ),
    tag(
        "vwo",
        """
<script type="text/javascript" id="vwoCode">
  window._vwo_code || (function () {
    var account = 765432, d = document;
    var s = d.createElement("script");
    s.src = "https://dev.visualwebsiteoptimizer.com/j.php?a=" + account + "&u=" +
      encodeURIComponent(d.URL) + "&vn=2.1";
    d.head.appendChild(s);
    window._vwo_code = {finished: function () {}};
  })();
</script>""",
        "dev.visualwebsiteoptimizer.com",
        place="head",
    ),
    tag(
        "quantcast",
        """
<script type="text/javascript">
  var _qevents = _qevents || [];
  (function () {
    var el = document.createElement('script');
    el.src = 'https://secure.quantserve.com/quant.js'; el.async = true;
    document.head.appendChild(el);
  })();
  _qevents.push({qacct: "p-Ab12Cd34Ef56G"});
</script>
<noscript><div style="display:none;"><img src="//pixel.quantserve.com/pixel/p-Ab12Cd34Ef56G.gif"
  border="0" height="1" width="1" alt="Quantcast"/></div></noscript>""",
        "secure.quantserve.com",
        "pixel.quantserve.com",
    ),
    tag(
        "nielsen",
        """
<script type="text/javascript">
  !function (w, name) {
    w[name] = w[name] || {
      nlsQ: function (appId, instance, options) {
        var s = document.createElement("script");
        s.async = true;
        s.src = "https://cdn-gl.imrworldwide.com/conf/" + appId + ".js#name=" + instance +
          "&ns=" + name;
        document.head.appendChild(s);
        return {ggPM: function () {}};
      }
    };
  }(window, "NOLBUNDLE");
  var nielsenSdk = NOLBUNDLE.nlsQ("P1A2B3C4D-0000-1111-2222-333344445555", "nlsnInstance", {});
</script>""",
        "cdn-gl.imrworldwide.com",
    ),
    tag(
        "gemius",
        """
<script type="text/javascript">
  var pp_gemius_identifier = 'AbC.dEf1Gh2IjK3LmN4oPq5RsT';
  function gemius_pending(name) {
    window[name] = window[name] || function () {
      var q = window[name + '_pdata'] = window[name + '_pdata'] || []; q[q.length] = arguments;
    };
  }
  gemius_pending('gemius_hit'); gemius_pending('gemius_event');
  (function (d, t) {
    var g = d.createElement(t), first = d.getElementsByTagName(t)[0];
    g.async = true; g.src = 'https://gapl.hit.gemius.pl/xgemius.js';
    first.parentNode.insertBefore(g, first);
  })(document, 'script');
</script>""",
        "gapl.hit.gemius.pl",
    ),
    tag(
        "yandex-metrica",
        """
<script type="text/javascript">
  (function (w, d, kind, src, name) {
    w[name] = w[name] || function () { (w[name].a = w[name].a || []).push(arguments); };
    w[name].l = 1 * new Date();
    var el = d.createElement(kind); el.async = 1; el.src = src;
    d.head.appendChild(el);
  })(window, document, "script", "https://mc.yandex.ru/metrika/tag.js", "ym");
  ym(98765432, "init", {clickmap: true, trackLinks: true, accurateTrackBounce: true});
</script>
<noscript><div><img src="https://mc.yandex.ru/watch/98765432"
  style="position:absolute; left:-9999px;" alt="" /></div></noscript>""",
        "mc.yandex.ru",
    ),
    tag(
        "google-adsense",
        """
<script async src="https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js?client=ca-pub-1234567890123456"
  crossorigin="anonymous"></script>
<ins class="adsbygoogle" style="display:block" data-ad-client="ca-pub-1234567890123456"
  data-ad-slot="1122334455" data-ad-format="auto" data-full-width-responsive="true"></ins>
<script>(adsbygoogle = window.adsbygoogle || []).push({});</script>""",
        "pagead2.googlesyndication.com",
    ),
    tag(
        "teads",
        """
<script type="text/javascript" class="teads" async="true"
  src="//a.teads.tv/page/123456/tag"></script>""",
        "a.teads.tv",
    ),
    tag(
        "seedtag",
        """
<script async src="https://t.seedtag.com/t/1234-5678-01.js"></script>""",
        "t.seedtag.com",
    ),
    tag(
        "the-trade-desk",
        """
<script src="https://js.adsrvr.org/up_loader.1.1.0.js" type="text/javascript"></script>
<script type="text/javascript">
  ttd_dom_ready(function () {
    if (typeof TTDUniversalPixelApi === 'function') {
      new TTDUniversalPixelApi().init("n3wsadv", ["p1x3l"], "https://insight.adsrvr.org/track/up");
    }
  });
</script>""",
        "js.adsrvr.org",
        "insight.adsrvr.org",
    ),
    tag(
        "microsoft-advertising",
        """
<script>
  (function (w, d, src) {
    w.uetq = w.uetq || [];
    var s = d.createElement("script"); s.src = src; s.async = 1;
    s.onload = function () {
      var o = {ti: "187654321", enableAutoSpaTracking: true};
      o.q = w.uetq; w.uetq = new UET(o); w.uetq.push("pageLoad");
    };
    d.head.appendChild(s);
  })(window, document, "//bat.bing.com/bat.js");
</script>""",
        "bat.bing.com",
    ),
    tag(
        "x-pixel",
        """
<script>
  !function (w, d, src) {
    if (w.twq) return;
    var t = w.twq = function () { t.exe ? t.exe.apply(t, arguments) : t.queue.push(arguments); };
    t.version = '1.1'; t.queue = [];
    var s = d.createElement('script'); s.async = true; s.src = src;
    d.head.appendChild(s);
  }(window, document, 'https://static.ads-twitter.com/uwt.js');
  twq('config', 'o1x2y');
</script>""",
        "static.ads-twitter.com",
    ),
    tag(
        "piano-composer",
        """
<script>
  tp = window.tp || [];
  tp.push(["setAid", "AbCdEf1234"]);
  tp.push(["setCxenseSiteId", "1130000000000000"]);
  (function (src) {
    var a = document.createElement("script"); a.async = true; a.src = src;
    document.head.appendChild(a);
  })("https://cdn.tinypass.com/api/tinypass.min.js");
</script>""",
        "cdn.tinypass.com",
    ),
    tag(
        "permutive",
        """
<script async src="https://examplenews.edge.permutive.app/1a2b3c4d-web.js"></script>""",
        "examplenews.edge.permutive.app",
        place="head",
    ),
    tag(
        "sharethis",
        """
<script type="text/javascript"
  src="https://platform-api.sharethis.com/js/sharethis.js#property=5f0e1d2c3b4a&amp;product=inline-share-buttons"
  async="async"></script>""",
        "platform-api.sharethis.com",
    ),
    tag(
        "bluesky",
        """
<blockquote class="bluesky-embed" data-bluesky-uri="at://did:plc:abc123/app.bsky.feed.post/3kxyz"
  data-bluesky-cid="bafyrei0000"><p lang="en">The new library opens on Saturday.</p>&mdash;
  City Library (<a href="https://bsky.app/profile/did:plc:abc123">@library.example</a>)</blockquote>
<script async src="https://embed.bsky.app/static/embed.js" charset="utf-8"></script>""",
        "embed.bsky.app",
    ),
    tag(
        "apple-podcasts",
        """
<iframe allow="autoplay *; encrypted-media *; fullscreen *; clipboard-write" frameborder="0"
  height="175" style="width:100%;max-width:660px;overflow:hidden;border-radius:10px;"
  sandbox="allow-forms allow-popups allow-same-origin allow-scripts allow-storage-access-by-user-activation allow-top-navigation-by-user-activation"
  src="https://embed.podcasts.apple.com/gb/podcast/city-desk/id1600000000?i=1000650000000"></iframe>""",
        "embed.podcasts.apple.com",
    ),
    tag(
        "openstreetmap",
        """
<iframe width="425" height="350" style="border: 1px solid black"
  src="https://www.openstreetmap.org/export/embed.html?bbox=13.37%2C52.50%2C13.42%2C52.53&amp;layer=mapnik"></iframe>""",
        "www.openstreetmap.org",
    ),
    tag(
        "intercom",
        """
<script>
  window.intercomSettings = {api_base: "https://api-iam.intercom.io", app_id: "n3wsapp"};
  (function () {
    var s = document.createElement('script'); s.async = true;
    s.src = 'https://widget.intercom.io/widget/n3wsapp';
    document.body.appendChild(s);
  })();
</script>""",
        "widget.intercom.io",
        "api-iam.intercom.io",
    ),
)

# Services a site needs to work at all: recognised, and never held back.
NECESSARY_SERVICES: tuple[Snippet, ...] = (
    Snippet(
        "stripe",
        '<script src="https://js.stripe.com/v3/"></script>',
        None,
        ("js.stripe.com",),
        service("stripe"),
    ),
    Snippet(
        "google-recaptcha",
        '<script src="https://www.google.com/recaptcha/api.js?render=6LcNEWS000" async defer>'
        "</script>",
        None,
        ("www.google.com",),
        service("google-recaptcha"),
    ),
)

# Plain library and font CDNs: third parties, but no trackers.
LIBRARIES: tuple[Snippet, ...] = (
    own(
        "jquery",
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"'
        ' integrity="sha256-/JqT3SQfawRcv/BIHPThkBvs0OEvtFFmqPF/lYI/Cxo=" crossorigin="anonymous">'
        "</script>",
        "code.jquery.com",
        place="head",
    ),
    own(
        "cdnjs",
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.21/lodash.min.js"'
        ' referrerpolicy="no-referrer"></script>',
        "cdnjs.cloudflare.com",
        place="head",
    ),
    own(
        "jsdelivr",
        '<link rel="stylesheet"'
        ' href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css">'
        '<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/js/bootstrap.bundle.min.js">'
        "</script>",
        "cdn.jsdelivr.net",
        place="head",
    ),
    own(
        "unpkg",
        '<script type="module" src="https://unpkg.com/lit@3.1.0/index.js?module"></script>',
        "unpkg.com",
    ),
    own(
        "google-hosted-libraries",
        '<script src="https://ajax.googleapis.com/ajax/libs/jqueryui/1.13.2/jquery-ui.min.js">'
        "</script>",
        "ajax.googleapis.com",
    ),
    own(
        "fonts",
        '<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>'
        '<link rel="stylesheet"'
        ' href="https://fonts.googleapis.com/css2?family=Source+Serif+4:wght@400;700&amp;display=swap">',
        "fonts.gstatic.com",
        "fonts.googleapis.com",
        place="head",
    ),
)

# The site's own markup, which must pass untouched in every state.
FIRST_PARTY: tuple[Snippet, ...] = (
    own("site-css", '<link rel="stylesheet" href="/static/site.css">', place="head"),
    own(
        "font-preload",
        '<link rel="preload" href="/static/fonts/serif.woff2" as="font" type="font/woff2"'
        " crossorigin>",
        place="head",
    ),
    own("site-js", '<script src="/static/js/site.js" defer></script>', place="head"),
    own("js-flag", "<script>document.documentElement.className += ' js';</script>", place="head"),
    own(
        "json-ld",
        """<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "NewsArticle",
 "headline": "Night trams return to line 4",
 "image": ["https://static.news.example/img/tram-1600.jpg"],
 "publisher": {"@type": "Organization", "name": "Example News",
   "sameAs": ["https://twitter.com/examplenews", "https://www.facebook.com/examplenews",
              "https://www.youtube.com/@examplenews", "https://www.instagram.com/examplenews"]}}
</script>""",
        place="head",
    ),
    own(
        "share-links",
        """<script>
  var page = encodeURIComponent(location.href);
  var share = {
    x: "https://twitter.com/intent/tweet?url=" + page,
    facebook: "https://www.facebook.com/sharer/sharer.php?u=" + page,
    linkedin: "https://www.linkedin.com/sharing/share-offsite/?url=" + page
  };
</script>""",
    ),
    own(
        "hero-image",
        '<img src="/media/night-tram.jpg" srcset="/media/night-tram-800.jpg 800w,'
        ' /media/night-tram-1600.jpg 1600w" sizes="(max-width: 800px) 100vw, 800px"'
        ' alt="A night tram at the depot" width="800" height="450">',
    ),
    own(
        "own-cdn-image",
        '<img src="https://static.news.example/img/depot.jpg" alt="The depot" loading="lazy">',
        "static.news.example",
    ),
    own(
        "template",
        '<template id="comment-row"><li class="comment"><img class="avatar" alt=""></li></template>',
    ),
)

# Elements the site's authors mark themselves (the contract's data-consent-category).
MARKED: tuple[Snippet, ...] = (
    marked(
        "own-reading-depth",
        '<script data-consent-category="analytics" src="/static/js/reading-depth.js"></script>',
        "analytics",
    ),
    marked(
        "own-inline-stats",
        '<script data-consent-category="analytics">window.readingStart = Date.now();</script>',
        "analytics",
    ),
    marked(
        "prepared-script",
        '<script type="text/plain" data-consent-category="marketing"'
        ' src="https://tags.partner.example/retarget.js"></script>',
        "marketing",
        "tags.partner.example",
    ),
    marked(
        "partner-widget",
        '<iframe data-consent-category="marketing" data-consent-vendor="Partner Widgets Ltd"'
        ' src="https://widgets.partner.example/box?id=7" width="300" height="250"></iframe>',
        "marketing",
        "widgets.partner.example",
    ),
    marked(
        "weather-map",
        '<img data-consent-category="preferences" src="https://tiles.weather.example/city.png"'
        ' alt="Weather map">',
        "preferences",
        "tiles.weather.example",
    ),
)

NEVER_HELD: tuple[Snippet, ...] = NECESSARY_SERVICES + LIBRARIES + FIRST_PARTY
ALL: tuple[Snippet, ...] = TRACKERS + NECESSARY_SERVICES + LIBRARIES + FIRST_PARTY + MARKED

FILLER: tuple[str, ...] = (
    "<p>Night trams return to line 4 from Monday, the transport authority said on Friday.</p>",
    "<h2>What changes</h2>",
    "<p>Cars run every 20 minutes between midnight and 4&nbsp;a.m., stopping at all stops.</p>",
    '<figure><img src="/media/map.png" alt="Route map"><figcaption>Line 4</figcaption></figure>',
    "<p>Riders had asked for the service since it was cut in 2020 &mdash; &laquo;at last&raquo;.</p>",
    '<aside class="related"><a href="/news/customs-house-library-reopens">Library reopens</a></aside>',
    "<!-- editor: check the timetable link -->",
    "<p>Tickets bought for the day remain valid until 5&nbsp;a.m.</p>",
)


def news_page(snippets: Iterable[Snippet], *, seed: int = 0, title: str = "Night trams") -> str:
    """A whole article page: head snippets in ``<head>``, the others spread over the article."""
    chosen = list(snippets)
    head = [s for s in chosen if s.place == "head"]
    body = [s for s in chosen if s.place != "head"]
    rng = random.Random(seed)
    paragraphs = [rng.choice(FILLER) for _ in range(len(body) + 4)]
    article: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        article.append(paragraph)
        if index < len(body):
            article.append(body[index].wrapped())
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title} | Example News</title>\n"
        + "\n".join(s.wrapped() for s in head)
        + "\n</head>\n<body>\n"
        '<header><a href="/">Example News</a><nav><a href="/section/city">City</a></nav></header>\n'
        f"<main><article><h1>{title}</h1>\n" + "\n".join(article) + "\n</article></main>\n"
        "<footer><p>&copy; Example News</p></footer>\n</body>\n</html>\n"
    )


# ----- reading pages back ----------------------------------------------------------------

# Attributes that make an element fetch, by element; `link` only for the rels that fetch.
FETCHING: dict[str, tuple[str, ...]] = {
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
    "link": ("href", "imagesrcset"),
}
FETCHING_RELS = frozenset(
    {"preload", "prefetch", "preconnect", "dns-prefetch", "modulepreload", "stylesheet"}
)
JS_TYPES = frozenset({"", "text/javascript", "application/javascript", "module"})


def host_of(url: str) -> str | None:
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower()


@dataclass(frozen=True, slots=True)
class Found:
    snippet: str | None  # the key of the snippet the element came from
    tag: str
    attrs: dict[str, str | None]
    text: str = ""
    placeholder: bool = False  # inside a placeholder the middleware put in place of an embed

    @property
    def runs_inline(self) -> bool:
        return self.tag == "script" and "src" not in self.attrs and self.executable

    @property
    def executable(self) -> bool:
        script_type = (self.attrs.get("type") or "").strip().lower()
        return self.tag == "script" and script_type in JS_TYPES


@dataclass(frozen=True, slots=True)
class Fetch:
    element: Found
    attribute: str
    url: str

    @property
    def host(self) -> str | None:
        return host_of(self.url)


@dataclass
class Parsed:
    elements: list[Found]
    fetches: list[Fetch]
    comments: list[str]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parsed = Parsed([], [], [])
        self._snippet: list[str] = []
        self._script: tuple[str, dict[str, str | None]] | None = None
        self._text: list[str] = []
        self._placeholder_depth = 0

    def handle_comment(self, data: str) -> None:
        self.parsed.comments.append(data)
        text = data.strip()
        if text.startswith("snippet:"):
            self._snippet.append(text[len("snippet:") :])
        elif text.startswith("/snippet:") and self._snippet:
            self._snippet.pop()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        first: dict[str, str | None] = {}
        for name, value in attrs:
            first.setdefault(name, value)
        if tag == "script":
            self._script = (tag, first)
            self._text = []
            return
        if tag == "span" and (self._placeholder_depth or "data-consent-placeholder" in first):
            self._placeholder_depth += 1
        inside = self._placeholder_depth > 0
        self._add(Found(self._current(), tag, first, placeholder=inside))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            inside = self._placeholder_depth > 0
            text = "".join(self._text)
            self._add(Found(self._current(), "script", self._script[1], text, inside))
            self._script = None
        elif tag == "span" and self._placeholder_depth:
            self._placeholder_depth -= 1

    def _current(self) -> str | None:
        return self._snippet[-1] if self._snippet else None

    def _add(self, element: Found) -> None:
        self.parsed.elements.append(element)
        for attribute in FETCHING.get(element.tag, ()):
            value = element.attrs.get(attribute)
            if not value:
                continue
            if element.tag == "link":
                rels = set((element.attrs.get("rel") or "").lower().split())
                if not rels & FETCHING_RELS:
                    continue
            if attribute.endswith("srcset"):
                urls = [part.strip().split(" ")[0] for part in value.split(",") if part.strip()]
            else:
                urls = [value.strip()]
            self.parsed.fetches.extend(Fetch(element, attribute, url) for url in urls)


def parse(markup: str) -> Parsed:
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    return reader.parsed


def by_key(snippets: Sequence[Snippet]) -> dict[str, Snippet]:
    found: dict[str, Snippet] = {}
    for snippet in snippets:
        if snippet.key in found:
            raise ValueError(f"two snippets are called {snippet.key!r}")
        found[snippet.key] = snippet
    return found
