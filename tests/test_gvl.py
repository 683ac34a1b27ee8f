"""The Global Vendor List: loading, translations, subsets, and its rules against IAB's library."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.gvl import VendorList, VendorListError
from consent.tcf import PublisherRestriction, RestrictionType, TCString
from tests.reference import NodeReference
from tests.test_tcf import _as_json, _restrictions

FIXTURES = Path(__file__).parent / "fixtures"
LIST_FILE = FIXTURES / "vendor-list.json"
_EPOCH = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def vendor_list() -> VendorList:
    return VendorList.load(LIST_FILE)


def test_the_list_is_read_whole(vendor_list: VendorList) -> None:
    assert vendor_list.version == 150
    assert vendor_list.policy_version == 5
    assert vendor_list.last_updated == datetime(2026, 11, 26, 16, tzinfo=UTC)
    assert sorted(vendor_list.purposes) == list(range(1, 12))
    assert vendor_list.stacks[1].purposes == {2, 7}
    vendor = vendor_list.vendors[755]
    assert vendor.purposes == {1, 2, 3, 4, 7, 9, 10}
    assert vendor.retention_days == 390
    assert vendor.privacy_url("de") == "https://vendor755.example/privacy"
    assert vendor.legitimate_interest_urls["en"] == "https://vendor755.example/li"
    assert vendor_list.vendors[5].deleted
    assert not vendor_list.vendors[4].deleted


def test_translations_replace_the_texts_and_keep_the_ids(vendor_list: VendorList) -> None:
    german = vendor_list.translated(FIXTURES / "purposes-de.json", "de")
    assert german.language == "de"
    assert german.purposes[1].name == "Zweck 1"
    assert german.special_features[2].name == "Besonderes Merkmal 2"
    # Texts the translation does not carry stay as they were.
    assert german.features == vendor_list.features
    assert german.vendors == vendor_list.vendors


def test_a_subset_keeps_only_the_sites_vendors(vendor_list: VendorList) -> None:
    small = vendor_list.subset([755, 1, 12])
    assert sorted(small.vendors) == [1, 12, 755]
    with pytest.raises(VendorListError, match=r"no vendors \[7, 9999\]"):
        vendor_list.subset([1, 7, 9999])
    with pytest.raises(VendorListError, match=r"vendors \[5\] are deleted"):
        vendor_list.subset([5])


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "vendor-list.json"
    path.write_text(json.dumps(document))
    return path


def _edited(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(LIST_FILE.read_text())
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_edited(gvlSpecificationVersion=2), "gvlSpecificationVersion 2"),
        (_edited(vendorListVersion="150"), "vendorListVersion is not a whole number"),
        (_edited(lastUpdated="yesterday"), "'yesterday' is not a time"),
        (_edited(vendors=[]), "vendors: is not an object"),
        (
            _edited(purposes={"1": {"id": 2, "name": "x", "description": ""}}),
            "differs from its key",
        ),
        ([], "the document: is not an object"),
    ],
)
def test_a_broken_file_is_named_with_the_entry(
    tmp_path: Path, document: object, message: str
) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(VendorListError, match=message) as raised:
        VendorList.load(path)
    assert str(path) in str(raised.value)


def test_a_vendor_with_a_bad_declaration_is_named(tmp_path: Path) -> None:
    document = _edited()
    document["vendors"]["755"]["purposes"] = [1, "two"]
    with pytest.raises(VendorListError, match=r"vendors\.755: purposes is not a list of ids"):
        VendorList.load(_write(tmp_path, document))


def test_missing_and_unreadable_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(VendorListError, match="cannot be read"):
        VendorList.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(VendorListError, match="is not JSON"):
        VendorList.load(broken)


# Ids the list names, one it names as deleted, gaps it does not name, and one far past it.
_LIST_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 755, 800]
_vendors = st.frozensets(st.sampled_from(_LIST_IDS))


_choices = st.builds(
    TCString,
    created=st.just(_EPOCH),
    last_updated=st.just(_EPOCH),
    cmp_id=st.just(300),
    cmp_version=st.just(1),
    vendor_list_version=st.just(1),
    is_service_specific=st.booleans(),
    purpose_consents=st.frozensets(st.integers(1, 11)),
    purpose_legitimate_interests=st.frozensets(st.sampled_from([2, 7, 8, 9, 10, 11])),
    special_feature_opt_ins=st.frozensets(st.integers(1, 2)),
    vendor_consents=_vendors,
    vendor_legitimate_interests=_vendors,
    publisher_restrictions=_restrictions(_vendors),
    disclosed_vendors=_vendors,
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(choices=_choices)
def test_the_lists_rules_are_the_ones_iabs_library_applies(
    tcf_reference: NodeReference, vendor_list: VendorList, choices: TCString
) -> None:
    request = _as_json(choices)
    request["vendorList"] = json.loads(LIST_FILE.read_text())
    theirs = tcf_reference.ask({"encode": request})
    assert "string" in theirs, theirs
    ours = vendor_list.encode(choices)
    assert ours == theirs["string"]


def test_the_rules_drop_what_the_list_does_not_allow(vendor_list: VendorList) -> None:
    choices = TCString(
        created=_EPOCH,
        last_updated=_EPOCH,
        cmp_id=300,
        cmp_version=1,
        vendor_list_version=1,
        vendor_consents=frozenset({1, 2, 4, 5, 7, 755}),
        vendor_legitimate_interests=frozenset({1, 2, 4, 8}),
        publisher_restrictions=(
            PublisherRestriction(2, RestrictionType.REQUIRE_CONSENT, frozenset({2, 9})),
        ),
    )
    applied = vendor_list.apply(choices)
    # 2 declares only legitimate interest but a restriction requires consent for its flexible
    # purpose 2; 4 declares special purposes only; 5 is deleted; 7 is not in the list.
    assert applied.vendor_consents == {1, 2, 755}
    # 1 has special purposes and no legitimate-interest purposes; 8 has neither.
    assert applied.vendor_legitimate_interests == {1, 2, 4}
    # 9 declares purpose 2 for consent only: requiring consent from it means nothing.
    assert applied.publisher_restrictions[0].vendor_ids == {2}
    assert applied.vendor_list_version == 150
    assert replace(applied, vendor_list_version=1).cmp_id == 300
