"""The TCF layer on the server: from a visitor's decision to the TC string and the AC string.

The site's categories stand for TCF purposes through ``TcfSettings.category_purposes``:
"accept all" consents to every mapped purpose, special feature and vendor; "reject all" and
closing the banner refuse everything, legitimate interest included; a choice of categories
consents to the purposes of the categories granted and to the vendors that declare one of
them. The TCF layer of the second layer posts its own choice (purposes, special features,
vendors and objections to legitimate interest), which then decides the string alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from consent.decisions import Choice, DecisionError
from consent.gvl import VendorList
from consent.names import ACTION_ACCEPT_ALL, ACTION_CUSTOM
from consent.tcf import CONSENT_ONLY_PURPOSES, TCString, encode
from consent.tcfconfig import TcfSettings

TC_COOKIE = "euconsent-v2"
FIELD_TCF = "tcf"  # "1" when the TCF choices of the second layer are part of the post
FIELD_PURPOSE = "tcf_purpose"
FIELD_SPECIAL_FEATURE = "tcf_special_feature"
FIELD_VENDOR = "tcf_vendor"
FIELD_PURPOSE_OBJECTION = "tcf_purpose_objection"
FIELD_VENDOR_OBJECTION = "tcf_vendor_objection"


@dataclass(frozen=True, slots=True)
class TcfChoice:
    purposes: frozenset[int]
    legitimate_interests: frozenset[int]
    special_features: frozenset[int]
    vendors: frozenset[int]
    vendor_legitimate_interests: frozenset[int]


class TcfService:
    def __init__(self, settings: TcfSettings, categories: Sequence[str]) -> None:
        self.settings = settings
        self.vendor_list = settings.vendor_list
        mapped = settings.category_purposes
        self._category_purposes = {c: frozenset(mapped.get(c, ())) for c in categories}
        self._category_features = {
            c: frozenset(settings.category_special_features.get(c, ())) for c in categories
        }
        vendors = self.vendor_list.vendors.values()
        # What the layers show: the purposes and special features some listed vendor uses.
        self.purposes = frozenset(p for v in vendors for p in v.purposes | v.flexible_purposes)
        if settings.purpose_one_treatment:
            # Purpose 1 is not disclosed, so not asked: no string may consent to it.
            self.purposes -= {1}
        self.legitimate_purposes = (
            frozenset(p for v in vendors for p in v.legitimate_interest_purposes)
            - CONSENT_ONLY_PURPOSES
        )
        self.special_features = frozenset(f for v in vendors for f in v.special_features)
        self.vendor_ids = frozenset(self.vendor_list.vendors)
        # The most the second layer posts beyond a decision of categories, every box ticked:
        # the decision endpoint widens its limits by this much, however long the vendor list.
        boxes = (
            (FIELD_PURPOSE, self.purposes),
            (FIELD_PURPOSE_OBJECTION, self.legitimate_purposes),
            (FIELD_SPECIAL_FEATURE, self.special_features),
            (FIELD_VENDOR, self.vendor_ids),
            (FIELD_VENDOR_OBJECTION, self.vendor_ids),
        )
        self.form_fields = 1 + sum(len(ids) for _, ids in boxes)
        self.form_bytes = (
            len(FIELD_TCF)
            + 3
            + sum(len(name) + len(str(i)) + 2 for name, ids in boxes for i in ids)
        )

    # -- choices ---------------------------------------------------------------------------

    def choice_for(
        self,
        choice: Choice,
        fields: Sequence[tuple[str, str]],
        refused_by_signal: frozenset[str] = frozenset(),
    ) -> TcfChoice:
        """What ``choice`` means in TCF terms; a malformed TCF field is a 400.

        The purposes and special features only categories refused by a signal (GPC) stand for
        get no consent, nor legitimate interest, from the TCF layer's own choice either."""
        if choice.action == ACTION_ACCEPT_ALL:
            # Granted is every category, less those a signal such as GPC refuses.
            mapped = self._mapped(self._category_purposes, choice.granted)
            return TcfChoice(
                purposes=mapped & self.purposes,
                legitimate_interests=mapped & self.legitimate_purposes,
                special_features=self._mapped(self._category_features, choice.granted)
                & self.special_features,
                vendors=self.vendor_ids,
                vendor_legitimate_interests=self.vendor_ids,
            )
        if choice.action != ACTION_CUSTOM:
            return TcfChoice(frozenset(), frozenset(), frozenset(), frozenset(), frozenset())
        if any(key == FIELD_TCF and value == "1" for key, value in fields):
            posted = self._posted(fields)
            purposes = self._mapped(self._category_purposes, refused_by_signal) - self._mapped(
                self._category_purposes, choice.granted
            )
            features = self._mapped(self._category_features, refused_by_signal) - self._mapped(
                self._category_features, choice.granted
            )
            return replace(
                posted,
                purposes=posted.purposes - purposes,
                legitimate_interests=posted.legitimate_interests - purposes,
                special_features=posted.special_features - features,
            )
        purposes = self._mapped(self._category_purposes, choice.granted) & self.purposes
        features = self._mapped(self._category_features, choice.granted) & self.special_features
        legitimate = self._mapped(self._category_purposes, choice.granted) & (
            self.legitimate_purposes
        )
        listed = self.vendor_list.vendors.values()
        return TcfChoice(
            purposes=purposes,
            legitimate_interests=legitimate,
            special_features=features,
            vendors=frozenset(
                v.id
                for v in listed
                if (v.purposes | v.flexible_purposes) & purposes or v.special_features & features
            ),
            vendor_legitimate_interests=frozenset(
                v.id for v in listed if v.legitimate_interest_purposes & legitimate
            ),
        )

    def _posted(self, fields: Sequence[tuple[str, str]]) -> TcfChoice:
        purposes = _ids(fields, FIELD_PURPOSE, self.purposes)
        objections = _ids(fields, FIELD_PURPOSE_OBJECTION, self.legitimate_purposes)
        vendor_objections = _ids(fields, FIELD_VENDOR_OBJECTION, self.vendor_ids)
        return TcfChoice(
            purposes=purposes,
            legitimate_interests=self.legitimate_purposes - objections,
            special_features=_ids(fields, FIELD_SPECIAL_FEATURE, self.special_features),
            vendors=_ids(fields, FIELD_VENDOR, self.vendor_ids),
            vendor_legitimate_interests=self.vendor_ids - vendor_objections,
        )

    @staticmethod
    def _mapped(table: dict[str, frozenset[int]], granted: Iterable[str]) -> frozenset[int]:
        return frozenset(p for category in granted for p in table.get(category, ()))

    # -- strings ---------------------------------------------------------------------------

    def tc_string(self, choice: TcfChoice, language: str, now: datetime | None = None) -> str:
        """The TC string of ``choice``, shown in ``language``, written at ``now``."""
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        # TCF 2.2 and later keep only the day of both times.
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        settings = self.settings
        listed: VendorList = self.vendor_list
        tc = TCString(
            created=day,
            last_updated=day,
            cmp_id=settings.cmp_id,
            cmp_version=settings.cmp_version,
            vendor_list_version=listed.version,
            publisher_country_code=settings.publisher_country_code,
            purpose_one_treatment=settings.purpose_one_treatment,
            purpose_consents=choice.purposes,
            purpose_legitimate_interests=choice.legitimate_interests,
            special_feature_opt_ins=choice.special_features,
            vendor_consents=choice.vendors,
            vendor_legitimate_interests=choice.vendor_legitimate_interests,
            disclosed_vendors=self.vendor_ids,
        )
        applied = listed.apply(tc)
        tag = language.split("-")[0].upper()
        if len(tag) == 2 and tag.isascii() and tag.isalpha():
            applied = replace(applied, consent_language=tag)
        return encode(applied, listed_vendors=set(listed.vendors))

    def ac_string(self, granted: frozenset[str]) -> str | None:
        """Google's Additional Consent string (version 2), or None without ATP providers."""
        providers = self.settings.google_atp_providers
        if not providers:
            return None
        consented = providers if self.settings.google_atp_category in granted else ()
        listed = ".".join(str(i) for i in sorted(providers))
        return f"2~{'.'.join(str(i) for i in sorted(consented))}~dv.{listed}"


def _ids(fields: Sequence[tuple[str, str]], name: str, allowed: frozenset[int]) -> frozenset[int]:
    found = set()
    for key, value in fields:
        if key != name:
            continue
        # Ids have at most five digits: a longer run is refused before int() reads it.
        if (
            not (value.isascii() and value.isdigit() and len(value) <= 5)
            or int(value) not in allowed
        ):
            raise DecisionError(400, f"unknown {name.removeprefix('tcf_').replace('_', ' ')}")
        found.add(int(value))
    return frozenset(found)
