"""Regions applied to requests: which model a visitor gets, their state under it, their GPP.

Built only when the configuration names a trusted source of location (``region_source``);
otherwise the middleware never calls it and every visitor gets the opt-in model, as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace

from consent import gpp
from consent.config import ConsentConfig
from consent.lru import LruCache
from consent.regions import (
    GROUPS,
    Applied,
    PrivacyModel,
    Region,
    RegionRules,
    gpp_section,
    header_source,
)
from consent.state import ConsentState
from consent.types import Scope

logger = logging.getLogger("consent")

# The section ids a non-US visitor's GPP string applies: none (GPP CMP API 1.1).
NOT_APPLICABLE = (-1,)
# Bounded: a resolver may answer anything, and visitors' states come and go.
REGIONS_KEPT = 1024
STATES_KEPT = 8192


class RegionalPolicy:
    """The region rules and the location source of one configuration."""

    def __init__(self, config: ConsentConfig, all_categories: frozenset[str]) -> None:
        self.rules = RegionRules(config.regions)
        source = config.region_source
        assert source is not None
        self._resolver = source if callable(source) else None
        self._country: bytes | None = None
        self._subdivision: bytes | None = None
        #: Request headers the model depends on, for Vary (none with a resolver).
        self.vary: tuple[bytes, ...] = ()
        if isinstance(source, str):
            country, subdivision = header_source(source)
            self._country = country.encode("latin-1")
            self._subdivision = subdivision.encode("latin-1") if subdivision else None
            self.vary = tuple(h for h in (self._country, self._subdivision) if h is not None)
        self.all_categories = all_categories
        self.marketing = frozenset({"marketing"}) & all_categories
        self._gpp: dict[tuple[str | None, bool, bool], tuple[str, tuple[int, ...], str]] = {}
        self._applied: LruCache[tuple[str | bytes | None, bytes | None], Applied] = LruCache(
            REGIONS_KEPT
        )
        self._states: LruCache[tuple[ConsentState, Applied], ConsentState] = LruCache(STATES_KEPT)

    def google_regions(self, gpc_refuses: frozenset[str]) -> dict[str, object]:
        """Consent Mode defaults by region (Google's ``region`` parameter, ISO 3166 codes):
        whether the rest of the world starts granted, the codes that start granted or denied,
        and the categories GPC refuses. Google prefers the most specific code, as the rules do."""
        rules = self.rules.rules
        by_code: dict[str, bool] = {}
        # Groups first, so that a rule naming one of their members overrides them.
        for key in sorted(rules, key=lambda key: key not in GROUPS):
            if key != "*":
                for code in GROUPS.get(key, {key}):
                    by_code[code] = rules[key] is not PrivacyModel.OPT_IN
        rest = rules.get("*", self.rules.strictest) is not PrivacyModel.OPT_IN
        # A code is named only where it differs from what covers it: its country, else the rest.
        differs = {
            code: on
            for code, on in by_code.items()
            if on != by_code.get(code.partition("-")[0] if "-" in code else "*", rest)
        }
        return {
            "other": "granted" if rest else "denied",
            "granted": sorted(code for code, on in differs.items() if on),
            "denied": sorted(code for code, on in differs.items() if not on),
            "gpc": sorted(gpc_refuses),
        }

    def applied(self, scope: Scope) -> Applied:
        """The model for this request's visitor; unknown (the strictest) when the source is
        silent, malformed or fails."""
        if self._resolver is not None:
            try:
                found = self._resolver(scope)
            except Exception:
                logger.exception("consent: the region resolver failed; the visitor is unknown")
                found = None
            key: tuple[str | bytes | None, bytes | None] = (
                found if isinstance(found, str) else None,
                None,
            )
        else:
            country = subdivision = None
            for name, value in scope.get("headers", ()):
                if name == self._country:
                    country = value
                elif name == self._subdivision:
                    subdivision = value
                elif not name.islower():
                    lowered = name.lower()
                    country = value if lowered == self._country else country
                    subdivision = value if lowered == self._subdivision else subdivision
            key = (country, subdivision)
        # A few hundred regions at most come from a trusted source: each is worked out once.
        applied = self._applied.get(key)
        if applied is None:
            first, second = key
            region = Region.parse(
                first.decode("latin-1") if isinstance(first, bytes) else first,
                second.decode("latin-1") if second is not None else None,
            )
            applied = self.rules.apply(region)
            self._applied.put(key, applied)
        return applied

    def state(
        self, base: ConsentState, applied: Applied, gpc_refuses: frozenset[str]
    ) -> ConsentState:
        """``base`` (the opt-in reading of the cookie) under the applied model: where the law
        gives an opt-out, optional purposes run until the visitor refuses or sends GPC.
        Remembered per base state (itself kept per Cookie header) and region."""
        key = (base, applied)
        found = self._states.get(key)
        if found is None:
            found = self._state(base, applied, gpc_refuses)
            self._states.put(key, found)
        return found

    def _state(
        self, base: ConsentState, applied: Applied, gpc_refuses: frozenset[str]
    ) -> ConsentState:
        granted = base.granted
        if not base.decided and applied.model is not PrivacyModel.OPT_IN:
            granted = self.all_categories - (gpc_refuses if base.gpc else frozenset())
        opted_out = bool(self.marketing) and not self.marketing <= granted
        string, sid, _ = self.gpp_for(applied.region, opted_out=opted_out, gpc=base.gpc)
        return replace(
            base,
            granted=granted,
            model=applied.model.value,
            region=applied.region.code,
            rule=applied.rule,
            gpp=string,
            gpp_sid=sid,
        )

    def gpp_for(
        self, region: Region, *, opted_out: bool, gpc: bool
    ) -> tuple[str, tuple[int, ...], str]:
        """The GPP string, applicable section ids and the parsed sections (JSON) for a visitor."""
        section = gpp_section(region)
        key = (section, opted_out, gpc)
        found = self._gpp.get(key)
        if found is None:
            found = _gpp_values(section, opted_out=opted_out, gpc=gpc)
            self._gpp[key] = found
        return found


def _gpp_values(
    section: str | None, *, opted_out: bool, gpc: bool
) -> tuple[str, tuple[int, ...], str]:
    if section is None:
        return gpp.encode({}), NOT_APPLICABLE, "{}"
    spec = gpp.SECTIONS[section]
    choice = gpp.YES if opted_out else gpp.NO
    wanted: Mapping[str, gpp.FieldValue] = {
        # The site tells every visitor about sale, sharing and targeted advertising, and
        # offers the opt-out of each on every page.
        "SharingNotice": gpp.YES,
        "SaleOptOutNotice": gpp.YES,
        "SharingOptOutNotice": gpp.YES,
        "TargetedAdvertisingOptOutNotice": gpp.YES,
        "SaleOptOut": choice,
        "SharingOptOut": choice,
        "TargetedAdvertisingOptOut": choice,
        # Not a signatory of the IAB Multi-State Privacy Agreement unless it says otherwise.
        "MspaCoveredTransaction": gpp.NO,
        gpp.GPC_FIELD: gpc,
    }
    values = {name: value for name, value in wanted.items() if name in spec.field_names}
    string = gpp.encode({section: values})
    parsed = gpp.decode(string).sections
    return (
        string,
        (spec.id,),
        json.dumps(
            {name: _json_value(fields) for name, fields in parsed.items()}, separators=(",", ":")
        ),
    )


def _json_value(fields: Mapping[str, gpp.FieldValue]) -> dict[str, object]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
