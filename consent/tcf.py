"""IAB Transparency and Consent Framework (TCF v2) strings: encoding and decoding.

A TC string is how a consent platform tells the ad partners of a site in the EEA, the UK and
Switzerland what the visitor chose: purposes, special features, vendors, the publisher's
restrictions, which vendors were disclosed, and the publisher's own purposes. It is a core
segment followed by optional ``.``-separated segments, each written as base64url bits.

This module is the codec only: it writes exactly the choices it is given and reads back what
a string says. What a Global Vendor List allows (which vendors exist, which purposes each may
use on which legal basis) is applied before encoding, by the caller. Two rules of the TCF
policy that need no vendor list are enforced here: purposes 1, 3, 4, 5 and 6 cannot rest on
legitimate interest, and a publisher cannot require legitimate interest for them.

Field widths and the choice between a bit field and ranges for vendor lists follow the
specification and IAB's own library, so that a string written here is byte for byte the one
that library writes; the test suite checks both directions against it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from consent import base64url
from consent.errors import ConsentError

_SEGMENT_SEPARATOR = "."
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

VERSION = 2
# The TCF policy version of TCF 2.3, which made the disclosed-vendors segment mandatory.
POLICY_VERSION = 5

_PURPOSE_BITS = 24
_SPECIAL_FEATURE_BITS = 12
_VENDOR_ID_BITS = 16
_ENTRIES_BITS = 12
# A range-coded vendor list costs its count, then per entry a flag and one or two ids.
_RANGE_OVERHEAD = _VENDOR_ID_BITS * 2 + 1 + _ENTRIES_BITS
# Long enough for every vendor of the list twice over and several segments; past it a
# string is refused before anything is built from it.
MAX_LENGTH = 65_536

# Ranges name many ids in few bits: 33 bits stand for 65,535 of them. Past four lists of
# every id, a string is refused before more are read, so that a short string cannot cost
# seconds and gigabytes to read.
MAX_RANGE_IDS = 4 * 65_535

# Purposes that may never rest on legitimate interest (TCF policy since version 2.2).
CONSENT_ONLY_PURPOSES = frozenset({1, 3, 4, 5, 6})


class TcfError(ConsentError, ValueError):
    """A TC string or a set of choices that cannot be encoded or decoded."""


class RestrictionType(IntEnum):
    NOT_ALLOWED = 0
    REQUIRE_CONSENT = 1
    REQUIRE_LEGITIMATE_INTEREST = 2


class _Segment(IntEnum):
    CORE = 0
    DISCLOSED_VENDORS = 1
    ALLOWED_VENDORS = 2
    PUBLISHER_TC = 3


@dataclass(frozen=True, slots=True)
class PublisherRestriction:
    """The publisher's restriction of one purpose's legal basis for some vendors."""

    purpose_id: int
    restriction_type: RestrictionType
    vendor_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class PublisherTC:
    """The publisher's own purposes (the optional publisher TC segment)."""

    consents: frozenset[int] = frozenset()
    legitimate_interests: frozenset[int] = frozenset()
    custom_purposes: int = 0
    custom_consents: frozenset[int] = frozenset()
    custom_legitimate_interests: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class TCString:
    """Everything a version 2 TC string says.

    Times are UTC and kept to the tenth of a second the format stores. ``disclosed_vendors``
    of ``None`` leaves that segment out, which strings written since TCF 2.3 may not do; it is
    allowed for reading older strings and for tests.
    """

    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    vendor_list_version: int
    consent_language: str = "EN"
    consent_screen: int = 0
    policy_version: int = POLICY_VERSION
    is_service_specific: bool = True
    use_non_standard_texts: bool = False
    special_feature_opt_ins: frozenset[int] = frozenset()
    purpose_consents: frozenset[int] = frozenset()
    purpose_legitimate_interests: frozenset[int] = frozenset()
    purpose_one_treatment: bool = False
    publisher_country_code: str = "AA"
    vendor_consents: frozenset[int] = frozenset()
    vendor_legitimate_interests: frozenset[int] = frozenset()
    publisher_restrictions: tuple[PublisherRestriction, ...] = ()
    disclosed_vendors: frozenset[int] | None = field(default_factory=frozenset)
    publisher_tc: PublisherTC | None = None


# -- bits --------------------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def integer(self, value: int, width: int, what: str) -> None:
        if not 0 <= value < 1 << width:
            raise TcfError(f"{what} is {value}: it must be between 0 and {(1 << width) - 1}")
        self._parts.append(format(value, f"0{width}b"))

    def flag(self, value: bool) -> None:
        self._parts.append("1" if value else "0")

    def bits(self, ids: frozenset[int], width: int, what: str) -> None:
        _check_ids(ids, width, what)
        self._parts.append("".join("1" if i in ids else "0" for i in range(1, width + 1)))

    def raw(self, bits: str) -> None:
        self._parts.append(bits)

    def text(self) -> str:
        # Padded to whole 24-bit groups, as IAB's library writes them.
        return base64url.from_bits(base64url.pad("".join(self._parts), 24))


class _Reader:
    def __init__(self, text: str) -> None:
        bits = base64url.to_bits(text)
        if bits is None:
            raise TcfError(f"{text[:40]!r} is not base64url text")
        self._bits = bits
        self._position = 0
        self.range_ids_left = MAX_RANGE_IDS

    def integer(self, width: int) -> int:
        end = self._position + width
        if end > len(self._bits):
            raise TcfError("the string ends in the middle of a field")
        value = int(self._bits[self._position : end], 2) if width else 0
        self._position = end
        return value

    def flag(self) -> bool:
        return self.integer(1) == 1

    def bits(self, width: int) -> frozenset[int]:
        end = self._position + width
        if end > len(self._bits):
            raise TcfError("the string ends in the middle of a field")
        chunk = self._bits[self._position : end]
        self._position = end
        return frozenset(index + 1 for index, bit in enumerate(chunk) if bit == "1")


def _check_ids(ids: Iterable[int], largest: int, what: str) -> None:
    for number in ids:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= largest:
            raise TcfError(f"{what} holds {number!r}: ids run from 1 to {largest}")


def _runs(ids: list[int], listed: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs.

    Without ``listed`` a run is consecutive ids. With the sorted ids a vendor list names, a
    run goes on over ids the list does not name, which no reader can take for a vendor: IAB's
    library writes publisher restrictions so.
    """
    runs: list[tuple[int, int]] = []
    for number in ids:
        if runs:
            last = runs[-1][1]
            if listed is None:
                joins = number == last + 1
            else:
                joins = bisect_left(listed, number) == bisect_right(listed, last)
            if joins:
                runs[-1] = (runs[-1][0], number)
                continue
        runs.append((number, number))
    return runs


def _write_range_entries(writer: _Writer, runs: list[tuple[int, int]], what: str) -> None:
    writer.integer(len(runs), _ENTRIES_BITS, f"the number of {what} entries")
    for first, last in runs:
        writer.flag(first != last)
        writer.integer(first, _VENDOR_ID_BITS, what)
        if first != last:
            writer.integer(last, _VENDOR_ID_BITS, what)


def _write_vendors(writer: _Writer, ids: frozenset[int], what: str) -> None:
    _check_ids(ids, (1 << _VENDOR_ID_BITS) - 1, what)
    largest = max(ids, default=0)
    writer.integer(largest, _VENDOR_ID_BITS, f"the largest id of {what}")
    ordered = sorted(ids)
    runs = _runs(ordered)
    # Ranges when they are shorter, by the estimate IAB's library makes: it counts no flag
    # bit for a single id and decides before counting the largest id. Following its rule
    # keeps the two implementations' strings identical.
    estimate = (
        _VENDOR_ID_BITS
        + 1
        + _ENTRIES_BITS
        + sum(_VENDOR_ID_BITS * 2 + 1 if first != last else _VENDOR_ID_BITS for first, last in runs)
        - _VENDOR_ID_BITS
    )
    if largest > _RANGE_OVERHEAD and estimate < _VENDOR_ID_BITS + 1 + largest:
        writer.flag(True)
        _write_range_entries(writer, runs, what)
    else:
        writer.flag(False)
        writer.bits(ids, largest, what)


def _read_range_entries(reader: _Reader) -> set[int]:
    ids: set[int] = set()
    for _ in range(reader.integer(_ENTRIES_BITS)):
        is_range = reader.flag()
        first = reader.integer(_VENDOR_ID_BITS)
        last = reader.integer(_VENDOR_ID_BITS) if is_range else first
        if first < 1 or last < first:
            raise TcfError(f"a vendor range runs from {first} to {last}")
        reader.range_ids_left -= last - first + 1
        if reader.range_ids_left < 0:
            raise TcfError(f"the string's ranges name more vendor ids than {MAX_RANGE_IDS}")
        ids.update(range(first, last + 1))
    return ids


def _read_vendors(reader: _Reader) -> frozenset[int]:
    largest = reader.integer(_VENDOR_ID_BITS)
    if reader.flag():
        ids = _read_range_entries(reader)
        if ids and max(ids) > largest:
            raise TcfError(f"a vendor range goes past the largest id {largest}")
        return frozenset(ids)
    return reader.bits(largest)


def _deciseconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise TcfError("times in a TC string are UTC: give an aware datetime")
    microseconds = round(moment.timestamp() * 1_000_000)
    return (microseconds + 50_000) // 100_000


def _from_deciseconds(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value * 100)


def _write_letters(writer: _Writer, letters: str, what: str) -> None:
    code = letters.upper()
    if len(code) != 2 or not all("A" <= c <= "Z" for c in code):
        raise TcfError(f"{what} is two letters A to Z, not {letters!r}")
    for character in code:
        writer.integer(ord(character) - ord("A"), 6, what)


def _read_letters(reader: _Reader, what: str) -> str:
    letters = [reader.integer(6) for _ in range(2)]
    if any(n > 25 for n in letters):
        raise TcfError(f"{what} is not two letters")
    return "".join(chr(ord("A") + n) for n in letters)


# -- segments ----------------------------------------------------------------------------


def _check_legitimate_interests(ids: frozenset[int], what: str) -> None:
    refused = sorted(ids & CONSENT_ONLY_PURPOSES)
    if refused:
        raise TcfError(
            f"{what} names purposes {refused}, which may only rest on consent "
            f"({', '.join(map(str, sorted(CONSENT_ONLY_PURPOSES)))})"
        )


def _core(tc: TCString, listed: Sequence[int] | None) -> str:
    writer = _Writer()
    writer.integer(VERSION, 6, "version")
    writer.integer(_deciseconds(tc.created), 36, "created")
    writer.integer(_deciseconds(tc.last_updated), 36, "last_updated")
    writer.integer(tc.cmp_id, 12, "cmp_id")
    writer.integer(tc.cmp_version, 12, "cmp_version")
    writer.integer(tc.consent_screen, 6, "consent_screen")
    _write_letters(writer, tc.consent_language, "consent_language")
    writer.integer(tc.vendor_list_version, 12, "vendor_list_version")
    writer.integer(tc.policy_version, 6, "policy_version")
    writer.flag(tc.is_service_specific)
    writer.flag(tc.use_non_standard_texts)
    writer.bits(tc.special_feature_opt_ins, _SPECIAL_FEATURE_BITS, "special_feature_opt_ins")
    writer.bits(tc.purpose_consents, _PURPOSE_BITS, "purpose_consents")
    _check_legitimate_interests(tc.purpose_legitimate_interests, "purpose_legitimate_interests")
    writer.bits(tc.purpose_legitimate_interests, _PURPOSE_BITS, "purpose_legitimate_interests")
    writer.flag(tc.purpose_one_treatment)
    _write_letters(writer, tc.publisher_country_code, "publisher_country_code")
    _write_vendors(writer, tc.vendor_consents, "vendor_consents")
    _write_vendors(writer, tc.vendor_legitimate_interests, "vendor_legitimate_interests")
    # A restriction with no vendors left is written with no entries, as IAB's library does
    # when a vendor list removes its vendors.
    restrictions = tc.publisher_restrictions
    writer.integer(len(restrictions), _ENTRIES_BITS, "the number of publisher restrictions")
    seen: set[tuple[int, int]] = set()
    for restriction in restrictions:
        key = (restriction.purpose_id, int(restriction.restriction_type))
        if key in seen:
            raise TcfError(f"publisher restriction {key} is given twice")
        seen.add(key)
        _check_ids((restriction.purpose_id,), _PURPOSE_BITS, "a publisher restriction's purpose")
        if (
            restriction.restriction_type is RestrictionType.REQUIRE_LEGITIMATE_INTEREST
            and restriction.purpose_id in CONSENT_ONLY_PURPOSES
        ):
            raise TcfError(
                f"purpose {restriction.purpose_id} may only rest on consent: "
                "a publisher cannot require legitimate interest for it"
            )
        writer.integer(restriction.purpose_id, 6, "a publisher restriction's purpose")
        writer.integer(int(restriction.restriction_type), 2, "a publisher restriction's type")
        vendors = frozenset(restriction.vendor_ids)
        _check_ids(vendors, (1 << _VENDOR_ID_BITS) - 1, "a publisher restriction")
        _write_range_entries(writer, _runs(sorted(vendors), listed), "publisher restriction")
    return writer.text()


def _disclosed(ids: frozenset[int]) -> str:
    writer = _Writer()
    writer.integer(_Segment.DISCLOSED_VENDORS, 3, "segment type")
    _write_vendors(writer, ids, "disclosed_vendors")
    return writer.text()


def _publisher(tc: PublisherTC) -> str:
    writer = _Writer()
    writer.integer(_Segment.PUBLISHER_TC, 3, "segment type")
    writer.bits(tc.consents, _PURPOSE_BITS, "publisher consents")
    _check_legitimate_interests(tc.legitimate_interests, "publisher legitimate_interests")
    writer.bits(tc.legitimate_interests, _PURPOSE_BITS, "publisher legitimate_interests")
    writer.integer(tc.custom_purposes, 6, "custom_purposes")
    writer.bits(tc.custom_consents, tc.custom_purposes, "custom_consents")
    writer.bits(tc.custom_legitimate_interests, tc.custom_purposes, "custom_legitimate_interests")
    return writer.text()


# -- public ------------------------------------------------------------------------------


def encode(tc: TCString, *, listed_vendors: Set[int] | None = None) -> str:
    """Return the TC string for ``tc``: core, disclosed vendors, then the publisher TC.

    ``listed_vendors``, the ids of the vendor list the choices were made under, lets publisher
    restrictions be written in fewer ranges (see :meth:`consent.gvl.VendorList.encode`).
    """
    listed = sorted(listed_vendors) if listed_vendors is not None else None
    parts = [_core(tc, listed)]
    if tc.disclosed_vendors is not None:
        parts.append(_disclosed(frozenset(tc.disclosed_vendors)))
    if tc.publisher_tc is not None:
        parts.append(_publisher(tc.publisher_tc))
    return _SEGMENT_SEPARATOR.join(parts)


def _decode_core(text: str) -> TCString:
    reader = _Reader(text)
    version = reader.integer(6)
    if version != VERSION:
        raise TcfError(f"TC string version {version} is not supported (only {VERSION})")
    # Arguments are evaluated in order, which is the order of the fields in the string.
    read = TCString(
        created=_from_deciseconds(reader.integer(36)),
        last_updated=_from_deciseconds(reader.integer(36)),
        cmp_id=reader.integer(12),
        cmp_version=reader.integer(12),
        consent_screen=reader.integer(6),
        consent_language=_read_letters(reader, "consent_language"),
        vendor_list_version=reader.integer(12),
        policy_version=reader.integer(6),
        is_service_specific=reader.flag(),
        use_non_standard_texts=reader.flag(),
        special_feature_opt_ins=reader.bits(_SPECIAL_FEATURE_BITS),
        purpose_consents=reader.bits(_PURPOSE_BITS),
        purpose_legitimate_interests=reader.bits(_PURPOSE_BITS),
        purpose_one_treatment=reader.flag(),
        publisher_country_code=_read_letters(reader, "publisher_country_code"),
        vendor_consents=_read_vendors(reader),
        vendor_legitimate_interests=_read_vendors(reader),
        disclosed_vendors=None,
    )
    restrictions = []
    for _ in range(reader.integer(_ENTRIES_BITS)):
        purpose = reader.integer(6)
        kind = reader.integer(2)
        if kind > max(RestrictionType):
            raise TcfError(f"publisher restriction type {kind} is not defined")
        vendors = frozenset(_read_range_entries(reader))
        restrictions.append(PublisherRestriction(purpose, RestrictionType(kind), vendors))
    return replace(read, publisher_restrictions=tuple(restrictions))


def decode(text: str) -> TCString:
    """Read a version 2 TC string; raise :class:`TcfError` naming what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise TcfError("a TC string is not empty")
    if len(text) > MAX_LENGTH:
        raise TcfError(f"a TC string of {len(text)} characters is longer than {MAX_LENGTH}")
    core, *segments = text.split(_SEGMENT_SEPARATOR)
    read = _decode_core(core)
    disclosed: frozenset[int] | None = None
    publisher: PublisherTC | None = None
    for segment in segments:
        reader = _Reader(segment)
        kind = reader.integer(3)
        if kind == _Segment.DISCLOSED_VENDORS and disclosed is None:
            disclosed = _read_vendors(reader)
        elif kind == _Segment.ALLOWED_VENDORS:
            continue  # retired with TCF 2.2; read past, never written
        elif kind == _Segment.PUBLISHER_TC and publisher is None:
            consents = reader.bits(_PURPOSE_BITS)
            interests = reader.bits(_PURPOSE_BITS)
            custom = reader.integer(6)
            publisher = PublisherTC(
                consents, interests, custom, reader.bits(custom), reader.bits(custom)
            )
        else:
            raise TcfError(f"segment type {kind} is unknown or given twice")
    return replace(read, disclosed_vendors=disclosed, publisher_tc=publisher)
