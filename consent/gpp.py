"""IAB Global Privacy Platform (GPP) strings: encoding and decoding on the server.

A GPP string is what US ad partners read through ``__gpp`` to learn whether a visitor opted
out of the sale or sharing of their data and of targeted advertising. It is a header followed
by one encoded section per privacy regime, joined with ``~``; a section may carry a second,
``.``-separated segment with the visitor's Global Privacy Control signal.

This module covers the header, the US national section (``usnat``, both its first version and
the current one) and the state sections for California, Virginia, Colorado, Utah and
Connecticut. Sections of other regimes (the TCF sections among them) are kept as their
encoded text when a string is decoded, so a string can be read and passed on without loss.

Field names and widths follow the IAB specification, so that a value read here means what it
means to every other implementation; the test suite checks the output against IAB's own
JavaScript library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from consent import base64url
from consent.errors import ConsentError

FieldValue = int | bool | tuple[int, ...]

_SECTION_SEPARATOR = "~"
_SEGMENT_SEPARATOR = "."

_HEADER_TYPE = 3
_HEADER_VERSION = 1
# Section ids are small numbers (the specification had assigned fewer than 30 by 2026);
# the bound keeps a forged header from naming millions of sections.
_MAX_SECTION_ID = 255
# A string with every US section and a TCF section stays well under this.
MAX_LENGTH = 16_384

# Values of the two-bit notice and opt-out fields.
NOT_APPLICABLE = 0
YES = 1
NO = 2

GPC_FIELD = "Gpc"
_GPC_SUBSECTION_TYPE = 1


class GppError(ConsentError, ValueError):
    """A GPP string or a set of section values that cannot be encoded or decoded."""


@dataclass(frozen=True, slots=True)
class _Field:
    """One field of a section's core segment: ``count`` values of ``bits`` bits each.

    ``count`` of ``None`` is a single integer; a number is a list of that many integers.
    """

    name: str
    bits: int = 2
    count: int | None = None
    default: int = 0
    minimum: int = 0
    maximum: int = 2


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """The layout of one GPP section as the specification defines it."""

    id: int
    name: str
    version: int
    fields: tuple[_Field, ...]
    has_gpc: bool

    @property
    def field_names(self) -> tuple[str, ...]:
        names = tuple(f.name for f in self.fields if f.name != "Version")
        return (*names, GPC_FIELD) if self.has_gpc else names


def _two_bit(name: str) -> _Field:
    """A notice or a choice: 0 not applicable, 1 yes, 2 no."""
    return _Field(name)


def _list(name: str, count: int) -> _Field:
    return _Field(name, count=count)


_VERSION = _Field("Version", bits=6, minimum=0, maximum=63)
# MspaCoveredTransaction has no "not applicable": 1 is yes, 2 is no.
_MSPA = (
    _Field("MspaCoveredTransaction", default=YES, minimum=1),
    _Field("MspaOptOutOptionMode"),
    _Field("MspaServiceProviderMode"),
)


def _usnat_fields(sensitive: int, child: int) -> tuple[_Field, ...]:
    return (
        _VERSION,
        _two_bit("SharingNotice"),
        _two_bit("SaleOptOutNotice"),
        _two_bit("SharingOptOutNotice"),
        _two_bit("TargetedAdvertisingOptOutNotice"),
        _two_bit("SensitiveDataProcessingOptOutNotice"),
        _two_bit("SensitiveDataLimitUseNotice"),
        _two_bit("SaleOptOut"),
        _two_bit("SharingOptOut"),
        _two_bit("TargetedAdvertisingOptOut"),
        _list("SensitiveDataProcessing", sensitive),
        _list("KnownChildSensitiveDataConsents", child),
        _two_bit("PersonalDataConsents"),
        *_MSPA,
    )


USNAT = SectionSpec(7, "usnat", 2, _usnat_fields(16, 3), has_gpc=True)
# The first version of usnat had fewer sensitive-data categories; strings written with it
# are still in circulation and are read, never written.
_USNAT_V1 = SectionSpec(7, "usnat", 1, _usnat_fields(12, 2), has_gpc=True)

USCA = SectionSpec(
    8,
    "usca",
    1,
    (
        _VERSION,
        _two_bit("SaleOptOutNotice"),
        _two_bit("SharingOptOutNotice"),
        _two_bit("SensitiveDataLimitUseNotice"),
        _two_bit("SaleOptOut"),
        _two_bit("SharingOptOut"),
        _list("SensitiveDataProcessing", 9),
        _list("KnownChildSensitiveDataConsents", 2),
        _two_bit("PersonalDataConsents"),
        *_MSPA,
    ),
    has_gpc=True,
)


def _state_fields(*, sensitive: int, child: int, sensitive_notice: bool) -> tuple[_Field, ...]:
    notices = [
        _two_bit("SharingNotice"),
        _two_bit("SaleOptOutNotice"),
        _two_bit("TargetedAdvertisingOptOutNotice"),
    ]
    if sensitive_notice:
        notices.append(_two_bit("SensitiveDataProcessingOptOutNotice"))
    # Some states count known children's data as one choice, others as a list.
    child_field = (
        _list("KnownChildSensitiveDataConsents", child)
        if child > 1
        else _two_bit("KnownChildSensitiveDataConsents")
    )
    return (
        _VERSION,
        *notices,
        _two_bit("SaleOptOut"),
        _two_bit("TargetedAdvertisingOptOut"),
        _list("SensitiveDataProcessing", sensitive),
        child_field,
        *_MSPA,
    )


USVA = SectionSpec(
    9, "usva", 1, _state_fields(sensitive=8, child=1, sensitive_notice=False), has_gpc=False
)
USCO = SectionSpec(
    10, "usco", 1, _state_fields(sensitive=7, child=1, sensitive_notice=False), has_gpc=True
)
USUT = SectionSpec(
    11, "usut", 1, _state_fields(sensitive=8, child=1, sensitive_notice=True), has_gpc=False
)
USCT = SectionSpec(
    12, "usct", 1, _state_fields(sensitive=8, child=3, sensitive_notice=False), has_gpc=True
)

SECTIONS: Mapping[str, SectionSpec] = {
    spec.name: spec for spec in (USNAT, USCA, USVA, USCO, USUT, USCT)
}
_SECTIONS_BY_ID: Mapping[int, SectionSpec] = {spec.id: spec for spec in SECTIONS.values()}


@dataclass(frozen=True, slots=True)
class GppData:
    """A decoded GPP string.

    ``sections`` maps each section this module knows to every one of its field values
    (``Version`` included, and ``Gpc`` when the section carries the signal); ``other`` keeps
    the encoded text of every other section by its id, in the string's order.
    """

    section_ids: tuple[int, ...]
    sections: Mapping[str, Mapping[str, FieldValue]] = field(default_factory=dict)
    other: Mapping[int, str] = field(default_factory=dict)


# -- bits --------------------------------------------------------------------------------


def _int_bits(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def _fibonacci_bits(value: int) -> str:
    """Zeckendorf representation, smallest term first, closed by an extra ``1``."""
    if value < 1:
        raise GppError(f"a Fibonacci-coded number must be at least 1, not {value}")
    terms = [1, 2]
    while terms[-1] + terms[-2] <= value:
        terms.append(terms[-1] + terms[-2])
    digits = ["0"] * len(terms)
    remaining = value
    for index in range(len(terms) - 1, -1, -1):
        if terms[index] <= remaining:
            digits[index] = "1"
            remaining -= terms[index]
    return "".join(digits).rstrip("0") + "1"


class _BitReader:
    def __init__(self, bits: str) -> None:
        self._bits = bits
        self._position = 0

    def integer(self, width: int) -> int:
        end = self._position + width
        if end > len(self._bits):
            raise GppError("the string ends in the middle of a field")
        value = int(self._bits[self._position : end], 2)
        self._position = end
        return value

    def fibonacci(self) -> int:
        end = self._bits.find("11", self._position)
        if end < 0:
            raise GppError("a Fibonacci-coded number has no terminator")
        value = 0
        first, second = 1, 2
        for digit in self._bits[self._position : end + 1]:
            if digit == "1":
                value += first
            first, second = second, first + second
        self._position = end + 2
        return value


def _to_base64(bits: str) -> str:
    # The specification pads a segment to whole bytes, then to whole base64 characters.
    return base64url.from_bits(base64url.pad(bits, 8, 6))


def _from_base64(text: str) -> str:
    bits = base64url.to_bits(text)
    if bits is None:
        raise GppError(f"{text[:40]!r} is not base64url text")
    return bits


# -- header ------------------------------------------------------------------------------


def _encode_header(section_ids: list[int]) -> str:
    runs: list[tuple[int, int]] = []
    for section_id in sorted(section_ids):
        if runs and runs[-1][1] + 1 == section_id:
            runs[-1] = (runs[-1][0], section_id)
        else:
            runs.append((section_id, section_id))
    bits = [_int_bits(_HEADER_TYPE, 6), _int_bits(_HEADER_VERSION, 6), _int_bits(len(runs), 12)]
    previous = 0
    for start, end in runs:
        if start == end:
            bits.append("0" + _fibonacci_bits(start - previous))
        else:
            bits.append("1" + _fibonacci_bits(start - previous) + _fibonacci_bits(end - start))
        previous = end
    return _to_base64("".join(bits))


def _decode_header(text: str) -> tuple[int, ...]:
    reader = _BitReader(_from_base64(text))
    kind, version = reader.integer(6), reader.integer(6)
    if kind != _HEADER_TYPE:
        raise GppError(f"the first section is not a GPP header (type {kind}, not {_HEADER_TYPE})")
    if version != _HEADER_VERSION:
        raise GppError(f"GPP header version {version} is not supported")
    ids: list[int] = []
    previous = 0
    for _ in range(reader.integer(12)):
        is_range = reader.integer(1) == 1
        start = previous + reader.fibonacci()
        end = start + reader.fibonacci() if is_range else start
        if end > _MAX_SECTION_ID:
            raise GppError(f"the header names section {end}; section ids end at {_MAX_SECTION_ID}")
        ids.extend(range(start, end + 1))
        previous = end
    return tuple(ids)


# -- sections ----------------------------------------------------------------------------


def _checked(spec: SectionSpec, item: _Field, value: object) -> tuple[int, ...]:
    values = value if isinstance(value, tuple | list) else (value,)
    expected = 1 if item.count is None else item.count
    if item.count is None and isinstance(value, tuple | list):
        raise GppError(f"{spec.name}.{item.name} takes one number, not a list")
    if len(values) != expected:
        raise GppError(f"{spec.name}.{item.name} takes {expected} values, not {len(values)}")
    for number in values:
        if isinstance(number, bool) or not isinstance(number, int):
            raise GppError(f"{spec.name}.{item.name} takes whole numbers, not {number!r}")
        if not item.minimum <= number <= item.maximum:
            raise GppError(
                f"{spec.name}.{item.name} is {number}: allowed are {item.minimum} to {item.maximum}"
            )
    return tuple(values)


def _encode_section(spec: SectionSpec, values: Mapping[str, FieldValue]) -> str:
    unknown = set(values) - set(spec.field_names) - {"Version"}
    if unknown:
        raise GppError(
            f"{spec.name} has no field {', '.join(sorted(unknown))}; "
            f"its fields are {', '.join(spec.field_names)}"
        )
    if "Version" in values and values["Version"] != spec.version:
        raise GppError(f"{spec.name} is written in version {spec.version} only")
    bits: list[str] = []
    for item in spec.fields:
        if item.name == "Version":
            bits.append(_int_bits(spec.version, item.bits))
            continue
        default = item.default if item.count is None else (item.default,) * item.count
        for number in _checked(spec, item, values.get(item.name, default)):
            bits.append(_int_bits(number, item.bits))
    encoded = _to_base64("".join(bits))
    if spec.has_gpc:
        gpc = values.get(GPC_FIELD, False)
        if not isinstance(gpc, bool):
            raise GppError(f"{spec.name}.{GPC_FIELD} is true or false, not {gpc!r}")
        encoded += _SEGMENT_SEPARATOR + _to_base64(
            _int_bits(_GPC_SUBSECTION_TYPE, 2) + str(int(gpc))
        )
    return encoded


def _decode_section(spec: SectionSpec, text: str) -> dict[str, FieldValue]:
    core, _, rest = text.partition(_SEGMENT_SEPARATOR)
    bits = _from_base64(core)
    version = int(bits[:6], 2) if len(bits) >= 6 else -1
    layout = _USNAT_V1 if spec is USNAT and version == 1 else spec
    if version != layout.version:
        raise GppError(f"{spec.name} version {version} is not supported")
    reader = _BitReader(bits)
    values: dict[str, FieldValue] = {}
    for item in layout.fields:
        numbers = tuple(reader.integer(item.bits) for _ in range(item.count or 1))
        _checked(layout, item, numbers if item.count is not None else numbers[0])
        values[item.name] = numbers if item.count is not None else numbers[0]
    if spec.has_gpc:
        values[GPC_FIELD] = False
        for segment in rest.split(_SEGMENT_SEPARATOR) if rest else ():
            reader = _BitReader(_from_base64(segment))
            if reader.integer(2) == _GPC_SUBSECTION_TYPE:
                values[GPC_FIELD] = reader.integer(1) == 1
    elif rest:
        raise GppError(f"{spec.name} has no second segment")
    return values


# -- public ------------------------------------------------------------------------------


def encode(sections: Mapping[str, Mapping[str, FieldValue]]) -> str:
    """Return the GPP string for ``sections``: section name to field values.

    Fields left out take the specification's defaults; ``Version`` is written by this module.
    Sections appear in the order of their ids, as the header lists them.
    """
    specs = []
    for name in sections:
        spec = SECTIONS.get(name)
        if spec is None:
            raise GppError(f"unknown GPP section {name!r}; known are {', '.join(SECTIONS)}")
        specs.append(spec)
    specs.sort(key=lambda spec: spec.id)
    parts = [_encode_header([spec.id for spec in specs])]
    parts.extend(_encode_section(spec, sections[spec.name]) for spec in specs)
    return _SECTION_SEPARATOR.join(parts)


def decode(text: str) -> GppData:
    """Read a GPP string; raise :class:`GppError` naming what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise GppError("a GPP string is not empty")
    if len(text) > MAX_LENGTH:
        raise GppError(f"a GPP string of {len(text)} characters is longer than {MAX_LENGTH}")
    header, *parts = text.split(_SECTION_SEPARATOR)
    section_ids = _decode_header(header)
    if len(section_ids) != len(parts) or len(set(section_ids)) != len(section_ids):
        raise GppError(
            f"the header lists {len(section_ids)} sections but the string carries {len(parts)}"
        )
    sections: dict[str, Mapping[str, FieldValue]] = {}
    other: dict[int, str] = {}
    for section_id, part in zip(section_ids, parts, strict=True):
        spec = _SECTIONS_BY_ID.get(section_id)
        if spec is None:
            other[section_id] = part
        else:
            sections[spec.name] = _decode_section(spec, part)
    return GppData(section_ids=section_ids, sections=sections, other=other)
