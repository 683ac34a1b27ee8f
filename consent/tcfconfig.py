"""The settings of the TCF layer (``ConsentConfig(tcf=TcfSettings(...))``, TOML ``[tcf]``).

Off unless given. Every value is checked here, and the vendor list files are read once when
the configuration is built: a missing or broken file stops the site at start-up with a
``ConfigError`` naming the setting, never a reader's request later.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consent.errors import ConfigError

if TYPE_CHECKING:
    from consent.gvl import VendorList

# Which TCF purposes each of the default categories stands for. Purpose 1 (storing or
# reading information on the device) goes with every category that stores anything.
DEFAULT_CATEGORY_PURPOSES: Mapping[str, tuple[int, ...]] = {
    "preferences": (1, 5, 6, 11),
    "analytics": (1, 8, 9, 10),
    "marketing": (1, 2, 3, 4, 7),
}
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
# Google's Ad Tech Provider ids are small positive integers.
_MAX_ATP_ID = 100_000
# The TCF policy asks for a new choice at least every 13 months.
THIRTEEN_MONTHS = 396 * 86_400


@dataclass(frozen=True, slots=True, kw_only=True)
class TcfSettings:
    """What an operator registered as a CMP with IAB Europe sets to switch the TCF layer on."""

    cmp_id: int
    cmp_version: int = 1
    vendor_list_file: str | os.PathLike[str]
    # Holds purposes-<lang>.json files; a locale without one shows the list's English texts.
    language_dir: str | os.PathLike[str] | None = None
    vendors: Sequence[int] = ()
    publisher_country_code: str = "AA"
    purpose_one_treatment: bool = False
    category_purposes: Mapping[str, Sequence[int]] = field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_PURPOSES)
    )
    # Special features (1 precise geolocation, 2 device scanning) opted in with a category.
    category_special_features: Mapping[str, Sequence[int]] = field(default_factory=dict)
    # Google's Additional Consent: Ad Tech Provider ids not on the GVL, consented with this
    # category (marketing by default).
    google_atp_providers: Sequence[int] = ()
    google_atp_category: str = "marketing"

    vendor_list: VendorList = field(init=False, repr=False, compare=False)
    translations: Mapping[str, VendorList] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _whole("tcf.cmp_id", self.cmp_id, 2, 4095)  # 0 and 1 are not given to CMPs
        _whole("tcf.cmp_version", self.cmp_version, 1, 4095)
        if not isinstance(self.publisher_country_code, str) or not _COUNTRY.match(
            self.publisher_country_code.upper()
        ):
            raise ConfigError(
                "tcf.publisher_country_code must be two letters (ISO 3166-1 alpha-2, e.g. 'DE'), "
                f"got {self.publisher_country_code!r}",
                setting="tcf.publisher_country_code",
            )
        object.__setattr__(self, "publisher_country_code", self.publisher_country_code.upper())
        if not isinstance(self.purpose_one_treatment, bool):
            raise ConfigError(
                "tcf.purpose_one_treatment must be true or false",
                setting="tcf.purpose_one_treatment",
            )
        object.__setattr__(self, "vendors", _ids("tcf.vendors", self.vendors, 65_535))
        atp = _ids("tcf.google_atp_providers", self.google_atp_providers, _MAX_ATP_ID)
        object.__setattr__(self, "google_atp_providers", atp)
        for name, largest in (("category_purposes", 11), ("category_special_features", 2)):
            table = getattr(self, name)
            if not isinstance(table, Mapping):
                raise ConfigError(
                    f"tcf.{name} must map category ids to lists of ids", setting=f"tcf.{name}"
                )
            checked = {
                category: _ids(f"tcf.{name}.{category}", ids, largest)
                for category, ids in table.items()
            }
            object.__setattr__(self, name, checked)
        self._load()

    def _load(self) -> None:
        # Imported here: configuration values import nothing above them until they are built.
        from consent.gvl import VendorList, VendorListError

        path = self.vendor_list_file
        if not isinstance(path, str | os.PathLike):
            raise ConfigError(
                "tcf.vendor_list_file must be the path of vendor-list.json",
                setting="tcf.vendor_list_file",
            )
        try:
            full = VendorList.load(path)
            listed = full.subset(self.vendors) if self.vendors else _live(full)
        except VendorListError as exc:
            raise ConfigError(
                f"tcf.vendor_list_file: {exc}", setting="tcf.vendor_list_file"
            ) from exc
        if not listed.vendors:
            raise ConfigError(
                "tcf.vendors: the vendor list names no vendor to ask consent for",
                setting="tcf.vendors",
            )
        translations: dict[str, VendorList] = {}
        directory = self.language_dir
        if directory is not None:
            if not Path(directory).is_dir():
                raise ConfigError(
                    f"tcf.language_dir: {os.fspath(directory)!r} is not a directory",
                    setting="tcf.language_dir",
                )
            for file in sorted(Path(directory).glob("purposes-*.json")):
                language = file.stem.removeprefix("purposes-").lower()
                if not _LANGUAGE.match(language):
                    continue
                try:
                    translations[language] = listed.translated(file, language)
                except VendorListError as exc:
                    raise ConfigError(
                        f"tcf.language_dir: {exc}", setting="tcf.language_dir"
                    ) from exc
        object.__setattr__(self, "vendor_list", listed)
        object.__setattr__(self, "translations", translations)

    def check_categories(self, known: Sequence[str]) -> None:
        """Every category named here must be one the site has."""
        for name in ("category_purposes", "category_special_features"):
            for category in getattr(self, name):
                if category not in known:
                    raise ConfigError(
                        f"tcf.{name}: unknown category {category!r}; use one of: "
                        f"{', '.join(known)}",
                        setting=f"tcf.{name}",
                    )
        if self.google_atp_providers and self.google_atp_category not in known:
            raise ConfigError(
                f"tcf.google_atp_category: unknown category {self.google_atp_category!r}",
                setting="tcf.google_atp_category",
            )

    def list_for(self, language: str) -> VendorList:
        """The vendor list with texts in ``language`` when a file for it was given."""
        return self.translations.get(language.split("-")[0].lower(), self.vendor_list)

    @property
    def fingerprint(self) -> str:
        """Changes when a choice must be asked again: a vendor added or removed, a vendor's
        purposes, special purposes or special features changed, the mapping changed, or the
        list's TCF policy version changed. Names, retention, links and the list's version
        number do not count."""
        parts: list[Any] = [
            self.cmp_id,
            self.vendor_list.policy_version,
            sorted(self.google_atp_providers),
            sorted((k, sorted(v)) for k, v in self.category_purposes.items()),
            sorted((k, sorted(v)) for k, v in self.category_special_features.items()),
        ]
        for vendor in sorted(self.vendor_list.vendors.values(), key=lambda v: v.id):
            parts.append(
                [
                    vendor.id,
                    sorted(vendor.purposes),
                    sorted(vendor.legitimate_interest_purposes),
                    sorted(vendor.flexible_purposes),
                    sorted(vendor.special_purposes),
                    sorted(vendor.special_features),
                ]
            )
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:10]


def _live(full: VendorList) -> VendorList:
    return full.subset(i for i, vendor in full.vendors.items() if not vendor.deleted)


def _whole(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{name} must be a whole number between {low} and {high}, got {value!r}",
            setting=name,
        )


def _ids(name: str, value: object, largest: int) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | frozenset | set):
        raise ConfigError(f"{name} must be a list of ids, got {value!r}", setting=name)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= largest:
            raise ConfigError(
                f"{name}: {item!r} is not an id between 1 and {largest}", setting=name
            )
    return tuple(sorted(set(value)))


def settings_from_toml(table: Mapping[str, Any], *, base: Path) -> TcfSettings | None:
    """``[tcf]`` of a TOML file: ``enabled = true`` and the settings above; paths are relative
    to the file."""
    values = dict(table)
    enabled = values.pop("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError("tcf.enabled must be true or false", setting="tcf.enabled")
    if not enabled:
        return None
    allowed = {
        "cmp_id",
        "cmp_version",
        "vendor_list_file",
        "language_dir",
        "vendors",
        "publisher_country_code",
        "purpose_one_treatment",
        "category_purposes",
        "category_special_features",
        "google_atp_providers",
        "google_atp_category",
    }
    for key in values:
        if key not in allowed:
            raise ConfigError(
                f"unknown key; [tcf] takes enabled, {', '.join(sorted(allowed))}",
                setting=f"tcf.{key}",
            )
    if "cmp_id" not in values or "vendor_list_file" not in values:
        raise ConfigError(
            "[tcf] with enabled = true needs cmp_id (from IAB Europe) and vendor_list_file",
            setting="tcf.cmp_id" if "cmp_id" not in values else "tcf.vendor_list_file",
        )
    for key in ("vendor_list_file", "language_dir"):
        if key in values:
            if not isinstance(values[key], str):
                raise ConfigError(f"tcf.{key} must be a path", setting=f"tcf.{key}")
            values[key] = base / values[key]
    return TcfSettings(**values)
