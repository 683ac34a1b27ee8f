"""What a scan records and what it finds: plain values, no browser and no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

# The moments of a visit a record belongs to; each is judged against what was granted then.
BEFORE: Final = "before-decision"
AFTER: Final = "after-decision"
AT_WITHDRAWAL: Final = "at-withdrawal"  # the jar and storage just after withdrawing
WITHDRAWN: Final = "after-withdrawal"  # the pages visited after that
PHASES: Final = (BEFORE, AFTER, AT_WITHDRAWAL, WITHDRAWN)

# Where a request went, as the middleware itself tells parties apart (consent.parties).
FIRST_PARTY: Final = "first"
THIRD_PARTY: Final = "third"
NOT_TRACKER: Final = "library"  # a library, font or CDN host of the catalogue's not-trackers list

# Every kind of finding, with the sentence the reports print for it. Violations fail the scan;
# notices are reported and leave the exit status alone.
VIOLATIONS: Final[dict[str, str]] = {
    "third-party-before-consent": "a third party was contacted before the visitor decided",
    "third-party-after-refusal": "a third party of a refused purpose was contacted",
    "cookie-without-consent": "a cookie of a purpose not granted was stored",
    "undeclared-cookie": "a cookie that the site's cookie policy does not name was stored",
    "cookie-kept-after-withdrawal": "a cookie of a withdrawn purpose stayed in the browser",
    "storage-without-consent": "browser storage of a purpose not granted was written",
    "consent-mode-granted": "a Google tag reported a Consent Mode signal granted that was not",
    "banner-missing": "no consent banner was shown to an undecided visitor",
    "reject-missing": "the banner's first layer offers no visible way to reject",
    "unequal-prominence": "rejecting is made less prominent than accepting",
    "pre-ticked": "a purpose is pre-selected in the banner's second layer",
    "policy-missing": "the cookie policy the banner links to could not be read",
    "state-unreachable": "the state could not be reached through the banner",
}
NOTICES: Final[dict[str, str]] = {
    "unknown-host": "a third-party host the catalogue does not know was contacted",
    "storage-written": "browser storage was written (not matched to a purpose)",
    "third-party-cookie-kept": "a cookie of another site stayed after withdrawal; "
    "the site cannot delete it, the vendor must be told",
    "page-error": "a page could not be loaded",
}

Severity = Literal["violation", "notice"]
StorageKind = Literal["localStorage", "sessionStorage", "indexedDB"]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    state: str
    phase: str
    subject: str  # the host, cookie, storage key or banner control concerned
    detail: str
    page: str = ""
    count: int = 1  # how many requests or pages showed the same thing

    @property
    def severity(self) -> Severity:
        return "violation" if self.kind in VIOLATIONS else "notice"


@dataclass(slots=True)
class RequestRecord:
    url: str
    host: str
    method: str
    resource_type: str
    phase: str
    page: str
    # Filled in by the judge (consent.scan.judge.classify), from the catalogue.
    party: str = ""
    service: str | None = None
    category: str | None = None


@dataclass(slots=True)
class CookieRecord:
    name: str
    domain: str
    path: str
    phase: str
    page: str
    source: Literal["jar", "header"]  # read from the browser's jar, or from a Set-Cookie
    http_only: bool = False
    secure: bool = False
    expires: float = -1.0
    # Filled in by the judge.
    category: str | None = None
    declared: bool = False
    first_party: bool = True


@dataclass(frozen=True, slots=True)
class StorageRecord:
    kind: StorageKind
    origin: str
    key: str
    phase: str
    page: str


@dataclass(frozen=True, slots=True)
class ConsentModeRecord:
    """Google Consent Mode signals as a Google request reported them (``gcs``/``gcd``)."""

    host: str
    gcs: str
    gcd: str
    signals: dict[str, str]  # signal -> "granted" | "denied"
    phase: str
    page: str


@dataclass(slots=True)
class BannerCheck:
    """The first and second layer as an undecided visitor sees them."""

    present: bool = False
    reject_visible: bool = False
    accept_visible: bool = False
    accept_style: dict[str, str] = field(default_factory=dict)
    reject_style: dict[str, str] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    pre_ticked: list[str] = field(default_factory=list)
    policy_url: str | None = None
    prefix: str | None = None  # the reserved path prefix, read from the banner's form


@dataclass(frozen=True, slots=True)
class Screenshot:
    label: str
    jpeg: bytes


@dataclass(slots=True)
class StateResult:
    name: str
    description: str
    granted: tuple[str, ...]  # what the visitor granted once the state is reached
    gpc: bool = False
    withdraw: bool = False  # everything is withdrawn in Privacy settings after the visit
    reached: bool = True
    error: str | None = None
    seconds: float = 0.0
    requests: list[RequestRecord] = field(default_factory=list)
    cookies: list[CookieRecord] = field(default_factory=list)
    storage: list[StorageRecord] = field(default_factory=list)
    consent_modes: list[ConsentModeRecord] = field(default_factory=list)
    screenshots: list[Screenshot] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    pages_failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class ScanResult:
    target: str
    started: str  # ISO 8601, UTC
    seconds: float
    pages: list[str]
    banner: BannerCheck
    declared: list[tuple[str, str]]  # (cookie name or pattern, category) from the policy page
    states: list[StateResult]
    findings: list[Finding]
    offline: bool

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "violation"]

    @property
    def notices(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "notice"]
