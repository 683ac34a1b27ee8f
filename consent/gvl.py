"""IAB Europe's Global Vendor List (version 3): loaded from a file, checked, applied to choices.

The vendor list names every vendor registered with the TCF, the purposes each declares on
each legal basis, its retention periods, data categories and privacy notices. An operator
downloads it (and its translations) on a schedule and points the configuration at the files:
the server reads files only, so a site never depends on IAB's servers being reachable while it
answers readers.

:meth:`VendorList.apply` turns a visitor's choices into what a TC string may say under this
list, by the rules IAB's own library applies before it encodes: vendors the list does not
name, or names as deleted, are dropped; a vendor keeps a consent or a legitimate-interest bit
only where it declares purposes on that basis (or special purposes only, or flexible purposes
that a publisher restriction moves to that basis); publisher restrictions keep only vendors
for which they mean something.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from consent.errors import ConsentError
from consent.tcf import (
    CONSENT_ONLY_PURPOSES,
    PublisherRestriction,
    RestrictionType,
    TCString,
    encode,
)

SPECIFICATION_VERSION = 3


class VendorListError(ConsentError, ValueError):
    """A vendor list file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Declaration:
    """A purpose, special purpose, feature, special feature or data category."""

    id: int
    name: str
    description: str
    illustrations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stack:
    """A named group of purposes and special features the first layer may show as one."""

    id: int
    name: str
    description: str
    purposes: frozenset[int]
    special_features: frozenset[int]


@dataclass(frozen=True, slots=True)
class Vendor:
    id: int
    name: str
    purposes: frozenset[int]
    legitimate_interest_purposes: frozenset[int]
    flexible_purposes: frozenset[int]
    special_purposes: frozenset[int]
    features: frozenset[int]
    special_features: frozenset[int]
    uses_cookies: bool
    cookie_max_age_seconds: int | None
    cookie_refresh: bool
    uses_non_cookie_access: bool
    deleted: bool
    retention_days: int | None
    purpose_retention_days: Mapping[int, int]
    data_categories: frozenset[int]
    privacy_urls: Mapping[str, str]
    legitimate_interest_urls: Mapping[str, str]
    device_storage_disclosure_url: str | None

    def privacy_url(self, language: str) -> str | None:
        """The vendor's privacy notice in ``language``, else in English, else any."""
        urls = self.privacy_urls
        return urls.get(language) or urls.get("en") or next(iter(urls.values()), None)


@dataclass(frozen=True, slots=True)
class VendorList:
    specification_version: int
    version: int
    policy_version: int
    last_updated: datetime
    language: str
    purposes: Mapping[int, Declaration]
    special_purposes: Mapping[int, Declaration]
    features: Mapping[int, Declaration]
    special_features: Mapping[int, Declaration]
    stacks: Mapping[int, Stack]
    data_categories: Mapping[int, Declaration]
    vendors: Mapping[int, Vendor]

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VendorList:
        """Read ``vendor-list.json`` (version 3); raise :class:`VendorListError` naming it."""
        return cls.from_json(_read_json(path), source=os.fspath(path))

    @classmethod
    def from_json(cls, data: object, *, source: str = "vendor list") -> VendorList:
        reader = _Reader(source)
        document = reader.mapping(data, "the document")
        version = reader.integer(document, "gvlSpecificationVersion")
        if version != SPECIFICATION_VERSION:
            raise VendorListError(
                f"{source}: gvlSpecificationVersion {version}; version "
                f"{SPECIFICATION_VERSION} is read (download vendor-list.json of TCF v2.3)"
            )
        vendors = {
            vendor.id: vendor
            for vendor in (
                _vendor(reader, item) for item in reader.entries(document, "vendors").values()
            )
        }
        return cls(
            specification_version=version,
            version=reader.integer(document, "vendorListVersion"),
            policy_version=reader.integer(document, "tcfPolicyVersion"),
            last_updated=reader.time(document, "lastUpdated"),
            language="en",
            purposes=_declarations(reader, document, "purposes"),
            special_purposes=_declarations(reader, document, "specialPurposes"),
            features=_declarations(reader, document, "features"),
            special_features=_declarations(reader, document, "specialFeatures"),
            stacks={
                stack.id: stack
                for stack in (
                    _stack(reader, item)
                    for item in reader.entries(document, "stacks", required=False).values()
                )
            },
            data_categories=_declarations(reader, document, "dataCategories", required=False),
            vendors=vendors,
        )

    def translated(self, path: str | os.PathLike[str], language: str) -> VendorList:
        """The list with the texts of ``purposes-<language>.json`` (ids must match)."""
        source = os.fspath(path)
        reader = _Reader(source)
        document = reader.mapping(_read_json(path), "the document")

        def texts(key: str, own: Mapping[int, Declaration]) -> Mapping[int, Declaration]:
            given = _declarations(reader, document, key, required=False)
            missing = sorted(set(own) - set(given))
            if given and missing:
                raise VendorListError(f"{source}: {key} lacks ids {missing}")
            return given or own

        stacks = {
            stack.id: stack
            for stack in (
                _stack(reader, item)
                for item in reader.entries(document, "stacks", required=False).values()
            )
        }
        return replace(
            self,
            language=language.lower(),
            purposes=texts("purposes", self.purposes),
            special_purposes=texts("specialPurposes", self.special_purposes),
            features=texts("features", self.features),
            special_features=texts("specialFeatures", self.special_features),
            data_categories=texts("dataCategories", self.data_categories),
            stacks=stacks or self.stacks,
        )

    def subset(self, vendor_ids: Iterable[int]) -> VendorList:
        """The list reduced to the vendors a site works with; unknown or deleted ids refused."""
        wanted = sorted(set(vendor_ids))
        unknown = [i for i in wanted if i not in self.vendors]
        if unknown:
            raise VendorListError(
                f"vendor list {self.version} has no vendors {unknown}: check the ids in "
                "the configuration against the list"
            )
        deleted = [i for i in wanted if self.vendors[i].deleted]
        if deleted:
            raise VendorListError(
                f"vendors {deleted} are deleted from vendor list {self.version}: "
                "remove them from the configuration"
            )
        return replace(self, vendors={i: self.vendors[i] for i in wanted})

    # -- the rules of the list -----------------------------------------------------------

    def apply(self, tc: TCString) -> TCString:
        """``tc`` as this list allows it, with the list's version and policy version."""
        restrictions = tuple(
            replace(
                restriction,
                vendor_ids=frozenset(
                    v for v in restriction.vendor_ids if self._restriction_applies(restriction, v)
                ),
            )
            for restriction in tc.publisher_restrictions
        )
        checked = replace(tc, publisher_restrictions=restrictions)
        return replace(
            checked,
            vendor_list_version=self.version,
            policy_version=self.policy_version,
            consent_language=self.language[:2].upper(),
            purpose_legitimate_interests=tc.purpose_legitimate_interests - CONSENT_ONLY_PURPOSES,
            vendor_consents=frozenset(
                v for v in tc.vendor_consents if self._keeps(checked, v, legitimate=False)
            ),
            vendor_legitimate_interests=frozenset(
                v
                for v in tc.vendor_legitimate_interests
                if self._keeps(checked, v, legitimate=True)
            ),
        )

    def encode(self, tc: TCString) -> str:
        """The TC string for ``tc`` under this list: :meth:`apply`, then the codec."""
        return encode(self.apply(tc), listed_vendors=set(self.vendors))

    def _keeps(self, tc: TCString, vendor_id: int, *, legitimate: bool) -> bool:
        vendor = self.vendors.get(vendor_id)
        if vendor is None or vendor.deleted:
            return False
        declared = vendor.legitimate_interest_purposes if legitimate else vendor.purposes
        if declared:
            return True
        if legitimate and not vendor.legitimate_interest_purposes and vendor.special_purposes:
            # Special purposes rest on legitimate interest even where no purpose does.
            return True
        if not tc.is_service_specific or not vendor.flexible_purposes:
            return False
        wanted = (
            RestrictionType.REQUIRE_LEGITIMATE_INTEREST
            if legitimate
            else RestrictionType.REQUIRE_CONSENT
        )
        return any(
            r.restriction_type is wanted and vendor_id in r.vendor_ids
            for r in tc.publisher_restrictions
        )

    def _restriction_applies(self, restriction: PublisherRestriction, vendor_id: int) -> bool:
        vendor = self.vendors.get(vendor_id)
        if vendor is None or vendor.deleted:
            return False
        purpose = restriction.purpose_id
        if restriction.restriction_type is RestrictionType.NOT_ALLOWED:
            return purpose in vendor.purposes or purpose in vendor.legitimate_interest_purposes
        if not vendor.flexible_purposes or purpose not in vendor.flexible_purposes:
            return False
        if restriction.restriction_type is RestrictionType.REQUIRE_CONSENT:
            return purpose in vendor.legitimate_interest_purposes
        return purpose in vendor.purposes


# -- reading -----------------------------------------------------------------------------


def _read_json(path: str | os.PathLike[str]) -> object:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except OSError as error:
        raise VendorListError(f"{os.fspath(path)}: cannot be read ({error.strerror})") from error
    except ValueError as error:
        raise VendorListError(f"{os.fspath(path)}: is not JSON ({error})") from error


class _Reader:
    """Typed access to the JSON with errors that name the file and the entry."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str) -> VendorListError:
        return VendorListError(f"{self.source}: {where}: {what}")

    def mapping(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "is not an object")
        return value

    def entries(
        self, document: Mapping[str, Any], key: str, *, required: bool = True
    ) -> Mapping[str, Any]:
        if key not in document and not required:
            return {}
        return self.mapping(document.get(key), key)

    def integer(self, document: Mapping[str, Any], key: str, where: str = "") -> int:
        value = document.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(where or key, f"{key} is not a whole number")
        return value

    def text(self, document: Mapping[str, Any], key: str, where: str) -> str:
        value = document.get(key, "")
        if not isinstance(value, str):
            raise self.fail(where, f"{key} is not text")
        return value

    def ids(self, document: Mapping[str, Any], key: str, where: str) -> frozenset[int]:
        value = document.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in value
        ):
            raise self.fail(where, f"{key} is not a list of ids")
        return frozenset(value)

    def time(self, document: Mapping[str, Any], key: str) -> datetime:
        value = document.get(key)
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(key, f"{value!r} is not a time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _declarations(
    reader: _Reader, document: Mapping[str, Any], key: str, *, required: bool = True
) -> Mapping[int, Declaration]:
    found: dict[int, Declaration] = {}
    for name, item in reader.entries(document, key, required=required).items():
        where = f"{key}.{name}"
        entry = reader.mapping(item, where)
        identifier = reader.integer(entry, "id", where)
        if str(identifier) != name:
            raise reader.fail(where, f"id {identifier} differs from its key")
        illustrations = entry.get("illustrations", [])
        if not isinstance(illustrations, list) or not all(
            isinstance(i, str) for i in illustrations
        ):
            raise reader.fail(where, "illustrations is not a list of texts")
        found[identifier] = Declaration(
            identifier,
            reader.text(entry, "name", where),
            reader.text(entry, "description", where),
            tuple(illustrations),
        )
    return found


def _stack(reader: _Reader, item: object) -> Stack:
    entry = reader.mapping(item, "stacks")
    where = f"stacks.{entry.get('id')}"
    return Stack(
        reader.integer(entry, "id", where),
        reader.text(entry, "name", where),
        reader.text(entry, "description", where),
        reader.ids(entry, "purposes", where),
        reader.ids(entry, "specialFeatures", where),
    )


def _urls(reader: _Reader, entry: Mapping[str, Any], where: str, key: str) -> dict[str, str]:
    urls = entry.get("urls", [])
    if not isinstance(urls, list):
        raise reader.fail(where, "urls is not a list")
    found: dict[str, str] = {}
    for item in urls:
        url = reader.mapping(item, f"{where}.urls")
        language, address = url.get("langId"), url.get(key)
        if (
            isinstance(language, str)
            and isinstance(address, str)
            and address.startswith("https://")
        ):
            found.setdefault(language.lower(), address)
    return found


def _vendor(reader: _Reader, item: object) -> Vendor:
    entry = reader.mapping(item, "vendors")
    where = f"vendors.{entry.get('id')}"
    retention = entry.get("dataRetention") or {}
    retention = reader.mapping(retention, f"{where}.dataRetention")
    standard = retention.get("stdRetention")
    per_purpose = retention.get("purposes") or {}
    if not isinstance(per_purpose, dict) or not all(
        str(k).isdigit() and isinstance(v, int) for k, v in per_purpose.items()
    ):
        raise reader.fail(where, "dataRetention.purposes is not a map of days")
    max_age = entry.get("cookieMaxAgeSeconds")
    return Vendor(
        id=reader.integer(entry, "id", where),
        name=reader.text(entry, "name", where),
        purposes=reader.ids(entry, "purposes", where),
        legitimate_interest_purposes=reader.ids(entry, "legIntPurposes", where),
        flexible_purposes=reader.ids(entry, "flexiblePurposes", where),
        special_purposes=reader.ids(entry, "specialPurposes", where),
        features=reader.ids(entry, "features", where),
        special_features=reader.ids(entry, "specialFeatures", where),
        uses_cookies=entry.get("usesCookies") is True,
        cookie_max_age_seconds=max_age if isinstance(max_age, int) else None,
        cookie_refresh=entry.get("cookieRefresh") is True,
        uses_non_cookie_access=entry.get("usesNonCookieAccess") is True,
        deleted=bool(entry.get("deletedDate")),
        retention_days=standard if isinstance(standard, int) else None,
        purpose_retention_days={int(k): v for k, v in per_purpose.items()},
        data_categories=reader.ids(entry, "dataDeclaration", where),
        privacy_urls=_urls(reader, entry, where, "privacy"),
        legitimate_interest_urls=_urls(reader, entry, where, "legIntClaim"),
        device_storage_disclosure_url=(
            entry.get("deviceStorageDisclosureUrl")
            if isinstance(entry.get("deviceStorageDisclosureUrl"), str)
            else None
        ),
    )
