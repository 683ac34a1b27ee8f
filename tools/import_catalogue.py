"""Import services and cookies from permissively licensed sources into the catalogue.

Reads unpacked copies of the sources (paths on the command line, see ``--help``), takes
their facts only (host names, cookie names, lifetimes, categories, vendors, privacy links)
and writes one data file per source into ``consent/services/``: services the catalogue
does not know yet, and ``[[extends]]`` tables that add cookies to a service it knows.
Every purpose text is generated here from the facts; no source's prose is copied.

The sources are read in a fixed order, each against the catalogue as the earlier ones left
it: tarteaucitron.js (widgets and tags), then Prebid.js (ad exchanges, identity modules),
then the Open Cookie Database (cookies). Re-running on the same inputs gives the same files.

    python tools/import_catalogue.py --tarteaucitron DIR --prebid DIR --ocd FILE
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from consent.catalogue import (
    SHARED_HOSTS,
    Catalogue,
    CookieSpec,
    Service,
    covers_not_tracker,
    framework_cookie,
    generic_first_party,
    not_tracker_hosts,
)
from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES
from consent.parties import registrable_domain

OUT_DIR: Final = Path(__file__).resolve().parent.parent / "consent" / "services"
FILES: Final = {
    "tarteaucitron": "imported_tarteaucitron.toml",
    "prebid-js": "imported_prebid.toml",
    "open-cookie-database": "imported_open_cookie_database.toml",
}

# Consumer sites that also run an ad exchange: only the exchange's own hosts are claimed.
CONSUMER_SITES: Final = frozenset(
    {
        "allegro.pl",
        "dailyhunt.in",
        "dexerto.com",
        "dexerto.media",
        "ebay.com",
        "gjirafa.com",
        "naver.com",
        "onet.pl",
        "opera.com",
        "otto.de",
        "rumble.com",
        "telkomsel.com",
        "wp.pl",
        "yandex.ru",
        "mail.ru",
        "vk.com",
        "baidu.com",
        "qq.com",
    }
)
# Domains of the big platforms and of standards bodies: a vendor's script may name them (a
# sign-in, a renderer, a specification), but they never make that vendor's own host.
FOREIGN_DOMAINS: Final = frozenset(
    {
        "amazon.com",
        "apple.com",
        "bing.com",
        "example.com",
        "example.org",
        "example.net",
        "facebook.com",
        "facebook.net",
        "github.com",
        "google.com",
        "iab.com",
        "iabeurope.eu",
        "iabtechlab.com",
        "instagram.com",
        "linkedin.com",
        "live.com",
        "localhost",
        "microsoft.com",
        "msn.com",
        "office.com",
        "prebid.org",
        "schema.org",
        "twitter.com",
        "w3.org",
        "wikipedia.org",
        "x.com",
        "yahoo.com",
        "youtube.com",
        "mozilla.org",
        "googletagmanager.com",
        "googlesyndication.com",
        "doubleclick.net",
        "adnxs.com",
        "gstatic.com",
        "googleapis.com",
        "cloudflare.com",
        "jsdelivr.net",
        "unpkg.com",
        "tarteaucitron.io",
        "policies.google.com",
        "test.com",
        "domain.com",
        "website.com",
        "yimg.com",
        "yimg.jp",
        "twimg.com",
        "fbcdn.net",
        "licdn.com",
        "cdninstagram.com",
    }
)
_HOST_IN_CODE: Final = re.compile(
    r"""(?:https?:)?\\?/\\?/([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)"""
    r"""(?=[/'"`:?#\\]|$)""",
    re.IGNORECASE,
)
_BLOCK_COMMENT: Final = re.compile(r"/\*.*?\*/", re.S)
_LINE_COMMENT: Final = re.compile(r"^\s*//.*$", re.M)
_VALID_HOST: Final = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z][a-z0-9-]*")


# -- what the sources give -----------------------------------------------------------------


@dataclass
class Draft:
    """A service as an importer assembles it, before it is merged or written."""

    id: str
    name: str
    vendor: str
    category: str
    privacy_policy: str
    source: str
    hosts: list[str] = field(default_factory=list)
    cookies: list[CookieSpec] = field(default_factory=list)
    embed: bool = False
    inline_hosts: bool = True


@dataclass
class Output:
    """One data file: new services and additions to known ones."""

    source: str
    note: str
    services: list[Draft] = field(default_factory=list)
    extends: dict[str, tuple[list[str], list[CookieSpec]]] = field(default_factory=dict)


class State:
    """The catalogue as the imports so far leave it: claims, ids and cookie names."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.services: dict[str, Service | Draft] = {s.id: s for s in catalogue}
        self.claims: dict[str, str] = {}
        for service in catalogue:
            for host in service.hosts:
                self.claims[host] = service.id
        self.cookies: set[tuple[str, str]] = {
            (c.name, c.party) for s in catalogue for c in s.cookies
        }
        self.not_trackers = not_tracker_hosts()
        self.pattern_starts = {_literal(c.name) for s in catalogue for c in s.cookies if c.pattern}

    def owner(self, host: str) -> str | None:
        """The service whose claim covers a host, the most specific claim first."""
        labels = host.split(".")
        for start in range(len(labels) - 1):
            found = self.claims.get(".".join(labels[start:]))
            if found is not None:
                return found
        return None

    def neighbours(self, hosts: Iterable[str]) -> set[str]:
        """The services that claim other hosts of the same registrable domains."""
        domains = {registrable_domain(h) for h in hosts}
        return {sid for c, sid in self.claims.items() if registrable_domain(c) in domains}

    def claimable(self, host: str) -> bool:
        """A host no one claims, of no shared or foreign domain, and no library CDN."""
        if not _VALID_HOST.fullmatch(host) or host.endswith((".local", ".test", ".invalid")):
            return False
        domain = registrable_domain(host)
        if domain in FOREIGN_DOMAINS or domain in SHARED_HOSTS or host in FOREIGN_DOMAINS:
            return False
        if any(host == s or host.endswith("." + s) for s in SHARED_HOSTS):
            return False
        if covers_not_tracker(host, self.not_trackers):
            return False
        # A broad claim over someone else's narrower one would take their subdomains.
        return self.owner(host) is None and not any(c.endswith("." + host) for c in self.claims)

    def new_id(self, name: str, suffix: str = "") -> str:
        base = slug(name) or "service"
        candidate = f"{base}-{suffix}" if suffix else base
        number = 2
        while candidate in self.services:
            candidate = f"{base}-{suffix or 'imported'}-{number}".replace("--", "-")
            number += 1
        return candidate

    def add(self, draft: Draft, output: Output) -> None:
        self.services[draft.id] = draft
        for host in draft.hosts:
            self.claims[host] = draft.id
        self._declare(draft.cookies)
        output.services.append(draft)

    def extend(
        self, target: str, hosts: Sequence[str], cookies: Sequence[CookieSpec], output: Output
    ) -> None:
        if not hosts and not cookies:
            return
        known = self.services[target]
        if isinstance(known, Draft) and any(d is known for d in output.services):
            # A service of the same file takes the additions directly.
            known.hosts.extend(hosts)
            known.cookies.extend(cookies)
        else:
            old_hosts, old_cookies = output.extends.setdefault(target, ([], []))
            old_hosts.extend(hosts)
            old_cookies.extend(cookies)
        for host in hosts:
            self.claims[host] = target
        self._declare(cookies)

    def _declare(self, cookies: Iterable[CookieSpec]) -> None:
        for cookie in cookies:
            self.cookies.add((cookie.name, cookie.party))
            if cookie.pattern:
                self.pattern_starts.add(_literal(cookie.name))

    def fresh_cookies(self, cookies: Iterable[CookieSpec]) -> list[CookieSpec]:
        """Cookies no service declares yet. A web framework's session or CSRF cookie, or a
        generic name on the site's own domain, is the site's own to declare: a source that
        files it under some vendor would make the catalogue claim every site's cookie."""
        kept: list[CookieSpec] = []
        for cookie in cookies:
            if framework_cookie(cookie.name) or generic_first_party(cookie):
                continue
            if (cookie.name, cookie.party) in self.cookies:
                continue
            if cookie.pattern and any(
                p.startswith(_literal(cookie.name)) for p in self.pattern_starts
            ):
                continue  # a narrower pattern is known (``_pk_id.*`` beside ``_pk_id*``)
            if any(k.name == cookie.name and k.party == cookie.party for k in kept):
                continue
            kept.append(cookie)
        return kept


def _literal(glob: str) -> str:
    """The fixed start of a cookie pattern."""
    return re.split(r"[*?]", glob, maxsplit=1)[0]


def slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def code_hosts(code: str) -> list[str]:
    """The hosts a piece of JavaScript fetches from, comments left out."""
    code = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", code))
    hosts = {h.lower() for h in _HOST_IN_CODE.findall(code)}
    return sorted(h for h in hosts if _VALID_HOST.fullmatch(h))


def days(seconds: float) -> int:
    """Lifetimes under a day count as one day, as everywhere in the catalogue."""
    return 0 if seconds <= 0 else max(1, math.ceil(seconds / 86400))


_UNITS: Final = {
    "second": 1,
    "sec": 1,
    "minute": 60,
    "min": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30.44 * 86400,
    "year": 365 * 86400,
}


def parse_retention(text: str) -> int | None:
    """Days from a retention note (``13 months``, ``session``); None when it says no time."""
    lowered = text.strip().lower()
    if lowered.startswith(("session", "end of session", "sessions")):
        return 0
    found = re.match(r"(\d+(?:\.\d+)?)\s*([a-z]+)", lowered)
    if not found:
        return None
    unit = found.group(2).rstrip("s")
    for name, seconds in _UNITS.items():
        if unit.startswith(name):
            return days(float(found.group(1)) * seconds)
    return None


# -- purposes, written from the facts ------------------------------------------------------


def _has(name: str, *parts: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in parts)


_CONSENT_WORDS: Final = ("consent", "cmp", "gdpr", "cookielaw", "optanon", "cookieyes")


def purpose(category: str, cookie: str, party: str, service: str) -> str:
    """A plain sentence on what a cookie is for, from its category, name and party."""
    where = "on the vendor's domain" if party == "third" else "on the site's domain"
    if category == NECESSARY:
        if _has(cookie, *_CONSENT_WORDS):
            return f"Keeps the visitor's consent choices for {service}."
        if _has(cookie, "csrf", "xsrf", "antiforgery", "verificationtoken"):
            return f"Protects {service}'s forms against cross-site request forgery."
        if _has(cookie, "captcha", "bot", "incap", "__cf", "cf_", "datadome", "waf", "human"):
            return f"Tells visitors from automated traffic for {service}."
        if _has(cookie, "lb", "balanc", "route", "affinity", "awsalb", "server", "node"):
            return f"Sends the visitor's requests to the same server of {service}."
        if _has(cookie, "sess", "auth", "login", "token"):
            return f"Keeps the visitor's session with {service} between pages."
        return f"Needed for {service} to work as asked ({where})."
    if category == PREFERENCES:
        return f"Remembers the visitor's settings in {service} ({where})."
    if category == ANALYTICS:
        if _has(cookie, "sess", "visit"):
            return f"Groups one visit's page views for {service}'s statistics ({where})."
        if _has(cookie, "id", "uid", "user", "visitor"):
            return f"Recognises a returning browser for {service}'s statistics ({where})."
        return f"Collects statistics on how pages are used for {service} ({where})."
    if _has(cookie, "sync", "match", "cm", "partner"):
        return f"Matches {service}'s browser identifier with its advertising partners'."
    if _has(cookie, "freq", "cap", "imp", "view"):
        return f"Counts how often {service} showed an ad, to cap repetitions ({where})."
    if _has(cookie, "id", "uid", "user", "visitor", "guid"):
        return f"Identifies the browser for {service}'s advertising ({where})."
    if _has(cookie, "test", "check"):
        return f"Checks whether the browser accepts cookies for {service}."
    return f"Used by {service} to target and measure advertising ({where})."


# -- tarteaucitron.js ------------------------------------------------------------------------

_TAC_CATEGORY: Final = {
    "ads": MARKETING,
    "analytic": ANALYTICS,
    "social": MARKETING,
    "video": MARKETING,
    "comment": PREFERENCES,
    "support": PREFERENCES,
    "google": MARKETING,
}
# Its "api" and "other" groups mix everything; each such service is placed here by what
# it is. Those not named are left out.
_TAC_BY_KEY: Final = {
    "recaptcha": NECESSARY,
    "hcaptcha": NECESSARY,
    "mtcaptcha": NECESSARY,
    "stripe": NECESSARY,
    "helloasso": NECESSARY,
    "googletagmanager": MARKETING,
    "multiplegoogletagmanager": MARKETING,
    "tagcommander": MARKETING,
    "marketomunchkin": MARKETING,
    "onesignal": MARKETING,
    "twitterwidgetsapi": MARKETING,
    "activecampaignvgo": MARKETING,
    "sendinblue": MARKETING,
    "arcio": MARKETING,
    "matomotm": ANALYTICS,
    "abtasty": ANALYTICS,
    "dynatrace": ANALYTICS,
    "pingdom": ANALYTICS,
    "myfeelback": ANALYTICS,
    "posthog": ANALYTICS,
    "googlemaps": PREFERENCES,
    "googlemapssearch": PREFERENCES,
    "googlemapsembed": PREFERENCES,
    "maps_noapi": PREFERENCES,
    "openstreetmap": PREFERENCES,
    "geoportail": PREFERENCES,
    "timelinejs": PREFERENCES,
    "meteofrance": PREFERENCES,
    "m6meteo": PREFERENCES,
    "genially": PREFERENCES,
    "stonly": PREFERENCES,
    "seamlessaccess": PREFERENCES,
    "googlesignin": PREFERENCES,
    "calendly": PREFERENCES,
    "trustpilot": PREFERENCES,
    "issuu": PREFERENCES,
    "matterport": PREFERENCES,
    "faciliti": PREFERENCES,
    "gdocs": PREFERENCES,
    "gsheets": PREFERENCES,
    "gslides": PREFERENCES,
    "gforms": PREFERENCES,
    "gagenda": PREFERENCES,
    "fillout": PREFERENCES,
    "collectchat": PREFERENCES,
    "crisp": PREFERENCES,
    "tolkai": PREFERENCES,
    "gallica": PREFERENCES,
}
_TAC_SERVICE: Final = re.compile(r"tarteaucitron\.services\.([A-Za-z0-9_]+) = \{(.*?)\n\};", re.S)


def _tac_field(body: str, key: str) -> str | None:
    found = re.search(rf"""['"]?{key}['"]?\s*:\s*(['"])(.*?)\1""", body)
    return found.group(2) if found else None


def import_tarteaucitron(package: Path, state: State) -> Output:
    output = Output(
        "tarteaucitron",
        "Services of the tarteaucitron.js service list (MIT): each service's name, group, "
        "privacy link and the hosts its loader code fetches from. Groups are mapped to "
        "categories (ads and social networks: marketing; analytics: analytics; comments and "
        "support chat: preferences; its mixed api and other groups one by one, by what the "
        "service is). Its cookie lists give no lifetimes and are not imported.",
    )
    text = (package / "tarteaucitron.services.js").read_text("utf-8")
    for found in _TAC_SERVICE.finditer(text):
        key, body = found.group(1), found.group(2)
        group = _tac_field(body, "type") or ""
        category = _TAC_BY_KEY.get(key) or _TAC_CATEGORY.get(group)
        name = _tac_field(body, "name")
        uri = _tac_field(body, "uri") or ""
        if category is None or not name:
            continue
        # The loader code only: the privacy link and the help texts name other hosts.
        code = body[body.find('"js"') if '"js"' in body else 0 :]
        code = re.sub(r"""['"]?uri['"]?\s*:\s*(['"]).*?\1""", "", code)
        # A site's own name (``archive.org``, ``www.arte.tv``) also serves its pages and
        # images: only hosts of the tag or player itself are claimed.
        hosts = [h for h in code_hosts(code) if "tarteaucitron" not in h and not _site_name(h)]
        owners = {state.owner(h) for h in hosts} - {None}
        if owners:
            continue  # a service the catalogue already knows by its hosts
        claim = _narrowest(h for h in hosts if state.claimable(h))
        if not claim or not uri.startswith("https://"):
            continue
        draft = Draft(
            id=state.new_id(_clean_name(name)),
            name=_clean_name(name),
            vendor=_clean_name(name),
            category=category,
            privacy_policy=uri,
            source="tarteaucitron",
            hosts=claim,
            embed=group == "video",
            inline_hosts=group not in {"social", "video"},
        )
        state.add(draft, output)
    return output


def _site_name(host: str) -> bool:
    """``example.com`` or ``www.example.com``: the name of a whole site."""
    return host.removeprefix("www.") == registrable_domain(host)


def _clean_name(name: str) -> str:
    return re.sub(r"\s*\((?:privacy by design|formerly [^)]*)\)", "", name).strip()


def _narrowest(hosts: Iterable[str]) -> list[str]:
    """Hosts without those another of them already covers."""
    unique = sorted(set(hosts), key=lambda h: (h.count("."), h))
    kept: list[str] = []
    for host in unique:
        if not any(host == k or host.endswith("." + k) for k in kept):
            kept.append(host)
    return sorted(kept)


# -- Prebid.js ---------------------------------------------------------------------------

_MODULE_KINDS: Final = ("BidAdapter", "IdSystem", "RtdProvider", "AnalyticsAdapter")
_NAME_SUFFIX: Final = re.compile(
    r"\s*(?:bid(?:der)?\s*adapter|analytics\s*adapter|adapter|id\s*system|user\s*id"
    r"(?:\s*sub-?module|\s*module)?|rtd\s*provider|real[- ]?time\s*data\s*(?:provider|"
    r"sub-?module|module)?|sub-?module|module|provider|bidder)s?\s*$",
    re.IGNORECASE,
)


def _module_name(package: Path, stem: str, component: str) -> str:
    doc = package / "modules" / f"{stem}.md"
    if doc.exists():
        found = re.search(r"Module Name\s*:\s*(.+)", doc.read_text("utf-8", "replace"))
        if found:
            # "Module Name: Example Bidder Adapter" names the vendor without the kind.
            name = found.group(1).strip().strip("*").strip(" .\\'")
            name = _NAME_SUFFIX.sub("", _NAME_SUFFIX.sub("", name)).strip(" .\\'")
            if 3 <= len(name) <= 60:
                return name
    return component[:1].upper() + component[1:]


def _module_code(package: Path, stem: str) -> str:
    parts = [
        path.read_text("utf-8", "replace")
        for ext in (".js", ".ts")
        if (path := package / "modules" / f"{stem}{ext}").exists()
    ]
    return "\n".join(parts)


def _prebid_cookies(metadata: Mapping[str, Any], code: str, name: str) -> list[CookieSpec]:
    literals = set(re.findall(r"""['"`]([A-Za-z0-9_.$:-]{2,})['"`]""", code))
    cookies: list[CookieSpec] = []
    for listing in metadata.get("disclosures", {}).values():
        for item in (listing or {}).get("disclosures") or []:
            seconds = item.get("maxAgeSeconds")
            ident = item.get("identifier")
            if item.get("type") != "cookie" or not isinstance(ident, str):
                continue
            if not isinstance(seconds, int) or not re.fullmatch(r"[A-Za-z0-9_.:*?$-]+", ident):
                continue
            stem = ident.split("*")[0]
            # The module's own code writes the name: stored on the publisher's domain.
            party = "first" if (ident in literals or (stem and stem in literals)) else "third"
            spec = CookieSpec(ident, "*" in ident or "?" in ident, days(seconds), party, "")
            if generic_first_party(spec):
                spec = CookieSpec(spec.name, spec.pattern, spec.lifetime_days, "third", "")
            cookies.append(
                CookieSpec(
                    spec.name,
                    spec.pattern,
                    spec.lifetime_days,
                    spec.party,
                    purpose(MARKETING, spec.name, spec.party, name),
                )
            )
    return cookies


def _vendor_domain(host: str, component: str) -> str | None:
    """The registrable domain of a host when it plainly is the module's vendor's own: its
    name is the module's, and it is no consumer site that also sells ads."""
    key = re.sub(r"[^a-z0-9]", "", component.lower())
    domain = registrable_domain(host)
    label = re.sub(r"[^a-z0-9]", "", domain.split(".")[0])
    if len(key) < 4 or len(label) < 4 or domain in CONSUMER_SITES:
        return None
    return domain if key in label or label in key else None


def _claims(
    hosts: Sequence[str],
    component: str,
    users: Mapping[str, set[str]],
    stem: str,
    claimable: Callable[[str], bool],
) -> list[str]:
    """What a module claims: its vendor's own domain where no other module names it and no
    one else claims part of it, else each host, but never a whole site's name that is not
    the vendor's."""
    out: list[str] = []
    for host in hosts:
        domain = _vendor_domain(host, component)
        if domain is not None and users.get(domain, set()) <= {stem} and claimable(domain):
            out.append(domain)
        elif not _site_name(host) and claimable(host):
            out.append(host)
    return _narrowest(out)


def import_prebid(package: Path, state: State) -> Output:
    output = Output(
        "prebid-js",
        "Prebid.js (Apache-2.0): the bidder adapters, user-ID, real-time data and analytics "
        "modules, with the hosts their code calls (endpoints, user syncs, renderers) and the "
        "cookies of their storage disclosures, with lifetimes. All are advertising, so "
        "marketing. A cookie counts as first-party only where the module's own code names "
        "it; the rest are described as stored on the vendor's domain. A host's registrable "
        "domain is claimed where it carries the module's name and no other module uses it. "
        "The source names no privacy notice: privacy_policy links the vendor's site.",
    )
    modules: list[tuple[str, Mapping[str, Any], str, list[str]]] = []
    for path in sorted((package / "metadata" / "modules").glob("*.json")):
        stem = path.stem
        if not stem.endswith(_MODULE_KINDS):
            continue
        metadata = json.loads(path.read_text("utf-8"))
        own = [c for c in metadata.get("components", []) if not c.get("aliasOf")]
        if not own:
            continue
        code = _module_code(package, stem)
        modules.append((stem, metadata, code, code_hosts(code)))
    # Hosts and domains that more than one module names belong to none of them for sure.
    users: dict[str, set[str]] = defaultdict(set)
    for stem, _, _, hosts in modules:
        for host in hosts:
            users[host].add(stem)
            users[registrable_domain(host)].add(stem)
    for stem, metadata, code, hosts in modules:
        component = str(metadata["components"][0]["componentName"])
        name = _module_name(package, stem, component)
        cookies = _prebid_cookies(metadata, code, name)
        mine = [h for h in hosts if users[h] == {stem}]
        owners = {owner for h in mine if (owner := state.owner(h)) is not None}
        free = [h for h in mine if state.claimable(h)]
        if len(owners) == 1 and not free:
            (target,) = owners
            known = state.services[target]
            if known.category == MARKETING:
                state.extend(target, [], state.fresh_cookies(cookies), output)
            continue
        claim = _claims(free, component, users, stem, state.claimable)
        if not claim:
            continue
        # A vendor's bidder, analytics and data modules make one service, as do a module and
        # a service that already claims other hosts of its domains.
        same = state.services.get(slug(component))
        if same is None:
            # Every host beside the same one service's claims, or no merge.
            neighbours = {frozenset(state.neighbours([h])) for h in claim}
            if len(neighbours) == 1 and len(only := next(iter(neighbours))) == 1:
                same = state.services[next(iter(only))]
        if same is not None and same.category == MARKETING:
            state.extend(same.id, claim, state.fresh_cookies(cookies), output)
            continue
        draft = Draft(
            id=state.new_id(component),
            name=name,
            vendor=name,
            category=MARKETING,
            privacy_policy=f"https://{registrable_domain(claim[0])}/",
            source="prebid-js",
            hosts=claim,
            cookies=state.fresh_cookies(cookies),
        )
        state.add(draft, output)
    return output


# -- Open Cookie Database ------------------------------------------------------------------

_OCD_CATEGORY: Final = {
    "Functional": NECESSARY,
    "Security": NECESSARY,
    "Necessary": NECESSARY,
    "Personalization": PREFERENCES,
    "Analytics": ANALYTICS,
    "Marketing": MARKETING,
}
_CATEGORY_LABEL: Final = {
    NECESSARY: "necessary",
    PREFERENCES: "preferences",
    ANALYTICS: "analytics",
    MARKETING: "advertising",
}


def _ocd_party(domain: str) -> str:
    return "first" if not domain.strip() else "third"


def _ocd_hosts(domain: str) -> list[str]:
    words = re.findall(r"[a-z0-9.-]+\.[a-z]{2,}", domain.lower())
    return [w.lstrip(".") for w in words]


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def import_ocd(path: Path, state: State) -> Output:
    output = Output(
        "open-cookie-database",
        "Open Cookie Database (Apache-2.0): cookie names, wildcard flags, categories, "
        "retention and the platform and data controller each belongs to. Functional and "
        "security cookies are necessary, personalisation is preferences, analytics and "
        "marketing keep their names. A cookie with no domain is stored on the site's own "
        "domain (first party); with a domain, on the vendor's. Cookies join the service "
        "that already claims their domain or carries the platform's name; other platforms "
        "become services of their own, which claim no hosts. Generic names are left out "
        "where they would be enforced as a tracker's first-party cookie, and retention "
        "notes that give no time are left out. Purposes are written for this catalogue.",
    )
    data: Mapping[str, list[Mapping[str, str]]] = json.loads(path.read_text("utf-8"))
    by_name = {_normal(s.name): sid for sid, s in state.services.items()}
    by_name.update({_normal(sid): sid for sid in state.services})
    for platform, rows in data.items():
        if not platform.strip():
            continue
        owners = Counter(
            owner
            for row in rows
            for host in _ocd_hosts(row.get("domain", ""))
            if (owner := state.owner(host)) is not None
        )
        matched = by_name.get(_normal(platform))
        if matched is None and owners:
            matched = owners.most_common(1)[0][0]
        groups: dict[str, list[Mapping[str, str]]] = defaultdict(list)
        for row in rows:
            category = _OCD_CATEGORY.get(row.get("category", ""))
            if category is None:
                continue
            # A known tracker's "functional" cookie on its own domain only serves the tracker:
            # it is described under the tracker's purpose. On the site's domain it stays
            # necessary, since it would be enforced there, and a vendor's name may stand for
            # several products (Salesforce's platform is no DMP); so do consent storage and
            # security cookies.
            if (
                matched is not None
                and row.get("category") == "Functional"
                and _ocd_party(row.get("domain", "")) == "third"
                and not _has(row.get("cookie", ""), *_CONSENT_WORDS)
            ):
                category = state.services[matched].category
            groups[category].append(row)
        privacy = next(
            (r["privacyLink"] for r in rows if r.get("privacyLink", "").startswith("https://")),
            "",
        )
        controller = next((r["dataController"] for r in rows if r.get("dataController")), "")
        split = len(groups) > 1
        for category, members in sorted(groups.items()):
            label = platform.strip()
            cookies = _ocd_cookies(members, category, label)
            target = matched if matched and state.services[matched].category == category else None
            if target is not None:
                state.extend(target, [], state.fresh_cookies(cookies), output)
                continue
            fresh = state.fresh_cookies(cookies)
            policy = privacy or (state.services[matched].privacy_policy if matched else "")
            if not fresh or not policy.startswith("https://"):
                continue
            name = f"{label} ({_CATEGORY_LABEL[category]})" if split else label
            suffix = category if split or slug(label) in state.services else ""
            twin = state.services.get(f"{slug(label)}-{suffix}" if suffix else slug(label))
            if twin is not None and twin.category == category:
                # The same platform spelt twice (``Hubspot`` and ``HubSpot``), or its
                # product with the category in its name (``piano-analytics``): one service.
                state.extend(twin.id, [], fresh, output)
                continue
            draft = Draft(
                id=state.new_id(label, suffix),
                name=name,
                vendor=_vendor(controller, label),
                category=category,
                privacy_policy=policy,
                source="open-cookie-database",
                cookies=fresh,
            )
            state.add(draft, output)
    return output


def _vendor(controller: str, platform: str) -> str:
    # Some rows carry a retention note where the controller belongs.
    if not controller or re.fullmatch(r"\d+\s+\w+", controller) or controller == "Website operator":
        return platform
    return controller


def _ocd_cookies(
    rows: Iterable[Mapping[str, str]], category: str, service: str
) -> list[CookieSpec]:
    cookies: list[CookieSpec] = []
    for row in rows:
        name = row.get("cookie", "").strip()
        lifetime = parse_retention(row.get("retentionPeriod", ""))
        if not name or lifetime is None or not re.fullmatch(r"[!-~]+", name):
            continue
        if any(c in name for c in ';,="\\%[]'):
            continue
        wildcard = row.get("wildcardMatch") == "1"
        if wildcard and not name.endswith("*"):
            name += "*"
        party = _ocd_party(row.get("domain", ""))
        cookies.append(
            CookieSpec(
                name,
                wildcard or "?" in name or "*" in name,
                lifetime,
                party,
                purpose(category, name, party, service),
            )
        )
    return cookies


# -- writing ---------------------------------------------------------------------------------


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _cookie_line(cookie: CookieSpec, source: str = "") -> str:
    parts = [f"name = {_string(cookie.name)}"]
    if cookie.pattern:
        parts.append("pattern = true")
    parts += [
        f"lifetime_days = {cookie.lifetime_days}",
        f"party = {_string(cookie.party)}",
        f"purpose = {_string(cookie.purpose)}",
    ]
    if source:
        parts.append(f"source = {_string(source)}")
    return "  { " + ", ".join(parts) + " },"


def _hosts_line(hosts: Sequence[str]) -> str:
    return "hosts = [" + ", ".join(_string(h) for h in hosts) + "]"


def render(output: Output) -> str:
    lines = [
        "# Generated by tools/import_catalogue.py; change the importer or the source, not",
        "# this file (docs/catalogue.md says how to re-import).",
        f'source = """\n{_wrap(output.note)}\n"""',
    ]
    for draft in output.services:
        lines += [
            "",
            "[[services]]",
            f"id = {_string(draft.id)}",
            f"name = {_string(draft.name)}",
            f"vendor = {_string(draft.vendor)}",
            f"category = {_string(draft.category)}",
            f"source = {_string(draft.source)}",
        ]
        if draft.hosts:
            lines.append(_hosts_line(draft.hosts))
        if draft.embed:
            lines.append("embed = true")
        if not draft.inline_hosts:
            lines.append("inline_hosts = false")
        lines.append(f"privacy_policy = {_string(draft.privacy_policy)}")
        if draft.cookies:
            lines.append("cookies = [")
            lines += [_cookie_line(c) for c in draft.cookies]
            lines.append("]")
    for target, (hosts, cookies) in sorted(output.extends.items()):
        if not hosts and not cookies:
            continue
        lines += [
            "",
            "[[extends]]",
            f"id = {_string(target)}",
            f"source = {_string(output.source)}",
        ]
        if hosts:
            lines.append(_hosts_line(hosts))
        if cookies:
            lines.append("cookies = [")
            lines += [_cookie_line(c) for c in cookies]
            lines.append("]")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int = 92) -> str:
    words, line, out = text.split(), "", []
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    out.append(line)
    return "\n".join(out)


def summary(outputs: Iterable[Output]) -> Iterator[str]:
    for output in outputs:
        added = sum(len(c) for _, c in output.extends.values())
        yield (
            f"{FILES[output.source]}: {len(output.services)} services, "
            f"{sum(len(d.hosts) for d in output.services)} hosts, "
            f"{sum(len(d.cookies) for d in output.services)} cookies; "
            f"{added} cookies added to {sum(1 for _, c in output.extends.values() if c)} "
            f"known services"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarteaucitron", type=Path, required=True, help="unpacked package")
    parser.add_argument("--prebid", type=Path, required=True, help="unpacked Prebid.js package")
    parser.add_argument(
        "--ocd", type=Path, required=True, help="open-cookie-database.json of the database"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="the data folder")
    args = parser.parse_args(argv)
    for name in FILES.values():
        # The catalogue the imports start from is the hand-written one.
        (args.out / name).unlink(missing_ok=True)
    state = State(Catalogue.load())
    outputs = [
        import_tarteaucitron(args.tarteaucitron, state),
        import_prebid(args.prebid, state),
        import_ocd(args.ocd, state),
    ]
    for output in outputs:
        (args.out / FILES[output.source]).write_text(render(output), "utf-8")
    for line in summary(outputs):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
