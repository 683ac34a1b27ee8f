"""Where a visitor is and which privacy model applies there.

A news site has readers under opt-in law (the EEA, the UK, Switzerland: nothing optional before
consent), under US state laws that give an opt-out of sale, sharing and targeted advertising,
and elsewhere. The visitor's country and subdivision come only from a source the operator
trusts: a header that the CDN or proxy in front of the site sets and overwrites (Cloudflare,
CloudFront, Vercel, or a header the operator names), or a resolver callable. A visitor can
send any header they like to an origin reached directly, so the docs tell operators to accept
such headers only from their proxy; this module never guesses from an address or a language.

Rules map region codes to models. The most specific rule wins (``US-CA``, then a group of
states, then ``US``, then a group of countries such as ``EEA``, then ``*``); a visitor whose region is unknown gets the strictest
model any rule names, so that an unknown location never relaxes anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from consent.errors import ConfigError


class PrivacyModel(StrEnum):
    """How optional purposes are decided in a region."""

    OPT_IN = "opt_in"  # nothing optional before the visitor agrees (GDPR, ePrivacy, UK, CH)
    OPT_OUT = "opt_out"  # on until the visitor opts out or sends GPC (US state laws)
    NOTICE_ONLY = "notice_only"  # on, with a notice and the choices page
    NONE = "none"  # no banner; the choices page still works


# From the strictest to the most lenient: an unknown region gets the first one configured.
STRICTNESS = (
    PrivacyModel.OPT_IN,
    PrivacyModel.OPT_OUT,
    PrivacyModel.NOTICE_ONLY,
    PrivacyModel.NONE,
)

# fmt: off
EU = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
})
EEA = EU | {"IS", "LI", "NO"}

# US states whose comprehensive privacy laws are in force by 2026, each giving an opt-out of
# sale, sharing or targeted advertising: California, Virginia, Colorado, Connecticut, Utah,
# Texas, Oregon, Montana, Iowa, Delaware, Nebraska, New Hampshire, New Jersey, Tennessee,
# Minnesota, Maryland, Indiana, Kentucky and Rhode Island.
US_OPT_OUT_STATES = frozenset({
    "CA", "VA", "CO", "CT", "UT", "TX", "OR", "MT", "IA", "DE", "NE", "NH", "NJ", "TN",
    "MN", "MD", "IN", "KY", "RI",
})
# States whose law makes a Global Privacy Control signal a valid opt-out.
US_GPC_STATES = frozenset({
    "CA", "CO", "CT", "TX", "MT", "OR", "DE", "NH", "NJ", "MN", "MD", "NE",
})
# fmt: on

GROUPS: Mapping[str, frozenset[str]] = {
    "EU": EU,
    "EEA": EEA,
    "US-STATES-WITH-PRIVACY-LAWS": frozenset(f"US-{state}" for state in US_OPT_OUT_STATES),
}

DEFAULT_RULES: Mapping[str, PrivacyModel] = {
    "EEA": PrivacyModel.OPT_IN,
    "GB": PrivacyModel.OPT_IN,
    "CH": PrivacyModel.OPT_IN,
    "US-STATES-WITH-PRIVACY-LAWS": PrivacyModel.OPT_OUT,
    "US": PrivacyModel.OPT_OUT,
    "*": PrivacyModel.OPT_IN,
}

# Header pairs (country, subdivision) that CDNs set and overwrite on every request.
HEADER_PRESETS: Mapping[str, tuple[str, str | None]] = {
    "cloudflare": ("cf-ipcountry", "cf-region-code"),
    "cloudfront": ("cloudfront-viewer-country", "cloudfront-viewer-country-region"),
    "vercel": ("x-vercel-ip-country", "x-vercel-ip-country-region"),
    # Fastly sets no header of its own; docs/regions.md gives the VCL that sets these two.
    "fastly": ("consent-geo-country", "consent-geo-region"),
}

_COUNTRY = re.compile(r"[A-Za-z]{2}")
_SUBDIVISION = re.compile(r"[A-Za-z0-9]{1,3}")
_COUNTRY_RULE = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
# Codes CDNs send for "not a country": unknown, Tor, anonymous proxies, satellite, regions.
_NOT_COUNTRIES = frozenset({"XX", "T1", "A1", "A2", "O1", "EU", "AP", "ZZ"})

RegionResolver = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class Region:
    """A visitor's location: an ISO 3166-1 country and, where known, its subdivision."""

    country: str | None = None
    subdivision: str | None = None

    @property
    def code(self) -> str:
        """``US-CA``, ``DE``, or ``unknown``: what receipts and ``scope["consent"]`` record."""
        if self.country is None:
            return "unknown"
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country

    @classmethod
    def parse(cls, country: str | None, subdivision: str | None = None) -> Region:
        """A region from header values; anything malformed counts as unknown, never an error.

        ``country`` may also carry the subdivision (``US-CA``), as resolvers tend to return.
        """
        if not country:
            return cls()
        country = country.strip()
        if "-" in country and subdivision is None:
            country, _, subdivision = country.partition("-")
        if not _COUNTRY.fullmatch(country) or country.upper() in _NOT_COUNTRIES:
            return cls()
        country = country.upper()
        if subdivision:
            subdivision = subdivision.strip().upper()
            if subdivision.startswith(country + "-"):
                subdivision = subdivision[len(country) + 1 :]
            if not _SUBDIVISION.fullmatch(subdivision):
                subdivision = None
        return cls(country, subdivision or None)


@dataclass(frozen=True, slots=True)
class Applied:
    """The model that applies to a visitor, the region it was chosen for, and the rule."""

    model: PrivacyModel
    region: Region
    rule: str


class RegionRules:
    """Region codes and groups mapped to privacy models, checked when built."""

    def __init__(self, rules: Mapping[str, str | PrivacyModel] | None = None) -> None:
        given = DEFAULT_RULES if rules is None else rules
        checked: dict[str, PrivacyModel] = {}
        for key, value in given.items():
            if not isinstance(key, str) or not (
                key == "*" or key in GROUPS or _COUNTRY_RULE.fullmatch(key)
            ):
                raise ConfigError(
                    f"regions: {key!r} is not a region: use a country (DE), a country and "
                    f"subdivision (US-CA), a group ({', '.join(GROUPS)}) or *",
                    setting="regions",
                )
            try:
                checked[key] = PrivacyModel(value)
            except ValueError:
                raise ConfigError(
                    f"regions: {key} = {value!r}; models are "
                    f"{', '.join(model.value for model in PrivacyModel)}",
                    setting="regions",
                ) from None
        if not checked:
            raise ConfigError("regions: at least one rule is needed", setting="regions")
        self._rules = checked
        self.strictest = next(model for model in STRICTNESS if model in checked.values())

    @property
    def rules(self) -> Mapping[str, PrivacyModel]:
        return dict(self._rules)

    def apply(self, region: Region) -> Applied:
        """The model for ``region``: the most specific rule, else ``*``, else the strictest."""
        if region.country is None:
            return Applied(self.strictest, region, "unknown")
        # A subdivision, then groups of subdivisions it is in, then the country, then groups
        # of countries, then the rest of the world.
        candidates = []
        if region.subdivision:
            candidates.append(region.code)
            candidates.extend(name for name, members in GROUPS.items() if region.code in members)
        candidates.append(region.country)
        candidates.extend(name for name, members in GROUPS.items() if region.country in members)
        candidates.append("*")
        for key in candidates:
            model = self._rules.get(key)
            if model is not None:
                return Applied(model, region, key)
        return Applied(self.strictest, region, "unmatched")


def region_from_headers(
    headers: Mapping[str, str], country_header: str, subdivision_header: str | None
) -> Region:
    """The region the trusted headers name (header names in lower case)."""
    return Region.parse(
        headers.get(country_header),
        headers.get(subdivision_header) if subdivision_header else None,
    )


def header_source(source: str) -> tuple[str, str | None]:
    """Header names for a preset (``cloudflare``) or ``header:<country>[,<subdivision>]``."""
    if source in HEADER_PRESETS:
        return HEADER_PRESETS[source]
    prefix = "header:"
    if source.startswith(prefix):
        names = [name.strip().lower() for name in source[len(prefix) :].split(",")]
        token = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
        if 1 <= len(names) <= 2 and all(token.fullmatch(name) for name in names):
            return names[0], names[1] if len(names) == 2 else None
    raise ConfigError(
        f"region_source = {source!r}: use one of {', '.join(HEADER_PRESETS)} or "
        "'header:<country header>[,<subdivision header>]'",
        setting="region_source",
    )


def gpp_section(region: Region) -> str | None:
    """The GPP section that speaks for a US visitor's state: its own, or the national one."""
    if region.country != "US":
        return None
    state_sections = {"CA": "usca", "VA": "usva", "CO": "usco", "UT": "usut", "CT": "usct"}
    return state_sections.get(region.subdivision or "", "usnat")
