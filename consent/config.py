"""Configuration: one immutable object built from keyword arguments or a TOML file.

Nothing here performs I/O except `from_toml` reading its file, the constructor reading
environment variables, and the check of operators' locale directories; everything above this
module can rely on validated values. Every setting is checked when the object is built, so a
mistake stops the site at start-up with a `ConfigError` naming the setting, never a visitor's
request later.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from consent.categories import DEFAULT_CATEGORIES, Category
from consent.errors import ConfigError as ConfigError  # re-exported: older imports use it
from consent.names import (
    ANALYTICS,
    COOKIE_CONSENT,
    COOKIE_CSRF,
    ENV_AUDIT_KEY,
    ENV_AUDIT_URL,
    ENV_SECRET_KEY,
    MARKETING,
    NECESSARY,
)
from consent.redaction import MASK, redact_url
from consent.site import OriginError, normalise_origin
from consent.tcfconfig import TcfSettings, settings_from_toml
from consent.types import Scope

# CNIL recommends asking again after about six months: 183 days in seconds.
DEFAULT_COOKIE_MAX_AGE = 15_811_200
DEFAULT_AUDIT_URL = "sqlite:///var/consent-audit.db"
DEFAULT_PREFIX = "/_consent"

# Google Consent Mode v2 storage types, driven by our purpose categories.
DEFAULT_GOOGLE_CONSENT_MAPPING: Mapping[str, str] = {
    "ad_storage": MARKETING,
    "ad_user_data": MARKETING,
    "ad_personalization": MARKETING,
    "analytics_storage": ANALYTICS,
}

_CATEGORY_ID = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_CSS_PROPERTY = re.compile(r"^--consent-[a-z0-9-]{1,40}$")
_CSS_VALUE = re.compile(r"^[#(),.%\w\s-]{1,80}$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
# RFC 6265 cookie-name: an RFC 7230 token.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
_DOMAIN = re.compile(
    r"^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
SAMESITE_VALUES = ("lax", "strict", "none")
UNDECLARED_COOKIE_VALUES = ("allow", "block")
GOOGLE_CONSENT_TYPES = frozenset(
    {
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
        "analytics_storage",
        "functionality_storage",
        "personalization_storage",
        "security_storage",
    }
)
MAX_DECISION_BODY_RANGE = (256, 1024 * 1024)
# Settings whose values never appear in repr() or messages.
SECRET_SETTINGS = frozenset(
    {"secret_key", "secret_keys", "audit_key", "resolved_audit_key", "admin_password"}
)
URL_SETTINGS = frozenset({"audit_url", "resolved_audit_url"})

LocaleResolver = Callable[[Scope], str | None]
# The visitor's region from the request: "US-CA", "DE", or None when unknown.
RegionResolver = Callable[[Scope], str | None]


@dataclass(frozen=True, slots=True)
class TrackerRule:
    """An operator rule: elements whose URL host or inline text matches go to `category`."""

    category: str
    host: str | None = None  # a host and its subdomains, e.g. "ads.example.net"
    inline: str | None = None  # a literal substring of an inline script
    vendor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentConfig:
    """Everything the middleware needs. Only `secret_key` (or its environment variable) is required."""

    secret_key: str | Sequence[str] | None = None
    dev_mode: bool = False
    policy_version: str = "1"
    categories: Sequence[Category] = DEFAULT_CATEGORIES
    prefix: str = DEFAULT_PREFIX

    # Cookie settings.
    cookie_name: str = COOKIE_CONSENT
    csrf_cookie_name: str = COOKIE_CSRF
    cookie_max_age: int = DEFAULT_COOKIE_MAX_AGE
    cookie_domain: str | None = None
    cookie_secure: bool | None = None  # None: Secure exactly when the request came over https
    cookie_samesite: Literal["lax", "strict", "none"] = "lax"  # "none" needs cookie_secure=True

    # Locales.
    default_locale: str = "en"
    locale_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    locale_dirs: Sequence[Path] = ()
    locale_resolver: LocaleResolver | None = None

    # Templates and theme.
    template_dirs: Sequence[Path] = ()
    theme: Mapping[str, str] = field(default_factory=dict)

    # Holding back and enforcement.
    rules: Sequence[TrackerRule] = ()
    services: Sequence[Mapping[str, Any]] = ()
    cookie_categories: Mapping[str, str] = field(default_factory=dict)
    # Optional facts for the cookie policy: {"news_lang": {"lifetime_days": 365, "purpose": "..."}}
    cookie_details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    undeclared_cookies: Literal["allow", "block"] = "allow"
    use_catalogue: bool = True
    # Third-party scripts, frames, plug-ins and pixels nobody classified wait for this
    # category; off, they run before any choice (docs/holdback.md, "Unknown third parties").
    hold_unclassified: bool = True
    unclassified_category: str = MARKETING
    # The operator's other domains (its CDN, sister sites): never a third party.
    own_domains: Sequence[str] = ()
    honour_gpc: bool = True
    google_consent_mode: bool = True
    # Google Consent Mode options (docs/configuration.md).
    google_ads_data_redaction: bool = False
    google_url_passthrough: bool = False
    google_consent_mapping: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GOOGLE_CONSENT_MAPPING)
    )

    # Regions (docs/regions.md): off until a trusted source of the visitor's location is set;
    # then ``regions`` maps region codes and groups to models (None: the shipped defaults).
    region_source: str | RegionResolver | None = None
    regions: Mapping[str, str] | None = None
    # IAB GPP, served with regions: the CMP id IAB assigned (1: a site running its own).
    gpp_cmp_id: int = 1
    gpp_cmp_version: int = 1

    # Caching: identical HTML for every visitor, state applied in the browser.
    shared_cache_mode: bool = False

    # A Content-Security-Policy from the visitor's choice beside the application's own
    # (docs/csp.md). Hosts declared necessary are allowed whatever the choice.
    csp_mode: Literal["off", "report-only", "enforce"] = "off"
    csp_necessary_hosts: Sequence[str] = ()
    csp_max_length: int = 6144  # consent.csp.DEFAULT_MAX_LENGTH; a test keeps them equal

    # The origin browsers use, e.g. "https://www.example.com", when it differs from what the
    # server sees (a TLS-terminating proxy the server is not told to trust); see site.py.
    public_origin: str | None = None

    # Proof of consent.
    audit_url: str | None = None
    audit_key: str | None = None
    rule_name: str = "gdpr"
    # Query parameters a receipt keeps of the page it was given on; by default the path alone.
    audit_query_params: Sequence[str] = ()
    # How long a decision waits for the store's lock or a connection; None: 15 s for SQLite,
    # 5 s for PostgreSQL. After a failure further decisions are refused at once for a while.
    audit_timeout: float | None = None
    # Signed copies of the chain's end, appended outside the database (docs/audit.md, Anchors).
    audit_anchor_file: str | None = None
    audit_anchor_every: int = 100
    audit_anchor_interval: float = 300.0

    # Admin view: off unless both are set.
    admin_user: str | None = None
    admin_password: str | None = None

    # Paths where no banner is injected and no page is rewritten (admin pages, API docs): each
    # entry covers itself and everything below it. Set-Cookie filtering still applies there.
    exclude_paths: Sequence[str] = ()

    max_decision_body: int = 4096
    # Rewritten pages kept by their exact bytes (0 turns the cache off); see pagecache.py.
    page_cache_bytes: int = 32 * 1024 * 1024

    # IAB TCF (docs/tcf.md): off unless given.
    tcf: TcfSettings | None = None

    # Resolved in __post_init__.
    secret_keys: tuple[str, ...] = field(init=False)
    resolved_audit_url: str = field(init=False)
    resolved_audit_key: str = field(init=False)

    def __post_init__(self) -> None:
        _check_type("dev_mode", self.dev_mode, bool)
        keys = _resolve_secret_keys(self.secret_key, self.dev_mode)
        object.__setattr__(self, "secret_keys", keys)
        _check_type("audit_url", self.audit_url, (str, type(None)))
        _check_type("audit_key", self.audit_key, (str, type(None)))
        audit_url = self.audit_url or os.environ.get(ENV_AUDIT_URL) or DEFAULT_AUDIT_URL
        object.__setattr__(self, "resolved_audit_url", audit_url)
        audit_key = self.audit_key or os.environ.get(ENV_AUDIT_KEY) or _derived_audit_key(keys)
        object.__setattr__(self, "resolved_audit_key", audit_key)
        self._validate()
        self._check_with_lower_layers()
        self._check_tcf()

    def __repr__(self) -> str:
        # Secrets are masked and database URLs lose their passwords: configurations get printed
        # in tracebacks, debuggers and log lines.
        parts = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in SECRET_SETTINGS and value is not None:
                shown = MASK if isinstance(value, str) else f"[{', '.join([MASK] * len(value))}]"
            elif item.name in URL_SETTINGS and isinstance(value, str):
                shown = repr(redact_url(value))
            else:
                shown = repr(value)
            parts.append(f"{item.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _validate_unclassified(self, ids: Sequence[str]) -> None:
        optional = [c.id for c in self.categories if not c.required and c.id != NECESSARY]
        if self.unclassified_category == MARKETING and MARKETING not in ids and optional:
            # Sites without a marketing category hold unknown parties for their last purpose.
            object.__setattr__(self, "unclassified_category", optional[-1])
        if self.hold_unclassified and self.unclassified_category not in optional:
            raise ConfigError(
                f"unclassified_category must be a category a visitor can refuse, one of: "
                f"{', '.join(optional) or '(none configured)'}; got "
                f"{self.unclassified_category!r}",
                setting="unclassified_category",
            )
        if isinstance(self.own_domains, str) or not all(
            isinstance(d, str) and _DOMAIN.match(d) and "." in d.strip(".")
            for d in self.own_domains
        ):
            raise ConfigError(
                "own_domains must be a list of host names such as 'static.example-cdn.com' "
                f"(no scheme, port or path), got {self.own_domains!r}",
                setting="own_domains",
            )
        object.__setattr__(
            self, "own_domains", tuple(d.lower().strip(".") for d in self.own_domains)
        )

    def _validate_csp(self) -> None:
        from consent.csp import CspMode

        _check_choice("csp_mode", self.csp_mode, tuple(mode.value for mode in CspMode))
        # Below about 1 KiB not even the site and the libraries fit; above 16 KiB common
        # proxies refuse the response.
        _check_int("csp_max_length", self.csp_max_length, 1024, 16384)
        hosts = self.csp_necessary_hosts
        if isinstance(hosts, str) or not all(
            isinstance(h, str) and _DOMAIN.match(h) and "." in h.strip(".") for h in hosts
        ):
            raise ConfigError(
                "csp_necessary_hosts must be a list of host names such as 'pay.example-psp.com' "
                f"(no scheme, port, path or wildcard), got {hosts!r}",
                setting="csp_necessary_hosts",
            )
        object.__setattr__(self, "csp_necessary_hosts", tuple(h.lower().strip(".") for h in hosts))

    def _validate(self) -> None:
        for name in (
            "honour_gpc",
            "google_consent_mode",
            "shared_cache_mode",
            "use_catalogue",
            "hold_unclassified",
        ):
            _check_type(name, getattr(self, name), bool)
        _check_type("cookie_secure", self.cookie_secure, (bool, type(None)))
        _check_text("policy_version", self.policy_version)
        _check_text("rule_name", self.rule_name)
        _check_audit_settings(self)
        _check_text("default_locale", self.default_locale)
        _check_int("cookie_max_age", self.cookie_max_age, 60, 2 * DEFAULT_COOKIE_MAX_AGE)
        _check_int("max_decision_body", self.max_decision_body, *MAX_DECISION_BODY_RANGE)
        _check_int("page_cache_bytes", self.page_cache_bytes, 0, None)
        _check_choice("cookie_samesite", self.cookie_samesite, SAMESITE_VALUES)
        if self.cookie_samesite == "none" and self.cookie_secure is not True:
            # Browsers drop SameSite=None cookies that lack Secure, so every decision would vanish.
            raise ConfigError(
                "cookie_samesite='none' needs cookie_secure=True (browsers refuse SameSite=None "
                "cookies without Secure)",
                setting="cookie_samesite",
            )
        _check_choice("undeclared_cookies", self.undeclared_cookies, UNDECLARED_COOKIE_VALUES)
        for name in ("cookie_name", "csrf_cookie_name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _COOKIE_NAME.match(value):
                raise ConfigError(
                    f"{name} must be a cookie name (letters, digits and !#$%&'*+.^_`|~-), "
                    f"got {value!r}",
                    setting=name,
                )
        if self.cookie_name == self.csrf_cookie_name:
            raise ConfigError(
                f"cookie_name and csrf_cookie_name must differ, both are {self.cookie_name!r}",
                setting="csrf_cookie_name",
            )
        if self.cookie_domain is not None and (
            not isinstance(self.cookie_domain, str) or not _DOMAIN.match(self.cookie_domain)
        ):
            raise ConfigError(
                "cookie_domain must be a host name such as 'example.com' (no scheme, port or "
                f"path), got {self.cookie_domain!r}",
                setting="cookie_domain",
            )
        if not isinstance(self.prefix, str) or not _PREFIX.match(self.prefix):
            raise ConfigError(
                "prefix must be a path such as '/_consent' (starting with '/', no trailing '/'), "
                f"got {self.prefix!r}",
                setting="prefix",
            )
        self._validate_paths()
        if self.locale_resolver is not None and not callable(self.locale_resolver):
            raise ConfigError(
                "locale_resolver must be a callable(scope) -> str | None",
                setting="locale_resolver",
            )
        for name in ("locale_dirs", "template_dirs"):
            for directory in getattr(self, name):
                if not Path(directory).is_dir():
                    raise ConfigError(
                        f"{name}: {str(directory)!r} is not a directory", setting=name
                    )
        for category in self.categories:
            if not isinstance(category, Category):
                raise ConfigError(
                    f"categories: entries must be Category objects, got {category!r}",
                    setting="categories",
                )
        ids = [category.id for category in self.categories]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"categories: ids must be unique, got {ids}", setting="categories")
        for category_id in ids:
            if not isinstance(category_id, str) or not _CATEGORY_ID.match(category_id):
                raise ConfigError(
                    f"categories: id {category_id!r} must be lower-case letters, digits, - or _",
                    setting="categories",
                )
        if NECESSARY not in ids:
            raise ConfigError(
                f"categories: the {NECESSARY!r} category cannot be removed", setting="categories"
            )
        known = set(ids)
        allowed = ", ".join(ids)
        for rule in self.rules:
            if not isinstance(rule, TrackerRule):
                raise ConfigError(
                    f"rules: entries must be TrackerRule objects, got {rule!r}", setting="rules"
                )
            if rule.category not in known:
                raise ConfigError(
                    f"rules: {rule} names an unknown category; use one of: {allowed}",
                    setting="rules",
                )
            if not (rule.host or rule.inline):
                raise ConfigError(
                    f"rules: {rule} needs a host or an inline pattern", setting="rules"
                )
        self._validate_unclassified(ids)
        self._validate_csp()
        self._validate_regions()
        for cookie, category_id in self.cookie_categories.items():
            if category_id not in known:
                raise ConfigError(
                    f"cookie_categories: {cookie!r} is assigned to unknown category {category_id!r}; "
                    f"use one of: {allowed}",
                    setting="cookie_categories",
                )
        for cookie, details in self.cookie_details.items():
            _check_cookie_details(cookie, details)
        if dict(self.google_consent_mapping) == dict(DEFAULT_GOOGLE_CONSENT_MAPPING):
            # Sites without a marketing category keep the ad_* types denied, silently.
            kept = {k: v for k, v in self.google_consent_mapping.items() if v in known}
            object.__setattr__(self, "google_consent_mapping", kept)
        for storage, category_id in self.google_consent_mapping.items():
            if storage not in GOOGLE_CONSENT_TYPES:
                raise ConfigError(
                    f"google_consent_mapping: unknown Google consent type {storage!r}; use one of: "
                    f"{', '.join(sorted(GOOGLE_CONSENT_TYPES))}",
                    setting="google_consent_mapping",
                )
            if category_id not in known:
                raise ConfigError(
                    f"google_consent_mapping: {storage!r} maps to unknown category {category_id!r}; "
                    f"use one of: {allowed}",
                    setting="google_consent_mapping",
                )
        for prop, value in self.theme.items():
            if (
                not isinstance(value, str)
                or not _CSS_PROPERTY.match(prop)
                or not _CSS_VALUE.match(value)
            ):
                raise ConfigError(
                    f"theme: {prop!r} = {value!r} must be a --consent-* property with a plain value",
                    setting="theme",
                )
        if self.public_origin is not None:
            try:
                origin = normalise_origin(self.public_origin)
            except OriginError as exc:
                raise ConfigError(f"public_origin: {exc}", setting="public_origin") from exc
            object.__setattr__(self, "public_origin", origin)
        _check_type("admin_user", self.admin_user, (str, type(None)))
        _check_type("admin_password", self.admin_password, (str, type(None)))
        if bool(self.admin_user) != bool(self.admin_password):
            raise ConfigError(
                "admin_user and admin_password go together: set both or neither",
                setting="admin_password" if self.admin_user else "admin_user",
            )

    def _validate_regions(self) -> None:
        from consent.regions import RegionRules, header_source

        source = self.region_source
        if source is not None and not callable(source):
            if not isinstance(source, str):
                raise ConfigError(
                    "region_source must be a preset name, 'header:<name>[,<name>]' or a "
                    f"callable(scope) -> str | None, got {source!r}",
                    setting="region_source",
                )
            header_source(source)
        if self.regions is not None:
            if not isinstance(self.regions, Mapping):
                raise ConfigError(
                    f"regions must be a table of region = model, got {self.regions!r}",
                    setting="regions",
                )
            RegionRules(self.regions)
        _check_int("gpp_cmp_id", self.gpp_cmp_id, 1, 4095)
        _check_int("gpp_cmp_version", self.gpp_cmp_version, 0, 4095)
        for name in ("google_ads_data_redaction", "google_url_passthrough"):
            _check_type(name, getattr(self, name), bool)

    def _validate_paths(self) -> None:
        if isinstance(self.exclude_paths, str):
            raise ConfigError(
                "exclude_paths must be a list of paths, not one string", setting="exclude_paths"
            )
        for path in self.exclude_paths:
            if (
                not isinstance(path, str)
                or not path.startswith("/")
                or any(c.isspace() for c in path)
            ):
                raise ConfigError(
                    f"exclude_paths entries must be paths starting with '/', got {path!r}",
                    setting="exclude_paths",
                )
            if not path.strip("/"):
                raise ConfigError(
                    "exclude_paths cannot hold '/': that would exclude the whole site",
                    setting="exclude_paths",
                )

    def _check_with_lower_layers(self) -> None:
        """Settings whose format belongs to another module are checked by that module now.

        Imported here rather than at the top: the audit store, locale and catalogue modules
        sit above this one and must stay importable without it.
        """
        from consent.audit.chain import Keyring
        from consent.audit.model import AuditError
        from consent.audit.store import postgres_conninfo, sqlite_path

        url = self.resolved_audit_url
        source = "audit_url" if self.audit_url else ENV_AUDIT_URL
        try:
            if url.startswith("sqlite://"):
                sqlite_path(url)
            elif url.startswith(("postgresql://", "postgres://")):
                postgres_conninfo(url)
                if importlib.util.find_spec("psycopg") is None:
                    raise AuditError(
                        "PostgreSQL support needs the extra: pip install 'asgi-consent[postgres]'"
                    )
            else:
                raise AuditError(
                    f"{redact_url(url)!r} is not a store URL; use sqlite:///relative/path.db, "
                    "sqlite:////absolute/path.db or postgresql://user@host:port/dbname"
                )
        except AuditError as exc:
            raise ConfigError(f"{source}: {redact_url(str(exc))}", setting="audit_url") from None
        try:
            Keyring.parse(self.resolved_audit_key)
        except AuditError as exc:
            name = "audit_key" if self.audit_key else ENV_AUDIT_KEY
            raise ConfigError(
                f"{name}: {exc}; use one secret of at least 16 bytes or a keyring "
                "'id1:secret1,id2:secret2'",
                setting="audit_key",
            ) from None
        if self.locale_overrides or self.locale_dirs or self.default_locale != "en":
            from consent.i18n import LocaleCatalogue, LocaleError

            try:
                LocaleCatalogue.load(
                    overrides=self.locale_overrides,
                    extra_dirs=tuple(self.locale_dirs),
                    default=self.default_locale,
                )
            except LocaleError as exc:
                setting = "default_locale" if "default locale" in str(exc) else "locale_overrides"
                raise ConfigError(f"{setting}: {exc}", setting=setting) from exc
        if self.services:
            from consent.catalogue import Catalogue, CatalogueError

            try:
                Catalogue.from_config(
                    self.services, include_builtin=self.use_catalogue, categories=self.category_ids
                )
            except CatalogueError as exc:
                raise ConfigError(f"services: {exc}", setting="services") from exc

    def _check_tcf(self) -> None:
        _check_type("tcf", self.tcf, (TcfSettings, type(None)))
        if self.tcf is None:
            return
        self.tcf.check_categories(self.category_ids)
        # A vendor list change that needs a new choice makes earlier decisions stale.
        # Idempotent, so that dataclasses.replace() of a configuration keeps one suffix.
        base = self.policy_version.split("+tcf.")[0]
        object.__setattr__(self, "policy_version", f"{base}+tcf.{self.tcf.fingerprint}")

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(category.id for category in self.categories)

    @property
    def required_categories(self) -> frozenset[str]:
        return frozenset(c.id for c in self.categories if c.required or c.id == NECESSARY)

    @property
    def optional_categories(self) -> tuple[str, ...]:
        required = self.required_categories
        return tuple(c.id for c in self.categories if c.id not in required)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **overrides: Any) -> ConsentConfig:
        """Build a configuration from a TOML file; keyword arguments win over the file."""
        file_path = Path(path)
        try:
            with file_path.open("rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"{file_path}: cannot read the configuration: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            # The decoder's message ends with "(at line L, column C)".
            raise ConfigError(f"{file_path}: not valid TOML: {exc}") from exc
        try:
            kwargs = _kwargs_from_toml(data, base=file_path.parent)
            kwargs.update(overrides)
            return cls(**kwargs)
        except ConfigError as exc:
            if exc.setting is not None and exc.setting in overrides:
                raise  # the caller's keyword, not the file, is at fault
            key = _TOML_KEYS.get(exc.setting or "", exc.setting)
            where = f"{file_path}: key {key!r}" if key else str(file_path)
            raise ConfigError(f"{where}: {exc}", setting=exc.setting) from exc


def _check_type(name: str, value: object, kinds: type | tuple[type, ...]) -> None:
    if not isinstance(value, kinds):
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        expected = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
        raise ConfigError(f"{name} must be {expected}, got {value!r}", setting=name)


def _check_audit_settings(config: ConsentConfig) -> None:
    names = config.audit_query_params
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            "audit_query_params must be a list of parameter names", setting="audit_query_params"
        )
    _check_type("audit_anchor_file", config.audit_anchor_file, (str, type(None)))
    _check_int("audit_anchor_every", config.audit_anchor_every, 1, None)
    for name in ("audit_timeout", "audit_anchor_interval"):
        value = getattr(config, name)
        if value is None and name == "audit_timeout":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds", setting=name)


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not _PRINTABLE.match(value):
        raise ConfigError(
            f"{name} must be a non-empty string of at most 64 printable characters, got {value!r}",
            setting=name,
        )


def _check_int(
    name: str, value: object, low: int, high: int | None, *, setting: str | None = None
) -> None:
    # bool is an int to Python, never to an operator.
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        span = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(
            f"{name} must be a whole number {span}, got {value!r}", setting=setting or name
        )


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}",
            setting=name,
        )


def _check_cookie_details(cookie: str, details: object) -> None:
    if not isinstance(details, Mapping):
        raise ConfigError(f"cookie_details: {cookie!r} must be a table", setting="cookie_details")
    for key, value in details.items():
        if key == "lifetime_days":
            _check_int(
                f"cookie_details: {cookie!r} lifetime_days",
                value,
                0,
                None,
                setting="cookie_details",
            )
        elif key == "purpose":
            if not isinstance(value, str):
                raise ConfigError(
                    f"cookie_details: {cookie!r} purpose must be a string", setting="cookie_details"
                )
        else:
            raise ConfigError(
                f"cookie_details: {cookie!r} has unknown detail {key!r}; use category, lifetime_days, purpose",
                setting="cookie_details",
            )


def _resolve_secret_keys(secret_key: str | Sequence[str] | None, dev_mode: bool) -> tuple[str, ...]:
    if secret_key is None:
        from_env = os.environ.get(ENV_SECRET_KEY, "")
        secret_key = [k.strip() for k in from_env.split(",") if k.strip()] or None
    if secret_key is None:
        if not dev_mode:
            raise ConfigError(
                "consent needs a secret key to sign consent cookies. Pass "
                "ConsentConfig(secret_key=...) or set the CONSENT_SECRET_KEY environment variable "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'). "
                "For local development only, ConsentConfig(dev_mode=True) uses a throw-away key.",
                setting="secret_key",
            )
        warnings.warn(
            "consent is running in development mode with a throw-away secret key: every consent "
            "cookie becomes invalid on restart. Never use dev_mode in production.",
            UserWarning,
            stacklevel=4,
        )
        return (secrets.token_urlsafe(32),)
    if not isinstance(secret_key, str | list | tuple):
        raise ConfigError("secret_key must be a string or a list of strings", setting="secret_key")
    keys = (secret_key,) if isinstance(secret_key, str) else tuple(secret_key)
    if not keys or any(not isinstance(k, str) or len(k) < 16 for k in keys):
        raise ConfigError(
            "secret_key: every secret key must be a string of at least 16 characters",
            setting="secret_key",
        )
    return keys


def _derived_audit_key(keys: tuple[str, ...]) -> str:
    # Derived from the oldest key, which survives rotation of the signing key longest;
    # production sites should set CONSENT_AUDIT_KEY so that cookie keys and audit key are apart.
    import hashlib
    import hmac

    return hmac.new(keys[-1].encode(), b"consent audit key v1", hashlib.sha256).hexdigest()


# Where each setting lives in a TOML file, when not at the top level under its own name.
_TOML_KEYS = {
    "cookie_name": "cookie.name",
    "csrf_cookie_name": "cookie.csrf_name",
    "cookie_max_age": "cookie.max_age",
    "cookie_domain": "cookie.domain",
    "cookie_secure": "cookie.secure",
    "cookie_samesite": "cookie.samesite",
    "locale_overrides": "locales",
    "locale_dirs": "locales.dirs",
    "template_dirs": "templates.dirs",
    "cookie_categories": "cookies",
    "cookie_details": "cookies",
    "admin_user": "admin.user",
    "admin_password": "admin.password",
}


def _kwargs_from_toml(data: Mapping[str, Any], *, base: Path) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    simple = {
        "secret_key",
        "dev_mode",
        "policy_version",
        "prefix",
        "default_locale",
        "audit_url",
        "audit_key",
        "honour_gpc",
        "google_consent_mode",
        "shared_cache_mode",
        "csp_mode",
        "csp_necessary_hosts",
        "csp_max_length",
        "undeclared_cookies",
        "use_catalogue",
        "hold_unclassified",
        "unclassified_category",
        "own_domains",
        "rule_name",
        "audit_query_params",
        "audit_timeout",
        "audit_anchor_file",
        "audit_anchor_every",
        "audit_anchor_interval",
        "max_decision_body",
        "page_cache_bytes",
        "public_origin",
        "exclude_paths",
        "region_source",
        "gpp_cmp_id",
        "gpp_cmp_version",
        "google_ads_data_redaction",
        "google_url_passthrough",
    }
    known_tables = {
        "cookie",
        "categories",
        "locales",
        "theme",
        "rules",
        "services",
        "cookies",
        "admin",
        "google_consent_mapping",
        "templates",
        "regions",
        "tcf",
    }
    for key, value in data.items():
        if key in simple:
            kwargs[key] = value
        elif key not in known_tables:
            raise ConfigError(
                f"unknown key; top-level keys are {', '.join(sorted(simple))} and the tables "
                f"{', '.join(sorted(known_tables))}",
                setting=key,
            )
    cookie = _table(data, "cookie")
    for key, value in cookie.items():
        if key not in {"name", "max_age", "domain", "secure", "samesite", "csrf_name"}:
            raise ConfigError(
                "unknown key; [cookie] takes name, csrf_name, max_age, domain, secure, samesite",
                setting=f"cookie.{key}",
            )
        target = {"csrf_name": "csrf_cookie_name"}.get(key, f"cookie_{key}")
        kwargs[target] = value
    if "categories" in data:
        entries = _array_of_tables(data, "categories")
        if any(not isinstance(entry.get("id"), str) for entry in entries):
            raise ConfigError("every [[categories]] entry needs an id string", setting="categories")
        kwargs["categories"] = tuple(
            Category(
                id=entry["id"],
                required=bool(entry.get("required", False)),
                texts={tag: dict(texts) for tag, texts in _table(entry, "texts").items()},
            )
            for entry in entries
        )
    if "locales" in data:
        locales = dict(_table(data, "locales"))
        directories = locales.pop("dirs", [])
        kwargs["locale_dirs"] = tuple(base / d for d in _strings(directories, "locales.dirs"))
        kwargs["locale_overrides"] = locales
    if "templates" in data:
        directories = _table(data, "templates").get("dirs", [])
        kwargs["template_dirs"] = tuple(base / d for d in _strings(directories, "templates.dirs"))
    if "theme" in data:
        kwargs["theme"] = dict(_table(data, "theme"))
    if "rules" in data:
        try:
            kwargs["rules"] = tuple(
                TrackerRule(**entry) for entry in _array_of_tables(data, "rules")
            )
        except TypeError:
            raise ConfigError(
                "[[rules]] entries take category, host, inline and vendor", setting="rules"
            ) from None
    if "services" in data:
        kwargs["services"] = tuple(dict(entry) for entry in _array_of_tables(data, "services"))
    if "cookies" in data:
        categories: dict[str, str] = {}
        details: dict[str, Mapping[str, Any]] = {}
        for name, entry in _table(data, "cookies").items():
            if isinstance(entry, str):
                categories[name] = entry
            elif isinstance(entry, Mapping):
                categories[name] = str(entry.get("category", ""))
                details[name] = {k: v for k, v in entry.items() if k != "category"}
            else:
                raise ConfigError(
                    f"{name} must be a category id or a table with category, lifetime_days, "
                    "purpose",
                    setting="cookies",
                )
        kwargs["cookie_categories"] = categories
        kwargs["cookie_details"] = details
    if "regions" in data:
        kwargs["regions"] = dict(_table(data, "regions"))
    if "google_consent_mapping" in data:
        kwargs["google_consent_mapping"] = dict(_table(data, "google_consent_mapping"))
    if "tcf" in data:
        kwargs["tcf"] = settings_from_toml(_table(data, "tcf"), base=base)
    admin = _table(data, "admin")
    if admin:
        kwargs["admin_user"] = admin.get("user")
        password = admin.get("password")
        if "password_env" in admin:
            password = os.environ.get(str(admin["password_env"]))
        kwargs["admin_password"] = password
    return kwargs


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a table ([{key}])", setting=key)
    return value


def _array_of_tables(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(entry, Mapping) for entry in value):
        raise ConfigError(f"must be an array of tables ([[{key}]])", setting=key)
    return value


def _strings(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise ConfigError("must be a list of strings", setting=key)
    return value
