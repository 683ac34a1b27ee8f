"""What the TCF layers of the banner show, per language: purposes, special features, the
purposes resting on legitimate interest, and every vendor with its declarations.

Names and descriptions of purposes come from the vendor list and its translations; the
sentences around them come from the locale's ``[tcf]`` texts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from consent.assets import hashed_name
from consent.cookie import parse_cookie_header
from consent.gvl import Declaration, VendorList
from consent.tcf import MAX_LENGTH, POLICY_VERSION, TcfError, decode
from consent.tcfserver import (
    FIELD_PURPOSE,
    FIELD_PURPOSE_OBJECTION,
    FIELD_SPECIAL_FEATURE,
    FIELD_TCF,
    FIELD_VENDOR,
    FIELD_VENDOR_OBJECTION,
    TC_COOKIE,
    TcfService,
)

FIELDS = {
    "marker": FIELD_TCF,
    "purpose": FIELD_PURPOSE,
    "special_feature": FIELD_SPECIAL_FEATURE,
    "vendor": FIELD_VENDOR,
    "purpose_objection": FIELD_PURPOSE_OBJECTION,
    "vendor_objection": FIELD_VENDOR_OBJECTION,
}


class TcfViews:
    """The layers' content per language, built once each."""

    def __init__(
        self, service: TcfService, google_consent_mode: bool, cookie_domain: str | None = None
    ) -> None:
        self.service = service
        self._views: dict[str, dict[str, Any]] = {}
        settings = service.settings
        # What the stub answers to ping before the full API has loaded, and what that API needs.
        meta = {
            "cmpId": settings.cmp_id,
            "cmpVersion": settings.cmp_version,
            "gvlVersion": service.vendor_list.version,
            "policyVersion": service.vendor_list.policy_version or POLICY_VERSION,
            "publisherCC": settings.publisher_country_code,
            "purposeOneTreatment": settings.purpose_one_treatment,
            "atp": list(settings.google_atp_providers),
            "atpCategory": settings.google_atp_category,
            "gcm": google_consent_mode,
            "cookieDomain": cookie_domain,
            "categoryPurposes": {k: list(v) for k, v in settings.category_purposes.items()},
        }
        # GDPR applies to a visitor under the opt-in model (all of them without regions); the
        # stub and the API answer ``gdprApplies`` from it, so a reader elsewhere sees false.
        self._meta = {
            applies: json.dumps({**meta, "gdprApplies": applies}, separators=(",", ":"))
            for applies in (True, False)
        }

    def view(self, language: str) -> dict[str, Any]:
        key = language.split("-")[0].lower()
        found = self._views.get(key)
        if found is None:
            found = self._build(self.service.settings.list_for(key), key)
            if len(self._views) < 64:
                self._views[key] = found
        return found

    def stored(self, cookie_header: str) -> dict[str, frozenset[int]] | None:
        """The boxes a decided visitor's TC string ticks, for the page that works without
        script; None when the string is absent, unreadable or another CMP's (every CMP writes
        ``euconsent-v2``): then every box starts empty."""
        text = parse_cookie_header(cookie_header, (TC_COOKIE,)).get(TC_COOKIE)
        if not text or len(text) > MAX_LENGTH:
            return None
        try:
            tc = decode(text)
        except TcfError:
            return None
        if tc.cmp_id != self.service.settings.cmp_id:
            return None
        return {
            "purposes": tc.purpose_consents,
            "legitimate": tc.purpose_legitimate_interests,
            "special_features": tc.special_feature_opt_ins,
            "vendors": tc.vendor_consents,
            "vendor_legitimate": tc.vendor_legitimate_interests,
        }

    def head(self, asset_base: str, gdpr_applies: bool = True) -> dict[str, str]:
        return {
            "stub_url": asset_base + hashed_name("tcfstub.js"),
            "js_url": asset_base + hashed_name("tcf.js"),
            "css_url": asset_base + hashed_name("tcf.css"),
            "meta": self._meta[gdpr_applies],
        }

    def _build(self, listed: VendorList, language: str) -> dict[str, Any]:
        service = self.service

        def declared(table: Mapping[int, Declaration], ids: frozenset[int]) -> list[Declaration]:
            return [table[i] for i in sorted(ids) if i in table]

        vendors = []
        for vendor in sorted(service.vendor_list.vendors.values(), key=lambda v: v.name.lower()):
            vendors.append(
                {
                    "id": vendor.id,
                    "name": vendor.name,
                    "purposes": declared(listed.purposes, vendor.purposes),
                    "legitimate": declared(listed.purposes, vendor.legitimate_interest_purposes),
                    "special_purposes": declared(listed.special_purposes, vendor.special_purposes),
                    "special_features": declared(listed.special_features, vendor.special_features),
                    "data_categories": declared(listed.data_categories, vendor.data_categories),
                    "retention_days": vendor.retention_days,
                    "privacy_url": vendor.privacy_url(language),
                    "objectable": bool(vendor.legitimate_interest_purposes),
                    # The purposes its consent box follows when a category is switched.
                    "asked": sorted(vendor.purposes | vendor.flexible_purposes),
                }
            )
        return {
            "fields": FIELDS,
            "vendor_count": len(vendors),
            "purposes": declared(listed.purposes, service.purposes),
            "legitimate": declared(listed.purposes, service.legitimate_purposes),
            "special_features": declared(listed.special_features, service.special_features),
            "vendors": vendors,
        }
