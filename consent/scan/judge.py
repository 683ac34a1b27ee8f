"""Judging what a scan recorded: the catalogue, the operator's declarations, the policy page.

Pure functions over the records of ``consent.scan.model``; the browser is not needed here, so
every rule can be tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from urllib.parse import urlsplit

from consent.catalogue import Catalogue, CookieSpec, not_tracker_hosts
from consent.config import DEFAULT_GOOGLE_CONSENT_MAPPING, ConsentConfig
from consent.names import MARKETING, NECESSARY
from consent.parties import Parties
from consent.scan.gcm import GRANTED
from consent.scan.model import (
    AFTER,
    AT_WITHDRAWAL,
    BEFORE,
    FIRST_PARTY,
    NOT_TRACKER,
    THIRD_PARTY,
    WITHDRAWN,
    BannerCheck,
    Finding,
    RequestRecord,
    StateResult,
)

# The shipped policy template (templates/consent/policy.html) gives each category's section a
# heading with this id prefix and names each cookie in a <code> cell of its table.
POLICY_SECTION_PREFIX = "cst-policy-"


class _PolicyReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.category: str | None = None
        self.in_cell = False
        self.in_code = False
        self.text: list[str] = []
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id") or ""
        if tag in ("h1", "h2", "h3") and ident.startswith(POLICY_SECTION_PREFIX):
            self.category = ident[len(POLICY_SECTION_PREFIX) :]
        elif tag == "td":
            self.in_cell = True
        elif tag == "code" and self.in_cell:
            self.in_code, self.text = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.in_cell = False
        elif tag == "code" and self.in_code:
            self.in_code = False
            name = "".join(self.text).strip()
            if name and self.category:
                self.found.append((name, self.category))

    def handle_data(self, data: str) -> None:
        if self.in_code:
            self.text.append(data)


def read_policy(html: str) -> list[tuple[str, str]]:
    """The cookies a policy page declares, as ``(name or glob, category)``, in page order."""
    reader = _PolicyReader()
    reader.feed(html)
    reader.close()
    return reader.found


@dataclass(frozen=True, slots=True)
class Knowledge:
    """What the scan judges against, built once per scan."""

    site_host: str
    catalogue: Catalogue
    own: Parties  # the site and the operator's own domains
    allowed: Parties  # the same, plus libraries, fonts and CDNs that are never trackers
    rules: tuple[tuple[str, str], ...]  # operator host rules: (host, category)
    declared: tuple[tuple[CookieSpec, str], ...]  # from the policy page
    configured: Mapping[str, str]  # the operator's cookie_categories
    policy_read: bool
    unclassified: str
    consent_mapping: Mapping[str, str]
    required: frozenset[str]

    @classmethod
    def build(
        cls,
        site_host: str,
        config: ConsentConfig | None,
        declared: Sequence[tuple[str, str]],
        *,
        policy_read: bool,
        required: Iterable[str] = (NECESSARY,),
    ) -> Knowledge:
        own_domains: Sequence[str] = ()
        if config is None:
            catalogue = Catalogue.builtin()
            rules: tuple[tuple[str, str], ...] = ()
            configured: Mapping[str, str] = {}
            unclassified = MARKETING
            mapping: Mapping[str, str] = DEFAULT_GOOGLE_CONSENT_MAPPING
        else:
            catalogue = Catalogue.from_config(
                config.services,
                include_builtin=config.use_catalogue,
                categories=config.category_ids,
            )
            rules = tuple(
                (r.host.strip().lower().strip("."), r.category) for r in config.rules if r.host
            )
            configured = dict(config.cookie_categories)
            unclassified = config.unclassified_category
            mapping = config.google_consent_mapping
            own_domains = config.own_domains
            required = config.required_categories
        specs = tuple(
            (CookieSpec(name, "*" in name or "?" in name, 0, "first", ""), category)
            for name, category in declared
        )
        return cls(
            site_host=site_host,
            catalogue=catalogue,
            own=Parties(own_domains),
            allowed=Parties(own_domains, not_tracker_hosts()),
            rules=rules,
            declared=specs,
            configured=configured,
            policy_read=policy_read,
            unclassified=unclassified,
            consent_mapping=mapping,
            required=frozenset(required),
        )

    def request_class(self, url: str, host: str) -> tuple[str, str | None, str | None]:
        """``(party, service name, category)``; the category of an unknown third party is the
        one the middleware holds unclassified content for."""
        if not self.own.third_party(host, self.site_host):
            return FIRST_PARTY, None, None
        if not self.allowed.third_party(host, self.site_host):
            return NOT_TRACKER, None, None
        for rule_host, category in self.rules:
            if host == rule_host or host.endswith("." + rule_host):
                return THIRD_PARTY, rule_host, category
        service = self.catalogue.match_url(url)
        if service is None:
            return THIRD_PARTY, None, None
        return THIRD_PARTY, service.name, service.category

    def cookie_class(self, name: str) -> tuple[str | None, bool]:
        """``(category, declared)``: the policy page's word first, then the configuration's,
        then the catalogue's (a cookie it knows but the page does not name is undeclared)."""
        for spec, category in self.declared:
            if spec.matches(name):
                return category, True
        if name in self.configured:
            # Without a readable policy page the configuration is the declaration.
            return self.configured[name], not self.policy_read
        found = self.catalogue.match_cookie(name)
        if found is not None:
            return found[0].category, False
        return None, False


def granted_in(state: StateResult, phase: str, required: frozenset[str]) -> frozenset[str]:
    if phase == AFTER:
        return frozenset(state.granted) | required
    return required


def classify(state: StateResult, knowledge: Knowledge) -> None:
    """Fills in party, service and category of every record of a state."""
    for request in state.requests:
        request.party, request.service, request.category = knowledge.request_class(
            request.url, request.host
        )
    for cookie in state.cookies:
        cookie.category, cookie.declared = knowledge.cookie_class(cookie.name)
        host = cookie.domain.lstrip(".")
        cookie.first_party = not knowledge.own.third_party(host, knowledge.site_host)


def judge_state(state: StateResult, knowledge: Knowledge) -> list[Finding]:
    classify(state, knowledge)
    findings: list[Finding] = []
    findings += _judge_requests(state, knowledge)
    findings += _judge_cookies(state, knowledge)
    findings += _judge_storage(state, knowledge)
    findings += _judge_consent_mode(state, knowledge)
    for page, reason in state.pages_failed:
        findings.append(Finding("page-error", state.name, "", page, reason, page))
    return findings


def _judge_requests(state: StateResult, knowledge: Knowledge) -> list[Finding]:
    grouped: dict[tuple[str, str, str], list[RequestRecord]] = {}
    unknown: dict[str, int] = {}
    for request in state.requests:
        if request.party != THIRD_PARTY:
            continue
        if request.service is None:
            unknown[request.host] = unknown.get(request.host, 0) + 1
        category = request.category or knowledge.unclassified
        if category in granted_in(state, request.phase, knowledge.required):
            continue
        kind = (
            "third-party-before-consent" if request.phase == BEFORE else "third-party-after-refusal"
        )
        grouped.setdefault((kind, request.phase, request.host), []).append(request)
    findings = []
    for (kind, phase, host), requests in grouped.items():
        first = requests[0]
        who = first.service or "a service the catalogue does not know"
        category = first.category or f"{knowledge.unclassified}, as unclassified"
        findings.append(
            Finding(
                kind,
                state.name,
                phase,
                host,
                f"{who} ({category}): {len(requests)} request(s), first {_short(first.url)}",
                first.page,
                len(requests),
            )
        )
    for host, count in unknown.items():
        findings.append(
            Finding(
                "unknown-host",
                state.name,
                "",
                host,
                f"{count} request(s); classify it with a [[rules]] entry or own_domains",
                count=count,
            )
        )
    return findings


def _judge_cookies(state: StateResult, knowledge: Knowledge) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, ...]] = set()
    before_withdrawal = {
        (c.name, c.domain.lstrip("."), c.path)
        for c in state.cookies
        if c.phase == AFTER and c.source == "jar"
    }
    at_withdrawal = {
        (c.name, c.domain.lstrip("."), c.path)
        for c in state.cookies
        if c.phase == AT_WITHDRAWAL and c.source == "jar"
    }
    for cookie in state.cookies:
        identity = (cookie.name, cookie.domain.lstrip("."), cookie.path)
        if cookie.phase == WITHDRAWN and cookie.source == "jar" and identity in at_withdrawal:
            continue  # the same cookie, already reported as kept
        where = f"{cookie.domain or knowledge.site_host}{cookie.path or ''}"
        how = "set by the server" if cookie.source == "header" else "in the browser's jar"
        flags = " (HttpOnly)" if cookie.http_only else ""
        if not cookie.declared:
            key: tuple[str, ...] = ("undeclared", cookie.name)
            if key not in seen:
                seen.add(key)
                known = f", {cookie.category} per the catalogue" if cookie.category else ""
                findings.append(
                    Finding(
                        "undeclared-cookie",
                        state.name,
                        cookie.phase,
                        cookie.name,
                        f"on {where}{flags}, {how}{known}",
                        cookie.page,
                    )
                )
        category = cookie.category
        if category is None or category in granted_in(state, cookie.phase, knowledge.required):
            continue
        kept = (
            cookie.phase == AT_WITHDRAWAL
            and cookie.source == "jar"
            and identity in before_withdrawal
        )
        if kept:
            kind = (
                "cookie-kept-after-withdrawal" if cookie.first_party else "third-party-cookie-kept"
            )
        else:
            kind = "cookie-without-consent"
        key = (kind, cookie.phase, cookie.name, cookie.domain)
        if key in seen:
            continue
        seen.add(key)
        findings.append(
            Finding(
                kind,
                state.name,
                cookie.phase,
                cookie.name,
                f"{category} cookie on {where}{flags}, {how}",
                cookie.page,
            )
        )
    return findings


def _judge_storage(state: StateResult, knowledge: Knowledge) -> list[Finding]:
    findings = []
    seen: set[tuple[str, ...]] = set()
    for item in state.storage:
        category, _ = knowledge.cookie_class(item.key)
        granted = granted_in(state, item.phase, knowledge.required)
        key: tuple[str, ...]
        if category is not None and category not in granted:
            # Storage is not expired by a decision: what is there at withdrawal stays after it.
            moment = WITHDRAWN if item.phase == AT_WITHDRAWAL else item.phase
            key = ("storage-without-consent", moment, item.kind, item.key)
            detail = f"{category} key in {item.kind} of {item.origin}"
        else:
            key = ("storage-written", item.kind, item.key)
            detail = f"{item.kind} of {item.origin}" + (f" ({category})" if category else "")
        if key in seen:
            continue
        seen.add(key)
        findings.append(Finding(key[0], state.name, item.phase, item.key, detail, item.page))
    return findings


def _judge_consent_mode(state: StateResult, knowledge: Knowledge) -> list[Finding]:
    findings = []
    seen: set[tuple[str, str]] = set()
    for record in state.consent_modes:
        granted = granted_in(state, record.phase, knowledge.required)
        wrong = [
            f"{signal} ({knowledge.consent_mapping[signal]})"
            for signal, value in sorted(record.signals.items())
            if value == GRANTED
            and signal in knowledge.consent_mapping
            and knowledge.consent_mapping[signal] not in granted
        ]
        key = (record.phase, record.host)
        if not wrong or key in seen:
            continue
        seen.add(key)
        params = ", ".join(
            f"{name}={value}" for name, value in (("gcs", record.gcs), ("gcd", record.gcd)) if value
        )
        findings.append(
            Finding(
                "consent-mode-granted",
                state.name,
                record.phase,
                record.host,
                f"granted without consent: {', '.join(wrong)} ({params})",
                record.page,
            )
        )
    return findings


def judge_banner(banner: BannerCheck, state: str) -> list[Finding]:
    if not banner.present:
        return [Finding("banner-missing", state, BEFORE, "banner", "no visible consent banner")]
    findings = []
    if not banner.reject_visible:
        findings.append(
            Finding("reject-missing", state, BEFORE, "reject all", "no visible reject button")
        )
    elif banner.differences:
        findings.append(
            Finding(
                "unequal-prominence",
                state,
                BEFORE,
                "reject all / accept all",
                "; ".join(banner.differences),
            )
        )
    if banner.pre_ticked:
        findings.append(
            Finding(
                "pre-ticked",
                state,
                BEFORE,
                ", ".join(banner.pre_ticked),
                "ticked before the visitor chose",
            )
        )
    if banner.policy_url is None:
        findings.append(
            Finding("policy-missing", state, BEFORE, "policy", "the banner links to no policy")
        )
    return findings


# Computed styles that must be the same on both buttons, and the tolerance on their size.
PROMINENCE_PROPERTIES = (
    "fontSize",
    "fontWeight",
    "fontStyle",
    "color",
    "backgroundColor",
    "borderTopWidth",
    "borderTopColor",
    "opacity",
    "textDecorationLine",
)
SIZE_TOLERANCE = 0.1


def prominence_differences(accept: Mapping[str, str], reject: Mapping[str, str]) -> list[str]:
    """What makes the two first-layer buttons look different, in words."""
    differences = [
        f"{name}: accept {accept.get(name)!s}, reject {reject.get(name)!s}"
        for name in PROMINENCE_PROPERTIES
        if accept.get(name) != reject.get(name)
    ]
    for dimension in ("width", "height"):
        a, r = float(accept.get(dimension, 0)), float(reject.get(dimension, 0))
        if a > 0 and abs(a - r) > SIZE_TOLERANCE * a:
            differences.append(f"{dimension}: accept {a:.0f}px, reject {r:.0f}px")
    return differences


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per cookie not declared and per unknown host, however many states saw it,
    and one per thing seen before a decision: every state starts as the same undecided
    visit. The rest stay one per state and moment."""
    merged: list[Finding] = []
    once: dict[tuple[str, ...], int] = {}
    for finding in findings:
        key: tuple[str, ...] | None = None
        if finding.kind in ("undeclared-cookie", "unknown-host", "storage-written"):
            key = (finding.kind, finding.subject)
        elif finding.phase == BEFORE:
            key = (finding.kind, finding.phase, finding.subject)
        if key is not None and key in once:
            index = once[key]
            first = merged[index]
            merged[index] = replace(first, count=first.count + finding.count)
            continue
        if key is not None:
            once[key] = len(merged)
        merged.append(finding)
    return merged


def _short(url: str, limit: int = 160) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
