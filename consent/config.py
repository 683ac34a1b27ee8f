"""Configuration: one immutable object built from keyword arguments or a TOML file.

Nothing here performs I/O except `from_toml` reading its file and the constructor reading
environment variables; everything above this module can rely on validated values.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from consent.categories import DEFAULT_CATEGORIES, Category
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

LocaleResolver = Callable[[Scope], str | None]


class ConfigError(ValueError):
    """The configuration cannot work; the message says what to change."""


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
    cookie_samesite: Literal["lax", "strict"] = "lax"

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
    honour_gpc: bool = True
    google_consent_mode: bool = True
    google_consent_mapping: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GOOGLE_CONSENT_MAPPING)
    )

    # Caching: identical HTML for every visitor, state applied in the browser.
    shared_cache_mode: bool = False

    # Proof of consent.
    audit_url: str | None = None
    audit_key: str | None = None
    rule_name: str = "gdpr"

    # Admin view: off unless both are set.
    admin_user: str | None = None
    admin_password: str | None = None

    max_decision_body: int = 4096
    # Rewritten pages kept by their exact bytes (0 turns the cache off); see pagecache.py.
    page_cache_bytes: int = 32 * 1024 * 1024

    # Resolved in __post_init__.
    secret_keys: tuple[str, ...] = field(init=False)
    resolved_audit_url: str = field(init=False)
    resolved_audit_key: str = field(init=False)

    def __post_init__(self) -> None:
        keys = _resolve_secret_keys(self.secret_key, self.dev_mode)
        object.__setattr__(self, "secret_keys", keys)
        audit_url = self.audit_url or os.environ.get(ENV_AUDIT_URL) or DEFAULT_AUDIT_URL
        object.__setattr__(self, "resolved_audit_url", audit_url)
        audit_key = self.audit_key or os.environ.get(ENV_AUDIT_KEY) or _derived_audit_key(keys)
        object.__setattr__(self, "resolved_audit_key", audit_key)
        self._validate()

    def _validate(self) -> None:
        if not self.prefix.startswith("/") or self.prefix.endswith("/") or len(self.prefix) < 2:
            raise ConfigError(f"prefix must look like '/_consent', got {self.prefix!r}")
        ids = [category.id for category in self.categories]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"category ids must be unique, got {ids}")
        for category_id in ids:
            if not _CATEGORY_ID.match(category_id):
                raise ConfigError(
                    f"category id {category_id!r} must be lower-case letters, digits, - or _"
                )
        if NECESSARY not in ids:
            raise ConfigError(f"the {NECESSARY!r} category cannot be removed")
        if not 60 <= self.cookie_max_age <= 2 * DEFAULT_COOKIE_MAX_AGE:
            raise ConfigError("cookie_max_age must be between 60 seconds and about 13 months")
        known = set(ids)
        for rule in self.rules:
            if rule.category not in known:
                raise ConfigError(f"rule {rule} names an unknown category")
            if not (rule.host or rule.inline):
                raise ConfigError(f"rule {rule} needs a host or an inline pattern")
        for cookie, category_id in self.cookie_categories.items():
            if category_id not in known:
                raise ConfigError(
                    f"cookie {cookie!r} is assigned to unknown category {category_id!r}"
                )
        if dict(self.google_consent_mapping) == dict(DEFAULT_GOOGLE_CONSENT_MAPPING):
            # Sites without a marketing category keep the ad_* types denied, silently.
            kept = {k: v for k, v in self.google_consent_mapping.items() if v in known}
            object.__setattr__(self, "google_consent_mapping", kept)
        for storage, category_id in self.google_consent_mapping.items():
            if category_id not in known:
                raise ConfigError(
                    f"Google consent type {storage!r} maps to unknown {category_id!r}"
                )
        for prop, value in self.theme.items():
            if not _CSS_PROPERTY.match(prop) or not _CSS_VALUE.match(value):
                raise ConfigError(
                    f"theme entry {prop!r}: {value!r} must be a --consent-* property with a plain value"
                )
        if bool(self.admin_user) != bool(self.admin_password):
            raise ConfigError("admin_user and admin_password go together")

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
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read configuration {file_path}: {exc}") from exc
        kwargs = _kwargs_from_toml(data, base=file_path.parent)
        kwargs.update(overrides)
        return cls(**kwargs)


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
                "For local development only, ConsentConfig(dev_mode=True) uses a throw-away key."
            )
        warnings.warn(
            "consent is running in development mode with a throw-away secret key: every consent "
            "cookie becomes invalid on restart. Never use dev_mode in production.",
            UserWarning,
            stacklevel=4,
        )
        return (secrets.token_urlsafe(32),)
    keys = (secret_key,) if isinstance(secret_key, str) else tuple(secret_key)
    if not keys or any(not isinstance(k, str) or len(k) < 16 for k in keys):
        raise ConfigError("every secret key must be a string of at least 16 characters")
    return keys


def _derived_audit_key(keys: tuple[str, ...]) -> str:
    # Derived from the oldest key, which survives rotation of the signing key longest;
    # production sites should set CONSENT_AUDIT_KEY so that cookie keys and audit key are apart.
    import hashlib
    import hmac

    return hmac.new(keys[-1].encode(), b"consent audit key v1", hashlib.sha256).hexdigest()


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
        "undeclared_cookies",
        "use_catalogue",
        "rule_name",
        "max_decision_body",
        "page_cache_bytes",
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
    }
    for key, value in data.items():
        if key in simple:
            kwargs[key] = value
        elif key not in known_tables:
            raise ConfigError(f"unknown configuration key {key!r}")
    cookie = data.get("cookie", {})
    for key, value in cookie.items():
        if key not in {"name", "max_age", "domain", "secure", "samesite", "csrf_name"}:
            raise ConfigError(f"unknown key cookie.{key}")
        target = {"csrf_name": "csrf_cookie_name"}.get(key, f"cookie_{key}")
        kwargs[target] = value
    if "categories" in data:
        kwargs["categories"] = tuple(
            Category(
                id=str(entry["id"]),
                required=bool(entry.get("required", False)),
                texts={tag: dict(texts) for tag, texts in entry.get("texts", {}).items()},
            )
            for entry in data["categories"]
        )
    if "locales" in data:
        locales = dict(data["locales"])
        directories = locales.pop("dirs", [])
        kwargs["locale_dirs"] = tuple(base / d for d in directories)
        kwargs["locale_overrides"] = locales
    if "templates" in data:
        kwargs["template_dirs"] = tuple(base / d for d in data["templates"].get("dirs", []))
    if "theme" in data:
        kwargs["theme"] = dict(data["theme"])
    if "rules" in data:
        try:
            kwargs["rules"] = tuple(TrackerRule(**entry) for entry in data["rules"])
        except TypeError as exc:
            raise ConfigError(
                f"[[rules]] entries take category, host, inline, vendor: {exc}"
            ) from exc
    if "services" in data:
        kwargs["services"] = tuple(dict(entry) for entry in data["services"])
    if "cookies" in data:
        categories: dict[str, str] = {}
        details: dict[str, Mapping[str, Any]] = {}
        for name, entry in data["cookies"].items():
            if isinstance(entry, str):
                categories[name] = entry
            else:
                categories[name] = str(entry.get("category", ""))
                details[name] = {k: v for k, v in entry.items() if k != "category"}
        kwargs["cookie_categories"] = categories
        kwargs["cookie_details"] = details
    if "google_consent_mapping" in data:
        kwargs["google_consent_mapping"] = dict(data["google_consent_mapping"])
    admin = data.get("admin", {})
    if admin:
        kwargs["admin_user"] = admin.get("user")
        password = admin.get("password")
        if "password_env" in admin:
            password = os.environ.get(str(admin["password_env"]))
        kwargs["admin_password"] = password
    return kwargs
