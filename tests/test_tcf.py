"""TC strings: the codec against IAB's own library, both ways, and its refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import base64url, tcf
from consent.tcf import (
    CONSENT_ONLY_PURPOSES,
    PublisherRestriction,
    PublisherTC,
    RestrictionType,
    TcfError,
    TCString,
)
from tests.reference import NodeReference

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ids(largest: int, max_size: int = 60) -> st.SearchStrategy[frozenset[int]]:
    return st.frozensets(st.integers(1, largest), max_size=max_size)


# Vendor lists that are sometimes dense runs (range coding wins) and sometimes scattered.
_vendors = st.one_of(
    _ids(40),
    _ids(1200),
    st.builds(
        lambda start, length, extra: frozenset(range(start, start + length)) | extra,
        st.integers(1, 900),
        st.integers(0, 300),
        _ids(1200, 5),
    ),
)
_legitimate = st.frozensets(st.integers(1, 24).filter(lambda p: p not in CONSENT_ONLY_PURPOSES))
_moment = st.integers(1_500_000_000_000, 2_000_000_000_000).map(
    lambda ms: _EPOCH + timedelta(milliseconds=(ms // 100) * 100)
)


@st.composite
def _restrictions(
    draw: st.DrawFn, vendors: st.SearchStrategy[frozenset[int]] = _vendors
) -> tuple[PublisherRestriction, ...]:
    """Up to four restrictions the policy allows, each naming some of ``vendors``."""
    keys = draw(
        st.lists(
            st.tuples(st.integers(1, 11), st.sampled_from(list(RestrictionType))),
            unique=True,
            max_size=4,
        )
    )
    chosen = []
    for purpose, kind in keys:
        if kind is RestrictionType.REQUIRE_LEGITIMATE_INTEREST and purpose in CONSENT_ONLY_PURPOSES:
            continue
        chosen.append(PublisherRestriction(purpose, kind, draw(vendors.filter(bool))))
    return tuple(chosen)


@st.composite
def _publisher(draw: st.DrawFn) -> PublisherTC | None:
    if not draw(st.booleans()):
        return None
    custom = draw(st.integers(0, 12))
    return PublisherTC(
        consents=draw(st.frozensets(st.integers(1, 24))),
        legitimate_interests=draw(_legitimate),
        custom_purposes=custom,
        custom_consents=draw(st.frozensets(st.integers(1, custom))) if custom else frozenset(),
        custom_legitimate_interests=(
            draw(st.frozensets(st.integers(1, custom))) if custom else frozenset()
        ),
    )


_choices = st.builds(
    TCString,
    created=_moment,
    last_updated=_moment,
    cmp_id=st.integers(2, 4095),
    cmp_version=st.integers(0, 4095),
    vendor_list_version=st.integers(1, 4095),
    consent_language=st.just("EN"),
    consent_screen=st.integers(0, 63),
    policy_version=st.sampled_from([4, 5]),
    is_service_specific=st.booleans(),
    use_non_standard_texts=st.booleans(),
    special_feature_opt_ins=st.frozensets(st.integers(1, 12)),
    purpose_consents=st.frozensets(st.integers(1, 24)),
    purpose_legitimate_interests=_legitimate,
    purpose_one_treatment=st.booleans(),
    publisher_country_code=st.sampled_from(["AA", "DE", "FR", "GB", "ZZ"]),
    vendor_consents=_vendors,
    vendor_legitimate_interests=_vendors,
    publisher_restrictions=_restrictions(),
    disclosed_vendors=_vendors,
    publisher_tc=_publisher(),
)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _as_json(tc: TCString) -> dict[str, Any]:
    publisher = tc.publisher_tc
    return {
        "createdMs": _ms(tc.created),
        "lastUpdatedMs": _ms(tc.last_updated),
        "cmpId": tc.cmp_id,
        "cmpVersion": tc.cmp_version,
        "consentScreen": tc.consent_screen,
        "consentLanguage": tc.consent_language,
        "vendorListVersion": tc.vendor_list_version,
        "policyVersion": tc.policy_version,
        "isServiceSpecific": tc.is_service_specific,
        "useNonStandardTexts": tc.use_non_standard_texts,
        "specialFeatureOptIns": sorted(tc.special_feature_opt_ins),
        "purposeConsents": sorted(tc.purpose_consents),
        "purposeLegitimateInterests": sorted(tc.purpose_legitimate_interests),
        "purposeOneTreatment": tc.purpose_one_treatment,
        "publisherCountryCode": tc.publisher_country_code,
        "vendorConsents": sorted(tc.vendor_consents),
        "vendorLegitimateInterests": sorted(tc.vendor_legitimate_interests),
        "disclosedVendors": sorted(tc.disclosed_vendors or ()),
        "restrictions": [
            {
                "purpose": r.purpose_id,
                "type": int(r.restriction_type),
                "vendors": sorted(r.vendor_ids),
            }
            for r in tc.publisher_restrictions
        ],
        "publisher": None
        if publisher is None
        else {
            "consents": sorted(publisher.consents),
            "legitimateInterests": sorted(publisher.legitimate_interests),
            "customPurposes": publisher.custom_purposes,
            "customConsents": sorted(publisher.custom_consents),
            "customLegitimateInterests": sorted(publisher.custom_legitimate_interests),
        },
    }


_EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@_EXAMPLES
@given(choices=_choices)
def test_python_writes_what_the_reference_writes(
    tcf_reference: NodeReference, choices: TCString
) -> None:
    answer = tcf_reference.ask({"encode": _as_json(choices)})
    assert tcf.encode(choices) == answer["string"]


@_EXAMPLES
@given(choices=_choices)
def test_the_reference_reads_what_python_writes(
    tcf_reference: NodeReference, choices: TCString
) -> None:
    read = tcf_reference.ask({"decode": tcf.encode(choices)})
    expected = _as_json(choices)
    if choices.publisher_tc is None:
        # Without the segment, the reference reports the publisher's purposes as empty.
        expected["publisher"] = _as_json(replace(choices, publisher_tc=PublisherTC()))["publisher"]
    assert sorted(read["restrictions"], key=lambda r: (r["purpose"], r["type"])) == sorted(
        expected.pop("restrictions"), key=lambda r: (r["purpose"], r["type"])
    )
    read.pop("restrictions")
    assert read == expected


@_EXAMPLES
@given(choices=_choices)
def test_python_reads_what_the_reference_writes(
    tcf_reference: NodeReference, choices: TCString
) -> None:
    written = tcf_reference.ask({"encode": _as_json(choices)})["string"]
    assert tcf.decode(written) == choices


def test_range_and_bit_field_coding_are_chosen_by_length() -> None:
    base = TCString(
        created=_EPOCH, last_updated=_EPOCH, cmp_id=10, cmp_version=1, vendor_list_version=1
    )
    dense = replace(base, vendor_consents=frozenset(range(1, 1001)))
    scattered = replace(base, vendor_consents=frozenset(range(1, 1001, 2)))
    # A run of 1,000 vendors is one range entry; every other vendor is shorter as bits.
    assert len(tcf.encode(dense)) < len(tcf.encode(scattered))
    assert tcf.decode(tcf.encode(dense)).vendor_consents == dense.vendor_consents
    assert tcf.decode(tcf.encode(scattered)).vendor_consents == scattered.vendor_consents


_BASE = TCString(
    created=_EPOCH, last_updated=_EPOCH, cmp_id=10, cmp_version=1, vendor_list_version=1
)


def test_the_choice_between_ranges_and_bits_matches_the_reference_at_its_edge(
    tcf_reference: NodeReference,
) -> None:
    # Sets of single vendors spaced out up to a largest id, with as many singles as put the
    # two codings within a few bits of each other: where a rounding of the length estimate
    # would show.
    compared = 0
    for largest in range(40, 400, 7):
        edge = (largest + 12) // 16
        for singles in range(max(1, edge - 2), edge + 3):
            step = max(2, largest // singles)
            vendors = frozenset(range(largest, 0, -step)[:singles])
            choices = replace(_BASE, vendor_consents=vendors, disclosed_vendors=vendors)
            answer = tcf_reference.ask({"encode": _as_json(choices)})
            assert tcf.encode(choices) == answer["string"], (largest, sorted(vendors))
            compared += 1
    assert compared > 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"purpose_legitimate_interests": frozenset({1, 2})}, "purposes \\[1\\], which may only"),
        ({"purpose_consents": frozenset({25})}, "ids run from 1 to 24"),
        ({"special_feature_opt_ins": frozenset({0})}, "ids run from 1 to 12"),
        ({"vendor_consents": frozenset({70_000})}, "ids run from 1 to 65535"),
        ({"cmp_id": 4096}, "cmp_id is 4096"),
        ({"consent_language": "E1"}, "two letters A to Z"),
        ({"publisher_country_code": "DEU"}, "two letters A to Z"),
        ({"created": datetime(2026, 1, 1)}, "aware datetime"),
        (
            {
                "publisher_restrictions": (
                    PublisherRestriction(
                        3, RestrictionType.REQUIRE_LEGITIMATE_INTEREST, frozenset({1})
                    ),
                )
            },
            "cannot require legitimate interest",
        ),
        (
            {
                "publisher_restrictions": (
                    PublisherRestriction(2, RestrictionType.NOT_ALLOWED, frozenset({1})),
                    PublisherRestriction(2, RestrictionType.NOT_ALLOWED, frozenset({2})),
                )
            },
            "given twice",
        ),
        ({"publisher_tc": PublisherTC(custom_purposes=64)}, "custom_purposes is 64"),
        (
            {"publisher_tc": PublisherTC(custom_purposes=2, custom_consents=frozenset({3}))},
            "1 to 2",
        ),
    ],
)
def test_choices_outside_the_format_or_the_policy_are_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(TcfError, match=message):
        tcf.encode(replace(_BASE, **changes))


def test_malformed_strings_get_a_clear_error() -> None:
    good = tcf.encode(_BASE)
    cases = {
        "": "is not empty",
        good[:10]: "ends in the middle",
        good.replace("C", "!", 1): "not base64url",
        "B" + good[1:]: "version 1 is not supported",
        good + ".IAAA.IAAA": "unknown or given twice",
        good + ".4AAA": "segment type 7",
        "C" * 70_000: "longer than",
    }
    for text, message in cases.items():
        with pytest.raises(TcfError, match=message):
            tcf.decode(text)


def every_id_again_and_again(vendor_ranges: int, restrictions: int, cmp_id: int = 10) -> str:
    """A core segment whose vendor consents give the range 1 to 65535 ``vendor_ranges``
    times, followed by ``restrictions`` restrictions over that range: 33 bits for every
    65,535 ids to read."""
    core = tcf.encode(replace(_BASE, cmp_id=cmp_id, disclosed_vendors=None))
    head = base64url.to_bits(core)
    assert head is not None
    every = "1" + format(1, "016b") + format(65_535, "016b")
    consents = format(65_535, "016b") + "1" + format(vendor_ranges, "012b") + every * vendor_ranges
    interests = format(0, "016b") + "0"
    restricted = (
        format(restrictions, "012b")
        + (format(2, "06b") + "01" + format(1, "012b") + every) * restrictions
    )
    # The fields before the vendor consents take 213 bits.
    bits = head[:213] + consents + interests + restricted
    return base64url.from_bits(base64url.pad(bits, 24))


@pytest.mark.parametrize(("vendor_ranges", "restrictions"), [(8, 0), (0, 8), (2, 3), (300, 0)])
def test_a_short_string_naming_millions_of_ids_is_refused_before_they_are_read(
    vendor_ranges: int, restrictions: int
) -> None:
    text = every_id_again_and_again(vendor_ranges, restrictions)
    assert len(text) < 2_000
    with pytest.raises(TcfError, match="more vendor ids than"):
        tcf.decode(text)


def test_every_id_in_three_lists_is_still_read() -> None:
    read = tcf.decode(every_id_again_and_again(1, 2))
    assert read.vendor_consents == frozenset(range(1, 65_536))
    assert [len(r.vendor_ids) for r in read.publisher_restrictions] == [65_535, 65_535]


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=120
    )
)
def test_any_text_is_read_or_refused_with_a_tcf_error(text: str) -> None:
    try:
        read = tcf.decode(text)
    except TcfError:
        return  # refused with the package's own error, never another exception
    assert read.cmp_id >= 0
