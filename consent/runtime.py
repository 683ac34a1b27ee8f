"""Everything the HTTP layer needs, built once from the configuration.

No ASGI here: the middleware and the endpoints ask this object for the visitor's state,
the markup to inject and the pages to serve.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from consent.assets import hashed_name
from consent.audit import AuditStore, open_store
from consent.body import Charset
from consent.catalogue import (
    Catalogue,
    CatalogueError,
    Service,
    not_tracker_hosts,
    service_from_mapping,
)
from consent.config import ConfigError, ConsentConfig
from consent.cookie import (
    ConsentCookieCodec,
    CookiePayload,
    cookie_name_for,
    parse_cookie_header,
)
from consent.csp import CspMode, PolicyBuilder
from consent.cspreports import CspReports
from consent.enforcement import CookiePolicy
from consent.holdback import HoldbackPolicy
from consent.i18n import Locale, LocaleCatalogue
from consent.lru import LruCache
from consent.names import MARKETING
from consent.pagecache import PageCache
from consent.parties import Parties
from consent.redaction import hide_in_logs, secrets_of
from consent.regional import RegionalPolicy
from consent.regions import Region
from consent.state import ConsentState
from consent.tcfserver import TC_COOKIE, TcfService
from consent.tcfui import TcfViews
from consent.templating import (
    CONSENT_ID_MARKER,
    CSRF_MARKER,
    HELD_MARKER,
    NEXT_MARKER,
    NONCE_MARKER,
    Templates,
    TextLookup,
    css_custom_properties,
)

logger = logging.getLogger("consent")

UNDECIDED = ConsentState(decided=False, granted=frozenset())

# Rendered markup kept per key; keys depend on what visitors and page content choose, so each
# cache is an LRU of fixed size, which keeps the banners in use even when a flood of rare
# combinations (every locale with every choice is about 650 banners) passes through.
BANNER_CACHE_SIZE = 512
PLACEHOLDER_CACHE_SIZE = 1024
# Where a rendered banner takes the visitor's values; the nonce attribute as a whole, which
# goes when the page has no nonce.
_NONCE_ATTRIBUTE = f' nonce="{NONCE_MARKER}"'
_BANNER_SLOTS = re.compile(
    "("
    + "|".join(
        re.escape(m)
        for m in (_NONCE_ATTRIBUTE, CSRF_MARKER, NEXT_MARKER, HELD_MARKER, CONSENT_ID_MARKER)
    )
    + "|"
    + re.escape(NONCE_MARKER)
    + ")"
)
# Longer Accept-Language headers are not kept as part of a key (negotiation reads less).
_MAX_KEPT_HEADER = 256
# Visitors' states by their Cookie header: a few hundred bytes each, about 2 MB when full.
STATE_CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Urls:
    decision: str
    preferences: str
    policy: str
    receipt: str
    token: str
    static: str
    admin: str
    state: str
    csp_report: str

    @classmethod
    def under(cls, prefix: str) -> Urls:
        return cls(
            decision=f"{prefix}/decision",
            preferences=f"{prefix}/preferences",
            policy=f"{prefix}/policy",
            receipt=f"{prefix}/receipt",
            token=f"{prefix}/token",
            static=f"{prefix}/static/",
            admin=f"{prefix}/admin",
            state=f"{prefix}/state",
            csp_report=f"{prefix}/csp-report",
        )


class ConsentRuntime:
    def __init__(self, config: ConsentConfig) -> None:
        self.config = config
        # Exceptions from the store or a codec may quote a key or a connection string.
        hide_in_logs(secrets_of(config))
        self.urls = Urls.under(config.prefix)
        # Set by the server, not the visitor, so few; bounded all the same.
        self._mounted_urls: LruCache[str, Urls] = LruCache(64)
        self._mounted_urls.put("", self.urls)
        self.codec = ConsentCookieCodec(
            config.secret_keys, max_age=config.cookie_max_age, policy_version=config.policy_version
        )
        self.locales = LocaleCatalogue.load(
            overrides=config.locale_overrides,
            extra_dirs=tuple(config.locale_dirs),
            default=config.default_locale,
        )
        self.templates = Templates(tuple(config.template_dirs))
        self.operator_services, self.catalogue = _catalogue(config)
        self.required = config.required_categories
        self.all_categories = frozenset(config.category_ids)
        library_hosts = not_tracker_hosts()
        self.holdback = HoldbackPolicy(
            self.catalogue,
            config.rules,
            unclassified=config.unclassified_category if config.hold_unclassified else None,
            parties=Parties(config.own_domains, library_hosts),
        )
        self.csp_mode = CspMode(config.csp_mode)
        # Built only when a policy is sent: with the mode off, pages cost nothing more.
        self.csp_policy: PolicyBuilder | None = None
        if self.csp_mode is not CspMode.OFF:
            self.csp_policy = PolicyBuilder(
                self.catalogue,
                config.category_ids,
                necessary_hosts=config.csp_necessary_hosts,
                own_domains=config.own_domains,
                library_hosts=library_hosts,
                max_length=config.csp_max_length,
            )
        self.cookie_policy = CookiePolicy(
            self.catalogue,
            config.cookie_categories,
            own_cookies=(config.cookie_name, config.csrf_cookie_name)
            + ((TC_COOKIE,) if config.tcf else ()),
            required=self.required,
            block_undeclared=config.undeclared_cookies == "block",
        )
        self.gpc_refuses = frozenset({MARKETING}) & self.all_categories
        self.gcm_options = {
            name: True
            for name, on in (
                ("ads_data_redaction", config.google_ads_data_redaction),
                ("url_passthrough", config.google_url_passthrough),
            )
            if on
        }
        # Regions only when a trusted source of location is configured (docs/regions.md).
        self.regional: RegionalPolicy | None = None
        if config.region_source is not None:
            self.regional = RegionalPolicy(config, self.all_categories)
        # The request headers that change the bytes of a rewritten page.
        self.page_vary: tuple[bytes, ...] = (
            (() if config.shared_cache_mode else (b"Cookie", b"Accept-Language"))
            + ((b"Sec-GPC",) if config.honour_gpc else ())
            + (self.regional.vary if self.regional is not None else ())
        )
        # The Vary value of a page whose app sent none.
        self.page_vary_value = b", ".join(self.page_vary)
        self._undecided = {
            gpc: ConsentState(decided=False, granted=self.required, gpc=gpc)
            for gpc in (False, True)
        }
        # Visitor states by Cookie header: bounded, the ones in use kept.
        self._states: LruCache[tuple[bytes, bool, bool], tuple[ConsentState, float]] = LruCache(
            STATE_CACHE_SIZE
        )
        self.theme_style = css_custom_properties(tuple(sorted(config.theme.items())))
        self._banner_cache: LruCache[tuple[Any, ...], tuple[str, ...]] = LruCache(BANNER_CACHE_SIZE)
        self._placeholder_cache: LruCache[tuple[str, str, str], str] = LruCache(
            PLACEHOLDER_CACHE_SIZE
        )
        self._policy_cache: LruCache[tuple[str, str, bool], str] = LruCache(256)
        self._head_cache: dict[tuple[bool, str, tuple[str, ...] | None, bool], str] = {}
        self._head_bytes: LruCache[tuple[str, str, str], bytes] = LruCache(256)
        # A page's first kilobyte and Content-Type: its charset as sniffed, the codec injected
        # markup is written in, and its <html lang>. Some 300 KB when full.
        self.page_starts: LruCache[tuple[str, bytes], tuple[Charset, str, str | None]] = LruCache(
            256
        )
        # The last of them looked up, with its key (a body as the app sent it, not compressed).
        self.last_page_start: tuple[str, bytes, tuple[Charset, str, str | None]] | None = None
        # Keyed by what a visitor sends (their languages among it): bounded like the banners.
        self._page_parts: LruCache[tuple[Any, ...], tuple[Locale, bytes, tuple[str, ...]]] = (
            LruCache(BANNER_CACHE_SIZE)
        )
        self._gpp_tags: dict[tuple[str | None, bool, bool, str], str] = {}
        self.page_cache = PageCache(config.page_cache_bytes)
        self._store: AuditStore | None = None
        self._store_lock = asyncio.Lock()
        self.csp_reports = CspReports(self.store)
        self.tcf = TcfService(config.tcf, config.category_ids) if config.tcf else None
        self.tcf_views = (
            TcfViews(self.tcf, config.google_consent_mode, config.cookie_domain)
            if self.tcf
            else None
        )

    # ----- state -------------------------------------------------------------------------

    def state(self, cookie_value: str | None, *, gpc: bool) -> ConsentState:
        return self._state_until(cookie_value, gpc, time.time())[0]

    def visitor_state(
        self, cookie_header: bytes, secure: bool, cookie_name: Callable[[], str], *, gpc: bool
    ) -> ConsentState:
        """The state of a visitor who sent ``cookie_header`` (the Cookie header's bytes) over
        a connection where cookies are ``secure`` (their name depends on it), worked out once
        per distinct header while its answer holds: a visitor sends the same cookies with every
        request, most of them for no page."""
        if not cookie_header:
            return self._undecided[gpc and self.config.honour_gpc]
        key = (cookie_header, secure, gpc)
        now = time.time()
        found = self._states.get(key)
        if found is None or found[1] <= now:
            name = cookie_name()
            value = parse_cookie_header(cookie_header.decode("latin-1"), (name,)).get(name)
            found = self._state_until(value, gpc, now)
            self._states.put(key, found)
        return found[0]

    def _state_until(
        self, cookie_value: str | None, gpc: bool, now: float
    ) -> tuple[ConsentState, float]:
        payload, until = self.codec.decode_until(cookie_value, now)
        gpc = gpc and self.config.honour_gpc
        if payload is None:
            return self._undecided[gpc], until
        return self.state_from_payload(payload, gpc=gpc), until

    def state_from_payload(self, payload: CookiePayload, *, gpc: bool) -> ConsentState:
        granted = (payload.granted & self.all_categories) | self.required
        if gpc:
            granted -= self.gpc_refuses
        return ConsentState(
            decided=True,
            granted=granted,
            consent_id=payload.consent_id,
            decided_at=payload.decided_datetime,
            gpc=gpc,
            signal_recorded=payload.signal,
        )

    # ----- locales -----------------------------------------------------------------------

    def locale_for(
        self, page_lang: str | None, accept_language: str | None, resolved: str | None
    ) -> Locale:
        if resolved:
            tag = self.locales.match(resolved)
            if tag:
                return self.locales.get(tag)
        return self.locales.negotiate(page_lang=page_lang, accept_language=accept_language)

    def texts(self, locale: Locale) -> TextLookup:
        own = {c.id: c.texts for c in self.config.categories if c.texts}
        return TextLookup(locale, own)

    # ----- markup --------------------------------------------------------------------------

    def urls_for(self, root_path: str) -> Urls:
        """The endpoint URLs as browsers reach them when the app is mounted under root_path."""
        urls = self._mounted_urls.get(root_path)
        if urls is None:
            urls = Urls.under(root_path + self.config.prefix)
            self._mounted_urls.put(root_path, urls)
        return urls

    def asset_url(self, logical_name: str, root_path: str = "") -> str:
        return self.urls_for(root_path).static + hashed_name(logical_name)

    def head_bytes(
        self, charset: str, *, nonce: str | None, gpc: bool, root_path: str, state: ConsentState
    ) -> bytes:
        """The head injection in a page's encoding. Without a nonce every page of a kind gets
        the same bytes, kept from one page to the next."""
        parts = self._head_parts(gpc, root_path, state)
        if nonce:
            return _with_nonce("".join(parts), nonce).encode(charset, "xmlcharrefreplace")
        # Both parts are kept strings: their hashes are worked out once.
        key = (*parts, charset)
        encoded = self._head_bytes.get(key)
        if encoded is None:
            encoded = _with_nonce("".join(parts), None).encode(charset, "xmlcharrefreplace")
            self._head_bytes.put(key, encoded)
        return encoded

    def _head_parts(self, gpc: bool, root_path: str, state: ConsentState | None) -> tuple[str, str]:
        """The GPP API's tag (or nothing) and the rest of the head injection, nonce slots in."""
        gpc = gpc and self.config.honour_gpc
        # Google tags that run before the banner script need the verified choice at once; in
        # shared-cache mode the page is the same for everyone and the banner script tells them.
        granted = None
        if (
            state is not None
            and not state.asks
            and self.config.google_consent_mode
            and not self.config.shared_cache_mode
        ):
            granted = tuple(sorted(state.granted))
        gpp_script = ""
        if self.regional is not None and state is not None:
            gpp_script = self.gpp_script(state, root_path)
        # The TCF speaks for visitors under the opt-in model; a reader elsewhere is told that
        # GDPR does not apply (an unknown location gets the strictest model, so opt-in).
        gdpr_applies = state is None or state.model == "opt_in"
        key = (gpc, root_path, granted, gdpr_applies)
        cached = self._head_cache.get(key)
        if cached is None:
            cached = self.templates.render(
                "consent/head.html",
                css_url=self.asset_url("consent.css", root_path),
                js_url=self.asset_url("consent.js", root_path),
                gcm_url=self.asset_url("gcm.js", root_path),
                google_consent_mode=self.config.google_consent_mode,
                gcm_mapping=dict(self.config.google_consent_mapping),
                gcm_regions=self.regional.google_regions(self.gpc_refuses)
                if self.regional is not None
                else None,
                gcm_options=self.gcm_options,
                granted=granted,
                nonce=NONCE_MARKER,
                tcf=self.tcf_views.head(self.urls_for(root_path).static, gdpr_applies)
                if self.tcf_views
                else None,
            )
            if len(self._head_cache) < 256:
                self._head_cache[key] = cached
        return gpp_script, cached

    def gpp_script(self, state: ConsentState, root_path: str) -> str:
        """The ``__gpp`` API's tag with this visitor's GPP string and parsed sections.

        In shared-cache mode one page serves every visitor of a region, so it carries the
        string of an undecided one and says it is pending: the script asks the state endpoint
        for this visitor's before it reports the signal ready.
        """
        assert self.regional is not None
        shared = self.config.shared_cache_mode
        if shared:
            opted_out = state.model == "opt_in" or (state.gpc and bool(self.gpc_refuses))
        else:
            opted_out = not self.gpc_refuses <= state.granted
        # A handful of regions, choices and paths: each tag is written once, not per page.
        key = (state.region, opted_out, state.gpc, root_path)
        tag = self._gpp_tags.get(key)
        if tag is None:
            tag = self._gpp_tag(state, opted_out, root_path)
            if len(self._gpp_tags) < 256:
                self._gpp_tags[key] = tag
        return tag

    def _gpp_tag(self, state: ConsentState, opted_out: bool, root_path: str) -> str:
        assert self.regional is not None
        shared = self.config.shared_cache_mode
        string, sids, parsed = self.regional.gpp_for(
            Region.parse(state.region), opted_out=opted_out, gpc=state.gpc
        )
        data = {
            "cmpId": self.config.gpp_cmp_id,
            "cmpVersion": self.config.gpp_cmp_version,
            "gppString": string,
            "applicableSections": list(sids),
            "parsedSections": json.loads(parsed),
            "stateUrl": self.urls_for(root_path).state,
            "pending": shared,
        }
        return (
            f'<script src="{html.escape(self.asset_url("gpp.js", root_path))}" '
            f'data-gpp="{html.escape(json.dumps(data, separators=(",", ":")))}"'
            f' nonce="{NONCE_MARKER}"></script>'
        )

    def page_parts(
        self,
        charset: str,
        *,
        page_lang: str | None,
        accept_language: str | None,
        resolved: str | None,
        state: ConsentState,
        root_path: str,
        nonce: str | None,
    ) -> tuple[Locale, bytes, tuple[str, ...]]:
        """What a rewritten page gets that is not the visitor's own: the banner's locale, the
        head injection (``head_bytes``) and the banner cut at its slots (``banner_parts``).

        Worked out once for what they depend on, pages without a nonce: a handful of charsets,
        languages and states per site, looked up in one step rather than three.
        """
        key = None
        if not nonce and (accept_language is None or len(accept_language) <= _MAX_KEPT_HEADER):
            key = (
                charset,
                page_lang,
                accept_language,
                resolved,
                state.decided,
                state.granted,
                state.gpc,
                state.model,
                state.region,
                root_path,
            )
            found = self._page_parts.get(key)
            if found is not None:
                return found
        locale = self.locale_for(page_lang, accept_language, resolved)
        head = self.head_bytes(
            charset, nonce=nonce, gpc=state.gpc, root_path=root_path, state=state
        )
        parts = (locale, head, self.banner_parts(locale, state, root_path))
        if key is not None:
            self._page_parts.put(key, parts)
        return parts

    def banner_parts(self, locale: Locale, state: ConsentState, root_path: str) -> tuple[str, ...]:
        """The banner's markup for this locale and state, cut at the slots the visitor's values
        fill: the text of each slot at the odd places."""
        shared = self.config.shared_cache_mode
        key = (locale.tag, state.decided, state.granted, state.gpc, shared, root_path, state.model)
        cached = self._banner_cache.get(key)
        if cached is None:
            markup = self._render_banner(locale, state, self.urls_for(root_path))
            # Kept cut at its slots: the visitor's values are joined in, one pass per page.
            cached = tuple(_BANNER_SLOTS.split(markup))
            self._banner_cache.put(key, cached)
        return cached

    def banner(
        self,
        locale: Locale,
        state: ConsentState,
        *,
        csrf_token: str,
        next_path: str,
        root_path: str = "",
        held: str = "",
        nonce: str | None = None,
        parts: tuple[str, ...] | None = None,
    ) -> str:
        """The banner with the visitor's values in its slots; ``parts``: what ``banner_parts``
        (or ``page_parts``) gave for this locale, state and root path, when already at hand."""
        cached = parts if parts is not None else self.banner_parts(locale, state, root_path)
        values = {
            CSRF_MARKER: _escaped(csrf_token),
            NEXT_MARKER: _escaped(next_path),
            HELD_MARKER: _escaped(held),
            NONCE_MARKER: html.escape(nonce) if nonce else NONCE_MARKER,
            _NONCE_ATTRIBUTE: f' nonce="{html.escape(nonce)}"' if nonce else "",
        }
        consent_id = state.consent_id
        if consent_id is not None:
            if not _JSON_PLAIN(consent_id):
                consent_id = html.escape(json.dumps(consent_id, ensure_ascii=True)[1:-1])
            values[CONSENT_ID_MARKER] = consent_id
        pieces = list(cached)
        # The split keeps each slot's own text at the odd places.
        for at in range(1, len(pieces), 2):
            pieces[at] = values.get(pieces[at], pieces[at])
        return "".join(pieces)

    def _render_banner(self, locale: Locale, state: ConsentState, urls: Urls) -> str:
        shared = self.config.shared_cache_mode
        t = self.texts(locale)
        # The state the server verified is the only one the script trusts. In shared-cache mode
        # the page is the same for everyone: the script asks the state endpoint instead.
        verified = {
            # A visitor nobody asks (an opt-out region) counts as decided for the script.
            "decided": not state.asks,
            "granted": sorted(state.granted),
            "consentId": CONSENT_ID_MARKER if state.decided else None,
        }
        browser_config: dict[str, Any] = {
            "state": None if shared else verified,
            "stateUrl": urls.state,
            "held": HELD_MARKER,
            "gcm": dict(self.config.google_consent_mapping)
            if self.config.google_consent_mode
            else None,
        }
        return self.templates.render(
            "consent/banner.html",
            t=t,
            locale=locale,
            browser_config=browser_config,
            js_url=urls.static + hashed_name("consent.js"),
            nonce=NONCE_MARKER,
            theme_style=self.theme_style,
            hidden=not state.asks or shared,
            decided=not state.asks and not shared,
            gpc=state.gpc,
            model=state.model,
            choices_url=urls.preferences + f"?lang={locale.tag}",
            csrf=CSRF_MARKER,
            next=NEXT_MARKER,
            decision_url=urls.decision,
            policy_url=urls.policy + f"?lang={locale.tag}",
            preferences_url=urls.preferences + f"?lang={locale.tag}",
            categories=self.category_rows(t, state if not shared else UNDECIDED),
            id_suffix="",
            tcf=self.tcf_views.view(locale.tag) if self.tcf_views else None,
            tcf_vendors_url=urls.preferences + f"?lang={locale.tag}#cst-tcf-vendors",
        )

    def category_rows(self, t: TextLookup, state: ConsentState) -> list[dict[str, Any]]:
        vendors = self._vendors_by_category()
        rows = []
        for category in self.config.categories:
            required = category.id in self.required
            refused_by_signal = state.gpc and category.id in self.gpc_refuses
            rows.append(
                {
                    "id": category.id,
                    "required": required,
                    # Refused by the browser's GPC signal: locked off, and labelled so.
                    "signal": refused_by_signal,
                    "checked": required or (not state.asks and category.id in state.granted),
                    "title": t.category(category.id, "title"),
                    "description": t.category(category.id, "description"),
                    "vendors": ", ".join(vendors.get(category.id, ())),
                }
            )
        return rows

    def _vendors_by_category(self) -> Mapping[str, tuple[str, ...]]:
        """Per category, the vendors of the services the operator declares the site uses."""
        found: dict[str, set[str]] = {}
        for service in self.operator_services:
            found.setdefault(service.category, set()).add(service.vendor)
        return {category: tuple(sorted(v)) for category, v in found.items()}

    def services_listed(self) -> tuple[Service, ...]:
        """The services the cookie policy names: those the operator declares the site uses.

        The catalogue knows over a thousand services so that it can hold back whatever a page
        loads; naming them all would tell readers the site uses every one of them. Built from
        the configuration alone, never from the pages a worker happened to serve, so every
        worker gives every visitor the same banner and the same policy.
        """
        return tuple(sorted(self.operator_services, key=lambda s: (s.category, s.name)))

    def policy_page(self, locale: Locale, root_path: str = "", *, secure: bool = False) -> str:
        """The cookie policy page, kept per locale, mount point and scheme."""
        key = (locale.tag, root_path, secure)
        cached = self._policy_cache.get(key)
        if cached is None:
            t = self.texts(locale)
            cached = self.templates.render(
                "consent/policy.html",
                t=t,
                locale=locale,
                css_url=self.asset_url("consent.css", root_path),
                theme_style=self.theme_style,
                preferences_url=self.urls_for(root_path).preferences + f"?lang={locale.tag}",
                sections=self.policy_sections(t, secure=secure),
            )
            self._policy_cache.put(key, cached)
        return cached

    def policy_sections(self, t: TextLookup, *, secure: bool = False) -> list[dict[str, Any]]:
        """The cookie policy, per category: our own cookies (named as a browser on this scheme
        holds them), the operator's, the services'."""
        rows: dict[str, list[dict[str, Any]]] = {c: [] for c in self.config.category_ids}
        necessary = sorted(self.required)[0]
        own_days = self.config.cookie_max_age // 86400
        domain = self.config.cookie_domain
        site = t("policy.first_party")
        rows[necessary].append(
            _row(
                cookie_name_for(self.config.cookie_name, secure=secure, domain=domain),
                site,
                site,
                t("categories.necessary.description"),
                own_days,
                False,
            )
        )
        rows[necessary].append(
            _row(
                cookie_name_for(self.config.csrf_cookie_name, secure=secure, domain=domain),
                site,
                site,
                t("categories.necessary.description"),
                0,
                False,
            )
        )
        if self.tcf is not None:
            # First party, but the ad partners' scripts on the page read it.
            rows[necessary].append(_row(TC_COOKIE, site, site, t("tcf.cookie"), own_days, True))
        for name, category in sorted(self.config.cookie_categories.items()):
            details = self.config.cookie_details.get(name, {})
            rows.setdefault(category, []).append(
                _row(
                    name,
                    site,
                    site,
                    str(details.get("purpose", "")),
                    int(details.get("lifetime_days", 0)),
                    False,
                )
            )
        for service in self.services_listed():
            if not service.cookies:
                # Some services set no cookie of their own yet read or write elsewhere (a tag
                # manager loads others): listed all the same, so that every vendor is named.
                rows.setdefault(service.category, []).append(
                    _row("", service.name, service.vendor, "", 0, True, service.privacy_policy)
                )
            for cookie in service.cookies:
                rows.setdefault(service.category, []).append(
                    _row(
                        cookie.name,
                        service.name,
                        service.vendor,
                        cookie.purpose,
                        cookie.lifetime_days,
                        cookie.party == "third",
                        service.privacy_policy,
                    )
                )
        return [
            {
                "id": category_id,
                "title": t.category(category_id, "title"),
                "description": t.category(category_id, "description"),
                "rows": rows.get(category_id, []),
            }
            for category_id in self.config.category_ids
        ]

    def placeholder(self, locale: Locale, category_id: str, vendor: str) -> str:
        key = (locale.tag, category_id, vendor)
        cached = self._placeholder_cache.get(key)
        if cached is None:
            t = self.texts(locale)
            cached = self.templates.render(
                "consent/placeholder.html",
                t=t,
                locale=locale,
                category_id=category_id,
                category_title=t.category(category_id, "title")
                if category_id in self.config.category_ids
                else category_id,
                vendor=vendor or "?",
            )
            self._placeholder_cache.put(key, cached)
        return cached

    # ----- audit store -------------------------------------------------------------------

    async def store(self) -> AuditStore:
        if self._store is None:
            async with self._store_lock:
                if self._store is None:
                    config = self.config
                    self._store = open_store(
                        config.resolved_audit_url,
                        config.resolved_audit_key,
                        timeout=config.audit_timeout,
                        anchor_file=config.audit_anchor_file,
                        anchor_every=config.audit_anchor_every,
                        anchor_interval=config.audit_anchor_interval,
                    )
        return self._store

    async def close(self) -> None:
        await self.csp_reports.close()
        if self._store is not None:
            await self._store.close()
            self._store = None

    @staticmethod
    def now() -> int:
        return int(time.time())


# Ids as the middleware makes them: what JSON and HTML both write as it is.
_JSON_PLAIN = re.compile(r"[A-Za-z0-9_\-]*").fullmatch


def _escaped(value: str) -> str:
    """``html.escape(value)``; tokens, markers and most paths hold none of what it replaces,
    which five searches tell sooner than its five replacements."""
    if "&" in value or "<" in value or ">" in value or '"' in value or "'" in value:
        return html.escape(value)
    return value


def _with_nonce(markup: str, nonce: str | None) -> str:
    """Markup with its nonce slots filled, or their attributes gone when the page has none."""
    if nonce:
        return markup.replace(NONCE_MARKER, html.escape(nonce))
    return markup.replace(_NONCE_ATTRIBUTE, "")


def _row(
    cookie: str,
    service: str,
    provider: str,
    purpose: str,
    lifetime_days: int,
    third_party: bool,
    privacy_policy: str | None = None,
) -> dict[str, Any]:
    return {
        "cookie": cookie,
        "service": service,
        "provider": provider,
        "purpose": purpose,
        "lifetime_days": lifetime_days,
        "third_party": third_party,
        "privacy_policy": privacy_policy,
    }


def _catalogue(config: ConsentConfig) -> tuple[tuple[Service, ...], Catalogue]:
    try:
        extra = tuple(service_from_mapping(entry) for entry in config.services)
        catalogue = Catalogue.from_config(
            config.services, include_builtin=config.use_catalogue, categories=config.category_ids
        )
        return extra, catalogue
    except CatalogueError as exc:
        raise ConfigError(f"services configuration: {exc}") from exc


def regional_fields(
    runtime: ConsentRuntime, state: ConsentState, granted: frozenset[str]
) -> dict[str, str | None]:
    """What a receipt records of the region: its code, the model, and the GPP string of the
    choice being recorded. Nothing without regions: receipts stay as they were."""
    regional = runtime.regional
    if regional is None:
        return {}
    opted_out = not runtime.gpc_refuses <= granted
    string = regional.gpp_for(Region.parse(state.region), opted_out=opted_out, gpc=state.gpc)[0]
    return {"region": state.region, "privacy_model": state.model, "gpp": string}


def regional_answer(runtime: ConsentRuntime, state: ConsentState) -> dict[str, object]:
    """The state endpoint's regional part: for a page every visitor shares (CDN), and for the
    GPP API after a decision without a reload."""
    assert runtime.regional is not None
    _, sids, parsed = runtime.regional.gpp_for(
        Region.parse(state.region),
        opted_out=not runtime.gpc_refuses <= state.granted,
        gpc=state.gpc,
    )
    return {
        # A visitor no banner asks has nothing to decide before the page runs.
        "decided": not state.asks,
        "model": state.model,
        "region": state.region,
        "gpp": {
            "gppString": state.gpp,
            "applicableSections": list(sids),
            "parsedSections": json.loads(parsed),
        },
    }
