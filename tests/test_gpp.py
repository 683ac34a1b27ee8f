"""GPP strings: the codec against IAB's own library, both ways, and its refusals."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import gpp
from consent.gpp import GPC_FIELD, SECTIONS, FieldValue, GppError, SectionSpec
from tests.reference import NodeReference


def _field_values(spec: SectionSpec) -> st.SearchStrategy[dict[str, FieldValue]]:
    """Any valid values for a section, with any subset of its fields given."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for item in spec.fields:
        if item.name == "Version":
            continue
        number = st.integers(item.minimum, item.maximum)
        parts[item.name] = number if item.count is None else st.tuples(*[number] * item.count)
    if spec.has_gpc:
        parts[GPC_FIELD] = st.booleans()
    return st.fixed_dictionaries({}, optional=parts)


_sections = st.sets(st.sampled_from(sorted(SECTIONS)), min_size=1).flatmap(
    lambda names: st.fixed_dictionaries({name: _field_values(SECTIONS[name]) for name in names})
)


def _as_json(values: dict[str, dict[str, FieldValue]]) -> dict[str, dict[str, Any]]:
    """The request for the reference, which adds a section only when one of its fields is set:
    a section given with no fields gets one field set to its default."""
    return {
        section: {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
        or {"MspaCoveredTransaction": gpp.YES}
        for section, fields in values.items()
    }


def _wanted(names: list[str]) -> dict[str, list[str]]:
    return {name: list(SECTIONS[name].field_names) for name in names}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections=_sections)
def test_python_writes_what_the_reference_writes_and_reads(
    gpp_reference: NodeReference, sections: dict[str, dict[str, FieldValue]]
) -> None:
    ours = gpp.encode(sections)
    assert ours == gpp_reference.ask({"encode": _as_json(sections)})["string"]

    read = gpp_reference.ask({"decode": ours, "fields": _wanted(list(sections))})
    assert sorted(read["sectionIds"]) == sorted(SECTIONS[name].id for name in sections)
    for name, given_values in sections.items():
        for field, value in given_values.items():
            expected = list(value) if isinstance(value, tuple) else value
            assert read["sections"][name][field] == expected, (name, field)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections=_sections)
def test_python_reads_what_the_reference_writes(
    gpp_reference: NodeReference, sections: dict[str, dict[str, FieldValue]]
) -> None:
    theirs = gpp_reference.ask({"encode": _as_json(sections)})["string"]
    decoded = gpp.decode(theirs)
    everything = gpp_reference.ask({"decode": theirs, "fields": _wanted(list(sections))})[
        "sections"
    ]
    assert set(decoded.sections) == set(sections)
    for name, fields in everything.items():
        for field, value in fields.items():
            ours = decoded.sections[name][field]
            assert (list(ours) if isinstance(ours, tuple) else ours) == value, (name, field)
    assert (
        gpp.encode(
            {
                name: {k: v for k, v in values.items() if k != "Version"}
                for name, values in decoded.sections.items()
            }
        )
        == theirs
    )


def test_first_usnat_version_is_read_as_the_reference_reads_it(
    gpp_reference: NodeReference,
) -> None:
    # A usnat string written with the section's first version: twelve sensitive-data
    # categories and two for known children, as strings from before 2025 carry.
    written = "DBABLA~BVQqAAAAAgA.QA"
    decoded = gpp.decode(written).sections["usnat"]
    theirs = gpp_reference.ask({"decode": written, "fields": _wanted(["usnat"])})["sections"][
        "usnat"
    ]
    assert decoded["Version"] == 1
    assert len(decoded["SensitiveDataProcessing"]) == 12  # type: ignore[arg-type]
    for field, value in theirs.items():
        ours = decoded[field]
        assert (list(ours) if isinstance(ours, tuple) else ours) == value, field


def test_sections_of_other_regimes_are_kept_as_written(gpp_reference: NodeReference) -> None:
    with_usnat = gpp_reference.ask({"encode": {"usnat": {"SaleOptOut": 1}}})["string"]
    header_ids = gpp.decode(with_usnat).section_ids
    assert header_ids == (7,)
    # Section 6 (the older US Privacy string) is not one this module decodes.
    mixed = gpp_reference.ask(
        {"encode": {"uspv1": {"Notice": "Y", "OptOutSale": "Y"}, "usnat": {"SaleOptOut": 1}}}
    )
    decoded = gpp.decode(mixed["string"])
    assert decoded.section_ids == (6, 7)
    assert set(decoded.other) == {6}
    assert decoded.other[6] == mixed["string"].split("~")[1]
    assert decoded.sections["usnat"]["SaleOptOut"] == gpp.YES


def test_fibonacci_coding_of_section_ids() -> None:
    # Each id set written and read back; consecutive ids become ranges in the header.
    for ids in ([7], [7, 8], [2, 7, 8, 9, 10, 11, 12], [1, 3, 5, 200], list(range(1, 60))):
        assert gpp._decode_header(gpp._encode_header(ids)) == tuple(ids)


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"usxx": {}}, "unknown GPP section 'usxx'"),
        ({"usnat": {"SaleOptOut": 3}}, "usnat.SaleOptOut is 3: allowed are 0 to 2"),
        ({"usnat": {"MspaCoveredTransaction": 0}}, "allowed are 1 to 2"),
        ({"usnat": {"SaleOptOut": True}}, "takes whole numbers"),
        ({"usnat": {"SensitiveDataProcessing": (0, 1)}}, "takes 16 values, not 2"),
        ({"usnat": {"SaleOptOut": (1,)}}, "takes one number, not a list"),
        ({"usnat": {"Gpc": 1}}, "Gpc is true or false"),
        ({"usva": {"Gpc": True}}, "usva has no field Gpc"),
        ({"usca": {"SharingNotice": 1}}, "usca has no field SharingNotice"),
        ({"usnat": {"Version": 1}}, "written in version 2 only"),
    ],
)
def test_values_outside_the_specification_are_refused(
    sections: dict[str, dict[str, FieldValue]], message: str
) -> None:
    with pytest.raises(GppError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gpp.encode(sections)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not empty"),
        ("DBABLA", "lists 1 sections but the string carries 0"),
        ("DBABLA~CAAQAAAAAABA.YA~CAAQAAAAAABA.YA", "lists 1 sections but the string carries 2"),
        ("DBA!LA~CAAQAAAAAABA.YA", "is not base64url"),
        ("CBABLA~CAAQAAAAAABA.YA", "not a GPP header"),
        ("DCABLA~CAAQAAAAAABA.YA", "header version 2"),
        ("DBABLA~CA", "ends in the middle of a field"),
        ("DBABLA~DAAQAAAAAABA.YA", "usnat version 3 is not supported"),
        ("DBAB", "ends in the middle|no terminator"),
        ("D" + "A" * 20_000, "longer than"),
        # One range from 1 to far past any section id: refused before anything is built.
        (
            gpp._to_base64("000011000001000000000001" + "1" + "11" + "0" * 40 + "11"),
            "section ids end",
        ),
        ("DBABLA~C___________", "allowed are"),
    ],
)
def test_malformed_strings_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(GppError, match=message):
        gpp.decode(text)


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~", max_size=80
    )
)
def test_any_text_is_read_or_refused_with_a_gpp_error(text: str) -> None:
    try:
        decoded = gpp.decode(text)
    except GppError:
        return  # refused with the package's own error, never another exception
    assert len(decoded.section_ids) == len(text.split("~")) - 1
